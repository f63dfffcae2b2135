//! Unit tests: hand-built block devices, scripted mdadm output, exact command lines.

use super::create::{apply_with, create_with, run_plan};
use super::delete::run_delete;
use super::mdadm::samples::*;
use super::plan::{plan_inner, Action, ArrayName, BootMode, PartTable, Start};
use super::report::{CreateCause, CreateFailure, ToolFailure, Undo};
use super::*;
use crate::tools::DevPath;
use crate::Machine;
use blockdev::DevType;
use hwmgr::Host;
use serde_json::{json, Value};
use std::cell::RefCell;
use std::collections::VecDeque;
use std::sync::Arc;
use testkit::RecordingRunner;

const G: u64 = 1 << 30;

/// What every hand-built device has: its names, type and size.
fn block(name: &str, dev_type: DevType, size: u64) -> BlockDevice {
    BlockDevice {
        name: format!("/dev/{name}"),
        kname: name.into(),
        dev_type,
        size,
        ..Default::default()
    }
}

fn disk(name: &str, gib: u64) -> BlockDevice {
    BlockDevice {
        serial: Some(format!("SER-{name}")),
        logical_sectors: 512,
        physical_sectors: 512,
        ..block(name, DevType::Disk, gib * G)
    }
}

fn part(name: &str, parent: &str) -> BlockDevice {
    BlockDevice {
        parent: Some(format!("/dev/{parent}")),
        ..block(name, DevType::Part, G)
    }
}

fn md(name: &str, vol: Option<&str>, slaves: &[&str]) -> BlockDevice {
    BlockDevice {
        md_name: vol.map(String::from),
        slaves: slaves.iter().map(|s| format!("/dev/{s}")).collect(),
        ..block(name, DevType::Raid("raid1".into()), G)
    }
}

/// A scripted machine view: fixed devices, md arrays changing per call.
struct Fake {
    devices: Vec<BlockDevice>,
    md: RefCell<VecDeque<Vec<BlockDevice>>>,
    uefi: bool,
}

impl Fake {
    fn new(devices: Vec<BlockDevice>) -> Fake {
        Fake {
            devices,
            md: RefCell::new(VecDeque::from([vec![]])),
            uefi: false,
        }
    }
    /// Successive answers of `md_arrays()`; the last one repeats.
    fn md_seq(self, seq: Vec<Vec<BlockDevice>>) -> Fake {
        *self.md.borrow_mut() = seq.into();
        self
    }
}

impl DeviceSource for Fake {
    fn block_devices(&self, with_partitions: bool) -> Vec<BlockDevice> {
        self.devices
            .iter()
            .filter(|d| with_partitions || d.dev_type != DevType::Part)
            .cloned()
            .collect()
    }
    fn md_arrays(&self) -> Vec<BlockDevice> {
        let mut q = self.md.borrow_mut();
        if q.len() > 1 {
            q.pop_front().unwrap()
        } else {
            q.front().cloned().unwrap_or_default()
        }
    }
    fn ramdisk_is_uefi(&self) -> bool {
        self.uefi
    }
}

fn dev(p: &str) -> DevPath {
    DevPath::new(p).unwrap()
}

fn machine() -> (Machine, RecordingRunner) {
    let r = RecordingRunner::new();
    (Machine::new(Host::new("/fake"), Arc::new(r.clone())), r)
}

/// Whether `lines` is an interleaving of `seqs` (each sequence's lines in its order, every
/// line used once): the disks are partitioned side by side.
fn interleaves(lines: &[String], seqs: &[Vec<&str>]) -> bool {
    fn go(lines: &[String], seqs: &[Vec<&str>], at: &mut Vec<usize>) -> bool {
        let Some((first, rest)) = lines.split_first() else {
            return seqs.iter().zip(at.iter()).all(|(s, &i)| i == s.len());
        };
        for k in 0..seqs.len() {
            if seqs[k].get(at[k]) == Some(&first.as_str()) {
                at[k] += 1;
                if go(rest, seqs, at) {
                    return true;
                }
                at[k] -= 1;
            }
        }
        false
    }
    go(lines, seqs, &mut vec![0; seqs.len()])
}

/// A runner that holds a command starting with `hold` until a command starting with
/// `after` has run (at most 5 s): a failure on one disk after another disk's work.
struct Gated {
    inner: RecordingRunner,
    hold: Vec<&'static str>,
    after: &'static str,
}

impl hwmgr::Runner for Gated {
    fn run(&self, cmd: &hwmgr::Cmd) -> std::result::Result<hwmgr::CmdOutput, hwmgr::CommandError> {
        if cmd
            .argv()
            .starts_with(&self.hold.iter().map(|s| s.to_string()).collect::<Vec<_>>())
        {
            let t0 = std::time::Instant::now();
            while !self.inner.lines().iter().any(|l| l.starts_with(self.after))
                && t0.elapsed() < std::time::Duration::from_secs(5)
            {
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
        }
        self.inner.run(cmd)
    }

    fn has_program(&self, program: &str) -> bool {
        self.inner.has_program(program)
    }
}

/// An md array as mdadm describes it to these tests (the texts of `mdadm::samples`).
#[derive(Clone, Copy)]
struct Md<'a> {
    /// The kernel's device, which `--detail` prints first (`/dev/md127`).
    dev: &'a str,
    level: &'a str,
    uuid: &'a str,
    name: &'a str,
    members: &'a [&'a str],
}

const SD_FIRST: &[&str] = &["/dev/sda1", "/dev/sdb1"];
const SD_SECOND: &[&str] = &["/dev/sda2", "/dev/sdb2"];
/// The RAID-1 `root` on the first partitions of two SATA disks, as assembled after a boot.
const ROOT_SD: Md = Md::new("/dev/md127", "raid1", UUID_ROOT, "root", SD_FIRST);
/// The RAID-0 `data` on their second partitions.
const DATA_SD: Md = Md::new("/dev/md126", "raid0", UUID_DATA, "data", SD_SECOND);
/// `root` on two virtio disks.
const ROOT_VD: Md = ROOT_SD.on(&["/dev/vda1", "/dev/vdb1"]);

impl<'a> Md<'a> {
    const fn new(
        dev: &'a str,
        level: &'a str,
        uuid: &'a str,
        name: &'a str,
        members: &'a [&'a str],
    ) -> Self {
        Md {
            dev,
            level,
            uuid,
            name,
            members,
        }
    }

    /// The same array on other members.
    const fn on(self, members: &'a [&'a str]) -> Self {
        Md { members, ..self }
    }
}

/// Scripts a recorded mdadm sequence on a [`RecordingRunner`]: what `mdadm --detail` of an
/// array and `mdadm --examine` of a device print. Paths are machine paths (`/dev/...`); the
/// runner sees them under the machine's root (`/fake` for [`machine`]).
struct MdadmScript<'r> {
    r: &'r RecordingRunner,
    root: String,
    /// How often each answer added from now on is given (`None`: every time); once used
    /// up, the command prints nothing, as mdadm does once the array or superblock is gone.
    times: Option<usize>,
}

/// A script for the machine of [`machine`].
fn mdadm(r: &RecordingRunner) -> MdadmScript<'_> {
    mdadm_under(r, "/fake")
}

/// A script for a machine rooted at `root`.
fn mdadm_under<'r>(r: &'r RecordingRunner, root: &str) -> MdadmScript<'r> {
    let root = root.into();
    MdadmScript {
        r,
        root,
        times: None,
    }
}

impl MdadmScript<'_> {
    /// Answers added from now on are given once.
    fn once(mut self) -> Self {
        self.times = Some(1);
        self
    }

    /// `mdadm <op> <dev>` prints `stdout`.
    fn answer(self, op: &str, dev: &str, stdout: &str) -> Self {
        let at = format!("{}{dev}", self.root);
        let argv = ["mdadm", op, at.as_str()];
        match self.times {
            Some(n) => self.r.on_times(&argv, stdout, n),
            None => self.r.on(&argv, stdout),
        };
        self
    }

    /// `mdadm --detail <at>` (the path the code asks for: `/dev/md/root`, `/dev/md127`)
    /// describes `md`.
    fn detail(self, at: &str, md: &Md) -> Self {
        let text = detail(md.dev, md.level, md.uuid, md.name, md.members);
        self.answer("--detail", at, &text)
    }

    /// `mdadm --examine` of each of `md`'s members finds the member's superblock.
    fn members(self, md: &Md) -> Self {
        md.members.iter().fold(self, |s, m| {
            s.answer("--examine", m, &examine(m, md.uuid, md.name))
        })
    }

    /// `mdadm --examine <dev>` prints `stdout`.
    fn examine(self, dev: &str, stdout: &str) -> Self {
        self.answer("--examine", dev, stdout)
    }
}

/// Creates the one-RAID-1 config (10 GiB) on [`two_disks`] for a node booting in `boot` mode.
fn create_mirror(m: &Machine, boot: &str) -> hwmgr::Result<Value> {
    create_with(
        m,
        &Fake::new(two_disks()),
        &node(boot),
        &cfg(vec![r1(json!(10))]),
    )
}

/// Like [`create_mirror`], for a create that must fail: its structured failure.
fn mirror_failure(m: &Machine, boot: &str) -> CreateFailure {
    create_failure(
        m,
        &Fake::new(two_disks()),
        &node(boot),
        &cfg(vec![r1(json!(10))]),
    )
}

fn node(boot: &str) -> Value {
    json!({"uuid": "n1", "instance_info": {"deploy_boot_mode": boot}})
}

fn env(devices: Vec<BlockDevice>) -> PlanEnv {
    PlanEnv {
        devices,
        md_arrays: vec![],
        ramdisk_uefi: false,
    }
}

fn two_disks() -> Vec<BlockDevice> {
    vec![disk("sda", 100), disk("sdb", 100)]
}

