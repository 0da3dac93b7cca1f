//! Placeholders: values an author wrote to be replaced, not secrets.
//!
//! Public rule files (a README's example, a template, a terraform golden file) carry
//! `Bearer YOUR_GITHUB_PAT_WITH_REPO_SCOPE`, `<your-token>`, `${TOKEN}`, `REPLACE_ME`,
//! `xxxx…`, `changeme` or `TODO` where the credential goes. Reported as a literal, each
//! would fail `--fail-on literal` and count as a credential to rotate or revoke, though no
//! server takes it for anyone. They get their own status ([`super::Status::Placeholder`]):
//! shown, so an admin sees the template, and never a credential.
//!
//! The test is narrow on purpose: a real secret taken for a placeholder would be hidden
//! from `--fail-on literal`. Random tokens have no English word at their start, no
//! brackets around them and more than one distinct character; an Atlassian-shaped token is
//! never a placeholder.

/// Words that, as the whole value, say "fill this in".
const WHOLE_WORDS: [&str; 9] = [
    "changeme",
    "changeit",
    "replaceme",
    "todo",
    "tbd",
    "fixme",
    "placeholder",
    "redacted",
    "yourtoken",
];

/// Words that open a value written to be replaced (`YOUR_GITHUB_PAT`, `insert-token-here`).
const OPENING_WORDS: [&str; 7] = ["your", "insert", "replace", "enter", "paste", "put", "my"];

/// Whether a value found where a credential goes is an author's placeholder.
pub(crate) fn is_placeholder(value: &str) -> bool {
    let v = value
        .trim()
        .trim_end_matches('…')
        .trim_end_matches("...")
        .trim();
    if v.is_empty() || super::fingerprint_kind::is_atlassian_token(v) {
        return false;
    }
    wrapped(v) || filler(v) || wordy(v)
}

/// `<your-token>`, `${TOKEN}`, `$TOKEN`, `%TOKEN%`, `[token]`: a name standing for a value.
fn wrapped(v: &str) -> bool {
    let pairs = [("<", ">"), ("${", "}"), ("%", "%"), ("[", "]")];
    let env_name = v.strip_prefix('$').is_some_and(|name| {
        name.len() >= 2
            && name
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
    });
    env_name
        || pairs
            .iter()
            .any(|(open, close)| v.len() > 2 && v.starts_with(open) && v.ends_with(close))
}

/// `xxxxxxxx`, `XXXX-XXXX`, `00000000`, `********`: one character repeated (separators
/// aside), or only x's.
fn filler(v: &str) -> bool {
    let chars: Vec<char> = v
        .chars()
        .filter(|c| !matches!(c, '-' | '_' | '.'))
        .collect();
    let Some(&first) = chars.first() else {
        return false;
    };
    chars.len() >= 3
        && (chars.iter().all(|&c| c == first) || chars.iter().all(|&c| c == 'x' || c == 'X'))
}

/// `REPLACE_ME`, `changeme`, `TODO`, `YOUR_GITHUB_PAT_WITH_REPO_SCOPE`, `your-api-token`.
fn wordy(v: &str) -> bool {
    let lower = v.to_ascii_lowercase();
    let words: Vec<&str> = lower
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    let joined = words.concat();
    if WHOLE_WORDS.contains(&joined.as_str()) {
        return true;
    }
    // An opening word followed by more words, only letters (`YOUR_TOKEN_HERE`): a random
    // secret that happens to start with `my` has digits or no separators.
    let letters_only = words
        .iter()
        .all(|w| w.bytes().all(|b| b.is_ascii_alphabetic()));
    let opens = words.first().is_some_and(|w| OPENING_WORDS.contains(w));
    (opens && words.len() >= 2 && letters_only)
        || (letters_only && words.len() >= 2 && words.iter().any(|w| WHOLE_WORDS.contains(w)))
}

/// A `Basic` value that does not decode and is written to be replaced: `YOUR_TOKEN_HERE`,
/// `<api token>`, `xxxxxxxx`, `your-token-here`, `REPLACE-ME`. Broader than
/// [`is_placeholder`]: no base64 of a credential has these shapes.
pub(crate) fn is_basic_placeholder(cred: &str) -> bool {
    static WORDS: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    let words = WORDS.get_or_init(|| {
        regex::Regex::new(r"(?i)your|token|here|replace|change|example|placeholder|redacted|secret")
            .expect("static pattern")
    });
    let c = cred.trim();
    let wrapped = [('<', '>'), ('[', ']'), ('(', ')')]
        .iter()
        .any(|&(open, close)| c.starts_with(open) && c.ends_with(close));
    let one_char = c.chars().all(|x| c.starts_with(x)) || c.chars().all(|x| "xX*.".contains(x));
    let separated = c.contains(['_', '-', ' ']);
    let shouting = !c.bytes().any(|b| b.is_ascii_lowercase());
    wrapped || one_char || (separated && (shouting || words.is_match(c))) || is_placeholder(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authors_placeholders_are_placeholders() {
        for v in [
            "YOUR_GITHUB_PAT_WITH_REPO_SCOPE",
            "<your-token>",
            "${TOKEN}",
            "$GITHUB_TOKEN",
            "%API_TOKEN%",
            "[token]",
            "REPLACE_ME",
            "replace-with-your-token",
            "xxxxxxxxxxxxxxxx",
            "xxxx…",
            "XXXX-XXXX-XXXX",
            "changeme",
            "CHANGE_ME",
            "TODO",
            "todo",
            "your-api-token",
            "insert token here",
            "0000000000000000",
            "<base64 of email:token>",
        ] {
            assert!(is_placeholder(v), "{v}");
        }
    }

    #[test]
    fn secrets_are_not_placeholders() {
        // Token-shaped values are made here, not written out: no real-looking secret is
        // committed, even a fake one.
        let github_shaped = format!("ghp_{}", "16C7e42F292c6912E7710c838347Ae178B4a");
        let atlassian_shaped = format!("ATATT3xFfGF0todo_your_token_TODO_{}", "x".repeat(50));
        for v in [
            "FAKE-svc-jira-OLD-token-1111",
            github_shaped.as_str(),
            "hunter2",
            "summer2024",
            "password",
            "secret",
            "my7Hq2ZpL0x",
            "xoxb-123456789012-abcdefABCDEF",
            "todo-4f9a2c1e8b7d",
            atlassian_shaped.as_str(),
            "a",
            "ab",
        ] {
            assert!(!is_placeholder(v), "{v}");
        }
    }
}
