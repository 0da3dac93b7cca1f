//! Backups: every rule saved exactly as read, just before autorekey overwrites it.
//!
//! A backup is the way back (`autorekey restore`) and the only place autorekey stores a
//! secret, since a rule as read holds the old token. So each rotation gets its own directory
//! (runs that resume it share it: see `crate::rotation_store`), created 0700, and each file is created
//! 0600 before a byte is written (never widened after the fact). The layout is plain JSON
//! that an admin can read without the tool:
//!
//! ```text
//! <root>/<site-host>-<UTC time>/
//!     manifest.json        site, product, account, new token's fingerprint (no secret)
//!     rules/<uuid>.json    {"rule": ..., "connections": ...} as read before writing
//!     rules.sha256         SHA-256 of each file above, as written (`sha256sum -c` reads it)
//!     journal.jsonl        what happened to each rule (see crate::journal)
//! ```
//!
//! A rotation across several sites and products is still one run directory with one
//! journal (each entry names its site and product): its manifest lists the `targets`, its
//! own `rules/` stays empty, and each target's backups are a run of their own layout under
//! `sites/<site-host>-<product>/` (manifest of that one site, `rules/`, `rules.sha256`), so
//! a rule goes back to the site it came from and two sites' rules never share a file name.
//!
//! Every file is written whole and new (a temporary file moved into place), and its
//! checksum appended to `rules.sha256` as it lands, so `restore` can tell a truncated or
//! swapped file from the one it saved, and refuses that one file without giving up on the
//! others. Files are read back without following links, from a folder that must be the
//! user's alone.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::files::{self, Links};
use crate::rule::Rule;

/// The checksum list of a run directory, in `sha256sum` format so an admin can check it
/// with `sha256sum -c rules.sha256` from inside the run directory.
pub const CHECKSUMS: &str = "rules.sha256";

/// Where a run of several sites keeps each target's backups.
pub const SITES: &str = "sites";

/// What a backup directory is about; written once when the run starts.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Manifest {
    pub site: String,
    pub product: String,
    pub account: String,
    pub new_fingerprint: String,
    pub started_at: String,
    pub tool: String,
    /// A rotation across several sites and products: every one of them, in the order the
    /// run took them (`site` and `product` above are the first). Empty (and not written)
    /// for a run of one site, so its manifest is as before.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<TargetRef>,
}

/// One site and product of a rotation across several: what its backups and journal
/// entries are tagged with.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetRef {
    pub site: String,
    pub product: String,
}

impl TargetRef {
    /// `https://a.example · jira`, as summaries and questions name a target.
    pub fn label(&self) -> String {
        format!("{} · {}", self.site.trim_end_matches('/'), self.product)
    }

    /// Whether `site` and `product` name this target (sites compared by origin).
    pub fn is(&self, site: &str, product: &str) -> bool {
        self.product == product && same_origin(&self.site, site)
    }

    /// The folder of its backups under the run's `sites/`: the site's host (and port) and
    /// the product, nothing that could leave the folder.
    pub fn dir_name(&self) -> String {
        let host = url::Url::parse(&self.site).ok().map_or("site".into(), |u| {
            let host = u.host_str().unwrap_or("site").to_string();
            match u.port() {
                Some(port) => format!("{host}_{port}"),
                None => host,
            }
        });
        let safe = |s: &str| -> String {
            s.chars()
                .map(
                    |c| match c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                        true => c,
                        false => '_',
                    },
                )
                .collect()
        };
        format!("{}-{}", safe(&host), safe(&self.product))
    }
}

/// Whether two site URLs have one origin (scheme, host, port); a URL that does not parse is
/// no site's.
pub fn same_origin(a: &str, b: &str) -> bool {
    let origin = |s: &str| url::Url::parse(s).ok().map(|u| u.origin());
    origin(a).is_some() && origin(a) == origin(b)
}

/// One run's backup directory.
#[derive(Clone, Debug)]
pub struct BackupRun {
    dir: PathBuf,
    /// Relative path -> SHA-256 of every file written, mirrored in [`CHECKSUMS`]. Shared by
    /// clones: the writers save rules concurrently.
    sums: Arc<Mutex<BTreeMap<String, String>>>,
}

/// One file of `rules/`, checked: the rule it holds, or why it cannot be trusted.
pub struct SavedRule {
    pub uuid: String,
    pub file: PathBuf,
    pub rule: Result<Rule, String>,
}

