//! Instance deployment: the `deploy.write_image` step, `standby.get_partition_uuids` and
//! `image.install_bootloader`, as an unmodified Ironic's `direct` deploy interface drives them
//! (`ironic/drivers/modules/agent.py: AgentDeploy.write_image`, `prepare_instance_boot`; IPA
//! `ironic_python_agent/extensions/standby.py: StandbyExtension.prepare_image`).
//!
//! `write_image` of a whole-disk image: validate `image_info` ([`image_info`]) → choose the
//! checksum ([`checksum`]) → choose the disk ([`target`]) → stream the image from http(s)
//! ([`http`], [`stream`]) through the qcow2 decoder when needed ([`qcow2`]) onto the disk
//! ([`writer`]), hashing every byte → verify → flush → move the backup GPT to the end
//! (`sgdisk -e`), re-read the partition table, require at least one partition → the config
//! drive ([`configdrive`]) → remember `"root uuid"` (the MBR signature, `0x%08x`).
//!
//! `write_image` of a partition image (`image_type: partition`): the same validation, then
//! the layout is planned ([`partition_layout`]: ESP, ephemeral, swap, config drive, root
//! last) and checked against the disk and the ramdisk's tools before anything is written;
//! then the partitions are made, the image is streamed into the root partition exactly as a
//! whole-disk image onto a disk, the file systems and the config drive follow
//! ([`partition_image`]); `get_partition_uuids` returns IPA's `partitions`, `root uuid` and
//! `efi system partition uuid`. `install_bootloader` copies the image's `/boot/efi/EFI` onto
//! the ESP and registers its loader ([`efi_assets`]).
//!
//! Where we deliberately differ from IPA, and why:
//! * **Nothing is staged.** IPA downloads every non-raw image to `/tmp` (RAM in a ramdisk)
//!   and converts it with `qemu-img`; we decode qcow2 from the stream, so a 2 GiB image
//!   deploys from a 256 MiB machine. The price: a qcow2 whose tables come after much of
//!   their data cannot be streamed and is refused with an explanation ([`qcow2`]).
//! * **A failed or unverified write cannot boot.** IPA leaves whatever it wrote when the
//!   checksum does not match; we zero the first and last MiB of the disk (MBR, both GPTs).
//!   We also zero them before writing, so a stale backup GPT at the end of a larger disk
//!   never survives (IPA's streaming path skips its metadata wipe).
//! * **`gpt`/`iso` images are written as raw** (IPA passes `-f gpt` to `qemu-img`, which
//!   fails); a `qcow2` declared format must really be qcow2.
//! * **Sizes are checked first:** an image (raw with a Content-Length, or a qcow2's virtual
//!   size) larger than the disk is refused before anything is written; otherwise writing
//!   stops at the disk's end with an error.
//! * **4xx is not retried** (IPA retries it by accident), nor is an untrusted TLS
//!   certificate against the same URL (the error says to add the CA with `ipa-cafile` or to
//!   set `ipa-insecure`); checksum comparison ignores case.
//! * **The image bypasses the page cache** (`O_DIRECT` where the device takes it), written by
//!   a thread while the next block is received and hashed ([`pipeline`]); IPA writes
//!   through the page cache, which in a ramdisk competes with the ramdisk's own memory.
//! * **Nothing from the image ever runs in the ramdisk.** IPA installs GRUB by running the
//!   image's `grub-install`/`grub-mkconfig` in a chroot, and since Ironic 39 refuses that
//!   whole path (the EFI-asset copy included) unless the conductor's
//!   `[agent]enable_bios_bootloader_install` is set: running the tenant's programs as root in
//!   the deploy ramdisk is the CVE it mitigates. Whatever that option says, we copy a UEFI
//!   partition image's EFI assets (files only), and in BIOS mode we put the deploy ramdisk's
//!   own GRUB in front of the image's `/boot/grub/grub.cfg` ([`bios_boot`]); so partition
//!   images deploy with Ironic's defaults. A partition image whose node and ramdisk boot in
//!   different modes is refused by `write_image` before the disk is touched (no NVRAM entry,
//!   or no boot code for the other mode, could be made). In a software RAID root the image's
//!   layout goes inside the array; its ESP is mirrored onto the holders ([`raid_esp`]), or
//!   in BIOS mode every holder gets the boot code.

