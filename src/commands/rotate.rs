//! `autorekey rotate`: rewrite every embedded credential of an account with its new token.
//!
//! The command strings the stages together: read the new token and check it against
//! `/myself` before anything else (a wrong token written into every rule breaks every
//! integration at once); fetch and plan every rule; then, unless this is a dry run or a
//! saved plan, confirm and apply rule by rule with backups and a journal, read every rotated
//! rule once more after the last write, and end with the summary and the verdict
//! (`crate::verdict`). A writing run holds the site's lock and carries on an unfinished run
//! of the same rotation (`crate::run`). `apply` (a saved plan) and the offline export
//! rewrite share the pieces below.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use futures_util::StreamExt;

use crate::apply::{self, Census, Outcome, Prepared, Writer};
use crate::backup::{self, Manifest};
use crate::cli::{GlobalArgs, NewTokenArgs, RotateArgs, WriteArgs};
use crate::confirm::{Answer, Approver};
use crate::error::{CommandError, CommandResult, ErrorKind};
use crate::fetch::{AutomationClient, CheckAt, CredentialCheck};
use crate::gateway::UrlRewrite;
use crate::plan::{self, Migration, PlanFile, PlannedRule, Selector, PLAN_VERSION};
use crate::report::{self, RotationSummary};
use crate::run::{self, RunStore, SiteLock};
use crate::secret::{Credential, Fingerprint, Token};
use crate::settings::SiteSettings;
use crate::token_input::{read_token, TokenSource, NEW_TOKEN_ENV};
use crate::ui::Ui;
use crate::verdict;

pub async fn run(global: &GlobalArgs, args: &RotateArgs, ui: &Ui) -> CommandResult {
    let mut selector = selector(&args.account, &args.fingerprint)?;
    if let Some(source) = &args.from_file {
        let target = args
            .write
            .as_deref()
            .expect("clap requires --write with --from-file");
        if args.rewrite_urls {
            return Err(CommandError::usage(
                "--rewrite-urls needs the site (its cloud id), not --from-file",
            )
            .hint("run the migration against the site, or drop --rewrite-urls"));
        }
        selector.migrate = migration_target(args)?.map(|to_account| Migration {
            to_account,
            urls: None,
        });
        return super::rotate_file::run(source, target, &selector, args, ui);
    }
    if let Some(out) = args.out.as_deref().filter(|p| p.symlink_metadata().is_ok()) {
        // Said before any request: the plan would be refused at the end anyway.
        return Err(
            CommandError::usage(format!("{} already exists", out.display()))
                .hint("a plan never replaces a file: remove it or choose another --out path"),
        );
    }
    let writes = !args.dry_run && args.out.is_none();
    let approver = if writes {
        Some(Approver::new(args.write_args.yes, ui, "rotate")?)
    } else {
        None
    };
    let settings = SiteSettings::resolve(global, ui)?;
    let _lock = match writes {
        true => Some(lock_site(&settings, "rotate", ui)?),
        false => None,
    };
    let new_token = read_new_token(&args.new_token, ui)?;
    let client = settings.connect(ui).await?;
    let target = migration_target(args)?;
    if target.is_some() || args.rewrite_urls {
        let to_account = target.unwrap_or_else(|| selector.account.clone());
        selector.migrate = Some(migration(&client, to_account, args.rewrite_urls).await?);
    }
    let gateway_only = check_new_token(&client, &selector, &new_token, ui).await?;
    let Gathered {
        prepared,
        outcomes,
        listed,
        census,
        list_complete,
        ..
    } = gather(&client, &selector, &new_token, ui).await?;
    if gateway_only && selector.migrate.as_ref().is_none_or(|m| m.urls.is_none()) {
        warn_site_calls(&prepared, client.site(), ui);
    }
    let manifest = manifest(&settings, &selector, &new_token);
    let known = backup_root(&args.write_args)
        .is_some_and(|root| !run::previous_runs(&root, &manifest).is_empty());
    verdict::check_selection(&census, &selector, &new_token, known)?;
    let mut summary = RotationSummary::new(&selector, &new_token, listed);
    summary.list_complete = list_complete;
    summary.note_old(&prepared);
    summary.note_census(&census);
    if let Some(path) = &args.out {
        show_diffs(&prepared, ui);
        save_plan(
            path,
            &settings,
            &selector,
            &new_token,
            &prepared,
            summary.list_complete,
        )?;
        summary.plan_saved = Some(path.display().to_string());
        summary.would_rotate = prepared.iter().map(|p| p.uuid.clone()).collect();
        return finish(summary, outcomes, ui);
    }
    let Some(approver) = approver else {
        show_diffs(&prepared, ui);
        summary.dry_run = true;
        summary.would_rotate = prepared.iter().map(|p| p.uuid.clone()).collect();
        return finish(summary, outcomes, ui);
    };
    let writes = Writes {
        client: &client,
        settings: &settings,
        selector: &selector,
        new_token: &new_token,
        args: &args.write_args,
    };
    writes.run(prepared, approver, summary, outcomes, ui).await
}

