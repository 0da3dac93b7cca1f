//! `autorekey rotate`, `apply`, `restore` and the offline export rotation end to end: the
//! real binary, as an admin or a CI job runs it, against an in-process sandbox over
//! loopback HTTP.
//!
//! Each test ends by comparing every rule on the site with what it must be (see
//! `rotate_support::Expected`): a rotated rule is exactly the library's rewrite of the rule
//! as it was, apart from the server-owned `updated`, and every other rule is byte-identical.
//! Every run's stdout and stderr are checked for every token the site holds, the admin's
//! and the new one included (`common::run_checked`). The interactive prompts are covered
//! in `rotate_pty.rs`.

use std::collections::BTreeSet;
use std::path::Path;

use crate::common;
use crate::common::{assert_no_secrets, fake_token, RunOutput, TestSite};
use crate::rotate_support::*;
use autorekey::journal;
use serde_json::Value;

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

fn run(site: &TestSite, cmd: assert_cmd::Command) -> RunOutput {
    site.run_cmd(cmd)
}

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
    assert!(out.stdout.contains("Dry run: nothing was written."));
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

#[test]
fn a_saved_plan_holds_no_secret_and_apply_carries_it_out_exactly() {
    let fx = FixtureRotation::start();
    let expected = fx.expected();
    let backups = fx.site.dir.path().join("backups");
    let plan_path = fx.site.dir.path().join("plan.json");
    let plan_arg = plan_path.to_str().expect("a UTF-8 path");

    let out = run(&fx.site, fx.rotate(&backups, &["--out", plan_arg]));
    out.expect_code(0);
    assert_eq!(puts(&fx.site), 0, "saving a plan writes nothing");
    Expected::read_only(&fx.before).assert_site(&fx.site);
    let plan_text = std::fs::read_to_string(&plan_path).expect("the plan was written");
    assert_no_secrets(&plan_text, fx.site.secrets());
    let plan: Value = serde_json::from_str(&plan_text).expect("the plan is JSON");
    let planned: BTreeSet<String> = plan["rules"]
        .as_array()
        .expect("plan.rules")
        .iter()
        .map(|r| r["uuid"].as_str().expect("a uuid").to_owned())
        .collect();
    assert_eq!(
        planned,
        expected.rotated_uuids(),
        "the plan names every rule to rotate"
    );

    // Another token than the plan's (a live one of the same account): refused before
    // anything is written.
    let refused = run(
        &fx.site,
        apply_cmd(
            &fx,
            &fx.planted.fresh(SVC_JIRA_OLD_FIXTURE),
            plan_arg,
            &backups,
        ),
    );
    refused.expect_code(2);
    assert!(refused
        .stderr
        .contains("is not the one the plan was made for"));
    assert!(refused.stderr.contains("nothing was written"));
    assert_eq!(puts(&fx.site), 0);
    Expected::read_only(&fx.before).assert_site(&fx.site);

    // The plan's hashes are keyed with the fingerprint key: under another key it is
    // refused as it would be if edited, before anything is written.
    let mut other_key = apply_cmd(&fx, &fx.new_token, plan_arg, &backups);
    other_key.env("AUTOREKEY_FINGERPRINT_KEY", "another-team-key-0123456789");
    let refused = run(&fx.site, other_key);
    refused.expect_code(2);
    assert!(
        refused.stderr.contains("another fingerprint key"),
        "{}",
        refused.stderr
    );
    assert_eq!(puts(&fx.site), 0);

    // The same advice as `rotate` on this site: apply weighs every rule, and the masked
    // ones (05, 19, e2) may still hold the old token.
    let applied = run(&fx.site, apply_cmd(&fx, &fx.new_token, plan_arg, &backups));
    applied.expect_code(3);
    expected.assert_site(&fx.site);
    assert_eq!(summary_count(&applied.stdout, "rotated"), planned.len());
    assert_eq!(summary_count(&applied.stdout, "left alone"), 3);
    assert!(applied
        .stdout
        .contains("Do NOT revoke the old token yet: 3 rules"));
    assert_eq!(
        puts(&fx.site),
        planned.len() as u64,
        "one PUT per planned rule"
    );
    assert_backup_run(&only_run_dir(&backups), &expected, &planned);
}

/// `apply PLAN --yes` with `new_token` in the environment.
fn apply_cmd(
    fx: &FixtureRotation,
    new_token: &str,
    plan: &str,
    backups: &Path,
) -> assert_cmd::Command {
    let mut cmd = fx.site.cmd();
    cmd.env("AUTOREKEY_NEW_TOKEN", new_token)
        .args(["apply", plan, "--yes", "--backup-dir"])
        .arg(backups);
    cmd
}

#[test]

fn apply_with_another_token_says_what_to_do() {
    let fx = FixtureRotation::start();
    let backups = fx.site.dir.path().join("backups");
    let plan_path = fx.site.dir.path().join("plan.json");
    let plan_arg = plan_path.to_str().expect("a UTF-8 path");
    run(&fx.site, fx.rotate(&backups, &["--out", plan_arg])).expect_code(0);
    let other = fx.planted.fresh(SVC_JIRA_OLD_FIXTURE);
    let refused = run(&fx.site, apply_cmd(&fx, &other, plan_arg, &backups));
    refused.expect_code(2).expect_error_with_hint();
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

// ------------------------------------------------------------------ 4. faults

/// Runs `rotate --yes` until nothing is left to do (at most `max_runs` times). After every
/// run each rule must be exactly rotated or untouched, and each one not rotated yet must
/// have been reported (its uuid in the summary) or the run must have ended with an error.
/// Returns the number of runs it took.
fn rotate_until_done(fx: &FixtureRotation, max_runs: usize, keep_retry_delays: bool) -> usize {
    let expected = fx.expected();
    let backups = fx.site.dir.path().join("backups");
    for n in 1..=max_runs {
        let mut cmd = fx.rotate(&backups, &["--yes"]);
        if keep_retry_delays {
            // Honour Retry-After, as a real run against a throttling site does.
            cmd.env_remove("AUTOREKEY_NO_RETRY_DELAY");
        }
        let out = run(&fx.site, cmd);
        assert!(
            matches!(out.code, Some(0 | 1 | 3)),
            "run {n} ended with {:?}:\n{}",
            out.code,
            out.stderr
        );
        assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
        let pending = expected.assert_rotated_or_untouched(&fx.site);
        let ended_in_error = out.stderr.lines().any(|l| l.starts_with("Error: "));
        for uuid in pending.intersection(&expected.rotated_uuids()) {
            assert!(
                ended_in_error || out.stdout.contains(&format!("({uuid})")),
                "run {n}: {uuid} was not rotated and not reported:\n{}",
                out.stdout
            );
        }
        let clean = summary_count(&out.stdout, "failed") == 0
            && summary_count(&out.stdout, "needs attention") == 0
            && out.stdout.contains("Summary for ");
        if pending.is_disjoint(&expected.rotated_uuids()) && clean {
            expected.assert_site(&fx.site);
            return n;
        }
    }
    panic!("{max_runs} runs did not finish the rotation");
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
    assert!(out
        .stdout
        .contains(&format!("({one}) is already as in the backup")));
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
    assert!(out.stdout.contains("Do NOT revoke"), "{}", out.stdout);
    assert!(out.stdout.contains("\"rule 3\""), "{}", out.stdout);
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
        out.stderr.contains("confirmed by 2 read(s) of the search"),
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
            && out.stderr.contains("read again 3 time(s)"),
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
