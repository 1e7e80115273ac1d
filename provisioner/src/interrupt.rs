//! Ctrl-C and SIGTERM: what a command started on disk is removed, the user
//! is told what was interrupted, and the process exits 130 (128 + SIGINT,
//! as shells and cargo do).
//!
//! A command registers what to remove with [`remove_on_interrupt`]; the
//! guard it gets back unregisters it once the work is kept. Steps that
//! must not be cut in two (the renames that publish a synth output) run in
//! [`uninterrupted`]: a signal arriving then is handled after them.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Once, OnceLock};

/// The folders to remove, each with what it was for.
static REGISTERED: Mutex<Vec<(PathBuf, String)>> = Mutex::new(Vec::new());
static WATCH: Once = Once::new();
/// Set by the signal handler itself, the moment a signal arrives: the
/// watcher thread may act on it only later.
static INTERRUPTED: OnceLock<Arc<AtomicBool>> = OnceLock::new();

/// The exit code of an interrupted command.
pub const EXIT_CODE: i32 = 130;

/// Removes `folder` (made by this process) if the process is interrupted
/// before the guard is dropped; `what` names the work, as in "synth of
/// stage dev into target/synth".
#[must_use = "the folder is removed on interrupt only while the guard lives"]
pub fn remove_on_interrupt(folder: &Path, what: &str) -> Registered {
    watch();
    lock().push((folder.to_path_buf(), what.to_owned()));
    Registered {
        folder: folder.to_path_buf(),
    }
}

/// A folder registered with [`remove_on_interrupt`].
#[derive(Debug)]
pub struct Registered {
    folder: PathBuf,
}

impl Drop for Registered {
    /// After an interrupt, the work is the watcher's to finish: a Ctrl-C
    /// also stops the command's children (cargo-lambda), and the command,
    /// seeing them fail, would otherwise unregister its folder and report
    /// their failure before the watcher reads the signal.
    fn drop(&mut self) {
        if interrupted() {
            loop {
                std::thread::park();
            }
        }
        lock().retain(|(folder, _)| *folder != self.folder);
    }
}

fn interrupted() -> bool {
    INTERRUPTED
        .get()
        .is_some_and(|flag| flag.load(Ordering::SeqCst))
}

/// Runs `step` with interrupts held until it ends. `step` must not
/// register or drop a [`Registered`].
pub fn uninterrupted<T>(step: impl FnOnce() -> T) -> T {
    let _held = lock();
    step()
}

fn lock() -> MutexGuard<'static, Vec<(PathBuf, String)>> {
    REGISTERED.lock().unwrap_or_else(|e| e.into_inner())
}

/// Installs, once, the handlers of SIGINT and SIGTERM (before it
/// returns: a signal before that ends the process as usual), and starts
/// the thread that acts on them. signal-hook installs them in
/// microseconds; the tokio runtime this used to start for it kept
/// `synth` waiting ~5 ms.
fn watch() {
    WATCH.call_once(|| {
        use signal_hook::consts::{SIGINT, SIGTERM};
        let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM]) else {
            return;
        };
        // Only beside the watcher: a flag alone would stop the signal
        // from ending the process.
        let flag = INTERRUPTED.get_or_init(Arc::default);
        for signal in [SIGINT, SIGTERM] {
            let _ = signal_hook::flag::register(signal, Arc::clone(flag));
        }
        std::thread::spawn(move || {
            if let Some(signal) = signals.forever().next() {
                clean_up_and_exit(if signal == SIGINT {
                    "Ctrl-C"
                } else {
                    "SIGTERM"
                });
            }
        });
    });
}

/// Removes what is registered, says so, and exits 130. The lock is kept
/// to the end, so no step starts after the cleanup.
fn clean_up_and_exit(how: &str) -> ! {
    let registered = lock();
    for (folder, what) in registered.iter() {
        let removed = match std::fs::remove_dir_all(folder) {
            Ok(()) => format!("removed {}", folder.display()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => "nothing left".to_owned(),
            Err(e) => format!("could not remove {}: {e}", folder.display()),
        };
        eprintln!("error: {what} interrupted ({how}): {removed}; nothing else was changed");
    }
    if registered.is_empty() {
        eprintln!("error: interrupted ({how})");
    }
    std::process::exit(EXIT_CODE);
}
