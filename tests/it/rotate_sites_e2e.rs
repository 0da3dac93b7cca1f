//! `autorekey rotate` across several sites in one run, end to end: two in-process sandbox
//! sites (distinct cloud ids, one Atlassian account: the admin's login and svc-jira's old
//! and new tokens are valid on both), each holding rules with svc-jira's old token under
//! the SAME rule ids (so nothing may confuse one site's rule with the other's).
//!
//! What is pinned: one run gives one summary naming both sites and one verdict, "revoke"
//! only when both were read complete and every rule rotated; a site whose rule list cannot
//! be confirmed complete holds the verdict back and is named; one backup directory and one
//! journal cover both, and `restore` of it puts every rule back on its own site; a lock
//! held on one site's tenant means nothing is written on either. Every run's output is
//! checked for every token (`common::run_checked`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde_json::Value;

use crate::common::{Planted, RunOutput, TestSite};
use crate::rotate_support::*;

/// Two sites from one planting (the same accounts and tokens, the same rule ids), `n`
/// copies of fixture rule 01 on the first and `m` on the second; `adjust_b` sets the
/// second site's faults.
fn two_sites(
    n: usize,
    m: usize,
    adjust_b: impl FnOnce(&mut autorekey::sandbox::SandboxConfig),
) -> (Planted, TestSite, TestSite) {
    let planted = Planted::new(copies_of(&fixture_01(), n.max(m)));
    let mut a = planted.site_spec();
    a.config.rules.truncate(n);
    let mut b = planted.site_spec().with(adjust_b);
    b.config.rules.truncate(m);
    let (a, b) = (a.start(), b.start());
    assert_ne!(a.cloud_id(), b.cloud_id(), "two tenants");
    (planted, a, b)
}

/// `rotate` of svc-jira on both sites, run from site A's environment (its data folder
/// holds the locks), the old token given in a file.
fn rotate_both(
    planted: &Planted,
    a: &TestSite,
    b: &TestSite,
    backups: &Path,
    extra: &[&str],
) -> RunOutput {
    let new_token = planted.fresh(SVC_JIRA_NEW_FIXTURE);
    let old = a.write_file("old-token", &planted.fresh(SVC_JIRA_OLD_FIXTURE));
    let mut cmd = rotate_cmd(a, SVC_JIRA, &new_token, backups, extra);
    cmd.args(["--site", &a.base_url(), "--site", &b.base_url()])
        .arg("--old-token-file")
        .arg(&old);
    a.run_cmd(cmd)
}

/// [`rotate_both`] on a terminal, without `--yes`: a person answers.
fn at_a_terminal(planted: &Planted, a: &TestSite, b: &TestSite) -> crate::rotate_pty::Screen {
    let new_token = planted.fresh(SVC_JIRA_NEW_FIXTURE);
    let backups = a.dir.path().join("backups");
    let old = a.write_file("old-token", &planted.fresh(SVC_JIRA_OLD_FIXTURE));
    let (site_a, site_b) = (a.base_url(), b.base_url());
    let args = [
        "--site",
        &site_a,
        "--site",
        &site_b,
        "--old-token-file",
        old.to_str().expect("a UTF-8 path"),
    ];
    let cmd = spawnable_rotate(a, SVC_JIRA, &new_token, &backups, &args);
    crate::rotate_pty::Screen::spawn(cmd)
}

fn label(site: &TestSite) -> String {
    format!("{} · jira", site.base_url().trim_end_matches('/'))
}

