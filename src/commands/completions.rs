//! `autorekey completions SHELL`: a completion script generated from the clap definition.
//!
//! Generated rather than written by hand so it can never drift from `src/cli.rs`: a new
//! flag is completed as soon as it exists.

use crate::cli::CompletionsArgs;
use crate::error::CommandResult;
use crate::ui::Ui;

pub fn run(args: &CompletionsArgs, ui: &Ui) -> CommandResult {
    let mut script = Vec::new();
    clap_complete::generate(
        args.shell,
        &mut crate::cli::command(),
        "autorekey",
        &mut script,
    );
    ui.out_data(String::from_utf8_lossy(&script));
    Ok(())
}