fn r1(size: Value) -> Value {
    json!({"size_gb": size, "raid_level": "1", "controller": "software"})
}

fn cfg(lds: Vec<Value>) -> Value {
    json!({ "logical_disks": lds })
}

/// Plans and runs a create that must fail; its structured failure.
fn create_failure(m: &Machine, src: &dyn DeviceSource, node: &Value, c: &Value) -> CreateFailure {
    let plan = plan_inner(&PlanEnv::from_source(src), node, c, true).unwrap();
    *run_plan(m, &plan).unwrap_err()
}

/// Checks what a failed command says: why it ran, its argv, exit code and stderr.
fn assert_failed(t: &ToolFailure, doing: &str, command: &str, code: i32, stderr: &str) {
    assert_eq!(t.doing, doing);
    assert_eq!(t.error.command, command);
    assert_eq!(t.error.exit_code(), Some(code));
    assert_eq!(t.error.stderr, stderr);
}

/// The command that stopped a create.
fn failed_command(f: &CreateFailure) -> &ToolFailure {
    match &f.cause {
        CreateCause::Command(t) => t,
        other => panic!("not a command failure: {other:?}"),
    }
}

fn plan_err(env: &PlanEnv, node: &Value, c: &Value) -> String {
    let e = plan_create_with(env, node, c).unwrap_err();
    assert_eq!(e.kind, hwmgr::ErrorKind::SoftwareRAIDError);
    e.details
}

// ------------------------------------------------------------------ validation

#[test]
fn a_typical_config_is_accepted() {
    let c = cfg(vec![
        json!({"size_gb": 10, "raid_level": "1", "controller": "software", "volume_name": "root", "is_root_volume": true}),
        json!({"size_gb": "MAX", "raid_level": "0", "controller": "software", "volume_name": "data"}),
    ]);
    let p = plan_create_with(&env(two_disks()), &node("uefi"), &c).unwrap();
    assert_eq!(p.arrays.len(), 2);
    assert_eq!(p.arrays[0].device, "/dev/md/root");
    assert_eq!(p.arrays[1].device, "/dev/md/data");
}

#[test]
fn ipa_rules_are_reported_together() {
    let c = cfg(vec![
        json!({"size_gb": "MAX", "raid_level": "5", "controller": "hardware", "volume_name": "a", "is_root_volume": true}),
        json!({"size_gb": "MAX", "raid_level": "JBOD", "controller": "software", "volume_name": "a", "is_root_volume": true}),
    ]);
    let d = plan_err(&env(two_disks()), &node("uefi"), &c);
    assert!(
        d.starts_with("Could not validate Software RAID config for n1: "),
        "{d}"
    );
    for needle in [
        "logical_disks[0]: software RAID needs \"controller\": \"software\" (got \"hardware\")",
        "duplicate volume_name \"a\"",
        "only one logical disk may be the root volume, 2 are",
        "the first logical disk must be RAID-1",
        "only one logical disk may have size_gb MAX",
        "the second logical disk's RAID level must be one of 0, 1, 1+0, 5, 6, got JBOD",
    ] {
        assert!(d.contains(needle), "missing {needle:?} in {d}");
    }
    assert_eq!(d.matches("; ").count(), 5, "{d}");
}

#[test]
fn logical_disk_count_and_missing_controller() {
    let three = cfg(vec![r1(json!(1)), r1(json!(1)), r1(json!(1))]);
    assert!(plan_err(&env(two_disks()), &node("uefi"), &three)
        .contains("requires one or two logical disks, got 3"));
    let no_ctrl = cfg(vec![json!({"size_gb": 1, "raid_level": "1"})]);
    assert!(plan_err(&env(two_disks()), &node("uefi"), &no_ctrl).contains("(got none)"));
}

#[test]
fn schema_errors_and_ipa_rules_come_in_one_error() {
    let c = cfg(vec![
        json!({"size_gb": "lots", "raid_level": "1", "controller": "software", "bogus": 1,
                            "physical_disks": [{"name": "/dev/sda"}]}),
    ]);
    let d = plan_err(&env(two_disks()), &node("uefi"), &c);
    assert!(
        d.contains("size_gb must be an integer >= 0 or \"MAX\""),
        "{d}"
    );
    assert!(
        d.contains("physical_disks must be a list of at least two device-hint objects"),
        "{d}"
    );
    assert!(!d.contains("bogus"), "unknown keys are warnings: {d}");
}

#[test]
fn unknown_keys_become_plan_notes() {
    let mut ld = r1(json!(1));
    ld["block_devices"] = json!(["/dev/sda"]);
    let p = plan_create_with(&env(two_disks()), &node("uefi"), &cfg(vec![ld])).unwrap();
    assert!(
        p.notes
            .iter()
            .any(|n| n.contains("unknown property \"block_devices\"")),
        "{:?}",
        p.notes
    );
}

#[test]
fn skip_list_volume_names_require_volume_names() {
    let n = json!({"uuid": "n1", "properties": {"skip_block_devices": [{"volume_name": "data"}]}});
    let d = plan_err(&env(two_disks()), &n, &cfg(vec![r1(json!(1))]));
    assert!(d.contains("logical_disks[0] has no volume_name"), "{d}");
}

#[test]
fn second_disk_levels() {
    let four = vec![
        disk("sda", 100),
        disk("sdb", 100),
        disk("sdc", 100),
        disk("sdd", 100),
    ];
    for lvl in ["0", "1", "1+0", "5", "6"] {
        let c = cfg(vec![
            r1(json!(10)),
            json!({"size_gb": "MAX", "raid_level": lvl, "controller": "software"}),
        ]);
        let p = plan_create_with(&env(four.clone()), &node("uefi"), &c).unwrap();
        let want = if lvl == "1+0" { "10" } else { lvl };
        assert_eq!(p.arrays[1].level.arg(), want);
    }
    for lvl in ["2", "5+0", "6+0", "JBOD"] {
        let c = cfg(vec![
            r1(json!(10)),
            json!({"size_gb": "MAX", "raid_level": lvl, "controller": "software"}),
        ]);
        assert!(plan_err(&env(four.clone()), &node("uefi"), &c)
            .contains("second logical disk's RAID level"));
    }
}

#[test]
fn level_minimums_are_mdadms_on_the_disks_actually_used() {
    let l = |lvl: &str| {
        cfg(vec![
            r1(json!(10)),
            json!({"size_gb": "MAX", "raid_level": lvl, "controller": "software"}),
        ])
    };
    let three = vec![disk("sda", 100), disk("sdb", 100), disk("sdc", 100)];
    for lvl in ["5", "1+0"] {
        let p = plan_create_with(&env(three.clone()), &node("uefi"), &l(lvl)).unwrap();
        assert_eq!(p.arrays[1].members.len(), 3, "RAID {lvl}");
        // Three disks give RAID-1+0 (near layout) and RAID-5 more than a mirror.
        assert_eq!(p.notes, Vec::<String>::new(), "RAID {lvl}");
    }
    let d = plan_err(&env(three.clone()), &node("uefi"), &l("6"));
    assert_eq!(d, "Could not validate Software RAID config for n1: logical_disks[1] (RAID 6) needs at least 4 disks, gets 3 (/dev/sda, /dev/sdb, /dev/sdc)");
    // RAID-5 and RAID-1+0 on two disks: mdadm builds them, with a note.
    for lvl in ["5", "1+0"] {
        let p = plan_create_with(&env(two_disks()), &node("uefi"), &l(lvl)).unwrap();
        let want = if lvl == "5" { "5" } else { "10" };
        assert_eq!(p.arrays[1].level.arg(), want);
        assert_eq!(p.arrays[1].members, ["/dev/sda2", "/dev/sdb2"]);
        assert_eq!(
            p.notes,
            [format!(
                "logical_disks[1] (RAID {lvl}) gets two disks (/dev/sda, /dev/sdb): mdadm builds \
                 it, but it gives no more than a mirror (the capacity and redundancy of RAID-1)"
            )]
        );
        assert!(p.command_lines().contains(&format!(
            "mdadm --create /dev/md1 --force --run --metadata=1.2 --level {want} --name md1 --raid-devices 2 /dev/sda2 /dev/sdb2"
        )));
    }
    // IPA counts all disks; we count the hinted ones: RAID-5 on two hinted disks of three.
    let hinted = cfg(vec![
        r1(json!(10)),
        json!({"size_gb": "MAX", "raid_level": "5", "controller": "software",
               "physical_disks": [{"name": "/dev/sda"}, {"name": "/dev/sdb"}]}),
    ]);
    let p = plan_create_with(&env(three), &node("uefi"), &hinted).unwrap();
    assert_eq!(p.arrays[1].disks, ["/dev/sda", "/dev/sdb"]);
    // RAID-1 and RAID-0 on a one-disk machine: IPA builds them (mdadm --force), so do we,
    // and the plan says there is no redundancy.
    let one = vec![disk("sda", 100)];
    let p = plan_create_with(&env(one.clone()), &node("uefi"), &cfg(vec![r1(json!(10))])).unwrap();
    assert_eq!(
        p.notes,
        ["logical_disks[0] (RAID 1) gets a single disk, /dev/sda: it is built as IPA does, with no redundancy"]
    );
    let d = plan_err(&env(one), &node("uefi"), &l("1+0"));
    assert!(
        d.ends_with("logical_disks[1] (RAID 1+0) needs at least 2 disks, gets 1 (/dev/sda)"),
        "{d}"
    );
    let d = plan_err(&env(vec![]), &node("uefi"), &cfg(vec![r1(json!(10))]));
    assert!(d.ends_with("needs at least 1 disk, gets 0"), "{d}");
}

