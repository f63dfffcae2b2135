//! The overwrite: every byte of a device written at device speed, then checked.
//!
//! Writes are large (up to 4 MiB), aligned and direct (`O_DIRECT`), so they go to the
//! device without filling the page cache; the kernel splits each one into several
//! requests in flight. Random passes come from a counter-based generator (SplitMix64 over
//! the word's position and a per-pass seed from the kernel): fast, and any block can be
//! recomputed, so the last pass can be verified whether it was random or zeros. Each pass
//! ends with a flush of the device's write cache. The writer checks the cancellation flag
//! between writes.
//!
//! Verification reads samples back (`O_DIRECT`, so from the device, not the cache): the
//! first and last 64 KiB and 16 more at offsets spread pseudo-randomly over the device;
//! every byte must be what the last pass wrote.
//!
//! Compared with IPA's `shred --force [--zero] --iterations N`: the same passes (N random,
//! then zeros when asked), but without shred's small buffered writes through the page
//! cache, and with a result that says what was written and read back.

use hwmgr::Cancel;
use std::fs::{File, OpenOptions};
use std::io::{self, Seek, SeekFrom};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::Path;

use super::progress::Progress;

/// Alignment of every buffer and offset (covers 512 B and 4 KiB logical sectors).
pub const ALIGN: usize = 4096;
/// Size of one verification sample.
const SAMPLE: u64 = 64 << 10;
/// Samples besides the first and last.
const RANDOM_SAMPLES: u64 = 16;

/// One overwrite pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pass {
    /// Random data from this seed.
    Random(u64),
    Zeros,
}

impl Pass {
    pub fn name(&self) -> &'static str {
        match self {
            Pass::Random(_) => "random",
            Pass::Zeros => "zeros",
        }
    }

    /// Fills `buf` with what this pass writes at `offset` (a multiple of 8).
    pub fn fill(&self, buf: &mut [u8], offset: u64) {
        match self {
            Pass::Zeros => buf.fill(0),
            Pass::Random(seed) => {
                // Four independent words per step: the multiplies of one word do not wait
                // for the previous one (measured ~1.4x over one word per step).
                let first = offset / 8;
                let done = (buf.len() / 32 * 4) as u64;
                let mut quads = buf.chunks_exact_mut(32);
                for (i, q) in quads.by_ref().enumerate() {
                    let w = first + 4 * i as u64;
                    for (lane, word) in q.chunks_exact_mut(8).enumerate() {
                        word.copy_from_slice(&random_word(*seed, w + lane as u64).to_le_bytes());
                    }
                }
                for (i, word) in quads.into_remainder().chunks_exact_mut(8).enumerate() {
                    word.copy_from_slice(
                        &random_word(*seed, first + done + i as u64).to_le_bytes(),
                    );
                }
            }
        }
    }
}

