//! `autorekey sandbox`: the stand-in site run from the command line (no rules, stopped by
//! Ctrl-C or SIGTERM removing its accounts file).
//!
//! Elsewhere: the sandbox's HTTP API and traps: test_sandbox_api; `demo`:
//! test_demo_command.

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
