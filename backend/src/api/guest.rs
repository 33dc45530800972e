//! The guest configuration and policy of a read, from query parameters: `cpu`
//! (host-passthrough, host-model, a QEMU model name, or `baseline` = the fleet's baseline),
//! `enable`/`disable` (comma-separated features), `allow_vendor_change`, `tsc_khz`,
//! `tsc_tolerance_ppm`, `src_qemu`, `dst_qemu`, `migratable`, `stack`.

use serde::Deserialize;
use shared::baseline::BaselineOptions;
use shared::models::QemuVersion;
use shared::profile::HostProfile;
use shared::{FeatureSet, GuestConfig, GuestCpu, Policy};

use crate::cache::Fleet;
use crate::error::ApiError;

#[derive(Clone, Debug, Default, Deserialize)]
pub struct GuestQuery {
    pub cpu: Option<String>,
    pub enable: Option<String>,
    pub disable: Option<String>,
    pub allow_vendor_change: Option<bool>,
    pub tsc_khz: Option<u64>,
    pub tsc_tolerance_ppm: Option<u32>,
    pub src_qemu: Option<String>,
    pub dst_qemu: Option<String>,
    /// host-passthrough: `false` is QEMU's `migratable=off` (the guest also sees invtsc).
    pub migratable: Option<bool>,
    /// Who starts the destination: `qemu` or `libvirt` (default: libvirt for host-model, qemu
    /// otherwise).
    pub stack: Option<String>,
}

fn list(s: Option<&String>) -> Vec<String> {
    s.map(|s| {
        s.split(',')
            .map(str::trim)
            .filter(|x| !x.is_empty())
            .map(str::to_owned)
            .collect()
    })
    .unwrap_or_default()
}

fn qemu(name: &str, v: Option<&String>) -> Result<Option<QemuVersion>, ApiError> {
    v.map(|v| {
        QemuVersion::parse(v).ok_or_else(|| {
            ApiError::bad_request(
                "invalid_parameter",
                format!("{name}='{v}' is not a qemu version: use one like 10.0.2"),
            )
        })
    })
    .transpose()
}

impl GuestQuery {
    pub fn policy(&self) -> Result<Policy, ApiError> {
        let d = Policy::default();
        Ok(Policy {
            allow_vendor_change: self.allow_vendor_change.unwrap_or(d.allow_vendor_change),
            tsc_tolerance_ppm: self.tsc_tolerance_ppm.unwrap_or(d.tsc_tolerance_ppm),
            guest_tsc_khz: self.tsc_khz,
            src_qemu: qemu("src_qemu", self.src_qemu.as_ref())?,
            dst_qemu: qemu("dst_qemu", self.dst_qemu.as_ref())?,
            stack: match self.stack.as_deref() {
                None => None,
                Some("qemu") => Some(shared::verdict::ManagementStack::Qemu),
                Some("libvirt") => Some(shared::verdict::ManagementStack::Libvirt),
                Some(other) => {
                    return Err(ApiError::bad_request(
                        "invalid_parameter",
                        format!("stack='{other}' is not a management stack: use qemu or libvirt"),
                    ));
                }
            },
            ..d
        })
    }

    /// The guest configuration; `cpu=baseline` needs the fleet (its baseline model).
    pub fn guest(&self, fleet: Option<&Fleet>) -> Result<GuestConfig, ApiError> {
        let enable = list(self.enable.as_ref());
        let disable = list(self.disable.as_ref());
        let cpu = match self.cpu.as_deref().unwrap_or("host-passthrough") {
            "host-passthrough" | "host" if disable.is_empty() => GuestCpu::HostPassthrough,
            "host-passthrough" | "host" => GuestCpu::HostPassthroughMasked { disable },
            "host-model" => GuestCpu::HostModel,
            "baseline" => {
                let fleet = fleet.ok_or_else(|| {
                    ApiError::bad_request(
                        "invalid_parameter",
                        "cpu=baseline is not available here: name a model instead",
                    )
                })?;
                let hosts: Vec<&HostProfile> = fleet.profiles.iter().map(|p| &**p).collect();
                let b = shared::baseline::baseline(&hosts, &BaselineOptions::default())
                    .map_err(|e| ApiError::unprocessable("no_baseline", e.to_string()))?;
                GuestCpu::Named {
                    model: b.base_model,
                    enable: b.added.names(),
                    disable: b.removed.names(),
                }
            }
            model => GuestCpu::Named {
                model: model.to_owned(),
                enable,
                disable,
            },
        };
        let mut guest = GuestConfig {
            cpu,
            ..GuestConfig::default()
        };
        if self.migratable == Some(false) {
            guest.cpu_props.insert("migratable".into(), "off".into());
        }
        validate(&guest)?;
        Ok(guest)
    }
}

/// Refuse a guest configuration naming an unknown model or feature, naming it, or one with more
/// devices than `limits::GUEST_DEVICES`.
pub fn validate(guest: &GuestConfig) -> Result<(), ApiError> {
    if guest.devices.len() > crate::limits::GUEST_DEVICES {
        return Err(ApiError::too_many(
            "the guest's devices",
            guest.devices.len(),
            crate::limits::GUEST_DEVICES,
            "judge a definition with fewer devices",
        ));
    }
    let bad = |e: String| ApiError::bad_request("invalid_guest", e);
    match &guest.cpu {
        GuestCpu::Named {
            model,
            enable,
            disable,
        } => shared::verdict::named_model_features(model, enable, disable)
            .map(|_| ())
            .map_err(|e| bad(e.to_string())),
        GuestCpu::HostPassthroughMasked { disable } => {
            let (_, unknown) = FeatureSet::from_names(disable.iter().map(String::as_str));
            match unknown.first() {
                Some(u) => Err(bad(format!(
                    "unknown cpu feature '{u}' in the guest's disable list"
                ))),
                None => Ok(()),
            }
        }
        GuestCpu::HostPassthrough | GuestCpu::HostModel => Ok(()),
    }
}
