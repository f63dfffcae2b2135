//! How the `ssacli` simulator (`tests/src/bin/ssacli.rs`) names a logical drive, shared with
//! the tests that give the VM a real disk for it: on a Smart Array a new logical drive
//! appears to the OS as a new SCSI disk whose WWN is the start of the drive's `Unique
//! Identifier`, so a test attaches a `scsi-hd` with [`ld_wwn`] and the conductor's root
//! device hint (`wwn`, from `raid.create_configuration`) leads the deploy to that disk.
//! No dependencies: the simulator includes this file by path (it is built for musl).

/// The `Unique Identifier` of logical drive number `n` (the controller's running count of
/// created drives, from 1) on the controller in `slot`: `600508B1001C`, the slot and the
/// count in hex, then a fixed tail (32 hex digits in all, as ssacli prints).
pub fn ld_unique_identifier(slot: u64, n: u64) -> String {
    format!(
        "600508B1001C{:01X}{:03X}5EED5EED5EED5EED",
        slot % 16,
        n % 4096
    )
}

/// The WWN the ProLiant manager reports for that drive (`0x` + the first 16 hex digits of
/// the Unique Identifier, lower case, as `proliantutils` `LogicalDrive`), as a number for
/// QEMU's `scsi-hd,wwn=`.
#[allow(dead_code)]
pub fn ld_wwn(slot: u64, n: u64) -> u64 {
    u64::from_str_radix(&ld_unique_identifier(slot, n)[..16], 16).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wwn_is_the_start_of_the_unique_identifier() {
        assert_eq!(
            ld_unique_identifier(3, 1),
            "600508B1001C30015EED5EED5EED5EED"
        );
        assert_eq!(format!("0x{:016x}", ld_wwn(3, 1)), "0x600508b1001c3001");
        assert_ne!(ld_wwn(2, 1), ld_wwn(3, 1));
    }
}
