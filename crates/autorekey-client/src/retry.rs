//! The retry strategy: which answers and which transport errors are worth another attempt,
//! how long to wait, and when to give up.
//!
//! Modelled on uv's `uv-client`: a named policy value instead of retry loops scattered over
//! call sites, a classification of transport errors by walking the error's cause chain (connect
//! failures, time-outs, "connection closed before message completed", resets), full-jitter
//! exponential backoff, `Retry-After` honoured, and an environment switch that removes every
//! sleep in tests (`AUTOREKEY_NO_RETRY_DELAY=1`, like `UV_TEST_NO_HTTP_RETRY_DELAY`).
//!
//! A throttled answer without a usable `Retry-After` (Jira does not always send one,
//! JRACLOUD-82801) backs off exponentially with a floor of half the ceiling, and not before
//! an `X-RateLimit-Reset` still ahead: that reset is cut to the minute and often already
//! past when read, and a past reset is no reason to try again at once. The announced
//! `Beta-Retry-After` / `X-Beta-RateLimit-*` headers stand in for the standard ones when
//! only they are sent.
//!
//! Two limits bound a retry sequence: a number of attempts and a total time budget, so a
//! throttled run fails with a clear message instead of sleeping for an hour. Whether a given
//! request *may* be retried at all (a 401, a PUT whose answer was lost) is decided by the
//! client, which knows the request's side effects; this module only knows the network.
//!
//! Why not `backon` or `reqwest-retry`: both drive a retry loop around a request and offer
//! exponential backoff with jitter, which is the smallest part of this module. What is
//! Atlassian's here is the wait itself (`Retry-After` and `Beta-Retry-After` exactly, a
//! throttle's floor of half the ceiling, a `X-RateLimit-Reset` still ahead, a budget that a
//! long `Retry-After` ends at once rather than after a sleep), and the loop is not ours
//! alone: each attempt takes a permit from the limiter and a turn from the pacer, the circuit
//! breaker sleeps for it, and a PUT whose answer was lost is never repeated. `reqwest-retry`
//! is middleware for `reqwest-middleware`, which this client does not use; `backon` would
//! replace the thirty lines of `RetryState` and keep every rule above as an adjustment of
//! its delays. The strategy stays a named policy value, tested against local servers.

use std::error::Error as _;
use std::io;
use std::time::{Duration, Instant, SystemTime};

use rand::Rng as _;
use reqwest::header::{HeaderMap, RETRY_AFTER};

/// Set to `1` (or `true`) to remove every backoff sleep, for tests.
pub const NO_RETRY_DELAY_ENV: &str = "AUTOREKEY_NO_RETRY_DELAY";

/// How the client retries. Build with [`RetryPolicy::default`] and adjust fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Statuses that mean "try again later" for a request that is safe to repeat.
    pub retry_statuses: Vec<u16>,
    /// Attempts in total, the first one included.
    pub max_attempts: u32,
    /// Time from the first attempt after which no further attempt starts (sleeps included).
    pub total_budget: Duration,
    /// First backoff ceiling; doubles per attempt up to `max_delay`.
    pub base_delay: Duration,
    pub max_delay: Duration,
    /// Never sleep, not even for `Retry-After` (tests only; see [`Self::no_delay_from_env`]).
    pub no_delay: bool,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            retry_statuses: vec![429, 500, 502, 503, 504],
            max_attempts: 8,
            total_budget: Duration::from_secs(120),
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
            no_delay: false,
        }
    }
}

impl RetryPolicy {
    /// A policy without sleeps, for tests that script failures.
    pub fn without_delays(self) -> Self {
        RetryPolicy {
            no_delay: true,
            ..self
        }
    }

    /// For the first contact with a site: a site that does not answer it is far more often
    /// a wrong address (or a sandbox not started) than a passing blip, so the admin should
    /// hear within seconds, not after the full budget.
    pub fn first_contact(self) -> Self {
        RetryPolicy {
            max_attempts: self.max_attempts.min(3),
            total_budget: self.total_budget.min(Duration::from_secs(10)),
            max_delay: self.max_delay.min(Duration::from_secs(2)),
            ..self
        }
    }

    /// Applies [`NO_RETRY_DELAY_ENV`]: when set to `1`/`true`, removes every sleep.
    pub fn no_delay_from_env(self) -> Self {
        if switch_is_on(std::env::var(NO_RETRY_DELAY_ENV).ok().as_deref()) {
            self.without_delays()
        } else {
            self
        }
    }

