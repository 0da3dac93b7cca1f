//! One rotation's identity on disk: its backup directory and journal, shared by every run
//! that resumes it, created only when a first rule is backed up. (The per-site lock that
//! keeps two writing runs apart is [`crate::site_lock`]; the runs read back, for `backups`
//! and `revoke`, are [`crate::run_history`].)
//!
//! Why shaped so:
//! - A rotation is "site + account + new token". An interrupted run, a rerun after a
//!   failure and an `apply` of a plan all carry on the same rotation, so they write into
//!   the same backup directory and journal: `autorekey restore DIR` then undoes every rule
//!   the rotation ever wrote, not just the last run's. A rotation whose verdict was "revoke"
//!   is marked finished in its journal; a later run starts a new directory.
//! - A run that writes nothing leaves nothing behind: the directory is created on the first
//!   backup, so declining every rule, or finding nothing to do, creates no directory.
//! - A rotation across several sites and products is one rotation too: one directory and
//!   one journal (see `crate::backup` for its `sites/` layout), each target's backups and
//!   journal entries written through [`RunStore::part`]; it resumes only a run of the same
//!   targets.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde_json::Value;

use crate::backup::{same_origin, BackupRun, Manifest, TargetRef};
use crate::journal::{self, Journal, Step};
use crate::plan::Selector;
use crate::rule::Rule;
use crate::secret::{Fingerprint, Token};
use crate::write::WriteLog;

/// The backup directory and journal of one rotation, opened (or created) on first use.
pub struct RunStore {
    root: PathBuf,
    manifest: Manifest,
    open: Mutex<Option<(BackupRun, Journal)>>,
    resumed: Option<PathBuf>,
    /// Each target's backups in a run of several sites, by folder name, once made.
    parts: Mutex<std::collections::BTreeMap<String, BackupRun>>,
}

/// One target's share of a rotation across several sites and products: its rules are
/// backed up under the run's `sites/`, its steps journalled with its site and product.
pub struct PartStore<'a> {
    store: &'a RunStore,
    target: TargetRef,
}

impl RunStore {
    /// The store of the rotation `manifest` describes: the unfinished run of the same site,
    /// account and new token under `root` if there is one, else a new run created lazily.
    pub fn resume_or_new(root: &Path, manifest: Manifest) -> io::Result<RunStore> {
        let previous = previous_runs(root, &manifest)
            .into_iter()
            .rev()
            .find(|r| !r.finished);
        let (open, resumed) = match previous {
            Some(run) => {
                let backup = BackupRun::open(&run.dir)?;
                // Carrying on means writing more backups there: it must be private too.
                backup
                    .check_private()
                    .map_err(|e| io::Error::new(io::ErrorKind::PermissionDenied, e))?;
                let journal = Journal::open(&run.dir.join("journal.jsonl"))?;
                (Some((backup, journal)), Some(run.dir))
            }
            None => (None, None),
        };
        Ok(RunStore {
            root: root.to_path_buf(),
            manifest,
            open: Mutex::new(open),
            resumed,
            parts: Mutex::default(),
        })
    }

