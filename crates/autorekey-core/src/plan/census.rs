//! The census: what reading every rule showed beyond the rewrites, and the half-rotation
//! guard that acts on it.
//!
//! Noted rule by rule as the [`super::Planner`] reads them, judged once every rule is read
//! (an old token is known only when every rewrite is): a rule must never be left half
//! rotated, holding an old token in a form the rotation does not rewrite while the summary
//! says "revoke". Pure, like the rest of [`super`].

use std::collections::{BTreeMap, BTreeSet, HashSet};

use crate::detect::{Finding, Status};
use crate::outcome::{Kind, LeftAlone, Outcome};
use crate::rule::Rule;
use crate::secret::Fingerprint;

use super::{Rewrite, Selector};

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
    /// Every rule's unrewritten literal tokens, kept for the summary after [`Census::guard`]:
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
pub type RuleCopies = (String, String, Vec<super::Unrewritable>);

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
    pub fn note(&mut self, rule: &Rule, selector: &Selector) {
        let findings = crate::detect::detect(rule.body());
        let mut tokens: BTreeMap<Fingerprint, BTreeSet<Fingerprint>> = BTreeMap::new();
        for f in &findings {
            if let Some(user) = f.user.as_ref().filter(|_| f.status == Status::Literal) {
                self.users.insert(user.to_ascii_lowercase());
            }
            let Some(identity) = super::token_identity(f) else {
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
        if findings
            .iter()
            .any(|f| may_hide_account(f, &selector.account))
        {
            self.not_inspectable += 1;
        }
        if findings.iter().any(|f| f.status == Status::Masked)
            || !crate::detect::masked_pointers(rule.body()).is_empty()
        {
            self.masked += 1;
        }
        let copies = super::unrewritable(&findings, selector);
        if !copies.is_empty() {
            let (uuid, name) = (rule.uuid().to_string(), rule.name().to_string());
            self.seen.push((uuid, name, copies));
        }
    }

    /// The half-rotation guard. Report every rule that holds an old token of `rewrites` in
    /// a form it does not rewrite, including rules that are themselves being rewritten
    /// (their own other old tokens were checked by `plan_rule`; this catches another rule's)
    /// and rules already holding the new token (their leftover copy would break on
    /// revoking). Other rules already reported keep their first reason. Returns the uuids
    /// to drop from the rewrites.
    pub fn guard(&self, rewrites: &[Rewrite], outcomes: &mut Vec<Outcome>) -> HashSet<String> {
        let old: HashSet<_> = rewrites
            .iter()
            .flat_map(|p| p.findings.iter().filter_map(super::token_identity))
            .collect();
        let mut dropped = HashSet::new();
        for (uuid, name, copies) in &self.seen {
            let hits: Vec<String> = copies
                .iter()
                .filter(|copy| old.contains(&copy.identity))
                .map(|copy| format!("{} ({})", copy.pointer, copy.shown))
                .collect();
            let at = outcomes.iter().position(|o| o.uuid() == uuid);
            let current = at.is_some_and(|i| outcomes[i].kind == Kind::AlreadyCurrent);
            if hits.is_empty() || (at.is_some() && !current) {
                continue;
            }
            dropped.insert(uuid.clone());
            let why = LeftAlone::OldTokenElsewhere { pointers: hits };
            let left = Outcome::new(uuid, name, Kind::LeftAlone { why });
            match at {
                Some(i) => outcomes[i] = left,
                None => outcomes.push(left),
            }
        }
        dropped
    }
}

/// A place autorekey cannot read that may hold the account's token, other than a masked
/// value: the one notion ([`Finding::may_hide_token_of`]) that `scan` shares. Masked
/// values are counted apart ([`Census::masked`]): [`super::plan_rule`] already leaves their
/// rules alone, which keeps the old token.
fn may_hide_account(f: &Finding, account: &str) -> bool {
    f.status != Status::Masked && f.may_hide_token_of(Some(account))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::spellings::{canonical, fake_token};
    use serde_json::json;

    fn rule_sending(url: &str, value: &str) -> Rule {
        Rule::from_body(json!({"uuid": "u", "name": "n", "components": [{"id": "2",
            "type": "jira.issue.outgoing.webhook", "value": {"url": url,
            "headers": [{"name": "Authorization", "value": value}]}}]}))
    }

    #[test]
    fn a_basic_value_that_names_no_account_may_hide_the_accounts_token() {
        let b64 = canonical("svc@x.io", &fake_token("t"));
        let undecodable = format!("Basic {}.{}", &b64[..8], &b64[8..]);
        let bot = format!("Basic {}", canonical("deploy-bot", &fake_token("t")));
        let selector = Selector::new("svc@x.io", vec![]);
        for (url, value, hides) in [
            ("https://acme.atlassian.net/rest", &undecodable, true),
            ("{{baseUrl}}/rest", &bot, true),
            ("https://ci.example.org/job", &undecodable, false),
            ("https://ci.example.org/job", &bot, false),
        ] {
            let mut census = Census::default();
            census.note(&rule_sending(url, value), &selector);
            assert_eq!(census.not_inspectable, usize::from(hides), "{url} {value}");
        }
    }
}
