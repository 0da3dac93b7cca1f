//! The revoke advice of every way a run can end, as the admin reads it, with the exit
//! status it comes with: the summary's closing part, pinned by inline snapshots so a change
//! to when "revoke" is said shows up in review.

use super::*;
use crate::outcome::{Attention, Drift, Failure, Kind, LeftAlone, Outcome};
use crate::report::render_rotation;
use crate::secret::{Fingerprint, Token};
use crate::verdict;

fn summary(outcomes: Vec<Outcome>) -> RotationSummary {
    let selector = Selector::new("svc@acme.example", vec![]);
    let mut s = RotationSummary::new(&selector, &Token::new("FAKE-new-token"), 5);
    s.old_fingerprints
        .insert(Fingerprint::of("FAKE-old-token").to_string());
    s.add(outcomes);
    s
}

fn rotated(n: usize) -> Vec<Outcome> {
    (1..=n)
        .map(|i| {
            Outcome::new(
                format!("r{i}"),
                format!("Rule {i}"),
                Kind::Rotated { places: 1 },
            )
        })
        .collect()
}

fn with(mut outcomes: Vec<Outcome>, more: Outcome) -> Vec<Outcome> {
    outcomes.push(more);
    outcomes
}

/// The closing part of the summary: from where the files are to the last line.
fn advice(s: &RotationSummary) -> String {
    let text = render_rotation(s);
    let (_, rest) = text.split_once("\n\n").expect("counts, then the rest");
    format!("{} → exit {}", rest.trim_end(), exit_code(s))
}

fn exit_code(s: &RotationSummary) -> u8 {
    status(s).err().map_or(0, |e| e.kind.exit_code())
}

#[test]
fn an_earlier_old_token_still_in_a_rule_holds_the_advice_back_in_any_form() {
    let selector = Selector::new("svc@acme.example", vec![]);
    let (old, new) = (Token::new("FAKE-old-token"), Token::new("FAKE-new-token"));
    let copy = |uuid: &str, t: &Token| {
        let held = crate::plan::Unrewritable {
            identity: t.identity(),
            shown: t.keyed_fingerprint(),
            pointer: "/components/1/value/headers/0/value".into(),
        };
        (uuid.to_string(), format!("Rule {uuid}"), vec![held])
    };
    // Rule r1 was rotated; rule u holds the old token only where this run does not
    // rewrite it (and nothing else of the account, so it has no outcome of its own);
    // rule c holds the new token there, which is no reason to keep anything.
    let mut s = RotationSummary::new(&selector, &new, 3);
    let plan = crate::plan::Plan {
        rewrites: vec![],
        outcomes: vec![],
        census: crate::plan::Census {
            seen: vec![copy("u", &old), copy("c", &new)],
            ..Default::default()
        },
        seen: Default::default(),
    };
    s.note_plan(&plan);
    s.note_earlier(vec![(old.identity(), old.fingerprint())]);
    s.add(rotated(1));
    assert!(!s.advice().revokes());
    let held: Vec<&str> = s.outcomes.iter().map(Outcome::uuid).collect();
    assert_eq!(held, ["r1", "u"]);
    assert_eq!(
        s.old_fingerprints,
        [old.fingerprint().to_string()].into(),
        "named as the old token to keep"
    );
}

