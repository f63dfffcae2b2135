//! The Ironic API client: version discovery, lookup and heartbeat
//! (`ironic_python_agent/ironic_api_client.py`).
//! Several API URLs are tried in order; on a connection-type failure the next one is tried
//! and the one that answered moves to the front.

use crate::config::Config;
use rand::Rng;
use serde_json::{json, Value};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

/// Lookup needs 1.62 for the token; heartbeat 1.68 for `agent_verify_ca`.
pub const LOOKUP_VERSION: (u32, u32) = (1, 62);
pub const HEARTBEAT_VERSION: (u32, u32) = (1, 68);

pub struct IronicClient {
    urls: Mutex<Vec<String>>,
    http: reqwest::Client,
    request_id: Option<String>,
    api_version: Mutex<Option<(u32, u32)>>,
}

/// A failed call, with what an operator needs in the one log line: URL and status.
#[derive(Debug, Clone, PartialEq)]
pub enum CallError {
    /// No URL answered (connection refused, timeout, TLS failure, ...).
    Unreachable(String),
    /// An answer that is not what we wanted.
    Status {
        url: String,
        status: u16,
        message: String,
    },
    /// 2xx but a body we cannot use.
    Garbage { url: String, why: String },
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallError::Unreachable(e) => write!(f, "Ironic API unreachable: {e}"),
            CallError::Status {
                url,
                status,
                message,
            } => write!(f, "{url} answered {status}: {message}"),
            CallError::Garbage { url, why } => {
                write!(f, "{url} answered with an unusable body: {why}")
            }
        }
    }
}

fn version_header(v: (u32, u32)) -> String {
    format!("{}.{}", v.0, v.1)
}

/// Ironic's error text: `error_message` (a JSON string holding faultstring), then
/// `faultstring`, then `title`, else the raw body.
pub fn error_text(body: &str) -> String {
    let Ok(v) = serde_json::from_str::<Value>(body) else {
        return body.trim().chars().take(500).collect();
    };
    if let Some(em) = v.get("error_message").and_then(Value::as_str) {
        if let Ok(inner) = serde_json::from_str::<Value>(em) {
            if let Some(fs) = inner.get("faultstring").and_then(Value::as_str) {
                return fs.to_string();
            }
        }
        return em.to_string();
    }
    for key in ["faultstring", "title"] {
        if let Some(s) = v.get(key).and_then(Value::as_str) {
            return s.to_string();
        }
    }
    body.trim().chars().take(500).collect()
}

/// The HTTP client for calls to Ironic (and to an inspection callback URL): every request
/// bounded by `ipa-http-request-timeout`, certificates verified unless `ipa-insecure`.
pub fn http_client(config: &Config) -> Result<reqwest::Client, String> {
    let mut b = reqwest::Client::builder()
        .timeout(config.http_request_timeout)
        .connect_timeout(config.http_request_timeout.min(Duration::from_secs(10)))
        .use_rustls_tls();
    if config.insecure {
        b = b.danger_accept_invalid_certs(true);
    }
    b.build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))
}

impl IronicClient {
    pub fn new(config: &Config) -> Result<Self, String> {
        let http = http_client(config)?;
        Ok(IronicClient {
            urls: Mutex::new(config.api_urls.clone()),
            http,
            request_id: config.global_request_id.clone(),
            api_version: Mutex::new(config.ironic_api_version),
        })
    }

