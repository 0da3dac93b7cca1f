//! The sandbox over real HTTP on loopback: every endpoint, error shape, trap and fault knob
//! a client of the Automation API can meet, checked the way a client would see it.
//!
//! Each test starts its own in-process sandbox on an ephemeral port, so tests run in
//! parallel and share nothing. Tokens are generated per run.
//!
//! Elsewhere: `autorekey sandbox` from the command line: test_sandbox_command; the client
//! against scripted servers: test_fetch_client.

use std::time::Duration;

use autorekey::sandbox::{
    generate_rules, load_rules_dir, Account, RuleSelection, Sandbox, SandboxConfig,
};
use autorekey::secret::Token;
use serde_json::{json, Value};

const ADMIN: &str = "admin@sandbox.test";
const USER: &str = "user@sandbox.test";

fn fake_token() -> String {
    format!("FAKE-{}", uuid::Uuid::new_v4())
}

struct Site {
    sandbox: Sandbox,
    http: reqwest::Client,
    admin_token: String,
    user_token: String,
}

fn rule_uuid(i: usize) -> String {
    format!("0190f3a2-0000-7000-8000-{i:012}")
}

/// A rule with a hidden Basic header inside an if/else block, a schema-2 secret header and
/// an incoming-webhook trigger.
fn envelope(i: usize, state: &str) -> Value {
    json!({
        "rule": {
            "uuid": rule_uuid(i),
            "name": format!("Rule {i}"),
            "description": "",
            "state": state,
            "trigger": {"id": format!("{i}00"), "component": "TRIGGER", "type": "jira.incoming.webhook",
                "value": {"webhookToken": "FAKE-hook"}, "children": [], "conditions": []},
            "components": [{
                "id": format!("{i}01"), "component": "CONDITION", "type": "jira.condition.container.block",
                "children": [{
                    "id": format!("{i}02"), "component": "CONDITION_BLOCK", "type": "jira.condition.if.block",
                    "conditions": [{"id": format!("{i}03"), "component": "CONDITION", "type": "jira.issue.condition"}],
                    "children": [{
                        "id": format!("{i}04"), "component": "ACTION", "type": "jira.issue.outgoing.webhook",
                        "schemaVersion": 1,
                        "value": {"url": "https://example.test", "headers": [
                            {"id": "h1", "name": "Authorization", "value": "Basic RkFLRTpGQUtF", "headerSecure": true},
                            {"id": "h2", "name": "X-Key", "value": {"keyOrValue": "managed-key", "secret": true}}
                        ]}
                    }]
                }]
            }],
            "labels": [],
            "ruleScopeARIs": ["ari:cloud:jira:site:project/1"],
            "actor": {"type": "ACCOUNT_ID", "actor": "557058:automation"},
            "authorAccountId": "712020:author",
            "created": 1712145600.123,
            "updated": 1743568964.174
        },
        "connections": []
    })
}

async fn site(mut config: SandboxConfig) -> Site {
    let (admin_token, user_token) = (fake_token(), fake_token());
    let account = |email: &str, admin: bool, token: &str| Account {
        email: email.into(),
        account_id: format!("712020:{email}"),
        admin,
        tokens: vec![Token::new(token)],
        revoked_tokens: vec![],
    };
    config.accounts.push(account(ADMIN, true, &admin_token));
    config.accounts.push(account(USER, false, &user_token));
    let sandbox = Sandbox::start(config).await.expect("sandbox starts");
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    Site {
        sandbox,
        http,
        admin_token,
        user_token,
    }
}

fn with_rules(n: usize) -> SandboxConfig {
    SandboxConfig {
        rules: (0..n)
            .map(|i| envelope(i, if i % 3 == 0 { "DISABLED" } else { "ENABLED" }))
            .collect(),
        ..SandboxConfig::default()
    }
}

impl Site {
    fn api(&self) -> String {
        format!(
            "{}/gateway/api/automation/public/jira/{}/rest/v1/",
            self.sandbox.base_url(),
            self.sandbox.cloud_id()
        )
    }

    fn admin(&self, req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        req.basic_auth(ADMIN, Some(&self.admin_token))
    }

