//! One component per route.

pub mod fleet;
pub mod host;
pub mod pair;
