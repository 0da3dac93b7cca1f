//! The verdict: may the old token be revoked? Decided here, once, for every command.
//!
//! "The old token may be revoked" is the one sentence an admin acts on, and acting on it
//! wrongly breaks every integration still using that token. So `rotate`, `apply`, the
//! offline export rotation and `restore` do not each decide it: they describe what happened
//! ([`Facts`]) and [`advise`] turns that into an [`Advice`], a pure function that the tests
//! pin case by case. The advice is given only when every rule that held an old token now
//! holds the new one (written and read back), over a complete list of rules, with nothing
//! declined, left alone, failed, unchecked or hidden from view; anything else keeps the old
//! token, and says why.

use std::collections::BTreeSet;

use crate::outcome::{Kind, Outcome};
use crate::plan::Census;
use crate::plan::Selector;
use crate::secret::{Fingerprint, Token};

/// What kind of run ends with this verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Rules were written on the site (`rotate`, `apply`).
    Written,
    /// `rotate --dry-run`: nothing written.
    DryRun,
    /// `rotate --out PLAN`: nothing written yet.
    PlanSaved,
    /// `rotate --from-file --write`: a rotated export, not imported yet.
    OfflineExport,
    /// `restore`: rules put back as they were, old token included.
    Restore,
}

/// Everything the verdict depends on.
#[derive(Clone, Debug)]
pub struct Facts<'a> {
    pub mode: Mode,
    pub outcomes: &'a [Outcome],
    /// Whether the list of rules the run worked from is known to be complete; a rule the
    /// listing skipped may hold the old token.
    pub list_complete: bool,
    /// Rules holding a credential autorekey cannot read or attribute (a managed secret or
    /// smart value used as Basic auth or sent to Atlassian, or a Basic value that names no
    /// account: [`crate::detect::Finding::unattributable_basic_to_atlassian`]): any of them
    /// may be the old token.
    pub not_inspectable: usize,
    /// Fingerprints of the old tokens the run (or an earlier run of the same rotation)
    /// replaced, or would replace, one per token; one still held by a rule when the run
    /// read them comes with that rule left alone (so never with a revoke).
    pub old: &'a BTreeSet<String>,
    pub new: &'a Fingerprint,
    /// Old values of the account that nothing confirmed as its token (left alone): one may
    /// be a real token still in use (an expired one, one whose login was not tried).
    pub unconfirmed: usize,
    /// The rules came from an export file (`rotate --from-file`), not a site: the next
    /// steps name the file's way of writing.
    pub offline: bool,
    /// How many sites and products the run read (1 for a run of one site's one product):
    /// the advice to revoke says what was covered.
    pub targets: usize,
    /// The product a run of one site read (`jira`, `confluence`), when known: the advice
    /// to revoke names the other one to check.
    pub product: Option<&'a str>,
}

impl<'a> Facts<'a> {
    /// A restore: the restored rules use the `old` tokens again; nothing else weighs.
    pub fn restore(old: &'a BTreeSet<String>, new: &'a Fingerprint) -> Self {
        Facts {
            mode: Mode::Restore,
            outcomes: &[],
            list_complete: true,
            not_inspectable: 0,
            old,
            new,
            unconfirmed: 0,
            offline: false,
            targets: 1,
            product: None,
        }
    }
}

/// What to tell the admin about the old token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Advice {
    /// Every rule that held the old tokens `old` now holds the new one, read back.
    Revoke { old: Vec<String> },
    /// Every rule of the account already holds the new token and no old token is known
    /// (a rerun after a finished rotation): no token can be named for revoking.
    NoOldTokenFound,
    /// Nothing was written (dry run, saved plan): keep the old token.
    NotWritten,
    /// The rotated rules are in an export file, not on the site yet.
    NotImported,
    /// `rules` rules may still use an old token (left alone, failed, declined, not
    /// attempted, needing a check).
    StillInUse { rules: usize },
    /// Rules autorekey cannot read may hold the old token.
    NotInspectable { rules: usize },
    /// `tokens` old values of the account were not confirmed as its token and were left
    /// alone: revoke nothing until each is confirmed (and rotated) or removed.
    Unconfirmed { tokens: usize },
    /// The rule list may have missed rules.
    ListIncomplete,
    /// A restore put old tokens back into rules.
    Restored,
    /// No rule holds a credential of the account that the run selects.
    NothingMatched,
}

