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
//! whether it is quiet and not the token the rules hold is [`super::revoke_guard`]'s to say.
//!
//! Revoking is a write: it holds the site's lock (as rotate, apply and restore do), and the
//! proof is made again after the question, right before the DELETE, since the rules may
//! change while a person reads it.

use crate::cli::{RevokeArgs, SiteArgs};
use crate::confirm::Approver;
use crate::detect::{self, Location, Scheme, Status};
use crate::error::{CommandError, CommandResult, OrgCall};
use crate::fetch::org::OrgToken;
use crate::fetch::{AutomationClient, FetchError};
use crate::printable::printable;
use crate::secret::Fingerprint;
use crate::settings::{OrgSettings, SiteSettings};
use crate::ui::Ui;

use super::revoke_guard::Guard;
use super::sites::{self, Connected};

pub async fn run(global: &SiteArgs, args: &RevokeArgs, ui: &Ui) -> CommandResult {
    if args.check_gone {
        return super::revoke_by_hand::check_gone(global, args, ui).await;
    }
    let account = args.account.trim();
    let keep = args.keep.as_deref().map(keep_fingerprint).transpose()?;
    let mut approver = Approver::new(args.yes, ui, "revoke")?;
    // The token works on every site and product of its account: every one named is read
    // for the proof, all locked first (in one order, as rotate takes them).
    let targets = sites::connect_all(SiteSettings::resolve_all(global, ui)?, ui).await?;
    sites::refuse_same_tenant(&targets)?;
    let _locks = sites::lock_all(&targets, "revoke", ui)?;
    let org = OrgSettings::require(&args.org, Some(targets[0].client.gateway()), ui)?;
    let org_client = org.client()?;
    let list = org_client
        .list_tokens()
        .await
        .map_err(CommandError::org_list_failed)?;
    super::tokens::refuse_unknown(&list, account)?;
    let tokens = &list.tokens;
    let token = the_token(tokens, account, &args.token_id)?;
    let guard = |site| Guard {
        tokens,
        target: token,
        account,
        keep: keep.as_deref(),
        site,
        backup_root: args.backup_dir.clone().or_else(crate::backup::default_root),
        quiet_for: args.quiet_for,
    };

    let proofs = still_used_anywhere(&targets, account, keep.as_deref(), ui).await?;
    refuse_blockers(&merged(&proofs), account, keep.as_deref(), ui)?;
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
    let account_id = token.account_id().map(str::to_owned).ok_or_else(|| {
        CommandError::failure("the organization lists that token without its user's account id")
            .hint("revoke it at admin.atlassian.com instead")
    })?;
    check_guards(&targets, &proofs, &guard)?;
    let read: Vec<String> = targets.iter().map(|t| t.label()).collect();
    ui.status(format!(
        "A fresh scan of every rule at {} found no credential of {account} other than the \
         one kept. An API token works on every site and product of its account: autorekey \
         cannot see rules or scripts elsewhere (name every site with --site).",
        read.join(", ")
    ));
    let question = format!(
        "Revoke API token \"{}\" ({}) of {account}, {}? This cannot be undone",
        printable(&token.label),
        printable(&token.id),
        guard(targets[0].client.site()).last_used()
    );
    // One token, one irreversible act: yes or no, nothing "for all remaining". A no
    // leaves the token live, the rotation's last step undone: work left for a person
    // (exit 3, as a rotation the admin quit), never a success a script could take for
    // "revoked".
    if !approver.ask_yes_no(&question)? {
        return Err(CommandError::partial(format!(
            "not revoked: you said no; API token \"{}\" ({}) of {account} still works",
            printable(&token.label),
            printable(&token.id)
        ))
        .hint("run this again when you want to revoke it"));
    }
    // The question may have waited while the rules changed (an edit in the Automation UI, a
    // restore from another machine): the proof must hold right before the DELETE too.
    let again = still_used_anywhere(&targets, account, keep.as_deref(), ui).await?;
    let again_merged = merged(&again);
    if !again_merged.blockers.is_empty() {
        ui.warn("the rules changed while the question waited");
    }
    refuse_blockers(&again_merged, account, keep.as_deref(), ui)?;
    check_guards(&targets, &again, &guard)?;
    super::interrupt::set_left(
        "the token may or may not have been revoked: `autorekey tokens` shows whether it is \
         still listed",
    );
    org_client
        .revoke(&account_id, &token.id)
        .await
        .map_err(|e| revoke_failed(e, &token.id, account))?;
    ui.out(format!(
        "Revoked API token \"{}\" ({}) of {account}.",
        printable(&token.label),
        printable(&token.id)
    ));
    Ok(())
}

