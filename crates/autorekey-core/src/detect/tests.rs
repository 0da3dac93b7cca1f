//! Unit tests for the detector: one rule shape per test, tokens made at run time.

use super::spellings;
use super::*;
use serde_json::json;

fn fake_token(tag: &str) -> String {
    format!("FAKE-{tag}-{}", uuid::Uuid::new_v4().simple())
}

fn b64(user: &str, token: &str) -> String {
    Credential::new(user, Token::new(token)).basic_value()
}

fn rule_with(components: Value) -> Value {
    json!({"uuid": "r1", "name": "t", "trigger": {"id": "1", "component": "TRIGGER",
        "type": "jira.manual.trigger.issue", "value": {}}, "components": components})
}

fn web_request(id: &str, headers: Value) -> Value {
    json!({"id": id, "component": "ACTION", "type": "jira.issue.outgoing.webhook",
        "schemaVersion": 1, "value": {"url": "{{baseUrl}}/rest/api/3/issue", "method": "POST",
        "headers": headers, "customBody": ""}, "children": [], "conditions": []})
}

#[test]
fn schema1_basic_header_is_found_with_user_and_fingerprint() {
    let tok = fake_token("svc");
    let rule = rule_with(json!([web_request(
        "2",
        json!([{"id": "h", "name": "Authorization", "value": format!("Basic {}", b64("svc@x.io", &tok)), "headerSecure": false}])
    )]));
    let f = detect(&rule);
    assert_eq!(f.len(), 1);
    let f = &f[0];
    assert_eq!(f.scheme, Scheme::Basic);
    assert_eq!(f.status, Status::Literal);
    assert_eq!(f.user.as_deref(), Some("svc@x.io"));
    assert_eq!(f.fingerprint(), Some(Token::new(tok.clone()).fingerprint()));
    assert_eq!(f.pointer, "/components/0/value/headers/0/value");
    assert_eq!(f.component_path, "Send web request");
    assert_eq!(f.component_id.as_deref(), Some("2"));
    assert_eq!(f.header_name.as_deref(), Some("Authorization"));
    assert_eq!(f.span, Some(6..6 + b64("svc@x.io", &tok).len()));
}

#[test]
fn span_covers_exactly_the_base64_text() {
    let tok = fake_token("svc");
    let enc = b64("svc@x.io", &tok);
    let value = format!("  basic   {enc}  ");
    let rule = rule_with(json!([web_request(
        "2",
        json!([{"name": "authorization", "value": value}])
    )]));
    let f = &detect(&rule)[0];
    assert_eq!(&value[f.span.clone().unwrap()], enc);
    assert_eq!(f.user.as_deref(), Some("svc@x.io"));
}

#[test]
fn missing_padding_is_tolerated() {
    let tok = fake_token("pad");
    let enc = b64("a@b.co", &tok);
    let unpadded = enc.trim_end_matches('=').to_string();
    let rule = rule_with(json!([web_request(
        "2",
        json!([{"name": "Authorization", "value": format!("Basic {unpadded}")}])
    )]));
    let f = &detect(&rule)[0];
    assert_eq!(f.token.as_ref().unwrap().expose(), tok);
}

#[test]
fn schema2_literal_and_secret_reference() {
    let tok = fake_token("s2");
    let mut action = web_request(
        "2",
        json!([
            {"name": "Authorization", "value": {"keyOrValue": format!("Basic {}", b64("svc@x.io", &tok)), "secret": false}},
            {"name": "X-Other", "value": {"keyOrValue": "jira-svc-token", "secret": true}}
        ]),
    );
    action["schemaVersion"] = json!(2);
    let f = detect(&rule_with(json!([action])));
    assert_eq!(f.len(), 2);
    assert_eq!(
        f[0].pointer,
        "/components/0/value/headers/0/value/keyOrValue"
    );
    assert_eq!(f[0].status, Status::Literal);
    assert_eq!(f[1].status, Status::SecretRef);
    assert!(f[1].token.is_none());
}

#[test]
fn masked_hidden_and_exported_empty_values() {
    let rule = rule_with(json!([web_request(
        "2",
        json!([
            {"name": "Authorization", "value": "***", "headerSecure": true},
            {"name": "X-Api-Key", "value": "", "headerSecure": true},
            {"name": "Accept", "value": "", "headerSecure": false}
        ])
    )]));
    let f = detect(&rule);
    assert_eq!(f.len(), 2);
    assert!(f.iter().all(|f| f.status == Status::Masked && f.hidden));
    assert_eq!(
        masked_pointers(&rule),
        vec!["/components/0/value/headers/0/value"]
    );
}

#[test]
fn smart_values_are_dynamic_and_plain_headers_are_ignored() {
    let rule = rule_with(json!([web_request(
        "2",
        json!([
            {"name": "Authorization", "value": "{{authHeader}}"},
            {"name": "Authorization", "value": "Basic {{secrets.jira}}"},
            {"name": "Content-Type", "value": "application/json"},
            {"name": "X-Trace", "value": "{{issue.key}}"}
        ])
    )]));
    let f = detect(&rule);
    assert_eq!(f.len(), 2);
    assert!(f
        .iter()
        .all(|f| f.status == Status::Dynamic && f.token.is_none()));
    assert_eq!(f[1].scheme, Scheme::Basic);
}

