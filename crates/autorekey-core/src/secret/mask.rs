//! [`Masker`]: the one place that decides whether server text may be shown.
//!
//! A server (or anything on the path) may echo a credential back in an error: as sent, but
//! also percent-encoded, as HTML entities, as base64 of `email:token` or of the token alone,
//! padded or not, cut to a prefix, or split across two error fields. Matching a list of
//! exact forms always misses one, so masking works in two steps:
//!
//! 1. every piece of 20 characters or more of a known secret, or of the part of its base64
//!    encodings that depends only on it (standard and URL-safe, at each byte alignment, so
//!    `base64(anyone:token)` is covered), is replaced by `****`; shorter secrets are matched
//!    whole. Matching ignores ASCII case: a server that upper-cases a hex secret (or a whole
//!    token) still echoes it, and masking a little more is the safe side;
//! 2. the result is decoded every way a server might have encoded it (percent, HTML
//!    entities, `\uXXXX`, base64 runs), with separators removed so split fields join up; if
//!    any decoding still holds a piece of a secret, the whole text is withheld.
//!
//! The secrets are kept in zeroizing strings, and so is every form derived from them.
//!
//! A text is cut to [`LONGEST_SHOWN`] characters *before* any of this: the decodings copy
//! the text a dozen times over, so a 31 MiB error body cleaned whole took gigabytes. The
//! cut must not leave the start of a secret showing at its edge (a piece shorter than 20
//! characters matches nothing), so the pieces are looked for in the kept text plus
//! [`CONTEXT`] characters after it, and the leak check reads those too.

use std::collections::HashSet;
use std::hash::{BuildHasher as _, RandomState};

use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use zeroize::Zeroizing;

use super::Credential;

/// Pieces at least this long are masked wherever they appear.
const PIECE: usize = 20;
/// Shorter secrets are too common as plain words to mask (`user`, `true`).
const SHORTEST: usize = 4;
/// Most characters of one text that [`Masker::clean`] keeps: far more than any message
/// needs, little enough that masking it costs nothing.
pub const LONGEST_SHOWN: usize = 4096;
/// Characters past the cut still read for secrets: a piece is `PIECE` characters, and an
/// encoded character (`&#x3D;`, `\u003d`) takes up to 12.
const CONTEXT: usize = 12 * PIECE;
/// What replaces a server text that still decodes to a credential.
pub const WITHHELD: &str = "(server text withheld: it repeated a credential)";

/// The secrets whose echoes must never be shown.
///
/// Built as secrets arrive: each of their forms is cut into windows of `PIECE` characters
/// and only a keyed hash of each window is kept (the key is random per process), so a text
/// is scanned once, window by window, whatever the number of secrets, and the index itself
/// holds no piece of a secret.
#[derive(Clone, Default)]
pub struct Masker {
    /// Hashes of the secrets added, to add each once.
    added: HashSet<u64>,
    hasher: RandomState,
    pieces: HashSet<u64>,
    /// Forms shorter than a piece, matched whole.
    short: Vec<Zeroizing<String>>,
}

impl std::fmt::Debug for Masker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Masker({} secrets)", self.added.len())
    }
}

impl Masker {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a secret (a token, a `Basic` value, a password) with the base64 forms of it;
    /// too short ones are ignored.
    pub fn add(&mut self, secret: &str) {
        let secret = secret.trim();
        if secret.len() < SHORTEST || !self.added.insert(self.hasher.hash_one(secret)) {
            return;
        }
        self.index(secret);
        for core in base64_cores(secret) {
            self.index(&core);
        }
    }

    /// Adds a credential's token and its `Basic` value.
    pub fn add_credential(&mut self, credential: &Credential) {
        self.add(credential.token.expose());
        self.add(&credential.basic_secret());
    }

    fn index(&mut self, form: &str) {
        let form = Zeroizing::new(form.to_ascii_lowercase());
        let bounds = char_bounds(&form);
        if bounds.len() <= PIECE {
            self.short.push(form);
            return;
        }
        for i in 0..bounds.len() - PIECE {
            let piece = &form[bounds[i]..bounds[i + PIECE]];
            self.pieces.insert(self.hasher.hash_one(piece));
        }
    }

    /// `text` cut to [`LONGEST_SHOWN`] characters (`…` marks a cut) with every known
    /// secret masked, or [`WITHHELD`] when it still decodes to one. Secrets are looked for
    /// past the cut too, so one straddling it is masked up to the cut.
    pub fn clean(&self, text: &str) -> String {
        let cut = char_offset(text, LONGEST_SHOWN);
        let context = &text[..char_offset(text, LONGEST_SHOWN + CONTEXT)];
        let spans = self.spans(context);
        let masked = replace_spans(context, spans.clone());
        if self.leaks(&masked) {
            return WITHHELD.to_owned();
        }
        if cut == text.len() {
            return masked;
        }
        let kept = spans
            .into_iter()
            .filter(|&(start, _)| start < cut)
            .map(|(start, end)| (start, end.min(cut)))
            .collect();
        format!("{}…", replace_spans(&text[..cut], kept))
    }

