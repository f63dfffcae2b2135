//! `create_configuration`, `delete_configuration` and `apply_configuration`
//! (proliantutils `ipa_hw_manager/hardware_manager.py: ProliantHardwareManager`, over
//! `hpssa/manager.py: create_configuration, delete_configuration`): validate and plan
//! everything first, then run the plan one `create` at a time, re-reading the controller
//! after each to find the new logical drive's WWN.

use crate::allocate::{allocate, creation_order, Placement, Target};
use crate::config::validate;
use crate::model::{Array, Controller, PhysicalDrive, Server};
use crate::ssacli;
use hwmgr::text::clause;
use hwmgr::{AgentError, ErrorKind, Runner};
use serde_json::{json, Value};

/// The controllers that can build logical drives, or the reason there are none.
pub fn raid_controllers(server: &Server) -> Result<Vec<&Controller>, String> {
    if server.controllers.is_empty() {
        return Err("ssacli found no Smart Array controller".into());
    }
    let ok: Vec<&Controller> = server.controllers.iter().filter(|c| !c.is_hba()).collect();
    if ok.is_empty() {
        let ids: Vec<&str> = server.controllers.iter().map(|c| c.id.as_str()).collect();
        return Err(format!(
            "None of the available SSA controllers {} have RAID enabled (every controller \
             is in HBA mode); switch one to RAID mode to build logical drives",
            ids.join(", ")
        ));
    }
    Ok(ok)
}

/// A validated, placed configuration: nothing has run yet.
#[derive(Debug, Clone)]
pub struct Plan {
    pub placements: Vec<Placement>,
}

/// Validates `raid_config` and places every logical disk on `server`.
pub fn plan(server: &Server, raid_config: &Value) -> Result<Plan, String> {
    raid_controllers(server)?;
    let reqs = validate(raid_config)
        .map_err(|e| format!("the RAID configuration is invalid: {}", e.join("; ")))?;
    let order = creation_order(&reqs);
    let placements = allocate(server, &order)?;
    Ok(Plan { placements })
}

/// What the plan will run, for logs and error messages; shared arrays are named by the
/// logical disk that creates them, since their letter is not known yet.
pub fn describe_plan(plan: &Plan) -> Vec<String> {
    plan.placements
        .iter()
        .map(|p| {
            let r = &p.request;
            match &p.target {
                Target::NewArray { drives } => {
                    ssacli::create_on_drives(&p.slot, drives, r.ssacli_raid(), r.size.mb())
                        .to_string()
                }
                Target::SharedWith { creator } => format!(
                    "{} (in the array of logical disk #{})",
                    ssacli::create_in_array(&p.slot, "<array>", r.ssacli_raid(), r.size.mb()),
                    creator + 1
                ),
            }
        })
        .collect()
}

/// `create_configuration(raid_config)`: returns the input enriched per logical disk, plus
/// the top-level `physical_disks` report.
pub fn create(
    runner: &dyn Runner,
    kind: ErrorKind,
    raid_config: &Value,
) -> Result<Value, AgentError> {
    let server = ssacli::read_server(runner, kind)?;
    create_on(runner, kind, raid_config, server)
}

