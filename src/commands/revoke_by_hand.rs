//! A service account's old token, revoked by a person, and the check that it is gone.
//!
//! The org admin API's only delete for service-account tokens revokes all of the account's
//! tokens, the new one the rules now hold included, so `revoke` never calls it: once the
//! rules are proven clean it says exactly where in admin.atlassian.com the one old token is
//! revoked, and then checks by listing the account's tokens again, never by trusting a "done".
//! At a terminal it waits for the admin (Enter once revoked; no or Ctrl-C leaves it to do,
//! exit 3); a script polls `revoke --check-gone`, which reads no rule and changes nothing.
//! "Gone" is the org list no longer listing the id as active; a list that cannot speak for
//! the account (a service account's tokens the key may not list) is an error, never "gone".

use std::fmt::Write as _;

use crate::cli::{GlobalArgs, RevokeArgs};
use crate::confirm::Approver;
use crate::error::{CommandError, CommandResult};
use crate::expiry::date;
use crate::fetch::org::{OrgClient, OrgToken, TokenList};
use crate::printable::printable;
use crate::ui::Ui;

/// `revoke --check-gone`: list the org's tokens again and say whether `--token-id` is gone
/// (exit 0) or still listed (exit 3). No site, no rule, no write.
pub(super) async fn check_gone(global: &GlobalArgs, args: &RevokeArgs, ui: &Ui) -> CommandResult {
    let list = super::tokens::org_tokens(global, &args.org, ui).await?;
    gone_verdict(&list, args.account.trim(), args.token_id.trim(), ui)
}

/// Where the old token is revoked by hand, then (at a terminal) the wait and the check.
/// Without a terminal, or with `--yes`, exit 3 with where, and how a script checks.
pub(super) async fn service_account_token(
    token: &OrgToken,
    list: &TokenList,
    account: &str,
    approver: &Approver,
    org: &OrgClient,
    ui: &Ui,
) -> CommandResult {
    ui.out(where_to_revoke(token, list, account));
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
    gone_verdict(&again, account, &token.id, ui)
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

/// Gone: the org no longer lists `id` as an active token (exit 0, naming what the account
/// still has); still listed: exit 3. An id listed for another account is a usage error.
fn gone_verdict(list: &TokenList, account: &str, id: &str, ui: &Ui) -> CommandResult {
    super::tokens::refuse_unknown(list, account)?;
    let shown = printable(id);
    let still = list.tokens.iter().find(|t| t.id == id && t.is_active());
    match still.and_then(OrgToken::email) {
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
        let still = gone_verdict(&list, BOT, "old", &ui).unwrap_err();
        assert_eq!(still.kind.exit_code(), 3);
        assert_eq!(
            gone_verdict(&list, "a@x.io", "old", &ui)
                .unwrap_err()
                .kind
                .exit_code(),
            2
        );
        list.tokens[0].status = Some("REVOKED".into());
        assert!(gone_verdict(&list, BOT, "old", &ui).is_ok());
        list.tokens.remove(0);
        assert!(gone_verdict(&list, BOT, "old", &ui).is_ok());
        list.service_accounts_unlisted = Some("403".into());
        assert_eq!(
            gone_verdict(&list, BOT, "old", &ui)
                .unwrap_err()
                .kind
                .exit_code(),
            1
        );
        assert_eq!(enter_or_no(""), Some(true));
        assert_eq!(enter_or_no(" No "), Some(false));
        assert_eq!(enter_or_no("maybe"), None);
    }
}