    /// The wait before attempt `attempt + 1`, after `attempt` failed ones (1-based), for what
    /// the failed answer said (see [`Wait`]).
    ///
    /// A server's `Retry-After` wins: the wait is exactly what it asked for. Otherwise full
    /// jitter: uniform in `[0, min(max_delay, base_delay * 2^(attempt-1))]`, which spreads
    /// concurrent retries apart better than a fixed schedule.
    pub fn wait_for(&self, attempt: u32, wait: Wait) -> Duration {
        if self.no_delay {
            return Duration::ZERO;
        }
        let ceiling = self.ceiling(attempt);
        match wait {
            Wait::Asked(wait) => wait,
            Wait::Backoff if ceiling.is_zero() => Duration::ZERO,
            Wait::Backoff => rand::thread_rng().gen_range(Duration::ZERO..=ceiling),
            Wait::Throttled { not_before } => {
                let floor = ceiling / 2;
                let backoff = match floor < ceiling {
                    true => rand::thread_rng().gen_range(floor..=ceiling),
                    false => ceiling,
                };
                backoff.max(not_before.unwrap_or(Duration::ZERO))
            }
        }
    }

    /// `min(max_delay, base_delay * 2^(attempt-1))`.
    fn ceiling(&self, attempt: u32) -> Duration {
        self.base_delay
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(20))
            .min(self.max_delay)
    }

    /// Transport errors that are worth another attempt of a request that is safe to repeat:
    /// connect failures, time-outs, a connection closed before the answer was complete, and
    /// reset/aborted/broken connections anywhere in the cause chain.
    pub fn is_retryable_error(err: &reqwest::Error) -> bool {
        if err.is_connect() || err.is_timeout() {
            return true;
        }
        let mut source = err.source();
        while let Some(cause) = source {
            if let Some(hyper_err) = cause.downcast_ref::<hyper::Error>() {
                if hyper_err.is_incomplete_message() || hyper_err.is_closed() {
                    return true;
                }
            }
            if let Some(io_err) = cause.downcast_ref::<io::Error>() {
                if is_transient_io(io_err.kind()) {
                    return true;
                }
            }
            source = cause.source();
        }
        false
    }
}

/// What a failed answer says about when to try again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wait {
    /// Nothing (a 5xx, a dropped connection): full-jitter backoff.
    Backoff,
    /// The server asked to slow down without a usable `Retry-After`: exponential backoff
    /// with a floor of half its ceiling (a throttled site needs the time, and full jitter's
    /// near-zero draws would spend the attempts in seconds), and not before `not_before`, an
    /// `X-RateLimit-Reset` still ahead.
    Throttled { not_before: Option<Duration> },
    /// Exactly this long: the server's `Retry-After` (or `Beta-Retry-After`).
    Asked(Duration),
}

fn switch_is_on(value: Option<&str>) -> bool {
    value.is_some_and(|v| v.trim() == "1" || v.trim().eq_ignore_ascii_case("true"))
}

fn is_transient_io(kind: io::ErrorKind) -> bool {
    matches!(
        kind,
        io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::UnexpectedEof
            | io::ErrorKind::TimedOut
    )
}

/// `Retry-After` as a duration: delta-seconds (fractions tolerated) or an HTTP-date, which
/// counts from now and is zero if already past. Without a readable one, the announced
/// `Beta-Retry-After` in its place.
pub fn parse_retry_after(headers: &HeaderMap) -> Option<Duration> {
    retry_after_in(headers, RETRY_AFTER.as_str())
        .or_else(|| retry_after_in(headers, "beta-retry-after"))
}

fn retry_after_in(headers: &HeaderMap, name: &str) -> Option<Duration> {
    let text = headers.get(name)?.to_str().ok()?.trim();
    if let Ok(secs) = text.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs.min(1e7)));
    }
    let at = http_date(text)?;
    let from_now = at.duration_since(jiff::Timestamp::now());
    Some(Duration::try_from(from_now).unwrap_or(Duration::ZERO))
}

/// An HTTP-date, in the three forms RFC 9110 says a recipient must read: the IMF-fixdate
/// (`Sun, 06 Nov 1994 08:49:37 GMT`, a form of RFC 2822's), and the obsolete RFC 850
/// (`Sunday, 06-Nov-94 08:49:37 GMT`) and asctime (`Sun Nov  6 08:49:37 1994`) forms, UTC.
fn http_date(text: &str) -> Option<jiff::Timestamp> {
    if let Ok(at) = jiff::fmt::rfc2822::DateTimeParser::new().parse_timestamp(text) {
        return Some(at);
    }
    ["%A, %d-%b-%y %H:%M:%S GMT", "%a %b %e %H:%M:%S %Y"]
        .iter()
        .find_map(|form| jiff::civil::DateTime::strptime(form, text).ok())
        .and_then(|civil| civil.to_zoned(jiff::tz::TimeZone::UTC).ok())
        .map(|zoned| zoned.timestamp())
}

