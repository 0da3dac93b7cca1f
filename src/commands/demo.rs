//! `autorekey demo`: placeholder replaced below.
use crate::cli::DemoArgs;
use crate::error::CommandResult;
use crate::ui::Ui;
pub async fn run(_args: &DemoArgs, _ui: &Ui) -> CommandResult {
    Ok(())
}
