//! The one way commands talk to a person: results on stdout, everything else on stderr.
//!
//! Like uv's `Printer` and jj's `Ui`, a single type decides where each kind of output goes,
//! so no command writes with a bare `println!`:
//!
//! - results (tables, JSON, CSV, diffs) go to stdout, so `scan --format json | jq` works;
//! - status, warnings and progress go to stderr; `-q` hides status, `-v` adds detail;
//! - progress bars appear only on a terminal; colour follows `--color` (see
//!   [`ColorChoice`]): by default on a terminal, never under `NO_COLOR`;
//! - prompts are allowed only when stdin and stderr are both terminals, so CI never hangs;
//!   they are read here and nowhere else (see `ui/prompt.rs` for why Ctrl-C at one is an
//!   answer, "interrupted", and not a signal).
//!
//! A write to stdout that fails is remembered, not ignored: results that never reached
//! their file (a full disk) must not end in exit 0. Only a closed pipe is ignored, since
//! then the reader has all it wanted (`autorekey scan | head`). The command is not stopped
//! at the failed write, which could be between a rule's backup and its write: it runs to
//! its end, where its journal and summary are complete, and `commands::main` turns
//! [`Ui::output_error`] into an `Error:` and exit status 1. A failed write to stderr is
//! dropped: there is nowhere left to say it, and results do not go there.
//!
//! Every human-facing write passes through [`crate::printable`] here, in one place, so no
//! command can forget it: rule names and server text are hostile, and a control sequence in
//! them must not reach the terminal. Only the styles this type paints itself survive.
//! Machine output (JSON) goes through [`Ui::out_data`], as is.

mod prompt;

use std::io::{self, IsTerminal, Write};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use console::Style;

use crate::printable::{printable_styled, printable_text};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use zeroize::Zeroizing;

/// `--color`: decided here, once, for stdout and stderr apart (one may be a terminal and
/// the other a pipe). Defined beside the type that honours it, so `cli` depends on `ui`
/// and not the other way round.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

impl ColorChoice {
    /// Whether a stream gets colour. `auto` follows the conventions of no-color.org and
    /// bixense.com/clicolors: a non-empty NO_COLOR turns it off, then CLICOLOR_FORCE (not
    /// `0`) turns it on even off a terminal, then CLICOLOR=0 turns it off; otherwise a
    /// terminal gets colour. A flag typed on the command line beats all of them.
    pub fn enabled(self, terminal: bool, env: impl Fn(&str) -> Option<String>) -> bool {
        let set = |name: &str| env(name).filter(|v| !v.is_empty());
        match self {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto if set("NO_COLOR").is_some() => false,
            ColorChoice::Auto if set("CLICOLOR_FORCE").is_some_and(|v| v != "0") => true,
            ColorChoice::Auto if set("CLICOLOR").is_some_and(|v| v == "0") => false,
            ColorChoice::Auto => terminal,
        }
    }
}

/// Put the terminal back as it was before a prompt, if one holds it: for a process about
/// to exit while a prompt is up (`commands::interrupt`).
pub use prompt::terminal::put_back as put_back_terminal;

#[derive(Clone, Debug)]
pub struct Ui {
    verbosity: i8,
    color: bool,
    color_err: bool,
    stderr_tty: bool,
    stdin_tty: bool,
    /// The first failed write to stdout, shared by every clone (the request tracer and
    /// the Ctrl-C watcher hold clones).
    output_error: Arc<OnceLock<io::Error>>,
}

impl Ui {
    /// `verbosity`: -1 quiet, 0 normal, 1+ verbose.
    pub fn new(verbosity: i8, color: ColorChoice) -> Self {
        let stderr_tty = std::io::stderr().is_terminal();
        let stdout_tty = std::io::stdout().is_terminal();
        let env = |name: &str| std::env::var(name).ok();
        let (color, color_err) = (
            color.enabled(stdout_tty, env),
            color.enabled(stderr_tty, env),
        );
        // The progress bars (indicatif) paint through `console`: they follow the same decision.
        console::set_colors_enabled(color);
        console::set_colors_enabled_stderr(color_err);
        Ui {
            verbosity,
            color,
            color_err,
            stderr_tty,
            stdin_tty: std::io::stdin().is_terminal(),
            output_error: Arc::default(),
        }
    }

