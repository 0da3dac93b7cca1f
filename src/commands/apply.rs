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

use std::collections::{HashMap, HashSet};
use std::path::Path;

use crate::apply::{self, Outcome, Prepared};
use crate::cli::{ApplyArgs, GlobalArgs};
use crate::confirm::Approver;
use crate::error::{CommandError, CommandResult, ErrorKind};
use crate::fetch::AutomationClient;
use crate::files::{self, Links};
use crate::plan::{PlanFile, PlanFileError, PlannedRule};
use crate::report::RotationSummary;
use crate::secret::Token;
use crate::settings::SiteSettings;
use crate::ui::Ui;

use super::rotate::{check_new_token, gather, lock_site, read_new_token, Gathered, Writes};

pub async fn run(global: &GlobalArgs, args: &ApplyArgs, ui: &Ui) -> CommandResult {
    let plan = read_plan(&args.plan)?;
    let approver = Approver::new(args.write_args.yes, ui, "apply")?;
    let settings = SiteSettings::resolve(global, ui)?;
    if !same_site(&plan.site, settings.site.as_str()) {
        return Err(CommandError::usage(format!(
            "the plan is for {}, but the site is {}",
            plan.site, settings.site
        ))
        .hint("apply a plan against the site it was made for"));
    }
    let _lock = lock_site(&settings, "apply", ui)?;
    let new_token = read_new_token(&args.new_token, ui)?;
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
    let client = settings.connect(ui).await?;
    check_url_rewrite(&client, &plan).await?;
    check_new_token(&client, &plan.selector, &new_token, ui).await?;
    // The whole site is read again, not only the planned rules: the verdict must weigh
    // every rule that may still hold the old token (masked, left alone, added since the
    // plan), exactly as `rotate` does.
    let gathered = gather(&client, &plan.selector, &new_token, ui).await?;
    let mut summary = RotationSummary::new(&plan.selector, &new_token, gathered.listed);
    // Complete only if both the plan's listing and this one were confirmed.
    summary.list_complete = plan.list_complete && gathered.list_complete;
    summary.note_census(&gathered.census);
    let (prepared, outcomes) = against_plan(&plan, gathered, &new_token, ui);
    summary.note_old(&prepared);
    let writes = Writes {
        client: &client,
        settings: &settings,
        selector: &plan.selector,
        new_token: &new_token,
        args: &args.write_args,
    };
    writes.run(prepared, approver, summary, outcomes, ui).await
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
        CommandError::caused(
            ErrorKind::Usage,
            format!("cannot read the plan {}", path.display()),
            e,
        )
        .hint("pass the plan file that `autorekey rotate --out` wrote")
    })?;
    PlanFile::from_sealed_json(&text).map_err(|e| {
        let hint = match e {
            PlanFileError::Changed | PlanFileError::Unsealed | PlanFileError::Inconsistent(_) => {
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

/// Hold what the site holds now against the plan: a planned rule gets exactly its planned
/// rewrite (rebuilt on its current content if it changed); a rule already holding the new
/// token is done ("already current", as on a rerun); a rule holding an old token that the
/// plan does not name is left alone and reported, never silently passed over.
fn against_plan(
    plan: &PlanFile,
    gathered: Gathered,
    new_token: &Token,
    ui: &Ui,
) -> (Vec<Prepared>, Vec<Outcome>) {
    let planned: HashMap<&str, &PlannedRule> =
        plan.rules.iter().map(|r| (r.uuid.as_str(), r)).collect();
    let mut outcomes = gathered.outcomes;
    let mut prepared = Vec::new();
    let decided: HashSet<String> = gathered
        .prepared
        .iter()
        .map(|p| p.uuid.clone())
        .chain(outcomes.iter().map(|o| o.uuid().to_string()))
        .collect();
    for p in gathered.prepared {
        let Some(rule) = planned.get(p.uuid.as_str()) else {
            outcomes.push(Outcome::LeftAlone {
                reason: format!(
                    "holds an old token of {} but is not in the plan (added or edited since): \
                     rotate it with `autorekey rotate`, or make a new plan",
                    plan.selector.account
                ),
                uuid: p.uuid,
                name: p.name,
            });
            continue;
        };
        let changed = p.rule_hash() != rule.rule_hash;
        match apply::prepare_planned(p.before, &plan.selector, &rule.changes, new_token) {
            Ok(Some(p)) => {
                if changed {
                    ui.status(format!(
                        "\"{}\" changed since the plan was made; its rewrite was rebuilt on the current version.",
                        p.name
                    ));
                }
                prepared.push(p);
            }
            Ok(None) => outcomes.push(edited_since(rule)),
            Err(outcome) => outcomes.push(outcome),
        }
    }
    for rule in &plan.rules {
        if !gathered.seen.contains(&rule.uuid) {
            outcomes.push(failed(
                rule,
                "it is no longer listed on the site (deleted?)".into(),
            ));
        } else if !decided.contains(&rule.uuid) {
            outcomes.push(edited_since(rule));
        }
    }
    (prepared, outcomes)
}

fn edited_since(planned: &PlannedRule) -> Outcome {
    Outcome::LeftAlone {
        uuid: planned.uuid.clone(),
        name: planned.name.clone(),
        reason: "no longer holds the planned credential (edited since the plan)".into(),
    }
}
fn failed(planned: &PlannedRule, reason: String) -> Outcome {
    Outcome::Failed {
        uuid: planned.uuid.clone(),
        name: planned.name.clone(),
        reason,
    }
}
