//! `autorekey demo`: the whole annual rotation, rehearsed against the built-in sandbox.
//!
//! It starts the sandbox in-process on a free loopback port, loaded with the bundled
//! fixtures (realistic rules, traps included), and runs the real commands against it, the
//! same code paths an admin uses on a site: an inventory with `--verify`, a dry run, the
//! rotation with backups, a second run that finds only what it must leave alone, a restore and a last
//! inventory; then the expiry steps on a second site with an organization
//! ([`super::demo_org`]). It needs no terminal and no input (approval is `--yes`) and exits
//! 0 when the walk-through completed.
//! The fixtures are built into the binary (see [`crate::sandbox::bundled`]) and unpacked
//! into a private temp directory, so the demo runs from an installed binary anywhere;
//! `--fixtures DIR` uses others from disk.
//! The fixtures' tokens are obviously fake; they go to 0600 files in a private temp
//! directory and reach the commands the way real tokens do: by file, never by flag.

use std::path::{Path, PathBuf};

use crate::cli::{
    DemoArgs, Format, NewTokenArgs, Product, RestoreArgs, RotateArgs, ScanArgs, SiteArgs, WriteArgs,
};
use crate::error::{CommandError, CommandResult, ErrorKind};
use crate::files::replace as write_private;
use crate::sandbox::{
    bundled, load_accounts_file, load_rules_dir, private_dir, Sandbox, SandboxConfig,
};
use crate::settings::SiteOptions;
use crate::ui::Ui;

const SERVICE_ACCOUNT: &str = "svc-jira@acme.example";
/// The fixture rule another admin edits while the rotation runs (see fixtures/README.md).
const RACE_RULE: &str = "0190f3a2-5b7c-7d21-8e4f-a1b2c3d4e517";
const RESTORED_RULE: &str = "0190f3a2-5b7c-7d21-8e4f-a1b2c3d4e501";

pub async fn run(args: &DemoArgs, ui: &Ui) -> CommandResult {
    let secrets = private_dir()?;
    let fixtures = match fixtures_dir(args.fixtures.as_deref(), &secrets) {
        Ok(dir) => dir,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&secrets);
            return Err(e);
        }
    };
    let (sandbox, admin, new_token_file) = start(&fixtures, &secrets).await?;
    let site_args = SiteArgs {
        site: vec![sandbox.base_url()],
        sites_file: None,
        login: Some(admin),
        api_token_file: Some(secrets.join("admin-token")),
        product: Product::Jira,
        api_base: None,
        concurrency: 16,
        max_response_mb: 32,
    };
    let backups = secrets.join("backups");
    let rules = sandbox.state().rule_uuids().len();
    let mut result = walk(&site_args, rules, &new_token_file, &backups, ui).await;
    sandbox.shutdown().await;
    if result.is_ok() && fixtures.join("org").is_dir() {
        result = super::demo_org::run(&fixtures.join("org"), &secrets, ui).await;
    }
    if result.is_ok() {
        ui.out("\nThat was the whole job. On a real site: set AUTOREKEY_SITE, AUTOREKEY_LOGIN and");
        ui.out(
            "AUTOREKEY_API_TOKEN, then start with `autorekey scan --verify` (`autorekey --help`).",
        );
    }
    let _ = std::fs::remove_dir_all(&secrets);
    result
}

/// `--fixtures DIR` when given (it must hold rules/ and accounts.json), otherwise the
/// fixtures built into the binary, unpacked under `private` (0600 files in 0700 folders).
fn fixtures_dir(given: Option<&Path>, private: &Path) -> CommandResult<PathBuf> {
    let Some(dir) = given else {
        let dir = private.join("fixtures");
        bundled::unpack(&dir).map_err(|e| {
            CommandError::caused(ErrorKind::Failure, "cannot unpack the demo fixtures", e)
        })?;
        return Ok(dir);
    };
    if dir.join("rules").is_dir() && dir.join("accounts.json").is_file() {
        return Ok(dir.to_path_buf());
    }
    Err(CommandError::usage(format!(
        "{} holds no demo fixtures (rules/ and accounts.json)",
        dir.display()
    ))
    .hint("leave --fixtures out to use the fixtures built into autorekey"))
}

/// Start the sandbox with the fixtures; write the admin's and the new token to 0600 files.
async fn start(fixtures: &Path, secrets: &Path) -> CommandResult<(Sandbox, String, PathBuf)> {
    let load =
        |e: std::io::Error| CommandError::caused(ErrorKind::Failure, "cannot load the fixtures", e);
    let mut rules = load_rules_dir(&fixtures.join("rules")).map_err(load)?;
    if fixtures.join("export").is_dir() {
        rules.extend(load_rules_dir(&fixtures.join("export")).map_err(load)?);
    }
    let accounts = load_accounts_file(&fixtures.join("accounts.json")).map_err(load)?;
    let admin = accounts
        .iter()
        .find(|a| a.admin)
        .ok_or_else(|| CommandError::failure("the fixtures have no admin account"))?;
    let service = accounts
        .iter()
        .find(|a| a.email == SERVICE_ACCOUNT && a.tokens.len() >= 2)
        .ok_or_else(|| {
            CommandError::failure(format!(
                "the fixtures have no {SERVICE_ACCOUNT} with a new token"
            ))
        })?;
    write_private(
        &secrets.join("admin-token"),
        admin.tokens[0].expose().as_bytes(),
    )?;
    let new_token_file = secrets.join("new-token");
    write_private(&new_token_file, service.tokens[1].expose().as_bytes())?;
    let admin_email = admin.email.clone();
    let mut config = SandboxConfig {
        rules,
        accounts,
        ..SandboxConfig::default()
    };
    // Two reads happen before the rotation (inventory, dry run): the "other admin" edits
    // the race rule right after the rotation's own first read, so its re-read sees it.
    config.trap_edit_after_reads.insert(RACE_RULE.into(), 3);
    let sandbox = Sandbox::start(config)
        .await
        .map_err(|e| CommandError::caused(ErrorKind::Failure, "cannot start the sandbox", e))?;
    Ok((sandbox, admin_email, new_token_file))
}

