//! Scoped tokens and service accounts end to end: the real binary against a sandbox that
//! serves the gateway form (`/ex/jira/{cloudId}/...`, standing in for api.atlassian.com on
//! the same loopback port, chosen with `AUTOREKEY_GATEWAY_URL`) and refuses scoped tokens on
//! the site's own address, as Atlassian does.
//!
//! What only the whole program can get wrong is checked here: which address each credential
//! is sent to and how often (a service account never to the site; a doubtful credential at
//! most once per address form, since failed logins lock an account behind a CAPTCHA), the
//! verdict a "scope does not match" earns, and a migration from a person's token to a
//! service account's that rewrites credential and request URL alike, in a dry run, a saved
//! plan and its `apply`. Every output is checked for every token first (see `common`).

use crate::common;
use crate::common::{fake_token, RunOutput, SiteSpec, TestSite};
use autorekey::sandbox::{Account, Directory, SandboxConfig, ScopedToken};
use autorekey::secret::{Credential, Token};
use serde_json::{json, Value};

const ADMIN: &str = "admin@acme.example";
const ALICE: &str = "alice@acme.example";
const CAROL: &str = "carol@acme.example";
const BOT: &str = "bot@serviceaccount.atlassian.com";
const NO_ME: &str = "limited@serviceaccount.atlassian.com";
const CLOUD: &str = "5b1e2c7a-0d4f-4e8b-9a61-3c2d1e0f9a88";

fn account(email: &str, admin: bool, tokens: &[&str], revoked: &[&str]) -> Account {
    Account {
        email: email.into(),
        account_id: format!("712020:{}", email.split('@').next().unwrap_or(email)),
        admin,
        tokens: tokens.iter().map(|t| Token::new(*t)).collect(),
        revoked_tokens: revoked.iter().map(|t| Token::new(*t)).collect(),
    }
}

fn scoped(email: &str, token: &str, read_me: bool) -> ScopedToken {
    ScopedToken {
        email: email.into(),
        token: Token::new(token),
        read_me,
    }
}

/// A rule whose one "Send web request" sends `user:token` as Basic to `url`.
fn web_request_to(n: u32, url: &str, user: &str, token: &str) -> Value {
    let basic = Credential::new(user, Token::new(token)).basic_value();
    json!({"rule": {
        "uuid": format!("0190f3a2-5b7c-7d21-8e4f-0000000000{n:02}"),
        "name": format!("Web request {n:02}"),
        "state": "ENABLED",
        "labels": [],
        "ruleScopeARIs": [],
        "trigger": {"id": "1", "component": "TRIGGER", "type": "jira.issue.event.trigger:created",
                    "schemaVersion": 1, "value": {}, "children": [], "conditions": []},
        "components": [{"id": "2", "component": "ACTION", "type": "jira.issue.outgoing.webhook",
            "schemaVersion": 1, "children": [], "conditions": [],
            "value": {"url": url, "method": "POST", "contentType": "empty",
                "headers": [{"id": "h1", "name": "Authorization",
                             "value": format!("Basic {basic}"), "headerSecure": true}]}}],
    }, "connections": []})
}

fn gateway_url(rest: &str) -> String {
    format!("https://api.atlassian.com/ex/jira/{CLOUD}/{rest}")
}

/// A site with `rules`, the admin, `accounts` and `scoped` tokens; every token is a secret
/// the output is checked for.
fn site(rules: Vec<Value>, accounts: Vec<Account>, scoped: Vec<ScopedToken>) -> TestSite {
    let admin_token = fake_token();
    let mut all = vec![account(ADMIN, true, &[&admin_token], &[])];
    all.extend(accounts);
    let mut secrets: Vec<String> = all
        .iter()
        .flat_map(|a| a.tokens.iter().chain(&a.revoked_tokens))
        .map(|t| t.expose().to_owned())
        .collect();
    secrets.extend(scoped.iter().map(|s| s.token.expose().to_owned()));
    SiteSpec {
        config: SandboxConfig {
            rules,
            accounts: all,
            directory: Directory {
                scoped_tokens: scoped,
                org: None,
            },
            cloud_id: Some(CLOUD.into()),
            ..SandboxConfig::default()
        },
        login: ADMIN.into(),
        admin_token,
        secrets,
    }
    .start()
}

