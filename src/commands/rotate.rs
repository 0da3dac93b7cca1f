//! `autorekey rotate`: rewrite every embedded credential of an account with its new token.
//!
//! The command strings the stages together: read the new token and check it against
//! `/myself` before anything else (a wrong token written into every rule breaks every
//! integration at once); read and plan every rule; then, unless this is a dry run or a
//! saved plan, confirm and write rule by rule ([`super::session`]), and end with the
//! summary and the verdict (`crate::verdict`). A writing run holds the site's lock and
//! carries on an unfinished run of the same rotation (`crate::rotation_store`). `--from-file` is the
//! offline rotation of an export ([`super::rotate_file`]).

use std::path::Path;

use crate::cli::RotateArgs;
use crate::confirm::Approver;
use crate::error::{CommandError, CommandResult, ErrorKind};
use crate::fetch::AutomationClient;
use crate::gateway::UrlRewrite;
use crate::plan::ownership::Confirmed;
use crate::plan::{Migration, PlanFile, Planner, Rewrite, Selector, PLAN_VERSION};
use crate::report::RotationSummary;
use crate::secret::Token;
use crate::settings::{SiteOptions, SiteSettings};
use crate::ui::Ui;
use crate::verdict;

use super::ownership::{self, Confirmation, Given};
use super::rotation::{self, Diffs, SiteRead};
use super::session::Writes;

pub async fn run(options: &SiteOptions, args: &RotateArgs, ui: &Ui) -> CommandResult {
    let mut selector = rotation::selector(&args.account, &args.fingerprint)?;
    if let Some(source) = &args.from_file {
        return offline(source, selector, args, ui).await;
    }
    if options.targets()?.len() > 1 {
        return super::rotate_sites::run(options, args, selector, ui).await;
    }
    if let Some(out) = args.out.as_deref().filter(|p| p.symlink_metadata().is_ok()) {
        // Said before any request: the plan would be refused at the end anyway.
        return Err(
            CommandError::usage(format!("{} already exists", out.display()))
                .hint("a plan never replaces a file: remove it or choose another --out path"),
        );
    }
    let writes = !args.dry_run && args.out.is_none();
    let mut approver = writes
        .then(|| Approver::new(args.write_args.yes, ui, "rotate"))
        .transpose()?;
    if writes {
        rotation::check_backup_root(&args.write_args)?;
    }
    let settings = SiteSettings::resolve(options, ui)?;
    let client = settings.connect(ui).await?;
    let _lock = writes
        .then(|| rotation::lock_site(&client, "rotate", ui))
        .transpose()?;
    let new_token = rotation::read_new_token(&args.new_token, ui)?;
    let old_token = ownership::read_old_token(&args.new_token, ui)?;
    let target = migration_target(args)?;
    if target.is_some() || args.rewrite_urls {
        let to_account = target.unwrap_or_else(|| selector.account.clone());
        selector.migrate = Some(migration(&client, to_account, args.rewrite_urls).await?);
    }
    let login = rotation::check_new_token(&client, &selector, &new_token, ui).await?;
    let mut read = rotation::read_site(&client, Planner::new(&selector, &new_token), ui).await?;
    let known = refuse_bad_selection(&read, &settings, &selector, &new_token, args)?;
    let given = Given {
        old_token,
        recorded: &[],
    };
    let owned = Confirmation::on_site(&client, &login, &selector, &new_token, given)
        .run(&mut read.plan, approver.as_mut(), ui)
        .await?;
    let confirmed = owned.confirmed.len();
    verdict::check_new_in_use(&read.plan.census, &selector, &new_token, known, confirmed)
        .map_err(rotation::refused)?;
    let mut summary = rotation::summary_of(&selector, &new_token, &read.plan, read.listed);
    summary.list_complete = read.list_complete;
    summary.product = Some(settings.product.clone());
    let selector = owned.into_summary(&mut summary);
    if login.gateway_only && selector.migrate.as_ref().is_none_or(|m| m.urls.is_none()) {
        warn_site_calls(&read.plan.rewrites, client.site(), ui);
    }
    let preview = Preview {
        settings: &settings,
        selector: &selector,
        new_token: &new_token,
        args,
    };
    match approver {
        None => preview.show(read, summary, ui),
        Some(approver) => {
            let writes = Writes {
                client: &client,
                settings: &settings,
                selector: &selector,
                new_token: &new_token,
                args: &args.write_args,
            };
            let plan = read.plan;
            (writes.run(plan.rewrites, approver, summary, plan.outcomes, ui)).await
        }
    }
}

