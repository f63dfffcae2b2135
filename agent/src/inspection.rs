//! In-band inspection at start-up (`ironic_python_agent/inspector.py: inspect`,
//! `call_inspector`, `collect_default`, `collect_logs`; `agent.py: IronicPythonAgent.run`):
//! when `ipa-inspection-callback-url` is set (or `ipa-inspection-collectors` and
//! `ipa-api-url`, then `<api-url>/v1/continue_inspection`), the agent collects the machine's
//! data through the hardware managers (`collect_inspection_data`:
//! `hwmgr-generic/src/inspection.rs`), adds `configuration`, `logs` and `error`, and POSTs
//! the document before lookup. The reply's node uuid goes into lookup; a token in the reply
//! (API 1.84+ answers with a lookup document) is kept.
//!
//! The POST follows IPA's retry rule: at most 5 attempts, retried on connection errors,
//! 5xx and 409, waiting 1.5 × 2^(n-1) s clamped to 5-30 s; any other 4xx ends it at once.
//! Whatever happens, inspection never stops the agent: each attempt is one log line with
//! the conductor's answer, and the agent carries on with lookup (or serves the API).
//!
//! Collectors: `default` (the inventory and what goes with it), `logs` (the log bundle of
//! `log.collect_system_logs`), `lldp` (`lldp_raw`; also turned on by `ipa-collect-lldp`)
//! and `pci-devices` (`pci_devices`). Differences from IPA, on purpose: an unknown
//! collector (`extra-hardware`, `numa-topology`, `dmi-decode`, or a typo) is reported in `error` and the
//! others still run, where IPA fails to load them all and posts only the error (the
//! conductor then has nothing to show); the callback URL `mdns` is not supported (no mDNS
//! in this agent) and skips inspection with a log line.

use crate::agent::Agent;
use crate::config::Config;
use crate::ironic::{describe, error_text, http_client};
use hwmgr::StepCall;
use hwmgr_generic::inspection::InspectionRequest;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

/// Collectors this agent has.
const KNOWN_COLLECTORS: &[&str] = &["default", "logs", "lldp", "pci-devices"];

/// When to retry the POST and how long to wait (`call_inspector`'s tenacity settings).
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    pub attempts: u32,
    pub min: Duration,
    pub max: Duration,
    pub multiplier: f64,
}

impl RetryPolicy {
    /// IPA's: 5 attempts, `wait_exponential(multiplier=1.5, min=5, max=30)`.
    pub const IPA: RetryPolicy = RetryPolicy {
        attempts: 5,
        min: Duration::from_secs(5),
        max: Duration::from_secs(30),
        multiplier: 1.5,
    };

    /// The wait after failed attempt `n` (1-based): 5, 5, 6, 12 s with IPA's values.
    pub fn wait(&self, n: u32) -> Duration {
        let secs = self.multiplier * 2f64.powi(n.saturating_sub(1).min(30) as i32);
        Duration::from_secs_f64(secs).clamp(self.min, self.max)
    }
}

/// Where the data goes, if inspection is on.
pub fn callback_url(config: &Config) -> Option<String> {
    match config.inspection.callback_url.as_deref() {
        Some("mdns") => {
            tracing::warn!(
                "ipa-inspection-callback-url=mdns: this agent has no mDNS; inspection skipped"
            );
            None
        }
        Some(url) => Some(url.to_string()),
        None if config.inspection.collectors.is_some() => config
            .api_urls
            .first()
            .map(|api| format!("{}/v1/continue_inspection", api.trim_end_matches('/'))),
        None => None,
    }
}

/// IPA's `AccumulatedFailures.get_error`: null, or every failure on a line of its own.
fn error_field(failures: &[String]) -> Value {
    if failures.is_empty() {
        return Value::Null;
    }
    let items: Vec<String> = failures.iter().map(|f| format!("* {f}")).collect();
    Value::String(format!(
        "The following errors were encountered:\n{}",
        items.join("\n")
    ))
}

