//! Scan helpers: the fixture site, its JSON findings and the fingerprints a run printed,
//! and `--from-file` runs on rule files.

use crate::common::{
    autorekey, fixture_secret_values, fixtures_dir, run_checked, Planted, RunOutput, TestSite,
};
use serde_json::{json, Value};

pub(crate) const SVC_JIRA: &str = "svc-jira@acme.example";

pub(crate) fn findings(report: &Value) -> &Vec<Value> {
    report["findings"].as_array().expect("a findings array")
}

/// `scan --format json` against `site`, expected to succeed.
pub(crate) fn scan_json(site: &TestSite, extra: &[&str]) -> Value {
    let mut args = vec!["scan", "--format", "json"];
    args.extend_from_slice(extra);
    let run = site.run(&args);
    run.expect_code(0);
    run.json()
}

pub(crate) fn fixture_site() -> (Planted, TestSite) {
    let planted = Planted::fixtures();
    let site = planted.site_spec().start();
    (planted, site)
}

// ------------------------------------------------------------------ 6. --from-file

pub(crate) fn from_file(args: &[&str]) -> RunOutput {
    let mut cmd = autorekey();
    cmd.current_dir(fixtures_dir()).arg("scan").args(args);
    run_checked(cmd, &fixture_secret_values())
}

// ------------------------------------------------------------------ 8. fingerprint

/// The first word of each line `autorekey fingerprint` prints: plain, then keyed.
pub(crate) fn printed_fingerprints(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

/// A bare rule object (no envelope) holding `Basic base64(user:token)`.
pub(crate) fn bare_rule(name: &str, user: &str, token: &str) -> Value {
    use base64::Engine as _;
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{token}"));
    json!({"name": name, "state": "ENABLED",
        "trigger": {"component": "TRIGGER", "type": "jira.manual.trigger.issue", "value": {}},
        "components": [{"component": "ACTION", "type": "jira.issue.outgoing.webhook",
            "value": {"url": "https://x.atlassian.net/rest/api/3/issue", "method": "POST",
                "headers": [{"name": "Authorization", "value": format!("Basic {basic}")}]}}]})
}
