//! Waiting for the machine's drivers before the first hardware access.
//!
//! Our ramdisk's /init starts the agent as soon as a NIC has a DHCP lease, while the drivers
//! of the other devices (disk controllers above all) may still be loading, and names a file
//! it creates once they are all loaded (`--hardware-ready-file`). The lookup needs only the
//! MACs (the NIC is there: it has a lease), so it goes ahead; the hardware managers'
//! initialisation (md assembly, the Smart Array probe) and everything after it (inspection,
//! steps, the inventory) wait for that file, for at most `--hardware-ready-timeout`.
//!
//! Differs from IPA, whose image loads its drivers with udev and which instead waits for a
//! root disk to appear (`ipa-disk-wait-attempts`, `ipa-disk-wait-delay`: `wait_for_disks`,
//! called from `ironic_python_agent/hardware.py:
//! GenericHardwareManager.evaluate_hardware_support`). Without the setting (IPA-style
//! images, tests, a machine booted with udev) nothing waits.

use hwmgr::Host;
use std::path::Path;
use std::time::Duration;
use tokio::time::Instant;

/// How often the file is looked for: /init polls its own state at the same rate.
const POLL: Duration = Duration::from_millis(20);

/// Waits until `file` (a path on the machine, under the host root) exists or `bound` has
/// passed; logs how long it waited. `None`: returns at once.
pub async fn wait(host: &Host, file: Option<&Path>, bound: Duration) {
    let Some(file) = file else {
        return;
    };
    let path = host.path(file);
    let started = Instant::now();
    loop {
        if path.exists() {
            tracing::info!(
                waited_s = format_args!("{:.2}", started.elapsed().as_secs_f64()),
                file = %file.display(),
                "the machine's drivers are loaded; initializing the managers"
            );
            return;
        }
        if started.elapsed() >= bound {
            tracing::warn!(
                file = %file.display(),
                "the machine's drivers are still loading after {} s; initializing the managers anyway (disks may be missing)",
                bound.as_secs_f64()
            );
            return;
        }
        tokio::time::sleep(POLL).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn returns_at_once_without_a_file_named() {
        let t = Instant::now();
        wait(&Host::new("/nonexistent"), None, Duration::from_secs(5)).await;
        assert!(t.elapsed() < Duration::from_secs(1));
    }

    #[tokio::test]
    async fn waits_for_the_file_under_the_host_root() {
        let dir = tempfile::tempdir().unwrap();
        let host = Host::new(dir.path());
        std::fs::create_dir_all(dir.path().join("run")).unwrap();
        let marker = dir.path().join("run/ready");
        let writer = {
            let marker = marker.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(200)).await;
                std::fs::write(marker, "").unwrap();
            })
        };
        let t = Instant::now();
        wait(
            &host,
            Some(Path::new("/run/ready")),
            Duration::from_secs(10),
        )
        .await;
        let waited = t.elapsed();
        writer.await.unwrap();
        assert!(marker.exists());
        assert!(
            waited >= Duration::from_millis(150) && waited < Duration::from_secs(5),
            "{waited:?}"
        );
    }

    #[tokio::test]
    async fn gives_up_after_the_bound() {
        let dir = tempfile::tempdir().unwrap();
        let t = Instant::now();
        wait(
            &Host::new(dir.path()),
            Some(Path::new("/never")),
            Duration::from_millis(100),
        )
        .await;
        let waited = t.elapsed();
        assert!(
            waited >= Duration::from_millis(100) && waited < Duration::from_secs(5),
            "{waited:?}"
        );
    }
}
