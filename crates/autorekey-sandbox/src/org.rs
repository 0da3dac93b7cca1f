//! What the sandbox knows beyond classic accounts: scoped tokens, and an Atlassian
//! organization with its admin API (token expiry dates, last activity, revocation).
//!
//! Read from the same accounts file as the accounts (the only way a token enters the
//! sandbox), under two optional top-level keys, so an older file still loads:
//!
//! ```json
//! "scoped_tokens": [{"email": "bot@serviceaccount.atlassian.com", "token": "...", "read_me": true}],
//! "org": {"id": "...", "api_key": "...", "tokens": [{"id": "...", "email": "...", "label": "...",
//!         "token": "...", "created_days_ago": 350, "expires_in_days": 15, "last_active_days_ago": 1}]}
//! ```
//!
//! Dates are relative to the sandbox's start, so a rehearsal always shows the same "expires
//! in 15 days". A scoped token logs in only through the gateway form
//! (`/ex/{product}/{cloudId}/...`), as on a real site; without `read_me` its answer there is
//! `401 scope does not match`. An org token's optional `token` ties it to a secret: once the
//! token is deleted through the admin API, that secret stops working.
//!
//! The org endpoints answer in the shapes of Atlassian's API Access REST API
//! (`GET /admin/api-access/v1/orgs/{orgId}/api-tokens`, paginated `{"data": [...],
//! "links": {"next": ...}}`; service accounts' tokens, whose emails end
//! `@serviceaccount.atlassian.com`, only under `.../orgs/{orgId}/service-accounts/api-tokens`,
//! which answers 403 when the org entry says `"service_account_scope": false`) and user management API (`DELETE
//! /users/{accountId}/manage/api-tokens/{tokenId}`), both with `Authorization: Bearer
//! {org API key}`. The org's sites are listed as `POST /admin/v2/orgs/{orgId}/workspaces`
//! lists them (a workspace per site and product, by cursor alone after the first page):
//! the sandbox's own site, or every site of a sandbox of several.

use std::io;
use std::path::Path;
use std::time::{Duration, SystemTime};

use serde::Deserialize;
use serde_json::{json, Value};

use super::clock::iso8601;
use crate::secret::Token;

/// Tokens listed per page, small so a handful of tokens already spans pages.
const PAGE: usize = 2;

/// Scoped tokens and the organization. `Default`: neither.
#[derive(Clone, Debug, Default)]
pub struct Directory {
    pub scoped_tokens: Vec<ScopedToken>,
    pub org: Option<Org>,
}

/// A scoped API token of an account (a service account's, typically).
#[derive(Clone, Debug)]
pub struct ScopedToken {
    pub email: String,
    pub token: Token,
    /// The token's scopes include reading the current user (for Jira `read:jira-user`, or
    /// the granular `read:user:jira` set).
    pub read_me: bool,
}

#[derive(Clone, Debug)]
pub struct Org {
    pub id: String,
    /// The org admin API key (`Authorization: Bearer ...`).
    pub api_key: Token,
    pub tokens: Vec<OrgToken>,
    /// The key may list service-account tokens (`read:service-accounts-tokens:admin`);
    /// without it that endpoint answers 403, as Atlassian's does.
    pub service_account_scope: bool,
}

/// One API token as the org admin API lists it. Dates are ISO-8601 UTC.
#[derive(Clone, Debug)]
pub struct OrgToken {
    pub id: String,
    pub email: String,
    pub label: String,
    pub created_at: String,
    pub expires_at: String,
    pub last_active_at: Option<String>,
    /// The secret this entry describes, if the sandbox should stop accepting it once the
    /// token is revoked.
    pub token: Option<Token>,
}

#[derive(Deserialize)]
struct FileExtras {
    #[serde(default)]
    scoped_tokens: Vec<ScopedEntry>,
    #[serde(default)]
    org: Option<OrgEntry>,
}

#[derive(Deserialize)]
struct ScopedEntry {
    email: String,
    token: String,
    #[serde(default = "yes")]
    read_me: bool,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize)]
struct OrgEntry {
    id: String,
    api_key: String,
    #[serde(default)]
    tokens: Vec<OrgTokenEntry>,
    #[serde(default = "yes")]
    service_account_scope: bool,
}

#[derive(Deserialize)]
struct OrgTokenEntry {
    id: String,
    email: String,
    #[serde(default)]
    label: String,
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    created_days_ago: u64,
    expires_in_days: i64,
    #[serde(default)]
    last_active_days_ago: Option<u64>,
}

