//! Confirming the old tokens: which values in the rules are really the account's token.
//!
//! A rotation selects the credentials that name the account, but naming it proves
//! nothing: anyone who may edit a rule can plant `base64(alice@…:junk)` sending to their
//! own host (see `crate::plan::ownership`). So before anything is shown for approval each
//! old value the plan would replace is confirmed, in this order, or left alone:
//!
//! 1. it is the old token the admin gave (`--old-token-file`, `AUTOREKEY_OLD_TOKEN`);
//! 2. its fingerprint was named with `--fingerprint` (or a saved plan recorded it so);
//! 3. it logs in as the account (`/myself` on the configured site, the gateway for a
//!    service account), tried only for values shaped like an Atlassian token, each once,
//!    and never after two failed logins in the run: a few failed logins lock the account
//!    behind a CAPTCHA;
//! 4. at a terminal, the admin answers one question per value, after seeing its rules,
//!    where they send it, who wrote them and what the login said (an expired token is the
//!    everyday case: a rule broke because its token expired). `--yes` answers no question.
//!
//! What is left unconfirmed is reported with the flag that would confirm it, and holds back
//! the revoke advice.

use std::collections::BTreeSet;

use crate::cli::NewTokenArgs;
use crate::confirm::Approver;
use crate::error::{CommandError, CommandResult};
use crate::fetch::{AutomationClient, CheckAt, CredentialCheck};
use crate::plan::ownership::{
    candidates, keep_confirmed, token_shaped, Candidate, Confirmed, Evidence, Login, Unconfirmed,
};
use crate::plan::{Plan, Selector};
use crate::printable::printable;
use crate::report::RotationSummary;
use crate::secret::{Credential, Token};
use crate::token_input::{read_token, TokenSource, OLD_TOKEN_ENV};
use crate::ui::Ui;

use super::rotation::NewTokenLogin;

/// Failed logins one run may cause per account. Atlassian locks an account's API access
/// after a few; the new token's own check succeeded before this is reached.
pub const FAILED_LOGINS_PER_RUN: usize = 2;

/// Where a value can be tried as a login: the site's client, and the account id the new
/// token logged in as (an old token of the same account id is the account's).
pub struct LoginCheck<'a> {
    pub client: &'a AutomationClient,
    pub new_account_id: Option<&'a str>,
    /// Failed logins of the account this run made already (the new token's check).
    pub failed_already: usize,
    /// The site and product, in a run of several: said in each question.
    pub site_label: Option<String>,
}

/// What the admin gave or recorded to confirm old tokens with.
#[derive(Default)]
pub struct Given<'a> {
    pub old_token: Option<Token>,
    /// A saved plan's confirmations (`apply`); a login is checked again.
    pub recorded: &'a [Confirmed],
}

/// The outcome: the selector to write with, and what the summary says.
pub struct Ownership {
    pub selector: Selector,
    pub confirmed: Vec<Confirmed>,
    pub unconfirmed: Vec<Unconfirmed>,
    /// Failed logins of the account in this run so far, the earlier ones included: a run
    /// of several sites carries them to the next site, one budget for the account.
    pub failed_logins: usize,
}

/// `--old-token-file` or `AUTOREKEY_OLD_TOKEN`, if given. Never prompted for: most
/// rotations confirm by login, and a prompt nobody expects would stop a script.
pub fn read_old_token(args: &NewTokenArgs, ui: &Ui) -> CommandResult<Option<Token>> {
    let file = args.old_token_file.as_deref();
    let dash = std::path::Path::new("-");
    if file == Some(dash) && args.new_token_file.as_deref() == Some(dash) {
        return Err(CommandError::usage(
            "--old-token-file and --new-token-file cannot both read stdin",
        )
        .hint("put one of the tokens in a file (or AUTOREKEY_OLD_TOKEN)"));
    }
    if file.is_none() && std::env::var_os(OLD_TOKEN_ENV).is_none() {
        return Ok(None);
    }
    let source = TokenSource {
        what: "old API token",
        file,
        env: OLD_TOKEN_ENV,
        file_flag: "--old-token-file",
        confirm: false,
    };
    read_token(source, ui).map(Some)
}

