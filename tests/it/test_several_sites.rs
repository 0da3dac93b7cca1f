//! Several sites and products across commands, end to end: the real binary against a
//! sandbox org of two sites (fixtures/org-sites: each site with Jira and Confluence rules,
//! user and service-account tokens), or two sandbox sites with the same rule ids.
//!
//! Here: `scan --org` and a sites file read every site/product pair into one inventory, a
//! site refusing the login is named and the scan incomplete; one `rotate` over both sites
//! gives one journal and one verdict, holds it back while a site's list is incomplete,
//! writes nothing anywhere when a site refuses the new token or holds a lock, asks one
//! question for the same change on both; `restore` of that run puts each rule back on its
//! own site; `revoke` reads every site named.
//!
//! Elsewhere: each command on one site: test_<command>_command.

use crate::common::snapshot::{normalized, normalized_naming};
use crate::common::{
    autorekey, fake_token, fixtures_dir, run_checked, Planted, RunOutput, SiteSpec, TestSite,
};
use crate::rotate_support::*;
use autorekey::sandbox::{
    load_accounts_file, load_directory, load_rules_dir, Sandbox, SandboxConfig,
};
use autorekey::secret::{Credential, Token};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

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
fn at_a_terminal(planted: &Planted, a: &TestSite, b: &TestSite) -> crate::common::terminal::Screen {
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
    crate::common::terminal::Screen::spawn(cmd)
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

const ORG: &str = "4b7e2c1d-9a3f-4e5b-8c6d-1f2e3a4b5c6d";
const ADMIN: &str = "admin@acme.example";
const CI_BOT: &str = "ci-bot@serviceaccount.atlassian.com";

/// The two-site org, running.
struct OrgSites {
    // Before `_rt`: the servers stop before their runtime goes away.
    sites: Vec<Sandbox>,
    _rt: tokio::runtime::Runtime,
    admin_token: String,
    org_key: String,
    /// Every token and key, fresh and fixture values alike.
    secrets: Vec<String>,
    /// Each fixture token with the fresh one that replaced it.
    fresh: Vec<(String, String)>,
    dir: tempfile::TempDir,
}

/// fixtures/org-sites with every token and the org key replaced by fresh fake ones (in
/// rules as `base64(email:token)` too), as files in `dir`.
fn plant(dir: &Path) -> (PathBuf, PathBuf, Vec<(String, String)>) {
    let root = fixtures_dir().join("org-sites");
    let accounts: Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("accounts.json")).unwrap())
            .unwrap();
    let mut pairs: Vec<(Option<String>, String)> = Vec::new();
    for a in accounts["accounts"].as_array().unwrap() {
        for t in a["tokens"].as_array().unwrap() {
            pairs.push((
                a["email"].as_str().map(str::to_owned),
                t.as_str().unwrap().into(),
            ));
        }
    }
    for s in accounts["scoped_tokens"].as_array().unwrap() {
        pairs.push((
            s["email"].as_str().map(str::to_owned),
            s["token"].as_str().unwrap().into(),
        ));
    }
    pairs.push((None, accounts["org"]["api_key"].as_str().unwrap().into()));
    let fresh: Vec<(String, String)> = pairs
        .iter()
        .map(|(_, t)| (t.clone(), fake_token()))
        .collect();
    let swap = |text: String| {
        pairs
            .iter()
            .zip(&fresh)
            .fold(text, |text, ((user, old), (_, new))| {
                let text = match user {
                    Some(u) => {
                        let basic =
                            |t: &str| Credential::new(u.as_str(), Token::new(t)).basic_value();
                        text.replace(&basic(old), &basic(new))
                    }
                    None => text,
                };
                text.replace(old.as_str(), new)
            })
    };
    let accounts_file = dir.join("accounts.json");
    std::fs::write(&accounts_file, swap(accounts.to_string())).unwrap();
    let rules = dir.join("rules");
    std::fs::create_dir(&rules).unwrap();
    for entry in std::fs::read_dir(root.join("rules")).unwrap() {
        let path = entry.unwrap().path();
        let text = swap(std::fs::read_to_string(&path).unwrap());
        std::fs::write(rules.join(path.file_name().unwrap()), text).unwrap();
    }
    (accounts_file, rules, fresh)
}

