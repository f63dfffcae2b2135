//! When to send the next heartbeat.
//!
//! IPA's heartbeater (`ironic_python_agent/agent.py: IronicPythonAgentHeartbeater`): the first
//! heartbeat immediately; after a success `heartbeat_timeout × U(0.3, 0.6)`; after a failure
//! 5-10 s; when an async command ends, a forced heartbeat — but no sooner than 5 s after
//! the previous one. During cleaning every step therefore waits up to 5 s for the heartbeat
//! that lets the conductor start the next one.
//!
//! Deliberate differences (faster, same load bound):
//! - A forced heartbeat goes out as soon as the command's result is recorded.
//! - The conductor skips a heartbeat silently (still 202) when it cannot take the node's
//!   lock (`ironic/conductor/manager.py: ConductorManager.heartbeat`), which happens when the
//!   step ended while the conductor was still finishing the heartbeat that started it. So a
//!   forced heartbeat is followed up: unless the conductor has called the agent's command
//!   API since (it always reads the command status when it processes a heartbeat in a wait
//!   state), another heartbeat goes out after 1 s, then 2, 4, 4 s — at most
//!   [`FOLLOW_UPS`] per finished command, then IPA's regular interval.
//! - A heartbeat answered 409 (node reserved, no agent URL recorded yet) is retried after a
//!   short capped back-off (0.5 s doubling to 4 s) at most [`CONFLICT_RETRIES`] times in a
//!   row, then as any failure (5-10 s).

use std::time::Duration;
use tokio::time::Instant;

/// Follow-up heartbeats after a forced one, at most, while the conductor does not call.
pub const FOLLOW_UPS: u32 = 4;
const FOLLOW_UP_FIRST: Duration = Duration::from_secs(1);
const FOLLOW_UP_CAP: Duration = Duration::from_secs(4);
/// Quick retries of a heartbeat refused with 409, in a row, before the failure interval.
pub const CONFLICT_RETRIES: u32 = 5;
const CONFLICT_FIRST: Duration = Duration::from_millis(500);
const CONFLICT_CAP: Duration = Duration::from_secs(4);

/// Follow-ups armed by a forced heartbeat.
#[derive(Debug, Clone)]
struct FollowUp {
    /// The conductor's calls to the command API counted when the last heartbeat was sent.
    calls_at_beat: u64,
    left: u32,
    delay: Duration,
}

#[derive(Debug, Clone)]
pub struct HeartbeatSchedule {
    /// When the loop wakes next.
    pub next: Instant,
    /// When the next regular heartbeat is due (IPA's interval).
    regular: Instant,
    forced: bool,
    follow_up: Option<FollowUp>,
    conflicts: u32,
}

impl HeartbeatSchedule {
    pub fn new(now: Instant) -> Self {
        HeartbeatSchedule {
            next: now,
            regular: now,
            forced: false,
            follow_up: None,
            conflicts: 0,
        }
    }

    /// A command ended: heartbeat now.
    pub fn force(&mut self, now: Instant) {
        self.forced = true;
        self.next = now;
    }

    /// The loop woke up: whether to send a heartbeat now. A follow-up is dropped (and the
    /// regular interval resumes) once the conductor has called since the last heartbeat.
    pub fn due(&mut self, now: Instant, conductor_calls: u64) -> bool {
        if now < self.regular && !self.forced {
            if let Some(f) = &self.follow_up {
                if f.calls_at_beat != conductor_calls {
                    self.follow_up = None;
                    self.next = self.regular;
                    return false;
                }
            }
        }
        true
    }

    /// A heartbeat is being sent; `conductor_calls` is the count at this moment.
    pub fn sent(&mut self, conductor_calls: u64) {
        if std::mem::take(&mut self.forced) {
            self.follow_up = Some(FollowUp {
                calls_at_beat: conductor_calls,
                left: FOLLOW_UPS,
                delay: FOLLOW_UP_FIRST,
            });
        } else if let Some(f) = &mut self.follow_up {
            f.calls_at_beat = conductor_calls;
        }
    }

    /// The heartbeat was accepted; `factor` is drawn from U(0.3, 0.6).
    pub fn succeeded(&mut self, now: Instant, heartbeat_timeout: Duration, factor: f64) {
        self.conflicts = 0;
        self.regular = now + heartbeat_timeout.mul_f64(factor.clamp(0.3, 0.6));
        self.next = self.regular;
        if let Some(f) = &mut self.follow_up {
            if f.left == 0 {
                self.follow_up = None;
            } else {
                self.next = self.next.min(now + f.delay);
                f.left -= 1;
                f.delay = (f.delay * 2).min(FOLLOW_UP_CAP);
            }
        }
    }

