//! Black-box conformance: the real agent binary on loopback, driven over HTTP the way the
//! Ironic conductor drives IPA: IPA's API (`ironic_python_agent/api/app.py: Application`),
//! the conductor's client (`ironic/drivers/modules/agent_client.py: AgentClient`) and step
//! handling (`ironic/drivers/modules/agent_base.py: AgentBaseMixin`).

use agent_tests::agent::{
    bare_machine, http, send, write_script, AgentOptions, AgentProcess, Reply,
};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const TOKEN: &str = "Xb1tokentokentokentokentokentokentokentok12";

fn agent_with_token() -> (tempfile::TempDir, AgentProcess) {
    let m = bare_machine();
    let a = AgentProcess::start(
        m.path(),
        AgentOptions {
            token: Some(TOKEN.into()),
            ..Default::default()
        },
    );
    (m, a)
}

fn post(a: &AgentProcess, query: &str, body: Value) -> Reply {
    send(
        http()
            .post(a.url(&format!("/v1/commands/?{query}")))
            .json(&body),
    )
}

fn post_cmd(a: &AgentProcess, wait: bool, name: &str, params: Value) -> Reply {
    post(
        a,
        &format!("wait={wait}&agent_token={TOKEN}"),
        json!({"name": name, "params": params}),
    )
}

fn list(a: &AgentProcess) -> Vec<Value> {
    let r = send(http().get(a.url(&format!("/v1/commands/?agent_token={TOKEN}"))));
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["commands"]
        .as_array()
        .expect("commands list")
        .clone()
}

/// Every non-2xx answer carries a string faultstring (the conductor dereferences it).
fn assert_fault(r: &Reply, status: u16, faultstring: &str) {
    assert_eq!(r.status, status, "{}", r.text);
    assert_eq!(
        r.body["faultcode"],
        if status >= 500 { "Server" } else { "Client" },
        "{}",
        r.text
    );
    let fs = r.body["faultstring"]
        .as_str()
        .unwrap_or_else(|| panic!("no string faultstring: {}", r.text));
    assert!(
        fs.starts_with(faultstring),
        "faultstring {fs:?} does not start with {faultstring:?}"
    );
}

fn assert_result_shape(v: &Value) {
    let keys: Vec<&String> = v.as_object().expect("result object").keys().collect();
    assert_eq!(
        keys,
        [
            "id",
            "command_name",
            "command_status",
            "command_error",
            "command_result"
        ]
    );
}

#[test]
fn static_documents_and_status_need_no_token() {
    let (_m, a) = agent_with_token();
    let root = send(http().get(a.url("/")));
    assert_eq!(root.status, 200);
    assert_eq!(root.body["name"], "OpenStack Ironic Python Agent API");
    assert_eq!(root.body["default_version"]["id"], "v1");
    assert_eq!(root.body["versions"][0]["links"][0]["href"], a.url("/v1"));
    for path in ["/v1/", "/v1"] {
        let v1 = send(http().get(a.url(path)));
        assert_eq!(v1.status, 200, "{path}");
        assert_eq!(
            v1.body["media_types"][0]["type"],
            "application/vnd.openstack.ironic-python-agent.v1+json"
        );
        assert_eq!(v1.body["commands"][1]["href"], a.url("/commands"));
    }
    for path in ["/v1/status", "/status"] {
        let s = send(http().get(a.url(path)));
        assert_eq!(s.status, 200);
        assert!(s.body["started_at"].as_f64().unwrap() > 1.7e9);
        assert!(s.body["version"].is_string());
        assert_eq!(s.content_type.as_deref(), Some("application/json"));
    }
}

