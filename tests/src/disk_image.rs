//! Reading and preparing raw disk images from the host, around the VMs that use them: md 1.x
//! superblocks are found by their magic (`0xa92b4efc`, little-endian, at 512-byte aligned
//! offsets), partition tables by the MBR signature (`0x55AA` at byte 510) and GPT headers
//! (`EFI PART` at LBA 1 and at the last LBA); a content digest tells whether an image changed.

use std::collections::hash_map::DefaultHasher;
use std::fs::{File, OpenOptions};
use std::hash::Hasher;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::io::AsRawFd;
use std::path::Path;

use crate::qemu::DiskSet;

const MIB: u64 = 1024 * 1024;

/// md superblock magic, as stored on disk (little-endian 0xa92b4efc).
const MD_MAGIC: [u8; 4] = [0xfc, 0x4e, 0x2b, 0xa9];

/// Calls `f(offset, chunk)` for the allocated parts of a sparse file (holes read as zeros
/// and are skipped), in 1 MiB chunks aligned to 1 MiB.
pub fn for_each_data_chunk(path: &Path, mut f: impl FnMut(u64, &[u8])) {
    let mut file = File::open(path).unwrap_or_else(|e| panic!("opening {}: {e}", path.display()));
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let fd = file.as_raw_fd();
    let mut pos: u64 = 0;
    let mut buf = vec![0u8; MIB as usize];
    while pos < len {
        // SAFETY: lseek on a file descriptor we own.
        let data = unsafe { libc::lseek(fd, pos as libc::off_t, libc::SEEK_DATA) };
        if data < 0 {
            break; // ENXIO: only a hole is left
        }
        // SAFETY: as above.
        let hole = unsafe { libc::lseek(fd, data, libc::SEEK_HOLE) };
        let (start, end) = ((data as u64) & !(MIB - 1), (hole as u64).min(len));
        let mut off = start;
        while off < end {
            let n = (len - off).min(MIB) as usize;
            file.seek(SeekFrom::Start(off))
                .and_then(|_| file.read_exact(&mut buf[..n]))
                .unwrap_or_else(|e| panic!("reading {} at {off}: {e}", path.display()));
            f(off, &buf[..n]);
            off += n as u64;
        }
        pos = off;
    }
}

/// Offsets of md superblocks (the magic at a 512-byte aligned offset) in an image.
pub fn md_superblocks(path: &Path) -> Vec<u64> {
    let mut found = Vec::new();
    for_each_data_chunk(path, |off, chunk| {
        for (i, sector) in chunk.chunks(512).enumerate() {
            if sector.len() >= 4 && sector[..4] == MD_MAGIC {
                found.push(off + (i * 512) as u64);
            }
        }
    });
    found
}

/// What an md 1.x superblock on a disk image says about its array and this member
/// (`struct mdp_superblock_1`, `include/uapi/linux/raid/md_p.h`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MdSuperblock {
    /// Where the superblock is in the image.
    pub offset: u64,
    /// The array's UUID (hex) and name (`host:name`).
    pub array_uuid: String,
    pub name: String,
    /// RAID level (1, 5, ...) and member count.
    pub level: i32,
    pub raid_disks: u32,
    /// The superblock's own position, in sectors from the member's start: 8 for metadata
    /// 1.2, near the member's end for 1.0.
    pub super_offset: u64,
    /// Update count: every member of an array in sync carries the same.
    pub events: u64,
    /// Where an unfinished resync stands, in sectors; `u64::MAX` when the array is in sync.
    pub resync_offset: u64,
    /// This member is still being rebuilt (`MD_FEATURE_RECOVERY_OFFSET`).
    pub recovering: bool,
}

impl MdSuperblock {
    /// Metadata 1.0 (superblock at the member's end) rather than 1.1/1.2.
    pub fn at_end(&self) -> bool {
        self.super_offset > 8
    }
}

