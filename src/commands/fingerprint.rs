//! `autorekey fingerprint`: the fingerprint of a token read on stdin.
//!
//! The inventory shows credentials only as `user · fingerprint`; an admin holding a token
//! (in a password manager, say) pipes it here to learn which rules use it, without the token
//! ever being typed on a command line.

use std::io::Read;

use crate::error::{CommandError, CommandResult};
use crate::secret::Token;
use crate::ui::Ui;

pub fn run(ui: &Ui) -> CommandResult {
    let text = if ui.can_prompt() {
        dialoguer::Password::new()
            .with_prompt("Paste the token")
            .interact()
            .map_err(|e| CommandError::failure(format!("could not read the token: {e}")))?
    } else {
        let mut text = String::new();
        std::io::stdin().read_to_string(&mut text)?;
        text
    };
    let token = Token::new(text.trim());
    drop(zeroize::Zeroizing::new(text));
    if token.is_empty() {
        return Err(CommandError::usage("no token on stdin")
            .hint("pipe it in: `autorekey fingerprint < token.txt`"));
    }
    ui.out(token.fingerprint().as_str());
    Ok(())
}
