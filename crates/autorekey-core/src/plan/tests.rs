//! Unit tests for the planner and rewriter: only the credential text may change.

use super::*;
use crate::rule::{hash_of as rule_hash, Rule};
use serde_json::json;

fn put_body(rule: &Value) -> Value {
    Rule::from_body(rule.clone()).put_body()
}

fn fake(tag: &str) -> String {
    format!("FAKE-{tag}-{}", uuid::Uuid::new_v4().simple())
}

fn basic(user: &str, token: &str) -> String {
    format!(
        "Basic {}",
        Credential::new(user, Token::new(token)).basic_value()
    )
}

/// A rule with the account's credential in a schema 1 header, a schema 2 header, a URL,
/// a body (twice), plus another account's credential and unknown fields.
fn sample(old: &str, other: &str) -> Value {
    json!({
        "uuid": "0190-abc", "name": "Sync", "x-unknown": {"keep": [1, 2]},
        "state": "ENABLED", "created": 1743568964.174, "updated": 1743568999.5,
        "trigger": {"id": "1", "component": "TRIGGER", "type": "jira.manual.trigger.issue", "value": {}},
        "components": [
            {"id": "2", "component": "ACTION", "type": "jira.issue.outgoing.webhook", "schemaVersion": 1,
             "value": {"url": format!("https://SVC%40x.io:{old}@x.atlassian.net/rest/api/3/x"), "method": "POST",
                "headers": [
                    {"id": "h1", "name": "Authorization", "value": basic("svc@x.io", old), "headerSecure": true},
                    {"id": "h2", "name": "X-Other", "value": basic("other@x.io", other), "headerSecure": false}
                ],
                "customBody": format!("{{\"a\":\"{}\",\"b\":\"{}\"}}", basic("svc@x.io", old), basic("svc@x.io", old)),
                "zzz-future": true}},
            {"id": "3", "component": "ACTION", "type": "jira.issue.outgoing.webhook", "schemaVersion": 2,
             "value": {"url": "{{baseUrl}}/rest/api/3/issue", "headers": [
                {"name": "authorization", "value": {"keyOrValue": basic("Svc@X.io", old), "secret": false}}],
                "usedSecretsKeys": []}}
        ]
    })
}

/// The redacted diff of rotating svc@x.io in a web request whose body is `body`.
fn rotated_body_diff(body: String, new: &Token) -> String {
    let rule = json!({"components": [{"id": "2", "type": "jira.issue.outgoing.webhook",
        "value": {"url": "u", "headers": [], "customBody": body}}]});
    let out = rewrite_for(&rule, "svc@x.io", new);
    redacted_diff(&rule, &out, "r")
}

fn rewrite_for(rule: &Value, account: &str, new: &Token) -> Value {
    match plan_rule(rule, &Selector::new(account, vec![]), Some(new)) {
        RuleDecision::Rewrite(f) => rewrite(rule, &f, new).unwrap(),
        other => panic!("expected a rewrite, got {other:?}"),
    }
}

#[test]
fn rewrite_changes_only_the_selected_credentials() {
    let (old, other, new) = (fake("old"), fake("other"), Token::new(fake("new")));
    let rule = sample(&old, &other);
    let out = rewrite_for(&rule, "svc@x.io", &new);

    let changed = differences(&rule, &out);
    assert_eq!(
        changed,
        vec![
            "/components/0/value/url",
            "/components/0/value/headers/0/value",
            "/components/0/value/customBody",
            "/components/1/value/headers/0/value/keyOrValue",
        ]
    );
    let text = serde_json::to_string(&out).unwrap();
    assert!(!text.contains(&old), "old token left behind");
    assert!(
        text.contains(&basic("other@x.io", &other)),
        "another account's credential must stay"
    );
    // Each rewritten place now holds the same user with the new token.
    let found = detect::detect(&out);
    let svc: Vec<_> = found
        .iter()
        .filter(|f| {
            f.user
                .as_deref()
                .is_some_and(|u| u.eq_ignore_ascii_case("svc@x.io"))
        })
        .collect();
    assert_eq!(svc.len(), 5);
    assert!(svc
        .iter()
        .all(|f| f.fingerprint() == Some(new.fingerprint())));
    // The user's spelling is kept as it was written.
    assert_eq!(
        found
            .iter()
            .filter(|f| f.user.as_deref() == Some("Svc@X.io"))
            .count(),
        1
    );
}

