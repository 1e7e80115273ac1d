//! A "container": a folder of the state directory with the function's
//! environment (`env`, one `KEY=VALUE` per line), its files (`fs/var/task`),
//! and once started the serving process's id (`pid`), port (`port`) and
//! output (`log`).

use std::fs;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How long `start` waits for the serving process to listen.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// What `create` was asked for.
#[derive(Debug, Default, PartialEq)]
pub struct CreateSpec {
    pub env: Vec<(String, String)>,
    pub image: String,
    pub command: Vec<String>,
}

impl CreateSpec {
    /// `create`'s arguments: `-e K=V` sets a variable, `-e K` takes it from
    /// this process's environment (how fakecloud passes credentials without
    /// putting them on a command line); every other flag has one value and
    /// means nothing here (ports, labels, host aliases, tmpfs).
    pub fn parse(args: &[String], lookup: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let mut spec = CreateSpec::default();
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            if !arg.starts_with('-') {
                spec.image = arg.clone();
                spec.command = args.cloned().collect();
                return Ok(spec);
            }
            let value = args
                .next()
                .ok_or_else(|| format!("create: {arg} needs a value"))?;
            if arg == "-e" || arg == "--env" {
                match value.split_once('=') {
                    Some((key, value)) => spec.env.push((key.into(), value.into())),
                    None => {
                        if let Some(found) = lookup(value) {
                            spec.env.push((value.clone(), found));
                        }
                    }
                }
            }
        }
        Err("create: an image is required".into())
    }
}

#[derive(Debug)]
pub struct Container {
    id: String,
    dir: PathBuf,
}

