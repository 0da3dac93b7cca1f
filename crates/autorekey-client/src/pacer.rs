//! Rate pacing: spreading requests over time so a site's request-*rate* limit is used fully
//! without being hit.
//!
//! Why a pacer beside the [`super::limiter`]: the adaptive limiter bounds how many requests
//! are in flight, which is the right answer to a site that limits concurrency. Jira Cloud
//! limits the *rate* (a token bucket per second), and answers an excess with 429 and an
//! integer-second `Retry-After`. Against a rate limit, fewer requests in flight change
//! nothing while the latency is low, so the limiter alone keeps running into 429s, and every
//! 429 costs its request a whole second. The pacer is a token bucket on our side: once it
//! knows the site's rate it lets requests go one by one at a little under that rate, so the
//! site's bucket never runs dry and 429s become rare.
//!
//! Where the rate comes from, best first:
//!
//! - `X-RateLimit-Limit` (on any answer, on Jira only with a 429): the size of the site's
//!   bucket. Atlassian counts its burst limit per second, so it is taken as the rate in
//!   requests per second and as a ceiling the pacer never probes past.
//! - `X-RateLimit-Remaining` (where sent): what the site's bucket holds; our bucket never
//!   holds more. `X-RateLimit-NearLimit: true` (less than 20 % left) starts pacing before the
//!   first 429. `X-RateLimit-Reset` is the moment a 429's wait ends, which `Retry-After`
//!   already says (see `fetch/transport.rs`); it adds nothing to the rate.
//! - Otherwise, observation: a 429 means the site's bucket was empty at that moment. Between
//!   two such moments the site admitted exactly what it refilled, so the answers counted
//!   between two 429s, over the time between them, *are* its rate. Before there are two,
//!   the answers of the last second give a first guess.
//! - After a quiet second the rate is probed upwards, quickly up to what was learned and
//!   very slowly past it (never past a header's ceiling), so a guess that came out low is
//!   not kept for the rest of a long run.
//!
//! `Retry-After` is not the pacer's business: the request that got the 429 waits exactly
//! that long ([`super::retry`]) while the others go on at the paced rate. A burst of 429s from
//! requests that were all sent before the first one came back is one signal, not many (an
//! epoch per [`Turn`], as in the limiter). Until anything is learned the pacer lets every
//! request through, so a site without a rate limit is read at full concurrency.
//!
//! Time is `tokio::time::Instant` and every decision takes `now` as an argument, so the
//! tests drive it with a paused clock or plain instants, and nothing depends on the speed of
//! the machine. With the retry policy's `no_delay` (tests), the pacer learns but never sleeps.
//!
//! Why not `governor`: its GCRA limiter paces to a quota fixed when the limiter is built.
//! The rate here is not known in advance: it is learned during the run, from headers or from
//! the spacing of 429s, and probed upward later. Rebuilding a governor limiter at every
//! change would keep only its arithmetic (a few lines of [`Pacer::book`]) and lose the shared
//! state the turns need. The figure this code must keep, `benches/scan.sh ratelimit` (97–98 %
//! of what a rate-limited site allows, under 5 % 429s; docs/PERFORMANCE.md), is the
//! learning's, which no crate does.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use tokio::time::Instant;

use super::retry::RateLimitInfo;

/// The share of the learned rate the pacer sends at. A little under the rate lets the site's
/// bucket bank the difference, so jitter in arrival times does not turn into 429s.
const TARGET_SHARE: f64 = 0.98;
/// An observed rate needs this many answers between two 429s, over at least `MIN_SPAN`;
/// fewer are noise.
const MIN_SAMPLES: u64 = 20;
const MIN_SPAN: Duration = Duration::from_millis(250);
/// How far back the first guess (before two 429s bracket a measurement) looks.
const RECENT: Duration = Duration::from_secs(1);
/// Probing starts after this long without a 429.
const PROBE_QUIET: Duration = Duration::from_secs(1);
/// Growth per second while probing below what was learned, past it, and while nothing has
/// been measured yet (the first guess runs low by the requests that were still in flight).
const PROBE_BELOW: f64 = 0.05;
const PROBE_ABOVE: f64 = 0.01;
const PROBE_UNMEASURED: f64 = 0.2;
/// A throttle without a fresh measurement cuts the rate by this factor.
const BLIND_CUT: f64 = 0.9;
/// The slowest the pacer ever goes, in requests per second.
const MIN_RATE: f64 = 0.2;

