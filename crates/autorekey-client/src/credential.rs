//! Is this credential alive? Asked of the product's "current user" endpoint (Jira's
//! `/rest/api/3/myself`, Confluence's `/wiki/rest/api/user/current`), the one Atlassian
//! documents as trustworthy for it (others answer 200 to bad credentials, as if anonymous).
//!
//! A credential logs in by one of two forms: the classic one on the site itself, and the
//! gateway one (`https://api.atlassian.com/ex/{product}/{cloudId}/...`) that scoped and
//! service-account tokens need, since the site refuses them. [`AutomationClient::verify`]
//! decides which forms to try and in what order (a service account: the gateway only;
//! anyone else: the site, then the gateway when the site says no), and a 401 "scope does
//! not match" means the token is live but its scopes do not include reading the user.
//!
//! Checking a doubtful credential is itself a risk: a few wrong or expired tokens put the
//! account behind a CAPTCHA. So a check is one request for a 401 (never retried), the host
//! policy is applied before anything is sent, the login-denied headers count as a failure
//! even on a 200, and a definite answer is remembered per URL for the client's lifetime, so
//! one run asks about each credential at most once per form.

use std::collections::HashMap;

use reqwest::header::HeaderMap;
use serde::Deserialize;
use url::Url;

use super::client::{basic_auth, join, AutomationClient};
use super::error::{truncate, FetchError};
use super::policy::display_url;
use super::transport::Safety;
use crate::secret::{Credential, Fingerprint, Masker};

/// The answer of the current-user endpoint for a working credential.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Myself {
    pub account_id: String,
    /// Hidden when the user's profile visibility says so. Confluence calls it `email`.
    #[serde(default, alias = "email")]
    pub email_address: Option<String>,
    #[serde(default)]
    pub display_name: Option<String>,
}

impl Myself {
    /// The answer with every field cleaned by `masker` and made one printable line. These
    /// fields are the server's text and are shown (`-v`, the refusal of a new token that
    /// logs in as someone else): a server answering with the checked token as its email
    /// must not get it printed. An address holding a credential, a control character or a
    /// line break matches no real account either way, so the comparisons made with them
    /// do not change.
    fn cleaned(self, masker: &Masker) -> Myself {
        let line = |s: String| crate::printable::printable(&masker.clean(&s)).into_owned();
        Myself {
            account_id: line(self.account_id),
            email_address: self.email_address.map(line),
            display_name: self.display_name.map(line),
        }
    }
}

/// What a credential check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialCheck {
    /// The site accepted it.
    Live {
        account_id: String,
        email: Option<String>,
    },
    /// Accepted as a scoped token whose scopes do not include reading the current user
    /// ([`MYSELF_SCOPES`]): Atlassian answered 401 "scope does not match", or marked the 401
    /// `X-Failure-Category: FAILURE_CLIENT_SCOPE_CHECK`, which a wrong, revoked or expired
    /// token never gets. Live, but it cannot say whose it is.
    LiveScopeLimited { reason: String },
    /// The site rejected it (401, or a login-denied header): wrong, revoked or expired.
    Dead { reason: String },
    /// No verdict: refused by the host policy, network trouble, or an unexpected answer.
    Unknown { reason: String },
}

impl CredentialCheck {
    /// Live, with or without its scope to read the user.
    pub fn is_live(&self) -> bool {
        matches!(
            self,
            CredentialCheck::Live { .. } | CredentialCheck::LiveScopeLimited { .. }
        )
    }
}

/// Where [`AutomationClient::verify`] may check a credential (decided in the core).
pub use autorekey_core::verify::CheckAt;

/// One address form to check a credential at.
#[derive(Clone, Copy)]
enum LoginForm<'a> {
    /// The current-user endpoint on this site.
    Classic(&'a Url),
    /// The gateway form for this cloud id, or the configured site's when `None`.
    Gateway(Option<&'a str>),
}

/// A verdict and the URL that gave it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verified {
    pub check: CredentialCheck,
    pub url: Option<Url>,
}

/// Service accounts' emails end so; their tokens log in only through the gateway.
pub const SERVICE_ACCOUNT_DOMAIN: &str = "@serviceaccount.atlassian.com";

pub fn is_service_account(user: &str) -> bool {
    let user = user.trim().to_ascii_lowercase();
    user.len() > SERVICE_ACCOUNT_DOMAIN.len() && user.ends_with(SERVICE_ACCOUNT_DOMAIN)
}

