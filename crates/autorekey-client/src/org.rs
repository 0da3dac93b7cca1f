//! [`OrgClient`]: the Atlassian organization admin API calls autorekey makes: list the org's
//! API tokens (with expiry and last activity, never values) and revoke one.
//!
//! The shapes follow Atlassian's published API Access REST API, "Get all API tokens in an
//! org" (developer.atlassian.com/cloud/admin/api-access/rest/api-group-api-token/):
//! `GET https://api.atlassian.com/admin/api-access/v1/orgs/{orgId}/api-tokens` answers
//! `{"data": [{"id", "label", "status": "ALLOWED", "createdAt", "expiresAt", "lastActiveAt",
//! "user": {"id", "orgId", "name", "email"}}], "links": {"self", "next", "prev"}}` and needs
//! an org API key with `read:tokens:admin`. What `links.next` holds is not documented: it is
//! taken as an absolute URL (on the gateway only), a `?query`, or a bare cursor. The user
//! management API's per-user listing answers a bare array of `{"id", "label", "createdAt",
//! "expiry", "lastAccess"}`; both shapes and both field spellings are read, since which one a
//! tenant gets is not certain. Revoking is the user management API's
//! `DELETE https://api.atlassian.com/users/{accountId}/manage/api-tokens/{tokenId}`.
//! Service accounts' tokens are listed apart (`.../orgs/{orgId}/service-accounts/api-tokens`,
//! scope `read:service-accounts-tokens:admin`), in a shape not documented: read as the user
//! list, the owner under `user`, `serviceAccount` or `owner`. Their only delete revokes all
//! of an account's tokens, so none is offered here.
//!
//! The org key is a Bearer credential: it goes only to the gateway (api.atlassian.com, or a
//! loopback sandbox in tests), through the same host policy, retries and masking as the rest.

use std::collections::HashSet;

use reqwest::header::{HeaderValue, AUTHORIZATION};
use reqwest::redirect;
use serde::Deserialize;
use serde_json::Value;
use url::Url;

use super::client::{build_http, join, parse_json};
use super::error::FetchError;
use super::policy::{check_site_url, is_loopback, HostPolicy};
use super::retry::RetryPolicy;
use super::transport::{Safety, Transport};
use crate::secret::{Masker, Token};

mod workspaces;
pub use workspaces::{UnreadWorkspace, Workspaces};

/// Stops a server that hands out fresh cursors forever.
const MAX_PAGES: usize = 1_000;
/// Most org API requests in flight at once (its calls are few and mostly one after another).
const ORG_CONCURRENCY: usize = 4;

/// One API token as the org admin API describes it. Never holds the token's value.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OrgToken {
    pub id: String,
    #[serde(default)]
    pub label: String,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub created_at: Option<String>,
    #[serde(default, alias = "expiry")]
    pub expires_at: Option<String>,
    #[serde(default, alias = "lastAccess")]
    pub last_active_at: Option<String>,
    /// The owner: `user` on the user-token list; on the service-account list its shape is
    /// not documented, so `serviceAccount` and `owner` are read too.
    #[serde(default, alias = "serviceAccount", alias = "owner")]
    pub user: Option<OrgUser>,
    /// Scopes of a scoped token, when the list gives them (service accounts have only
    /// scoped tokens, so one from that list counts as scoped even without them).
    #[serde(default)]
    pub scopes: Option<Vec<String>>,
    /// Listed by the service-account endpoint (set by the client, not the server).
    #[serde(default, skip_deserializing)]
    pub service_account: bool,
}

/// Every token the org key could list, and what it could not: the service-account list
/// needs its own scope, and without it those owners' tokens are unknown, not absent.
#[derive(Clone, Debug, Default)]
pub struct TokenList {
    pub tokens: Vec<OrgToken>,
    /// Why the service accounts' tokens could not be listed (masked, one line), if so.
    pub service_accounts_unlisted: Option<String>,
}

