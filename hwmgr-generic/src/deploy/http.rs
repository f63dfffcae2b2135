//! Fetching images and checksum files over http(s), with IPA's rules
//! (`ironic_python_agent/extensions/standby.py: _download_with_proxy`, `ImageDownload`):
//!
//! * TLS is verified unless `ipa-insecure`; `cafile` adds the operator's CA (the built-in
//!   roots are Mozilla's, as the ramdisk ships no system CA bundle).
//! * Proxies from `image_info.proxies` (`http`/`https`), `image_info.no_proxy`; without them
//!   the environment's `http_proxy`/`https_proxy`/`no_proxy` apply, as with `requests`.
//! * Authorization: `image_request_authorization` verbatim, else HTTP basic.
//! * A connection error or a 5xx is retried `image-download-connection-retries` times,
//!   `…-retry-interval` apart; any other status but 200 is fatal (not retried, no next URL).
//!   IPA's code retries 4xx too by accident (a falsy `Response`); we do not copy that.
//! * `image-download-connection-timeout` bounds the connection, the response headers and
//!   every single read, so a stalled server is an error after that long, not a hang.
//! * A TLS certificate that is not trusted is not retried against the same URL (it will not
//!   change in ten seconds; IPA retries it like a connection error), and the error says how
//!   to fix it: the CA through `cafile`, or `ipa-insecure`.

use super::image_info::{ImageAuth, ImageInfo};
use super::DeploySettings;
use hwmgr::{AgentError, ErrorKind, Result};
use reqwest::blocking::{Client, Response};
use reqwest::header::{HeaderValue, AUTHORIZATION};
use std::io::Read;
use std::time::Duration;

/// Why a GET did not produce a 200 response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpenError {
    /// Connection failures and 5xx after all retries: the next URL may work.
    Retryable(String),
    /// Anything else (4xx, a redirect not followed): stop.
    Fatal(String),
}

impl OpenError {
    pub fn message(&self) -> &str {
        match self {
            OpenError::Retryable(m) | OpenError::Fatal(m) => m,
        }
    }
}

/// An http(s) client configured for one image.
pub struct HttpClient {
    client: Client,
    auth: Option<HeaderValue>,
    retries: u32,
    interval: Duration,
    pub timeout: Duration,
}

fn download_error(id: &str, msg: impl std::fmt::Display) -> AgentError {
    AgentError::new(
        ErrorKind::ImageDownloadError,
        format!("Download of image {id} failed: {msg}"),
    )
}

impl HttpClient {
    pub fn new(settings: &DeploySettings, info: &ImageInfo) -> Result<HttpClient> {
        let mut b = Client::builder()
            .timeout(settings.connection_timeout)
            .connect_timeout(settings.connection_timeout)
            .user_agent(concat!("ironic-agent/", env!("CARGO_PKG_VERSION")));
        if settings.insecure {
            b = b.danger_accept_invalid_certs(true);
        } else if let Some(ca) = &settings.cafile {
            let pem = std::fs::read(ca).map_err(|e| {
                download_error(
                    &info.id,
                    format!("cannot read the CA file {}: {e}", ca.display()),
                )
            })?;
            let cert = reqwest::Certificate::from_pem(&pem).map_err(|e| {
                download_error(
                    &info.id,
                    format!("the CA file {} is not PEM: {e}", ca.display()),
                )
            })?;
            b = b.add_root_certificate(cert);
        }
        b = add_proxies(b, info)?;
        let client = b
            .build()
            .map_err(|e| download_error(&info.id, format!("cannot set up the HTTP client: {e}")))?;
        let auth = match &info.auth {
            None => None,
            Some(ImageAuth::Header(h)) => Some(HeaderValue::from_str(h).map_err(|_| {
                AgentError::new(
                    ErrorKind::InvalidCommandParamsError,
                    "Image 'image_request_authorization' decodes to a value that is not a valid HTTP header",
                )
            })?),
            Some(ImageAuth::Basic { user, password }) => {
                use base64::Engine;
                let token = base64::engine::general_purpose::STANDARD
                    .encode(format!("{user}:{password}"));
                HeaderValue::from_str(&format!("Basic {token}")).ok()
            }
        };
        Ok(HttpClient {
            client,
            auth,
            retries: settings.connection_retries,
            interval: settings.retry_interval,
            timeout: settings.connection_timeout,
        })
    }

