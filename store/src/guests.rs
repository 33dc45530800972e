//! Guests with history: what an upload's `guests` changes against what the store holds.

use std::collections::BTreeMap;

use shared::vms::{HostGuests, Vm};

/// What happened to a guest, as `guest_history` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GuestEventKind {
    Appeared,
    /// Its definition, state, vCPUs, memory or name changed.
    Changed,
    Disappeared,
}

impl GuestEventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Appeared => "appeared",
            Self::Changed => "changed",
            Self::Disappeared => "disappeared",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Self> {
        match s {
            "appeared" => Some(Self::Appeared),
            "changed" => Some(Self::Changed),
            "disappeared" => Some(Self::Disappeared),
            _ => None,
        }
    }
}

/// One event of a host's guest history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuestEvent {
    /// When the upload that showed it was received (RFC 3339).
    pub at: String,
    pub vm_id: String,
    pub name: String,
    pub kind: GuestEventKind,
    /// The guest as it became; `None` when it disappeared.
    pub vm: Option<Vm>,
}

/// An upload's guests, serialised by the caller's task (the writer only compares text).
#[derive(Debug)]
pub(crate) struct IncomingGuests {
    pub capacity_json: String,
    /// id -> (name, JSON), one per id (a repeated id keeps its last entry).
    pub vms: BTreeMap<String, (String, String)>,
}

impl IncomingGuests {
    pub fn new(g: &HostGuests) -> Result<Self, serde_json::Error> {
        let mut vms = BTreeMap::new();
        for vm in &g.vms {
            vms.insert(vm.id.clone(), (vm.name.clone(), serde_json::to_string(vm)?));
        }
        Ok(Self {
            capacity_json: serde_json::to_string(&g.capacity)?,
            vms,
        })
    }
}

/// A row to write: the guest's id, name, JSON (`None`: it is gone) and what happened.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct GuestChange<'a> {
    pub vm_id: &'a str,
    pub name: &'a str,
    pub json: Option<&'a str>,
    pub kind: GuestEventKind,
}

/// The changes from `stored` (id -> (name, JSON)) to `incoming`, in id order.
pub(crate) fn diff<'a>(
    stored: &'a BTreeMap<String, (String, String)>,
    incoming: &'a BTreeMap<String, (String, String)>,
) -> Vec<GuestChange<'a>> {
    let mut out = Vec::new();
    for (id, (name, json)) in incoming {
        match stored.get(id) {
            None => out.push(GuestChange {
                vm_id: id,
                name,
                json: Some(json),
                kind: GuestEventKind::Appeared,
            }),
            Some((_, old)) if old != json => out.push(GuestChange {
                vm_id: id,
                name,
                json: Some(json),
                kind: GuestEventKind::Changed,
            }),
            Some(_) => {}
        }
    }
    for (id, (name, _)) in stored {
        if !incoming.contains_key(id) {
            out.push(GuestChange {
                vm_id: id,
                name,
                json: None,
                kind: GuestEventKind::Disappeared,
            });
        }
    }
    out.sort_by(|a, b| a.vm_id.cmp(b.vm_id));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(entries: &[(&str, &str, &str)]) -> BTreeMap<String, (String, String)> {
        entries
            .iter()
            .map(|(id, name, json)| ((*id).into(), ((*name).into(), (*json).into())))
            .collect()
    }

    #[test]
    fn appeared_changed_disappeared_and_unchanged() {
        let old = map(&[("a", "web", "1"), ("b", "db", "2"), ("c", "old", "3")]);
        let new = map(&[("a", "web", "1"), ("b", "db", "2b"), ("d", "new", "4")]);
        let kinds: Vec<_> = diff(&old, &new)
            .into_iter()
            .map(|c| (c.vm_id, c.kind, c.json))
            .collect();
        assert_eq!(
            kinds,
            [
                ("b", GuestEventKind::Changed, Some("2b")),
                ("c", GuestEventKind::Disappeared, None),
                ("d", GuestEventKind::Appeared, Some("4")),
            ]
        );
        assert!(diff(&new, &new).is_empty());
    }
}
