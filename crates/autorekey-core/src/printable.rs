//! Making hostile text safe to show on a terminal.
//!
//! Rule names, component text, header names and server error text are typed by anyone who
//! can edit a rule, or by any server on the path. Printed raw, a control sequence in them can
//! write the clipboard (`ESC ] 52`), erase and rewrite lines (`\r ESC [2K ESC [1A`) to fake a
//! summary, or reorder what is read with bidi overrides. Everything human-facing goes through
//! the CLI's `Ui`, which passes it through [`printable_text`]; values interpolated
//! into one line (a rule name) go through [`printable`] so they cannot start a line of their
//! own either. Machine output (JSON) is left as is: serde escapes control characters, and a
//! consumer must see the real value.
//!
//! Escapes are visible and unambiguous (`\u{1b}`), so an admin sees that something odd is in
//! a name instead of seeing nothing.

use std::borrow::Cow;
use std::fmt::Write as _;

/// True for characters that must not reach a terminal raw: C0 controls (tab and newline
/// included: [`printable_text`] lets newlines through), DEL, C1 controls, the bidi
/// embeddings, overrides and isolates, the directional marks, and the line/paragraph
/// separators (which some terminals and most editors treat as a new line).
fn is_unsafe(c: char) -> bool {
    matches!(c,
        '\u{0}'..='\u{1f}'
        | '\u{7f}'..='\u{9f}'
        | '\u{200e}' | '\u{200f}' | '\u{061c}'
        | '\u{202a}'..='\u{202e}'
        | '\u{2066}'..='\u{2069}'
        | '\u{2028}' | '\u{2029}'
    )
}

/// One line of hostile text: every unsafe character (newline included) escaped as `\u{..}`.
pub fn printable(text: &str) -> Cow<'_, str> {
    escape(text, |_| false)
}

/// One line of hostile text, as [`printable`], cut to at most `max` characters (`…` marks
/// a cut): a name or address a server sends may be of any length.
pub fn cut(text: &str, max: usize) -> String {
    let text = printable(text);
    if text.chars().count() <= max {
        return text.into_owned();
    }
    let kept: String = text.chars().take(max).collect();
    format!("{kept}…")
}

/// Multi-line text: like [`printable`], but newlines are kept.
pub fn printable_text(text: &str) -> Cow<'_, str> {
    escape(text, |c| c == '\n')
}

/// Multi-line text that may hold the styles the CLI's `Ui` itself paints (bold,
/// red, green, yellow, cyan, reset): those SGR sequences are kept, every other escape
/// sequence is escaped. A rule name holding one of these styles can at worst colour itself;
/// it can never move the cursor, erase a line, hide text or reach the clipboard.
pub fn printable_styled(text: &str) -> Cow<'_, str> {
    if !text.contains('\u{1b}') {
        return printable_text(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('\u{1b}') {
        out.push_str(&printable_text(&rest[..at]));
        let tail = &rest[at..];
        let (shown, len) = own_style_len(tail).map_or(("\\u{1b}", 1), |len| (&tail[..len], len));
        out.push_str(shown);
        rest = &tail[len..];
    }
    out.push_str(&printable_text(rest));
    Cow::Owned(out)
}

/// The length of `ESC [ n m` at the start of `text`, when `n` is a style the Ui paints.
fn own_style_len(text: &str) -> Option<usize> {
    let body = text.strip_prefix("\u{1b}[")?;
    let end = body.find('m')?;
    let code = &body[..end];
    matches!(code, "0" | "1" | "31" | "32" | "33" | "36").then_some(end + 3)
}

/// Serialized JSON made safe for a terminal without changing a single value: serde
/// escapes C0 controls but writes DEL, C1 controls, bidi overrides and line separators
/// raw, and `scan --format json` is read on terminals too. Outside strings JSON holds
/// only ASCII, so each of these sits inside a string, where `\uXXXX` means the very same
/// character to any consumer.
pub fn json_text(json: &str) -> Cow<'_, str> {
    escape_as(
        json,
        |c| is_unsafe(c) && u32::from(c) >= 0x7f,
        |out, c| {
            let _ = write!(out, "\\u{:04x}", c as u32);
        },
    )
}

/// `value` as the document every `--format json` prints: pretty, made terminal-safe by
/// [`json_text`], one trailing newline.
pub fn json_document<T: serde::Serialize + ?Sized>(value: &T) -> String {
    let text = serde_json::to_string_pretty(value).unwrap_or_default();
    format!("{}\n", json_text(&text))
}

fn escape(text: &str, keep: impl Fn(char) -> bool) -> Cow<'_, str> {
    escape_as(
        text,
        |c| is_unsafe(c) && !keep(c),
        |out, c| {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        },
    )
}

/// `text` with each character `hit` picks written by `write` instead.
fn escape_as(
    text: &str,
    hit: impl Fn(char) -> bool,
    write: impl Fn(&mut String, char),
) -> Cow<'_, str> {
    if !text.chars().any(&hit) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if hit(c) {
            write(&mut out, c);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_and_bidi_are_escaped() {
        let hostile = "a\u{1b}]52;c;ZXZpbA==\u{7}b\r\u{1b}[2K\u{9b}c\u{202e}d\u{2066}e\u{200f}f";
        let shown = printable(hostile);
        assert_eq!(
            shown,
            "a\\u{1b}]52;c;ZXZpbA==\\u{7}b\\u{d}\\u{1b}[2K\\u{9b}c\\u{202e}d\\u{2066}e\\u{200f}f"
        );
        assert!(!shown.chars().any(is_unsafe));
    }

    #[test]
    fn cut_text_is_printable_and_bounded() {
        assert_eq!(cut("short", 10), "short");
        assert_eq!(cut("abcdef", 3), "abc…");
        assert_eq!(cut("a\u{1b}[2Kb", 100), "a\\u{1b}[2Kb");
        assert_eq!(cut(&"x".repeat(5000), 80).chars().count(), 81);
    }

    #[test]
    fn plain_text_is_borrowed_and_newlines_kept_only_in_text() {
        assert!(matches!(printable("Rule \"ok\" ✓ ü"), Cow::Borrowed(_)));
        assert_eq!(printable("a\nb"), "a\\u{a}b");
        assert_eq!(printable_text("a\nb\tc"), "a\nb\\u{9}c");
    }

    #[test]
    fn json_is_terminal_safe_and_means_the_same() {
        let name = "a\u{9b}31m\u{202e}b\u{7f}\u{2028}\u{1b}c\nd";
        let json = serde_json::to_string_pretty(&serde_json::json!({"name": name})).unwrap();
        let shown = json_text(&json);
        assert!(!shown.chars().any(|c| is_unsafe(c) && c != '\n'), "{shown}");
        let back: serde_json::Value = serde_json::from_str(&shown).unwrap();
        assert_eq!(back["name"], name);
        assert!(matches!(json_text("{\n  \"a\": 1\n}"), Cow::Borrowed(_)));
    }

    #[test]
    fn only_the_ui_own_styles_survive() {
        let painted = "\u{1b}[1mRule\u{1b}[0m \u{1b}[8mhidden\u{1b}[0m \u{1b}[1A\u{1b}]52;c;x\u{7}";
        assert_eq!(
            printable_styled(painted),
            "\u{1b}[1mRule\u{1b}[0m \\u{1b}[8mhidden\u{1b}[0m \\u{1b}[1A\\u{1b}]52;c;x\\u{7}"
        );
    }
}
