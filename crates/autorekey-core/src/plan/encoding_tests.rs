//! The rewriter on every spelling and escaped form the detector reads (issue 16): detect,
//! rewrite, detect again, and the new token is where the old one was, in the form the
//! rule needs, with every other byte of the string as it was.

use super::*;
use crate::detect::spellings::{self, canonical, echoed, fake_token, form_encoded, json_escaped};
use serde_json::json;

const USER: &str = "svc@x.io";

/// A rule whose one web request to a relay holds `header` and `body`, and whose variable
/// holds `variable`.
fn rule(header: &str, body: &str, variable: &str) -> Value {
    json!({"uuid": "r1", "name": "t", "components": [
        {"id": "2", "component": "ACTION", "type": "jira.issue.outgoing.webhook",
         "value": {"url": "https://relay.example.org/forward", "method": "POST",
            "headers": [{"name": "Authorization", "value": header}], "customBody": body}},
        {"id": "3", "component": "ACTION", "type": "jira.create.variable",
         "value": {"name": {"type": "FREE", "value": "auth"},
            "query": {"type": "SMART", "value": variable}}}]})
}

/// Rotate [`USER`] in `before` to `new`, check the round trip, and return the rule after.
fn round_trip(before: &Value, old: &str, new: &Token) -> Value {
    let RuleDecision::Rewrite(findings) =
        plan_rule(before, &Selector::new(USER, vec![]), Some(new))
    else {
        panic!("no rewrite of {before}");
    };
    let after = rewrite(before, &findings, new).unwrap();
    let again = detect::detect(&after);
    for f in &findings {
        let span = f.span.clone().unwrap();
        let (was, now) = (
            before.pointer(&f.pointer).and_then(Value::as_str).unwrap(),
            after.pointer(&f.pointer).and_then(Value::as_str).unwrap(),
        );
        let grown = now.len() as isize - was.len() as isize;
        let end = (span.end as isize + grown) as usize;
        assert_eq!(
            &now[..span.start],
            &was[..span.start],
            "bytes before the span"
        );
        assert_eq!(&now[end..], &was[span.end..], "bytes after the span");
        let found = again
            .iter()
            .find(|g| g.pointer == f.pointer && g.span == Some(span.start..end))
            .unwrap_or_else(|| panic!("no credential where {} was: {again:?}", f.pointer));
        assert_eq!(found.user.as_deref(), Some(USER));
        assert_eq!(found.token.as_ref(), Some(new));
        assert_eq!(found.encoding, f.encoding, "the same form at {}", f.pointer);
    }
    assert!(!after.to_string().contains(old), "the old token survived");
    assert!(matches!(
        plan_rule(&after, &Selector::new(USER, vec![]), Some(new)),
        RuleDecision::LeftAlone(LeftAlone::AlreadyCurrent)
    ));
    after
}

#[test]
fn lenient_spellings_are_replaced_by_the_canonical_value() {
    let new = Token::new(fake_token("new"));
    let (old, spare) = spellings::spare_bits(USER, "old");
    let before = rule(&format!("Basic {spare}"), "", &spare);
    let after = round_trip(&before, &old, &new);
    let canonical_new = canonical(USER, new.expose());
    assert_eq!(
        after["components"][0]["value"]["headers"][0]["value"],
        format!("Basic {canonical_new}")
    );
    assert_eq!(
        after["components"][1]["value"]["query"]["value"],
        canonical_new
    );

    // Wrapped by `base64` with the pair's line end: one canonical line, and the text after
    // the value (the output's own line end) stays.
    let old = format!("{}{}", fake_token("old"), uuid::Uuid::new_v4().simple());
    let wrapped = echoed(USER, &old);
    let before = rule(
        &format!("Basic {wrapped}"),
        &format!("Basic {wrapped}-- end"),
        &wrapped,
    );
    let after = round_trip(&before, &old, &new);
    assert_eq!(
        after["components"][0]["value"]["customBody"],
        format!("Basic {canonical_new}\n-- end")
    );
    assert_eq!(
        after["components"][1]["value"]["query"]["value"],
        format!("{canonical_new}\n")
    );
}

