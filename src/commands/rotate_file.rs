//! `autorekey rotate --from-file EXPORT.json --write NEW_EXPORT.json`: the offline rotation.
//!
//! For Data Center and sites without API access: the same plan, diff and confirmation as on
//! a site, applied to a UI export, written to a new file for re-import. The input file is
//! never modified (it is the backup), and the output is created 0600 since it holds tokens.
//! There is no site to check the new token against here, which the summary says.

use std::path::Path;

use serde_json::Value;

use crate::apply::{self, Outcome, Prepared};
use crate::backup::write_private;
use crate::cli::RotateArgs;
use crate::confirm::{Answer, Approver};
use crate::error::{CommandError, CommandResult, ErrorKind};
use crate::export::Document;
use crate::plan::Selector;
use crate::report::RotationSummary;
use crate::ui::Ui;

use super::rotate::{finish, read_new_token, show_diffs};

pub fn run(
    source: &Path,
    target: &Path,
    selector: &Selector,
    args: &RotateArgs,
    ui: &Ui,
) -> CommandResult {
    check_paths(source, target)?;
    let mut approver = if args.dry_run {
        None
    } else {
        Some(Approver::new(args.write_args.yes, ui, "rotate")?)
    };
    let new_token = read_new_token(&args.new_token, ui)?;
    let mut doc = Document::read(source).map_err(|e| {
        CommandError::caused(
            ErrorKind::Usage,
            format!("cannot read {}", source.display()),
            e,
        )
    })?;
    let pointers = doc.rule_pointers();
    let mut summary = RotationSummary::new(selector, &new_token, pointers.len());
    let mut outcomes = Vec::new();
    let mut prepared = Vec::new();
    for pointer in &pointers {
        let envelope = serde_json::json!({ "rule": doc.root.pointer(pointer).cloned().unwrap_or(Value::Null) });
        match apply::prepare(envelope, selector, &new_token) {
            Ok(Some(p)) => prepared.push((pointer.clone(), p)),
            Ok(None) => {}
            Err(outcome) => outcomes.push(outcome),
        }
    }
    let plain: Vec<Prepared> = prepared.iter().map(|(_, p)| p.clone()).collect();
    summary.note_old(&plain);
    ui.warn("offline: the new token cannot be checked against a site here; make sure it is the right one");
    let Some(approver) = approver.as_mut() else {
        show_diffs(&plain, ui);
        summary.dry_run = true;
        summary.would_rotate = plain.iter().map(|p| p.uuid.clone()).collect();
        return finish(summary, outcomes, ui);
    };
    let mut quit = false;
    for (pointer, p) in prepared {
        let answer = if quit {
            Answer::Quit
        } else {
            show_diffs(std::slice::from_ref(&p), ui);
            approver.ask(&format!("Rotate \"{}\"?", p.name))?
        };
        outcomes.push(match answer {
            Answer::Yes | Answer::All => {
                if let Some(slot) = doc.root.pointer_mut(&pointer) {
                    *slot = p.after.clone();
                }
                Outcome::Rotated {
                    uuid: p.uuid,
                    name: p.name,
                    places: p.findings.len(),
                }
            }
            Answer::No => Outcome::Declined {
                uuid: p.uuid,
                name: p.name,
            },
            Answer::Quit => {
                quit = true;
                Outcome::NotAttempted {
                    uuid: p.uuid,
                    name: p.name,
                    why: "you quit".into(),
                }
            }
        });
    }
    if quit {
        ui.warn("you quit: nothing was written");
        return finish(summary, outcomes, ui);
    }
    write_private(target, doc.to_pretty().as_bytes()).map_err(|e| {
        CommandError::caused(
            ErrorKind::Failure,
            format!("cannot write {}", target.display()),
            e,
        )
    })?;
    summary.written_file = Some(target.display().to_string());
    finish(summary, outcomes, ui)
}

/// Never overwrite the input (it is the only copy of the rules as they were), and never
/// replace an existing file silently.
fn check_paths(source: &Path, target: &Path) -> CommandResult {
    let same = match (source.canonicalize(), target.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    };
    if same {
        return Err(CommandError::usage(
            "--write names the input file; the original export must be kept",
        )
        .hint("write the rotated rules to a new file"));
    }
    if target.exists() {
        return Err(
            CommandError::usage(format!("{} already exists", target.display()))
                .hint("remove it or choose another --write path"),
        );
    }
    Ok(())
}
