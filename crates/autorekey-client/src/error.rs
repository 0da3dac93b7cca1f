//! The errors of the fetch stage, one variant per thing an admin can act on.
//!
//! The command layer maps each variant to a message and a hint ([`FetchError::hint`]), so the
//! variants follow causes (wrong token, not an admin, throttled) rather than HTTP mechanics.
//! Nothing here may carry a secret: messages are built from parsed, length-capped response
//! fields passed through one [`Masker`] (every form of every known token; fields that still
//! decode to one, alone or joined, are withheld; each cut to a few KiB before it is looked
//! at, so a 32 MiB error body costs no more than a small one), made
//! [`printable`](crate::printable::printable) (a server's text is hostile), and network
//! errors drop the URL reqwest attaches (our URLs never carry user-info anyway, see
//! [`super::policy`]).

use std::error::Error as _;

use reqwest::StatusCode;
use serde::Deserialize;

use crate::secret::{Masker, LONGEST_SHOWN, WITHHELD};

/// Longest piece of a server answer quoted in a message.
const MAX_QUOTED: usize = 300;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    /// 401: the token is wrong, expired, revoked or scoped (scoped tokens are refused with
    /// "scope does not match"). Never retried: repeated 401s can lock the account.
    #[error("authentication failed (401): {message}")]
    Unauthorized { message: String },
    /// 403: the account is not a Jira global admin, or is behind a CAPTCHA.
    #[error("access denied (403): {message}")]
    Forbidden { message: String },
    /// 404 on a rule or an endpoint.
    #[error("not found (404): {message}")]
    NotFound { message: String },
    /// 429 (or 503) until the retry budget ran out.
    #[error(
        "rate limited by the server; gave up after {}",
        crate::words::count(*attempts as usize, "attempt", "attempts")
    )]
    RateLimited { attempts: u32 },
    /// 5xx until the retry budget ran out (or a 5xx that is not retried).
    #[error("server error {status}")]
    Server { status: u16 },
    /// Connection refused/reset, DNS, TLS: the request may not have reached the server.
    #[error("network error: {0}")]
    Network(String),
    /// No answer within the configured time-out.
    #[error("the server did not answer in time")]
    Timeout,
    /// An answer that does not have the documented shape.
    #[error("unexpected answer from the server: {0}")]
    InvalidResponse(String),
    /// A URL refused by the host policy.
    #[error("{0}")]
    Policy(String),
    /// Any other 4xx, with the documented error body parsed.
    #[error("request rejected ({status}): {title}{}", detail.as_ref().map(|d| format!(": {d}")).unwrap_or_default())]
    BadRequest {
        status: u16,
        title: String,
        detail: Option<String>,
    },
    /// An answer whose body went past the cap (`--max-response-mb`); reading stopped there.
    #[error("the server's answer is larger than {} MiB; stopped reading it", limit / (1024 * 1024))]
    ResponseTooLarge { limit: u64 },
    /// A configuration value the client cannot work with (e.g. an unknown product).
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A bulk read stopped because the site stopped answering (see [`super::breaker`]);
    /// `last` is the last failure seen. Reads change nothing, so a rerun is safe.
    #[error("the site stopped answering (last error: {last}); stopped reading rules. Nothing was changed: rerunning is safe")]
    SiteUnavailable { last: String },
}

