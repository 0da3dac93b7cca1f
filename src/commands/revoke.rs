//! `autorekey revoke`: revoke one API token through the organization admin API, only once a
//! fresh scan proves no rule can still need it.
//!
//! Revoking cannot be undone and breaks every integration still using the token, so the
//! proof comes first and is as strict as what autorekey can see: every rule of the site is
//! read again now (not trusted from an earlier run); any literal credential of the account
//! other than the token to keep (`--keep`, the new one's fingerprint), anything that might
//! be one (a masked value, a smart value, a managed secret, an ownerless Atlassian token),
//! any rule that cannot be read, or a rule list the site's two listings disagreed on stops
//! it, each listed with why (exit 3).
//! The org API never shows a token's value, so a token is known by its account and id;
//! whether it is quiet and not the token the rules hold is [`super::revoke_guard`]'s to say,
//! and what each rule's findings mean for it is [`crate::revoke_proof::rules`]'s (pure); this
//! command reads, locks, asks and deletes.
//!
//! Revoking is a write: it holds the site's lock (as rotate, apply and restore do), and the
//! proof is made again after the question, right before the DELETE, since the rules may
//! change while a person reads it.

use url::Url;

use crate::cli::RevokeArgs;
use crate::confirm::Approver;
use crate::error::{CommandError, CommandResult, OrgCall};
use crate::fetch::org::{OrgClient, OrgToken};
use crate::fetch::{AutomationClient, FetchError};
use crate::printable::printable;
use crate::revoke_proof::rules::{merged, Proof};
use crate::secret::Fingerprint;
use crate::settings::{OrgSettings, SiteOptions, SiteSettings};
use crate::ui::Ui;

use super::revoke_guard::Guard;
use super::sites::{self, Connected};

pub async fn run(options: &SiteOptions, args: &RevokeArgs, ui: &Ui) -> CommandResult {
    if args.check_gone {
        return super::revoke_by_hand::check_gone(options, args, ui).await;
    }
    let account = args.account.trim();
    let keep = args.keep.as_deref().map(keep_fingerprint).transpose()?;
    let mut approver = Approver::new(args.yes, ui, "revoke")?;
    // The token works on every site and product of its account: every one named is read
    // for the proof, all locked first (in one order, as rotate takes them).
    let targets = sites::connect_all(SiteSettings::resolve_all(options, ui)?, ui).await?;
    sites::refuse_same_tenant(&targets)?;
    let _locks = sites::lock_all(&targets, "revoke", ui)?;
    let org = OrgSettings::require(&args.org, Some(targets[0].client.gateway()), options, ui)?;
    let org_client = org.client()?;
    let list = org_client
        .list_tokens()
        .await
        .map_err(CommandError::org_list_failed)?;
    super::tokens::refuse_unknown(&list, account)?;
    let token = the_token(&list.tokens, account, &args.token_id)?;
    let revocation = Revocation {
        targets: &targets,
        org: &org_client,
        tokens: &list.tokens,
        token,
        account,
        keep: keep.as_deref(),
        args,
        ui,
    };
    let proofs = revocation.prove().await?;
    // Never the API's revoke-all (it would take the new token too): a person revokes the
    // one old token, and the list says when it is gone.
    if token.service_account || crate::fetch::is_service_account(account) {
        return super::revoke_by_hand::service_account_token(
            token,
            &list,
            account,
            &approver,
            &org_client,
            super::revoke_by_hand::records_root(args).as_deref(),
            ui,
        )
        .await;
    }
    let account_id = revocation.account_id()?;
    revocation.check_guards(&proofs)?;
    revocation.ask(&mut approver)?;
    // The question may have waited while the rules changed (an edit in the Automation UI, a
    // restore from another machine): the proof must hold right before the DELETE too.
    let again = revocation.prove_again().await?;
    revocation.check_guards(&again)?;
    revocation.delete(account_id).await
}

/// What the steps of one revocation share once its token is found: the targets whose rules
/// make the proof (locked), the org's client and tokens, and what the guard weighs.
struct Revocation<'a> {
    targets: &'a [Connected],
    org: &'a OrgClient,
    tokens: &'a [OrgToken],
    token: &'a OrgToken,
    account: &'a str,
    keep: Option<&'a str>,
    args: &'a RevokeArgs,
    ui: &'a Ui,
}

