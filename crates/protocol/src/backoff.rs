//! Reconnect delays: exponential backoff with jitter.
//!
//! After a server restart every client reconnects at once. Jitter spreads
//! them out so the new process is not hit by all of them in the same
//! millisecond, and the exponential growth stops a client hammering a
//! server that stays down.

/// Exponential backoff with "equal jitter": each delay is half the
/// exponential step plus a random share of the other half.
#[derive(Debug, Clone, PartialEq)]
pub struct Backoff {
    /// The first delay's upper bound, in milliseconds.
    pub initial_ms: u32,
    /// No delay exceeds this, in milliseconds.
    pub max_ms: u32,
    /// Growth per failed attempt.
    pub factor: f64,
    attempt: u32,
}

impl Default for Backoff {
    fn default() -> Self {
        Self::new(250, 10_000)
    }
}

impl Backoff {
    /// A backoff growing from `initial_ms` to `max_ms`, doubling each time.
    pub fn new(initial_ms: u32, max_ms: u32) -> Self {
        Self {
            initial_ms,
            max_ms: max_ms.max(initial_ms),
            factor: 2.0,
            attempt: 0,
        }
    }

    /// How many delays were handed out since the last reset.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// The next delay. `random` is a uniform draw from `[0, 1)`; it is a
    /// parameter so the library can use `Math.random` and tests a fixed
    /// value.
    pub fn next_delay_ms(&mut self, random: f64) -> u32 {
        let step = f64::from(self.initial_ms) * self.factor.powi(self.attempt.min(30) as i32);
        let step = step.min(f64::from(self.max_ms));
        self.attempt = self.attempt.saturating_add(1);
        let random = if random.is_finite() {
            random.clamp(0.0, 1.0)
        } else {
            0.5
        };
        (step / 2.0 + step / 2.0 * random).round() as u32
    }

    /// Starts over after a connection that worked.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_exponentially_and_cap() {
        let mut b = Backoff::new(100, 1000);
        let highs: Vec<u32> = (0..6).map(|_| b.next_delay_ms(1.0)).collect();
        assert_eq!(highs, vec![100, 200, 400, 800, 1000, 1000]);
        b.reset();
        let lows: Vec<u32> = (0..4).map(|_| b.next_delay_ms(0.0)).collect();
        assert_eq!(lows, vec![50, 100, 200, 400]);
    }

    #[test]
    fn jitter_stays_within_the_step_and_bad_randoms_are_tamed() {
        let mut b = Backoff::new(1000, 1000);
        for r in [0.0, 0.3, 0.99, -5.0, 7.0, f64::NAN] {
            let d = b.next_delay_ms(r);
            assert!((500..=1000).contains(&d), "{r} gave {d}");
        }
    }
}
