//! What the web UI's fleet and graph pages read of the class graph, sized for 100,000 hosts in
//! thousands of classes (issue 12): `GET /api/v1/class-names` (a class id to name table, all the
//! host list needs) and `GET /api/v1/graph/view` (the graph page: per class its host count and
//! first hosts, edges as one adjacency bitset per class instead of a `{from, to}` object per
//! edge, which at 3,000 classes can be millions).
//!
//! `GET /api/v1/hosts/{id}/class` names a host's class, so a host page finds it in the view.
//!
//! Plain data: no engine type but [`crate::graph::Pool`] (indexes and counts), so the UI decodes
//! it as it is. [`Adjacency`] is the one coding of a bitset row, used by the server to write and
//! the UI to read.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::graph::{ClassEdge, ClassNode, Pool};

/// `GET /api/v1/class-names`: every class of the fleet's graph for a guest policy with its
/// human name ([`crate::naming`]), index for index.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ClassNames {
    pub class_ids: Vec<String>,
    /// `names[i]` names `class_ids[i]`.
    pub names: Vec<String>,
}

/// `GET /api/v1/hosts/{id}/class`: the class a host is in ([`crate::class::class_id`] of its
/// newest profile), the same id as its class in every graph, whatever the guest policy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HostClass {
    pub host_id: String,
    pub class_id: String,
}

/// Hosts listed per class in a [`GraphView`]; the class's others are counted in `n_hosts`.
pub const VIEW_HOSTS_PER_CLASS: usize = 12;

/// One class of a [`GraphView`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ClassView {
    pub class_id: String,
    pub vendor: String,
    /// Features KVM offers a guest in this class; `None` without a guest view.
    pub n_guest_features: Option<usize>,
    /// Every host of the class, counted.
    pub n_hosts: usize,
    /// Its first hosts (at most [`VIEW_HOSTS_PER_CLASS`], in the graph's order): the first is the
    /// class's representative, the one a pair page opens.
    pub hosts: Vec<String>,
    /// Whether a guest of this policy can move between two hosts of this class.
    pub self_compatible: bool,
    /// Index of the pool the class belongs to.
    pub pool: usize,
}

/// `GET /api/v1/graph/view`: the class graph of [`super::GraphAnswer`] for the graph page.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GraphView {
    pub n_hosts: usize,
    pub classes: Vec<ClassView>,
    /// Pools, largest first (as in the graph answer).
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<super::EngineObject>))]
    pub pools: Vec<Pool>,
    /// `class_labels[i]`: label values of every host of `classes[i]`, by label name.
    pub class_labels: Vec<BTreeMap<String, Vec<String>>>,
    pub class_names: Vec<String>,
    pub pool_names: Vec<String>,
    /// Edges between distinct classes.
    pub n_edges: usize,
    /// `out[i]`: the classes guests of class `i` can move to, an [`Adjacency`] row over class
    /// indexes.
    pub out: Vec<String>,
}

/// A graph's labels and names, index for index with its classes and pools.
#[derive(Clone, Debug, Default)]
pub struct ViewNames {
    pub class_labels: Vec<BTreeMap<String, Vec<String>>>,
    pub class_names: Vec<String>,
    pub pool_names: Vec<String>,
}

impl GraphView {
    /// The view of a class graph's parts: the server's cached graph and a whole graph answer
    /// (what-if's) are drawn alike.
    pub fn of(
        n_hosts: usize,
        classes: &[ClassNode],
        edges: &[ClassEdge],
        pools: &[Pool],
        names: ViewNames,
    ) -> Self {
        let n = classes.len();
        let mut out: Vec<Vec<usize>> = vec![Vec::new(); n];
        for e in edges {
            if let Some(row) = out.get_mut(e.from) {
                row.push(e.to);
            }
        }
        Self {
            n_hosts,
            classes: classes
                .iter()
                .map(|c| ClassView {
                    class_id: c.class_id.clone(),
                    vendor: c.vendor.clone(),
                    n_guest_features: c.n_guest_features,
                    n_hosts: c.hosts.len(),
                    hosts: c.hosts.iter().take(VIEW_HOSTS_PER_CLASS).cloned().collect(),
                    self_compatible: c.self_compatible,
                    pool: c.pool,
                })
                .collect(),
            pools: pools.to_vec(),
            class_labels: names.class_labels,
            class_names: names.class_names,
            pool_names: names.pool_names,
            n_edges: edges.len(),
            out: out
                .into_iter()
                .map(|row| Adjacency::of(row, n).encode(n))
                .collect(),
        }
    }

    /// The name of class `i`; "class N" only when the server sent no name.
    pub fn class_name(&self, i: usize) -> String {
        self.class_names
            .get(i)
            .cloned()
            .unwrap_or_else(|| format!("class {i}"))
    }