/// What confirming a plan's old tokens needs besides the plan: the selection, the new
/// token, what the admin gave, and where a login may be tried (`None` offline).
pub struct Confirmation<'a> {
    pub selector: &'a Selector,
    pub new_token: &'a Token,
    pub given: Given<'a>,
    pub login: Option<LoginCheck<'a>>,
}

impl<'a> Confirmation<'a> {
    /// On a site, after the new token logged in (`login`).
    pub fn on_site(
        client: &'a AutomationClient,
        login: &'a NewTokenLogin,
        selector: &'a Selector,
        new_token: &'a Token,
        given: Given<'a>,
    ) -> Self {
        let check = LoginCheck {
            client,
            new_account_id: Some(&login.account_id),
            failed_already: login.failed_logins,
            site_label: None,
        };
        Confirmation {
            selector,
            new_token,
            given,
            login: Some(check),
        }
    }

    /// The same, its questions naming `label` (one site and product of several).
    pub fn at(mut self, label: String) -> Self {
        if let Some(login) = &mut self.login {
            login.site_label = Some(label);
        }
        self
    }

    /// Confirm each old value `plan` would replace, narrow the plan to the confirmed ones,
    /// and say what was decided. `approver` is `None` when nothing is written now (a dry
    /// run, a saved plan): nobody is asked then.
    pub async fn run(
        self,
        plan: &mut Plan,
        mut approver: Option<&mut Approver>,
        ui: &Ui,
    ) -> CommandResult<Ownership> {
        let Confirmation {
            selector,
            new_token,
            given,
            login,
        } = self;
        let found = candidates(&plan.rewrites);
        if let Some(old) = &given.old_token {
            check_old_token(old, new_token, &found, &selector.account, ui)?;
        }
        let mut tries = Tries {
            failed: login.as_ref().map_or(0, |l| l.failed_already),
        };
        let mut ids = BTreeSet::new();
        let (mut confirmed, mut unconfirmed) = (Vec::new(), Vec::new());
        for c in &found {
            let decided = match given_evidence(c, &found, selector, &given) {
                Some(evidence) => Ok(evidence),
                None => match &login {
                    Some(check) => tries.login(check, c, selector, new_token).await,
                    None => Err(Login::Offline),
                },
            };
            let decided = match decided {
                Ok(evidence) => Ok(evidence),
                Err(why) => match ask(approver.as_deref_mut(), (c, &why), selector, &login, ui)? {
                    true => Ok(Evidence::Answered),
                    // Asked and answered no, or nobody to ask.
                    false => Err((
                        why,
                        approver.as_deref().is_some_and(Approver::is_interactive),
                    )),
                },
            };
            match decided {
                Ok(evidence) => {
                    ids.insert(c.identity.clone());
                    let fingerprint = c.shown.clone();
                    confirmed.push(Confirmed {
                        fingerprint,
                        evidence,
                    });
                }
                Err((why, declined)) => unconfirmed.push(Unconfirmed::of(c, why, declined)),
            }
        }
        let selector = selector.with_confirmed(ids);
        keep_confirmed(plan, &selector, new_token);
        Ok(Ownership {
            selector,
            confirmed,
            unconfirmed,
            failed_logins: tries.failed,
        })
    }
}

impl Ownership {
    /// Hand what was confirmed and what was not to the summary; the selector to write with
    /// stays.
    pub fn into_summary(self, summary: &mut RotationSummary) -> Selector {
        summary.confirmed = self.confirmed;
        summary.unconfirmed = self.unconfirmed;
        self.selector
    }
}

/// Evidence that needs no login: the old token given, a whole fingerprint named with
/// `--fingerprint`, or a saved plan's record (other than a login, which is checked again).
/// A fingerprint confirms only the one value it names among `all`: a prefix, or a
/// fingerprint a planted value was ground to share, confirms nothing.
fn given_evidence(
    c: &Candidate,
    all: &[Candidate],
    selector: &Selector,
    given: &Given<'_>,
) -> Option<Evidence> {
    if given
        .old_token
        .as_ref()
        .is_some_and(|t| t.identity() == c.identity)
    {
        return Some(Evidence::OldTokenFile);
    }
    let recorded = given
        .recorded
        .iter()
        .find(|r| r.evidence != Evidence::Login && c.named_alone_by(r.fingerprint.as_str(), all));
    if let Some(r) = recorded {
        return Some(r.evidence);
    }
    let named = selector
        .fingerprints
        .iter()
        .any(|fp| c.named_alone_by(fp, all));
    named.then_some(Evidence::Fingerprint)
}

