//! The config drive of a whole-disk image (`ironic_python_agent/partition_utils.py:
//! get_configdrive`, `create_config_drive_partition`): base64 of a gzip-compressed ISO9660
//! image (or an http(s) URL of one, or of the raw image), written to an existing partition
//! labelled `config-2`, else to a new partition of at most 64 MiB at the end of the disk
//! (GPT: `sgdisk -n 0:-64MB:0`; msdos: `parted mkpart primary fat32 -64MiB -0`, refused with
//! more than 3 primary partitions).
//!
//! Never staged: the size is learnt by decompressing once into nothing, then the image is
//! decompressed again straight onto the partition. Differs from IPA: instead of mounting the
//! written partition to test it (and rebuilding it as vfat when that fails) we check the
//! ISO9660/vfat signature and only log when it is missing.

use super::http::HttpClient;
use super::image_info::is_http_url;
use super::partitions::{read_table, TableKind};
use crate::tools::{blkid, parted, sgdisk, DevPath};
use crate::Machine;
use hwmgr::{AgentError, ErrorKind, Result};
use std::io::Read;
use std::path::PathBuf;
use std::time::Duration;

pub const MAX_CONFIG_DRIVE_MIB: u64 = 64;
const MAX_DISK_MIB_FOR_MBR: u64 = 2 * 1024 * 1024 - 1;

fn err(details: impl Into<String>) -> AgentError {
    AgentError::new(ErrorKind::DeploymentError, details)
}

/// The config drive as bytes that still need gunzipping, or the plain image.
pub enum Payload {
    Gzip(Vec<u8>),
    Plain(Vec<u8>),
}

impl Payload {
    fn reader(&self) -> Box<dyn Read + '_> {
        match self {
            Payload::Gzip(b) => Box::new(flate2::read::GzDecoder::new(&b[..])),
            Payload::Plain(b) => Box::new(&b[..]),
        }
    }

    /// The decompressed size, learnt without keeping the data.
    pub fn size(&self, node: &str) -> Result<u64> {
        std::io::copy(&mut self.reader(), &mut std::io::sink()).map_err(|e| {
            err(format!(
                "Encountered error while decompressing and writing config drive for node \
                 {node}. Error: {e}"
            ))
        })
    }
}