    /// The name of pool `p`; "pool N" only when the server sent no name.
    pub fn pool_name(&self, p: usize) -> String {
        self.pool_names
            .get(p)
            .cloned()
            .unwrap_or_else(|| format!("pool {p}"))
    }

    /// Every row of `out` decoded; a row that does not decode is empty (no edge claimed).
    pub fn adjacency(&self) -> Vec<Adjacency> {
        self.out
            .iter()
            .map(|row| Adjacency::decode(row, self.classes.len()).unwrap_or_default())
            .collect()
    }
}

/// The base64url alphabet (RFC 4648, section 5): one character per six bits.
const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// A set of class indexes below `n`, written as text: bit `j` is bit `j % 6` (weight
/// `1 << (j % 6)`) of character `j / 6`, each character a base64url digit; `ceil(n / 6)`
/// characters in all. 3,000 classes take 500 characters a row, whatever their edges.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Adjacency {
    words: Vec<u64>,
}

impl Adjacency {
    /// The set of `members` (each below `n`; larger ones are left out).
    pub fn of(members: impl IntoIterator<Item = usize>, n: usize) -> Self {
        let mut a = Self {
            words: vec![0; n.div_ceil(64)],
        };
        for j in members.into_iter().filter(|&j| j < n) {
            a.words[j / 64] |= 1 << (j % 64);
        }
        a
    }

    pub fn contains(&self, j: usize) -> bool {
        self.words
            .get(j / 64)
            .is_some_and(|w| w & (1 << (j % 64)) != 0)
    }

    pub fn len(&self) -> usize {
        self.words.iter().map(|w| w.count_ones() as usize).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.words.iter().all(|&w| w == 0)
    }

    /// Members in increasing order.
    pub fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        self.words.iter().enumerate().flat_map(|(k, &w)| {
            (0..64)
                .filter(move |b| w & (1 << b) != 0)
                .map(move |b| k * 64 + b)
        })
    }

    /// The row's text for `n` classes.
    pub fn encode(&self, n: usize) -> String {
        (0..n.div_ceil(6))
            .map(|c| {
                let digit = (0..6).fold(0usize, |d, b| {
                    if self.contains(c * 6 + b) {
                        d | 1 << b
                    } else {
                        d
                    }
                });
                char::from(ALPHABET[digit])
            })
            .collect()
    }

    /// Read a row for `n` classes; `None` when it has another length, a character outside the
    /// alphabet, or a bit at `n` or above.
    pub fn decode(row: &str, n: usize) -> Option<Self> {
        if row.len() != n.div_ceil(6) {
            return None;
        }
        let mut a = Self {
            words: vec![0; n.div_ceil(64)],
        };
        for (c, ch) in row.bytes().enumerate() {
            let digit = ALPHABET.iter().position(|&x| x == ch)?;
            for b in (0..6).filter(|b| digit & (1 << b) != 0) {
                let j = c * 6 + b;
                if j >= n {
                    return None;
                }
                a.words[j / 64] |= 1 << (j % 64);
            }
        }
        Some(a)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_round_trip_for_every_length() {
        for n in [0, 1, 5, 6, 7, 63, 64, 65, 127, 3000] {
            let members: Vec<usize> = (0..n).filter(|j| (j * 7 + n) % 5 < 2).collect();
            let row = Adjacency::of(members.iter().copied(), n).encode(n);
            assert_eq!(row.len(), n.div_ceil(6), "n {n}");
            let back = Adjacency::decode(&row, n).expect("decodes");
            assert_eq!(back.iter().collect::<Vec<_>>(), members, "n {n}");
            assert_eq!(back.len(), members.len());
            for j in 0..n {
                assert_eq!(back.contains(j), members.contains(&j), "n {n} j {j}");
            }
        }
    }

    #[test]
    fn the_coding_is_the_documented_one() {
        // Classes 0 and 7 of 8: character 0 has bit 0 (B), character 1 has bit 1 (C).
        assert_eq!(Adjacency::of([0, 7], 8).encode(8), "BC");
        assert_eq!(Adjacency::of([5], 6).encode(6), "g");
        assert_eq!(Adjacency::of([], 13).encode(13), "AAA");
    }

    #[test]
    fn bad_rows_are_refused() {
        assert_eq!(Adjacency::decode("AAA", 6), None, "too long");
        assert_eq!(Adjacency::decode("A*", 12), None, "not base64url");
        // Bit 7 of an 7-class row (character 1, bit 1) is past the end.
        assert_eq!(Adjacency::decode("AC", 7), None, "a bit beyond n");
        assert!(Adjacency::decode("AB", 7).is_some_and(|a| a.contains(6)));
    }
}
