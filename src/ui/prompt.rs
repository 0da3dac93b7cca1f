//! Reading one line from the person at the terminal, shown as typed or hidden.
//!
//! Ctrl-C at a prompt is an answer, "interrupted", that the command reports like any other
//! stop (exit 1, the rules left listed), never a signal that kills the process half-way
//! through a run. So the terminal is put in non-canonical mode with echo and signals off
//! for the whole line, and read byte by byte: Ctrl-C arrives as the byte 0x03 and comes
//! back as an [`io::ErrorKind::Interrupted`] error.
//!
//! Why not dialoguer, which the prompts used before (checked in dialoguer 0.12 and
//! console 0.16):
//! - its `Input` reads key by key through `console`, which on Ctrl-C *raises SIGINT at its
//!   own process* and only then returns `Interrupted`: with SIGINT at its default the
//!   process dies there (no summary, killed by a signal); with rotate's Ctrl-C handler
//!   installed the error came back and was taken for "quit";
//! - its `Password` reads the line in the terminal's cooked mode, where Ctrl-C is a real
//!   SIGINT and std restarts the interrupted read: the process dies with the terminal's
//!   echo left off, or, with a handler installed, the key does nothing;
//! - it reads a secret into a plain `String` that is never zeroed.
//!
//! uv made the same choice for the same reasons (its `uv-console` crate: "a slimmed-down
//! version of dialoguer"). Holding one mode for the whole line also means no byte of a
//! pasted token can arrive while echo is on (a reader that switches modes key by key leaves
//! a gap between keys).
//! The terminal's settings are put back when the line ends, however it ends, and before
//! the process dies of a signal at the prompt; a process continued after a stop takes
//! the prompt's settings back (see `terminal`).

use std::io::{self, Write};

use zeroize::Zeroizing;

/// What one byte did to the line being typed.
#[derive(Debug, PartialEq, Eq)]
enum Edit {
    Typed,
    /// This many characters were erased (Backspace, Ctrl-U).
    Erased(usize),
    Ignored,
    Enter,
    CtrlC,
    /// Ctrl-D on an empty line: nobody will type more.
    CtrlD,
}

/// Where an escape sequence (a key that is not a character) is, byte by byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Escape {
    None,
    /// After ESC.
    Start,
    /// After `ESC [`: parameters until a final byte (`A` for an arrow, `~` for Delete or
    /// the bracketed-paste markers `ESC[200~` and `ESC[201~`).
    Csi,
    /// After `ESC O` (F1-F4, arrows in application mode): one more byte.
    Ss3,
}

/// One line being typed. Its buffer is allocated once, [`MAX_LINE`] bytes, and never
/// grows: a growing buffer would leave the old copy of a secret in freed memory, unzeroed.
struct Line {
    bytes: Zeroizing<Vec<u8>>,
    escape: Escape,
    /// More than [`MAX_LINE`] bytes were typed: the rest was dropped, and the line is refused.
    too_long: bool,
}

/// The longest line a prompt takes, in bytes. An Atlassian API token is under 200
/// characters; a line longer than a terminal's own line limit is no token at all.
const MAX_LINE: usize = 4096;

impl Line {
    fn new() -> Line {
        Line {
            bytes: Zeroizing::new(Vec::with_capacity(MAX_LINE)),
            escape: Escape::None,
            too_long: false,
        }
    }

