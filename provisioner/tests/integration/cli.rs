//! The `provisioner` binary as users run it, from the repository: real
//! Lambda builds (cached after the first), real files, exit codes.
//! Slow only on a cold target folder; `assets_platform` warms the cache.

use std::path::Path;
use std::process::{Command, Output};

use crate::support;

use support::provisioner_without_credentials;

fn provisioner(args: &[&str]) -> Output {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    Command::new(env!("CARGO_BIN_EXE_provisioner"))
        .args(args)
        .current_dir(root)
        .output()
        .expect("running provisioner")
}

fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files = Vec::new();
    for entry in walk(dir) {
        let name = entry.strip_prefix(dir).unwrap().display().to_string();
        files.push((name, std::fs::read(&entry).unwrap()));
    }
    files.sort();
    files
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .flat_map(|e| {
            let path = e.unwrap().path();
            if path.is_dir() {
                walk(&path)
            } else {
                vec![path]
            }
        })
        .collect()
}

#[test]
fn synth_writes_the_whole_platform_with_its_assets_twice_the_same_and_prints_one_stack() {
    let out = tempfile::tempdir().unwrap();
    let (first, second) = (out.path().join("first"), out.path().join("second"));
    for dir in [&first, &second] {
        let run = provisioner(&["synth", "--stage", "prod", "--out", dir.to_str().unwrap()]);
        assert!(
            run.status.success(),
            "{}\n{}",
            String::from_utf8_lossy(&run.stdout),
            String::from_utf8_lossy(&run.stderr)
        );
    }
    let written = files(&first);
    let names: Vec<&str> = written.iter().map(|(n, _)| n.as_str()).collect();
    for stack in [
        "Network",
        "Storage",
        "Warehouse",
        "Streaming",
        "Api",
        "Batch",
    ] {
        assert!(
            names.contains(&format!("{stack}.template.json").as_str()),
            "{names:?}"
        );
    }
    assert!(names.contains(&"manifest.json"));
    let zips = names.iter().filter(|n| n.ends_with(".zip")).count();
    // Every function of lambdas/ is built (prod does not run the private
    // warehouse's loader, but the build is one for all stages).
    let functions = provisioner::assets::function_names(
        Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap(),
    )
    .unwrap()
    .len();
    assert_eq!(zips, functions, "one zip per function: {names:?}");
    assert_eq!(written, files(&second), "same sources, same bytes");

    // Every function's key in the templates is a zip that was written.
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(first.join("manifest.json")).unwrap()).unwrap();
    for asset in manifest["assets"].as_array().unwrap() {
        assert!(
            first.join(asset["file"].as_str().unwrap()).is_file(),
            "{asset}"
        );
    }

    // One stack to standard output, to read or pipe (in this test: two
    // synths at once would build the same assets at once).
    let run = provisioner(&["synth", "--stage", "dev", "Warehouse"]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let template: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!(
        template["Resources"]["Cluster"]["Type"],
        "AWS::Redshift::Cluster"
    );
}

#[test]
fn an_unknown_stage_exits_2_and_lists_the_known_ones() {
    let run = provisioner(&["synth", "--stage", "staging"]);
    assert_eq!(run.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(stderr.contains("dev, prod"), "{stderr}");
}

#[test]
fn list_prints_the_deploy_order_without_building_any_function() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let empty_target = tempfile::tempdir().unwrap();
    let run = Command::new(env!("CARGO_BIN_EXE_provisioner"))
        .args(["list", "--stage", "prod"])
        .current_dir(root)
        .env("CARGO_TARGET_DIR", empty_target.path())
        .output()
        .expect("running provisioner");
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(
        stdout.starts_with("1. Network (retail-prod-network)\n"),
        "{stdout}"
    );
    assert!(stdout.contains("     after Warehouse:\n"), "{stdout}");
    assert_eq!(
        std::fs::read_dir(empty_target.path()).unwrap().count(),
        0,
        "list built or cached something in the target folder"
    );
}