    /// Prompts need someone to answer them: stdin and stderr must both be terminals.
    pub fn can_prompt(&self) -> bool {
        self.stdin_tty && self.stderr_tty
    }

    /// A result line on stdout.
    pub fn out(&self, text: impl AsRef<str>) {
        let mut out = std::io::stdout().lock();
        self.wrote(writeln!(out, "{}", self.shown(self.color, text.as_ref())));
    }

    /// Result text on stdout (already ends with a newline where it should).
    pub fn out_raw(&self, text: impl AsRef<str>) {
        self.out_data(self.shown(self.color, text.as_ref()));
    }

    /// Machine-readable output (JSON) on stdout, byte for byte: its own escaping protects
    /// a terminal, and a consumer must see the real values.
    pub fn out_data(&self, text: impl AsRef<str>) {
        let mut out = std::io::stdout().lock();
        self.wrote(
            out.write_all(text.as_ref().as_bytes())
                .and_then(|()| out.flush()),
        );
    }

    /// Remembers the first failed write to stdout; a closed pipe is not a failure.
    fn wrote(&self, result: io::Result<()>) {
        if let Err(e) = result {
            if e.kind() != io::ErrorKind::BrokenPipe {
                let _ = self.output_error.set(e);
            }
        }
    }

    /// Why some output never reached stdout, if it did not (see the module doc).
    pub fn output_error(&self) -> Option<&io::Error> {
        self.output_error.get()
    }

    /// Asks `question` on the terminal until `parse` accepts the line typed, saying
    /// `again` after each line it refuses. Ctrl-C is an [`io::ErrorKind::Interrupted`]
    /// error. The question is hostile text (it names a rule): it is made printable here.
    pub fn ask<T>(
        &self,
        question: &str,
        parse: impl Fn(&str) -> Option<T>,
        again: &str,
    ) -> io::Result<T> {
        self.check_prompt()?;
        let question = self.shown(self.color_err, question);
        loop {
            match prompt::read_line(&question, true) {
                Ok(line) => {
                    if let Some(answer) = parse(&line) {
                        return Ok(answer);
                    }
                }
                // A line too long or not text is a wrong answer like any other (not the
                // terminal failing, which would ask forever).
                Err(e) if unreadable_line(&e) => {}
                Err(e) => return Err(e),
            }
            self.err_line(again);
        }
    }

    /// Reads a secret, typed or pasted hidden; an empty line asks again. With `confirm`
    /// (the second prompt, and what to say when the two differ) it is asked twice until
    /// both entries agree. Ctrl-C is an [`io::ErrorKind::Interrupted`] error.
    ///
    /// An empty line asks again at the second prompt too: a paste that ends in CR LF
    /// reaches the terminal as two Enters, and the second is no confirmation.
    pub fn ask_secret(
        &self,
        prompt: &str,
        confirm: Option<(&str, &str)>,
    ) -> io::Result<Zeroizing<String>> {
        self.check_prompt()?;
        loop {
            let first = read_secret(prompt)?;
            let Some((again, differ)) = confirm else {
                return Ok(first);
            };
            if *read_secret(again)? == *first {
                return Ok(first);
            }
            self.err_line(differ);
        }
    }

    /// Callers check [`Ui::can_prompt`] first, to say what to do instead; this keeps a
    /// missed check from reading a pipe as if someone typed it.
    fn check_prompt(&self) -> io::Result<()> {
        if self.can_prompt() {
            Ok(())
        } else {
            Err(io::Error::new(
                io::ErrorKind::NotConnected,
                "stdin and stderr are not both terminals",
            ))
        }
    }

