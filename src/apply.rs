//! Apply: write one approved rewrite to the site, as safely as the API allows.
//!
//! The Automation API has no ETag or If-Match and PUT replaces the whole rule, so safety is
//! built from reads around the write:
//!
//! 1. re-read the rule just before writing; if it changed since it was planned, rebuild the
//!    rewrite on the fresh copy (and show it again) or leave the rule alone when the
//!    credential is gone: a stale copy is never written over someone else's edit;
//! 2. back the fresh copy up (0600) and journal the write before sending it;
//! 3. PUT the rule without read-only fields and without `connections`;
//! 4. on a lost answer, a 5xx or a redirect, read back before deciding: landed, retry, or
//!    stop;
//! 5. read back and check the new credential is there and nothing else moved.
//!
//! What remains is the window between step 1 and step 3, one round trip wide; the read-back
//! in step 5 reports anything the server changed beyond the credential.

use serde_json::Value;

use std::collections::{BTreeMap, BTreeSet, HashSet};

use crate::detect::{Finding, Scheme, Status, MASK};
use crate::fetch::{AutomationClient, FetchError, PutOutcome};
use crate::journal::Step;
use crate::plan::{self, LeftAlone, PlannedChange, RuleDecision, Selector};
use crate::run::RunStore;
use crate::secret::{Fingerprint, Token};

/// A rule with its rewrite decided, ready to show and write. It holds whole rule bodies,
/// tokens included, so its `Debug` prints only what identifies it.
#[derive(Clone)]
pub struct Prepared {
    pub uuid: String,
    pub name: String,
    /// The envelope as read (`{"rule": ..., "connections": ...}`).
    pub before: Value,
    pub findings: Vec<Finding>,
    /// The rule object with the new credential in place.
    pub after: Value,
    /// From a saved plan: the (pointer, old fingerprint) pairs it may rewrite, and no
    /// others. A rewrite rebuilt on a changed rule must touch exactly these.
    pub planned: Option<Vec<(String, Fingerprint)>>,
}

impl std::fmt::Debug for Prepared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prepared")
            .field("uuid", &self.uuid)
            .field("name", &self.name)
            .field("findings", &self.findings.len())
            .finish_non_exhaustive()
    }
}

impl Prepared {
    pub fn diff(&self) -> String {
        plan::redacted_diff(&self.before["rule"], &self.after, &self.name)
    }

    pub fn rule_hash(&self) -> String {
        plan::rule_hash(&self.before["rule"])
    }
}

/// What happened to one rule; every variant says which rule and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Rotated {
        uuid: String,
        name: String,
        places: usize,
    },
    /// Written, but the read-back differs in more than the credential.
    Attention {
        uuid: String,
        name: String,
        detail: String,
    },
    LeftAlone {
        uuid: String,
        name: String,
        reason: String,
    },
    Failed {
        uuid: String,
        name: String,
        reason: String,
    },
    Declined {
        uuid: String,
        name: String,
    },
    /// Holds the account's credential already in the new token: nothing to do.
    AlreadyCurrent {
        uuid: String,
        name: String,
    },
    /// Never tried: the run was interrupted or the admin quit first.
    NotAttempted {
        uuid: String,
        name: String,
        why: String,
    },
}

impl Outcome {
    pub fn uuid(&self) -> &str {
        self.identity().0
    }

    pub fn name(&self) -> &str {
        self.identity().1
    }

    fn identity(&self) -> (&str, &str) {
        match self {
            Outcome::Rotated { uuid, name, .. }
            | Outcome::Attention { uuid, name, .. }
            | Outcome::LeftAlone { uuid, name, .. }
            | Outcome::Failed { uuid, name, .. }
            | Outcome::Declined { uuid, name }
            | Outcome::AlreadyCurrent { uuid, name }
            | Outcome::NotAttempted { uuid, name, .. } => (uuid, name),
        }
    }
}

/// Decide what to do with one rule as read. `Ok(None)`: nothing of the account's in it.
pub fn prepare(
    envelope: Value,
    selector: &Selector,
    new_token: &Token,
) -> Result<Option<Prepared>, Outcome> {
    let rule = &envelope["rule"];
    let uuid = crate::export::rule_uuid(rule);
    let name = crate::printable::rule_name(rule);
    match plan::plan_rule(rule, selector, Some(new_token)) {
        RuleDecision::Untouched => Ok(None),
        RuleDecision::LeftAlone(LeftAlone::AlreadyCurrent) => {
            Err(Outcome::AlreadyCurrent { uuid, name })
        }
        RuleDecision::LeftAlone(why) => Err(Outcome::LeftAlone {
            uuid,
            name,
            reason: left_alone_reason(&why),
        }),
        RuleDecision::Rewrite(findings) => {
            match plan::rewrite_with(rule, &findings, new_token, selector.migrate.as_ref()) {
                Ok(after) => Ok(Some(Prepared {
                    uuid,
                    name,
                    before: envelope,
                    findings,
                    after,
                    planned: None,
                })),
                Err(e) => Err(Outcome::Failed {
                    uuid,
                    name,
                    reason: format!("cannot rewrite: {e}"),
                }),
            }
        }
    }
}