impl TokenList {
    /// The org's list cannot tell what tokens `email` has: a service account whose
    /// tokens could not be listed.
    pub fn unknown(&self, email: &str) -> bool {
        self.service_accounts_unlisted.is_some() && super::is_service_account(email)
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
pub struct OrgUser {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default, alias = "emailAddress")]
    pub email: Option<String>,
}

impl OrgToken {
    pub fn email(&self) -> Option<&str> {
        self.user.as_ref()?.email.as_deref()
    }

    pub fn account_id(&self) -> Option<&str> {
        self.user.as_ref()?.id.as_deref()
    }

    /// Revoked or otherwise unusable tokens are listed by some tenants; they expire nothing.
    pub fn is_active(&self) -> bool {
        self.status
            .as_deref()
            .is_none_or(|s| s.eq_ignore_ascii_case("ALLOWED") || s.eq_ignore_ascii_case("ACTIVE"))
    }

    /// Every text field through `masker` (cut to a few KiB first): the list is the
    /// server's text, shown to people, and must not carry a secret it was sent (a label
    /// that echoes the key).
    fn masked(self, masker: &Masker) -> OrgToken {
        let m = |text: String| masker.clean(&text);
        let opt = |text: Option<String>| text.map(|t| masker.clean(&t));
        OrgToken {
            id: m(self.id),
            label: m(self.label),
            status: opt(self.status),
            created_at: opt(self.created_at),
            expires_at: opt(self.expires_at),
            last_active_at: opt(self.last_active_at),
            user: self.user.map(|u| OrgUser {
                id: opt(u.id),
                email: opt(u.email),
            }),
            scopes: self
                .scopes
                .map(|s| s.into_iter().map(|x| masker.clean(&x)).collect()),
            service_account: self.service_account,
        }
    }

    /// A scoped token: it has scopes, or is a service account's (only scoped ones exist).
    pub fn is_scoped(&self) -> bool {
        self.service_account || self.scopes.as_ref().is_some_and(|s| !s.is_empty())
    }

    /// The expiry is readable and not after `now`.
    pub fn is_expired(&self, now: i64) -> bool {
        self.expires_at
            .as_deref()
            .and_then(parse_timestamp)
            .is_some_and(|at| at <= now)
    }

    /// Days from `now` (epoch seconds) to the expiry, a part day counting as one (so "in
    /// 12 days" stays 12 for the whole day), negative once past; `None` without a readable
    /// expiry.
    pub fn days_left(&self, now: i64) -> Option<i64> {
        let expires = parse_timestamp(self.expires_at.as_deref()?)?;
        Some((expires - now + 86_399).div_euclid(86_400))
    }
}

/// Calls of the org admin API with one org's key.
#[derive(Debug)]
pub struct OrgClient {
    transport: Transport,
    gateway: Url,
    org_id: String,
    auth: HeaderValue,
    /// Masks the key (and its Bearer header) out of any server text quoted in an error.
    masker: Masker,
}

impl OrgClient {
    /// A client for `org_id` at `gateway` (https, or http on loopback for a sandbox).
    pub fn new(
        gateway: Url,
        org_id: &str,
        key: Token,
        retry: RetryPolicy,
    ) -> Result<OrgClient, FetchError> {
        check_site_url(&gateway)?;
        // The key goes to Atlassian's gateway, or to a sandbox on this machine; nowhere else.
        let atlassian = Url::parse(super::client::ATLASSIAN_GATEWAY).expect("a valid constant URL");
        if !is_loopback(&gateway) && !HostPolicy::new(atlassian).allows(&gateway) {
            return Err(FetchError::Policy(
                "the org admin API key may go only to api.atlassian.com (or a loopback sandbox)"
                    .into(),
            ));
        }
        if !crate::gateway::is_cloud_id(org_id.trim()) {
            return Err(FetchError::Config(
                "the org id may hold only letters, digits and dashes".into(),
            ));
        }
        let hosts = HostPolicy::new(gateway.clone());
        let timeout = std::time::Duration::from_secs(30);
        let http = build_http(&hosts, timeout, redirect::Policy::none())?;
        let writes = build_http(&hosts, timeout, redirect::Policy::none())?;
        let mut auth = HeaderValue::from_str(&format!("Bearer {}", key.expose()))
            .map_err(|_| FetchError::Config("the org API key cannot go in a header".into()))?;
        auth.set_sensitive(true);
        let mut masker = Masker::new();
        masker.add(key.expose());
        Ok(OrgClient {
            // Its own limiter and pacer: another host, with limits of its own.
            transport: Transport::new(http, writes, retry, ORG_CONCURRENCY)
                .with_masker(std::sync::Arc::new(std::sync::RwLock::new(masker.clone()))),
            gateway,
            org_id: org_id.trim().to_owned(),
            auth,
            masker,
        })
    }

