//! Shared helpers for the end-to-end tests: run the real `autorekey` binary against an
//! in-process sandbox over loopback HTTP, with tokens minted at run time, and check that no
//! output ever carries a secret.
//!
//! Why it is shaped so:
//! - Tests are plain sync `#[test]`s because the binary is a child process the test thread
//!   waits on. A [`TestSite`] therefore owns a multi-thread tokio runtime on which the sandbox
//!   server is spawned: it keeps serving while the test thread blocks.
//! - No committed token reaches the network. [`Planted`] takes the fixture rules and accounts
//!   and swaps every fixture secret (plain, Basic base64 with and without padding, and so
//!   inside URLs and bodies) for a fresh `FAKE-<uuid>`, so the "no secret in any output"
//!   check runs against values that exist only for this run.
//! - Every run of the binary goes through [`run_checked`] (or [`TestSite::run`]), which calls
//!   [`assert_no_secrets`] on stdout and stderr before a test can look at them, so no test can
//!   forget the check, and a failing assertion that prints output prints checked output.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use autorekey::sandbox::{
    generate_rules, load_accounts_file, load_rules_dir, Account, Sandbox, SandboxConfig,
    SandboxState, SandboxStats,
};
use autorekey::secret::{Fingerprint, Token};
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use serde_json::Value;
use tempfile::TempDir;

// Helpers the per-command test modules share, kept beside the tests they grew up with.
pub mod cli;
pub mod files;
pub mod hostile;
pub mod org;
pub mod scan;
pub mod scoped;
pub mod snapshot;
pub mod terminal;

/// The admin account of `fixtures/accounts.json`.
pub const FIXTURE_ADMIN: &str = "admin@acme.example";

/// The admin and the account of the sites the tests build by hand (the same admin as the
/// fixtures').
pub const ADMIN: &str = FIXTURE_ADMIN;
pub const ALICE: &str = "alice@acme.example";

/// The team fingerprint key every run of the binary gets (AUTOREKEY_FINGERPRINT_KEY), so
/// keyed fingerprints (`k:…`) are the same in every run and the developer's own machine
/// key is never used or created. Not a secret: it guards only fake tokens.
pub const TEST_FINGERPRINT_KEY: &str = "autorekey-tests-fingerprint-key-0001";

/// The keyed fingerprint of `token` under [`TEST_FINGERPRINT_KEY`], as the binary shows it
/// for a secret that is not an Atlassian credential.
pub fn keyed_fingerprint(token: &str) -> Fingerprint {
    let key = autorekey::secret::FingerprintKey::from_text(TEST_FINGERPRINT_KEY).expect("long");
    Fingerprint::keyed(token, Some(&key))
}

/// Environment variables the binary reads; cleared so the developer's own settings never
/// leak into a test.
const AUTOREKEY_ENV: [&str; 9] = [
    "AUTOREKEY_GATEWAY_URL",
    "AUTOREKEY_ORG_API_KEY",
    "AUTOREKEY_ORG_ID",
    "AUTOREKEY_SITE",
    "AUTOREKEY_FINGERPRINT_KEY",
    "AUTOREKEY_LOGIN",
    "AUTOREKEY_API_TOKEN",
    "AUTOREKEY_NEW_TOKEN",
    "AUTOREKEY_NO_RETRY_DELAY",
];

/// Fixture secrets that belong to no sandbox account (the accounts' tokens come from
/// `fixtures/accounts.json`): the user they are paired with in a Basic value, and the value.
/// All are fake, documented in `fixtures/README.md`.
const EXTRA_FIXTURE_SECRETS: [(Option<&str>, &str); 8] = [
    (
        Some("svc-hidden@acme.example"),
        "FAKE-svc-hidden-bare-base64-7777",
    ),
    (None, "ATSTTfake-not-a-real-token-0002"),
    (None, "FAKE0000/FAKE1111/fakewebhooksecret0000000000"),
    (
        Some("automation-bot-a1b2c3@serviceaccount.atlassian.com"),
        "ATSTTfake-not-a-real-token-0001",
    ),
    (Some("deploy-bot"), "FAKE-deploy-bot-ci-6666"),
    (None, "FAKE-partner-hooks-bearer-5555"),
    (None, "FAKE-jenkins-remote-trigger-8888"),
    (
        None,
        "FAKE-webhook-5c1e9a7f3b2d4e6a8c0f1e3d5b7a9c2e4f6a8b0d",
    ),
];

pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// A token that exists only for this run.
pub fn fake_token() -> String {
    format!("FAKE-{}", uuid::Uuid::new_v4())
}

/// `fixtures/expected-findings.json`.
pub fn oracle() -> Value {
    let text = std::fs::read_to_string(fixtures_dir().join("expected-findings.json"))
        .expect("read the oracle");
    serde_json::from_str(&text).expect("the oracle is JSON")
}

// ------------------------------------------------------------------ Basic values as pasted

/// `echo "user:token" | base64`: the pair with its line end, in lines of 76 columns as
/// `base64` wraps it (without the output's own last line end).
pub fn echoed_basic(user: &str, token: &str) -> String {
    let b64 = STANDARD.encode(format!("{user}:{token}\n"));
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(76)
        .map(|line| std::str::from_utf8(line).expect("base64 is ASCII"))
        .collect();
    lines.join("\n")
}

/// What a form encoder escapes (`application/x-www-form-urlencoded`): all but alphanumerics
/// and `*-._`.
pub const FORM: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'*')
    .remove(b'-')
    .remove(b'.')
    .remove(b'_');

/// `text` as a form body carries it.
pub fn form_encoded(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, FORM).to_string()
}

// ------------------------------------------------------------------ secrets in output

/// Every form in which `secret` could leak: as is, percent-encoded, and the part of a
/// base64 encoding (standard, unpadded or URL-safe) that depends only on the secret, at each
/// of the three byte alignments. The last covers `base64(user:secret)` for *any* user,
/// known or not, since whatever precedes the secret only shifts its alignment.
pub fn secret_forms(secret: &str) -> Vec<(&'static str, String)> {
    let mut forms = vec![("plain", secret.to_owned())];
    let encoded = percent_encoding::utf8_percent_encode(secret, percent_encoding::NON_ALPHANUMERIC)
        .to_string();
    if encoded != secret {
        forms.push(("percent-encoded", encoded.clone()));
        forms.push(("percent-encoded", encoded.to_ascii_lowercase()));
    }
    for align in 0..3usize {
        let mut bytes = vec![0u8; align];
        bytes.extend_from_slice(secret.as_bytes());
        let whole_groups = bytes.len() / 3;
        // Characters before `skip` mix in the zero padding bytes: drop them.
        let skip = [0, 2, 3][align];
        let core = &STANDARD_NO_PAD.encode(&bytes[..whole_groups * 3])[skip..];
        forms.push(("base64", core.to_owned()));
        let url_safe = &URL_SAFE_NO_PAD.encode(&bytes[..whole_groups * 3])[skip..];
        if url_safe != core {
            forms.push(("url-safe base64", url_safe.to_owned()));
        }
    }
    forms
}

/// Fails if any of `secrets` appears in `output` in any form of [`secret_forms`]. The
/// message names the secret by index and fingerprint only, never by value.
pub fn assert_no_secrets(output: &str, secrets: &[String]) {
    for (i, secret) in secrets.iter().enumerate() {
        assert!(secret.len() >= 8, "secret #{i} is too short to look for");
        for (kind, form) in secret_forms(secret) {
            if let Some(at) = output.find(&form) {
                panic!(
                    "secret #{i} (fingerprint {}) leaked {kind} at byte {at} of the output",
                    Fingerprint::of(secret)
                );
            }
        }
    }
}

// ------------------------------------------------------------------ running the binary