/// SplitMix64's output function over `seed + index * golden ratio`.
#[inline(always)]
fn random_word(seed: u64, index: u64) -> u64 {
    let mut z = seed.wrapping_add(index.wrapping_mul(0x9e37_79b9_7f4a_7c15));
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A seed from the kernel's generator (falls back to the clock and a counter).
pub fn fresh_seed() -> u64 {
    let mut b = [0u8; 8];
    let from_kernel = File::open("/dev/urandom").and_then(|f| f.read_exact_at(&mut b, 0));
    if from_kernel.is_ok() {
        return u64::from_le_bytes(b);
    }
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(1);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    random_word(t, N.fetch_add(1, Ordering::Relaxed))
}

/// A page-aligned buffer without `unsafe`: a slightly larger `Vec`, used from its first
/// aligned byte.
pub struct AlignedBuf {
    raw: Vec<u8>,
    start: usize,
    len: usize,
}

impl AlignedBuf {
    pub fn new(len: usize) -> AlignedBuf {
        let raw = vec![0u8; len + ALIGN];
        let start = raw.as_ptr().align_offset(ALIGN).min(ALIGN);
        AlignedBuf { raw, start, len }
    }

    pub fn get_mut(&mut self, len: usize) -> &mut [u8] {
        &mut self.raw[self.start..self.start + len.min(self.len)]
    }
}

/// What the writer writes to and reads from. [`DeviceFile`] in the agent; unit tests
/// also use faults injected through this trait.
pub trait Target: Send {
    /// Size in bytes.
    fn size(&self) -> u64;
    fn write_at(&mut self, buf: &[u8], offset: u64) -> io::Result<()>;
    fn read_at(&mut self, buf: &mut [u8], offset: u64) -> io::Result<()>;
    fn flush(&mut self) -> io::Result<()>;
}

/// A block device (or, in tests, a file) opened for direct I/O.
pub struct DeviceFile {
    file: File,
    len: u64,
    /// False when the file system under a test file refused `O_DIRECT`.
    pub direct: bool,
}

impl DeviceFile {
    /// Opens read-write with `O_DIRECT | O_EXCL`: `O_EXCL` on a block device fails with
    /// EBUSY while anything (a mount, an md array, device-mapper) holds it.
    pub fn open(path: &Path) -> io::Result<DeviceFile> {
        let open = |flags: i32| {
            OpenOptions::new()
                .read(true)
                .write(true)
                .custom_flags(flags)
                .open(path)
        };
        let (mut file, direct) = match open(libc::O_DIRECT | libc::O_EXCL) {
            Ok(f) => (f, true),
            // tmpfs and some other file systems refuse O_DIRECT on regular files.
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => (open(libc::O_EXCL)?, false),
            Err(e) => return Err(e),
        };
        let len = file.seek(SeekFrom::End(0))?;
        Ok(DeviceFile { file, len, direct })
    }
}

impl Target for DeviceFile {
    fn size(&self) -> u64 {
        self.len
    }
    fn write_at(&mut self, buf: &[u8], offset: u64) -> io::Result<()> {
        self.file.write_all_at(buf, offset)
    }
    fn read_at(&mut self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        self.file.read_exact_at(buf, offset)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.file.sync_data()
    }
}

/// Why a pass stopped.
#[derive(Debug)]
pub enum Stop {
    Cancelled {
        pass: usize,
        offset: u64,
    },
    Failed {
        pass: usize,
        offset: u64,
        error: io::Error,
    },
}

/// Writes `passes` over the whole target in `chunk`-byte writes (a multiple of
/// [`ALIGN`]); returns the bytes written. Random data is generated on a second thread
/// while the previous chunk is being written (two buffers), so a device is written at
/// its own speed as long as one core generates faster than it writes.
pub fn overwrite(
    t: &mut dyn Target,
    passes: &[Pass],
    chunk: usize,
    progress: &Progress,
    cancel: &Cancel,
) -> Result<u64, Stop> {
    let len = t.size();
    let mut written = 0;
    for (i, pass) in passes.iter().enumerate() {
        let what = format!(
            "overwrite pass {}/{} ({})",
            i + 1,
            passes.len(),
            pass.name()
        );
        progress.stage(what, len);
        let fail = |offset, error| Stop::Failed {
            pass: i,
            offset,
            error,
        };
        let mut write = |b: &[u8], offset: u64| -> Result<(), Stop> {
            if cancel.is_cancelled() {
                return Err(Stop::Cancelled { pass: i, offset });
            }
            t.write_at(b, offset).map_err(|e| fail(offset, e))?;
            written += b.len() as u64;
            progress.set_done(offset + b.len() as u64);
            Ok(())
        };
        match pass {
            Pass::Zeros => {
                let mut buf = AlignedBuf::new(chunk);
                let mut offset = 0;
                while offset < len {
                    let n = chunk.min((len - offset) as usize);
                    write(buf.get_mut(n), offset)?;
                    offset += n as u64;
                }
            }
            Pass::Random(_) => generated(*pass, len, chunk, &mut write)?,
        }
        t.flush().map_err(|e| fail(len, e))?;
    }
    Ok(written)
}

/// Writes one chunk at an offset.
type WriteChunk<'a> = dyn FnMut(&[u8], u64) -> Result<(), Stop> + 'a;

/// Feeds `write` the whole pass in order, the next chunk generated on a helper thread
/// while the current one is written. An error from `write` ends the pass (and the
/// helper, whose channels close).
fn generated(pass: Pass, len: u64, chunk: usize, write: &mut WriteChunk) -> Result<(), Stop> {
    use std::sync::mpsc::sync_channel;
    let (full_tx, full_rx) = sync_channel::<(AlignedBuf, u64, usize)>(1);
    let (empty_tx, empty_rx) = sync_channel::<AlignedBuf>(2);
    for _ in 0..2 {
        let _ = empty_tx.send(AlignedBuf::new(chunk));
    }
    // `move`: the receiver and the sender of empty buffers are dropped when this closure
    // returns (also on an error), which ends the helper before the scope joins it.
    std::thread::scope(move |s| {
        s.spawn(move || {
            let mut offset = 0;
            while offset < len {
                let Ok(mut buf) = empty_rx.recv() else { return };
                let n = chunk.min((len - offset) as usize);
                pass.fill(buf.get_mut(n), offset);
                if full_tx.send((buf, offset, n)).is_err() {
                    return;
                }
                offset += n as u64;
            }
        });
        for (mut buf, offset, n) in full_rx.iter() {
            write(buf.get_mut(n), offset)?;
            // The helper may have finished: the buffer is simply dropped then.
            let _ = empty_tx.send(buf);
        }
        Ok(())
    })
}

/// The result of reading samples back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub samples: usize,
    pub bytes_read: u64,
}

