//! One exclusive lock per target in the cache (a file or folder being fetched, converted or
//! created), so that processes started together fetch each thing once: the first takes the
//! lock and does the work, the others wait for it and then find the work done.
//!
//! The lock is the operating system's (`flock` on Unix, `LockFileEx` on Windows, through
//! `std::fs::File::lock`), on a lock file beside the target, `.<name>.lock`. The system
//! releases it when its holder exits, however it exits: a process killed with SIGKILL never
//! blocks the next one. Lock files are left in place: removing one while another process waits
//! on it would let a third lock a new file of the same name. This file must not know what is
//! being fetched.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};

use crate::FetchError;

/// An exclusive lock on one target of the cache, held until dropped.
#[derive(Debug)]
#[must_use = "the lock is released when this value is dropped"]
pub struct CacheLock {
    // Held for its lock; closing it releases the lock.
    _file: File,
    path: PathBuf,
}

impl CacheLock {
    /// Locks `target` (which need not exist yet), waiting while another process or thread
    /// holds it; `on_wait` is called once, with the lock file's path, before waiting.
    ///
    /// ```no_run
    /// let dir = std::path::Path::new("models/all-MiniLM-L6-v2");
    /// let _lock = embed_fetch::CacheLock::acquire(dir, |lock| eprintln!("waiting for {}", lock.display()))?;
    /// // ... write into `dir`; the lock is released at the end of the scope.
    /// # Ok::<(), embed_fetch::FetchError>(())
    /// ```
    pub fn acquire(target: &Path, on_wait: impl FnOnce(&Path)) -> Result<Self, FetchError> {
        let path = lock_path(target);
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(FetchError::io("create", parent))?;
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(FetchError::io("open the lock file", &path))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                on_wait(&path);
                file.lock().map_err(FetchError::io("lock", &path))?;
            }
            Err(TryLockError::Error(source)) => return Err(FetchError::Io { action: "lock", path, source }),
        }
        Ok(Self { _file: file, path })
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// The lock file of `target`: `.<name>.lock` in the same folder.
pub fn lock_path(target: &Path) -> PathBuf {
    let mut name = std::ffi::OsString::from(".");
    name.push(target.file_name().unwrap_or(target.as_os_str()));
    name.push(".lock");
    target.with_file_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lock_file_sits_beside_its_target() {
        assert_eq!(
            lock_path(Path::new("cache/libs/onnxruntime-1.31.1")),
            Path::new("cache/libs/.onnxruntime-1.31.1.lock")
        );
        assert_eq!(lock_path(Path::new("m.onnx")), Path::new(".m.onnx.lock"));
    }

    #[test]
    fn a_second_holder_waits_until_the_first_releases() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("model");
        let first = CacheLock::acquire(&target, |_| panic!("nobody holds it yet")).unwrap();
        let (waiting_tx, waiting_rx) = std::sync::mpsc::channel();
        let (locked_tx, locked_rx) = std::sync::mpsc::channel();
        let second = {
            let target = target.clone();
            std::thread::spawn(move || {
                let lock = CacheLock::acquire(&target, |path| waiting_tx.send(path.to_path_buf()).unwrap()).unwrap();
                locked_tx.send(()).unwrap();
                drop(lock);
            })
        };
        // The second holder says it waits, and does not get the lock while the first has it.
        assert_eq!(waiting_rx.recv().unwrap(), first.path());
        assert!(locked_rx.try_recv().is_err());
        drop(first);
        locked_rx.recv().unwrap();
        second.join().unwrap();
        assert!(first_holder_released(&target));
    }

    fn first_holder_released(target: &Path) -> bool {
        CacheLock::acquire(target, |_| panic!("every holder released it")).is_ok()
    }
}
