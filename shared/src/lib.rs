//! fleetcompat's domain types and pure compatibility engine.
//!
//! Architecture Invariant: nothing in this crate does I/O, reads the clock or the machine, or is
//! async; it builds for `wasm32-unknown-unknown` and the frontend uses its DTOs directly.
//!
//! The engine, by question:
//! - "can this guest go from A to B, and why not?": [`verdict::compare`] /
//!   [`verdict::compare_with`] (with a [`verdict::Policy`]) -> [`verdict::Verdict`];
//! - "which hosts form migration pools?": [`graph::build`] -> [`graph::CompatGraph`];
//! - "what CPU can guests have on all of these hosts?": [`baseline::baseline`] (one host:
//!   [`baseline::host_model`]) -> [`baseline::Baseline`] with QEMU/libvirt/Nova/KubeVirt exports;
//! - "what to turn off so they become compatible?": [`masks::pair_masks`], [`masks::pool_masks`];
//! - the facts underneath: [`catalog`] (every CPUID/MSR feature), [`models`] (QEMU's named models
//!   and the releases that have them), [`decode`] (CPUID dumps to feature sets, host and guest view);
//! - beyond the CPU: [`guest`] parses libvirt domain XML and QEMU command lines into a
//!   [`verdict::GuestConfig`] and checks two definitions' ABI stability; [`rules`] holds the
//!   kernel/KVM, machine type and errata, device/VFIO, arm64, confidential and cpr-transfer rules.

pub mod api;
pub mod baseline;
pub mod catalog;
pub mod class;
pub mod clusters;
pub mod decode;
pub mod drain;
pub mod featureset;
pub mod flags;
mod fnv;
pub mod graph;
pub mod guest;
pub mod import;
pub mod intern;
pub mod libvirt;
pub mod masks;
pub mod models;
pub mod naming;
pub mod policy;
pub mod profile;
pub mod reason;
pub mod registry;
pub mod rules;
#[doc(hidden)]
pub mod testing;
pub mod time;
pub mod verdict;
pub mod view;
pub mod vms;

pub use catalog::{Catalog, Feature, FeatureId, catalog};
pub use featureset::FeatureSet;
pub use profile::{HostProfile, SCHEMA_VERSION};
pub use verdict::{
    GuestConfig, GuestCpu, Layer, Policy, Reason, Severity, Verdict, compare, compare_with,
};