    /// `text` made safe for a terminal, keeping this type's own styles when `styled`.
    fn shown<'a>(&self, styled: bool, text: &'a str) -> std::borrow::Cow<'a, str> {
        if styled {
            printable_styled(text)
        } else {
            printable_text(text)
        }
    }

    /// A status line on stderr; hidden by `-q`.
    pub fn status(&self, text: impl AsRef<str>) {
        if self.verbosity >= 0 {
            self.err_line(text.as_ref());
        }
    }

    /// Detail shown only with `-v`.
    pub fn verbose(&self, text: impl AsRef<str>) {
        if self.verbosity > 0 {
            self.err_line(text.as_ref());
        }
    }

    /// A warning on stderr, shown even with `-q`.
    pub fn warn(&self, text: impl AsRef<str>) {
        let label = self.paint_err(Style::new().yellow().bold(), "Warning:");
        self.err_line(&format!("{label} {}", text.as_ref()));
    }

    /// An error report, already rendered (see [`crate::error::CommandError::render`]).
    pub fn error(&self, rendered: &str) {
        let mut err = std::io::stderr().lock();
        let _ = err.write_all(self.shown(self.color_err, rendered).as_bytes());
    }

    fn err_line(&self, text: &str) {
        let mut err = std::io::stderr().lock();
        let _ = writeln!(err, "{}", self.shown(self.color_err, text));
    }

    /// `text` in `style` when stderr has colour; plain otherwise (`force_styling(false)`
    /// writes the text alone, whatever `console` decided).
    fn paint_err(&self, style: Style, text: &str) -> String {
        style
            .force_styling(self.color_err)
            .apply_to(text)
            .to_string()
    }

    /// Bold text for stdout headings, when colour is on.
    pub fn bold(&self, text: &str) -> String {
        self.paint(Style::new().bold(), text)
    }

    /// `text` in `style` when stdout has colour, as `paint_err` does for stderr.
    pub fn paint(&self, style: Style, text: &str) -> String {
        style.force_styling(self.color).apply_to(text).to_string()
    }

    /// A unified diff, coloured by line on a terminal.
    pub fn diff(&self, diff: &str) -> String {
        paint_diff(diff, |style, line| self.paint(style, line))
    }

    /// A rule's redacted diff under its heading, for a person to read (and approve). On
    /// stdout; on stderr when stdout carries machine output (`--format json`), then shown
    /// even with `-q`, since a diff is what a person approves. A blank line follows.
    pub fn show_diff(&self, heading: &str, diff: &str, stdout_is_data: bool) {
        if !stdout_is_data {
            self.out(self.bold(heading));
            self.out_raw(self.diff(diff));
            self.out("");
            return;
        }
        let painted = paint_diff(diff, |style, line| self.paint_err(style, line));
        let heading = self.paint_err(Style::new().bold(), heading);
        self.err_line(&format!("{heading}\n{}", painted.trim_end()));
        self.err_line("");
    }

    /// A progress bar on stderr, drawn only on a terminal and never with `-q`.
    pub fn progress(&self, len: u64, message: &str) -> ProgressBar {
        if !self.stderr_tty || self.verbosity < 0 {
            return ProgressBar::hidden();
        }
        let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} ({eta})")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        bar.set_message(message.to_string());
        bar.enable_steady_tick(Duration::from_millis(200));
        bar
    }
}

/// What [`prompt::read_line`] says of a line it read but will not give (too long, not
/// text); an error from the system is no such line.
fn unreadable_line(e: &io::Error) -> bool {
    e.raw_os_error().is_none()
        && matches!(
            e.kind(),
            io::ErrorKind::InvalidInput | io::ErrorKind::InvalidData
        )
}

/// A hidden line that is not empty.
fn read_secret(prompt: &str) -> io::Result<Zeroizing<String>> {
    loop {
        let line = prompt::read_line(prompt, false)?;
        if !line.is_empty() {
            return Ok(line);
        }
    }
}

