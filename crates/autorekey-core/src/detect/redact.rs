//! Redaction by the detector's own findings: every literal credential it finds in a rule,
//! or in a rule's name, replaced by `<user · fingerprint>`.
//!
//! It lives beside the detector, not in the planner, because everything that shows a rule
//! needs it (the client's rule summaries, the scan inventory, the plan's diffs) and none of
//! them should have to depend on the planner for it: the planner builds on this, not the
//! other way round.

use serde_json::Value;

use super::{detect, Finding, Status};

/// A copy of `rule` in which every literal credential the detector finds is replaced by
/// [`Finding::redacted_value`]. Strings the detector does not flag stay as they are.
pub fn redact_literals(rule: &Value) -> Value {
    let mut findings: Vec<Finding> = detect(rule)
        .into_iter()
        .filter(|f| f.status == Status::Literal && f.span.is_some())
        .collect();
    // Per string, from the last span to the first, so earlier spans stay valid.
    findings.sort_by(|a, b| {
        let start = |f: &Finding| f.span.as_ref().map_or(0, |s| s.start);
        (&a.pointer, std::cmp::Reverse(start(a))).cmp(&(&b.pointer, std::cmp::Reverse(start(b))))
    });
    let mut out = rule.clone();
    for f in &findings {
        if let (Some(Value::String(text)), Some(span)) = (out.pointer_mut(&f.pointer), &f.span) {
            if text.get(span.clone()).is_some() {
                text.replace_range(span.clone(), &f.redacted_value());
            }
        }
    }
    out
}

/// A rule's name with every credential the detector finds in it replaced by
/// `<user · fingerprint>`. Names are typed by anyone who can edit a rule, and they reach
/// tables, prompts, summaries, journals and plan files: a token pasted into one must not
/// ride along. Only what the detector recognises is replaced (not the plan diff's masking
/// of secret-sounding keys), so an ordinary name such as "Auth: refresh Jira" stays readable.
pub fn redacted_name(name: &str) -> String {
    let redacted = redact_literals(&serde_json::json!({ "name": name }));
    redacted["name"].as_str().unwrap_or_default().to_owned()
}

/// Every literal secret the detector finds in `rules`, as it may be echoed back: the token
/// itself, the text that holds it in the rule (a Basic value as the rule spells it, with
/// its line ends, spare bits or escapes) and, for credentials that name a user, their
/// canonical Basic value. Longest first, so a token inside a Basic value never leaves a
/// piece of the other showing.
pub fn secret_forms(rules: &[&Value]) -> Vec<String> {
    let mut forms: Vec<String> = rules
        .iter()
        .flat_map(|rule| detect(rule).into_iter().map(move |f| (*rule, f)))
        .filter_map(|(rule, f)| {
            let token = f.token.as_ref()?.expose().to_string();
            let as_written = rule
                .pointer(&f.pointer)
                .and_then(Value::as_str)
                .zip(f.span.clone())
                .and_then(|(text, span)| text.get(span))
                .map(str::to_string);
            let canonical = f.credential().map(|c| c.basic_value());
            Some(std::iter::once(token).chain(as_written).chain(canonical))
        })
        .flatten()
        .filter(|form| form.len() >= 4)
        .collect();
    forms.sort_by_key(|f| std::cmp::Reverse(f.len()));
    forms.dedup();
    forms
}

/// [`secret_forms`] worth masking in text about *other* things (another rule's error, a
/// rule's own name): forms of 8 characters or more only. A short password (`pass`, `1234`)
/// would otherwise mask pieces of ordinary words and ids, and an API token is far longer.
pub fn masking_forms(rules: &[&Value]) -> Vec<String> {
    let mut forms = secret_forms(rules);
    forms.retain(|form| form.len() >= 8);
    forms
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::{Credential, Fingerprint, Token};

    /// Long enough to be Atlassian-shaped, so its fingerprint is the plain one.
    fn fake_token() -> String {
        let part = || uuid::Uuid::new_v4().simple().to_string();
        format!("ATATT3xFfGF0{}{}", part(), part())
    }

    #[test]
    fn a_token_in_a_name_is_replaced_and_an_ordinary_name_kept() {
        let token = fake_token();
        let basic = Credential::new("svc@acme.example", Token::new(&token)).basic_value();
        let shown = redacted_name(&format!("Sync (Basic {basic}) and {token}"));
        let fp = Fingerprint::of(&token);
        assert!(
            !shown.contains(&token) && !shown.contains(&basic),
            "{shown}"
        );
        assert!(
            shown.contains(&format!("<svc@acme.example · {fp}>")),
            "{shown}"
        );
        assert_eq!(
            redacted_name("Auth: refresh Jira token"),
            "Auth: refresh Jira token"
        );
    }

    #[test]
    fn a_value_spelled_otherwise_is_a_secret_form_as_the_rule_writes_it() {
        let (_, spare) = crate::detect::spellings::spare_bits("svc@acme.example", "forms");
        let json_body = crate::detect::spellings::json_escaped(&format!("Basic {spare}"));
        for text in [format!("Basic {spare}"), json_body] {
            let rule = serde_json::json!({"name": "n", "description": text});
            let as_written = &text[text.find("asic ").unwrap() + 5..];
            assert!(
                secret_forms(&[&rule]).iter().any(|f| f == as_written),
                "{text}"
            );
        }
    }

    #[test]
    fn two_credentials_in_one_string_are_both_replaced() {
        let (a, b) = (fake_token(), fake_token());
        let rule = serde_json::json!({"name": "n", "description": format!("{a} then {b}")});
        let text = redact_literals(&rule)["description"].to_string();
        assert!(!text.contains(&a) && !text.contains(&b), "{text}");
        assert_eq!(rule["name"], "n");
    }
}
