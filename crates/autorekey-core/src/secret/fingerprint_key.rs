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
//! The key is resolved once by the shell (its `fingerprint_key_file` module reads or makes
//! the key file) and [`install`]ed, then read where fingerprints are made, so the detect
//! core stays free of I/O and no stage needs the key passed through it.

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
pub const MAKE_KEY: &str = "make one with `openssl rand -hex 32` and share it as the team key";

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
    let key = KEY.get().and_then(Option::as_ref);
    let key = key.map_or_else(|| &process_key()[..], FingerprintKey::bytes);
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
}
