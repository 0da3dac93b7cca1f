//! Whether `revoke` may delete a token, from what can be known about it: the pure decision
//! behind the command's last guard, after a fresh read found no rule needing another token.
//!
//! Why it is shaped so:
//! - The org admin API never shows a token's value, so the command cannot see which of an
//!   account's token ids is the one the rules hold (the token kept, `--keep`). What it can
//!   see is each token's `lastActiveAt`, and this machine's journals of the rotations that
//!   moved the rules from one token to another. Revoking cannot be undone, so the rule is:
//!   refuse whenever these cannot show the token is not the one in use.
//! - A rotation logs in with its new token before writing it anywhere, after the moment its
//!   manifest records as its start (`backup::command_started_at`). So the token the rules
//!   were moved to was active at or after that start; a token last active *before* it is
//!   not that token. Creation dates say nothing of the kind (an older token may be the one
//!   kept), but the newest or only token of the account is refused too, as before.
//! - A token nothing in these rules uses must still be quiet: not used after the rotation
//!   that took it out of the rules (something elsewhere still sends it), or, with no such
//!   rotation on this machine, not within `--quiet-for`.
//! - A `lastActiveAt` that is missing or unreadable proves nothing: a token just written
//!   into rules that have not run yet shows none either, so it is refused.
//! - Times are epoch seconds; the caller turns a date without a time into its last second,
//!   the latest instant it may stand for. Pure: no clock, no I/O, so every case is a test.
//!
//! The other half of the proof, whether any rule may still need a token of the account, is
//! [`rules`]: judged rule by rule from detect's findings.

pub mod rules;

/// A rotation on this machine that rewrote rules of the account, in epoch seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rotation {
    /// When its first run started, before it logged in with the new token.
    pub began: i64,
    /// Its last journal entry: the last rule it wrote.
    pub ended: i64,
}

/// What is known about the token to revoke.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Facts {
    /// The latest instant its `lastActiveAt` may stand for; `None` when not given or not
    /// readable.
    pub last_active: Option<i64>,
    /// The fresh read found the kept token (`--keep`) in rules.
    pub rules_hold_kept: bool,
    /// Another active token of the account was created after this one.
    pub newer_token_exists: bool,
    /// The latest rotation on this machine that moved the account's rules to the kept
    /// token when rules hold it; else the latest that rewrote the account's rules at all.
    pub rotation: Option<Rotation>,
    pub now: i64,
    /// `--quiet-for`, in seconds.
    pub quiet_for: u64,
}

/// Why a token may not be revoked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Rules use the kept token and this is the account's newest or only token: it may be
    /// the kept one.
    NewestWhileKeptInUse,
    /// Rules use the kept token and no rotation on this machine moved them to it from
    /// another token: nothing tells which token id is the kept one.
    NoRotationToKept,
    /// Its `lastActiveAt` is missing or unreadable.
    ActivityUnknown,
    /// Rules use the kept token, and this one was active at or after the start of the
    /// rotation that moved them to it: it may be the kept one (that rotation logged in with
    /// it), or still be used elsewhere.
    ActiveSinceRotationBegan { last_active: i64, began: i64 },
    /// Active after the rotation that took it out of the rules ended: something else uses it.
    ActiveAfterRotation { last_active: i64, ended: i64 },
    /// No rotation on this machine, and active within `--quiet-for`.
    ActiveRecently { last_active: i64, quiet_for: u64 },
}

