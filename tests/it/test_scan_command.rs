//! `autorekey scan` end to end: the real binary, as an admin or a CI job runs it, against
//! in-process sandbox sites over loopback HTTP, and `scan --from-file` on exports without a
//! site.
//!
//! The library's own tests check the detector against the oracle and the client against
//! scripted servers; these check what only the whole program can get wrong: flags and
//! environment resolved into a session, the site read page by page through faults,
//! throttling and drifting lists, `/myself` asked once per credential (through the gateway
//! for scoped and service-account tokens, Confluence's endpoints for `--product
//! confluence`), `--account`, `--fail-on` and the expiry join of `--org`, exit statuses,
//! hints and every output format (snapshots of the `--from-file` reports). Every run's
//! output is checked for every token first (see `common`).
//!
//! Elsewhere: several sites or a whole org in one scan: test_several_sites; secrets never
//! printed, key files and hostile rule text: test_security; `fingerprint`:
//! test_fingerprint_command; the detector against every fixture: test_detect_fixtures;
//! the client alone: test_fetch_client.

use crate::common;
use crate::common::hostile::{ok, Scripted, HOSTILE_ADMIN};
use crate::common::org::{org_site, BOB, CI_SCAN, ORG};
use crate::common::scan::{bare_rule, findings, fixture_site, from_file, scan_json, SVC_JIRA};
use crate::common::scoped::{
    account, gateway_url, run_with_gateway, scoped, site, verdict, web_request_to, BOT, CAROL,
    CLOUD, NO_ME,
};
use crate::common::snapshot::normalized_streams;
use crate::common::{
    autorekey, fake_token, fixture_secret_values, fixtures_dir, oracle, project, run_checked,
    Planted, RunOutput, SiteSpec, TestSite, ALICE,
};
use crate::rotate_support::ownership::basic;
use crate::rotate_support::verdict::{fp, rotated_beside};
use autorekey::sandbox::{RuleSelection, SandboxStats};
use serde_json::{json, Value};
use sha2::Digest as _;
use std::collections::{BTreeMap, BTreeSet};

#[test]
fn an_answer_past_the_cap_stops_the_scan_with_a_clear_error() {
    let admin_token = fake_token();
    let admin_auth = basic(HOSTILE_ADMIN, &admin_token);
    let huge = "x".repeat(2 * 1024 * 1024);
    let site = Scripted::start(move |_, path, auth| match path {
        "/rest/api/3/myself" if auth == admin_auth => {
            ok(json!({"accountId": "acc-admin", "emailAddress": HOSTILE_ADMIN}))
        }
        _ => ok(json!({"links": {"next": null}, "data": [], "padding": huge})),
    });
    let mut cmd = site.cmd(HOSTILE_ADMIN, &admin_token);
    cmd.args(["--max-response-mb", "1", "scan", "--format", "json"]);
    let out = run_checked(cmd, std::slice::from_ref(&admin_token));
    out.expect_code(1).expect_error_with_hint();
    assert!(out.stderr.contains("larger than 1 MiB"), "{}", out.stderr);
    // Without the small cap the same answer is read.
    let mut cmd = site.cmd(HOSTILE_ADMIN, &admin_token);
    cmd.args(["scan", "--format", "json"]);
    run_checked(cmd, &[admin_token]).expect_code(0);
}

#[test]
fn scan_joins_each_owner_with_its_earliest_expiry_and_fails_on_expiring() {
    let org = org_site();
    let out = org.run(&["scan", "--org", ORG, "--format", "json"]);
    out.expect_code(0);
    let report = out.json();
    let rows = report["token_expiry"].as_array().expect("token_expiry");
    let row = |email: &str| rows.iter().find(|r| r["email"] == email).unwrap().clone();
    assert_eq!(row(ALICE)["days_left"], 12);
    assert_eq!(row(ALICE)["token_id"], "alice-old");
    assert_eq!(row(ALICE)["tokens"], 2);
    assert_eq!(row(BOB)["days_left"], 200);
    // Three tokens, two a page: the list was followed to its end.
    assert_eq!(org.site.stats().endpoint("GET org api-tokens"), 2);

    let table = org.run(&["scan", "--org", ORG, "--format", "text"]);
    table.expect_code(0);
    assert!(table.stdout.contains("(in 12 days)"), "{}", table.stdout);

    let ci = org.run(&CI_SCAN);
    ci.expect_code(3);
    assert!(ci.stderr.contains("expiring"), "{}", ci.stderr);
    org.run(&[
        "scan",
        "--org",
        ORG,
        "--fail-on",
        "expiring=7d",
        "--format",
        "json",
    ])
    .expect_code(0);
    let no_org = org.run(&["scan", "--fail-on", "expiring=30d"]);
    no_org.expect_code(2).expect_error_with_hint();
}

