//! The agent's log file (`ipa-log-file`), bounded: in the ramdisk it lives in RAM (tmpfs) for
//! the whole life of the node's cleaning, erase or deploy, so it must not grow without end.
//! When the file passes [`MAX_LOG_FILE`] it is renamed to `<file>.1` (replacing the previous
//! one) and a fresh file is started: at most twice the limit is ever kept. The ramdisk's
//! `/init` appends to the same path by name, so its lines follow the rotation.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Where the file is cut. `log.collect_system_logs` sends the last 4 MiB of it.
pub const MAX_LOG_FILE: u64 = 8 << 20;

/// An append-only log file that rotates once it passes its limit.
pub struct RotatingFile {
    path: PathBuf,
    file: File,
    size: u64,
    limit: u64,
}

impl RotatingFile {
    pub fn open(path: &Path, limit: u64) -> io::Result<RotatingFile> {
        let file = open_append(path)?;
        let size = file.metadata()?.len();
        Ok(RotatingFile {
            path: path.to_path_buf(),
            file,
            size,
            limit,
        })
    }

    /// `<file>.1`: the previous part of the log.
    pub fn previous(path: &Path) -> PathBuf {
        let mut p = path.as_os_str().to_owned();
        p.push(".1");
        PathBuf::from(p)
    }

    fn rotate(&mut self) -> io::Result<()> {
        std::fs::rename(&self.path, Self::previous(&self.path))?;
        self.file = open_append(&self.path)?;
        self.size = 0;
        Ok(())
    }
}

fn open_append(path: &Path) -> io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

impl Write for RotatingFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.size >= self.limit {
            // Others (the ramdisk's /init) append too: the file's own length is the truth.
            self.size = self.file.metadata().map(|m| m.len()).unwrap_or(self.size);
            if self.size >= self.limit {
                // A failed rotation must not stop logging: keep appending to the open file.
                let _ = self.rotate();
            }
        }
        let n = self.file.write(buf)?;
        self.size += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_rotates_once_past_its_limit_and_keeps_at_most_two_parts() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("agent.log");
        let mut f = RotatingFile::open(&path, 1000).unwrap();
        for i in 0..500 {
            writeln!(f, "line {i:04} of the agent's log").unwrap();
        }
        let current = std::fs::read_to_string(&path).unwrap();
        let previous = std::fs::read_to_string(RotatingFile::previous(&path)).unwrap();
        assert!(current.len() <= 1000 + 40, "{}", current.len());
        assert!(previous.len() <= 1000 + 40, "{}", previous.len());
        assert!(
            current.ends_with("line 0499 of the agent's log\n"),
            "{current}"
        );
        assert!(previous.ends_with('\n'));
        assert!(!d.path().join("agent.log.2").exists());
    }

    #[test]
    fn an_existing_file_counts_towards_the_limit() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("agent.log");
        std::fs::write(&path, "x".repeat(2000)).unwrap();
        let mut f = RotatingFile::open(&path, 1000).unwrap();
        writeln!(f, "after a restart").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "after a restart\n");
        assert_eq!(
            std::fs::read_to_string(RotatingFile::previous(&path))
                .unwrap()
                .len(),
            2000
        );
    }
}