    /// The share of `target` (one of the manifest's targets) in this rotation.
    pub fn part(&self, target: &TargetRef) -> PartStore<'_> {
        PartStore {
            store: self,
            target: target.clone(),
        }
    }

    /// The directory of an earlier run this one carries on, if any.
    pub fn resumed(&self) -> Option<&Path> {
        self.resumed.as_deref()
    }

    /// The backup directory, once it exists.
    pub fn dir(&self) -> Option<PathBuf> {
        self.lock().as_ref().map(|(b, _)| b.dir().to_path_buf())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<(BackupRun, Journal)>> {
        self.open.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Back a rule up as read, creating the run's directory on the first backup.
    pub fn save(&self, uuid: &str, envelope: &Value) -> io::Result<()> {
        self.opened()?.save(uuid, envelope).map(|_| ())
    }

    /// The run's directory, created (with its journal) on first use.
    fn opened(&self) -> io::Result<BackupRun> {
        let mut open = self.lock();
        if open.is_none() {
            let backup = BackupRun::create(&self.root, &self.manifest)?;
            let journal = Journal::open(&backup.dir().join("journal.jsonl"))?;
            *open = Some((backup, journal));
        }
        Ok(open.as_ref().expect("opened above").0.clone())
    }

    /// [`WriteLog::record`] for a rule (id, name) of `target`, if the run has several.
    fn record_at(
        &self,
        target: Option<&TargetRef>,
        (uuid, name): (&str, &str),
        step: Step,
        detail: Option<String>,
    ) -> io::Result<()> {
        match self.lock().as_ref() {
            Some((_, journal)) => journal.record_at(target, uuid, name, step, detail),
            None => Ok(()),
        }
    }

    /// The account's old tokens (as `selector` selects them) in the rules this rotation
    /// backed up in earlier runs: what it replaced before this run. One entry per token,
    /// (identity, fingerprint shown), the plain fingerprint if any place showed it plain.
    pub fn earlier_old_tokens(
        &self,
        selector: &Selector,
        new_token: &Token,
    ) -> Vec<(Fingerprint, Fingerprint)> {
        let Some(dir) = &self.resumed else {
            return Vec::new();
        };
        // Only what an earlier run wrote over, as its journal says: it had confirmed those
        // as the account's. Another value of the account in a backed-up rule (planted, or
        // declined) was never confirmed, and must never be named for revoking.
        let replaced: std::collections::HashSet<String> = journal::read(&dir.join("journal.jsonl"))
            .unwrap_or_default()
            .iter()
            .flat_map(journal::Entry::replaced)
            .collect();
        let selector = &Selector {
            confirmed: None,
            ..selector.clone()
        };
        let findings: Vec<_> = every_saved_rule(dir)
            .iter()
            .flat_map(|saved| crate::detect::detect(saved.body()))
            .filter(|f| selector.matches(f) && f.token.as_ref() != Some(new_token))
            .filter(|f| {
                f.fingerprint()
                    .is_some_and(|fp| replaced.contains(fp.as_str()))
            })
            .collect();
        crate::detect::shown_per_token(&findings)
    }

    /// Record how this run ended, so `backups` can tell: finished (the verdict was to
    /// revoke: the next run starts anew), ended with rules that still need a person, or
    /// stopped with `not_attempted` rules never tried (a rerun carries on here either way).
    /// A run that created no directory wrote nothing, and records nothing.
    pub fn end(&self, not_attempted: usize, revokes: bool) -> io::Result<()> {
        let step = match (not_attempted, revokes) {
            (0, true) => Step::Finished,
            (0, false) => Step::Ended,
            _ => Step::Stopped,
        };
        match self.lock().as_ref() {
            Some((_, journal)) => journal.end(step, not_attempted),
            None => Ok(()),
        }
    }
}

/// Every rule a run backed up, its targets' included (a run of several sites); a run
/// that cannot be read gives none.
fn every_saved_rule(dir: &Path) -> Vec<crate::rule::Rule> {
    let Ok(run) = BackupRun::open(dir) else {
        return Vec::new();
    };
    let parts = run.parts().unwrap_or_default().into_iter().map(|(_, p)| p);
    std::iter::once(run.clone())
        .chain(parts)
        .flat_map(|b| b.saved_rules().unwrap_or_default())
        .collect()
}

impl PartStore<'_> {
    /// Back a rule of this target up as read, creating the run's directory and the
    /// target's folder in it on first use.
    pub fn save(&self, uuid: &str, envelope: &Value) -> io::Result<()> {
        let run = self.store.opened()?;
        let mut parts = self.store.parts.lock().unwrap_or_else(|p| p.into_inner());
        let name = self.target.dir_name();
        if !parts.contains_key(&name) {
            let part = match run.part(&self.target)? {
                Some(part) => {
                    part.check_private()
                        .map_err(|e| io::Error::new(io::ErrorKind::PermissionDenied, e))?;
                    part
                }
                None => run.create_part(&self.target, &self.manifest())?,
            };
            parts.insert(name.clone(), part);
        }
        parts[&name].save(uuid, envelope).map(|_| ())
    }

    /// The manifest of this target's folder: the run's, for this one site and product.
    fn manifest(&self) -> Manifest {
        Manifest {
            site: self.target.site.clone(),
            product: self.target.product.clone(),
            targets: Vec::new(),
            ..self.store.manifest.clone()
        }
    }
}

/// An earlier run of the same rotation.
pub struct PreviousRun {
    pub dir: PathBuf,
    pub finished: bool,
}

/// Runs under `root` of the same site, account and new token (restore's safety copies
/// excluded), oldest first.
pub fn previous_runs(root: &Path, manifest: &Manifest) -> Vec<PreviousRun> {
    let mut runs: Vec<(String, PreviousRun)> = std::fs::read_dir(root)
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter_map(|dir| {
            let found = BackupRun::open(&dir).and_then(|b| b.manifest()).ok()?;
            // A run of several sites is known by its targets, in whatever order given.
            let site = manifest.targets.is_empty().then_some(&manifest.site);
            let same = site.is_none_or(|site| same_origin(&found.site, site))
                && found.account.eq_ignore_ascii_case(&manifest.account)
                && found.new_fingerprint == manifest.new_fingerprint
                && same_targets(&found.targets, &manifest.targets)
                && !found.tool.ends_with(" restore");
            if !same {
                return None;
            }
            let entries = journal::read(&dir.join("journal.jsonl")).unwrap_or_default();
            let finished = entries.last().is_some_and(|e| e.step == Step::Finished);
            Some((found.started_at, PreviousRun { dir, finished }))
        })
        .collect();
    runs.sort_by(|a, b| (&a.0, &a.1.dir).cmp(&(&b.0, &b.1.dir)));
    runs.into_iter().map(|(_, r)| r).collect()
}

