//! Download → (qcow2 decode) → disk, hashing every byte received, with IPA's retries
//! (`ironic_python_agent/extensions/standby.py: _stream_raw_image_onto_device`,
//! `ImageDownload`): the URLs are tried in turn, a failed or unverified download is
//! restarted from scratch up to `image-download-connection-retries` times, and when the
//! last attempt fails after anything reached the disk, the disk's partition tables are
//! wiped so the half-written or unverified image can never boot.

use super::checksum::{Expected, Hasher};
use super::http::{HttpClient, OpenError};
use super::image_info::ImageInfo;
use super::qcow2;
use super::writer::{DiskWriter, WriteError, WRITE_BLOCK};
use super::DeploySettings;
use hwmgr::{AgentError, ErrorKind};
use reqwest::blocking::Response;
use std::io::Read;
use std::time::{Duration, Instant};

/// How the bytes are laid out on the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Written as they come (raw, and the "raw-like" gpt/dos/iso images).
    Raw,
    Qcow2,
}

/// What a successful write did.
#[derive(Debug, Clone)]
pub struct Written {
    pub url: String,
    pub format: Format,
    pub received: u64,
    pub image_size: u64,
    pub elapsed: Duration,
}

/// Why one attempt failed: worth another attempt, or not.
enum Failure {
    Retry(AgentError),
    Stop(AgentError),
}

fn download_error(id: &str, msg: impl std::fmt::Display) -> AgentError {
    AgentError::new(
        ErrorKind::ImageDownloadError,
        format!("Download of image {id} failed: {msg}"),
    )
}

/// Streams the image onto `disk` and verifies it. On failure after bytes were written, the
/// partition tables are wiped before the error is returned.
pub fn write_image(
    http: &HttpClient,
    info: &ImageInfo,
    expected: &Expected,
    settings: &DeploySettings,
    disk: &mut DiskWriter,
) -> Result<Written, AgentError> {
    let started = Instant::now();
    let mut attempt = 0;
    loop {
        let failure = match attempt_once(http, info, expected, settings, disk, started) {
            Ok(w) => return Ok(w),
            Err(f) => f,
        };
        let (retry, mut err) = match failure {
            Failure::Retry(e) => (attempt < settings.connection_retries, e),
            Failure::Stop(e) => (false, e),
        };
        if retry {
            attempt += 1;
            tracing::warn!(
                "Image download failed, attempt {attempt} of {}: {err}; retrying in {:?}",
                settings.connection_retries,
                settings.retry_interval
            );
            std::thread::sleep(settings.retry_interval);
            continue;
        }
        if disk.touched {
            match disk.wipe_partition_tables() {
                Ok(()) => {
                    err.details += &format!(
                        " The partition tables of {} were wiped, so the incomplete or \
                         unverified image cannot boot.",
                        disk.name
                    )
                }
                Err(e) => {
                    err.details += &format!(
                        " WIPING THE PARTITION TABLES OF {} FAILED ({e}): the disk may hold an \
                         incomplete or unverified image; erase it before using the node.",
                        disk.name
                    )
                }
            }
        }
        return Err(err);
    }
}

/// Tries each URL in turn; a fatal answer (4xx) stops at once.
fn open_any(http: &HttpClient, info: &ImageInfo) -> Result<(Response, String), Failure> {
    let mut details = Vec::new();
    for url in &info.urls {
        tracing::info!("Attempting to download image {} from {url}", info.id);
        match http.open(url) {
            Ok(r) => return Ok((r, url.clone())),
            Err(OpenError::Fatal(m)) => return Err(Failure::Stop(download_error(&info.id, m))),
            Err(OpenError::Retryable(m)) => {
                tracing::warn!("URL: {url}; error: {m}");
                details.push(format!("URL: {url}; Error: {m}"));
            }
        }
    }
    Err(Failure::Retry(download_error(
        &info.id,
        details.join("\n "),
    )))
}

