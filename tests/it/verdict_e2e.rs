//! The verdict end to end: when the real binary says the old token may be revoked, and
//! when it refuses to, against an in-process sandbox over loopback HTTP.
//!
//! Each test drives one way a run can end (nothing selected, a "new" token that is not new,
//! a rerun of `apply`, a resumed run, two runs at once, a late overwrite) and checks what
//! the admin reads (exit status, `Error:`/`Hint:`, the summary's advice and fingerprints)
//! and what the site and the backups hold afterwards. Every run's output is checked for
//! every secret the site holds (`common::run_checked`).

use std::collections::BTreeSet;
use std::path::Path;

use crate::common;
use crate::common::{RunOutput, TestSite};
use crate::rotate_support::*;
use autorekey::secret::{Fingerprint, Token};

fn fp(token: &str) -> String {
    Fingerprint::of(token).to_string()
}

/// svc-jira's old token (in the rules) and its new one, as planted.
fn old_and_new(planted: &common::Planted) -> (String, String) {
    (
        planted.fresh(SVC_JIRA_OLD_FIXTURE),
        planted.fresh(SVC_JIRA_NEW_FIXTURE),
    )
}

/// The summary's last line when the old token may be revoked.
fn revoke_line(old: &str, new: &str) -> String {
    format!(
        "Keep the new token {}; revoke the old {}.",
        fp(new),
        fp(old)
    )
}

/// The pointer of svc-jira's credential in a copy of fixture 01 (`rule` is its body).
fn svc_jira_pointer(rule: &serde_json::Value) -> String {
    autorekey::detect::detect(rule)
        .into_iter()
        .find(|f| f.user.as_deref() == Some(SVC_JIRA))
        .expect("fixture 01 holds svc-jira's credential")
        .pointer
}

