//! Write one rule to the site, as safely as the API allows. One protocol for every
//! command that writes a rule: `rotate`, `apply` and `restore`.
//!
//! The Automation API has no ETag or If-Match and PUT replaces the whole rule, so safety is
//! built from reads around the write:
//!
//! 1. re-read the rule just before writing; if it changed since it was planned, rebuild the
//!    rewrite on the fresh copy (and show it again) or leave the rule alone when the
//!    credential is gone: a stale copy is never written over someone else's edit (`restore`
//!    reads, compares and asks on its own, then joins at step 2);
//! 2. back the current copy up (0600) and journal the write before sending it;
//! 3. PUT the rule without read-only fields and without `connections`;
//! 4. on a lost answer, a 5xx or a redirect, read back before deciding: landed, send again
//!    (the rule is untouched), or stop (someone else's edit);
//! 5. read back and check that what was written is there and nothing else moved.
//!
//! What remains is the window between step 1 and step 3, one round trip wide; the read-back
//! in step 5 reports anything the server changed beyond the credential. A 401 anywhere means
//! the admin's token stopped working: the writer says so ([`Writer::login_refused`]) and the
//! caller starts nothing more (each request would be another failed login, a step towards a
//! CAPTCHA lock). Every outcome is journalled as it happens, the step derived from its kind.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::Value;

use crate::backup::{BackupRun, TargetRef};
use crate::detect::MASK;
use crate::fetch::{AutomationClient, FetchError, PutOutcome};
use crate::journal::{Journal, Step};
use crate::outcome::{Attention, Failure, Kind, Outcome, Stop};
use crate::plan::{self, Rewrite, Selector};
use crate::rule::Rule;
use crate::secret::Token;

/// Where a writer keeps the copy it overwrites and the record of what it did.
pub trait WriteLog: Sync {
    /// Back `rule` up as it is now, before it is overwritten.
    fn save(&self, rule: &Rule) -> io::Result<()>;
    /// Journal one step of one rule.
    fn record(&self, uuid: &str, name: &str, step: Step, detail: Option<String>) -> io::Result<()>;
}

/// A restore: the versions it replaces go to a new backup beside the one restored, and its
/// steps to the restored run's journal, marked as the restore's (and, in a run of several
/// sites, with the site and product of the rule).
pub struct RestoreLog<'a> {
    pub safety: BackupRun,
    pub journal: &'a Journal,
    pub target: Option<TargetRef>,
}

impl WriteLog for RestoreLog<'_> {
    fn save(&self, rule: &Rule) -> io::Result<()> {
        self.safety.save(rule.uuid(), &rule.envelope()).map(|_| ())
    }

    /// Every entry is marked, those without a detail too (`writing`, `restored`,
    /// `declined`): in the rotation's journal, a restore's step must not read as the
    /// rotation's.
    fn record(&self, uuid: &str, name: &str, step: Step, detail: Option<String>) -> io::Result<()> {
        let detail = detail.map_or_else(|| "restore".to_string(), |d| format!("restore: {d}"));
        self.journal
            .record_at(self.target.as_ref(), uuid, name, step, Some(detail))
    }
}

/// What a rotation writes: its selector and new token, for rebuilding a rewrite on a rule
/// that changed since it was shown.
#[derive(Clone, Copy)]
pub struct Rotation<'a> {
    pub selector: &'a Selector,
    pub new_token: &'a Token,
}

/// Writes rules through the client, one protocol for every command.
pub struct Writer<'a> {
    client: &'a AutomationClient,
    log: &'a dyn WriteLog,
    login_refused: AtomicBool,
}

/// How many times a PUT whose answer was lost, and which read-back shows it did not land,
/// is sent again.
const LOST_ANSWER_RETRIES: u32 = 3;

impl<'a> Writer<'a> {
    pub fn new(client: &'a AutomationClient, log: &'a dyn WriteLog) -> Self {
        Writer {
            client,
            log,
            login_refused: AtomicBool::new(false),
        }
    }

    /// The site refused the admin's login (401) during this run: start nothing more.
    pub fn login_refused(&self) -> bool {
        self.login_refused.load(Ordering::SeqCst)
    }

    /// Masks every credential `rules` hold out of all later server text: call it before the
    /// first request about a rule whose content is known (a planned rewrite, a backup), so
    /// a 4xx answering the re-read, the read-back or the final check cannot quote its old
    /// token back into a summary or the journal.
    pub fn keep_secret(&self, rules: &[&Rule]) {
        let bodies: Vec<&Value> = rules.iter().map(|r| r.body()).collect();
        self.client.also_mask(&plan::secret_forms(&bodies));
    }

