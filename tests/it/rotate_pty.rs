//! `autorekey rotate` as a person runs it: on a terminal, without `--yes` and without the
//! new token in the environment, answering the hidden new-token prompt (twice) and the
//! per-rule question; and Ctrl-C pressed at each kind of prompt (rotate's, `rotate
//! --from-file`'s and `restore`'s question, the hidden token prompt), which must interrupt
//! the run (exit 1), not quit it or kill the process.
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
//!   for them is unaffected, and the assertions below match ASCII text only.
//! - Each answer is sent only once its question is on the screen; the 30 s expect timeout
//!   guards a hang and is never an assertion about speed.
//! - The hidden prompt's own edges (a paste with its line break or bracketed-paste
//!   markers, a stop and continue, a kill, stderr off the terminal) are tried on
//!   `fingerprint`'s prompt where no site is needed.

use std::collections::BTreeSet;

use crate::common::{assert_no_secrets, std_command, Planted, TestSite};
use crate::rotate_support::*;
use rexpect::process::wait::WaitStatus;
use rexpect::session::{spawn_with_options, Options, PtySession};

const TIMEOUT_MS: u64 = 30_000;

/// A terminal session with the binary, and everything it has shown so far (`org_e2e`
/// answers `revoke`'s question with it too).
pub(crate) struct Screen {
    session: PtySession,
    transcript: String,
}

impl Screen {
    /// `rotate` for svc-jira against `site` on a fresh pseudo-terminal. The new token is
    /// not given: the binary must ask for it.
    fn rotate(site: &TestSite, backups: &std::path::Path) -> Screen {
        let mut cmd = spawnable_rotate(site, SVC_JIRA, "unused", backups, &[]);
        cmd.env_remove("AUTOREKEY_NEW_TOKEN");
        Screen::spawn(cmd)
    }

    /// `restore RUN_DIR` against `site` on a fresh pseudo-terminal.
    fn restore(site: &TestSite, run_dir: &std::path::Path) -> Screen {
        let mut cmd = std_command(&site.cmd());
        cmd.arg("restore").arg(run_dir);
        Screen::spawn(cmd)
    }

    /// `fingerprint`, whose hidden prompt needs no site, on a fresh pseudo-terminal.
    fn fingerprint() -> Screen {
        let mut cmd = crate::common::autorekey();
        cmd.arg("fingerprint");
        Screen::spawn(std_command(&cmd))
    }

    pub(crate) fn spawn(cmd: std::process::Command) -> Screen {
        Screen::spawn_with_stderr(cmd, std::process::Stdio::inherit())
    }

