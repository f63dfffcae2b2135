//! Reading a disk's partition table ourselves (MBR and GPT), without `parted`: IPA's
//! `_validate_partitioning`, `find_efi_partition`, `get_disk_identifier`, `count_mbr_partitions`
//! and `fix_gpt_partition`'s "backup header not at the end" check
//! (`ironic_python_agent/disk_utils.py`) all come down to these few structures.

use std::fs::File;
use std::os::unix::fs::FileExt;

/// The EFI System Partition type GUID.
pub const ESP_TYPE_GUID: &str = "c12a7328-f81f-11d2-ba4b-00a0c93ec93b";
/// The MBR partition type of an ESP.
pub const ESP_MBR_TYPE: u8 = 0xef;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableKind {
    Gpt,
    Msdos,
}

impl TableKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TableKind::Gpt => "gpt",
            TableKind::Msdos => "msdos",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partition {
    /// The number the kernel gives it (1-based; GPT entry index + 1, MBR slot + 1).
    pub number: u32,
    pub first_lba: u64,
    pub last_lba: u64,
    /// GPT: the type GUID (lower case); MBR: `0x<type>`.
    pub type_id: String,
    /// GPT: the partition's unique GUID (lower case); MBR: none.
    pub part_uuid: Option<String>,
    pub name: String,
}

