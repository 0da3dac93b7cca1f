//! The expiry watch of `autorekey tokens --expiring 30d`: every API token of the
//! organization, users' and service accounts', that expires within the window (or already
//! has), with the rules that embed a credential of its owner when a scan is joined, as text,
//! JSON, CSV and Markdown.
//!
//! Pure: built from the org's [`TokenList`], the time and an optional scan inventory, so
//! what a nightly job reads is tested without a network. It fails closed as the expiry join
//! of `scan --org` does ([`crate::expiry`]): an expiry date that cannot be read is counted
//! as expiring, and owners whose tokens could not be listed are "unknown" rows, never left
//! out: service accounts when the key may not list theirs, and, with a scan joined, every
//! owner its rules name that the org lists no token for at all (an account outside the org,
//! an unmanaged user, tokens this key cannot see). An owner the org lists only revoked or
//! expired tokens for is named too, as a dead credential, not as expiring. Atlassian never gives a token's value, so a token cannot be matched to a fingerprint
//! found in a rule: the join is per owner (every rule holding a credential of that email),
//! and says so. Every value from the server or the scan file is hostile: made one printable
//! line, Markdown-escaped, or CSV-defused by the same functions as the scan inventory.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;
use serde_json::Value;

use super::inventory::csv_line;
use super::markdown;
use crate::expiry::{date, expires_phrase, owned_by, Unknown};
use crate::fetch::org::{parse_timestamp, OrgToken, TokenList};
use crate::printable::printable;
use crate::words::count;

/// The scope the org key needs to list service accounts' tokens.
pub const SERVICE_ACCOUNT_SCOPE: &str = "read:service-accounts-tokens:admin";

/// Whose token it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    User,
    ServiceAccount,
}

impl Kind {
    /// The word CSV and JSON write (the serde name).
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::User => "user",
            Kind::ServiceAccount => "service_account",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Kind::User => "user",
            Kind::ServiceAccount => "service account",
        }
    }
}

/// A rule of the joined scan holding a credential of an owner.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Place {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub site: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub product: Option<String>,
    pub rule_uuid: String,
    pub rule_name: String,
    /// The fingerprint of the credential the rule holds (which of the owner's tokens it
    /// is cannot be known: Atlassian never shows a value).
    pub fingerprint: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
}

/// One token that expires within the window, or already has, or whose date is unreadable.
#[derive(Clone, Debug, Serialize)]
pub struct ExpiringToken {
    pub email: String,
    pub kind: Kind,
    pub label: String,
    pub id: String,
    pub created_at: Option<String>,
    pub expires_at: Option<String>,
    /// As [`OrgToken::days_left`]: a part day counts as one, 0 or less once expired.
    pub days_left: Option<i64>,
    pub expired: bool,
    /// The expiry date could not be read: counted as expiring.
    pub unreadable_expiry: bool,
    pub last_active_at: Option<String>,
    pub scoped: bool,
    /// Rules of the joined scan holding a credential of the owner; absent without `--scan`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub embedded_in: Option<Vec<Place>>,
}

/// Owners whose tokens could not be listed (counted as expiring), or, in
/// [`Watch::no_active_token`], whose listed tokens are all revoked or expired.
#[derive(Clone, Debug, Serialize)]
pub struct UnknownOwner {
    /// `None`: every service account of the organization.
    pub email: Option<String>,
    pub kind: Kind,
    pub reason: String,
    pub hint: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub embedded_in: Option<Vec<Place>>,
    /// The org lists no token of this owner at all (see [`Unknown::NotListed`]).
    #[serde(skip)]
    pub not_listed: bool,
}

/// What `tokens --expiring` reports.
#[derive(Clone, Debug, Serialize)]
pub struct Watch {
    pub window_days: u32,
    /// Active tokens the org listed (users' and service accounts'), in or out of the window.
    pub tokens_listed: usize,
    pub tokens: Vec<ExpiringToken>,
    pub unknown: Vec<UnknownOwner>,
    /// Owners the joined scan's rules name whose listed tokens are all revoked or expired:
    /// their credentials in rules are dead (not counted as expiring: `scan --verify
    /// --fail-on dead` is the check for that).
    pub no_active_token: Vec<UnknownOwner>,
    pub scan_joined: bool,
}