impl OrgSites {
    fn start() -> OrgSites {
        OrgSites::start_with(|_| {})
    }

    /// The org with its planted accounts file changed by `edit` first (a variant written
    /// to the temp dir; the fixture stays as it is).
    fn start_with(edit: impl FnOnce(&mut Value)) -> OrgSites {
        let dir = tempfile::tempdir().unwrap();
        let (accounts, rules, fresh) = plant(dir.path());
        let mut planted: Value =
            serde_json::from_str(&std::fs::read_to_string(&accounts).unwrap()).unwrap();
        edit(&mut planted);
        std::fs::write(&accounts, planted.to_string()).unwrap();
        let config = SandboxConfig {
            rules: load_rules_dir(&rules).unwrap(),
            accounts: load_accounts_file(&accounts).unwrap(),
            directory: load_directory(&accounts).unwrap(),
            ..SandboxConfig::default()
        };
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let sites = rt.block_on(Sandbox::start_sites(config, 2)).unwrap();
        let fresh_of = |fixture: &str| fresh_of(&fresh, fixture);
        OrgSites {
            sites,
            _rt: rt,
            admin_token: fresh_of("orgsites-admin-token"),
            org_key: fresh_of("orgsites-org-admin-api-key"),
            secrets: fresh
                .iter()
                .flat_map(|(a, b)| [a.clone(), b.clone()])
                .collect(),
            fresh,
            dir,
        }
    }

    /// The fresh token that replaced the fixture token `fixture`.
    fn token(&self, fixture: &str) -> String {
        fresh_of(&self.fresh, fixture)
    }

    fn url(&self, n: usize) -> String {
        self.sites[n].base_url()
    }

    /// The binary as the org's admin, the org key in its environment variable.
    fn run(&self, args: &[&str]) -> RunOutput {
        let mut cmd = autorekey();
        cmd.env("AUTOREKEY_LOGIN", ADMIN)
            .env("AUTOREKEY_API_TOKEN", &self.admin_token)
            .env("AUTOREKEY_ORG_API_KEY", &self.org_key)
            .env("XDG_DATA_HOME", self.dir.path().join("data"))
            .args(args);
        run_checked(cmd, &self.secrets)
    }

    /// `scan --org` with no site: the org's sites from its workspaces list.
    fn scan_org(&self, more: &[&str]) -> RunOutput {
        let gateway = self.url(0);
        let mut args = vec!["scan", "--org", ORG, "--org-gateway", &gateway];
        args.extend(more);
        self.run(&args)
    }
}

fn fresh_of(fresh: &[(String, String)], fixture: &str) -> String {
    fresh
        .iter()
        .find(|(old, _)| old.contains(fixture))
        .unwrap()
        .1
        .clone()
}

/// Each target of the summary as `SITE PRODUCT`.
fn covered(report: &Value) -> Vec<String> {
    report["summary"]["targets"]
        .as_array()
        .expect("a list of targets")
        .iter()
        .map(|t| {
            format!(
                "{} {}",
                t["site"].as_str().unwrap(),
                t["product"].as_str().unwrap()
            )
        })
        .collect()
}

