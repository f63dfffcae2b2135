//! The CPU burn itself: `workers` threads doing bogo operations until the time is up or the
//! agent shuts down, with stress-ng-like metrics (bogo ops and bogo ops/s) logged as it goes.
//!
//! One bogo operation is a SHA-256 over a 4 KiB buffer whose first 32 bytes are replaced by
//! the digest (so no operation can be skipped or hoisted), plus 256 floating-point
//! multiply-adds over the same bytes: the integer, bit-manipulation and floating-point units
//! all stay busy. A worker publishes its count after every operation (a few microseconds),
//! and stops within one operation of the flag being raised.

use hwmgr::cancel::Cancel;
use sha2::{Digest, Sha256};
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How often the burn checks for the end and for cancellation.
const TICK: Duration = Duration::from_millis(100);

/// The CPUs the agent may run on (its affinity and cgroup limits included), at least 1.
pub fn online_cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// The pause before the next progress line, after `elapsed`: every 5 s in the first minute
/// (a short burn-in is visible at all), then every minute (a 24 h one logs ~1440 lines).
pub fn report_interval(elapsed: Duration) -> Duration {
    if elapsed < Duration::from_secs(60) {
        Duration::from_secs(5)
    } else {
        Duration::from_secs(60)
    }
}

/// A worker thread that could not be started; the ones already running were stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartError {
    pub worker: usize,
    pub workers: usize,
    pub error: String,
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "burnin_cpu could not start worker thread {} of {}: {}. Lower \
             driver_info.agent_burnin_cpu_cpu (0 = one worker per CPU) or check the ramdisk's \
             memory and thread limits.",
            self.worker + 1,
            self.workers,
            self.error
        )
    }
}

/// What a burn did.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// Bogo operations per worker (one entry per worker, at most `MAX_WORKERS`).
    pub ops: Vec<u64>,
    pub elapsed: Duration,
    /// Why it stopped before its time, if it did.
    pub stopped_by: Option<String>,
}

impl fmt::Display for Summary {
    /// stress-ng's `--metrics-brief` in one line: stressor, bogo ops, real time, bogo ops/s.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.elapsed.as_secs_f64().max(1e-9);
        let total: u64 = self.ops.iter().sum();
        let min = self.ops.iter().min().copied().unwrap_or(0);
        let max = self.ops.iter().max().copied().unwrap_or(0);
        write!(
            f,
            "cpu: {} worker(s), {total} bogo ops in {:.2} s, {:.0} bogo ops/s (per worker \
             {:.0} to {:.0})",
            self.ops.len(),
            secs,
            total as f64 / secs,
            min as f64 / secs,
            max as f64 / secs
        )
    }
}

/// A worker's published count, on its own cache line so the workers do not slow each other.
#[repr(align(64))]
#[derive(Default)]
struct Counter(AtomicU64);

/// Burns `workers` threads for `timeout` (or until `cancel` is raised), calling `log` with a
/// progress line at the pace of `interval` (given the time elapsed).
pub fn burn(
    workers: usize,
    timeout: Duration,
    cancel: &Cancel,
    interval: fn(Duration) -> Duration,
    log: &dyn Fn(&str),
) -> Result<Summary, StartError> {
    let workers = workers.max(1);
    let counters: Vec<Counter> = (0..workers).map(|_| Counter::default()).collect();
    let stop = AtomicBool::new(false);
    log(&format!(
        "{workers} worker(s) for {} s (one bogo op: SHA-256 of 4 KiB and 256 \
         multiply-adds)",
        timeout.as_secs()
    ));
    let start = Instant::now();
    let outcome = std::thread::scope(|s| {
        for (i, counter) in counters.iter().enumerate() {
            let stop = &stop;
            let spawned = std::thread::Builder::new()
                .name(format!("burnin-cpu-{i}"))
                .spawn_scoped(s, move || work(stop, counter));
            if let Err(e) = spawned {
                stop.store(true, Ordering::SeqCst);
                return Err(StartError {
                    worker: i,
                    workers,
                    error: e.to_string(),
                });
            }
        }
        let stopped_by = watch(start, timeout, cancel, interval, &counters, log);
        stop.store(true, Ordering::SeqCst);
        Ok(stopped_by)
    });
    let stopped_by = outcome?;
    Ok(Summary {
        ops: counters
            .iter()
            .map(|c| c.0.load(Ordering::SeqCst))
            .collect(),
        elapsed: start.elapsed(),
        stopped_by,
    })
}

/// The burn's own thread: waits for the end, logging progress; returns why it stopped early.
fn watch(
    start: Instant,
    timeout: Duration,
    cancel: &Cancel,
    interval: fn(Duration) -> Duration,
    counters: &[Counter],
    log: &dyn Fn(&str),
) -> Option<String> {
    let deadline = start + timeout;
    let mut last = (start, vec![0u64; counters.len()]);
    let mut next_report = start + interval(Duration::ZERO);
    loop {
        let now = Instant::now();
        if now >= deadline {
            return None;
        }
        if cancel.is_cancelled() {
            return Some(cancel.reason());
        }
        if now >= next_report {
            let ops: Vec<u64> = counters
                .iter()
                .map(|c| c.0.load(Ordering::Relaxed))
                .collect();
            log(&progress(now - start, timeout, now - last.0, &last.1, &ops));
            last = (now, ops);
            next_report = now + interval(now - start);
        }
        let wake = deadline.min(next_report);
        std::thread::sleep(wake.saturating_duration_since(now).min(TICK));
    }
}

