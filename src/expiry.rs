//! The expiry join: for each account whose credentials a scan found in rules, when its
//! API tokens expire, from the organization admin API's token list.
//!
//! Pure functions over the scan's owners and the org's [`OrgToken`]s, so the join and what a
//! person reads are tested without a network. Atlassian never gives a token's value, so a
//! token in the list cannot be matched to a fingerprint in a rule: the join is per account,
//! and the earliest expiry of its active tokens is the date by which its rules must be
//! rotated (any of them may be the one the rules use).
//!
//! It fails closed: an owner the list cannot speak for is "unknown", never "fine". That is
//! a service account whose tokens the key could not list, and any owner the rules name for
//! whom the org lists no token at all (an account outside the org, an unmanaged or external
//! user, or tokens this key cannot see): a rule holds a credential of it, so some token of
//! it exists somewhere, and its expiry is not known. An owner whose listed tokens are all
//! revoked or expired is not unknown: its credentials in rules are dead, which the text
//! says (`--fail-on dead` is the check for that).

use std::fmt::Write as _;

use serde::Serialize;

use crate::fetch::org::{OrgToken, TokenList};
use crate::printable::printable;

/// One credential owner and its soonest-expiring token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct OwnerExpiry {
    pub email: String,
    /// Active tokens the org lists for the account.
    pub tokens: usize,
    pub earliest_expiry: Option<String>,
    /// Days left before the earliest expiry, a part day counting as one; 0 or less once
    /// expired (0: within the last day, -3: three days ago).
    pub days_left: Option<i64>,
    /// The earliest expiry is past.
    pub expired: bool,
    /// Expiry dates of active tokens that could not be read, as the server wrote them: any
    /// of them may be the earliest, so `--fail-on expiring` counts them as expiring.
    pub unreadable_expiry: Vec<String>,
    /// The token that expires first: its id (for `autorekey revoke`) and label.
    pub token_id: Option<String>,
    pub label: Option<String>,
    pub last_active_at: Option<String>,
    /// Tokens the org lists for the account that are not active (revoked, or otherwise
    /// unusable): with no active one, a credential of it in a rule is dead.
    pub inactive_tokens: usize,
    /// The org's list could not say what tokens this owner has (see [`Unknown`]):
    /// `--fail-on expiring` counts it as expiring.
    pub tokens_unknown: bool,
    /// Why [`OwnerExpiry::tokens_unknown`], when it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unknown_reason: Option<Unknown>,
}

/// Why the org's list cannot say when an owner's tokens expire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Unknown {
    /// A service account, and the key could not list service accounts' tokens.
    ServiceAccountsUnlisted,
    /// The org lists no token of the account at all, active or not: not a managed account
    /// of this org, or its tokens are not visible to this key.
    NotListed,
}

impl Unknown {
    /// Why, in words, for the table and the watch.
    pub fn why(self) -> &'static str {
        match self {
            Unknown::ServiceAccountsUnlisted => {
                "service-account tokens unknown: the org key could not list them"
            }
            Unknown::NotListed => {
                "tokens unknown: the organization lists no token of this account (not a \
                 managed account of this organization, or its tokens are not visible to this key)"
            }
        }
    }
}

/// [`join`] over everything the org key could list; owners the list cannot speak for
/// (see [`TokenList::unknown`]) are marked unknown.
pub fn join_list(owners: &[String], list: &TokenList, now: i64) -> Vec<OwnerExpiry> {
    let mut rows = join(owners, &list.tokens, now);
    for r in rows.iter_mut().filter(|r| list.unknown(&r.email)) {
        r.mark_unknown(Unknown::ServiceAccountsUnlisted);
    }
    rows
}

/// The token belongs to `email` (any case).
pub fn owned_by(t: &OrgToken, email: &str) -> bool {
    t.email()
        .is_some_and(|e| e.eq_ignore_ascii_case(email.trim()))
}

