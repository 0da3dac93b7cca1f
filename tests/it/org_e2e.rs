//! The organization admin API end to end: the real binary against a sandbox that serves
//! the org's token list (paginated, with expiry and last activity) and token deletion, with
//! the org key read from the accounts file as a real org admin's would come from Atlassian.
//!
//! Checked here: the expiry join in `scan --org` and `--fail-on expiring` for CI, `tokens`,
//! and `revoke`'s guard: nothing is deleted while any rule still holds another token of the
//! account, and the deleted token stops working. The org key and every token are secrets
//! every output is checked for (see `common`).

use crate::common;
use crate::common::{fake_token, RunOutput, SiteSpec, TestSite};
use autorekey::sandbox::{load_accounts_file, load_directory, SandboxConfig};
use autorekey::secret::{Credential, Token};
use serde_json::{json, Value};

const ADMIN: &str = "admin@acme.example";
const ALICE: &str = "alice@acme.example";
const BOB: &str = "bob@acme.example";
const ORG: &str = "0d2f4e6a-8b1c-4d3e-9f5a-7b6c5d4e3f2a";
/// The nightly job: `scan --org` failing while a token expires within 30 days.
const CI_SCAN: [&str; 7] = [
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
struct OrgSite {
    site: TestSite,
    old: String,
    new: String,
    key: String,
}

fn web_request(n: u32, user: &str, token: &str) -> Value {
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

fn org_site() -> OrgSite {
    org_site_with(|_| {})
}

/// [`org_site`] with the sandbox's config adjusted (more rules, a drifting list...).
fn org_site_with(adjust: impl FnOnce(&mut SandboxConfig)) -> OrgSite {
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
fn start_org(
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
    fn run(&self, args: &[&str]) -> RunOutput {
        let mut cmd = self.site.cmd();
        cmd.env("AUTOREKEY_ORG_API_KEY", &self.key)
            .env("AUTOREKEY_NEW_TOKEN", &self.new)
            .args(args);
        self.site.run_cmd(cmd)
    }

    /// `rotate --yes` of alice's credentials, backups in the site's scratch directory.
    fn rotate_alice(&self) -> RunOutput {
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
    fn revoke_alice_old(&self) -> RunOutput {
        let keep = Token::new(self.new.clone()).fingerprint().to_string();
        self.revoke("alice-old", &keep, &[])
    }

    /// `revoke --yes` of alice's token `id`, keeping `keep`, with the rotation journals of
    /// [`OrgSite::rotate_alice`].
    fn revoke(&self, id: &str, keep: &str, more: &[&str]) -> RunOutput {
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

    fn revoked(&self) -> Vec<String> {
        self.site.stats().revoked_token_ids
    }
}

#[test]
fn scan_joins_each_owner_with_its_earliest_expiry_and_fails_on_expiring() {
    let org = org_site();
    let out = org.run(&["scan", "--org", ORG, "--format", "json"]);
    out.expect_code(0);
    let report = out.json();
    let rows = report["token_expiry"].as_array().expect("token_expiry");
    let row = |email: &str| rows.iter().find(|r| r["email"] == email).unwrap().clone();
    assert_eq!(row(ALICE)["days_left"], 12);
    assert_eq!(row(ALICE)["token_id"], "alice-old");
    assert_eq!(row(ALICE)["tokens"], 2);
    assert_eq!(row(BOB)["days_left"], 200);
    // Three tokens, two a page: the list was followed to its end.
    assert_eq!(org.site.stats().endpoint("GET org api-tokens"), 2);

    let table = org.run(&["scan", "--org", ORG, "--format", "text"]);
    table.expect_code(0);
    assert!(table.stdout.contains("(in 12 days)"), "{}", table.stdout);

    let ci = org.run(&CI_SCAN);
    ci.expect_code(3);
    assert!(ci.stderr.contains("expiring"), "{}", ci.stderr);
    org.run(&[
        "scan",
        "--org",
        ORG,
        "--fail-on",
        "expiring=7d",
        "--format",
        "json",
    ])
    .expect_code(0);
    let no_org = org.run(&["scan", "--fail-on", "expiring=30d"]);
    no_org.expect_code(2).expect_error_with_hint();
}

#[test]
fn a_wrong_org_key_is_an_error_that_never_echoes_the_key() {
    let org = org_site();
    let wrong = fake_token();
    let mut cmd = org.site.cmd();
    cmd.env("AUTOREKEY_ORG_API_KEY", &wrong)
        .args(["scan", "--org", ORG, "--format", "json"]);
    let mut secrets = org.site.secrets().to_vec();
    secrets.push(wrong);
    let out = common::run_checked(cmd, &secrets);
    out.expect_code(1).expect_error_with_hint();
    assert!(out.stderr.contains("401"), "{}", out.stderr);
    // The hint names the org key and its scope, not the site login.
    assert!(
        out.stderr.contains("AUTOREKEY_ORG_API_KEY"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("read:tokens:admin"), "{}", out.stderr);
    assert!(!out.stderr.contains("AUTOREKEY_LOGIN"), "{}", out.stderr);
}

#[test]
fn a_wrong_org_id_gets_a_hint_to_check_it() {
    let org = org_site();
    let out = org.run(&["tokens", "--account", ALICE, "--org", "not-the-org"]);
    out.expect_code(1).expect_error_with_hint();
    assert!(out.stderr.contains("404"), "{}", out.stderr);
    assert!(
        out.stderr
            .contains("admin.atlassian.com > Settings > API keys"),
        "{}",
        out.stderr
    );
}

#[test]
fn tokens_lists_an_accounts_tokens_soonest_first() {
    let org = org_site();
    let out = org.run(&[
        "tokens",
        "--account",
        "ALICE@acme.example",
        "--org",
        ORG,
        "--format",
        "json",
    ]);
    out.expect_code(0);
    let ids: Vec<Value> = out.json()["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].clone())
        .collect();
    assert_eq!(ids, vec![json!("alice-old"), json!("alice-new")]);
}

#[test]
fn revoke_waits_until_no_rule_holds_the_old_token_then_deletes_it() {
    let org = org_site();
    let keep = Token::new(org.new.clone()).fingerprint().to_string();

    let blocked = org.revoke_alice_old();
    blocked.expect_code(3);
    assert!(
        blocked.stderr.contains("not revoked") && blocked.stderr.contains("Hint: "),
        "{}",
        blocked.stderr
    );
    assert!(
        blocked.stdout.contains("Web request 01"),
        "{}",
        blocked.stdout
    );
    assert!(
        org.revoked().is_empty(),
        "nothing is revoked while a rule holds it"
    );

    let other = org.run(&[
        "revoke",
        "--account",
        ALICE,
        "--token-id",
        "bob-1",
        "--org",
        ORG,
        "--yes",
    ]);
    other.expect_code(2);
    assert!(org.revoked().is_empty());

    let rotate = org.rotate_alice();
    rotate.expect_code(0);
    assert!(
        rotate
            .stdout
            .contains("autorekey revoke --account alice@acme.example"),
        "{}",
        rotate.stdout
    );
    assert!(
        rotate.stdout.contains(&format!("--keep {keep}")),
        "{}",
        rotate.stdout
    );

    org.revoke_alice_old().expect_code(0);
    assert_eq!(org.revoked(), vec!["alice-old".to_string()]);
    // The org stops listing it, and it no longer logs in.
    let listed = org.run(&[
        "tokens",
        "--account",
        ALICE,
        "--org",
        ORG,
        "--format",
        "json",
    ]);
    assert_eq!(listed.json()["tokens"].as_array().unwrap().len(), 1);
    let mut cmd = org.site.cmd();
    cmd.env("AUTOREKEY_NEW_TOKEN", &org.old)
        .args(["rotate", "--account", ALICE, "--dry-run"]);
    let dead = org.site.run_cmd(cmd);
    dead.expect_code(2);
    assert!(dead.stderr.contains("refused"), "{}", dead.stderr);
}

#[test]
fn revoke_without_keep_after_a_good_rotation_says_to_pass_keep_not_to_rotate() {
    let org = org_site();
    let keep = Token::new(org.new.clone()).fingerprint().to_string();
    org.rotate_alice().expect_code(0);
    let out = org.revoke("alice-old", "", &[]);
    out.expect_code(3);
    let hint = out
        .stderr
        .lines()
        .find(|l| l.starts_with("Hint: "))
        .unwrap_or_default();
    assert!(
        hint.contains(&format!("pass --keep {keep}")),
        "{}",
        out.stderr
    );
    assert!(
        !hint.starts_with("Hint: rotate them first"),
        "{}",
        out.stderr
    );
    assert!(org.revoked().is_empty());
}

#[test]
fn revoke_refuses_over_a_rule_list_the_site_did_not_list_consistently() {
    // 150 more rules, and listings that skip a rule at every page size: even once alice's rules are rotated,
    // a rule the site did not list might still hold her old token.
    let org = org_site_with(|c| {
        let filler = c.rules[2].clone();
        for n in 10..160 {
            let mut rule = filler.clone();
            rule["rule"]["uuid"] = json!(format!("0190f3a2-5b7c-7d21-8e4f-00000002{n:04}"));
            c.rules.push(rule);
        }
        c.list_skip_at = Some(0);
    });
    let rotate = org.rotate_alice();
    rotate.expect_code(3);
    let revoke = org.revoke_alice_old();
    revoke.expect_code(3);
    let shown = format!("{}{}", revoke.stdout, revoke.stderr);
    assert!(shown.contains("could not be confirmed complete"), "{shown}");
    assert!(org.revoked().is_empty(), "nothing is revoked");
}

#[test]
fn revoke_refuses_the_kept_token_itself_and_a_short_keep() {
    let org = org_site();
    let keep = Token::new(org.new.clone()).fingerprint().to_string();
    org.rotate_alice().expect_code(0);
    let revoke = |id: &str, keep: &str| org.revoke(id, keep, &[]);
    // Every rule now holds the new token: revoking it would break them all.
    let newest = revoke("alice-new", &keep);
    newest.expect_code(3);
    assert!(
        newest.stderr.contains("kept") && newest.stderr.contains("Hint: "),
        "{}",
        newest.stderr
    );
    // A one-digit --keep would let any token whose fingerprint starts so pass as kept.
    revoke("alice-old", &keep[..1])
        .expect_code(2)
        .expect_error_with_hint();
    assert!(org.revoked().is_empty());
    revoke("alice-old", &keep).expect_code(0);
    assert_eq!(org.revoked(), vec!["alice-old".to_string()]);
}

/// Rule names and token labels are typed by others: every JSON output escapes C1 and
/// bidi characters as `\uXXXX` (serde writes them raw), and stays valid JSON meaning the
/// same values. The scan's expiry join and `tokens` are JSON outputs too.
#[test]
fn json_with_the_expiry_join_and_token_lists_escape_c1_and_bidi() {
    let hostile = "x\u{9b}31m\u{202e}y\u{2066}";
    let org = org_site_with(|config| {
        config.rules[0]["rule"]["name"] = json!(format!("Web {hostile}"));
        let org = config.directory.org.as_mut().unwrap();
        org.tokens
            .iter_mut()
            .for_each(|t| t.label = format!("label {hostile}"));
    });
    let scan = org.run(&["scan", "--org", ORG, "--format", "json"]);
    let tokens = org.run(&[
        "tokens",
        "--account",
        ALICE,
        "--org",
        ORG,
        "--format",
        "json",
    ]);
    for (what, out) in [("scan", &scan), ("tokens", &tokens)] {
        out.expect_code(0);
        let raw = ['\u{9b}', '\u{202e}', '\u{2066}'];
        assert!(
            !out.stdout.contains(raw),
            "{what}: raw C1/bidi:\n{}",
            out.stdout
        );
        // The same values, once parsed.
        assert!(
            out.json().to_string().contains(hostile),
            "{what}: {}",
            out.stdout
        );
    }
}

/// Finding: rules held alice's old token, `--keep` named it, and with no rotation at all
/// the older of her two tokens was revoked: the one the rules use. Nothing on this machine
/// says which id that fingerprint is, so nothing is revoked.
#[test]
fn revoke_refuses_when_no_rotation_shows_which_token_the_rules_hold() {
    let org = org_site();
    let in_rules = Token::new(org.old.clone()).fingerprint().to_string();
    for id in ["alice-old", "alice-new"] {
        let out = org.revoke(id, &in_rules, &[]);
        out.expect_code(3);
        assert!(out.stderr.contains("not revoked"), "{id}: {}", out.stderr);
    }
    let out = org.revoke("alice-old", &in_rules, &[]);
    assert!(
        out.stderr.contains("no rotation on this machine moved"),
        "{}",
        out.stderr
    );
    assert!(org.revoked().is_empty(), "the token in use is still there");
}

/// The old token may go only if it was last used before the rotation to the kept token
/// began: a use after that may be the new token itself, or something else still sending
/// the old one.
#[test]
fn revoke_refuses_a_token_used_since_the_rotation_began() {
    let org = org_site();
    org.rotate_alice().expect_code(0);
    let state = org.site.state();
    state.set_last_active("alice-old", Some(std::time::SystemTime::now()));
    let used = org.revoke_alice_old();
    used.expect_code(3);
    assert!(
        used.stderr
            .contains("after the rotation that moved the rules"),
        "{}",
        used.stderr
    );
    state.set_last_active("alice-old", None);
    let unknown = org.revoke_alice_old();
    unknown.expect_code(3);
    assert!(unknown.stderr.contains("no last use"), "{}", unknown.stderr);
    assert!(org.revoked().is_empty());

    let day = std::time::Duration::from_secs(86_400);
    state.set_last_active("alice-old", Some(std::time::SystemTime::now() - day));
    org.revoke_alice_old().expect_code(0);
    assert_eq!(org.revoked(), vec!["alice-old".to_string()]);
}

/// With no rule holding any token of alice's and no rotation on this machine, her token
/// must have been unused for --quiet-for (7 days unless told).
#[test]
fn revoke_without_a_rotation_waits_for_quiet_for() {
    let org = org_site_with(|c| {
        c.rules.drain(0..2);
    });
    let recent = org.revoke("alice-old", "", &[]);
    recent.expect_code(3);
    assert!(
        recent.stderr.contains("within the last 7 days") && recent.stderr.contains("Hint: "),
        "{}",
        recent.stderr
    );
    org.revoke("alice-old", "", &["--quiet-for", "soon"])
        .expect_code(2);
    org.revoke("alice-new", "", &["--quiet-for", "1s"])
        .expect_code(3);
    assert!(org.revoked().is_empty());
    org.revoke("alice-old", "", &["--quiet-for", "12h"])
        .expect_code(0);
    assert_eq!(org.revoked(), vec!["alice-old".to_string()]);
}

/// alice rotated, then `revoke` of her old token (keeping the new one) at a terminal.
fn revoke_at_a_terminal(org: &OrgSite) -> crate::rotate_pty::Screen {
    org.rotate_alice().expect_code(0);
    let keep = Token::new(org.new.clone()).fingerprint().to_string();
    let backups = org.site.dir.path().join("backups");
    let mut cmd = org.site.cmd();
    cmd.env("AUTOREKEY_ORG_API_KEY", &org.key)
        .args(["revoke", "--account", ALICE, "--token-id", "alice-old"])
        .args(["--keep", &keep, "--org", ORG, "--backup-dir"])
        .arg(&backups);
    crate::rotate_pty::Screen::spawn(common::std_command(&cmd))
}

/// Finding: a restore that put the old token back while revoke's question waited, then
/// `y`, revoked it. The rules are read again after the answer, right before the DELETE.
#[test]
fn revoke_reads_every_rule_again_after_its_question() {
    let org = org_site();
    let mut screen = revoke_at_a_terminal(&org);
    screen.expect("(alice-old) of alice@acme.example, last used ");
    // Another admin's restore, while the question waits.
    let rule = web_request(1, ALICE, &org.old);
    let uuid = rule["rule"]["uuid"].as_str().unwrap().to_owned();
    org.site
        .state()
        .edit_rule(&uuid, |stored| stored["rule"] = rule["rule"].clone());
    screen.answer("This cannot be undone", "y");
    let (code, transcript) = screen.finish();
    common::assert_no_secrets(&transcript, org.site.secrets());
    assert_eq!(code, 3, "{transcript}");
    assert!(transcript.contains("Web request 01"), "{transcript}");
    assert!(
        transcript.contains("changed while the question waited"),
        "{transcript}"
    );
    assert!(org.revoked().is_empty(), "nothing is revoked");
}

/// Revoke's question is about one token: yes or no, no "all remaining". A no revokes
/// nothing and is not a success (exit 3, "Needs you"), as a rotation the admin quit.
#[test]
fn revoke_asks_yes_or_no_and_a_no_exits_3() {
    let org = org_site();
    let mut screen = revoke_at_a_terminal(&org);
    screen.expect("This cannot be undone [y]es / [N]o");
    // "all remaining" is no answer to a question about one token.
    screen.answer(": ", "a");
    screen.answer("answer y or n", "n");
    let (code, transcript) = screen.finish();
    common::assert_no_secrets(&transcript, org.site.secrets());
    assert_eq!(code, 3, "{transcript}");
    assert!(!transcript.contains("all remaining"), "{transcript}");
    assert!(
        transcript.contains("Needs you: not revoked: you said no"),
        "{transcript}"
    );
    assert!(org.revoked().is_empty(), "nothing is revoked");
}

/// A rule holding alice's old token in a variable whose name holds a line break: revoke's
/// list of blockers names the place, and the name cannot print a line of its own.
#[test]
fn a_variable_name_cannot_forge_a_line_in_revoke_blockers() {
    let org = org_site_with(|config| {
        let basic =
            config.rules[0]["rule"]["components"][0]["value"]["headers"][0]["value"].clone();
        let mut rule = config.rules[0].clone();
        rule["rule"]["uuid"] = json!("0190f3a2-5b7c-7d21-8e4f-000000000199");
        rule["rule"]["components"] = json!([{"id": "9", "component": "ACTION",
            "type": "jira.create.variable", "schemaVersion": 1, "children": [], "conditions": [],
            "value": {"name": {"type": "FREE", "value": "auth\nFAKED Revoked API token"},
                      "type": "SMART", "query": {"type": "SMART", "value": basic}}}]);
        config.rules.push(rule);
    });
    let blocked = org.revoke_alice_old();
    blocked.expect_code(3);
    for text in [&blocked.stdout, &blocked.stderr] {
        assert!(!text.lines().any(|l| l.starts_with("FAKED")), "{text}");
    }
    assert!(
        blocked.stdout.contains("Create variable auth\\u{a}FAKED"),
        "{}",
        blocked.stdout
    );
    assert!(org.revoked().is_empty());
}

/// `tokens` and `backups` print the same text on a terminal and in a pipe (scripts ask for
/// `--format json`), and still take `table`, the text format's old name. `rotate --format
/// markdown` prints the report for the change ticket on stdout, the diffs on stderr.
#[test]
fn lists_print_text_in_a_pipe_and_a_rotation_reports_in_markdown() {
    let org = org_site();
    let backups = org.site.dir.path().join("backups");
    let rotate = org.run(&[
        "rotate",
        "--account",
        ALICE,
        "--yes",
        "--format",
        "markdown",
        "--backup-dir",
        backups.to_str().unwrap(),
    ]);
    rotate.expect_code(0);
    assert!(
        rotate
            .stdout
            .starts_with(&format!("## Token rotation for {ALICE}")),
        "{}",
        rotate.stdout
    );
    for part in ["| rotated | 2 |", "- Keep: `", "- Revoke: `", "### Backups"] {
        assert!(rotate.stdout.contains(part), "{part}: {}", rotate.stdout);
    }
    assert!(!rotate.stdout.contains("Rule \""), "diffs go to stderr");
    assert!(rotate.stderr.contains("Rule \""), "{}", rotate.stderr);

    let tokens = ["tokens", "--account", ALICE, "--org", ORG];
    let text = org.run(&tokens);
    text.expect_code(0);
    assert!(
        text.stdout.starts_with(&format!("API tokens of {ALICE}")),
        "{}",
        text.stdout
    );
    let table = org.run(&[&tokens[..], &["--format", "table"]].concat());
    assert_eq!(table.stdout, text.stdout);

    let list = ["backups", "--backup-dir", backups.to_str().unwrap()];
    let text = org.run(&list);
    text.expect_code(0);
    assert!(
        serde_json::from_str::<Value>(&text.stdout).is_err(),
        "{}",
        text.stdout
    );
    assert!(text.stdout.contains(ALICE), "{}", text.stdout);
    let table = org.run(&[&list[..], &["--format", "table"]].concat());
    assert_eq!(table.stdout, text.stdout);
    let json = org.run(&[&list[..], &["--format", "json"]].concat());
    assert_eq!(json.json().as_array().map(Vec::len), Some(1));
}

const BOT: &str = "ci-bot@serviceaccount.atlassian.com";

/// An org whose service account `BOT` has an old token (expiring in `old_expires` days,
/// quiet for 30) and a new one, listed by the service-account endpoint only (with another
/// service account's); `scope`: the org key may list them. The rules hold alice's token and
/// the bot's old one, or its new one with `rules_hold_new`.
struct SaOrg {
    site: TestSite,
    key: String,
    bot_new: String,
}

fn sa_org(scope: bool, old_expires: i64, rules_hold_new: bool) -> SaOrg {
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
    fn run(&self, args: &[&str]) -> RunOutput {
        let mut cmd = self.site.cmd();
        cmd.env("AUTOREKEY_ORG_API_KEY", &self.key).args(args);
        self.site.run_cmd(cmd)
    }

    /// `revoke --check-gone` of the bot's token `id`, with `more` arguments.
    fn check_gone(&self, id: &str, more: &[&str]) -> RunOutput {
        let mut args = vec!["revoke", "--account", BOT, "--token-id", id];
        args.extend(["--org", ORG, "--check-gone"]);
        args.extend(more);
        self.run(&args)
    }

    /// `revoke --yes` of the bot's old token, with `more` arguments.
    fn revoke_bot_old(&self, more: &[&str]) -> RunOutput {
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
    fn failing_ci_scan_row_of_the_bot(&self) -> Value {
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

#[test]
fn service_account_tokens_are_listed_apart_and_joined_to_the_expiry_watch() {
    let org = sa_org(true, 5, false);
    let bot = org.failing_ci_scan_row_of_the_bot();
    assert_eq!(
        (bot["days_left"].clone(), bot["token_id"].clone()),
        (json!(5), json!("bot-old"))
    );
    // The user endpoint lists users' tokens only; the service accounts' three come from
    // their own endpoint, two a page, followed to its end.
    let stats = org.site.stats();
    assert_eq!(stats.endpoint("GET org service-account api-tokens"), 2);

    let tokens = org.run(&["tokens", "--account", BOT, "--org", ORG, "--format", "text"]);
    tokens.expect_code(0);
    let text = &tokens.stdout;
    assert!(
        text.contains("bot-old") && text.contains("\"bot 2025\"") && text.contains("(in 5 days)"),
        "{text}"
    );
    assert!(
        text.contains("scoped") && text.contains("last active"),
        "{text}"
    );
    let json = org.run(&["tokens", "--account", BOT, "--org", ORG, "--format", "json"]);
    json.expect_code(0);
    let listed = json.json()["tokens"].as_array().unwrap().clone();
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0]["serviceAccount"], true);
}

#[test]
fn service_account_tokens_the_key_may_not_list_are_unknown_never_fine() {
    // The bot's token expires in 300 days, but the key may not see that: unknown, failing.
    let org = sa_org(false, 300, false);
    let bot = org.failing_ci_scan_row_of_the_bot();
    assert_eq!(bot["tokens_unknown"], true);
    let text = org.run(&["scan", "--org", ORG, "--format", "text"]);
    assert!(text.stdout.contains("tokens unknown"), "{}", text.stdout);

    let tokens = org.run(&["tokens", "--account", BOT, "--org", ORG]);
    tokens.expect_code(1).expect_error_with_hint();
    assert!(
        tokens.stderr.contains("read:service-accounts-tokens:admin")
            && !tokens.stdout.contains("No API token"),
        "{}",
        tokens.stderr
    );
    let revoke = org.revoke_bot_old(&[]);
    revoke.expect_code(1).expect_error_with_hint();
    assert!(
        revoke.stderr.contains("could not be listed"),
        "{}",
        revoke.stderr
    );
    assert_eq!(org.site.stats().endpoint("DELETE api-token"), 0);
}

#[test]
fn revoke_of_a_service_account_token_deletes_nothing_and_says_where_to_do_it() {
    let org = sa_org(true, 5, true);
    let keep = Token::new(org.bot_new.clone()).fingerprint().to_string();
    let out = org.revoke_bot_old(&["--keep", &keep]);
    out.expect_code(3);
    assert!(
        out.stdout
            .contains("admin.atlassian.com > Directory > Service accounts > ci-bot@serviceaccount.atlassian.com > API tokens"),
        "{}",
        out.stdout
    );
    let stats = org.site.stats();
    assert!(stats.revoked_token_ids.is_empty());
    assert_eq!(stats.endpoint("DELETE api-token"), 0);
}

/// `tokens --expiring` output with what changes from run to run made fixed: dates (the
/// sandbox's are relative to its start) and the fingerprints of the run's fake tokens.
fn normalized(text: &str) -> String {
    let dates = regex::Regex::new(r"\d{4}-\d{2}-\d{2}").unwrap();
    let fingerprints = regex::Regex::new(r"credential [0-9a-f]{12}").unwrap();
    let text = dates.replace_all(text, "[date]");
    fingerprints
        .replace_all(&text, "credential [fingerprint]")
        .into_owned()
}

impl SaOrg {
    /// `tokens --expiring WINDOW --org ORG` with `more` arguments.
    fn watch(&self, window: &str, more: &[&str]) -> RunOutput {
        let args = [&["tokens", "--expiring", window, "--org", ORG][..], more].concat();
        self.run(&args)
    }
}

#[test]
fn the_expiry_watch_lists_the_service_account_token_in_every_format_and_exits_3() {
    let org = sa_org(true, 5, false);
    let text = org.watch("30d", &[]);
    text.expect_code(3);
    assert!(
        text.stderr.contains("1 of 4 listed API tokens expires"),
        "{}",
        text.stderr
    );
    insta::assert_snapshot!("expiring_text", normalized(&text.stdout));

    let json = org.watch("30d", &["--format", "json"]);
    json.expect_code(3);
    let report = json.json();
    let tokens = report["tokens"].as_array().unwrap();
    assert_eq!(tokens.len(), 1, "{report}");
    assert_eq!(
        (&tokens[0]["id"], &tokens[0]["kind"], &tokens[0]["email"]),
        (&json!("bot-old"), &json!("service_account"), &json!(BOT))
    );
    assert_eq!(
        (&tokens[0]["days_left"], &tokens[0]["scoped"]),
        (&json!(5), &json!(true))
    );
    assert_eq!(report["unknown"], json!([]));

    let csv = org.watch("30d", &["--format", "csv"]);
    csv.expect_code(3);
    let lines: Vec<&str> = csv.stdout.lines().collect();
    assert!(
        lines[0].starts_with("status,email,kind,label,id,"),
        "{}",
        csv.stdout
    );
    assert_eq!(lines.len(), 2, "{}", csv.stdout);
    assert!(
        lines[1].starts_with(&format!("expiring,{BOT},service_account,bot 2025,bot-old,")),
        "{}",
        csv.stdout
    );

    let md = org.watch("30d", &["--format", "markdown"]);
    md.expect_code(3);
    insta::assert_snapshot!("expiring_markdown", normalized(&md.stdout));
}

#[test]
fn the_expiry_watch_joins_a_scan_and_exits_0_when_nothing_is_in_the_window() {
    let org = sa_org(true, 5, false);
    let scan = org.run(&["scan", "--format", "json"]);
    scan.expect_code(0);
    let path = org.site.write_file("scan.json", &scan.stdout);
    let joined = org.watch("30d", &["--scan", path.to_str().unwrap()]);
    joined.expect_code(3);
    insta::assert_snapshot!("expiring_text_with_scan", normalized(&joined.stdout));
    let md = org.watch(
        "30d",
        &["--scan", path.to_str().unwrap(), "--format", "markdown"],
    );
    assert!(
        md.stdout.contains("  - rule \"Web request 02\""),
        "{}",
        md.stdout
    );

    // Nothing within 3 days (the soonest is in 5): exit 0, and said.
    let quiet = org.watch("3d", &[]);
    quiet.expect_code(0);
    assert!(
        quiet
            .stdout
            .starts_with("No API token of the organization expires within 3 days"),
        "{}",
        quiet.stdout
    );
    let bad = org.site.write_file("not-a-scan.json", "{\"rules\": []}");
    org.watch("30d", &["--scan", bad.to_str().unwrap()])
        .expect_code(2)
        .expect_error_with_hint();
    org.run(&["tokens", "--expiring", "30x", "--org", ORG])
        .expect_code(2);
    // CSV and Markdown are the watch's formats.
    org.run(&["tokens", "--account", BOT, "--org", ORG, "--format", "csv"])
        .expect_code(2)
        .expect_error_with_hint();
}

#[test]
fn the_expiry_watch_counts_service_accounts_it_may_not_list_as_unknown() {
    // The bot's token expires in 300 days, but the key may not see that: unknown, exit 3.
    let org = sa_org(false, 300, false);
    let out = org.watch("30d", &[]);
    out.expect_code(3);
    assert!(
        out.stdout.contains("unknown   every service account"),
        "{}",
        out.stdout
    );
    assert!(
        out.stderr.contains("read:service-accounts-tokens:admin"),
        "{}",
        out.stderr
    );
    let json = org.watch("30d", &["--format", "json"]);
    assert_eq!(json.json()["unknown"][0]["kind"], "service_account");
}

#[test]
fn revoke_of_a_service_account_token_waits_for_a_person_and_checks_it_is_gone() {
    let org = sa_org(true, 5, true);
    let keep = Token::new(org.bot_new.clone()).fingerprint().to_string();
    let check = || org.check_gone("bot-old", &[]);
    let out = org.revoke_bot_old(&["--keep", &keep]);
    out.expect_code(3);
    assert!(
        out.stdout.contains(&format!(
            "admin.atlassian.com > Directory > Service accounts > {BOT} > API tokens, the token labelled \"bot 2025\" (id bot-old"
        )) && out.stdout.contains("Keep \"bot 2026\" (bot-new)"),
        "{}",
        out.stdout
    );
    assert!(out.stderr.contains("--check-gone"), "{}", out.stderr);

    let listed = check();
    listed.expect_code(3);
    assert!(listed.stderr.contains("still listed"), "{}", listed.stderr);

    // The admin revokes the one old token in admin.atlassian.com.
    org.site.state().revoke_in_admin_ui("bot-old");
    let gone = check();
    gone.expect_code(0);
    assert!(
        gone.stdout.contains("bot-old is gone") && gone.stdout.contains("\"bot 2026\" (bot-new)"),
        "{}",
        gone.stdout
    );
    let stats = org.site.stats();
    assert_eq!(stats.endpoint("DELETE api-token"), 0);
    assert!(stats.revoked_token_ids.is_empty());
    let tokens = org.run(&["tokens", "--account", BOT, "--org", ORG, "--format", "json"]);
    let ids: Vec<Value> = tokens.json()["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].clone())
        .collect();
    assert_eq!(ids, [json!("bot-new")]);
}

/// `--check-gone` says "gone" only for an id known to have existed: a typo, or an id no
/// `revoke` of this machine left to a person, is a usage error (exit 2) while absent from
/// the org's list, never the exit 0 a polling script takes for "revoked".
#[test]
fn check_gone_never_calls_an_id_nobody_knows_gone() {
    let org = sa_org(true, 5, true);
    let check = |id: &str, more: &[&str]| org.check_gone(id, more);
    let typo = check("bot-olde", &[]);
    typo.expect_code(2).expect_error_with_hint();
    assert!(
        typo.stderr
            .contains(&format!("no token with id bot-olde of {BOT} is known here"))
            && typo
                .stderr
                .contains(&format!("`autorekey tokens --account {BOT}` lists the ids")),
        "{}",
        typo.stderr
    );
    // Revoked by hand with no `revoke` before it: the org stops listing it, and nothing
    // here knows it existed.
    let unrecorded = sa_org(true, 5, true);
    unrecorded.site.state().revoke_in_admin_ui("bot-old");
    unrecorded.check_gone("bot-old", &[]).expect_code(2);

    // `revoke` records the id it leaves to the admin (no secret in the record).
    let keep = Token::new(org.bot_new.clone()).fingerprint().to_string();
    org.revoke_bot_old(&["--keep", &keep]).expect_code(3);
    let record = org
        .site
        .data_dir()
        .join("autorekey/backups/revoke-by-hand.jsonl");
    let text = std::fs::read_to_string(&record).expect("the record of the id left to do");
    assert!(text.contains("\"token_id\":\"bot-old\""), "{text}");
    common::assert_no_secrets(&text, org.site.secrets());
    org.site.state().revoke_in_admin_ui("bot-old");
    check("bot-old", &[]).expect_code(0);
    check("bot-olde", &[]).expect_code(2);
    // Another backup root holds no such record.
    let elsewhere = org.site.dir.path().join("elsewhere");
    check("bot-old", &["--backup-dir", elsewhere.to_str().unwrap()]).expect_code(2);
}

impl SaOrg {
    /// `revoke` of the bot's old token (the rules hold its new one) on a terminal.
    fn revoke_bot_at_a_terminal(&self) -> crate::rotate_pty::Screen {
        let keep = Token::new(self.bot_new.clone()).fingerprint().to_string();
        let mut cmd = self.site.cmd();
        cmd.env("AUTOREKEY_ORG_API_KEY", &self.key)
            .args(["revoke", "--account", BOT, "--token-id", "bot-old"])
            .args(["--keep", &keep, "--org", ORG]);
        crate::rotate_pty::Screen::spawn(common::std_command(&cmd))
    }
}

const WAIT_FOR_THE_ADMIN: &str = "Press Enter once you have revoked it there";

#[test]
fn at_a_terminal_revoke_waits_for_the_admin_then_finds_the_old_token_gone() {
    let org = sa_org(true, 5, true);
    let mut screen = org.revoke_bot_at_a_terminal();
    screen.expect("Service accounts > ci-bot@serviceaccount.atlassian.com > API tokens");
    screen.expect(WAIT_FOR_THE_ADMIN);
    org.site.state().revoke_in_admin_ui("bot-old");
    screen.answer("(n to stop)", "");
    let (code, transcript) = screen.finish();
    common::assert_no_secrets(&transcript, org.site.secrets());
    assert_eq!(code, 0, "{transcript}");
    assert!(
        transcript.contains("bot-old is gone") && transcript.contains("(bot-new)"),
        "{transcript}"
    );
    assert_eq!(org.site.stats().endpoint("DELETE api-token"), 0);
}

#[test]
fn at_a_terminal_enter_before_the_revoke_or_ctrl_c_leaves_it_to_do() {
    let org = sa_org(true, 5, true);
    let mut screen = org.revoke_bot_at_a_terminal();
    screen.answer(WAIT_FOR_THE_ADMIN, "");
    let (code, transcript) = screen.finish();
    assert_eq!(code, 3, "{transcript}");
    assert!(transcript.contains("still listed"), "{transcript}");

    let mut screen = org.revoke_bot_at_a_terminal();
    screen.interrupt(WAIT_FOR_THE_ADMIN);
    let (code, transcript) = screen.finish();
    assert_eq!(code, 3, "{transcript}");
    assert!(transcript.contains("not revoked yet"), "{transcript}");
    assert_eq!(org.site.stats().endpoint("DELETE api-token"), 0);
}
