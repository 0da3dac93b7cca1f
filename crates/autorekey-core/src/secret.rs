//! Secret-bearing types: API tokens and the Basic credentials built from them.
//!
//! A token must never reach stdout, stderr, a log, a plan, a journal, a panic message or
//! `Debug` output. The types here make that the default: they wrap the value in
//! [`secrecy::SecretString`] (zeroed on drop), print `****` for both `Display` and `Debug`,
//! and offer only two ways to look at the value: [`Token::expose`] for the few places that
//! must send or encode it, and its fingerprint: [`Token::fingerprint`] (plain SHA-256, for
//! Atlassian API tokens, which are too random to guess) or, for secrets that may be weak,
//! the keyed form [`Token::keyed_fingerprint`] (see [`fingerprint_key`]). [`Token::identity`]
//! tells tokens apart within one run and is shown nowhere.
//! Values derived from a token (the `Basic` value) are handed out zeroizing too, and
//! [`Masker`] decides what of a server's text may be shown.

use std::fmt;

use base64::Engine as _;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

pub mod fingerprint_key;
mod mask;
pub use fingerprint_key::FingerprintKey;
pub use mask::{Masker, LONGEST_SHOWN, WITHHELD};

/// An API token (or any other secret string found in a rule).
#[derive(Clone)]
pub struct Token(SecretString);

impl Token {
    pub fn new(value: impl Into<String>) -> Self {
        Token(SecretString::from(value.into()))
    }

    /// The clear value. Call only to send it over HTTPS or to encode it into a rule.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    /// First 12 lowercase hex digits of SHA-256 of the token alone: safe to show, log and
    /// store, and what an admin matches with `autorekey fingerprint`.
    pub fn fingerprint(&self) -> Fingerprint {
        Fingerprint::of(self.expose())
    }

    /// `k:` + 12 hex of HMAC-SHA256 under this process's installed key
    /// ([`fingerprint_key::install`]), or `k:????????????` when there is none. For secrets
    /// that may be weak: without the key, the value cannot be tested against guesses.
    pub fn keyed_fingerprint(&self) -> Fingerprint {
        Fingerprint::keyed(self.expose(), fingerprint_key::installed())
    }

    /// Which token this is, to compare tokens within this run whatever fingerprint each
    /// place shows: HMAC-SHA256 under a random key of this process, so it means nothing
    /// outside it and is harmless wherever it ends up. Never shown.
    pub fn identity(&self) -> Fingerprint {
        Fingerprint(hex::encode(
            &fingerprint_key::hmac_sha256(fingerprint_key::process_key(), self.expose().as_bytes())
                [..16],
        ))
    }

    pub fn is_empty(&self) -> bool {
        self.expose().is_empty()
    }
}

impl PartialEq for Token {
    fn eq(&self, other: &Self) -> bool {
        self.expose() == other.expose()
    }
}

impl Eq for Token {}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(****)")
    }
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("****")
    }
}

/// Which fingerprint a secret is shown with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FingerprintKind {
    /// Plain SHA-256: an Atlassian API token, the same on every machine.
    Plain,
    /// HMAC-SHA256 under the machine's or team's key, shown with a `k:` marker.
    Keyed,
}

/// The public identity of a token: 12 lowercase hex digits, or `k:` and 12 hex digits for
/// a keyed fingerprint.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Fingerprint(String);

impl Fingerprint {
    pub fn of(token: &str) -> Self {
        let digest = Sha256::digest(token.as_bytes());
        Fingerprint(hex::encode(&digest[..6]))
    }

    /// The keyed fingerprint of `token` under `key`; `k:????????????` without a key.
    pub fn keyed(token: &str, key: Option<&FingerprintKey>) -> Self {
        match key {
            Some(key) => {
                let mac = fingerprint_key::hmac_sha256(key.bytes(), token.as_bytes());
                Fingerprint(format!("{KEYED_MARK}{}", hex::encode(&mac[..6])))
            }
            None => Fingerprint(format!("{KEYED_MARK}????????????")),
        }
    }

    /// Accepts what a user types: 12 hex digits (or more, or fewer, as a prefix), any case,
    /// with the `k:` marker of a keyed fingerprint kept.
    pub fn parse_prefix(text: &str) -> Option<String> {
        let t = text.trim().to_ascii_lowercase();
        let (mark, digits) = t
            .strip_prefix(KEYED_MARK)
            .map_or(("", t.as_str()), |rest| (KEYED_MARK, rest));
        let hex = !digits.is_empty()
            && digits.len() <= 64
            && digits.chars().all(|c| c.is_ascii_hexdigit());
        hex.then(|| format!("{mark}{digits}"))
    }

