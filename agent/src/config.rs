//! Agent configuration from three sources, with IPA's precedence: a kernel parameter
//! (`ipa-<name>=<value>` in `/proc/cmdline`) sets the default, a config file overrides it, and
//! a command-line flag (`--<name> <value>`) overrides both. One name space for all three:
//! `api-url`, `listen-port`, ... (the `ipa-` prefix is optional in the file and on the CLI).
//!
//! Unknown `ipa-*` names are logged and ignored; a bad value is a start-up error that names
//! the parameter, the value and where it came from.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Where a parameter came from, for error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    KernelCmdline,
    ConfigFile,
    Flag,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Source::KernelCmdline => "kernel command line",
            Source::ConfigFile => "config file",
            Source::Flag => "command-line flag",
        })
    }
}

/// Raw parameters, last writer wins, remembering the source.
#[derive(Debug, Clone, Default)]
pub struct Params {
    values: BTreeMap<String, (String, Source)>,
    /// `BOOTIF` and other non-`ipa-` kernel parameters we care about.
    pub bootif: Option<String>,
}

impl Params {
    pub fn set(&mut self, name: &str, value: &str, source: Source) {
        let name = name.strip_prefix("ipa-").unwrap_or(name).replace('_', "-");
        self.values.insert(name, (value.to_string(), source));
    }

    /// Reads `ipa-*` parameters (and `BOOTIF`) from a kernel command line.
    pub fn add_kernel_cmdline(&mut self, cmdline: &str) {
        for token in cmdline.split_whitespace() {
            let Some((k, v)) = token.split_once('=') else {
                continue;
            };
            if let Some(name) = k.strip_prefix("ipa-") {
                self.set(name, v, Source::KernelCmdline);
            } else if k == "BOOTIF" {
                self.bootif = Some(v.to_string());
            }
        }
    }

    /// Reads a config file: `name = value` lines; `#`/`;` comments and `[section]` headers
    /// are ignored, so an IPA-style `[DEFAULT]` file with our option names also works.
    pub fn add_config_file(&mut self, text: &str) -> Result<(), String> {
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty()
                || line.starts_with('#')
                || line.starts_with(';')
                || line.starts_with('[')
            {
                continue;
            }
            let Some((k, v)) = line.split_once('=') else {
                return Err(format!(
                    "config file line {}: expected `name = value`, got {line:?}",
                    i + 1
                ));
            };
            self.set(k.trim(), v.trim(), Source::ConfigFile);
        }
        Ok(())
    }

    /// Every parameter with its value and where it came from.
    pub fn entries(&self) -> impl Iterator<Item = (&String, &String, Source)> {
        self.values.iter().map(|(k, (v, s))| (k, v, *s))
    }
}

/// The agent's settings. Defaults are IPA's (`ironic_python_agent/config.py`).
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub api_urls: Vec<String>,
    pub agent_token: Option<String>,
    pub advertise_host: Option<String>,
    pub advertise_port: u16,
    pub advertise_protocol: String,
    pub listen_host: Option<IpAddr>,
    pub listen_port: u16,
    pub network_interface: Option<String>,
    pub insecure: bool,
    pub debug: bool,
    pub global_request_id: Option<String>,
    pub ironic_api_version: Option<(u32, u32)>,
    pub lookup_timeout: Duration,
    pub lookup_interval: Duration,
    pub http_request_timeout: Duration,
    pub hardware_initialization_delay: Duration,
    pub ip_lookup_attempts: u32,
    pub ip_lookup_sleep: Duration,
    pub enable_auto_tls: bool,
    pub tls_min_version: String,
    pub tls_certificate_curve: String,
    pub auto_tls_allowed_clock_skew: Duration,
    pub log_file: Option<PathBuf>,
    pub bootif: Option<String>,
    /// Where auto-TLS writes its key and certificate (under the host root).
    pub cert_dir: PathBuf,
    /// Ours, not IPA's (`--hardware-ready-file`): a file whose existence says the machine's
    /// drivers are loaded. Our ramdisk's /init starts the agent at the DHCP lease, before its
    /// drivers are all loaded, and writes this file when they are; the agent waits for it
    /// before its first hardware access (`crate::hardware_ready`). Unset (IPA-style images,
    /// tests, any machine that booted with udev), nothing waits.
    pub hardware_ready_file: Option<PathBuf>,
    /// How long to wait for [`Config::hardware_ready_file`] before going on without it
    /// (`--hardware-ready-timeout`, seconds; default 15).
    pub hardware_ready_timeout: Duration,
    /// Image download, TLS and boot loader options of `deploy.write_image`.
    pub deploy: hwmgr_generic::deploy::DeploySettings,
    /// In-band inspection at start-up (`ipa-inspection-*`, `ipa-collect-lldp`).
    pub inspection: InspectionConfig,
}

