//! `autorekey apply PLAN.json`: carry out a plan saved by `rotate --out`, exactly.
//!
//! The plan holds no secret, so the new token is given again, and must be the one the plan
//! was made for (same fingerprint). The plan carries a hash of its own content: a plan
//! edited after it was saved is refused before anything is read or written. Every rule of
//! the site is read again, as `rotate` reads them, so the verdict weighs the same rules
//! (masked ones, rules added since the plan) and both commands give the same advice. A
//! planned rule unchanged gets exactly the planned rewrite; changed since the plan, the
//! rewrite is rebuilt on its current content, limited to the planned places and old tokens
//! (anything else leaves the rule alone, with the reason), and shown before it is approved;
//! already holding the new token (a rerun), it is done.

use std::path::Path;

use crate::cli::ApplyArgs;
use crate::confirm::Approver;
use crate::error::{CommandError, CommandResult, ErrorKind};
use crate::fetch::AutomationClient;
use crate::files::{self, Links};
use crate::plan::{PlanFile, PlanFileError, Planner};
use crate::settings::{SiteOptions, SiteSettings};
use crate::ui::Ui;

use super::ownership::{self, Confirmation, Given};
use super::rotation;
use super::session::Writes;

pub async fn run(options: &SiteOptions, args: &ApplyArgs, ui: &Ui) -> CommandResult {
    // A plan is one site's: several sites are refused before the plan is read.
    options.one_target()?;
    let plan = read_plan(&args.plan)?;
    let mut approver = Approver::new(args.write_args.yes, ui, "apply")?;
    rotation::check_backup_root(&args.write_args)?;
    let settings = SiteSettings::resolve(options, ui)?;
    if !same_site(&plan.site, settings.site.as_str()) {
        return Err(CommandError::usage(format!(
            "the plan is for {}, but the site is {}",
            plan.site, settings.site
        ))
        .hint("apply a plan against the site it was made for"));
    }
    let new_token = rotation::read_new_token(&args.new_token, ui)?;
    if new_token.fingerprint() != plan.new_fingerprint {
        return Err(CommandError::usage(format!(
            "the new token (fingerprint {}) is not the one the plan was made for ({}); nothing was written",
            new_token.fingerprint(),
            plan.new_fingerprint
        ))
        .hint(format!(
            "give the token whose fingerprint is {} (check with `autorekey fingerprint`), or make a new plan with `autorekey rotate --out`",
            plan.new_fingerprint
        )));
    }
    let old_token = ownership::read_old_token(&args.new_token, ui)?;
    let client = settings.connect(ui).await?;
    let _lock = rotation::lock_site(&client, "apply", ui)?;
    check_url_rewrite(&client, &plan).await?;
    let login = rotation::check_new_token(&client, &plan.selector, &new_token, ui).await?;
    // The whole site is read again, not only the planned rules: the verdict must weigh
    // every rule that may still hold the old token (masked, left alone, added since the
    // plan), exactly as `rotate` does.
    let planner = Planner::new(&plan.selector, &new_token).following(&plan);
    let mut read = rotation::read_site(&client, planner, ui).await?;
    // The plan's confirmations are checked again: a login may have expired since, and a
    // plan from before confirmations records none.
    let given = Given {
        old_token,
        recorded: &plan.confirmed,
    };
    let owned = Confirmation::on_site(&client, &login, &plan.selector, &new_token, given)
        .run(&mut read.plan, Some(&mut approver), ui)
        .await?;
    for rebuilt in read.plan.rewrites.iter().filter(|r| r.rebuilt) {
        ui.status(format!(
            "\"{}\" changed since the plan was made; its rewrite was rebuilt on the current version.",
            rebuilt.name()
        ));
    }
    let mut summary = rotation::summary_of(&plan.selector, &new_token, &read.plan, read.listed);
    // Complete only if both the plan's listing and this one were confirmed.
    summary.list_complete = plan.list_complete && read.list_complete;
    summary.product = Some(settings.product.clone());
    let selector = owned.into_summary(&mut summary);
    let writes = Writes {
        client: &client,
        settings: &settings,
        selector: &selector,
        new_token: &new_token,
        args: &args.write_args,
    };
    writes
        .run(
            read.plan.rewrites,
            approver,
            summary,
            read.plan.outcomes,
            ui,
        )
        .await
}

/// A plan's `--rewrite-urls` decides where every migrated rule sends its credential from
/// now on: it must name this site, Atlassian's gateway, this site's cloud id and product,
/// whatever the plan file says (its hash proves it unedited, not who made it).
async fn check_url_rewrite(client: &AutomationClient, plan: &PlanFile) -> CommandResult {
    let Some(urls) = plan.selector.migrate.as_ref().and_then(|m| m.urls.as_ref()) else {
        return Ok(());
    };
    let cloud_id = client.cloud_id().await.map_err(|e| {
        CommandError::from(e)
            .context("cannot find the site's cloud id to check the plan's URL rewrite")
    })?;
    match urls.mismatch(client.site(), client.gateway(), &cloud_id, client.product()) {
        None => Ok(()),
        Some(why) => Err(CommandError::usage(format!(
            "the plan's URL rewrite does not fit this site: {why}; nothing was written"
        ))
        .hint("make a new plan against this site with `autorekey rotate --rewrite-urls --out`")),
    }
}

fn read_plan(path: &Path) -> CommandResult<PlanFile> {
    let text = files::read_text_capped(path, files::PLAN_FILE_CAP, Links::Follow).map_err(|e| {
        let shapes = "pass the plan file that `autorekey rotate --out` wrote";
        CommandError::input_file(
            format!("cannot read the plan {}", path.display()),
            e,
            shapes,
        )
    })?;
    PlanFile::from_sealed_json(&text).map_err(|e| {
        let hint = match e {
            PlanFileError::Changed => {
                "nothing was written; a plan applies where the fingerprint key it was made with \
                 is used (the same team key, or this machine's), as it was saved. Make a new one \
                 with `autorekey rotate --out` rather than editing it"
            }
            PlanFileError::Unsealed | PlanFileError::Inconsistent(_) => {
                "nothing was written; a plan must be applied as it was saved. Make a new one \
                 with `autorekey rotate --out` (and review its diffs) rather than editing it"
            }
            PlanFileError::Version(_) | PlanFileError::NotAPlan(_) => {
                "make the plan again with `autorekey rotate --out`"
            }
        };
        CommandError::caused(
            ErrorKind::Usage,
            format!("{} cannot be applied", path.display()),
            e,
        )
        .hint(hint)
    })
}

fn same_site(a: &str, b: &str) -> bool {
    let origin = |s: &str| {
        url::Url::parse(s)
            .map(|u| u.origin().ascii_serialization())
            .ok()
    };
    origin(a).is_some() && origin(a) == origin(b)
}
