//! Steps as the conductor sees them (`ipa-protocol.md` 7.1) and the call a manager receives.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The three step families; each has its own command extension and result keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StepKind {
    Clean,
    Deploy,
    Service,
}

impl StepKind {
    pub const ALL: [StepKind; 3] = [StepKind::Clean, StepKind::Deploy, StepKind::Service];

    /// "clean", "deploy", "service": the extension name and the key prefix.
    pub fn as_str(self) -> &'static str {
        match self {
            StepKind::Clean => "clean",
            StepKind::Deploy => "deploy",
            StepKind::Service => "service",
        }
    }
}

/// A step as reported by `get_*_steps`. `abortable` and `argsinfo` are omitted when unset,
/// because IPA's deploy steps carry no `abortable` key at all.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    pub step: String,
    pub priority: i64,
    pub interface: String,
    pub reboot_requested: bool,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub abortable: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub argsinfo: Option<Map<String, Value>>,
}

impl Step {
    pub fn new(interface: &str, step: &str, priority: i64) -> Self {
        Step {
            step: step.to_string(),
            priority,
            interface: interface.to_string(),
            reboot_requested: false,
            abortable: None,
            argsinfo: None,
        }
    }

    pub fn abortable(mut self, abortable: bool) -> Self {
        self.abortable = Some(abortable);
        self
    }

    /// Adds an `argsinfo` entry; the conductor rejects manual-step args not listed here.
    pub fn arg(mut self, name: &str, description: &str, required: bool) -> Self {
        let mut info = Map::new();
        info.insert("description".into(), Value::String(description.into()));
        info.insert("required".into(), Value::Bool(required));
        self.argsinfo
            .get_or_insert_with(Map::new)
            .insert(name.into(), Value::Object(info));
        self
    }
}

/// Everything a manager gets when asked to run a step: the conductor's node and ports dicts
/// as sent, and the step's `args` merged in.
#[derive(Debug, Clone, Default)]
pub struct StepCall {
    pub kind: Option<StepKind>,
    pub node: Value,
    pub ports: Value,
    pub args: Map<String, Value>,
}

impl StepCall {
    pub fn new(kind: StepKind, node: Value, ports: Value, args: Map<String, Value>) -> Self {
        StepCall {
            kind: Some(kind),
            node,
            ports,
            args,
        }
    }

    /// A field of the node dict, e.g. `node_field("target_raid_config")`.
    pub fn node_field(&self, key: &str) -> Option<&Value> {
        self.node.get(key).filter(|v| !v.is_null())
    }

    pub fn node_uuid(&self) -> &str {
        self.node
            .get("uuid")
            .and_then(Value::as_str)
            .unwrap_or("<unknown node>")
    }

    /// `driver_internal_info.<key>` of the node.
    pub fn internal_info(&self, key: &str) -> Option<&Value> {
        self.node
            .get("driver_internal_info")
            .and_then(|d| d.get(key))
            .filter(|v| !v.is_null())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn optional_keys_are_omitted() {
        let s =
            Step::new("raid", "apply_configuration", 0).arg("raid_config", "The RAID config", true);
        assert_eq!(
            serde_json::to_value(&s).unwrap(),
            json!({"step": "apply_configuration", "priority": 0, "interface": "raid",
                   "reboot_requested": false,
                   "argsinfo": {"raid_config": {"description": "The RAID config", "required": true}}})
        );
        let c = Step::new("raid", "create_configuration", 0).abortable(true);
        assert_eq!(serde_json::to_value(&c).unwrap()["abortable"], json!(true));
    }
}