/// What one run of the binary produced; already checked for secrets.
#[derive(Debug)]
pub struct RunOutput {
    /// `None` when killed by a signal.
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl RunOutput {
    /// Asserts the exit status, showing both streams when it differs.
    pub fn expect_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code,
            Some(code),
            "unexpected exit status\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout,
            self.stderr
        );
        assert!(
            !self.stderr.contains("panicked"),
            "the binary panicked:\n{}",
            self.stderr
        );
        self
    }

    /// Stdout parsed as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}):\n{}\n--- stderr\n{}",
                self.stdout, self.stderr
            )
        })
    }

    /// The `Error:` line and at least one `Hint:` line a failing command must print.
    pub fn expect_error_with_hint(&self) -> &Self {
        assert!(
            self.stderr.lines().any(|l| l.starts_with("Error: ")),
            "no `Error:` line on stderr:\n{}",
            self.stderr
        );
        assert!(
            self.stderr.lines().any(|l| l.starts_with("Hint: ")),
            "no `Hint:` line on stderr:\n{}",
            self.stderr
        );
        self
    }
}

/// The binary with a clean environment: no `AUTOREKEY_*` setting from the caller, no colour,
/// and no retry sleeps (`AUTOREKEY_NO_RETRY_DELAY=1`; remove it for a test that needs the
/// client to honour `Retry-After`).
pub fn autorekey() -> Command {
    let mut cmd = Command::cargo_bin("autorekey").expect("the autorekey binary is built");
    for var in AUTOREKEY_ENV {
        cmd.env_remove(var);
    }
    cmd.env("AUTOREKEY_NO_RETRY_DELAY", "1")
        .env("AUTOREKEY_FINGERPRINT_KEY", TEST_FINGERPRINT_KEY)
        .env("NO_COLOR", "1");
    cmd
}

/// `cmd` as a std `Command` (same program, arguments and environment), for a run whose
/// stdout goes elsewhere or that runs on a terminal: assert_cmd's always captures stdout.
pub fn std_command(cmd: &Command) -> std::process::Command {
    let mut plain = std::process::Command::new(cmd.get_program());
    plain.args(cmd.get_args());
    for (name, value) in cmd.get_envs() {
        match value {
            Some(value) => plain.env(name, value),
            None => plain.env_remove(name),
        };
    }
    plain
}

/// Runs `cmd` to completion and checks both streams for `secrets` before returning them.
pub fn run_checked(mut cmd: Command, secrets: &[String]) -> RunOutput {
    checked(cmd.output().expect("run the autorekey binary"), secrets)
}

/// A finished process's output as text, after both streams were checked for `secrets`.
pub fn checked(output: std::process::Output, secrets: &[String]) -> RunOutput {
    let stdout = String::from_utf8(output.stdout).expect("stdout is UTF-8");
    let stderr = String::from_utf8(output.stderr).expect("stderr is UTF-8");
    assert_no_secrets(&stdout, secrets);
    assert_no_secrets(&stderr, secrets);
    RunOutput {
        code: output.status.code(),
        stdout,
        stderr,
    }
}

// ------------------------------------------------------------------ planted fixtures

/// One fixture secret and the fresh value that replaces it.
#[derive(Clone, Debug)]
struct Replacement {
    user: Option<String>,
    fixture: String,
    fresh: String,
}

impl Replacement {
    /// Rewrites every occurrence in `text`: Basic values first (padded, then unpadded, as
    /// rule 10 writes it), then the plain value (URLs, query strings, bodies, tokens).
    fn apply(&self, text: &str) -> String {
        let mut text = text.to_owned();
        if let Some(user) = &self.user {
            for engine in [&STANDARD, &STANDARD_NO_PAD] {
                let old = engine.encode(format!("{user}:{}", self.fixture));
                let new = engine.encode(format!("{user}:{}", self.fresh));
                text = text.replace(&old, &new);
            }
        }
        text.replace(&self.fixture, &self.fresh)
    }
}