#[test]
fn a_skip_list_never_degrades_a_redundant_array() {
    let skip_sdb = json!({"uuid": "n1", "instance_info": {"deploy_boot_mode": "uefi"},
                          "properties": {"skip_block_devices": [{"serial": "SER-sdb"}]}});
    // RAID-1 over the disks that are left: one. Refused, naming the skipped disk.
    let (m, r) = machine();
    let e = create_with(
        &m,
        &Fake::new(two_disks()),
        &skip_sdb,
        &cfg(vec![r1(json!(10))]),
    )
    .unwrap_err();
    assert_eq!(e.kind, hwmgr::ErrorKind::SoftwareRAIDError);
    assert_eq!(
        e.details,
        "Could not validate Software RAID config for n1: logical_disks[0] (RAID 1) would be \
         built on /dev/sda alone, without redundancy, because skip_block_devices leaves out \
         /dev/sdb; name the member disks in physical_disks, or take the disk off \
         skip_block_devices"
    );
    assert_eq!(r.lines(), Vec::<String>::new(), "nothing runs");
    // A level that needs two disks says the same.
    let c = cfg(vec![
        r1(json!(10)),
        json!({"size_gb": "MAX", "raid_level": "5", "controller": "software"}),
    ]);
    let d = plan_err(&env(two_disks()), &skip_sdb, &c);
    assert!(d.contains("logical_disks[1] (RAID 5) needs at least 2 disks, gets 1 (/dev/sda); skip_block_devices leaves out /dev/sdb: name the member disks in physical_disks instead"), "{d}");
    // Three disks, one skipped: a full RAID-1 on the other two.
    let three = vec![disk("sda", 100), disk("sdb", 100), disk("sdc", 100)];
    let p = plan_create_with(&env(three.clone()), &skip_sdb, &cfg(vec![r1(json!(10))])).unwrap();
    assert_eq!(p.arrays[0].disks, ["/dev/sda", "/dev/sdc"]);
    assert_eq!(
        p.notes,
        ["/dev/sdb is in skip_block_devices and is not used"]
    );
    // physical_disks decide on their own: the skip list leaves the hinted members alone.
    let hinted = cfg(vec![
        json!({"size_gb": 10, "raid_level": "1", "controller": "software",
        "physical_disks": [{"name": "/dev/sda"}, {"name": "/dev/sdc"}]}),
    ]);
    assert!(plan_create_with(&env(three), &skip_sdb, &hinted).is_ok());
    // Without a skip list, one disk is IPA's one-member RAID-1 (tested above).
}

#[test]
fn sizes_must_fit_on_every_member() {
    // 100 GiB disks, GPT: the last 33 sectors hold the backup header.
    let fits = cfg(vec![r1(json!(99))]);
    assert!(plan_create_with(&env(two_disks()), &node("uefi"), &fits).is_ok());
    let d = plan_err(&env(two_disks()), &node("uefi"), &cfg(vec![r1(json!(100))]));
    assert!(d.contains("logical_disks[0] (100 GiB) does not fit on /dev/sda: its partition would end at 100 GiB but the disk has 102399.98 MiB usable"), "{d}");
    assert!(d.contains("does not fit on /dev/sdb"), "{d}");
    // msdos has no backup header: the whole disk is usable.
    assert!(plan_create_with(&env(two_disks()), &node("bios"), &cfg(vec![r1(json!(100))])).is_ok());
    // Smaller second disk: the sum counts.
    let mixed = vec![disk("sda", 100), disk("sdb", 30)];
    let c = cfg(vec![
        r1(json!(20)),
        json!({"size_gb": 20, "raid_level": "0", "controller": "software"}),
    ]);
    let d = plan_err(&env(mixed), &node("uefi"), &c);
    assert!(
        d.contains(
            "logical_disks[1] (20 GiB) does not fit on /dev/sdb: its partition would end at 40 GiB"
        ),
        "{d}"
    );
    assert!(!d.contains("on /dev/sda"), "{d}");
    // The first partition starts at 551 MiB: size_gb 1 leaves 473 MiB, fine; size 0 cannot be built.
    assert!(plan_create_with(&env(two_disks()), &node("uefi"), &cfg(vec![r1(json!(1))])).is_ok());
    assert!(
        plan_err(&env(two_disks()), &node("uefi"), &cfg(vec![r1(json!(0))]))
            .contains("size_gb 0 cannot be built")
    );
    // MAX after a partition that fills the disk leaves nothing.
    let c = cfg(vec![
        r1(json!(100)),
        json!({"size_gb": "MAX", "raid_level": "0", "controller": "software"}),
    ]);
    let d = plan_err(&env(two_disks()), &node("bios"), &c);
    assert!(d.contains("logical_disks[1] (MAX) leaves less than 16 MiB for its partition on /dev/sda (from 100GiB to -1)"), "{d}");
    let c = cfg(vec![
        r1(json!(99)),
        json!({"size_gb": "MAX", "raid_level": "0", "controller": "software"}),
    ]);
    assert!(plan_create_with(&env(two_disks()), &node("uefi"), &c).is_ok());
    // msdos cannot go past 2 TiB.
    let big = vec![disk("sda", 3000), disk("sdb", 3000)];
    assert!(plan_err(
        &env(big.clone()),
        &node("bios"),
        &cfg(vec![r1(json!(2100))])
    )
    .contains("msdos partition table cannot address beyond 2 TiB"));
    assert!(plan_create_with(&env(big), &node("uefi"), &cfg(vec![r1(json!(2100))])).is_ok());
}

#[test]
fn physical_disks_hints_must_each_match_a_distinct_disk() {
    let c = cfg(vec![
        json!({"size_gb": 10, "raid_level": "1", "controller": "software",
        "physical_disks": [{"name": "/dev/sda"}, {"name": "/dev/sda"}]}),
    ]);
    let d = plan_err(&env(two_disks()), &node("uefi"), &c);
    assert!(
        d.contains("logical_disks[0].physical_disks[1] {\"name\":\"/dev/sda\"} matches no disk"),
        "{d}"
    );
    let c = cfg(vec![
        json!({"size_gb": 10, "raid_level": "1", "controller": "software",
        "physical_disks": [{"name": "/dev/sda"}, {"colour": "red"}]}),
    ]);
    assert!(plan_err(&env(two_disks()), &node("uefi"), &c)
        .contains("logical_disks[0].physical_disks[1]: The hints \"colour\" are invalid"));
}

fn rich_disks() -> Vec<BlockDevice> {
    let mut a = disk("sda", 100);
    a.model = Some("QEMU HARDDISK".into());
    a.vendor = Some("QEMU".into());
    a.wwn = Some("0x5000c50015ea71a5".into());
    a.hctl = Some("0:0:0:0".into());
    a.by_path = Some("/dev/disk/by-path/pci-0000:00:07.0-scsi-0:0:0:0".into());
    a.rotational = true;
    let mut b = disk("sdb", 200);
    b.model = Some("QLAB AHCI DISK".into());
    b.vendor = Some("ATA".into());
    b.hctl = Some("1:0:0:0".into());
    b.by_path = Some("/dev/disk/by-path/pci-0000:00:1f.2-ata-1".into());
    let mut c = disk("vda", 50);
    c.serial = Some("QLAB-D0".into());
    c.vendor = Some("0x1af4".into());
    c.by_path = Some("/dev/disk/by-path/pci-0000:00:02.0".into());
    let mut n = disk("nvme0n1", 300);
    n.model = Some("QEMU NVMe Ctrl".into());
    n.wwn = Some("nvme.1b36-51454d55".into());
    vec![a, b, c, n]
}

#[test]
fn disk_selection_by_each_hint_kind() {
    let cases: Vec<(Value, &str)> = vec![
        (json!({"name": "/dev/sdb"}), "/dev/sdb"),
        (json!({"name": "vda"}), "/dev/vda"),
        (json!({"serial": "QLAB-D0"}), "/dev/vda"),
        (json!({"wwn": "0x5000c50015ea71a5"}), "/dev/sda"),
        (json!({"model": "QEMU NVMe Ctrl"}), "/dev/nvme0n1"),
        (json!({"vendor": "ATA"}), "/dev/sdb"),
        (json!({"size": 200}), "/dev/sdb"),
        (json!({"size": ">= 250"}), "/dev/nvme0n1"),
        (json!({"rotational": true}), "/dev/sda"),
        (
            json!({"by_path": "/dev/disk/by-path/pci-0000:00:02.0"}),
            "/dev/vda",
        ),
        (json!({"hctl": "1:0:0:0"}), "/dev/sdb"),
    ];
    for (hint, want) in cases {
        // Pair the hint with one that picks a different disk, so both must resolve.
        let other = if want == "/dev/sda" {
            json!({"name": "/dev/sdb"})
        } else {
            json!({"name": "/dev/sda"})
        };
        let c = cfg(vec![
            json!({"size_gb": 10, "raid_level": "1", "controller": "software",
                                "physical_disks": [hint.clone(), other]}),
        ]);
        let p = plan_create_with(&env(rich_disks()), &node("uefi"), &c).unwrap();
        assert_eq!(p.arrays[0].disks[0], want, "hint {hint}");
        assert_eq!(
            p.disks.len(),
            2,
            "only the hinted disks are touched: {hint}"
        );
    }
}

