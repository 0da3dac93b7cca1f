//! What became of one rule in a rotation or a restore, as data.
//!
//! Every command decides its exit status, its verdict and its journal from these, so the
//! kinds are typed all the way down: "stopped by Ctrl-C" and "you quit" are different
//! [`Stop`]s (one exits 1, the other does not), never two strings compared. No sentence is
//! built here: what a person reads is worded once, in the CLI's `report`, and the journal
//! step is derived from the kind (the journal's `step_of`). The reasons carry only
//! facts (pointers, fingerprints, the error text already masked by the client).
//!
//! Serialized (snake_case, tagged) for `--format json` summaries.

use serde::Serialize;

/// One rule and what happened to it. The name is the rule's display name
/// ([`crate::rule::Rule::name`]): redacted and printable.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Outcome {
    pub uuid: String,
    pub name: String,
    #[serde(flatten)]
    pub kind: Kind,
}

impl Outcome {
    pub fn new(uuid: impl Into<String>, name: impl Into<String>, kind: Kind) -> Outcome {
        Outcome {
            uuid: uuid.into(),
            name: name.into(),
            kind,
        }
    }

    pub fn uuid(&self) -> &str {
        &self.uuid
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The outcome with its id, name and every text it quotes passed through `clean`
    /// (see [`Kind::clean_text`]): the id and name are the server's text too.
    pub fn clean(&mut self, clean: &dyn Fn(&str) -> String) {
        self.uuid = clean(&self.uuid);
        self.name = clean(&self.name);
        self.kind.clean_text(clean);
    }

    /// Rotated or already current: the rule holds the new token and nothing old.
    pub fn is_done(&self) -> bool {
        matches!(self.kind, Kind::Rotated { .. } | Kind::AlreadyCurrent)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Kind {
    /// Written and read back with the new credential at `places` places.
    Rotated {
        places: usize,
    },
    /// Holds the account's credential already in the new token: nothing to do.
    AlreadyCurrent,
    /// Written back from a backup, and read back as the backup.
    Restored,
    /// Written, but something needs a person's eyes.
    Attention {
        why: Attention,
    },
    LeftAlone {
        why: LeftAlone,
    },
    Failed {
        why: Failure,
    },
    /// The admin said no.
    Declined,
    /// Never tried.
    NotAttempted {
        why: Stop,
    },
}

impl Kind {
    /// The order the summary groups outcomes in (and the order of its counts).
    pub fn rank(&self) -> u8 {
        match self {
            Kind::Rotated { .. } => 0,
            Kind::Restored => 1,
            Kind::AlreadyCurrent => 2,
            Kind::Attention { .. } => 3,
            Kind::LeftAlone { .. } => 4,
            Kind::Failed { .. } => 5,
            Kind::Declined => 6,
            Kind::NotAttempted { .. } => 7,
        }
    }

    /// The name of the kind, as JSON says it.
    pub fn as_str(&self) -> &'static str {
        match self {
            Kind::Rotated { .. } => "rotated",
            Kind::AlreadyCurrent => "already_current",
            Kind::Restored => "restored",
            Kind::Attention { .. } => "attention",
            Kind::LeftAlone { .. } => "left_alone",
            Kind::Failed { .. } => "failed",
            Kind::Declined => "declined",
            Kind::NotAttempted { .. } => "not_attempted",
        }
    }

    /// Every text the kind quotes (places, error text, file names) passed through `clean`:
    /// places are named by the rule as the server answered it, so a field name can carry
    /// a secret just as an error text can.
    pub fn clean_text(&mut self, clean: &dyn Fn(&str) -> String) {
        let all = |texts: &mut Vec<String>| texts.iter_mut().for_each(|t| *t = clean(t));
        match self {
            Kind::Attention { why } => match why {
                Attention::ReadBackFailed { error } => *error = clean(error),
                Attention::MaskedOnRead => {}
                Attention::AlsoChanged { pointers } => all(pointers),
                Attention::FinalCheck { drift } => match drift {
                    Drift::OldTokenAt { pointers } => all(pointers),
                    Drift::OldToken | Drift::NewTokenGone => {}
                    Drift::LeftAlone { why } => why.clean_text(clean),
                    Drift::Unreadable { error } => *error = clean(error),
                },
            },
            Kind::LeftAlone { why } => why.clean_text(clean),
            Kind::Failed { why } => match why {
                Failure::NotInReadBack { pointers } => all(pointers),
                Failure::Unrecorded { kind, error } => {
                    kind.clean_text(clean);
                    *error = clean(error);
                }
                Failure::BackupUntrusted { file, error } => {
                    *file = clean(file);
                    *error = clean(error);
                }
                Failure::Unreadable { error }
                | Failure::CannotRewrite { error }
                | Failure::ReReadFailed { error }
                | Failure::BackupFailed { error }
                | Failure::JournalFailed { error }
                | Failure::Refused { error }
                | Failure::LostUnreadable { error } => *error = clean(error),
                Failure::NeverLanded
                | Failure::LostChanged
                | Failure::NoLongerListed
                | Failure::IdHoldsCredential
                | Failure::Gone
                | Failure::BackupMismatch
                | Failure::BackupMasked => {}
            },
            Kind::Rotated { .. }
            | Kind::AlreadyCurrent
            | Kind::Restored
            | Kind::Declined
            | Kind::NotAttempted { .. } => {}
        }
    }

    /// Stopped before its turn by something other than the admin's own "quit": the run did
    /// not finish, so the command fails (exit 1) and asks for a rerun.
    pub fn stopped(&self) -> bool {
        matches!(
            self,
            Kind::NotAttempted {
                why: Stop::Interrupted | Stop::LoginRefused
            }
        )
    }
}

/// Why a rule was never tried.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stop {
    /// The admin answered "quit".
    Quit,
    /// Ctrl-C, at a prompt or while rules were being written.
    Interrupted,
    /// The site refused the admin's login mid-run: every further request would be another
    /// failed login, a step towards a CAPTCHA lock.
    LoginRefused,
}

/// How a hidden value shows in the rule as read: the site masks it as `***`; a UI export
/// writes it as `""` (or leaves it out).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Hidden {
    Mask,
    Empty,
    /// Some places one way, some the other.
    Both,
}