#[test]
fn a_wrong_org_key_is_an_error_that_never_echoes_the_key() {
    let org = org_site();
    let wrong = fake_token();
    let mut cmd = org.site.cmd();
    cmd.env("AUTOREKEY_ORG_API_KEY", &wrong)
        .args(["scan", "--org", ORG, "--format", "json"]);
    let mut secrets = org.site.secrets().to_vec();
    secrets.push(wrong);
    let out = common::run_checked(cmd, &secrets);
    out.expect_code(1).expect_error_with_hint();
    assert!(out.stderr.contains("401"), "{}", out.stderr);
    // The hint names the org key and its scope, not the site login.
    assert!(
        out.stderr.contains("AUTOREKEY_ORG_API_KEY"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("read:tokens:admin"), "{}", out.stderr);
    assert!(!out.stderr.contains("AUTOREKEY_LOGIN"), "{}", out.stderr);
}

/// Rule 05: hidden Authorization header that the sandbox's `mask_hidden` trap answers as
/// `***` over HTTP, although the file holds the literal.
const MASKED_ON_GET: &str = "0190f3a2-5b7c-7d21-8e4f-a1b2c3d4e505";
const SVC_CI: &str = "svc-ci@acme.example";
const OLD_BOT: &str = "old-bot@acme.example";

/// Projected rows, sorted so two lists compare as multisets.
fn sorted(mut rows: Vec<Value>) -> Vec<Value> {
    rows.sort_by_key(Value::to_string);
    rows
}

/// The verdict `--verify` gave each user's credential, from the summary.
fn verdicts(report: &Value) -> BTreeMap<String, Value> {
    report["summary"]["credentials"]
        .as_array()
        .expect("summary.credentials")
        .iter()
        .filter_map(|c| Some((c["email"].as_str()?.to_owned(), c["verification"].clone())))
        .collect()
}

// ------------------------------------------------------------------ 1. the oracle over HTTP

#[test]
fn every_fixture_finding_comes_back_over_http_with_the_oracle_fields() {
    let (planted, site) = fixture_site();
    let report = scan_json(&site, &[]);
    let fingerprints = planted.fingerprint_map();

    let oracle = oracle();
    let expected: Vec<Value> = oracle["findings"]
        .as_array()
        .expect("oracle findings")
        .iter()
        .filter(|f| f["rule_uuid"] != MASKED_ON_GET)
        // `shapes/` holds bare rule objects, read from files only (the sandbox serves
        // envelopes).
        .filter(|f| !f["file"].as_str().is_some_and(|p| p.starts_with("shapes/")))
        .map(|f| {
            let mut row = project(f);
            if let Some(fp) = row["fingerprint"].as_str() {
                row["fingerprint"] = json!(fingerprints
                    .get(fp)
                    .unwrap_or_else(|| panic!("oracle fingerprint {fp} is no fixture secret")));
            }
            row
        })
        .collect();
    let (masked, got): (Vec<Value>, Vec<Value>) = findings(&report)
        .iter()
        .map(project)
        .partition(|r| r["rule_uuid"] == MASKED_ON_GET);
    assert_eq!(sorted(got), sorted(expected));

    // Over HTTP the trap serves `***`: no credential can be read from rule 05, and the
    // scan says so rather than guessing.
    assert_eq!(masked.len(), 1, "{masked:?}");
    let row = &masked[0];
    assert_eq!(row["status"], "masked");
    assert_eq!(row["hidden"], true);
    assert_eq!(row["fingerprint"], Value::Null);
    assert_eq!(row["component_id"], "88410300");
    assert_eq!(row["header_name"], "Authorization");

    let summary = &report["summary"];
    assert_eq!(
        summary["rules_read"],
        json!(site.state().rule_uuids().len())
    );
    assert_eq!(summary["rules_failed"], 0);
    assert_eq!(summary["findings"], json!(findings(&report).len()));
    assert_eq!(report["errors"], json!([]));
    // Every rule was read once, and nothing was written.
    let stats = site.stats();
    assert_eq!(
        stats.endpoint("GET rule"),
        site.state().rule_uuids().len() as u64
    );
    assert_eq!(
        stats.endpoint("PUT rule") + stats.endpoint("PUT rule/state"),
        0
    );
}

#[test]
fn rules_without_credentials_are_read_and_yield_no_finding() {
    let (_, site) = fixture_site();
    let report = scan_json(&site, &[]);
    let oracle = oracle();
    let clean = oracle["unchanged_rules"]
        .as_array()
        .expect("unchanged_rules");
    assert!(!clean.is_empty());
    for rule in clean {
        let uuid = &rule["rule_uuid"];
        assert!(
            findings(&report).iter().all(|f| &f["rule_uuid"] != uuid),
            "{uuid} has no credential"
        );
    }
}

// ------------------------------------------------------------------ 2. --verify

#[test]
fn verify_asks_myself_once_per_credential_and_never_retries_a_401() {
    let (planted, site) = fixture_site();
    let report = scan_json(&site, &["--verify"]);

    let verdicts = verdicts(&report);
    assert_eq!(verdicts[SVC_JIRA], "live", "{verdicts:?}");
    assert_eq!(verdicts[SVC_CI], "live", "{verdicts:?}");
    assert_eq!(verdicts[OLD_BOT], "dead", "{verdicts:?}");
    // Each finding row carries its credential's verdict.
    let old_bot_fp =
        autorekey::secret::Fingerprint::of(&planted.fresh("FAKE-old-bot-REVOKED-token-4444"))
            .to_string();
    let dead_rows: Vec<&Value> = findings(&report)
        .iter()
        .filter(|f| f["verification"] == "dead")
        .collect();
    assert!(!dead_rows.is_empty());
    assert!(dead_rows
        .iter()
        .all(|f| f["fingerprint"] == old_bot_fp.as_str()));

    let stats = site.stats();
    for email in [SVC_JIRA, SVC_CI] {
        let attempts = stats.myself(email);
        assert_eq!(
            (attempts.ok, attempts.failed),
            (1, 0),
            "{email}: {attempts:?}"
        );
    }
    let dead = stats.myself(OLD_BOT);
    assert_eq!((dead.ok, dead.failed), (0, 1), "a 401 is final: {dead:?}");
    // The admin's own login is checked once, up front.
    assert_eq!(stats.myself(common::FIXTURE_ADMIN).ok, 1);
    assert_no_account_beyond_one_check(&stats);
}

/// One CSV line split into cells: quoted cells may hold commas and doubled quotes (rule
/// names do); the CSV writer escapes line breaks, so a line is a row.
fn csv_cells(line: &str) -> Vec<String> {
    let (mut cells, mut cell, mut quoted) = (Vec::new(), String::new(), false);
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                cell.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => cells.push(std::mem::take(&mut cell)),
            _ => cell.push(c),
        }
    }
    cells.push(cell);
    cells
}

#[test]
fn csv_says_every_word_as_json_does() {
    let (_, site) = fixture_site();
    let report = scan_json(&site, &["--verify"]);
    let run = site.run(&["scan", "--verify", "--format", "csv"]);
    run.expect_code(0);
    let mut lines = run.stdout.lines();
    let header = csv_cells(lines.next().expect("a header line"));
    let rows: Vec<Vec<String>> = lines.map(csv_cells).collect();
    let json_rows = findings(&report);
    assert_eq!(rows.len(), json_rows.len(), "{}", run.stdout);
    let column = |name: &str| header.iter().position(|h| h == name).expect(name);
    let words = ["location", "scheme", "status", "verification", "hidden"];
    // Both formats list the findings in the same order.
    for (csv, json) in rows.iter().zip(json_rows) {
        assert_eq!(
            csv[column("rule_uuid")],
            json["rule_uuid"].as_str().unwrap()
        );
        for name in words {
            let in_json = match &json[name] {
                Value::Null => String::new(),
                Value::String(word) => word.clone(),
                other => other.to_string(),
            };
            assert_eq!(csv[column(name)], in_json, "{name} of {json}");
        }
    }
    let verification: Vec<&str> = rows
        .iter()
        .map(|r| r[column("verification")].as_str())
        .collect();
    for word in ["live", "dead", "not_checked"] {
        assert!(verification.contains(&word), "{verification:?}");
    }
}

fn assert_no_account_beyond_one_check(stats: &SandboxStats) {
    for (email, attempts) in &stats.myself_attempts {
        assert!(
            attempts.ok + attempts.failed <= 1,
            "{email} was checked {} times",
            attempts.ok + attempts.failed
        );
    }
}

#[test]
fn fail_on_dead_exits_3_after_printing_the_inventory() {
    let (_, site) = fixture_site();
    let run = site.run(&["scan", "--format", "json", "--fail-on", "dead"]);
    run.expect_code(3);
    // --fail-on dead implies --verify; the results still come out in full.
    assert_eq!(verdicts(&run.json())[OLD_BOT], "dead");
    assert!(run.stderr.contains("Needs you: "), "{}", run.stderr);
    assert_eq!(site.stats().myself(OLD_BOT).failed, 1);
}