/// Joins `owners` (emails, any case) with the org's tokens, at `now` (epoch seconds).
/// Owners the org lists no token for at all are [`Unknown::NotListed`]; owners whose listed
/// tokens are all inactive are kept with no expiry and their inactive count.
pub fn join(owners: &[String], tokens: &[OrgToken], now: i64) -> Vec<OwnerExpiry> {
    let mut owners: Vec<String> = owners.iter().map(|o| o.to_ascii_lowercase()).collect();
    owners.sort();
    owners.dedup();
    owners
        .into_iter()
        .map(|email| {
            let listed = tokens.iter().filter(|t| owned_by(t, &email)).count();
            let mine: Vec<&OrgToken> = tokens
                .iter()
                .filter(|t| t.is_active() && owned_by(t, &email))
                .collect();
            let first = mine
                .iter()
                .filter_map(|t| Some((t.days_left(now)?, *t)))
                .min_by_key(|(days, t)| (*days, t.id.clone()));
            let unreadable_expiry = mine
                .iter()
                .filter(|t| t.days_left(now).is_none())
                .filter_map(|t| t.expires_at.as_deref())
                .filter(|at| !at.trim().is_empty())
                .map(|at| printable(at).into_owned())
                .collect();
            let mut row = OwnerExpiry {
                expired: first.is_some_and(|(_, t)| t.is_expired(now)),
                unreadable_expiry,
                tokens: mine.len(),
                earliest_expiry: first.and_then(|(_, t)| t.expires_at.clone()),
                days_left: first.map(|(d, _)| d),
                token_id: first.map(|(_, t)| t.id.clone()),
                label: first.map(|(_, t)| t.label.clone()),
                last_active_at: first.and_then(|(_, t)| t.last_active_at.clone()),
                inactive_tokens: listed - mine.len(),
                tokens_unknown: false,
                unknown_reason: None,
                email,
            };
            if listed == 0 {
                row.mark_unknown(Unknown::NotListed);
            }
            row
        })
        .collect()
}

/// True when some owner's earliest token expires within `days` (or already has), or has an
/// expiry date that cannot be read, or tokens that could not be listed (either may be the
/// earliest: fail closed).
pub fn expiring_within(rows: &[OwnerExpiry], days: u32) -> bool {
    rows.iter().any(|r| {
        r.tokens_unknown
            || !r.unreadable_expiry.is_empty()
            || r.days_left.is_some_and(|d| d <= i64::from(days))
    })
}

/// The table a person reads after the inventory.
pub fn render_table(rows: &[OwnerExpiry]) -> String {
    let mut out =
        String::from("\nAPI token expiry (organization admin API), per credential owner:\n");
    if rows.is_empty() {
        out.push_str("  No credential of an email account was found.\n");
        return out;
    }
    for r in rows {
        if let Some(why) = r.unknown_reason {
            let _ = writeln!(
                out,
                "  {}  {} (counted as expiring)",
                printable(&r.email),
                why.why()
            );
        }
        if !r.unreadable_expiry.is_empty() {
            let _ = writeln!(
                out,
                "  {}  {} that cannot be read: {} (counted as expiring)",
                printable(&r.email),
                crate::words::count(r.unreadable_expiry.len(), "expiry date", "expiry dates"),
                r.unreadable_expiry.join(", ")
            );
        }
        let line = match (&r.earliest_expiry, r.days_left) {
            (Some(at), Some(days)) => format!(
                "{}  earliest expiry {} ({}), token \"{}\" (id {}), last active {}; {}",
                printable(&r.email),
                date(at),
                days_phrase(days, r.expired),
                printable(r.label.as_deref().unwrap_or("")),
                printable(r.token_id.as_deref().unwrap_or("?")),
                r.last_active_at.as_deref().map_or("never".into(), date),
                crate::words::count(r.tokens, "active token", "active tokens"),
            ),
            _ if r.tokens > 0 => format!(
                "{}  {}, no expiry date given",
                printable(&r.email),
                crate::words::count(r.tokens, "active token", "active tokens")
            ),
            _ if r.tokens_unknown => continue,
            _ => format!(
                "{}  no active token in this organization: {} listed, none active (revoked or \
                 expired), so a credential of it in a rule no longer works (a dead credential: \
                 `--verify` checks it, `--fail-on dead` fails on it)",
                printable(&r.email),
                crate::words::count(r.inactive_tokens, "token", "tokens")
            ),
        };
        let _ = writeln!(out, "  {line}");
    }
    out
}