/// Every md 1.x superblock of an image, decoded.
pub fn md_superblock_info(path: &Path) -> Vec<MdSuperblock> {
    use std::os::unix::fs::FileExt;
    let f = File::open(path).unwrap_or_else(|e| panic!("opening {}: {e}", path.display()));
    md_superblocks(path)
        .into_iter()
        .filter_map(|offset| {
            let mut b = [0u8; 256];
            f.read_exact_at(&mut b, offset).ok()?;
            decode_md_superblock(offset, &b)
        })
        .collect()
}

fn decode_md_superblock(offset: u64, b: &[u8; 256]) -> Option<MdSuperblock> {
    let u32_at = |o: usize| u32::from_le_bytes(b[o..o + 4].try_into().unwrap_or_default());
    let u64_at = |o: usize| u64::from_le_bytes(b[o..o + 8].try_into().unwrap_or_default());
    if b[..4] != MD_MAGIC || u32_at(4) != 1 {
        return None;
    }
    let name = b[32..64].split(|&c| c == 0).next().unwrap_or_default();
    Some(MdSuperblock {
        offset,
        array_uuid: b[16..32].iter().map(|x| format!("{x:02x}")).collect(),
        name: String::from_utf8_lossy(name).into_owned(),
        level: u32_at(72) as i32,
        raid_disks: u32_at(92),
        super_offset: u64_at(144),
        events: u64_at(200),
        resync_offset: u64_at(208),
        recovering: u32_at(8) & 2 != 0,
    })
}

