//! Output shared by the commands: JSON, class and pool names, Graphviz DOT.

use super::error::CliError;
use shared::graph;
use shared::profile::HostProfile;

pub(super) fn print_json<T: serde::Serialize>(value: &T) -> Result<(), CliError> {
    let text = serde_json::to_string_pretty(value).map_err(CliError::Json)?;
    outln!("{text}");
    Ok(())
}

/// The names of a graph's classes and pools (as the web UI shows them).
pub(super) fn names_of(g: &graph::CompatGraph, hosts: &[HostProfile]) -> shared::naming::Names {
    let by_id: std::collections::HashMap<&str, &HostProfile> =
        hosts.iter().map(|h| (h.host_id.as_str(), h)).collect();
    shared::naming::fleet_names(g, |id| by_id.get(id).copied())
}

/// The class graph as Graphviz DOT: a node per class (its name and id), an edge per allowed
/// direction, a cluster per pool (its name).
pub(super) fn graph_dot(g: &graph::CompatGraph, names: &shared::naming::Names) -> String {
    use std::fmt::Write as _;
    let mut out = String::from("digraph fleet {\n  rankdir=LR;\n  node [shape=box];\n");
    for (p, pool) in g.pools.iter().enumerate() {
        let _ = writeln!(
            out,
            "  subgraph cluster_pool{p} {{\n    label=\"pool {p}: {}\";",
            dot_escape(&names.pools[p])
        );
        for &c in &pool.classes {
            let class = &g.classes[c];
            let _ = writeln!(
                out,
                "    c{c} [label=\"{}\\n{}\"];",
                dot_escape(&names.classes[c]),
                class.class_id
            );
        }
        out.push_str("  }\n");
    }
    for e in &g.edges {
        let _ = writeln!(out, "  c{} -> c{};", e.from, e.to);
    }
    out.push_str("}\n");
    out
}

fn dot_escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}
