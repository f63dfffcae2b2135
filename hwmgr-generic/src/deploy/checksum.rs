//! Which digest verifies the image, and the digest itself, computed over every byte as it
//! arrives (`ironic_python_agent/extensions/standby.py: ImageDownload.__init__`,
//! `_get_algorithm_by_length`, `_fetch_checksum`).
//!
//! Order, as IPA: `os_hash_algo` when we implement it (its value may itself be a URL of a
//! checksums file); else a `checksum` that is a URL (the file is fetched, the algorithm
//! follows from the length); else `checksum` by length (128 sha512, 64 sha256, 32 md5 only
//! when md5 is enabled).
//!
//! Differs from IPA: the comparison ignores the case of the hex digits (IPA compares the
//! lower-case digest with the string as given, so an upper-case checksum always fails).

use super::image_info::{is_http_url, ImageInfo};
use hwmgr::{AgentError, ErrorKind, Result};
use md5::Md5;
use sha1::Sha1;
use sha2::{Digest, Sha224, Sha256, Sha384, Sha512};
use std::fmt;

/// The digests we compute (a subset of Python's `hashlib.algorithms_available` that covers
/// what Glance and Ironic use).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algo {
    Md5,
    Sha1,
    Sha224,
    Sha256,
    Sha384,
    Sha512,
}

impl Algo {
    pub fn from_name(name: &str) -> Option<Algo> {
        match name.to_ascii_lowercase().replace('-', "").as_str() {
            "md5" => Some(Algo::Md5),
            "sha1" => Some(Algo::Sha1),
            "sha224" => Some(Algo::Sha224),
            "sha256" => Some(Algo::Sha256),
            "sha384" => Some(Algo::Sha384),
            "sha512" => Some(Algo::Sha512),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Algo::Md5 => "md5",
            Algo::Sha1 => "sha1",
            Algo::Sha224 => "sha224",
            Algo::Sha256 => "sha256",
            Algo::Sha384 => "sha384",
            Algo::Sha512 => "sha512",
        }
    }

    /// `_get_algorithm_by_length`: SHA-2 by hex length; md5 only when enabled.
    pub fn by_length(hex: &str, md5_enabled: bool) -> std::result::Result<Algo, String> {
        match hex.len() {
            128 => Ok(Algo::Sha512),
            64 => Ok(Algo::Sha256),
            32 if md5_enabled => Ok(Algo::Md5),
            32 => Err("MD5 support is disabled, and support will be removed in a 2024 version of Ironic.".into()),
            _ => Err("Unable to identify checksum algorithm used, and a value is not specified in the os_hash_algo setting.".into()),
        }
    }

    pub fn hasher(self) -> Hasher {
        match self {
            Algo::Md5 => Hasher::Md5(Md5::new()),
            Algo::Sha1 => Hasher::Sha1(Sha1::new()),
            Algo::Sha224 => Hasher::Sha224(Sha224::new()),
            Algo::Sha256 => Hasher::Sha256(Sha256::new()),
            Algo::Sha384 => Hasher::Sha384(Sha384::new()),
            Algo::Sha512 => Hasher::Sha512(Sha512::new()),
        }
    }
}

impl fmt::Display for Algo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A running digest.
#[derive(Clone)]
pub enum Hasher {
    Md5(Md5),
    Sha1(Sha1),
    Sha224(Sha224),
    Sha256(Sha256),
    Sha384(Sha384),
    Sha512(Sha512),
}

impl Hasher {
    pub fn update(&mut self, data: &[u8]) {
        match self {
            Hasher::Md5(h) => h.update(data),
            Hasher::Sha1(h) => h.update(data),
            Hasher::Sha224(h) => h.update(data),
            Hasher::Sha256(h) => h.update(data),
            Hasher::Sha384(h) => h.update(data),
            Hasher::Sha512(h) => h.update(data),
        }
    }

