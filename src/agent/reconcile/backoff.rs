//! The kubelet's restart back-off: the first restart is immediate, then 10 s, 20 s, 40 s … up
//! to 5 min between a crash and the next start; a container that ran for 10 min (twice the cap)
//! starts over from nothing.

pub const INITIAL_MS: u64 = 10_000;
pub const MAX_MS: u64 = 300_000;
/// A back-off untouched for this long is forgotten (the kubelet's 2 × max).
pub const RESET_AFTER_MS: u64 = 2 * MAX_MS;

/// One container's back-off. Times are wall-clock milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Backoff {
    /// 0 until the first restart.
    delay_ms: u64,
    last_update_ms: u64,
}

impl Backoff {
    fn expired(&self, at_ms: u64) -> bool {
        self.delay_ms == 0 || at_ms.saturating_sub(self.last_update_ms) > RESET_AFTER_MS
    }

    /// When a container that finished at `finished_at_ms` may start again.
    pub fn restart_at(&self, finished_at_ms: u64) -> u64 {
        if self.expired(finished_at_ms) {
            finished_at_ms
        } else {
            finished_at_ms + self.delay_ms
        }
    }

    /// The delay the next crash will wait, for messages ("back-off 20s").
    pub fn current_delay_ms(&self) -> u64 {
        self.delay_ms
    }

    /// Records a restart at `now_ms`.
    pub fn restarted(&mut self, now_ms: u64) {
        self.delay_ms = if self.expired(now_ms) {
            INITIAL_MS
        } else {
            (self.delay_ms * 2).min(MAX_MS)
        };
        self.last_update_ms = now_ms;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restarts_wait_zero_then_ten_twenty_forty_seconds_up_to_five_minutes() {
        let mut backoff = Backoff::default();
        let mut now = 1_000_000;
        let mut waits = Vec::new();
        for _ in 0..8 {
            let start = backoff.restart_at(now);
            waits.push((start - now) / 1000);
            backoff.restarted(start);
            now = start + 1_000; // crashes one second after each start
        }
        assert_eq!(waits, vec![0, 10, 20, 40, 80, 160, 300, 300]);
    }

    #[test]
    fn ten_minutes_of_running_resets_the_back_off() {
        let mut backoff = Backoff::default();
        backoff.restarted(0);
        backoff.restarted(10_000);
        assert_eq!(backoff.restart_at(20_000), 40_000);
        let after_long_run = 10_000 + RESET_AFTER_MS + 1;
        assert_eq!(backoff.restart_at(after_long_run), after_long_run);
        backoff.restarted(after_long_run);
        assert_eq!(backoff.current_delay_ms(), INITIAL_MS);
    }
}
