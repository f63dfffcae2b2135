//! The agent inside a [`Vm`], over its forwarded port and real HTTP, as the conductor talks
//! to it: the status document, commands (with the token of [`VmOptions::agent_token`]) and
//! the few commands tests read the guest with.
//!
//! [`VmOptions::agent_token`]: super::VmOptions::agent_token

use std::collections::HashMap;
use std::io::Read;
use std::time::{Duration, Instant};

use reqwest::blocking::Client;
use serde_json::{json, Value};

use super::Vm;
use crate::support::poll;

/// How long one command may run (a RAID step under TCG takes minutes).
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(300);

fn client(timeout: Duration) -> Client {
    Client::builder()
        .timeout(timeout)
        .build()
        .expect("an HTTP client")
}

impl Vm {
    /// Polls `GET /v1/status` until it answers 200 (the port forward accepts connections
    /// before the guest listens) and returns the status document. Panics, with the serial
    /// log, when QEMU exits first or after `timeout`.
    pub fn wait_api(&self, timeout: Duration) -> Value {
        let url = format!("{}/v1/status", self.agent_url());
        let http = client(Duration::from_secs(10));
        let status = poll(timeout, Duration::from_millis(250), || {
            assert!(
                self.is_running(),
                "{}: QEMU exited before the agent served its API\n{}",
                self.opts.name,
                self.serial_tail(60)
            );
            let r = http.get(&url).send().ok()?;
            r.status()
                .is_success()
                .then(|| r.json().unwrap_or(Value::Null))
        })
        .unwrap_or_else(|| {
            panic!(
                "{}: the agent API at {url} did not answer within {timeout:?}\n{}",
                self.opts.name,
                self.serial_tail(60)
            )
        });
        eprintln!(
            "qemu harness: {} agent API up {:.1?} after QEMU start",
            self.opts.name,
            self.elapsed()
        );
        status
    }

    fn token(&self) -> &str {
        self.opts.agent_token.as_deref().unwrap_or_else(|| {
            panic!(
                "{}: commands need VmOptions::agent_token (with Ironic, the conductor holds \
                 the token)",
                self.opts.name
            )
        })
    }

    /// Runs an agent command: `POST /v1/commands/` (not waiting), then polls
    /// `GET /v1/commands/<id>?wait=true` until it is no longer RUNNING (at most
    /// [`COMMAND_TIMEOUT`]). Returns the command result document; panics on an HTTP error.
    pub fn command(&self, name: &str, params: Value) -> Value {
        self.command_within(name, params, COMMAND_TIMEOUT)
    }

    /// [`Vm::command`] for a command that may run up to `limit` (an image deploy).
    pub fn command_within(&self, name: &str, params: Value, limit: Duration) -> Value {
        let http = client(COMMAND_TIMEOUT);
        let token = self.token();
        let url = format!(
            "{}/v1/commands/?wait=false&agent_token={token}",
            self.agent_url()
        );
        let resp = http
            .post(&url)
            .json(&json!({"name": name, "params": params}))
            .send()
            .unwrap_or_else(|e| panic!("POST {url}: {e}\n{}", self.serial_tail(40)));
        let status = resp.status();
        let mut doc: Value = resp.json().expect("a JSON command result");
        assert!(status.is_success(), "{name}: HTTP {status}: {doc}");
        let id = doc["id"]
            .as_str()
            .unwrap_or_else(|| panic!("{name}: no command id in {doc}"))
            .to_string();
        let deadline = Instant::now() + limit;
        while doc["command_status"] == "RUNNING" {
            assert!(
                Instant::now() < deadline,
                "{name} still RUNNING after {limit:?}\n{}",
                self.serial_tail(60)
            );
            let url = format!(
                "{}/v1/commands/{id}?wait=true&agent_token={token}",
                self.agent_url()
            );
            match http.get(&url).send() {
                Ok(r) => {
                    assert!(r.status().is_success(), "GET {url}: HTTP {}", r.status());
                    doc = r.json().expect("a JSON command result");
                }
                Err(e) => {
                    eprintln!("GET {url}: {e}; retrying");
                    std::thread::sleep(Duration::from_secs(1));
                }
            }
        }
        doc
    }

