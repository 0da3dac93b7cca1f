//! Process hardening done once, first thing in `main`.
//!
//! The process holds tokens in memory (the admin's, the new one, those found in rules). A
//! crash that writes a core file would put them on disk, readable by whoever can read the
//! dump directory, so core dumps are turned off for the whole process before any secret is
//! read. Secrets themselves are zeroized on drop (see [`crate::secret`]).

/// Sets the core-file size limit (soft and hard) to 0, so no crash of this process writes a
/// core dump. A no-op where there is no such limit.
///
/// On Linux the limit alone is not enough: when `core_pattern` pipes dumps to a program
/// (systemd-coredump, apport), the kernel hands that program the whole memory whatever
/// the limit says. Marking the process not dumpable stops the dump itself (and keeps
/// other processes of the same user from attaching to it and reading its memory).
pub fn disable_core_dumps() -> std::io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: PR_SET_DUMPABLE takes plain integer arguments and changes only this process.
        if unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    #[cfg(unix)]
    {
        let none = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: setrlimit reads a valid, initialised struct and changes only this process.
        if unsafe { libc::setrlimit(libc::RLIMIT_CORE, &none) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn core_dumps_are_off_after_the_call() {
        disable_core_dumps().unwrap();
        let mut limit = libc::rlimit {
            rlim_cur: 1,
            rlim_max: 1,
        };
        // SAFETY: getrlimit writes into a valid struct owned here.
        assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_CORE, &mut limit) }, 0);
        assert_eq!((limit.rlim_cur, limit.rlim_max), (0, 0));
        // A piped core_pattern ignores the limit; a process that is not dumpable has none.
        #[cfg(target_os = "linux")]
        // SAFETY: PR_GET_DUMPABLE takes no pointer and only reads this process's flag.
        assert_eq!(unsafe { libc::prctl(libc::PR_GET_DUMPABLE, 0, 0, 0, 0) }, 0);
    }
}