/// An ISO-8601 UTC instant as Atlassian sends `X-RateLimit-Reset`: `2025-04-02T04:42Z`
/// (minutes, as documented), `2025-04-02T04:42:44Z`, with a fraction of a second, or with a
/// numeric offset (`+02:00`, `+0200`: two hours, not two hundred) instead of `Z`, read by
/// `jiff`. `None` for anything else, and for an instant before 1970.
pub fn parse_iso8601(text: &str) -> Option<SystemTime> {
    let at = text.trim().parse::<jiff::Timestamp>().ok()?;
    let since = Duration::try_from(at.duration_since(jiff::Timestamp::UNIX_EPOCH)).ok()?;
    Some(SystemTime::UNIX_EPOCH + since)
}

/// One sequence of attempts for one request, under a [`RetryPolicy`].
#[derive(Debug)]
pub(crate) struct RetryState<'p> {
    policy: &'p RetryPolicy,
    attempts: u32,
    started: Instant,
}

impl<'p> RetryState<'p> {
    pub(crate) fn new(policy: &'p RetryPolicy) -> Self {
        RetryState {
            policy,
            attempts: 0,
            started: Instant::now(),
        }
    }

    /// Counts an attempt about to be made.
    pub(crate) fn begin_attempt(&mut self) {
        self.attempts += 1;
    }

    pub(crate) fn attempts(&self) -> u32 {
        self.attempts
    }

    /// After a failed attempt: the wait before the next one, or `None` when the attempts or the
    /// time budget are spent (including a `Retry-After` that reaches past the budget: better to
    /// stop now with a clear message than to sleep and fail anyway).
    pub(crate) fn next_delay(&self, wait: Wait) -> Option<Duration> {
        if self.attempts >= self.policy.max_attempts.max(1) {
            return None;
        }
        let delay = self.policy.wait_for(self.attempts, wait);
        let elapsed = self.started.elapsed();
        (elapsed.saturating_add(delay) <= self.policy.total_budget).then_some(delay)
    }
}

/// The `X-RateLimit-*` headers Jira Cloud may send, for logging and for pacing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RateLimitInfo {
    pub limit: Option<u64>,
    pub remaining: Option<u64>,
    /// ISO-8601, as sent.
    pub reset: Option<String>,
    /// How long from now until `reset`; `None` when it is past (cut to the minute, it
    /// often is: no wait to honour) or unreadable.
    pub reset_in: Option<Duration>,
    pub near_limit: bool,
    /// `RateLimit-Reason`, e.g. which quota was hit.
    pub reason: Option<String>,
    pub retry_after: Option<Duration>,
}