    /// The line editing a prompt offers: typing, Backspace, Ctrl-U; Enter ends the line.
    /// A key's escape sequence (an arrow, Delete, a bracketed paste's markers) is dropped
    /// whole, and so are other control bytes: none of them belongs in an answer or a token.
    fn edit(&mut self, byte: u8) -> Edit {
        // The Esc key alone, then a key: the key counts, so a token pasted after a stray
        // Esc stays whole.
        if self.escape == Escape::Start && !matches!(byte, b'[' | b'O') {
            self.escape = Escape::None;
        }
        let line = &mut self.bytes;
        match byte {
            b'\r' | b'\n' => Edit::Enter,
            0x03 => Edit::CtrlC,
            0x04 if line.is_empty() => Edit::CtrlD,
            0x1b => {
                self.escape = Escape::Start;
                Edit::Ignored
            }
            0x7f | 0x08 => {
                if line.is_empty() {
                    return Edit::Erased(0);
                }
                // One character, not one byte: drop UTF-8 continuation bytes, then the lead.
                while line.pop().is_some_and(|b| b & 0xC0 == 0x80) {}
                Edit::Erased(1)
            }
            0x15 => {
                let chars = line.iter().filter(|b| *b & 0xC0 != 0x80).count();
                line.clear();
                Edit::Erased(chars)
            }
            byte if byte < 0x20 => Edit::Ignored,
            byte if self.escape != Escape::None => {
                self.escape = match (self.escape, byte) {
                    (Escape::Start, b'[') => Escape::Csi,
                    (Escape::Start, b'O') => Escape::Ss3,
                    (Escape::Csi, 0x20..=0x3f) => Escape::Csi,
                    _ => Escape::None,
                };
                Edit::Ignored
            }
            _ if line.len() >= MAX_LINE => {
                self.too_long = true;
                Edit::Ignored
            }
            byte => {
                line.push(byte);
                Edit::Typed
            }
        }
    }
}

/// Writes `prompt` on stderr and reads a line on the terminal (stdin), echoing what is
/// typed only when `shown`. The caller has checked that both are terminals.
pub(super) fn read_line(prompt: &str, shown: bool) -> io::Result<Zeroizing<String>> {
    let raw = terminal::Raw::enter()?;
    let mut err = io::stderr().lock();
    write!(err, "{prompt}: ")?;
    err.flush()?;
    let mut line = Line::new();
    let end = loop {
        let byte = raw.read_byte()?;
        match line.edit(byte) {
            Edit::Typed if shown => err.write_all(&[byte])?,
            Edit::Erased(n) if shown => err.write_all("\x08 \x08".repeat(n).as_bytes())?,
            Edit::Typed | Edit::Erased(_) | Edit::Ignored => continue,
            Edit::Enter => break Ok(()),
            Edit::CtrlC => break Err(io::Error::from(io::ErrorKind::Interrupted)),
            Edit::CtrlD => break Err(io::Error::from(io::ErrorKind::UnexpectedEof)),
        }
        err.flush()?;
    };
    drop(raw);
    // Echo was off: the Enter (or Ctrl-C) was not shown, so the next line would start here.
    writeln!(err)?;
    end?;
    if line.too_long {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("the line typed is longer than {MAX_LINE} bytes; nothing was kept"),
        ));
    }
    match String::from_utf8(std::mem::take(&mut *line.bytes)) {
        Ok(text) => Ok(Zeroizing::new(text)),
        Err(e) => {
            drop(Zeroizing::new(e.into_bytes()));
            Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "what was typed is not UTF-8 text",
            ))
        }
    }
}

#[cfg(unix)]
pub(super) mod terminal {
    //! Signals that arrive while a prompt holds the terminal are handled too, since the
    //! terminal is shared with the shell: killed (SIGTERM, SIGHUP, SIGQUIT), the process
    //! puts the settings back before it dies of the signal, so echo is not left off;
    //! continued after a stop (`kill -STOP`, then `fg`), when the shell has put its own
    //! cooked, echoing settings back, it takes the prompt's again, so what is typed next
    //! is still hidden. A signal that already has a handler is left to it. SIGINT is left
    //! alone: the Ctrl-C key arrives as a byte, and the runtime's Ctrl-C watcher may take
    //! SIGINT at any moment, keeping (and calling) whatever handler it found, so ours
    //! would outlive the prompt. For the same reason a handler called when no prompt
    //! holds the terminal does nothing.

    use std::cell::UnsafeCell;
    use std::io;
    use std::mem::MaybeUninit;
    use std::sync::atomic::{AtomicU8, Ordering};

    /// The terminal on stdin in non-canonical mode, without echo or signals, until dropped.
    pub struct Raw {
        saved: libc::termios,
        /// The signals whose handler is ours while the prompt is up.
        guarded: Vec<libc::c_int>,
    }

    const STDIN: libc::c_int = 0;

    /// Ends the process: the terminal is put back first.
    const ENDING: [libc::c_int; 3] = [libc::SIGTERM, libc::SIGHUP, libc::SIGQUIT];

