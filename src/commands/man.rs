//! `autorekey man`: the man pages, generated from the clap definition like the `--help` text.
//!
//! Every page is written each time: autorekey.1, then one per command (autorekey-scan.1,
//! ...), on stdout one after the other (`man -l -` shows them in turn) or, with `--dir`, as
//! files in the layout `man` expects in a man1 directory. The main page names the command
//! pages, so it is never written without them. clap_mangen renders what clap knows; the
//! sections it has no source for (EXIT STATUS, ENVIRONMENT, FILES, SEE ALSO) are written here
//! with the roff crate, which escapes their text.

use roff::{bold, roman, Roff};

use crate::cli::ManArgs;
use crate::error::{CommandError, CommandResult, ErrorKind};
use crate::ui::Ui;

pub fn run(args: &ManArgs, ui: &Ui) -> CommandResult {
    let pages = pages()
        .map_err(|e| CommandError::caused(ErrorKind::Failure, "cannot render the man pages", e))?;
    let Some(dir) = &args.dir else {
        let all: Vec<u8> = pages.into_iter().flat_map(|(_, page)| page).collect();
        ui.out_data(String::from_utf8_lossy(&all));
        return Ok(());
    };
    if !dir.is_dir() {
        return Err(
            CommandError::usage(format!("{} is not a directory", dir.display()))
                .hint("create it first, e.g. mkdir -p ~/.local/share/man/man1"),
        );
    }
    for (name, page) in &pages {
        std::fs::write(dir.join(name), page).map_err(|e| {
            CommandError::caused(
                ErrorKind::Failure,
                format!("cannot write the man pages to {}", dir.display()),
                e,
            )
        })?;
    }
    ui.status(format!(
        "{} man pages written to {}",
        pages.len(),
        dir.display()
    ));
    Ok(())
}

/// Every page, the main one first, as (file name, roff).
pub fn pages() -> std::io::Result<Vec<(String, Vec<u8>)>> {
    // `help` is clap's, not a command of ours: no page, so the main page must not name it.
    let top = crate::cli::command().mut_subcommand("help", |help| help.hide(true));
    let mut pages = vec![main_page(&top)?];
    for sub in top.get_subcommands().filter(|s| !s.is_hide_set()) {
        let man = clap_mangen::Man::new(sub.clone());
        let mut page = Vec::new();
        man.render(&mut page)?;
        let mut see_also = Roff::new();
        see_also.control("SH", ["SEE ALSO"]);
        see_also.text([bold("autorekey"), roman("(1)")]);
        page.extend(see_also.render().into_bytes());
        pages.push((man.get_filename(), page));
    }
    Ok(pages)
}

fn main_page(top: &clap::Command) -> std::io::Result<(String, Vec<u8>)> {
    let man = clap_mangen::Man::new(top.clone());
    let mut page = Vec::new();
    man.render_title(&mut page)?;
    man.render_name_section(&mut page)?;
    man.render_synopsis_section(&mut page)?;
    man.render_description_section(&mut page)?;
    man.render_options_section(&mut page)?;
    man.render_subcommands_section(&mut page)?;
    page.extend(extra_sections(top).render().into_bytes());
    man.render_version_section(&mut page)?;
    Ok((man.get_filename(), page))
}

/// Exit status: what a script may rely on (`ErrorKind::exit_code`).
const EXIT_STATUS: [(&str, &str); 4] = [
    ("0", "Done: the scan completed; every approved rule was rotated; a dry run or saved plan."),
    ("1", "Failure: the site, the network or a file failed, the scan was incomplete, a run was stopped by Ctrl-C or by the site refusing the admin's login (rerun it: it does only what is left), output could not be written, or another autorekey run is writing to the same site."),
    ("2", "Usage or input: bad arguments, a missing token or setting, a file that cannot be used, an --account or --fingerprint that matches nothing, a new token that does not log in."),
    ("3", "Needs a person: the command completed, but the old token must not be revoked yet (each rule is listed with why), scan --fail-on matched, tokens --expiring found a token expiring in its window (or tokens it could not list), restore could not restore a rule as backed up, or revoke refused (or the token it checks is still listed)."),
];