impl OwnerExpiry {
    fn mark_unknown(&mut self, why: Unknown) {
        self.tokens_unknown = true;
        self.unknown_reason = Some(why);
    }
}

/// `in 12 days`, `within a day`, `expired within the last day`, `expired 3 days ago`, from
/// [`OrgToken::days_left`] (a part day counts as one) and whether the time is past.
pub fn days_phrase(days: i64, expired: bool) -> String {
    match (expired, days) {
        (false, d) if d <= 1 => "within a day".into(),
        (false, d) => format!("in {d} days"),
        (true, d) if d >= 0 => "expired within the last day".into(),
        (true, -1) => "expired 1 day ago".into(),
        (true, d) => format!("expired {} days ago", -d),
    }
}

/// A token's expiry for a table: `2026-12-13 (in 12 days)`, an unreadable date quoted as
/// the server wrote it, or `no expiry given`.
pub fn expires_phrase(expires_at: Option<&str>, days_left: Option<i64>, expired: bool) -> String {
    match (expires_at, days_left) {
        (Some(at), Some(days)) => format!("{} ({})", date(at), days_phrase(days, expired)),
        (Some(at), None) if !at.trim().is_empty() => {
            format!("\"{}\" (unreadable)", printable(at))
        }
        _ => "no expiry given".into(),
    }
}

