//! The scan inventory: what `scan` found, as a table for people, JSON for scripts and CSV
//! for spreadsheets.
//!
//! Rows are built from [`crate::detect::Finding`]s plus the rule's identity, keeping only
//! what is safe to print (user and fingerprint, never a token, never a URL that could hold
//! userinfo: only its host). Rows are small, so an inventory of any size keeps findings, not
//! rule bodies. Rendering is pure (a string out), so snapshots pin what people read.
//!
//! Every enum a row holds is written with its `as_str`, which is its serde name: CSV and
//! JSON say the same word, so a script can switch formats without a new vocabulary. Only
//! the table for people may say a friendlier word, through one function per enum.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;
use serde_json::Value;

use crate::detect::{Finding, Location, Scheme, Status};
use crate::printable::printable;
use crate::secret::Fingerprint;

/// The verdict of `--verify` for one credential.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verification {
    Live,
    Dead,
    /// Asked, but no verdict (network trouble, an unexpected answer).
    Unknown,
    /// Never sent anywhere: not an Atlassian credential, or no rule says where it goes.
    NotChecked,
}

impl Verification {
    /// The word CSV and JSON both write: the serde name.
    pub fn as_str(self) -> &'static str {
        match self {
            Verification::Live => "live",
            Verification::Dead => "dead",
            Verification::Unknown => "unknown",
            Verification::NotChecked => "not_checked",
        }
    }

    /// The word the table for people shows.
    pub fn label(self) -> &'static str {
        match self {
            Verification::NotChecked => "not checked",
            other => other.as_str(),
        }
    }
}

/// One credential in one rule, as shown and exported.
#[derive(Clone, Debug, Serialize)]
pub struct Row {
    pub rule_uuid: String,
    pub rule_name: String,
    pub rule_state: String,
    pub component_id: Option<String>,
    pub component_path: String,
    pub component_type: String,
    pub location: Location,
    pub header_name: Option<String>,
    pub scheme: Scheme,
    /// The user of a Basic credential: usually an email, sometimes a plain user name.
    pub email: Option<String>,
    pub fingerprint: Option<Fingerprint>,
    pub hidden: bool,
    pub status: Status,
    /// Host the credential is sent to (`{{baseUrl}}` means the site itself).
    pub target_host: Option<String>,
    pub verification: Option<Verification>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verification_detail: Option<String>,
    /// This place may hold an Atlassian account's token (the `--account`'s, with one) and
    /// cannot be read: [`Finding::may_hide_token_of`], what `--fail-on unreadable` fails on
    /// and what a rotation's verdict counts.
    pub cannot_read: bool,
    /// The file the rule was read from (`--from-file`): rules of two files are two rules,
    /// whatever their ids say.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// The site the rule was read from, when the scan covered several sites or products
    /// (absent otherwise, so a one-site inventory reads as it always has).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub site: Option<String>,
    /// `jira` or `confluence`, beside `site`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub product: Option<String>,
}

impl Row {
    pub fn new(rule: &Value, f: &Finding) -> Row {
        let text = |k: &str| {
            rule.get(k)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        Row {
            rule_uuid: crate::rule::uuid_of(rule),
            rule_name: crate::detect::redacted_name(&text("name")),
            rule_state: text("state"),
            component_id: f.component_id.clone(),
            component_path: f.component_path.clone(),
            component_type: f.component_type.clone(),
            location: f.location,
            header_name: f.header_name.clone(),
            scheme: f.scheme.clone(),
            email: f.user.clone(),
            fingerprint: f.fingerprint(),
            hidden: f.hidden,
            status: f.status,
            target_host: f.target_url.as_deref().and_then(crate::detect::target_host),
            verification: None,
            verification_detail: None,
            cannot_read: f.may_hide_token_of(None),
            file: None,
            site: None,
            product: None,
        }
    }

    /// The rule this row is in: its file or site and product, and its id (rules of two
    /// files or sites are two, whatever their ids say).
    pub fn rule_key(&self) -> RuleKey<'_> {
        (
            self.file.as_deref().unwrap_or(""),
            self.site.as_deref().unwrap_or(""),
            self.product.as_deref().unwrap_or(""),
            &self.rule_uuid,
        )
    }

