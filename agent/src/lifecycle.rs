//! Start-up and life with Ironic, in IPA's order (`ironic_python_agent/agent.py:
//! IronicPythonAgent.run`): find MACs, look up the node (retrying with back-off), adopt the
//! token, find the advertise address, set up auto-TLS, start the API, THEN heartbeat. When the
//! conductor wipes the token (end of an operation, fast-track), heartbeats are refused and the
//! agent looks itself up again and carries on: no restart is ever needed between clean,
//! provide and deploy.
//!
//! Every repeated failure towards Ironic waits before the next try: lookups back off
//! exponentially (capped), heartbeats are retried after 5-10 s as IPA's heartbeater does
//! (409 "locked" a few times sooner, capped: [`crate::heartbeat`]), and
//! a heartbeat refused for the token is followed by one lookup and then the same 5-10 s
//! pause unless that lookup gave us a new token. A lookup that answers `******` while we hold
//! no token (the agent restarted while Ironic keeps the token) therefore costs one lookup and
//! one heartbeat every 5-10 s, not a tight loop.

use crate::advertise;
use crate::agent::{Agent, AGENT_VERSION};
use crate::api;
use crate::config::Config;
use crate::heartbeat::HeartbeatSchedule;
use crate::ironic::{backoff, conflict_pause, CallError, IronicClient};
use crate::server;
use crate::tls;
use hwmgr::{Host, Runner};
use rand::Rng;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// What a lookup told us.
#[derive(Debug, Clone)]
pub struct NodeSession {
    pub node_uuid: String,
    pub heartbeat_timeout: Duration,
    pub tls_min_version: Option<String>,
}

/// Waits up to 60 s (5 s steps) for an interface with a MAC, as IPA does. The MACs are read
/// from `/sys/class/net` with the inventory's own rule (physical NICs, not `lo`, no all-zero
/// address), without building the whole inventory.
pub async fn wait_for_macs(host: &Host) -> Result<Vec<String>, String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let h = host.clone();
        let macs = tokio::task::spawn_blocking(move || hwmgr_generic::inventory::mac_addresses(&h))
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

