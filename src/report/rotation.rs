//! The closing summary of `rotate`, `apply` and the offline rewrite, and every sentence
//! about a rule's [`Outcome`]: the progress lines, the summary's list, the journal's
//! details. Wording lives here only; the outcomes themselves are data
//! ([`crate::outcome`]), so a command decides nothing by comparing strings.
//!
//! Rendering is pure (a string out), so snapshots pin what people read; `--format json`
//! renders the same summary for scripts ([`render_rotation_json`]).

use std::collections::BTreeSet;
use std::fmt::Write as _;

use serde::Serialize;

use crate::outcome::{Attention, Drift, Failure, Kind, LeftAlone, Outcome, Stop};
use crate::plan::ownership::{Confirmed, Unconfirmed};
use crate::plan::{Census, RuleCopies, Selector};
use crate::printable::printable;
use crate::secret::{Fingerprint, Token};
use crate::verdict;

/// Everything the closing summary of `rotate`, `apply` and the offline rewrite says.
#[derive(Clone, Debug)]
pub struct RotationSummary {
    pub account: String,
    pub new_fingerprint: Fingerprint,
    pub old_fingerprints: BTreeSet<String>,
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
    pub tokens_in_rules: BTreeSet<Fingerprint>,
    /// Each rule's unrewritten literal tokens (see [`Census::seen`]).
    pub copies: Vec<RuleCopies>,
    /// Rules still holding an old token an earlier run of this rotation replaced, in a
    /// form this run does not rewrite: left alone, whatever else this run found there.
    pub held_back: Vec<Outcome>,
    /// The site refused the admin's login during the writes: the run stopped there, even
    /// when no rule was left to be "not attempted".
    pub login_refused: bool,
    /// The old tokens confirmed as the account's, and how.
    pub confirmed: Vec<Confirmed>,
    /// Old values of the account left alone because nothing confirmed them.
    pub unconfirmed: Vec<Unconfirmed>,
    /// How many sites and products the summary covers (more than one: a merged summary,
    /// see [`super::SitesSummary`]).
    pub targets: usize,
    /// The product a run of one site read, for the advice to name the other.
    pub product: Option<String>,
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
            login_refused: false,
            confirmed: Vec::new(),
            unconfirmed: Vec::new(),
            targets: 1,
            product: None,
        }
    }

    /// What the plan says beyond the outcomes: which old tokens the rewrites replace
    /// (one fingerprint per token, though a token sent outside Atlassian shows a keyed one
    /// there), and what the census of every rule read showed.
    pub fn note_plan(&mut self, plan: &crate::plan::Plan) {
        self.old_fingerprints.extend(plan.old_fingerprints());
        self.note_census(&plan.census);
    }

    fn note_census(&mut self, census: &Census) {
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
                let why = LeftAlone::OldTokenElsewhere { pointers };
                let held = Outcome::new(uuid, name, Kind::LeftAlone { why });
                self.held_back.push(held);
            }
        }
    }

    pub fn add(&mut self, outcomes: Vec<Outcome>) {
        self.outcomes.extend(outcomes);
        // A rule held back is counted as left alone, whether this run rotated it, found it
        // current or left it untouched; a rule reported otherwise keeps its first reason.
        for held in std::mem::take(&mut self.held_back) {
            match self.outcomes.iter_mut().find(|o| o.uuid() == held.uuid()) {
                Some(o) if o.is_done() => *o = held,
                Some(_) => {}
                None => self.outcomes.push(held),
            }
        }
        // Grouped by what happened (the order of the counts), then by rule name.
        self.outcomes
            .sort_by(|a, b| (a.kind.rank(), a.name()).cmp(&(b.kind.rank(), b.name())));
    }

    fn count(&self, pick: Pick) -> usize {
        self.outcomes.iter().filter(|o| pick(&o.kind)).count()
    }

    /// Rules stopped before their turn by Ctrl-C or a refused login (not by "quit").
    pub fn stopped(&self) -> usize {
        self.count(Kind::stopped)
    }

    /// Rules never tried, whatever stopped the run (a quit included): what the journal's
    /// end record counts, so `backups` calls a quit run interrupted too.
    pub fn not_attempted(&self) -> usize {
        self.count(|k| matches!(k, Kind::NotAttempted { .. }))
    }

    /// Nothing was written, by design: a dry run or a saved plan.
    pub fn wrote_nothing_by_design(&self) -> bool {
        self.dry_run || self.plan_saved.is_some()
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
            unconfirmed: self.unconfirmed.len(),
            offline: self.offline,
            targets: self.targets,
            product: self.product.as_deref(),
        }
    }

    pub fn advice(&self) -> verdict::Advice {
        verdict::advise(&self.facts())
    }
}