    /// ` at SITE PRODUCT` for a row of a scan of several sites or products, else nothing.
    pub fn at_target(&self, escape: impl Fn(&str) -> String) -> String {
        at_target(&self.site, &self.product, escape)
    }

    /// The credential this row belongs to, for grouping: user and fingerprint, with
    /// credentials that name a user first (they are what a rotation is about). A user is
    /// one whatever the case of its email (`SVC-Jira@Corp.example` is
    /// `svc-jira@corp.example`: Atlassian reads it so), so one credential is one group.
    pub(super) fn group_key(&self) -> GroupKey {
        (
            self.email.is_none(),
            self.email.as_deref().unwrap_or_default().to_lowercase(),
            self.fingerprint_text(),
        )
    }

    /// The fingerprint as written, or nothing.
    pub(super) fn fingerprint_text(&self) -> String {
        self.fingerprint
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default()
    }

    /// What a credential with no user is, as every report names it.
    pub(super) fn userless(&self) -> &'static str {
        match &self.scheme {
            Scheme::Other(o) if o == crate::detect::WEBHOOK_SCHEME => match self.location {
                Location::Url => "(webhook URL secret, not an Atlassian token)",
                _ => "(webhook secret, not an Atlassian token)",
            },
            _ => "(no user)",
        }
    }

    /// A literal credential with a fingerprint: what the credential groups hold (a
    /// placeholder or a value that could not be read is none).
    pub(super) fn is_credential(&self) -> bool {
        self.status == Status::Literal && self.fingerprint.is_some()
    }
}

/// The credential rows, grouped by credential ([`Row::group_key`]), each group in order.
pub(super) fn credential_groups(rows: &[Row]) -> BTreeMap<GroupKey, Vec<&Row>> {
    let mut groups: BTreeMap<GroupKey, Vec<&Row>> = BTreeMap::new();
    for r in rows.iter().filter(|r| r.is_credential()) {
        groups.entry(r.group_key()).or_default().push(r);
    }
    groups
}

pub(super) type GroupKey = (bool, String, String);
/// File, site, product and rule id: one rule.
pub type RuleKey<'a> = (&'a str, &'a str, &'a str, &'a str);

/// Counts for the summary object beside the findings.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Summary {
    pub rules_read: usize,
    pub rules_failed: usize,
    pub rules_with_credentials: usize,
    pub findings: usize,
    pub by_status: BTreeMap<String, usize>,
    /// Places that may hold an Atlassian account's token and cannot be read.
    pub cannot_read: usize,
    pub credentials: Vec<CredentialSummary>,
    /// Over a site: whether two listings of the rules agreed (`false`: rules may have been
    /// skipped by the site's paging). Absent for files.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub list_complete: Option<bool>,
    /// Each site and product a scan of several covered, and how its read went (empty for
    /// one site, or files).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<TargetSummary>,
}

impl Summary {
    /// `SITE PRODUCT` of each target that could not be read whole, in order.
    pub fn unread_targets(&self) -> Vec<String> {
        self.targets
            .iter()
            .filter(|t| t.error.is_some())
            .map(|t| format!("{} {}", t.site, t.product))
            .collect()
    }
}

/// How the read of one site's one product went.
#[derive(Clone, Debug, Serialize)]
pub struct TargetSummary {
    pub site: String,
    pub product: String,
    pub rules_read: usize,
    pub rules_failed: usize,
    /// Whether its two rule listings agreed; absent when it was not listed at all.
    pub list_complete: Option<bool>,
    /// Why it could not be read, or was read only in part: the inventory is incomplete.
    pub error: Option<String>,
    /// Left out before any read: a workspace of the org's list that cannot be used
    /// (`--fail-on skipped` counts it).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub skipped: bool,
}

impl TargetSummary {
    /// A target left out before any read, and why (printable text).
    pub fn not_read(site: String, product: &str, why: String) -> TargetSummary {
        TargetSummary {
            site,
            product: product.to_owned(),
            rules_read: 0,
            rules_failed: 0,
            list_complete: None,
            error: Some(why),
            skipped: true,
        }
    }