/// By hand: the rule is as read, old tokens and all; `Debug` (a panic, a log line) shows
/// only which file, which rule and whether it was trusted.
impl std::fmt::Debug for SavedRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SavedRule")
            .field("uuid", &self.uuid)
            .field("file", &self.file)
            .field("rule", &self.rule)
            .finish()
    }
}

impl BackupRun {
    /// Create `<root>/<host>-<time>` (and `root` itself) with owner-only permissions.
    /// `root` must be private all the way up (see [`files::check_private_dir`]): a folder
    /// another user can write could have the backups swapped or read.
    pub fn create(root: &Path, manifest: &Manifest) -> io::Result<BackupRun> {
        // Checked before creating anything (nothing is left in a shared folder) and after
        // (the folders just created, and any that existed, are all private).
        let unsafe_dir = |e| io::Error::new(io::ErrorKind::PermissionDenied, e);
        if let Some(existing) = root.ancestors().find(|d| d.exists()) {
            files::check_private_dir(existing).map_err(unsafe_dir)?;
        }
        create_private_dir_all(root)?;
        files::check_private_dir(root).map_err(unsafe_dir)?;
        let root = root.canonicalize()?;
        let host = url::Url::parse(&manifest.site)
            .ok()
            .and_then(|u| u.host_str().map(|h| h.replace([':', '[', ']'], "_")))
            .unwrap_or_else(|| "site".into());
        let stamp = manifest.started_at.replace([':', '-'], "");
        let dir = create_unique_dir(&root, &format!("{host}-{stamp}"))?;
        BackupRun::create_at(dir, manifest)
    }

    /// The backups of one target of a rotation across several sites: `sites/<name>` in
    /// this (the run's) directory, created private with the target's own manifest.
    pub fn create_part(&self, target: &TargetRef, manifest: &Manifest) -> io::Result<BackupRun> {
        let sites = self.dir.join(SITES);
        create_private_dir_all(&sites)?;
        let dir = sites.join(target.dir_name());
        let mut builder = fs::DirBuilder::new();
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(&dir)?;
        BackupRun::create_at(dir, manifest)
    }

