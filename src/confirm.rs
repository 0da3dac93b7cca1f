//! Confirm: who approves each rule's rewrite, and how.
//!
//! Three ways, decided once before any rule is shown: `--yes` approves everything (scripts,
//! CI); on a terminal each rule is asked about (this rule / skip it / all remaining / quit);
//! with neither, nothing is written and the command says why before doing any work, so CI
//! never hangs on a prompt nobody can answer.
//!
//! The policy lives here; the asking is the [`Ui`]'s. Ctrl-C at the prompt is its own
//! answer, [`Answer::Interrupted`], not "quit": quitting is a choice and leaves the run
//! to be judged on what was done (exit 3 when rules are left), an interruption fails it
//! (exit 1), as Ctrl-C does anywhere else in a run. Ctrl-D (the end of input) is "quit".

use crate::error::{CommandError, CommandResult};
use crate::ui::Ui;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    Yes,
    No,
    /// Yes to this rule and every rule after it.
    All,
    /// Stop: write nothing more.
    Quit,
    /// Ctrl-C at the prompt: stop as an interrupted run does (exit 1), not as "quit".
    Interrupted,
}

pub enum Approver {
    /// `--yes`, or "all remaining" answered at the prompt.
    Everything,
    /// Ask on the terminal, through this [`Ui`].
    Prompt(Ui),
    /// Ctrl-C was pressed at a prompt: every later question is answered
    /// [`Answer::Interrupted`] without being asked (a rebuilt rule's second question
    /// included), so the person who pressed it is not asked again.
    Interrupted,
}

impl Approver {
    /// Decide how approval works for this run, or refuse when nobody could approve.
    pub fn new(yes: bool, ui: &Ui, what: &str) -> CommandResult<Approver> {
        if yes {
            return Ok(Approver::Everything);
        }
        if ui.can_prompt() {
            return Ok(Approver::Prompt(ui.clone()));
        }
        // Only rotate has a dry run; restore and apply show their diffs as they go.
        let hint = if what == "rotate" {
            "pass --yes to approve every rule (for scripts and CI), or --dry-run to see the diffs"
        } else {
            "pass --yes to approve every rule (for scripts and CI)"
        };
        Err(CommandError::usage(format!(
            "nothing was written: {what} needs approval, and there is no terminal to ask on"
        ))
        .hint(hint))
    }

    pub fn is_interactive(&self) -> bool {
        matches!(self, Approver::Prompt(_))
    }

    /// Ask about one rule (its diff has already been shown).
    pub fn ask(&mut self, question: &str) -> CommandResult<Answer> {
        let answer = match self {
            Approver::Everything => return Ok(Answer::Yes),
            Approver::Interrupted => return Ok(Answer::Interrupted),
            Approver::Prompt(ui) => prompt(question, ui)?,
        };
        match answer {
            Answer::All => *self = Approver::Everything,
            Answer::Interrupted => *self = Approver::Interrupted,
            _ => {}
        }
        Ok(answer)
    }

    /// [`Approver::ask`] for a lone question, where nothing is left to tally: Ctrl-C ends
    /// the command with an error (exit 1).
    pub fn ask_or_fail(&mut self, question: &str) -> CommandResult<Answer> {
        match self.ask(question)? {
            Answer::Interrupted => Err(CommandError::failure("interrupted at the prompt")
                .hint("nothing was done; run the command again to be asked again")),
            answer => Ok(answer),
        }
    }
}

