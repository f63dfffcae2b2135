//! The command registry: `<extension>.<command>` names, their parameters, whether they run
//! synchronously or in the background, and what they return
//! (`ironic_python_agent/extensions/base.py`, `extensions/*.py`). Commands call the
//! dispatcher; they never touch disks themselves.
//!
//! A command's life never depends on the HTTP request that started it: every command, sync
//! or async, runs in a task of its own that records the result; the request only waits for
//! the record. A client that hangs up (a conductor timeout, `curl -m 1`) leaves the command
//! running to completion and its result recorded, and the next command is accepted.

use crate::agent::Agent;
use crate::errors::{AgentClass, IpaError};
use crate::results::{CommandRecord, Snapshot, Status};
use hwmgr::{ErrorKind, StepCall, StepKind};
use serde_json::{json, Map, Value};
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Command {
    GetSteps(StepKind),
    ExecuteStep(StepKind),
    StandbySync,
    PowerOff,
    RunImage,
    GetPartitionUuids,
    InstallBootloader,
    Lockdown,
    CollectSystemLogs,
    GetHardwareInfo,
}

/// The registry: extension → command name → command.
const REGISTRY: &[(&str, &[(&str, Command)])] = &[
    (
        "clean",
        &[
            ("get_clean_steps", Command::GetSteps(StepKind::Clean)),
            ("execute_clean_step", Command::ExecuteStep(StepKind::Clean)),
        ],
    ),
    (
        "deploy",
        &[
            ("get_deploy_steps", Command::GetSteps(StepKind::Deploy)),
            (
                "execute_deploy_step",
                Command::ExecuteStep(StepKind::Deploy),
            ),
        ],
    ),
    (
        "service",
        &[
            ("get_service_steps", Command::GetSteps(StepKind::Service)),
            (
                "execute_service_step",
                Command::ExecuteStep(StepKind::Service),
            ),
        ],
    ),
    (
        "standby",
        &[
            ("sync", Command::StandbySync),
            ("power_off", Command::PowerOff),
            ("run_image", Command::RunImage),
            ("get_partition_uuids", Command::GetPartitionUuids),
        ],
    ),
    (
        "image",
        &[("install_bootloader", Command::InstallBootloader)],
    ),
    ("system", &[("lockdown", Command::Lockdown)]),
    (
        "log",
        &[("collect_system_logs", Command::CollectSystemLogs)],
    ),
    ("poll", &[("get_hardware_info", Command::GetHardwareInfo)]),
];

impl Command {
    fn is_async(self) -> bool {
        matches!(
            self,
            Command::ExecuteStep(_)
                | Command::PowerOff
                | Command::RunImage
                | Command::InstallBootloader
        )
    }
}

/// Whether `name` is a command that runs in the background (answered RUNNING at once).
pub fn is_async(name: &str) -> bool {
    resolve(name).is_ok_and(|(_, c)| c.is_async())
}

/// Every `extension.command` name we serve, for help and logs.
pub fn command_names() -> Vec<String> {
    REGISTRY
        .iter()
        .flat_map(|(ext, cmds)| cmds.iter().map(move |(c, _)| format!("{ext}.{c}")))
        .collect()
}

fn resolve(name: &str) -> Result<(String, Command), IpaError> {
    let Some((ext, cmd)) = name.split_once('.') else {
        return Err(IpaError::new(
            AgentClass::InvalidCommand,
            "Command name must be of the form <extension>.<name>",
        ));
    };
    let Some((_, cmds)) = REGISTRY.iter().find(|(e, _)| *e == ext) else {
        return Err(IpaError::new(
            AgentClass::NotFound,
            format!("Extension with id {ext} not found."),
        ));
    };
    let Some((short, command)) = cmds.iter().find(|(c, _)| *c == cmd) else {
        return Err(IpaError::new(
            AgentClass::InvalidCommand,
            format!("Unknown command: {cmd}"),
        ));
    };
    Ok((short.to_string(), *command))
}

fn bad_params(name: &str, why: impl std::fmt::Display) -> IpaError {
    IpaError::manager(
        ErrorKind::InvalidCommandParamsError,
        format!("{name}: {why}"),
    )
}

