//! The security model end to end, across commands: no credential ever printed, saved or
//! sent where it does not belong, and no hostile text driving the terminal.
//!
//! Here: rule names, ids, emails and server answers that hold a token or control
//! characters (the sandbox's rules, and a small scripted server in `common::hostile` for
//! what the sandbox does not do on purpose: echo tokens back, hide an email, answer too
//! much); tokens given as a path or a stray argument; `-v` in every format; the hidden
//! token prompt's edges under a pseudo-terminal (paste, stop and continue, kill, stderr
//! elsewhere, `--token-file -`); file modes (machine and team key files others can read,
//! backup folders others can write); plain HTTP and gateway overrides that would send a
//! credential off loopback; and the checker itself (`assert_no_secrets`).
//!
//! Elsewhere: a command's own refusals (a 401 while restoring or rotating, a rule answered
//! in another's place) sit with the command: test_restore_command, test_rotate_command;
//! the client's masking of server text: test_fetch_client; random rules:
//! test_properties.

use crate::common;
use crate::common::files::{chmod, run_fixture};
use crate::common::hostile::{backup_of, logins, ok, one_rule, rule_site, Scripted, HOSTILE_ADMIN};
use crate::common::scan::{bare_rule, findings, fixture_site, printed_fingerprints, scan_json};
use crate::common::scoped::{site, CLOUD};
use crate::common::terminal::{terminal_echo, Desk, Screen, GROUP_ANSWERS, TIMEOUT_MS};
use crate::common::{
    assert_no_secrets, autorekey, fake_token, fixtures_dir, run_checked, std_command, Planted,
    RunOutput, ADMIN, ALICE,
};
use crate::rotate_support::ownership::basic;
use crate::rotate_support::*;
use base64::Engine as _;
use serde_json::{json, Value};
use std::sync::Arc;

// ------------------------------------------------------------------ backup folders

#[test]
fn a_backup_folder_others_can_write_is_refused_before_anything_is_written() {
    let fx = FixtureRotation::start();
    let shared = fx.site.dir.path().join("shared");
    std::fs::create_dir(&shared).expect("mkdir");
    chmod(&shared, 0o770);

    let out = run_fixture(&fx, fx.rotate(&shared, &["--yes"]));
    out.expect_code(1).expect_error_with_hint();
    assert!(
        out.stderr.contains("writable by other users"),
        "{}",
        out.stderr
    );
    assert_eq!(
        puts(&fx.site),
        0,
        "nothing is written without a safe backup"
    );
    assert_eq!(std::fs::read_dir(&shared).expect("list").count(), 0);
    // Refused before any rule was read.
    Expected::nothing(&fx.before).assert_site(&fx.site);

    // A private folder below a shared one is no safer: the shared one can swap it.
    let below = shared.join("mine");
    run_fixture(&fx, fx.rotate(&below, &["--yes"])).expect_code(1);
    assert!(!below.exists());
    assert_eq!(puts(&fx.site), 0);
}

/// Characters that must never reach a terminal raw.
const RAW: [char; 7] = [
    '\u{1b}', '\r', '\u{7}', '\u{9b}', '\u{202e}', '\u{2066}', '\u{200f}',
];

fn assert_printable(what: &str, out: &RunOutput) {
    for (stream, text) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
        if let Some(c) = text.chars().find(|c| RAW.contains(c)) {
            panic!("{what}: raw {c:?} on {stream}:\n{text}");
        }
        // A name cannot start a line of its own and fake the summary.
        assert!(
            !text.lines().any(|l| l.trim_start().starts_with("FAKED")),
            "{what}: a faked line on {stream}:\n{text}"
        );
    }
}

/// Rule names an attacker with rule access might choose.
fn hostile_names() -> [String; 3] {
    [
        "Clip \u{1b}]52;c;ZXZpbCBjb21tYW5k\u{7} me".to_owned(),
        "Fake\r\u{1b}[2K\u{1b}[1AFAKED Nothing left to do: the old token may be revoked".to_owned(),
        "Bidi \u{202e}txt.exe\u{2066}\u{200f}\u{9b}31m\nFAKED Nothing left to do".to_owned(),
    ]
}

