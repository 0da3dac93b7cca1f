//! Soak: many rotations in a row against a hostile sandbox, with runs cut short at random,
//! proving that no interruption or fault ever leaves a rule half-rotated or silently
//! skipped, and that rerunning the same command always finishes the job.
//!
//! Why it is shaped so:
//! - The service account svc-jira gets tokens t0..tN up front (all minted at run time) and
//!   rotation k moves the site from t(k) to t(k+1), so every round starts from a site the
//!   test knows exactly: the expectation for a rule is the library's own
//!   `plan::rewrite` of the rule as the round found it (`rotate_support::Expected`).
//! - Faults are the sandbox's (500/503, dropped connections, PUTs applied whose answer is
//!   lost), always on. A sandbox cannot change its knobs while it runs, so rounds run in
//!   blocks: each block is a fresh sandbox started from the previous block's rules, with its
//!   own fault seed; every third block adds a 429 storm (a low token-bucket rate). In storm
//!   blocks `AUTOREKEY_NO_RETRY_DELAY` is not set: without sleeps the client would spend
//!   its attempts on `Retry-After` instantly, which is not what the tool does in the field.
//! - Each round's first run is interrupted at a random moment with some probability
//!   (SIGINT: the tool finishes the rules in flight; SIGKILL: nothing can be trusted but
//!   the server). The child is a plain `std::process::Command` because the test must signal
//!   it while it runs, which `assert_cmd` cannot do. The moment is drawn within the typical
//!   length of a run (measured as the soak goes), so interruptions land in every phase.
//! - After every run, every rule is checked: rotated exactly or byte-identical, masked
//!   rules never written, every rule changed by the run backed up and journalled first,
//!   every rule left untouched named in the run's summary (or the run died or stopped
//!   before writing anything), and no output holds a token.
//! - Randomness comes from one seed, printed first (`AUTOREKEY_SOAK_SEED` replays the
//!   choices; thread scheduling and the moment a signal lands still vary). No assertion
//!   depends on time. The edit-race trap of fixture 17 is switched off: another admin's
//!   edit would make "untouched" unknowable here, and `test_rotate_command` covers that race.
//!
//! Default (`cargo test --test it test_soak:: -- --ignored`, a step of its own in
//! `.ci/run`, not part of every `cargo test`): a short soak; `AUTOREKEY_SOAK_ROTATIONS=200
//! cargo test --release --test it test_soak:: -- --ignored --nocapture` is the full one
//! (see `benches/soak.sh`).
//!
//! Elsewhere: each fault on its own, with its exact outcome: test_rotate_command.

// The seed (to replay a run) and the counts are the soak's report, read by benches/soak.sh.
#![allow(clippy::print_stdout)]

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::str::FromStr;
use std::time::{Duration, Instant};

use autorekey::journal;
use autorekey::plan::{self, LeftAlone, RuleDecision, Selector};
use autorekey::sandbox::{RuleSelection, SandboxConfig, SandboxStats};
use autorekey::secret::Token;
use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};
use serde_json::Value;

use crate::common;
use crate::common::{assert_no_secrets, fake_token, Planted, SiteSpec, TestSite};
use crate::rotate_support::{
    all_differences, fixture_uuid, rewrite_for, run_dirs, snapshot, steps_by_rule, Expected,
    SVC_JIRA, SVC_JIRA_OLD_FIXTURE,
};

/// Rotations in `cargo test`: enough to meet every kind of interruption several times while
/// staying well inside the suite's time budget on two cores in a debug build.
const DEFAULT_ROTATIONS: usize = 40;
/// Generated rules added to the fixtures (other accounts' credentials, Bearer headers,
/// webhooks): volume whose only requirement is to stay byte-identical.
const DEFAULT_GENERATED: usize = 6;
const CONCURRENCY: &str = "4";
/// Rounds per sandbox; every third block is a 429 storm, and a shorter one (storm rounds
/// are slow by nature: each 429 costs at least the one second of `Retry-After`).
const BLOCK_ROUNDS: usize = 8;
const STORM_ROUNDS: usize = 1;
const STORM_RATE_PER_SEC: f64 = 10.0;
const ERROR_RATE: f64 = 0.10;
const DROP_RATE: f64 = 0.10;
const LOST_PUT_RATE: f64 = 0.20;
const P_SIGINT: f64 = 0.25;
const P_SIGKILL: f64 = 0.05;
/// Clean reruns allowed per round before the soak calls the rotation stuck.
const MAX_RERUNS: usize = 5;
/// Fixtures whose hidden svc-jira header the sandbox serves as `***` (05's own trap, and
/// 04 added here): they must be left alone and reported on every run, never written.
const MASK_TRAPS: [&str; 2] = ["04", "05"];
const FOREIGN_CONNECTIONS: &str = "16";

