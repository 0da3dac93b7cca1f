//! The journal: one line per step of a rotation, appended and flushed as it happens.
//!
//! It holds no secret (rule ids, names, outcomes), so it can be read, attached to a ticket
//! or kept for an audit. After a crash or a kill it says which rules were done: a `writing`
//! line with no outcome after it marks a rule whose write may or may not have landed. A
//! rerun does not need it to be safe, since it re-reads every rule before deciding
//! anything; the journal is the record for the admin.
//!
//! It is append-only JSON Lines, opened without following a link (a journal swapped for a
//! link cannot make autorekey append elsewhere) and kept 0600. A line torn by a crash is
//! closed off before the next append, and skipped when reading, so it never hides the
//! entries around it.
//!
//! A rotation across several sites and products keeps one journal: each rule's entry then
//! names its `site` and `product` (a run of one site writes neither, as before), so rules
//! of two sites that share an id are never mistaken for one.

use std::io::{self, BufRead, Write};
use std::path::Path;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::backup::TargetRef;
use crate::outcome::Kind;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// Backed up; the write is about to be sent.
    Writing,
    /// Written and read back as intended.
    Verified,
    /// Written, but the read-back shows something else changed too.
    Attention,
    LeftAlone,
    Failed,
    Declined,
    /// Written back from a backup by `restore`.
    Restored,
    /// The rotation ended with every rule done (no rule named): a later run of the same
    /// rotation starts a new backup directory instead of resuming this one.
    Finished,
    /// A run went through every rule, but some still need a person (left alone, failed,
    /// declined): a rerun carries on in this directory.
    Ended,
    /// A run stopped (Ctrl-C, quit, a refused login) with `not_attempted` rules never
    /// tried: a rerun carries on in this directory.
    Stopped,
    /// A restore ended (no rule named) with `restored` of the backup's `of` rules as backed
    /// up: only all of them makes the run `restored`, a quit or a no leaves it partly so.
    RestoreEnded,
}