/// The binary pointed at `site`, with the gateway on the same loopback port.
fn run_with_gateway(site: &TestSite, args: &[&str], new_token: Option<&str>) -> RunOutput {
    let mut cmd = site.cmd();
    cmd.env("AUTOREKEY_GATEWAY_URL", site.base_url()).args(args);
    if let Some(token) = new_token {
        cmd.env("AUTOREKEY_NEW_TOKEN", token);
    }
    site.run_cmd(cmd)
}

/// `(verification, detail)` of the row of `user`'s credential in rule `n`.
fn verdict(report: &Value, n: u32) -> (String, String) {
    let uuid = format!("0190f3a2-5b7c-7d21-8e4f-0000000000{n:02}");
    let row = report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .find(|r| r["rule_uuid"] == uuid.as_str())
        .unwrap_or_else(|| panic!("no finding in rule {n}"));
    let text = |k: &str| row[k].as_str().unwrap_or_default().to_owned();
    (text("verification"), text("verification_detail"))
}

#[test]
fn scoped_and_service_account_tokens_are_verified_through_the_gateway_once_per_form() {
    let (live, dead, carol, bot, limited) = (
        fake_token(),
        fake_token(),
        fake_token(),
        fake_token(),
        fake_token(),
    );
    let site = site(
        vec![
            web_request_to(1, "{{baseUrl}}/rest/api/3/issue", ALICE, &live),
            web_request_to(2, "{{baseUrl}}/rest/api/3/issue", ALICE, &dead),
            web_request_to(3, &gateway_url("rest/api/3/issue"), CAROL, &carol),
            web_request_to(4, &gateway_url("rest/api/3/issue"), BOT, &bot),
            web_request_to(5, "{{baseUrl}}/rest/api/3/search", NO_ME, &limited),
        ],
        vec![
            account(ALICE, false, &[&live], &[&dead]),
            account(CAROL, false, &[], &[]),
            account(BOT, false, &[], &[]),
            account(NO_ME, false, &[], &[]),
        ],
        vec![
            scoped(CAROL, &carol, true),
            scoped(BOT, &bot, true),
            scoped(NO_ME, &limited, false),
        ],
    );
    let out = run_with_gateway(&site, &["scan", "--verify", "--format", "json"], None);
    out.expect_code(0);
    let report = out.json();

    assert_eq!(verdict(&report, 1).0, "live");
    let (v, detail) = verdict(&report, 2);
    assert_eq!(v, "dead", "{detail}");
    assert!(
        detail.contains("/ex/jira/"),
        "both forms were tried: {detail}"
    );
    let (v, detail) = verdict(&report, 3);
    assert_eq!(
        (v.as_str(), detail.contains("/ex/jira/")),
        ("live", true),
        "{detail}"
    );
    assert_eq!(verdict(&report, 4).0, "live");
    let (v, detail) = verdict(&report, 5);
    assert_eq!(v, "live", "scope does not match is not dead: {detail}");
    assert!(detail.contains("read:jira-user"), "{detail}");
    // Rule 5 sends that gateway-only token to the site itself: its requests fail.
    assert!(detail.contains("--rewrite-urls"), "{detail}");
    assert!(!verdict(&report, 4).1.contains("--rewrite-urls"));

    let stats = site.stats();
    // A service account's token is never sent to the site, which would count a failure.
    for svc in [BOT, NO_ME] {
        assert_eq!(stats.myself(svc).ok + stats.myself(svc).failed, 0, "{svc}");
    }
    assert_eq!(stats.gateway(BOT).ok, 1);
    // A person's scoped token: refused once by the site, then accepted by the gateway.
    assert_eq!(
        (stats.myself(CAROL).failed, stats.gateway(CAROL).ok),
        (1, 1)
    );
    // A dead token: one try per form, never a retry.
    assert_eq!(stats.gateway(ALICE).failed, 1);
    assert_eq!(stats.myself(ALICE).failed, 1);
}