/// What the pacer did, for a verbose summary and for tests.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PaceStats {
    /// 429 answers seen.
    pub throttles: u32,
    /// How many of them taught the pacer something (one per burst of 429s).
    pub adjustments: u32,
    /// The paced rate at the end, in requests per second; `None` if never paced.
    pub rate: Option<f64>,
    /// The site's rate as last learned (header ceiling or observation).
    pub learned: Option<f64>,
}

/// One line for `-v`: what a person reads, not the struct.
impl std::fmt::Display for PaceStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.throttles == 0 {
            return write!(
                f,
                "no rate-limit answer (429); requests were not slowed down"
            );
        }
        write!(
            f,
            "{} (429), {}",
            crate::words::count(
                self.throttles as usize,
                "rate-limit answer",
                "rate-limit answers"
            ),
            crate::words::count(self.adjustments as usize, "adjustment", "adjustments")
        )?;
        if let Some(rate) = self.rate {
            write!(f, "; paced at {rate:.1} requests/s")?;
        }
        if let Some(learned) = self.learned {
            write!(f, " (the site's rate as learned: {learned:.1}/s)")?;
        }
        Ok(())
    }
}

/// A request's turn, taken before it is sent; report its answer with [`Pacer::answered`] or
/// [`Pacer::throttled`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Turn {
    epoch: u64,
}

#[derive(Debug)]
pub struct Pacer {
    no_delay: bool,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    /// Requests per second; `None` until something was learned.
    rate: Option<f64>,
    /// `X-RateLimit-Limit`, per second.
    header_cap: Option<f64>,
    /// The site's rate as measured between two 429s.
    observed_cap: Option<f64>,
    /// Our bucket; negative when turns are booked ahead.
    tokens: f64,
    refilled: Instant,
    epoch: u64,
    /// Answers that took a token of the site's (anything answered but a 429).
    answered: u64,
    /// The last 429 that starts a measurement: when, and `answered` then.
    marker: Option<(Instant, u64)>,
    /// Times of recent answers, for the first guess.
    recent: VecDeque<Instant>,
    last_throttle: Option<Instant>,
    probed: Option<Instant>,
    stats: PaceStats,
}

impl Pacer {
    /// `no_delay`: learn, but never sleep (the retry policy's test switch).
    pub fn new(no_delay: bool) -> Self {
        Pacer {
            no_delay,
            state: Mutex::new(State {
                rate: None,
                header_cap: None,
                observed_cap: None,
                tokens: 0.0,
                refilled: Instant::now(),
                epoch: 0,
                answered: 0,
                marker: None,
                recent: VecDeque::new(),
                last_throttle: None,
                probed: None,
                stats: PaceStats::default(),
            }),
        }
    }

    /// Waits for this request's turn.
    pub async fn take_turn(&self) -> Turn {
        let (turn, wait) = self.book(Instant::now());
        if !wait.is_zero() && !self.no_delay {
            tokio::time::sleep(wait).await;
        }
        turn
    }

