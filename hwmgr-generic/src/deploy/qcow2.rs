//! A qcow2 reader that works on the download stream itself, so an image is never staged in
//! RAM or tmpfs (IPA downloads it to `/tmp` and runs `qemu-img convert`, which needs RAM ≥
//! the image in a ramdisk). Format: QEMU's `docs/interop/qcow2.txt`.
//!
//! The file is read once, front to back, one host cluster at a time. The header says where
//! the L1 table is; each L1 entry says where an L2 table is; each L2 entry says where a
//! guest cluster's data is. A cluster whose role is known when it passes is used at once
//! (tables are parsed, data is written at its guest offset); a cluster whose role is not
//! yet known is kept ("parked"), up to [`PARK_LIMIT`] bytes, in case a table read later
//! points at it. `qemu-img convert` and `qemu-img create` allocate every table before the
//! data it maps, so such images need no parking at all; an image whose tables come after
//! much of their data (e.g. an L1 table moved to the end by a resize) is refused with an
//! explanation once more than [`PARK_LIMIT`] would be needed.
//!
//! Supported: versions 2 and 3, any cluster size, zlib-compressed clusters, zero clusters,
//! unallocated clusters (they read as zeros: the caller zeroes every range the image does
//! not write). Refused, before anything is written: backing files, encryption, external
//! data files, zstd compression, extended L2 entries (subclusters), internal snapshots,
//! images marked corrupt.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Read;

pub const MAGIC: &[u8; 4] = b"QFI\xfb";

/// Unknown clusters kept while waiting for the table that maps them.
pub const PARK_LIMIT: usize = 8 << 20;

const L1_OFFSET_MASK: u64 = 0x00ff_ffff_ffff_fe00;
const L2_OFFSET_MASK: u64 = 0x00ff_ffff_ffff_fe00;
const COMPRESSED_FLAG: u64 = 1 << 62;
const ZERO_FLAG: u64 = 1;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub version: u32,
    pub cluster_bits: u32,
    /// The virtual disk size in bytes.
    pub size: u64,
    pub l1_size: u64,
    pub l1_table_offset: u64,
    pub refcount_table_offset: u64,
    pub refcount_table_clusters: u64,
}

