//! Report: what `scan` found, as a table for people, JSON for scripts and CSV for
//! spreadsheets; and the closing summary of a rotation.
//!
//! Rows are built from [`crate::detect::Finding`]s plus the rule's identity, keeping only
//! what is safe to print (user and fingerprint, never a token, never a URL that could hold
//! userinfo: only its host). Rows are small, so an inventory of any size keeps findings, not
//! rule bodies. Rendering is pure (a string out), so snapshots pin what people read.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;
use serde_json::Value;

use crate::apply::{Outcome, Prepared};
use crate::detect::{Finding, Location, Scheme, Status};
use crate::error::CommandError;
use crate::plan::Selector;
use crate::printable::printable;
use crate::secret::{Fingerprint, Token};
use crate::verdict;

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
            rule_uuid: crate::export::rule_uuid(rule),
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
        }
    }

    /// The credential this row belongs to, for grouping: user and fingerprint, with
    /// credentials that name a user first (they are what a rotation is about).
    fn group_key(&self) -> GroupKey {
        (
            self.email.is_none(),
            self.email.clone().unwrap_or_default(),
            self.fingerprint
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default(),
        )
    }
}

type GroupKey = (bool, String, String);

/// Counts for the summary object beside the findings.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Summary {
    pub rules_read: usize,
    pub rules_failed: usize,
    pub rules_with_credentials: usize,
    pub findings: usize,
    pub by_status: BTreeMap<String, usize>,
    pub credentials: Vec<CredentialSummary>,
    /// Over a site: whether two listings of the rules agreed (`false`: rules may have been
    /// skipped by the site's paging). Absent for files.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub list_complete: Option<bool>,
}

#[derive(Clone, Debug, Serialize)]
pub struct CredentialSummary {
    pub email: Option<String>,
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
    pub fn add_rule(&mut self, rule: &Value, findings: &[Finding]) {
        self.summary.rules_read += 1;
        if !findings.is_empty() {
            self.summary.rules_with_credentials += 1;
        }
        self.findings
            .extend(findings.iter().map(|f| Row::new(rule, f)));
    }

    pub fn add_error(&mut self, rule_uuid: String, error: String) {
        self.summary.rules_failed += 1;
        self.errors.push(RuleError { rule_uuid, error });
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
        s.by_status.clear();
        for r in &self.findings {
            *s.by_status.entry(status_name(r.status).into()).or_default() += 1;
        }
        s.credentials = credential_summaries(&self.findings);
    }
}

fn credential_summaries(rows: &[Row]) -> Vec<CredentialSummary> {
    let mut groups: BTreeMap<GroupKey, Vec<&Row>> = BTreeMap::new();
    for r in rows.iter().filter(|r| r.fingerprint.is_some()) {
        groups.entry(r.group_key()).or_default().push(r);
    }
    groups
        .into_values()
        .map(|rows| {
            let first = rows[0];
            let mut rules: Vec<&str> = rows.iter().map(|r| r.rule_uuid.as_str()).collect();
            rules.dedup();
            CredentialSummary {
                email: first.email.clone(),
                fingerprint: first.fingerprint.clone().expect("filtered"),
                scheme: first.scheme.clone(),
                rules: rules.len(),
                places: rows.len(),
                verification: first.verification,
            }
        })
        .collect()
}

pub fn status_name(s: Status) -> &'static str {
    match s {
        Status::Literal => "literal",
        Status::Masked => "masked",
        Status::SecretRef => "secret_ref",
        Status::Dynamic => "dynamic",
    }
}

fn scheme_name(s: &Scheme) -> String {
    match s {
        Scheme::Basic => "basic".into(),
        Scheme::Bearer => "bearer".into(),
        Scheme::Token => "token".into(),
        Scheme::Unknown => "unknown".into(),
        Scheme::Other(o) => o.clone(),
    }
}

fn location_name(l: Location) -> String {
    serde_json::to_value(l)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

fn verification_name(v: Option<Verification>) -> &'static str {
    match v {
        Some(Verification::Live) => "live",
        Some(Verification::Dead) => "dead",
        Some(Verification::Unknown) => "unknown",
        Some(Verification::NotChecked) => "not checked",
        None => "",
    }
}

pub fn render_json(inv: &Inventory) -> String {
    let s = serde_json::to_string_pretty(inv).unwrap_or_default();
    format!("{}\n", crate::printable::json_text(&s))
}

