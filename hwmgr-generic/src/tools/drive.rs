//! Programs that talk to a drive's firmware or probe what is on it: the disk erasure's
//! hardware erases and safety probes (`crate::erase`). Probes answer within a minute; the
//! erases get the time the drive needs.

use std::time::Duration;

/// Probes answer quickly; a drive that does not is treated as failing.
const PROBE: Duration = Duration::from_secs(60);

pub mod nvme {
    //! `nvme` (nvme-cli), as `hardware.py: GenericHardwareManager._nvme_erase` runs it.
    use super::PROBE;
    use crate::tools::{DevPath, Program, ToolCmd};
    use std::time::Duration;

    /// Format NVM with a user-data erase of a large namespace may write the whole medium.
    pub const FORMAT_TIMEOUT: Duration = Duration::from_secs(12 * 3600);

    /// `nvme id-ctrl <dev> -o json`: OACS and FNA say which formats the controller offers.
    pub fn id_ctrl(dev: &DevPath) -> ToolCmd {
        ToolCmd::new(Program::Nvme)
            .text("id-ctrl")
            .device(dev)
            .texts(["-o", "json"])
            .timeout(PROBE)
    }

    /// `nvme format <dev> -s <ses> -f`: 1 = user-data erase, 2 = cryptographic erase.
    pub fn format(dev: &DevPath, ses: u8) -> ToolCmd {
        ToolCmd::new(Program::Nvme)
            .text("format")
            .device(dev)
            .texts(["-s", &ses.to_string(), "-f"])
            .timeout(FORMAT_TIMEOUT)
    }
}

pub mod hdparm {
    //! `hdparm`: ATA IDENTIFY and the ATA Security commands (`hardware.py: _ata_erase`).
    //! Every security command addresses the user password (`--user-master u`).
    use super::PROBE;
    use crate::tools::{DevPath, Program, ToolCmd};
    use std::time::Duration;

    /// `hdparm -I <dev>`: the IDENTIFY data with its Security section.
    pub fn identify(dev: &DevPath) -> ToolCmd {
        ToolCmd::new(Program::Hdparm)
            .text("-I")
            .device(dev)
            .timeout(PROBE)
    }

    fn security(option: &str, password: &str, dev: &DevPath) -> ToolCmd {
        ToolCmd::new(Program::Hdparm)
            .texts(["--user-master", "u", option, password])
            .device(dev)
            .timeout(PROBE)
    }

    /// `--security-unlock <password>`.
    pub fn unlock(dev: &DevPath, password: &str) -> ToolCmd {
        security("--security-unlock", password, dev)
    }

    /// `--security-set-pass NULL`.
    pub fn set_password(dev: &DevPath) -> ToolCmd {
        security("--security-set-pass", "NULL", dev)
    }

    /// `--security-disable NULL`.
    pub fn disable_password(dev: &DevPath) -> ToolCmd {
        security("--security-disable", "NULL", dev)
    }

    /// `--security-erase[-enhanced] NULL`, with a timeout of twice the drive's own
    /// estimate plus ten minutes (12 h when it gives none).
    pub fn security_erase(dev: &DevPath, enhanced: bool, estimate: Option<Duration>) -> ToolCmd {
        let option = if enhanced {
            "--security-erase-enhanced"
        } else {
            "--security-erase"
        };
        let timeout = estimate.map_or(Duration::from_secs(12 * 3600), |e| {
            e * 2 + Duration::from_secs(600)
        });
        security(option, "NULL", dev).timeout(timeout)
    }
}

pub mod smartctl {
    //! `smartctl` (smartmontools).
    use super::PROBE;
    use crate::tools::{DevPath, Program, ToolCmd};

    /// `smartctl -d ata <dev> -g security`: whether ATA commands reach the drive. Exit code
    /// 127 is an answer, as in `hardware.py: _smartctl_security_check`.
    pub fn security(dev: &DevPath) -> ToolCmd {
        ToolCmd::new(Program::Smartctl)
            .texts(["-d", "ata"])
            .device(dev)
            .texts(["-g", "security"])
            .ok_codes(&[0, 127])
            .timeout(PROBE)
    }
}

pub mod blkid {
    //! `blkid` (util-linux).
    use super::PROBE;
    use crate::tools::{DevPath, Program, ToolCmd};

    /// `blkid -p -o export <dev>`: low-level probing, which works without udev (lsblk does
    /// not); exit code 2 means nothing was found.
    pub fn probe(dev: &DevPath) -> ToolCmd {
        ToolCmd::new(Program::Blkid)
            .texts(["-p", "-o", "export"])
            .device(dev)
            .ok_codes(&[0, 2])
            .timeout(PROBE)
    }

    /// The value of `key` in [`probe`]'s output (`LABEL=config-2` → `config-2`).
    pub fn value<'a>(export: &'a str, key: &str) -> Option<&'a str> {
        export
            .lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tools::DevPath;
    use hwmgr::Host;

    #[test]
    fn command_lines_and_timeouts() {
        let sda = DevPath::new("/dev/sda").unwrap();
        let nvme0 = DevPath::new("/dev/nvme0n1").unwrap();
        let est = Some(Duration::from_secs(24 * 60));
        let lines: Vec<String> = [
            nvme::id_ctrl(&nvme0),
            nvme::format(&nvme0, 2),
            hdparm::identify(&sda),
            hdparm::unlock(&sda, ""),
            hdparm::set_password(&sda),
            hdparm::disable_password(&sda),
            hdparm::security_erase(&sda, true, est),
            hdparm::security_erase(&sda, false, None),
            smartctl::security(&sda),
            blkid::probe(&sda),
        ]
        .iter()
        .map(|c| c.argv().join(" "))
        .collect();
        assert_eq!(
            lines,
            [
                "nvme id-ctrl /dev/nvme0n1 -o json",
                "nvme format /dev/nvme0n1 -s 2 -f",
                "hdparm -I /dev/sda",
                "hdparm --user-master u --security-unlock  /dev/sda",
                "hdparm --user-master u --security-set-pass NULL /dev/sda",
                "hdparm --user-master u --security-disable NULL /dev/sda",
                "hdparm --user-master u --security-erase-enhanced NULL /dev/sda",
                "hdparm --user-master u --security-erase NULL /dev/sda",
                "smartctl -d ata /dev/sda -g security",
                "blkid -p -o export /dev/sda",
            ]
        );
        let host = Host::new("/");
        assert_eq!(
            hdparm::security_erase(&sda, true, est)
                .resolve(&host)
                .timeout,
            Duration::from_secs(2 * 24 * 60 + 600)
        );
        assert_eq!(
            nvme::format(&nvme0, 1).resolve(&host).timeout,
            nvme::FORMAT_TIMEOUT
        );
        assert_eq!(blkid::probe(&sda).resolve(&host).ok_codes, [0, 2]);
    }
}
