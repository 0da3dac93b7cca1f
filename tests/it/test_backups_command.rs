//! `autorekey backups`: the list of runs under a backup folder and the state it gives each
//! (interrupted with what was not attempted, partly restored, restored).
//!
//! Elsewhere: writing backups is part of every rotation (test_rotate_command) and reading
//! them back is restore's (test_restore_command); `backups` printing the same text in a
//! pipe: test_tokens_command; a backup folder others can write: test_security.

use crate::common::snapshot::normalized_table;
use crate::common::terminal::{backups, Desk};
use crate::common::TestSite;
use crate::rotate_support::verdict::slow_site;
use crate::rotate_support::*;
use std::path::Path;

/// A restore answered y, n, q over a rotation of 4 rules puts back one: `backups` calls
/// the run partly restored (1 of 4), not restored; a full restore after it, restored.
#[test]
fn a_partial_restore_is_listed_as_partly_restored() {
    let desk = Desk::new(4);
    let mut screen = desk.restore_after_rotation();
    screen.answer("(1/4) Restore \"", "y");
    screen.answer("(2/4) Restore \"", "n");
    screen.answer("(3/4) Restore \"", "q");
    let (code, transcript) = screen.finish();
    assert_eq!(code, 3, "{transcript}");

    // The rotation's run; the other one holds the versions the restore replaced.
    let (runs, table) = backups(&desk);
    let restored = runs
        .iter()
        .find(|r| r["state"] != "no_journal")
        .unwrap_or_else(|| panic!("the rotation's run: {runs:?}"));
    let run = restored["dir"].as_str().expect("its folder").to_owned();
    assert_eq!(restored["state"], "partly_restored", "{runs:?}");
    assert_eq!(
        (&restored["restored"], &restored["of"]),
        (&1.into(), &4.into())
    );
    insta::assert_snapshot!(normalized_table(&table), @"
    RUN  SITE  ACCOUNT  STARTED  RULES  STATE
    127.0.0.1-[stamp]  http://127.0.0.1:PORT/  svc-jira@acme.example  [datetime]  1  no journal
    127.0.0.1-[stamp]  http://127.0.0.1:PORT/  svc-jira@acme.example  [datetime]  4  partly restored (1 of 4)
    ");

    desk.site.run(&["restore", &run, "--yes"]).expect_code(0);
    let (runs, _) = backups(&desk);
    let states: Vec<_> = runs.iter().map(|r| r["state"].clone()).collect();
    assert!(states.contains(&"restored".into()), "{runs:?}");
    assert!(!states.contains(&"partly_restored".into()), "{runs:?}");
}

/// `backups --format json` under `root`: each run's (state, not_attempted).
fn backup_states(site: &TestSite, root: &Path) -> Vec<(String, Option<u64>)> {
    let root = root.to_str().expect("a UTF-8 path");
    let out = site.run(&["backups", "--backup-dir", root, "--format", "json"]);
    out.expect_code(0);
    let runs: serde_json::Value = serde_json::from_str(&out.stdout).expect("JSON");
    let runs = runs.as_array().expect("a list of runs");
    runs.iter()
        .map(|r| {
            let state = r["state"].as_str().unwrap_or_default().to_owned();
            (state, r["not_attempted"].as_u64())
        })
        .collect()
}

#[test]
fn backups_calls_a_ctrl_c_run_interrupted_with_what_was_not_attempted() {
    let (site, _, new, backups) = slow_site();
    let out = interrupted_after_first_write(&site, &new, &backups);
    out.expect_code(1);
    let left = summary_count(&out.stdout, "not attempted");
    assert!(left > 0, "{}", out.stdout);
    assert_eq!(
        backup_states(&site, &backups),
        [("interrupted".to_string(), Some(left as u64))]
    );
    // The rerun finishes it: finished; a restore of it: restored.
    site.run_cmd(rotate_cmd(&site, SVC_JIRA, &new, &backups, &["--yes"]))
        .expect_code(0);
    assert_eq!(
        backup_states(&site, &backups),
        [("finished".to_string(), None)]
    );
    let dir = only_run_dir(&backups);
    site.run(&["restore", dir.to_str().unwrap(), "--yes"])
        .expect_code(0);
    let states = backup_states(&site, &backups);
    assert!(
        states.contains(&("restored".to_string(), None)),
        "{states:?}"
    );
}
