//! Helpers for the rotation end-to-end tests (`test_rotate_command`, `test_apply_command`,
//! `test_restore_command`, ...), on top of `common` (which runs the binary against a
//! sandbox and checks output for secrets).
//!
//! Why it is shaped so:
//! - The expected site after a rotation is computed independently of the binary and of its
//!   planner, from the rules as they were before it ran: a rotated rule must be exactly what
//!   plain substitution of the account's old credential makes of it (the [`judge`]), apart
//!   from the server-owned `updated`; every other rule must be byte-identical. [`Expected`] holds
//!   that picture and [`Expected::assert_site`] compares every rule with it, field by field.
//! - Failure messages name rules, fields and JSON pointers, never values: the values hold
//!   tokens, and a failing test must not print one either.
//! - Where the sandbox itself edits a rule (the `edit_after_reads` trap), the test states
//!   the other admin's edit explicitly ([`other_admin_edit`]) so that "their edit is kept"
//!   is an expectation, not something read back from the site.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use autorekey::journal::{self, Entry, Step};
use autorekey::secret::Token;
use serde_json::{json, Value};

use autorekey::sandbox::SandboxConfig;

mod judge;
pub mod ownership;
pub mod rotate;
pub mod verdict;
pub use judge::judged_rewrite;

use crate::common::{fixtures_dir, Planted, RunOutput, SiteSpec, TestSite};

pub const SVC_JIRA: &str = "svc-jira@acme.example";
pub const SVC_CI: &str = "svc-ci@acme.example";
/// svc-jira's second valid fixture token: what a rotation of svc-jira moves to.
pub const SVC_JIRA_NEW_FIXTURE: &str = "FAKE-svc-jira-NEW-token-2222";
/// svc-jira's fixture token embedded in the rules.
pub const SVC_JIRA_OLD_FIXTURE: &str = "FAKE-svc-jira-OLD-token-1111";

/// The uuid of fixture rule `NN-*.json` (`"05"`), or of a UI export rule (`"e1"`).
pub fn fixture_uuid(number: &str) -> String {
    format!("0190f3a2-5b7c-7d21-8e4f-a1b2c3d4e5{number}")
}

/// Rule 05: hidden header that the sandbox serves as `***` (mask trap).
pub fn masked_on_read() -> String {
    fixture_uuid("05")
}

/// Rule 16: a connection owned by someone else; echoing it back disables the rule.
pub fn foreign_connections() -> String {
    fixture_uuid("16")
}

/// Rule 17: another admin edits it right after its first read.
pub fn edit_race() -> String {
    fixture_uuid("17")
}

/// What the sandbox's `edit_after_reads` trap does to a rule: the other admin's edit.
pub fn other_admin_edit(rule: &mut Value) {
    let description = rule["description"].as_str().unwrap_or_default();
    rule["description"] = json!(format!("{description} (edited by another admin)").trim_start());
    match rule.get_mut("labels").and_then(Value::as_array_mut) {
        Some(labels) => labels.push(json!("edited-elsewhere")),
        None => rule["labels"] = json!(["edited-elsewhere"]),
    }
}

// ------------------------------------------------------------------ sites and commands

/// The planted fixture site with svc-jira's new token, ready to rotate.
pub struct FixtureRotation {
    pub planted: Planted,
    pub site: TestSite,
    pub new_token: String,
    /// Every rule envelope as stored before any command ran.
    pub before: BTreeMap<String, Value>,
}

impl FixtureRotation {
    pub fn start() -> FixtureRotation {
        Self::start_with(|spec| spec)
    }

    /// The fixture site, with the sandbox adjusted by `adjust` (faults, latency...).
    pub fn start_with(adjust: impl FnOnce(SiteSpec) -> SiteSpec) -> FixtureRotation {
        let planted = Planted::fixtures();
        let new_token = planted.fresh(SVC_JIRA_NEW_FIXTURE);
        let site = adjust(planted.site_spec()).start();
        let before = snapshot(&site);
        FixtureRotation {
            planted,
            site,
            new_token,
            before,
        }
    }

    /// What a complete rotation of svc-jira must leave on the site.
    pub fn expected(&self) -> Expected {
        Expected::rotation(&self.before, SVC_JIRA, &self.new_token)
    }

    /// `autorekey rotate --account svc-jira... <args>` with the new token in the environment
    /// and backups under `backups`.
    pub fn rotate(&self, backups: &Path, args: &[&str]) -> Command {
        rotate_cmd(&self.site, SVC_JIRA, &self.new_token, backups, args)
    }
}