impl RateLimitInfo {
    /// `None` when the answer carries none of these headers. Each `X-RateLimit-*` header
    /// falls back to its announced `X-Beta-RateLimit-*` twin when only that one is sent.
    pub fn from_headers(headers: &HeaderMap) -> Option<Self> {
        let text = |name: &str| {
            [format!("x-{name}"), format!("x-beta-{name}")]
                .iter()
                .find_map(|n| headers.get(n.as_str()).and_then(|v| v.to_str().ok()))
                .map(|s| s.trim().to_owned())
        };
        let number = |name: &str| text(name).and_then(|s| s.parse().ok());
        let reset = text("ratelimit-reset");
        let reset_in = reset
            .as_deref()
            .and_then(parse_iso8601)
            .and_then(|at| at.duration_since(SystemTime::now()).ok());
        let info = RateLimitInfo {
            limit: number("ratelimit-limit"),
            remaining: number("ratelimit-remaining"),
            reset,
            reset_in,
            near_limit: text("ratelimit-nearlimit").is_some_and(|s| s == "true"),
            reason: headers
                .get("ratelimit-reason")
                .and_then(|v| v.to_str().ok())
                .map(|s| s.trim().to_owned()),
            retry_after: parse_retry_after(headers),
        };
        (info != RateLimitInfo::default()).then_some(info)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_contact_is_short_but_keeps_the_rest() {
        let p = RetryPolicy::default().first_contact();
        assert_eq!(p.max_attempts, 3);
        assert!(p.total_budget <= Duration::from_secs(10));
        assert!(p.max_delay <= Duration::from_secs(2));
        assert_eq!(p.retry_statuses, RetryPolicy::default().retry_statuses);
    }
    use reqwest::header::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn full_jitter_stays_within_the_exponential_ceiling() {
        let policy = RetryPolicy {
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(1000),
            ..RetryPolicy::default()
        };
        for attempt in 1..=10u32 {
            let ceiling = Duration::from_millis((100u64 << (attempt - 1)).min(1000));
            for _ in 0..200 {
                let d = policy.wait_for(attempt, Wait::Backoff);
                assert!(d <= ceiling, "attempt {attempt}: {d:?} > {ceiling:?}");
            }
        }
        // Jitter actually varies (200 draws from [0, 1s] are not all equal).
        let draws: std::collections::HashSet<_> = (0..200)
            .map(|_| policy.wait_for(5, Wait::Backoff))
            .collect();
        assert!(draws.len() > 1);
    }

    #[test]
    fn huge_attempt_numbers_do_not_overflow() {
        let policy = RetryPolicy::default();
        assert!(policy.wait_for(u32::MAX, Wait::Backoff) <= policy.max_delay);
    }

    #[test]
    fn retry_after_is_honoured_exactly_unless_delays_are_off() {
        let policy = RetryPolicy::default();
        let asked = Wait::Asked(Duration::from_secs(7));
        assert_eq!(policy.wait_for(1, asked), Duration::from_secs(7));
        assert_eq!(
            policy.clone().without_delays().wait_for(1, asked),
            Duration::ZERO
        );
        assert_eq!(
            policy.without_delays().wait_for(3, Wait::Backoff),
            Duration::ZERO
        );
    }

    #[test]
    fn retry_after_parses_seconds_and_http_dates() {
        assert_eq!(
            parse_retry_after(&headers(&[("retry-after", "12")])),
            Some(Duration::from_secs(12))
        );
        assert_eq!(
            parse_retry_after(&headers(&[("retry-after", "1.5")])),
            Some(Duration::from_millis(1500))
        );
        let soon = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(60);
        let date = jiff::fmt::rfc2822::DateTimePrinter::new()
            .timestamp_to_rfc9110_string(&soon)
            .unwrap();
        let wait = parse_retry_after(&headers(&[("retry-after", &date)])).unwrap();
        assert!(wait > Duration::from_secs(50) && wait <= Duration::from_secs(60));
        let past = parse_retry_after(&headers(&[(
            "retry-after",
            "Sun, 06 Nov 1994 08:49:37 GMT",
        )]));
        assert_eq!(past, Some(Duration::ZERO));
        // The two obsolete forms RFC 9110 still asks recipients to read.
        for old in ["Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994"] {
            let at = http_date(old).map(|t| t.as_second());
            assert_eq!(at, Some(784_111_777), "{old}");
        }
        assert_eq!(
            parse_retry_after(&headers(&[("retry-after", "soon")])),
            None
        );
        assert_eq!(parse_retry_after(&headers(&[("retry-after", "-3")])), None);
        assert_eq!(parse_retry_after(&HeaderMap::new()), None);
    }

    #[test]
    fn state_stops_at_max_attempts_and_at_the_budget() {
        let policy = RetryPolicy {
            max_attempts: 3,
            ..RetryPolicy::default()
        }
        .without_delays();
        let mut state = RetryState::new(&policy);
        state.begin_attempt();
        assert_eq!(state.next_delay(Wait::Backoff), Some(Duration::ZERO));
        state.begin_attempt();
        assert!(state.next_delay(Wait::Backoff).is_some());
        state.begin_attempt();
        assert_eq!(state.next_delay(Wait::Backoff), None);

        let patient = RetryPolicy {
            total_budget: Duration::from_secs(10),
            ..RetryPolicy::default()
        };
        let mut state = RetryState::new(&patient);
        state.begin_attempt();
        assert_eq!(
            state.next_delay(Wait::Asked(Duration::from_secs(3600))),
            None
        );
        assert_eq!(
            state.next_delay(Wait::Asked(Duration::from_secs(2))),
            Some(Duration::from_secs(2))
        );
    }

    #[test]
    fn env_switch_accepts_one_and_true_only() {
        assert!(switch_is_on(Some("1")));
        assert!(switch_is_on(Some("TRUE")));
        assert!(!switch_is_on(Some("0")));
        assert!(!switch_is_on(Some("")));
        assert!(!switch_is_on(None));
    }

    #[test]
    fn rate_limit_headers_are_collected() {
        let info = RateLimitInfo::from_headers(&headers(&[
            ("x-ratelimit-limit", "100"),
            ("x-ratelimit-remaining", "0"),
            ("x-ratelimit-reset", "2025-01-01T00:00:00Z"),
            ("x-ratelimit-nearlimit", "true"),
            ("ratelimit-reason", "jira-quota-tenant-based"),
            ("retry-after", "5"),
        ]))
        .unwrap();
        assert_eq!(info.limit, Some(100));
        assert_eq!(info.remaining, Some(0));
        assert!(info.near_limit);
        assert_eq!(info.reason.as_deref(), Some("jira-quota-tenant-based"));
        assert_eq!(info.retry_after, Some(Duration::from_secs(5)));
        assert_eq!(info.reset_in, None, "a reset in the past is no wait");
        assert_eq!(RateLimitInfo::from_headers(&HeaderMap::new()), None);
    }

    #[test]
    fn beta_rate_limit_headers_stand_in_for_missing_standard_ones() {
        let info = RateLimitInfo::from_headers(&headers(&[
            ("x-beta-ratelimit-limit", "50"),
            ("x-beta-ratelimit-remaining", "3"),
            ("x-ratelimit-remaining", "1"),
            ("x-beta-ratelimit-nearlimit", "true"),
            ("beta-retry-after", "4"),
        ]))
        .unwrap();
        assert_eq!(info.limit, Some(50));
        assert_eq!(info.remaining, Some(1), "the standard header wins");
        assert!(info.near_limit);
        assert_eq!(info.retry_after, Some(Duration::from_secs(4)));
        assert_eq!(
            parse_retry_after(&headers(&[("beta-retry-after", "9"), ("retry-after", "2")])),
            Some(Duration::from_secs(2))
        );
        // An unreadable standard header does not hide a readable beta one.
        assert_eq!(
            parse_retry_after(&headers(&[
                ("beta-retry-after", "9"),
                ("retry-after", "soon")
            ])),
            Some(Duration::from_secs(9))
        );
    }

    #[test]
    fn a_throttle_backs_off_exponentially_from_half_its_ceiling() {
        let policy = RetryPolicy {
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(1000),
            ..RetryPolicy::default()
        };
        let throttled = Wait::Throttled { not_before: None };
        for attempt in 1..=10u32 {
            let ceiling = Duration::from_millis((100u64 << (attempt - 1)).min(1000));
            for _ in 0..50 {
                let d = policy.wait_for(attempt, throttled);
                assert!(d >= ceiling / 2 && d <= ceiling, "attempt {attempt}: {d:?}");
            }
        }
        // A reset still ahead is a floor; delays off are still off.
        let later = Wait::Throttled {
            not_before: Some(Duration::from_secs(40)),
        };
        assert_eq!(policy.wait_for(1, later), Duration::from_secs(40));
        assert_eq!(policy.without_delays().wait_for(5, later), Duration::ZERO);
    }

    #[test]
    fn iso8601_reset_times_parse_in_every_form_atlassian_uses() {
        let at = |secs: u64| Some(SystemTime::UNIX_EPOCH + Duration::from_secs(secs));
        assert_eq!(parse_iso8601("1970-01-01T00:00Z"), at(0));
        assert_eq!(parse_iso8601("2025-04-02T04:42:44Z"), at(1_743_568_964));
        assert_eq!(parse_iso8601("2025-04-02T04:42Z"), at(1_743_568_920));
        assert_eq!(
            parse_iso8601("2025-04-02T06:42:44+02:00"),
            at(1_743_568_964)
        );
        assert_eq!(parse_iso8601("2000-02-29T00:00:00Z"), at(951_782_400));
        // Offsets without a colon: `+0200` is two hours (issue 19), not two hundred.
        assert_eq!(parse_iso8601("2025-04-02T06:42:44+0200"), at(1_743_568_964));
        assert_eq!(parse_iso8601("2025-04-02T02:42:44-02"), at(1_743_568_964));
        assert_eq!(
            parse_iso8601("2025-04-02T04:42:44.250Z"),
            at(1_743_568_964).map(|t| t + Duration::from_millis(250))
        );
        for bad in [
            "",
            "soon",
            "2025-13-01T00:00Z",
            "2025-04-02",
            "1969-12-31T23:59Z",
            "2025-04-02T06:42:44+200",
        ] {
            assert_eq!(parse_iso8601(bad), None, "{bad}");
        }
    }
}
