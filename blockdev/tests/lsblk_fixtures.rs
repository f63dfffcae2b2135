//! The typed `lsblk --json` model against outputs recorded from real lsblk runs (util-linux
//! 2.38.1, the ramdisk's version). How each fixture was made is in
//! `blockdev/fixtures/lsblk/README.md`.

use blockdev::lsblk::{Lsblk, LsblkDevice};

fn fixture(name: &str) -> Lsblk {
    let path = format!("{}/fixtures/lsblk/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    Lsblk::parse(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn by_kname<'a>(l: &'a Lsblk, kname: &str) -> &'a LsblkDevice {
    l.all_devices()
        .into_iter()
        .find(|d| d.kname.as_deref() == Some(kname))
        .unwrap_or_else(|| panic!("{kname} not in the output"))
}

const VMFS_GUID: &str = "aa31e02a-400f-11db-9590-000c2911d1b8";
const LINUX_FS_GUID: &str = "0fc63daf-8483-4772-8e79-3d69d8477de4";

#[test]
fn erase_check_columns_with_udev_name_the_file_system_and_partition_types() {
    let l = fixture("erase-gpt-udev.json");
    // Without a NAME column lsblk prints a flat list: the disk, then its partitions.
    assert_eq!(l.devices.len(), 4);
    assert!(l.devices.iter().all(|d| d.children.is_empty()));
    let ptuuid = l.devices[0].ptuuid.clone().expect("disk has a GPT");
    assert!(l.devices.iter().all(|d| d.ptuuid.as_ref() == Some(&ptuuid)));
    let root = &l.devices[1];
    assert_eq!(root.fstype.as_deref(), Some("ext4"));
    assert_eq!(root.parttype.as_deref(), Some(LINUX_FS_GUID));
    assert!(root.uuid.is_some() && root.partuuid.is_some());
    assert_eq!(l.devices[2].parttype.as_deref(), Some(VMFS_GUID));
    assert_eq!(l.devices[2].fstype, None);
    // Columns not asked for are absent, not defaulted to something.
    assert_eq!(
        (root.kname.as_ref(), root.size, root.ro),
        (None, None, None)
    );

    let one = fixture("erase-vmfs-partition-udev.json");
    assert_eq!(one.devices.len(), 1);
    assert_eq!(one.devices[0].parttype.as_deref(), Some(VMFS_GUID));
}

#[test]
fn without_udev_the_identity_columns_are_null() {
    let l = fixture("erase-gpt-no-udev.json");
    assert_eq!(l.devices.len(), 4);
    for d in &l.devices {
        assert_eq!(
            (&d.uuid, &d.ptuuid, &d.parttype, &d.partuuid, &d.fstype),
            (&None, &None, &None, &None, &None),
            "{d:?}"
        );
    }
    let full = fixture("full-gpt-no-udev.json");
    let p1 = by_kname(&full, "loop0p1");
    assert_eq!(p1.fstype, None, "lsblk 2.38 reads FSTYPE from udev only");
    // What comes from sysfs is still there.
    assert_eq!(p1.size, Some(20 << 20));
    assert_eq!(p1.dev_type.as_deref(), Some("part"));
}

#[test]
fn full_output_is_a_tree_with_typed_values() {
    let l = fixture("full-gpt-udev.json");
    assert_eq!(l.devices.len(), 1);
    let disk = &l.devices[0];
    assert_eq!(disk.kname.as_deref(), Some("loop0"));
    assert_eq!(disk.path.as_deref(), Some("/dev/loop0"));
    assert_eq!(disk.dev_type.as_deref(), Some("loop"));
    assert_eq!(disk.size, Some(64 << 20));
    assert_eq!(
        (disk.ro, disk.rm, disk.rota),
        (Some(false), Some(false), Some(true))
    );
    assert_eq!((disk.log_sec, disk.phy_sec), (Some(512), Some(512)));
    assert_eq!(disk.pttype.as_deref(), Some("gpt"));
    assert_eq!(
        (&disk.model, &disk.serial, &disk.wwn),
        (&None, &None, &None)
    );
    let names: Vec<_> = l
        .all_devices()
        .iter()
        .map(|d| d.kname.clone().unwrap_or_default())
        .collect();
    assert_eq!(names, ["loop0", "loop0p1", "loop0p2", "loop0p3"]);
    let p1 = by_kname(&l, "loop0p1");
    assert_eq!(p1.fstype.as_deref(), Some("ext4"));
    assert_eq!(p1.label.as_deref(), Some("fixture-root"));
    let parts: u64 = disk.children.iter().filter_map(|c| c.size).sum();
    assert!(parts < disk.size.unwrap_or(0), "partitions fit in the disk");
}

#[test]
fn md_array_is_a_child_of_each_member_partition() {
    let l = fixture("full-md-no-udev.json");
    let disks: Vec<_> = l
        .devices
        .iter()
        .filter_map(|d| d.kname.as_deref())
        .collect();
    assert_eq!(disks, ["vda", "vdb"]);
    for disk in &l.devices {
        assert_eq!(disk.dev_type.as_deref(), Some("disk"));
        let [part] = &disk.children[..] else {
            panic!("one partition on {:?}", disk.kname)
        };
        assert_eq!(part.dev_type.as_deref(), Some("part"));
        let [md] = &part.children[..] else {
            panic!("md0 under {:?}", part.kname)
        };
        assert_eq!(md.kname.as_deref(), Some("md0"));
        assert_eq!(md.dev_type.as_deref(), Some("raid1"));
        assert!(md.size < part.size, "the superblock takes room");
        // No udev in the ramdisk: lsblk does not say the member is a RAID member.
        assert_eq!((&part.fstype, &md.fstype), (&None, &None));
        // Nor the serial QEMU gave the disk, which sysfs has.
        assert_eq!(disk.serial, None);
    }
    assert_eq!(
        l.all_devices()
            .iter()
            .filter(|d| d.kname.as_deref() == Some("md0"))
            .count(),
        2,
        "lsblk prints the array once under each member"
    );
}

#[test]
fn erase_check_columns_in_the_ramdisk_are_null_even_on_a_raid_member() {
    let member = fixture("erase-md-member-disk-no-udev.json");
    // vda, vda1 and md0 (a holder of vda1), flat.
    assert_eq!(member.devices.len(), 3);
    let md = fixture("erase-md-array-no-udev.json");
    assert_eq!(md.devices.len(), 1);
    for d in member.devices.iter().chain(&md.devices) {
        assert_eq!(d, &LsblkDevice::default(), "every asked column is null");
    }
}

/// util-linux before 2.33 printed every value as a string. This is the recorded
/// `full-gpt-udev.json` disk rewritten in that shape (no older lsblk runs here): the model
/// must read it the same.
#[test]
fn string_typed_values_of_older_lsblk_read_the_same() {
    let old = Lsblk::parse(
        r#"{"blockdevices": [
            {"name": "loop0", "kname": "loop0", "size": "67108864", "ro": "0", "rm": "0",
             "rota": "1", "log-sec": "512", "phy-sec": "512", "type": "loop", "model": "",
             "pttype": "gpt", "hctl": null,
             "children": [
                {"name": "loop0p1", "kname": "loop0p1", "size": "20971520", "ro": "0",
                 "rm": "0", "rota": "1", "type": "part", "fstype": "ext4"}
             ]}
        ]}"#,
    )
    .unwrap();
    let new = fixture("full-gpt-udev.json");
    let (o, n) = (&old.devices[0], &new.devices[0]);
    assert_eq!(
        (o.size, o.ro, o.rm, o.rota, o.log_sec, o.phy_sec),
        (n.size, n.ro, n.rm, n.rota, n.log_sec, n.phy_sec)
    );
    assert_eq!(o.model, None, "an empty string is absent, like null");
    assert_eq!(o.children[0].size, n.children[0].size);
    assert_eq!(o.children[0].fstype, n.children[0].fstype);
}

#[test]
fn sizes_that_are_not_bytes_and_odd_flags_are_errors() {
    let e = Lsblk::parse(r#"{"blockdevices": [{"size": "64M"}]}"#).unwrap_err();
    assert!(e.contains("--bytes"), "{e}");
    assert!(Lsblk::parse(r#"{"blockdevices": [{"ro": "yes"}]}"#).is_err());
    assert!(Lsblk::parse(r#"{"blockdevices": [{"rota": 2}]}"#).is_err());
    assert!(Lsblk::parse(r#"{"blockdevices": [{"size": true}]}"#).is_err());
    assert!(Lsblk::parse("not json").is_err());
    assert_eq!(Lsblk::parse("{}").unwrap(), Lsblk::default());
}
