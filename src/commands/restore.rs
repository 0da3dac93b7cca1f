//! `autorekey restore BACKUP`: put rules back as they were before a rotation.
//!
//! BACKUP is a run directory written by `rotate`/`apply` (or one rule file in it). Each rule
//! is read as it is now and compared with its backup; a rule already as backed up is left
//! alone; otherwise the redacted diff (now → backup) is shown and, once approved, the backup
//! is written (without read-only fields and without connections, as any write) and read back.
//!
//! A backup is only trusted from a folder that is the user's alone (as `rotate` requires
//! when writing it), and each file only if it matches the checksum recorded when it was
//! saved and is not a link. A file that fails is named and skipped; the others are still
//! restored, and the command exits non-zero at the end.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::backup::{BackupRun, Manifest, SavedRule};
use crate::cli::{GlobalArgs, RestoreArgs};
use crate::confirm::{Answer, Approver};
use crate::error::{CommandError, CommandResult, ErrorKind};
use crate::fetch::{AutomationClient, FetchError, PutOutcome};
use crate::journal::{Journal, Step};
use crate::plan;
use crate::printable::printable;
use crate::settings::SiteSettings;
use crate::ui::Ui;
use crate::verdict;

pub async fn run(global: &GlobalArgs, args: &RestoreArgs, ui: &Ui) -> CommandResult {
    let (backup, rules) = selected_rules(args)?;
    let mut approver = Approver::new(args.yes, ui, "restore")?;
    let settings = SiteSettings::resolve(global, ui)?;
    let manifest = backup.manifest()?;
    same_site(&manifest, &settings)?;
    let _lock = super::rotate::lock_site(&settings, "restore", ui)?;
    let client = settings.connect(ui).await?;
    let journal = Journal::open(&backup.dir().join("journal.jsonl")).map_err(|e| {
        CommandError::caused(ErrorKind::Failure, "cannot open the backup's journal", e)
            .hint("nothing was restored; journal.jsonl must be a plain file in the backup folder")
    })?;
    let safety = safety_backup(&backup, &manifest)?;
    let mut failures = 0;
    for rule in rules {
        let saved = match rule.envelope {
            Ok(saved) => saved,
            Err(reason) => {
                // Named and skipped: one bad file must not keep the others from restoring.
                failures += 1;
                let file = rule.file.display();
                ui.out(printable(&format!(
                    "Not restored: {file} cannot be trusted: {reason}"
                )));
                let detail = format!("restore: backup file refused: {reason}");
                journal.record(&rule.uuid, "", Step::Failed, Some(detail))?;
                continue;
            }
        };
        let uuid = rule.uuid;
        let name = crate::printable::rule_name(&saved["rule"]);
        let (step, detail) = match restore_one(
            &client,
            &uuid,
            &name,
            &saved,
            &mut approver,
            &safety,
            ui,
        )
        .await
        {
            Ok(Restored::Done(line)) => {
                ui.out(line);
                (Step::Restored, None)
            }
            Ok(Restored::Nothing) => continue,
            Ok(Restored::Quit) => {
                ui.out("Quit: nothing more was restored.");
                break;
            }
            // Every further request would be another failed login (towards a CAPTCHA).
            Ok(Restored::LoginRefused) => {
                let detail = "restore: the site refused the admin's login (401)";
                journal.record(&uuid, &name, Step::Failed, Some(detail.into()))?;
                return Err(CommandError::failure(
                        "the site refused the admin's login mid-restore",
                    )
                    .hint("check the admin's token, then run the same restore again: it skips rules already restored"));
            }
            Err(reason) => {
                failures += 1;
                // One line: the reason can quote the site's answer (read-back pointers).
                ui.out(printable(&format!("Failed \"{name}\" ({uuid}): {reason}")));
                (Step::Failed, Some(format!("restore: {reason}")))
            }
        };
        journal.record(&uuid, &name, step, detail)?;
    }
    report_safety_backup(&safety, ui);
    ui.out_raw(restore_verdict(&manifest, &backup));
    match failures {
        0 => Ok(()),
        n => Err(CommandError::partial(format!(
            "{n} rule(s) could not be restored (listed above)"
        ))),
    }
}

/// A backup is restored only to the site it was taken from.
fn same_site(manifest: &Manifest, settings: &SiteSettings) -> CommandResult {
    if url::Url::parse(&manifest.site).map(|u| u.origin()) == Ok(settings.site.origin()) {
        return Ok(());
    }
    Err(CommandError::usage(format!(
        "this backup is of {}, but the site is {}",
        manifest.site, settings.site
    ))
    .hint(format!(
        "set AUTOREKEY_SITE (or --site) to {}",
        manifest.site
    )))
}

