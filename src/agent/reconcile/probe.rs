//! Probe timing and thresholds with Kubernetes' defaults (period 10 s, timeout 1 s, success 1,
//! failure 3, no initial delay): when each probe is due and what a run of results means.
use crate::api;

/// Which probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum ProbeKind {
    Startup,
    Liveness,
    Readiness,
}

impl ProbeKind {
    pub fn name(self) -> &'static str {
        match self {
            ProbeKind::Startup => "Startup",
            ProbeKind::Liveness => "Liveness",
            ProbeKind::Readiness => "Readiness",
        }
    }
}

/// A probe's timing, defaults applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProbeTiming {
    pub initial_delay_ms: u64,
    pub period_ms: u64,
    pub timeout_ms: u64,
    pub success_threshold: u32,
    pub failure_threshold: u32,
    /// A liveness/startup failure's own grace period, overriding the pod's.
    pub termination_grace_ms: Option<u64>,
}

impl ProbeTiming {
    pub fn of(probe: &api::Probe, kind: ProbeKind) -> ProbeTiming {
        let seconds = |v: Option<i32>, default: i32| (v.unwrap_or(default).max(0) as u64) * 1000;
        ProbeTiming {
            initial_delay_ms: seconds(probe.initial_delay_seconds, 0),
            period_ms: seconds(probe.period_seconds, 10).max(1000),
            timeout_ms: seconds(probe.timeout_seconds, 1).max(1000),
            // Liveness and startup probes must have a success threshold of 1.
            success_threshold: match kind {
                ProbeKind::Readiness => probe.success_threshold.unwrap_or(1).max(1) as u32,
                _ => 1,
            },
            failure_threshold: probe.failure_threshold.unwrap_or(3).max(1) as u32,
            termination_grace_ms: probe
                .termination_grace_period_seconds
                .map(|s| s.max(0) as u64 * 1000),
        }
    }
}

/// What a probe result changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Nothing crossed a threshold.
    Unchanged,
    /// The success threshold was reached.
    Succeeded,
    /// The failure threshold was reached.
    Failed,
}

/// One probe of one running container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeState {
    pub kind: ProbeKind,
    pub timing: ProbeTiming,
    pub next_due_ms: u64,
    pub in_flight: bool,
    successes: u32,
    failures: u32,
    /// The last result's message, for status and events.
    pub last_message: Option<String>,
}

impl ProbeState {
    /// A probe for a container started at `started_at_ms`.
    pub fn new(kind: ProbeKind, timing: ProbeTiming, started_at_ms: u64) -> ProbeState {
        ProbeState {
            kind,
            timing,
            next_due_ms: started_at_ms + timing.initial_delay_ms,
            in_flight: false,
            successes: 0,
            failures: 0,
            last_message: None,
        }
    }

    pub fn due(&self, now_ms: u64) -> bool {
        !self.in_flight && now_ms >= self.next_due_ms
    }

    /// Takes one result; the next run is a period after `now_ms`.
    pub fn record(&mut self, success: bool, message: Option<String>, now_ms: u64) -> Verdict {
        self.in_flight = false;
        self.next_due_ms = now_ms + self.timing.period_ms;
        self.last_message = message;
        if success {
            self.failures = 0;
            self.successes = self.successes.saturating_add(1);
            if self.successes == self.timing.success_threshold {
                return Verdict::Succeeded;
            }
        } else {
            self.successes = 0;
            self.failures = self.failures.saturating_add(1);
            if self.failures == self.timing.failure_threshold {
                return Verdict::Failed;
            }
        }
        Verdict::Unchanged
    }

    /// Starts counting afresh (after a liveness restart the new container is probed anew).
    pub fn reset_counts(&mut self) {
        self.successes = 0;
        self.failures = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_kubernetes_defaults() {
        let timing = ProbeTiming::of(&api::Probe::default(), ProbeKind::Liveness);
        assert_eq!(
            (timing.initial_delay_ms, timing.period_ms, timing.timeout_ms),
            (0, 10_000, 1_000)
        );
        assert_eq!((timing.success_threshold, timing.failure_threshold), (1, 3));
    }

    #[test]
    fn the_third_consecutive_failure_fails_the_probe_once() {
        let timing = ProbeTiming::of(&api::Probe::default(), ProbeKind::Liveness);
        let mut probe = ProbeState::new(ProbeKind::Liveness, timing, 0);
        assert_eq!(probe.record(false, None, 0), Verdict::Unchanged);
        assert_eq!(probe.record(true, None, 10_000), Verdict::Succeeded);
        assert_eq!(probe.record(false, None, 20_000), Verdict::Unchanged);
        assert_eq!(probe.record(false, None, 30_000), Verdict::Unchanged);
        assert_eq!(probe.record(false, None, 40_000), Verdict::Failed);
        assert_eq!(probe.record(false, None, 50_000), Verdict::Unchanged);
        assert_eq!(probe.next_due_ms, 60_000);
    }
}
