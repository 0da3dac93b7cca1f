//! Running the binary with no site: help, completions, man, demo and sandbox, with the
//! environment that shapes help (`COLUMNS`, option defaults) cleared so output is fixed.

use crate::common::{autorekey, checked, RunOutput};

pub(crate) fn run(args: &[&str]) -> RunOutput {
    let mut cmd = autorekey();
    // Help shows an option's environment value and wraps to COLUMNS: keep both fixed.
    cmd.env_remove("AUTOREKEY_MAX_RESPONSE_MB")
        .env_remove("AUTOREKEY_ORG_ID")
        .env_remove("COLUMNS")
        .args(args);
    checked(cmd.output().expect("run autorekey"), &[])
}
