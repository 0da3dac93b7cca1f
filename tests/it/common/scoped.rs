//! Scoped tokens and service accounts: a sandbox that serves the gateway form
//! (`/ex/jira/{cloudId}/...`, standing in for api.atlassian.com on the same loopback port,
//! chosen with `AUTOREKEY_GATEWAY_URL`) and refuses scoped tokens on the site's own address,
//! as Atlassian does; the accounts, rules and runs built on it, and a migration from a
//! person's token to a service account's.

use crate::common::{fake_token, RunOutput, SiteSpec, TestSite, ADMIN, ALICE};
use autorekey::sandbox::{Account, Directory, SandboxConfig, ScopedToken};
use autorekey::secret::{Credential, Token};
use serde_json::{json, Value};
pub(crate) const CAROL: &str = "carol@acme.example";
pub(crate) const BOT: &str = "bot@serviceaccount.atlassian.com";
pub(crate) const NO_ME: &str = "limited@serviceaccount.atlassian.com";
pub(crate) const CLOUD: &str = "5b1e2c7a-0d4f-4e8b-9a61-3c2d1e0f9a88";

pub(crate) fn account(email: &str, admin: bool, tokens: &[&str], revoked: &[&str]) -> Account {
    Account {
        email: email.into(),
        account_id: format!("712020:{}", email.split('@').next().unwrap_or(email)),
        admin,
        tokens: tokens.iter().map(|t| Token::new(*t)).collect(),
        revoked_tokens: revoked.iter().map(|t| Token::new(*t)).collect(),
    }
}

pub(crate) fn scoped(email: &str, token: &str, read_me: bool) -> ScopedToken {
    ScopedToken {
        email: email.into(),
        token: Token::new(token),
        read_me,
    }
}

/// A rule whose one "Send web request" sends `user:token` as Basic to `url`.
pub(crate) fn web_request_to(n: u32, url: &str, user: &str, token: &str) -> Value {
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

pub(crate) fn gateway_url(rest: &str) -> String {
    format!("https://api.atlassian.com/ex/jira/{CLOUD}/{rest}")
}

/// A site with `rules`, the admin, `accounts` and `scoped` tokens; every token is a secret
/// the output is checked for.
pub(crate) fn site(
    rules: Vec<Value>,
    accounts: Vec<Account>,
    scoped: Vec<ScopedToken>,
) -> TestSite {
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
pub(crate) fn run_with_gateway(
    site: &TestSite,
    args: &[&str],
    new_token: Option<&str>,
) -> RunOutput {
    let mut cmd = site.cmd();
    cmd.env("AUTOREKEY_GATEWAY_URL", site.base_url()).args(args);
    if let Some(token) = new_token {
        cmd.env("AUTOREKEY_NEW_TOKEN", token);
    }
    site.run_cmd(cmd)
}

/// `(verification, detail)` of the row of `user`'s credential in rule `n`.
pub(crate) fn verdict(report: &Value, n: u32) -> (String, String) {
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

/// A person's rules moved to a service account: the site before, and the tokens.
pub(crate) struct Migration {
    pub(crate) site: TestSite,
    pub(crate) new_token: String,
}

pub(crate) fn migration_site() -> Migration {
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

pub(crate) fn stored(site: &TestSite, n: u32) -> Value {
    let uuid = format!("0190f3a2-5b7c-7d21-8e4f-0000000000{n:02}");
    site.state().rule(&uuid).expect("stored rule")["rule"]["components"][0]["value"].clone()
}

pub(crate) const MIGRATE: [&str; 7] = [
    "rotate",
    "--account",
    ALICE,
    "--to-account",
    BOT,
    "--rewrite-urls",
    "--backup-dir",
];