impl Approver {
    /// Ask whether a value is what the question says (an old token of the account).
    /// `None` when nobody can be asked: `--yes` approves rewrites, never facts, so a value
    /// nothing else confirmed stays unconfirmed in a script. The default is no; Ctrl-C ends
    /// the command (exit 1), and Ctrl-D is no.
    pub fn vouch(&mut self, question: &str) -> CommandResult<Option<bool>> {
        let ui = match self {
            Approver::Everything => return Ok(None),
            Approver::Interrupted => return Err(interrupted()),
            Approver::Prompt(ui) => ui.clone(),
        };
        let read = ui.ask(
            &format!("{question} [y]es / [N]o"),
            yes_or_no,
            "answer y or n",
        );
        match read {
            Ok(yes) => Ok(Some(yes)),
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(Some(false)),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {
                *self = Approver::Interrupted;
                Err(interrupted())
            }
            Err(e) => Err(CommandError::failure(format!(
                "could not read the answer: {e}"
            ))),
        }
    }
}

fn interrupted() -> CommandError {
    CommandError::failure("interrupted at the prompt")
        .hint("nothing was written; run the command again to be asked again")
}

fn yes_or_no(text: &str) -> Option<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "y" | "yes" => Some(true),
        "" | "n" | "no" => Some(false),
        _ => None,
    }
}

fn prompt(question: &str, ui: &Ui) -> CommandResult<Answer> {
    let question = format!("{question} [y]es / [n]o / [a]ll remaining / [q]uit");
    answer_of(ui.ask(&question, parse, "answer y, n, a or q"))
}

/// A prompt that ended without an answer: Ctrl-C interrupts; Ctrl-D (the end of input)
/// means nobody will answer any more, which is "quit": nothing more is written.
fn answer_of(read: std::io::Result<Answer>) -> CommandResult<Answer> {
    match read {
        Ok(answer) => Ok(answer),
        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => Ok(Answer::Interrupted),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(Answer::Quit),
        Err(e) => Err(CommandError::failure(format!(
            "could not read the answer: {e}"
        ))),
    }
}

fn parse(text: &str) -> Option<Answer> {
    match text.trim().to_ascii_lowercase().as_str() {
        "y" | "yes" => Some(Answer::Yes),
        "n" | "no" => Some(Answer::No),
        "a" | "all" => Some(Answer::All),
        "q" | "quit" => Some(Answer::Quit),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_parse_and_nothing_else_does() {
        assert_eq!(parse(" Y "), Some(Answer::Yes));
        assert_eq!(parse("all"), Some(Answer::All));
        assert_eq!(parse("q"), Some(Answer::Quit));
        assert_eq!(parse(""), None);
        assert_eq!(parse("yep"), None);
    }

    #[test]
    fn yes_approves_rewrites_but_never_vouches_for_a_value() {
        assert_eq!(Approver::Everything.vouch("Is it theirs?").unwrap(), None);
        assert!(Approver::Interrupted.vouch("Is it theirs?").is_err());
        assert_eq!(yes_or_no(""), Some(false));
        assert_eq!(yes_or_no(" Y"), Some(true));
        assert_eq!(yes_or_no("all"), None);
    }

    #[test]
    fn ctrl_c_interrupts_and_the_end_of_input_quits() {
        use std::io::{Error, ErrorKind};
        let of = |kind| answer_of(Err(Error::from(kind)));
        assert_eq!(of(ErrorKind::Interrupted).unwrap(), Answer::Interrupted);
        assert_eq!(of(ErrorKind::UnexpectedEof).unwrap(), Answer::Quit);
        let err = of(ErrorKind::PermissionDenied).unwrap_err();
        assert!(
            err.render().contains("could not read the answer"),
            "{err:?}"
        );
    }

    #[test]
    fn once_interrupted_every_question_is_answered_so_and_a_lone_one_fails() {
        let mut approver = Approver::Interrupted;
        assert_eq!(approver.ask("Rotate?").unwrap(), Answer::Interrupted);
        let err = approver.ask_or_fail("Revoke?").unwrap_err();
        assert_eq!(err.kind.exit_code(), 1);
        assert!(err.render().contains("Error: interrupted"), "{err:?}");
        let mut everything = Approver::Everything;
        assert_eq!(everything.ask_or_fail("Revoke?").unwrap(), Answer::Yes);
    }
}