/// IPA's inspection options (`ironic_python_agent/config.py`), defaults included.
#[derive(Debug, Clone, PartialEq)]
pub struct InspectionConfig {
    /// `ipa-inspection-callback-url`.
    pub callback_url: Option<String>,
    /// `ipa-inspection-collectors`: `None` when not given (IPA then uses `default,logs`, and
    /// derives no callback URL from `ipa-api-url`).
    pub collectors: Option<Vec<String>>,
    /// `ipa-inspection-dhcp-wait-timeout` (60 s).
    pub dhcp_wait_timeout: Duration,
    /// `ipa-inspection-dhcp-all-interfaces`.
    pub dhcp_all_interfaces: bool,
    /// `ipa-collect-lldp`.
    pub collect_lldp: bool,
    /// `ipa-lldp-timeout` (30 s).
    pub lldp_timeout: Duration,
}

/// IPA's `INSPECTION_DEFAULT_COLLECTORS`.
pub const DEFAULT_COLLECTORS: &[&str] = &["default", "logs"];

impl Default for InspectionConfig {
    fn default() -> Self {
        InspectionConfig {
            callback_url: None,
            collectors: None,
            dhcp_wait_timeout: Duration::from_secs(60),
            dhcp_all_interfaces: false,
            collect_lldp: false,
            lldp_timeout: Duration::from_secs(30),
        }
    }
}

impl InspectionConfig {
    /// The collectors that run: the configured ones, else IPA's default.
    pub fn collector_names(&self) -> Vec<String> {
        self.collectors
            .clone()
            .unwrap_or_else(|| DEFAULT_COLLECTORS.iter().map(|s| s.to_string()).collect())
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            api_urls: vec![],
            agent_token: None,
            advertise_host: None,
            advertise_port: 9999,
            advertise_protocol: "http".into(),
            listen_host: None,
            listen_port: 9999,
            network_interface: None,
            insecure: false,
            debug: false,
            global_request_id: None,
            ironic_api_version: None,
            lookup_timeout: Duration::from_secs(600),
            lookup_interval: Duration::from_secs(1),
            http_request_timeout: Duration::from_secs(30),
            hardware_initialization_delay: Duration::ZERO,
            ip_lookup_attempts: 6,
            ip_lookup_sleep: Duration::from_secs(10),
            enable_auto_tls: true,
            tls_min_version: "1.2".into(),
            tls_certificate_curve: "p384".into(),
            auto_tls_allowed_clock_skew: Duration::from_secs(3600),
            log_file: None,
            bootif: None,
            cert_dir: PathBuf::from("/run/ironic-agent"),
            hardware_ready_file: None,
            hardware_ready_timeout: Duration::from_secs(15),
            deploy: Default::default(),
            inspection: Default::default(),
        }
    }
}

/// Parameters IPA knows that we accept but do not act on (yet); not worth a warning.
const ACCEPTED_IGNORED: &[&str] = &[
    "disk-wait-attempts",
    "disk-wait-delay",
    "inspection-benchmarks",
    "enable-vlan-interfaces",
    "ntp-server",
    "guard-special-filesystems",
    "inject-files-priority",
    "tls-cipher-suites",
    "use-mdns",
    "standalone",
];

