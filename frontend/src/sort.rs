//! One sort for the whole UI. Each `sort_by` of the standard library with its own element type
//! and comparator copies a stable sort (driftsort, about 4 KB) into the WASM; the pages had a
//! dozen. Here the sorting itself is one non-generic function over indexes with a `dyn`
//! comparator; only moving the elements into that order is generic, and small.

use std::cmp::Ordering;

/// The indexes `0..n` in the order `cmp` gives; indexes that compare equal keep their order
/// (stable).
pub fn order(n: usize, cmp: &dyn Fn(usize, usize) -> Ordering) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..n).collect();
    idx.sort_unstable_by(|&a, &b| cmp(a, b).then(a.cmp(&b)));
    idx
}

/// Sort `v` stably by `cmp`.
pub fn sort_by<T>(v: &mut Vec<T>, cmp: impl Fn(&T, &T) -> Ordering) {
    let idx = order(v.len(), &|a, b| cmp(&v[a], &v[b]));
    let mut slots: Vec<Option<T>> = std::mem::take(v).into_iter().map(Some).collect();
    v.extend(idx.into_iter().filter_map(|i| slots[i].take()));
}

/// Sort `v` stably by a key.
pub fn sort_by_key<T, K: Ord>(v: &mut Vec<T>, key: impl Fn(&T) -> K) {
    sort_by(v, |a, b| key(a).cmp(&key(b)));
}

/// Sort `v` in its natural order.
pub fn sort<T: Ord>(v: &mut Vec<T>) {
    sort_by(v, T::cmp);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorts_like_the_standard_stable_sort() {
        let words = [
            "pear", "fig", "apple", "kiwi", "date", "plum", "lime", "fig",
        ];
        let mut ours: Vec<&str> = words.to_vec();
        let mut std_sorted = ours.clone();
        // By length only: equal lengths must keep their input order.
        sort_by_key(&mut ours, |w| w.len());
        std_sorted.sort_by_key(|w| w.len());
        assert_eq!(ours, std_sorted);
        let mut all: Vec<&str> = words.to_vec();
        sort(&mut all);
        assert_eq!(
            all,
            [
                "apple", "date", "fig", "fig", "kiwi", "lime", "pear", "plum"
            ]
        );
        let mut none: Vec<u8> = Vec::new();
        sort(&mut none);
        assert!(none.is_empty());
        assert_eq!(order(4, &|a, b| b.cmp(&a)), [3, 2, 1, 0]);
    }
}
