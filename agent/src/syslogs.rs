//! `log.collect_system_logs`: a base64 gzip tarball of the agent's own log and what every
//! loaded manager contributes (kernel log, /proc/mdstat, block devices, tool versions).
//! It can be called at any time, not only on failure.
//!
//! Where we differ from IPA: the bundle is bounded. Each file keeps only its last
//! [`FILE_TAIL`] bytes (the end of a log is where a failure is), and the files together at
//! most [`TOTAL_CAP`] bytes before compression; a cut file starts with a line saying how much
//! was left out. IPA reads whole files (a 300 MB agent log made a 107 MiB answer, which was
//! then kept in the command history).

use crate::agent::AGENT_VERSION;
use crate::dispatch::Dispatcher;
use crate::errors::IpaError;
use base64::Engine;
use hwmgr::{ErrorKind, LogFile};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// The most of one file that goes into the bundle: its last 4 MiB.
pub const FILE_TAIL: usize = 4 * 1024 * 1024;

/// The most all files together put into the bundle, before compression: 16 MiB.
pub const TOTAL_CAP: usize = 16 * 1024 * 1024;

/// What the bundle is made of besides the managers' files: the agent's own log file.
pub struct LogSources {
    host_root: PathBuf,
    log_file: Option<PathBuf>,
}

impl LogSources {
    pub fn new(host_root: &Path, log_file: Option<PathBuf>) -> Self {
        LogSources {
            host_root: host_root.to_path_buf(),
            log_file,
        }
    }

    pub fn collect(&self, dispatcher: &Dispatcher) -> Result<String, IpaError> {
        let mut files = vec![LogFile {
            name: "agent".into(),
            content: format!(
                "ironic-agent {AGENT_VERSION}\nhost root: {}\nhardware managers:\n  {}\nlimits: the last {FILE_TAIL} bytes of each file, {TOTAL_CAP} bytes in all\n",
                self.host_root.display(),
                dispatcher.manager_summary().join("\n  ")
            )
            .into_bytes(),
        }];
        if let Some(path) = &self.log_file {
            files.extend(agent_log_parts(path));
        }
        for m in dispatcher.loaded() {
            files.extend(m.manager.collect_system_logs());
        }
        let tarball = tar_gz(&bounded(files)).map_err(|e| {
            IpaError::manager(
                ErrorKind::CommandExecutionError,
                format!("could not build the log archive: {e}"),
            )
        })?;
        Ok(base64::engine::general_purpose::STANDARD.encode(tarball))
    }
}

