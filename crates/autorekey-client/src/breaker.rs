//! A circuit breaker for bulk reads: when the site stops answering, stop asking.
//!
//! Each request retries on its own under the [`super::RetryPolicy`] (8 attempts, 120 s). That
//! is right for a blip, and wrong when the site goes away mid-run: 2,000 rules would each
//! spend their own budget, for hours. The breaker is shared by every request of one bulk read
//! and watches *final* outcomes (after retries), so it trusts the retry policy to ride out
//! blips and only acts on requests that already gave up:
//!
//! - an answer that proves the site is alive (any 2xx, or a 4xx such as 404) resets it;
//! - throttling (429, or 503 with `Retry-After`) is neutral: the limiter and `Retry-After`
//!   deal with it, and a throttling site is up;
//! - a connection failure, time-out or 5xx *after its retries* is a "down" outcome.
//!
//! After one down outcome with no sign of life since, the breaker is *suspect*: other
//! requests stop retrying site-down failures (each further failure is final), and retry
//! sleeps are woken so they notice at once. After [`TRIP_AFTER`] down outcomes in a row the
//! breaker *opens*, for good: no new request is sent, sleeping retries stop, and every rule
//! not read is reported with [`FetchError::SiteUnavailable`].
//!
//! Why [`TRIP_AFTER`] is 3: one request that exhausted its retries can be one broken rule
//! (some rule bodies make the server answer 500 every time), and two can be two of them
//! finishing together; three in a row with not one success in between, each having failed at
//! least once, is a site that is down. It is small enough that the requests in flight when
//! the site dies (8 or 16 by default) trip it in a single wave. Worst case, see
//! [`super::AutomationClient::read_all_rules`].

use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::Notify;

use super::error::FetchError;

/// Down outcomes in a row (with no sign of life between) that open the breaker.
pub const TRIP_AFTER: u32 = 3;

/// How one request ended, as far as the breaker cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// The site answered something meaningful.
    Alive,
    /// Throttled: neither alive nor down.
    Neutral,
    /// Connection failure, time-out or 5xx after the retries allowed.
    Down,
}

impl Verdict {
    pub(crate) fn of<T>(result: &Result<T, FetchError>) -> Self {
        match result {
            Ok(_) => Verdict::Alive,
            Err(FetchError::RateLimited { .. }) => Verdict::Neutral,
            Err(err) if err.is_site_down() => Verdict::Down,
            Err(_) => Verdict::Alive,
        }
    }
}

#[derive(Debug, Default)]
pub(crate) struct CircuitBreaker {
    state: Mutex<State>,
    /// Woken when the breaker turns suspect or opens, so retry sleeps end early.
    changed: Notify,
}

#[derive(Debug, Default)]
struct State {
    down_in_a_row: u32,
    open: bool,
    /// What the last down outcome was, for the message.
    last_down: Option<String>,
}

impl CircuitBreaker {
    pub(crate) fn is_open(&self) -> bool {
        self.lock().open
    }

    /// Whether a request whose last attempt failed may try again. Throttled attempts may, until
    /// the breaker opens; site-down failures may only while nothing else has given up.
    pub(crate) fn may_retry(&self, throttled: bool) -> bool {
        let state = self.lock();
        !state.open && (throttled || state.down_in_a_row == 0)
    }

    /// Counts one request's final outcome; `error` describes a down outcome.
    pub(crate) fn record(&self, verdict: Verdict, error: Option<&FetchError>) {
        let mut state = self.lock();
        match verdict {
            Verdict::Alive if !state.open => state.down_in_a_row = 0,
            Verdict::Alive | Verdict::Neutral => {}
            Verdict::Down => {
                state.down_in_a_row += 1;
                if let Some(err) =
                    error.filter(|e| !matches!(e, FetchError::SiteUnavailable { .. }))
                {
                    state.last_down = Some(err.to_string());
                }
                let newly_open = !state.open && state.down_in_a_row >= TRIP_AFTER;
                state.open |= newly_open;
                if newly_open || state.down_in_a_row == 1 {
                    drop(state);
                    self.changed.notify_waiters();
                }
            }
        }
    }

