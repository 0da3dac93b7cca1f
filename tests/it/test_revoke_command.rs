//! `autorekey revoke` end to end against a sandbox that serves the organization admin API:
//! nothing is deleted while any rule still holds another token of the account, or a token
//! was used since the rotation began, or the rule list cannot be confirmed; the kept token
//! is never deleted; a service account's token is left to a person and checked gone; and
//! the question at a terminal (yes, no, Enter, Ctrl-C). The org key and every token are
//! secrets every output is checked for (see `common`).
//!
//! Elsewhere: the rotation whose verdict says what may be revoked: test_rotate_command;
//! revoke across several sites: test_several_sites; a failed read echoing a token into
//! revoke's blockers: test_security.

use crate::common;
use crate::common::org::{org_site, org_site_with, sa_org, web_request, OrgSite, BOT, ORG};
use crate::common::snapshot::{normalized, normalized_streams};
use crate::common::ALICE;
use autorekey::secret::Token;
use serde_json::{json, Value};

#[test]
fn revoke_waits_until_no_rule_holds_the_old_token_then_deletes_it() {
    let org = org_site();
    let keep = Token::new(org.new.clone()).fingerprint().to_string();

    let blocked = org.revoke_alice_old();
    blocked.expect_code(3);
    // The rules are read concurrently; the blockers are listed sorted all the same.
    let shown = format!("{}--- stderr\n{}", blocked.stdout, blocked.stderr);
    insta::assert_snapshot!(normalized(&shown), @r#"
      - "Web request 01" (0190f3a2-5b7c-7d21-8e4f-000000000101): holds <alice@acme.example · [fp1]> at Send web request
      - "Web request 02" (0190f3a2-5b7c-7d21-8e4f-000000000102): holds <alice@acme.example · [fp1]> at Send web request
    --- stderr
    Connecting to http://127.0.0.1:PORT/ as admin@acme.example
    Reading every rule at http://127.0.0.1:PORT/ to prove nothing still uses it
    Needs you: not revoked: 2 places above may still need a token of alice@acme.example
    Hint: rotate them first (`autorekey rotate --account alice@acme.example`), or check masked ones in the Automation UI; then run this again
    "#);
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
fn revoke_at_a_terminal(org: &OrgSite) -> crate::common::terminal::Screen {
    org.rotate_alice().expect_code(0);
    let keep = Token::new(org.new.clone()).fingerprint().to_string();
    let backups = org.site.dir.path().join("backups");
    let mut cmd = org.site.cmd();
    cmd.env("AUTOREKEY_ORG_API_KEY", &org.key)
        .args(["revoke", "--account", ALICE, "--token-id", "alice-old"])
        .args(["--keep", &keep, "--org", ORG, "--backup-dir"])
        .arg(&backups);
    crate::common::terminal::Screen::spawn(common::std_command(&cmd))
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

#[test]
fn revoke_of_a_service_account_token_waits_for_a_person_and_checks_it_is_gone() {
    let org = sa_org(true, 5, true);
    let keep = Token::new(org.bot_new.clone()).fingerprint().to_string();
    let check = || org.check_gone("bot-old", &[]);
    let out = org.revoke_bot_old(&["--keep", &keep]);
    out.expect_code(3);
    // What the admin does by hand, where, and how to check it was done.
    insta::assert_snapshot!(normalized_streams(&out), @r#"
    --- stdout
    Revoke this one token by hand: admin.atlassian.com > Directory > Service accounts > ci-bot@serviceaccount.atlassian.com > API tokens, the token labelled "bot 2025" (id bot-old, created [date], expires [date]), with its own Revoke action; not "Revoke all". Keep "bot 2026" (bot-new): the rules may use it.
    --- stderr
    Connecting to http://127.0.0.1:PORT/ as admin@acme.example
    Reading every rule at http://127.0.0.1:PORT/ to prove nothing still uses it
    Needs you: not revoked yet: API token "bot 2025" (bot-old) of service account ci-bot@serviceaccount.atlassian.com still works until it is revoked at admin.atlassian.com (autorekey never calls the API's revoke-all, which would revoke the new token too)
    Hint: then check it is gone: `autorekey revoke --account ci-bot@serviceaccount.atlassian.com --token-id bot-old --check-gone` (exit 0 once it is gone, 3 while it is still listed)
    "#);

    let listed = check();
    listed.expect_code(3);
    assert!(listed.stderr.contains("still listed"), "{}", listed.stderr);

    // The admin revokes the one old token in admin.atlassian.com.
    org.site.state().revoke_in_admin_ui("bot-old");
    let gone = check();
    gone.expect_code(0);
    insta::assert_snapshot!(normalized(&gone.stdout), @r#"API token bot-old is gone: the organization no longer lists it; still listed for ci-bot@serviceaccount.atlassian.com: "bot 2026" (bot-new)."#);
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