/// [`prepare`] for `apply`: the rewrite a saved plan names for this rule, exactly. Only the
/// planned old tokens are considered, and the rule is left alone (with the reason) when a
/// planned place no longer holds its planned old token, or when the old token now sits in
/// a place the plan does not list (rewriting only the planned places would leave it half
/// rotated).
pub fn prepare_planned(
    envelope: Value,
    selector: &Selector,
    changes: &[PlannedChange],
    new_token: &Token,
) -> Result<Option<Prepared>, Outcome> {
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
    match prepare(envelope, &selector, new_token)? {
        Some(p) => exactly(p, &pairs).map(Some),
        None => Ok(None),
    }
}

/// `p` if it rewrites exactly the `planned` (pointer, old fingerprint) pairs.
fn exactly(mut p: Prepared, planned: &[(String, Fingerprint)]) -> Result<Prepared, Outcome> {
    let mut want = planned.to_vec();
    let mut have: Vec<(String, Fingerprint)> = p
        .findings
        .iter()
        .filter_map(|f| Some((f.pointer.clone(), f.fingerprint()?)))
        .collect();
    want.sort();
    have.sort();
    if want == have {
        p.planned = Some(want);
        return Ok(p);
    }
    let list = |pairs: Vec<&(String, Fingerprint)>| {
        let mut shown: Vec<String> = pairs
            .iter()
            .map(|(ptr, fp)| format!("{ptr} ({fp})"))
            .collect();
        shown.dedup();
        shown.join(", ")
    };
    let missing: Vec<_> = want.iter().filter(|w| !have.contains(w)).collect();
    let extra: Vec<_> = have.iter().filter(|h| !want.contains(h)).collect();
    let mut why = Vec::new();
    if !missing.is_empty() {
        why.push(format!(
            "the planned old token is no longer at {}",
            list(missing)
        ));
    }
    if !extra.is_empty() {
        why.push(format!(
            "it now also holds the old token at {}, which the plan does not list \
             (rewriting only the planned places would leave it half rotated)",
            list(extra)
        ));
    }
    Err(Outcome::LeftAlone {
        uuid: p.uuid,
        name: p.name,
        reason: format!(
            "changed since the plan: {}; make a new plan with `autorekey rotate --out`",
            why.join("; ")
        ),
    })
}

/// What reading the rules showed beyond the rewrites, noted rule by rule and judged once
/// every rule is read:
/// - copies of tokens in forms a rotation does not rewrite (a Bearer header, a raw token):
///   a rule holding an old token only in such a form would break when the token is
///   revoked, so it is reported, never silently passed over;
/// - every token of the account in the rules, whatever `--fingerprint` selects, so a
///   selection that matches nothing, and a "new" token that is already in use, are caught;
/// - rules whose credential autorekey cannot read but that may be the account's.
///
/// Tokens are counted by identity ([`crate::secret::Token::identity`], never shown), not by
/// the fingerprint a place shows: one token sent to the site (plain) and to another host
/// (keyed) is one token, and the new token is recognised in either form.
#[derive(Default)]
pub struct Census {
    /// Every rule's unrewritten literal tokens, kept for the summary after [`Census::flag`]:
    /// an old token an earlier run replaced may survive in one of them.
    pub seen: Vec<RuleCopies>,
    /// The account's tokens, by identity.
    pub account_tokens: BTreeMap<Fingerprint, AccountToken>,
    /// Identities of the tokens of the `--to-account` of a migration (a rerun finds the
    /// new token there).
    pub new_owner_tokens: BTreeSet<Fingerprint>,
    /// Users of the Basic credentials seen, for a hint when the account has none.
    pub users: BTreeSet<String>,
    /// Rules with a credential that cannot be read and may be the account's.
    pub not_inspectable: usize,
    /// Rules holding a value the server masked (`***`), for a hint.
    pub masked: usize,
}

/// A rule (uuid, name) and its unrewritten literal tokens.
pub type RuleCopies = (String, String, Vec<plan::Unrewritable>);

/// One token of the account in the rules.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AccountToken {
    /// Every fingerprint a place shows for it (what `--fingerprint` selects by).
    pub forms: BTreeSet<Fingerprint>,
    /// How many rules hold it.
    pub rules: usize,
}