fn env_or<T: FromStr>(name: &str, default: T) -> T {
    match std::env::var(name) {
        Ok(text) => text
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name}={text:?} is not a valid number")),
        Err(_) => default,
    }
}

// ------------------------------------------------------------------ the site

/// What stays fixed for the whole soak: accounts, tokens, which rules are masked.
struct World {
    /// Accounts, login and secrets; its rules and fault knobs are replaced per block.
    spec: SiteSpec,
    /// t0..=tN of svc-jira; t0 is the token the fixture rules embed.
    tokens: Vec<String>,
    /// Rules no run may ever write (masked on read, or holding a masked value).
    masked: BTreeSet<String>,
}

impl World {
    fn build(rotations: usize, generated: usize, rng: &mut StdRng) -> World {
        let planted = Planted::fixtures();
        let extra = SiteSpec::generated(generated, rng.gen());
        let mut spec = planted.site_spec();
        let mut rules = planted.rules.clone();
        // Traps are set through the config (below), identically for every block.
        for rule in &mut rules {
            rule.as_object_mut().map(|o| o.shift_remove("sandbox"));
        }
        rules.extend(extra.config.rules);
        spec.config.accounts.extend(extra.config.accounts);
        spec.secrets.extend(extra.secrets);
        let mut tokens = vec![planted.fresh(SVC_JIRA_OLD_FIXTURE)];
        tokens.extend((0..rotations).map(|_| fake_token()));
        let svc = spec
            .config
            .accounts
            .iter_mut()
            .find(|a| a.email == SVC_JIRA)
            .expect("the fixture accounts include svc-jira");
        svc.tokens.extend(tokens[1..].iter().map(Token::new));
        let traps: BTreeSet<String> = MASK_TRAPS.iter().map(|n| fixture_uuid(n)).collect();
        let masked = traps
            .iter()
            .cloned()
            .chain(rules.iter().filter(|r| holds_masked(r)).map(uuid_of))
            .collect();
        spec.config.rules = rules;
        spec.config.trap_mask_hidden = RuleSelection::Rules(traps);
        spec.config.trap_foreign_connections =
            RuleSelection::Rules([fixture_uuid(FOREIGN_CONNECTIONS)].into());
        World {
            spec,
            tokens,
            masked,
        }
    }

    /// A sandbox serving `rules` with this block's fault knobs.
    fn site(&self, rules: Vec<Value>, block: &Block) -> TestSite {
        let mut spec = self.spec.clone();
        spec.config.rules = rules;
        block.apply(&mut spec.config);
        spec.start()
    }

    /// The tokens the tool can see in round `k` (the rules' current one, the new one) and
    /// every other secret of the site. Later tokens never reach the tool; checking all of
    /// them on every output would cost more than the soak itself.
    fn secrets(&self, k: usize) -> Vec<String> {
        let mut secrets = self.spec.secrets.clone();
        secrets.extend(self.tokens[k..=k + 1].iter().cloned());
        secrets
    }

    /// Round `k`'s expectation: every rule that is not masked and holds a credential of
    /// svc-jira rewritten to t(k+1); everything else as it is.
    fn expectation(&self, before: BTreeMap<String, Value>, k: usize) -> Expected {
        let token = Token::new(self.tokens[k + 1].clone());
        let mut expected = Expected::nothing(&before);
        expected.rotated = before
            .iter()
            .filter(|(uuid, _)| !self.masked.contains(*uuid))
            .filter_map(|(uuid, env)| {
                rewrite_for(&env["rule"], SVC_JIRA, &token).map(|r| (uuid.clone(), r))
            })
            .collect();
        expected
    }
}