#[test]
fn product_confluence_logs_in_and_verifies_through_confluence_endpoints() {
    let bot = fake_token();
    // A Confluence rule: each product's API serves its own rules.
    let mut rule = web_request_to(1, "{{baseUrl}}/wiki/rest/api/content", BOT, &bot);
    rule["sandbox"] = serde_json::json!({"product": "confluence"});
    let site = site(
        vec![rule],
        vec![account(BOT, false, &[], &[])],
        vec![scoped(BOT, &bot, true)],
    );
    let out = run_with_gateway(
        &site,
        &[
            "--product",
            "confluence",
            "scan",
            "--verify",
            "--format",
            "json",
        ],
        None,
    );
    out.expect_code(0);
    let (v, detail) = verdict(&out.json(), 1);
    assert_eq!(v, "live", "{detail}");
    assert!(
        detail.contains(&format!(
            "/ex/confluence/{CLOUD}/wiki/rest/api/user/current"
        )),
        "{detail}"
    );
}

#[test]
fn a_gateway_override_that_is_not_loopback_is_refused() {
    let site = site(vec![], vec![], vec![]);
    let mut cmd = site.cmd();
    cmd.env("AUTOREKEY_GATEWAY_URL", "https://collector.example.com/")
        .args(["scan", "--format", "json"]);
    let out = site.run_cmd(cmd);
    out.expect_code(2).expect_error_with_hint();
    assert!(out.stderr.contains("loopback"), "{}", out.stderr);
}

#[test]
fn a_loopback_gateway_override_is_refused_for_a_real_site() {
    let (admin, key) = (fake_token(), fake_token());
    let real = |args: &[&str]| {
        let mut cmd = common::autorekey();
        cmd.env("AUTOREKEY_SITE", "https://acme.atlassian.net")
            .env("AUTOREKEY_LOGIN", ADMIN)
            .env("AUTOREKEY_API_TOKEN", &admin)
            .env("AUTOREKEY_ORG_API_KEY", &key)
            .env("AUTOREKEY_GATEWAY_URL", "http://127.0.0.1:9/")
            .args(args);
        let out = common::run_checked(cmd, &[admin.clone(), key.clone()]);
        out.expect_code(2).expect_error_with_hint();
        assert!(
            out.stderr.contains("AUTOREKEY_GATEWAY_URL"),
            "{args:?}: {}",
            out.stderr
        );
    };
    real(&["scan", "--format", "json"]);
    // `tokens` needs no site, but with a real one set its org key goes nowhere local either.
    real(&[
        "tokens",
        "--account",
        ALICE,
        "--org",
        CLOUD,
        "--format",
        "json",
    ]);
}

/// A person's rules moved to a service account: the site before, and the tokens.
struct Migration {
    site: TestSite,
    new_token: String,
}

fn migration_site() -> Migration {
    let (old, new) = (fake_token(), fake_token());
    let site = site(
        vec![
            web_request_to(
                1,
                "{{baseUrl}}/rest/api/3/issue/{{issue.key}}/comment",
                ALICE,
                &old,
            ),
            web_request_to(2, "https://hooks.example.com/notify", ALICE, &old),
        ],
        vec![
            account(ALICE, false, &[&old], &[]),
            account(BOT, false, &[], &[]),
        ],
        vec![scoped(BOT, &new, true)],
    );
    Migration {
        site,
        new_token: new,
    }
}

fn stored(site: &TestSite, n: u32) -> Value {
    let uuid = format!("0190f3a2-5b7c-7d21-8e4f-0000000000{n:02}");
    site.state().rule(&uuid).expect("stored rule")["rule"]["components"][0]["value"].clone()
}

const MIGRATE: [&str; 7] = [
    "rotate",
    "--account",
    ALICE,
    "--to-account",
    BOT,
    "--rewrite-urls",
    "--backup-dir",
];