/// Decodes the `configdrive` argument (`get_configdrive`): a URL is fetched (at most
/// 64 MiB); base64 is decoded then gunzipped; fetched bytes that are not base64 are the
/// image itself.
pub fn payload(configdrive: &str, http: Option<&HttpClient>, node: &str) -> Result<Payload> {
    use base64::Engine;
    let (data, fetched) = if is_http_url(configdrive) {
        let http = http.ok_or_else(|| err("no HTTP client for the config drive URL"))?;
        let body = http
            .fetch_small(configdrive, MAX_CONFIG_DRIVE_MIB << 20)
            .map_err(|e| {
                err(format!(
                    "Can't download the configdrive content for node {node} from \
                     '{configdrive}'. Reason: {}",
                    e.message()
                ))
            })?;
        (body, true)
    } else {
        (configdrive.as_bytes().to_vec(), false)
    };
    // Python's b64decode drops characters outside the alphabet (new lines...).
    let cleaned: Vec<u8> = data
        .iter()
        .copied()
        .filter(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='))
        .collect();
    match base64::engine::general_purpose::STANDARD.decode(&cleaned) {
        Ok(gz) if !gz.is_empty() => Ok(Payload::Gzip(gz)),
        _ if fetched => {
            tracing::debug!("config drive for node {node} is not base64 encoded, assuming binary");
            Ok(Payload::Plain(data))
        }
        Ok(_) | Err(_) => Err(err(format!(
            "Config drive for node {node} is not base64 encoded or the content is malformed."
        ))),
    }
}

/// Writes the config drive onto `disk` (`/dev/vda`, table already re-read).
pub fn write(m: &Machine, disk: &str, payload: &Payload, node: &str) -> Result<()> {
    let size = payload.size(node)?;
    let mib = size.div_ceil(1 << 20);
    if mib > MAX_CONFIG_DRIVE_MIB {
        return Err(err(format!(
            "Config drive size exceeds maximum limit of 64MiB. Size of the given config drive \
             is {mib} MiB for node {node}."
        )));
    }
    let part = match labelled_partition(m, disk)? {
        Some(p) => {
            tracing::info!("Configdrive for node {node} exists at {p}");
            p
        }
        None => create_partition(m, disk, node)?,
    };
    write_partition(m, disk, &part, payload, node)
}

/// Decompresses the config drive onto the partition `part` of `disk` (a partition image's
/// config drive partition, sized by the plan, or the whole-disk image's).
pub fn write_partition(
    m: &Machine,
    disk: &str,
    part: &str,
    payload: &Payload,
    node: &str,
) -> Result<()> {
    let path = m.host.device(part)?;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .map_err(|e| {
            err(format!(
                "cannot open the config drive partition {part}: {e}"
            ))
        })?;
    let written = std::io::copy(&mut payload.reader(), &mut f)
        .and_then(|n| f.sync_all().map(|_| n))
        .map_err(|e| err(format!("Failed to create config drive on disk {disk} for node {node}. Error: writing {part}: {e}")))?;
    check_signature(&path, part);
    tracing::info!(
        "Configdrive for node {node} ({written} bytes) successfully copied onto partition {part}"
    );
    Ok(())
}

fn check_signature(path: &std::path::Path, part: &str) {
    use std::os::unix::fs::FileExt;
    let Ok(f) = std::fs::File::open(path) else {
        return;
    };
    let mut iso = [0u8; 5];
    let mut boot = [0u8; 2];
    let is_iso = f.read_exact_at(&mut iso, 0x8001).is_ok() && &iso == b"CD001";
    let is_fat = f.read_exact_at(&mut boot, 510).is_ok() && boot == [0x55, 0xaa];
    if !is_iso && !is_fat {
        tracing::warn!("the config drive written to {part} is neither ISO9660 nor FAT; the instance may not find it");
    }
}

/// The partitions of `disk` (as `/dev/<name>`) with their numbers, from sysfs.
pub(super) fn partitions_of(m: &Machine, disk: &str) -> Vec<(u32, String)> {
    let kname = disk.trim_start_matches("/dev/");
    let mut out: Vec<(u32, String)> = m
        .host
        .list_dir(format!("/sys/block/{kname}"))
        .into_iter()
        .filter(|n| m.host.exists(format!("/sys/block/{kname}/{n}/partition")))
        .filter_map(|n| {
            let num = m
                .host
                .attr(format!("/sys/block/{kname}/{n}/partition"))?
                .parse()
                .ok()?;
            Some((num, format!("/dev/{n}")))
        })
        .collect();
    out.sort();
    out
}

/// The partition of `disk` with number `n`, waiting up to 15 s for the kernel to show it.
pub fn partition_path(m: &Machine, disk: &str, n: u32) -> Result<String> {
    for _ in 0..30 {
        if let Some((_, p)) = partitions_of(m, disk).into_iter().find(|(k, _)| *k == n) {
            if m.host.device(&p).map(|d| d.exists()).unwrap_or(false) {
                return Ok(p);
            }
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    Err(err(format!(
        "partition {n} of {disk} did not appear in /sys and /dev within 15 s"
    )))
}

/// `get_labelled_partition(device, 'config-2')`: case-insensitive, two is an error.
fn labelled_partition(m: &Machine, disk: &str) -> Result<Option<String>> {
    let mut found = Vec::new();
    for (_, p) in partitions_of(m, disk) {
        let label = m
            .run(&blkid::probe(&DevPath::new(&p)?))
            .map(|o| {
                blkid::value(&o.stdout, "LABEL")
                    .unwrap_or_default()
                    .to_string()
            })
            .unwrap_or_default();
        if label.eq_ignore_ascii_case("config-2") {
            found.push(p);
        }
    }
    match found.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(one.clone())),
        many => Err(err(format!(
            "More than one partition with label \"config-2\" exists on device {disk}: {}",
            many.join(", ")
        ))),
    }
}

fn create_partition(m: &Machine, disk: &str, node: &str) -> Result<String> {
    let dev = DevPath::new(disk)?;
    let path: PathBuf = m.host.device(disk)?;
    let f = std::fs::File::open(&path).map_err(|e| err(format!("cannot read {disk}: {e}")))?;
    let before = read_table(&f, super::sector_size(m, disk))
        .map_err(|e| err(format!("cannot read the partition table of {disk}: {e}")))?
        .ok_or_else(|| {
            err(format!(
                "{disk} has no partition table to add a config drive to"
            ))
        })?;
    let cmd = match before.kind {
        TableKind::Gpt => sgdisk::new_partition_at_end(&dev, MAX_CONFIG_DRIVE_MIB),
        TableKind::Msdos => {
            if before.partitions.len() > 3 {
                return Err(err(format!(
                    "Config drive cannot be created for node {node}. Disk ({disk}) uses MBR \
                     partitioning and already has {} primary partitions.",
                    before.partitions.len()
                )));
            }
            let size_mib = std::io::Seek::seek(&mut &f, std::io::SeekFrom::End(0))
                .map_err(|e| err(format!("cannot find the size of {disk}: {e}")))?
                >> 20;
            if size_mib > MAX_DISK_MIB_FOR_MBR {
                tracing::warn!("Disk size is larger than 2TB for node {node}. Creating config drive at the end of the disk {disk}.");
                let start = format!("{}", MAX_DISK_MIB_FOR_MBR - MAX_CONFIG_DRIVE_MIB - 1);
                let end = format!("{}", MAX_DISK_MIB_FOR_MBR - 1);
                parted::mkpart_fat32(&dev, &start, &end)
            } else {
                parted::mkpart_fat32(&dev, &format!("-{MAX_CONFIG_DRIVE_MIB}MiB"), "-0")
            }
        }
    };
    drop(f);
    m.run(&cmd).map_err(|e| {
        err(format!(
            "Failed to create config drive on disk {disk} for node {node}. Error: {e}"
        ))
    })?;
    m.reread_partition_table(disk);
    let f = std::fs::File::open(&path).map_err(|e| err(format!("cannot read {disk}: {e}")))?;
    let after = read_table(&f, super::sector_size(m, disk))
        .ok()
        .flatten()
        .map(|t| t.partitions)
        .unwrap_or_default();
    let new: Vec<u32> = after
        .iter()
        .map(|p| p.number)
        .filter(|n| !before.partitions.iter().any(|b| b.number == *n))
        .collect();
    let [n] = new[..] else {
        return Err(err(format!(
            "Disk partitioning failed on device {disk}. Unable to retrieve config drive partition information."
        )));
    };
    partition_path(m, disk, n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use std::io::Write;

    fn gz(data: &[u8]) -> String {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(data).unwrap();
        base64::engine::general_purpose::STANDARD.encode(e.finish().unwrap())
    }

    #[test]
    fn base64_gzip_is_decoded_and_sized() {
        let iso = vec![1u8; 3 << 20];
        let mut b64 = gz(&iso);
        b64.insert(10, '\n');
        let p = payload(&b64, None, "n1").unwrap();
        assert_eq!(p.size("n1").unwrap(), 3 << 20);
        let e = payload("%%%", None, "n1").err().unwrap();
        assert!(e.details.contains("not base64 encoded"), "{}", e.details);
        let not_gzip = base64::engine::general_purpose::STANDARD.encode(b"plain bytes");
        let e = payload(&not_gzip, None, "n1")
            .unwrap()
            .size("n1")
            .unwrap_err();
        assert!(e.details.contains("decompressing"), "{}", e.details);
    }
}
