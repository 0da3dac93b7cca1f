//! One request, attempted as often as the [`RetryPolicy`] and the request's side effects allow.
//!
//! Every call of the client goes through [`Transport::exchange`], so the rules that protect an
//! admin hold everywhere: a 401 is never repeated (repeated failures can lock the account
//! behind a CAPTCHA), and a write is repeated only when the server said it did not apply it
//! (429, or 503 with `Retry-After`) or the connection was never made. A write whose answer was
//! lost is handed back as such, for the caller to read the rule back.
//!
//! Writes go out on their own HTTP client that follows no redirect: reqwest would turn a PUT
//! answered 303 into a GET, and the 200 of that GET would read as a successful write.
//!
//! The `Debug` output of an answer shows its status and sizes, never its bytes: a rule body
//! holds the very credentials this tool rotates.
//!
//! Every attempt, read or write, takes room from the client's one adaptive limiter (how many
//! in flight) and then its turn from the client's one [`Pacer`] (how many per second), and
//! reports back how it went: a bulk read, a rotation's writes and their read-backs all share
//! one view of the site's limits. A request that belongs to a bulk read also asks that
//! read's circuit breaker before every retry: when the site is down, a retry sequence ends
//! early instead of spending its whole budget.

use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard};
use std::time::Duration;

use std::fmt;

use reqwest::header::HeaderMap;
use reqwest::{Method, RequestBuilder, StatusCode};

use super::breaker::CircuitBreaker;
use super::error::FetchError;
use super::limiter::AdaptiveLimiter;
use super::pacer::Pacer;
use super::retry::{parse_retry_after, RateLimitInfo, RetryPolicy, RetryState, Wait};
use crate::secret::Masker;

/// Whether repeating a request can change anything on the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Safety {
    /// Reads: any retryable status or transport error may be retried.
    Repeatable,
    /// A rule write: retried only when the server provably did not apply it.
    Write,
}

/// Default cap on one answer's body: far above any real rule (Atlassian caps a rule at a
/// few MiB), far below what would hurt the machine.
pub const DEFAULT_MAX_BODY: u64 = 32 * 1024 * 1024;

/// A complete answer: status, headers and the body, read up to the transport's cap.
pub(crate) struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    /// The cap, when the body went past it: `body` then holds only its beginning.
    pub oversized: Option<u64>,
}

impl Answer {
    /// The body as `T`; an answer cut at the cap is an error of its own, not bad JSON.
    pub(crate) fn json<T: serde::de::DeserializeOwned>(
        &self,
        masker: &Masker,
    ) -> Result<T, FetchError> {
        if let Some(limit) = self.oversized {
            return Err(FetchError::ResponseTooLarge { limit });
        }
        super::client::parse_json(&self.body, masker)
    }

    /// The error for a non-success answer after `attempts` attempts.
    pub(crate) fn into_error(self, attempts: u32, masker: &Masker) -> FetchError {
        let asked_to_wait = parse_retry_after(&self.headers).is_some();
        match self.status.as_u16() {
            429 => FetchError::RateLimited { attempts },
            503 if asked_to_wait => FetchError::RateLimited { attempts },
            _ => FetchError::from_status(self.status, &self.body, masker),
        }
    }
}

impl fmt::Debug for Answer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Answer")
            .field("status", &self.status.as_u16())
            .field("headers", &self.headers.len())
            .field("body_len", &self.body.len())
            .finish()
    }
}

/// The last attempt's result and how many attempts were made.
pub(crate) struct Exchange {
    pub result: Result<Answer, reqwest::Error>,
    pub attempts: u32,
}

impl Exchange {
    /// The answer if it is a success; else the error for the transport failure or the
    /// status, any server text in it cleaned with `masker`.
    pub(crate) fn success(self, masker: &Masker) -> Result<Answer, FetchError> {
        let answer = self.result.map_err(FetchError::from_reqwest)?;
        if !answer.status.is_success() {
            return Err(answer.into_error(self.attempts, masker));
        }
        Ok(answer)
    }
}

impl fmt::Debug for Exchange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = f.debug_struct("Exchange");
        match &self.result {
            Ok(answer) => out.field("answer", answer),
            // reqwest's own Debug carries the URL, whose query may hold a cursor.
            Err(err) => out.field("error", &error_kind(err)),
        };
        out.field("attempts", &self.attempts).finish()
    }
}

fn error_kind(err: &reqwest::Error) -> &'static str {
    if err.is_connect() {
        "connect"
    } else if err.is_timeout() {
        "timeout"
    } else if err.is_redirect() {
        "redirect"
    } else if err.is_body() || err.is_decode() {
        "body"
    } else {
        "request"
    }
}

