//! `autorekey demo`: runs from any folder with its built-in fixtures, from an installed
//! binary.
//!
//! Elsewhere: the sandbox it starts: test_sandbox_command, test_sandbox_api.

use crate::common;
use crate::common::{autorekey, checked};

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
