//! Client-side rate limits: a token bucket.
//!
//! A bucket of `burst` tokens refilled at `rate` a second sends at most
//! `burst + rate × w` requests in any window of `w` seconds. [`RateLimit::Window`]
//! chooses `burst` and `rate` so that this is exactly the documented budget
//! for the vendor's window: a quarter of it may go at once, the rest is spread
//! over the window. Hand-written rather than `governor` (docs/performance.md:
//! 25 more crates, 14 s debug / 28 s release to build here, a timer thread of
//! its own, and a clock tokio's test time cannot drive).

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

/// How a client paces its requests.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RateLimit {
    /// No client-side limit.
    Unlimited,
    /// At most `requests` in any window of `window` (a quarter of them at once).
    Window {
        /// The budget for one window.
        requests: u32,
        /// The window.
        window: Duration,
    },
    /// Evenly spaced at `per_second`, no burst.
    Steady {
        /// Requests a second.
        per_second: f64,
    },
}

/// A client-side rate limit (token bucket).
#[derive(Debug)]
pub struct RateLimiter {
    /// Tokens a second; `None`: no limit.
    rate: Option<f64>,
    /// Bucket size.
    burst: f64,
    state: Mutex<Bucket>,
}

#[derive(Debug)]
struct Bucket {
    /// Available tokens; negative while callers wait for reserved ones.
    tokens: f64,
    at: Instant,
}

impl RateLimiter {
    /// A limiter for `limit`. Non-positive or non-finite rates, and an empty
    /// window, mean no limit (the schemas reject them).
    pub fn new(limit: RateLimit) -> Self {
        let (rate, burst) = match limit {
            RateLimit::Window { requests, window } if requests > 0 && !window.is_zero() => {
                let burst = (f64::from(requests) / 4.0).floor().max(1.0);
                let rate = (f64::from(requests) - burst) / window.as_secs_f64();
                // A budget of 1 leaves no refill within the window: one per window.
                let rate = if rate > 0.0 {
                    rate
                } else {
                    1.0 / window.as_secs_f64()
                };
                (Some(rate), burst)
            }
            RateLimit::Steady { per_second } if per_second.is_finite() && per_second > 0.0 => {
                (Some(per_second), 1.0)
            }
            _ => (None, 1.0),
        };
        Self {
            rate,
            burst,
            state: Mutex::new(Bucket {
                tokens: burst,
                at: Instant::now(),
            }),
        }
    }

    /// Requests that may go at once (the bucket size).
    pub fn burst(&self) -> f64 {
        self.burst
    }

    /// Tokens a second (`None`: no limit).
    pub fn rate(&self) -> Option<f64> {
        self.rate
    }

    /// Wait for this request's token. Waiters reserve their token at once, so
    /// they are served in the order they arrived.
    pub async fn acquire(&self) {
        let Some(rate) = self.rate else { return };
        let wait = {
            let mut b = self.state.lock().unwrap_or_else(PoisonError::into_inner);
            let now = Instant::now();
            let refill = now.saturating_duration_since(b.at).as_secs_f64() * rate;
            b.tokens = (b.tokens + refill).min(self.burst) - 1.0;
            b.at = now;
            if b.tokens >= 0.0 {
                Duration::ZERO
            } else {
                Duration::try_from_secs_f64(-b.tokens / rate).unwrap_or(Duration::MAX)
            }
        };
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const CLOUDFLARE: RateLimit = RateLimit::Window {
        requests: 1200,
        window: Duration::from_secs(300),
    };

    #[test]
    fn odd_limits_do_not_panic_and_mean_no_limit() {
        for r in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert_eq!(
                RateLimiter::new(RateLimit::Steady { per_second: r }).rate(),
                None
            );
        }
        let tiny = RateLimiter::new(RateLimit::Steady { per_second: 1e-300 });
        assert!(tiny.rate().is_some());
        let empty = RateLimit::Window {
            requests: 0,
            window: Duration::from_secs(1),
        };
        assert_eq!(RateLimiter::new(empty).rate(), None);
    }

