//! `image_info` as the conductor sends it with `deploy.write_image`
//! (`ironic/drivers/modules/agent.py: AgentDeploy.write_image`), validated the way IPA does
//! (`ironic_python_agent/extensions/standby.py: _validate_image_info`) before anything else
//! happens. Every refusal is an `InvalidCommandParamsError` naming the key.
//!
//! Stricter than IPA: every URL must be `http://` or `https://` (IPA fails later, at download
//! time), `id` and `disk_format` must be strings, and `proxies` an object of strings.

use hwmgr::{AgentError, ErrorKind, Result};
use serde_json::{Map, Value};

/// How the image server wants us to authenticate (`standby.py: _download_with_proxy`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageAuth {
    /// `image_request_authorization`, base64-decoded: sent verbatim as `Authorization`.
    Header(String),
    /// `image_server_auth_strategy: http_basic` with `image_server_user`/`_password`.
    Basic { user: String, password: String },
}

/// The validated `image_info`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ImageInfo {
    pub id: String,
    pub urls: Vec<String>,
    pub checksum: Option<String>,
    pub os_hash_algo: Option<String>,
    pub os_hash_value: Option<String>,
    /// As the conductor sent it (`instance_info.image_disk_format`), usually unset.
    pub disk_format: Option<String>,
    /// `partition` for partition images; whole-disk images have no key.
    pub image_type: Option<String>,
    pub stream_raw_images: bool,
    pub node_uuid: Option<String>,
    pub http_proxy: Option<String>,
    pub https_proxy: Option<String>,
    pub no_proxy: Option<String>,
    pub auth: Option<ImageAuth>,
    /// The duplicate of `args.configdrive` some conductors send inside `image_info`.
    pub configdrive: Option<String>,
}

fn invalid(details: impl Into<String>) -> AgentError {
    AgentError::new(ErrorKind::InvalidCommandParamsError, details)
}

pub fn is_http_url(s: &str) -> bool {
    s.starts_with("http://") || s.starts_with("https://")
}

/// An optional string: missing and `null` are `None`; anything else must be a string.
fn opt_str(m: &Map<String, Value>, key: &str) -> Result<Option<String>> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(invalid(format!(
            "Image '{key}' must be a string, got {other}."
        ))),
    }
}

/// Python truthiness of a JSON value (`image_info.get('stream_raw_images', False)`).
fn truthy(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) => n.as_f64() != Some(0.0),
        Some(Value::String(s)) => !s.is_empty(),
        Some(Value::Array(a)) => !a.is_empty(),
        Some(Value::Object(o)) => !o.is_empty(),
    }
}

/// Validates `image_info` as IPA's `_validate_image_info` does. `md5_enabled` is the
/// lookup's `agent_md5_checksum_enable`.
pub fn parse(v: &Value, md5_enabled: bool) -> Result<ImageInfo> {
    let Some(m) = v.as_object() else {
        return Err(invalid(format!(
            "Image 'image_info' must be an object, got {v}."
        )));
    };
    for field in ["id", "urls"] {
        if !m.contains_key(field) {
            return Err(invalid(format!("Image is missing '{field}' field.")));
        }
    }
    let id = match &m["id"] {
        Value::String(s) if !s.is_empty() => s.clone(),
        other => {
            return Err(invalid(format!(
                "Image 'id' must be a non-empty string, got {other}."
            )))
        }
    };
    let urls = parse_urls(&m["urls"])?;
    let checksum = match m.get("checksum") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        Some(_) => return Err(invalid("Image 'checksum' must be a non-empty string.")),
    };
    let (os_hash_algo, os_hash_value) = parse_os_hash(m)?;
    let checksum_usable = checksum
        .as_deref()
        .is_some_and(|c| is_http_url(c) || c.len() > 32 || md5_enabled);
    if !checksum_usable && os_hash_algo.is_none() {
        let mut why = String::from(
            "Image checksum is not available, either the 'checksum' field or the \
             'os_hash_algo' and 'os_hash_value' fields pair must be set for image verification.",
        );
        if checksum.is_some() {
            why += " The 'checksum' given is an MD5 value, and MD5 is disabled \
                    (Ironic's [agent]allow_md5_checksum).";
        }
        return Err(invalid(why));
    }
    let (http_proxy, https_proxy) = parse_proxies(m)?;
    Ok(ImageInfo {
        id,
        urls,
        checksum,
        os_hash_algo,
        os_hash_value,
        disk_format: opt_str(m, "disk_format")?,
        image_type: opt_str(m, "image_type")?,
        stream_raw_images: truthy(m.get("stream_raw_images")),
        node_uuid: opt_str(m, "node_uuid")?,
        http_proxy,
        https_proxy,
        no_proxy: opt_str(m, "no_proxy")?,
        auth: parse_auth(m, &urls_label(v))?,
        configdrive: opt_str(m, "configdrive")?,
    })
}