impl<'a> Revocation<'a> {
    /// Every rule of every target read now; a place that may still need a token of the
    /// account other than the kept one refuses (exit 3).
    async fn prove(&self) -> CommandResult<Vec<Proof>> {
        let proofs = still_used_anywhere(self.targets, self.account, self.keep, self.ui).await?;
        refuse_blockers(&merged(&proofs), self.account, self.keep, self.ui)?;
        Ok(proofs)
    }

    /// [`Self::prove`] once more; a refusal now first says the rules changed while the
    /// question waited.
    async fn prove_again(&self) -> CommandResult<Vec<Proof>> {
        let again = still_used_anywhere(self.targets, self.account, self.keep, self.ui).await?;
        let again_merged = merged(&again);
        if !again_merged.blockers.is_empty() {
            self.ui.warn("the rules changed while the question waited");
        }
        refuse_blockers(&again_merged, self.account, self.keep, self.ui)?;
        Ok(again)
    }

    /// The id of the token's user, which the DELETE names.
    fn account_id(&self) -> CommandResult<&'a str> {
        self.token.account_id().ok_or_else(|| {
            CommandError::failure("the organization lists that token without its user's account id")
                .hint("revoke it at admin.atlassian.com instead")
        })
    }

    /// The guard of the target at `site`, which weighs the token's dates and that site's
    /// rotation records.
    fn guard(&self, site: &'a Url) -> Guard<'a> {
        Guard {
            tokens: self.tokens,
            target: self.token,
            account: self.account,
            keep: self.keep,
            site,
            backup_root: self
                .args
                .backup_dir
                .clone()
                .or_else(crate::backup::default_root),
            quiet_for: self.args.quiet_for,
        }
    }

    /// Each target's guard (its site's rotation records, whether its rules hold the kept
    /// token): the token may go only when every one of them lets it.
    fn check_guards(&self, proofs: &[Proof]) -> CommandResult {
        for (t, proof) in self.targets.iter().zip(proofs) {
            self.guard(t.client.site()).check(proof.kept_in_use)?;
        }
        Ok(())
    }

    /// What the proof covered and what it cannot see, then the one question.
    fn ask(&self, approver: &mut Approver) -> CommandResult {
        let read: Vec<String> = self.targets.iter().map(|t| t.label()).collect();
        self.ui.status(format!(
            "A fresh scan of every rule at {} found no credential of {} other than the \
             one kept. An API token works on every site and product of its account: autorekey \
             cannot see rules or scripts elsewhere (name every site with --site).",
            read.join(", "),
            self.account
        ));
        let question = format!(
            "Revoke {}, {}? This cannot be undone",
            self.named(),
            self.guard(self.targets[0].client.site()).last_used()
        );
        // One token, one irreversible act: yes or no, nothing "for all remaining". A no
        // leaves the token live, the rotation's last step undone: work left for a person
        // (exit 3, as a rotation the admin quit), never a success a script could take for
        // "revoked".
        if !approver.ask_yes_no(&question)? {
            return Err(CommandError::partial(format!(
                "not revoked: you said no; {} still works",
                self.named()
            ))
            .hint("run this again when you want to revoke it"));
        }
        Ok(())
    }

    /// The DELETE. Ctrl-C once it may be sent says the token may be gone, not that
    /// nothing was done.
    async fn delete(&self, account_id: &str) -> CommandResult {
        super::interrupt::set_left(
            "the token may or may not have been revoked: `autorekey tokens` shows whether it is \
             still listed",
        );
        self.org
            .revoke(account_id, &self.token.id)
            .await
            .map_err(|e| revoke_failed(e, &self.token.id, self.account))?;
        self.ui.out(format!("Revoked {}.", self.named()));
        Ok(())
    }

    /// The token as the question and the outcome name it.
    fn named(&self) -> String {
        format!(
            "API token \"{}\" ({}) of {}",
            printable(&self.token.label),
            printable(&self.token.id),
            self.account
        )
    }
}

