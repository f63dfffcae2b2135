//! QEMU's command line for a [`VmOptions`]: a pure function of the options and what the
//! launcher resolved for this attempt, so it is checked without booting anything.

use std::path::{Path, PathBuf};

use super::{Boot, Bus, Firmware, Image, Ramdisk, VmOptions, BASE_APPEND};

/// What the launcher resolved for one boot attempt.
pub(super) struct Resolved<'a> {
    /// The kernel to boot (`None` for [`Boot::Disk`]).
    pub ramdisk: Option<&'a Ramdisk>,
    /// OVMF's code and this VM's variable store (`None` under SeaBIOS).
    pub ovmf: Option<(PathBuf, PathBuf)>,
    /// The image file of every disk, in order.
    pub images: &'a [PathBuf],
    pub serial_log: &'a Path,
    /// The unix socket of QEMU's human monitor (HMP), for [`super::Vm::monitor`].
    pub monitor: &'a Path,
    pub agent_port: u16,
    pub kvm: bool,
}

/// Refuses what QEMU cannot model or the guest would not see, before anything is created.
pub(super) fn validate(opts: &VmOptions) -> Result<(), String> {
    for (i, d) in opts.disks.iter().enumerate() {
        if d.read_only && matches!(d.bus, Bus::Nvme | Bus::Ahci) {
            return Err(format!(
                "disk {i}: a read-only {:?} disk cannot be modelled in QEMU (use virtio or scsi)",
                d.bus
            ));
        }
        if d.wwn.is_some() && matches!(d.bus, Bus::Virtio | Bus::Nvme) {
            return Err(format!(
                "disk {i}: QEMU gives {:?} disks no WWN (use scsi or ahci)",
                d.bus
            ));
        }
        if let Image::File(p) = &d.image {
            if !p.is_file() {
                return Err(format!("disk {i}: no image file {}", p.display()));
            }
        }
    }
    if matches!(opts.boot, Boot::Disk) {
        if !opts.append.is_empty() || opts.agent_token.is_some() || opts.ironic_port.is_some() {
            return Err(
                "a disk boot has no kernel command line: append, agent_token and \
                        ironic_port must be empty"
                    .into(),
            );
        }
        if opts.disks.is_empty() {
            return Err("a disk boot needs a disk".into());
        }
    }
    Ok(())
}

/// The kernel command line: [`BASE_APPEND`], then what the options imply, then
/// [`VmOptions::append`].
pub(super) fn kernel_cmdline(opts: &VmOptions, agent_port: u16) -> String {
    let mut params = vec![BASE_APPEND.to_string()];
    if let Some(token) = &opts.agent_token {
        params.push(format!("ipa-agent-token={token}"));
    }
    if let Some(port) = opts.ironic_port {
        params.push(format!("ipa-api-url=http://10.0.2.2:{port}"));
        params.push("ipa-advertise-host=127.0.0.1".into());
        params.push(format!("ipa-advertise-port={agent_port}"));
    }
    params.extend(opts.append.iter().cloned());
    params.join(" ")
}

pub(super) fn qemu_args(opts: &VmOptions, r: &Resolved) -> Vec<String> {
    let mut args: Vec<String> = Vec::new();
    let mut push = |a: &[&str]| args.extend(a.iter().map(|s| s.to_string()));
    push(&["-name", &opts.name, "-machine", "q35"]);
    if r.kvm {
        push(&["-accel", "kvm", "-cpu", "host"]);
    } else {
        push(&["-accel", "tcg", "-cpu", "max"]);
    }
    let mem = opts.memory_mib.to_string();
    push(&["-smp", "1", "-m", &mem, "-nodefaults", "-no-user-config"]);
    push(&["-display", "none", "-no-reboot"]);
    let monitor = format!("unix:{},server=on,wait=off", r.monitor.display());
    push(&["-monitor", &monitor]);
    push(&["-serial", &format!("file:{}", r.serial_log.display())]);
    if let Some((code, vars)) = &r.ovmf {
        let code = format!(
            "if=pflash,format=raw,unit=0,readonly=on,file={}",
            code.display()
        );
        let vars = format!("if=pflash,format=raw,unit=1,file={}", vars.display());
        push(&["-drive", &code, "-drive", &vars]);
    }
    if let Some(rd) = r.ramdisk {
        let kernel = match opts.firmware {
            Firmware::Bios => rd.kernel.clone(),
            Firmware::Ovmf { .. } => rd.uefi_kernel(),
        };
        push(&["-kernel", &kernel.to_string_lossy()]);
        push(&["-initrd", &rd.initramfs.to_string_lossy()]);
        push(&["-append", &kernel_cmdline(opts, r.agent_port)]);
    }
    for s in &opts.smbios {
        push(&["-smbios", s]);
    }
    let netdev = format!(
        "user,id=net0,hostfwd=tcp:127.0.0.1:{}-:{}",
        r.agent_port, opts.guest_agent_port
    );
    let nic = format!("virtio-net-pci,netdev=net0,mac={},romfile=", opts.mac);
    push(&["-netdev", &netdev, "-device", &nic]);
    for mac in &opts.extra_nics {
        push(&["-device", &format!("virtio-net-pci,mac={mac},romfile=")]);
    }
    args.extend(disk_args(opts, r.images));
    args
}