    fn spawn_with_stderr(mut cmd: std::process::Command, stderr: std::process::Stdio) -> Screen {
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
    fn master(&self) -> std::fs::File {
        self.session
            .process()
            .get_file_handle()
            .expect("the pty's master side")
    }

    fn signal(&mut self, signal: rexpect::process::Signal) {
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
fn terminal_echo(fd: i32, on: bool) -> std::io::Result<()> {
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

/// Whether the terminal whose master side is `fd` echoes what is typed.
fn echoes(fd: i32) -> bool {
    // SAFETY: as in `terminal_echo`.
    unsafe {
        let mut modes: libc::termios = std::mem::zeroed();
        assert_eq!(
            libc::tcgetattr(fd, &mut modes),
            0,
            "read the terminal's modes"
        );
        modes.c_lflag & libc::ECHO != 0
    }
}

fn question(rule_name: &str) -> String {
    format!("Rotate \"{rule_name}\"? [y]es / [n]o / [a]ll remaining / [q]uit")
}

/// The answers a group's question offers.
const GROUP_ANSWERS: &str =
    "[y]es / [n]o / [l]ist / [d]iffs / [r]eview each / [a]ll remaining / [q]uit";

/// The question about a group of `n` rules that make the same change.
fn group_question(n: usize) -> String {
    format!("Rotate {n} rules: ")
}

/// A site of `n` copies of one rule, for a person to answer about one by one.
struct Desk {
    site: TestSite,
    new_token: String,
    /// What a full rotation leaves on the site.
    expected: Expected,
    /// (name, uuid) of each rule, in the order they are asked about.
    by_name: Vec<(String, String)>,
    backups: std::path::PathBuf,
}

impl Desk {
    fn new(n: usize) -> Desk {
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
    fn group_asked(&self) -> Screen {
        let mut screen = Screen::rotate(&self.site, &self.backups);
        screen.answer("Paste the new API token", &self.new_token);
        screen.answer("Paste the new API token again", &self.new_token);
        screen.expect(&group_question(self.by_name.len()));
        screen.expect(GROUP_ANSWERS);
        screen
    }

    /// `rotate` started, the new token given (twice), the group reviewed rule by rule, and
    /// the first rule approved.
    fn first_rule_rotated(&self) -> Screen {
        let mut screen = self.group_asked();
        screen.session.send_line("r").expect("type on the pty");
        screen.answer(&question(&self.by_name[0].0), "y");
        screen.expect(&format!("Rotated \"{}\"", self.by_name[0].0));
        screen
    }

    /// Every rule rotated (`--yes`), then `restore` of that rotation started.
    fn restore_after_rotation(&self) -> Screen {
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
    fn only_the_first_rotated<'t>(&self, transcript: &'t str) -> &'t str {
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

#[test]
fn a_person_approves_one_rule_declines_one_and_quits() {
    let desk = Desk::new(4);
    let by_name = &desk.by_name;
    let mut screen = desk.first_rule_rotated();
    screen.answer(&question(&by_name[1].0), "n");
    screen.answer(&question(&by_name[2].0), "q");
    let (code, transcript) = screen.finish();

    assert_eq!(code, 3, "quit leaves rules not attempted:\n{transcript}");
    let summary = desk.only_the_first_rotated(&transcript);
    assert_eq!(summary_count(&transcript, "declined"), 1);
    assert_eq!(summary_count(&transcript, "not attempted"), 2);
    assert!(summary.contains(&format!("Skipped \"{}\" (you said no)", by_name[1].0)));
    for (name, _) in &by_name[2..] {
        assert!(summary.contains(&format!("Not attempted \"{name}\": you quit")));
    }
    let steps = steps_by_rule(&journal_of(&only_run_dir(&desk.backups)));
    assert_eq!(steps[&by_name[0].1], ["writing", "verified"]);
    assert_eq!(steps[&by_name[1].1], ["declined"]);
    assert!(!steps.contains_key(&by_name[2].1) && !steps.contains_key(&by_name[3].1));
    // A quit is a stop too: `backups` must not call the run finished.
    let (runs, table) = backups(&desk);
    assert_eq!(runs[0]["state"], "interrupted", "{runs:?}");
    assert_eq!(runs[0]["not_attempted"], 2, "{runs:?}");
    assert!(table.contains("interrupted (2 not attempted)"), "{table}");
}

/// `backups` of the desk's backup folder: the runs as JSON, and the text table.
fn backups(desk: &Desk) -> (Vec<serde_json::Value>, String) {
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

/// A group's question lists its rules (`l`) and shows their diffs (`d`) on request, then
/// asks again; `n` declines the whole group, and nothing is written (exit 3).
#[test]
fn a_group_lists_its_rules_and_shows_their_diffs_then_no_declines_it() {
    let desk = Desk::new(3);
    let mut screen = desk.group_asked();
    screen.session.send_line("l").expect("type on the pty");
    for (name, uuid) in &desk.by_name {
        screen.expect(&format!("  - \"{name}\" ({uuid})"));
    }
    screen.answer(GROUP_ANSWERS, "d");
    for (name, uuid) in &desk.by_name {
        screen.expect(&format!("Rule \"{name}\" ({uuid})"));
    }
    screen.answer(GROUP_ANSWERS, "n");
    let (code, transcript) = screen.finish();

    assert_no_secrets(&transcript, desk.site.secrets());
    assert_eq!(code, 3, "declined rules need you:\n{transcript}");
    assert_eq!(puts(&desk.site), 0, "nothing was written");
    assert_eq!(summary_count(&transcript, "declined"), 3);
    assert_eq!(
        transcript.matches(&group_question(3)).count(),
        3,
        "asked again after the list and the diffs:\n{transcript}"
    );
    for (name, _) in &desk.by_name {
        assert!(!transcript.contains(&question(name)), "{transcript}");
    }
}

/// Ctrl-C at a group's question interrupts the run (exit 1), every rule of the group "not
/// attempted: interrupted"; `q` quits it (exit 3), "not attempted: you quit".
#[test]
fn ctrl_c_at_a_group_question_interrupts_and_quit_quits() {
    for (key, code, why) in [('c', 1, "interrupted"), ('q', 3, "you quit")] {
        let desk = Desk::new(3);
        let mut screen = desk.group_asked();
        match key {
            'c' => screen.session.send_control('c').expect("press Ctrl-C"),
            _ => {
                screen.session.send_line("q").expect("type on the pty");
            }
        }
        let (got, transcript) = screen.finish();

        assert_no_secrets(&transcript, desk.site.secrets());
        assert_eq!(got, code, "{transcript}");
        assert_eq!(puts(&desk.site), 0, "nothing was written");
        assert_eq!(summary_count(&transcript, "not attempted"), 3);
        for (name, _) in &desk.by_name {
            assert!(
                transcript.contains(&format!("Not attempted \"{name}\": {why}")),
                "{transcript}"
            );
        }
    }
}

/// Done-when of issue 18: 300 rules on the sandbox, three places the same token sits in
/// (three header names), are rotated at a terminal with five answers: the new token twice,
/// then one yes per group.
#[test]
fn three_hundred_rules_are_rotated_with_a_handful_of_answers() {
    let shapes = [
        ("Authorization", 200),
        ("X-Jira-Authorization", 70),
        ("Proxy-Authorization", 30),
    ];
    let mut rules = Vec::new();
    for (header, n) in shapes {
        let mut rule = fixture_01();
        rule["rule"]["components"][0]["value"]["headers"][0]["name"] = header.into();
        rule["rule"]["name"] = format!("{header} comment").into();
        rules.extend(copies_of(&rule, n));
    }
    let planted = Planted::new(rules);
    let site = planted.site_spec().start();
    let new_token = planted.fresh(SVC_JIRA_NEW_FIXTURE);
    let expected = Expected::rotation(&snapshot(&site), SVC_JIRA, &new_token);
    let backups = site.dir.path().join("backups");

    let mut screen = Screen::rotate(&site, &backups);
    screen.answer("Paste the new API token", &new_token);
    screen.answer("Paste the new API token again", &new_token);
    // Groups come in the order of their first rule's name.
    let mut first = 1;
    for (header, n) in [shapes[0], shapes[2], shapes[1]] {
        let asked = format!(
            "({first}-{}/300) Rotate {n} rules: {header} header (Basic",
            first + n - 1
        );
        screen.answer(&asked, "y");
        screen.expect(&format!("Rotated \"{header} comment #{n}\""));
        first += n;
    }
    let (code, transcript) = screen.finish();

    assert_no_secrets(&transcript, site.secrets());
    assert_eq!(code, 0, "{transcript}");
    assert_eq!(
        transcript.matches(GROUP_ANSWERS).count(),
        3,
        "one question per group:\n{transcript}"
    );
    assert!(
        !transcript.contains("\"? [y]es / [n]o / [a]ll remaining"),
        "no rule asked about alone:\n{transcript}"
    );
    assert_eq!(summary_count(&transcript, "rotated"), 300);
    expected.assert_site(&site);
}

#[test]
fn mistyped_token_confirmation_and_answers_are_asked_again_then_all_remaining() {
    let (planted, site) = copies_site(3, |_| {});
    let new_token = planted.fresh(SVC_JIRA_NEW_FIXTURE);
    let before = snapshot(&site);
    let expected = Expected::rotation(&before, SVC_JIRA, &new_token);
    let mut names: Vec<String> = before
        .values()
        .map(|e| e["rule"]["name"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    let backups = site.dir.path().join("backups");

    let mut screen = Screen::rotate(&site, &backups);
    // A typo in the confirmation: nothing is checked or written, the prompt starts again.
    screen.answer("Paste the new API token", &new_token);
    screen.answer("Paste the new API token again", &format!("{new_token}x"));
    screen.expect("The two entries differ; try again");
    screen.answer("Paste the new API token", &new_token);
    screen.answer("Paste the new API token again", &new_token);
    screen.answer(GROUP_ANSWERS, "x");
    screen.answer("answer y, n, l, d, r, a or q", "r");
    screen.answer(&question(&names[0]), "x");
    screen.answer("answer y, n, a or q", "a");
    let (code, transcript) = screen.finish();

    assert_no_secrets(&transcript, site.secrets());
    assert_eq!(code, 0, "every rule approved and rotated:\n{transcript}");
    for name in &names[1..] {
        assert!(
            !transcript.contains(&question(name)),
            "\"all remaining\" asks nothing more"
        );
    }
    let attempts = site.stats().myself(SVC_JIRA);
    assert_eq!(
        (attempts.ok, attempts.failed),
        (2, 0),
        "the new token is checked once, after it was typed twice, and the old one once, \
         which confirms it as the account's"
    );
    assert_eq!(summary_count(&transcript, "rotated"), 3);
    expected.assert_site(&site);
}

/// Ctrl-C at the question is not "quit": the run stops, the rules left are "not attempted:
/// interrupted", and it fails (exit 1), as Ctrl-C anywhere else in a run does.
#[test]
fn ctrl_c_at_the_question_interrupts_the_run_after_the_rule_approved() {
    let desk = Desk::new(3);
    let mut screen = desk.first_rule_rotated();
    screen.interrupt(&question(&desk.by_name[1].0));
    let (code, transcript) = screen.finish();

    assert_eq!(code, 1, "an interrupted run fails:\n{transcript}");
    let summary = desk.only_the_first_rotated(&transcript);
    assert_eq!(summary_count(&transcript, "not attempted"), 2);
    for (name, _) in &desk.by_name[1..] {
        assert!(
            summary.contains(&format!("Not attempted \"{name}\": interrupted")),
            "{summary}"
        );
    }
    assert!(!transcript.contains("you quit"), "{transcript}");
}

/// Ctrl-C at the hidden prompt: a clear error and exit 1 (not a panic, not a death by
/// signal with the terminal's echo left off), and nothing is written.
#[test]
fn ctrl_c_at_the_token_prompt_is_a_clear_error() {
    let (_, site) = copies_site(2, |_| {});
    let backups = site.dir.path().join("backups");

    let mut screen = Screen::rotate(&site, &backups);
    screen.interrupt("Paste the new API token");
    screen.expect("Error: interrupted: no new API token was read");
    let (code, transcript) = screen.finish();

    assert_eq!(code, 1, "{transcript}");
    assert!(!transcript.contains("panicked"), "{transcript}");
    assert!(transcript.contains("Hint: "), "{transcript}");
    assert_eq!(puts(&site), 0);
}

/// Ctrl-C at restore's question: the rule approved before it is back, nothing more is
/// restored, and the restore fails (exit 1) saying so.
#[test]
fn ctrl_c_at_the_restore_question_restores_nothing_more() {
    let desk = Desk::new(3);
    let mut screen = desk.restore_after_rotation();
    let asked = "? [y]es / [n]o / [a]ll remaining / [q]uit";
    screen.answer(asked, "y");
    screen.expect("Restored \"");
    screen.interrupt(asked);
    let (code, transcript) = screen.finish();

    assert_no_secrets(&transcript, desk.site.secrets());
    assert_eq!(code, 1, "{transcript}");
    let left = transcript.matches("\": interrupted (").count();
    assert_eq!(
        left, 2,
        "the rule asked about and the one after:\n{transcript}"
    );
    assert!(transcript.contains("Error: stopped with 2 rules not restored"));
    assert_eq!(puts(&desk.site), 4, "three rotated, then one restored");
}

/// Each of restore's questions says how far it is (`(2/3)`), and its summary counts what
/// became of the rules.
#[test]
fn restore_questions_show_progress_and_its_summary_counts() {
    let desk = Desk::new(3);
    let mut screen = desk.restore_after_rotation();
    screen.answer("(1/3) Restore \"", "y");
    screen.answer("(2/3) Restore \"", "n");
    screen.answer("(3/3) Restore \"", "y");
    let (code, transcript) = screen.finish();

    assert_no_secrets(&transcript, desk.site.secrets());
    assert_eq!(code, 3, "a rule declined is left as it is:\n{transcript}");
    let counts = transcript
        .split("Restore of 3 rules:")
        .nth(1)
        .unwrap_or_else(|| panic!("no counts:\n{transcript}"));
    let count = |label: &str| -> usize {
        counts
            .lines()
            .find_map(|l| l.trim().strip_prefix(label)?.trim().parse().ok())
            .unwrap_or(0)
    };
    assert_eq!(
        (count("restored"), count("declined")),
        (2, 1),
        "{transcript}"
    );
    assert_eq!(puts(&desk.site), 5, "three rotated, then two restored");
}

/// Quitting a restore leaves rules as they are: exit 3, as `rotate` after a quit, so a
/// script or a person never takes a partial restore for a whole one.
#[test]
fn quit_at_the_restore_question_leaves_the_rest_listed_and_exits_3() {
    let desk = Desk::new(3);
    let mut screen = desk.restore_after_rotation();
    let asked = "? [y]es / [n]o / [a]ll remaining / [q]uit";
    screen.answer(asked, "y");
    screen.expect("Restored \"");
    screen.answer(asked, "q");
    let (code, transcript) = screen.finish();

    assert_no_secrets(&transcript, desk.site.secrets());
    assert_eq!(code, 3, "{transcript}");
    assert_eq!(
        transcript.matches("\": you quit (").count(),
        2,
        "{transcript}"
    );
    assert!(
        transcript.contains("2 rules were not restored"),
        "{transcript}"
    );
    assert_eq!(puts(&desk.site), 4, "three rotated, then one restored");
}

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
    assert!(table.contains("partly restored (1 of 4)"), "{table}");
    // The folder of the versions the restore replaced keeps no journal: said in words.
    assert!(
        table.contains("no journal") && !table.contains("no_journal"),
        "{table}"
    );

    desk.site.run(&["restore", &run, "--yes"]).expect_code(0);
    let (runs, _) = backups(&desk);
    let states: Vec<_> = runs.iter().map(|r| r["state"].clone()).collect();
    assert!(states.contains(&"restored".into()), "{runs:?}");
    assert!(!states.contains(&"partly_restored".into()), "{runs:?}");
}

/// `rotate --from-file` of `n` copies of fixture 01 at a terminal, its one question about
/// the old token answered yes: the rules' questions come next.
struct Offline {
    planted: Planted,
    new_token: String,
    _dir: tempfile::TempDir,
    target: std::path::PathBuf,
    screen: Screen,
}

impl Offline {
    fn start(n: usize) -> Offline {
        let planted = Planted::new(copies_of(&fixture_01(), n));
        let new_token = planted.fresh(SVC_JIRA_NEW_FIXTURE);
        let dir = tempfile::tempdir().expect("a temp dir");
        let input = dir.path().join("rules.json");
        let rules = serde_json::to_string(&planted.rules).expect("serialize");
        std::fs::write(&input, rules).expect("write the rules");
        let target = dir.path().join("rotated.json");
        let mut cmd = crate::common::autorekey();
        cmd.env("AUTOREKEY_NEW_TOKEN", &new_token)
            .args(["rotate", "--account", SVC_JIRA, "--from-file"])
            .arg(&input)
            .arg("--write")
            .arg(&target);
        let mut screen = Screen::spawn(std_command(&cmd));
        // Offline no login can confirm the old token: one question for it, before the rules.
        screen.answer(
            "old token, to be replaced with the new one? A value a rule editor \
             planted would send the new token to them [y]es / [N]o",
            "y",
        );
        Offline {
            planted,
            new_token,
            _dir: dir,
            target,
            screen,
        }
    }

    fn name(&self, i: usize) -> &str {
        self.planted.rules[i]["rule"]["name"]
            .as_str()
            .expect("a name")
    }

    /// The end: exit status, transcript (checked for every token) and the rotated file,
    /// if one was written.
    fn finish(self) -> (i32, String, Option<String>) {
        let (code, transcript) = self.screen.finish();
        let mut secrets = self.planted.secrets();
        secrets.push(self.new_token);
        assert_no_secrets(&transcript, &secrets);
        (code, transcript, std::fs::read_to_string(&self.target).ok())
    }
}

/// Ctrl-C at an offline question (`rotate --from-file`): no file is written, the rules
/// left are "not attempted: interrupted", and the run fails (exit 1).
#[test]
fn ctrl_c_at_an_offline_question_writes_no_file() {
    let mut offline = Offline::start(2);
    let names = [offline.name(0).to_owned(), offline.name(1).to_owned()];
    // The two copies make one change: one question, reviewed rule by rule on request.
    offline.screen.answer(GROUP_ANSWERS, "r");
    offline.screen.answer(&question(&names[0]), "y");
    offline.screen.interrupt(&question(&names[1]));
    let (code, transcript, written) = offline.finish();

    assert_eq!(code, 1, "{transcript}");
    assert!(transcript.contains("interrupted: nothing was written"));
    assert!(transcript.contains(&format!("Not attempted \"{}\": interrupted", names[1])));
    assert!(written.is_none(), "no rotated file");
}

/// Offline, the copies that make one change are one question too: one yes writes them all.
#[test]
fn an_offline_group_is_one_question() {
    let mut offline = Offline::start(3);
    offline
        .screen
        .answer("(1-3/3) Rotate 3 rules: Authorization header (Basic", "y");
    let (code, transcript, written) = offline.finish();

    assert_eq!(code, 0, "{transcript}");
    assert_eq!(transcript.matches(GROUP_ANSWERS).count(), 1, "{transcript}");
    assert_eq!(summary_count(&transcript, "rotated"), 3, "{transcript}");
    let written = written.expect("the rotated file");
    let rules: serde_json::Value = serde_json::from_str(&written).expect("JSON");
    assert_eq!(rules.as_array().map(Vec::len), Some(3), "{written}");
}

#[test]
fn quit_when_asked_again_about_a_rule_edited_meanwhile_stops_the_run() {
    // Rule #01 is edited by another admin right after it is read: approving it shows the
    // rebuilt rewrite and asks again. "q" there means quit, as at any other question:
    // nothing more is asked or written, and the rest are "not attempted: you quit".
    let planted = Planted::new(copies_of(&fixture_01(), 3));
    let first = planted.rules[0]["rule"]["uuid"]
        .as_str()
        .expect("a uuid")
        .to_owned();
    let site = planted
        .site_spec()
        .with(|c| {
            c.trap_edit_after_reads.insert(first.clone(), 1);
        })
        .start();
    let new_token = planted.fresh(SVC_JIRA_NEW_FIXTURE);
    let mut names: Vec<String> = snapshot(&site)
        .values()
        .map(|e| e["rule"]["name"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    let backups = site.dir.path().join("backups");

    let mut screen = Screen::rotate(&site, &backups);
    screen.answer("Paste the new API token", &new_token);
    screen.answer("Paste the new API token again", &new_token);
    // One question for the three copies; the rule edited meanwhile is asked about alone.
    screen.answer(&group_question(3), "y");
    screen.answer(&format!("Rotate the current \"{}\"?", names[0]), "q");
    let (code, transcript) = screen.finish();

    assert_no_secrets(&transcript, site.secrets());
    assert_eq!(code, 3, "quit is not a failure of the run:\n{transcript}");
    assert!(
        !transcript.contains(&question(&names[1])),
        "nothing is asked after quit:\n{transcript}"
    );
    assert_eq!(puts(&site), 0, "nothing was written");
    assert_eq!(summary_count(&transcript, "not attempted"), 3);
    assert_eq!(summary_count(&transcript, "declined"), 0);
}

/// A token pasted with its line break (CR LF, which the terminal passes as two Enters) and
/// wrapped in bracketed-paste markers, at both token prompts: it is the token, whole; the
/// second Enter of the first paste does not count as an empty, differing confirmation.
#[test]
fn a_pasted_token_with_its_line_break_and_paste_markers_is_taken_whole() {
    let desk = Desk::new(2);
    let mut screen = Screen::rotate(&desk.site, &desk.backups);
    let paste = format!("\x1b[200~{}\x1b[201~\r\n", desk.new_token);
    for prompt in ["Paste the new API token", "Paste the new API token again"] {
        screen.expect(prompt);
        screen.session.send(&paste).expect("paste on the pty");
    }
    screen.answer(GROUP_ANSWERS, "a");
    let (code, transcript) = screen.finish();

    assert_no_secrets(&transcript, desk.site.secrets());
    assert!(!transcript.contains(&desk.new_token), "{transcript}");
    assert!(!transcript.contains("differ"), "{transcript}");
    assert_eq!(code, 0, "{transcript}");
    desk.expected.assert_site(&desk.site);
}
/// The process stopped at the hidden prompt (`kill -STOP`) while the shell takes the
/// terminal back with echo on, then continued (`fg`): the prompt takes the terminal back
/// too, so what is typed next is still hidden.
#[test]
fn a_token_typed_after_a_stop_and_continue_is_still_hidden() {
    use rexpect::process::Signal;
    let token = crate::common::fake_token();
    let mut screen = Screen::fingerprint();
    screen.expect("Paste the token: ");
    let master = screen.master();
    let fd = std::os::fd::AsRawFd::as_raw_fd(&master);
    screen.signal(Signal::SIGSTOP);
    let pid = screen.session.process().child_pid.as_raw();
    let mut status = 0;
    // SAFETY: waits for a state change of our own child; `status` is a live int.
    let waited = unsafe { libc::waitpid(pid, &mut status, libc::WUNTRACED) };
    assert!(
        waited == pid && libc::WIFSTOPPED(status),
        "the binary stops"
    );
    terminal_echo(fd, true).expect("the shell turns echo back on");
    screen.signal(Signal::SIGCONT);
    // A hang guard, not a timing assertion: the prompt must turn echo off again.
    let deadline = std::time::Instant::now() + std::time::Duration::from_millis(TIMEOUT_MS);
    while echoes(fd) {
        assert!(
            std::time::Instant::now() < deadline,
            "the prompt never took the terminal back after SIGCONT"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    screen.session.send_line(&token).expect("type on the pty");
    screen.expect("as an Atlassian credential");
    let (code, transcript) = screen.finish();

    assert_eq!(code, 0, "{transcript}");
    assert_no_secrets(&transcript, std::slice::from_ref(&token));
}

/// Killed at the hidden prompt (SIGTERM from a supervisor, SIGHUP from a closed window):
/// the process dies of the signal as asked, and the terminal is left as it was found,
/// with echo on, not silently swallowing the next command typed.
#[test]
fn killed_at_the_hidden_prompt_the_terminal_is_put_back() {
    use rexpect::process::{Signal, WaitStatus};
    for signal in [Signal::SIGTERM, Signal::SIGHUP] {
        let mut screen = Screen::fingerprint();
        screen.expect("Paste the token: ");
        let master = screen.master();
        assert!(!echoes(std::os::fd::AsRawFd::as_raw_fd(&master)), "hidden");
        screen.signal(signal);
        let status = screen
            .session
            .process()
            .wait()
            .expect("wait for the binary");
        assert!(
            matches!(status, WaitStatus::Signaled(_, got, _) if got == signal),
            "{signal}: {status:?}"
        );
        assert!(
            echoes(std::os::fd::AsRawFd::as_raw_fd(&master)),
            "{signal}: the terminal was left with echo off"
        );
    }
}
/// Stdin a terminal but stderr not (`2>log`): nobody can be asked, and reading stdin there
/// would show the token as it is typed; the command says what to do instead, reading
/// nothing.
#[test]
fn a_token_is_never_read_from_a_terminal_with_stderr_elsewhere() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let log = dir.path().join("stderr.log");
    let mut cmd = crate::common::autorekey();
    cmd.arg("fingerprint");
    let file = std::fs::File::create(&log).expect("a log file");
    let screen = Screen::spawn_with_stderr(std_command(&cmd), file.into());
    let (code, _) = screen.finish();

    let said = std::fs::read_to_string(&log).expect("read the log");
    assert_eq!(code, 2, "{said}");
    assert!(said.contains("stdin is a terminal"), "{said}");
    assert!(said.contains("Hint: "), "{said}");
}

/// `--api-token-file -` typed at a terminal: the token is asked for hidden, not read from
/// the terminal with echo on.
#[test]
fn a_token_file_dash_on_a_terminal_is_asked_hidden() {
    let (_, site) = copies_site(1, |_| {});
    let mut cmd = site.cmd();
    cmd.env_remove("AUTOREKEY_API_TOKEN")
        .args(["scan", "--api-token-file", "-"]);
    let mut screen = Screen::spawn(std_command(&cmd));
    screen.answer("Paste the admin's API token", site.admin_token());
    let (code, transcript) = screen.finish();

    assert_no_secrets(&transcript, site.secrets());
    assert_eq!(code, 0, "{transcript}");
}

/// Ctrl-D at the question (nobody will type more) is "quit", said as such: nothing more is
/// written, the rules left are listed (exit 3), and no error is printed for it.
#[test]
fn ctrl_d_at_the_question_quits() {
    let desk = Desk::new(3);
    let mut screen = desk.first_rule_rotated();
    screen.expect(&question(&desk.by_name[1].0));
    screen.session.send_control('d').expect("press Ctrl-D");
    let (code, transcript) = screen.finish();

    assert_eq!(code, 3, "{transcript}");
    let summary = desk.only_the_first_rotated(&transcript);
    for (name, _) in &desk.by_name[1..] {
        assert!(
            summary.contains(&format!("Not attempted \"{name}\": you quit")),
            "{summary}"
        );
    }
    assert!(!transcript.contains("Error"), "{transcript}");
}

/// A line at the question that cannot be an answer (too long, not text) is asked again,
/// like any other wrong answer: it is not taken as "quit".
#[test]
fn an_overlong_answer_is_asked_again() {
    let desk = Desk::new(2);
    let mut screen = desk.first_rule_rotated();
    screen.answer(&question(&desk.by_name[1].0), &"y".repeat(5000));
    screen.answer("answer y, n, a or q", "y");
    let (code, transcript) = screen.finish();

    assert_no_secrets(&transcript, desk.site.secrets());
    assert_eq!(code, 0, "{transcript}");
    desk.expected.assert_site(&desk.site);
}

/// At a terminal each value nothing confirmed is one question, after its rules, where they
/// send it, who wrote them and what the login said. "No" (the default) leaves it alone;
/// "yes" rotates it, as an admin does for a real token that expired.
#[test]
fn each_unconfirmed_value_is_one_question_and_only_a_yes_rotates_it() {
    use crate::ownership_e2e::{basic, planted_site, ALICE, PLANTED_JUNK, PLANTED_SITE, REAL};
    const VOUCH: &str = "planted would send the new token to them [y]es / [N]o";
    for answer in ["n", "y"] {
        let p = planted_site();
        let new_file = p.site.write_file("new-token", &p.new);
        let mut cmd = p.site.cmd();
        cmd.args(["rotate", "--account", ALICE, "--new-token-file"])
            .arg(&new_file)
            .arg("--backup-dir")
            .arg(p.site.dir.path().join("backups"));
        let mut screen = Screen::spawn(std_command(&cmd));
        for _ in 0..4 {
            screen.answer(VOUCH, answer);
        }
        // A group's question or a lone rule's, whichever comes first: both take "a".
        screen.answer("[a]ll remaining / [q]uit", "a");
        let (code, transcript) = screen.finish();
        assert_no_secrets(&transcript, p.site.secrets());
        assert!(
            transcript.contains("sends to: collector.evil.example"),
            "{transcript}"
        );
        assert!(p.rule(REAL).contains(&basic(ALICE, &p.new)), "{transcript}");
        let planted =
            [PLANTED_JUNK, PLANTED_SITE].map(|u| p.rule(u).contains(&basic(ALICE, &p.new)));
        match answer {
            "n" => {
                assert_eq!(code, 3, "{transcript}");
                assert_eq!(planted, [false, false], "{transcript}");
                assert!(transcript.contains("you said it is not the account's token"));
                assert!(transcript.contains("Revoke nothing yet"), "{transcript}");
            }
            _ => assert_eq!(planted, [true, true], "{transcript}"),
        }
    }
}
