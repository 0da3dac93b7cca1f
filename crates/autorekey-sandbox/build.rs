//! Build script: lists the demo fixtures so `autorekey demo` carries them inside the binary.
//!
//! An installed binary (`cargo install`) has no checkout beside it; the demo must still
//! run. Listing the files here, rather than by hand in the source, means a fixture added
//! under one of the demo's folders is embedded without anyone remembering to. Only what the
//! demo loads is embedded: accounts.json and the `.json` files under [`DEMO_FOLDERS`] (not
//! the test oracle, nor the shapes only `scan --from-file` tests read).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// The folders of fixtures/ that the demo loads (with fixtures/accounts.json).
const DEMO_FOLDERS: [&str; 3] = ["rules", "export", "org"];

fn main() {
    // The fixtures are the repository's (crates/autorekey-sandbox/../../fixtures).
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let fixtures = root.join("../../fixtures");
    println!("cargo:rerun-if-changed=../../fixtures");
    let mut files = vec![fixtures.join("accounts.json")];
    for folder in DEMO_FOLDERS {
        collect(&fixtures.join(folder), &mut files);
    }
    files.sort();
    let mut out = String::from(
        "/// The demo fixtures, embedded: (path under fixtures/, contents), in path order.\n\
         pub const FILES: &[(&str, &str)] = &[\n",
    );
    for file in files {
        let relative = file.strip_prefix(&fixtures).expect("under fixtures/");
        let relative = relative.to_str().expect("fixture paths are UTF-8");
        let absolute = file.to_str().expect("fixture paths are UTF-8");
        let _ = writeln!(out, "    ({relative:?}, include_str!({absolute:?})),");
    }
    out.push_str("];\n");
    let dest = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    std::fs::write(dest.join("fixtures.rs"), out).expect("write the fixture list");
}

/// Every `.json` file under `dir`, recursively; each folder is watched for new files.
fn collect(dir: &Path, files: &mut Vec<PathBuf>) {
    println!("cargo:rerun-if-changed={}", dir.display());
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in entries.filter_map(Result::ok) {
        let path = entry.path();
        if path.is_dir() {
            collect(&path, files);
        } else if path.extension().is_some_and(|e| e == "json") {
            files.push(path);
        }
    }
}