    /// True when `parts`, read as one text, hold a secret in any form: for error fields a
    /// server may have split a token across.
    pub fn leaks_joined(&self, parts: &[&str]) -> bool {
        let joined = Zeroizing::new(parts.concat());
        self.leaks(&joined)
    }

    /// Replaces every piece of a known secret (and of its base64 forms) with `****`.
    /// Occurrences are found in the original text and merged before replacing, so
    /// overlapping secrets cannot leave a piece of one another showing.
    pub fn mask(&self, text: &str) -> String {
        replace_spans(text, self.spans(text))
    }

    /// True when any decoding of `text` (separators removed) holds a piece of a secret.
    pub fn leaks(&self, text: &str) -> bool {
        decodings(text)
            .iter()
            .any(|decoded| !self.spans(decoded).is_empty())
    }

    /// Byte spans of `text` that are a piece or a short form, in any ASCII case (folding
    /// ASCII case keeps every byte offset, so the spans fit `text` itself).
    fn spans(&self, text: &str) -> Vec<(usize, usize)> {
        let text = Zeroizing::new(text.to_ascii_lowercase());
        let mut spans = Vec::new();
        let bounds = char_bounds(&text);
        if bounds.len() > PIECE && !self.pieces.is_empty() {
            for i in 0..bounds.len() - PIECE {
                let (start, end) = (bounds[i], bounds[i + PIECE]);
                if self
                    .pieces
                    .contains(&self.hasher.hash_one(&text[start..end]))
                {
                    spans.push((start, end));
                }
            }
        }
        for form in &self.short {
            find_all(&text, form, &mut spans);
        }
        spans
    }
}

/// The byte offset of every character of `text`, and its length.
fn char_bounds(text: &str) -> Vec<usize> {
    text.char_indices()
        .map(|(i, _)| i)
        .chain([text.len()])
        .collect()
}

/// The byte offset of character `n` of `text`, or its length when it is shorter.
fn char_offset(text: &str, n: usize) -> usize {
    text.char_indices().nth(n).map_or(text.len(), |(at, _)| at)
}

/// The base64 text that depends only on `secret`, at each of the three byte alignments it
/// can have inside a longer value (`user:` before it only shifts it), standard and URL-safe.
fn base64_cores(secret: &str) -> Vec<Zeroizing<String>> {
    let mut cores = Vec::new();
    for align in 0..3usize {
        let mut bytes = Zeroizing::new(vec![0u8; align]);
        bytes.extend_from_slice(secret.as_bytes());
        let whole = bytes.len() / 3 * 3;
        // The first characters mix in the zero bytes standing for what came before.
        let skip = [0, 2, 3][align];
        for engine in [&STANDARD_NO_PAD, &URL_SAFE_NO_PAD] {
            let encoded = Zeroizing::new(engine.encode(&bytes[..whole]));
            if encoded.len() > skip + SHORTEST {
                let core = Zeroizing::new(encoded[skip..].to_owned());
                if !cores.contains(&core) {
                    cores.push(core);
                }
            }
        }
    }
    cores
}

fn find_all(text: &str, piece: &str, spans: &mut Vec<(usize, usize)>) {
    let mut from = 0;
    while let Some(at) = text[from..].find(piece) {
        spans.push((from + at, from + at + piece.len()));
        // Step one character, not the whole match, so overlapping occurrences count too.
        from += at + text[from + at..].chars().next().map_or(1, char::len_utf8);
    }
}

fn replace_spans(text: &str, mut spans: Vec<(usize, usize)>) -> String {
    spans.sort_unstable();
    let mut merged: Vec<(usize, usize)> = Vec::new();
    for (start, end) in spans {
        match merged.last_mut() {
            Some(last) if start <= last.1 => last.1 = last.1.max(end),
            _ => merged.push((start, end)),
        }
    }
    let mut out = String::with_capacity(text.len());
    let mut shown_to = 0;
    for (start, end) in merged {
        out.push_str(&text[shown_to..start]);
        out.push_str("****");
        shown_to = end;
    }
    out.push_str(&text[shown_to..]);
    out
}

