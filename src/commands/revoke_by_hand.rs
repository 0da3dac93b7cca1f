//! A service account's old token, revoked by a person, and the check that it is gone.
//!
//! The org admin API's only delete for service-account tokens revokes all of the account's
//! tokens, the new one the rules now hold included, so `revoke` never calls it: once the
//! rules are proven clean it says exactly where in admin.atlassian.com the one old token is
//! revoked, and then checks by listing the account's tokens again, never by trusting a "done".
//! At a terminal it waits for the admin (Enter once revoked; no or Ctrl-C leaves it to do,
//! exit 3); a script polls `revoke --check-gone`, which reads no rule and changes nothing.
//! "Gone" is the org list no longer listing the id as active, for an id known to have
//! existed: listed as revoked, or left to a person by an earlier `revoke` on this machine,
//! which records the account and id (no secret) in [`HANDED`] under the backup root. An id
//! nobody knows (a typo, a wrong `--account`) is a usage error, never "gone": a polling
//! script must not take a typo for a revoked token. A list that cannot speak for the
//! account (a service account's tokens the key may not list) is an error, never "gone".

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::cli::RevokeArgs;
use crate::confirm::Approver;
use crate::error::{CommandError, CommandResult};
use crate::expiry::date;
use crate::fetch::org::{OrgClient, OrgToken, TokenList};
use crate::printable::printable;
use crate::settings::SiteOptions;
use crate::ui::Ui;

/// `revoke --check-gone`: list the org's tokens again and say whether `--token-id` is gone
/// (exit 0) or still listed (exit 3). No site, no rule, no write.
pub(super) async fn check_gone(options: &SiteOptions, args: &RevokeArgs, ui: &Ui) -> CommandResult {
    let list = super::tokens::org_tokens(options, &args.org, ui).await?;
    let (account, id) = (args.account.trim(), args.token_id.trim());
    let root = records_root(args);
    let handed = root.as_deref().is_some_and(|r| was_handed(r, account, id));
    gone_verdict(&list, account, id, handed, ui)
}

/// The file under the backup root of the tokens `revoke` left to a person to revoke: one
/// JSON line each, an account and a token id (never a secret).
pub const HANDED: &str = "revoke-by-hand.jsonl";

#[derive(Debug, Serialize, Deserialize)]
struct Handed {
    account: String,
    token_id: String,
    #[serde(default)]
    at: String,
}

/// Where `revoke` keeps its records: `--backup-dir`, else the default backup root.
pub(super) fn records_root(args: &RevokeArgs) -> Option<PathBuf> {
    args.backup_dir.clone().or_else(crate::backup::default_root)
}

/// Records that `revoke` told a person to revoke `id` of `account`, so `--check-gone` can
/// tell it gone once the org stops listing it.
fn record_handed(root: &Path, account: &str, id: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    crate::files::create_private_dir_all(root)?;
    let line = serde_json::to_string(&Handed {
        account: account.trim().to_ascii_lowercase(),
        token_id: id.to_owned(),
        at: crate::backup::now_rfc3339(),
    })?;
    let mut file = crate::files::open_append_lines(&root.join(HANDED))?;
    writeln!(file, "{line}")
}

/// An earlier `revoke` under `root` left `id` of `account` to a person. An unreadable
/// record (or none) is no.
fn was_handed(root: &Path, account: &str, id: &str) -> bool {
    use crate::files::{read_text_capped, Links, SMALL_FILE_CAP};
    let Ok(text) = read_text_capped(&root.join(HANDED), SMALL_FILE_CAP, Links::Refuse) else {
        return false;
    };
    text.lines()
        .filter_map(|l| serde_json::from_str::<Handed>(l).ok())
        .any(|h| h.token_id == id && h.account.eq_ignore_ascii_case(account.trim()))
}

