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

mod common;
mod rotate_support;

use std::collections::BTreeSet;
use std::path::Path;

use common::{assert_no_secrets, fake_token, RunOutput, TestSite};
use rotate_support::*;
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
    out.expect_code(3);
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
    out.expect_code(3);
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

    let applied = run(&fx.site, apply_cmd(&fx, &fx.new_token, plan_arg, &backups));
    applied.expect_code(0);
    expected.assert_site(&fx.site);
    assert_eq!(summary_count(&applied.stdout, "rotated"), planned.len());
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
#[ignore = "bug: apply's new-token fingerprint mismatch has no Hint line (src/commands/apply.rs, run)"]
fn apply_with_another_token_says_what_to_do() {
    let fx = FixtureRotation::start();
    let backups = fx.site.dir.path().join("backups");
    let plan_path = fx.site.dir.path().join("plan.json");
    let plan_arg = plan_path.to_str().expect("a UTF-8 path");
    run(&fx.site, fx.rotate(&backups, &["--out", plan_arg])).expect_code(3);
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