/// Everything a writing run needs besides the rules themselves.
pub struct Writes<'a> {
    pub client: &'a AutomationClient,
    pub settings: &'a SiteSettings,
    pub selector: &'a Selector,
    pub new_token: &'a Token,
    pub args: &'a WriteArgs,
}

impl Writes<'_> {
    /// Confirm and write `prepared` with backups and a journal, carrying on an unfinished
    /// run of the same rotation (no backup directory at all until a rule is backed up),
    /// check every rotated rule once more, then print the summary and return the status.
    pub async fn run(
        &self,
        prepared: Vec<Prepared>,
        approver: Approver,
        mut summary: RotationSummary,
        mut outcomes: Vec<Outcome>,
        ui: &Ui,
    ) -> CommandResult {
        let store = self.store(!prepared.is_empty())?;
        // Every old token the rotation replaces or replaced, by identity: the final check
        // looks for each in any form.
        let mut old: std::collections::BTreeSet<Fingerprint> = prepared
            .iter()
            .flat_map(|p| p.findings.iter().filter_map(plan::token_identity))
            .collect();
        if let Some(dir) = store.resumed() {
            ui.status(format!(
                "Carrying on the unfinished rotation backed up in {}",
                dir.display()
            ));
            let earlier = store.earlier_old_tokens(self.selector, self.new_token);
            old.extend(earlier.iter().map(|(identity, _)| identity.clone()));
            summary.note_earlier(earlier);
        }
        if !prepared.is_empty() {
            let session = Session::start(self.client, self.selector, self.new_token, &store);
            let concurrency = self.settings.concurrency;
            let written = session
                .approve_and_write(prepared, approver, concurrency, ui)
                .await;
            outcomes.extend(session.final_check(written, &old, concurrency, ui).await);
        }
        summary.backup_dir = store.dir().map(|d| d.display().to_string());
        finish_run(summary, outcomes, Some(&store), ui)
    }

    /// The rotation's backups: an unfinished earlier run's, or a new one made on the first
    /// backup. When rules are to be written, the folder must be able to hold secrets
    /// (checked now, so nothing is written without a backup restore will accept).
    fn store(&self, will_write: bool) -> CommandResult<RunStore> {
        let root = backup_root(self.args).ok_or_else(|| {
            CommandError::usage("there is no home or data folder to keep the backups in")
                .hint("nothing was written; pass --backup-dir DIR (a folder only you can write)")
        })?;
        let unsafe_root = |e: &dyn std::fmt::Display| {
            CommandError::failure(format!("cannot keep backups under {}: {e}", root.display()))
                .hint(
                    "nothing was written; backups hold tokens, so their folder (and every folder \
                     above it) must be yours alone: `chmod go-w` it, or pass --backup-dir DIR",
                )
        };
        if let Some(existing) = root.ancestors().find(|d| d.exists()).filter(|_| will_write) {
            crate::files::check_private_dir(existing).map_err(|e| unsafe_root(&e))?;
        }
        let manifest = manifest(self.settings, self.selector, self.new_token);
        RunStore::resume_or_new(&root, manifest).map_err(|e| unsafe_root(&e))
    }
}

/// Where this run's backups go; `None` with neither `--backup-dir` nor a home or data
/// folder (there is no shared fallback such as /tmp for files holding tokens).
fn backup_root(args: &WriteArgs) -> Option<std::path::PathBuf> {
    args.backup_dir.clone().or_else(backup::default_root)
}

/// What a rotation's backup directory is about.
fn manifest(settings: &SiteSettings, selector: &Selector, new_token: &Token) -> Manifest {
    Manifest {
        site: settings.site.to_string(),
        product: settings.product.clone(),
        account: selector.account.clone(),
        new_fingerprint: new_token.fingerprint().to_string(),
        started_at: backup::now_rfc3339(),
        tool: format!("autorekey {}", env!("CARGO_PKG_VERSION")),
    }
}

