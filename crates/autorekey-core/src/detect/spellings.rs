//! Test support: the spellings of a Basic value that Atlassian's servers accept besides the
//! canonical one, and the escaped forms a relay body carries it in, so the detector's and
//! the rewriter's tests plant exactly what an admin may have pasted.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

use crate::secret::{Credential, Token};

/// A fake token made at run time.
pub fn fake_token(tag: &str) -> String {
    format!("FAKE-{tag}-{}", uuid::Uuid::new_v4().simple())
}

/// Padded standard base64 of `user:token`, as Atlassian documents it.
pub fn canonical(user: &str, token: &str) -> String {
    Credential::new(user, Token::new(token)).basic_value()
}

/// A token of `user` whose Basic value ends in padding, and that value with the spare bits
/// of its last symbol set: the same bytes to a lenient decoder, refused by a strict one.
pub fn spare_bits(user: &str, tag: &str) -> (String, String) {
    let mut token = fake_token(tag);
    while (user.len() + 1 + token.len()).is_multiple_of(3) {
        token.push('x');
    }
    let b64 = canonical(user, &token);
    let pads = b64.len() - b64.trim_end_matches('=').len();
    let at = b64.len() - pads - 1;
    let alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let index = alphabet.find(&b64[at..=at]).expect("a base64 symbol");
    let spare = (1 << (2 * pads)) - 1;
    let symbol = &alphabet[(index | spare)..=(index | spare)];
    assert_ne!(symbol, &b64[at..=at], "the spare bits were zero");
    let value = format!("{}{symbol}{}", &b64[..at], &b64[at + 1..]);
    (token, value)
}

/// `echo "user:token" | base64`: the pair with its line end, wrapped at 76 columns, and the
/// output's own last line end.
pub fn echoed(user: &str, token: &str) -> String {
    let mut out = String::new();
    for (i, symbol) in STANDARD
        .encode(format!("{user}:{token}\n"))
        .chars()
        .enumerate()
    {
        if i > 0 && i % 76 == 0 {
            out.push('\n');
        }
        out.push(symbol);
    }
    out + "\n"
}

/// `text` as a form body carries it: everything but alphanumerics and `*-._` escaped.
pub fn form_encoded(text: &str) -> String {
    const FORM: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'*')
        .remove(b'-')
        .remove(b'.')
        .remove(b'_');
    percent_encoding::utf8_percent_encode(text, FORM).to_string()
}

/// `text` inside a JSON string, its first character and every 7th one written as `\u00XX`,
/// and line ends as `\n`.
pub fn json_escaped(text: &str) -> String {
    text.chars()
        .enumerate()
        .map(|(i, c)| match c {
            '\n' => "\\n".to_string(),
            c if i % 7 == 0 && c.is_ascii() => format!("\\u{:04X}", c as u32),
            c => c.to_string(),
        })
        .collect()
}
