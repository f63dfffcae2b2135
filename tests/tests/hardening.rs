//! Hardening, black-box: the real agent binary on loopback, probed the way an unlucky operator
//! or an attacker would (issue "Hardening"). Each test is bounded in count and time.
//!
//! - a client that hangs up never wedges the agent (sync commands, `Expect: 100-continue`,
//!   half-close);
//! - idle, slow or unauthenticated connections cannot keep the conductor out, and cost no
//!   memory: headers and bodies have timeouts, the token is checked before a body is read;
//! - repeated failures towards Ironic back off (a stale token with the real Ironic);
//! - a panicking step in the release build is an IPA error, not a dead agent;
//! - the command history and the log bundle are bounded;
//! - tokens: the first `agent_token` wins, masks and short tokens are refused at start-up,
//!   refusals are logged (rate-limited);
//! - IPA's leniency (`ports` of any type) and HTTP/1.1 only.

use agent_tests::agent::{
    agent_binary, bare_machine, free_port, http, repo_root, send, write_script, AgentOptions,
    AgentProcess, Reply,
};
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const TOKEN: &str = "HardeningTestToken0123456789abcdefghijklmnop";

fn start(root: &Path, opts: AgentOptions) -> AgentProcess {
    AgentProcess::start(
        root,
        AgentOptions {
            token: Some(TOKEN.into()),
            ..opts
        },
    )
}

/// An agent on a bare fake machine, holding [`TOKEN`].
fn agent(opts: AgentOptions) -> (tempfile::TempDir, AgentProcess) {
    let m = bare_machine();
    let a = start(m.path(), opts);
    (m, a)
}

fn post_cmd(a: &AgentProcess, wait: bool, name: &str, params: Value) -> Reply {
    send(
        http()
            .post(a.url(&format!("/v1/commands/?wait={wait}&agent_token={TOKEN}")))
            .json(&json!({"name": name, "params": params})),
    )
}

fn list(a: &AgentProcess) -> Vec<Value> {
    let r = send(http().get(a.url(&format!("/v1/commands/?agent_token={TOKEN}"))));
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["commands"].as_array().cloned().unwrap_or_default()
}

/// Polls the command list until `pred` holds on it.
fn wait_list(a: &AgentProcess, what: &str, pred: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let t0 = Instant::now();
    loop {
        let l = list(a);
        if pred(&l) {
            return l;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "{what}: {l:?}\nagent log:\n{}",
            a.log_text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn raw(a: &AgentProcess) -> TcpStream {
    let s = TcpStream::connect(("127.0.0.1", a.port)).expect("connect to the agent");
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s
}

/// Reads until the peer closes or `timeout` passes; says which.
fn read_until_closed(s: &mut TcpStream, timeout: Duration) -> (String, bool) {
    s.set_read_timeout(Some(timeout)).unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return (String::from_utf8_lossy(&out).into_owned(), true),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                return (String::from_utf8_lossy(&out).into_owned(), true)
            }
            Err(_) => return (String::from_utf8_lossy(&out).into_owned(), false),
        }
    }
}

