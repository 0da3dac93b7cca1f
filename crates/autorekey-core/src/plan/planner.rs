//! The planner: every rule of a site (or a file) in, one [`Plan`] out.
//!
//! `rotate`, `apply`, the offline export rotation and the tests all plan through this one
//! type, so the decisions that make a rotation safe are made in one place, in one order:
//! each rule is noted in the [`Census`] and decided ([`plan_rule`]); once every rule is in,
//! the half-rotation guard ([`Census::guard`]) drops any rewrite that would leave an old
//! token behind in another rule or form, and the rewrites are sorted by name. `apply`
//! follows a saved plan ([`Planner::following`]): a planned rule gets exactly its planned
//! rewrite, rebuilt if the rule changed, and anything else is reported, never passed over.
//!
//! The writer's re-read before a write ([`replan`]) and the check after every write of a run
//! ([`final_check`]) decide with the same functions, so a rule is judged the same way before
//! and after it is written.

use std::collections::{BTreeSet, HashMap, HashSet};

use crate::detect::{Finding, Status};
use crate::outcome::{Drift, Failure, Kind, LeftAlone, Outcome};
use crate::rule::Rule;
use crate::secret::{Fingerprint, Token};

use super::{
    plan_rule, planned_changes, redacted_diff, rewrite_with, token_identity, Census, PlanFile,
    PlannedChange, PlannedRule, RuleDecision, Selector,
};

/// A rule with its rewrite decided, ready to show and write. It holds whole rule bodies,
/// tokens included, so its `Debug` prints only what identifies it.
#[derive(Clone)]
pub struct Rewrite {
    /// The rule as read.
    pub before: Rule,
    /// The credentials it replaces.
    pub findings: Vec<Finding>,
    /// The rule with the new credential in place.
    pub after: Rule,
    /// From a saved plan: the (pointer, old fingerprint) pairs it may rewrite, and no
    /// others. A rewrite rebuilt on a changed rule must touch exactly these.
    pub planned: Option<Vec<(String, Fingerprint)>>,
    /// From a saved plan: the rule changed since the plan, and this rewrite was rebuilt on
    /// its current content (so it is shown again before it is approved).
    pub rebuilt: bool,
    /// Where the rule sits in its file (a JSON pointer), for the offline rotation.
    pub place: Option<String>,
}

impl std::fmt::Debug for Rewrite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rewrite")
            .field("rule", &self.before)
            .field("findings", &self.findings.len())
            .finish_non_exhaustive()
    }
}

impl Rewrite {
    pub fn uuid(&self) -> &str {
        self.before.uuid()
    }

    pub fn name(&self) -> &str {
        self.before.name()
    }

    /// The redacted diff a person approves.
    pub fn diff(&self) -> String {
        redacted_diff(self.before.body(), self.after.body(), self.name())
    }

    /// What the saved plan records of it.
    pub fn planned_rule(&self) -> PlannedRule {
        PlannedRule {
            uuid: self.uuid().to_string(),
            name: self.name().to_string(),
            rule_hash: self.before.hash(),
            changes: planned_changes(&self.findings),
        }
    }

    fn outcome(&self, kind: Kind) -> Outcome {
        Outcome::new(self.uuid(), self.name(), kind)
    }
}

/// Everything the planner decided.
#[derive(Default)]
pub struct Plan {
    /// The rules to rewrite, by name.
    pub rewrites: Vec<Rewrite>,
    /// The rules left alone, already current or unreadable.
    pub outcomes: Vec<Outcome>,
    pub census: Census,
    /// Every rule listed, read or not.
    pub seen: HashSet<String>,
}

impl Plan {
    /// The old tokens the rewrites replace, one fingerprint each, as the summary names
    /// them (plain if any place shows the token plain).
    pub fn old_fingerprints(&self) -> BTreeSet<String> {
        crate::detect::one_per_token(self.findings())
            .into_iter()
            .map(|fp| fp.to_string())
            .collect()
    }

    fn findings(&self) -> impl Iterator<Item = &Finding> {
        self.rewrites.iter().flat_map(|r| &r.findings)
    }
}

/// Plans a rotation rule by rule: [`Planner::add`] each rule read, then
/// [`Planner::finish`].
pub struct Planner<'a> {
    selector: &'a Selector,
    new_token: &'a Token,
    following: Option<HashMap<&'a str, &'a PlannedRule>>,
    plan: Plan,
}

impl<'a> Planner<'a> {
    pub fn new(selector: &'a Selector, new_token: &'a Token) -> Self {
        Planner {
            selector,
            new_token,
            following: None,
            plan: Plan::default(),
        }
    }

