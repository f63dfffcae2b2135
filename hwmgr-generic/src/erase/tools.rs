//! Every external command the erase steps run, in one place: argv vectors built from a
//! device path that [`hwmgr::Host::device`] has already validated, each with a timeout that
//! fits what the tool does. (The metadata erase's `wipefs`/`dd`/`sgdisk` lines live in
//! [`super::metadata`].)

use hwmgr::Cmd;
use std::time::Duration;

/// Probes answer quickly; a drive that does not is treated as failing.
const PROBE: Duration = Duration::from_secs(60);
/// Format NVM of a large namespace with a user-data erase may write the whole medium.
pub const NVME_FORMAT_TIMEOUT: Duration = Duration::from_secs(12 * 3600);

/// `nvme id-ctrl <dev> -o json` (`hardware.py: GenericHardwareManager._nvme_erase`).
pub fn nvme_id_ctrl(dev: &str) -> Cmd {
    Cmd::new("nvme")
        .args(["id-ctrl", dev, "-o", "json"])
        .timeout(PROBE)
}

/// `nvme format <dev> -s <ses> -f`: 1 = user-data erase, 2 = cryptographic erase.
pub fn nvme_format(dev: &str, ses: u8) -> Cmd {
    Cmd::new("nvme")
        .args(["format", dev, "-s", &ses.to_string(), "-f"])
        .timeout(NVME_FORMAT_TIMEOUT)
}

/// `hdparm -I <dev>`: the ATA IDENTIFY data, with the Security section.
pub fn hdparm_identify(dev: &str) -> Cmd {
    Cmd::new("hdparm").args(["-I", dev]).timeout(PROBE)
}

/// `smartctl -d ata <dev> -g security`; exit code 127 (no smartctl in a shell) is an
/// answer, as in `hardware.py: _smartctl_security_check`.
pub fn smartctl_security(dev: &str) -> Cmd {
    Cmd::new("smartctl")
        .args(["-d", "ata", dev, "-g", "security"])
        .ok_codes(&[0, 127])
        .timeout(PROBE)
}

/// `hdparm --user-master u --security-unlock <password> <dev>`.
pub fn hdparm_unlock(dev: &str, password: &str) -> Cmd {
    Cmd::new("hdparm")
        .args(["--user-master", "u", "--security-unlock", password, dev])
        .timeout(PROBE)
}

/// `hdparm --user-master u --security-set-pass NULL <dev>`.
pub fn hdparm_set_password(dev: &str) -> Cmd {
    Cmd::new("hdparm")
        .args(["--user-master", "u", "--security-set-pass", "NULL", dev])
        .timeout(PROBE)
}

/// `hdparm --user-master u --security-disable NULL <dev>`.
pub fn hdparm_disable_password(dev: &str) -> Cmd {
    Cmd::new("hdparm")
        .args(["--user-master", "u", "--security-disable", "NULL", dev])
        .timeout(PROBE)
}

/// `hdparm --user-master u --security-erase[-enhanced] NULL <dev>`, with a timeout of
/// twice the drive's own estimate plus ten minutes (12 h when it gives none).
pub fn hdparm_security_erase(dev: &str, enhanced: bool, estimate: Option<Duration>) -> Cmd {
    let option = if enhanced {
        "--security-erase-enhanced"
    } else {
        "--security-erase"
    };
    let timeout = estimate.map_or(Duration::from_secs(12 * 3600), |e| {
        e * 2 + Duration::from_secs(600)
    });
    Cmd::new("hdparm")
        .args(["--user-master", "u", option, "NULL", dev])
        .timeout(timeout)
}

/// `lsblk -bia --json -oUUID,PTUUID,PARTTYPE,PARTUUID,FSTYPE,LABEL <dev>`: IPA's safety
/// check columns (`hardware.py: safety_check_block_device`) plus FSTYPE (RAID members,
/// gfs2) and LABEL (the virtual-media label).
pub fn lsblk_ids(dev: &str) -> Cmd {
    Cmd::new("lsblk")
        .args([
            "-bia",
            "--json",
            "-oUUID,PTUUID,PARTTYPE,PARTUUID,FSTYPE,LABEL",
            dev,
        ])
        .timeout(PROBE)
}

/// `blkid -p -o export <dev>`: low-level probing, which works without udev; exit code 2
/// means nothing was found.
pub fn blkid_probe(dev: &str) -> Cmd {
    Cmd::new("blkid")
        .args(["-p", "-o", "export", dev])
        .ok_codes(&[0, 2])
        .timeout(PROBE)
}

/// `mdadm --assemble --scan`: arrays must be assembled to know which are kept.
pub fn mdadm_assemble_scan() -> Cmd {
    Cmd::new("mdadm").args(["--assemble", "--scan"])
}

/// `mdadm --stop <md>`.
pub fn mdadm_stop(md: &str) -> Cmd {
    Cmd::new("mdadm").args(["--stop", md])
}
