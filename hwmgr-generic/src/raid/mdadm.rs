//! Parsers for `mdadm --detail` and `mdadm --examine` output (mdadm 4.x text format).

/// What `mdadm --detail <md>` says about an array.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Detail {
    /// `UUID : a:b:c:d`
    pub uuid: Option<String>,
    /// The volume name without the `homehost:` prefix (`qlab:root` → `root`).
    pub name: Option<String>,
    /// `State : clean, degraded` etc.
    pub state: Option<String>,
    /// Member devices listed in the device table (`/dev/vda1`), removed slots excluded.
    pub devices: Vec<String>,
}

/// What `mdadm --examine <dev>` says: `None` when there is no md superblock.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Superblock {
    /// `Array UUID` (1.x) or `UUID` (0.90).
    pub uuid: String,
    pub name: Option<String>,
}

fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let (k, v) = line.split_once(" : ").or_else(|| {
        let t = line.trim_end();
        t.strip_suffix(" :").map(|k| (k, ""))
    })?;
    (k.trim() == key).then(|| v.trim())
}

/// `qlab:root  (local to host qlab)` → `root`.
fn volume_name(v: &str) -> Option<String> {
    let first = v.split_whitespace().next()?;
    let n = first.rsplit(':').next().unwrap_or(first);
    (!n.is_empty()).then(|| n.to_string())
}

pub fn parse_detail(text: &str) -> Detail {
    let mut d = Detail::default();
    let mut in_table = false;
    for line in text.lines() {
        if let Some(v) = field(line, "UUID") {
            d.uuid = Some(v.to_string());
        } else if let Some(v) = field(line, "Name") {
            d.name = volume_name(v);
        } else if let Some(v) = field(line, "State") {
            d.state = Some(v.to_string());
        }
        let t = line.trim_start();
        if t.starts_with("Number") && t.contains("Major") {
            in_table = true;
            continue;
        }
        if in_table {
            if let Some(dev) = t
                .split_whitespace()
                .last()
                .filter(|w| w.starts_with("/dev/"))
            {
                d.devices.push(dev.to_string());
            }
        }
    }
    d
}

pub fn parse_examine(text: &str) -> Option<Superblock> {
    let mut uuid = None;
    let mut name = None;
    for line in text.lines() {
        if let Some(v) = field(line, "Array UUID").or_else(|| field(line, "UUID")) {
            uuid.get_or_insert_with(|| v.to_string());
        } else if let Some(v) = field(line, "Name") {
            name = volume_name(v);
        }
    }
    uuid.filter(|u| !u.is_empty())
        .map(|uuid| Superblock { uuid, name })
}

#[cfg(test)]
pub(crate) mod samples {
    //! Realistic mdadm 4.2 output, as seen in the QEMU test bed.

    pub const UUID_ROOT: &str = "3f1e1c43:8a7b2d90:5c6e4f11:0b9d2a77";
    pub const UUID_DATA: &str = "a0b1c2d3:e4f50617:28394a5b:6c7d8e9f";

    pub fn detail(md: &str, level: &str, uuid: &str, name: &str, members: &[&str]) -> String {
        let mut s = format!(
            "{md}:
           Version : 1.2
     Creation Time : Sat Nov 21 16:15:58 2026
        Raid Level : {level}
        Array Size : 1046528 (1022.00 MiB 1071.64 MB)
     Used Dev Size : 1046528 (1022.00 MiB 1071.64 MB)
      Raid Devices : {n}
     Total Devices : {n}
       Persistence : Superblock is persistent

       Update Time : Sat Nov 21 16:16:03 2026
             State : clean
    Active Devices : {n}
   Working Devices : {n}
    Failed Devices : 0
     Spare Devices : 0

Consistency Policy : resync

              Name : qlab:{name}  (local to host qlab)
              UUID : {uuid}
            Events : 17

    Number   Major   Minor   RaidDevice State
",
            n = members.len()
        );
        for (i, m) in members.iter().enumerate() {
            s += &format!(
                "       {i}     253       {}        {i}      active sync   {m}\n",
                i * 16 + 1
            );
        }
        s
    }