#[test]
fn one_run_rotates_both_sites_with_one_journal_one_verdict_and_restore_puts_each_back() {
    let (planted, a, b) = two_sites(3, 2, |_| {});
    let (before_a, before_b) = (snapshot(&a), snapshot(&b));
    let new_token = planted.fresh(SVC_JIRA_NEW_FIXTURE);
    let backups = a.dir.path().join("backups");

    let out = rotate_both(&planted, &a, &b, &backups, &["--yes"]);
    out.expect_code(0);
    assert!(
        out.stdout.contains("Sites and products covered (2):"),
        "{}",
        out.stdout
    );
    for site in [&a, &b] {
        assert!(out.stdout.contains(&label(site)), "{}", out.stdout);
        let heading = format!("At {}:", label(site));
        assert!(out.stdout.contains(&heading), "{}", out.stdout);
    }
    assert_eq!(summary_count(&out.stdout, "rotated"), 5, "{}", out.stdout);
    assert_eq!(out.stdout.matches("Summary for ").count(), 1, "one summary");
    assert!(
        out.stdout.contains("revoke the old token ("),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("the 2 sites and products"),
        "{}",
        out.stdout
    );
    let rotated_a = Expected::rotation(&before_a, SVC_JIRA, &new_token);
    let rotated_b = Expected::rotation(&before_b, SVC_JIRA, &new_token);
    rotated_a.assert_site(&a);
    rotated_b.assert_site(&b);

    // One run directory, one journal naming each rule's site.
    let run_dir = only_run_dir(&backups);
    let journal = journal_of(&run_dir);
    let verified = |site: &TestSite| {
        journal
            .iter()
            .filter(|e| e.step == autorekey::journal::Step::Verified)
            .filter(|e| {
                e.site
                    .as_deref()
                    .is_some_and(|s| s.starts_with(&site.base_url()))
            })
            .count()
    };
    assert_eq!((verified(&a), verified(&b)), (3, 2), "{journal:?}");
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(run_dir.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["targets"].as_array().map(Vec::len), Some(2));

    // `backups` lists it once, naming both sites.
    let mut list = a.cmd();
    list.args(["backups", "--format", "json", "--backup-dir"])
        .arg(&backups);
    let listed = a.run_cmd(list);
    listed.expect_code(0);
    let runs = listed.json();
    let runs = runs.as_array().expect("an array");
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(runs[0]["rules"], 5);
    assert_eq!(runs[0]["sites"].as_array().map(Vec::len), Some(2));
    assert_eq!(runs[0]["state"], "finished");

    // JSON: one verdict, one section per target.
    let again = rotate_both(&planted, &a, &b, &backups, &["--yes", "--format", "json"]);
    let json = again.json();
    assert_eq!(json["targets"].as_array().map(Vec::len), Some(2), "{json}");
    let site_b = json["targets"][1]["site"].as_str().unwrap_or_default();
    assert_eq!(
        site_b.trim_end_matches('/'),
        b.base_url().trim_end_matches('/')
    );
    assert!(json["blocked_by"].as_array().is_some_and(Vec::is_empty));

    // One site's folder is not restored on its own: the run is, one rule or all.
    let part_file = std::fs::read_dir(run_dir.join("sites"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path()
        .join("rules")
        .join(format!("{}.json", before_b.keys().next().unwrap()));
    let refused = a.run(&["restore", part_file.to_str().unwrap(), "--yes"]);
    refused.expect_code(2).expect_error_with_hint();
    assert!(refused.stderr.contains("is one site's part of the backup"));

    // Restore puts every rule back on its own site, though both sites use the same ids.
    let restore = a.run(&["restore", run_dir.to_str().unwrap(), "--yes"]);
    restore.expect_code(0);
    for (site, n) in [(&a, 3), (&b, 2)] {
        let heading = format!("Restoring {n} rules at {}:", label(site));
        assert!(restore.stdout.contains(&heading), "{}", restore.stdout);
    }
    let all_a: BTreeSet<String> = before_a.keys().cloned().collect();
    let all_b: BTreeSet<String> = before_b.keys().cloned().collect();
    Expected::nothing(&before_a)
        .restored(&all_a)
        .assert_site(&a);
    Expected::nothing(&before_b)
        .restored(&all_b)
        .assert_site(&b);
}

#[test]
fn a_site_whose_rule_list_is_incomplete_holds_the_verdict_back_and_is_named() {
    // Both listings of site B skip a rule at every page size: its list is never complete.
    let (planted, a, b) = two_sites(2, 150, |c| c.list_skip_at = Some(0));
    let (before_a, before_b) = (snapshot(&a), snapshot(&b));
    let backups = a.dir.path().join("backups");

    let out = rotate_both(&planted, &a, &b, &backups, &["--yes"]);
    out.expect_code(3);
    assert!(
        !out.stdout.contains("revoke the old token ("),
        "{}",
        out.stdout
    );
    let held = out
        .stdout
        .lines()
        .find(|l| l.starts_with("Held back by: "))
        .unwrap_or_else(|| panic!("no 'Held back by' line:\n{}", out.stdout));
    assert!(
        held.contains(&label(&b)) && !held.contains(&label(&a)),
        "{held}"
    );
    assert!(
        held.contains("rule list could not be confirmed complete"),
        "{held}"
    );
    assert!(
        out.stderr
            .contains(&format!("Hint: held back by: {}", label(&b))),
        "{}",
        out.stderr
    );

    // A rerun carries on in the same directory (the run did not finish), whatever the
    // order the sites are named in.
    let run_dir = only_run_dir(&backups);
    let again = rotate_both(&planted, &b, &a, &backups, &["--yes"]);
    again.expect_code(3);
    assert!(
        again.stderr.contains(&format!(
            "Carrying on the unfinished rotation backed up in {}",
            run_dir.display()
        )),
        "{}",
        again.stderr
    );
    assert_eq!(only_run_dir(&backups), run_dir);

    // Its restore puts both sites' rules back.
    let restore = a.run(&["restore", run_dir.to_str().unwrap(), "--yes"]);
    restore.expect_code(0);
    for (site, before) in [(&a, &before_a), (&b, &before_b)] {
        let all: BTreeSet<String> = before.keys().cloned().collect();
        Expected::nothing(before).restored(&all).assert_site(site);
    }
}

#[test]
fn a_lock_held_on_one_site_writes_nothing_on_either() {
    let (planted, a, b) = two_sites(2, 2, |_| {});
    let before: BTreeMap<String, BTreeMap<String, Value>> = [&a, &b]
        .iter()
        .map(|s| (s.base_url(), snapshot(s)))
        .collect();
    let backups = a.dir.path().join("backups");
    let locks = a.data_dir().join("autorekey").join("locks");
    let key = autorekey::site_lock::LockKey::tenant("jira", &b.cloud_id()).expect("a cloud id");
    let _held = autorekey::site_lock::SiteLock::acquire_in(&locks, &key, "another rotate")
        .expect("take site B's lock");

    let out = rotate_both(&planted, &a, &b, &backups, &["--yes"]);
    out.expect_code(1).expect_error_with_hint();
    assert!(
        out.stderr.contains("another autorekey run is writing to")
            && out.stderr.contains("nothing was written"),
        "{}",
        out.stderr
    );
    for site in [&a, &b] {
        assert_eq!(puts(site), 0, "nothing written at {}", site.base_url());
        Expected::nothing(&before[&site.base_url()]).assert_site(site);
    }
    assert!(!backups.exists() || run_dirs(&backups).is_empty());
}

#[test]
fn a_dry_run_of_both_sites_shows_both_and_a_saved_plan_is_refused() {
    let (planted, a, b) = two_sites(2, 1, |_| {});
    let backups = a.dir.path().join("backups");
    let out = rotate_both(&planted, &a, &b, &backups, &["--dry-run"]);
    out.expect_code(0);
    assert!(out.stdout.contains("Dry run: nothing was written."));
    assert!(out.stdout.contains(&label(&b)), "{}", out.stdout);
    assert_eq!(puts(&a) + puts(&b), 0);

    let plan = a.dir.path().join("plan.json");
    let out = rotate_both(
        &planted,
        &a,
        &b,
        &backups,
        &["--out", plan.to_str().unwrap()],
    );
    out.expect_code(2).expect_error_with_hint();
    assert!(
        out.stderr.contains("covers one site and product"),
        "{}",
        out.stderr
    );
    assert!(!plan.exists());
}

#[test]
fn a_site_refusing_the_new_token_stops_the_run_before_any_write_anywhere() {
    let planted = Planted::new(copies_of(&fixture_01(), 2));
    let new_token = planted.fresh(SVC_JIRA_NEW_FIXTURE);
    // Site B does not know svc-jira's new token (not issued there, or mistyped).
    let b = planted.site_spec().with(|c| {
        for account in &mut c.accounts {
            account.tokens.retain(|t| t.expose() != new_token);
        }
    });
    let (a, b) = (planted.site_spec().start(), b.start());
    let before: Vec<_> = [&a, &b].iter().map(|s| snapshot(s)).collect();
    let backups = a.dir.path().join("backups");

    let out = rotate_both(&planted, &a, &b, &backups, &["--yes"]);
    out.expect_code(2).expect_error_with_hint();
    assert!(
        out.stderr.contains("the new token was refused"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains(&b.base_url()), "{}", out.stderr);
    assert!(
        !out.stderr.contains("Reading rules"),
        "nothing read: {}",
        out.stderr
    );
    for (site, before) in [&a, &b].into_iter().zip(&before) {
        assert_eq!(puts(site), 0);
        Expected::nothing(before).assert_site(site);
    }
    assert!(!backups.exists() || run_dirs(&backups).is_empty());
}

#[test]
fn at_a_terminal_one_question_covers_the_same_change_on_both_sites_and_names_them() {
    let (planted, a, b) = two_sites(2, 2, |_| {});
    let host = |site: &TestSite| site.base_url().trim_end_matches('/').to_owned();
    let mut screen = at_a_terminal(&planted, &a, &b);
    // The four rules make one change: one question, naming both sites (ASCII up to `·`).
    screen.expect("(1-4/4) Rotate 4 rules: ");
    screen.expect(&format!("[{} ", host(&a)));
    screen.expect(&format!(", {} ", host(&b)));
    // Reviewed rule by rule, each question names its site.
    screen.answer("[q]uit", "r");
    for (i, site) in [(1, &a), (2, &a), (3, &b), (4, &b)] {
        screen.expect(&format!("({i}/4) Rotate \""));
        screen.expect(&format!("\" at {} ", host(site)));
        screen.answer("[q]uit", "y");
    }
    let (code, transcript) = screen.finish();
    crate::common::assert_no_secrets(&transcript, a.secrets());
    assert_eq!(code, 0, "{transcript}");
    assert!(
        transcript.contains("revoke the old token ("),
        "{transcript}"
    );
    assert_eq!((puts(&a), puts(&b)), (2, 2));
}

#[test]
fn at_a_terminal_quitting_the_one_question_writes_nothing_on_either_site() {
    let (planted, a, b) = two_sites(2, 1, |_| {});
    let mut screen = at_a_terminal(&planted, &a, &b);
    screen.expect("(1-3/3) Rotate 3 rules: ");
    screen.answer("[q]uit", "q");
    let (code, transcript) = screen.finish();
    crate::common::assert_no_secrets(&transcript, a.secrets());
    assert_eq!(code, 3, "{transcript}");
    assert!(
        !transcript.contains("revoke the old token ("),
        "{transcript}"
    );
    assert_eq!((puts(&a), puts(&b)), (0, 0));
}
