//! How secrets enter: a file, stdin, an environment variable, or a hidden prompt.
//!
//! Never a flag's value: argv is readable by every user on the machine. The order is the
//! same for both tokens the tool takes (the admin's, and the new one a rotation writes):
//! an explicit file (`-` for stdin) first, then the environment variable (for CI), then a
//! hidden prompt when someone is at a terminal. Without any of them the command stops and
//! says which to use. A token is never read from a terminal with its echo on: `-` typed at
//! a terminal asks with the hidden prompt instead, and a terminal on stdin whose prompt
//! could not be shown (stderr elsewhere) is refused. Stdin is read capped, into one buffer
//! that never grows, so no unzeroed copy of a token is left behind.

use std::io::{IsTerminal, Read};
use std::path::Path;

use zeroize::Zeroizing;

use crate::error::{CommandError, CommandResult};
use crate::files::{self, Links};
use crate::secret::Token;
use crate::ui::Ui;

/// Environment variable for the admin's API token.
pub const API_TOKEN_ENV: &str = "AUTOREKEY_API_TOKEN";
/// Environment variable for the new token a rotation writes.
pub const NEW_TOKEN_ENV: &str = "AUTOREKEY_NEW_TOKEN";
/// The environment variable that may hold the account's old token.
pub const OLD_TOKEN_ENV: &str = "AUTOREKEY_OLD_TOKEN";

/// What the token is for, for messages and prompts.
#[derive(Clone, Copy)]
pub struct TokenSource<'a> {
    pub what: &'a str,
    pub file: Option<&'a Path>,
    pub env: &'a str,
    pub file_flag: &'a str,
    /// Ask twice at the prompt (a typo in a new token would be written into every rule).
    pub confirm: bool,
}

pub fn read_token(source: TokenSource, ui: &Ui) -> CommandResult<Token> {
    if let Some(path) = source.file {
        // `-` typed at a terminal: read there, the token would show as it is typed.
        if path == Path::new("-") && ui.can_prompt() {
            return prompt(source, ui);
        }
        return from_file(path, source);
    }
    if let Ok(value) = std::env::var(source.env) {
        return clean(value, source.what, &format!("${}", source.env));
    }
    if ui.can_prompt() {
        return prompt(source, ui);
    }
    Err(
        CommandError::usage(format!("no {} was given", source.what)).hint(format!(
            "set {} (for scripts and CI), pass {} PATH (or - for stdin), or run on a terminal \
         to be asked",
            source.env, source.file_flag
        )),
    )
}

/// A token file is a regular file of at most [`files::TOKEN_FILE_CAP`] bytes: a FIFO or a
/// device would block or stream forever (`-` is the way to pipe a token in).
///
/// Messages name the flag, never the path: a token pasted where its file belongs would be
/// printed back, and CI logs keep it.
fn from_file(path: &Path, source: TokenSource) -> CommandResult<Token> {
    let what = source.what;
    let (text, origin) = if path == Path::new("-") {
        let mut text = read_stdin(what)?;
        (std::mem::take(&mut *text), "stdin".to_string())
    } else {
        let origin = format!("the file given with {}", source.file_flag);
        let text =
            files::read_text_capped(path, files::TOKEN_FILE_CAP, Links::Follow).map_err(|e| {
                let msg = format!("cannot read the {what} from {origin}");
                let shapes = "give a plain file holding only the token, readable by you (or \
                    pass - to read it from stdin)";
                CommandError::input_file(msg, without_path(e, path), shapes)
            })?;
        (text, origin)
    };
    clean(text, what, &origin)
}

/// `e` without the path it names: [`files`] starts its own messages with the path, and the
/// system's (`No such file or directory`) name none.
pub fn without_path(e: std::io::Error, path: &Path) -> std::io::Error {
    let text = e.to_string();
    match text.strip_prefix(path.display().to_string().as_str()) {
        Some(rest) if !path.as_os_str().is_empty() => {
            std::io::Error::new(e.kind(), format!("the file{rest}"))
        }
        _ => e,
    }
}

/// A secret piped in on stdin, at most [`files::TOKEN_FILE_CAP`] bytes, read into one
/// buffer that never grows (a reallocation would leave an unzeroed copy behind). A
/// terminal is refused: typed there, with its echo on, the secret would show.
pub fn read_stdin(what: &str) -> CommandResult<Zeroizing<String>> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        return Err(CommandError::usage(format!(
            "stdin is a terminal: a {what} typed there would show on the screen"
        ))
        .hint(
            "pipe or redirect it in (`< token.txt`), or run with stdin and stderr both on the \
             terminal to be asked for it hidden",
        ));
    }
    let cap = files::TOKEN_FILE_CAP as usize;
    let mut bytes = Zeroizing::new(Vec::with_capacity(cap + 2));
    stdin.take(cap as u64 + 1).read_to_end(&mut bytes)?;
    if bytes.len() > cap {
        return Err(CommandError::usage(format!(
            "the {what} on stdin is larger than {} KiB; no token is that long",
            cap / 1024
        ))
        .hint("pipe in only the token"));
    }
    match String::from_utf8(std::mem::take(&mut *bytes)) {
        Ok(text) => Ok(Zeroizing::new(text)),
        Err(e) => {
            drop(Zeroizing::new(e.into_bytes()));
            Err(CommandError::usage(format!(
                "the {what} on stdin is not UTF-8 text"
            )))
        }
    }
}

