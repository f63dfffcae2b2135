//! `deploy.erase_devices` (`hardware.py: HardwareManager.erase_devices`,
//! `GenericHardwareManager.erase_block_device`): select ([`super::select`]), check
//! ([`super::safety`]), decide ([`super::plan`]) — all before anything is written — then
//! stop the arrays that are not kept and erase ([`super::engine`]).

use super::engine::{self, RunConfig};
use super::options::NodeOptions;
use super::plan::{self, Plan};
use super::progress::DEFAULT_INTERVAL;
use super::safety;
use super::select::{self, Selection};
use super::EraseOptions;
use crate::raid::SkipList;
use crate::tools::{mdadm, DevPath};
use crate::Machine;
use ::blockdev::BlockDevice;
use hwmgr::{AgentError, Cancel, ErrorKind, Result, StepCall};
use serde_json::Value;
use std::time::Duration;

fn erase_error(details: impl Into<String>) -> AgentError {
    AgentError::new(ErrorKind::BlockDeviceEraseError, details)
}

/// `deploy.erase_devices` on the live machine, stopped by the agent's shutdown.
pub fn erase_devices(m: &Machine, call: &StepCall, opts: &EraseOptions) -> Result<Value> {
    let node = NodeOptions::from_call(call)?;
    let skip = SkipList::from_node(&call.node, ErrorKind::BlockDeviceEraseError)?;
    // Arrays must be assembled to be recognised as kept (the ramdisk has no udev to do it).
    // A machine without block devices has nothing to assemble: mdadm is not run there (an
    // agent on a fake machine root must not scan the real host's disks).
    if !::blockdev::list_block_devices(&m.host, false).is_empty() {
        if let Err(e) = m.run(&mdadm::assemble_scan()) {
            tracing::info!("{e} (ignored: nothing to assemble)");
        }
    }
    let (devices, md) = super::live_devices(m);
    let env = Env {
        devices: &devices,
        md: &md,
        cancel: hwmgr::cancel::global(),
        progress_every: DEFAULT_INTERVAL,
    };
    erase_devices_with(m, call, opts, &node, &skip, &env)
}

/// The machine's view and the run's knobs (tests pass their own).
pub struct Env<'a> {
    pub devices: &'a [BlockDevice],
    pub md: &'a [BlockDevice],
    pub cancel: &'a Cancel,
    pub progress_every: Duration,
}

pub fn erase_devices_with(
    m: &Machine,
    call: &StepCall,
    opts: &EraseOptions,
    node: &NodeOptions,
    skip: &SkipList,
    env: &Env,
) -> Result<Value> {
    let mut sel = select::select(m, env.devices, env.md, skip, node.skip_read_only);
    if !sel.read_only.is_empty() {
        return Err(erase_error(format!(
            "Failed to invoke erase of {}: read-only, and the conductor has not signalled that \
             skipping read-only disks is permitted. Set driver_internal_info.\
             agent_erase_skip_read_only ([deploy]erase_skip_read_only in ironic.conf) to true to \
             skip them, or make them writable. Nothing was erased.",
            sel.read_only.join(", ")
        )));
    }
    check_safety(m, call, opts, &mut sel)?;
    if sel.targets.is_empty() {
        tracing::info!("erase_devices: no device to erase");
        return Ok(Value::Object(
            engine::summarize(&[], &[], &sel.skipped, env.cancel).unwrap_or_default(),
        ));
    }
    if node.iterations == 0 && !node.zeroize {
        return Err(AgentError::new(
            ErrorKind::InvalidCommandParamsError,
            "agent_erase_devices_iterations is 0 and agent_erase_devices_zeroize is false: \
             overwriting would write nothing and leave the data in place. Set at least one \
             random pass or the zero pass. Nothing was erased.",
        ));
    }
    let plans = plan::plan_all(m, &sel.targets, env.devices, node).map_err(|refused| {
        erase_error(format!(
            "Cannot erase {} device(s) as configured: {}. Nothing was erased.",
            refused.len(),
            refused.join("; ")
        ))
    })?;
    let (plans, mut failed) = stop_arrays(m, &sel, plans);
    let cfg = RunConfig {
        iterations: node.iterations,
        zeroize: node.zeroize,
        fallback: node.continue_if_secure_erase_failed,
        workers: node.workers(plans.len()),
        progress_every: env.progress_every,
    };
    let outcomes = engine::erase_all(m, &plans, &cfg, env.cancel);
    reread_erased_disks(m, &plans, &outcomes);
    let mut all_plans = plans;
    let mut all_outcomes = outcomes;
    for (plan, why) in failed.drain(..) {
        all_plans.push(plan);
        all_outcomes.push(engine::Outcome::Failed(why));
    }
    match engine::summarize(&all_plans, &all_outcomes, &sel.skipped, env.cancel) {
        Ok(result) => Ok(Value::Object(result)),
        Err(e) => Err(erase_error(e)),
    }
}

