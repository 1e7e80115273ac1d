//! fakecloud, the local AWS that runs Lambda code, as a child process:
//! started on a free loopback port with `lambda-host` as its container CLI,
//! stopped by its process id with every function process it started.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// The emulator version the project is tested with (`scripts/install-tools.sh
/// --fakecloud` installs it); its gaps are listed in `stand_ins`.
pub const FAKECLOUD_VERSION: &str = "0.51.0";

/// How long fakecloud may take to answer its health check: it probes the
/// container CLI about 15 times while starting.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug)]
pub struct Fakecloud {
    child: Child,
    /// `http://127.0.0.1:PORT`, the endpoint of every service.
    pub url: String,
    lambda_host: PathBuf,
    /// `lambda-host`'s state: one folder per function process.
    containers: tempfile::TempDir,
    pub log: PathBuf,
}

/// Where the pinned fakecloud is: `FAKECLOUD` when set, else where
/// `scripts/install-tools.sh --fakecloud` puts it under the target folder,
/// else `fakecloud` on the PATH.
pub fn find_fakecloud(target_dir: &Path) -> anyhow::Result<PathBuf> {
    if let Some(path) = std::env::var_os("FAKECLOUD") {
        return Ok(PathBuf::from(path));
    }
    let installed = target_dir
        .join("tools")
        .join(format!("fakecloud-{FAKECLOUD_VERSION}"))
        .join("bin/fakecloud");
    if installed.is_file() {
        return Ok(installed);
    }
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .map(|dir| dir.join("fakecloud"))
        .find(|path| path.is_file());
    on_path.with_context(|| {
        format!(
            "fakecloud {FAKECLOUD_VERSION} is not installed (looked at {} and on PATH); \
             run `scripts/install-tools.sh --fakecloud` (about 15 minutes on 2 cores)",
            installed.display()
        )
    })
}

impl Fakecloud {
    /// Starts `binary` with `lambda_host` as its container CLI and waits
    /// until it answers. `extra` are further fakecloud options (`--iam strict`).
    pub fn start(binary: &Path, lambda_host: &Path, extra: &[&str]) -> anyhow::Result<Self> {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .context("finding a free port on 127.0.0.1")?
            .port();
        let containers = tempfile::Builder::new()
            .prefix("lambda-host-")
            .tempdir()
            .context("creating lambda-host's state folder")?;
        let log = containers.path().with_extension("log");
        let log_file =
            std::fs::File::create(&log).with_context(|| format!("creating {}", log.display()))?;
        let child = Command::new(binary)
            .args(["--addr", &format!("127.0.0.1:{port}")])
            .args(extra)
            .env("FAKECLOUD_CONTAINER_CLI", lambda_host)
            .env("LAMBDA_HOST_DIR", containers.path())
            .env_remove("AWS_ENDPOINT_URL")
            .stdin(Stdio::null())
            .stdout(log_file.try_clone()?)
            .stderr(log_file)
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let mut fakecloud = Fakecloud {
            child,
            url: format!("http://127.0.0.1:{port}"),
            lambda_host: lambda_host.to_path_buf(),
            containers,
            log,
        };
        fakecloud.wait_until_ready()?;
        Ok(fakecloud)
    }

    fn wait_until_ready(&mut self) -> anyhow::Result<()> {
        let deadline = Instant::now() + READY_TIMEOUT;
        let health = format!("{}/_fakecloud/health", self.url);
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "fakecloud exited while starting ({status}); its log: {}",
                    self.log.display()
                );
            }
            if http_get_ok(&health) {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "fakecloud did not answer {health} within {READY_TIMEOUT:?}; its log: {}",
                    self.log.display()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Leaves the emulator (and its functions) running after this value
    /// is gone; returns its process id.
    pub fn detach(self) -> u32 {
        let pid = self.child.id();
        // Not dropped: neither stopped nor its state folder (lambda-host
        // reads it) removed.
        let _ = std::mem::ManuallyDrop::new(self);
        pid
    }

    /// The output of every function process so far (for a failure's report).
    pub fn function_logs(&self) -> String {
        let mut logs = String::new();
        for entry in std::fs::read_dir(self.containers.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            let env = std::fs::read_to_string(entry.path().join("env")).unwrap_or_default();
            let name = env
                .lines()
                .find_map(|l| l.strip_prefix("AWS_LAMBDA_FUNCTION_NAME="))
                .unwrap_or("?");
            let log = std::fs::read_to_string(entry.path().join("log")).unwrap_or_default();
            logs.push_str(&format!("--- {name}\n{log}"));
        }
        logs
    }
}

impl Drop for Fakecloud {
    /// TERM lets fakecloud remove its containers; whatever it left is
    /// removed by the ids lambda-host recorded, then fakecloud is killed.
    fn drop(&mut self) {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline && matches!(self.child.try_wait(), Ok(None)) {
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let ids: Vec<String> = std::fs::read_dir(self.containers.path())
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        if !ids.is_empty() {
            let _ = Command::new(&self.lambda_host)
                .args(["rm", "-f"])
                .args(&ids)
                .env("LAMBDA_HOST_DIR", self.containers.path())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// A plain HTTP GET answered 200 (the health check; no client crate needed).
fn http_get_ok(url: &str) -> bool {
    use std::io::{Read, Write};
    let Some(rest) = url.strip_prefix("http://") else {
        return false;
    };
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let Ok(mut stream) = std::net::TcpStream::connect(authority) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let request = format!("GET /{path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.1 200")
}