impl Header {
    pub fn cluster_size(&self) -> u64 {
        1 << self.cluster_bits
    }
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn be64(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_be_bytes(a)
}

/// Parses and vets the header (the first cluster, or at least its first 112 bytes).
pub fn parse_header(b: &[u8]) -> Result<Header, String> {
    if b.len() < 72 || &b[0..4] != MAGIC {
        return Err("not a qcow2 image (no QFI\\xfb magic)".into());
    }
    let version = be32(b, 4);
    if version != 2 && version != 3 {
        return Err(format!(
            "qcow2 version {version} is not supported (2 and 3 are)"
        ));
    }
    let backing_offset = be64(b, 8);
    if backing_offset != 0 {
        let len = be32(b, 16) as usize;
        let name = b
            .get(backing_offset as usize..backing_offset as usize + len)
            .map(|n| String::from_utf8_lossy(n).into_owned())
            .unwrap_or_else(|| "?".into());
        return Err(format!(
            "the qcow2 image has a backing file ({name}); deploy a self-contained image \
             (`qemu-img convert -O qcow2` flattens it)"
        ));
    }
    let cluster_bits = be32(b, 20);
    if !(9..=21).contains(&cluster_bits) {
        return Err(format!(
            "qcow2 cluster_bits {cluster_bits} is out of range (9-21)"
        ));
    }
    if be32(b, 32) != 0 {
        return Err("the qcow2 image is encrypted; deploy an unencrypted image".into());
    }
    if be32(b, 60) != 0 {
        return Err(format!(
            "the qcow2 image has {} internal snapshots; remove them (`qemu-img snapshot -d`) or \
             convert the image",
            be32(b, 60)
        ));
    }
    if version == 3 {
        check_features(b)?;
    }
    let h = Header {
        version,
        cluster_bits,
        size: be64(b, 24),
        l1_size: u64::from(be32(b, 36)),
        l1_table_offset: be64(b, 40),
        refcount_table_offset: be64(b, 48),
        refcount_table_clusters: u64::from(be32(b, 56)),
    };
    let cs = h.cluster_size();
    if h.l1_size * 8 > 32 << 20 {
        return Err(format!(
            "qcow2 L1 table of {} entries is too large",
            h.l1_size
        ));
    }
    if !h.l1_table_offset.is_multiple_of(cs) || !h.refcount_table_offset.is_multiple_of(cs) {
        return Err("qcow2 L1 or refcount table is not cluster aligned (corrupt image)".into());
    }
    let per_l2 = cs / 8 * cs;
    if h.l1_size < h.size.div_ceil(per_l2) {
        return Err(format!(
            "qcow2 L1 table ({} entries) is too small for the virtual size {} (corrupt image)",
            h.l1_size, h.size
        ));
    }
    Ok(h)
}

fn check_features(b: &[u8]) -> Result<(), String> {
    if b.len() < 104 {
        return Err("truncated qcow2 v3 header".into());
    }
    let incompatible = be64(b, 72);
    let header_length = be32(b, 100) as usize;
    if incompatible & 2 != 0 {
        return Err(
            "the qcow2 image is marked corrupt; repair it with `qemu-img check -r all`".into(),
        );
    }
    if incompatible & 4 != 0 {
        return Err("the qcow2 image keeps its data in an external data file; deploy a self-contained image".into());
    }
    if incompatible & 8 != 0 {
        let ctype = if header_length > 104 && b.len() > 104 {
            b[104]
        } else {
            0
        };
        if ctype != 0 {
            return Err(
                "the qcow2 image uses zstd compression; only zlib is supported \
                        (`qemu-img convert -O qcow2 -c -o compression_type=zlib`)"
                    .into(),
            );
        }
    }
    if incompatible & 16 != 0 {
        return Err(
            "the qcow2 image uses extended L2 entries (subclusters), which are not supported"
                .into(),
        );
    }
    let unknown = incompatible & !0x1f;
    if unknown != 0 {
        return Err(format!(
            "the qcow2 image has unknown incompatible features 0x{unknown:x}"
        ));
    }
    Ok(())
}

/// Where decoded guest data goes.
pub trait Sink {
    type Error;
    fn data(&mut self, guest_offset: u64, bytes: &[u8]) -> Result<(), Self::Error>;
}

/// Why decoding stopped.
#[derive(Debug)]
pub enum DecodeError<E> {
    /// The image itself is unusable (corrupt, not streamable, truncated).
    Format(String),
    /// Reading the stream failed.
    Input(std::io::Error),
    /// The sink refused data.
    Sink(E),
}

/// Guest byte ranges written so far, merged.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RangeSet(BTreeMap<u64, u64>);

impl RangeSet {
    pub fn insert(&mut self, start: u64, end: u64) {
        let (mut s, mut e) = (start, end);
        // merge with the range ending at or after `start` that begins before it
        if let Some((&ps, &pe)) = self.0.range(..=s).next_back() {
            if pe >= s {
                s = ps;
                e = e.max(pe);
                self.0.remove(&ps);
            }
        }
        while let Some((&ns, &ne)) = self.0.range(s..).next() {
            if ns > e {
                break;
            }
            e = e.max(ne);
            self.0.remove(&ns);
        }
        self.0.insert(s, e);
    }

    /// The ranges of `[0, size)` not covered.
    pub fn gaps(&self, size: u64) -> Vec<(u64, u64)> {
        let mut out = Vec::new();
        let mut at = 0;
        for (&s, &e) in &self.0 {
            if s > at {
                out.push((at, s.min(size)));
            }
            at = at.max(e);
        }
        if at < size {
            out.push((at, size));
        }
        out.retain(|(s, e)| s < e);
        out
    }
}

#[derive(Debug, Clone, Copy)]
enum Role {
    L1 { part: u64 },
    L2 { guest_base: u64 },
    RefTable,
    Skip,
    Data { guest: u64 },
    Compressed { start: u64 },
}

struct PendingCompressed {
    len: u64,
    guest: u64,
    buf: Vec<u8>,
}

struct Decoder<'s, S: Sink> {
    h: Header,
    cs: u64,
    current: u64,
    roles: BTreeMap<u64, Vec<Role>>,
    parked: BTreeMap<u64, Box<[u8]>>,
    parked_bytes: usize,
    park_limit: usize,
    zero_unknown: BTreeSet<u64>,
    compressed: HashMap<u64, PendingCompressed>,
    written: RangeSet,
    sink: &'s mut S,
}

type Res<E> = Result<(), DecodeError<E>>;

/// Decodes a qcow2 stream: `first` holds the bytes already read from the front of the
/// file (at least the header), `rest` the remainder. Returns the header and the guest
/// ranges written; everything else of `[0, size)` must read as zeros.
pub fn decode<R: Read, S: Sink>(
    first: &[u8],
    rest: R,
    sink: &mut S,
) -> Result<(Header, RangeSet), DecodeError<S::Error>> {
    decode_with_limit(first, rest, sink, PARK_LIMIT)
}