/// `rotate --account ACCOUNT --backup-dir BACKUPS ARGS`, the new token in AUTOREKEY_NEW_TOKEN.
pub fn rotate_cmd(
    site: &TestSite,
    account: &str,
    new_token: &str,
    backups: &Path,
    args: &[&str],
) -> Command {
    let mut cmd = site.cmd();
    cmd.env("AUTOREKEY_NEW_TOKEN", new_token)
        .args(["rotate", "--account", account, "--backup-dir"])
        .arg(backups)
        .args(args);
    cmd
}

/// The binary as a plain child process, for what `assert_cmd` cannot do (send it a
/// signal): the environment of [`TestSite::cmd`], the new token in AUTOREKEY_NEW_TOKEN,
/// both output streams piped.
pub fn spawnable_rotate(
    site: &TestSite,
    account: &str,
    new_token: &str,
    backups: &Path,
    args: &[&str],
) -> std::process::Command {
    let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("autorekey"));
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("NO_COLOR", "1")
        .env("AUTOREKEY_NO_RETRY_DELAY", "1")
        .env(
            "AUTOREKEY_FINGERPRINT_KEY",
            crate::common::TEST_FINGERPRINT_KEY,
        )
        .env("AUTOREKEY_SITE", site.base_url())
        .env("AUTOREKEY_LOGIN", &site.login)
        .env("AUTOREKEY_API_TOKEN", site.admin_token())
        .env("AUTOREKEY_NEW_TOKEN", new_token)
        .env("XDG_DATA_HOME", site.data_dir())
        .args(["rotate", "--account", account, "--backup-dir"])
        .arg(backups)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    cmd
}

/// Waits for `child` and checks both streams for `secrets`, like `common::run_checked`.
/// Sends `signal` (as `kill` spells it: `-INT`) to `child`.
pub fn send_signal(child: &std::process::Child, signal: &str) {
    let sent = std::process::Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(sent.success(), "kill {signal} failed");
}

/// `rotate --yes --concurrency 1` of svc-jira, stopped by Ctrl-C (SIGINT) once its first
/// write is journalled: its output, checked for the site's secrets.
pub fn interrupted_after_first_write(site: &TestSite, new: &str, backups: &Path) -> RunOutput {
    let args = ["--yes", "--concurrency", "1"];
    let child = spawnable_rotate(site, SVC_JIRA, new, backups, &args)
        .spawn()
        .expect("spawn autorekey");
    wait_for_first_write(backups);
    send_signal(&child, "-INT");
    finish_checked(child, site.secrets())
}

pub fn finish_checked(child: std::process::Child, secrets: &[String]) -> RunOutput {
    crate::common::checked(
        child.wait_with_output().expect("wait for autorekey"),
        secrets,
    )
}

/// Every stored rule envelope, by uuid.
pub fn snapshot(site: &TestSite) -> BTreeMap<String, Value> {
    let state = site.state();
    state
        .rule_uuids()
        .into_iter()
        .map(|uuid| {
            let envelope = state.rule(&uuid).expect("a listed rule is stored");
            (uuid, envelope)
        })
        .collect()
}

/// `PUT rule/{uuid}` requests the site received, all rules together.
pub fn puts(site: &TestSite) -> u64 {
    site.stats().endpoint("PUT rule")
}

/// Copies of `envelope` under fresh uuids and numbered names: many rules of one shape, for
/// tests that need volume rather than variety.
pub fn copies_of(envelope: &Value, n: usize) -> Vec<Value> {
    let name = envelope["rule"]["name"]
        .as_str()
        .unwrap_or("rule")
        .to_owned();
    (0..n)
        .map(|i| {
            let mut copy = envelope.clone();
            copy["rule"]["uuid"] = json!(uuid::Uuid::now_v7().to_string());
            copy["rule"]["name"] = json!(format!("{name} #{:02}", i + 1));
            copy
        })
        .collect()
}

/// Fixture rule 01 (a plain schema-1 header of svc-jira), as its file holds it.
pub fn fixture_01() -> Value {
    let path = fixtures_dir().join("rules/01-triage-ack-comment-basic-v1.json");
    let text = std::fs::read_to_string(path).expect("read fixture 01");
    serde_json::from_str(&text).expect("fixture 01 is JSON")
}