impl Config {
    pub fn from_params(p: &Params) -> Result<Config, String> {
        let mut c = Config {
            bootif: p.bootif.clone(),
            ..Config::default()
        };
        for (name, value, source) in p.entries() {
            let bad = |why: &str| {
                format!("invalid value {value:?} for ipa-{name} (from the {source}): {why}")
            };
            let v = value.as_str();
            match name.as_str() {
                "api-url" => c.api_urls = parse_api_urls(v).map_err(|e| bad(&e))?,
                "agent-token" => c.agent_token = parse_token(v).map_err(|e| bad(&e))?,
                "advertise-host" => c.advertise_host = non_empty(v),
                "advertise-port" => c.advertise_port = parse_port(v).map_err(|e| bad(&e))?,
                "advertise-protocol" => {
                    if v != "http" && v != "https" {
                        return Err(bad("expected http or https"));
                    }
                    c.advertise_protocol = v.into();
                }
                "listen-host" => {
                    c.listen_host = Some(
                        v.trim_matches(['[', ']'])
                            .parse()
                            .map_err(|_| bad("expected an IP address"))?,
                    )
                }
                "listen-port" => c.listen_port = parse_port(v).map_err(|e| bad(&e))?,
                "network-interface" => c.network_interface = non_empty(v),
                "insecure" => {
                    c.insecure = parse_bool(v).map_err(|e| bad(&e))?;
                    c.deploy.insecure = c.insecure;
                }
                "cafile" => c.deploy.cafile = non_empty(v).map(PathBuf::from),
                "image-download-connection-timeout" => {
                    c.deploy.connection_timeout = parse_secs(v)
                        .ok()
                        .filter(|d| d.as_secs_f64() >= 1.0)
                        .ok_or_else(|| bad("expected a number of seconds, at least 1"))?
                }
                "image-download-connection-retries" => {
                    c.deploy.connection_retries =
                        v.parse().map_err(|_| bad("expected a whole number"))?
                }
                "image-download-connection-retry-interval" => {
                    c.deploy.retry_interval = parse_secs(v).map_err(|e| bad(&e))?
                }
                "image-download-max-duration" => {
                    let d = parse_secs(v).map_err(|e| bad(&e))?;
                    c.deploy.max_duration = (!d.is_zero()).then_some(d);
                }
                "ignore-bootloader-failure" => {
                    c.deploy.ignore_bootloader_failure = parse_bool(v).map_err(|e| bad(&e))?
                }
                "debug" => c.debug = parse_bool(v).map_err(|e| bad(&e))?,
                "global-request-id" => c.global_request_id = non_empty(v),
                "ironic-api-version" => {
                    c.ironic_api_version =
                        Some(parse_version(v).ok_or_else(|| bad("expected X.Y, e.g. 1.68"))?)
                }
                "lookup-timeout" => c.lookup_timeout = parse_secs(v).map_err(|e| bad(&e))?,
                "lookup-interval" => c.lookup_interval = parse_secs(v).map_err(|e| bad(&e))?,
                "http-request-timeout" => {
                    c.http_request_timeout = parse_secs(v).map_err(|e| bad(&e))?
                }
                "hardware-initialization-delay" => {
                    c.hardware_initialization_delay = parse_secs(v).map_err(|e| bad(&e))?
                }
                "ip-lookup-attempts" => {
                    c.ip_lookup_attempts = v.parse().map_err(|_| bad("expected a whole number"))?
                }
                "ip-lookup-timeout" => c.ip_lookup_sleep = parse_secs(v).map_err(|e| bad(&e))?,
                "enable-auto-tls" => c.enable_auto_tls = parse_bool(v).map_err(|e| bad(&e))?,
                "tls-min-version" => {
                    if v != "1.2" && v != "1.3" {
                        return Err(bad("expected 1.2 or 1.3"));
                    }
                    c.tls_min_version = v.into();
                }
                "tls-certificate-curve" => {
                    if !["p256", "p384", "p521"].contains(&v) {
                        return Err(bad("expected p256, p384 or p521"));
                    }
                    c.tls_certificate_curve = v.into();
                }
                "auto-tls-allowed-clock-skew" => {
                    c.auto_tls_allowed_clock_skew = parse_secs(v).map_err(|e| bad(&e))?
                }
                "inspection-callback-url" => c.inspection.callback_url = non_empty(v),
                "inspection-collectors" => {
                    let names: Vec<String> = v
                        .split(',')
                        .map(str::trim)
                        .filter(|n| !n.is_empty())
                        .map(str::to_string)
                        .collect();
                    c.inspection.collectors = (!names.is_empty()).then_some(names);
                }
                "inspection-dhcp-wait-timeout" => {
                    c.inspection.dhcp_wait_timeout = parse_secs(v).map_err(|e| bad(&e))?
                }
                "inspection-dhcp-all-interfaces" => {
                    c.inspection.dhcp_all_interfaces = parse_bool(v).map_err(|e| bad(&e))?
                }
                "collect-lldp" => c.inspection.collect_lldp = parse_bool(v).map_err(|e| bad(&e))?,
                "lldp-timeout" => {
                    c.inspection.lldp_timeout = parse_secs(v)
                        .ok()
                        .filter(|d| *d <= Duration::from_secs(600))
                        .ok_or_else(|| bad("expected a number of seconds, at most 600"))?
                }
                "log-file" => c.log_file = non_empty(v).map(PathBuf::from),
                "cert-dir" => c.cert_dir = PathBuf::from(v),
                "hardware-ready-file" => c.hardware_ready_file = non_empty(v).map(PathBuf::from),
                "hardware-ready-timeout" => {
                    c.hardware_ready_timeout = parse_secs(v)
                        .ok()
                        .filter(|d| *d <= Duration::from_secs(600))
                        .ok_or_else(|| bad("expected a number of seconds, at most 600"))?
                }
                other if ACCEPTED_IGNORED.contains(&other) => {
                    tracing::debug!("ipa-{other} is accepted but has no effect in this agent")
                }
                other => tracing::warn!(
                    "unknown parameter ipa-{other}={value:?} (from the {source}) ignored"
                ),
            }
        }
        Ok(c)
    }
}

