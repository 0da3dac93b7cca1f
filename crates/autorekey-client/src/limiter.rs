//! Adaptive concurrency for every request of a client, reads and writes: AIMD, as TCP does it.
//!
//! Atlassian publishes no rate limits, so a fixed concurrency is either slow or rude. The
//! limiter starts at the configured maximum, halves on every throttling answer (429, or 503),
//! and grows by one after a full window of successes (as many as the current limit), never
//! past the maximum. Permits are taken per *attempt*, not per rule, so a request sleeping
//! before its retry does not count as in flight, and a retry waits for room like anyone else.
//!
//! A burst of 429s from requests that were all sent under the old limit must cut the limit
//! once, not once per answer (eight answers would take 8 to 1 at once). Each permit remembers
//! the limiter's epoch when it was taken; only a throttle seen by a request started after the
//! latest cut cuts again. No clocks are involved, so behaviour is the same on a slow CI box.
//!
//! This answers a limit on requests *in flight*. A limit on requests *per second* is the
//! [`super::pacer`]'s: an attempt takes room here first, then its turn there.

use std::sync::{Mutex, MutexGuard};

use tokio::sync::Notify;

/// What the limiter did during one bulk read, for a verbose summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConcurrencyStats {
    /// The configured maximum (and starting) concurrency.
    pub max: usize,
    /// The limit at the end.
    pub final_limit: usize,
    /// The lowest limit reached.
    pub lowest_limit: usize,
    /// How many times the limit was cut.
    pub cuts: u32,
}

/// One line for `-v`: what a person reads, not the struct.
impl std::fmt::Display for ConcurrencyStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let max = self.max;
        match self.cuts {
            0 => write!(f, "up to {max} requests at once, never cut"),
            cuts => write!(
                f,
                "up to {max} requests at once, cut {} to as low as {}, {} at the end",
                crate::words::count(cuts as usize, "time", "times"),
                self.lowest_limit,
                self.final_limit
            ),
        }
    }
}

#[derive(Debug)]
pub struct AdaptiveLimiter {
    max: usize,
    state: Mutex<State>,
    room: Notify,
}

#[derive(Debug)]
struct State {
    limit: usize,
    in_flight: usize,
    epoch: u64,
    successes: usize,
    lowest: usize,
    cuts: u32,
}

/// Room for one attempt. Report how it went with [`Permit::succeeded`] or
/// [`Permit::throttled`]; dropping it otherwise releases the room without a verdict.
#[must_use]
#[derive(Debug)]
pub struct Permit<'a> {
    limiter: &'a AdaptiveLimiter,
    epoch: u64,
}

impl AdaptiveLimiter {
    /// `max` below 1 is taken as 1.
    pub fn new(max: usize) -> Self {
        let max = max.max(1);
        AdaptiveLimiter {
            max,
            state: Mutex::new(State {
                limit: max,
                in_flight: 0,
                epoch: 0,
                successes: 0,
                lowest: max,
                cuts: 0,
            }),
            room: Notify::new(),
        }
    }

    /// Waits until fewer than `limit` attempts are in flight.
    pub async fn acquire(&self) -> Permit<'_> {
        loop {
            // Register interest before looking, so a release between the look and the wait
            // is not missed.
            let notified = self.room.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let mut state = self.lock();
                if state.in_flight < state.limit {
                    state.in_flight += 1;
                    return Permit {
                        limiter: self,
                        epoch: state.epoch,
                    };
                }
            }
            notified.await;
        }
    }

    pub fn limit(&self) -> usize {
        self.lock().limit
    }

    pub fn stats(&self) -> ConcurrencyStats {
        let state = self.lock();
        ConcurrencyStats {
            max: self.max,
            final_limit: state.limit,
            lowest_limit: state.lowest,
            cuts: state.cuts,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The state stays consistent even if a holder panicked: every update is one step.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn release(&self, epoch: u64, verdict: Option<bool>) {
        let mut state = self.lock();
        state.in_flight -= 1;
        match verdict {
            Some(true) => {
                state.successes += 1;
                if state.successes >= state.limit {
                    state.successes = 0;
                    state.limit = (state.limit + 1).min(self.max);
                }
            }
            Some(false) if epoch == state.epoch => {
                state.limit = (state.limit / 2).max(1);
                state.lowest = state.lowest.min(state.limit);
                state.epoch += 1;
                state.successes = 0;
                state.cuts += 1;
            }
            _ => {}
        }
        drop(state);
        self.room.notify_waiters();
    }
}

impl Permit<'_> {
    pub fn succeeded(self) {
        self.finish(Some(true));
    }

    pub fn throttled(self) {
        self.finish(Some(false));
    }

    fn finish(self, verdict: Option<bool>) {
        let this = std::mem::ManuallyDrop::new(self);
        this.limiter.release(this.epoch, verdict);
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        self.limiter.release(self.epoch, None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_burst_of_throttles_cuts_once() {
        let limiter = AdaptiveLimiter::new(8);
        let permits: Vec<_> = futures_join(&limiter, 8).await;
        for permit in permits {
            permit.throttled();
        }
        assert_eq!(limiter.limit(), 4);
        assert_eq!(limiter.stats().cuts, 1);
    }

    #[tokio::test]
    async fn throttles_after_a_cut_cut_again_down_to_one() {
        let limiter = AdaptiveLimiter::new(8);
        for expected in [4, 2, 1, 1] {
            limiter.acquire().await.throttled();
            assert_eq!(limiter.limit(), expected);
        }
        assert_eq!(limiter.stats().lowest_limit, 1);
    }

    #[tokio::test]
    async fn a_window_of_successes_adds_one_up_to_max() {
        let limiter = AdaptiveLimiter::new(4);
        limiter.acquire().await.throttled();
        assert_eq!(limiter.limit(), 2);
        for _ in 0..2 {
            limiter.acquire().await.succeeded();
        }
        assert_eq!(limiter.limit(), 3);
        for _ in 0..100 {
            limiter.acquire().await.succeeded();
        }
        assert_eq!(limiter.limit(), 4);
        assert_eq!(limiter.stats().final_limit, 4);
    }

    #[tokio::test]
    async fn acquire_waits_for_room() {
        let limiter = AdaptiveLimiter::new(1);
        let first = limiter.acquire().await;
        let mut second = Box::pin(limiter.acquire());
        assert!(futures_poll_once(second.as_mut()).await.is_none());
        drop(first);
        let _second = second.await;
        assert_eq!(limiter.lock().in_flight, 1);
    }

    async fn futures_join(limiter: &AdaptiveLimiter, n: usize) -> Vec<Permit<'_>> {
        let mut permits = Vec::new();
        for _ in 0..n {
            permits.push(limiter.acquire().await);
        }
        permits
    }

    /// Polls a future once: `Some` if it completed.
    async fn futures_poll_once<F: std::future::Future + Unpin>(fut: F) -> Option<F::Output> {
        let mut fut = fut;
        std::future::poll_fn(|cx| {
            std::task::Poll::Ready(match std::pin::Pin::new(&mut fut).poll(cx) {
                std::task::Poll::Ready(out) => Some(out),
                std::task::Poll::Pending => None,
            })
        })
        .await
    }
}