#[test]
fn bearer_and_non_email_basic() {
    let bearer = fake_token("bearer");
    let deploy = fake_token("deploy");
    let rule = rule_with(json!([web_request(
        "2",
        json!([
            {"name": "Authorization", "value": format!("Bearer {bearer}")},
            {"name": "Authorization", "value": format!("Basic {}", b64("deploy-bot", &deploy))}
        ])
    )]));
    let f = detect(&rule);
    assert_eq!(f[0].scheme, Scheme::Bearer);
    assert_eq!(f[0].fingerprint(), Some(Token::new(bearer).fingerprint()));
    assert_eq!(f[1].user.as_deref(), Some("deploy-bot"));
}

#[test]
fn nested_if_else_and_branches_get_human_paths() {
    let tok = fake_token("deep");
    let header =
        json!([{"name": "Authorization", "value": format!("Basic {}", b64("svc@x.io", &tok))}]);
    let block = |id: &str, inner: Value| {
        json!({"id": id, "component": "CONDITION_BLOCK", "type": "jira.condition.if.block",
            "value": {}, "children": inner, "conditions": []})
    };
    let rule = rule_with(json!([{
        "id": "10", "component": "BRANCH", "type": "jira.issue.related", "value": {},
        "children": [{
            "id": "11", "component": "CONDITION", "type": "jira.condition.container.block",
            "value": {}, "children": [
                block("12", json!([web_request("13", header.clone())])),
                block("14", json!([web_request("15", header)]))
            ], "conditions": []
        }], "conditions": []
    }]));
    let f = detect(&rule);
    assert_eq!(f.len(), 2);
    assert_eq!(
        f[0].component_path,
        "Branch > If/else > block 1 > Send web request"
    );
    assert_eq!(
        f[1].component_path,
        "Branch > If/else > else > Send web request"
    );
    assert_eq!(
        f[1].pointer,
        "/components/0/children/0/children/1/children/0/value/headers/0/value"
    );
}

#[test]
fn url_userinfo_and_query_tokens() {
    let tok = fake_token("url");
    let q = fake_token("q");
    let url = format!("https://svc%40x.io:{tok}@x.atlassian.net/rest/api/3/search?jql=a&token={q}");
    let mut action = web_request("2", json!([]));
    action["value"]["url"] = json!(url);
    let f = detect(&rule_with(json!([action])));
    assert_eq!(f.len(), 2);
    assert_eq!(f[0].user.as_deref(), Some("svc@x.io"));
    assert_eq!(f[0].encoding, Encoding::UrlUserinfo);
    assert_eq!(&url[f[0].span.clone().unwrap()], tok);
    assert_eq!(f[1].scheme, Scheme::Token);
    assert_eq!(&url[f[1].span.clone().unwrap()], q);
}

#[test]
fn body_and_create_variable_and_webhook_token() {
    let tok = fake_token("body");
    let var = fake_token("var");
    let hook = fake_token("hook");
    let mut action = web_request("2", json!([]));
    action["value"]["customBody"] = json!(format!(
        "{{\"auth\": \"Basic {}\", \"note\": \"basic idea\"}}",
        b64("svc@x.io", &tok)
    ));
    let variable = json!({"id": "3", "component": "ACTION", "type": "jira.create.variable",
        "value": {"name": {"type": "FREE", "value": "authHeader"},
                  "query": {"type": "SMART", "value": format!("Basic {}", b64("svc@x.io", &var))}}});
    let mut rule = rule_with(json!([action, variable]));
    rule["trigger"] = json!({"id": "1", "component": "TRIGGER", "type": "jira.automation.webhook.trigger",
        "value": {"webhookToken": hook}});
    let f = detect(&rule);
    let locs: Vec<_> = f.iter().map(|f| f.location).collect();
    assert_eq!(
        locs,
        vec![Location::WebhookToken, Location::Body, Location::Variable]
    );
    assert_eq!(f[1].user.as_deref(), Some("svc@x.io"));
    assert_eq!(f[2].pointer, "/components/1/value/query/value");
    // A webhook token is no account's credential: keyed, whatever it looks like.
    let key = crate::secret::FingerprintKey::from_text("unit-test-key-0123456789").unwrap();
    assert_eq!(
        f[0].fingerprint_with(Some(&key)),
        Some(Fingerprint::keyed(&hook, Some(&key)))
    );
}

#[test]
fn unknown_action_type_recognised_by_shape() {
    let tok = fake_token("shape");
    let mut action = web_request(
        "2",
        json!([{"name": "Authorization", "value": format!("Basic {}", b64("svc@x.io", &tok))}]),
    );
    action["type"] = json!("confluence.outgoing.webrequest");
    let f = detect(&rule_with(json!([action])));
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].component_path, "Send web request");
}

#[test]
fn rule_without_credentials_yields_nothing() {
    let rule = rule_with(
        json!([{"id": "2", "component": "ACTION", "type": "jira.issue.comment",
        "value": {"comment": "Basic workflow done by {{initiator.displayName}}", "n": 3}}]),
    );
    assert!(detect(&rule).is_empty());
    assert!(masked_pointers(&rule).is_empty());
}

#[test]
fn bearer_tokens_with_inner_equals_are_taken_whole() {
    // Current Atlassian tokens end in `=` and 8 hex digits.
    let tok = format!("FAKE{}=0A1B2C3D", uuid::Uuid::new_v4().simple());
    let body = format!("{{\"auth\": \"Bearer {tok}\"}}");
    let mut action = web_request("2", json!([]));
    action["value"]["customBody"] = json!(body);
    let f = detect(&rule_with(json!([action])));
    assert_eq!(f.len(), 1);
    assert_eq!(&body[f[0].span.clone().unwrap()], tok);
    assert_eq!(f[0].fingerprint(), Some(Token::new(tok).fingerprint()));
}