/// Where the old token is revoked by hand, then (at a terminal) the wait and the check.
/// Without a terminal, or with `--yes`, exit 3 with where, and how a script checks.
pub(super) async fn service_account_token(
    token: &OrgToken,
    list: &TokenList,
    account: &str,
    approver: &Approver,
    org: &OrgClient,
    records: Option<&Path>,
    ui: &Ui,
) -> CommandResult {
    ui.out(where_to_revoke(token, list, account));
    // Before the wait: once revoked, the org may stop listing the id, and only this
    // record tells `--check-gone` it existed.
    let recorded = records.map(|root| record_handed(root, account, &token.id));
    if !matches!(recorded, Some(Ok(()))) {
        ui.warn(format!(
            "could not record that token {} was left to revoke by hand{}: once the \
             organization stops listing it, `--check-gone` cannot tell it from an unknown id",
            printable(&token.id),
            match recorded {
                Some(Err(e)) => format!(" ({})", printable(&e.to_string())),
                _ => " (no backup directory: give --backup-dir)".into(),
            }
        ));
    }
    let Approver::Prompt(prompt) = approver else {
        return Err(left_to_do(token, account).hint(format!(
            "then check it is gone: `autorekey revoke --account {account} --token-id {} --check-gone` \
             (exit 0 once it is gone, 3 while it is still listed)",
            printable(&token.id)
        )));
    };
    let revoked = prompt.ask(
        "Press Enter once you have revoked it there (n to stop)",
        enter_or_no,
        "press Enter once it is revoked, or answer n",
    );
    if !matches!(revoked, Ok(true)) {
        return Err(left_to_do(token, account)
            .hint("revoke it there when you can, then run this again, or poll with --check-gone"));
    }
    let again = org
        .list_tokens()
        .await
        .map_err(CommandError::org_list_failed)?;
    gone_verdict(&again, account, &token.id, true, ui)
}

/// The exact place, and which tokens of the account stay: a person picks one row of a
/// list, and must not pick the new one.
fn where_to_revoke(token: &OrgToken, list: &TokenList, account: &str) -> String {
    let account = printable(account);
    let mut out = format!(
        "Revoke this one token by hand: admin.atlassian.com > Directory > Service accounts > \
         {account} > API tokens, the token labelled \"{}\" (id {}, created {}, expires {}), \
         with its own Revoke action; not \"Revoke all\".",
        printable(&token.label),
        printable(&token.id),
        token.created_at.as_deref().map_or("?".into(), date),
        token.expires_at.as_deref().map_or("?".into(), date),
    );
    let keep = others(list, account.as_ref(), &token.id);
    if !keep.is_empty() {
        let _ = write!(out, " Keep {}: the rules may use it.", keep.join(", "));
    }
    out
}

/// The account's other active tokens, as `"label" (id)`.
fn others(list: &TokenList, account: &str, id: &str) -> Vec<String> {
    list.tokens
        .iter()
        .filter(|t| t.is_active() && t.id != id)
        .filter(|t| t.email().is_some_and(|e| e.eq_ignore_ascii_case(account)))
        .map(|t| format!("\"{}\" ({})", printable(&t.label), printable(&t.id)))
        .collect()
}

fn left_to_do(token: &OrgToken, account: &str) -> CommandError {
    CommandError::partial(format!(
        "not revoked yet: API token \"{}\" ({}) of service account {} still works until it is \
         revoked at admin.atlassian.com (autorekey never calls the API's revoke-all, which \
         would revoke the new token too)",
        printable(&token.label),
        printable(&token.id),
        printable(account)
    ))
}

/// Gone: the org no longer lists `id` as an active token, and the id is known to have
/// existed (listed as inactive, or `handed`: left to a person by an earlier `revoke`), exit
/// 0, naming what the account still has; still listed: exit 3. An id listed for another
/// account, or known nowhere, is a usage error (exit 2).
fn gone_verdict(list: &TokenList, account: &str, id: &str, handed: bool, ui: &Ui) -> CommandResult {
    super::tokens::refuse_unknown(list, account)?;
    let shown = printable(id);
    let listed = list.tokens.iter().find(|t| t.id == id);
    let still = listed.filter(|t| t.is_active());
    match listed.and_then(OrgToken::email) {
        Some(owner) if !owner.eq_ignore_ascii_case(account) => {
            return Err(CommandError::usage(format!(
                "token {shown} belongs to {}, not to {}",
                printable(owner),
                printable(account)
            ))
            .hint("check --account and --token-id"))
        }
        _ => {}
    }
    if let Some(token) = still {
        return Err(CommandError::partial(format!(
            "API token \"{}\" ({shown}) of {} is still listed: not revoked yet",
            printable(&token.label),
            printable(account)
        ))
        .hint("revoke it at admin.atlassian.com, then check again (it may take a minute to go)"));
    }
    if listed.is_none() && !handed {
        return Err(CommandError::usage(format!(
            "no token with id {shown} of {} is known here: the organization does not list \
             it, and no `autorekey revoke` on this machine left it to revoke by hand",
            printable(account)
        ))
        .hint(format!(
            "check --token-id and --account: `autorekey tokens --account {}` lists the ids \
             (give --backup-dir if the revoke that named it used one)",
            printable(account)
        )));
    }
    let left = others(list, account, id);
    let left = match left.is_empty() {
        true => format!(
            "{} has no other active API token listed",
            printable(account)
        ),
        false => format!(
            "still listed for {}: {}",
            printable(account),
            left.join(", ")
        ),
    };
    ui.out(format!(
        "API token {shown} is gone: the organization no longer lists it; {left}."
    ));
    Ok(())
}

