//! What a fresh read of every rule says about revoking a token of an account: the pure
//! half of `revoke`'s proof (the command reads the rules, this module judges each finding).
//!
//! Why it is shaped so: revoking cannot be undone, so the judgement fails closed. Whatever
//! autorekey cannot see into (a masked value, a smart value, a managed secret) or cannot
//! name the owner of (a raw Atlassian token, a Basic value naming no account) may be the
//! account's token and blocks; only the kept token (`--keep`, by either fingerprint form),
//! other people's credentials and secrets that cannot be an Atlassian credential (a chat
//! webhook's, a Bearer sent to another service) let it through. Each blocker is one
//! printable line naming the rule, ready for the command to list. Whether the token is
//! quiet and not the kept one is [`super::decide`]'s, from the org's facts.

use crate::detect::{self, Location, Scheme, Status};
use crate::printable::printable;

/// What a fresh read of every rule says about revoking a token of an account.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Proof {
    /// Every place that may still need a token of the account other than the kept one.
    pub blockers: Vec<String>,
    /// Some rule holds the kept token.
    pub kept_in_use: bool,
    /// Fingerprints of the account's readable tokens among the blockers.
    pub tokens: std::collections::BTreeSet<String>,
}

/// One proof of all the targets' proofs: every blocker, every token named.
pub fn merged(proofs: &[Proof]) -> Proof {
    let mut all = Proof::default();
    for p in proofs {
        all.blockers.extend(p.blockers.iter().cloned());
        all.tokens.extend(p.tokens.iter().cloned());
        all.kept_in_use |= p.kept_in_use;
    }
    all
}

impl Proof {
    /// Takes in one rule: each of its findings that may need a token of `account` other
    /// than `keep` is a blocker; the kept token in it is noted.
    pub fn rule(&mut self, rule: &crate::rule::Rule, account: &str, keep: Option<&str>) {
        let (name, uuid) = (rule.name(), rule.uuid());
        for f in detect::detect(rule.body()) {
            match doubt(&f, account, keep) {
                Doubt::None => {}
                Doubt::Kept => self.kept_in_use = true,
                Doubt::Blocks(why) => {
                    let theirs = f.status == Status::Literal
                        && f.user
                            .as_deref()
                            .is_some_and(|u| u.trim().eq_ignore_ascii_case(account));
                    if let Some(fp) = f.fingerprint().filter(|_| theirs) {
                        self.tokens.insert(fp.to_string());
                    }
                    self.blockers.push(format!(
                        "\"{}\" ({}): {}",
                        printable(name),
                        printable(uuid),
                        printable(&why)
                    ))
                }
            }
        }
    }
}

enum Doubt {
    None,
    Kept,
    Blocks(String),
}