#[test]
fn scan_org_reads_every_site_and_product_of_the_org_and_fails_on_the_expiring_service_account() {
    let org = OrgSites::start();
    let (one, two) = (org.url(0), org.url(1));
    let out = org.scan_org(&["--format", "json"]);
    out.expect_code(0);
    let report = out.json();
    assert_eq!(
        covered(&report),
        [
            format!("{one} jira"),
            format!("{one} confluence"),
            format!("{two} jira"),
            format!("{two} confluence"),
        ],
        "{}",
        out.stderr
    );
    assert!(report["summary"]["targets"]
        .as_array()
        .unwrap()
        .iter()
        .all(|t| t["error"].is_null() && t["rules_failed"] == 0));
    assert_eq!(report["summary"]["rules_read"], 5);
    // Every row names where it is: the one token on two sites' Confluence is one credential.
    let places: Vec<(String, String, String)> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let s = |k: &str| r[k].as_str().unwrap_or_default().to_owned();
            (s("email"), s("site"), s("product"))
        })
        .collect();
    assert!(
        places.contains(&(CI_BOT.into(), one.clone(), "confluence".into())),
        "{places:?}"
    );
    assert!(
        places.contains(&(CI_BOT.into(), two.clone(), "confluence".into())),
        "{places:?}"
    );
    assert!(places.contains(&("alice@acme.example".into(), one.clone(), "jira".into())));
    assert_eq!(places.len(), 5);
    let ci_bot = report["summary"]["credentials"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["email"] == CI_BOT)
        .expect("ci-bot's credential");
    assert_eq!(ci_bot["rules"], 2);
    let expiry = report["token_expiry"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["email"] == CI_BOT)
        .expect("the service account in the expiry join");
    assert_eq!(expiry["days_left"], 5);

    let ci = org.scan_org(&["--fail-on", "expiring=30d"]);
    ci.expect_code(3);
    let names = [(one.as_str(), "[site one]"), (two.as_str(), "[site two]")];
    // Stdout only: the sites are connected to at once, so stderr's progress lines come in
    // any order.
    insta::assert_snapshot!(normalized_naming(&ci.stdout, &names), @r#"
    alice@acme.example · [fp1]  (basic, 1 place)
        OPS: Comment on new incidents as alice  Send web request  [header Authorization]  at [site one] jira

    bob@acme.example · [fp2]  (basic, 1 place)
        WIKI: Publish release notes as bob  Send web request  [header Authorization]  at [site two] confluence

    ci-bot@serviceaccount.atlassian.com · [fp3]  (basic, 2 places)
        DOCS: Stamp the build page as ci-bot  Send web request  [header Authorization]  at [site one] confluence
        WIKI: Weekly digest as ci-bot  Send web request  [header Authorization]  at [site two] confluence

    deploy-bot@serviceaccount.atlassian.com · [fp4]  (basic, 1 place)
        REL: Transition released issues as deploy-bot  Send web request  [header Authorization]  at [site two] jira

    5 rules read, 5 with credentials; 5 findings, 4 distinct credentials.
    Covered 4 sites and products:
        [site one] jira: 1 rule read
        [site one] confluence: 1 rule read
        [site two] jira: 1 rule read
        [site two] confluence: 2 rules read

    API token expiry (organization admin API), per credential owner:
      alice@acme.example  earliest expiry [date] (in 205 days), token "jira-automation" (id tok-alice), last active [date]; 1 active token
      bob@acme.example  earliest expiry [date] (in 165 days), token "wiki-automation" (id tok-bob), last active [date]; 1 active token
      ci-bot@serviceaccount.atlassian.com  earliest expiry [date] (in 5 days), token "ci-bot (scoped)" (id tok-ci-bot), last active [date]; 2 active tokens
      deploy-bot@serviceaccount.atlassian.com  earliest expiry [date] (in 335 days), token "deploy-bot (scoped)" (id tok-deploy-bot), last active [date]; 1 active token
    "#);
    assert!(ci.stderr.contains("expiring"), "{}", ci.stderr);
}

