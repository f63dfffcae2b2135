//! ATA Security erase (`hardware.py: GenericHardwareManager._ata_erase`,
//! `_get_ata_security_lines`, `_smartctl_security_check`).
//!
//! The probe ([`probe`]) only reads: `hdparm -I` for the Security section and
//! `smartctl -d ata -g security` to make sure ATA commands reach the drive (a SAS/USB
//! bridge may answer IDENTIFY and still swallow SECURITY ERASE UNIT). The erase
//! ([`secure_erase`]) follows IPA's state machine: locked → try the passwords `NULL` and
//! empty; set the user password `NULL` when security is not enabled; SECURITY ERASE UNIT
//! (enhanced when the drive supports it); afterwards security must read "not enabled".
//!
//! Where we differ:
//! * `hdparm -I` failing means "no ATA security", so the disk is overwritten; IPA lets
//!   the tool error fail the whole step. (On virtio and virtio-scsi disks hdparm succeeds
//!   and prints no Security section — recorded in `fixtures/erase/` — which both treat
//!   as "not supported".)
//! * A frozen drive is found by the probe, before anything is written, and the error says
//!   what to do (suspend/resume or power-cycle, or allow the overwrite fallback).
//! * After an erase that leaves security enabled we also try `--security-disable NULL`, so
//!   the drive is not left with a password that locks it at the next power-on.

use crate::tools::{hdparm, smartctl, DevPath};
use crate::Machine;
use hwmgr::{CommandError, Failure};
use std::time::Duration;

/// The Security section of `hdparm -I`, one normalised line each (`"not\tfrozen"` →
/// `"not frozen"`), as IPA's `_get_ata_security_lines` makes them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AtaSecurity {
    pub lines: Vec<String>,
}

impl AtaSecurity {
    /// `None` when the output has no Security section (not an ATA drive, or one without
    /// the feature set).
    pub fn parse(hdparm_output: &str) -> Option<AtaSecurity> {
        let mut it = hdparm_output.lines();
        it.by_ref().find(|l| l.trim_end() == "Security:")?;
        let lines = it
            .take_while(|l| l.starts_with('\t'))
            .map(|l| l.trim().replace('\t', " "))
            .collect();
        Some(AtaSecurity { lines })
    }

    fn has(&self, line: &str) -> bool {
        self.lines.iter().any(|l| l == line)
    }

    pub fn supported(&self) -> bool {
        self.has("supported")
    }
    /// IPA's test: anything but an explicit "not frozen" counts as frozen.
    pub fn frozen(&self) -> bool {
        !self.has("not frozen")
    }
    pub fn locked(&self) -> bool {
        !self.has("not locked")
    }
    pub fn enabled(&self) -> bool {
        !self.has("not enabled")
    }
    pub fn enhanced_erase(&self) -> bool {
        !self.has("not supported: enhanced erase")
    }

    /// The drive's own estimate for the erase we would run ("24min for SECURITY ERASE
    /// UNIT. 24min for ENHANCED SECURITY ERASE UNIT.").
    pub fn erase_estimate(&self, enhanced: bool) -> Option<Duration> {
        let wanted = if enhanced {
            "ENHANCED SECURITY ERASE UNIT"
        } else {
            "SECURITY ERASE UNIT"
        };
        let line = self.lines.iter().find(|l| l.contains("ERASE UNIT"))?;
        line.split('.')
            .map(str::trim)
            .find(|part| part.ends_with(wanted) && (enhanced || !part.contains("ENHANCED")))
            .and_then(|part| part.split("min").next())
            .and_then(|n| n.trim().parse::<u64>().ok())
            .map(|min| Duration::from_secs(min * 60))
    }
}

/// What the probe found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AtaVerdict {
    /// No usable ATA Security: overwrite instead (the reason is logged and reported).
    NotSupported(String),
    /// Security is frozen (SEC2/SEC6): no security command will be accepted until the
    /// drive is power-cycled or the machine suspended and resumed.
    Frozen,
    /// SECURITY ERASE UNIT can be attempted.
    Erase(AtaSecurity),
}

