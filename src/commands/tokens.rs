//! `autorekey tokens`: an account's API tokens as the organization admin API lists them.
//!
//! Read-only and needs no site: only the org id and its admin key. It is how an admin finds
//! the id `autorekey revoke` takes, and which token expires first. Token values are never
//! available (Atlassian shows one only at creation), so nothing secret is printed.
//! Service accounts' tokens come from their own endpoint; when the key may not list them,
//! a service account's tokens are unknown, an error, never "no API token".

use std::fmt::Write as _;

use crate::cli::{GlobalArgs, ListFormat, TokensArgs};
use crate::error::{CommandError, CommandResult};
use crate::expiry::{date, days_phrase};
use crate::fetch::org::{OrgToken, TokenList};
use crate::printable::printable;
use crate::settings::OrgSettings;
use crate::ui::Ui;

pub async fn run(global: &GlobalArgs, args: &TokensArgs, ui: &Ui) -> CommandResult {
    let account = args.account.trim();
    if account.is_empty() {
        return Err(CommandError::usage("--account is empty"));
    }
    // Text on a terminal and in a pipe alike; scripts ask for `--format json`.
    let format = args.format;
    // A loopback site (the sandbox) is its own gateway, as the site client has it; any
    // other site's org key goes to Atlassian's gateway, whatever AUTOREKEY_GATEWAY_URL says.
    let site = crate::settings::one_site_arg(global)?.and_then(|s| url::Url::parse(s.trim()).ok());
    let gateway = match &site {
        Some(s) if crate::fetch::policy::is_loopback(s) => Some(s.clone()),
        Some(s) => Some(crate::settings::real_gateway(s)?),
        None => None,
    };
    let org = OrgSettings::require(&args.org, gateway.as_ref(), ui)?;
    ui.status(format!(
        "Reading the API tokens of organization {}",
        org.org_id
    ));
    let list = org
        .client()?
        .list_tokens()
        .await
        .map_err(CommandError::org_list_failed)?;
    refuse_unknown(&list, account)?;
    let mut tokens: Vec<OrgToken> = list
        .tokens
        .into_iter()
        .filter(|t| t.email().is_some_and(|e| e.eq_ignore_ascii_case(account)))
        .collect();
    // By the instant, not the text: offsets differ, and an unreadable date goes last.
    tokens.sort_by_cached_key(|t| {
        let at = t
            .expires_at
            .as_deref()
            .and_then(crate::fetch::org::parse_timestamp);
        (at.unwrap_or(i64::MAX), t.id.clone())
    });
    let now = super::scan::now_epoch();
    match format {
        // Labels are typed by token owners: escaped as JSON escapes them (`\uXXXX`), never
        // as the terminal escapes of text output, which would not be JSON.
        ListFormat::Json => {
            let json = serde_json::json!({"account": account, "tokens": tokens});
            let text = serde_json::to_string_pretty(&json).unwrap_or_default();
            ui.out_data(format!("{}\n", crate::printable::json_text(&text)));
        }
        ListFormat::Text => ui.out_raw(table(account, &tokens, now)),
    }
    Ok(())
}

/// An error when the list cannot speak for `account` (a service account whose tokens the
/// key could not list): "no token" there would be a guess.
pub(super) fn refuse_unknown(list: &TokenList, account: &str) -> CommandResult {
    if !list.unknown(account) {
        return Ok(());
    }
    Err(CommandError::failure(format!(
        "the tokens of service account {} could not be listed: {}",
        printable(account),
        list.service_accounts_unlisted.as_deref().unwrap_or("")
    ))
    .hint("give the org API key the scope read:service-accounts-tokens:admin"))
}

fn table(account: &str, tokens: &[OrgToken], now: i64) -> String {
    let mut out = String::new();
    if tokens.is_empty() {
        let _ = writeln!(
            out,
            "No API token of {account} in this organization (not a managed account here, or none left)."
        );
        return out;
    }
    let _ = writeln!(out, "API tokens of {account} (soonest expiry first):");
    for t in tokens {
        let expires = match (&t.expires_at, t.days_left(now)) {
            (Some(at), Some(days)) => {
                format!("{} ({})", date(at), days_phrase(days, t.is_expired(now)))
            }
            (Some(at), None) if !at.trim().is_empty() => {
                format!("\"{}\" (unreadable)", printable(at))
            }
            _ => "no expiry given".into(),
        };
        let _ = writeln!(
            out,
            "  {}  \"{}\"  created {}  expires {}  last active {}  {}{}",
            printable(&t.id),
            printable(&t.label),
            t.created_at.as_deref().map_or("?".into(), date),
            expires,
            t.last_active_at.as_deref().map_or("never".into(), date),
            if t.is_scoped() { "scoped" } else { "classic" },
            if t.is_active() { "" } else { "  (not active)" },
        );
    }
    out
}