#[test]
fn without_hints_all_writable_unskipped_disks_are_used() {
    let mut devs = rich_disks();
    devs[1].read_only = true; // sdb
    let mut md0 = md("md0", Some("x"), &[]);
    md0.size = 0;
    devs.push(md0);
    let mut lp = disk("loop0", 10);
    lp.dev_type = DevType::Loop;
    devs.push(lp);
    let n = json!({"uuid": "n1", "instance_info": {"deploy_boot_mode": "uefi"},
                   "properties": {"skip_block_devices": [{"serial": "QLAB-D0"}]}});
    let p = plan_create_with(&env(devs.clone()), &n, &cfg(vec![r1(json!(10))])).unwrap();
    assert_eq!(p.arrays[0].disks, vec!["/dev/sda", "/dev/nvme0n1"]);
    assert_eq!(p.arrays[0].members, vec!["/dev/sda1", "/dev/nvme0n1p1"]);
    assert!(
        p.notes
            .contains(&"/dev/sdb is read-only and is not used".to_string()),
        "{:?}",
        p.notes
    );
    assert!(p
        .notes
        .contains(&"/dev/vda is in skip_block_devices and is not used".to_string()));
    // A hint may not select a read-only or skip-listed disk.
    let c = cfg(vec![
        json!({"size_gb": 10, "raid_level": "1", "controller": "software",
        "physical_disks": [{"name": "/dev/sdb"}, {"serial": "QLAB-D0"}]}),
    ]);
    let d = plan_err(&env(devs), &n, &c);
    assert!(d.contains("selects /dev/sdb, which is read-only"), "{d}");
    assert!(
        d.contains("selects /dev/vda, which is in skip_block_devices"),
        "{d}"
    );
}

#[test]
fn partitioned_or_busy_members_are_refused_without_running_anything() {
    let (m, r) = machine();
    let mut a = disk("sda", 100);
    a.partitions = vec!["/dev/sda1".into()];
    let mut b = disk("sdb", 100);
    b.holders = vec!["/dev/md127".into()];
    let src = Fake::new(vec![a, part("sda1", "sda"), b]);
    let e = create_with(&m, &src, &node("uefi"), &cfg(vec![r1(json!(10))])).unwrap_err();
    assert!(
        e.details
            .contains("Partitions detected on devices /dev/sda during RAID config"),
        "{}",
        e.details
    );
    assert!(
        e.details.contains("/dev/sdb is in use by /dev/md127"),
        "{}",
        e.details
    );
    assert!(r.lines().is_empty(), "{:?}", r.lines());
}

#[test]
fn empty_target_raid_config_is_an_error_that_says_what_to_set() {
    let (m, r) = machine();
    for c in [Value::Null, json!({}), json!({"logical_disks": []})] {
        let e = create_with(&m, &Fake::new(two_disks()), &node("uefi"), &c).unwrap_err();
        assert!(
            e.details
                .contains("The RAID configuration for node n1 is empty"),
            "{}",
            e.details
        );
        assert!(e.details.contains("--target-raid-config"), "{}", e.details);
    }
    assert!(r.lines().is_empty());
}

// ------------------------------------------------------------------ boot mode, offsets, commands

#[test]
fn boot_mode_and_partition_table_follow_the_node() {
    use super::plan::{node_boot_mode, node_partition_table};
    let n = json!({"instance_info": {"capabilities": {"secure_boot": "true"}, "deploy_boot_mode": "bios"}});
    assert_eq!(node_boot_mode(&n, false), BootMode::Uefi);
    let n = json!({"properties": {"capabilities": "boot_mode:uefi,disk_label:gpt"}});
    assert_eq!(node_boot_mode(&n, false), BootMode::Uefi);
    let n = json!({"driver_internal_info": {"deploy_boot_mode": "bios"}});
    assert_eq!(node_boot_mode(&n, true), BootMode::Bios);
    assert_eq!(
        node_boot_mode(
            &json!({"instance_info": {"deploy_boot_mode": "weird"}}),
            true
        ),
        BootMode::Uefi
    );
    assert_eq!(node_boot_mode(&json!({}), false), BootMode::Bios);
    assert_eq!(
        node_partition_table(&json!({}), BootMode::Uefi),
        PartTable::Gpt
    );
    assert_eq!(
        node_partition_table(&json!({}), BootMode::Bios),
        PartTable::Msdos
    );
    let n = json!({"properties": {"capabilities": "disk_label:gpt"}, "instance_info": {"capabilities": "{\"disk_label\": \"msdos\"}"}});
    assert_eq!(node_partition_table(&n, BootMode::Bios), PartTable::Msdos);
    let n = json!({"properties": {"capabilities": "boot_mode:bios,disk_label:gpt"}});
    assert_eq!(node_partition_table(&n, BootMode::Bios), PartTable::Gpt);
}

#[test]
fn uefi_creation_runs_exactly_these_commands() {
    // First logical disk must be RAID-1: put root first, MAX second.
    let c = cfg(vec![
        json!({"size_gb": 10, "raid_level": "1", "controller": "software", "volume_name": "root", "is_root_volume": true}),
        json!({"size_gb": "MAX", "raid_level": "0", "controller": "software", "volume_name": "data"}),
    ]);
    let (m, r) = machine();
    mdadm(&r)
        .detail("/dev/md/root", &ROOT_SD)
        .detail("/dev/md/data", &DATA_SD);
    let out = create_with(&m, &Fake::new(two_disks()), &node("uefi"), &c).unwrap();
    let lines = r.lines();
    // The two disks are partitioned side by side, each in order; then the arrays.
    let per_disk = |d: &str| {
        vec![
            format!("parted /fake/dev/{d} -s -- mklabel gpt"),
            format!("parted /fake/dev/{d} -s -a optimal -- mkpart primary 551MiB 10GiB"),
            format!("partx -av /fake/dev/{d}"),
            "udevadm settle".into(),
            format!("parted /fake/dev/{d} -s -a optimal -- mkpart primary 10GiB -1"),
            format!("partx -av /fake/dev/{d}"),
            "udevadm settle".into(),
        ]
    };
    let (sda, sdb) = (per_disk("sda"), per_disk("sdb"));
    let seqs = [
        sda.iter().map(String::as_str).collect(),
        sdb.iter().map(String::as_str).collect(),
    ];
    assert!(interleaves(&lines[..14], &seqs), "{lines:#?}");
    assert_eq!(
        lines[14..].to_vec(),
        vec![
            "mdadm --create /fake/dev/md/root --force --run --metadata=1.2 --level 1 --name root --raid-devices 2 /fake/dev/sda1 /fake/dev/sdb1",
            "mdadm --detail /fake/dev/md/root",
            "mdadm --create /fake/dev/md/data --force --run --metadata=1.2 --level 0 --name data --raid-devices 2 /fake/dev/sda2 /fake/dev/sdb2",
            "mdadm --detail /fake/dev/md/data",
        ]
    );
    let mut want = c.clone();
    want["logical_disks"][0]["block_devices"] = json!(["/dev/sda", "/dev/sdb"]);
    want["logical_disks"][1]["block_devices"] = json!(["/dev/sda", "/dev/sdb"]);
    assert_eq!(out, want);
}

#[test]
fn max_is_created_last_and_partition_numbers_follow() {
    // Input: MAX first is refused by IPA's RAID-1-first rule only if its level isn't 1.
    let c = cfg(vec![
        json!({"size_gb": "MAX", "raid_level": "1", "controller": "software", "volume_name": "root"}),
        json!({"size_gb": 20, "raid_level": "0", "controller": "software", "volume_name": "scratch"}),
    ]);
    let p = plan_create_with(&env(two_disks()), &node("uefi"), &c).unwrap();
    assert_eq!(p.arrays[0].name.as_str(), "scratch");
    assert_eq!(p.arrays[0].logical_disk, 1);
    assert_eq!(p.arrays[0].members, vec!["/dev/sda1", "/dev/sdb1"]);
    assert_eq!(p.arrays[1].name.as_str(), "root");
    assert_eq!(p.arrays[1].members, vec!["/dev/sda2", "/dev/sdb2"]);
    let parts = &p.disk("/dev/sda").unwrap().partitions;
    assert_eq!(
        (parts[0].start.arg(None), parts[0].end.arg()),
        ("551MiB".into(), "20GiB".into())
    );
    assert_eq!(
        (parts[1].start.arg(None), parts[1].end.arg()),
        ("20GiB".into(), "-1".into())
    );
}

#[test]
fn bios_gpt_starts_at_8mib_and_stacks_fixed_sizes() {
    let c = cfg(vec![
        r1(json!(10)),
        json!({"size_gb": 30, "raid_level": "1", "controller": "software"}),
    ]);
    let n = json!({"uuid": "n1", "properties": {"capabilities": "boot_mode:bios,disk_label:gpt"}});
    let p = plan_create_with(&env(two_disks()), &n, &c).unwrap();
    assert_eq!((p.boot_mode, p.table), (BootMode::Bios, PartTable::Gpt));
    let lines = p.command_lines();
    assert_eq!(lines[0], "parted /dev/sda -s -- mklabel gpt");
    assert!(
        lines.contains(&"parted /dev/sda -s -a optimal -- mkpart primary 8MiB 10GiB".to_string()),
        "{lines:#?}"
    );
    assert!(
        lines.contains(&"parted /dev/sdb -s -a optimal -- mkpart primary 10GiB 40GiB".to_string()),
        "{lines:#?}"
    );
    assert_eq!(p.arrays[0].device, "/dev/md0");
    assert_eq!(p.arrays[1].device, "/dev/md1");
    assert!(lines.contains(&"mdadm --create /dev/md1 --force --run --metadata=1.2 --level 1 --name md1 --raid-devices 2 /dev/sda2 /dev/sdb2".to_string()));
}