/// Where restore saves each rule's current version before overwriting it: a new run
/// directory beside the one being restored, so nothing anyone did is lost.
fn safety_backup(restoring: &BackupRun, manifest: &Manifest) -> CommandResult<BackupRun> {
    let root = restoring.dir().parent().unwrap_or(restoring.dir());
    let safety = Manifest {
        started_at: crate::backup::now_rfc3339(),
        tool: format!("autorekey {} restore", env!("CARGO_PKG_VERSION")),
        ..manifest.clone()
    };
    BackupRun::create(root, &safety).map_err(|e| {
        let msg = "cannot create a backup of the rules' current versions; nothing was restored";
        CommandError::caused(ErrorKind::Failure, msg, e)
            .hint("check the backup directory's permissions")
    })
}

/// The verdict after a restore, from the one verdict function: the restored rules use the
/// old tokens again, which are named.
fn restore_verdict(manifest: &Manifest, backup: &BackupRun) -> String {
    let selector = plan::Selector::new(manifest.account.clone(), vec![]);
    let old: std::collections::BTreeSet<String> = backup
        .saved_rules()
        .unwrap_or_default()
        .iter()
        .flat_map(|(_, saved)| crate::detect::detect(&saved["rule"]))
        .filter(|f| selector.is_account(f))
        .filter_map(|f| f.fingerprint().map(|fp| fp.to_string()))
        .collect();
    let new: crate::secret::Fingerprint =
        serde_json::from_value(serde_json::json!(manifest.new_fingerprint))
            .unwrap_or_else(|_| crate::secret::Fingerprint::of(""));
    let facts = verdict::Facts {
        mode: verdict::Mode::Restore,
        outcomes: &[],
        list_complete: true,
        not_inspectable: 0,
        old: &old,
        new: &new,
    };
    format!(
        "\n{}",
        verdict::render(&verdict::advise(&facts), &facts, &manifest.account)
    )
}

fn report_safety_backup(safety: &BackupRun, ui: &Ui) {
    let used = safety.saved_rules().map(|r| !r.is_empty()).unwrap_or(true);
    if used {
        ui.out(format!(
            "The versions replaced by the restore were saved to {} (restore them the same way).",
            safety.dir().display()
        ));
    } else {
        let _ = std::fs::remove_dir_all(safety.dir());
    }
}

/// The backup and the saved rules the arguments select, each checked (see
/// [`BackupRun::checked_rules`]); the folder itself must be private.
fn selected_rules(args: &RestoreArgs) -> CommandResult<(BackupRun, Vec<SavedRule>)> {
    let (run_dir, only_file) = locate(&args.backup)?;
    let backup = BackupRun::open(&run_dir).map_err(|e| not_a_backup(&run_dir, e))?;
    backup.check_private().map_err(|e| {
        CommandError::caused(ErrorKind::Failure, "the backup cannot be trusted", e).hint(
            "nothing was restored; another user could have changed these backups. Check the \
             files, make the folder yours alone (`chmod 700` it and the folders above it), \
             then run restore again",
        )
    })?;
    let all = backup.checked_rules()?;
    let held: Vec<String> = all.iter().map(|r| r.uuid.clone()).collect();
    let rules: Vec<SavedRule> = all
        .into_iter()
        .filter(|r| only_file.as_ref().is_none_or(|f| *f == r.uuid))
        .filter(|r| args.rules.is_empty() || args.rules.contains(&r.uuid))
        .collect();
    if rules.is_empty() {
        return Err(CommandError::usage("no backed-up rule matches")
            .hint(format!("the backup holds: {}", held.join(", "))));
    }
    Ok((backup, rules))
}

fn not_a_backup(run_dir: &Path, e: std::io::Error) -> CommandError {
    if e.kind() != std::io::ErrorKind::NotFound {
        let msg = format!("cannot read the backup in {}", run_dir.display());
        return CommandError::caused(ErrorKind::Failure, msg, e)
            .hint("nothing was restored; its manifest.json or rules.sha256 is damaged or not a plain file");
    }
    let msg = format!(
        "{} is not an autorekey backup (no manifest.json)",
        run_dir.display()
    );
    let runs = backup_runs_in(run_dir);
    let hint = if runs.is_empty() {
        "pass the directory that rotate printed after \"Backups\"".to_string()
    } else {
        format!(
            "that is the folder of backups: pass one of the runs in it: {}",
            runs.join(", ")
        )
    };
    CommandError::usage(msg).hint(hint)
}

