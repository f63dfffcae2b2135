//! Start-up and life with Ironic, in IPA's order (`ipa-protocol.md` 3.3): find MACs, look up
//! the node (retrying with back-off), adopt the token, find the advertise address, set up
//! auto-TLS, start the API, THEN heartbeat. When the conductor wipes the token (end of an
//! operation, fast-track), heartbeats are refused and the agent looks itself up again and
//! carries on: no restart is ever needed between clean, provide and deploy.

use crate::advertise;
use crate::agent::{Agent, AGENT_VERSION};
use crate::api;
use crate::config::Config;
use crate::ironic::{backoff, conflict_pause, CallError, IronicClient};
use crate::server;
use crate::tls;
use hwmgr::StepCall;
use rand::Rng;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// When to send the next heartbeat (`ipa-protocol.md` 3.4): immediately at first; after a
/// success `heartbeat_timeout × U(0.3, 0.6)`; after a failure 5-10 s; and when a command ends,
/// soon — but never closer than 5 s to the previous one.
#[derive(Debug, Clone)]
pub struct HeartbeatSchedule {
    pub next: Instant,
    pub last_sent: Option<Instant>,
}

pub const FORCED_MIN_GAP: Duration = Duration::from_secs(5);

impl HeartbeatSchedule {
    pub fn new(now: Instant) -> Self {
        HeartbeatSchedule {
            next: now,
            last_sent: None,
        }
    }

    pub fn sent(&mut self, now: Instant) {
        self.last_sent = Some(now);
    }

    /// `factor` is drawn from U(0.3, 0.6).
    pub fn succeeded(&mut self, now: Instant, heartbeat_timeout: Duration, factor: f64) {
        self.next = now + heartbeat_timeout.mul_f64(factor.clamp(0.3, 0.6));
    }

    /// `factor` is drawn from U(1.0, 2.0).
    pub fn failed(&mut self, now: Instant, factor: f64) {
        self.next = now + Duration::from_secs(5).mul_f64(factor.clamp(1.0, 2.0));
    }

    /// A command ended: bring the next heartbeat forward.
    pub fn force(&mut self, now: Instant) {
        let earliest = self.last_sent.map_or(now, |t| t + FORCED_MIN_GAP).max(now);
        self.next = self.next.min(earliest);
    }

    pub fn immediately(&mut self, now: Instant) {
        self.next = now;
    }
}

/// What a lookup told us.
#[derive(Debug, Clone)]
pub struct NodeSession {
    pub node_uuid: String,
    pub heartbeat_timeout: Duration,
    pub tls_min_version: Option<String>,
}

/// MAC addresses of every interface in the inventory, for lookup.
fn mac_addresses(agent: &Agent) -> Vec<String> {
    let inv = match agent
        .dispatcher
        .dispatch("list_hardware_info", &StepCall::default(), None)
    {
        Ok(v) => v,
        Err(e) => {
            tracing::warn!("cannot list network interfaces: {e}");
            return vec![];
        }
    };
    inv["interfaces"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|i| i["mac_address"].as_str())
        .filter(|m| !m.is_empty() && *m != "00:00:00:00:00:00")
        .map(str::to_string)
        .collect()
}

/// Waits up to 60 s (5 s steps) for an interface with a MAC, as IPA does.
async fn wait_for_macs(agent: &Arc<Agent>) -> Result<Vec<String>, String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let a = agent.clone();
        let macs = tokio::task::spawn_blocking(move || mac_addresses(&a))
            .await
            .unwrap_or_default();
        if !macs.is_empty() {
            return Ok(macs);
        }
        if Instant::now() >= deadline {
            return Err(
                "no network interface with a MAC address found after 60 s; cannot look up the node"
                    .into(),
            );
        }
        tracing::info!("no network interface with a MAC address yet; waiting");
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
}

