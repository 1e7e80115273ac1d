//! `lambda-host`: the container CLI that fakecloud drives to run a Lambda
//! function (`FAKECLOUD_CONTAINER_CLI`), for machines without a container
//! engine. Each "container" is a folder under the state directory holding
//! the function's environment and unzipped code; `start` runs a host
//! process that serves the invoke endpoint fakecloud calls and the Lambda
//! Runtime API the function's `bootstrap` polls, and runs that bootstrap.
//!
//! Verbs, as fakecloud uses them (`fakecloud-lambda`'s `runtime/docker.rs`):
//!   info | version                 answer that the CLI works
//!   create [-e K=V|-e K ...] [other flags with a value] IMAGE [CMD]
//!                                  prints the new container's id
//!   cp SRC/. ID:/var/task          copies the unzipped code in
//!   start ID                       runs it; returns once it listens
//!   port ID [8080]                 prints 127.0.0.1:PORT of its invoke endpoint
//!   logs [--tail N] ID             the function's output
//!   rm -f ID...                    stops it (by its process group) and removes it
//! Any other verb exits 1, as the design allows.
//!
//! No isolation: the function runs as this user on this host. The state
//! directory is `LAMBDA_HOST_DIR` (the harness gives each emulator its
//! own, and kills what it lists on the way out), else `lambda-host` in the
//! system's temporary folder.
//!
//! Standard library only: fakecloud probes this CLI about 15 times at start
//! and runs it for every cold start, so it starts in a millisecond.

mod container;
mod http;
mod serve;

use std::process::ExitCode;

use container::Container;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("lambda-host: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &[String]) -> Result<(), String> {
    let (verb, rest) = args
        .split_first()
        .ok_or("a verb is required (create, cp, start, port, logs, rm, info)")?;
    match verb.as_str() {
        "info" | "version" | "--version" => {
            println!(
                "lambda-host {} (Lambda functions as host processes; no container engine)",
                env!("CARGO_PKG_VERSION")
            );
            Ok(())
        }
        "create" => {
            let spec = container::CreateSpec::parse(rest, |key| std::env::var(key).ok())?;
            println!("{}", Container::create(&spec)?.id());
            Ok(())
        }
        "cp" => {
            let [source, target] = rest else {
                return Err("usage: cp SRC ID:/PATH".into());
            };
            let (id, path) = target
                .split_once(':')
                .ok_or_else(|| format!("cp: `{target}` is not ID:/PATH"))?;
            Container::open(id)?.copy_in(source, path)
        }
        "start" => {
            for id in rest {
                Container::open(id)?.start()?;
            }
            Ok(())
        }
        "port" => {
            let id = rest.first().ok_or("usage: port ID [PORT]")?;
            println!("127.0.0.1:{}", Container::open(id)?.port()?);
            Ok(())
        }
        "logs" => {
            let (tail, id) = match rest {
                [flag, n, id] if flag == "--tail" => {
                    (Some(n.parse().map_err(|_| format!("--tail {n}"))?), id)
                }
                [id] => (None, id),
                _ => return Err("usage: logs [--tail N] ID".into()),
            };
            print!("{}", Container::open(id)?.logs(tail)?);
            Ok(())
        }
        "rm" | "stop" | "kill" => {
            let ids = rest.iter().filter(|a| !a.starts_with('-'));
            for id in ids {
                // Already gone is removed: rm -f semantics.
                if let Ok(container) = Container::open(id) {
                    container.stop();
                    if verb == "rm" {
                        container.remove()?;
                    }
                }
            }
            Ok(())
        }
        // The process `start` leaves behind: the invoke endpoint, the
        // Runtime API and the function's bootstrap.
        "__serve" => {
            let id = rest.first().ok_or("usage: __serve ID")?;
            serve::run(Container::open(id)?)
        }
        other => Err(format!("`{other}` is not supported by this stand-in")),
    }
}