#[test]
fn other_web_request_fields_are_scanned_too() {
    let tok = fake_token("note");
    let mut action = web_request("2", json!([]));
    action["value"]["Note"] = json!(format!("old: Basic {}", b64("svc@x.io", &tok)));
    let f = detect(&rule_with(json!([action])));
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].pointer, "/components/0/value/Note");
    assert_eq!(f[0].location, Location::Field);
    assert_eq!(f[0].user.as_deref(), Some("svc@x.io"));
}

#[test]
fn clear_user_token_pairs_are_found_as_rewritable_basic() {
    let tok = fake_token("pair");
    let variable = json!({"id": "3", "component": "ACTION", "type": "jira.create.variable",
        "value": {"name": {"type": "FREE", "value": "pair"},
                  "query": {"type": "SMART", "value": format!("svc@x.io:{tok}")}}});
    let f = detect(&rule_with(json!([variable])));
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].encoding, Encoding::PlainPair);
    assert_eq!(f[0].user.as_deref(), Some("svc@x.io"));
    assert_eq!(f[0].token.as_ref().unwrap().expose(), tok);
}

#[test]
fn hidden_values_left_out_are_masked() {
    let mut action = web_request(
        "2",
        json!([{"name": "Authorization", "headerSecure": true},
               {"name": "X-Key", "value": null, "headerSecure": true},
               {"name": "X-Plain"}]),
    );
    action["value"]["urlSecure"] = json!(true);
    action["value"]["url"] = json!("");
    let f = detect(&rule_with(json!([action])));
    let masked: Vec<_> = f
        .iter()
        .filter(|f| f.status == Status::Masked)
        .map(|f| f.pointer.as_str())
        .collect();
    assert_eq!(
        masked,
        vec![
            "/components/0/value/url",
            "/components/0/value/headers/0/value",
            "/components/0/value/headers/1/value"
        ]
    );
}

#[test]
fn a_token_is_never_taken_for_a_scheme_word() {
    let legacy = "abcdefghij0123456789wxyz";
    let rule = rule_with(json!([web_request(
        "2",
        json!([{"name": "Authorization", "value": format!("{legacy} prod")}])
    )]));
    let f = &detect(&rule)[0];
    assert_eq!(f.scheme, Scheme::Token);
    assert!(!format!("{:?}", f.scheme).contains(legacy));
}

#[test]
fn finding_debug_shows_no_url_userinfo() {
    let tok = fake_token("dbg");
    let mut action = web_request("2", json!([]));
    action["value"]["url"] = json!(format!("https://svc%40x.io:{tok}@x.atlassian.net/a"));
    let f = detect(&rule_with(json!([action])));
    let shown = format!("{f:?}");
    assert!(!shown.contains(&tok), "{shown}");
    assert!(shown.contains("x.atlassian.net"));
}

#[test]
fn ordinary_text_is_not_taken_for_a_clear_pair() {
    let legacy = "abcdefghijklmnopqrstuvwx";
    for text in [
        "Approved by svc@corp.com:2024-01-15T10:30:00Z".to_string(),
        "clone git@github.com:myorg/myrepo-with-a-long-name.git".to_string(),
        "see user@host.corp.com:8080/jira/rest/api/3/search".to_string(),
        format!("https://svc%40corp.com:{legacy}@jira.corp.com:8443/rest/api/3/search"),
        format!("svc@corp.com:{legacy}@jira.corp.com"),
    ] {
        let variable = json!({"id": "3", "type": "jira.create.variable",
            "value": {"query": {"value": text}}});
        assert!(detect(&rule_with(json!([variable]))).is_empty(), "{text}");
    }
}

#[test]
fn a_masked_url_is_reported_as_masked() {
    let mut action = web_request("2", json!([]));
    action["value"]["url"] = json!("***");
    action["value"]["urlSecure"] = json!(true);
    let f = detect(&rule_with(json!([action])));
    assert_eq!(f.len(), 1);
    assert_eq!(
        (f[0].location, f[0].status),
        (Location::Url, Status::Masked)
    );
}

