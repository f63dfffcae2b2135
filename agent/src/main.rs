//! `ironic-agent`: a bare-metal agent that an unmodified OpenStack Ironic conductor drives like
//! the Ironic Python Agent. See README.md for the design.

mod advertise;
mod agent;
mod api;
mod cli;
mod commands;
mod config;
mod dispatch;
mod errors;
mod hardware_ready;
mod heartbeat;
mod inspection;
mod ironic;
mod lifecycle;
mod logfile;
mod managers;
mod power;
mod results;
mod server;
mod shutdown;
mod syslogs;
mod tls;

use crate::agent::{Agent, AGENT_VERSION};
use crate::cli::{Invocation, Mode};
use crate::config::{Config, Params, Source};
use crate::dispatch::Dispatcher;
use crate::power::PowerSwitch;
use crate::syslogs::LogSources;
use hwmgr::{Host, Runner, StepCall, StepKind, SystemRunner};
use std::process::ExitCode;
use std::sync::Arc;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let inv = match cli::parse(&args) {
        Ok(inv) => inv,
        Err(e) => {
            eprintln!("ironic-agent: {e}");
            return ExitCode::from(2);
        }
    };
    match &inv.mode {
        Mode::Help => {
            print!("{}", cli::USAGE);
            println!(
                "\nCommands served on POST /v1/commands/:\n  {}",
                commands::command_names().join("\n  ")
            );
            ExitCode::SUCCESS
        }
        Mode::Version => {
            println!("ironic-agent {AGENT_VERSION}");
            ExitCode::SUCCESS
        }
        Mode::Steps => {
            init_logging(false, None, true);
            print_steps(&inv);
            ExitCode::SUCCESS
        }
        Mode::Inventory => {
            init_logging(false, None, true);
            print_inventory(&inv)
        }
        Mode::RaidPlan { config, node } => {
            init_logging(false, None, true);
            raid_plan(&inv, config, node.as_deref())
        }
        Mode::Run => {
            let config = match load_config(&inv) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("ironic-agent: configuration error: {e}");
                    return ExitCode::from(2);
                }
            };
            init_logging(config.debug, config.log_file.as_deref(), false);
            log_panics();
            let rt = match tokio::runtime::Runtime::new() {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("ironic-agent: cannot start the async runtime: {e}");
                    return ExitCode::FAILURE;
                }
            };
            match rt.block_on(run(inv, config)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!("{e}");
                    eprintln!("ironic-agent: {e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

/// Kernel command line, then config file, then flags (see `config.rs`).
fn load_config(inv: &Invocation) -> Result<Config, String> {
    let host = Host::new(&inv.host_root);
    let mut params = Params::default();
    let cmdline_path = inv
        .cmdline_file
        .clone()
        .unwrap_or_else(|| host.path("/proc/cmdline"));
    match std::fs::read_to_string(&cmdline_path) {
        Ok(text) => params.add_kernel_cmdline(&text),
        Err(e) if inv.cmdline_file.is_some() => {
            return Err(format!(
                "cannot read --cmdline {}: {e}",
                cmdline_path.display()
            ))
        }
        Err(_) => {}
    }
    let config_path = inv
        .config_file
        .clone()
        .unwrap_or_else(|| host.path("/etc/ironic-agent/agent.conf"));
    match std::fs::read_to_string(&config_path) {
        Ok(text) => params
            .add_config_file(&text)
            .map_err(|e| format!("{}: {e}", config_path.display()))?,
        Err(e) if inv.config_file.is_some() => {
            return Err(format!(
                "cannot read --config-file {}: {e}",
                config_path.display()
            ))
        }
        Err(_) => {}
    }
    for (k, v) in &inv.flags {
        params.set(k, v, Source::Flag);
    }
    Config::from_params(&params)
}

fn init_logging(debug: bool, log_file: Option<&std::path::Path>, quiet: bool) {
    use tracing_subscriber::fmt::writer::MakeWriterExt;
    let level = if debug {
        "debug"
    } else if quiet {
        "warn"
    } else {
        "info"
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let file = log_file.and_then(|p| {
        logfile::RotatingFile::open(p, logfile::MAX_LOG_FILE)
            .map_err(|e| eprintln!("ironic-agent: cannot open log file {}: {e}", p.display()))
            .ok()
    });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false);
    match file {
        Some(f) => builder
            .with_writer(std::io::stderr.and(std::sync::Mutex::new(f)))
            .init(),
        None => builder.with_writer(std::io::stderr).init(),
    }
}

/// Panics go to the log too (with `ipa-log-file`, stderr may not be kept). The release build
/// unwinds, so a panicking step becomes an IPA error (`commands.rs`) and the agent lives on.
fn log_panics() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        tracing::error!("panic: {info}");
        default(info);
    }));
}