/// Each place that may still need a token of `account`, listed; then exit 3, nothing
/// revoked. Without `--keep`, the account's readable tokens in the rules are named: after
/// a good rotation they are the new token, which `--keep` lets stay.
fn refuse_blockers(proof: &Proof, account: &str, keep: Option<&str>, ui: &Ui) -> CommandResult {
    // Sorted: rules are read concurrently, and the same rules must read the same way twice.
    let mut blockers: Vec<&String> = proof.blockers.iter().collect();
    blockers.sort();
    if blockers.is_empty() {
        return Ok(());
    }
    for b in &blockers {
        ui.out(format!("  - {b}"));
    }
    let err = CommandError::partial(format!(
        "not revoked: {} above may still need a token of {account}",
        crate::words::count(blockers.len(), "place", "places")
    ));
    let rotate = format!("`autorekey rotate --account {account}`");
    Err(match (keep, proof.tokens.len()) {
        (None, 1..) => {
            let tokens: Vec<&str> = proof.tokens.iter().map(String::as_str).collect();
            let pass = match tokens.as_slice() {
                [one] => format!("pass --keep {one}"),
                _ => "pass --keep with its fingerprint".into(),
            };
            err.hint(format!(
                "no token was named to keep, and the rules hold {} of {account}: if that is \
                 the new token (the one `autorekey rotate` said to keep), {pass}; a rule that \
                 holds the token you revoke must be rotated first ({rotate})",
                tokens.join(", ")
            ))
        }
        _ => err.hint(format!(
            "rotate them first ({rotate}), or check masked ones in the Automation UI; then run this again"
        )),
    })
}

/// A failed DELETE. When the request may have reached Atlassian (no answer, or a 5xx),
/// the token may be gone all the same: say so, and how to find out, rather than "not
/// revoked".
fn revoke_failed(e: FetchError, id: &str, account: &str) -> CommandError {
    let unknown = matches!(
        e,
        FetchError::Network(_)
            | FetchError::Timeout
            | FetchError::Server { .. }
            | FetchError::SiteUnavailable { .. }
    );
    let id = printable(id);
    if unknown {
        CommandError::from_org(e, OrgCall::Revoke)
            .context(format!(
                "token {id} may or may not have been revoked: the request was sent, but no \
                 clear answer came back"
            ))
            .hint(format!(
                "`autorekey tokens --account {account}` shows whether it is still listed"
            ))
    } else {
        CommandError::from_org(e, OrgCall::Revoke).context(format!("token {id} was not revoked"))
    }
}

/// `--keep`: a whole fingerprint. A short prefix could match another old token of the
/// account and let it pass as "the one kept".
fn keep_fingerprint(text: &str) -> CommandResult<String> {
    Fingerprint::parse_prefix(text)
        .filter(|fp| fp.len() >= FINGERPRINT_LEN)
        .ok_or_else(|| {
            CommandError::usage(format!(
                "--keep must be a whole fingerprint ({FINGERPRINT_LEN} hex digits); nothing was revoked"
            ))
            .hint("use the 12-digit fingerprint that `autorekey rotate` or `autorekey scan` shows")
        })
}

/// Hex digits in the fingerprint autorekey shows.
const FINGERPRINT_LEN: usize = 12;

/// The org's token with this id, which must belong to `account`. An id the list gives more
/// than once (two users, or a page repeated) is a doubt, and so a refusal.
fn the_token<'a>(tokens: &'a [OrgToken], account: &str, id: &str) -> CommandResult<&'a OrgToken> {
    let id = id.trim();
    let mut same_id = tokens.iter().filter(|t| t.id == id);
    let shown = printable(id);
    let token = same_id.next().ok_or_else(|| {
        CommandError::usage(format!("the organization has no API token with id {shown}")).hint(
            format!("list them with `autorekey tokens --account {account}`"),
        )
    })?;
    if same_id.next().is_some() {
        return Err(CommandError::failure(format!(
            "the organization lists more than one API token with id {shown}; nothing was revoked"
        ))
        .hint("revoke it at admin.atlassian.com, where its owner is shown"));
    }
    match token.email() {
        Some(e) if e.eq_ignore_ascii_case(account) => Ok(token),
        other => Err(CommandError::usage(format!(
            "token {shown} belongs to {}, not to {account}; nothing was revoked",
            printable(other.unwrap_or("an account without an email"))
        ))
        .hint("check --account and --token-id")),
    }
}

