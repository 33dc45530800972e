//! Where the compatibility graph draws its nodes: pure, deterministic, tested natively.
//!
//! Each pool is a box; its classes sit on a small grid inside it (largest first), sized by host
//! count. Boxes are packed on shelves, largest pool first, in a roughly square drawing. No
//! randomness: the same graph always gives the same picture.

use shared::api::ui::Graph;

/// Smallest and largest node radius, and the grid cell a node gets inside its pool box.
pub const R_MIN: f64 = 6.0;
pub const R_MAX: f64 = 22.0;
pub const CELL: f64 = 2.0 * R_MAX + 12.0;
/// Space between a pool box's edge and its nodes, and between boxes.
pub const PAD: f64 = 14.0;
pub const GAP: f64 = 18.0;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NodePos {
    pub x: f64,
    pub y: f64,
    pub r: f64,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PoolBox {
    pub x: f64,
    pub y: f64,
    pub w: f64,
    pub h: f64,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Layout {
    /// `nodes[i]`: class `i`.
    pub nodes: Vec<NodePos>,
    /// `pools[p]`: pool `p`.
    pub pools: Vec<PoolBox>,
    pub width: f64,
    pub height: f64,
}

/// Radius for a class of `n` hosts when the largest class has `max` (area grows with hosts).
pub fn radius(n: usize, max: usize) -> f64 {
    if max == 0 {
        return R_MIN;
    }
    let f = (n.min(max) as f64 / max as f64).sqrt();
    R_MIN + (R_MAX - R_MIN) * f
}

/// Lay out `n_hosts.len()` classes grouped into `pools` (indexes into `n_hosts`; every class in
/// exactly one pool). A class in no pool is put in a box of its own at the end.
pub fn layout(n_hosts: &[usize], pools: &[Vec<usize>]) -> Layout {
    let max = n_hosts.iter().copied().max().unwrap_or(0);
    let mut groups: Vec<Vec<usize>> = pools.to_vec();
    let mut seen = vec![false; n_hosts.len()];
    for g in &groups {
        for &c in g {
            if let Some(s) = seen.get_mut(c) {
                *s = true;
            }
        }
    }
    for (c, s) in seen.iter().enumerate() {
        if !s {
            groups.push(vec![c]);
        }
    }
    // Box sizes: a grid of ceil(sqrt(k)) columns.
    let dims: Vec<(usize, f64, f64)> = groups
        .iter()
        .map(|g| {
            let k = g.iter().filter(|&&c| c < n_hosts.len()).count().max(1);
            let cols = (k as f64).sqrt().ceil() as usize;
            let rows = k.div_ceil(cols);
            (
                cols,
                cols as f64 * CELL + 2.0 * PAD,
                rows as f64 * CELL + 2.0 * PAD,
            )
        })
        .collect();
    // Shelf packing, largest box first, rows no wider than a square drawing would be.
    let area: f64 = dims.iter().map(|(_, w, h)| (w + GAP) * (h + GAP)).sum();
    let widest = dims.iter().map(|(_, w, _)| *w).fold(0.0, f64::max);
    let max_w = (area.sqrt() * 1.2).max(widest);
    let mut order: Vec<usize> = (0..groups.len()).collect();
    order.sort_by(|&a, &b| {
        dims[b]
            .2
            .total_cmp(&dims[a].2)
            .then(dims[b].1.total_cmp(&dims[a].1))
            .then(a.cmp(&b))
    });
    let mut boxes = vec![
        PoolBox {
            x: 0.0,
            y: 0.0,
            w: 0.0,
            h: 0.0
        };
        groups.len()
    ];
    let (mut x, mut y, mut shelf_h, mut width) = (0.0_f64, 0.0_f64, 0.0_f64, 0.0_f64);
    for &g in &order {
        let (_, w, h) = dims[g];
        if x > 0.0 && x + w > max_w {
            x = 0.0;
            y += shelf_h + GAP;
            shelf_h = 0.0;
        }
        boxes[g] = PoolBox { x, y, w, h };
        x += w + GAP;
        shelf_h = shelf_h.max(h);
        width = width.max(x - GAP);
    }
    let height = if groups.is_empty() { 0.0 } else { y + shelf_h };
    let mut nodes = vec![
        NodePos {
            x: 0.0,
            y: 0.0,
            r: R_MIN
        };
        n_hosts.len()
    ];
    for (g, members) in groups.iter().enumerate() {
        let cols = dims[g].0;
        let mut members: Vec<usize> = members
            .iter()
            .copied()
            .filter(|&c| c < n_hosts.len())
            .collect();
        members.sort_by(|&a, &b| n_hosts[b].cmp(&n_hosts[a]).then(a.cmp(&b)));
        let b = boxes[g];
        for (i, c) in members.into_iter().enumerate() {
            let (col, row) = (i % cols, i / cols);
            nodes[c] = NodePos {
                x: b.x + PAD + (col as f64 + 0.5) * CELL,
                y: b.y + PAD + (row as f64 + 0.5) * CELL,
                r: radius(n_hosts[c], max),
            };
        }
    }
    boxes.truncate(pools.len());
    Layout {
        nodes,
        pools: boxes,
        width,
        height,
    }
}

/// The layout of the API's graph.
pub fn of_graph(g: &Graph) -> Layout {
    let n: Vec<usize> = g.classes.iter().map(|c| c.hosts.len()).collect();
    let pools: Vec<Vec<usize>> = g.pools.iter().map(|p| p.classes.clone()).collect();
    layout(&n, &pools)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inside(n: &NodePos, b: &PoolBox) -> bool {
        n.x - n.r >= b.x && n.x + n.r <= b.x + b.w && n.y - n.r >= b.y && n.y + n.r <= b.y + b.h
    }

    fn overlap(a: &PoolBox, b: &PoolBox) -> bool {
        a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h
    }

    /// A fleet shape like a real one: a few big pools, many single-class pools.
    fn sample(n_classes: usize) -> (Vec<usize>, Vec<Vec<usize>>) {
        let n_hosts: Vec<usize> = (0..n_classes).map(|i| 1 + (i * 7919) % 23).collect();
        let mut pools = Vec::new();
        let mut next = 0;
        let mut size = 1 + n_classes / 5;
        while next < n_classes {
            let end = (next + size).min(n_classes);
            pools.push((next..end).collect());
            next = end;
            size = (size / 2).max(1);
        }
        (n_hosts, pools)
    }

    #[test]
    fn nodes_sit_in_their_pool_box_and_never_overlap() {
        for n in [0, 1, 2, 7, 60, 1000] {
            let (hosts, pools) = sample(n);
            let l = layout(&hosts, &pools);
            assert_eq!(l.nodes.len(), n);
            assert_eq!(l.pools.len(), pools.len());
            for (p, members) in pools.iter().enumerate() {
                for &c in members {
                    assert!(
                        inside(&l.nodes[c], &l.pools[p]),
                        "class {c} outside pool {p}"
                    );
                }
            }
            for (i, a) in l.pools.iter().enumerate() {
                assert!(a.x + a.w <= l.width + 1e-9 && a.y + a.h <= l.height + 1e-9);
                for b in &l.pools[i + 1..] {
                    assert!(!overlap(a, b), "pool boxes overlap: {a:?} {b:?}");
                }
            }
            for (i, a) in l.nodes.iter().enumerate() {
                for b in &l.nodes[i + 1..] {
                    let d = ((a.x - b.x).powi(2) + (a.y - b.y).powi(2)).sqrt();
                    assert!(d >= a.r + b.r, "nodes overlap: {a:?} {b:?}");
                }
            }
        }
    }

    #[test]
    fn deterministic_roughly_square_and_sized_by_hosts() {
        let (hosts, pools) = sample(1000);
        let a = layout(&hosts, &pools);
        assert_eq!(a, layout(&hosts, &pools));
        let ratio = a.width / a.height;
        assert!((0.4..=2.5).contains(&ratio), "aspect ratio {ratio}");
        assert_eq!(radius(23, 23), R_MAX);
        assert_eq!(radius(0, 23), R_MIN);
        assert!(radius(4, 23) < radius(9, 23));
        let big = hosts.iter().position(|&h| h == 23).unwrap();
        let small = hosts.iter().position(|&h| h == 1).unwrap();
        assert!(a.nodes[big].r > a.nodes[small].r);
    }

    #[test]
    fn classes_missing_from_every_pool_still_get_a_place() {
        let l = layout(&[3, 1, 2], &[vec![0]]);
        assert_eq!(l.pools.len(), 1);
        assert!(inside(&l.nodes[0], &l.pools[0]));
        assert_ne!(
            (l.nodes[1].x, l.nodes[1].y),
            (l.nodes[2].x, l.nodes[2].y),
            "two stray classes share a place"
        );
        assert!(l.nodes.iter().all(|n| n.x <= l.width && n.y <= l.height));
    }
}
