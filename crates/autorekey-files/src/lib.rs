//! Local files: how autorekey opens, reads and writes them when the folder may be shared.
//!
//! Everything autorekey reads from disk (rule files, plans, token files, backups, the
//! journal) and everything it writes (backups, plans, the journal, rotated exports) goes
//! through here, so the rules below hold in one place rather than per command:
//!
//! - only regular files are read: a FIFO would block the run forever and a device could
//!   stream without end, so both are refused by type before opening, and the open itself is
//!   non-blocking and checked again after (a FIFO swapped in between cannot hang it);
//! - whole-file reads are capped (a file is never allowed to grow memory without bound);
//! - where a swapped symlink could redirect a read or a write (backups, the journal, plan
//!   and export targets), the last path component is opened with `O_NOFOLLOW`;
//! - files are written whole into a temporary file in the same directory (0600 from the
//!   start) and then moved into place without replacing anything already there, so a crash
//!   never leaves half a file and an attacker's pre-planted file or link is never written
//!   through;
//! - a directory that is to hold secrets must be the user's own and not writable by anyone
//!   else, and so must every directory above it (see [`check_private_dir`]).

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

/// Caps for whole-file reads. A rule is a few hundred KiB at most; the Automation import
/// takes files up to 5 MB; a token is a few hundred bytes.
pub const TOKEN_FILE_CAP: u64 = 64 * 1024;
pub const RULE_FILE_CAP: u64 = 64 * 1024 * 1024;
pub const PLAN_FILE_CAP: u64 = 64 * 1024 * 1024;
pub const SMALL_FILE_CAP: u64 = 16 * 1024 * 1024;
/// A list of site URLs (`--sites-file`): thousands of lines fit in far less.
pub const SITES_FILE_CAP: u64 = 1024 * 1024;
/// A whole UI export held in memory for the offline rotation.
pub const DOCUMENT_FILE_CAP: u64 = 256 * 1024 * 1024;

/// Whether the last component of a path may be a symlink.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Links {
    /// Follow it (a token or rule file the admin named may well be a link).
    Follow,
    /// Refuse it: inside a backup, a link could point a read or write anywhere.
    Refuse,
}

/// Open `path` for reading, only if it is a regular file. FIFOs, sockets and devices are
/// refused with an error naming what the path is.
pub fn open_regular(path: &Path, links: Links) -> io::Result<File> {
    let before = match links {
        Links::Follow => std::fs::metadata(path)?,
        Links::Refuse => std::fs::symlink_metadata(path)?,
    };
    refuse_irregular(path, &before.file_type())?;
    let mut options = OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // Non-blocking: if a FIFO replaced the file since the check, open returns at once
        // (then the check below refuses it). O_NONBLOCK changes nothing for regular files.
        let mut flags = libc::O_NONBLOCK | libc::O_NOCTTY;
        if links == Links::Refuse {
            flags |= libc::O_NOFOLLOW;
        }
        options.custom_flags(flags);
    }
    let file = options.open(path).map_err(|e| link_error(path, e, links))?;
    refuse_irregular(path, &file.metadata()?.file_type())?;
    Ok(file)
}

/// The whole of a regular file, refused beyond `cap` bytes.
pub fn read_capped(path: &Path, cap: u64, links: Links) -> io::Result<Vec<u8>> {
    let file = open_regular(path, links)?;
    let mut bytes = Vec::new();
    file.take(cap + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > cap {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "{} is larger than {} MiB; refusing to read it whole",
                path.display(),
                cap.div_ceil(1024 * 1024)
            ),
        ));
    }
    Ok(bytes)
}

/// [`read_capped`] as UTF-8 text.
pub fn read_text_capped(path: &Path, cap: u64, links: Links) -> io::Result<String> {
    String::from_utf8(read_capped(path, cap, links)?).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{} is not UTF-8 text", path.display()),
        )
    })
}

fn refuse_irregular(path: &Path, kind: &std::fs::FileType) -> io::Result<()> {
    if kind.is_file() {
        return Ok(());
    }
    let what = describe(kind);
    Err(io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("{} is {what}, not a regular file", path.display()),
    ))
}

fn describe(kind: &std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if kind.is_fifo() {
            return "a FIFO (named pipe)";
        }
        if kind.is_socket() {
            return "a socket";
        }
        if kind.is_block_device() || kind.is_char_device() {
            return "a device";
        }
    }
    if kind.is_symlink() {
        "a symbolic link"
    } else if kind.is_dir() {
        "a directory"
    } else {
        "not a plain file"
    }
}

/// `O_NOFOLLOW` on a link fails with ELOOP, which reads as "too many levels of symbolic
/// links": say plainly what was refused.
fn link_error(path: &Path, e: io::Error, links: Links) -> io::Error {
    #[cfg(unix)]
    if links == Links::Refuse && e.raw_os_error() == Some(libc::ELOOP) {
        return io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "{} is a symbolic link; autorekey does not follow links here",
                path.display()
            ),
        );
    }
    let _ = (path, links);
    e
}