/// Every place a rule may still need a token of `account` other than `keep`, from a fresh
/// read of every rule. An error reading the rule list stops the command.
async fn still_used(
    client: &AutomationClient,
    account: &str,
    keep: Option<&str>,
    ui: &Ui,
) -> CommandResult<Proof> {
    ui.status(format!(
        "Reading every rule at {} to prove nothing still uses it",
        client.site()
    ));
    let mut proof = Proof::default();
    let stats = client
        .read_all_rules(|read| match read.result {
            Ok(rule) => proof.rule(&rule, account, keep),
            Err(e) => proof.blockers.push(format!(
                "\"{}\" ({}): could not be read ({e})",
                printable(&read.summary.name),
                printable(&read.summary.uuid)
            )),
        })
        .await
        .map_err(|e| {
            CommandError::from(e).context("could not read every rule; nothing was revoked")
        })?;
    // A rule list the site's two listings disagreed on may miss a rule that uses the token.
    if let Some(w) = stats.listing.warning() {
        let warning = format!("the rule list could not be confirmed complete: {w}");
        proof.blockers.push(warning);
    }
    // A read that failed before another rule was read may quote that rule's token.
    for blocker in &mut proof.blockers {
        *blocker = client.masker().clean(blocker);
    }
    Ok(proof)
}

/// The proof of each target, in order; a blocker names its site and product when several
/// were read.
async fn still_used_anywhere(
    targets: &[Connected],
    account: &str,
    keep: Option<&str>,
    ui: &Ui,
) -> CommandResult<Vec<Proof>> {
    let mut proofs = Vec::with_capacity(targets.len());
    for t in targets {
        let mut proof = still_used(&t.client, account, keep, ui).await?;
        if targets.len() > 1 {
            for blocker in &mut proof.blockers {
                *blocker = format!("at {}: {blocker}", t.label());
            }
        }
        proofs.push(proof);
    }
    Ok(proofs)
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::fetch::org::OrgUser;

    const ALICE: &str = "alice@acme.example";

    #[test]
    fn a_delete_without_a_clear_answer_is_not_reported_as_not_revoked() {
        let lost = revoke_failed(FetchError::Timeout, "t1", ALICE).render();
        assert!(lost.contains("may or may not have been revoked"), "{lost}");
        assert!(lost.contains("autorekey tokens --account"), "{lost}");
        let refused = FetchError::Forbidden {
            message: "no".into(),
        };
        let refused = revoke_failed(refused, "t1", ALICE).render();
        assert!(refused.contains("was not revoked"), "{refused}");
    }

    #[test]
    fn keep_must_be_a_whole_fingerprint() {
        assert!(keep_fingerprint("a").is_err());
        assert!(keep_fingerprint("c79c2a68dc6").is_err());
        assert!(keep_fingerprint("zzzzzzzzzzzz").is_err());
        assert_eq!(keep_fingerprint(" C79C2A68DC6D ").unwrap(), "c79c2a68dc6d");
    }

    /// An active token of `email`, dated nowhere (`revoke_guard`'s tests date it).
    pub(in crate::commands) fn token(id: &str, email: &str) -> OrgToken {
        OrgToken {
            id: id.into(),
            label: id.into(),
            status: Some("ALLOWED".into()),
            created_at: None,
            expires_at: None,
            last_active_at: None,
            user: Some(OrgUser {
                id: Some(format!("acc-{email}")),
                email: Some(email.into()),
            }),
            ..OrgToken::default()
        }
    }

    #[test]
    fn an_id_listed_twice_or_of_another_account_is_refused() {
        let tokens = [token("t1", ALICE), token("t2", "bob@acme.example")];
        assert_eq!(
            the_token(&tokens, "ALICE@acme.example", " t1 ").unwrap().id,
            "t1"
        );
        assert!(the_token(&tokens, ALICE, "t2").is_err());
        assert!(the_token(&tokens, ALICE, "t3").is_err());
        let twice = [token("t1", ALICE), token("t1", "bob@acme.example")];
        assert!(the_token(&twice, ALICE, "t1").is_err());
        let twice = [token("t1", "bob@acme.example"), token("t1", ALICE)];
        assert!(the_token(&twice, ALICE, "t1").is_err());
    }
}