/// Whether the token may be revoked. See the module documentation for each rule.
pub fn decide(f: &Facts) -> Result<(), Refusal> {
    if f.rules_hold_kept {
        if !f.newer_token_exists {
            return Err(Refusal::NewestWhileKeptInUse);
        }
        let rotation = f.rotation.ok_or(Refusal::NoRotationToKept)?;
        let last_active = f.last_active.ok_or(Refusal::ActivityUnknown)?;
        if last_active >= rotation.began {
            return Err(Refusal::ActiveSinceRotationBegan {
                last_active,
                began: rotation.began,
            });
        }
        return Ok(());
    }
    let last_active = f.last_active.ok_or(Refusal::ActivityUnknown)?;
    match f.rotation {
        Some(r) if last_active > r.ended => Err(Refusal::ActiveAfterRotation {
            last_active,
            ended: r.ended,
        }),
        Some(_) => Ok(()),
        None if f.now.saturating_sub(last_active)
            < i64::try_from(f.quiet_for).unwrap_or(i64::MAX) =>
        {
            Err(Refusal::ActiveRecently {
                last_active,
                quiet_for: f.quiet_for,
            })
        }
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400;
    const NOW: i64 = 1_800_000_000;
    const ROTATION: Rotation = Rotation {
        began: NOW - 2 * DAY,
        ended: NOW - 2 * DAY + 600,
    };

    /// The usual case after a rotation: the old token, last used before it began.
    fn after_rotation() -> Facts {
        Facts {
            last_active: Some(ROTATION.began - DAY),
            rules_hold_kept: true,
            newer_token_exists: true,
            rotation: Some(ROTATION),
            now: NOW,
            quiet_for: 7 * DAY as u64,
        }
    }

    #[test]
    fn the_old_token_last_used_before_the_rotation_to_the_kept_one_may_go() {
        assert_eq!(decide(&after_rotation()), Ok(()));
    }

    #[test]
    fn while_rules_use_the_kept_token_its_possible_ids_are_refused() {
        // Finding: `--keep` naming the token the rules use, no rotation, an older target.
        let no_rotation = Facts {
            rotation: None,
            ..after_rotation()
        };
        assert_eq!(decide(&no_rotation), Err(Refusal::NoRotationToKept));
        // Even quiet for years: without a rotation nothing says it is not the kept one.
        let quiet = Facts {
            last_active: Some(NOW - 900 * DAY),
            ..no_rotation
        };
        assert_eq!(decide(&quiet), Err(Refusal::NoRotationToKept));
        let newest = Facts {
            newer_token_exists: false,
            ..after_rotation()
        };
        assert_eq!(decide(&newest), Err(Refusal::NewestWhileKeptInUse));
        // The kept token logged in when the rotation started: active at its start or after.
        for at in [ROTATION.began, ROTATION.began + 5, NOW] {
            let kept = Facts {
                last_active: Some(at),
                ..after_rotation()
            };
            assert_eq!(
                decide(&kept),
                Err(Refusal::ActiveSinceRotationBegan {
                    last_active: at,
                    began: ROTATION.began
                })
            );
        }
        let unknown = Facts {
            last_active: None,
            ..after_rotation()
        };
        assert_eq!(decide(&unknown), Err(Refusal::ActivityUnknown));
    }

    #[test]
    fn a_token_no_rule_uses_must_be_quiet_since_its_rotation_or_for_quiet_for() {
        let unused = Facts {
            rules_hold_kept: false,
            newer_token_exists: false,
            ..after_rotation()
        };
        assert_eq!(decide(&unused), Ok(()));
        let used_later = Facts {
            last_active: Some(ROTATION.ended + 1),
            ..unused.clone()
        };
        assert_eq!(
            decide(&used_later),
            Err(Refusal::ActiveAfterRotation {
                last_active: ROTATION.ended + 1,
                ended: ROTATION.ended
            })
        );
        let at_the_end = Facts {
            last_active: Some(ROTATION.ended),
            ..unused.clone()
        };
        assert_eq!(decide(&at_the_end), Ok(()));

        let no_rotation = |last_active| Facts {
            last_active,
            rotation: None,
            ..unused.clone()
        };
        assert_eq!(decide(&no_rotation(Some(NOW - 8 * DAY))), Ok(()));
        assert_eq!(decide(&no_rotation(Some(NOW - 7 * DAY))), Ok(()));
        assert_eq!(
            decide(&no_rotation(Some(NOW - 6 * DAY))),
            Err(Refusal::ActiveRecently {
                last_active: NOW - 6 * DAY,
                quiet_for: 7 * DAY as u64
            })
        );
        // A date in the future (a clock ahead) is recent, not quiet.
        assert!(decide(&no_rotation(Some(NOW + DAY))).is_err());
        assert_eq!(
            decide(&no_rotation(None)),
            Err(Refusal::ActivityUnknown),
            "no lastActiveAt is no proof"
        );
    }
}
