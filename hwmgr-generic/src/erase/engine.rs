//! Runs the planned erasures: every device in parallel, bounded by
//! `disk_erasure_concurrency` (when the conductor sends it) or else by the number of
//! devices, with a progress line per running device every ~10 s. One device failing (or
//! vanishing) does not stop the others; a raised [`Cancel`] stops the writers between
//! writes and devices not yet started are not started.
//!
//! IPA runs `erase_block_device` in a thread pool of `disk_erasure_concurrency` (1 when
//! the conductor sends nothing) and returns `null` per device; here each device reports
//! its method, bytes, seconds and verification.

use super::ata;
use super::nvme;
use super::plan::{Method, Plan};
use super::progress::{mib, Progress, Reporter};
use super::writer::{self, DeviceFile, Pass, Stop, Target as _, ALIGN};
use crate::Machine;
use hwmgr::Cancel;
use serde_json::{json, Map, Value};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Memory the write buffers of all devices share at most.
const BUFFER_BUDGET: usize = 64 << 20;
/// The largest single write.
const MAX_CHUNK: usize = 4 << 20;

/// The overwrite to do and how the run behaves.
#[derive(Debug, Clone)]
pub struct RunConfig {
    pub iterations: u32,
    pub zeroize: bool,
    /// Overwrite when a hardware erase fails (`agent_continue_if_secure_erase_failed`).
    pub fallback: bool,
    pub workers: usize,
    pub progress_every: Duration,
}

impl RunConfig {
    /// Bytes per write: 4 MiB, less when many devices run at once (≥ 1 MiB). Each device
    /// has two buffers (one written, one being filled).
    pub fn chunk(&self) -> usize {
        (BUFFER_BUDGET / 2 / self.workers.max(1)).clamp(1 << 20, MAX_CHUNK) / ALIGN * ALIGN
    }

    fn passes(&self) -> Vec<Pass> {
        let mut p: Vec<Pass> = (0..self.iterations)
            .map(|_| Pass::Random(writer::fresh_seed()))
            .collect();
        if self.zeroize {
            p.push(Pass::Zeros);
        }
        p
    }
}

/// How one device ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Erased(Value),
    Failed(String),
    /// Stopped by cancellation part-way (what was done).
    Stopped(String),
    NotStarted,
}

/// Runs `work` over `jobs` on `workers` threads; results in job order (`None` where a
/// worker panicked).
pub fn run_parallel<J: Sync, R: Send>(
    jobs: &[J],
    names: &[String],
    workers: usize,
    progress_every: Duration,
    work: impl Fn(&J, &Progress) -> R + Sync,
) -> Vec<Option<R>> {
    let progress: Vec<Progress> = names.iter().map(|n| Progress::new(n)).collect();
    let results: Mutex<Vec<Option<R>>> = Mutex::new(jobs.iter().map(|_| None).collect());
    let next = AtomicUsize::new(0);
    let reporter = Reporter::new();
    std::thread::scope(|s| {
        s.spawn(|| reporter.run(&progress, progress_every));
        let workers: Vec<_> = (0..workers.clamp(1, jobs.len().max(1)))
            .map(|_| {
                s.spawn(|| loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(job) = jobs.get(i) else { break };
                    let r = work(job, &progress[i]);
                    progress[i].finish();
                    results.lock().unwrap_or_else(|p| p.into_inner())[i] = Some(r);
                })
            })
            .collect();
        for w in workers {
            // A panicking worker leaves its device without a result (reported as a crash).
            let _ = w.join();
        }
        reporter.stop();
    });
    results.into_inner().unwrap_or_else(|p| p.into_inner())
}

/// Erases every planned device; one outcome per plan, in order.
pub fn erase_all(m: &Machine, plans: &[Plan], cfg: &RunConfig, cancel: &Cancel) -> Vec<Outcome> {
    let names: Vec<String> = plans.iter().map(|p| p.target.name().to_string()).collect();
    tracing::info!(
        "erasing {} device(s), {} at a time, {} per write: {}",
        plans.len(),
        cfg.workers,
        mib(cfg.chunk() as u64),
        names.join(", ")
    );
    let outcomes = run_parallel(
        plans,
        &names,
        cfg.workers,
        cfg.progress_every,
        |plan, progress| {
            if cancel.is_cancelled() {
                return Outcome::NotStarted;
            }
            let started = Instant::now();
            let outcome = erase_one(m, plan, cfg, progress, cancel);
            log_outcome(plan.target.name(), &outcome, started.elapsed());
            outcome
        },
    );
    outcomes
        .into_iter()
        .zip(&names)
        .map(|(o, dev)| {
            o.unwrap_or_else(|| {
                Outcome::Failed(format!(
                    "{dev}: the erase worker crashed (a bug in the agent; the agent log has the panic)"
                ))
            })
        })
        .collect()
}