/// Reads the scoped tokens and the org from an accounts file (see the module doc). Errors
/// name the file and the position, never a value.
pub fn load_directory(path: &Path) -> io::Result<Directory> {
    let text = std::fs::read_to_string(path)?;
    let extras: FileExtras = serde_json::from_str(&text).map_err(|e| {
        super::accounts::unreadable(path, "scoped_tokens or org is not readable", &e)
    })?;
    let now = SystemTime::now();
    Ok(Directory {
        scoped_tokens: extras
            .scoped_tokens
            .into_iter()
            .map(|s| ScopedToken {
                email: s.email,
                token: Token::new(s.token),
                read_me: s.read_me,
            })
            .collect(),
        org: extras.org.map(|o| Org {
            id: o.id,
            api_key: Token::new(o.api_key),
            tokens: o.tokens.into_iter().map(|t| t.at(now)).collect(),
            service_account_scope: o.service_account_scope,
        }),
    })
}

impl OrgTokenEntry {
    fn at(self, now: SystemTime) -> OrgToken {
        const DAY: u64 = 86_400;
        let ago = |days: u64| iso8601(now - Duration::from_secs(days * DAY));
        let expires = if self.expires_in_days >= 0 {
            now + Duration::from_secs(self.expires_in_days.unsigned_abs() * DAY)
        } else {
            now - Duration::from_secs(self.expires_in_days.unsigned_abs() * DAY)
        };
        OrgToken {
            id: self.id,
            email: self.email,
            label: self.label,
            created_at: ago(self.created_days_ago),
            expires_at: iso8601(expires),
            last_active_at: self.last_active_days_ago.map(ago),
            token: self.token.map(Token::new),
        }
    }
}

impl Directory {
    /// The scoped token `email:token`, if it is one.
    pub(crate) fn scoped(&self, email: &str, token: &str) -> Option<&ScopedToken> {
        self.scoped_tokens
            .iter()
            .find(|s| s.email.eq_ignore_ascii_case(email) && s.token.expose() == token)
    }

    /// The org token entry describing this secret, if any.
    pub(crate) fn org_token_of(&self, token: &str) -> Option<&OrgToken> {
        self.org
            .as_ref()?
            .tokens
            .iter()
            .find(|t| t.token.as_ref().is_some_and(|s| s.expose() == token))
    }
}

/// The org endpoints.
pub(crate) enum OrgRoute {
    /// `GET /admin/api-access/v1/orgs/{orgId}/api-tokens` (users' tokens), or with
    /// `service_accounts`, `GET .../orgs/{orgId}/service-accounts/api-tokens`.
    List {
        org_id: String,
        service_accounts: bool,
    },
    /// `DELETE /users/{accountId}/manage/api-tokens/{tokenId}`
    Delete {
        account_id: String,
        token_id: String,
    },
    /// `POST /admin/v2/orgs/{orgId}/workspaces`: the org's sites, a product each.
    Workspaces { org_id: String },
}

pub(crate) fn route(segs: &[&str]) -> Option<OrgRoute> {
    match segs {
        ["admin", "api-access", "v1", "orgs", org, "api-tokens"] => Some(OrgRoute::List {
            org_id: (*org).to_owned(),
            service_accounts: false,
        }),
        ["admin", "api-access", "v1", "orgs", org, "service-accounts", "api-tokens"] => {
            Some(OrgRoute::List {
                org_id: (*org).to_owned(),
                service_accounts: true,
            })
        }
        ["admin", "v2", "orgs", org, "workspaces"] => Some(OrgRoute::Workspaces {
            org_id: (*org).to_owned(),
        }),
        ["users", account, "manage", "api-tokens", token] => Some(OrgRoute::Delete {
            account_id: (*account).to_owned(),
            token_id: (*token).to_owned(),
        }),
        _ => None,
    }
}

/// What an org request gets: `(status, body)`; the caller wraps it in Atlassian's headers.
pub(crate) enum OrgAnswer {
    Json(u16, Value),
    NoContent,
}

/// One page of the org's user tokens, or with `service_accounts` of its service accounts'
/// tokens (Atlassian lists the two apart); not revoked ones, which Atlassian stops listing.
/// A user token names its `user`, a service account's its `serviceAccount` and `scopes`
/// (service accounts have only scoped tokens).
pub(crate) fn list(
    org: &Org,
    service_accounts: bool,
    revoked: &dyn Fn(&str) -> bool,
    last_active: &dyn Fn(&OrgToken) -> Option<String>,
    account_id: &dyn Fn(&str) -> String,
    cursor: Option<&str>,
) -> OrgAnswer {
    let offset = match cursor.map(str::parse::<usize>) {
        None => 0,
        Some(Ok(n)) => n,
        Some(Err(_)) => return error(400, "Invalid cursor"),
    };
    let live: Vec<&OrgToken> = org
        .tokens
        .iter()
        .filter(|t| !revoked(&t.id))
        .filter(|t| crate::fetch::is_service_account(&t.email) == service_accounts)
        .collect();
    let data: Vec<Value> = live
        .iter()
        .skip(offset)
        .take(PAGE)
        .map(|t| {
            let mut entry = json!({
                "id": t.id,
                "label": t.label,
                "status": "ALLOWED",
                "createdAt": t.created_at,
                "expiresAt": t.expires_at,
                "lastActiveAt": last_active(t),
            });
            let owner = json!({"id": account_id(&t.email), "orgId": org.id, "name": t.email, "email": t.email});
            if service_accounts {
                entry["serviceAccount"] = owner;
                entry["scopes"] = json!(["read:jira-work"]);
            } else {
                entry["user"] = owner;
            }
            entry
        })
        .collect();
    let next = (offset + PAGE < live.len()).then(|| (offset + PAGE).to_string());
    OrgAnswer::Json(
        200,
        json!({"data": data, "links": {"self": offset.to_string(), "next": next, "prev": null}}),
    )
}