#[test]
fn hostile_rule_names_reach_no_terminal_raw() {
    let path = common::fixtures_dir().join("rules/01-triage-ack-comment-basic-v1.json");
    let rule: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut rules = copies_of(&rule, 3);
    for (rule, name) in rules.iter_mut().zip(hostile_names()) {
        rule["rule"]["name"] = json!(name);
        // Header names are rule text too.
        rule["rule"]["components"][0]["value"]["headers"][0]["name"] =
            json!("Authorization\u{1b}[8m");
    }
    let planted = Planted::new(rules);
    let new_token = planted.fresh(SVC_JIRA_NEW_FIXTURE);
    let mut site = planted.site_spec().start();
    site.add_secret(new_token.clone());

    for format in ["text", "csv"] {
        let out = site.run(&["scan", "--format", format]);
        out.expect_code(0);
        assert_printable(&format!("scan --format {format}"), &out);
        assert!(out.stdout.contains("Clip \\u{1b}]52;c;"), "{}", out.stdout);
    }
    // Markdown: the same one printable line, its `\` and `]` escaped once more.
    let out = site.run(&["scan", "--format", "markdown"]);
    out.expect_code(0);
    assert_printable("scan --format markdown", &out);
    assert!(
        out.stdout.contains(r"Clip \\u{1b}\]52;c;"),
        "{}",
        out.stdout
    );
    // JSON keeps the real value, with every control, bidi and C1 character escaped.
    let out = site.run(&["scan", "--format", "json"]);
    assert_printable("scan --format json", &out);
    let names: Vec<Value> = out.json()["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["rule_name"].clone())
        .collect();
    for name in hostile_names() {
        assert!(names.contains(&json!(name)), "{names:?}");
    }
    assert!(!out.stdout.contains('\u{1b}'));

    let backups = site.dir.path().join("backups");
    let rotate =
        |args: &[&str]| site.run_cmd(rotate_cmd(&site, SVC_JIRA, &new_token, &backups, args));
    let dry = rotate(&["--dry-run"]);
    dry.expect_code(0);
    assert_printable("rotate --dry-run", &dry);
    assert!(
        dry.stdout.contains("Rule \"Fake\\u{d}\\u{1b}[2K"),
        "{}",
        dry.stdout
    );
    let done = rotate(&["--yes"]);
    assert_printable("rotate --yes", &done);
    let run_dir = only_run_dir(&backups);
    let out = site.run(&["restore", run_dir.to_str().unwrap(), "--yes"]);
    out.expect_code(0);
    assert_printable("restore", &out);
    assert!(
        out.stdout.contains("Restored \"Clip \\u{1b}]52"),
        "{}",
        out.stdout
    );
}

#[test]
fn a_site_typed_with_userinfo_and_no_scheme_is_never_printed() {
    let password = format!("pw{}", uuid::Uuid::new_v4().simple());
    let typed = format!("admin.user:{password}@acme.atlassian.net");
    for flag in ["--site", "--api-base"] {
        let mut cmd = autorekey();
        cmd.env("AUTOREKEY_API_TOKEN", fake_token())
            .args(["--login", "a@b.example"]);
        if flag == "--api-base" {
            cmd.args(["--site", "https://acme.atlassian.net"]);
        }
        cmd.args([flag, &typed, "scan"]);
        let out = run_checked(cmd, std::slice::from_ref(&password));
        out.expect_code(2).expect_error_with_hint();
        for text in [&out.stdout, &out.stderr] {
            assert!(!text.contains("admin.user"), "{flag}: {text}");
        }
    }
}

/// `rotate --yes` of svc-jira on a scripted site whose `/myself` answers `myself(new token)`
/// for the new token; the output checked for every token.
fn rotate_with_new_token_myself(myself: impl FnOnce(&str) -> Value) -> RunOutput {
    let (envelope, _, old) = one_rule();
    let (admin_token, new_token) = (fake_token(), fake_token());
    let site = rule_site(
        (HOSTILE_ADMIN, admin_token.clone()),
        (basic(SVC_JIRA, &new_token), myself(&new_token)),
        envelope,
        |_, _| (500, Vec::new(), String::new()),
    );
    let backups = tempfile::tempdir().unwrap();
    let mut cmd = site.cmd(HOSTILE_ADMIN, &admin_token);
    cmd.env("AUTOREKEY_NEW_TOKEN", &new_token)
        .args(["rotate", "--account", SVC_JIRA, "--yes", "--backup-dir"])
        .arg(backups.path());
    run_checked(cmd, &[admin_token, new_token, old])
}

#[test]
fn a_new_token_whose_myself_has_no_email_is_refused() {
    let out = rotate_with_new_token_myself(|_| json!({"accountId": "acc-somebody"}));
    out.expect_code(2).expect_error_with_hint();
    assert!(out.stderr.contains("no email"), "{}", out.stderr);
    assert!(out.stderr.contains("nothing was written"), "{}", out.stderr);
}

#[test]
fn server_echoes_never_reach_output_or_journal() {
    let (envelope, _, old) = one_rule();
    let (admin_token, new_token) = (fake_token(), format!("FAKE={}=", uuid::Uuid::new_v4()));
    let engine = base64::engine::general_purpose::STANDARD_NO_PAD;
    let echoes = [
        new_token.replace('=', "%3D"),
        engine.encode(format!("{SVC_JIRA}:{new_token}")),
        new_token.replace('=', "&#x3D;"),
        old[..22].to_owned(),
        engine.encode(&admin_token),
    ];
    let detail = echoes.join(" | ");
    let site = rule_site(
        (HOSTILE_ADMIN, admin_token.clone()),
        (
            basic(SVC_JIRA, &new_token),
            json!({"accountId": "acc-svc", "emailAddress": SVC_JIRA}),
        ),
        envelope,
        move |_, _| {
            let body = json!({"errors": [{"title": "Invalid rule", "detail": detail}]});
            (400, Vec::new(), body.to_string())
        },
    );
    let backups = tempfile::tempdir().unwrap();
    let mut cmd = site.cmd(HOSTILE_ADMIN, &admin_token);
    cmd.env("AUTOREKEY_NEW_TOKEN", &new_token)
        .env("AUTOREKEY_OLD_TOKEN", &old)
        .args(["rotate", "--account", SVC_JIRA, "--yes", "--backup-dir"])
        .arg(backups.path());
    let secrets = [admin_token, new_token, old];
    let out = run_checked(cmd, &secrets);
    assert_eq!(out.code, Some(3), "{}\n{}", out.stdout, out.stderr);
    let shown = format!("{}{}", out.stdout, out.stderr);
    assert!(shown.contains("Invalid rule"), "{shown}");
    for echo in &echoes {
        assert!(!shown.contains(echo.as_str()), "{shown}");
    }
    let run_dir = only_run_dir(backups.path());
    let journal = std::fs::read_to_string(run_dir.join("journal.jsonl")).unwrap();
    assert!(journal.contains("Invalid rule"), "{journal}");
    assert_no_secrets(&journal, &secrets);
    for echo in &echoes {
        assert!(
            !journal.contains(echo.as_str()),
            "the journal holds an echo"
        );
    }
}

/// A token pasted into a rule's name is rule text like any other: the detector finds it, and
/// no table, summary, prompt, journal or plan file may carry it.
#[test]
fn a_token_pasted_into_a_rule_name_is_never_shown_or_saved() {
    let path = common::fixtures_dir().join("rules/01-triage-ack-comment-basic-v1.json");
    let rule: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let raw = format!("ATATT3xFAKE{}", uuid::Uuid::new_v4().simple());
    let pair_token = fake_token();
    let pair =
        base64::engine::general_purpose::STANDARD.encode(format!("bot@acme.example:{pair_token}"));
    let mut rules = copies_of(&rule, 2);
    rules[0]["rule"]["name"] = json!(format!("Nightly sync {raw}"));
    rules[1]["rule"]["name"] = json!(format!("Auth {pair} export"));
    let planted = Planted::new(rules);
    let new_token = planted.fresh(SVC_JIRA_NEW_FIXTURE);
    let mut site = planted.site_spec().start();
    for secret in [&raw, &pair_token, &new_token] {
        site.add_secret(secret.clone());
    }
    for format in ["text", "csv", "json"] {
        let out = site.run(&["scan", "--format", format]);
        out.expect_code(0);
        assert!(out.stdout.contains("Nightly sync <"), "{}", out.stdout);
    }
    let backups = site.dir.path().join("backups");
    let plan = site.dir.path().join("plan.json");
    let rotate =
        |args: &[&str]| site.run_cmd(rotate_cmd(&site, SVC_JIRA, &new_token, &backups, args));
    rotate(&["--dry-run"]).expect_code(0);
    rotate(&["--out", plan.to_str().unwrap()]).expect_code(0);
    let done = rotate(&["--yes"]);
    assert!(done.stdout.contains("Nightly sync <"), "{}", done.stdout);
    let journal = std::fs::read_to_string(only_run_dir(&backups).join("journal.jsonl")).unwrap();
    for (what, text) in [
        ("plan", std::fs::read_to_string(&plan).unwrap()),
        ("journal", journal),
    ] {
        for secret in [&raw, &pair_token, &pair] {
            assert!(
                !text.contains(secret.as_str()),
                "{what} holds a secret from a name"
            );
        }
    }
}

/// A server (not a rule editor) chooses rule ids and summary names too: a rule whose read
/// fails is named from the summary, and its id is printed beside every outcome. Neither may
/// start a line of its own and fake the summary.
#[test]
fn server_chosen_ids_and_summary_names_cannot_fake_a_line() {
    let (envelope, uuid, old) = one_rule();
    let (admin_token, new_token) = (fake_token(), fake_token());
    let admin_auth = basic(HOSTILE_ADMIN, &admin_token);
    let new_auth = basic(SVC_JIRA, &new_token);
    let bad_id = "gone\n  FAKED Nothing left to do\u{1b}[2K";
    let site = Scripted::start(move |method, path, auth| match (method, path) {
        ("GET", "/rest/api/3/myself") if auth == admin_auth => {
            ok(json!({"accountId": "acc-admin", "emailAddress": HOSTILE_ADMIN}))
        }
        ("GET", "/rest/api/3/myself") if auth == new_auth => {
            ok(json!({"accountId": "acc-svc", "emailAddress": SVC_JIRA}))
        }
        ("GET", "/api/rule/summary") => ok(json!({"links": {"next": null}, "data": [
            {"uuid": uuid, "name": "ok", "state": "ENABLED"},
            {"uuid": bad_id, "name": "Gone\nFAKED the old token may be revoked", "state": "ENABLED"},
            {"uuid": "liar", "name": "Liar", "state": "ENABLED"}]})),
        ("GET", p) if p == format!("/api/rule/{uuid}") => ok(envelope.clone()),
        ("GET", "/api/rule/liar") => {
            let mut rule = envelope.clone();
            // An answer naming another id is refused, and the refusal quotes that id.
            rule["rule"]["uuid"] = json!(format!("{uuid}\nFAKED header"));
            ok(rule)
        }
        _ => (404, Vec::new(), r#"{"message":"no such rule"}"#.to_owned()),
    });
    let backups = tempfile::tempdir().unwrap();
    let json = ["--dry-run", "--format", "json"];
    for args in [&["--dry-run"][..], &["--yes"][..], &json[..]] {
        let mut cmd = site.cmd(HOSTILE_ADMIN, &admin_token);
        cmd.env("AUTOREKEY_NEW_TOKEN", &new_token)
            .args(["rotate", "--account", SVC_JIRA, "--backup-dir"])
            .arg(backups.path())
            .args(args);
        let out = run_checked(cmd, &[admin_token.clone(), new_token.clone(), old.clone()]);
        assert_printable(&format!("rotate {args:?}"), &out);
        assert!(
            out.stdout.contains("FAKED"),
            "{}\n{}",
            out.stdout,
            out.stderr
        );
    }
}

/// The email a `/myself` answer names is server text: shown in `-v` and in the refusal of
/// a new token that logs in as someone else, it must stay on its line.
#[test]
fn an_email_from_myself_cannot_fake_a_line() {
    let (envelope, _, old) = one_rule();
    let (admin_token, new_token) = (fake_token(), fake_token());
    let hostile = "other@x.example\nFAKED Hint: the old token may be revoked\u{1b}[1A";
    let admin_auth = basic(HOSTILE_ADMIN, &admin_token);
    let new_auth = basic(SVC_JIRA, &new_token);
    let uuid = envelope["rule"]["uuid"].as_str().unwrap().to_owned();
    let site = Scripted::start(move |method, path, auth| match (method, path) {
        ("GET", "/rest/api/3/myself") if auth == admin_auth || auth == new_auth => {
            ok(json!({"accountId": "acc", "emailAddress": hostile}))
        }
        ("GET", "/api/rule/summary") => ok(json!({"links": {"next": null}, "data": [
            {"uuid": uuid, "name": "ok", "state": "ENABLED"}]})),
        ("GET", _) => ok(envelope.clone()),
        _ => (500, Vec::new(), String::new()),
    });
    let secrets = [admin_token.clone(), new_token.clone(), old];
    let mut cmd = site.cmd(HOSTILE_ADMIN, &admin_token);
    cmd.args(["-v", "scan"]);
    let out = run_checked(cmd, &secrets);
    out.expect_code(0);
    assert_printable("scan -v", &out);
    assert!(
        out.stderr.contains("other@x.example\\u{a}FAKED"),
        "{}",
        out.stderr
    );
    let backups = tempfile::tempdir().unwrap();
    let mut cmd = site.cmd(HOSTILE_ADMIN, &admin_token);
    cmd.env("AUTOREKEY_NEW_TOKEN", &new_token)
        .args(["rotate", "--account", SVC_JIRA, "--yes", "--backup-dir"])
        .arg(backups.path());
    let out = run_checked(cmd, &secrets);
    out.expect_code(2);
    assert_printable("rotate, new token of another account", &out);
}

/// `restore` reads each rule from the server: an id the answer carries (here another than
/// the one asked for, so nothing is written) must stay on its line wherever it is shown.
#[test]
fn restore_headings_keep_a_server_chosen_id_on_its_line() {
    let (envelope, uuid, old) = one_rule();
    let admin_token = fake_token();
    let admin_auth = basic(HOSTILE_ADMIN, &admin_token);
    let mut now = envelope.clone();
    now["rule"]["name"] = json!("renamed since the backup");
    now["rule"]["uuid"] = json!(format!("{uuid}\nFAKED header"));
    let site = Scripted::start(move |method, path, auth| match (method, path) {
        ("GET", "/rest/api/3/myself") if auth == admin_auth => {
            ok(json!({"accountId": "acc-admin", "emailAddress": HOSTILE_ADMIN}))
        }
        ("GET", p) if p == format!("/api/rule/{uuid}") => ok(now.clone()),
        _ => (404, Vec::new(), r#"{"message":"no such rule"}"#.to_owned()),
    });
    let (_root, dir) = backup_of(&site, &envelope);
    let mut cmd = site.cmd(HOSTILE_ADMIN, &admin_token);
    cmd.arg("restore").arg(&dir).arg("--yes");
    let out = run_checked(cmd, &[admin_token.clone(), old.clone()]);
    assert_printable("restore", &out);
    assert!(out.stdout.contains("FAKED header"), "{}", out.stdout);
}

/// A read of the rule being written (the re-read before the write, the read-back, the
/// final check) may answer a 4xx whose text echoes the rule's own old token: the old token
/// is known before any of these reads, so no output, JSON summary or journal may quote it.
#[test]
fn a_read_around_the_write_cannot_echo_the_old_token() {
    let (envelope, uuid, old) = one_rule();
    let engine = base64::engine::general_purpose::STANDARD;
    let echo = format!("{old} | {}", engine.encode(format!("{SVC_JIRA}:{old}")));
    // The GET that answers with the echo: 1 = the re-read, 2 = the read-back (the final
    // check reads through the same client, after both).
    for (failing, format) in [(1, "text"), (1, "json"), (2, "json")] {
        let (admin_token, new_token) = (fake_token(), fake_token());
        let logins = [
            (basic(HOSTILE_ADMIN, &admin_token), HOSTILE_ADMIN),
            (basic(SVC_JIRA, &new_token), SVC_JIRA),
        ];
        let reads = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (uuid, echo, envelope) = (uuid.clone(), echo.clone(), envelope.clone());
        let site = Scripted::start(move |method, path, auth| match (method, path) {
            ("GET", "/rest/api/3/myself") => match logins.iter().find(|(a, _)| a == auth) {
                Some((_, email)) => ok(json!({"accountId": email, "emailAddress": email})),
                None => (401, Vec::new(), String::new()),
            },
            ("GET", "/api/rule/summary") => ok(json!({"links": {"next": null}, "data": [
                {"uuid": uuid, "name": "n", "state": "ENABLED"}]})),
            ("GET", p) if p == format!("/api/rule/{uuid}") => {
                if reads.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == failing {
                    let body = json!({"errors": [{"title": "Bad rule", "detail": echo}]});
                    return (400, Vec::new(), body.to_string());
                }
                ok(envelope.clone())
            }
            ("PUT", _) => (200, Vec::new(), json!({"ruleUuid": uuid}).to_string()),
            _ => (404, Vec::new(), r#"{"message":"no such page"}"#.to_owned()),
        });
        let backups = tempfile::tempdir().unwrap();
        let mut cmd = site.cmd(HOSTILE_ADMIN, &admin_token);
        cmd.env("AUTOREKEY_NEW_TOKEN", &new_token)
            .env("AUTOREKEY_OLD_TOKEN", &old)
            .args(["rotate", "--account", SVC_JIRA, "--yes", "--format", format])
            .arg("--backup-dir")
            .arg(backups.path());
        let secrets = [admin_token, new_token, old.clone()];
        let out = run_checked(cmd, &secrets);
        let shown = format!("{}{}", out.stdout, out.stderr);
        assert!(shown.contains("Bad rule"), "GET #{failing}: {shown}");
        assert_ne!(out.code, Some(0), "GET #{failing}: {shown}");
        // A re-read that fails comes before any backup run is opened.
        for run in run_dirs(backups.path()) {
            let journal = std::fs::read_to_string(run.join("journal.jsonl")).unwrap();
            assert_no_secrets(&journal, &secrets);
        }
    }
}

/// A site that keeps the rules written to it (a PUT's rule replaces the stored one, its
/// connections kept), lists them both ways, and logs in `logins`. `get` may answer a rule's
/// read its own way (`Some((status, body))`), given the id asked for and the stored
/// envelopes, and answers any other GET given its path; `put` may change what a write
/// stores.
type Stored = std::collections::HashMap<String, Value>;

fn storing_site(
    rules: &[Value],
    logins: [(String, &'static str); 2],
    get: impl Fn(&str, &Stored) -> Option<(u16, Value)> + Send + Sync + 'static,
    put: impl Fn(&mut Value) + Send + Sync + 'static,
) -> Scripted {
    let stored: Stored = rules
        .iter()
        .map(|r| (r["rule"]["uuid"].as_str().unwrap().to_owned(), r.clone()))
        .collect();
    let data: Vec<Value> = rules
        .iter()
        .map(|r| json!({"uuid": r["rule"]["uuid"], "name": "n", "state": "ENABLED"}))
        .collect();
    let stored = Arc::new(std::sync::Mutex::new(stored));
    Scripted::with_bodies(move |method, path, auth, sent| {
        let uuid = path.strip_prefix("/api/rule/").unwrap_or("").to_owned();
        let mut stored = stored.lock().unwrap();
        match (method, path) {
            ("GET", "/rest/api/3/myself") => match logins.iter().find(|(x, _)| x == auth) {
                Some((_, email)) => ok(json!({"accountId": email, "emailAddress": email})),
                None => (401, Vec::new(), String::new()),
            },
            ("GET", "/api/rule/summary") => ok(json!({"links": {"next": null}, "data": data})),
            ("POST", "/api/rule/summary") => {
                let data = match sent.contains("\"ENABLED\"") {
                    true => json!(data),
                    false => json!([]),
                };
                ok(json!({"links": {"next": null}, "data": data}))
            }
            ("GET", _) if stored.contains_key(&uuid) => match get(&uuid, &stored) {
                Some((status, answer)) => (status, Vec::new(), answer.to_string()),
                None => ok(stored[&uuid].clone()),
            },
            ("PUT", _) if stored.contains_key(&uuid) => {
                let sent: Value = serde_json::from_str(sent).unwrap();
                let mut envelope = stored[&uuid].clone();
                envelope["rule"] = sent["rule"].clone();
                envelope["rule"]["uuid"] = json!(uuid);
                put(&mut envelope);
                stored.insert(uuid.clone(), envelope);
                ok(json!({"ruleUuid": uuid}))
            }
            // Any other read is the script's to answer (an org's token list), given its path.
            ("GET", _) => match get(path, &stored) {
                Some((status, answer)) => (status, Vec::new(), answer.to_string()),
                None => (404, Vec::new(), r#"{"message":"no such page"}"#.to_owned()),
            },
            _ => (404, Vec::new(), r#"{"message":"no such page"}"#.to_owned()),
        }
    })
}

/// `rotate --yes` (or `format` with its own mode: `--dry-run`) of svc-jira against `site`
/// as a fresh admin, with `new_token`.
fn rotate_against(
    site: &Scripted,
    old: &str,
    admin_token: &str,
    new_token: &str,
    format: &str,
    secrets: &[String],
) -> (RunOutput, tempfile::TempDir) {
    let backups = tempfile::tempdir().unwrap();
    let mut cmd = site.cmd(HOSTILE_ADMIN, admin_token);
    let mode = if format.starts_with("--") {
        format
    } else {
        "--yes"
    };
    let format = if mode == "--yes" { format } else { "text" };
    // The scripted sites know only the new token's login: the old one is given.
    cmd.env("AUTOREKEY_NEW_TOKEN", new_token)
        .env("AUTOREKEY_OLD_TOKEN", old)
        .args(["rotate", "--account", SVC_JIRA, mode, "--format", format])
        .arg("--backup-dir")
        .arg(backups.path());
    (run_checked(cmd, secrets), backups)
}

/// The bulk read asks for each listed rule by id: an answer carrying another rule's id (or
/// none) must not stand in for the rule asked. Here the site answers rule A with rule B,
/// both holding the old token: B would be planned twice and A never looked at, and the
/// verdict would say to revoke a token A still uses.
#[test]
fn a_rule_answered_with_another_rules_body_keeps_the_old_token() {
    let path = common::fixtures_dir().join("rules/01-triage-ack-comment-basic-v1.json");
    let rule: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let planted = Planted::new(copies_of(&rule, 2));
    let old = planted.fresh(SVC_JIRA_OLD_FIXTURE);
    let id = |i: usize| {
        planted.rules[i]["rule"]["uuid"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let (a, b) = (id(0), id(1));
    let cases = [(Some(b.clone()), "json"), (Some(b), "text"), (None, "json")];
    for (answer_for_a, format) in cases {
        let (admin_token, new_token) = (fake_token(), fake_token());
        let (asked, answer) = (a.clone(), answer_for_a.clone());
        let get = move |uuid: &str, stored: &Stored| match (uuid == asked, &answer) {
            (false, _) => None,
            (true, Some(other)) => Some((200, stored[other].clone())),
            (true, None) => {
                let mut nameless = stored[uuid].clone();
                nameless["rule"].as_object_mut().unwrap().remove("uuid");
                Some((200, nameless))
            }
        };
        let site = storing_site(
            &planted.rules,
            logins(&admin_token, &new_token),
            get,
            |_| {},
        );
        let secrets = [admin_token.clone(), new_token.clone(), old.clone()];
        let (out, _backups) =
            rotate_against(&site, &old, &admin_token, &new_token, format, &secrets);
        let what = format!("A answered as {answer_for_a:?}, {format}");
        assert_ne!(out.code, Some(0), "{what}: {}\n{}", out.stdout, out.stderr);
        if format == "json" {
            let json = out.json();
            assert_eq!(json["verdict"]["revoke"], false, "{what}: {}", out.stdout);
            let outcomes = json["outcomes"].as_array().unwrap();
            let for_a = outcomes.iter().find(|o| o["uuid"] == a.as_str());
            let kind = for_a.map(|o| o["outcome"].clone());
            assert_eq!(kind, Some(json!("failed")), "{what}: {}", out.stdout);
        } else {
            assert!(
                !out.stdout.contains("may be revoked"),
                "{what}: {}",
                out.stdout
            );
        }
    }
}

/// What a read-back reports as "also changed" are places named by the server's answer: a
/// field the server adds under a name holding the new token (or the old one) must not
/// carry it into the summary, `--format json` or the journal.
#[test]
fn a_read_back_cannot_leak_a_token_through_a_field_name() {
    let (envelope, _, old) = one_rule();
    for (format, leak_new) in [("text", true), ("json", true), ("json", false)] {
        let (admin_token, new_token) = (fake_token(), fake_token());
        let key = if leak_new {
            new_token.clone()
        } else {
            old.clone()
        };
        let put = move |stored: &mut Value| {
            stored["rule"][format!("note {key}")] = json!(true);
        };
        let rules = [envelope.clone()];
        let site = storing_site(&rules, logins(&admin_token, &new_token), |_, _| None, put);
        let secrets = [admin_token.clone(), new_token.clone(), old.clone()];
        let (out, backups) =
            rotate_against(&site, &old, &admin_token, &new_token, format, &secrets);
        out.expect_code(3);
        assert!(out.stdout.contains("note"), "{}", out.stdout);
        let journal =
            std::fs::read_to_string(only_run_dir(backups.path()).join("journal.jsonl")).unwrap();
        assert_no_secrets(&journal, &secrets);
    }
}

/// A rule that cannot be read may answer with text echoing another rule's token (read
/// before or after it): the read is over before the summary, so the summary, the JSON
/// and the plan cannot quote any token the run has seen in a rule.
#[test]
fn a_failed_read_cannot_echo_a_token_another_rule_holds() {
    let path = common::fixtures_dir().join("rules/01-triage-ack-comment-basic-v1.json");
    let rule: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut planted = Planted::new(copies_of(&rule, 2));
    let old = planted.fresh(SVC_JIRA_OLD_FIXTURE);
    let broken = planted.rules[1]["rule"]["uuid"]
        .as_str()
        .unwrap()
        .to_owned();
    // The broken rule's stored copy holds no credential of its own.
    planted.rules[1]["rule"]["components"] = json!([]);
    for format in ["--dry-run", "json", "text"] {
        let (admin_token, new_token) = (fake_token(), fake_token());
        let echo = json!({"errors": [{"title": "Bad rule", "detail": format!("near {old}")}]});
        let id = broken.clone();
        let get = move |uuid: &str, _: &Stored| (uuid == id).then(|| (400, echo.clone()));
        let site = storing_site(
            &planted.rules,
            logins(&admin_token, &new_token),
            get,
            |_| {},
        );
        let secrets = [admin_token.clone(), new_token.clone(), old.clone()];
        let (out, _backups) =
            rotate_against(&site, &old, &admin_token, &new_token, format, &secrets);
        assert!(out.stdout.contains("Bad rule"), "{format}: {}", out.stdout);
    }
}

/// A rule's name or id may hold its own old token in a form the detector does not know
/// by shape (a bare legacy token): no heading, summary, JSON or journal may show it.
#[test]
fn a_rule_name_or_id_holding_its_old_token_is_never_shown() {
    let (mut envelope, _, old) = one_rule();
    envelope["rule"]["name"] = json!(format!("Sync {old} nightly"));
    for format in ["--dry-run", "json", "text"] {
        let (admin_token, new_token) = (fake_token(), fake_token());
        let rules = [envelope.clone()];
        let site = storing_site(
            &rules,
            logins(&admin_token, &new_token),
            |_, _| None,
            |_| {},
        );
        let secrets = [admin_token.clone(), new_token.clone(), old.clone()];
        let (out, backups) =
            rotate_against(&site, &old, &admin_token, &new_token, format, &secrets);
        assert!(out.stdout.contains("Sync "), "{format}: {}", out.stdout);
        for run in run_dirs(backups.path()) {
            let journal = std::fs::read_to_string(run.join("journal.jsonl")).unwrap();
            assert_no_secrets(&journal, &secrets);
        }
    }
}

/// The same for `scan`: a rule whose read fails cannot quote a token another rule holds
/// into the inventory, whatever the format.
#[test]
fn a_failed_read_cannot_echo_a_token_into_the_scan() {
    let path = common::fixtures_dir().join("rules/01-triage-ack-comment-basic-v1.json");
    let rule: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let planted = Planted::new(copies_of(&rule, 2));
    let old = planted.fresh(SVC_JIRA_OLD_FIXTURE);
    let broken = planted.rules[1]["rule"]["uuid"]
        .as_str()
        .unwrap()
        .to_owned();
    let admin_token = fake_token();
    let echo = json!({"errors": [{"title": "Bad rule", "detail": format!("near {old}")}]});
    let get = move |uuid: &str, _: &Stored| (uuid == broken).then(|| (400, echo.clone()));
    let site = storing_site(
        &planted.rules,
        logins(&admin_token, &fake_token()),
        get,
        |_| {},
    );
    for format in ["text", "csv", "json", "markdown"] {
        let mut cmd = site.cmd(HOSTILE_ADMIN, &admin_token);
        cmd.args(["scan", "--format", format]);
        let out = run_checked(cmd, &[admin_token.clone(), old.clone()]);
        // CSV is one row per finding: the failed read is counted, not quoted.
        let shown = format!("{}{}", out.stdout, out.stderr);
        assert!(
            format == "csv" || shown.contains("Bad rule"),
            "{format}: {shown}"
        );
    }
}

/// `revoke` reads every rule to prove nothing still uses the token: a rule whose read
/// fails cannot quote another rule's token into the list of what blocks the revoke.
#[test]
fn a_failed_read_cannot_echo_a_token_into_revokes_blockers() {
    let path = common::fixtures_dir().join("rules/01-triage-ack-comment-basic-v1.json");
    let rule: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let planted = Planted::new(copies_of(&rule, 2));
    let old = planted.fresh(SVC_JIRA_OLD_FIXTURE);
    let broken = planted.rules[1]["rule"]["uuid"]
        .as_str()
        .unwrap()
        .to_owned();
    let (admin_token, org_key) = (fake_token(), fake_token());
    let echo = json!({"errors": [{"title": "Bad rule", "detail": format!("near {old}")}]});
    let tokens = json!({"links": {"next": null}, "data": [{"id": "t1", "label": "old",
        "status": "ALLOWED", "createdAt": "2025-01-01T00:00:00Z",
        "expiresAt": "2026-12-31T00:00:00Z", "user": {"id": "acc-svc", "email": SVC_JIRA}}]});
    let get = move |asked: &str, _: &Stored| match asked {
        id if id == broken => Some((400, echo.clone())),
        // The users' list only: the service accounts' is asked apart (and not served here).
        p if p.ends_with("/api-tokens") && !p.contains("service-accounts") => {
            Some((200, tokens.clone()))
        }
        _ => None,
    };
    let site = storing_site(
        &planted.rules,
        logins(&admin_token, &fake_token()),
        get,
        |_| {},
    );
    let mut cmd = site.cmd(HOSTILE_ADMIN, &admin_token);
    cmd.env("AUTOREKEY_ORG_API_KEY", &org_key)
        .args([
            "revoke",
            "--org",
            "org-1",
            "--account",
            SVC_JIRA,
            "--token-id",
            "t1",
        ])
        .arg("--yes");
    let out = run_checked(cmd, &[admin_token, org_key, old]);
    out.expect_code(3);
    assert!(
        out.stdout.contains("Bad rule"),
        "{}\n{}",
        out.stdout,
        out.stderr
    );
}

/// A rule's id is the server's text too: an id holding a token a rule carries is never
/// shown, planned or journalled, and the rule is not rotated under it (the old token is
/// kept).
#[test]
fn a_rule_id_holding_a_token_is_never_shown_and_keeps_the_old_token() {
    let (mut envelope, _, old) = one_rule();
    // Its id is the old token; a second copy's id is base64 of the Basic pair.
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut second = envelope.clone();
    envelope["rule"]["uuid"] = json!(old.clone());
    second["rule"]["uuid"] = json!(engine.encode(format!("{SVC_JIRA}:{old}")));
    for format in ["--dry-run", "json", "text"] {
        let (admin_token, new_token) = (fake_token(), fake_token());
        let rules = [envelope.clone(), second.clone()];
        let site = storing_site(
            &rules,
            logins(&admin_token, &new_token),
            |_, _| None,
            |_| {},
        );
        let secrets = [admin_token.clone(), new_token.clone(), old.clone()];
        let (out, backups) =
            rotate_against(&site, &old, &admin_token, &new_token, format, &secrets);
        // A dry run succeeds in showing it; a run that writes fails at the end.
        out.expect_code(if format == "--dry-run" { 0 } else { 3 });
        assert_eq!(failed_count(&out), 2, "{format}: {}", out.stdout);
        assert!(
            !out.stdout.contains("; revoke the old"),
            "{format}: {}",
            out.stdout
        );
        for run in run_dirs(backups.path()) {
            let journal = std::fs::read_to_string(run.join("journal.jsonl")).unwrap();
            assert_no_secrets(&journal, &secrets);
        }
    }
}

/// Rules reported failed, from the text summary or the JSON one.
fn failed_count(out: &RunOutput) -> usize {
    match out.stdout.trim_start().starts_with('{') {
        true => out.json()["counts"]["failed"].as_u64().unwrap_or(0) as usize,
        false => summary_count(&out.stdout, "failed"),
    }
}

/// `scan` lists every rule by id: an id holding a token a rule carries is masked there too.
#[test]
fn a_rule_id_holding_a_token_is_masked_in_the_scan() {
    let (mut envelope, _, old) = one_rule();
    envelope["rule"]["uuid"] = json!(old.clone());
    let admin_token = fake_token();
    let rules = [envelope];
    let site = storing_site(
        &rules,
        logins(&admin_token, &fake_token()),
        |_, _| None,
        |_| {},
    );
    for format in ["text", "csv", "json", "markdown"] {
        let mut cmd = site.cmd(HOSTILE_ADMIN, &admin_token);
        cmd.args(["scan", "--format", format]);
        let out = run_checked(cmd, &[admin_token.clone(), old.clone()]);
        out.expect_code(0);
        // The table names rules without their ids; Markdown escapes the mask's stars.
        let shown =
            format == "text" || out.stdout.contains("****") || out.stdout.contains(r"\*\*\*\*");
        assert!(shown, "{format}: {}", out.stdout);
    }
}

// ------------------------------------------------------- issue 16: text that skipped the masker

/// A `/myself` that answers with the checked token as its email: the refusal of the new
/// token ("logs in as ...") quotes the server's email, which must be masked like any text.
#[test]
fn a_myself_answering_with_the_token_as_email_never_prints_it() {
    let out = rotate_with_new_token_myself(
        |token| json!({"accountId": "acc-svc", "emailAddress": token}),
    );
    out.expect_code(2).expect_error_with_hint();
    assert!(out.stderr.contains("logs in as ****"), "{}", out.stderr);
}

/// `/_edge/tenant_info` is asked before anything else, with no credential: its error is
/// server text all the same, cleaned of the admin's token.
#[test]
fn a_tenant_info_error_is_cleaned_of_the_admin_token() {
    let admin_token = fake_token();
    let echoed = admin_token.clone();
    let site = Scripted::start(move |_, path, _| match path {
        "/_edge/tenant_info" => (
            400,
            Vec::new(),
            json!({"message": format!("no tenant for {echoed}")}).to_string(),
        ),
        _ => (404, Vec::new(), String::new()),
    });
    let mut cmd = autorekey();
    cmd.env("AUTOREKEY_SITE", &site.base)
        .env("AUTOREKEY_LOGIN", HOSTILE_ADMIN)
        .env("AUTOREKEY_API_TOKEN", &admin_token)
        .arg("scan");
    let out = run_checked(cmd, &[admin_token]);
    assert_ne!(out.code, Some(0), "{}", out.stderr);
    assert!(out.stderr.contains("no tenant for ****"), "{}", out.stderr);
}

/// Rule names and ids are the server's choice: half of the admin's token in a name, or a
/// rule id that is the admin's token, reaches no output (`-vv` traces name each path).
#[test]
fn names_and_traced_ids_holding_the_admin_token_are_masked() {
    let (envelope, _, old) = one_rule();
    let admin_token = fake_token();
    let admin_auth = basic(HOSTILE_ADMIN, &admin_token);
    let half = admin_token[..admin_token.len() / 2 + 1].to_owned();
    let (id, name) = (admin_token.clone(), format!("Sync {half}"));
    let site = Scripted::start(move |method, path, auth| match (method, path) {
        ("GET", "/rest/api/3/myself") if auth == admin_auth => {
            ok(json!({"accountId": "acc-admin", "emailAddress": HOSTILE_ADMIN}))
        }
        ("GET", "/api/rule/summary") => ok(json!({"links": {"next": null}, "data": [
            {"uuid": id, "name": name, "state": "ENABLED"}]})),
        ("GET", p) if p == format!("/api/rule/{id}") => {
            let mut rule = envelope.clone();
            rule["rule"]["uuid"] = json!(id);
            rule["rule"]["name"] = json!(name);
            ok(rule)
        }
        _ => (404, Vec::new(), String::new()),
    });
    for format in ["text", "json"] {
        let mut cmd = site.cmd(HOSTILE_ADMIN, &admin_token);
        cmd.args(["-vv", "scan", "--format", format]);
        let out = run_checked(cmd, &[admin_token.clone(), old.clone()]);
        out.expect_code(0);
        let shown = format!("{}{}", out.stdout, out.stderr);
        assert!(!shown.contains(&half), "{shown}");
        assert!(shown.contains("Sync ****"), "{shown}");
        assert!(out.stderr.contains("-> GET "), "{}", out.stderr);
    }
}

/// `scan --from-file DIR` lists the files it skipped: a file name is anyone's text, and a
/// line break in it must not print a line of its own (the JSON keeps the real name).
#[test]
fn a_skipped_file_name_cannot_forge_a_line() {
    let dir = tempfile::tempdir().unwrap();
    let names = [
        "notes\nFAKED 0 findings: nothing to rotate.txt",
        "settings\r\u{1b}[2K\nFAKED no credential.json",
    ];
    for name in names {
        std::fs::write(dir.path().join(name), r#"{"theme": "dark"}"#).unwrap();
    }
    for format in ["text", "json"] {
        let mut cmd = autorekey();
        cmd.args(["scan", "--format", format, "--from-file"])
            .arg(dir.path());
        let out = run_checked(cmd, &[]);
        out.expect_code(0);
        assert_printable(&format!("scan --from-file DIR --format {format}"), &out);
        assert!(out.stderr.contains("notes\\u{a}FAKED"), "{}", out.stderr);
        if format == "json" {
            let skipped = out.json()["skipped_files"].to_string();
            assert!(skipped.contains(r"notes\nFAKED"), "{skipped}");
        } else {
            assert!(out.stdout.contains("notes\\u{a}FAKED"), "{}", out.stdout);
        }
    }
}

/// A token pasted where a file path belongs, or as a stray argument, is never printed
/// back: messages name the flag, and clap's usage errors are masked (CI logs keep them).
#[test]
fn a_token_given_as_a_path_or_a_stray_argument_is_never_printed() {
    let token = format!(
        "ATATT3xFAKE{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    let secrets = [token.clone()];
    let path = common::fixtures_dir().join("rules/01-triage-ack-comment-basic-v1.json");
    let rule: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let site = Planted::new(copies_of(&rule, 1)).site_spec().start();
    let t = token.as_str();
    let cases: [(&[&str], &str); 6] = [
        (&["scan", t], "unexpected argument '****'"),
        (&["rotate", "--account", SVC_JIRA, "--dry-run", t], "'****'"),
        (&["--api-token-file", t, "scan"], "--api-token-file"),
        (
            &["--fingerprint-key-file", t, "scan"],
            "--fingerprint-key-file",
        ),
        (
            &[
                "rotate",
                "--account",
                SVC_JIRA,
                "--dry-run",
                "--new-token-file",
                t,
            ],
            "--new-token-file",
        ),
        (
            &[
                "tokens",
                "--account",
                SVC_JIRA,
                "--org",
                "org-1",
                "--org-api-key-file",
                t,
            ],
            "--org-api-key-file",
        ),
    ];
    for (args, named) in cases {
        let mut cmd = site.cmd();
        cmd.args(args);
        let out = run_checked(cmd, &secrets);
        assert_ne!(out.code, Some(0), "{args:?}");
        assert!(!out.stderr.contains(&t[..16]), "{args:?}: {}", out.stderr);
        assert!(out.stderr.contains(named), "{args:?}: {}", out.stderr);
    }
}

/// With no site named, the org admin key goes to api.atlassian.com only:
/// `AUTOREKEY_GATEWAY_URL` alone (a local port, plain HTTP) never receives it.
#[test]
fn the_org_key_never_follows_the_gateway_override_without_a_sandbox_site() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let key = fake_token();
    let asked = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&asked);
    let listener = Scripted::start(move |_, _, _| {
        seen.fetch_add(1, Ordering::SeqCst);
        ok(json!({"data": [], "links": {}}))
    });
    let dir = tempfile::tempdir().unwrap();
    let org = "0d2f4e6a-8b1c-4d3e-9f5a-7b6c5d4e3f2a";
    let from_file = [
        "scan",
        "--from-file",
        dir.path().to_str().unwrap(),
        "--org",
        org,
    ];
    let tokens = ["tokens", "--account", SVC_JIRA, "--org", org];
    for args in [&from_file[..], &tokens[..]] {
        let mut cmd = autorekey();
        cmd.env("AUTOREKEY_GATEWAY_URL", &listener.base)
            .env("AUTOREKEY_ORG_API_KEY", &key)
            .args(args);
        let out = run_checked(cmd, std::slice::from_ref(&key));
        out.expect_code(2).expect_error_with_hint();
        assert!(out.stderr.contains("--site"), "{}", out.stderr);
    }
    assert_eq!(
        asked.load(Ordering::SeqCst),
        0,
        "the local port got the key"
    );
}

/// Whether the terminal whose master side is `fd` echoes what is typed.
fn echoes(fd: i32) -> bool {
    // SAFETY: as in `terminal_echo`.
    unsafe {
        let mut modes: libc::termios = std::mem::zeroed();
        assert_eq!(
            libc::tcgetattr(fd, &mut modes),
            0,
            "read the terminal's modes"
        );
        modes.c_lflag & libc::ECHO != 0
    }
}

/// A token pasted with its line break (CR LF, which the terminal passes as two Enters) and
/// wrapped in bracketed-paste markers, at both token prompts: it is the token, whole; the
/// second Enter of the first paste does not count as an empty, differing confirmation.
#[test]
fn a_pasted_token_with_its_line_break_and_paste_markers_is_taken_whole() {
    let desk = Desk::new(2);
    let mut screen = Screen::rotate(&desk.site, &desk.backups);
    let paste = format!("\x1b[200~{}\x1b[201~\r\n", desk.new_token);
    for prompt in ["Paste the new API token", "Paste the new API token again"] {
        screen.expect(prompt);
        screen.session.send(&paste).expect("paste on the pty");
    }
    screen.answer(GROUP_ANSWERS, "a");
    let (code, transcript) = screen.finish();

    assert_no_secrets(&transcript, desk.site.secrets());
    assert!(!transcript.contains(&desk.new_token), "{transcript}");
    assert!(!transcript.contains("differ"), "{transcript}");
    assert_eq!(code, 0, "{transcript}");
    desk.expected.assert_site(&desk.site);
}
/// The process stopped at the hidden prompt (`kill -STOP`) while the shell takes the
/// terminal back with echo on, then continued (`fg`): the prompt takes the terminal back
/// too, so what is typed next is still hidden.
#[test]
fn a_token_typed_after_a_stop_and_continue_is_still_hidden() {
    use rexpect::process::Signal;
    let token = crate::common::fake_token();
    let mut screen = Screen::fingerprint();
    screen.expect("Paste the token: ");
    let master = screen.master();
    let fd = std::os::fd::AsRawFd::as_raw_fd(&master);
    screen.signal(Signal::SIGSTOP);
    let pid = screen.session.process().child_pid.as_raw();
    let mut status = 0;
    // SAFETY: waits for a state change of our own child; `status` is a live int.
    let waited = unsafe { libc::waitpid(pid, &mut status, libc::WUNTRACED) };
    assert!(
        waited == pid && libc::WIFSTOPPED(status),
        "the binary stops"
    );
    terminal_echo(fd, true).expect("the shell turns echo back on");
    screen.signal(Signal::SIGCONT);
    // A hang guard, not a timing assertion: the prompt must turn echo off again.
    let deadline = std::time::Instant::now() + std::time::Duration::from_millis(TIMEOUT_MS);
    while echoes(fd) {
        assert!(
            std::time::Instant::now() < deadline,
            "the prompt never took the terminal back after SIGCONT"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    screen.session.send_line(&token).expect("type on the pty");
    screen.expect("as an Atlassian credential");
    let (code, transcript) = screen.finish();

    assert_eq!(code, 0, "{transcript}");
    assert_no_secrets(&transcript, std::slice::from_ref(&token));
}

/// Killed at the hidden prompt (SIGTERM from a supervisor, SIGHUP from a closed window):
/// the process dies of the signal as asked, and the terminal is left as it was found,
/// with echo on, not silently swallowing the next command typed.
#[test]
fn killed_at_the_hidden_prompt_the_terminal_is_put_back() {
    use rexpect::process::{Signal, WaitStatus};
    for signal in [Signal::SIGTERM, Signal::SIGHUP] {
        let mut screen = Screen::fingerprint();
        screen.expect("Paste the token: ");
        let master = screen.master();
        assert!(!echoes(std::os::fd::AsRawFd::as_raw_fd(&master)), "hidden");
        screen.signal(signal);
        let status = screen
            .session
            .process()
            .wait()
            .expect("wait for the binary");
        assert!(
            matches!(status, WaitStatus::Signaled(_, got, _) if got == signal),
            "{signal}: {status:?}"
        );
        assert!(
            echoes(std::os::fd::AsRawFd::as_raw_fd(&master)),
            "{signal}: the terminal was left with echo off"
        );
    }
}
/// Stdin a terminal but stderr not (`2>log`): nobody can be asked, and reading stdin there
/// would show the token as it is typed; the command says what to do instead, reading
/// nothing.
#[test]
fn a_token_is_never_read_from_a_terminal_with_stderr_elsewhere() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let log = dir.path().join("stderr.log");
    let mut cmd = crate::common::autorekey();
    cmd.arg("fingerprint");
    let file = std::fs::File::create(&log).expect("a log file");
    let screen = Screen::spawn_with_stderr(std_command(&cmd), file.into());
    let (code, _) = screen.finish();

    let said = std::fs::read_to_string(&log).expect("read the log");
    assert_eq!(code, 2, "{said}");
    assert!(said.contains("stdin is a terminal"), "{said}");
    assert!(said.contains("Hint: "), "{said}");
}

/// `--api-token-file -` typed at a terminal: the token is asked for hidden, not read from
/// the terminal with echo on.
#[test]
fn a_token_file_dash_on_a_terminal_is_asked_hidden() {
    let (_, site) = copies_site(1, |_| {});
    let mut cmd = site.cmd();
    cmd.env_remove("AUTOREKEY_API_TOKEN")
        .args(["scan", "--api-token-file", "-"]);
    let mut screen = Screen::spawn(std_command(&cmd));
    screen.answer("Paste the admin's API token", site.admin_token());
    let (code, transcript) = screen.finish();

    assert_no_secrets(&transcript, site.secrets());
    assert_eq!(code, 0, "{transcript}");
}

// ------------------------------------------------------------------ 5. secrets

#[test]
fn verbose_runs_in_every_format_print_no_secret() {
    let (_, site) = fixture_site();
    for format in ["json", "text", "csv"] {
        let run = site.run(&["-vv", "scan", "--verify", "--format", format]);
        run.expect_code(0);
        assert!(
            run.stderr.contains("Logged in to"),
            "-v must say more: {}",
            run.stderr
        );
    }
    // And through a failure, whose messages quote what the site answered.
    let mut cmd = site.cmd();
    cmd.env("AUTOREKEY_API_TOKEN", common::fake_token())
        .args(["-vv", "scan"]);
    site.run_cmd(cmd).expect_code(1);
}

#[test]
fn the_admin_token_from_a_file_or_stdin_is_never_echoed() {
    let (_, site) = fixture_site();
    let file = site.write_file("admin-token", &format!("{}\n", site.admin_token()));
    let mut from_file = site.cmd();
    from_file
        .env_remove("AUTOREKEY_API_TOKEN")
        .arg("--api-token-file")
        .arg(&file)
        .args(["-v", "scan", "--format", "text"]);
    site.run_cmd(from_file).expect_code(0);

    let mut from_stdin = site.cmd();
    from_stdin
        .env_remove("AUTOREKEY_API_TOKEN")
        .args(["--api-token-file", "-", "-v", "scan", "--format", "json"])
        .write_stdin(site.admin_token().to_owned());
    let run = site.run_cmd(from_stdin);
    run.expect_code(0);
    assert!(!findings(&run.json()).is_empty());
}

/// A rule name is typed by anyone who can edit a rule: in the Markdown report it must read
/// as its own name, on one line, not as a link, a table row, a heading or a code span.
#[test]
fn a_hostile_rule_name_is_inert_in_the_markdown_report() {
    let dir = tempfile::tempdir().unwrap();
    let hostile = "[Renew](https://evil.example) | forged | row |\n## Revoke now `x` <b>*y*</b>";
    let token = common::fake_token();
    // The user of a Basic value is the rule author's text too.
    let rule = bare_rule(hostile, "# Forged heading", &token);
    std::fs::write(dir.path().join("rule.json"), rule.to_string()).unwrap();
    let mut cmd = autorekey();
    cmd.arg("scan")
        .arg("--from-file")
        .arg(dir.path().join("rule.json"))
        .args(["--format", "markdown"]);
    let run = run_checked(cmd, &[token]);
    run.expect_code(0);
    let escaped = "\\[Renew\\](https://evil.example) \\| forged \\| row \\|\\\\u{a}## Revoke now \\`x\\` \\<b\\>\\*y\\*\\</b\\>";
    assert!(run.stdout.contains(escaped), "{}", run.stdout);
    assert!(
        !run.stdout.lines().any(|l| l.starts_with("## Revoke")),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("- **# Forged heading** · `"),
        "{}",
        run.stdout
    );
}

#[test]
fn plain_http_to_a_non_loopback_site_is_refused() {
    let token = common::fake_token();
    let mut cmd = autorekey();
    cmd.env("AUTOREKEY_LOGIN", "someone@example.com")
        .env("AUTOREKEY_API_TOKEN", &token)
        .args(["--site", "http://acme.example.net", "scan"]);
    run_checked(cmd, &[token])
        .expect_code(2)
        .expect_error_with_hint();
}

/// A human-chosen password in a URL to a host that is not Atlassian's: every output shows
/// its keyed fingerprint, never the plain SHA-256 prefix a dictionary could be run against.
#[test]
fn a_weak_url_password_never_shows_its_unkeyed_fingerprint() {
    let path = fixtures_dir().join("rules/01-triage-ack-comment-basic-v1.json");
    let mut rule: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let digits = uuid::Uuid::new_v4().as_u128() % 10_000;
    let weak = format!("Winter{digits:04}!");
    rule["rule"]["components"][0]["value"]["url"] =
        json!(format!("https://ci-bot:{weak}@ci.example.org/job/deploy"));
    let planted = Planted::new(vec![rule]);
    let mut site = planted.site_spec().start();
    site.add_secret(weak.clone());
    let unkeyed = autorekey::secret::Fingerprint::of(&weak).to_string();
    let keyed = common::keyed_fingerprint(&weak).to_string();

    let report = scan_json(&site, &[]);
    let row = findings(&report)
        .iter()
        .find(|f| f["location"] == "url")
        .expect("the URL credential is found");
    assert_eq!(row["email"], "ci-bot");
    assert_eq!(row["fingerprint"], keyed.as_str());
    // The account's Basic header in the same request now goes to that host too: keyed.
    let svc = planted.fresh("FAKE-svc-jira-OLD-token-1111");
    let header = findings(&report)
        .iter()
        .find(|f| f["location"] == "header")
        .expect("the header credential is found");
    assert_eq!(
        header["fingerprint"],
        common::keyed_fingerprint(&svc).as_str()
    );

    for format in ["json", "text", "csv"] {
        let out = site.run(&["scan", "--format", format, "-v"]);
        out.expect_code(0);
        for (stream, text) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
            assert!(
                !text.contains(&unkeyed),
                "{format} {stream} shows the unkeyed fingerprint:\n{text}"
            );
        }
        assert!(out.stdout.contains(&keyed), "{format}:\n{}", out.stdout);
    }
}

/// A key file others can read is refused before anything runs, with what to do.
#[cfg(unix)]
#[test]
fn a_team_key_file_others_can_read_is_refused() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("team.key");
    std::fs::write(&key, "team-key-from-a-file-0123456789\n").unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let token = common::fake_token();
    let run = |cmd: &mut assert_cmd::Command| {
        cmd.arg("--fingerprint-key-file")
            .arg(&key)
            .arg("fingerprint")
            .write_stdin(token.clone());
    };
    let mut cmd = autorekey();
    run(&mut cmd);
    let refused = run_checked(cmd, std::slice::from_ref(&token));
    refused.expect_code(2).expect_error_with_hint();
    assert!(refused.stderr.contains("other users"), "{}", refused.stderr);

    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let mut cmd = autorekey();
    run(&mut cmd);
    let ok = run_checked(cmd, std::slice::from_ref(&token));
    ok.expect_code(0);
    let team = autorekey::secret::FingerprintKey::from_text("team-key-from-a-file-0123456789");
    let want = autorekey::secret::Fingerprint::keyed(&token, Some(&team.unwrap()));
    assert_eq!(
        printed_fingerprints(&ok.stdout)[1],
        want.as_str(),
        "the file wins over the env"
    );
}

/// With no team key, the machine key is made on first use (0600 in a 0700 folder of the
/// data dir), kept for the next run, and refused once others can read it.
#[cfg(unix)]
#[test]
fn the_machine_key_is_made_once_private_and_refused_when_others_can_read_it() {
    use std::os::unix::fs::PermissionsExt as _;
    let data = tempfile::tempdir().unwrap();
    let token = common::fake_token();
    let run = || {
        let mut cmd = autorekey();
        cmd.env_remove("AUTOREKEY_FINGERPRINT_KEY")
            .env("XDG_DATA_HOME", data.path())
            .arg("fingerprint")
            .write_stdin(token.clone());
        run_checked(cmd, std::slice::from_ref(&token))
    };
    let first = run();
    first.expect_code(0);
    let key = data.path().join("autorekey").join("fingerprint.key");
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&key), 0o600);
    assert_eq!(mode(key.parent().unwrap()), 0o700);
    let keyed = printed_fingerprints(&first.stdout)[1].clone();
    assert!(keyed.starts_with("k:") && keyed != common::keyed_fingerprint(&token).as_str());
    assert_eq!(
        printed_fingerprints(&run().stdout)[1],
        keyed,
        "the same key next time"
    );

    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let refused = run();
    refused.expect_code(2).expect_error_with_hint();
    assert!(refused.stderr.contains("chmod 600"), "{}", refused.stderr);
    assert!(
        refused.stdout.is_empty(),
        "nothing is printed with a key others can read"
    );
}

// ------------------------------------------------------------------ the checker itself

/// `assert_no_secrets` guards every test above: it must catch each form a token can leak in.
#[test]
fn the_secret_checker_catches_every_encoding() {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
    use base64::Engine as _;

    let token = common::fake_token();
    let secrets = [token.clone()];
    let percent = percent_encoding::utf8_percent_encode(&token, percent_encoding::NON_ALPHANUMERIC);
    let leaks = [
        format!("header: {token}"),
        format!(
            "Basic {}",
            STANDARD.encode(format!("svc-jira@acme.example:{token}"))
        ),
        format!("basic {}", STANDARD_NO_PAD.encode(format!("ab:{token}"))),
        format!(
            "Basic {}",
            STANDARD.encode(format!("someone-unknown@x.y:{token}"))
        ),
        format!("https://u%40x:{percent}@host/"),
    ];
    for leak in &leaks {
        let caught = std::panic::catch_unwind(|| common::assert_no_secrets(leak, &secrets));
        assert!(caught.is_err(), "a leak went unnoticed");
    }
    common::assert_no_secrets("nothing to see: **** and a fingerprint", &secrets);
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
