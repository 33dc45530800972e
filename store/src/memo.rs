//! Settings read through a memo of at most [`SETTING_MEMO_TTL`]: every authenticated request
//! checks its token against a setting, and at thousands of uploads a second that read was a
//! database round trip per request (BENCHMARKS.md, "Scale"). A change made through this store
//! (any clone of it) is seen at once; a change made by another process or replica (`fleetcompat
//! token revoke` on the database, a second server) within the TTL.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// How long a setting read is reused: the longest a token revoked by another process or replica
/// keeps working here.
pub const SETTING_MEMO_TTL: Duration = Duration::from_secs(1);

/// At most this many names are kept (names come from presented tokens: never unbounded).
const MAX_ENTRIES: usize = 4096;

#[derive(Debug, Default)]
pub(crate) struct SettingsMemo {
    entries: Mutex<HashMap<String, (Option<String>, Instant)>>,
}

impl SettingsMemo {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Option<String>, Instant)>> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The value read less than the TTL ago, if any (`Some(None)`: read, and absent).
    pub(crate) fn get(&self, name: &str, now: Instant) -> Option<Option<String>> {
        self.lock()
            .get(name)
            .filter(|(_, at)| now.duration_since(*at) < SETTING_MEMO_TTL)
            .map(|(v, _)| v.clone())
    }

    pub(crate) fn put(&self, name: &str, value: Option<String>, read_at: Instant) {
        let mut entries = self.lock();
        if entries.len() >= MAX_ENTRIES {
            entries.retain(|_, (_, at)| read_at.duration_since(*at) < SETTING_MEMO_TTL);
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
        }
        entries.insert(name.to_owned(), (value, read_at));
    }

    /// A write through this store: the next read goes to the database.
    pub(crate) fn forget(&self, name: &str) {
        self.lock().remove(name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_expire_after_the_ttl_and_writes_forget_them() {
        let memo = SettingsMemo::default();
        let t0 = Instant::now();
        memo.put("a", Some("1".into()), t0);
        memo.put("b", None, t0);
        assert_eq!(memo.get("a", t0), Some(Some("1".into())));
        assert_eq!(memo.get("b", t0), Some(None));
        assert_eq!(memo.get("a", t0 + SETTING_MEMO_TTL), None, "expired");
        memo.forget("b");
        assert_eq!(memo.get("b", t0), None, "forgotten");
        for i in 0..MAX_ENTRIES + 10 {
            memo.put(&format!("n{i}"), None, t0);
        }
        assert!(memo.lock().len() <= MAX_ENTRIES, "bounded");
    }
}