/// The length of the tokens Ironic generates: `secrets.token_urlsafe()` (32 random bytes,
/// URL-safe base64 without padding) in `ironic/conductor/utils.py: add_secret_token`, also
/// for tokens it pregenerates into a virtual-media boot's parameters.
pub const IRONIC_TOKEN_LEN: usize = 43;

/// A token given at start-up: empty means none; `******` (Ironic's mask, copied from a lookup
/// answer or a node's `driver_internal_info`) and anything shorter than Ironic's tokens are
/// refused, so a typo or a masked value never becomes the secret that guards the API.
fn parse_token(v: &str) -> Result<Option<String>, String> {
    if v.is_empty() {
        return Ok(None);
    }
    if v.chars().all(|c| c == '*') {
        return Err("this is Ironic's mask for a token, not a token; give the token itself or none (the agent then gets it from lookup)".into());
    }
    if v.chars().count() < IRONIC_TOKEN_LEN {
        return Err(format!(
            "too short for an agent token: Ironic's tokens have {IRONIC_TOKEN_LEN} characters"
        ));
    }
    Ok(Some(v.to_string()))
}

fn non_empty(v: &str) -> Option<String> {
    (!v.is_empty()).then(|| v.to_string())
}

/// oslo-style booleans.
pub fn parse_bool(v: &str) -> Result<bool, String> {
    match v.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" | "y" | "t" => Ok(true),
        "0" | "false" | "no" | "off" | "n" | "f" => Ok(false),
        _ => Err("expected a boolean (true/false, 1/0, yes/no, on/off)".into()),
    }
}

fn parse_port(v: &str) -> Result<u16, String> {
    match v.parse::<u16>() {
        Ok(p) if p > 0 => Ok(p),
        _ => Err("expected a port number 1-65535".into()),
    }
}

fn parse_secs(v: &str) -> Result<Duration, String> {
    match v.parse::<f64>() {
        Ok(s) if s.is_finite() && s >= 0.0 => Ok(Duration::from_secs_f64(s)),
        _ => Err("expected a non-negative number of seconds".into()),
    }
}