#[test]
fn list_with_json_output_gives_the_same_order_and_reasons_for_machines() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let run = Command::new(env!("CARGO_BIN_EXE_provisioner"))
        .args(["list", "--stage", "prod", "--output", "json"])
        .current_dir(root)
        .output()
        .expect("running provisioner");
    assert_eq!(run.status.code(), Some(0), "{}", text(&run.stderr));
    let stacks: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    let stacks = stacks.as_array().unwrap();
    assert_eq!(stacks[0]["id"], "Network");
    assert_eq!(stacks[0]["stackName"], "retail-prod-network");
    let warehouse = stacks.iter().find(|s| s["id"] == "Warehouse").unwrap();
    assert_eq!(warehouse["dependencies"][0]["stack"], "Network");
    assert!(
        !warehouse["dependencies"][0]["reasons"][0]
            .as_str()
            .unwrap()
            .is_empty()
    );
}

#[test]
fn a_closed_pipe_ends_the_output_quietly_with_the_commands_own_status() {
    // `provisioner list | head -0`: the reader is gone before the first write.
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let run = Command::new(env!("CARGO_BIN_EXE_provisioner"))
        .args(["list", "--stage", "prod"])
        .current_dir(root)
        .stdout(writer)
        .output()
        .expect("running provisioner");
    assert_eq!(
        run.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(
        run.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
}

#[test]
fn synth_refuses_an_output_path_that_is_a_file_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let notes = dir.path().join("notes.txt");
    std::fs::write(&notes, "the user's own file\n").unwrap();
    let run = provisioner(&["synth", "--stage", "dev", "--out", notes.to_str().unwrap()]);
    assert_eq!(run.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(stderr.contains("is not a folder"), "{stderr}");
    assert!(stderr.contains("--out DIR"), "{stderr}");
    assert_eq!(
        std::fs::read_to_string(&notes).unwrap(),
        "the user's own file\n"
    );
    let beside: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(beside, ["notes.txt"], "nothing written beside it");
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The dev stage's synth output (fixture assets, no Lambda build) in
/// `dir/synth`, and the path of one of its templates.
fn synth_fixture(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let synth = dir.join("synth");
    support::synth_dev_stage(&synth);
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(synth.join("manifest.json")).unwrap()).unwrap();
    let template = manifest["stacks"][0]["template_file"]
        .as_str()
        .or_else(|| manifest["stacks"][0]["templateFile"].as_str())
        .expect("a template file in the manifest")
        .to_owned();
    let template = synth.join(template);
    (synth, template)
}

#[test]
fn deploy_refuses_an_outputs_file_that_is_a_folder_before_deploying_anything() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("outputs");
    std::fs::create_dir(&folder).unwrap();
    // No synth output and no credentials: the path is checked first.
    let run = provisioner_without_credentials(
        dir.path(),
        &[
            "deploy",
            "--synth-dir",
            "missing",
            "--outputs-file",
            "outputs",
        ],
    );
    let stderr = text(&run.stderr);
    assert_eq!(run.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("--outputs-file outputs cannot be written: it is a folder")
            && stderr.contains("nothing was deployed"),
        "{stderr}"
    );
    assert_eq!(std::fs::read_dir(&folder).unwrap().count(), 0);

    std::fs::write(dir.path().join("a-file"), "mine").unwrap();
    let run = provisioner_without_credentials(
        dir.path(),
        &[
            "deploy",
            "--synth-dir",
            "missing",
            "--outputs-file",
            "a-file/out.json",
        ],
    );
    let stderr = text(&run.stderr);
    assert_eq!(run.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("a-file is not a folder"), "{stderr}");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("a-file")).unwrap(),
        "mine"
    );
}

#[test]
fn graph_of_a_template_that_is_not_json_says_to_synthesise_again() {
    let dir = tempfile::tempdir().unwrap();
    let (synth, template) = synth_fixture(dir.path());
    let body = std::fs::read(&template).unwrap();
    std::fs::write(&template, &body[..body.len() / 2]).unwrap();
    let run = provisioner_without_credentials(
        dir.path(),
        &["graph", "--synth-dir", synth.to_str().unwrap()],
    );
    let stderr = text(&run.stderr);
    assert_eq!(run.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!("parsing {}", template.display()))
            && stderr.contains(&format!(
                "run `provisioner synth --stage dev --out {}` again",
                synth.display()
            )),
        "{stderr}"
    );
}