pub mod bios_boot;
pub mod bootloader;
pub mod checksum;
pub mod configdrive;
pub mod efi_assets;
pub mod http;
pub mod image_info;
pub mod partition_image;
pub mod partition_layout;
pub mod partitions;
pub mod pipeline;
pub mod qcow2;
pub mod raid_esp;
pub mod raid_root;
pub mod stream;
pub mod target;
pub mod writer;

use crate::tools::{sgdisk, DevPath};
use crate::Machine;
use hwmgr::{AgentError, ErrorKind, Result, StepCall};
use serde_json::{json, Map, Value};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

/// Programs `write_image` needs (names of [`crate::tools::Program`]): the config drive's
/// partition is made with `sgdisk` (GPT) or `parted` (msdos) and found by its label with
/// `blkid`. The image itself is written by the agent; the re-reads of the partition table
/// and the move of the backup GPT are best effort (logged), so their programs are not listed.
pub const WRITE_IMAGE_PROGRAMS: &[&str] = &["sgdisk", "parted", "blkid"];

/// The agent's options that shape a deploy, with IPA's defaults
/// (`ironic_python_agent/config.py`), plus what the lookup's `config` sets.
#[derive(Debug, Clone, PartialEq)]
pub struct DeploySettings {
    /// `ipa-insecure`: do not verify TLS certificates of image servers.
    pub insecure: bool,
    /// `cafile`: an extra CA for image servers.
    pub cafile: Option<PathBuf>,
    /// `ipa-image-download-connection-timeout` (60 s): connect, headers, and every read.
    pub connection_timeout: Duration,
    /// `ipa-image-download-connection-retries` (9).
    pub connection_retries: u32,
    /// `ipa-image-download-connection-retry-interval` (10 s).
    pub retry_interval: Duration,
    /// `ipa-image-download-max-duration` (0 = none).
    pub max_duration: Option<Duration>,
    /// Lookup `agent_md5_checksum_enable` (IPA 13's `md5_enabled` defaults to false).
    pub md5_enabled: bool,
    /// Lookup `permitted_image_formats` (IPA default `raw,gpt,qcow2`).
    pub permitted_formats: Vec<String>,
    /// Lookup `disable_deep_image_inspection`.
    pub disable_deep_image_inspection: bool,
    /// `ipa-ignore-bootloader-failure`.
    pub ignore_bootloader_failure: bool,
    /// Lookup `enable_bios_bootloader_install` (Ironic 39's `[agent]` option, default
    /// false): whether the image's own GRUB may be run in a chroot ([`bootloader`]).
    pub enable_bios_bootloader_install: bool,
}

impl Default for DeploySettings {
    fn default() -> Self {
        DeploySettings {
            insecure: false,
            cafile: None,
            connection_timeout: Duration::from_secs(60),
            connection_retries: 9,
            retry_interval: Duration::from_secs(10),
            max_duration: None,
            md5_enabled: false,
            permitted_formats: ["raw", "gpt", "qcow2"].map(String::from).to_vec(),
            disable_deep_image_inspection: false,
            ignore_bootloader_failure: false,
            enable_bios_bootloader_install: false,
        }
    }
}

/// The settings, shared between the agent (which learns some at lookup) and the manager.
#[derive(Debug, Clone, Default)]
pub struct SharedSettings(Arc<RwLock<DeploySettings>>);

impl SharedSettings {
    pub fn new(s: DeploySettings) -> Self {
        SharedSettings(Arc::new(RwLock::new(s)))
    }