fn attempt_once(
    http: &HttpClient,
    info: &ImageInfo,
    expected: &Expected,
    settings: &DeploySettings,
    disk: &mut DiskWriter,
    started: Instant,
) -> Result<Written, Failure> {
    let (resp, url) = open_any(http, info)?;
    let announced = resp.content_length();
    let mut src = Source {
        resp,
        hasher: Some(expected.algo.hasher()),
        received: 0,
        announced,
        url: url.clone(),
        id: info.id.clone(),
        started,
        max_duration: settings.max_duration,
        stall: http.timeout,
        last_log: Instant::now(),
        fatal: None,
        network: Duration::ZERO,
        hashing: Duration::ZERO,
    };
    let head = read_head(&mut src)?;
    let format = detect(info.disk_format.as_deref(), &head, settings)
        .map_err(|e| Failure::Stop(AgentError::new(ErrorKind::InvalidImage, e)))?;
    let image_size = match format {
        Format::Raw => announced,
        Format::Qcow2 => Some(
            qcow2::parse_header(&head)
                .map_err(|e| Failure::Stop(AgentError::new(ErrorKind::InvalidImage, e)))?
                .size,
        ),
    };
    if let Some(size) = image_size.filter(|s| *s > disk.size) {
        return Err(Failure::Stop(AgentError::new(
            ErrorKind::ImageWriteError,
            format!(
                "Image {} needs {size} bytes but the target disk {} has only {} bytes; \
                 nothing was written. Choose a larger disk with root device hints.",
                info.id, disk.name, disk.size
            ),
        )));
    }
    // Old partition tables (a backup GPT at the end of a larger disk) must not survive.
    disk.wipe_partition_tables()
        .map_err(|e| Failure::Stop(AgentError::new(ErrorKind::ImageWriteError, e)))?;
    disk.touched = true;
    let written = match format {
        Format::Raw => copy_raw(&head, &mut src, disk),
        Format::Qcow2 => decode_qcow2(&head, &mut src, disk),
    };
    written.map_err(|f| src.explain(f, &info.id, disk))?;
    if let Some(n) = announced.filter(|n| *n != src.received) {
        return Err(Failure::Retry(download_error(
            &info.id,
            format!("{url} announced {n} bytes but sent {}", src.received),
        )));
    }
    let actual = src.hasher.take().map(Hasher::hexdigest).unwrap_or_default();
    if !expected.matches(&actual) {
        return Err(Failure::Retry(AgentError::new(
            ErrorKind::ImageChecksumError,
            format!(
                "Image failed to verify against checksum. location: {url}; image ID: {}; \
                 image checksum: {}; verification checksum: {actual} ({} from {}).",
                info.id, expected.value, expected.algo, expected.source
            ),
        )));
    }
    let flushing = Instant::now();
    disk.flush()
        .map_err(|e| Failure::Stop(AgentError::new(ErrorKind::ImageWriteError, e.to_string())))?;
    let flushing = flushing.elapsed();
    let elapsed = started.elapsed();
    tracing::info!(
        "Image {} ({format:?}, {} bytes received, {} bytes written) verified ({}) and written to {} in {:.1} s ({:.1} MiB/s received; time receiving {:.1} s, hashing {:.1} s, writing {:.1} s, flushing {:.1} s); agent peak RSS {}",
        info.id,
        src.received,
        disk.written,
        expected.algo,
        disk.name,
        elapsed.as_secs_f64(),
        src.received as f64 / 1048576.0 / elapsed.as_secs_f64().max(0.001),
        src.network.as_secs_f64(),
        src.hashing.as_secs_f64(),
        disk.busy.saturating_sub(flushing).as_secs_f64(),
        flushing.as_secs_f64(),
        peak_rss()
    );
    Ok(Written {
        url,
        format,
        received: src.received,
        image_size: image_size.unwrap_or(src.received),
        elapsed,
    })
}

/// `VmHWM` of this process (for the log and the benchmark).
fn peak_rss() -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:").map(|v| v.trim().to_string()))
        })
        .unwrap_or_else(|| "unknown".into())
}

/// Where a write or a read went wrong inside the copy loops.
enum CopyError {
    Read(std::io::Error),
    Write(WriteError),
    Format(String),
}

/// The first bytes of the image (up to 1 MiB, enough for a qcow2 header and for format
/// detection), read before anything is written.
fn read_head(src: &mut Source) -> Result<Vec<u8>, Failure> {
    let mut head = vec![0u8; 1 << 20];
    let n = super::qcow2::read_full(src, &mut head).map_err(|e| src.read_failure(e))?;
    head.truncate(n);
    if head.is_empty() {
        return Err(Failure::Retry(download_error(
            &src.id,
            format!("{} sent an empty body", src.url),
        )));
    }
    Ok(head)
}

fn copy_raw(head: &[u8], src: &mut Source, disk: &mut DiskWriter) -> Result<(), CopyError> {
    disk.write_at(0, head).map_err(CopyError::Write)?;
    let mut at = head.len() as u64;
    // The writer coalesces into its own blocks: this only needs to be large enough that
    // each call carries many network reads.
    let mut buf = vec![0u8; WRITE_BLOCK / 4];
    loop {
        let n = super::qcow2::read_full(src, &mut buf).map_err(CopyError::Read)?;
        if n == 0 {
            return Ok(());
        }
        disk.write_at(at, &buf[..n]).map_err(CopyError::Write)?;
        at += n as u64;
    }
}