/// An `ATATT3`/`ATSTT`-shaped token made at run time (never a committed one).
fn atlassian_like(prefix: &str) -> String {
    format!(
        "{prefix}{}{}=0A1B2C3D",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

fn variable(id: &str, text: &str) -> Value {
    json!({"id": id, "component": "ACTION", "type": "jira.create.variable",
        "value": {"name": {"type": "FREE", "value": "auth"}, "query": {"type": "SMART", "value": text}}})
}

#[test]
fn raw_atlassian_tokens_are_found_in_any_string_field() {
    let api = atlassian_like("ATATT3");
    let scoped = atlassian_like("ATSTT");
    let comment = json!({"id": "5", "component": "ACTION", "type": "jira.issue.comment",
        "value": {"comment": format!("use {api} for now"), "n": 1}});
    let mut web = web_request("2", json!([{"name": "X-Custom", "value": scoped.clone()}]));
    web["value"]["customBody"] = json!(format!("{{\"key\": \"{api}\"}}"));
    let mut rule = rule_with(json!([comment, web]));
    rule["description"] = json!(format!("token {scoped}"));
    let f = detect(&rule);
    let got: Vec<_> = f
        .iter()
        .map(|f| {
            (
                f.pointer.as_str(),
                f.location,
                f.token.as_ref().unwrap().expose(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ("/components/0/value/comment", Location::Field, api.as_str()),
            (
                "/components/1/value/headers/0/value",
                Location::Header,
                scoped.as_str()
            ),
            (
                "/components/1/value/customBody",
                Location::Body,
                api.as_str()
            ),
            ("/description", Location::Field, scoped.as_str()),
        ]
    );
    assert!(f
        .iter()
        .all(|f| f.encoding == Encoding::Raw && f.status == Status::Literal));
    assert_eq!(f[3].component_path, RULE_DETAILS);
}

#[test]
fn a_raw_token_already_found_in_a_structured_place_is_not_reported_twice() {
    let api = atlassian_like("ATATT3");
    let mut web = web_request(
        "2",
        json!([{"name": "Authorization", "value": format!("Bearer {api}")}]),
    );
    web["value"]["url"] = json!(format!(
        "https://svc%40x.io:{api}@x.atlassian.net/a?token={api}"
    ));
    let pair = variable("3", &format!("svc@x.io:{api}"));
    let f = detect(&rule_with(json!([web, pair])));
    let encodings: Vec<_> = f.iter().map(|f| f.encoding).collect();
    assert_eq!(
        encodings,
        vec![
            Encoding::UrlUserinfo,
            Encoding::Raw,
            Encoding::Raw,
            Encoding::PlainPair
        ]
    );
    assert_eq!(f[2].scheme, Scheme::Bearer);
}

#[test]
fn bare_base64_email_token_is_a_rewritable_basic_credential() {
    let tok = fake_token("bare");
    let enc = b64("svc@x.io", &tok);
    // A variable holding the bare value, which a header then sends as `Basic {{auth}}`.
    let var = variable("3", &enc);
    let web = web_request(
        "2",
        json!([{"name": "Authorization", "value": "Basic {{auth}}"},
               {"name": "Authorization", "value": enc.clone()}]),
    );
    let f = detect(&rule_with(json!([var, web])));
    let basic: Vec<_> = f.iter().filter(|f| f.status == Status::Literal).collect();
    assert_eq!(basic.len(), 2, "{f:?}");
    for f in basic {
        assert_eq!(
            (f.scheme.clone(), f.encoding),
            (Scheme::Basic, Encoding::Base64Basic)
        );
        assert_eq!(f.user.as_deref(), Some("svc@x.io"));
        assert_eq!(f.token.as_ref().unwrap().expose(), tok);
    }
    // Base64 of something else (not email:token) is not a credential.
    let other = base64::engine::general_purpose::STANDARD.encode("just some words here: ok");
    assert!(detect(&rule_with(json!([variable("3", &other)]))).is_empty());
}

#[test]
fn legacy_tokens_count_only_beside_an_email() {
    let legacy = "k3j5h7g9f1d3s5a7p9o1i3u5";
    let near = variable("3", &format!("user svc@x.io token {legacy}"));
    let f = detect(&rule_with(json!([near])));
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].user.as_deref(), Some("svc@x.io"));
    assert_eq!(f[0].token.as_ref().unwrap().expose(), legacy);
    for text in [
        format!("build {legacy} done"),
        format!("svc@x.io:{legacy}@jira.corp.com"),
        format!("svc@x.io wrote abcdefghijklmnopqrstuvwxyz{legacy}"),
        "svc@x.io: abcdefghijklmnopqrstuvwx".to_string(),
    ] {
        assert!(
            detect(&rule_with(json!([variable("3", &text)]))).is_empty(),
            "{text}"
        );
    }
}

#[test]
fn secret_references_without_a_scheme_are_reported_as_not_inspectable() {
    let web = web_request(
        "2",
        json!([{"name": "X-Custom", "value": "{{secrets.partner_key}}"},
               {"name": "Authorization", "value": "Basic {{secrets.jira}}"}]),
    );
    let body = variable("3", "{\"key\": \"{{ secrets.other }}\"}");
    let f = detect(&rule_with(json!([web, body])));
    let ptrs: Vec<_> = f.iter().map(|f| (f.pointer.as_str(), f.status)).collect();
    assert_eq!(
        ptrs,
        vec![
            ("/components/0/value/headers/1/value", Status::Dynamic),
            ("/components/0/value/headers/0/value", Status::Dynamic),
            ("/components/1/value/query/value", Status::Dynamic),
        ]
    );
}

#[test]
fn webhook_urls_with_secrets_are_non_atlassian_secrets() {
    let path = uuid::Uuid::new_v4().simple().to_string();
    let teams = format!(
        "https://acme.webhook.office.com/webhookb2/{path}@{path}/IncomingWebhook/{path}/{path}"
    );
    let slack = format!("https://hooks.slack.com/services/T0000/B0000/{path}");
    let mut web = web_request("2", json!([]));
    web["value"]["url"] = json!(teams);
    let notify = json!({"id": "3", "component": "ACTION", "type": "jira.slack.notification",
        "value": {"webhookUrl": slack, "message": "hi"}});
    let f = detect(&rule_with(json!([web, notify])));
    assert_eq!(f.len(), 2, "{f:?}");
    for f in &f {
        assert_eq!(f.scheme, Scheme::Other("webhook".into()));
        assert!(f.user.is_none() && f.status == Status::Literal);
        assert!(f.token.as_ref().unwrap().expose().contains(&path));
    }
    assert_eq!(f[0].location, Location::Url);
    assert!(f[0].target_url.is_some());
    // A webhook URL without its secret part is nothing.
    let mut bare = web_request("2", json!([]));
    bare["value"]["url"] = json!("https://hooks.slack.com/services/");
    assert!(detect(&rule_with(json!([bare]))).is_empty());
}

#[test]
fn url_safe_base64_and_extra_padding_are_read_as_the_same_credential() {
    // A token whose base64 needs both '+' and '/' in the standard alphabet.
    // '?' and '>' runs encode to '/' and '+' whatever their alignment.
    let tok = format!("{}???>>>", fake_token("url-safe"));
    let enc = b64("svc@x.io", &tok);
    assert!(enc.contains('+') && enc.contains('/'), "{enc}");
    let url_safe = b64("svc@x.io", &tok).replace('+', "-").replace('/', "_");
    let padded = format!("{}==", b64("svc@x.io", &tok).trim_end_matches('='));
    for value in [
        format!("Basic {url_safe}"),
        url_safe.clone(),
        format!("Basic {padded}"),
    ] {
        let var = variable("3", &value);
        let web = web_request("2", json!([{"name": "Authorization", "value": value}]));
        let found = detect(&rule_with(json!([var, web])));
        let literal: Vec<_> = found
            .iter()
            .filter(|f| f.status == Status::Literal)
            .collect();
        assert_eq!(literal.len(), 2, "{value:?}: {found:?}");
        for f in literal {
            assert_eq!(f.user.as_deref(), Some("svc@x.io"), "{value:?}");
            assert_eq!(f.token.as_ref().unwrap().expose(), tok);
        }
    }
}

#[test]
fn a_lookup_table_row_holding_a_credential_is_found() {
    let tok = fake_token("table");
    let api = atlassian_like("ATATT3");
    let table = json!({"id": "4", "component": "ACTION", "type": "jira.lookup.table.create",
        "value": {"name": "creds", "entries": [
            {"key": "basic", "value": b64("svc@x.io", &tok)},
            {"key": "raw", "value": api.clone()}]}});
    let found = detect(&rule_with(json!([table])));
    let tokens: Vec<(Option<&str>, &str)> = found
        .iter()
        .filter(|f| f.status == Status::Literal)
        .map(|f| (f.user.as_deref(), f.token.as_ref().unwrap().expose()))
        .collect();
    assert_eq!(
        tokens,
        [(Some("svc@x.io"), tok.as_str()), (None, api.as_str())]
    );
}

#[test]
fn target_host_drops_userinfo_and_keeps_smart_base() {
    assert_eq!(
        target_host("https://u:FAKE@x.atlassian.net/a").as_deref(),
        Some("x.atlassian.net")
    );
    assert_eq!(
        target_host("{{baseUrl}}/rest/api/3/issue").as_deref(),
        Some("{{baseUrl}}")
    );
    assert_eq!(target_host("not a url"), None);
}

/// CSV, JSON and the table write these enums with `as_str`: it must be the serde name, so
/// the formats agree. A new variant fails to compile in the `match` until it is listed.
#[test]
fn as_str_is_the_serde_name_for_every_variant() {
    let locations = [
        Location::Header,
        Location::Url,
        Location::Body,
        Location::Variable,
        Location::LookupTable,
        Location::WebhookToken,
        Location::Field,
    ];
    for l in locations {
        match l {
            Location::Header
            | Location::Url
            | Location::Body
            | Location::Variable
            | Location::LookupTable
            | Location::WebhookToken
            | Location::Field => {}
        }
        assert_eq!(serde_json::to_value(l).unwrap(), l.as_str(), "{l:?}");
    }
    let statuses = [
        Status::Literal,
        Status::Masked,
        Status::SecretRef,
        Status::Dynamic,
        Status::Placeholder,
    ];
    for s in statuses {
        match s {
            Status::Literal
            | Status::Masked
            | Status::SecretRef
            | Status::Dynamic
            | Status::Placeholder => {}
        }
        assert_eq!(serde_json::to_value(s).unwrap(), s.as_str(), "{s:?}");
    }
    let schemes = [
        Scheme::Basic,
        Scheme::Bearer,
        Scheme::Token,
        Scheme::Unknown,
        Scheme::Other(WEBHOOK_SCHEME.into()),
        Scheme::Other("Digest".into()),
    ];
    for s in &schemes {
        match s {
            Scheme::Basic | Scheme::Bearer | Scheme::Token | Scheme::Unknown | Scheme::Other(_) => {
            }
        }
        assert_eq!(serde_json::to_value(s).unwrap(), s.as_str(), "{s:?}");
    }
}

// ---------------------------------------------------------------------------------------
// Spellings Atlassian accepts and relay bodies that escape them (issue 16)

/// A web request to a relay whose body is `body`.
fn relay(id: &str, body: &str) -> Value {
    let mut web = web_request(id, json!([]));
    web["value"]["url"] = json!("https://relay.example.org/forward");
    web["value"]["customBody"] = json!(body);
    web
}

/// (user, token, the text its span covers) of every literal finding.
fn literals(rule: &Value) -> Vec<(Option<String>, String, String)> {
    detect(rule)
        .into_iter()
        .filter(|f| f.status == Status::Literal)
        .map(|f| {
            let text = rule
                .pointer(&f.pointer)
                .and_then(Value::as_str)
                .expect("a finding points at a string");
            let covered = text[f.span.clone().expect("a literal has a span")].to_string();
            (f.user, f.token.unwrap().expose().to_string(), covered)
        })
        .collect()
}

/// A rule sending `header` in a web request, holding `text` in a variable, and sending
/// `body` to a relay.
fn header_variable_and_body(header: &str, text: &str, body: &str) -> Value {
    rule_with(json!([
        web_request("2", json!([{"name": "Authorization", "value": header}])),
        variable("3", text),
        relay("4", body),
    ]))
}

#[test]
fn spare_bits_in_the_last_symbol_are_read_as_atlassian_reads_them() {
    let (tok, value) = spellings::spare_bits("svc@x.io", "spare");
    assert_ne!(value, b64("svc@x.io", &tok));
    let body = format!("{{\"Authorization\": \"Basic {value}\"}}");
    let rule = header_variable_and_body(&format!("Basic {value}"), &value, &body);
    let user = Some("svc@x.io".to_string());
    assert_eq!(
        literals(&rule),
        vec![(user, tok, value); 3],
        "header, bare in a variable, and in a relay body"
    );
}

#[test]
fn echoed_base64_with_its_line_end_is_the_token_without_it() {
    // Long enough for `base64` to wrap it, as it wraps every ATATT3 token.
    let tok = format!("{}{}", fake_token("echo"), uuid::Uuid::new_v4().simple());
    let echoed = spellings::echoed("svc@x.io", &tok);
    assert!(echoed.trim_end().contains('\n'), "wrapped: {echoed:?}");
    let want = echoed.trim_end().to_string();
    // Bare in a variable, a line end inside and one after, as pasted from a terminal.
    let body = format!("Authorization: Basic {echoed}X-Other: 1");
    let rule = header_variable_and_body(&format!("Basic {echoed}"), &echoed, &body);
    let user = Some("svc@x.io".to_string());
    assert_eq!(literals(&rule), vec![(user, tok.clone(), want); 3]);
    // The same value in one line decodes the same: whitespace anywhere is dropped.
    assert_eq!(
        decode_basic(&format!(" {} ", echoed.replace('\n', " "))),
        Some(("svc@x.io".into(), tok))
    );
}

#[test]
fn two_line_ends_or_a_line_end_inside_the_pair_are_not_a_credential() {
    let tok = fake_token("nl");
    let engine = base64::engine::general_purpose::STANDARD;
    for pair in [
        format!("svc@x.io:{tok}\n\n"),
        format!("svc@x.io:{tok}\r"),
        format!("svc@x.io:\n{tok}"),
    ] {
        assert_eq!(decode_basic(&engine.encode(&pair)), None, "{pair:?}");
    }
    assert_eq!(
        decode_basic(&engine.encode(format!("svc@x.io:{tok}\r\n"))),
        Some(("svc@x.io".into(), tok))
    );
}

#[test]
fn a_form_encoded_relay_body_is_read_and_its_span_is_the_encoded_text() {
    let tok = format!("{}???>>>", fake_token("form"));
    let enc = b64("svc@x.io", &tok);
    let escaped = spellings::form_encoded(&enc);
    assert!(
        escaped.contains("%2B") && escaped.contains("%2F"),
        "{escaped}"
    );
    for body in [
        format!("authorization=Basic%20{escaped}&next=1"),
        format!("authorization=Basic+{escaped}"),
    ] {
        let rule = rule_with(json!([relay("4", &body)]));
        let found = detect(&rule);
        assert_eq!(found.len(), 1, "{body}: {found:?}");
        let f = &found[0];
        assert_eq!(f.user.as_deref(), Some("svc@x.io"), "{body}");
        assert_eq!(f.token.as_ref().unwrap().expose(), tok, "{body}");
        assert!(
            matches!(
                f.encoding,
                Encoding::Base64BasicForm | Encoding::PlainPairForm
            ),
            "{body}: {:?}",
            f.encoding
        );
        let covered = &body[f.span.clone().unwrap()];
        assert_eq!(covered, escaped, "{body}");
    }
    // `email:token` in clear, form-encoded: the span is the token's encoded text.
    let tok = format!("{}=0A1B2C3D", fake_token("pair"));
    let body = format!("auth=svc%40x.io%3A{}&n=1", spellings::form_encoded(&tok));
    let found = detect(&rule_with(json!([relay("4", &body)])));
    assert_eq!(found.len(), 1, "{body}: {found:?}");
    assert_eq!(found[0].encoding, Encoding::PlainPairForm);
    assert_eq!(found[0].token.as_ref().unwrap().expose(), tok);
    assert_eq!(
        &body[found[0].span.clone().unwrap()],
        spellings::form_encoded(&tok)
    );
}

#[test]
fn a_json_escaped_relay_body_is_read_and_its_span_covers_the_escapes() {
    let tok = fake_token("json");
    let enc = b64("svc@x.io", &tok);
    let api = atlassian_like("ATATT3");
    let escaped = spellings::json_escaped(&format!("Basic {enc}"));
    let body = format!(
        "{{\"headers\": {{\"Authorization\": \"{escaped}\"}}, \"key\": \"\\u0041{}\"}}",
        &api[1..]
    );
    let rule = rule_with(json!([relay("4", &body)]));
    let found = literals(&rule);
    let after_word = escaped.find("asic ").unwrap() + 5;
    assert_eq!(
        found,
        vec![
            (
                Some("svc@x.io".to_string()),
                tok.clone(),
                escaped[after_word..].to_string()
            ),
            (None, api.clone(), format!("\\u0041{}", &api[1..])),
        ],
        "{body}"
    );
    // A wrapped value whose line ends are `\n` escapes is one credential, not its first line.
    let echoed = spellings::echoed("svc@x.io", &tok);
    let body = format!(
        "{{\"a\": \"Basic {}\"}}",
        echoed.trim_end().replace('\n', "\\n")
    );
    let found = literals(&rule_with(json!([relay("4", &body)])));
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].1, tok);
}