    /// The lower-case hex digest (Python's `hexdigest()`).
    pub fn hexdigest(self) -> String {
        let bytes: Vec<u8> = match self {
            Hasher::Md5(h) => h.finalize().to_vec(),
            Hasher::Sha1(h) => h.finalize().to_vec(),
            Hasher::Sha224(h) => h.finalize().to_vec(),
            Hasher::Sha256(h) => h.finalize().to_vec(),
            Hasher::Sha384(h) => h.finalize().to_vec(),
            Hasher::Sha512(h) => h.finalize().to_vec(),
        };
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// What the image must hash to, and where that value came from (for messages).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expected {
    pub algo: Algo,
    pub value: String,
    pub source: String,
}

impl Expected {
    pub fn matches(&self, actual_hex: &str) -> bool {
        self.value.eq_ignore_ascii_case(actual_hex)
    }
}

fn rest_error(details: String) -> AgentError {
    // IPA raises a bare RESTError here; the closest class the conductor shows sensibly.
    AgentError::new(ErrorKind::ImageDownloadError, details)
}

/// Chooses the algorithm and the expected value for `info`. `fetch` downloads a checksums
/// file (called only for a checksum URL).
pub fn expected(
    info: &ImageInfo,
    md5_enabled: bool,
    fetch: &dyn Fn(&str) -> Result<String>,
) -> Result<Expected> {
    let algo = info.os_hash_algo.as_deref().and_then(Algo::from_name);
    let (algo, value, source) = if let (Some(a), Some(v)) = (algo, &info.os_hash_value) {
        (Some(a), v.clone(), "os_hash_value".to_string())
    } else if let Some(c) = info.checksum.as_deref().filter(|c| is_http_url(c)) {
        let value = fetch_checksum(c, info, fetch)?;
        (None, value, c.to_string())
    } else if let Some(c) = &info.checksum {
        let a = Algo::by_length(c, md5_enabled).map_err(|e| {
            rest_error(format!(
                "Unable to proceed with image {} as the checksum indicator has been used but \
                 the algorithm could not be identified. Error: {e}",
                info.id
            ))
        })?;
        (Some(a), c.clone(), "checksum".to_string())
    } else {
        return Err(rest_error(format!(
            "Unable to verify image {} with available checksums. Please make sure the \
             specified 'os_hash_algo' (currently {}) is supported by this ramdisk (md5, sha1, \
             sha224, sha256, sha384, sha512), or provide a checksum via the 'checksum' field",
            info.id,
            info.os_hash_algo.as_deref().unwrap_or("None")
        )));
    };
    // An os_hash_value may itself point at a checksums file.
    let (value, source) = if is_http_url(&value) {
        (fetch_checksum(&value, info, fetch)?, value)
    } else {
        (value, source)
    };
    let algo = match algo {
        Some(a) => a,
        None => Algo::by_length(&value, md5_enabled).map_err(|e| {
            rest_error(format!(
                "Unable to proceed with image {} as the checksum from {source} could not be \
                 matched to an algorithm. Error: {e}",
                info.id
            ))
        })?,
    };
    if let Ok(detected) = Algo::by_length(&value, true) {
        if detected != algo {
            tracing::warn!(
                "Provided checksum algorithm {algo} does not match the detected algorithm \
                 {detected} (from the length of {source}). It may be a sign of a user error \
                 when providing the algorithm or the checksum URL."
            );
        }
    }
    Ok(Expected {
        algo,
        value,
        source,
    })
}

fn fetch_checksum(
    url: &str,
    info: &ImageInfo,
    fetch: &dyn Fn(&str) -> Result<String>,
) -> Result<String> {
    tracing::info!("downloading the checksums file {url}");
    let text = fetch(url)?;
    parse_checksum_file(&text, &info.file_name()).map_err(|e| {
        AgentError::new(
            ErrorKind::ImageDownloadError,
            format!("Download of image {url} failed: {e}"),
        )
    })
}

fn hex_run(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The checksum in a line, if it starts or ends with one of 32, 64 or 128 hex digits next
/// to white space (IPA's `CHECKSUM_MATCHERS`, in their order).
fn checksum_in_line(line: &str) -> Option<String> {
    for len in [32, 64, 128] {
        if line.len() > len
            && line.is_char_boundary(len)
            && hex_run(&line[..len])
            && line[len..].starts_with(char::is_whitespace)
        {
            return Some(line[..len].to_string());
        }
        let cut = line.len().saturating_sub(len);
        if line.len() > len
            && line.is_char_boundary(cut)
            && hex_run(&line[cut..])
            && line[..cut].ends_with(char::is_whitespace)
        {
            return Some(line[cut..].to_string());
        }
    }
    None
}

/// Whether `line` names `file`: `<sum> <file>`, `<sum> *<file>`, or BSD style
/// `SHA256 (<file>) = <sum>` (`FILENAME_MATCHERS`).
fn names_file(line: &str, file: &str) -> bool {
    if let Some(before) = line.strip_suffix(file) {
        let before = before.strip_suffix('*').unwrap_or(before);
        if before.ends_with(char::is_whitespace) {
            return true;
        }
    }
    line.contains(&format!("({file}) ")) && {
        let i = line.find(&format!("({file}) ")).unwrap_or(0);
        line[..i].ends_with(char::is_whitespace)
    }
}

/// Parses a checksums file (`_fetch_checksum`): a single line without a space is the
/// checksum; otherwise the first non-comment line that names `file`.
pub fn parse_checksum_file(text: &str, file: &str) -> std::result::Result<String, String> {
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    match lines.as_slice() {
        [] => return Err("Empty checksum file".into()),
        [only] if !only.contains(' ') => {
            return if [32, 64, 128].contains(&only.len()) && hex_run(only) {
                Ok(only.to_string())
            } else {
                Err(format!(
                    "Invalid checksum file (No valid checksum found) {lines:?}"
                ))
            };
        }
        _ => {}
    }
    lines
        .iter()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| names_file(l, file))
        .find_map(|l| checksum_in_line(l))
        .ok_or_else(|| format!("Checksum file does not contain name {file}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA256_OF_TEST: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
    const MD5_OF_TEST: &str = "098f6bcd4621d373cade4e832627b4f6";

    fn info(v: serde_json::Value) -> ImageInfo {
        super::super::image_info::parse(&v, true).unwrap()
    }

    fn no_fetch(url: &str) -> Result<String> {
        panic!("unexpected fetch of {url}")
    }

    #[test]
    fn digests_are_right() {
        let cases = [
            (Algo::Md5, MD5_OF_TEST),
            (Algo::Sha1, "a94a8fe5ccb19ba61c4c0873d391e987982fbbd3"),
            (Algo::Sha256, SHA256_OF_TEST),
            (
                Algo::Sha512,
                "ee26b0dd4af7e749aa1a8ee3c10ae9923f618980772e473f8819a5d4940e0db27ac185f8a0e1d5f84f88bc887fd67b143732c304cc5fa9ad8e6f57f50028a8ff",
            ),
        ];
        for (a, want) in cases {
            let mut h = a.hasher();
            h.update(b"te");
            h.update(b"st");
            assert_eq!(h.hexdigest(), want, "{a}");
        }
    }

    #[test]
    fn os_hash_wins_then_url_then_length() {
        let i = info(serde_json::json!({"id": "x", "urls": ["http://h/x"],
            "os_hash_algo": "sha512", "os_hash_value": "abc", "checksum": SHA256_OF_TEST}));
        let e = expected(&i, false, &no_fetch).unwrap();
        assert_eq!((e.algo, e.value.as_str()), (Algo::Sha512, "abc"));

        let i = info(
            serde_json::json!({"id": "x", "urls": ["http://h/x"], "checksum": SHA256_OF_TEST}),
        );
        assert_eq!(expected(&i, false, &no_fetch).unwrap().algo, Algo::Sha256);

        let i =
            info(serde_json::json!({"id": "x", "urls": ["http://h/x"], "checksum": MD5_OF_TEST}));
        assert_eq!(expected(&i, true, &no_fetch).unwrap().algo, Algo::Md5);
        let e = expected(&i, false, &no_fetch).unwrap_err();
        assert!(
            e.details.contains("MD5 support is disabled"),
            "{}",
            e.details
        );

        // An algorithm we do not implement falls back to the checksum, like IPA.
        let i = info(serde_json::json!({"id": "x", "urls": ["http://h/x"],
            "os_hash_algo": "blake2b", "os_hash_value": "abc", "checksum": SHA256_OF_TEST}));
        assert_eq!(expected(&i, false, &no_fetch).unwrap().algo, Algo::Sha256);
        let i = info(serde_json::json!({"id": "x", "urls": ["http://h/x"],
            "os_hash_algo": "blake2b", "os_hash_value": "abc"}));
        let e = expected(&i, false, &no_fetch).unwrap_err();
        assert!(e.details.contains("currently blake2b"), "{}", e.details);
    }

    #[test]
    fn checksum_urls_are_fetched() {
        let i = info(
            serde_json::json!({"id": "disk.img", "urls": ["http://h/images/disk.img"],
            "checksum": "http://h/images/SHA256SUMS"}),
        );
        let file = format!("{MD5_OF_TEST}  other.img\n{SHA256_OF_TEST} *disk.img\n");
        let fetch = |u: &str| -> Result<String> {
            assert_eq!(u, "http://h/images/SHA256SUMS");
            Ok(file.clone())
        };
        let e = expected(&i, false, &fetch).unwrap();
        assert_eq!((e.algo, e.value.as_str()), (Algo::Sha256, SHA256_OF_TEST));
        assert_eq!(e.source, "http://h/images/SHA256SUMS");

        let i = info(
            serde_json::json!({"id": "disk.img", "urls": ["http://h/disk.img"],
            "os_hash_algo": "sha256", "os_hash_value": "http://h/sum"}),
        );
        let fetch = |_: &str| -> Result<String> { Ok(format!("{SHA256_OF_TEST}\n")) };
        assert_eq!(expected(&i, false, &fetch).unwrap().value, SHA256_OF_TEST);
    }

    #[test]
    fn checksum_files_in_every_layout() {
        let f = "disk.img";
        assert_eq!(
            parse_checksum_file(&format!("  {SHA256_OF_TEST}  \n"), f).unwrap(),
            SHA256_OF_TEST
        );
        assert_eq!(
            parse_checksum_file(
                &format!("# c\n{MD5_OF_TEST}  a.img\n{SHA256_OF_TEST}  disk.img\n"),
                f
            )
            .unwrap(),
            SHA256_OF_TEST
        );
        assert_eq!(
            parse_checksum_file(&format!("SHA256 (disk.img) = {SHA256_OF_TEST}\n# x\n"), f)
                .unwrap(),
            SHA256_OF_TEST
        );
        assert!(parse_checksum_file("", f).unwrap_err().contains("Empty"));
        assert!(parse_checksum_file("nothex", f)
            .unwrap_err()
            .contains("No valid checksum"));
        assert!(parse_checksum_file(
            &format!("{SHA256_OF_TEST}  other.img\n{SHA256_OF_TEST}  x\n"),
            f
        )
        .unwrap_err()
        .contains("does not contain name disk.img"));
        // A name that only ends with ours does not count.
        assert!(parse_checksum_file(
            &format!("{SHA256_OF_TEST}  mydisk.img\n{SHA256_OF_TEST} y\n"),
            f
        )
        .is_err());
    }

    #[test]
    fn comparison_ignores_case() {
        let e = Expected {
            algo: Algo::Sha256,
            value: SHA256_OF_TEST.to_uppercase(),
            source: "checksum".into(),
        };
        assert!(e.matches(SHA256_OF_TEST));
        assert!(!e.matches(&SHA256_OF_TEST.replace('9', "8")));
    }
}
