//! The scenario every Ironic test in QEMU (and the demo) starts with: a real Ironic, a node
//! enrolled with the VM's MAC as its port and moved to `manageable`, the ramdisk booted in
//! QEMU, its lookup and its first heartbeat recorded by the conductor. Then the test drives
//! the node through Ironic ([`Scenario::provision_to`], [`Scenario::clean`]).
//!
//! ```no_run
//! use agent_tests::qemu::{Bus, Disk, VmOptions};
//! use agent_tests::scenario::{Scenario, ScenarioOptions};
//! use serde_json::json;
//! use std::time::Duration;
//!
//! let s = Scenario::start(ScenarioOptions {
//!     vm: VmOptions { disks: vec![Disk::new(Bus::Virtio, 256)], ..VmOptions::default() },
//!     ..ScenarioOptions::default()
//! });
//! s.clean(json!([{"interface": "deploy", "step": "erase_devices_metadata"}]), Duration::from_secs(300));
//! s.provision_to("provide", json!(null), "available", Duration::from_secs(300));
//! ```

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::ironic::{EnrolledNode, Ironic, IronicOptions, NodeSpec};
use crate::qemu::{Vm, VmOptions};
use crate::support::poll;

/// How it is set up. `Default`: Ironic with fast-track (one boot serves several operations)
/// and otherwise its defaults (`require_tls`, `verify_ca`), a node `qemu-node` with fake power,
/// the default VM, 240 s from QEMU's start to the first heartbeat.
#[derive(Clone, Debug)]
pub struct ScenarioOptions {
    pub ironic: IronicOptions,
    /// The node; the VM's MAC becomes its port when it has none.
    pub node: NodeSpec,
    /// The VM; [`VmOptions::ironic_port`] is set to the Ironic of the scenario.
    pub vm: VmOptions,
    /// From QEMU's start to the first accepted heartbeat (~7 s under TCG when idle; a busy
    /// host, or a ramdisk build before the boot, takes longer).
    pub agent_up: Duration,
    /// In-band inspection first: once the node is `manageable`, `inspect` is requested
    /// (the node's inspect interface must be `agent` and Ironic must allow unmanaged boot,
    /// `[inspector]require_managed_boot = false`) and awaited in `inspect wait`; the VM then
    /// boots with `ipa-inspection-callback-url` pointing at this Ironic.
    pub inspect: bool,
}

impl Default for ScenarioOptions {
    fn default() -> Self {
        ScenarioOptions {
            ironic: IronicOptions {
                fast_track: true,
                ..IronicOptions::default()
            },
            node: NodeSpec::new("qemu-node").fields(json!({"power_interface": "fake"})),
            vm: VmOptions::default(),
            agent_up: Duration::from_secs(240),
            inspect: false,
        }
    }
}

/// A running scenario. Dropping it stops QEMU, then Ironic (both print their logs' tails
/// when the test panics).
pub struct Scenario {
    pub vm: Vm,
    pub ironic: Ironic,
    pub node: EnrolledNode,
    /// The node's `driver_internal_info` when the conductor first recorded the agent
    /// (`agent_url`, `agent_verify_ca`, ...).
    pub first_heartbeat: Value,
}

impl Scenario {
    /// Starts Ironic, enrolls the node, boots the VM and waits until the conductor recorded
    /// the agent's first heartbeat. Checks that the conductor calls the agent back at its
    /// forwarded address, over auto-TLS with the certificate stored, unless the scenario's
    /// Ironic allows plain HTTP. Panics, with both logs, when any of it fails.
    pub fn start(opts: ScenarioOptions) -> Scenario {
        let t0 = Instant::now();
        let ironic = Ironic::start(opts.ironic.clone());
        let mut spec = opts.node.clone();
        if spec.macs.is_empty() {
            spec.macs.push(opts.vm.mac.clone());
        }
        let node = ironic.enroll(&spec);
        eprintln!(
            "scenario: Ironic on {}, node {} manageable after {:.1?}",
            ironic.url(),
            node.uuid,
            t0.elapsed()
        );
        let mut vm_opts = VmOptions {
            ironic_port: Some(ironic.port()),
            ..opts.vm.clone()
        };
        if opts.inspect {
            start_inspection(&ironic, &node.uuid);
            vm_opts.append.push(format!(
                "ipa-inspection-callback-url=http://10.0.2.2:{}/v1/continue_inspection",
                ironic.port()
            ));
        }
        let vm = Vm::boot(vm_opts);
        let hb = vm
            .wait_for_serial("heartbeat accepted", opts.agent_up)
            .unwrap_or_else(|e| panic!("{e}\n--- Ironic ---\n{}", ironic.log_tail(40)));
        eprintln!(
            "scenario: first heartbeat accepted {:.1?} after QEMU start: {hb}",
            vm.elapsed()
        );
        let first_heartbeat = recorded_agent(&ironic, &node.uuid, &vm, &opts.ironic);
        Scenario {
            vm,
            ironic,
            node,
            first_heartbeat,
        }
    }

