//! `GET /api/v1/vms`, `/api/v1/vms/{ref}` and `/api/v1/hosts/{id}/drain` through the real
//! `fleetcompat serve` on a real SQLite database: the demo fleet (real CPUID dumps) uploaded with
//! guests added to some hosts, each VM's targets checked against `POST /api/v1/precheck` of the
//! same definition (the pair verdicts).

mod common;

use std::collections::BTreeSet;

use serde_json::{Value, json};
use shared::testing::{command_line, domain_xml};
use shared::vms::{HostCapacity, HostGuests, Vm, VmDefinition, VmSource, VmState};

const TOKEN: &str = "drain-api-token";

fn get(url: &str) -> (u16, Value) {
    let mut resp = common::agent().get(url).call().expect("get");
    let status = resp.status().as_u16();
    let text = resp.body_mut().read_to_string().unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn post(url: &str, body: &Value, token: Option<&str>) -> (u16, Value) {
    // ureq's default limit of a body read to a string: 10 MB.
    let (status, text) = common::post_json(url, body, token, 10 << 20);
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn libvirt_vm(name: &str, cpu: &str, machine: &str, vcpus: u32, mib: u64) -> Vm {
    let uuid = format!(
        "5e1f0000-0000-4000-8000-{:012}",
        name.len() * 1000 + vcpus as usize
    );
    Vm {
        id: uuid.clone(),
        name: name.to_owned(),
        source: VmSource::Libvirt,
        state: VmState::Running,
        vcpus,
        memory_mib: mib,
        definition: VmDefinition::DomainXml(domain_xml(name, &uuid, cpu, machine, vcpus, mib)),
    }
}

fn text(vm: &Vm) -> &str {
    match &vm.definition {
        VmDefinition::DomainXml(t) | VmDefinition::CommandLine(t) => t,
    }
}

#[test]
fn drain_plans_and_vm_targets_equal_precheck_verdicts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut fleet = backend::demo::demo_profiles("2026-12-06T00:00:00Z").expect("demo fleet");
    fleet.truncate(60);
    let src_i = fleet
        .iter()
        .position(|p| p.cpu.vendor == "GenuineIntel" && p.kvm.is_some())
        .expect("an Intel host");
    let mut broken = libvirt_vm("broken", "Westmere-v1", "pc-q35-7.2", 1, 512);
    broken.definition = VmDefinition::DomainXml("<domain><vcpu>many</vcpu></domain>".into());
    let vms = vec![
        libvirt_vm("old-model", "Westmere-v1", "pc-q35-7.2", 2, 2048),
        libvirt_vm("sky", "Skylake-Server-v4", "pc-q35-7.2", 4, 4096),
        libvirt_vm("pass", "host-passthrough", "pc-q35-7.2", 2, 1024),
        libvirt_vm("icelake", "Icelake-Server-v6", "pc-q35-7.2", 2, 1024),
        Vm {
            id: "pid-4242".into(),
            name: "bare".into(),
            source: VmSource::Process,
            state: VmState::Running,
            vcpus: 2,
            memory_mib: 2048,
            definition: VmDefinition::CommandLine(command_line(
                "bare",
                "Westmere-v1",
                "pc-q35-7.2",
                2,
                2048,
            )),
        },
        broken,
    ];
    let src_id = fleet[src_i].host_id.clone();
    fleet[src_i].guests = Some(HostGuests {
        capacity: HostCapacity {
            logical_cpus: 32,
            memory_mib: 128 * 1024,
        },
        vms: vms.clone(),
    });
    // Every third other host has guest data, so free capacity is known there.
    for (i, p) in fleet.iter_mut().enumerate() {
        if i != src_i && i % 3 == 0 {
            p.guests = Some(HostGuests {
                capacity: HostCapacity {
                    logical_cpus: 64,
                    memory_mib: 256 * 1024,
                },
                vms: Vec::new(),
            });
        }
    }
    let server = common::start(&dir.path().join("fleet.db"), TOKEN);
    let api = format!("{}/api/v1", server.url);
    for p in &fleet {
        let (s, v) = post(
            &format!("{api}/hosts"),
            &serde_json::to_value(p).expect("json"),
            Some(TOKEN),
        );
        assert!(s == 200 || s == 201, "upload {}: {s} {v}", p.host_id);
    }

    // The listing: every VM, paged.
    let (s, list) = get(&format!("{api}/vms"));
    assert_eq!(s, 200, "{list}");
    assert_eq!(list["total"], vms.len());
    assert_eq!(
        list["n_hosts_with_guests"],
        1 + (0..60).filter(|i| *i != src_i && i % 3 == 0).count()
    );
    let (_, page) = get(&format!("{api}/vms?offset=2&limit=3"));
    assert_eq!(page["vms"].as_array().map(Vec::len), Some(3));
    assert_eq!(page["vms"][0]["ref"], list["vms"][2]["ref"]);
    let (s, e) = get(&format!("{api}/vms?limit=20000"));
    assert_eq!(s, 422, "{e}");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("10000"),
        "{e}"
    );

    // The plan, and each VM against precheck's verdicts for its definition.
    let (s, plan) = get(&format!("{api}/hosts/{src_id}/drain"));
    assert_eq!(s, 200, "{plan}");
    assert_eq!(plan["n_vms"], vms.len());
    assert_eq!(plan["n_unreadable"], 1);
    assert_eq!(plan["drainable"], false);
    assert_eq!(plan["vms"][0]["outcome"], "unreadable");
    let mut some_targets = 0;
    for vm in vms.iter().filter(|v| v.name != "broken") {
        let (s, pre) = post(
            &format!("{api}/precheck"),
            &json!({"from": src_id, "guest": text(vm)}),
            None,
        );
        assert_eq!(s, 200, "{pre}");
        let expected: BTreeSet<String> = pre["verdicts"]
            .as_array()
            .expect("verdicts")
            .iter()
            .filter(|v| v["compatible"] == true)
            .filter_map(|v| v["to"].as_str().map(str::to_owned))
            .collect();
        let vm_ref = format!("{src_id}:{}", vm.name);
        let (s, detail) = get(&format!("{api}/vms/{vm_ref}"));
        assert_eq!(s, 200, "{detail}");
        let got: BTreeSet<String> = detail["target_hosts"]
            .as_array()
            .expect("target_hosts")
            .iter()
            .filter_map(|h| h.as_str().map(str::to_owned))
            .collect();
        assert_eq!(got, expected, "{}", vm.name);
        let in_plan = plan["vms"]
            .as_array()
            .expect("vms")
            .iter()
            .find(|v| v["name"] == vm.name.as_str())
            .expect("vm in plan");
        assert_eq!(in_plan["n_target_hosts"], expected.len(), "{}", vm.name);
        if expected.is_empty() {
            assert_eq!(in_plan["outcome"], "stuck", "{in_plan}");
            assert!(!in_plan["blockers"].as_array().expect("blockers").is_empty());
        } else {
            some_targets += 1;
            assert!(in_plan["outcome"] != "stuck", "{in_plan}");
            if in_plan["outcome"] == "placed" {
                let h = in_plan["placement"].as_str().expect("placement");
                assert!(expected.contains(h), "{h} not a target of {}", vm.name);
            }
        }
        // Class names are for people.
        for c in in_plan["target_classes"].as_array().expect("classes") {
            let class = &plan["classes"][c.as_u64().expect("index") as usize];
            assert!(
                class["name"].as_str().is_some_and(|n| n.contains("host")),
                "{class}"
            );
        }
    }
    assert!(some_targets >= 2, "{plan}");
    // By UUID too.
    let (s, by_uuid) = get(&format!("{api}/vms/{src_id}:{}", vms[0].id));
    assert_eq!(s, 200);
    assert_eq!(by_uuid["vm"]["name"], "old-model");

    // Errors name what is wrong.
    let (s, e) = get(&format!("{api}/hosts/{src_id}/drain?cpu=host-passthrough"));
    assert_eq!(s, 400, "{e}");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("cpu="),
        "{e}"
    );
    let (s, _) = get(&format!("{api}/hosts/no-such-host/drain"));
    assert_eq!(s, 404);
    let (s, e) = get(&format!("{api}/vms/no-colon"));
    assert_eq!(s, 400, "{e}");
    let (s, e) = get(&format!("{api}/vms/{src_id}:nope"));
    assert_eq!(s, 404, "{e}");
    let (s, e) = get(&format!("{api}/hosts/{src_id}/drain?stack=vmware"));
    assert_eq!(s, 400, "{e}");
    // A host without guest data: an empty plan that says so.
    let other = fleet
        .iter()
        .find(|p| p.guests.is_none())
        .expect("a host without guests");
    let (s, empty) = get(&format!("{api}/hosts/{}/drain", other.host_id));
    assert_eq!(s, 200);
    assert_eq!(empty["has_guest_data"], false);
    assert_eq!(empty["n_vms"], 0);
    // The OpenAPI document has the routes.
    let (_, doc) = get(&format!("{api}/openapi.json"));
    for path in [
        "/api/v1/vms",
        "/api/v1/vms/{vm_ref}",
        "/api/v1/hosts/{host_id}/drain",
    ] {
        assert!(doc["paths"].get(path).is_some(), "{path}");
    }
}