/// The backup runs directly inside `dir`, for a hint.
fn backup_runs_in(dir: &Path) -> Vec<String> {
    let mut runs: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .filter(|e| e.path().join("manifest.json").is_file())
        .map(|e| e.path().display().to_string())
        .collect();
    runs.sort();
    runs
}

/// A run directory, or one rule file inside its `rules/` folder.
fn locate(path: &Path) -> CommandResult<(PathBuf, Option<String>)> {
    if path.is_file() {
        let uuid = path.file_stem().map(|s| s.to_string_lossy().into_owned());
        let run = path.parent().and_then(Path::parent).map(Path::to_path_buf);
        return match run {
            Some(dir) => Ok((dir, uuid)),
            None => Err(CommandError::usage(format!(
                "{} is not inside a backup",
                path.display()
            ))),
        };
    }
    if path.is_dir() {
        return Ok((path.to_path_buf(), None));
    }
    Err(
        CommandError::usage(format!("{} does not exist", path.display()))
            .hint("pass the backup directory that rotate printed after \"Backups\""),
    )
}

enum Restored {
    Done(String),
    /// Already as in the backup, or declined (already said).
    Nothing,
    Quit,
    /// The site refused the admin's login: the whole restore stops.
    LoginRefused,
}

/// Restore one rule.
async fn restore_one(
    client: &AutomationClient,
    uuid: &str,
    name: &str,
    saved: &Value,
    approver: &mut Approver,
    safety: &BackupRun,
    ui: &Ui,
) -> Result<Restored, String> {
    let wanted = &saved["rule"];
    // The file name says which rule to write; the content must agree, or the wrong rule
    // would be overwritten (PUT takes the id from the path, not the body).
    if !wanted.is_object() || crate::export::rule_uuid(wanted) != uuid {
        return Err(format!(
            "the backup file for {uuid} holds another rule (or none); not restored"
        ));
    }
    let now = match client.get_rule(uuid).await {
        Ok(now) => now,
        Err(FetchError::Unauthorized { .. }) => return Ok(Restored::LoginRefused),
        Err(FetchError::NotFound { .. }) => {
            return Err(format!(
                "it no longer exists on the site; recreate it by hand from its backup file \
                 (rules/{uuid}.json in the backup directory)"
            ))
        }
        Err(other) => return Err(format!("could not read it: {other}")),
    };
    if plan::differences(wanted, &now["rule"]).is_empty() {
        ui.out(format!("\"{name}\" ({uuid}) is already as in the backup"));
        return Ok(Restored::Nothing);
    }
    if !crate::detect::masked_pointers(wanted).is_empty() {
        return Err(
            "the backup holds a masked *** value; writing it would destroy the hidden value".into(),
        );
    }
    ui.out(ui.bold(&format!("Rule \"{name}\" ({uuid}): now → backup")));
    ui.out_raw(ui.diff(&plan::redacted_diff_between(
        &now["rule"],
        wanted,
        &(format!("{name} (now)"), format!("{name} (backup)")),
    )));
    match approver
        .ask(&format!("Restore \"{name}\"?"))
        .map_err(|e| e.render())?
    {
        Answer::Yes | Answer::All => {}
        Answer::No => {
            ui.out(format!("Skipped \"{name}\""));
            return Ok(Restored::Nothing);
        }
        Answer::Quit => return Ok(Restored::Quit),
    }
    // The rule as it is now may carry edits made since the rotation: keep them too.
    safety
        .save(uuid, &now)
        .map_err(|e| format!("not restored: could not save its current version first: {e}"))?;
    let body = plan::put_body(wanted);
    let secrets = plan::secret_forms(&[wanted, &now["rule"]]);
    match client.put_rule(uuid, &body, &secrets).await {
        // The read-back below decides whether it landed.
        Ok(PutOutcome::Written | PutOutcome::AnswerLost)
        | Err(
            FetchError::Server { .. }
            | FetchError::Network(_)
            | FetchError::Timeout
            | FetchError::InvalidResponse(_),
        ) => {}
        Err(e) => return Err(format!("the site refused the write: {e}")),
    }
    let back = client
        .get_rule(uuid)
        .await
        .map_err(|e| format!("written, but could not read it back: {e}"))?;
    let moved = plan::differences(wanted, &back["rule"]);
    if moved.is_empty() {
        Ok(Restored::Done(format!("Restored \"{name}\" ({uuid})")))
    } else {
        Err(format!(
            "written, but the read-back differs at: {}",
            moved.join(", ")
        ))
    }
}
