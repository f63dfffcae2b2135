//! Disk images that outlive the VMs booted on them.

use std::fs::File;
use std::path::Path;

use super::{Disk, Image};
use crate::support::ScratchDir;

/// Sparse raw images in a directory of their own, for several VMs in turn (a reboot is a
/// new VM on the same images) and for reading or preparing them from the host between
/// boots. The directory is kept when `IRONIC_AGENT_QEMU_KEEP=1`.
///
/// ```no_run
/// use agent_tests::qemu::{Bus, Disk, DiskSet, Vm, VmOptions};
///
/// let set = DiskSet::new("reboot", vec![Disk::new(Bus::Virtio, 2048), Disk::new(Bus::Nvme, 2048)]);
/// let first = Vm::boot(VmOptions { disks: set.disks().to_vec(), ..VmOptions::default() });
/// drop(first);
/// let again = Vm::boot(VmOptions { disks: set.disks().to_vec(), ..VmOptions::default() });
/// ```
pub struct DiskSet {
    dir: ScratchDir,
    disks: Vec<Disk>,
}

impl DiskSet {
    /// Creates every [`Image::Sparse`] disk of `disks` as a file of the set (existing files
    /// are used as they are) and fixes every serial (the default one by position), so each
    /// VM booted on [`DiskSet::disks`] sees the same disks.
    pub fn new(label: &str, disks: Vec<Disk>) -> DiskSet {
        let dir = ScratchDir::new(
            &format!("ironic-agent-disks-{label}-"),
            "IRONIC_AGENT_QEMU_KEEP",
            "disk images",
        );
        let disks = disks
            .into_iter()
            .enumerate()
            .map(|(i, d)| {
                let serial = d.serial_for(i);
                let image = match d.image {
                    Image::Sparse { size_mib } => {
                        let path = (dir.path())
                            .join(format!("disk{i}-{}.raw", d.bus.tag().to_lowercase()));
                        File::create(&path)
                            .and_then(|f| f.set_len(size_mib * 1024 * 1024))
                            .unwrap_or_else(|e| panic!("creating {}: {e}", path.display()));
                        Image::File(path)
                    }
                    file => file,
                };
                Disk {
                    image,
                    serial: Some(serial),
                    ..d
                }
            })
            .collect();
        DiskSet { dir, disks }
    }

    /// The disks, for [`VmOptions::disks`](super::VmOptions::disks).
    pub fn disks(&self) -> &[Disk] {
        &self.disks
    }

    /// The image file of disk `i`.
    pub fn path(&self, i: usize) -> &Path {
        self.disks[i].path().expect("every disk of a set is a file")
    }

    /// The serial of disk `i`.
    pub fn serial(&self, i: usize) -> &str {
        self.disks[i].serial.as_deref().unwrap_or_default()
    }

    /// `(serial, image file)` of every disk, in order.
    pub fn members(&self) -> impl Iterator<Item = (&str, &Path)> {
        (0..self.disks.len()).map(|i| (self.serial(i), self.path(i)))
    }

    /// The set's directory (also a place for other files of the test, e.g. an initramfs).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}