    pub fn get(&self) -> DeploySettings {
        self.0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Applies the lookup's `config` as IPA's `agent.py` does for these keys.
    pub fn apply_lookup_config(&self, config: &Value) {
        let mut s = self.0.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(b) = config
            .get("agent_md5_checksum_enable")
            .and_then(Value::as_bool)
        {
            s.md5_enabled = b;
        }
        if let Some(b) = config
            .get("disable_deep_image_inspection")
            .and_then(Value::as_bool)
        {
            s.disable_deep_image_inspection = b;
        }
        if let Some(b) = config
            .get("enable_bios_bootloader_install")
            .and_then(Value::as_bool)
        {
            s.enable_bios_bootloader_install = b;
        }
        let formats: Option<Vec<String>> = match config.get("permitted_image_formats") {
            Some(Value::Array(a)) => Some(
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect(),
            ),
            Some(Value::String(t)) => Some(
                t.split(',')
                    .map(|f| f.trim().to_string())
                    .filter(|f| !f.is_empty())
                    .collect(),
            ),
            _ => None,
        };
        if let Some(f) = formats.filter(|f| !f.is_empty()) {
            s.permitted_formats = f;
        }
    }
}

/// What earlier commands of this agent's life left for later ones (IPA keeps the same on
/// its standby extension: `cached_image_id`, `partition_uuids`).
#[derive(Debug, Default)]
struct DeployState {
    cached_image_id: Option<String>,
    device: Option<String>,
    partition_uuids: Option<Map<String, Value>>,
    node: Value,
}

/// What `write_image` learnt before a partition image is written.
struct PartitionJob<'a> {
    node: &'a Value,
    node_uuid: &'a str,
    info: &'a image_info::ImageInfo,
    params: &'a partition_layout::PartitionParams,
    client: &'a http::HttpClient,
    expected: &'a checksum::Expected,
    settings: &'a DeploySettings,
    configdrive: Option<&'a configdrive::Payload>,
}

/// The size of `disk` in bytes.
fn disk_size(m: &Machine, disk: &str) -> Result<u64> {
    let path = m.host.device(disk)?;
    std::fs::File::open(&path)
        .and_then(|mut f| std::io::Seek::seek(&mut f, std::io::SeekFrom::End(0)))
        .map_err(|e| {
            AgentError::new(
                ErrorKind::DeploymentError,
                format!("cannot find the size of {disk}: {e}"),
            )
        })
}

/// The deploy side of the generic manager.
pub struct Deployer {
    machine: Machine,
    settings: SharedSettings,
    state: Mutex<DeployState>,
}

fn invalid(details: impl Into<String>) -> AgentError {
    AgentError::new(ErrorKind::InvalidCommandParamsError, details)
}

/// Logical sector size of a disk (sysfs; 512 when unknown).
pub fn sector_size(m: &Machine, disk: &str) -> u64 {
    let kname = disk.trim_start_matches("/dev/");
    m.host
        .attr(format!("/sys/block/{kname}/queue/logical_block_size"))
        .and_then(|s| s.parse().ok())
        .filter(|n: &u64| n.is_power_of_two() && *n >= 512)
        .unwrap_or(512)
}

