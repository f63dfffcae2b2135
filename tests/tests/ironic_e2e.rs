//! Our real agent binary (on the host, against a fake machine) driven by a real, unmodified
//! Ironic 39.0.0 from PyPI on loopback: lookup, token, auto-TLS, heartbeats, cleaning.

use agent_tests::agent::{free_port, AgentOptions, AgentProcess};
use agent_tests::ironic::{Ironic, IronicOptions, NodeSpec};
use serde_json::{json, Value};
use std::path::Path;
use std::time::{Duration, Instant};

const MAC: &str = "52:54:00:aa:bb:01";

/// A fake machine with one NIC (so lookup has a MAC) and no disks (so metadata erase has
/// nothing to do and automated cleaning can finish).
fn machine_with_nic(mac: &str) -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    let root = d.path();
    std::fs::create_dir_all(root.join("proc/sys/kernel")).unwrap();
    std::fs::write(root.join("proc/cmdline"), "").unwrap();
    std::fs::write(root.join("proc/sys/kernel/hostname"), "fake-node\n").unwrap();
    let nic = root.join("sys/class/net/eth0");
    std::fs::create_dir_all(&nic).unwrap();
    std::fs::write(nic.join("address"), format!("{mac}\n")).unwrap();
    std::fs::write(nic.join("carrier"), "1\n").unwrap();
    std::fs::write(nic.join("operstate"), "up\n").unwrap();
    std::fs::create_dir_all(root.join("sys/block")).unwrap();
    d
}

fn enroll(ironic: &Ironic, name: &str) -> String {
    ironic.enroll(&NodeSpec::new(name).port(MAC)).uuid
}

/// The scenario of most tests here: an Ironic, a node with our MAC made `manageable`, and
/// the agent on a fake machine looking itself up there.
struct E2e {
    ironic: Ironic,
    uuid: String,
    machine: tempfile::TempDir,
    agent: AgentProcess,
}

impl E2e {
    fn start(opts: IronicOptions, name: &str, agent_args: &[&str]) -> E2e {
        E2e::start_with_urls(opts, name, |ironic| ironic.url().to_string(), agent_args)
    }

    /// Like [`E2e::start`], the agent's `--api-url` made from the running Ironic.
    fn start_with_urls(
        opts: IronicOptions,
        name: &str,
        api_urls: impl FnOnce(&Ironic) -> String,
        agent_args: &[&str],
    ) -> E2e {
        let ironic = Ironic::start(opts);
        let uuid = enroll(&ironic, name);
        let machine = machine_with_nic(MAC);
        let agent = start_agent(machine.path(), &api_urls(&ironic), agent_args);
        E2e {
            ironic,
            uuid,
            machine,
            agent,
        }
    }

    /// Requests provision `target` (with `body`), waits (up to 240 s) for `state` and returns
    /// the node and the agent facts recorded on the way (see [`wait_recording`]).
    fn drive(&self, target: &str, body: Value, state: &str) -> (Value, Value) {
        self.ironic.provision(&self.uuid, target, body);
        wait_recording(
            &self.ironic,
            &self.agent,
            &self.uuid,
            state,
            Duration::from_secs(240),
        )
    }
}