#[test]
fn graph_of_a_folder_draws_the_stage_it_was_synthesised_for() {
    let dir = tempfile::tempdir().unwrap();
    let (synth, _) = synth_fixture(dir.path());
    // The same folder as if synthesised for prod (graph reads no AWS).
    let manifest_path = synth.join("manifest.json");
    let manifest = std::fs::read_to_string(&manifest_path).unwrap();
    std::fs::write(
        &manifest_path,
        manifest.replace("\"stage\": \"dev\"", "\"stage\": \"prod\""),
    )
    .unwrap();
    let folder = synth.to_str().unwrap();
    let run = provisioner_without_credentials(dir.path(), &["graph", "--synth-dir", folder]);
    assert_eq!(run.status.code(), Some(0), "{}", text(&run.stderr));
    assert!(
        text(&run.stdout).starts_with("flowchart"),
        "{}",
        text(&run.stdout)
    );

    // Asked for another stage, the hint writes this folder.
    let run = provisioner_without_credentials(
        dir.path(),
        &["graph", "--stage", "dev", "--synth-dir", folder],
    );
    let stderr = text(&run.stderr);
    assert_eq!(run.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("was synthesised for stage prod, not dev")
            && stderr.contains(&format!(
                "run `provisioner synth --stage dev --out {folder}`, or drop --stage"
            )),
        "{stderr}"
    );
}

/// `provisioner ARGS` in `dir` with `variable` set, no endpoint and nothing
/// on standard input.
fn provisioner_with_env(dir: &Path, args: &[&str], variable: (&str, &str)) -> Output {
    Command::new(env!("CARGO_BIN_EXE_provisioner"))
        .args(args)
        .current_dir(dir)
        .env_remove("AWS_ENDPOINT_URL")
        .env(variable.0, variable.1)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("running provisioner")
}

#[test]
fn aws_region_in_the_environment_is_checked_as_region_is() {
    let dir = tempfile::tempdir().unwrap();
    let (synth, _) = synth_fixture(dir.path());
    let run = provisioner_with_env(
        dir.path(),
        &["deploy", "--synth-dir", synth.to_str().unwrap()],
        ("AWS_REGION", "us-east-1"),
    );
    let stderr = text(&run.stderr);
    assert_eq!(run.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("stage dev is synthesised for region eu-west-1, not us-east-1")
            && stderr.contains("unset AWS_REGION"),
        "{stderr}"
    );
    assert!(
        run.stdout.is_empty(),
        "nothing was deployed: {}",
        text(&run.stdout)
    );
}

#[test]
fn verify_with_json_output_prints_a_json_error_when_it_cannot_run() {
    let dir = tempfile::tempdir().unwrap();
    let run = provisioner_without_credentials(
        dir.path(),
        &["verify", "--output", "json", "--synth-dir", "missing"],
    );
    assert_eq!(run.status.code(), Some(2), "{}", text(&run.stderr));
    let report: serde_json::Value = serde_json::from_slice(&run.stdout)
        .unwrap_or_else(|e| panic!("{e}: {:?}", text(&run.stdout)));
    assert_eq!(report["stage"], "dev");
    assert!(
        report["error"].as_str().unwrap().contains("manifest.json"),
        "{report}"
    );
    assert!(
        report["hint"]
            .as_str()
            .unwrap()
            .contains("provisioner synth"),
        "{report}"
    );
}

#[test]
fn destroy_without_credentials_says_the_error_once() {
    let dir = tempfile::tempdir().unwrap();
    let (synth, _) = synth_fixture(dir.path());
    let run = provisioner_without_credentials(
        dir.path(),
        &[
            "destroy",
            "--force",
            "--region",
            "eu-west-1",
            "--synth-dir",
            synth.to_str().unwrap(),
        ],
    );
    let (stdout, stderr) = (text(&run.stdout), text(&run.stderr));
    assert_eq!(run.status.code(), Some(2), "{stdout}\n{stderr}");
    let failed: Vec<&str> = stdout.lines().filter(|l| l.contains("FAILED")).collect();
    assert!(failed.len() > 1, "several stacks start at once: {stdout}");
    let said = failed
        .iter()
        .filter(|l| !l.contains("the same error as"))
        .count();
    assert_eq!(said, 1, "{stdout}");
    assert!(stderr.contains("no AWS credentials found"), "{stderr}");
}

/// Something on 127.0.0.1 answering every request with an empty 200, as
/// a host that is not AWS does; `port` is where.
fn not_aws() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            use std::io::{Read, Write};
            let mut buffer = [0; 65536];
            let _ = stream.read(&mut buffer);
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        }
    });
    port
}

