//! The strongly connected components of the edge matrix ([`super::bits::Matrix`]) kept as
//! classes come and go, so that a new, vanished or rejudged class does not make every
//! component again.
//!
//! - A class `v` added with its edges: its component is `v` and every class both reachable from
//!   `v` and reaching `v` (one search forward, one backward, over bit rows); every other
//!   component stays as it was (a new node can only merge components that lie on a cycle
//!   through it).
//! - A class removed: only its own component can split (any other cycle avoids it); that
//!   component's other classes are split again by forward-backward searches inside it.
//!
//! A rejudged class whose edges changed is removed, then added with its new edges.
//! Component ids are reused; the components that keep most of their classes keep their id, so
//! the classes whose component id changed ([`Components::take_changes`]) are few.

use super::bits::{Matrix, Row, bit, ones, set_bit, words};

const NONE: u32 = u32::MAX;

/// Components over places (see the module).
#[derive(Debug, Default)]
pub(super) struct Components {
    /// By place: its component, `NONE` when the place is not in the graph.
    comp_of: Vec<u32>,
    /// By component id: its places, ascending (empty: the id is free).
    members: Vec<Vec<usize>>,
    free: Vec<u32>,
    /// The places in the graph.
    present: Row,
    /// Places whose component id changed, and components whose members changed, since the last
    /// [`Self::take_changes`].
    touched: Vec<usize>,
    changed: Vec<u32>,
}

/// What changed since the last [`Components::take_changes`].
#[derive(Debug, Default)]
pub(super) struct Changes {
    /// Places whose component id changed (or that came or went).
    pub touched: Vec<usize>,
    /// Component ids whose members changed (maybe freed since).
    pub changed: Vec<u32>,
}

impl Components {
    /// The component of place `p` (`None` when it is not in the graph).
    pub(super) fn comp_of(&self, p: usize) -> Option<u32> {
        self.comp_of.get(p).copied().filter(|&k| k != NONE)
    }

    /// The places of component `k`, ascending.
    pub(super) fn members(&self, k: u32) -> &[usize] {
        self.members.get(k as usize).map_or(&[], Vec::as_slice)
    }

