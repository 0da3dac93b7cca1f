//! What `rotate`, `apply` and the offline export rotation share: the new token's checks,
//! reading a site into a [`Plan`], showing diffs, and ending with the summary, the verdict
//! and the exit status.
//!
//! One copy of each, so the commands cannot drift apart: they differ only in where the
//! rules come from (a site, a saved plan, a file) and where the rewrites go (the site
//! through [`super::session`], a plan file, an export). The exit status of a rotation is
//! decided here, from typed outcomes, and nowhere else.

use crate::backup::Manifest;
use crate::cli::{NewTokenArgs, ReportFormat, WriteArgs};
use crate::confirm::{Answer, Approver, GroupAnswer};
use crate::error::{CommandError, CommandResult, ErrorKind};
use crate::fetch::{AutomationClient, CheckAt, CredentialCheck, MYSELF_SCOPES};
use crate::outcome::{Failure, Kind, Outcome};
use crate::plan::review::Group;
use crate::plan::{Plan, Planner, Rewrite, Selector};
use crate::printable::printable;
use crate::report::{self, RotationSummary};
use crate::rotation_store::RunStore;
use crate::secret::{Credential, Fingerprint, Token};
use crate::settings::SiteSettings;
use crate::site_lock::{LockError, LockKey, SiteLock};
use crate::token_input::{read_token, TokenSource, NEW_TOKEN_ENV};
use crate::ui::Ui;
use crate::verdict::{Advice, Refusal};

use super::interrupt::OnExit;

/// The site's lock for a writing command, keyed on the Automation tenant the client
/// writes to (product + cloud id), so no other spelling of the site's address gets a lock
/// of its own. A lock not taken is a failure (exit 1) naming who holds it: nothing was
/// written.
pub fn lock_site(
    client: &AutomationClient,
    command: &str,
    ui: &Ui,
) -> CommandResult<OnExit<SiteLock>> {
    let site = client.site();
    let key = lock_key(client);
    ui.verbose(format!("Taking the lock of {site} for `{command}`"));
    // Its file goes on Ctrl-C too, as when the lock is dropped (see `interrupt`).
    let held = |lock: SiteLock| {
        let path = lock.path().to_path_buf();
        OnExit::new(lock, &path)
    };
    SiteLock::acquire(&key, command)
        .map(held)
        .map_err(|e| match e {
            LockError::NoDataDir => {
                CommandError::usage("there is no home or data folder for the site's lock file")
                    .hint("nothing was written; set HOME (or XDG_DATA_HOME) to a folder of yours")
            }
            LockError::Io { path, error } => CommandError::caused(
                ErrorKind::Failure,
                format!("cannot take the lock file {}; {NOTHING}", path.display()),
                error,
            )
            .hint("check that the data directory is writable (XDG_DATA_HOME or HOME)"),
            LockError::Busy { path, holder } => {
                let who = holder.map_or(String::new(), |h| {
                    format!(
                        " (process {}, `{}`, started {})",
                        h.pid,
                        printable(&h.command),
                        printable(&h.started_at)
                    )
                });
                CommandError::failure(format!(
                    "another autorekey run is writing to {site}{who}; {NOTHING}"
                ))
                .hint(format!(
                    "wait for it to finish and run again (the lock is {}; the system releases it \
                 when that run ends, however it ends)",
                    path.display()
                ))
            }
        })
}

/// The tenant the client writes to: the cloud id its API base names (Atlassian's every
/// form does, whichever host reached it), else that base itself. No request is needed.
pub(super) fn lock_key(client: &AutomationClient) -> LockKey {
    let product = client.product();
    let base = client.api_base();
    base.path_segments()
        .and_then(|mut segs| {
            segs.position(|s| s == product)?;
            segs.next().map(str::to_owned)
        })
        .and_then(|id| LockKey::tenant(product, &id))
        .unwrap_or_else(|| LockKey::api_base(product, base))
}

pub fn selector(account: &str, fingerprints: &[String]) -> CommandResult<Selector> {
    let account = account.trim();
    if account.is_empty() {
        return Err(CommandError::usage("--account is empty"));
    }
    let fps = fingerprints
        .iter()
        .map(|f| {
            Fingerprint::parse_prefix(f).ok_or_else(|| {
                // The value is not echoed: a token pasted here by mistake must not be printed.
                CommandError::usage("a --fingerprint value is not a fingerprint")
                    .hint("use the fingerprint that `autorekey scan` shows: 12 hex digits, or `k:` and 12 hex digits")
            })
        })
        .collect::<CommandResult<Vec<_>>>()?;
    Ok(Selector::new(account, fps))
}