/// The fixture rules (`fixtures/rules` and `fixtures/export`) and accounts, with every
/// fixture secret replaced by a fresh fake one.
#[derive(Clone)]
pub struct Planted {
    /// Rule envelopes for [`SandboxConfig::rules`] (sandbox trap keys kept).
    pub rules: Vec<Value>,
    /// `fixtures/accounts.json`, with the same replacements.
    pub accounts: Vec<Account>,
    replacements: Vec<Replacement>,
}

impl Planted {
    /// All fixture rules, the UI export's included, with fresh secrets.
    pub fn fixtures() -> Planted {
        let root = fixtures_dir();
        let mut rules = load_rules_dir(&root.join("rules")).expect("load fixtures/rules");
        rules.extend(load_rules_dir(&root.join("export")).expect("load fixtures/export"));
        Planted::new(rules)
    }

    /// `rules` (envelopes holding fixture secrets) with fresh secrets.
    pub fn new(rules: Vec<Value>) -> Planted {
        let fixture_accounts =
            load_accounts_file(&fixtures_dir().join("accounts.json")).expect("load accounts");
        let replacements = fixture_secrets(&fixture_accounts)
            .into_iter()
            .map(|(user, fixture)| Replacement {
                user,
                fixture,
                fresh: fake_token(),
            })
            .collect::<Vec<_>>();
        let rules: Vec<Value> = rules
            .into_iter()
            .map(|mut r| {
                map_strings(&mut r, &|s| plant(s, &replacements));
                r
            })
            .collect();
        let fixture_tokens: Vec<String> = replacements.iter().map(|r| r.fixture.clone()).collect();
        // The planting is complete only if no fixture secret is left in any form.
        assert_no_secrets(&Value::Array(rules.clone()).to_string(), &fixture_tokens);
        let swap = |t: &Token| Token::new(plant(t.expose(), &replacements));
        let accounts = fixture_accounts
            .into_iter()
            .map(|a| Account {
                tokens: a.tokens.iter().map(swap).collect(),
                revoked_tokens: a.revoked_tokens.iter().map(swap).collect(),
                ..a
            })
            .collect();
        Planted {
            rules,
            accounts,
            replacements,
        }
    }

    /// The fresh value that replaced `fixture_token`.
    pub fn fresh(&self, fixture_token: &str) -> String {
        self.replacements
            .iter()
            .find(|r| r.fixture == fixture_token)
            .map(|r| r.fresh.clone())
            .unwrap_or_else(|| {
                panic!(
                    "not a fixture secret (fingerprint {})",
                    Fingerprint::of(fixture_token)
                )
            })
    }

    /// Fixture fingerprint -> fingerprint of its fresh replacement, plain and keyed (under
    /// [`TEST_FINGERPRINT_KEY`]), to read the oracle (written for the fixture tokens) against
    /// a planted site.
    pub fn fingerprint_map(&self) -> BTreeMap<String, String> {
        self.replacements
            .iter()
            .flat_map(|r| {
                [
                    (Fingerprint::of(&r.fixture), Fingerprint::of(&r.fresh)),
                    (keyed_fingerprint(&r.fixture), keyed_fingerprint(&r.fresh)),
                ]
            })
            .map(|(fixture, fresh)| (fixture.to_string(), fresh.to_string()))
            .collect()
    }

    /// The fresh token of the first valid token of `email`'s account.
    pub fn token_of(&self, email: &str) -> String {
        let account = self
            .accounts
            .iter()
            .find(|a| a.email.eq_ignore_ascii_case(email))
            .unwrap_or_else(|| panic!("no fixture account {email}"));
        account.tokens[0].expose().to_owned()
    }

    /// Every secret that must never be printed: the fresh ones and the fixture ones.
    pub fn secrets(&self) -> Vec<String> {
        self.replacements
            .iter()
            .flat_map(|r| [r.fresh.clone(), r.fixture.clone()])
            .collect()
    }

    /// A site serving these rules and accounts, logged in as the fixture admin.
    pub fn site_spec(&self) -> SiteSpec {
        SiteSpec {
            config: SandboxConfig {
                rules: self.rules.clone(),
                accounts: self.accounts.clone(),
                ..SandboxConfig::default()
            },
            login: FIXTURE_ADMIN.to_owned(),
            admin_token: self.token_of(FIXTURE_ADMIN),
            secrets: self.secrets(),
        }
    }
}

