//! The writes of a rotation across several sites and products: one approver and one review
//! for all of them, each rule written through its own site's [`Session`] (its client, its
//! share of the run's backups and journal).
//!
//! Why shaped so: a person reviews a change, not a site. Rules that make the same change
//! (the same label: the same old token to the same new one in places of the same shape)
//! are one question whichever site holds them, the question naming the sites; each rule of
//! it is still re-read, written and read back on its own site by the unchanged one-site
//! protocol. With `--yes` the sites are written one after the other, each at its own pace.
//! A stop anywhere (Ctrl-C, a quit, a site refusing the admin's login) starts nothing more
//! anywhere, and every rotated rule is checked once more after the run's last write.

use std::collections::BTreeSet;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use crate::cli::WriteArgs;
use crate::confirm::{Answer, Approver};
use crate::error::{CommandError, CommandResult};
use crate::outcome::{Outcome, Stop};
use crate::plan::review::{self, Group};
use crate::plan::{Rewrite, Selector};
use crate::report::RotationSummary;
use crate::rotation_store::RunStore;
use crate::secret::{Fingerprint, Token};
use crate::ui::Ui;
use crate::write::{Rotation, Writer};

use super::super::rotation::{self, Diffs};
use super::super::sites::Connected;
use super::{interrupt_flag, not_attempted, Review, Session};

/// One target's share of a writing run across several sites and products: what its read
/// and confirmation gave.
pub struct TargetWrite<'a> {
    pub target: &'a Connected,
    /// Its own selector: each site's old tokens were confirmed on that site.
    pub selector: Selector,
    pub rewrites: Vec<Rewrite>,
    pub summary: RotationSummary,
    pub outcomes: Vec<Outcome>,
}

/// Review and write every target's rewrites into `store`, check every rotated rule once
/// more, and give each target's summary, in order.
pub async fn write_targets(
    parts: Vec<TargetWrite<'_>>,
    store: &RunStore,
    new_token: &Token,
    args: &WriteArgs,
    mut approver: Approver,
    ui: &Ui,
) -> CommandResult<Vec<RotationSummary>> {
    if parts.iter().any(|p| !p.selector.is_confirmed()) {
        return Err(CommandError::failure(
            "internal error: the old tokens were not confirmed before writing; nothing was written",
        ));
    }
    super::say_resumed(store, ui);
    let (mut heads, mut tails, mut rewrites) = (Vec::new(), Vec::new(), Vec::new());
    for p in parts {
        heads.push((p.target, p.selector));
        tails.push((p.summary, p.outcomes));
        rewrites.push(p.rewrites);
    }
    let olds: Vec<BTreeSet<Fingerprint>> = heads
        .iter()
        .zip(&rewrites)
        .zip(&mut tails)
        .map(|(((_, selector), rewrites), (summary, _))| {
            super::old_tokens(store, selector, new_token, rewrites, summary)
        })
        .collect();
    let logs: Vec<_> = heads.iter().map(|h| store.part(&h.0.target)).collect();
    let sessions: Vec<Session<'_>> = heads
        .iter()
        .zip(&logs)
        .map(|((target, selector), log)| Session {
            writer: Writer::new(&target.client, log),
            rotation: Rotation {
                selector,
                new_token,
            },
            diffs: Diffs {
                format: args.format,
            },
            concurrency: target.settings.concurrency.max(1),
            label: Some(target.label()),
        })
        .collect();
    let interrupted = match rewrites.iter().any(|r| !r.is_empty()) {
        true => interrupt_flag(ui.clone()),
        false => Arc::default(),
    };
    let written = match approver.is_interactive() {
        true => review_across(&sessions, rewrites, &mut approver, &interrupted, ui).await,
        false => write_in_turn(&sessions, rewrites, &mut approver, &interrupted, ui).await,
    };
    let mut summaries = Vec::new();
    let checks = sessions.iter().zip(written).zip(&olds).zip(tails);
    for (((session, outcomes), old), (mut summary, mut all)) in checks {
        all.extend(session.final_check(outcomes, old, ui).await);
        summary.login_refused = session.writer.login_refused();
        summary.backup_dir = store.dir().map(|d| d.display().to_string());
        summary.add(all);
        summaries.push(summary);
    }
    Ok(summaries)
}

