//! `autorekey rotate --from-file EXPORT.json --write NEW_EXPORT.json`: the offline rotation.
//!
//! For Data Center and sites without API access: the same plan, diff and confirmation as on
//! a site, applied to a UI export. Only the rotated rules are written, to a new file for
//! re-import (importing unchanged rules again would duplicate them). The input file is
//! never modified (it is the backup), and the output is created 0600 since it holds tokens.
//! There is no site to check the new token against here, which the summary says.

use std::path::Path;

use crate::cli::RotateArgs;
use crate::confirm::{Answer, Approver};
use crate::error::{CommandError, CommandResult, ErrorKind};
use crate::export::Document;
use crate::outcome::{Kind, Outcome, Stop};
use crate::plan::review::{self, Group};
use crate::plan::{Plan, Planner, Rewrite, Selector};
use crate::rule::Rule;
use crate::secret::Token;
use crate::ui::Ui;
use crate::verdict;

use super::ownership::{self, Confirmation, Given};
use super::rotation::{self, Diffs};

pub async fn run(source: &Path, selector: &Selector, args: &RotateArgs, ui: &Ui) -> CommandResult {
    let target = args
        .write
        .as_deref()
        .expect("clap requires --write with --from-file");
    check_paths(source, target)?;
    let mut approver = (!args.dry_run)
        .then(|| Approver::new(args.write_args.yes, ui, "rotate"))
        .transpose()?;
    let new_token = rotation::read_new_token(&args.new_token, ui)?;
    let old_token = ownership::read_old_token(&args.new_token, ui)?;
    let mut doc = read_document(source)?;
    let mut plan = plan_document(&doc, selector, &new_token)?;
    // Offline, no login can confirm an old token: the old token given, a named
    // fingerprint or an answer at the prompt can.
    let given = Given {
        old_token,
        recorded: &[],
    };
    let confirming = Confirmation {
        selector,
        new_token: &new_token,
        given,
        login: None,
    };
    let owned = confirming.run(&mut plan, approver.as_mut(), ui).await?;
    let confirmed = owned.confirmed.len();
    verdict::check_new_in_use(&plan.census, selector, &new_token, false, confirmed)
        .map_err(rotation::refused)?;
    let mut summary = rotation::summary_of(selector, &new_token, &plan, doc.rule_pointers().len());
    // Nothing is re-read offline: the narrowed plan is all the writing needs.
    owned.into_summary(&mut summary);
    summary.offline = true;
    summary.add(plan.outcomes);
    ui.warn("offline: the new token cannot be checked against a site here; make sure it is the right one");
    let format = args.write_args.format;
    let diffs = Diffs { format };
    let Some(approver) = approver.as_mut() else {
        diffs.show_all(&plan.rewrites, ui);
        summary.dry_run = true;
        summary.would_rotate = plan.rewrites.iter().map(|r| r.uuid().to_string()).collect();
        return rotation::finish(&summary, None, format, ui);
    };
    let groups = review::groups(plan.rewrites, selector, &new_token);
    let (decided, rotated, stop) = approve_into(&mut doc, groups, approver, diffs, ui)?;
    summary.add(decided);
    if let Some(stop) = stop {
        ui.warn(match stop {
            Stop::Interrupted => "interrupted: nothing was written",
            _ => "you quit: nothing was written",
        });
        return rotation::finish(&summary, None, format, ui);
    }
    if doc.keep_only(&rotated) == 0 {
        ui.warn("no rule was rotated: nothing was written");
        return rotation::finish(&summary, None, format, ui);
    }
    crate::files::write_new(target, doc.to_compact().as_bytes()).map_err(|e| {
        let msg = format!("cannot write {}", target.display());
        CommandError::caused(ErrorKind::Failure, msg, e)
    })?;
    summary.written_file = Some(target.display().to_string());
    rotation::finish(&summary, None, format, ui)
}

