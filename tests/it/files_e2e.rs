//! The local side of hostile input, end to end with the real binary against the sandbox:
//! shared or swapped backup folders, backup files truncated, edited or swapped for links,
//! FIFOs given where a file is expected, and plans edited after they were saved.
//!
//! Each test sets the trap up on disk the way another local user (or a crash) would, runs
//! the command an admin would run, and checks both what it says (the file named, an
//! `Error:` with a `Hint:`) and what it did to the site (through `rotate_support::Expected`:
//! nothing written where it must refuse, everything else restored or rotated exactly).
//! Commands that could block on a FIFO run under a timeout, so a regression fails instead
//! of hanging the suite.

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::common::RunOutput;
use crate::rotate_support::*;
use serde_json::Value;

fn run_fixture(fx: &FixtureRotation, cmd: assert_cmd::Command) -> RunOutput {
    fx.site.run_cmd(cmd)
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("a UTF-8 path")
}

/// A rotation of svc-jira with backups under the site's scratch dir; returns its run dir.
fn rotated(fx: &FixtureRotation) -> PathBuf {
    let backups = fx.site.dir.path().join("backups");
    run_fixture(fx, fx.rotate(&backups, &["--yes"])).expect_code(3);
    fx.expected().assert_site(&fx.site);
    only_run_dir(&backups)
}

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

// ------------------------------------------------------------------ FIFOs

fn fifo(dir: &Path) -> PathBuf {
    let path = dir.join("fifo");
    let c = std::ffi::CString::new(path_str(&path)).expect("no NUL");
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo");
    path
}

#[test]
fn a_fifo_given_as_a_file_is_refused_at_once() {
    let fx = FixtureRotation::start();
    let pipe = fifo(fx.site.dir.path());
    let pipe_arg = path_str(&pipe);
    let backups = fx.site.dir.path().join("backups");
    let out_file = fx.site.dir.path().join("out.json");
    let cases: Vec<(Vec<&str>, i32)> = vec![
        (vec!["scan", "--from-file", pipe_arg], 2),
        (
            vec![
                "rotate",
                "--account",
                SVC_JIRA,
                "--from-file",
                pipe_arg,
                "--write",
                path_str(&out_file),
                "--yes",
            ],
            2,
        ),
        (vec!["apply", pipe_arg, "--yes"], 2),
        (vec!["--api-token-file", pipe_arg, "scan"], 2),
    ];
    for (args, code) in cases {
        let mut cmd = fx.site.cmd();
        cmd.env("AUTOREKEY_NEW_TOKEN", &fx.new_token)
            .args(&args)
            .timeout(Duration::from_secs(30));
        let out = run_fixture(&fx, cmd);
        // A hang would end in the timeout's kill: no exit code at all.
        out.expect_code(code).expect_error_with_hint();
        assert!(out.stderr.contains("FIFO"), "{args:?}: {}", out.stderr);
    }
    let mut cmd = fx.rotate(&backups, &["--yes", "--new-token-file", pipe_arg]);
    cmd.timeout(Duration::from_secs(30));
    let out = run_fixture(&fx, cmd);
    out.expect_code(2).expect_error_with_hint();
    assert!(out.stderr.contains("FIFO"), "{}", out.stderr);
    assert_eq!(puts(&fx.site), 0);
}

// ------------------------------------------------------------------ plans

fn save_plan(fx: &FixtureRotation, path: &Path) -> RunOutput {
    let backups = fx.site.dir.path().join("backups");
    run_fixture(fx, fx.rotate(&backups, &["--out", path_str(path)]))
}

fn apply_fixture(fx: &FixtureRotation, plan: &Path) -> RunOutput {
    let mut cmd = fx.site.cmd();
    cmd.env("AUTOREKEY_NEW_TOKEN", &fx.new_token)
        .args(["apply", path_str(plan), "--yes", "--backup-dir"])
        .arg(fx.site.dir.path().join("backups"));
    run_fixture(fx, cmd)
}

#[test]
fn a_plan_edited_after_it_was_saved_is_refused_and_plans_never_overwrite() {
    let fx = FixtureRotation::start();
    let plan = fx.site.dir.path().join("plan.json");
    save_plan(&fx, &plan).expect_code(0);
    let saved = std::fs::read_to_string(&plan).expect("read the plan");
    assert_eq!(
        std::fs::metadata(&plan).expect("stat").permissions().mode() & 0o777,
        0o600
    );

    // Saving again over it is refused, and so is a planted link: the file stays as it was.
    let requests = fx.site.stats().total_requests;
    let again = save_plan(&fx, &plan);
    again.expect_code(2).expect_error_with_hint();
    assert!(again.stderr.contains("already exists"), "{}", again.stderr);
    assert_eq!(std::fs::read_to_string(&plan).expect("read"), saved);
    let victim = fx.site.write_file("victim.txt", "keep me");
    let link = fx.site.dir.path().join("linked-plan.json");
    std::os::unix::fs::symlink(&victim, &link).expect("plant a link");
    save_plan(&fx, &link).expect_code(2);
    assert_eq!(std::fs::read_to_string(&victim).expect("read"), "keep me");
    assert_eq!(
        fx.site.stats().total_requests,
        requests,
        "refused before any request"
    );

    // Someone drops a rule's last planned change (say, to keep an old token alive).
    let mut value: Value = serde_json::from_str(&saved).expect("JSON");
    let changes = value["rules"][0]["changes"]
        .as_array_mut()
        .expect("changes");
    changes.pop();
    let edited = fx.site.dir.path().join("edited.json");
    std::fs::write(&edited, serde_json::to_string_pretty(&value).expect("JSON")).expect("write");
    let out = apply_fixture(&fx, &edited);
    out.expect_code(2).expect_error_with_hint();
    assert!(
        out.stderr.contains("changed after it was saved"),
        "{}",
        out.stderr
    );
    assert_eq!(puts(&fx.site), 0);
    Expected::read_only(&fx.before).assert_site(&fx.site);
}

