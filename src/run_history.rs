//! The backup runs under a backup root, read-only: what `autorekey backups` lists.
//!
//! Kept out of [`crate::backup`] (which writes runs) so that listing can never create,
//! widen or repair anything: it only opens what is there through the same readers
//! `restore` uses ([`BackupRun::open`] for the checked manifest, [`journal::read`] for the
//! journal). A folder that is not a readable run is listed with the reason, not skipped,
//! so an admin looking for a backup sees everything that is there.
//! [`rotations`] reads the same runs as evidence for `revoke`: which rotations moved an
//! account's rules to which new token, and when. (The runs are written by
//! [`crate::rotation_store`]; this module only reads their history.)

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::backup::{BackupRun, TargetRef, SITES};
use crate::journal::{self, RunEnd};

/// One run directory, as `backups` shows it. By default: nothing read, unreadable.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct RunInfo {
    /// The directory's name, which is what `restore` is given (under the root).
    pub run: String,
    pub dir: PathBuf,
    pub site: Option<String>,
    /// A rotation across several sites and products: each of them, as `site · product`
    /// (`site` is the first one's). Empty and not written for a run of one site.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sites: Vec<String>,
    pub account: Option<String>,
    pub started_at: Option<String>,
    /// Rule files saved in `rules/` (every target's, for a run of several sites).
    pub rules: usize,
    pub state: RunState,
    /// For an interrupted run that said so: how many rules it never tried.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_attempted: Option<usize>,
    /// For a partly restored run: how many of its rules are as backed up, of how many.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restored: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub of: Option<usize>,
    /// Why the run cannot be read, for [`RunState::Unreadable`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunState {
    /// The last run went through every rule (see the summary it printed for any that
    /// still need a person).
    Finished,
    /// The last run stopped before the end (rerun it): mid-write, by Ctrl-C or a quit
    /// (with the rules it never tried), or killed before it could say.
    Interrupted,
    /// A restore put every backed-up rule back after the rotation.
    Restored,
    /// A restore put only some of them back (a quit, a no, a failure, a rule selected).
    PartlyRestored,
    /// No journal: the run stopped before its first write was journalled, or it is the
    /// folder where a restore saved the versions it replaced (it keeps no journal).
    NoJournal,
    /// Not a run autorekey can read (no manifest, a bad checksum, not a folder...): what a
    /// run is until its manifest is read.
    #[default]
    Unreadable,
}

impl RunState {
    /// The state's name, as JSON says it.
    pub fn as_str(self) -> &'static str {
        match self {
            RunState::Finished => "finished",
            RunState::Interrupted => "interrupted",
            RunState::Restored => "restored",
            RunState::PartlyRestored => "partly_restored",
            RunState::NoJournal => "no_journal",
            RunState::Unreadable => "unreadable",
        }
    }

    /// The state as the table words it: JSON's name with spaces, read by a person.
    pub fn label(self) -> String {
        self.as_str().replace('_', " ")
    }
}

/// Every run under `root`, newest first (by start time, then name). A missing root is an
/// empty list: nothing was backed up yet. Links in the root are not followed.
pub fn list(root: &Path) -> io::Result<Vec<RunInfo>> {
    let mut runs: Vec<RunInfo> = run_dirs(root)?.iter().map(|d| read_run(d)).collect();
    runs.sort_by(|a, b| (&b.started_at, &b.run).cmp(&(&a.started_at, &a.run)));
    Ok(runs)
}

/// The folders under `root` (links in it not followed); a missing root has none.
fn run_dirs(root: &Path) -> io::Result<Vec<PathBuf>> {
    let entries = match fs::read_dir(root) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    Ok(entries
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path())
        .collect())
}