    /// Follow a saved plan (`apply`): a planned rule gets exactly its planned rewrite
    /// (rebuilt on its current content if it changed); a rule already holding the new token
    /// is done; a rule holding an old token the plan does not name is left alone and
    /// reported; a planned rule missing or edited since is reported at [`Self::finish`].
    pub fn following(mut self, plan: &'a PlanFile) -> Self {
        self.following = Some(plan.rules.iter().map(|r| (r.uuid.as_str(), r)).collect());
        self
    }

    /// One rule as read.
    pub fn add(&mut self, rule: Rule) {
        self.add_at(rule, None);
    }

    /// One rule of a file, with where it sits in the file.
    pub fn add_at(&mut self, rule: Rule, place: Option<String>) {
        self.plan.seen.insert(rule.uuid().to_string());
        self.plan.census.note(&rule, self.selector);
        let decided = decide(rule, self.selector, self.new_token).and_then(|rewrite| {
            match (&self.following, rewrite) {
                (Some(planned), Some(r)) => self.as_planned(planned, r),
                (_, r) => Ok(r),
            }
        });
        match decided {
            Ok(Some(rewrite)) => self.plan.rewrites.push(Rewrite { place, ..rewrite }),
            Ok(None) => {}
            Err(outcome) => self.plan.outcomes.push(outcome),
        }
    }

    /// A listed rule that could not be read.
    pub fn add_unreadable(&mut self, uuid: String, name: String, error: String) {
        self.plan.seen.insert(uuid.clone());
        let why = Failure::Unreadable { error };
        let outcome = Outcome::new(uuid, name, Kind::Failed { why });
        self.plan.outcomes.push(outcome);
    }

    fn as_planned(
        &self,
        planned: &HashMap<&str, &PlannedRule>,
        rewrite: Rewrite,
    ) -> Result<Option<Rewrite>, Outcome> {
        let Some(rule) = planned.get(rewrite.uuid()) else {
            let account = self.selector.account.clone();
            let why = LeftAlone::NotInPlan { account };
            return Err(rewrite.outcome(Kind::LeftAlone { why }));
        };
        let rebuilt = rewrite.before.hash() != rule.rule_hash;
        match decide_planned(rewrite.before, self.selector, &rule.changes, self.new_token)? {
            Some(r) => Ok(Some(Rewrite { rebuilt, ..r })),
            None => Err(edited_since(rule)),
        }
    }

    /// Every rule is in: guard against half rotations, report what a followed plan named
    /// but the site no longer shows as planned, and sort.
    pub fn finish(mut self) -> Plan {
        let plan = &mut self.plan;
        let dropped = plan.census.guard(&plan.rewrites, &mut plan.outcomes);
        plan.rewrites.retain(|r| !dropped.contains(r.uuid()));
        if let Some(planned) = &self.following {
            let decided: HashSet<&str> = (plan.rewrites.iter().map(Rewrite::uuid))
                .chain(plan.outcomes.iter().map(Outcome::uuid))
                .collect();
            let mut missing: Vec<Outcome> = planned
                .values()
                .filter(|r| !decided.contains(r.uuid.as_str()))
                .map(|r| match plan.seen.contains(&r.uuid) {
                    true => edited_since(r),
                    false => Outcome::new(&r.uuid, &r.name, failed(Failure::NoLongerListed)),
                })
                .collect();
            missing.sort_by(|a, b| a.uuid.cmp(&b.uuid));
            plan.outcomes.extend(missing);
        }
        plan.rewrites
            .sort_by(|a, b| (a.name(), a.uuid()).cmp(&(b.name(), b.uuid())));
        self.plan
    }
}

fn failed(why: Failure) -> Kind {
    Kind::Failed { why }
}

fn edited_since(planned: &PlannedRule) -> Outcome {
    let why = LeftAlone::EditedSincePlan;
    Outcome::new(&planned.uuid, &planned.name, Kind::LeftAlone { why })
}

/// Decide what to do with one rule as read. `Ok(None)`: nothing of the account's in it.
pub fn decide(
    rule: Rule,
    selector: &Selector,
    new_token: &Token,
) -> Result<Option<Rewrite>, Outcome> {
    let outcome = |kind| Outcome::new(rule.uuid(), rule.name(), kind);
    match plan_rule(rule.body(), selector, Some(new_token)) {
        RuleDecision::Untouched => Ok(None),
        RuleDecision::LeftAlone(LeftAlone::AlreadyCurrent) => Err(outcome(Kind::AlreadyCurrent)),
        RuleDecision::LeftAlone(why) => Err(outcome(Kind::LeftAlone { why })),
        RuleDecision::Rewrite(findings) => {
            let migration = selector.migrate.as_ref();
            match rewrite_with(rule.body(), &findings, new_token, migration) {
                Ok(after) => Ok(Some(Rewrite {
                    after: rule.rewritten(after),
                    before: rule,
                    findings,
                    planned: None,
                    rebuilt: false,
                    place: None,
                })),
                Err(e) => Err(outcome(failed(Failure::CannotRewrite {
                    error: e.to_string(),
                }))),
            }
        }
    }
}