impl Advice {
    /// Whether the advice is to revoke.
    pub fn revokes(&self) -> bool {
        matches!(self, Advice::Revoke { .. })
    }

    /// The advice's name, as `--format json` says it.
    pub fn as_str(&self) -> &'static str {
        match self {
            Advice::Revoke { .. } => "revoke",
            Advice::NoOldTokenFound => "no_old_token_found",
            Advice::NotWritten => "not_written",
            Advice::NotImported => "not_imported",
            Advice::StillInUse { .. } => "still_in_use",
            Advice::NotInspectable { .. } => "not_inspectable",
            Advice::Unconfirmed { .. } => "unconfirmed",
            Advice::ListIncomplete => "list_incomplete",
            Advice::Restored => "restored",
            Advice::NothingMatched => "nothing_matched",
        }
    }
}

impl Mode {
    /// The mode's name, as `--format json` says it.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Written => "written",
            Mode::DryRun => "dry_run",
            Mode::PlanSaved => "plan_saved",
            Mode::OfflineExport => "offline_export",
            Mode::Restore => "restore",
        }
    }
}

/// Why a run is refused before anything is written (the caller makes it a usage error:
/// exit 2): what is wrong, and what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub message: String,
    pub hints: Vec<String>,
}

impl Refusal {
    fn new(message: String) -> Self {
        Refusal {
            message,
            hints: Vec::new(),
        }
    }

    fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hints.push(hint.into());
        self
    }
}

/// Rules that may still hold an old token: anything not rotated or already current,
/// including the ones the admin declined (revoking the token would break them).
pub fn still_in_use(outcomes: &[Outcome]) -> usize {
    outcomes.iter().filter(|o| !o.is_done()).count()
}

/// The one verdict. The order is the order of precedence: a reason to keep the old token
/// always wins over a reason to revoke it.
pub fn advise(f: &Facts<'_>) -> Advice {
    match f.mode {
        Mode::Restore => return Advice::Restored,
        Mode::DryRun | Mode::PlanSaved => return Advice::NotWritten,
        Mode::Written | Mode::OfflineExport => {}
    }
    if f.unconfirmed > 0 {
        return Advice::Unconfirmed {
            tokens: f.unconfirmed,
        };
    }
    let left = still_in_use(f.outcomes);
    if left > 0 {
        return Advice::StillInUse { rules: left };
    }
    if !f.list_complete {
        return Advice::ListIncomplete;
    }
    if f.not_inspectable > 0 {
        return Advice::NotInspectable {
            rules: f.not_inspectable,
        };
    }
    if f.outcomes.is_empty() {
        return Advice::NothingMatched;
    }
    if f.mode == Mode::OfflineExport {
        return Advice::NotImported;
    }
    // Every rule is rotated or already current here. The old tokens are the ones this run,
    // or an earlier run of the same rotation, replaced; the new token is never named for
    // revoking, even if a caller listed it as old.
    let old = f
        .old
        .iter()
        .filter(|fp| fp.as_str() != f.new.as_str())
        .cloned()
        .collect::<Vec<_>>();
    if old.is_empty() {
        return Advice::NoOldTokenFound;
    }
    Advice::Revoke { old }
}