/// `hdparm -I` then `smartctl -d ata -g security` (IPA's order), nothing written.
pub fn probe(m: &Machine, dev: &DevPath) -> AtaVerdict {
    let identify = match m.run(&hdparm::identify(dev)) {
        Ok(out) => out.stdout,
        Err(e) => return AtaVerdict::NotSupported(format!("no ATA IDENTIFY data: {e}")),
    };
    let smartctl_ok = smartctl_allows(m, dev);
    let Some(sec) = AtaSecurity::parse(&identify) else {
        return AtaVerdict::NotSupported("hdparm -I shows no Security section".into());
    };
    if let Err(why) = smartctl_ok {
        return AtaVerdict::NotSupported(why);
    }
    if !sec.supported() {
        return AtaVerdict::NotSupported("the drive does not support ATA Security".into());
    }
    if sec.frozen() {
        return AtaVerdict::Frozen;
    }
    AtaVerdict::Erase(sec)
}

/// IPA's `_smartctl_security_check`: "Unavailable" or a failing smartctl refuses ATA
/// erase; a missing smartctl is tolerated.
fn smartctl_allows(m: &Machine, dev: &DevPath) -> Result<(), String> {
    match m.run(&smartctl::security(dev)) {
        Ok(out) if out.stdout.contains("Unavailable") => {
            Err("smartctl reports ATA Security as Unavailable".into())
        }
        Ok(_) => Ok(()),
        Err(CommandError {
            failure: Failure::NotFound,
            ..
        }) => {
            tracing::warn!("smartctl is not installed; cannot double-check ATA access to {dev}");
            Ok(())
        }
        Err(e) => Err(format!("direct ATA commands do not reach the drive ({e})")),
    }
}

/// How the erase went: which erase ran.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AtaErased {
    pub enhanced: bool,
}

/// Runs the erase on a drive the probe cleared. `Err` is the operator-facing reason
/// (command, exit code and stderr included); the drive is unlocked again on the way out
/// whenever possible.
pub fn secure_erase(m: &Machine, dev: &DevPath, sec: AtaSecurity) -> Result<AtaErased, String> {
    let sec = unlock(m, dev, sec);
    if sec.locked() {
        return Err(format!(
            "{dev} already has an ATA security password set and could not be unlocked with the \
             passwords NULL or empty; unlock it with its password (hdparm --security-unlock) \
             and clean again"
        ));
    }
    if !sec.enabled() {
        m.run(&hdparm::set_password(dev))
            .map_err(|e| format!("setting the ATA security password on {dev} failed: {e}"))?;
    }
    let enhanced = sec.enhanced_erase();
    let estimate = sec.erase_estimate(enhanced);
    tracing::info!(
        "ATA {}secure erase of {dev} started{}",
        if enhanced { "enhanced " } else { "" },
        estimate.map_or(String::new(), |e| format!(
            "; the drive estimates {} min",
            e.as_secs() / 60
        ))
    );
    if let Err(e) = m.run(&hdparm::security_erase(dev, enhanced, estimate)) {
        // Without this the drive stays locked and nothing (not even the overwrite
        // fallback) can write to it.
        let after = read_security(m, dev).map(|s| unlock(m, dev, s));
        let state = match after {
            Some(s) if s.locked() => "; it is still LOCKED (password NULL)",
            Some(_) => "; it was unlocked again",
            None => "",
        };
        return Err(format!("ATA secure erase of {dev} failed: {e}{state}"));
    }
    match read_security(m, dev) {
        Some(s) if !s.enabled() => Ok(AtaErased { enhanced }),
        _ => {
            let disabled = m.run(&hdparm::disable_password(dev)).is_ok();
            Err(format!(
                "ATA secure erase of {dev} reported success but security is still enabled \
                 afterwards{}",
                if disabled {
                    " (the password was removed again)"
                } else {
                    "; removing the password failed too, the drive may lock at power-on"
                }
            ))
        }
    }
}

fn read_security(m: &Machine, dev: &DevPath) -> Option<AtaSecurity> {
    let out = m.run(&hdparm::identify(dev)).ok()?;
    AtaSecurity::parse(&out.stdout)
}