fn read_run(dir: &Path) -> RunInfo {
    let mut info = RunInfo {
        run: dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        dir: dir.to_path_buf(),
        ..RunInfo::default()
    };
    let manifest = match BackupRun::open(dir).and_then(|run| run.manifest()) {
        Ok(m) => m,
        Err(e) => {
            info.problem = Some(format!("manifest.json: {e}"));
            return info;
        }
    };
    info.sites = manifest.targets.iter().map(TargetRef::label).collect();
    info.rules = count_rule_files(&dir.join("rules"))
        + (manifest.targets.iter())
            .map(|t| count_rule_files(&dir.join(SITES).join(t.dir_name()).join("rules")))
            .sum::<usize>();
    info.site = Some(manifest.site);
    info.account = Some(manifest.account);
    info.started_at = Some(manifest.started_at);
    match journal::read(&dir.join("journal.jsonl")) {
        Ok(entries) => {
            info.state = match journal::run_end(&entries) {
                RunEnd::Finished => RunState::Finished,
                RunEnd::Restored => RunState::Restored,
                RunEnd::PartlyRestored { restored, of } => {
                    (info.restored, info.of) = (Some(restored), Some(of));
                    RunState::PartlyRestored
                }
                RunEnd::Interrupted { not_attempted } => {
                    info.not_attempted = not_attempted;
                    RunState::Interrupted
                }
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => info.state = RunState::NoJournal,
        Err(e) => info.problem = Some(format!("journal.jsonl: {e}")),
    }
    info
}

/// A rotation recorded under a backup root: a run of `rotate` or `apply` (not the copy a
/// restore keeps) whose journal says it wrote at least one rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RotationRecord {
    pub site: String,
    pub account: String,
    /// The fingerprint of the token it wrote into the rules.
    pub new_fingerprint: String,
    /// When its first run started (the manifest's `started_at`).
    pub began: String,
    /// Its last journal entry.
    pub ended: String,
}

/// Every rotation under `root` that wrote a rule; unreadable runs are left out (they prove
/// nothing). A rotation across several sites gives one record per site it wrote a rule of.
pub fn rotations(root: &Path) -> Vec<RotationRecord> {
    let dirs = run_dirs(root).unwrap_or_default();
    dirs.iter().flat_map(|d| rotation_of(d)).collect()
}

fn rotation_of(dir: &Path) -> Vec<RotationRecord> {
    let Some((manifest, entries)) = BackupRun::open(dir)
        .and_then(|run| run.manifest())
        .ok()
        .filter(|m| !m.tool.ends_with(" restore"))
        .and_then(|m| Some((m, journal::read(&dir.join("journal.jsonl")).ok()?)))
    else {
        return Vec::new();
    };
    let wrote = |of: &dyn Fn(&journal::Entry) -> bool| {
        entries
            .iter()
            .any(|e| matches!(e.step, journal::Step::Verified | journal::Step::Attention) && of(e))
    };
    let Some(ended) = entries.last().map(|e| e.at.clone()) else {
        return Vec::new();
    };
    let record = |site: &str| RotationRecord {
        site: site.to_owned(),
        account: manifest.account.clone(),
        new_fingerprint: manifest.new_fingerprint.clone(),
        began: manifest.started_at.clone(),
        ended: ended.clone(),
    };
    if manifest.targets.is_empty() {
        return match wrote(&|_| true) {
            true => vec![record(&manifest.site)],
            false => Vec::new(),
        };
    }
    // Only the sites the journal shows a rule of written to: a site of the run where
    // nothing was written proves nothing about its rules.
    let mut sites: Vec<&str> = Vec::new();
    for t in &manifest.targets {
        if wrote(&|e| e.is_of(t)) && !sites.contains(&t.site.as_str()) {
            sites.push(&t.site);
        }
    }
    sites.into_iter().map(record).collect()
}

fn count_rule_files(rules: &Path) -> usize {
    fs::read_dir(rules).map_or(0, |entries| {
        entries
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().ends_with(".json"))
            .count()
    })
}

