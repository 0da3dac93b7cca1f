//! A writing run of `rotate` or `apply`: confirm each rewrite, write it through the one
//! [`Writer`], check every rotated rule once more after the last write, and end with the
//! summary.
//!
//! Interactive runs ask once per group of rules that make the same change (the same old
//! credential to the same new one, in places of the same shape), listing the group's
//! rules, showing their diffs or asking rule by rule on request; each rule is written as
//! soon as it is approved, and one that changed since it was shown is shown and asked
//! about again on its own. `--yes` runs show every diff, then write `concurrency` rules
//! at a time. Either way nothing new is
//! started once Ctrl-C was pressed (at a prompt or not), the admin quit, or the site refused
//! the admin's login: those rules are "not attempted" with a typed [`Stop`], and the run's
//! exit status follows from it (`rotation::status`).

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use futures_util::StreamExt;

use crate::cli::WriteArgs;
use crate::confirm::{Answer, Approver};
use crate::error::{CommandError, CommandResult};
use crate::fetch::AutomationClient;
use crate::outcome::{Attention, Drift, Kind, Outcome, Stop};
use crate::plan::review::{self, Group};
use crate::plan::{self, Rewrite, Selector};
use crate::report::{self, RotationSummary};
use crate::rotation_store::RunStore;
use crate::secret::{Fingerprint, Token};
use crate::settings::SiteSettings;
use crate::ui::Ui;
use crate::write::{Rotation, Writer};

use super::rotation::{self, Diffs};

mod across;
pub use across::{write_targets, TargetWrite};

/// Everything a writing run needs besides the rules themselves.
pub struct Writes<'a> {
    pub client: &'a AutomationClient,
    pub settings: &'a SiteSettings,
    pub selector: &'a Selector,
    pub new_token: &'a Token,
    pub args: &'a WriteArgs,
}

impl Writes<'_> {
    /// Confirm and write `rewrites` with backups and a journal, carrying on an unfinished
    /// run of the same rotation (no backup directory at all until a rule is backed up),
    /// check every rotated rule once more, then print the summary and return the status.
    pub async fn run(
        &self,
        rewrites: Vec<Rewrite>,
        approver: Approver,
        mut summary: RotationSummary,
        mut outcomes: Vec<Outcome>,
        ui: &Ui,
    ) -> CommandResult {
        // A rewrite re-decided before its write must select only confirmed old tokens:
        // an unconfirmed selector would take a value planted between the read and the write.
        if !self.selector.is_confirmed() {
            return Err(CommandError::failure(
                "internal error: the old tokens were not confirmed before writing; nothing was written",
            ));
        }
        let store = self.store(!rewrites.is_empty())?;
        say_resumed(&store, ui);
        let old = old_tokens(
            &store,
            self.selector,
            self.new_token,
            &rewrites,
            &mut summary,
        );
        if !rewrites.is_empty() {
            let session = Session {
                writer: Writer::new(self.client, &store),
                rotation: Rotation {
                    selector: self.selector,
                    new_token: self.new_token,
                },
                diffs: Diffs {
                    format: self.args.format,
                },
                concurrency: self.settings.concurrency.max(1),
                label: None,
            };
            let (mut approver, interrupted) = (approver, interrupt_flag(ui.clone()));
            let written =
                (session.approve_and_write(rewrites, &mut approver, &interrupted, ui)).await;
            outcomes.extend(session.final_check(written, &old, ui).await);
            summary.login_refused = session.writer.login_refused();
        }
        summary.backup_dir = store.dir().map(|d| d.display().to_string());
        summary.add(outcomes);
        rotation::finish(&summary, Some(&store), self.args.format, ui)
    }

    /// The rotation's backups: an unfinished earlier run's, or a new one made on the first
    /// backup. When rules are to be written, the folder must be able to hold secrets
    /// (checked now, so nothing is written without a backup restore will accept).
    fn store(&self, will_write: bool) -> CommandResult<RunStore> {
        let root = match will_write {
            true => rotation::check_backup_root(self.args)?,
            false => rotation::backup_root(self.args).ok_or_else(rotation::no_backup_root)?,
        };
        let manifest = rotation::manifest(self.settings, self.selector, self.new_token);
        RunStore::resume_or_new(&root, manifest)
            .map_err(|e| rotation::unsafe_backup_root(&root, &e))
    }
}

