//! Unit tests for the planner: the half-rotation guard, the census, saved plans and the
//! final check, each over rule JSON with tokens made at run time.

use std::collections::BTreeSet;

use serde_json::Value;

use super::*;
use crate::outcome::{Drift, Kind, LeftAlone, Outcome};
use crate::rule::Rule;
use crate::secret::{Credential, Fingerprint, Token};

/// Every envelope through one planner.
fn plan_all(envelopes: impl IntoIterator<Item = Value>, selector: &Selector, new: &Token) -> Plan {
    let mut planner = Planner::new(selector, new);
    for envelope in envelopes {
        planner.add(Rule::from_envelope(envelope).unwrap());
    }
    planner.finish()
}

fn rule(envelope: Value) -> Rule {
    Rule::from_envelope(envelope).unwrap()
}

#[test]
fn debug_of_a_rewrite_shows_no_token() {
    let old = format!("FAKE-old-{}", uuid::Uuid::new_v4().simple());
    let new = Token::new(format!("FAKE-new-{}", uuid::Uuid::new_v4().simple()));
    let basic = Credential::new("svc@x.io", Token::new(old.clone())).basic_value();
    let envelope = serde_json::json!({"rule": {"uuid": "u1", "name": "n", "components": [
        {"id": "2", "type": "jira.issue.outgoing.webhook", "value": {"url": "u",
         "headers": [{"name": "Authorization", "value": format!("Basic {basic}")}]}}]}});
    let selector = Selector::new("svc@x.io", vec![]);
    let p = decide(rule(envelope), &selector, &new).unwrap().unwrap();
    let shown = format!("{p:?}");
    for secret in [old.as_str(), basic.as_str(), new.expose()] {
        assert!(!shown.contains(secret), "{shown}");
    }
    assert!(shown.contains("u1"));
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
    let plan = plan_all(rules, &selector, &new);
    assert_eq!(plan.rewrites.len(), 1);
    assert_eq!(plan.outcomes.len(), 1);
    assert!(
        matches!(&plan.outcomes[0], Outcome { uuid, kind: Kind::LeftAlone {
            why: LeftAlone::OldTokenElsewhere { pointers } }, .. }
        if uuid == "bearer-only" && pointers[0].starts_with("/components/0/value/headers/0/value"))
    );
}