    pub fn is_keyed(&self) -> bool {
        self.0.starts_with(KEYED_MARK)
    }

    /// Of two fingerprints of one token (this one and `other`), keep the plain one.
    pub fn prefer_plain(&mut self, other: Fingerprint) {
        if self.is_keyed() && !other.is_keyed() {
            *self = other;
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A plain prefix matches only plain fingerprints and a `k:` prefix only keyed ones.
    pub fn matches_prefix(&self, prefix: &str) -> bool {
        self.0.starts_with(prefix) || prefix.starts_with(&self.0)
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({})", self.0)
    }
}

/// What marks a keyed fingerprint, so nobody compares it with a plain one.
pub const KEYED_MARK: &str = "k:";

/// A user name (usually an email) and its token, as carried by HTTP Basic.
#[derive(Clone, PartialEq, Eq)]
pub struct Credential {
    pub user: String,
    pub token: Token,
}

impl Credential {
    pub fn new(user: impl Into<String>, token: Token) -> Self {
        Credential {
            user: user.into(),
            token,
        }
    }

    /// `base64(user:token)`, standard alphabet with padding, as Atlassian documents it.
    /// For text that holds it anyway (a rule being rewritten); to send or compare it, use
    /// [`Self::basic_secret`], which is zeroized on drop.
    pub fn basic_value(&self) -> String {
        self.basic_secret().as_str().to_owned()
    }

    /// [`Self::basic_value`], zeroized on drop like the `user:token` pair it is built from.
    pub fn basic_secret(&self) -> Zeroizing<String> {
        let pair = Zeroizing::new(format!("{}:{}", self.user, self.token.expose()));
        Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(pair.as_bytes()))
    }
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Credential({} · {})",
            self.user,
            self.token.fingerprint()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_is_first_12_hex_of_sha256() {
        // sha256("abc") = ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad
        assert_eq!(Token::new("abc").fingerprint().as_str(), "ba7816bf8f01");
    }

    #[test]
    fn identity_tells_tokens_apart_and_is_not_the_plain_hash() {
        let (a, b) = (Token::new("abc"), Token::new("abd"));
        assert_eq!(a.identity(), Token::new("abc").identity());
        assert_ne!(a.identity(), b.identity());
        assert!(!a.identity().as_str().contains(a.fingerprint().as_str()));
    }

    #[test]
    fn debug_and_display_never_show_the_value() {
        let t = Token::new("s3cr3t-value");
        let c = Credential::new("svc@example.com", t.clone());
        for shown in [format!("{t}"), format!("{t:?}"), format!("{c:?}")] {
            assert!(!shown.contains("s3cr3t"), "{shown}");
        }
        assert_eq!(format!("{t}"), "****");
    }

    #[test]
    fn basic_value_is_padded_standard_base64() {
        let c = Credential::new("a@b.c", Token::new("t"));
        assert_eq!(c.basic_value(), "YUBiLmM6dA==");
        assert_eq!(c.basic_secret().as_str(), "YUBiLmM6dA==");
    }

    #[test]
    fn fingerprint_prefix_parsing() {
        assert_eq!(
            Fingerprint::parse_prefix(" 3F9C0A1B2C4D "),
            Some("3f9c0a1b2c4d".into())
        );
        assert_eq!(Fingerprint::parse_prefix("xyz"), None);
        assert_eq!(
            Fingerprint::parse_prefix("K:1A2B3C"),
            Some("k:1a2b3c".into())
        );
        assert_eq!(Fingerprint::parse_prefix("k:"), None);
        assert_eq!(Fingerprint::parse_prefix("k:????????????"), None);
        let key = FingerprintKey::from_text("unit-test-key-0123456789").unwrap();
        let keyed = Fingerprint::keyed("abc", Some(&key));
        assert!(keyed.is_keyed() && keyed.matches_prefix(&keyed.as_str()[..6]));
        assert!(
            !keyed.matches_prefix("ba7816"),
            "kinds never match each other"
        );
        assert!(!Token::new("abc").fingerprint().matches_prefix("k:ba78"));
        assert!(Token::new("abc").fingerprint().matches_prefix("ba7816"));
    }
}