    /// The backups of `target` in this run, if it has any yet.
    pub fn part(&self, target: &TargetRef) -> io::Result<Option<BackupRun>> {
        let dir = self.dir.join(SITES).join(target.dir_name());
        match fs::symlink_metadata(&dir) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
            Ok(m) if m.file_type().is_symlink() => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "{} is a symbolic link; autorekey does not follow links here",
                    dir.display()
                ),
            )),
            Ok(_) => BackupRun::open(&dir).map(Some),
        }
    }

    /// Every target's backups (for a run of several sites; none for a run of one), in the
    /// order of the manifest's targets.
    pub fn parts(&self) -> io::Result<Vec<(TargetRef, BackupRun)>> {
        let mut parts = Vec::new();
        for target in self.manifest()?.targets {
            if let Some(part) = self.part(&target)? {
                parts.push((target, part));
            }
        }
        Ok(parts)
    }

    /// A new, empty run at `dir` (already created, private) with `manifest`.
    fn create_at(dir: PathBuf, manifest: &Manifest) -> io::Result<BackupRun> {
        create_private_dir_all(&dir.join("rules"))?;
        let run = BackupRun {
            dir,
            sums: Arc::default(),
        };
        run.write_recorded("manifest.json", &serde_json::to_vec_pretty(manifest)?)?;
        Ok(run)
    }

    /// An existing run directory, with the checksums recorded in it.
    pub fn open(dir: &Path) -> io::Result<BackupRun> {
        let run = BackupRun {
            dir: dir.to_path_buf(),
            sums: Arc::new(Mutex::new(read_checksums(&dir.join(CHECKSUMS))?)),
        };
        run.manifest()?;
        Ok(run)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The run directory, its `rules/` and every folder above them are private, and
    /// `rules/` is the run's own folder, not a link to another.
    pub fn check_private(&self) -> Result<(), files::UnsafeDir> {
        let rules = self.dir.join("rules");
        if fs::symlink_metadata(&rules).is_ok_and(|m| m.file_type().is_symlink()) {
            return Err(files::UnsafeDir {
                dir: rules,
                why: "is a symbolic link; autorekey does not follow links here".into(),
                shared: false,
            });
        }
        files::check_private_dir(&rules)
    }

    /// The manifest, checked against its recorded checksum when there is one.
    pub fn manifest(&self) -> io::Result<Manifest> {
        let text = self.read_checked("manifest.json", files::SMALL_FILE_CAP)?;
        serde_json::from_slice(&text).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
    }

    /// Save a rule envelope as read. A rule backed up earlier in the same run (a retried
    /// write) keeps its first copy: that is the state before autorekey touched it. That
    /// copy must still be the one recorded: anything else in its place (a link, a file
    /// that does not match its checksum) is an error, so no write goes ahead without a
    /// backup that restore will accept.
    pub fn save(&self, uuid: &str, envelope: &Value) -> io::Result<PathBuf> {
        let path = self.rule_path(uuid)?;
        let relative = format!("rules/{uuid}.json");
        match self.write_recorded(&relative, &serde_json::to_vec_pretty(envelope)?) {
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                self.read_checked(&relative, files::RULE_FILE_CAP)?;
            }
            other => other?,
        }
        Ok(path)
    }

    /// Write a new file of the run (atomically, never over an existing one) and record its
    /// checksum before returning. The list is append-only, one whole line per file written
    /// in a single write and flushed to disk (rewriting the whole list for each rule would
    /// cost time quadratic in the number of rules); a line torn by a crash is ended before
    /// the next append and never matches a file.
    fn write_recorded(&self, relative: &str, bytes: &[u8]) -> io::Result<()> {
        files::write_new(&self.dir.join(relative), bytes)?;
        let sum = hex::encode(Sha256::digest(bytes));
        let mut sums = self.sums.lock().unwrap_or_else(|p| p.into_inner());
        let mut list = files::open_append_lines(&self.dir.join(CHECKSUMS))?;
        list.write_all(format!("{sum}  {relative}\n").as_bytes())?;
        list.sync_data()?;
        sums.insert(relative.to_string(), sum);
        Ok(())
    }

    /// A file of the run (no link followed), refused if it does not match its checksum.
    fn read_checked(&self, relative: &str, cap: u64) -> io::Result<Vec<u8>> {
        let bytes = files::read_capped(&self.dir.join(relative), cap, Links::Refuse)?;
        let sums = self.sums.lock().unwrap_or_else(|p| p.into_inner());
        match sums.get(relative) {
            Some(sum) if *sum == hex::encode(Sha256::digest(&bytes)) => Ok(bytes),
            Some(_) => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "{relative} does not match the checksum recorded when it was written \
                     (truncated or changed since)"
                ),
            )),
            // The manifest of a run written before checksums existed is still readable;
            // rule files are not (see `checked_rules`).
            None if relative == "manifest.json" => Ok(bytes),
            None => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{relative} has no checksum in {CHECKSUMS} (not written by this backup)"),
            )),
        }
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

    /// Every file of `rules/` in name order, each checked on its own (regular file, no
    /// link, within the size cap, matching its recorded checksum, JSON): one bad file
    /// never hides the others.
    pub fn checked_rules(&self) -> io::Result<Vec<SavedRule>> {
        let mut names: Vec<String> = fs::read_dir(self.dir.join("rules"))?
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".json"))
            .collect();
        names.sort();
        Ok(names
            .into_iter()
            .map(|name| {
                let relative = format!("rules/{name}");
                let rule = self
                    .read_checked(&relative, files::RULE_FILE_CAP)
                    .and_then(|bytes| {
                        serde_json::from_slice(&bytes)
                            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
                    })
                    .map_err(|e| e.to_string())
                    .and_then(|v| Rule::from_envelope(v).map_err(|e| e.to_string()));
                SavedRule {
                    uuid: name.trim_end_matches(".json").to_string(),
                    file: self.dir.join(relative),
                    rule,
                }
            })
            .collect())
    }

    /// Every saved rule, in file-name order; any bad file is an error.
    pub fn saved_rules(&self) -> io::Result<Vec<Rule>> {
        self.checked_rules()?
            .into_iter()
            .map(|r| {
                let file = r.file.display().to_string();
                r.rule
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("{file}: {e}")))
            })
            .collect()
    }
}