impl Deployer {
    pub fn new(machine: Machine, settings: SharedSettings) -> Self {
        Deployer {
            machine,
            settings,
            state: Mutex::new(DeployState::default()),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, DeployState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// `deploy.write_image` (`args: {image_info, configdrive}`).
    pub fn write_image(&self, call: &StepCall) -> Result<Value> {
        let settings = self.settings.get();
        let info_value = call
            .args
            .get("image_info")
            .ok_or_else(|| invalid("write_image needs the argument image_info"))?;
        let info = image_info::parse(info_value, settings.md5_enabled)?;
        let partition_params = info
            .is_partition_image()
            .then(|| partition_layout::PartitionParams::parse(info_value))
            .transpose()?;
        let configdrive = match call.args.get("configdrive") {
            None | Some(Value::Null) => info.configdrive.clone(),
            Some(Value::String(s)) => Some(s.clone()),
            Some(other) => {
                return Err(invalid(format!(
                    "write_image: 'configdrive' must be a string (base64 of a gzipped ISO, or a URL), got {}",
                    if other.is_object() { "an object (the conductor builds the ISO from it; it needs genisoimage)".to_string() } else { other.to_string() }
                )))
            }
        };
        let node_uuid = info
            .node_uuid
            .clone()
            .unwrap_or_else(|| call.node_uuid().to_string());
        let client = http::HttpClient::new(&settings, &info)?;
        let fetch = |url: &str| -> Result<String> {
            client
                .fetch_small(url, 1 << 20)
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .map_err(|e| {
                    AgentError::new(
                        ErrorKind::ImageDownloadError,
                        format!("Download of image {url} failed: {}", e.message()),
                    )
                })
        };
        let expected = checksum::expected(&info, settings.md5_enabled, &fetch)?;
        // Decoded before the disk is chosen, so a malformed config drive costs nothing.
        let cd_payload = configdrive
            .as_deref()
            .filter(|c| !c.is_empty())
            .map(|c| configdrive::payload(c, Some(&client), &node_uuid))
            .transpose()?;
        let disk = self.install_device(&call.node)?;
        tracing::info!(
            "Picked root device {disk} for node {node_uuid} (root device hints: {})",
            target::root_device_hints(&call.node).map_or("none".to_string(), |h| h.to_string())
        );
        if let Some(params) = &partition_params {
            self.state().node = call.node.clone();
            let job = PartitionJob {
                node: &call.node,
                node_uuid: &node_uuid,
                info: &info,
                params,
                client: &client,
                expected: &expected,
                settings: &settings,
                configdrive: cd_payload.as_ref(),
            };
            return self.write_partition_image(&job, &disk);
        }
        let already = {
            let mut st = self.state();
            st.node = call.node.clone();
            st.cached_image_id.as_deref() == Some(info.id.as_str())
                && st.device.as_deref() == Some(disk.as_str())
        };
        if already {
            tracing::info!(
                "image {} was already written to {} by this agent; not writing it again",
                info.id,
                disk
            );
        } else {
            self.state().cached_image_id = None;
            self.write_to(&client, &info, &expected, &settings, &disk)?;
        }
        self.after_write(&disk)?;
        if raid_root::is_md(&disk) {
            raid_esp::check_written_image(&self.machine, &disk)?;
        }
        if let Some(p) = &cd_payload {
            configdrive::write(&self.machine, &disk, p, &node_uuid)?;
        }
        let root_uuid = self.root_uuid(&disk)?;
        let mut uuids = Map::new();
        uuids.insert("root uuid".into(), Value::String(root_uuid.clone()));
        let mut st = self.state();
        st.cached_image_id = Some(info.id.clone());
        st.device = Some(disk.clone());
        st.partition_uuids = Some(uuids);
        Ok(json!({
            "result": format!(
                "prepare_image: image ({}) written to device {} root_uuid={root_uuid}",
                info.id, disk
            )
        }))
    }

    /// `write_image` of a partition image onto `disk` ([`partition_layout`],
    /// [`partition_image`]): everything is validated and planned before the first write;
    /// after it, any failure wipes the new partition table.
    fn write_partition_image(&self, job: &PartitionJob, disk: &str) -> Result<Value> {
        let m = &self.machine;
        let ramdisk_uefi = m.host.exists("/sys/firmware/efi");
        let boot_mode = crate::raid::plan::node_boot_mode(job.node, ramdisk_uefi);
        if boot_mode == crate::raid::plan::BootMode::Bios {
            // install_bootloader puts the ramdisk's GRUB in front of the image's grub.cfg
            // (bios_boot): refuse before the disk is touched when that cannot happen.
            if ramdisk_uefi {
                return Err(AgentError::new(
                    ErrorKind::InvalidImage,
                    format!(
                        "Image {} is a partition image for a node in BIOS mode, but the deploy \
                         ramdisk booted in UEFI mode. Boot the node (and so the deploy ramdisk) \
                         in one mode: properties.capabilities boot_mode. Nothing was written to \
                         {disk}.",
                        job.info.id
                    ),
                ));
            }
            bios_boot::check_tools(m, disk).map_err(|e| {
                AgentError::new(
                    ErrorKind::InvalidImage,
                    format!(
                        "Image {} is a partition image and the node boots in BIOS mode. {} \
                         Nothing was written to {disk}.",
                        job.info.id, e.details
                    ),
                )
            })?;
        } else if !ramdisk_uefi {
            // The node boots in UEFI mode but this ramdisk runs under BIOS: no NVRAM entry
            // could be made for the image's loader, so install_bootloader would fail after
            // the disk was overwritten.
            return Err(AgentError::new(
                ErrorKind::InvalidImage,
                format!(
                    "Image {} is a partition image for a node in UEFI mode, but the deploy \
                     ramdisk booted in BIOS mode: the image's boot loader could not be \
                     registered in the firmware (efibootmgr needs a UEFI-booted ramdisk). Boot \
                     the deploy ramdisk in UEFI mode. Nothing was written to {disk}.",
                    job.info.id
                ),
            ));
        }
        let label = crate::raid::plan::node_partition_table(job.node, boot_mode);
        let disk_bytes = disk_size(m, disk)?;
        let configdrive_bytes = match job.configdrive {
            Some(p) => p.size(job.node_uuid)?,
            None => 0,
        };
        let layout = partition_layout::plan(&partition_layout::Request {
            disk,
            disk_bytes,
            boot_mode,
            label,
            params: job.params,
            configdrive_bytes,
            raid_root: raid_root::is_md(disk),
        })?;
        let missing: Vec<&str> = partition_image::required_programs(&layout, job.params)
            .into_iter()
            .filter(|p| !m.runner.has_program(p))
            .collect();
        if !missing.is_empty() {
            return Err(AgentError::new(
                ErrorKind::DeploymentError,
                format!(
                    "Cannot deploy the partition image {}: the deploy ramdisk lacks {}. Nothing \
                     was written to {disk}; rebuild the ramdisk with them.",
                    job.info.id,
                    missing.join(", ")
                ),
            ));
        }
        {
            let mut st = self.state();
            st.cached_image_id = None;
            st.partition_uuids = None;
        }
        let result = self.build_partitions(job, disk, &layout);
        let uuids = match result {
            Ok(u) => u,
            Err(mut e) => {
                e.details += &match partition_image::wipe(m, disk) {
                    Ok(()) => format!(
                        " The partition table of {disk} was wiped, so no half-built layout is left."
                    ),
                    Err(w) => format!(
                        " WIPING THE PARTITION TABLE OF {disk} FAILED ({w}): erase the disk \
                         before using the node."
                    ),
                };
                return Err(e);
            }
        };
        let root_uuid = uuids
            .get("root uuid")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let esp = uuids
            .get("efi system partition uuid")
            .and_then(Value::as_str)
            .map(|u| format!(" efi_system_partition_uuid={u}"))
            .unwrap_or_default();
        let mut st = self.state();
        st.cached_image_id = Some(job.info.id.clone());
        st.device = Some(disk.to_string());
        st.partition_uuids = Some(uuids);
        Ok(json!({
            "result": format!(
                "prepare_image: image ({}) written to device {disk} root_uuid={root_uuid}{esp}",
                job.info.id
            )
        }))
    }

    /// The writes of a partition image: partitions, the image into the root partition, file
    /// systems, config drive; then IPA's result.
    fn build_partitions(
        &self,
        job: &PartitionJob,
        disk: &str,
        layout: &partition_layout::Layout,
    ) -> Result<Map<String, Value>> {
        let m = &self.machine;
        let made =
            partition_image::make_partitions(m, disk, layout, job.params.preserve_ephemeral)?;
        let root = made
            .get(partition_layout::Role::Root)
            .unwrap_or_default()
            .to_string();
        tracing::info!(
            "Writing the partition image {} into the root partition {root} ({} MiB)",
            job.info.id,
            layout.root().size_mib()
        );
        let path = m.host.device(&root)?;
        let mut w = writer::DiskWriter::open(&root, &path)
            .map_err(|e| AgentError::new(ErrorKind::ImageWriteError, e))?;
        // No partition table re-read here: `root` is a partition, and the disk's table is the
        // one parted just wrote.
        stream::write_image(job.client, job.info, job.expected, job.settings, &mut w).map_err(
            |mut e| {
                e.details += &format!(
                    " ({root} is the root partition of the partition image: root_mb {} MiB, \
                     from instance_info root_gb.)",
                    job.params.root_mb
                );
                e
            },
        )?;
        drop(w);
        partition_image::format(m, &made, job.params)?;
        if let (Some(p), Some(part)) = (
            job.configdrive,
            made.get(partition_layout::Role::ConfigDrive),
        ) {
            configdrive::write_partition(m, disk, part, p, job.node_uuid)?;
        }
        partition_image::result(m, &made)
    }

    /// The device the image goes to: the software RAID root volume when the node's
    /// `target_raid_config` has one ([`raid_root`]), else the disk the hints or IPA's
    /// default rule pick ([`target`]).
    fn install_device(&self, node: &Value) -> Result<String> {
        if let Some(choice) = raid_root::choose(node)? {
            let md = raid_root::locate(&self.machine, &choice)?;
            tracing::info!(
                "Using the software RAID root volume {md} (array {}, target_raid_config \
                 logical_disks[{}]{})",
                choice.name,
                choice.logical_disk,
                if choice.marked {
                    ", is_root_volume"
                } else {
                    ", the first RAID-1"
                }
            );
            return Ok(md);
        }
        let disks = target::candidates(&self.machine, node)?;
        Ok(target::select(&disks, node)?.name)
    }

    fn write_to(
        &self,
        client: &http::HttpClient,
        info: &image_info::ImageInfo,
        expected: &checksum::Expected,
        settings: &DeploySettings,
        disk: &str,
    ) -> Result<()> {
        let path = self.machine.host.device(disk)?;
        let mut w = writer::DiskWriter::open(disk, &path)
            .map_err(|e| AgentError::new(ErrorKind::ImageWriteError, e))?;
        let result = stream::write_image(client, info, expected, settings, &mut w);
        let touched = w.touched;
        drop(w);
        if touched {
            // The kernel must forget the old partitions (or see the new ones).
            self.machine.reread_partition_table(disk);
        }
        result.map(|_| ())
    }

    /// `fix_gpt_partition`, the re-read, and `_validate_partitioning`.
    fn after_write(&self, disk: &str) -> Result<()> {
        let dev = DevPath::new(disk)?;
        let path = self.machine.host.device(disk)?;
        let sector = sector_size(&self.machine, disk);
        let read = || -> std::result::Result<Option<partitions::PartitionTable>, String> {
            let f = std::fs::File::open(&path).map_err(|e| e.to_string())?;
            partitions::read_table(&f, sector)
        };
        let size = std::fs::metadata(&path).ok().and_then(|_| {
            let mut f = std::fs::File::open(&path).ok()?;
            std::io::Seek::seek(&mut f, std::io::SeekFrom::End(0)).ok()
        });
        if let (Ok(Some(t)), Some(size)) = (read(), size) {
            let last_lba = size / sector - 1;
            if t.gpt_alternate_lba.is_some_and(|alt| alt != last_lba) {
                tracing::info!("moving the backup GPT of {disk} to the end of the disk");
                if let Err(e) = self.machine.run(&sgdisk::move_backup_to_end(&dev)) {
                    tracing::warn!("could not move the backup GPT of {disk} to the end: {e}");
                }
            }
        }
        self.machine.reread_partition_table(disk);
        match read() {
            Err(e) => Err(AgentError::new(ErrorKind::DeploymentError, format!(
                "Unable to find a valid partition table on the disk after writing the image. \
                 The image may be corrupted or it uses a different sector size than the device. Error: {e}"
            ))),
            Ok(t) if t.as_ref().is_none_or(|t| t.partitions.is_empty()) => Err(AgentError::new(
                ErrorKind::DeploymentError,
                format!("No partitions found on the device {disk} after writing the image."),
            )),
            Ok(_) => Ok(()),
        }
    }

    fn root_uuid(&self, disk: &str) -> Result<String> {
        let path = self.machine.host.device(disk)?;
        let mut sector0 = [0u8; 512];
        let f = std::fs::File::open(&path).map_err(|e| {
            AgentError::new(
                ErrorKind::DeploymentError,
                format!("cannot read {disk}: {e}"),
            )
        })?;
        std::os::unix::fs::FileExt::read_exact_at(&f, &mut sector0, 0).map_err(|e| {
            AgentError::new(
                ErrorKind::DeploymentError,
                format!("cannot read {disk}: {e}"),
            )
        })?;
        Ok(partitions::mbr_signature(&sector0))
    }

    /// `standby.get_partition_uuids`: `{}` before any write (IPA logs a warning).
    pub fn get_partition_uuids(&self) -> Value {
        match &self.state().partition_uuids {
            Some(m) => Value::Object(m.clone()),
            None => {
                tracing::warn!("No partition UUIDs recorded yet, write_image has to be called before get_partition_uuids");
                json!({})
            }
        }
    }

    /// `image.install_bootloader` with the command's parameters in `call.args`.
    pub fn install_bootloader(&self, call: &StepCall) -> Result<Value> {
        let params = bootloader::Params::parse(&call.args)?;
        let (device, node) = {
            let st = self.state();
            (st.device.clone(), st.node.clone())
        };
        let disk = match device {
            Some(d) => d,
            None => self.install_device(&node)?,
        };
        let settings = self.settings.get();
        bootloader::install(
            &self.machine,
            &disk,
            &params,
            settings.ignore_bootloader_failure,
            settings.enable_bios_bootloader_install,
        )
    }
}

#[cfg(test)]
mod tests;
