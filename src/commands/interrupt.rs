//! Ctrl-C anywhere in a command: exit 1 with a sentence saying what is left, never a death
//! by signal.
//!
//! README documents Ctrl-C as "stopped" (exit 1), and a script or CI job reads the exit
//! status; a process killed by SIGINT reports 130 and prints nothing, and leaves its files
//! behind (the site's lock file, the sandbox's accounts file with tokens in clear). So one
//! watcher, started before the command, takes SIGINT for the whole process:
//!
//! - while a writing session runs, it takes Ctrl-C itself (stop starting rules, finish the
//!   ones in flight, print the summary: `session`), and says so here with [`take_over`];
//!   the watcher then leaves Ctrl-C to it (the sandbox too: Ctrl-C is how it stops);
//! - at any other point (reading the rules, checking a token, a restore writing with
//!   `--yes`), the watcher prints `Error: interrupted`, what is left ([`set_left`]), removes
//!   the files registered with [`OnExit`], and exits 1. No write is left half-sent
//!   without its trace: a rule being written has its `writing` journal line, and a rerun
//!   re-reads every rule.
//!
//! The lock itself is an OS lock, released by the kernel on any exit; its file is removed
//! here as the lock's own drop would (an exit runs no destructor).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};

use crate::error::CommandError;
use crate::ui::Ui;

/// A writing session (or the sandbox) takes Ctrl-C itself.
static TAKEN_OVER: AtomicBool = AtomicBool::new(false);
/// Files (or folders of this process's own) to remove when the process exits on Ctrl-C.
static CLEANUP: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());
/// What a Ctrl-C now leaves, said as the error's hint.
static LEFT: Mutex<&'static str> = Mutex::new(NOTHING_WRITTEN);

/// What Ctrl-C leaves before a command writes anything.
pub const NOTHING_WRITTEN: &str = "nothing was written; run the same command again when ready";

/// From now on the command takes Ctrl-C itself, to the end of the process (see the module
/// doc): never handed back, so no Ctrl-C that it has begun handling can also end the
/// process here.
pub fn take_over() {
    TAKEN_OVER.store(true, Ordering::SeqCst);
}

/// Say what a Ctrl-C from now on leaves (a command that starts writing says so).
pub fn set_left(text: &'static str) {
    *LEFT.lock().unwrap_or_else(|p| p.into_inner()) = text;
}

/// The files to remove on Ctrl-C (see [`OnExit`]).
fn cleanup() -> MutexGuard<'static, Vec<PathBuf>> {
    CLEANUP.lock().unwrap_or_else(|p| p.into_inner())
}

/// `held` (a lock, a file with secrets) whose file `path` goes if the process exits on
/// Ctrl-C, for as long as it is held.
pub struct OnExit<T> {
    // Kept for its own drop (a lock released, a file closed); only some commands read it.
    #[allow(dead_code)]
    pub held: T,
    path: PathBuf,
}

impl<T> OnExit<T> {
    pub fn new(held: T, path: &Path) -> Self {
        cleanup().push(path.to_path_buf());
        OnExit {
            held,
            path: path.to_path_buf(),
        }
    }
}

impl<T> Drop for OnExit<T> {
    fn drop(&mut self) {
        // Before `held` is dropped (fields go after this): once the file is its owner's
        // to remove, an exit must not remove a file of that name made since (another
        // run's lock). No longer removed on exit: its owner removes it.
        cleanup().retain(|p| *p != self.path);
    }
}

/// Remove the registered files and exit with `code`, after `error` is said.
pub fn exit_now(ui: &Ui, error: CommandError, code: u8) -> ! {
    crate::ui::put_back_terminal();
    ui.error(&error.render());
    let files = std::mem::take(&mut *cleanup());
    for path in files {
        // A folder registered is one this process made for its own files.
        let _ = match std::fs::symlink_metadata(&path).map(|m| m.is_dir()) {
            Ok(true) => std::fs::remove_dir_all(&path),
            _ => std::fs::remove_file(&path),
        };
    }
    #[allow(clippy::exit)] // the command is abandoned on purpose: see the module doc
    std::process::exit(i32::from(code))
}

/// Start watching for Ctrl-C (inside the runtime). When the handler cannot be installed,
/// Ctrl-C keeps its default (the process dies of it), which is said with `-v`.
pub fn watch(ui: Ui) {
    use tokio::signal::unix::{signal, SignalKind};
    let mut interrupts = match signal(SignalKind::interrupt()) {
        Ok(s) => s,
        Err(e) => {
            ui.verbose(format!("Ctrl-C keeps its default action: {e}"));
            return;
        }
    };
    tokio::spawn(async move {
        while interrupts.recv().await.is_some() {
            if TAKEN_OVER.load(Ordering::SeqCst) {
                continue;
            }
            let left = *LEFT.lock().unwrap_or_else(|p| p.into_inner());
            exit_now(&ui, CommandError::failure("interrupted").hint(left), 1);
        }
    });
}
