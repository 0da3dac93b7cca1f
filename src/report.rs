//! Report: what `scan` found (the inventory, in `report/inventory.rs`: a table for people,
//! JSON for scripts and CSV for spreadsheets), and the closing summary of a rotation (below).
//!
//! The two halves share nothing but the name: the inventory renders rows that are safe to
//! print; the rotation summary turns a run's outcomes into counts, where the backups are and
//! whether the old token may be revoked yet. Each is read and changed alone, in its own file.

use std::fmt::Write as _;

use crate::apply::{Outcome, Prepared};
use crate::error::CommandError;
use crate::plan::Selector;
use crate::printable::printable;
use crate::secret::{Fingerprint, Token};
use crate::verdict;

mod inventory;
pub use inventory::{
    render_csv, render_json, render_table, CredentialSummary, Inventory, Row, RuleError,
    SkippedFile, Summary, Verification,
};

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