/// The inventory an admin reads on rotation day, as text over HTTP with `--verify`: every
/// fixture finding with its verdict, the counts and what needs the admin, pinned whole.
#[test]
fn the_fixture_sites_inventory_as_text_is_pinned_whole() {
    let (_, site) = fixture_site();
    let run = site.run(&["scan", "--format", "text", "--verify"]);
    insta::assert_snapshot!(normalized_streams(&run), @"
    --- stdout
    deploy-bot · k:[fp1]  (basic, 1 place)  [not checked]
        REL: On release, notify partner and start production deploy  Send web request (2nd)  [header Authorization]

    old-bot@acme.example · [fp2]  (basic, 1 place)  [dead]
        FIN: Weekly worklog reminder (old-bot)  Send web request  [header Authorization]

    svc-ci@acme.example · k:[fp3]  (basic, 1 place)  [live]
        REL: Promote ticket per environment  Create lookup table authByEnv  [lookup_table]

    svc-ci@acme.example · [fp4]  (basic, 2 places)  [live]
        QA: Count release issues and kick smoke tests  Send web request (1st)  [url]
        REL: Stamp release description (svc-ci)  Send web request  [header Authorization]

    svc-jira@acme.example · [fp5]  (basic, 12 places)  [live]
        ENG: Assign to component lead (hidden auth header)  Send web request  [header Authorization, hidden]
        ENG: Close auto-close sub-tasks when parent is Done  Branch: Sub-tasks > If/else > block 1 > If/else > block 1 > Send web request  [header Authorization]
        ENG: Label PR-linked issues for review  Send web request  [header Authorization]
        FIN: Copy cost center from parent (OLD - disabled) (disabled)  Send web request  [header Authorization]
        INC: Create postmortem page and link it  Send web request  [header Authorization]
        OPS: Auto-close duplicates (migrated from Data Center)  Send web request  [header Authorization]
        SUP: Escalate VIP customer tickets  Send web request  [header Authorization]
        SUP: Post acknowledgement comment as svc-jira on new tickets  Send web request  [header Authorization]
        SUP: Route by priority (escalate P1/P2, queue the rest)  If/else > block 1 > Send web request  [header Authorization]
        SUP: Route by priority (escalate P1/P2, queue the rest)  If/else > else > Send web request  [header Authorization]
        SUP: Thank reporter for attachments (beta builder)  Send web request  [header Authorization]
        SUP: store triage score property  Send web request  [header authorization]

    svc-jira@acme.example · k:[fp6]  (basic, 2 places)  [live]
        OPS: Mirror label via internal relay  Send web request  [body]
        SUP: Log 15m triage worklog as svc-jira  Create variable authHeader  [variable]

    (no user) · k:[fp7]  (bearer, 1 place)  [not checked]
        REL: On release, notify partner and start production deploy  Send web request (1st)  [header Authorization]

    (no user) · k:[fp8]  (token, 1 place)  [not checked]
        INC: Create incident from monitoring alert  Trigger: Incoming webhook  [webhook_token]

    (no user) · k:[fp9]  (token, 1 place)  [not checked]
        QA: Count release issues and kick smoke tests  Send web request (2nd)  [url]

    Not inspectable (masked, managed secret or smart value):
        ENG: Sync story points to roadmap tool  Send web request  [header Authorization, hidden]  [masked, may hold an Atlassian token]
        INC: Link status page incident  Send web request  [header Authorization, hidden]  [masked, may hold an Atlassian token]
        OPS: Add reporter as watcher (managed secret)  Send web request  [header Authorization]  [secret_ref, may hold an Atlassian token]
        REL: Comment deploy result from pipeline  Send web request  [header Authorization, hidden]  [masked, may hold an Atlassian token]
        REL: Comment deploy result from pipeline  Trigger: Incoming webhook  [webhook_token]  [masked]
        REL: Promote ticket per environment  Send web request  [header Authorization]  [dynamic, may hold an Atlassian token]
        SUP: Log 15m triage worklog as svc-jira  Send web request  [header Authorization]  [dynamic, may hold an Atlassian token]
        SUP: Nudge assignee after 3 days idle  Send web request (1st)  [header Authorization]  [dynamic, may hold an Atlassian token]
        SUP: Nudge assignee after 3 days idle  Send web request (2nd)  [header Authorization]  [dynamic, may hold an Atlassian token]

    k:…: a keyed fingerprint, for a secret that is not shaped like an Atlassian token and that this place does not send to an Atlassian host (another host, a variable, a relay's body); a token used both ways is listed under both, and `autorekey fingerprint` prints both forms.
    may hold an Atlassian token: autorekey cannot read it or name its account, so it may be an old token still in use; check it in the Automation UI before revoking one (`--fail-on unreadable` exits 3 while one is listed).
    27 rules read, 24 with credentials; 31 findings, 9 distinct credentials.
    --- stderr
    Connecting to http://127.0.0.1:PORT/ as admin@acme.example
    Listing rules at http://127.0.0.1:PORT/
    ");
    run.expect_code(0);
}

#[test]
fn fail_on_literal_and_unreadable_exit_3_and_a_clean_account_exits_0() {
    let (_, site) = fixture_site();
    let literal = site.run(&["scan", "--format", "json", "--fail-on", "literal"]);
    literal.expect_code(3);
    // The inventory is printed in full before the exit status.
    assert!(!findings(&literal.json()).is_empty());
    site.run(&["scan", "--fail-on", "unreadable"])
        .expect_code(3);
    // svc-ci's credentials are all live: nothing dead to fail on.
    site.run(&["scan", "--account", SVC_CI, "--fail-on", "dead"])
        .expect_code(0);
    // Issue 18: the places nobody can read may hold svc-ci's token as well as anyone's, so
    // --fail-on unreadable fails with --account as it does without.
    site.run(&["scan", "--account", SVC_CI, "--fail-on", "unreadable"])
        .expect_code(3);
}

// ------------------------------------------------------------------ 3. faults

#[test]
fn server_errors_and_dropped_connections_change_nothing() {
    let planted = Planted::fixtures();
    let clean = planted.site_spec().start();
    let faulty = planted
        .site_spec()
        .with(|c| {
            c.error_rate = 0.1;
            c.drop_rate = 0.1;
            c.seed = 7;
        })
        .start();
    let want = scan_json(&clean, &[]);
    let got = scan_json(&faulty, &[]);
    assert_eq!(got["findings"], want["findings"]);
    assert_eq!(got["summary"], want["summary"]);
    let stats = faulty.stats();
    assert!(
        stats.server_errors > 0 && stats.dropped_connections > 0,
        "the faults must have happened for this test to mean anything: {stats:?}"
    );
}

/// `scan --format json` against a rate-limited `site`, honouring `Retry-After` as a real run
/// does (without sleeps the client would spend its attempts in a millisecond while the
/// bucket refills over a second); expected to succeed.
fn scan_json_with_delays(site: &TestSite, extra: &[&str]) -> Value {
    let mut cmd = site.cmd();
    cmd.env_remove("AUTOREKEY_NO_RETRY_DELAY")
        .args(["scan", "--format", "json"])
        .args(extra);
    let run = site.run_cmd(cmd);
    run.expect_code(0);
    run.json()
}

/// A site whose rate limit is named only in its 429s, as Jira Cloud does.
fn limited_in_429s(spec: SiteSpec, per_sec: f64) -> TestSite {
    spec.with(|c| {
        c.rate_limit_per_sec = Some(per_sec);
        c.rate_limit_headers = autorekey::sandbox::RateLimitHeaders::On429;
    })
    .start()
}

#[test]
fn a_rate_limit_storm_is_ridden_out() {
    let spec = SiteSpec::generated(60, 5);
    let clean = spec.clone().start();
    // The limit named only in the 429s, so the first burst meets it.
    let throttled = limited_in_429s(spec.clone(), 20.0);
    let want = scan_json(&clean, &[]);
    let got = scan_json_with_delays(&throttled, &[]);
    assert_eq!(got["findings"], want["findings"]);
    assert_eq!(got["summary"]["rules_read"], 60);
    assert!(
        throttled.stats().rate_limited > 0,
        "{:?}",
        throttled.stats()
    );

    // A site that names its limit and what is left on every answer is paced to from its
    // first answer on: every rule is read and not one request is refused.
    let announced = spec.with(|c| c.rate_limit_per_sec = Some(20.0)).start();
    let got = scan_json_with_delays(&announced, &[]);
    assert_eq!(got["findings"], want["findings"]);
    let stats = announced.stats();
    assert_eq!(stats.rate_limited, 0, "{stats:?}");
    assert_eq!(stats.endpoint("GET rule"), 60);
}

/// A site that limits the request rate and, as Jira Cloud does, names its limit only in its
/// 429s: the scan reads every rule, and the pacer keeps the 429s to the few requests that
/// were in flight before the first 429 came back (at most the concurrency, plus a rare late
/// one), not one every few requests. Counts from the sandbox's own stats, no timing.
#[test]
fn a_rate_limited_site_is_read_whole_with_few_429s() {
    const RULES: usize = 150;
    const CONCURRENCY: u64 = 8;
    let spec = SiteSpec::generated(RULES, 9);
    let clean = spec.clone().start();
    let limited = limited_in_429s(spec, 50.0);
    let want = scan_json(&clean, &[]);
    let concurrency = CONCURRENCY.to_string();
    let got = scan_json_with_delays(&limited, &["--concurrency", &concurrency]);
    assert_eq!(got["findings"], want["findings"]);
    assert_eq!(got["summary"]["rules_read"], RULES);
    assert_eq!(got["summary"]["rules_failed"], 0);
    let stats = limited.stats();
    assert!(stats.rate_limited >= 1, "the limit was reached: {stats:?}");
    assert!(
        stats.rate_limited <= CONCURRENCY + 4,
        "{} 429s in {} requests: {stats:?}",
        stats.rate_limited,
        stats.total_requests
    );
    assert_eq!(
        stats.total_requests - stats.rate_limited,
        clean.stats().total_requests,
        "each 429 costs one more request, nothing else is repeated"
    );
}

#[test]
fn a_site_that_always_fails_ends_with_a_clear_error() {
    let (_, site) = {
        let planted = Planted::fixtures();
        let site = planted.site_spec().with(|c| c.error_rate = 1.0).start();
        (planted, site)
    };
    let run = site.run(&["scan", "--format", "json"]);
    run.expect_code(1);
    let error = run
        .stderr
        .lines()
        .find(|l| l.starts_with("Error: "))
        .unwrap_or_else(|| panic!("no Error: line:\n{}", run.stderr));
    assert!(error.len() > "Error: ".len() + 10, "{error}");
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
}

/// Results that never reached their file fail the scan; a reader that closed the pipe
/// (`scan | head`) had all it wanted, and the scan ends quietly.
#[test]
fn a_full_disk_fails_the_scan_and_a_closed_pipe_does_not() {
    let (_, site) = fixture_site();
    let dev_full = std::fs::OpenOptions::new().write(true).open("/dev/full");
    let run = scan_into(&site, dev_full.expect("open /dev/full").into());
    run.expect_code(1).expect_error_with_hint();
    assert!(
        run.stderr
            .contains("Error: the output could not be written: No space left"),
        "{}",
        run.stderr
    );

    let mut fds = [0; 2];
    // SAFETY: pipe fills in two new descriptors,
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    // SAFETY: each owned once, here.
    let (reader, writer) = unsafe {
        use std::os::fd::{FromRawFd as _, OwnedFd};
        (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1]))
    };
    drop(reader);
    let run = scan_into(&site, writer.into());
    run.expect_code(0);
    assert!(!run.stderr.contains("Error"), "{}", run.stderr);
}