/// The runs as an aligned table, one line each, with the reason under an unreadable one.
pub fn table(runs: &[RunInfo]) -> String {
    let dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    let mut rows = vec![[
        "RUN".to_string(),
        "SITE".into(),
        "ACCOUNT".into(),
        "STARTED".into(),
        "RULES".into(),
        "STATE".into(),
    ]];
    for r in runs {
        let site = match r.sites.is_empty() {
            true => dash(&r.site),
            false => r.sites.join(", "),
        };
        rows.push([
            r.run.clone(),
            site,
            dash(&r.account),
            dash(&r.started_at),
            r.rules.to_string(),
            match (r.not_attempted, r.restored.zip(r.of)) {
                (Some(n), _) => format!("{} ({n} not attempted)", r.state.label()),
                (None, Some((n, of))) => format!("{} ({n} of {of})", r.state.label()),
                (None, None) => r.state.label(),
            },
        ]);
    }
    let widths: Vec<usize> = (0..6)
        .map(|c| {
            rows.iter()
                .map(|row| row[c].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for (i, row) in rows.iter().enumerate() {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
        if let Some(problem) = i.checked_sub(1).and_then(|r| runs[r].problem.as_ref()) {
            out.push_str(&format!("    {problem}\n"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backup::Manifest;
    use crate::journal::{Journal, Step};

    fn manifest(started_at: &str) -> Manifest {
        Manifest {
            site: "https://acme.atlassian.net".into(),
            product: "jira".into(),
            account: "svc@acme.example".into(),
            new_fingerprint: "0123456789ab".into(),
            started_at: started_at.into(),
            tool: "test".into(),
            targets: Vec::new(),
        }
    }

    #[test]
    fn a_run_of_several_sites_is_listed_once_and_is_evidence_for_each_site_it_wrote() {
        let root = tempfile::tempdir().unwrap();
        let root = root.path().join("backups");
        let target = |site: &str| TargetRef {
            site: site.into(),
            product: "jira".into(),
        };
        let (a, b, c) = (
            target("https://a.example/"),
            target("https://b.example/"),
            target("https://c.example/"),
        );
        let manifest = Manifest {
            targets: vec![a.clone(), b.clone(), c.clone()],
            ..manifest("2026-03-01T00:00:00Z")
        };
        let run = BackupRun::create(&root, &manifest).unwrap();
        for t in [&a, &b] {
            let part = run.create_part(t, &manifest).unwrap();
            // The same rule id on both sites: each in its own folder.
            part.save("r1", &serde_json::json!({"rule": {}})).unwrap();
        }
        let j = Journal::open(&run.dir().join("journal.jsonl")).unwrap();
        j.record_at(Some(&a), "r1", "R1", Step::Writing, None)
            .unwrap();
        j.record_at(Some(&a), "r1", "R1", Step::Verified, None)
            .unwrap();
        j.record_at(Some(&b), "r1", "R1", Step::Writing, None)
            .unwrap();
        // Site B's write never ended: interrupted, whatever site A's entry says.
        assert_eq!(list(&root).unwrap()[0].state, RunState::Interrupted);
        j.record_at(Some(&b), "r1", "R1", Step::Failed, None)
            .unwrap();
        j.end(Step::Ended, 0).unwrap();

        let runs = list(&root).unwrap();
        assert_eq!(runs.len(), 1);
        assert_eq!((runs[0].rules, runs[0].state), (2, RunState::Finished));
        assert_eq!(runs[0].sites.len(), 3);
        assert!(table(&runs).contains("https://a.example · jira, https://b.example · jira"));
        // Evidence for site A only: nothing was written on B or C.
        let records = rotations(&root);
        let sites: Vec<&str> = records.iter().map(|r| r.site.as_str()).collect();
        assert_eq!(sites, ["https://a.example/"]);
        assert_eq!(records[0].began, "2026-03-01T00:00:00Z");
    }

    #[test]
    fn runs_are_listed_newest_first_with_their_state() {
        let root = tempfile::tempdir().unwrap();
        let root = root.path().join("backups");
        assert!(list(&root).unwrap().is_empty(), "no root yet is no runs");
        let old = BackupRun::create(&root, &manifest("2026-01-01T00:00:00Z")).unwrap();
        old.save("r1", &serde_json::json!({"rule": {}})).unwrap();
        old.save("r2", &serde_json::json!({"rule": {}})).unwrap();
        let j = Journal::open(&old.dir().join("journal.jsonl")).unwrap();
        j.record_at(None, "r1", "R1", Step::Writing, None).unwrap();
        j.record_at(None, "r1", "R1", Step::Verified, None).unwrap();
        j.record_at(None, "r2", "R2", Step::Writing, None).unwrap();
        let new = BackupRun::create(&root, &manifest("2026-02-01T00:00:00Z")).unwrap();
        std::fs::create_dir(root.join("stray")).unwrap();

        let runs = list(&root).unwrap();
        let states: Vec<_> = runs.iter().map(|r| (r.rules, r.state)).collect();
        assert_eq!(
            states,
            [
                (0, RunState::NoJournal),
                (2, RunState::Interrupted),
                (0, RunState::Unreadable)
            ]
        );
        assert_eq!(runs[0].dir, new.dir());
        assert_eq!(runs[1].account.as_deref(), Some("svc@acme.example"));

        let j = Journal::open(&old.dir().join("journal.jsonl")).unwrap();
        j.record_at(None, "r2", "R2", Step::Verified, None).unwrap();
        // Written, but no end recorded: a run killed before it could say.
        assert_eq!(list(&root).unwrap()[1].state, RunState::Interrupted);
        // Ctrl-C with rules never tried: interrupted, and how many.
        j.end(Step::Stopped, 18).unwrap();
        let stopped = &list(&root).unwrap()[1];
        assert_eq!(stopped.state, RunState::Interrupted);
        assert_eq!(stopped.not_attempted, Some(18));
        assert!(table(&list(&root).unwrap()).contains("interrupted (18 not attempted)"));
        // The rerun went through every rule.
        j.record_at(None, "r3", "R3", Step::Verified, None).unwrap();
        j.end(Step::Ended, 0).unwrap();
        let ended = &list(&root).unwrap()[1];
        assert_eq!(
            (ended.state, ended.not_attempted),
            (RunState::Finished, None)
        );
        let rotations = rotations(&root);
        assert_eq!(rotations.len(), 1, "only the run that wrote: {rotations:?}");
        assert_eq!(rotations[0].began, "2026-01-01T00:00:00Z");
        assert_eq!(rotations[0].new_fingerprint, "0123456789ab");
        assert!(rotations[0].ended.as_str() > "2026-01-01", "{rotations:?}");
        let table = table(&list(&root).unwrap());
        assert!(table.starts_with("RUN "), "{table}");
        assert!(table.contains("\n    manifest.json: "), "{table}");
        // A restore wrote the rules back.
        j.record_at(None, "r1", "R1", Step::Restored, Some("restore".into()))
            .unwrap();
        assert_eq!(list(&root).unwrap()[1].state, RunState::Restored);
        // A restore that put back only some of the backup's rules says how many.
        j.end_restore(1, 2).unwrap();
        let partly = &list(&root).unwrap()[1];
        assert_eq!(
            (partly.state, partly.restored, partly.of),
            (RunState::PartlyRestored, Some(1), Some(2))
        );
        let text = super::table(&list(&root).unwrap());
        assert!(text.contains("partly restored (1 of 2)"), "{text}");
        assert!(text.contains("no journal"), "{text}");
        j.end_restore(2, 2).unwrap();
        assert_eq!(list(&root).unwrap()[1].state, RunState::Restored);
    }
}