/// A site holding fixture rule 01 (a plain schema-1 header of svc-jira) `n` times, under
/// names that sort in copy order, with fresh tokens; `adjust` sets latency or faults.
pub fn copies_site(n: usize, adjust: impl FnOnce(&mut SandboxConfig)) -> (Planted, TestSite) {
    let planted = Planted::new(copies_of(&fixture_01(), n));
    let site = planted.site_spec().with(adjust).start();
    (planted, site)
}

// ------------------------------------------------------------------ expectations

/// The site a command must leave: for each rule, its rewrite, or the other admin's edit of
/// it, or byte-identical to before.
pub struct Expected {
    pub before: BTreeMap<String, Value>,
    /// uuid -> the rule object it must hold (compared without `updated`).
    pub rotated: BTreeMap<String, Value>,
    /// uuid -> the rule object another admin left (the edit-race trap fires on the first
    /// read, so after any command that read every rule); compared without `updated`.
    pub edited: BTreeMap<String, Value>,
}

impl Expected {
    /// Every rule whose stored content holds a rewritable credential of `account` rotated to
    /// `new_token`, except the ones no client can rewrite safely: the rule the sandbox masks
    /// on read. The edit-race rule is rewritten on top of the other admin's edit.
    pub fn rotation(before: &BTreeMap<String, Value>, account: &str, new_token: &str) -> Self {
        let token = Token::new(new_token);
        let mut expected = Expected::read_only(before);
        for (uuid, envelope) in before {
            if *uuid == masked_on_read() {
                continue;
            }
            let rule = expected
                .edited
                .get(uuid)
                .unwrap_or(&envelope["rule"])
                .clone();
            if let Some(after) = rewrite_for(&rule, account, &token) {
                expected.edited.remove(uuid);
                expected.rotated.insert(uuid.clone(), after);
            }
        }
        expected
    }

    /// Nothing written, but every rule read once: only the other admin's edit.
    pub fn read_only(before: &BTreeMap<String, Value>) -> Self {
        let mut expected = Expected::nothing(before);
        if let Some(envelope) = before.get(&edit_race()) {
            let mut rule = envelope["rule"].clone();
            other_admin_edit(&mut rule);
            expected.edited.insert(edit_race(), rule);
        }
        expected
    }

    /// Nothing may change at all: not even read.
    pub fn nothing(before: &BTreeMap<String, Value>) -> Self {
        Expected {
            before: before.clone(),
            rotated: BTreeMap::new(),
            edited: BTreeMap::new(),
        }
    }

    pub fn rotated_uuids(&self) -> BTreeSet<String> {
        self.rotated.keys().cloned().collect()
    }

    /// The same expectation limited to `uuids` being rotated (the rest as before).
    pub fn only(&self, uuids: &BTreeSet<String>) -> Expected {
        let mut expected = Expected::read_only(&self.before);
        expected.rotated = self
            .rotated
            .iter()
            .filter(|(u, _)| uuids.contains(*u))
            .map(|(u, r)| (u.clone(), r.clone()))
            .collect();
        for uuid in expected.rotated.keys() {
            expected.edited.remove(uuid);
        }
        expected
    }

    /// Compares every rule of `site` with the expectation; panics listing every mismatch.
    pub fn assert_site(&self, site: &TestSite) {
        let now = snapshot(site);
        assert_eq!(
            now.keys().collect::<Vec<_>>(),
            self.before.keys().collect::<Vec<_>>(),
            "the site's rules changed"
        );
        let problems: Vec<String> = self
            .before
            .iter()
            .flat_map(|(uuid, before)| self.problems_of(uuid, before, &now[uuid]))
            .collect();
        assert!(
            problems.is_empty(),
            "the site is not as expected:\n  {}",
            problems.join("\n  ")
        );
    }

    /// What is wrong with one rule, as lines naming it and the differing places.
    pub fn problems_of(&self, uuid: &str, before: &Value, now: &Value) -> Vec<String> {
        match self.rotated.get(uuid).or_else(|| self.edited.get(uuid)) {
            None if same_bytes(before, now) => vec![],
            None => vec![format!(
                "{uuid} must be byte-identical to before, but differs at {:?}",
                all_differences(before, now)
            )],
            Some(after) => {
                let mut out = rule_field_problems(uuid, after, &now["rule"]);
                if before.get("connections") != now.get("connections") {
                    out.push(format!("{uuid}: its connections changed"));
                }
                out
            }
        }
    }

