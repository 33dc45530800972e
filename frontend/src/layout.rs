//! Where the compatibility graph draws its nodes and edges: pure, deterministic, tested natively.
//!
//! Only the transitive reduction is drawn: pools (strongly connected components, every guest can
//! go to every host inside) are reduced to a DAG, and an edge between two pools is kept only when
//! no other path joins them. Pools are laid out in layers from left to right by the longest path
//! from a pool nothing drains into (oldest processors on the left, newest on the right), one
//! horizontal lane per vendor. A class is a card with its name on two lines; a pool of more than
//! one class is a box around its cards. No randomness: the same graph always gives the same
//! picture.

use shared::api::graph_view::{Adjacency, GraphView};

/// A class card's size, and the space between layers (for the edges) and between cards.
pub const CARD_W: f64 = 250.0;
pub const CARD_H: f64 = 38.0;
pub const LAYER_GAP: f64 = 70.0;
pub const ROW_GAP: f64 = 12.0;
/// Space between a pool box's edge and its cards, and above a lane for its title.
pub const PAD: f64 = 8.0;
pub const LANE_TITLE: f64 = 22.0;
pub const LANE_GAP: f64 = 16.0;

/// A class card: its top-left corner.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NodePos {
    pub x: f64,
    pub y: f64,
}

