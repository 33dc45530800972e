//! Decoding and encoding profiles that repeat the same lists (feature `list-memo`: the server's
//! upload path; the web UI's build leaves it out). Every host with one QEMU build sends the same
//! `machines`, and with one processor too the same `cpu_models` (a few hundred models, 5 KiB of
//! a 10 KiB profile): parsing them is half of decoding an upload, and writing them out again a
//! third of encoding it for the store (BENCHMARKS.md, "Scale, session of 2026-12-07").
//!
//! Inside [`ListMemo::within`], a list is first read as its text only (`serde_json`'s
//! `RawValue`, no allocation per model); a text seen before gives the list decoded then (one
//! `Arc`, shared by the profiles, as [`super::ProfileInterner`] would make it), and writing that
//! list out copies its JSON as `serde_json` wrote it then. A new text is parsed as before and
//! kept. Outside `within`, and for every other field, nothing changes; inside, the JSON written
//! is byte for byte what it is without the memo (`tests::the_json_is_the_same_with_and_without`),
//! so content hashes stay as they were.
//!
//! Only `serde_json` may run inside `within`: the memo reads and writes `RawValue`s, which
//! other formats do not know.
//!
//! Bounded: a memo holds at most [`MAX_LISTS`] lists of each kind, [`MAX_BYTES`] of their text,
//! and starts again empty when one more would not fit (a fleet has a few QEMU builds and
//! processors; uploads that each bring a new list only cost the parse they cost without the
//! memo). A list of more than [`MAX_LIST_BYTES`] is parsed as without the memo and not kept:
//! a few large uploads cannot make it hold a gigabyte.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;

use super::SharedList;
use crate::profile::{QemuCpuModel, QemuMachine};

/// Lists of one kind a memo holds at most.
pub const MAX_LISTS: usize = 256;
/// Bytes of text of one kind's lists a memo holds at most (decoded, a list takes a few times its
/// text). QEMU 9.2's CPU model list for a Skylake host is about 5 KiB.
pub const MAX_BYTES: usize = 4 * 1024 * 1024;
/// The longest list text a memo keeps.
pub const MAX_LIST_BYTES: usize = 256 * 1024;

/// The lists of one kind: by their text as sent, and their JSON as `serde_json` writes them by
/// where the list is in memory (the memo holds each list, so no other list can be there).
pub(crate) struct Lists<T> {
    by_text: HashMap<Box<str>, SharedList<T>>,
    json: HashMap<usize, Box<RawValue>>,
    /// The texts' bytes.
    bytes: usize,
}

impl<T> Default for Lists<T> {
    fn default() -> Self {
        Self {
            by_text: HashMap::new(),
            json: HashMap::new(),
            bytes: 0,
        }
    }
}

/// The address of a list's elements: its identity while the memo holds it.
fn address<T>(list: &SharedList<T>) -> usize {
    Arc::as_ptr(list.as_arc()).cast::<T>() as usize
}

/// Lists decoded before, by their text (see the module doc).
#[derive(Default)]
pub struct ListMemo {
    machines: Mutex<Lists<QemuMachine>>,
    cpu_models: Mutex<Lists<QemuCpuModel>>,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl std::fmt::Debug for ListMemo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ListMemo")
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

/// What a memo did, for metrics and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MemoStats {
    /// Lists found by their text.
    pub hits: u64,
    /// Lists parsed (and kept).
    pub misses: u64,
    /// Lists held now, both kinds.
    pub held: usize,
}

thread_local! {
    /// The memo of the `within` this thread is in.
    static ACTIVE: RefCell<Option<Arc<ListMemo>>> = const { RefCell::new(None) };
}

/// Puts the thread's memo back as it was when a `within` ends (or unwinds).
struct Restore(Option<Arc<ListMemo>>);

impl Drop for Restore {
    fn drop(&mut self) {
        let before = self.0.take();
        ACTIVE.with(|a| *a.borrow_mut() = before);
    }
}

impl ListMemo {
    pub fn new() -> Arc<Self> {
        Arc::default()
    }

    /// Run `f` with this memo: the `machines` and `cpu_models` lists it decodes or encodes with
    /// `serde_json` go through the memo (and only `serde_json` may run in it: module doc).
    pub fn within<R>(self: &Arc<Self>, f: impl FnOnce() -> R) -> R {
        let before = ACTIVE.with(|a| a.replace(Some(Arc::clone(self))));
        let _restore = Restore(before);
        f()
    }

    pub fn stats(&self) -> MemoStats {
        MemoStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            held: lock(&self.machines).by_text.len() + lock(&self.cpu_models).by_text.len(),
        }
    }
}