    /// `clean.execute_clean_step` of `interface.step` with `node` (no args, priority 0).
    pub fn clean_step(&self, interface: &str, step: &str, node: &Value) -> Value {
        let t = Instant::now();
        let r = self.command(
            "clean.execute_clean_step",
            json!({
                "step": {"interface": interface, "step": step, "args": {}, "priority": 0},
                "node": node,
                "ports": [],
                "clean_version": null,
            }),
        );
        eprintln!(
            "qemu harness: {interface}.{step} -> {} in {:.1?}",
            r["command_status"],
            t.elapsed()
        );
        r
    }

    /// `poll.get_hardware_info`, which must succeed: the inventory.
    pub fn hardware_info(&self) -> Value {
        let r = self.command("poll.get_hardware_info", json!({}));
        assert_eq!(r["command_status"], "SUCCEEDED", "get_hardware_info: {r}");
        r["command_result"].clone()
    }

    /// The guest's name (`/dev/vda`) of every disk of the VM, in the order of
    /// [`VmOptions::disks`](super::VmOptions::disks), found by serial in the inventory.
    pub fn guest_disk_names(&self) -> Vec<String> {
        let inv = self.hardware_info();
        let by_serial: HashMap<String, String> = inv["disks"]
            .as_array()
            .unwrap_or_else(|| panic!("no disks in the inventory: {inv}"))
            .iter()
            .filter_map(|d| {
                Some((
                    d["serial"].as_str()?.trim().to_string(),
                    d["name"].as_str()?.to_string(),
                ))
            })
            .collect();
        (self.opts.disks.iter().enumerate())
            .map(|(i, d)| {
                let serial = d.serial_for(i);
                by_serial
                    .get(&serial)
                    .unwrap_or_else(|| panic!("no disk with serial {serial} in {by_serial:?}"))
                    .clone()
            })
            .collect()
    }

    /// The members of `log.collect_system_logs`' tarball, by name.
    pub fn system_logs(&self) -> HashMap<String, String> {
        use base64::Engine;
        let r = self.command("log.collect_system_logs", json!({}));
        assert_eq!(r["command_status"], "SUCCEEDED", "collect_system_logs: {r}");
        let b64 = r["command_result"]["system_logs"]
            .as_str()
            .unwrap_or_else(|| panic!("no system_logs in {r}"));
        let tgz = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .expect("system_logs is base64");
        let mut ar = tar::Archive::new(flate2::read::GzDecoder::new(tgz.as_slice()));
        let mut out = HashMap::new();
        for e in ar.entries().expect("a tar.gz") {
            let mut e = e.expect("a tar member");
            let name = e
                .path()
                .map(|p| p.display().to_string())
                .unwrap_or_default();
            let mut s = String::new();
            let _ = e.read_to_string(&mut s);
            out.insert(name, s);
        }
        out
    }

    /// Powers the guest off through the agent (`standby.power_off`: sync, then `poweroff -f`,
    /// so the guest's caches reach the images and md marks its arrays clean) and waits for
    /// QEMU to exit; kills it after a minute. The VM (and its slot) is gone afterwards.
    /// Returns whether the guest powered off by itself (false: it had to be killed).
    pub fn power_off(self) -> bool {
        let url = format!(
            "{}/v1/commands/?wait=false&agent_token={}",
            self.agent_url(),
            self.token()
        );
        let _ = client(Duration::from_secs(10))
            .post(url)
            .json(&json!({"name": "standby.power_off", "params": {}}))
            .send();
        let exited = self.wait_exit(Duration::from_secs(60)).is_some();
        if !exited {
            eprintln!(
                "qemu harness: {} did not power off; killing QEMU",
                self.opts.name
            );
        }
        eprintln!(
            "qemu harness: {} stopped after {:.1?}",
            self.opts.name,
            self.elapsed()
        );
        exited
    }
}