#[test]
fn rewrite_keeps_key_order_schema_shape_and_hidden_flag() {
    let (old, other, new) = (fake("old"), fake("other"), Token::new(fake("new")));
    let rule = sample(&old, &other);
    let out = rewrite_for(&rule, "SVC@x.io", &new);
    let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(&rule), keys(&out));
    assert_eq!(
        keys(&rule["components"][0]["value"]),
        keys(&out["components"][0]["value"])
    );
    assert_eq!(
        out["components"][0]["value"]["headers"][0]["headerSecure"],
        json!(true)
    );
    assert!(out["components"][1]["value"]["headers"][0]["value"].is_object());
    assert_eq!(out["x-unknown"], rule["x-unknown"]);
}

#[test]
fn url_token_is_percent_encoded() {
    let rule = json!({"components": [{"id": "2", "type": "jira.issue.outgoing.webhook",
        "value": {"url": "https://a%40b.io:FAKE-x@h.atlassian.net/p", "headers": []}}]});
    let new = Token::new("FAKE new/tok@en:1");
    let out = rewrite_for(&rule, "a@b.io", &new);
    assert_eq!(
        out["components"][0]["value"]["url"],
        json!("https://a%40b.io:FAKE%20new%2Ftok%40en%3A1@h.atlassian.net/p")
    );
    assert_eq!(
        detect::detect(&out)[0].token.as_ref().unwrap().expose(),
        new.expose()
    );
}

#[test]
fn fingerprint_selector_narrows_to_one_old_token() {
    let (a, b) = (fake("a"), fake("b"));
    let rule = json!({"components": [{"id": "2", "type": "jira.issue.outgoing.webhook",
        "value": {"url": "u", "headers": [
            {"name": "Authorization", "value": basic("svc@x.io", &a)},
            {"name": "Authorization", "value": basic("svc@x.io", &b)}]}}]});
    let fp = Token::new(a.clone()).fingerprint().to_string();
    let sel = Selector::new("svc@x.io", vec![fp[..8].to_string()]);
    let RuleDecision::Rewrite(f) = plan_rule(&rule, &sel, None) else {
        panic!()
    };
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].pointer, "/components/0/value/headers/0/value");
}

#[test]
fn masked_rule_is_left_alone_and_current_rule_too() {
    let old = fake("old");
    let mut rule = sample(&old, &fake("o"));
    rule["components"][0]["value"]["headers"][1]["value"] = json!("***");
    let sel = Selector::new("svc@x.io", vec![]);
    assert!(matches!(
        plan_rule(&rule, &sel, None),
        RuleDecision::LeftAlone(LeftAlone::MaskedValue { .. })
    ));
    let clean = sample(&old, &fake("o"));
    assert!(matches!(
        plan_rule(&clean, &sel, Some(&Token::new(old))),
        RuleDecision::LeftAlone(LeftAlone::AlreadyCurrent)
    ));
    assert!(matches!(
        plan_rule(&clean, &Selector::new("nobody@x.io", vec![]), None),
        RuleDecision::Untouched
    ));
}

#[test]
fn diff_is_redacted_and_shows_the_change() {
    let (old, other, new) = (fake("old"), fake("other"), Token::new(fake("new")));
    let rule = sample(&old, &other);
    let out = rewrite_for(&rule, "svc@x.io", &new);
    let diff = redacted_diff(&rule, &out, "Sync");
    for secret in [old.as_str(), other.as_str(), new.expose()] {
        assert!(!diff.contains(secret), "diff leaks a token:\n{diff}");
    }
    let old_fp = Token::new(old).fingerprint().to_string();
    let removed = format!("\"value\": \"Basic <svc@x.io · {old_fp}>\"");
    assert!(
        diff.lines()
            .any(|l| l.starts_with('-') && l.contains(&removed)),
        "{diff}"
    );
    assert!(
        diff.contains(&format!("<svc@x.io · {}>", new.fingerprint())),
        "{diff}"
    );
}

