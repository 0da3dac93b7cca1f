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

use crate::fetch::org::OrgToken;
use crate::printable::printable;

/// One credential owner and its soonest-expiring token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct OwnerExpiry {
    pub email: String,
    /// Active tokens the org lists for the account.
    pub tokens: usize,
    pub earliest_expiry: Option<String>,
    /// Whole days left before the earliest expiry (negative: already expired).
    pub days_left: Option<i64>,
    /// The token that expires first: its id (for `autorekey revoke`) and label.
    pub token_id: Option<String>,
    pub label: Option<String>,
    pub last_active_at: Option<String>,
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
            OwnerExpiry {
                tokens: mine.len(),
                earliest_expiry: first.and_then(|(_, t)| t.expires_at.clone()),
                days_left: first.map(|(d, _)| d),
                token_id: first.map(|(_, t)| t.id.clone()),
                label: first.map(|(_, t)| t.label.clone()),
                last_active_at: first.and_then(|(_, t)| t.last_active_at.clone()),
                email,
            }
        })
        .collect()
}

/// True when some owner's earliest token expires within `days` (or already has).
pub fn expiring_within(rows: &[OwnerExpiry], days: u32) -> bool {
    rows.iter()
        .any(|r| r.days_left.is_some_and(|d| d <= i64::from(days)))
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
        let line = match (&r.earliest_expiry, r.days_left) {
            (Some(at), Some(days)) => format!(
                "{}  earliest expiry {} ({}), token \"{}\" (id {}), last active {}; {} active token{}",
                printable(&r.email),
                date(at),
                days_phrase(days),
                printable(r.label.as_deref().unwrap_or("")),
                printable(r.token_id.as_deref().unwrap_or("?")),
                r.last_active_at.as_deref().map_or("never".into(), date),
                r.tokens,
                if r.tokens == 1 { "" } else { "s" },
            ),
            _ if r.tokens > 0 => format!(
                "{}  {} active token(s), no expiry date given",
                printable(&r.email),
                r.tokens
            ),
            _ => format!(
                "{}  no active token in this organization (not a managed account here, or none left)",
                r.email
            ),
        };
        let _ = writeln!(out, "  {line}");
    }
    out
}

/// `in 12 days`, `today`, `expired 3 days ago`.
pub fn days_phrase(days: i64) -> String {
    match days {
        0 => "expires today".into(),
        1 => "in 1 day".into(),
        d if d > 0 => format!("in {d} days"),
        -1 => "expired 1 day ago".into(),
        d => format!("expired {} days ago", -d),
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
}