fn uuid_of(envelope: &Value) -> String {
    envelope["rule"]["uuid"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// The rule holds a masked value as stored (what a UI export or a redacted read leaves).
fn holds_masked(envelope: &Value) -> bool {
    let selector = Selector::new(SVC_JIRA, vec![]);
    matches!(
        plan::plan_rule(&envelope["rule"], &selector, None),
        RuleDecision::LeftAlone(LeftAlone::MaskedValue { .. } | LeftAlone::MayHoldMasked { .. })
    )
}

/// One sandbox's worth of rounds and its fault knobs.
struct Block {
    rounds: usize,
    storm: bool,
    seed: u64,
}

impl Block {
    fn schedule(rotations: usize, rng: &mut StdRng) -> Vec<Block> {
        let mut blocks = Vec::new();
        let mut left = rotations;
        while left > 0 {
            let storm = blocks.len() % 3 == 2;
            let rounds = left.min(if storm { STORM_ROUNDS } else { BLOCK_ROUNDS });
            blocks.push(Block {
                rounds,
                storm,
                seed: rng.gen(),
            });
            left -= rounds;
        }
        blocks
    }

    fn apply(&self, config: &mut SandboxConfig) {
        config.error_rate = ERROR_RATE;
        config.drop_rate = DROP_RATE;
        config.lost_put_rate = LOST_PUT_RATE;
        config.seed = self.seed;
        config.rate_limit_per_sec = self.storm.then_some(STORM_RATE_PER_SEC);
        // Named only in the 429s, as Jira does: with the limit on every answer the client
        // paces to it from the start and the storm never comes.
        config.rate_limit_headers = autorekey::sandbox::RateLimitHeaders::On429;
    }
}

// ------------------------------------------------------------------ running the binary

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Interrupt {
    None,
    Int(Duration),
    Kill(Duration),
}

/// One run of `autorekey rotate`, its output already checked for secrets.
struct Run {
    code: Option<i32>,
    /// The signal sent while the process was still running.
    signalled: Option<&'static str>,
    stdout: String,
    stderr: String,
    /// The run's backup directory, if it made one.
    run_dir: Option<PathBuf>,
    elapsed: Duration,
}

impl Run {
    fn summary(&self) -> Option<&str> {
        self.stdout.split_once("Summary for ").map(|(_, s)| s)
    }

    /// uuid -> the summary line that names it (every outcome but rotated and current).
    fn reported(&self) -> BTreeMap<String, String> {
        let Some(summary) = self.summary() else {
            return BTreeMap::new();
        };
        summary
            .lines()
            .filter_map(|l| l.strip_prefix("  - "))
            .filter_map(|l| {
                let uuid = l.rsplit_once('(')?.1.strip_suffix(')')?;
                Some((uuid.to_owned(), l.to_owned()))
            })
            .collect()
    }

    fn context(&self) -> String {
        format!(
            "exit {:?}, signal {:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.signalled, self.stdout, self.stderr
        )
    }
}

/// `autorekey rotate --account svc-jira --yes` against `site`, to `new_token`.
fn rotate(site: &TestSite, storm: bool, new_token: &str, label: &str) -> (Command, PathBuf) {
    let backups = site.dir.path().join(format!("backups-{label}"));
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_autorekey"));
    for var in ["AUTOREKEY_NO_RETRY_DELAY", "AUTOREKEY_NEW_TOKEN"] {
        cmd.env_remove(var);
    }
    cmd.env("AUTOREKEY_SITE", site.base_url())
        .env("AUTOREKEY_LOGIN", &site.login)
        .env("AUTOREKEY_API_TOKEN", site.admin_token())
        .env("AUTOREKEY_NEW_TOKEN", new_token)
        .env("NO_COLOR", "1")
        .env("AUTOREKEY_FINGERPRINT_KEY", common::TEST_FINGERPRINT_KEY)
        .args(["rotate", "--account", SVC_JIRA, "--yes"])
        .args(["--concurrency", CONCURRENCY, "--backup-dir"])
        .arg(&backups);
    if !storm {
        cmd.env("AUTOREKEY_NO_RETRY_DELAY", "1");
    }
    (cmd, backups)
}

/// Runs `cmd`, signalling it as `interrupt` says, and checks its output for `secrets`.
fn run(mut cmd: Command, backups: &Path, interrupt: Interrupt, secrets: &[String]) -> Run {
    let out_path = backups.with_extension("out");
    let err_path = backups.with_extension("err");
    // Files, not pipes: a child blocked on a full pipe while the test sleeps would turn a
    // chosen moment into a different one.
    cmd.stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path).expect("create the stdout file"))
        .stderr(std::fs::File::create(&err_path).expect("create the stderr file"));
    let started = Instant::now();
    let mut child = cmd.spawn().expect("spawn autorekey");
    let mut signalled = None;
    if let Interrupt::Int(after) | Interrupt::Kill(after) = interrupt {
        // Not yet waited for, so the pid cannot have been reused even if it just exited.
        if !exits_within(&mut child, after) {
            signalled = Some(match interrupt {
                Interrupt::Kill(_) => {
                    child.kill().expect("SIGKILL the child");
                    "SIGKILL"
                }
                _ => {
                    let pid = child.id().to_string();
                    let sent = Command::new("kill").args(["-s", "INT", &pid]).status();
                    assert!(sent.is_ok_and(|s| s.success()), "kill -s INT failed");
                    "SIGINT"
                }
            });
        }
    }
    let status = child.wait().expect("wait for autorekey");
    let elapsed = started.elapsed();
    let read = |p: &Path| String::from_utf8(std::fs::read(p).expect("read output")).unwrap();
    let (stdout, stderr) = (read(&out_path), read(&err_path));
    assert_no_secrets(&stdout, secrets);
    assert_no_secrets(&stderr, secrets);
    Run {
        code: status.code(),
        signalled,
        stdout,
        stderr,
        run_dir: run_dirs(backups).pop(),
        elapsed,
    }
}

