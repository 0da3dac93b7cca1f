//! The key of keyed fingerprints (and of a plan's hashes, [`keyed_digest`]): where it comes
//! from, and the one process-wide copy.
//!
//! A secret that is not an Atlassian API token (a password in a URL, a partner's Bearer
//! token, a webhook token) may be weak, and 48 bits of its plain SHA-256 would let anyone
//! holding an inventory test guesses offline. Such secrets get `k:` + 12 hex of
//! HMAC-SHA256 under a key that never leaves the machine (or the team). The key is, first
//! found first used:
//!
//! 1. a team key: `--fingerprint-key-file PATH` or `AUTOREKEY_FINGERPRINT_KEY` (never a
//!    flag's value: argv is world-readable), so inventories made on several machines agree;
//! 2. the machine key `<data dir>/autorekey/fingerprint.key`: 32 random bytes written as hex
//!    on first use, 0600 in a 0700 folder, created atomically (a temporary file hard-linked
//!    into place, so two runs at once agree on one key). A key file that is not a regular
//!    file of this user, or that others may read, is refused: a leaked key turns keyed
//!    fingerprints back into a guessing oracle.
//!
//! With neither (no data dir), keyed fingerprints show as `k:????????????` and the command
//! says so once at the end: never a fallback to the unkeyed hash.
//!
//! The key is resolved once by the shell ([`install`]) and read where fingerprints are made,
//! so the detect core stays free of I/O and no stage needs the key passed through it.

use std::fs;
use std::io::{self, Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

/// The environment variable holding a team key.
pub const KEY_ENV: &str = "AUTOREKEY_FINGERPRINT_KEY";
/// Shorter keys are refused: a guessable key makes the fingerprint guessable again.
const SHORTEST_KEY: usize = 16;
/// What to do about a key too short to be one.
const MAKE_KEY: &str = "make one with `openssl rand -hex 32` and share it as the team key";
/// A key file is small; a bigger one is not a key (or is hostile).
const LARGEST_KEY_FILE: u64 = 4096;

/// Key material, zeroized on drop.
#[derive(Clone)]
pub struct FingerprintKey(Zeroizing<Vec<u8>>);

impl FingerprintKey {
    /// A key from its text (a file's content or the environment variable), trimmed.
    pub fn from_text(text: &str) -> Result<Self, String> {
        let t = text.trim();
        if t.len() < SHORTEST_KEY {
            return Err(format!(
                "a fingerprint key must be at least {SHORTEST_KEY} characters (this one has {})",
                t.len()
            ));
        }
        Ok(FingerprintKey(Zeroizing::new(t.as_bytes().to_vec())))
    }

    pub fn bytes(&self) -> &[u8] {
        &self.0
    }
}

impl std::fmt::Debug for FingerprintKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FingerprintKey(****)")
    }
}

/// HMAC-SHA256 (RFC 2104), by the RustCrypto `hmac` crate.
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(message);
    mac.finalize().into_bytes().into()
}

static KEY: OnceLock<Option<FingerprintKey>> = OnceLock::new();
static PROCESS_KEY: OnceLock<[u8; 32]> = OnceLock::new();

/// A random key that lives as long as the process, for [`super::Token::identity`].
pub(crate) fn process_key() -> &'static [u8; 32] {
    PROCESS_KEY.get_or_init(|| {
        use rand::RngCore as _;
        let mut key = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut key);
        key
    })
}

/// HMAC-SHA256 of `message` as hex, under the installed key, else this process's random
/// one: for hashes that are written down but must not let anyone test guesses of what they
/// cover (a plan's rule hashes and seal; a rule holds secrets that may be weak). Unlike a
/// keyed fingerprint it is never shown, so no key is no `k:????`: it only means the hash
/// is good for this process alone.
pub fn keyed_digest(message: &[u8]) -> String {
    let key = match KEY.get().and_then(Option::as_ref) {
        Some(key) => key.bytes(),
        None => &process_key()[..],
    };
    hex::encode(hmac_sha256(key, message))
}

static UNKNOWN_SHOWN: AtomicBool = AtomicBool::new(false);

/// Make `key` the key of every keyed fingerprint of this process. The first call wins.
pub fn install(key: Option<FingerprintKey>) {
    let _ = KEY.set(key);
}

/// The key unit tests install (the first install wins, so they all use this one).
#[cfg(test)]
pub(crate) fn install_test_key() -> FingerprintKey {
    let key = FingerprintKey::from_text("unit-test-key-0123456789").expect("long enough");
    install(Some(key.clone()));
    key
}

/// The installed key; `None` (and the note is due) when there is none.
pub(crate) fn installed() -> Option<&'static FingerprintKey> {
    let key = KEY.get().and_then(Option::as_ref);
    if key.is_none() {
        UNKNOWN_SHOWN.store(true, Ordering::Relaxed);
    }
    key
}

/// Whether some keyed fingerprint was shown as `k:????????????`: the shell says why, once.
pub fn unknown_was_shown() -> bool {
    UNKNOWN_SHOWN.load(Ordering::Relaxed)
}

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

/// 32 random bytes as hex, written to a private temporary file and hard-linked into place:
/// the key appears whole or not at all, and a key another run made first is kept.
fn create_key_file(path: &Path) -> io::Result<()> {
    use rand::RngCore as _;
    let mut raw = Zeroizing::new([0u8; 32]);
    rand::rngs::OsRng.fill_bytes(&mut raw[..]);
    let text = Zeroizing::new(format!("{}\n", hex::encode(&raw[..])));
    let tmp = path.with_extension(format!("key.tmp-{}", uuid::Uuid::new_v4()));
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let written = (|| {
        let mut file = options.open(&tmp)?;
        file.write_all(text.as_bytes())?;
        file.sync_all()
    })();
    let linked = written.and_then(|()| match fs::hard_link(&tmp, path) {
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        other => other,
    });
    let _ = fs::remove_file(&tmp);
    linked
}

/// Read a key file, refusing anything but a small regular file of this user that only
/// this user can read. Opened without following links and checked on the open file, so
/// the file checked is the file read. Messages call it `shown`, never by a path the user
/// typed.
pub fn read_key_file(path: &Path, shown: &str) -> Result<FingerprintKey, KeyError> {
    let fail = |e: io::Error| KeyError::new(format!("fingerprint key {shown}: {e}"));
    let mut options = fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::custom_flags(
        &mut options,
        libc::O_NOFOLLOW | libc::O_NONBLOCK,
    );
    let file = options.open(path).map_err(fail)?;
    let meta = file.metadata().map_err(fail)?;
    if !meta.is_file() {
        return Err(KeyError::new(format!(
            "fingerprint key {shown} is not a regular file"
        )));
    }
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

    #[test]
    fn hmac_matches_rfc_4231_case_2() {
        let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(
            hex::encode(mac),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn short_keys_are_refused() {
        assert!(FingerprintKey::from_text("  short \n").is_err());
        assert!(FingerprintKey::from_text("0123456789abcdef").is_ok());
    }

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
