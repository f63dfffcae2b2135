//! `log.collect_system_logs`: a base64 gzip tarball of the agent's own log and what every
//! loaded manager contributes (kernel log, /proc/mdstat, block devices, tool versions).
//! It can be called at any time, not only on failure.

use crate::agent::{Agent, AGENT_VERSION};
use base64::Engine;
use hwmgr::{AgentError, ErrorKind, LogFile};
use std::io::Write;
use std::sync::Arc;

pub fn collect(agent: &Arc<Agent>) -> Result<String, AgentError> {
    let mut files = vec![LogFile {
        name: "agent".into(),
        content: format!(
            "ironic-agent {AGENT_VERSION}\nhost root: {}\nhardware managers:\n  {}\n",
            agent.host.root().display(),
            agent.dispatcher.manager_summary().join("\n  ")
        )
        .into_bytes(),
    }];
    if let Some(path) = &agent.log_file {
        match std::fs::read(path) {
            Ok(content) => files.push(LogFile {
                name: "ironic-agent.log".into(),
                content,
            }),
            Err(e) => tracing::warn!(path = %path.display(), "cannot read the agent log file: {e}"),
        }
    }
    for m in agent.dispatcher.loaded() {
        files.extend(m.manager.collect_system_logs());
    }
    let tarball = tar_gz(&files).map_err(|e| {
        AgentError::new(
            ErrorKind::CommandExecutionError,
            format!("could not build the log archive: {e}"),
        )
    })?;
    Ok(base64::engine::general_purpose::STANDARD.encode(tarball))
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
}