pub fn parse_version(v: &str) -> Option<(u32, u32)> {
    let (a, b) = v.split_once('.')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

/// Comma-separated `http(s)://` URLs, trailing `/` stripped (checked with the `url` crate; the
/// text is kept as given). (`mdns` discovery is not supported: say so rather than silently
/// never finding Ironic.)
fn parse_api_urls(v: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for u in v.split(',').map(str::trim).filter(|u| !u.is_empty()) {
        if u == "mdns" {
            return Err("mDNS discovery of Ironic is not supported; give the API URL".into());
        }
        match url::Url::parse(u) {
            Ok(p) if !matches!(p.scheme(), "http" | "https") => {
                return Err(format!("{u:?} is not an http:// or https:// URL"))
            }
            Ok(p) if p.host().is_none() => return Err(format!("{u:?} has no host")),
            Ok(_) => {}
            Err(e) => return Err(format!("{u:?} is not a URL: {e}")),
        }
        out.push(u.trim_end_matches('/').to_string());
    }
    if out.is_empty() {
        return Err("no URL given".into());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_cmdline_is_parsed() {
        let mut p = Params::default();
        p.add_kernel_cmdline(
            "BOOT_IMAGE=/vmlinuz console=ttyS0 ipa-api-url=http://10.0.2.2:6385/,https://b:6385 \
             ipa-debug=1 ipa-advertise-port=10999 ipa-insecure=yes BOOTIF=01-52-54-00-12-34-56 ipa-unknown-x=1 quiet",
        );
        let c = Config::from_params(&p).unwrap();
        assert_eq!(c.api_urls, ["http://10.0.2.2:6385", "https://b:6385"]);
        assert!(c.debug && c.insecure);
        assert_eq!(c.advertise_port, 10999);
        assert_eq!(c.bootif.as_deref(), Some("01-52-54-00-12-34-56"));
    }

    #[test]
    fn the_hardware_ready_file_is_waited_for_only_when_named() {
        let c = Config::from_params(&Params::default()).unwrap();
        assert_eq!(
            c.hardware_ready_file, None,
            "outside our ramdisk nothing waits"
        );
        let mut p = Params::default();
        p.set("hardware-ready-file", "/run/x/ready", Source::Flag);
        p.set("hardware-ready-timeout", "12.5", Source::Flag);
        let c = Config::from_params(&p).unwrap();
        assert_eq!(c.hardware_ready_file, Some(PathBuf::from("/run/x/ready")));
        assert_eq!(c.hardware_ready_timeout, Duration::from_secs_f64(12.5));
    }

    #[test]
    fn precedence_is_cmdline_then_file_then_flag() {
        let mut p = Params::default();
        p.add_kernel_cmdline("ipa-listen-port=1 ipa-advertise-port=1 ipa-lookup-timeout=1");
        p.add_config_file("[DEFAULT]\n# comment\nlisten-port = 2\nipa-advertise-port=2\n")
            .unwrap();
        p.set("listen-port", "3", Source::Flag);
        let c = Config::from_params(&p).unwrap();
        assert_eq!((c.listen_port, c.advertise_port), (3, 2));
        assert_eq!(c.lookup_timeout, Duration::from_secs(1));
    }

    #[test]
    fn bad_values_name_the_parameter_and_source() {
        for (k, v) in [
            ("listen-port", "99999"),
            ("api-url", "ftp://x"),
            ("api-url", "mdns"),
            ("debug", "maybe"),
            ("ironic-api-version", "one"),
            ("tls-min-version", "1.1"),
            ("lookup-timeout", "-4"),
            ("listen-host", "not-an-ip"),
            ("api-url", "http://"),
            ("agent-token", "******"),
            ("agent-token", "short-token"),
            ("hardware-ready-timeout", "601"),
        ] {
            let mut p = Params::default();
            p.add_kernel_cmdline(&format!("ipa-{k}={v}"));
            let e = Config::from_params(&p).unwrap_err();
            assert!(
                e.contains(&format!("ipa-{k}")) && e.contains("kernel command line"),
                "{e}"
            );
        }
        let mut p = Params::default();
        assert!(p
            .add_config_file("just words")
            .unwrap_err()
            .contains("line 1"));
    }

    #[test]
    fn tokens_must_look_like_ironics() {
        let t = "a".repeat(IRONIC_TOKEN_LEN);
        assert_eq!(parse_token(&t), Ok(Some(t.clone())));
        assert_eq!(parse_token(""), Ok(None));
        assert!(parse_token("******").unwrap_err().contains("mask"));
        assert!(parse_token(&"*".repeat(50)).is_err());
        assert!(parse_token(&t[1..]).unwrap_err().contains("43 characters"));
    }

    #[test]
    fn defaults_are_ipas() {
        let c = Config::from_params(&Params::default()).unwrap();
        assert_eq!((c.listen_port, c.advertise_port), (9999, 9999));
        assert_eq!(c.lookup_timeout, Duration::from_secs(600));
        assert!(c.enable_auto_tls && c.api_urls.is_empty());
        assert_eq!(parse_version("1.68"), Some((1, 68)));
    }
}
