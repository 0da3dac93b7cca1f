//! Helpers for the verdict tests of `rotate`, `apply` and `restore`: an old and a new
//! token, svc-jira's rules, `apply`, the revoke line, a slow site and a rotation beside
//! rules it cannot read.

use crate::common;
use crate::common::{RunOutput, TestSite};
use crate::rotate_support::*;
use autorekey::secret::Fingerprint;
use std::path::Path;

pub(crate) fn fp(token: &str) -> String {
    Fingerprint::of(token).to_string()
}

/// svc-jira's old token (in the rules) and its new one, as planted.
pub(crate) fn old_and_new(planted: &common::Planted) -> (String, String) {
    (
        planted.fresh(SVC_JIRA_OLD_FIXTURE),
        planted.fresh(SVC_JIRA_NEW_FIXTURE),
    )
}

/// The summary's last line when the old token may be revoked.
pub(crate) fn revoke_line(old: &str, new: &str) -> String {
    format!(
        "Keep the new token {}; revoke the old {}.",
        fp(new),
        fp(old)
    )
}

/// The pointer of svc-jira's credential in a copy of fixture 01 (`rule` is its body).
pub(crate) fn svc_jira_pointer(rule: &serde_json::Value) -> String {
    autorekey::detect::detect(rule)
        .into_iter()
        .find(|f| f.user.as_deref() == Some(SVC_JIRA))
        .expect("fixture 01 holds svc-jira's credential")
        .pointer
}

/// `apply PLAN --yes` with `new_token` in the environment.
pub(crate) fn apply(site: &TestSite, new_token: &str, plan: &Path, backups: &Path) -> RunOutput {
    let mut cmd = site.cmd();
    cmd.env("AUTOREKEY_NEW_TOKEN", new_token)
        .arg("apply")
        .arg(plan)
        .args(["--yes", "--backup-dir"])
        .arg(backups);
    site.run_cmd(cmd)
}

/// A site of 20 rules that answers slowly, so a rotation is still writing when a second
/// run starts: the site, its rules before, svc-jira's new token, the backup root.
pub(crate) fn slow_site() -> (
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

/// A site of fixture 01 once plus once per value of `others`, each such copy holding that
/// value where svc-jira's credential was, after `rotate --yes` of svc-jira: the site, the
/// new token and the rotation's output.
pub(crate) fn rotated_beside(others: &[&str]) -> (TestSite, String, RunOutput) {
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