fn urls_label(v: &Value) -> String {
    v.get("id")
        .and_then(Value::as_str)
        .unwrap_or("<image>")
        .to_string()
}

fn parse_urls(v: &Value) -> Result<Vec<String>> {
    let Some(list) = v.as_array().filter(|l| !l.is_empty()) else {
        return Err(invalid(
            "Image 'urls' must be a list with at least one element.",
        ));
    };
    let mut urls = Vec::with_capacity(list.len());
    for (i, u) in list.iter().enumerate() {
        match u.as_str() {
            Some(s) if is_http_url(s) => urls.push(s.to_string()),
            _ => {
                return Err(invalid(format!(
                    "Image 'urls' element {i} ({u}) is not an http:// or https:// URL."
                )))
            }
        }
    }
    Ok(urls)
}

fn parse_os_hash(m: &Map<String, Value>) -> Result<(Option<String>, Option<String>)> {
    let algo = m.get("os_hash_algo").filter(|v| truthy(Some(v)));
    let value = m.get("os_hash_value").filter(|v| truthy(Some(v)));
    if algo.is_none() && value.is_none() {
        return Ok((None, None));
    }
    let as_str = |key: &str, v: Option<&Value>| -> Result<String> {
        match v {
            Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
            _ => Err(invalid(format!(
                "Image '{key}' must be a non-empty string."
            ))),
        }
    };
    Ok((
        Some(as_str("os_hash_algo", algo)?),
        Some(as_str("os_hash_value", value)?),
    ))
}

fn parse_proxies(m: &Map<String, Value>) -> Result<(Option<String>, Option<String>)> {
    let Some(p) = m.get("proxies").filter(|v| !v.is_null()) else {
        return Ok((None, None));
    };
    let Some(p) = p.as_object() else {
        return Err(invalid(format!(
            "Image 'proxies' must be an object such as {{\"http\": URL, \"https\": URL}}, got {p}."
        )));
    };
    let get = |k: &str| -> Result<Option<String>> {
        match p.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.is_empty() => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(invalid(format!(
                "Image 'proxies.{k}' must be a string, got {other}."
            ))),
        }
    };
    Ok((get("http")?, get("https")?))
}

fn parse_auth(m: &Map<String, Value>, image_id: &str) -> Result<Option<ImageAuth>> {
    use base64::Engine;
    if let Some(secret) = opt_str(m, "image_request_authorization")?.filter(|s| !s.is_empty()) {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(secret.trim())
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or_else(|| {
                invalid("Image 'image_request_authorization' must be standard base64 of a UTF-8 string.")
            })?;
        return Ok(Some(ImageAuth::Header(decoded)));
    }
    if opt_str(m, "image_server_auth_strategy")?.as_deref() == Some("http_basic") {
        let user = opt_str(m, "image_server_user")?.unwrap_or_default();
        let password = opt_str(m, "image_server_password")?.unwrap_or_default();
        let missing: Vec<&str> = [("user", &user), ("password", &password)]
            .iter()
            .filter(|(_, v)| v.is_empty())
            .map(|(k, _)| *k)
            .collect();
        if !missing.is_empty() {
            return Err(AgentError::new(
                ErrorKind::ImageDownloadError,
                format!(
                    "Download of image {image_id} failed: Missing {missing:?} fields from HTTP(S) basic auth config"
                ),
            ));
        }
        return Ok(Some(ImageAuth::Basic { user, password }));
    }
    Ok(None)
}

impl ImageInfo {
    pub fn is_partition_image(&self) -> bool {
        self.image_type.as_deref() == Some("partition")
    }

    /// The file name the conductor's checksum file lists us under: the base name of the
    /// first URL's path (`standby.py: _fetch_checksum`).
    pub fn file_name(&self) -> String {
        let url = self.urls.first().map(String::as_str).unwrap_or_default();
        let after_scheme = url.split_once("://").map_or(url, |(_, r)| r);
        let path = after_scheme
            .split_once('/')
            .map_or("", |(_, p)| p)
            .split(['?', '#'])
            .next()
            .unwrap_or_default();
        path.rsplit('/').next().unwrap_or_default().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn err(v: Value, md5: bool) -> String {
        let e = parse(&v, md5).unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidCommandParamsError, "{e}");
        e.details
    }

    const SHA256: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

