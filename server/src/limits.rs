//! The limits that keep one client from hurting the others: frame size,
//! message rate, connection count, idle time, and how far a slow reader may
//! fall behind.

use std::time::{Duration, Instant};

/// Every per-connection and per-process limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Largest accepted text frame, in bytes. Bigger frames are answered
    /// with `too-large` and dropped.
    pub max_message_bytes: usize,
    /// Sustained messages per second a connection may send.
    pub messages_per_second: u32,
    /// How many messages a connection may send in a burst.
    pub burst: u32,
    /// Open WebSocket connections per process; more get `server-full`.
    pub max_connections: usize,
    /// A connection silent this long (no frame, no pong) is closed.
    pub idle_timeout: Duration,
    /// How often the server pings each connection.
    pub ping_interval: Duration,
    /// Frames queued for one connection before it counts as too slow to
    /// keep and is closed.
    pub outbox_frames: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_message_bytes: 64 * 1024,
            // An ICE restart in a room of 6 sends an offer and ~10
            // candidates to each of 5 peers: 55 messages in a moment.
            messages_per_second: 50,
            burst: 100,
            max_connections: 10_000,
            idle_timeout: Duration::from_secs(60),
            ping_interval: Duration::from_secs(20),
            outbox_frames: 512,
        }
    }
}

/// A token bucket: `burst` tokens, refilled at `rate` per second.
#[derive(Debug, Clone)]
pub struct RateLimiter {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl RateLimiter {
    /// A full bucket.
    pub fn new(rate: u32, burst: u32, now: Instant) -> Self {
        Self {
            rate: f64::from(rate),
            burst: f64::from(burst.max(1)),
            tokens: f64::from(burst.max(1)),
            last: now,
        }
    }

    /// Takes one token if there is one.
    pub fn allow(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_passes_then_the_rate_holds() {
        let start = Instant::now();
        let mut limiter = RateLimiter::new(10, 5, start);
        assert_eq!((0..8).filter(|_| limiter.allow(start)).count(), 5);
        // 0.5 s refills 5 tokens.
        let later = start + Duration::from_millis(500);
        assert_eq!((0..8).filter(|_| limiter.allow(later)).count(), 5);
        // Idle time never stores more than the burst.
        let much_later = later + Duration::from_secs(60);
        assert_eq!((0..20).filter(|_| limiter.allow(much_later)).count(), 5);
    }
}