#[test]
fn token_is_required_on_command_routes() {
    let (_m, a) = agent_with_token();
    let body = json!({"name": "standby.sync", "params": {}});
    for q in [
        "",
        "agent_token=",
        "agent_token=wrong",
        "agent_token=Xb1tokentokentokentokentokentokentokentok1X",
    ] {
        assert_fault(
            &send(http().get(a.url(&format!("/v1/commands/?{q}")))),
            401,
            "401 Unauthorized: Token invalid.",
        );
        assert_fault(
            &send(http().get(a.url(&format!("/v1/commands/abc?{q}")))),
            401,
            "401 Unauthorized",
        );
        assert_fault(
            &post(&a, &format!("wait=true&{q}"), body.clone()),
            401,
            "401 Unauthorized",
        );
    }
    // Token checked before the body: a bad token with a bad body is still 401.
    let r = send(
        http()
            .post(a.url("/v1/commands/?agent_token=nope"))
            .body("{not json"),
    );
    assert_fault(&r, 401, "401 Unauthorized");
    // The token travels only in the query string, not in a header.
    let r = send(
        http()
            .get(a.url("/v1/commands/"))
            .header("X-Agent-Token", TOKEN),
    );
    assert_eq!(r.status, 401);
    assert_eq!(list(&a).len(), 0);
}

#[test]
fn an_agent_without_a_token_refuses_every_command() {
    let m = bare_machine();
    let a = AgentProcess::start(m.path(), AgentOptions::default());
    for q in ["", "agent_token=", "agent_token=anything"] {
        assert_fault(
            &send(http().get(a.url(&format!("/v1/commands/?{q}")))),
            401,
            "401 Unauthorized",
        );
    }
    assert_eq!(send(http().get(a.url("/v1/status"))).status, 200);
}

