//! One build of the functions at a time per target folder. cargo
//! serialises the compile itself, but cargo-lambda then moves each binary
//! to `lambda-assets/bin/<function>/bootstrap`: two builds at once (two
//! `synth`s, or tests side by side) moved each other's binaries away
//! ("error moving the binary ... No such file or directory").

use std::fs::{self, File, TryLockError};
use std::io::Write;
use std::path::Path;

use super::AssetError;

/// An exclusive lock on `<dir>/build.lock`, held until dropped. The
/// operating system releases it when the process ends, however it ends.
#[derive(Debug)]
pub struct BuildLock {
    _file: File,
}

impl BuildLock {
    /// Takes the lock, waiting (and saying so) while another process holds it.
    pub fn acquire(dir: &Path, progress: &mut dyn Write) -> Result<Self, AssetError> {
        let path = dir.join("build.lock");
        let lock_error = |source| AssetError::Lock {
            path: path.clone(),
            source,
        };
        fs::create_dir_all(dir).map_err(lock_error)?;
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(lock_error)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let _ = writeln!(
                    progress,
                    "lambda assets: waiting for another build of the functions ({} is locked)",
                    path.display()
                );
                file.lock().map_err(lock_error)?;
            }
            Err(TryLockError::Error(source)) => return Err(lock_error(source)),
        }
        Ok(Self { _file: file })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_build_waits_until_the_first_releases_the_lock() {
        let dir = tempfile::tempdir().unwrap();
        let first = BuildLock::acquire(dir.path(), &mut Vec::new()).unwrap();
        let (sender, receiver) = std::sync::mpsc::channel();
        let path = dir.path().to_path_buf();
        let second = std::thread::spawn(move || {
            let mut progress = Vec::new();
            let lock = BuildLock::acquire(&path, &mut progress).unwrap();
            sender.send(()).unwrap();
            drop(lock);
            String::from_utf8(progress).unwrap()
        });
        assert!(
            receiver
                .recv_timeout(std::time::Duration::from_millis(300))
                .is_err(),
            "the second build took the lock while the first held it"
        );
        drop(first);
        receiver
            .recv_timeout(std::time::Duration::from_secs(10))
            .expect("the second build never got the lock");
        let progress = second.join().unwrap();
        assert!(progress.contains("waiting for another build"), "{progress}");
    }
}