    /// No prompt holds the terminal: the handlers do nothing to it.
    const IDLE: u8 = 0;
    /// Entering or leaving: an ending signal puts the saved settings back; SIGCONT does
    /// nothing (the prompt's settings are being set, or are being taken away).
    const MOVING: u8 = 1;
    /// A prompt holds the terminal: SIGCONT puts the prompt's settings back.
    const HELD: u8 = 2;

    /// What the handlers read: plain statics, since a handler can take no lock. The
    /// settings are written only while the state is [`IDLE`].
    struct Modes {
        state: AtomicU8,
        saved: UnsafeCell<MaybeUninit<libc::termios>>,
        raw: UnsafeCell<MaybeUninit<libc::termios>>,
    }

    // SAFETY: `saved` and `raw` are written only while `state` is IDLE, and read only
    // while it is not (see `Raw::enter` and `Drop`); prompts are asked one at a time.
    unsafe impl Sync for Modes {}

    static MODES: Modes = Modes {
        state: AtomicU8::new(IDLE),
        saved: UnsafeCell::new(MaybeUninit::uninit()),
        raw: UnsafeCell::new(MaybeUninit::uninit()),
    };

    extern "C" fn on_signal(signal: libc::c_int) {
        let state = MODES.state.load(Ordering::SeqCst);
        if state == IDLE {
            return;
        }
        // SAFETY: only async-signal-safe calls (tcsetattr, signal, raise) on settings
        // written before the state left IDLE; errno is kept for the code interrupted.
        keeping_errno(|| unsafe {
            if signal == libc::SIGCONT {
                if state == HELD {
                    libc::tcsetattr(STDIN, libc::TCSANOW, (*MODES.raw.get()).as_ptr());
                }
                return;
            }
            libc::tcsetattr(STDIN, libc::TCSANOW, (*MODES.saved.get()).as_ptr());
            // Die of the signal, as without this handler: it is delivered again once
            // the handler returns, now with the default action.
            libc::signal(signal, libc::SIG_DFL);
            libc::raise(signal);
        });
    }

