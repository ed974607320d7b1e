//! The one exponential back-off of keyward: how long work that failed waits before its next
//! attempt (an outbox message the SMTP server did not take, a rotation's directory step that
//! failed transiently).

use chrono::Duration;

/// `base · 2^(attempts−1)` seconds, at most `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The wait after the first failed attempt, in seconds.
    pub base_secs: u64,
    /// The longest wait, in seconds.
    pub max_secs: u64,
}

impl Backoff {
    /// The wait after `attempts` failed attempts (1 for the first failure; 0 counts as 1). The
    /// factor stops doubling after 20 attempts, and no arithmetic overflows or panics.
    pub fn after(self, attempts: u32) -> Duration {
        let factor = 1u64 << attempts.saturating_sub(1).min(20);
        let secs = self.base_secs.saturating_mul(factor).min(self.max_secs);
        // chrono's limit is i64::MAX milliseconds.
        let secs = i64::try_from(secs).map_or(i64::MAX / 1000, |s| s.min(i64::MAX / 1000));
        Duration::try_seconds(secs).unwrap_or(Duration::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wait_doubles_and_is_capped() {
        let b = Backoff {
            base_secs: 30,
            max_secs: 900,
        };
        let waits: Vec<i64> = [0, 1, 2, 3, 5, 6, 60, u32::MAX]
            .into_iter()
            .map(|n| b.after(n).num_seconds())
            .collect();
        assert_eq!(waits, [30, 30, 60, 120, 480, 900, 900, 900]);
    }

    #[test]
    fn the_cap_wins_even_over_the_first_wait() {
        let b = Backoff {
            base_secs: 7200,
            max_secs: 3600,
        };
        assert_eq!(b.after(1).num_seconds(), 3600);
    }

    #[test]
    fn huge_settings_saturate_instead_of_panicking() {
        let b = Backoff {
            base_secs: u64::MAX,
            max_secs: u64::MAX,
        };
        assert_eq!(b.after(30).num_seconds(), i64::MAX / 1000);
    }
}