fn log_outcome(dev: &str, o: &Outcome, took: Duration) {
    match o {
        Outcome::Erased(r) => tracing::info!("erased {dev} in {:.1} s: {r}", took.as_secs_f64()),
        Outcome::Failed(e) => tracing::error!("erasing {dev} failed: {e}"),
        Outcome::Stopped(e) => tracing::warn!("erasing {dev} stopped: {e}"),
        Outcome::NotStarted => {}
    }
}

/// One device: its hardware erase (falling back to the overwrite when allowed) or the
/// overwrite.
fn erase_one(m: &Machine, plan: &Plan, cfg: &RunConfig, p: &Progress, c: &Cancel) -> Outcome {
    let hardware = match &plan.method {
        Method::Overwrite => None,
        Method::NvmeFormat { ses } => Some(nvme_format(m, plan, *ses, p)),
        Method::AtaSecureErase(sec) => Some(ata_erase(m, plan, sec.clone(), p)),
    };
    let mut notes = plan.notes.clone();
    match hardware {
        Some(Ok(report)) => return Outcome::Erased(with_notes(report, &notes)),
        Some(Err(e)) if cfg.fallback && !c.is_cancelled() => {
            tracing::warn!(
                "{e}; overwriting {} instead (agent_continue_if_secure_erase_failed)",
                plan.target.name()
            );
            notes.push(format!("{e}; overwritten instead"));
        }
        Some(Err(e)) => {
            return Outcome::Failed(format!(
                "{e}. To overwrite devices whose secure erase fails, set \
                 agent_continue_if_secure_erase_failed"
            ))
        }
        None => {}
    }
    match overwrite(plan, cfg, p, c) {
        Ok(report) => Outcome::Erased(with_notes(report, &notes)),
        Err(o) => o,
    }
}

fn with_notes(mut report: Value, notes: &[String]) -> Value {
    if !notes.is_empty() {
        report["notes"] = json!(notes);
    }
    report
}

fn open(plan: &Plan) -> Result<DeviceFile, String> {
    DeviceFile::open(Path::new(&plan.path)).map_err(|e| {
        let hint = match e.raw_os_error() {
            Some(libc::EBUSY) => format!(
                " (in use: mounted, or held by {})",
                if plan.target.dev.holders.is_empty() {
                    "another device".to_string()
                } else {
                    plan.target.dev.holders.join(", ")
                }
            ),
            Some(libc::ENOENT | libc::ENXIO | libc::ENODEV) => " (the device vanished)".into(),
            _ => String::new(),
        };
        format!(
            "opening {} for writing failed: {e}{hint}",
            plan.target.name()
        )
    })
}

fn overwrite(plan: &Plan, cfg: &RunConfig, p: &Progress, c: &Cancel) -> Result<Value, Outcome> {
    let dev = plan.target.name();
    let passes = cfg.passes();
    let Some(last) = passes.last().copied() else {
        return Err(Outcome::Failed(format!(
            "{dev}: nothing to write (agent_erase_devices_iterations is 0 and \
             agent_erase_devices_zeroize is false)"
        )));
    };
    let mut f = open(plan).map_err(Outcome::Failed)?;
    let started = Instant::now();
    let written = writer::overwrite(&mut f, &passes, cfg.chunk(), p, c).map_err(|stop| {
        let n = passes.len();
        match stop {
            Stop::Cancelled { pass, offset } => Outcome::Stopped(format!(
                "{dev}: {} at pass {}/{n}, {} of {} written in that pass",
                c.reason(),
                pass + 1,
                mib(offset),
                mib(f.size())
            )),
            Stop::Failed {
                pass,
                offset,
                error,
            } => Outcome::Failed(format!(
                "{dev}: writing at offset {offset} (pass {}/{n}) failed: {error}{}",
                pass + 1,
                if matches!(
                    error.raw_os_error(),
                    Some(libc::ENXIO | libc::ENODEV | libc::ENOENT)
                ) {
                    " (the device vanished)"
                } else {
                    ""
                }
            )),
        }
    })?;
    let seconds = started.elapsed().as_secs_f64();
    p.stage("verification", 0);
    let seed = match last {
        Pass::Random(s) => s,
        Pass::Zeros => writer::fresh_seed(),
    };
    let verified =
        writer::verify(&mut f, last, seed).map_err(|e| Outcome::Failed(format!("{dev}: {e}")))?;
    Ok(json!({
        "method": "overwrite",
        "passes": passes.iter().map(Pass::name).collect::<Vec<_>>(),
        "bytes": written,
        "seconds": round(seconds),
        "mb_per_s": round(written as f64 / seconds.max(1e-6) / 1e6),
        "direct_io": f.direct,
        "verification": {
            "result": "passed",
            "checked": format!("the {} pass", last.name()),
            "samples": verified.samples,
            "bytes_read": verified.bytes_read,
        },
    }))
}