fn start_agent(root: &Path, ironic_url: &str, extra: &[&str]) -> AgentProcess {
    let port = free_port();
    let mut args: Vec<String> = vec![
        "--api-url".into(),
        ironic_url.into(),
        "--advertise-port".into(),
        port.to_string(),
        "--lookup-interval".into(),
        "0.5".into(),
        "--debug".into(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    AgentProcess::start(
        root,
        AgentOptions {
            args,
            port: Some(port),
            no_wait: true,
            ..Default::default()
        },
    )
}

/// Waits for `state`, remembering the agent facts Ironic recorded along the way (it wipes them
/// when an operation ends).
fn wait_recording(
    ironic: &Ironic,
    agent: &AgentProcess,
    uuid: &str,
    state: &str,
    timeout: Duration,
) -> (Value, Value) {
    let t0 = Instant::now();
    let mut seen = json!({});
    loop {
        let node = ironic.get_node(uuid);
        let dii = &node["driver_internal_info"];
        for k in ["agent_url", "agent_version", "agent_verify_ca"] {
            if dii[k].is_string() {
                seen[k] = dii[k].clone();
            }
        }
        let current = node["provision_state"].as_str().unwrap_or("");
        if current == state && node["target_provision_state"].is_null() {
            return (node, seen);
        }
        if current.ends_with("failed") {
            panic!(
                "node went to {current}: {}\nagent log:\n{}",
                node["last_error"],
                agent.log_text()
            );
        }
        if t0.elapsed() > timeout {
            panic!(
                "node in {current} (target {}) after {timeout:?}, wanted {state}; last_error {}\nagent log:\n{}",
                node["target_provision_state"],
                node["last_error"],
                agent.log_text()
            );
        }
        std::thread::sleep(Duration::from_millis(300));
    }
}

#[test]
fn provide_with_ironic_defaults_uses_auto_tls() {
    let e = E2e::start(IronicOptions::default(), "e2e-tls", &[]);
    let (node, seen) = e.drive("provide", json!(null), "available");
    assert_eq!(node["provision_state"], "available");
    let url = seen["agent_url"]
        .as_str()
        .expect("Ironic recorded our callback URL");
    assert_eq!(
        url,
        format!("https://127.0.0.1:{}", e.agent.port),
        "auto-TLS callback"
    );
    assert_eq!(seen["agent_version"], env_version());
    // Ironic stored our certificate and verified our server against it for every command.
    let ca = seen["agent_verify_ca"]
        .as_str()
        .expect("Ironic recorded the certificate path");
    let pem = std::fs::read_to_string(ca).unwrap_or_default();
    let ours =
        std::fs::read_to_string(e.machine.path().join("run/ironic-agent/agent.crt")).unwrap();
    assert_eq!(
        pem, ours,
        "the stored certificate is the one the agent generated"
    );
    let log = e.agent.log_text();
    assert!(
        log.contains("auto-TLS: generated a self-signed certificate"),
        "{log}"
    );
    assert!(
        log.contains("clean.get_clean_steps") && log.contains("clean.execute_clean_step"),
        "{log}"
    );
}

fn env_version() -> &'static str {
    // The agent reports its crate version; the workspace shares one version.
    "0.1.0"
}

#[test]
fn provide_with_plain_http_when_ironic_allows_it() {
    let e = E2e::start(
        IronicOptions {
            require_tls: Some(false),
            ..Default::default()
        },
        "e2e-http",
        &["--enable-auto-tls", "false"],
    );
    let (_node, seen) = e.drive("provide", json!(null), "available");
    assert_eq!(
        seen["agent_url"],
        format!("http://127.0.0.1:{}", e.agent.port)
    );
    assert!(
        seen.get("agent_verify_ca").is_none(),
        "no certificate without TLS: {seen}"
    );
}

#[test]
fn fast_track_clean_provide_clean_with_one_agent() {
    let mut e = E2e::start(
        IronicOptions {
            fast_track: true,
            ..Default::default()
        },
        "e2e-fast",
        &[],
    );
    let steps = json!({"clean_steps": [{"interface": "deploy", "step": "erase_devices_metadata"}]});
    let (_n, seen1) = e.drive("clean", steps.clone(), "manageable");
    e.drive("provide", json!(null), "available");
    e.drive("manage", json!(null), "manageable");
    let (_n, seen2) = e.drive("clean", steps, "manageable");
    assert!(
        e.agent.try_wait().is_none(),
        "the same agent process did all of it"
    );
    assert_eq!(
        seen1["agent_url"], seen2["agent_url"],
        "callback URL stays the same for the agent's life"
    );
    // One process did it all. (Whether Ironic wiped the token in between depends on timing
    // even with fast-track; when it did, the agent looked itself up again.)
    let log = e.agent.log_text();
    let lookups = log.matches("lookup succeeded").count();
    let relookups = log.matches("looking up again").count();
    assert!(lookups >= 1 && relookups <= lookups, "{log}");
}

/// Without fast-track, Ironic wipes the token when an operation ends (it powers the node off;
/// with fake power our agent keeps running). The agent's next heartbeat is refused, it looks
/// itself up again when the next operation starts, adopts the new token, and carries on.
#[test]
fn token_wiped_between_operations_is_recovered_by_a_new_lookup() {
    let mut e = E2e::start(IronicOptions::default(), "e2e-relookup", &[]);
    let steps = json!({"clean_steps": [{"interface": "deploy", "step": "erase_devices_metadata"}]});
    e.drive("clean", steps, "manageable");
    e.drive("provide", json!(null), "available");
    assert!(
        e.agent.try_wait().is_none(),
        "one agent process for both operations"
    );
    let log = e.agent.log_text();
    assert!(
        log.contains("heartbeat refused") && log.contains("looking up again"),
        "{log}"
    );
    assert!(
        log.matches("adopted the agent token from lookup").count() >= 2,
        "{log}"
    );
}

#[test]
fn agent_waits_for_an_ironic_that_starts_later() {
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let m = machine_with_nic(MAC);
    let mut agent = start_agent(m.path(), &url, &[]);
    std::thread::sleep(Duration::from_secs(30));
    assert!(
        agent.try_wait().is_none(),
        "the agent keeps retrying while Ironic is down:\n{}",
        agent.log_text()
    );
    let log = agent.log_text();
    assert!(
        log.contains("Ironic API unreachable") && log.contains(&url),
        "one line per failure with the URL:\n{log}"
    );
    let ironic = Ironic::start(IronicOptions {
        port: Some(port),
        ..Default::default()
    });
    let uuid = enroll(&ironic, "e2e-late");
    ironic.provision(&uuid, "provide", json!(null));
    let (_node, seen) = wait_recording(
        &ironic,
        &agent,
        &uuid,
        "available",
        Duration::from_secs(300),
    );
    assert!(seen["agent_url"]
        .as_str()
        .unwrap_or("")
        .starts_with("https://127.0.0.1:"));
}

#[test]
fn lookup_gives_up_after_the_timeout_with_a_nonzero_exit() {
    let m = machine_with_nic(MAC);
    let url = format!("http://127.0.0.1:{}", free_port());
    let mut agent = start_agent(m.path(), &url, &["--lookup-timeout", "3"]);
    let st = agent
        .wait_exit(Duration::from_secs(30))
        .expect("agent exits after the lookup timeout");
    assert!(!st.success());
    assert!(
        agent.log_text().contains("lookup gave up after 3 s"),
        "{}",
        agent.log_text()
    );
}

/// A fake "Ironic" on loopback that answers garbage: a root document that is not JSON, then
/// 500s and a slow reply. The agent must keep retrying, log each failure with the URL and
/// status, and end with a clean non-zero exit when its lookup budget runs out.
#[test]
fn garbage_and_errors_from_the_api_never_crash_the_agent() {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for (n, conn) in listener.incoming().enumerate() {
            let Ok(mut conn) = conn else { continue };
            let mut first = String::new();
            let mut reader = BufReader::new(conn.try_clone().unwrap());
            let _ = reader.read_line(&mut first);
            loop {
                let mut l = String::new();
                if reader.read_line(&mut l).unwrap_or(0) == 0 || l == "\r\n" {
                    break;
                }
            }
            let reply = match n % 3 {
                0 => "HTTP/1.1 200 OK\r\nContent-Length: 9\r\nConnection: close\r\n\r\nnot json!".to_string(),
                1 => "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 4\r\nConnection: close\r\n\r\noops".to_string(),
                _ => {
                    std::thread::sleep(Duration::from_secs(3));
                    "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_string()
                }
            };
            let _ = conn.write_all(reply.as_bytes());
        }
    });
    let m = machine_with_nic(MAC);
    let url = format!("http://127.0.0.1:{port}");
    let mut agent = start_agent(
        m.path(),
        &url,
        &["--lookup-timeout", "8", "--http-request-timeout", "2"],
    );
    let st = agent
        .wait_exit(Duration::from_secs(60))
        .expect("the agent gives up after its lookup budget");
    assert_eq!(
        st.code(),
        Some(1),
        "a clean error exit, not a crash:\n{}",
        agent.log_text()
    );
    let log = agent.log_text();
    assert!(!log.contains("panicked"), "{log}");
    assert!(
        log.contains(&format!("{url}/ answered with an unusable body")),
        "{log}"
    );
    assert!(log.contains(&format!("{url}/ answered 500")), "{log}");
    assert!(log.contains("lookup gave up after 8 s"), "{log}");
}

