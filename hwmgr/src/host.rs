//! `Host`: every read of the machine (`/sys`, `/proc`, `/dev`, `/run`) goes through here,
//! relative to a root directory. The real agent uses `/`; tests build a fake machine in a
//! temporary directory, and because device nodes are resolved under that root too, a test
//! can never reach the real host's disks.

use crate::error::{AgentError, ErrorKind};
use std::io;
use std::path::{Component, Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    root: PathBuf,
}

impl Default for Host {
    fn default() -> Self {
        Host::new("/")
    }
}

impl Host {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Host { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// True when this is the machine the agent runs on, not a fake root.
    pub fn is_real(&self) -> bool {
        self.root == Path::new("/")
    }

    /// Maps an absolute machine path (`/sys/block`) to the path under the root.
    pub fn path(&self, abs: impl AsRef<Path>) -> PathBuf {
        let rel = abs
            .as_ref()
            .components()
            .filter(|c| matches!(c, Component::Normal(_)));
        let mut p = self.root.clone();
        p.extend(rel);
        p
    }

    pub fn read(&self, abs: impl AsRef<Path>) -> io::Result<String> {
        std::fs::read_to_string(self.path(abs))
    }

    /// The trimmed content of a small sysfs/procfs attribute, `None` if absent or unreadable.
    pub fn attr(&self, abs: impl AsRef<Path>) -> Option<String> {
        self.read(abs).ok().map(|s| s.trim().to_string())
    }

    pub fn exists(&self, abs: impl AsRef<Path>) -> bool {
        self.path(abs).exists()
    }

    /// Entry names of a directory, sorted; empty when it does not exist.
    pub fn list_dir(&self, abs: impl AsRef<Path>) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.path(abs))
            .map(|it| {
                it.filter_map(|e| e.ok())
                    .filter_map(|e| e.file_name().into_string().ok())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }

    /// The target of a symlink (e.g. `/sys/class/net/eth0/device/driver`), if any.
    pub fn link_target(&self, abs: impl AsRef<Path>) -> Option<PathBuf> {
        std::fs::read_link(self.path(abs)).ok()
    }

    /// Validates a device path that came from outside (API, config) and returns the path to
    /// hand to tools: `/dev/<name>` on the real machine, `<root>/dev/<name>` on a fake one.
    pub fn device(&self, dev: &str) -> Result<PathBuf, AgentError> {
        validate_device_path(dev)?;
        Ok(self.path(dev))
    }
}

/// A device path from input is accepted only as `/dev/` followed by plain path components of
/// `[A-Za-z0-9._:+@-]` (no `..`, no component starting with `-`, which a tool would read as
/// an option). That covers `sda1`, `nvme0n1p2`, `md/root`, `disk/by-path/pci-0000:00:1f.2-ata-1`.
pub fn validate_device_path(dev: &str) -> Result<(), AgentError> {
    let bad = |why: &str| {
        Err(AgentError::new(
            ErrorKind::InvalidCommandParamsError,
            format!("invalid device path {dev:?}: {why}; expected /dev/<name>"),
        ))
    };
    let Some(rest) = dev.strip_prefix("/dev/") else {
        return bad("it does not start with /dev/");
    };
    if rest.is_empty() || dev.len() > 255 {
        return bad("empty or too long");
    }
    for comp in rest.split('/') {
        if comp.is_empty() || comp == "." || comp == ".." {
            return bad("it has an empty, '.' or '..' component");
        }
        if comp.starts_with('-') {
            return bad("a component starts with '-'");
        }
        if !comp
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._:+@-".contains(c))
        {
            return bad("it has characters outside [A-Za-z0-9._:+@-]");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_resolved_under_the_root() {
        let h = Host::new("/tmp/fake");
        assert_eq!(
            h.path("/sys/block/sda"),
            PathBuf::from("/tmp/fake/sys/block/sda")
        );
        assert_eq!(
            h.device("/dev/sda").unwrap(),
            PathBuf::from("/tmp/fake/dev/sda")
        );
        assert!(!h.is_real());
        assert_eq!(
            Host::default().device("/dev/nvme0n1p1").unwrap(),
            PathBuf::from("/dev/nvme0n1p1")
        );
    }

    #[test]
    fn device_paths_are_validated() {
        for ok in [
            "/dev/sda",
            "/dev/md/root",
            "/dev/disk/by-path/pci-0000:00:1f.2-ata-1",
            "/dev/loop0",
        ] {
            assert!(validate_device_path(ok).is_ok(), "{ok}");
        }
        for bad in [
            "sda",
            "/dev/",
            "/dev/../etc/passwd",
            "/dev/-rf",
            "/dev/sda;reboot",
            "/dev/a b",
            "/etc/x",
            "/dev//sda",
        ] {
            let e = validate_device_path(bad).unwrap_err();
            assert_eq!(e.kind, ErrorKind::InvalidCommandParamsError, "{bad}");
            assert!(e.details.contains(bad), "{bad}: {}", e.details);
        }
    }

    #[test]
    fn reads_attributes_and_lists_dirs() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("sys/block/vda")).unwrap();
        std::fs::create_dir_all(d.path().join("sys/block/sda")).unwrap();
        std::fs::write(d.path().join("sys/block/vda/size"), "2048\n").unwrap();
        let h = Host::new(d.path());
        assert_eq!(h.attr("/sys/block/vda/size").as_deref(), Some("2048"));
        assert_eq!(h.attr("/sys/block/vda/ro"), None);
        assert_eq!(h.list_dir("/sys/block"), vec!["sda", "vda"]);
        assert!(h.list_dir("/nope").is_empty());
    }
}