    /// Read whole: listed, every rule read, the listings agreeing.
    pub fn complete(&self) -> bool {
        self.error.is_none() && self.rules_failed == 0 && self.list_complete != Some(false)
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct CredentialSummary {
    pub email: Option<String>,
    /// The same user written in another case elsewhere (`SVC-Jira@Corp.example`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub other_spellings: Vec<String>,
    pub fingerprint: Fingerprint,
    pub scheme: Scheme,
    pub rules: usize,
    pub places: usize,
    pub verification: Option<Verification>,
}

#[derive(Clone, Debug, Serialize)]
pub struct RuleError {
    pub rule_uuid: String,
    pub error: String,
    /// Where the rule is, in a scan of several sites or products (as on [`Row`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub site: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub product: Option<String>,
}

/// A file a `--from-file` directory scan did not read (or read only in part), and why.
#[derive(Clone, Debug, Serialize)]
pub struct SkippedFile {
    pub path: String,
    pub reason: String,
}

/// Everything a scan produces.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Inventory {
    pub findings: Vec<Row>,
    pub summary: Summary,
    pub errors: Vec<RuleError>,
    /// Files of a directory scan that were not read, so "0 rules" is never silent.
    pub skipped_files: Vec<SkippedFile>,
}

impl Inventory {
    /// One rule read, with the rows of its findings.
    pub fn add_rows(&mut self, rows: Vec<Row>) {
        self.summary.rules_read += 1;
        if rows.iter().any(|r| r.status != Status::Placeholder) {
            self.summary.rules_with_credentials += 1;
        }
        self.findings.extend(rows);
    }

    pub fn add_error(&mut self, rule_uuid: String, error: String) {
        self.summary.rules_failed += 1;
        self.errors.push(RuleError {
            rule_uuid,
            error,
            site: None,
            product: None,
        });
    }

    /// Takes in another target's inventory (a scan of several sites or products); call
    /// [`Self::finish`] after the last.
    pub fn absorb(&mut self, other: Inventory) {
        self.findings.extend(other.findings);
        self.errors.extend(other.errors);
        self.skipped_files.extend(other.skipped_files);
        let (s, o) = (&mut self.summary, other.summary);
        s.rules_read += o.rules_read;
        s.rules_failed += o.rules_failed;
        s.rules_with_credentials += o.rules_with_credentials;
        s.list_complete = match (s.list_complete, o.list_complete) {
            (Some(false), _) | (_, Some(false)) => Some(false),
            (Some(true), _) | (_, Some(true)) => Some(true),
            (None, None) => None,
        };
        s.targets.extend(o.targets);
    }