#[test]
fn several_api_urls_rotate_to_the_one_that_answers() {
    let dead = format!("http://127.0.0.1:{}", free_port());
    let e = E2e::start_with_urls(
        IronicOptions {
            require_tls: Some(false),
            ..Default::default()
        },
        "e2e-rotate",
        |ironic| format!("{dead},{}", ironic.url()),
        &["--enable-auto-tls", "false"],
    );
    e.drive("provide", json!(null), "available");
    let log = e.agent.log_text();
    assert!(
        log.contains(&dead),
        "the dead URL was tried and named:\n{log}"
    );
    // After the first success the working URL is tried first: the dead one is named only
    // in the first failures, not in every heartbeat.
    let dead_mentions = log.matches(dead.as_str()).count();
    let heartbeats = log.matches("heartbeat accepted").count();
    assert!(
        heartbeats >= 1 && dead_mentions <= 3,
        "{dead_mentions} mentions of the dead URL:\n{log}"
    );
}

/// A clean of several steps moves at the conductor's pace: each finished step is reported
/// by a heartbeat at once (IPA waits at least 5 s), a heartbeat the conductor skipped while
/// it still held the node's lock is followed up, and the extra requests stay bounded —
/// with and without fast track.
#[test]
fn a_multi_step_clean_moves_at_the_conductors_pace() {
    let steps = json!({"clean_steps": [
        {"interface": "raid", "step": "delete_configuration"},
        {"interface": "deploy", "step": "erase_devices_metadata"},
        {"interface": "deploy", "step": "erase_devices_express"},
    ]});
    for fast_track in [true, false] {
        let e = E2e::start(
            IronicOptions {
                fast_track,
                ..Default::default()
            },
            &format!("e2e-pace-{fast_track}"),
            &[],
        );
        // The first operation includes the lookup; time the second one.
        e.drive("clean", steps.clone(), "manageable");
        let before = e.agent.log_text();
        let t0 = Instant::now();
        let (node, _) = e.drive("clean", steps.clone(), "manageable");
        let took = t0.elapsed();
        assert!(node["last_error"].is_null(), "{}", node["last_error"]);
        let log = e.agent.log_text()[before.len()..].to_string();
        let beats = log.matches("heartbeat accepted").count();
        let conflicts = log.matches("the node is locked").count();
        let steps_run = log.matches("execute_clean_step").count();
        eprintln!(
            "pace (fast track {fast_track}): 3-step clean in {took:.1?}, {beats} heartbeats, \
             {conflicts} 409s, {steps_run} step log lines"
        );
        // Each step ends in one forced heartbeat plus at most 4 follow-ups; the conductor
        // acting on it stops the follow-ups. Bound: 3 × 5 and a few regular ones.
        assert!(beats <= 3 * 5 + 3, "{beats} heartbeats for 3 steps\n{log}");
        assert!(conflicts <= 3 * 5, "409 storm: {conflicts}\n{log}");
        assert!(!log.contains("Clean step failed"), "a step failed\n{log}");
    }
}