/// [`decide`] for a saved plan's rule: the rewrite the plan names for it, exactly. Only the
/// planned old tokens are considered, and the rule is left alone (with the reason) when a
/// planned place no longer holds its planned old token, or when the old token now sits in
/// a place the plan does not list (rewriting only the planned places would leave it half
/// rotated).
pub fn decide_planned(
    rule: Rule,
    selector: &Selector,
    changes: &[PlannedChange],
    new_token: &Token,
) -> Result<Option<Rewrite>, Outcome> {
    let pairs: Vec<(String, Fingerprint)> = changes
        .iter()
        .map(|c| (c.pointer.clone(), c.old_fingerprint.clone()))
        .collect();
    let mut fps: Vec<String> = pairs.iter().map(|(_, fp)| fp.to_string()).collect();
    fps.sort();
    fps.dedup();
    let selector = Selector {
        fingerprints: fps,
        ..selector.clone()
    };
    match decide(rule, &selector, new_token)? {
        Some(r) => exactly(r, &pairs).map(Some),
        None => Ok(None),
    }
}

/// `r` if it rewrites exactly the `planned` (pointer, old fingerprint) pairs.
fn exactly(mut r: Rewrite, planned: &[(String, Fingerprint)]) -> Result<Rewrite, Outcome> {
    let mut want = planned.to_vec();
    let mut have: Vec<(String, Fingerprint)> = r
        .findings
        .iter()
        .filter_map(|f| Some((f.pointer.clone(), f.fingerprint()?)))
        .collect();
    want.sort();
    have.sort();
    if want == have {
        r.planned = Some(want);
        return Ok(r);
    }
    let places = |pairs: Vec<&(String, Fingerprint)>| {
        let mut shown: Vec<String> = pairs
            .iter()
            .map(|(ptr, fp)| format!("{ptr} ({fp})"))
            .collect();
        shown.dedup();
        shown
    };
    let why = LeftAlone::ChangedSincePlan {
        missing: places(want.iter().filter(|w| !have.contains(w)).collect()),
        extra: places(have.iter().filter(|h| !want.contains(h)).collect()),
    };
    Err(r.outcome(Kind::LeftAlone { why }))
}

/// The rule changed since `planned` was decided (the writer's re-read found another
/// version): decide again on the fresh copy, within a saved plan's places if it had them.
pub fn replan(
    planned: &Rewrite,
    fresh: Rule,
    selector: &Selector,
    new_token: &Token,
) -> Result<Rewrite, Outcome> {
    match decide(fresh, selector, new_token)? {
        Some(r) => match &planned.planned {
            Some(pairs) => exactly(r, pairs),
            None => Ok(r),
        },
        None => Err(planned.outcome(Kind::LeftAlone {
            why: LeftAlone::CredentialGone,
        })),
    }
}

/// The last check of a run, after every write: a rule counted as rotated must still hold
/// the new token and none of the `old` tokens, in any form (another writer may have pasted
/// one back as a Bearer or raw value). Another writer saving a copy it read before the
/// rotation would otherwise go unnoticed until the old token is revoked.
pub fn final_check(
    rule: &Rule,
    selector: &Selector,
    new_token: &Token,
    old: &BTreeSet<Fingerprint>,
) -> Result<(), Drift> {
    match plan_rule(rule.body(), selector, Some(new_token)) {
        RuleDecision::LeftAlone(LeftAlone::AlreadyCurrent) => {
            let pointers: Vec<String> = crate::detect::detect(rule.body())
                .into_iter()
                .filter(|f| f.status == Status::Literal)
                .filter(|f| token_identity(f).is_some_and(|id| old.contains(&id)))
                .filter_map(|f| Some(format!("{} ({})", f.pointer, f.fingerprint()?)))
                .collect();
            match pointers.is_empty() {
                true => Ok(()),
                false => Err(Drift::OldTokenAt { pointers }),
            }
        }
        RuleDecision::Rewrite(_) => Err(Drift::OldToken),
        RuleDecision::Untouched => Err(Drift::NewTokenGone),
        RuleDecision::LeftAlone(why) => Err(Drift::LeftAlone { why }),
    }
}
