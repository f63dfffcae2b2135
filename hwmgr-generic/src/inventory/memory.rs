//! The `memory` object: `total` from the kernel (`/proc/meminfo` MemTotal), `physical_mb`
//! as the sum of the installed memory devices (`ironic_python_agent/hardware.py:
//! GenericHardwareManager.get_memory`, which sums lshw's memory banks; lshw reads them from
//! the SMBIOS table). We read the same SMBIOS "Memory Device" records (type 17) from the raw
//! table the kernel exports, `/sys/firmware/dmi/tables/DMI`, so no lshw is needed.
//!
//! Without a readable table (no SMBIOS, or a kernel without it) the online memory blocks of
//! `/sys/devices/system/memory` give the installed size rounded to the block size, which
//! the conductor's `memory` hook also accepts; IPA would report null there.

use hwmgr::Host;
use serde_json::{json, Value};

/// SMBIOS structure types we read.
const SMBIOS_MEMORY_DEVICE: u8 = 17;
const SMBIOS_END_OF_TABLE: u8 = 127;

pub fn memory(host: &Host) -> Value {
    let total = host.read("/proc/meminfo").ok().and_then(|m| {
        m.lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
            .map(|kb| kb * 1024)
    });
    let physical_mb = std::fs::read(host.path("/sys/firmware/dmi/tables/DMI"))
        .ok()
        .and_then(|table| smbios_memory_mb(&table))
        .or_else(|| memory_blocks_mb(host));
    json!({"total": total, "physical_mb": physical_mb})
}

/// The sum of the sizes of the installed memory devices in an SMBIOS table, in MiB; `None`
/// when the table lists none with a known size.
pub fn smbios_memory_mb(table: &[u8]) -> Option<u64> {
    let mut total = 0u64;
    let mut found = false;
    for (kind, formatted) in smbios_structures(table) {
        if kind == SMBIOS_END_OF_TABLE {
            break;
        }
        if kind == SMBIOS_MEMORY_DEVICE {
            if let Some(mb) = memory_device_mb(formatted) {
                total += mb;
                found = true;
            }
        }
    }
    found.then_some(total)
}

/// The size of one Memory Device record (SMBIOS 3.x §7.18): the word at 0x0C is the size,
/// in KiB when bit 15 is set, else MiB; 0 means an empty slot, 0xFFFF unknown, and 0x7FFF
/// that the dword at 0x1C holds the size in MiB (bits 0-30).
fn memory_device_mb(formatted: &[u8]) -> Option<u64> {
    let word = u16::from_le_bytes([*formatted.get(0x0c)?, *formatted.get(0x0d)?]);
    match word {
        0 | 0xffff => None,
        0x7fff => {
            let ext = formatted.get(0x1c..0x20)?;
            let mb = u32::from_le_bytes([ext[0], ext[1], ext[2], ext[3]]) & 0x7fff_ffff;
            Some(u64::from(mb))
        }
        w if w & 0x8000 != 0 => Some(u64::from(w & 0x7fff) / 1024),
        w => Some(u64::from(w)),
    }
}

/// Each structure of an SMBIOS table as (type, formatted area including the header). The
/// string set after each formatted area ends with two NULs. A damaged table ends the walk.
fn smbios_structures(table: &[u8]) -> Vec<(u8, &[u8])> {
    let mut out = Vec::new();
    let mut at = 0usize;
    while at + 4 <= table.len() {
        let kind = table[at];
        let len = usize::from(table[at + 1]);
        if len < 4 || at + len > table.len() {
            break;
        }
        out.push((kind, &table[at..at + len]));
        // The string set: up to and including the first double NUL after the formatted area.
        let strings = &table[at + len..];
        let Some(end) = strings.windows(2).position(|w| w == [0, 0]) else {
            break;
        };
        at += len + end + 2;
    }
    out
}