impl Watch {
    /// Exit 3: a token in the window, or owners nobody could list.
    pub fn failing(&self) -> bool {
        !self.tokens.is_empty() || !self.unknown.is_empty()
    }

    /// One sentence for the summary line and the `Needs you:` message.
    pub fn summary(&self) -> String {
        let expired = self.tokens.iter().filter(|t| t.expired).count();
        let n = self.tokens.len();
        let mut out = format!(
            "{n} of {} {} within {}",
            count(self.tokens_listed, "listed API token", "listed API tokens"),
            if n == 1 {
                "expires (or has expired)"
            } else {
                "expire (or have expired)"
            },
            count(self.window_days as usize, "day", "days"),
        );
        if expired > 0 {
            let _ = write!(out, ", {expired} already expired");
        }
        if self.unknown.iter().any(|u| !u.not_listed) {
            out.push_str(
                "; service accounts' tokens could not be listed (unknown, counted as expiring)",
            );
        }
        let not_listed = self.unknown.iter().filter(|u| u.not_listed).count();
        if not_listed > 0 {
            let _ = write!(
                out,
                "; {} the rules name the organization lists no token for (unknown, counted as expiring)",
                count(not_listed, "owner", "owners")
            );
        }
        if !self.no_active_token.is_empty() {
            let _ = write!(
                out,
                "; {} with no active token (dead credentials in rules)",
                count(self.no_active_token.len(), "owner", "owners")
            );
        }
        out
    }
}

/// The rules of a scan inventory per owner email (lower case).
#[derive(Clone, Debug, Default)]
pub struct ScanPlaces {
    by_owner: BTreeMap<String, Vec<Place>>,
}

impl ScanPlaces {
    /// A `scan --format json` document: its `findings` (literal credentials naming an
    /// email). Anything else is an error saying what the file must be.
    pub fn parse(text: &str) -> Result<ScanPlaces, String> {
        let doc: Value =
            serde_json::from_str(text).map_err(|e| format!("not JSON ({})", e.line()))?;
        let findings = doc.get("findings").and_then(Value::as_array).ok_or(
            "not an `autorekey scan --format json` inventory: it has no \"findings\" array",
        )?;
        let field = |f: &Value, k: &str| f.get(k).and_then(Value::as_str).map(str::to_owned);
        let mut by_owner: BTreeMap<String, Vec<Place>> = BTreeMap::new();
        for f in findings {
            let (Some(email), Some(uuid)) = (field(f, "email"), field(f, "rule_uuid")) else {
                continue;
            };
            if field(f, "status").as_deref() != Some("literal") || !email.contains('@') {
                continue;
            }
            let place = Place {
                site: field(f, "site"),
                product: field(f, "product"),
                rule_uuid: uuid,
                rule_name: field(f, "rule_name").unwrap_or_default(),
                fingerprint: field(f, "fingerprint"),
                file: field(f, "file"),
            };
            by_owner
                .entry(email.trim().to_ascii_lowercase())
                .or_default()
                .push(place);
        }
        for places in by_owner.values_mut() {
            places.sort();
            places.dedup();
        }
        Ok(ScanPlaces { by_owner })
    }

    fn of(&self, email: &str) -> Vec<Place> {
        self.by_owner
            .get(&email.trim().to_ascii_lowercase())
            .cloned()
            .unwrap_or_default()
    }

    /// Service-account owners the scan found.
    fn service_accounts(&self) -> impl Iterator<Item = &String> {
        self.by_owner
            .keys()
            .filter(|e| crate::fetch::is_service_account(e))
    }

    /// Every owner the scan found, or only `account` if the scan names it.
    fn owners<'a>(&'a self, account: Option<&'a str>) -> impl Iterator<Item = &'a String> {
        self.by_owner
            .keys()
            .filter(move |e| account.is_none_or(|a| e.eq_ignore_ascii_case(a.trim())))
    }
}