/// Each place that may still need a token of `account`, listed; then exit 3, nothing
/// revoked. Without `--keep`, the account's readable tokens in the rules are named: after
/// a good rotation they are the new token, which `--keep` lets stay.
fn refuse_blockers(proof: &Proof, account: &str, keep: Option<&str>, ui: &Ui) -> CommandResult {
    let blockers = &proof.blockers;
    if blockers.is_empty() {
        return Ok(());
    }
    for b in blockers {
        ui.out(format!("  - {b}"));
    }
    let err = CommandError::partial(format!(
        "not revoked: {} place(s) above may still need a token of {account}",
        blockers.len()
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

/// What a fresh read of every rule says about revoking a token of an account.
#[derive(Debug, Default, PartialEq, Eq)]
struct Proof {
    /// Every place that may still need a token of the account other than the kept one.
    blockers: Vec<String>,
    /// Some rule holds the kept token.
    kept_in_use: bool,
    /// Fingerprints of the account's readable tokens among the blockers.
    tokens: std::collections::BTreeSet<String>,
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
    if let Some(warning) = stats_warning(&stats) {
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

/// One proof of all the targets' proofs: every blocker, every token named.
fn merged(proofs: &[Proof]) -> Proof {
    let mut all = Proof::default();
    for p in proofs {
        all.blockers.extend(p.blockers.iter().cloned());
        all.tokens.extend(p.tokens.iter().cloned());
        all.kept_in_use |= p.kept_in_use;
    }
    all
}

/// Each target's guard (its site's rotation records, whether its rules hold the kept
/// token): the token may go only when every one of them lets it.
fn check_guards<'a>(
    targets: &'a [Connected],
    proofs: &[Proof],
    guard: &impl Fn(&'a url::Url) -> Guard<'a>,
) -> CommandResult {
    for (t, proof) in targets.iter().zip(proofs) {
        guard(t.client.site()).check(proof.kept_in_use)?;
    }
    Ok(())
}

/// A rule list the site's two listings disagreed on may miss a rule that uses the token.
fn stats_warning(stats: &crate::fetch::ReadStats) -> Option<String> {
    stats
        .listing
        .warning()
        .map(|w| format!("the rule list could not be confirmed complete: {w}"))
}

impl Proof {
    fn rule(&mut self, rule: &crate::rule::Rule, account: &str, keep: Option<&str>) {
        let (name, uuid) = (rule.name(), rule.uuid());
        for f in detect::detect(rule.body()) {
            match doubt(&f, account, keep) {
                Doubt::None => {}
                Doubt::Kept => self.kept_in_use = true,
                Doubt::Blocks(why) => {
                    let theirs = f.status == Status::Literal
                        && f.user
                            .as_deref()
                            .is_some_and(|u| u.trim().eq_ignore_ascii_case(account));
                    if let Some(fp) = f.fingerprint().filter(|_| theirs) {
                        self.tokens.insert(fp.to_string());
                    }
                    self.blockers.push(format!(
                        "\"{}\" ({}): {}",
                        printable(name),
                        printable(uuid),
                        printable(&why)
                    ))
                }
            }
        }
    }
}

enum Doubt {
    None,
    Kept,
    Blocks(String),
}

/// Whether one finding may need a token of `account` other than `keep`. Fails closed:
/// whatever autorekey cannot see into (masked, computed, a managed secret) or cannot say the
/// owner of (a token with no user) may be the account's token.
fn doubt(f: &detect::Finding, account: &str, keep: Option<&str>) -> Doubt {
    if f.location == Location::WebhookToken {
        // An incoming webhook's own secret, not an API token.
        return Doubt::None;
    }
    if f.unattributable_basic_to_atlassian() {
        return Doubt::Blocks(format!(
            "holds {} at {}, a Basic value that names no account autorekey can check: it may \
             be a token of {account}",
            f.redacted_value(),
            f.component_path
        ));
    }
    let owner = f.user.as_deref().map(str::trim);
    if owner.is_some_and(|u| !u.eq_ignore_ascii_case(account)) {
        return Doubt::None;
    }
    let at = &f.component_path;
    match f.status {
        Status::Literal => {
            // The kept token by either form: a rule sending it to another host shows it
            // keyed, and it is still the token kept.
            let forms = [f.fingerprint(), f.token.as_ref().map(|t| t.fingerprint())];
            let kept = forms
                .iter()
                .flatten()
                .any(|fp| keep.is_some_and(|k| fp.matches_prefix(k)));
            match (kept, owner) {
                (true, _) => Doubt::Kept,
                (false, Some(_)) => Doubt::Blocks(format!("holds {} at {at}", f.redacted_value())),
                // A chat webhook URL's secret (Slack, Teams, Discord) is no Atlassian token.
                (false, None) if f.scheme == Scheme::Other(detect::WEBHOOK_SCHEME.into()) => {
                    Doubt::None
                }
                // Nor is a secret that cannot be an account's credential (a Bearer or key sent
                // to another service, a query secret): blocking on it would refuse every revoke
                // on a site whose rules also call, say, GitHub, while rotate advised it.
                (false, None) if !f.may_be_atlassian_credential() => Doubt::None,
                (false, None) => {
                    let what = if f
                        .token
                        .as_ref()
                        .is_some_and(|t| detect::looks_like_atlassian_token(t.expose()))
                    {
                        "a raw Atlassian token"
                    } else {
                        "a credential whose owner is not written beside it"
                    };
                    Doubt::Blocks(format!(
                        "holds {} at {at}, {what}: it may be a token of {account}",
                        f.redacted_value()
                    ))
                }
            }
        }
        Status::Masked => Doubt::Blocks(format!(
            "a masked value at {at} may be a token of {account}"
        )),
        Status::Dynamic => Doubt::Blocks(format!(
            "a smart value at {at} is computed when the rule runs and may be a token of {account}"
        )),
        Status::SecretRef => Doubt::Blocks(format!(
            "a managed secret at {at} cannot be read and may be a token of {account}"
        )),
        // An author's placeholder is no token of anyone's.
        Status::Placeholder => Doubt::None,
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::fetch::org::OrgUser;
    use crate::secret::{Credential, Token};
    use serde_json::json;

    const ALICE: &str = "alice@acme.example";

    fn fake() -> String {
        format!("FAKE-{}", uuid::Uuid::new_v4().simple())
    }

    fn rule(headers: &[&str]) -> serde_json::Value {
        let headers: Vec<_> = headers
            .iter()
            .enumerate()
            .map(|(i, v)| json!({"id": format!("h{i}"), "name": "Authorization", "value": v}))
            .collect();
        json!({"name": "r", "uuid": "u-1", "components": [{"id": "2", "component": "ACTION",
            "type": "jira.issue.outgoing.webhook",
            "value": {"url": "{{baseUrl}}/rest/api/3/issue", "method": "POST", "headers": headers}}]})
    }

    fn basic(user: &str, token: &str) -> String {
        format!(
            "Basic {}",
            Credential::new(user, Token::new(token)).basic_value()
        )
    }

    fn proof(rule: &serde_json::Value, keep: Option<&str>) -> Proof {
        let mut p = Proof::default();
        p.rule(&crate::rule::Rule::from_body(rule.clone()), ALICE, keep);
        p
    }

    #[test]
    fn only_the_kept_token_and_other_peoples_credentials_let_a_revoke_through() {
        let (old, new, bobs) = (fake(), fake(), fake());
        let keep = Token::new(new.as_str()).fingerprint().to_string();
        let clean = proof(
            &rule(&[&basic(ALICE, &new), &basic("bob@acme.example", &bobs)]),
            Some(&keep),
        );
        assert_eq!(
            clean,
            Proof {
                blockers: vec![],
                kept_in_use: true,
                tokens: Default::default(),
            }
        );
        assert_eq!(
            proof(&rule(&[&basic(ALICE, &old)]), Some(&keep))
                .blockers
                .len(),
            1
        );
        assert_eq!(proof(&rule(&[&basic(ALICE, &new)]), None).blockers.len(), 1);
    }

    #[test]
    fn whatever_cannot_be_seen_into_or_has_no_owner_blocks_a_revoke() {
        let keep = Token::new(fake()).fingerprint().to_string();
        for (value, what) in [
            ("***".to_string(), "masked"),
            ("Basic {{secrets.jira}}".to_string(), "smart value"),
            (format!("Bearer {}", fake()), "owner is not written"),
        ] {
            let p = proof(&rule(&[&value]), Some(&keep));
            assert_eq!(p.blockers.len(), 1, "{what}: {p:?}");
            assert!(p.blockers[0].contains(what), "{what}: {p:?}");
        }
    }

    /// A Bearer value in a variable shows a keyed fingerprint (its destination is not
    /// known), yet it may be the account's token: it blocks, as it did when it showed plain.
    #[test]
    fn an_ownerless_credential_in_a_variable_blocks_a_revoke() {
        let keep = Token::new(fake()).fingerprint().to_string();
        let mut variable = rule(&[]);
        variable["components"][0] = json!({"id": "3", "component": "ACTION",
            "type": "jira.create.variable", "value": {"name": {"value": "auth"},
            "query": {"value": format!("Bearer {}", fake())}}});
        let found = detect::detect(&variable);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].fingerprint().unwrap().is_keyed());
        assert_eq!(proof(&variable, Some(&keep)).blockers.len(), 1);
    }

    #[test]
    fn a_lenient_spelling_of_the_old_token_or_a_basic_value_naming_no_account_blocks_a_revoke() {
        use crate::detect::spellings;
        let keep = Token::new(fake()).fingerprint().to_string();
        let (old, spare) = spellings::spare_bits(ALICE, "old");
        let b64 = Credential::new(ALICE, Token::new(fake())).basic_value();
        for (value, what) in [
            (format!("Basic {spare}"), "alice"),
            (format!("Basic {}", spellings::echoed(ALICE, &old)), "alice"),
            (
                format!("Basic {}.{}", &b64[..8], &b64[8..]),
                "names no account",
            ),
            (basic("deploy-bot", &fake()), "names no account"),
        ] {
            let p = proof(&rule(&[&value]), Some(&keep));
            assert_eq!(p.blockers.len(), 1, "{what}: {p:?}");
            assert!(p.blockers[0].contains(what), "{what}: {p:?}");
        }
        let kept = Token::new(old.as_str()).fingerprint().to_string();
        let p = proof(&rule(&[&format!("Basic {spare}")]), Some(&kept));
        assert!(p.kept_in_use && p.blockers.is_empty(), "{p:?}");
    }

    #[test]
    fn a_raw_atlassian_token_blocks_a_revoke_and_a_chat_webhook_secret_does_not() {
        let keep = Token::new(fake()).fingerprint().to_string();
        let raw = format!("ATATT3xFfGF0{}", uuid::Uuid::new_v4().simple());
        let p = proof(&rule(&[&format!("Bearer {raw}")]), Some(&keep));
        assert_eq!(p.blockers.len(), 1, "{p:?}");
        assert!(p.blockers[0].contains("raw Atlassian token"), "{p:?}");

        let mut slack = rule(&[]);
        slack["components"][0]["value"]["url"] = format!(
            "https://hooks.slack.com/services/T0AB12CD3/B0AB12CD3/{}",
            fake()
        )
        .into();
        let found = detect::detect(&slack);
        assert!(!found.is_empty(), "the webhook URL is a finding");
        assert_eq!(proof(&slack, Some(&keep)), Proof::default());
    }

    #[test]
    fn another_services_bearer_does_not_block_a_revoke_and_one_sent_to_the_site_does() {
        let keep = Token::new(fake()).fingerprint().to_string();
        let bearer = format!("Bearer {}", fake());
        let mut github = rule(&[&bearer]);
        github["components"][0]["value"]["url"] = "https://api.github.com/repos/x/y".into();
        assert_eq!(proof(&github, Some(&keep)), Proof::default());
        let site = proof(&rule(&[&bearer]), Some(&keep));
        assert_eq!(site.blockers.len(), 1, "{site:?}");
    }

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
