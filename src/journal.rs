//! The journal: one line per step of a rotation, appended and flushed as it happens.
//!
//! It holds no secret (rule ids, names, outcomes), so it can be read, attached to a ticket
//! or kept for an audit. After a crash or a kill it says which rules were done: a `writing`
//! line with no outcome after it marks a rule whose write may or may not have landed. A
//! rerun does not need it to be safe, since it re-reads every rule before deciding
//! anything; the journal is the record for the admin.

use std::fs::OpenOptions;
use std::io::{self, BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

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
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Entry {
    pub at: String,
    pub rule_uuid: String,
    pub rule_name: String,
    pub step: Step,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

pub struct Journal {
    path: PathBuf,
    file: Mutex<std::fs::File>,
}

impl Journal {
    pub fn open(path: &Path) -> io::Result<Journal> {
        let mut options = OpenOptions::new();
        options.create(true).append(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        Ok(Journal {
            path: path.to_path_buf(),
            file: Mutex::new(options.open(path)?),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Append one entry and flush it to disk before the caller goes on.
    pub fn record(
        &self,
        uuid: &str,
        name: &str,
        step: Step,
        detail: Option<String>,
    ) -> io::Result<()> {
        let entry = Entry {
            at: crate::backup::now_rfc3339(),
            rule_uuid: uuid.to_string(),
            rule_name: name.to_string(),
            step,
            detail,
        };
        let mut line = serde_json::to_vec(&entry)?;
        line.push(b'\n');
        let mut file = self.file.lock().unwrap_or_else(|p| p.into_inner());
        file.write_all(&line)?;
        file.sync_data()
    }
}

/// Every entry of a journal file; a torn last line (the process died mid-write) is skipped.
pub fn read(path: &Path) -> io::Result<Vec<Entry>> {
    let file = std::fs::File::open(path)?;
    Ok(io::BufReader::new(file)
        .lines()
        .map_while(Result::ok)
        .filter_map(|l| serde_json::from_str(&l).ok())
        .collect())
}

/// Rules whose last entry is `writing`: the write may or may not have landed.
pub fn unfinished(entries: &[Entry]) -> Vec<String> {
    let mut last: std::collections::BTreeMap<&str, Step> = Default::default();
    for e in entries {
        last.insert(&e.rule_uuid, e.step);
    }
    last.into_iter()
        .filter(|(_, s)| *s == Step::Writing)
        .map(|(u, _)| u.to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_survive_and_unfinished_writes_are_found() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.jsonl");
        let j = Journal::open(&path).unwrap();
        j.record("a", "A", Step::Writing, None).unwrap();
        j.record("a", "A", Step::Verified, None).unwrap();
        j.record("b", "B", Step::Writing, None).unwrap();
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
    }
}
