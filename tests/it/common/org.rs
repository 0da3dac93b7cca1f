//! A sandbox site that serves the organization admin API (token lists with expiry and last
//! activity, token deletion) with its org key, and the service-account variant: for
//! `tokens`, `revoke` and `scan --org`.

use crate::common;
use crate::common::{fake_token, RunOutput, SiteSpec, TestSite, ADMIN, ALICE};
use autorekey::sandbox::{load_accounts_file, load_directory, SandboxConfig};
use autorekey::secret::{Credential, Token};
use serde_json::{json, Value};
pub(crate) const BOB: &str = "bob@acme.example";
pub(crate) const ORG: &str = "0d2f4e6a-8b1c-4d3e-9f5a-7b6c5d4e3f2a";
/// The nightly job: `scan --org` failing while a token expires within 30 days.
pub(crate) const CI_SCAN: [&str; 7] = [
    "scan",
    "--org",
    ORG,
    "--fail-on",
    "expiring=30d",
    "--format",
    "json",
];

/// The org's site: two rules of alice's old token, one of bob's; alice's old token expires
/// in 12 days, her new one in a year, bob's in 200 days.
pub(crate) struct OrgSite {
    pub(crate) site: TestSite,
    pub(crate) old: String,
    pub(crate) new: String,
    pub(crate) key: String,
}

pub(crate) fn web_request(n: u32, user: &str, token: &str) -> Value {
    let basic = Credential::new(user, Token::new(token)).basic_value();
    json!({"rule": {
        "uuid": format!("0190f3a2-5b7c-7d21-8e4f-0000000001{n:02}"),
        "name": format!("Web request {n:02}"), "state": "ENABLED", "labels": [], "ruleScopeARIs": [],
        "trigger": {"id": "1", "component": "TRIGGER", "type": "jira.issue.event.trigger:created",
                    "schemaVersion": 1, "value": {}, "children": [], "conditions": []},
        "components": [{"id": "2", "component": "ACTION", "type": "jira.issue.outgoing.webhook",
            "schemaVersion": 1, "children": [], "conditions": [],
            "value": {"url": "{{baseUrl}}/rest/api/3/issue", "method": "POST", "contentType": "empty",
                "headers": [{"id": "h1", "name": "Authorization", "value": format!("Basic {basic}")}]}}],
    }, "connections": []})
}

pub(crate) fn org_site() -> OrgSite {
    org_site_with(|_| {})
}

/// [`org_site`] with the sandbox's config adjusted (more rules, a drifting list...).
pub(crate) fn org_site_with(adjust: impl FnOnce(&mut SandboxConfig)) -> OrgSite {
    let [admin, old, new, bob, key] = std::array::from_fn(|_| fake_token());
    let file = json!({
        "accounts": [
            {"email": ADMIN, "admin": true, "tokens": [admin]},
            {"email": ALICE, "tokens": [old, new]},
            {"email": BOB, "tokens": [bob]},
        ],
        "org": {"id": ORG, "api_key": key, "tokens": [
            {"id": "alice-old", "email": ALICE, "label": "automation 2025", "token": old,
             "created_days_ago": 353, "expires_in_days": 12, "last_active_days_ago": 1},
            {"id": "alice-new", "email": ALICE, "label": "automation 2026", "token": new,
             "expires_in_days": 365},
            {"id": "bob-1", "email": BOB, "label": "bob", "token": bob, "expires_in_days": 200},
        ]},
    });
    let rules = vec![
        web_request(1, ALICE, &old),
        web_request(2, ALICE, &old),
        web_request(3, BOB, &bob),
    ];
    let secrets = vec![admin.clone(), old.clone(), new.clone(), bob, key.clone()];
    let site = start_org(&file, rules, secrets, adjust);
    OrgSite {
        site,
        old,
        new,
        key,
    }
}

/// A sandbox site with the accounts and org of `file` (read as a real accounts file is) and
/// `rules`, the admin logging in with `secrets[0]`; every output is checked for `secrets`.
pub(crate) fn start_org(
    file: &Value,
    rules: Vec<Value>,
    secrets: Vec<String>,
    adjust: impl FnOnce(&mut SandboxConfig),
) -> TestSite {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("accounts.json");
    std::fs::write(&path, file.to_string()).unwrap();
    let mut config = SandboxConfig {
        rules,
        accounts: load_accounts_file(&path).unwrap(),
        directory: load_directory(&path).unwrap(),
        ..SandboxConfig::default()
    };
    adjust(&mut config);
    SiteSpec {
        config,
        login: ADMIN.into(),
        admin_token: secrets[0].clone(),
        secrets,
    }
    .start()
}

impl OrgSite {
    /// The binary with the org key in AUTOREKEY_ORG_API_KEY, never as a flag.
    pub(crate) fn run(&self, args: &[&str]) -> RunOutput {
        let mut cmd = self.site.cmd();
        cmd.env("AUTOREKEY_ORG_API_KEY", &self.key)
            .env("AUTOREKEY_NEW_TOKEN", &self.new)
            .args(args);
        self.site.run_cmd(cmd)
    }

    /// `rotate --yes` of alice's credentials, backups in the site's scratch directory.
    pub(crate) fn rotate_alice(&self) -> RunOutput {
        let backups = self.site.dir.path().join("backups");
        self.run(&[
            "rotate",
            "--account",
            ALICE,
            "--yes",
            "--backup-dir",
            backups.to_str().unwrap(),
        ])
    }

