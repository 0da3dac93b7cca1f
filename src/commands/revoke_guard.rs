//! `revoke`'s last guard, after the fresh read found no rule needing another token: the
//! token must be quiet, and must not be the one the rules hold.
//!
//! The decision is [`crate::revoke_proof::decide`] (pure, tested case by case); this file
//! gathers its facts (the org's `lastActiveAt` and creation dates, this machine's rotation
//! journals under the backup root) and words its refusals. Kept apart from `revoke.rs` so
//! that file stays about the fresh read and the DELETE.

use std::path::PathBuf;
use std::time::Duration;

use url::Url;

use crate::error::{CommandError, CommandResult};
use crate::fetch::org::{parse_timestamp, OrgToken};
use crate::printable::printable;
use crate::revoke_proof::{self, Facts, Refusal, Rotation};
use crate::run_history::RotationRecord;

/// What the guard weighs, besides what the fresh read says.
pub(super) struct Guard<'a> {
    pub tokens: &'a [OrgToken],
    pub target: &'a OrgToken,
    pub account: &'a str,
    /// `--keep`: the fingerprint of the token rules may hold.
    pub keep: Option<&'a str>,
    pub site: &'a Url,
    /// Where this machine's rotation journals are; `None` when there is no data folder.
    pub backup_root: Option<PathBuf>,
    pub quiet_for: Duration,
}

impl Guard<'_> {
    /// Refuses (exit 3) unless the token is shown quiet and not the one kept;
    /// `rules_hold_kept`: the fresh read found the kept token in rules.
    pub fn check(&self, rules_hold_kept: bool) -> CommandResult {
        let records = self
            .backup_root
            .as_deref()
            .map(crate::run_history::rotations)
            .unwrap_or_default();
        let facts = Facts {
            last_active: last_active(self.target),
            rules_hold_kept,
            newer_token_exists: newer_token_exists(self.tokens, self.target, self.account),
            rotation: latest_rotation(
                &records,
                self.site,
                self.account,
                self.keep,
                rules_hold_kept,
            ),
            now: super::scan::now_epoch(),
            quiet_for: self.quiet_for.as_secs(),
        };
        revoke_proof::decide(&facts).map_err(|r| self.refused(r))
    }

    /// The token's last use as the question shows it.
    pub fn last_used(&self) -> String {
        match self.target.last_active_at.as_deref() {
            Some(at) => format!("last used {}", printable(at)),
            None => "no last use recorded".into(),
        }
    }

    fn refused(&self, refusal: Refusal) -> CommandError {
        let id = printable(&self.target.id);
        let account = self.account;
        let keep = self.keep.unwrap_or("the kept token");
        let (why, hint) = match refusal {
            Refusal::NewestWhileKeptInUse => (
                format!(
                    "rules use the kept token of {account}, and token {id} is its newest active \
                     token (or its only one, or its creation date is unknown): it may be the kept one"
                ),
                format!(
                    "check the id with `autorekey tokens --account {account}`: the old token is \
                     the one created before the new one; or revoke it at admin.atlassian.com"
                ),
            ),
            Refusal::NoRotationToKept => (
                format!(
                    "rules use token {keep} of {account}, and no rotation on this machine moved \
                     them to it from another token: the organization never shows token values, \
                     so nothing tells whether token {id} is that one"
                ),
                format!(
                    "rotate the rules to a new token first (`autorekey rotate --account \
                     {account}`) and revoke the old one with --keep set to the new fingerprint; \
                     give --backup-dir if that rotation's backups are elsewhere"
                ),
            ),
            Refusal::ActivityUnknown => (
                format!(
                    "the organization gives no last use (lastActiveAt) of token {id}: a token \
                     nothing uses cannot be told from one whose use is not reported yet"
                ),
                "check the token at admin.atlassian.com and revoke it there if you are sure"
                    .into(),
            ),
            Refusal::ActiveSinceRotationBegan { last_active, began } => (
                format!(
                    "token {id} was last used {}, after the rotation that moved the rules to \
                     {keep} began ({}): it may be that token (the rotation logged in with it), \
                     or something else still uses it",
                    time(last_active),
                    time(began)
                ),
                format!(
                    "a rule that ran while the rotation was under way also counts as a use: \
                     tell the tokens apart with `autorekey tokens --account {account}` (labels, \
                     creation dates) and revoke the old one at admin.atlassian.com"
                ),
            ),
            Refusal::ActiveAfterRotation { last_active, ended } => (
                format!(
                    "token {id} was used {}, after the rotation that took it out of the rules \
                     ended ({}): something outside these rules still uses it",
                    time(last_active),
                    time(ended)
                ),
                "find what still sends it (other sites' rules, scripts, integrations), move it \
                 to the new token, then run this again"
                    .into(),
            ),
            Refusal::ActiveRecently {
                last_active,
                quiet_for,
            } => (
                format!(
                    "token {id} was used {}, within the last {}: something may still use it",
                    time(last_active),
                    span(quiet_for)
                ),
                "find what still sends it and move it first; run this again once the token has \
                 been unused for --quiet-for"
                    .into(),
            ),
        };
        CommandError::partial(format!("not revoked: {why}")).hint(hint)
    }
}

