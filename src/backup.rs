//! Backups: every rule saved exactly as read, just before autorekey overwrites it.
//!
//! A backup is the way back (`autorekey restore`) and the only place autorekey stores a
//! secret, since a rule as read holds the old token. So each run gets its own directory,
//! created 0700, and each file is created 0600 before a byte is written (never widened
//! after the fact). The layout is plain JSON that an admin can read without the tool:
//!
//! ```text
//! <root>/<site-host>-<UTC time>/
//!     manifest.json        site, product, account, new token's fingerprint (no secret)
//!     rules/<uuid>.json    {"rule": ..., "connections": ...} as read before writing
//!     journal.jsonl        what happened to each rule (see crate::journal)
//! ```

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What a backup directory is about; written once when the run starts.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Manifest {
    pub site: String,
    pub product: String,
    pub account: String,
    pub new_fingerprint: String,
    pub started_at: String,
    pub tool: String,
}

/// One run's backup directory.
#[derive(Clone, Debug)]
pub struct BackupRun {
    dir: PathBuf,
}

impl BackupRun {
    /// Create `<root>/<host>-<time>` (and `root` itself) with owner-only permissions.
    pub fn create(root: &Path, manifest: &Manifest) -> io::Result<BackupRun> {
        create_private_dir_all(root)?;
        let host = url::Url::parse(&manifest.site)
            .ok()
            .and_then(|u| u.host_str().map(|h| h.replace([':', '[', ']'], "_")))
            .unwrap_or_else(|| "site".into());
        let stamp = manifest.started_at.replace([':', '-'], "");
        let dir = create_unique_dir(root, &format!("{host}-{stamp}"))?;
        create_private_dir_all(&dir.join("rules"))?;
        let run = BackupRun { dir };
        write_private(
            &run.dir.join("manifest.json"),
            &serde_json::to_vec_pretty(manifest)?,
        )?;
        Ok(run)
    }

    pub fn open(dir: &Path) -> io::Result<BackupRun> {
        let run = BackupRun {
            dir: dir.to_path_buf(),
        };
        run.manifest()?;
        Ok(run)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn manifest(&self) -> io::Result<Manifest> {
        let text = fs::read(self.dir.join("manifest.json"))?;
        serde_json::from_slice(&text).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
    }

    /// Save a rule envelope as read. A rule backed up earlier in the same run (a retried
    /// write) keeps its first copy: that is the state before autorekey touched it.
    pub fn save(&self, uuid: &str, envelope: &Value) -> io::Result<PathBuf> {
        let path = self.rule_path(uuid)?;
        if !path.exists() {
            write_private(&path, &serde_json::to_vec_pretty(envelope)?)?;
        }
        Ok(path)
    }

    fn rule_path(&self, uuid: &str) -> io::Result<PathBuf> {
        // The uuid comes from the server: refuse anything that could leave the directory.
        if uuid.is_empty() || !uuid.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("unexpected rule id {uuid:?}"),
            ));
        }
        Ok(self.dir.join("rules").join(format!("{uuid}.json")))
    }

    /// Every saved rule: (uuid, envelope), in file-name order.
    pub fn saved_rules(&self) -> io::Result<Vec<(String, Value)>> {
        let mut paths: Vec<PathBuf> = fs::read_dir(self.dir.join("rules"))?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        paths.sort();
        paths
            .into_iter()
            .map(|p| {
                let uuid = p
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let value: Value = serde_json::from_slice(&fs::read(&p)?)
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
                Ok((uuid, value))
            })
            .collect()
    }
}

/// Where backups go when `--backup-dir` is not given.
pub fn default_root() -> PathBuf {
    dirs::data_local_dir()
        .or_else(dirs::home_dir)
        .unwrap_or_else(std::env::temp_dir)
        .join("autorekey")
        .join("backups")
}

/// Create `dir` and any missing parents owner-only (0700). Directories that already exist
/// keep their mode: `--backup-dir /tmp` must not change /tmp; each run's own directory is
/// always new, so its secrets sit in a 0700 directory whatever the parent is.
pub fn create_private_dir_all(dir: &Path) -> io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// A new 0700 directory under `root` named `base`, or `base-2`, `base-3`...: created
/// atomically, so two runs started in the same second never share one.
fn create_unique_dir(root: &Path, base: &str) -> io::Result<PathBuf> {
    for n in 1..1000 {
        let name = if n == 1 {
            base.to_string()
        } else {
            format!("{base}-{n}")
        };
        let dir = root.join(name);
        let mut builder = fs::DirBuilder::new();
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        match builder.create(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AlreadyExists,
        "too many backup runs with the same name",
    ))
}

/// Create `path` owner-only (0600) and write `bytes`; never opens it wider first.
pub fn write_private(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_private_with(path, bytes, false)
}

/// [`write_private`], refusing a file (or link) that already exists at `path`.
pub fn write_private_new(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_private_with(path, bytes, true)
}

fn write_private_with(path: &Path, bytes: &[u8], must_be_new: bool) -> io::Result<()> {
    let mut options = OpenOptions::new();
    options.write(true);
    if must_be_new {
        options.create_new(true);
    } else {
        options.create(true).truncate(true);
    }
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file: File = options.open(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(fs::Permissions::from_mode(0o600))?;
    }
    file.write_all(bytes)?;
    file.sync_all()
}

pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn manifest() -> Manifest {
        Manifest {
            site: "https://acme.atlassian.net".into(),
            product: "jira".into(),
            account: "svc@x.io".into(),
            new_fingerprint: "abc".into(),
            started_at: "2026-11-23T01:02:03Z".into(),
            tool: "autorekey test".into(),
        }
    }

    #[test]
    fn backups_are_private_and_first_copy_wins() {
        let root = tempfile::tempdir().unwrap();
        let run = BackupRun::create(&root.path().join("b"), &manifest()).unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(run.dir()), 0o700);
        assert_eq!(mode(&root.path().join("b")), 0o700);
        // An existing parent keeps its mode.
        fs::set_permissions(root.path(), fs::Permissions::from_mode(0o755)).unwrap();
        BackupRun::create(root.path(), &manifest()).unwrap();
        assert_eq!(mode(root.path()), 0o755);
        let first = serde_json::json!({"rule": {"name": "before"}});
        let path = run.save("0190-a", &first).unwrap();
        run.save("0190-a", &serde_json::json!({"rule": {"name": "after"}}))
            .unwrap();
        assert_eq!(mode(&path), 0o600);
        assert_eq!(
            run.saved_rules().unwrap(),
            vec![("0190-a".to_string(), first)]
        );
        assert_eq!(
            BackupRun::open(run.dir())
                .unwrap()
                .manifest()
                .unwrap()
                .account,
            "svc@x.io"
        );
        assert!(run.save("../escape", &Value::Null).is_err());
        let second = BackupRun::create(&root.path().join("b"), &manifest()).unwrap();
        assert_ne!(second.dir(), run.dir());
    }
}