/// The date part of an ISO-8601 time, for tables.
pub fn date(iso: &str) -> String {
    printable(iso.get(..10).unwrap_or(iso)).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fetch::org::{parse_timestamp, OrgUser};

    fn token(id: &str, email: &str, expires: &str, status: &str) -> OrgToken {
        OrgToken {
            id: id.into(),
            label: format!("label {id}"),
            status: Some(status.into()),
            created_at: Some("2025-01-01T00:00:00Z".into()),
            expires_at: Some(expires.into()),
            last_active_at: None,
            user: Some(OrgUser {
                id: Some(format!("acc-{email}")),
                email: Some(email.into()),
            }),
            ..OrgToken::default()
        }
    }

    #[test]
    fn each_owner_gets_its_earliest_active_expiry() {
        let now = parse_timestamp("2026-12-01T00:00:00Z").unwrap();
        let tokens = vec![
            token("t1", "Alice@x.io", "2027-06-01T00:00:00Z", "ALLOWED"),
            token("t2", "alice@x.io", "2026-12-13T00:00:00Z", "ALLOWED"),
            token("t3", "alice@x.io", "2026-12-02T00:00:00Z", "REVOKED"),
            token("t4", "bob@x.io", "2027-11-30T00:00:00Z", "ALLOWED"),
            token("t5", "carol@x.io", "2027-01-30T00:00:00Z", "REVOKED"),
        ];
        let owners = vec!["alice@X.io".into(), "bob@x.io".into(), "carol@x.io".into()];
        let rows = join(&owners, &tokens, now);
        assert_eq!(rows.len(), 3);
        assert_eq!(
            (
                rows[0].token_id.as_deref(),
                rows[0].days_left,
                rows[0].tokens
            ),
            (Some("t2"), Some(12), 2)
        );
        assert_eq!(rows[1].days_left, Some(364));
        assert_eq!(
            (rows[2].tokens, rows[2].inactive_tokens, rows[2].days_left),
            (0, 1, None)
        );
        assert!(
            !rows[2].tokens_unknown,
            "the org speaks for carol: all revoked"
        );
        assert!(expiring_within(&rows, 30));
        assert!(!expiring_within(&rows, 11));
        let table = render_table(&rows);
        assert!(table.contains("2026-12-13 (in 12 days)"), "{table}");
        assert!(
            table.contains("carol@x.io  no active token in this organization: 1 token listed")
                && table.contains("--fail-on dead"),
            "{table}"
        );
    }

    #[test]
    fn an_owner_the_org_lists_no_token_for_is_unknown_and_fails_closed() {
        let now = parse_timestamp("2026-12-01T00:00:00Z").unwrap();
        let list = TokenList {
            tokens: vec![token("t1", "a@x.io", "2027-12-01T00:00:00Z", "ALLOWED")],
            service_accounts_unlisted: None,
        };
        let owners = ["a@x.io".into(), "Stranger@other.io".into()];
        let rows = join_list(&owners, &list, now);
        assert!(!rows[0].tokens_unknown);
        assert_eq!(rows[1].unknown_reason, Some(Unknown::NotListed));
        assert!(rows[1].tokens_unknown);
        assert!(expiring_within(&rows, 0), "not listed is never fine");
        assert!(!expiring_within(&rows[..1], 30));
        let table = render_table(&rows);
        assert!(
            table.contains("stranger@other.io  tokens unknown: the organization lists no token")
                && table.contains("not visible to this key")
                && !table.contains("no active token"),
            "{table}"
        );
        let json = serde_json::to_value(&rows[1]).unwrap();
        assert_eq!(json["unknown_reason"], "not_listed");
    }

    #[test]
    fn a_token_expired_hours_ago_is_said_expired_and_an_unreadable_date_fails_closed() {
        let now = parse_timestamp("2026-12-01T12:00:00Z").unwrap();
        let rows = join(
            &["alice@x.io".into()],
            &[token(
                "t1",
                "alice@x.io",
                "2026-12-01T09:00:00+00:00",
                "ALLOWED",
            )],
            now,
        );
        assert_eq!((rows[0].days_left, rows[0].expired), (Some(0), true));
        let table = render_table(&rows);
        assert!(table.contains("(expired within the last day)"), "{table}");
        // Expires in three hours, in another zone: within a day, not expired.
        let rows = join(
            &["alice@x.io".into()],
            &[token(
                "t1",
                "alice@x.io",
                "2026-12-01T10:00:00-05:00",
                "ALLOWED",
            )],
            now,
        );
        assert_eq!((rows[0].days_left, rows[0].expired), (Some(1), false));
        assert!(render_table(&rows).contains("(within a day)"));

        let mut never = token("t2", "bob@x.io", "", "ALLOWED");
        never.expires_at = None;
        let rows = join(&["bob@x.io".into()], &[never.clone()], now);
        assert!(!expiring_within(&rows, 3650), "no expiry is not expiring");
        let odd = token("t3", "bob@x.io", "next Tuesday", "ALLOWED");
        let rows = join(&["bob@x.io".into()], &[never, odd], now);
        assert_eq!(rows[0].unreadable_expiry, vec!["next Tuesday".to_string()]);
        assert!(
            expiring_within(&rows, 0),
            "an unreadable date may be the earliest"
        );
        assert!(render_table(&rows).contains("cannot be read"));
    }

    #[test]
    fn a_service_account_whose_tokens_could_not_be_listed_is_unknown_and_fails_closed() {
        let now = parse_timestamp("2026-12-01T12:00:00Z").unwrap();
        let list = TokenList {
            tokens: vec![token("t1", "a@x.io", "2027-12-01T00:00:00Z", "ALLOWED")],
            service_accounts_unlisted: Some("403".into()),
        };
        let bot = "bot@serviceaccount.atlassian.com";
        let rows = join_list(&["a@x.io".into(), bot.into()], &list, now);
        assert!(!rows[0].tokens_unknown && rows[1].tokens_unknown);
        assert!(expiring_within(&rows, 0), "unknown is never fine");
        let table = render_table(&rows);
        assert!(
            table.contains("tokens unknown") && !table.contains("no active token"),
            "{table}"
        );
        let listed = TokenList {
            service_accounts_unlisted: None,
            ..list
        };
        // Listed, and the org has none of the bot's: unknown still, for another reason.
        let rows = join_list(&[bot.into()], &listed, now);
        assert_eq!(rows[0].unknown_reason, Some(Unknown::NotListed));
    }
}