    pub fn urls(&self) -> Vec<String> {
        self.urls
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Sends a request to each URL in turn until one answers at the HTTP level.
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        version: Option<(u32, u32)>,
        body: Option<&Value>,
    ) -> Result<(String, u16, String), CallError> {
        let urls = self.urls();
        let mut errors = Vec::new();
        for base in &urls {
            let url = format!("{base}{path}");
            let mut req = self
                .http
                .request(method.clone(), &url)
                .header("Accept", "application/json")
                .header("Content-Type", "application/json");
            if let Some(v) = version {
                req = req.header("X-OpenStack-Ironic-API-Version", version_header(v));
            }
            if let Some(id) = &self.request_id {
                req = req.header("X-OpenStack-Request-ID", id);
            }
            if let Some(b) = body {
                req = req.body(b.to_string());
            }
            match req.send().await {
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    let text = resp.text().await.unwrap_or_default();
                    self.promote(base);
                    return Ok((url, status, text));
                }
                Err(e) => errors.push(format!("{url}: {}", describe(&e))),
            }
        }
        Err(CallError::Unreachable(errors.join("; ")))
    }

    fn promote(&self, base: &str) {
        let mut urls = self.urls.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(i) = urls.iter().position(|u| u == base) {
            let u = urls.remove(i);
            urls.insert(0, u);
        }
    }

    /// The API's maximum microversion from `GET /` (cached once known).
    pub async fn api_version(&self) -> Result<(u32, u32), CallError> {
        if let Some(v) = *self
            .api_version
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
        {
            return Ok(v);
        }
        let (url, status, text) = self.call(reqwest::Method::GET, "/", None, None).await?;
        if status != 200 {
            return Err(CallError::Status {
                url,
                status,
                message: error_text(&text),
            });
        }
        let v: Value = serde_json::from_str(&text).map_err(|e| CallError::Garbage {
            url: url.clone(),
            why: format!("not JSON: {e}"),
        })?;
        let parsed = v["default_version"]["version"]
            .as_str()
            .and_then(crate::config::parse_version)
            .ok_or_else(|| CallError::Garbage {
                url,
                why: "no default_version.version".into(),
            })?;
        *self
            .api_version
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(parsed);
        Ok(parsed)
    }

    /// One lookup attempt. `Ok` only with a usable answer (node.uuid and heartbeat_timeout).
    pub async fn lookup(
        &self,
        macs: &[String],
        node_uuid: Option<&str>,
    ) -> Result<Value, CallError> {
        let version = self.api_version().await?.min(LOOKUP_VERSION);
        // The serializer is not Send: built and dropped before the await.
        let path = {
            let mut query = url::form_urlencoded::Serializer::new(String::new());
            query.append_pair("addresses", &macs.join(","));
            if let Some(u) = node_uuid {
                query.append_pair("node_uuid", u);
            }
            format!("/v1/lookup?{}", query.finish())
        };
        let (url, status, text) = self
            .call(reqwest::Method::GET, &path, Some(version), None)
            .await?;
        if status != 200 {
            return Err(CallError::Status {
                url,
                status,
                message: error_text(&text),
            });
        }
        let mut v: Value = serde_json::from_str(&text).map_err(|e| CallError::Garbage {
            url: url.clone(),
            why: format!("not JSON: {e}"),
        })?;
        if !v["node"]["uuid"].is_string() {
            return Err(CallError::Garbage {
                url,
                why: "no node.uuid".into(),
            });
        }
        // Legacy APIs put heartbeat_timeout at the top level; IPA moves it into config.
        if !v["config"].is_object() {
            match v.get("heartbeat_timeout").cloned() {
                Some(ht) => v["config"] = json!({ "heartbeat_timeout": ht }),
                None => {
                    return Err(CallError::Garbage {
                        url,
                        why: "no config and no heartbeat_timeout".into(),
                    })
                }
            }
        }
        if v["config"].get("heartbeat_timeout").is_none() {
            return Err(CallError::Garbage {
                url,
                why: "no config.heartbeat_timeout".into(),
            });
        }
        Ok(v)
    }

    /// One heartbeat; success is exactly 202.
    pub async fn heartbeat(&self, node_uuid: &str, body: &Value) -> Result<(), CallError> {
        let version = self.api_version().await?.min(HEARTBEAT_VERSION);
        let path = format!("/v1/heartbeat/{node_uuid}");
        let (url, status, text) = self
            .call(reqwest::Method::POST, &path, Some(version), Some(body))
            .await?;
        if status == 202 {
            return Ok(());
        }
        Err(CallError::Status {
            url,
            status,
            message: error_text(&text),
        })
    }
}

pub fn describe(e: &reqwest::Error) -> String {
    use std::error::Error;
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        s += &format!(": {inner}");
        src = inner.source();
    }
    s
}

/// Randomized exponential back-off: uniform in `[base, min(cap, base * 2^attempt)]`.
pub fn backoff(attempt: u32, base: Duration, cap: Duration) -> Duration {
    let base = base.max(Duration::from_millis(100));
    let hi = base
        .saturating_mul(1u32 << attempt.min(16))
        .min(cap)
        .max(base);
    let secs = rand::rng().random_range(base.as_secs_f64()..=hi.as_secs_f64());
    Duration::from_secs_f64(secs)
}

/// Extra pause after the n-th 409 during lookup (the node is locked): 5, 10, then 30 s.
pub fn conflict_pause(n: u32) -> Duration {
    Duration::from_secs(match n {
        0 => 5,
        1 => 10,
        _ => 30,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_text_unwraps_ironic_errors() {
        let body = r#"{"error_message": "{\"faultcode\": \"Client\", \"faultstring\": \"Invalid or missing agent token received.\", \"debuginfo\": null}"}"#;
        assert_eq!(error_text(body), "Invalid or missing agent token received.");
        assert_eq!(error_text(r#"{"faultstring": "x"}"#), "x");
        assert_eq!(error_text("<html>oops</html>"), "<html>oops</html>");
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let base = Duration::from_secs(1);
        let cap = Duration::from_secs(60);
        for attempt in 0..30 {
            let d = backoff(attempt, base, cap);
            assert!(d >= base && d <= cap, "attempt {attempt}: {d:?}");
            let upper = base.saturating_mul(1u32 << attempt.min(16)).min(cap);
            assert!(d <= upper, "attempt {attempt}: {d:?} > {upper:?}");
        }
        // With many samples at a high attempt, some exceed the lower bound by a lot.
        assert!((0..50).any(|_| backoff(10, base, cap) > Duration::from_secs(10)));
        assert_eq!(conflict_pause(0), Duration::from_secs(5));
        assert_eq!(conflict_pause(7), Duration::from_secs(30));
    }
}