/// Every active token of `list` expiring within `days` of `now` (epoch seconds), soonest
/// first, with the unknown owners; only `account`'s with one; joined to `scan` if given.
pub fn build(
    list: &TokenList,
    now: i64,
    days: u32,
    account: Option<&str>,
    scan: Option<&ScanPlaces>,
) -> Watch {
    let mine = |email: Option<&str>| {
        account.is_none_or(|a| email.is_some_and(|e| e.eq_ignore_ascii_case(a.trim())))
    };
    let active: Vec<&OrgToken> = list
        .tokens
        .iter()
        .filter(|t| t.is_active() && mine(t.email()))
        .collect();
    let mut tokens: Vec<ExpiringToken> = active
        .iter()
        .filter(|t| in_window(t, now, days))
        .map(|t| expiring(t, now, scan))
        .collect();
    // By the instant, not the text (offsets differ); unreadable dates first: any may be
    // the soonest.
    tokens.sort_by_cached_key(|t| {
        let at = t.expires_at.as_deref().and_then(parse_timestamp);
        (at.unwrap_or(i64::MIN), t.id.clone())
    });
    Watch {
        window_days: days,
        tokens_listed: active.len(),
        tokens,
        unknown: unknown_owners(list, account, scan),
        no_active_token: scan.map_or_else(Vec::new, |s| no_active_token(list, account, s)),
        scan_joined: scan.is_some(),
    }
}

/// Expires within `days` (or has), or has an expiry date that cannot be read. A token
/// with no expiry date at all is not expiring.
fn in_window(t: &OrgToken, now: i64, days: u32) -> bool {
    match (t.expires_at.as_deref(), t.days_left(now)) {
        (_, Some(left)) => left <= i64::from(days),
        (Some(at), None) => !at.trim().is_empty(),
        (None, None) => false,
    }
}

fn expiring(t: &OrgToken, now: i64, scan: Option<&ScanPlaces>) -> ExpiringToken {
    let email = t.email().unwrap_or_default().to_owned();
    let days_left = t.days_left(now);
    ExpiringToken {
        kind: if t.service_account {
            Kind::ServiceAccount
        } else {
            kind_of(&email)
        },
        label: t.label.clone(),
        id: t.id.clone(),
        created_at: t.created_at.clone(),
        expires_at: t.expires_at.clone(),
        days_left,
        expired: t.is_expired(now),
        unreadable_expiry: days_left.is_none(),
        last_active_at: t.last_active_at.clone(),
        scoped: t.is_scoped(),
        embedded_in: scan.map(|s| s.of(&email)),
        email,
    }
}

/// The service accounts the key could not list, then each owner the scan's rules name
/// that the org lists no token for at all.
fn unknown_owners(
    list: &TokenList,
    account: Option<&str>,
    scan: Option<&ScanPlaces>,
) -> Vec<UnknownOwner> {
    let mut rows = unlisted_service_accounts(list, account, scan);
    let Some(scan) = scan else {
        return rows;
    };
    let not_listed: Vec<UnknownOwner> = scan
        .owners(account)
        .filter(|e| !list.unknown(e) && !list.tokens.iter().any(|t| owned_by(t, e)))
        .map(|e| UnknownOwner {
            embedded_in: Some(scan.of(e)),
            email: Some(e.clone()),
            kind: kind_of(e),
            reason: Unknown::NotListed.why().into(),
            hint: NOT_LISTED_HINT.into(),
            not_listed: true,
        })
        .collect();
    rows.extend(not_listed);
    rows
}

/// What to do about an owner the org lists no token for.
pub const NOT_LISTED_HINT: &str =
    "check the account: if it belongs to this organization, give the org API key \
     read:tokens:admin (and read:service-accounts-tokens:admin); otherwise its tokens' \
     expiry is watched where the account is managed";

/// Owners the scan's rules name whose listed tokens are all inactive.
fn no_active_token(
    list: &TokenList,
    account: Option<&str>,
    scan: &ScanPlaces,
) -> Vec<UnknownOwner> {
    scan.owners(account)
        .filter_map(|e| {
            let listed = list.tokens.iter().filter(|t| owned_by(t, e)).count();
            let active = list.tokens.iter().any(|t| t.is_active() && owned_by(t, e));
            (listed > 0 && !active && !list.unknown(e)).then(|| UnknownOwner {
                embedded_in: Some(scan.of(e)),
                email: Some(e.clone()),
                kind: kind_of(e),
                reason: format!(
                    "the organization lists {} of this account, none active (revoked or expired)",
                    count(listed, "token", "tokens")
                ),
                hint: "a credential of it in a rule no longer works: \
                       `autorekey scan --verify --fail-on dead` fails on it"
                    .into(),
                not_listed: false,
            })
        })
        .collect()
}