/// Before anything is written: does the run select a credential, and is the "new" token
/// really new? `census` covers every rule read; `rotation_known` says an earlier autorekey
/// run of this rotation (same site, account and new token) exists, so the new token in the
/// rules was put there by it. Refuses (exit 2) when `--account` has no credential in any
/// rule, when `--fingerprint` matches none of its tokens, or when the "new" token is one
/// already in the rules next to no other token of the account and no run of this rotation
/// wrote it (revoking "the old token" would then break them all; see [`check_new_in_use`],
/// which asks again once the old tokens are confirmed).
pub fn check_selection(
    census: &Census,
    selector: &Selector,
    new_token: &Token,
    rotation_known: bool,
) -> Result<(), Refusal> {
    let account = &selector.account;
    let nothing = "nothing was written";
    let new = &new_token.fingerprint();
    if !selector.fingerprints.is_empty() && selector.selects(new) {
        return Err(Refusal::new(format!(
            "--fingerprint selects the new token itself ({new}); {nothing}"
        ))
        .hint("pass the fingerprint of the OLD token to replace (`autorekey scan` shows it)"));
    }
    // By identity: a rule may show the new token keyed (sent outside Atlassian).
    let tokens = &census.account_tokens;
    let new_id = new_token.identity();
    // A migration already done: the rules hold the new token under the account it went to.
    let migrated = census.new_owner_tokens.contains(&new_id);
    if tokens.is_empty() && !migrated {
        let mut err = Refusal::new(format!(
            "no rule holds a credential of {account} that autorekey can read; {nothing}"
        ));
        let others: Vec<&str> = census.users.iter().map(String::as_str).take(10).collect();
        err = err.hint(if others.is_empty() {
            "no rule holds a readable Basic credential at all; `autorekey scan` shows what there is"
                .to_string()
        } else {
            format!(
                "check the spelling of --account; the rules hold credentials of: {}",
                others.join(", ")
            )
        });
        let hidden = census.not_inspectable + census.masked;
        if hidden > 0 {
            err = err.hint(format!(
                "{} a value autorekey cannot read (masked, a managed secret, a smart value, or a Basic value that names no account) that may be it: check them in the Automation UI",
                crate::words::count(hidden, "rule holds", "rules hold")
            ));
        }
        return Err(err);
    }
    let old = tokens
        .iter()
        .filter(|(id, t)| **id != new_id && t.forms.iter().any(|fp| selector.selects(fp)))
        .count();
    let holds_new = tokens.get(&new_id).map_or(0, |t| t.rules);
    if old == 0 && holds_new == 0 && !migrated {
        return Err(Refusal::new(format!(
            "no credential of {account} has the fingerprint {}; {nothing}",
            selector.fingerprints.join(", ")
        ))
        .hint(format!("the tokens of {account} in the rules: {}; pass one of them, or leave --fingerprint out", listed(census))));
    }
    // Only a token that may be the account's can make the rules a partial rotation; whether
    // it is, [`check_new_in_use`] asks again once the old tokens are confirmed.
    check_new_in_use(census, selector, new_token, rotation_known, old)
}

/// Is the "new" token one already in use? Asked twice: by [`check_selection`] with the
/// selected old tokens (`old`), and by the caller again once they are confirmed (`old` then
/// counts the confirmed ones). The site is the truth: rules that hold the (logged-in) new
/// token next to a confirmed old token of the account are a rotation under way, whoever
/// wrote them, and a rerun finishes it. The case refused is the admin giving the OLD token
/// as the new one: then it is in the rules and no other token of the account is (or none is
/// confirmed as its own), unless a run of this rotation is known to have written it
/// (`rotation_known`).
pub fn check_new_in_use(
    census: &Census,
    selector: &Selector,
    new_token: &Token,
    rotation_known: bool,
    old: usize,
) -> Result<(), Refusal> {
    let account = &selector.account;
    let new = new_token.fingerprint();
    let holds_new = census
        .account_tokens
        .get(&new_token.identity())
        .map_or(0, |t| t.rules);
    if holds_new == 0 || !selector.fingerprints.is_empty() || rotation_known || old > 0 {
        return Ok(());
    }
    Err(Refusal::new(format!(
        "the new token ({new}) is already in {} of {account}, and no other token \
         of {account} in the rules is confirmed as its own: it looks like the token in use (the \
         old one?), not a newly issued one; nothing was written",
        crate::words::count(holds_new, "rule", "rules")
    ))
    .hint(format!(
        "give the newly issued token; if the rotation already finished (here or on another \
         machine), there is nothing left to do: `autorekey scan --account {account}` shows \
         which rules hold which token (the tokens in the rules: {})",
        listed(census)
    )))
}

