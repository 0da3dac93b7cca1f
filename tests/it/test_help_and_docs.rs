//! The command line's documentation through the real binary: help text (snapshots, since
//! people read it), which commands list the site options, shell completions and the man
//! page (`completions`, `man`).
//!
//! Elsewhere: options every command shares: test_global_options.

use crate::common::cli::run;

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