/// "3 (name, sectors 2048-4095), ..." for the partitions in the way, in error messages.
pub fn describe(parts: &[&Partition]) -> String {
    parts
        .iter()
        .map(|p| {
            format!(
                "{} ({}, sectors {}-{})",
                p.number, p.name, p.first_lba, p.last_lba
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

impl Partition {
    pub fn is_esp(&self) -> bool {
        self.type_id == ESP_TYPE_GUID || self.type_id == format!("0x{ESP_MBR_TYPE:02x}")
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionTable {
    pub kind: TableKind,
    pub partitions: Vec<Partition>,
    /// GPT: the backup header's LBA as the primary header records it.
    pub gpt_alternate_lba: Option<u64>,
}

/// `"0x%08x"` of the MBR disk signature (bytes 440..444, little endian): IPA's
/// `get_disk_identifier` (`hexdump -s 440 -n 4 -e '"0x%08x"'`), the "root uuid" of a
/// whole-disk image.
pub fn mbr_signature(sector0: &[u8]) -> String {
    let sig = sector0
        .get(440..444)
        .map_or(0, |b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
    format!("0x{sig:08x}")
}

/// Formats a GUID stored in the GPT mixed-endian layout.
pub fn guid(b: &[u8]) -> String {
    format!(
        "{:02x}{:02x}{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}",
        b[3], b[2], b[1], b[0], b[5], b[4], b[7], b[6], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]
    )
}

fn u32le(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn u64le(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

/// Anything that can be read at an offset (a disk, or bytes in tests).
pub trait ReadAt {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<()>;
}

impl ReadAt for File {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
        FileExt::read_exact_at(self, buf, offset)
    }
}

impl ReadAt for [u8] {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
        let start = usize::try_from(offset).unwrap_or(usize::MAX);
        match self.get(start..start.saturating_add(buf.len())) {
            Some(src) => {
                buf.copy_from_slice(src);
                Ok(())
            }
            None => Err(std::io::ErrorKind::UnexpectedEof.into()),
        }
    }
}

/// Reads the partition table of a disk with `sector` bytes per logical sector. `Ok(None)`:
/// no MBR signature at all (no table).
pub fn read_table<R: ReadAt + ?Sized>(
    dev: &R,
    sector: u64,
) -> Result<Option<PartitionTable>, String> {
    let mut mbr = [0u8; 512];
    dev.read_exact_at(&mut mbr, 0)
        .map_err(|e| format!("cannot read the first sector: {e}"))?;
    let has_mbr = mbr[510] == 0x55 && mbr[511] == 0xaa;
    let protective = has_mbr && (0..4).any(|i| mbr[446 + i * 16 + 4] == 0xee);
    if protective || !has_mbr {
        if let Some(t) = read_gpt(dev, sector)? {
            return Ok(Some(t));
        }
    }
    if !has_mbr {
        return Ok(None);
    }
    let partitions = (0..4u32)
        .filter_map(|i| {
            let e = &mbr[446 + i as usize * 16..446 + (i as usize + 1) * 16];
            let ptype = e[4];
            let start = u64::from(u32le(e, 8));
            let count = u64::from(u32le(e, 12));
            (ptype != 0 && count > 0).then(|| Partition {
                number: i + 1,
                first_lba: start,
                last_lba: start + count - 1,
                type_id: format!("0x{ptype:02x}"),
                part_uuid: None,
                name: String::new(),
            })
        })
        .collect();
    Ok(Some(PartitionTable {
        kind: TableKind::Msdos,
        partitions,
        gpt_alternate_lba: None,
    }))
}

fn read_gpt<R: ReadAt + ?Sized>(dev: &R, sector: u64) -> Result<Option<PartitionTable>, String> {
    let mut hdr = vec![0u8; 92];
    if dev.read_exact_at(&mut hdr, sector).is_err() || &hdr[0..8] != b"EFI PART" {
        return Ok(None);
    }
    let alternate = u64le(&hdr, 32);
    let entries_lba = u64le(&hdr, 72);
    let count = u32le(&hdr, 80) as usize;
    let size = u32le(&hdr, 84) as usize;
    if !(128..=4096).contains(&size) || count > 4096 {
        return Err(format!(
            "the GPT header is not sane ({count} entries of {size} bytes)"
        ));
    }
    let mut entries = vec![0u8; count * size];
    dev.read_exact_at(&mut entries, entries_lba * sector)
        .map_err(|e| format!("cannot read the GPT partition entries: {e}"))?;
    let partitions = entries
        .chunks(size)
        .enumerate()
        .filter(|(_, e)| e[0..16].iter().any(|&b| b != 0))
        .map(|(i, e)| {
            let name: Vec<u16> = e[56..128]
                .chunks(2)
                .map(|c| u16::from_le_bytes([c[0], c[1]]))
                .take_while(|&c| c != 0)
                .collect();
            Partition {
                number: i as u32 + 1,
                first_lba: u64le(e, 32),
                last_lba: u64le(e, 40),
                type_id: guid(&e[0..16]),
                part_uuid: Some(guid(&e[16..32])),
                name: String::from_utf16_lossy(&name),
            }
        })
        .collect();
    Ok(Some(PartitionTable {
        kind: TableKind::Gpt,
        partitions,
        gpt_alternate_lba: Some(alternate),
    }))
}

#[cfg(test)]
pub mod tests {
    use super::*;

    /// A GPT disk image like `sgdisk -o -n 1:2048:+64M -t 1:ef00 -c 1:ESP` makes.
    pub fn gpt_disk(sectors: u64, esp_last: u64) -> Vec<u8> {
        let mut d = vec![0u8; (sectors * 512) as usize];
        // protective MBR
        d[446 + 4] = 0xee;
        d[446 + 8..446 + 12].copy_from_slice(&1u32.to_le_bytes());
        d[510] = 0x55;
        d[511] = 0xaa;
        let h = 512;
        d[h..h + 8].copy_from_slice(b"EFI PART");
        d[h + 32..h + 40].copy_from_slice(&(sectors - 1).to_le_bytes());
        d[h + 72..h + 80].copy_from_slice(&2u64.to_le_bytes());
        d[h + 80..h + 84].copy_from_slice(&128u32.to_le_bytes());
        d[h + 84..h + 88].copy_from_slice(&128u32.to_le_bytes());
        let e = 1024;
        // ESP type GUID in mixed-endian form
        let t: [u8; 16] = [
            0x28, 0x73, 0x2a, 0xc1, 0x1f, 0xf8, 0xd2, 0x11, 0xba, 0x4b, 0x00, 0xa0, 0xc9, 0x3e,
            0xc9, 0x3b,
        ];
        d[e..e + 16].copy_from_slice(&t);
        d[e + 16..e + 32].copy_from_slice(&[0x11; 16]);
        d[e + 32..e + 40].copy_from_slice(&2048u64.to_le_bytes());
        d[e + 40..e + 48].copy_from_slice(&esp_last.to_le_bytes());
        for (i, c) in "ESP".encode_utf16().enumerate() {
            d[e + 56 + 2 * i..e + 58 + 2 * i].copy_from_slice(&c.to_le_bytes());
        }
        d
    }

    #[test]
    fn reads_a_gpt_disk() {
        let d = gpt_disk(4096, 3000);
        let t = read_table(d.as_slice(), 512).unwrap().unwrap();
        assert_eq!(t.kind, TableKind::Gpt);
        assert_eq!(t.gpt_alternate_lba, Some(4095));
        assert_eq!(t.partitions.len(), 1);
        let p = &t.partitions[0];
        assert_eq!((p.number, p.first_lba, p.last_lba), (1, 2048, 3000));
        assert_eq!(p.type_id, ESP_TYPE_GUID);
        assert!(p.is_esp());
        assert_eq!(p.name, "ESP");
        assert_eq!(
            p.part_uuid.as_deref(),
            Some("11111111-1111-1111-1111-111111111111")
        );
        assert_eq!(mbr_signature(&d), "0x00000000");
    }

    #[test]
    fn reads_an_msdos_disk_and_its_signature() {
        let mut d = vec![0u8; 4096];
        d[440..444].copy_from_slice(&0x1234abcdu32.to_le_bytes());
        d[446 + 4] = 0xef;
        d[446 + 8..446 + 12].copy_from_slice(&2048u32.to_le_bytes());
        d[446 + 12..446 + 16].copy_from_slice(&1000u32.to_le_bytes());
        d[462 + 4] = 0x83;
        d[462 + 8..462 + 12].copy_from_slice(&4096u32.to_le_bytes());
        d[462 + 12..462 + 16].copy_from_slice(&10u32.to_le_bytes());
        d[510] = 0x55;
        d[511] = 0xaa;
        let t = read_table(d.as_slice(), 512).unwrap().unwrap();
        assert_eq!(t.kind, TableKind::Msdos);
        assert_eq!(t.partitions.len(), 2);
        assert!(t.partitions[0].is_esp());
        assert_eq!(t.partitions[1].type_id, "0x83");
        assert_eq!(mbr_signature(&d), "0x1234abcd");
    }

    #[test]
    fn no_table_is_none() {
        let d = vec![0u8; 8192];
        assert_eq!(read_table(d.as_slice(), 512).unwrap(), None);
    }
}