impl AccountToken {
    /// The one fingerprint outputs name it by: plain if any place shows it plain.
    pub fn shown(&self) -> Option<&Fingerprint> {
        let plain = self.forms.iter().find(|fp| !fp.is_keyed());
        plain.or_else(|| self.forms.iter().next())
    }
}

impl Census {
    pub fn note(&mut self, rule: &Value, selector: &Selector) {
        let findings = crate::detect::detect(rule);
        let mut tokens: BTreeMap<Fingerprint, BTreeSet<Fingerprint>> = BTreeMap::new();
        for f in &findings {
            if let Some(user) = f.user.as_ref().filter(|_| f.status == Status::Literal) {
                self.users.insert(user.to_ascii_lowercase());
            }
            let Some(identity) = plan::token_identity(f) else {
                continue;
            };
            if selector.is_account(f) {
                tokens.entry(identity).or_default().extend(f.fingerprint());
            } else if selector.is_new_owner(f) {
                self.new_owner_tokens.insert(identity);
            }
        }
        for (identity, forms) in tokens {
            let token = self.account_tokens.entry(identity).or_default();
            token.forms.extend(forms);
            token.rules += 1;
        }
        if findings.iter().any(may_hide_account) {
            self.not_inspectable += 1;
        }
        if findings.iter().any(|f| f.status == Status::Masked)
            || !crate::detect::masked_pointers(rule).is_empty()
        {
            self.masked += 1;
        }
        let copies = plan::unrewritable(&findings, selector);
        if !copies.is_empty() {
            let name = crate::printable::rule_name(rule);
            self.seen
                .push((crate::export::rule_uuid(rule), name, copies));
        }
    }

    /// Report every rule that holds an old token of `prepared` in a form it does not
    /// rewrite, including rules that are themselves being rewritten (their own other old
    /// tokens were checked by `plan_rule`; this catches another rule's) and rules already
    /// holding the new token (their leftover copy would break on revoking). Other rules
    /// already reported keep their first reason. Returns the uuids to drop from the rewrites.
    pub fn flag(&mut self, prepared: &[Prepared], outcomes: &mut Vec<Outcome>) -> HashSet<String> {
        let old: HashSet<_> = prepared
            .iter()
            .flat_map(|p| p.findings.iter().filter_map(plan::token_identity))
            .collect();
        let mut dropped = HashSet::new();
        for (uuid, name, copies) in &self.seen {
            let hits: Vec<String> = copies
                .iter()
                .filter(|copy| old.contains(&copy.identity))
                .map(|copy| format!("{} ({})", copy.pointer, copy.shown))
                .collect();
            let at = outcomes.iter().position(|o| o.uuid() == uuid);
            let current = at.is_some_and(|i| matches!(outcomes[i], Outcome::AlreadyCurrent { .. }));
            if hits.is_empty() || (at.is_some() && !current) {
                continue;
            }
            let reason = left_alone_reason(&LeftAlone::OldTokenElsewhere { pointers: hits });
            dropped.insert(uuid.clone());
            let left = Outcome::LeftAlone {
                uuid: uuid.clone(),
                name: name.clone(),
                reason,
            };
            match at {
                Some(i) => outcomes[i] = left,
                None => outcomes.push(left),
            }
        }
        dropped
    }
}

/// A credential autorekey cannot read (a managed secret or a smart value) used as Basic auth
/// or with no scheme it can see, sent to Atlassian (an Atlassian host, a smart value such as
/// `{{baseUrl}}`, or a destination it cannot tell): it may be the account's API token.
/// Other users', Bearer values and other services' secrets are not.
fn may_hide_account(f: &Finding) -> bool {
    let to_atlassian = match f.target_url.as_deref().map(str::trim) {
        None => true,
        Some(url) if url.starts_with("{{") => true,
        // A trailing dot names the same host (`acme.atlassian.net.`).
        Some(url) => url::Url::parse(url).map_or(true, |u| {
            u.host_str()
                .map(|h| h.trim_end_matches('.'))
                .is_some_and(crate::fetch::policy::is_atlassian_domain)
        }),
    };
    matches!(f.status, Status::SecretRef | Status::Dynamic)
        && matches!(f.scheme, Scheme::Basic | Scheme::Unknown)
        && f.user.is_none()
        && f.location != crate::detect::Location::WebhookToken
        && to_atlassian
}

