//! A local AWS emulator (moto) for deploy tests and benchmarks, started on
//! a free loopback port and stopped by its pid, and a small synth folder of
//! four stacks that exercises what deploy does (exports and imports, an
//! asset, a template over the inline limit, a bucket to empty).
//!
//! Shared by the integration tests and `benches/deploy_emulator.rs`; each uses
//! a part of it.
#![allow(dead_code)]

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use aws_credential_types::Credentials;
use sha2::{Digest, Sha256};

pub const REGION: &str = "eu-west-1";
/// moto's account id.
pub const ACCOUNT: &str = "123456789012";

/// A moto server on a free loopback port, stopped (by its pid) on drop.
pub struct Moto {
    child: Child,
    pub url: String,
}

impl Moto {
    pub fn start() -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port on 127.0.0.1")
            .port();
        let port_arg = port.to_string();
        let spawn = |program: &str, prefix: &[&str]| {
            Command::new(program)
                .args(prefix)
                .args(["-H", "127.0.0.1", "-p", &port_arg])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
        };
        let child = spawn("moto_server", &[])
            .or_else(|_| spawn("python3", &["-m", "moto.server"]))
            .expect("moto's server runs: pip install 'moto[server]'");
        let moto = Moto {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "moto_server did not answer in 20 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        moto
    }

    pub fn cloudformation(&self) -> aws_sdk_cloudformation::Client {
        self.cloudformation_in(REGION)
    }

    pub fn cloudformation_in(&self, region: &str) -> aws_sdk_cloudformation::Client {
        let config = aws_sdk_cloudformation::Config::builder()
            .behavior_version_latest()
            .http_client(provisioner::aws::https_client())
            .region(aws_sdk_cloudformation::config::Region::new(
                region.to_string(),
            ))
            .endpoint_url(&self.url)
            .credentials_provider(Credentials::new("testing", "testing", None, None, "e2e"))
            .build();
        aws_sdk_cloudformation::Client::from_conf(config)
    }

    pub fn s3(&self) -> aws_sdk_s3::Client {
        let config = aws_sdk_s3::Config::builder()
            .behavior_version_latest()
            .http_client(provisioner::aws::https_client())
            .region(aws_sdk_s3::config::Region::new(REGION))
            .endpoint_url(&self.url)
            .force_path_style(true)
            .credentials_provider(Credentials::new("testing", "testing", None, None, "e2e"))
            .build();
        aws_sdk_s3::Client::from_conf(config)
    }

    pub fn kinesis(&self) -> aws_sdk_kinesis::Client {
        let config = aws_sdk_kinesis::Config::builder()
            .behavior_version_latest()
            .http_client(provisioner::aws::https_client())
            .region(aws_sdk_kinesis::config::Region::new(REGION))
            .endpoint_url(&self.url)
            .credentials_provider(Credentials::new("testing", "testing", None, None, "e2e"))
            .build();
        aws_sdk_kinesis::Client::from_conf(config)
    }

    pub fn sqs(&self) -> aws_sdk_sqs::Client {
        let config = aws_sdk_sqs::Config::builder()
            .behavior_version_latest()
            .http_client(provisioner::aws::https_client())
            .region(aws_sdk_sqs::config::Region::new(REGION))
            .endpoint_url(&self.url)
            .credentials_provider(Credentials::new("testing", "testing", None, None, "e2e"))
            .build();
        aws_sdk_sqs::Client::from_conf(config)
    }

