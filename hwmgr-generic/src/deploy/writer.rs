//! Writing an image onto the target disk: large writes at aligned offsets (consecutive small
//! pieces, e.g. qcow2 clusters, are coalesced into one buffer), zeroing of the ranges an image
//! leaves unallocated (`BLKZEROOUT`, so the device can do it without data transfer), a flush
//! at the end, and the wipe that makes a failed write unbootable.
//!
//! The disk is opened with `O_EXCL`: the kernel refuses it while it is mounted, an md member
//! or otherwise claimed, which is exactly when writing it would be wrong. Full blocks go to
//! a writer thread ([`super::pipeline`]) so that receiving and hashing the next block
//! overlaps with writing this one.

use super::pipeline::{Block, Pipeline};
use std::fs::{File, OpenOptions};
use std::io::{Seek, SeekFrom};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// The write buffer: writes reach the disk in pieces of this size (or the image's end).
pub const WRITE_BLOCK: usize = 4 << 20;

/// How much is zeroed at each end of the disk by [`DiskWriter::wipe_partition_tables`]:
/// covers the MBR, both GPT headers and entry arrays for 512 B and 4 KiB sectors, and the
/// start of a file system written to the whole disk.
pub const WIPE_BYTES: u64 = 1 << 20;

pub struct DiskWriter {
    file: File,
    /// The device as the operator knows it (`/dev/vda`), for messages.
    pub name: String,
    pub path: PathBuf,
    pub size: u64,
    /// The block being filled, for `pending_at`; `spare` is the other block, `None` while
    /// the writer thread has it.
    pending: Block,
    pending_at: u64,
    spare: Option<Block>,
    pipeline: Pipeline,
    /// Whether anything at all was written (then a failure must wipe).
    pub touched: bool,
    /// Bytes written so far (image data and zeroed ranges).
    pub written: u64,
    /// Time spent waiting for writes, zeroing and flushes (for the figures in the log).
    pub busy: std::time::Duration,
}

/// A failed write, with what the operator needs to know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteError {
    /// The image goes past the end of the disk.
    PastEnd {
        offset: u64,
        size: u64,
    },
    Io(String),
}

impl std::fmt::Display for WriteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WriteError::PastEnd { offset, size } => write!(
                f,
                "the image does not fit: it continues past the end of the disk ({size} bytes) at byte {offset}"
            ),
            WriteError::Io(e) => f.write_str(e),
        }
    }
}

impl DiskWriter {
    /// Opens `path` (the device node, under the host root) for writing.
    pub fn open(name: &str, path: &Path) -> Result<DiskWriter, String> {
        let mut file = OpenOptions::new()
            .write(true)
            .read(true)
            .custom_flags(libc::O_EXCL | libc::O_CLOEXEC)
            .open(path)
            .map_err(|e| match e.raw_os_error() {
                Some(libc::EBUSY) => format!(
                    "{name} is in use (mounted, a RAID member or held by another program): {e}"
                ),
                Some(libc::EROFS) | Some(libc::EACCES) => {
                    format!("{name} cannot be written (read-only device?): {e}")
                }
                _ => format!("cannot open {name} for writing: {e}"),
            })?;
        let size = file
            .seek(SeekFrom::End(0))
            .map_err(|e| format!("cannot find the size of {name}: {e}"))?;
        let pipeline = Pipeline::start(&file, path)
            .map_err(|e| format!("cannot start writing to {name}: {e}"))?;
        tracing::info!(
            "writing {name} with {}",
            if pipeline.direct {
                "direct I/O (O_DIRECT)"
            } else {
                "buffered I/O (the device refuses O_DIRECT)"
            }
        );
        Ok(DiskWriter {
            file,
            name: name.to_string(),
            path: path.to_path_buf(),
            size,
            pending: Block::new(),
            pending_at: 0,
            spare: Some(Block::new()),
            pipeline,
            touched: false,
            written: 0,
            busy: std::time::Duration::ZERO,
        })
    }

    pub fn file(&self) -> &File {
        &self.file
    }

