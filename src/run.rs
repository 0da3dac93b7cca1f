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
//!   each other's read-check-write. A lock file per site in the data directory makes the
//!   second writing run refuse; a lock left by a process that no longer exists is taken over
//!   (and said so), since a crash must not block every later run.

use std::fs::OpenOptions;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::backup::{self, BackupRun, Manifest};
use crate::journal::{self, Journal, Step};
use crate::plan::Selector;
use crate::secret::{Fingerprint, Token};

/// The backup directory and journal of one rotation, opened (or created) on first use.
pub struct RunStore {
    root: PathBuf,
    manifest: Manifest,
    open: Mutex<Option<(BackupRun, Journal)>>,
    resumed: Option<PathBuf>,
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
        })
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
        let mut open = self.lock();
        if open.is_none() {
            let backup = BackupRun::create(&self.root, &self.manifest)?;
            let journal = Journal::open(&backup.dir().join("journal.jsonl"))?;
            *open = Some((backup, journal));
        }
        let (backup, _) = open.as_ref().expect("opened above");
        backup.save(uuid, envelope).map(|_| ())
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
        match self.lock().as_ref() {
            Some((_, journal)) => journal.record(uuid, name, step, detail),
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
        // The earlier run confirmed what it wrote over; this run's confirmations cover only
        // the values it found still in the rules.
        let selector = &Selector {
            confirmed: None,
            ..selector.clone()
        };
        let findings: Vec<_> = BackupRun::open(dir)
            .and_then(|b| b.saved_rules())
            .unwrap_or_default()
            .iter()
            .flat_map(|saved| crate::detect::detect(saved.body()))
            .filter(|f| selector.matches(f) && f.token.as_ref() != Some(new_token))
            .collect();
        crate::detect::shown_per_token(&findings)
    }

    /// Mark the rotation finished (the verdict was to revoke): the next run starts anew.
    pub fn finish(&self) -> io::Result<()> {
        self.record("", "", Step::Finished, None)
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
            let same = same_origin(&found.site, &manifest.site)
                && found.account.eq_ignore_ascii_case(&manifest.account)
                && found.new_fingerprint == manifest.new_fingerprint
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

fn same_origin(a: &str, b: &str) -> bool {
    let origin = |s: &str| url::Url::parse(s).ok().map(|u| u.origin());
    origin(a).is_some() && origin(a) == origin(b)
}

// ------------------------------------------------------------------ the per-site lock

/// Held while a run may write to a site; the file goes when it is dropped.
#[derive(Debug)]
pub struct SiteLock {
    path: PathBuf,
}

/// What a lock file holds: who holds it, since when, doing what.
#[derive(Debug, Serialize, Deserialize)]
struct Holder {
    pid: u32,
    started_at: String,
    command: String,
}

/// Why the lock of a site was not taken. The command says it (`commands::rotation`): this
/// module only knows what happened.
#[derive(Debug)]
pub enum LockError {
    /// No home or data folder to keep lock files in.
    NoDataDir,
    /// The lock file could not be created.
    Io { path: PathBuf, error: io::Error },
    /// Another live run holds it.
    Busy {
        path: PathBuf,
        pid: u32,
        command: String,
        started_at: String,
    },
    /// It exists but says nothing readable (being written this instant, or damaged).
    Unreadable { path: PathBuf },
    /// Another run took it at the same moment.
    Raced { path: PathBuf },
}

impl SiteLock {
    /// Take the lock of `site` for `command`, or say who holds it. `note` is told when a
    /// stale lock (its process is gone) was taken over.
    pub fn acquire(
        site: &url::Url,
        command: &str,
        note: impl Fn(String),
    ) -> Result<SiteLock, LockError> {
        let dir = lock_dir().ok_or(LockError::NoDataDir)?;
        let path = dir.join(format!("{}.lock", lock_name(site)));
        let holder = Holder {
            pid: std::process::id(),
            started_at: backup::now_rfc3339(),
            command: command.into(),
        };
        let cannot = |error: io::Error| LockError::Io {
            path: path.clone(),
            error,
        };
        backup::create_private_dir_all(&dir).map_err(cannot)?;
        for _ in 0..2 {
            match create_lock(&path, &holder) {
                Ok(()) => return Ok(SiteLock { path }),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(cannot(e)),
            }
            let other: Option<Holder> = std::fs::read(&path)
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok());
            match other {
                Some(h) if !process_alive(h.pid) => {
                    note(format!(
                        "taking over a stale lock of {site} (process {} started {} is gone)",
                        h.pid, h.started_at
                    ));
                    let _ = std::fs::remove_file(&path);
                }
                Some(h) => {
                    return Err(LockError::Busy {
                        path,
                        pid: h.pid,
                        command: h.command,
                        started_at: h.started_at,
                    })
                }
                None => return Err(LockError::Unreadable { path }),
            }
        }
        Err(LockError::Raced { path })
    }
}

impl Drop for SiteLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn create_lock(path: &Path, holder: &Holder) -> io::Result<()> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(&serde_json::to_vec(holder)?)?;
    file.sync_all()
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

/// A file name for the site: host and port, nothing that could leave the directory.
fn lock_name(site: &url::Url) -> String {
    let host = site.host_str().unwrap_or("site");
    let port = site.port_or_known_default().unwrap_or(0);
    format!("{host}_{port}")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Whether `pid` is a running autorekey. Where /proc cannot tell, a lock is assumed held:
/// refusing (with a hint to delete the file) is safer than two writers.
fn process_alive(pid: u32) -> bool {
    let proc = Path::new("/proc");
    if !proc.join("self").exists() {
        return true;
    }
    match std::fs::read(proc.join(pid.to_string()).join("cmdline")) {
        // A pid reused by another program does not hold our lock.
        Ok(cmdline) => String::from_utf8_lossy(&cmdline).contains("autorekey"),
        Err(_) => false,
    }
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
        again.finish().unwrap();
        let after = RunStore::resume_or_new(root.path(), manifest("n1", "autorekey")).unwrap();
        assert!(
            after.resumed().is_none(),
            "a finished rotation is not resumed"
        );
        assert_eq!(previous_runs(root.path(), &manifest("n1", "x")).len(), 1);
    }

    #[test]
    fn lock_names_stay_in_their_directory() {
        let site = url::Url::parse("http://127.0.0.1:8080/").unwrap();
        assert_eq!(lock_name(&site), "127.0.0.1_8080");
        let site = url::Url::parse("https://[::1]/").unwrap();
        assert!(!lock_name(&site).contains(['/', ':']));
    }
}
