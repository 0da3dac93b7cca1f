//! `autorekey backups`: the backup runs in the backup root, newest first.
//!
//! Read-only (see [`crate::run_history`]); it exists so an admin can find the directory to give
//! `restore`, and see whether a run was interrupted, without browsing the data folder.

use crate::backup;
use crate::cli::{BackupsArgs, ListFormat};
use crate::error::{CommandError, CommandResult, ErrorKind};
use crate::run_history;
use crate::ui::Ui;

pub fn run(args: &BackupsArgs, ui: &Ui) -> CommandResult {
    let root = args
        .backup_dir
        .clone()
        .or_else(backup::default_root)
        .ok_or_else(|| {
            CommandError::usage("there is no data or home folder to find backups in")
                .hint("pass --backup-dir DIR (the folder given to rotate --backup-dir)")
        })?;
    let list = run_history::list(&root).map_err(|e| {
        CommandError::caused(
            ErrorKind::Failure,
            format!("cannot list {}", root.display()),
            e,
        )
    })?;
    // Text on a terminal and in a pipe alike; scripts ask for `--format json`.
    match args.format {
        ListFormat::Json => {
            let mut text = serde_json::to_string_pretty(&list).map_err(std::io::Error::from)?;
            text.push('\n');
            ui.out_data(text);
        }
        ListFormat::Text if list.is_empty() => {
            ui.status(format!("No backup runs in {}.", root.display()));
        }
        ListFormat::Text => {
            ui.out_raw(run_history::table(&list));
            let runs = crate::words::count(list.len(), "run", "runs");
            ui.status(format!(
                "{runs} in {}. Undo one with: autorekey restore {}/RUN",
                root.display(),
                root.display()
            ));
        }
    }
    Ok(())
}