fn round(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

fn nvme_format(m: &Machine, plan: &Plan, ses: u8, p: &Progress) -> Result<Value, String> {
    let before = hardware_samples(plan)?;
    p.stage(format!("nvme format ({})", nvme::ses_name(ses)), 0);
    let started = Instant::now();
    nvme::format(m, &plan.dev, ses).map_err(|(_, why)| why)?;
    let seconds = started.elapsed().as_secs_f64();
    let verification = check_changed(plan, &before, "NVMe format")?;
    Ok(json!({
        "method": "nvme_format",
        "secure_erase_setting": ses,
        "description": nvme::ses_name(ses),
        "bytes": plan.target.dev.size,
        "seconds": round(seconds),
        "verification": verification,
    }))
}

fn ata_erase(
    m: &Machine,
    plan: &Plan,
    sec: ata::AtaSecurity,
    p: &Progress,
) -> Result<Value, String> {
    let before = hardware_samples(plan)?;
    p.stage("ATA secure erase", 0);
    let started = Instant::now();
    let done = ata::secure_erase(m, &plan.dev, sec)?;
    let seconds = started.elapsed().as_secs_f64();
    let verification = check_changed(plan, &before, "ATA secure erase")?;
    Ok(json!({
        "method": if done.enhanced { "ata_enhanced_secure_erase" } else { "ata_secure_erase" },
        "bytes": plan.target.dev.size,
        "seconds": round(seconds),
        "verification": verification,
    }))
}

/// Samples read before a hardware erase, to compare afterwards.
type Samples = Vec<(u64, Vec<u8>)>;

fn hardware_samples(plan: &Plan) -> Result<Samples, String> {
    let mut f = open(plan)?;
    let mut out = Vec::new();
    for (off, size) in writer::sample_offsets(f.size(), writer::fresh_seed()) {
        let mut buf = writer::AlignedBuf::new(size);
        let b = buf.get_mut(size);
        f.read_at(b, off)
            .map_err(|e| format!("reading {} at offset {off} failed: {e}", plan.target.name()))?;
        out.push((off, b.to_vec()));
    }
    Ok(out)
}

/// After a hardware erase every sample must differ from before, or hold no data (one byte
/// value repeated: zeros, or the 0xFF some drives return).
fn check_changed(plan: &Plan, before: &Samples, what: &str) -> Result<Value, String> {
    let after = hardware_samples(plan)?;
    let mut uniform = 0;
    for ((off, old), (_, new)) in before.iter().zip(after.iter()) {
        if new.iter().all(|b| *b == new[0]) {
            uniform += 1;
        } else if new == old {
            return Err(format!(
                "{what} of {} reported success but the data at offset {off} is unchanged",
                plan.target.name()
            ));
        }
    }
    Ok(json!({
        "result": "passed",
        "checked": "sampled blocks changed or hold one repeated byte",
        "samples": after.len(),
        "uniform": uniform,
    }))
}

/// The step's result and its error text from the outcomes.
pub fn summarize(
    plans: &[Plan],
    outcomes: &[Outcome],
    skipped: &[(String, String)],
    cancel: &Cancel,
) -> Result<Map<String, Value>, String> {
    let mut result = Map::new();
    let (mut erased, mut failed, mut stopped, mut not_started) = (vec![], vec![], vec![], vec![]);
    for (plan, o) in plans.iter().zip(outcomes) {
        let dev = plan.target.name().to_string();
        match o {
            Outcome::Erased(r) => {
                result.insert(dev.clone(), r.clone());
                erased.push(dev);
            }
            Outcome::Failed(e) => failed.push(e.clone()),
            Outcome::Stopped(e) => stopped.push(e.clone()),
            Outcome::NotStarted => not_started.push(dev),
        }
    }
    for (dev, why) in skipped {
        result.insert(dev.clone(), json!({"skipped": why}));
    }
    let finished = if erased.is_empty() {
        "none".to_string()
    } else {
        erased.join(", ")
    };
    if !stopped.is_empty() || !not_started.is_empty() {
        let mut msg = format!("Erasure stopped: {}. Finished: {finished}", cancel.reason());
        if !stopped.is_empty() {
            msg += &format!("; stopped part-way (NOT erased): {}", stopped.join("; "));
        }
        if !not_started.is_empty() {
            msg += &format!("; not started: {}", not_started.join(", "));
        }
        if !failed.is_empty() {
            msg += &format!("; failed: {}", failed.join("; "));
        }
        return Err(msg + ".");
    }
    if !failed.is_empty() {
        return Err(format!(
            "Failed to erase {} of {} device(s): {}. Erased: {finished}.",
            failed.len(),
            plans.len(),
            failed.join("; ")
        ));
    }
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::erase::select::Target;
    use ::blockdev::BlockDevice;

    #[test]
    fn concurrency_is_bounded_and_order_kept() {
        let jobs: Vec<u64> = (0..9).collect();
        let names: Vec<String> = jobs.iter().map(|j| format!("/dev/d{j}")).collect();
        let running = AtomicUsize::new(0);
        let peak = AtomicUsize::new(0);
        let out = run_parallel(&jobs, &names, 3, Duration::from_millis(1), |j, p| {
            p.stage("overwrite pass 1/1 (zeros)", 100);
            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
            peak.fetch_max(now, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(20));
            running.fetch_sub(1, Ordering::SeqCst);
            j * 10
        });
        assert_eq!(out, jobs.iter().map(|j| Some(j * 10)).collect::<Vec<_>>());
        assert_eq!(peak.load(Ordering::SeqCst), 3);
    }

    #[test]
    fn chunk_shrinks_with_many_devices() {
        let cfg = |workers| RunConfig {
            iterations: 1,
            zeroize: true,
            fallback: false,
            workers,
            progress_every: DEFAULT,
        };
        const DEFAULT: Duration = Duration::from_secs(10);
        assert_eq!(cfg(1).chunk(), 4 << 20);
        assert_eq!(cfg(8).chunk(), 4 << 20);
        assert_eq!(cfg(12).chunk(), (32 << 20) / 12 / ALIGN * ALIGN);
        assert_eq!(cfg(200).chunk(), 1 << 20);
        assert_eq!(cfg(1).passes().len(), 2);
    }

    fn plan(name: &str) -> Plan {
        Plan {
            target: Target {
                dev: BlockDevice {
                    name: name.into(),
                    ..Default::default()
                },
                disk: name.into(),
            },
            dev: crate::tools::DevPath::new(name).unwrap(),
            path: name.into(),
            method: Method::Overwrite,
            notes: vec![],
        }
    }

    #[test]
    fn a_stop_lists_finished_stopped_and_unstarted_devices() {
        let plans = [plan("/dev/vda"), plan("/dev/vdb"), plan("/dev/vdc")];
        let c = Cancel::new();
        c.cancel("the agent is shutting down (SIGTERM)");
        let outcomes = [
            Outcome::Erased(json!({"method": "overwrite"})),
            Outcome::Stopped("/dev/vdb: the agent is shutting down (SIGTERM) at pass 1/2, 3.0 MiB of 64.0 MiB written in that pass".into()),
            Outcome::NotStarted,
        ];
        let e = summarize(&plans, &outcomes, &[], &c).unwrap_err();
        assert_eq!(
            e,
            "Erasure stopped: the agent is shutting down (SIGTERM). Finished: /dev/vda; stopped \
             part-way (NOT erased): /dev/vdb: the agent is shutting down (SIGTERM) at pass 1/2, \
             3.0 MiB of 64.0 MiB written in that pass; not started: /dev/vdc."
        );
    }
}