/// Nothing to scan is not a failure, but it is said in words, not only as a row of zeros.
#[test]
fn a_site_with_no_rules_says_so_and_succeeds() {
    let site = Planted::new(Vec::new()).site_spec().start();
    let run = site.run(&["scan", "--format", "text"]);
    run.expect_code(0);
    assert!(run.stdout.starts_with("0 rules read"), "{}", run.stdout);
    assert!(
        run.stderr
            .contains("lists no Automation rules: there is nothing to scan"),
        "{}",
        run.stderr
    );
}

/// `scan --format json` against `site` with stdout sent to `out`.
fn scan_into(site: &TestSite, out: std::process::Stdio) -> RunOutput {
    let mut plain = common::std_command(&site.cmd());
    plain.args(["scan", "--format", "json"]).stdout(out);
    let output = plain.output().expect("run the autorekey binary");
    common::checked(output, site.secrets())
}

#[test]
fn an_unreadable_rule_is_reported_and_the_scan_goes_on_then_exits_1() {
    let planted = Planted::fixtures();
    // A listing entry whose id would address another endpoint: the client refuses to read it.
    let mut hostile = planted.rules[0].clone();
    hostile["rule"]["uuid"] = json!("..");
    let site = planted.site_spec().with(|c| c.rules.push(hostile)).start();
    let run = site.run(&["scan", "--format", "json"]);
    run.expect_code(1).expect_error_with_hint();
    let report = run.json();
    let readable = site.state().rule_uuids().len() - 1;
    assert_eq!(report["summary"]["rules_read"], json!(readable));
    assert_eq!(report["summary"]["rules_failed"], 1);
    let errors = report["errors"].as_array().expect("errors");
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0]["rule_uuid"], "..");
    assert!(
        findings(&report).len() >= planted.rules.len() - 3,
        "the readable rules are all reported"
    );
}

// ------------------------------------------------------------------ 4. pagination

#[test]
fn every_page_is_read_with_relative_and_absolute_next_links() {
    for absolute in [false, true] {
        let site = SiteSpec::generated(130, 9)
            .with(|c| c.absolute_next_links = absolute)
            .start();
        let report = scan_json(&site, &[]);
        let on_site = site.state().rule_uuids().len();
        assert_eq!(on_site, 130);
        assert_eq!(
            report["summary"]["rules_read"],
            json!(on_site),
            "absolute={absolute}"
        );
        assert_eq!(report["summary"]["rules_failed"], 0);
        let stats = site.stats();
        let pages = stats.endpoint("GET rule/summary") + stats.endpoint("POST rule/summary");
        assert!(pages >= 2, "130 rules fit no single page: {stats:?}");
        assert_eq!(stats.endpoint("GET rule"), on_site as u64);
    }
}

#[test]
fn a_drifting_rule_list_is_read_again_until_two_reads_agree() {
    // 250 rules, 100 a page: the GET listing's page 2 starts 5 rules late (skipping 5) and
    // page 3 starts 5 early (repeating 5), as the live API has been seen to. The search is
    // read again at another page size; both of its reads show every rule: complete.
    let site = SiteSpec::generated(250, 4)
        .with(|c| c.list_drift = 5)
        .start();
    let run = site.run(&["-v", "scan", "--format", "json"]);
    run.expect_code(0);
    let report = run.json();
    assert_eq!(
        report["summary"]["rules_read"], 250,
        "the union reads every rule"
    );
    assert_eq!(report["summary"]["list_complete"], true);
    assert!(
        run.stderr.contains("confirmed by 1 read of the search"),
        "{}",
        run.stderr
    );
    let stats = site.stats();
    assert_eq!(stats.endpoint("GET rule"), 250, "each rule read once");
    assert_eq!(stats.endpoint("GET rule/summary"), 3, "one GET listing");
}

#[test]
fn listings_that_skip_a_rule_at_every_page_size_leave_the_list_incomplete() {
    // Both listing forms skip the first rule of their second page, at whatever page size,
    // and each re-read at another size misses another rule. No two reads agree: incomplete,
    // after a bounded number of re-reads.
    let site = SiteSpec::generated(250, 4)
        .with(|c| c.list_skip_at = Some(0))
        .start();
    let run = site.run(&["scan", "--format", "json"]);
    run.expect_code(0);
    let report = run.json();
    assert_eq!(report["summary"]["list_complete"], false);
    assert_eq!(
        report["summary"]["rules_read"], 250,
        "each re-read adds its rules"
    );
    assert!(run.stderr.contains("read again 3 times"), "{}", run.stderr);
    let stats = site.stats();
    assert_eq!(stats.endpoint("GET rule"), 250, "each rule read once");
    assert_eq!(stats.endpoint("GET rule/summary"), 3, "one GET listing");
    // Four searches (100, 61, 37, 83 a page) over two states: at most 9 + 2 pages each.
    assert!(stats.endpoint("POST rule/summary") <= 4 * 11, "{stats:?}");
    // A CI gate does not pass over a list it cannot trust.
    site.run(&["scan", "--format", "json", "--fail-on", "unreadable"])
        .expect_code(3);
}

#[test]
fn without_drift_the_list_is_confirmed() {
    // Without drift both listings agree, and the scan says the list is complete.
    let site = SiteSpec::generated(250, 4).start();
    let run = site.run(&["scan", "--format", "json"]);
    run.expect_code(0);
    assert_eq!(run.json()["summary"]["list_complete"], true);
    assert!(!run.stderr.contains("listings differed"), "{}", run.stderr);
}

/// The oracle's findings for the fixture files whose path starts with `prefix`, projected.
fn oracle_under(prefix: &str) -> Vec<Value> {
    oracle()["findings"]
        .as_array()
        .expect("oracle findings")
        .iter()
        .filter(|f| f["file"].as_str().is_some_and(|p| p.starts_with(prefix)))
        .map(project)
        .collect()
}

#[test]
fn from_file_table_of_the_fixture_rules() {
    let run = from_file(&["--from-file", "rules", "--format", "text"]);
    run.expect_code(0);
    insta::assert_snapshot!("from_file_rules_table", run.stdout);
}