impl NodePos {
    /// Where edges leave (right middle) and arrive (left middle).
    pub fn out_port(&self) -> (f64, f64) {
        (self.x + CARD_W, self.y + CARD_H / 2.0)
    }
    pub fn in_port(&self) -> (f64, f64) {
        (self.x, self.y + CARD_H / 2.0)
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PoolBox {
    pub x: f64,
    pub y: f64,
    pub w: f64,
    pub h: f64,
}

/// A vendor's lane: its title and vertical extent.
#[derive(Clone, Debug, PartialEq)]
pub struct Lane {
    pub vendor: String,
    pub y: f64,
    pub h: f64,
}

/// What the layout needs of a graph.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Input {
    /// Per class: its vendor (the lane) and host count (largest first inside a pool).
    pub vendors: Vec<String>,
    pub n_hosts: Vec<usize>,
    /// Directed class edges (from, to).
    pub edges: Vec<(usize, usize)>,
    /// Pools as class indexes; a class in no pool gets a pool of its own.
    pub pools: Vec<Vec<usize>>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Layout {
    /// `nodes[i]`: class `i`.
    pub nodes: Vec<NodePos>,
    /// `pools[p]`: the box of pool `p` (also for pools of one class).
    pub pools: Vec<PoolBox>,
    /// The class edges drawn: the transitive reduction between pools, one edge per pool pair
    /// (from the largest class of one to the largest class of the other).
    pub edges: Vec<(usize, usize)>,
    /// `layer[p]`: the column of pool `p`.
    pub layer: Vec<usize>,
    pub lanes: Vec<Lane>,
    pub width: f64,
    pub height: f64,
}

/// The transitive reduction of a DAG given as adjacency sets over `0..n`: edge `a -> c` is kept
/// only if no other path from `a` reaches `c`.
pub fn transitive_reduction(n: usize, edges: &[(usize, usize)]) -> Vec<(usize, usize)> {
    let mut succ: Vec<Vec<usize>> = vec![Vec::new(); n];
    for &(a, b) in edges {
        if a < n && b < n && a != b && !succ[a].contains(&b) {
            succ[a].push(b);
        }
    }
    let mut kept = Vec::new();
    for a in 0..n {
        // Everything reachable from a through at least two edges.
        let mut seen = vec![false; n];
        let mut stack: Vec<usize> = succ[a].iter().flat_map(|&b| succ[b].clone()).collect();
        while let Some(v) = stack.pop() {
            if !std::mem::replace(&mut seen[v], true) {
                stack.extend(succ[v].iter().copied());
            }
        }
        for &b in &succ[a] {
            if !seen[b] {
                kept.push((a, b));
            }
        }
    }
    crate::sort::sort(&mut kept);
    kept
}

/// Lay out a graph; see the module documentation.
pub fn layout(input: &Input) -> Layout {
    let n = input.n_hosts.len();
    // Pools, plus one for every class no pool holds.
    let mut pools: Vec<Vec<usize>> = input
        .pools
        .iter()
        .map(|p| p.iter().copied().filter(|&c| c < n).collect())
        .collect();
    let mut pool_of = vec![usize::MAX; n];
    for (p, members) in pools.iter().enumerate() {
        for &c in members {
            pool_of[c] = p;
        }
    }
    for (c, slot) in pool_of.iter_mut().enumerate() {
        if *slot == usize::MAX {
            *slot = pools.len();
            pools.push(vec![c]);
        }
    }
    for members in &mut pools {
        crate::sort::sort_by(members, |&a, &b| {
            input.n_hosts[b].cmp(&input.n_hosts[a]).then(a.cmp(&b))
        });
    }
    let np = pools.len();
    let pool_edges: Vec<(usize, usize)> = input
        .edges
        .iter()
        .filter(|&&(a, b)| a < n && b < n && pool_of[a] != pool_of[b])
        .map(|&(a, b)| (pool_of[a], pool_of[b]))
        .collect();
    let reduced = transitive_reduction(np, &pool_edges);
    // Longest path layering (the pool graph is a DAG; a cycle, which pools exclude, is cut by
    // the pass limit).
    let mut layer = vec![0usize; np];
    for _ in 0..np {
        let mut changed = false;
        for &(a, b) in &reduced {
            if layer[b] < layer[a] + 1 {
                layer[b] = layer[a] + 1;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    // Lanes: vendors in order of first appearance.
    let lane_key = |p: usize| {
        pools[p]
            .first()
            .and_then(|&c| input.vendors.get(c))
            .cloned()
            .unwrap_or_default()
    };
    let mut vendors: Vec<String> = Vec::new();
    for p in 0..np {
        let v = lane_key(p);
        if !vendors.contains(&v) {
            vendors.push(v);
        }
    }
    let n_layers = layer.iter().max().map_or(0, |m| m + 1);
    let pool_w = CARD_W + 2.0 * PAD;
    let pool_h = |p: usize| pools[p].len() as f64 * (CARD_H + ROW_GAP) - ROW_GAP + 2.0 * PAD;
    let mut boxes = vec![
        PoolBox {
            x: 0.0,
            y: 0.0,
            w: 0.0,
            h: 0.0
        };
        np
    ];
    let mut lanes = Vec::new();
    let mut y0 = 0.0;
    for v in &vendors {
        let top = y0 + LANE_TITLE;
        let mut bottom = top;
        for l in 0..n_layers {
            // Pools of this lane and layer, biggest first.
            let mut here: Vec<usize> = (0..np)
                .filter(|&p| layer[p] == l && lane_key(p) == *v)
                .collect();
            crate::sort::sort_by(&mut here, |&a, &b| {
                let hosts = |p: usize| pools[p].iter().map(|&c| input.n_hosts[c]).sum::<usize>();
                hosts(b).cmp(&hosts(a)).then(a.cmp(&b))
            });
            let mut y = top;
            for p in here {
                let h = pool_h(p);
                boxes[p] = PoolBox {
                    x: l as f64 * (pool_w + LAYER_GAP),
                    y,
                    w: pool_w,
                    h,
                };
                y += h + ROW_GAP;
            }
            bottom = f64::max(bottom, y - ROW_GAP);
        }
        lanes.push(Lane {
            vendor: v.clone(),
            y: y0,
            h: bottom - y0,
        });
        y0 = bottom + LANE_GAP;
    }
    let mut nodes = vec![NodePos { x: 0.0, y: 0.0 }; n];
    for (p, members) in pools.iter().enumerate() {
        let b = boxes[p];
        for (i, &c) in members.iter().enumerate() {
            nodes[c] = NodePos {
                x: b.x + PAD,
                y: b.y + PAD + i as f64 * (CARD_H + ROW_GAP),
            };
        }
    }
    let edges = reduced
        .iter()
        .map(|&(a, b)| (pools[a][0], pools[b][0]))
        .collect();
    let width = if n_layers == 0 {
        0.0
    } else {
        n_layers as f64 * (pool_w + LAYER_GAP) - LAYER_GAP
    };
    let height = (y0 - LANE_GAP).max(0.0);
    boxes.truncate(input.pools.len());
    layer.truncate(input.pools.len());
    Layout {
        nodes,
        pools: boxes,
        edges,
        layer,
        lanes,
        width,
        height,
    }
}

/// The layout's input from the API's graph view and its decoded adjacency rows.
pub fn input_of(g: &GraphView, adjacency: &[Adjacency]) -> Input {
    Input {
        vendors: g.classes.iter().map(|c| c.vendor.clone()).collect(),
        n_hosts: g.classes.iter().map(|c| c.n_hosts).collect(),
        edges: adjacency
            .iter()
            .enumerate()
            .flat_map(|(from, row)| row.iter().map(move |to| (from, to)))
            .collect(),
        pools: g.pools.iter().map(|p| p.classes.clone()).collect(),
    }
}

/// The layout of the API's graph view.
pub fn of_graph(g: &GraphView, adjacency: &[Adjacency]) -> Layout {
    layout(&input_of(g, adjacency))
}

/// A class name on two lines for a card: "Xeon Gold 6148 · Skylake-SP" and
/// "cluster=fra-sky-01 · 16 hosts".
pub fn card_lines(name: &str) -> (String, String) {
    let parts: Vec<&str> = name.split(" · ").collect();
    let split = parts.len().min(2);
    (parts[..split].join(" · "), parts[split..].join(" · "))
}

/// Edges of `edges` implied by two others (`a -> b` and `b -> c` for a drawn `a -> c`).
pub fn implied_edges(drawn: &[(usize, usize)], all: &[(usize, usize)]) -> Vec<(usize, usize)> {
    drawn
        .iter()
        .copied()
        .filter(|&(a, c)| {
            all.iter()
                .any(|&(x, b)| x == a && b != c && b != a && all.contains(&(b, c)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn overlap(a: &PoolBox, b: &PoolBox) -> bool {
        a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h
    }

    /// A fleet shape like a real one: a chain of generations per vendor, every older class
    /// reaching every newer one (transitively closed), a few multi-class pools.
    fn sample(n_classes: usize) -> Input {
        let vendors: Vec<String> = (0..n_classes)
            .map(|i| {
                if i % 3 == 2 {
                    "AuthenticAMD"
                } else {
                    "GenuineIntel"
                }
                .to_owned()
            })
            .collect();
        let n_hosts: Vec<usize> = (0..n_classes).map(|i| 1 + (i * 7919) % 23).collect();
        let mut edges = Vec::new();
        for a in 0..n_classes {
            for b in a + 1..n_classes {
                if vendors[a] == vendors[b] {
                    edges.push((a, b));
                    // Every fifth class is in a pool with the next one of its vendor.
                    if a % 5 == 0
                        && b == (a + 1..n_classes)
                            .find(|&x| vendors[x] == vendors[a])
                            .unwrap_or(0)
                    {
                        edges.push((b, a));
                    }
                }
            }
        }
        // Pools: strongly connected components (pairs made above, else singletons).
        let mut pools: Vec<Vec<usize>> = Vec::new();
        let mut pooled = vec![false; n_classes];
        for a in 0..n_classes {
            if pooled[a] {
                continue;
            }
            let mut p = vec![a];
            for (b, done) in pooled.iter_mut().enumerate().skip(a + 1) {
                if edges.contains(&(a, b)) && edges.contains(&(b, a)) {
                    p.push(b);
                    *done = true;
                }
            }
            pools.push(p);
        }
        Input {
            vendors,
            n_hosts,
            edges,
            pools,
        }
    }

    #[test]
    fn reduction_keeps_only_edges_no_other_path_implies() {
        // 0 -> 1 -> 2 and 0 -> 2: the long edge goes; 3 is alone.
        assert_eq!(
            transitive_reduction(4, &[(0, 1), (1, 2), (0, 2), (0, 2)]),
            vec![(0, 1), (1, 2)]
        );
        // A chain of four, closed: only the three steps remain.
        let closed: Vec<(usize, usize)> = (0..4)
            .flat_map(|a| (a + 1..4).map(move |b| (a, b)))
            .collect();
        assert_eq!(
            transitive_reduction(4, &closed),
            vec![(0, 1), (1, 2), (2, 3)]
        );
        // A diamond keeps its four sides.
        assert_eq!(
            transitive_reduction(4, &[(0, 1), (0, 2), (1, 3), (2, 3), (0, 3)]),
            vec![(0, 1), (0, 2), (1, 3), (2, 3)]
        );
    }

    #[test]
    fn drawn_edges_are_not_implied_and_go_left_to_right() {
        for n in [0, 1, 2, 7, 30, 150] {
            let input = sample(n);
            let l = layout(&input);
            assert_eq!(l.nodes.len(), n);
            assert_eq!(l.pools.len(), input.pools.len());
            // Singleton pools only: the class-level check is the pool-level one.
            let singletons: Vec<usize> = input
                .pools
                .iter()
                .filter(|p| p.len() == 1)
                .map(|p| p[0])
                .collect();
            let all_single: Vec<(usize, usize)> = input
                .edges
                .iter()
                .copied()
                .filter(|(a, b)| singletons.contains(a) && singletons.contains(b))
                .collect();
            let drawn_single: Vec<(usize, usize)> = l
                .edges
                .iter()
                .copied()
                .filter(|(a, b)| singletons.contains(a) && singletons.contains(b))
                .collect();
            assert!(implied_edges(&drawn_single, &all_single).is_empty());
            for &(a, b) in &l.edges {
                assert!(
                    input.edges.contains(&(a, b)),
                    "drawn edge {a}->{b} not in the graph"
                );
                assert!(l.nodes[a].x < l.nodes[b].x, "edge {a}->{b} goes backwards");
            }
            if n >= 7 {
                assert!(l.edges.len() < input.edges.len());
            }
        }
    }

    #[test]
    fn cards_sit_in_their_pool_and_lanes_keep_vendors_apart() {
        let input = sample(60);
        let l = layout(&input);
        for (p, members) in input.pools.iter().enumerate() {
            let b = l.pools[p];
            for &c in members {
                let n = l.nodes[c];
                assert!(
                    n.x >= b.x
                        && n.x + CARD_W <= b.x + b.w
                        && n.y >= b.y
                        && n.y + CARD_H <= b.y + b.h,
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
        assert_eq!(l.lanes.len(), 2);
        let lane_of = |c: usize| {
            l.lanes
                .iter()
                .position(|ln| l.nodes[c].y >= ln.y && l.nodes[c].y < ln.y + ln.h)
                .expect("in a lane")
        };
        for c in 0..60 {
            assert_eq!(l.lanes[lane_of(c)].vendor, input.vendors[c]);
        }
        assert_eq!(l, layout(&input), "deterministic");
    }

    #[test]
    fn cards_split_names_in_two_lines() {
        assert_eq!(
            card_lines("Xeon Gold 6148 · Skylake-SP · cluster=fra-sky-01 · 16 hosts"),
            (
                "Xeon Gold 6148 · Skylake-SP".to_owned(),
                "cluster=fra-sky-01 · 16 hosts".to_owned()
            )
        );
        assert_eq!(card_lines("x"), ("x".to_owned(), String::new()));
    }
}
