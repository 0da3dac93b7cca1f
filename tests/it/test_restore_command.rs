//! `autorekey restore RUN` end to end: putting rotated rules back from a run's backups,
//! against in-process sandbox sites.
//!
//! Here: restore of one rule or all; a copy kept of an edit made after the rotation; lost
//! write answers read back so each rule is written once; a resumed run's shared backups;
//! tampered, truncated or linked backups named while the rest is restored; a shared run
//! folder or a journal swapped for a link refused; a server that refuses (401) or answers
//! with another rule; and the restore question at a terminal (progress, Ctrl-C, quit).
//!
//! Elsewhere: listing runs and their restore state (`backups`): test_backups_command;
//! restore of a multi-site run: test_several_sites; a restore heading holding a
//! server-chosen id: test_security.

use crate::common::files::{chmod, path_str, run_fixture};
use crate::common::hostile::{backup_of, ok, one_rule, Scripted, HOSTILE_ADMIN};
use crate::common::snapshot::normalized;
use crate::common::terminal::Desk;
use crate::common::{assert_no_secrets, fake_token, run_checked};
use crate::rotate_support::ownership::basic;
use crate::rotate_support::rotate::{rotate_until_done, run};
use crate::rotate_support::verdict::{fp, old_and_new};
use crate::rotate_support::*;
use autorekey::journal;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A rotation of svc-jira with backups under the site's scratch dir; returns its run dir.
fn rotated(fx: &FixtureRotation) -> PathBuf {
    let backups = fx.site.dir.path().join("backups");
    run_fixture(fx, fx.rotate(&backups, &["--yes"])).expect_code(3);
    fx.expected().assert_site(&fx.site);
    only_run_dir(&backups)
}

#[test]
fn restore_refuses_a_shared_run_folder_and_a_journal_swapped_for_a_link() {
    let fx = FixtureRotation::start();
    let run_dir = rotated(&fx);
    let dir = path_str(&run_dir);
    let written = puts(&fx.site);

    chmod(&run_dir, 0o777);
    let out = fx.site.run(&["restore", dir, "--yes"]);
    out.expect_code(1).expect_error_with_hint();
    assert!(
        out.stderr.contains("writable by other users"),
        "{}",
        out.stderr
    );
    assert_eq!(puts(&fx.site), written, "nothing restored");
    chmod(&run_dir, 0o700);

    let journal = run_dir.join("journal.jsonl");
    let elsewhere = fx.site.dir.path().join("elsewhere.jsonl");
    std::fs::rename(&journal, &elsewhere).expect("move the journal");
    let kept = std::fs::read(&elsewhere).expect("read");
    std::os::unix::fs::symlink(&elsewhere, &journal).expect("plant a link");
    let out = fx.site.run(&["restore", dir, "--yes"]);
    out.expect_code(1).expect_error_with_hint();
    assert!(out.stderr.contains("symbolic link"), "{}", out.stderr);
    assert_eq!(puts(&fx.site), written, "nothing restored");
    assert_eq!(
        std::fs::read(&elsewhere).expect("read"),
        kept,
        "not appended"
    );
    fx.expected().assert_site(&fx.site);
}

#[test]
fn restore_names_a_tampered_truncated_or_linked_backup_and_restores_the_rest() {
    let fx = FixtureRotation::start();
    let expected = fx.expected();
    let run_dir = rotated(&fx);
    let file = |n: &str| {
        run_dir
            .join("rules")
            .join(format!("{}.json", fixture_uuid(n)))
    };

    // Edited (still valid JSON), truncated, and swapped for a link to an edited copy.
    let mut edited: Value =
        serde_json::from_slice(&std::fs::read(file("01")).expect("read")).expect("JSON");
    edited["rule"]["description"] = "planted by someone else".into();
    std::fs::write(file("01"), serde_json::to_vec(&edited).expect("JSON")).expect("write");
    let text = std::fs::read(file("02")).expect("read");
    std::fs::write(file("02"), &text[..text.len() / 2]).expect("truncate");
    let copy = fx.site.dir.path().join("copy.json");
    std::fs::rename(file("04"), &copy).expect("move");
    std::os::unix::fs::symlink(&copy, file("04")).expect("plant a link");

    let out = fx.site.run(&["restore", path_str(&run_dir), "--yes"]);
    out.expect_code(3);
    for (n, why) in [
        ("01", "does not match the checksum"),
        ("02", "does not match the checksum"),
        ("04", "symbolic link"),
    ] {
        let line = out
            .stdout
            .lines()
            .find(|l| l.contains(&format!("{}.json", fixture_uuid(n))))
            .unwrap_or_else(|| panic!("rule {n}'s file is not named:\n{}", out.stdout));
        assert!(
            line.starts_with("Not restored") && line.contains(why),
            "{line}"
        );
    }
    let bad = uuids(&["01", "02", "04"]);
    let rest: BTreeSet<String> = expected.rotated_uuids().difference(&bad).cloned().collect();
    assert!(!rest.is_empty());
    expected.restored(&rest).assert_site(&fx.site);
    let steps = steps_by_rule(&journal_of(&run_dir));
    for uuid in &bad {
        assert_eq!(steps[uuid].last().map(String::as_str), Some("failed"));
    }
}