/// One site's request budget, for the clients of its products (Jira and Confluence
/// automation of one tenant): how many requests are in flight and how fast they start are
/// counted over all of them, so reading both products at once never doubles the load on a
/// site, and a 429 seen by one slows the other.
#[derive(Debug, Clone)]
pub struct SiteLimit {
    limiter: Arc<AdaptiveLimiter>,
    pacer: Arc<Pacer>,
}

impl SiteLimit {
    /// At most `concurrency` requests in flight; `no_delay` as the retry policy says (tests).
    pub fn new(concurrency: usize, no_delay: bool) -> Self {
        SiteLimit {
            limiter: Arc::new(AdaptiveLimiter::new(concurrency)),
            pacer: Arc::new(Pacer::new(no_delay)),
        }
    }

    /// Whether `other` is this very budget (a clone of it), not one alike.
    pub fn is_shared_with(&self, other: &SiteLimit) -> bool {
        Arc::ptr_eq(&self.limiter, &other.limiter) && Arc::ptr_eq(&self.pacer, &other.pacer)
    }
}

#[derive(Debug)]
pub(crate) struct Transport {
    /// For reads: follows redirects the host policy allows.
    pub http: reqwest::Client,
    /// For anything that can change the site: follows no redirect at all.
    pub writes: reqwest::Client,
    pub policy: RetryPolicy,
    /// How many attempts may be in flight: halves when the site throttles. Shared with the
    /// other products' clients of the same site when given a [`SiteLimit`].
    pub limiter: Arc<AdaptiveLimiter>,
    /// How many attempts may start per second, once the site's rate is known (shared as the
    /// limiter is).
    pub pacer: Arc<Pacer>,
    /// Most bytes read of one answer's body.
    max_body: u64,
    last_rate_limit: Mutex<Option<RateLimitInfo>>,
    /// The secrets of whoever owns this transport: every server text it quotes, its `-vv`
    /// trace lines included (a path names a rule id the server chose), goes through it.
    masker: Arc<RwLock<Masker>>,
}

impl Transport {
    pub(crate) fn new(
        http: reqwest::Client,
        writes: reqwest::Client,
        policy: RetryPolicy,
        concurrency: usize,
    ) -> Self {
        Transport {
            http,
            writes,
            limiter: Arc::new(AdaptiveLimiter::new(concurrency)),
            pacer: Arc::new(Pacer::new(policy.no_delay)),
            policy,
            max_body: DEFAULT_MAX_BODY,
            last_rate_limit: Mutex::new(None),
            masker: Arc::default(),
        }
    }

    /// Takes its limiter and pacer from `limit`, shared with the site's other clients.
    pub(crate) fn with_site_limit(mut self, limit: &SiteLimit) -> Self {
        self.limiter = Arc::clone(&limit.limiter);
        self.pacer = Arc::clone(&limit.pacer);
        self
    }

    /// Cleans what this transport quotes with `masker`, shared with its owner (who adds
    /// secrets to it as they arrive).
    pub(crate) fn with_masker(mut self, masker: Arc<RwLock<Masker>>) -> Self {
        self.masker = masker;
        self
    }

