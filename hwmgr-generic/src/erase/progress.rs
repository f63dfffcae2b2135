//! Progress of the devices being erased, and the reporter that logs it every ~10 s:
//! `erase progress: /dev/vda overwrite pass 1/2 (random): 43% of 64.0 MiB, 812.3 MB/s,
//! ETA 12 s`. Tool-driven erases (NVMe format, ATA secure erase) report no progress of
//! their own; their line says how long they have been running.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

/// How often the reporter logs.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(10);

/// One device's progress, updated by its worker and read by the reporter.
#[derive(Debug)]
pub struct Progress {
    pub device: String,
    /// What is running now, e.g. "overwrite pass 1/2 (random)" or "nvme format".
    stage: Mutex<Option<(String, Instant)>>,
    /// Bytes of the current stage (0 when unknown).
    total: AtomicU64,
    done: AtomicU64,
    finished: AtomicBool,
}

impl Progress {
    pub fn new(device: &str) -> Progress {
        Progress {
            device: device.to_string(),
            stage: Mutex::new(None),
            total: AtomicU64::new(0),
            done: AtomicU64::new(0),
            finished: AtomicBool::new(false),
        }
    }

    /// A new stage starts; `total` = 0 when the stage reports no bytes.
    pub fn stage(&self, what: impl Into<String>, total: u64) {
        let mut s = self.stage.lock().unwrap_or_else(|p| p.into_inner());
        *s = Some((what.into(), Instant::now()));
        self.total.store(total, Ordering::Relaxed);
        self.done.store(0, Ordering::Relaxed);
    }

    pub fn set_done(&self, bytes: u64) {
        self.done.store(bytes, Ordering::Relaxed);
    }

    pub fn finish(&self) {
        self.finished.store(true, Ordering::Relaxed);
    }

    /// The log line, or `None` when the device is not running.
    pub fn line(&self) -> Option<String> {
        if self.finished.load(Ordering::Relaxed) {
            return None;
        }
        let (what, since) = self
            .stage
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()?;
        let secs = since.elapsed().as_secs_f64();
        let total = self.total.load(Ordering::Relaxed);
        let done = self.done.load(Ordering::Relaxed).min(total);
        if total == 0 {
            return Some(format!(
                "erase progress: {} {what}: running for {:.0} s (the device reports no progress)",
                self.device, secs
            ));
        }
        let rate = if secs > 0.0 { done as f64 / secs } else { 0.0 };
        let eta = if rate > 0.0 {
            format!("{:.0} s", (total - done) as f64 / rate)
        } else {
            "unknown".into()
        };
        Some(format!(
            "erase progress: {} {what}: {:.0}% of {}, {:.1} MB/s, ETA {eta}",
            self.device,
            done as f64 * 100.0 / total as f64,
            mib(total),
            rate / 1e6
        ))
    }
}

pub fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1 << 20) as f64)
}

/// Logs every device's line every `interval` until dropped.
pub struct Reporter {
    stop: Mutex<bool>,
    wake: Condvar,
}

impl Reporter {
    pub fn new() -> Reporter {
        Reporter {
            stop: Mutex::new(false),
            wake: Condvar::new(),
        }
    }

    /// Runs on its own thread (inside a `std::thread::scope`) until [`Reporter::stop`].
    pub fn run(&self, all: &[Progress], interval: Duration) {
        let mut stopped = self.stop.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            let (guard, _) = self
                .wake
                .wait_timeout_while(stopped, interval, |s| !*s)
                .unwrap_or_else(|p| p.into_inner());
            stopped = guard;
            if *stopped {
                return;
            }
            for line in all.iter().filter_map(Progress::line) {
                tracing::info!("{line}");
            }
        }
    }

    pub fn stop(&self) {
        *self.stop.lock().unwrap_or_else(|p| p.into_inner()) = true;
        self.wake.notify_all();
    }
}

impl Default for Reporter {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_show_percent_rate_and_eta() {
        let p = Progress::new("/dev/vda");
        assert_eq!(p.line(), None, "not started");
        p.stage("overwrite pass 1/2 (random)", 64 << 20);
        std::thread::sleep(Duration::from_millis(20));
        p.set_done(16 << 20);
        let l = p.line().unwrap();
        assert!(
            l.starts_with(
                "erase progress: /dev/vda overwrite pass 1/2 (random): 25% of 64.0 MiB, "
            ),
            "{l}"
        );
        assert!(l.contains(" MB/s, ETA ") && l.ends_with(" s"), "{l}");
        p.stage("nvme format (cryptographic erase)", 0);
        assert!(p
            .line()
            .unwrap()
            .contains("running for 0 s (the device reports no progress)"));
        p.finish();
        assert_eq!(p.line(), None);
    }

    #[test]
    fn reporter_stops_promptly() {
        let r = Reporter::new();
        let all = [Progress::new("/dev/vda")];
        let t0 = Instant::now();
        std::thread::scope(|s| {
            s.spawn(|| r.run(&all, Duration::from_secs(3600)));
            std::thread::sleep(Duration::from_millis(20));
            r.stop();
        });
        assert!(t0.elapsed() < Duration::from_secs(60));
    }
}