#[test]
fn placeholders_are_not_credentials_in_any_form() {
    for value in [
        "Basic YOUR_TOKEN_HERE",
        "Basic <base64 of email:token>",
        "Basic <token>",
        "Basic xxxxxxxxxxxx",
        "Basic ************",
        "Basic your-api-token",
        "Basic REPLACE-ME",
    ] {
        let form = format!("authorization={}", spellings::form_encoded(value));
        let json_body = format!("{{\"a\": \"{}\"}}", spellings::json_escaped(value));
        let rule = rule_with(json!([
            web_request("2", json!([{"name": "Authorization", "value": value}])),
            variable("3", value),
            relay("4", &form),
            relay("5", &json_body),
        ]));
        let found = detect(&rule);
        // The header's placeholder is shown as one; prose around the others is nothing.
        assert_eq!(found.len(), 1, "{value}: {found:?}");
        assert_eq!(found[0].status, Status::Placeholder, "{value}");
        assert_eq!(found[0].location, Location::Header);
        assert!(found[0].token.is_none() && found[0].fingerprint().is_none());
    }
}

/// Authors' placeholders in every place a credential goes are their own status: shown,
/// with no token (nothing counts, rotates or revokes them), never a literal.
#[test]
fn authors_placeholders_are_their_own_status_wherever_they_sit() {
    let b = |user: &str, token: &str| format!("Basic {}", b64(user, token));
    for (header, value) in [
        (
            "Authorization",
            "Bearer YOUR_GITHUB_PAT_WITH_REPO_SCOPE".to_string(),
        ),
        ("Authorization", "Bearer <your-token>".to_string()),
        ("Authorization", "Bearer ${TOKEN}".to_string()),
        ("X-Api-Key", "REPLACE_ME".to_string()),
        ("Authorization", "token xxxxxxxxxxxxxxxxxxxx…".to_string()),
        ("X-Auth-Token", "changeme".to_string()),
        ("X-Auth-Token", "TODO".to_string()),
        ("Authorization", b("you@example.com", "your-api-token")),
        ("Authorization", b("you@example.com", "<api-token>")),
    ] {
        let rule = rule_with(json!([web_request(
            "2",
            json!([{"name": header, "value": value}])
        )]));
        let found = detect(&rule);
        assert_eq!(found.len(), 1, "{value}: {found:?}");
        assert_eq!(found[0].status, Status::Placeholder, "{value}");
        assert!(found[0].token.is_none() && found[0].credential().is_none());
    }
    // In a body or a URL's query too.
    let mut web = relay(
        "2",
        "{\"auth\": \"Bearer YOUR_GITHUB_PAT_WITH_REPO_SCOPE\"}",
    );
    web["value"]["url"] = json!("https://ci.example.org/hook?token=REPLACE_ME");
    let found = detect(&rule_with(json!([web])));
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(found.iter().all(|f| f.status == Status::Placeholder));
}