/// The last check of a run, after every write: a rule counted as rotated must still hold
/// the new token and none of the `old` tokens, in any form (another writer may have pasted
/// one back as a Bearer or raw value). Another writer saving a copy it read before the
/// rotation would otherwise go unnoticed until the old token is revoked.
pub fn still_rotated(
    rule: &Value,
    selector: &Selector,
    new_token: &Token,
    old: &BTreeSet<Fingerprint>,
) -> Result<(), String> {
    match plan::plan_rule(rule, selector, Some(new_token)) {
        RuleDecision::LeftAlone(LeftAlone::AlreadyCurrent) => {
            let copies: Vec<String> = crate::detect::detect(rule)
                .into_iter()
                .filter(|f| f.status == Status::Literal)
                .filter(|f| plan::token_identity(f).is_some_and(|id| old.contains(&id)))
                .filter_map(|f| Some(format!("{} ({})", f.pointer, f.fingerprint()?)))
                .collect();
            match copies.is_empty() {
                true => Ok(()),
                false => Err(format!(
                    "it holds an old token again at {}",
                    copies.join(", ")
                )),
            }
        }
        RuleDecision::Rewrite(_) => Err("it holds the old token again".into()),
        RuleDecision::Untouched => Err("the new credential is no longer in it".into()),
        RuleDecision::LeftAlone(why) => Err(left_alone_reason(&why)),
    }
}

pub fn left_alone_reason(why: &LeftAlone) -> String {
    match why {
        LeftAlone::MaskedValue { pointers } => format!(
            "the server masked a value as *** (at {}); writing the rule back would overwrite \
             the hidden value with the mask. Edit this rule by hand in the Automation UI",
            pointers.join(", ")
        ),
        LeftAlone::MayHoldMasked { pointers } => format!(
            "a hidden value came back masked as *** (at {}); it may be this account's old \
             token, which autorekey can neither read nor safely rewrite. Check it in the \
             Automation UI",
            pointers.join(", ")
        ),
        LeftAlone::OldTokenElsewhere { pointers } => format!(
            "the old token also appears in a form autorekey does not rewrite (at {}): \
             rewriting only the rest would leave the rule half rotated. Edit it by hand",
            pointers.join(", ")
        ),
        LeftAlone::AlreadyCurrent => "already uses the new token".into(),
    }
}

/// Where writes go and where they are recorded.
pub struct Writer<'a> {
    pub client: &'a AutomationClient,
    /// Backups and journal of the rotation (created on the first backup).
    pub store: &'a RunStore,
    pub selector: &'a Selector,
    pub new_token: &'a Token,
    /// Set when the site refuses the admin's login; the caller stops starting rules.
    pub auth_failed: &'a std::sync::atomic::AtomicBool,
}

/// How many times a PUT whose answer was lost, and which read-back shows it did not land,
/// is sent again.
const LOST_ANSWER_RETRIES: u32 = 3;