/// The site's lock for a writing command; a stale one is taken over with a warning.
pub fn lock_site(settings: &SiteSettings, command: &str, ui: &Ui) -> CommandResult<SiteLock> {
    SiteLock::acquire(&settings.site, command, |note| ui.warn(note))
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

/// The `--to-account` email, checked to differ from `--account`.
fn migration_target(args: &RotateArgs) -> CommandResult<Option<String>> {
    let Some(to) = args.to_account.as_deref().map(str::trim) else {
        return Ok(None);
    };
    if to.is_empty() || !to.contains('@') {
        return Err(CommandError::usage("--to-account must be an email")
            .hint("for a service account: NAME@serviceaccount.atlassian.com"));
    }
    if to.eq_ignore_ascii_case(args.account.trim()) {
        return Err(
            CommandError::usage("--to-account is the same account as --account")
                .hint("leave out --to-account to rotate an account's own token"),
        );
    }
    Ok(Some(to.to_owned()))
}

/// The migration to `to_account`; with `rewrite_urls`, the site's gateway address (its
/// cloud id comes from `/_edge/tenant_info`, no credential sent).
async fn migration(
    client: &AutomationClient,
    to_account: String,
    rewrite_urls: bool,
) -> CommandResult<Migration> {
    let urls = if rewrite_urls {
        let cloud_id = client.cloud_id().await.map_err(|e| {
            CommandError::from(e).context("cannot find the site's cloud id for --rewrite-urls")
        })?;
        Some(UrlRewrite {
            site: client.site().origin().ascii_serialization(),
            gateway: client.gateway().origin().ascii_serialization(),
            product: client.product().to_owned(),
            cloud_id,
        })
    } else {
        None
    };
    Ok(Migration { to_account, urls })
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

/// The new token must log in as `account` (the rotated account, or the one a migration
/// moves to) before it is written anywhere: on the site, or through the gateway as a
/// scoped or service-account token must. Each form is asked at most once: repeated failed
/// logins would lock the account behind a CAPTCHA. True when only the gateway took it.
pub async fn check_new_token(
    client: &AutomationClient,
    selector: &Selector,
    token: &Token,
    ui: &Ui,
) -> CommandResult<bool> {
    let account = selector.new_owner();
    let credential = Credential::new(account, token.clone());
    let site = client.site().clone();
    let nothing = "nothing was written";
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
                "the new token logs in as {e}, not as {account}; {nothing}"
            ))
            .hint(format!("issue the new token while logged in as {account}")))
        }
        // Without an email nothing says whose token it is: writing it could hand every
        // rule to another account.
        CredentialCheck::Live { email: None, .. } => Err(CommandError::usage(format!(
            "{at} did not say which account the new token logs in as (its answer has no \
             email); {nothing}"
        ))
        .hint(format!(
            "make the email of {account} visible (Atlassian profile > Manage your account \
             > Profile and visibility > Contact: Anyone), then rerun"
        ))),
        CredentialCheck::Live { .. } => {
            ui.status(format!(
                "The new token ({}) logs in as {account} at {at}.",
                token.fingerprint()
            ));
            Ok(gateway_only)
        }
        // Live, but for the same reason as above nothing says whose it is.
        CredentialCheck::LiveScopeLimited { .. } => Err(CommandError::usage(format!(
            "the new token is live at {at}, but its scopes lack read:me, so nothing says \
             which account it belongs to; {nothing}"
        ))
        .hint(format!(
            "issue {account}'s scoped token with the read:me scope (for Jira: read:jira-user) \
             as well, then rerun"
        ))),
        CredentialCheck::Dead { reason } => Err(CommandError::usage(format!(
            "the new token was refused ({reason}); {nothing}"
        ))
        .hint(format!(
            "check that --account {account} is right, that the whole token was copied, and \
             that it was issued for that account; \
             do not retry in a loop: failed logins can lock the account behind a CAPTCHA"
        ))),
        CredentialCheck::Unknown { reason } => Err(CommandError::failure(format!(
            "could not check the new token ({reason}); {nothing}"
        ))
        .hint("rerun when the site answers; rerunning is safe")),
    }
}