/// Says so when the run carries on an unfinished rotation in its backup directory.
fn say_resumed(store: &RunStore, ui: &Ui) {
    if let Some(dir) = store.resumed() {
        ui.status(format!(
            "Carrying on the unfinished rotation backed up in {}",
            dir.display()
        ));
    }
}

/// Every old token a rotation replaces or replaced (an earlier run's, noted in its summary
/// too), by identity: its final check looks for each in any form.
fn old_tokens(
    store: &RunStore,
    selector: &Selector,
    new_token: &Token,
    rewrites: &[Rewrite],
    summary: &mut RotationSummary,
) -> BTreeSet<Fingerprint> {
    let earlier = store.earlier_old_tokens(selector, new_token);
    let mut old: BTreeSet<Fingerprint> = rewrites
        .iter()
        .flat_map(|r| r.findings.iter().filter_map(plan::token_identity))
        .collect();
    old.extend(earlier.iter().map(|(identity, _)| identity.clone()));
    summary.note_earlier(earlier);
    old
}

/// One writing run's writer and how it shows and paces its work.
struct Session<'a> {
    writer: Writer<'a>,
    rotation: Rotation<'a>,
    diffs: Diffs,
    concurrency: usize,
    /// The site and product, in a run of several: said in each question.
    label: Option<String>,
}