/// Negative examples: real secrets that merely resemble the words stay literal.
#[test]
fn secrets_that_resemble_placeholders_stay_literal() {
    let tok = fake_token("todo");
    for value in [
        format!("Bearer {tok}"),
        "Bearer my7Hq2ZpL0xQ4vR8".to_string(),
        "Bearer todo-4f9a2c1e8b7d5a3c".to_string(),
        format!("Basic {}", b64("svc@x.io", "password")),
        format!("Basic {}", b64("svc@x.io", &tok)),
    ] {
        let rule = rule_with(json!([web_request(
            "2",
            json!([{"name": "Authorization", "value": value}])
        )]));
        let found = detect(&rule);
        assert_eq!(found.len(), 1, "{value}: {found:?}");
        assert_eq!(found[0].status, Status::Literal, "{value}");
    }
}

/// Another rule's incoming-webhook secret in a Send web request's URL, in every form
/// Jira Automation gives one, is a literal secret: keyed, named by no user, never an
/// account's credential; the same secret as the trigger's `webhookToken` shows the same
/// fingerprint.
#[test]
fn automation_webhook_secrets_in_urls_are_literal_secrets() {
    let secret = format!("{}{}", uuid::Uuid::new_v4().simple(), "0a1b2c3d");
    let key = crate::secret::FingerprintKey::from_text("team-key-0123456789abcdef").unwrap();
    let mut trigger_rule = rule_with(json!([]));
    trigger_rule["trigger"] = json!({"id": "1", "component": "TRIGGER",
        "type": "jira.automation.webhook.trigger", "value": {"webhookToken": secret}});
    let trigger = &detect(&trigger_rule)[0];
    for url in [
        format!("https://automation.atlassian.com/pro/hooks/{secret}"),
        format!("https://jira.corp.example/rest/cb-automation/latest/hooks/{secret}"),
        format!("https://jira.corp.example/jira/rest/cb-automation/latest/hooks/{secret}"),
        format!("{{{{baseUrl}}}}/rest/cb-automation/latest/hooks/{secret}"),
        format!(
            "https://api-private.atlassian.com/automation/webhooks/jira/a/0a1b2c3d-4e5f-6789-abcd-ef0123456789/{secret}"
        ),
    ] {
        let mut web = web_request("2", json!([]));
        web["value"]["url"] = json!(url);
        let found = detect(&rule_with(json!([web])));
        assert_eq!(found.len(), 1, "{url}: {found:?}");
        let f = &found[0];
        assert_eq!(f.status, Status::Literal, "{url}");
        assert_eq!(f.location, Location::Url);
        assert_eq!(f.scheme, Scheme::Other(WEBHOOK_SCHEME.into()));
        assert!(f.user.is_none() && !f.may_be_atlassian_credential(), "{url}");
        assert_eq!(f.token.as_ref().unwrap().expose(), secret, "{url}");
        assert_eq!(
            f.fingerprint_with(Some(&key)),
            trigger.fingerprint_with(Some(&key)),
            "{url}"
        );
        assert!(f.fingerprint_with(Some(&key)).unwrap().is_keyed());
    }
    // The newer header form is the same secret, labelled so.
    let web = web_request(
        "2",
        json!([{"name": "X-Automation-Webhook-Token", "value": secret}]),
    );
    let found = detect(&rule_with(json!([web])));
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].scheme, Scheme::Other(WEBHOOK_SCHEME.into()));
    assert_eq!(found[0].status, Status::Literal);
}

