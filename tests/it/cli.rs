//! The command line itself, through the real binary: help text (snapshots, since people
//! read it), shell completions, the man page, `--color` and where the site options are
//! accepted, the built-in demo and the `-vv` request traces.

use crate::common;
use crate::common::{autorekey, checked, fake_token, RunOutput};

fn run(args: &[&str]) -> RunOutput {
    let mut cmd = autorekey();
    // Help shows an option's environment value and wraps to COLUMNS: keep both fixed.
    cmd.env_remove("AUTOREKEY_MAX_RESPONSE_MB")
        .env_remove("AUTOREKEY_ORG_ID")
        .env_remove("COLUMNS")
        .args(args);
    checked(cmd.output().expect("run autorekey"), &[])
}

#[test]
fn help_snapshots() {
    let top = run(&["--help"]);
    top.expect_code(0);
    insta::assert_snapshot!("help", top.stdout);
    let scan = run(&["scan", "--help"]);
    scan.expect_code(0);
    insta::assert_snapshot!("scan_help", scan.stdout);
}

#[test]
fn commands_that_ignore_the_site_do_not_list_its_options() {
    for command in [
        "demo",
        "sandbox",
        "fingerprint",
        "completions",
        "man",
        "backups",
    ] {
        let help = run(&[command, "--help"]);
        help.expect_code(0);
        // `sandbox --sites N` is the sandbox's own (how many sites it serves).
        assert!(
            !help.stdout.contains("--site <") && !help.stdout.contains("--sites-file"),
            "{command} --help:\n{}",
            help.stdout
        );
        // `completions` and `man` print what clap knows, whatever -v or --color say.
        let quiet = matches!(command, "completions" | "man");
        assert_eq!(
            help.stdout.contains("Global options:"),
            !quiet,
            "{command} --help:\n{}",
            help.stdout
        );
        assert_eq!(help.stdout.contains("--color <WHEN>"), !quiet, "{command}");
        assert_eq!(help.stdout.contains("--verbose"), !quiet, "{command}");
    }
    for command in ["scan", "rotate", "apply", "restore", "tokens", "revoke"] {
        let help = run(&[command, "--help"]);
        assert!(
            help.stdout.contains("Site options:\n      --site <URL>"),
            "{command}"
        );
    }
    let refused = run(&["--site", "https://acme.atlassian.net", "demo"]);
    refused.expect_code(2);
    assert!(refused
        .stderr
        .contains("--site is not used by `autorekey demo`"));
}

#[test]
fn a_site_option_typed_before_the_command_beats_the_environment() {
    // The site in the environment is not loopback over http, so it would be refused at
    // once; the one typed before `scan` must be the one checked.
    let mut cmd = autorekey();
    cmd.env("AUTOREKEY_SITE", "http://acme.example.net")
        .env("AUTOREKEY_LOGIN", "admin@acme.example")
        .args(["--site", "http://other.example.org", "scan"]);
    let out = checked(cmd.output().expect("run"), &[]);
    out.expect_code(2);
    assert!(out.stderr.contains("other.example.org"), "{}", out.stderr);
    assert!(!out.stderr.contains("acme.example.net"), "{}", out.stderr);
}

#[test]
fn bash_completions_name_every_command() {
    let out = run(&["completions", "bash"]);
    out.expect_code(0);
    assert!(out.stdout.contains("complete -F _autorekey"));
    for command in [
        "scan",
        "rotate",
        "apply",
        "restore",
        "backups",
        "demo",
        "completions",
        "man",
    ] {
        assert!(out.stdout.contains(command), "{command} missing");
    }
    run(&["completions", "zsh"]).expect_code(0);
    run(&["completions", "nosuchshell"]).expect_code(2);
}