    /// Every API token of the org: the users' (an error fails the list) and the service
    /// accounts' (listed apart, with a scope of its own; an error there leaves those owners
    /// unknown, see [`TokenList::unknown`]).
    pub async fn list_tokens(&self) -> Result<TokenList, FetchError> {
        let mut tokens = self.list_pages("api-tokens").await?;
        let mut unlisted = None;
        match self.list_pages("service-accounts/api-tokens").await {
            Ok(sa) => match service_account_tokens(sa) {
                Ok(sa) => tokens.extend(sa),
                Err(why) => unlisted = Some(why),
            },
            Err(e) => {
                unlisted = Some(
                    crate::printable::printable(&self.masker.clean(&e.to_string())).into_owned(),
                )
            }
        }
        Ok(TokenList {
            tokens,
            service_accounts_unlisted: unlisted,
        })
    }

    /// One list endpoint under the org, following `links.next` until it is empty.
    async fn list_pages(&self, path: &str) -> Result<Vec<OrgToken>, FetchError> {
        let first = join(
            &self.gateway,
            &format!("admin/api-access/v1/orgs/{}/{path}", self.org_id),
        )?;
        let mut next = Some(first.clone());
        let mut seen = HashSet::new();
        let mut tokens = Vec::new();
        while let Some(url) = next.take() {
            if !seen.insert(url.to_string()) || seen.len() > MAX_PAGES {
                return Err(FetchError::InvalidResponse(
                    "the token list repeats a page or never ends; stopping".into(),
                ));
            }
            let page = self.read(|| self.transport.http.get(url.clone())).await?;
            let (items, link) = split_page(page, &self.masker)?;
            tokens.extend(items);
            next = link.map(|l| self.resolve_next(&first, &l)).transpose()?;
        }
        Ok(tokens)
    }

    /// `DELETE /users/{accountId}/manage/api-tokens/{tokenId}`.
    pub async fn revoke(&self, account_id: &str, token_id: &str) -> Result<(), FetchError> {
        let url = self.revoke_url(account_id, token_id)?;
        let exchange = self
            .transport
            .exchange(
                || {
                    self.transport
                        .client_for(&reqwest::Method::DELETE)
                        .delete(url.clone())
                        .header(AUTHORIZATION, self.auth.clone())
                },
                Safety::Write,
                None,
            )
            .await;
        exchange.success(&self.masker)?;
        Ok(())
    }

    /// `{gateway}/users/{accountId}/manage/api-tokens/{tokenId}`. Both ids are the server's
    /// text: `.` or `..` would move the DELETE to another path (the URL parser resolves them
    /// even as single segments), so only plain id characters are accepted.
    fn revoke_url(&self, account_id: &str, token_id: &str) -> Result<Url, FetchError> {
        for id in [account_id, token_id] {
            if !is_plain_id(id) {
                return Err(FetchError::InvalidResponse(format!(
                    "refusing to revoke: `{}` is not a plain account or token id",
                    crate::printable::printable(&self.masker.mask(id))
                )));
            }
        }
        let mut url = self.gateway.clone();
        url.path_segments_mut()
            .map_err(|_| FetchError::Config("the gateway URL cannot take a path".into()))?
            .pop_if_empty()
            .extend(["users", account_id, "manage", "api-tokens", token_id]);
        Ok(url)
    }

