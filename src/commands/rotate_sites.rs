//! `autorekey rotate` across several sites and products (`--site A --site B`,
//! `--sites-file`, `--product all`): one run, one plan, one journal, one verdict.
//!
//! The stages are the one-site rotation's ([`super::rotate`]), run per target and held
//! together so that nothing is written anywhere until every target passed the checks that
//! can refuse a run:
//!
//! 1. every target is connected and, for a writing run, every tenant's lock is taken, in a
//!    fixed order ([`super::sites::lock_all`]): a lock refused anywhere writes nothing;
//! 2. the new token is read once and logged in with on every site: a site refusing it
//!    stops the run before any write anywhere;
//! 3. every target is read and planned, and each old value is confirmed on its own site by
//!    the unchanged rules of [`super::ownership`] (one approver, one failed-login budget
//!    for the account across every site: Atlassian counts them per account);
//! 4. one review (a change the same on several sites is one question naming them) and the
//!    writes, each rule through its own site's client ([`super::session::write_targets`]),
//!    into ONE backup directory and journal whose entries name their site and product
//!    (`restore DIR` puts each rule back on its site);
//! 5. one summary: each target's counts, and one verdict over all of them
//!    ([`crate::report::SitesSummary`]).
//!
//! A saved plan (`--out`) describes one site and product; for several it is refused with
//! a hint, as is `apply` of them (see `settings`).

use crate::backup::Manifest;
use crate::cli::RotateArgs;
use crate::confirm::Approver;
use crate::error::{CommandError, CommandResult};
use crate::plan::{Planner, Selector};
use crate::report::{RotationSummary, SitesSummary};
use crate::rotation_store::RunStore;
use crate::secret::Token;
use crate::settings::{SiteOptions, SiteSettings};
use crate::ui::Ui;
use crate::verdict;

use super::ownership::{self, Confirmation, Given};
use super::rotation::{self, Diffs, NewTokenLogin, SiteRead};
use super::session::{write_targets, TargetWrite};
use super::sites::{self, Connected};

pub async fn run(
    options: &SiteOptions,
    args: &RotateArgs,
    selector: Selector,
    ui: &Ui,
) -> CommandResult {
    if args.out.is_some() {
        return Err(CommandError::usage(
            "a saved plan (--out) covers one site and product, and several were given",
        )
        .hint(
            "review the whole rotation with --dry-run, then run it without --out (it asks \
             before each write); or save one plan per site with --site URL --product jira|confluence",
        ));
    }
    let writes = !args.dry_run;
    let mut approver = writes
        .then(|| Approver::new(args.write_args.yes, ui, "rotate"))
        .transpose()?;
    if writes {
        rotation::check_backup_root(&args.write_args)?;
    }
    let connected = sites::connect_all(SiteSettings::resolve_all(options, ui)?, ui).await?;
    sites::refuse_same_tenant(&connected)?;
    let _locks = writes
        .then(|| sites::lock_all(&connected, "rotate", ui))
        .transpose()?;
    let new_token = rotation::read_new_token(&args.new_token, ui)?;
    let targets = Targets {
        old_token: ownership::read_old_token(&args.new_token, ui)?,
        connected: &connected,
        new_token: &new_token,
        args,
        ui,
    };
    let checked = targets.check_everywhere(&selector).await?;
    let reads = targets.read_everywhere(&checked).await?;
    let manifest = manifest(&connected, &selector, &new_token);
    let known = rotation::backup_root(&args.write_args)
        .is_some_and(|root| !crate::rotation_store::previous_runs(&root, &manifest).is_empty());
    check_selection(&reads, &checked, &new_token, known)?;
    let parts = targets
        .confirm_everywhere(checked, reads, known, approver.as_mut())
        .await?;
    match approver {
        None => targets.dry_run(parts),
        Some(approver) => targets.write(parts, manifest, approver).await,
    }
}

/// What every stage of the run shares: the targets (locked for a writing run), the two
/// tokens and the flags.
struct Targets<'a> {
    connected: &'a [Connected],
    new_token: &'a Token,
    old_token: Option<Token>,
    args: &'a RotateArgs,
    ui: &'a Ui,
}

impl<'a> Targets<'a> {
    /// Each target's selector (a migration's URL rewrite names that site's cloud id) and the
    /// new token's login there: every site must take it before anything is read or written.
    async fn check_everywhere(
        &self,
        selector: &Selector,
    ) -> CommandResult<Vec<(Selector, NewTokenLogin)>> {
        let args = self.args;
        let to_account = super::rotate::migration_target(args)?;
        let mut checked = Vec::new();
        for t in self.connected {
            let mut selector = selector.clone();
            if to_account.is_some() || args.rewrite_urls {
                let to = to_account
                    .clone()
                    .unwrap_or_else(|| selector.account.clone());
                selector.migrate =
                    Some(super::rotate::migration(&t.client, to, args.rewrite_urls).await?);
            }
            let login = rotation::check_new_token(&t.client, &selector, self.new_token, self.ui)
                .await
                .map_err(|e| {
                    e.context(format!(
                        "checking the new token at {}; nothing was written on any site",
                        t.label()
                    ))
                })?;
            checked.push((selector, login));
        }
        Ok(checked)
    }