/// Every fixture secret with the user it is paired with: the accounts' tokens (valid and
/// revoked) and [`EXTRA_FIXTURE_SECRETS`].
pub fn fixture_secrets(accounts: &[Account]) -> Vec<(Option<String>, String)> {
    let mut secrets: Vec<(Option<String>, String)> = accounts
        .iter()
        .flat_map(|a| {
            a.tokens
                .iter()
                .chain(&a.revoked_tokens)
                .map(|t| (Some(a.email.clone()), t.expose().to_owned()))
        })
        .collect();
    secrets.extend(
        EXTRA_FIXTURE_SECRETS
            .iter()
            .map(|(user, token)| (user.map(str::to_owned), (*token).to_owned())),
    );
    secrets
}

/// The fixture secrets alone, for runs over the unmodified fixture files (`--from-file`).
pub fn fixture_secret_values() -> Vec<String> {
    let accounts =
        load_accounts_file(&fixtures_dir().join("accounts.json")).expect("load accounts");
    fixture_secrets(&accounts)
        .into_iter()
        .map(|(_, t)| t)
        .collect()
}

fn plant(text: &str, replacements: &[Replacement]) -> String {
    replacements
        .iter()
        .fold(text.to_owned(), |text, r| r.apply(&text))
}

/// Applies `f` to every string in `value`, keys excluded.
pub fn map_strings(value: &mut Value, f: &impl Fn(&str) -> String) {
    match value {
        Value::String(s) => *s = f(s),
        Value::Array(items) => items.iter_mut().for_each(|v| map_strings(v, f)),
        Value::Object(map) => map.values_mut().for_each(|v| map_strings(v, f)),
        _ => {}
    }
}

// ------------------------------------------------------------------ sites

/// What a [`TestSite`] serves and who logs in. Build one from [`Planted::site_spec`] or
/// [`SiteSpec::generated`], adjust the sandbox with [`SiteSpec::with`], then
/// [`SiteSpec::start`]. Cloning it gives a second site with the very same rules and tokens
/// (a clean run to compare a faulty one with).
#[derive(Clone)]
pub struct SiteSpec {
    pub config: SandboxConfig,
    pub login: String,
    pub admin_token: String,
    /// Every secret the site's rules and accounts hold.
    pub secrets: Vec<String>,
}

impl SiteSpec {
    /// `n` generated rules (seeded shapes, tokens from the system RNG) and a fresh admin.
    pub fn generated(n: usize, seed: u64) -> SiteSpec {
        let (rules, mut accounts) = generate_rules(n, seed);
        let login = "e2e-admin@sandbox.test".to_owned();
        let admin_token = fake_token();
        accounts.push(Account {
            email: login.clone(),
            account_id: "712020:e2e-admin".into(),
            admin: true,
            tokens: vec![Token::new(admin_token.clone())],
            revoked_tokens: vec![],
        });
        let mut secrets: Vec<String> = accounts
            .iter()
            .flat_map(|a| a.tokens.iter().chain(&a.revoked_tokens))
            .map(|t| t.expose().to_owned())
            .collect();
        secrets.extend(rules.iter().flat_map(inline_secrets));
        SiteSpec {
            config: SandboxConfig {
                rules,
                accounts,
                ..SandboxConfig::default()
            },
            login,
            admin_token,
            secrets,
        }
    }

    pub fn with(mut self, f: impl FnOnce(&mut SandboxConfig)) -> SiteSpec {
        f(&mut self.config);
        self
    }

    pub fn start(self) -> TestSite {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("build a tokio runtime");
        let sandbox = rt
            .block_on(Sandbox::start(self.config))
            .expect("start the sandbox");
        TestSite {
            sandbox,
            _rt: rt,
            login: self.login,
            admin_token: self.admin_token,
            secrets: self.secrets,
            dir: tempfile::tempdir().expect("a temp dir"),
        }
    }
}

