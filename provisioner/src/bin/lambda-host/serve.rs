//! The process behind a started container: one port serving fakecloud's
//! invoke endpoint (`POST /2015-03-31/functions/function/invocations`, as
//! the Runtime Interface Emulator does) and the Lambda Runtime API the
//! function polls (<https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html>),
//! and the function's `bootstrap` as a child process, (re)started when an
//! invocation needs it. One invocation at a time, as in Lambda.

use std::collections::{HashMap, VecDeque};
use std::io::BufReader;
use std::net::{TcpListener, TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::process::{Child, Command};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::container::Container;
use crate::http::{Request, read_request, respond};

const INVOKE: &str = "/2015-03-31/functions/function/invocations";
const RUNTIME: &str = "/2018-06-01/runtime";
/// Used when the environment does not say (Lambda's default).
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3);
/// The emulator that started us is checked this often; when it has not
/// answered for three checks in a row, this process and its function exit
/// (nobody is left to stop them).
const OWNER_CHECK: Duration = Duration::from_secs(5);

pub fn run(container: Container) -> Result<(), String> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("listening: {e}"))?;
    let port = listener.local_addr().map_err(|e| e.to_string())?.port();
    let host = Arc::new(Host::new(&container, port)?);
    container.publish_port(port)?;
    if let Some(owner) = host.owner.clone() {
        thread::spawn(move || watch_owner(&owner));
    }
    for stream in listener.incoming().flatten() {
        let host = Arc::clone(&host);
        thread::spawn(move || serve_connection(&host, stream));
    }
    Ok(())
}

enum Outcome {
    Response(Vec<u8>),
    Error(Vec<u8>),
}

struct Invocation {
    id: String,
    event: Vec<u8>,
    deadline: SystemTime,
}

#[derive(Default)]
struct State {
    waiting: VecDeque<Invocation>,
    outcomes: HashMap<String, Outcome>,
    /// The invocation the function took and has not answered.
    taken: Option<String>,
    bootstrap: Option<u32>,
    sequence: u64,
}

struct Host {
    state: Mutex<State>,
    changed: Condvar,
    /// Serialises invocations: the function handles one at a time.
    invoke_turn: Mutex<()>,
    bootstrap: PathBuf,
    task_root: PathBuf,
    env: Vec<(String, String)>,
    timeout: Duration,
    function_arn: String,
    owner: Option<String>,
}