/// Why the rule has this outcome, in a sentence: the detail a summary line and the journal
/// give. `None` for outcomes that need no why (rotated, restored, declined, current).
pub fn reason(kind: &Kind) -> Option<String> {
    match kind {
        Kind::Rotated { .. } | Kind::Restored | Kind::Declined | Kind::AlreadyCurrent => None,
        Kind::Attention { why } => Some(attention(why)),
        Kind::LeftAlone { why } => Some(left_alone(why)),
        Kind::Failed { why } => Some(failure(why)),
        Kind::NotAttempted { why } => Some(stop(*why).into()),
    }
}

fn stop(why: Stop) -> &'static str {
    match why {
        Stop::Quit => "you quit",
        Stop::Interrupted => "interrupted",
        Stop::LoginRefused => {
            "stopped: the site refused the admin's login (401) mid-run; check the admin's \
             token, then run the same command again"
        }
    }
}

fn left_alone(why: &LeftAlone) -> String {
    let at = |pointers: &[String]| pointers.join(", ");
    match why {
        LeftAlone::MaskedValue { pointers, shown } => format!(
            "a hidden value {} (at {}); writing the rule back would overwrite the \
             hidden value with that. Edit this rule by hand in the Automation UI",
            shown.said(),
            at(pointers)
        ),
        LeftAlone::MayHoldMasked { pointers, shown } => format!(
            "a hidden value {} (at {}); it may be this account's old token, which \
             autorekey can neither read nor safely rewrite. Check it in the Automation UI",
            shown.said(),
            at(pointers)
        ),
        LeftAlone::OldTokenElsewhere { pointers } => format!(
            "the old token also appears in a form autorekey does not rewrite (at {}): \
             rewriting only the rest would leave the rule half rotated. Edit it by hand",
            at(pointers)
        ),
        LeftAlone::AlreadyCurrent => "already uses the new token".into(),
        LeftAlone::NotInPlan { account } => format!(
            "holds an old token of {account} but is not in the plan (added or edited since): \
             rotate it with `autorekey rotate`, or make a new plan"
        ),
        LeftAlone::EditedSincePlan => {
            "no longer holds the planned credential (edited since the plan)".into()
        }
        LeftAlone::ChangedSincePlan { missing, extra } => {
            let mut why = Vec::new();
            if !missing.is_empty() {
                why.push(format!(
                    "the planned old token is no longer at {}",
                    at(missing)
                ));
            }
            if !extra.is_empty() {
                why.push(format!(
                    "it now also holds the old token at {}, which the plan does not list \
                     (rewriting only the planned places would leave it half rotated)",
                    at(extra)
                ));
            }
            format!(
                "changed since the plan: {}; make a new plan with `autorekey rotate --out`",
                why.join("; ")
            )
        }
        LeftAlone::CredentialGone => {
            "changed since it was read, and no longer holds the credential".into()
        }
        LeftAlone::Unconfirmed { fingerprints } => format!(
            "holds a value of the account ({}) that nothing confirmed as its token: it may \
             have been planted, so it gets nothing (see \"Not confirmed\" below)",
            fingerprints.join(", ")
        ),
    }
}

fn attention(why: &Attention) -> String {
    match why {
        Attention::ReadBackFailed { error } => {
            format!("written, but it could not be read back to check: {error}")
        }
        Attention::MaskedOnRead => "written, but the site masks the new value as *** on read, \
                                    so it could not be checked: look at the rule in the \
                                    Automation UI"
            .into(),
        Attention::AlsoChanged { pointers } => format!(
            "the new credential is in place, but the server also changed: {} (compare with \
             the backup)",
            pointers.join(", ")
        ),
        Attention::FinalCheck { drift } => format!(
            "rotated and read back, but the final check at the end of the run found: {} \
             (another writer may have saved an older copy over it); look at the rule, then \
             run the same command again",
            self::drift(drift)
        ),
    }
}

