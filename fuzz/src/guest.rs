//! Guest definitions (`shared::guest::parse_guest`: libvirt domain XML, QEMU command lines,
//! guest JSON), as `POST /api/v1/precheck` and the command line's `--guest-file` read them, then
//! judged between hosts of the fleet.

use shared::guest::{abi::check_abi, parse_guest};
use shared::{GuestConfig, GuestCpu, Policy};

use crate::engine;
use crate::fleet::fleet;

/// Devices of one guest the server accepts (backend/src/limits.rs `GUEST_DEVICES`, checked by
/// backend/src/api/guest.rs `validate` before the engine runs); `tests/regression.rs` holds the
/// two equal.
pub const GUEST_DEVICES: usize = 512;

/// What backend/src/api/guest.rs `validate` accepts: the engine sees only such guests.
pub fn accepted(guest: &GuestConfig) -> bool {
    if guest.devices.len() > GUEST_DEVICES {
        return false;
    }
    match &guest.cpu {
        GuestCpu::Named {
            model,
            enable,
            disable,
        } => shared::verdict::named_model_features(model, enable, disable).is_ok(),
        GuestCpu::HostPassthroughMasked { disable } => {
            let (_, unknown) = shared::FeatureSet::from_names(disable.iter().map(String::as_str));
            unknown.is_empty()
        }
        GuestCpu::HostPassthrough | GuestCpu::HostModel => true,
    }
}

/// A guest as the API and the command line take it: parsed, accepted, judged.
pub fn guest(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok((_, g)) = parse_guest(text) else {
        return;
    };
    // The same definition on both sides presents the same virtual hardware.
    let same = check_abi(&g, &g);
    assert!(
        same.is_empty(),
        "a guest differs from itself: {:?}",
        same.iter().map(|r| &r.rule).collect::<Vec<_>>()
    );
    // What the API answers (the guest as read, `PrecheckAnswer::guest`) reads back as it was.
    if let Ok(json) = serde_json::to_string(&g) {
        match parse_guest(&json) {
            Ok((_, back)) => assert!(back == g, "a guest changes on its way through JSON"),
            Err(e) => panic!("a guest as written in json does not read back: {e}"),
        }
    }
    if !accepted(&g) {
        return;
    }
    let policy = Policy::default();
    let hosts = fleet();
    for (a, b) in hosts.iter().zip(hosts.iter().cycle().skip(1)) {
        engine::check_verdict(&shared::compare_with(a, b, &g, &policy));
    }
}
