//! Every rule the engine can fire, typed: its id, layer, default severity (and the others it can
//! take), one line on when it fires, and the upstream source it follows (QEMU, Linux or libvirt
//! file and function), or `policy: ...` where the rule is an operator's judgement with no upstream
//! counterpart. `docs/rules.md` is checked against this table, and this table against the rule
//! ids in the engine's source (`shared/tests/rules_registry.rs`).

use crate::verdict::{Layer, Severity};
use Layer::{Arm64, Cpr, CpuFeatures, Devices, KernelKvm, Profile, QemuMachine, Tsc, Vendor};
use Severity::{Blocker, Info, Warning};

/// One rule of the engine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RuleInfo {
    /// The id a [`crate::verdict::Reason`] carries in `rule`, e.g. `cpu.feature-missing`.
    pub id: &'static str,
    pub layer: Layer,
    /// The severity the rule fires with by default.
    pub severity: Severity,
    /// Other severities it may take (by policy, or when a workaround is in place).
    pub also: &'static [Severity],
    /// One line: when it fires.
    pub doc: &'static str,
    /// Upstream file and function the rule follows, or `policy: ...`.
    pub source: &'static str,
}

impl RuleInfo {
    /// Whether a reason of this rule may carry `s`.
    pub fn allows(&self, s: Severity) -> bool {
        self.severity == s || self.also.contains(&s)
    }
}

const fn info(
    id: &'static str,
    layer: Layer,
    severity: Severity,
    doc: &'static str,
    source: &'static str,
) -> RuleInfo {
    RuleInfo {
        id,
        layer,
        severity,
        also: &[],
        doc,
        source,
    }
}

