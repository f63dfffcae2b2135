//! The node options that steer erasure, read from `driver_internal_info` where the
//! conductor puts them (`ironic/drivers/modules/deploy_utils.py: agent_add_clean_params`,
//! read by `ironic_python_agent/hardware.py: GenericHardwareManager.erase_block_device`,
//! `_shred_block_device` and `HardwareManager.erase_devices`).
//!
//! IPA reads them with `info.get(key, default)` and Python truthiness, so a string
//! `"False"` would count as true and a string iteration count would crash `shred`. We parse
//! them strictly (booleans with the one oslo parser, [`hwmgr::boolean`]; counts as
//! integers) and refuse a malformed value with an `InvalidCommandParamsError` naming the
//! option, before anything is touched.

use hwmgr::{boolean, AgentError, ErrorKind, Result, StepCall};
use serde_json::Value;

/// What the conductor asked for, with IPA's defaults for absent keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeOptions {
    /// `agent_erase_devices_iterations` (default 1): random overwrite passes.
    pub iterations: u32,
    /// `agent_erase_devices_zeroize` (default true): a final pass of zeros.
    pub zeroize: bool,
    /// `agent_enable_nvme_secure_erase` (default true).
    pub nvme_secure_erase: bool,
    /// `agent_enable_ata_secure_erase` (default true).
    pub ata_secure_erase: bool,
    /// `agent_continue_if_secure_erase_failed`, else the deprecated
    /// `agent_continue_if_ata_erase_failed` (default false): overwrite when a hardware
    /// erase is impossible or fails.
    pub continue_if_secure_erase_failed: bool,
    /// `agent_erase_skip_read_only` (default false): skip read-only disks instead of
    /// failing.
    pub skip_read_only: bool,
    /// `disk_erasure_concurrency`: at most this many devices at once. `None` (absent):
    /// all devices at once (IPA: one at a time).
    pub concurrency: Option<usize>,
}

impl Default for NodeOptions {
    fn default() -> Self {
        NodeOptions {
            iterations: 1,
            zeroize: true,
            nvme_secure_erase: true,
            ata_secure_erase: true,
            continue_if_secure_erase_failed: false,
            skip_read_only: false,
            concurrency: None,
        }
    }
}

impl NodeOptions {
    /// Reads every option; the first malformed one is the error.
    pub fn from_call(call: &StepCall) -> Result<NodeOptions> {
        let d = NodeOptions::default();
        let flag = |key: &str, default: bool| -> Result<bool> {
            call.internal_info(key)
                .map_or(Ok(default), |v| parse_bool(key, v))
        };
        let continue_if_failed = match call.internal_info("agent_continue_if_secure_erase_failed") {
            Some(v) => parse_bool("agent_continue_if_secure_erase_failed", v)?,
            None => flag("agent_continue_if_ata_erase_failed", false)?,
        };
        let iterations = match call.internal_info("agent_erase_devices_iterations") {
            Some(v) => parse_count("agent_erase_devices_iterations", v, 0)?,
            None => d.iterations,
        };
        let concurrency = call
            .internal_info("disk_erasure_concurrency")
            .map(|v| parse_count("disk_erasure_concurrency", v, 1))
            .transpose()?
            .map(|n| n as usize);
        Ok(NodeOptions {
            iterations,
            zeroize: flag("agent_erase_devices_zeroize", d.zeroize)?,
            nvme_secure_erase: flag("agent_enable_nvme_secure_erase", d.nvme_secure_erase)?,
            ata_secure_erase: flag("agent_enable_ata_secure_erase", d.ata_secure_erase)?,
            continue_if_secure_erase_failed: continue_if_failed,
            skip_read_only: flag("agent_erase_skip_read_only", d.skip_read_only)?,
            concurrency,
        })
    }

    /// How many devices run at once for `n` devices.
    pub fn workers(&self, n: usize) -> usize {
        self.concurrency.unwrap_or(n).min(n).max(1)
    }
}

fn malformed(key: &str, v: &Value, expected: &str) -> AgentError {
    AgentError::new(
        ErrorKind::InvalidCommandParamsError,
        format!(
            "driver_internal_info.{key} is {v}, which is not {expected}. The conductor sets it \
             from its [deploy] configuration; fix the value (or remove it from the node's \
             driver_internal_info) and clean again. Nothing was erased."
        ),
    )
}

/// oslo's strict boolean ([`hwmgr::boolean`]), naming the option when it is not one.
fn parse_bool(key: &str, v: &Value) -> Result<bool> {
    boolean::parse(v)
        .ok_or_else(|| malformed(key, v, &format!("a boolean ({})", boolean::accepted())))
}

/// An integer ≥ `min` (a JSON number or a decimal string).
fn parse_count(key: &str, v: &Value, min: u64) -> Result<u32> {
    let n = match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse::<u64>().ok(),
        _ => None,
    };
    n.filter(|n| *n >= min)
        .and_then(|n| u32::try_from(n).ok())
        .ok_or_else(|| malformed(key, v, &format!("an integer of at least {min}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::erase::testutil::call_with_info as call;
    use serde_json::json;

    #[test]
    fn defaults_are_ipas() {
        let o = NodeOptions::from_call(&call(json!({}))).unwrap();
        assert_eq!(o, NodeOptions::default());
        assert_eq!(o.workers(5), 5, "absent concurrency: every device at once");
    }

    #[test]
    fn conductor_values_are_read() {
        // What agent_add_clean_params sends with Ironic's defaults.
        let o = NodeOptions::from_call(&call(json!({
            "agent_erase_devices_iterations": 1,
            "agent_erase_devices_zeroize": true,
            "agent_continue_if_secure_erase_failed": false,
            "agent_enable_nvme_secure_erase": true,
            "agent_enable_ata_secure_erase": true,
            "disk_erasure_concurrency": 4,
            "agent_erase_skip_read_only": false,
        })))
        .unwrap();
        assert_eq!(o.concurrency, Some(4));
        assert_eq!(o.workers(2), 2);
        assert_eq!(o.workers(9), 4);
        let o = NodeOptions::from_call(&call(json!({
            "agent_erase_devices_iterations": "2",
            "agent_erase_devices_zeroize": "False",
            "agent_erase_skip_read_only": "yes",
            "agent_continue_if_ata_erase_failed": 1,
        })))
        .unwrap();
        assert_eq!(
            (o.iterations, o.zeroize, o.skip_read_only),
            (2, false, true)
        );
        assert!(
            o.continue_if_secure_erase_failed,
            "the deprecated name still counts"
        );
        let o = NodeOptions::from_call(&call(json!({
            "agent_continue_if_secure_erase_failed": false,
            "agent_continue_if_ata_erase_failed": true,
        })))
        .unwrap();
        assert!(!o.continue_if_secure_erase_failed, "the new name wins");
    }

    #[test]
    fn malformed_values_name_the_option() {
        for (key, bad) in [
            ("agent_erase_skip_read_only", json!("maybe")),
            ("agent_erase_devices_zeroize", json!([true])),
            ("agent_erase_devices_iterations", json!(-1)),
            ("agent_erase_devices_iterations", json!("two")),
            ("agent_erase_devices_iterations", json!(1.5)),
            ("disk_erasure_concurrency", json!(0)),
            ("agent_enable_nvme_secure_erase", json!(2)),
        ] {
            let e = NodeOptions::from_call(&call(json!({ key: bad }))).unwrap_err();
            assert_eq!(e.kind, ErrorKind::InvalidCommandParamsError);
            assert!(
                e.details
                    .contains(&format!("driver_internal_info.{key} is {bad}")),
                "{}",
                e.details
            );
        }
    }
}
