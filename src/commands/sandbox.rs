//! `autorekey sandbox`: serve the local stand-in for a Jira Cloud site until Ctrl-C.
//!
//! Admins rehearse a rotation, and CI jobs test their scripts, against it. The base URL is
//! the first line on stdout, so a script can capture it; tokens never appear: generated
//! accounts go to a 0600 file whose path is printed instead.

use crate::cli::SandboxArgs;
use crate::error::{CommandError, CommandResult, ErrorKind};
use crate::sandbox::{private_dir, write_accounts_file, Sandbox};
use crate::ui::Ui;

pub async fn run(args: SandboxArgs, ui: &Ui) -> CommandResult {
    let generated = args.generate.is_some();
    let dirs: Vec<String> = args.rules.iter().map(|d| d.display().to_string()).collect();
    let config = args.into_config().map_err(CommandError::usage)?;
    if config.rules.is_empty() {
        // A site with no rules is a rehearsal of nothing: most likely a wrong --rules path.
        let why = if dirs.is_empty() {
            "no --rules DIR or --generate N was given".to_string()
        } else {
            format!("no rule files (*.json) in {}", dirs.join(", "))
        };
        ui.warn(format!(
            "the sandbox serves no rules: {why}. Try --rules fixtures/rules (in the checkout) \
             or --generate 100"
        ));
    }
    let accounts_file = if generated {
        let dir = private_dir()?;
        Some(write_accounts_file(&dir, &config.accounts)?)
    } else {
        None
    };
    let admin = config
        .accounts
        .iter()
        .find(|a| a.admin)
        .map(|a| a.email.clone());
    let rules = config.rules.len();
    let server = Sandbox::start(config)
        .await
        .map_err(|e| CommandError::caused(ErrorKind::Failure, "cannot start the sandbox", e))?;
    ui.out(server.base_url());
    ui.status(format!(
        "Sandbox site {} (cloud id {}) serving {rules} rules. Ctrl-C stops it.",
        server.base_url(),
        server.cloud_id()
    ));
    if let Some(path) = accounts_file {
        ui.status(format!(
            "Generated accounts and their tokens (mode 0600): {}",
            path.display()
        ));
        if let Some(admin) = &admin {
            // The token is loaded from the file by the shell: it is never printed.
            ui.status(format!(
                "To rehearse against it:\n  export AUTOREKEY_SITE={}\n  export AUTOREKEY_GATEWAY_URL={}\n  \
                 export AUTOREKEY_LOGIN={admin}\n  \
                 export AUTOREKEY_API_TOKEN=\"$(jq -r '.accounts[] | select(.admin) | .tokens[0]' {})\"",
                server.base_url(),
                server.base_url(),
                path.display()
            ));
        }
    }
    tokio::signal::ctrl_c().await?;
    let stats = server.state().stats();
    server.shutdown().await;
    // What the site went through, for a rehearsal's notes and for benches/scan.sh.
    ui.status(format!(
        "Stopped after {} requests: {} answered 429 by the rate limit, {} faults injected.",
        stats.total_requests, stats.rate_limited, stats.faults_injected
    ));
    Ok(())
}