/// The whole inspection document: what the managers collect, `configuration`, `logs` and
/// `error`.
pub async fn gather(agent: &Arc<Agent>, config: &Config) -> Value {
    let names = config.inspection.collector_names();
    let mut failures: Vec<String> = names
        .iter()
        .filter(|n| !KNOWN_COLLECTORS.contains(&n.as_str()))
        .map(|n| {
            format!(
                "collector {n} is not available in this agent (it has {})",
                KNOWN_COLLECTORS.join(", ")
            )
        })
        .collect();
    let wants = |n: &str| names.iter().any(|c| c == n);
    let mut body = json!({});
    if wants("default") || wants("lldp") || wants("pci-devices") {
        let req = InspectionRequest {
            dhcp_wait: config.inspection.dhcp_wait_timeout,
            dhcp_all_interfaces: config.inspection.dhcp_all_interfaces,
            lldp: (config.inspection.collect_lldp || wants("lldp"))
                .then_some(config.inspection.lldp_timeout),
            pci_devices: wants("pci-devices"),
        };
        let call = StepCall {
            args: req.to_args(),
            ..StepCall::default()
        };
        let d = agent.dispatcher.clone();
        let collected =
            tokio::task::spawn_blocking(move || d.dispatch("collect_inspection_data", &call, None))
                .await
                .map_err(|e| format!("the collection task failed: {e}"))
                .and_then(|r| r.map_err(|e| e.to_string()));
        match collected {
            Ok(Value::Object(mut data)) => {
                if let Some(Value::Array(errors)) = data.remove("errors") {
                    failures.extend(errors.iter().filter_map(Value::as_str).map(str::to_string));
                }
                body = Value::Object(data);
            }
            Ok(other) => failures.push(format!("collector default returned {other}")),
            Err(e) => failures.push(format!("collector default failed: {e}")),
        }
    }
    body["configuration"] = json!({
        "collectors": names,
        "managers": agent.dispatcher.loaded().iter()
            .map(|m| json!({"name": m.manager.name(), "version": m.manager.version()}))
            .collect::<Vec<_>>(),
    });
    if wants("logs") {
        let a = agent.clone();
        match tokio::task::spawn_blocking(move || a.logs.collect(&a.dispatcher)).await {
            Ok(Ok(logs)) => body["logs"] = Value::String(logs),
            Ok(Err(e)) => tracing::warn!("inspection: no logs: {e}"),
            Err(e) => tracing::warn!("inspection: no logs: {e}"),
        }
    }
    for f in &failures {
        tracing::error!("inspection: {f}");
    }
    body["error"] = error_field(&failures);
    body
}

/// POSTs `body` to `url` with the retry policy; `Ok` with the reply (JSON, or null) on 2xx.
/// Every attempt is one log line with the conductor's answer.
pub async fn post(
    http: &reqwest::Client,
    url: &str,
    body: &Value,
    request_id: Option<&str>,
    policy: &RetryPolicy,
) -> Result<Value, String> {
    let text = body.to_string();
    let mut last = String::new();
    for attempt in 1..=policy.attempts.max(1) {
        let mut req = http
            .post(url)
            .header("Content-Type", "application/json")
            .header("Accept", "application/json")
            .body(text.clone());
        if let Some(id) = request_id {
            req = req.header("X-OpenStack-Request-ID", id);
        }
        let (retry, what) = match req.send().await {
            Err(e) => (true, format!("unreachable: {}", describe(&e))),
            Ok(resp) => {
                let status = resp.status().as_u16();
                let reply = resp.text().await.unwrap_or_default();
                if (200..300).contains(&status) {
                    tracing::info!(attempt, "inspection: {url} accepted the data ({status})");
                    return Ok(serde_json::from_str(&reply).unwrap_or(Value::Null));
                }
                let what = format!("answered {status}: {}", error_text(&reply));
                (status >= 500 || status == 409, what)
            }
        };
        last = what.clone();
        if !retry {
            tracing::error!(
                attempt,
                "inspection: {url} {what}; not retrying (carrying on without inspection)"
            );
            return Err(format!("{url} {what}"));
        }
        if attempt < policy.attempts {
            let wait = policy.wait(attempt);
            tracing::warn!(
                attempt,
                of = policy.attempts,
                "inspection: {url} {what}; retrying in {wait:?}"
            );
            tokio::time::sleep(wait).await;
        } else {
            tracing::error!(
                attempt,
                of = policy.attempts,
                "inspection: {url} {what}; giving up (carrying on without inspection)"
            );
        }
    }
    Err(format!("{url} {last} (after {} attempts)", policy.attempts))
}

/// What the reply means for the rest of the start-up: the node's uuid (`uuid` at API 1.1,
/// `node.uuid` at 1.84+), and the token when the reply carries one.
pub fn apply_reply(agent: &Agent, reply: &Value) -> Option<String> {
    if reply["config"].is_object() {
        crate::lifecycle::adopt_token(agent, &reply["config"]);
    }
    reply["uuid"]
        .as_str()
        .or_else(|| reply["node"]["uuid"].as_str())
        .map(str::to_string)
}