    /// The masker, held only while cleaning one text.
    pub fn masker(&self) -> RwLockReadGuard<'_, Masker> {
        self.masker.read().unwrap_or_else(|p| p.into_inner())
    }

    /// The masker, to add a secret to it.
    pub(crate) fn masker_mut(&self) -> std::sync::RwLockWriteGuard<'_, Masker> {
        self.masker.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Caps each answer's body at `max_body` bytes (at least 1 KiB).
    pub(crate) fn with_max_body(mut self, max_body: u64) -> Self {
        self.max_body = max_body.max(1024);
        self
    }

    /// The client for `method`: only GET and HEAD may follow a redirect, since a redirected
    /// write is either re-sent somewhere unchecked (307/308) or silently becomes a GET (303).
    pub(crate) fn client_for(&self, method: &Method) -> &reqwest::Client {
        match *method {
            Method::GET | Method::HEAD => &self.http,
            _ => &self.writes,
        }
    }

    /// The most recent `X-RateLimit-*` information seen on any answer.
    pub(crate) fn last_rate_limit(&self) -> Option<RateLimitInfo> {
        self.last_rate_limit
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Sends the request built by `build` until it succeeds, fails for good, or the policy says
    /// stop. Each attempt waits for room and for its turn, and reports back how it went; with
    /// a `breaker`, the circuit breaker may end the retries early (the caller records the
    /// final outcome).
    pub(crate) async fn exchange(
        &self,
        build: impl Fn() -> RequestBuilder,
        safety: Safety,
        breaker: Option<&CircuitBreaker>,
    ) -> Exchange {
        let mut state = RetryState::new(&self.policy);
        loop {
            state.begin_attempt();
            let result = self.governed_attempt(build()).await;
            let info = result
                .as_ref()
                .ok()
                .and_then(|a| RateLimitInfo::from_headers(&a.headers));
            let retry_after = info.as_ref().and_then(|i| i.retry_after);
            let delay = match self.should_retry(&result, safety, retry_after) {
                true => state.next_delay(wait_asked(info.as_ref(), &result)),
                false => None,
            };
            let Some(delay) = delay else {
                return Exchange {
                    result,
                    attempts: state.attempts(),
                };
            };
            if !wait_to_retry(breaker, delay, is_throttle(&result, retry_after)).await {
                return Exchange {
                    result,
                    attempts: state.attempts(),
                };
            }
        }
    }

    /// One attempt under the limiter and the pacer, each told how it went: a 429 (or a 503
    /// asking to wait) cuts the concurrency, and a 429 teaches the pacer; any other answer
    /// took one of the site's tokens. A transport error says nothing about either.
    async fn governed_attempt(&self, request: RequestBuilder) -> Result<Answer, reqwest::Error> {
        let permit = self.limiter.acquire().await;
        let turn = self.pacer.take_turn().await;
        let result = super::trace::traced(
            request,
            |r| attempt(r, self.max_body),
            |a| a.status.as_u16(),
            |path| self.masker().clean(path),
        )
        .await;
        let now = tokio::time::Instant::now();
        let Ok(answer) = &result else {
            drop(permit);
            return result;
        };
        let info = RateLimitInfo::from_headers(&answer.headers);
        if let Some(info) = &info {
            *self
                .last_rate_limit
                .lock()
                .unwrap_or_else(|p| p.into_inner()) = Some(info.clone());
        }
        let asked_to_wait = parse_retry_after(&answer.headers).is_some();
        match answer.status.as_u16() {
            429 => {
                permit.throttled();
                self.pacer.throttled(turn, now, info.as_ref());
            }
            503 if asked_to_wait => {
                permit.throttled();
                self.pacer.answered(now, info.as_ref());
            }
            status => {
                if (200..300).contains(&status) {
                    permit.succeeded();
                }
                self.pacer.answered(now, info.as_ref());
            }
        }
        result
    }

    fn should_retry(
        &self,
        result: &Result<Answer, reqwest::Error>,
        safety: Safety,
        retry_after: Option<Duration>,
    ) -> bool {
        match (result, safety) {
            // Never, whatever the policy lists: repeated 401s lock accounts.
            (Ok(answer), _) if answer.status == StatusCode::UNAUTHORIZED => false,
            (Ok(answer), Safety::Repeatable) => {
                self.policy.retry_statuses.contains(&answer.status.as_u16())
            }
            (Ok(_), Safety::Write) => is_throttle(result, retry_after),
            (Err(err), Safety::Repeatable) => RetryPolicy::is_retryable_error(err),
            // A connect error means nothing was sent; anything later may have been applied.
            (Err(err), Safety::Write) => err.is_connect(),
        }
    }
}

/// One request. The body is streamed and reading stops past `max_body` (or at once when
/// `Content-Length` announces more): a hostile or broken server cannot fill the memory.
async fn attempt(request: RequestBuilder, max_body: u64) -> Result<Answer, reqwest::Error> {
    let mut response = request.send().await?;
    let status = response.status();
    let headers = response.headers().clone();
    let mut body = Vec::new();
    let mut oversized = response.content_length().is_some_and(|n| n > max_body);
    while !oversized {
        let Some(chunk) = response.chunk().await? else {
            break;
        };
        if (body.len() + chunk.len()) as u64 > max_body {
            oversized = true;
        } else {
            body.extend_from_slice(&chunk);
        }
    }
    Ok(Answer {
        status,
        headers,
        body,
        oversized: oversized.then_some(max_body),
    })
}

/// 429, or 503 with `Retry-After`: the server asked to slow down, it is not down.
fn is_throttle(result: &Result<Answer, reqwest::Error>, retry_after: Option<Duration>) -> bool {
    match result {
        Ok(answer) => match answer.status.as_u16() {
            429 => true,
            503 => retry_after.is_some(),
            _ => false,
        },
        Err(_) => false,
    }
}

/// The wait a failed answer asks for: its `Retry-After` (or `Beta-Retry-After`); else, on a
/// 429, a throttle backoff, not ending before an `X-RateLimit-Reset` still ahead (cut to the
/// minute, it is often past: then it says nothing, and is not a wait of zero).
fn wait_asked(info: Option<&RateLimitInfo>, result: &Result<Answer, reqwest::Error>) -> Wait {
    if let Some(asked) = info.and_then(|i| i.retry_after) {
        return Wait::Asked(asked);
    }
    match result {
        Ok(a) if a.status == StatusCode::TOO_MANY_REQUESTS => Wait::Throttled {
            not_before: info.and_then(|i| i.reset_in),
        },
        _ => Wait::Backoff,
    }
}