    /// Queues `data` for `offset`; contiguous pieces are written together in blocks of
    /// [`WRITE_BLOCK`].
    pub fn write_at(&mut self, offset: u64, data: &[u8]) -> Result<(), WriteError> {
        let end = offset + data.len() as u64;
        if end > self.size {
            return Err(WriteError::PastEnd {
                offset: offset.max(self.size),
                size: self.size,
            });
        }
        if !self.pending.is_empty() && self.pending_at + self.pending.len() as u64 != offset {
            self.flush_pending()?;
        }
        if self.pending.is_empty() {
            self.pending_at = offset;
        }
        let mut rest = data;
        while !rest.is_empty() {
            let n = self.pending.room().min(rest.len());
            self.pending.push(&rest[..n]);
            rest = &rest[n..];
            if self.pending.room() == 0 {
                self.flush_pending()?;
                self.pending_at = end - rest.len() as u64;
            }
        }
        Ok(())
    }

    /// Hands the pending block to the writer thread (after the previous one came back).
    fn flush_pending(&mut self) -> Result<(), WriteError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        self.touched = true;
        let next = match self.spare.take() {
            Some(b) => b,
            None => self.wait_for_writer()?,
        };
        let full = std::mem::replace(&mut self.pending, next);
        self.pending.clear();
        if !self.pipeline.submit(full, self.pending_at) {
            return Err(self.writer_gone());
        }
        Ok(())
    }

    /// Waits until the block being written is on the disk, and returns it for reuse.
    fn wait_for_writer(&mut self) -> Result<Block, WriteError> {
        let t = std::time::Instant::now();
        let done = self.pipeline.finished().ok_or_else(|| self.writer_gone())?;
        self.busy += t.elapsed();
        let len = done.block.len();
        match done.result {
            Ok(()) => {
                self.written += len as u64;
                Ok(done.block)
            }
            Err(e) => {
                self.spare = Some(done.block);
                Err(WriteError::Io(format!(
                    "writing {len} bytes at offset {} of {} failed: {e}",
                    done.at, self.name
                )))
            }
        }
    }

    /// Everything handed to the writer thread is written (or its error returned).
    fn drain(&mut self) -> Result<(), WriteError> {
        if self.spare.is_none() {
            let b = self.wait_for_writer()?;
            self.spare = Some(b);
        }
        Ok(())
    }

    fn writer_gone(&self) -> WriteError {
        WriteError::Io(format!(
            "the thread writing {} stopped unexpectedly",
            self.name
        ))
    }

    /// Makes `[offset, offset + len)` read as zeros: `BLKZEROOUT` on a block device (the
    /// device may do it without transferring data), plain zero writes otherwise.
    pub fn zero_range(&mut self, offset: u64, len: u64) -> Result<(), WriteError> {
        self.flush_pending()?;
        self.drain()?;
        let len = len.min(self.size.saturating_sub(offset));
        if len == 0 {
            return Ok(());
        }
        self.touched = true;
        let t = std::time::Instant::now();
        let r = self.zero(offset, len);
        self.busy += t.elapsed();
        r
    }

    fn zero(&mut self, offset: u64, len: u64) -> Result<(), WriteError> {
        if blkzeroout(&self.file, offset, len).is_ok() {
            self.written += len;
            return Ok(());
        }
        let zeros = vec![0u8; WRITE_BLOCK];
        let mut at = offset;
        while at < offset + len {
            let n = (offset + len - at).min(WRITE_BLOCK as u64) as usize;
            self.file.write_all_at(&zeros[..n], at).map_err(|e| {
                WriteError::Io(format!("zeroing {} at offset {at} failed: {e}", self.name))
            })?;
            at += n as u64;
        }
        self.written += len;
        Ok(())
    }

    /// Writes what is queued and asks the device to persist it (`fsync`).
    pub fn flush(&mut self) -> Result<(), WriteError> {
        self.flush_pending()?;
        self.drain()?;
        let t = std::time::Instant::now();
        let r = self.file.sync_all();
        self.busy += t.elapsed();
        r.map_err(|e| WriteError::Io(format!("flushing {} failed: {e}", self.name)))
    }

    /// Zeroes the first and last [`WIPE_BYTES`] of the disk: no MBR, no GPT (neither copy),
    /// so firmware finds nothing to boot. Queued data is dropped, not written.
    pub fn wipe_partition_tables(&mut self) -> Result<(), String> {
        self.pending.clear();
        // A failed write in flight changes nothing here: the ends are written below.
        let _ = self.drain();
        let zeros = vec![0u8; WIPE_BYTES as usize];
        let head = WIPE_BYTES.min(self.size);
        let tail_at = self.size.saturating_sub(WIPE_BYTES);
        let r = self
            .file
            .write_all_at(&zeros[..head as usize], 0)
            .and_then(|_| {
                self.file
                    .write_all_at(&zeros[..(self.size - tail_at) as usize], tail_at)
            })
            .and_then(|_| self.file.sync_all());
        r.map_err(|e| format!("wiping the partition tables of {} failed: {e}", self.name))
    }
}