/// IPA's `__attempt_unlock_drive`: the passwords `NULL`, then empty (hdparm before 9.51
/// sent "NULL" literally), re-reading the state after each try.
fn unlock(m: &Machine, dev: &DevPath, mut sec: AtaSecurity) -> AtaSecurity {
    for password in ["NULL", ""] {
        if !sec.locked() {
            break;
        }
        if let Err(e) = m.run(&hdparm::unlock(dev, password)) {
            tracing::info!("unlocking {dev} with password {password:?} failed: {e}");
        }
        match read_security(m, dev) {
            Some(s) => sec = s,
            None => break,
        }
    }
    sec
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::erase::testutil::{fixture, machine};

    fn dev() -> DevPath {
        DevPath::new("/dev/sda").unwrap()
    }

    #[test]
    fn parses_real_drives() {
        let wd = AtaSecurity::parse(&fixture("hdparm-wd4003fzex-enhanced.txt")).unwrap();
        assert!(wd.supported() && !wd.enabled() && !wd.locked() && !wd.frozen());
        assert!(wd.enhanced_erase());
        assert_eq!(wd.erase_estimate(true), Some(Duration::from_secs(424 * 60)));
        let tosh = AtaSecurity::parse(&fixture("hdparm-mk2023gas-frozen.txt")).unwrap();
        assert!(tosh.supported() && tosh.frozen() && !tosh.enhanced_erase());
        assert_eq!(
            tosh.erase_estimate(false),
            Some(Duration::from_secs(24 * 60))
        );
        assert_eq!(tosh.erase_estimate(true), None);
        let qemu = fixture("hdparm-qemu-ahci.txt");
        assert_eq!(
            AtaSecurity::parse(&qemu),
            None,
            "QEMU's IDE/AHCI disk has no Security"
        );
    }

    #[test]
    fn probe_decisions() {
        let cases = [
            ("hdparm-wd4003fzex-enhanced.txt", "erase"),
            ("hdparm-ipa-not-enabled.txt", "erase"),
            ("hdparm-ipa-locked.txt", "erase"),
            ("hdparm-mk2023gas-frozen.txt", "frozen"),
            ("hdparm-ipa-frozen.txt", "frozen"),
            ("hdparm-ipa-not-supported.txt", "not supported"),
            ("hdparm-qemu-ahci.txt", "not supported"),
            ("hdparm-qemu-scsi.txt", "not supported"),
            ("hdparm-qemu-virtio.txt", "not supported"),
        ];
        for (file, want) in cases {
            let (m, r) = machine();
            r.on(&["hdparm", "-I"], &fixture(file))
                .on(&["smartctl"], &fixture("smartctl-security-sec1.txt"));
            let got = match probe(&m, &dev()) {
                AtaVerdict::Erase(_) => "erase",
                AtaVerdict::Frozen => "frozen",
                AtaVerdict::NotSupported(_) => "not supported",
            };
            assert_eq!(got, want, "{file}");
            assert_eq!(
                r.lines(),
                vec![
                    "hdparm -I /fake/dev/sda".to_string(),
                    "smartctl -d ata /fake/dev/sda -g security".into()
                ]
            );
        }
    }

    #[test]
    fn smartctl_can_veto_and_may_be_missing() {
        let (m, r) = machine();
        r.on(&["hdparm", "-I"], &fixture("hdparm-ipa-not-enabled.txt"))
            .on(&["smartctl"], &fixture("smartctl-security-unavailable.txt"));
        assert!(
            matches!(probe(&m, &dev()), AtaVerdict::NotSupported(w) if w.contains("Unavailable"))
        );
        let (m, r) = machine();
        r.on(&["hdparm", "-I"], &fixture("hdparm-ipa-not-enabled.txt"))
            .fail(&["smartctl"], 2, "Read Device Identity failed");
        assert!(
            matches!(probe(&m, &dev()), AtaVerdict::NotSupported(w) if w.contains("do not reach"))
        );
        let (m, r) = machine();
        r.on(&["hdparm", "-I"], &fixture("hdparm-ipa-not-enabled.txt"))
            .without_program("smartctl");
        assert!(matches!(probe(&m, &dev()), AtaVerdict::Erase(_)));
        let (m, r) = machine();
        r.fail(
            &["hdparm", "-I"],
            25,
            "HDIO_DRIVE_CMD(identify) failed: Inappropriate ioctl for device",
        );
        assert!(
            matches!(probe(&m, &dev()), AtaVerdict::NotSupported(w) if w.contains("Inappropriate ioctl"))
        );
    }

    fn sec(file: &str) -> AtaSecurity {
        AtaSecurity::parse(&fixture(file)).unwrap()
    }

    #[test]
    fn erase_sets_the_password_and_checks_the_state_afterwards() {
        let (m, r) = machine();
        r.on(&["hdparm", "-I"], &fixture("hdparm-ipa-not-enabled.txt"));
        let done = secure_erase(&m, &dev(), sec("hdparm-wd4003fzex-enhanced.txt")).unwrap();
        assert!(done.enhanced);
        assert_eq!(
            r.lines(),
            vec![
                "hdparm --user-master u --security-set-pass NULL /fake/dev/sda",
                "hdparm --user-master u --security-erase-enhanced NULL /fake/dev/sda",
                "hdparm -I /fake/dev/sda",
            ]
        );
        // Non-enhanced drive: plain erase, timeout from its own estimate.
        let (m, r) = machine();
        r.on(&["hdparm", "-I"], &fixture("hdparm-ipa-not-enabled.txt"));
        let mut s = sec("hdparm-ipa-not-enabled.txt");
        s.lines.retain(|l| l != "supported: enhanced erase");
        s.lines.push("not supported: enhanced erase".into());
        assert!(!secure_erase(&m, &dev(), s).unwrap().enhanced);
        assert!(r
            .lines()
            .contains(&"hdparm --user-master u --security-erase NULL /fake/dev/sda".into()));
    }

    #[test]
    fn a_locked_drive_is_unlocked_first() {
        let (m, r) = machine();
        // After the first unlock attempt it reads enabled but not locked (SEC5).
        r.on(&["hdparm", "-I"], &fixture("hdparm-ipa-not-enabled.txt"))
            .on_times(
                &["hdparm", "-I"],
                &fixture("hdparm-ipa-enabled-not-locked.txt"),
                1,
            );
        secure_erase(&m, &dev(), sec("hdparm-ipa-locked.txt")).unwrap();
        assert_eq!(
            r.lines(),
            vec![
                "hdparm --user-master u --security-unlock NULL /fake/dev/sda",
                "hdparm -I /fake/dev/sda",
                // enabled already: no set-pass; IPA's sample drive has no enhanced erase
                "hdparm --user-master u --security-erase NULL /fake/dev/sda",
                "hdparm -I /fake/dev/sda",
            ]
        );
    }

    #[test]
    fn a_drive_that_stays_locked_is_refused_with_what_to_do() {
        let (m, r) = machine();
        r.on(&["hdparm", "-I"], &fixture("hdparm-ipa-locked.txt"))
            .fail(
                &["hdparm", "--user-master", "u", "--security-unlock"],
                5,
                "SECURITY_UNLOCK: Input/output error",
            );
        let e = secure_erase(&m, &dev(), sec("hdparm-ipa-locked.txt")).unwrap_err();
        assert!(
            e.contains("could not be unlocked with the passwords NULL or empty"),
            "{e}"
        );
        let lines = r.lines();
        assert_eq!(
            lines[0],
            "hdparm --user-master u --security-unlock NULL /fake/dev/sda"
        );
        // The empty password is its own (empty) argv element.
        assert_eq!(
            lines[2],
            "hdparm --user-master u --security-unlock  /fake/dev/sda"
        );
        assert!(!lines.iter().any(|l| l.contains("--security-erase")));
    }

    #[test]
    fn a_failed_erase_unlocks_the_drive_again() {
        let (m, r) = machine();
        r.on(&["hdparm", "-I"], &fixture("hdparm-ipa-not-enabled.txt"))
            .on_times(&["hdparm", "-I"], &fixture("hdparm-ipa-locked.txt"), 1)
            .fail(
                &["hdparm", "--user-master", "u", "--security-erase"],
                5,
                "SECURITY_ERASE: Input/output error",
            );
        let e = secure_erase(&m, &dev(), sec("hdparm-ipa-not-enabled.txt")).unwrap_err();
        assert!(
            e.contains("exited with code 5; stderr: SECURITY_ERASE: Input/output error"),
            "{e}"
        );
        assert!(e.ends_with("it was unlocked again"), "{e}");
        assert!(r
            .lines()
            .contains(&"hdparm --user-master u --security-unlock NULL /fake/dev/sda".to_string()));
    }

    #[test]
    fn security_still_enabled_after_erase_is_an_error_and_the_password_is_removed() {
        let (m, r) = machine();
        r.on(
            &["hdparm", "-I"],
            &fixture("hdparm-ipa-enabled-not-locked.txt"),
        );
        let e = secure_erase(&m, &dev(), sec("hdparm-ipa-not-enabled.txt")).unwrap_err();
        assert!(e.contains("security is still enabled"), "{e}");
        assert_eq!(
            r.lines().last().unwrap(),
            "hdparm --user-master u --security-disable NULL /fake/dev/sda"
        );
    }
}
