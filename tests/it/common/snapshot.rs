//! What a whole-output snapshot sees: the binary's text with the parts that change from run
//! to run made fixed, so an inline `insta::assert_snapshot!(normalized(&run.stdout), @"…")`
//! pins everything an admin reads and nothing that differs between two runs.
//!
//! Why it is shaped so:
//! - One list of rewrites for every module: a volatile part found once (a port, a temp
//!   path) is fixed for every snapshot, and two modules never disagree on how a date reads.
//! - Fingerprints are numbered, not blanked: the tokens are minted at run time so their
//!   fingerprints change, but which lines name the SAME credential is what a rotation
//!   summary says. Each distinct fingerprint becomes `[fp1]`, `[fp2]`… in order of first
//!   appearance (a keyed one keeps its `k:` mark).
//! - Only text the binary already checked for secrets comes here ([`super::run_checked`]
//!   runs [`super::assert_no_secrets`] first), so a snapshot never holds a secret.

use std::collections::HashMap;
use std::sync::LazyLock;

use regex::{Captures, Regex};

/// Rewrites applied in order before fingerprints are numbered: (pattern, replacement).
/// Longer shapes first (a timestamp before a bare date). Uuids are kept: the fixtures' are
/// fixed and say which rule a line is about; a test names any uuid made at run time.
static REWRITES: LazyLock<Vec<(Regex, &'static str)>> = LazyLock::new(|| {
    let temp = regex::escape(std::env::temp_dir().to_str().expect("UTF-8 temp dir"));
    let temp = temp.trim_end_matches('/').to_owned();
    [
        (format!(r"{temp}/\.tmp[A-Za-z0-9_]+"), "[tmp]"),
        (r"127\.0\.0\.1:\d+".to_owned(), "127.0.0.1:PORT"),
        (
            r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2}| UTC)?"
                .to_owned(),
            "[datetime]",
        ),
        (r"\b\d{4}-\d{2}-\d{2}\b".to_owned(), "[date]"),
        // A run folder's time stamp, and the `-2`, `-3` of a run started in the same second.
        (r"\b\d{8}T\d{6}Z?(-\d+)?\b".to_owned(), "[stamp]"),
        (r"\b\d+(\.\d+)? ?(ms|µs|s)\b".to_owned(), "[duration]"),
    ]
    .into_iter()
    .map(|(pattern, with)| (Regex::new(&pattern).expect("valid pattern"), with))
    .collect()
});

/// A plain fingerprint (12 hex digits) or a keyed one (`k:` + 12 hex digits); a uuid is
/// matched first (and kept) so that its last 12 hex digits never read as a fingerprint.
static FINGERPRINT: LazyLock<Regex> = LazyLock::new(|| {
    let uuid = r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b";
    Regex::new(&format!(
        r"(?<uuid>{uuid})|\b(?<keyed>k:)?(?<hex>[0-9a-f]{{12}})\b"
    ))
    .expect("valid pattern")
});

/// `text` with ports, temp paths, dates, times and durations fixed, and each distinct
/// fingerprint numbered in order of first appearance.
pub fn normalized(text: &str) -> String {
    normalized_naming(text, &[] as &[(&str, &str)])
}

/// [`normalized`], with each of `names` (a value, its name) replaced first: for values a
/// test knows and a reader must tell apart, such as the URLs of several loopback sites,
/// which would all read `127.0.0.1:PORT`.
pub fn normalized_naming(text: &str, names: &[(impl AsRef<str>, impl AsRef<str>)]) -> String {
    let mut text = text.to_owned();
    for (value, name) in names {
        text = text.replace(value.as_ref(), name.as_ref());
    }
    for (pattern, with) in REWRITES.iter() {
        text = pattern.replace_all(&text, *with).into_owned();
    }
    let text = owners_entries_sorted(&text);
    let mut numbers: HashMap<String, usize> = HashMap::new();
    FINGERPRINT
        .replace_all(&text, |caps: &Captures| {
            if let Some(uuid) = caps.name("uuid") {
                return uuid.as_str().to_owned();
            }
            let next = numbers.len() + 1;
            let n = *numbers.entry(caps["hex"].to_owned()).or_insert(next);
            let keyed = caps.name("keyed").map_or("", |m| m.as_str());
            format!("{keyed}[fp{n}]")
        })
        .into_owned()
}