    /// One GET of `url` with the connection retries; a 200 response or why not.
    pub fn open(&self, url: &str) -> std::result::Result<Response, OpenError> {
        let mut attempt = 0;
        loop {
            let failure = match self.get(url) {
                Ok(resp) if resp.status().as_u16() == 200 => return Ok(resp),
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    let msg = status_message(url, resp);
                    if status < 500 {
                        return Err(OpenError::Fatal(msg));
                    }
                    msg
                }
                Err(e) => {
                    let why = error_chain(&e);
                    if let Some(hint) = certificate_hint(url, &why) {
                        return Err(OpenError::Retryable(format!(
                            "cannot reach {url}: {why}. {hint}"
                        )));
                    }
                    format!("cannot reach {url}: {why}")
                }
            };
            if attempt >= self.retries {
                return Err(OpenError::Retryable(failure));
            }
            attempt += 1;
            tracing::warn!(
                "Unable to connect to {url}, retrying ({attempt} of {}) in {:?}. Error: {failure}",
                self.retries,
                self.interval
            );
            std::thread::sleep(self.interval);
        }
    }

    fn get(&self, url: &str) -> reqwest::Result<Response> {
        let mut req = self.client.get(url);
        if let Some(a) = &self.auth {
            req = req.header(AUTHORIZATION, a.clone());
        }
        req.send()
    }

    /// A small text document (a checksums file, a config drive), at most `limit` bytes.
    pub fn fetch_small(&self, url: &str, limit: u64) -> std::result::Result<Vec<u8>, OpenError> {
        let resp = self.open(url)?;
        let mut body = Vec::new();
        resp.take(limit + 1)
            .read_to_end(&mut body)
            .map_err(|e| OpenError::Retryable(format!("reading {url} failed: {e}")))?;
        if body.len() as u64 > limit {
            return Err(OpenError::Fatal(format!(
                "{url} is larger than the {limit} bytes accepted here"
            )));
        }
        Ok(body)
    }
}

fn add_proxies(
    mut b: reqwest::blocking::ClientBuilder,
    info: &ImageInfo,
) -> Result<reqwest::blocking::ClientBuilder> {
    let no_proxy = info
        .no_proxy
        .as_deref()
        .and_then(reqwest::NoProxy::from_string);
    let bad = |k: &str, e: reqwest::Error| {
        AgentError::new(
            ErrorKind::InvalidCommandParamsError,
            format!("Image 'proxies.{k}' is not a usable proxy URL: {e}"),
        )
    };
    if let Some(p) = &info.http_proxy {
        b = b.proxy(
            reqwest::Proxy::http(p)
                .map_err(|e| bad("http", e))?
                .no_proxy(no_proxy.clone()),
        );
    }
    if let Some(p) = &info.https_proxy {
        b = b.proxy(
            reqwest::Proxy::https(p)
                .map_err(|e| bad("https", e))?
                .no_proxy(no_proxy.clone()),
        );
    }
    Ok(b)
}

/// What to do when an https server's certificate was refused (rustls names the cause:
/// "invalid peer certificate: UnknownIssuer", "... NotValidForName", "... Expired").
fn certificate_hint(url: &str, error: &str) -> Option<&'static str> {
    (url.starts_with("https://") && error.contains("certificate")).then_some(
        "The image server's TLS certificate is not trusted by the agent: give the agent the \
         CA that signed it (the `cafile` option: `ipa-cafile=<path>` on the kernel command \
         line or `cafile = <path>` in agent.conf), or, on a network you trust, turn \
         verification off with `ipa-insecure=1`",
    )
}

/// IPA's message for a status other than 200, with at most 512 bytes of the body.
fn status_message(url: &str, resp: Response) -> String {
    let status = resp.status().as_u16();
    let headers: Vec<String> = resp
        .headers()
        .iter()
        .map(|(k, v)| format!("{k}: {}", v.to_str().unwrap_or("?")))
        .collect();
    let mut body = Vec::new();
    let _ = resp.take(512).read_to_end(&mut body);
    format!(
        "Received status code {status} from {url}, expected 200. Response body: {} Response headers: {{{}}}",
        String::from_utf8_lossy(&body).trim(),
        headers.join(", ")
    )
}

/// The error and its causes on one line (reqwest's top-level text omits the cause).
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let t = c.to_string();
        if !s.contains(&t) {
            s += ": ";
            s += &t;
        }
        cur = c.source();
    }
    s
}

#[cfg(test)]
#[path = "http_tests.rs"]
mod tests;
