//! `autorekey fingerprint`: a token read from stdin or a file shown as its fingerprints,
//! matching what `scan` reports.
//!
//! Elsewhere: the hidden prompt `fingerprint` asks on a terminal, and the keyed
//! fingerprint's key files: test_security; `--fingerprint` selecting old tokens:
//! test_rotate_command.

use crate::common;
use crate::common::scan::{findings, fixture_site, printed_fingerprints, scan_json, SVC_JIRA};
use crate::common::{autorekey, run_checked};
use serde_json::Value;
use sha2::Digest as _;

#[test]
fn fingerprint_of_stdin_is_the_sha256_prefix_then_the_keyed_one() {
    let token = common::fake_token();
    let want = hex::encode(sha2::Sha256::digest(token.as_bytes()))[..12].to_owned();
    let keyed = common::keyed_fingerprint(&token).to_string();
    for input in [token.clone(), format!("{token}\n")] {
        let mut cmd = autorekey();
        cmd.arg("fingerprint").write_stdin(input);
        let run = run_checked(cmd, std::slice::from_ref(&token));
        run.expect_code(0);
        assert_eq!(
            printed_fingerprints(&run.stdout),
            [want.clone(), keyed.clone()]
        );
        assert!(
            run.stdout.lines().all(|l| l.contains(" as ")),
            "{}",
            run.stdout
        );
    }
    // The key decides the keyed form: another team key, another fingerprint.
    let mut cmd = autorekey();
    cmd.env("AUTOREKEY_FINGERPRINT_KEY", "another-team-key-0123456789")
        .arg("fingerprint")
        .write_stdin(token.clone());
    let run = run_checked(cmd, std::slice::from_ref(&token));
    let printed = printed_fingerprints(&run.stdout);
    assert_eq!(printed[0], want);
    assert!(
        printed[1].starts_with("k:") && printed[1] != keyed,
        "{printed:?}"
    );
}

#[test]
fn fingerprint_matches_what_scan_reports() {
    let (planted, site) = fixture_site();
    let report = scan_json(&site, &["--account", SVC_JIRA]);
    let mut cmd = autorekey();
    cmd.arg("fingerprint")
        .write_stdin(planted.fresh("FAKE-svc-jira-OLD-token-1111"));
    let run = site.run_cmd(cmd);
    run.expect_code(0);
    let printed = printed_fingerprints(&run.stdout);
    let fp = printed[0].as_str();
    assert!(
        findings(&report)
            .iter()
            .any(|f| f["fingerprint"] == fp && f["status"] == "literal"),
        "{fp} not in the scan"
    );
    // Its keyed form is printed too: the form of the places that do not send it to an
    // Atlassian host (a variable, a relay's body), and of no other.
    assert_eq!(
        printed[1],
        common::keyed_fingerprint(&planted.fresh("FAKE-svc-jira-OLD-token-1111")).as_str()
    );
    let keyed: Vec<&Value> = findings(&report)
        .iter()
        .filter(|f| f["fingerprint"] == printed[1])
        .collect();
    assert!(!keyed.is_empty());
    assert!(
        keyed
            .iter()
            .all(|f| f["location"] == "variable" || f["location"] == "body"),
        "{keyed:#?}"
    );
}

#[test]
fn fingerprint_of_nothing_is_a_usage_error() {
    let mut cmd = autorekey();
    cmd.arg("fingerprint").write_stdin("  \n");
    run_checked(cmd, &[])
        .expect_code(2)
        .expect_error_with_hint();
}