    pub fn uuid(&self) -> &str {
        &self.node.uuid
    }

    pub fn get_node(&self) -> Value {
        self.ironic.get_node(&self.node.uuid)
    }

    /// The end of the serial log and of Ironic's log, for failure messages.
    pub fn diagnostics(&self, lines: usize) -> String {
        format!(
            "{}\n--- Ironic ---\n{}",
            self.vm.serial_tail(lines),
            self.ironic.log_tail(lines)
        )
    }

    /// Requests provision `target` (with `body` fields such as `{"deploy_steps": [...]}`),
    /// waits until the node rests in `state` and checks it has no `last_error`. Returns the
    /// node; panics, with both logs, otherwise.
    pub fn provision_to(&self, target: &str, body: Value, state: &str, timeout: Duration) -> Value {
        let t = Instant::now();
        self.ironic.provision(&self.node.uuid, target, body);
        let node = self
            .ironic
            .wait_for_provision_state(&self.node.uuid, state, timeout)
            .unwrap_or_else(|e| panic!("{e}\n{}", self.diagnostics(60)));
        eprintln!("scenario: {target} -> {state} in {:.1?}", t.elapsed());
        assert!(
            node["last_error"].is_null(),
            "{target} -> {state}: last_error {}",
            node["last_error"]
        );
        node
    }

    /// A manual clean with `steps` back to `manageable`.
    pub fn clean(&self, steps: Value, timeout: Duration) -> Value {
        self.provision_to(
            "clean",
            json!({ "clean_steps": steps }),
            "manageable",
            timeout,
        )
    }
}

/// Requests in-band inspection and waits until the node waits for the agent's data.
fn start_inspection(ironic: &Ironic, uuid: &str) {
    ironic.provision(uuid, "inspect", Value::Null);
    ironic
        .wait_for_provision_state(uuid, "inspect wait", Duration::from_secs(60))
        .unwrap_or_else(|e| panic!("{e}\n{}", ironic.log_tail(40)));
}

/// Waits until the conductor recorded the agent (asynchronously, after it answered the
/// heartbeat with 202) and checks the callback address it will use.
fn recorded_agent(ironic: &Ironic, uuid: &str, vm: &Vm, opts: &IronicOptions) -> Value {
    let dii = poll(Duration::from_secs(60), Duration::from_millis(500), || {
        let dii = ironic.get_node(uuid)["driver_internal_info"].clone();
        dii["agent_url"].is_string().then_some(dii)
    })
    .unwrap_or_else(|| {
        panic!(
            "the conductor never recorded agent_url\n{}",
            ironic.log_tail(40)
        )
    });
    let url = dii["agent_url"].as_str().unwrap_or_default();
    let address = format!("://127.0.0.1:{}", vm.agent_port());
    assert!(
        url.ends_with(&address),
        "the conductor must call the agent at its forwarded address: {dii}"
    );
    if opts.require_tls != Some(false) {
        assert!(
            url.starts_with("https://"),
            "Ironic requires TLS: the agent must use auto-TLS: {dii}"
        );
        assert!(
            dii["agent_verify_ca"].is_string(),
            "the conductor stored the agent's certificate: {dii}"
        );
    }
    dii
}