#[test]
fn a_site_that_refuses_the_login_is_named_and_the_others_are_still_reported() {
    let org = OrgSites::start();
    // A third site that does not know the org's admin: its login is refused.
    let stranger = SiteSpec::generated(3, 7).start();
    let (one, two, three) = (org.url(0), org.url(1), stranger.base_url());
    let out = org.run(&[
        "scan",
        "--site",
        &one,
        "--site",
        &three,
        "--site",
        &two,
        "--product",
        "all",
        "--format",
        "json",
    ]);
    out.expect_code(1);
    let report = out.json();
    assert_eq!(covered(&report).len(), 6);
    let failed: Vec<&Value> = report["summary"]["targets"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| !t["error"].is_null())
        .collect();
    assert_eq!(failed.len(), 2, "{failed:?}");
    assert!(
        failed.iter().all(|t| t["site"] == three.as_str()),
        "{failed:?}"
    );
    // The other sites' rules are all there.
    assert_eq!(report["summary"]["rules_read"], 5);
    assert!(
        out.stderr
            .contains("2 of 6 sites and products could not be read whole"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains(&format!("{three} jira")),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains(&format!("{three} confluence")),
        "{}",
        out.stderr
    );
    out.expect_error_with_hint();
    // One refused login for the site, not one per product: failures lock an account.
    let stats = stranger.stats();
    let failed = stats.myself(ADMIN).failed + stats.gateway(ADMIN).failed;
    assert_eq!(failed, 1);

    // The text summary names it too.
    let text = org.run(&["scan", "--site", &three, "--site", &one]);
    text.expect_code(1);
    assert!(
        text.stdout
            .contains(&format!("{three} jira: 0 rules read; INCOMPLETE: ")),
        "{}",
        text.stdout
    );
    assert!(
        text.stdout.contains(&format!("{one} jira: 1 rule read")),
        "{}",
        text.stdout
    );
}

/// A Jira or Confluence workspace the org lists but autorekey cannot use is a target not
/// read: named in the summary with why, and the scan is incomplete. Confluence's host
/// given with its `/wiki` base path is its site.
#[test]
fn a_workspace_of_the_org_that_cannot_be_read_is_named_and_the_scan_is_incomplete() {
    let org = OrgSites::start();
    let (one, two) = (org.url(0), org.url(1));
    let mut entries = org.sites[0].state().workspace_entries();
    for mut entry in org.sites[1].state().workspace_entries() {
        let attributes = entry["attributes"].as_object_mut().unwrap();
        match attributes["typeKey"].as_str().unwrap() {
            "confluence" => {
                attributes.insert("hostUrl".into(), format!("{two}/wiki").into());
            }
            _ => {
                attributes.remove("hostUrl");
            }
        }
        entries.push(entry);
    }
    entries.push(serde_json::json!({"id": "loom", "type": "workspace",
        "attributes": {"name": "Loom", "typeKey": "loom", "hostUrl": "https://loom.com"}}));
    org.sites[0].state().set_workspaces(entries);
    let jira_two = format!("workspace \"{two} jira\" jira");

    let out = org.scan_org(&["--format", "json"]);
    out.expect_code(1).expect_error_with_hint();
    let report = out.json();
    assert_eq!(
        covered(&report),
        [
            format!("{one} jira"),
            format!("{one} confluence"),
            format!("{two} confluence"),
            jira_two.clone(),
        ],
        "{}",
        out.stderr
    );
    let targets = report["summary"]["targets"].as_array().unwrap();
    assert!(
        targets[..3].iter().all(|t| t["error"].is_null()),
        "{targets:?}"
    );
    let error = targets[3]["error"].as_str().expect("why it was not read");
    assert!(error.contains("no hostUrl"), "{error}");
    assert_eq!(targets[3]["skipped"], true);
    // Site 2's Confluence was read (its ci-bot rule), through its `/wiki` host.
    assert!(report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["site"] == two.as_str() && r["product"] == "confluence"));
    assert!(
        out.stderr.contains(&format!(
            "1 of 4 sites and products could not be read whole: {jira_two}"
        )),
        "{}",
        out.stderr
    );
    assert!(
        !out.stderr.contains("Loom"),
        "another product is left out quietly: {}",
        out.stderr
    );

    let names = [(one.as_str(), "[site one]"), (two.as_str(), "[site two]")];
    let text = org.scan_org(&["--fail-on", "skipped"]);
    text.expect_code(1);
    insta::assert_snapshot!(normalized_naming(&text.stdout, &names), @r#"
    alice@acme.example · [fp1]  (basic, 1 place)
        OPS: Comment on new incidents as alice  Send web request  [header Authorization]  at [site one] jira

    bob@acme.example · [fp2]  (basic, 1 place)
        WIKI: Publish release notes as bob  Send web request  [header Authorization]  at [site two] confluence

    ci-bot@serviceaccount.atlassian.com · [fp3]  (basic, 2 places)
        DOCS: Stamp the build page as ci-bot  Send web request  [header Authorization]  at [site one] confluence
        WIKI: Weekly digest as ci-bot  Send web request  [header Authorization]  at [site two] confluence

    4 rules read, 4 with credentials; 4 findings, 3 distinct credentials.
    Covered 4 sites and products:
        [site one] jira: 1 rule read
        [site one] confluence: 1 rule read
        [site two] confluence: 2 rules read
        workspace "[site two] jira" jira: 0 rules read; INCOMPLETE: not read: the org's workspace "[site two] jira": no hostUrl

    API token expiry (organization admin API), per credential owner:
      alice@acme.example  earliest expiry [date] (in 205 days), token "jira-automation" (id tok-alice), last active [date]; 1 active token
      bob@acme.example  earliest expiry [date] (in 165 days), token "wiki-automation" (id tok-bob), last active [date]; 1 active token
      ci-bot@serviceaccount.atlassian.com  earliest expiry [date] (in 5 days), token "ci-bot (scoped)" (id tok-ci-bot), last active [date]; 2 active tokens
    "#);
    let markdown = org.scan_org(&["--format", "markdown"]);
    markdown.expect_code(1);
    insta::assert_snapshot!(normalized_naming(&markdown.stdout, &names), @r#"
    ## Credentials in automation rules (autorekey scan)

    4 rules read, 4 with credentials; 4 findings, 3 distinct credentials.

    Covered:

    - [site one] jira: 1 rule read
    - [site one] confluence: 1 rule read
    - [site two] confluence: 2 rules read
    - workspace "[site two] jira" jira: 0 rules read; INCOMPLETE: not read: the org's workspace "[site two] jira": no hostUrl

    ### What was found

    | Account | Fingerprint | Kind | Rules | Places | Check |
    |---|---|---|---|---|---|
    | alice@acme.example | `[fp1]` | basic | 1 | 1 | not checked |
    | bob@acme.example | `[fp2]` | basic | 1 | 1 | not checked |
    | ci-bot@serviceaccount.atlassian.com | `[fp3]` | basic | 2 | 2 | not checked |

    ### Where each is used

    - **alice@acme.example** · `[fp1]`
      - **OPS: Comment on new incidents as alice** (0190f3a2-5b7c-7d21-8e4f-517300000001): Send web request \[header Authorization\] at [site one] jira
    - **bob@acme.example** · `[fp2]`
      - **WIKI: Publish release notes as bob** (0190f3a2-5b7c-7d21-8e4f-517300000004): Send web request \[header Authorization\] at [site two] confluence
    - **ci-bot@serviceaccount.atlassian.com** · `[fp3]`
      - **DOCS: Stamp the build page as ci-bot** (0190f3a2-5b7c-7d21-8e4f-517300000002): Send web request \[header Authorization\] at [site one] confluence
      - **WIKI: Weekly digest as ci-bot** (0190f3a2-5b7c-7d21-8e4f-517300000005): Send web request \[header Authorization\] at [site two] confluence

    ### Needs a person

    - Not read whole: workspace "[site two] jira" jira: 0 rules read; INCOMPLETE: not read: the org's workspace "[site two] jira": no hostUrl

    ### Token expiry

    ```text

    API token expiry (organization admin API), per credential owner:
      alice@acme.example  earliest expiry [date] (in 205 days), token "jira-automation" (id tok-alice), last active [date]; 1 active token
      bob@acme.example  earliest expiry [date] (in 165 days), token "wiki-automation" (id tok-bob), last active [date]; 1 active token
      ci-bot@serviceaccount.atlassian.com  earliest expiry [date] (in 5 days), token "ci-bot (scoped)" (id tok-ci-bot), last active [date]; 2 active tokens
    ```
    "#);
}

/// Two spellings of one site's address are one tenant: its rules would be read twice.
#[test]
fn scan_refuses_two_spellings_of_one_site() {
    let org = OrgSites::start();
    let one = org.url(0);
    let other = one.replace("127.0.0.1", "localhost");
    assert_ne!(one, other);
    let out = org.run(&["scan", "--site", &one, "--site", &other]);
    out.expect_code(2).expect_error_with_hint();
    assert!(
        out.stderr.contains("are the same site and product"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_sites_file_names_the_sites_and_one_site_keeps_its_output() {
    let org = OrgSites::start();
    let (one, two) = (org.url(0), org.url(1));
    let file = org.dir.path().join("sites.txt");
    std::fs::write(
        &file,
        format!("# the org\n{one}\n\n{two}   # second\n{one}/\n"),
    )
    .unwrap();
    let out = org.run(&[
        "scan",
        "--sites-file",
        file.to_str().unwrap(),
        "--product",
        "confluence",
        "--format",
        "csv",
    ]);
    out.expect_code(0);
    let header = out.stdout.lines().next().unwrap();
    assert!(header.ends_with(",file,site,product"), "{header}");
    assert_eq!(out.stdout.lines().count(), 1 + 3, "{}", out.stdout);
    assert!(
        out.stdout.contains(&format!(",{two},confluence")),
        "{}",
        out.stdout
    );

    // One site and product: the inventory of old, with no site or product column.
    let one_site = org.run(&["scan", "--site", &one, "--format", "json"]);
    one_site.expect_code(0);
    let report = one_site.json();
    assert!(report["summary"].get("targets").is_none());
    assert!(report["findings"][0].get("site").is_none());
    let csv = org.run(&["scan", "--site", &one, "--format", "csv"]);
    assert!(csv
        .stdout
        .lines()
        .next()
        .unwrap()
        .ends_with(",cannot_read,file"));
}

#[test]
fn the_org_gateway_flag_takes_only_a_sandbox_on_this_machine() {
    let org = OrgSites::start();
    let out = org.run(&[
        "scan",
        "--org",
        ORG,
        "--org-gateway",
        "https://collector.example.com",
    ]);
    out.expect_code(2).expect_error_with_hint();
    assert!(out.stderr.contains("loopback"), "{}", out.stderr);
    let one = org.url(0);
    let beside = org.run(&["scan", "--org", ORG, "--org-gateway", &one, "--site", &one]);
    beside.expect_code(2).expect_error_with_hint();
}

/// `{{baseUrl}}` in a rule of the second site is that site: `--verify` asks the second
/// site, not the first one scanned.
#[test]
fn verify_checks_a_credential_at_the_site_whose_rule_sends_it_there() {
    const BOB: &str = "bob@acme.example";
    let org = OrgSites::start();
    let (one, two) = (org.url(0), org.url(1));
    let out = org.run(&[
        "scan",
        "--site",
        &one,
        "--site",
        &two,
        "--product",
        "all",
        "--account",
        BOB,
        "--verify",
        "--format",
        "json",
    ]);
    out.expect_code(0);
    let report = out.json();
    let rows = report["findings"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["site"], two.as_str());
    assert_eq!(rows[0]["verification"], "live", "{}", rows[0]);
    let asked = |n: usize| {
        let stats = org.sites[n].state().stats();
        stats.myself(BOB).ok + stats.gateway(BOB).ok + stats.myself(BOB).failed
    };
    assert_eq!((asked(0), asked(1)), (0, 1));
}

/// The issue's whole story on one sandbox org: the scan of every site and product finds
/// ci-bot's service-account token expiring; one rotation across both sites (every product)
/// moves its rules to the token already issued and gives one verdict; `revoke` of the old
/// token deletes nothing (a service account's only delete takes every token), says where a
/// person revokes it, and `--check-gone` sees it gone while the new one stays.
#[test]
fn the_org_rotation_covers_both_sites_with_one_verdict_and_revoke_never_deletes_the_new_token() {
    let org = OrgSites::start();
    let (one, two) = (org.url(0), org.url(1));
    let old = org.token("orgsites-ci-bot-scoped-0104");
    let new = org.token("orgsites-ci-bot-scoped-NEW-0107");
    let (old_fp, new_fp) = (
        Token::new(old.clone()).fingerprint().to_string(),
        Token::new(new.clone()).fingerprint().to_string(),
    );
    org.scan_org(&["--fail-on", "expiring=30d"]).expect_code(3);

    let files = org.dir.path();
    std::fs::write(files.join("new"), &new).unwrap();
    std::fs::write(files.join("old"), &old).unwrap();
    let both = ["--site", &one, "--site", &two, "--product", "all"];
    let mut rotate = vec!["rotate", "--account", CI_BOT, "--yes", "--format", "json"];
    rotate.extend(both);
    let (new_file, old_file) = (files.join("new"), files.join("old"));
    let backups = files.join("backups");
    rotate.extend([
        "--new-token-file",
        new_file.to_str().unwrap(),
        "--old-token-file",
        old_file.to_str().unwrap(),
        "--backup-dir",
        backups.to_str().unwrap(),
    ]);
    let rotated = org.run(&rotate);
    rotated.expect_code(0);
    let summary = rotated.json();
    assert_eq!(
        summary["targets"].as_array().map(Vec::len),
        Some(4),
        "{summary}"
    );
    assert_eq!(summary["verdict"]["advice"], "revoke", "{summary}");
    assert_eq!(
        summary["verdict"]["revoke_fingerprints"],
        serde_json::json!([old_fp]),
        "{summary}"
    );

    // Both sites' rules hold only the new token now.
    let mut check = vec!["scan", "--account", CI_BOT, "--format", "json"];
    check.extend(both);
    let after = org.run(&check);
    after.expect_code(0);
    let fps: Vec<String> = after.json()["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["fingerprint"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(fps, [new_fp.clone(), new_fp.clone()], "{}", after.stdout);

    let mut revoke = vec!["revoke", "--account", CI_BOT, "--token-id", "tok-ci-bot"];
    revoke.extend(["--keep", &new_fp, "--org", ORG, "--yes"]);
    revoke.extend(both);
    let said = org.run(&revoke);
    said.expect_code(3);
    assert!(
        said.stdout
            .contains("admin.atlassian.com > Directory > Service accounts"),
        "{}",
        said.stdout
    );
    let check_gone = [
        "revoke",
        "--account",
        CI_BOT,
        "--token-id",
        "tok-ci-bot",
        "--org",
        ORG,
        "--site",
        &one,
        "--check-gone",
    ];
    org.run(&check_gone).expect_code(3);
    org.sites[0].state().revoke_in_admin_ui("tok-ci-bot");
    org.run(&check_gone).expect_code(0);
    for site in &org.sites {
        assert_eq!(site.state().stats().endpoint("DELETE api-token"), 0);
    }
    let tokens = org.run(&[
        "tokens",
        "--account",
        CI_BOT,
        "--org",
        ORG,
        "--site",
        &one,
        "--format",
        "json",
    ]);
    let ids: Vec<&str> = tokens.json()["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["id"].as_str())
        .map(|id| {
            if id == "tok-ci-bot-2027" {
                "tok-ci-bot-2027"
            } else {
                "other"
            }
        })
        .collect();
    assert_eq!(ids, ["tok-ci-bot-2027"]);
}

/// `revoke` reads every site and product it is given for its proof: alice's token, held by
/// a rule of the first site only, is refused when the sites are named in any order, and
/// the place that holds it is named with its site.
#[test]
fn revoke_reads_every_site_named_and_a_rule_on_any_of_them_keeps_the_token() {
    let org = OrgSites::start();
    let (one, two) = (org.url(0), org.url(1));
    let keep = Token::new(fake_token()).fingerprint().to_string();
    let out = org.run(&[
        "revoke",
        "--account",
        "alice@acme.example",
        "--token-id",
        "tok-alice",
        "--keep",
        &keep,
        "--org",
        ORG,
        "--yes",
        "--site",
        &two,
        "--site",
        &one,
        "--product",
        "all",
    ]);
    out.expect_code(3);
    let text = format!("{}{}", out.stdout, out.stderr);
    assert!(
        text.contains(&format!(
            "at {} · jira: \"OPS: Comment on new incidents as alice\"",
            one.trim_end_matches('/')
        )),
        "{text}"
    );
    for site in &org.sites {
        assert_eq!(site.state().stats().endpoint("DELETE api-token"), 0);
        assert!(
            site.state().stats().endpoint("GET rule/summary") >= 1,
            "every site read"
        );
    }
}

/// bob's rule stays on site 2, but the org lists no token of his (an account outside the
/// org, or tokens the key cannot see): his expiry is unknown, which fails both checks, and
/// `tokens --expiring --scan` names him with his rule. Nothing of the org's own is within
/// 3 days (ci-bot's token expires in 5), so only bob can fail them.
#[test]
fn an_owner_the_rules_name_that_the_org_does_not_list_is_unknown_and_fails_the_expiry_checks() {
    let listed = OrgSites::start();
    listed
        .scan_org(&["--fail-on", "expiring=3d"])
        .expect_code(0);
    let org = OrgSites::start_with(|accounts| {
        accounts["org"]["tokens"]
            .as_array_mut()
            .unwrap()
            .retain(|t| t["id"] != "tok-bob");
    });
    let bob = "bob@acme.example";
    let ci = org.scan_org(&["--fail-on", "expiring=3d"]);
    ci.expect_code(3);
    let names = [(org.url(0), "[site one]"), (org.url(1), "[site two]")];
    insta::assert_snapshot!(normalized_naming(&ci.stdout, &names), @r#"
    alice@acme.example · [fp1]  (basic, 1 place)
        OPS: Comment on new incidents as alice  Send web request  [header Authorization]  at [site one] jira

    bob@acme.example · [fp2]  (basic, 1 place)
        WIKI: Publish release notes as bob  Send web request  [header Authorization]  at [site two] confluence

    ci-bot@serviceaccount.atlassian.com · [fp3]  (basic, 2 places)
        DOCS: Stamp the build page as ci-bot  Send web request  [header Authorization]  at [site one] confluence
        WIKI: Weekly digest as ci-bot  Send web request  [header Authorization]  at [site two] confluence

    deploy-bot@serviceaccount.atlassian.com · [fp4]  (basic, 1 place)
        REL: Transition released issues as deploy-bot  Send web request  [header Authorization]  at [site two] jira

    5 rules read, 5 with credentials; 5 findings, 4 distinct credentials.
    Covered 4 sites and products:
        [site one] jira: 1 rule read
        [site one] confluence: 1 rule read
        [site two] jira: 1 rule read
        [site two] confluence: 2 rules read

    API token expiry (organization admin API), per credential owner:
      alice@acme.example  earliest expiry [date] (in 205 days), token "jira-automation" (id tok-alice), last active [date]; 1 active token
      bob@acme.example  tokens unknown: the organization lists no token of this account (not a managed account of this organization, or its tokens are not visible to this key) (counted as expiring)
      ci-bot@serviceaccount.atlassian.com  earliest expiry [date] (in 5 days), token "ci-bot (scoped)" (id tok-ci-bot), last active [date]; 2 active tokens
      deploy-bot@serviceaccount.atlassian.com  earliest expiry [date] (in 335 days), token "deploy-bot (scoped)" (id tok-deploy-bot), last active [date]; 1 active token
    "#);
    assert!(ci.stderr.contains("expiring"), "{}", ci.stderr);
    let json = org.scan_org(&["--format", "json"]);
    json.expect_code(0);
    let row = json.json()["token_expiry"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["email"] == bob)
        .cloned()
        .expect("bob in the expiry join");
    assert_eq!(
        (&row["tokens_unknown"], &row["unknown_reason"]),
        (&Value::Bool(true), &Value::from("not_listed"))
    );

    let scan = org.dir.path().join("s.json");
    std::fs::write(&scan, &json.stdout).unwrap();
    let gateway = org.url(0);
    let watch = |format: &str| {
        org.run(&[
            "tokens",
            "--expiring",
            "3d",
            "--scan",
            scan.to_str().unwrap(),
            "--org",
            ORG,
            "--site",
            &gateway,
            "--format",
            format,
        ])
    };
    let out = watch("text");
    out.expect_code(3);
    insta::assert_snapshot!(normalized(&out.stdout), @r#"
    No API token of the organization expires within 3 days (5 active tokens listed).
    Could not be listed (counted as expiring):
      unknown   bob@acme.example: tokens unknown: the organization lists no token of this account (not a managed account of this organization, or its tokens are not visible to this key) (check the account: if it belongs to this organization, give the org API key read:tokens:admin (and read:service-accounts-tokens:admin); otherwise its tokens' expiry is watched where the account is managed)
                in rule "WIKI: Publish release notes as bob" (0190f3a2-5b7c-7d21-8e4f-517300000004) on http://127.0.0.1:PORT confluence, credential [fp1]
    0 of 5 listed API tokens expire (or have expired) within 3 days; 1 owner the rules name the organization lists no token for (unknown, counted as expiring).
    The rules under a token hold a credential of its account: any of the account's tokens may be the one a rule holds (`autorekey fingerprint` tells which).
    "#);
    assert!(out.stderr.contains("check the account"), "{}", out.stderr);
    let unknown = watch("json").json()["unknown"].clone();
    assert_eq!(unknown[0]["email"], bob, "{unknown}");
}