    /// A RAID-1 with its second member gone.
    pub fn detail_degraded(md: &str, uuid: &str, name: &str, member: &str) -> String {
        format!(
            "{md}:
           Version : 1.2
     Creation Time : Sat Nov 21 16:15:58 2026
        Raid Level : raid1
        Array Size : 1046528 (1022.00 MiB 1071.64 MB)
      Raid Devices : 2
     Total Devices : 1
       Persistence : Superblock is persistent

             State : clean, degraded
    Active Devices : 1
   Working Devices : 1
    Failed Devices : 0
     Spare Devices : 0

              Name : qlab:{name}  (local to host qlab)
              UUID : {uuid}
            Events : 21

    Number   Major   Minor   RaidDevice State
       0     253        1        0      active sync   {member}
       -       0        0        1      removed
"
        )
    }

    /// An array assembled but not started (e.g. `md127` after a reboot with a member gone).
    pub fn detail_inactive(md: &str, uuid: &str, name: &str, member: &str) -> String {
        format!(
            "{md}:
           Version : 1.2
        Raid Level : raid1
     Total Devices : 1
       Persistence : Superblock is persistent

             State : inactive
   Working Devices : 1

              Name : qlab:{name}  (local to host qlab)
              UUID : {uuid}
            Events : 21

    Number   Major   Minor   RaidDevice

       -     253        1        -        {member}
"
        )
    }

    pub fn examine(dev: &str, uuid: &str, name: &str) -> String {
        format!(
            "{dev}:
          Magic : a92b4efc
        Version : 1.2
    Feature Map : 0x0
     Array UUID : {uuid}
           Name : qlab:{name}  (local to host qlab)
  Creation Time : Sat Nov 21 16:15:58 2026
     Raid Level : raid1
   Raid Devices : 2

 Avail Dev Size : 2093056 sectors (1022.00 MiB 1071.64 MB)
     Array Size : 1046528 KiB (1022.00 MiB 1071.64 MB)
    Data Offset : 4096 sectors
   Super Offset : 8 sectors
   Unused Space : before=4016 sectors, after=0 sectors
          State : clean
    Device UUID : 6d5c4b3a:29180716:a5b4c3d2:e1f00918

    Update Time : Sat Nov 21 16:16:03 2026
  Bad Block Log : 512 entries available at offset 16 sectors
       Checksum : 5a1f2e3d - correct
         Events : 17

   Device Role : Active device 0
   Array State : AA ('A' == active, '.' == missing, 'R' == replacing)
"
        )
    }

    /// `mdadm --examine` of a disk that only carries a partition table.
    pub fn examine_gpt_disk(dev: &str) -> String {
        format!(
            "{dev}:
   MBR Magic : aa55
Partition[0] :      4194270 sectors at            1 (type ee)
"
        )
    }

    pub fn no_superblock(dev: &str) -> String {
        format!("mdadm: No md superblock detected on {dev}.\n")
    }
}

#[cfg(test)]
mod tests {
    use super::samples::*;
    use super::*;

    #[test]
    fn parses_detail() {
        let d = parse_detail(&detail(
            "/dev/md127",
            "raid1",
            UUID_ROOT,
            "root",
            &["/dev/vda1", "/dev/vdb1"],
        ));
        assert_eq!(d.uuid.as_deref(), Some(UUID_ROOT));
        assert_eq!(d.name.as_deref(), Some("root"));
        assert_eq!(d.state.as_deref(), Some("clean"));
        assert_eq!(d.devices, vec!["/dev/vda1", "/dev/vdb1"]);
        let g = parse_detail(&detail_degraded("/dev/md0", UUID_ROOT, "md0", "/dev/vda1"));
        assert_eq!(g.devices, vec!["/dev/vda1"]);
        assert_eq!(g.state.as_deref(), Some("clean, degraded"));
        let i = parse_detail(&detail_inactive(
            "/dev/md127",
            UUID_DATA,
            "data",
            "/dev/vdb2",
        ));
        assert_eq!(
            (i.devices, i.name.as_deref()),
            (vec!["/dev/vdb2".to_string()], Some("data"))
        );
        assert_eq!(parse_detail(""), Detail::default());
    }

    #[test]
    fn parses_examine() {
        let s = parse_examine(&examine("/dev/vda1", UUID_ROOT, "root")).unwrap();
        assert_eq!(s.uuid, UUID_ROOT);
        assert_eq!(s.name.as_deref(), Some("root"));
        assert_eq!(parse_examine(&examine_gpt_disk("/dev/vda")), None);
        assert_eq!(parse_examine(&no_superblock("/dev/vda")), None);
        // 0.90 metadata says `UUID`
        let old = "/dev/sda1:\n          Magic : a92b4efc\n        Version : 0.90.00\n           UUID : 1:2:3:4\n";
        assert_eq!(parse_examine(old).unwrap().uuid, "1:2:3:4");
    }
}