pub fn read_new_token(args: &NewTokenArgs, ui: &Ui) -> CommandResult<Token> {
    read_token(
        TokenSource {
            what: "new API token",
            file: args.new_token_file.as_deref(),
            env: NEW_TOKEN_ENV,
            file_flag: "--new-token-file",
            confirm: true,
        },
        ui,
    )
}

/// A run refused before anything is written is a usage error (exit 2).
pub fn refused(refusal: Refusal) -> CommandError {
    let error = CommandError::usage(refusal.message);
    refusal.hints.into_iter().fold(error, CommandError::hint)
}

/// The new token must log in as the account the credentials go to before it is written
/// anywhere: on the site, or through the gateway as a scoped or service-account token must.
/// Each form is asked at most once: repeated failed logins would lock the account behind a
/// CAPTCHA. Says whether only the gateway took it, and whose account it logs in as (an old
/// value that logs in as the same account id is the account's token).
pub async fn check_new_token(
    client: &AutomationClient,
    selector: &Selector,
    token: &Token,
    ui: &Ui,
) -> CommandResult<NewTokenLogin> {
    let account = selector.new_owner();
    let credential = Credential::new(account, token.clone());
    let site = client.site().clone();
    let verified = client
        .verify(&CheckAt::Site(site.clone()), &credential)
        .await;
    let at = verified
        .url
        .as_ref()
        .map_or(site.to_string(), crate::fetch::policy::display_url);
    let gateway_only = verified.check.is_live()
        && verified
            .url
            .as_ref()
            .is_some_and(|u| crate::gateway::cloud_id(u).is_some());
    match verified.check {
        CredentialCheck::Live { email: Some(e), .. } if !e.eq_ignore_ascii_case(account) => {
            Err(CommandError::usage(format!(
                "the new token logs in as {e}, not as {account}; {NOTHING}"
            ))
            .hint(format!("issue the new token while logged in as {account}")))
        }
        CredentialCheck::Live {
            email: Some(_),
            account_id,
        } => {
            ui.status(format!(
                "The new token ({}) logs in as {account} at {at}.",
                token.fingerprint()
            ));
            // A scoped token of a person is refused by the site before the gateway takes
            // it: one failed login already, counted against the run's budget.
            let site_refused = gateway_only && !crate::fetch::is_service_account(account);
            Ok(NewTokenLogin {
                gateway_only,
                account_id,
                failed_logins: usize::from(site_refused),
            })
        }
        other => Err(new_token_refused(other, account, &at)),
    }
}

/// What the new token's login showed.
pub struct NewTokenLogin {
    /// Only the gateway took it (a scoped or service-account token).
    pub gateway_only: bool,
    /// The account id it logs in as.
    pub account_id: String,
    /// Logins of the account it failed on the way (the site refusing a scoped token).
    pub failed_logins: usize,
}

const NOTHING: &str = "nothing was written";

/// Why the new token cannot be written: nothing says whose it is, or it did not log in.
fn new_token_refused(check: CredentialCheck, account: &str, at: &str) -> CommandError {
    match check {
        // Without an email nothing says whose token it is: writing it could hand every
        // rule to another account.
        CredentialCheck::Live { .. } => CommandError::usage(format!(
            "{at} did not say which account the new token logs in as (its answer has no \
             email); {NOTHING}"
        ))
        .hint(format!(
            "make the email of {account} visible (Atlassian profile > Manage your account \
             > Profile and visibility > Contact: Anyone), then rerun"
        )),
        // Live, but for the same reason as above nothing says whose it is.
        CredentialCheck::LiveScopeLimited { .. } => CommandError::usage(format!(
            "the new token is live at {at}, but its scopes do not cover reading the current \
             user, so nothing says which account it belongs to; {NOTHING}"
        ))
        .hint(format!(
            "issue {account}'s scoped token with the scopes Jira's /myself needs as well, \
             {MYSELF_SCOPES}, then rerun"
        )),
        CredentialCheck::Dead { reason } => CommandError::usage(format!(
            "the new token was refused ({reason}); {NOTHING}"
        ))
        .hint(format!(
            "check that --account {account} is right, that the whole token was copied, and \
             that it was issued for that account; \
             do not retry in a loop: failed logins can lock the account behind a CAPTCHA"
        )),
        CredentialCheck::Unknown { reason } => CommandError::failure(format!(
            "could not check the new token ({reason}); {NOTHING}"
        ))
        .hint("rerun when the site answers; rerunning is safe"),
    }
}

