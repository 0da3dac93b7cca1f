//! The binary under a pseudo-terminal, as a person runs it at a desk.
//!
//! Why it is shaped so:
//! - The binary runs under a pseudo-terminal (`rexpect`), so it sees a terminal on stdin and
//!   stderr exactly as at a desk: prompts are allowed and the token is read hidden. rexpect
//!   starts the child with the terminal's echo off; it is turned back on before the binary
//!   starts, as a desk's terminal has it, so a token typed while the binary left echo on
//!   would be on the screen, and the check below would catch it.
//! - Every byte the terminal showed is kept in a transcript and checked for every token of
//!   the site, the new one and the admin's included: "the screen never shows a token".
//! - rexpect decodes the terminal's bytes one by one, so non-ASCII text (the `·` between
//!   user and fingerprint) reads garbled in the transcript; tokens are ASCII, so the check
//!   for them is unaffected, and the assertions match ASCII text only.
//! - Each answer is sent only once its question is on the screen; the 30 s expect timeout
//!   guards a hang and is never an assertion about speed.
//! - `Desk` is a site with rules to rotate and restore at that terminal.

use crate::common::{assert_no_secrets, std_command, TestSite};
use crate::rotate_support::*;
use rexpect::process::wait::WaitStatus;
use rexpect::session::{spawn_with_options, Options, PtySession};
use std::collections::BTreeSet;

pub(crate) const TIMEOUT_MS: u64 = 30_000;

/// A terminal session with the binary, and everything it has shown so far (`test_revoke_command`
/// answers `revoke`'s question with it too).
pub(crate) struct Screen {
    pub(crate) session: PtySession,
    pub(crate) transcript: String,
}

impl Screen {
    /// `rotate` for svc-jira against `site` on a fresh pseudo-terminal. The new token is
    /// not given: the binary must ask for it.
    pub(crate) fn rotate(site: &TestSite, backups: &std::path::Path) -> Screen {
        let mut cmd = spawnable_rotate(site, SVC_JIRA, "unused", backups, &[]);
        cmd.env_remove("AUTOREKEY_NEW_TOKEN");
        Screen::spawn(cmd)
    }

    /// `restore RUN_DIR` against `site` on a fresh pseudo-terminal.
    pub(crate) fn restore(site: &TestSite, run_dir: &std::path::Path) -> Screen {
        let mut cmd = std_command(&site.cmd());
        cmd.arg("restore").arg(run_dir);
        Screen::spawn(cmd)
    }

    /// `fingerprint`, whose hidden prompt needs no site, on a fresh pseudo-terminal.
    pub(crate) fn fingerprint() -> Screen {
        let mut cmd = crate::common::autorekey();
        cmd.arg("fingerprint");
        Screen::spawn(std_command(&cmd))
    }

    pub(crate) fn spawn(cmd: std::process::Command) -> Screen {
        Screen::spawn_with_stderr(cmd, std::process::Stdio::inherit())
    }

    pub(crate) fn spawn_with_stderr(
        mut cmd: std::process::Command,
        stderr: std::process::Stdio,
    ) -> Screen {
        use std::os::unix::process::CommandExt;
        // SAFETY: runs in the child between fork and exec, and only calls tcgetattr and
        // tcsetattr (async-signal-safe) on a descriptor rexpect has opened.
        unsafe {
            cmd.pre_exec(|| terminal_echo(0, true));
        }
        cmd.env("TERM", "dumb")
            .stdin(std::process::Stdio::inherit())
            .stdout(std::process::Stdio::inherit())
            .stderr(stderr);
        // Escape codes are kept: the transcript is what reached the terminal, unedited.
        let options = Options {
            timeout_ms: Some(TIMEOUT_MS),
            strip_ansi_escape_codes: false,
        };
        Screen {
            session: spawn_with_options(cmd, options).expect("spawn autorekey on a pty"),
            transcript: String::new(),
        }
    }

    /// Waits until `text` is on the screen.
    pub(crate) fn expect(&mut self, text: &str) {
        match self.session.exp_string(text) {
            Ok(before) => {
                self.transcript.push_str(&before);
                self.transcript.push_str(text);
            }
            Err(e) => panic!(
                "{text:?} never appeared ({e}); the screen showed:\n{}",
                self.transcript
            ),
        }
    }

    /// Waits for `question`, then types `answer` and Enter.
    pub(crate) fn answer(&mut self, question: &str, answer: &str) {
        self.expect(question);
        self.session.send_line(answer).expect("type on the pty");
    }

    /// Waits for `question`, then presses Ctrl-C.
    pub(crate) fn interrupt(&mut self, question: &str) {
        self.expect(question);
        self.session
            .send_control('c')
            .expect("press Ctrl-C on the pty");
    }

    /// The master side of the terminal, to read its modes as the shell would.
    pub(crate) fn master(&self) -> std::fs::File {
        self.session
            .process()
            .get_file_handle()
            .expect("the pty's master side")
    }

    pub(crate) fn signal(&mut self, signal: rexpect::process::Signal) {
        self.session
            .process_mut()
            .signal(signal)
            .expect("signal the binary");
    }