/// Whether `child` exits within `limit` (polled, so a quick run is not waited on).
fn exits_within(child: &mut std::process::Child, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if child.try_wait().expect("poll the child").is_some() {
            return true;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        std::thread::sleep(left.min(Duration::from_millis(5)));
    }
}

// ------------------------------------------------------------------ the invariants

/// What one run must have left, given the round's expectation and the site just before it.
struct Check<'a> {
    world: &'a World,
    expected: &'a Expected,
    initial: &'a BTreeMap<String, Value>,
    at_start: &'a BTreeMap<String, Value>,
    now: &'a BTreeMap<String, Value>,
    run: &'a Run,
}

impl Check<'_> {
    fn problems(&self) -> Vec<String> {
        let mut out = self.rules();
        out.extend(self.backups_and_journal());
        out.extend(self.reporting());
        if self.run.stderr.contains("panicked") {
            out.push("the binary panicked".into());
        }
        out
    }

    /// Every rule rotated exactly or untouched; masked rules as they were at the start.
    fn rules(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (uuid, now) in self.now {
            // Untouched is byte-identical; anything else must be exactly the rotation.
            if self.expected.before.get(uuid) != Some(now) {
                if let Err(problems) = self.expected.check(uuid, now) {
                    out.extend(problems);
                }
            }
            if self.world.masked.contains(uuid) && Some(now) != self.initial.get(uuid) {
                out.push(format!("masked rule {uuid} was written"));
            }
        }
        out
    }

    fn changed_by_run(&self) -> Vec<&String> {
        self.now
            .iter()
            .filter(|(uuid, now)| self.at_start.get(*uuid) != Some(*now))
            .map(|(uuid, _)| uuid)
            .collect()
    }

    /// A rule the run changed has its backup (the rule as it was) and a `writing` entry;
    /// a rule the journal calls verified did change.
    fn backups_and_journal(&self) -> Vec<String> {
        let changed = self.changed_by_run();
        let Some(dir) = &self.run.run_dir else {
            return changed
                .iter()
                .map(|u| format!("{u} changed but the run made no backup directory"))
                .collect();
        };
        let steps = steps_by_rule(&journal_entries(dir));
        let mut out = Vec::new();
        for uuid in changed {
            let has = |step: &str| steps.get(uuid).is_some_and(|s| s.iter().any(|x| x == step));
            if !has("writing") {
                out.push(format!("{uuid} changed without a `writing` journal entry"));
            }
            let path = dir.join("rules").join(format!("{uuid}.json"));
            match std::fs::read(&path)
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok())
            {
                None => out.push(format!("{uuid} changed without a readable backup")),
                Some(backup) => {
                    let moved: Vec<String> = all_differences(&self.at_start[uuid], &backup)
                        .into_iter()
                        .filter(|p| p != "/rule/updated")
                        .collect();
                    if !moved.is_empty() {
                        out.push(format!("backup of {uuid} differs at {moved:?}"));
                    }
                }
            }
        }
        for (uuid, s) in &steps {
            let verified = s.iter().any(|x| x == "verified");
            if verified && self.now.get(uuid) == self.expected.before.get(uuid) {
                out.push(format!("{uuid} journalled as verified but is untouched"));
            }
        }
        out
    }

    /// Every rule still waiting for its rotation, and every masked rule, is named in the
    /// summary; a run without a summary died of a signal or wrote nothing.
    fn reporting(&self) -> Vec<String> {
        let run = self.run;
        if run.summary().is_none() {
            let killed = run.code.is_none() && run.signalled.is_some();
            let refused = run.stderr.lines().any(|l| l.starts_with("Error: "));
            return match (killed, refused, self.changed_by_run().is_empty()) {
                (true, _, _) | (_, true, true) => vec![],
                (_, true, false) => vec!["a run that ended in an error wrote rules".into()],
                _ => vec!["the run printed neither a summary nor an error".into()],
            };
        }
        let reported = run.reported();
        let mut out = Vec::new();
        for (uuid, now) in self.now {
            let waiting = self.expected.rotated.contains_key(uuid)
                && self.expected.before.get(uuid) == Some(now);
            if waiting && !reported.contains_key(uuid) {
                out.push(format!(
                    "{uuid} is untouched but the summary does not name it"
                ));
            }
        }
        for uuid in &self.world.masked {
            let line = reported.get(uuid).map(String::as_str).unwrap_or_default();
            if !(line.starts_with("Left alone") || line.contains("could not read it")) {
                out.push(format!("masked rule {uuid} is not reported as left alone"));
            }
        }
        out
    }
}

