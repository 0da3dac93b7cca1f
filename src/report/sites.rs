//! The closing summary of a rotation across several sites and products: each target's
//! counts, and ONE verdict decided from all of them together.
//!
//! Why shaped so: the verdict is [`crate::verdict::advise`] over one summary merged from
//! every target's (outcomes, old tokens, confirmations, and a rule list complete only if
//! every target's was), so it can say "revoke" only when every site and product was read
//! clean and complete and every rule there was rotated; nothing is decided twice. What a
//! person needs on top is where it was held back: each target's own advice names the pairs
//! that block it ([`SitesSummary::blocking`]). Rule names in the merged list carry their
//! target, since two sites may hold rules of one name.

use std::fmt::Write as _;

use serde_json::{json, Value};

use crate::backup::TargetRef;
use crate::outcome::Outcome;
use crate::verdict::Advice;

use super::rotation::{counted, rotation_value};
use super::RotationSummary;

/// Every target's summary, in the run's order, and the one they make together.
#[derive(Debug)]
pub struct SitesSummary {
    pub targets: Vec<(TargetRef, RotationSummary)>,
    pub merged: RotationSummary,
}

impl SitesSummary {
    /// Merge the targets' summaries (non-empty) into the one the verdict weighs.
    pub fn new(targets: Vec<(TargetRef, RotationSummary)>) -> SitesSummary {
        // The first target's summary, its outcomes named with it; then every other one's.
        let (first, rest) = targets.split_first().expect("at least one target");
        let mut merged = RotationSummary {
            outcomes: Vec::new(),
            targets: targets.len(),
            ..first.1.clone()
        };
        let mut outcomes: Vec<Outcome> = first
            .1
            .outcomes
            .iter()
            .map(|o| tagged(o, &first.0))
            .collect();
        for (target, s) in rest {
            merged
                .old_fingerprints
                .extend(s.old_fingerprints.iter().cloned());
            merged.rules_read += s.rules_read;
            merged.would_rotate.extend(s.would_rotate.iter().cloned());
            merged.backup_dir = merged.backup_dir.or_else(|| s.backup_dir.clone());
            merged.list_complete &= s.list_complete;
            merged.not_inspectable += s.not_inspectable;
            merged
                .tokens_in_rules
                .extend(s.tokens_in_rules.iter().cloned());
            merged.login_refused |= s.login_refused;
            for c in &s.confirmed {
                if !merged
                    .confirmed
                    .iter()
                    .any(|m| m.fingerprint == c.fingerprint)
                {
                    merged.confirmed.push(c.clone());
                }
            }
            merged.unconfirmed.extend(s.unconfirmed.iter().cloned());
            outcomes.extend(s.outcomes.iter().map(|o| tagged(o, target)));
        }
        merged.add(outcomes);
        SitesSummary { targets, merged }
    }

    /// The targets whose own read or rules hold the revoke back, with their advice.
    pub fn blocking(&self) -> Vec<(&TargetRef, Advice)> {
        self.targets
            .iter()
            .map(|(t, s)| (t, s.advice()))
            .filter(|(_, advice)| blocks(advice))
            .collect()
    }

    /// `a · jira (why), b · confluence (why)`: where the verdict was held back.
    pub fn blocking_text(&self) -> Option<String> {
        let blocking = self.blocking();
        let said: Vec<String> = blocking
            .iter()
            .map(|(t, advice)| format!("{} ({})", t.label(), why(advice)))
            .collect();
        (!said.is_empty()).then(|| said.join("; "))
    }
}

/// An outcome named with its target: two sites may hold rules of the same name.
fn tagged(o: &Outcome, target: &TargetRef) -> Outcome {
    Outcome::new(
        o.uuid(),
        format!("{} [{}]", o.name(), target.label()),
        o.kind.clone(),
    )
}

/// Advice of one target that keeps the whole run from saying "revoke".
fn blocks(advice: &Advice) -> bool {
    matches!(
        advice,
        Advice::StillInUse { .. }
            | Advice::NotInspectable { .. }
            | Advice::Unconfirmed { .. }
            | Advice::ListIncomplete
    )
}

fn why(advice: &Advice) -> String {
    let count = super::count;
    match advice {
        Advice::StillInUse { rules } => {
            format!(
                "{} you",
                count(*rules, "rule still needs", "rules still need")
            )
        }
        Advice::NotInspectable { rules } => format!(
            "{} a credential autorekey cannot read",
            count(*rules, "rule sends", "rules send")
        ),
        Advice::Unconfirmed { tokens } => format!(
            "{} not confirmed as the account's token",
            count(*tokens, "value", "values")
        ),
        Advice::ListIncomplete => "its rule list could not be confirmed complete".into(),
        other => other.as_str().replace('_', " "),
    }
}

/// What each target covered, then the one summary and verdict.
pub fn render_sites(s: &SitesSummary) -> String {
    let mut out = format!("Sites and products covered ({}):\n", s.targets.len());
    for (target, t) in &s.targets {
        let counts: Vec<String> = counted(t)
            .into_iter()
            .map(|(label, n)| format!("{label} {n}"))
            .collect();
        let to_rotate = match t.wrote_nothing_by_design() {
            true => format!("; to rotate {}", t.would_rotate.len()),
            false => String::new(),
        };
        let _ = writeln!(
            out,
            "  {}: {} read, rule list {}{to_rotate}{}",
            crate::printable::printable(&target.label()),
            crate::words::count(t.rules_read, "rule", "rules"),
            if t.list_complete {
                "complete"
            } else {
                "INCOMPLETE"
            },
            match counts.is_empty() {
                true => String::new(),
                false => format!("; {}", counts.join(", ")),
            }
        );
    }
    if let Some(blocking) = s.blocking_text() {
        let _ = writeln!(
            out,
            "Held back by: {}",
            crate::printable::printable(&blocking)
        );
    }
    out.push('\n');
    out.push_str(&super::render_rotation(&s.merged));
    out
}