struct DiskSink<'a>(&'a mut DiskWriter);

impl qcow2::Sink for DiskSink<'_> {
    type Error = WriteError;
    fn data(&mut self, guest: u64, bytes: &[u8]) -> Result<(), WriteError> {
        self.0.write_at(guest, bytes)
    }
}

fn decode_qcow2(head: &[u8], src: &mut Source, disk: &mut DiskWriter) -> Result<(), CopyError> {
    let (h, written) = {
        let mut sink = DiskSink(disk);
        qcow2::decode(head, &mut *src, &mut sink).map_err(|e| match e {
            qcow2::DecodeError::Format(m) => CopyError::Format(m),
            qcow2::DecodeError::Input(e) => CopyError::Read(e),
            qcow2::DecodeError::Sink(e) => CopyError::Write(e),
        })?
    };
    // Unallocated and zero clusters read as zeros in the guest: make them so on the disk.
    let gaps = written.gaps(h.size);
    let zeroed: u64 = gaps.iter().map(|(s, e)| e - s).sum();
    for (s, e) in gaps {
        disk.zero_range(s, e - s).map_err(CopyError::Write)?;
    }
    tracing::info!(
        "qcow2 image: virtual size {} bytes, {} zeroed as unallocated",
        h.size,
        zeroed
    );
    Ok(())
}

/// Image formats by their magic bytes (the subset of oslo.utils' `format_inspector` that
/// matters for a decision here).
pub fn sniff(head: &[u8]) -> &'static str {
    let at = |off: usize, magic: &[u8]| head.get(off..off + magic.len()) == Some(magic);
    if at(0, qcow2::MAGIC) {
        "qcow2"
    } else if at(0, b"KDMV") || at(0, b"# Disk DescriptorFile") {
        "vmdk"
    } else if at(0, b"vhdxfile") {
        "vhdx"
    } else if at(0x40, &[0x7f, 0x10, 0xda, 0xbe]) {
        "vdi"
    } else if at(0, b"QED\0") {
        "qed"
    } else if at(0, b"LUKS\xba\xbe") {
        "luks"
    } else if at(0x8001, b"CD001") {
        "iso"
    } else if at(510, &[0x55, 0xaa]) {
        // oslo.utils reports msdos-labelled disks as gpt too
        "gpt"
    } else {
        "raw"
    }
}

/// Decides how to write the image (`disk_utils.get_and_validate_image_format`). A declared
/// `raw` is written as is, without inspection, as IPA does; `gpt` and `iso` are raw-like
/// (IPA hands `gpt` to `qemu-img -f gpt`, which fails: we write it as raw).
pub fn detect(declared: Option<&str>, head: &[u8], s: &DeploySettings) -> Result<Format, String> {
    let found = sniff(head);
    let raw_like = |f: &str| matches!(f, "raw" | "gpt" | "iso");
    let (name, format) = match declared {
        Some("raw") => {
            if !raw_like(found) {
                tracing::warn!(
                    "the image is declared raw but looks like {found}; writing it unchanged as IPA does"
                );
            }
            return Ok(Format::Raw);
        }
        Some("qcow2") if found == "qcow2" => ("qcow2", Format::Qcow2),
        Some(d @ ("qcow2" | "gpt" | "iso")) if !(d != "qcow2" && raw_like(found)) => {
            return Err(format!(
                "Security: Expected format was {d}, but image was actually {found}"
            ))
        }
        Some(d @ ("gpt" | "iso")) => (d, Format::Raw),
        Some(other) => {
            return Err(format!(
                "Image format {other} is not supported by this agent (it writes raw, gpt, iso \
                 and qcow2 images); convert the image to raw or qcow2"
            ))
        }
        None if found == "qcow2" => ("qcow2", Format::Qcow2),
        None if raw_like(found) => (found, Format::Raw),
        None => {
            return Err(format!(
                "The image was detected as {found}, which this agent cannot write; convert it \
                 to raw or qcow2"
            ))
        }
    };
    if !s.disable_deep_image_inspection && !s.permitted_formats.iter().any(|p| p == name) {
        return Err(format!(
            "Security: The image format {name} is not permitted (permitted_image_formats: {})",
            s.permitted_formats.join(", ")
        ));
    }
    Ok(format)
}

/// The download body: counts and hashes every byte, logs progress, and enforces the
/// stall timeout (per read, in the client) and `image-download-max-duration`.
struct Source {
    resp: Response,
    hasher: Option<Hasher>,
    received: u64,
    announced: Option<u64>,
    url: String,
    id: String,
    started: Instant,
    max_duration: Option<Duration>,
    stall: Duration,
    last_log: Instant,
    fatal: Option<AgentError>,
    /// Time spent waiting for the body, and hashing it (for the figures in the log).
    network: Duration,
    hashing: Duration,
}