impl Host {
    fn new(container: &Container, port: u16) -> Result<Self, String> {
        let mut env = container.env()?;
        // fakecloud points the function's SDK at itself through a container
        // host alias (host.docker.internal); here the function is on the host.
        let alias = lookup(&env, "AWS_ENDPOINT_URL")
            .and_then(authority)
            .and_then(|authority| authority.split(':').next())
            .filter(|host| !host.is_empty() && *host != "127.0.0.1")
            .map(str::to_string);
        if let Some(alias) = alias {
            for (_, value) in env.iter_mut() {
                *value = value.replace(&format!("//{alias}:"), "//127.0.0.1:");
            }
        }
        for (key, default) in [
            ("AWS_ACCESS_KEY_ID", "test"),
            ("AWS_SECRET_ACCESS_KEY", "test"),
            ("AWS_REGION", "us-east-1"),
            ("TZ", ":UTC"),
        ] {
            if lookup(&env, key).is_none() {
                env.push((key.into(), default.into()));
            }
        }
        let task_root = container.path("/var/task");
        let bootstrap = [
            task_root.join("bootstrap"),
            container.path("/var/runtime/bootstrap"),
        ]
        .into_iter()
        .find(|path| path.is_file())
        .ok_or("the code has no `bootstrap` in /var/task or /var/runtime")?;
        env.extend([
            ("AWS_LAMBDA_RUNTIME_API".into(), format!("127.0.0.1:{port}")),
            ("LAMBDA_TASK_ROOT".into(), task_root.display().to_string()),
            ("PATH".into(), "/usr/local/bin:/usr/bin:/bin".into()),
        ]);
        let timeout = lookup(&env, "AWS_LAMBDA_FUNCTION_TIMEOUT")
            .and_then(|s| s.parse().ok())
            .map_or(DEFAULT_TIMEOUT, Duration::from_secs);
        let name = lookup(&env, "AWS_LAMBDA_FUNCTION_NAME").unwrap_or("function");
        let region = lookup(&env, "AWS_REGION").unwrap_or("us-east-1");
        let function_arn = format!("arn:aws:lambda:{region}:000000000000:function:{name}");
        let owner = lookup(&env, "AWS_ENDPOINT_URL")
            .and_then(authority)
            .map(str::to_string);
        Ok(Host {
            state: Mutex::default(),
            changed: Condvar::new(),
            invoke_turn: Mutex::new(()),
            bootstrap,
            task_root,
            env,
            timeout,
            function_arn,
            owner,
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn wait<'a>(&self, state: MutexGuard<'a, State>, up_to: Duration) -> MutexGuard<'a, State> {
        self.changed
            .wait_timeout(state, up_to)
            .map(|(state, _)| state)
            .unwrap_or_else(|poisoned| poisoned.into_inner().0)
    }

    /// Runs one event through the function: its answer, or its error.
    fn invoke(self: &Arc<Self>, event: Vec<u8>) -> Outcome {
        let _turn = self
            .invoke_turn
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let started = Instant::now();
        let mut state = self.lock();
        if state.bootstrap.is_none() {
            match self.spawn_bootstrap() {
                Ok(pid) => state.bootstrap = Some(pid),
                Err(message) => return error("Runtime.InvalidEntrypoint", &message),
            }
        }
        state.sequence += 1;
        let id = format!("{:08x}-{:x}", std::process::id(), state.sequence);
        state.waiting.push_back(Invocation {
            id: id.clone(),
            event,
            deadline: SystemTime::now() + self.timeout,
        });
        self.changed.notify_all();
        loop {
            if let Some(outcome) = state.outcomes.remove(&id) {
                return outcome;
            }
            let elapsed = started.elapsed();
            if elapsed >= self.timeout {
                // Lambda ends a timed-out environment; so do we.
                state.waiting.retain(|i| i.id != id);
                state.taken = None;
                if let Some(pid) = state.bootstrap.take() {
                    kill(pid);
                }
                return error(
                    "Sandbox.Timedout",
                    &format!(
                        "Task timed out after {:.2} seconds",
                        self.timeout.as_secs_f64()
                    ),
                );
            }
            state = self.wait(state, self.timeout - elapsed);
        }
    }

    fn spawn_bootstrap(self: &Arc<Self>) -> Result<u32, String> {
        let child = Command::new(&self.bootstrap)
            .env_clear()
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .current_dir(&self.task_root)
            .spawn()
            .map_err(|e| format!("starting {}: {e}", self.bootstrap.display()))?;
        let pid = child.id();
        let host = Arc::clone(self);
        thread::spawn(move || host.supervise(child));
        Ok(pid)
    }

    /// When the function's process exits, what it held fails with its exit
    /// status (Lambda's `Runtime.ExitError`); the next invocation starts it again.
    fn supervise(&self, mut child: Child) {
        let pid = child.id();
        let status = child.wait();
        let mut state = self.lock();
        if state.bootstrap != Some(pid) {
            return; // already replaced (a timeout killed it)
        }
        state.bootstrap = None;
        let message = match status {
            Ok(status) => format!("Runtime exited with error: {status}"),
            Err(e) => format!("Runtime exited: {e}"),
        };
        let lost: Vec<String> = state
            .taken
            .take()
            .into_iter()
            .chain(state.waiting.drain(..).map(|i| i.id))
            .collect();
        for id in lost {
            state
                .outcomes
                .insert(id, error("Runtime.ExitError", &message));
        }
        self.changed.notify_all();
    }

    /// `GET .../invocation/next`: blocks until there is an event.
    fn next(&self) -> Invocation {
        let mut state = self.lock();
        loop {
            if let Some(invocation) = state.waiting.pop_front() {
                state.taken = Some(invocation.id.clone());
                return invocation;
            }
            state = self.wait(state, Duration::from_secs(3600));
        }
    }

    fn answer(&self, id: &str, outcome: Outcome) -> bool {
        let mut state = self.lock();
        if state.taken.as_deref() != Some(id) {
            return false;
        }
        state.taken = None;
        state.outcomes.insert(id.to_string(), outcome);
        self.changed.notify_all();
        true
    }

    /// `POST .../init/error`: the function could not start; what waits fails.
    fn init_failed(&self, body: Vec<u8>) {
        let mut state = self.lock();
        let ids: Vec<String> = state.waiting.drain(..).map(|i| i.id).collect();
        for id in ids {
            state.outcomes.insert(id, Outcome::Error(body.clone()));
        }
        self.changed.notify_all();
    }
}

fn serve_connection(host: &Arc<Host>, stream: TcpStream) {
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    while let Ok(Some(request)) = read_request(&mut reader) {
        if route(host, request, &mut writer).is_err() {
            return;
        }
    }
}

fn route(host: &Arc<Host>, request: Request, out: &mut TcpStream) -> std::io::Result<()> {
    let path = request.path.split('?').next().unwrap_or("");
    match (request.method.as_str(), path) {
        ("POST", INVOKE) => match host.invoke(request.body) {
            Outcome::Response(body) => respond(out, 200, &[], &body),
            Outcome::Error(body) => respond(
                out,
                200,
                &[("X-Amz-Function-Error", "Unhandled".into())],
                &body,
            ),
        },
        ("GET", p) if p == format!("{RUNTIME}/invocation/next") => {
            let invocation = host.next();
            let deadline = invocation
                .deadline
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_millis())
                .unwrap_or_default();
            let headers = [
                ("Lambda-Runtime-Aws-Request-Id", invocation.id.clone()),
                ("Lambda-Runtime-Deadline-Ms", deadline.to_string()),
                (
                    "Lambda-Runtime-Invoked-Function-Arn",
                    host.function_arn.clone(),
                ),
                (
                    "Lambda-Runtime-Trace-Id",
                    format!("Root=1-{}", invocation.id),
                ),
            ];
            respond(out, 200, &headers, &invocation.event)
        }
        ("POST", p) if p == format!("{RUNTIME}/init/error") => {
            host.init_failed(request.body);
            respond(out, 202, &[], b"{}")
        }
        ("POST", p) if p.starts_with(RUNTIME) => {
            let rest = &p[RUNTIME.len()..];
            let parsed = rest
                .strip_prefix("/invocation/")
                .and_then(|r| r.rsplit_once('/'));
            let accepted = match parsed {
                Some((id, "response")) => host.answer(id, Outcome::Response(request.body)),
                Some((id, "error")) => host.answer(id, Outcome::Error(request.body)),
                _ => false,
            };
            if accepted {
                respond(out, 202, &[], b"{\"status\":\"OK\"}")
            } else {
                respond(out, 400, &[], b"{\"errorMessage\":\"unknown invocation\"}")
            }
        }
        _ => respond(out, 404, &[], b"{\"errorMessage\":\"not found\"}"),
    }
}