/// A site read into a plan.
pub struct SiteRead {
    pub plan: Plan,
    pub listed: usize,
    /// Whether the site's two listings agreed (see `ReadStats::list_complete`).
    pub list_complete: bool,
}

/// Read every rule of the site into `planner` (rules are planned while the list is still
/// paging: the bar grows with the listing).
pub async fn read_site(
    client: &AutomationClient,
    mut planner: Planner<'_>,
    ui: &Ui,
) -> CommandResult<SiteRead> {
    ui.status(format!("Reading rules at {}", client.site()));
    let bar = ui.progress(0, "Reading rules");
    let stats = client
        .read_all_rules(|read| {
            bar.set_length(read.listed as u64);
            match read.result {
                Ok(rule) => planner.add(rule),
                Err(e) => {
                    planner.add_unreadable(read.summary.uuid, read.summary.name, e.to_string())
                }
            }
            bar.inc(1);
        })
        .await;
    bar.finish_and_clear();
    let stats = stats?;
    if let Some(warning) = stats.listing.warning() {
        ui.warn(warning);
    }
    if let Some(note) = stats.listing.note() {
        ui.verbose(note);
    }
    let mut plan = planner.finish();
    let clean = |text: &str| client.masker().clean(text);
    // An id is what a diff heading, the plan, the journal and the summary show, and the
    // server chose it: a rule whose id holds a token some rule carries is not rotated (the
    // old token is kept) and is reported under its masked id.
    let (hidden, shown): (Vec<_>, Vec<_>) = std::mem::take(&mut plan.rewrites)
        .into_iter()
        .partition(|r| clean(r.uuid()) != r.uuid());
    plan.rewrites = shown;
    plan.outcomes.extend(hidden.iter().map(|r| {
        let why = Failure::IdHoldsCredential;
        Outcome::new(r.uuid(), r.name(), Kind::Failed { why })
    }));
    // A read that failed before another rule was read may quote that rule's token: every
    // outcome is cleaned once every rule is in.
    for outcome in &mut plan.outcomes {
        outcome.clean(&clean);
    }
    Ok(SiteRead {
        plan,
        listed: stats.listed,
        list_complete: stats.list_complete(),
    })
}

/// The summary every rotation starts from: what the plan replaces and what the census saw.
pub fn summary_of(
    selector: &Selector,
    new_token: &Token,
    plan: &Plan,
    rules_read: usize,
) -> RotationSummary {
    let mut summary = RotationSummary::new(selector, new_token, rules_read);
    summary.note_plan(plan);
    summary
}

/// Where diffs go: stdout for people, stderr when stdout carries the JSON or Markdown summary.
#[derive(Clone, Copy)]
pub struct Diffs {
    pub format: ReportFormat,
}

impl Diffs {
    pub fn show_all(self, rewrites: &[Rewrite], ui: &Ui) {
        for r in rewrites {
            self.show(r, ui);
        }
    }

    /// One line where the diffs go (on stderr when stdout carries the JSON or Markdown
    /// summary): the heading above the diffs of one site and product (a run of several), or
    /// a rule of a group.
    pub fn line(self, text: &str, ui: &Ui) {
        let line = printable(text).into_owned();
        match self.format {
            ReportFormat::Text => ui.out(line),
            _ => ui.status(line),
        }
    }

    /// The rules of a group, one line each, where their diffs go.
    pub fn list(self, rewrites: &[Rewrite], ui: &Ui) {
        for r in rewrites {
            self.line(
                &format!("  - \"{}\"{}", r.name(), report::id_note(r.uuid())),
                ui,
            );
        }
    }

    pub fn show(self, r: &Rewrite, ui: &Ui) {
        // One line whatever the server put in the rule's id, on stdout or stderr alike.
        let heading = format!("Rule \"{}\"{}", r.name(), report::id_note(r.uuid()));
        let heading = printable(&heading);
        ui.show_diff(&heading, &r.diff(), self.format != ReportFormat::Text);
    }
}

