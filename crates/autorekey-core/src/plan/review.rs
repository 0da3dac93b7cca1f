//! Review groups: the rewrites of a rotation that make the same change, so a person answers
//! once for all of them.
//!
//! Three hundred rules holding one service account's token in the same header are one
//! decision, not three hundred: a group is the rewrites that replace the same old tokens
//! (by identity, never shown) with the same new credential in places of the same shape
//! (where in a component, which header, in which encoding). Anything that differs makes
//! another group, and a rewrite rebuilt on a rule that changed since a saved plan
//! (`Rewrite::rebuilt`) is always a group of its own: it is shown and asked about alone.
//!
//! Pure, like the rest of [`crate::plan`]: the asking is `commands::session`'s. The label
//! is what the question shows; it names the account, fingerprints and places, never a
//! secret.

use crate::detect::{Encoding, Finding, Location};
use crate::secret::{Fingerprint, Token};

use super::{token_identity, Rewrite, Selector};

/// Rewrites that make one change, in the order they came (by name).
#[derive(Debug)]
pub struct Group {
    /// What the change is: `Authorization header, svc@corp.example 3f9c… → 7a31…`.
    pub label: String,
    pub rewrites: Vec<Rewrite>,
}

/// What makes two rewrites "the same change".
#[derive(PartialEq, Eq)]
struct Key {
    /// Each place: its shape and the old token's identity, sorted.
    places: Vec<(Shape, String, Option<Fingerprint>)>,
    rebuilt: bool,
}

/// Where in a rule a credential sits, as a person names it.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Shape {
    location: &'static str,
    header: Option<String>,
    encoding: &'static str,
    /// The rewrite ticks the header's Hidden box (`plan::hide_rewritten_headers`): the
    /// diff shows it, so it is part of the change.
    ticks_hidden: bool,
}

/// Group `rewrites` (each group in the order of its first rewrite; each keeps its
/// rewrites' order).
pub fn groups(rewrites: Vec<Rewrite>, selector: &Selector, new_token: &Token) -> Vec<Group> {
    let mut keyed: Vec<(Key, Group)> = Vec::new();
    for r in rewrites {
        let key = key_of(&r);
        match keyed.iter_mut().find(|(k, _)| !key.rebuilt && *k == key) {
            Some((_, group)) => group.rewrites.push(r),
            None => {
                let label = label(&r.findings, selector, new_token);
                let group = Group {
                    label,
                    rewrites: vec![r],
                };
                keyed.push((key, group));
            }
        }
    }
    keyed.into_iter().map(|(_, g)| g).collect()
}

fn key_of(r: &Rewrite) -> Key {
    let mut places: Vec<_> = r
        .findings
        .iter()
        .map(|f| {
            let user = f.user.as_deref().unwrap_or("").to_ascii_lowercase();
            (shape(f), user, token_identity(f))
        })
        .collect();
    places.sort();
    Key {
        places,
        rebuilt: r.rebuilt,
    }
}

fn shape(f: &Finding) -> Shape {
    let location = match f.location {
        Location::Header => "header",
        Location::Url => "URL",
        Location::Body => "request body",
        Location::Variable => "variable",
        Location::LookupTable => "lookup table",
        Location::WebhookToken => "webhook token",
        Location::Field => "field",
    };
    let encoding = match f.encoding {
        Encoding::Base64Basic => "Basic",
        Encoding::Base64BasicForm => "Basic, form-encoded",
        Encoding::UrlUserinfo => "user:token@",
        Encoding::PlainPair => "user:token",
        Encoding::PlainPairForm => "user:token, form-encoded",
        Encoding::Raw => "token",
        Encoding::None => "",
    };
    Shape {
        location,
        header: f.header_name.clone(),
        encoding,
        ticks_hidden: super::in_authorization_header(f) && !f.hidden,
    }
}

impl Shape {
    fn describe(&self) -> String {
        let place = match (&self.header, self.location) {
            // A rule editor chose the header's name: one printable line, cut, in the one
            // question that approves a whole group.
            (Some(name), "header") => {
                let name: String = crate::printable::printable(name).chars().take(60).collect();
                format!("{name} header")
            }
            (_, location) => location.to_string(),
        };
        let hidden = if self.ticks_hidden {
            ", ticks Hidden"
        } else {
            ""
        };
        match self.encoding {
            "" => place,
            encoding => format!("{place} ({encoding}{hidden})"),
        }
    }
}