/// Whether one finding may need a token of `account` other than `keep`. Fails closed:
/// whatever autorekey cannot see into (masked, computed, a managed secret) or cannot say the
/// owner of (a token with no user) may be the account's token.
fn doubt(f: &detect::Finding, account: &str, keep: Option<&str>) -> Doubt {
    if f.location == Location::WebhookToken {
        // An incoming webhook's own secret, not an API token.
        return Doubt::None;
    }
    if f.unattributable_basic_to_atlassian() {
        return Doubt::Blocks(format!(
            "holds {} at {}, a Basic value that names no account autorekey can check: it may \
             be a token of {account}",
            f.redacted_value(),
            f.component_path
        ));
    }
    let owner = f.user.as_deref().map(str::trim);
    if owner.is_some_and(|u| !u.eq_ignore_ascii_case(account)) {
        return Doubt::None;
    }
    let at = &f.component_path;
    match f.status {
        Status::Literal => {
            // The kept token by either form: a rule sending it to another host shows it
            // keyed, and it is still the token kept.
            let forms = [f.fingerprint(), f.token.as_ref().map(|t| t.fingerprint())];
            let kept = forms
                .iter()
                .flatten()
                .any(|fp| keep.is_some_and(|k| fp.matches_prefix(k)));
            match (kept, owner) {
                (true, _) => Doubt::Kept,
                (false, Some(_)) => Doubt::Blocks(format!("holds {} at {at}", f.redacted_value())),
                // A chat webhook URL's secret (Slack, Teams, Discord) is no Atlassian token.
                (false, None) if f.scheme == Scheme::Other(detect::WEBHOOK_SCHEME.into()) => {
                    Doubt::None
                }
                // Nor is a secret that cannot be an account's credential (a Bearer or key sent
                // to another service, a query secret): blocking on it would refuse every revoke
                // on a site whose rules also call, say, GitHub, while rotate advised it.
                (false, None) if !f.may_be_atlassian_credential() => Doubt::None,
                (false, None) => {
                    let token = f.token.as_ref().map(|t| t.expose());
                    let what = if token.is_some_and(detect::looks_like_atlassian_token) {
                        "a raw Atlassian token"
                    } else {
                        "a credential whose owner is not written beside it"
                    };
                    Doubt::Blocks(format!(
                        "holds {} at {at}, {what}: it may be a token of {account}",
                        f.redacted_value()
                    ))
                }
            }
        }
        Status::Masked => Doubt::Blocks(format!(
            "a masked value at {at} may be a token of {account}"
        )),
        Status::Dynamic => Doubt::Blocks(format!(
            "a smart value at {at} is computed when the rule runs and may be a token of {account}"
        )),
        Status::SecretRef => Doubt::Blocks(format!(
            "a managed secret at {at} cannot be read and may be a token of {account}"
        )),
        // An author's placeholder is no token of anyone's.
        Status::Placeholder => Doubt::None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::{Credential, Token};
    use serde_json::json;

    const ALICE: &str = "alice@acme.example";

    fn fake() -> String {
        format!("FAKE-{}", uuid::Uuid::new_v4().simple())
    }

    fn rule(headers: &[&str]) -> serde_json::Value {
        let headers: Vec<_> = headers
            .iter()
            .enumerate()
            .map(|(i, v)| json!({"id": format!("h{i}"), "name": "Authorization", "value": v}))
            .collect();
        json!({"name": "r", "uuid": "u-1", "components": [{"id": "2", "component": "ACTION",
            "type": "jira.issue.outgoing.webhook",
            "value": {"url": "{{baseUrl}}/rest/api/3/issue", "method": "POST", "headers": headers}}]})
    }

    fn basic(user: &str, token: &str) -> String {
        format!(
            "Basic {}",
            Credential::new(user, Token::new(token)).basic_value()
        )
    }

    fn proof(rule: &serde_json::Value, keep: Option<&str>) -> Proof {
        let mut p = Proof::default();
        p.rule(&crate::rule::Rule::from_body(rule.clone()), ALICE, keep);
        p
    }

    #[test]
    fn only_the_kept_token_and_other_peoples_credentials_let_a_revoke_through() {
        let (old, new, bobs) = (fake(), fake(), fake());
        let keep = Token::new(new.as_str()).fingerprint().to_string();
        let clean = proof(
            &rule(&[&basic(ALICE, &new), &basic("bob@acme.example", &bobs)]),
            Some(&keep),
        );
        assert_eq!(
            clean,
            Proof {
                blockers: vec![],
                kept_in_use: true,
                tokens: Default::default(),
            }
        );
        assert_eq!(
            proof(&rule(&[&basic(ALICE, &old)]), Some(&keep))
                .blockers
                .len(),
            1
        );
        assert_eq!(proof(&rule(&[&basic(ALICE, &new)]), None).blockers.len(), 1);
    }

    #[test]
    fn whatever_cannot_be_seen_into_or_has_no_owner_blocks_a_revoke() {
        let keep = Token::new(fake()).fingerprint().to_string();
        for (value, what) in [
            ("***".to_string(), "masked"),
            ("Basic {{secrets.jira}}".to_string(), "smart value"),
            (format!("Bearer {}", fake()), "owner is not written"),
        ] {
            let p = proof(&rule(&[&value]), Some(&keep));
            assert_eq!(p.blockers.len(), 1, "{what}: {p:?}");
            assert!(p.blockers[0].contains(what), "{what}: {p:?}");
        }
    }

    /// A Bearer value in a variable shows a keyed fingerprint (its destination is not
    /// known), yet it may be the account's token: it blocks, as it did when it showed plain.
    #[test]
    fn an_ownerless_credential_in_a_variable_blocks_a_revoke() {
        let keep = Token::new(fake()).fingerprint().to_string();
        let mut variable = rule(&[]);
        variable["components"][0] = json!({"id": "3", "component": "ACTION",
            "type": "jira.create.variable", "value": {"name": {"value": "auth"},
            "query": {"value": format!("Bearer {}", fake())}}});
        let found = detect::detect(&variable);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].fingerprint().unwrap().is_keyed());
        assert_eq!(proof(&variable, Some(&keep)).blockers.len(), 1);
    }

    #[test]
    fn a_lenient_spelling_of_the_old_token_or_a_basic_value_naming_no_account_blocks_a_revoke() {
        use crate::detect::spellings;
        let keep = Token::new(fake()).fingerprint().to_string();
        let (old, spare) = spellings::spare_bits(ALICE, "old");
        let b64 = Credential::new(ALICE, Token::new(fake())).basic_value();
        for (value, what) in [
            (format!("Basic {spare}"), "alice"),
            (format!("Basic {}", spellings::echoed(ALICE, &old)), "alice"),
            (
                format!("Basic {}.{}", &b64[..8], &b64[8..]),
                "names no account",
            ),
            (basic("deploy-bot", &fake()), "names no account"),
        ] {
            let p = proof(&rule(&[&value]), Some(&keep));
            assert_eq!(p.blockers.len(), 1, "{what}: {p:?}");
            assert!(p.blockers[0].contains(what), "{what}: {p:?}");
        }
        let kept = Token::new(old.as_str()).fingerprint().to_string();
        let p = proof(&rule(&[&format!("Basic {spare}")]), Some(&kept));
        assert!(p.kept_in_use && p.blockers.is_empty(), "{p:?}");
    }

    #[test]
    fn a_raw_atlassian_token_blocks_a_revoke_and_a_chat_webhook_secret_does_not() {
        let keep = Token::new(fake()).fingerprint().to_string();
        let raw = format!("ATATT3xFfGF0{}", uuid::Uuid::new_v4().simple());
        let p = proof(&rule(&[&format!("Bearer {raw}")]), Some(&keep));
        assert_eq!(p.blockers.len(), 1, "{p:?}");
        assert!(p.blockers[0].contains("raw Atlassian token"), "{p:?}");

        let mut slack = rule(&[]);
        slack["components"][0]["value"]["url"] = format!(
            "https://hooks.slack.com/services/T0AB12CD3/B0AB12CD3/{}",
            fake()
        )
        .into();
        let found = detect::detect(&slack);
        assert!(!found.is_empty(), "the webhook URL is a finding");
        assert_eq!(proof(&slack, Some(&keep)), Proof::default());
    }

    #[test]
    fn another_services_bearer_does_not_block_a_revoke_and_one_sent_to_the_site_does() {
        let keep = Token::new(fake()).fingerprint().to_string();
        let bearer = format!("Bearer {}", fake());
        let mut github = rule(&[&bearer]);
        github["components"][0]["value"]["url"] = "https://api.github.com/repos/x/y".into();
        assert_eq!(proof(&github, Some(&keep)), Proof::default());
        let site = proof(&rule(&[&bearer]), Some(&keep));
        assert_eq!(site.blockers.len(), 1, "{site:?}");
    }

    #[test]
    fn the_proof_of_several_sites_holds_every_blocker_and_token_and_any_kept_use() {
        let (old, new) = (fake(), fake());
        let keep = Token::new(new.as_str()).fingerprint().to_string();
        let one = proof(&rule(&[&basic(ALICE, &new)]), Some(&keep));
        let two = proof(&rule(&[&basic(ALICE, &old), "***"]), Some(&keep));
        let all = merged(&[one.clone(), two.clone()]);
        assert!(all.kept_in_use, "{all:?}");
        assert_eq!(all.blockers, two.blockers);
        assert_eq!(all.tokens, two.tokens);
        assert_eq!(all.tokens.len(), 1, "the old token, named: {all:?}");
        assert_eq!(merged(&[]), Proof::default());
    }
}
