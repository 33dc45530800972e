//! FNV-1a (64 bit) as a `std::hash::Hasher`: deterministic, with no dependency, the same on
//! every platform (native and wasm32), for fingerprints that must not change between runs.

use std::hash::Hasher;

pub(crate) struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
}
