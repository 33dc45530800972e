//! The judgements between classes kept across changes, by place (see [`super::Incremental`]):
//! the edge matrix, its strongly connected components ([`super::components`]) and each
//! component's reach, and the [`Shape`] they make in a fleet's numbering.
//!
//! The caller tells what changed: places gone ([`Kept::remove`]), edges set
//! ([`Kept::set`]), classes whose edges changed taken out and put back ([`Kept::leave`],
//! [`Kept::enter`]); a component's reach is found again only when one of its classes' edges
//! changed, or a class it reaches changed component.

use super::bits::{Matrix, bit, count, ones};
use super::components::Components;
use super::{ClassEdge, Shape};
use crate::intern::SharedList;

const NONE: u32 = u32::MAX;

#[derive(Debug, Default)]
pub(super) struct Kept {
    /// The edges between live places, both ways.
    matrix: Matrix,
    /// The strongly connected components over places.
    comps: Components,
    /// By component id: the other components its classes' guests can go to (each once), as of
    /// the last [`Kept::shape`] for the components not in `stale`.
    reach: Vec<Vec<u32>>,
    /// Components whose reach must be found again.
    stale: Vec<u32>,
    /// Every component's reach must be found again ([`Kept::rebuild`]).
    all_stale: bool,
    /// The destinations of each class in the fleet's numbering, row after row (kept between
    /// shapes so that a million edges are written into memory already mapped).
    scratch: Vec<u32>,
}

impl Kept {
    /// Set or clear the edge `a -> b`; whether it changed.
    pub(super) fn set(&mut self, a: usize, b: usize, on: bool) -> bool {
        let changed = self.matrix.set(a, b, on);
        if changed {
            self.stale.extend(self.comps.comp_of(a));
        }
        changed
    }

    /// Whether place `p` is in the components.
    pub(super) fn holds(&self, p: usize) -> bool {
        self.comps.comp_of(p).is_some()
    }

    /// The components of the classes with an edge to place `p` (their reach names `p`'s
    /// component) are stale.
    fn sources_stale(&mut self, p: usize) {
        let comps = &self.comps;
        self.stale
            .extend(ones(self.matrix.inn(p)).filter_map(|q| comps.comp_of(q)));
    }

    /// The classes at places `gone` are gone: out of the components, their edges cleared.
    pub(super) fn remove(&mut self, gone: &[usize]) {
        if gone.is_empty() {
            return;
        }
        for &p in gone {
            self.sources_stale(p);
        }
        self.comps.remove(gone, &self.matrix);
        for &p in gone {
            self.matrix.clear(p);
        }
    }

    /// The classes at places `again` leave their components (their edges changed: each comes
    /// back with [`Self::enter`]).
    pub(super) fn leave(&mut self, again: &[usize]) {
        if !again.is_empty() {
            self.comps.remove(again, &self.matrix);
        }
    }

    /// The class at place `p` joins the components with its edges as set.
    pub(super) fn enter(&mut self, p: usize) {
        self.comps.add(p, &self.matrix);
    }

    /// The components made again over `places`, every live place (many classes came at once):
    /// every component's reach is found again.
    pub(super) fn rebuild(&mut self, places: &[usize]) {
        self.comps.rebuild(places, &self.matrix);
        self.all_stale = true;
    }

    /// The judgements in a fleet's numbering: `places[d]` the place of class `d`,
    /// `dense_of_place[p]` the class at place `p` (`u32::MAX`: none). Every place of `places`
    /// must be in the components, and no other.
    pub(super) fn shape(&mut self, places: &[usize], dense_of_place: &[u32]) -> Shape {
        let changes = self.comps.take_changes();
        if std::mem::take(&mut self.all_stale) {
            self.stale = self.comps.ids().collect();
        } else {
            self.stale.extend(changes.changed);
            for &t in &changes.touched {
                self.sources_stale(t);
            }
        }
        let stale = std::mem::take(&mut self.stale);
        self.refresh_reach(stale);
        self.shape_of(places, dense_of_place)
    }