/// A token that works only through the gateway breaks every rule that sends it to the
/// site's own address: say how many, and how to move their URLs too.
fn warn_site_calls(prepared: &[Prepared], site: &url::Url, ui: &Ui) {
    let origin = site.origin();
    let calls_site = |url: &str| {
        url.trim_start().starts_with("{{baseUrl}}")
            || url::Url::parse(url.trim()).is_ok_and(|u| u.origin() == origin)
    };
    let n = prepared
        .iter()
        .filter(|p| {
            p.findings
                .iter()
                .any(|f| f.target_url.as_deref().is_some_and(calls_site))
        })
        .count();
    if n > 0 {
        ui.warn(format!(
            "the new token works only through the gateway (api.atlassian.com/ex/...), as scoped \
             and service-account tokens do, but {n} rule(s) send it to {site}: the site will \
             refuse it there. Add --rewrite-urls to move their URLs to the gateway form"
        ));
    }
}

/// Every rule read and decided: the rewrites (with their envelopes, needed to show and
/// write them), the outcomes of the others, and what the census of all rules showed.
pub struct Gathered {
    pub prepared: Vec<Prepared>,
    pub outcomes: Vec<Outcome>,
    pub listed: usize,
    /// Whether the site's two listings agreed (see `ReadStats::list_complete`).
    pub list_complete: bool,
    pub census: Census,
    /// Every rule uuid listed, read or not.
    pub seen: std::collections::HashSet<String>,
}

/// Read every rule and decide what to do with each.
pub async fn gather(
    client: &AutomationClient,
    selector: &Selector,
    new_token: &Token,
    ui: &Ui,
) -> CommandResult<Gathered> {
    ui.status(format!("Reading rules at {}", client.site()));
    // Rules are read while the list is still paging: the bar grows with the listing.
    let bar = ui.progress(0, "Reading rules");
    let mut prepared = Vec::new();
    let mut outcomes = Vec::new();
    let mut census = Census::default();
    let mut seen = std::collections::HashSet::new();
    let stats = client
        .read_all_rules(|read| {
            bar.set_length(read.listed as u64);
            seen.insert(read.summary.uuid.clone());
            if let Ok(envelope) = &read.result {
                census.note(&envelope["rule"], selector);
            }
            match read
                .result
                .map(|env| apply::prepare(env, selector, new_token))
            {
                Ok(Ok(Some(p))) => prepared.push(p),
                Ok(Ok(None)) => {}
                Ok(Err(outcome)) => outcomes.push(outcome),
                Err(e) => outcomes.push(Outcome::Failed {
                    name: read.summary.name,
                    uuid: read.summary.uuid,
                    reason: format!("could not read it: {e}"),
                }),
            }
            bar.inc(1);
        })
        .await;
    bar.finish_and_clear();
    let stats = stats?;
    if let Some(warning) = stats.listing.warning() {
        ui.warn(warning);
    }
    let dropped = census.flag(&prepared, &mut outcomes);
    prepared.retain(|p| !dropped.contains(&p.uuid));
    prepared.sort_by(|a, b| (&a.name, &a.uuid).cmp(&(&b.name, &b.uuid)));
    Ok(Gathered {
        prepared,
        outcomes,
        listed: stats.listed,
        list_complete: stats.list_complete(),
        census,
        seen,
    })
}

pub fn show_diffs(prepared: &[Prepared], ui: &Ui) {
    for p in prepared {
        show_diff(p, ui);
    }
}

fn show_diff(p: &Prepared, ui: &Ui) {
    let heading = format!("Rule \"{}\" ({})", p.name, p.uuid);
    ui.out(ui.bold(&crate::printable::printable(&heading)));
    ui.out_raw(ui.diff(&p.diff()));
    ui.out("");
}

fn save_plan(
    path: &std::path::Path,
    settings: &SiteSettings,
    selector: &Selector,
    new_token: &Token,
    prepared: &[Prepared],
    list_complete: bool,
) -> CommandResult {
    let plan = PlanFile {
        version: PLAN_VERSION,
        site: settings.site.to_string(),
        product: settings.product.clone(),
        selector: selector.clone(),
        new_fingerprint: new_token.fingerprint(),
        created_at: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        rules: prepared
            .iter()
            .map(|p| PlannedRule {
                uuid: p.uuid.clone(),
                name: p.name.clone(),
                rule_hash: p.rule_hash(),
                changes: plan::planned_changes(&p.findings),
            })
            .collect(),
        list_complete,
    };
    // Whole or not at all, never over an existing file or through a planted link.
    crate::files::write_new(path, plan.to_sealed_json().as_bytes()).map_err(|e| {
        let exists = e.kind() == std::io::ErrorKind::AlreadyExists;
        let err = CommandError::caused(
            ErrorKind::Failure,
            format!("cannot write {}", path.display()),
            e,
        );
        match exists {
            true => err.hint("nothing was written; remove it or choose another --out path"),
            false => err,
        }
    })
}