/// `sha256sum` lines (`<hex>  <relative path>`); no file yet is an empty list.
fn read_checksums(path: &Path) -> io::Result<BTreeMap<String, String>> {
    let text = match files::read_text_capped(path, files::SMALL_FILE_CAP, Links::Refuse) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
        Err(e) => return Err(e),
    };
    // The first line for a file wins, as the first backup of a rule does.
    let mut sums = BTreeMap::new();
    for (sum, file) in text.lines().filter_map(|line| line.split_once("  ")) {
        sums.entry(file.to_string())
            .or_insert_with(|| sum.to_string());
    }
    Ok(sums)
}

/// Where backups go when `--backup-dir` is not given: under the user's data directory (or
/// home). `None` when the user has neither: there is no shared fallback such as /tmp,
/// where another user could read or swap the backups, so `--backup-dir` is required then.
pub fn default_root() -> Option<PathBuf> {
    root_under(dirs::data_local_dir(), dirs::home_dir())
}

fn root_under(data: Option<PathBuf>, home: Option<PathBuf>) -> Option<PathBuf> {
    Some(data.or(home)?.join("autorekey").join("backups"))
}

/// Directories that already exist keep their mode: `--backup-dir ~/shared` must not change
/// it; [`BackupRun::create`] refuses it instead when someone else could write to it.
pub use crate::files::create_private_dir_all;

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

pub fn now_rfc3339() -> String {
    rfc3339_seconds(jiff::Timestamp::now())
}

/// `2026-12-05T14:41:11Z`: whole seconds, UTC (truncated, never a moment ahead).
fn rfc3339_seconds(at: jiff::Timestamp) -> String {
    jiff::Timestamp::from_second(at.as_second())
        .unwrap_or(at)
        .to_string()
}

