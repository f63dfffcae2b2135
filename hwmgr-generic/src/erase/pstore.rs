//! `deploy.erase_pstore` (`hardware.py: GenericHardwareManager.erase_pstore`): deletes
//! everything under the mounted pstore file system (crash records of the previous
//! kernel, which may hold the previous tenant's data). Nothing mounted → nothing to do.
//! The ramdisk's /init mounts pstore at boot, so the records are there to delete.

use crate::Machine;
use hwmgr::{AgentError, ErrorKind, Result};
use serde_json::{json, Value};

/// The pstore mount point from `/proc/mounts` (`pstore <mountpoint> pstore ...`).
pub fn pstore_mount(mounts: &str) -> Option<String> {
    mounts.lines().find_map(|l| {
        let mut f = l.split_whitespace();
        match (f.next(), f.next(), f.next()) {
            (Some("pstore"), Some(mnt), Some("pstore")) => Some(mnt.to_string()),
            _ => None,
        }
    })
}

pub fn erase_pstore(m: &Machine) -> Result<Value> {
    let mounts = m.host.read("/proc/mounts").unwrap_or_default();
    let Some(mnt) = pstore_mount(&mounts) else {
        tracing::info!("erase_pstore: no pstore file system is mounted");
        return Ok(Value::Null);
    };
    let dir = m.host.path(&mnt);
    let mut removed = Vec::new();
    let mut failures = Vec::new();
    for name in m.host.list_dir(&mnt) {
        let p = dir.join(&name);
        let res = if p.is_dir() {
            std::fs::remove_dir_all(&p)
        } else {
            std::fs::remove_file(&p)
        };
        match res {
            Ok(()) => removed.push(name),
            Err(e) => failures.push(format!("{mnt}/{name}: {e}")),
        }
    }
    tracing::info!(
        "erase_pstore: removed {} record(s) from {mnt}",
        removed.len()
    );
    if !failures.is_empty() {
        return Err(AgentError::new(
            ErrorKind::CleaningError,
            format!("Could not delete pstore records: {}", failures.join("; ")),
        ));
    }
    Ok(json!({ "removed": removed }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use hwmgr::Host;
    use std::sync::Arc;
    use testkit::RecordingRunner;

    #[test]
    fn deletes_the_records_of_the_mounted_pstore() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        std::fs::create_dir_all(root.join("proc")).unwrap();
        std::fs::create_dir_all(root.join("sys/fs/pstore/sub")).unwrap();
        std::fs::write(root.join("sys/fs/pstore/dmesg-efi-1"), "Oops").unwrap();
        std::fs::write(root.join("sys/fs/pstore/sub/x"), "x").unwrap();
        let m = Machine::new(Host::new(root), Arc::new(RecordingRunner::new()));
        assert_eq!(erase_pstore(&m).unwrap(), Value::Null, "nothing mounted");
        std::fs::write(
            root.join("proc/mounts"),
            "proc /proc proc rw 0 0\npstore /sys/fs/pstore pstore rw,nosuid,nodev,noexec,relatime 0 0\n",
        )
        .unwrap();
        let out = erase_pstore(&m).unwrap();
        assert_eq!(out, json!({"removed": ["dmesg-efi-1", "sub"]}));
        assert!(m.host.list_dir("/sys/fs/pstore").is_empty());
    }

    #[test]
    fn only_a_pstore_line_counts() {
        // IPA's own sample has a line with the type misspelled `qstore`.
        assert_eq!(pstore_mount("pstore /sys/fs/pstore qstore rw 0 0\n"), None);
        assert_eq!(
            pstore_mount("none /x tmpfs rw 0 0\npstore /mnt/p pstore rw 0 0\n").as_deref(),
            Some("/mnt/p")
        );
    }
}
