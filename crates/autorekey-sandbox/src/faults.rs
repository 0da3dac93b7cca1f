//! Load and fault knobs: latency, a token-bucket rate limit, injected 500/503 answers,
//! dropped connections and PUTs whose answer is lost.
//!
//! The rate limit is a request-rate limit, as Jira Cloud's burst limit is: a bucket of one
//! second's worth of tokens refilled continuously, a 429 with an integer-second
//! `Retry-After` when it is empty. Which answers carry `X-RateLimit-*` is a knob
//! ([`RateLimitHeaders`]): every answer (`Limit`, `Remaining`, and `NearLimit` under 20 %
//! left), only the 429s, as Jira Cloud does, or none (`Retry-After` alone), so a client
//! must learn the rate from the 429s themselves.
//!
//! All random draws come from one RNG seeded by the config, in a fixed order per request,
//! so a sequential client sees the same faults on every run with the same seed.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};

use super::{RateLimitHeaders, SandboxConfig};

/// What the fault layer decides for one request, before it is handled.
#[derive(Debug, PartialEq)]
pub(crate) enum Gate {
    /// Admitted; with the bucket's state when the answer is to carry it.
    Pass(Option<Budget>),
    RateLimited(RateLimited),
    Drop,
    ServerError(u16),
}

/// The bucket after admitting a request, for `X-RateLimit-*` on its answer.
#[derive(Debug, PartialEq)]
pub(crate) struct Budget {
    pub limit: u64,
    pub remaining: u64,
}

impl Budget {
    /// Atlassian's `X-RateLimit-NearLimit`: less than 20 % of the budget left.
    pub(crate) fn near_limit(&self) -> bool {
        self.remaining * 5 < self.limit
    }
}

/// Values for the 429 answer's headers.
#[derive(Debug, PartialEq)]
pub(crate) struct RateLimited {
    pub retry_after_secs: u64,
    /// `None` when no `X-RateLimit-*` header is to be sent at all.
    pub limit: Option<u64>,
}

struct Bucket {
    tokens: f64,
    last: Instant,
}

/// The fault knobs of a [`SandboxConfig`], with the RNG its seed starts and the bucket.
pub(crate) struct Faults {
    pub(crate) latency: Duration,
    rate_limit_per_sec: Option<f64>,
    rate_limit_headers: RateLimitHeaders,
    error_rate: f64,
    drop_rate: f64,
    lost_put_rate: f64,
    rng: Mutex<StdRng>,
    bucket: Mutex<Bucket>,
}

impl Faults {
    pub(crate) fn new(config: &SandboxConfig) -> Self {
        Faults {
            latency: config.latency,
            rate_limit_per_sec: config.rate_limit_per_sec,
            rate_limit_headers: config.rate_limit_headers,
            error_rate: config.error_rate,
            drop_rate: config.drop_rate,
            lost_put_rate: config.lost_put_rate,
            rng: Mutex::new(StdRng::seed_from_u64(config.seed)),
            bucket: Mutex::new(Bucket {
                tokens: burst(config.rate_limit_per_sec.unwrap_or(1.0)),
                last: Instant::now(),
            }),
        }
    }

    /// Rate limit first (a limited request is answered, not dropped), then drop, then
    /// server error.
    pub(crate) fn admit(&self) -> Gate {
        let budget = match self.take_token() {
            Ok(budget) => budget,
            Err(limited) => return Gate::RateLimited(limited),
        };
        if self.draw(self.drop_rate) {
            return Gate::Drop;
        }
        if self.draw(self.error_rate) {
            let status = if self.draw(0.5) { 503 } else { 500 };
            return Gate::ServerError(status);
        }
        Gate::Pass(budget.filter(|_| self.rate_limit_headers == RateLimitHeaders::Always))
    }

    /// Whether to drop the answer of a PUT that was just applied.
    pub(crate) fn lose_put(&self) -> bool {
        self.draw(self.lost_put_rate)
    }

    fn draw(&self, rate: f64) -> bool {
        // No draw for a zero rate keeps the sequence of one knob independent of the others'
        // being switched on.
        rate > 0.0
            && self
                .rng
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .gen::<f64>()
                < rate
    }

    /// A token for this request (`Ok`, with the bucket's state when there is a limit), or
    /// the 429 to answer.
    fn take_token(&self) -> Result<Option<Budget>, RateLimited> {
        let Some(rate) = self.rate_limit_per_sec else {
            return Ok(None);
        };
        let mut bucket = self.bucket.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let refill = now.duration_since(bucket.last).as_secs_f64() * rate;
        bucket.tokens = (bucket.tokens + refill).min(burst(rate));
        bucket.last = now;
        let limit = burst(rate).ceil() as u64;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            return Ok(Some(Budget {
                limit,
                remaining: bucket.tokens.floor() as u64,
            }));
        }
        let wait = (1.0 - bucket.tokens) / rate;
        Err(RateLimited {
            retry_after_secs: (wait.ceil() as u64).max(1),
            limit: (self.rate_limit_headers != RateLimitHeaders::Never).then_some(limit),
        })
    }
}

/// Bucket capacity: one second's worth of requests, at least one.
fn burst(rate: f64) -> f64 {
    rate.max(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_faults() {
        let config = SandboxConfig {
            error_rate: 0.3,
            drop_rate: 0.2,
            seed: 7,
            ..SandboxConfig::default()
        };
        let run = || {
            let f = Faults::new(&config);
            (0..50).map(|_| f.admit()).collect::<Vec<_>>()
        };
        let first = run();
        assert_eq!(first, run());
        assert!(first.contains(&Gate::Drop) && first.contains(&Gate::Pass(None)));
    }

    #[test]
    fn bucket_refuses_beyond_burst() {
        let f = Faults::new(&SandboxConfig {
            rate_limit_per_sec: Some(0.01),
            ..SandboxConfig::default()
        });
        assert_eq!(
            f.admit(),
            Gate::Pass(Some(Budget {
                limit: 1,
                remaining: 0
            }))
        );
        match f.admit() {
            Gate::RateLimited(r) => assert!(r.retry_after_secs >= 1 && r.limit == Some(1)),
            other => panic!("expected a 429, got {other:?}"),
        }
    }

    #[test]
    fn jira_style_headers_leave_admitted_answers_bare() {
        let f = Faults::new(&SandboxConfig {
            rate_limit_per_sec: Some(10.0),
            rate_limit_headers: RateLimitHeaders::On429,
            ..SandboxConfig::default()
        });
        assert_eq!(f.admit(), Gate::Pass(None));
        let f = Faults::new(&SandboxConfig {
            rate_limit_per_sec: Some(10.0),
            ..SandboxConfig::default()
        });
        let Gate::Pass(Some(budget)) = f.admit() else {
            panic!("the budget goes on every answer by default")
        };
        assert_eq!((budget.limit, budget.remaining), (10, 9));
        assert!(!budget.near_limit());
        let last = (0..8).map(|_| f.admit()).last().unwrap();
        assert!(matches!(last, Gate::Pass(Some(b)) if b.remaining == 1 && b.near_limit()));
    }
}