    /// The error for a rule left unread because the breaker is open.
    pub(crate) fn unavailable(&self) -> FetchError {
        let last = self.lock().last_down.clone();
        FetchError::SiteUnavailable {
            last: last.unwrap_or_else(|| "no answer".into()),
        }
    }

    /// Sleeps `delay` before a retry, or less if the breaker turns suspect or opens meanwhile
    /// (the caller then asks [`Self::may_retry`] again).
    pub(crate) async fn sleep(&self, delay: Duration, throttled: bool) {
        let changed = self.changed.notified();
        tokio::pin!(changed);
        // Registered before looking, so a change between the look and the wait is not missed.
        changed.as_mut().enable();
        if delay.is_zero() || !self.may_retry(throttled) {
            return;
        }
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = changed => {}
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Every update is one step, so the state is consistent even after a holder panicked.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn down() -> FetchError {
        FetchError::Network("connection refused".into())
    }

    #[test]
    fn opens_after_trip_after_downs_in_a_row_and_stays_open() {
        let breaker = CircuitBreaker::default();
        for _ in 1..TRIP_AFTER {
            breaker.record(Verdict::Down, Some(&down()));
            assert!(!breaker.is_open());
        }
        breaker.record(Verdict::Down, Some(&down()));
        assert!(breaker.is_open());
        breaker.record(Verdict::Alive, None);
        assert!(breaker.is_open());
        assert!(!breaker.may_retry(true));
        let err = breaker.unavailable();
        assert!(err.to_string().contains("connection refused"), "{err}");
        assert!(err.to_string().contains("rerunning is safe"), "{err}");
    }

    #[test]
    fn a_sign_of_life_resets_and_throttling_is_neutral() {
        let breaker = CircuitBreaker::default();
        breaker.record(Verdict::Down, Some(&down()));
        assert!(!breaker.may_retry(false), "suspect: no more down retries");
        assert!(breaker.may_retry(true), "throttled retries go on");
        for _ in 0..10 {
            breaker.record(Verdict::Neutral, None);
        }
        breaker.record(Verdict::Alive, None);
        assert!(breaker.may_retry(false));
        for _ in 1..TRIP_AFTER {
            breaker.record(Verdict::Down, Some(&down()));
        }
        assert!(!breaker.is_open());
    }

    #[test]
    fn verdicts_follow_the_error_kind() {
        assert_eq!(Verdict::of::<()>(&Ok(())), Verdict::Alive);
        assert_eq!(
            Verdict::of::<()>(&Err(FetchError::RateLimited { attempts: 3 })),
            Verdict::Neutral
        );
        for err in [
            down(),
            FetchError::Timeout,
            FetchError::Server { status: 502 },
        ] {
            assert_eq!(Verdict::of::<()>(&Err(err)), Verdict::Down);
        }
        let missing = FetchError::NotFound {
            message: "x".into(),
        };
        assert_eq!(Verdict::of::<()>(&Err(missing)), Verdict::Alive);
    }

    #[tokio::test]
    async fn a_trip_wakes_a_retry_sleep() {
        let breaker = std::sync::Arc::new(CircuitBreaker::default());
        let sleeper = std::sync::Arc::clone(&breaker);
        let sleeping =
            tokio::spawn(async move { sleeper.sleep(Duration::from_secs(3600), false).await });
        tokio::task::yield_now().await;
        breaker.record(Verdict::Down, Some(&down()));
        // Completes only because the sleep was woken; the time-out only guards against a hang.
        tokio::time::timeout(Duration::from_secs(60), sleeping)
            .await
            .expect("the retry sleep was not woken")
            .unwrap();
    }
}