#[test]
fn rotated_all() {
    let mut s = summary(rotated(2));
    s.backup_dir = Some("/b/run".into());
    insta::assert_snapshot!(advice(&s), @r#"
        Backups (mode 0600, they hold the old tokens): /b/run
        Journal: /b/run/journal.jsonl
        Undo with: autorekey restore /b/run

        Next steps:
          1. Check the integrations: run or wait for each rotated rule and look at its audit log.
             A token works on every site and product of svc@acme.example, and this run read only this site's automation rules of one product: check the other product's rules (`autorekey scan --product jira|confluence`), other sites and scripts too.
          2. Then revoke the old token (a3492be3fefa) at https://id.atlassian.com/manage-profile/security/api-tokens (signed in as svc@acme.example): every rule read here that held it now holds the new token, read back.
          3. Or, with an org admin API key: autorekey revoke --account svc@acme.example --token-id ID --keep 205c4033f9b9 (ID from `autorekey tokens --account svc@acme.example`)
        Keep the new token 205c4033f9b9; revoke the old a3492be3fefa. → exit 0
        "#);
}

#[test]
fn masked_leftovers_as_rotate_and_apply_say_it() {
    let s = summary(with(
        rotated(2),
        Outcome::new(
            "m1",
            "Masked",
            Kind::LeftAlone {
                why: LeftAlone::MayHoldMasked {
                    pointers: vec!["/components/0/value/headers/0/value".into()],
                    shown: crate::outcome::Hidden::Mask,
                },
            },
        ),
    ));
    insta::assert_snapshot!(advice(&s), @r#"
        Next steps:
          - Do NOT revoke the old token yet: 1 rule listed above may still use it.
          - Rules left alone or to check: autorekey cannot rewrite them safely; edit them in the Automation UI as each line says.
          - Then `autorekey scan --account svc@acme.example` shows what still uses an old token.
        Keep the old a3492be3fefa and the new 205c4033f9b9; revoke nothing yet. → exit 3
        "#);
}

#[test]
fn declined() {
    let s = summary(with(
        rotated(1),
        Outcome::new("d1", "Declined", Kind::Declined),
    ));
    insta::assert_snapshot!(advice(&s), @r#"
        Next steps:
          - Do NOT revoke the old token yet: 1 rule listed above may still use it.
          - Rules that failed, were not attempted or that you declined: run the same command again when ready; a rerun does only what is left.
          - Then `autorekey scan --account svc@acme.example` shows what still uses an old token.
        Keep the old a3492be3fefa and the new 205c4033f9b9; revoke nothing yet. → exit 3
        "#);
}

#[test]
fn failed() {
    let s = summary(with(
        rotated(1),
        Outcome::new(
            "f1",
            "Failed",
            Kind::Failed {
                why: Failure::Refused {
                    error: "403 Forbidden".into(),
                },
            },
        ),
    ));
    insta::assert_snapshot!(advice(&s), @r#"
        Next steps:
          - Do NOT revoke the old token yet: 1 rule listed above may still use it.
          - Rules that failed, were not attempted or that you declined: run the same command again when ready; a rerun does only what is left.
          - Then `autorekey scan --account svc@acme.example` shows what still uses an old token.
        Keep the old a3492be3fefa and the new 205c4033f9b9; revoke nothing yet. → exit 3
        "#);
}

#[test]
fn overwritten_after_the_run_needs_attention() {
    let s = summary(with(
        rotated(1),
        Outcome::new(
            "a1",
            "Overwritten",
            Kind::Attention {
                why: Attention::FinalCheck {
                    drift: Drift::OldToken,
                },
            },
        ),
    ));
    insta::assert_snapshot!(advice(&s), @r#"
        Next steps:
          - Do NOT revoke the old token yet: 1 rule listed above may still use it.
          - Rules left alone or to check: autorekey cannot rewrite them safely; edit them in the Automation UI as each line says.
          - Then `autorekey scan --account svc@acme.example` shows what still uses an old token.
        Keep the old a3492be3fefa and the new 205c4033f9b9; revoke nothing yet. → exit 3
        "#);
}

#[test]
fn dry_run() {
    let mut s = summary(vec![]);
    s.dry_run = true;
    s.would_rotate = vec!["r1".into()];
    insta::assert_snapshot!(advice(&s), @r#"
        Dry run: nothing was written.

        Next steps:
          1. Review the diffs above; only the credential text changes.
          2. Run the same command without --dry-run to write them (or with --out PLAN to save them for `autorekey apply`).
          3. Do NOT revoke the old token: nothing was written, every rule still uses it.
        Keep the old a3492be3fefa and the new 205c4033f9b9; revoke nothing yet. → exit 0
        "#);
}

#[test]
fn plan_saved() {
    let mut s = summary(vec![]);
    s.plan_saved = Some("plan.json".into());
    s.would_rotate = vec!["r1".into()];
    insta::assert_snapshot!(advice(&s), @r#"
        Plan saved to plan.json (no secrets). Nothing was written.
        Carry it out with: autorekey apply plan.json

        Next steps:
          1. Review the diffs above; only the credential text changes.
          2. Carry the plan out with `autorekey apply` (the command above) to write them.
          3. Do NOT revoke the old token: nothing was written, every rule still uses it.
        Keep the old a3492be3fefa and the new 205c4033f9b9; revoke nothing yet. → exit 0
        "#);
}

#[test]
fn offline_export() {
    let mut s = summary(rotated(1));
    s.offline = true;
    s.written_file = Some("rotated.json".into());
    insta::assert_snapshot!(advice(&s), @r#"
        Rotated export written to rotated.json (mode 0600: it holds tokens). It holds only the rotated rules; the input file is unchanged.
        Import it in the Automation UI (Import rules): imported rules arrive disabled. Enable them and disable or delete the old copies.

        Next steps:
          1. Import the rotated export, enable the imported rules, then disable or delete the old copies.
          2. Do NOT revoke the old token before that: the rules on the site still use it.
          3. Then `autorekey scan --account svc@acme.example` on the site shows what still uses it.
        Keep the old a3492be3fefa and the new 205c4033f9b9; revoke nothing yet. → exit 0
        "#);
}

#[test]
fn not_inspectable_values_and_an_incomplete_list_keep_the_old_token() {
    let mut s = summary(rotated(1));
    s.not_inspectable = 1;
    insta::assert_snapshot!(advice(&s), @r#"
        Next steps:
          - Do NOT revoke the old token yet: 1 rule sends a credential autorekey cannot read (a managed secret, a smart value, or a Basic value that names no account); it may be the old token.
          - Check them: `autorekey scan` lists them under "Not inspectable", or as a Basic credential without an email.
        Keep the old a3492be3fefa and the new 205c4033f9b9; revoke nothing yet. → exit 3
        "#);
    let mut s = summary(rotated(1));
    s.list_complete = false;
    insta::assert_snapshot!(advice(&s), @r#"
        Next steps:
          - Do NOT revoke the old token yet: the site's rule list could not be confirmed complete (see the warning above), so a rule autorekey never saw may still use it.
          - Run the same command again (a rerun does only what is left), and compare the rule count in the Automation UI with the rules read.
        Keep the old a3492be3fefa and the new 205c4033f9b9; revoke nothing yet. → exit 3
        "#);
}

#[test]
fn nothing_matched() {
    let s = summary(vec![]);
    insta::assert_snapshot!(advice(&s), @r#"
        Next steps:
          - No rule holds a credential of svc@acme.example that this run selects: there is nothing to revoke on autorekey's word.
        Keep the old a3492be3fefa and the new 205c4033f9b9; revoke nothing yet. → exit 2
        "#);
}

#[test]
fn already_current_on_rerun() {
    let mut s = summary(vec![Outcome::new("r1", "Rule 1", Kind::AlreadyCurrent)]);
    s.old_fingerprints.clear();
    insta::assert_snapshot!(advice(&s), @r#"
        Next steps:
          Nothing left to do: every rule of svc@acme.example that autorekey can read already holds the new token.
          autorekey saw no old token, so it cannot name one to revoke: revoke only a token whose fingerprint differs from the new one, once every integration works.
        Keep the new token 205c4033f9b9; no old token of svc@acme.example is left in the rules to name. → exit 0
        "#);
}

#[test]
fn restore() {
    let old = [Fingerprint::of("FAKE-old-token").to_string()].into();
    let new = Fingerprint::of("FAKE-new-token");
    let facts = verdict::Facts::restore(&old, &new);
    let text = verdict::render(&verdict::advise(&facts), &facts, "svc@acme.example");
    insta::assert_snapshot!(text, @r#"
        Next steps:
          - Do NOT revoke the old token: the restored rules use it again.
          - `autorekey scan --account svc@acme.example` shows which rules use which token.
        Keep the old a3492be3fefa (restored) and the new 205c4033f9b9; revoke nothing.
        "#);
}

#[test]
fn a_rule_without_an_id_is_named_without_an_empty_id_and_one_rule_is_said_so() {
    use crate::outcome::Stop;
    let quit = Outcome::new("", "R0", Kind::NotAttempted { why: Stop::Quit });
    let s = summary(with(rotated(1), quit));
    let text = render_rotation(&s);
    assert!(
        text.contains("  - Not attempted \"R0\": you quit\n"),
        "{text}"
    );
    assert!(!text.contains("()"), "{text}");
    assert!(text.contains("1 rule listed above"), "{text}");
    let error = status(&s)
        .expect_err("a quit leaves a rule to do")
        .error
        .to_string();
    assert!(error.starts_with("1 rule still needs you:"), "{error}");
}