/// The latest instant `lastActiveAt` may stand for: a date alone is its last second.
fn last_active(token: &OrgToken) -> Option<i64> {
    let text = token.last_active_at.as_deref()?.trim();
    let at = parse_timestamp(text)?;
    Some(if text.len() == 10 { at + 86_399 } else { at })
}

/// Another active token of `account` was created after `target` (dates both readable).
fn newer_token_exists(tokens: &[OrgToken], target: &OrgToken, account: &str) -> bool {
    let created = |t: &OrgToken| t.created_at.as_deref().and_then(parse_timestamp);
    created(target).is_some_and(|mine| {
        tokens
            .iter()
            .filter(|t| t.id != target.id && t.is_active())
            .filter(|t| t.email().is_some_and(|e| e.eq_ignore_ascii_case(account)))
            .any(|t| created(t).is_some_and(|theirs| theirs > mine))
    })
}

/// The rotation of `account`'s rules on `site` that ended last: to the kept token when the
/// rules hold it, else to any token. A record whose times cannot be read is no evidence.
fn latest_rotation(
    records: &[RotationRecord],
    site: &Url,
    account: &str,
    keep: Option<&str>,
    rules_hold_kept: bool,
) -> Option<Rotation> {
    let origin = |s: &str| Url::parse(s).ok().map(|u| u.origin());
    records
        .iter()
        .filter(|r| origin(&r.site) == Some(site.origin()))
        .filter(|r| r.account.trim().eq_ignore_ascii_case(account))
        .filter(|r| {
            !rules_hold_kept || keep.is_some_and(|k| r.new_fingerprint.eq_ignore_ascii_case(k))
        })
        .filter_map(|r| {
            Some(Rotation {
                began: parse_timestamp(&r.began)?,
                ended: parse_timestamp(&r.ended)?,
            })
        })
        .max_by_key(|r| (r.ended, r.began))
}

/// `7 days` for whole days, else `36h`, `1h 30m` (jiff's friendly format).
fn span(secs: u64) -> String {
    match secs / 86_400 {
        days @ 1.. if secs.is_multiple_of(86_400) => {
            format!("{days} day{}", if days == 1 { "" } else { "s" })
        }
        _ => format!(
            "{:#}",
            jiff::SignedDuration::from_secs(i64::try_from(secs).unwrap_or(i64::MAX))
        ),
    }
}