/// Every rule, grouped by layer.
pub const RULES: &[RuleInfo] = &[
    // Profile: the hosts' profiles and the guest's kind.
    info(
        "arch.mismatch",
        Profile,
        Blocker,
        "the source and destination differ in architecture (x86_64, aarch64...)",
        "QEMU migration/savevm.c configuration_post_load (\"Machine type received is ... and local is ...\"); KVM vCPU state is per architecture",
    ),
    info(
        "profile.no-guest-view",
        Profile,
        Blocker,
        "a profile has no KVM guest view (KVM_GET_SUPPORTED_CPUID was never read), so CPU features cannot be judged",
        "Linux arch/x86/kvm/cpuid.c kvm_dev_ioctl_get_cpuid (KVM_GET_SUPPORTED_CPUID, the view the profile lacks)",
    ),
    info(
        "profile.estimated-guest-view",
        Profile,
        Info,
        "a side's guest view is estimated from a CPUID dump (no KVM or QEMU data), so the CPU verdict rests on an estimate",
        "policy: the estimate stands in for Linux arch/x86/kvm/cpuid.c kvm_dev_ioctl_get_cpuid and QEMU's host expansion, which were never read for this host",
    ),
    info(
        "confidential.not-migratable",
        Profile,
        Blocker,
        "the guest is SEV, SEV-ES, SEV-SNP or TDX and the policy does not allow confidential migration",
        "QEMU target/i386/sev.c sev_launch_finish (migrate_add_blocker \"SEV: Migration is not implemented\")",
    ),
    info(
        "confidential.unsupported-on-destination",
        Profile,
        Blocker,
        "confidential migration is allowed, but the destination's KVM does not list the guest's VM type in KVM_CAP_VM_TYPES (or the profile does not say)",
        "QEMU target/i386/kvm/kvm.c kvm_get_vm_type (\"vm-type %s not supported by KVM\"); Linux arch/x86/kvm/x86.c kvm_vm_ioctl_check_extension (KVM_CAP_VM_TYPES)",
    ),
    info(
        "confidential.migration-allowed",
        Profile,
        Warning,
        "confidential migration is allowed by the policy and the destination's KVM supports the VM type",
        "policy: allow_confidential_migration (upstream QEMU registers a migration blocker for these guests, target/i386/sev.c sev_launch_finish)",
    ),
    info(
        "abi.confidential",
        Profile,
        Blocker,
        "the two definitions differ in their confidential-computing setting",
        "policy: the confidential guest support object (QEMU -machine confidential-guest-support) is part of the guest's hardware",
    ),
    // CPU vendor.
    info(
        "vendor.change",
        Vendor,
        Blocker,
        "the CPU vendor differs and the policy does not allow it, or allows it only for named models and the guest sees the host CPU",
        "policy: QEMU and KVM compare no vendors (CPUID is not migrated); a guest kernel picks vendor code paths once at boot (Linux arch/x86/kernel/cpu/common.c get_cpu_vendor)",
    ),
    info(
        "vendor.change-allowed",
        Vendor,
        Warning,
        "the CPU vendor differs and the policy allows it for this named-model guest",
        "policy: allow_vendor_change (the operator's judgement; QEMU has no vendor check)",
    ),
    // CPU features.
    info(
        "cpu.invalid-guest-cpu",
        CpuFeatures,
        Blocker,
        "the guest's named model, or a feature in its enable/disable lists, is unknown",
        "QEMU target/i386/cpu.c x86_cpu_class_by_name and x86_cpu_parse_featurestr (an unknown model or property refuses to start)",
    ),
    info(
        "cpu.enforce-refuses-start",
        CpuFeatures,
        Blocker,
        "the guest's -cpu has enforce (libvirt check='full') and the source's QEMU refuses it: the collector's stopped start of MODEL,enforce failed, or, untried, the host cannot give some of the model's features",
        "QEMU target/i386/cpu.c x86_cpu_realizefn (enforce: \"Host doesn't support requested features\") after x86_cpu_filter_features",
    ),
    info(
        "cpu.model-filtered-on-source",
        CpuFeatures,
        Info,
        "the source's host cannot give some of the named model's features and the guest has no enforce: QEMU starts it without them",
        "QEMU target/i386/cpu.c x86_cpu_filter_features (\"host doesn't support requested feature\", then filtered out)",
    ),
    info(
        "cpu.host-cpu-cannot-start",
        CpuFeatures,
        Blocker,
        "the collector's stopped start of plain -cpu host with the source's QEMU failed, so no such guest can be running there",
        "QEMU target/i386/kvm/kvm.c kvm_arch_init_vcpu and kvm_buf_set_msrs (a vCPU KVM refuses, e.g. an MSR value it rejects, stops QEMU)",
    ),
    info(
        "cpu.host-cpu-cannot-start-on-destination",
        CpuFeatures,
        Blocker,
        "the collector's stopped start of plain -cpu host with the destination's QEMU failed, so it cannot receive a host-passthrough guest",
        "QEMU target/i386/kvm/kvm.c kvm_arch_init_vcpu and kvm_buf_set_msrs (the incoming QEMU builds its vCPUs before loading the stream)",
    ),
    info(
        "cpu.feature-missing",
        CpuFeatures,
        Blocker,
        "a fixed-class feature the guest sees is one the destination's QEMU cannot give for the same -cpu (no enforce, not a guest libvirt checks)",
        "QEMU target/i386/cpu.c x86_cpu_filter_features and target/i386/kvm/kvm.c kvm_arch_get_supported_cpuid (the destination computes the guest's CPUID from its own KVM; CPUID is not migrated)",
    ),
    info(
        "cpu.enforce-refuses-destination",
        CpuFeatures,
        Blocker,
        "a feature the guest sees is one the destination cannot give, and the guest's -cpu has enforce",
        "QEMU target/i386/cpu.c x86_cpu_realizefn (enforce: \"Host doesn't support requested features\"; the destination QEMU does not start)",
    ),
    info(
        "cpu.libvirt-refuses-missing-feature",
        CpuFeatures,
        Blocker,
        "a feature the guest sees is one the destination cannot give, and libvirt manages a named-model or host-model guest",
        "libvirt src/qemu/qemu_process.c qemuProcessUpdateGuestCPU (check='partial': virCPUCompare against the destination's host-model CPU refuses, \"Host CPU does not provide required features\"); with check='full', src/cpu/cpu_x86.c virCPUx86UpdateLive (\"guest CPU doesn't match specification: missing features\")",
    ),
    info(
        "cpu.microcode-control-missing",
        CpuFeatures,
        Blocker,
        "a microcode-class control the guest writes (spec-ctrl, stibp, ssbd, flush-l1d...) is one the destination cannot give (no enforce, not a guest libvirt checks)",
        "Linux arch/x86/kvm/vmx/vmx.c vmx_set_msr and arch/x86/kvm/svm/svm.c svm_set_msr (guest writes to MSR_IA32_SPEC_CTRL fault without the CPUID bit)",
    ),
    info(
        "cpu.microcode-feature-missing",
        CpuFeatures,
        Warning,
        "a microcode-class enumeration bit the guest sees (md-clear, taa-no...) is one the destination cannot give (no enforce, not a guest libvirt checks)",
        "QEMU target/i386/cpu.c x86_cpu_filter_features (filtered without enforce; the guest keeps the mitigations it chose at boot)",
    ),
    info(
        "cpu.os-state-feature-missing",
        CpuFeatures,
        Warning,
        "an OS-state bit the guest sees (osxsave, ospke) is one the destination cannot give (no enforce, not a guest libvirt checks)",
        "Linux arch/x86/kvm/cpuid.c kvm_update_cpuid_runtime (OSXSAVE and OSPKE follow the guest's CR4, not the processor)",
    ),
    info(
        "cpu.non-migratable-left-out",
        CpuFeatures,
        Info,
        "host-model, or host-passthrough with migratable=on, leaves out a feature the source offers but that does not migrate (invtsc; xsaves for host-model)",
        "QEMU target/i386/cpu.c x86_cpu_get_supported_feature_word (with migratable=on, x86_cpu_get_migratable_flags leaves out unmigratable_flags); libvirt src/cpu_map/x86_features.xml (migratable='no')",
    ),
    info(
        "cpu.feature-gained",
        CpuFeatures,
        Warning,
        "the destination's QEMU, started with the same -cpu, would give the guest features it did not see at boot",
        "QEMU target/i386/kvm/kvm.c kvm_arch_init_vcpu (KVM_SET_CPUID2 from the destination's own -cpu expansion; target/i386/machine.c vmstate_x86_cpu carries no CPUID)",
    ),
    info(
        "cpu.non-migratable-feature",
        CpuFeatures,
        Info,
        "a named-model guest asks by name for a feature libvirt marks migratable='no' other than invtsc (xsaves)",
        "libvirt src/cpu_map/x86_features.xml (migratable='no'); QEMU migrates it (target/i386/cpu.c builtin_x86_defs model versions carry xsaves)",
    ),
    info(
        "cpu.invtsc-without-tsc-frequency",
        CpuFeatures,
        Blocker,
        "the guest sees invtsc and has no fixed tsc-frequency",
        "QEMU target/i386/kvm/kvm.c kvm_arch_init_vcpu (invtsc_mig_blocker, \"State blocked by non-migratable CPU device (invtsc flag)\", unless tsc-frequency is set)",
    ),
    info(
        "abi.vcpu-count",
        CpuFeatures,
        Blocker,
        "the two definitions differ in their vCPU count",
        "libvirt src/conf/domain_conf.c virDomainDefVcpuCheckAbiStability; QEMU migration/savevm.c qemu_loadvm_section_start_full (a cpu section with no vCPU to receive it)",
    ),
    info(
        "abi.vcpu-topology",
        CpuFeatures,
        Blocker,
        "the two definitions differ in vCPU topology (sockets, dies, clusters, cores, threads, maxcpus)",
        "libvirt src/conf/cpu_conf.c virCPUDefIsEqual (sockets, dies, cores, threads)",
    ),
    info(
        "abi.cpu-model",
        CpuFeatures,
        Blocker,
        "the two definitions differ in CPU mode, model or feature lists",
        "libvirt src/conf/cpu_conf.c virCPUDefIsEqual; QEMU target/i386/machine.c vmstate_x86_cpu (CPUID is not in the migration stream, so QEMU itself lets the change through)",
    ),
    info(
        "abi.cpu-property",
        CpuFeatures,
        Blocker,
        "the two definitions differ in a -cpu property that is not a feature (phys-bits, migratable...)",
        "libvirt src/conf/cpu_conf.c virCPUDefIsEqual; QEMU target/i386/cpu.c x86_cpu_properties (guest-visible CPU properties)",
    ),
    // TSC.
    info(
        "tsc.scaled",
        Tsc,
        Info,
        "the guest has a fixed tsc-frequency or sees an invariant TSC, the frequencies differ beyond the tolerance, and the destination scales TSC",
        "Linux arch/x86/kvm/x86.c kvm_set_tsc_khz (KVM_CAP_TSC_CONTROL: the guest keeps its rate)",
    ),
    info(
        "tsc.frequency-mismatch",
        Tsc,
        Blocker,
        "the guest has a fixed tsc-frequency or sees an invariant TSC, and the destination's TSC differs by more than the tolerance (250 ppm) without TSC scaling",
        "QEMU target/i386/kvm/kvm.c kvm_arch_set_tsc_khz (freq_within_bounds, 250 ppm) and kvm_arch_init_vcpu (the vCPU fails to start); Linux arch/x86/kvm/x86.c kvm_set_tsc_khz (tsc_tolerance_ppm)",
    ),
    info(
        "tsc.frequency-unknown",
        Tsc,
        Warning,
        "the guest has a fixed tsc-frequency or sees an invariant TSC, but a TSC frequency is unknown, so the tolerance cannot be checked",
        "QEMU target/i386/kvm/kvm.c kvm_arch_set_tsc_khz (the check the profile cannot answer)",
    ),
    info(
        "tsc.frequency-differs",
        Tsc,
        Info,
        "the guest has no fixed tsc-frequency and no invariant TSC, and the TSC frequencies differ beyond the tolerance",
        "QEMU target/i386/kvm/kvm.c kvm_arch_put_registers (a TSC frequency mismatch does not abort migration unless tsc-frequency was set)",
    ),
    info(
        "abi.tsc-frequency",
        Tsc,
        Blocker,
        "the two definitions differ in their fixed TSC frequency",
        "QEMU target/i386/machine.c cpu_post_load (\"Mismatch between user-specified TSC frequency and migrated TSC frequency\"); libvirt src/conf/domain_conf.c virDomainTimerDefCheckABIStability",
    ),
    // Kernel and KVM.
    info(
        "kvm.msr-of-seen-feature-unknown",
        KernelKvm,
        Blocker,
        "an MSR in the source KVM's KVM_GET_MSR_INDEX_LIST that belongs to a feature the guest sees (spec-ctrl, tsc-deadline, xsaves...) is missing from the destination KVM's list",
        "QEMU target/i386/kvm/kvm.c kvm_get_supported_msrs and kvm_put_msrs (has_msr_*: the MSR is not restored, under a guest that uses it); Linux arch/x86/kvm/x86.c kvm_init_msr_lists",
    ),
    info(
        "kvm.msr-unknown-on-destination",
        KernelKvm,
        Warning,
        "MSRs in the source KVM's KVM_GET_MSR_INDEX_LIST are missing from the destination KVM's list, none of them of a feature the guest sees (a kernel upgrade, nested=0)",
        "QEMU target/i386/kvm/kvm.c kvm_get_supported_msrs and kvm_put_msrs (has_msr_*: what the destination's KVM does not list is not restored, and the migration goes on); Linux arch/x86/kvm/x86.c kvm_init_msr_lists",
    ),
    info(
        "kvm.msr-list-unknown",
        KernelKvm,
        Info,
        "the source has a KVM MSR index list and the destination's profile has none",
        "Linux arch/x86/kvm/x86.c kvm_arch_dev_ioctl (KVM_GET_MSR_INDEX_LIST, the list the profile lacks)",
    ),
    info(
        "kvm.kernel-newer-to-older",
        KernelKvm,
        Warning,
        "the destination's kernel release is older than the source's",
        "policy: older to newer kernel is the tested direction; KVM has no version check (state a newer KVM saves may be unknown to an older one)",
    ),
    info(
        "kvm.kernel-older-to-newer",
        KernelKvm,
        Info,
        "the destination's kernel release is newer than the source's",
        "policy: the direction, as evidence (KVM has no version check)",
    ),
    // QEMU and machine type.
    info(
        "qemu.model-missing",
        QemuMachine,
        Blocker,
        "the destination's QEMU release does not have the guest's named CPU model",
        "QEMU target/i386/cpu.c builtin_x86_defs and x86_cpu_class_by_name (a model the release does not define cannot start)",
    ),
    info(
        "qemu.model-maybe-missing",
        QemuMachine,
        Warning,
        "the destination's QEMU release lies where it is not known whether it has the named model",
        "QEMU target/i386/cpu.c builtin_x86_defs (the release history of the model table)",
    ),
    info(
        "qemu.version-unknown",
        QemuMachine,
        Info,
        "the destination's QEMU release is unknown, so its named models are not checked",
        "QEMU target/i386/cpu.c builtin_x86_defs (the check the profile cannot answer)",
    ),
    info(
        "qemu.model-missing-on-source",
        QemuMachine,
        Warning,
        "the source's QEMU release does not have the guest's named model, so no such guest can be running there",
        "QEMU target/i386/cpu.c builtin_x86_defs and x86_cpu_class_by_name",
    ),
    info(
        "qemu.machine-missing",
        QemuMachine,
        Blocker,
        "the destination's QEMU does not list the guest's machine type (after alias or default resolution)",
        "QEMU system/vl.c select_machine (an unknown -machine type refuses to start); docs/devel/migration/compatibility.rst (the same machine type on both sides)",
    ),
    info(
        "qemu.machine-missing-on-source",
        QemuMachine,
        Warning,
        "the source's QEMU does not list the guest's machine type, so no such guest can be running there",
        "QEMU system/vl.c select_machine",
    ),
    info(
        "qemu.machine-alias-resolved",
        QemuMachine,
        Info,
        "the guest names a machine alias (q35, pc), resolved to the concrete type on the source",
        "QEMU hw/core/machine.c (MachineClass alias, query-machines); libvirt src/qemu/qemu_capabilities.c virQEMUCapsGetCanonicalMachine",
    ),
    info(
        "qemu.machine-alias-unresolved",
        QemuMachine,
        Warning,
        "the guest names what looks like a machine alias and the source's machine list is unknown",
        "libvirt src/qemu/qemu_capabilities.c virQEMUCapsGetCanonicalMachine (the resolution the profile cannot do)",
    ),
    info(
        "qemu.machine-default-resolved",
        QemuMachine,
        Info,
        "the guest names no machine type and the destination's QEMU has another default, or an unknown one: the source QEMU's default is resolved, then checked like a given one",
        "QEMU system/vl.c find_default_machine and select_machine (the MachineClass with is_default, which moves with each release)",
    ),
    info(
        "qemu.machine-resolves-differently",
        QemuMachine,
        Blocker,
        "the same QEMU command line (an alias, or no -machine) resolves to another machine type on the destination's QEMU",
        "QEMU migration/savevm.c configuration_post_load (\"Machine type received is '%s' and local is '%s'\"), after system/vl.c select_machine resolves the alias or default on each side",
    ),
    info(
        "qemu.machine-pin-needed",
        QemuMachine,
        Info,
        "as qemu.machine-resolves-differently, for a guest libvirt starts: libvirt writes the resolved type into the domain, so the destination gets it",
        "libvirt src/qemu/qemu_domain.c qemuDomainDefMachinePostParse (no type: the preferred one) and qemuDomainDefCanonicalizeMachine (an alias: virQEMUCapsGetCanonicalMachine); the domain keeps the concrete type",
    ),
    info(
        "qemu.machines-unknown",
        QemuMachine,
        Info,
        "the destination's QEMU machine types are unknown, so the guest's is not checked",
        "QEMU system/vl.c select_machine (the check the profile cannot answer)",
    ),
    info(
        "qemu.older-to-newer",
        QemuMachine,
        Info,
        "the guest's machine type goes from an older QEMU release to a newer one",
        "QEMU docs/devel/migration/compatibility.rst (older to newer with the same machine type; hw/core/machine.c hw_compat_X_Y)",
    ),
    info(
        "qemu.newer-to-older",
        QemuMachine,
        Warning,
        "the guest's machine type goes from a newer QEMU release to an older one",
        "QEMU docs/devel/migration/compatibility.rst (newer to older with the same machine type; hw/core/machine.c hw_compat_X_Y)",
    ),
    RuleInfo {
        id: "qemu.erratum",
        layer: QemuMachine,
        severity: Blocker,
        also: &[Info],
        doc: "a row of the errata table matches the QEMU the guest was started on, the destination QEMU and the machine type (info when its workaround property is set)",
        source: "QEMU hw/core/machine.c hw_compat_7_2 (x-pcie-err-unc-mask) and docs/devel/migration/compatibility.rst; rows in shared/data/qemu-errata.tsv",
    },
    info(
        "abi.machine-type",
        QemuMachine,
        Blocker,
        "the two definitions differ in machine type",
        "libvirt src/conf/domain_conf.c virDomainDefCheckABIStabilityFlags (machine type); QEMU docs/devel/migration/compatibility.rst",
    ),
    info(
        "abi.machine-property",
        QemuMachine,
        Blocker,
        "the two definitions differ in a -machine property",
        "QEMU docs/devel/migration/compatibility.rst (the hardware configuration must be the same on both sides)",
    ),
    // Devices.
    info(
        "devices.num-queues-follows-smp",
        Devices,
        Info,
        "a virtio-blk device without num-queues on a machine type of 5.2 or later, with more than one vCPU: its queue count follows -smp",
        "QEMU hw/virtio/virtio-blk-pci.c virtio_blk_pci_realize (VIRTIO_BLK_AUTO_NUM_QUEUES) and hw/core/machine.c hw_compat_5_1 (num-queues=1)",
    ),
    info(
        "vfio.no-migration-driver",
        Devices,
        Blocker,
        "a passed-through device is not bound to a VFIO variant driver with migration support",
        "QEMU hw/vfio/migration.c vfio_migration_realize (no VFIO_DEVICE_FEATURE_MIGRATION: a migration blocker); Linux drivers/vfio/pci/vfio_pci_core.c",
    ),
    info(
        "vfio.migration-unknown",
        Devices,
        Warning,
        "a passed-through device names no host device, or one the source profile does not list",
        "QEMU hw/vfio/migration.c vfio_migration_realize and docs/devel/migration/vfio.rst (the check the profile cannot answer)",
    ),
    info(
        "vfio.no-compatible-device",
        Devices,
        Blocker,
        "the destination has no function of the same vendor and device bound to a migration-capable driver",
        "QEMU hw/vfio/migration.c vfio_load_state (the destination's variant driver must take the source device's state)",
    ),
    info(
        "vfio.device-version-incompatible",
        Devices,
        Blocker,
        "the source device's version string is not accepted by the destination device (a table row refuses it, or differing versions with no row)",
        "policy: vendor device-version table (shared/data/vfio-device-versions.tsv); Linux has no generic compatibility attribute, the variant driver refuses foreign state when QEMU hw/vfio/migration.c vfio_load_state writes it",
    ),
    info(
        "vfio.device-version-unknown",
        Devices,
        Warning,
        "the source device reports no migration device version",
        "policy: vendor device-version table (shared/data/vfio-device-versions.tsv)",
    ),
    info(
        "vfio.mdev-type-missing",
        Devices,
        Blocker,
        "the guest's mdev type is offered by no device of the destination",
        "Linux drivers/vfio/mdev/mdev_sysfs.c (mdev_supported_types); libvirt src/util/virmdev.c",
    ),
    info(
        "vfio.mdev-no-free-instance",
        Devices,
        Blocker,
        "the destination offers the guest's mdev type but has no free instance",
        "Linux drivers/vfio/mdev/mdev_sysfs.c available_instances_show",
    ),
    info(
        "abi.memory-size",
        Devices,
        Blocker,
        "the two definitions differ in RAM size",
        "QEMU migration/ram.c parse_ramblock (\"Length mismatch\"); libvirt src/conf/domain_conf.c virDomainDefCheckABIStabilityFlags (max memory)",
    ),
    info(
        "abi.global-property",
        Devices,
        Blocker,
        "the two definitions differ in a -global DRIVER.PROP",
        "QEMU hw/core/qdev-properties.c qdev_prop_set_globals (a -global changes device defaults, as hw_compat_X_Y does)",
    ),
    info(
        "abi.device-missing",
        Devices,
        Blocker,
        "a device of the source definition has no counterpart in the destination definition",
        "QEMU migration/savevm.c qemu_loadvm_section_start_full (\"Unknown savevm section or instance\"); libvirt src/conf/domain_conf.c virDomainDefCheckABIStabilityFlags (device counts)",
    ),
    info(
        "abi.device-extra",
        Devices,
        Blocker,
        "a device is only in the destination definition",
        "libvirt src/conf/domain_conf.c virDomainDefCheckABIStabilityFlags (device counts); QEMU loads a stream without it and lets the new device through",
    ),
    info(
        "abi.device-type",
        Devices,
        Blocker,
        "paired devices differ in driver (model)",
        "libvirt src/conf/domain_conf.c virDomainNetDefCheckABIStability and virDomainControllerDefCheckABIStability (model)",
    ),
    info(
        "abi.device-address",
        Devices,
        Blocker,
        "paired devices sit at different bus addresses",
        "libvirt src/conf/domain_conf.c virDomainDeviceInfoCheckABIStability; QEMU migration/savevm.c qemu_loadvm_section_start_full (section instance ids follow the device path)",
    ),
    info(
        "abi.virtio-blk-num-queues",
        Devices,
        Blocker,
        "a virtio-blk device's effective queue count differs (num-queues, or -smp on machine types of 5.2 or later)",
        "QEMU hw/virtio/virtio-blk-pci.c virtio_blk_pci_realize and hw/core/machine.c hw_compat_5_1; docs/devel/migration/compatibility.rst (the num-queues example)",
    ),
    info(
        "abi.option-rom",
        Devices,
        Blocker,
        "paired devices differ in romfile or rombar",
        "QEMU hw/pci/pci.c pci_add_option_rom and migration/ram.c parse_ramblock (a ROM RAM block of another size, or a missing one)",
    ),
    info(
        "abi.device-property",
        Devices,
        Blocker,
        "paired devices differ in a guest-visible property (mac, serial, mq, vectors, disable-legacy...)",
        "libvirt src/conf/domain_conf.c virDomainNetDefCheckABIStability (MAC) and virDomainDiskDefCheckABIStability (serial)",
    ),
    // arm64.
    info(
        "arm64.midr-mismatch",
        Arm64,
        Blocker,
        "MIDR_EL1 differs for a host-passthrough or host-model guest and no operator group holds both processors",
        "Linux arch/arm64/kvm/sys_regs.c set_invariant_sys_reg (invariant before 6.15; from 6.15 writable only where the VMM enables KVM_CAP_ARM_WRITABLE_IMP_ID_REGS, which QEMU target/arm/kvm.c kvm_arch_init does not); QEMU target/arm/kvm.c write_list_to_kvmstate",
    ),
    info(
        "arm64.id-register-mismatch",
        Arm64,
        Blocker,
        "another ID register differs and the destination's KVM refuses the source's value: REVIDR_EL1 or AIDR_EL1, a register Linux 6.7 did not make writable, a destination before 6.7, or a source field above the destination's",
        "Linux arch/arm64/kvm/sys_regs.c set_id_reg (invariant before 6.7; from 6.7 arm64_check_features refuses a value above the destination's) and set_invariant_sys_reg; QEMU target/arm/kvm.c write_list_to_kvmstate (a refused write fails the incoming migration)",
    ),
    info(
        "arm64.id-register-lowered",
        Arm64,
        Warning,
        "a feature ID register Linux 6.7 made writable (ID_AA64PFR0, DFR0, ISAR0-2, MMFR0-2, ZFR0) differs, no field of the source's value is above the destination's, and the destination's KVM is 6.7 or later",
        "Linux arch/arm64/kvm/sys_regs.c set_id_reg and arm64_check_features (writable sanitised ID registers, 6.7: a safe lower value is accepted); QEMU target/arm/kvm.c write_list_to_kvmstate",
    ),
    info(
        "arm64.equivalence-group-used",
        Arm64,
        Info,
        "ID registers differ but both MIDR values are in one operator-kept equivalence group",
        "policy: arm_equivalence_groups (the operator judges processors close enough; KVM's own check would refuse)",
    ),
    info(
        "arm64.id-registers-unknown",
        Arm64,
        Warning,
        "a profile lacks MIDR_EL1, so the ID registers cannot be compared",
        "Linux arch/arm64/kvm/sys_regs.c (KVM_GET_ONE_REG of the ID registers the profile lacks)",
    ),
    // cpr-transfer.
    info(
        "cpr.other-host",
        Cpr,
        Blocker,
        "a cpr-transfer guest is to move to another host",
        "QEMU docs/devel/migration/CPR.rst (CPR modes move the guest to a new QEMU instance on the same host) and migration/cpr-transfer.c",
    ),
    info(
        "cpr.aux-ram-share-missing",
        Cpr,
        Blocker,
        "a cpr-transfer guest lacks -machine aux-ram-share=on",
        "QEMU system/physmem.c ram_block_add_cpr_blocker (\"aux-ram-share=on is required\")",
    ),
    info(
        "cpr.ram-not-shared",
        Cpr,
        Blocker,
        "a cpr-transfer guest has plain -m RAM, no memory backend",
        "QEMU system/physmem.c ram_block_add_cpr_blocker (\"share=on is required for memory-backend objects\")",
    ),
    info(
        "cpr.backend-not-shared",
        Cpr,
        Blocker,
        "a cpr-transfer guest's memory backend lacks share=on",
        "QEMU system/physmem.c ram_block_add_cpr_blocker (\"share=on is required for memory-backend objects\")",
    ),
    info(
        "cpr.epc-backend",
        Cpr,
        Blocker,
        "a cpr-transfer guest uses memory-backend-epc",
        "QEMU backends/hostmem-epc.c sgx_epc_backend_memory_alloc (every process opens a fresh /dev/sgx_vepc; no descriptor is handed to the new QEMU)",
    ),
    info(
        "cpr.qemu-too-old",
        Cpr,
        Blocker,
        "a side's QEMU release predates cpr-transfer (10.0)",
        "QEMU qapi/migration.json MigMode cpr-transfer (since 10.0)",
    ),
    info(
        "cpr.qemu-version-unknown",
        Cpr,
        Warning,
        "a side's QEMU release is unknown, so cpr-transfer support is not checked",
        "QEMU qapi/migration.json MigMode cpr-transfer (the check the profile cannot answer)",
    ),
];

/// The rule of an id, `None` for an id no rule has.
pub fn rule(id: &str) -> Option<&'static RuleInfo> {
    RULES.iter().find(|r| r.id == id)
}
