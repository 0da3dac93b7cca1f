//! The demo's expiry step: an API token about to expire is found through the organization
//! admin API, its rules are rotated, and the old token is revoked once a fresh scan proves
//! nothing uses it.
//!
//! It runs on a second, small sandbox site (fixtures/org) so the guard's proof can pass:
//! the main fixtures keep masked values on purpose, which rightly block any revocation.
//! Like the rest of the demo it calls the real commands, and tokens reach them by file.

use std::path::Path;

use crate::backup::create_private_dir_all;
use crate::cli::{OrgArgs, Product, RevokeArgs, ScanArgs, SiteArgs, TokensArgs};
use crate::error::{CommandError, CommandResult, ErrorKind};
use crate::files::replace as write_private;
use crate::sandbox::{load_accounts_file, load_directory, load_rules_dir, Sandbox, SandboxConfig};
use crate::settings::SiteOptions;
use crate::ui::Ui;

use super::demo::{expect_partial, heading, rotate_args, scan_args};

const OWNER: &str = "alice@acme.example";
/// The org's id for alice's expiring token (fixtures/org/accounts.json).
const OLD_TOKEN_ID: &str = "tok-alice-2025";

pub async fn run(fixtures: &Path, secrets: &Path, ui: &Ui) -> CommandResult {
    let load = |e: std::io::Error| {
        CommandError::caused(ErrorKind::Failure, "cannot load the org fixtures", e)
    };
    let accounts_file = fixtures.join("accounts.json");
    let accounts = load_accounts_file(&accounts_file).map_err(load)?;
    let directory = load_directory(&accounts_file).map_err(load)?;
    let org = directory
        .org
        .clone()
        .ok_or_else(|| CommandError::failure("fixtures/org/accounts.json has no org"))?;
    let admin = accounts.iter().find(|a| a.admin);
    let owner = accounts
        .iter()
        .find(|a| a.email == OWNER && a.tokens.len() >= 2);
    let (Some(admin), Some(owner)) = (admin, owner) else {
        return Err(CommandError::failure(
            "fixtures/org/accounts.json needs an admin and alice with two tokens",
        ));
    };
    let dir = secrets.join("org");
    create_private_dir_all(&dir)?;
    write_private(
        &dir.join("admin-token"),
        admin.tokens[0].expose().as_bytes(),
    )?;
    write_private(&dir.join("org-key"), org.api_key.expose().as_bytes())?;
    write_private(&dir.join("new-token"), owner.tokens[1].expose().as_bytes())?;
    let new_fp = owner.tokens[1].fingerprint();
    let config = SandboxConfig {
        rules: load_rules_dir(&fixtures.join("rules")).map_err(load)?,
        accounts: accounts.clone(),
        directory,
        ..SandboxConfig::default()
    };
    let sandbox = Sandbox::start(config)
        .await
        .map_err(|e| CommandError::caused(ErrorKind::Failure, "cannot start the sandbox", e))?;
    let site_args = SiteArgs {
        site: vec![sandbox.base_url()],
        sites_file: None,
        login: Some(admin.email.clone()),
        api_token_file: Some(dir.join("admin-token")),
        product: Product::Jira,
        api_base: None,
        concurrency: 4,
        max_response_mb: 32,
    };
    let steps = Steps {
        options: SiteOptions::resolve(&site_args),
        site_args: &site_args,
        org: OrgArgs {
            org: Some(org.id.clone()),
            org_api_key_file: Some(dir.join("org-key")),
        },
        dir: &dir,
        new_fp: new_fp.to_string(),
    };
    let result = steps.walk(ui).await;
    sandbox.shutdown().await;
    result
}

struct Steps<'a> {
    options: SiteOptions,
    site_args: &'a SiteArgs,
    org: OrgArgs,
    dir: &'a Path,
    new_fp: String,
}

impl Steps<'_> {
    async fn walk(&self, ui: &Ui) -> CommandResult {
        heading(
            ui,
            7,
            "Expiry dates: whose tokens run out soon? (a second site, with an org admin key)",
        );
        ui.out("   $ autorekey scan --org ORG_ID     (key in AUTOREKEY_ORG_API_KEY or --org-api-key-file)");
        ui.out("   In CI, `--fail-on expiring=30d` exits 3 while any owner's token expires within 30 days.\n");
        let scan = ScanArgs {
            verify: false,
            org: self.org.clone(),
            ..scan_args(self.site_args, None)
        };
        super::scan::run(&self.options, &scan, ui).await?;

        heading(ui, 8, &format!("Rotate {OWNER}'s rules to her new token"));
        ui.out(format!(
            "   $ autorekey rotate --account {OWNER} --new-token-file new-token --yes\n"
        ));
        let backups = self.dir.join("backups");
        let rotate = rotate_args(
            self.site_args,
            OWNER,
            &self.dir.join("new-token"),
            &backups,
            false,
        );
        expect_partial(super::rotate::run(&self.options, &rotate, ui).await)?;

        heading(
            ui,
            9,
            "Revoke the expiring token, once a fresh scan proves no rule uses it",
        );
        ui.out(format!(
            "   $ autorekey revoke --account {OWNER} --token-id {OLD_TOKEN_ID} --keep {} --org ORG_ID --yes\n",
            self.new_fp
        ));
        let revoke = RevokeArgs {
            site_args: self.site_args.clone(),
            account: OWNER.into(),
            token_id: OLD_TOKEN_ID.into(),
            keep: Some(self.new_fp.clone()),
            quiet_for: std::time::Duration::from_secs(7 * 86_400),
            backup_dir: Some(backups),
            yes: true,
            check_gone: false,
            org: self.org.clone(),
        };
        super::revoke::run(&self.options, &revoke, ui).await?;

        heading(ui, 10, &format!("{OWNER}'s tokens now"));
        ui.out(format!(
            "   $ autorekey tokens --account {OWNER} --org ORG_ID\n"
        ));
        let tokens = TokensArgs {
            site_args: self.site_args.clone(),
            account: Some(OWNER.into()),
            expiring: None,
            scan: None,
            format: crate::cli::TokensFormat::Text,
            org: self.org.clone(),
        };
        super::tokens::run(&self.options, &tokens, ui).await
    }
}
