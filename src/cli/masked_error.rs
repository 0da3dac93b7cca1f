//! clap's usage errors with every secret the command line may hold masked.
//!
//! clap quotes what it did not understand: `unexpected argument 'ATATT3…' found`, with a
//! tip repeating it. A token pasted as a stray argument, or given where its file belongs
//! (`--new-token-file ATATT3…` followed by a mistake elsewhere), would be printed back in
//! full, and CI logs keep it. So before a usage error is shown, these become `****`:
//!
//! - the value of every flag that names a secret's file (`--new-token-file` and the like);
//! - what clap quotes from the command line (an unknown argument or subcommand, a refused
//!   value) unless it is flag-shaped, and the `=VALUE` of a flag-shaped one;
//! - anything shaped like a token: an Atlassian prefix (`ATATT`, `ATCTT`, `ATSTT`) or a run
//!   of 32 or more base64 characters.
//!
//! Short words are left as they are: no token is that short, and masking `scna` would hide
//! the typo the message is about. The error's kind, the usage line and the tips stay.

use std::ffi::OsString;
use std::sync::OnceLock;

use clap::error::{ContextKind, ContextValue};

/// Flags whose value is the path of a file holding a secret.
const SECRET_FILE_FLAGS: [&str; 4] = [
    "--new-token-file",
    "--api-token-file",
    "--org-api-key-file",
    "--fingerprint-key-file",
];

/// Shorter words are shown: no secret this tool handles is that short.
const SHORTEST_MASKED: usize = 8;

/// `error` as clap would print it (without styles), secrets of `args` masked.
pub fn masked_error_text(error: &clap::Error, args: &[OsString]) -> String {
    let mut words: Vec<String> = secret_file_values(args);
    for kind in [
        ContextKind::InvalidArg,
        ContextKind::InvalidSubcommand,
        ContextKind::InvalidValue,
    ] {
        if let Some(value) = error.get(kind) {
            words.extend(quoted_words(value));
        }
    }
    let mut text = error.render().to_string();
    words.retain(|w| w.chars().count() >= SHORTEST_MASKED);
    // Longest first, so a word inside another does not leave the rest showing.
    words.sort_by_key(|w| std::cmp::Reverse(w.len()));
    for word in &words {
        text = text.replace(word.as_str(), "****");
    }
    token_shaped().replace_all(&text, "****").into_owned()
}

/// The values given to the secret-file flags, as `--flag VALUE` or `--flag=VALUE`.
fn secret_file_values(args: &[OsString]) -> Vec<String> {
    let args: Vec<String> = args
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let mut values = Vec::new();
    for (i, arg) in args.iter().enumerate() {
        for flag in SECRET_FILE_FLAGS {
            if arg == flag {
                values.extend(args.get(i + 1).cloned());
            } else if let Some(value) = arg.strip_prefix(flag).and_then(|r| r.strip_prefix('=')) {
                values.push(value.to_owned());
            }
        }
    }
    values
}

/// What clap quotes from the command line: a stray word whole, a flag's `=VALUE` part.
fn quoted_words(value: &ContextValue) -> Vec<String> {
    let strings = match value {
        ContextValue::String(s) => vec![s.clone()],
        ContextValue::Strings(list) => list.clone(),
        _ => Vec::new(),
    };
    strings
        .into_iter()
        .filter_map(|s| match s.strip_prefix('-') {
            None => Some(s),
            Some(_) => s.split_once('=').map(|(_, value)| value.to_owned()),
        })
        .collect()
}

fn token_shaped() -> &'static regex::Regex {
    static SHAPE: OnceLock<regex::Regex> = OnceLock::new();
    SHAPE.get_or_init(|| {
        regex::Regex::new(r"AT[ACS]TT[A-Za-z0-9_=+/\-]*|[A-Za-z0-9+/=_]{32,}")
            .expect("a valid constant pattern")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error_for(args: &[&str]) -> (clap::Error, Vec<OsString>) {
        let args: Vec<OsString> = args.iter().map(OsString::from).collect();
        let error = crate::cli::try_parse_from(args.clone()).expect_err("a usage error");
        (error, args)
    }

    fn fake(prefix: &str) -> String {
        format!("{prefix}{}", uuid::Uuid::new_v4().simple())
    }

    #[test]
    fn a_stray_token_is_masked_and_the_message_kept() {
        for token in [fake("ATATT3xFAKE"), fake("FAKE-stray-"), fake("")] {
            let (error, args) = error_for(&["autorekey", "scan", &token]);
            let shown = masked_error_text(&error, &args);
            assert!(!shown.contains(&token[..12]), "{shown}");
            assert!(shown.contains("unexpected argument '****'"), "{shown}");
            assert!(shown.contains("Usage:"), "{shown}");
        }
    }

    #[test]
    fn a_secret_file_value_is_masked_whatever_error_follows() {
        let token = fake("FAKE-file-");
        for args in [
            vec!["autorekey", "--new-token-file", &token, "rotate", "--bogus"],
            vec![
                "autorekey",
                "rotate",
                &format!("--new-token-file={token}"),
                "x y",
            ],
        ] {
            let (error, args) = error_for(&args);
            let shown = masked_error_text(&error, &args);
            assert!(!shown.contains(&token[..14]), "{shown}");
        }
        // A typo stays readable.
        let (error, args) = error_for(&["autorekey", "scna"]);
        assert!(masked_error_text(&error, &args).contains("'scna'"));
    }
}
