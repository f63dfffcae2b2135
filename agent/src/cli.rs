//! The command line. `ironic-agent [FLAGS]` starts the agent; every kernel parameter
//! `ipa-<name>=<value>` is also the flag `--<name> <value>` (or `--<name>=<value>`; a flag
//! followed by another flag or nothing means `true`). Subcommands are for humans.

use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    Run,
    /// `ironic-agent steps`: the steps this machine would report, and why managers declined.
    Steps,
    /// `ironic-agent inventory`: the inventory this machine reports (inspection,
    /// `poll.get_hardware_info`), as JSON.
    Inventory,
    /// `ironic-agent raid plan --config FILE [--node FILE]`
    RaidPlan {
        config: PathBuf,
        node: Option<PathBuf>,
    },
    Version,
    Help,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    pub mode: Mode,
    pub host_root: PathBuf,
    pub cmdline_file: Option<PathBuf>,
    pub config_file: Option<PathBuf>,
    /// `--<name> <value>` pairs, in order, to be applied as `ipa-<name>`.
    pub flags: Vec<(String, String)>,
}

pub const USAGE: &str = "\
ironic-agent: a bare-metal agent that OpenStack Ironic drives like the Ironic Python Agent.

USAGE:
  ironic-agent [--host-root DIR] [--cmdline FILE] [--config-file FILE] [--<ipa-param> VALUE ...]
  ironic-agent steps [--host-root DIR]       steps this machine reports, and why managers declined
  ironic-agent inventory [--host-root DIR]   the hardware inventory this machine reports (JSON)
  ironic-agent raid plan --config FILE [--node FILE] [--host-root DIR]
                                             validate a target_raid_config and print the commands
  ironic-agent version | help

Every kernel parameter ipa-<name>=<value> is also accepted as --<name> <value>, e.g.
  --api-url http://192.0.2.1:6385 --listen-port 9999 --advertise-host 192.0.2.10 --agent-token T
Precedence: kernel command line < config file < flags.
  --cmdline FILE      read parameters from FILE instead of /proc/cmdline (under the host root)
  --config-file FILE  `name = value` lines (default: <host-root>/etc/ironic-agent/agent.conf if present)
  --host-root DIR     the machine's root (default /); /sys, /proc, /dev are read under it
";

pub fn parse(args: &[String]) -> Result<Invocation, String> {
    let mut inv = Invocation {
        mode: Mode::Run,
        host_root: PathBuf::from("/"),
        cmdline_file: None,
        config_file: None,
        flags: vec![],
    };
    let mut rest: Vec<String> = args.to_vec();
    match rest.first().map(String::as_str) {
        Some("steps") => {
            inv.mode = Mode::Steps;
            rest.remove(0);
        }
        Some("inventory") => {
            inv.mode = Mode::Inventory;
            rest.remove(0);
        }
        Some("raid") => {
            if rest.get(1).map(String::as_str) != Some("plan") {
                return Err("usage: ironic-agent raid plan --config FILE [--node FILE]".into());
            }
            inv.mode = Mode::RaidPlan {
                config: PathBuf::new(),
                node: None,
            };
            rest.drain(..2);
        }
        Some("version" | "--version" | "-V") => {
            inv.mode = Mode::Version;
            return Ok(inv);
        }
        Some("help" | "--help" | "-h") => {
            inv.mode = Mode::Help;
            return Ok(inv);
        }
        Some(other) if !other.starts_with("--") => {
            return Err(format!(
                "unknown subcommand {other:?}; see `ironic-agent help`"
            ))
        }
        _ => {}
    }
    let mut raid_config = None;
    let mut raid_node = None;
    let mut i = 0;
    while i < rest.len() {
        let a = &rest[i];
        let Some(flag) = a.strip_prefix("--") else {
            return Err(format!(
                "unexpected argument {a:?}; flags look like --name value"
            ));
        };
        let (name, value) = match flag.split_once('=') {
            Some((n, v)) => (n.to_string(), v.to_string()),
            None => match rest.get(i + 1) {
                Some(v) if !v.starts_with("--") => {
                    i += 1;
                    (flag.to_string(), v.clone())
                }
                _ => (flag.to_string(), "true".to_string()),
            },
        };
        i += 1;
        if name.is_empty() {
            return Err("empty flag name `--`".into());
        }
        match name.as_str() {
            "host-root" => inv.host_root = PathBuf::from(value),
            "cmdline" => inv.cmdline_file = Some(PathBuf::from(value)),
            "config-file" => inv.config_file = Some(PathBuf::from(value)),
            "config" if matches!(inv.mode, Mode::RaidPlan { .. }) => {
                raid_config = Some(PathBuf::from(value))
            }
            "node" if matches!(inv.mode, Mode::RaidPlan { .. }) => {
                raid_node = Some(PathBuf::from(value))
            }
            _ => inv.flags.push((name, value)),
        }
    }
    if let Mode::RaidPlan { .. } = inv.mode {
        let Some(config) = raid_config else {
            return Err(
                "ironic-agent raid plan needs --config FILE (a target_raid_config JSON)".into(),
            );
        };
        inv.mode = Mode::RaidPlan {
            config,
            node: raid_node,
        };
    }
    Ok(inv)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn run_flags_map_to_params() {
        let inv = parse(&args(
            "--api-url http://x:6385 --listen-port=1234 --debug --host-root /tmp/m --insecure",
        ))
        .unwrap();
        assert_eq!(inv.mode, Mode::Run);
        assert_eq!(inv.host_root, PathBuf::from("/tmp/m"));
        assert_eq!(
            inv.flags,
            vec![
                ("api-url".into(), "http://x:6385".into()),
                ("listen-port".into(), "1234".into()),
                ("debug".into(), "true".into()),
                ("insecure".into(), "true".into())
            ]
        );
    }

    #[test]
    fn subcommands() {
        assert_eq!(
            parse(&args("steps --host-root /r")).unwrap().mode,
            Mode::Steps
        );
        let inv = parse(&args("raid plan --config c.json --node n.json")).unwrap();
        assert_eq!(
            inv.mode,
            Mode::RaidPlan {
                config: "c.json".into(),
                node: Some("n.json".into())
            }
        );
        let inv = parse(&args("inventory --host-root /r")).unwrap();
        assert_eq!((inv.mode, inv.host_root), (Mode::Inventory, "/r".into()));
        assert!(parse(&args("raid plan")).is_err());
        assert!(parse(&args("frobnicate")).is_err());
        assert!(parse(&args("--x y z")).is_err());
        assert_eq!(parse(&args("help")).unwrap().mode, Mode::Help);
    }
}