impl Hidden {
    /// How the value shows, as a sentence says it.
    pub fn said(self) -> &'static str {
        match self {
            Hidden::Mask => "came back masked as ***",
            Hidden::Empty => "is empty (\"\"), as an export writes a hidden value",
            Hidden::Both => "came back masked as *** or empty (\"\", as an export writes it)",
        }
    }
}

/// Why a rule holding the account's credential is left alone.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum LeftAlone {
    /// The server masked a value (`***`), or an export left a hidden one out (`""`);
    /// writing the rule back would destroy it. `shown` is how it shows.
    MaskedValue {
        pointers: Vec<String>,
        shown: Hidden,
    },
    /// None of the account's credentials is visible, but a masked value might be one.
    MayHoldMasked {
        pointers: Vec<String>,
        shown: Hidden,
    },
    /// The old token also appears in a form a rotation does not rewrite (Bearer, a raw
    /// token, another user's Basic credential): rewriting the rest would leave it half done.
    /// Each place is `pointer (fingerprint)`.
    OldTokenElsewhere { pointers: Vec<String> },
    /// The new token is the one already in the rule.
    AlreadyCurrent,
    /// `apply`: it holds an old token of `account` but the plan does not name it.
    NotInPlan { account: String },
    /// `apply`: it no longer holds the planned credential.
    EditedSincePlan,
    /// `apply`: the planned places moved (`missing`: planned, gone; `extra`: holding the
    /// old token, not planned). Each place is `pointer (fingerprint)`.
    ChangedSincePlan {
        missing: Vec<String>,
        extra: Vec<String>,
    },
    /// It changed between the read and the write, and no longer holds the credential.
    CredentialGone,
    /// It holds a value of the account that nothing confirmed as the account's token
    /// (see `plan::ownership`): it may be planted, so it gets nothing.
    Unconfirmed { fingerprints: Vec<String> },
}