/// Off a terminal (a pipe, a file) scan prints what a person reads, as gh and kubectl do:
/// `scan | grep dead` greps the text, and JSON is asked for by name. `table`, the text
/// format's old name, is still accepted.
#[test]
fn scan_in_a_pipe_prints_the_text_and_json_only_when_asked() {
    let default = from_file(&["--from-file", "rules"]);
    default.expect_code(0);
    assert!(
        default.stdout.contains("rules read")
            && serde_json::from_str::<Value>(&default.stdout).is_err(),
        "{}",
        default.stdout
    );
    let text = from_file(&["--from-file", "rules", "--format", "text"]);
    let table = from_file(&["--from-file", "rules", "--format", "table"]);
    assert_eq!(default.stdout, text.stdout);
    assert_eq!(default.stdout, table.stdout);
    let json = from_file(&["--from-file", "rules", "--format", "json"]);
    assert!(!findings(&json.json()).is_empty());
}

/// `--format markdown`: the inventory for a change ticket, pinned as people read it.
#[test]
fn from_file_markdown_of_the_fixture_rules() {
    let run = from_file(&["--from-file", "rules", "--format", "markdown"]);
    run.expect_code(0);
    insta::assert_snapshot!("from_file_rules_markdown", run.stdout);
}

/// Every format names a credential with no user alike: another rule's incoming-webhook
/// secret sent in the `X-Automation-Webhook-Token` header is a "webhook secret" in the
/// Markdown report as in the table, and only one in a URL a "webhook URL secret".
#[test]
fn markdown_and_table_name_a_webhook_secret_by_where_it_is() {
    let file = "shapes/webhook-urls-and-placeholders-bare-rule.json";
    let said = |format: &str| {
        let run = from_file(&["--from-file", file, "--format", format]);
        run.expect_code(0);
        let mut names: Vec<String> = run
            .stdout
            .lines()
            .filter(|l| l.contains("secret, not an Atlassian token"))
            .map(|l| l.contains("webhook URL secret").to_string())
            .collect();
        names.sort();
        names
    };
    let table = said("table");
    assert_eq!(table, ["false", "true", "true", "true"]);
    // The Markdown report names each credential twice: in its summary and its details.
    let markdown = said("markdown");
    assert_eq!(
        markdown,
        ["false", "false", "true", "true", "true", "true", "true", "true"]
    );
}

#[test]
fn from_file_csv_of_the_fixture_rules() {
    let run = from_file(&["--from-file", "rules", "--format", "csv"]);
    run.expect_code(0);
    insta::assert_snapshot!("from_file_rules_csv", run.stdout);
}

#[test]
fn from_file_reads_a_ui_export_file_without_any_site() {
    let run = from_file(&["--from-file", "export/ui-export.json", "--format", "json"]);
    run.expect_code(0);
    let report = run.json();
    assert_eq!(report["summary"]["rules_read"], 3);
    let want = oracle_under("export/ui-export.json");
    let got = findings(&report).iter().map(project).collect();
    assert_eq!(sorted(got), sorted(want));
}

#[test]
fn from_file_on_the_rules_directory_matches_the_oracle_literally() {
    // Read from disk, rule 05 holds its literal (the trap applies only to GET).
    let report = from_file(&["--from-file", "rules", "--format", "json"]).json();
    let want = oracle_under("rules/");
    let got = findings(&report).iter().map(project).collect();
    assert_eq!(sorted(got), sorted(want));
    assert_eq!(report["summary"]["rules_read"], 24);
}

/// The rows of `scan --account`: those that name a user, and the others, each checked to
/// be a place that cannot be read and may hold the account's token.
fn named_and_unreadable(rows: &[Value]) -> (Vec<&Value>, Vec<&Value>) {
    let (named, unreadable): (Vec<&Value>, Vec<&Value>) =
        rows.iter().partition(|f| !f["email"].is_null());
    for f in &unreadable {
        assert_eq!(f["cannot_read"], true, "{f:#?}");
        assert_ne!(f["status"], "literal", "{f:#?}");
    }
    (named, unreadable)
}

#[test]
fn account_filter_keeps_one_account_case_insensitively() {
    let report = from_file(&[
        "--from-file",
        "rules",
        "--account",
        "SVC-CI@ACME.example",
        "--format",
        "json",
    ])
    .json();
    let rows = findings(&report);
    let (named, unreadable) = named_and_unreadable(rows);
    assert_eq!(named.len(), 3, "{rows:#?}");
    assert!(named.iter().all(|f| f["email"] == SVC_CI), "{rows:#?}");
    // Every place that may hold its token and cannot be read is kept (issue 18): the
    // managed secret, the masked header and the smart values sent to the site.
    assert_eq!(unreadable.len(), 6, "{rows:#?}");
    // One token, shown plain where it goes to the site and keyed in a lookup table (whose
    // destination the rule does not say; the fixture token is not Atlassian-shaped).
    assert_eq!(
        report["summary"]["credentials"].as_array().map(Vec::len),
        Some(2)
    );
}

#[test]
fn account_filter_applies_over_http_too() {
    let (_, site) = fixture_site();
    let report = scan_json(&site, &["--account", OLD_BOT, "--verify"]);
    let (named, unreadable) = named_and_unreadable(findings(&report));
    assert_eq!(named.len(), 1, "{named:#?}");
    assert_eq!(named[0]["verification"], "dead");
    assert!(!unreadable.is_empty());
    // Filtered-out credentials are not checked either.
    let stats = site.stats();
    assert_eq!(stats.myself(SVC_JIRA).ok + stats.myself(SVC_JIRA).failed, 0);
}

// ------------------------------------------------------------------ 7. usage and login errors

#[test]
fn no_site_is_a_usage_error_with_a_hint() {
    let mut cmd = autorekey();
    cmd.env("AUTOREKEY_LOGIN", "someone@example.com")
        .env("AUTOREKEY_API_TOKEN", common::fake_token())
        .arg("scan");
    let run = run_checked(cmd, &[]);
    run.expect_code(2).expect_error_with_hint();
    assert!(run.stdout.is_empty(), "{}", run.stdout);
}

#[test]
fn an_empty_token_file_is_a_usage_error_and_nothing_is_sent() {
    let (_, site) = fixture_site();
    let empty = site.write_file("empty-token", "\n");
    let mut cmd = site.cmd();
    cmd.env_remove("AUTOREKEY_API_TOKEN")
        .arg("--api-token-file")
        .arg(&empty)
        .arg("scan");
    let run = site.run_cmd(cmd);
    run.expect_code(2);
    assert!(run.stderr.starts_with("Error: "), "{}", run.stderr);
    assert_eq!(site.stats().total_requests, 0);
}

#[test]

fn an_empty_token_file_says_what_to_do() {
    let (_, site) = fixture_site();
    let empty = site.write_file("empty-token", "");
    let mut cmd = site.cmd();
    cmd.env_remove("AUTOREKEY_API_TOKEN")
        .arg("--api-token-file")
        .arg(&empty)
        .arg("scan");
    site.run_cmd(cmd).expect_code(2).expect_error_with_hint();
}

#[test]
fn a_wrong_admin_token_fails_once_with_a_hint_and_is_not_retried() {
    let (_, mut site) = fixture_site();
    let wrong = common::fake_token();
    site.add_secret(wrong.clone());
    let mut cmd = site.cmd();
    cmd.env("AUTOREKEY_API_TOKEN", &wrong).arg("scan");
    let run = site.run_cmd(cmd);
    run.expect_code(1).expect_error_with_hint();
    let stats = site.stats();
    let admin = stats.myself(common::FIXTURE_ADMIN);
    assert_eq!((admin.ok, admin.failed), (0, 1), "{stats:?}");
    assert_eq!(
        stats.endpoint("GET rule/summary") + stats.endpoint("GET rule"),
        0
    );
}

