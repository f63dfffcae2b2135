//! Reading udev's database (`/run/udev/data`) and its `/dev/disk/by-path` links, when udev
//! ran; never libudev (docs/udev.md).

use crate::device::BlockDevice;
use hwmgr::Host;

/// One device's record in udev's database (`/run/udev/data/b<major>:<minor>`).
#[derive(Debug, Default)]
pub(crate) struct UdevDb {
    env: Vec<(String, String)>,
    links: Vec<String>,
}

impl UdevDb {
    pub(crate) fn load(host: &Host, devnum: &str) -> Option<UdevDb> {
        let text = host.read(format!("/run/udev/data/b{devnum}")).ok()?;
        let mut db = UdevDb::default();
        for line in text.lines() {
            if let Some(kv) = line.strip_prefix("E:") {
                if let Some((k, v)) = kv.split_once('=') {
                    db.env.push((k.to_string(), v.to_string()));
                }
            } else if let Some(l) = line.strip_prefix("S:") {
                db.links.push(l.to_string());
            }
        }
        Some(db)
    }

    pub(crate) fn env(&self, key: &str) -> Option<&str> {
        self.env
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }
}

/// Fills what udev knows and sysfs may not, as IPA does: serial from `ID_SERIAL_SHORT`/
/// `ID_SERIAL`, `ID_WWN`, `ID_WWN_WITH_EXTENSION`, `ID_WWN_VENDOR_EXTENSION` (or the `DM_`
/// forms), and the by-path link. udev's values win over sysfs-derived ones.
pub(crate) fn apply_udev(d: &mut BlockDevice, db: &UdevDb) {
    let get = |k: &str| {
        db.env(&format!("ID_{k}"))
            .or_else(|| db.env(&format!("DM_{k}")))
            .map(str::to_string)
    };
    if let Some(s) = get("SERIAL_SHORT").or_else(|| get("SERIAL")) {
        d.serial = Some(s);
    }
    if let Some(w) = get("WWN") {
        d.wwn = Some(w);
    }
    if let Some(w) = get("WWN_WITH_EXTENSION") {
        d.wwn_with_extension = Some(w);
    }
    if let Some(w) = get("WWN_VENDOR_EXTENSION") {
        d.wwn_vendor_extension = Some(w);
    }
    if let Some(bp) = shortest(db.links.iter().filter(|l| l.starts_with("disk/by-path/"))) {
        d.by_path = Some(format!("/dev/{bp}"));
    }
}

fn shortest<'a>(it: impl Iterator<Item = &'a String>) -> Option<&'a String> {
    it.min_by(|a, b| a.len().cmp(&b.len()).then_with(|| a.cmp(b)))
}

/// `/dev/disk/by-path` links, when something (udev) made them: kname → shortest link.
pub(crate) struct UdevLinks {
    by_path: Vec<(String, String)>,
}

impl UdevLinks {
    pub(crate) fn load(host: &Host) -> UdevLinks {
        let mut by_path: Vec<(String, String)> = Vec::new();
        for link in host.list_dir("/dev/disk/by-path") {
            let Some(t) = host.link_target(format!("/dev/disk/by-path/{link}")) else {
                continue;
            };
            let Some(kname) = t.file_name().map(|f| f.to_string_lossy().into_owned()) else {
                continue;
            };
            let full = format!("/dev/disk/by-path/{link}");
            match by_path.iter_mut().find(|(k, _)| *k == kname) {
                Some((_, cur)) if full.len() < cur.len() => *cur = full,
                Some(_) => {}
                None => by_path.push((kname, full)),
            }
        }
        UdevLinks { by_path }
    }

    pub(crate) fn by_path_of(&self, kname: &str) -> Option<String> {
        self.by_path
            .iter()
            .find(|(k, _)| k == kname)
            .map(|(_, p)| p.clone())
    }
}