/// The same sites and products, in any order (none, for two runs of one site).
fn same_targets(a: &[TargetRef], b: &[TargetRef]) -> bool {
    a.len() == b.len()
        && a.iter()
            .all(|t| b.iter().any(|u| u.is(&t.site, &t.product)))
}

/// A rotation's backups and journal (shared by the runs that resume it).
impl WriteLog for RunStore {
    fn save(&self, rule: &Rule) -> io::Result<()> {
        RunStore::save(self, rule.uuid(), &rule.envelope())
    }

    /// Journal a step. Before the first backup there is no directory, and nothing was
    /// written, so there is nothing to record either.
    fn record(&self, uuid: &str, name: &str, step: Step, detail: Option<String>) -> io::Result<()> {
        self.record_at(None, (uuid, name), step, detail)
    }
}

/// One target's share of a rotation across several sites and products.
impl WriteLog for PartStore<'_> {
    fn save(&self, rule: &Rule) -> io::Result<()> {
        PartStore::save(self, rule.uuid(), &rule.envelope())
    }

    /// Journal a step of a rule of this target (nothing before the first backup).
    fn record(&self, uuid: &str, name: &str, step: Step, detail: Option<String>) -> io::Result<()> {
        (self.store).record_at(Some(&self.target), (uuid, name), step, detail)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backup;

    fn manifest(new_fp: &str, tool: &str) -> Manifest {
        Manifest {
            site: "https://acme.atlassian.net".into(),
            product: "jira".into(),
            account: "svc@x.io".into(),
            new_fingerprint: new_fp.into(),
            started_at: backup::now_rfc3339(),
            tool: tool.into(),
            targets: Vec::new(),
        }
    }

    #[test]
    fn a_run_that_writes_nothing_leaves_nothing_and_a_resumed_run_shares_the_directory() {
        let root = tempfile::tempdir().unwrap();
        let store = RunStore::resume_or_new(root.path(), manifest("n1", "autorekey")).unwrap();
        store.record("a", "A", Step::Declined, None).unwrap();
        assert!(store.dir().is_none());
        assert_eq!(std::fs::read_dir(root.path()).unwrap().count(), 0);
        store.save("a", &serde_json::json!({"rule": {}})).unwrap();
        let first = store.dir().unwrap();
        drop(store);
        // Same rotation: resumed. Another new token, or a restore copy: not.
        let again = RunStore::resume_or_new(root.path(), manifest("n1", "autorekey")).unwrap();
        assert_eq!(again.resumed(), Some(first.as_path()));
        let other = RunStore::resume_or_new(root.path(), manifest("n2", "autorekey")).unwrap();
        assert!(other.resumed().is_none());
        again.end(0, true).unwrap();
        let after = RunStore::resume_or_new(root.path(), manifest("n1", "autorekey")).unwrap();
        assert!(
            after.resumed().is_none(),
            "a finished rotation is not resumed"
        );
        assert_eq!(previous_runs(root.path(), &manifest("n1", "x")).len(), 1);
    }

    #[test]
    fn a_run_of_several_sites_keeps_each_sites_rules_apart_and_resumes_only_the_same_sites() {
        let root = tempfile::tempdir().unwrap();
        let target = |site: &str, product: &str| TargetRef {
            site: site.into(),
            product: product.into(),
        };
        let (a, b) = (
            target("https://a.example", "jira"),
            target("https://b.example", "jira"),
        );
        let several = |targets: Vec<TargetRef>| Manifest {
            site: targets[0].site.clone(),
            targets,
            ..manifest("n1", "autorekey")
        };
        let store =
            RunStore::resume_or_new(root.path(), several(vec![a.clone(), b.clone()])).unwrap();
        for (t, body) in [(&a, "on a"), (&b, "on b")] {
            let part = store.part(t);
            part.save("r1", &serde_json::json!({"rule": {"name": body}}))
                .unwrap();
            part.record("r1", body, Step::Writing, None).unwrap();
        }
        let dir = store.dir().unwrap();
        let run = BackupRun::open(&dir).unwrap();
        let parts = run.parts().unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[1].1.manifest().unwrap().site, "https://b.example");
        let saved = parts[1].1.saved_rules().unwrap();
        assert_eq!(saved[0].body()["name"], "on b");
        let entries = journal::read(&dir.join("journal.jsonl")).unwrap();
        assert!(entries[1].is_of(&b) && !entries[1].is_of(&a));
        assert_eq!(journal::unfinished(&entries).len(), 2, "one per site");
        drop(store);
        // The same sites in another order resume it; one of them alone, or none, do not.
        let again = RunStore::resume_or_new(root.path(), several(vec![b.clone(), a.clone()]));
        assert_eq!(again.unwrap().resumed(), Some(dir.as_path()));
        let one = RunStore::resume_or_new(root.path(), several(vec![a.clone()])).unwrap();
        assert!(one.resumed().is_none());
        let single = RunStore::resume_or_new(root.path(), manifest("n1", "autorekey")).unwrap();
        assert!(single.resumed().is_none());
    }
}