/// Why no rule may be started on any site, if one may not: a site that refused the
/// admin's login refused the one admin account every site uses.
fn halted(sessions: &[Session<'_>], interrupted: &AtomicBool) -> Option<Stop> {
    sessions.iter().find_map(|s| s.halted(interrupted))
}

/// `--yes`: each target's diffs and writes in turn, at its own pace.
async fn write_in_turn(
    sessions: &[Session<'_>],
    rewrites: Vec<Vec<Rewrite>>,
    approver: &mut Approver,
    interrupted: &AtomicBool,
    ui: &Ui,
) -> Vec<Vec<Outcome>> {
    let mut written = Vec::new();
    for (session, rewrites) in sessions.iter().zip(rewrites) {
        let outcomes = match halted(sessions, interrupted) {
            Some(why) => rewrites.iter().map(|r| not_attempted(r, why)).collect(),
            None if rewrites.is_empty() => Vec::new(),
            None => (session.approve_and_write(rewrites, approver, interrupted, ui)).await,
        };
        written.push(outcomes);
    }
    written
}

/// At a terminal: one question per change, whichever sites hold its rules.
async fn review_across(
    sessions: &[Session<'_>],
    rewrites: Vec<Vec<Rewrite>>,
    approver: &mut Approver,
    interrupted: &AtomicBool,
    ui: &Ui,
) -> Vec<Vec<Outcome>> {
    let total = rewrites.iter().map(Vec::len).sum();
    let groups = changes(sessions, rewrites);
    let mut review = Review {
        approver,
        stop: None,
        outcomes: Vec::new(),
        asked: 0,
        total,
    };
    let mut written: Vec<Vec<Outcome>> = sessions.iter().map(|_| Vec::new()).collect();
    for (group, owners) in groups {
        let mut done = |review: &mut Review<'_>, i: usize| {
            written[i].append(&mut review.outcomes);
            // A site refusing the admin's login stops every site: the same account.
            if review.stop.is_none() {
                review.stop = halted(sessions, interrupted).filter(|s| *s == Stop::LoginRefused);
            }
        };
        if group.rewrites.len() == 1 {
            let i = owners[0];
            sessions[i]
                .review_each(group.rewrites, &mut review, interrupted, ui)
                .await;
            done(&mut review, i);
            continue;
        }
        let answer = match review.stop.or_else(|| halted(sessions, interrupted)) {
            Some(why) => Err(why),
            None => {
                let at = (review.asked + 1, review.total);
                let diffs = sessions[owners[0]].diffs;
                Ok(rotation::ask_group(&group, at, review.approver, diffs, ui))
            }
        };
        for (r, i) in group.rewrites.into_iter().zip(owners) {
            let session = &sessions[i];
            match answer {
                Ok(None) => {
                    session
                        .review_each(vec![r], &mut review, interrupted, ui)
                        .await
                }
                Err(why) => {
                    review.asked += 1;
                    review.outcomes.push(not_attempted(&r, why));
                }
                Ok(Some(Answer::Yes | Answer::All)) => {
                    review.asked += 1;
                    match review.stop.or_else(|| halted(sessions, interrupted)) {
                        Some(why) => review.outcomes.push(not_attempted(&r, why)),
                        None => session.write(&r, &mut review, interrupted, ui).await,
                    }
                }
                Ok(Some(answer)) => {
                    review.asked += 1;
                    session.refused(&r, answer, &mut review, interrupted);
                }
            }
            done(&mut review, i);
        }
    }
    written
}

/// Each target's groups ([`review::groups`]), those that make the same change on several
/// targets made one (the sites named in its label), with the target of each rule.
fn changes(sessions: &[Session<'_>], rewrites: Vec<Vec<Rewrite>>) -> Vec<(Group, Vec<usize>)> {
    let mut merged: Vec<(Group, Vec<usize>, Vec<usize>)> = Vec::new();
    for (i, (session, rewrites)) in sessions.iter().zip(rewrites).enumerate() {
        let Rotation {
            selector,
            new_token,
        } = session.rotation;
        for group in review::groups(rewrites, selector, new_token) {
            let n = group.rewrites.len();
            match merged.iter_mut().find(|(g, _, _)| g.label == group.label) {
                Some((g, owners, targets)) => {
                    g.rewrites.extend(group.rewrites);
                    owners.extend(std::iter::repeat_n(i, n));
                    targets.push(i);
                }
                None => merged.push((group, vec![i; n], vec![i])),
            }
        }
    }
    merged
        .into_iter()
        .map(|(mut group, owners, targets)| {
            let named: Vec<&str> = (targets.iter())
                .filter_map(|t| sessions[*t].label.as_deref())
                .collect();
            group.label = format!("{} [{}]", group.label, named.join(", "));
            (group, owners)
        })
        .collect()
}