fn time(secs: i64) -> String {
    jiff::Timestamp::from_second(secs.max(0))
        .unwrap_or(jiff::Timestamp::UNIX_EPOCH)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALICE: &str = "alice@acme.example";

    fn token(id: &str, email: &str, created: Option<&str>) -> OrgToken {
        OrgToken {
            created_at: created.map(str::to_owned),
            ..super::super::revoke::tests::token(id, email)
        }
    }

    #[test]
    fn only_an_older_token_of_the_same_account_is_not_the_newest() {
        let made = |id, email, at| token(id, email, Some(at));
        let mut revoked = made("t0", ALICE, "2026-11-30T00:00:00Z");
        revoked.status = Some("REVOKED".into());
        let only = [
            made("t1", ALICE, "2025-01-01T00:00:00Z"),
            made("t2", "bob@acme.example", "2026-01-01T00:00:00Z"),
            revoked,
        ];
        assert!(!newer_token_exists(&only, &only[0], ALICE));
        let two = [
            made("old", ALICE, "2025-01-01T00:00:00Z"),
            made("new", ALICE, "2026-12-01T00:00:00+01:00"),
        ];
        assert!(newer_token_exists(&two, &two[0], ALICE));
        assert!(!newer_token_exists(&two, &two[1], ALICE));
        let undated = [
            token("a", ALICE, None),
            made("b", ALICE, "2026-01-01T00:00:00Z"),
        ];
        assert!(!newer_token_exists(&undated, &undated[0], ALICE));
    }

    #[test]
    fn a_date_alone_stands_for_its_last_second_and_junk_for_nothing() {
        let mut t = token("t", ALICE, None);
        t.last_active_at = Some("2026-01-02".into());
        let day = parse_timestamp("2026-01-02T00:00:00Z").unwrap();
        assert_eq!(last_active(&t), Some(day + 86_399));
        t.last_active_at = Some("2026-01-02T03:04:05Z".into());
        assert_eq!(last_active(&t), Some(day + 3 * 3600 + 4 * 60 + 5));
        t.last_active_at = Some("yesterday".into());
        assert_eq!(last_active(&t), None);
    }

    #[test]
    fn the_rotation_is_this_sites_and_accounts_and_to_the_kept_token_when_rules_hold_it() {
        let site = Url::parse("https://acme.atlassian.net").unwrap();
        let record =
            |site: &str, account: &str, fp: &str, began: &str, ended: &str| RotationRecord {
                site: site.into(),
                account: account.into(),
                new_fingerprint: fp.into(),
                began: began.into(),
                ended: ended.into(),
            };
        let at = |s: &str| parse_timestamp(s).unwrap();
        let records = [
            record(
                "https://acme.atlassian.net/",
                "ALICE@acme.example",
                "aaaaaaaaaaaa",
                "2026-01-01T00:00:00Z",
                "2026-01-01T00:10:00Z",
            ),
            record(
                "https://acme.atlassian.net/",
                ALICE,
                "bbbbbbbbbbbb",
                "2026-02-01T00:00:00Z",
                "2026-02-01T00:10:00Z",
            ),
            record(
                "https://other.atlassian.net/",
                ALICE,
                "aaaaaaaaaaaa",
                "2026-03-01T00:00:00Z",
                "2026-03-01T00:10:00Z",
            ),
            record(
                "https://acme.atlassian.net/",
                "bob@acme.example",
                "aaaaaaaaaaaa",
                "2026-03-01T00:00:00Z",
                "2026-03-01T00:10:00Z",
            ),
        ];
        let kept = latest_rotation(&records, &site, ALICE, Some("AAAAAAAAAAAA"), true).unwrap();
        assert_eq!(kept.began, at("2026-01-01T00:00:00Z"));
        let any = latest_rotation(&records, &site, ALICE, Some("aaaaaaaaaaaa"), false).unwrap();
        assert_eq!(any.ended, at("2026-02-01T00:10:00Z"));
        assert!(latest_rotation(&records, &site, ALICE, None, true).is_none());
        assert!(latest_rotation(&records, &site, ALICE, Some("cccccccccccc"), true).is_none());
    }

    #[test]
    fn quiet_for_reads_in_days_when_it_is_whole_days() {
        assert_eq!(span(7 * 86_400), "7 days");
        assert_eq!(span(86_400), "1 day");
        assert_eq!(span(36 * 3600), "36h");
        assert_eq!(span(5400), "1h 30m");
        assert_eq!(span(3600), "1h");
    }
}
