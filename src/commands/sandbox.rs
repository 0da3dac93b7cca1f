//! `autorekey sandbox`: serve the local stand-in for a Jira Cloud site until Ctrl-C.
//!
//! Admins rehearse a rotation, and CI jobs test their scripts, against it. The base URL is
//! the first line on stdout, so a script can capture it; tokens never appear: generated
//! accounts go to a 0600 file whose path is printed instead.
//!
//! The flags are defined in [`crate::cli`] (the command line depends on no command); they
//! become a [`SandboxConfig`] here, where files are read and rules generated.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use crate::cli::SandboxArgs;
use crate::error::{CommandError, CommandResult, ErrorKind};
use crate::sandbox::{
    generate_rules, load_accounts_file, load_directory, load_rules_dir, private_dir,
    write_accounts_file, Directory, RuleSelection, Sandbox, SandboxConfig,
};
use crate::ui::Ui;

use super::interrupt::OnExit;

pub async fn run(args: SandboxArgs, ui: &Ui) -> CommandResult {
    let generated = args.generate.is_some();
    let sites = usize::from(args.sites);
    let dirs: Vec<String> = args.rules.iter().map(|d| d.display().to_string()).collect();
    let config = config(args).map_err(CommandError::usage)?;
    if config.rules.is_empty() {
        warn_no_rules(&dirs, ui);
    }
    let accounts = generated
        .then(|| GeneratedAccounts::write(&config))
        .transpose()?;
    let stop = Stop::listen()?;
    let servers = Sandbox::start_sites(config, sites)
        .await
        .map_err(|e| CommandError::caused(ErrorKind::Failure, "cannot start the sandbox", e))?;
    announce(&servers, accounts.as_ref(), ui);
    stop.wait().await;
    shut_down(servers, ui).await;
    Ok(())
}