    fn keeping_errno(f: impl FnOnce()) {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        // SAFETY: the calling thread's errno, a live thread-local.
        let errno = unsafe { libc::__errno_location() };
        #[cfg(any(target_os = "macos", target_os = "ios", target_os = "freebsd"))]
        // SAFETY: as above.
        let errno = unsafe { libc::__error() };
        #[cfg(any(
            target_os = "linux",
            target_os = "android",
            target_os = "macos",
            target_os = "ios",
            target_os = "freebsd"
        ))]
        {
            // SAFETY: `errno` points at the calling thread's errno.
            let kept = unsafe { *errno };
            f();
            unsafe { *errno = kept };
        }
        #[cfg(not(any(
            target_os = "linux",
            target_os = "android",
            target_os = "macos",
            target_os = "ios",
            target_os = "freebsd"
        )))]
        f();
    }

    /// Our handler for `signal`, when it has none but the default; whether it was set.
    fn guard(signal: libc::c_int) -> bool {
        // SAFETY: sigaction structs are plain data; the calls are checked.
        unsafe {
            let mut old: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(signal, std::ptr::null(), &mut old) != 0
                || old.sa_sigaction != libc::SIG_DFL
            {
                return false;
            }
            let mut ours: libc::sigaction = std::mem::zeroed();
            ours.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
            // A read interrupted by SIGCONT goes on: the handler has set the terminal.
            ours.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut ours.sa_mask);
            libc::sigaction(signal, &ours, std::ptr::null_mut()) == 0
        }
    }

    /// The default action back for `signal`, unless someone else has set a handler since.
    fn unguard(signal: libc::c_int) {
        // SAFETY: as in `guard`.
        unsafe {
            let mut now: libc::sigaction = std::mem::zeroed();
            let ours = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
            if libc::sigaction(signal, std::ptr::null(), &mut now) == 0 && now.sa_sigaction == ours
            {
                libc::signal(signal, libc::SIG_DFL);
            }
        }
    }

    impl Raw {
        pub fn enter() -> io::Result<Raw> {
            // SAFETY: termios is plain data; tcgetattr fills it in or fails (checked).
            let mut saved: libc::termios = unsafe { std::mem::zeroed() };
            if unsafe { libc::tcgetattr(STDIN, &mut saved) } != 0 {
                return Err(io::Error::last_os_error());
            }
            let mut raw = saved;
            raw.c_lflag &= !(libc::ECHO | libc::ICANON | libc::ISIG | libc::IEXTEN);
            raw.c_cc[libc::VMIN] = 1;
            raw.c_cc[libc::VTIME] = 0;
            // SAFETY: the state is IDLE (prompts are asked one at a time): no handler
            // reads these now.
            unsafe {
                (*MODES.saved.get()).write(saved);
                (*MODES.raw.get()).write(raw);
            }
            MODES.state.store(MOVING, Ordering::SeqCst);
            let guarded: Vec<libc::c_int> = ENDING
                .into_iter()
                .chain([libc::SIGCONT])
                .filter(|signal| guard(*signal))
                .collect();
            let held = Raw { saved, guarded };
            // TCSANOW, not TCSAFLUSH: an answer typed before the question appeared counts.
            // SAFETY: a valid termios, on a descriptor that stays open.
            if unsafe { libc::tcsetattr(STDIN, libc::TCSANOW, &raw) } != 0 {
                return Err(io::Error::last_os_error());
            }
            MODES.state.store(HELD, Ordering::SeqCst);
            Ok(held)
        }

        /// One byte, unbuffered: whatever follows the line stays for the next reader.
        pub fn read_byte(&self) -> io::Result<u8> {
            let mut byte = 0u8;
            loop {
                // SAFETY: reads at most one byte into a live, writable byte.
                let n = unsafe { libc::read(STDIN, (&mut byte as *mut u8).cast(), 1) };
                match n {
                    1 => return Ok(byte),
                    0 => return Err(io::ErrorKind::UnexpectedEof.into()),
                    _ => {
                        let e = io::Error::last_os_error();
                        // A signal (a resized window) is not an answer.
                        if e.kind() != io::ErrorKind::Interrupted {
                            return Err(e);
                        }
                    }
                }
            }
        }
    }

    /// Put back the settings a prompt replaced, if one holds the terminal: for a process
    /// about to exit from another thread (a Ctrl-C sent with `kill` while a prompt is up).
    pub fn put_back() {
        if MODES.state.load(Ordering::SeqCst) != IDLE {
            // SAFETY: the state is not IDLE, so `saved` was written (see `Raw::enter`).
            unsafe { libc::tcsetattr(STDIN, libc::TCSANOW, (*MODES.saved.get()).as_ptr()) };
        }
    }

    impl Drop for Raw {
        fn drop(&mut self) {
            MODES.state.store(MOVING, Ordering::SeqCst);
            // SAFETY: puts back the settings read in `enter`.
            unsafe { libc::tcsetattr(STDIN, libc::TCSANOW, &self.saved) };
            for signal in &self.guarded {
                unguard(*signal);
            }
            MODES.state.store(IDLE, Ordering::SeqCst);
        }
    }

    #[cfg(test)]
    mod tests {
        /// Called by a handler installed over ours that keeps calling it (as the runtime's
        /// Ctrl-C watcher does) once no prompt is up: it must not end the process (if it
        /// did, this test binary would die of SIGTERM).
        #[test]
        fn a_handler_called_with_no_prompt_up_does_nothing() {
            super::on_signal(libc::SIGTERM);
            super::on_signal(libc::SIGCONT);
        }
    }
}

/// Elsewhere console reads raw keys, Ctrl-C included (as a key, since `read_key_raw` does
/// not raise a signal); they are turned back into the bytes [`Line::edit`] understands.
#[cfg(not(unix))]
pub(super) mod terminal {
    use std::cell::RefCell;
    use std::collections::VecDeque;
    use std::io;

    use console::{Key, Term};

    /// Console puts its own modes back: nothing to do.
    pub fn put_back() {}

    pub struct Raw {
        term: Term,
        pending: RefCell<VecDeque<u8>>,
    }

    impl Raw {
        pub fn enter() -> io::Result<Raw> {
            Ok(Raw {
                term: Term::stderr(),
                pending: RefCell::new(VecDeque::new()),
            })
        }

