//! The fetch stage: the HTTP client for Atlassian's Automation rule-management API.
//!
//! Split by concern, so each safety rule has one home:
//!
//! - [`policy`]: where a credential may be sent (TLS, the configured site, Atlassian hosts);
//! - [`retry`]: the retry strategy, modelled on uv's `uv-client` (retryable statuses and
//!   transport errors, full-jitter backoff, `Retry-After`, a total time budget, and
//!   `AUTOREKEY_NO_RETRY_DELAY=1` to remove sleeps in tests);
//! - `transport`: one request attempted under that strategy, never repeating a 401 and never
//!   blindly repeating a write;
//! - [`limiter`]: adaptive (AIMD) concurrency, shared by every request of a client;
//! - [`pacer`]: rate pacing beside it, learned from `X-RateLimit-*` headers and 429s;
//! - [`breaker`]: a circuit breaker that ends a bulk read in bounded time when the site dies;
//! - [`client`]: [`AutomationClient`], one method per endpoint;
//! - `bulk`: [`AutomationClient::read_all_rules`], listing (twice, to catch rules the site
//!   skips between pages) and reading pipelined;
//! - `credential`: `/myself` checks of the admin's and of found credentials;
//! - `error`: [`FetchError`], one variant per cause an admin can act on;
//! - [`org`]: the organization admin API (API token expiry dates, revocation);
//! - `trace`: the `-vv` line per request (method, path, status, time), through a sink.
//!
//! Nothing here prints or logs; the command layer reports progress and errors.

// The core's modules this crate uses, by the names the code has always used.
use autorekey_core::{detect, gateway, printable, rule, secret, words};

pub mod breaker;
mod bulk;
pub mod client;
mod credential;
mod error;
pub mod limiter;
pub mod org;
pub mod pacer;
pub mod policy;
pub mod retry;
mod trace;
mod transport;

pub use breaker::TRIP_AFTER;
pub use bulk::{ListingCheck, ReadStats, RuleRead};
pub use client::{
    AutomationClient, ClientConfig, ListingForm, PutOutcome, RuleSummary, ATLASSIAN_GATEWAY,
};
pub use credential::{
    is_service_account, CheckAt, CredentialCheck, Myself, Verified, MYSELF_SCOPES,
    SERVICE_ACCOUNT_DOMAIN,
};
pub use error::FetchError;
pub use limiter::{AdaptiveLimiter, ConcurrencyStats};
pub use pacer::{PaceStats, Pacer};
pub use policy::{check_site_url, HostPolicy};
pub use retry::{RateLimitInfo, RetryPolicy, NO_RETRY_DELAY_ENV};
pub use trace::install_request_trace;
pub use transport::SiteLimit;