const CSV_COLUMNS: [&str; 15] = [
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
];

pub fn render_csv(inv: &Inventory) -> String {
    let mut out = CSV_COLUMNS.join(",");
    out.push('\n');
    for r in &inv.findings {
        let cells = [
            r.rule_uuid.clone(),
            r.rule_name.clone(),
            r.rule_state.clone(),
            r.component_id.clone().unwrap_or_default(),
            r.component_path.clone(),
            location_name(r.location),
            r.header_name.clone().unwrap_or_default(),
            scheme_name(&r.scheme),
            r.email.clone().unwrap_or_default(),
            r.fingerprint
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default(),
            r.hidden.to_string(),
            status_name(r.status).into(),
            r.target_host.clone().unwrap_or_default(),
            verification_name(r.verification).into(),
            r.component_type.clone(),
        ];
        let line: Vec<String> = cells.iter().map(|c| csv_cell(c)).collect();
        out.push_str(&line.join(","));
        out.push('\n');
    }
    out
}

/// Quote a cell when it needs it, and defuse spreadsheet formulas (`=`, `+`, `-`, `@`, and
/// a leading tab or carriage return, which some spreadsheets skip before reading a formula):
/// rule names are typed by anyone with rule access. Control characters, line breaks
/// included, are escaped: a CSV read on a terminal must not let a name fake a line.
fn csv_cell(text: &str) -> String {
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
/// and places that use it; then values that could not be inspected; then the totals.
pub fn render_table(inv: &Inventory) -> String {
    let mut out = String::new();
    let (literal, other): (Vec<&Row>, Vec<&Row>) = inv
        .findings
        .iter()
        .partition(|r| r.status == Status::Literal && r.fingerprint.is_some());
    let mut groups: BTreeMap<GroupKey, Vec<&Row>> = BTreeMap::new();
    for r in literal {
        groups.entry(r.group_key()).or_default().push(r);
    }
    for rows in groups.values() {
        let first = rows[0];
        let who = printable(match (&first.email, &first.scheme) {
            (Some(email), _) => email.as_str(),
            (None, Scheme::Other(o)) if o == crate::detect::WEBHOOK_SCHEME => {
                "(webhook URL secret, not an Atlassian token)"
            }
            (None, _) => "(no user)",
        });
        let fp = first
            .fingerprint
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default();
        let verdict = match first.verification {
            Some(v) => format!("  [{}]", verification_name(Some(v))),
            None => String::new(),
        };
        let _ = writeln!(
            out,
            "{who} · {fp}  ({}, {} place{}){verdict}",
            scheme_name(&first.scheme),
            rows.len(),
            if rows.len() == 1 { "" } else { "s" }
        );
        for r in rows {
            let _ = writeln!(out, "    {}", place(r));
        }
        out.push('\n');
    }
    if !other.is_empty() {
        out.push_str("Not inspectable (masked, managed secret or smart value):\n");
        for r in other {
            let _ = writeln!(out, "    {}  [{}]", place(r), status_name(r.status));
        }
        out.push('\n');
    }
    for e in &inv.errors {
        let _ = writeln!(
            out,
            "Could not read rule {}: {}",
            printable(&e.rule_uuid),
            printable(&e.error)
        );
    }
    if inv
        .findings
        .iter()
        .any(|r| r.fingerprint.as_ref().is_some_and(Fingerprint::is_keyed))
    {
        out.push_str(
            "k:…: a keyed fingerprint, for a secret that is not an Atlassian credential or \
             that a rule sends to another host (a token used both ways is listed under both); \
             `autorekey fingerprint` prints both forms.\n",
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
    let s = &inv.summary;
    let _ = writeln!(
        out,
        "{} rules read, {} with credentials; {} findings, {} distinct credentials{}.",
        s.rules_read,
        s.rules_with_credentials,
        s.findings,
        s.credentials.len(),
        if s.rules_failed > 0 {
            format!("; {} rules could not be read", s.rules_failed)
        } else {
            String::new()
        }
    );
    if !inv.skipped_files.is_empty() {
        let _ = writeln!(
            out,
            "{} file(s) skipped (not read as rules):",
            inv.skipped_files.len()
        );
        for f in &inv.skipped_files {
            let _ = writeln!(out, "    {}: {}", f.path, f.reason);
        }
    }
    out
}

fn place(r: &Row) -> String {
    let state = if r.rule_state.eq_ignore_ascii_case("DISABLED") {
        " (disabled)"
    } else {
        ""
    };
    let header = r
        .header_name
        .as_deref()
        .map(|h| format!(" {}", printable(h)))
        .unwrap_or_default();
    let hidden = if r.hidden { ", hidden" } else { "" };
    format!(
        "{}{state}  {}  [{}{header}{hidden}]",
        printable(&r.rule_name),
        printable(&r.component_path),
        location_name(r.location)
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
}

/// Everything the closing summary of `rotate`, `apply` and the offline rewrite says.
#[derive(Debug)]
pub struct RotationSummary {
    pub account: String,
    pub new_fingerprint: Fingerprint,
    pub old_fingerprints: std::collections::BTreeSet<String>,
    pub rules_read: usize,
    pub dry_run: bool,
    pub plan_saved: Option<String>,
    pub written_file: Option<String>,
    pub would_rotate: Vec<String>,
    pub backup_dir: Option<String>,
    pub outcomes: Vec<Outcome>,
    /// `autorekey revoke ...` for the old token, shown once revoking is safe.
    pub revoke_command: String,
    /// The offline export rotation (nothing is on the site until imported).
    pub offline: bool,
    /// Whether the rule list read was complete (see [`verdict::Facts::list_complete`]).
    pub list_complete: bool,
    /// Rules with a credential autorekey cannot read that may be the account's.
    pub not_inspectable: usize,
    /// Identities ([`crate::secret::Token::identity`], never shown) of the tokens in the
    /// rules when they were read, in any form: the account's credentials and every copy
    /// the run does not rewrite.
    pub tokens_in_rules: std::collections::BTreeSet<Fingerprint>,
    /// Each rule's unrewritten literal tokens (see [`crate::apply::Census::seen`]).
    pub copies: Vec<crate::apply::RuleCopies>,
    /// Rules still holding an old token an earlier run of this rotation replaced, in a
    /// form this run does not rewrite: left alone, whatever else this run found there.
    pub held_back: Vec<Outcome>,
}

impl RotationSummary {
    pub fn new(selector: &Selector, new_token: &Token, rules_read: usize) -> Self {
        RotationSummary {
            account: selector.account.clone(),
            new_fingerprint: new_token.fingerprint(),
            old_fingerprints: Default::default(),
            rules_read,
            dry_run: false,
            plan_saved: None,
            written_file: None,
            would_rotate: Vec::new(),
            backup_dir: None,
            outcomes: Vec::new(),
            revoke_command: revoke_command(selector, new_token),
            offline: false,
            list_complete: true,
            not_inspectable: 0,
            tokens_in_rules: Default::default(),
            copies: Vec::new(),
            held_back: Vec::new(),
        }
    }

    /// Remember which old tokens the rewrites replace, for the next steps: one fingerprint
    /// per token, though a token sent outside Atlassian shows a keyed one there.
    pub fn note_old(&mut self, prepared: &[Prepared]) {
        let findings = prepared.iter().flat_map(|p| &p.findings);
        for fp in crate::detect::one_per_token(findings) {
            self.old_fingerprints.insert(fp.to_string());
        }
    }

    /// What the census of every rule read says beyond the outcomes.
    pub fn note_census(&mut self, census: &crate::apply::Census) {
        self.not_inspectable = census.not_inspectable;
        let copies = census.seen.iter().flat_map(|(_, _, c)| c);
        self.tokens_in_rules = census
            .account_tokens
            .keys()
            .cloned()
            .chain(copies.map(|copy| copy.identity.clone()))
            .collect();
        self.copies = census.seen.clone();
    }

    /// Old tokens that earlier runs of this rotation replaced (identity, fingerprint shown):
    /// named for revoking too, unless a rule still held one, in any form, when this run
    /// read them; a rule holding one in a form this run does not rewrite is left alone.
    pub fn note_earlier(&mut self, earlier: Vec<(Fingerprint, Fingerprint)>) {
        let (held, gone): (Vec<_>, Vec<_>) = earlier
            .into_iter()
            .partition(|(id, _)| self.tokens_in_rules.contains(id));
        self.old_fingerprints
            .extend(gone.into_iter().map(|(_, shown)| shown.to_string()));
        for (uuid, name, copies) in &self.copies {
            let hits: Vec<_> = copies
                .iter()
                .filter_map(|copy| Some((held.iter().find(|(id, _)| *id == copy.identity)?, copy)))
                .collect();
            // Named as the old token to keep: the rule holding it is left alone below.
            self.old_fingerprints
                .extend(hits.iter().map(|((_, shown), _)| shown.to_string()));
            let pointers: Vec<String> = hits
                .iter()
                .map(|(_, copy)| format!("{} ({})", copy.pointer, copy.shown))
                .collect();
            if !pointers.is_empty() {
                let why = crate::plan::LeftAlone::OldTokenElsewhere { pointers };
                self.held_back.push(Outcome::LeftAlone {
                    uuid: uuid.clone(),
                    name: name.clone(),
                    reason: crate::apply::left_alone_reason(&why),
                });
            }
        }
    }

    pub fn add(&mut self, outcomes: Vec<Outcome>) {
        self.outcomes.extend(outcomes);
        // A rule held back is counted as left alone, whether this run rotated it, found it
        // current or left it untouched; a rule reported otherwise keeps its first reason.
        for held in std::mem::take(&mut self.held_back) {
            let done =
                |o: &Outcome| matches!(o, Outcome::Rotated { .. } | Outcome::AlreadyCurrent { .. });
            match self.outcomes.iter_mut().find(|o| o.uuid() == held.uuid()) {
                Some(o) if done(o) => *o = held,
                Some(_) => {}
                None => self.outcomes.push(held),
            }
        }
        // Grouped by what happened (the order of the counts), then by rule name.
        self.outcomes
            .sort_by(|a, b| (kind_rank(a), a.name()).cmp(&(kind_rank(b), b.name())));
    }

    fn count(&self, pick: Pick) -> usize {
        self.outcomes.iter().filter(|o| pick(o)).count()
    }

    /// What the verdict is decided from.
    pub fn facts(&self) -> verdict::Facts<'_> {
        let mode = if self.plan_saved.is_some() {
            verdict::Mode::PlanSaved
        } else if self.dry_run {
            verdict::Mode::DryRun
        } else if self.offline {
            verdict::Mode::OfflineExport
        } else {
            verdict::Mode::Written
        };
        verdict::Facts {
            mode,
            outcomes: &self.outcomes,
            list_complete: self.list_complete,
            not_inspectable: self.not_inspectable,
            old: &self.old_fingerprints,
            new: &self.new_fingerprint,
        }
    }

    pub fn advice(&self) -> verdict::Advice {
        verdict::advise(&self.facts())
    }

    /// 0 when every rule was rotated (or, for a dry run or a saved plan, when it was shown);
    /// 1 when interrupted; 3 when the verdict keeps the old token because of something a
    /// person must look at (a rule left alone, failed, declined, not attempted or to check;
    /// a credential that cannot be read; an incomplete rule list); 2 when nothing matched.
    pub fn exit(&self) -> Result<(), CommandError> {
        // Stopped by Ctrl-C or by a refused login, rather than by the admin's "quit".
        let stopped =
            |o: &Outcome| matches!(o, Outcome::NotAttempted { why, .. } if why != "you quit");
        let interrupted = self.outcomes.iter().filter(|o| stopped(o)).count();
        if interrupted > 0 {
            return Err(CommandError::failure(format!(
                "stopped with {interrupted} rule(s) not attempted"
            ))
            .hint(
                "run the same command again: it re-reads every rule and does only what is left",
            ));
        }
        // A dry run or a saved plan wrote nothing: it succeeded in showing what a
        // rotation would do, rules it would leave alone included (they are listed).
        if self.dry_run || self.plan_saved.is_some() {
            return Ok(());
        }
        match self.advice() {
            verdict::Advice::StillInUse { rules } => Err(CommandError::partial(format!(
                "{rules} rule(s) still need you: left alone, failed, declined, not attempted or to check (listed above)"
            ))),
            verdict::Advice::NotInspectable { rules } => Err(CommandError::partial(format!(
                "{rules} rule(s) send a credential autorekey cannot read; check them before revoking"
            ))),
            verdict::Advice::ListIncomplete => Err(CommandError::partial(
                "the rule list could not be confirmed complete: a rule the site did not list may still hold the old token",
            )),
            verdict::Advice::NothingMatched => Err(CommandError::usage(format!(
                "no rule holds a credential of {} that this run selects",
                self.account
            ))
            .hint("check --account and --fingerprint against what `autorekey scan` lists")),
            _ => Ok(()),
        }
    }
}

fn kind_rank(o: &Outcome) -> u8 {
    match o {
        Outcome::Rotated { .. } => 0,
        Outcome::AlreadyCurrent { .. } => 1,
        Outcome::Attention { .. } => 2,
        Outcome::LeftAlone { .. } => 3,
        Outcome::Failed { .. } => 4,
        Outcome::Declined { .. } => 5,
        Outcome::NotAttempted { .. } => 6,
    }
}

/// One line per rule as it is written, for the progress of an interactive run. One line
/// whatever it quotes: names, ids, reasons and read-back pointers may come from a rule or
/// a server, and a line break in them must not start a line that fakes the summary.
pub fn outcome_line(o: &Outcome) -> String {
    let line = match o {
        Outcome::Rotated { name, places, .. } => {
            format!("Rotated \"{name}\" ({places} place{})", plural(*places))
        }
        Outcome::Attention { name, detail, .. } => format!("Needs attention \"{name}\": {detail}"),
        Outcome::LeftAlone { name, reason, .. } => format!("Left alone \"{name}\": {reason}"),
        Outcome::Failed { name, reason, .. } => format!("Failed \"{name}\": {reason}"),
        Outcome::Declined { name, .. } => format!("Skipped \"{name}\" (you said no)"),
        Outcome::AlreadyCurrent { name, .. } => format!("\"{name}\" already uses the new token"),
        Outcome::NotAttempted { name, why, .. } => format!("Not attempted \"{name}\": {why}"),
    };
    printable(&line).into_owned()
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// Selects the outcomes one summary row counts.
type Pick = fn(&Outcome) -> bool;

/// The closing summary: counts, every rule that needs a person with why, where the backups
/// are, and what to do next (and whether the old token may be revoked yet).
pub fn render_rotation(s: &RotationSummary) -> String {
    let mut out = String::new();
    let olds: Vec<&str> = s.old_fingerprints.iter().map(String::as_str).collect();
    let _ = writeln!(
        out,
        "Summary for {} (old {} → new {}); {} rules read:",
        s.account,
        if olds.is_empty() {
            "none left".into()
        } else {
            olds.join(", ")
        },
        s.new_fingerprint,
        s.rules_read
    );
    let rows: [(&str, Pick); 7] = [
        ("rotated", |o| matches!(o, Outcome::Rotated { .. })),
        ("already current", |o| {
            matches!(o, Outcome::AlreadyCurrent { .. })
        }),
        ("needs attention", |o| {
            matches!(o, Outcome::Attention { .. })
        }),
        ("left alone", |o| matches!(o, Outcome::LeftAlone { .. })),
        ("failed", |o| matches!(o, Outcome::Failed { .. })),
        ("declined", |o| matches!(o, Outcome::Declined { .. })),
        ("not attempted", |o| {
            matches!(o, Outcome::NotAttempted { .. })
        }),
    ];
    if !s.would_rotate.is_empty() || s.dry_run || s.plan_saved.is_some() {
        let _ = writeln!(out, "  {:<16} {}", "to rotate", s.would_rotate.len());
    }
    for (label, pick) in rows {
        let n = s.count(pick);
        if n > 0 {
            let _ = writeln!(out, "  {label:<16} {n}");
        }
    }
    for o in s
        .outcomes
        .iter()
        .filter(|o| !matches!(o, Outcome::Rotated { .. } | Outcome::AlreadyCurrent { .. }))
    {
        let _ = writeln!(out, "  - {} ({})", outcome_line(o), printable(o.uuid()));
    }
    out.push('\n');
    render_where(s, &mut out);
    render_next_steps(s, &mut out);
    out
}

fn render_where(s: &RotationSummary, out: &mut String) {
    if let Some(plan) = &s.plan_saved {
        let _ = writeln!(
            out,
            "Plan saved to {plan} (no secrets). Nothing was written."
        );
        let _ = writeln!(out, "Carry it out with: autorekey apply {plan}\n");
    } else if s.dry_run {
        let _ = writeln!(out, "Dry run: nothing was written.\n");
    }
    if let Some(file) = &s.written_file {
        let _ = writeln!(
            out,
            "Rotated export written to {file} (mode 0600: it holds tokens). It holds only the \
             rotated rules; the input file is unchanged."
        );
        let _ = writeln!(
            out,
            "Import it in the Automation UI (Import rules): imported rules arrive disabled. \
             Enable them and disable or delete the old copies.\n"
        );
    }
    if let Some(dir) = &s.backup_dir {
        let _ = writeln!(out, "Backups (mode 0600, they hold the old tokens): {dir}");
        let _ = writeln!(out, "Journal: {dir}/journal.jsonl");
        let _ = writeln!(out, "Undo with: autorekey restore {dir}\n");
    }
}

fn render_next_steps(s: &RotationSummary, out: &mut String) {
    let facts = s.facts();
    let advice = verdict::advise(&facts);
    // The org admin API's revoke command, only where the verdict says to revoke.
    let by_api = format!("  3. Or, with an org admin API key: {}", s.revoke_command);
    let extra = advice.revokes().then_some(by_api.as_str());
    out.push_str(&verdict::render_with(&advice, &facts, &s.account, extra));
}

/// The revoke command for a rotation: the kept token is the new one, unless the
/// credentials moved to another account (then none of the old account's may stay).
fn revoke_command(selector: &Selector, new_token: &Token) -> String {
    let keep = if selector.new_owner().eq_ignore_ascii_case(&selector.account) {
        format!(" --keep {}", new_token.fingerprint())
    } else {
        String::new()
    };
    format!(
        "autorekey revoke --account {} --token-id ID{keep} (ID from `autorekey tokens --account {}`)",
        selector.account, selector.account
    )
}

/// The revoke advice of every way a run can end, as the admin reads it: the summary's
/// closing part, pinned by inline snapshots so a change to when "revoke" is said shows up
/// in review.
#[cfg(test)]
mod advice_snapshots {
    use super::*;

    fn summary(outcomes: Vec<Outcome>) -> RotationSummary {
        let selector = Selector::new("svc@acme.example", vec![]);
        let mut s = RotationSummary::new(&selector, &Token::new("FAKE-new-token"), 5);
        s.old_fingerprints
            .insert(Fingerprint::of("FAKE-old-token").to_string());
        s.add(outcomes);
        s
    }

    fn rotated(n: usize) -> Vec<Outcome> {
        (1..=n)
            .map(|i| Outcome::Rotated {
                uuid: format!("r{i}"),
                name: format!("Rule {i}"),
                places: 1,
            })
            .collect()
    }

    fn with(mut outcomes: Vec<Outcome>, more: Outcome) -> Vec<Outcome> {
        outcomes.push(more);
        outcomes
    }

    /// The closing part of the summary: from where the files are to the last line.
    fn advice(s: &RotationSummary) -> String {
        let text = render_rotation(s);
        let (_, rest) = text.split_once("\n\n").expect("counts, then the rest");
        format!("{} → exit {}", rest.trim_end(), exit_code(s))
    }

    fn exit_code(s: &RotationSummary) -> u8 {
        s.exit().err().map_or(0, |e| e.kind.exit_code())
    }

    #[test]
    fn an_earlier_old_token_still_in_a_rule_holds_the_advice_back_in_any_form() {
        let selector = Selector::new("svc@acme.example", vec![]);
        let (old, new) = (Token::new("FAKE-old-token"), Token::new("FAKE-new-token"));
        let copy = |uuid: &str, t: &Token| {
            let held = crate::plan::Unrewritable {
                identity: t.identity(),
                shown: t.keyed_fingerprint(),
                pointer: "/components/1/value/headers/0/value".into(),
            };
            (uuid.to_string(), format!("Rule {uuid}"), vec![held])
        };
        // Rule r1 was rotated; rule u holds the old token only where this run does not
        // rewrite it (and nothing else of the account, so it has no outcome of its own);
        // rule c holds the new token there, which is no reason to keep anything.
        let mut s = RotationSummary::new(&selector, &new, 3);
        let census = crate::apply::Census {
            seen: vec![copy("u", &old), copy("c", &new)],
            ..Default::default()
        };
        s.note_census(&census);
        s.note_earlier(vec![(old.identity(), old.fingerprint())]);
        s.add(rotated(1));
        assert!(!s.advice().revokes());
        let held: Vec<&str> = s.outcomes.iter().map(Outcome::uuid).collect();
        assert_eq!(held, ["r1", "u"]);
        assert_eq!(
            s.old_fingerprints,
            [old.fingerprint().to_string()].into(),
            "named as the old token to keep"
        );
    }

    #[test]
    fn rotated_all() {
        let mut s = summary(rotated(2));
        s.backup_dir = Some("/b/run".into());
        insta::assert_snapshot!(advice(&s), @r#"
            Backups (mode 0600, they hold the old tokens): /b/run
            Journal: /b/run/journal.jsonl
            Undo with: autorekey restore /b/run

            Next steps:
              1. Check the integrations: run or wait for each rotated rule and look at its audit log.
                 A token works on every site and product of svc@acme.example, and this run read only this site's automation rules of one product: check the other product's rules (`autorekey scan --product jira|confluence`), other sites and scripts too.
              2. Then revoke the old token (a3492be3fefa) at https://id.atlassian.com/manage-profile/security/api-tokens (signed in as svc@acme.example): every rule read here that held it now holds the new token, read back.
              3. Or, with an org admin API key: autorekey revoke --account svc@acme.example --token-id ID --keep 205c4033f9b9 (ID from `autorekey tokens --account svc@acme.example`)
            Keep the new token 205c4033f9b9; revoke the old a3492be3fefa. → exit 0
            "#);
    }

    #[test]
    fn masked_leftovers_as_rotate_and_apply_say_it() {
        let s = summary(with(
            rotated(2),
            Outcome::LeftAlone {
                uuid: "m1".into(),
                name: "Masked".into(),
                reason: "a hidden value came back masked as ***".into(),
            },
        ));
        insta::assert_snapshot!(advice(&s), @r#"
            Next steps:
              - Do NOT revoke the old token yet: 1 rule(s) listed above may still use it.
              - Rules left alone or to check: autorekey cannot rewrite them safely; edit them in the Automation UI as each line says.
              - Then `autorekey scan --account svc@acme.example` shows what still uses an old token.
            Keep the old a3492be3fefa and the new 205c4033f9b9; revoke nothing yet. → exit 3
            "#);
    }

    #[test]
    fn declined() {
        let s = summary(with(
            rotated(1),
            Outcome::Declined {
                uuid: "d1".into(),
                name: "Declined".into(),
            },
        ));
        insta::assert_snapshot!(advice(&s), @r#"
            Next steps:
              - Do NOT revoke the old token yet: 1 rule(s) listed above may still use it.
              - Rules that failed, were not attempted or that you declined: run the same command again when ready; a rerun does only what is left.
              - Then `autorekey scan --account svc@acme.example` shows what still uses an old token.
            Keep the old a3492be3fefa and the new 205c4033f9b9; revoke nothing yet. → exit 3
            "#);
    }

    #[test]
    fn failed() {
        let s = summary(with(
            rotated(1),
            Outcome::Failed {
                uuid: "f1".into(),
                name: "Failed".into(),
                reason: "the site refused the write".into(),
            },
        ));
        insta::assert_snapshot!(advice(&s), @r#"
            Next steps:
              - Do NOT revoke the old token yet: 1 rule(s) listed above may still use it.
              - Rules that failed, were not attempted or that you declined: run the same command again when ready; a rerun does only what is left.
              - Then `autorekey scan --account svc@acme.example` shows what still uses an old token.
            Keep the old a3492be3fefa and the new 205c4033f9b9; revoke nothing yet. → exit 3
            "#);
    }

    #[test]
    fn overwritten_after_the_run_needs_attention() {
        let s = summary(with(
            rotated(1),
            Outcome::Attention {
                uuid: "a1".into(),
                name: "Overwritten".into(),
                detail: "the final check found: it holds the old token again".into(),
            },
        ));
        insta::assert_snapshot!(advice(&s), @r#"
            Next steps:
              - Do NOT revoke the old token yet: 1 rule(s) listed above may still use it.
              - Rules left alone or to check: autorekey cannot rewrite them safely; edit them in the Automation UI as each line says.
              - Then `autorekey scan --account svc@acme.example` shows what still uses an old token.
            Keep the old a3492be3fefa and the new 205c4033f9b9; revoke nothing yet. → exit 3
            "#);
    }

    #[test]
    fn dry_run() {
        let mut s = summary(vec![]);
        s.dry_run = true;
        s.would_rotate = vec!["r1".into()];
        insta::assert_snapshot!(advice(&s), @r#"
            Dry run: nothing was written.

            Next steps:
              1. Review the diffs above; only the credential text changes.
              2. Run without --dry-run (or apply the plan) to write them.
              3. Do NOT revoke the old token: nothing was written, every rule still uses it.
            Keep the old a3492be3fefa and the new 205c4033f9b9; revoke nothing yet. → exit 0
            "#);
    }

    #[test]
    fn plan_saved() {
        let mut s = summary(vec![]);
        s.plan_saved = Some("plan.json".into());
        s.would_rotate = vec!["r1".into()];
        insta::assert_snapshot!(advice(&s), @r#"
            Plan saved to plan.json (no secrets). Nothing was written.
            Carry it out with: autorekey apply plan.json

            Next steps:
              1. Review the diffs above; only the credential text changes.
              2. Run without --dry-run (or apply the plan) to write them.
              3. Do NOT revoke the old token: nothing was written, every rule still uses it.
            Keep the old a3492be3fefa and the new 205c4033f9b9; revoke nothing yet. → exit 0
            "#);
    }

    #[test]
    fn offline_export() {
        let mut s = summary(rotated(1));
        s.offline = true;
        s.written_file = Some("rotated.json".into());
        insta::assert_snapshot!(advice(&s), @r#"
            Rotated export written to rotated.json (mode 0600: it holds tokens). It holds only the rotated rules; the input file is unchanged.
            Import it in the Automation UI (Import rules): imported rules arrive disabled. Enable them and disable or delete the old copies.

            Next steps:
              1. Import the rotated export, enable the imported rules, then disable or delete the old copies.
              2. Do NOT revoke the old token before that: the rules on the site still use it.
              3. Then `autorekey scan --account svc@acme.example` on the site shows what still uses it.
            Keep the old a3492be3fefa and the new 205c4033f9b9; revoke nothing yet. → exit 0
            "#);
    }

    #[test]
    fn not_inspectable_values_and_an_incomplete_list_keep_the_old_token() {
        let mut s = summary(rotated(1));
        s.not_inspectable = 1;
        insta::assert_snapshot!(advice(&s), @r#"
            Next steps:
              - Do NOT revoke the old token yet: 1 rule(s) send a credential autorekey cannot read (a managed secret or smart value); it may be the old token.
              - Check them: `autorekey scan` lists them under "Not inspectable".
            Keep the old a3492be3fefa and the new 205c4033f9b9; revoke nothing yet. → exit 3
            "#);
        let mut s = summary(rotated(1));
        s.list_complete = false;
        insta::assert_snapshot!(advice(&s), @r#"
            Next steps:
              - Do NOT revoke the old token yet: the site's rule list could not be confirmed complete (see the warning above), so a rule autorekey never saw may still use it.
              - Run the same command again (a rerun does only what is left), and compare the rule count in the Automation UI with the rules read.
            Keep the old a3492be3fefa and the new 205c4033f9b9; revoke nothing yet. → exit 3
            "#);
    }

    #[test]
    fn nothing_matched() {
        let s = summary(vec![]);
        insta::assert_snapshot!(advice(&s), @r#"
            Next steps:
              - No rule holds a credential of svc@acme.example that this run selects: there is nothing to revoke on autorekey's word.
            Keep the old a3492be3fefa and the new 205c4033f9b9; revoke nothing yet. → exit 2
            "#);
    }

    #[test]
    fn already_current_on_rerun() {
        let mut s = summary(vec![Outcome::AlreadyCurrent {
            uuid: "r1".into(),
            name: "Rule 1".into(),
        }]);
        s.old_fingerprints.clear();
        insta::assert_snapshot!(advice(&s), @r#"
            Next steps:
              Nothing left to do: every rule of svc@acme.example that autorekey can read already holds the new token.
              autorekey saw no old token, so it cannot name one to revoke: revoke only a token whose fingerprint differs from the new one, once every integration works.
            Keep the new token 205c4033f9b9; no old token of svc@acme.example is left in the rules to name. → exit 0
            "#);
    }

    #[test]
    fn restore() {
        let old = [Fingerprint::of("FAKE-old-token").to_string()].into();
        let new = Fingerprint::of("FAKE-new-token");
        let facts = verdict::Facts {
            mode: verdict::Mode::Restore,
            outcomes: &[],
            list_complete: true,
            not_inspectable: 0,
            old: &old,
            new: &new,
        };
        let text = verdict::render(&verdict::advise(&facts), &facts, "svc@acme.example");
        insta::assert_snapshot!(text, @r#"
            Next steps:
              - Do NOT revoke the old token: the restored rules use it again.
              - `autorekey scan --account svc@acme.example` shows which rules use which token.
            Keep the old a3492be3fefa (restored) and the new 205c4033f9b9; revoke nothing.
            "#);
    }
}
