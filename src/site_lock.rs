//! The per-site lock that keeps two writing runs apart.
//!
//! Why shaped so: the Automation API has no locking, so two autorekey runs against one site
//! would race each other's read-check-write. Every writing command (rotate, apply, restore,
//! revoke) takes one lock per Automation tenant (product + cloud id, so no host spelling or
//! address gets a second one): an OS advisory lock on an open file in the data directory.
//! The OS releases it on any exit, so a crash or `kill -9` never blocks a later run, and no
//! guess about whether a process is alive is needed; the file's text (who, since when) only
//! words the refusal. Kept apart from [`crate::rotation_store`] (a rotation's backups), which
//! it shares nothing with but the data folder.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::backup;

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

/// Locks live beside the backups: autorekey/locks under the data directory (or home),
/// where [`backup::default_root`] is autorekey/backups; never a shared folder such as
/// /tmp, where another user could hold every site's lock.
fn lock_dir() -> Option<PathBuf> {
    Some(backup::default_root()?.with_file_name("locks"))
}

#[cfg(test)]
mod tests {
    use super::*;

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