/// `scan --account` shows a raw copy of the account's token (no user named) although that
/// copy shows a keyed fingerprint and the named one a plain fingerprint: tokens are matched
/// as tokens, not by the fingerprint shown.
#[test]
fn scan_account_finds_a_raw_copy_shown_keyed() {
    let path = fixtures_dir().join("rules/01-triage-ack-comment-basic-v1.json");
    let named: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut copy = named.clone();
    copy["rule"]["uuid"] = json!("0190f3a2-5b7c-7d21-8e4f-a1b2c3d4e5aa");
    copy["rule"]["name"] = json!("raw copy");
    copy["rule"]["components"][0]["value"]["headers"][0] =
        json!({"name": "X-Api-Key", "value": "FAKE-svc-jira-OLD-token-1111"});
    let planted = Planted::new(vec![named, copy]);
    let site = planted.site_spec().start();
    let old = planted.fresh("FAKE-svc-jira-OLD-token-1111");

    let report = scan_json(&site, &["--account", SVC_JIRA]);
    let rows: Vec<(&str, &str)> = findings(&report)
        .iter()
        .map(|r| {
            (
                r["rule_name"].as_str().unwrap(),
                r["fingerprint"].as_str().unwrap(),
            )
        })
        .collect();
    let plain = autorekey::secret::Fingerprint::of(&old).to_string();
    let keyed = common::keyed_fingerprint(&old).to_string();
    assert!(rows.iter().any(|(_, fp)| *fp == plain), "{rows:?}");
    assert!(rows.contains(&("raw copy", keyed.as_str())), "{rows:?}");
}

#[test]
fn masking_every_hidden_value_turns_hidden_literals_into_masked_findings() {
    let planted = Planted::fixtures();
    let site = planted
        .site_spec()
        .with(|c| c.trap_mask_hidden = RuleSelection::All)
        .start();
    let report = scan_json(&site, &[]);
    let hidden: Vec<&Value> = findings(&report)
        .iter()
        .filter(|f| f["hidden"] == true)
        .collect();
    assert!(!hidden.is_empty());
    assert!(
        hidden.iter().all(|f| f["status"] == "masked"),
        "{hidden:#?}"
    );
}

// ------------------------------------------------------------------ 7. every file shape