    /// Waits for the end and returns the exit status.
    pub(crate) fn finish(mut self) -> (i32, String) {
        let rest = self.session.exp_eof().expect("the binary ends");
        self.transcript.push_str(&rest);
        let status = self.session.process().wait().expect("wait for the binary");
        match status {
            WaitStatus::Exited(_, code) => (code, self.transcript),
            other => panic!("ended by {other:?}:\n{}", self.transcript),
        }
    }
}

/// Turns the echo of the terminal on `fd` on or off, as a shell does when it takes the
/// terminal back; returns whether it was on.
pub(crate) fn terminal_echo(fd: i32, on: bool) -> std::io::Result<()> {
    // SAFETY: termios is plain data, filled by tcgetattr (checked) before it is written.
    unsafe {
        let mut modes: libc::termios = std::mem::zeroed();
        if libc::tcgetattr(fd, &mut modes) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        let cooked = libc::ECHO | libc::ICANON | libc::ISIG;
        if on {
            modes.c_lflag |= cooked;
        } else {
            modes.c_lflag &= !cooked;
        }
        if libc::tcsetattr(fd, libc::TCSANOW, &modes) != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

pub(crate) fn question(rule_name: &str) -> String {
    format!("Rotate \"{rule_name}\"? [y]es / [n]o / [a]ll remaining / [q]uit")
}

/// The answers a group's question offers.
pub(crate) const GROUP_ANSWERS: &str =
    "[y]es / [n]o / [l]ist / [d]iffs / [r]eview each / [a]ll remaining / [q]uit";

/// The question about a group of `n` rules that make the same change.
pub(crate) fn group_question(n: usize) -> String {
    format!("Rotate {n} rules: ")
}

/// A site of `n` copies of one rule, for a person to answer about one by one.
pub(crate) struct Desk {
    pub(crate) site: TestSite,
    pub(crate) new_token: String,
    /// What a full rotation leaves on the site.
    pub(crate) expected: Expected,
    /// (name, uuid) of each rule, in the order they are asked about.
    pub(crate) by_name: Vec<(String, String)>,
    pub(crate) backups: std::path::PathBuf,
}

impl Desk {
    pub(crate) fn new(n: usize) -> Desk {
        let (planted, site) = copies_site(n, |_| {});
        let new_token = planted.fresh(SVC_JIRA_NEW_FIXTURE);
        let before = snapshot(&site);
        let expected = Expected::rotation(&before, SVC_JIRA, &new_token);
        let mut by_name: Vec<(String, String)> = before
            .iter()
            .map(|(uuid, e)| (e["rule"]["name"].as_str().unwrap().to_owned(), uuid.clone()))
            .collect();
        by_name.sort();
        let backups = site.dir.path().join("backups");
        Desk {
            site,
            new_token,
            expected,
            by_name,
            backups,
        }
    }

    /// `rotate` started and the new token given (twice): the group's question (every copy
    /// makes the same change) is on the screen.
    pub(crate) fn group_asked(&self) -> Screen {
        let mut screen = Screen::rotate(&self.site, &self.backups);
        screen.answer("Paste the new API token", &self.new_token);
        screen.answer("Paste the new API token again", &self.new_token);
        screen.expect(&group_question(self.by_name.len()));
        screen.expect(GROUP_ANSWERS);
        screen
    }

    /// `rotate` started, the new token given (twice), the group reviewed rule by rule, and
    /// the first rule approved.
    pub(crate) fn first_rule_rotated(&self) -> Screen {
        let mut screen = self.group_asked();
        screen.session.send_line("r").expect("type on the pty");
        screen.answer(&question(&self.by_name[0].0), "y");
        screen.expect(&format!("Rotated \"{}\"", self.by_name[0].0));
        screen
    }

    /// Every rule rotated (`--yes`), then `restore` of that rotation started.
    pub(crate) fn restore_after_rotation(&self) -> Screen {
        let rotation = rotate_cmd(
            &self.site,
            SVC_JIRA,
            &self.new_token,
            &self.backups,
            &["--yes"],
        );
        self.site.run_cmd(rotation).expect_code(0);
        self.expected.assert_site(&self.site);
        Screen::restore(&self.site, &only_run_dir(&self.backups))
    }

    /// Only the first rule was written, and the summary says so; returns the summary.
    pub(crate) fn only_the_first_rotated<'t>(&self, transcript: &'t str) -> &'t str {
        assert_no_secrets(transcript, self.site.secrets());
        let first = BTreeSet::from([self.by_name[0].1.clone()]);
        self.expected.only(&first).assert_site(&self.site);
        assert_eq!(puts(&self.site), 1, "only the approved rule was written");
        assert_eq!(summary_count(transcript, "rotated"), 1);
        transcript
            .split("Summary for ")
            .nth(1)
            .expect("a summary on the screen")
    }
}

/// `backups` of the desk's backup folder: the runs as JSON, and the text table.
pub(crate) fn backups(desk: &Desk) -> (Vec<serde_json::Value>, String) {
    let root = desk.backups.to_str().expect("a UTF-8 path");
    let list = |format: &str| {
        let out = desk
            .site
            .run(&["backups", "--backup-dir", root, "--format", format]);
        out.expect_code(0);
        out.stdout
    };
    let runs: serde_json::Value = serde_json::from_str(&list("json")).expect("JSON");
    let runs = runs.as_array().expect("a list of runs").clone();
    (runs, list("text"))
}