/// Create `dir` and any missing parents owner-only (0700). Directories that already exist
/// keep their mode: callers that need a private folder check it (see [`check_private_dir`]).
pub fn create_private_dir_all(dir: &Path) -> io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Write `bytes` to a new file at `path` (0600), atomically: the content appears whole or
/// not at all, and nothing already at `path` (file or link) is replaced.
pub fn write_new(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let temp = filled_temp(path, bytes)?;
    temp.persist_noclobber(path).map_err(|e| {
        if e.error.kind() == io::ErrorKind::AlreadyExists {
            io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{} already exists", path.display()),
            )
        } else {
            e.error
        }
    })?;
    Ok(())
}

/// Replace the file at `path` with `bytes` (0600), atomically: readers see the old or the
/// new content, never a mix. A link at `path` is replaced, not written through.
pub fn replace(path: &Path, bytes: &[u8]) -> io::Result<()> {
    filled_temp(path, bytes)?
        .persist(path)
        .map_err(|e| e.error)?;
    Ok(())
}

fn filled_temp(path: &Path, bytes: &[u8]) -> io::Result<tempfile::NamedTempFile> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut builder = tempfile::Builder::new();
    builder.prefix(".autorekey-").suffix(".tmp");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o600));
    }
    let mut temp = builder.tempfile_in(dir)?;
    temp.write_all(bytes)?;
    temp.as_file().sync_all()?;
    Ok(temp)
}

/// Open `path` for appending (created 0600 if missing), never through a link and only if
/// it is a regular file; an existing file is narrowed to 0600.
pub fn open_append_private(path: &Path) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.create(true).append(true).read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
        options.custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY);
    }
    let file = options
        .open(path)
        .map_err(|e| link_error(path, e, Links::Refuse))?;
    refuse_irregular(path, &file.metadata()?.file_type())?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(file)
}

/// [`open_append_private`] for a file of lines: if it ends inside a line (a process died
/// mid-write), that line is ended first, so the next one never glues onto the torn one.
pub fn open_append_lines(path: &Path) -> io::Result<File> {
    use std::io::Seek;
    let mut file = open_append_private(path)?;
    let len = file.metadata()?.len();
    if len > 0 {
        let mut last = [0u8; 1];
        file.seek(io::SeekFrom::Start(len - 1))?;
        file.read_exact(&mut last)?;
        if last[0] != b'\n' {
            file.write_all(b"\n")?;
        }
    }
    Ok(file)
}

/// Why a directory may not hold secrets.
#[derive(Debug, thiserror::Error)]
#[error("{} {why}", .dir.display())]
pub struct UnsafeDir {
    pub dir: PathBuf,
    pub why: String,
    /// The folder is shared by every user (world-writable and sticky, as `/tmp` is): the
    /// fix is a folder of one's own, not a `chmod` of it.
    pub shared: bool,
}

/// A directory that is to hold secrets (or whose files are to be trusted) must be owned by
/// the user and writable by nobody else; so must each directory above it, up to the user's
/// home, or, outside the home, up to the first root-owned directory nobody else may write.
/// A root-owned world-writable directory with the sticky bit (`/tmp`) may be passed
/// through: others cannot rename or delete what the user owns inside it. Anything else
/// would let another user swap the folder, or a file in it, for one of their own.
pub fn check_private_dir(dir: &Path) -> Result<(), UnsafeDir> {
    let unsafe_dir = |d: &Path, why: &str| UnsafeDir {
        dir: d.to_path_buf(),
        why: why.to_string(),
        shared: false,
    };
    let canonical = dir
        .canonicalize()
        .map_err(|e| unsafe_dir(dir, &format!("cannot be checked: {e}")))?;
    let home = dirs::home_dir().and_then(|h| h.canonicalize().ok());
    for (depth, d) in canonical.ancestors().enumerate() {
        let trust = trust_of(d).map_err(|e| unsafe_dir(d, &format!("cannot be checked: {e}")))?;
        let own = trust == Trust::Private;
        if depth == 0 || home.as_deref() == Some(d) {
            if !own {
                let shared = trust == Trust::StickyShared;
                return Err(UnsafeDir {
                    shared,
                    ..unsafe_dir(d, &trust.why())
                });
            }
            if depth > 0 {
                return Ok(());
            }
            continue;
        }
        match trust {
            Trust::Private | Trust::StickyShared => {}
            Trust::RootOwned => return Ok(()),
            Trust::Foreign | Trust::Writable => return Err(unsafe_dir(d, &trust.why())),
        }
    }
    Ok(())
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Trust {
    /// The user's own, writable by nobody else.
    Private,
    /// Root's, writable by nobody else: nothing above it needs checking.
    RootOwned,
    /// Root's, world-writable with the sticky bit (`/tmp`).
    StickyShared,
    /// Someone else's.
    Foreign,
    /// Writable by the group or by others.
    Writable,
}

impl Trust {
    fn why(self) -> String {
        match self {
            Trust::Foreign | Trust::RootOwned => "is not owned by you".into(),
            Trust::StickyShared => {
                "is a folder every user shares (world-writable with the sticky bit, as /tmp is), \
                 not one of your own"
                    .into()
            }
            Trust::Writable => "is writable by other users (group or others)".into(),
            Trust::Private => "is private".into(),
        }
    }
}

#[cfg(unix)]
fn trust_of(dir: &Path) -> io::Result<Trust> {
    use std::os::unix::fs::MetadataExt;
    let md = std::fs::symlink_metadata(dir)?;
    if !md.is_dir() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "is not a directory",
        ));
    }
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    let writable = md.mode() & 0o022 != 0;
    let sticky = md.mode() & 0o1000 != 0;
    Ok(match (md.uid(), writable) {
        (uid, false) if uid == me => Trust::Private,
        (0, false) => Trust::RootOwned,
        (0, true) if sticky => Trust::StickyShared,
        (uid, true) if uid == me => Trust::Writable,
        (0, true) => Trust::Writable,
        _ => Trust::Foreign,
    })
}