fn read_document(source: &Path) -> CommandResult<Document> {
    Document::read(source).map_err(|e| {
        let shapes = "--from-file takes a UI export or a file of API envelopes (one plain file, not a folder)";
        CommandError::input_file(format!("cannot read {}", source.display()), e, shapes)
    })
}

/// Every rule of the file through the planner, each with where it sits in the file.
fn plan_document(doc: &Document, selector: &Selector, new_token: &Token) -> CommandResult<Plan> {
    let mut planner = Planner::new(selector, new_token);
    for pointer in doc.rule_pointers() {
        let body = doc.root.pointer(&pointer).cloned().unwrap_or_default();
        planner.add_at(Rule::from_body(body), Some(pointer));
    }
    let plan = planner.finish();
    // No earlier run can have written a file: a "new" token already in it is refused
    // unless an old token of the account is in it too (and confirmed, in `run`).
    verdict::check_selection(&plan.census, selector, new_token, false)
        .map_err(rotation::refused)?;
    Ok(plan)
}

/// Ask about each group of rewrites that make the same change (or, on request, about each
/// of its rewrites, as about a group of one) and put the approved ones into the
/// document. Returns the outcomes, where the rotated rules sit in the document (by place, not by id: ids can be
/// missing or repeated in a file), and why the admin stopped, if they did (then nothing is
/// written).
fn approve_into(
    doc: &mut Document,
    groups: Vec<Group>,
    approver: &mut Approver,
    diffs: Diffs,
    ui: &Ui,
) -> CommandResult<(Vec<Outcome>, Vec<String>, Option<Stop>)> {
    let mut outcomes = Vec::new();
    let mut rotated = Vec::new();
    let mut stop = None;
    let total = groups.iter().map(|g| g.rewrites.len()).sum();
    for group in groups {
        let at = (outcomes.len() + 1, total);
        let for_all = match (stop, group.rewrites.len()) {
            (Some(_), _) | (None, 1) => None,
            (None, _) => rotation::ask_group(&group, at, approver, diffs, ui),
        };
        for r in group.rewrites {
            let answer = match (stop, for_all) {
                (Some(_), _) => Answer::Quit,
                (None, Some(answer)) => answer,
                (None, None) => {
                    diffs.show(&r, ui);
                    let i = outcomes.len() + 1;
                    approver.ask(&format!("({i}/{total}) Rotate \"{}\"?", r.name()))?
                }
            };
            let (kind, now) = decide(doc, &r, answer, stop, &mut rotated);
            stop = now;
            outcomes.push(Outcome::new(r.uuid(), r.name(), kind));
        }
    }
    // Nothing is written once the admin stopped: what was approved is not attempted either.
    if let Some(why) = stop {
        for o in outcomes
            .iter_mut()
            .filter(|o| matches!(o.kind, Kind::Rotated { .. }))
        {
            o.kind = Kind::NotAttempted { why };
        }
    }
    Ok((outcomes, rotated, stop))
}

/// What `answer` makes of one rewrite: put into the document (its place noted in
/// `rotated`), declined, or not attempted; and why the run stops now, if it does.
fn decide(
    doc: &mut Document,
    r: &Rewrite,
    answer: Answer,
    mut stop: Option<Stop>,
    rotated: &mut Vec<String>,
) -> (Kind, Option<Stop>) {
    let kind = match answer {
        Answer::Yes | Answer::All => {
            let place = r.place.clone().unwrap_or_default();
            if let Some(slot) = doc.root.pointer_mut(&place) {
                *slot = r.after.body().clone();
            }
            rotated.push(place);
            Kind::Rotated {
                places: r.findings.len(),
            }
        }
        Answer::No => Kind::Declined,
        Answer::Quit | Answer::Interrupted => {
            let why = match (stop, answer) {
                (Some(earlier), _) => earlier,
                (None, Answer::Interrupted) => Stop::Interrupted,
                (None, _) => Stop::Quit,
            };
            stop = Some(why);
            Kind::NotAttempted { why }
        }
    };
    (kind, stop)
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
