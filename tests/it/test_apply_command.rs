//! `autorekey apply PLAN` end to end: a plan saved by `rotate --out` (or a migration's
//! `--dry-run --out`) carried out later, against in-process sandbox sites.
//!
//! Here: a saved plan holds no secret and `apply` writes exactly what it lists; a plan
//! edited after it was saved is refused and plans are never overwritten; a plan's URL
//! rewrite that names another host or cloud writes nothing; `apply` with another token;
//! `apply` again counts the rules already rotated as done and keeps the old token when a
//! rule outside the plan now holds it; a planted value is never taken from a plan.
//!
//! Elsewhere: making the plan and rotating without one: test_rotate_command; a plan over
//! several sites is refused: test_several_sites; a plan given as a FIFO or a missing file:
//! test_global_options.

use crate::common;
use crate::common::files::{path_str, run_fixture};
use crate::common::scoped::{migration_site, run_with_gateway, stored, BOT, CLOUD, MIGRATE};
use crate::common::{assert_no_secrets, RunOutput, ALICE};
use crate::rotate_support::ownership::{basic, planted_site, PLANTED_SITE, REAL};
use crate::rotate_support::rotate::run;
use crate::rotate_support::verdict::{apply, old_and_new, revoke_line, svc_jira_pointer};
use crate::rotate_support::*;
use autorekey::secret::{Credential, Token};
use serde_json::Value;
use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

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

#[test]
fn a_saved_plan_records_the_confirmations_and_apply_never_takes_a_planted_value() {
    let p = planted_site();
    let plan = p.site.dir.path().join("plan.json");
    let out = p.rotate(&["--out", plan.to_str().unwrap()]);
    out.expect_code(0);
    let saved: Value = serde_json::from_str(&std::fs::read_to_string(&plan).unwrap()).unwrap();
    assert_eq!(saved["confirmed"][0]["evidence"], "login");
    let planned: Vec<&str> = saved["rules"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["uuid"].as_str())
        .collect();
    assert_eq!(
        planned.len(),
        3,
        "only the real rules are planned: {planned:?}"
    );

    let new_file = p.site.write_file("new-token-2", &p.new);
    let backups = p.site.dir.path().join("backups");
    let mut cmd = p.site.cmd();
    cmd.arg("apply")
        .arg(&plan)
        .arg("--new-token-file")
        .arg(&new_file)
        .arg("--backup-dir")
        .arg(&backups)
        .args(["--yes", "--format", "json"]);
    let out = p.site.run_cmd(cmd);
    out.expect_code(3);
    let json = out.json();
    // The planted rules hold values of alice the plan does not name: left alone.
    assert_eq!(json["verdict"]["revoke"], false);
    assert!(p.rule(REAL).contains(&basic(ALICE, &p.new)));
    assert!(p.rule(PLANTED_SITE).contains(&basic(ALICE, &p.fakes[0])));
    assert!(p.failed_logins() <= 4, "two runs, at most two each");
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

#[test]
fn migration_to_a_service_account_rewrites_credentials_and_urls_through_a_plan() {
    let m = migration_site();
    let site = &m.site;
    let backups = site.dir.path().join("backups");
    let backups = backups.to_str().unwrap();
    let before = [stored(site, 1), stored(site, 2)];

    let mut dry = MIGRATE.to_vec();
    dry.extend([backups, "--dry-run"]);
    let out = run_with_gateway(site, &dry, Some(&m.new_token));
    out.expect_code(0);
    let moved = format!(
        "{}/ex/jira/{CLOUD}/rest/api/3/issue/{{{{issue.key}}}}/comment",
        site.base_url()
    );
    assert!(
        out.stdout.contains(&moved),
        "the diff shows the new URL:\n{}",
        out.stdout
    );
    assert!(out.stdout.contains(BOT), "{}", out.stdout);
    assert_eq!(
        site.stats().endpoint("PUT rule"),
        0,
        "a dry run writes nothing"
    );
    // The service account's new token went to the gateway only.
    assert_eq!(
        site.stats().myself(BOT).ok + site.stats().myself(BOT).failed,
        0
    );

    let plan = site.dir.path().join("plan.json");
    let mut save = MIGRATE.to_vec();
    save.extend([backups, "--out", plan.to_str().unwrap()]);
    run_with_gateway(site, &save, Some(&m.new_token)).expect_code(0);
    let plan_text = std::fs::read_to_string(&plan).unwrap();
    common::assert_no_secrets(&plan_text, site.secrets());
    assert!(plan_text.contains(BOT), "the plan records the migration");
    assert_eq!([stored(site, 1), stored(site, 2)], before);

    let apply = [
        "apply",
        plan.to_str().unwrap(),
        "--yes",
        "--backup-dir",
        backups,
    ];
    let out = run_with_gateway(site, &apply, Some(&m.new_token));
    out.expect_code(0);

    let basic = format!(
        "Basic {}",
        Credential::new(BOT, Token::new(m.new_token.clone())).basic_value()
    );
    let (one, two) = (stored(site, 1), stored(site, 2));
    assert_eq!(one["url"], moved.as_str());
    assert_eq!(one["headers"][0]["value"], basic.as_str());
    assert_eq!(one["headers"][0]["headerSecure"], true);
    // Not the site's REST API: the credential moves, the URL stays.
    assert_eq!(two["url"], "https://hooks.example.com/notify");
    assert_eq!(two["headers"][0]["value"], basic.as_str());
}

#[test]
fn a_plan_whose_url_rewrite_names_another_host_or_cloud_writes_nothing() {
    let m = migration_site();
    let site = &m.site;
    let backups = site.dir.path().join("backups");
    let backups = backups.to_str().unwrap();
    let before = [stored(site, 1), stored(site, 2)];
    let plan_path = site.dir.path().join("plan.json");
    let mut save = MIGRATE.to_vec();
    save.extend([backups, "--out", plan_path.to_str().unwrap()]);
    run_with_gateway(site, &save, Some(&m.new_token)).expect_code(0);
    let saved = std::fs::read_to_string(&plan_path).unwrap();
    // The seal is keyed: read and reseal it with the key the binary uses (the tests' team
    // key), as anyone holding the key can.
    autorekey::secret::fingerprint_key::install(Some(
        autorekey::secret::FingerprintKey::from_text(common::TEST_FINGERPRINT_KEY).unwrap(),
    ));
    let plan = autorekey::plan::PlanFile::from_sealed_json(&saved).unwrap();

    // Resealed, as anyone who holds the key can: the hash proves no authorship.
    type Edit = fn(&mut autorekey::gateway::UrlRewrite);
    let edits: [(&str, Edit); 2] = [
        ("another host", |u| {
            u.gateway = "https://collector.example.com".into()
        }),
        ("another cloud", |u| {
            u.cloud_id = "0000-another-tenant".into()
        }),
    ];
    for (what, edit) in edits {
        let mut tampered = plan.clone();
        let urls = tampered.selector.migrate.as_mut().unwrap().urls.as_mut();
        edit(urls.expect("the plan holds the URL rewrite"));
        std::fs::write(&plan_path, tampered.to_sealed_json()).unwrap();
        let apply = [
            "apply",
            plan_path.to_str().unwrap(),
            "--yes",
            "--backup-dir",
            backups,
        ];
        let out = run_with_gateway(site, &apply, Some(&m.new_token));
        out.expect_code(2).expect_error_with_hint();
        assert!(out.stderr.contains("URL rewrite"), "{what}: {}", out.stderr);
        assert_eq!(site.stats().endpoint("PUT rule"), 0, "{what}");
    }
    assert_eq!([stored(site, 1), stored(site, 2)], before);
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