#[test]
fn bios_msdos_starts_at_the_sector_sgdisk_reports() {
    let (m, r) = machine();
    r.on(
        &["sgdisk", "-F", "/fake/dev/sda"],
        "Creating new GPT entries in memory.\n2048\n",
    )
    .on(&["sgdisk", "-F", "/fake/dev/sdb"], "4096\n");
    create_mirror(&m, "bios").unwrap();
    let lines = r.lines();
    let seqs = [
        vec![
            "parted /fake/dev/sda -s -- mklabel msdos",
            "sgdisk -F /fake/dev/sda",
            "parted /fake/dev/sda -s -a optimal -- mkpart primary 2048s 10GiB",
            "partx -av /fake/dev/sda",
            "udevadm settle",
        ],
        vec![
            "parted /fake/dev/sdb -s -- mklabel msdos",
            "sgdisk -F /fake/dev/sdb",
            "parted /fake/dev/sdb -s -a optimal -- mkpart primary 4096s 10GiB",
            "partx -av /fake/dev/sdb",
            "udevadm settle",
        ],
    ];
    assert!(interleaves(&lines[..10], &seqs), "{lines:#?}");
    // The plan shows where the sector number goes.
    let p = plan_create_with(&env(two_disks()), &node("bios"), &cfg(vec![r1(json!(10))])).unwrap();
    assert!(p.command_lines().contains(
        &"parted /dev/sda -s -a optimal -- mkpart primary <sgdisk -F>s 10GiB".to_string()
    ));
    assert_eq!(
        p.disk("/dev/sda").unwrap().partitions[0].start,
        Start::FirstFree
    );
}

#[test]
fn sgdisk_without_a_number_aborts_and_rolls_back() {
    let (m, r) = machine();
    r.on(&["sgdisk", "-F"], "Problem opening /dev/sda\n");
    let f = mirror_failure(&m, "bios");
    assert_eq!(
        f.cause,
        CreateCause::Check(
            "`sgdisk -F /dev/sda` did not print a sector number (last line \"Problem opening /dev/sda\")".into()
        )
    );
    // sdb fails the same way, or stops before it starts, as the disks run side by side;
    // whatever was labelled is wiped, sdb's work before sda's (the first disk's) last.
    let mut want = vec![Undo::WipeLabel {
        disk: dev("/dev/sda"),
    }];
    if r.lines()
        .contains(&"parted /fake/dev/sdb -s -- mklabel msdos".to_string())
    {
        want.insert(
            0,
            Undo::WipeLabel {
                disk: dev("/dev/sdb"),
            },
        );
    }
    assert_eq!(f.undone, want);
    assert_eq!(f.not_undone, []);
    assert_eq!(
        r.lines().last().unwrap(),
        "wipefs --force --all /fake/dev/sda"
    );
}

#[test]
fn partition_names_follow_the_kernel_rule() {
    // The rule itself is tested with `DevPath::partition` (tools).
    let devs = vec![disk("nvme0n1", 100), disk("mmcblk0", 100)];
    let p = plan_create_with(&env(devs), &node("uefi"), &cfg(vec![r1(json!(10))])).unwrap();
    assert_eq!(
        p.arrays[0].members,
        vec!["/dev/nvme0n1p1", "/dev/mmcblk0p1"]
    );
}

#[test]
fn volume_names_are_checked_before_anything_is_written() {
    // The rule's own cases are in `tools::mdadm`; here: plan and create both apply it.
    for name in ["/dev/../etc/passwd", "a\0b", "my root", "--force", ""] {
        let c = cfg(vec![
            json!({"size_gb": 10, "raid_level": "1", "controller": "software", "volume_name": name}),
        ]);
        let want = format!(
            "Could not validate Software RAID config for n1: logical_disks[0].volume_name: {}",
            ArrayName::new(name).unwrap_err()
        );
        // `raid plan` ...
        assert_eq!(plan_err(&env(two_disks()), &node("uefi"), &c), want);
        // ... and the step, which runs nothing.
        let (m, r) = machine();
        let e = create_with(&m, &Fake::new(two_disks()), &node("uefi"), &c).unwrap_err();
        assert_eq!(
            (e.kind, e.details),
            (hwmgr::ErrorKind::SoftwareRAIDError, want)
        );
        assert_eq!(r.lines(), Vec::<String>::new());
    }
    // Every bad name is reported, together with the other problems.
    let c = cfg(vec![
        json!({"size_gb": 10, "raid_level": "1", "controller": "software", "volume_name": "-x"}),
        json!({"size_gb": 10, "raid_level": "1", "controller": "software", "volume_name": "y".repeat(33)}),
    ]);
    let d = plan_err(&env(two_disks()), &node("uefi"), &c);
    assert!(d.contains("logical_disks[0].volume_name: \"-x\""), "{d}");
    assert!(
        d.contains("logical_disks[1].volume_name: ")
            && d.contains("it is longer than 32 characters"),
        "{d}"
    );
    // A valid name becomes the array's name and its /dev/md/ link.
    let c = cfg(vec![
        json!({"size_gb": 10, "raid_level": "1", "controller": "software", "volume_name": "root.A_1-b"}),
    ]);
    let p = plan_create_with(&env(two_disks()), &node("uefi"), &c).unwrap();
    assert_eq!(
        (p.arrays[0].device.as_str(), p.arrays[0].name.as_str()),
        ("/dev/md/root.A_1-b", "root.A_1-b")
    );
}

#[test]
fn the_plan_prints_the_verdict_and_commands() {
    let p = plan_create_with(&env(two_disks()), &node("uefi"), &cfg(vec![r1(json!(10))])).unwrap();
    let text = p.to_string();
    assert!(text.starts_with("Software RAID plan for node n1: OK (1 array(s) to create, 0 kept)\nboot mode uefi, partition table gpt\n"), "{text}");
    assert!(
        text.contains("array /dev/md0 (name md0, RAID 1, logical_disks[0]): /dev/sda1 /dev/sdb1"),
        "{text}"
    );
    assert!(
        text.contains("partition /dev/sda1 on /dev/sda: 551MiB .. 10GiB (~9689 MiB)"),
        "{text}"
    );
    assert!(text.contains("\n  mdadm --create /dev/md0 --force --run --metadata=1.2 --level 1 --name md0 --raid-devices 2 /dev/sda1 /dev/sdb1\n"), "{text}");
    assert_eq!(
        p.actions
            .iter()
            .filter(|a| matches!(a, Action::Label { .. }))
            .count(),
        2
    );
}

// ------------------------------------------------------------------ execution details

#[test]
fn members_missing_from_detail_are_re_added() {
    let degraded = detail_degraded("/dev/md0", UUID_ROOT, "md0", "/dev/sda1");
    let (m, r) = machine();
    mdadm(&r).answer("--detail", "/dev/md0", &degraded);
    create_mirror(&m, "uefi").unwrap();
    let adds: Vec<String> = r
        .lines()
        .into_iter()
        .filter(|l| l.contains("--add"))
        .collect();
    assert_eq!(adds, vec!["mdadm --add /fake/dev/md0 /fake/dev/sdb1"]);

    // Three failures abort and roll back.
    let (m, r) = machine();
    mdadm(&r).answer("--detail", "/dev/md0", &degraded);
    r.fail(
        &["mdadm", "--add"],
        1,
        "mdadm: Cannot open /dev/sdb1: Device or resource busy",
    );
    let f = mirror_failure(&m, "uefi");
    assert_eq!(r.lines().iter().filter(|l| l.contains("--add")).count(), 3);
    assert_failed(
        failed_command(&f),
        "Re-adding /dev/sdb1 to /dev/md0 (attempt 3 of 3)",
        "mdadm --add /fake/dev/md0 /fake/dev/sdb1",
        1,
        "mdadm: Cannot open /dev/sdb1: Device or resource busy",
    );
    assert_eq!(
        f.undone[0],
        Undo::StopArray {
            array: dev("/dev/md0")
        }
    );
    assert_eq!(f.undone.len(), 7, "{:?}", f.undone);
    assert!(f.rolled_back());
}

#[test]
fn second_create_failure_rolls_everything_back_in_reverse() {
    let c = cfg(vec![
        json!({"size_gb": 10, "raid_level": "1", "controller": "software", "volume_name": "root"}),
        json!({"size_gb": "MAX", "raid_level": "0", "controller": "software", "volume_name": "data"}),
    ]);
    let script = |r: &RecordingRunner| {
        mdadm(r).detail("/dev/md/root", &ROOT_SD);
        r.fail(
            &["mdadm", "--create", "/fake/dev/md/data"],
            2,
            "mdadm: cannot open /dev/sdb2: No such device or address",
        );
    };
    let (m, r) = machine();
    script(&r);
    let f = create_failure(&m, &Fake::new(two_disks()), &node("uefi"), &c);
    let lines = r.lines();
    let i = lines
        .iter()
        .position(|l| l.starts_with("mdadm --create /fake/dev/md/data"))
        .unwrap();
    assert_eq!(
        lines[i + 1..].to_vec(),
        vec![
            "mdadm --zero-superblock /fake/dev/sda2",
            "mdadm --zero-superblock /fake/dev/sdb2",
            "mdadm --stop /fake/dev/md/root",
            "mdadm --zero-superblock /fake/dev/sda1",
            "mdadm --zero-superblock /fake/dev/sdb1",
            "parted /fake/dev/sdb -s -- rm 2",
            "parted /fake/dev/sdb -s -- rm 1",
            "wipefs --force --all /fake/dev/sdb",
            "parted /fake/dev/sda -s -- rm 2",
            "parted /fake/dev/sda -s -- rm 1",
            "wipefs --force --all /fake/dev/sda",
        ]
    );
    let t = failed_command(&f);
    assert_failed(
        t,
        "Creating RAID array /dev/md/data",
        "mdadm --create /fake/dev/md/data --force --run --metadata=1.2 --level 0 --name data --raid-devices 2 /fake/dev/sda2 /fake/dev/sdb2",
        2,
        "mdadm: cannot open /dev/sdb2: No such device or address",
    );
    let zero = |p: &str| Undo::ZeroSuperblock { member: dev(p) };
    let rm = |d: &str, n: u32| Undo::RemovePartition {
        disk: dev(d),
        number: n,
        partition: dev(d).partition(n),
    };
    assert_eq!(
        f.undone,
        [
            zero("/dev/sda2"),
            zero("/dev/sdb2"),
            Undo::StopArray {
                array: dev("/dev/md/root")
            },
            zero("/dev/sda1"),
            zero("/dev/sdb1"),
            rm("/dev/sdb", 2),
            rm("/dev/sdb", 1),
            Undo::WipeLabel {
                disk: dev("/dev/sdb")
            },
            rm("/dev/sda", 2),
            rm("/dev/sda", 1),
            Undo::WipeLabel {
                disk: dev("/dev/sda")
            },
        ]
    );
    assert_eq!(f.not_undone, []);
    // What the conductor gets: IPA's class, the same facts, and what to do.
    let (m, r) = machine();
    script(&r);
    let e = create_with(&m, &Fake::new(two_disks()), &node("uefi"), &c).unwrap_err();
    assert_eq!(e.kind, hwmgr::ErrorKind::SoftwareRAIDError);
    assert_eq!(e.details, f.to_string());
    assert!(e.details.starts_with(&format!("Creating RAID array /dev/md/data failed: `{}` exited with code 2; stderr: mdadm: cannot open /dev/sdb2", t.error.command)), "{}", e.details);
    assert!(e.details.contains("; rolled back: zeroed the md superblock of /dev/sda2, zeroed the md superblock of /dev/sdb2, stopped /dev/md/root, "), "{}", e.details);
    assert!(e.details.ends_with("wiped the partition table of /dev/sda. The disks are as they were before the step: fix the cause above and run the step again."), "{}", e.details);
}

