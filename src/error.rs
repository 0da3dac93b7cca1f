//! The error a command ends with, and how it is shown and mapped to an exit status.
//!
//! Shaped after jj's `CommandError`: a kind that decides the exit status, the error with its
//! chain of causes, and hints that tell the admin what to do next. It is printed as
//! `Error: ...` (or `Needs you: ...` for a partial result), `Caused by: ...`, `Hint: ...` so
//! every failure says what happened and what
//! to try. Messages are built from types that cannot print a token (see [`crate::secret`]).

use std::fmt;

use crate::fetch::FetchError;

/// What kind of failure ended a command; each maps to one documented exit status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The command failed (network, site, permissions, I/O): exit 1.
    Failure,
    /// The command line or its inputs were wrong: exit 2.
    Usage,
    /// The command ran to the end but some rules were left alone or failed: exit 3.
    Partial,
}

impl ErrorKind {
    pub fn exit_code(self) -> u8 {
        match self {
            ErrorKind::Failure => 1,
            ErrorKind::Usage => 2,
            ErrorKind::Partial => 3,
        }
    }
}

pub struct CommandError {
    pub kind: ErrorKind,
    pub error: anyhow::Error,
    pub hints: Vec<String>,
}

impl CommandError {
    pub fn new(kind: ErrorKind, error: impl Into<anyhow::Error>) -> Self {
        CommandError {
            kind,
            error: error.into(),
            hints: Vec::new(),
        }
    }

    pub fn failure(message: impl fmt::Display) -> Self {
        Self::new(ErrorKind::Failure, anyhow::anyhow!("{message}"))
    }

    pub fn usage(message: impl fmt::Display) -> Self {
        Self::new(ErrorKind::Usage, anyhow::anyhow!("{message}"))
    }

    pub fn partial(message: impl fmt::Display) -> Self {
        Self::new(ErrorKind::Partial, anyhow::anyhow!("{message}"))
    }

    /// A failure of `kind` described by `message`, caused by `cause`.
    pub fn caused(
        kind: ErrorKind,
        message: impl fmt::Display + Send + Sync + 'static,
        cause: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Self::new(kind, anyhow::Error::new(cause).context(message))
    }

    /// A file the admin named (`--from-file`, a plan, a token file) that could not be read
    /// as input: a mistake in the input (exit 2), unless the system failed reading it
    /// (exit 1); the hint names the cause, with `shapes` (what the file must be) for a
    /// file that is there but not of that shape.
    pub fn input_file(
        message: impl fmt::Display + Send + Sync + 'static,
        cause: std::io::Error,
        shapes: &str,
    ) -> Self {
        use std::io::ErrorKind as Io;
        let (kind, hint) = match cause.kind() {
            Io::NotFound => (
                ErrorKind::Usage,
                "there is no such file or folder: check the path (relative paths start from the current folder)".to_string(),
            ),
            Io::PermissionDenied => (
                ErrorKind::Usage,
                "you may not read it: check its permissions (`ls -l`), or copy it somewhere of yours".into(),
            ),
            Io::InvalidData | Io::InvalidInput | Io::UnexpectedEof | Io::IsADirectory => {
                (ErrorKind::Usage, shapes.to_string())
            }
            _ => (
                ErrorKind::Failure,
                "the system could not read it; try again, or copy the file somewhere else".into(),
            ),
        };
        Self::caused(kind, message, cause).hint(hint)
    }

    /// The same error again, as it renders (kind, message, causes, hints): for an error
    /// found once and raised wherever a value it spoils is asked for (see
    /// [`crate::settings::SiteOptions`]). Only the text of the causes is kept.
    pub fn replay(&self) -> Self {
        let mut chain: Vec<String> = self.error.chain().map(ToString::to_string).collect();
        let mut error = anyhow::anyhow!("{}", chain.pop().unwrap_or_default());
        while let Some(outer) = chain.pop() {
            error = error.context(outer);
        }
        CommandError {
            kind: self.kind,
            error,
            hints: self.hints.clone(),
        }
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hints.push(hint.into());
        self
    }