#[test]
fn apply_rewrites_only_the_places_the_plan_lists() {
    let fx = FixtureRotation::start();
    let expected = fx.expected();
    let plan = fx.site.dir.path().join("plan.json");
    save_plan(&fx, &plan).expect_code(0);

    // After the plan, another admin copies rule 01's old credential into a second header.
    let one = fixture_uuid("01");
    let pointer = header_pointer_of(&fx.site.state().rule(&one).expect("rule 01")["rule"]);
    fx.site.state().edit_rule(&one, |e| {
        let (headers, index) = pointer.rsplit_once('/').expect("a header pointer");
        let headers = e["rule"].pointer_mut(headers).expect("the headers");
        let mut copy = headers[index.parse::<usize>().expect("an index")].clone();
        copy["name"] = "X-Copy".into();
        headers.as_array_mut().expect("an array").push(copy);
    });
    let edited = fx.site.state().rule(&one).expect("rule 01")["rule"].clone();

    let out = apply_fixture(&fx, &plan);
    out.expect_code(3);
    assert!(out.stdout.contains("does not list"), "{}", out.stdout);
    let others: BTreeSet<String> = expected
        .rotated_uuids()
        .into_iter()
        .filter(|u| *u != one)
        .collect();
    let mut now = expected.only(&others);
    now.edited.insert(one.clone(), edited);
    now.assert_site(&fx.site);
    assert_eq!(fx.site.stats().puts(&one), 0, "rule 01 is left alone");
}

/// The pointer of the header object (`.../headers/N`) holding svc-jira's credential.
fn header_pointer_of(rule: &Value) -> String {
    let selector = autorekey::plan::Selector::new(SVC_JIRA, vec![]);
    let finding = autorekey::detect::detect(rule)
        .into_iter()
        .find(|f| selector.matches(f) && f.pointer.contains("/headers/"))
        .expect("a header credential of svc-jira");
    let pointer = finding.pointer;
    let cut = pointer.find("/headers/").expect("in headers") + "/headers/".len();
    let index_end = pointer[cut..].find('/').map_or(pointer.len(), |i| cut + i);
    pointer[..index_end].to_string()
}

// ------------------------------------------------------------------ files named wrongly

/// Every file mistake is exit 2, with a hint that names the cause: a missing `--from-file`
/// (scan's and rotate's), a missing token file, a missing plan, and a folder with no rule
/// file in it (no "0 findings" that would pass a check which read nothing).
#[test]
fn file_mistakes_exit_2_with_a_hint_naming_the_cause() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let missing = dir.path().join("no-such-export.json");
    let missing = path_str(&missing);
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).expect("mkdir");
    std::fs::write(empty.join("notes.txt"), "not rules").expect("write");
    let out_file = dir.path().join("out.json");
    let run = |args: &[&str], env: &[(&str, &str)]| {
        let mut cmd = crate::common::autorekey();
        cmd.env("HOME", dir.path()).args(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        crate::common::run_checked(cmd, &[])
    };
    let no_such = "there is no such file or folder: check the path";
    let out_file = path_str(&out_file);
    /// `rotate --from-file FILE --write OUT` with `more`.
    fn offline<'a>(file: &'a str, out: &'a str, more: &[&'a str]) -> Vec<&'a str> {
        let args = ["rotate", "--account", "a@acme.example", "--yes"];
        [&args[..], &["--from-file", file, "--write", out], more].concat()
    }
    let token = [("AUTOREKEY_NEW_TOKEN", "FAKE-new-token-for-a-file-test")];
    // (arguments, environment, what the error says)
    type Case<'a> = (Vec<&'a str>, &'a [(&'a str, &'a str)], &'a str);
    let cases: Vec<Case> = vec![
        (vec!["scan", "--from-file", missing], &[], no_such),
        (offline(missing, out_file, &[]), &token, no_such),
        (
            offline(missing, out_file, &["--new-token-file", missing]),
            &[],
            "cannot read the new API token",
        ),
        (vec!["apply", missing], &token, no_such),
        (
            vec!["scan", "--from-file", path_str(&empty)],
            &[],
            "holds no rule files",
        ),
    ];
    for (args, env, said) in cases {
        let out = run(&args, env);
        out.expect_code(2).expect_error_with_hint();
        assert!(out.stderr.contains(said), "{args:?}:\n{}", out.stderr);
    }
}