/// Definite verdicts per (URL checked, user, token fingerprint).
pub(crate) type CheckCache = HashMap<(String, String, Fingerprint), CredentialCheck>;

/// Headers with which Atlassian says "these credentials were not accepted" on any status.
const DENIAL_HEADERS: [(&str, &[&str]); 2] = [
    (
        "x-seraph-loginreason",
        &["AUTHENTICATED_FAILED", "AUTHENTICATION_DENIED"],
    ),
    ("x-authentication-denied-reason", &[]),
];

/// The gateway's answer for a token that is valid but lacks the scope the call needs.
const SCOPE_MISMATCH: &str = "scope does not match";

/// The header with which the gateway marks a scope failure, whatever its message says.
const FAILURE_CATEGORY: &str = "x-failure-category";
const SCOPE_CHECK_FAILURE: &str = "FAILURE_CLIENT_SCOPE_CHECK";

/// What reading the current user needs: Jira's classic scope, or its granular set.
pub const MYSELF_SCOPES: &str = "read:jira-user (classic scope) or read:application-role:jira \
     read:group:jira read:user:jira read:avatar:jira (granular scopes)";

/// The current-user endpoint of a product, relative to the site (or to the gateway's
/// `/ex/{product}/{cloudId}/`).
fn login_path(product: &str) -> &'static str {
    match product {
        "confluence" => "wiki/rest/api/user/current",
        _ => "rest/api/3/myself",
    }
}

impl AutomationClient {
    /// The admin's own login check against the configured site.
    pub async fn myself(&self) -> Result<Myself, FetchError> {
        let url = self.classic_login_url(self.site())?;
        let admin = self.inner.admin.clone();
        self.ask_myself(&url, &admin).await
    }

    /// `{site}/rest/api/3/myself` (or Confluence's current-user endpoint) for a site.
    pub fn classic_login_url(&self, site: &Url) -> Result<Url, FetchError> {
        join(site, &format!("/{}", login_path(self.product())))
    }

    /// `{gateway}/ex/{product}/{cloudId}/rest/api/3/myself` (Confluence: its current-user
    /// endpoint under `/ex/confluence/{cloudId}/`).
    pub fn gateway_login_url(&self, cloud_id: &str) -> Result<Url, FetchError> {
        if !crate::gateway::is_cloud_id(cloud_id) {
            return Err(FetchError::Policy(format!(
                "refusing cloud id `{cloud_id}`: it is not a cloud id"
            )));
        }
        let product = self.product();
        join(
            self.gateway(),
            &format!("ex/{product}/{cloud_id}/{}", login_path(product)),
        )
    }

    /// Checks `credential` in the classic form at `site`. See [`Self::check_url`].
    pub async fn check_credential(&self, site: &Url, credential: &Credential) -> CredentialCheck {
        match self.classic_login_url(site) {
            Ok(url) => self.check_url(&url, credential).await,
            Err(e) => CredentialCheck::Unknown {
                reason: e.to_string(),
            },
        }
    }

    /// Checks `credential` in every form `at` allows, in order, going on to the next form
    /// only when one says "dead" (a scoped token is refused by the site): a service
    /// account goes to the gateway only; anyone else to the site first. The site's cloud
    /// id is asked for only when the gateway form is reached.
    pub async fn verify(&self, at: &CheckAt, credential: &Credential) -> Verified {
        let mut refusals = Vec::new();
        for form in self.login_forms(at, &credential.user) {
            let url = match self.form_url(form).await {
                Ok(url) => url,
                Err(e) if refusals.is_empty() => {
                    let reason = format!("cannot build the address to check it at: {e}");
                    return Verified {
                        check: CredentialCheck::Unknown { reason },
                        url: None,
                    };
                }
                Err(e) => {
                    refusals.push(format!("the gateway form could not be tried ({e})"));
                    break;
                }
            };
            match self.check_url(&url, credential).await {
                CredentialCheck::Dead { reason } => {
                    refusals.push(format!("{}: {reason}", display_url(&url)));
                }
                check => {
                    return Verified {
                        check,
                        url: Some(url),
                    }
                }
            }
        }
        Verified {
            check: CredentialCheck::Dead {
                reason: format!("refused by {}", refusals.join("; ")),
            },
            url: None,
        }
    }