/// A poisoned lock only means a panic while it was held; the maps stay consistent (each change
/// is one insert or one clear).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The element types whose lists a memo holds, and where.
pub(crate) trait Memoised: Sized + DeserializeOwned + Serialize {
    /// The field's name, for errors.
    const FIELD: &'static str;
    fn lists(memo: &ListMemo) -> &Mutex<Lists<Self>>;
}

impl Memoised for QemuMachine {
    const FIELD: &'static str = "machines";
    fn lists(memo: &ListMemo) -> &Mutex<Lists<Self>> {
        &memo.machines
    }
}

impl Memoised for QemuCpuModel {
    const FIELD: &'static str = "cpu_models";
    fn lists(memo: &ListMemo) -> &Mutex<Lists<Self>> {
        &memo.cpu_models
    }
}

fn active() -> Option<Arc<ListMemo>> {
    ACTIVE.with(|a| a.borrow().clone())
}

/// `deserialize_with` of a memoised list: through the thread's memo when there is one.
pub(crate) fn deserialize<'de, D, T>(d: D) -> Result<SharedList<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Memoised,
{
    let Some(memo) = active() else {
        return SharedList::deserialize(d);
    };
    let text = Box::<RawValue>::deserialize(d)?;
    if let Some(list) = lock(T::lists(&memo)).by_text.get(text.get()) {
        memo.hits.fetch_add(1, Ordering::Relaxed);
        return Ok(list.clone());
    }
    let list: SharedList<T> = serde_json::from_str::<Vec<T>>(text.get())
        .map_err(|e| D::Error::custom(within_field(T::FIELD, &e)))?
        .into();
    memo.misses.fetch_add(1, Ordering::Relaxed);
    if text.get().len() > MAX_LIST_BYTES {
        return Ok(list);
    }
    let json = serde_json::value::to_raw_value(&*list).map_err(D::Error::custom)?;
    let mut lists = lock(T::lists(&memo));
    // Another thread may have decoded the same text meanwhile: its list is the one to share.
    if let Some(found) = lists.by_text.get(text.get()) {
        return Ok(found.clone());
    }
    if lists.by_text.len() >= MAX_LISTS || lists.bytes + text.get().len() > MAX_BYTES {
        lists.by_text.clear();
        lists.json.clear();
        lists.bytes = 0;
    }
    lists.bytes += text.get().len();
    lists.json.insert(address(&list), json);
    lists.by_text.insert(Box::<str>::from(text), list.clone());
    Ok(list)
}

/// `serialize_with` of a memoised list: the JSON the memo wrote for it, when it holds it.
pub(crate) fn serialize<S, T>(list: &SharedList<T>, s: S) -> Result<S::Ok, S::Error>
where
    S: Serializer,
    T: Memoised,
{
    if let Some(memo) = active() {
        let lists = lock(T::lists(&memo));
        if let Some(json) = lists.json.get(&address(list)) {
            return json.serialize(s);
        }
    }
    list.serialize(s)
}