fn create_on(
    runner: &dyn Runner,
    kind: ErrorKind,
    raid_config: &Value,
    mut server: Server,
) -> Result<Value, AgentError> {
    let plan = plan(&server, raid_config)
        .map_err(|e| AgentError::new(kind, format!("{}. Nothing was created.", clause(&e))))?;
    for line in describe_plan(&plan) {
        tracing::info!("Smart Array RAID plan: {line}");
    }
    let mut result = raid_config.clone();
    let mut done: Vec<String> = Vec::new();
    let mut created: Vec<(usize, Value)> = Vec::new(); // (input index, LD dict)
    for p in &plan.placements {
        let r = &p.request;
        let fail = |done: &[String], msg: String| {
            let so_far = if done.is_empty() {
                "No logical drive was created.".to_string()
            } else {
                format!(
                    "Created before the failure: {}. Run raid.delete_configuration to remove \
                     them before retrying.",
                    done.join("; ")
                )
            };
            AgentError::new(kind, format!("{}. {so_far}", clause(&msg)))
        };
        let before = server.wwns();
        let (cmd, array) = match &p.target {
            Target::NewArray { drives } => (
                ssacli::create_on_drives(&p.slot, drives, r.ssacli_raid(), r.size.mb()),
                None,
            ),
            Target::SharedWith { creator } => {
                let array =
                    shared_array(&server, p, *creator, &created).map_err(|m| fail(&done, m))?;
                check_capacity(runner, p, &array).map_err(|m| fail(&done, m))?;
                (
                    ssacli::create_in_array(&p.slot, &array, r.ssacli_raid(), r.size.mb()),
                    Some(array),
                )
            }
        };
        ssacli::run(
            runner,
            &cmd,
            kind,
            &format!("creating {} on '{}' failed", r.describe(), p.controller),
        )
        .map_err(|e| fail(&done, e.details))?;
        server = ssacli::read_server(runner, kind).map_err(|e| fail(&done, e.details))?;
        let new = find_new(&server, &before, p).ok_or_else(|| {
            fail(
                &done,
                format!(
                    "Newly created logical disk with raid_level '{}' and size {} GB not found \
                     on '{}' after `{cmd}` succeeded (no new Unique Identifier appeared)",
                    r.raid_level, r.size, p.controller
                ),
            )
        })?;
        let (c, a, l) = new;
        done.push(format!(
            "{} as logical drive {} in array {} ({})",
            r.describe(),
            l.id,
            a.id,
            l.wwn.as_deref().unwrap_or("?")
        ));
        if let Some(v) = &r.volume_name {
            if l.volume_name.as_deref() != Some(v) {
                tracing::warn!(
                    "{}: volume_name '{v}' cannot be set through ssacli; the controller named it {:?}",
                    r.describe(),
                    l.volume_name
                );
            }
        }
        let mut dict = crate::model::logical_drive_json(c, a, l);
        if let Some(array) = array {
            dict["array"] = json!(array);
        }
        created.push((r.index, dict));
    }
    // Enrich the input, keeping its order and the keys we do not overwrite.
    if let Some(lds) = result
        .get_mut("logical_disks")
        .and_then(Value::as_array_mut)
    {
        for (index, dict) in created {
            if let (Some(Value::Object(target)), Value::Object(add)) = (lds.get_mut(index), dict) {
                for (k, v) in add {
                    target.insert(k, v);
                }
            }
        }
    }
    if let Value::Object(m) = &mut result {
        m.insert("physical_disks".into(), json!(server.physical_disks_json()));
    }
    Ok(result)
}

/// The letter of the array created for logical disk `creator`, found through its WWN.
fn shared_array(
    server: &Server,
    p: &Placement,
    creator: usize,
    created: &[(usize, Value)],
) -> Result<String, String> {
    let wwn = created
        .iter()
        .find(|(i, _)| *i == creator)
        .and_then(|(_, d)| d["root_device_hint"]["wwn"].as_str())
        .ok_or_else(|| {
            format!(
                "{}: logical disk #{} should have created the array to share, but it was not created",
                p.request.describe(),
                creator + 1
            )
        })?;
    server
        .controller(&p.controller)
        .and_then(|c| {
            c.arrays.iter().find(|a| {
                a.logical_drives
                    .iter()
                    .any(|l| l.wwn.as_deref() == Some(wwn))
            })
        })
        .map(|a| a.id.clone())
        .ok_or_else(|| {
            format!(
                "{}: no array on '{}' holds logical drive {wwn} any more",
                p.request.describe(),
                p.controller
            )
        })
}

/// Asks the controller how much space a new logical drive of `raid` could get in `array`
/// (C5; `proliantutils/hpssa/objects.py: RaidArray.can_accomodate`): `Some(max MB)`, or
/// `None` when ssacli says the level is not possible there (exit 1) or prints no `Max:`.
/// Other failures are errors.
pub fn probe_capacity(
    runner: &dyn Runner,
    slot: &str,
    array: &str,
    raid: &str,
) -> Result<Option<u64>, String> {
    let cmd = ssacli::probe_array(slot, array, raid);
    let out = runner.run(&cmd).map_err(|e| ssacli::describe_failure(&e))?;
    Ok(if out.status == 0 {
        crate::model::probe_max_mb(&out.stdout)
    } else {
        None
    })
}

