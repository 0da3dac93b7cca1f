//! Sandbox user accounts: who may log in, with which tokens, and how their tokens reach disk.
//!
//! Tokens enter the sandbox only through a file (never argv, which any local user can read)
//! and leave it only through [`write_accounts_file`], which creates a 0600 file in a 0700
//! directory. The file format is the same both ways so a generated file can be fed back
//! with `--accounts`.

use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::secret::Token;

/// A Jira user the sandbox knows. `tokens` are valid API tokens; `revoked_tokens` were
/// valid once and now fail like an expired or revoked token does on a real site.
#[derive(Clone, Debug)]
pub struct Account {
    pub email: String,
    pub account_id: String,
    /// Jira global admin: may call the rule-management API.
    pub admin: bool,
    pub tokens: Vec<Token>,
    pub revoked_tokens: Vec<Token>,
}

impl Account {
    /// Display name shown by `/myself`, derived from the email's local part.
    pub fn display_name(&self) -> String {
        let local = self.email.split('@').next().unwrap_or(&self.email);
        local
            .split(['.', '-', '_'])
            .filter(|w| !w.is_empty())
            .map(|w| {
                let mut c = w.chars();
                c.next()
                    .map(|f| f.to_uppercase().chain(c).collect::<String>())
                    .unwrap_or_default()
            })
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// On-disk shape; holds clear tokens only for the instant of (de)serialisation.
#[derive(Serialize, Deserialize)]
struct AccountsFile {
    accounts: Vec<AccountEntry>,
}

#[derive(Serialize, Deserialize)]
struct AccountEntry {
    email: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    account_id: Option<String>,
    #[serde(default)]
    admin: bool,
    #[serde(default)]
    tokens: Vec<String>,
    #[serde(default)]
    revoked_tokens: Vec<String>,
}

/// A stable, Atlassian-looking account id for an email that has none in the file.
pub(crate) fn account_id_for(email: &str) -> String {
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(email.to_ascii_lowercase().as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    format!(
        "712020:{}",
        uuid::Builder::from_random_bytes(bytes).into_uuid()
    )
}

/// Reads `{"accounts":[{"email","account_id"?,"admin"?,"tokens":[..],"revoked_tokens"?:[..]}]}`.
/// A JSON file that does not parse, named with `what` and the position only: serde_json's
/// message may quote the offending value, which may be a token.
pub(crate) fn unreadable(path: &Path, what: &str, e: &serde_json::Error) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!(
            "{}: {what} (line {}, column {})",
            path.display(),
            e.line(),
            e.column()
        ),
    )
}

/// Errors name the file and the problem, never a token.
pub fn load_accounts_file(path: &Path) -> io::Result<Vec<Account>> {
    use crate::files::{read_text_capped, Links, SMALL_FILE_CAP};
    let text = read_text_capped(path, SMALL_FILE_CAP, Links::Follow)?;
    let file: AccountsFile =
        serde_json::from_str(&text).map_err(|e| unreadable(path, "not an accounts file", &e))?;
    Ok(file
        .accounts
        .into_iter()
        .map(|e| Account {
            account_id: e.account_id.unwrap_or_else(|| account_id_for(&e.email)),
            email: e.email,
            admin: e.admin,
            tokens: e.tokens.into_iter().map(Token::new).collect(),
            revoked_tokens: e.revoked_tokens.into_iter().map(Token::new).collect(),
        })
        .collect())
}

/// A fresh private directory under the system temp dir (mode 0700), for
/// [`write_accounts_file`].
pub fn private_dir() -> io::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("autorekey-sandbox-{}", uuid::Uuid::new_v4()));
    crate::files::create_private_dir_all(&dir)?;
    Ok(dir)
}

/// Writes `accounts` (tokens in clear) to `dir/sandbox-accounts.json` with mode 0600,
/// creating `dir` with mode 0700 if needed, and returns the file's path: the caller shows
/// the path, never the content.
pub fn write_accounts_file(dir: &Path, accounts: &[Account]) -> io::Result<PathBuf> {
    crate::files::create_private_dir_all(dir)?;
    let file = AccountsFile {
        accounts: accounts
            .iter()
            .map(|a| AccountEntry {
                email: a.email.clone(),
                account_id: Some(a.account_id.clone()),
                admin: a.admin,
                tokens: a.tokens.iter().map(|t| t.expose().to_owned()).collect(),
                revoked_tokens: a
                    .revoked_tokens
                    .iter()
                    .map(|t| t.expose().to_owned())
                    .collect(),
            })
            .collect(),
    };
    let path = dir.join("sandbox-accounts.json");
    let text = serde_json::to_string_pretty(&file).map_err(io::Error::other)?;
    // A new 0600 file moved into place, whatever mode an older one had.
    crate::files::replace(&path, format!("{text}\n").as_bytes())?;
    Ok(path)
}

/// Checks `email:token` against the accounts: the account it logs in as, `None` for a
/// wrong, revoked or unknown token or an unknown email. Emails compare case-insensitively
/// like Atlassian's do.
pub(crate) fn check_login<'a>(
    accounts: &'a [Account],
    email: &str,
    token: &str,
) -> Option<&'a Account> {
    accounts.iter().find(|a| {
        a.email.eq_ignore_ascii_case(email) && a.tokens.iter().any(|t| t.expose() == token)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn write_then_load_round_trips_with_private_modes() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("sub");
        let token = format!("FAKE-{}", uuid::Uuid::new_v4());
        let accounts = vec![Account {
            email: "svc.bot@example.com".into(),
            account_id: "712020:abc".into(),
            admin: true,
            tokens: vec![Token::new(token.clone())],
            revoked_tokens: vec![],
        }];
        let path = write_accounts_file(&target, &accounts).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&path), 0o600);
            assert_eq!(mode(&target), 0o700);
        }
        let back = load_accounts_file(&path).unwrap();
        assert_eq!(back[0].tokens[0].expose(), token);
        assert_eq!(back[0].display_name(), "Svc Bot");
        assert!(check_login(&back, "SVC.BOT@example.com", &token).is_some());
        assert!(check_login(&back, "svc.bot@example.com", "nope").is_none());
    }

    #[test]
    fn load_errors_never_quote_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.json");
        fs::write(
            &path,
            r#"{"accounts":[{"email":"a@b.c","tokens":"FAKE-secret"}]}"#,
        )
        .unwrap();
        let err = load_accounts_file(&path).unwrap_err().to_string();
        assert!(!err.contains("FAKE-secret"), "{err}");
    }
}
