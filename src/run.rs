//! One rotation's identity on disk: its backup directory, shared by every run that resumes
//! it, created only when a first rule is backed up; and the per-site lock that keeps two
//! writing runs apart.
//!
//! Why shaped so:
//! - A rotation is "site + account + new token". An interrupted run, a rerun after a
//!   failure and an `apply` of a plan all carry on the same rotation, so they write into
//!   the same backup directory and journal: `autorekey restore DIR` then undoes every rule
//!   the rotation ever wrote, not just the last run's. A rotation whose verdict was "revoke"
//!   is marked finished in its journal; a later run starts a new directory.
//! - A run that writes nothing leaves nothing behind: the directory is created on the first
//!   backup, so declining every rule, or finding nothing to do, creates no directory.
//! - The Automation API has no locking, so two autorekey runs against one site would race
//!   each other's read-check-write. Every writing command (rotate, apply, restore, revoke)
//!   takes one lock per Automation tenant (product + cloud id, so no host spelling or
//!   address gets a second one): an OS advisory lock on an open file in the data
//!   directory. The OS releases it on any exit, so a crash or `kill -9` never blocks a later
//!   run, and no guess about whether a process is alive is needed; the file's text (who,
//!   since when) only words the refusal.
//! - A rotation across several sites and products is one rotation too: one directory and
//!   one journal (see `crate::backup` for its `sites/` layout), each target's backups and
//!   journal entries written through [`RunStore::part`]; it resumes only a run of the same
//!   targets.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::backup::{self, BackupRun, Manifest, TargetRef};
use crate::journal::{self, Journal, Step};
use crate::plan::Selector;
use crate::secret::{Fingerprint, Token};

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
        let backup = self.opened()?;
        backup.save(uuid, envelope).map(|_| ())
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

    /// Journal a step. Before the first backup there is no directory, and nothing was
    /// written, so there is nothing to record either.
    pub fn record(
        &self,
        uuid: &str,
        name: &str,
        step: Step,
        detail: Option<String>,
    ) -> io::Result<()> {
        self.record_at(None, (uuid, name), step, detail)
    }

    /// [`RunStore::record`] for a rule (id, name) of `target`, if the run has several.
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

    /// Journal a step of a rule of this target (nothing before the first backup).
    pub fn record(
        &self,
        uuid: &str,
        name: &str,
        step: Step,
        detail: Option<String>,
    ) -> io::Result<()> {
        (self.store).record_at(Some(&self.target), (uuid, name), step, detail)
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

fn same_origin(a: &str, b: &str) -> bool {
    let origin = |s: &str| url::Url::parse(s).ok().map(|u| u.origin());
    origin(a).is_some() && origin(a) == origin(b)
}

// ------------------------------------------------------------------ the per-site lock

/// Held while a run may write to a site: an OS advisory lock (`flock`) on an open file, so
/// the kernel releases it when the process ends, however it ends (`kill -9` included).
/// The file goes when the lock is dropped; a run that locked a file already unlinked (it
/// opened it just before) sees that and starts over, so two runs never hold two files of
/// one name.
#[derive(Debug)]
pub struct SiteLock {
    file: std::fs::File,
    path: PathBuf,
}

/// What a lock file says about its holder. Only for the `Busy` message: whether a run may
/// write is the OS lock's answer alone, so an empty, stale or damaged file never blocks.
#[derive(Debug, Serialize, Deserialize)]
pub struct Holder {
    pub pid: u32,
    pub started_at: String,
    pub command: String,
}

/// Which lock: one per Automation API tenant (product and cloud id), whatever host name
/// or address reached it (`localhost` and `127.0.0.1` are one site). An API base that does
/// not name its cloud id (not Atlassian's form: a test server given as `--api-base`) is
/// locked by its own address.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct LockKey {
    /// The lock file's name without `.lock`: nothing that could leave the directory.
    stem: String,
}

impl LockKey {
    /// The tenant's lock; `None` when the product or cloud id could change a path's meaning.
    pub fn tenant(product: &str, cloud_id: &str) -> Option<LockKey> {
        let safe = |s: &str| crate::gateway::is_cloud_id(s.trim());
        (safe(product) && safe(cloud_id)).then(|| LockKey {
            stem: format!("{}-{}", product.trim(), cloud_id.trim()).to_ascii_lowercase(),
        })
    }

    /// The lock of an API base that names no cloud id: a digest of its address.
    pub fn api_base(product: &str, base: &url::Url) -> LockKey {
        use sha2::Digest;
        let digest = hex::encode(sha2::Sha256::digest(base.as_str().as_bytes()));
        let product = crate::gateway::is_cloud_id(product).then_some(product);
        LockKey {
            stem: format!("{}-base-{}", product.unwrap_or("site"), &digest[..16])
                .to_ascii_lowercase(),
        }
    }

    fn file_name(&self) -> String {
        format!("{}.lock", self.stem)
    }
}

/// Why the lock of a site was not taken. The command says it (`commands::rotation`): this
/// module only knows what happened.
#[derive(Debug)]
pub enum LockError {
    /// No home or data folder to keep lock files in.
    NoDataDir,
    /// The lock file could not be opened or locked.
    Io { path: PathBuf, error: io::Error },
    /// Another run holds it; who, if its file says so.
    Busy {
        path: PathBuf,
        holder: Option<Holder>,
    },
}