#[test]
fn the_census_sees_every_token_of_the_account_and_what_may_hide_one() {
    let old = format!("FAKE-old-{}", uuid::Uuid::new_v4().simple());
    let basic = Credential::new("svc@x.io", Token::new(old.clone())).basic_value();
    let rule = |url: &str, value: String| {
        Rule::from_body(serde_json::json!({"uuid": "u", "name": "n", "components": [
            {"id": "2", "type": "jira.issue.outgoing.webhook", "value": {"url": url,
             "headers": [{"name": "Authorization", "value": value}]}}]}))
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
    let plan = plan_all(rules, &selector, &new);
    assert!(
        matches!(&plan.outcomes[..], [Outcome { uuid, kind: Kind::LeftAlone { .. }, .. }] if uuid == "b"),
        "{:?}",
        plan.outcomes
    );
}

#[test]
fn the_final_check_sees_an_old_token_pasted_back_in_any_form() {
    let fake = |tag: &str| format!("FAKE-{tag}-{}", uuid::Uuid::new_v4().simple());
    let (old, new) = (fake("old"), Token::new(fake("new")));
    let basic = Credential::new("svc@x.io", new.clone()).basic_value();
    let rule = |extra: Option<String>| {
        let mut headers =
            vec![serde_json::json!({"name": "Authorization", "value": format!("Basic {basic}")})];
        headers.extend(extra.map(|v| serde_json::json!({"name": "X-Fallback", "value": v})));
        Rule::from_body(serde_json::json!({"uuid": "r", "name": "R", "components": [
            {"id": "2", "type": "jira.issue.outgoing.webhook",
             "value": {"url": "u", "headers": headers}}]}))
    };
    let selector = Selector::new("svc@x.io", vec![]);
    let olds: BTreeSet<Fingerprint> = [Token::new(old.clone()).identity()].into();
    assert_eq!(final_check(&rule(None), &selector, &new, &olds), Ok(()));
    let back = final_check(&rule(Some(format!("Bearer {old}"))), &selector, &new, &olds);
    assert!(matches!(back, Err(Drift::OldTokenAt { pointers }) if pointers.len() == 1));
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
    let plan = plan_all([a, b], &selector, &new);
    let rewritten: Vec<&str> = plan.rewrites.iter().map(Rewrite::uuid).collect();
    assert_eq!(rewritten, ["b"]);
    assert!(
        matches!(&plan.outcomes[..], [Outcome { uuid, kind: Kind::LeftAlone { .. }, .. }] if uuid == "a")
    );
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
    let with = |values: &[String]| {
        let headers: Vec<Value> = values
            .iter()
            .map(|v| serde_json::json!({"name": "Authorization", "value": v}))
            .collect();
        serde_json::json!({"rule": {"uuid": "r", "name": "R", "components": [
            {"id": "2", "type": "jira.issue.outgoing.webhook",
             "value": {"url": "u", "headers": headers}}]}})
    };
    // The plan was made with --fingerprint t1: only header 0.
    let planned_rule = with(&[basic(&t1), basic(&t2)]);
    let selector = Selector::new("svc@x.io", vec![Fingerprint::of(&t1).to_string()]);
    let changes = match plan_rule(&planned_rule["rule"], &selector, Some(&new)) {
        RuleDecision::Rewrite(f) => planned_changes(&f),
        other => panic!("{other:?}"),
    };
    assert_eq!(changes.len(), 1);

    let p = decide_planned(
        rule(planned_rule),
        &Selector::new("svc@x.io", vec![]),
        &changes,
        &new,
    )
    .unwrap()
    .unwrap();
    let pointers: Vec<&str> = p.findings.iter().map(|f| f.pointer.as_str()).collect();
    assert_eq!(pointers, ["/components/0/value/headers/0/value"]);
    assert_eq!(
        p.after.body()["components"][0]["value"]["headers"][1]["value"],
        basic(&t2)
    );

    let left_alone = |envelope: Value, changes: &[PlannedChange]| match decide_planned(
        rule(envelope),
        &Selector::new("svc@x.io", vec![]),
        changes,
        &new,
    ) {
        Err(Outcome {
            kind:
                Kind::LeftAlone {
                    why: LeftAlone::ChangedSincePlan { missing, extra },
                },
            ..
        }) => (missing, extra),
        other => panic!("expected the rule left alone, got {other:?}"),
    };
    // Since the plan, the old token was added at a place the plan does not list.
    let added = with(&[basic(&t1), basic(&t2), basic(&t1)]);
    let (missing, extra) = left_alone(added, &changes);
    assert!(missing.is_empty(), "{missing:?}");
    assert!(
        extra[0].starts_with("/components/0/value/headers/2/value ("),
        "{extra:?}"
    );
    // A planned place no longer holds the planned old token (the other one still does).
    let mut two = changes.clone();
    two.push(PlannedChange {
        pointer: "/components/0/value/headers/1/value".into(),
        ..changes[0].clone()
    });
    let (missing, extra) = left_alone(with(&[basic(&t1), basic(&t2)]), &two);
    assert!(extra.is_empty(), "{extra:?}");
    assert!(
        missing[0].starts_with("/components/0/value/headers/1/value ("),
        "{missing:?}"
    );
    // Gone everywhere: nothing of the plan's left to do.
    let gone = with(&[basic(&t2), basic(&t2)]);
    assert!(decide_planned(
        rule(gone),
        &Selector::new("svc@x.io", vec![]),
        &changes,
        &new
    )
    .unwrap()
    .is_none());
}

#[test]
fn a_secret_sent_to_any_atlassian_host_may_be_the_old_token() {
    let rule = |url: &str| {
        Rule::from_body(serde_json::json!({"uuid": "u", "name": "n", "components": [
            {"id": "2", "type": "jira.issue.outgoing.webhook", "value": {"url": url,
             "headers": [{"name": "Authorization", "value": "Basic {{secrets.jira}}"}]}}]}))
    };
    let selector = Selector::new("svc@x.io", vec![]);
    let mut census = Census::default();
    // The same hosts the fingerprints call Atlassian's: jira.com, any case, a trailing
    // dot, and a URL that names no host (taken as the site).
    for url in [
        "https://acme.jira.com/rest/api/3/issue",
        "https://ACME.Atlassian.NET./rest",
        "relative/path",
    ] {
        census.note(&rule(url), &selector);
    }
    assert_eq!(census.not_inspectable, 3);
    census.note(&rule("https://hooks.example.com/x"), &selector);
    assert_eq!(census.not_inspectable, 3, "another service's secret is not");
}

/// `apply` guards over the planned rewrites only: a rule outside the plan that holds a
/// planned old token in a form no rotation rewrites is still left alone (so the verdict
/// cannot say "revoke" while it holds the token), and one holding the account's credential
/// but not in the plan is reported, never passed over.
#[test]
fn following_a_plan_still_guards_every_rule_holding_a_planned_old_token() {
    let fake = |tag: &str| format!("FAKE-{tag}-{}", uuid::Uuid::new_v4().simple());
    let (t1, t2, new) = (fake("t1"), fake("t2"), Token::new(fake("new")));
    let header = |uuid: &str, value: String| {
        serde_json::json!({"rule": {"uuid": uuid, "name": uuid, "components": [
            {"id": "2", "type": "jira.issue.outgoing.webhook", "value": {"url": "u",
             "headers": [{"name": "Authorization", "value": value}]}}]}})
    };
    let basic = |t: &str| {
        let value = Credential::new("svc@x.io", Token::new(t)).basic_value();
        format!("Basic {value}")
    };
    let selector = Selector::new("svc@x.io", vec![]);
    let planned = plan_all([header("a", basic(&t1))], &selector, &new);
    let plan = PlanFile {
        version: super::PLAN_VERSION,
        site: "https://acme.atlassian.net".into(),
        product: "jira".into(),
        selector: selector.clone(),
        new_fingerprint: new.fingerprint(),
        created_at: 0,
        rules: planned.rewrites.iter().map(Rewrite::planned_rule).collect(),
        list_complete: true,
        confirmed: vec![],
    };
    let site = [
        header("a", basic(&t1)),
        header("x-bearer-t1", format!("Bearer {t1}")),
        header("b-added-t2", basic(&t2)),
        header("y-bearer-t2", format!("Bearer {t2}")),
    ];
    let mut planner = Planner::new(&selector, &new).following(&plan);
    for envelope in site {
        planner.add(rule(envelope));
    }
    let followed = planner.finish();
    let rewritten: Vec<&str> = followed.rewrites.iter().map(Rewrite::uuid).collect();
    assert_eq!(rewritten, ["a"]);
    let why = |uuid: &str| {
        followed
            .outcomes
            .iter()
            .find(|o| o.uuid() == uuid)
            .map(|o| o.kind.clone())
    };
    assert!(
        matches!(
            why("x-bearer-t1"),
            Some(Kind::LeftAlone {
                why: LeftAlone::OldTokenElsewhere { .. }
            })
        ),
        "{:?}",
        followed.outcomes
    );
    assert!(matches!(
        why("b-added-t2"),
        Some(Kind::LeftAlone {
            why: LeftAlone::NotInPlan { .. }
        })
    ));
    // Neither counts as done: the verdict keeps the old token.
    assert!(followed.outcomes.iter().filter(|o| !o.is_done()).count() >= 2);
}
