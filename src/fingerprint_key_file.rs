//! Where this run's fingerprint key comes from: the team key file, the environment, or this
//! machine's key file (made on first use), read and checked here.
//!
//! The key itself and its use are the core's (`autorekey_core::secret::fingerprint_key`);
//! the files are the shell's: the core crate does no I/O.

use std::fs;
use std::io::{self, Read as _};
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use crate::secret::fingerprint_key::{FingerprintKey, KEY_ENV, MAKE_KEY};

/// A key file is small; a bigger one is not a key (or is hostile).
const LARGEST_KEY_FILE: u64 = 4096;

/// The key this run uses: the team key if one is given, else this machine's key (created
/// on first use), else none. An error means a key was given or found but cannot be used.
pub fn resolve(team_file: Option<&Path>) -> Result<Option<FingerprintKey>, KeyError> {
    if let Some(path) = team_file {
        // Named by its flag: a key pasted where its path belongs would be printed back.
        return read_key_file(path, "given with --fingerprint-key-file").map(Some);
    }
    if let Ok(text) = std::env::var(KEY_ENV) {
        let text = Zeroizing::new(text);
        return FingerprintKey::from_text(&text)
            .map(Some)
            .map_err(|why| KeyError::new(format!("{KEY_ENV}: {why}")).hint(MAKE_KEY.into()));
    }
    match machine_key_path() {
        // A data folder that cannot be written (a read-only HOME, a CI sandbox) is no
        // data folder: keyed fingerprints show as unknown, and that is warned about once
        // (`unknown_was_shown`). A key folder others may write, or a damaged key, still
        // stops the command: those are not a missing folder.
        Some(path) => match machine_key(&path) {
            Err(e) if e.cannot_create => Ok(None),
            other => other.map(Some),
        },
        None => Ok(None),
    }
}

/// `<data dir>/autorekey/fingerprint.key`, when the platform has a data dir.
pub fn machine_key_path() -> Option<PathBuf> {
    dirs::data_dir().map(|d| d.join("autorekey").join("fingerprint.key"))
}

/// A key that cannot be used, with what to do about it.
#[derive(Debug)]
pub struct KeyError {
    pub message: String,
    pub hint: Option<String>,
    /// The machine key (or its folder) could not be created: there is no room for one.
    pub cannot_create: bool,
}

impl KeyError {
    fn new(message: String) -> Self {
        KeyError {
            message,
            hint: None,
            cannot_create: false,
        }
    }

    fn hint(mut self, hint: String) -> Self {
        self.hint = Some(hint);
        self
    }
}

/// The machine key at `path`, created (and its folder, 0700) if missing.
pub fn machine_key(path: &Path) -> Result<FingerprintKey, KeyError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let cannot_create = |e: io::Error| KeyError {
        cannot_create: true,
        ..KeyError::new(format!("fingerprint key {}: {e}", path.display()))
    };
    crate::files::create_private_dir_all(dir).map_err(cannot_create)?;
    check_dir(dir)?;
    if fs::symlink_metadata(path).is_err() {
        create_key_file(path).map_err(cannot_create)?;
    }
    read_key_file(path, &path.display().to_string())
}

/// Others must not be able to swap the key file: the folder is not group/world-writable.
fn check_dir(dir: &Path) -> Result<(), KeyError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt as _;
        let meta = fs::metadata(dir)
            .map_err(|e| KeyError::new(format!("fingerprint key folder {}: {e}", dir.display())))?;
        if meta.mode() & 0o022 != 0 {
            return Err(KeyError::new(format!(
                "the fingerprint key folder {} is writable by other users",
                dir.display()
            ))
            .hint(format!("make it private: `chmod 700 {}`", dir.display())));
        }
    }
    Ok(())
}

/// 32 random bytes as hex, written by `files::write_new`: the key appears whole or not at
/// all, and a key another run made first is kept.
fn create_key_file(path: &Path) -> io::Result<()> {
    use rand::RngCore as _;
    let mut raw = Zeroizing::new([0u8; 32]);
    rand::rngs::OsRng.fill_bytes(&mut raw[..]);
    let text = Zeroizing::new(format!("{}\n", hex::encode(&raw[..])));
    match crate::files::write_new(path, text.as_bytes()) {
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        other => other,
    }
}