/// Secrets a generated rule holds that belong to no account: Bearer header values and
/// incoming-webhook tokens (found by shape, independently of the detector under test).
fn inline_secrets(envelope: &Value) -> Vec<String> {
    let mut found = Vec::new();
    collect_inline(envelope, &mut found);
    found
}

fn collect_inline(value: &Value, found: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                match (key.as_str(), v.as_str()) {
                    ("webhookToken", Some(t)) if t.len() >= 8 => found.push(t.to_owned()),
                    ("value", Some(t)) => {
                        if let Some(bearer) = t.strip_prefix("Bearer ") {
                            found.push(bearer.trim().to_owned());
                        }
                    }
                    _ => collect_inline(v, found),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_inline(v, found)),
        _ => {}
    }
}

/// A running sandbox plus what the binary needs to use it.
pub struct TestSite {
    // Declared before `_rt`: the server stops before its runtime goes away. The runtime is
    // held only to keep the server running.
    sandbox: Sandbox,
    _rt: tokio::runtime::Runtime,
    pub login: String,
    admin_token: String,
    secrets: Vec<String>,
    /// Scratch space for token files, backups and plans; removed on drop.
    pub dir: TempDir,
}

impl TestSite {
    pub fn base_url(&self) -> String {
        self.sandbox.base_url()
    }

    /// The site's cloud id, as `/_edge/tenant_info` gives it.
    pub fn cloud_id(&self) -> String {
        self.sandbox.cloud_id().to_owned()
    }

    pub fn state(&self) -> std::sync::Arc<SandboxState> {
        self.sandbox.state()
    }

    pub fn stats(&self) -> SandboxStats {
        self.sandbox.state().stats()
    }

    /// The admin's token, for tests that must hand it over some other way (a file, stdin).
    pub fn admin_token(&self) -> &str {
        &self.admin_token
    }

    /// Every secret of the site; extend it with [`TestSite::add_secret`] for tokens a test
    /// introduces (a rotation's new token).
    pub fn secrets(&self) -> &[String] {
        &self.secrets
    }

    pub fn add_secret(&mut self, secret: impl Into<String>) {
        self.secrets.push(secret.into());
    }

    /// The binary, pointed at this site as its admin (site, login and token from the
    /// environment, as a CI job would set them).
    pub fn cmd(&self) -> Command {
        let mut cmd = autorekey();
        cmd.env("AUTOREKEY_SITE", self.base_url())
            .env("AUTOREKEY_LOGIN", &self.login)
            .env("AUTOREKEY_API_TOKEN", &self.admin_token)
            .env("XDG_DATA_HOME", self.data_dir());
        cmd
    }

    /// The data directory the binary uses for this site (its per-site lock lives there),
    /// inside the scratch space rather than the caller's home.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Runs the binary with `args` against this site; output checked for every secret.
    pub fn run(&self, args: &[&str]) -> RunOutput {
        let mut cmd = self.cmd();
        cmd.args(args);
        self.run_cmd(cmd)
    }

    /// Runs a command built from [`TestSite::cmd`] (extra env, stdin...); output checked.
    pub fn run_cmd(&self, cmd: Command) -> RunOutput {
        run_checked(cmd, &self.secrets)
    }

    /// Writes `contents` to `name` in the scratch directory and returns its path.
    pub fn write_file(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, contents).expect("write a scratch file");
        path
    }
}

/// The fields of a finding the oracle pins.
pub const ORACLE_FIELDS: [&str; 10] = [
    "rule_uuid",
    "component_id",
    "component_path",
    "location",
    "header_name",
    "scheme",
    "email",
    "fingerprint",
    "hidden",
    "status",
];

/// A finding cut down to the oracle's fields.
pub fn project(finding: &Value) -> Value {
    let fields = ORACLE_FIELDS.iter().map(|k| {
        (
            k.to_string(),
            finding.get(*k).cloned().unwrap_or(Value::Null),
        )
    });
    Value::Object(fields.collect())
}