#[test]
fn man_page_on_stdout_and_per_command_in_a_directory() {
    let out = run(&["man"]);
    out.expect_code(0);
    assert!(
        out.stdout.contains(".SH NAME\nautorekey"),
        "{}",
        &out.stdout[..300]
    );
    assert!(out.stdout.contains(".SH SUBCOMMANDS"));
    for section in ["EXIT STATUS", "ENVIRONMENT", "FILES", "SEE ALSO"] {
        let quoted = format!(".SH \"{section}\"\n");
        let bare = format!(".SH {section}\n");
        assert!(
            out.stdout.contains(&quoted) || out.stdout.contains(&bare),
            "{section}"
        );
    }
    // Every page it names is written, on stdout too: the main page, then one per command.
    let names = regex::Regex::new(r"autorekey\\-([a-z]+)\(1\)").unwrap();
    let named: std::collections::BTreeSet<&str> = names
        .captures_iter(&out.stdout)
        .map(|c| c.get(1).unwrap().as_str())
        .collect();
    assert!(named.len() >= 12 && !named.contains("help"), "{named:?}");
    for command in &named {
        assert!(
            out.stdout.contains(&format!(".TH autorekey-{command} 1")),
            "{command}"
        );
    }

    let dir = tempfile::tempdir().expect("a temp dir");
    let dir_arg = dir.path().to_str().expect("UTF-8");
    run(&["man", "--dir", dir_arg]).expect_code(0);
    let scan = std::fs::read_to_string(dir.path().join("autorekey-scan.1")).expect("scan page");
    assert!(scan.contains(".SH NAME") && scan.contains("\\-\\-verify"));
    assert!(dir.path().join("autorekey.1").is_file());
    for command in &named {
        let page = dir.path().join(format!("autorekey-{command}.1"));
        assert!(page.is_file(), "{}", page.display());
    }
    let completions = std::fs::read_to_string(dir.path().join("autorekey-completions.1")).unwrap();
    assert!(!completions.contains("verbose"), "{completions}");

    let missing = dir.path().join("nope");
    run(&["man", "--dir", missing.to_str().unwrap()]).expect_code(2);
}

/// An offline dry run: a bold rule heading and a coloured diff on stdout, a yellow
/// `Warning:` on stderr, when colour is on. Neither stream is a terminal here.
fn coloured_run(color: Option<&str>, env: &[(&str, &str)]) -> RunOutput {
    let export = common::fixtures_dir().join("export/ui-export.json");
    let dir = tempfile::tempdir().expect("a temp dir");
    let mut cmd = autorekey();
    cmd.env_remove("NO_COLOR")
        .env_remove("CLICOLOR")
        .env_remove("CLICOLOR_FORCE")
        .env("AUTOREKEY_NEW_TOKEN", fake_token())
        // Offline, no login can confirm the old token: the fixture's is given.
        .env("AUTOREKEY_OLD_TOKEN", "FAKE-svc-jira-OLD-token-1111");
    for (k, v) in env {
        cmd.env(k, v);
    }
    if let Some(c) = color {
        cmd.args(["--color", c]);
    }
    cmd.args(["rotate", "--account", "svc-jira@acme.example", "--dry-run"])
        .arg("--from-file")
        .arg(&export)
        .arg("--write")
        .arg(dir.path().join("never-written.json"));
    let out = checked(cmd.output().expect("run"), &[]);
    out.expect_code(0);
    assert!(
        out.stdout.contains("--- "),
        "the dry run shows a diff:\n{}",
        out.stdout
    );
    out
}

fn has_esc(out: &RunOutput) -> (bool, bool) {
    (out.stdout.contains('\u{1b}'), out.stderr.contains('\u{1b}'))
}

#[test]
fn color_follows_the_flag_then_the_environment() {
    assert_eq!(
        has_esc(&coloured_run(None, &[])),
        (false, false),
        "off a terminal: none"
    );
    let always = coloured_run(Some("always"), &[("NO_COLOR", "1")]);
    assert_eq!(
        has_esc(&always),
        (true, true),
        "--color always beats NO_COLOR"
    );
    assert!(always.stdout.contains("\u{1b}[1mRule \""), "bold heading");
    assert!(always.stdout.contains("\u{1b}[32m+"), "green added line");
    assert!(
        always.stderr.contains("\u{1b}[33m\u{1b}[1mWarning:"),
        "{:?}",
        always.stderr
    );
    let forced = coloured_run(None, &[("CLICOLOR_FORCE", "1")]);
    assert_eq!(has_esc(&forced), (true, true));
    let no_color = coloured_run(None, &[("CLICOLOR_FORCE", "1"), ("NO_COLOR", "1")]);
    assert_eq!(
        has_esc(&no_color),
        (false, false),
        "NO_COLOR wins over CLICOLOR_FORCE"
    );
    let never = coloured_run(Some("never"), &[("CLICOLOR_FORCE", "1")]);
    assert_eq!(has_esc(&never), (false, false));
}