/// Offsets of the samples: first, last, and [`RANDOM_SAMPLES`] spread pseudo-randomly,
/// each aligned and inside the device.
pub fn sample_offsets(len: u64, seed: u64) -> Vec<(u64, usize)> {
    let size = SAMPLE.min(len);
    if size == 0 {
        return Vec::new();
    }
    let last = (len - size) / ALIGN as u64 * ALIGN as u64;
    let mut out = vec![(0, size as usize)];
    if last > 0 {
        out.push((last, size as usize));
    }
    let slots = last / ALIGN as u64;
    for i in 0..RANDOM_SAMPLES.min(slots) {
        let off = random_word(seed ^ 0x5eed, i) % (slots + 1) * ALIGN as u64;
        out.push((off, size as usize));
    }
    out
}

/// Reads the samples and checks they hold what `last` wrote. `Err` names the first
/// offset that does not.
pub fn verify(t: &mut dyn Target, last: Pass, seed: u64) -> Result<Verified, String> {
    let offsets = sample_offsets(t.size(), seed);
    let mut buf = AlignedBuf::new(SAMPLE as usize);
    let mut want = vec![0u8; SAMPLE as usize];
    let mut bytes_read = 0;
    for (off, size) in &offsets {
        let got = buf.get_mut(*size);
        t.read_at(got, *off)
            .map_err(|e| format!("reading back {size} bytes at offset {off} failed: {e}"))?;
        bytes_read += *size as u64;
        let want = &mut want[..*size];
        last.fill(want, *off);
        if got != want {
            let at = got
                .iter()
                .zip(want.iter())
                .position(|(a, b)| a != b)
                .unwrap_or(0);
            return Err(format!(
                "verification failed: byte {} (sample at offset {off}) is not what the {} \
                 pass wrote",
                off + at as u64,
                last.name()
            ));
        }
    }
    Ok(Verified {
        samples: offsets.len(),
        bytes_read,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A target in memory that can fail after a number of bytes.
    struct Mem {
        data: Vec<u8>,
        fail_after: Option<u64>,
        written: u64,
        flushes: usize,
    }

    impl Target for Mem {
        fn size(&self) -> u64 {
            self.data.len() as u64
        }
        fn write_at(&mut self, buf: &[u8], offset: u64) -> io::Result<()> {
            if self.fail_after.is_some_and(|n| self.written >= n) {
                return Err(io::Error::from_raw_os_error(libc::ENXIO));
            }
            self.data[offset as usize..offset as usize + buf.len()].copy_from_slice(buf);
            self.written += buf.len() as u64;
            Ok(())
        }
        fn read_at(&mut self, buf: &mut [u8], offset: u64) -> io::Result<()> {
            buf.copy_from_slice(&self.data[offset as usize..offset as usize + buf.len()]);
            Ok(())
        }
        fn flush(&mut self) -> io::Result<()> {
            self.flushes += 1;
            Ok(())
        }
    }

    fn mem(len: usize) -> Mem {
        Mem {
            data: vec![0xAB; len],
            fail_after: None,
            written: 0,
            flushes: 0,
        }
    }

    #[test]
    fn random_then_zeros_covers_every_byte_and_verifies() {
        // Not a multiple of the chunk: the tail write is shorter.
        let mut t = mem(3 * 8192 + 4096);
        let p = Progress::new("/dev/x");
        let passes = [Pass::Random(7), Pass::Zeros];
        let n = overwrite(&mut t, &passes, 8192, &p, &Cancel::new()).unwrap();
        assert_eq!(n, 2 * t.data.len() as u64);
        assert_eq!(t.flushes, 2, "one flush per pass");
        assert!(t.data.iter().all(|b| *b == 0));
        let v = verify(&mut t, Pass::Zeros, 1).unwrap();
        assert_eq!(v.samples, 1, "a device smaller than a sample is read whole");
        t.data[4096 * 3 + 5] = 1;
        assert!(verify(&mut t, Pass::Zeros, 1)
            .unwrap_err()
            .contains("is not what the zeros pass wrote"));
    }

    #[test]
    fn a_random_last_pass_is_verified_against_the_stream() {
        let mut t = mem(1 << 20);
        let p = Progress::new("/dev/x");
        overwrite(&mut t, &[Pass::Random(42)], 64 << 10, &p, &Cancel::new()).unwrap();
        assert!(t.data.iter().filter(|b| **b == 0xAB).count() < 10_000);
        verify(&mut t, Pass::Random(42), 9).unwrap();
        assert!(verify(&mut t, Pass::Random(43), 9).is_err());
        assert!(verify(&mut t, Pass::Zeros, 9).is_err());
    }

    #[test]
    fn random_data_is_the_same_stream_whatever_the_buffer_split() {
        let mut whole = vec![0u8; 4096 + 40];
        Pass::Random(9).fill(&mut whole, 8);
        let mut parts = vec![0u8; 4096 + 40];
        let (a, b) = parts.split_at_mut(24);
        Pass::Random(9).fill(a, 8);
        Pass::Random(9).fill(b, 8 + 24);
        assert_eq!(whole, parts);
        assert_eq!(&whole[..8], &random_word(9, 1).to_le_bytes());
    }

    #[test]
    fn random_data_differs_between_passes_and_positions() {
        let mut a = vec![0u8; 4096];
        let mut b = vec![0u8; 4096];
        Pass::Random(1).fill(&mut a, 0);
        Pass::Random(1).fill(&mut b, 4096);
        assert_ne!(a, b);
        Pass::Random(2).fill(&mut b, 0);
        assert_ne!(a, b);
        let zeros = a.iter().filter(|x| **x == 0).count();
        assert!(zeros < 64, "{zeros} zero bytes in 4 KiB of random data");
    }

    #[test]
    fn cancellation_and_failure_stop_with_the_offset() {
        let mut t = mem(1 << 20);
        let p = Progress::new("/dev/x");
        let c = Cancel::new();
        c.cancel("test");
        match overwrite(&mut t, &[Pass::Zeros], 4096, &p, &c) {
            Err(Stop::Cancelled { pass: 0, offset: 0 }) => {}
            other => panic!("{other:?}"),
        }
        let mut t = mem(1 << 20);
        t.fail_after = Some(8192);
        match overwrite(&mut t, &[Pass::Zeros], 4096, &p, &Cancel::new()) {
            Err(Stop::Failed {
                pass: 0,
                offset: 8192,
                error,
            }) => assert_eq!(error.raw_os_error(), Some(libc::ENXIO)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_random_pass_stops_cleanly_too() {
        let p = Progress::new("/dev/x");
        let mut t = mem(1 << 20);
        t.fail_after = Some(3 * 4096);
        match overwrite(
            &mut t,
            &[Pass::Random(1), Pass::Zeros],
            4096,
            &p,
            &Cancel::new(),
        ) {
            Err(Stop::Failed {
                pass: 0,
                offset: 12288,
                ..
            }) => {}
            other => panic!("{other:?}"),
        }
        let c = Cancel::new();
        c.cancel("test");
        let mut t = mem(1 << 20);
        match overwrite(&mut t, &[Pass::Random(1)], 4096, &p, &c) {
            Err(Stop::Cancelled { pass: 0, offset: 0 }) => {}
            other => panic!("{other:?}"),
        }
        assert_eq!(t.written, 0);
    }

    #[test]
    fn samples_stay_inside_and_aligned() {
        for len in [4096u64, 65536, 100 * 4096, 64 << 20] {
            let s = sample_offsets(len, 3);
            assert_eq!(s[0], (0, SAMPLE.min(len) as usize));
            for (off, size) in &s {
                assert_eq!(off % ALIGN as u64, 0);
                assert!(off + *size as u64 <= len, "{len}: {off}+{size}");
            }
            if len >= 64 << 20 {
                assert_eq!(s.len(), 2 + RANDOM_SAMPLES as usize);
                assert_eq!(s[1].0, len - SAMPLE);
            }
        }
    }

    #[test]
    fn device_file_writes_a_real_file() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("disk.img");
        std::fs::write(&path, vec![0x5Au8; 256 << 10]).unwrap();
        let mut f = DeviceFile::open(&path).unwrap();
        assert_eq!(f.size(), 256 << 10);
        let p = Progress::new("/dev/x");
        overwrite(
            &mut f,
            &[Pass::Random(5), Pass::Zeros],
            64 << 10,
            &p,
            &Cancel::new(),
        )
        .unwrap();
        verify(&mut f, Pass::Zeros, 5).unwrap();
        drop(f);
        assert!(std::fs::read(&path).unwrap().iter().all(|b| *b == 0));
    }
}