/// [`decode`] with another parking limit (tests).
pub fn decode_with_limit<R: Read, S: Sink>(
    first: &[u8],
    rest: R,
    sink: &mut S,
    park_limit: usize,
) -> Result<(Header, RangeSet), DecodeError<S::Error>> {
    let h = parse_header(first).map_err(DecodeError::Format)?;
    let cs = h.cluster_size();
    let mut input = std::io::Cursor::new(first.to_vec()).chain(rest);
    let mut d = Decoder {
        h: h.clone(),
        cs,
        current: 0,
        roles: BTreeMap::new(),
        parked: BTreeMap::new(),
        parked_bytes: 0,
        park_limit,
        zero_unknown: BTreeSet::new(),
        compressed: HashMap::new(),
        written: RangeSet::default(),
        sink,
    };
    let mut buf = vec![0u8; cs as usize];
    // cluster 0: the header
    let n = read_full(&mut input, &mut buf).map_err(DecodeError::Input)?;
    if (n as u64) < 72 {
        return Err(DecodeError::Format("truncated qcow2 header".into()));
    }
    for part in 0..(h.l1_size * 8).div_ceil(cs) {
        d.register(h.l1_table_offset / cs + part, Role::L1 { part })?;
    }
    for part in 0..h.refcount_table_clusters {
        d.register(h.refcount_table_offset / cs + part, Role::RefTable)?;
    }
    loop {
        d.current += 1;
        let n = read_full(&mut input, &mut buf).map_err(DecodeError::Input)?;
        if n == 0 {
            break;
        }
        buf[n..].fill(0);
        d.cluster(&buf, n)?;
        if n < cs as usize {
            break;
        }
    }
    d.finish()?;
    Ok((h, d.written))
}