#[test]
fn demo_runs_from_anywhere_with_its_built_in_fixtures() {
    let cwd = tempfile::tempdir().expect("a temp dir");
    let mut cmd = autorekey();
    cmd.current_dir(cwd.path()).arg("demo");
    let out = checked(cmd.output().expect("run"), &common::fixture_secret_values());
    out.expect_code(0);
    assert!(
        out.stdout.contains("with 27 automation rules"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("That was the whole job."));
    assert_eq!(
        std::fs::read_dir(cwd.path()).unwrap().count(),
        0,
        "the demo leaves nothing in the current folder"
    );

    let mut elsewhere = autorekey();
    elsewhere
        .current_dir(cwd.path())
        .args(["demo", "--fixtures", "."]);
    let refused = checked(elsewhere.output().expect("run"), &[]);
    refused.expect_code(2);
    assert!(
        refused.stderr.contains("holds no demo fixtures"),
        "{}",
        refused.stderr
    );
}

#[test]
fn a_sandbox_with_no_rules_says_so() {
    use std::io::{BufRead, BufReader};
    let empty = tempfile::tempdir().expect("a temp dir");
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("autorekey"))
        .env("NO_COLOR", "1")
        .args(["sandbox", "--rules"])
        .arg(empty.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start the sandbox");
    let mut said = Vec::new();
    for line in BufReader::new(child.stderr.take().expect("stderr")).lines() {
        let line = line.expect("a line");
        let done = line.contains("Ctrl-C stops it");
        said.push(line);
        if done {
            break;
        }
    }
    child.kill().expect("stop the sandbox");
    child.wait().expect("reap the sandbox");
    let said = said.join("\n");
    assert!(
        said.contains("Warning: the sandbox serves no rules: no rule files (*.json) in "),
        "{said}"
    );
    assert!(said.contains("serving 0 rules"), "{said}");
}

#[test]
fn a_sandbox_stopped_by_ctrl_c_or_sigterm_removes_its_accounts_file() {
    use std::io::{BufRead, BufReader};
    for signal in ["-INT", "-TERM"] {
        let tmp = tempfile::tempdir().expect("a temp dir");
        let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("autorekey"))
            .env("NO_COLOR", "1")
            .env("TMPDIR", tmp.path())
            .args(["sandbox", "--generate", "3"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("start the sandbox");
        let mut stderr = BufReader::new(child.stderr.take().expect("stderr"));
        let marker = "Generated accounts and their tokens (mode 0600): ";
        let path = (&mut stderr)
            .lines()
            .map(|l| l.expect("a line"))
            .find_map(|l| l.split_once(marker).map(|(_, p)| p.trim().to_owned()))
            .expect("the accounts file is named");
        let path = std::path::PathBuf::from(path);
        assert!(path.exists(), "{}", path.display());
        let sent = std::process::Command::new("kill")
            .args([signal, &child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(sent.success());
        let mut rest = String::new();
        std::io::Read::read_to_string(&mut stderr, &mut rest).expect("the rest of stderr");
        let status = child.wait().expect("reap the sandbox");
        assert_eq!(status.code(), Some(0), "{signal}: {rest}");
        assert!(rest.contains("Stopped after"), "{rest}");
        assert!(!path.exists(), "{signal}: {} left behind", path.display());
        assert!(!path.parent().expect("its folder").exists());
    }
}

#[test]
fn double_verbose_traces_each_request_without_headers_or_queries() {
    let site = common::Planted::fixtures().site_spec().start();
    let out = site.run(&["-vv", "scan", "--verify", "--format", "json"]);
    out.expect_code(0);
    let traces: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.starts_with("-> "))
        .collect();
    // Each line names the host it asked: the site, the gateway, Atlassian's identity.
    let host = site.base_url().trim_end_matches('/').to_owned();
    assert!(
        traces
            .iter()
            .any(|l| l.starts_with(&format!("-> GET {host}/_edge/tenant_info 200 "))),
        "{traces:#?}"
    );
    assert!(traces
        .iter()
        .any(|l| l.contains("/rest/v1/rule/summary 200 ") && l.ends_with(" ms")));
    assert!(traces
        .iter()
        .any(|l| l.starts_with(&format!("-> GET {host}/rest/api/3/myself 200 "))));
    assert!(
        traces
            .iter()
            .all(|l| l.starts_with("-> GET http") || l.starts_with("-> POST http")),
        "{traces:#?}"
    );
    for line in &traces {
        assert!(!line.contains('?'), "a query in {line}");
        assert!(!line.to_lowercase().contains("authorization"), "{line}");
    }
    let once = site.run(&["-v", "scan", "--format", "json"]);
    assert!(!once.stderr.contains("-> GET"), "-v alone traces nothing");
    // -v says what the reading did in words, not as Rust structs.
    assert!(
        once.stderr.contains("Concurrency: up to "),
        "{}",
        once.stderr
    );
    assert!(once.stderr.contains("Pacing: "), "{}", once.stderr);
    assert!(!once.stderr.contains("Stats {"), "{}", once.stderr);
    assert!(!once.stderr.contains("max:"), "{}", once.stderr);
}

/// Output that cannot be written (a full disk) fails every command that prints without a
/// site, help and version included: exit 1, said with a hint, never a silent 0.
#[test]
fn a_full_disk_fails_every_command_that_prints_even_help() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, fake_token()).expect("write a token");
    let backups = dir.path().to_str().expect("a UTF-8 path");
    let runs: [&[&str]; 7] = [
        &["--help"],
        &["--version"],
        &["scan", "--help"],
        &["completions", "bash"],
        &["man"],
        &["backups", "--backup-dir", backups, "--format", "json"],
        &["fingerprint"],
    ];
    for args in runs {
        let mut cmd = common::std_command(&autorekey());
        let dev_full = std::fs::OpenOptions::new().write(true).open("/dev/full");
        let stdin = std::fs::File::open(&token_file).expect("open the token");
        cmd.args(args)
            .stdin(stdin)
            .stdout(dev_full.expect("open /dev/full"));
        let run = checked(cmd.output().expect("run autorekey"), &[]);
        assert_eq!(run.code, Some(1), "{args:?}: {}", run.stderr);
        assert!(
            run.stderr
                .contains("Error: the output could not be written: No space left")
                && run.stderr.contains("Hint: "),
            "{args:?}: {}",
            run.stderr
        );
    }
}

/// Only `scan` reads several sites or products at once (for now): the others say so, with
/// a hint, before asking for any token.
#[test]
fn commands_of_one_site_refuse_several_with_a_hint() {
    // `apply` works on one site; `rotate` takes several (it goes on to read the token).
    let plan = tempfile::tempdir().unwrap();
    let plan = plan.path().join("plan.json");
    std::fs::write(&plan, "{}").unwrap();
    for extra in [["--site", "https://b.atlassian.net"], ["--product", "all"]] {
        let mut args = vec![
            "apply",
            plan.to_str().unwrap(),
            "--yes",
            "--site",
            "https://a.atlassian.net",
            "--login",
            "admin@x.example",
        ];
        args.extend(extra);
        let out = run(&args);
        out.expect_code(2).expect_error_with_hint();
        assert!(
            out.stderr.contains("one site and product at a time"),
            "{}",
            out.stderr
        );
        let mut rotate = vec![
            "rotate",
            "--account",
            "x@y.example",
            "--dry-run",
            "--site",
            "https://a.atlassian.net",
            "--login",
            "admin@x.example",
        ];
        rotate.extend(extra);
        let out = run(&rotate);
        assert!(
            !out.stderr.contains("one site and product at a time")
                && out.stderr.contains("no admin's API token was given"),
            "{}",
            out.stderr
        );
    }
}