    /// After `restore` of `uuids`: they hold again what they held just before the rotation
    /// wrote them (written anew, so `updated` moved); the other rotations stay.
    pub fn restored(&self, uuids: &BTreeSet<String>) -> Expected {
        let originals = Expected::read_only(&self.before);
        let mut expected = Expected {
            before: self.before.clone(),
            rotated: self.rotated.clone(),
            edited: self.edited.clone(),
        };
        for uuid in uuids {
            let original = originals
                .edited
                .get(uuid)
                .unwrap_or(&self.before[uuid]["rule"]);
            expected.rotated.insert(uuid.clone(), original.clone());
        }
        expected
    }

    /// Under faults a run may stop short: each rule must be exactly rotated, or hold what
    /// it held before (read or not). Returns the uuids not rotated yet; panics on any rule
    /// in a third state (half-written, or written with something else).
    pub fn assert_rotated_or_untouched(&self, site: &TestSite) -> BTreeSet<String> {
        let now = snapshot(site);
        let read_only = Expected::read_only(&self.before);
        let mut pending = BTreeSet::new();
        let mut problems = Vec::new();
        for uuid in self.before.keys() {
            if self.check(uuid, &now[uuid]).is_ok() {
                continue;
            }
            let untouched = Expected::nothing(&self.before)
                .check(uuid, &now[uuid])
                .is_ok()
                || read_only.check(uuid, &now[uuid]).is_ok();
            match untouched {
                true => {
                    pending.insert(uuid.clone());
                }
                false => problems.extend(self.problems_of(uuid, &self.before[uuid], &now[uuid])),
            }
        }
        assert!(
            problems.is_empty(),
            "rules neither rotated nor untouched:\n  {}",
            problems.join("\n  ")
        );
        pending
    }

    /// Whether the rule `uuid` is as this expectation says (`Ok`), else what differs.
    pub fn check(&self, uuid: &str, now: &Value) -> Result<(), Vec<String>> {
        let problems = self.problems_of(uuid, &self.before[uuid], now);
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }
}

/// Byte-identical as served: the same JSON text, key order included.
pub fn same_bytes(a: &Value, b: &Value) -> bool {
    serde_json::to_string(a).ok() == serde_json::to_string(b).ok()
}

/// What a rotation of `account` to `new_token` must make of `rule` (`None`: nothing of the
/// account's in it), as the independent judge computes it (see [`judge`]).
pub fn rewrite_for(rule: &Value, account: &str, new_token: &Token) -> Option<Value> {
    judged_rewrite(rule, account, new_token.expose())
}

/// Top-level fields of `actual` that differ from `expected`, `updated` excepted (the server
/// sets it on every write), each with the pointers inside it that differ.
fn rule_field_problems(uuid: &str, expected: &Value, actual: &Value) -> Vec<String> {
    let (Some(e), Some(a)) = (expected.as_object(), actual.as_object()) else {
        return vec![format!("{uuid}: the rule is not an object")];
    };
    let keys: BTreeSet<&String> = e.keys().chain(a.keys()).collect();
    keys.into_iter()
        .filter(|k| k.as_str() != "updated")
        .filter(|k| e.get(*k) != a.get(*k))
        .map(|k| {
            let inner = match (e.get(k), a.get(k)) {
                (Some(x), Some(y)) => format!("at {:?}", all_differences(x, y)),
                (Some(_), None) => "missing".into(),
                _ => "unexpected".into(),
            };
            format!("{uuid}: field {k:?} is not as expected ({inner})")
        })
        .collect()
}

/// Every pointer at which two values differ (no field ignored), found without the library
/// (its `plan::differences` is what the binary's diffs are made of).
pub fn all_differences(a: &Value, b: &Value) -> Vec<String> {
    let mut out = Vec::new();
    differences_at("", a, b, &mut out);
    out
}

fn differences_at(at: &str, a: &Value, b: &Value, out: &mut Vec<String>) {
    let escape = |key: &str| key.replace('~', "~0").replace('/', "~1");
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            for key in keys {
                let here = format!("{at}/{}", escape(key));
                match (x.get(key), y.get(key)) {
                    (Some(v), Some(w)) => differences_at(&here, v, w, out),
                    _ => out.push(here),
                }
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (v, w)) in x.iter().zip(y).enumerate() {
                differences_at(&format!("{at}/{i}"), v, w, out);
            }
        }
        _ if a == b => {}
        _ => out.push(at.to_owned()),
    }
}

