//! The commands: one file each, called with parsed arguments and a [`Ui`].
//!
//! This layer parses, resolves settings and calls the pipeline stages; it holds no detection
//! or rewriting logic of its own. `main` builds the runtime, runs one command and maps its
//! [`CommandError`] to the documented exit status (0 ok, 1 failure, 2 usage, 3 partial).
//! Output that could not be written (a full disk) is found here, after the command, and
//! fails it: see [`crate::ui`] for why the command is not stopped at the failed write.

mod apply;
mod backups;
mod completions;
#[cfg(feature = "sandbox")]
mod demo;
#[cfg(feature = "sandbox")]
mod demo_org;
mod fingerprint;
mod interrupt;
mod man;
mod ownership;
mod restore;
mod revoke;
mod revoke_by_hand;
mod revoke_guard;
mod rotate;
mod rotate_file;
mod rotate_sites;
mod rotation;
#[cfg(feature = "sandbox")]
mod sandbox;
mod scan;
mod scan_sites;
mod session;
mod sites;
mod tokens;

use std::process::ExitCode;

use crate::cli::{Cli, Command};
use crate::error::{CommandError, CommandResult, ErrorKind};
use crate::settings::SiteOptions;
use crate::ui::Ui;

pub fn main() -> ExitCode {
    // Before any secret is read: a crash must not write one to disk in a core file.
    let hardened = crate::harden::disable_core_dumps();
    crate::backup::command_started_at();
    let cli = match crate::cli::parse() {
        Ok(cli) => cli,
        Err(e) => return clap_said(e),
    };
    let verbosity = if cli.output.quiet {
        -1
    } else {
        cli.output.verbose.min(3) as i8
    };
    let ui = Ui::new(verbosity, cli.output.color);
    if verbosity >= 2 {
        let tracer = ui.clone();
        crate::fetch::install_request_trace(move |line| tracer.verbose(line));
    }
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
    if let Err(e) = install_fingerprint_key(&cli) {
        ui.error(&e.render());
        return ExitCode::from(e.kind.exit_code());
    }
    let result = runtime.block_on(async {
        interrupt::watch(ui.clone());
        run(cli, &ui).await
    });
    if crate::secret::fingerprint_key::unknown_was_shown() {
        ui.warn(
            "fingerprints shown as k:???????????? belong to secrets that may be weak; with no \
             data folder for a machine key, give a team key with --fingerprint-key-file or \
             AUTOREKEY_FINGERPRINT_KEY to tell them apart",
        );
    }
    if let Err(e) = &result {
        ui.error(&e.render());
    }
    exit_status(result, &ui)
}

/// The command's own status, unless some of its output never reached stdout (see
/// [`Ui::output_error`]): then results are missing, which is a failure (1) even where the
/// command would have said 0 or "needs you" (3), whose readers trust the output whole.
fn exit_status(result: CommandResult, ui: &Ui) -> ExitCode {
    let kind = result.err().map(|e| e.kind);
    if let Some(e) = ui.output_error() {
        ui.error(&lost_output(e).render());
        if matches!(kind, None | Some(ErrorKind::Partial)) {
            return ExitCode::from(ErrorKind::Failure.exit_code());
        }
    }
    kind.map_or(ExitCode::SUCCESS, |kind| ExitCode::from(kind.exit_code()))
}

fn lost_output(e: &std::io::Error) -> CommandError {
    CommandError::failure(format!("the output could not be written: {e}")).hint(
        "make room where stdout goes (a full disk?) or send it elsewhere, then run the command \
         again",
    )
}

/// Help, version or a usage error. Help and version are printed by clap in its own styles,
/// as output like any command's: when they could not be written (a full disk), that is
/// said and fails (exit 1); a closed pipe is not a failure. A usage error is exit 2, shown
/// with every secret the command line may hold masked (clap quotes a stray argument, which
/// may be a pasted token: see [`crate::cli::masked_error_text`]).
fn clap_said(e: clap::Error) -> ExitCode {
    if e.use_stderr() {
        let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
        let ui = Ui::new(0, crate::ui::ColorChoice::Auto);
        ui.error(&crate::cli::masked_error_text(&e, &args));
        return ExitCode::from(ErrorKind::Usage.exit_code());
    }
    match e.print() {
        Err(lost) if lost.kind() != std::io::ErrorKind::BrokenPipe => {
            let ui = Ui::new(0, crate::ui::ColorChoice::Auto);
            ui.error(&lost_output(&lost).render());
            ExitCode::from(ErrorKind::Failure.exit_code())
        }
        _ => ExitCode::SUCCESS,
    }
}

/// Every command that shows findings needs the fingerprint key; the sandbox, the shell
/// completions and the man page do not, and make no key file.
fn install_fingerprint_key(cli: &Cli) -> CommandResult {
    use crate::secret::fingerprint_key;
    #[cfg(feature = "sandbox")]
    if matches!(cli.command, Command::Sandbox(_)) {
        return Ok(());
    }
    if matches!(cli.command, Command::Completions(_) | Command::Man(_)) {
        return Ok(());
    }
    let key = crate::fingerprint_key_file::resolve(cli.output.fingerprint_key_file.as_deref()).map_err(|e| {
        let error = CommandError::usage(e.message);
        error.hint(e.hint.unwrap_or_else(|| {
            "give a team key with --fingerprint-key-file (a 0600 file) or AUTOREKEY_FINGERPRINT_KEY".into()
        }))
    })?;
    fingerprint_key::install(key);
    Ok(())
}

async fn run(cli: Cli, ui: &Ui) -> CommandResult {
    // Site commands get their own site options, already merged with those typed before
    // the command name (see `cli::parse`), resolved here from flags and environment alone;
    // each command reads the admin's token where its own order of checks wants it.
    let site = SiteOptions::resolve;
    match cli.command {
        Command::Scan(args) => scan::run(&site(&args.site_args), &args, ui).await,
        Command::Rotate(args) => rotate::run(&site(&args.site_args), &args, ui).await,
        Command::Apply(args) => apply::run(&site(&args.site_args), &args, ui).await,
        Command::Restore(args) => restore::run(&site(&args.site_args), &args, ui).await,
        Command::Backups(args) => backups::run(&args, ui),
        #[cfg(feature = "sandbox")]
        Command::Demo(args) => demo::run(&args, ui).await,
        Command::Fingerprint(_) => fingerprint::run(ui),
        Command::Tokens(args) => tokens::run(&site(&args.site_args), &args, ui).await,
        Command::Revoke(args) => revoke::run(&site(&args.site_args), &args, ui).await,
        #[cfg(feature = "sandbox")]
        Command::Sandbox(args) => sandbox::run(args, ui).await,
        Command::Completions(args) => completions::run(&args, ui),
        Command::Man(args) => man::run(&args, ui),
    }
}