/// `-drive` and `-device` of every disk (and the SCSI controller when one is needed). A disk
/// boot boots the first disk (`bootindex=0`).
fn disk_args(opts: &VmOptions, images: &[PathBuf]) -> Vec<String> {
    let mut args = Vec::new();
    let mut scsi_controller = false;
    let mut ahci_port = 0;
    for (i, (d, img)) in opts.disks.iter().zip(images).enumerate() {
        let ro = if d.read_only { ",readonly=on" } else { "" };
        let drive = format!(
            "if=none,id=d{i},file={},format=raw,cache=unsafe,discard=unmap{ro}",
            img.display()
        );
        let sn = d.serial_for(i);
        let mut device = match d.bus {
            Bus::Virtio => format!("virtio-blk-pci,drive=d{i},serial={sn}"),
            Bus::Nvme => format!("nvme,drive=d{i},serial={sn}"),
            Bus::Scsi => {
                if !scsi_controller {
                    args.extend(["-device".into(), "virtio-scsi-pci,id=scsi0".into()]);
                    scsi_controller = true;
                }
                format!("scsi-hd,bus=scsi0.0,drive=d{i},serial={sn}")
            }
            Bus::Ahci => {
                let dev = format!(
                    "ide-hd,bus=ide.{ahci_port},drive=d{i},serial={sn},model=QEMU AHCI DISK"
                );
                ahci_port += 1;
                dev
            }
        };
        if let Some(wwn) = d.wwn_for(i) {
            device.push_str(&format!(",wwn={wwn:#x}"));
        }
        if i == 0 && matches!(opts.boot, Boot::Disk) {
            device.push_str(",bootindex=0");
        }
        args.extend(["-drive".into(), drive, "-device".into(), device]);
    }
    args
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::qemu::{Disk, TEST_TOKEN};

    fn resolved<'a>(images: &'a [PathBuf], rd: Option<&'a Ramdisk>) -> Resolved<'a> {
        Resolved {
            ramdisk: rd,
            ovmf: None,
            images,
            serial_log: Path::new("/vm/serial.log"),
            monitor: Path::new("/vm/monitor.sock"),
            agent_port: 4321,
            kvm: false,
        }
    }

    fn after<'a>(args: &'a [String], flag: &str) -> Vec<&'a str> {
        args.windows(2)
            .filter(|w| w[0] == flag)
            .map(|w| w[1].as_str())
            .collect()
    }

    #[test]
    fn disks_get_their_bus_serial_wwn_and_read_only_flag() {
        let opts = VmOptions {
            disks: vec![
                Disk::new(Bus::Virtio, 8).read_only(),
                Disk::new(Bus::Scsi, 8),
                Disk::new(Bus::Nvme, 8).serial("N1"),
                Disk::new(Bus::Ahci, 8).wwn(0x5000_0000_0000_0001),
                Disk::new(Bus::Scsi, 8).serial("S2").wwn(0x42),
            ],
            ..VmOptions::default()
        };
        validate(&opts).unwrap();
        let images: Vec<PathBuf> = (0..5).map(|i| format!("/vm/d{i}.raw").into()).collect();
        let args = qemu_args(&opts, &resolved(&images, None));
        let devices = after(&args, "-device");
        assert!(devices.contains(&"virtio-scsi-pci,id=scsi0"), "{devices:?}");
        assert_eq!(devices.iter().filter(|d| d.contains("scsi-pci")).count(), 1);
        for want in [
            "virtio-blk-pci,drive=d0,serial=QEMU-VIRTIO-0",
            "scsi-hd,bus=scsi0.0,drive=d1,serial=QEMU-SCSI-1,wwn=0x5000c50015ea0001",
            "nvme,drive=d2,serial=N1",
            "ide-hd,bus=ide.0,drive=d3,serial=QEMU-AHCI-3,model=QEMU AHCI DISK,wwn=0x5000000000000001",
            "scsi-hd,bus=scsi0.0,drive=d4,serial=S2,wwn=0x42",
        ] {
            assert!(devices.contains(&want), "no {want} in {devices:?}");
        }
        let drives = after(&args, "-drive");
        assert!(drives[0]
            .ends_with("file=/vm/d0.raw,format=raw,cache=unsafe,discard=unmap,readonly=on"));
        assert!(!drives[1].contains("readonly"), "{}", drives[1]);
    }

    #[test]
    fn qemu_cannot_model_some_disks() {
        for d in [
            Disk::new(Bus::Nvme, 8).read_only(),
            Disk::new(Bus::Ahci, 8).read_only(),
            Disk::new(Bus::Virtio, 8).wwn(1),
            Disk::file(Bus::Virtio, "/nonexistent/image.raw"),
        ] {
            let opts = VmOptions {
                disks: vec![d.clone()],
                ..VmOptions::default()
            };
            assert!(validate(&opts).is_err(), "{d:?} must be refused");
        }
    }

    #[test]
    fn kernel_boot_command_line_carries_token_and_ironic_lookup() {
        let rd = Ramdisk {
            kernel: "/rd/ironic-agent.vmlinux".into(),
            initramfs: "/rd/ironic-agent.initramfs".into(),
        };
        let opts = VmOptions {
            agent_token: Some(TEST_TOKEN.into()),
            ironic_port: Some(6385),
            append: vec!["x=1".into()],
            ..VmOptions::default()
        };
        let args = qemu_args(&opts, &resolved(&[], Some(&rd)));
        assert_eq!(after(&args, "-kernel"), ["/rd/ironic-agent.vmlinux"]);
        assert_eq!(
            after(&args, "-append"),
            [format!(
                "{BASE_APPEND} ipa-agent-token={TEST_TOKEN} ipa-api-url=http://10.0.2.2:6385 \
                 ipa-advertise-host=127.0.0.1 ipa-advertise-port=4321 x=1"
            )]
        );
        assert_eq!(
            after(&args, "-netdev"),
            ["user,id=net0,hostfwd=tcp:127.0.0.1:4321-:9999"]
        );
    }

    #[test]
    fn uefi_disk_boot_has_flash_and_a_boot_disk_but_no_kernel() {
        let opts = VmOptions {
            boot: Boot::Disk,
            firmware: Firmware::Ovmf { vars: None },
            disks: vec![Disk::new(Bus::Virtio, 8), Disk::new(Bus::Virtio, 8)],
            ..VmOptions::default()
        };
        validate(&opts).unwrap();
        let images = ["/vm/a.raw".into(), "/vm/b.raw".into()];
        let mut r = resolved(&images, None);
        r.ovmf = Some(("/ovmf/CODE.fd".into(), "/vm/VARS.fd".into()));
        let args = qemu_args(&opts, &r);
        assert!(
            !args.iter().any(|a| a == "-kernel" || a == "-append"),
            "{args:?}"
        );
        let drives = after(&args, "-drive");
        assert_eq!(
            drives[..2],
            [
                "if=pflash,format=raw,unit=0,readonly=on,file=/ovmf/CODE.fd",
                "if=pflash,format=raw,unit=1,file=/vm/VARS.fd"
            ]
        );
        let devices = after(&args, "-device");
        assert!(devices.contains(&"virtio-blk-pci,drive=d0,serial=QEMU-VIRTIO-0,bootindex=0"));
        assert!(devices.contains(&"virtio-blk-pci,drive=d1,serial=QEMU-VIRTIO-1"));

        let with_token = VmOptions {
            agent_token: Some(TEST_TOKEN.into()),
            ..opts
        };
        assert!(
            validate(&with_token).is_err(),
            "a disk boot has no kernel command line"
        );
    }
}