    /// Read a rule, noting a refused login.
    pub async fn read(&self, uuid: &str) -> Result<Rule, FetchError> {
        self.client.get_rule(uuid).await.inspect_err(|e| {
            if matches!(e, FetchError::Unauthorized { .. }) {
                self.login_refused.store(true, Ordering::SeqCst);
            }
        })
    }

    /// Steps 1-5 for one approved rewrite. `reapprove` is asked when the rule changed
    /// since it was shown, with the rebuilt rewrite; it returns whether to go on, or why
    /// the run stops there (quit, Ctrl-C: the rule is then not attempted).
    pub async fn rotate(
        &self,
        planned: &Rewrite,
        rotation: Rotation<'_>,
        reapprove: impl FnOnce(&Rewrite) -> Result<bool, Stop>,
    ) -> Outcome {
        let outcome = |kind| Outcome::new(planned.uuid(), planned.name(), kind);
        self.keep_secret(&[&planned.before, &planned.after]);
        let fresh = match self.read(planned.uuid()).await {
            // The write goes to the id the answer carries: it must be the rule shown.
            Ok(rule) if rule.uuid() != planned.uuid() => Err(format!(
                "the site answered with another rule ({})",
                crate::printable::printable(rule.uuid())
            )),
            read => read.map_err(|e| e.to_string()),
        };
        let fresh = match fresh {
            Ok(rule) => rule,
            Err(error) => {
                let why = Failure::ReReadFailed { error };
                return self.record(outcome(Kind::Failed { why }));
            }
        };
        let target = if fresh.hash() == planned.before.hash() {
            Rewrite {
                before: fresh.clone(),
                after: fresh.rewritten(planned.after.body().clone()),
                ..planned.clone()
            }
        } else {
            match plan::replan(planned, fresh, rotation.selector, rotation.new_token) {
                Ok(r) => match reapprove(&r) {
                    Ok(true) => r,
                    Ok(false) => {
                        return self.record(Outcome::new(r.uuid(), r.name(), Kind::Declined))
                    }
                    Err(why) => {
                        return Outcome::new(r.uuid(), r.name(), Kind::NotAttempted { why })
                    }
                },
                Err(outcome) => return self.record(outcome),
            }
        };
        let credentials: Vec<String> = target.findings.iter().map(|f| f.pointer.clone()).collect();
        let kind = match self
            .replace(&target.before, &target.after, Some(&credentials))
            .await
        {
            Ok(()) => Kind::Rotated {
                places: target.findings.len(),
            },
            Err(kind) => kind,
        };
        self.record(Outcome::new(target.uuid(), target.name(), kind))
    }

    /// Steps 2-5: replace `now` (as just read) with `wanted`. `key` are the places that
    /// must read back as written (the credentials); `None`: every place (a restore). `Ok`
    /// when it landed exactly; otherwise what became of it. The caller records it.
    pub async fn replace(
        &self,
        now: &Rule,
        wanted: &Rule,
        key: Option<&[String]>,
    ) -> Result<(), Kind> {
        let failed = |why| Err(Kind::Failed { why });
        self.keep_secret(&[now, wanted]);
        if let Err(e) = self.log.save(now) {
            let error = e.to_string();
            return failed(Failure::BackupFailed { error });
        }
        let detail = key.and_then(|_| crate::journal::replaces_detail(&replaced(now, wanted)));
        if let Err(e) = self
            .log
            .record(now.uuid(), now.name(), Step::Writing, detail)
        {
            let error = e.to_string();
            return failed(Failure::JournalFailed { error });
        }
        if let Err(why) = self.put(now, wanted).await {
            return failed(why);
        }
        self.check_read_back(now, wanted, key).await
    }