// ------------------------------------------------------------------ backups and journal

/// Polls the journal under `backups` until it records a `writing` step (no sleeping as an
/// assertion: the wait ends on the file's content, the deadline only guards a hang).
pub fn wait_for_first_write(backups: &Path) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let written = run_dirs(backups).iter().any(|dir| {
            journal::read(&dir.join("journal.jsonl"))
                .is_ok_and(|entries| entries.iter().any(|e| e.step == Step::Writing))
        });
        if written {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no write was journalled"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// The run directories a rotation created under `backups`, oldest first (names carry the
/// start time).
pub fn run_dirs(backups: &Path) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(backups)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.is_dir())
                .collect()
        })
        .unwrap_or_default();
    dirs.sort();
    dirs
}

/// The one run directory under `backups`.
pub fn only_run_dir(backups: &Path) -> PathBuf {
    let dirs = run_dirs(backups);
    assert_eq!(dirs.len(), 1, "expected one backup run under {backups:?}");
    dirs[0].clone()
}

pub fn journal_of(run_dir: &Path) -> Vec<Entry> {
    journal::read(&run_dir.join("journal.jsonl")).expect("read the journal")
}

/// uuid -> the steps the journal recorded for it, in order.
pub fn steps_by_rule(entries: &[Entry]) -> BTreeMap<String, Vec<String>> {
    let mut steps: BTreeMap<String, Vec<String>> = BTreeMap::new();
    // A run's end record names no rule.
    for e in entries.iter().filter(|e| !e.rule_uuid.is_empty()) {
        let step = serde_json::to_value(e.step).expect("a step serializes");
        steps
            .entry(e.rule_uuid.clone())
            .or_default()
            .push(step.as_str().unwrap_or_default().to_owned());
    }
    steps
}

/// A backup run is private (0700 directories, 0600 files), holds a manifest and the journal,
/// and a backup of exactly `uuids`, each the envelope as it was before the write.
pub fn assert_backup_run(run_dir: &Path, expected: &Expected, uuids: &BTreeSet<String>) {
    use std::os::unix::fs::PermissionsExt as _;
    let mode = |p: &Path| std::fs::metadata(p).expect("stat").permissions().mode() & 0o777;
    for dir in [run_dir.to_path_buf(), run_dir.join("rules")] {
        assert_eq!(mode(&dir), 0o700, "{dir:?} must be 0700");
    }
    for name in ["manifest.json", "journal.jsonl"] {
        assert_eq!(mode(&run_dir.join(name)), 0o600, "{name} must be 0600");
    }
    let manifest: Value = serde_json::from_slice(
        &std::fs::read(run_dir.join("manifest.json")).expect("read the manifest"),
    )
    .expect("the manifest is JSON");
    assert!(manifest["account"].is_string() && manifest["new_fingerprint"].is_string());
    let mut saved = BTreeSet::new();
    for entry in std::fs::read_dir(run_dir.join("rules")).expect("list backups") {
        let path = entry.expect("a dir entry").path();
        assert_eq!(mode(&path), 0o600, "{path:?} must be 0600");
        let uuid = path
            .file_stem()
            .expect("a name")
            .to_string_lossy()
            .into_owned();
        let envelope: Value =
            serde_json::from_slice(&std::fs::read(&path).expect("read")).expect("JSON");
        let mut as_read = expected.before[&uuid].clone();
        if uuid == edit_race() {
            other_admin_edit(&mut as_read["rule"]);
        }
        let moved: Vec<String> = all_differences(&as_read, &envelope)
            .into_iter()
            .filter(|p| p != "/rule/updated")
            .collect();
        assert!(moved.is_empty(), "backup of {uuid} differs at {moved:?}");
        saved.insert(uuid);
    }
    assert_eq!(&saved, uuids, "backed-up rules");
}

/// A summary count line (`  rotated          14`), or 0 when the summary leaves it out.
pub fn summary_count(stdout: &str, label: &str) -> usize {
    let summary = stdout
        .split("Summary for ")
        .nth(1)
        .unwrap_or_else(|| panic!("no summary in stdout:\n{stdout}"));
    summary
        .lines()
        .filter_map(|l| l.trim().strip_prefix(label))
        .filter_map(|rest| rest.trim().parse().ok())
        .next()
        .unwrap_or(0)
}
