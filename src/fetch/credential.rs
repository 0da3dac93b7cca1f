//! Is this credential alive? Asked of `GET /rest/api/3/myself`, the one endpoint Atlassian
//! documents as trustworthy for it (others answer 200 to bad credentials, as if anonymous).
//!
//! Checking a doubtful credential is itself a risk: a few wrong or expired tokens put the
//! account behind a CAPTCHA. So a check is one request for a 401 (never retried), the host
//! policy is applied before anything is sent, the login-denied headers count as a failure
//! even on a 200, and a definite answer (live or dead) is remembered for the client's
//! lifetime, so one run asks about each credential at most once.

use std::collections::HashMap;

use reqwest::header::HeaderMap;
use serde::Deserialize;
use url::Url;

use super::client::{basic_auth, join, AutomationClient};
use super::error::{truncate, FetchError};
use super::policy::display_url;
use super::transport::Safety;
use crate::secret::{Credential, Fingerprint, Masker};

/// The answer of `/myself` for a working credential.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Myself {
    pub account_id: String,
    /// Hidden when the user's profile visibility says so.
    #[serde(default)]
    pub email_address: Option<String>,
    #[serde(default)]
    pub display_name: Option<String>,
}

/// What a credential check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialCheck {
    /// The site accepted it.
    Live {
        account_id: String,
        email: Option<String>,
    },
    /// The site rejected it (401, or a login-denied header): wrong, revoked or expired.
    Dead { reason: String },
    /// No verdict: refused by the host policy, network trouble, or an unexpected answer.
    Unknown { reason: String },
}

/// Definite verdicts per (site origin, user, token fingerprint).
pub(crate) type CheckCache = HashMap<(String, String, Fingerprint), CredentialCheck>;

/// Headers with which Atlassian says "these credentials were not accepted" on any status.
const DENIAL_HEADERS: [(&str, &[&str]); 2] = [
    (
        "x-seraph-loginreason",
        &["AUTHENTICATED_FAILED", "AUTHENTICATION_DENIED"],
    ),
    ("x-authentication-denied-reason", &[]),
];

impl AutomationClient {
    /// The admin's own login check against the configured site.
    pub async fn myself(&self) -> Result<Myself, FetchError> {
        let site = self.site().clone();
        let admin = self.inner.admin.clone();
        self.ask_myself(&site, &admin).await
    }

    /// Checks `credential` against `{site}/rest/api/3/myself`. Sends nothing when the host
    /// policy refuses `site` (the answer is then `Unknown` with the reason). A 401 is asked
    /// once; 5xx, 429 and transport errors are retried per the policy. Definite verdicts are
    /// remembered, so asking again about the same credential and site sends nothing.
    pub async fn check_credential(&self, site: &Url, credential: &Credential) -> CredentialCheck {
        if let Err(refusal) = self.inner.hosts.require(site) {
            return CredentialCheck::Unknown {
                reason: refusal.to_string(),
            };
        }
        let key = (
            site.origin().ascii_serialization(),
            credential.user.to_ascii_lowercase(),
            credential.token.fingerprint(),
        );
        if let Some(known) = self.cache().get(&key) {
            return known.clone();
        }
        let verdict = match self.ask_myself(site, credential).await {
            Ok(me) => CredentialCheck::Live {
                account_id: me.account_id,
                email: me.email_address,
            },
            Err(FetchError::Unauthorized { message }) => CredentialCheck::Dead { reason: message },
            Err(other) => CredentialCheck::Unknown {
                reason: other.to_string(),
            },
        };
        if !matches!(verdict, CredentialCheck::Unknown { .. }) {
            self.cache().insert(key, verdict.clone());
        }
        verdict
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, CheckCache> {
        self.inner.checked.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `GET {site}/rest/api/3/myself` with `credential`. A login-denied header turns any answer
    /// into [`FetchError::Unauthorized`].
    async fn ask_myself(&self, site: &Url, credential: &Credential) -> Result<Myself, FetchError> {
        let url = join(site, "/rest/api/3/myself")?;
        self.inner.hosts.require(&url)?;
        let auth = basic_auth(credential)?;
        let transport = &self.inner.transport;
        let exchange = transport
            .exchange(
                || {
                    transport
                        .http
                        .get(url.clone())
                        .header(reqwest::header::AUTHORIZATION, auth.clone())
                },
                Safety::Repeatable,
                None,
            )
            .await;
        let answer = exchange.result.map_err(FetchError::from_reqwest)?;
        // The credential being checked is a secret from now on, whatever the answer.
        self.also_mask_credential(credential);
        let masker = self.masker();
        if let Some(reason) = login_denied(&answer.headers, &masker) {
            return Err(FetchError::Unauthorized { message: reason });
        }
        if !answer.status.is_success() {
            return Err(answer.into_error(exchange.attempts, &masker));
        }
        let me: Myself = answer.json(&masker)?;
        if me.account_id.trim().is_empty() {
            return Err(FetchError::InvalidResponse(format!(
                "{} answered without an accountId",
                display_url(&url)
            )));
        }
        Ok(me)
    }
}

/// The login-denied reason, if a denial header is present. The header's value is server
/// text like any other: cleaned by `masker`, capped and made printable.
fn login_denied(headers: &HeaderMap, masker: &Masker) -> Option<String> {
    DENIAL_HEADERS.iter().find_map(|(name, values)| {
        let raw = headers.get(*name)?;
        let value = String::from_utf8_lossy(raw.as_bytes());
        let value = value.trim();
        let denied = values.is_empty() || values.iter().any(|v| value.eq_ignore_ascii_case(v));
        let shown = truncate(&masker.clean(value));
        denied.then(|| format!("login denied ({name}: {shown})"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn denial_headers_are_recognised() {
        let mut headers = HeaderMap::new();
        assert_eq!(login_denied(&headers, &Masker::new()), None);
        headers.insert("x-seraph-loginreason", HeaderValue::from_static("OK"));
        assert_eq!(login_denied(&headers, &Masker::new()), None);
        headers.insert(
            "x-seraph-loginreason",
            HeaderValue::from_static("AUTHENTICATION_DENIED"),
        );
        assert!(login_denied(&headers, &Masker::new())
            .unwrap()
            .contains("AUTHENTICATION_DENIED"));
        let mut captcha = HeaderMap::new();
        captcha.insert(
            "x-authentication-denied-reason",
            HeaderValue::from_static("CAPTCHA_CHALLENGE; login-url=https://x"),
        );
        assert!(login_denied(&captcha, &Masker::new())
            .unwrap()
            .contains("CAPTCHA"));
    }

    #[test]
    fn a_denial_header_echoing_the_token_is_masked() {
        let token = format!("FAKE-{}", uuid::Uuid::new_v4().simple());
        let credential = Credential::new("svc@corp.example", crate::secret::Token::new(&token));
        let mut masker = Masker::new();
        masker.add_credential(&credential);
        let mut headers = HeaderMap::new();
        let echoed = format!("DENIED token={token} basic={}", credential.basic_value());
        headers.insert(
            "x-authentication-denied-reason",
            HeaderValue::from_str(&echoed).unwrap(),
        );
        let shown = login_denied(&headers, &masker).unwrap();
        assert!(shown.contains("DENIED"), "{shown}");
        assert!(!shown.contains(&token[..20]), "{shown}");
        assert!(!masker.leaks(&shown), "{shown}");
    }
}
