//! `--format markdown`: the scan inventory and the rotation summary as a report for the
//! change ticket, ready to paste (what was found, what changed, what to keep and revoke,
//! what needs a person).
//!
//! Every value a rule, a server or a file supplied (rule names, component paths, header
//! names, emails, error text) is hostile here twice: as terminal text and as Markdown. A
//! rule named `[Renew](https://evil.example)` or `| forged | row |` must read as its own
//! name, not as a link or a table row, so [`text`] makes it one printable line and then
//! escapes every character with an inline meaning. Our own sentences (the verdict's next
//! steps, the expiry list) go in a fenced code block, where nothing is interpreted and
//! whose fence is longer than any run of backticks inside it.

use std::fmt::Write as _;

use crate::printable::printable;

use super::inventory::{Inventory, Row};
use super::rotation::{self, RotationSummary};

/// Hostile text as one line of inert Markdown: control characters escaped as
/// [`printable`] does, then a backslash before each character CommonMark or GitHub's
/// extensions give an inline meaning (emphasis, code, links, HTML and entities, table
/// cells, strikethrough, math). Block markers need no escape: a value never starts a line.
pub fn text(raw: &str) -> String {
    let line = printable(raw);
    let mut out = String::with_capacity(line.len());
    for c in line.chars() {
        if matches!(
            c,
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '|' | '~' | '&' | '$' | '!'
        ) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Our own multi-line text as a fenced code block: nothing inside is Markdown.
pub(super) fn fenced(body: &str) -> String {
    let longest = body.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest.max(2) + 1);
    format!("{fence}text\n{}\n{fence}\n", body.trim_end())
}

/// The scan inventory for a ticket: totals, one table row per credential, the rules and
/// places of each, then what needs a person. `expiry` is the expiry list as text.
pub fn render_scan(inv: &Inventory, expiry: Option<&str>) -> String {
    let s = &inv.summary;
    let mut out = String::from("## Credentials in automation rules (autorekey scan)\n\n");
    let _ = writeln!(
        out,
        "{} read, {} with credentials; {} findings, {} distinct credentials.\n",
        crate::words::count(s.rules_read, "rule", "rules"),
        s.rules_with_credentials,
        s.findings,
        s.credentials.len()
    );
    if !s.targets.is_empty() {
        out.push_str("Covered:\n\n");
        for line in super::inventory::target_lines(&s.targets) {
            let _ = writeln!(out, "- {}", text(&line));
        }
        out.push('\n');
    }
    let groups = super::inventory::credential_groups(&inv.findings);
    if !groups.is_empty() {
        out.push_str("### What was found\n\n");
        out.push_str("| Account | Fingerprint | Kind | Rules | Places | Check |\n");
        out.push_str("|---|---|---|---|---|---|\n");
        for rows in groups.values() {
            let first = rows[0];
            let mut rules: Vec<_> = rows
                .iter()
                .map(|r| (&r.site, &r.product, r.rule_uuid.as_str()))
                .collect();
            rules.dedup();
            let _ = writeln!(
                out,
                "| {} | `{}` | {} | {} | {} | {} |",
                who(first),
                first.fingerprint_text(),
                text(first.scheme.as_str()),
                rules.len(),
                rows.len(),
                first.verification.map_or("not checked", |v| v.label()),
            );
        }
        out.push_str("\n### Where each is used\n\n");
        for rows in groups.values() {
            // Bold, so no value starts the list item: `- # x` would be a heading in it.
            let _ = writeln!(
                out,
                "- **{}** · `{}`",
                who(rows[0]),
                rows[0].fingerprint_text()
            );
            for r in rows {
                let _ = writeln!(out, "  - {}", place(r));
            }
        }
        out.push('\n');
    }
    render_needs_a_person(inv, &mut out);
    if let Some(expiry) = expiry {
        out.push_str("### Token expiry\n\n");
        out.push_str(&fenced(expiry));
    }
    out
}

/// Values that could not be inspected, rules that could not be read, files not read, and
/// a rule list that may have missed rules: each needs a person before any revoke.
fn render_needs_a_person(inv: &Inventory, out: &mut String) {
    let other: Vec<&Row> = inv.findings.iter().filter(|r| !r.is_credential()).collect();
    let incomplete = inv.summary.list_complete == Some(false);
    let targets_whole = inv.summary.targets.iter().all(|t| t.complete());
    if other.is_empty()
        && inv.errors.is_empty()
        && inv.skipped_files.is_empty()
        && !incomplete
        && targets_whole
    {
        out.push_str("### Needs a person\n\nNothing: every credential found could be read.\n");
        return;
    }
    out.push_str("### Needs a person\n\n");
    for r in other {
        let _ = writeln!(
            out,
            "- Not inspectable ({}): {}",
            text(r.status.as_str()),
            place(r)
        );
    }
    for e in &inv.errors {
        let _ = writeln!(
            out,
            "- Could not read rule {}{}: {}",
            text(&e.rule_uuid),
            e.at_target(text),
            text(&e.error)
        );
    }
    for t in inv.summary.targets.iter().filter(|t| !t.complete()) {
        let line = &super::inventory::target_lines(std::slice::from_ref(t))[0];
        let _ = writeln!(out, "- Not read whole: {}", text(line));
    }
    for f in &inv.skipped_files {
        let _ = writeln!(
            out,
            "- File not read: {}: {}",
            text(&f.path),
            text(&f.reason)
        );
    }
    if incomplete {
        out.push_str("- The site's two rule listings disagreed: rules may be missing.\n");
    }
    out.push('\n');
}

/// Whose credential, as the text table says it.
fn who(r: &Row) -> String {
    r.email.as_deref().map_or_else(|| r.userless().into(), text)
}

/// A place with the facts the text table gives it, each value escaped.
fn place(r: &Row) -> String {
    let (state, header, hidden) = r.place_facts(text);
    format!(
        "**{}**{state} ({}): {} \\[{}{header}{hidden}\\]{}",
        text(&r.rule_name),
        text(&r.rule_uuid),
        text(&r.component_path),
        r.location.as_str(),
        r.at_target(text)
    )
}

/// The rotation summary for a ticket: what changed (counts), each rule that needs a
/// person with why, which tokens to keep and which to revoke, where the backups are, and
/// the next steps as the text summary says them.
pub fn render_rotation(s: &RotationSummary) -> String {
    let facts = s.facts();
    let advice = crate::verdict::advise(&facts);
    let mut out = format!("## Token rotation for {} (autorekey)\n\n", text(&s.account));
    let _ = writeln!(
        out,
        "Mode: {}. {} read.\n",
        facts.mode.as_str().replace('_', " "),
        crate::words::count(s.rules_read, "rule", "rules")
    );
    out.push_str("### What changed\n\n| Outcome | Rules |\n|---|---|\n");
    if !s.would_rotate.is_empty() || s.wrote_nothing_by_design() {
        let _ = writeln!(out, "| to rotate | {} |", s.would_rotate.len());
    }
    for (label, n) in rotation::counted(s) {
        let _ = writeln!(out, "| {label} | {n} |");
    }
    out.push_str("\n### Keep and revoke\n\n");
    let _ = writeln!(out, "- Keep: `{}` (the new token)", s.new_fingerprint);
    let olds: Vec<String> = s
        .old_fingerprints
        .iter()
        .map(|fp| format!("`{}`", text(fp)))
        .collect();
    match &advice {
        crate::verdict::Advice::Revoke { old } => {
            let old: Vec<String> = old.iter().map(|fp| format!("`{}`", text(fp))).collect();
            let _ = writeln!(out, "- Revoke: {}", old.join(", "));
        }
        _ if olds.is_empty() => out.push_str("- Revoke: nothing (no old token was found)\n"),
        _ => {
            let _ = writeln!(
                out,
                "- Do NOT revoke yet: {} ({})",
                olds.join(", "),
                advice.as_str().replace('_', " ")
            );
        }
    }
    out.push_str("\n### Needs a person\n\n");
    let needs: Vec<_> = s.outcomes.iter().filter(|o| !o.is_done()).collect();
    if needs.is_empty() && s.unconfirmed.is_empty() {
        out.push_str("Nothing.\n");
    }
    for o in needs {
        let why = rotation::reason(&o.kind).unwrap_or_default();
        let _ = writeln!(
            out,
            "- **{}**{}: {}{}{}",
            text(o.name()),
            text(&rotation::id_note(o.uuid())),
            o.kind.as_str().replace('_', " "),
            if why.is_empty() { "" } else { ": " },
            text(&why)
        );
    }
    for u in &s.unconfirmed {
        let _ = writeln!(
            out,
            "- Old value `{}` not confirmed as the account's token (left alone in {}): {}",
            u.fingerprint,
            super::count(u.rules.len(), "rule", "rules"),
            text(&format!("confirm it with {}", u.confirm_with()))
        );
    }
    if let Some(dir) = &s.backup_dir {
        let _ = writeln!(
            out,
            "\n### Backups\n\n- Folder: {} (undo with `autorekey restore DIR`)",
            text(dir)
        );
    }
    out.push_str("\n### Next steps\n\n");
    let steps = crate::verdict::render_with(&advice, &facts, &s.account, None);
    out.push_str(&fenced(&crate::printable::printable_text(&steps)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_text_is_one_inert_line() {
        assert_eq!(
            text("[Renew](https://evil.example)"),
            "\\[Renew\\](https://evil.example)"
        );
        assert_eq!(text("a | b"), "a \\| b");
        assert_eq!(
            text("*x* _y_ `z` <b> &amp; ~~s~~ $m$ !"),
            "\\*x\\* \\_y\\_ \\`z\\` \\<b\\> \\&amp; \\~\\~s\\~\\~ \\$m\\$ \\!"
        );
        assert_eq!(text("one\n## two"), "one\\\\u{a}## two");
        assert_eq!(text("\u{1b}]52;c;x\u{7}"), "\\\\u{1b}\\]52;c;x\\\\u{7}");
    }

    #[test]
    fn a_fence_outlasts_every_backtick_run_inside() {
        assert_eq!(fenced("plain"), "```text\nplain\n```\n");
        assert_eq!(fenced("a ```` b"), "`````text\na ```` b\n`````\n");
    }

    fn summary(outcomes: Vec<crate::outcome::Outcome>) -> RotationSummary {
        use crate::secret::{Fingerprint, Token};
        let selector = crate::plan::Selector::new("svc@acme.example", vec![]);
        let mut s = RotationSummary::new(&selector, &Token::new("FAKE-new-token"), 4);
        s.old_fingerprints
            .insert(Fingerprint::of("FAKE-old-token").to_string());
        s.add(outcomes);
        s
    }

    fn rotated(uuid: &str, name: &str) -> crate::outcome::Outcome {
        use crate::outcome::{Kind, Outcome};
        Outcome::new(uuid, name, Kind::Rotated { places: 1 })
    }

    #[test]
    fn a_finished_rotation_names_the_token_to_revoke() {
        let mut s = summary(vec![rotated("r1", "Nightly sync"), rotated("r2", "Deploy")]);
        s.backup_dir = Some("/home/admin/.local/share/autorekey/backups/run-1".into());
        insta::assert_snapshot!(render_rotation(&s));
    }

    #[test]
    fn a_hostile_rule_name_left_alone_stays_one_inert_line_and_holds_the_revoke_back() {
        use crate::outcome::{Kind, LeftAlone, Outcome};
        let hostile = "[Renew](https://evil.example) | forged | row |\n## Revoke now `x`";
        let why = LeftAlone::MaskedValue {
            pointers: vec!["/components/0/value/headers/0/value".into()],
            shown: crate::outcome::Hidden::Mask,
        };
        let left = Outcome::new("r3", hostile, Kind::LeftAlone { why });
        let s = summary(vec![rotated("r1", "Nightly sync"), left]);
        let report = render_rotation(&s);
        assert!(!report.contains("\n## Revoke now"), "{report}");
        insta::assert_snapshot!(report);
    }
}
