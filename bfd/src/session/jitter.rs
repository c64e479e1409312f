//! The transmit jitter of RFC 5880 §6.8.7, from a seeded generator the session owns
//! (no global RNG, so simulations are exactly repeatable).

use std::time::Duration;

/// SplitMix64: small, fast, and good enough to spread transmit times.
#[derive(Clone, Debug)]
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// `interval` reduced by 0–25 % (§6.8.7), or by 10–25 % when `detect_mult` is 1 so
    /// that no interval exceeds 90 % of the nominal one.
    pub(crate) fn jittered(&mut self, interval: Duration, detect_mult: u8) -> Duration {
        let (lo, hi) = if detect_mult == 1 {
            (75u64, 90u64)
        } else {
            (75u64, 100u64)
        };
        // A fraction in [lo, hi] per mille resolution: 750..=1000 (or ..=900).
        let span = (hi - lo) * 10 + 1;
        let permille = lo * 10 + self.next_u64() % span;
        let nanos = interval.as_nanos() * permille as u128 / 1000;
        Duration::from_nanos(nanos.min(u64::MAX as u128) as u64)
    }
}