/// Both streams of a run, normalised together (one fingerprint numbering), for a command
/// whose reader sees stdout and stderr interleaved on a terminal.
pub fn normalized_streams(run: &super::RunOutput) -> String {
    normalized_streams_naming(run, &[] as &[(&str, &str)])
}

/// [`normalized_streams`] with [`normalized_naming`]'s names.
pub fn normalized_streams_naming(
    run: &super::RunOutput,
    names: &[(impl AsRef<str>, impl AsRef<str>)],
) -> String {
    let both = format!("--- stdout\n{}--- stderr\n{}", run.stdout, run.stderr);
    normalized_naming(&both, names)
}

/// [`normalized`] for a table whose column widths follow a volatile cell (a run folder's
/// name is longer when two runs started in the same second): the gap between columns is
/// made two spaces, so the snapshot pins the cells and their order, not the padding.
pub fn normalized_table(text: &str) -> String {
    static GAP: LazyLock<Regex> = LazyLock::new(|| Regex::new(" {2,}").expect("valid pattern"));
    let text = normalized(text);
    let lines: Vec<String> = text
        .lines()
        .map(|line| GAP.replace_all(line.trim_end(), "  ").into_owned())
        .collect();
    lines.join("\n")
}

/// A line that opens a credential's entry in a list: `owner · fingerprint` (the owner an
/// email, a user name or `(no user)`), with the entry's details indented under it.
static ENTRY: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"^( *)([^\s<>"]+|\(no user\)) · (k:)?[0-9a-f]{12}\b"#).expect("valid pattern")
});

/// One line of output, or a credential's entry (its header line and the lines indented
/// under it).
enum Item<'a> {
    Line(&'a str),
    Entry {
        head: (usize, &'a str),
        lines: Vec<&'a str>,
    },
}

/// `text` with each run of entries of ONE owner (same indent, only blank lines between)
/// put in the order of their text with fingerprints masked. The binary lists an owner's
/// credentials by fingerprint, and fingerprints of tokens minted at run time come in a new
/// order every run; the order across owners, and everything else, is left as printed.
fn owners_entries_sorted(text: &str) -> String {
    let mut items: Vec<Item> = Vec::new();
    for line in text.split('\n') {
        let indent = line.len() - line.trim_start_matches(' ').len();
        match (ENTRY.captures(line), items.last_mut()) {
            (Some(caps), _) => items.push(Item::Entry {
                head: (caps[1].len(), caps.get(2).map_or("", |m| m.as_str())),
                lines: vec![line],
            }),
            (None, Some(Item::Entry { head, lines }))
                if !line.trim().is_empty() && indent > head.0 =>
            {
                lines.push(line)
            }
            _ => items.push(Item::Line(line)),
        }
    }
    let masked = |lines: &[&str]| {
        FINGERPRINT
            .replace_all(&lines.join("\n"), "[fp]")
            .into_owned()
    };
    let mut start = 0;
    while start < items.len() {
        let Item::Entry { head, .. } = &items[start] else {
            start += 1;
            continue;
        };
        let head = *head;
        // The entries of this run: same indent and owner, only blank lines between.
        let mut slots = vec![start];
        let mut next = start + 1;
        while next < items.len() {
            match &items[next] {
                Item::Line(line) if line.trim().is_empty() => next += 1,
                Item::Entry { head: h, .. } if *h == head => {
                    slots.push(next);
                    next += 1;
                }
                _ => break,
            }
        }
        let mut entries: Vec<Vec<&str>> = slots
            .iter()
            .map(|&i| match &items[i] {
                Item::Entry { lines, .. } => lines.clone(),
                Item::Line(_) => unreachable!("slots hold entries"),
            })
            .collect();
        entries.sort_by_cached_key(|lines| masked(lines));
        for (&i, lines) in slots.iter().zip(entries) {
            items[i] = Item::Entry { head, lines };
        }
        start = slots.last().map_or(next, |last| last + 1);
    }
    let lines: Vec<&str> = items
        .iter()
        .flat_map(|item| match item {
            Item::Line(line) => vec![*line],
            Item::Entry { lines, .. } => lines.clone(),
        })
        .collect();
    lines.join("\n")
}
