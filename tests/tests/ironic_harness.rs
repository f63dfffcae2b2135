//! Smoke test of the Ironic harness itself (no agent involved): a real Ironic 39.0.0 installs,
//! starts on loopback, enrolls a fake-hardware node with a port, moves it to `manageable`, and
//! leaves no process behind when dropped.

use std::time::{Duration, Instant};

use agent_tests::ironic::{
    processes_in_dir, processes_in_group, Ironic, IronicOptions, API_VERSION,
};
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

    let node = ironic.create_node("harness-smoke", json!({"extra": {"test": "smoke"}}));
    let uuid = node["uuid"].as_str().expect("node has a uuid").to_string();
    assert_eq!(node["provision_state"], "enroll");
    assert_eq!(node["driver"], "fake-hardware");
    assert_eq!(node["raid_interface"], "agent");
    assert_eq!(node["properties"]["cpu_arch"], "x86_64");
    assert_eq!(node["extra"]["test"], "smoke");

    let port = ironic.create_port(&uuid, "52:54:00:12:34:56");
    assert_eq!(port["address"], "52:54:00:12:34:56");
    assert_eq!(port["node_uuid"], uuid.as_str());

    ironic.set_target_raid_config(
        &uuid,
        json!({"logical_disks": [{"size_gb": "MAX", "raid_level": "1",
                                  "controller": "software", "is_root_volume": true}]}),
    );

    // fake-hardware needs no agent to verify: enroll -> verifying -> manageable.
    let t = Instant::now();
    ironic.provision(&uuid, "manage", json!(null));
    let node = ironic
        .wait_for_provision_state(&uuid, "manageable", Duration::from_secs(60))
        .unwrap_or_else(|e| panic!("{e}"));
    eprintln!("manage: {:.1?}", t.elapsed());
    assert_eq!(
        node["target_raid_config"]["logical_disks"][0]["raid_level"],
        "1"
    );

    // Lookup is refused outside wait states (restrict_lookup): the same answer the agent
    // gets while the node is manageable.
    let (status, _) = ironic.request_with_version(
        reqwest::Method::GET,
        "/v1/lookup?addresses=52:54:00:12:34:56",
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