/// `apply PLAN --yes` with `new_token` in the environment.
fn apply(site: &TestSite, new_token: &str, plan: &Path, backups: &Path) -> RunOutput {
    let mut cmd = site.cmd();
    cmd.env("AUTOREKEY_NEW_TOKEN", new_token)
        .arg("apply")
        .arg(plan)
        .args(["--yes", "--backup-dir"])
        .arg(backups);
    site.run_cmd(cmd)
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
    assert!(out
        .stderr
        .contains("no rule holds a credential of admin@acme.example"));
    assert!(
        out.stderr.contains(SVC_JIRA),
        "the hint names the accounts the rules do hold:\n{}",
        out.stderr
    );
    assert!(!out.stdout.contains("Nothing left to do"));
    assert!(!out.stdout.contains("may be revoked"));
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
    let out = rotate(&["--yes"]);
    out.expect_code(0);
    assert_eq!(summary_count(&out.stdout, "rotated"), 3);
    assert!(out.stdout.contains(&revoke_line(&old, &new)));
    assert!(out
        .stdout
        .contains(&format!("revoke the old token ({})", fp(&old))));
    let dirs = run_dirs(&backups);
    assert_eq!(dirs.len(), 1);

    // A rerun naming the old token finds it nowhere, but every rule holds the new token:
    // "already current", not "matches nothing"; and no token is named for revoking.
    let again = rotate(&["--yes", "--fingerprint", &fp(&old)]);
    again.expect_code(0);
    assert_eq!(summary_count(&again.stdout, "already current"), 3);
    assert_eq!(summary_count(&again.stdout, "rotated"), 0);
    assert!(again
        .stdout
        .contains("no old token of svc-jira@acme.example is left in the rules"));
    assert!(!again.stdout.contains("revoke the old"));
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

#[test]
fn apply_again_counts_rules_already_rotated_as_done() {
    let (planted, site) = copies_site(4, |_| {});
    let before = snapshot(&site);
    let new = planted.fresh(SVC_JIRA_NEW_FIXTURE);
    let backups = site.dir.path().join("backups");
    let plan = site.dir.path().join("plan.json");
    let plan_arg = plan.to_str().expect("a UTF-8 path");
    site.run_cmd(rotate_cmd(
        &site,
        SVC_JIRA,
        &new,
        &backups,
        &["--out", plan_arg],
    ))
    .expect_code(0);
    // As an interrupted apply leaves it: the first two rules already hold the new token.
    let token = Token::new(new.clone());
    let uuids: Vec<String> = before.keys().cloned().collect();
    for uuid in &uuids[..2] {
        site.state().edit_rule(uuid, |e| {
            e["rule"] = rewrite_for(&e["rule"], SVC_JIRA, &token).expect("a rewrite");
        });
    }
    let out = apply(&site, &new, &plan, &backups);
    out.expect_code(0);
    assert_eq!(summary_count(&out.stdout, "already current"), 2);
    assert_eq!(summary_count(&out.stdout, "rotated"), 2);
    assert!(!out.stdout.contains("edited since the plan"));
    // And once finished, again: all four are done, nothing is written.
    let again = apply(&site, &new, &plan, &backups);
    again.expect_code(0);
    assert_eq!(summary_count(&again.stdout, "already current"), 4);
    assert_eq!(summary_count(&again.stdout, "rotated"), 0);
    assert_eq!(puts(&site), 2);
    Expected::rotation(&before, SVC_JIRA, &new).assert_site(&site);
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

/// `backups --format json` under `root`: each run's (state, not_attempted).
fn backup_states(site: &TestSite, root: &Path) -> Vec<(String, Option<u64>)> {
    let root = root.to_str().expect("a UTF-8 path");
    let out = site.run(&["backups", "--backup-dir", root, "--format", "json"]);
    out.expect_code(0);
    let runs: serde_json::Value = serde_json::from_str(&out.stdout).expect("JSON");
    let runs = runs.as_array().expect("a list of runs");
    runs.iter()
        .map(|r| {
            let state = r["state"].as_str().unwrap_or_default().to_owned();
            (state, r["not_attempted"].as_u64())
        })
        .collect()
}

#[test]
fn backups_calls_a_ctrl_c_run_interrupted_with_what_was_not_attempted() {
    let (site, _, new, backups) = slow_site();
    let out = interrupted_after_first_write(&site, &new, &backups);
    out.expect_code(1);
    let left = summary_count(&out.stdout, "not attempted");
    assert!(left > 0, "{}", out.stdout);
    assert_eq!(
        backup_states(&site, &backups),
        [("interrupted".to_string(), Some(left as u64))]
    );
    // The rerun finishes it: finished; a restore of it: restored.
    site.run_cmd(rotate_cmd(&site, SVC_JIRA, &new, &backups, &["--yes"]))
        .expect_code(0);
    assert_eq!(
        backup_states(&site, &backups),
        [("finished".to_string(), None)]
    );
    let dir = only_run_dir(&backups);
    site.run(&["restore", dir.to_str().unwrap(), "--yes"])
        .expect_code(0);
    let states = backup_states(&site, &backups);
    assert!(
        states.contains(&("restored".to_string(), None)),
        "{states:?}"
    );
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

/// A site of 20 rules that answers slowly, so a rotation is still writing when a second
/// run starts: the site, its rules before, svc-jira's new token, the backup root.
fn slow_site() -> (
    TestSite,
    std::collections::BTreeMap<String, serde_json::Value>,
    String,
    std::path::PathBuf,
) {
    let (planted, site) = copies_site(20, |c| c.latency = std::time::Duration::from_millis(60));
    let before = snapshot(&site);
    let new = planted.fresh(SVC_JIRA_NEW_FIXTURE);
    let backups = site.dir.path().join("backups");
    (site, before, new, backups)
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

/// A site of fixture 01 once plus once per value of `others`, each such copy holding that
/// value where svc-jira's credential was, after `rotate --yes` of svc-jira: the site, the
/// new token and the rotation's output.
fn rotated_beside(others: &[&str]) -> (TestSite, String, RunOutput) {
    let mut rules = copies_of(&fixture_01(), others.len() + 1);
    let pointer = svc_jira_pointer(&rules[0]["rule"]);
    for (rule, value) in rules[1..].iter_mut().zip(others) {
        *rule["rule"]
            .pointer_mut(&pointer)
            .expect("the credential's string") = (*value).into();
    }
    let planted = common::Planted::new(rules);
    let site = planted.site_spec().start();
    let new = planted.fresh(SVC_JIRA_NEW_FIXTURE);
    let backups = site.dir.path().join("backups");
    let out = site.run_cmd(rotate_cmd(&site, SVC_JIRA, &new, &backups, &["--yes"]));
    (site, new, out)
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
fn apply_keeps_the_old_token_when_a_rule_outside_the_plan_now_holds_it() {
    let (planted, site) = copies_site(3, |_| {});
    let (old, new) = old_and_new(&planted);
    let backups = site.dir.path().join("backups");
    let plan = site.dir.path().join("plan.json");
    let uuids: Vec<String> = snapshot(&site).keys().cloned().collect();
    let pointer = svc_jira_pointer(&planted.rules[0]["rule"]);
    let header = |user: &str, token: &str| {
        let basic = autorekey::secret::Credential::new(user, Token::new(token)).basic_value();
        serde_json::json!(format!("Basic {basic}"))
    };
    // The third rule holds someone else's credential when the plan is made ...
    let someone = format!("FAKE-someone-{}", uuid::Uuid::new_v4().simple());
    site.state().edit_rule(&uuids[2], |e| {
        *e["rule"].pointer_mut(&pointer).expect("the header") =
            header("someone@acme.example", &someone);
    });
    let plan_arg = plan.to_str().expect("a UTF-8 path");
    site.run_cmd(rotate_cmd(
        &site,
        SVC_JIRA,
        &new,
        &backups,
        &["--out", plan_arg],
    ))
    .expect_code(0);
    // ... and the old token once the plan is applied.
    site.state().edit_rule(&uuids[2], |e| {
        *e["rule"].pointer_mut(&pointer).expect("the header") = header(SVC_JIRA, &old);
    });
    let out = apply(&site, &new, &plan, &backups);
    out.expect_code(3);
    assert_eq!(summary_count(&out.stdout, "rotated"), 2);
    assert!(out.stdout.contains("is not in the plan"), "{}", out.stdout);
    assert!(
        !out.stdout.contains(&revoke_line(&old, &new)),
        "{}",
        out.stdout
    );
    assert!(!out.stdout.contains("autorekey revoke"), "{}", out.stdout);
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

/// Issue 18, finding 1: after a rotation that left two rules it cannot read ("Do NOT
/// revoke"), the check it recommends said all clear: `scan --account` showed only the new
/// token, and `--fail-on unreadable` exited 0 with `--account` (3 without) and ignored the
/// managed secret. Both now say what the verdict says, and a mistyped `--account` is an
/// error naming the accounts found, not "0 findings".
#[test]
fn the_check_after_a_rotation_sees_what_the_verdict_cannot_read() {
    // One rule sends a managed secret as Basic auth to the site, one a hidden header the
    // server masks: either may be the old token.
    let (site, new, out) = rotated_beside(&["Basic {{secrets.jira}}", "***"]);
    out.expect_code(3);
    assert!(out.stdout.contains("Do NOT revoke"), "{}", out.stdout);

    let check = site.run(&["scan", "--account", SVC_JIRA, "--format", "json"]);
    check.expect_code(0);
    let report = check.json();
    let rows = report["findings"].as_array().expect("findings");
    let named: Vec<&serde_json::Value> = rows.iter().filter(|r| r["email"] == SVC_JIRA).collect();
    assert_eq!(named.len(), 1, "{rows:#?}");
    assert_eq!(named[0]["fingerprint"], fp(&new));
    let unreadable: BTreeSet<&str> = rows
        .iter()
        .filter(|r| r["cannot_read"] == true)
        .filter_map(|r| r["status"].as_str())
        .collect();
    assert_eq!(
        unreadable,
        BTreeSet::from(["dynamic", "masked"]),
        "{rows:#?}"
    );
    assert_eq!(report["summary"]["cannot_read"], 2);
    let table = site.run(&["scan", "--account", SVC_JIRA, "--format", "table"]);
    assert!(table.stdout.contains("Not inspectable"), "{}", table.stdout);

    for args in [
        &["scan", "--account", SVC_JIRA, "--fail-on", "unreadable"][..],
        &["scan", "--fail-on", "unreadable"][..],
    ] {
        site.run(args).expect_code(3);
    }

    let typo = site.run(&["scan", "--account", "svc-jria@acme.example"]);
    typo.expect_code(2).expect_error_with_hint();
    assert!(typo.stderr.contains(SVC_JIRA), "{}", typo.stderr);
    assert!(typo.stdout.is_empty(), "{}", typo.stdout);
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
    assert!(!saved.stdout.contains("--dry-run"), "{}", saved.stdout);
    assert!(
        saved
            .stdout
            .contains("Carry the plan out with `autorekey apply`"),
        "{}",
        saved.stdout
    );
    let dry = site.run_cmd(rotate_cmd(&site, SVC_JIRA, &new, &backups, &["--dry-run"]));
    dry.expect_code(0);
    assert!(dry.stdout.contains("without --dry-run"), "{}", dry.stdout);
    assert!(!dry.stdout.contains("apply the plan"), "{}", dry.stdout);
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
