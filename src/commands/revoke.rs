//! `autorekey revoke`: revoke one API token through the organization admin API, only once a
//! fresh scan proves no rule can still need it.
//!
//! Revoking cannot be undone and breaks every integration still using the token, so the
//! proof comes first and is as strict as what autorekey can see: every rule of the site is
//! read again now (not trusted from an earlier run); any literal credential of the account
//! other than the token to keep (`--keep`, the new one's fingerprint), any masked value that
//! might be one, or any rule that cannot be read stops it, each listed with why (exit 3).
//! The org API never shows a token's value, so a token is known by its account and id.

use crate::cli::{GlobalArgs, RevokeArgs};
use crate::confirm::{Answer, Approver};
use crate::detect::{self, Location, Status};
use crate::error::{CommandError, CommandResult};
use crate::fetch::org::OrgToken;
use crate::fetch::AutomationClient;
use crate::printable::printable;
use crate::secret::Fingerprint;
use crate::settings::{OrgSettings, SiteSettings};
use crate::ui::Ui;

pub async fn run(global: &GlobalArgs, args: &RevokeArgs, ui: &Ui) -> CommandResult {
    let account = args.account.trim();
    let keep = match args.keep.as_deref() {
        Some(fp) => Some(Fingerprint::parse_prefix(fp).ok_or_else(|| {
            CommandError::usage("--keep is not hexadecimal")
                .hint("use the 12-digit fingerprint that `autorekey scan` shows")
        })?),
        None => None,
    };
    let mut approver = Approver::new(args.yes, ui, "revoke")?;
    let settings = SiteSettings::resolve(global, ui)?;
    let client = settings.connect(ui).await?;
    let org = OrgSettings::require(&args.org, Some(client.gateway()), ui)?;
    let org_client = org.client()?;
    let tokens = org_client
        .list_tokens()
        .await
        .map_err(|e| CommandError::from(e).context("cannot read the organization's API tokens"))?;
    let token = the_token(&tokens, account, &args.token_id)?;
    let account_id = token.account_id().map(str::to_owned).ok_or_else(|| {
        CommandError::failure("the organization lists that token without its user's account id")
            .hint("revoke it at admin.atlassian.com instead")
    })?;

    let blockers = still_used(&client, account, keep.as_deref(), ui).await?;
    if !blockers.is_empty() {
        for b in &blockers {
            ui.out(format!("  - {b}"));
        }
        return Err(CommandError::partial(format!(
            "not revoked: {} place(s) above may still need a token of {account}",
            blockers.len()
        ))
        .hint(format!(
            "rotate them first (`autorekey rotate --account {account}`), or check masked ones in the Automation UI; then run this again"
        )));
    }
    ui.status(format!(
        "A fresh scan of every rule found no credential of {account} other than the one kept."
    ));
    let question = format!(
        "Revoke API token \"{}\" ({}) of {account}? This cannot be undone",
        printable(&token.label),
        printable(&token.id)
    );
    if !matches!(approver.ask(&question)?, Answer::Yes | Answer::All) {
        ui.out("Nothing was revoked.");
        return Ok(());
    }
    org_client
        .revoke(&account_id, &token.id)
        .await
        .map_err(|e| {
            CommandError::from(e).context(format!("could not revoke token {}", token.id))
        })?;
    ui.out(format!(
        "Revoked API token \"{}\" ({}) of {account}.",
        printable(&token.label),
        printable(&token.id)
    ));
    Ok(())
}

/// The org's token with this id, which must belong to `account`.
fn the_token<'a>(tokens: &'a [OrgToken], account: &str, id: &str) -> CommandResult<&'a OrgToken> {
    let token = tokens.iter().find(|t| t.id == id.trim()).ok_or_else(|| {
        CommandError::usage(format!("the organization has no API token with id {id}")).hint(
            format!("list them with `autorekey tokens --account {account}`"),
        )
    })?;
    match token.email() {
        Some(e) if e.eq_ignore_ascii_case(account) => Ok(token),
        other => Err(CommandError::usage(format!(
            "token {id} belongs to {}, not to {account}; nothing was revoked",
            printable(other.unwrap_or("an account without an email"))
        ))
        .hint("check --account and --token-id")),
    }
}

/// A rule list the site's two listings disagreed on may miss a rule that uses the token.
fn stats_warning(stats: &crate::fetch::ReadStats) -> Option<String> {
    stats
        .listing
        .warning()
        .map(|w| format!("the rule list could not be confirmed complete: {w}"))
}

/// Every place a rule may still need a token of `account` other than `keep`, from a fresh
/// read of every rule. An error reading the rule list stops the command.
async fn still_used(
    client: &AutomationClient,
    account: &str,
    keep: Option<&str>,
    ui: &Ui,
) -> CommandResult<Vec<String>> {
    ui.status(format!(
        "Reading every rule at {} to prove nothing still uses it",
        client.site()
    ));
    let mut blockers = Vec::new();
    let stats = client
        .read_all_rules(|read| {
            let rule = match read.result {
                Ok(envelope) => envelope["rule"].clone(),
                Err(e) => {
                    blockers.push(format!(
                        "\"{}\" ({}): could not be read ({e})",
                        printable(&read.summary.name),
                        printable(&read.summary.uuid)
                    ));
                    return;
                }
            };
            let name = rule["name"].as_str().unwrap_or("").to_owned();
            let uuid = crate::export::rule_uuid(&rule);
            for f in detect::detect(&rule) {
                let ours = f
                    .user
                    .as_deref()
                    .is_some_and(|u| u.eq_ignore_ascii_case(account));
                let kept = f
                    .fingerprint()
                    .is_some_and(|fp| keep.is_some_and(|k| fp.matches_prefix(k)));
                // A raw Atlassian token names no account: it may be this one.
                let unnamed_atlassian = f.user.is_none()
                    && f.token
                        .as_ref()
                        .is_some_and(|t| detect::looks_like_atlassian_token(t.expose()));
                let why = match f.status {
                    Status::Literal if ours && !kept => {
                        format!("holds {} at {}", f.redacted_value(), f.component_path)
                    }
                    Status::Literal if unnamed_atlassian && !kept => format!(
                        "a raw Atlassian token {} at {} may be a token of {account}",
                        f.redacted_value(),
                        f.component_path
                    ),
                    Status::Masked if f.location != Location::WebhookToken => format!(
                        "a masked value at {} may be a token of {account}",
                        f.component_path
                    ),
                    _ => continue,
                };
                blockers.push(format!(
                    "\"{}\" ({}): {why}",
                    printable(&name),
                    printable(&uuid)
                ));
            }
        })
        .await
        .map_err(|e| {
            CommandError::from(e).context("could not read every rule; nothing was revoked")
        })?;
    if let Some(warning) = stats_warning(&stats) {
        blockers.push(warning);
    }
    Ok(blockers)
}
