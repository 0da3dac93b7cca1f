//! The commands: one file each, called with parsed arguments and a [`Ui`].
//!
//! This layer parses, resolves settings and calls the pipeline stages; it holds no detection
//! or rewriting logic of its own. `main` builds the runtime, runs one command and maps its
//! [`CommandError`] to the documented exit status (0 ok, 1 failure, 2 usage, 3 partial).

mod apply;
mod demo;
mod demo_org;
mod fingerprint;
mod restore;
mod revoke;
mod rotate;
mod rotate_file;
mod sandbox;
pub mod sandbox_args;
mod scan;
mod tokens;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command};
use crate::error::{CommandError, CommandResult};
use crate::ui::Ui;

pub fn main() -> ExitCode {
    // Before any secret is read: a crash must not write one to disk in a core file.
    let hardened = crate::harden::disable_core_dumps();
    let cli = Cli::parse();
    let verbosity = if cli.global.quiet {
        -1
    } else {
        cli.global.verbose.min(3) as i8
    };
    let ui = Ui::new(verbosity);
    if let Err(e) = hardened {
        ui.warn(format!(
            "could not turn core dumps off ({e}); a crash could write secrets to disk"
        ));
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            ui.error(&CommandError::failure(format!("cannot start: {e}")).render());
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(run(cli, &ui)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            ui.error(&e.render());
            ExitCode::from(e.kind.exit_code())
        }
    }
}

async fn run(cli: Cli, ui: &Ui) -> CommandResult {
    let global = &cli.global;
    match cli.command {
        Command::Scan(args) => scan::run(global, &args, ui).await,
        Command::Rotate(args) => rotate::run(global, &args, ui).await,
        Command::Apply(args) => apply::run(global, &args, ui).await,
        Command::Restore(args) => restore::run(global, &args, ui).await,
        Command::Demo(args) => demo::run(&args, ui).await,
        Command::Fingerprint(_) => fingerprint::run(ui),
        Command::Tokens(args) => tokens::run(global, &args, ui).await,
        Command::Revoke(args) => revoke::run(global, &args, ui).await,
        Command::Sandbox(args) => sandbox::run(args, ui).await,
    }
}