    /// Books the next turn at `now`: the turn, and how long to wait for it.
    pub fn book(&self, now: Instant) -> (Turn, Duration) {
        let mut state = self.lock();
        let turn = Turn { epoch: state.epoch };
        state.probe(now);
        let Some(rate) = state.rate else {
            return (turn, Duration::ZERO);
        };
        state.refill(now, rate);
        state.tokens -= 1.0;
        let wait = if state.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-state.tokens / rate)
        };
        (turn, wait)
    }

    /// An answer other than a 429: the site took one of its tokens for it. Its rate-limit
    /// headers, if any, are learned from.
    pub fn answered(&self, now: Instant, info: Option<&RateLimitInfo>) {
        let mut state = self.lock();
        state.answered += 1;
        state.recent.push_back(now);
        while state
            .recent
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) > RECENT)
        {
            state.recent.pop_front();
        }
        if let Some(info) = info {
            state.learn_headers(now, info);
        }
    }

    /// A 429 for a request that took `turn`: the site's bucket is empty now.
    pub fn throttled(&self, turn: Turn, now: Instant, info: Option<&RateLimitInfo>) {
        let mut state = self.lock();
        state.stats.throttles += 1;
        match state.rate {
            Some(rate) => state.refill(now, rate),
            None => state.refilled = state.refilled.max(now),
        }
        state.tokens = state.tokens.min(0.0);
        state.last_throttle = Some(now);
        state.probed = None;
        if let Some(limit) = info.and_then(|i| i.limit).filter(|l| *l > 0) {
            state.header_cap = Some(limit as f64);
        }
        if turn.epoch != state.epoch {
            // Sent before the last adjustment: part of a burst already accounted for.
            return;
        }
        state.epoch += 1;
        state.stats.adjustments += 1;
        state.adjust(now);
    }

    pub fn stats(&self) -> PaceStats {
        let state = self.lock();
        PaceStats {
            rate: state.rate,
            learned: state.cap(),
            ..state.stats
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Every update is a few assignments; a panic mid-way cannot leave nonsense behind.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl State {
    /// The site's rate as best known: the lower of the header's and the observed one.
    fn cap(&self) -> Option<f64> {
        match (self.header_cap, self.observed_cap) {
            (Some(h), Some(o)) => Some(h.min(o)),
            (h, o) => h.or(o),
        }
    }

    fn refill(&mut self, now: Instant, rate: f64) {
        let elapsed = now.saturating_duration_since(self.refilled).as_secs_f64();
        // Our bucket holds at most what the site's does (one second's worth when unknown),
        // so an idle spell is not followed by a burst the site would refuse.
        let capacity = self.header_cap.unwrap_or(rate).max(1.0);
        self.tokens = (self.tokens + elapsed * rate).min(capacity);
        if now > self.refilled {
            self.refilled = now;
        }
    }

    /// After the first 429 of a burst: measure, and set the rate a little under it.
    fn adjust(&mut self, now: Instant) {
        let measured = self.measure(now);
        if let Some(measured) = measured {
            self.observed_cap = Some(measured);
        }
        let site_rate = match (measured, self.rate) {
            (Some(measured), _) => measured,
            (None, None) => self.header_cap.unwrap_or_else(|| self.first_guess()),
            (None, Some(rate)) => rate / TARGET_SHARE * BLIND_CUT,
        };
        let site_rate = self.header_cap.map_or(site_rate, |cap| site_rate.min(cap));
        self.set_rate(site_rate * TARGET_SHARE);
    }

    /// The answers since the last measuring 429 over the time since: the site's rate, if
    /// there are enough of them. Moves the marker when it measured (or had none).
    fn measure(&mut self, now: Instant) -> Option<f64> {
        let Some((since, answered_then)) = self.marker else {
            self.marker = Some((now, self.answered));
            return None;
        };
        let span = now.saturating_duration_since(since);
        let answers = self.answered - answered_then;
        if answers < MIN_SAMPLES || span < MIN_SPAN {
            return None;
        }
        self.marker = Some((now, self.answered));
        Some(answers as f64 / span.as_secs_f64())
    }

    /// The answers of the last second, as a rate: for a bucket of one second's burst (as
    /// Jira's is counted) that is its rate plus what it refilled meanwhile. A smaller burst
    /// makes it low, which probing repairs; the next 429 corrects a high one.
    fn first_guess(&self) -> f64 {
        (self.recent.len() as f64 / RECENT.as_secs_f64()).max(MIN_RATE)
    }

    fn learn_headers(&mut self, now: Instant, info: &RateLimitInfo) {
        if let Some(limit) = info.limit.filter(|l| *l > 0) {
            self.header_cap = Some(limit as f64);
        }
        let remaining = info.remaining.map(|r| r as f64);
        if self.rate.is_none() && (info.limit.is_some() || info.near_limit) {
            let site_rate = self
                .header_cap
                .unwrap_or_else(|| self.first_guess() * BLIND_CUT);
            self.set_rate(site_rate * TARGET_SHARE);
            self.refilled = now;
            self.tokens = remaining.unwrap_or(if info.near_limit { 0.0 } else { site_rate });
        }
        if let Some(rate) = self.rate {
            self.refill(now, rate);
        }
        if let Some(remaining) = remaining {
            self.tokens = self.tokens.min(remaining);
        }
        if info.near_limit {
            self.tokens = self.tokens.min(0.0);
        }
    }

    /// Raises the rate after a quiet spell: quickly up to what was learned, slowly past it,
    /// never past a header's ceiling.
    fn probe(&mut self, now: Instant) {
        let Some(rate) = self.rate else { return };
        let quiet = self
            .last_throttle
            .is_none_or(|t| now.saturating_duration_since(t) >= PROBE_QUIET);
        if !quiet {
            return;
        }
        let Some(probed) = self.probed.replace(now) else {
            return;
        };
        let dt = now.saturating_duration_since(probed).as_secs_f64();
        let known = self.cap().map(|c| c * TARGET_SHARE);
        let grown = match known {
            Some(known) if rate < known => (rate * (1.0 + PROBE_BELOW * dt)).min(known),
            _ if self.header_cap.is_some() => rate,
            Some(_) => rate * (1.0 + PROBE_ABOVE * dt),
            // Nothing measured yet: the first guess may be low, so probe briskly; overshooting
            // costs a 429 or two, and that 429 measures the rate.
            None => rate * (1.0 + PROBE_UNMEASURED * dt),
        };
        self.set_rate(grown);
    }

    fn set_rate(&mut self, rate: f64) {
        self.rate = Some(rate.max(MIN_RATE));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn limit(n: u64) -> RateLimitInfo {
        RateLimitInfo {
            limit: Some(n),
            ..RateLimitInfo::default()
        }
    }

    /// Books `n` turns at `now` and returns their waits.
    fn book_many(pacer: &Pacer, now: Instant, n: usize) -> Vec<Duration> {
        (0..n).map(|_| pacer.book(now).1).collect()
    }

    #[test]
    fn nothing_learned_means_no_waiting() {
        let pacer = Pacer::new(false);
        let t0 = Instant::now();
        assert!(book_many(&pacer, t0, 100).iter().all(Duration::is_zero));
        for i in 0..100 {
            pacer.answered(t0 + ms(i), None);
        }
        assert!(book_many(&pacer, t0 + ms(100), 10)
            .iter()
            .all(Duration::is_zero));
        assert_eq!(pacer.stats().rate, None);
    }

    #[test]
    fn a_429_with_a_limit_paces_a_little_under_it_evenly() {
        let pacer = Pacer::new(false);
        let t0 = Instant::now();
        let (turn, _) = pacer.book(t0);
        pacer.throttled(turn, t0, Some(&limit(50)));
        let rate = pacer.stats().rate.unwrap();
        assert!((rate - 50.0 * TARGET_SHARE).abs() < 1e-9, "{rate}");
        // The site's bucket is empty: turns are spread one every 1/rate from now.
        let waits = book_many(&pacer, t0, 5);
        for (i, wait) in waits.iter().enumerate() {
            let expected = (i + 1) as f64 / rate;
            assert!((wait.as_secs_f64() - expected).abs() < 1e-6, "{waits:?}");
        }
    }

    #[test]
    fn a_burst_of_429s_is_one_adjustment() {
        let pacer = Pacer::new(false);
        let t0 = Instant::now();
        let turns: Vec<Turn> = (0..16).map(|_| pacer.book(t0).0).collect();
        for turn in turns {
            pacer.throttled(turn, t0 + ms(5), Some(&limit(40)));
        }
        let stats = pacer.stats();
        assert_eq!((stats.throttles, stats.adjustments), (16, 1));
        assert!((stats.rate.unwrap() - 40.0 * TARGET_SHARE).abs() < 1e-9);
    }

    #[test]
    fn without_headers_the_rate_is_measured_between_two_429s() {
        let pacer = Pacer::new(false);
        let t0 = Instant::now();
        // The site's initial burst: 100 answers in 100 ms, then a 429.
        for i in 0..100 {
            pacer.answered(t0 + ms(i), None);
        }
        let (turn, _) = pacer.book(t0 + ms(100));
        pacer.throttled(turn, t0 + ms(100), None);
        let guess = pacer.stats().rate.unwrap();
        assert!(
            (guess - 100.0 * TARGET_SHARE).abs() < 1e-9,
            "the last second's answers: {guess}"
        );
        // Then the site admits 40 per second: 40 answers over the next second, then a 429.
        for i in 0..40 {
            pacer.answered(t0 + ms(100 + 25 * i), None);
        }
        let (turn, _) = pacer.book(t0 + ms(1100));
        pacer.throttled(turn, t0 + ms(1100), None);
        let stats = pacer.stats();
        let learned = stats.learned.unwrap();
        assert!((learned - 40.0).abs() < 1e-6, "{stats:?}");
        assert!((stats.rate.unwrap() - 40.0 * TARGET_SHARE).abs() < 1e-6);
    }

    #[test]
    fn too_few_answers_between_429s_measure_nothing_and_cut_blindly() {
        let pacer = Pacer::new(false);
        let t0 = Instant::now();
        let (turn, _) = pacer.book(t0);
        pacer.throttled(turn, t0, Some(&limit(10)));
        let before = pacer.stats().rate.unwrap();
        pacer.answered(t0 + ms(300), None);
        let (turn, _) = pacer.book(t0 + ms(400));
        pacer.throttled(turn, t0 + ms(400), None);
        let after = pacer.stats().rate.unwrap();
        assert!(
            (after - before * BLIND_CUT).abs() < 1e-9,
            "{before} -> {after}"
        );
        assert_eq!(pacer.stats().learned, Some(10.0));
    }

    #[test]
    fn the_rate_never_drops_below_the_floor() {
        let pacer = Pacer::new(false);
        let t0 = Instant::now();
        for i in 0..200 {
            let now = t0 + ms(i);
            let (turn, _) = pacer.book(now);
            pacer.throttled(turn, now, Some(&limit(1)));
        }
        assert!(pacer.stats().rate.unwrap() >= MIN_RATE);
    }

    #[test]
    fn remaining_and_near_limit_start_pacing_before_any_429() {
        let pacer = Pacer::new(false);
        let t0 = Instant::now();
        let info = RateLimitInfo {
            limit: Some(20),
            remaining: Some(3),
            ..RateLimitInfo::default()
        };
        pacer.answered(t0, Some(&info));
        // Three left in the site's bucket go at once; the fourth waits a paced interval.
        let waits = book_many(&pacer, t0, 4);
        assert!(waits[..3].iter().all(Duration::is_zero), "{waits:?}");
        assert!(waits[3] > Duration::ZERO);

        let near = Pacer::new(false);
        for i in 0..10 {
            near.answered(t0 + ms(10 * i), None);
        }
        let warned = RateLimitInfo {
            near_limit: true,
            ..RateLimitInfo::default()
        };
        near.answered(t0 + ms(100), Some(&warned));
        assert!(near.stats().rate.is_some());
        assert!(near.book(t0 + ms(100)).1 > Duration::ZERO);
    }

    #[test]
    fn probing_climbs_back_to_what_was_learned_but_not_past_a_header() {
        let pacer = Pacer::new(false);
        let t0 = Instant::now();
        let (turn, _) = pacer.book(t0);
        pacer.throttled(turn, t0, Some(&limit(100)));
        // A later 429 with too few answers in between cuts blindly under the ceiling.
        let (turn, _) = pacer.book(t0 + ms(10));
        pacer.throttled(turn, t0 + ms(10), None);
        let cut = pacer.stats().rate.unwrap();
        assert!(cut < 100.0 * TARGET_SHARE);
        // Quiet for a while: the rate climbs back, and stops at the header's ceiling.
        for s in 2..120 {
            pacer.book(t0 + Duration::from_secs(s));
        }
        let rate = pacer.stats().rate.unwrap();
        assert!(
            (rate - 100.0 * TARGET_SHARE).abs() < 1e-9,
            "{cut} -> {rate}"
        );
    }

    #[test]
    fn probing_without_a_header_passes_the_measured_rate_only_slowly() {
        let pacer = Pacer::new(false);
        let t0 = Instant::now();
        let (turn, _) = pacer.book(t0);
        pacer.throttled(turn, t0, None);
        for i in 0..50 {
            pacer.answered(t0 + ms(20 * i), None);
        }
        let (turn, _) = pacer.book(t0 + ms(1000));
        pacer.throttled(turn, t0 + ms(1000), None);
        let learned = pacer.stats().learned.unwrap();
        assert!((learned - 50.0).abs() < 1e-6);
        for s in 2..=3 {
            pacer.book(t0 + Duration::from_secs(s));
        }
        let rate = pacer.stats().rate.unwrap();
        assert!(rate > 50.0 * TARGET_SHARE, "it probes past: {rate}");
        assert!(rate < 50.0, "but slowly: {rate}");
    }

    #[tokio::test(start_paused = true)]
    async fn take_turn_sleeps_on_the_paused_clock_and_spreads_requests() {
        let pacer = Pacer::new(false);
        let start = Instant::now();
        let turn = pacer.take_turn().await;
        pacer.throttled(turn, Instant::now(), Some(&limit(10)));
        let rate = pacer.stats().rate.unwrap();
        for i in 1..=5u32 {
            pacer.take_turn().await;
            let expected = Duration::from_secs_f64(f64::from(i) / rate);
            let elapsed = Instant::now() - start;
            // The paused clock jumps exactly to each wake-up; allow its millisecond rounding.
            assert!(
                elapsed.abs_diff(expected) <= ms(1),
                "{elapsed:?} vs {expected:?}"
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn no_delay_learns_but_never_sleeps() {
        let pacer = Pacer::new(true);
        let start = Instant::now();
        let turn = pacer.take_turn().await;
        pacer.throttled(turn, Instant::now(), Some(&limit(1)));
        for _ in 0..10 {
            pacer.take_turn().await;
        }
        assert_eq!(Instant::now(), start);
        assert!(pacer.stats().rate.is_some());
    }
}