#[test]
fn a_form_encoded_body_stays_form_encoded() {
    // A new token whose Basic value needs `+`, `/` and `=`.
    let new = Token::new(format!("{}???>>>", fake_token("new")));
    let canonical_new = canonical(USER, new.expose());
    assert!(canonical_new.contains(['+', '/', '=']), "{canonical_new}");
    let old = fake_token("old");
    let body = format!(
        "a=1&authorization=Basic%20{}&z=2",
        form_encoded(&canonical(USER, &old))
    );
    let after = round_trip(&rule("", &body, ""), &old, &new);
    assert_eq!(
        after["components"][0]["value"]["customBody"],
        format!(
            "a=1&authorization=Basic%20{}&z=2",
            form_encoded(&canonical_new)
        )
    );
    // `email:token` in clear, form-encoded.
    let new = Token::new(format!("{}=0A1B+2C3D", fake_token("new")));
    let old = format!("{}=0A1B2C3D", fake_token("old"));
    let body = format!("auth=svc%40x.io%3A{}", form_encoded(&old));
    let after = round_trip(&rule("", &body, ""), &old, &new);
    assert_eq!(
        after["components"][0]["value"]["customBody"],
        format!("auth=svc%40x.io%3A{}", form_encoded(new.expose()))
    );
}

#[test]
fn a_json_escaped_body_gets_the_new_value_plainly() {
    let new = Token::new(fake_token("new"));
    let canonical_new = canonical(USER, new.expose());
    let old = format!("{}{}", fake_token("old"), uuid::Uuid::new_v4().simple());
    let escaped = json_escaped(&format!("Basic {}", canonical(USER, &old)));
    let body = format!("{{\"h\": {{\"Authorization\": \"{escaped}\"}}}}");
    let after = round_trip(&rule("", &body, ""), &old, &new);
    let start = escaped.find("asic ").unwrap() + 5;
    assert_eq!(
        after["components"][0]["value"]["customBody"],
        format!(
            "{{\"h\": {{\"Authorization\": \"{}{canonical_new}\"}}}}",
            &escaped[..start]
        )
    );
    // Its line ends escaped as `\n`: the whole value is replaced, never its first line.
    let wrapped = echoed(USER, &old).trim_end().replace('\n', "\\n");
    let body = format!("{{\"Authorization\": \"Basic {wrapped}\"}}");
    let after = round_trip(&rule("", &body, ""), &old, &new);
    assert_eq!(
        after["components"][0]["value"]["customBody"],
        format!("{{\"Authorization\": \"Basic {canonical_new}\"}}")
    );
}

/// The property seeds' shrunk case: a padded value, a line end and a short word, in a body.
/// The new value is as wide as a wrapped line (60 to 76, unpadded); the word after it, one
/// no wrapper writes, must stay a word, plainly and behind a `\n` escape: detect, rewrite,
/// detect finds the new token where the old one was, and a second rewrite is the first.
#[test]
fn a_new_value_as_wide_as_a_wrapped_line_leaves_the_next_line_alone() {
    let old = fake_token("old");
    assert!(canonical(USER, &old).ends_with('='));
    let long = format!("{}{}", fake_token("new"), uuid::Uuid::new_v4().simple());
    for width in [60, 64, 68, 72, 76] {
        let new = Token::new(&long[..width / 4 * 3 - USER.len() - 1]);
        let canonical_new = canonical(USER, new.expose());
        assert!(canonical_new.len() == width && !canonical_new.contains('='));
        // `ICa=` decodes, its last symbol with spare bits no encoder writes.
        for (line_end, tail) in [
            ("\n", "ICa=a"),
            ("\n", "ICa=é"),
            ("\n", "ICa="),
            ("\\n", "ICa=a"),
        ]
        .into_iter()
        .chain([("\n", "Ia")])
        {
            let body = |b64: &str| format!("{{\"text\": \" Basic {b64}{line_end}{tail}\"}}");
            let before = rule("", &body(&canonical(USER, &old)), "");
            let after = round_trip(&before, &old, &new);
            let text = &after["components"][0]["value"]["customBody"];
            assert_eq!(text, &body(&canonical_new), "{width} {tail:?}");
            let current: Vec<Finding> = detect::detect(&after)
                .into_iter()
                .filter(|f| f.token.as_ref() == Some(&new))
                .collect();
            assert_eq!(current.len(), 1, "{width} {tail:?}: {current:?}");
            assert_eq!(rewrite(&after, &current, &new).unwrap(), after);
        }
    }
}