    /// `revoke` of alice's old token, keeping her new one.
    pub(crate) fn revoke_alice_old(&self) -> RunOutput {
        let keep = Token::new(self.new.clone()).fingerprint().to_string();
        self.revoke("alice-old", &keep, &[])
    }

    /// `revoke --yes` of alice's token `id`, keeping `keep`, with the rotation journals of
    /// [`OrgSite::rotate_alice`].
    pub(crate) fn revoke(&self, id: &str, keep: &str, more: &[&str]) -> RunOutput {
        let backups = self.site.dir.path().join("backups");
        let mut args = vec![
            "revoke",
            "--account",
            ALICE,
            "--token-id",
            id,
            "--org",
            ORG,
            "--yes",
            "--backup-dir",
            backups.to_str().unwrap(),
        ];
        if !keep.is_empty() {
            args.extend(["--keep", keep]);
        }
        args.extend(more);
        self.run(&args)
    }

    pub(crate) fn revoked(&self) -> Vec<String> {
        self.site.stats().revoked_token_ids
    }
}

pub(crate) const BOT: &str = "ci-bot@serviceaccount.atlassian.com";

/// An org whose service account `BOT` has an old token (expiring in `old_expires` days,
/// quiet for 30) and a new one, listed by the service-account endpoint only (with another
/// service account's); `scope`: the org key may list them. The rules hold alice's token and
/// the bot's old one, or its new one with `rules_hold_new`.
pub(crate) struct SaOrg {
    pub(crate) site: TestSite,
    pub(crate) key: String,
    pub(crate) bot_new: String,
}

pub(crate) fn sa_org(scope: bool, old_expires: i64, rules_hold_new: bool) -> SaOrg {
    let [admin, alice, bot_old, bot_new, key] = std::array::from_fn(|_| fake_token());
    let file = json!({
        "accounts": [
            {"email": ADMIN, "admin": true, "tokens": [admin]},
            {"email": ALICE, "tokens": [alice]},
            {"email": BOT, "tokens": [bot_old, bot_new]},
        ],
        "org": {"id": ORG, "api_key": key, "service_account_scope": scope, "tokens": [
            {"id": "alice-1", "email": ALICE, "label": "alice", "token": alice, "expires_in_days": 300},
            {"id": "bot-old", "email": BOT, "label": "bot 2025", "token": bot_old,
             "created_days_ago": 360, "expires_in_days": old_expires, "last_active_days_ago": 30},
            {"id": "bot-new", "email": BOT, "label": "bot 2026", "token": bot_new,
             "expires_in_days": 365},
            {"id": "other-bot", "email": "other@serviceaccount.atlassian.com", "expires_in_days": 90},
        ]},
    });
    let in_rules = if rules_hold_new { &bot_new } else { &bot_old };
    let rules = vec![web_request(1, ALICE, &alice), web_request(2, BOT, in_rules)];
    let secrets = vec![admin, alice, bot_old, bot_new.clone(), key.clone()];
    let site = start_org(&file, rules, secrets, |_| {});
    SaOrg { site, key, bot_new }
}

impl SaOrg {
    pub(crate) fn run(&self, args: &[&str]) -> RunOutput {
        let mut cmd = self.site.cmd();
        cmd.env("AUTOREKEY_ORG_API_KEY", &self.key).args(args);
        self.site.run_cmd(cmd)
    }

    /// `revoke --check-gone` of the bot's token `id`, with `more` arguments.
    pub(crate) fn check_gone(&self, id: &str, more: &[&str]) -> RunOutput {
        let mut args = vec!["revoke", "--account", BOT, "--token-id", id];
        args.extend(["--org", ORG, "--check-gone"]);
        args.extend(more);
        self.run(&args)
    }

    /// `revoke --yes` of the bot's old token, with `more` arguments.
    pub(crate) fn revoke_bot_old(&self, more: &[&str]) -> RunOutput {
        let mut args = vec![
            "revoke",
            "--account",
            BOT,
            "--token-id",
            "bot-old",
            "--org",
            ORG,
            "--yes",
        ];
        args.extend(more);
        self.run(&args)
    }

    /// `scan --org --fail-on expiring=30d` as a nightly job runs it: it must fail (exit 3);
    /// the bot's row of its expiry join.
    pub(crate) fn failing_ci_scan_row_of_the_bot(&self) -> Value {
        let scan = self.run(&CI_SCAN);
        scan.expect_code(3);
        let report = scan.json();
        let rows = report["token_expiry"].as_array().expect("token_expiry");
        rows.iter()
            .find(|r| r["email"] == BOT)
            .expect("the bot's row")
            .clone()
    }
}

impl SaOrg {
    /// `tokens --expiring WINDOW --org ORG` with `more` arguments.
    pub(crate) fn watch(&self, window: &str, more: &[&str]) -> RunOutput {
        let args = [&["tokens", "--expiring", window, "--org", ORG][..], more].concat();
        self.run(&args)
    }
}

impl SaOrg {
    /// `revoke` of the bot's old token (the rules hold its new one) on a terminal.
    pub(crate) fn revoke_bot_at_a_terminal(&self) -> crate::common::terminal::Screen {
        let keep = Token::new(self.bot_new.clone()).fingerprint().to_string();
        let mut cmd = self.site.cmd();
        cmd.env("AUTOREKEY_ORG_API_KEY", &self.key)
            .args(["revoke", "--account", BOT, "--token-id", "bot-old"])
            .args(["--keep", &keep, "--org", ORG]);
        crate::common::terminal::Screen::spawn(common::std_command(&cmd))
    }
}