/// Refuse (exit 2) an `--account` or `--fingerprint` that matches nothing, or a "new"
/// token already in the rules that no run of this rotation put there. Says whether an
/// earlier run of this rotation is known here (its backups).
fn refuse_bad_selection(
    read: &SiteRead,
    settings: &SiteSettings,
    selector: &Selector,
    new_token: &Token,
    args: &RotateArgs,
) -> CommandResult<bool> {
    let manifest = rotation::manifest(settings, selector, new_token);
    let known = rotation::backup_root(&args.write_args)
        .is_some_and(|root| !crate::rotation_store::previous_runs(&root, &manifest).is_empty());
    verdict::check_selection(&read.plan.census, selector, new_token, known)
        .map_err(rotation::refused)?;
    Ok(known)
}

/// `--from-file`: the offline rotation of an export, with the same selection (a migration
/// moves the credentials' account only: there is no site to take a cloud id from).
async fn offline(
    source: &Path,
    mut selector: Selector,
    args: &RotateArgs,
    ui: &Ui,
) -> CommandResult {
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
    super::rotate_file::run(source, &selector, args, ui).await
}

/// A rotation that writes nothing to the site: a dry run, or a plan saved for `apply`.
struct Preview<'a> {
    settings: &'a SiteSettings,
    selector: &'a Selector,
    new_token: &'a Token,
    args: &'a RotateArgs,
}

impl Preview<'_> {
    /// Show every diff, save the plan if asked, and end with the summary.
    fn show(&self, read: SiteRead, mut summary: RotationSummary, ui: &Ui) -> CommandResult {
        let format = self.args.write_args.format;
        let plan = read.plan;
        Diffs { format }.show_all(&plan.rewrites, ui);
        summary.would_rotate = plan.rewrites.iter().map(|r| r.uuid().to_string()).collect();
        match &self.args.out {
            Some(path) => {
                self.save_plan(path, &plan.rewrites, read.list_complete, &summary.confirmed)?;
                summary.plan_saved = Some(path.display().to_string());
            }
            None => summary.dry_run = true,
        }
        summary.add(plan.outcomes);
        rotation::finish(&summary, None, format, ui)
    }

    fn save_plan(
        &self,
        path: &Path,
        rewrites: &[Rewrite],
        list_complete: bool,
        confirmed: &[Confirmed],
    ) -> CommandResult {
        let (settings, selector, new_token) = (self.settings, self.selector, self.new_token);
        let plan = PlanFile {
            version: PLAN_VERSION,
            site: settings.site.to_string(),
            product: settings.product.clone(),
            selector: selector.clone(),
            new_fingerprint: new_token.fingerprint(),
            created_at: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            rules: rewrites.iter().map(Rewrite::planned_rule).collect(),
            list_complete,
            confirmed: confirmed.to_vec(),
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
}

/// The `--to-account` email, checked to differ from `--account`.
pub(super) fn migration_target(args: &RotateArgs) -> CommandResult<Option<String>> {
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
pub(super) async fn migration(
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

/// A token that works only through the gateway breaks every rule that sends it to the
/// site's own address: say how many, and how to move their URLs too.
pub(super) fn warn_site_calls(rewrites: &[Rewrite], site: &url::Url, ui: &Ui) {
    let origin = site.origin();
    let calls_site = |url: &str| {
        url.trim_start().starts_with("{{baseUrl}}")
            || url::Url::parse(url.trim()).is_ok_and(|u| u.origin() == origin)
    };
    let n = rewrites
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
             and service-account tokens do, but {} it to {site}: the site will \
             refuse it there. Add --rewrite-urls to move their URLs to the gateway form",
            crate::report::count(n, "rule sends", "rules send")
        ));
    }
}
