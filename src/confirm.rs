//! Confirm: who approves each rule's rewrite, and how.
//!
//! Three ways, decided once before any rule is shown: `--yes` approves everything (scripts,
//! CI); on a terminal each rule is asked about (this rule / skip it / all remaining / quit),
//! or each group of rules that make the same change ([`Approver::ask_group`]: yes / no /
//! list them / show their diffs / review each / all remaining / quit); with neither,
//! nothing is written and the command says why before doing any work, so CI never hangs on
//! a prompt nobody can answer.
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

/// The answer to a group's question: a decision for every rule of the group, or a request
/// to see more before deciding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GroupAnswer {
    /// Yes, no, all remaining, quit or Ctrl-C, for the whole group.
    Decide(Answer),
    /// List the group's rules, then ask again.
    List,
    /// Show the group's diffs, then ask again.
    Diffs,
    /// Ask about each rule of the group on its own.
    Each,
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
        self.note(answer);
        Ok(answer)
    }

    /// Ask about a group of rules that make the same change. `--yes` (or "all remaining"
    /// answered before) is yes to the group, as to each of its rules.
    pub fn ask_group(&mut self, question: &str) -> CommandResult<GroupAnswer> {
        let answer = match self {
            Approver::Everything => return Ok(GroupAnswer::Decide(Answer::Yes)),
            Approver::Interrupted => return Ok(GroupAnswer::Decide(Answer::Interrupted)),
            Approver::Prompt(ui) => {
                let question = format!(
                    "{question} [y]es / [n]o / [l]ist / [d]iffs / [r]eview each / [a]ll remaining / [q]uit"
                );
                ui.ask(&question, parse_group, "answer y, n, l, d, r, a or q")
                    .or_else(|e| answer_of(Err(e)).map(GroupAnswer::Decide))?
            }
        };
        if let GroupAnswer::Decide(decided) = answer {
            self.note(decided);
        }
        Ok(answer)
    }

    /// An answer that changes every later question: "all remaining" answers them yes,
    /// Ctrl-C answers them "interrupted".
    fn note(&mut self, answer: Answer) {
        match answer {
            Answer::All => *self = Approver::Everything,
            Answer::Interrupted => *self = Approver::Interrupted,
            _ => {}
        }
    }

    /// A question with only two answers (one irreversible act, where "all remaining"
    /// means nothing): `Ok(true)` for yes. `--yes` answers yes; the default is no; Ctrl-C
    /// ends the command (exit 1), and Ctrl-D is no.
    pub fn ask_yes_no(&mut self, question: &str) -> CommandResult<bool> {
        match self {
            Approver::Everything => Ok(true),
            _ => self.read_yes_no(question),
        }
    }

    /// Ask whether a value is what the question says (an old token of the account).
    /// `None` when nobody can be asked: `--yes` approves rewrites, never facts, so a value
    /// nothing else confirmed stays unconfirmed in a script. The default is no; Ctrl-C ends
    /// the command (exit 1), and Ctrl-D is no.
    pub fn vouch(&mut self, question: &str) -> CommandResult<Option<bool>> {
        match self {
            Approver::Everything => Ok(None),
            _ => self.read_yes_no(question).map(Some),
        }
    }

    /// `question [y]es / [N]o` on the terminal (an interrupted approver fails at once).
    fn read_yes_no(&mut self, question: &str) -> CommandResult<bool> {
        let Approver::Prompt(ui) = self else {
            return Err(interrupted());
        };
        let read = ui.ask(
            &format!("{question} [y]es / [N]o"),
            yes_or_no,
            "answer y or n",
        );
        match read {
            Ok(yes) => Ok(yes),
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(false),
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

fn parse_group(text: &str) -> Option<GroupAnswer> {
    match text.trim().to_ascii_lowercase().as_str() {
        "l" | "list" => Some(GroupAnswer::List),
        "d" | "diff" | "diffs" => Some(GroupAnswer::Diffs),
        "r" | "review" | "review each" => Some(GroupAnswer::Each),
        other => parse(other).map(GroupAnswer::Decide),
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
        assert_eq!(parse_group(" L"), Some(GroupAnswer::List));
        assert_eq!(parse_group("d"), Some(GroupAnswer::Diffs));
        assert_eq!(parse_group("r"), Some(GroupAnswer::Each));
        assert_eq!(parse_group("y"), Some(GroupAnswer::Decide(Answer::Yes)));
        assert_eq!(parse_group("a"), Some(GroupAnswer::Decide(Answer::All)));
        assert_eq!(parse_group(""), None);
    }

    #[test]
    fn yes_answers_a_group_and_a_yes_no_question() {
        let mut everything = Approver::Everything;
        assert_eq!(
            everything.ask_group("40 rules").unwrap(),
            GroupAnswer::Decide(Answer::Yes)
        );
        assert!(everything.ask_yes_no("Revoke?").unwrap());
        let mut interrupted = Approver::Interrupted;
        assert_eq!(
            interrupted.ask_group("40 rules").unwrap(),
            GroupAnswer::Decide(Answer::Interrupted)
        );
        assert_eq!(
            interrupted
                .ask_yes_no("Revoke?")
                .unwrap_err()
                .kind
                .exit_code(),
            1
        );
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
        let err = approver.ask_yes_no("Revoke?").unwrap_err();
        assert_eq!(err.kind.exit_code(), 1);
        assert!(err.render().contains("Error: interrupted"), "{err:?}");
    }
}