async fn walk(
    site_args: &SiteArgs,
    rules: usize,
    new_token: &Path,
    backups: &Path,
    ui: &Ui,
) -> CommandResult {
    let site = site_args.site.first().cloned().unwrap_or_default();
    let options = SiteOptions::resolve(site_args);
    heading(
        ui,
        0,
        &format!("A sandbox Jira site is running at {site}, with {rules} automation rules."),
    );
    ui.out("   The admin's and the new token are in private files; no token is ever printed.");

    heading(
        ui,
        1,
        "Inventory: which rules hold which credential, and is it alive?",
    );
    ui.out(
        "   $ autorekey scan --verify     (credentials shown as user · fingerprint)
",
    );
    let scan = scan_args(site_args, None);
    super::scan::run(&options, &scan, ui).await?;

    heading(
        ui,
        2,
        &format!("Dry run: what rotating {SERVICE_ACCOUNT} would change"),
    );
    ui.out(format!(
        "   $ autorekey rotate --account {SERVICE_ACCOUNT} --new-token-file new-token --dry-run\n"
    ));
    let dry_run = rotate_args(site_args, SERVICE_ACCOUNT, new_token, backups, true);
    expect_partial(super::rotate::run(&options, &dry_run, ui).await)?;

    heading(
        ui,
        3,
        "The rotation: back up, re-read, write, read back, for every rule",
    );
    ui.out(format!(
        "   $ autorekey rotate --account {SERVICE_ACCOUNT} --new-token-file new-token --yes\n"
    ));
    let rotation = rotate_args(site_args, SERVICE_ACCOUNT, new_token, backups, false);
    expect_partial(super::rotate::run(&options, &rotation, ui).await)?;

    heading(ui, 4, "Run it again: a second run finds only what is left");
    expect_partial(super::rotate::run(&options, &rotation, ui).await)?;

    heading(ui, 5, "The way back: restore one rule from its backup");
    restore_one_rule(&options, site_args, backups, ui).await?;

    heading(ui, 6, &format!("Inventory of {SERVICE_ACCOUNT} now"));
    let scan = scan_args(site_args, Some(SERVICE_ACCOUNT));
    super::scan::run(&options, &scan, ui).await
}

async fn restore_one_rule(
    options: &SiteOptions,
    site_args: &SiteArgs,
    backups: &Path,
    ui: &Ui,
) -> CommandResult {
    let run_dir = std::fs::read_dir(backups)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .min()
        .ok_or_else(|| CommandError::failure("the rotation wrote no backup"))?;
    ui.out(format!(
        "   $ autorekey restore {} --rule {RESTORED_RULE} --yes\n",
        run_dir.display()
    ));
    let restore = RestoreArgs {
        format: Default::default(),
        backup: run_dir,
        rules: vec![RESTORED_RULE.into()],
        yes: true,
        site_args: site_args.clone(),
    };
    super::restore::run(options, &restore, ui).await
}

pub(super) fn heading(ui: &Ui, n: usize, text: &str) {
    let label = match n {
        0 => String::new(),
        n => format!("Step {n}. "),
    };
    ui.out(format!("\n{}", ui.bold(&format!("== {label}{text}"))));
}

/// The fixtures include rules the rotation must leave alone (masked values), so `rotate`
/// ends with exit status 3 by design; the demo explains that and goes on.
pub(super) fn expect_partial(result: CommandResult) -> CommandResult {
    match result {
        Err(e) if e.kind == ErrorKind::Partial => Ok(()),
        other => other,
    }
}

pub(super) fn scan_args(site_args: &SiteArgs, account: Option<&str>) -> ScanArgs {
    ScanArgs {
        site_args: site_args.clone(),
        format: Format::Text,
        account: account.map(str::to_string),
        from_file: None,
        verify: true,
        fail_on: Vec::new(),
        org: Default::default(),
        org_gateway: None,
    }
}

pub(super) fn rotate_args(
    site_args: &SiteArgs,
    account: &str,
    new_token: &Path,
    backups: &Path,
    dry_run: bool,
) -> RotateArgs {
    RotateArgs {
        site_args: site_args.clone(),
        account: account.into(),
        fingerprint: Vec::new(),
        to_account: None,
        rewrite_urls: false,
        dry_run,
        out: None,
        from_file: None,
        write: None,
        new_token: NewTokenArgs {
            new_token_file: Some(new_token.to_path_buf()),
            old_token_file: None,
        },
        write_args: WriteArgs {
            format: Default::default(),
            yes: true,
            backup_dir: Some(backups.to_path_buf()),
        },
    }
}