fn kind_of(email: &str) -> Kind {
    if crate::fetch::is_service_account(email) {
        Kind::ServiceAccount
    } else {
        Kind::User
    }
}

/// When the service accounts' list failed: every service account is unknown (one row),
/// and each the scan found in rules gets its own row, with its places.
fn unlisted_service_accounts(
    list: &TokenList,
    account: Option<&str>,
    scan: Option<&ScanPlaces>,
) -> Vec<UnknownOwner> {
    let Some(why) = &list.service_accounts_unlisted else {
        return Vec::new();
    };
    let row = |email: Option<String>| UnknownOwner {
        embedded_in: email.as_deref().and_then(|e| Some(scan?.of(e))),
        email,
        kind: Kind::ServiceAccount,
        reason: format!("their tokens could not be listed: {why}"),
        hint: format!("give the org API key the scope {SERVICE_ACCOUNT_SCOPE}"),
        not_listed: false,
    };
    match account {
        Some(a) if list.unknown(a) => vec![row(Some(a.trim().to_owned()))],
        Some(_) => Vec::new(),
        None => std::iter::once(row(None))
            .chain(
                scan.into_iter()
                    .flat_map(|s| s.service_accounts().cloned().map(Some).map(row)),
            )
            .collect(),
    }
}

impl ExpiringToken {
    /// `expired`, `unreadable` or `expiring`: the first column of every format.
    fn status(&self) -> &'static str {
        match (self.unreadable_expiry, self.expired) {
            (true, _) => "unreadable_expiry",
            (false, true) => "expired",
            (false, false) => "expiring",
        }
    }

    fn expires(&self) -> String {
        expires_phrase(self.expires_at.as_deref(), self.days_left, self.expired)
    }

    fn token_kind(&self) -> &'static str {
        if self.scoped {
            "scoped"
        } else {
            "classic"
        }
    }
}

impl UnknownOwner {
    fn who(&self) -> String {
        self.email.as_deref().map_or_else(
            || "every service account".into(),
            |e| printable(e).into_owned(),
        )
    }
}

/// A place in words, each hostile value through `esc`.
fn describe(p: &Place, esc: &dyn Fn(&str) -> String) -> String {
    let mut out = format!("rule \"{}\" ({})", esc(&p.rule_name), esc(&p.rule_uuid));
    match (&p.site, &p.product) {
        (Some(site), Some(product)) => {
            let _ = write!(out, " on {} {}", esc(site), esc(product));
        }
        (Some(site), None) => {
            let _ = write!(out, " on {}", esc(site));
        }
        (None, Some(product)) => {
            let _ = write!(out, " ({})", esc(product));
        }
        (None, None) => {}
    }
    if let Some(file) = &p.file {
        let _ = write!(out, " in {}", esc(file));
    }
    if let Some(fp) = &p.fingerprint {
        let _ = write!(out, ", credential {}", esc(fp));
    }
    out
}

fn plain(text: &str) -> String {
    printable(text).into_owned()
}

/// How to get the where-embedded join, said where it is missing.
pub const JOIN_HINT: &str =
    "Where each token is embedded: run `autorekey scan --format json > scan.json` \
     (with every --site you use) and add `--scan scan.json`.";

/// What a joined place means: Atlassian never shows a token's value.
pub const PER_ACCOUNT: &str =
    "The rules under a token hold a credential of its account: any of the \
     account's tokens may be the one a rule holds (`autorekey fingerprint` tells which).";