/// Ask once about a group of rewrites that make the same change (the `first`th to the
/// last of `total` rules): the first one's diff is shown, the group's rules listed or all
/// their diffs shown on request, and the question asked again until it is decided.
/// `None`: review each rule on its own. A prompt that cannot be shown is "quit" (said as
/// a warning): nothing is written without a yes. With every rule approved already (`a`
/// answered earlier), every diff is shown, as `--yes` does.
pub fn ask_group(
    group: &Group,
    (first, total): (usize, usize),
    approver: &mut Approver,
    diffs: Diffs,
    ui: &Ui,
) -> Option<Answer> {
    let rules = &group.rewrites;
    let n = rules.len();
    if approver.is_interactive() {
        ui.status(format!(
            "The next {n} rules make the same change; the first of them:"
        ));
        diffs.show(&rules[0], ui);
    } else {
        diffs.show_all(rules, ui);
    }
    let last = first + n - 1;
    let question = format!(
        "({first}-{last}/{total}) Rotate {n} rules: {}?",
        group.label
    );
    loop {
        let answer = approver.ask_group(&question).unwrap_or_else(|e| {
            ui.warn(e.render().trim_end());
            GroupAnswer::Decide(Answer::Quit)
        });
        match answer {
            GroupAnswer::List => diffs.list(rules, ui),
            GroupAnswer::Diffs => diffs.show_all(rules, ui),
            GroupAnswer::Each => return None,
            GroupAnswer::Decide(answer) => return Some(answer),
        }
    }
}

/// What a rotation's backup directory is about.
pub fn manifest(settings: &SiteSettings, selector: &Selector, new_token: &Token) -> Manifest {
    Manifest {
        site: settings.site.to_string(),
        product: settings.product.clone(),
        account: selector.account.clone(),
        new_fingerprint: new_token.fingerprint().to_string(),
        started_at: crate::backup::command_started_at(),
        tool: format!("autorekey {}", env!("CARGO_PKG_VERSION")),
        targets: Vec::new(),
    }
}

/// Where this run's backups go; `None` with neither `--backup-dir` nor a home or data
/// folder (there is no shared fallback such as /tmp for files holding tokens).
pub fn backup_root(args: &WriteArgs) -> Option<std::path::PathBuf> {
    args.backup_dir.clone().or_else(crate::backup::default_root)
}

/// Where the backups of a writing run go, checked able to hold secrets: called before
/// anything is read (a folder that will be refused should be said at once, not after
/// every rule was read), and again when the backups are made.
pub fn check_backup_root(args: &WriteArgs) -> CommandResult<std::path::PathBuf> {
    let root = backup_root(args).ok_or_else(no_backup_root)?;
    if let Some(existing) = root.ancestors().find(|d| d.exists()) {
        crate::files::check_private_dir(existing).map_err(|e| match e.shared {
            true => {
                CommandError::usage(format!("cannot keep backups under {}: {e}", root.display()))
                    .hint(
                    "nothing was written; backups hold tokens, so they need a folder of your own: \
                 pass --backup-dir with a folder under your home (autorekey makes a missing \
                 one, private), or leave it out for the default",
                )
            }
            false => unsafe_backup_root(&root, &e),
        })?;
    }
    Ok(root)
}

/// No `--backup-dir` and no home or data folder.
pub fn no_backup_root() -> CommandError {
    CommandError::usage("there is no home or data folder to keep the backups in")
        .hint("nothing was written; pass --backup-dir DIR (a folder only you can write)")
}

/// The backup folder (or one above it) cannot hold secrets.
pub fn unsafe_backup_root(root: &std::path::Path, e: &dyn std::fmt::Display) -> CommandError {
    CommandError::failure(format!("cannot keep backups under {}: {e}", root.display())).hint(
        "nothing was written; backups hold tokens, so their folder (and every folder above it) \
         must be yours alone: `chmod go-w` it, or pass --backup-dir DIR",
    )
}