#[test]
fn bootstrap_against_something_that_is_not_aws_says_to_check_the_region() {
    let dir = tempfile::tempdir().unwrap();
    let port = not_aws();
    let run = Command::new(env!("CARGO_BIN_EXE_provisioner"))
        .args(["bootstrap", "--region", "eu-west-1", "--endpoint-url"])
        .arg(format!("http://127.0.0.1:{port}"))
        .current_dir(dir.path())
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env_remove("AWS_PROFILE")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let stderr = text(&run.stderr);
    assert_eq!(run.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("error parsing XML")
            && stderr.contains("the answer was not an AWS service's: check --region"),
        "{stderr}"
    );
}

/// Synth into a fresh folder, its Lambda build a stand-in `cargo-lambda`
/// that only waits (nothing is built), interrupted once the build has
/// started: by Ctrl-C as a terminal sends it (to the whole process group),
/// or by SIGTERM to provisioner alone.
fn interrupt_synth(signal: &str, to_group: bool) -> (Output, std::path::PathBuf) {
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::CommandExt;
    let dir = tempfile::tempdir().unwrap().keep();
    let bin = dir.join("bin");
    std::fs::create_dir(&bin).unwrap();
    let fake = bin.join("cargo-lambda");
    std::fs::write(
        &fake,
        "#!/bin/sh\ntouch \"$BUILD_STARTED\"\nexec sleep 30\n",
    )
    .unwrap();
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    let started = dir.join("build-started");
    let out = dir.join("out");
    std::fs::create_dir(&out).unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let child = Command::new(env!("CARGO_BIN_EXE_provisioner"))
        .args(["synth", "--stage", "dev", "--out"])
        .arg(out.join("synth"))
        .current_dir(root)
        .env("PATH", path)
        // Nothing cached: the build starts.
        .env("CARGO_TARGET_DIR", dir.join("target"))
        .env("BUILD_STARTED", &started)
        .process_group(0)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let waiting = std::time::Instant::now();
    while !started.exists() {
        assert!(
            waiting.elapsed() < std::time::Duration::from_secs(60),
            "the build never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let staging: Vec<_> = std::fs::read_dir(&out).unwrap().collect();
    assert_eq!(
        staging.len(),
        1,
        "the staging folder is there while building"
    );
    let pid = child.id().to_string();
    let target = if to_group {
        format!("-{pid}")
    } else {
        pid.clone()
    };
    let sent = Command::new("kill")
        .args([&format!("-{signal}"), "--", &target])
        .status()
        .unwrap();
    assert!(sent.success());
    let output = child.wait_with_output().unwrap();
    // The stand-in build, when only provisioner was signalled: the group
    // this test made.
    let _ = Command::new("kill")
        .args(["-KILL", "--", &format!("-{pid}")])
        .status();
    (output, out)
}

#[test]
fn ctrl_c_or_sigterm_during_synth_removes_its_staging_folder_and_exits_130() {
    for (signal, to_group, how) in [("INT", true, "Ctrl-C"), ("TERM", false, "SIGTERM")] {
        let (output, out) = interrupt_synth(signal, to_group);
        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(130), "{signal}: {stderr}");
        assert!(
            stderr.contains(&format!(
                "error: synth of stage dev into {} interrupted ({how}): removed {}",
                out.join("synth").display(),
                out.display()
            )),
            "{stderr}"
        );
        let left: Vec<_> = std::fs::read_dir(&out)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert!(
            left.is_empty(),
            "{signal}: nothing left beside the output: {left:?}"
        );
        std::fs::remove_dir_all(out.parent().unwrap()).unwrap();
    }
}

/// `provisioner --version`: the release and the commit built from (the
/// build script asks git; outside a checkout it says `unknown`).
#[test]
fn version_names_the_release_and_the_commit() {
    let run = provisioner(&["--version"]);
    assert!(run.status.success());
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let commit = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(root)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map_or("unknown".to_string(), |o| {
            text(&o.stdout).trim().to_string()
        });
    assert_eq!(
        text(&run.stdout),
        format!(
            "provisioner {} (commit {commit})\n",
            env!("CARGO_PKG_VERSION")
        )
    );
}

#[test]
fn completions_for_bash_zsh_and_fish_and_a_man_page() {
    for (shell, marker) in [
        ("bash", "complete -F _provisioner"),
        ("zsh", "#compdef provisioner"),
        ("fish", "complete -c provisioner"),
    ] {
        let run = provisioner(&["completions", shell]);
        assert!(run.status.success(), "{shell}: {}", text(&run.stderr));
        let script = text(&run.stdout);
        assert!(script.contains(marker), "{shell}");
        assert!(script.contains("hotswap-prod"), "{shell}: deploy's flags");
    }
    let unknown = provisioner(&["completions", "tcsh"]);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(
        text(&unknown.stderr).contains("[possible values: bash, elvish, fish, powershell, zsh]")
    );
    let man = provisioner(&["man"]);
    assert!(man.status.success());
    assert!(text(&man.stdout).starts_with(".ie"), "roff");
    assert!(text(&man.stdout).contains(".SH SUBCOMMANDS"));
}

#[test]
fn quiet_and_verbose_together_are_a_usage_error() {
    let run = provisioner(&["--quiet", "--verbose", "list"]);
    assert_eq!(run.status.code(), Some(2));
    assert!(text(&run.stderr).contains("'--quiet' cannot be used with '--verbose'"));
    assert!(run.stdout.is_empty());
}

#[test]
fn max_attempts_of_zero_in_the_environment_is_a_usage_error_naming_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    let run = provisioner_with_env(
        dir.path(),
        &["verify", "--stage", "dev"],
        ("AWS_MAX_ATTEMPTS", "0"),
    );
    let stderr = text(&run.stderr);
    assert_eq!(run.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("'--max-attempts <N>'") && stderr.contains("0 is not in 1.."),
        "{stderr}"
    );
    assert!(run.stdout.is_empty(), "{}", text(&run.stdout));
}