#[test]
fn put_body_drops_read_only_fields_and_keeps_order() {
    let rule = sample(&fake("a"), &fake("b"));
    let body = put_body(&rule);
    let keys: Vec<_> = body["rule"].as_object().unwrap().keys().cloned().collect();
    assert_eq!(
        keys,
        vec!["name", "x-unknown", "state", "trigger", "components"]
    );
    assert!(body.get("connections").is_none());
}

#[test]
fn differences_ignores_server_owned_fields() {
    let a = json!({"uuid": "1", "updated": 1.0, "name": "x", "v": [1, {"k": 2}]});
    let b = json!({"uuid": "1", "updated": 2.0, "name": "x", "v": [1, {"k": 3}], "new": 1});
    assert_eq!(differences(&a, &b), vec!["/v/1/k", "/new"]);
}

#[test]
fn rule_hash_is_stable_and_sensitive() {
    let a = sample("FAKE-1", "FAKE-2");
    let mut b = a.clone();
    assert_eq!(rule_hash(&a), rule_hash(&b));
    b["description"] = json!("edited");
    assert_ne!(rule_hash(&a), rule_hash(&b));
}

#[test]
fn clear_pairs_are_rewritten_in_place() {
    let (old, new) = (fake("old"), Token::new(fake("new")));
    let rule = json!({"components": [{"id": "3", "type": "jira.create.variable",
        "value": {"query": {"value": format!("svc@x.io:{old}")}}}]});
    let out = rewrite_for(&rule, "svc@x.io", &new);
    assert_eq!(
        out["components"][0]["value"]["query"]["value"],
        json!(format!("svc@x.io:{}", new.expose()))
    );
}

