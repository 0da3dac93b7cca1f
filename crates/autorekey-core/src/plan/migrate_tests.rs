//! Unit tests for migrations (`rotate --to-account`, `--rewrite-urls`): the credential's user
//! and, when asked, the request URL change; nothing else does.

use super::*;
use crate::gateway::UrlRewrite;
use serde_json::json;

fn fake(tag: &str) -> String {
    format!("FAKE-{tag}-{}", uuid::Uuid::new_v4().simple())
}

fn basic(user: &str, token: &str) -> String {
    format!(
        "Basic {}",
        Credential::new(user, Token::new(token)).basic_value()
    )
}

fn web_request(url: &str, header: &str) -> Value {
    json!({"name": "r", "components": [{"id": "2", "component": "ACTION",
        "type": "jira.issue.outgoing.webhook", "children": [{"id": "9", "value": {"url": "{{baseUrl}}/rest/x"}}],
        "value": {"url": url, "method": "POST",
            "headers": [{"id": "h1", "name": "Authorization", "value": header, "headerSecure": true}]}}]})
}

fn migration(urls: bool) -> Migration {
    Migration {
        to_account: "bot@serviceaccount.atlassian.com".into(),
        urls: urls.then(|| UrlRewrite {
            site: "https://acme.atlassian.net".into(),
            gateway: "https://api.atlassian.com".into(),
            product: "jira".into(),
            cloud_id: "c1".into(),
        }),
    }
}

fn migrate(rule: &Value, m: &Migration, new: &Token) -> Result<Value, RewriteError> {
    let selector = Selector {
        migrate: Some(m.clone()),
        ..Selector::new("alice@acme.example", vec![])
    };
    match plan_rule(rule, &selector, Some(new)) {
        RuleDecision::Rewrite(f) => rewrite_with(rule, &f, new, selector.migrate.as_ref()),
        other => panic!("expected a rewrite, got {other:?}"),
    }
}

#[test]
fn a_migration_moves_the_credential_and_the_site_url_and_nothing_else() {
    let (old, new) = (fake("old"), Token::new(fake("new")));
    let rule = web_request(
        "{{baseUrl}}/rest/api/3/issue/{{issue.key}}",
        &basic("alice@acme.example", &old),
    );
    let out = migrate(&rule, &migration(true), &new).unwrap();
    let value = &out["components"][0]["value"];
    assert_eq!(
        value["headers"][0]["value"],
        basic("bot@serviceaccount.atlassian.com", new.expose()).as_str()
    );
    assert_eq!(
        value["url"],
        "https://api.atlassian.com/ex/jira/c1/rest/api/3/issue/{{issue.key}}"
    );
    // Only the component that sends the credential moves; a child with its own URL stays.
    assert_eq!(
        out["components"][0]["children"],
        rule["components"][0]["children"]
    );
    assert_eq!(differences(&rule, &out).len(), 2);

    let kept = migrate(&rule, &migration(false), &new).unwrap();
    assert_eq!(
        kept["components"][0]["value"]["url"],
        rule["components"][0]["value"]["url"]
    );
}

#[test]
fn a_credential_whose_user_sits_outside_the_token_is_not_moved_to_another_account() {
    let (old, new) = (fake("old"), Token::new(fake("new")));
    let rule = web_request(
        &format!("https://alice%40acme.example:{old}@acme.atlassian.net/rest/x"),
        "none",
    );
    let err = migrate(&rule, &migration(false), &new).unwrap_err();
    assert!(matches!(err, RewriteError::NotMigratable(_)), "{err}");
    assert!(!err.to_string().contains(&old));
}

#[test]
fn a_migration_survives_the_plan_file() {
    let selector = Selector {
        migrate: Some(migration(true)),
        ..Selector::new("alice@acme.example", vec![])
    };
    let text = serde_json::to_string(&selector).unwrap();
    let back: Selector = serde_json::from_str(&text).unwrap();
    assert_eq!(back.migrate, selector.migrate);
    assert_eq!(back.new_owner(), "bot@serviceaccount.atlassian.com");
    let plain: Selector = serde_json::from_str(r#"{"account": "a@b.c"}"#).unwrap();
    assert_eq!(plain.new_owner(), "a@b.c");
}

#[test]
fn only_the_request_url_of_the_site_moves_not_a_look_alike_host_nor_a_body() {
    let (old, new) = (fake("old"), Token::new(fake("new")));
    let body = "{\"self\": \"https://acme.atlassian.net/rest/api/3/issue/1\"}";
    for (url, moves) in [
        (
            "https://acme.atlassian.net.evil.example/rest/api/3/issue",
            false,
        ),
        (
            "https://acme.atlassian.net@evil.example/rest/api/3/issue",
            false,
        ),
        ("https://acme.atlassian.net:8443/rest/api/3/issue", false),
        (
            "https://evil.example/?u=https://acme.atlassian.net/rest/x",
            false,
        ),
        (" https://acme.atlassian.net/rest/api/3/issue", true),
    ] {
        let mut rule = web_request(url, &basic("alice@acme.example", &old));
        rule["components"][0]["value"]["customBody"] = body.into();
        let out = migrate(&rule, &migration(true), &new).unwrap();
        let value = &out["components"][0]["value"];
        assert_eq!(value["customBody"], body, "{url}");
        assert_eq!(
            value["url"] != rule["components"][0]["value"]["url"],
            moves,
            "{url}"
        );
        assert_eq!(
            differences(&rule, &out).len(),
            1 + usize::from(moves),
            "{url}"
        );
    }
}
