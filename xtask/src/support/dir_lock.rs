//! An exclusive lock on a directory (`flock` on `DIR/.lock`), so that
//! concurrent xtask processes do not do the same slow work into it twice:
//! fetching a Nanos release, making a verifier key. Released when dropped
//! (or when the process dies).

use std::path::Path;

use anyhow::{Context, Result};

pub struct DirLock {
    _held: std::fs::File,
}

impl DirLock {
    /// Waits for the lock on `dir` (created if missing), saying so when
    /// another process holds it; `what` names the work, for that message.
    pub fn take(dir: &Path, what: &str) -> Result<Self> {
        use std::os::fd::AsRawFd;
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join(".lock"))
            .with_context(|| format!("cannot open the lock file in {}", dir.display()))?;
        // SAFETY: flock on a descriptor this struct owns.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            eprintln!("waiting for another {what} in {} to finish", dir.display());
            if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } != 0 {
                return Err(std::io::Error::last_os_error()).with_context(|| format!("cannot lock {}", dir.display()));
            }
        }
        Ok(Self { _held: file })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_waits_for_the_first() {
        let dir = tempfile::tempdir().unwrap();
        let first = DirLock::take(dir.path(), "test").unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let path = dir.path().to_path_buf();
        let waiter = std::thread::spawn(move || {
            let _second = DirLock::take(&path, "test").unwrap();
            tx.send(()).unwrap();
        });
        // Not taken while the first is held (flock locks are per open file).
        assert!(rx.recv_timeout(std::time::Duration::from_millis(300)).is_err());
        drop(first);
        rx.recv_timeout(std::time::Duration::from_secs(30)).expect("taken once the first is dropped");
        waiter.join().unwrap();
    }
}