/// For people: one line per token, the places beneath; the unknown owners; the summary.
pub fn render_text(w: &Watch) -> String {
    let mut out = String::new();
    let days = count(w.window_days as usize, "day", "days");
    if w.tokens.is_empty() {
        let _ = writeln!(
            out,
            "No API token of the organization expires within {days} ({} listed).",
            count(w.tokens_listed, "active token", "active tokens")
        );
    } else {
        let _ = writeln!(
            out,
            "API tokens expiring within {days} or expired (users' and service accounts'), soonest first:"
        );
    }
    for t in &w.tokens {
        let _ = writeln!(
            out,
            "  {:<9} {}  {}  \"{}\"  id {}  created {}  expires {}  last active {}  {}",
            t.status().replace("unreadable_expiry", "unreadable"),
            plain(&t.email),
            t.kind.label(),
            plain(&t.label),
            plain(&t.id),
            t.created_at.as_deref().map_or("?".into(), date),
            t.expires(),
            t.last_active_at.as_deref().map_or("never".into(), date),
            t.token_kind(),
        );
        text_places(&mut out, t.embedded_in.as_deref(), &t.email);
    }
    let sections = [
        (
            "Could not be listed (counted as expiring):",
            "unknown",
            &w.unknown,
        ),
        (
            "No active token, yet rules hold a credential (dead, not expiring):",
            "dead",
            &w.no_active_token,
        ),
    ];
    for (title, status, owners) in sections.into_iter().filter(|s| !s.2.is_empty()) {
        let _ = writeln!(out, "{title}");
        for u in owners {
            let _ = writeln!(
                out,
                "  {status:<9} {}: {} ({})",
                u.who(),
                plain(&u.reason),
                u.hint
            );
            if let Some(email) = &u.email {
                text_places(&mut out, u.embedded_in.as_deref(), email);
            }
        }
    }
    let _ = writeln!(out, "{}.", w.summary());
    if w.failing() {
        let _ = writeln!(
            out,
            "{}",
            if w.scan_joined {
                PER_ACCOUNT
            } else {
                JOIN_HINT
            }
        );
    }
    out
}

fn text_places(out: &mut String, places: Option<&[Place]>, email: &str) {
    match places {
        None => {}
        Some([]) => {
            let _ = writeln!(
                out,
                "            in rules: none of the scan holds a credential of {}",
                plain(email)
            );
        }
        Some(places) => {
            for p in places {
                let _ = writeln!(out, "            in {}", describe(p, &plain));
            }
        }
    }
}

/// For scripts: the whole [`Watch`], terminal-safe without changing a value.
pub fn render_json(w: &Watch) -> String {
    crate::printable::json_document(w)
}

const CSV_COLUMNS: [&str; 13] = [
    "status",
    "email",
    "kind",
    "label",
    "id",
    "created_at",
    "expires_at",
    "days_left",
    "last_active_at",
    "token",
    "embedded_in",
    "note",
    "window_days",
];

/// For spreadsheets: a header, one row per token, then one per unknown owner. Cells are
/// quoted and formula-defused as the scan's CSV cells are.
pub fn render_csv(w: &Watch) -> String {
    let mut out = String::new();
    csv_line(&mut out, &CSV_COLUMNS);
    let places = |p: &Option<Vec<Place>>| match p {
        None => String::new(),
        Some(v) if v.is_empty() => "none".into(),
        Some(v) => v
            .iter()
            .map(|p| describe(p, &plain))
            .collect::<Vec<_>>()
            .join("; "),
    };
    let window = w.window_days.to_string();
    for t in &w.tokens {
        let cells = [
            t.status().to_owned(),
            t.email.clone(),
            t.kind.as_str().into(),
            t.label.clone(),
            t.id.clone(),
            t.created_at.clone().unwrap_or_default(),
            t.expires_at.clone().unwrap_or_default(),
            t.days_left.map(|d| d.to_string()).unwrap_or_default(),
            t.last_active_at.clone().unwrap_or_default(),
            t.token_kind().into(),
            places(&t.embedded_in),
            String::new(),
            window.clone(),
        ];
        csv_line(&mut out, &cells);
    }
    let owners = w.unknown.iter().map(|u| ("unknown", u));
    let dead = w.no_active_token.iter().map(|u| ("no_active_token", u));
    for (status, u) in owners.chain(dead) {
        let mut cells: [String; 13] = Default::default();
        cells[0] = status.into();
        cells[1] = u.email.clone().unwrap_or_default();
        cells[2] = u.kind.as_str().into();
        cells[10] = places(&u.embedded_in);
        cells[11] = format!("{}; {}", u.reason, u.hint);
        cells[12] = window.clone();
        csv_line(&mut out, &cells);
    }
    out
}