    fn login_forms<'a>(&self, at: &'a CheckAt, user: &str) -> Vec<LoginForm<'a>> {
        match at {
            CheckAt::Gateway(cloud_id) => vec![LoginForm::Gateway(Some(cloud_id))],
            CheckAt::Site(site) if site.origin() != self.site().origin() => {
                vec![LoginForm::Classic(site)]
            }
            _ if is_service_account(user) => vec![LoginForm::Gateway(None)],
            CheckAt::Site(site) => vec![LoginForm::Classic(site), LoginForm::Gateway(None)],
        }
    }

    async fn form_url(&self, form: LoginForm<'_>) -> Result<Url, FetchError> {
        match form {
            LoginForm::Classic(site) => self.classic_login_url(site),
            LoginForm::Gateway(Some(cloud_id)) => self.gateway_login_url(cloud_id),
            LoginForm::Gateway(None) => self.gateway_login_url(&self.cloud_id().await?),
        }
    }

    /// Checks `credential` against one login URL. Sends nothing when the host policy
    /// refuses it (the answer is then `Unknown` with the reason). A 401 is asked once; 5xx,
    /// 429 and transport errors are retried per the policy. Definite verdicts are
    /// remembered, so asking again about the same credential and URL sends nothing.
    pub async fn check_url(&self, url: &Url, credential: &Credential) -> CredentialCheck {
        if let Err(refusal) = self.inner.hosts.require(url) {
            return CredentialCheck::Unknown {
                reason: refusal.to_string(),
            };
        }
        let key = (
            display_url(url),
            credential.user.to_ascii_lowercase(),
            // By identity, not the 48-bit fingerprint a planted value could be ground to share.
            credential.token.identity(),
        );
        if let Some(known) = self.cache().get(&key) {
            return known.clone();
        }
        let verdict = match self.ask_myself(url, credential).await {
            Ok(me) => CredentialCheck::Live {
                account_id: me.account_id,
                email: me.email_address,
            },
            Err(FetchError::Unauthorized { message }) if message.contains(SCOPE_MISMATCH) => {
                CredentialCheck::LiveScopeLimited {
                    reason: format!(
                        "live, but its scopes do not cover reading the current user \
                         (Jira's /myself needs {MYSELF_SCOPES}) ({message})"
                    ),
                }
            }
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

    /// `GET` a current-user URL with `credential`. A login-denied header, or Confluence's
    /// anonymous user, turns any answer into [`FetchError::Unauthorized`].
    async fn ask_myself(&self, url: &Url, credential: &Credential) -> Result<Myself, FetchError> {
        self.inner.hosts.require(url)?;
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
        self.masker_mut().add_credential(credential);
        let masker = self.masker();
        if let Some(reason) = login_denied(&answer.headers, &masker) {
            return Err(FetchError::Unauthorized { message: reason });
        }
        if !answer.status.is_success() {
            let scope_check = is_scope_check_failure(&answer.headers);
            return Err(match answer.into_error(exchange.attempts, &masker) {
                FetchError::Unauthorized { message }
                    if scope_check && !message.contains(SCOPE_MISMATCH) =>
                {
                    FetchError::Unauthorized {
                        message: format!(
                            "{SCOPE_MISMATCH} ({FAILURE_CATEGORY}: {SCOPE_CHECK_FAILURE}): {message}"
                        ),
                    }
                }
                other => other,
            });
        }
        let body: serde_json::Value = answer.json(&masker)?;
        if body.get("type").and_then(serde_json::Value::as_str) == Some("anonymous") {
            return Err(FetchError::Unauthorized {
                message: "answered as the anonymous user".into(),
            });
        }
        let me: Myself = serde_json::from_value(body).map_err(|e| {
            let why = truncate(&masker.clean(&e.to_string()));
            FetchError::InvalidResponse(format!("the answer is not the expected JSON ({why})"))
        })?;
        let me = me.cleaned(&masker);
        if me.account_id.trim().is_empty() {
            return Err(FetchError::InvalidResponse(format!(
                "{} answered without an accountId",
                display_url(url)
            )));
        }
        Ok(me)
    }
}

/// True when the gateway marked the answer as a scope failure: the token is valid.
fn is_scope_check_failure(headers: &HeaderMap) -> bool {
    headers
        .get(FAILURE_CATEGORY)
        .is_some_and(|v| v.as_bytes().trim_ascii() == SCOPE_CHECK_FAILURE.as_bytes())
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
