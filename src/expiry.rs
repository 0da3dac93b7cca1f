//! The expiry join: for each account whose credentials a scan found in rules, when its
//! API tokens expire, from the organization admin API's token list.
//!
//! Pure functions over the scan's owners and the org's [`OrgToken`]s, so the join and what a
//! person reads are tested without a network. Atlassian never gives a token's value, so a
//! token in the list cannot be matched to a fingerprint in a rule: the join is per account,
//! and the earliest expiry of its active tokens is the date by which its rules must be
//! rotated (any of them may be the one the rules use).

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
    /// The org's list could not say what tokens this owner has (a service account whose
    /// tokens the key may not list): `--fail-on expiring` counts it as expiring.
    pub tokens_unknown: bool,
}

/// [`join`] over everything the org key could list; owners the list cannot speak for
/// (see [`TokenList::unknown`]) are marked unknown.
pub fn join_list(owners: &[String], list: &TokenList, now: i64) -> Vec<OwnerExpiry> {
    let mut rows = join(owners, &list.tokens, now);
    for r in &mut rows {
        r.tokens_unknown = list.unknown(&r.email);
    }
    rows
}

/// Joins `owners` (emails, any case) with the org's tokens, at `now` (epoch seconds).
/// Owners the org lists no active token for are kept, with no expiry: not a managed account
/// of this org, or no token left.
pub fn join(owners: &[String], tokens: &[OrgToken], now: i64) -> Vec<OwnerExpiry> {
    let mut owners: Vec<String> = owners.iter().map(|o| o.to_ascii_lowercase()).collect();
    owners.sort();
    owners.dedup();
    owners
        .into_iter()
        .map(|email| {
            let mine: Vec<&OrgToken> = tokens
                .iter()
                .filter(|t| t.is_active())
                .filter(|t| t.email().is_some_and(|e| e.eq_ignore_ascii_case(&email)))
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
            OwnerExpiry {
                expired: first.is_some_and(|(_, t)| t.is_expired(now)),
                unreadable_expiry,
                tokens: mine.len(),
                earliest_expiry: first.and_then(|(_, t)| t.expires_at.clone()),
                days_left: first.map(|(d, _)| d),
                token_id: first.map(|(_, t)| t.id.clone()),
                label: first.map(|(_, t)| t.label.clone()),
                last_active_at: first.and_then(|(_, t)| t.last_active_at.clone()),
                tokens_unknown: false,
                email,
            }
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
        if r.tokens_unknown {
            let _ = writeln!(
                out,
                "  {}  service-account tokens unknown: the org key could not list them (counted as expiring)",
                printable(&r.email)
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
            (Some(at), Some(_)) => format!(
                "{}  earliest expiry {} ({}), token \"{}\" (id {}), last active {}; {}",
                printable(&r.email),
                date(at),
                r.phrase(),
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
                "{}  no active token in this organization (not a managed account here, or none left)",
                printable(&r.email)
            ),
        };
        let _ = writeln!(out, "  {line}");
    }
    out
}

impl OwnerExpiry {
    fn phrase(&self) -> String {
        self.days_left
            .map_or_else(String::new, |d| days_phrase(d, self.expired))
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
        assert_eq!((rows[2].tokens, rows[2].days_left), (0, None));
        assert!(expiring_within(&rows, 30));
        assert!(!expiring_within(&rows, 11));
        let table = render_table(&rows);
        assert!(table.contains("2026-12-13 (in 12 days)"), "{table}");
        assert!(table.contains("carol@x.io  no active token"), "{table}");
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
        assert!(!expiring_within(
            &join_list(&[bot.into()], &listed, now),
            3650
        ));
    }
}