    async fn get(&self, url: &str) -> (u16, Value) {
        send(self.admin(self.http.get(url))).await
    }

    async fn put(&self, path: &str, body: &Value) -> (u16, Value) {
        send(self.admin(self.http.put(format!("{}{path}", self.api())).json(body))).await
    }

    async fn rule(&self, i: usize) -> Value {
        let (status, body) = self
            .get(&format!("{}rule/{}", self.api(), rule_uuid(i)))
            .await;
        assert_eq!(status, 200, "{body}");
        body
    }
}

async fn send(req: reqwest::RequestBuilder) -> (u16, Value) {
    let resp = req.send().await.expect("an answer");
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// The rule as a careful client sends it back: without the read-only fields.
fn writable(envelope: &Value) -> Value {
    let mut rule = envelope["rule"].clone();
    for key in ["uuid", "created", "updated"] {
        rule.as_object_mut().unwrap().remove(key);
    }
    json!({ "rule": rule })
}

fn error_title(body: &Value) -> &str {
    body["errors"][0]["title"].as_str().unwrap_or_default()
}

fn hidden_header(envelope: &Value) -> &Value {
    &envelope["rule"]["components"][0]["children"][0]["children"][0]["value"]["headers"][0]["value"]
}

/// Every page of `GET rule/summary` at `limit`, following `links.next`; each answered 200.
async fn get_pages(site: &Site, limit: usize) -> Vec<Value> {
    let summary = format!("{}rule/summary", site.api());
    let (mut pages, mut next) = (Vec::new(), Some(format!("?limit={limit}")));
    while let Some(query) = next {
        let (status, page) = site.get(&format!("{summary}{query}")).await;
        assert_eq!(status, 200, "{page}");
        next = page["links"]["next"].as_str().map(str::to_owned);
        pages.push(page);
    }
    pages
}

#[tokio::test]
async fn pages_walk_every_rule_with_get_and_post() {
    let site = site(with_rules(7)).await;
    let expected = site.sandbox.state().rule_uuids();
    let summary = format!("{}rule/summary", site.api());

    let mut seen = Vec::new();
    for page in get_pages(&site, 3).await {
        let data = page["data"].as_array().unwrap();
        assert!(data.len() <= 3 && data[0].get("trigger").is_none());
        seen.extend(data.iter().map(|s| s["uuid"].as_str().unwrap().to_owned()));
        assert!(page["links"]["self"]
            .as_str()
            .unwrap()
            .starts_with("?cursor="));
    }
    assert_eq!(seen, expected);

    let (mut enabled, mut cursor) = (Vec::new(), Value::Null);
    loop {
        let body = json!({"cursor": cursor, "state": "ENABLED", "limit": 2});
        let (status, page) = send(site.admin(site.http.post(&summary).json(&body))).await;
        assert_eq!(status, 200, "{page}");
        enabled.extend(
            page["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s["state"].clone()),
        );
        let Some(next) = page["links"]["next"].as_str() else {
            break;
        };
        // Byte for byte: the sandbox's cursors hold a `+`, which a form decoder would
        // turn into a space and the sandbox then refuse, as Atlassian would.
        let next = autorekey::fetch::client::query_value(next.trim_start_matches('?'), "cursor");
        let next = next.unwrap();
        assert!(next.contains('+'), "{next}");
        cursor = json!(next);
    }
    assert_eq!(enabled, vec![json!("ENABLED"); 4]);
    let (_, default_page) = send(site.admin(site.http.post(&summary))).await;
    assert_eq!(default_page["data"].as_array().unwrap().len(), 7);
}

#[tokio::test]
async fn list_drift_skips_and_repeats_rules_between_get_pages_only() {
    let mut config = with_rules(7);
    config.list_drift = 1;
    let site = site(config).await;
    let expected = site.sandbox.state().rule_uuids();
    let summary = format!("{}rule/summary", site.api());
    let seen: Vec<String> = get_pages(&site, 2)
        .await
        .iter()
        .flat_map(|page| page["data"].as_array().unwrap().clone())
        .map(|s| s["uuid"].as_str().unwrap().to_owned())
        .collect();
    // Odd pages start one late (rules 2 and 6 are never shown), page 2 one early (rules 3
    // and 4 again).
    let want: Vec<&String> = [0, 1, 3, 4, 3, 4].iter().map(|&i| &expected[i]).collect();
    assert_eq!(seen.iter().collect::<Vec<_>>(), want);
    // The search is not drifted.
    let body = json!({"limit": 100});
    let (_, page) = send(site.admin(site.http.post(&summary).json(&body))).await;
    assert_eq!(page["data"].as_array().unwrap().len(), 7);
}

#[tokio::test]
async fn limit_bounds_and_bad_cursors_answer_400() {
    let site = site(with_rules(2)).await;
    let summary = format!("{}rule/summary", site.api());
    for query in ["?limit=0", "?limit=101", "?limit=ten"] {
        let (status, body) = site.get(&format!("{summary}{query}")).await;
        assert_eq!(
            (status, body["errors"][0]["field"].as_str()),
            (400, Some("limit")),
            "{query}"
        );
    }
    let (status, page) = site.get(&format!("{summary}?limit=100")).await;
    assert_eq!((status, page["links"]["next"].clone()), (200, Value::Null));
    let (status, body) = site
        .get(&format!("{summary}?cursor=bm90LWEtY3Vyc29y"))
        .await;
    assert_eq!(
        (status, body["errors"][0]["field"].as_str()),
        (400, Some("cursor"))
    );
    let (status, _) = send(site.admin(site.http.post(&summary).json(&json!({"limit": 500})))).await;
    assert_eq!(status, 400);
    let (status, body) = send(site.admin(site.http.post(&summary).body("{not json"))).await;
    assert_eq!(
        (status, error_title(&body)),
        (400, "The request body could not be parsed")
    );
}

#[tokio::test]
async fn absolute_next_links_lead_to_the_next_page() {
    let site = site(SandboxConfig {
        absolute_next_links: true,
        ..with_rules(3)
    })
    .await;
    let (_, first) = site
        .get(&format!("{}rule/summary?limit=2", site.api()))
        .await;
    let next = first["links"]["next"].as_str().unwrap();
    assert!(
        next.starts_with(&format!("{}rule/summary?cursor=", site.api())),
        "{next}"
    );
    let (status, second) = site.get(next).await;
    assert_eq!((status, second["data"].as_array().unwrap().len()), (200, 1));
}

#[tokio::test]
async fn both_base_forms_and_versions_answer_and_a_wrong_cloud_is_404() {
    let site = site(with_rules(1)).await;
    let base = site.sandbox.base_url();
    let (status, info) = send(site.http.get(format!("{base}/_edge/tenant_info"))).await;
    assert_eq!(
        (status, info["cloudId"].as_str()),
        (200, Some(site.sandbox.cloud_id()))
    );
    let cloud = site.sandbox.cloud_id();
    for prefix in ["/gateway/api/automation", "/automation"] {
        for version in ["v1", "latest"] {
            let url = format!(
                "{base}{prefix}/public/jira/{cloud}/rest/{version}/rule/{}",
                rule_uuid(0)
            );
            assert_eq!(site.get(&url).await.0, 200, "{url}");
        }
    }
    let wrong = format!(
        "{base}/automation/public/jira/{}/rest/v1/rule/summary",
        uuid::Uuid::new_v4()
    );
    let (status, body) = site.get(&wrong).await;
    assert_eq!(
        (status, body["errors"][0]["status"].as_str()),
        (404, Some("404"))
    );
}

#[tokio::test]
async fn api_auth_answers_401_and_403_in_their_shapes() {
    let site = site(with_rules(1)).await;
    let summary = format!("{}rule/summary", site.api());
    let (status, body) = send(site.http.get(&summary)).await;
    assert_eq!(
        (status, body.clone()),
        (401, json!({"code": 401, "message": "Unauthorized"}))
    );
    let (status, _) = send(
        site.http
            .get(&summary)
            .basic_auth(ADMIN, Some("FAKE-wrong")),
    )
    .await;
    assert_eq!(status, 401);
    let (status, body) = send(
        site.http
            .get(&summary)
            .basic_auth(USER, Some(&site.user_token)),
    )
    .await;
    assert_eq!(status, 403);
    assert!(error_title(&body).contains("not a global admin"), "{body}");
}

#[tokio::test]
async fn myself_checks_tokens_and_locks_out_after_three_failures() {
    let site = site(SandboxConfig::default()).await;
    let myself = format!("{}/rest/api/3/myself", site.sandbox.base_url());
    let resp = site
        .http
        .get(&myself)
        .basic_auth(USER, Some(&site.user_token))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let me: Value = resp.json().await.unwrap();
    assert_eq!(
        (me["emailAddress"].as_str(), me["active"].as_bool()),
        (Some(USER), Some(true))
    );
    assert!(me["accountId"].is_string() && me["displayName"].is_string());

    for _ in 0..3 {
        let resp = site
            .http
            .get(&myself)
            .basic_auth(USER, Some("FAKE-wrong"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 401);
        assert_eq!(
            resp.headers()["x-seraph-loginreason"],
            "AUTHENTICATED_FAILED"
        );
        let body: Value = resp.json().await.unwrap();
        assert!(body["errorMessages"][0].is_string());
    }
    let resp = site
        .http
        .get(&myself)
        .basic_auth(USER, Some(&site.user_token))
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.status(),
        401,
        "a locked-out account fails even with its right token"
    );
    assert_eq!(
        resp.headers()["x-seraph-loginreason"],
        "AUTHENTICATION_DENIED"
    );
    assert_eq!(
        resp.headers()["x-authentication-denied-reason"],
        "CAPTCHA_CHALLENGE"
    );
    let attempts = site.sandbox.state().stats().myself(USER);
    assert_eq!((attempts.ok, attempts.failed), (1, 4));
}

#[tokio::test]
async fn get_rule_redacts_on_request_and_404s_in_shape() {
    let site = site(with_rules(1)).await;
    let url = format!("{}rule/{}", site.api(), rule_uuid(0));
    let (_, clear) = site
        .get(&format!("{url}?redactSensitiveFields=false"))
        .await;
    assert_eq!(hidden_header(&clear), "Basic RkFLRTpGQUtF");
    assert_eq!(clear["connections"], json!([]));
    let (_, redacted) = site.get(&format!("{url}?redactSensitiveFields=true")).await;
    assert_eq!(hidden_header(&redacted), "***");
    assert_eq!(redacted["rule"]["trigger"]["value"]["webhookToken"], "***");
    let (status, body) = site
        .get(&format!("{}rule/{}", site.api(), rule_uuid(99)))
        .await;
    assert_eq!(status, 404);
    assert_eq!(
        (
            body["errors"][0]["code"].as_str(),
            error_title(&body),
            body["errors"][0]["status"].as_str()
        ),
        (Some("NOT_FOUND"), "Rule not found", Some("404"))
    );
    assert!(body["errors"][0]["id"].is_string());
}

#[tokio::test]
async fn put_stores_the_rule_and_keeps_server_fields_and_connections() {
    let mut config = with_rules(1);
    config.rules[0]["connections"] = json!([{"id": "conn-1", "type": "SLACK"}]);
    let site = site(config).await;
    let before = site.rule(0).await;
    let mut body = writable(&before);
    body["rule"]["name"] = json!("Renamed");
    let (status, answer) = site.put(&format!("rule/{}", rule_uuid(0)), &body).await;
    assert_eq!((status, answer), (200, json!({"ruleUuid": rule_uuid(0)})));
    let stored = site.sandbox.state().rule(&rule_uuid(0)).unwrap();
    assert_eq!(stored["rule"]["name"], "Renamed");
    assert_eq!(stored["rule"]["uuid"], rule_uuid(0));
    assert_eq!(stored["rule"]["created"], before["rule"]["created"]);
    assert_ne!(stored["rule"]["updated"], before["rule"]["updated"]);
    assert_eq!(stored["connections"], before["connections"]);
    assert_eq!(site.sandbox.state().stats().puts(&rule_uuid(0)), 1);

    let (status, _) = site
        .put(
            &format!("rule/{}/state", rule_uuid(0)),
            &json!({"value": "DISABLED"}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        site.sandbox.state().rule(&rule_uuid(0)).unwrap()["rule"]["state"],
        "DISABLED"
    );
    let (status, _) = site
        .put(
            &format!("rule/{}/state", rule_uuid(0)),
            &json!({"value": "OFF"}),
        )
        .await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn put_refuses_read_only_fields_bad_bodies_and_changed_component_ids() {
    let site = site(with_rules(1)).await;
    let path = format!("rule/{}", rule_uuid(0));
    let read = site.rule(0).await;
    let (status, body) = site.put(&path, &json!({"rule": read["rule"]})).await;
    assert_eq!(status, 400);
    let fields: Vec<_> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].clone())
        .collect();
    assert_eq!(
        fields,
        [
            json!("rule.uuid"),
            json!("rule.created"),
            json!("rule.updated")
        ]
    );

    let (status, body) = site.put(&path, &json!({"connections": []})).await;
    assert_eq!(
        (status, error_title(&body)),
        (400, "The request body could not be parsed")
    );
    let raw = site.admin(
        site.http
            .put(format!("{}{path}", site.api()))
            .body("{\"rule\":"),
    );
    assert_eq!(send(raw).await.0, 400);

    let ids_title = "Component ids do not match the existing rule or there are duplicate ids";
    let mut changed = writable(&read);
    changed["rule"]["components"][0]["children"][0]["conditions"][0]["id"] = json!("999");
    assert_eq!(error_title(&site.put(&path, &changed).await.1), ids_title);
    let mut duplicated = writable(&read);
    duplicated["rule"]["components"][0]["id"] = read["rule"]["trigger"]["id"].clone();
    assert_eq!(
        error_title(&site.put(&path, &duplicated).await.1),
        ids_title
    );
    assert_eq!(
        site.sandbox.state().rule(&rule_uuid(0)).unwrap(),
        read,
        "refused PUTs change nothing"
    );
}

#[tokio::test]
async fn component_id_check_can_be_switched_off() {
    let site = site(SandboxConfig {
        check_component_ids: false,
        ..with_rules(1)
    })
    .await;
    let mut body = writable(&site.rule(0).await);
    body["rule"]["components"] = json!([]);
    assert_eq!(
        site.put(&format!("rule/{}", rule_uuid(0)), &body).await.0,
        200
    );
}

#[tokio::test]
async fn mask_hidden_trap_serves_mask_and_a_put_of_it_loses_the_secret() {
    let mut config = with_rules(2);
    config.trap_mask_hidden = RuleSelection::Rules([rule_uuid(0)].into());
    let site = site(config).await;
    let read = site.rule(0).await;
    assert_eq!(hidden_header(&read), "***");
    let schema2 = &read["rule"]["components"][0]["children"][0]["children"][0]["value"]["headers"]
        [1]["value"];
    assert_eq!(schema2["keyOrValue"], "***");
    assert_eq!(
        hidden_header(&site.rule(1).await),
        "Basic RkFLRTpGQUtF",
        "other rules unmasked"
    );

    assert_eq!(
        site.put(&format!("rule/{}", rule_uuid(0)), &writable(&read))
            .await
            .0,
        200
    );
    let stored = site.sandbox.state().rule(&rule_uuid(0)).unwrap();
    assert_eq!(
        hidden_header(&stored),
        "***",
        "the sandbox stores what it was sent"
    );
}

#[tokio::test]
async fn foreign_connections_trap_disables_a_rule_put_with_connections() {
    let mut config = with_rules(3);
    config.trap_foreign_connections = RuleSelection::All;
    let site = site(config).await;
    let read = site.rule(1).await;
    let mut with_connections = writable(&read);
    with_connections["connections"] = read["connections"].clone();
    assert_eq!(
        site.put(&format!("rule/{}", rule_uuid(1)), &with_connections)
            .await
            .0,
        200
    );
    assert_eq!(
        site.sandbox.state().rule(&rule_uuid(1)).unwrap()["rule"]["state"],
        "DISABLED"
    );

    let read = site.rule(2).await;
    assert_eq!(
        site.put(&format!("rule/{}", rule_uuid(2)), &writable(&read))
            .await
            .0,
        200
    );
    assert_eq!(
        site.sandbox.state().rule(&rule_uuid(2)).unwrap()["rule"]["state"],
        "ENABLED"
    );
}

#[tokio::test]
async fn edit_after_reads_trap_and_edit_rule_change_the_stored_rule() {
    let mut config = with_rules(2);
    config.trap_edit_after_reads = [(rule_uuid(1), 2)].into();
    let site = site(config).await;
    let first = site.rule(1).await;
    assert_eq!(
        site.rule(1).await,
        first,
        "the second read is served before the edit"
    );
    let third = site.rule(1).await;
    assert_ne!(third["rule"]["updated"], first["rule"]["updated"]);
    assert_eq!(third["rule"]["labels"], json!(["edited-elsewhere"]));
    assert!(third["rule"]["description"]
        .as_str()
        .unwrap()
        .contains("edited by another admin"));

    let state = site.sandbox.state();
    let before = state.rule(&rule_uuid(0)).unwrap();
    state.edit_rule(&rule_uuid(0), |env| {
        env["rule"]["name"] = json!("Changed in the UI")
    });
    let after = state.rule(&rule_uuid(0)).unwrap();
    assert_eq!(after["rule"]["name"], "Changed in the UI");
    assert_ne!(after["rule"]["updated"], before["rule"]["updated"]);
}

#[tokio::test]
async fn rate_limit_answers_429_with_jira_headers() {
    let site = site(SandboxConfig {
        rate_limit_per_sec: Some(0.01),
        ..with_rules(1)
    })
    .await;
    let url = format!("{}rule/{}", site.api(), rule_uuid(0));
    assert_eq!(site.get(&url).await.0, 200);
    let resp = site.admin(site.http.get(&url)).send().await.unwrap();
    assert_eq!(resp.status(), 429);
    let h = resp.headers();
    assert!(h["retry-after"].to_str().unwrap().parse::<u64>().unwrap() >= 1);
    assert_eq!(
        (
            h["x-ratelimit-limit"].to_str().unwrap(),
            h["x-ratelimit-remaining"].to_str().unwrap()
        ),
        ("1", "0")
    );
    assert!(h["x-ratelimit-reset"].to_str().unwrap().ends_with('Z'));
    assert_eq!(h["x-ratelimit-nearlimit"], "true");
    assert_eq!(h["ratelimit-reason"], "jira-burst-based");
    let (status, _) = send(
        site.http
            .get(format!("{}/_edge/tenant_info", site.sandbox.base_url())),
    )
    .await;
    assert_eq!(status, 200, "tenant_info is never limited");
    assert_eq!(site.sandbox.state().stats().rate_limited, 1);
}

#[tokio::test]
async fn error_rate_answers_500_or_503_but_never_on_tenant_info() {
    let site = site(SandboxConfig {
        error_rate: 1.0,
        seed: 1,
        ..with_rules(1)
    })
    .await;
    let url = format!("{}rule/{}", site.api(), rule_uuid(0));
    for _ in 0..8 {
        let resp = site.admin(site.http.get(&url)).send().await.unwrap();
        match resp.status().as_u16() {
            500 => {}
            503 => assert!(resp.headers().contains_key("retry-after")),
            other => panic!("expected 500 or 503, got {other}"),
        }
        let body: Value = resp.json().await.unwrap();
        assert!(body["errors"][0]["status"].is_string());
    }
    let (status, _) = send(
        site.http
            .get(format!("{}/_edge/tenant_info", site.sandbox.base_url())),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(site.sandbox.state().stats().server_errors, 8);
}

#[tokio::test]
async fn drop_rate_closes_the_connection_without_an_answer() {
    let site = site(SandboxConfig {
        drop_rate: 1.0,
        ..with_rules(1)
    })
    .await;
    let err = site
        .admin(
            site.http
                .get(format!("{}rule/{}", site.api(), rule_uuid(0))),
        )
        .send()
        .await
        .expect_err("no answer");
    assert!(!err.is_status() && !err.is_timeout(), "{err}");
    let stats = site.sandbox.state().stats();
    assert_eq!((stats.dropped_connections, stats.faults_injected), (1, 1));
}

#[tokio::test]
async fn lost_put_applies_the_write_but_the_client_sees_an_error() {
    let site = site(SandboxConfig {
        lost_put_rate: 1.0,
        ..with_rules(1)
    })
    .await;
    let mut body = writable(&site.rule(0).await);
    body["rule"]["name"] = json!("Written but unanswered");
    let url = format!("{}rule/{}", site.api(), rule_uuid(0));
    assert!(site
        .admin(site.http.put(&url).json(&body))
        .send()
        .await
        .is_err());
    assert_eq!(
        site.sandbox.state().rule(&rule_uuid(0)).unwrap()["rule"]["name"],
        "Written but unanswered"
    );
    assert_eq!(site.sandbox.state().stats().lost_puts, 1);
}

#[tokio::test]
async fn rules_dir_loads_envelopes_exports_and_file_traps() {
    let dir = tempfile::tempdir().unwrap();
    let mut trapped = envelope(1, "ENABLED");
    trapped["sandbox"] = json!({"mask_hidden": true});
    std::fs::write(dir.path().join("a.json"), trapped.to_string()).unwrap();
    let export = json!({"cloud": true, "rules": [{
        "id": 42, "idUuid": rule_uuid(2), "name": "Exported", "state": "ENABLED", "clientKey": "k",
        "actor": {"type": "ACCOUNT_ID", "value": "557058:automation"},
        "ruleScope": {"resources": ["ari:cloud:jira:site:project/2"]},
        "trigger": {"id": "1", "component": "TRIGGER", "type": "jira.manual.trigger.issue", "checksum": "x"},
        "components": [], "created": 1712145600123u64, "updated": 1743568964174u64
    }]});
    std::fs::write(dir.path().join("b-export.json"), export.to_string()).unwrap();
    std::fs::write(dir.path().join("notes.txt"), "ignored").unwrap();

    let rules = load_rules_dir(dir.path()).unwrap();
    assert_eq!(rules.len(), 2);
    let exported = &rules[1]["rule"];
    assert_eq!(
        (
            exported["uuid"].as_str(),
            exported["actor"]["actor"].as_str()
        ),
        (Some(rule_uuid(2).as_str()), Some("557058:automation"))
    );
    assert_eq!(
        exported["ruleScopeARIs"],
        json!(["ari:cloud:jira:site:project/2"])
    );
    assert_eq!(
        (exported["created"].as_f64(), exported["clientKey"].as_str()),
        (Some(1712145600.123), Some("k"))
    );

    let site = site(SandboxConfig {
        rules,
        ..SandboxConfig::default()
    })
    .await;
    let served = site.rule(1).await;
    assert!(
        served.get("sandbox").is_none(),
        "the trap key is never served"
    );
    assert_eq!(hidden_header(&served), "***");
    assert_eq!(
        site.sandbox.state().rule_uuids(),
        [rule_uuid(1), rule_uuid(2)]
    );

    std::fs::write(dir.path().join("c.json"), "{\"neither\": 1}").unwrap();
    assert!(load_rules_dir(dir.path()).is_err());
}

#[tokio::test]
async fn fixtures_load_and_generated_sites_serve() {
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    if fixtures.join("rules").is_dir() {
        let mut rules = load_rules_dir(&fixtures.join("rules")).unwrap();
        rules.extend(load_rules_dir(&fixtures.join("export")).unwrap());
        let count = rules.len();
        let sandbox = Sandbox::start(SandboxConfig {
            rules,
            ..SandboxConfig::default()
        })
        .await
        .unwrap();
        assert_eq!(sandbox.state().rule_uuids().len(), count);
        sandbox.shutdown().await;
    }
    let (rules, accounts) = generate_rules(30, 11);
    let site = site(SandboxConfig {
        rules,
        accounts,
        ..SandboxConfig::default()
    })
    .await;
    let (status, page) = site.get(&format!("{}rule/summary", site.api())).await;
    assert_eq!((status, page["data"].as_array().unwrap().len()), (200, 30));
    let first = site.sandbox.state().rule_uuids()[0].clone();
    let (status, _) = site.get(&format!("{}rule/{first}", site.api())).await;
    assert_eq!(status, 200);
}