/// Negative examples: webhook addresses without their secret, and REST paths that only
/// look alike, are nothing.
#[test]
fn automation_urls_without_a_secret_are_nothing() {
    for url in [
        "https://automation.atlassian.com/pro/hooks/",
        "https://jira.corp.example/rest/cb-automation/latest/project/GLOBAL/rule",
        "{{baseUrl}}/rest/cb-automation/latest/hooks/",
        "https://api-private.atlassian.com/automation/webhooks/jira/a/",
        "https://acme.atlassian.net/rest/api/3/webhooks/abcdefabcdefabcdef",
        "https://automation.atlassian.com/pro/rest/short",
    ] {
        let mut web = web_request("2", json!([]));
        web["value"]["url"] = json!(url);
        let found = detect(&rule_with(json!([web])));
        assert!(found.is_empty(), "{url}: {found:?}");
    }
}

#[test]
fn a_word_after_a_basic_value_is_never_taken_into_it() {
    let tok = fake_token("prose");
    let enc = b64("svc@x.io", &tok);
    for text in [
        format!("use Basic {enc} then call"),
        format!("Basic {enc}\nthen call it"),
        format!("Basic {} abcd", enc.trim_end_matches('=')),
    ] {
        let found = literals(&rule_with(json!([variable("3", &text)])));
        assert_eq!(found.len(), 1, "{text:?}: {found:?}");
        assert_eq!(found[0].1, tok, "{text:?}");
    }
}