/// The journal step that records an outcome; `None` for what needs no record (a rule never
/// tried, or already current: nothing was done to it).
pub fn step_of(kind: &Kind) -> Option<Step> {
    match kind {
        Kind::Rotated { .. } => Some(Step::Verified),
        Kind::Restored => Some(Step::Restored),
        Kind::Attention { .. } => Some(Step::Attention),
        Kind::LeftAlone { .. } => Some(Step::LeftAlone),
        Kind::Failed { .. } => Some(Step::Failed),
        Kind::Declined => Some(Step::Declined),
        Kind::NotAttempted { .. } | Kind::AlreadyCurrent => None,
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Entry {
    pub at: String,
    pub rule_uuid: String,
    pub rule_name: String,
    pub step: Step,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// For [`Step::Stopped`]: how many rules the run never tried.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_attempted: Option<usize>,
    /// For [`Step::RestoreEnded`]: how many of the backup's rules are as backed up...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restored: Option<usize>,
    /// ...of how many rules the backup holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub of: Option<usize>,
    /// In a run of several sites and products: the site of the rule...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site: Option<String>,
    /// ...and its product.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product: Option<String>,
}

pub struct Journal {
    file: Mutex<std::fs::File>,
}

impl Journal {
    pub fn open(path: &Path) -> io::Result<Journal> {
        let file = crate::files::open_append_lines(path)?;
        Ok(Journal {
            file: Mutex::new(file),
        })
    }

    /// Append one entry for a rule (of `target` in a run of several sites and products) and
    /// flush it to disk before the caller goes on.
    pub fn record_at(
        &self,
        target: Option<&TargetRef>,
        uuid: &str,
        name: &str,
        step: Step,
        detail: Option<String>,
    ) -> io::Result<()> {
        self.append(Entry {
            rule_uuid: uuid.to_string(),
            rule_name: name.to_string(),
            detail,
            site: target.map(|t| t.site.clone()),
            product: target.map(|t| t.product.clone()),
            ..Entry::end(step)
        })
    }

    /// Record how a run ended (no rule named): finished, or stopped with `not_attempted`
    /// rules never tried (see [`run_end`]).
    pub fn end(&self, step: Step, not_attempted: usize) -> io::Result<()> {
        self.append(Entry {
            not_attempted: (step == Step::Stopped).then_some(not_attempted),
            ..Entry::end(step)
        })
    }

    /// Record how a restore ended: `restored` of the backup's `of` rules are now as backed
    /// up (restored, or found so).
    pub fn end_restore(&self, restored: usize, of: usize) -> io::Result<()> {
        self.append(Entry {
            restored: Some(restored),
            of: Some(of),
            ..Entry::end(Step::RestoreEnded)
        })
    }

    fn append(&self, entry: Entry) -> io::Result<()> {
        let mut line = serde_json::to_vec(&entry)?;
        line.push(b'\n');
        let mut file = self.file.lock().unwrap_or_else(|p| p.into_inner());
        file.write_all(&line)?;
        file.sync_data()
    }
}

/// How a `writing` entry of a rotation names the old tokens the write replaces (by the
/// fingerprint each place shows; the journal holds no secret): a rerun names for revoking
/// only what an earlier run wrote over, never another value of the account that sat beside
/// it unconfirmed.
const REPLACES: &str = "replaces old tokens: ";

/// The `detail` of a rotation's `writing` entry.
pub fn replaces_detail(fingerprints: &[String]) -> Option<String> {
    (!fingerprints.is_empty()).then(|| format!("{REPLACES}{}", fingerprints.join(", ")))
}

impl Entry {
    /// An entry of `step` stamped now, naming no rule and counting nothing.
    fn end(step: Step) -> Entry {
        Entry {
            at: crate::backup::now_rfc3339(),
            rule_uuid: String::new(),
            rule_name: String::new(),
            step,
            detail: None,
            not_attempted: None,
            restored: None,
            of: None,
            site: None,
            product: None,
        }
    }

    /// Whether this entry is about a rule of `target` (for a run of several sites).
    pub fn is_of(&self, target: &TargetRef) -> bool {
        let (site, product) = (self.site.as_deref(), self.product.as_deref());
        site.zip(product).is_some_and(|(s, p)| target.is(s, p))
    }

    /// The old tokens a `writing` entry says its write replaces.
    pub fn replaced(&self) -> Vec<String> {
        let listed = (self.step == Step::Writing)
            .then(|| self.detail.as_deref()?.strip_prefix(REPLACES))
            .flatten();
        listed.map_or_else(Vec::new, |l| l.split(", ").map(str::to_owned).collect())
    }
}

/// Every entry of a journal file, read as a stream (it is never loaded whole). A line that
/// is not an entry (torn by a crash, or not UTF-8) is skipped; the ones after it are read.
/// A link, FIFO or device in its place is refused.
pub fn read(path: &Path) -> io::Result<Vec<Entry>> {
    let file = crate::files::open_regular(path, crate::files::Links::Refuse)?;
    let mut entries = Vec::new();
    for line in io::BufReader::new(file).split(b'\n') {
        if let Ok(entry) = serde_json::from_slice(&line?) {
            entries.push(entry);
        }
    }
    Ok(entries)
}

/// Rules whose last entry is `writing`: the write may or may not have landed.
pub fn unfinished(entries: &[Entry]) -> Vec<String> {
    // Keyed by site and product too: two sites' rules may share an id.
    let mut last: std::collections::BTreeMap<(&str, Option<&str>, Option<&str>), Step> =
        Default::default();
    for e in entries {
        let key = (
            e.rule_uuid.as_str(),
            e.site.as_deref(),
            e.product.as_deref(),
        );
        last.insert(key, e.step);
    }
    last.into_iter()
        .filter(|(_, s)| *s == Step::Writing)
        .map(|((u, _, _), _)| u.to_string())
        .collect()
}

/// How the runs recorded in a journal left it, as `autorekey backups` says it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunEnd {
    /// The last run went through every rule.
    Finished,
    /// The last run stopped: mid-write, by Ctrl-C or a quit (`not_attempted` rules never
    /// tried), or killed before it could say (`None`).
    Interrupted { not_attempted: Option<usize> },
    /// A restore put every rule of the backup back after the last rotation run (or, in a
    /// journal from before restores recorded their end, wrote some back).
    Restored,
    /// A restore ended with only `restored` of the backup's `of` rules as backed up (a quit,
    /// a no, a failure, or only some rules selected).
    PartlyRestored { restored: usize, of: usize },
}

/// How the journal's last run ended. A run records its end; rule steps after the last end
/// record (or none at all) mean a run that never reached its end: interrupted.
pub fn run_end(entries: &[Entry]) -> RunEnd {
    let interrupted = |not_attempted| RunEnd::Interrupted { not_attempted };
    if !unfinished(entries).is_empty() {
        return interrupted(None);
    }
    // The last end record, or the last write (a write after every end record is a run
    // that never said how it ended).
    let last = entries.iter().rev().find(|e| {
        matches!(
            e.step,
            Step::Finished
                | Step::Ended
                | Step::Stopped
                | Step::RestoreEnded
                | Step::Restored
                | Step::Verified
                | Step::Attention
        )
    });
    match last.map(|e| (e.step, e.not_attempted)) {
        Some((Step::RestoreEnded, _)) => match last.and_then(|e| e.restored.zip(e.of)) {
            Some((restored, of)) if restored < of => RunEnd::PartlyRestored { restored, of },
            _ => RunEnd::Restored,
        },
        Some((Step::Restored, _)) => RunEnd::Restored,
        Some((Step::Finished | Step::Ended, _)) => RunEnd::Finished,
        Some((Step::Stopped, n)) => interrupted(n),
        // Nothing written and no end recorded: nothing to finish.
        None => RunEnd::Finished,
        // A rule written after the last end record: that run never ended.
        Some(_) => interrupted(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_survive_and_unfinished_writes_are_found() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.jsonl");
        let j = Journal::open(&path).unwrap();
        j.record_at(None, "a", "A", Step::Writing, None).unwrap();
        j.record_at(None, "a", "A", Step::Verified, None).unwrap();
        j.record_at(None, "b", "B", Step::Writing, None).unwrap();
        drop(j);
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"{\"torn")
            .unwrap();
        let entries = read(&path).unwrap();
        assert_eq!(entries.len(), 3);
        assert_eq!(unfinished(&entries), vec!["b".to_string()]);
        // The next run appends after the torn line, not onto it.
        Journal::open(&path)
            .unwrap()
            .record_at(None, "b", "B", Step::Verified, None)
            .unwrap();
        let entries = read(&path).unwrap();
        assert_eq!(entries.len(), 4);
        assert!(unfinished(&entries).is_empty());
    }

    #[test]
    fn a_corrupt_line_hides_nothing_and_a_link_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.jsonl");
        Journal::open(&path)
            .unwrap()
            .record_at(None, "a", "A", Step::Writing, None)
            .unwrap();
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        f.write_all(b"\xff\xfe not utf-8\n").unwrap();
        drop(f);
        Journal::open(&path)
            .unwrap()
            .record_at(None, "a", "A", Step::Verified, None)
            .unwrap();
        assert_eq!(read(&path).unwrap().len(), 2);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let link = dir.path().join("link.jsonl");
        std::os::unix::fs::symlink(&path, &link).unwrap();
        assert!(Journal::open(&link).is_err());
        assert!(read(&link).is_err());
    }
}
