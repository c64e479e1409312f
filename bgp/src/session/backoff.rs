//! ConnectRetry back-off: exponential in the number of consecutive failures, jittered
//! (RFC 4271 §10: multiply by a random factor in [0.75, 1]) from a seeded generator.

use std::time::Duration;

/// Most doublings of the base interval (16×).
const MAX_DOUBLINGS: u32 = 4;
/// Longest delay ever returned, whatever the base: deadlines are `now + delay`, which
/// must not overflow (the node config limits connectRetryTime to 1 h; this is the
/// session's own guard).
pub const MAX_DELAY: Duration = Duration::from_secs(24 * 3600);

/// SplitMix64: a tiny deterministic generator, good enough for timer jitter.
#[derive(Debug, Clone)]
pub struct Jitter(u64);

impl Jitter {
    /// A generator from `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// `base × 2^min(failures, 4)`, at most `MAX_DELAY` (24 hours), times a factor in
    /// [0.75, 1].
    pub fn backoff(&mut self, base: Duration, failures: u32) -> Duration {
        let full = base
            .saturating_mul(1 << failures.min(MAX_DOUBLINGS))
            .min(MAX_DELAY);
        // 53 random bits → [0, 1).
        let unit = (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        full.mul_f64(0.75 + 0.25 * unit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_within_jitter_and_caps() {
        let base = Duration::from_secs(4);
        let mut j = Jitter::new(7);
        for failures in 0..8 {
            let d = j.backoff(base, failures);
            let full = base * (1 << failures.min(4));
            assert!(d <= full && d >= full.mul_f64(0.75), "{failures}: {d:?}");
        }
    }

    #[test]
    fn huge_base_is_capped_not_a_panic() {
        let mut j = Jitter::new(3);
        for failures in [0, 1, 9] {
            let d = j.backoff(Duration::from_secs(u64::MAX), failures);
            assert!(d <= MAX_DELAY && d >= MAX_DELAY.mul_f64(0.75), "{d:?}");
            assert!(std::time::Instant::now().checked_add(d).is_some());
        }
    }

    #[test]
    fn same_seed_same_delays_other_seed_differs() {
        let base = Duration::from_secs(10);
        let a: Vec<_> = (0..5)
            .map({
                let mut j = Jitter::new(1);
                move |n| j.backoff(base, n)
            })
            .collect();
        let b: Vec<_> = (0..5)
            .map({
                let mut j = Jitter::new(1);
                move |n| j.backoff(base, n)
            })
            .collect();
        let c: Vec<_> = (0..5)
            .map({
                let mut j = Jitter::new(2);
                move |n| j.backoff(base, n)
            })
            .collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }
}