#[test]
fn migration_to_a_service_account_rewrites_credentials_and_urls_through_a_plan() {
    let m = migration_site();
    let site = &m.site;
    let backups = site.dir.path().join("backups");
    let backups = backups.to_str().unwrap();
    let before = [stored(site, 1), stored(site, 2)];

    let mut dry = MIGRATE.to_vec();
    dry.extend([backups, "--dry-run"]);
    let out = run_with_gateway(site, &dry, Some(&m.new_token));
    out.expect_code(0);
    let moved = format!(
        "{}/ex/jira/{CLOUD}/rest/api/3/issue/{{{{issue.key}}}}/comment",
        site.base_url()
    );
    assert!(
        out.stdout.contains(&moved),
        "the diff shows the new URL:\n{}",
        out.stdout
    );
    assert!(out.stdout.contains(BOT), "{}", out.stdout);
    assert_eq!(
        site.stats().endpoint("PUT rule"),
        0,
        "a dry run writes nothing"
    );
    // The service account's new token went to the gateway only.
    assert_eq!(
        site.stats().myself(BOT).ok + site.stats().myself(BOT).failed,
        0
    );

    let plan = site.dir.path().join("plan.json");
    let mut save = MIGRATE.to_vec();
    save.extend([backups, "--out", plan.to_str().unwrap()]);
    run_with_gateway(site, &save, Some(&m.new_token)).expect_code(0);
    let plan_text = std::fs::read_to_string(&plan).unwrap();
    common::assert_no_secrets(&plan_text, site.secrets());
    assert!(plan_text.contains(BOT), "the plan records the migration");
    assert_eq!([stored(site, 1), stored(site, 2)], before);

    let apply = [
        "apply",
        plan.to_str().unwrap(),
        "--yes",
        "--backup-dir",
        backups,
    ];
    let out = run_with_gateway(site, &apply, Some(&m.new_token));
    out.expect_code(0);

    let basic = format!(
        "Basic {}",
        Credential::new(BOT, Token::new(m.new_token.clone())).basic_value()
    );
    let (one, two) = (stored(site, 1), stored(site, 2));
    assert_eq!(one["url"], moved.as_str());
    assert_eq!(one["headers"][0]["value"], basic.as_str());
    assert_eq!(one["headers"][0]["headerSecure"], true);
    // Not the site's REST API: the credential moves, the URL stays.
    assert_eq!(two["url"], "https://hooks.example.com/notify");
    assert_eq!(two["headers"][0]["value"], basic.as_str());
}

#[test]
fn a_plan_whose_url_rewrite_names_another_host_or_cloud_writes_nothing() {
    let m = migration_site();
    let site = &m.site;
    let backups = site.dir.path().join("backups");
    let backups = backups.to_str().unwrap();
    let before = [stored(site, 1), stored(site, 2)];
    let plan_path = site.dir.path().join("plan.json");
    let mut save = MIGRATE.to_vec();
    save.extend([backups, "--out", plan_path.to_str().unwrap()]);
    run_with_gateway(site, &save, Some(&m.new_token)).expect_code(0);
    let saved = std::fs::read_to_string(&plan_path).unwrap();
    // The seal is keyed: read and reseal it with the key the binary uses (the tests' team
    // key), as anyone holding the key can.
    autorekey::secret::fingerprint_key::install(Some(
        autorekey::secret::FingerprintKey::from_text(common::TEST_FINGERPRINT_KEY).unwrap(),
    ));
    let plan = autorekey::plan::PlanFile::from_sealed_json(&saved).unwrap();

    // Resealed, as anyone who holds the key can: the hash proves no authorship.
    type Edit = fn(&mut autorekey::gateway::UrlRewrite);
    let edits: [(&str, Edit); 2] = [
        ("another host", |u| {
            u.gateway = "https://collector.example.com".into()
        }),
        ("another cloud", |u| {
            u.cloud_id = "0000-another-tenant".into()
        }),
    ];
    for (what, edit) in edits {
        let mut tampered = plan.clone();
        let urls = tampered.selector.migrate.as_mut().unwrap().urls.as_mut();
        edit(urls.expect("the plan holds the URL rewrite"));
        std::fs::write(&plan_path, tampered.to_sealed_json()).unwrap();
        let apply = [
            "apply",
            plan_path.to_str().unwrap(),
            "--yes",
            "--backup-dir",
            backups,
        ];
        let out = run_with_gateway(site, &apply, Some(&m.new_token));
        out.expect_code(2).expect_error_with_hint();
        assert!(out.stderr.contains("URL rewrite"), "{what}: {}", out.stderr);
        assert_eq!(site.stats().endpoint("PUT rule"), 0, "{what}");
    }
    assert_eq!([stored(site, 1), stored(site, 2)], before);
}