/// Applies a lookup answer: token rules of `ipa-protocol.md` section 2.
fn process_lookup(agent: &Agent, data: &Value) -> NodeSession {
    let config = &data["config"];
    match config.get("agent_token").and_then(Value::as_str) {
        Some("******") if agent.token().is_some() => tracing::info!("Ironic says a token already exists; keeping ours"),
        Some("******") => tracing::error!(
            "Ironic handed out this node's token before (to an earlier boot or another agent) and we hold none: \
             commands will be refused until Ironic wipes the token (next power action or operation)"
        ),
        Some(t) if t.len() >= 32 => {
            agent.set_token(Some(t.to_string()));
            tracing::info!("adopted the agent token from lookup");
        }
        Some("") | None => {}
        Some(_) => tracing::warn!("ignoring an invalid agent token from lookup (shorter than 32 characters)"),
    }
    let ht = config["heartbeat_timeout"]
        .as_f64()
        .unwrap_or(300.0)
        .max(1.0);
    NodeSession {
        node_uuid: data["node"]["uuid"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        heartbeat_timeout: Duration::from_secs_f64(ht),
        tls_min_version: config["tls_min_version"].as_str().map(str::to_string),
    }
}

/// Looks the node up until it works or `budget` runs out (`None` = forever), with randomized
/// exponential back-off capped at `cap`, longer pauses after 409s, one log line per failure.
async fn lookup_loop(
    client: &IronicClient,
    macs: &[String],
    base: Duration,
    cap: Duration,
    budget: Option<Duration>,
) -> Result<Value, String> {
    let started = Instant::now();
    let mut attempt = 0u32;
    let mut conflicts = 0u32;
    loop {
        match client.lookup(macs, None).await {
            Ok(v) => {
                tracing::info!(
                    node = v["node"]["uuid"].as_str().unwrap_or("?"),
                    "lookup succeeded"
                );
                return Ok(v);
            }
            Err(e) => {
                let conflict = matches!(e, CallError::Status { status: 409, .. });
                match &e {
                    CallError::Status {
                        status: 404, url, ..
                    } => tracing::info!(
                        %url,
                        "lookup: no node in a state that allows lookup has MACs {} yet (404); retrying",
                        macs.join(",")
                    ),
                    other => tracing::warn!("lookup failed: {other}; retrying"),
                }
                if conflict {
                    tokio::time::sleep(conflict_pause(conflicts)).await;
                    conflicts += 1;
                }
            }
        }
        let elapsed = started.elapsed();
        if let Some(budget) = budget {
            if elapsed >= budget {
                return Err(format!(
                    "lookup gave up after {} s (ipa-lookup-timeout); no Ironic node with MACs {} is waiting for an agent",
                    budget.as_secs(),
                    macs.join(",")
                ));
            }
        }
        let mut wait = backoff(attempt, base, cap);
        if let Some(budget) = budget {
            wait = wait.min(budget.saturating_sub(elapsed));
        }
        attempt = attempt.saturating_add(1);
        tokio::time::sleep(wait).await;
    }
}

async fn discover_advertise(
    config: &Config,
    agent: &Arc<Agent>,
    client: &IronicClient,
) -> Result<String, String> {
    let attempts = config.ip_lookup_attempts.max(1);
    for round in 1..=attempts {
        let (c, r, urls) = (config.clone(), agent.runner.clone(), client.urls());
        let found = tokio::task::spawn_blocking(move || advertise::discover(&c, r.as_ref(), &urls))
            .await
            .ok()
            .flatten();
        if let Some(h) = found {
            return Ok(h);
        }
        tracing::warn!(
            round,
            attempts,
            "no advertise address yet (no routable source address towards the Ironic API)"
        );
        if round < attempts {
            tokio::time::sleep(config.ip_lookup_sleep).await;
        }
    }
    Err("could not find an address to advertise to Ironic; set ipa-advertise-host or ipa-network-interface".into())
}

pub async fn run_with_ironic(agent: Arc<Agent>, config: Config) -> Result<(), String> {
    if !config.hardware_initialization_delay.is_zero() {
        tracing::info!(
            secs = config.hardware_initialization_delay.as_secs_f64(),
            "waiting before hardware initialization"
        );
        tokio::time::sleep(config.hardware_initialization_delay).await;
    }
    let macs = wait_for_macs(&agent).await?;
    let client = Arc::new(IronicClient::new(&config)?);
    tracing::info!(urls = ?client.urls(), macs = %macs.join(","), "looking up the node in Ironic");
    let data = lookup_loop(
        &client,
        &macs,
        config.lookup_interval,
        Duration::from_secs(60),
        Some(config.lookup_timeout),
    )
    .await?;
    let mut session = process_lookup(&agent, &data);

    let host = discover_advertise(&config, &agent, &client).await?;
    let api_version = client.api_version().await.map_err(|e| e.to_string())?;
    let mut protocol = config.advertise_protocol.clone();
    let mut tls_config = None;
    let mut cert_pem = None;
    if config.enable_auto_tls && api_version >= (1, 68) {
        let ip = host
            .parse()
            .map_err(|_| format!("auto-TLS needs an IP address to put in the certificate, got advertise host {host:?}"))?;
        let hostname = agent
            .host
            .attr("/proc/sys/kernel/hostname")
            .unwrap_or_else(|| "ironic-agent".into());
        let min = session
            .tls_min_version
            .clone()
            .unwrap_or_else(|| config.tls_min_version.clone());
        let dir = agent.host.path(&config.cert_dir);
        let t = tls::generate(
            ip,
            &hostname,
            &config.tls_certificate_curve,
            config.auto_tls_allowed_clock_skew,
            &min,
            &dir,
        )?;
        tracing::info!(%ip, min_tls = %min, cert = %dir.join("agent.crt").display(), "auto-TLS: generated a self-signed certificate");
        protocol = "https".into();
        tls_config = Some(t.server_config);
        cert_pem = Some(t.cert_pem);
    }
    let callback = advertise::callback_url(&protocol, &host, config.advertise_port);

    let listener = server::bind(config.listen_host, config.listen_port)
        .await
        .map_err(|e| format!("cannot listen on port {}: {e}", config.listen_port))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let scheme = if tls_config.is_some() {
        "https"
    } else {
        "http"
    };
    tracing::info!(%addr, %callback, "API listening ({scheme})");
    let app = api::router(api::ApiState {
        agent: agent.clone(),
        scheme,
    });
    let agent_lockdown = agent.lockdown.subscribe();
    tokio::spawn(async move {
        if let Err(e) = server::serve(listener, app, tls_config, agent_lockdown).await {
            tracing::error!("API server failed: {e}");
        }
    });

    // Heartbeats start only once the API listens: the first one makes the conductor call us.
    let mut schedule = HeartbeatSchedule::new(Instant::now());
    let mut lockdown = agent.lockdown.subscribe();
    loop {
        tokio::select! {
            _ = tokio::time::sleep_until(schedule.next) => {}
            _ = agent.command_finished.notified() => {
                schedule.force(Instant::now());
                continue;
            }
            _ = lockdown.wait_for(|l| *l) => {
                tracing::warn!("lockdown: heartbeats stopped");
                std::future::pending::<()>().await;
            }
        }
        let body = heartbeat_body(&callback, agent.token(), cert_pem.as_deref());
        schedule.sent(Instant::now());
        match client.heartbeat(&session.node_uuid, &body).await {
            Ok(()) => {
                tracing::info!(node = %session.node_uuid, "heartbeat accepted");
                schedule.succeeded(
                    Instant::now(),
                    session.heartbeat_timeout,
                    rand::rng().random_range(0.3..0.6),
                );
            }
            Err(e) if needs_relookup(&e) => {
                tracing::warn!("heartbeat refused: {e}; the conductor ended the operation or wiped our token: looking up again");
                let cap = session
                    .heartbeat_timeout
                    .mul_f64(0.3)
                    .clamp(Duration::from_secs(1), Duration::from_secs(60));
                let data = lookup_loop(&client, &macs, config.lookup_interval, cap, None).await?;
                session = NodeSession {
                    tls_min_version: session.tls_min_version.clone(),
                    ..process_lookup(&agent, &data)
                };
                schedule.immediately(Instant::now());
            }
            Err(e) => {
                tracing::warn!("heartbeat failed: {e}; retrying in 5-10 s");
                schedule.failed(Instant::now(), rand::rng().random_range(1.0..2.0));
            }
        }
    }
}

fn heartbeat_body(callback: &str, token: Option<String>, cert_pem: Option<&str>) -> Value {
    let mut body = json!({
        "callback_url": callback,
        "agent_token": token,
        "agent_version": AGENT_VERSION,
    });
    if let Some(pem) = cert_pem {
        body["agent_verify_ca"] = json!(pem);
    }
    body
}

/// A refused heartbeat that means "you are no longer the agent of record": the token was
/// wiped or replaced (400 naming the token), or the node is gone (404).
fn needs_relookup(e: &CallError) -> bool {
    match e {
        CallError::Status {
            status: 400,
            message,
            ..
        } => message.to_ascii_lowercase().contains("token"),
        CallError::Status { status: 404, .. } => true,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heartbeat_schedule_follows_ipa() {
        let t0 = Instant::now();
        let mut s = HeartbeatSchedule::new(t0);
        assert_eq!(s.next, t0, "first heartbeat immediately");
        s.sent(t0);
        s.succeeded(t0, Duration::from_secs(300), 0.3);
        assert_eq!(s.next, t0 + Duration::from_secs(90));
        s.succeeded(t0, Duration::from_secs(300), 0.6);
        assert_eq!(s.next, t0 + Duration::from_secs(180));
        // A command ends 1 s after the last heartbeat: the next one comes 5 s after it.
        s.force(t0 + Duration::from_secs(1));
        assert_eq!(s.next, t0 + FORCED_MIN_GAP);
        // Ending 30 s after: right away.
        s.succeeded(t0, Duration::from_secs(300), 0.5);
        s.force(t0 + Duration::from_secs(30));
        assert_eq!(s.next, t0 + Duration::from_secs(30));
        // Forcing never postpones an earlier heartbeat.
        s.failed(t0, 1.0);
        assert_eq!(s.next, t0 + Duration::from_secs(5));
        s.force(t0 + Duration::from_secs(4));
        assert_eq!(s.next, t0 + Duration::from_secs(5));
        s.failed(t0, 2.0);
        assert_eq!(s.next, t0 + Duration::from_secs(10));
    }

    #[test]
    fn token_refusals_trigger_relookup() {
        let s = |status, m: &str| CallError::Status {
            url: "u".into(),
            status,
            message: m.into(),
        };
        assert!(needs_relookup(&s(
            400,
            "Invalid or missing agent token received."
        )));
        assert!(needs_relookup(&s(
            400,
            "Agent token is required for heartbeat processing."
        )));
        assert!(needs_relookup(&s(404, "Node not found")));
        assert!(!needs_relookup(&s(400, "TLS is required by configuration")));
        assert!(!needs_relookup(&s(409, "locked")));
        assert!(!needs_relookup(&CallError::Unreachable("refused".into())));
    }

    #[test]
    fn heartbeat_body_matches_ipa() {
        let b = heartbeat_body("https://10.0.2.15:9999", Some("t".repeat(43)), Some("PEM"));
        assert_eq!(b["callback_url"], "https://10.0.2.15:9999");
        assert_eq!(b["agent_verify_ca"], "PEM");
        assert_eq!(b["agent_version"], AGENT_VERSION);
        let b = heartbeat_body("http://x:1", None, None);
        assert!(b.get("agent_verify_ca").is_none());
        assert!(b["agent_token"].is_null());
    }

    #[test]
    fn lookup_token_rules() {
        let agent = Agent::new(
            hwmgr::Host::new("/nonexistent"),
            Arc::new(hwmgr::RecordingRunner::new()),
            Arc::new(crate::dispatch::Dispatcher::new(vec![])),
            None,
            None,
        );
        let data = |tok: Value| json!({"node": {"uuid": "u"}, "config": {"heartbeat_timeout": 30, "agent_token": tok}});
        let s = process_lookup(&agent, &data(json!("short")));
        assert_eq!(agent.token(), None);
        assert_eq!(s.heartbeat_timeout, Duration::from_secs(30));
        process_lookup(&agent, &data(json!("******")));
        assert_eq!(agent.token(), None);
        let t = "x".repeat(43);
        process_lookup(&agent, &data(json!(t)));
        assert_eq!(agent.token().as_deref(), Some(t.as_str()));
        process_lookup(&agent, &data(json!("******")));
        assert_eq!(
            agent.token().as_deref(),
            Some(t.as_str()),
            "****** keeps the token held"
        );
        process_lookup(&agent, &data(Value::Null));
        assert_eq!(agent.token().as_deref(), Some(t.as_str()));
    }
}