/// The run's journal; none when the run was killed between making its backup directory
/// and opening the journal (it had written nothing then, which the caller checks).
fn journal_entries(run_dir: &Path) -> Vec<journal::Entry> {
    match journal::read(&run_dir.join("journal.jsonl")) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => panic!("cannot read the journal in {run_dir:?}: {e}"),
    }
}

/// The run finished the job: a summary whose every line is a masked rule left alone.
fn converged(run: &Run, masked: &BTreeSet<String>) -> bool {
    let reported = run.reported();
    run.summary().is_some()
        && run.code.is_some()
        && reported.keys().all(|u| masked.contains(u))
        && reported.values().all(|l| l.starts_with("Left alone"))
}

// ------------------------------------------------------------------ counts

#[derive(Default)]
struct Counts {
    rotations: usize,
    sigint: usize,
    sigint_graceful: usize,
    sigint_died: usize,
    sigkill: usize,
    signal_too_late: usize,
    runs: usize,
    reruns: usize,
    max_reruns: usize,
    rules_rotated: usize,
    rotated_by_first_run: usize,
    left_alone_reports: usize,
    failed_reports: usize,
    not_attempted_reports: usize,
    stopped_before_writing: usize,
    stats: SandboxStats,
}

impl Counts {
    fn note_run(&mut self, run: &Run, interrupt: Interrupt) {
        self.runs += 1;
        match (interrupt, run.signalled) {
            (Interrupt::None, _) => {}
            (_, None) => self.signal_too_late += 1,
            (Interrupt::Int(_), Some(_)) => {
                self.sigint += 1;
                self.sigint_graceful += usize::from(run.code == Some(1) && run.summary().is_some());
                self.sigint_died += usize::from(run.code.is_none());
            }
            (Interrupt::Kill(_), Some(_)) => self.sigkill += 1,
        }
        if run.summary().is_none() && run.code.is_some() {
            self.stopped_before_writing += 1;
        }
        for line in run.reported().values() {
            let n = if line.starts_with("Left alone") {
                &mut self.left_alone_reports
            } else if line.starts_with("Failed") {
                &mut self.failed_reports
            } else if line.starts_with("Not attempted") {
                &mut self.not_attempted_reports
            } else {
                continue;
            };
            *n += 1;
        }
    }