/// Where one run's writes go: the client, and the rotation's backups and journal.
pub struct Session<'a> {
    pub client: &'a AutomationClient,
    pub selector: Selector,
    pub new_token: Token,
    pub store: &'a RunStore,
    /// Set by the writer when the site refuses the admin's login: nothing more is started.
    auth_failed: AtomicBool,
}

impl<'a> Session<'a> {
    pub fn start(
        client: &'a AutomationClient,
        selector: &Selector,
        new_token: &Token,
        store: &'a RunStore,
    ) -> Session<'a> {
        Session {
            client,
            selector: selector.clone(),
            new_token: new_token.clone(),
            store,
            auth_failed: AtomicBool::new(false),
        }
    }

    /// After every write of the run, read each rotated rule once more: one that another
    /// writer overwrote since its own read-back is reported (needs attention), never
    /// counted as rotated.
    pub async fn final_check(
        &self,
        outcomes: Vec<Outcome>,
        old: &std::collections::BTreeSet<Fingerprint>,
        concurrency: usize,
        ui: &Ui,
    ) -> Vec<Outcome> {
        let writer = self.writer();
        let rotated = outcomes
            .iter()
            .filter(|o| matches!(o, Outcome::Rotated { .. }))
            .count();
        let bar = ui.progress(rotated as u64, "Checking the rotated rules once more");
        let checked = futures_util::stream::iter(outcomes)
            .map(|o| {
                let (writer, bar) = (&writer, &bar);
                async move {
                    if !matches!(o, Outcome::Rotated { .. }) || self.halted_by_auth() {
                        return o;
                    }
                    bar.inc(1);
                    let problem = match self.client.get_rule(o.uuid()).await {
                        Ok(env) => {
                            apply::still_rotated(&env["rule"], &self.selector, &self.new_token, old)
                                .err()
                        }
                        Err(e) => Some(format!("it could not be read for the final check: {e}")),
                    };
                    match problem {
                        None => o,
                        Some(why) => writer.record(Outcome::Attention {
                            uuid: o.uuid().to_string(),
                            name: o.name().to_string(),
                            detail: format!(
                                "rotated and read back, but the final check at the end of the run \
                                 found: {why} (another writer may have saved an older copy over it); \
                                 look at the rule, then run the same command again"
                            ),
                        }),
                    }
                }
            })
            .buffered(concurrency.max(1))
            .collect::<Vec<_>>()
            .await;
        bar.finish_and_clear();
        checked
    }

    fn halted_by_auth(&self) -> bool {
        self.auth_failed.load(Ordering::SeqCst)
    }

    /// Why no further rule may be started, if one may not.
    fn halted(&self, stop: &AtomicBool) -> Option<&'static str> {
        if self.auth_failed.load(Ordering::SeqCst) {
            Some(AUTH_FAILED)
        } else if stop.load(Ordering::SeqCst) {
            Some("interrupted")
        } else {
            None
        }
    }

    fn writer(&self) -> Writer<'_> {
        Writer {
            client: self.client,
            store: self.store,
            selector: &self.selector,
            new_token: &self.new_token,
            auth_failed: &self.auth_failed,
        }
    }

    /// Confirm and write each rule. On a terminal, rule by rule (each written as soon as it
    /// is approved); with `--yes`, every diff first, then the writes, `concurrency` at a
    /// time. Ctrl-C stops starting new rules; the ones in flight finish and are journalled.
    pub async fn approve_and_write(
        &self,
        prepared: Vec<Prepared>,
        mut approver: Approver,
        concurrency: usize,
        ui: &Ui,
    ) -> Vec<Outcome> {
        let stop = interrupt_flag(ui.clone());
        if !approver.is_interactive() {
            show_diffs(&prepared, ui);
            return self.write_all(prepared, concurrency, &stop, ui).await;
        }
        let writer = self.writer();
        let mut outcomes = Vec::new();
        let total = prepared.len();
        let mut pending = prepared.into_iter().enumerate();
        while let Some((i, p)) = pending.next() {
            if let Some(why) = self.halted(&stop) {
                outcomes.push(not_attempted(&p, why));
                continue;
            }
            show_diff(&p, ui);
            let question = format!("({}/{total}) Rotate \"{}\"?", i + 1, p.name);
            let answer = match approver.ask(&question) {
                Ok(a) => a,
                Err(e) => {
                    ui.warn(e.render().trim_end());
                    Answer::Quit
                }
            };
            match answer {
                Answer::Yes | Answer::All => {
                    let outcome = writer
                        .write(&p, |changed| reapprove(changed, &mut approver, ui))
                        .await;
                    ui.status(report::outcome_line(&outcome));
                    outcomes.push(outcome);
                }
                Answer::No => outcomes.push(writer.declined(&p)),
                Answer::Quit => {
                    outcomes.push(not_attempted(&p, "you quit"));
                    outcomes.extend(pending.by_ref().map(|(_, p)| not_attempted(&p, "you quit")));
                }
            }
        }
        outcomes
    }

    async fn write_all(
        &self,
        prepared: Vec<Prepared>,
        concurrency: usize,
        stop: &AtomicBool,
        ui: &Ui,
    ) -> Vec<Outcome> {
        let writer = self.writer();
        let bar = ui.progress(prepared.len() as u64, "Writing rules");
        let outcomes = futures_util::stream::iter(prepared)
            .map(|p| {
                let writer = &writer;
                let bar = &bar;
                async move {
                    if let Some(why) = self.halted(stop) {
                        return not_attempted(&p, why);
                    }
                    let outcome = writer.write(&p, |changed| {
                        bar.suspend(|| {
                            ui.status(format!("\"{}\" changed since it was read; writing this rebuilt rewrite instead:", changed.name));
                            show_diff(changed, ui);
                        });
                        true
                    })
                    .await;
                    bar.inc(1);
                    outcome
                }
            })
            .buffer_unordered(concurrency.max(1))
            .collect::<Vec<_>>()
            .await;
        bar.finish_and_clear();
        outcomes
    }
}

