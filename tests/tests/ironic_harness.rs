//! Smoke test of the Ironic harness itself (no agent involved): a real Ironic 39.0.0 installs,
//! starts on loopback, enrolls a fake-hardware node with a port, moves it to `manageable`, and
//! leaves no process behind when dropped.

use std::time::Instant;

use agent_tests::ironic::{
    processes_in_dir, processes_in_group, Ironic, IronicOptions, NodeSpec, API_VERSION,
};
use agent_tests::qemu::DEFAULT_MAC;
use serde_json::json;

#[test]
fn ironic_starts_enrolls_and_stops_cleanly() {
    let started = Instant::now();
    let ironic = Ironic::start(IronicOptions::default());
    eprintln!("install + start: {:.1?}", started.elapsed());

    assert_eq!(
        ironic.api_max_version(),
        API_VERSION,
        "the harness is pinned to Ironic 39.0.0"
    );

    // Defaults must stay Ironic's own: require_tls is not written at all.
    let conf = std::fs::read_to_string(ironic.state_dir().join("ironic.conf"))
        .expect("reading ironic.conf");
    assert!(!conf.contains("require_tls"), "ironic.conf:\n{conf}");
    assert!(conf.contains(&format!(
        "endpoint_override = http://127.0.0.1:{}",
        ironic.port()
    )));

    // fake-hardware needs no agent to verify: enroll -> verifying -> manageable.
    let t = Instant::now();
    let enrolled = ironic.enroll(
        &NodeSpec::new("harness-smoke")
            .fields(json!({"extra": {"test": "smoke"}}))
            .port(DEFAULT_MAC)
            .target_raid_config(
                json!({"logical_disks": [{"size_gb": "MAX", "raid_level": "1",
                                  "controller": "software", "is_root_volume": true}]}),
            ),
    );
    eprintln!("enroll + manage: {:.1?}", t.elapsed());
    let (uuid, created) = (&enrolled.uuid, &enrolled.created);
    assert_eq!(created["provision_state"], "enroll");
    assert_eq!(created["driver"], "fake-hardware");
    assert_eq!(created["raid_interface"], "agent");
    assert_eq!(created["properties"]["cpu_arch"], "x86_64");
    assert_eq!(created["extra"]["test"], "smoke");

    assert_eq!(enrolled.ports.len(), 1);
    assert_eq!(enrolled.ports[0]["address"], DEFAULT_MAC);
    assert_eq!(enrolled.ports[0]["node_uuid"], uuid.as_str());

    let node = &enrolled.node;
    assert_eq!(node["provision_state"], "manageable");
    assert_eq!(
        node["target_raid_config"]["logical_disks"][0]["raid_level"],
        "1"
    );

    // Lookup is refused outside wait states (restrict_lookup): the same answer the agent
    // gets while the node is manageable.
    let (status, _) = ironic.request_with_version(
        reqwest::Method::GET,
        &format!("/v1/lookup?addresses={DEFAULT_MAC}"),
        Some("1.62"),
        None,
    );
    assert_eq!(status, 404);

    let state_dir = ironic.state_dir().to_path_buf();
    let pgid = ironic.pgid();
    // The cotyledon master and its API/conductor worker (plus start.sh's watcher, which
    // stops Ironic should this test process die without dropping it).
    let running = processes_in_group(pgid);
    for title in ["ironic: master process", "ironic: ServiceWrapper worker"] {
        assert!(
            running.iter().any(|(_, cmd)| cmd.starts_with(title)),
            "no '{title}' in process group {pgid}: {running:?}"
        );
    }
    assert!(
        !processes_in_dir(&state_dir).is_empty(),
        "Ironic's processes run in its state dir"
    );

    let t = Instant::now();
    drop(ironic);
    eprintln!("stop: {:.1?}", t.elapsed());
    assert_eq!(
        processes_in_group(pgid),
        vec![],
        "Ironic processes left behind"
    );
    assert_eq!(
        processes_in_dir(&state_dir),
        vec![],
        "Ironic processes left behind"
    );
    assert!(!state_dir.exists(), "state dir not removed");
}