    /// Sort for stable output and compute the summary's counts.
    pub fn finish(&mut self) {
        self.findings.sort_by(|a, b| {
            (a.group_key(), &a.rule_name, &a.rule_uuid, &a.component_path).cmp(&(
                b.group_key(),
                &b.rule_name,
                &b.rule_uuid,
                &b.component_path,
            ))
        });
        let s = &mut self.summary;
        s.findings = self.findings.len();
        s.cannot_read = self.findings.iter().filter(|r| r.cannot_read).count();
        s.by_status.clear();
        for r in &self.findings {
            *s.by_status.entry(r.status.as_str().into()).or_default() += 1;
        }
        s.credentials = credential_summaries(&self.findings);
    }
}

/// One summary per credential: only literal ones (a placeholder is none), a rule counted
/// once per file.
fn credential_summaries(rows: &[Row]) -> Vec<CredentialSummary> {
    credential_groups(rows)
        .into_values()
        .map(|rows| {
            let first = rows[0];
            let rules: std::collections::BTreeSet<RuleKey> =
                rows.iter().map(|r| r.rule_key()).collect();
            CredentialSummary {
                email: first.email.clone(),
                other_spellings: other_spellings(&rows),
                fingerprint: first.fingerprint.clone().expect("filtered"),
                scheme: first.scheme.clone(),
                rules: rules.len(),
                places: rows.len(),
                verification: first.verification,
            }
        })
        .collect()
}

/// The spellings of the group's user other than the first row's, in order.
fn other_spellings(rows: &[&Row]) -> Vec<String> {
    let shown = rows[0].email.as_deref();
    let mut others: Vec<String> = rows
        .iter()
        .filter_map(|r| r.email.clone())
        .filter(|e| Some(e.as_str()) != shown)
        .collect();
    others.sort();
    others.dedup();
    others
}

pub use crate::words::count;

pub fn render_json(inv: &Inventory) -> String {
    crate::printable::json_document(inv)
}

const CSV_COLUMNS: [&str; 17] = [
    "rule_uuid",
    "rule_name",
    "rule_state",
    "component_id",
    "component_path",
    "location",
    "header_name",
    "scheme",
    "email",
    "fingerprint",
    "hidden",
    "status",
    "target_host",
    "verification",
    "component_type",
    "cannot_read",
    "file",
];

/// Columns after [`CSV_COLUMNS`] in a scan of several sites or products.
const CSV_TARGET_COLUMNS: [&str; 2] = ["site", "product"];

pub fn render_csv(inv: &Inventory) -> String {
    let several = !inv.summary.targets.is_empty();
    let targets: &[&str] = if several { &CSV_TARGET_COLUMNS } else { &[] };
    let mut out = String::new();
    csv_line(&mut out, &[&CSV_COLUMNS[..], targets].concat());
    for r in &inv.findings {
        let mut cells = vec![
            r.rule_uuid.clone(),
            r.rule_name.clone(),
            r.rule_state.clone(),
            r.component_id.clone().unwrap_or_default(),
            r.component_path.clone(),
            r.location.as_str().into(),
            r.header_name.clone().unwrap_or_default(),
            r.scheme.as_str().into(),
            r.email.clone().unwrap_or_default(),
            r.fingerprint_text(),
            r.hidden.to_string(),
            r.status.as_str().into(),
            r.target_host.clone().unwrap_or_default(),
            r.verification.map_or("", Verification::as_str).into(),
            r.component_type.clone(),
            r.cannot_read.to_string(),
            r.file.clone().unwrap_or_default(),
        ];
        if several {
            cells.push(r.site.clone().unwrap_or_default());
            cells.push(r.product.clone().unwrap_or_default());
        }
        csv_line(&mut out, &cells);
    }
    out
}

/// One CSV line: each cell through [`csv_cell`], comma-separated.
pub(super) fn csv_line(out: &mut String, cells: &[impl AsRef<str>]) {
    let line: Vec<String> = cells.iter().map(|c| csv_cell(c.as_ref())).collect();
    out.push_str(&line.join(","));
    out.push('\n');
}

/// Quote a cell when it needs it, and defuse spreadsheet formulas (`=`, `+`, `-`, `@`, and
/// a leading tab or carriage return, which some spreadsheets skip before reading a formula):
/// rule names are typed by anyone with rule access. Control characters, line breaks
/// included, are escaped: a CSV read on a terminal must not let a name fake a line.
pub(super) fn csv_cell(text: &str) -> String {
    let text = if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{}", printable(text))
    } else {
        printable(text).into_owned()
    };
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text
    }
}

/// The table for people: one block per credential (user + fingerprint), listing the rules
/// and places that use it; then values that could not be inspected; then authors'
/// placeholders; then the totals.
pub fn render_table(inv: &Inventory) -> String {
    let mut out = String::new();
    for rows in credential_groups(&inv.findings).values() {
        credential_block(&mut out, rows);
    }
    let (placeholders, unreadable): (Vec<&Row>, Vec<&Row>) = inv
        .findings
        .iter()
        .filter(|r| !r.is_credential())
        .partition(|r| r.status == Status::Placeholder);
    if !unreadable.is_empty() {
        out.push_str("Not inspectable (masked, managed secret or smart value):\n");
        for r in &unreadable {
            let may_hide = if r.cannot_read {
                ", may hold an Atlassian token"
            } else {
                ""
            };
            let tag = format!("  [{}{may_hide}]", r.status.as_str());
            let _ = writeln!(out, "    {}", place(r, &tag));
        }
        out.push('\n');
    }
    if !placeholders.is_empty() {
        out.push_str("Placeholders (an author's text to fill in, not a credential):\n");
        for r in &placeholders {
            let _ = writeln!(out, "    {}", place(r, ""));
        }
        out.push('\n');
    }
    for e in &inv.errors {
        let _ = writeln!(
            out,
            "Could not read rule {}{}: {}",
            printable(&e.rule_uuid),
            e.at_target(|t| printable(t).into_owned()),
            printable(&e.error)
        );
    }
    legends(&mut out, inv);
    totals(&mut out, inv);
    targets(&mut out, inv);
    out
}

