//! Helpers for the local-file traps (plans, backup folders, FIFOs): a fixture rotation
//! run, a path as text, a mode set.

use crate::common::RunOutput;
use crate::rotate_support::*;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

pub(crate) fn run_fixture(fx: &FixtureRotation, cmd: assert_cmd::Command) -> RunOutput {
    fx.site.run_cmd(cmd)
}

pub(crate) fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

pub(crate) fn path_str(path: &Path) -> &str {
    path.to_str().expect("a UTF-8 path")
}