/// `Authorization header (Basic), svc@corp.example 3f9c0a1b2c4d → 7a31…`: the places
/// (a count when one shape repeats), the account and old fingerprints, the new one.
fn label(findings: &[Finding], selector: &Selector, new_token: &Token) -> String {
    let mut shapes: Vec<(String, usize)> = Vec::new();
    for f in findings {
        let described = shape(f).describe();
        match shapes.iter_mut().find(|(s, _)| *s == described) {
            Some((_, n)) => *n += 1,
            None => shapes.push((described, 1)),
        }
    }
    let places: Vec<String> = shapes
        .into_iter()
        .map(|(s, n)| if n == 1 { s } else { format!("{s} ×{n}") })
        .collect();
    let mut old: Vec<String> = findings
        .iter()
        .filter_map(Finding::fingerprint)
        .map(|fp| fp.to_string())
        .collect();
    old.sort();
    old.dedup();
    let user = findings
        .iter()
        .find_map(|f| f.user.clone())
        .unwrap_or_else(|| selector.account.clone());
    let new_owner = match selector.new_owner() {
        owner if owner.eq_ignore_ascii_case(&user) => String::new(),
        owner => format!("{owner} "),
    };
    format!(
        "{}, {user} {} → {new_owner}{}",
        places.join(" + "),
        old.join(", "),
        new_token.fingerprint()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rule::Rule;
    use crate::secret::Credential;
    use serde_json::json;

    const USER: &str = "svc@x.io";

    fn token(what: &str) -> String {
        format!("FAKE-{what}-{}", uuid::Uuid::new_v4().simple())
    }

    fn rule(uuid: &str, header: &str, token: &str) -> Rule {
        let basic = Credential::new(USER, Token::new(token)).basic_value();
        Rule::from_envelope(json!({"rule": {"uuid": uuid, "name": uuid, "components": [
            {"id": "2", "type": "jira.issue.outgoing.webhook", "value": {"url": "u",
             "headers": [{"name": header, "value": format!("Basic {basic}")}]}}]}}))
        .unwrap()
    }

    #[test]
    fn a_header_name_a_rule_editor_chose_cannot_forge_a_line_or_colour_in_the_label() {
        let (old, new) = (token("old"), Token::new(token("new")));
        let selector = Selector::new(USER, vec![]);
        let hostile = "X-Auth\r\n\u{1b}[31mFORGED line\u{1b}[0m\u{202e}";
        let mut planner = super::super::Planner::new(&selector, &new);
        for uuid in ["a", "b"] {
            planner.add(rule(uuid, hostile, &old));
        }
        let found = groups(planner.finish().rewrites, &selector, &new);
        assert_eq!(found.len(), 1);
        let label = &found[0].label;
        for bad in ['\n', '\r', '\u{1b}', '\u{202e}'] {
            assert!(!label.contains(bad), "{label:?}");
        }
        assert!(label.contains("X-Auth"), "{label}");
    }

    #[test]
    fn the_same_change_is_one_group_and_any_difference_another() {
        let (old, other, new) = (token("old"), token("other"), Token::new(token("new")));
        let selector = Selector::new(USER, vec![]);
        let mut planner = super::super::Planner::new(&selector, &new);
        for r in [
            rule("a", "Authorization", &old),
            rule("b", "Authorization", &old),
            rule("c", "X-Auth", &old),
            rule("d", "Authorization", &other),
            rule("e", "Authorization", &old),
        ] {
            planner.add(r);
        }
        let mut all = planner.finish().rewrites;
        assert_eq!(all.len(), 5);
        let grouped = groups(all.clone(), &selector, &new);
        let names: Vec<Vec<&str>> = grouped
            .iter()
            .map(|g| g.rewrites.iter().map(Rewrite::name).collect())
            .collect();
        assert_eq!(names, [vec!["a", "b", "e"], vec!["c"], vec!["d"]]);
        let label = &grouped[0].label;
        let old_fp = Token::new(old.clone()).fingerprint();
        assert_eq!(
            *label,
            format!(
                "Authorization header (Basic, ticks Hidden), {USER} {old_fp} → {}",
                new.fingerprint()
            )
        );
        for secret in [old.as_str(), other.as_str(), new.expose()] {
            assert!(!label.contains(secret), "{label}");
        }

        // A rewrite rebuilt on a changed rule is asked about alone.
        all[1].rebuilt = true;
        let grouped = groups(all, &selector, &new);
        assert_eq!(grouped.len(), 4);
        assert_eq!(grouped[0].rewrites.len(), 2);
    }
}
