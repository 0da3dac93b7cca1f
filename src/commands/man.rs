//! `autorekey man`: the man page, generated from the clap definition like the `--help` text.
//!
//! On stdout it is the main page (autorekey.1); with `--dir` every command gets its own
//! page as well (autorekey-scan.1, ...), the layout `man` expects in a man1 directory.

use clap::CommandFactory;

use crate::cli::{Cli, ManArgs};
use crate::error::{CommandError, CommandResult, ErrorKind};
use crate::ui::Ui;

pub fn run(args: &ManArgs, ui: &Ui) -> CommandResult {
    let command = Cli::command();
    let Some(dir) = &args.dir else {
        let mut page = Vec::new();
        clap_mangen::Man::new(command).render(&mut page)?;
        ui.out_data(String::from_utf8_lossy(&page));
        return Ok(());
    };
    if !dir.is_dir() {
        return Err(
            CommandError::usage(format!("{} is not a directory", dir.display()))
                .hint("create it first, e.g. mkdir -p ~/.local/share/man/man1"),
        );
    }
    clap_mangen::generate_to(command, dir).map_err(|e| {
        CommandError::caused(
            ErrorKind::Failure,
            format!("cannot write the man pages to {}", dir.display()),
            e,
        )
    })?;
    ui.status(format!("Man pages written to {}", dir.display()));
    Ok(())
}