/// A site with no rules is a rehearsal of nothing: most likely a wrong --rules path.
fn warn_no_rules(dirs: &[String], ui: &Ui) {
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

/// The base URLs first, on stdout (a script captures them), then what each site serves
/// and where the generated accounts are.
fn announce(servers: &[Sandbox], accounts: Option<&GeneratedAccounts>, ui: &Ui) {
    for site in servers {
        ui.out(site.base_url());
    }
    for site in servers {
        ui.status(format!(
            "Sandbox site {} (cloud id {}) serving {} rules. Ctrl-C stops it.",
            site.base_url(),
            site.cloud_id(),
            site.state().rule_uuids().len()
        ));
    }
    if let Some(accounts) = accounts {
        accounts.announce(&servers[0], ui);
    }
}

/// Each site stopped, and what the sites went through, for a rehearsal's notes and for
/// benches/scan.sh.
async fn shut_down(servers: Vec<Sandbox>, ui: &Ui) {
    let (mut total, mut limited, mut faults) = (0, 0, 0);
    for site in servers {
        let stats = site.state().stats();
        (total, limited, faults) = (
            total + stats.total_requests,
            limited + stats.rate_limited,
            faults + stats.faults_injected,
        );
        site.shutdown().await;
    }
    ui.status(format!(
        "Stopped after {total} requests: {limited} answered 429 by the rate limit, {faults} faults injected."
    ));
}

/// The generated accounts, tokens in clear in a 0600 file: the file (and its folder) go
/// when the sandbox stops, however.
struct GeneratedAccounts {
    file: OnExit<(RemovedDir, PathBuf)>,
    /// The admin to rehearse as.
    admin: Option<String>,
}

impl GeneratedAccounts {
    fn write(config: &SandboxConfig) -> CommandResult<GeneratedAccounts> {
        let dir = private_dir()?;
        let removed = RemovedDir(dir.clone());
        let path = write_accounts_file(&dir, &config.accounts)?;
        Ok(GeneratedAccounts {
            file: OnExit::new((removed, path), &dir),
            admin: config
                .accounts
                .iter()
                .find(|a| a.admin)
                .map(|a| a.email.clone()),
        })
    }

    /// Where the file is, and how to rehearse against the first site as the admin.
    fn announce(&self, server: &Sandbox, ui: &Ui) {
        let path = &self.file.held.1;
        ui.status(format!(
            "Generated accounts and their tokens (mode 0600): {}",
            path.display()
        ));
        if let Some(admin) = &self.admin {
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
}

/// Ctrl-C or SIGTERM (how a CI job stops it), listened for from before the first line is
/// printed: this command's own way to end, so Ctrl-C is not the interrupted-command error
/// here (see `interrupt`).
struct Stop {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
}

impl Stop {
    fn listen() -> std::io::Result<Stop> {
        use tokio::signal::unix::{signal, SignalKind};
        super::interrupt::take_over();
        Ok(Stop {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
        })
    }

    async fn wait(mut self) {
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
        }
    }
}

/// A folder removed with everything in it when dropped.
struct RemovedDir(PathBuf);

impl Drop for RemovedDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The flags as a sandbox: files loaded, rules generated, traps checked against the rules.
/// Generated accounts (with tokens) are in `config.accounts`: the caller writes them with
/// `write_accounts_file` and shows the path.
fn config(args: SandboxArgs) -> Result<SandboxConfig, String> {
    let mut rules = Vec::new();
    for dir in &args.rules {
        let loaded = load_rules_dir(dir).map_err(|e| format!("--rules {}: {e}", dir.display()))?;
        rules.extend(loaded);
    }
    let mut accounts = match &args.accounts {
        Some(path) => load_accounts_file(path).map_err(|e| format!("--accounts: {e}"))?,
        None => Vec::new(),
    };
    let directory = match &args.accounts {
        Some(path) => load_directory(path).map_err(|e| format!("--accounts: {e}"))?,
        None => Directory::default(),
    };
    if let Some(n) = args.generate {
        let (generated, generated_accounts) = generate_rules(n, args.seed);
        rules.extend(generated);
        accounts.extend(generated_accounts);
    }
    if let Some(id) = &args.cloud_id {
        uuid::Uuid::parse_str(id).map_err(|_| format!("--cloud-id: {id:?} is not a UUID"))?;
    }
    check_traps(&args, &rules)?;
    Ok(SandboxConfig {
        port: args.port,
        rules,
        accounts,
        directory,
        cloud_id: args.cloud_id,
        latency: Duration::from_millis(args.latency_ms),
        rate_limit_per_sec: args.rate_limit,
        rate_limit_headers: args.rate_limit_headers,
        error_rate: args.error_rate,
        drop_rate: args.drop_rate,
        lost_put_rate: args.lost_put_rate,
        seed: args.seed,
        absolute_next_links: args.absolute_next_links,
        list_drift: args.list_drift,
        list_skip_at: args.list_skip_at,
        trap_mask_hidden: RuleSelection::from_values(&args.trap_mask_hidden),
        trap_foreign_connections: RuleSelection::from_values(&args.trap_foreign_connections),
        trap_edit_after_reads: args
            .trap_edit_after_reads
            .into_iter()
            .collect::<BTreeMap<_, _>>(),
        // Set per rule by a rule file's "sandbox" key (no flag: tests use it).
        trap_revert_after_reads: BTreeMap::new(),
        check_component_ids: !args.no_component_id_check,
        revocations: None,
    })
}

/// Each trap names a rule of `rules` (by uuid), or `all` where the trap takes it.
fn check_traps(args: &SandboxArgs, rules: &[serde_json::Value]) -> Result<(), String> {
    let known: Vec<String> = rules
        .iter()
        .filter_map(|r| crate::rule::Rule::from_envelope(r.clone()).ok())
        .map(|r| r.uuid().to_owned())
        .collect();
    let named = args
        .trap_mask_hidden
        .iter()
        .chain(&args.trap_foreign_connections)
        .chain(args.trap_edit_after_reads.iter().map(|(uuid, _)| uuid));
    for uuid in named {
        if !uuid.eq_ignore_ascii_case("all") && !known.iter().any(|k| k == uuid) {
            return Err(format!(
                "trap names rule {uuid}, which no --rules file or --generate holds"
            ));
        }
    }
    if args
        .trap_edit_after_reads
        .iter()
        .any(|(uuid, _)| uuid.eq_ignore_ascii_case("all"))
    {
        return Err("--trap-edit-after-reads takes one rule uuid per flag, not \"all\"".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::RateLimitHeaders;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: SandboxArgs,
    }

    fn config(argv: &[&str]) -> Result<SandboxConfig, String> {
        let cli = Cli::try_parse_from(std::iter::once("sandbox").chain(argv.iter().copied()))
            .map_err(|e| e.to_string())?;
        super::config(cli.args)
    }

    #[test]
    fn flags_become_config_and_traps_must_name_known_rules() {
        let c = config(&[
            "--generate",
            "5",
            "--seed",
            "9",
            "--latency-ms",
            "5",
            "--rate-limit",
            "20",
            "--rate-limit-headers",
            "on-429",
            "--error-rate",
            "0.1",
            "--trap-mask-hidden",
            "all",
            "--no-component-id-check",
        ])
        .unwrap();
        assert_eq!(
            (c.rules.len(), c.seed, c.latency),
            (5, 9, Duration::from_millis(5))
        );
        assert_eq!((c.rate_limit_per_sec, c.error_rate), (Some(20.0), 0.1));
        assert_eq!(c.rate_limit_headers, RateLimitHeaders::On429);
        assert_eq!(c.trap_mask_hidden, RuleSelection::All);
        assert!(!c.check_component_ids && c.accounts.iter().any(|a| a.admin));

        let uuid = crate::rule::Rule::from_envelope(c.rules[0].clone())
            .unwrap()
            .uuid()
            .to_owned();
        let edit = format!("{uuid}=2");
        let c = config(&[
            "--generate",
            "5",
            "--seed",
            "9",
            "--trap-edit-after-reads",
            &edit,
        ])
        .unwrap();
        assert_eq!(c.trap_edit_after_reads.get(&uuid), Some(&2));

        assert_eq!(config(&["--list-drift", "5"]).unwrap().list_drift, 5);
        assert_eq!(config(&[]).unwrap().list_drift, 0);
        assert_eq!(
            config(&["--list-skip-at", "0"]).unwrap().list_skip_at,
            Some(0)
        );
        assert_eq!(config(&[]).unwrap().list_skip_at, None);
        assert!(config(&["--trap-foreign-connections", "no-such-rule"]).is_err());
        assert!(config(&["--drop-rate", "1.5"]).is_err());
        assert!(config(&["--cloud-id", "not-a-uuid"]).is_err());
        assert!(config(&["--trap-edit-after-reads", "x=0"]).is_err());
    }
}