    /// A read (`build` without its key), sent with the key and retried as reads are: the
    /// answer's JSON, or the error, with the key masked out of any text quoted.
    async fn read(&self, build: impl Fn() -> reqwest::RequestBuilder) -> Result<Value, FetchError> {
        let exchange = self
            .transport
            .exchange(
                || build().header(AUTHORIZATION, self.auth.clone()),
                Safety::Repeatable,
                None,
            )
            .await;
        let answer = exchange.success(&self.masker)?;
        parse_json(&answer.body, &self.masker)
    }

    /// A next link: an absolute URL (only on the gateway's origin: the key goes nowhere
    /// else), a `?query` for the list endpoint, or a bare cursor.
    fn resolve_next(&self, first: &Url, link: &str) -> Result<Url, FetchError> {
        let mut url = first.clone();
        if let Some(query) = link.strip_prefix('?') {
            url.set_query(Some(query));
        } else if link.starts_with("http://") || link.starts_with("https://") {
            url = Url::parse(link)
                .map_err(|_| FetchError::InvalidResponse("unreadable next-page link".into()))?;
            if url.origin() != self.gateway.origin() {
                return Err(FetchError::Policy(
                    "the token list's next page is on another host; not followed".into(),
                ));
            }
        } else {
            url.query_pairs_mut().clear().append_pair("cursor", link);
        }
        Ok(url)
    }
}

/// An account or token id that means the same as one path segment: letters, digits and
/// `:-_.`, not only dots (`712020:5f0c...`, a UUID, 24 hex digits).
fn is_plain_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 256
        && id.chars().any(|c| c != '.')
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, ':' | '-' | '_' | '.'))
}

/// The items and the next link of a page, in either documented shape. An entry's parse
/// error quotes the server's text, which may echo the key: it goes through `masker`.
fn split_page(page: Value, masker: &Masker) -> Result<(Vec<OrgToken>, Option<String>), FetchError> {
    let (items, next) = match page {
        Value::Array(items) => (items, None),
        Value::Object(mut map) => {
            let next = map
                .get("links")
                .and_then(|l| l.get("next"))
                .and_then(Value::as_str)
                .map(str::trim)
                .filter(|n| !n.is_empty())
                .map(str::to_owned);
            match map.remove("data") {
                Some(Value::Array(items)) => (items, next),
                _ => {
                    return Err(FetchError::InvalidResponse(
                        "the token list has no \"data\" array".into(),
                    ))
                }
            }
        }
        _ => {
            return Err(FetchError::InvalidResponse(
                "the token list is not a JSON object or array".into(),
            ))
        }
    };
    let tokens = items
        .into_iter()
        .map(|item| serde_json::from_value::<OrgToken>(item).map(|t| t.masked(masker)))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| {
            FetchError::InvalidResponse(format!(
                "a token entry is unreadable ({})",
                super::error::truncate(&masker.clean(&e.to_string()))
            ))
        })?;
    Ok((tokens, next))
}

/// Epoch seconds of an ISO-8601 date-time (`2026-12-16T04:00:00Z`, with or without seconds
/// or a fraction; `Z`, `±hh:mm`, `±hhmm` or `±hh`; no zone is UTC), or of a bare date (its
/// midnight, UTC), read by `jiff`. `None` for anything else: a caller must not take it as
/// "no expiry".
pub fn parse_timestamp(text: &str) -> Option<i64> {
    let text = text.trim();
    if let Ok(at) = text.parse::<jiff::Timestamp>() {
        return Some(at.as_second());
    }
    let utc = |civil: jiff::civil::DateTime| {
        civil
            .to_zoned(jiff::tz::TimeZone::UTC)
            .ok()
            .map(|z| z.timestamp().as_second())
    };
    match text.parse::<jiff::civil::DateTime>() {
        Ok(civil) => utc(civil),
        Err(_) => utc(text
            .parse::<jiff::civil::Date>()
            .ok()?
            .to_datetime(jiff::civil::Time::midnight())),
    }
}

