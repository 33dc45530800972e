//! Host classes: hosts whose profiles are equal in everything migration depends on.

use std::collections::HashMap;

use crate::featureset::FeatureSet;
use crate::models::QemuVersion;
use crate::profile::{Arch, HostProfile};

/// TSC frequencies within one bucket differ by less than half the default tolerance (125 ppm), so
/// hosts that only differ by calibration noise share a class.
const TSC_BUCKET_PPM: f64 = 125.0;

/// What puts two hosts in one class: everything the verdicts of a class graph read.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ClassKey {
    arch: Arch,
    vendor: String,
    guest_view: Option<FeatureSet>,
    tsc_bucket: Option<i64>,
    tsc_scaling: Option<bool>,
    /// The oldest QEMU release probed on the host: which named models it can start.
    qemu: Option<QemuVersion>,
    /// What its QEMUs said of the host: named models' unavailable features, the host model,
    /// whether `-cpu host` starts ([`qemu_facts`]).
    qemu_facts: u64,
    /// Which KVM MSRs tied to CPU features the host's KVM lists ([`crate::rules::kernel::tied_msrs`]).
    tied_msrs: (u32, bool),
    /// Every fact the layers beyond the CPU read ([`crate::rules::layers_fingerprint`]).
    layers: u64,
}

/// A fingerprint of what the host's QEMUs said about CPUs: each named model's unavailable
/// features, the host model, and which `-cpu` options started in the collector's stopped starts.
fn qemu_facts(p: &HostProfile) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = crate::fnv::Fnv::default();
    // Every install: a policy may name any of them.
    for q in &p.qemu {
        q.version.hash(&mut h);
        for m in &q.cpu_models {
            (&m.name, &m.unavailable_features).hash(&mut h);
        }
        q.host_model.map(|hm| hm.names()).hash(&mut h);
        q.host_cpu_start.as_ref().map(|c| c.ok).hash(&mut h);
        for (cpu, c) in &q.cpu_start_checks {
            (cpu, c.ok).hash(&mut h);
        }
    }
    h.finish()
}

fn tsc_bucket(khz: u64) -> Option<i64> {
    if khz == 0 {
        return None;
    }
    #[expect(
        clippy::cast_precision_loss,
        clippy::cast_possible_truncation,
        reason = "a bucket index"
    )]
    let b = ((khz as f64).ln() / (TSC_BUCKET_PPM / 1e6).ln_1p()).floor() as i64;
    Some(b)
}

/// The class key of a host: arch, vendor, what QEMU can give a guest there, TSC frequency to
/// 125 ppm, TSC scaling, QEMU release and what it said, the KVM MSRs tied to features, and the
/// facts the layers beyond the CPU read.
pub fn key(p: &HostProfile) -> ClassKey {
    ClassKey {
        arch: p.cpu.arch,
        vendor: p.cpu.vendor.to_ascii_lowercase(),
        // What `-cpu host` gives a guest there, as QEMU computes it.
        guest_view: crate::view::host_cpu(p, None),
        tsc_bucket: p.cpu.tsc_khz.and_then(tsc_bucket),
        tsc_scaling: p.kvm.as_ref().and_then(|k| k.tsc_scaling),
        qemu: crate::rules::qemu_version(p, None),
        qemu_facts: qemu_facts(p),
        tied_msrs: crate::rules::kernel::tied_msrs(p),
        layers: crate::rules::layers_fingerprint(p),
    }
}

/// A stable id of a host's class ([`key`]): the same on every platform and release for equal
/// inputs, and equal exactly for hosts of one class.
pub fn class_id(p: &HostProfile) -> String {
    id_of_key(&key(p))
}

/// [`class_id`] of a key computed already.
pub fn id_of_key(k: &ClassKey) -> String {
    // FNV-1a, 64 bit: deterministic, no dependency, identical on native and wasm32.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |bytes: &[u8]| {
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        h ^= 0xff;
        h = h.wrapping_mul(0x0100_0000_01b3);
    };
    eat(match k.arch {
        Arch::X86_64 => b"x86_64",
        Arch::Aarch64 => b"aarch64",
    });
    eat(k.vendor.as_bytes());
    match &k.guest_view {
        Some(view) => {
            for name in view.name_strs() {
                eat(name.as_bytes());
            }
        }
        None => eat(b"no-guest-view"),
    }
    // Parts a host may lack change no id when absent.
    if let Some(b) = k.tsc_bucket {
        eat(format!("tsc-bucket {b}").as_bytes());
    }
    if let Some(s) = k.tsc_scaling {
        eat(format!("tsc-scaling {s}").as_bytes());
    }
    if let Some(q) = k.qemu {
        eat(format!("qemu {q}").as_bytes());
    }
    // Parts beyond the CPU view, hashed already.
    eat(format!(
        "facts {:x} {:x} {} {:x}",
        k.qemu_facts, k.tied_msrs.0, k.tied_msrs.1, k.layers
    )
    .as_bytes());
    format!("c{:012x}", h >> 16)
}

/// Class keys numbered once and kept across fleet generations, so that a host's class is
/// computed when the host changes and never again: `intern` gives equal keys equal numbers, the
/// first number 0. Numbers are never reused; a class that vanished and comes back keeps its
/// number.
#[derive(Debug, Default)]
pub struct Interner {
    numbers: HashMap<ClassKey, u32>,
    /// [`class_id`] of each number.
    ids: Vec<String>,
}

impl Interner {
    /// The number of `p`'s class ([`key`]), new if no host had that class yet.
    pub fn intern(&mut self, p: &HostProfile) -> u32 {
        let k = key(p);
        if let Some(&n) = self.numbers.get(&k) {
            return n;
        }
        let n = u32::try_from(self.ids.len()).unwrap_or(u32::MAX);
        self.ids.push(id_of_key(&k));
        self.numbers.insert(k, n);
        n
    }

    /// The [`class_id`] of a class number (`""` for a number `intern` never gave).
    pub fn class_id(&self, n: u32) -> &str {
        self.ids.get(n as usize).map_or("", String::as_str)
    }

    /// How many numbers were given.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
}
