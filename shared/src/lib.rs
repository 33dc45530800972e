//! fleetcompat's domain types and pure compatibility engine.
//!
//! Architecture Invariant: nothing in this crate does I/O, reads the clock or the machine, or is
//! async; it builds for `wasm32-unknown-unknown` and the frontend uses its DTOs directly.

pub mod api;
pub mod baseline;
pub mod catalog;
pub mod class;
pub mod decode;
pub mod featureset;
pub mod graph;
pub mod import;
pub mod masks;
pub mod models;
pub mod profile;
#[doc(hidden)]
pub mod testing;
pub mod time;
pub mod verdict;

pub use catalog::{Catalog, Feature, FeatureId, catalog};
pub use featureset::FeatureSet;
pub use profile::{HostProfile, SCHEMA_VERSION};
pub use verdict::{
    GuestConfig, GuestCpu, Layer, Policy, Reason, Severity, Verdict, compare, compare_with,
};