#[test]
fn old_token_also_in_an_unrewritable_form_leaves_the_rule_alone() {
    let old = fake("old");
    let rule = json!({"components": [{"id": "2", "type": "jira.issue.outgoing.webhook",
        "value": {"url": "u", "headers": [
            {"name": "Authorization", "value": basic("svc@x.io", &old)},
            {"name": "X-Backup-Auth", "value": format!("Bearer {old}")}]}}]});
    match plan_rule(&rule, &Selector::new("svc@x.io", vec![]), None) {
        RuleDecision::LeftAlone(LeftAlone::OldTokenElsewhere { pointers }) => {
            assert_eq!(pointers, vec!["/components/0/value/headers/1/value"])
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn userinfo_keeps_equals_signs_as_they_are() {
    let rule = json!({"components": [{"id": "2", "type": "jira.issue.outgoing.webhook",
        "value": {"url": "https://a%40b.io:FAKE-x@h.atlassian.net/p", "headers": []}}]});
    let out = rewrite_for(&rule, "a@b.io", &Token::new("FAKE-abc=0A1B2C3D"));
    assert_eq!(
        out["components"][0]["value"]["url"],
        json!("https://a%40b.io:FAKE-abc=0A1B2C3D@h.atlassian.net/p")
    );
}

#[test]
fn secret_looking_values_in_bodies_are_masked_in_diffs() {
    let (old, new) = (fake("old"), Token::new(fake("new")));
    let body = format!(
        "{{\"client_secret\": \"s3cr3tvalue\", \"auth\": \"{}\"}}",
        basic("svc@x.io", &old)
    );
    let diff = rotated_body_diff(body, &new);
    assert!(!diff.contains("s3cr3tvalue"), "{diff}");
    assert!(diff.contains("client_secret"), "{diff}");
}

#[test]
fn display_masking_covers_quoted_values_and_keeps_placeholders() {
    let (old, new) = (fake("old"), Token::new(fake("new")));
    let body = format!(
        "{{\"Authorization\": \"SSWS 00abcdefSECRETvalue\", \"password\": \"correct horse battery\", \"next\": \"{}\", \"note\": \"token=plainvalue&x=1\"}}",
        basic("svc@x.io", &old)
    );
    let diff = rotated_body_diff(body, &new);
    for hidden in ["SECRETvalue", "horse battery", "plainvalue"] {
        assert!(!diff.contains(hidden), "{hidden} shown:\n{diff}");
    }
    // The rotation itself stays visible.
    assert!(
        diff.contains(&format!("<svc@x.io · {}>", new.fingerprint())),
        "{diff}"
    );
}

#[test]
fn display_masking_leaves_a_credential_placeholder_whole() {
    let (old, new) = (fake("old"), Token::new(fake("new")));
    let body = format!("{{\"Authorization\": \"{}\"}}", basic("svc@x.io", &old));
    let diff = rotated_body_diff(body, &new);
    assert!(
        diff.contains(&format!("Basic <svc@x.io · {}>", new.fingerprint())),
        "{diff}"
    );
}

fn sample_plan(fingerprints: Vec<String>) -> PlanFile {
    let old = fake("old");
    let rule = sample(&old, &fake("other"));
    let findings = match plan_rule(&rule, &Selector::new("svc@x.io", vec![]), None) {
        RuleDecision::Rewrite(f) => f,
        other => panic!("expected a rewrite, got {other:?}"),
    };
    PlanFile {
        version: PLAN_VERSION,
        site: "https://acme.atlassian.net/".into(),
        product: "jira".into(),
        selector: Selector::new("svc@x.io", fingerprints),
        new_fingerprint: Fingerprint::of("new"),
        created_at: 1,
        rules: vec![PlannedRule {
            uuid: "r1".into(),
            name: "R1".into(),
            rule_hash: rule_hash(&rule),
            changes: planned_changes(&findings),
        }],
        list_complete: true,
        confirmed: vec![],
    }
}

#[test]
fn a_sealed_plan_reads_back_and_any_edit_is_refused() {
    let plan = sample_plan(vec![]);
    let text = plan.to_sealed_json();
    let back = PlanFile::from_sealed_json(&text).unwrap();
    assert_eq!(back.rules[0].changes, plan.rules[0].changes);
    // Key order and whitespace are not content: a reformatted plan still reads.
    let value: Value = serde_json::from_str(&text).unwrap();
    let reformatted = serde_json::to_string(&value).unwrap();
    assert!(PlanFile::from_sealed_json(&reformatted).is_ok());
    // Any change to what it says is refused: a pointer, a uuid, an added field.
    let edits = [
        text.replacen("headers/0/value\"", "headers/1/value\"", 1),
        text.replacen("\"r1\"", "\"r2\"", 1),
        text.replacen("\"version\"", "\"extra\": 1, \"version\"", 1),
    ];
    for edited in edits {
        assert_ne!(edited, text);
        assert_eq!(
            PlanFile::from_sealed_json(&edited).unwrap_err(),
            PlanFileError::Changed
        );
    }
    let mut unsealed: Value = serde_json::from_str(&text).unwrap();
    unsealed.as_object_mut().unwrap().shift_remove("sha256");
    assert_eq!(
        PlanFile::from_sealed_json(&unsealed.to_string()).unwrap_err(),
        PlanFileError::Unsealed
    );
    let old_version = text.replacen("\"version\": 2", "\"version\": 1", 1);
    assert!(matches!(
        PlanFile::from_sealed_json(&old_version),
        Err(PlanFileError::Version(_))
    ));
}

/// The plan's hashes are keyed: a plain SHA-256 of a rule body beside the redacted rule
/// let anyone test guesses of a weak secret it hides (`summer2024`), and a plain seal let
/// anyone who can write the plan reseal it.
#[test]
fn a_plans_hashes_cannot_be_recomputed_without_the_key() {
    use sha2::{Digest as _, Sha256};
    let plain = |bytes: &[u8]| hex::encode(Sha256::digest(bytes));
    let mut rule = sample(&fake("old"), &fake("other"));
    rule["components"][0]["value"]["headers"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "X-Api-Key", "value": "summer2024", "headerSecure": true}));
    let guess = plain(&serde_json::to_vec(&rule).unwrap());
    assert_ne!(rule_hash(&rule), guess, "a guess is not testable offline");

    let plan = sample_plan(vec![]);
    let text = plan.to_sealed_json();
    let mut forged: Value = serde_json::from_str(&text).unwrap();
    let obj = forged.as_object_mut().unwrap();
    obj.shift_remove("sha256");
    obj.insert("site".into(), json!("https://evil.example/"));
    let seal = plain(&super::canonical_bytes(&forged));
    forged["sha256"] = json!(seal);
    assert_eq!(
        PlanFile::from_sealed_json(&forged.to_string()).unwrap_err(),
        PlanFileError::Changed
    );
}

#[test]
fn a_plan_whose_quoted_fields_hold_line_breaks_is_refused() {
    let mut plan = sample_plan(vec![]);
    plan.new_fingerprint = serde_json::from_value(json!("abc\nHint: FAKED")).unwrap();
    let mut site = sample_plan(vec![]);
    site.site = "https://acme.atlassian.net/\u{1b}[1A".into();
    for plan in [plan, site] {
        assert!(matches!(
            PlanFile::from_sealed_json(&plan.to_sealed_json()),
            Err(PlanFileError::Inconsistent(_))
        ));
    }
}

#[test]
fn a_plan_outside_its_own_selector_is_refused() {
    let plan = sample_plan(vec!["000000000000".into()]);
    assert!(matches!(
        PlanFile::from_sealed_json(&plan.to_sealed_json()),
        Err(PlanFileError::Inconsistent(_))
    ));
}

#[test]
fn an_unconfirmed_list_is_sealed_into_the_plan_and_a_complete_one_is_not_written() {
    let plan = sample_plan(vec![]);
    let text = plan.to_sealed_json();
    assert!(!text.contains("list_complete"));
    assert!(PlanFile::from_sealed_json(&text).unwrap().list_complete);
    let unconfirmed = PlanFile {
        list_complete: false,
        ..plan
    };
    let text = unconfirmed.to_sealed_json();
    assert!(!PlanFile::from_sealed_json(&text).unwrap().list_complete);
    // Dropping the flag is an edit the seal catches.
    let edited = text.replace("\"list_complete\": false,", "");
    assert_ne!(edited, text);
    assert_eq!(
        PlanFile::from_sealed_json(&edited).err(),
        Some(PlanFileError::Changed)
    );
}

/// The old token sent to the site in Basic (plain fingerprint) and to another host as a
/// Bearer value (keyed fingerprint): still one token, so the rule is not half-rotated.
#[test]
fn old_token_shown_keyed_elsewhere_still_counts_as_the_old_token() {
    let old = fake("old");
    let rule = json!({"components": [
        {"id": "2", "type": "jira.issue.outgoing.webhook", "value": {"url": "{{baseUrl}}/x",
            "headers": [{"name": "Authorization", "value": basic("svc@x.io", &old)}]}},
        {"id": "3", "type": "jira.issue.outgoing.webhook", "value": {"url": "https://backup.example.org/x",
            "headers": [{"name": "Authorization", "value": format!("Bearer {old}")}]}}]});
    match plan_rule(&rule, &Selector::new("svc@x.io", vec![]), None) {
        RuleDecision::LeftAlone(LeftAlone::OldTokenElsewhere { pointers }) => {
            assert_eq!(pointers, vec!["/components/1/value/headers/0/value"])
        }
        other => panic!("{other:?}"),
    }
}

/// A credential sent to a host that is not Atlassian's shows a keyed fingerprint; the
/// selector takes that form (whole or a prefix), and a plain fingerprint never selects it.
#[test]
fn fingerprint_selector_takes_the_keyed_form_shown() {
    let key = crate::secret::fingerprint_key::install_test_key();
    let (old, other) = (fake("old"), fake("other"));
    let rule = json!({"components": [{"id": "2", "type": "jira.issue.outgoing.webhook",
        "value": {"url": "https://relay.example.org/forward", "headers": [
            {"name": "Authorization", "value": basic("svc@x.io", &old)},
            {"name": "X-Second", "value": basic("svc@x.io", &other)}]}}]});
    let keyed = Fingerprint::keyed(&old, Some(&key)).to_string();
    for given in [keyed.clone(), keyed[..8].to_string()] {
        let sel = Selector::new("svc@x.io", vec![given.clone()]);
        let RuleDecision::Rewrite(f) = plan_rule(&rule, &sel, None) else {
            panic!("{given} selects nothing")
        };
        assert_eq!(f.len(), 1, "{given}");
        assert_eq!(f[0].fingerprint().unwrap().to_string(), keyed);
    }
    let plain = Token::new(old.clone()).fingerprint().to_string();
    for given in [plain.clone(), format!("k:{}", &plain[..8])] {
        let sel = Selector::new("svc@x.io", vec![given]);
        assert!(matches!(
            plan_rule(&rule, &sel, None),
            RuleDecision::Untouched | RuleDecision::LeftAlone(_)
        ));
    }
}