    /// `provisioner ARGS` against this emulator, without a terminal.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_provisioner"));
        command
            .args(args)
            .env("AWS_ENDPOINT_URL", &self.url)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env_remove("AWS_PROFILE")
            .env_remove("AWS_REGION")
            .env_remove("AWS_DEFAULT_REGION")
            .stdin(Stdio::null());
        command
    }

    pub fn run(&self, args: &[&str]) -> Ran {
        let started = Instant::now();
        let output = self.command(args).output().expect("provisioner runs");
        Ran {
            output,
            seconds: started.elapsed().as_secs_f64(),
        }
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub struct Ran {
    pub output: Output,
    pub seconds: f64,
}

impl Ran {
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.output.stdout).into_owned()
    }

    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }

    pub fn code(&self) -> i32 {
        self.output.status.code().unwrap_or(-1)
    }

    #[track_caller]
    pub fn ok(self) -> Self {
        assert_eq!(
            self.code(),
            0,
            "stdout:\n{}\nstderr:\n{}",
            self.stdout(),
            self.stderr()
        );
        self
    }

    /// The summary word of each stack, from the `<id> <result>` lines.
    pub fn results(&self) -> Vec<(String, String)> {
        let closing = ["deploy ", "destroy ", "retained "];
        self.stdout()
            .lines()
            .take_while(|l| !closing.iter().any(|c| l.starts_with(c)))
            .filter_map(|l| {
                let mut parts = l.split_whitespace();
                Some((
                    parts.next()?.to_string(),
                    parts.collect::<Vec<_>>().join(" "),
                ))
            })
            .collect()
    }
}