/// Reads until `buf` is full or the stream ends; the count read.
pub(super) fn read_full<R: Read>(r: &mut R, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

impl<S: Sink> Decoder<'_, S> {
    /// One host cluster (`len` real bytes, the rest zero-filled) arriving at `current`.
    fn cluster(&mut self, bytes: &[u8], len: usize) -> Res<S::Error> {
        let idx = self.current;
        match self.roles.remove(&idx) {
            Some(roles) => {
                // Compressed clusters share host clusters: the rest of this one may belong
                // to a compressed cluster whose L2 table comes next. Keep it a while.
                let shared = roles.iter().any(|r| matches!(r, Role::Compressed { .. }));
                for role in roles {
                    self.apply(idx, role, bytes, len)?;
                }
                if shared {
                    self.park(idx, &bytes[..len]);
                }
            }
            None if bytes.iter().all(|&b| b == 0) => {
                self.zero_unknown.insert(idx);
            }
            None => self.park(idx, bytes),
        }
        Ok(())
    }

    fn park(&mut self, idx: u64, bytes: &[u8]) {
        self.parked.insert(idx, bytes.into());
        self.parked_bytes += bytes.len();
        while self.parked_bytes > self.park_limit {
            let Some((&oldest, _)) = self.parked.iter().next() else {
                break;
            };
            if let Some(b) = self.parked.remove(&oldest) {
                self.parked_bytes -= b.len();
            }
        }
    }

    /// Bytes of a cluster that has already passed, if we still have them.
    fn passed(&self, idx: u64) -> Option<Vec<u8>> {
        if let Some(b) = self.parked.get(&idx) {
            return Some(b.to_vec());
        }
        self.zero_unknown
            .contains(&idx)
            .then(|| vec![0u8; self.cs as usize])
    }

    fn not_streamable(&self, idx: u64) -> DecodeError<S::Error> {
        DecodeError::Format(format!(
            "this qcow2 image cannot be streamed: the table that maps host offset {} comes \
             after it, further than the {} MiB this agent keeps while waiting. Rewrite the \
             image with `qemu-img convert -O qcow2` (which writes every table before its data) \
             or deploy it as raw",
            idx * self.cs,
            (self.park_limit >> 20).max(1)
        ))
    }

    fn register(&mut self, idx: u64, role: Role) -> Res<S::Error> {
        if idx > self.current {
            self.roles.entry(idx).or_default().push(role);
            return Ok(());
        }
        if idx == 0 || idx == self.current {
            return Err(DecodeError::Format(format!(
                "qcow2 metadata points at host offset {} which holds other metadata (corrupt image)",
                idx * self.cs
            )));
        }
        let bytes = self.passed(idx).ok_or_else(|| self.not_streamable(idx))?;
        if !matches!(role, Role::Compressed { .. }) {
            if let Some(b) = self.parked.remove(&idx) {
                self.parked_bytes -= b.len();
            }
        }
        let len = bytes.len();
        self.apply(idx, role, &bytes, len)
    }

    fn apply(&mut self, idx: u64, role: Role, bytes: &[u8], len: usize) -> Res<S::Error> {
        let per_table = self.cs / 8;
        match role {
            Role::L1 { part } => {
                for (j, e) in bytes.chunks(8).enumerate() {
                    let i = part * per_table + j as u64;
                    let l2 = be64(e, 0) & L1_OFFSET_MASK;
                    if i >= self.h.l1_size || l2 == 0 {
                        continue;
                    }
                    if !l2.is_multiple_of(self.cs) {
                        return Err(DecodeError::Format(format!(
                            "qcow2 L1 entry {i} points at an unaligned L2 table (corrupt image)"
                        )));
                    }
                    self.register(
                        l2 / self.cs,
                        Role::L2 {
                            guest_base: i * per_table * self.cs,
                        },
                    )?;
                }
            }
            Role::L2 { guest_base } => self.l2_table(guest_base, bytes)?,
            Role::RefTable => {
                for e in bytes.chunks(8) {
                    let block = be64(e, 0) & !0x1ff;
                    if block != 0 && block.is_multiple_of(self.cs) {
                        self.register(block / self.cs, Role::Skip)?;
                    }
                }
            }
            Role::Skip => {}
            Role::Data { guest } => {
                let n = self.cs.min(self.h.size - guest) as usize;
                self.emit(guest, &bytes[..n])?;
            }
            Role::Compressed { start } => self.compressed_part(idx, start, &bytes[..len])?,
        }
        Ok(())
    }

    fn l2_table(&mut self, guest_base: u64, table: &[u8]) -> Res<S::Error> {
        for (j, e) in table.chunks(8).enumerate() {
            let entry = be64(e, 0);
            let guest = guest_base + j as u64 * self.cs;
            if guest >= self.h.size || entry == 0 {
                continue;
            }
            if entry & COMPRESSED_FLAG != 0 {
                let x = 62 - (self.h.cluster_bits - 8);
                let start = entry & ((1u64 << x) - 1);
                let sectors = ((entry >> x) & ((1u64 << (self.h.cluster_bits - 8)) - 1)) + 1;
                let len = sectors * 512 - (start & 511);
                self.compressed.insert(
                    start,
                    PendingCompressed {
                        len,
                        guest,
                        buf: Vec::with_capacity(len as usize),
                    },
                );
                let first = start / self.cs;
                let last = (start + len - 1) / self.cs;
                for c in first..=last {
                    self.register(c, Role::Compressed { start })?;
                }
                continue;
            }
            let host = entry & L2_OFFSET_MASK;
            if self.h.version == 3 && entry & ZERO_FLAG != 0 {
                if host != 0 {
                    self.register(host / self.cs, Role::Skip)?;
                }
                continue;
            }
            if host == 0 {
                continue;
            }
            if !host.is_multiple_of(self.cs) {
                return Err(DecodeError::Format(format!(
                    "qcow2 L2 entry for guest offset {guest} is unaligned (corrupt image)"
                )));
            }
            self.register(host / self.cs, Role::Data { guest })?;
        }
        Ok(())
    }

    /// Adds the part of host cluster `idx` that belongs to the compressed cluster at byte
    /// `start`; inflates it once complete.
    fn compressed_part(&mut self, idx: u64, start: u64, bytes: &[u8]) -> Res<S::Error> {
        let cs = self.cs;
        let Some(p) = self.compressed.get_mut(&start) else {
            return Ok(());
        };
        let from = start.max(idx * cs);
        let to = (start + p.len).min(idx * cs + bytes.len() as u64);
        if from < to {
            let expected_at = start + p.buf.len() as u64;
            if from != expected_at {
                return Err(DecodeError::Format(format!(
                    "qcow2 compressed cluster at host offset {start} arrived out of order"
                )));
            }
            p.buf
                .extend_from_slice(&bytes[(from - idx * cs) as usize..(to - idx * cs) as usize]);
        }
        if p.buf.len() as u64 == p.len {
            self.inflate(start)?;
        }
        Ok(())
    }

    fn inflate(&mut self, start: u64) -> Res<S::Error> {
        let Some(p) = self.compressed.remove(&start) else {
            return Ok(());
        };
        let mut out = vec![0u8; self.cs as usize];
        let mut z = flate2::Decompress::new(false);
        let status = z.decompress(&p.buf, &mut out, flate2::FlushDecompress::Finish);
        let ok = matches!(
            status,
            Ok(flate2::Status::StreamEnd) | Ok(flate2::Status::BufError) | Ok(flate2::Status::Ok)
        ) && z.total_out() == self.cs;
        if !ok {
            return Err(DecodeError::Format(format!(
                "qcow2 compressed cluster at host offset {start} (guest offset {}) does not \
                 inflate to a full cluster (corrupt image)",
                p.guest
            )));
        }
        let n = self.cs.min(self.h.size - p.guest) as usize;
        self.emit(p.guest, &out[..n])
    }

    fn emit(&mut self, guest: u64, bytes: &[u8]) -> Res<S::Error> {
        self.sink.data(guest, bytes).map_err(DecodeError::Sink)?;
        self.written.insert(guest, guest + bytes.len() as u64);
        Ok(())
    }

    /// At the end of the file: compressed clusters whose rounded-up length ran past the end
    /// are complete; anything else still expected means the file is truncated.
    fn finish(&mut self) -> Res<S::Error> {
        let starts: Vec<u64> = self.compressed.keys().copied().collect();
        for start in starts {
            if self
                .compressed
                .get(&start)
                .is_some_and(|p| !p.buf.is_empty())
            {
                self.inflate(start)?;
            }
        }
        let missing: Vec<u64> = self
            .roles
            .iter()
            .filter(|(_, rs)| {
                rs.iter()
                    .any(|r| !matches!(r, Role::Skip | Role::Compressed { .. }))
            })
            .map(|(&i, _)| i)
            .take(1)
            .collect();
        if let Some(i) = missing
            .first()
            .copied()
            .or_else(|| self.compressed.keys().next().map(|s| s / self.cs))
        {
            return Err(DecodeError::Format(format!(
                "the qcow2 image is truncated: host offset {} is referenced but the file ends at {}",
                i * self.cs,
                self.current * self.cs
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "qcow2_tests.rs"]
mod qemu_img_tests;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_set_merges_and_finds_gaps() {
        let mut r = RangeSet::default();
        r.insert(10, 20);
        r.insert(30, 40);
        r.insert(20, 30);
        r.insert(50, 60);
        r.insert(55, 58);
        assert_eq!(r.gaps(70), vec![(0, 10), (40, 50), (60, 70)]);
        r.insert(0, 100);
        assert!(r.gaps(70).is_empty());
    }

    #[test]
    fn refuses_what_it_cannot_stream() {
        let mut h = vec![0u8; 512];
        assert!(parse_header(&h).unwrap_err().contains("magic"));
        h[0..4].copy_from_slice(MAGIC);
        h[4..8].copy_from_slice(&3u32.to_be_bytes());
        h[20..24].copy_from_slice(&16u32.to_be_bytes());
        h[24..32].copy_from_slice(&(1u64 << 30).to_be_bytes());
        h[36..40].copy_from_slice(&2u32.to_be_bytes());
        h[40..48].copy_from_slice(&(3u64 << 16).to_be_bytes());
        h[100..104].copy_from_slice(&112u32.to_be_bytes());
        assert!(parse_header(&h).is_ok());
        let mut enc = h.clone();
        enc[32..36].copy_from_slice(&1u32.to_be_bytes());
        assert!(parse_header(&enc).unwrap_err().contains("encrypted"));
        let mut ext = h.clone();
        ext[72..80].copy_from_slice(&4u64.to_be_bytes());
        assert!(parse_header(&ext)
            .unwrap_err()
            .contains("external data file"));
        let mut zstd = h.clone();
        zstd[72..80].copy_from_slice(&8u64.to_be_bytes());
        zstd[104] = 1;
        assert!(parse_header(&zstd).unwrap_err().contains("zstd"));
        let mut snap = h.clone();
        snap[60..64].copy_from_slice(&1u32.to_be_bytes());
        assert!(parse_header(&snap).unwrap_err().contains("snapshots"));
        let mut small_l1 = h;
        small_l1[36..40].copy_from_slice(&1u32.to_be_bytes());
        assert!(parse_header(&small_l1).unwrap_err().contains("too small"));
    }
}