/// Deploy moves at the conductor's pace too: a `custom-agent` deploy running the agent's
/// `erase_devices_metadata` deploy step reaches `active` with no failed command, no 409
/// storm and a bounded number of heartbeats — with and without fast track. Then servicing
/// with `raid.delete_configuration`, which IPA and we list as a service step but Ironic 39's
/// agent RAID interface sends as the (empty) current clean step: the node fails servicing
/// with our error saying why and what to use instead. (Servicing that works,
/// `raid.apply_configuration`, is driven in QEMU by `qemu_raid.rs`.)
#[test]
fn deploy_moves_at_the_conductors_pace_and_raid_service_limits_are_explained() {
    for fast_track in [true, false] {
        let e = E2e::start(
            IronicOptions {
                fast_track,
                automated_clean: false,
                ..Default::default()
            },
            &format!("e2e-deploy-{fast_track}"),
            &[],
        );
        // `custom-agent` runs just the requested steps through the agent (no image);
        // `noop` management because `fake` refuses the boot device `disk`.
        e.ironic.patch_node(
            &e.uuid,
            json!([
                {"op": "replace", "path": "/deploy_interface", "value": "custom-agent"},
                {"op": "replace", "path": "/management_interface", "value": "noop"}
            ]),
        );
        e.drive("provide", json!(null), "available");
        let before = e.agent.log_text();
        let t0 = Instant::now();
        let (node, _) = e.drive(
            "active",
            json!({"deploy_steps": [{"interface": "deploy", "step": "erase_devices_metadata",
                                     "args": {}, "priority": 90}]}),
            "active",
        );
        let took = t0.elapsed();
        assert!(node["last_error"].is_null(), "{}", node["last_error"]);
        let log = e.agent.log_text()[before.len()..].to_string();
        let beats = log.matches("heartbeat accepted").count();
        let conflicts = log.matches("the node is locked").count();
        eprintln!(
            "pace (fast track {fast_track}): deploy in {took:.1?}, {beats} heartbeats, \
             {conflicts} 409s"
        );
        assert!(
            log.contains("execute_deploy_step"),
            "the conductor never ran a deploy step through the agent\n{log}"
        );
        // One agent step plus the conductor's own: a forced heartbeat and at most four
        // follow-ups per step, and a few regular ones.
        assert!(beats <= 2 * 5 + 3, "{beats} heartbeats\n{log}");
        assert!(conflicts <= 2 * 5, "409 storm: {conflicts}\n{log}");
        assert!(!log.contains("command failed"), "a command failed\n{log}");

        e.ironic.provision(
            &e.uuid,
            "service",
            json!({"service_steps": [{"interface": "raid", "step": "delete_configuration"}]}),
        );
        let t0 = Instant::now();
        let node = loop {
            let n = e.ironic.get_node(&e.uuid);
            if n["provision_state"] == "service failed" || t0.elapsed() > Duration::from_secs(240) {
                break n;
            }
            std::thread::sleep(Duration::from_millis(300));
        };
        assert_eq!(node["provision_state"], "service failed", "{node}");
        let error = node["last_error"].as_str().unwrap_or_default();
        assert!(
            error.contains("empty step") && error.contains("raid.apply_configuration"),
            "servicing failed without our explanation: {error}"
        );
    }
}