/// `ioctl(BLKZEROOUT, [offset, len])`.
fn blkzeroout(f: &File, offset: u64, len: u64) -> std::io::Result<()> {
    use std::os::unix::io::AsRawFd;
    // _IO(0x12, 127)
    const BLKZEROOUT: libc::c_ulong = 0x127f;
    let range: [u64; 2] = [offset, len];
    // SAFETY: BLKZEROOUT reads a `u64[2]` from the pointer, which lives across the call.
    let rc = unsafe { libc::ioctl(f.as_raw_fd(), BLKZEROOUT as _, range.as_ptr()) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn disk(size: u64) -> (tempfile::TempDir, PathBuf) {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("vda");
        let f = File::create(&p).unwrap();
        f.set_len(size).unwrap();
        (d, p)
    }

    #[test]
    fn coalesces_and_refuses_past_the_end() {
        let (_d, p) = disk(10 << 20);
        let mut w = DiskWriter::open("/dev/vda", &p).unwrap();
        assert_eq!(w.size, 10 << 20);
        w.write_at(0, &[1u8; 65536]).unwrap();
        w.write_at(65536, &[2u8; 65536]).unwrap();
        assert!(!w.touched, "small contiguous writes are queued");
        w.write_at(1 << 20, &[3u8; 10]).unwrap();
        assert!(w.touched);
        w.flush().unwrap();
        let data = std::fs::read(&p).unwrap();
        assert_eq!(data[65535], 1);
        assert_eq!(data[65536], 2);
        assert_eq!(data[(1 << 20) + 9], 3);
        let e = w.write_at((10 << 20) - 5, &[0u8; 10]).unwrap_err();
        assert_eq!(
            e,
            WriteError::PastEnd {
                offset: 10 << 20,
                size: 10 << 20
            }
        );
        assert!(e.to_string().contains("past the end of the disk"));
    }

    #[test]
    fn large_writes_span_blocks() {
        let (_d, p) = disk(16 << 20);
        let mut w = DiskWriter::open("/dev/vda", &p).unwrap();
        let data: Vec<u8> = (0..(9 << 20)).map(|i| (i % 251) as u8).collect();
        w.write_at(4096, &data).unwrap();
        w.flush().unwrap();
        let got = std::fs::read(&p).unwrap();
        assert_eq!(&got[4096..4096 + data.len()], &data[..]);
        assert_eq!(w.written, data.len() as u64);
    }

    #[test]
    fn zero_and_wipe() {
        let (_d, p) = disk(4 << 20);
        std::fs::write(&p, vec![0xffu8; 4 << 20]).unwrap();
        let mut w = DiskWriter::open("/dev/vda", &p).unwrap();
        w.zero_range(1 << 20, 4096).unwrap();
        w.wipe_partition_tables().unwrap();
        let got = std::fs::read(&p).unwrap();
        assert!(got[..1 << 20].iter().all(|&b| b == 0));
        assert!(got[(1 << 20)..(1 << 20) + 4096].iter().all(|&b| b == 0));
        assert_eq!(got[(1 << 20) + 4096], 0xff);
        assert!(got[(3 << 20)..].iter().all(|&b| b == 0));
    }
}