/// The special-filesystem check of every target (nothing written when one is protected);
/// the virtual-media label moves a device to the skipped list.
fn check_safety(
    m: &Machine,
    call: &StepCall,
    opts: &EraseOptions,
    sel: &mut Selection,
) -> Result<()> {
    let guard = safety::guard_enabled(call, opts.guard_special_filesystems);
    let mut protected = Vec::new();
    let mut failures = Vec::new();
    let mut keep = Vec::new();
    for t in sel.targets.drain(..) {
        match safety::device_facts(m, t.name(), &t.dev.partitions) {
            Err(e) => failures.push(format!("{}: safety check failed: {e}", t.name())),
            Ok(f) if f.virtual_media => sel
                .skipped
                .push((t.name().to_string(), "virtual media device".into())),
            Ok(f) => {
                if guard && !f.protected.is_empty() {
                    protected.push(format!("{} ({})", t.name(), f.protected.join(", ")));
                }
                keep.push(t);
            }
        }
    }
    sel.targets = keep;
    if !protected.is_empty() {
        return Err(safety::protected_error("erase_devices", &protected));
    }
    if !failures.is_empty() {
        return Err(erase_error(format!(
            "{}. Nothing was erased.",
            failures.join("; ")
        )));
    }
    Ok(())
}

/// Stops the arrays that are not kept; the plans of devices under an array that would not
/// stop come back as failures.
fn stop_arrays(m: &Machine, sel: &Selection, plans: Vec<Plan>) -> (Vec<Plan>, Vec<(Plan, String)>) {
    let mut blocked: Vec<(String, String)> = Vec::new();
    for md in &sel.stop_arrays {
        let Ok(path) = DevPath::new(md) else {
            continue;
        };
        tracing::info!("stopping {md}: it is not kept, its member disks are erased whole");
        if let Err(e) = m.run(&mdadm::stop(&path)) {
            blocked.push((md.clone(), e.to_string()));
        }
    }
    if blocked.is_empty() {
        return (plans, Vec::new());
    }
    let arrays = ::blockdev::list_md_arrays(&m.host);
    let members_of = |md: &str| {
        arrays
            .iter()
            .find(|a| a.name == md)
            .map(|a| a.slaves.clone())
            .unwrap_or_default()
    };
    let mut ok = Vec::new();
    let mut failed = Vec::new();
    for plan in plans {
        let t = &plan.target;
        let hit = blocked.iter().find(|(md, _)| {
            members_of(md)
                .iter()
                .any(|mb| mb == t.name() || t.dev.partitions.contains(mb))
        });
        match hit {
            Some((md, e)) => {
                let why = format!("{}: stopping {md} (on it) failed: {e}", t.name());
                failed.push((plan, why));
            }
            None => ok.push(plan),
        }
    }
    (ok, failed)
}