fn uuids(numbers: &[&str]) -> BTreeSet<String> {
    numbers.iter().map(|n| fixture_uuid(n)).collect()
}

/// The admin's login refused at the write of the last rule of a restore is a stopped run
/// (exit 1, "check the admin's token"), as it is before any other rule.
#[test]
fn a_restore_whose_write_is_refused_with_401_stops_with_exit_1() {
    let (envelope, uuid, old) = one_rule();
    let admin_token = fake_token();
    let admin_auth = basic(HOSTILE_ADMIN, &admin_token);
    let mut now = envelope.clone();
    now["rule"]["name"] = json!("renamed since the backup");
    let site = Scripted::start(move |method, path, auth| match (method, path) {
        ("GET", "/rest/api/3/myself") if auth == admin_auth => {
            ok(json!({"accountId": "acc-admin", "emailAddress": HOSTILE_ADMIN}))
        }
        ("GET", p) if p == format!("/api/rule/{uuid}") => ok(now.clone()),
        ("PUT", _) => (401, Vec::new(), r#"{"message":"Unauthorized"}"#.to_owned()),
        _ => (404, Vec::new(), r#"{"message":"no such rule"}"#.to_owned()),
    });
    let (_root, dir) = backup_of(&site, &envelope);
    let mut cmd = site.cmd(HOSTILE_ADMIN, &admin_token);
    cmd.arg("restore").arg(&dir).arg("--yes");
    let out = run_checked(cmd, &[admin_token.clone(), old.clone()]);
    out.expect_code(1).expect_error_with_hint();
    assert!(out.stderr.contains("admin's token"), "{}", out.stderr);
}

/// A 401 when `restore` reads a rule stops the restore (exit 1) and is journalled in the
/// restored run, so the record says why the rule was not restored.
#[test]
fn a_restore_whose_read_is_refused_with_401_stops_and_is_journalled() {
    let (envelope, uuid, old) = one_rule();
    let admin_token = fake_token();
    let admin_auth = basic(HOSTILE_ADMIN, &admin_token);
    let site = Scripted::start(move |method, path, auth| match (method, path) {
        ("GET", "/rest/api/3/myself") if auth == admin_auth => {
            ok(json!({"accountId": "acc-admin", "emailAddress": HOSTILE_ADMIN}))
        }
        _ => (401, Vec::new(), r#"{"message":"Unauthorized"}"#.to_owned()),
    });
    let (_root, dir) = backup_of(&site, &envelope);
    let mut cmd = site.cmd(HOSTILE_ADMIN, &admin_token);
    cmd.arg("restore").arg(&dir).arg("--yes");
    let out = run_checked(cmd, &[admin_token.clone(), old.clone()]);
    out.expect_code(1).expect_error_with_hint();
    let entries = journal_of(&dir);
    let steps = steps_by_rule(&entries);
    assert_eq!(
        steps.get(&uuid).map(Vec::as_slice),
        Some(&["failed".to_string()][..])
    );
    let detail = entries[0].detail.as_deref().unwrap_or_default();
    assert!(
        detail.starts_with("restore: ") && detail.contains("401"),
        "{detail}"
    );
}

/// `restore` compares a backup with the rule it reads: if the site answers with another
/// rule than the one asked for, nothing is written (a PUT goes to the id in the path, and
/// the backup would land on a rule it was never compared with, unsaved).
#[test]
fn a_restore_answered_with_another_rule_writes_nothing() {
    let (envelope, uuid, old) = one_rule();
    let admin_token = fake_token();
    let admin_auth = basic(HOSTILE_ADMIN, &admin_token);
    let mut other = envelope.clone();
    other["rule"]["uuid"] = json!(uuid::Uuid::now_v7().to_string());
    other["rule"]["name"] = json!("another rule");
    let puts = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = Arc::clone(&puts);
    let site = Scripted::start(move |method, path, auth| match (method, path) {
        ("GET", "/rest/api/3/myself") if auth == admin_auth => {
            ok(json!({"accountId": "acc-admin", "emailAddress": HOSTILE_ADMIN}))
        }
        ("GET", p) if p == format!("/api/rule/{uuid}") => ok(other.clone()),
        ("PUT", _) => {
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            ok(json!({"ruleUuid": "x"}))
        }
        _ => (404, Vec::new(), r#"{"message":"no such rule"}"#.to_owned()),
    });
    let (_root, dir) = backup_of(&site, &envelope);
    let mut cmd = site.cmd(HOSTILE_ADMIN, &admin_token);
    cmd.arg("restore").arg(&dir).arg("--yes");
    let out = run_checked(cmd, &[admin_token.clone(), old.clone()]);
    out.expect_code(3);
    assert_eq!(
        puts.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("another rule"), "{}", out.stdout);
}

// ------------------------------------------------------------------ 5. restore

#[test]
fn restore_puts_rotated_rules_back_one_or_all() {
    let fx = FixtureRotation::start();
    let expected = fx.expected();
    let backups = fx.site.dir.path().join("backups");
    run(&fx.site, fx.rotate(&backups, &["--yes"])).expect_code(3);
    expected.assert_site(&fx.site);
    let run_dir = only_run_dir(&backups);
    let dir = run_dir.to_str().expect("a UTF-8 path");

    // One rule first: only it goes back.
    let one = fixture_uuid("07");
    let out = fx.site.run(&["restore", dir, "--rule", &one, "--yes"]);
    out.expect_code(0);
    assert!(out.stdout.contains(&format!(
        "Restored \"ENG: Close auto-close sub-tasks when parent is Done\" ({one})"
    )));
    expected
        .restored(&BTreeSet::from([one.clone()]))
        .assert_site(&fx.site);
    assert_eq!(fx.site.stats().puts(&one), 2);

    // Then all: the one already restored is left as it is.
    let out = fx.site.run(&["restore", dir, "--yes"]);
    out.expect_code(0);
    insta::assert_snapshot!(normalized(&out.stdout), @r#"
    Rule "SUP: Post acknowledgement comment as svc-jira on new tickets" (0190f3a2-5b7c-7d21-8e4f-a1b2c3d4e501): now → backup
    --- SUP: Post acknowledgement comment as svc-jira on new tickets (now)
    +++ SUP: Post acknowledgement comment as svc-jira on new tickets (backup)
    @@ -36,6 +36,5 @@
                 "id": "_header_1695919100340",
                 "name": "Authorization",
    -            "value": "Basic <svc-jira@acme.example · [fp1]>",
    -            "headerSecure": true
    +            "value": "Basic <svc-jira@acme.example · [fp2]>"
               },
               {

    Restored "SUP: Post acknowledgement comment as svc-jira on new tickets" (0190f3a2-5b7c-7d21-8e4f-a1b2c3d4e501)
    Rule "OPS: Auto-close duplicates (migrated from Data Center)" (0190f3a2-5b7c-7d21-8e4f-a1b2c3d4e502): now → backup
    --- OPS: Auto-close duplicates (migrated from Data Center) (now)
    +++ OPS: Auto-close duplicates (migrated from Data Center) (backup)
    @@ -54,5 +54,5 @@
                 "name": "Authorization",
                 "value": {
    -              "keyOrValue": "Basic <svc-jira@acme.example · [fp1]>",
    +              "keyOrValue": "Basic <svc-jira@acme.example · [fp2]>",
                   "secret": false
                 }

    Restored "OPS: Auto-close duplicates (migrated from Data Center)" (0190f3a2-5b7c-7d21-8e4f-a1b2c3d4e502)
    Rule "ENG: Assign to component lead (hidden auth header)" (0190f3a2-5b7c-7d21-8e4f-a1b2c3d4e504): now → backup
    --- ENG: Assign to component lead (hidden auth header) (now)
    +++ ENG: Assign to component lead (hidden auth header) (backup)
    @@ -63,5 +63,5 @@
                 "id": "_header_1695919144218",
                 "name": "Authorization",
    -            "value": "Basic <svc-jira@acme.example · [fp1]>",
    +            "value": "Basic <svc-jira@acme.example · [fp2]>",
                 "headerSecure": true
               },

    Restored "ENG: Assign to component lead (hidden auth header)" (0190f3a2-5b7c-7d21-8e4f-a1b2c3d4e504)
    Rule "SUP: Route by priority (escalate P1/P2, queue the rest)" (0190f3a2-5b7c-7d21-8e4f-a1b2c3d4e506): now → backup
    --- SUP: Route by priority (escalate P1/P2, queue the rest) (now)
    +++ SUP: Route by priority (escalate P1/P2, queue the rest) (backup)
    @@ -56,6 +56,5 @@
                         "id": "_header_1695919173470",
                         "name": "Authorization",
    -                    "value": "Basic <svc-jira@acme.example · [fp1]>",
    -                    "headerSecure": true
    +                    "value": "Basic <svc-jira@acme.example · [fp2]>"
                       },
                       {
    @@ -150,6 +149,5 @@
                         "id": "_header_1695919188096",
                         "name": "Authorization",
    -                    "value": "Basic <svc-jira@acme.example · [fp1]>",
    -                    "headerSecure": true
    +                    "value": "Basic <svc-jira@acme.example · [fp2]>"
                       },
                       {

    Restored "SUP: Route by priority (escalate P1/P2, queue the rest)" (0190f3a2-5b7c-7d21-8e4f-a1b2c3d4e506)
    "ENG: Close auto-close sub-tasks when parent is Done" (0190f3a2-5b7c-7d21-8e4f-a1b2c3d4e507) is already as in the backup
    Rule "FIN: Copy cost center from parent (OLD - disabled)" (0190f3a2-5b7c-7d21-8e4f-a1b2c3d4e508): now → backup
    --- FIN: Copy cost center from parent (OLD - disabled) (now)
    +++ FIN: Copy cost center from parent (OLD - disabled) (backup)
    @@ -41,6 +41,5 @@
                 "id": "_header_1695919217348",
                 "name": "Authorization",
    -            "value": "Basic <svc-jira@acme.example · [fp1]>",
    -            "headerSecure": true
    +            "value": "Basic <svc-jira@acme.example · [fp2]>"
               },
               {

    Restored "FIN: Copy cost center from parent (OLD - disabled)" (0190f3a2-5b7c-7d21-8e4f-a1b2c3d4e508)
    Rule "SUP: store triage score property" (0190f3a2-5b7c-7d21-8e4f-a1b2c3d4e510): now → backup
    --- SUP: store triage score property (now)
    +++ SUP: store triage score property (backup)
    @@ -32,6 +32,5 @@
                 "id": "_header_1695919253913",
                 "name": "authorization",
    -            "value": "basic  <svc-jira@acme.example · [fp1]>",
    -            "headerSecure": true
    +            "value": "basic  <svc-jira@acme.example · [fp2]>"
               },
               {

    Restored "SUP: store triage score property" (0190f3a2-5b7c-7d21-8e4f-a1b2c3d4e510)
    Rule "SUP: Log 15m triage worklog as svc-jira" (0190f3a2-5b7c-7d21-8e4f-a1b2c3d4e512): now → backup
    --- SUP: Log 15m triage worklog as svc-jira (now)
    +++ SUP: Log 15m triage worklog as svc-jira (backup)
    @@ -38,5 +38,5 @@
             "query": {
               "type": "SMART",
    -          "value": "Basic <svc-jira@acme.example · k:[fp3]>"
    +          "value": "Basic <svc-jira@acme.example · k:[fp4]>"
             },
             "lazy": false

    Restored "SUP: Log 15m triage worklog as svc-jira" (0190f3a2-5b7c-7d21-8e4f-a1b2c3d4e512)
    Rule "OPS: Mirror label via internal relay" (0190f3a2-5b7c-7d21-8e4f-a1b2c3d4e514): now → backup
    --- OPS: Mirror label via internal relay (now)
    +++ OPS: Mirror label via internal relay (backup)
    @@ -46,5 +46,5 @@
             "sendIssue": false,
             "contentType": "custom",
    -        "customBody": "{\"target\":\"https://acme.example.atlassian.net/rest/api/3/issue/{{issue.key}}\",\"headers\":{\"Authorization\":\"Basic <svc-jira@acme.example · k:[fp3]>\"},\"payload\":{\"fields\":{\"labels\":[\"mirrored\"]}}}"
    +        "customBody": "{\"target\":\"https://acme.example.atlassian.net/rest/api/3/issue/{{issue.key}}\",\"headers\":{\"Authorization\":\"Basic <svc-jira@acme.example · k:[fp4]>\"},\"payload\":{\"fields\":{\"labels\":[\"mirrored\"]}}}"
           },
           "children": [],

    Restored "OPS: Mirror label via internal relay" (0190f3a2-5b7c-7d21-8e4f-a1b2c3d4e514)
    Rule "SUP: Thank reporter for attachments (beta builder)" (0190f3a2-5b7c-7d21-8e4f-a1b2c3d4e515): now → backup
    --- SUP: Thank reporter for attachments (beta builder) (now)
    +++ SUP: Thank reporter for attachments (beta builder) (backup)
    @@ -73,6 +73,5 @@
                 "id": "_header_1695919327043",
                 "name": "Authorization",
    -            "value": "Basic <svc-jira@acme.example · [fp1]>",
    -            "headerSecure": true
    +            "value": "Basic <svc-jira@acme.example · [fp2]>"
               },
               {

    Restored "SUP: Thank reporter for attachments (beta builder)" (0190f3a2-5b7c-7d21-8e4f-a1b2c3d4e515)
    Rule "INC: Create postmortem page and link it" (0190f3a2-5b7c-7d21-8e4f-a1b2c3d4e516): now → backup
    --- INC: Create postmortem page and link it (now)
    +++ INC: Create postmortem page and link it (backup)
    @@ -66,6 +66,5 @@
                 "id": "_header_1695919341669",
                 "name": "Authorization",
    -            "value": "Basic <svc-jira@acme.example · [fp1]>",
    -            "headerSecure": true
    +            "value": "Basic <svc-jira@acme.example · [fp2]>"
               },
               {

    Restored "INC: Create postmortem page and link it" (0190f3a2-5b7c-7d21-8e4f-a1b2c3d4e516)
    Rule "ENG: Label PR-linked issues for review" (0190f3a2-5b7c-7d21-8e4f-a1b2c3d4e517): now → backup
    --- ENG: Label PR-linked issues for review (now)
    +++ ENG: Label PR-linked issues for review (backup)
    @@ -53,6 +53,5 @@
                 "id": "_header_1695919356295",
                 "name": "Authorization",
    -            "value": "Basic <svc-jira@acme.example · [fp1]>",
    -            "headerSecure": true
    +            "value": "Basic <svc-jira@acme.example · [fp2]>"
               },
               {

    Restored "ENG: Label PR-linked issues for review" (0190f3a2-5b7c-7d21-8e4f-a1b2c3d4e517)
    Rule "SUP: Escalate VIP customer tickets" (0190f3a2-5b7c-7d21-8e4f-a1b2c3d4e5e1): now → backup
    --- SUP: Escalate VIP customer tickets (now)
    +++ SUP: Escalate VIP customer tickets (backup)
    @@ -74,6 +74,5 @@
                 "id": "_header_1695919444051",
                 "name": "Authorization",
    -            "value": "Basic <svc-jira@acme.example · [fp1]>",
    -            "headerSecure": true
    +            "value": "Basic <svc-jira@acme.example · [fp2]>"
               },
               {

    Restored "SUP: Escalate VIP customer tickets" (0190f3a2-5b7c-7d21-8e4f-a1b2c3d4e5e1)
    The versions replaced by the restore were saved to [tmp]/backups/127.0.0.1-[stamp] (restore them the same way).

    Restore of 13 rules:
      restored               12
      already as backed up   1

    Next steps:
      - Do NOT revoke the old token: the restored rules use it again.
      - `autorekey scan --account svc-jira@acme.example` shows which rules use which token.
    Keep the old [fp2], k:[fp4] (restored) and the new [fp1]; revoke nothing.
    "#);
    let all = expected.rotated_uuids();
    expected.restored(&all).assert_site(&fx.site);
    assert_eq!(fx.site.stats().puts(&one), 2, "not written again");
    assert_eq!(
        snapshot(&fx.site)[&foreign_connections()]["rule"]["state"],
        "ENABLED"
    );
    let steps = steps_by_rule(&journal_of(&run_dir));
    for uuid in &all {
        assert_eq!(steps[uuid].last().map(String::as_str), Some("restored"));
    }
}

#[test]

fn restore_keeps_a_copy_of_an_edit_made_after_the_rotation() {
    let fx = FixtureRotation::start();
    let backups = fx.site.dir.path().join("backups");
    run(&fx.site, fx.rotate(&backups, &["--yes"])).expect_code(3);
    let run_dir = only_run_dir(&backups);
    let one = fixture_uuid("01");
    // Another admin renames the rule after the rotation; restore --yes puts the old body
    // back over it. The edit must survive somewhere (a backup of what restore replaced).
    fx.site.state().edit_rule(&one, |e| {
        e["rule"]["name"] = "renamed after the rotation".into()
    });
    let edited = fx.site.state().rule(&one).expect("rule 01");
    let dir = run_dir.to_str().expect("a UTF-8 path");
    fx.site
        .run(&["restore", dir, "--rule", &one, "--yes"])
        .expect_code(0);
    let kept = walk_files(&backups).into_iter().any(|path| {
        std::fs::read(&path)
            .ok()
            .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).ok())
            .is_some_and(|saved| saved["rule"]["name"] == edited["rule"]["name"])
    });
    assert!(
        kept,
        "the overwritten edit is saved somewhere under the backups"
    );
}

fn walk_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk_files(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[test]
fn restore_reads_back_lost_put_answers_and_writes_each_rule_once() {
    let fx = FixtureRotation::start_with(|spec| {
        spec.with(|c| {
            c.lost_put_rate = 0.5;
            c.seed = 5;
        })
    });
    rotate_until_done(&fx, 4, false);
    let expected = fx.expected();
    let backups = fx.site.dir.path().join("backups");
    let run_dir = only_run_dir(&backups);
    let lost_before = fx.site.stats().lost_puts;
    let out = fx
        .site
        .run(&["restore", run_dir.to_str().expect("a UTF-8 path"), "--yes"]);
    out.expect_code(0);
    assert!(
        fx.site.stats().lost_puts > lost_before,
        "the fault was exercised"
    );
    let all = expected.rotated_uuids();
    expected.restored(&all).assert_site(&fx.site);
    for uuid in &all {
        assert_eq!(
            fx.site.stats().puts(uuid),
            2,
            "one PUT to rotate, one to restore {uuid}"
        );
    }
    let entries = journal_of(&run_dir);
    assert!(
        journal::unfinished(&entries).is_empty(),
        "every restore write has its outcome"
    );
    let steps = steps_by_rule(&entries);
    for uuid in &all {
        let tail: Vec<&str> = steps[uuid]
            .iter()
            .rev()
            .take(2)
            .map(String::as_str)
            .collect();
        assert_eq!(tail, ["restored", "writing"], "journal of {uuid}");
        // Every entry the restore adds to the rotation's journal says it is the restore's.
        let theirs: Vec<&journal::Entry> =
            entries.iter().filter(|e| &e.rule_uuid == uuid).collect();
        for entry in &theirs[theirs.len() - 2..] {
            assert!(
                entry
                    .detail
                    .as_deref()
                    .is_some_and(|d| d.starts_with("restore")),
                "{entry:?}"
            );
        }
    }
}

/// Ctrl-C at restore's question: the rule approved before it is back, nothing more is
/// restored, and the restore fails (exit 1) saying so.
#[test]
fn ctrl_c_at_the_restore_question_restores_nothing_more() {
    let desk = Desk::new(3);
    let mut screen = desk.restore_after_rotation();
    let asked = "? [y]es / [n]o / [a]ll remaining / [q]uit";
    screen.answer(asked, "y");
    screen.expect("Restored \"");
    screen.interrupt(asked);
    let (code, transcript) = screen.finish();

    assert_no_secrets(&transcript, desk.site.secrets());
    assert_eq!(code, 1, "{transcript}");
    let left = transcript.matches("\": interrupted (").count();
    assert_eq!(
        left, 2,
        "the rule asked about and the one after:\n{transcript}"
    );
    assert!(transcript.contains("Error: stopped with 2 rules not restored"));
    assert_eq!(puts(&desk.site), 4, "three rotated, then one restored");
}

/// Each of restore's questions says how far it is (`(2/3)`), and its summary counts what
/// became of the rules.
#[test]
fn restore_questions_show_progress_and_its_summary_counts() {
    let desk = Desk::new(3);
    let mut screen = desk.restore_after_rotation();
    screen.answer("(1/3) Restore \"", "y");
    screen.answer("(2/3) Restore \"", "n");
    screen.answer("(3/3) Restore \"", "y");
    let (code, transcript) = screen.finish();

    assert_no_secrets(&transcript, desk.site.secrets());
    assert_eq!(code, 3, "a rule declined is left as it is:\n{transcript}");
    let counts = transcript
        .split("Restore of 3 rules:")
        .nth(1)
        .unwrap_or_else(|| panic!("no counts:\n{transcript}"));
    let count = |label: &str| -> usize {
        counts
            .lines()
            .find_map(|l| l.trim().strip_prefix(label)?.trim().parse().ok())
            .unwrap_or(0)
    };
    assert_eq!(
        (count("restored"), count("declined")),
        (2, 1),
        "{transcript}"
    );
    assert_eq!(puts(&desk.site), 5, "three rotated, then two restored");
}

/// Quitting a restore leaves rules as they are: exit 3, as `rotate` after a quit, so a
/// script or a person never takes a partial restore for a whole one.
#[test]
fn quit_at_the_restore_question_leaves_the_rest_listed_and_exits_3() {
    let desk = Desk::new(3);
    let mut screen = desk.restore_after_rotation();
    let asked = "? [y]es / [n]o / [a]ll remaining / [q]uit";
    screen.answer(asked, "y");
    screen.expect("Restored \"");
    screen.answer(asked, "q");
    let (code, transcript) = screen.finish();

    assert_no_secrets(&transcript, desk.site.secrets());
    assert_eq!(code, 3, "{transcript}");
    assert_eq!(
        transcript.matches("\": you quit (").count(),
        2,
        "{transcript}"
    );
    assert!(
        transcript.contains("2 rules were not restored"),
        "{transcript}"
    );
    assert_eq!(puts(&desk.site), 4, "three rotated, then one restored");
}

#[test]
fn a_resumed_run_shares_its_backup_directory_and_restore_undoes_every_write() {
    let (planted, site) = copies_site(12, |c| c.latency = std::time::Duration::from_millis(60));
    let before = snapshot(&site);
    let (old, new) = old_and_new(&planted);
    let expected = Expected::rotation(&before, SVC_JIRA, &new);
    let backups = site.dir.path().join("backups");
    interrupted_after_first_write(&site, &new, &backups).expect_code(1);
    let first = only_run_dir(&backups);

    let rerun = site.run_cmd(rotate_cmd(&site, SVC_JIRA, &new, &backups, &["--yes"]));
    rerun.expect_code(0);
    assert_eq!(only_run_dir(&backups), first, "one backup directory");
    assert!(rerun.stderr.contains(&format!(
        "Carrying on the unfinished rotation backed up in {}",
        first.display()
    )));
    assert!(rerun
        .stdout
        .contains(&format!("Undo with: autorekey restore {}", first.display())));
    let all = expected.rotated_uuids();
    assert_backup_run(&first, &expected, &all);
    let steps = steps_by_rule(&journal_of(&first));
    for uuid in &all {
        assert_eq!(steps[uuid], ["writing", "verified"], "journal of {uuid}");
    }
    expected.assert_site(&site);

    // The one directory undoes both runs' writes, and the verdict keeps the old token.
    let dir = first.to_str().expect("a UTF-8 path");
    let restored = site.run(&["restore", dir, "--yes"]);
    restored.expect_code(0);
    expected.restored(&all).assert_site(&site);
    assert!(restored
        .stdout
        .contains("Do NOT revoke the old token: the restored rules use it again."));
    assert!(restored
        .stdout
        .contains(&format!("Keep the old {} (restored)", fp(&old))));
}