/// Workspaces served per page at most, whatever `limit` asks: small, so a client pages.
const WORKSPACE_PAGE: usize = 3;

/// One page of the workspaces list. The body is `{"limit": n}` (1..=100) or `{"cursor":
/// c}` alone: Atlassian refuses a cursor beside any other property, and so does this.
pub(crate) fn workspaces_page(all: &[Value], body: Option<&Value>) -> OrgAnswer {
    let Some(body) = body.and_then(Value::as_object) else {
        return error(400, "The body must be a JSON object");
    };
    let (offset, limit) = match body.get("cursor") {
        Some(_) if body.len() > 1 => {
            return error(400, "A cursor may not be sent with any other property")
        }
        Some(cursor) => match cursor.as_str().and_then(parse_workspace_cursor) {
            Some(at) => at,
            None => return error(400, "Invalid cursor"),
        },
        None => match body.get("limit").map(Value::as_u64) {
            None => (0, 20),
            Some(Some(n @ 1..=100)) => (0, n as usize),
            Some(_) => return error(400, "limit must be between 1 and 100"),
        },
    };
    let page = limit.min(WORKSPACE_PAGE);
    let data: Vec<Value> = all.iter().skip(offset).take(page).cloned().collect();
    let next = (offset + page < all.len()).then(|| format!("o{}+l{limit}", offset + page));
    OrgAnswer::Json(
        200,
        json!({"data": data, "links": {"self": null, "prev": null, "next": next}, "meta": {"pageSize": page}}),
    )
}

/// `o{offset}+l{limit}`: a cursor with a `+` in it, which a client must send back as is.
fn parse_workspace_cursor(cursor: &str) -> Option<(usize, usize)> {
    let (offset, limit) = cursor.strip_prefix('o')?.split_once("+l")?;
    Some((offset.parse().ok()?, limit.parse().ok()?))
}

/// An error answer in the org API's shape.
pub(crate) fn error(status: u16, title: &str) -> OrgAnswer {
    OrgAnswer::Json(status, json!({"code": status, "message": title}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_directory_loads_relative_dates_and_never_quotes_values() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("accounts.json");
        std::fs::write(
            &path,
            r#"{"accounts": [], "scoped_tokens": [{"email": "b@serviceaccount.atlassian.com", "token": "FAKE-s"}],
               "org": {"id": "o1", "api_key": "FAKE-k", "tokens": [{"id": "t1", "email": "a@x.io",
               "expires_in_days": 10, "created_days_ago": 355}]}}"#,
        )
        .unwrap();
        let d = load_directory(&path).unwrap();
        assert!(
            d.scoped("B@serviceaccount.atlassian.com", "FAKE-s")
                .unwrap()
                .read_me
        );
        let org = d.org.unwrap();
        assert!(org.tokens[0].expires_at > org.tokens[0].created_at);
        std::fs::write(
            &path,
            r#"{"org": {"id": "o", "api_key": ["FAKE-quoted-k"]}}"#,
        )
        .unwrap();
        let err = load_directory(&path).unwrap_err().to_string();
        assert!(!err.contains("FAKE-quoted-k"), "{err}");
        assert!(err.contains("line 1"), "{err}");
    }

    #[test]
    fn workspaces_page_by_cursor_alone() {
        let all: Vec<Value> = (0..5).map(|n| json!({ "id": n })).collect();
        let page = |body: Value| match workspaces_page(&all, Some(&body)) {
            OrgAnswer::Json(status, body) => (status, body),
            OrgAnswer::NoContent => panic!("no body"),
        };
        let (status, first) = page(json!({"limit": 20}));
        assert_eq!((status, first["data"].as_array().unwrap().len()), (200, 3));
        let cursor = first["links"]["next"].as_str().unwrap().to_owned();
        assert!(cursor.contains('+'), "{cursor}");
        let (_, second) = page(json!({ "cursor": cursor }));
        assert_eq!(second["data"], json!([{"id": 3}, {"id": 4}]));
        assert!(second["links"]["next"].is_null());
        assert_eq!(page(json!({"cursor": cursor, "limit": 20})).0, 400);
        assert_eq!(page(json!({"cursor": cursor.replace('+', " ")})).0, 400);
        assert_eq!(page(json!({"limit": 0})).0, 400);
    }
}