/// Servicing moves at the conductor's pace too. `deploy.burnin_cpu` is a service step only
/// the agent offers, so Ironic 39 boots the ramdisk for it (`prepare_service`), asks the
/// agent for its service steps and runs it through the agent — unlike
/// `raid.apply_configuration`, which it runs as the conductor's own step without the agent.
/// An `active` node serviced with a 2 s burn-in (`driver_info`
/// `agent_burnin_cpu_timeout=2`, one worker) goes back to `active` with no failed command,
/// no 409 storm and a bounded number of heartbeats, and the time from the step's result to
/// `active` is printed — with and without fast track.
///
/// What the conductor logs (the same with and without fast track): the deploy's end wiped
/// the agent's token, so its first heartbeat in `service wait` is refused ("Invalid or
/// missing agent_token") and it looks itself up again (one lookup); then "Heartbeat from
/// node … in state service wait", "just booted to start service", `service.get_service_steps`,
/// "Executing {… 'burnin_cpu' …}", `service.execute_service_step` ("being executed
/// asynchronously, waiting for driver"); then, at the agent's heartbeat right after the
/// result, "returned service command success, moving to next step", "service complete",
/// `active`. Measured (2 cores, debug build, two runs): service 3.4-3.7 s with fast track,
/// 3.8-4.0 s without; 2 heartbeats, no 409; step result → `active` 0.3 s in the
/// conductor's log (0.5-0.6 s as polled by the test).
#[test]
fn service_with_an_agent_step_moves_at_the_conductors_pace() {
    for fast_track in [true, false] {
        let e = E2e::start(
            IronicOptions {
                fast_track,
                automated_clean: false,
                ..Default::default()
            },
            &format!("e2e-service-{fast_track}"),
            &[],
        );
        // As in the deploy test: `custom-agent` deploys with the agent's steps only, `noop`
        // management because `fake` refuses the boot device `disk`. Strings, as
        // `baremetal node set --driver-info` stores them.
        e.ironic.patch_node(
            &e.uuid,
            json!([
                {"op": "replace", "path": "/deploy_interface", "value": "custom-agent"},
                {"op": "replace", "path": "/management_interface", "value": "noop"},
                {"op": "add", "path": "/driver_info/agent_burnin_cpu_timeout", "value": "2"},
                {"op": "add", "path": "/driver_info/agent_burnin_cpu_cpu", "value": "1"}
            ]),
        );
        e.drive("provide", json!(null), "available");
        e.drive(
            "active",
            json!({"deploy_steps": [{"interface": "deploy", "step": "erase_devices_metadata",
                                     "args": {}, "priority": 90}]}),
            "active",
        );
        let before = e.agent.log_text();
        let conductor_before = e.ironic.log().len();
        let t0 = Instant::now();
        let (node, _) = e.drive(
            "service",
            json!({"service_steps": [{"interface": "deploy", "step": "burnin_cpu", "args": {}}]}),
            "active",
        );
        let took = t0.elapsed();
        let at_active = now_secs_of_day();
        assert!(node["last_error"].is_null(), "{}", node["last_error"]);
        let log = e.agent.log_text()[before.len()..].to_string();
        let conductor = e
            .ironic
            .log()
            .get(conductor_before..)
            .unwrap_or("")
            .to_string();
        let beats = log.matches("heartbeat accepted").count();
        let conflicts = log.matches("the node is locked").count();
        let lookups = log.matches("lookup succeeded").count();
        assert!(
            log.contains("get_service_steps") && log.contains("execute_service_step"),
            "the conductor did not run the service step through the agent\n{log}\n\
             conductor:\n{}",
            service_lines(&conductor)
        );
        let summary = log
            .lines()
            .find(|l| l.contains("burnin_cpu: cpu: 1 worker(s)"))
            .unwrap_or_else(|| panic!("no burn-in summary\n{log}"));
        let result = log
            .lines()
            .rfind(|l| l.contains("command succeeded") && l.contains("execute_service_step"))
            .unwrap_or_else(|| panic!("the service step did not succeed\n{log}"));
        let result_to_active = secs_of_day(result).map(|t| (at_active - t).rem_euclid(86_400.0));
        eprintln!(
            "service pace (fast track {fast_track}): service in {took:.1?}, step result → \
             active {:.1} s (polled every 0.3 s), {beats} heartbeats, {conflicts} 409s, \
             {lookups} lookups\n  {summary}",
            result_to_active.unwrap_or(f64::NAN)
        );
        eprintln!("conductor:\n{}", service_lines(&conductor));
        // One agent step: its forced heartbeat and at most four follow-ups, the ones that
        // bring the ramdisk in (steps listing) and a few regular ones.
        assert!(beats <= 2 * 5 + 3, "{beats} heartbeats\n{log}");
        assert!(conflicts <= 2 * 5, "409 storm: {conflicts}\n{log}");
        assert!(!log.contains("command failed"), "a command failed\n{log}");
        assert!(
            result_to_active.is_some_and(|s| s < 60.0),
            "{result_to_active:?} s from the step's result to active\n{log}"
        );
    }
}

/// Seconds since midnight (UTC) of a log line's RFC 3339 timestamp (the agent logs
/// `2026-12-01T14:13:25.123456Z  INFO ...`).
fn secs_of_day(line: &str) -> Option<f64> {
    let t = line.split_whitespace().next()?.split('T').nth(1)?;
    let t = t.trim_end_matches('Z');
    let mut f = t.split(':');
    let (h, m, s) = (f.next()?, f.next()?, f.next()?);
    Some(h.parse::<f64>().ok()? * 3600.0 + m.parse::<f64>().ok()? * 60.0 + s.parse::<f64>().ok()?)
}

fn now_secs_of_day() -> f64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    now.as_secs_f64().rem_euclid(86_400.0)
}

/// The conductor's INFO (and worse) lines about servicing and the agent (at most 40, the
/// last ones).
fn service_lines(conductor: &str) -> String {
    let lines: Vec<&str> = conductor
        .lines()
        .filter(|l| !l.contains(" DEBUG "))
        .filter(|l| {
            let l = l.to_ascii_lowercase();
            l.contains("servic") || l.contains("agent") || l.contains("error")
        })
        .collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}