pub fn state_dir() -> PathBuf {
    std::env::var_os("LAMBDA_HOST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("lambda-host"))
}

impl Container {
    pub fn create(spec: &CreateSpec) -> Result<Self, String> {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let id = format!("{:x}{:x}", std::process::id(), nanos);
        let dir = state_dir().join(&id);
        fs::create_dir_all(dir.join("fs/var/task")).map_err(|e| io(&dir, e))?;
        let mut env = String::new();
        for (key, value) in &spec.env {
            if key.contains(['=', '\n']) || value.contains('\n') {
                return Err(format!("create: environment entry {key} cannot be stored"));
            }
            env.push_str(&format!("{key}={value}\n"));
        }
        write(&dir.join("env"), &env)?;
        write(&dir.join("command"), &spec.command.join("\n"))?;
        Ok(Container { id, dir })
    }

    pub fn open(id: &str) -> Result<Self, String> {
        if id.is_empty() || id.contains(['/', '.']) {
            return Err(format!("`{id}` is not a container id"));
        }
        let dir = state_dir().join(id);
        if !dir.is_dir() {
            return Err(format!("no such container: {id}"));
        }
        Ok(Container {
            id: id.to_string(),
            dir,
        })
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// The container's own path `path` (`/var/task`) on the host.
    pub fn path(&self, path: &str) -> PathBuf {
        self.dir.join("fs").join(path.trim_start_matches('/'))
    }

    pub fn env(&self) -> Result<Vec<(String, String)>, String> {
        let text = read(&self.dir.join("env"))?;
        Ok(text
            .lines()
            .filter_map(|line| line.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect())
    }

    /// `cp SRC ID:PATH`, with docker's meaning of a trailing `/.`: the
    /// folder's content, not the folder.
    pub fn copy_in(&self, source: &str, path: &str) -> Result<(), String> {
        let target = self.path(path);
        let source = Path::new(source.strip_suffix("/.").unwrap_or(source));
        copy_tree(source, &target)
    }

    /// Runs `lambda-host __serve ID` in a process group of its own (so
    /// `rm` stops it with the function) and returns once it listens.
    pub fn start(&self) -> Result<(), String> {
        let _ = fs::remove_file(self.dir.join("port"));
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("log"))
            .map_err(|e| io(&self.dir, e))?;
        let child = Command::new(std::env::current_exe().map_err(|e| e.to_string())?)
            .args(["__serve", &self.id])
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log)
            .process_group(0)
            .spawn()
            .map_err(|e| format!("starting {}: {e}", self.id))?;
        write(&self.dir.join("pid"), &child.id().to_string())?;
        let deadline = Instant::now() + START_TIMEOUT;
        while self.port().is_err() {
            if Instant::now() > deadline {
                self.stop();
                return Err(format!(
                    "{} did not listen within {START_TIMEOUT:?}:\n{}",
                    self.id,
                    self.logs(Some(20)).unwrap_or_default()
                ));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        Ok(())
    }

    pub fn port(&self) -> Result<u16, String> {
        read(&self.dir.join("port"))?
            .trim()
            .parse()
            .map_err(|_| format!("{} has no port yet", self.id))
    }

    /// Written by the serving process once it listens.
    pub fn publish_port(&self, port: u16) -> Result<(), String> {
        let temporary = self.dir.join("port.new");
        write(&temporary, &port.to_string())?;
        fs::rename(&temporary, self.dir.join("port")).map_err(|e| io(&self.dir, e))
    }

    pub fn logs(&self, tail: Option<usize>) -> Result<String, String> {
        let mut file = match fs::File::open(self.dir.join("log")) {
            Ok(file) => file,
            Err(_) => return Ok(String::new()),
        };
        // The last 1 MiB is plenty for a tail.
        let length = file.metadata().map(|m| m.len()).unwrap_or(0);
        let _ = file.seek(SeekFrom::Start(length.saturating_sub(1 << 20)));
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(|e| e.to_string())?;
        let text = String::from_utf8_lossy(&bytes);
        let lines: Vec<&str> = text.lines().collect();
        let from = tail.map_or(0, |n| lines.len().saturating_sub(n));
        Ok(lines[from..].iter().map(|l| format!("{l}\n")).collect())
    }

    /// Stops the serving process and the function: TERM to the group, KILL
    /// to what is left a moment later.
    pub fn stop(&self) {
        let Ok(pid) = read(&self.dir.join("pid")) else {
            return;
        };
        let group = format!("-{}", pid.trim());
        let signal = |name: &str| {
            Command::new("kill")
                .args([name, "--", &group])
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        };
        if signal("-TERM") {
            std::thread::sleep(Duration::from_millis(100));
            signal("-KILL");
        }
        let _ = fs::remove_file(self.dir.join("pid"));
        let _ = fs::remove_file(self.dir.join("port"));
    }

    pub fn remove(&self) -> Result<(), String> {
        fs::remove_dir_all(&self.dir).map_err(|e| io(&self.dir, e))
    }
}

fn copy_tree(source: &Path, target: &Path) -> Result<(), String> {
    let meta = fs::metadata(source).map_err(|e| io(source, e))?;
    if meta.is_file() {
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent).map_err(|e| io(parent, e))?;
        }
        // `fs::copy` keeps the permission bits: `bootstrap` stays executable.
        fs::copy(source, target).map_err(|e| io(source, e))?;
        return Ok(());
    }
    fs::create_dir_all(target).map_err(|e| io(target, e))?;
    for entry in fs::read_dir(source).map_err(|e| io(source, e))? {
        let entry = entry.map_err(|e| io(source, e))?;
        copy_tree(&entry.path(), &target.join(entry.file_name()))?;
    }
    Ok(())
}

fn read(path: &Path) -> Result<String, String> {
    fs::read_to_string(path).map_err(|e| io(path, e))
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    fs::write(path, text).map_err(|e| io(path, e))
}

fn io(path: &Path, error: std::io::Error) -> String {
    format!("{}: {error}", path.display())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(args: &[&str]) -> Vec<String> {
        args.iter().map(|a| a.to_string()).collect()
    }

    #[test]
    fn create_takes_variables_given_and_named_and_ignores_other_flags() {
        let args = strings(&[
            "-p",
            ":8080",
            "--label",
            "fakecloud-lambda=f",
            "--add-host",
            "h:host-gateway",
            "-e",
            "TABLE=Invoices",
            "-e",
            "AWS_SECRET_ACCESS_KEY",
            "-e",
            "UNSET",
            "--tmpfs",
            "/tmp:rw,size=512m",
            "public.ecr.aws/lambda/provided:al2023",
            "bootstrap",
        ]);
        let spec = CreateSpec::parse(&args, |key| {
            (key == "AWS_SECRET_ACCESS_KEY").then(|| "s3cr3t".to_string())
        })
        .unwrap();
        assert_eq!(
            spec,
            CreateSpec {
                env: vec![
                    ("TABLE".into(), "Invoices".into()),
                    ("AWS_SECRET_ACCESS_KEY".into(), "s3cr3t".into()),
                ],
                image: "public.ecr.aws/lambda/provided:al2023".into(),
                command: vec!["bootstrap".into()],
            }
        );
    }

    #[test]
    fn create_without_an_image_is_refused() {
        let error = CreateSpec::parse(&strings(&["-e", "A=b"]), |_| None).unwrap_err();
        assert!(error.contains("an image is required"), "{error}");
    }
}
