//! What every command shares: the site options (before the command, from the environment,
//! one site where only one is taken), `--color`, `-vv` request traces, a full disk on
//! stdout, and file arguments that are missing, unreadable or a FIFO.
//!
//! Elsewhere: help, completions and the man page: test_help_and_docs; each command's own
//! options: test_<command>_command.

use crate::common;
use crate::common::cli::run;
use crate::common::files::{path_str, run_fixture};
use crate::common::snapshot::normalized;
use crate::common::{autorekey, checked, fake_token, RunOutput};
use crate::rotate_support::*;
use std::path::{Path, PathBuf};
use std::time::Duration;

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
    let mut refusals = Vec::new();
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
        refusals.push(format!(
            "$ autorekey apply ... {}\n{}",
            extra.join(" "),
            out.stderr
        ));
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
    insta::assert_snapshot!(normalized(&refusals.join("\n")), @"
    $ autorekey apply ... --site https://b.atlassian.net
    Error: this command works on one site and product at a time, and 2 were given: https://a.atlassian.net jira, https://b.atlassian.net jira
    Hint: give one --site and --product jira or confluence (run it once per site); `scan`, `rotate` and `revoke` take several at once

    $ autorekey apply ... --product all
    Error: this command works on one site and product at a time, and 2 were given: https://a.atlassian.net jira, https://a.atlassian.net confluence
    Hint: give one --site and --product jira or confluence (run it once per site); `scan`, `rotate` and `revoke` take several at once
    ");
}

// ------------------------------------------------------------------ FIFOs

fn fifo(dir: &Path) -> PathBuf {
    let path = dir.join("fifo");
    let c = std::ffi::CString::new(path_str(&path)).expect("no NUL");
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo");
    path
}

#[test]
fn a_fifo_given_as_a_file_is_refused_at_once() {
    let fx = FixtureRotation::start();
    let pipe = fifo(fx.site.dir.path());
    let pipe_arg = path_str(&pipe);
    let backups = fx.site.dir.path().join("backups");
    let out_file = fx.site.dir.path().join("out.json");
    let cases: Vec<(Vec<&str>, i32)> = vec![
        (vec!["scan", "--from-file", pipe_arg], 2),
        (
            vec![
                "rotate",
                "--account",
                SVC_JIRA,
                "--from-file",
                pipe_arg,
                "--write",
                path_str(&out_file),
                "--yes",
            ],
            2,
        ),
        (vec!["apply", pipe_arg, "--yes"], 2),
        (vec!["--api-token-file", pipe_arg, "scan"], 2),
    ];
    for (args, code) in cases {
        let mut cmd = fx.site.cmd();
        cmd.env("AUTOREKEY_NEW_TOKEN", &fx.new_token)
            .args(&args)
            .timeout(Duration::from_secs(30));
        let out = run_fixture(&fx, cmd);
        // A hang would end in the timeout's kill: no exit code at all.
        out.expect_code(code).expect_error_with_hint();
        assert!(out.stderr.contains("FIFO"), "{args:?}: {}", out.stderr);
    }
    let mut cmd = fx.rotate(&backups, &["--yes", "--new-token-file", pipe_arg]);
    cmd.timeout(Duration::from_secs(30));
    let out = run_fixture(&fx, cmd);
    out.expect_code(2).expect_error_with_hint();
    assert!(out.stderr.contains("FIFO"), "{}", out.stderr);
    assert_eq!(puts(&fx.site), 0);
}

// ------------------------------------------------------------------ files named wrongly

/// Every file mistake is exit 2, with a hint that names the cause: a missing `--from-file`
/// (scan's and rotate's), a missing token file, a missing plan, and a folder with no rule
/// file in it (no "0 findings" that would pass a check which read nothing).
#[test]
fn file_mistakes_exit_2_with_a_hint_naming_the_cause() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let missing = dir.path().join("no-such-export.json");
    let missing = path_str(&missing);
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).expect("mkdir");
    std::fs::write(empty.join("notes.txt"), "not rules").expect("write");
    let out_file = dir.path().join("out.json");
    let run = |args: &[&str], env: &[(&str, &str)]| {
        let mut cmd = crate::common::autorekey();
        cmd.env("HOME", dir.path()).args(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        crate::common::run_checked(cmd, &[])
    };
    let out_file = path_str(&out_file);
    /// `rotate --from-file FILE --write OUT` with `more`.
    fn offline<'a>(file: &'a str, out: &'a str, more: &[&'a str]) -> Vec<&'a str> {
        let args = ["rotate", "--account", "a@acme.example", "--yes"];
        [&args[..], &["--from-file", file, "--write", out], more].concat()
    }
    let token = [("AUTOREKEY_NEW_TOKEN", "FAKE-new-token-for-a-file-test")];
    // (arguments, environment)
    type Case<'a> = (Vec<&'a str>, &'a [(&'a str, &'a str)]);
    let cases: Vec<Case> = vec![
        (vec!["scan", "--from-file", missing], &[]),
        (offline(missing, out_file, &[]), &token),
        (
            offline(missing, out_file, &["--new-token-file", missing]),
            &[],
        ),
        (vec!["apply", missing], &token),
        (vec!["scan", "--from-file", path_str(&empty)], &[]),
    ];
    let mut errors = Vec::new();
    for (args, env) in cases {
        let out = run(&args, env);
        out.expect_code(2).expect_error_with_hint();
        errors.push(format!("$ autorekey {}\n{}", args.join(" "), out.stderr));
    }
    // What each mistake says, `Error:`, `Caused by:` and `Hint:`, as the admin reads it.
    insta::assert_snapshot!(normalized(&errors.join("\n")), @"
    $ autorekey scan --from-file [tmp]/no-such-export.json
    Error: cannot read [tmp]/no-such-export.json as rules
    Caused by: No such file or directory (os error 2)
    Hint: there is no such file or folder: check the path (relative paths start from the current folder)

    $ autorekey rotate --account a@acme.example --yes --from-file [tmp]/no-such-export.json --write [tmp]/out.json
    Error: cannot read [tmp]/no-such-export.json
    Caused by: No such file or directory (os error 2)
    Hint: there is no such file or folder: check the path (relative paths start from the current folder)

    $ autorekey rotate --account a@acme.example --yes --from-file [tmp]/no-such-export.json --write [tmp]/out.json --new-token-file [tmp]/no-such-export.json
    Error: cannot read the new API token from the file given with --new-token-file
    Caused by: No such file or directory (os error 2)
    Hint: there is no such file or folder: check the path (relative paths start from the current folder)

    $ autorekey apply [tmp]/no-such-export.json
    Error: cannot read the plan [tmp]/no-such-export.json
    Caused by: No such file or directory (os error 2)
    Hint: there is no such file or folder: check the path (relative paths start from the current folder)

    $ autorekey scan --from-file [tmp]/empty
    Error: [tmp]/empty holds no rule files (*.json, *.ndjson, *.jsonl); nothing was scanned
    Hint: check the --from-file path (1 entries there; subfolders are not scanned)
    ");
}