/// An ATSTT-shaped token made at run time (a real-looking one is never committed).
fn runtime_atstt() -> String {
    format!(
        "ATSTT{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

fn fingerprint_of(token: &str) -> String {
    hex::encode(sha2::Sha256::digest(token.as_bytes()))[..12].to_string()
}

#[test]
fn from_file_reads_a_bare_rule_object_like_a_terraform_golden_file() {
    let run = from_file(&[
        "--from-file",
        "shapes/terraform-golden-bare-rule.json",
        "--format",
        "json",
    ]);
    run.expect_code(0);
    let report = run.json();
    assert_eq!(report["summary"]["rules_read"], 1);
    let rows = findings(&report);
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(
        rows[0]["email"],
        "automation-bot-a1b2c3@serviceaccount.atlassian.com"
    );
    assert_eq!(rows[0]["scheme"], "basic");
    assert_eq!(
        rows[0]["fingerprint"],
        json!(fingerprint_of("ATSTTfake-not-a-real-token-0001"))
    );
}

#[test]
fn from_file_reads_every_real_shape_and_lists_what_it_skipped() {
    let user = "bot-7@serviceaccount.atlassian.com";
    let token = runtime_atstt();
    let rule = |name: &str| bare_rule(name, user, &token);
    let dir = tempfile::tempdir().expect("a temp dir");
    let write = |name: &str, text: String| std::fs::write(dir.path().join(name), text).unwrap();
    write("a-bare.JSON", rule("bare").to_string());
    write(
        "b-bom.json",
        format!("\u{FEFF}{}", json!({"rule": rule("bom")})),
    );
    write(
        "c-lines.ndjson",
        format!("{}\n{}\n", rule("nd1"), json!({"rule": rule("nd2")})),
    );
    write(
        "d-data.json",
        json!({"data": [rule("data")], "links": {}}).to_string(),
    );
    write(
        "e-values.json",
        json!({"values": [rule("values")]}).to_string(),
    );
    write(
        "f-array.json",
        json!([{"cloud": true, "rules": [rule("exp")]}, rule("arr")]).to_string(),
    );
    write("g-notes.txt", "not rules".into());
    write("h-settings.json", json!({"theme": "dark"}).to_string());
    std::fs::create_dir(dir.path().join("i-sub")).unwrap();
    let secrets = vec![token.clone()];
    let scan = |extra: &[&str]| {
        let mut cmd = autorekey();
        cmd.args(["scan", "--format", "json", "--from-file"])
            .arg(dir.path())
            .args(extra);
        run_checked(cmd, &secrets)
    };

    let run = scan(&[]);
    run.expect_code(0);
    let report = run.json();
    let mut names: Vec<&str> = findings(&report)
        .iter()
        .map(|r| r["rule_name"].as_str().unwrap())
        .collect();
    names.sort_unstable();
    assert_eq!(
        names,
        ["arr", "bare", "bom", "data", "exp", "nd1", "nd2", "values"]
    );
    assert!(findings(&report)
        .iter()
        .all(|r| r["email"] == user && r["fingerprint"] == json!(fingerprint_of(&token))));
    let skipped: Vec<&str> = report["skipped_files"]
        .as_array()
        .expect("skipped_files")
        .iter()
        .map(|s| s["path"].as_str().unwrap().rsplit('/').next().unwrap())
        .collect();
    assert_eq!(skipped, ["g-notes.txt", "h-settings.json", "i-sub"]);
    for name in skipped {
        assert!(run.stderr.contains(name), "{}", run.stderr);
    }

    // In CI, any --fail-on (or --fail-on skipped alone) fails on a skipped file.
    scan(&["--fail-on", "skipped"]).expect_code(3);
    scan(&["--fail-on", "unreadable"]).expect_code(3);
}

#[test]
fn from_file_on_a_file_of_another_shape_is_an_error_naming_it() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let path = dir.path().join("settings.json");
    std::fs::write(&path, json!({"theme": "dark"}).to_string()).unwrap();
    let mut cmd = autorekey();
    cmd.args(["scan", "--format", "json", "--from-file"])
        .arg(&path);
    let run = run_checked(cmd, &[]);
    // A mistake in the input: exit 2, as every file mistake is.
    run.expect_code(2);
    assert!(run.stderr.contains("settings.json"), "{}", run.stderr);
    assert!(run.stderr.contains("not a rule"), "{}", run.stderr);
}

#[test]
fn from_file_finds_credentials_wherever_they_hide() {
    use base64::Engine as _;
    let (user, token, raw) = (
        "svc@hide.example",
        runtime_atstt(),
        format!("ATATT3{}", uuid::Uuid::new_v4().simple()),
    );
    let bare = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{token}"));
    let hook = uuid::Uuid::new_v4().simple().to_string();
    let teams =
        format!("https://acme.webhook.office.com/webhookb2/{hook}@{hook}/IncomingWebhook/{hook}");
    let rule = json!({"name": "hidden", "trigger": {"type": "jira.manual.trigger.issue"},
        "components": [
            {"id": "1", "type": "jira.create.variable",
             "value": {"name": {"value": "auth"}, "query": {"value": bare}}},
            {"id": "2", "type": "jira.issue.outgoing.webhook",
             "value": {"url": "{{baseUrl}}/rest/api/3/issue", "headers": [
                 {"name": "Authorization", "value": "Basic {{auth}}"},
                 {"name": "X-Partner", "value": "{{secrets.partner}}"}]}},
            {"id": "3", "type": "jira.issue.comment", "value": {"comment": format!("old key {raw}")}},
            {"id": "4", "type": "jira.issue.outgoing.webhook",
             "value": {"url": teams, "headers": []}}]});
    let dir = tempfile::tempdir().expect("a temp dir");
    let path = dir.path().join("rule.json");
    std::fs::write(&path, rule.to_string()).unwrap();
    let mut cmd = autorekey();
    cmd.args(["scan", "--format", "json", "--from-file"])
        .arg(&path);
    let run = run_checked(cmd, &[token.clone(), raw.clone(), bare, hook]);
    run.expect_code(0);
    let report = run.json();
    let got: Vec<(String, String, String)> = findings(&report)
        .iter()
        .map(|r| {
            (
                r["component_id"].as_str().unwrap().to_string(),
                r["scheme"].as_str().unwrap().to_string(),
                r["status"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let want = |id: &str, scheme: &str, status: &str| (id.into(), scheme.into(), status.into());
    assert_eq!(
        sorted_tuples(got),
        sorted_tuples(vec![
            want("1", "basic", "literal"),
            want("2", "basic", "dynamic"),
            want("2", "unknown", "dynamic"),
            want("3", "token", "literal"),
            want("4", "webhook", "literal"),
        ])
    );
    let basic = findings(&report)
        .iter()
        .find(|r| r["component_id"] == "1")
        .unwrap();
    assert_eq!(basic["email"], user);
    assert_eq!(basic["fingerprint"], json!(fingerprint_of(&token)));
}

fn sorted_tuples<T: Ord>(mut v: Vec<T>) -> Vec<T> {
    v.sort();
    v
}

#[test]
fn from_file_on_the_shapes_directory_matches_the_oracle() {
    let run = from_file(&["--from-file", "shapes", "--format", "json"]);
    run.expect_code(0);
    let report = run.json();
    let want = oracle_under("shapes/");
    let got = findings(&report).iter().map(project).collect();
    assert_eq!(sorted(got), sorted(want));
    assert_eq!(report["skipped_files"], json!([]));
}

#[test]
fn from_file_table_of_the_shapes_fixtures() {
    let run = from_file(&["--from-file", "shapes", "--format", "text"]);
    run.expect_code(0);
    insta::assert_snapshot!("from_file_shapes_table", run.stdout);
}

// ------------------------------------------------------------------ 8. issue 18: hiding places

/// A bare rule holding one Send web request to `url` with `headers`.
fn request_rule(name: &str, url: &str, headers: Value) -> Value {
    json!({"name": name, "state": "ENABLED",
        "trigger": {"component": "TRIGGER", "type": "jira.manual.trigger.issue", "value": {}},
        "components": [{"component": "ACTION", "type": "jira.issue.outgoing.webhook",
            "value": {"url": url, "method": "POST", "headers": headers}}]})
}

/// `scan --from-file DIR` with `extra`, checked for every secret given.
fn scan_dir(dir: &std::path::Path, extra: &[&str], secrets: &[String]) -> RunOutput {
    let mut cmd = autorekey();
    cmd.args(["scan", "--from-file"]).arg(dir).args(extra);
    run_checked(cmd, secrets)
}

/// The done-when of issue 18's hiding places: a mixed directory (public templates beside
/// real exports) reports other rules' webhook secrets in URLs, every form, and no
/// placeholder as a literal; `--fail-on literal` fails on the secrets, never on the
/// placeholders; every finding names its file.
#[test]
fn a_mixed_directory_reports_webhook_secrets_in_urls_and_no_placeholder_as_literal() {
    let secret = || format!("{}{}", uuid::Uuid::new_v4().simple(), "0a1b2c3d");
    let (cloud, dc, newer) = (secret(), secret(), secret());
    let dir = tempfile::tempdir().expect("a temp dir");
    let write = |name: &str, rules: Vec<Value>| {
        std::fs::write(dir.path().join(name), Value::Array(rules).to_string()).unwrap()
    };
    write(
        "chained.json",
        vec![
            request_rule(
                "cloud",
                &format!("https://automation.atlassian.com/pro/hooks/{cloud}"),
                json!([]),
            ),
            request_rule(
                "dc",
                &format!("{{{{baseUrl}}}}/rest/cb-automation/latest/hooks/{dc}"),
                json!([]),
            ),
            request_rule(
                "newer",
                &format!(
                    "https://api-private.atlassian.com/automation/webhooks/jira/a/0a1b2c3d-4e5f/{newer}"
                ),
                json!([]),
            ),
        ],
    );
    let placeholders = vec![request_rule(
        "template",
        "https://api.github.com/repos/acme/app/dispatches?token=REPLACE_ME",
        json!([
            {"name": "Authorization", "value": "Bearer YOUR_GITHUB_PAT_WITH_REPO_SCOPE"},
            {"name": "X-Api-Key", "value": "<your-token>"},
            {"name": "X-Auth-Token", "value": "${TOKEN}"},
            {"name": "X-Secret", "value": "xxxxxxxxxxxxxxxx…"},
            {"name": "X-Password", "value": "changeme"},
            {"name": "X-Other-Token", "value": "TODO"}
        ]),
    )];
    write("template.json", placeholders);
    let secrets = vec![cloud.clone(), dc.clone(), newer.clone()];

    let run = scan_dir(dir.path(), &["--format", "json"], &secrets);
    run.expect_code(0);
    let report = run.json();
    let rows = findings(&report);
    let file_of = |r: &Value| {
        let path = r["file"].as_str().expect("a file on every finding");
        path.rsplit('/').next().unwrap().to_owned()
    };
    let webhooks: Vec<&Value> = rows.iter().filter(|r| r["scheme"] == "webhook").collect();
    assert_eq!(webhooks.len(), 3, "{rows:#?}");
    for r in &webhooks {
        assert_eq!(r["status"], "literal");
        assert_eq!(r["location"], "url");
        assert!(r["fingerprint"].as_str().unwrap().starts_with("k:"), "{r}");
        assert_eq!(file_of(r), "chained.json");
    }
    let in_template: Vec<&Value> = rows
        .iter()
        .filter(|r| file_of(r) == "template.json")
        .collect();
    assert_eq!(in_template.len(), 7, "{rows:#?}");
    assert!(in_template
        .iter()
        .all(|r| r["status"] == "placeholder" && r["fingerprint"].is_null()));
    assert_eq!(report["summary"]["by_status"]["placeholder"], 7);
    assert_eq!(
        report["summary"]["credentials"].as_array().unwrap().len(),
        3
    );

    // The file is named in CSV and in the table too.
    let csv = scan_dir(dir.path(), &["--format", "csv"], &secrets);
    let mut lines = csv.stdout.lines();
    let header = csv_cells(lines.next().expect("a header"));
    let at = header
        .iter()
        .position(|h| h == "file")
        .expect("a file column");
    assert!(
        lines.all(|l| csv_cells(l)[at].ends_with(".json")),
        "{}",
        csv.stdout
    );
    let table = scan_dir(dir.path(), &["--format", "table"], &secrets);
    assert!(table.stdout.contains("chained.json"), "{}", table.stdout);
    assert!(table.stdout.contains("Placeholders"), "{}", table.stdout);

    scan_dir(dir.path(), &["--fail-on", "literal"], &secrets).expect_code(3);
    let template_only = dir.path().join("template.json");
    let mut cmd = autorekey();
    cmd.args(["scan", "--fail-on", "literal", "--from-file"])
        .arg(&template_only);
    run_checked(cmd, &secrets).expect_code(0);
}

/// Two id-less rules from two files are two rules in the summary (once per file), and one
/// credential whose email is written in two cases is one credential, shown once with the
/// other spelling named. Counts of one are singular.
#[test]
fn id_less_rules_count_once_per_file_and_one_credential_is_one_whatever_its_case() {
    let token = runtime_atstt();
    let dir = tempfile::tempdir().expect("a temp dir");
    let write =
        |name: &str, rule: Value| std::fs::write(dir.path().join(name), rule.to_string()).unwrap();
    write("a.json", bare_rule("same", "SVC-Jira@Corp.example", &token));
    write("b.json", bare_rule("same", "svc-jira@corp.example", &token));
    let secrets = vec![token.clone()];
    let report = scan_dir(dir.path(), &["--format", "json"], &secrets).json();
    let credentials = report["summary"]["credentials"].as_array().unwrap();
    assert_eq!(credentials.len(), 1, "{credentials:#?}");
    assert_eq!(credentials[0]["rules"], 2, "{credentials:#?}");
    assert_eq!(credentials[0]["places"], 2);
    assert_eq!(report["summary"]["rules_with_credentials"], 2);
    let spellings = [
        credentials[0]["email"].as_str().unwrap(),
        credentials[0]["other_spellings"][0].as_str().unwrap(),
    ];
    assert_eq!(
        BTreeSet::from(spellings),
        BTreeSet::from(["SVC-Jira@Corp.example", "svc-jira@corp.example"])
    );
    let table = scan_dir(dir.path(), &["--format", "table"], &secrets).stdout;
    assert_eq!(table.matches("(basic, 2 places)").count(), 1, "{table}");
    assert!(table.contains("(also written "), "{table}");
    assert!(
        table.contains("2 rules read, 2 with credentials; 2 findings, 1 distinct credential."),
        "{table}"
    );

    std::fs::remove_file(dir.path().join("b.json")).unwrap();
    let table = scan_dir(dir.path(), &["--format", "table"], &secrets).stdout;
    assert!(
        table.contains("1 rule read, 1 with credentials; 1 finding, 1 distinct credential."),
        "{table}"
    );
}

/// `scan --account` keeps an ownerless Bearer value sent to the site (it may be the
/// account's token, as `revoke` holds), not one sent to another service.
#[test]
fn scan_account_keeps_an_ownerless_bearer_sent_to_the_site() {
    let (token, site_bearer, other_bearer) = (
        common::fake_token(),
        common::fake_token(),
        common::fake_token(),
    );
    let dir = tempfile::tempdir().expect("a temp dir");
    let rules = json!([
        bare_rule("named", SVC_JIRA, &token),
        request_rule(
            "site",
            "{{baseUrl}}/rest/api/3/issue",
            json!([{"name": "Authorization", "value": format!("Bearer {site_bearer}")}])
        ),
        request_rule(
            "github",
            "https://api.github.com/repos/acme/app/dispatches",
            json!([{"name": "Authorization", "value": format!("Bearer {other_bearer}")}])
        ),
    ]);
    std::fs::write(dir.path().join("rules.json"), rules.to_string()).unwrap();
    let secrets = vec![token, site_bearer, other_bearer];
    let report = scan_dir(
        dir.path(),
        &["--account", SVC_JIRA, "--format", "json"],
        &secrets,
    )
    .json();
    let names: BTreeSet<&str> = findings(&report)
        .iter()
        .filter_map(|r| r["rule_name"].as_str())
        .collect();
    assert_eq!(names, BTreeSet::from(["named", "site"]), "{report:#}");
}

/// A HOME where nothing can be made (a CI sandbox, a read-only home: here, a path under a
/// plain file, which stops root too) does not stop a scan: without a machine key the keyed
/// fingerprints show as unknown, said once.
#[test]
fn a_scan_with_a_home_it_cannot_write_runs_and_says_so_once() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let blocker = dir.path().join("a-file");
    std::fs::write(&blocker, "").expect("write");
    let home = blocker.join("home");
    let mut cmd = autorekey();
    cmd.env_remove("AUTOREKEY_FINGERPRINT_KEY")
        .env_remove("XDG_DATA_HOME")
        .env("HOME", &home)
        .args(["scan", "--format", "json", "--from-file"])
        .arg(fixtures_dir().join("rules"));
    let out = run_checked(cmd, &fixture_secret_values());
    out.expect_code(0);
    let warnings = out.stderr.matches("Warning: ").count();
    assert_eq!(warnings, 1, "{}", out.stderr);
    assert!(out.stderr.contains("k:????????????"), "{}", out.stderr);
    assert!(out.stdout.contains("k:????????????"), "{}", out.stdout);
}

#[test]
fn scoped_and_service_account_tokens_are_verified_through_the_gateway_once_per_form() {
    let (live, dead, carol, bot, limited) = (
        fake_token(),
        fake_token(),
        fake_token(),
        fake_token(),
        fake_token(),
    );
    let site = site(
        vec![
            web_request_to(1, "{{baseUrl}}/rest/api/3/issue", ALICE, &live),
            web_request_to(2, "{{baseUrl}}/rest/api/3/issue", ALICE, &dead),
            web_request_to(3, &gateway_url("rest/api/3/issue"), CAROL, &carol),
            web_request_to(4, &gateway_url("rest/api/3/issue"), BOT, &bot),
            web_request_to(5, "{{baseUrl}}/rest/api/3/search", NO_ME, &limited),
        ],
        vec![
            account(ALICE, false, &[&live], &[&dead]),
            account(CAROL, false, &[], &[]),
            account(BOT, false, &[], &[]),
            account(NO_ME, false, &[], &[]),
        ],
        vec![
            scoped(CAROL, &carol, true),
            scoped(BOT, &bot, true),
            scoped(NO_ME, &limited, false),
        ],
    );
    let out = run_with_gateway(&site, &["scan", "--verify", "--format", "json"], None);
    out.expect_code(0);
    let report = out.json();

    assert_eq!(verdict(&report, 1).0, "live");
    let (v, detail) = verdict(&report, 2);
    assert_eq!(v, "dead", "{detail}");
    assert!(
        detail.contains("/ex/jira/"),
        "both forms were tried: {detail}"
    );
    let (v, detail) = verdict(&report, 3);
    assert_eq!(
        (v.as_str(), detail.contains("/ex/jira/")),
        ("live", true),
        "{detail}"
    );
    assert_eq!(verdict(&report, 4).0, "live");
    let (v, detail) = verdict(&report, 5);
    assert_eq!(v, "live", "scope does not match is not dead: {detail}");
    assert!(detail.contains("read:jira-user"), "{detail}");
    // Rule 5 sends that gateway-only token to the site itself: its requests fail.
    assert!(detail.contains("--rewrite-urls"), "{detail}");
    assert!(!verdict(&report, 4).1.contains("--rewrite-urls"));

    let stats = site.stats();
    // A service account's token is never sent to the site, which would count a failure.
    for svc in [BOT, NO_ME] {
        assert_eq!(stats.myself(svc).ok + stats.myself(svc).failed, 0, "{svc}");
    }
    assert_eq!(stats.gateway(BOT).ok, 1);
    // A person's scoped token: refused once by the site, then accepted by the gateway.
    assert_eq!(
        (stats.myself(CAROL).failed, stats.gateway(CAROL).ok),
        (1, 1)
    );
    // A dead token: one try per form, never a retry.
    assert_eq!(stats.gateway(ALICE).failed, 1);
    assert_eq!(stats.myself(ALICE).failed, 1);
}

#[test]
fn product_confluence_logs_in_and_verifies_through_confluence_endpoints() {
    let bot = fake_token();
    // A Confluence rule: each product's API serves its own rules.
    let mut rule = web_request_to(1, "{{baseUrl}}/wiki/rest/api/content", BOT, &bot);
    rule["sandbox"] = serde_json::json!({"product": "confluence"});
    let site = site(
        vec![rule],
        vec![account(BOT, false, &[], &[])],
        vec![scoped(BOT, &bot, true)],
    );
    let out = run_with_gateway(
        &site,
        &[
            "--product",
            "confluence",
            "scan",
            "--verify",
            "--format",
            "json",
        ],
        None,
    );
    out.expect_code(0);
    let (v, detail) = verdict(&out.json(), 1);
    assert_eq!(v, "live", "{detail}");
    assert!(
        detail.contains(&format!(
            "/ex/confluence/{CLOUD}/wiki/rest/api/user/current"
        )),
        "{detail}"
    );
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
