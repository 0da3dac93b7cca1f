//! Confirm: who approves each rule's rewrite, and how.
//!
//! Three ways, decided once before any rule is shown: `--yes` approves everything (scripts,
//! CI); on a terminal each rule is asked about (this rule / skip it / all remaining / quit);
//! with neither, nothing is written and the command says why before doing any work, so CI
//! never hangs on a prompt nobody can answer.

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
    Prompt,
}

impl Approver {
    /// Decide how approval works for this run, or refuse when nobody could approve.
    pub fn new(yes: bool, ui: &Ui, what: &str) -> CommandResult<Approver> {
        if yes {
            return Ok(Approver::Everything);
        }
        if ui.can_prompt() {
            return Ok(Approver::Prompt);
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
        matches!(self, Approver::Prompt)
    }

    /// Ask about one rule (its diff has already been shown).
    pub fn ask(&mut self, question: &str) -> CommandResult<Answer> {
        match self {
            Approver::Everything => Ok(Answer::Yes),
            Approver::Prompt => {
                let answer = prompt(question)?;
                if answer == Answer::All {
                    *self = Approver::Everything;
                }
                Ok(answer)
            }
        }
    }
}

fn prompt(question: &str) -> CommandResult<Answer> {
    let text = dialoguer::Input::<String>::new()
        // The question names a rule: hostile text, and dialoguer writes it to the terminal
        // itself, past the Ui.
        .with_prompt(format!(
            "{} [y]es / [n]o / [a]ll remaining / [q]uit",
            crate::printable::printable(question)
        ))
        .validate_with(|t: &String| -> Result<(), &str> {
            parse(t).map(|_| ()).ok_or("answer y, n, a or q")
        })
        .interact_text();
    let text = match text {
        Ok(text) => text,
        Err(dialoguer::Error::IO(e)) if e.kind() == std::io::ErrorKind::Interrupted => {
            return Ok(Answer::Interrupted)
        }
        Err(e) => {
            return Err(CommandError::failure(format!(
                "could not read the answer: {e}"
            )))
        }
    };
    Ok(parse(&text).unwrap_or(Answer::Quit))
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
}