/// One JSON object: the merged summary and its one verdict, each target's own summary
/// under `targets`, and the targets that hold the revoke back under `blocked_by`.
pub fn render_sites_json(s: &SitesSummary) -> String {
    let mut value = rotation_value(&s.merged);
    let targets: Vec<Value> = s
        .targets
        .iter()
        .map(|(t, summary)| {
            let mut v = rotation_value(summary);
            if let Value::Object(map) = &mut v {
                map.shift_insert(0, "site".into(), json!(t.site));
                map.shift_insert(1, "product".into(), json!(t.product));
            }
            v
        })
        .collect();
    let blocked: Vec<Value> = s
        .blocking()
        .iter()
        .map(|(t, advice)| json!({"site": t.site, "product": t.product, "advice": advice.as_str(), "why": why(advice)}))
        .collect();
    if let Value::Object(map) = &mut value {
        map.insert("targets".into(), Value::Array(targets));
        map.insert("blocked_by".into(), Value::Array(blocked));
    }
    crate::printable::json_document(&value)
}

/// The Markdown report: what each target covered, then the one report.
pub fn render_sites_markdown(s: &SitesSummary) -> String {
    let mut out = String::from("Sites and products covered:\n\n");
    for (target, t) in &s.targets {
        let _ = writeln!(
            out,
            "- `{}`: {} read, rule list {}",
            crate::printable::printable(&target.label()).replace('`', "'"),
            crate::words::count(t.rules_read, "rule", "rules"),
            if t.list_complete {
                "complete"
            } else {
                "incomplete"
            }
        );
    }
    if let Some(blocking) = s.blocking_text() {
        let _ = writeln!(
            out,
            "\nHeld back by: {}",
            crate::printable::printable(&blocking).replace('`', "'")
        );
    }
    out.push('\n');
    out.push_str(&super::markdown::render_rotation(&s.merged));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::{Failure, Kind};
    use crate::plan::Selector;
    use crate::secret::{Fingerprint, Token};

    fn target(site: &str) -> TargetRef {
        TargetRef {
            site: site.into(),
            product: "jira".into(),
        }
    }

    /// One target's summary: `n` rules rotated, its list complete or not.
    fn summary(new: &Token, old: &str, n: usize, list_complete: bool) -> RotationSummary {
        let selector = Selector::new("svc@acme.example", vec![]);
        let mut s = RotationSummary::new(&selector, new, n);
        s.old_fingerprints.insert(old.to_string());
        s.list_complete = list_complete;
        let rotated = Kind::Rotated { places: 1 };
        s.add(
            (1..=n)
                .map(|i| Outcome::new(format!("r{i}"), "Same name", rotated.clone()))
                .collect(),
        );
        s
    }

    #[test]
    fn one_verdict_says_revoke_only_when_every_target_is_clean_and_names_those_that_are_not() {
        let new = Token::new(format!("FAKE-{}", uuid::Uuid::new_v4()));
        let old = Fingerprint::of("FAKE-old").to_string();
        let (a, b) = (target("https://a.example/"), target("https://b.example/"));
        let clean = SitesSummary::new(vec![
            (a.clone(), summary(&new, &old, 2, true)),
            (b.clone(), summary(&new, &old, 1, true)),
        ]);
        assert!(clean.merged.advice().revokes());
        assert_eq!(
            (clean.merged.rules_read, clean.merged.outcomes.len()),
            (3, 3)
        );
        assert!(clean.blocking_text().is_none());
        // Same rule names on two sites: each named with its site.
        let text = render_sites(&clean);
        assert!(
            text.contains("https://a.example · jira: 2 rules read"),
            "{text}"
        );

        let mut failed = summary(&new, &old, 1, true);
        let why = Failure::NeverLanded;
        failed.add(vec![Outcome::new("r9", "Broken", Kind::Failed { why })]);
        let held = SitesSummary::new(vec![
            (a.clone(), summary(&new, &old, 2, false)),
            (b.clone(), failed),
        ]);
        assert!(!held.merged.advice().revokes());
        let said = held.blocking_text().expect("held back");
        assert!(
            said.contains(
                "https://a.example · jira (its rule list could not be confirmed complete)"
            ),
            "{said}"
        );
        assert!(
            said.contains("https://b.example · jira (1 rule still needs you)"),
            "{said}"
        );
        let text = render_sites(&held);
        let one = SitesSummary::new(vec![(b.clone(), summary(&new, &old, 1, true))]);
        assert!(
            render_sites(&one).contains("https://b.example · jira: 1 rule read,"),
            "{}",
            render_sites(&one)
        );
        assert!(
            render_sites_markdown(&one).contains("`: 1 rule read,"),
            "{}",
            render_sites_markdown(&one)
        );
        assert!(
            text.contains("Failed \"Broken [https://b.example · jira]\""),
            "{text}"
        );
        let json: serde_json::Value = serde_json::from_str(&render_sites_json(&held)).unwrap();
        assert_eq!(json["verdict"]["revoke"], false);
        assert_eq!(json["blocked_by"].as_array().map(Vec::len), Some(2));
        assert_eq!(json["targets"][0]["list_complete"], false);
        let markdown = render_sites_markdown(&held);
        assert!(markdown.contains("Held back by: "), "{markdown}");
    }
}