/// Reads one response head (up to the blank line).
fn read_head(s: &mut TcpStream) -> String {
    let mut out = Vec::new();
    let mut b = [0u8; 1];
    while !out.ends_with(b"\r\n\r\n") {
        match s.read(&mut b) {
            Ok(1) => out.push(b[0]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A fake machine whose own `sync` takes `secs` seconds: `standby.sync` is then a slow
/// synchronous command (the fake root runs only its own tools).
fn machine_with_slow_sync(secs: u32) -> tempfile::TempDir {
    let m = bare_machine();
    write_script(&m.path().join("usr/bin"), "sync", &format!("sleep {secs}"));
    m
}

fn sync_request(query: &str, extra_headers: &str) -> (String, String) {
    let body = r#"{"name": "standby.sync", "params": {}}"#.to_string();
    let head = format!(
        "POST /v1/commands/?{query} HTTP/1.1\r\nHost: agent\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{extra_headers}\r\n",
        body.len()
    );
    (head, body)
}

fn syncs(l: &[Value]) -> Vec<&Value> {
    l.iter().filter(|c| c["command_name"] == "sync").collect()
}

#[test]
fn a_client_that_hangs_up_never_wedges_the_agent() {
    let m = machine_with_slow_sync(2);
    let a = start(m.path(), AgentOptions::default());

    // The conductor's request times out while a synchronous command runs.
    let hung_up = http()
        .post(a.url(&format!("/v1/commands/?wait=true&agent_token={TOKEN}")))
        .timeout(Duration::from_millis(500))
        .json(&json!({"name": "standby.sync", "params": {}}))
        .send();
    assert!(hung_up.is_err(), "the client should have timed out");
    let l = wait_list(&a, "the sync must finish without its client", |l| {
        l.last().is_some_and(|c| c["command_status"] == "SUCCEEDED")
    });
    assert_eq!(syncs(&l).len(), 1);
    let next = post_cmd(&a, true, "standby.power_off", json!({}));
    assert_eq!(next.status, 200, "not busy: {}", next.text);
    assert_eq!(next.body["command_status"], "SUCCEEDED", "{}", next.text);

    // `Expect: 100-continue`, the body after the interim answer, then gone.
    let (head, body) = sync_request(
        &format!("wait=true&agent_token={TOKEN}"),
        "Expect: 100-continue\r\n",
    );
    let mut s = raw(&a);
    s.write_all(head.as_bytes()).unwrap();
    assert!(read_head(&mut s).starts_with("HTTP/1.1 100"));
    s.write_all(body.as_bytes()).unwrap();
    drop(s);
    wait_list(&a, "the second sync must be recorded and finish", |l| {
        syncs(l).len() == 2 && l.last().is_some_and(|c| c["command_status"] == "SUCCEEDED")
    });

    // `Expect: 100-continue`, then gone without a body: nothing is recorded.
    let mut s = raw(&a);
    s.write_all(head.as_bytes()).unwrap();
    assert!(read_head(&mut s).starts_with("HTTP/1.1 100"));
    drop(s);
    std::thread::sleep(Duration::from_millis(300));

    // A client that half-closes after its request still gets the answer.
    let (head, body) = sync_request(&format!("wait=true&agent_token={TOKEN}"), "");
    let mut s = raw(&a);
    s.write_all(format!("{head}{body}").as_bytes()).unwrap();
    s.shutdown(Shutdown::Write).unwrap();
    let (answer, closed) = read_until_closed(&mut s, Duration::from_secs(20));
    assert!(closed, "no end of answer: {answer}");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("SUCCEEDED"), "{answer}");
    let l = list(&a);
    assert_eq!(syncs(&l).len(), 3, "{l:?}");
    assert!(
        l.iter().all(|c| c["command_status"] == "SUCCEEDED"),
        "{l:?}"
    );
}

/// `/proc/<pid>/status` field in kB.
fn proc_status_kb(pid: u32, field: &str) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

#[test]
fn idle_connections_cannot_lock_the_conductor_out() {
    // A ramdisk-like open-file limit, small enough to exhaust quickly.
    let (_m, a) = agent(AgentOptions {
        open_files: Some((256, 256)),
        ..Default::default()
    });
    let mut idle = Vec::new();
    for i in 0..400 {
        let mut s = TcpStream::connect(("127.0.0.1", a.port)).expect("connect");
        if i % 2 == 0 {
            // Half of them start a request and never finish it.
            let _ = s.write_all(b"GET /v1/status HTTP/1.1\r\nHost: x\r\n");
        }
        idle.push(s);
    }
    std::thread::sleep(Duration::from_millis(500));
    for _ in 0..3 {
        let r = http()
            .get(a.url(&format!("/v1/commands/?agent_token={TOKEN}")))
            .timeout(Duration::from_secs(10))
            .send()
            .unwrap_or_else(|e| {
                panic!(
                    "the conductor did not get through: {e}\nagent log:\n{}",
                    a.log_text()
                )
            });
        assert_eq!(r.status().as_u16(), 200);
    }
    let mut closed = 0;
    for s in &mut idle {
        s.set_nonblocking(true).unwrap();
        let mut b = [0u8; 256];
        closed += usize::from(match s.read(&mut b) {
            Ok(n) => n == 0,
            Err(e) => e.kind() != std::io::ErrorKind::WouldBlock,
        });
    }
    println!("{closed} of 400 idle connections were closed to make room");
    assert!(closed > 0);
}

#[test]
fn the_open_file_limit_is_raised_at_start_up() {
    let (_m, a) = agent(AgentOptions {
        open_files: Some((256, 4096)),
        ..Default::default()
    });
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", a.pid())).unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap()
        .to_string();
    let soft: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(soft[3], "4096", "{line}");
}

#[test]
fn slow_headers_and_idle_keep_alive_connections_are_closed() {
    let (_m, a) = agent(AgentOptions::default());
    let t0 = Instant::now();
    let mut slow = raw(&a);
    slow.write_all(b"GET /v1/status HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    let mut kept = raw(&a);
    kept.write_all(b"GET /v1/status HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    assert!(read_head(&mut kept).starts_with("HTTP/1.1 200"));
    let kept_thread = std::thread::spawn(move || {
        let t = Instant::now();
        let (_, closed) = read_until_closed(&mut kept, Duration::from_secs(40));
        (closed, t.elapsed())
    });
    let (_, closed) = read_until_closed(&mut slow, Duration::from_secs(40));
    println!("slow headers: connection closed after {:?}", t0.elapsed());
    assert!(closed, "a request whose headers never end must be cut off");
    let (closed, after) = kept_thread.join().unwrap();
    println!("idle keep-alive: connection closed after {after:?}");
    assert!(closed, "an idle keep-alive connection must be closed");
}

#[test]
fn refused_requests_are_answered_before_their_body_and_closed() {
    let (_m, a) = agent(AgentOptions::default());
    let big = 31 * 1024 * 1024;
    for expect in ["", "Expect: 100-continue\r\n"] {
        let mut s = raw(&a);
        s.write_all(format!(
            "POST /v1/commands/?agent_token=wrong HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {big}\r\n{expect}\r\n"
        ).as_bytes())
        .unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let head = read_head(&mut s);
        assert!(head.starts_with("HTTP/1.1 401"), "{expect:?}: {head:?}");
        assert!(
            head.to_ascii_lowercase().contains("connection: close"),
            "{head}"
        );
        let (_, closed) = read_until_closed(&mut s, Duration::from_secs(10));
        assert!(closed, "the connection of a refused request is closed");
    }
    // Bodies pushed at the agent with a wrong token cost it no memory.
    let before = proc_status_kb(a.pid(), "VmHWM:");
    let senders: Vec<_> = (0..8)
        .map(|_| {
            let port = a.port;
            std::thread::spawn(move || {
                let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
                s.set_write_timeout(Some(Duration::from_secs(10))).unwrap();
                let chunk = vec![b' '; 1024 * 1024];
                let _ = s.write_all(format!(
                    "POST /v1/commands/?agent_token=wrong HTTP/1.1\r\nHost: x\r\nContent-Length: {big}\r\n\r\n"
                ).as_bytes());
                for _ in 0..31 {
                    if s.write_all(&chunk).is_err() {
                        break;
                    }
                }
            })
        })
        .collect();
    for t in senders {
        t.join().unwrap();
    }
    println!(
        "agent peak RSS: {before} kB before, {} kB after 8 refused 31 MiB bodies",
        proc_status_kb(a.pid(), "VmHWM:")
    );
    let log = a.log_text();
    let refusals: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("refused a request without a valid agent token"))
        .collect();
    assert!(!refusals.is_empty(), "refusals are logged:\n{log}");
    assert!(refusals[0].contains("127.0.0.1"), "{}", refusals[0]);
    assert!(refusals[0].contains("/v1/commands/"), "{}", refusals[0]);
    assert!(
        refusals.len() <= 2,
        "10 refusals within seconds are one or two log lines: {refusals:?}"
    );
}

#[test]
fn authenticated_bodies_are_bounded_but_fit_an_inline_config_drive() {
    let (_m, a) = agent(AgentOptions::default());
    // A 40 MiB config drive in the node, as `deploy.write_image` sends it: larger than the
    // old 32 MiB limit, within Ironic's 64 MiB.
    let configdrive = "H4sI".to_string() + &"A".repeat(40 * 1024 * 1024);
    let node = json!({"uuid": "n1", "instance_info": {"configdrive": configdrive}});
    let r = post_cmd(
        &a,
        true,
        "clean.get_clean_steps",
        json!({"node": node, "ports": []}),
    );
    assert_eq!(
        r.status,
        200,
        "{}",
        r.text.chars().take(300).collect::<String>()
    );
    assert_eq!(r.body["command_status"], "SUCCEEDED");
    drop(node);

    // Declared larger than the limit: refused at once.
    let mut s = raw(&a);
    s.write_all(
        format!(
        "POST /v1/commands/?agent_token={TOKEN} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
        200u64 * 1024 * 1024
    )
        .as_bytes(),
    )
    .unwrap();
    assert!(read_head(&mut s).starts_with("HTTP/1.1 413"));

    // A body that stops arriving is cut off.
    let t0 = Instant::now();
    let mut s = raw(&a);
    s.write_all(
        format!(
            "POST /v1/commands/?agent_token={TOKEN} HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{{\"name\":"
        )
        .as_bytes(),
    )
    .unwrap();
    s.set_read_timeout(Some(Duration::from_secs(40))).unwrap();
    let head = read_head(&mut s);
    println!("stalled body answered after {:?}", t0.elapsed());
    assert!(head.starts_with("HTTP/1.1 408"), "{head:?}");
    assert!(list(&a).len() == 1);
}

/// The release profile's panic strategy (profile `fault-injection` inherits `release`, minus
/// LTO to keep CI fast), with the test-only manager whose step panics (cargo feature
/// `fault-injection`), in a target directory of its own so that no product binary is ever
/// this one.
fn release_binary_with_fault_injection() -> PathBuf {
    let target = repo_root().join("target/fault-injection");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let t0 = Instant::now();
    let status = std::process::Command::new(cargo)
        .args([
            "build",
            "-q",
            "--profile",
            "fault-injection",
            "-p",
            "ironic-agent",
            "--features",
            "fault-injection",
            "--target-dir",
        ])
        .arg(&target)
        .current_dir(repo_root())
        .status()
        .expect("run cargo build --release");
    assert!(
        status.success(),
        "release build with fault-injection failed"
    );
    println!("release build (fault-injection): {:?}", t0.elapsed());
    target.join("fault-injection/ironic-agent")
}

#[test]
fn a_panicking_step_in_the_release_build_is_an_ipa_error() {
    let bin = release_binary_with_fault_injection();
    let m = bare_machine();
    let mut a = start(
        m.path(),
        AgentOptions {
            binary: Some(bin),
            ..Default::default()
        },
    );
    let step = json!({"interface": "deploy", "step": "inject_panic", "priority": 0});
    let r = post_cmd(
        &a,
        true,
        "clean.execute_clean_step",
        json!({"step": step, "node": {}, "ports": []}),
    );
    assert_eq!(r.status, 200, "{}\nagent log:\n{}", r.text, a.log_text());
    assert_eq!(r.body["command_status"], "FAILED", "{}", r.text);
    let err = &r.body["command_error"];
    assert_eq!(err["type"], "CleaningError", "{err}");
    assert!(
        err["details"].as_str().unwrap_or("").contains("panicked"),
        "{err}"
    );
    assert!(a.try_wait().is_none(), "the agent must survive the panic");
    assert!(a
        .log_text()
        .contains("fault injection: inject_panic was called"));
    let after = post_cmd(
        &a,
        true,
        "clean.get_clean_steps",
        json!({"node": {}, "ports": []}),
    );
    assert_eq!(after.body["command_status"], "SUCCEEDED", "{}", after.text);
}

#[test]
fn the_command_history_is_bounded() {
    let (_m, a) = agent(AgentOptions::default());
    let mut ids = Vec::new();
    for _ in 0..130 {
        let r = post_cmd(
            &a,
            false,
            "clean.get_clean_steps",
            json!({"node": {}, "ports": []}),
        );
        assert_eq!(r.body["command_status"], "SUCCEEDED");
        ids.push(r.body["id"].as_str().unwrap().to_string());
    }
    let l = list(&a);
    assert_eq!(l.len(), 100, "the newest 100 are kept");
    assert_eq!(l.last().unwrap()["id"], ids[129].as_str());
    assert_eq!(l[0]["id"], ids[30].as_str());
    let old = send(http().get(a.url(&format!("/v1/commands/{}?agent_token={TOKEN}", ids[0]))));
    assert_eq!(old.status, 404, "{}", old.text);
    assert_eq!(
        old.body["faultstring"],
        format!("Not found: Command Result with id {} not found.", ids[0])
    );
}

/// Files of a `log.collect_system_logs` answer: name → content.
fn bundle(answer: &Value) -> Vec<(String, Vec<u8>)> {
    use base64::Engine;
    let b64 = answer["command_result"]["system_logs"]
        .as_str()
        .expect("system_logs");
    let gz = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap();
    let mut ar = tar::Archive::new(flate2::read::GzDecoder::new(gz.as_slice()));
    ar.entries()
        .unwrap()
        .map(|e| {
            let mut e = e.unwrap();
            let mut content = Vec::new();
            e.read_to_end(&mut content).unwrap();
            (e.path().unwrap().display().to_string(), content)
        })
        .collect()
}

#[test]
fn the_log_bundle_keeps_the_tail_of_a_huge_log() {
    let m = bare_machine();
    let log = m.path().join("agent.log");
    // 48 MiB of hard-to-compress lines.
    let mut text = String::with_capacity(50 * 1024 * 1024);
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut n = 0u64;
    while text.len() < 48 * 1024 * 1024 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        text += &format!("line {n} {x:016x}{:016x}\n", x.rotate_left(23));
        n += 1;
    }
    let last_line = format!("line {}", n - 1);
    std::fs::write(&log, &text).unwrap();
    drop(text);
    let a = start(
        m.path(),
        AgentOptions {
            args: vec!["--log-file".into(), log.display().to_string()],
            ..Default::default()
        },
    );
    let t0 = Instant::now();
    let r = post_cmd(&a, true, "log.collect_system_logs", json!({}));
    println!(
        "log.collect_system_logs of a 48 MiB log: {:?}, {} bytes answered",
        t0.elapsed(),
        r.text.len()
    );
    assert_eq!(r.body["command_status"], "SUCCEEDED");
    let files = bundle(&r.body);
    let total: usize = files.iter().map(|(_, c)| c.len()).sum();
    assert!(total <= 16 * 1024 * 1024, "{total}");
    // The agent's first line rotates a log over 8 MiB (agent/src/logfile.rs): the huge one
    // is now the previous part, which the bundle carries as well.
    assert!(
        files.iter().any(|(n, _)| n == "ironic-agent.log"),
        "the current agent log is in the bundle"
    );
    let (_, agent_log) = files
        .iter()
        .find(|(n, _)| n == "ironic-agent.log.1")
        .expect("the previous part of the agent log is in the bundle");
    let agent_log = String::from_utf8_lossy(agent_log);
    assert!(
        agent_log.len() <= 4 * 1024 * 1024 + 200,
        "{}",
        agent_log.len()
    );
    assert!(
        agent_log.starts_with("[ironic-agent: ") && agent_log.contains("earlier bytes"),
        "{}",
        &agent_log[..200]
    );
    assert!(agent_log.contains(&last_line), "the end of the log is kept");
}

#[test]
fn the_first_agent_token_wins() {
    let (_m, a) = agent(AgentOptions::default());
    let get = |q: &str| send(http().get(a.url(&format!("/v1/commands/?{q}")))).status;
    assert_eq!(get(&format!("agent_token={TOKEN}&agent_token=bad")), 200);
    assert_eq!(get(&format!("agent_token=bad&agent_token={TOKEN}")), 401);
    assert_eq!(get(&format!("agent_token=&agent_token={TOKEN}")), 401);
}

/// Runs the agent expecting it to stop at once; returns its exit code and stderr.
fn start_up_failure(token: &str) -> (Option<i32>, String) {
    let m = bare_machine();
    let mut child = std::process::Command::new(agent_binary())
        .arg("--host-root")
        .arg(m.path())
        .args(["--listen-host", "127.0.0.1", "--listen-port"])
        .arg(free_port().to_string())
        .args(["--agent-token", token])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(10) {
        if let Some(st) = child.try_wait().unwrap() {
            let mut err = String::new();
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut err)
                .unwrap();
            return (st.code(), err);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    (None, "still running".into())
}

#[test]
fn masked_and_short_tokens_are_refused_at_start_up() {
    let (code, err) = start_up_failure("******");
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("ipa-agent-token") && err.contains("mask"),
        "{err}"
    );
    let (code, err) = start_up_failure("0123456789abcdef0123456789abcdef");
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("43 characters"), "{err}");
}

#[test]
fn ports_of_any_type_are_ignored_as_ipa_does() {
    let (_m, a) = agent(AgentOptions::default());
    for ports in [json!({}), json!("x"), json!(3)] {
        let r = post_cmd(
            &a,
            true,
            "clean.get_clean_steps",
            json!({"node": {}, "ports": ports}),
        );
        assert_eq!(r.status, 200, "{ports}: {}", r.text);
        assert_eq!(r.body["command_status"], "SUCCEEDED");
    }
}

#[test]
fn only_http_1_1_is_spoken() {
    let (_m, a) = agent(AgentOptions::default());
    let mut s = raw(&a);
    // The HTTP/2 connection preface and an empty SETTINGS frame (prior knowledge, RFC 9113).
    s.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00")
        .unwrap();
    let (answer, _) = read_until_closed(&mut s, Duration::from_secs(15));
    let is_h2_settings = answer.len() >= 9 && answer.as_bytes()[3] == 0x04;
    assert!(
        !is_h2_settings,
        "answered with an HTTP/2 SETTINGS frame: {answer:?}"
    );
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 "),
        "{answer:?}"
    );
}

/// A fake machine with one NIC, so that lookup has a MAC.
fn machine_with_nic(mac: &str) -> tempfile::TempDir {
    let m = bare_machine();
    let nic = m.path().join("sys/class/net/eth0");
    std::fs::create_dir_all(&nic).unwrap();
    std::fs::write(nic.join("address"), format!("{mac}\n")).unwrap();
    std::fs::create_dir_all(m.path().join("sys/block")).unwrap();
    m
}

fn count_lines(log: &str, needle: &str) -> usize {
    log.lines().filter(|l| l.contains(needle)).count()
}

/// The agent restarts (e.g. by the ramdisk's supervisor) while the real Ironic keeps the token
/// it handed out: lookup answers `******`, every heartbeat is refused. The agent keeps trying,
/// as IPA's heartbeater does, every 5-10 s, never in a loop.
#[test]
fn ironic_stale_token_is_retried_every_few_seconds_not_in_a_loop() {
    use agent_tests::ironic::{Ironic, IronicOptions};
    let mac = "52:54:00:aa:bb:31";
    let ironic = Ironic::start(IronicOptions::default());
    let node = ironic.create_node("stale-token", json!({}));
    let uuid = node["uuid"].as_str().unwrap().to_string();
    ironic.create_port(&uuid, mac);
    ironic.provision(&uuid, "manage", json!(null));
    ironic
        .wait_for_provision_state(&uuid, "manageable", Duration::from_secs(60))
        .unwrap();
    let steps = json!({"clean_steps": [{"interface": "deploy", "step": "erase_devices_metadata"}]});
    ironic.provision(&uuid, "clean", steps);

    let m = machine_with_nic(mac);
    let agent = |extra: &[&str]| {
        let port = free_port();
        let mut args: Vec<String> = vec![
            "--api-url".into(),
            ironic.url().into(),
            "--advertise-port".into(),
            port.to_string(),
            "--lookup-interval".into(),
            "0.5".into(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        AgentProcess::start(
            m.path(),
            AgentOptions {
                args,
                port: Some(port),
                no_wait: true,
                ..Default::default()
            },
        )
    };
    // The first agent takes the token and dies before its first heartbeat (auto-TLS cannot
    // put a host name in its certificate).
    let mut first = agent(&["--advertise-host", "not-an-ip"]);
    assert!(
        first.wait_exit(Duration::from_secs(120)).is_some(),
        "the first agent should stop after lookup:\n{}",
        first.log_text()
    );
    assert!(
        first.log_text().contains("adopted the agent token"),
        "{}",
        first.log_text()
    );

    // The second one only ever gets `******`.
    let second = agent(&[]);
    let t0 = Instant::now();
    while count_lines(&second.log_text(), "heartbeat refused") == 0 {
        assert!(
            t0.elapsed() < Duration::from_secs(120),
            "no refused heartbeat:\n{}",
            second.log_text()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_secs(20));
    let log = second.log_text();
    let lookups = count_lines(&log, "lookup succeeded");
    let refused = count_lines(&log, "heartbeat refused");
    println!("in ~20 s with a stale token: {lookups} lookups, {refused} refused heartbeats");
    assert!(lookups >= 2 && refused >= 2, "it keeps trying:\n{log}");
    assert!(
        lookups <= 6 && refused <= 6,
        "{lookups} lookups and {refused} refused heartbeats in ~20 s:\n{}",
        log.lines().rev().take(20).collect::<Vec<_>>().join("\n")
    );
}