/// Enter (an empty line) or yes: revoked; n or no: stop.
fn enter_or_no(text: &str) -> Option<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "" | "y" | "yes" | "done" => Some(true),
        "n" | "no" | "q" | "quit" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fetch::org::OrgUser;

    fn token(id: &str, email: &str) -> OrgToken {
        OrgToken {
            id: id.into(),
            label: format!("label {id}"),
            status: Some("ALLOWED".into()),
            user: Some(OrgUser {
                id: Some("sa-1".into()),
                email: Some(email.into()),
            }),
            service_account: true,
            ..OrgToken::default()
        }
    }

    const BOT: &str = "bot@serviceaccount.atlassian.com";

    #[test]
    fn a_token_left_to_a_person_is_recorded_by_account_and_id_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("backups");
        assert!(!was_handed(&root, BOT, "old"), "no record yet");
        record_handed(&root, "Bot@ServiceAccount.atlassian.com", "old").unwrap();
        assert!(was_handed(&root, BOT, "old"));
        assert!(!was_handed(&root, BOT, "olde") && !was_handed(&root, "a@x.io", "old"));
        let text = std::fs::read_to_string(root.join(HANDED)).unwrap();
        let line: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
        let keys: Vec<&String> = line.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["account", "token_id", "at"], "{text}");
    }

    #[test]
    fn the_place_names_the_one_token_and_the_ones_to_keep() {
        let list = TokenList {
            tokens: vec![token("old", BOT), token("new", BOT), token("x", "a@x.io")],
            service_accounts_unlisted: None,
        };
        let text = where_to_revoke(&list.tokens[0], &list, BOT);
        assert!(
            text.contains(&format!(
                "Service accounts > {BOT} > API tokens, the token labelled \"label old\" (id old"
            )) && text.contains("Keep \"label new\" (new)")
                && !text.contains("(x)"),
            "{text}"
        );
    }

    #[test]
    fn gone_only_when_not_listed_active_and_never_when_unknown() {
        let ui = Ui::new(0, crate::ui::ColorChoice::Never);
        let mut list = TokenList {
            tokens: vec![token("old", BOT), token("new", BOT)],
            service_accounts_unlisted: None,
        };
        let code = |list: &TokenList, account: &str, id: &str, handed: bool| {
            gone_verdict(list, account, id, handed, &ui)
                .err()
                .map_or(0, |e| e.kind.exit_code())
        };
        assert_eq!(code(&list, BOT, "old", true), 3);
        assert_eq!(code(&list, "a@x.io", "old", true), 2);
        list.tokens[0].status = Some("REVOKED".into());
        assert_eq!(
            code(&list, BOT, "old", false),
            0,
            "listed as revoked: it existed"
        );
        assert_eq!(
            code(&list, "a@x.io", "old", false),
            2,
            "another's revoked token"
        );
        list.tokens.remove(0);
        assert_eq!(
            code(&list, BOT, "old", true),
            0,
            "left to a person here, now gone"
        );
        let typo = gone_verdict(&list, BOT, "old", false, &ui).unwrap_err();
        assert_eq!(
            typo.kind.exit_code(),
            2,
            "never listed, never left: unknown"
        );
        let said = typo.error.to_string();
        assert!(said.contains("no token with id old of"), "{said}");
        assert!(typo.hints.join(" ").contains("autorekey tokens --account"));
        list.service_accounts_unlisted = Some("403".into());
        assert_eq!(code(&list, BOT, "old", true), 1);
        assert_eq!(enter_or_no(""), Some(true));
        assert_eq!(enter_or_no(" No "), Some(false));
        assert_eq!(enter_or_no("maybe"), None);
    }
}