    /// Wrap with a higher-level message, keeping the original as the cause.
    pub fn context(mut self, message: impl fmt::Display + Send + Sync + 'static) -> Self {
        self.error = self.error.context(message);
        self
    }

    /// The lines shown on stderr: `Error:` (or `Needs you:`), then each `Caused by:`, then
    /// each `Hint:`.
    /// A partial result is not an error of the tool: it is labelled as what it is, work
    /// left for a person, so nobody mistakes a finished run for a crash.
    pub fn render(&self) -> String {
        let label = match self.kind {
            ErrorKind::Partial => "Needs you",
            ErrorKind::Failure | ErrorKind::Usage => "Error",
        };
        let mut out = format!("{label}: {}\n", self.error);
        for cause in self.error.chain().skip(1) {
            out.push_str(&format!("Caused by: {cause}\n"));
        }
        for hint in &self.hints {
            out.push_str(&format!("Hint: {hint}\n"));
        }
        out
    }
}

impl fmt::Debug for CommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render())
    }
}

impl From<std::io::Error> for CommandError {
    fn from(e: std::io::Error) -> Self {
        CommandError::new(ErrorKind::Failure, e)
    }
}

impl From<FetchError> for CommandError {
    fn from(e: FetchError) -> Self {
        // The hint is the fetch stage's, written once where the error is made.
        let hints = e.hint().into_iter().map(Into::into).collect();
        CommandError {
            hints,
            ..CommandError::new(ErrorKind::Failure, e)
        }
    }
}

/// Which call of the org admin API failed: the same answer means different things there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OrgCall {
    /// `GET /admin/api-access/v1/orgs/{orgId}/api-tokens` (API Access API).
    List,
    /// `DELETE /users/{accountId}/manage/api-tokens/{tokenId}` (User Management API).
    Revoke,
}

impl CommandError {
    /// A failure of the org admin API. Its credential is the org API key, not the site
    /// login, so its hints name the key, its scope and the org id instead of
    /// AUTOREKEY_LOGIN / AUTOREKEY_API_TOKEN.
    pub fn from_org(e: FetchError, call: OrgCall) -> Self {
        let Some(hint) = org_hint(&e, call) else {
            return CommandError::from(e);
        };
        CommandError::new(ErrorKind::Failure, e).hint(hint)
    }

    /// The org's token list could not be read.
    pub fn org_list_failed(e: FetchError) -> Self {
        CommandError::from_org(e, OrgCall::List)
            .context("cannot read the organization's API tokens")
    }
}

/// What an admin can do about the org admin API refusing a call.
fn org_hint(e: &FetchError, call: OrgCall) -> Option<&'static str> {
    Some(match (e, call) {
        (FetchError::Unauthorized { .. } | FetchError::Forbidden { .. }, OrgCall::List) => {
            "check the org admin API key (AUTOREKEY_ORG_API_KEY or --org-api-key-file): it must \
             be a key of this organization, not expired, with the read:tokens:admin scope"
        }
        (FetchError::Unauthorized { .. } | FetchError::Forbidden { .. }, OrgCall::Revoke) => {
            "revoking calls the User Management API (DELETE /users/{accountId}/manage/api-tokens/\
             {tokenId}), which an org API key created with selected scopes may not reach: use a \
             key without scope restrictions (AUTOREKEY_ORG_API_KEY or --org-api-key-file), or \
             revoke the token at admin.atlassian.com"
        }
        (FetchError::NotFound { .. }, OrgCall::List) => {
            "check the org id (--org or AUTOREKEY_ORG_ID): admin.atlassian.com > Settings > API \
             keys shows it beside the key"
        }
        _ => return None,
    })
}

pub type CommandResult<T = ()> = Result<T, CommandError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fetch_error_carries_its_own_hint_and_no_other() {
        let e = FetchError::Forbidden {
            message: "User is not authenticated, or user is not a global admin".into(),
        };
        let expected = e.hint().map(str::to_owned);
        let err = CommandError::from(e);
        assert_eq!(err.hints, expected.into_iter().collect::<Vec<_>>());
        assert!(err.hints[0].contains("global admin"));
    }
}