/// Every variable autorekey reads, with the option it stands for.
const ENVIRONMENT: [(&str, &str); 14] = [
    ("AUTOREKEY_SITE", "The Jira site (--site)."),
    (
        "AUTOREKEY_LOGIN",
        "The admin account autorekey acts as (--login).",
    ),
    (
        "AUTOREKEY_API_TOKEN",
        "The admin's API token (instead of --api-token-file or a prompt).",
    ),
    (
        "AUTOREKEY_NEW_TOKEN",
        "The new token of rotate and apply (instead of --new-token-file or a prompt).",
    ),
    (
        "AUTOREKEY_OLD_TOKEN",
        "The account's old token, confirming it (instead of --old-token-file).",
    ),
    (
        "AUTOREKEY_ORG_ID",
        "The organization id of the org admin API (--org).",
    ),
    (
        "AUTOREKEY_ORG_API_KEY",
        "The org admin API key (instead of --org-api-key-file or a prompt).",
    ),
    (
        "AUTOREKEY_MAX_RESPONSE_MB",
        "Largest answer read from a server, in MiB (--max-response-mb).",
    ),
    (
        "AUTOREKEY_FINGERPRINT_KEY",
        "A team key for keyed fingerprints (instead of --fingerprint-key-file).",
    ),
    (
        "AUTOREKEY_GATEWAY_URL",
        "Points the Atlassian gateway at a loopback sandbox; refused for any other address.",
    ),
    (
        "AUTOREKEY_NO_RETRY_DELAY",
        "Set to 1, retries do not wait (for tests).",
    ),
    ("NO_COLOR", "Set, --color auto does not colour."),
    ("CLICOLOR", "Set to 0, --color auto does not colour."),
    (
        "CLICOLOR_FORCE",
        "Set to 1, --color auto colours even off a terminal.",
    ),
];

/// The files autorekey keeps, under the data directory ($XDG_DATA_HOME, else
/// ~/.local/share, on Linux).
const FILES: [(&str, &str); 4] = [
    ("<data dir>/autorekey/backups/RUN/", "One folder per rotation or restore (0700): each rule as read before writing (0600 files: they hold the old tokens), rules.sha256, manifest.json and journal.jsonl. --backup-dir moves it; autorekey backups lists the runs."),
    ("<data dir>/autorekey/locks/", "One lock file per site while a run may write to it; the operating system releases the lock when the run ends, however it ends."),
    ("<data dir>/autorekey/fingerprint.key", "This machine's key for keyed fingerprints (0600), made on first use unless a team key is given."),
    ("PLAN.json", "A plan saved by rotate --out (no secrets), carried out by apply."),
];

fn extra_sections(top: &clap::Command) -> Roff {
    let mut roff = Roff::new();
    let list = |roff: &mut Roff, title: &str, items: &[(&str, &str)]| {
        roff.control("SH", [title]);
        for (term, text) in items {
            roff.control("TP", []);
            roff.text([bold(*term)]);
            roff.text([roman(*text)]);
        }
    };
    list(&mut roff, "EXIT STATUS", &EXIT_STATUS);
    list(&mut roff, "ENVIRONMENT", &ENVIRONMENT);
    list(&mut roff, "FILES", &FILES);
    roff.control("SH", ["SEE ALSO"]);
    let pages: Vec<String> = top
        .get_subcommands()
        .filter(|s| !s.is_hide_set())
        .map(|s| format!("autorekey-{}(1)", s.get_name()))
        .collect();
    roff.text([roman(pages.join(", "))]);
    roff
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every source file of the crate, read at test time.
    fn sources(dir: &std::path::Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap().map(Result::unwrap) {
            let path = entry.path();
            if path.is_dir() {
                sources(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(std::fs::read_to_string(&path).unwrap());
            }
        }
    }

    #[test]
    fn every_variable_autorekey_reads_is_in_environment() {
        let documented: Vec<&str> = ENVIRONMENT.iter().map(|(name, _)| *name).collect();
        let mut texts = Vec::new();
        // The shell's sources and every crate's: a variable read anywhere is documented.
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        sources(&root.join("src"), &mut texts);
        sources(&root.join("crates"), &mut texts);
        let re =
            regex::Regex::new(r"\b(AUTOREKEY_[A-Z_]+|NO_COLOR|CLICOLOR(?:_FORCE)?)\b").unwrap();
        for text in &texts {
            for name in re.find_iter(text).map(|m| m.as_str()) {
                assert!(documented.contains(&name), "{name} is not in ENVIRONMENT");
            }
        }
    }

    #[test]
    fn the_main_page_names_only_pages_that_are_written() {
        let pages = pages().unwrap();
        let names: Vec<&str> = pages.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names[0], "autorekey.1");
        assert!(names.contains(&"autorekey-scan.1") && names.contains(&"autorekey-man.1"));
        let main = String::from_utf8(pages[0].1.clone()).unwrap();
        let re = regex::Regex::new(r"autorekey\\?-([a-z]+)\((\d)\)").unwrap();
        let named: Vec<String> = re
            .captures_iter(&main)
            .map(|c| format!("autorekey-{}.{}", &c[1], &c[2]))
            .collect();
        assert!(named.len() >= 12, "{named:?}");
        for page in &named {
            assert!(
                names.contains(&page.as_str()),
                "{page} is named but not written"
            );
        }
        for section in ["EXIT STATUS", "ENVIRONMENT", "FILES", "SEE ALSO"] {
            assert!(
                main.contains(&format!(".SH \"{section}\""))
                    || main.contains(&format!(".SH {section}")),
                "{section}"
            );
        }
    }
}