/// `--force` meant "hotswap on prod", where CDK's means "deploy even if
/// unchanged": refused with the new name before anything is read.
#[test]
fn deploy_force_is_refused_with_the_flag_that_replaced_it() {
    let dir = tempfile::tempdir().unwrap();
    let run =
        provisioner_without_credentials(dir.path(), &["deploy", "--stage", "prod", "--force"]);
    assert_eq!(run.status.code(), Some(2), "{}", text(&run.stderr));
    assert_eq!(
        text(&run.stderr),
        "error: deploy has no --force: a hotswap on a protected stage is --hotswap-prod\n  \
         hint: nothing was changed; use `--hotswap --hotswap-prod` to hotswap prod, or drop \
         --force: an unchanged stack is skipped because deploying it would change nothing \
         (`provisioner diff` shows what differs)\n"
    );
    let alone = provisioner_without_credentials(dir.path(), &["deploy", "--hotswap-prod"]);
    assert_eq!(alone.status.code(), Some(2));
    assert!(
        text(&alone.stderr).contains("--hotswap"),
        "{}",
        text(&alone.stderr)
    );
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "nothing written"
    );
}

#[test]
fn send_dry_run_answers_in_json_and_synth_folder_aliases_are_one_option() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("december.csv");
    std::fs::write(
        &csv,
        format!(
            "{}\n536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER,6,12/1/2010 8:26,2.55,17850,United Kingdom\n536365,71053,WHITE METAL LANTERN,x,12/1/2010 8:26,3.39,17850,United Kingdom\n",
            record::CSV_HEADER
        ),
    )
    .unwrap();
    let rejected = dir.path().join("rejected.csv");
    let run = provisioner_without_credentials(
        dir.path(),
        &[
            "send",
            "--dry-run",
            "--output",
            "json",
            "--rejected-file",
            rejected.to_str().unwrap(),
            csv.to_str().unwrap(),
        ],
    );
    assert_eq!(
        run.status.code(),
        Some(1),
        "a rejected row fails a dry run: {}",
        text(&run.stderr)
    );
    let summary: serde_json::Value =
        serde_json::from_slice(&run.stdout).expect("one JSON document");
    assert_eq!(summary["dryRun"], true);
    assert_eq!(summary["rowsRead"], 2);
    assert_eq!(summary["valid"], 1);
    assert_eq!(summary["rejectedLocally"], 1);
    assert_eq!(summary["rejectedFile"], rejected.to_str().unwrap());

    // One option, three spellings: given twice, clap says so.
    let twice =
        provisioner_without_credentials(dir.path(), &["graph", "--synth-dir", "a", "--out", "b"]);
    assert_eq!(twice.status.code(), Some(2));
    assert!(
        text(&twice.stderr).contains("'--output-dir <DIR>' cannot be used multiple times"),
        "{}",
        text(&twice.stderr)
    );
}