/// `text` read every way a server might have encoded a credential in it, each without
/// whitespace and the separators error fields are joined with.
fn decodings(text: &str) -> Vec<Zeroizing<String>> {
    let mut layers: Vec<Zeroizing<String>> = vec![Zeroizing::new(text.to_owned())];
    // Two rounds: percent inside entities and entities inside percent both occur.
    for _ in 0..2 {
        let mut next = Vec::new();
        for layer in &layers {
            for decoded in [percent(layer), entities(layer)] {
                if decoded.as_str() != layer.as_str() && !next.contains(&decoded) {
                    next.push(decoded);
                }
            }
        }
        layers.extend(next);
    }
    let mut out: Vec<Zeroizing<String>> = layers
        .iter()
        .map(|l| Zeroizing::new(l.chars().filter(|c| !is_separator(*c)).collect()))
        .collect();
    let decoded_runs: Vec<Zeroizing<String>> = out.iter().flat_map(|l| base64_runs(l)).collect();
    out.extend(decoded_runs);
    out.extend(layers);
    out
}

fn is_separator(c: char) -> bool {
    c.is_whitespace() || matches!(c, ':' | '"' | '\'' | ',' | ';' | '(' | ')' | '|')
}

/// Percent-decoded, reading `+` both as a space (forms) and as itself (base64).
fn percent(text: &str) -> Zeroizing<String> {
    let plus_as_space = Zeroizing::new(text.replace('+', " "));
    let mut out = Zeroizing::new(String::with_capacity(text.len() * 2 + 1));
    for reading in [plus_as_space.as_str(), text] {
        out.push_str(&percent_encoding::percent_decode_str(reading).decode_utf8_lossy());
        out.push(' ');
    }
    out
}

/// HTML numeric and common named entities, and `\uXXXX` escapes.
fn entities(text: &str) -> Zeroizing<String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(['&', '\\']) {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        // Not an escape: the `&` or `\` stays as it is.
        let (c, len) = decode_entity(tail).unwrap_or((char::from(tail.as_bytes()[0]), 1));
        out.push(c);
        rest = &tail[len..];
    }
    out.push_str(rest);
    Zeroizing::new(out)
}

fn decode_entity(tail: &str) -> Option<(char, usize)> {
    if let Some(hex) = tail.strip_prefix("\\u") {
        let digits = hex.get(..4)?;
        let c = char::from_u32(u32::from_str_radix(digits, 16).ok()?)?;
        return Some((c, 6));
    }
    let end = tail.find(';').filter(|&e| e <= 12)?;
    let name = &tail[1..end];
    let c = if let Some(num) = name.strip_prefix('#') {
        let code = match num.strip_prefix(['x', 'X']) {
            Some(hex) => u32::from_str_radix(hex, 16).ok()?,
            None => num.parse().ok()?,
        };
        char::from_u32(code)?
    } else {
        match name {
            "amp" => '&',
            "lt" => '<',
            "gt" => '>',
            "quot" => '"',
            "apos" => '\'',
            "equals" => '=',
            "plus" => '+',
            "sol" => '/',
            "colon" => ':',
            "lowbar" => '_',
            "hyphen" | "dash" => '-',
            _ => return None,
        }
    };
    Some((c, end + 1))
}