    /// The heartbeat failed; `factor` is drawn from U(1.0, 2.0).
    pub fn failed(&mut self, now: Instant, factor: f64) {
        self.conflicts = 0;
        self.regular = now + Duration::from_secs(5).mul_f64(factor.clamp(1.0, 2.0));
        self.next = self.regular;
    }

    /// The heartbeat was answered 409: retried soon, a bounded number of times in a row.
    /// `jitter` is drawn from U(0.5, 1.0). Returns whether this was a quick retry.
    pub fn conflicted(&mut self, now: Instant, factor: f64, jitter: f64) -> bool {
        if self.conflicts >= CONFLICT_RETRIES {
            self.failed(now, factor);
            return false;
        }
        let delay = CONFLICT_FIRST
            .saturating_mul(1 << self.conflicts)
            .min(CONFLICT_CAP);
        self.conflicts += 1;
        self.regular = now + delay.mul_f64(jitter.clamp(0.5, 1.0));
        self.next = self.regular;
        true
    }

    pub fn immediately(&mut self, now: Instant) {
        self.next = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TIMEOUT: Duration = Duration::from_secs(300);

    #[test]
    fn regular_intervals_follow_ipa() {
        let t0 = Instant::now();
        let mut s = HeartbeatSchedule::new(t0);
        assert_eq!(s.next, t0, "first heartbeat immediately");
        assert!(s.due(t0, 0));
        s.sent(0);
        s.succeeded(t0, TIMEOUT, 0.3);
        assert_eq!(s.next, t0 + Duration::from_secs(90));
        s.succeeded(t0, TIMEOUT, 0.6);
        assert_eq!(s.next, t0 + Duration::from_secs(180));
        s.failed(t0, 1.0);
        assert_eq!(s.next, t0 + Duration::from_secs(5));
        s.failed(t0, 2.0);
        assert_eq!(s.next, t0 + Duration::from_secs(10));
    }

    #[test]
    fn a_finished_command_heartbeats_at_once_and_follows_up_until_the_conductor_calls() {
        let t0 = Instant::now();
        let mut s = HeartbeatSchedule::new(t0);
        s.sent(0);
        s.succeeded(t0, TIMEOUT, 0.5);
        let t1 = t0 + Duration::from_millis(300);
        s.force(t1);
        assert_eq!(s.next, t1, "no 5 s minimum gap");
        assert!(s.due(t1, 3));
        s.sent(3);
        s.succeeded(t1, TIMEOUT, 0.5);
        assert_eq!(s.next, t1 + Duration::from_secs(1), "first follow-up");
        // Nobody called: the follow-up goes out.
        let t2 = s.next;
        assert!(s.due(t2, 3));
        s.sent(3);
        s.succeeded(t2, TIMEOUT, 0.5);
        assert_eq!(s.next, t2 + Duration::from_secs(2));
        // The conductor called (it read the command status): back to the regular interval.
        let t3 = s.next;
        assert!(!s.due(t3, 4));
        assert_eq!(s.next, t2 + TIMEOUT.mul_f64(0.5));
    }

    #[test]
    fn follow_ups_are_bounded_per_finished_command() {
        let t0 = Instant::now();
        let mut s = HeartbeatSchedule::new(t0);
        s.force(t0);
        let mut now = t0;
        let mut beats = 0;
        while now < t0 + Duration::from_secs(60) {
            if s.due(now, 7) {
                s.sent(7);
                beats += 1;
                s.succeeded(now, TIMEOUT, 0.5);
            }
            now = s.next;
        }
        assert_eq!(beats, 1 + FOLLOW_UPS, "the forced one and its follow-ups");
        assert!(
            s.next >= t0 + Duration::from_secs(150),
            "then IPA's interval"
        );
    }

    #[test]
    fn conflicts_are_retried_quickly_a_bounded_number_of_times() {
        let t0 = Instant::now();
        let mut s = HeartbeatSchedule::new(t0);
        let mut delays = vec![];
        for _ in 0..CONFLICT_RETRIES {
            assert!(s.conflicted(t0, 1.0, 1.0));
            delays.push(s.next - t0);
        }
        assert_eq!(
            delays,
            [500, 1000, 2000, 4000, 4000].map(Duration::from_millis)
        );
        assert!(!s.conflicted(t0, 1.0, 1.0), "then the failure interval");
        assert_eq!(s.next, t0 + Duration::from_secs(5));
        // A success resets the count.
        s.succeeded(t0, TIMEOUT, 0.5);
        assert!(s.conflicted(t0, 1.0, 0.5));
        assert_eq!(s.next, t0 + Duration::from_millis(250));
    }
}