fn drift(found: &Drift) -> String {
    match found {
        Drift::OldTokenAt { pointers } => {
            format!("it holds an old token again at {}", pointers.join(", "))
        }
        Drift::OldToken => "it holds the old token again".into(),
        Drift::NewTokenGone => "the new credential is no longer in it".into(),
        Drift::LeftAlone { why } => left_alone(why),
        Drift::Unreadable { error } => {
            format!("it could not be read for the final check: {error}")
        }
    }
}

fn failure(why: &Failure) -> String {
    match why {
        Failure::Unreadable { error } => format!("could not read it: {error}"),
        Failure::CannotRewrite { error } => format!("cannot rewrite: {error}"),
        Failure::IdHoldsCredential => {
            "its id holds a credential; rotate it by hand in the Automation UI".into()
        }
        Failure::ReReadFailed { error } => {
            format!("could not re-read it before writing: {error}")
        }
        Failure::BackupFailed { error } => {
            format!("not written: could not save a backup of it first: {error}")
        }
        Failure::JournalFailed { error } => {
            format!("not written: could not write the journal: {error}")
        }
        Failure::Refused { error } => format!("the site refused the write: {error}"),
        Failure::NeverLanded => {
            "the write failed or its answer was lost repeatedly, and it never landed".into()
        }
        Failure::LostUnreadable { error } => {
            format!("the write's answer was lost and the rule could not be read back: {error}")
        }
        Failure::LostChanged => "the write's answer was lost and the rule now differs from \
                                 both the old and the new version (edited by someone else?); \
                                 not retried"
            .into(),
        Failure::NotInReadBack { pointers } => format!(
            "written, but the read-back does not hold what was written at {}",
            pointers.join(", ")
        ),
        Failure::NoLongerListed => "it is no longer listed on the site (deleted?)".into(),
        Failure::Gone => "it no longer exists on the site; recreate it by hand from its file \
                          in the backup's rules/ folder"
            .into(),
        Failure::BackupMismatch => {
            "the backup file holds another rule (or none); not restored".into()
        }
        Failure::BackupMasked => {
            "the backup holds a masked *** value; writing it would destroy the hidden value".into()
        }
        Failure::BackupUntrusted { file, error } => format!("{file} cannot be trusted: {error}"),
        Failure::Unrecorded { kind, error } => format!(
            "{}; and the journal could not be written: {error}",
            match reason(kind) {
                Some(why) => format!("{}: {why}", kind.as_str()),
                None => kind.as_str().to_string(),
            }
        ),
    }
}

/// One line per rule as it is written, for the progress of an interactive run. One line
/// whatever it quotes: names, ids, reasons and read-back pointers may come from a rule or
/// a server, and a line break in them must not start a line that fakes the summary.
pub fn outcome_line(o: &Outcome) -> String {
    let name = &o.name;
    let why = reason(&o.kind).unwrap_or_default();
    let line = match &o.kind {
        Kind::Rotated { places } => {
            let places = crate::words::count(*places, "place", "places");
            format!("Rotated \"{name}\" ({places})")
        }
        Kind::Restored => format!("Restored \"{name}\""),
        Kind::Attention { .. } => format!("Needs attention \"{name}\": {why}"),
        Kind::LeftAlone { .. } => format!("Left alone \"{name}\": {why}"),
        Kind::Failed { .. } => format!("Failed \"{name}\": {why}"),
        Kind::Declined => format!("Skipped \"{name}\" (you said no)"),
        Kind::AlreadyCurrent => format!("\"{name}\" already uses the new token"),
        Kind::NotAttempted { .. } => format!("Not attempted \"{name}\": {why}"),
    };
    printable(&line).into_owned()
}

/// ` (id)` after a rule's name, or nothing for a rule without an id (a rule of an export
/// may have none), so a line never ends in an empty `()`.
pub fn id_note(uuid: &str) -> String {
    match uuid {
        "" => String::new(),
        id => format!(" ({id})"),
    }
}

/// Selects the outcomes one summary row counts.
type Pick = fn(&Kind) -> bool;

/// The rows of the summary's counts, in order.
const COUNTS: [(&str, Pick); 7] = [
    ("rotated", |k| matches!(k, Kind::Rotated { .. })),
    ("already current", |k| matches!(k, Kind::AlreadyCurrent)),
    ("needs attention", |k| matches!(k, Kind::Attention { .. })),
    ("left alone", |k| matches!(k, Kind::LeftAlone { .. })),
    ("failed", |k| matches!(k, Kind::Failed { .. })),
    ("declined", |k| matches!(k, Kind::Declined)),
    ("not attempted", |k| matches!(k, Kind::NotAttempted { .. })),
];