/// Read a key file, refusing anything but a small regular file of this user that only
/// this user can read. Opened without following links and checked on the open file, so
/// the file checked is the file read. Messages call it `shown`, never by a path the user
/// typed.
pub fn read_key_file(path: &Path, shown: &str) -> Result<FingerprintKey, KeyError> {
    let fail = |e: io::Error| {
        let e = crate::token_input::without_path(e, path);
        KeyError::new(format!("fingerprint key {shown}: {e}"))
    };
    let file = crate::files::open_regular(path, crate::files::Links::Refuse).map_err(fail)?;
    let meta = file.metadata().map_err(fail)?;
    check_private(shown, &meta)?;
    if meta.len() > LARGEST_KEY_FILE {
        return Err(KeyError::new(format!(
            "fingerprint key {shown} is larger than {LARGEST_KEY_FILE} bytes: not a key"
        )));
    }
    let mut text = Zeroizing::new(String::new());
    file.take(LARGEST_KEY_FILE)
        .read_to_string(&mut text)
        .map_err(fail)?;
    FingerprintKey::from_text(&text)
        .map_err(|why| KeyError::new(format!("{shown}: {why}")).hint(MAKE_KEY.into()))
}

#[cfg(unix)]
fn check_private(shown: &str, meta: &fs::Metadata) -> Result<(), KeyError> {
    use std::os::unix::fs::MetadataExt as _;
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    if meta.uid() != me {
        return Err(
            KeyError::new(format!("fingerprint key {shown} belongs to another user"))
                .hint("use a key file of your own, or AUTOREKEY_FINGERPRINT_KEY".into()),
        );
    }
    if meta.mode() & 0o077 != 0 {
        return Err(KeyError::new(format!(
            "fingerprint key {shown} can be read or changed by other users (mode {:o})",
            meta.mode() & 0o777
        ))
        .hint(
            "make it private with `chmod 600` on that file; if others may have read it, delete it (a new one is made) or give your team key"
                .into(),
        ));
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_private(_shown: &str, _meta: &fs::Metadata) -> Result<(), KeyError> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn machine_key_is_created_private_once_and_reused() {
        use std::os::unix::fs::PermissionsExt as _;
        let root = tempfile::tempdir().unwrap();
        let path = root.path().join("autorekey").join("fingerprint.key");
        let first = machine_key(&path).expect("created");
        let second = machine_key(&path).expect("read back");
        assert_eq!(first.bytes(), second.bytes());
        assert_eq!(first.bytes().len(), 64, "32 bytes as hex");
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(path.parent().unwrap()), 0o700);
        let others: Vec<_> = fs::read_dir(path.parent().unwrap()).unwrap().collect();
        assert_eq!(others.len(), 1, "no temporary file is left behind");
    }

    #[cfg(unix)]
    #[test]
    fn key_files_others_can_read_or_that_are_links_are_refused() {
        use std::os::unix::fs::PermissionsExt as _;
        let root = tempfile::tempdir().unwrap();
        let path = root.path().join("team.key");
        fs::write(&path, "0123456789abcdef0123456789abcdef\n").unwrap();
        for mode in [0o644, 0o640, 0o604, 0o660] {
            fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
            let e = read_key_file(&path, "k").expect_err("readable by others");
            assert!(e.message.contains("other users"), "{}", e.message);
            assert!(e.hint.is_some());
        }
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        assert!(read_key_file(&path, "k").is_ok());

        let link = root.path().join("link.key");
        std::os::unix::fs::symlink(&path, &link).unwrap();
        assert!(
            read_key_file(&link, "k").is_err(),
            "a symlink is not followed"
        );
        let dir = root.path().join("dir.key");
        fs::create_dir(&dir).unwrap();
        let e = read_key_file(&dir, "k").expect_err("a folder is not a key");
        assert!(e.message.contains("not a regular file"), "{}", e.message);
    }

    #[cfg(unix)]
    #[test]
    fn a_machine_key_in_a_folder_others_can_write_is_refused() {
        use std::os::unix::fs::PermissionsExt as _;
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("autorekey");
        fs::create_dir(&dir).unwrap();
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o777)).unwrap();
        let e = machine_key(&dir.join("fingerprint.key")).expect_err("shared folder");
        assert!(
            e.message.contains("writable by other users"),
            "{}",
            e.message
        );
        assert!(!dir.join("fingerprint.key").exists());
    }
}
