//! `autorekey tokens`: an account's API tokens as the organization admin API lists them.
//!
//! Read-only and needs no site: only the org id and its admin key. It is how an admin finds
//! the id `autorekey revoke` takes, and which token expires first. Token values are never
//! available (Atlassian shows one only at creation), so nothing secret is printed.
//! Service accounts' tokens come from their own endpoint; when the key may not list them,
//! a service account's tokens are unknown, an error, never "no API token".
//!
//! `--expiring 30d` is the admin's watch over the whole organization (see
//! [`crate::report::expiring`]): a nightly job's exit 3 while any token expires within the
//! window, or some owners' tokens could not be listed.

use std::fmt::Write as _;

use crate::cli::{TokensArgs, TokensFormat};
use crate::error::{CommandError, CommandResult};
use crate::expiry::{date, expires_phrase};
use crate::fetch::org::{OrgToken, TokenList};
use crate::printable::printable;
use crate::report::expiring::{self, ScanPlaces, Watch};
use crate::settings::{OrgSettings, SiteOptions};
use crate::ui::Ui;

pub async fn run(options: &SiteOptions, args: &TokensArgs, ui: &Ui) -> CommandResult {
    let account = args.account.as_deref().map(str::trim);
    if account.is_some_and(str::is_empty) {
        return Err(CommandError::usage("--account is empty"));
    }
    let Some(days) = args.expiring else {
        if matches!(args.format, TokensFormat::Csv | TokensFormat::Markdown) {
            return Err(CommandError::usage(
                "--format csv and markdown list the expiry watch: add --expiring DAYS",
            )
            .hint("e.g. `autorekey tokens --expiring 30d --format markdown`"));
        }
        let account = account.unwrap_or_default();
        let list = org_tokens(options, &args.org, ui).await?;
        return list_account(&list, account, args.format, ui);
    };
    // The scan file first: a wrong path is a usage error before any network call.
    let scan = args.scan.as_deref().map(read_scan).transpose()?;
    let list = org_tokens(options, &args.org, ui).await?;
    let watch = expiring::build(
        &list,
        super::scan::now_epoch(),
        days,
        account,
        scan.as_ref(),
    );
    match args.format {
        // JSON's own escaping protects a terminal; a consumer must see the real values.
        TokensFormat::Json => ui.out_data(expiring::render_json(&watch)),
        TokensFormat::Text => ui.out_raw(expiring::render_text(&watch)),
        TokensFormat::Csv => ui.out_raw(expiring::render_csv(&watch)),
        TokensFormat::Markdown => ui.out_raw(expiring::render_markdown(&watch)),
    }
    watch_outcome(&watch)
}

/// Every token the org key can list (users' and service accounts').
pub(super) async fn org_tokens(
    options: &SiteOptions,
    org: &crate::cli::OrgArgs,
    ui: &Ui,
) -> CommandResult<TokenList> {
    let gateway = options.org_gateway()?;
    let org = OrgSettings::require(org, gateway.as_ref(), options, ui)?;
    org.list_tokens(ui).await
}

/// `--scan PATH`: a `scan --format json` inventory, read bounded (it is any file).
fn read_scan(path: &std::path::Path) -> CommandResult<ScanPlaces> {
    use crate::files::{read_text_capped, Links, RULE_FILE_CAP};
    let shapes = "--scan takes the JSON that `autorekey scan --format json` writes";
    let what = || format!("cannot read --scan {}", path.display());
    let text = read_text_capped(path, RULE_FILE_CAP, Links::Follow)
        .map_err(|e| CommandError::input_file(what(), e, shapes))?;
    ScanPlaces::parse(&text)
        .map_err(|why| CommandError::usage(format!("{}: {}", what(), printable(&why))).hint(shapes))
}

/// Exit 3 while anything is in the window or unknown, with the scope to grant.
fn watch_outcome(watch: &Watch) -> CommandResult {
    if !watch.failing() {
        return Ok(());
    }
    let mut err = CommandError::partial(watch.summary());
    if let Some(u) = watch.unknown.first() {
        err = err.hint(u.hint.clone());
    }
    if !watch.tokens.is_empty() {
        err = err.hint(
            "rotate each token's rules (`autorekey rotate --account EMAIL`) before it expires, \
             then revoke the old token",
        );
    }
    Err(err)
}

/// The old listing of one account's tokens (`--account` without `--expiring`).
fn list_account(list: &TokenList, account: &str, format: TokensFormat, ui: &Ui) -> CommandResult {
    refuse_unknown(list, account)?;
    let mut tokens: Vec<OrgToken> = list
        .tokens
        .iter()
        .filter(|t| t.email().is_some_and(|e| e.eq_ignore_ascii_case(account)))
        .cloned()
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
        TokensFormat::Json => {
            let json = serde_json::json!({"account": account, "tokens": tokens});
            ui.out_data(crate::printable::json_document(&json));
        }
        TokensFormat::Text | TokensFormat::Csv | TokensFormat::Markdown => {
            ui.out_raw(table(account, &tokens, now))
        }
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
        let expires = expires_phrase(t.expires_at.as_deref(), t.days_left(now), t.is_expired(now));
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