/// Sleeps before a retry; false when the circuit breaker says not to retry after all.
async fn wait_to_retry(breaker: Option<&CircuitBreaker>, delay: Duration, throttled: bool) -> bool {
    match breaker {
        Some(breaker) => {
            if !breaker.may_retry(throttled) {
                return false;
            }
            breaker.sleep(delay, throttled).await;
            breaker.may_retry(throttled)
        }
        None => {
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            true
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer_echoing(secret: &str) -> Answer {
        let mut headers = HeaderMap::new();
        headers.insert("x-echo", secret.parse().unwrap());
        Answer {
            status: StatusCode::BAD_REQUEST,
            headers,
            body: format!(r#"{{"message":"bad token {secret}"}}"#).into_bytes(),
            oversized: None,
        }
    }

    fn answer(status: StatusCode, headers: &HeaderMap) -> Result<Answer, reqwest::Error> {
        Ok(Answer {
            status,
            headers: headers.clone(),
            body: Vec::new(),
            oversized: None,
        })
    }

    fn asked(status: StatusCode, headers: &HeaderMap) -> Wait {
        let info = RateLimitInfo::from_headers(headers);
        wait_asked(info.as_ref(), &answer(status, headers))
    }

    #[test]
    fn a_429_without_retry_after_waits_until_its_reset() {
        let mut headers = HeaderMap::new();
        headers.insert("x-ratelimit-reset", "2100-01-01T00:00Z".parse().unwrap());
        let Wait::Throttled {
            not_before: Some(wait),
        } = asked(StatusCode::TOO_MANY_REQUESTS, &headers)
        else {
            panic!("a 429 is a throttle");
        };
        assert!(wait > Duration::from_secs(365 * 86_400), "{wait:?}");
        // Only a 429's reset is a wait; and Retry-After, when sent, wins.
        assert_eq!(
            asked(StatusCode::SERVICE_UNAVAILABLE, &headers),
            Wait::Backoff
        );
        headers.insert("retry-after", "2".parse().unwrap());
        assert_eq!(
            asked(StatusCode::TOO_MANY_REQUESTS, &headers),
            Wait::Asked(Duration::from_secs(2))
        );
    }

    #[test]
    fn a_429_whose_reset_is_past_backs_off_instead_of_retrying_at_once() {
        // Cut to the minute, the reset is usually past when read: no wait of zero.
        let mut headers = HeaderMap::new();
        headers.insert("x-ratelimit-reset", "2025-04-02T04:42Z".parse().unwrap());
        let wait = asked(StatusCode::TOO_MANY_REQUESTS, &headers);
        assert_eq!(wait, Wait::Throttled { not_before: None });
        // A 429 with no header at all is a throttle too.
        let bare = asked(StatusCode::TOO_MANY_REQUESTS, &HeaderMap::new());
        assert_eq!(bare, Wait::Throttled { not_before: None });
        // Eight such answers in a row spread over half a minute or more, not seconds.
        let policy = RetryPolicy::default();
        let total: Duration = (1..8).map(|n| policy.wait_for(n, wait)).sum();
        assert!(total >= Duration::from_secs(30), "{total:?}");
        assert!(total <= policy.total_budget, "{total:?}");
    }

    #[test]
    fn the_beta_headers_stand_in_when_the_standard_ones_are_missing() {
        let mut headers = HeaderMap::new();
        headers.insert("beta-retry-after", "7".parse().unwrap());
        assert_eq!(
            asked(StatusCode::TOO_MANY_REQUESTS, &headers),
            Wait::Asked(Duration::from_secs(7))
        );
        headers.insert("retry-after", "2".parse().unwrap());
        assert_eq!(
            asked(StatusCode::TOO_MANY_REQUESTS, &headers),
            Wait::Asked(Duration::from_secs(2)),
            "the standard header wins"
        );
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-beta-ratelimit-reset",
            "2100-01-01T00:00Z".parse().unwrap(),
        );
        assert!(matches!(
            asked(StatusCode::TOO_MANY_REQUESTS, &headers),
            Wait::Throttled {
                not_before: Some(_)
            }
        ));
    }

    #[test]
    fn debug_output_shows_sizes_never_bytes() {
        let token = format!("FAKE-{}", uuid::Uuid::new_v4());
        let answer = answer_echoing(&token);
        let body_len = answer.body.len();
        let shown = [
            format!("{:?}", answer_echoing(&token)),
            format!(
                "{:?}",
                Exchange {
                    result: Ok(answer),
                    attempts: 2
                }
            ),
        ];
        for text in &shown {
            assert!(!text.contains(&token), "{text}");
            assert!(text.contains("status: 400"), "{text}");
            assert!(text.contains(&format!("body_len: {body_len}")), "{text}");
        }
        assert!(shown[1].contains("attempts: 2"), "{}", shown[1]);
    }
}