/// Checks that `params` holds only `allowed` keys (unless `extra_ok`) with the right types.
/// `ports` may be anything: IPA passes it to the managers, which ignore it (IPA's own
/// functional test sends `ports: {}`).
fn check_params(
    name: &str,
    params: &Map<String, Value>,
    allowed: &[&str],
    extra_ok: bool,
) -> Result<(), IpaError> {
    if !extra_ok {
        if let Some(k) = params.keys().find(|k| !allowed.contains(&k.as_str())) {
            let expected = if allowed.is_empty() {
                "none".to_string()
            } else {
                allowed.join(", ")
            };
            return Err(bad_params(
                name,
                format!("unexpected parameter {k:?} (expected: {expected})"),
            ));
        }
    }
    if let Some(n) = params
        .get("node")
        .filter(|v| !v.is_object() && !v.is_null())
    {
        return Err(bad_params(
            name,
            format!("`node` must be an object, got {n}"),
        ));
    }
    Ok(())
}

/// A validated request, ready to run.
struct Prepared {
    short_name: String,
    full_name: String,
    command: Command,
    params: Map<String, Value>,
}

/// The conductor sends the node's current `clean_step` / `deploy_step`, which is `{}` outside
/// that operation. Ironic 39's agent RAID interface does exactly that when an operator asks
/// for `raid.delete_configuration` or `raid.create_configuration` while servicing (they are
/// clean steps there, though IPA and we list them as service steps): say so and what works.
fn empty_step(name: &str) -> IpaError {
    bad_params(
        name,
        "the conductor sent an empty step ({}): it sends the node's current clean or deploy \
         step, which is empty outside that operation. Ironic's agent RAID interface does this \
         for raid.delete_configuration and raid.create_configuration in servicing: run them \
         in (manual) cleaning, or service with raid.apply_configuration (delete_existing \
         true) instead",
    )
}

fn prepare(name: &str, params: Map<String, Value>) -> Result<Prepared, IpaError> {
    let (short_name, command) = resolve(name)?;
    match command {
        Command::GetSteps(_) => check_params(name, &params, &["node", "ports"], false)?,
        Command::ExecuteStep(kind) => {
            let version_key = format!("{}_version", kind.as_str());
            check_params(
                name,
                &params,
                &["step", "node", "ports", &version_key],
                true,
            )?;
            match params.get("step") {
                Some(Value::Object(s)) if s.get("step").is_some_and(Value::is_string) => {}
                Some(Value::Object(s)) if s.get("step").is_some() => {
                    return Err(bad_params(name, "`step.step` must be a string"))
                }
                Some(Value::Object(s)) if s.is_empty() => return Err(empty_step(name)),
                Some(Value::Object(_)) => {
                    return Err(bad_params(name, "malformed step: no \"step\" key"))
                }
                Some(other) => {
                    return Err(bad_params(
                        name,
                        format!("`step` must be an object, got {other}"),
                    ))
                }
                None => return Err(bad_params(name, "missing required parameter `step`")),
            }
            if let Some(a) = params["step"]
                .get("args")
                .filter(|a| !a.is_object() && !a.is_null())
            {
                return Err(bad_params(
                    name,
                    format!("`step.args` must be an object, got {a}"),
                ));
            }
        }
        // `image.install_bootloader` (`ironic/drivers/modules/agent_client.py`).
        Command::InstallBootloader => check_params(
            name,
            &params,
            &[
                "root_uuid",
                "efi_system_part_uuid",
                "prep_boot_part_uuid",
                "target_boot_mode",
                "ignore_bootloader_failure",
            ],
            false,
        )?,
        _ => check_params(name, &params, &[], false)?,
    }
    Ok(Prepared {
        short_name,
        full_name: name.to_string(),
        command,
        params,
    })
}

/// Submits a command: validation errors come back as `Err` (HTTP 400/404/409, not recorded);
/// anything else is recorded and run by a task of its own, and the RUNNING record is
/// returned at once. The caller waits on the record if it wants the result.
///
/// As IPA's `ExecuteCommandMixin.execute_command`, submissions are serialised: a second
/// request waits while a synchronous command runs and is refused (busy) while an
/// asynchronous one runs. The lock travels with the task, so a client that hangs up does not
/// release it early.
pub async fn submit(
    agent: &Arc<Agent>,
    name: &str,
    params: Map<String, Value>,
) -> Result<Arc<CommandRecord>, IpaError> {
    let guard = agent.submit_lock.clone().lock_owned().await;
    if let Some(last) = agent.store.last() {
        let s = last.snapshot();
        if s.status == Status::Running {
            return Err(IpaError::new(
                AgentClass::Busy,
                format!("executing command {}", s.command_name),
            ));
        }
    }
    let p = prepare(name, params)?;
    tracing::info!(command = %p.full_name, "executing command");
    let record = CommandRecord::new(Snapshot {
        id: uuid::Uuid::new_v4().to_string(),
        command_name: p.short_name.clone(),
        status: Status::Running,
        error: None,
        result: None,
    });
    agent.store.push(record.clone());
    // No await between recording and spawning: once recorded, the command runs to the end.
    let is_async = p.command.is_async();
    let sync_guard = if is_async {
        drop(guard);
        None
    } else {
        Some(guard)
    };
    let (agent2, rec) = (agent.clone(), record.clone());
    tokio::spawn(async move {
        let (status, result, error) = run_in_background(&agent2, p).await;
        rec.finish(status, result, error);
        drop(sync_guard);
        if is_async {
            agent2.command_finished.notify_one();
        }
    });
    Ok(record)
}