#[cfg(not(unix))]
fn trust_of(_dir: &Path) -> io::Result<Trust> {
    Ok(Trust::Private)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn fifo_in(dir: &Path) -> PathBuf {
        let path = dir.join("pipe");
        let c = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        path
    }

    #[test]
    fn fifos_devices_and_directories_are_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = fifo_in(dir.path());
        for (path, what) in [
            (fifo.as_path(), "FIFO"),
            (Path::new("/dev/zero"), "device"),
            (dir.path(), "directory"),
        ] {
            let err = read_capped(path, 10, Links::Follow).unwrap_err();
            assert!(err.to_string().contains(what), "{err}");
        }
    }

    #[test]
    fn reads_are_capped_and_links_refused_where_asked() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        std::fs::write(&file, "0123456789").unwrap();
        assert_eq!(read_capped(&file, 10, Links::Refuse).unwrap().len(), 10);
        let err = read_capped(&file, 9, Links::Refuse).unwrap_err();
        assert!(err.to_string().contains("larger than"), "{err}");
        let link = dir.path().join("l");
        std::os::unix::fs::symlink(&file, &link).unwrap();
        assert!(read_capped(&link, 10, Links::Follow).is_ok());
        let err = read_capped(&link, 10, Links::Refuse).unwrap_err();
        assert!(err.to_string().contains("symbolic link"), "{err}");
        let err = open_append_private(&link).unwrap_err();
        assert!(err.to_string().contains("symbolic link"), "{err}");
    }

    #[test]
    fn writes_are_private_whole_and_never_clobber() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.json");
        write_new(&path, b"first").unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let err = write_new(&path, b"second").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read(&path).unwrap(), b"first");
        // A planted link is neither followed nor replaced.
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "keep").unwrap();
        let link = dir.path().join("planted");
        std::os::unix::fs::symlink(&victim, &link).unwrap();
        assert!(write_new(&link, b"secret").is_err());
        assert_eq!(std::fs::read(&victim).unwrap(), b"keep");
        replace(&path, b"third").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"third");
        let leftovers = std::fs::read_dir(dir.path())
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .ends_with(".tmp")
            })
            .count();
        assert_eq!(leftovers, 0, "no temporary file is left behind");
    }

    #[test]
    fn a_folder_others_can_write_is_not_private() {
        let root = tempfile::tempdir().unwrap();
        let mine = root.path().join("mine");
        std::fs::create_dir(&mine).unwrap();
        std::fs::set_permissions(&mine, std::fs::Permissions::from_mode(0o700)).unwrap();
        check_private_dir(&mine).unwrap();
        std::fs::set_permissions(&mine, std::fs::Permissions::from_mode(0o770)).unwrap();
        let err = check_private_dir(&mine).unwrap_err();
        assert!(err.to_string().contains("writable by other users"), "{err}");
        // A shared parent is refused too, even when the folder itself is private.
        std::fs::set_permissions(&mine, std::fs::Permissions::from_mode(0o700)).unwrap();
        std::fs::set_permissions(root.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        let err = check_private_dir(&mine).unwrap_err();
        assert_eq!(err.dir, root.path().canonicalize().unwrap());
        // /tmp itself (root's, sticky, world-writable) may be a parent, never the folder.
        assert!(check_private_dir(Path::new("/tmp")).is_err());
    }

    #[test]
    fn a_folder_owned_by_someone_else_is_not_private() {
        let root = tempfile::tempdir().unwrap();
        let theirs = root.path().join("theirs");
        std::fs::create_dir(&theirs).unwrap();
        // Only root can give a folder away; elsewhere this case cannot be set up.
        if std::os::unix::fs::chown(&theirs, Some(54321), None).is_ok() {
            let err = check_private_dir(&theirs).unwrap_err();
            assert!(err.to_string().contains("not owned by you"), "{err}");
        }
    }
}