impl RuleError {
    /// ` at SITE PRODUCT`, as on [`Row::at_target`].
    pub fn at_target(&self, escape: impl Fn(&str) -> String) -> String {
        at_target(&self.site, &self.product, escape)
    }
}

fn at_target(
    site: &Option<String>,
    product: &Option<String>,
    escape: impl Fn(&str) -> String,
) -> String {
    match (site, product) {
        (Some(site), Some(product)) => format!(" at {} {}", escape(site), escape(product)),
        _ => String::new(),
    }
}

/// Each site and product of a scan of several, with how its read went: the inventory
/// says what it covered, and what it could not read.
fn targets(out: &mut String, inv: &Inventory) {
    if inv.summary.targets.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "Covered {}:",
        count(
            inv.summary.targets.len(),
            "site and product",
            "sites and products"
        )
    );
    for line in target_lines(&inv.summary.targets) {
        let _ = writeln!(out, "    {}", printable(&line));
    }
}

/// One line per target: `SITE PRODUCT: N rules read` and, when it was not read whole,
/// why (raw text: the caller escapes it for its format).
pub fn target_lines(targets: &[TargetSummary]) -> Vec<String> {
    targets
        .iter()
        .map(|t| {
            let mut line = format!(
                "{} {}: {} read",
                t.site,
                t.product,
                count(t.rules_read, "rule", "rules")
            );
            if t.rules_failed > 0 {
                let _ = write!(
                    line,
                    ", {} could not be read",
                    count(t.rules_failed, "rule", "rules")
                );
            }
            if t.list_complete == Some(false) {
                line.push_str(", its two rule listings disagreed");
            }
            if let Some(error) = &t.error {
                let _ = write!(line, "; INCOMPLETE: {error}");
            }
            line
        })
        .collect()
}

/// One credential: its user (one spelling, the others named) and fingerprint, then its
/// places.
fn credential_block(out: &mut String, rows: &[&Row]) {
    let first = rows[0];
    let who = printable(first.email.as_deref().unwrap_or(first.userless()));
    let fp = first.fingerprint_text();
    let verdict = match first.verification {
        Some(v) => format!("  [{}]", v.label()),
        None => String::new(),
    };
    let others = other_spellings(rows);
    let also = if others.is_empty() {
        String::new()
    } else {
        format!("  (also written {})", printable(&others.join(", ")))
    };
    let _ = writeln!(
        out,
        "{who} · {fp}  ({}, {}){verdict}{also}",
        first.scheme.as_str(),
        count(rows.len(), "place", "places"),
    );
    for r in rows {
        // A literal that may hold a token is a Basic value that names no account.
        let tag = if r.cannot_read {
            "  [names no account, may hold an Atlassian token]"
        } else {
            ""
        };
        let _ = writeln!(out, "    {}", place(r, tag));
    }
    out.push('\n');
}

/// What a keyed fingerprint and an `[unknown]` verdict mean, when the table shows one.
fn legends(out: &mut String, inv: &Inventory) {
    if inv
        .findings
        .iter()
        .any(|r| r.fingerprint.as_ref().is_some_and(Fingerprint::is_keyed))
    {
        out.push_str(
            "k:…: a keyed fingerprint, for a secret that is not shaped like an Atlassian token \
             and that this place does not send to an Atlassian host (another host, a variable, \
             a relay's body); a token used both ways is listed under both, and \
             `autorekey fingerprint` prints both forms.\n",
        );
    }
    if inv.findings.iter().any(|r| r.cannot_read) {
        out.push_str(
            "may hold an Atlassian token: autorekey cannot read it or name its account, so it \
             may be an old token still in use; check it in the Automation UI before revoking one \
             (`--fail-on unreadable` exits 3 while one is listed).\n",
        );
    }
    if inv
        .findings
        .iter()
        .any(|r| r.verification == Some(Verification::Unknown))
    {
        out.push_str(
            "[unknown]: the check could not be made (verification_detail in --format json says why).\n",
        );
    }
}