/// For a ticket or a CI job summary: a table of the tokens, the unknown owners, where each
/// is embedded. Every value is escaped Markdown ([`markdown::text`]).
pub fn render_markdown(w: &Watch) -> String {
    let esc = |s: &str| markdown::text(s);
    let mut out = format!(
        "## API tokens expiring within {} (autorekey tokens)\n\n{}.\n\n",
        count(w.window_days as usize, "day", "days"),
        w.summary()
    );
    if !w.tokens.is_empty() {
        out.push_str(
            "| Status | Account | Kind | Label | Id | Created | Expires | Last active | Token |\n",
        );
        out.push_str("|---|---|---|---|---|---|---|---|---|\n");
        for t in &w.tokens {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                if t.expired { "**expired**" } else { t.status() }.replace('_', " "),
                esc(&t.email),
                t.kind.label(),
                esc(&t.label),
                esc(&t.id),
                t.created_at
                    .as_deref()
                    .map_or("?".into(), |d| esc(&date(d))),
                esc(&t.expires()),
                t.last_active_at
                    .as_deref()
                    .map_or("never".into(), |d| esc(&date(d))),
                t.token_kind(),
            );
        }
        out.push('\n');
    }
    let sections = [
        ("Could not be listed (counted as expiring)", &w.unknown),
        (
            "No active token, yet rules hold a credential (dead)",
            &w.no_active_token,
        ),
    ];
    for (title, owners) in sections.into_iter().filter(|s| !s.1.is_empty()) {
        let _ = writeln!(out, "### {title}\n");
        for u in owners {
            let who = esc(&u.who());
            let _ = writeln!(out, "- **{who}**: {} ({})", esc(&u.reason), esc(&u.hint));
        }
        out.push('\n');
    }
    markdown_places(&mut out, w);
    out
}