    /// The live component ids, ascending.
    pub(super) fn ids(&self) -> impl Iterator<Item = u32> + '_ {
        (0..self.members.len())
            .filter(|&k| !self.members[k].is_empty())
            .filter_map(|k| u32::try_from(k).ok())
    }

    /// One past the largest component id.
    pub(super) fn id_bound(&self) -> usize {
        self.members.len()
    }

    pub(super) fn take_changes(&mut self) -> Changes {
        Changes {
            touched: std::mem::take(&mut self.touched),
            changed: std::mem::take(&mut self.changed),
        }
    }

    fn new_id(&mut self) -> u32 {
        self.free.pop().unwrap_or_else(|| {
            self.members.push(Vec::new());
            u32::try_from(self.members.len() - 1).unwrap_or(NONE)
        })
    }

    fn set_comp(&mut self, p: usize, k: u32) {
        if self.comp_of.len() <= p {
            self.comp_of.resize(p + 1, NONE);
        }
        if self.comp_of[p] != k {
            self.comp_of[p] = k;
            self.touched.push(p);
        }
    }

    /// Take places `gone` out of the graph (their edges still in `m` or not: only edges between
    /// the places left are read). Each of their components is split again.
    pub(super) fn remove(&mut self, gone: &[usize], m: &Matrix) {
        let mut hit: Vec<u32> = Vec::new();
        for &g in gone {
            set_bit(&mut self.present, g, false);
            if let Some(k) = self.comp_of(g) {
                if !hit.contains(&k) {
                    hit.push(k);
                }
                self.set_comp(g, NONE);
            }
        }
        for k in hit {
            let rest: Vec<usize> = std::mem::take(&mut self.members[k as usize])
                .into_iter()
                .filter(|&p| bit(&self.present, p))
                .collect();
            self.changed.push(k);
            if rest.is_empty() {
                self.free.push(k);
                continue;
            }
            let mut pieces = split(&rest, m, self.present.len());
            // The largest piece keeps the id.
            let largest = (0..pieces.len())
                .max_by_key(|&i| (pieces[i].len(), std::cmp::Reverse(i)))
                .unwrap_or(0);
            pieces.swap(0, largest);
            for (i, piece) in pieces.into_iter().enumerate() {
                let id = if i == 0 { k } else { self.new_id() };
                for &p in &piece {
                    self.set_comp(p, id);
                }
                self.members[id as usize] = piece;
                self.changed.push(id);
            }
        }
    }

    /// Put place `v` in the graph with its edges in `m` (edges to places not in the graph are
    /// not read): its component is `v` with every class on a cycle through it.
    pub(super) fn add(&mut self, v: usize, m: &Matrix) {
        if self.present.len() <= v / 64 {
            self.present.resize(v / 64 + 1, 0);
        }
        set_bit(&mut self.present, v, true);
        let forward = reach(v, &self.present, |x| m.out(x));
        let backward = reach(v, &self.present, |x| m.inn(x));
        // The components on a cycle through v: a component is wholly in or out of both.
        let mut merged: Vec<u32> = Vec::new();
        for (w, (&f, &b)) in forward.iter().zip(&backward).enumerate() {
            let mut both = f & b;
            while both != 0 {
                let p = w * 64 + both.trailing_zeros() as usize;
                both &= both - 1;
                if let Some(k) = self.comp_of(p)
                    && !merged.contains(&k)
                {
                    merged.push(k);
                }
            }
        }
        // The largest keeps its id; the others' places join it.
        let keep = merged
            .iter()
            .copied()
            .max_by_key(|&k| (self.members[k as usize].len(), std::cmp::Reverse(k)));
        let id = keep.unwrap_or_else(|| self.new_id());
        let mut all = std::mem::take(&mut self.members[id as usize]);
        for k in merged {
            if k == id {
                continue;
            }
            let places = std::mem::take(&mut self.members[k as usize]);
            for &p in &places {
                self.set_comp(p, id);
            }
            all.extend(places);
            self.free.push(k);
            self.changed.push(k);
        }
        self.set_comp(v, id);
        all.push(v);
        all.sort_unstable();
        self.members[id as usize] = all;
        self.changed.push(id);
    }
}

impl Components {
    /// Make the components again from the places `all` (every place in the graph) with their
    /// edges in `m`, by Tarjan's algorithm: when many classes come at once (the first fleet),
    /// cheaper than two searches per class.
    pub(super) fn rebuild(&mut self, all: &[usize], m: &Matrix) {
        let old: Vec<u32> = self.ids().collect();
        self.changed.extend(old);
        self.members.clear();
        self.free.clear();
        self.comp_of.iter_mut().for_each(|k| *k = NONE);
        self.present.clear();
        let mut local = vec![usize::MAX; all.iter().max().map_or(0, |&p| p + 1)];
        for (i, &p) in all.iter().enumerate() {
            set_bit(&mut self.present, p, true);
            local[p] = i;
        }
        let adj: Vec<Vec<usize>> = all
            .iter()
            .map(|&p| {
                ones(m.out(p))
                    .filter(|&q| q != p)
                    .filter_map(|q| local.get(q).copied().filter(|&i| i != usize::MAX))
                    .collect()
            })
            .collect();
        for comp in super::strongly_connected(&adj) {
            let id = self.new_id();
            let mut places: Vec<usize> = comp.iter().map(|&i| all[i]).collect();
            places.sort_unstable();
            for &p in &places {
                self.set_comp(p, id);
            }
            self.members[id as usize] = places;
            self.changed.push(id);
        }
    }
}