/// `provisioner ARGS` in `dir` with no credentials anywhere: no keys in
/// the environment, no profile files, no instance metadata.
pub fn provisioner_without_credentials(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_provisioner"))
        .args(args)
        .current_dir(dir)
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("AWS_REGION")
        .env_remove("AWS_WEB_IDENTITY_TOKEN_FILE")
        .env_remove("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")
        .env_remove("AWS_CONTAINER_CREDENTIALS_FULL_URI")
        .env("HOME", dir)
        .env("AWS_CONFIG_FILE", dir.join("no-config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", dir.join("no-credentials"))
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .stdin(Stdio::null())
        .output()
        .expect("running provisioner")
}

/// A zip holding one file, as the asset builder would write it.
pub fn zip_bytes(content: &str) -> Vec<u8> {
    let mut buffer = std::io::Cursor::new(Vec::new());
    let mut zip = zip::ZipWriter::new(&mut buffer);
    zip.start_file::<_, ()>("bootstrap", zip::write::SimpleFileOptions::default())
        .unwrap();
    zip.write_all(content.as_bytes()).unwrap();
    zip.finish().unwrap();
    buffer.into_inner()
}

/// A synth folder with four stacks: Network (exports the VPC, and is over
/// the inline template limit), Storage (a bucket), Functions (a Lambda
/// whose code is an asset, importing the bucket name) and App (a security
/// group importing the VPC). `version` changes every template.
pub fn write_fixture(dir: &Path, function_code: &str, version: &str) {
    std::fs::create_dir_all(dir.join("assets")).unwrap();
    let zip = zip_bytes(function_code);
    let sha = hex::encode(Sha256::digest(&zip));
    std::fs::write(dir.join(format!("assets/{sha}.zip")), &zip).unwrap();
    let description = |what: &str| format!("{what} ({version})");
    let network = serde_json::json!({
        "Description": description("network"),
        // Over the 51,200 bytes CloudFormation takes inline: deployed
        // through the asset bucket.
        "Metadata": { "Padding": "x".repeat(60_000) },
        "Resources": { "Vpc": { "Type": "AWS::EC2::VPC", "Properties": { "CidrBlock": "10.10.0.0/16" } } },
        "Outputs": { "VpcId": { "Value": { "Ref": "Vpc" }, "Export": { "Name": "retail-dev-VpcId" } } }
    });
    let storage = serde_json::json!({
        "Description": description("storage"),
        "Resources": {
            "Lake": { "Type": "AWS::S3::Bucket", "DeletionPolicy": "Delete",
                "Properties": { "BucketName": "retail-dev-lake" } },
            // Kept when the stack goes (a generated name, so a new one
            // each time the stack is created).
            "Archive": { "Type": "AWS::S3::Bucket", "DeletionPolicy": "Retain" },
            // Deleted, leaving a final snapshot (as prod's cluster does).
            "Scratch": { "Type": "AWS::EC2::Volume", "DeletionPolicy": "Snapshot",
                "Properties": { "AvailabilityZone": "eu-west-1a", "Size": 1 } }
        },
        "Outputs": { "LakeName": { "Value": { "Ref": "Lake" }, "Export": { "Name": "retail-dev-LakeName" } } }
    });
    let functions = serde_json::json!({
        "Description": description("functions"),
        "Resources": {
            "IngestRole": { "Type": "AWS::IAM::Role", "Properties": {
                "AssumeRolePolicyDocument": { "Version": "2012-10-17", "Statement": [{ "Effect": "Allow",
                    "Principal": { "Service": "lambda.amazonaws.com" }, "Action": "sts:AssumeRole" }] } } },
            "Ingest": { "Type": "AWS::Lambda::Function", "Properties": {
                "Runtime": "provided.al2023", "Handler": "bootstrap",
                "Role": { "Fn::GetAtt": ["IngestRole", "Arn"] },
                "Code": { "S3Bucket": { "Fn::Sub": stacks::assets::ASSET_BUCKET_PATTERN },
                          "S3Key": format!("{sha}.zip") },
                "Environment": { "Variables": { "LAKE": { "Fn::ImportValue": "retail-dev-LakeName" } } } } }
        },
        "Outputs": { "IngestArn": { "Value": { "Fn::GetAtt": ["Ingest", "Arn"] } } }
    });
    let app = serde_json::json!({
        "Description": description("app"),
        "Resources": { "Sg": { "Type": "AWS::EC2::SecurityGroup", "Properties": {
            "GroupDescription": "app", "VpcId": { "Fn::ImportValue": "retail-dev-VpcId" },
            "SecurityGroupIngress": [{ "IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "CidrIp": "10.0.0.0/8" }] } } },
        "Outputs": { "SgId": { "Value": { "Ref": "Sg" } } }
    });
    let stacks = [
        ("Network", network, vec![], vec![]),
        ("Storage", storage, vec![], vec![]),
        ("Functions", functions, vec!["Storage"], vec!["ingest"]),
        ("App", app, vec!["Network"], vec![]),
    ];
    let entries: Vec<_> = stacks
        .iter()
        .map(|(id, template, deps, assets)| {
            let mut body = serde_json::to_string_pretty(template).unwrap();
            body.push('\n');
            let file = format!("{id}.template.json");
            std::fs::write(dir.join(&file), &body).unwrap();
            serde_json::json!({
                "id": id, "stackName": format!("retail-dev-{}", id.to_lowercase()),
                "templateFile": file, "templateSha256": hex::encode(Sha256::digest(body.as_bytes())),
                "templateBytes": body.len(), "resourceCount": template["Resources"].as_object().unwrap().len(),
                "terminationProtection": false,
                "dependencies": deps.iter().map(|d| serde_json::json!({"stack": d, "reasons": ["fixture"]})).collect::<Vec<_>>(),
                "exports": [], "assets": assets
            })
        })
        .collect();
    let manifest = serde_json::json!({
        "version": stacks::manifest::MANIFEST_VERSION, "stage": "dev", "region": REGION,
        "stacks": entries,
        "assets": [{ "name": "ingest", "sha256": sha, "s3Key": format!("{sha}.zip"),
                     "file": format!("assets/{sha}.zip"), "size": zip.len() }]
    });
    std::fs::write(
        dir.join("manifest.json"),
        serde_json::to_string_pretty(&manifest).unwrap(),
    )
    .unwrap();
}

pub fn deploy_args(dir: &Path) -> Vec<String> {
    [
        "deploy",
        "--stage",
        "dev",
        "--synth-dir",
        dir.to_str().unwrap(),
        "--method",
        "direct",
        "--require-approval",
        "never",
    ]
    .map(String::from)
    .to_vec()
}

pub fn strs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

/// The real dev stage as `provisioner synth` writes it into `dir`, with a
/// small fixture zip per function in place of the built Lambdas (the
/// emulator cannot run them), then made deployable on moto
/// ([`stand_in_for_what_moto_skips`]).
pub fn synth_dev_stage(dir: &Path) {
    synth_dev_stage_with(dir, &|name| format!("fixture {name}"));
}

/// [`synth_dev_stage`] with each function's zip holding `code(name)`: a
/// new build of one function.
pub fn synth_dev_stage_with(dir: &Path, code: &dyn Fn(&str) -> String) {
    synth_stage_with("dev", dir, code);
}

/// [`synth_dev_stage_with`] for any stage.
pub fn synth_stage_with(stage: &str, dir: &Path, code: &dyn Fn(&str) -> String) {
    let stage = stacks::stage::Stage::named(stage).unwrap();
    let mut fixture_assets = |assets_dir: &Path, _: &mut dyn Write| {
        let mut table = stacks::assets::AssetTable::new();
        let mut entries = Vec::new();
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let functions = provisioner::assets::functions(root)
            .unwrap()
            .into_iter()
            .map(|f| f.name);
        std::fs::create_dir_all(assets_dir.join("assets")).unwrap();
        for name in functions {
            let zip = zip_bytes(&code(&name));
            let sha = hex::encode(Sha256::digest(&zip));
            let file = format!("assets/{sha}.zip");
            std::fs::write(assets_dir.join(&file), &zip).unwrap();
            table.insert(
                name.clone(),
                stacks::assets::Asset {
                    sha256: sha.clone(),
                    size: zip.len() as u64,
                },
            );
            entries.push(stacks::manifest::AssetEntry {
                name,
                s3_key: stacks::assets::asset_key(&sha),
                sha256: sha,
                file,
                size: zip.len() as u64,
            });
        }
        Ok((table, entries))
    };
    provisioner::commands::synth::run(
        stage,
        dir,
        None,
        &mut fixture_assets,
        &mut Vec::new(),
        &mut Vec::new(),
    )
    .unwrap();
    stand_in_for_what_moto_skips(dir);
}

/// moto's CloudFormation silently skips `AWS::SecretsManager::Secret`: its
/// `Ref` is empty, so the Warehouse's export of the secret ARN has no value
/// and its importers (Streaming, Batch) cannot be created. Real
/// CloudFormation creates it. For moto only, the secret becomes an SSM
/// parameter, whose `Ref` moto resolves (to a name, where AWS gives an
/// ARN; nothing in moto reads it); every other resource of the stage is
/// deployed as synthesised. The manifest's template hashes follow.
pub fn stand_in_for_what_moto_skips(dir: &Path) {
    let manifest_path = dir.join("manifest.json");
    let mut manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&manifest_path).unwrap()).unwrap();
    for stack in manifest["stacks"].as_array_mut().unwrap() {
        let path = dir.join(stack["templateFile"].as_str().unwrap());
        let mut template: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let mut changed = false;
        for (id, resource) in template["Resources"].as_object_mut().unwrap() {
            if resource["Type"] == "AWS::SecretsManager::Secret" {
                *resource = serde_json::json!({
                    "Type": "AWS::SSM::Parameter",
                    "Properties": {
                        "Name": format!("moto-stand-in-{id}"),
                        "Type": "String",
                        "Value": "moto cannot create secrets through CloudFormation"
                    }
                });
                changed = true;
            }
        }
        if changed {
            let mut body = serde_json::to_string_pretty(&template).unwrap();
            body.push('\n');
            std::fs::write(&path, &body).unwrap();
            stack["templateSha256"] = hex::encode(Sha256::digest(body.as_bytes())).into();
            stack["templateBytes"] = body.len().into();
        }
    }
    std::fs::write(
        &manifest_path,
        serde_json::to_string_pretty(&manifest).unwrap(),
    )
    .unwrap();
}

/// What `cargo tree --locked --prefix none ARGS` prints in `root`, one
/// crate per line; the test fails if cargo does.
pub fn cargo_tree(root: &Path, args: &[&str]) -> String {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = Command::new(cargo)
        .current_dir(root)
        .args(["tree", "--locked", "--prefix", "none"])
        .args(args)
        .output()
        .expect("running cargo tree");
    assert!(
        output.status.success(),
        "cargo tree {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("cargo tree prints UTF-8")
}