    #[test]
    fn the_window_budget_is_burst_plus_refill() {
        let l = RateLimiter::new(CLOUDFLARE);
        assert_eq!(l.burst(), 300.0);
        assert_eq!(l.rate(), Some(3.0));
        let one = RateLimiter::new(RateLimit::Window {
            requests: 1,
            window: Duration::from_secs(10),
        });
        assert_eq!((one.burst(), one.rate()), (1.0, Some(0.1)));
    }

    /// Send times of `n` requests issued as fast as the limiter allows.
    async fn send_times(l: &RateLimiter, n: usize) -> Vec<Duration> {
        let start = Instant::now();
        let mut times = Vec::with_capacity(n);
        for _ in 0..n {
            l.acquire().await;
            times.push(start.elapsed());
        }
        times
    }

    #[tokio::test(start_paused = true)]
    async fn a_burst_goes_at_once_then_the_refill_rate_applies() {
        let l = RateLimiter::new(CLOUDFLARE);
        let t = send_times(&l, 303).await;
        assert_eq!(t[299], Duration::ZERO, "the first 300 wait for nothing");
        // Then one every third of a second.
        assert!(t[300] >= Duration::from_millis(333) && t[300] < Duration::from_millis(340));
        assert!(t[302] >= Duration::from_millis(999) && t[302] < Duration::from_millis(1010));
    }

    #[tokio::test(start_paused = true)]
    async fn no_window_ever_holds_more_than_the_budget() {
        let l = RateLimiter::new(CLOUDFLARE);
        // 2,400 requests back to back: with a 4-a-second refill and a bucket of
        // 1200 (the naive reading of "1200 per 5 minutes") the first window
        // would see 2400.
        let t = send_times(&l, 2400).await;
        let window = Duration::from_secs(300);
        let mut first = 0;
        for (last, &end) in t.iter().enumerate() {
            while end - t[first] >= window {
                first += 1;
            }
            assert!(
                last - first < 1200,
                "{} requests within 300 s",
                last - first + 1
            );
        }
        // And it is not stricter than needed: 2400 take 300 + 900 per window.
        assert!(t[2399] < Duration::from_secs(701), "{:?}", t[2399]);
    }

    #[tokio::test(start_paused = true)]
    async fn idle_time_refills_the_bucket_up_to_the_burst() {
        let l = RateLimiter::new(RateLimit::Window {
            requests: 40,
            window: Duration::from_secs(10),
        });
        assert_eq!(send_times(&l, 10).await[9], Duration::ZERO);
        tokio::time::sleep(Duration::from_secs(3600)).await;
        let t = send_times(&l, 11).await;
        assert_eq!(t[9], Duration::ZERO, "a full bucket again");
        assert!(t[10] > Duration::ZERO, "but no more than the burst");
    }

    #[tokio::test(start_paused = true)]
    async fn steady_spaces_requests_evenly() {
        let l = RateLimiter::new(RateLimit::Steady { per_second: 4.0 });
        let t = send_times(&l, 5).await;
        assert_eq!(t[0], Duration::ZERO);
        assert!(t[4] >= Duration::from_millis(1000) && t[4] < Duration::from_millis(1010));
    }

    #[tokio::test(start_paused = true)]
    async fn concurrent_waiters_each_get_their_own_slot() {
        let l = std::sync::Arc::new(RateLimiter::new(RateLimit::Steady { per_second: 10.0 }));
        let start = Instant::now();
        let tasks: Vec<_> = (0..5)
            .map(|_| {
                let l = l.clone();
                tokio::spawn(async move {
                    l.acquire().await;
                    start.elapsed()
                })
            })
            .collect();
        let mut done = Vec::new();
        for t in tasks {
            done.push(t.await.unwrap());
        }
        done.sort();
        assert!(done[4] >= Duration::from_millis(400), "{done:?}");
        assert!(done[1] >= Duration::from_millis(100), "{done:?}");
    }
}