#[test]
fn a_basic_value_that_names_no_account_is_unattributable_when_atlassian_may_get_it() {
    let tok = fake_token("who");
    let header = |url: &str, value: String| {
        let mut web = web_request("2", json!([{"name": "Authorization", "value": value}]));
        web["value"]["url"] = json!(url);
        detect(&rule_with(json!([web])))
    };
    let undecodable = format!("Basic {}", &b64("svc@x.io", &tok)[1..]);
    let site = "https://acme.atlassian.net/rest/api/3/issue";
    let other = "https://ci.example.org/job";
    for (found, blocks) in [
        (header(site, undecodable.clone()), true),
        (header("{{baseUrl}}/rest", undecodable.clone()), true),
        (
            header(site, format!("Basic {}", b64("deploy-bot", &tok))),
            true,
        ),
        (header(other, undecodable), false),
        (
            header(other, format!("Basic {}", b64("deploy-bot", &tok))),
            false,
        ),
        (
            header(site, format!("Basic {}", b64("svc@x.io", &tok))),
            false,
        ),
        (header(site, format!("Bearer {tok}")), false),
    ] {
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(
            found[0].unattributable_basic_to_atlassian(),
            blocks,
            "{found:?}"
        );
    }
    // In a body a Basic value goes wherever the relay sends it.
    let body = format!(
        "{{\"Authorization\": \"Basic {}\"}}",
        b64("deploy-bot", &tok)
    );
    let found = detect(&rule_with(json!([relay("4", &body)])));
    assert!(found[0].unattributable_basic_to_atlassian(), "{found:?}");
}

/// A line is joined to a wrapped value only as a wrapper writes it: whole (it ends the
/// line or the value) and, joined, with no spare bits. A word after a value as wide as a
/// wrapped line stays a word; a real second line is still joined.
#[test]
fn only_a_line_a_wrapper_writes_is_joined_to_a_value() {
    let long = format!("{}{}", fake_token("w"), uuid::Uuid::new_v4().simple());
    let token = &long[..64 / 4 * 3 - "svc@x.io:".len()];
    let line = b64("svc@x.io", token);
    assert!(line.len() == 64 && !line.contains('='));
    for tail in ["ICa=a", "ICa=é", "ICa=\"", "ICa= x", "Ia"] {
        let text = format!("{line}\n{tail}");
        let (span, _, read) = wrapped_basic(&text, 0..line.len()).expect("the line decodes");
        assert_eq!((span, read.as_str()), (0..line.len(), token), "{tail:?}");
    }
    // `openssl base64` output: lines of 64, the last one shorter.
    let wrapped = format!(
        "{}\n{}",
        &b64("svc@x.io", &long)[..64],
        &b64("svc@x.io", &long)[64..]
    );
    let (span, _, read) = wrapped_basic(&format!("{wrapped}\"}}"), 0..64).expect("joined");
    assert_eq!((span, read), (0..wrapped.len(), long));
}