#[test]
fn get_clean_steps_is_synchronous_and_shaped_like_ipa() {
    let (_m, a) = agent_with_token();
    let r = post_cmd(
        &a,
        true,
        "clean.get_clean_steps",
        json!({"node": {"uuid": "n1"}, "ports": []}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_result_shape(&r.body);
    assert_eq!(r.body["command_name"], "get_clean_steps");
    assert_eq!(r.body["command_status"], "SUCCEEDED");
    let res = &r.body["command_result"];
    let generic = res["clean_steps"]["GenericHardwareManager"]
        .as_array()
        .expect("generic steps");
    let find = |name: &str| generic.iter().find(|s| s["step"] == name).cloned();
    let create = find("create_configuration").expect("raid.create_configuration is advertised");
    assert_eq!(
        create,
        json!({"step": "create_configuration", "priority": 0, "interface": "raid", "reboot_requested": false, "abortable": true})
    );
    assert_eq!(find("erase_devices_metadata").unwrap()["priority"], 99);
    // Automated cleaning erases tenant data with Ironic's defaults (IPA's priorities).
    assert_eq!(
        find("erase_devices"),
        Some(
            json!({"step": "erase_devices", "priority": 10, "interface": "deploy", "reboot_requested": false, "abortable": true})
        )
    );
    assert_eq!(find("erase_devices_express").unwrap()["priority"], 0);
    assert_eq!(find("erase_pstore").unwrap()["priority"], 0);
    assert_eq!(
        res["hardware_manager_version"]["generic_hardware_manager"],
        "1.2"
    );
    // The same through wait=false: a sync command is finished anyway.
    let r = post_cmd(
        &a,
        false,
        "deploy.get_deploy_steps",
        json!({"node": {}, "ports": []}),
    );
    assert_eq!(r.body["command_status"], "SUCCEEDED");
    let apply = r.body["command_result"]["deploy_steps"]["GenericHardwareManager"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["step"] == "apply_configuration")
        .cloned()
        .expect("apply_configuration deploy step");
    assert_eq!(apply["argsinfo"]["raid_config"]["required"], true);
    assert!(
        apply.get("abortable").is_none(),
        "deploy steps carry no abortable key"
    );
    let r = post_cmd(
        &a,
        true,
        "service.get_service_steps",
        json!({"node": {}, "ports": []}),
    );
    assert!(r.body["command_result"]["service_steps"].is_object());
}

#[test]
fn bad_names_params_and_json_are_rejected_with_ipa_errors() {
    let (_m, a) = agent_with_token();
    assert_fault(
        &post_cmd(&a, true, "nodot", json!({})),
        400,
        "Invalid command: Command name must be of the form <extension>.<name>",
    );
    assert_fault(
        &post_cmd(&a, true, "bogus.thing", json!({})),
        404,
        "Not found: Extension with id bogus not found.",
    );
    assert_fault(
        &post_cmd(&a, true, "clean.bogus", json!({})),
        400,
        "Invalid command: Unknown command: bogus",
    );
    assert_fault(
        &post_cmd(&a, true, "clean.execute_clean_step", json!({"node": {}})),
        400,
        "Invalid command parameters",
    );
    assert_fault(
        &post_cmd(
            &a,
            true,
            "clean.execute_clean_step",
            json!({"step": {"interface": "raid"}}),
        ),
        400,
        "Invalid command parameters",
    );
    assert_fault(
        &post_cmd(&a, true, "clean.get_clean_steps", json!({"node": "x"})),
        400,
        "Invalid command parameters",
    );
    assert_fault(
        &post_cmd(&a, true, "standby.sync", json!({"unexpected": 1})),
        400,
        "Invalid command parameters",
    );
    let q = format!("wait=true&agent_token={TOKEN}");
    assert_fault(
        &post(&a, &q, json!({"name": "standby.sync"})),
        400,
        "400 Bad Request: Missing or invalid name or params",
    );
    assert_fault(
        &post(&a, &q, json!({"name": 3, "params": {}})),
        400,
        "400 Bad Request: Missing or invalid name or params",
    );
    assert_fault(
        &post(&a, &q, json!({"name": "standby.sync", "params": []})),
        400,
        "400 Bad Request: Missing or invalid name or params",
    );
    let r = send(
        http()
            .post(a.url(&format!("/v1/commands/?{q}")))
            .body("{\"name\": "),
    );
    assert_fault(&r, 400, "400 Bad Request: Failed to decode JSON object");
    // None of these were recorded, and listing still works.
    assert!(list(&a).is_empty());
}

#[test]
fn routes_with_and_without_v1_and_trailing_slash() {
    let (_m, a) = agent_with_token();
    for path in ["/v1/commands/", "/v1/commands", "/commands/", "/commands"] {
        let r = send(http().get(a.url(&format!("{path}?agent_token={TOKEN}"))));
        assert_eq!(r.status, 200, "{path}: {}", r.text);
        let r = send(
            http()
                .post(a.url(&format!("{path}?wait=true&agent_token={TOKEN}")))
                .json(
                    &json!({"name": "clean.get_clean_steps", "params": {"node": {}, "ports": []}}),
                ),
        );
        assert_eq!(r.body["command_status"], "SUCCEEDED", "{path}");
    }
    assert_eq!(list(&a).len(), 4);
    assert_fault(
        &send(http().get(a.url("/v1/status/"))),
        404,
        "404 Not Found",
    );
    assert_fault(
        &send(http().get(a.url("/v1/nothing"))),
        404,
        "404 Not Found",
    );
    let id = list(&a)[0]["id"].as_str().unwrap().to_string();
    assert_fault(
        &send(http().get(a.url(&format!("/v1/commands/{id}/?agent_token={TOKEN}")))),
        404,
        "404 Not Found",
    );
    let r = send(http().put(a.url("/v1/commands/")));
    assert_fault(&r, 405, "405 Method Not Allowed");
    assert!(
        r.allow.as_deref().unwrap_or("").contains("POST"),
        "Allow header: {:?}",
        r.allow
    );
    assert_fault(
        &send(http().post(a.url("/v1/status"))),
        405,
        "405 Method Not Allowed",
    );
    let r = send(http().get(a.url(&format!("/v1/commands/{id}?agent_token={TOKEN}"))));
    assert_eq!(r.body["id"], id.as_str());
    let r = send(http().get(a.url(&format!("/v1/commands/no-such-id?agent_token={TOKEN}"))));
    assert_fault(
        &r,
        404,
        "Not found: Command Result with id no-such-id not found.",
    );
}

/// A slow `sync` keeps `standby.power_off` (async) running long enough to observe
/// RUNNING, busy and wait=true. The fake root guarantees nothing is really powered off.
fn agent_with_slow_sync(secs: u32) -> (tempfile::TempDir, AgentProcess) {
    let m = bare_machine();
    // The fake machine's own tools: on a fake root the agent runs programs only from there.
    write_script(&m.path().join("usr/bin"), "sync", &format!("sleep {secs}"));
    let a = AgentProcess::start(
        m.path(),
        AgentOptions {
            token: Some(TOKEN.into()),
            ..Default::default()
        },
    );
    (m, a)
}

#[test]
fn async_commands_run_in_the_background_and_the_agent_is_busy_meanwhile() {
    let (_m, a) = agent_with_slow_sync(3);
    let t0 = Instant::now();
    let r = post_cmd(&a, false, "standby.power_off", json!({}));
    assert!(
        t0.elapsed() < Duration::from_secs(2),
        "wait=false must return at once"
    );
    assert_eq!(r.body["command_status"], "RUNNING", "{}", r.text);
    assert_eq!(r.body["command_name"], "power_off");
    assert!(r.body["command_result"].is_null() && r.body["command_error"].is_null());
    let id = r.body["id"].as_str().unwrap().to_string();

    let busy = post_cmd(
        &a,
        true,
        "clean.get_clean_steps",
        json!({"node": {}, "ports": []}),
    );
    assert_fault(&busy, 409, "Agent is busy: executing command power_off");
    assert_eq!(list(&a).last().unwrap()["command_status"], "RUNNING");

    let done = send(http().get(a.url(&format!("/v1/commands/{id}?wait=true&agent_token={TOKEN}"))));
    assert_eq!(done.body["command_status"], "SUCCEEDED", "{}", done.text);
    assert!(t0.elapsed() >= Duration::from_secs(3));
    let after = post_cmd(
        &a,
        true,
        "clean.get_clean_steps",
        json!({"node": {}, "ports": []}),
    );
    assert_eq!(after.body["command_status"], "SUCCEEDED");
    let names: Vec<Value> = list(&a).iter().map(|c| c["command_name"].clone()).collect();
    assert_eq!(
        names,
        [json!("power_off"), json!("get_clean_steps")],
        "oldest first, busy refusal not recorded"
    );
}

#[test]
fn wait_true_on_post_blocks_until_an_async_command_ends() {
    let (_m, a) = agent_with_slow_sync(2);
    let t0 = Instant::now();
    let r = post_cmd(&a, true, "standby.power_off", json!({}));
    assert_eq!(r.body["command_status"], "SUCCEEDED", "{}", r.text);
    assert!(t0.elapsed() >= Duration::from_secs(2));
}

#[test]
fn execute_step_for_a_missing_step_explains_what_is_available() {
    let (_m, a) = agent_with_token();
    let step = json!({"interface": "raid", "step": "make_it_fast", "priority": 0});
    let r = post_cmd(
        &a,
        false,
        "clean.execute_clean_step",
        json!({"step": step, "node": {}, "ports": [], "clean_version": null}),
    );
    assert_eq!(r.status, 200);
    let id = r.body["id"].as_str().unwrap();
    let done = send(http().get(a.url(&format!("/v1/commands/{id}?wait=true&agent_token={TOKEN}"))));
    assert_eq!(done.body["command_status"], "FAILED");
    assert_eq!(done.body["command_name"], "execute_clean_step");
    let err = &done.body["command_error"];
    assert_eq!(err["type"], "HardwareManagerMethodNotFound");
    assert_eq!(err["code"], 500);
    let details = err["details"].as_str().unwrap();
    assert!(
        details.starts_with("Could not find method: make_it_fast."),
        "{details}"
    );
    assert!(
        details.contains("raid.create_configuration"),
        "lists available steps: {details}"
    );
    assert!(
        details.contains("GenericHardwareManager: loaded"),
        "{details}"
    );
    assert!(
        details.contains("ProliantHardwareManager: not loaded"),
        "names declined managers: {details}"
    );
    // A failure never poisons the list.
    assert_eq!(list(&a).len(), 1);
}

#[test]
fn version_mismatch_is_reported_as_ipa_does() {
    let (_m, a) = agent_with_token();
    let step = json!({"interface": "deploy", "step": "erase_devices_metadata", "priority": 99});
    let r = post_cmd(
        &a,
        false,
        "clean.execute_clean_step",
        json!({"step": step, "node": {}, "ports": [], "clean_version": {"generic_hardware_manager": "0.9"}}),
    );
    let id = r.body["id"].as_str().unwrap();
    let done = send(http().get(a.url(&format!("/v1/commands/{id}?wait=true&agent_token={TOKEN}"))));
    assert_eq!(
        done.body["command_status"], "CLEAN_VERSION_MISMATCH",
        "{}",
        done.text
    );
    assert_eq!(done.body["command_error"]["type"], "VersionMismatch");
    assert_eq!(done.body["command_error"]["code"], 409);
    assert!(done.body["command_result"].is_null());
    assert!(done.body["command_error"]["details"]
        .as_str()
        .unwrap()
        .contains("versions used by ironic"));
}

#[test]
fn system_logs_are_a_base64_tarball() {
    use base64::Engine;
    use std::io::Read;
    let (m, a) = agent_with_token();
    std::fs::write(
        m.path().join("proc/mdstat"),
        "Personalities : [raid1]\nunused devices: <none>\n",
    )
    .unwrap();
    let r = post_cmd(&a, true, "log.collect_system_logs", json!({}));
    assert_eq!(r.body["command_status"], "SUCCEEDED", "{}", r.text);
    let b64 = r.body["command_result"]["system_logs"].as_str().unwrap();
    let gz = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .expect("standard base64");
    let mut ar = tar::Archive::new(flate2::read::GzDecoder::new(gz.as_slice()));
    let mut names = vec![];
    let mut mdstat = String::new();
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        let name = e.path().unwrap().display().to_string();
        if name == "mdstat" {
            e.read_to_string(&mut mdstat).unwrap();
        }
        names.push(name);
    }
    assert!(names.contains(&"agent".to_string()), "{names:?}");
    assert!(
        mdstat.contains("raid1"),
        "mdstat read under the host root: {names:?}"
    );
}

#[test]
fn lockdown_stops_the_api() {
    let (_m, a) = agent_with_token();
    let r = post_cmd(&a, true, "system.lockdown", json!({}));
    assert_eq!(r.body["command_status"], "SUCCEEDED");
    assert!(r.body["command_result"].is_null());
    let t0 = Instant::now();
    loop {
        let ok = http()
            .get(a.url("/v1/status"))
            .timeout(Duration::from_secs(2))
            .send()
            .is_ok();
        if !ok {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "API still serving after lockdown"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn steps_subcommand_explains_managers() {
    let m = bare_machine();
    let out = std::process::Command::new(agent_tests::agent::agent_binary())
        .args(["steps", "--host-root"])
        .arg(m.path())
        .env("PATH", "/usr/bin:/bin")
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("GenericHardwareManager: loaded (GENERIC"),
        "{text}"
    );
    assert!(
        text.contains("ProliantHardwareManager: not loaded"),
        "{text}"
    );
    assert!(
        text.contains("raid.create_configuration  priority 0  (GenericHardwareManager)"),
        "{text}"
    );
    assert!(
        text.contains("deploy.erase_devices_metadata  priority 99"),
        "{text}"
    );
}

#[test]
fn bad_configuration_is_a_clear_startup_error() {
    let m = bare_machine();
    std::fs::write(m.path().join("proc/cmdline"), "ipa-listen-port=notaport").unwrap();
    let out = std::process::Command::new(agent_tests::agent::agent_binary())
        .arg("--host-root")
        .arg(m.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("ipa-listen-port") && err.contains("kernel command line"),
        "{err}"
    );
}

/// A fake machine with an HPE Smart Array controller: the `ssacli` simulator installed as the
/// machine's own `/usr/sbin/ssacli`, its state file under the root.
fn agent_with_smart_array() -> (tempfile::TempDir, AgentProcess) {
    let m = bare_machine();
    let sbin = m.path().join("usr/sbin");
    std::fs::create_dir_all(&sbin).unwrap();
    std::fs::copy(env!("CARGO_BIN_EXE_ssacli"), sbin.join("ssacli")).unwrap();
    let state = m.path().join("var/lib/ssacli-sim/state.json");
    let a = AgentProcess::start(
        m.path(),
        AgentOptions {
            token: Some(TOKEN.into()),
            env: vec![("SSACLI_SIM_STATE".into(), state.display().to_string())],
            ..Default::default()
        },
    );
    (m, a)
}

fn run_step(a: &AgentProcess, step: Value, node: Value) -> Value {
    let r = post_cmd(
        a,
        false,
        "clean.execute_clean_step",
        json!({"step": step, "node": node, "ports": []}),
    );
    assert_eq!(r.body["command_status"], "RUNNING", "{}", r.text);
    let id = r.body["id"].as_str().unwrap();
    send(http().get(a.url(&format!("/v1/commands/{id}?wait=true&agent_token={TOKEN}")))).body
}

#[test]
fn a_vendor_manager_wins_dedup_and_software_raid_falls_through_to_generic() {
    let (_m, a) = agent_with_smart_array();
    let r = post_cmd(
        &a,
        true,
        "clean.get_clean_steps",
        json!({"node": {}, "ports": []}),
    );
    let steps = &r.body["command_result"]["clean_steps"];
    let names = |mgr: &str| -> Vec<String> {
        steps[mgr].as_array().map_or(vec![], |v| {
            v.iter()
                .map(|s| {
                    format!(
                        "{}.{}",
                        s["interface"].as_str().unwrap(),
                        s["step"].as_str().unwrap()
                    )
                })
                .collect()
        })
    };
    let hpe = names("ProliantHardwareManager");
    assert!(
        hpe.contains(&"raid.create_configuration".to_string()),
        "{steps}"
    );
    assert!(
        hpe.contains(&"raid.delete_configuration".to_string()),
        "{steps}"
    );
    let generic = names("GenericHardwareManager");
    assert!(
        generic.contains(&"deploy.erase_devices_metadata".to_string()),
        "{steps}"
    );
    assert!(
        !generic.iter().any(|s| s.ends_with("create_configuration")),
        "deduplicated away: {steps}"
    );
    assert_eq!(
        r.body["command_result"]["hardware_manager_version"]["ProliantHardwareManager"],
        "3"
    );

    // A hardware RAID config runs on the (simulated) controller.
    let hw = json!({"logical_disks": [{"size_gb": 50, "raid_level": "1", "is_root_volume": true}]});
    let step = json!({"interface": "raid", "step": "create_configuration", "priority": 0});
    let done = run_step(
        &a,
        step.clone(),
        json!({"uuid": "n1", "target_raid_config": hw}),
    );
    assert_eq!(done["command_status"], "SUCCEEDED", "{done}");
    let ld = &done["command_result"]["clean_result"]["logical_disks"][0];
    assert!(
        ld["root_device_hint"]["wwn"]
            .as_str()
            .unwrap()
            .starts_with("0x600508b1001c"),
        "{done}"
    );
    assert_eq!(done["command_result"]["clean_step"], step);

    // A software RAID config is declined by the vendor manager and reaches the generic one,
    // which (on this diskless fake machine) refuses it with its own error.
    let sw =
        json!({"logical_disks": [{"size_gb": "MAX", "raid_level": "1", "controller": "software"}]});
    let done = run_step(&a, step, json!({"uuid": "n1", "target_raid_config": sw}));
    assert_eq!(done["command_status"], "FAILED", "{done}");
    assert_eq!(done["command_error"]["type"], "SoftwareRAIDError", "{done}");
    assert!(
        done["command_error"]["details"]
            .as_str()
            .unwrap()
            .contains("needs at least 1 disk, gets 0"),
        "{done}"
    );
    assert!(
        a.log_text().contains("manager declined the method"),
        "{}",
        a.log_text()
    );
}

#[test]
fn steps_subcommand_shows_a_loaded_vendor_manager() {
    let (m, a) = agent_with_smart_array();
    drop(a);
    let out = std::process::Command::new(agent_tests::agent::agent_binary())
        .args(["steps", "--host-root"])
        .arg(m.path())
        .env(
            "SSACLI_SIM_STATE",
            m.path().join("var/lib/ssacli-sim/state.json"),
        )
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("ProliantHardwareManager: loaded (SERVICE_PROVIDER, version 3)"),
        "{text}"
    );
    assert!(
        text.contains("raid.create_configuration  priority 0  (ProliantHardwareManager)"),
        "{text}"
    );
}

#[test]
fn deploy_commands_are_served_with_ipas_shapes() {
    let (_m, a) = agent_with_token();
    // Before any write_image: an empty dict, synchronously (IPA logs a warning).
    let r = post_cmd(&a, false, "standby.get_partition_uuids", json!({}));
    assert_eq!(r.status, 200, "{}", r.text);
    assert_result_shape(&r.body);
    assert_eq!(r.body["command_status"], "SUCCEEDED");
    assert_eq!(r.body["command_result"], json!({}));
    // install_bootloader: async; unknown parameters are refused before anything runs.
    let r = post_cmd(
        &a,
        false,
        "image.install_bootloader",
        json!({"root_uuid": null, "bogus": 1}),
    );
    assert_fault(&r, 400, "Invalid command parameters");
    // write_image is a deploy step; bad image_info is IPA's InvalidCommandParamsError.
    let steps = post_cmd(
        &a,
        true,
        "deploy.get_deploy_steps",
        json!({"node": {}, "ports": []}),
    );
    assert!(
        steps.body["command_result"]["deploy_steps"]["GenericHardwareManager"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["step"] == "write_image"
                && s["interface"] == "deploy"
                && s["priority"] == 0),
        "{}",
        steps.text
    );
    let r = post_cmd(
        &a,
        true,
        "deploy.execute_deploy_step",
        json!({"step": {"interface": "deploy", "step": "write_image",
                        "args": {"image_info": {"id": "disk.img"}, "configdrive": null}},
               "node": {}, "ports": []}),
    );
    assert_eq!(r.body["command_status"], "FAILED", "{}", r.text);
    assert_eq!(r.body["command_error"]["type"], "InvalidCommandParamsError");
    assert_eq!(
        r.body["command_error"]["details"],
        "Image is missing 'urls' field."
    );
    // run_image (the `agent` power interface's reboot): async, no parameters; on a fake
    // machine root it syncs and reboots nothing.
    let r = post_cmd(&a, true, "standby.run_image", json!({"bogus": 1}));
    assert_fault(&r, 400, "Invalid command parameters");
    let r = post_cmd(&a, true, "standby.run_image", json!({}));
    assert_eq!(r.body["command_status"], "SUCCEEDED", "{}", r.text);
    assert_eq!(r.body["command_name"], "run_image");
}