impl FetchError {
    /// A one-line suggestion for the admin, where there is an obvious next step.
    pub fn hint(&self) -> Option<&'static str> {
        Some(match self {
            FetchError::Unauthorized { message } if message.contains("scope does not match") => {
                "scoped API tokens cannot use the Automation API: create a classic token (without scopes)"
            }
            FetchError::Unauthorized { .. } => {
                "check AUTOREKEY_LOGIN and AUTOREKEY_API_TOKEN: the token may be wrong, expired or \
                 revoked, and only classic (unscoped) API tokens can call rule management. Do not \
                 retry in a loop: repeated failed logins put the account behind a CAPTCHA."
            }
            FetchError::Forbidden { .. } => {
                "rule management needs a Jira global admin (Administer Jira); run as an admin \
                 account (if you are one, log in once in a browser to clear a CAPTCHA)"
            }
            FetchError::RateLimited { .. } => {
                "the site kept answering 429 or 503 (too many requests, or busy); try again later \
                 or lower --concurrency"
            }
            FetchError::BadRequest { title, .. } if title.contains("could not be parsed") => {
                "Jira answers this to writes made with an expired token: check the admin token"
            }
            FetchError::Policy(_) => {
                "credentials are sent only over HTTPS to the configured site and Atlassian hosts \
                 (plain HTTP only to loopback addresses)"
            }
            FetchError::Network(_) | FetchError::Timeout => {
                "check the site URL and that it is reachable (rehearsing? is `autorekey sandbox` \
                 running?); rerunning is safe"
            }
            FetchError::SiteUnavailable { .. } => {
                "the site stopped answering during the run (down, restarting or unreachable); \
                 check that it answers, then rerun: rerunning is safe"
            }
            FetchError::ResponseTooLarge { .. } => {
                "check that --site points at the Jira site; if its rules really are this big, \
                 raise --max-response-mb (or AUTOREKEY_MAX_RESPONSE_MB)"
            }
            _ => return None,
        })
    }

    /// True for the failures that suggest the site itself is down or unreachable (connection
    /// failures, time-outs, 5xx), as opposed to an answer about this one request.
    pub fn is_site_down(&self) -> bool {
        matches!(
            self,
            FetchError::Network(_)
                | FetchError::Timeout
                | FetchError::Server { .. }
                | FetchError::SiteUnavailable { .. }
        )
    }

    /// Maps a non-success answer to its error. `masker` cleans any quoted text.
    pub(crate) fn from_status(status: StatusCode, body: &[u8], masker: &Masker) -> Self {
        let parsed = ErrorBody::parse(body, masker);
        let message = parsed.message(status);
        match status.as_u16() {
            401 => FetchError::Unauthorized { message },
            403 => FetchError::Forbidden { message },
            404 => FetchError::NotFound { message },
            429 => FetchError::RateLimited { attempts: 1 },
            s if s >= 500 => FetchError::Server { status: s },
            s => FetchError::BadRequest {
                status: s,
                title: parsed.title.unwrap_or(message),
                detail: parsed.detail,
            },
        }
    }

    /// Maps a transport error, dropping the URL and keeping the useful part of the cause chain
    /// ("connection refused", "connection closed before message completed").
    pub(crate) fn from_reqwest(err: reqwest::Error) -> Self {
        if err.is_timeout() && !err.is_connect() {
            return FetchError::Timeout;
        }
        let err = err.without_url();
        let mut text = err.to_string();
        let mut source = err.source();
        while let Some(cause) = source {
            let part = cause.to_string();
            if !text.contains(&part) {
                text.push_str(": ");
                text.push_str(&part);
            }
            source = cause.source();
        }
        FetchError::Network(truncate(&text))
    }
}

/// The JSON error shapes Atlassian documents, reduced to the fields shown to an admin.
#[derive(Default)]
struct ErrorBody {
    title: Option<String>,
    detail: Option<String>,
    raw: Option<String>,
}

#[derive(Deserialize)]
struct ErrorList {
    errors: Vec<ErrorItem>,
}

#[derive(Deserialize)]
struct ErrorItem {
    title: Option<String>,
    detail: Option<String>,
    code: Option<serde_json::Value>,
    field: Option<String>,
}

#[derive(Deserialize)]
struct GatewayError {
    message: String,
}

impl ErrorBody {
    /// The fields shown, each cleaned by `masker`; when the fields read together still
    /// hold a credential (a token split across title and detail), none of them is shown.
    fn parse(body: &[u8], masker: &Masker) -> Self {
        let parsed = Self::parse_raw(body, masker);
        let fields: Vec<&str> = [&parsed.title, &parsed.detail, &parsed.raw]
            .into_iter()
            .flatten()
            .map(String::as_str)
            .collect();
        if masker.leaks_joined(&fields) {
            return ErrorBody {
                title: Some(WITHHELD.to_owned()),
                ..Default::default()
            };
        }
        parsed
    }

    fn parse_raw(body: &[u8], masker: &Masker) -> Self {
        let clean = |s: String| truncate(&masker.clean(&s));
        if let Ok(list) = serde_json::from_slice::<ErrorList>(body) {
            if let Some(first) = list.errors.into_iter().next() {
                let title = first.title.or_else(|| {
                    first
                        .code
                        .map(|c| c.to_string().trim_matches('"').to_owned())
                });
                let detail = match (first.detail, first.field) {
                    (Some(d), Some(f)) => Some(format!("{d} (field {f})")),
                    (d, None) => d,
                    (None, Some(f)) => Some(format!("field {f}")),
                };
                return ErrorBody {
                    title: title.map(clean),
                    detail: detail.map(clean),
                    raw: None,
                };
            }
        }
        if let Ok(gateway) = serde_json::from_slice::<GatewayError>(body) {
            return ErrorBody {
                title: Some(clean(gateway.message)),
                ..Default::default()
            };
        }
        // Cut before any copy: the masker cuts too, but the body may be 32 MiB.
        let head = &body[..body.len().min(4 * (LONGEST_SHOWN + 1024))];
        let text = String::from_utf8_lossy(head).trim().to_owned();
        ErrorBody {
            raw: (!text.is_empty() && !text.starts_with('<')).then(|| clean(text)),
            ..Default::default()
        }
    }