/// An error inside a list read on its own, told as one of the field's: its message without the
/// list's own line and column (the document's follow it).
fn within_field(field: &str, e: &serde_json::Error) -> String {
    let message = e.to_string();
    let position = format!(" at line {} column {}", e.line(), e.column());
    let message = message.strip_suffix(&position).unwrap_or(&message);
    format!("{field}: {message}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::HostProfile;

    /// The fuzz corpus's profiles that decode: collector output, imports and the fleet
    /// generator's hosts (real processors), with the lists as the collector writes them.
    fn corpus() -> Vec<String> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/profile");
        let mut texts: Vec<String> = std::fs::read_dir(&dir)
            .expect("the profile corpus")
            .filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
            .filter(|t| {
                HostProfile::from_json(t)
                    .is_ok_and(|p| p.qemu.iter().any(|q| !q.cpu_models.is_empty()))
            })
            .collect();
        texts.sort();
        texts
    }

    fn json(p: &HostProfile) -> String {
        serde_json::to_string(p).expect("json")
    }

    /// `text` decoded and written out through `memo` gives the JSON it gives without one.
    fn assert_same_json(memo: &Arc<ListMemo>, text: &str) {
        let written = memo.within(|| json(&HostProfile::from_json(text).expect("decodes")));
        let plain = json(&HostProfile::from_json(text).expect("decodes"));
        assert_eq!(written, plain);
    }

    #[test]
    fn the_json_is_the_same_with_and_without() {
        let texts = corpus();
        assert!(
            texts.len() >= 3,
            "only {} corpus profiles with lists",
            texts.len()
        );
        let memo = ListMemo::new();
        for round in 0..2 {
            for text in &texts {
                let plain = HostProfile::from_json(text).expect("decodes");
                let (memoised, written) = memo.within(|| {
                    let p = HostProfile::from_json(text).expect("decodes with the memo");
                    let written = json(&p);
                    (p, written)
                });
                assert_eq!(memoised, plain, "round {round}");
                assert_eq!(written, json(&plain), "round {round}");
                // Pretty-printed, the lists are other texts: the same profile and JSON still.
                let pretty = serde_json::to_string_pretty(&plain).expect("pretty");
                let written =
                    memo.within(|| json(&HostProfile::from_json(&pretty).expect("pretty decodes")));
                assert_eq!(written, json(&plain), "round {round}, pretty");
            }
        }
        let s = memo.stats();
        assert!(s.hits > 0 && s.misses > 0, "{s:?}");
    }

    #[test]
    fn a_list_seen_before_is_the_same_list() {
        let texts = corpus();
        let memo = ListMemo::new();
        let (a, b) = memo.within(|| {
            (
                HostProfile::from_json(&texts[0]).expect("decodes"),
                HostProfile::from_json(&texts[0]).expect("decodes"),
            )
        });
        for (qa, qb) in a.qemu.iter().zip(&b.qemu) {
            assert!(SharedList::ptr_eq(&qa.cpu_models, &qb.cpu_models));
            assert!(SharedList::ptr_eq(&qa.machines, &qb.machines));
        }
        let lists = 2 * a.qemu.len() as u64;
        assert_eq!(memo.stats().hits, lists);
        // Outside `within` the memo is not asked.
        let c = HostProfile::from_json(&texts[0]).expect("decodes");
        assert!(!SharedList::ptr_eq(
            &a.qemu[0].cpu_models,
            &c.qemu[0].cpu_models
        ));
        assert_eq!(memo.stats().hits, lists);
    }

    #[test]
    fn a_memo_holds_at_most_max_lists() {
        let text = &corpus()[0];
        let memo = ListMemo::new();
        let mut value: serde_json::Value = serde_json::from_str(text).expect("json");
        for n in 0..=MAX_LISTS {
            value["qemu"][0]["cpu_models"][0]["name"] = format!("model-{n}").into();
            assert_same_json(&memo, &value.to_string());
            let held = lock(&memo.cpu_models).by_text.len();
            assert!(held <= MAX_LISTS, "{held} lists after {n}");
        }
        let lists = lock(&memo.cpu_models);
        assert_eq!(lists.by_text.len(), 1, "started again empty");
        assert_eq!(lists.json.len(), 1);
    }

    #[test]
    fn a_memo_holds_at_most_max_bytes_and_no_list_over_max_list_bytes() {
        let text = &corpus()[0];
        let memo = ListMemo::new();
        let mut value: serde_json::Value = serde_json::from_str(text).expect("json");
        // One model with a long name: a list of MAX_LIST_BYTES / 3 bytes and more.
        let long = "x".repeat(MAX_LIST_BYTES / 3);
        for n in 0..(MAX_BYTES / (MAX_LIST_BYTES / 3) + 2) {
            value["qemu"][0]["cpu_models"][0]["name"] = format!("{n}-{long}").into();
            assert_same_json(&memo, &value.to_string());
            let lists = lock(&memo.cpu_models);
            let held: usize = lists.by_text.keys().map(|t| t.len()).sum();
            assert_eq!(held, lists.bytes);
            assert!(held <= MAX_BYTES, "{held} bytes held after {n}");
        }
        // A list over MAX_LIST_BYTES is decoded, and not kept.
        value["qemu"][0]["cpu_models"][0]["name"] = "y".repeat(MAX_LIST_BYTES).into();
        let text = value.to_string();
        let before = memo.stats();
        let p = memo.within(|| HostProfile::from_json(&text).expect("decodes"));
        assert_eq!(p.qemu[0].cpu_models[0].name.len(), MAX_LIST_BYTES);
        let after = memo.stats();
        assert_eq!(after.misses, before.misses + 1);
        assert!(
            !lock(&memo.cpu_models)
                .by_text
                .keys()
                .any(|t| t.len() > MAX_LIST_BYTES)
        );
    }

    #[test]
    fn an_error_inside_a_list_names_the_field() {
        let text = &corpus()[0];
        let mut value: serde_json::Value = serde_json::from_str(text).expect("json");
        value["qemu"][0]["cpu_models"][0]["usable"] = "yes".into();
        let text = value.to_string();
        let memo = ListMemo::new();
        let e = memo
            .within(|| HostProfile::from_json(&text))
            .expect_err("a string for a bool")
            .to_string();
        assert!(
            e.contains("cpu_models: invalid type: string \"yes\", expected a boolean"),
            "{e}"
        );
        assert_eq!(
            e.matches(" at line ").count(),
            1,
            "one position, the document's: {e}"
        );
        assert_eq!(memo.stats().misses, 0);
    }
}