/// The counts line, and the files a directory scan skipped.
fn totals(out: &mut String, inv: &Inventory) {
    let s = &inv.summary;
    let failed = if s.rules_failed > 0 {
        format!(
            "; {} could not be read",
            count(s.rules_failed, "rule", "rules")
        )
    } else {
        String::new()
    };
    let _ = writeln!(
        out,
        "{} read, {} with credentials; {}, {}{failed}.",
        count(s.rules_read, "rule", "rules"),
        s.rules_with_credentials,
        count(s.findings, "finding", "findings"),
        count(
            s.credentials.len(),
            "distinct credential",
            "distinct credentials"
        ),
    );
    if !inv.skipped_files.is_empty() {
        let _ = writeln!(
            out,
            "{} skipped (not read as rules):",
            count(inv.skipped_files.len(), "file", "files")
        );
        for f in &inv.skipped_files {
            // JSON keeps the real name; here it is one line, whatever the file is called.
            let _ = writeln!(out, "    {}: {}", printable(&f.path), printable(&f.reason));
        }
    }
}

impl Row {
    /// What every rendering says of a place besides its rule and component: ` (disabled)`,
    /// ` HEADER` (written with `escape`, hostile text) and `, hidden`.
    pub(super) fn place_facts(&self, escape: impl Fn(&str) -> String) -> (&str, String, &str) {
        let state = match self.rule_state.eq_ignore_ascii_case("DISABLED") {
            true => " (disabled)",
            false => "",
        };
        let header = self
            .header_name
            .as_deref()
            .map(|h| format!(" {}", escape(h)))
            .unwrap_or_default();
        let hidden = if self.hidden { ", hidden" } else { "" };
        (state, header, hidden)
    }
}

/// Where a row is: rule, component, location, then `tag` (a status), then its file.
fn place(r: &Row, tag: &str) -> String {
    let (state, header, hidden) = r.place_facts(|h| printable(h).into_owned());
    let file = r
        .file
        .as_deref()
        .map(|f| format!("  in {}", printable(f)))
        .unwrap_or_default();
    let mut at = r.at_target(|t| printable(t).into_owned());
    if !at.is_empty() {
        at.insert(0, ' ');
    }
    format!(
        "{}{state}  {}  [{}{header}{hidden}]{tag}{file}{at}",
        printable(&r.rule_name),
        printable(&r.component_path),
        r.location.as_str()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_cells_are_quoted_and_formulas_defused() {
        assert_eq!(csv_cell("plain"), "plain");
        assert_eq!(csv_cell("a,b"), "\"a,b\"");
        assert_eq!(csv_cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_cell("=HYPERLINK(1)"), "'=HYPERLINK(1)");
        assert_eq!(csv_cell("\t=1+1"), "'\\u{9}=1+1");
        assert_eq!(csv_cell("\r@SUM(A1)"), "'\\u{d}@SUM(A1)");
        assert_eq!(csv_cell("a\nb"), "a\\u{a}b");
    }

    #[test]
    fn verification_words_are_the_serde_names_and_the_table_says_them_plainly() {
        let all = [
            Verification::Live,
            Verification::Dead,
            Verification::Unknown,
            Verification::NotChecked,
        ];
        for v in all {
            // A new variant fails to compile here until it is added to `all`.
            match v {
                Verification::Live
                | Verification::Dead
                | Verification::Unknown
                | Verification::NotChecked => {}
            }
            assert_eq!(serde_json::to_value(v).unwrap(), v.as_str(), "{v:?}");
        }
        assert_eq!(Verification::NotChecked.label(), "not checked");
        assert_eq!(Verification::Dead.label(), "dead");
    }
}