#[test]
fn a_migration_that_leaves_the_old_token_in_a_rule_gives_no_revoke_advice() {
    let (old, new) = (fake_token(), fake_token());
    let kept = format!("https://alice%40acme.example:{old}@hooks.example.com/x");
    let site = site(
        vec![
            web_request_to(1, "{{baseUrl}}/rest/api/3/issue", ALICE, &old),
            web_request_to(2, &kept, ALICE, &old),
        ],
        vec![
            account(ALICE, false, &[&old], &[]),
            account(BOT, false, &[], &[]),
        ],
        vec![scoped(BOT, &new, true)],
    );
    let backups = site.dir.path().join("backups");
    let mut args = MIGRATE.to_vec();
    args.extend([backups.to_str().unwrap(), "--yes"]);
    let out = run_with_gateway(&site, &args, Some(&new));
    out.expect_code(3);
    assert!(out.stdout.contains("Do NOT revoke"), "{}", out.stdout);
    assert!(!out.stdout.contains("autorekey revoke"), "{}", out.stdout);
    assert_eq!(stored(&site, 2)["url"], kept.as_str());
}

/// A migration follows the confirmation rule too: alice's real token (it logs in as her)
/// moves to the service account; a planted `alice:junk` sent to another host gets nothing.
#[test]
fn a_migration_moves_only_values_confirmed_as_the_accounts_token() {
    let (old, new, junk) = (fake_token(), fake_token(), fake_token());
    let site = site(
        vec![
            web_request_to(1, "{{baseUrl}}/rest/api/3/issue", ALICE, &old),
            web_request_to(2, "https://collector.evil.example/x", ALICE, &junk),
        ],
        vec![
            account(ALICE, false, &[&old], &[]),
            account(BOT, false, &[], &[]),
        ],
        vec![scoped(BOT, &new, true)],
    );
    let planted_before = stored(&site, 2);
    let backups = site.dir.path().join("backups");
    let mut args = MIGRATE.to_vec();
    args.extend([backups.to_str().unwrap(), "--yes", "--format", "json"]);
    let out = run_with_gateway(&site, &args, Some(&new));
    out.expect_code(3);
    let json = out.json();
    assert_eq!(json["confirmed"][0]["evidence"], "login");
    assert_eq!(json["unconfirmed"].as_array().map(Vec::len), Some(1));
    assert_eq!(json["verdict"]["advice"], "unconfirmed");
    let moved = Credential::new(BOT, Token::new(&new)).basic_value();
    assert_eq!(
        stored(&site, 1)["headers"][0]["value"],
        format!("Basic {moved}")
    );
    assert_eq!(
        stored(&site, 2),
        planted_before,
        "the planted rule is untouched"
    );
}