fn build_dispatcher(
    host: &Host,
    runner: Arc<dyn Runner>,
    deploy: hwmgr_generic::deploy::SharedSettings,
) -> Arc<Dispatcher> {
    Arc::new(Dispatcher::new(managers::candidates(host, runner, deploy)))
}

/// `ironic-agent steps`: what `get_*_steps` would report here, and why managers declined.
fn print_steps(inv: &Invocation) {
    let host = Host::new(&inv.host_root);
    let d = build_dispatcher(
        &host,
        Arc::new(SystemRunner::for_host(&host)),
        Default::default(),
    );
    println!("Hardware managers:");
    for line in d.manager_summary() {
        println!("  {line}");
    }
    let call = StepCall::default();
    for kind in StepKind::ALL {
        println!("{} steps:", kind.as_str());
        let steps = d.steps(kind, &call);
        if steps.is_empty() {
            println!("  (none)");
        }
        for (manager, list) in &steps {
            for s in list.as_array().into_iter().flatten() {
                println!(
                    "  {}.{}  priority {}  ({manager})",
                    s["interface"].as_str().unwrap_or("?"),
                    s["step"].as_str().unwrap_or("?"),
                    s["priority"]
                );
            }
        }
    }
}

/// `ironic-agent inventory`: the document `poll.get_hardware_info` answers and inspection
/// sends, through the dispatcher like the API's command.
fn print_inventory(inv: &Invocation) -> ExitCode {
    let host = Host::new(&inv.host_root);
    let d = build_dispatcher(
        &host,
        Arc::new(SystemRunner::for_host(&host)),
        Default::default(),
    );
    match d.dispatch("list_hardware_info", &StepCall::default(), None) {
        Ok(doc) => {
            println!(
                "{}",
                serde_json::to_string_pretty(&doc).unwrap_or_else(|_| doc.to_string())
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("ironic-agent: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `ironic-agent raid plan`: validate a target_raid_config against this machine and print the
/// exact commands create would run, without running any. Goes through the dispatcher like a
/// step: the manager that would run `create_configuration` makes the plan.
fn raid_plan(
    inv: &Invocation,
    config: &std::path::Path,
    node: Option<&std::path::Path>,
) -> ExitCode {
    let read_json = |p: &std::path::Path| -> Result<serde_json::Value, String> {
        let text =
            std::fs::read_to_string(p).map_err(|e| format!("cannot read {}: {e}", p.display()))?;
        serde_json::from_str(&text).map_err(|e| format!("{} is not JSON: {e}", p.display()))
    };
    let loaded = read_json(config).and_then(|c| Ok((c, node.map(read_json).transpose()?)));
    let (raid_config, node) = match loaded {
        Ok(x) => x,
        Err(e) => {
            eprintln!("ironic-agent: {e}");
            return ExitCode::from(2);
        }
    };
    // A bare target_raid_config is the common case; a node dict supplies boot mode,
    // capabilities and skip_block_devices.
    let mut node = node.unwrap_or_else(|| serde_json::json!({}));
    if node.get("target_raid_config").is_none() {
        node["target_raid_config"] = raid_config.clone();
    }
    let host = Host::new(&inv.host_root);
    let d = build_dispatcher(
        &host,
        Arc::new(SystemRunner::for_host(&host)),
        Default::default(),
    );
    let mut args = serde_json::Map::new();
    args.insert("raid_config".into(), raid_config);
    let call = StepCall {
        kind: None,
        node,
        ports: serde_json::json!([]),
        args,
    };
    match d.dispatch("plan_raid_configuration", &call, None) {
        Ok(plan) => {
            println!(
                "{}",
                plan.as_str()
                    .map_or_else(|| plan.to_string(), str::to_string)
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            println!("REJECTED ({}): {}", e.class.type_name(), e.details);
            ExitCode::from(1)
        }
    }
}

async fn run(inv: Invocation, config: Config) -> Result<(), String> {
    let host = Host::new(&inv.host_root);
    // The guest uptime ties the log's wall-clock times to the ramdisk's boot timeline
    // (`ramdisk/bench` parses it).
    let uptime = host
        .attr("/proc/uptime")
        .and_then(|u| u.split_whitespace().next().map(str::to_string))
        .unwrap_or_default();
    tracing::info!(version = AGENT_VERSION, root = %host.root().display(), %uptime, "ironic-agent starting");
    let nofile = server::raise_open_file_limit();
    let runner: Arc<dyn Runner> = Arc::new(SystemRunner::for_host(&host));
    let deploy_settings = hwmgr_generic::deploy::SharedSettings::new(config.deploy.clone());
    // The lookup needs only the MACs: it runs while the ramdisk's drivers finish loading and
    // the hardware managers initialize (md assembly, a few hundred ms on a small VM), unless
    // inspection (before lookup, as in IPA) or an initialization delay must come first.
    // Heartbeats still start only once the managers are ready and the API listens.
    let early = (!config.api_urls.is_empty()
        && inspection::callback_url(&config).is_none()
        && config.hardware_initialization_delay.is_zero())
    .then(|| tokio::spawn(lifecycle::look_up(host.clone(), config.clone(), None)));
    // The first hardware access: the managers' initialization reads the disks.
    hardware_ready::wait(
        &host,
        config.hardware_ready_file.as_deref(),
        config.hardware_ready_timeout,
    )
    .await;
    let dispatcher = {
        let (host, runner, settings) = (host.clone(), runner.clone(), deploy_settings.clone());
        tokio::task::spawn_blocking(move || build_dispatcher(&host, runner, settings))
            .await
            .map_err(|e| format!("initializing the hardware managers failed: {e}"))?
    };
    for line in dispatcher.manager_summary() {
        tracing::info!("hardware manager {line}");
    }
    let agent = Agent::new(
        dispatcher,
        PowerSwitch::new(host.clone(), runner.clone()),
        LogSources::new(host.root(), config.log_file.clone()),
        config.agent_token.clone(),
        deploy_settings,
    );
    tokio::spawn(shutdown::on_signal(agent.clone()));
    if !config.hardware_initialization_delay.is_zero() {
        tracing::info!(
            secs = config.hardware_initialization_delay.as_secs_f64(),
            "waiting before hardware initialization"
        );
        tokio::time::sleep(config.hardware_initialization_delay).await;
    }
    // Inspection comes before lookup (as in IPA): the conductor may learn the MACs from it.
    let node_uuid = inspection::run(&agent, &host, &config).await;
    if config.api_urls.is_empty() {
        tracing::warn!("no ipa-api-url given: not looking up or heartbeating; serving the API with the token given (if any)");
        return serve_standalone(agent, &config, nofile).await;
    }
    lifecycle::run_with_ironic(agent, host, runner, config, nofile, node_uuid, early).await
}

async fn serve_standalone(
    agent: Arc<Agent>,
    config: &Config,
    nofile: Option<u64>,
) -> Result<(), String> {
    let listener = server::bind(config.listen_host, config.listen_port)
        .await
        .map_err(|e| format!("cannot listen on port {}: {e}", config.listen_port))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    tracing::info!(%addr, "API listening (http)");
    let app = api::router(api::ApiState::new(agent.clone(), "http"));
    server::serve(listener, app, None, nofile, agent.lockdown.subscribe())
        .await
        .map_err(|e| format!("API server failed: {e}"))?;
    tracing::warn!("API stopped (lockdown); idling");
    std::future::pending::<()>().await;
    Ok(())
}