    /// Every target's rules, read and planned with its own selector.
    async fn read_everywhere(
        &self,
        checked: &[(Selector, NewTokenLogin)],
    ) -> CommandResult<Vec<SiteRead>> {
        let mut reads = Vec::new();
        for (t, (selector, _)) in self.connected.iter().zip(checked) {
            let planner = Planner::new(selector, self.new_token);
            reads.push(rotation::read_site(&t.client, planner, self.ui).await?);
        }
        Ok(reads)
    }

    /// Each target's old values confirmed on its own site (one approver, and one budget of
    /// failed logins for the account across every site), the new token checked in use
    /// there, and what is left to write: nothing is written until every target passed.
    async fn confirm_everywhere(
        &self,
        checked: Vec<(Selector, NewTokenLogin)>,
        reads: Vec<SiteRead>,
        known: bool,
        mut approver: Option<&mut Approver>,
    ) -> CommandResult<Vec<TargetWrite<'a>>> {
        let new_token = self.new_token;
        let mut failed_logins = 0;
        let mut parts = Vec::new();
        let each = self.connected.iter().zip(checked).zip(reads);
        for ((t, (selector, mut login)), mut read) in each {
            login.failed_logins += failed_logins;
            let given = Given {
                old_token: self.old_token.clone(),
                recorded: &[],
            };
            let owned = Confirmation::on_site(&t.client, &login, &selector, new_token, given)
                .at(t.label())
                .run(&mut read.plan, approver.as_deref_mut(), self.ui)
                .await?;
            failed_logins = owned.failed_logins;
            let confirmed = owned.confirmed.len();
            verdict::check_new_in_use(&read.plan.census, &selector, new_token, known, confirmed)
                .map_err(|r| {
                    rotation::refused(r).context(format!(
                        "the rules at {}; nothing was written on any site",
                        t.label()
                    ))
                })?;
            let mut summary = rotation::summary_of(&selector, new_token, &read.plan, read.listed);
            summary.list_complete = read.list_complete;
            let selector = owned.into_summary(&mut summary);
            if login.gateway_only && selector.migrate.as_ref().is_none_or(|m| m.urls.is_none()) {
                super::rotate::warn_site_calls(&read.plan.rewrites, t.client.site(), self.ui);
            }
            parts.push(TargetWrite {
                target: t,
                selector,
                rewrites: read.plan.rewrites,
                summary,
                outcomes: read.plan.outcomes,
            });
        }
        Ok(parts)
    }

    /// A dry run: each target's diffs and summary, then the one verdict.
    fn dry_run(&self, parts: Vec<TargetWrite<'_>>) -> CommandResult {
        let format = self.args.write_args.format;
        let summaries = parts
            .into_iter()
            .map(|p| preview(p, format, self.ui))
            .collect();
        rotation::finish_sites(&SitesSummary::new(summaries), None, format, self.ui)
    }

    /// The review and the writes of every target, into one backup directory and journal
    /// (an unfinished run of the same rotation carried on), then the one verdict.
    async fn write(
        &self,
        parts: Vec<TargetWrite<'_>>,
        manifest: Manifest,
        approver: Approver,
    ) -> CommandResult {
        let args = &self.args.write_args;
        let root = rotation::check_backup_root(args)?;
        let store = RunStore::resume_or_new(&root, manifest)
            .map_err(|e| rotation::unsafe_backup_root(&root, &e))?;
        let labels: Vec<_> = parts.iter().map(|p| p.target.target.clone()).collect();
        let summaries =
            write_targets(parts, &store, self.new_token, args, approver, self.ui).await?;
        let summary = SitesSummary::new(labels.into_iter().zip(summaries).collect());
        rotation::finish_sites(&summary, Some(&store), args.format, self.ui)
    }
}

/// Refuse (exit 2) a selection that matches nothing on any target (a target holding none
/// of the account's credentials is simply clean), or one refused for a reason that does
/// not depend on the site (the first target's refusal is said).
fn check_selection(
    reads: &[SiteRead],
    checked: &[(Selector, NewTokenLogin)],
    new_token: &Token,
    known: bool,
) -> CommandResult {
    let refusals: Vec<_> = reads
        .iter()
        .zip(checked)
        .filter_map(|(read, (selector, _))| {
            verdict::check_selection(&read.plan.census, selector, new_token, known).err()
        })
        .collect();
    match refusals.len() == reads.len() {
        true => Err(rotation::refused(
            refusals.into_iter().next().expect("one per target"),
        )),
        false => Ok(()),
    }
}

/// A dry run of one target: its diffs (under a line naming it) and its summary.
fn preview(
    part: TargetWrite<'_>,
    format: crate::cli::ReportFormat,
    ui: &Ui,
) -> (crate::backup::TargetRef, RotationSummary) {
    let mut summary = part.summary;
    let diffs = Diffs { format };
    if !part.rewrites.is_empty() {
        diffs.line(&format!("At {}:", part.target.label()), ui);
    }
    diffs.show_all(&part.rewrites, ui);
    summary.would_rotate = part.rewrites.iter().map(|r| r.uuid().to_string()).collect();
    summary.dry_run = true;
    summary.add(part.outcomes);
    (part.target.target.clone(), summary)
}

/// What the run's one backup directory is about: the first target's site and product (so a
/// reader that knows only those finds a run with nothing in its own `rules/`), and every
/// target.
fn manifest(targets: &[Connected], selector: &Selector, new_token: &Token) -> Manifest {
    Manifest {
        targets: targets.iter().map(|t| t.target.clone()).collect(),
        ..rotation::manifest(&targets[0].settings, selector, new_token)
    }
}