/// The agent's log file and, when it rotated (`crate::logfile`), its previous part: the
/// lines just before the rotation are often the ones an operator needs.
fn agent_log_parts(path: &Path) -> Vec<LogFile> {
    let previous = crate::logfile::RotatingFile::previous(path);
    let mut parts = Vec::new();
    for (name, p) in [
        ("ironic-agent.log.1", previous.as_path()),
        ("ironic-agent.log", path),
    ] {
        match read_tail(p, FILE_TAIL) {
            Ok(content) => parts.push(LogFile {
                name: name.into(),
                content,
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && p != path => {}
            Err(e) => tracing::warn!(path = %p.display(), "cannot read the agent log file: {e}"),
        }
    }
    parts
}

/// The note that replaces the part of a file that was left out.
fn cut_note(left_out: usize) -> Vec<u8> {
    format!("[ironic-agent: {left_out} earlier bytes of this file were left out]\n").into_bytes()
}

/// The last `max` bytes of `content`, behind a note when something was cut.
fn tail(content: &[u8], max: usize) -> Vec<u8> {
    tail_of(content, max, 0)
}

/// `content` is the end of a file whose first `left_out` bytes were not read. Keeps at most
/// the last `max` bytes, from a line boundary when the kept part has one, behind a note
/// saying how much was left out in all.
fn tail_of(content: &[u8], max: usize, left_out: usize) -> Vec<u8> {
    let mut start = content.len().saturating_sub(max);
    if start == 0 && left_out == 0 {
        return content.to_vec();
    }
    if let Some(nl) = content[start..].iter().position(|b| *b == b'\n') {
        if start + nl + 1 < content.len() {
            start += nl + 1;
        }
    }
    let mut out = cut_note(left_out + start);
    out.extend_from_slice(&content[start..]);
    out
}

/// Reads only the end of a file, so a huge log costs no more than `max` bytes of memory.
fn read_tail(path: &Path, max: usize) -> std::io::Result<Vec<u8>> {
    let mut f = std::fs::File::open(path)?;
    let skip = f.metadata()?.len().saturating_sub(max as u64);
    f.seek(SeekFrom::Start(skip))?;
    let mut buf = Vec::with_capacity(max.min(1 << 20));
    f.take(max as u64).read_to_end(&mut buf)?;
    Ok(tail_of(
        &buf,
        max,
        usize::try_from(skip).unwrap_or(usize::MAX),
    ))
}

/// Below this much room a file is left out rather than cut to a useless sliver.
const MIN_USEFUL: usize = 4096;

/// Applies the per-file tail and the total cap, in order: the first files (the agent's own)
/// are kept whole when they can be; a file that no longer fits keeps the tail that does.
fn bounded(files: Vec<LogFile>) -> Vec<LogFile> {
    let mut budget = TOTAL_CAP;
    let mut out = Vec::with_capacity(files.len());
    for f in files {
        // Room for the note that a cut file starts with.
        let room = budget.saturating_sub(128).min(FILE_TAIL);
        if room < MIN_USEFUL.min(f.content.len()) {
            tracing::warn!(file = %f.name, "left out of the log bundle: the bundle is full");
            continue;
        }
        let content = tail(&f.content, room);
        budget = budget.saturating_sub(content.len());
        out.push(LogFile {
            name: f.name,
            content,
        });
    }
    out
}

fn tar_gz(files: &[LogFile]) -> std::io::Result<Vec<u8>> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut tar = tar::Builder::new(gz);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    for f in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(f.content.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(now);
        h.set_cksum();
        tar.append_data(&mut h, &f.name, f.content.as_slice())?;
    }
    let mut gz = tar.into_inner()?;
    gz.flush()?;
    gz.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn archive_round_trips() {
        let bytes = tar_gz(&[
            LogFile {
                name: "mdstat".into(),
                content: b"Personalities : [raid1]\n".to_vec(),
            },
            LogFile {
                name: "udev/sda".into(),
                content: b"{}".to_vec(),
            },
        ])
        .unwrap();
        let mut ar = tar::Archive::new(flate2::read::GzDecoder::new(bytes.as_slice()));
        let mut seen = vec![];
        for e in ar.entries().unwrap() {
            let mut e = e.unwrap();
            let mut s = String::new();
            e.read_to_string(&mut s).unwrap();
            seen.push((e.path().unwrap().display().to_string(), s));
        }
        assert_eq!(
            seen[0],
            (
                "mdstat".to_string(),
                "Personalities : [raid1]\n".to_string()
            )
        );
        assert_eq!(seen[1].0, "udev/sda");
    }

    #[test]
    fn tails_start_at_a_line_and_say_what_was_cut() {
        assert_eq!(tail(b"abc", 10), b"abc");
        let t = tail(b"line1\nline2\nline3\n", 8);
        assert_eq!(
            String::from_utf8(t).unwrap(),
            "[ironic-agent: 12 earlier bytes of this file were left out]\nline3\n"
        );
        // No line break in the kept part: cut mid-line rather than keep nothing.
        let t = tail(b"0123456789", 4);
        assert!(t.ends_with(b"6789"), "{t:?}");
    }

    #[test]
    fn huge_files_are_read_from_the_end_only() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("big.log");
        let mut text = String::new();
        for i in 0..100_000 {
            text += &format!("line {i}\n");
        }
        std::fs::write(&p, &text).unwrap();
        let got = String::from_utf8(read_tail(&p, 1000).unwrap()).unwrap();
        assert!(got.ends_with("line 99999\n"), "{got}");
        let (note, body) = got.split_once('\n').unwrap();
        assert!(body.starts_with("line "), "{body}");
        assert_eq!(
            note,
            format!(
                "[ironic-agent: {} earlier bytes of this file were left out]",
                text.len() - body.len()
            )
        );
    }

    #[test]
    fn the_bundle_has_a_total_cap() {
        let big = |name: &str| LogFile {
            name: name.into(),
            content: vec![b'x'; FILE_TAIL * 2],
        };
        let files: Vec<LogFile> = (0..6).map(|i| big(&format!("f{i}"))).collect();
        let out = bounded(files);
        let total: usize = out.iter().map(|f| f.content.len()).sum();
        assert!(total <= TOTAL_CAP, "{total}");
        assert!(out.iter().all(|f| f.content.len() <= FILE_TAIL + 100));
        assert_eq!(out[0].name, "f0");
    }
}