/// The summary's counts that are not zero, labelled, in order.
pub(super) fn counted(s: &RotationSummary) -> Vec<(&'static str, usize)> {
    COUNTS
        .iter()
        .map(|(label, pick)| (*label, s.count(*pick)))
        .filter(|(_, n)| *n > 0)
        .collect()
}

/// The closing summary: counts, every rule that needs a person with why, where the backups
/// are, and what to do next (and whether the old token may be revoked yet).
pub fn render_rotation(s: &RotationSummary) -> String {
    let mut out = String::new();
    let olds: Vec<&str> = s.old_fingerprints.iter().map(String::as_str).collect();
    let _ = writeln!(
        out,
        "Summary for {} (old {} → new {}); {} read:",
        s.account,
        if olds.is_empty() {
            "none left".into()
        } else {
            olds.join(", ")
        },
        s.new_fingerprint,
        crate::words::count(s.rules_read, "rule", "rules")
    );
    if !s.would_rotate.is_empty() || s.wrote_nothing_by_design() {
        let _ = writeln!(out, "  {:<16} {}", "to rotate", s.would_rotate.len());
    }
    for (label, n) in counted(s) {
        let _ = writeln!(out, "  {label:<16} {n}");
    }
    for o in s.outcomes.iter().filter(|o| !o.is_done()) {
        let _ = writeln!(
            out,
            "  - {}{}",
            outcome_line(o),
            printable(&id_note(o.uuid()))
        );
    }
    out.push('\n');
    render_ownership(s, &mut out);
    render_where(s, &mut out);
    render_next_steps(s, &mut out);
    out
}

/// Which old tokens were confirmed as the account's and how, and each value that was not,
/// with what a person needs to judge it and the flag that would confirm it.
fn render_ownership(s: &RotationSummary, out: &mut String) {
    for c in &s.confirmed {
        let _ = writeln!(
            out,
            "Old token {} confirmed as {}'s: {}.",
            c.fingerprint,
            s.account,
            c.evidence.describe()
        );
    }
    if s.unconfirmed.is_empty() {
        if !s.confirmed.is_empty() {
            out.push('\n');
        }
        return;
    }
    let _ = writeln!(
        out,
        "Not confirmed as {}'s token (left alone; each may be planted by a rule editor):",
        s.account
    );
    for u in &s.unconfirmed {
        let rules: Vec<String> = u
            .rules
            .iter()
            .map(|r| format!("\"{}\"{}", printable(&r.name), printable(&id_note(&r.uuid))))
            .collect();
        let joined = |set: &BTreeSet<String>| {
            set.iter()
                .map(|t| printable(t).into_owned())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let _ = writeln!(out, "  {} · {}", s.account, u.fingerprint);
        let _ = writeln!(out, "    rules:    {}", rules.join(", "));
        let _ = writeln!(out, "    sends to: {}", joined(&u.destinations));
        if !u.authors.is_empty() {
            let _ = writeln!(out, "    authors:  {}", joined(&u.authors));
        }
        let _ = writeln!(out, "    login:    {}", u.login.describe());
        if u.declined {
            let _ = writeln!(out, "    you said it is not the account's token");
        }
        let _ = writeln!(
            out,
            "    if it is {}'s token: rerun with {} (or give it with --old-token-file)",
            s.account,
            u.confirm_with()
        );
    }
    out.push('\n');
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

/// The summary for scripts (`--format json`): the same facts as the text, each outcome with
/// its kind and reason as data and the sentence a person reads, and the verdict.
#[derive(Serialize)]
struct RotationJson<'a> {
    account: &'a str,
    new_fingerprint: &'a Fingerprint,
    old_fingerprints: &'a BTreeSet<String>,
    rules_read: usize,
    mode: &'static str,
    list_complete: bool,
    not_inspectable: usize,
    counts: std::collections::BTreeMap<&'static str, usize>,
    would_rotate: &'a [String],
    outcomes: Vec<OutcomeJson<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    plan_saved: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    written_file: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    backup_dir: Option<&'a str>,
    confirmed: &'a [Confirmed],
    unconfirmed: &'a [Unconfirmed],
    verdict: VerdictJson,
}

#[derive(Serialize)]
struct OutcomeJson<'a> {
    #[serde(flatten)]
    outcome: &'a Outcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<String>,
}