/// The service accounts' tokens, marked so, or why their owners are unknown. The shape of
/// this list is not documented: a token whose owner's email cannot be read matches no
/// account, so it makes every service account unknown (an expiring token must never read
/// as "no token").
fn service_account_tokens(sa: Vec<OrgToken>) -> Result<Vec<OrgToken>, String> {
    let ownerless = sa.iter().filter(|t| t.email().is_none()).count();
    if ownerless > 0 {
        return Err(format!(
            "{} listed without an owner's email autorekey can read",
            crate::words::count(ownerless, "service-account token", "service-account tokens")
        ));
    }
    Ok(sa
        .into_iter()
        .map(|t| OrgToken {
            service_account: true,
            ..t
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_org_key_goes_only_to_atlassian_or_a_loopback_sandbox() {
        let client = |gateway: &str| {
            OrgClient::new(
                Url::parse(gateway).unwrap(),
                "org-1",
                Token::new("FAKE-org-key-x"),
                RetryPolicy::default(),
            )
        };
        assert!(client("https://api.atlassian.com/").is_ok());
        assert!(client("http://127.0.0.1:4000/").is_ok());
        for bad in [
            "https://collector.example.com/",
            "http://api.atlassian.com/",
            "https://api.atlassian.com.evil.example/",
        ] {
            let err = client(bad).unwrap_err();
            assert!(matches!(err, FetchError::Policy(_)), "{bad}: {err}");
        }
        assert!(OrgClient::new(
            Url::parse("https://api.atlassian.com/").unwrap(),
            "../x",
            Token::new("FAKE-org-key-x"),
            RetryPolicy::default()
        )
        .is_err());
    }

    #[test]
    fn timestamps_in_every_iso_form() {
        assert_eq!(parse_timestamp("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_timestamp("2025-04-02T04:42:44Z"), Some(1_743_568_964));
        assert_eq!(
            parse_timestamp("2025-04-02T04:42:44.123Z"),
            Some(1_743_568_964)
        );
        assert_eq!(
            parse_timestamp("2025-04-02T06:42:44+02:00"),
            Some(1_743_568_964)
        );
        assert_eq!(parse_timestamp("2000-02-29"), Some(951_782_400));
        assert_eq!(
            parse_timestamp("2025-04-02T06:42:44+0200"),
            Some(1_743_568_964)
        );
        assert_eq!(
            parse_timestamp("2025-04-02T06:42:44+02"),
            Some(1_743_568_964)
        );
        assert_eq!(
            parse_timestamp("2025-04-01T23:42:44-05:00"),
            Some(1_743_568_964)
        );
        assert_eq!(
            parse_timestamp("2025-04-02T04:42Z"),
            Some(1_743_568_964 - 44)
        );
        for bad in [
            "soon",
            "2025-04-02T04:42:44 UTC",
            "2025-04-02T04:42:44+2",
            "2025-04-02X04:42:44Z",
            "2025-04-32",
            "2025-04-02T25:00:00Z",
            "+025-04-02",
        ] {
            assert_eq!(parse_timestamp(bad), None, "{bad}");
        }
        assert_eq!(parse_timestamp("2025-13-01T00:00:00Z"), None);
    }

    #[test]
    fn a_service_account_token_with_no_owner_email_makes_them_all_unknown() {
        let (tokens, _) = split_page(
            serde_json::json!({"data": [
                {"id": "s1", "status": "ALLOWED", "expiresAt": "2026-12-06T00:00:00Z",
                 "serviceAccountId": "sa-1"}]}),
            &Masker::new(),
        )
        .unwrap();
        let why = service_account_tokens(tokens).unwrap_err();
        assert!(why.contains("without an owner"), "{why}");
    }

    #[test]
    fn both_page_shapes_and_field_spellings_are_read() {
        let (tokens, next) = split_page(
            serde_json::json!({
            "data": [{"id": "t1", "label": "ci", "status": "ALLOWED", "createdAt": "2025-01-01T00:00:00Z",
                      "expiresAt": "2026-01-01T00:00:00Z", "lastActiveAt": null,
                      "user": {"id": "712020:a", "email": "a@x.io"}}],
            "links": {"next": "abc"}}),
            &Masker::new(),
        )
        .unwrap();
        assert_eq!(next.as_deref(), Some("abc"));
        assert_eq!(tokens[0].email(), Some("a@x.io"));
        assert_eq!(
            tokens[0].days_left(parse_timestamp("2025-12-02T00:00:00Z").unwrap()),
            Some(30)
        );
        let (tokens, next) = split_page(serde_json::json!([
            {"id": "t2", "label": "old", "createdAt": "2025-01-01", "expiry": "2025-06-01", "lastAccess": "2025-05-01"}]), &Masker::new())
        .unwrap();
        assert_eq!(next, None);
        assert_eq!(tokens[0].expires_at.as_deref(), Some("2025-06-01"));
        assert_eq!(tokens[0].last_active_at.as_deref(), Some("2025-05-01"));
        assert!(split_page(serde_json::json!({"data": 3}), &Masker::new()).is_err());
        let (tokens, _) = split_page(
            serde_json::json!({"data": [{"id": "s1", "scopes": ["read:jira-work"],
                "serviceAccount": {"id": "sa-1", "emailAddress": "b@serviceaccount.atlassian.com"}}]}),
            &Masker::new(),
        )
        .unwrap();
        assert_eq!(tokens[0].email(), Some("b@serviceaccount.atlassian.com"));
        assert!(tokens[0].is_scoped() && !tokens[0].service_account);
    }

    fn sandbox_client(key: &str) -> OrgClient {
        OrgClient::new(
            Url::parse("https://api.atlassian.com/").unwrap(),
            "org-1",
            Token::new(key),
            RetryPolicy::default(),
        )
        .unwrap()
    }

    #[test]
    fn an_unreadable_entry_never_quotes_the_key_and_debug_never_shows_it() {
        let key = format!("FAKE-org-key-{}", uuid::Uuid::new_v4().simple());
        let client = sandbox_client(&key);
        assert!(!format!("{client:?}").contains(&key));
        let echo = serde_json::json!({"data": [{"id": "t", "user": format!("Bearer {key}")}]});
        let err = split_page(echo, &client.masker).unwrap_err().to_string();
        assert!(err.contains("unreadable") && !err.contains(&key), "{err}");
        let label = serde_json::json!({"data": [{"id": "t", "label": format!("ci {key}"),
            "user": {"id": "a", "email": key}}]});
        let (tokens, _) = split_page(label, &client.masker).unwrap();
        let shown = serde_json::to_string(&tokens).unwrap();
        assert!(!shown.contains(&key) && shown.contains("ci "), "{shown}");
    }

    #[test]
    fn ids_from_the_server_cannot_move_the_delete_to_another_path() {
        let client = sandbox_client("FAKE-org-key-x");
        assert_eq!(
            client
                .revoke_url("712020:5f0c-1", "tok_1.a")
                .unwrap()
                .as_str(),
            "https://api.atlassian.com/users/712020:5f0c-1/manage/api-tokens/tok_1.a"
        );
        for (account, token) in [
            ("..", "t1"),
            ("acc", ".."),
            (".", "t1"),
            ("acc", ""),
            ("../admin", "t1"),
            ("acc", "t1?x=1"),
            ("acc", "t1#x"),
            ("a@b", "t1"),
        ] {
            assert!(
                client.revoke_url(account, token).is_err(),
                "{account} / {token}"
            );
        }
    }
}