/// What partition table an image carries, if any: an MBR signature (with its non-empty
/// entries), a GPT header at LBA 1 or a backup GPT header at the last LBA.
pub fn partition_table(path: &Path) -> Option<String> {
    let (head, tail) =
        head_and_tail(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let mut found = Vec::new();
    if head[510..512] == [0x55, 0xaa] {
        found.push(format!(
            "MBR signature 0x55AA, entries [{}]",
            mbr_entries(&head).join("; ")
        ));
    }
    if &head[512..520] == b"EFI PART" {
        found.push("GPT header at LBA 1".to_string());
    }
    if &tail[..8] == b"EFI PART" {
        found.push("backup GPT header at the last LBA".to_string());
    }
    (!found.is_empty()).then(|| found.join(", "))
}

/// The first two sectors and the last one.
fn head_and_tail(path: &Path) -> std::io::Result<([u8; 1024], [u8; 512])> {
    let (mut head, mut tail) = ([0u8; 1024], [0u8; 512]);
    let mut f = File::open(path)?;
    let len = f.metadata()?.len();
    f.read_exact(&mut head)?;
    f.seek(SeekFrom::Start(len - 512))?;
    f.read_exact(&mut tail)?;
    Ok((head, tail))
}

/// The non-empty primary entries of an MBR: number, type, start and length in sectors.
fn mbr_entries(mbr: &[u8]) -> Vec<String> {
    let le32 = |b: &[u8]| u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    (0..4)
        .filter_map(|i| {
            let e = &mbr[446 + 16 * i..446 + 16 * (i + 1)];
            (e.iter().any(|b| *b != 0)).then(|| {
                format!(
                    "#{} type {:#04x} start {} sectors {}",
                    i + 1,
                    e[4],
                    le32(&e[8..12]),
                    le32(&e[12..16])
                )
            })
        })
        .collect()
}

/// A digest of an image's contents and its count of non-zero 4 KiB blocks: every non-zero
/// block with its offset (so holes, zero blocks and blocks the guest wrote zeros to are all
/// the same).
pub fn content_digest(path: &Path) -> (u64, u64) {
    let mut h = DefaultHasher::new();
    let mut nonzero_blocks = 0;
    for_each_data_chunk(path, |off, chunk| {
        for (i, block) in chunk.chunks(4096).enumerate() {
            if block.iter().any(|b| *b != 0) {
                h.write_u64(off + (i * 4096) as u64);
                h.write(block);
                nonzero_blocks += 1;
            }
        }
    });
    (h.finish(), nonzero_blocks)
}

/// Asserts that no disk of `set` carries an md superblock or a partition table.
pub fn assert_no_metadata(set: &DiskSet, context: &str) {
    let mut problems = Vec::new();
    for (serial, path) in set.members() {
        let sbs = md_superblocks(path);
        if !sbs.is_empty() {
            problems.push(format!(
                "{} ({serial}): md superblock magic at offsets {sbs:?}",
                path.display()
            ));
        }
        if let Some(pt) = partition_table(path) {
            problems.push(format!("{} ({serial}): {pt}", path.display()));
        }
        eprintln!(
            "disk images: {context}: {serial} clean (no md superblock, no partition table; {} \
             non-zero 4 KiB blocks left)",
            content_digest(path).1
        );
    }
    assert!(
        problems.is_empty(),
        "{context}: disks not clean:\n{}",
        problems.join("\n")
    );
}

/// Writes a minimal MBR with one Linux partition (sectors 2048..+64 MiB) into an image.
pub fn write_mbr(path: &Path) {
    let mut mbr = [0u8; 512];
    mbr[440..444].copy_from_slice(&0x1234_5678u32.to_le_bytes()); // disk identifier
    let e = &mut mbr[446..462];
    e[0] = 0x00; // not bootable
    e[1..4].copy_from_slice(&[0xfe, 0xff, 0xff]); // CHS: use LBA
    e[4] = 0x83; // Linux
    e[5..8].copy_from_slice(&[0xfe, 0xff, 0xff]);
    e[8..12].copy_from_slice(&2048u32.to_le_bytes());
    e[12..16].copy_from_slice(&(64 * 2048u32).to_le_bytes());
    mbr[510] = 0x55;
    mbr[511] = 0xaa;
    OpenOptions::new()
        .write(true)
        .open(path)
        .and_then(|mut f| {
            f.write_all(&mbr)?;
            f.sync_all()
        })
        .unwrap_or_else(|e| panic!("writing an MBR into {}: {e}", path.display()));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_what_it_wrote_and_nothing_in_an_empty_image() {
        let dir = tempfile::tempdir().unwrap();
        let img = dir.path().join("disk.raw");
        File::create(&img).unwrap().set_len(8 * MIB).unwrap();
        assert_eq!(partition_table(&img), None);
        assert_eq!(md_superblocks(&img), Vec::<u64>::new());
        assert_eq!(content_digest(&img).1, 0);

        write_mbr(&img);
        let pt = partition_table(&img).unwrap();
        assert!(
            pt.contains("#1 type 0x83 start 2048 sectors 131072"),
            "{pt}"
        );
        assert_eq!(content_digest(&img).1, 1);

        let mut f = OpenOptions::new().write(true).open(&img).unwrap();
        f.seek(SeekFrom::Start(4 * MIB + 4096)).unwrap();
        f.write_all(&MD_MAGIC).unwrap();
        assert_eq!(md_superblocks(&img), vec![4 * MIB + 4096]);
    }

    #[test]
    fn an_md_superblock_is_decoded() {
        let mut b = [0u8; 256];
        b[..4].copy_from_slice(&MD_MAGIC);
        b[4..8].copy_from_slice(&1u32.to_le_bytes());
        b[8..12].copy_from_slice(&2u32.to_le_bytes());
        b[16..32].copy_from_slice(&[0xab; 16]);
        b[32..40].copy_from_slice(b"host:esp");
        b[72..76].copy_from_slice(&1u32.to_le_bytes());
        b[92..96].copy_from_slice(&3u32.to_le_bytes());
        b[144..152].copy_from_slice(&1_128_432u64.to_le_bytes());
        b[200..208].copy_from_slice(&21u64.to_le_bytes());
        b[208..216].copy_from_slice(&u64::MAX.to_le_bytes());
        let sb = decode_md_superblock(4096, &b).unwrap();
        assert_eq!(sb.name, "host:esp");
        assert_eq!(sb.array_uuid, "ab".repeat(16));
        assert_eq!((sb.level, sb.raid_disks, sb.events), (1, 3, 21));
        assert!(sb.at_end() && sb.recovering && sb.resync_offset == u64::MAX);
        b[4] = 0;
        assert_eq!(decode_md_superblock(4096, &b), None, "not version 1");
    }
}

/// One used GPT partition entry of a disk image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GptEntry {
    pub number: u32,
    pub first_lba: u64,
    pub last_lba: u64,
    /// Type EFI system partition (C12A7328-F81F-11D2-BA4B-00A0C93EC93B).
    pub esp: bool,
    pub name: String,
}