    async fn put(&self, now: &Rule, wanted: &Rule) -> Result<(), Failure> {
        let body = wanted.put_body();
        // Server text quoted in an error must not echo any secret the body carries.
        let secrets = plan::secret_forms(&[now.body(), wanted.body()]);
        for _ in 0..=LOST_ANSWER_RETRIES {
            match self.client.put_rule(now.uuid(), &body, &secrets).await {
                Ok(PutOutcome::Written) => return Ok(()),
                // A 5xx, a broken connection or a redirect (a 303 means "applied") does not
                // prove the write failed: read back before deciding.
                Ok(PutOutcome::AnswerLost)
                | Err(
                    FetchError::Server { .. }
                    | FetchError::Network(_)
                    | FetchError::Timeout
                    | FetchError::InvalidResponse(_),
                ) => match self.landed(now, wanted).await? {
                    true => return Ok(()),
                    false => continue,
                },
                Err(e) => {
                    if matches!(e, FetchError::Unauthorized { .. }) {
                        self.login_refused.store(true, Ordering::SeqCst);
                    }
                    let error = e.to_string();
                    return Err(Failure::Refused { error });
                }
            }
        }
        Err(Failure::NeverLanded)
    }

    /// After a lost answer: did the write land (true), or is the rule untouched so it is
    /// safe to send again (false)? Anything else is someone else's edit: stop.
    async fn landed(&self, before: &Rule, wanted: &Rule) -> Result<bool, Failure> {
        let now = self
            .read(before.uuid())
            .await
            .map_err(|e| Failure::LostUnreadable {
                error: e.to_string(),
            })?;
        // A place the server masks on read cannot be compared; the read-back says so.
        let unmasked = |p: &String| now.body().pointer(p).and_then(Value::as_str) != Some(MASK);
        if !plan::differences(wanted.body(), now.body())
            .iter()
            .any(unmasked)
        {
            return Ok(true);
        }
        if now.hash() == before.hash() {
            return Ok(false);
        }
        Err(Failure::LostChanged)
    }

    async fn check_read_back(
        &self,
        now: &Rule,
        wanted: &Rule,
        key: Option<&[String]>,
    ) -> Result<(), Kind> {
        let back = self.read(now.uuid()).await.map_err(|e| Kind::Attention {
            why: Attention::ReadBackFailed {
                error: e.to_string(),
            },
        })?;
        let mut moved = plan::differences(wanted.body(), back.body());
        let is_key = |p: &String| key.is_none_or(|k| k.contains(p));
        let masked = |p: &String| back.body().pointer(p).and_then(Value::as_str) == Some(MASK);
        if moved.iter().any(|p| is_key(p) && masked(p)) {
            return Err(Kind::Attention {
                why: Attention::MaskedOnRead,
            });
        }
        let missing: Vec<String> = moved.iter().filter(|p| is_key(p)).cloned().collect();
        if !missing.is_empty() {
            let why = Failure::NotInReadBack { pointers: missing };
            return Err(Kind::Failed { why });
        }
        if now.connections() != back.connections() {
            moved.push("connections".into());
        }
        match moved.is_empty() {
            true => Ok(()),
            false => Err(Kind::Attention {
                why: Attention::AlsoChanged { pointers: moved },
            }),
        }
    }

    /// Journal the outcome, its step derived from its kind; a journal that cannot be
    /// written is reported with it.
    pub fn record(&self, mut outcome: Outcome) -> Outcome {
        // Every text it quotes came from the site or the rule: cleaned of every secret the
        // client knows before it is journalled, printed or serialized.
        outcome
            .kind
            .clean_text(&|text| self.client.masker().clean(text));
        let Some(step) = crate::journal::step_of(&outcome.kind) else {
            return outcome;
        };
        let detail = crate::report::reason(&outcome.kind);
        match self.log.record(&outcome.uuid, &outcome.name, step, detail) {
            Ok(()) => outcome,
            Err(e) => {
                let why = Failure::Unrecorded {
                    kind: Box::new(outcome.kind),
                    error: e.to_string(),
                };
                Outcome::new(outcome.uuid, outcome.name, Kind::Failed { why })
            }
        }
    }
}

/// The tokens of `now` that `wanted` no longer holds (what a rotation's write replaces),
/// one fingerprint each, as the journal records them.
fn replaced(now: &Rule, wanted: &Rule) -> Vec<String> {
    let kept: std::collections::HashSet<_> = crate::detect::detect(wanted.body())
        .iter()
        .filter_map(plan::token_identity)
        .collect();
    let gone: Vec<_> = crate::detect::detect(now.body())
        .into_iter()
        .filter(|f| plan::token_identity(f).is_some_and(|id| !kept.contains(&id)))
        .collect();
    crate::detect::shown_per_token(&gone)
        .into_iter()
        .map(|(_, shown)| shown.to_string())
        .collect()
}
