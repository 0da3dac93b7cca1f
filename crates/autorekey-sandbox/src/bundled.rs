//! The demo fixtures (fixtures/ in the checkout), built into the binary.
//!
//! `autorekey demo` must work from an installed binary, far from any checkout, so the
//! files are embedded at build time (the list is made by build.rs). [`unpack`] writes them
//! to a private folder, where the demo loads them with the same code that loads any
//! `--rules` folder or accounts file: one loading path, whichever way the fixtures came.
//! Their tokens are the obviously fake `FAKE-…` ones; still, they are written 0600 in 0700
//! folders, like every file holding a token.

use std::io;
use std::path::Path;

include!(concat!(env!("OUT_DIR"), "/fixtures.rs"));

/// Write every embedded fixture under `dir` (created 0700 with its folders; files 0600,
/// never over an existing file), keeping the layout of fixtures/.
pub fn unpack(dir: &Path) -> io::Result<()> {
    for (relative, text) in FILES {
        let path = dir.join(relative);
        if let Some(parent) = path.parent() {
            crate::files::create_private_dir_all(parent)?;
        }
        crate::files::write_new(&path, text.as_bytes())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_fixtures_are_the_checkout_files() {
        let checkout = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures");
        let unpacked = tempfile::tempdir().unwrap();
        unpack(unpacked.path()).unwrap();
        assert!(FILES.iter().any(|(p, _)| p.starts_with("rules/")));
        assert!(FILES.iter().any(|(p, _)| *p == "accounts.json"));
        for (relative, _) in FILES {
            assert_eq!(
                std::fs::read(unpacked.path().join(relative)).unwrap(),
                std::fs::read(checkout.join(relative)).unwrap(),
                "{relative}"
            );
        }
        let rules = std::fs::read_dir(checkout.join("rules")).unwrap().count();
        assert_eq!(
            FILES
                .iter()
                .filter(|(p, _)| p.starts_with("rules/"))
                .count(),
            rules,
            "every fixture rule is embedded"
        );
    }
}