/// Print the summary (text, JSON or Markdown) and turn it into the exit status. For a run
/// that wrote to a site (`store`): its end is recorded in its journal (for `backups`); when
/// the verdict is to revoke, the rotation is marked finished, so a later run starts a new
/// backup directory.
pub fn finish(
    summary: &RotationSummary,
    store: Option<&RunStore>,
    format: ReportFormat,
    ui: &Ui,
) -> CommandResult {
    match format {
        ReportFormat::Text => ui.out_raw(report::render_rotation(summary)),
        ReportFormat::Json => ui.out_data(report::render_rotation_json(summary)),
        ReportFormat::Markdown => ui.out_raw(report::markdown::render_rotation(summary)),
    }
    record_end(summary, store, ui);
    status(summary)
}

/// [`finish`] for a rotation across several sites and products: each target's counts,
/// then the one summary and verdict of them all; the exit status is the merged
/// summary's, and a verdict held back names the site/product pairs that hold it.
pub fn finish_sites(
    summary: &report::SitesSummary,
    store: Option<&RunStore>,
    format: ReportFormat,
    ui: &Ui,
) -> CommandResult {
    match format {
        ReportFormat::Text => ui.out_raw(report::render_sites(summary)),
        ReportFormat::Json => ui.out_data(report::render_sites_json(summary)),
        ReportFormat::Markdown => ui.out_raw(report::render_sites_markdown(summary)),
    }
    record_end(&summary.merged, store, ui);
    status(&summary.merged).map_err(|e| match summary.blocking_text() {
        Some(pairs) => e.hint(format!("held back by: {}", printable(&pairs))),
        None => e,
    })
}

/// The run's end in its journal (for `backups`), when it wrote to a site.
fn record_end(summary: &RotationSummary, store: Option<&RunStore>, ui: &Ui) {
    let Some(store) = store else {
        return;
    };
    if let Err(e) = store.end(summary.not_attempted(), summary.advice().revokes()) {
        ui.warn(format!(
            "could not record the run's end in its journal: {e}"
        ));
    }
}

/// 0 when every rule was rotated (or, for a dry run or a saved plan, when it was shown);
/// 1 when stopped (Ctrl-C, a refused login); 3 when the verdict keeps the old token because
/// of something a person must look at (a rule left alone, failed, declined, not attempted
/// or to check; a credential that cannot be read; an incomplete rule list); 2 when nothing
/// matched.
pub fn status(s: &RotationSummary) -> CommandResult {
    let stopped = s.stopped();
    if s.login_refused && stopped == 0 {
        return Err(CommandError::failure(
            "stopped: the site refused the admin's login (401) mid-run",
        )
        .hint("check the admin's token, then run the same command again: it re-reads every rule and does only what is left"));
    }
    if stopped > 0 {
        return Err(CommandError::failure(format!(
            "stopped with {} not attempted",
            report::count(stopped, "rule", "rules")
        ))
        .hint("run the same command again: it re-reads every rule and does only what is left"));
    }
    // A dry run or a saved plan wrote nothing: it succeeded in showing what a rotation
    // would do, rules it would leave alone included (they are listed).
    if s.wrote_nothing_by_design() {
        return Ok(());
    }
    match s.advice() {
        Advice::StillInUse { rules } => Err(CommandError::partial(format!(
            "{} you: left alone, failed, declined, not attempted or to check (listed above)",
            report::count(rules, "rule still needs", "rules still need")
        ))),
        Advice::NotInspectable { rules } => Err(CommandError::partial(format!(
            "{} a credential autorekey cannot read; check them before revoking",
            report::count(rules, "rule sends", "rules send")
        ))),
        Advice::Unconfirmed { tokens } => Err(CommandError::partial(format!(
            "{} of {} {were} not confirmed as its token and {were} left alone (listed under \"Not confirmed\"); revoke nothing yet",
            report::count(tokens, "value", "values"),
            s.account,
            were = if tokens == 1 { "was" } else { "were" }
        ))),
        Advice::ListIncomplete => Err(CommandError::partial(
            "the rule list could not be confirmed complete: a rule the site did not list may still hold the old token",
        )),
        Advice::NothingMatched => Err(CommandError::usage(format!(
            "no rule holds a credential of {} that this run selects",
            s.account
        ))
        .hint("check --account and --fingerprint against what `autorekey scan` lists")),
        Advice::Revoke { .. }
        | Advice::NoOldTokenFound
        | Advice::NotWritten
        | Advice::NotImported
        | Advice::Restored => Ok(()),
    }
}

#[cfg(test)]
#[path = "rotation_snapshot_tests.rs"]
mod advice_snapshots;