/// The account's tokens in the rules, each with its rule count.
fn listed(census: &Census) -> String {
    census
        .account_tokens
        .values()
        .filter_map(|t| {
            let rules = crate::words::count(t.rules, "rule", "rules");
            Some(format!("{} ({rules})", t.shown()?))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Where an admin revokes an API token.
const REVOKE_AT: &str = "https://id.atlassian.com/manage-profile/security/api-tokens";

/// The "Next steps" block for `advice`: what to do, and always which fingerprint to keep
/// and which (if any) to revoke.
pub fn render(advice: &Advice, f: &Facts<'_>, account: &str) -> String {
    render_with(advice, f, account, None)
}

/// [`render`] with one more step (another way to do what the advice says) after the others.
pub fn render_with(advice: &Advice, f: &Facts<'_>, account: &str, extra: Option<&str>) -> String {
    let old: Vec<&str> = f
        .old
        .iter()
        .map(String::as_str)
        .filter(|fp| *fp != f.new.as_str())
        .collect();
    let mut lines: Vec<String> = vec!["Next steps:".into()];
    lines.extend(steps(advice, f, account));
    lines.extend(extra.map(str::to_string));
    lines.push(tokens_line(advice, &old, f.new, account));
    let mut out = lines.join("\n");
    out.push('\n');
    out
}

/// The steps for `advice`, a line each; [`tokens_line`] follows them.
fn steps(advice: &Advice, f: &Facts<'_>, account: &str) -> Vec<String> {
    match advice {
        Advice::Revoke { old } => revoke_steps(old, f, account),
        Advice::NoOldTokenFound => vec![
            format!("  Nothing left to do: every rule of {account} that autorekey can read already holds the new token."),
            "  autorekey saw no old token, so it cannot name one to revoke: revoke only a token \
             whose fingerprint differs from the new one, once every integration works."
                .into(),
        ],
        Advice::NotWritten => not_written_steps(f),
        Advice::NotImported => vec![
            "  1. Import the rotated export, enable the imported rules, then disable or delete the old copies.".into(),
            "  2. Do NOT revoke the old token before that: the rules on the site still use it.".into(),
            format!("  3. Then `autorekey scan --account {account}` on the site shows what still uses it."),
        ],
        Advice::StillInUse { rules } => still_in_use_steps(*rules, f.outcomes, account),
        Advice::NotInspectable { rules } => vec![
            format!(
                "  - Do NOT revoke the old token yet: {} a credential autorekey \
                 cannot read (a managed secret, a smart value, or a Basic value that names no \
                 account); it may be the old token.",
                crate::words::count(*rules, "rule sends", "rules send")
            ),
            "  - Check them: `autorekey scan` lists them under \"Not inspectable\", or as a \
             Basic credential without an email."
                .into(),
        ],
        Advice::Unconfirmed { tokens } => vec![
            format!(
                "  - Revoke nothing yet: {} of {account} in the rules {were} not confirmed as \
                 its token and {were} left alone (listed under \"Not confirmed\").",
                crate::words::count(*tokens, "value", "values"),
                were = if *tokens == 1 { "was" } else { "were" }
            ),
            "  - If one is a token of the account (say, an expired one), rerun with the \
             --fingerprint it lists, or give it with --old-token-file; if it is not (planted \
             or junk), remove it from the rule in the Automation UI. Then run again."
                .into(),
        ],
        Advice::ListIncomplete => vec![
            "  - Do NOT revoke the old token yet: the site's rule list could not be confirmed \
             complete (see the warning above), so a rule autorekey never saw may still use it."
                .into(),
            "  - Run the same command again (a rerun does only what is left), and compare the \
             rule count in the Automation UI with the rules read."
                .into(),
        ],
        Advice::Restored => vec![
            "  - Do NOT revoke the old token: the restored rules use it again.".into(),
            format!("  - `autorekey scan --account {account}` shows which rules use which token."),
        ],
        Advice::NothingMatched => vec![format!(
            "  - No rule holds a credential of {account} that this run selects: there is \
             nothing to revoke on autorekey's word."
        )],
    }
}

/// Check, then revoke: a token works on every site and product of the account, and the run
/// read `f.targets` of them, so the others are named for checking first.
fn revoke_steps(old: &[String], f: &Facts<'_>, account: &str) -> Vec<String> {
    let other = match f.product {
        Some("jira") => "confluence",
        Some("confluence") => "jira",
        _ => "jira|confluence",
    };
    vec![
        "  1. Check the integrations: run or wait for each rotated rule and look at its audit log."
            .into(),
        match f.targets {
            0 | 1 => format!(
                "     A token works on every site and product of {account}, and this run read \
                 only this site's automation rules of one product: check the other product's \
                 rules (`autorekey scan --product {other}`), other sites and scripts too."
            ),
            n => format!(
                "     A token works on every site and product of {account}, and this run read \
                 the automation rules of the {n} sites and products listed above: check any \
                 other site or product and scripts too."
            ),
        },
        format!(
            "  2. Then revoke the old token ({}) at {REVOKE_AT} (signed in as {account}): \
             every rule read here that held it now holds the new token, read back.",
            old.join(", ")
        ),
    ]
}

/// A run that wrote nothing: how to write what it showed follows its mode.
fn not_written_steps(f: &Facts<'_>) -> Vec<String> {
    vec![
        "  1. Review the diffs above; only the credential text changes.".into(),
        match f.mode {
            _ if f.offline => "  2. Run the same command without --dry-run to write the rotated export.",
            Mode::PlanSaved => "  2. Carry the plan out with `autorekey apply` (the command above) to write them.",
            // A saved plan covers one site and product.
            _ if f.targets > 1 => "  2. Run the same command without --dry-run to write them on every site and product listed.",
            _ => "  2. Run the same command without --dry-run to write them (or with --out PLAN to save them for `autorekey apply`).",
        }
        .into(),
        "  3. Do NOT revoke the old token: nothing was written, every rule still uses it.".into(),
    ]
}

/// What to do about each kind of rule that may still use the old token.
fn still_in_use_steps(rules: usize, outcomes: &[Outcome], account: &str) -> Vec<String> {
    let any = |pick: fn(&Kind) -> bool| outcomes.iter().any(|o| pick(&o.kind));
    let mut out = vec![format!(
        "  - Do NOT revoke the old token yet: {} listed above may still use it.",
        crate::words::count(rules, "rule", "rules")
    )];
    if any(|k| matches!(k, Kind::LeftAlone { .. } | Kind::Attention { .. })) {
        out.push("  - Rules left alone or to check: autorekey cannot rewrite them safely; edit them in the Automation UI as each line says.".into());
    }
    if any(|k| {
        matches!(
            k,
            Kind::Failed { .. } | Kind::NotAttempted { .. } | Kind::Declined
        )
    }) {
        out.push("  - Rules that failed, were not attempted or that you declined: run the same command again when ready; a rerun does only what is left.".into());
    }
    out.push(format!(
        "  - Then `autorekey scan --account {account}` shows what still uses an old token."
    ));
    out
}

/// Which fingerprint to keep and which to revoke, named every time.
fn tokens_line(advice: &Advice, old: &[&str], new: &Fingerprint, account: &str) -> String {
    let old = old.join(", ");
    match advice {
        Advice::Revoke { old } => {
            format!(
                "Keep the new token {new}; revoke the old {}.",
                old.join(", ")
            )
        }
        Advice::NoOldTokenFound => format!(
            "Keep the new token {new}; no old token of {account} is left in the rules to name."
        ),
        Advice::Restored if old.is_empty() => {
            format!(
                "Keep every token the restored rules use; {new} (the rotation's new token) too."
            )
        }
        Advice::Restored => {
            format!("Keep the old {old} (restored) and the new {new}; revoke nothing.")
        }
        _ if old.is_empty() => format!("Keep the new token {new}; revoke nothing yet."),
        _ => format!("Keep the old {old} and the new {new}; revoke nothing yet."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rotated(uuid: &str) -> Outcome {
        Outcome::new(uuid, uuid, Kind::Rotated { places: 1 })
    }

    fn facts<'a>(
        mode: Mode,
        outcomes: &'a [Outcome],
        old: &'a BTreeSet<String>,
        new: &'a Fingerprint,
    ) -> Facts<'a> {
        Facts {
            mode,
            outcomes,
            list_complete: true,
            not_inspectable: 0,
            old,
            new,
            unconfirmed: 0,
            offline: false,
            targets: 1,
            product: None,
        }
    }

    /// After a run of one product, the advice to revoke names the other product to check;
    /// with the product unknown, both.
    #[test]
    fn the_revoke_advice_names_the_product_the_run_did_not_read() {
        let new = Fingerprint::of("FAKE-new");
        let old: BTreeSet<String> = [Fingerprint::of("FAKE-old").to_string()].into();
        let done = [rotated("a")];
        let said = |product| {
            let mut f = facts(Mode::Written, &done, &old, &new);
            f.product = product;
            assert!(matches!(advise(&f), Advice::Revoke { .. }));
            render(&advise(&f), &f, "svc@x.io")
        };
        let jira = said(Some("jira"));
        assert!(
            jira.contains("`autorekey scan --product confluence`"),
            "{jira}"
        );
        let confluence = said(Some("confluence"));
        assert!(
            confluence.contains("`autorekey scan --product jira`"),
            "{confluence}"
        );
        let unknown = said(None);
        assert!(
            unknown.contains("`autorekey scan --product jira|confluence`"),
            "{unknown}"
        );
    }

    #[test]
    fn an_unconfirmed_value_of_the_account_holds_back_the_revoke_advice() {
        let old: BTreeSet<String> = ["3f9c0a1b2c4d".to_string()].into();
        let new = Fingerprint::of("new");
        let outcomes = [rotated("a"), rotated("b")];
        let mut f = facts(Mode::Written, &outcomes, &old, &new);
        assert!(advise(&f).revokes());
        f.unconfirmed = 1;
        let advice = advise(&f);
        assert_eq!(advice, Advice::Unconfirmed { tokens: 1 });
        let text = render(&advice, &f, "alice@acme.example");
        assert!(text.contains("Revoke nothing yet"), "{text}");
        assert!(text.contains("revoke nothing yet."), "{text}");
    }

    #[test]
    fn a_selection_that_matches_nothing_or_a_new_token_in_use_is_refused() {
        let (old, new) = (Token::new("FAKE-old"), Token::new("FAKE-new"));
        let census = |tokens: &[&Token]| {
            let mut c = Census::default();
            for t in tokens {
                let forms = [t.fingerprint()].into();
                let token = crate::plan::AccountToken { forms, rules: 2 };
                c.account_tokens.insert(t.identity(), token);
            }
            c
        };
        let all = Selector::new("svc@x.io", vec![]);
        let only =
            |t: &Token| Selector::new("svc@x.io", vec![t.fingerprint().as_str()[..6].into()]);
        let refused = |c: &Census, s: &Selector, known: bool| {
            check_selection(c, s, &new, known).err().map(|e| e.message)
        };
        assert!(refused(&census(&[]), &all, true)
            .is_some_and(|e| e.contains("no rule holds a credential of svc@x.io")));
        let other = Token::new("FAKE-other");
        assert!(refused(&census(&[&old]), &only(&other), false)
            .is_some_and(|e| e.contains("has the fingerprint")));
        assert!(refused(&census(&[&old]), &only(&new), false)
            .is_some_and(|e| e.contains("selects the new token itself")));
        // The new token alone in the rules (the old token given as the new one): refused
        // unless a run of this rotation wrote it, or the old token is named.
        assert!(refused(&census(&[&new]), &all, false)
            .is_some_and(|e| e.contains("already in 2 rules")));
        // Next to an old token (a rotation under way, whoever wrote it): let through, and
        // refused after all if that old token is not confirmed as the account's.
        assert_eq!(refused(&census(&[&old, &new]), &all, false), None);
        let after = |confirmed: usize, known: bool| {
            check_new_in_use(&census(&[&old, &new]), &all, &new, known, confirmed).is_err()
        };
        assert!(
            !after(1, false),
            "a confirmed old token: a rerun finishes it"
        );
        assert!(
            after(0, false),
            "no confirmed old token: the new one may be the old"
        );
        assert!(!after(0, true));
        assert_eq!(refused(&census(&[&old, &new]), &all, true), None);
        assert_eq!(refused(&census(&[&new]), &only(&old), false), None);
        assert_eq!(refused(&census(&[&old]), &all, false), None);
        // A migration already done: the new token sits under the account it went to.
        let mut migrated = census(&[]);
        migrated.new_owner_tokens.insert(new.identity());
        assert_eq!(refused(&migrated, &all, false), None);
    }

    #[test]
    fn tokens_are_counted_once_whatever_form_a_rule_shows() {
        let old = Token::new(format!("FAKE-old-{}", uuid::Uuid::new_v4().simple()));
        let new = Token::new(format!("FAKE-new-{}", uuid::Uuid::new_v4().simple()));
        let basic = |t: &Token| {
            let value = crate::secret::Credential::new("svc@x.io", t.clone()).basic_value();
            serde_json::json!([{"name": "Authorization", "value": format!("Basic {value}")}])
        };
        // The site shows a plain fingerprint, another host a keyed one.
        let rule = |sends: &[(&str, &Token)]| {
            let components: Vec<_> = sends
                .iter()
                .enumerate()
                .map(|(i, (url, t))| {
                    serde_json::json!({"id": i.to_string(),
                    "type": "jira.issue.outgoing.webhook",
                    "value": {"url": url, "headers": basic(t)}})
                })
                .collect();
            serde_json::json!({"uuid": "u", "name": "n", "components": components})
        };
        let (site, relay) = ("{{baseUrl}}/rest", "https://relay.example.com/hook");
        let all = Selector::new("svc@x.io", vec![]);
        let mut census = Census::default();
        let rule = |sends: &[(&str, &Token)]| crate::rule::Rule::from_body(rule(sends));
        census.note(&rule(&[(site, &old), (relay, &old)]), &all);
        census.note(&rule(&[(relay, &new)]), &all);
        assert_eq!(census.account_tokens.len(), 2, "two tokens, not four forms");
        let shown = census.account_tokens[&old.identity()].shown().cloned();
        assert_eq!(shown, Some(old.fingerprint()), "named by its plain form");
        // The new token is in use (shown keyed there) next to the old one: refused unless
        // the old token is confirmed, or this rotation wrote it.
        let refused = check_new_in_use(&census, &all, &new, false, 0)
            .err()
            .map(|e| e.message);
        assert!(refused.is_some_and(|e| e.contains("already in 1 rule of")));
        assert!(check_new_in_use(&census, &all, &new, false, 1).is_ok());
        assert!(check_selection(&census, &all, &new, false).is_ok());
    }

    #[test]
    fn the_steps_of_a_run_that_wrote_nothing_follow_its_mode() {
        let new = Fingerprint::of("FAKE-new");
        let old: BTreeSet<String> = [Fingerprint::of("FAKE-old").to_string()].into();
        let done = [rotated("a")];
        let text = |mode| {
            let f = facts(mode, &done, &old, &new);
            render(&advise(&f), &f, "svc@x.io")
        };
        let dry = text(Mode::DryRun);
        assert!(dry.contains("without --dry-run"), "{dry}");
        assert!(!dry.contains("apply the plan"), "{dry}");
        let mut several = facts(Mode::DryRun, &done, &old, &new);
        several.targets = 2;
        let several = render(&advise(&several), &several, "svc@x.io");
        assert!(several.contains("without --dry-run"), "{several}");
        assert!(
            !several.contains("--out"),
            "a plan covers one site: {several}"
        );
        let saved = text(Mode::PlanSaved);
        assert!(
            saved.contains("Carry the plan out with `autorekey apply`"),
            "{saved}"
        );
        assert!(!saved.contains("--dry-run"), "{saved}");
    }

    #[test]
    fn any_reason_to_keep_wins() {
        let new = Fingerprint::of("FAKE-new");
        let old: BTreeSet<String> = [Fingerprint::of("FAKE-old").to_string()].into();
        let done = [rotated("a")];
        assert!(advise(&facts(Mode::Written, &done, &old, &new)).revokes());
        for mode in [
            Mode::DryRun,
            Mode::PlanSaved,
            Mode::Restore,
            Mode::OfflineExport,
        ] {
            assert!(
                !advise(&facts(mode, &done, &old, &new)).revokes(),
                "{mode:?}"
            );
        }
        let mut incomplete = facts(Mode::Written, &done, &old, &new);
        incomplete.list_complete = false;
        assert_eq!(advise(&incomplete), Advice::ListIncomplete);
        let mut hidden = facts(Mode::Written, &done, &old, &new);
        hidden.not_inspectable = 2;
        assert_eq!(advise(&hidden), Advice::NotInspectable { rules: 2 });
        let declined = [rotated("a"), Outcome::new("b", "b", Kind::Declined)];
        assert_eq!(
            advise(&facts(Mode::Written, &declined, &old, &new)),
            Advice::StillInUse { rules: 1 }
        );
        assert_eq!(
            advise(&facts(Mode::Written, &[], &old, &new)),
            Advice::NothingMatched
        );
        // The new token is never the one to revoke.
        let only_new: BTreeSet<String> = [new.to_string()].into();
        assert_eq!(
            advise(&facts(Mode::Written, &done, &only_new, &new)),
            Advice::NoOldTokenFound
        );
    }
}