fn markdown_places(out: &mut String, w: &Watch) {
    if !w.failing() {
        return;
    }
    out.push_str("### Where they are embedded\n\n");
    if !w.scan_joined {
        out.push_str(&markdown::fenced(JOIN_HINT));
        return;
    }
    out.push_str(PER_ACCOUNT);
    out.push_str("\n\n");
    let esc = |s: &str| markdown::text(s);
    let tokens = w.tokens.iter().map(|t| {
        let what = format!("{} · {} ({})", esc(&t.email), esc(&t.label), esc(&t.id));
        (what, t.embedded_in.as_deref())
    });
    let unknown = w.unknown.iter().filter_map(|u| {
        Some((
            format!("{} · unknown", esc(u.email.as_deref()?)),
            u.embedded_in.as_deref(),
        ))
    });
    for (what, places) in tokens.chain(unknown) {
        let _ = writeln!(out, "- **{what}**");
        match places {
            Some(places) if !places.is_empty() => {
                for p in places {
                    let _ = writeln!(out, "  - {}", describe(p, &esc));
                }
            }
            _ => out.push_str("  - no rule of the scan holds a credential of this account\n"),
        }
    }
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fetch::org::OrgUser;

    const NOW: &str = "2026-12-01T12:00:00Z";

    fn token(id: &str, email: &str, expires: Option<&str>) -> OrgToken {
        OrgToken {
            id: id.into(),
            label: format!("label {id}"),
            status: Some("ALLOWED".into()),
            created_at: Some("2025-12-01T00:00:00Z".into()),
            expires_at: expires.map(Into::into),
            last_active_at: Some("2026-11-30T00:00:00Z".into()),
            user: Some(OrgUser {
                id: Some(format!("acc-{id}")),
                email: Some(email.into()),
            }),
            service_account: crate::fetch::is_service_account(email),
            ..OrgToken::default()
        }
    }

    fn list(unlisted: Option<&str>) -> TokenList {
        TokenList {
            tokens: vec![
                token("far", "alice@x.io", Some("2027-06-01T00:00:00Z")),
                token(
                    "soon",
                    "bot@serviceaccount.atlassian.com",
                    Some("2026-12-06T00:00:00Z"),
                ),
                token("gone", "bob@x.io", Some("2026-11-28T00:00:00Z")),
                token("odd", "carol@x.io", Some("next Tuesday")),
                token("never", "dave@x.io", None),
                OrgToken {
                    status: Some("REVOKED".into()),
                    ..token("revoked", "bob@x.io", Some("2026-12-02T00:00:00Z"))
                },
            ],
            service_accounts_unlisted: unlisted.map(Into::into),
        }
    }

    fn now() -> i64 {
        parse_timestamp(NOW).unwrap()
    }

    #[test]
    fn the_window_takes_expired_expiring_and_unreadable_tokens_soonest_first() {
        let w = build(&list(None), now(), 30, None, None);
        let ids: Vec<&str> = w.tokens.iter().map(|t| t.id.as_str()).collect();
        assert_eq!(ids, ["odd", "gone", "soon"]);
        assert_eq!(w.tokens_listed, 5, "the revoked token is not counted");
        assert_eq!(
            w.tokens
                .iter()
                .map(ExpiringToken::status)
                .collect::<Vec<_>>(),
            ["unreadable_expiry", "expired", "expiring"]
        );
        assert_eq!(w.tokens[2].kind, Kind::ServiceAccount);
        assert!(w.tokens[2].scoped && !w.tokens[1].scoped);
        assert!(w.failing());
        let quiet = build(&list(None), now(), 3, Some("alice@x.io"), None);
        assert!(!quiet.failing() && quiet.tokens_listed == 1);
        let text = render_text(&quiet);
        assert!(text.starts_with("No API token"), "{text}");
        assert!(
            !text.contains("--scan"),
            "no hint when nothing is listed: {text}"
        );
    }

    #[test]
    fn service_accounts_that_could_not_be_listed_are_unknown_rows_that_fail() {
        let scan = ScanPlaces::parse(
            r#"{"findings": [{"email": "Ci@serviceaccount.atlassian.com", "status": "literal",
                "rule_uuid": "r1", "rule_name": "nightly", "fingerprint": "abc"}]}"#,
        )
        .unwrap();
        let mut l = list(Some("403 Forbidden"));
        l.tokens.retain(|t| t.id == "far");
        let w = build(&l, now(), 30, None, Some(&scan));
        assert!(w.tokens.is_empty() && w.failing());
        assert_eq!(w.unknown.len(), 2);
        assert_eq!(
            w.unknown[1].email.as_deref(),
            Some("ci@serviceaccount.atlassian.com")
        );
        let text = render_text(&w);
        assert!(
            text.contains("every service account") && text.contains(SERVICE_ACCOUNT_SCOPE),
            "{text}"
        );
        assert!(
            text.contains("in rule \"nightly\" (r1), credential abc"),
            "{text}"
        );
        let csv = render_csv(&w);
        assert!(
            csv.lines()
                .nth(1)
                .unwrap()
                .starts_with("unknown,,service_account,"),
            "{csv}"
        );
        // A user's own tokens are never unknown.
        assert!(!build(&l, now(), 30, Some("alice@x.io"), None).failing());
    }

    #[test]
    fn the_scan_join_is_per_owner_and_reads_only_literal_email_credentials() {
        let scan = ScanPlaces::parse(
            r#"{"findings": [
                {"email": "BOB@x.io", "status": "literal", "rule_uuid": "r2", "rule_name": "b",
                 "fingerprint": "f1", "site": "https://a.atlassian.net", "product": "jira"},
                {"email": "bob@x.io", "status": "literal", "rule_uuid": "r2", "rule_name": "b",
                 "fingerprint": "f1", "site": "https://a.atlassian.net", "product": "jira"},
                {"email": "bob@x.io", "status": "masked", "rule_uuid": "r3"},
                {"email": "bob", "status": "literal", "rule_uuid": "r4"}]}"#,
        )
        .unwrap();
        let w = build(&list(None), now(), 30, None, Some(&scan));
        let gone = w.tokens.iter().find(|t| t.id == "gone").unwrap();
        assert_eq!(gone.embedded_in.as_ref().map(Vec::len), Some(1));
        let soon = w.tokens.iter().find(|t| t.id == "soon").unwrap();
        assert_eq!(soon.embedded_in.as_deref(), Some(&[][..]));
        let text = render_text(&w);
        assert!(
            text.contains("in rule \"b\" (r2) on https://a.atlassian.net jira, credential f1"),
            "{text}"
        );
        assert!(!text.contains("--scan scan.json"), "{text}");
        for bad in ["[]", "{\"rules\": []}", "not json"] {
            assert!(ScanPlaces::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn an_owner_the_rules_name_and_the_org_does_not_list_is_unknown_and_fails() {
        let scan = ScanPlaces::parse(
            r#"{"findings": [
                {"email": "Stranger@other.io", "status": "literal", "rule_uuid": "r1",
                 "rule_name": "outside", "fingerprint": "f1"},
                {"email": "erin@x.io", "status": "literal", "rule_uuid": "r2",
                 "rule_name": "old", "fingerprint": "f2"},
                {"email": "alice@x.io", "status": "literal", "rule_uuid": "r3",
                 "rule_name": "fine", "fingerprint": "f3"}]}"#,
        )
        .unwrap();
        let mut l = list(None);
        l.tokens.push(OrgToken {
            status: Some("REVOKED".into()),
            ..token("erin-old", "erin@x.io", Some("2027-01-01T00:00:00Z"))
        });
        // Nothing of alice's is in a 3-day window: only the stranger fails it.
        let w = build(&l, now(), 3, Some("stranger@other.io"), Some(&scan));
        assert!(w.tokens.is_empty() && w.failing());
        assert_eq!(w.unknown.len(), 1);
        assert_eq!(w.unknown[0].kind, Kind::User);
        let text = render_text(&w);
        assert!(
            text.contains(
                "unknown   stranger@other.io: tokens unknown: the organization lists no token"
            ) && text.contains("in rule \"outside\" (r1), credential f1")
                && text.contains("1 owner the rules name the organization lists no token for"),
            "{text}"
        );
        assert!(!build(&l, now(), 3, Some("alice@x.io"), Some(&scan)).failing());
        // All of erin's listed tokens are revoked: named as dead, not counted as expiring.
        let w = build(&l, now(), 3, Some("erin@x.io"), Some(&scan));
        assert!(!w.failing() && w.no_active_token.len() == 1);
        let text = render_text(&w);
        assert!(
            text.contains(
                "dead      erin@x.io: the organization lists 1 token of this account, none active"
            ) && text.contains("--fail-on dead"),
            "{text}"
        );
        let w = build(&l, now(), 3, None, Some(&scan));
        let csv = render_csv(&w);
        assert!(csv.contains("\nunknown,stranger@other.io,user,"), "{csv}");
        assert!(csv.contains("\nno_active_token,erin@x.io,user,"), "{csv}");
        let md = render_markdown(&w);
        assert!(
            md.contains("**stranger@other.io · unknown**") && md.contains("(dead)"),
            "{md}"
        );
        assert_eq!(
            render_json(&w)
                .matches("\"email\": \"stranger@other.io\"")
                .count(),
            1
        );
    }

    #[test]
    fn hostile_text_stays_inert_in_every_format() {
        let mut l = list(None);
        l.tokens[1].label = "=HYPERLINK(\"x\") [a](http://e) | x |\u{1b}[2J\nfake".into();
        let w = build(&l, now(), 30, None, None);
        let md = render_markdown(&w);
        assert!(md.contains("\\[a\\](http://e) \\| x \\|"), "{md}");
        assert!(!md.contains('\u{1b}') && !md.contains("\nfake"), "{md}");
        let csv = render_csv(&w);
        assert!(csv.contains(",\"'=HYPERLINK"), "{csv}");
        assert_eq!(csv.lines().count(), 4, "{csv}");
        let text = render_text(&w);
        assert!(
            !text.contains('\u{1b}') && !text.contains("\nfake"),
            "{text}"
        );
        assert!(render_json(&w).contains("\\u001b"));
    }
}