impl LeftAlone {
    fn clean_text(&mut self, clean: &dyn Fn(&str) -> String) {
        let all = |texts: &mut Vec<String>| texts.iter_mut().for_each(|t| *t = clean(t));
        match self {
            LeftAlone::MaskedValue { pointers, .. }
            | LeftAlone::MayHoldMasked { pointers, .. }
            | LeftAlone::OldTokenElsewhere { pointers } => all(pointers),
            LeftAlone::ChangedSincePlan { missing, extra } => {
                all(missing);
                all(extra);
            }
            LeftAlone::AlreadyCurrent
            | LeftAlone::NotInPlan { .. }
            | LeftAlone::EditedSincePlan
            | LeftAlone::CredentialGone
            | LeftAlone::Unconfirmed { .. } => {}
        }
    }
}

/// Written, but to be looked at.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum Attention {
    /// It could not be read back to check.
    ReadBackFailed { error: String },
    /// The site masks the written value on read, so it could not be compared.
    MaskedOnRead,
    /// The credential is in place, but the server changed these places too.
    AlsoChanged { pointers: Vec<String> },
    /// Rotated and read back, but the check after every write of the run found `drift`.
    FinalCheck { drift: Drift },
}

/// What the final check found in a rule counted as rotated.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "found", rename_all = "snake_case")]
pub enum Drift {
    /// An old token is back, in a form the rotation does not rewrite, at these places.
    OldTokenAt {
        pointers: Vec<String>,
    },
    /// An old token is back where the rotation rewrites it.
    OldToken,
    /// The new credential is gone.
    NewTokenGone,
    /// The rule would now be left alone, for this reason.
    LeftAlone {
        why: LeftAlone,
    },
    Unreadable {
        error: String,
    },
}

/// Why a rule was not written, or not as intended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum Failure {
    /// It could not be read.
    Unreadable { error: String },
    /// The rewrite could not be built.
    CannotRewrite { error: String },
    /// Its id (the server's text, shown in headings, plans and journals) holds a credential
    /// some rule carries: it is not rotated, and shown under its masked id.
    IdHoldsCredential,
    /// It could not be read again just before the write.
    ReReadFailed { error: String },
    /// Not written: its backup could not be saved first.
    BackupFailed { error: String },
    /// Not written: the journal could not record the write first.
    JournalFailed { error: String },
    /// The site answered the write with an error.
    Refused { error: String },
    /// Its answer was lost every time, and read-backs showed it never landed.
    NeverLanded,
    /// Its answer was lost and it could not be read back.
    LostUnreadable { error: String },
    /// Its answer was lost and it now differs from both versions (someone else's edit).
    LostChanged,
    /// Written, but the read-back lacks what was written at these places.
    NotInReadBack { pointers: Vec<String> },
    /// It is no longer listed (deleted since the plan or the backup).
    NoLongerListed,
    /// `restore`: the site no longer has it.
    Gone,
    /// `restore`: the backup file holds another rule, or none.
    BackupMismatch,
    /// `restore`: the backup holds a masked value; writing it would destroy the hidden one.
    BackupMasked,
    /// `restore`: the backup file failed its checks.
    BackupUntrusted { file: String, error: String },
    /// What happened (`kind`) could not be journalled.
    Unrecorded { kind: Box<Kind>, error: String },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kinds_name_is_the_one_json_says() {
        let error = String::new;
        let kinds = [
            Kind::Rotated { places: 1 },
            Kind::AlreadyCurrent,
            Kind::Restored,
            Kind::Attention {
                why: Attention::MaskedOnRead,
            },
            Kind::LeftAlone {
                why: LeftAlone::EditedSincePlan,
            },
            Kind::Failed {
                why: Failure::Unreadable { error: error() },
            },
            Kind::Declined,
            Kind::NotAttempted { why: Stop::Quit },
        ];
        for kind in kinds {
            let json = serde_json::to_value(Outcome::new("u", "n", kind.clone())).unwrap();
            assert_eq!(json["outcome"], kind.as_str(), "{json}");
            // Every kind is ranked apart, so the summary's groups never interleave.
            assert!(kind.rank() <= 7);
        }
    }

    #[test]
    fn only_ctrl_c_and_a_refused_login_count_as_stopped() {
        let stopped = |why| Kind::NotAttempted { why }.stopped();
        assert!(stopped(Stop::Interrupted) && stopped(Stop::LoginRefused));
        assert!(!stopped(Stop::Quit));
        assert!(!Kind::Declined.stopped());
    }
}