#[derive(Serialize)]
struct VerdictJson {
    advice: &'static str,
    revoke: bool,
    /// Fingerprints safe to revoke (empty unless `revoke`).
    revoke_fingerprints: Vec<String>,
    keep_fingerprints: Vec<String>,
}

/// [`render_rotation`] as JSON, made terminal-safe like every JSON output.
pub fn render_rotation_json(s: &RotationSummary) -> String {
    crate::printable::json_document(&rotation_value(s))
}

/// The JSON summary as a value (a run of several sites nests one per target).
pub(super) fn rotation_value(s: &RotationSummary) -> serde_json::Value {
    let facts = s.facts();
    let advice = verdict::advise(&facts);
    let revoke_fingerprints = match &advice {
        verdict::Advice::Revoke { old } => old.clone(),
        _ => Vec::new(),
    };
    let mut keep_fingerprints = vec![s.new_fingerprint.to_string()];
    keep_fingerprints.extend(
        s.old_fingerprints
            .iter()
            .filter(|fp| !revoke_fingerprints.contains(fp) && **fp != s.new_fingerprint.as_str())
            .cloned(),
    );
    let json = RotationJson {
        account: &s.account,
        new_fingerprint: &s.new_fingerprint,
        old_fingerprints: &s.old_fingerprints,
        rules_read: s.rules_read,
        mode: facts.mode.as_str(),
        list_complete: s.list_complete,
        not_inspectable: s.not_inspectable,
        counts: counts(&s.outcomes),
        would_rotate: &s.would_rotate,
        outcomes: s.outcomes.iter().map(OutcomeJson::of).collect(),
        plan_saved: s.plan_saved.as_deref(),
        written_file: s.written_file.as_deref(),
        backup_dir: s.backup_dir.as_deref(),
        confirmed: &s.confirmed,
        unconfirmed: &s.unconfirmed,
        verdict: VerdictJson {
            advice: advice.as_str(),
            revoke: advice.revokes(),
            revoke_fingerprints,
            keep_fingerprints,
        },
    };
    serde_json::to_value(&json).unwrap_or_default()
}

/// What `restore --format json` reports.
pub struct RestoreSummary<'a> {
    pub account: &'a str,
    pub outcomes: &'a [Outcome],
    /// Where the versions the restore replaced were saved (none when it replaced none).
    pub safety_backup_dir: Option<&'a str>,
    /// The old tokens the restored rules use again.
    pub old: &'a BTreeSet<String>,
    pub new: &'a Fingerprint,
}

/// The closing summary of `restore --format json`: each rule's outcome, where the replaced
/// versions went, and the verdict (the restored rules use the old tokens again: keep them
/// all).
pub fn render_restore_json(s: &RestoreSummary<'_>, advice: &verdict::Advice) -> String {
    #[derive(Serialize)]
    struct RestoreJson<'a> {
        account: &'a str,
        counts: std::collections::BTreeMap<&'static str, usize>,
        outcomes: Vec<OutcomeJson<'a>>,
        #[serde(skip_serializing_if = "Option::is_none")]
        safety_backup_dir: Option<&'a str>,
        verdict: VerdictJson,
    }
    let mut keep_fingerprints: Vec<String> = s.old.iter().cloned().collect();
    keep_fingerprints.push(s.new.to_string());
    let json = RestoreJson {
        account: s.account,
        counts: counts(s.outcomes),
        outcomes: s.outcomes.iter().map(OutcomeJson::of).collect(),
        safety_backup_dir: s.safety_backup_dir,
        verdict: VerdictJson {
            advice: advice.as_str(),
            revoke: advice.revokes(),
            revoke_fingerprints: Vec::new(),
            keep_fingerprints,
        },
    };
    crate::printable::json_document(&json)
}

/// How many outcomes of each kind, keyed as JSON names the kinds.
fn counts(outcomes: &[Outcome]) -> std::collections::BTreeMap<&'static str, usize> {
    let mut counts = std::collections::BTreeMap::new();
    for o in outcomes {
        *counts.entry(o.kind.as_str()).or_default() += 1;
    }
    counts
}

impl<'a> OutcomeJson<'a> {
    fn of(outcome: &'a Outcome) -> Self {
        OutcomeJson {
            outcome,
            detail: reason(&outcome.kind),
        }
    }
}