fn error(kind: &str, message: &str) -> Outcome {
    let escape = |s: &str| {
        s.replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('\n', "\\n")
    };
    Outcome::Error(
        format!(
            "{{\"errorType\":\"{}\",\"errorMessage\":\"{}\"}}",
            escape(kind),
            escape(message)
        )
        .into_bytes(),
    )
}

/// `host:port` of an `http://host:port/...` URL.
fn authority(url: &str) -> Option<&str> {
    let rest = url.split("://").nth(1)?;
    rest.split('/').next()
}

fn lookup<'a>(env: &'a [(String, String)], key: &str) -> Option<&'a str> {
    env.iter()
        .rev()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

fn kill(pid: u32) {
    let _ = Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status();
}

/// Exits this process group when the emulator has gone away for good.
fn watch_owner(owner: &str) {
    let mut misses = 0;
    loop {
        thread::sleep(OWNER_CHECK);
        let reachable = owner
            .replace("localhost", "127.0.0.1")
            .to_socket_addrs()
            .ok()
            .and_then(|mut addrs| addrs.next())
            .is_some_and(|addr| TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_ok());
        misses = if reachable { 0 } else { misses + 1 };
        if misses >= 3 {
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", std::process::id())])
                .status();
            std::process::exit(0);
        }
    }
}