/// When this command started (fixed by its first call, which `commands::main` makes at
/// once). A rotation's manifest says this, not when its first backup was written: the
/// start comes before the run logs in with the new token, which is what lets `revoke` tell
/// a token last used before the rotation from the new one (see [`crate::revoke_proof`]).
pub fn command_started_at() -> String {
    static STARTED: std::sync::OnceLock<jiff::Timestamp> = std::sync::OnceLock::new();
    rfc3339_seconds(*STARTED.get_or_init(jiff::Timestamp::now))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_saved_rule_debug_shows_no_rule_text() {
        let token = format!("FAKE-{}", uuid::Uuid::new_v4().simple());
        let saved = SavedRule {
            uuid: "r1".into(),
            file: PathBuf::from("rules/r1.json"),
            rule: Ok(Rule::from_body(
                serde_json::json!({"uuid": "r1", "headers": [{"value": token}]}),
            )),
        };
        let shown = format!("{saved:?}");
        assert!(shown.contains("r1") && !shown.contains(&token), "{shown}");
    }

    fn manifest() -> Manifest {
        Manifest {
            site: "https://acme.atlassian.net".into(),
            product: "jira".into(),
            account: "svc@x.io".into(),
            new_fingerprint: "abc".into(),
            started_at: "2026-11-23T01:02:03Z".into(),
            tool: "autorekey test".into(),
            targets: Vec::new(),
        }
    }

    fn mode(p: &Path) -> u32 {
        fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn backups_are_private_and_first_copy_wins() {
        let root = tempfile::tempdir().unwrap();
        let run = BackupRun::create(&root.path().join("b"), &manifest()).unwrap();
        assert_eq!(mode(run.dir()), 0o700);
        assert_eq!(mode(&root.path().join("b")), 0o700);
        // An existing private parent keeps its mode.
        fs::set_permissions(root.path(), fs::Permissions::from_mode(0o755)).unwrap();
        BackupRun::create(root.path(), &manifest()).unwrap();
        assert_eq!(mode(root.path()), 0o755);
        let first = serde_json::json!({"rule": {"name": "before"}});
        let path = run.save("0190-a", &first).unwrap();
        run.save("0190-a", &serde_json::json!({"rule": {"name": "after"}}))
            .unwrap();
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(&run.dir().join(CHECKSUMS)), 0o600);
        let saved: Vec<Value> = run
            .saved_rules()
            .unwrap()
            .iter()
            .map(Rule::envelope)
            .collect();
        assert_eq!(saved, vec![first]);
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

    #[test]
    fn a_folder_others_can_write_is_refused_and_nothing_is_created_in_it() {
        let root = tempfile::tempdir().unwrap();
        let shared = root.path().join("shared");
        fs::create_dir(&shared).unwrap();
        fs::set_permissions(&shared, fs::Permissions::from_mode(0o775)).unwrap();
        let err = BackupRun::create(&shared, &manifest()).unwrap_err();
        assert!(err.to_string().contains("writable by other users"), "{err}");
        assert_eq!(fs::read_dir(&shared).unwrap().count(), 0);
        // Below a shared folder is no better: it can be renamed away and replaced.
        let below = shared.join("mine");
        assert!(BackupRun::create(&below, &manifest()).is_err());
        assert!(!below.exists());
    }

    #[test]
    fn without_a_home_there_is_no_default_folder() {
        assert_eq!(root_under(None, None), None);
        assert_eq!(
            root_under(None, Some("/home/a".into())),
            Some(PathBuf::from("/home/a/autorekey/backups"))
        );
    }

    #[test]
    fn a_bad_file_is_named_and_the_others_still_read() {
        let root = tempfile::tempdir().unwrap();
        let run = BackupRun::create(root.path(), &manifest()).unwrap();
        for uuid in ["a", "b", "c", "d"] {
            run.save(uuid, &serde_json::json!({"rule": {"uuid": uuid}}))
                .unwrap();
        }
        let rules = run.dir().join("rules");
        // Truncated, tampered (still valid JSON), and swapped for a link.
        let text = fs::read(rules.join("a.json")).unwrap();
        fs::write(rules.join("a.json"), &text[..text.len() / 2]).unwrap();
        fs::write(rules.join("b.json"), r#"{"rule": {"uuid": "b", "x": 1}}"#).unwrap();
        fs::remove_file(rules.join("c.json")).unwrap();
        let elsewhere = root.path().join("elsewhere.json");
        fs::write(&elsewhere, r#"{"rule": {"uuid": "c"}}"#).unwrap();
        std::os::unix::fs::symlink(&elsewhere, rules.join("c.json")).unwrap();
        fs::write(rules.join("e.json"), r#"{"rule": {"uuid": "e"}}"#).unwrap();
        let reopened = BackupRun::open(run.dir()).unwrap();
        let checked = reopened.checked_rules().unwrap();
        let verdict: Vec<(&str, Result<&Rule, &str>)> = checked
            .iter()
            .map(|r| (r.uuid.as_str(), r.rule.as_ref().map_err(String::as_str)))
            .collect();
        assert!(matches!(verdict[0], ("a", Err(e)) if e.contains("does not match the checksum")));
        assert!(matches!(verdict[1], ("b", Err(e)) if e.contains("does not match the checksum")));
        assert!(matches!(verdict[2], ("c", Err(e)) if e.contains("symbolic link")));
        assert!(matches!(verdict[3], ("d", Ok(r)) if r.uuid() == "d"));
        assert!(matches!(verdict[4], ("e", Err(e)) if e.contains("no checksum")));
        assert!(reopened.saved_rules().is_err());
    }

    #[test]
    fn a_torn_checksum_line_does_not_swallow_the_next_one() {
        let root = tempfile::tempdir().unwrap();
        let run = BackupRun::create(root.path(), &manifest()).unwrap();
        run.save("a", &serde_json::json!({"rule": {"uuid": "a"}}))
            .unwrap();
        let list = run.dir().join(CHECKSUMS);
        let mut f = fs::OpenOptions::new().append(true).open(&list).unwrap();
        f.write_all(b"0123abc").unwrap();
        drop(f);
        let resumed = BackupRun::open(run.dir()).unwrap();
        resumed
            .save("b", &serde_json::json!({"rule": {"uuid": "b"}}))
            .unwrap();
        let again = BackupRun::open(run.dir()).unwrap();
        assert_eq!(again.saved_rules().unwrap().len(), 2);
        assert!(again.check_private().is_ok());
        // A backup replaced behind autorekey's back is not taken as the first copy.
        fs::write(run.dir().join("rules/b.json"), "{}").unwrap();
        assert!(again.save("b", &serde_json::json!({})).is_err());
        let rules = run.dir().join("rules");
        fs::rename(&rules, root.path().join("moved")).unwrap();
        std::os::unix::fs::symlink(root.path().join("moved"), &rules).unwrap();
        assert!(again
            .check_private()
            .unwrap_err()
            .to_string()
            .contains("symbolic link"));
    }
}