fn reapprove(changed: &Prepared, approver: &mut Approver, ui: &Ui) -> bool {
    ui.status(format!(
        "\"{}\" changed since it was shown (someone edited it). The rewrite was rebuilt on its current version:",
        changed.name
    ));
    show_diff(changed, ui);
    matches!(
        approver.ask(&format!("Rotate the current \"{}\"?", changed.name)),
        Ok(Answer::Yes | Answer::All)
    )
}

fn not_attempted(p: &Prepared, why: &str) -> Outcome {
    Outcome::NotAttempted {
        uuid: p.uuid.clone(),
        name: p.name.clone(),
        why: why.into(),
    }
}

const AUTH_FAILED: &str = "stopped: the site refused the admin's login (401) mid-run; \
     check the admin's token, then run the same command again";

/// Set on the first Ctrl-C (stop starting new rules); a second one exits at once.
fn interrupt_flag(ui: Ui) -> Arc<AtomicBool> {
    let flag = Arc::new(AtomicBool::new(false));
    let setter = Arc::clone(&flag);
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            setter.store(true, Ordering::SeqCst);
            ui.warn("interrupted: finishing the rules in flight, then stopping (Ctrl-C again to stop at once)");
            if tokio::signal::ctrl_c().await.is_ok() {
                std::process::exit(130);
            }
        }
    });
    flag
}

/// Print the summary and turn the outcomes into the exit status.
pub fn finish(summary: RotationSummary, outcomes: Vec<Outcome>, ui: &Ui) -> CommandResult {
    finish_run(summary, outcomes, None, ui)
}

/// [`finish`] for a run that wrote to a site: when the verdict is to revoke, the rotation
/// is marked finished in its journal, so a later run starts a new backup directory.
pub fn finish_run(
    mut summary: RotationSummary,
    outcomes: Vec<Outcome>,
    store: Option<&RunStore>,
    ui: &Ui,
) -> CommandResult {
    summary.add(outcomes);
    ui.out_raw(report::render_rotation(&summary));
    if let Some(store) = store.filter(|_| summary.advice().revokes()) {
        if let Err(e) = store.finish() {
            ui.warn(format!(
                "could not mark the rotation finished in its journal: {e}"
            ));
        }
    }
    summary.exit()
}
