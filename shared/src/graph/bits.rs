//! Bit rows over class places and the edge matrix [`super::Incremental`] keeps: bit `b` of
//! `out[a]` when guests of the class at place `a` can go to the one at place `b`, and the same
//! bit as bit `a` of `inn[b]`, so that a class's sources are read as fast as its destinations.

/// A row of bits; a missing word is zero.
pub(super) type Row = Vec<u64>;

pub(super) fn words(n: usize) -> usize {
    n.div_ceil(64)
}

/// Bit `d` of `row`.
pub(super) fn bit(row: &[u64], d: usize) -> bool {
    row.get(d / 64).is_some_and(|w| w & (1 << (d % 64)) != 0)
}

/// Set or clear bit `d` of `row`; whether it changed.
pub(super) fn set_bit(row: &mut Row, d: usize, on: bool) -> bool {
    if row.len() <= d / 64 {
        if !on {
            return false;
        }
        row.resize(d / 64 + 1, 0);
    }
    let (word, bit) = (&mut row[d / 64], 1u64 << (d % 64));
    let was = *word & bit != 0;
    if on {
        *word |= bit;
    } else {
        *word &= !bit;
    }
    was != on
}

/// The set bits of `row`, ascending.
pub(super) fn ones(row: &[u64]) -> impl Iterator<Item = usize> + '_ {
    row.iter().enumerate().flat_map(|(w, &bits)| {
        let mut bits = bits;
        std::iter::from_fn(move || {
            if bits == 0 {
                return None;
            }
            let b = w * 64 + bits.trailing_zeros() as usize;
            bits &= bits - 1;
            Some(b)
        })
    })
}

/// How many bits of `row` are set.
pub(super) fn count(row: &[u64]) -> usize {
    row.iter().map(|w| w.count_ones() as usize).sum()
}

/// The edges between live places, both ways. Rows and columns of places that hold no live
/// class are empty ([`Matrix::clear`]), so every set bit is an edge between live classes.
#[derive(Debug, Default)]
pub(super) struct Matrix {
    out: Vec<Row>,
    inn: Vec<Row>,
}

impl Matrix {
    /// Room for places `0..n`.
    pub(super) fn grow(&mut self, n: usize) {
        if self.out.len() < n {
            self.out.resize_with(n, Row::new);
            self.inn.resize_with(n, Row::new);
        }
    }

    /// The places the class at place `a` sends guests to.
    pub(super) fn out(&self, a: usize) -> &[u64] {
        self.out.get(a).map_or(&[], Vec::as_slice)
    }

    /// The places whose guests can come to the class at place `b`.
    pub(super) fn inn(&self, b: usize) -> &[u64] {
        self.inn.get(b).map_or(&[], Vec::as_slice)
    }

    /// Set or clear the edge `a -> b`; whether it changed.
    pub(super) fn set(&mut self, a: usize, b: usize, on: bool) -> bool {
        self.grow(a.max(b) + 1);
        let changed = set_bit(&mut self.out[a], b, on);
        if changed {
            set_bit(&mut self.inn[b], a, on);
        }
        changed
    }

    /// Remove every edge from and to place `p` (its class is gone).
    pub(super) fn clear(&mut self, p: usize) {
        if p >= self.out.len() {
            return;
        }
        let out = std::mem::take(&mut self.out[p]);
        for b in ones(&out) {
            set_bit(&mut self.inn[b], p, false);
        }
        let inn = std::mem::take(&mut self.inn[p]);
        for a in ones(&inn) {
            set_bit(&mut self.out[a], p, false);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_and_columns_agree() {
        let mut m = Matrix::default();
        assert!(m.set(3, 70, true));
        assert!(!m.set(3, 70, true), "set twice: no change");
        assert!(m.set(70, 3, true) && m.set(5, 5, true) && m.set(0, 70, true));
        assert_eq!(ones(m.out(3)).collect::<Vec<_>>(), vec![70]);
        assert_eq!(ones(m.inn(70)).collect::<Vec<_>>(), vec![0, 3]);
        assert_eq!(count(m.inn(70)), 2);
        assert!(bit(m.out(5), 5) && !bit(m.out(5), 4) && !bit(m.out(200), 1));
        m.clear(70);
        assert!(ones(m.out(3)).next().is_none() && ones(m.inn(3)).next().is_none());
        assert!(ones(m.out(0)).next().is_none() && ones(m.inn(70)).next().is_none());
        assert!(bit(m.out(5), 5), "other places keep their edges");
        assert!(
            !m.set(9, 300, false),
            "clearing a missing bit changes nothing"
        );
        assert_eq!(words(64), 1);
        assert_eq!(words(65), 2);
    }
}