/// Runs inspection if the configuration asks for it; returns the node uuid the conductor
/// named. Never fails: every problem is logged and the agent carries on.
pub async fn run(agent: &Arc<Agent>, host: &hwmgr::Host, config: &Config) -> Option<String> {
    let url = callback_url(config)?;
    tracing::info!(%url, collectors = ?config.inspection.collector_names(), "inspection is enabled");
    if let Err(e) = crate::lifecycle::wait_for_macs(host).await {
        tracing::warn!("inspection: {e}; inspecting anyway");
    }
    let body = gather(agent, config).await;
    let http = match http_client(config) {
        Ok(h) => h,
        Err(e) => {
            tracing::error!("inspection: {e}; carrying on without inspection");
            return None;
        }
    };
    let reply = post(
        &http,
        &url,
        &body,
        config.global_request_id.as_deref(),
        &RetryPolicy::IPA,
    )
    .await
    .ok()?;
    let uuid = apply_reply(agent, &reply);
    tracing::info!(node = ?uuid, "inspection finished");
    uuid
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::{HeaderMap, StatusCode};
    use std::sync::Mutex;

    fn quick(attempts: u32) -> RetryPolicy {
        RetryPolicy {
            attempts,
            min: Duration::from_millis(10),
            max: Duration::from_millis(20),
            multiplier: 0.01,
        }
    }

    /// What the fake conductor saw: the headers and bodies of each request.
    type Seen = Arc<Mutex<Vec<(HeaderMap, Value)>>>;

    /// A conductor on loopback that answers each POST with the next of `replies` (the
    /// last one repeats).
    async fn conductor(replies: Vec<(u16, &'static str)>) -> (String, Seen) {
        let seen: Seen = Arc::default();
        let s = seen.clone();
        let app = axum::Router::new().route(
            "/v1/continue_inspection",
            axum::routing::post(move |headers: HeaderMap, body: String| {
                let s = s.clone();
                let replies = replies.clone();
                async move {
                    let mut seen = s.lock().unwrap();
                    let (status, reply) = replies[seen.len().min(replies.len() - 1)];
                    seen.push((headers, serde_json::from_str(&body).unwrap_or(Value::Null)));
                    (StatusCode::from_u16(status).unwrap(), reply)
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        (format!("http://{addr}/v1/continue_inspection"), seen)
    }

    #[test]
    fn ipa_waits() {
        let p = RetryPolicy::IPA;
        let waits: Vec<u64> = (1..=4).map(|n| p.wait(n).as_secs()).collect();
        assert_eq!(waits, [5, 5, 6, 12]);
        assert_eq!(p.wait(10), Duration::from_secs(30));
    }

    #[tokio::test]
    async fn retries_5xx_and_409_then_takes_the_uuid() {
        let (url, seen) = conductor(vec![
            (503, "{\"error_message\": \"busy\"}"),
            (409, "locked"),
            (202, "{\"uuid\": \"1be26c0b-03f2-4d2e-ae87-c02d7f33c123\"}"),
        ])
        .await;
        let body = json!({"inventory": {"interfaces": []}, "error": null});
        let reply = post(
            &reqwest::Client::new(),
            &url,
            &body,
            Some("req-1"),
            &quick(5),
        )
        .await
        .unwrap();
        assert_eq!(reply["uuid"], "1be26c0b-03f2-4d2e-ae87-c02d7f33c123");
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 3);
        let (headers, sent) = &seen[2];
        assert_eq!(sent, &body);
        assert_eq!(headers["content-type"], "application/json");
        assert_eq!(headers["x-openstack-request-id"], "req-1");
        assert!(
            headers.get("x-openstack-ironic-api-version").is_none(),
            "no version header: the conductor then answers as 1.1"
        );
    }

    #[tokio::test]
    async fn a_4xx_is_not_retried_and_5xx_gives_up_after_the_attempts() {
        let (url, seen) = conductor(vec![(
            404,
            "{\"error_message\": \"{\\\"faultstring\\\": \\\"Node not found\\\"}\"}",
        )])
        .await;
        let err = post(&reqwest::Client::new(), &url, &json!({}), None, &quick(5))
            .await
            .unwrap_err();
        assert!(err.contains("404: Node not found"), "{err}");
        assert_eq!(seen.lock().unwrap().len(), 1);

        let (url, seen) = conductor(vec![(500, "boom")]).await;
        let err = post(&reqwest::Client::new(), &url, &json!({}), None, &quick(5))
            .await
            .unwrap_err();
        assert!(
            err.contains("500: boom") && err.contains("after 5 attempts"),
            "{err}"
        );
        assert_eq!(seen.lock().unwrap().len(), 5);
    }

    #[tokio::test]
    async fn unreachable_is_retried_then_given_up() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let url = format!("http://{addr}/v1/continue_inspection");
        let err = post(&reqwest::Client::new(), &url, &json!({}), None, &quick(3))
            .await
            .unwrap_err();
        assert!(
            err.contains("unreachable") && err.contains("after 3 attempts"),
            "{err}"
        );
    }

    fn config(params: &[(&str, &str)]) -> Config {
        let mut p = crate::config::Params::default();
        for (k, v) in params {
            p.set(k, v, crate::config::Source::Flag);
        }
        Config::from_params(&p).unwrap()
    }

    #[test]
    fn callback_url_as_ipa_derives_it() {
        let c = config(&[(
            "inspection-callback-url",
            "http://10.0.2.2:6385/v1/continue_inspection",
        )]);
        assert_eq!(
            callback_url(&c).as_deref(),
            Some("http://10.0.2.2:6385/v1/continue_inspection")
        );
        assert_eq!(callback_url(&config(&[("api-url", "http://i:6385")])), None);
        let c = config(&[
            ("api-url", "http://i:6385/"),
            ("inspection-collectors", "default"),
        ]);
        assert_eq!(
            callback_url(&c).as_deref(),
            Some("http://i:6385/v1/continue_inspection")
        );
        assert_eq!(
            callback_url(&config(&[("inspection-callback-url", "mdns")])),
            None
        );
    }

    fn agent_on(machine: &testkit::fake_machine::FakeMachine) -> Arc<Agent> {
        let host = machine.host();
        let runner: Arc<dyn hwmgr::Runner> = Arc::new(testkit::RecordingRunner::new());
        let d = crate::dispatch::Dispatcher::new(crate::managers::candidates(
            &host,
            runner.clone(),
            Default::default(),
        ));
        Agent::new(
            Arc::new(d),
            crate::power::PowerSwitch::new(host.clone(), runner),
            crate::syslogs::LogSources::new(host.root(), None),
            None,
            Default::default(),
        )
    }

    #[tokio::test]
    async fn document_has_ipas_keys_and_the_error_says_what_went_wrong() {
        let d = tempfile::tempdir().unwrap();
        let m = testkit::fake_machine::FakeMachine::new(d.path())
            .virtio("vda", 8 << 30)
            .cmdline("BOOTIF=01-52-54-00-12-34-56");
        let agent = agent_on(&m);
        let c = config(&[
            ("inspection-callback-url", "http://x/v1/continue_inspection"),
            (
                "inspection-collectors",
                "default,logs,pci-devices,extra-hardware",
            ),
            ("inspection-dhcp-wait-timeout", "0"),
        ]);
        let body = gather(&agent, &c).await;
        assert_eq!(
            hwmgr_generic::inventory::keys(&body),
            [
                "inventory",
                "root_disk",
                "boot_interface",
                "pci_devices",
                "configuration",
                "logs",
                "error"
            ]
        );
        assert_eq!(body["root_disk"]["name"], "/dev/vda");
        assert_eq!(body["boot_interface"], "01-52-54-00-12-34-56");
        assert_eq!(
            body["configuration"]["collectors"],
            json!(["default", "logs", "pci-devices", "extra-hardware"])
        );
        assert_eq!(
            body["configuration"]["managers"][0]["name"],
            "generic_hardware_manager"
        );
        assert!(body["logs"].as_str().is_some_and(|l| l.len() > 100));
        let error = body["error"].as_str().unwrap();
        assert!(
            error.starts_with("The following errors were encountered:\n* "),
            "{error}"
        );
        assert!(
            error.contains("collector extra-hardware is not available"),
            "{error}"
        );
        assert!(
            error.contains("no network interface with a MAC address"),
            "{error}"
        );

        let m = m.nic("eth0", "52:54:00:12:34:56");
        let c = config(&[
            ("inspection-callback-url", "http://x"),
            ("inspection-dhcp-wait-timeout", "1"),
        ]);
        let body = gather(&agent_on(&m), &c).await;
        assert_eq!(body["error"], Value::Null);
        assert_eq!(
            body["configuration"]["collectors"],
            json!(["default", "logs"])
        );
        assert!(body.get("lldp_raw").is_none());
    }

    #[test]
    fn reply_uuid_and_token() {
        let d = tempfile::tempdir().unwrap();
        let agent = agent_on(&testkit::fake_machine::FakeMachine::new(d.path()));
        assert_eq!(
            apply_reply(&agent, &json!({"uuid": "u1"})).as_deref(),
            Some("u1")
        );
        assert_eq!(agent.token(), None);
        let token = "t".repeat(43);
        let at_1_84 = json!({"node": {"uuid": "u2"}, "config": {"agent_token": token}});
        assert_eq!(apply_reply(&agent, &at_1_84).as_deref(), Some("u2"));
        assert_eq!(agent.token().as_deref(), Some(token.as_str()));
        assert_eq!(apply_reply(&agent, &Value::Null), None);
    }
}