    /// One line for variants that carry a single message.
    fn message(&self, status: StatusCode) -> String {
        let head = self.title.clone().or_else(|| self.raw.clone());
        let line = match (head, &self.detail) {
            (Some(t), Some(d)) => format!("{t}: {d}"),
            (Some(t), None) => t,
            (None, Some(d)) => d.clone(),
            (None, None) => status.canonical_reason().unwrap_or("no details").to_owned(),
        };
        truncate(&line)
    }
}

/// Caps the length of quoted text and makes it printable (one line, no control sequence).
pub(crate) fn truncate(text: &str) -> String {
    crate::printable::cut(text, MAX_QUOTED)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The `-v` lines and a give-up message say their counts in English, one or many.
    #[test]
    fn counts_in_messages_agree_with_their_number() {
        use crate::{ConcurrencyStats, PaceStats};
        let gave_up = |attempts| FetchError::RateLimited { attempts }.to_string();
        assert!(gave_up(1).ends_with("after 1 attempt"), "{}", gave_up(1));
        assert!(gave_up(4).ends_with("after 4 attempts"), "{}", gave_up(4));
        let paced = PaceStats {
            throttles: 1,
            adjustments: 2,
            ..PaceStats::default()
        };
        assert_eq!(
            paced.to_string(),
            "1 rate-limit answer (429), 2 adjustments"
        );
        let cut = ConcurrencyStats {
            max: 8,
            final_limit: 6,
            lowest_limit: 4,
            cuts: 1,
        };
        assert_eq!(
            cut.to_string(),
            "up to 8 requests at once, cut 1 time to as low as 4, 6 at the end"
        );
    }

    fn error(status: u16, body: &str) -> FetchError {
        FetchError::from_status(
            StatusCode::from_u16(status).unwrap(),
            body.as_bytes(),
            &Masker::new(),
        )
    }

    #[test]
    fn documented_error_list_becomes_bad_request() {
        let body = r#"{"errors":[{"id":"1","status":"400","code":"INVALID","title":"Component ids do not match the existing rule or there are duplicate ids","detail":"id 7","field":"components"}]}"#;
        assert_eq!(
            error(400, body),
            FetchError::BadRequest {
                status: 400,
                title: "Component ids do not match the existing rule or there are duplicate ids"
                    .into(),
                detail: Some("id 7 (field components)".into()),
            }
        );
    }

    #[test]
    fn gateway_error_feeds_the_unauthorized_message_and_hint() {
        let err = error(
            401,
            r#"{"code":401,"message":"Unauthorized; scope does not match"}"#,
        );
        assert_eq!(
            err,
            FetchError::Unauthorized {
                message: "Unauthorized; scope does not match".into()
            }
        );
        assert!(err.hint().unwrap().contains("classic token"));
    }

    #[test]
    fn status_kinds_and_fallbacks() {
        assert!(
            matches!(error(403, "User is not authenticated, or user is not a global admin"),
            FetchError::Forbidden { message } if message.contains("global admin"))
        );
        assert!(
            matches!(error(404, ""), FetchError::NotFound { message } if message == "Not Found")
        );
        assert_eq!(
            error(502, "<html>bad gateway</html>"),
            FetchError::Server { status: 502 }
        );
        assert_eq!(error(429, ""), FetchError::RateLimited { attempts: 1 });
        assert!(
            matches!(error(409, "<html/>"), FetchError::BadRequest { title, .. } if title == "Conflict")
        );
    }

    #[test]
    fn quoted_text_is_masked_and_capped() {
        let token = format!("FAKE-{}", "x".repeat(40));
        let body = format!(
            r#"{{"code":400,"message":"bad token {token} {}"}}"#,
            "y".repeat(1000)
        );
        let mut masker = Masker::new();
        masker.add(&token);
        let err = FetchError::from_status(StatusCode::BAD_REQUEST, body.as_bytes(), &masker);
        let shown = err.to_string();
        assert!(!shown.contains(&token), "{shown}");
        assert!(shown.contains("****"));
        assert!(shown.chars().count() < MAX_QUOTED + 100);
    }

    #[test]
    fn a_token_split_across_fields_is_withheld_and_controls_escaped() {
        let token = format!("FAKE-{}", uuid::Uuid::new_v4().simple());
        // Each piece is too short to be masked alone.
        let (a, b) = (&token[..12], &token[12..30]);
        let body = format!(r#"{{"errors":[{{"title":"bad {a}","detail":"{b} \u001b[2K"}}]}}"#);
        let mut masker = Masker::new();
        masker.add(&token);
        let shown =
            FetchError::from_status(StatusCode::BAD_REQUEST, body.as_bytes(), &masker).to_string();
        assert!(!shown.contains(a) && !shown.contains(b), "{shown}");
        assert!(shown.contains(WITHHELD), "{shown}");
        let shown = error(400, r#"{"message":"evil\r\u001b]52;c;x\u0007"}"#).to_string();
        assert!(!shown.contains(['\r', '\u{1b}', '\u{7}']), "{shown}");
    }
}