    fn add_stats(&mut self, s: &SandboxStats) {
        let t = &mut self.stats;
        t.total_requests += s.total_requests;
        t.lost_puts += s.lost_puts;
        t.dropped_connections += s.dropped_connections;
        t.rate_limited += s.rate_limited;
        t.server_errors += s.server_errors;
        for (k, v) in &s.per_endpoint {
            *t.per_endpoint.entry(k.clone()).or_default() += v;
        }
    }
}

impl fmt::Display for Counts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.stats;
        writeln!(f, "rotations                      {}", self.rotations)?;
        writeln!(f, "runs of rotate                 {}", self.runs)?;
        writeln!(
            f,
            "interrupted by SIGINT          {} ({} finished the rules in flight and printed a summary, {} died of it before the writes began, the rest came when no rule was left to start)",
            self.sigint, self.sigint_graceful, self.sigint_died
        )?;
        writeln!(f, "interrupted by SIGKILL         {}", self.sigkill)?;
        writeln!(
            f,
            "signals drawn too late         {} (the run had already ended)",
            self.signal_too_late
        )?;
        writeln!(
            f,
            "rules rotated (verified)       {} ({} by the round's first run)",
            self.rules_rotated, self.rotated_by_first_run
        )?;
        writeln!(
            f,
            "masked rules left alone        {} reports",
            self.left_alone_reports
        )?;
        writeln!(
            f,
            "failed / not attempted lines   {} / {}",
            self.failed_reports, self.not_attempted_reports
        )?;
        writeln!(
            f,
            "runs stopped before writing    {} (an error such as an unreadable rule list)",
            self.stopped_before_writing
        )?;
        writeln!(
            f,
            "reruns needed                  {} in all, at most {} in one round",
            self.reruns, self.max_reruns
        )?;
        writeln!(
            f,
            "requests / PUTs                {} / {}",
            s.total_requests,
            s.endpoint("PUT rule")
        )?;
        writeln!(f, "lost PUT answers               {}", s.lost_puts)?;
        writeln!(
            f,
            "dropped connections            {}",
            s.dropped_connections
        )?;
        writeln!(f, "500/503 answers                {}", s.server_errors)?;
        write!(f, "429 answers                    {}", s.rate_limited)
    }
}

// ------------------------------------------------------------------ the soak

struct Soak {
    world: World,
    rng: StdRng,
    seed: u64,
    initial: BTreeMap<String, Value>,
    counts: Counts,
    /// Typical length of an uninterrupted run, without and with a 429 storm, to draw
    /// interruption moments within it.
    typical_run: [Duration; 2],
}

impl Soak {
    fn interrupt(&mut self, storm: bool) -> Interrupt {
        let draw: f64 = self.rng.gen();
        let at = self.typical_run[usize::from(storm)].mul_f64(self.rng.gen_range(0.0..1.2));
        if draw < P_SIGKILL {
            Interrupt::Kill(at)
        } else if draw < P_SIGKILL + P_SIGINT {
            Interrupt::Int(at)
        } else {
            Interrupt::None
        }
    }

    /// One run in round `k`, checked; panics naming the seed, round and every problem.
    fn run_checked(
        &mut self,
        site: &TestSite,
        block: &Block,
        expected: &Expected,
        (k, attempt): (usize, usize),
        interrupt: Interrupt,
    ) -> Run {
        let at_start = snapshot(site);
        // Every run of round k is "the same command": one backup folder, so a rerun carries
        // on the rotation the interrupted run started (and knows the new token is its own).
        let (cmd, backups) = rotate(
            site,
            block.storm,
            &self.world.tokens[k + 1],
            &format!("{k}"),
        );
        let run = run(cmd, &backups, interrupt, &self.world.secrets(k));
        if run.signalled.is_some() {
            // A killed client may leave a request the server is still applying.
            std::thread::sleep(Duration::from_millis(20));
        }
        let now = snapshot(site);
        let check = Check {
            world: &self.world,
            expected,
            initial: &self.initial,
            at_start: &at_start,
            now: &now,
            run: &run,
        };
        let problems = check.problems();
        assert!(
            problems.is_empty(),
            "seed {} rotation {k} run {attempt} ({interrupt:?}, storm {}):\n  {}\n{}",
            self.seed,
            block.storm,
            problems.join("\n  "),
            run.context()
        );
        if interrupt == Interrupt::None {
            let typical = &mut self.typical_run[usize::from(block.storm)];
            *typical = (*typical * 3 + run.elapsed) / 4;
        }
        self.counts.note_run(&run, interrupt);
        run
    }

