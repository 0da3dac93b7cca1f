//! Running `rotate` on a fixture site, and rerunning it until a faulty site lets it finish.

use crate::common::{RunOutput, TestSite};
use crate::rotate_support::*;

pub(crate) fn run(site: &TestSite, cmd: assert_cmd::Command) -> RunOutput {
    site.run_cmd(cmd)
}

// ------------------------------------------------------------------ 4. faults

/// Runs `rotate --yes` until nothing is left to do (at most `max_runs` times). After every
/// run each rule must be exactly rotated or untouched, and each one not rotated yet must
/// have been reported (its uuid in the summary) or the run must have ended with an error.
/// Returns the number of runs it took.
pub(crate) fn rotate_until_done(
    fx: &FixtureRotation,
    max_runs: usize,
    keep_retry_delays: bool,
) -> usize {
    let expected = fx.expected();
    let backups = fx.site.dir.path().join("backups");
    for n in 1..=max_runs {
        let mut cmd = fx.rotate(&backups, &["--yes"]);
        if keep_retry_delays {
            // Honour Retry-After, as a real run against a throttling site does.
            cmd.env_remove("AUTOREKEY_NO_RETRY_DELAY");
        }
        let out = run(&fx.site, cmd);
        assert!(
            matches!(out.code, Some(0 | 1 | 3)),
            "run {n} ended with {:?}:\n{}",
            out.code,
            out.stderr
        );
        assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
        let pending = expected.assert_rotated_or_untouched(&fx.site);
        let ended_in_error = out.stderr.lines().any(|l| l.starts_with("Error: "));
        for uuid in pending.intersection(&expected.rotated_uuids()) {
            assert!(
                ended_in_error || out.stdout.contains(&format!("({uuid})")),
                "run {n}: {uuid} was not rotated and not reported:\n{}",
                out.stdout
            );
        }
        let clean = summary_count(&out.stdout, "failed") == 0
            && summary_count(&out.stdout, "needs attention") == 0
            && out.stdout.contains("Summary for ");
        if pending.is_disjoint(&expected.rotated_uuids()) && clean {
            expected.assert_site(&fx.site);
            return n;
        }
    }
    panic!("{max_runs} runs did not finish the rotation");
}