/// Applies a lookup answer: the token rules of `ironic_python_agent/agent.py:
/// IronicPythonAgent.process_lookup_data`.
fn process_lookup(agent: &Agent, data: &Value) -> NodeSession {
    let config = &data["config"];
    agent.deploy_settings.apply_lookup_config(config);
    adopt_token(agent, config);
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

/// Takes the token from a lookup's (or an inspection reply's) `config.agent_token`, with
/// IPA's rules: `******` keeps the token held, a real one replaces it.
pub fn adopt_token(agent: &Agent, config: &Value) {
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
}

/// Looks the node up until it works or `budget` runs out (`None` = forever), with randomized
/// exponential back-off capped at `cap`, longer pauses after 409s, one log line per failure.
/// `node_uuid` is what inspection's reply named (IPA passes it on as `node_uuid`).
async fn lookup_loop(
    client: &IronicClient,
    macs: &[String],
    node_uuid: Option<&str>,
    base: Duration,
    cap: Duration,
    budget: Option<Duration>,
) -> Result<Value, String> {
    let started = Instant::now();
    let mut attempt = 0u32;
    let mut conflicts = 0u32;
    loop {
        match client.lookup(macs, node_uuid).await {
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
    runner: &Arc<dyn Runner>,
    client: &IronicClient,
) -> Result<String, String> {
    let attempts = config.ip_lookup_attempts.max(1);
    for round in 1..=attempts {
        let (c, r, urls) = (config.clone(), runner.clone(), client.urls());
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

/// What the agent advertises and serves with: the callback URL, and with auto-TLS the server
/// configuration and the certificate sent in heartbeats.
struct Advertised {
    callback: String,
    tls: Option<Arc<rustls::ServerConfig>>,
    cert_pem: Option<String>,
}

/// Finds the address to advertise and, when Ironic can take it (API 1.68+), generates the
/// auto-TLS certificate for it.
async fn advertise(
    config: &Config,
    host: &Host,
    runner: &Arc<dyn Runner>,
    client: &IronicClient,
    session: &NodeSession,
) -> Result<Advertised, String> {
    let address = discover_advertise(config, runner, client).await?;
    let api_version = client.api_version().await.map_err(|e| e.to_string())?;
    if !(config.enable_auto_tls && api_version >= (1, 68)) {
        return Ok(Advertised {
            callback: advertise::callback_url(
                &config.advertise_protocol,
                &address,
                config.advertise_port,
            ),
            tls: None,
            cert_pem: None,
        });
    }
    let ip = address.parse().map_err(|_| {
        format!("auto-TLS needs an IP address to put in the certificate, got advertise host {address:?}")
    })?;
    let hostname = host
        .attr("/proc/sys/kernel/hostname")
        .unwrap_or_else(|| "ironic-agent".into());
    let min = session
        .tls_min_version
        .clone()
        .unwrap_or_else(|| config.tls_min_version.clone());
    let dir = host.path(&config.cert_dir);
    let t = tls::generate(
        ip,
        &hostname,
        &config.tls_certificate_curve,
        config.auto_tls_allowed_clock_skew,
        &min,
        &dir,
    )?;
    tracing::info!(%ip, min_tls = %min, cert = %dir.join("agent.crt").display(), "auto-TLS: generated a self-signed certificate");
    Ok(Advertised {
        callback: advertise::callback_url("https", &address, config.advertise_port),
        tls: Some(t.server_config),
        cert_pem: Some(t.cert_pem),
    })
}

/// What a lookup found: the MACs it used, the client, Ironic's answer.
pub struct Looked {
    macs: Vec<String>,
    client: Arc<IronicClient>,
    data: Value,
}

/// A lookup that started before the agent was built (it needs only the MACs).
pub type EarlyLookup = tokio::task::JoinHandle<Result<Looked, String>>;

/// Looks the node up (with the node uuid inspection's reply named, if any).
pub async fn look_up(
    host: Host,
    config: Config,
    node_uuid: Option<String>,
) -> Result<Looked, String> {
    let macs = wait_for_macs(&host).await?;
    let client = Arc::new(IronicClient::new(&config)?);
    tracing::info!(urls = ?client.urls(), macs = %macs.join(","), node = ?node_uuid, "looking up the node in Ironic");
    let data = lookup_loop(
        &client,
        &macs,
        node_uuid.as_deref(),
        config.lookup_interval,
        Duration::from_secs(60),
        Some(config.lookup_timeout),
    )
    .await?;
    Ok(Looked { macs, client, data })
}

/// Runs the agent with Ironic: lookup (or the one `early` started), then the API, then
/// heartbeats forever.
pub async fn run_with_ironic(
    agent: Arc<Agent>,
    host: Host,
    runner: Arc<dyn Runner>,
    config: Config,
    nofile: Option<u64>,
    node_uuid: Option<String>,
    early: Option<EarlyLookup>,
) -> Result<(), String> {
    let Looked { macs, client, data } = match early {
        Some(task) => task
            .await
            .map_err(|e| format!("the lookup task failed: {e}"))??,
        None => look_up(host.clone(), config.clone(), node_uuid).await?,
    };
    let session = process_lookup(&agent, &data);
    let adv = advertise(&config, &host, &runner, &client, &session).await?;

    let listener = server::bind(config.listen_host, config.listen_port)
        .await
        .map_err(|e| format!("cannot listen on port {}: {e}", config.listen_port))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let scheme = if adv.tls.is_some() { "https" } else { "http" };
    tracing::info!(%addr, callback = %adv.callback, "API listening ({scheme})");
    let app = api::router(api::ApiState::new(agent.clone(), scheme));
    let lockdown = agent.lockdown.subscribe();
    let tls_config = adv.tls.clone();
    tokio::spawn(async move {
        if let Err(e) = server::serve(listener, app, tls_config, nofile, lockdown).await {
            tracing::error!("API server failed: {e}");
        }
    });
    // Heartbeats start only once the API listens: the first one makes the conductor call us.
    heartbeat_forever(&agent, &client, &config, &macs, session, &adv).await
}

/// Heartbeats until lockdown; a refusal for the token leads to a new lookup.
async fn heartbeat_forever(
    agent: &Arc<Agent>,
    client: &IronicClient,
    config: &Config,
    macs: &[String],
    mut session: NodeSession,
    adv: &Advertised,
) -> Result<(), String> {
    let mut schedule = HeartbeatSchedule::new(Instant::now());
    let mut lockdown = agent.lockdown.subscribe();
    let mut refusals = 0u32;
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
        if !schedule.due(Instant::now(), agent.conductor_calls()) {
            continue;
        }
        let body = heartbeat_body(&adv.callback, agent.token(), adv.cert_pem.as_deref());
        schedule.sent(agent.conductor_calls());
        match client.heartbeat(&session.node_uuid, &body).await {
            Ok(()) => {
                tracing::info!(node = %session.node_uuid, "heartbeat accepted");
                refusals = 0;
                schedule.succeeded(
                    Instant::now(),
                    session.heartbeat_timeout,
                    rand::rng().random_range(0.3..0.6),
                );
            }
            Err(e @ CallError::Status { status: 409, .. }) => {
                let now = Instant::now();
                if schedule.conflicted(
                    now,
                    rand::rng().random_range(1.0..2.0),
                    rand::rng().random_range(0.5..1.0),
                ) {
                    tracing::info!(
                        "heartbeat refused: {e} (the node is locked); retrying in {:.1} s",
                        (schedule.next - now).as_secs_f64()
                    );
                } else {
                    tracing::warn!(
                        "heartbeat refused: {e} (the node stays locked); retrying in 5-10 s"
                    );
                }
            }
            Err(e) if needs_relookup(&e) => {
                refusals = refusals.saturating_add(1);
                tracing::warn!(refusals, "heartbeat refused: {e}; the conductor ended the operation or wiped our token: looking up again");
                let cap = session
                    .heartbeat_timeout
                    .mul_f64(0.3)
                    .clamp(Duration::from_secs(1), Duration::from_secs(60));
                let held = agent.token();
                let data =
                    lookup_loop(client, macs, None, config.lookup_interval, cap, None).await?;
                session = NodeSession {
                    tls_min_version: session.tls_min_version.clone(),
                    ..process_lookup(agent, &data)
                };
                let now = Instant::now();
                if after_relookup_retry_at_once(refusals, held.as_deref(), agent.token().as_deref())
                {
                    schedule.immediately(now);
                } else {
                    schedule.failed(now, rand::rng().random_range(1.0..2.0));
                }
            }
            Err(e) => {
                tracing::warn!("heartbeat failed: {e}; retrying in 5-10 s");
                schedule.failed(Instant::now(), rand::rng().random_range(1.0..2.0));
            }
        }
    }
}

/// After a heartbeat refused for the token and a new lookup: heartbeat again at once only
/// when the lookup gave a token we did not hold and this is the first refusal in a row;
/// otherwise wait as after any failed heartbeat. Never a loop.
fn after_relookup_retry_at_once(refusals: u32, held: Option<&str>, now: Option<&str>) -> bool {
    refusals <= 1 && now.is_some() && now != held
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
    fn a_refused_heartbeat_is_retried_at_once_only_with_a_new_token() {
        let t = "t".repeat(43);
        assert!(after_relookup_retry_at_once(1, None, Some(&t)));
        assert!(
            !after_relookup_retry_at_once(1, None, None),
            "****** with no token held"
        );
        assert!(
            !after_relookup_retry_at_once(1, Some(&t), Some(&t)),
            "same token"
        );
        assert!(
            !after_relookup_retry_at_once(2, None, Some(&t)),
            "refused again"
        );
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
        let host = hwmgr::Host::new("/nonexistent");
        let agent = Agent::new(
            Arc::new(crate::dispatch::Dispatcher::new(vec![])),
            crate::power::PowerSwitch::new(host.clone(), Arc::new(testkit::RecordingRunner::new())),
            crate::syslogs::LogSources::new(host.root(), None),
            None,
            Default::default(),
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
