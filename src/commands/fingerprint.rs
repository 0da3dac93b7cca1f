//! `autorekey fingerprint`: the fingerprint of a token read on stdin.
//!
//! The inventory shows credentials only as `user · fingerprint`; an admin holding a token
//! (in a password manager, say) pipes it here to learn which rules use it, without the token
//! ever being typed on a command line. A secret shows one of two fingerprints, depending on
//! where the rule sends it (see `detect::fingerprint_kind`), so both are printed, each
//! named.

use crate::error::{CommandError, CommandResult};
use crate::secret::Token;
use crate::ui::Ui;

pub fn run(ui: &Ui) -> CommandResult {
    // Zeroizing: the text is wiped when dropped, right after the token is made of it.
    let text = if ui.can_prompt() {
        let text = ui.ask_secret("Paste the token", None);
        text.map_err(|e| crate::token_input::prompt_failed(e, "token"))?
    } else {
        crate::token_input::read_stdin("token")?
    };
    let token = Token::new(text.trim());
    drop(text);
    if token.is_empty() {
        return Err(CommandError::usage("no token on stdin")
            .hint("pipe it in: `autorekey fingerprint < token.txt`"));
    }
    // Both forms, first word of each line: the plain one stays the first line, so
    // `autorekey fingerprint < token.txt | head -1` is what it always was.
    ui.out(format!(
        "{:<14}  as an Atlassian credential (the same on every machine)",
        token.fingerprint()
    ));
    ui.out(format!(
        "{:<14}  as any other secret (keyed: this machine's key, or the team key given)",
        token.keyed_fingerprint()
    ));
    Ok(())
}