/// `12 s of 60 s: 2 worker(s), 1234 bogo ops/s (per worker 600 to 634)` over the last period.
fn progress(
    elapsed: Duration,
    timeout: Duration,
    dt: Duration,
    before: &[u64],
    now: &[u64],
) -> String {
    let secs = dt.as_secs_f64().max(1e-9);
    let rates: Vec<f64> = before
        .iter()
        .zip(now)
        .map(|(b, n)| n.saturating_sub(*b) as f64 / secs)
        .collect();
    let total: f64 = rates.iter().sum();
    let min = rates.iter().copied().fold(f64::INFINITY, f64::min);
    let max = rates.iter().copied().fold(0.0, f64::max);
    format!(
        "{} s of {} s: {} worker(s), {total:.0} bogo ops/s (per worker {min:.0} to {max:.0})",
        elapsed.as_secs(),
        timeout.as_secs(),
        now.len()
    )
}

/// One worker: bogo operations until `stop`, publishing its count after each.
fn work(stop: &AtomicBool, counter: &Counter) {
    let mut buf = [0u8; 4096];
    for (i, b) in buf.iter_mut().enumerate() {
        *b = (i * 131 % 251) as u8;
    }
    let mut acc = 1.0f64;
    let mut done = 0u64;
    while !stop.load(Ordering::Relaxed) {
        bogo_op(&mut buf, &mut acc);
        done += 1;
        counter.0.store(done, Ordering::Relaxed);
    }
    std::hint::black_box(acc);
}

fn bogo_op(buf: &mut [u8; 4096], acc: &mut f64) {
    let digest = Sha256::digest(&buf[..]);
    buf[..32].copy_from_slice(&digest);
    let mut x = *acc;
    for b in &buf[..256] {
        x = x * 0.999_999_7 + f64::from(*b) * 1e-3;
    }
    *acc = std::hint::black_box(x);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    fn fast(_: Duration) -> Duration {
        Duration::from_millis(100)
    }

    #[test]
    fn every_worker_runs_until_the_timeout() {
        let lines = Mutex::new(Vec::new());
        let t0 = Instant::now();
        let s = burn(3, Duration::from_millis(450), &Cancel::new(), fast, &|l| {
            lines.lock().unwrap().push(l.to_string())
        })
        .unwrap();
        let took = t0.elapsed();
        assert!(
            took >= Duration::from_millis(450) && took < Duration::from_secs(5),
            "{took:?}"
        );
        assert_eq!(s.ops.len(), 3);
        assert!(s.ops.iter().all(|n| *n > 0), "{s:?}");
        assert_eq!(s.stopped_by, None);
        let lines = lines.into_inner().unwrap();
        assert!(lines[0].starts_with("3 worker(s) for 0 s"), "{lines:?}");
        let progress: Vec<_> = lines.iter().filter(|l| l.contains("bogo ops/s")).collect();
        assert!((2..=5).contains(&progress.len()), "{lines:?}");
        assert!(progress[0].contains("3 worker(s)"), "{lines:?}");
        let text = s.to_string();
        assert!(
            text.starts_with("cpu: 3 worker(s), ") && text.contains("bogo ops/s"),
            "{text}"
        );
    }

    #[test]
    fn a_raised_cancel_stops_the_burn_with_its_reason() {
        let c = Cancel::new();
        let c2 = c.clone();
        let raiser = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(200));
            c2.cancel("the agent received SIGTERM and is shutting down");
        });
        let t0 = Instant::now();
        let s = burn(2, Duration::from_secs(60), &c, report_interval, &|_| {}).unwrap();
        raiser.join().unwrap();
        assert!(t0.elapsed() < Duration::from_secs(5), "{:?}", t0.elapsed());
        assert_eq!(
            s.stopped_by.as_deref(),
            Some("the agent received SIGTERM and is shutting down")
        );
    }

    #[test]
    fn zero_workers_means_one_and_the_pace_slows_after_a_minute() {
        let s = burn(0, Duration::from_millis(50), &Cancel::new(), fast, &|_| {}).unwrap();
        assert_eq!(s.ops.len(), 1);
        assert_eq!(
            report_interval(Duration::from_secs(3)),
            Duration::from_secs(5)
        );
        assert_eq!(
            report_interval(Duration::from_secs(61)),
            Duration::from_secs(60)
        );
        assert!(online_cpus() >= 1);
    }

    #[test]
    fn progress_is_per_period_rates() {
        let line = progress(
            Duration::from_secs(10),
            Duration::from_secs(60),
            Duration::from_secs(2),
            &[100, 200],
            &[300, 600],
        );
        assert_eq!(
            line,
            "10 s of 60 s: 2 worker(s), 300 bogo ops/s (per worker 100 to 200)"
        );
    }
}
