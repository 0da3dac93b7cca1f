//! `autorekey rotate --from-file EXPORT.json --write NEW_EXPORT.json`: the offline rotation.
//!
//! For Data Center and sites without API access: the same plan, diff and confirmation as on
//! a site, applied to a UI export. Only the rotated rules are written, to a new file for
//! re-import (importing unchanged rules again would duplicate them). The input file is
//! never modified (it is the backup), and the output is created 0600 since it holds tokens.
//! There is no site to check the new token against here, which the summary says.

use std::path::Path;

use serde_json::Value;

use crate::apply::{self, Outcome, Prepared};
use crate::backup::write_private_new;
use crate::cli::RotateArgs;
use crate::confirm::{Answer, Approver};
use crate::error::{CommandError, CommandResult, ErrorKind};
use crate::export::Document;
use crate::plan::Selector;
use crate::report::RotationSummary;
use crate::ui::Ui;
use crate::verdict;

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
        .hint("--from-file takes a UI export or a file of API envelopes (a plain file)")
    })?;
    let (prepared, outcomes, census) = plan_document(&doc, selector, &new_token);
    // No earlier run can have written a file: a "new" token already in it is refused.
    verdict::check_selection(&census, selector, &new_token, false)?;
    let plain: Vec<Prepared> = prepared.iter().map(|(_, p)| p.clone()).collect();
    let mut summary = RotationSummary::new(selector, &new_token, doc.rule_pointers().len());
    summary.note_old(&plain);
    summary.offline = true;
    summary.note_census(&census);
    ui.warn("offline: the new token cannot be checked against a site here; make sure it is the right one");
    let Some(approver) = approver.as_mut() else {
        show_diffs(&plain, ui);
        summary.dry_run = true;
        summary.would_rotate = plain.iter().map(|p| p.uuid.clone()).collect();
        return finish(summary, outcomes, ui);
    };
    let (decided, rotated, quit) = approve_into(&mut doc, prepared, approver, ui)?;
    let mut outcomes = outcomes;
    outcomes.extend(decided);
    if quit {
        ui.warn("you quit: nothing was written");
        return finish(summary, outcomes, ui);
    }
    if doc.keep_only(&rotated) == 0 {
        ui.warn("no rule was rotated: nothing was written");
        return finish(summary, outcomes, ui);
    }
    write_private_new(target, doc.to_compact().as_bytes()).map_err(|e| {
        let msg = format!("cannot write {}", target.display());
        CommandError::caused(ErrorKind::Failure, msg, e)
    })?;
    summary.written_file = Some(target.display().to_string());
    finish(summary, outcomes, ui)
}

/// Plan every rule of the document: the rewrites (with where each rule sits in the
/// document), the outcomes of the rules left alone and the census of every rule.
fn plan_document(
    doc: &Document,
    selector: &Selector,
    new_token: &crate::secret::Token,
) -> (Vec<(String, Prepared)>, Vec<Outcome>, apply::Census) {
    let mut prepared = Vec::new();
    let mut outcomes = Vec::new();
    let mut copies = apply::Census::default();
    for pointer in doc.rule_pointers() {
        let rule = doc.root.pointer(&pointer).cloned().unwrap_or(Value::Null);
        copies.note(&rule, selector);
        match apply::prepare(serde_json::json!({ "rule": rule }), selector, new_token) {
            Ok(Some(p)) => prepared.push((pointer, p)),
            Ok(None) => {}
            Err(outcome) => outcomes.push(outcome),
        }
    }
    let plain: Vec<Prepared> = prepared.iter().map(|(_, p)| p.clone()).collect();
    let dropped = copies.flag(&plain, &mut outcomes);
    prepared.retain(|(_, p)| !dropped.contains(&p.uuid));
    (prepared, outcomes, copies)
}

/// Ask about each rewrite and put the approved ones into the document. Returns the
/// outcomes, where the rotated rules sit in the document (by place, not by id: ids can be
/// missing or repeated in a file), and whether the admin quit (then nothing is written).
fn approve_into(
    doc: &mut Document,
    prepared: Vec<(String, Prepared)>,
    approver: &mut Approver,
    ui: &Ui,
) -> CommandResult<(Vec<Outcome>, Vec<String>, bool)> {
    let mut outcomes = Vec::new();
    let mut rotated = Vec::new();
    let mut quit = false;
    for (pointer, p) in prepared {
        let answer = if quit {
            Answer::Quit
        } else {
            show_diffs(std::slice::from_ref(&p), ui);
            approver.ask(&format!("Rotate \"{}\"?", p.name))?
        };
        let (uuid, name) = (p.uuid.clone(), p.name.clone());
        outcomes.push(match answer {
            Answer::Yes | Answer::All => {
                if let Some(slot) = doc.root.pointer_mut(&pointer) {
                    *slot = p.after;
                }
                rotated.push(pointer);
                let places = p.findings.len();
                Outcome::Rotated { uuid, name, places }
            }
            Answer::No => Outcome::Declined { uuid, name },
            Answer::Quit => {
                quit = true;
                let why = "you quit".into();
                Outcome::NotAttempted { uuid, name, why }
            }
        });
    }
    Ok((outcomes, rotated, quit))
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