impl Session<'_> {
    /// Why no further rule may be started, if one may not.
    fn halted(&self, interrupted: &AtomicBool) -> Option<Stop> {
        if self.writer.login_refused() {
            Some(Stop::LoginRefused)
        } else if interrupted.load(Ordering::SeqCst) {
            Some(Stop::Interrupted)
        } else {
            None
        }
    }

    /// Confirm and write each rule. On a terminal, group by group (rules that make the same
    /// change are one question, see [`review`]), or rule by rule on request, each rule
    /// written as soon as it is approved; with `--yes`, every diff first, then the writes,
    /// `concurrency` at a time. Ctrl-C stops starting new rules; the ones in flight finish
    /// and are journalled.
    async fn approve_and_write(
        &self,
        rewrites: Vec<Rewrite>,
        approver: &mut Approver,
        interrupted: &AtomicBool,
        ui: &Ui,
    ) -> Vec<Outcome> {
        if let Some(label) = &self.label {
            self.diffs.line(&format!("At {label}:"), ui);
        }
        if !approver.is_interactive() {
            self.diffs.show_all(&rewrites, ui);
            return self.write_all(rewrites, interrupted, ui).await;
        }
        let mut review = Review {
            approver,
            stop: None,
            outcomes: Vec::new(),
            asked: 0,
            total: rewrites.len(),
        };
        let (selector, new_token) = (self.rotation.selector, self.rotation.new_token);
        for group in review::groups(rewrites, selector, new_token) {
            match group.rewrites.len() {
                1 => {
                    self.review_each(group.rewrites, &mut review, interrupted, ui)
                        .await
                }
                _ => self.review_group(group, &mut review, interrupted, ui).await,
            }
        }
        review.outcomes
    }

    /// One question for a group of rules that make the same change
    /// ([`rotation::ask_group`]); on request each rule is asked about on its own.
    async fn review_group(
        &self,
        group: Group,
        review: &mut Review<'_>,
        interrupted: &AtomicBool,
        ui: &Ui,
    ) {
        if let Some(why) = review.stop.or_else(|| self.halted(interrupted)) {
            review.asked += group.rewrites.len();
            let rules = group.rewrites.iter();
            review.outcomes.extend(rules.map(|r| not_attempted(r, why)));
            return;
        }
        let at = (review.asked + 1, review.total);
        match rotation::ask_group(&group, at, review.approver, self.diffs, ui) {
            None => {
                self.review_each(group.rewrites, review, interrupted, ui)
                    .await
            }
            Some(Answer::Yes | Answer::All) => {
                for r in group.rewrites {
                    review.asked += 1;
                    match review.stop.or_else(|| self.halted(interrupted)) {
                        Some(why) => review.outcomes.push(not_attempted(&r, why)),
                        None => self.write(&r, review, interrupted, ui).await,
                    }
                }
            }
            Some(answer) => {
                review.asked += group.rewrites.len();
                for r in &group.rewrites {
                    self.refused(r, answer, review, interrupted);
                }
            }
        }
    }

    /// Each rule on its own: its diff, then its question.
    async fn review_each(
        &self,
        rules: Vec<Rewrite>,
        review: &mut Review<'_>,
        interrupted: &AtomicBool,
        ui: &Ui,
    ) {
        for r in rules {
            review.asked += 1;
            if let Some(why) = review.stop.or_else(|| self.halted(interrupted)) {
                review.outcomes.push(not_attempted(&r, why));
                continue;
            }
            self.diffs.show(&r, ui);
            let question = format!(
                "({}/{}) Rotate \"{}\"{}?",
                review.asked,
                review.total,
                r.name(),
                self.label
                    .as_ref()
                    .map_or(String::new(), |l| format!(" at {l}"))
            );
            match ask(review.approver, &question, ui) {
                Answer::Yes | Answer::All => self.write(&r, review, interrupted, ui).await,
                answer => self.refused(&r, answer, review, interrupted),
            }
        }
    }

    /// Write one approved rule (asking again if it changed since it was shown).
    async fn write(&self, r: &Rewrite, review: &mut Review<'_>, interrupted: &AtomicBool, ui: &Ui) {
        let approver = &mut *review.approver;
        let reapprove = |changed: &Rewrite| self.reapprove(changed, approver, ui);
        let outcome = self.writer.rotate(r, self.rotation, reapprove).await;
        // Quit or Ctrl-C when asked again stops the run as at the first question.
        match outcome.kind {
            Kind::NotAttempted { why: Stop::Quit } => review.stop = Some(Stop::Quit),
            Kind::NotAttempted {
                why: Stop::Interrupted,
            } => interrupted.store(true, Ordering::SeqCst),
            _ => ui.status(report::outcome_line(&outcome)),
        }
        review.outcomes.push(outcome);
    }

    /// A rule not approved: declined (journalled), or not attempted because the admin quit
    /// or pressed Ctrl-C, either of which stops the run.
    fn refused(
        &self,
        r: &Rewrite,
        answer: Answer,
        review: &mut Review<'_>,
        interrupted: &AtomicBool,
    ) {
        let outcome = match answer {
            Answer::Quit => {
                review.stop = Some(Stop::Quit);
                not_attempted(r, Stop::Quit)
            }
            Answer::Interrupted => {
                interrupted.store(true, Ordering::SeqCst);
                not_attempted(r, Stop::Interrupted)
            }
            _ => self
                .writer
                .record(Outcome::new(r.uuid(), r.name(), Kind::Declined)),
        };
        review.outcomes.push(outcome);
    }

    async fn write_all(
        &self,
        rewrites: Vec<Rewrite>,
        interrupted: &AtomicBool,
        ui: &Ui,
    ) -> Vec<Outcome> {
        let bar = ui.progress(rewrites.len() as u64, "Writing rules");
        let outcomes = futures_util::stream::iter(rewrites)
            .map(|r| {
                let bar = &bar;
                async move {
                    if let Some(why) = self.halted(interrupted) {
                        return not_attempted(&r, why);
                    }
                    let shown = |changed: &Rewrite| {
                        bar.suspend(|| {
                            ui.status(format!(
                                "\"{}\" changed since it was read; writing this rebuilt rewrite instead:",
                                changed.name()
                            ));
                            self.diffs.show(changed, ui);
                        });
                        Ok(true)
                    };
                    let outcome = self.writer.rotate(&r, self.rotation, shown).await;
                    bar.inc(1);
                    outcome
                }
            })
            .buffer_unordered(self.concurrency)
            .collect::<Vec<_>>()
            .await;
        bar.finish_and_clear();
        outcomes
    }

    fn reapprove(&self, changed: &Rewrite, approver: &mut Approver, ui: &Ui) -> Result<bool, Stop> {
        ui.status(format!(
            "\"{}\" changed since it was shown (someone edited it). The rewrite was rebuilt on its current version:",
            changed.name()
        ));
        self.diffs.show(changed, ui);
        let question = format!("Rotate the current \"{}\"?", changed.name());
        match ask(approver, &question, ui) {
            Answer::Yes | Answer::All => Ok(true),
            Answer::No => Ok(false),
            Answer::Quit => Err(Stop::Quit),
            Answer::Interrupted => Err(Stop::Interrupted),
        }
    }

    /// After every write of the run, read each rotated rule once more: one that another
    /// writer overwrote since its own read-back is reported (needs attention), never
    /// counted as rotated.
    async fn final_check(
        &self,
        outcomes: Vec<Outcome>,
        old: &BTreeSet<Fingerprint>,
        ui: &Ui,
    ) -> Vec<Outcome> {
        let rotated = |o: &Outcome| matches!(o.kind, Kind::Rotated { .. });
        let count = outcomes.iter().filter(|o| rotated(o)).count();
        let bar = ui.progress(count as u64, "Checking the rotated rules once more");
        let checked = futures_util::stream::iter(outcomes)
            .map(|o| {
                let bar = &bar;
                async move {
                    if !rotated(&o) || self.writer.login_refused() {
                        return o;
                    }
                    bar.inc(1);
                    let (selector, new_token) = (self.rotation.selector, self.rotation.new_token);
                    let drift = match self.writer.read(o.uuid()).await {
                        Ok(rule) => plan::final_check(&rule, selector, new_token, old).err(),
                        Err(e) => Some(Drift::Unreadable {
                            error: e.to_string(),
                        }),
                    };
                    match drift {
                        None => o,
                        Some(drift) => {
                            let why = Attention::FinalCheck { drift };
                            self.writer.record(Outcome::new(
                                o.uuid,
                                o.name,
                                Kind::Attention { why },
                            ))
                        }
                    }
                }
            })
            .buffered(self.concurrency)
            .collect::<Vec<_>>()
            .await;
        bar.finish_and_clear();
        checked
    }
}