impl Read for Source {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if let Some(max) = self.max_duration.filter(|m| self.started.elapsed() > *m) {
            self.fatal = Some(download_error(
                &self.id,
                format!(
                    "Download exceeded max allowed time ({} seconds)",
                    max.as_secs()
                ),
            ));
            return Err(std::io::Error::other(
                "download exceeded its maximum duration",
            ));
        }
        let t = Instant::now();
        let n = self.resp.read(buf)?;
        let hashing = Instant::now();
        self.network += hashing - t;
        if let Some(h) = self.hasher.as_mut() {
            h.update(&buf[..n]);
        }
        self.hashing += hashing.elapsed();
        self.received += n as u64;
        if self.last_log.elapsed() >= Duration::from_secs(10) {
            self.last_log = Instant::now();
            let secs = self.started.elapsed().as_secs_f64().max(0.001);
            tracing::info!(
                "image {}: {} MiB of {} received ({:.1} MiB/s)",
                self.id,
                self.received >> 20,
                self.announced
                    .map_or("?".to_string(), |a| format!("{} MiB", a >> 20)),
                self.received as f64 / 1048576.0 / secs
            );
        }
        Ok(n)
    }
}

impl Source {
    fn read_failure(&mut self, e: std::io::Error) -> Failure {
        if let Some(f) = self.fatal.take() {
            return Failure::Stop(f);
        }
        let why = if e.kind() == std::io::ErrorKind::TimedOut || e.to_string().contains("timed out")
        {
            format!(
                "Timed out reading next chunk from webserver {} (no data for {} s) after {} bytes",
                self.url,
                self.stall.as_secs(),
                self.received
            )
        } else {
            format!(
                "Unable to read {} after {} bytes: {}",
                self.url,
                self.received,
                super::http::error_chain(&e)
            )
        };
        Failure::Retry(download_error(&self.id, why))
    }

    fn explain(&mut self, f: CopyError, id: &str, disk: &DiskWriter) -> Failure {
        match f {
            CopyError::Read(e) => self.read_failure(e),
            CopyError::Write(e @ WriteError::PastEnd { .. }) => Failure::Stop(AgentError::new(
                ErrorKind::ImageWriteError,
                format!("Writing image {id} to {} stopped: {e}", disk.name),
            )),
            CopyError::Write(e) => Failure::Stop(AgentError::new(
                ErrorKind::ImageWriteError,
                format!("Writing image {id} to {} failed: {e}", disk.name),
            )),
            CopyError::Format(m) => Failure::Stop(AgentError::new(ErrorKind::InvalidImage, m)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> DeploySettings {
        DeploySettings::default()
    }

    #[test]
    fn formats_are_decided_like_ipa_with_gpt_as_raw() {
        let s = settings();
        let mut mbr = vec![0u8; 4096];
        mbr[510] = 0x55;
        mbr[511] = 0xaa;
        let mut q = vec![0u8; 4096];
        q[..4].copy_from_slice(qcow2::MAGIC);
        let plain = vec![7u8; 4096];
        assert_eq!(sniff(&mbr), "gpt");
        assert_eq!(detect(None, &mbr, &s), Ok(Format::Raw));
        assert_eq!(detect(Some("gpt"), &mbr, &s), Ok(Format::Raw));
        assert_eq!(detect(None, &q, &s), Ok(Format::Qcow2));
        assert_eq!(detect(Some("qcow2"), &q, &s), Ok(Format::Qcow2));
        assert_eq!(
            detect(Some("raw"), &q, &s),
            Ok(Format::Raw),
            "declared raw is not inspected"
        );
        assert_eq!(detect(None, &plain, &s), Ok(Format::Raw));
        assert!(detect(Some("qcow2"), &mbr, &s)
            .unwrap_err()
            .contains("Expected format was qcow2, but image was actually gpt"));
        assert!(detect(Some("gpt"), &q, &s)
            .unwrap_err()
            .contains("actually qcow2"));
        assert!(detect(Some("vmdk"), &plain, &s)
            .unwrap_err()
            .contains("not supported"));
        let mut vmdk = vec![0u8; 4096];
        vmdk[..4].copy_from_slice(b"KDMV");
        assert!(detect(None, &vmdk, &s)
            .unwrap_err()
            .contains("detected as vmdk"));
        let only_raw = DeploySettings {
            permitted_formats: vec!["raw".into()],
            ..settings()
        };
        assert!(detect(None, &q, &only_raw)
            .unwrap_err()
            .contains("not permitted"));
        assert_eq!(detect(Some("raw"), &plain, &only_raw), Ok(Format::Raw));
    }
}