        pub fn read_byte(&self) -> io::Result<u8> {
            loop {
                if let Some(byte) = self.pending.borrow_mut().pop_front() {
                    return Ok(byte);
                }
                let byte = match self.term.read_key_raw()? {
                    Key::Enter => b'\n',
                    Key::CtrlC => 0x03,
                    Key::Backspace => 0x7f,
                    Key::Char(c) => {
                        let mut buf = [0u8; 4];
                        let mut pending = self.pending.borrow_mut();
                        pending.extend(c.encode_utf8(&mut buf).as_bytes());
                        continue;
                    }
                    _ => continue,
                };
                return Ok(byte);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn typed(bytes: &[u8]) -> (Vec<u8>, Vec<Edit>) {
        let mut line = Line::new();
        let edits = bytes.iter().map(|b| line.edit(*b)).collect();
        (line.bytes.to_vec(), edits)
    }

    #[test]
    fn a_line_is_typed_corrected_and_ended() {
        let (line, edits) = typed(b"yx\x7fes\r");
        assert_eq!(line, b"yes");
        assert_eq!(edits[2], Edit::Erased(1));
        assert_eq!(edits.last(), Some(&Edit::Enter));
        let (line, _) = typed("aé\x7f\x7fb".as_bytes());
        assert_eq!(line, b"b", "Backspace erases a whole character");
        let (line, edits) = typed("ab·\x15c".as_bytes());
        assert_eq!((line, &edits[4]), (b"c".to_vec(), &Edit::Erased(3)));
        assert_eq!(typed(b"\x7f").1, [Edit::Erased(0)]);
    }

    /// A key's escape sequence is dropped whole: an arrow key pressed in the hidden prompt,
    /// or the markers a terminal in bracketed-paste mode wraps a paste in, must not become
    /// part of the token written into every rule.
    #[test]
    fn escape_sequences_are_dropped_whole() {
        assert_eq!(typed(b"\x1b[Aq").0, b"q", "an arrow key");
        assert_eq!(typed(b"a\x1bOPb").0, b"ab", "F1 (SS3)");
        assert_eq!(typed(b"a\x1b[3~b").0, b"ab", "Delete");
        assert_eq!(typed(b"a\x1b[1;5Cb").0, b"ab", "Ctrl-Right");
        let (line, edits) = typed(b"\x1b[200~FAKE-tok\x1b[201~\r");
        assert_eq!(line, b"FAKE-tok", "bracketed-paste markers");
        assert_eq!(edits.last(), Some(&Edit::Enter));
        assert_eq!(typed(b"\x1bFAKE").0, b"FAKE", "a stray Esc before a paste");
        let (line, edits) = typed(b"ab\x1b\r");
        assert_eq!(
            (line.as_slice(), edits.last()),
            (&b"ab"[..], Some(&Edit::Enter))
        );
    }

    /// The buffer never grows (a reallocation would leave an unzeroed copy of the secret
    /// behind): past [`MAX_LINE`] bytes the rest is dropped and the line is refused, but
    /// still read to its end, so no part of a long paste is left for the shell to run.
    #[test]
    fn a_line_too_long_is_refused_without_ever_growing_the_buffer() {
        let mut line = Line::new();
        let start = (line.bytes.as_ptr(), line.bytes.capacity());
        for _ in 0..MAX_LINE {
            assert_eq!(line.edit(b'a'), Edit::Typed);
        }
        assert!(!line.too_long, "{MAX_LINE} bytes fit");
        assert_eq!(line.edit(b'b'), Edit::Ignored);
        assert_eq!(line.edit(b'\r'), Edit::Enter);
        assert!(line.too_long);
        assert_eq!((line.bytes.as_ptr(), line.bytes.capacity()), start);
        assert_eq!(line.bytes.len(), MAX_LINE);
    }

    #[test]
    fn ctrl_c_interrupts_and_ctrl_d_ends_input_only_on_an_empty_line() {
        assert_eq!(typed(b"ab\x03").1[2], Edit::CtrlC);
        assert_eq!(typed(b"\x04").1, [Edit::CtrlD]);
        assert_eq!(typed(b"a\x04").1[1], Edit::Ignored);
    }
}