/// The places reachable from `from` (itself included) through `next`, inside `within`.
fn reach<'a>(from: usize, within: &[u64], next: impl Fn(usize) -> &'a [u64]) -> Row {
    let mut seen = vec![0u64; within.len()];
    set_bit(&mut seen, from, true);
    let mut stack = vec![from];
    while let Some(x) = stack.pop() {
        for (w, &bits) in next(x).iter().enumerate().take(within.len()) {
            let mut new = bits & within[w] & !seen[w];
            if new == 0 {
                continue;
            }
            seen[w] |= new;
            while new != 0 {
                stack.push(w * 64 + new.trailing_zeros() as usize);
                new &= new - 1;
            }
        }
    }
    seen
}

/// The strongly connected components of the places `set` (ascending) with their edges among
/// them in `m`, by forward-backward searches: a place's component is what it reaches and what
/// reaches it; the rest falls into the parts reached only one way and the part reached neither
/// way, each split the same way. Each component ascending.
fn split(set: &[usize], m: &Matrix, n_words: usize) -> Vec<Vec<usize>> {
    let mut first = vec![0u64; n_words.max(words(set.last().map_or(0, |&p| p + 1)))];
    for &p in set {
        set_bit(&mut first, p, true);
    }
    let mut parts = vec![first];
    let mut out = Vec::new();
    while let Some(part) = parts.pop() {
        let Some(pivot) = ones(&part).next() else {
            continue;
        };
        let forward = reach(pivot, &part, |x| m.out(x));
        let backward = reach(pivot, &part, |x| m.inn(x));
        let pick = |f: &dyn Fn(u64, u64, u64) -> u64| -> Row {
            part.iter()
                .zip(forward.iter().zip(&backward))
                .map(|(&s, (&a, &b))| f(s, a, b))
                .collect()
        };
        out.push(ones(&pick(&|_, a, b| a & b)).collect());
        for rest in [
            pick(&|_, a, b| a & !b),
            pick(&|_, a, b| b & !a),
            pick(&|s, a, b| s & !(a | b)),
        ] {
            if rest.iter().any(|&w| w != 0) {
                parts.push(rest);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matrix(edges: &[(usize, usize)]) -> Matrix {
        let mut m = Matrix::default();
        for &(a, b) in edges {
            m.set(a, b, true);
        }
        m
    }

    fn comps(c: &Components) -> Vec<Vec<usize>> {
        let mut all: Vec<Vec<usize>> = c.ids().map(|k| c.members(k).to_vec()).collect();
        all.sort();
        all
    }

    #[test]
    fn adding_merges_the_cycle_and_removing_splits_it() {
        // 0 -> 1 -> 2, 3 -> 0; then 2 -> 3 closes the cycle 0 1 2 3; 4 alone.
        let mut m = matrix(&[(0, 1), (1, 2), (3, 0)]);
        let mut c = Components::default();
        for p in 0..5 {
            c.add(p, &m);
        }
        assert_eq!(comps(&c), vec![vec![0], vec![1], vec![2], vec![3], vec![4]]);
        c.take_changes();
        c.remove(&[2], &m);
        m.set(2, 3, true);
        m.set(1, 2, true);
        c.add(2, &m);
        assert_eq!(comps(&c), vec![vec![0, 1, 2, 3], vec![4]]);
        let changes = c.take_changes();
        assert!(changes.touched.contains(&2) && !changes.touched.contains(&4));
        // Without 1 the cycle breaks into singletons; without 4 nothing else changes.
        c.remove(&[1], &m);
        assert_eq!(comps(&c), vec![vec![0], vec![2], vec![3], vec![4]]);
        c.remove(&[4], &m);
        m.clear(4);
        assert_eq!(comps(&c), vec![vec![0], vec![2], vec![3]]);
        assert_eq!(c.comp_of(4), None);
        // A split into two cycles and a place between them.
        let m = matrix(&[(0, 1), (1, 0), (1, 2), (2, 3), (3, 4), (4, 3), (4, 0)]);
        let mut c = Components::default();
        for p in 0..5 {
            c.add(p, &m);
        }
        assert_eq!(comps(&c), vec![vec![0, 1, 2, 3, 4]]);
        c.remove(&[2], &m);
        assert_eq!(comps(&c), vec![vec![0, 1], vec![3, 4]]);
    }
}