/// A token is one word: trailing newlines are trimmed, anything else is refused, since a
/// stray space written into every rule would break every integration.
fn clean(text: String, what: &str, origin: &str) -> CommandResult<Token> {
    let token = Token::new(text.trim());
    drop(Zeroizing::new(text));
    if token.is_empty() {
        return Err(
            CommandError::usage(format!("the {what} from {origin} is empty")).hint(
                "give the whole token, on one line (Atlassian shows it once, when it is created)",
            ),
        );
    }
    if token.expose().chars().any(char::is_whitespace) {
        return Err(CommandError::usage(format!(
            "the {what} from {origin} contains spaces or line breaks"
        ))
        .hint("give only the token, on one line, with nothing around it"));
    }
    Ok(token)
}

fn prompt(source: TokenSource, ui: &Ui) -> CommandResult<Token> {
    let ask = format!("Paste the {}", source.what);
    let again = format!("Paste the {} again", source.what);
    let confirm = source
        .confirm
        .then_some((again.as_str(), "The two entries differ; try again"));
    let mut text = ui
        .ask_secret(&ask, confirm)
        .map_err(|e| prompt_failed(e, source.what))?;
    // Moved, not copied: `clean` zeroes what it is given.
    clean(std::mem::take(&mut *text), source.what, "the prompt")
}

/// A hidden prompt that gave no token: Ctrl-C (exit 1, said as such) or the terminal.
pub fn prompt_failed(e: std::io::Error, what: &str) -> CommandError {
    if e.kind() == std::io::ErrorKind::Interrupted {
        return CommandError::failure(format!("interrupted: no {what} was read"))
            .hint("nothing was done; run the command again to be asked again");
    }
    CommandError::failure(format!("could not read the {what}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_trimmed_and_must_be_one_word() {
        assert_eq!(clean("abc\n".into(), "t", "x").unwrap().expose(), "abc");
        assert!(clean("  \n".into(), "t", "x").is_err());
        let err = clean("ab c".into(), "t", "x").unwrap_err();
        assert!(
            !err.render().contains("ab c"),
            "the value must not be echoed"
        );
        // A token typed at the prompt or set in the environment came from no file.
        for text in ["ab c", " "] {
            let err = clean(text.into(), "t", "the prompt").unwrap_err().render();
            assert!(!err.contains("file"), "{err}");
        }
    }

    fn source(what: &str) -> TokenSource<'_> {
        TokenSource {
            what,
            file: None,
            env: NEW_TOKEN_ENV,
            file_flag: "--new-token-file",
            confirm: false,
        }
    }

    #[test]
    fn a_token_given_as_the_path_is_never_printed_back() {
        let dir = tempfile::tempdir().unwrap();
        let pasted = format!("ATATT3xFAKE{}", uuid::Uuid::new_v4().simple());
        let fifo = dir.path().join(&pasted);
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        for path in [Path::new(&pasted), fifo.as_path()] {
            let err = from_file(path, source("new token")).unwrap_err().render();
            assert!(!err.contains(&pasted[6..]), "{err}");
            assert!(err.contains("--new-token-file"), "{err}");
        }
    }

    #[test]
    fn reads_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tok");
        std::fs::write(&path, "FAKE-file-token\n").unwrap();
        assert_eq!(
            from_file(&path, source("t")).unwrap().expose(),
            "FAKE-file-token"
        );
        let missing = from_file(&dir.path().join("nope"), source("new token")).unwrap_err();
        assert!(missing.render().contains("cannot read the new token"));
    }

    #[test]
    fn a_fifo_a_device_or_a_huge_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let err = from_file(&fifo, source("new token")).unwrap_err().render();
        assert!(err.contains("FIFO") && err.contains("Hint:"), "{err}");
        let err = from_file(Path::new("/dev/zero"), source("new token")).unwrap_err();
        assert!(err.render().contains("device"));
        let big = dir.path().join("big");
        std::fs::write(&big, vec![b'a'; files::TOKEN_FILE_CAP as usize + 1]).unwrap();
        assert!(from_file(&big, source("new token"))
            .unwrap_err()
            .render()
            .contains("larger than"));
    }
}