    /// Rotation k: one run, maybe interrupted, then reruns until only masked rules remain.
    fn round(&mut self, site: &TestSite, block: &Block, k: usize) {
        let expected = self.world.expectation(snapshot(site), k);
        let interrupt = self.interrupt(block.storm);
        let mut run = self.run_checked(site, block, &expected, (k, 0), interrupt);
        let first_done = changed(&expected, &snapshot(site));
        let mut reruns = 0;
        while !converged(&run, &self.world.masked) {
            reruns += 1;
            assert!(
                reruns <= MAX_RERUNS,
                "seed {} rotation {k}: still not done after {MAX_RERUNS} reruns\n{}",
                self.seed,
                run.context()
            );
            run = self.run_checked(site, block, &expected, (k, reruns), Interrupt::None);
        }
        expected.assert_site(site);
        let c = &mut self.counts;
        c.rotations += 1;
        c.reruns += reruns;
        c.max_reruns = c.max_reruns.max(reruns);
        c.rules_rotated += expected.rotated.len();
        c.rotated_by_first_run += first_done;
    }
}

/// How many of the expected rotations the site already shows.
fn changed(expected: &Expected, now: &BTreeMap<String, Value>) -> usize {
    expected
        .rotated
        .keys()
        .filter(|u| expected.before.get(*u) != now.get(*u))
        .count()
}

#[test]
#[ignore = "the soak is its own step (.ci/run): cargo test --test it test_soak:: -- --ignored"]
fn every_rule_ends_rotated_or_untouched_and_reported_and_a_rerun_finishes() {
    let rotations = env_or("AUTOREKEY_SOAK_ROTATIONS", DEFAULT_ROTATIONS);
    let generated = env_or("AUTOREKEY_SOAK_GENERATED", DEFAULT_GENERATED);
    let seed = env_or("AUTOREKEY_SOAK_SEED", rand::random::<u64>());
    println!("soak: seed {seed} (AUTOREKEY_SOAK_SEED={seed} replays it), {rotations} rotations");
    let started = Instant::now();
    let mut rng = StdRng::seed_from_u64(seed);
    let world = World::build(rotations, generated, &mut rng);
    let blocks = Block::schedule(rotations, &mut rng);
    let mut rules = world.spec.config.rules.clone();
    let mut soak = Soak {
        world,
        rng,
        seed,
        initial: BTreeMap::new(),
        counts: Counts::default(),
        typical_run: [Duration::from_millis(300), Duration::from_secs(5)],
    };
    let mut k = 0;
    for block in &blocks {
        let site = soak.world.site(rules, block);
        if soak.initial.is_empty() {
            soak.initial = snapshot(&site);
            assert!(
                soak.world
                    .masked
                    .iter()
                    .all(|u| soak.initial.contains_key(u)),
                "every masked rule is on the site"
            );
        }
        let block_started = Instant::now();
        for _ in 0..block.rounds {
            soak.round(&site, block, k);
            k += 1;
        }
        let stats = site.stats();
        println!(
            "soak: rotations {}..{k}{}: {:.1} s, {} requests, {} faults, {} x 429",
            k - block.rounds,
            if block.storm { " (429 storm)" } else { "" },
            block_started.elapsed().as_secs_f64(),
            stats.total_requests,
            stats.faults_injected,
            stats.rate_limited
        );
        soak.counts.add_stats(&stats);
        let state = site.state();
        rules = state
            .rule_uuids()
            .iter()
            .map(|u| state.rule(u).expect("a listed rule is stored"))
            .collect();
    }
    let c = &soak.counts;
    assert_eq!(c.rotations, rotations);
    assert!(c.rules_rotated > 0, "the soak rotated nothing");
    println!(
        "soak: seed {seed}, {} rules ({} masked), {:.1} s\n{c}",
        rules.len(),
        soak.world.masked.len(),
        started.elapsed().as_secs_f64()
    );
}