    #[test]
    fn a_conductor_image_info_is_accepted() {
        let v = json!({
            "id": "disk.img", "urls": ["http://10.0.2.2:8088/disk.img"],
            "disk_format": null, "container_format": null, "stream_raw_images": true,
            "node_uuid": "1be26c0b-03f2-4d2e-ae87-c02d7f33c123",
            "os_hash_algo": "sha256", "os_hash_value": SHA256,
            "proxies": {"http": "http://proxy:3128"}, "no_proxy": "10.0.0.0/8",
            "image_request_authorization": "QmVhcmVyIHNlY3JldA==",
            "an_unknown_key": 1
        });
        let i = parse(&v, false).unwrap();
        assert_eq!(i.id, "disk.img");
        assert!(i.stream_raw_images);
        assert_eq!(i.os_hash_algo.as_deref(), Some("sha256"));
        assert_eq!(i.http_proxy.as_deref(), Some("http://proxy:3128"));
        assert_eq!(i.https_proxy, None);
        assert_eq!(i.auth, Some(ImageAuth::Header("Bearer secret".into())));
        assert_eq!(i.file_name(), "disk.img");
        assert!(!i.is_partition_image());
    }

    #[test]
    fn missing_and_malformed_keys_are_named() {
        let ok = json!({"id": "x", "urls": ["http://h/x"], "checksum": SHA256});
        assert!(parse(&ok, false).is_ok());
        assert_eq!(
            err(json!({"urls": ["http://h/x"]}), true),
            "Image is missing 'id' field."
        );
        assert_eq!(
            err(json!({"id": "x"}), true),
            "Image is missing 'urls' field."
        );
        assert!(err(json!({"id": "x", "urls": []}), true).contains("'urls' must be a list"));
        assert!(err(json!({"id": "x", "urls": "http://h/x"}), true).contains("'urls'"));
        assert!(err(
            json!({"id": "x", "urls": ["ftp://h/x"], "checksum": SHA256}),
            true
        )
        .contains("'urls' element 0"));
        assert_eq!(
            err(
                json!({"id": "x", "urls": ["http://h/x"], "checksum": ""}),
                true
            ),
            "Image 'checksum' must be a non-empty string."
        );
        assert_eq!(
            err(
                json!({"id": "x", "urls": ["http://h/x"], "checksum": 5}),
                true
            ),
            "Image 'checksum' must be a non-empty string."
        );
        assert_eq!(
            err(
                json!({"id": "x", "urls": ["http://h/x"], "os_hash_algo": "sha256"}),
                true
            ),
            "Image 'os_hash_value' must be a non-empty string."
        );
        assert_eq!(
            err(
                json!({"id": "x", "urls": ["http://h/x"], "os_hash_value": SHA256}),
                true
            ),
            "Image 'os_hash_algo' must be a non-empty string."
        );
        assert!(err(json!({"id": "x", "urls": ["http://h/x"]}), true)
            .starts_with("Image checksum is not available"));
        assert!(err(
            json!({"id": "x", "urls": ["http://h/x"], "checksum": SHA256, "proxies": []}),
            true
        )
        .contains("'proxies'"));
        assert!(err(
            json!({"id": 7, "urls": ["http://h/x"], "checksum": SHA256}),
            true
        )
        .contains("'id'"));
        assert!(err(json!("nope"), true).contains("'image_info'"));
    }

    #[test]
    fn md5_only_where_enabled() {
        let md5 = json!({"id": "x", "urls": ["http://h/x"], "checksum": "098f6bcd4621d373cade4e832627b4f6"});
        assert!(parse(&md5, true).is_ok());
        let e = err(md5, false);
        assert!(e.contains("MD5 is disabled"), "{e}");
        // A checksum URL or a longer digest does not depend on md5.
        let url = json!({"id": "x", "urls": ["http://h/x"], "checksum": "http://h/SHA256SUMS"});
        assert!(parse(&url, false).is_ok());
    }

    #[test]
    fn basic_auth_needs_both_credentials() {
        let v = json!({"id": "x", "urls": ["http://h/x"], "checksum": SHA256,
                       "image_server_auth_strategy": "http_basic", "image_server_user": "u"});
        let e = parse(&v, false).unwrap_err();
        assert_eq!(e.kind, ErrorKind::ImageDownloadError);
        assert!(e.details.contains("password"), "{}", e.details);
        let v = json!({"id": "x", "urls": ["http://h/x"], "checksum": SHA256,
                       "image_server_auth_strategy": "http_basic", "image_server_user": "u",
                       "image_server_password": "p"});
        assert_eq!(
            parse(&v, false).unwrap().auth,
            Some(ImageAuth::Basic {
                user: "u".into(),
                password: "p".into()
            })
        );
    }

    #[test]
    fn file_name_of_the_first_url() {
        let i = ImageInfo {
            urls: vec!["https://h:8080/a/b/cirros.qcow2?sig=1".into()],
            ..ImageInfo::default()
        };
        assert_eq!(i.file_name(), "cirros.qcow2");
    }
}