/// The used entries (non-zero type GUID) of the GPT at LBA 1 of a 512-byte-sector image, or
/// `None` without a GPT header there.
pub fn gpt_entries(path: &Path) -> Option<Vec<GptEntry>> {
    const ESP_TYPE: [u8; 16] = [
        0x28, 0x73, 0x2a, 0xc1, 0x1f, 0xf8, 0xd2, 0x11, 0xba, 0x4b, 0x00, 0xa0, 0xc9, 0x3e, 0xc9,
        0x3b,
    ];
    use std::os::unix::fs::FileExt;
    let f = File::open(path).unwrap_or_else(|e| panic!("opening {}: {e}", path.display()));
    let mut hdr = [0u8; 8];
    f.read_exact_at(&mut hdr, 512).ok()?;
    if &hdr != b"EFI PART" {
        return None;
    }
    let mut entries = vec![0u8; 128 * 128];
    f.read_exact_at(&mut entries, 1024).ok()?;
    let le64 = |b: &[u8]| u64::from_le_bytes(b[..8].try_into().unwrap_or_default());
    Some(
        entries
            .chunks(128)
            .enumerate()
            .filter(|(_, e)| e[..16].iter().any(|&b| b != 0))
            .map(|(i, e)| {
                let name: Vec<u16> = e[56..128]
                    .chunks(2)
                    .map(|c| u16::from_le_bytes([c[0], c[1]]))
                    .take_while(|&c| c != 0)
                    .collect();
                GptEntry {
                    number: i as u32 + 1,
                    first_lba: le64(&e[32..40]),
                    last_lba: le64(&e[40..48]),
                    esp: e[..16] == ESP_TYPE,
                    name: String::from_utf16_lossy(&name),
                }
            })
            .collect(),
    )
}

/// Whether `needle` occurs in the UTF-16LE text of a file (an OVMF variable store: the
/// labels of its boot entries).
pub fn contains_utf16(path: &Path, needle: &str) -> bool {
    let data = std::fs::read(path).unwrap_or_default();
    let pattern: Vec<u8> = needle.encode_utf16().flat_map(u16::to_le_bytes).collect();
    data.windows(pattern.len()).any(|w| w == pattern)
}

/// One array of /proc/mdstat.
#[derive(Debug, Clone)]
pub struct MdstatArray {
    pub name: String,
    pub state: String,
    pub level: String,
    /// Member partitions without `/dev/` and without the `[n]` role.
    pub members: Vec<String>,
    /// Size in KiB (the "blocks" figure).
    pub kib: u64,
    /// Members in the array of the ones it should have: `[3/3]`, `[2/3]` when degraded.
    pub status: String,
}

pub fn parse_mdstat(text: &str) -> Vec<MdstatArray> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        let Some((name, rest)) = l.split_once(" : ") else {
            continue;
        };
        if !name.starts_with("md") {
            continue;
        }
        let mut words = rest.split_whitespace();
        let state = words.next().unwrap_or("").to_string();
        let mut level = String::new();
        let mut members = Vec::new();
        for w in words {
            if w.starts_with("raid") || w == "linear" {
                level = w.to_string();
            } else if let Some((m, _)) = w.split_once('[') {
                members.push(m.to_string());
            }
        }
        let kib = lines
            .get(i + 1)
            .and_then(|n| n.split_whitespace().next())
            .and_then(|b| b.parse().ok())
            .unwrap_or(0);
        let status = lines
            .get(i + 1)
            .and_then(|n| {
                n.split_whitespace()
                    .find(|w| w.starts_with('[') && w.contains('/'))
            })
            .unwrap_or("")
            .to_string();
        out.push(MdstatArray {
            name: name.trim().to_string(),
            state,
            level,
            members,
            kib,
            status,
        });
    }
    out
}