/// An interactive review under way: who approves, why it stopped (quit), what became of
/// each rule so far, and how many rules were asked about (or passed) of how many.
struct Review<'a> {
    approver: &'a mut Approver,
    stop: Option<Stop>,
    outcomes: Vec<Outcome>,
    asked: usize,
    total: usize,
}

/// Ask, turning a prompt that cannot be shown into a quit (said as a warning): nothing is
/// written without a yes.
pub(super) fn ask(approver: &mut Approver, question: &str, ui: &Ui) -> Answer {
    approver.ask(question).unwrap_or_else(|e| {
        ui.warn(e.render().trim_end());
        Answer::Quit
    })
}

fn not_attempted(r: &Rewrite, why: Stop) -> Outcome {
    Outcome::new(r.uuid(), r.name(), Kind::NotAttempted { why })
}

/// Set on the first Ctrl-C (stop starting new rules); a second one exits at once (1). From
/// here to the end of the process, Ctrl-C is this session's (`interrupt::take_over`).
fn interrupt_flag(ui: Ui) -> Arc<AtomicBool> {
    let flag = Arc::new(AtomicBool::new(false));
    let setter = Arc::clone(&flag);
    // Listening before taking over: no Ctrl-C falls between the two.
    let listener = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt());
    let Ok(mut ctrl_c) = listener else {
        return flag;
    };
    super::interrupt::take_over();
    tokio::spawn(async move {
        if ctrl_c.recv().await.is_some() {
            setter.store(true, Ordering::SeqCst);
            ui.warn("interrupted: finishing the rules in flight, then stopping (Ctrl-C again to stop at once)");
            if ctrl_c.recv().await.is_some() {
                // "Stop at once": the writes in flight are not waited for.
                let error = CommandError::failure("stopped at once").hint(IN_FLIGHT);
                super::interrupt::exit_now(&ui, error, 1);
            }
        }
    });
    flag
}

/// What a second Ctrl-C leaves.
const IN_FLIGHT: &str = "a rule being written may or may not have been; `autorekey backups` \
    lists this run as interrupted; run the same command again: it re-reads every rule and \
    does only what is left";