/// Whether the shared array has room, per the controller (`MAX` needs 1 GB).
fn check_capacity(runner: &dyn Runner, p: &Placement, array: &str) -> Result<(), String> {
    let r = &p.request;
    let max_mb = probe_capacity(runner, &p.slot, array, r.ssacli_raid()).map_err(|e| {
        format!(
            "{}: asking '{}' for the free space of array {array} failed: {e}",
            r.describe(),
            p.controller
        )
    })?;
    let desired_mb = r.size.mb().unwrap_or(1024);
    match max_mb {
        Some(max) if desired_mb <= max => Ok(()),
        Some(max) => Err(format!(
            "{}: array {array} on '{}' has room for {} GB only (Max: {max} MB)",
            r.describe(),
            p.controller,
            max / 1024
        )),
        None => Err(format!(
            "{}: array {array} on '{}' cannot hold a RAID {} logical drive",
            r.describe(),
            p.controller,
            r.raid_level
        )),
    }
}

/// The logical drive that appeared: its WWN is new. If several did, prefer the one on the
/// planned drives.
fn find_new<'a>(
    server: &'a Server,
    before: &[String],
    p: &Placement,
) -> Option<(&'a Controller, &'a Array, &'a crate::model::LogicalDrive)> {
    let new: Vec<_> = server
        .logical_drives()
        .filter(|(_, _, l)| l.wwn.as_ref().is_some_and(|w| !before.contains(w)))
        .collect();
    let on_planned = |a: &Array| match &p.target {
        Target::NewArray { drives } => drives
            .iter()
            .all(|d| a.physical_drives.iter().any(|x: &PhysicalDrive| x.id == *d)),
        Target::SharedWith { .. } => true,
    };
    let best = new
        .iter()
        .find(|(c, a, _)| c.id == p.controller && on_planned(a))
        .or_else(|| new.first())
        .copied();
    if let Some((_, a, _)) = best {
        if !on_planned(a) {
            tracing::warn!(
                "{}: the new logical drive is not on the planned drives",
                p.request.describe()
            );
        }
    }
    best
}

/// `delete_configuration`: deletes every logical drive on every RAID-mode controller that
/// has arrays, then reports the resulting configuration.
pub fn delete(runner: &dyn Runner, kind: ErrorKind) -> Result<Value, AgentError> {
    let server = ssacli::read_server(runner, kind)?;
    delete_on(runner, kind, &server)?;
    Ok(ssacli::read_server(runner, kind)?.configuration())
}

fn delete_on(runner: &dyn Runner, kind: ErrorKind, server: &Server) -> Result<(), AgentError> {
    let controllers = raid_controllers(server).map_err(|e| AgentError::new(kind, e))?;
    // ssacli fails on a controller without logical drives, so those are skipped.
    for c in controllers.into_iter().filter(|c| !c.arrays.is_empty()) {
        let slot = c.slot().ok_or_else(|| {
            AgentError::new(
                kind,
                format!(
                    "controller '{}' reports no usable 'Slot'; cannot delete its logical drives",
                    c.id
                ),
            )
        })?;
        ssacli::run(
            runner,
            &ssacli::delete_all(&slot),
            kind,
            &format!("deleting the logical drives of '{}' failed", c.id),
        )?;
    }
    Ok(())
}

/// The state `delete_on` would leave: every array on a RAID-mode controller dissolved
/// into unassigned drives. Lets `apply_configuration` reject a configuration before it
/// deletes anything.
fn after_delete(server: &Server) -> Server {
    let mut s = server.clone();
    for c in s.controllers.iter_mut().filter(|c| !c.is_hba()) {
        for a in std::mem::take(&mut c.arrays) {
            c.unassigned
                .extend(a.physical_drives.into_iter().map(|mut d| {
                    d.assigned = false;
                    d
                }));
        }
    }
    s
}

/// `apply_configuration(raid_config, delete_existing)`: optional delete, then create. The
/// configuration is planned against the post-delete state first, so an unusable one
/// deletes nothing.
pub fn apply(
    runner: &dyn Runner,
    kind: ErrorKind,
    raid_config: &Value,
    delete_existing: bool,
) -> Result<Value, AgentError> {
    let server = ssacli::read_server(runner, kind)?;
    if !delete_existing {
        return create_on(runner, kind, raid_config, server);
    }
    plan(&after_delete(&server), raid_config).map_err(|e| {
        AgentError::new(
            kind,
            format!("{}. Nothing was deleted or created.", clause(&e)),
        )
    })?;
    delete_on(runner, kind, &server)?;
    let server = ssacli::read_server(runner, kind)?;
    create_on(runner, kind, raid_config, server)
}