    /// Find again the reach of the live components in `stale`: the components of the classes
    /// their classes' rows name, other than their own.
    fn refresh_reach(&mut self, mut stale: Vec<u32>) {
        stale.sort_unstable();
        stale.dedup();
        if self.reach.len() < self.comps.id_bound() {
            self.reach.resize_with(self.comps.id_bound(), Vec::new);
        }
        let mut mark = vec![NONE; self.comps.id_bound()];
        let mut union: Vec<u64> = Vec::new();
        for k in stale {
            let members = self.comps.members(k);
            let mut out = Vec::new();
            if !members.is_empty() {
                union.clear();
                for &p in members {
                    let row = self.matrix.out(p);
                    if union.len() < row.len() {
                        union.resize(row.len(), 0);
                    }
                    for (u, &w) in union.iter_mut().zip(row) {
                        *u |= w;
                    }
                }
                for q in ones(&union) {
                    if let Some(j) = self.comps.comp_of(q)
                        && j != k
                        && mark[j as usize] != k
                    {
                        mark[j as usize] = k;
                        out.push(j);
                    }
                }
            }
            if let Some(reach) = self.reach.get_mut(k as usize) {
                *reach = out;
            }
        }
    }

    /// The judgements in the fleet's numbering (`places[d]` the place of class `d`): components
    /// and their reach from the kept ones, the edges from the matrix's columns (taken in
    /// ascending order of destination, each lands at the end of its source's row: rows come
    /// out sorted without a sort).
    fn shape_of(&mut self, places: &[usize], dense_of_place: &[u32]) -> Shape {
        let dense = |p: usize| dense_of_place.get(p).map_or(NONE, |&d| d) as usize;
        let mut index_of = vec![NONE as usize; self.comps.id_bound()];
        let mut comps: Vec<Vec<usize>> = Vec::new();
        let mut ids: Vec<u32> = Vec::new();
        for k in self.comps.ids() {
            let mut comp: Vec<usize> = self.comps.members(k).iter().map(|&p| dense(p)).collect();
            comp.sort_unstable();
            index_of[k as usize] = comps.len();
            comps.push(comp);
            ids.push(k);
        }
        let reaches = ids
            .iter()
            .map(|&k| {
                self.reach
                    .get(k as usize)
                    .map_or(&[][..], Vec::as_slice)
                    .iter()
                    .map(|&j| index_of[j as usize])
                    .collect()
            })
            .collect();
        let comp_of = places
            .iter()
            .map(|&p| self.comps.comp_of(p).map_or(0, |k| index_of[k as usize]))
            .collect();
        let self_ok = places.iter().map(|&p| bit(self.matrix.out(p), p)).collect();
        // Row starts, then each destination at its source's cursor.
        let mut start = Vec::with_capacity(places.len() + 1);
        start.push(0usize);
        for &p in places {
            let row = self.matrix.out(p);
            let n = count(row) - usize::from(bit(row, p));
            start.push(start.last().copied().unwrap_or(0) + n);
        }
        let total = start.last().copied().unwrap_or(0);
        self.scratch.clear();
        self.scratch.resize(total, 0);
        let mut cursor = start.clone();
        for (b, &pb) in places.iter().enumerate() {
            let to = u32::try_from(b).unwrap_or(NONE);
            for q in ones(self.matrix.inn(pb)) {
                let a = dense(q);
                if q == pb || a >= places.len() {
                    continue;
                }
                if let Some(slot) = self.scratch.get_mut(cursor[a]) {
                    *slot = to;
                }
                cursor[a] += 1;
            }
        }
        // Written once into the shared list (a counted range maps into an `Arc<[_]>` in place).
        let scratch = &self.scratch;
        let mut from = 0;
        let edges: SharedList<ClassEdge> = (0..total)
            .map(|i| {
                while start.get(from + 1).is_some_and(|&s| s <= i) {
                    from += 1;
                }
                ClassEdge {
                    from,
                    to: scratch[i] as usize,
                }
            })
            .collect();
        Shape {
            self_ok,
            comps,
            comp_of,
            reaches,
            edges,
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::graph::{ClassNode, assemble};
    use crate::verdict::{GuestConfig, Policy};

    const N: usize = 12;

    /// A class's judgement: its place, its edges out and in (bit `q`: to or from place `q`),
    /// whether it takes its own guests; sparse ones keep about one edge in eight.
    type Judged = (usize, u16, u16, bool, bool);

    fn judged() -> impl Strategy<Value = Judged> {
        (
            0..N,
            any::<u16>(),
            any::<u16>(),
            any::<bool>(),
            any::<bool>(),
        )
    }

    fn thin(bits: u16, sparse: bool) -> u16 {
        if sparse {
            bits & bits.rotate_left(5) & bits.rotate_left(11)
        } else {
            bits
        }
    }

    /// The graph of `places` as `build` makes it: Tarjan's components of the adjacency
    /// (`edges[a][b]` by place), assembled with `sizes` by place.
    fn from_scratch(
        edges: &[[bool; N]; N],
        places: &[usize],
        sizes: &[usize],
    ) -> super::super::CompatGraph {
        let adj: Vec<Vec<usize>> = places
            .iter()
            .enumerate()
            .map(|(a, &pa)| {
                (0..places.len())
                    .filter(|&b| b != a && edges[pa][places[b]])
                    .collect()
            })
            .collect();
        let self_ok = places.iter().map(|&p| edges[p][p]).collect();
        graph(&Shape::of(&adj, self_ok), places, sizes)
    }

    fn graph(shape: &Shape, places: &[usize], sizes: &[usize]) -> super::super::CompatGraph {
        let sizes: Vec<usize> = places.iter().map(|&p| sizes[p]).collect();
        let n = sizes.iter().sum();
        assemble(
            &GuestConfig::default(),
            &Policy::default(),
            n,
            shape,
            &sizes,
            |d| ClassNode {
                class_id: format!("place {}", places[d]),
                vendor: String::new(),
                n_guest_features: None,
                tsc_khz: None,
                hosts: SharedList::default(),
                self_compatible: false,
                pool: 0,
            },
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// After every step of classes going, coming and judged again with other edges (as
        /// `Incremental::update` tells them), in a random numbering of the places, the kept
        /// components, reach and edges give the graph `build`'s would.
        #[test]
        fn kept_shape_equals_the_shape_from_scratch(
            steps in proptest::collection::vec((
                any::<u16>(),
                proptest::collection::vec(judged(), 0..4),
                proptest::collection::vec(judged(), 0..3),
                any::<u64>(),
                any::<bool>(),
            ), 1..14),
            sizes in proptest::collection::vec(1..4usize, N),
        ) {
            let mut kept = Kept::default();
            let mut edges = [[false; N]; N];
            let mut live = [false; N];
            for (k, (gone_mask, adds, rejudged, seed, bulk)) in steps.into_iter().enumerate() {
                // Gone.
                let gone: Vec<usize> = (0..N).filter(|&p| live[p] && gone_mask >> p & 1 == 1 && gone_mask & 0x8000 != 0).collect();
                kept.remove(&gone);
                for &p in &gone {
                    live[p] = false;
                    edges[p] = [false; N];
                    for row in &mut edges {
                        row[p] = false;
                    }
                }
                // New classes in free places, and live ones judged again.
                let mut dirty: Vec<Judged> = Vec::new();
                let mut added = Vec::new();
                for j in adds {
                    if !live[j.0] && !dirty.iter().any(|d| d.0 == j.0) {
                        live[j.0] = true;
                        added.push(j.0);
                        dirty.push(j);
                    }
                }
                for j in rejudged {
                    if live[j.0] && !dirty.iter().any(|d| d.0 == j.0) {
                        dirty.push(j);
                    }
                }
                let is_dirty = |p: usize| dirty.iter().any(|d| d.0 == p);
                let mut moved = [false; N];
                for &(a, out, _, own, sparse) in &dirty {
                    let out = thin(out, sparse);
                    for b in (0..N).filter(|&b| live[b]) {
                        let on = if a == b { own } else { out >> b & 1 == 1 };
                        edges[a][b] = on;
                        moved[a] |= kept.set(a, b, on);
                    }
                }
                for a in (0..N).filter(|&a| live[a] && !is_dirty(a)) {
                    for &(b, _, inn, _, sparse) in &dirty {
                        let on = thin(inn, sparse) >> a & 1 == 1;
                        edges[a][b] = on;
                        moved[b] |= kept.set(a, b, on);
                    }
                }
                let again: Vec<usize> = dirty.iter().map(|d| d.0).filter(|&p| moved[p] && kept.holds(p)).collect();
                kept.leave(&again);
                if bulk {
                    let all: Vec<usize> = (0..N).filter(|&p| live[p]).collect();
                    kept.rebuild(&all);
                } else {
                    for &p in again.iter().chain(&added) {
                        kept.enter(p);
                    }
                }
                // The live places in a random order.
                let mut places: Vec<usize> = (0..N).filter(|&p| live[p]).collect();
                let mut r = seed | 1;
                for i in (1..places.len()).rev() {
                    r ^= r << 13;
                    r ^= r >> 7;
                    r ^= r << 17;
                    places.swap(i, (r % (i as u64 + 1)) as usize);
                }
                let mut dense_of_place = vec![NONE; N];
                for (d, &p) in places.iter().enumerate() {
                    dense_of_place[p] = d as u32;
                }
                let got = graph(&kept.shape(&places, &dense_of_place), &places, &sizes);
                prop_assert_eq!(got, from_scratch(&edges, &places, &sizes), "step {}", k);
            }
        }
    }
}