/// The error class of a command that could not finish: the step kind's class for steps
/// (the contract's one map, `StepKind::error_kind`), else `CommandExecutionError`.
fn failure_kind(command: Command) -> ErrorKind {
    match command {
        Command::ExecuteStep(kind) => kind.error_kind(),
        _ => ErrorKind::CommandExecutionError,
    }
}

/// Runs the command body on a blocking thread (managers run tools and may take hours), and
/// turns any outcome, panics included, into a recorded status. A panic never poisons the
/// result list: it becomes an IPA-shaped error (the release build unwinds for this; see
/// README, "Panics").
async fn run_in_background(
    agent: &Arc<Agent>,
    p: Prepared,
) -> (Status, Option<Value>, Option<Value>) {
    let agent2 = agent.clone();
    let full_name = p.full_name.clone();
    let short = p.short_name.clone();
    let command = p.command;
    let joined = tokio::task::spawn_blocking(move || run(&agent2, command, p.params)).await;
    let outcome = joined.unwrap_or_else(|e| {
        let why = if e.is_panic() {
            "the command panicked"
        } else {
            "the command was cancelled"
        };
        Err(IpaError::manager(
            failure_kind(command),
            format!("Unexpected failure in {full_name}: {why}. This is a bug in the agent; the agent log has the details."),
        ))
    });
    match outcome {
        Ok(v) => {
            tracing::info!(command = %full_name, "command succeeded");
            // IPA wraps a plain string return value.
            let v = match v {
                Value::String(s) if command.is_async() => {
                    json!({"result": format!("{short}: {s}")})
                }
                Value::String(s) => json!({"result": s}),
                other => other,
            };
            (Status::Succeeded, Some(v), None)
        }
        Err(e) => {
            tracing::error!(command = %full_name, error = %e, "command failed");
            let status = if e.is(AgentClass::VersionMismatch) {
                Status::VersionMismatch
            } else {
                Status::Failed
            };
            (status, None, Some(e.to_json()))
        }
    }
}

/// The call a manager gets. `ports` that is not a list (IPA ignores its type) becomes `[]`.
fn step_call(kind: StepKind, params: &Map<String, Value>, args: Map<String, Value>) -> StepCall {
    let node = params
        .get("node")
        .cloned()
        .filter(|v| !v.is_null())
        .unwrap_or_else(|| json!({}));
    let ports = params
        .get("ports")
        .cloned()
        .filter(Value::is_array)
        .unwrap_or_else(|| json!([]));
    StepCall::new(kind, node, ports, args)
}

fn run(
    agent: &Arc<Agent>,
    command: Command,
    params: Map<String, Value>,
) -> Result<Value, IpaError> {
    let d = &agent.dispatcher;
    match command {
        Command::GetSteps(kind) => {
            let call = step_call(kind, &params, Map::new());
            let mut out = Map::new();
            out.insert(
                format!("{}_steps", kind.as_str()),
                Value::Object(d.steps(kind, &call)),
            );
            out.insert(
                "hardware_manager_version".into(),
                Value::Object(d.versions()),
            );
            Ok(Value::Object(out))
        }
        Command::ExecuteStep(kind) => execute_step(agent, kind, &params),
        Command::StandbySync => {
            d.dispatch_to_all("full_sync", &StepCall::default())?;
            Ok(Value::Null)
        }
        Command::PowerOff => agent.power.power_off(d),
        Command::RunImage => agent.power.reboot(d),
        Command::GetPartitionUuids => d.dispatch("get_partition_uuids", &StepCall::default(), None),
        Command::InstallBootloader => {
            let call = StepCall {
                args: params,
                ..StepCall::default()
            };
            d.dispatch("install_bootloader", &call, None)
        }
        Command::Lockdown => {
            // Answer first; the API stops serving right after (IPA: then NICs go down and the
            // process idles forever).
            tracing::warn!("system.lockdown requested: the API stops serving and heartbeats stop");
            let a = agent.clone();
            std::thread::spawn(move || {
                std::thread::sleep(std::time::Duration::from_millis(300));
                let _ = a.lockdown.send(true);
            });
            Ok(Value::Null)
        }
        Command::CollectSystemLogs => agent.logs.collect(d).map(|b64| json!({"system_logs": b64})),
        Command::GetHardwareInfo => d.dispatch("list_hardware_info", &StepCall::default(), None),
    }
}