#[test]
fn migration_refuses_a_new_token_the_service_account_does_not_own() {
    let m = migration_site();
    let site = &m.site;
    let backups = site.dir.path().join("backups");
    let mut args = MIGRATE.to_vec();
    args.extend([backups.to_str().unwrap(), "--yes"]);
    let wrong = fake_token();
    let mut cmd = site.cmd();
    cmd.env("AUTOREKEY_GATEWAY_URL", site.base_url())
        .env("AUTOREKEY_NEW_TOKEN", &wrong)
        .args(&args);
    let mut secrets = site.secrets().to_vec();
    secrets.push(wrong);
    let out = common::run_checked(cmd, &secrets);
    out.expect_code(2).expect_error_with_hint();
    assert!(out.stderr.contains("nothing was written"), "{}", out.stderr);
    let stats = site.stats();
    assert_eq!(stats.endpoint("PUT rule"), 0);
    assert_eq!(
        (stats.gateway(BOT).failed, stats.myself(BOT).failed),
        (1, 0)
    );
}

#[test]
fn rules_calling_the_gateway_are_rotated_and_a_scoped_token_moves_site_urls_when_asked() {
    let (bot_old, bot_new, carol_old, carol_new) =
        (fake_token(), fake_token(), fake_token(), fake_token());
    let site = site(
        vec![
            web_request_to(1, &gateway_url("rest/api/3/issue"), BOT, &bot_old),
            web_request_to(2, "{{baseUrl}}/rest/api/3/issue", CAROL, &carol_old),
        ],
        vec![
            account(BOT, false, &[], &[]),
            account(CAROL, false, &[&carol_old], &[]),
        ],
        vec![
            scoped(BOT, &bot_old, true),
            scoped(BOT, &bot_new, true),
            scoped(CAROL, &carol_new, true),
        ],
    );
    let backups = site.dir.path().join("backups");
    let backups = backups.to_str().unwrap();
    let rotate = |account: &str, extra: &[&str], token: &str| {
        let mut args = vec!["rotate", "--account", account, "--backup-dir", backups];
        args.extend_from_slice(extra);
        run_with_gateway(&site, &args, Some(token))
    };

    rotate(BOT, &["--yes"], &bot_new).expect_code(0);
    let basic = |user: &str, token: &str| {
        format!(
            "Basic {}",
            Credential::new(user, Token::new(token)).basic_value()
        )
    };
    let one = stored(&site, 1);
    assert_eq!(one["headers"][0]["value"], basic(BOT, &bot_new).as_str());
    assert_eq!(one["url"], gateway_url("rest/api/3/issue").as_str());

    let warned = rotate(CAROL, &["--dry-run"], &carol_new);
    warned.expect_code(0);
    assert!(
        warned.stderr.contains("--rewrite-urls"),
        "a scoped token sent to the site is warned about:\n{}",
        warned.stderr
    );
    rotate(CAROL, &["--rewrite-urls", "--yes"], &carol_new).expect_code(0);
    let two = stored(&site, 2);
    assert_eq!(
        two["headers"][0]["value"],
        basic(CAROL, &carol_new).as_str()
    );
    assert_eq!(
        two["url"],
        format!("{}/ex/jira/{CLOUD}/rest/api/3/issue", site.base_url()).as_str()
    );
    assert_eq!(
        site.stats().myself(BOT).ok + site.stats().myself(BOT).failed,
        0
    );
}

#[test]
fn a_new_token_that_cannot_say_whose_it_is_is_never_written() {
    let (old, limited) = (fake_token(), fake_token());
    let site = site(
        vec![web_request_to(1, "{{baseUrl}}/rest/api/3/issue", ALICE, &old)],
        vec![
            account(ALICE, false, &[&old], &[]),
            account(NO_ME, false, &[], &[]),
        ],
        vec![scoped(NO_ME, &limited, false)],
    );
    let backups = site.dir.path().join("backups");
    let out = run_with_gateway(
        &site,
        &[
            "rotate",
            "--account",
            ALICE,
            "--to-account",
            NO_ME,
            "--yes",
            "--backup-dir",
            backups.to_str().unwrap(),
        ],
        Some(&limited),
    );
    out.expect_code(2).expect_error_with_hint();
    assert!(out.stderr.contains("read:jira-user"), "{}", out.stderr);
    assert_eq!(site.stats().endpoint("PUT rule"), 0);
}
