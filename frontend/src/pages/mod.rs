//! One component per route.

pub mod baseline;
pub mod clusters;
pub mod fleet;
pub mod graph;
pub mod host;
pub mod pair;
pub mod precheck;
pub mod vm;
pub mod vms;
pub mod whatif;