fn execute_step(
    agent: &Agent,
    kind: StepKind,
    params: &Map<String, Value>,
) -> Result<Value, IpaError> {
    let d = &agent.dispatcher;
    d.check_versions(params.get(&format!("{}_version", kind.as_str())))?;
    let step = params["step"].clone();
    let name = step["step"].as_str().unwrap_or_default().to_string();
    let args = step
        .get("args")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let call = step_call(kind, params, args);
    tracing::info!(step = %name, interface = step["interface"].as_str().unwrap_or("?"), "executing {} step", kind.as_str());
    let result = d.dispatch(&name, &call, Some(kind))?;
    let mut out = Map::new();
    out.insert(format!("{}_result", kind.as_str()), result);
    out.insert(format!("{}_step", kind.as_str()), step);
    Ok(Value::Object(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_resolve_like_ipa() {
        assert_eq!(
            resolve("clean.get_clean_steps").unwrap().0,
            "get_clean_steps"
        );
        let e = resolve("nodot").unwrap_err();
        assert_eq!(
            e.to_string(),
            "Invalid command: Command name must be of the form <extension>.<name>"
        );
        assert_eq!(e.class.code(), 400);
        let e = resolve("nope.x").unwrap_err();
        assert_eq!(
            e.to_string(),
            "Not found: Extension with id nope not found."
        );
        assert_eq!(e.class.code(), 404);
        let e = resolve("clean.nope").unwrap_err();
        assert_eq!(e.to_string(), "Invalid command: Unknown command: nope");
    }

    #[test]
    fn params_are_validated() {
        let p = |v: Value| v.as_object().unwrap().clone();
        assert!(prepare("clean.get_clean_steps", p(json!({"node": {}, "ports": []}))).is_ok());
        assert!(prepare("clean.get_clean_steps", p(json!({"bogus": 1}))).is_err());
        assert!(prepare("clean.get_clean_steps", p(json!({"node": 3}))).is_err());
        // IPA ignores the type of `ports`.
        assert!(prepare("clean.get_clean_steps", p(json!({"ports": {}}))).is_ok());
        assert_eq!(
            step_call(StepKind::Clean, &p(json!({"ports": {}})), Map::new()).ports,
            json!([])
        );
        assert!(prepare("clean.execute_clean_step", p(json!({"node": {}}))).is_err());
        assert!(prepare(
            "clean.execute_clean_step",
            p(json!({"step": {"interface": "raid"}}))
        )
        .is_err());
        assert!(prepare("clean.execute_clean_step", p(json!({"step": {"step": 1}}))).is_err());
        assert!(prepare(
            "clean.execute_clean_step",
            p(json!({"step": {"step": "x", "args": []}}))
        )
        .is_err());
        let ok = prepare(
            "clean.execute_clean_step",
            p(
                json!({"step": {"step": "x"}, "node": {}, "ports": [], "clean_version": null, "extra": 1}),
            ),
        );
        assert!(ok.is_ok());
        let e = prepare("standby.sync", p(json!({"x": 1}))).err().unwrap();
        assert_eq!(
            e.class,
            crate::errors::Class::Manager(ErrorKind::InvalidCommandParamsError)
        );
        assert!(command_names().contains(&"log.collect_system_logs".to_string()));
    }

    /// What Ironic 39 sends for `raid.delete_configuration` in servicing (seen with the real
    /// conductor): the error says why and what works instead.
    #[test]
    fn an_empty_step_names_the_conductors_raid_service_limit() {
        let p = |v: Value| v.as_object().unwrap().clone();
        let e = prepare(
            "clean.execute_clean_step",
            p(json!({"step": {}, "node": {}, "ports": [], "clean_version": null})),
        )
        .err()
        .unwrap();
        assert_eq!(
            e.class,
            crate::errors::Class::Manager(ErrorKind::InvalidCommandParamsError)
        );
        for want in [
            "empty step",
            "raid.delete_configuration",
            "raid.apply_configuration",
        ] {
            assert!(e.details.contains(want), "{want:?} not in {}", e.details);
        }
    }
}