impl Writer<'_> {
    /// Steps 1-5 above for one approved rule. `reapprove` is asked when the rule changed
    /// since it was shown, with the rebuilt rewrite; it returns whether to go on.
    pub async fn write(
        &self,
        planned: &Prepared,
        reapprove: impl FnOnce(&Prepared) -> bool,
    ) -> Outcome {
        let fresh = match self.client.get_rule(&planned.uuid).await {
            Ok(v) => v,
            Err(e) => {
                self.note_auth(&e);
                return self.failed(planned, format!("could not re-read it before writing: {e}"));
            }
        };
        let target = if plan::rule_hash(&fresh["rule"]) == planned.rule_hash() {
            Prepared {
                before: fresh,
                ..planned.clone()
            }
        } else {
            match self.replan(planned, fresh) {
                Ok(p) if reapprove(&p) => p,
                Ok(p) => {
                    return self.record(Outcome::Declined {
                        uuid: p.uuid,
                        name: p.name,
                    })
                }
                Err(outcome) => return self.record(outcome),
            }
        };
        if let Err(e) = self.store.save(&target.uuid, &target.before) {
            return self.failed(
                &target,
                format!("not written: could not save its backup: {e}"),
            );
        }
        if let Err(e) = self
            .store
            .record(&target.uuid, &target.name, Step::Writing, None)
        {
            return self.failed(
                &target,
                format!("not written: could not write the journal: {e}"),
            );
        }
        if let Err(reason) = self.put(&target).await {
            return self.failed(&target, reason);
        }
        self.check_read_back(&target).await
    }

    /// The rule changed since it was planned: plan again on the fresh copy.
    fn replan(&self, planned: &Prepared, fresh: Value) -> Result<Prepared, Outcome> {
        match prepare(fresh, self.selector, self.new_token) {
            // A saved plan's rule stays within the plan's places.
            Ok(Some(p)) => match &planned.planned {
                Some(pairs) => exactly(p, pairs),
                None => Ok(p),
            },
            Ok(None) => Err(Outcome::LeftAlone {
                uuid: planned.uuid.clone(),
                name: planned.name.clone(),
                reason: "changed since it was read, and no longer holds the credential".into(),
            }),
            Err(outcome) => Err(outcome),
        }
    }

    async fn put(&self, target: &Prepared) -> Result<(), String> {
        let body = plan::put_body(&target.after);
        // Server text quoted in an error must not echo any secret the body carries.
        let secrets = plan::secret_forms(&[&target.before["rule"], &target.after]);
        for _ in 0..=LOST_ANSWER_RETRIES {
            match self.client.put_rule(&target.uuid, &body, &secrets).await {
                Ok(PutOutcome::Written) => return Ok(()),
                // A 5xx, a broken connection or a redirect (a 303 means "applied") does not
                // prove the write failed: read back before deciding.
                Ok(PutOutcome::AnswerLost)
                | Err(
                    FetchError::Server { .. }
                    | FetchError::Network(_)
                    | FetchError::Timeout
                    | FetchError::InvalidResponse(_),
                ) => match self.landed(target).await? {
                    true => return Ok(()),
                    false => continue,
                },
                Err(e) => {
                    self.note_auth(&e);
                    return Err(format!("the site refused the write: {e}"));
                }
            }
        }
        Err("the write failed or its answer was lost repeatedly, and it never landed".into())
    }

    /// After a lost answer: did the write land (true), or is the rule untouched so it is
    /// safe to send again (false)? Anything else is someone else's edit: stop.
    async fn landed(&self, target: &Prepared) -> Result<bool, String> {
        let now = self.client.get_rule(&target.uuid).await.map_err(|e| {
            self.note_auth(&e);
            format!("the write's answer was lost and the rule could not be read back: {e}")
        })?;
        // A place the server masks on read cannot be compared; the read-back says so.
        let unmasked = |p: &String| now["rule"].pointer(p).and_then(Value::as_str) != Some(MASK);
        if !plan::differences(&target.after, &now["rule"])
            .iter()
            .any(unmasked)
        {
            return Ok(true);
        }
        if plan::rule_hash(&now["rule"]) == target.rule_hash() {
            return Ok(false);
        }
        Err(
            "the write's answer was lost and the rule now differs from both the old and the \
             new version (edited by someone else?); not retried"
                .into(),
        )
    }

    async fn check_read_back(&self, target: &Prepared) -> Outcome {
        let back = match self.client.get_rule(&target.uuid).await {
            Ok(v) => v,
            Err(e) => {
                self.note_auth(&e);
                return self.record(Outcome::Attention {
                    uuid: target.uuid.clone(),
                    name: target.name.clone(),
                    detail: format!("written, but it could not be read back to check: {e}"),
                });
            }
        };
        let mut moved = plan::differences(&target.after, &back["rule"]);
        let rewritten: Vec<&str> = target.findings.iter().map(|f| f.pointer.as_str()).collect();
        let masked = |p: &String| back["rule"].pointer(p).and_then(Value::as_str) == Some(MASK);
        if moved
            .iter()
            .any(|p| rewritten.contains(&p.as_str()) && masked(p))
        {
            return self.record(Outcome::Attention {
                uuid: target.uuid.clone(),
                name: target.name.clone(),
                detail: "written, but the site masks the new value as *** on read, so it could \
                         not be checked: look at the rule in the Automation UI"
                    .into(),
            });
        }
        if moved.iter().any(|p| rewritten.contains(&p.as_str())) {
            return self.failed(
                target,
                "written, but the read-back does not hold the new credential".into(),
            );
        }
        if target.before.get("connections") != back.get("connections") {
            moved.push("connections".into());
        }
        if moved.is_empty() {
            return self.record(Outcome::Rotated {
                uuid: target.uuid.clone(),
                name: target.name.clone(),
                places: target.findings.len(),
            });
        }
        self.record(Outcome::Attention {
            uuid: target.uuid.clone(),
            name: target.name.clone(),
            detail: format!(
                "the new credential is in place, but the server also changed: {} (compare with the backup)",
                moved.join(", ")
            ),
        })
    }

    /// A 401 means the admin's token stopped working mid-run: every further request would
    /// be another failed login (and a step towards a CAPTCHA lock), so the run stops.
    fn note_auth(&self, e: &FetchError) {
        if matches!(e, FetchError::Unauthorized { .. }) {
            self.auth_failed
                .store(true, std::sync::atomic::Ordering::SeqCst);
        }
    }

    /// The admin answered no: journal it so the record of the run is complete.
    pub fn declined(&self, target: &Prepared) -> Outcome {
        self.record(Outcome::Declined {
            uuid: target.uuid.clone(),
            name: target.name.clone(),
        })
    }

    fn failed(&self, target: &Prepared, reason: String) -> Outcome {
        self.record(Outcome::Failed {
            uuid: target.uuid.clone(),
            name: target.name.clone(),
            reason,
        })
    }

    /// Journal the outcome; a journal that cannot be written is reported with it.
    pub fn record(&self, outcome: Outcome) -> Outcome {
        let (uuid, name, step, detail) = match &outcome {
            Outcome::Rotated { uuid, name, .. } => (uuid, name, Step::Verified, None),
            Outcome::Attention { uuid, name, detail } => {
                (uuid, name, Step::Attention, Some(detail))
            }
            Outcome::LeftAlone { uuid, name, reason } => {
                (uuid, name, Step::LeftAlone, Some(reason))
            }
            Outcome::Failed { uuid, name, reason } => (uuid, name, Step::Failed, Some(reason)),
            Outcome::Declined { uuid, name } => (uuid, name, Step::Declined, None),
            Outcome::NotAttempted { .. } | Outcome::AlreadyCurrent { .. } => return outcome,
        };
        match self.store.record(uuid, name, step, detail.cloned()) {
            Ok(()) => outcome,
            Err(e) => Outcome::Failed {
                uuid: uuid.clone(),
                name: name.clone(),
                reason: format!(
                    "{}; and the journal could not be written: {e}",
                    crate::report::outcome_line(&outcome)
                ),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Credential;

    #[test]
    fn debug_of_a_prepared_rule_shows_no_token() {
        let old = format!("FAKE-old-{}", uuid::Uuid::new_v4().simple());
        let new = Token::new(format!("FAKE-new-{}", uuid::Uuid::new_v4().simple()));
        let basic = Credential::new("svc@x.io", Token::new(old.clone())).basic_value();
        let envelope = serde_json::json!({"rule": {"uuid": "u1", "name": "n", "components": [
            {"id": "2", "type": "jira.issue.outgoing.webhook", "value": {"url": "u",
             "headers": [{"name": "Authorization", "value": format!("Basic {basic}")}]}}]}});
        let selector = Selector::new("svc@x.io", vec![]);
        let p = prepare(envelope, &selector, &new).unwrap().unwrap();
        let shown = format!("{p:?}");
        for secret in [old.as_str(), basic.as_str(), new.expose()] {
            assert!(!shown.contains(secret), "{shown}");
        }
        assert!(shown.contains("u1"));
        let config = crate::sandbox::SandboxConfig {
            rules: vec![p.before.clone()],
            ..Default::default()
        };
        assert!(!format!("{config:?}").contains(&basic));
    }

    #[test]
    fn an_old_token_kept_elsewhere_in_another_form_is_reported() {
        let old = format!("FAKE-old-{}", uuid::Uuid::new_v4().simple());
        let new = Token::new(format!("FAKE-new-{}", uuid::Uuid::new_v4().simple()));
        let basic = Credential::new("svc@x.io", Token::new(old.clone())).basic_value();
        let header = |uuid: &str, value: String| {
            serde_json::json!({"rule": {"uuid": uuid, "name": uuid, "components": [
                {"id": "2", "type": "jira.issue.outgoing.webhook", "value": {"url": "u",
                 "headers": [{"name": "Authorization", "value": value}]}}]}})
        };
        let rules = [
            header("bearer-only", format!("Bearer {old}")),
            header("basic", format!("Basic {basic}")),
            header("unrelated", "Bearer FAKE-someone-else-entirely".into()),
        ];
        let selector = Selector::new("svc@x.io", vec![]);
        let (mut copies, mut prepared, mut outcomes) = (Census::default(), vec![], vec![]);
        for envelope in rules {
            copies.note(&envelope["rule"], &selector);
            if let Some(p) = prepare(envelope, &selector, &new).unwrap() {
                prepared.push(p);
            }
        }
        let dropped = copies.flag(&prepared, &mut outcomes);
        assert!(dropped.contains("bearer-only"));
        assert_eq!(prepared.len(), 1);
        assert_eq!(outcomes.len(), 1);
        assert!(
            matches!(&outcomes[0], Outcome::LeftAlone { uuid, reason, .. }
            if uuid == "bearer-only" && reason.contains("does not rewrite"))
        );
    }

    #[test]
    fn the_census_sees_every_token_of_the_account_and_what_may_hide_one() {
        let old = format!("FAKE-old-{}", uuid::Uuid::new_v4().simple());
        let basic = Credential::new("svc@x.io", Token::new(old.clone())).basic_value();
        let rule = |url: &str, value: String| {
            serde_json::json!({"uuid": "u", "name": "n", "components": [
                {"id": "2", "type": "jira.issue.outgoing.webhook", "value": {"url": url,
                 "headers": [{"name": "Authorization", "value": value}]}}]})
        };
        let mut census = Census::default();
        let selector = Selector::new("svc@x.io", vec!["ffff".into()]);
        census.note(
            &rule("{{baseUrl}}/rest", format!("Basic {basic}")),
            &selector,
        );
        census.note(
            &rule("{{baseUrl}}/rest", "Basic {{secrets.jira}}".into()),
            &selector,
        );
        census.note(
            &rule("https://api.github.com/x", "Bearer {{secrets.gh}}".into()),
            &selector,
        );
        census.note(
            &rule(
                "https://acme.atlassian.net./rest",
                "Basic {{secrets.jira}}".into(),
            ),
            &selector,
        );
        // Whatever --fingerprint selects, the account's token is counted.
        let counted: Vec<_> = census.account_tokens.iter().collect();
        assert_eq!(counted.len(), 1);
        assert_eq!(counted[0].0, &Token::new(old.clone()).identity());
        assert_eq!(counted[0].1.shown(), Some(&Token::new(old).fingerprint()));
        assert!(census.users.contains("svc@x.io"));
        assert_eq!(
            census.not_inspectable, 2,
            "only the Basic secrets sent to the site"
        );
    }

    #[test]
    fn a_rule_already_current_that_keeps_an_old_token_copy_is_left_alone() {
        let fake = |tag: &str| format!("FAKE-{tag}-{}", uuid::Uuid::new_v4().simple());
        let old = fake("old");
        let new = Token::new(fake("new"));
        let basic = |user: &str, t: &str| Credential::new(user, Token::new(t)).basic_value();
        let rule = |uuid: &str, values: &[String]| {
            let headers: Vec<Value> = values
                .iter()
                .map(|v| serde_json::json!({"name": "Authorization", "value": v}))
                .collect();
            serde_json::json!({"rule": {"uuid": uuid, "name": uuid, "components": [
                {"id": "2", "type": "jira.issue.outgoing.webhook",
                 "value": {"url": "u", "headers": headers}}]}})
        };
        let rules = [
            rule("a", &[format!("Basic {}", basic("svc@x.io", &old))]),
            // Already current, but a raw copy of the old token stays.
            rule(
                "b",
                &[
                    format!("Basic {}", basic("svc@x.io", new.expose())),
                    format!("Bearer {old}"),
                ],
            ),
        ];
        let selector = Selector::new("svc@x.io", vec![]);
        let (mut census, mut prepared, mut outcomes) = (Census::default(), vec![], vec![]);
        for envelope in rules {
            census.note(&envelope["rule"], &selector);
            match prepare(envelope, &selector, &new) {
                Ok(p) => prepared.extend(p),
                Err(o) => outcomes.push(o),
            }
        }
        census.flag(&prepared, &mut outcomes);
        assert!(
            matches!(&outcomes[..], [Outcome::LeftAlone { uuid, .. }] if uuid == "b"),
            "{outcomes:?}"
        );
    }

    #[test]
    fn the_final_check_sees_an_old_token_pasted_back_in_any_form() {
        let fake = |tag: &str| format!("FAKE-{tag}-{}", uuid::Uuid::new_v4().simple());
        let (old, new) = (fake("old"), Token::new(fake("new")));
        let basic = Credential::new("svc@x.io", new.clone()).basic_value();
        let rule = |extra: Option<String>| {
            let mut headers = vec![
                serde_json::json!({"name": "Authorization", "value": format!("Basic {basic}")}),
            ];
            headers.extend(extra.map(|v| serde_json::json!({"name": "X-Fallback", "value": v})));
            serde_json::json!({"uuid": "r", "name": "R", "components": [
                {"id": "2", "type": "jira.issue.outgoing.webhook",
                 "value": {"url": "u", "headers": headers}}]})
        };
        let selector = Selector::new("svc@x.io", vec![]);
        let olds: BTreeSet<Fingerprint> = [Token::new(old.clone()).identity()].into();
        assert_eq!(still_rotated(&rule(None), &selector, &new, &olds), Ok(()));
        let back = still_rotated(&rule(Some(format!("Bearer {old}"))), &selector, &new, &olds);
        assert!(back.is_err_and(|e| e.contains("old token again")));
    }

    #[test]
    fn another_rules_old_token_in_a_rule_being_rewritten_stops_that_rewrite() {
        let t1 = format!("FAKE-t1-{}", uuid::Uuid::new_v4().simple());
        let t2 = format!("FAKE-t2-{}", uuid::Uuid::new_v4().simple());
        let new = Token::new(format!("FAKE-new-{}", uuid::Uuid::new_v4().simple()));
        let basic = |t: &str| Credential::new("svc@x.io", Token::new(t)).basic_value();
        let rule = |uuid: &str, headers: serde_json::Value| {
            serde_json::json!({"rule": {"uuid": uuid, "name": uuid, "components": [
                {"id": "2", "type": "jira.issue.outgoing.webhook",
                 "value": {"url": "u", "headers": headers}}]}})
        };
        let a = rule(
            "a",
            serde_json::json!([
            {"name": "Authorization", "value": format!("Basic {}", basic(&t1))},
            {"name": "X-Other", "value": format!("Bearer {t2}")}]),
        );
        let b = rule(
            "b",
            serde_json::json!([
            {"name": "Authorization", "value": format!("Basic {}", basic(&t2))}]),
        );
        let selector = Selector::new("svc@x.io", vec![]);
        let (mut copies, mut prepared, mut outcomes) = (Census::default(), vec![], vec![]);
        for envelope in [a, b] {
            copies.note(&envelope["rule"], &selector);
            prepared.extend(prepare(envelope, &selector, &new).unwrap());
        }
        assert_eq!(prepared.len(), 2);
        let dropped = copies.flag(&prepared, &mut outcomes);
        assert_eq!(
            dropped.into_iter().collect::<Vec<_>>(),
            vec!["a".to_string()]
        );
        assert!(matches!(&outcomes[..], [Outcome::LeftAlone { uuid, .. }] if uuid == "a"));
    }

    #[test]
    fn a_planned_rule_is_rewritten_only_at_the_planned_places() {
        let fake = |tag: &str| format!("FAKE-{tag}-{}", uuid::Uuid::new_v4().simple());
        let (t1, t2) = (fake("t1"), fake("t2"));
        let new = Token::new(fake("new"));
        let basic = |t: &str| {
            format!(
                "Basic {}",
                Credential::new("svc@x.io", Token::new(t)).basic_value()
            )
        };
        let rule = |values: &[String]| {
            let headers: Vec<Value> = values
                .iter()
                .map(|v| serde_json::json!({"name": "Authorization", "value": v}))
                .collect();
            serde_json::json!({"rule": {"uuid": "r", "name": "R", "components": [
                {"id": "2", "type": "jira.issue.outgoing.webhook",
                 "value": {"url": "u", "headers": headers}}]}})
        };
        // The plan was made with --fingerprint t1: only header 0.
        let planned_rule = rule(&[basic(&t1), basic(&t2)]);
        let selector = Selector::new("svc@x.io", vec![Fingerprint::of(&t1).to_string()]);
        let changes = match plan::plan_rule(&planned_rule["rule"], &selector, Some(&new)) {
            RuleDecision::Rewrite(f) => plan::planned_changes(&f),
            other => panic!("{other:?}"),
        };
        assert_eq!(changes.len(), 1);

        let p = prepare_planned(
            planned_rule,
            &Selector::new("svc@x.io", vec![]),
            &changes,
            &new,
        )
        .unwrap()
        .unwrap();
        let pointers: Vec<&str> = p.findings.iter().map(|f| f.pointer.as_str()).collect();
        assert_eq!(pointers, ["/components/0/value/headers/0/value"]);
        assert_eq!(
            p.after["components"][0]["value"]["headers"][1]["value"],
            basic(&t2)
        );

        let left_alone = |envelope: Value, changes: &[PlannedChange]| match prepare_planned(
            envelope,
            &Selector::new("svc@x.io", vec![]),
            changes,
            &new,
        ) {
            Err(Outcome::LeftAlone { reason, .. }) => reason,
            other => panic!("expected the rule left alone, got {other:?}"),
        };
        // Since the plan, the old token was added at a place the plan does not list.
        let added = rule(&[basic(&t1), basic(&t2), basic(&t1)]);
        let reason = left_alone(added, &changes);
        assert!(reason.contains("headers/2/value"), "{reason}");
        assert!(reason.contains("does not list"), "{reason}");
        // A planned place no longer holds the planned old token (the other one still does).
        let mut two = changes.clone();
        two.push(PlannedChange {
            pointer: "/components/0/value/headers/1/value".into(),
            ..changes[0].clone()
        });
        let reason = left_alone(rule(&[basic(&t1), basic(&t2)]), &two);
        assert!(
            reason.contains("no longer at /components/0/value/headers/1/value"),
            "{reason}"
        );
        // Gone everywhere: nothing of the plan's left to do.
        let gone = rule(&[basic(&t2), basic(&t2)]);
        assert!(
            prepare_planned(gone, &Selector::new("svc@x.io", vec![]), &changes, &new)
                .unwrap()
                .is_none()
        );
    }
}
