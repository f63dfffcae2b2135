//! The disk side of [`super::writer::DiskWriter`]: one thread that writes full blocks while
//! the deploy receives and hashes the next one, so the network, the hash and the disk work
//! at the same time instead of in turn (with one CPU the disk still progresses: the device
//! does the transfer). Aligned blocks are written with `O_DIRECT`, which skips the copy into
//! the page cache and keeps a small ramdisk's memory free for itself; anything unaligned,
//! and devices or file systems that refuse `O_DIRECT`, use the ordinary descriptor.
//!
//! Two blocks exist: one being filled, one being written. That bounds memory (2 ×
//! [`WRITE_BLOCK`]) and makes the producer wait for the disk when the disk is the slower.

use super::writer::WRITE_BLOCK;
use std::fs::{File, OpenOptions};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::Path;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::thread::JoinHandle;

/// `O_DIRECT` wants the memory, the offset and the length aligned to the logical block
/// size; 4 KiB covers every size Linux supports on x86.
const ALIGN: usize = 4096;

/// A buffer of [`WRITE_BLOCK`] bytes whose used part starts at an [`ALIGN`] boundary.
pub struct Block {
    raw: Vec<u8>,
    start: usize,
    len: usize,
}

impl Block {
    pub fn new() -> Block {
        let raw = vec![0u8; WRITE_BLOCK + ALIGN];
        let start = raw.as_ptr().align_offset(ALIGN).min(ALIGN);
        Block { raw, start, len: 0 }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn room(&self) -> usize {
        WRITE_BLOCK - self.len
    }

    pub fn clear(&mut self) {
        self.len = 0;
    }

    /// Appends `data` (at most [`Block::room`] bytes).
    pub fn push(&mut self, data: &[u8]) {
        let at = self.start + self.len;
        self.raw[at..at + data.len()].copy_from_slice(data);
        self.len += data.len();
    }

    pub fn data(&self) -> &[u8] {
        &self.raw[self.start..self.start + self.len]
    }
}

impl Default for Block {
    fn default() -> Self {
        Block::new()
    }
}

/// A block written (or not) by the thread, handed back for reuse.
pub struct Done {
    pub block: Block,
    pub at: u64,
    pub result: std::io::Result<()>,
}

pub struct Pipeline {
    jobs: Option<SyncSender<(Block, u64)>>,
    done: Receiver<Done>,
    thread: Option<JoinHandle<()>>,
    /// Whether the device takes `O_DIRECT` writes (for the log).
    pub direct: bool,
}

impl Pipeline {
    /// Starts the writer thread on a duplicate of `file` and, when the device accepts it, an
    /// `O_DIRECT` descriptor of `path` (not exclusive: `file` holds the `O_EXCL` claim).
    pub fn start(file: &File, path: &Path) -> std::io::Result<Pipeline> {
        let buffered = file.try_clone()?;
        let direct = OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_DIRECT | libc::O_CLOEXEC)
            .open(path)
            .ok();
        let has_direct = direct.is_some();
        let (jobs, job_rx) = sync_channel::<(Block, u64)>(1);
        let (done_tx, done) = sync_channel::<Done>(2);
        let thread = std::thread::Builder::new()
            .name("disk-writer".into())
            .spawn(move || {
                for (block, at) in job_rx {
                    let result = write_block(&buffered, direct.as_ref(), block.data(), at);
                    if done_tx.send(Done { block, at, result }).is_err() {
                        break;
                    }
                }
            })?;
        Ok(Pipeline {
            jobs: Some(jobs),
            done,
            thread: Some(thread),
            direct: has_direct,
        })
    }

    /// Queues `block` for `at`; `false` when the thread is gone.
    pub fn submit(&self, block: Block, at: u64) -> bool {
        self.jobs
            .as_ref()
            .is_some_and(|j| j.send((block, at)).is_ok())
    }

    /// The next block the thread finished; `None` when the thread is gone.
    pub fn finished(&self) -> Option<Done> {
        self.done.recv().ok()
    }
}

impl Drop for Pipeline {
    fn drop(&mut self) {
        self.jobs.take();
        // The thread ends when it sees the closed queue (after at most the write in hand).
        while self.done.try_recv().is_ok() {}
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// `O_DIRECT` when the block is aligned and the device takes it (`EINVAL` means it does
/// not, for this size or at all): then the ordinary descriptor.
fn write_block(
    buffered: &File,
    direct: Option<&File>,
    data: &[u8],
    at: u64,
) -> std::io::Result<()> {
    let aligned = at.is_multiple_of(ALIGN as u64) && data.len().is_multiple_of(ALIGN);
    if let Some(d) = direct.filter(|_| aligned) {
        match d.write_all_at(data, at) {
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {}
            other => return other,
        }
    }
    buffered.write_all_at(data, at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_are_aligned_and_bounded() {
        let mut b = Block::new();
        assert_eq!(b.data().as_ptr() as usize % ALIGN, 0);
        assert_eq!(b.room(), WRITE_BLOCK);
        b.push(&[7u8; 10]);
        assert_eq!((b.len(), b.room()), (10, WRITE_BLOCK - 10));
        assert_eq!(b.data(), &[7u8; 10]);
        b.clear();
        assert!(b.is_empty());
    }

    #[test]
    fn the_thread_writes_aligned_and_unaligned_blocks_and_hands_them_back() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("disk");
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&p)
            .unwrap();
        f.set_len(16 << 20).unwrap();
        let pipe = Pipeline::start(&f, &p).unwrap();
        let mut a = Block::new();
        a.push(&vec![1u8; 8192]);
        let mut b = Block::new();
        b.push(&[2u8; 100]);
        assert!(pipe.submit(a, 4096));
        assert!(pipe.submit(b, 12345));
        let first = pipe.finished().unwrap();
        let second = pipe.finished().unwrap();
        assert!(first.result.is_ok() && second.result.is_ok());
        assert_eq!((first.at, second.at), (4096, 12345));
        drop(pipe);
        let d = std::fs::read(&p).unwrap();
        assert!(d[4096..4096 + 8192].iter().all(|&x| x == 1));
        assert!(d[12345..12445].iter().all(|&x| x == 2));
        assert_eq!(d[4095], 0);
    }
}