#[test]
fn failed_rollback_steps_are_reported() {
    let r = RecordingRunner::new();
    // sdb's partition fails once sda is partitioned (the disks run side by side).
    let gated = Gated {
        inner: r.clone(),
        hold: vec!["parted", "/fake/dev/sdb", "-s", "-a"],
        after: "partx -av /fake/dev/sda",
    };
    let m = Machine::new(Host::new("/fake"), Arc::new(gated));
    r.fail(
        &["parted", "/fake/dev/sdb", "-s", "-a"],
        1,
        "Error: Can't have a partition outside the disk!",
    )
    .fail(
        &["wipefs", "--force", "--all", "/fake/dev/sda"],
        1,
        "wipefs: error: /dev/sda: probing initialization failed: Device or resource busy",
    );
    let f = mirror_failure(&m, "uefi");
    assert_failed(
        failed_command(&f),
        "Creating partition /dev/sdb1",
        "parted /fake/dev/sdb -s -a optimal -- mkpart primary 551MiB 10GiB",
        1,
        "Error: Can't have a partition outside the disk!",
    );
    // Both disks' work is undone: sdb's (its label), then sda's in reverse.
    assert_eq!(
        f.undone,
        [
            Undo::WipeLabel {
                disk: dev("/dev/sdb")
            },
            Undo::RemovePartition {
                disk: dev("/dev/sda"),
                number: 1,
                partition: dev("/dev/sda1")
            },
        ]
    );
    assert_eq!(f.not_undone.len(), 1);
    let u = &f.not_undone[0];
    assert_eq!(
        u.undo,
        Undo::WipeLabel {
            disk: dev("/dev/sda")
        }
    );
    assert_eq!(u.error.command, "wipefs --force --all /fake/dev/sda");
    assert_eq!(u.error.exit_code(), Some(1));
    assert_eq!(
        u.error.stderr,
        "wipefs: error: /dev/sda: probing initialization failed: Device or resource busy"
    );
    assert!(!f.rolled_back());
    // The text says what could not be undone and what to do about it.
    let text = f.to_string();
    assert!(text.contains("; ROLLBACK INCOMPLETE: could not wipe the partition table of /dev/sda (`wipefs --force --all /fake/dev/sda` exited with code 1; stderr: wipefs: error"), "{text}");
    assert!(
        text.ends_with(
            "run raid.delete_configuration (it clears any state), then this step again."
        ),
        "{text}"
    );
}

/// Counts parted runs in flight (each takes 50 ms); panics on `panic_on`.
struct Parallel {
    inner: RecordingRunner,
    now: std::sync::atomic::AtomicUsize,
    max: std::sync::atomic::AtomicUsize,
    panic_on: Option<&'static str>,
}

impl hwmgr::Runner for Parallel {
    fn run(&self, cmd: &hwmgr::Cmd) -> std::result::Result<hwmgr::CmdOutput, hwmgr::CommandError> {
        use std::sync::atomic::Ordering::SeqCst;
        if cmd.program != "parted" {
            return self.inner.run(cmd);
        }
        if self
            .panic_on
            .is_some_and(|d| cmd.argv().iter().any(|a| a == d))
        {
            panic!("injected panic");
        }
        let n = self.now.fetch_add(1, SeqCst) + 1;
        self.max.fetch_max(n, SeqCst);
        std::thread::sleep(std::time::Duration::from_millis(50));
        self.now.fetch_sub(1, SeqCst);
        self.inner.run(cmd)
    }

    fn has_program(&self, program: &str) -> bool {
        self.inner.has_program(program)
    }
}

fn parallel(panic_on: Option<&'static str>) -> (Machine, RecordingRunner, Arc<Parallel>) {
    let r = RecordingRunner::new();
    let p = Arc::new(Parallel {
        inner: r.clone(),
        now: Default::default(),
        max: Default::default(),
        panic_on,
    });
    (Machine::new(Host::new("/fake"), p.clone()), r, p)
}

#[test]
fn disks_are_partitioned_side_by_side_and_arrays_created_after() {
    let (m, r, p) = parallel(None);
    let four: Vec<BlockDevice> = ["sda", "sdb", "sdc", "sdd"]
        .iter()
        .map(|d| disk(d, 100))
        .collect();
    mdadm(&r).detail("/dev/md/root", &ROOT_SD);
    let c = cfg(vec![r1(json!(10))]);
    create_with(&m, &Fake::new(four), &node("uefi"), &c).unwrap_or_else(|e| panic!("{e:?}"));
    let max = p.max.load(std::sync::atomic::Ordering::SeqCst);
    assert!(
        max >= 2,
        "one disk after another (max {max} parted in flight)"
    );
    let lines = r.lines();
    let create = lines
        .iter()
        .position(|l| l.starts_with("mdadm --create"))
        .unwrap();
    assert_eq!(
        lines[..create]
            .iter()
            .filter(|l| l.starts_with("parted") || l.starts_with("partx"))
            .count(),
        12,
        "every disk is partitioned before the array is created: {lines:#?}"
    );
}

#[test]
fn a_crashed_disk_worker_fails_the_step_and_everything_is_rolled_back() {
    let (m, r, _) = parallel(Some("/fake/dev/sdb"));
    let f = create_failure(
        &m,
        &Fake::new(two_disks()),
        &node("uefi"),
        &cfg(vec![r1(json!(10))]),
    );
    assert_eq!(
        f.cause,
        CreateCause::Check(
            "internal error: partitioning /dev/sdb crashed (a bug in the agent; the agent log has the panic)".into()
        )
    );
    // sdb's label was journaled before parted ran (and crashed): it is wiped too, and
    // whatever sda got done is undone.
    assert!(f.undone.contains(&Undo::WipeLabel {
        disk: dev("/dev/sdb")
    }));
    let lines = r.lines();
    if lines.contains(&"parted /fake/dev/sda -s -- mklabel gpt".to_string()) {
        assert!(f.undone.contains(&Undo::WipeLabel {
            disk: dev("/dev/sda")
        }));
    }
    assert!(!lines.iter().any(|l| l.starts_with("mdadm --create")));
    assert_eq!(f.not_undone, []);
}

#[test]
fn a_member_that_vanished_aborts_before_mdadm() {
    let d = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(d.path().join("sys/block/sda/sda1")).unwrap();
    std::fs::create_dir_all(d.path().join("sys/block/sdb")).unwrap();
    let r = RecordingRunner::new();
    let m = Machine::new(Host::new(d.path()), Arc::new(r.clone()));
    let e = create_mirror(&m, "uefi").unwrap_err();
    assert!(e.details.starts_with("Creating RAID array /dev/md0 failed: member /dev/sdb1 is missing (no /sys/block/sdb/sdb1 after partitioning)"), "{}", e.details);
    let root = d.path().display();
    let lines = r.lines();
    assert!(
        !lines.iter().any(|l| l.starts_with("mdadm --create")),
        "{lines:#?}"
    );
    assert_eq!(
        lines.last().unwrap(),
        &format!("wipefs --force --all {root}/dev/sda")
    );
    assert!(lines.contains(&format!("parted {root}/dev/sdb -s -- rm 1")));
}

#[test]
fn udevadm_is_optional() {
    let (m, r) = machine();
    r.without_program("udevadm")
        .fail(&["partx"], 1, "partx: /dev/sda: error adding partition 1");
    create_mirror(&m, "uefi").unwrap();
    assert!(!r.lines().iter().any(|l| l.starts_with("udevadm")));
}

#[test]
fn apply_validates_first_then_deletes_then_creates() {
    let (m, r) = machine();
    let bad = cfg(vec![
        json!({"size_gb": 10, "raid_level": "0", "controller": "software"}),
    ]);
    let e = apply_with(&m, &Fake::new(two_disks()), &node("uefi"), &bad, true).unwrap_err();
    assert!(e.details.contains("first logical disk must be RAID-1"));
    assert!(r.lines().is_empty(), "nothing deleted on an invalid config");

    let (m, r) = machine();
    let mut a = disk("sda", 100);
    a.partitions = vec!["/dev/sda1".into()];
    let src = Fake::new(vec![a, part("sda1", "sda"), disk("sdb", 100)]);
    // delete_existing=false: partitions stay and creation is refused.
    let e = apply_with(&m, &src, &node("uefi"), &cfg(vec![r1(json!(10))]), false).unwrap_err();
    assert!(
        e.details
            .contains("Partitions detected on devices /dev/sda"),
        "{}",
        e.details
    );
    assert!(r.lines().is_empty());
    // With delete: assemble/examine run first.
    let _ = apply_with(&m, &src, &node("uefi"), &cfg(vec![r1(json!(10))]), true);
    assert_eq!(r.lines()[0], "mdadm --assemble --scan");
}