impl SiteLock {
    /// Take the lock of `key` for `command` in the user's data directory, or say who
    /// holds it.
    pub fn acquire(key: &LockKey, command: &str) -> Result<SiteLock, LockError> {
        let dir = lock_dir().ok_or(LockError::NoDataDir)?;
        SiteLock::acquire_in(&dir, key, command)
    }

    /// [`SiteLock::acquire`] with the lock directory given.
    pub fn acquire_in(dir: &Path, key: &LockKey, command: &str) -> Result<SiteLock, LockError> {
        let path = dir.join(key.file_name());
        let cannot = |error: io::Error| LockError::Io {
            path: path.clone(),
            error,
        };
        backup::create_private_dir_all(dir).map_err(cannot)?;
        // Each lap loses only to a holder that dropped its lock (and file) meanwhile.
        for _ in 0..8 {
            let file = crate::files::open_append_private(&path).map_err(cannot)?;
            match file.try_lock() {
                Ok(()) => {}
                Err(std::fs::TryLockError::WouldBlock) => {
                    let holder = std::fs::read(&path)
                        .ok()
                        .and_then(|b| serde_json::from_slice(&b).ok());
                    return Err(LockError::Busy { path, holder });
                }
                Err(std::fs::TryLockError::Error(e)) => return Err(cannot(e)),
            }
            if still_at(&file, &path) {
                return Ok(SiteLock { file, path }.saying(command));
            }
        }
        Err(cannot(io::Error::other(
            "the lock file kept being replaced while it was taken",
        )))
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes who holds it, for another run's refusal. Informational only: a failure to
    /// write it leaves the lock held all the same.
    fn saying(mut self, command: &str) -> SiteLock {
        let holder = Holder {
            pid: std::process::id(),
            started_at: backup::now_rfc3339(),
            command: command.into(),
        };
        let _ = self
            .file
            .set_len(0)
            .and_then(|()| self.file.write_all(&serde_json::to_vec(&holder)?));
        self
    }
}

impl Drop for SiteLock {
    fn drop(&mut self) {
        // Removed while still held; the OS releases the lock when the file closes.
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Whether `path` still names the open `file` (not unlinked or replaced since it was opened).
fn still_at(file: &std::fs::File, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (file.metadata(), std::fs::symlink_metadata(path)) {
        (Ok(open), Ok(named)) => open.dev() == named.dev() && open.ino() == named.ino(),
        _ => false,
    }
}

/// Locks live beside the backups: autorekey/locks under the data directory (or home);
/// never a shared folder such as /tmp, where another user could hold every site's lock.
fn lock_dir() -> Option<PathBuf> {
    Some(
        dirs::data_local_dir()
            .or_else(dirs::home_dir)?
            .join("autorekey")
            .join("locks"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn lock_keys_name_the_tenant_and_nothing_that_leaves_the_directory() {
        let key = LockKey::tenant("jira", " 5B1E2C7A-0d4f ").unwrap();
        assert_eq!(key.file_name(), "jira-5b1e2c7a-0d4f.lock");
        assert!(LockKey::tenant("jira", "../x").is_none());
        assert!(LockKey::tenant("jira", "").is_none());
        let base = |u: &str| LockKey::api_base("jira", &url::Url::parse(u).unwrap());
        let key = base("http://127.0.0.1:8080/api/");
        assert!(key.file_name().starts_with("jira-base-"), "{key:?}");
        assert!(!key.file_name().contains(['/', ':']));
        assert_eq!(key, base("HTTP://127.0.0.1:8080/api/"));
        assert_ne!(key, base("http://127.0.0.1:8081/api/"));
    }

    #[test]
    fn a_held_lock_refuses_a_second_taker_and_an_empty_or_stale_file_does_not() {
        let dir = tempfile::tempdir().unwrap();
        let key = LockKey::tenant("jira", "c1").unwrap();
        let path = dir.path().join(key.file_name());
        std::fs::write(&path, "").unwrap();
        let first = SiteLock::acquire_in(dir.path(), &key, "rotate").expect("an empty file");
        // flock locks belong to an open file, so a second open in this process is refused too.
        match SiteLock::acquire_in(dir.path(), &key, "revoke") {
            Err(LockError::Busy {
                holder: Some(h), ..
            }) => {
                assert_eq!((h.pid, h.command.as_str()), (std::process::id(), "rotate"))
            }
            other => panic!("{other:?}"),
        }
        let other = LockKey::tenant("confluence", "c1").unwrap();
        drop(SiteLock::acquire_in(dir.path(), &other, "rotate").expect("another tenant"));
        drop(first);
        assert!(!path.exists(), "the file goes with the lock");
        std::fs::write(&path, r#"{"pid":1,"started_at":"x","command":"rotate"}"#).unwrap();
        SiteLock::acquire_in(dir.path(), &key, "apply").expect("a stale file");
    }

    #[test]
    fn a_lock_taken_on_a_file_since_unlinked_is_taken_again_on_the_new_one() {
        let dir = tempfile::tempdir().unwrap();
        let key = LockKey::tenant("jira", "c1").unwrap();
        let path = dir.path().join(key.file_name());
        let early = crate::files::open_append_private(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        // The lock file `early` opened is gone: locking it would be locking nothing.
        early.try_lock().unwrap();
        assert!(!still_at(&early, &path));
        let lock = SiteLock::acquire_in(dir.path(), &key, "rotate").unwrap();
        assert!(still_at(&lock.file, &path));
    }
}
