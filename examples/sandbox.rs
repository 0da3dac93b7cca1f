//! Runs the sandbox by hand with the same flags as `autorekey sandbox`, for trying the
//! server with curl while the real command is wired elsewhere.
//!
//! `src/commands/sandbox_args.rs` is mounted by path; it names the library's sandbox as
//! `crate::sandbox`, which the re-export below provides here.

use clap::Parser;

mod sandbox {
    pub use autorekey::sandbox::*;
}

#[path = "../src/commands/sandbox_args.rs"]
mod sandbox_args;

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: sandbox_args::SandboxArgs,
}

#[tokio::main]
async fn main() -> Result<(), String> {
    let cli = Cli::parse();
    let generated = cli.args.generate.is_some();
    let config = cli.args.into_config()?;
    if generated {
        let dir = sandbox::private_dir().map_err(|e| e.to_string())?;
        let path =
            sandbox::write_accounts_file(&dir, &config.accounts).map_err(|e| e.to_string())?;
        println!("accounts file (tokens, mode 0600): {}", path.display());
    }
    let rules = config.rules.len();
    let server = sandbox::Sandbox::start(config)
        .await
        .map_err(|e| e.to_string())?;
    println!(
        "sandbox site {} (cloud id {}), {rules} rules; Ctrl-C stops it",
        server.base_url(),
        server.cloud_id()
    );
    tokio::signal::ctrl_c().await.map_err(|e| e.to_string())?;
    server.shutdown().await;
    Ok(())
}