#[test]
fn kept_arrays_satisfy_their_logical_disk() {
    let n = json!({"uuid": "n1", "instance_info": {"deploy_boot_mode": "uefi"},
                   "properties": {"skip_block_devices": [{"volume_name": "data"}]}});
    let mut a = disk("sda", 100);
    a.partitions = vec!["/dev/sda1".into()];
    let mut b = disk("sdb", 100);
    b.partitions = vec!["/dev/sdb1".into()];
    let e = PlanEnv {
        devices: vec![a, b, disk("sdc", 100), disk("sdd", 100)],
        md_arrays: vec![md("md127", Some("data"), &["sda1", "sdb1"])],
        ramdisk_uefi: false,
    };
    let c = cfg(vec![
        json!({"size_gb": 10, "raid_level": "1", "controller": "software", "volume_name": "root",
               "physical_disks": [{"name": "/dev/sdc"}, {"name": "/dev/sdd"}]}),
        json!({"size_gb": "MAX", "raid_level": "1", "controller": "software", "volume_name": "data"}),
    ]);
    let p = plan_create_with(&e, &n, &c).unwrap();
    assert_eq!(p.arrays.len(), 1);
    assert_eq!(p.kept[0].device, "/dev/md127");
    assert_eq!(p.kept[0].disks, vec!["/dev/sda", "/dev/sdb"]);
    // A new array on the kept disks is refused.
    let c2 = cfg(vec![
        json!({"size_gb": 10, "raid_level": "1", "controller": "software", "volume_name": "root"}),
        json!({"size_gb": "MAX", "raid_level": "1", "controller": "software", "volume_name": "data"}),
    ]);
    assert!(plan_err(&e, &n, &c2).contains("/dev/sda holds the kept array(s) /dev/md127"));
    // Another existing array that is not kept is refused (IPA's rule).
    let mut e3 = e.clone();
    e3.md_arrays.push(md("md126", Some("old"), &["sdc1"]));
    assert!(plan_err(&e3, &n, &c)
        .contains("Existing Software RAID device detected that should not: /dev/md126 (old)"));
    // Without validate-on-disks (apply's pre-check), existing state is not judged.
    assert!(plan_inner(&e3, &n, &c, false).is_ok());
}

// ------------------------------------------------------------------ delete

/// 100 GiB disks named `names`, each with `n` partitions, each disk followed by its
/// partitions.
fn with_parts(names: &[&str], n: u32) -> Vec<BlockDevice> {
    let mut v = vec![];
    for name in names {
        let mut d = disk(name, 100);
        let parts: Vec<BlockDevice> = (1..=n)
            .map(|i| part(dev(&format!("/dev/{name}")).partition(i).name(), name))
            .collect();
        d.partitions = parts.iter().map(|p| p.name.clone()).collect();
        v.push(d);
        v.extend(parts);
    }
    v
}

#[test]
fn delete_with_nothing_there_succeeds() {
    let (m, r) = machine();
    let out = delete_with(&m, &Fake::new(two_disks()), &json!({})).unwrap();
    assert_eq!(out, Value::Null);
    assert_eq!(
        r.lines(),
        vec![
            "mdadm --assemble --scan",
            "mdadm --examine /fake/dev/sdb",
            "mdadm --examine /fake/dev/sda"
        ]
    );
}

#[test]
fn delete_an_array_assembled_as_md127_after_reboot() {
    let (m, r) = machine();
    let mut devs = with_parts(&["vda", "vdb"], 1);
    devs[1].holders = vec!["/dev/md127".into()];
    devs[3].holders = vec!["/dev/md127".into()];
    let src = Fake::new(devs).md_seq(vec![vec![md("md127", None, &["vda1", "vdb1"])], vec![]]);
    r.fail(
        &["mdadm", "--assemble", "--scan"],
        2,
        "mdadm: No arrays found in config file or automatically",
    );
    mdadm(&r)
        .examine("/dev/vda", &examine_gpt_disk("/dev/vda"))
        .once()
        .detail("/dev/md127", &ROOT_VD)
        .members(&ROOT_VD);
    delete_with(&m, &src, &json!({})).unwrap();
    assert_eq!(
        r.lines(),
        vec![
            "mdadm --assemble --scan",
            "mdadm --detail /fake/dev/md127",
            "mdadm --examine /fake/dev/vda",
            "mdadm --examine /fake/dev/vda1",
            "mdadm --examine /fake/dev/vdb",
            "mdadm --examine /fake/dev/vdb1",
            "wipefs --force --all /fake/dev/md127",
            "mdadm --stop /fake/dev/md127",
            "mdadm --zero-superblock /fake/dev/vda1",
            "mdadm --zero-superblock /fake/dev/vdb1",
            // second pass: no arrays left; sweep finds nothing
            "mdadm --examine /fake/dev/vdb1",
            "mdadm --examine /fake/dev/vdb",
            "mdadm --examine /fake/dev/vda1",
            "mdadm --examine /fake/dev/vda",
            "wipefs --force --all /fake/dev/vda",
            "blockdev --rereadpt /fake/dev/vda",
            "wipefs --force --all /fake/dev/vdb",
            "blockdev --rereadpt /fake/dev/vdb",
        ]
    );
}

#[test]
fn delete_a_degraded_array_and_its_dropped_member() {
    // md0 runs on vda1 only; vdb1 was kicked out but still carries the superblock.
    let (m, r) = machine();
    let devs = with_parts(&["vda", "vdb"], 1);
    let src = Fake::new(devs).md_seq(vec![vec![md("md0", Some("root"), &["vda1"])], vec![]]);
    // What Debian's mdadm printed in this very state (fixtures/mdadm/README.md).
    mdadm(&r)
        .once()
        .answer(
            "--detail",
            "/dev/md0",
            include_str!("../../fixtures/mdadm/detail-root-degraded.txt"),
        )
        .examine(
            "/dev/vda1",
            include_str!("../../fixtures/mdadm/examine-root-vda1.txt"),
        )
        .examine(
            "/dev/vdb1",
            include_str!("../../fixtures/mdadm/examine-root-vdb1-removed.txt"),
        );
    delete_with(&m, &src, &json!({})).unwrap();
    let lines = r.lines();
    for want in [
        "mdadm --stop /fake/dev/md0",
        "mdadm --zero-superblock /fake/dev/vda1",
        "mdadm --zero-superblock /fake/dev/vdb1",
        "wipefs --force --all /fake/dev/vda",
        "blockdev --rereadpt /fake/dev/vda",
        "wipefs --force --all /fake/dev/vdb",
        "blockdev --rereadpt /fake/dev/vdb",
    ] {
        assert!(
            lines.contains(&want.to_string()),
            "missing {want}: {lines:#?}"
        );
    }
}

#[test]
fn delete_an_inactive_array_with_a_missing_member() {
    let (m, r) = machine();
    let devs = with_parts(&["vda", "vdb"], 2);
    let mut inactive = md("md127", None, &["vdb2"]);
    inactive.size = 0;
    let src = Fake::new(devs).md_seq(vec![vec![inactive], vec![]]);
    mdadm(&r)
        .answer(
            "--detail",
            "/dev/md127",
            &detail_inactive("/dev/md127", UUID_DATA, "data", "/dev/vdb2"),
        )
        .once()
        .examine("/dev/vdb2", &examine("/dev/vdb2", UUID_DATA, "data"));
    r.fail(
        &["wipefs", "--force", "--all", "/fake/dev/md127"],
        1,
        "wipefs: error: /dev/md127: probing initialization failed: No such device",
    );
    delete_with(&m, &src, &json!({})).unwrap();
    let lines = r.lines();
    assert!(lines.contains(&"mdadm --stop /fake/dev/md127".to_string()));
    assert!(lines.contains(&"mdadm --zero-superblock /fake/dev/vdb2".to_string()));
    assert!(lines.contains(&"wipefs --force --all /fake/dev/vdb".to_string()));
    assert!(
        !lines.contains(&"wipefs --force --all /fake/dev/vda".to_string()),
        "vda held nothing: {lines:#?}"
    );
}

#[test]
fn delete_stray_superblocks_on_partitions_without_arrays() {
    let (m, r) = machine();
    let mut devs = with_parts(&["nvme0n1"], 2);
    devs.push(disk("sda", 100));
    let mut ro = disk("vde", 1);
    ro.read_only = true;
    devs.push(ro);
    let src = Fake::new(devs);
    mdadm(&r)
        .examine(
            "/dev/nvme0n1p2",
            &examine("/dev/nvme0n1p2", UUID_DATA, "data"),
        )
        .examine("/dev/nvme0n1p1", &no_superblock("/dev/nvme0n1p1"));
    delete_with(&m, &src, &json!({})).unwrap();
    assert_eq!(
        r.lines(),
        vec![
            "mdadm --assemble --scan",
            "mdadm --examine /fake/dev/sda",
            "mdadm --examine /fake/dev/nvme0n1p2",
            "mdadm --zero-superblock /fake/dev/nvme0n1p2",
            "mdadm --examine /fake/dev/nvme0n1p1",
            "mdadm --examine /fake/dev/nvme0n1",
            "wipefs --force --all /fake/dev/nvme0n1",
            "blockdev --rereadpt /fake/dev/nvme0n1",
        ]
    );
}