/// The online hot-pluggable memory blocks times the block size, in MiB.
fn memory_blocks_mb(host: &Host) -> Option<u64> {
    let sysmem = "/sys/devices/system/memory";
    let block = host
        .attr(format!("{sysmem}/block_size_bytes"))
        .and_then(|h| u64::from_str_radix(h.trim_start_matches("0x"), 16).ok())?;
    let online = host
        .list_dir(sysmem)
        .iter()
        .filter(|n| n.starts_with("memory"))
        .filter(|n| {
            host.attr(format!("{sysmem}/{n}/online"))
                .is_none_or(|o| o == "1")
        })
        .count() as u64;
    Some(online * block / (1 << 20)).filter(|mb| *mb > 0)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// One SMBIOS structure: header (type, length, handle), formatted bytes, strings.
    fn structure(kind: u8, handle: u16, body: &[u8], strings: &[&str]) -> Vec<u8> {
        let mut s = vec![kind, (4 + body.len()) as u8];
        s.extend(handle.to_le_bytes());
        s.extend(body);
        for st in strings {
            s.extend(st.as_bytes());
            s.push(0);
        }
        if strings.is_empty() {
            s.push(0);
        }
        s.push(0);
        s
    }

    /// A type 17 body (SMBIOS 3.2 layout, 0x28 bytes with the header) with `size` at 0x0C
    /// and `extended` at 0x1C.
    fn memory_device(size: u16, extended: u32) -> Vec<u8> {
        let mut b = vec![0u8; 0x28 - 4];
        b[0x0c - 4..0x0e - 4].copy_from_slice(&size.to_le_bytes());
        b[0x1c - 4..0x20 - 4].copy_from_slice(&extended.to_le_bytes());
        b[0x10 - 4] = 1; // device locator: string 1
        b
    }

    /// A table laid out as QEMU's firmware builds it (BIOS, system, physical memory array,
    /// memory devices, end), with the sizes in every encoding.
    pub fn table(devices: &[(u16, u32)]) -> Vec<u8> {
        let mut t = structure(0, 0, &[1, 2, 0, 0xe8, 3, 0], &["SeaBIOS", "1.16.2"]);
        t.extend(structure(
            1,
            0x100,
            &[1, 2, 3, 4],
            &["QEMU", "Standard PC (Q35 + ICH9, 2009)"],
        ));
        t.extend(structure(
            16,
            0x1000,
            &[3, 3, 6, 0, 0, 0, 0x40, 0, 0xfe, 0xff, 1, 0],
            &[],
        ));
        for (i, (size, ext)) in devices.iter().enumerate() {
            let locator = format!("DIMM {i}");
            t.extend(structure(
                17,
                0x1100 + i as u16,
                &memory_device(*size, *ext),
                &[&locator],
            ));
        }
        t.extend(structure(127, 0x7f00, &[], &[]));
        t
    }

    #[test]
    fn sums_memory_devices_in_every_size_encoding() {
        // 256 MiB (QEMU's default guest), 16 GiB, 32 GiB through the extended field,
        // 512 KiB in KiB units, an empty slot, an unknown size.
        let t = table(&[
            (256, 0),
            (16384, 0),
            (0x7fff, 32768),
            (0x8000 | 512, 0),
            (0, 0),
            (0xffff, 0),
        ]);
        assert_eq!(smbios_memory_mb(&t), Some(256 + 16384 + 32768));
        assert_eq!(
            smbios_memory_mb(&table(&[(0, 0)])),
            None,
            "only empty slots"
        );
        assert_eq!(smbios_memory_mb(&[]), None);
        // A table cut in the middle of a structure keeps what came before.
        let t = table(&[(1024, 0), (2048, 0)]);
        assert_eq!(smbios_memory_mb(&t[..t.len() - 30]), Some(1024));
    }

    #[test]
    fn physical_mb_from_dmi_table_else_memory_blocks() {
        let d = tempfile::tempdir().unwrap();
        let m = testkit::fake_machine::FakeMachine::new(d.path()).memory(8 << 30);
        let host = m.host();
        assert_eq!(memory(&host)["physical_mb"], 8192, "memory blocks");
        let dmi = host.path("/sys/firmware/dmi/tables/DMI");
        std::fs::create_dir_all(dmi.parent().unwrap()).unwrap();
        std::fs::write(&dmi, table(&[(4096, 0), (4096, 0)])).unwrap();
        assert_eq!(
            memory(&host),
            json!({"total": 8u64 << 30, "physical_mb": 8192})
        );
        std::fs::write(&dmi, table(&[(0x7fff, 12288)])).unwrap();
        assert_eq!(memory(&host)["physical_mb"], 12288, "the table wins");
    }
}
