//! Before the agent powers the machine off or reboots it (`standby.power_off`,
//! `standby.run_image`): every md array's resync or recovery is frozen through sysfs
//! (`echo frozen > /sys/block/mdX/md/sync_action`).
//!
//! Why: with freshly created arrays still resyncing (every `raid.create_configuration`,
//! and the mirrored ESP `install_bootloader` makes), the kernel of the ramdisk (Linux 6.1,
//! Debian 12) does not finish `poweroff -f`. Its md reboot notifier (`drivers/md/md.c:
//! md_notify_reboot` → `__md_stop_writes`) holds the array's lock while it interrupts the
//! resync and then quiesces the array; the interrupted RAID-5 resync leaves stripes that
//! wait for a superblock update, which needs that same lock, so `raid5_quiesce` waits
//! forever (seen in `tests/tests/qemu_raid_deploy.rs`: `poweroff` blocked in
//! `raid5_quiesce` from `md_notify_reboot`). Freezing through sysfs interrupts the resync
//! with the lock taken and released normally: the superblock is written with the resync's
//! checkpoint (the resync resumes from there at the next assembly) and the notifier then
//! finds nothing to wait for. IPA does not do this (its `poweroff` has the same hang).
//!
//! Arrays are frozen in two passes: freezing one array lets a resync that was delayed
//! behind it ("they share one or more physical units") start, so the pass repeats until
//! every array reads `frozen`, within a bound.

use hwmgr::Host;
use std::time::{Duration, Instant};

/// What was found and done, for the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frozen {
    /// The array (`md126`) and what it was doing before (`resync`, `recover`, `idle`, ...).
    pub arrays: Vec<(String, String)>,
    /// Arrays that did not read `frozen` in the end, with what they read.
    pub not_frozen: Vec<(String, String)>,
}

const SYNC_ACTION: &str = "md/sync_action";

fn arrays(host: &Host) -> Vec<String> {
    host.list_dir("/sys/block")
        .into_iter()
        .filter(|n| host.exists(format!("/sys/block/{n}/{SYNC_ACTION}")))
        .collect()
}

fn action(host: &Host, md: &str) -> String {
    host.attr(format!("/sys/block/{md}/{SYNC_ACTION}"))
        .unwrap_or_default()
}

/// Freezes the sync of every md array; waits at most `limit` for all of them to read
/// `frozen`. Writing `frozen` returns once the kernel stopped the array's sync thread.
pub fn freeze_sync(host: &Host, limit: Duration) -> Frozen {
    let found = arrays(host);
    let before: Vec<(String, String)> =
        found.iter().map(|a| (a.clone(), action(host, a))).collect();
    let deadline = Instant::now() + limit;
    loop {
        for a in &found {
            if action(host, a) != "frozen" {
                let path = host.path(format!("/sys/block/{a}/{SYNC_ACTION}"));
                if let Err(e) = std::fs::write(&path, "frozen") {
                    tracing::warn!("could not freeze the sync of {a}: {e}");
                }
            }
        }
        let not_frozen: Vec<(String, String)> = found
            .iter()
            .map(|a| (a.clone(), action(host, a)))
            .filter(|(_, act)| act != "frozen")
            .collect();
        if not_frozen.is_empty() || Instant::now() >= deadline {
            return Frozen {
                arrays: before,
                not_frozen,
            };
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// [`freeze_sync`] for the power-off path, logged: in a thread with a bound, because a sysfs
/// write the kernel never answers must not keep the machine from powering off.
pub fn freeze_before_power_off(host: &Host) {
    const LIMIT: Duration = Duration::from_secs(20);
    let host = host.clone();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(freeze_sync(&host, LIMIT));
    });
    match rx.recv_timeout(LIMIT + Duration::from_secs(5)) {
        Ok(f) if f.arrays.is_empty() => {}
        Ok(f) => {
            let before: Vec<String> = f.arrays.iter().map(|(a, s)| format!("{a} ({s})")).collect();
            tracing::info!(
                "froze the sync of the md arrays before powering off: {}",
                before.join(", ")
            );
            if !f.not_frozen.is_empty() {
                tracing::warn!(
                    "md arrays not frozen: {:?}; the power-off may hang",
                    f.not_frozen
                );
            }
        }
        Err(_) => tracing::warn!(
            "freezing the md arrays' sync did not finish within {LIMIT:?}; powering off anyway"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn md(root: &std::path::Path, name: &str, action: &str) {
        let d = root.join(format!("sys/block/{name}/md"));
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("sync_action"), format!("{action}\n")).unwrap();
    }

    #[test]
    fn every_array_is_frozen_whatever_it_was_doing() {
        let dir = tempfile::tempdir().unwrap();
        md(dir.path(), "md125", "resync");
        md(dir.path(), "md126", "recover");
        md(dir.path(), "md127", "idle");
        std::fs::create_dir_all(dir.path().join("sys/block/vda")).unwrap();
        let host = Host::new(dir.path());
        let f = freeze_sync(&host, Duration::from_secs(1));
        assert_eq!(
            f.arrays,
            vec![
                ("md125".to_string(), "resync".to_string()),
                ("md126".to_string(), "recover".to_string()),
                ("md127".to_string(), "idle".to_string()),
            ]
        );
        assert!(f.not_frozen.is_empty(), "{f:?}");
        for a in ["md125", "md126", "md127"] {
            assert_eq!(action(&host, a), "frozen", "{a}");
        }
    }

    #[test]
    fn an_array_that_cannot_be_frozen_is_reported_after_the_bound() {
        let dir = tempfile::tempdir().unwrap();
        md(dir.path(), "md127", "resync");
        // A directory where the attribute should be: the write fails.
        let bad = dir.path().join("sys/block/md126/md/sync_action");
        std::fs::create_dir_all(&bad).unwrap();
        let host = Host::new(dir.path());
        let t = Instant::now();
        let f = freeze_sync(&host, Duration::from_millis(500));
        assert!(t.elapsed() >= Duration::from_millis(500));
        assert_eq!(f.not_frozen, vec![("md126".to_string(), String::new())]);
        assert_eq!(action(&host, "md127"), "frozen");
    }

    #[test]
    fn no_arrays_nothing_to_do() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("sys/block/vda")).unwrap();
        let f = freeze_sync(&Host::new(dir.path()), Duration::from_secs(5));
        assert!(f.arrays.is_empty() && f.not_frozen.is_empty());
    }
}
