//! `autorekey tokens` and the expiry watch: an account's API tokens and service-account
//! tokens from the organization admin API (paginated, with expiry and last activity),
//! soonest first, joined with a scan, in every format, with exit 3 when one expires in the
//! window. The sandbox serves the org API with the org key a real org admin would have.
//!
//! Here too: `tokens` and `backups` print the same text in a pipe, JSON escapes C1 and
//! bidi characters, a wrong org id gets a hint.
//!
//! Elsewhere: `scan --org`'s expiry join and `--fail-on expiring`: test_scan_command;
//! deleting a token: test_revoke_command; an org of several sites: test_several_sites.

use crate::common::org::{org_site, org_site_with, sa_org, BOT, ORG};
use crate::common::snapshot::normalized;
use crate::common::ALICE;
use serde_json::{json, Value};

#[test]
fn a_wrong_org_id_gets_a_hint_to_check_it() {
    let org = org_site();
    let out = org.run(&["tokens", "--account", ALICE, "--org", "not-the-org"]);
    out.expect_code(1).expect_error_with_hint();
    assert!(out.stderr.contains("404"), "{}", out.stderr);
    assert!(
        out.stderr
            .contains("admin.atlassian.com > Settings > API keys"),
        "{}",
        out.stderr
    );
}

#[test]
fn tokens_lists_an_accounts_tokens_soonest_first() {
    let org = org_site();
    let out = org.run(&[
        "tokens",
        "--account",
        "ALICE@acme.example",
        "--org",
        ORG,
        "--format",
        "json",
    ]);
    out.expect_code(0);
    let ids: Vec<Value> = out.json()["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].clone())
        .collect();
    assert_eq!(ids, vec![json!("alice-old"), json!("alice-new")]);
    let text = org.run(&["tokens", "--account", ALICE, "--org", ORG]);
    text.expect_code(0);
    insta::assert_snapshot!(normalized(&text.stdout), @r#"
    API tokens of alice@acme.example (soonest expiry first):
      alice-old  "automation 2025"  created [date]  expires [date] (in 12 days)  last active [date]  classic
      alice-new  "automation 2026"  created [date]  expires [date] (in 365 days)  last active never  classic
    "#);
}

/// Rule names and token labels are typed by others: every JSON output escapes C1 and
/// bidi characters as `\uXXXX` (serde writes them raw), and stays valid JSON meaning the
/// same values. The scan's expiry join and `tokens` are JSON outputs too.
#[test]
fn json_with_the_expiry_join_and_token_lists_escape_c1_and_bidi() {
    let hostile = "x\u{9b}31m\u{202e}y\u{2066}";
    let org = org_site_with(|config| {
        config.rules[0]["rule"]["name"] = json!(format!("Web {hostile}"));
        let org = config.directory.org.as_mut().unwrap();
        org.tokens
            .iter_mut()
            .for_each(|t| t.label = format!("label {hostile}"));
    });
    let scan = org.run(&["scan", "--org", ORG, "--format", "json"]);
    let tokens = org.run(&[
        "tokens",
        "--account",
        ALICE,
        "--org",
        ORG,
        "--format",
        "json",
    ]);
    for (what, out) in [("scan", &scan), ("tokens", &tokens)] {
        out.expect_code(0);
        let raw = ['\u{9b}', '\u{202e}', '\u{2066}'];
        assert!(
            !out.stdout.contains(raw),
            "{what}: raw C1/bidi:\n{}",
            out.stdout
        );
        // The same values, once parsed.
        assert!(
            out.json().to_string().contains(hostile),
            "{what}: {}",
            out.stdout
        );
    }
}

/// `tokens` and `backups` print the same text on a terminal and in a pipe (scripts ask for
/// `--format json`), and still take `table`, the text format's old name. `rotate --format
/// markdown` prints the report for the change ticket on stdout, the diffs on stderr.
#[test]
fn lists_print_text_in_a_pipe_and_a_rotation_reports_in_markdown() {
    let org = org_site();
    let backups = org.site.dir.path().join("backups");
    let rotate = org.run(&[
        "rotate",
        "--account",
        ALICE,
        "--yes",
        "--format",
        "markdown",
        "--backup-dir",
        backups.to_str().unwrap(),
    ]);
    rotate.expect_code(0);
    // The report for a change ticket, whole; the diffs go to stderr.
    insta::assert_snapshot!(normalized(&rotate.stdout), @"
    ## Token rotation for alice@acme.example (autorekey)

    Mode: written. 3 rules read.

    ### What changed

    | Outcome | Rules |
    |---|---|
    | rotated | 2 |

    ### Keep and revoke

    - Keep: `[fp1]` (the new token)
    - Revoke: `[fp2]`

    ### Needs a person

    Nothing.

    ### Backups

    - Folder: [tmp]/backups/127.0.0.1-[stamp] (undo with `autorekey restore DIR`)

    ### Next steps

    ```text
    Next steps:
      1. Check the integrations: run or wait for each rotated rule and look at its audit log.
         A token works on every site and product of alice@acme.example, and this run read only this site's automation rules of one product: check the other product's rules (`autorekey scan --product confluence`), other sites and scripts too.
      2. Then revoke the old token ([fp2]) at https://id.atlassian.com/manage-profile/security/api-tokens (signed in as alice@acme.example): every rule read here that held it now holds the new token, read back.
    Keep the new token [fp1]; revoke the old [fp2].
    ```
    ");
    assert!(rotate.stderr.contains("Rule \""), "{}", rotate.stderr);

    let tokens = ["tokens", "--account", ALICE, "--org", ORG];
    let text = org.run(&tokens);
    text.expect_code(0);
    assert!(
        text.stdout.starts_with(&format!("API tokens of {ALICE}")),
        "{}",
        text.stdout
    );
    let table = org.run(&[&tokens[..], &["--format", "table"]].concat());
    assert_eq!(table.stdout, text.stdout);

    let list = ["backups", "--backup-dir", backups.to_str().unwrap()];
    let text = org.run(&list);
    text.expect_code(0);
    assert!(
        serde_json::from_str::<Value>(&text.stdout).is_err(),
        "{}",
        text.stdout
    );
    assert!(text.stdout.contains(ALICE), "{}", text.stdout);
    let table = org.run(&[&list[..], &["--format", "table"]].concat());
    assert_eq!(table.stdout, text.stdout);
    let json = org.run(&[&list[..], &["--format", "json"]].concat());
    assert_eq!(json.json().as_array().map(Vec::len), Some(1));
}

#[test]
fn service_account_tokens_are_listed_apart_and_joined_to_the_expiry_watch() {
    let org = sa_org(true, 5, false);
    let bot = org.failing_ci_scan_row_of_the_bot();
    assert_eq!(
        (bot["days_left"].clone(), bot["token_id"].clone()),
        (json!(5), json!("bot-old"))
    );
    // The user endpoint lists users' tokens only; the service accounts' three come from
    // their own endpoint, two a page, followed to its end.
    let stats = org.site.stats();
    assert_eq!(stats.endpoint("GET org service-account api-tokens"), 2);

    let tokens = org.run(&["tokens", "--account", BOT, "--org", ORG, "--format", "text"]);
    tokens.expect_code(0);
    let text = &tokens.stdout;
    assert!(
        text.contains("bot-old") && text.contains("\"bot 2025\"") && text.contains("(in 5 days)"),
        "{text}"
    );
    assert!(
        text.contains("scoped") && text.contains("last active"),
        "{text}"
    );
    let json = org.run(&["tokens", "--account", BOT, "--org", ORG, "--format", "json"]);
    json.expect_code(0);
    let listed = json.json()["tokens"].as_array().unwrap().clone();
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0]["serviceAccount"], true);
}

#[test]
fn service_account_tokens_the_key_may_not_list_are_unknown_never_fine() {
    // The bot's token expires in 300 days, but the key may not see that: unknown, failing.
    let org = sa_org(false, 300, false);
    let bot = org.failing_ci_scan_row_of_the_bot();
    assert_eq!(bot["tokens_unknown"], true);
    let text = org.run(&["scan", "--org", ORG, "--format", "text"]);
    assert!(text.stdout.contains("tokens unknown"), "{}", text.stdout);

    let tokens = org.run(&["tokens", "--account", BOT, "--org", ORG]);
    tokens.expect_code(1).expect_error_with_hint();
    assert!(
        tokens.stderr.contains("read:service-accounts-tokens:admin")
            && !tokens.stdout.contains("No API token"),
        "{}",
        tokens.stderr
    );
    let revoke = org.revoke_bot_old(&[]);
    revoke.expect_code(1).expect_error_with_hint();
    assert!(
        revoke.stderr.contains("could not be listed"),
        "{}",
        revoke.stderr
    );
    assert_eq!(org.site.stats().endpoint("DELETE api-token"), 0);
}

#[test]
fn the_expiry_watch_lists_the_service_account_token_in_every_format_and_exits_3() {
    let org = sa_org(true, 5, false);
    let text = org.watch("30d", &[]);
    text.expect_code(3);
    assert!(
        text.stderr.contains("1 of 4 listed API tokens expires"),
        "{}",
        text.stderr
    );
    insta::assert_snapshot!(normalized(&text.stdout), @r#"
    API tokens expiring within 30 days or expired (users' and service accounts'), soonest first:
      expiring  ci-bot@serviceaccount.atlassian.com  service account  "bot 2025"  id bot-old  created [date]  expires [date] (in 5 days)  last active [date]  scoped
    1 of 4 listed API tokens expires (or has expired) within 30 days.
    Where each token is embedded: run `autorekey scan --format json > scan.json` (with every --site you use) and add `--scan scan.json`.
    "#);

    let json = org.watch("30d", &["--format", "json"]);
    json.expect_code(3);
    let report = json.json();
    let tokens = report["tokens"].as_array().unwrap();
    assert_eq!(tokens.len(), 1, "{report}");
    assert_eq!(
        (&tokens[0]["id"], &tokens[0]["kind"], &tokens[0]["email"]),
        (&json!("bot-old"), &json!("service_account"), &json!(BOT))
    );
    assert_eq!(
        (&tokens[0]["days_left"], &tokens[0]["scoped"]),
        (&json!(5), &json!(true))
    );
    assert_eq!(report["unknown"], json!([]));

    let csv = org.watch("30d", &["--format", "csv"]);
    csv.expect_code(3);
    let lines: Vec<&str> = csv.stdout.lines().collect();
    assert!(
        lines[0].starts_with("status,email,kind,label,id,"),
        "{}",
        csv.stdout
    );
    assert_eq!(lines.len(), 2, "{}", csv.stdout);
    assert!(
        lines[1].starts_with(&format!("expiring,{BOT},service_account,bot 2025,bot-old,")),
        "{}",
        csv.stdout
    );

    let md = org.watch("30d", &["--format", "markdown"]);
    md.expect_code(3);
    insta::assert_snapshot!(normalized(&md.stdout), @"
    ## API tokens expiring within 30 days (autorekey tokens)

    1 of 4 listed API tokens expires (or has expired) within 30 days.

    | Status | Account | Kind | Label | Id | Created | Expires | Last active | Token |
    |---|---|---|---|---|---|---|---|---|
    | expiring | ci-bot@serviceaccount.atlassian.com | service account | bot 2025 | bot-old | [date] | [date] (in 5 days) | [date] | scoped |

    ### Where they are embedded

    ```text
    Where each token is embedded: run `autorekey scan --format json > scan.json` (with every --site you use) and add `--scan scan.json`.
    ```
    ");
}

#[test]
fn the_expiry_watch_joins_a_scan_and_exits_0_when_nothing_is_in_the_window() {
    let org = sa_org(true, 5, false);
    let scan = org.run(&["scan", "--format", "json"]);
    scan.expect_code(0);
    let path = org.site.write_file("scan.json", &scan.stdout);
    let joined = org.watch("30d", &["--scan", path.to_str().unwrap()]);
    joined.expect_code(3);
    insta::assert_snapshot!(normalized(&joined.stdout), @r#"
    API tokens expiring within 30 days or expired (users' and service accounts'), soonest first:
      expiring  ci-bot@serviceaccount.atlassian.com  service account  "bot 2025"  id bot-old  created [date]  expires [date] (in 5 days)  last active [date]  scoped
                in rule "Web request 02" (0190f3a2-5b7c-7d21-8e4f-000000000102), credential [fp1]
    1 of 4 listed API tokens expires (or has expired) within 30 days.
    The rules under a token hold a credential of its account: any of the account's tokens may be the one a rule holds (`autorekey fingerprint` tells which).
    "#);
    let md = org.watch(
        "30d",
        &["--scan", path.to_str().unwrap(), "--format", "markdown"],
    );
    assert!(
        md.stdout.contains("  - rule \"Web request 02\""),
        "{}",
        md.stdout
    );

    // Nothing within 3 days (the soonest is in 5): exit 0, and said.
    let quiet = org.watch("3d", &[]);
    quiet.expect_code(0);
    assert!(
        quiet
            .stdout
            .starts_with("No API token of the organization expires within 3 days"),
        "{}",
        quiet.stdout
    );
    let bad = org.site.write_file("not-a-scan.json", "{\"rules\": []}");
    org.watch("30d", &["--scan", bad.to_str().unwrap()])
        .expect_code(2)
        .expect_error_with_hint();
    org.run(&["tokens", "--expiring", "30x", "--org", ORG])
        .expect_code(2);
    // CSV and Markdown are the watch's formats.
    org.run(&["tokens", "--account", BOT, "--org", ORG, "--format", "csv"])
        .expect_code(2)
        .expect_error_with_hint();
}

#[test]
fn the_expiry_watch_counts_service_accounts_it_may_not_list_as_unknown() {
    // The bot's token expires in 300 days, but the key may not see that: unknown, exit 3.
    let org = sa_org(false, 300, false);
    let out = org.watch("30d", &[]);
    out.expect_code(3);
    assert!(
        out.stdout.contains("unknown   every service account"),
        "{}",
        out.stdout
    );
    assert!(
        out.stderr.contains("read:service-accounts-tokens:admin"),
        "{}",
        out.stderr
    );
    let json = org.watch("30d", &["--format", "json"]);
    assert_eq!(json.json()["unknown"][0]["kind"], "service_account");
}