/// Every run of base64 characters (16 or more) in `text`, decoded at each of its four
/// possible starting offsets, in both alphabets; undecodable runs give nothing.
fn base64_runs(text: &str) -> Vec<Zeroizing<String>> {
    let mut out = Vec::new();
    let is_b64 = |c: char| c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '-' | '_');
    for run in text.split(|c: char| !is_b64(c)).filter(|r| r.len() >= 16) {
        for offset in 0..4 {
            let part = &run[offset..];
            let part = &part[..part.len() / 4 * 4];
            for engine in [&STANDARD_NO_PAD, &URL_SAFE_NO_PAD] {
                if let Ok(bytes) = engine.decode(part) {
                    let bytes = Zeroizing::new(bytes);
                    out.push(Zeroizing::new(String::from_utf8_lossy(&bytes).into_owned()));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Token;
    use base64::engine::general_purpose::STANDARD;

    fn token() -> String {
        // Generated at run time: no real-looking secret is committed.
        format!(
            "FAKE{}={}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        )
    }

    fn masker(t: &str) -> Masker {
        let mut m = Masker::new();
        m.add_credential(&Credential::new("svc@corp.example", Token::new(t)));
        m
    }

    #[test]
    fn every_echoed_form_is_masked_or_withheld() {
        let t = token();
        let m = masker(&t);
        let pct_eq = t.replace('=', "%3D");
        let pct_all: String =
            percent_encoding::utf8_percent_encode(&t, percent_encoding::NON_ALPHANUMERIC)
                .to_string();
        let email_b64 = STANDARD_NO_PAD.encode(format!("svc@corp.example:{t}"));
        let other_user_b64 = STANDARD.encode(format!("someone.else@x.io:{t}"));
        let alone_b64 = STANDARD.encode(&t);
        let dec_entities = t.replace('=', "&#61;");
        let hex_entities = t.replace('=', "&#x3D;");
        let all_entities: String = t.chars().map(|c| format!("&#{};", c as u32)).collect();
        let prefix = &t[..22];
        let unicode_escaped = t.replace('=', "\\u003d");
        for echoed in [
            t.clone(),
            pct_eq,
            pct_all.clone(),
            pct_all.to_lowercase(),
            email_b64,
            other_user_b64,
            alone_b64,
            dec_entities,
            hex_entities,
            all_entities,
            prefix.to_owned(),
            unicode_escaped,
        ] {
            let shown = m.clean(&format!("bad value '{echoed}' in request"));
            assert!(!shown.contains(prefix), "{shown}");
            assert!(!m.leaks(&shown), "{shown}");
            for half in [&t[..t.len() / 2], &t[t.len() / 2..]] {
                assert!(!shown.contains(half), "{shown}");
            }
        }
    }

    #[test]
    fn echoes_with_changed_case_or_escaped_slashes_are_masked() {
        let basic_of = |t: &str| Credential::new("svc@corp.example", Token::new(t)).basic_value();
        // A token whose Basic value has slashes enough to cut it into short pieces (`?`
        // and `~` make base64 sextets of all ones).
        let t = format!("{}??~??~??~{}", token(), token());
        let basic = basic_of(&t);
        assert!(
            basic.matches('/').count() >= 3,
            "{}",
            basic.matches('/').count()
        );
        let hex_secret = hex::encode(uuid::Uuid::new_v4().as_bytes());
        let mut m = masker(&t);
        m.add(&hex_secret);
        // A server quoting JSON inside its message escapes `/` as `\/`; base64 has slashes.
        let slashed = format!("Basic {}", basic.replace('/', "\\/"));
        for echoed in [
            hex_secret.to_uppercase(),
            t.to_uppercase(),
            t.to_lowercase(),
            basic.replace('/', "%2f").replace('+', "%2b"),
            slashed,
        ] {
            let shown = m.clean(&format!("rejected value: {echoed} (see docs)"));
            // Read as the JSON it quotes, what is shown holds no piece either.
            assert!(!m.leaks(&shown.replace("\\/", "/")), "{shown}");
            for window in echoed.as_bytes().chunks(12) {
                let window = std::str::from_utf8(window).unwrap();
                assert!(!shown.contains(window), "{window} in {shown}");
            }
        }
    }

    #[test]
    fn split_fields_are_caught_when_joined() {
        let t = token();
        let m = masker(&t);
        // Each part alone is shorter than a maskable piece; together they are not.
        let (a, b) = (&t[..15], &t[15..32]);
        assert!(!m.leaks(a) && !m.leaks(b));
        assert!(m.leaks_joined(&[a, b]));
        assert!(m.leaks_joined(&[a, ": ", b]));
    }

    #[test]
    fn plain_text_and_short_secrets_are_left_alone() {
        let m = masker(&token());
        let text = "Component ids do not match the existing rule (field components)";
        assert_eq!(m.clean(text), text);
        let mut short = Masker::new();
        short.add("abc");
        assert_eq!(short.clean("abc def"), "abc def");
    }

    #[test]
    fn overlapping_secrets_leave_no_piece_showing() {
        let mut m = Masker::new();
        m.add("FAKE-abcdef");
        m.add("cdef-FAKE-xyz");
        assert_eq!(
            m.mask("x FAKE-abcdef-FAKE-xyz y cdef-FAKE-xyz FAKE-abcdef"),
            "x **** y **** ****"
        );
    }

    #[test]
    fn a_long_text_is_cut_before_it_is_masked() {
        let t = token();
        let m = masker(&t);
        let huge = format!("{}{t}", "y".repeat(4 * 1024 * 1024));
        let shown = m.clean(&huge);
        assert_eq!(shown.chars().count(), LONGEST_SHOWN + 1);
        assert!(shown.ends_with('…'));
    }

    #[test]
    fn a_secret_straddling_the_cut_shows_no_piece_of_itself() {
        let t = token();
        let m = masker(&t);
        for before in [1, 5, 19, 20, 21, 40] {
            let text = format!(
                "{}{t}{}",
                "y".repeat(LONGEST_SHOWN - before),
                "z".repeat(50)
            );
            let shown = m.clean(&text);
            assert_eq!(
                shown,
                format!("{}****…", "y".repeat(LONGEST_SHOWN - before))
            );
        }
        // Encoded, its visible start decodes to less than a piece: the text is withheld.
        let entities: String = t.chars().map(|c| format!("&#{};", c as u32)).collect();
        let text = format!("{}{entities}", "y".repeat(LONGEST_SHOWN - 40));
        assert_eq!(m.clean(&text), WITHHELD);
    }

    #[test]
    fn debug_names_no_secret() {
        let t = token();
        assert_eq!(format!("{:?}", masker(&t)), "Masker(2 secrets)");
    }
}