/// The kernel forgets the partitions of the whole disks that were erased.
fn reread_erased_disks(m: &Machine, plans: &[Plan], outcomes: &[engine::Outcome]) {
    for (p, o) in plans.iter().zip(outcomes) {
        if matches!(o, engine::Outcome::Erased(_)) && p.target.whole_disk() {
            m.reread_partition_table(p.target.name());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::erase::testutil::fixture;
    use ::blockdev::DevType;
    use hwmgr::{Cmd, CmdOutput, CommandError, Host, Runner, StepKind};
    use serde_json::json;
    use std::path::{Path, PathBuf};
    use std::sync::Arc;
    use testkit::RecordingRunner;

    const SIZE: usize = 1 << 20;

    /// Tenant data: not one repeated byte, so a hardware erase that changes nothing shows.
    fn pattern() -> Vec<u8> {
        b"tenant-data-0123"
            .iter()
            .copied()
            .cycle()
            .take(SIZE)
            .collect()
    }

    /// A recording runner whose `nvme format` really zeroes the (file) namespace, as a
    /// drive would.
    struct Drive {
        rec: RecordingRunner,
        zero_on_format: bool,
    }

    impl Runner for Drive {
        fn run(&self, cmd: &Cmd) -> std::result::Result<CmdOutput, CommandError> {
            let out = self.rec.run(cmd)?;
            if self.zero_on_format && cmd.program == "nvme" && cmd.args[0] == "format" {
                std::fs::write(&cmd.args[1], vec![0u8; SIZE]).unwrap();
            }
            Ok(out)
        }
        fn has_program(&self, p: &str) -> bool {
            self.rec.has_program(p)
        }
    }

    struct Bed {
        _dir: tempfile::TempDir,
        root: PathBuf,
        m: Machine,
        rec: RecordingRunner,
        devices: Vec<BlockDevice>,
    }

    fn bed(names: &[&str], zero_on_format: bool) -> Bed {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        std::fs::create_dir_all(root.join("dev")).unwrap();
        let rec = RecordingRunner::new();
        rec.on(&["lsblk"], r#"{"blockdevices": [{"fstype": null}]}"#)
            .fail(
                &["hdparm", "-I"],
                25,
                "HDIO_DRIVE_CMD(identify) failed: Inappropriate ioctl for device",
            )
            .on(
                &["nvme", "id-ctrl"],
                &fixture("nvme-id-ctrl-userdata-only.json"),
            );
        let devices = names
            .iter()
            .map(|n| {
                std::fs::write(root.join("dev").join(n), pattern()).unwrap();
                BlockDevice {
                    name: format!("/dev/{n}"),
                    kname: n.to_string(),
                    dev_type: DevType::Disk,
                    size: SIZE as u64,
                    logical_sectors: 512,
                    ..Default::default()
                }
            })
            .collect();
        let runner = Arc::new(Drive {
            rec: rec.clone(),
            zero_on_format,
        });
        let m = Machine::new(Host::new(&root), runner);
        Bed {
            _dir: dir,
            root,
            m,
            rec,
            devices,
        }
    }

    fn erase(b: &Bed, info: Value, cancel: &Cancel) -> Result<Value> {
        let call = StepCall::new(
            StepKind::Clean,
            json!({"driver_internal_info": info}),
            json!([]),
            Default::default(),
        );
        let node = NodeOptions::from_call(&call)?;
        let env = Env {
            devices: &b.devices,
            md: &[],
            cancel,
            progress_every: Duration::from_millis(5),
        };
        erase_devices_with(
            &b.m,
            &call,
            &EraseOptions::default(),
            &node,
            &SkipList::default(),
            &env,
        )
    }

    fn content(root: &Path, n: &str) -> Vec<u8> {
        std::fs::read(root.join("dev").join(n)).unwrap()
    }

    #[test]
    fn every_disk_is_overwritten_in_parallel_and_verified() {
        let b = bed(&["vda", "vdb", "sda"], false);
        let out = erase(
            &b,
            json!({"agent_erase_devices_iterations": 2}),
            &Cancel::new(),
        )
        .unwrap();
        for n in ["vda", "vdb", "sda"] {
            assert!(
                content(&b.root, n).iter().all(|x| *x == 0),
                "{n} not zeroed"
            );
            let r = &out[format!("/dev/{n}")];
            assert_eq!(r["method"], "overwrite", "{out:#}");
            assert_eq!(r["passes"], json!(["random", "random", "zeros"]));
            assert_eq!(r["bytes"], 3 * SIZE as u64);
            assert_eq!(r["verification"]["result"], "passed");
        }
        assert!(b
            .rec
            .lines()
            .contains(&format!("blockdev --rereadpt {}/dev/vda", b.root.display())));
    }

    #[test]
    fn without_zeroize_the_random_pass_is_left_and_verified() {
        let b = bed(&["vda"], false);
        let out = erase(
            &b,
            json!({"agent_erase_devices_zeroize": false}),
            &Cancel::new(),
        )
        .unwrap();
        let data = content(&b.root, "vda");
        let same = data
            .iter()
            .zip(pattern())
            .filter(|(a, b)| **a == *b)
            .count();
        assert!(same < SIZE / 100, "{same} bytes unchanged");
        assert_eq!(
            out["/dev/vda"]["verification"]["checked"],
            "the random pass"
        );
        let e = erase(
            &b,
            json!({"agent_erase_devices_zeroize": false, "agent_erase_devices_iterations": 0}),
            &Cancel::new(),
        )
        .unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidCommandParamsError);
    }

    #[test]
    fn a_vanished_device_fails_alone_and_is_named() {
        let b = bed(&["vda", "vdb", "vdc"], false);
        std::fs::remove_file(b.root.join("dev/vdb")).unwrap();
        let e = erase(&b, json!({}), &Cancel::new()).unwrap_err();
        assert_eq!(e.kind, ErrorKind::BlockDeviceEraseError);
        assert!(
            e.details.starts_with(
                "Failed to erase 1 of 3 device(s): opening /dev/vdb for writing failed"
            ),
            "{}",
            e.details
        );
        assert!(e.details.contains("(the device vanished)"), "{}", e.details);
        assert!(
            e.details.ends_with("Erased: /dev/vda, /dev/vdc."),
            "{}",
            e.details
        );
        assert!(content(&b.root, "vda").iter().all(|x| *x == 0));
        assert!(content(&b.root, "vdc").iter().all(|x| *x == 0));
    }

    #[test]
    fn nvme_format_is_used_and_checked() {
        let b = bed(&["nvme0n1", "vda"], true);
        let out = erase(&b, json!({}), &Cancel::new()).unwrap();
        let r = &out["/dev/nvme0n1"];
        assert_eq!(r["method"], "nvme_format", "{out:#}");
        assert_eq!(r["secure_erase_setting"], 1);
        assert_eq!(r["verification"]["result"], "passed");
        let formats: Vec<String> = b
            .rec
            .lines()
            .into_iter()
            .filter(|l| l.starts_with("nvme format"))
            .collect();
        assert_eq!(
            formats,
            vec![format!(
                "nvme format {}/dev/nvme0n1 -s 1 -f",
                b.root.display()
            )]
        );
        assert_eq!(out["/dev/vda"]["method"], "overwrite");
    }

    #[test]
    fn a_format_that_changes_nothing_fails_verification() {
        let b = bed(&["nvme0n1"], false);
        let e = erase(&b, json!({}), &Cancel::new()).unwrap_err();
        assert!(e.details.contains("NVMe format of /dev/nvme0n1 reported success but the data at offset 0 is unchanged"), "{}", e.details);
        // With the fallback the namespace is overwritten and the note says why.
        let out = erase(
            &b,
            json!({"agent_continue_if_secure_erase_failed": true}),
            &Cancel::new(),
        )
        .unwrap();
        assert_eq!(out["/dev/nvme0n1"]["method"], "overwrite");
        assert!(out["/dev/nvme0n1"]["notes"][0]
            .as_str()
            .unwrap()
            .contains("unchanged; overwritten instead"));
        assert!(content(&b.root, "nvme0n1").iter().all(|x| *x == 0));
    }

    #[test]
    fn a_failing_format_is_reported_with_command_and_the_others_are_erased() {
        let b = bed(&["nvme0n1", "vda"], true);
        b.rec
            .fail(&["nvme", "format"], 1, "NVMe status: Invalid Format(0x10a)");
        let e = erase(&b, json!({}), &Cancel::new()).unwrap_err();
        for want in [
            "`nvme format ",
            "exited with code 1; stderr: NVMe status: Invalid Format(0x10a)",
            "possibly only partly erased",
        ] {
            assert!(e.details.contains(want), "{want:?} not in {}", e.details);
        }
        assert!(e.details.ends_with("Erased: /dev/vda."), "{}", e.details);
    }

    #[test]
    fn read_only_disks_are_refused_or_skipped_by_option() {
        let mut b = bed(&["vda", "vdb"], false);
        b.devices[1].read_only = true;
        let e = erase(&b, json!({}), &Cancel::new()).unwrap_err();
        assert!(
            e.details
                .starts_with("Failed to invoke erase of /dev/vdb: read-only"),
            "{}",
            e.details
        );
        assert!(e.details.contains("agent_erase_skip_read_only"));
        assert!(
            content(&b.root, "vda") == pattern(),
            "nothing written before refusing"
        );
        let out = erase(
            &b,
            json!({"agent_erase_skip_read_only": true}),
            &Cancel::new(),
        )
        .unwrap();
        assert_eq!(
            out["/dev/vdb"],
            json!({"skipped": "read-only (agent_erase_skip_read_only is true)"})
        );
        assert!(content(&b.root, "vdb") == pattern());
        assert!(content(&b.root, "vda").iter().all(|x| *x == 0));
    }

    #[test]
    fn a_protected_device_stops_everything_before_a_write() {
        let b = bed(&["vda", "vdb"], false);
        b.rec.on(
            &[
                "lsblk",
                "-bia",
                "--json",
                "-oUUID,PTUUID,PARTTYPE,PARTUUID,FSTYPE,LABEL",
                &format!("{}/dev/vdb", b.root.display()),
            ],
            r#"{"blockdevices": [{"fstype": "gfs2"}]}"#,
        );
        let e = erase(&b, json!({}), &Cancel::new()).unwrap_err();
        assert_eq!(e.kind, ErrorKind::ProtectedDeviceError);
        assert!(
            e.details
                .contains("/dev/vdb (Red Hat Global File System 2 (gfs2))"),
            "{}",
            e.details
        );
        assert!(content(&b.root, "vda") == pattern());
    }

    #[test]
    fn cancellation_reports_what_was_not_erased() {
        let b = bed(&["vda", "vdb"], false);
        let c = Cancel::new();
        c.cancel("the agent is shutting down (SIGTERM)");
        let e = erase(&b, json!({}), &c).unwrap_err();
        assert_eq!(
            e.details,
            "Erasure stopped: the agent is shutting down (SIGTERM). Finished: none; not started: /dev/vda, /dev/vdb."
        );
        assert!(content(&b.root, "vda") == pattern());
    }

    #[test]
    fn malformed_options_fail_before_anything() {
        let b = bed(&["vda"], false);
        let e = erase(
            &b,
            json!({"disk_erasure_concurrency": "many"}),
            &Cancel::new(),
        )
        .unwrap_err();
        assert!(e
            .details
            .contains("driver_internal_info.disk_erasure_concurrency is \"many\""));
        assert!(b.rec.lines().is_empty());
    }
}