/// A unified diff with each line styled by `paint`: headers bold, additions green, removals
/// red, hunk lines cyan (`paint` leaves text plain when colour is off).
fn paint_diff(diff: &str, paint: impl Fn(Style, &str) -> String) -> String {
    diff.lines()
        .map(|line| {
            let style = if line.starts_with("+++") || line.starts_with("---") {
                Style::new().bold()
            } else if line.starts_with('+') {
                Style::new().green()
            } else if line.starts_with('-') {
                Style::new().red()
            } else if line.starts_with("@@") {
                Style::new().cyan()
            } else {
                Style::new()
            };
            format!("{}\n", paint(style, line))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::ColorChoice::{self, *};

    fn on(choice: ColorChoice, terminal: bool, vars: &[(&str, &str)]) -> bool {
        choice.enabled(terminal, |name| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.to_string())
        })
    }

    #[test]
    fn auto_follows_the_terminal_and_the_conventions() {
        assert!(on(Auto, true, &[]));
        assert!(!on(Auto, false, &[]));
        assert!(!on(Auto, true, &[("NO_COLOR", "1")]));
        assert!(
            on(Auto, true, &[("NO_COLOR", "")]),
            "an empty NO_COLOR is unset"
        );
        assert!(on(Auto, false, &[("CLICOLOR_FORCE", "1")]));
        assert!(!on(Auto, false, &[("CLICOLOR_FORCE", "0")]));
        assert!(!on(
            Auto,
            true,
            &[("CLICOLOR_FORCE", "1"), ("NO_COLOR", "1")]
        ));
        assert!(!on(Auto, true, &[("CLICOLOR", "0")]));
        assert!(on(Auto, true, &[("CLICOLOR", "1")]));
    }

    #[test]
    fn a_failed_write_is_kept_for_every_clone_but_a_closed_pipe_is_not() {
        use std::io::{Error, ErrorKind};
        let ui = super::Ui::new(0, Never);
        let tracer = ui.clone();
        tracer.wrote(Err(Error::from(ErrorKind::BrokenPipe)));
        assert!(
            ui.output_error().is_none(),
            "a reader that left is not a failure"
        );
        tracer.wrote(Err(Error::from(ErrorKind::WriteZero)));
        tracer.wrote(Err(Error::from(ErrorKind::Other)));
        let kept = ui.output_error().map(Error::kind);
        assert_eq!(
            kept,
            Some(ErrorKind::WriteZero),
            "the first failure is kept"
        );
    }

    #[test]
    fn only_a_line_read_but_refused_is_asked_again() {
        use std::io::{Error, ErrorKind};
        assert!(super::unreadable_line(&Error::new(
            ErrorKind::InvalidInput,
            "too long"
        )));
        assert!(super::unreadable_line(&Error::new(
            ErrorKind::InvalidData,
            "not UTF-8"
        )));
        assert!(
            !super::unreadable_line(&Error::from_raw_os_error(libc::EINVAL)),
            "a terminal that fails would be asked forever"
        );
        assert!(!super::unreadable_line(&Error::from(
            ErrorKind::UnexpectedEof
        )));
    }

    #[test]
    fn paint_styles_only_with_colour_on() {
        use console::Style;
        let ui = |color: bool| super::Ui {
            verbosity: 0,
            color,
            color_err: color,
            stderr_tty: false,
            stdin_tty: false,
            output_error: Default::default(),
        };
        assert_eq!(ui(false).paint(Style::new().red(), "a b"), "a b");
        assert_eq!(ui(false).paint_err(Style::new().bold(), "a b"), "a b");
        assert_eq!(
            ui(true).paint(Style::new().red(), "a"),
            "\u{1b}[31ma\u{1b}[0m"
        );
        assert_eq!(
            ui(true).paint_err(Style::new().bold(), "a"),
            "\u{1b}[1ma\u{1b}[0m"
        );
    }

    #[test]
    fn a_typed_choice_beats_the_environment() {
        assert!(on(Always, false, &[("NO_COLOR", "1")]));
        assert!(!on(Never, true, &[("CLICOLOR_FORCE", "1")]));
    }
}