#[test]
fn delete_reports_arrays_that_will_not_stop() {
    let (m, r) = machine();
    let devs = with_parts(&["vda"], 1);
    let arr = md("md0", Some("root"), &["vda1"]);
    let src = Fake::new(devs).md_seq(vec![vec![arr]]);
    let busy = "mdadm: Cannot get exclusive access to /dev/md0:Perhaps a running process, mounted filesystem or active volume group?";
    r.fail(&["mdadm", "--stop"], 1, busy);
    let f = run_delete(&m, &src, &SkipList::default()).unwrap_err();
    assert_eq!(f.remaining, [dev("/dev/md0")]);
    assert_eq!(f.failures.len(), 2, "one per pass: {:?}", f.failures);
    for t in &f.failures {
        assert_failed(
            t,
            "Stopping /dev/md0",
            "mdadm --stop /fake/dev/md0",
            1,
            busy,
        );
    }
    assert_eq!(f.done.stopped, Vec::<DevPath>::new());
    assert_eq!(
        r.lines()
            .iter()
            .filter(|l| l.starts_with("mdadm --stop"))
            .count(),
        2,
        "two passes"
    );
    // The conductor's text: IPA's words first, then what failed and what to do.
    let e = f.to_agent_error();
    assert!(e.details.starts_with("Unable to clean all softraid correctly. Remaining [\"/dev/md0\"]; errors: Stopping /dev/md0 failed: `mdadm --stop /fake/dev/md0` exited with code 1; stderr: mdadm: Cannot get exclusive access"), "{}", e.details);
    assert!(
        e.details
            .ends_with("and run raid.delete_configuration again."),
        "{}",
        e.details
    );
}

#[test]
fn delete_failures_are_collected_and_the_rest_still_runs() {
    // The array stops, but one member's superblock cannot be zeroed: the other member and
    // the disks are still cleaned, and the failure is reported.
    let (m, r) = machine();
    let devs = with_parts(&["vda", "vdb"], 1);
    let src = Fake::new(devs).md_seq(vec![
        vec![md("md0", Some("root"), &["vda1", "vdb1"])],
        vec![],
    ]);
    mdadm(&r).once().members(&ROOT_VD);
    r.fail(
        &["mdadm", "--zero-superblock", "/fake/dev/vda1"],
        1,
        "mdadm: Couldn't open /dev/vda1 for write - not zeroing",
    );
    let f = run_delete(&m, &src, &SkipList::default()).unwrap_err();
    assert_eq!(f.remaining, Vec::<DevPath>::new());
    assert_eq!(f.failures.len(), 1);
    assert_failed(
        &f.failures[0],
        "Zeroing the md superblock of /dev/vda1 (/dev/md0)",
        "mdadm --zero-superblock /fake/dev/vda1",
        1,
        "mdadm: Couldn't open /dev/vda1 for write - not zeroing",
    );
    assert_eq!(f.done.stopped, [dev("/dev/md0")]);
    assert_eq!(f.done.zeroed, [dev("/dev/vdb1")]);
    assert_eq!(f.done.wiped, [dev("/dev/vda"), dev("/dev/vdb")]);
    let e = f.to_agent_error();
    assert!(e.details.starts_with("Software RAID deletion incomplete: Zeroing the md superblock of /dev/vda1 (/dev/md0) failed: `mdadm --zero-superblock /fake/dev/vda1` exited with code 1"), "{}", e.details);
    assert!(e.details.ends_with("Run raid.delete_configuration again; if the same command fails, the device it names needs attention first."), "{}", e.details);
}

#[test]
fn delete_keeps_skip_listed_arrays_and_disks() {
    let (m, r) = machine();
    let mut devs = with_parts(&["sda", "sdb"], 2);
    devs.extend(with_parts(&["sdc"], 1));
    let root = md("md126", None, &["sda1", "sdb1"]);
    let data = md("md127", None, &["sda2", "sdb2"]);
    let src = Fake::new(devs).md_seq(vec![vec![root.clone(), data.clone()], vec![data]]);
    // Here md126 is `root` and `data` a mirror too.
    let root_md = Md::new("/dev/md126", "raid1", UUID_ROOT, "root", SD_FIRST);
    let data_md = Md::new("/dev/md127", "raid1", UUID_DATA, "data", SD_SECOND);
    mdadm(&r)
        .detail(root_md.dev, &root_md)
        .detail(data_md.dev, &data_md)
        .members(&data_md)
        .examine("/dev/sdc1", &examine("/dev/sdc1", UUID_ROOT, "old"))
        .once()
        .members(&root_md);
    let n = json!({"properties": {"skip_block_devices": [{"volume_name": "data"}, {"serial": "SER-sdc"}]}});
    delete_with(&m, &src, &n).unwrap();
    let lines = r.lines();
    assert!(lines.contains(&"mdadm --stop /fake/dev/md126".to_string()));
    assert!(
        !lines
            .iter()
            .any(|l| l.contains("md127") && !l.contains("--detail")),
        "{lines:#?}"
    );
    assert!(
        !lines.iter().any(|l| l.contains("zero-superblock")
            && (l.contains("sda2") || l.contains("sdb2") || l.contains("sdc"))),
        "{lines:#?}"
    );
    // Shared disks lose only the deleted partitions; the skip-listed disk is untouched.
    assert!(
        lines.contains(&"parted /fake/dev/sda -s -- rm 1".to_string()),
        "{lines:#?}"
    );
    assert!(
        lines.contains(&"parted /fake/dev/sdb -s -- rm 1".to_string()),
        "{lines:#?}"
    );
    assert!(
        !lines
            .iter()
            .any(|l| l.starts_with("wipefs --force --all /fake/dev/sd")),
        "{lines:#?}"
    );
}

#[test]
fn invalid_skip_list_hints_fail_instead_of_wiping() {
    let (m, r) = machine();
    let n = json!({"properties": {"skip_block_devices": [{"colour": "red"}]}});
    let e = delete_with(&m, &Fake::new(two_disks()), &n).unwrap_err();
    assert!(
        e.details
            .contains("skip_block_devices entry {\"colour\":\"red\"} is invalid"),
        "{}",
        e.details
    );
    assert!(r.lines().is_empty());
}

// ------------------------------------------------------------------ against a fake sysfs

mod live {
    use super::*;
    use hwmgr::{StepCall, StepKind};
    use testkit::fake_machine::{FakeMachine, GIB};

    #[test]
    fn plan_and_create_read_the_machine() {
        let d = tempfile::tempdir().unwrap();
        let fm = FakeMachine::new(d.path())
            .virtio("vda", 20 * GIB)
            .serial("QLAB-D0")
            .virtio("vdb", 20 * GIB)
            .serial("QLAB-D1")
            .virtio("vde", 20 * GIB)
            .ro(true);
        let r = RecordingRunner::new();
        let m = Machine::new(fm.host(), Arc::new(r.clone()));
        let n = json!({"uuid": "n1", "instance_info": {"deploy_boot_mode": "uefi"},
                       "target_raid_config": cfg(vec![r1(json!("MAX"))])});
        let p = plan_create(&m, &n, &n["target_raid_config"]).unwrap();
        assert_eq!(p.arrays[0].members, vec!["/dev/vda1", "/dev/vdb1"]);
        assert!(p
            .notes
            .contains(&"/dev/vde is read-only and is not used".to_string()));
        assert!(r.lines().is_empty(), "planning runs nothing");

        // The recording runner makes no partitions, so the sysfs check stops the creation
        // before mdadm and everything is rolled back.
        let call = StepCall::new(StepKind::Clean, n, json!([]), Default::default());
        let e = create_configuration(&m, &call).unwrap_err();
        assert!(
            e.details.contains("member /dev/vda1 is missing"),
            "{}",
            e.details
        );
        let root = d.path().display();
        assert_eq!(
            r.lines().last().unwrap(),
            &format!("wipefs --force --all {root}/dev/vda")
        );
    }

    #[test]
    fn delete_reads_md_arrays_from_sysfs() {
        let d = tempfile::tempdir().unwrap();
        let fm = FakeMachine::new(d.path())
            .virtio("vda", 20 * GIB)
            .partition("vda", "vda1", 1 << 20, 10 * GIB)
            .virtio("vdb", 20 * GIB)
            .partition("vdb", "vdb1", 1 << 20, 10 * GIB)
            .md("md127", "raid1", &["vda1", "vdb1"]);
        let r = RecordingRunner::new();
        let root = d.path().display().to_string();
        mdadm_under(&r, &root)
            .detail("/dev/md127", &ROOT_VD)
            .members(&ROOT_VD);
        let m = Machine::new(fm.host(), Arc::new(r.clone()));
        // The fake array does not go away when "stopped": the step must say so.
        let f = run_delete(&m, &LiveDevices(&m.host), &SkipList::default()).unwrap_err();
        assert_eq!(f.remaining, [dev("/dev/md127")]);
        assert_eq!(f.failures, []);
        assert_eq!(f.done.stopped, [dev("/dev/md127")]);
        assert_eq!(f.done.zeroed, [dev("/dev/vda1"), dev("/dev/vdb1")]);
        assert_eq!(f.done.wiped, [dev("/dev/vda"), dev("/dev/vdb")]);
        let call = StepCall::new(StepKind::Clean, json!({}), json!([]), Default::default());
        let e = delete_configuration(&m, &call).unwrap_err();
        assert!(
            e.details.starts_with(
                "Unable to clean all softraid correctly. Remaining [\"/dev/md127\"]. "
            ),
            "{}",
            e.details
        );
        let lines = r.lines();
        assert!(
            lines.contains(&format!("mdadm --stop {root}/dev/md127")),
            "{lines:#?}"
        );
    }
}