/// The old token given must be an old token: not the new one, and (a warning) in a rule.
fn check_old_token(
    old: &Token,
    new_token: &Token,
    found: &[Candidate],
    account: &str,
    ui: &Ui,
) -> CommandResult {
    if old.identity() == new_token.identity() {
        return Err(CommandError::usage(
            "the old token given is the new token; nothing was written",
        )
        .hint("give the token the rules hold now with --old-token-file"));
    }
    if !found.iter().any(|c| c.identity == old.identity()) {
        ui.warn(format!(
            "the old token you gave ({}) is in no rule of {account} that this run would rotate",
            old.fingerprint()
        ));
    }
    Ok(())
}

/// Logins tried in this run, and how many failed.
struct Tries {
    failed: usize,
}

impl Tries {
    /// Does the value log in as the account? Only a token-shaped value is tried, and none
    /// after [`FAILED_LOGINS_PER_RUN`] failures.
    async fn login(
        &mut self,
        check: &LoginCheck<'_>,
        c: &Candidate,
        selector: &Selector,
        new_token: &Token,
    ) -> Result<Evidence, Login> {
        if !token_shaped(c.token.expose(), new_token) {
            return Err(Login::NotTokenShaped);
        }
        if self.failed >= FAILED_LOGINS_PER_RUN {
            return Err(Login::BudgetSpent);
        }
        let account = &selector.account;
        let credential = Credential::new(account, c.token.clone());
        let client = check.client;
        let verdict = match crate::fetch::is_service_account(account) {
            true => {
                let at = CheckAt::Site(client.site().clone());
                client.verify(&at, &credential).await.check
            }
            false => client.check_credential(client.site(), &credential).await,
        };
        // The account id is compared only when the new token is the same account's.
        let same_id = |id: &str| selector.migrate.is_none() && check.new_account_id == Some(id);
        match verdict {
            CredentialCheck::Live { email, account_id } => {
                let theirs = email
                    .as_deref()
                    .is_some_and(|e| e.eq_ignore_ascii_case(account));
                match (theirs || same_id(&account_id), email) {
                    (true, _) => Ok(Evidence::Login),
                    (false, Some(email)) => Err(Login::OtherAccount { email }),
                    (false, None) => Err(Login::OwnerNotShown),
                }
            }
            CredentialCheck::LiveScopeLimited { .. } => Err(Login::OwnerNotShown),
            CredentialCheck::Dead { reason } => {
                self.failed += 1;
                Err(Login::Refused { reason })
            }
            CredentialCheck::Unknown { reason } => Err(Login::Unknown { reason }),
        }
    }
}

/// One question for one unconfirmed value, after what a person needs to judge it. False
/// when nobody can be asked or the answer is no.
fn ask(
    approver: Option<&mut Approver>,
    (c, why): (&Candidate, &Login),
    selector: &Selector,
    login: &Option<LoginCheck<'_>>,
    ui: &Ui,
) -> CommandResult<bool> {
    let Some(approver) = approver.filter(|a| a.is_interactive()) else {
        return Ok(false);
    };
    let account = &selector.account;
    let at = login
        .as_ref()
        .and_then(|l| l.site_label.as_deref())
        .map_or(String::new(), |label| format!(" at {label}"));
    let list = |items: Vec<String>| items.join(", ");
    let rules = c
        .rules
        .iter()
        .map(|r| format!("\"{}\"", printable(&r.name)))
        .collect();
    ui.status(format!(
        "{account} · {} is in {}{at}, but nothing confirmed it as {account}'s token:",
        c.shown,
        crate::report::count(c.rules.len(), "rule", "rules")
    ));
    ui.status(format!("  rules:    {}", list(rules)));
    ui.status(format!(
        "  sends to: {}",
        list(c.destinations.iter().cloned().collect())
    ));
    if !c.authors.is_empty() {
        ui.status(format!(
            "  authors:  {}",
            list(c.authors.iter().cloned().collect())
        ));
    }
    ui.status(format!("  login:    {}", why.describe()));
    let question = format!(
        "Is {} {account}'s old token{at}, to be replaced with the new one? A value a rule \
         editor planted would send the new token to them",
        c.shown
    );
    Ok(approver.vouch(&question)? == Some(true))
}
