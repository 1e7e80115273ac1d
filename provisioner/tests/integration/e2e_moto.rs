//! End to end against a local AWS emulator (moto): the `provisioner` binary
//! bootstraps, deploys, redeploys, survives a SIGKILL, diffs and destroys,
//! and the emulator's own APIs confirm what exists.
//!
//! moto's CloudFormation gives change-set stacks no outputs or exports and
//! cannot import inside a change set (moto 5.2: see the README's emulator notes), so
//! deploys here use `--method direct`. Wall times are printed (run with
//! `--nocapture` to see them); they are reported, not asserted.

use crate::support;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::Stdio;

use support::{
    ACCOUNT, Moto, REGION, deploy_args, strs, synth_dev_stage, synth_dev_stage_with,
    synth_stage_with, write_fixture,
};

async fn stack_statuses(moto: &Moto) -> Vec<(String, String)> {
    let listed = moto.cloudformation().list_stacks().send().await.unwrap();
    let mut statuses: Vec<_> = listed
        .stack_summaries()
        .iter()
        .map(|s| {
            (
                s.stack_name().unwrap_or_default().to_string(),
                s.stack_status()
                    .map(|s| s.as_str().to_string())
                    .unwrap_or_default(),
            )
        })
        .filter(|(_, status)| status != "DELETE_COMPLETE")
        .collect();
    statuses.sort();
    statuses
}

fn all(results: &[(String, String)], word: &str) -> bool {
    !results.is_empty() && results.iter().all(|(_, r)| r == word)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_platform_deploys_redeploys_as_no_op_updates_one_stack_and_is_destroyed() {
    let moto = Moto::start();
    let synth = tempfile::tempdir().unwrap();
    let dir = synth.path();
    write_fixture(dir, "ingest v1", "v1");

    let bootstrap = moto
        .run(&["bootstrap", "--stage", "dev", "--method", "direct"])
        .ok();
    let bucket = format!("provisioner-assets-{ACCOUNT}-{REGION}");
    assert!(
        bootstrap.stdout().contains(&bucket),
        "{}",
        bootstrap.stdout()
    );

    let outputs = dir.join("outputs.json");
    let mut args = deploy_args(dir);
    args.extend(["--outputs-file".into(), outputs.to_str().unwrap().into()]);
    let first = moto.run(&strs(&args)).ok();
    assert!(all(&first.results(), "created"), "{}", first.stdout());
    assert!(
        first.stderr().contains("assets: 2 uploaded"),
        "zip and large template: {}",
        first.stderr()
    );
    let written: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&outputs).unwrap()).unwrap();
    assert!(
        written["Network"]["VpcId"]
            .as_str()
            .unwrap()
            .starts_with("vpc-")
    );
    assert!(written["App"]["SgId"].as_str().unwrap().starts_with("sg-"));

    let again = moto.run(&strs(&args)).ok();
    assert!(all(&again.results(), "unchanged"), "{}", again.stdout());
    let written_again: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&outputs).unwrap()).unwrap();
    assert_eq!(
        written, written_again,
        "a no-op deploy still writes every output"
    );

    let diff = moto
        .run(&[
            "diff",
            "--stage",
            "dev",
            "--synth-dir",
            dir.to_str().unwrap(),
            "--fail",
        ])
        .ok();
    assert_eq!(
        diff.stdout().matches("no differences").count(),
        4,
        "{}",
        diff.stdout()
    );

    // A new function build: only the stack of that function changes.
    write_fixture(dir, "ingest v2", "v1");
    let diff = moto.run(&[
        "diff",
        "--stage",
        "dev",
        "--synth-dir",
        dir.to_str().unwrap(),
        "--fail",
    ]);
    assert_eq!(diff.code(), 1);
    assert!(
        diff.stdout().contains("Properties.Code.S3Key"),
        "{}",
        diff.stdout()
    );
    let code_change = moto.run(&strs(&deploy_args(dir))).ok();
    let results = code_change.results();
    for (id, result) in &results {
        let expected = if id == "Functions" {
            "updated"
        } else {
            "unchanged"
        };
        assert_eq!(result, expected, "{id}: {}", code_change.stdout());
    }
    assert!(
        code_change
            .stderr()
            .contains("assets: 1 uploaded, 0 replaced, 0 already"),
        "{}",
        code_change.stderr()
    );

    // Data in a dev bucket does not stop its destruction.
    moto.s3()
        .put_object()
        .bucket("retail-dev-lake")
        .key("raw/2010/12/01/part-0.json")
        .body(b"{}".to_vec().into())
        .send()
        .await
        .unwrap();
    let destroy_args = [
        "destroy",
        "--stage",
        "dev",
        "--synth-dir",
        dir.to_str().unwrap(),
    ];
    let refused = moto.run(&destroy_args);
    assert_eq!(
        refused.code(),
        2,
        "no terminal and no --force: {}",
        refused.stderr()
    );
    assert!(refused.stderr().contains("--force"));

    let mut forced = destroy_args.to_vec();
    forced.push("--force");
    let destroy = moto.run(&forced).ok();
    assert!(all(&destroy.results(), "deleted"), "{}", destroy.stdout());
    let order: Vec<_> = destroy.results().into_iter().map(|(id, _)| id).collect();
    let position = |id: &str| order.iter().position(|o| o == id).unwrap();
    assert!(
        position("App") < position("Network"),
        "importers go first: {order:?}"
    );
    assert!(
        position("Functions") < position("Storage"),
        "importers go first: {order:?}"
    );
    assert_eq!(
        stack_statuses(&moto).await,
        [(
            "provisioner-toolkit".to_string(),
            "CREATE_COMPLETE".to_string()
        )],
        "only the toolkit is left"
    );
    let retained = destroy
        .stdout()
        .lines()
        .find(|l| l.contains("Storage/Archive AWS::S3::Bucket"))
        .map(|l| l.split_whitespace().last().unwrap().to_string())
        .unwrap_or_else(|| panic!("the retained bucket is reported: {}", destroy.stdout()));
    assert!(
        destroy
            .stdout()
            .lines()
            .any(|l| l.contains("Storage/Scratch AWS::EC2::Volume")
                && l.ends_with("(its final snapshot)")),
        "a resource deleted with a final snapshot is reported: {}",
        destroy.stdout()
    );
    let mut buckets: Vec<_> = moto
        .s3()
        .list_buckets()
        .send()
        .await
        .unwrap()
        .buckets()
        .iter()
        .filter_map(|b| b.name().map(str::to_string))
        .collect();
    buckets.sort();
    let mut expected = vec![bucket, retained];
    expected.sort();
    assert_eq!(
        buckets, expected,
        "the lake bucket was emptied and deleted; the asset bucket and the retained one stay"
    );

    let gone = moto.run(&forced).ok();
    assert!(all(&gone.results(), "already gone"), "{}", gone.stdout());

    println!(
        "wall times against moto (4 stacks): deploy {:.2}s, no-op redeploy {:.2}s, one-stack update {:.2}s, destroy {:.2}s",
        first.seconds, again.seconds, code_change.seconds, destroy.seconds
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_deploy_killed_half_way_converges_when_run_again() {
    let moto = Moto::start();
    let synth = tempfile::tempdir().unwrap();
    let dir = synth.path();
    write_fixture(dir, "ingest v1", "v1");
    moto.run(&strs(&deploy_args(dir))).ok();

    // Every template changes; one stack at a time, killed after the first.
    write_fixture(dir, "ingest v2", "v2");
    let mut args = deploy_args(dir);
    args.extend(["--concurrency".into(), "1".into()]);
    let mut child = moto
        .command(&strs(&args))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let mut seen = Vec::new();
    for line in stderr.lines() {
        let line = line.unwrap();
        let done = line.contains(": updated in");
        seen.push(line);
        if done {
            break;
        }
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert!(seen.iter().any(|l| l.contains(": updated in")), "{seen:?}");

    let rerun = moto.run(&strs(&deploy_args(dir))).ok();
    let results = rerun.results();
    assert_eq!(results.len(), 4, "{}", rerun.stdout());
    assert!(
        results.iter().any(|(_, r)| r == "unchanged"),
        "the stack finished before the kill is not deployed again: {}",
        rerun.stdout()
    );
    assert!(
        results.iter().any(|(_, r)| r == "updated"),
        "the kill came before the end of the deploy: {}",
        rerun.stdout()
    );
    let settled = moto.run(&strs(&deploy_args(dir))).ok();
    assert!(all(&settled.results(), "unchanged"), "{}", settled.stdout());
}

/// The default method. moto's change sets give stacks no outputs and cannot
/// import, so only the stacks that import nothing go through them here.
#[tokio::test(flavor = "multi_thread")]
async fn change_sets_create_update_and_skip_stacks() {
    let moto = Moto::start();
    let synth = tempfile::tempdir().unwrap();
    let dir = synth.path();
    write_fixture(dir, "ingest v1", "v1");
    moto.run(&["bootstrap", "--stage", "dev", "--method", "direct"])
        .ok();
    let args = [
        "deploy",
        "--stage",
        "dev",
        "--synth-dir",
        dir.to_str().unwrap(),
        "--require-approval",
        "never",
        "--exclusively",
        "Network",
        "Storage",
    ];
    let created = moto.run(&args).ok();
    assert!(all(&created.results(), "created"), "{}", created.stdout());
    assert!(
        created.stderr().contains(
            "retail-dev-network: its change set left it without outputs or exports (an \
             emulator such as moto): stacks importing from it will fail; on such an endpoint \
             deploy with --method direct"
        ),
        "the emulator's gap is named where it starts: {}",
        created.stderr()
    );
    let unchanged = moto.run(&args).ok();
    assert!(
        all(&unchanged.results(), "unchanged"),
        "{}",
        unchanged.stdout()
    );
    write_fixture(dir, "ingest v1", "v2");
    let updated = moto.run(&args).ok();
    assert!(all(&updated.results(), "updated"), "{}", updated.stdout());
    let deployed = moto
        .cloudformation()
        .get_template()
        .stack_name("retail-dev-network")
        .send()
        .await
        .unwrap();
    let template: serde_json::Value =
        serde_json::from_str(deployed.template_body().unwrap()).unwrap();
    assert_eq!(
        template["Description"], "network (v2)",
        "the large template went through the bucket"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_protected_stack_is_created_protected_and_not_destroyed() {
    let moto = Moto::start();
    let synth = tempfile::tempdir().unwrap();
    let dir = synth.path();
    write_fixture(dir, "ingest v1", "v1");
    let manifest_path = dir.join("manifest.json");
    let mut manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&manifest_path).unwrap()).unwrap();
    for stack in manifest["stacks"].as_array_mut().unwrap() {
        stack["terminationProtection"] = true.into();
    }
    std::fs::write(&manifest_path, manifest.to_string()).unwrap();

    moto.run(&strs(&deploy_args(dir))).ok();
    let described = moto
        .cloudformation()
        .describe_stacks()
        .stack_name("retail-dev-app")
        .send()
        .await
        .unwrap();
    assert_eq!(
        described.stacks()[0].enable_termination_protection(),
        Some(true)
    );

    let destroy = moto.run(&[
        "destroy",
        "--stage",
        "dev",
        "--synth-dir",
        dir.to_str().unwrap(),
        "--force",
    ]);
    assert_eq!(destroy.code(), 1, "{}", destroy.stdout());
    assert!(
        destroy
            .stderr()
            .contains("retail-dev-app has termination protection"),
        "{}",
        destroy.stderr()
    );
    assert!(destroy.stderr().contains("update-termination-protection"));
    assert_eq!(stack_statuses(&moto).await.len(), 5, "nothing was deleted");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_broadening_change_without_a_terminal_is_refused_and_changes_nothing() {
    let moto = Moto::start();
    let synth = tempfile::tempdir().unwrap();
    let dir = synth.path();
    write_fixture(dir, "ingest v1", "v1");
    let args = [
        "deploy",
        "--stage",
        "dev",
        "--synth-dir",
        dir.to_str().unwrap(),
        "--method",
        "direct",
    ];
    let refused = moto.run(&args);
    assert_eq!(refused.code(), 2, "{}", refused.stderr());
    // A table as `cdk deploy` shows it; the JSON only under --verbose.
    let shown = refused.stdout();
    let table: Vec<&str> = shown
        .lines()
        .skip_while(|l| !l.starts_with("Functions"))
        .collect();
    assert!(
        table[1]
            .split_whitespace()
            .eq(["Resource", "Effect", "Action", "Principal", "Condition"]),
        "{shown}"
    );
    assert!(
        table[2..].iter().any(|l| l.split_whitespace().eq([
            "+",
            "${IngestRole}",
            "Allow",
            "sts:AssumeRole",
            "Service:lambda.amazonaws.com"
        ])),
        "{shown}"
    );
    assert!(
        shown.lines().any(|l| l.split_whitespace().eq([
            "+",
            "${Sg}",
            "Allow",
            "ingress",
            "tcp",
            "443",
            "10.0.0.0/8"
        ])),
        "{shown}"
    );
    assert!(!shown.contains("{\""), "no JSON without --verbose: {shown}");
    assert!(refused.stderr().contains("--require-approval never"));
    let mut verbose = args.to_vec();
    verbose.push("--verbose");
    let detailed = moto.run(&verbose);
    assert_eq!(detailed.code(), 2, "{}", detailed.stderr());
    assert!(
        detailed
            .stdout()
            .contains("+ IngestRole trust statement: {\"Action\":\"sts:AssumeRole\""),
        "{}",
        detailed.stdout()
    );
    let stacks: Vec<_> = stack_statuses(&moto)
        .await
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    assert_eq!(
        stacks,
        ["provisioner-toolkit"],
        "only the bootstrap happened"
    );
}

/// The zip of the fixture's one asset (`ingest`).
fn asset_zip(dir: &std::path::Path) -> PathBuf {
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
    dir.join(manifest["assets"][0]["file"].as_str().unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_zip_changed_since_synth_is_refused_before_anything_is_created() {
    let moto = Moto::start();
    let synth = tempfile::tempdir().unwrap();
    let dir = synth.path();
    write_fixture(dir, "ingest v1", "v1");
    let zip = asset_zip(dir);
    std::fs::write(&zip, "garbage\n").unwrap();
    let mut args = deploy_args(dir);
    args.push("Functions".into());
    let refused = moto.run(&strs(&args));
    let stderr = refused.stderr();
    assert_eq!(refused.code(), 2, "{stderr}");
    assert!(
        stderr.contains(&format!(
            "{} is not the asset synth built: its SHA-256 is",
            zip.display()
        )) && stderr.contains("run `provisioner synth --stage dev` again"),
        "{stderr}"
    );
    assert!(
        stack_statuses(&moto).await.is_empty(),
        "not even the toolkit was created"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_damaged_asset_in_the_bucket_is_replaced_by_the_next_deploy() {
    let moto = Moto::start();
    let synth = tempfile::tempdir().unwrap();
    let dir = synth.path();
    write_fixture(dir, "ingest v1", "v1");
    let mut args = deploy_args(dir);
    args.push("Functions".into());
    moto.run(&strs(&args)).ok();
    let zip = std::fs::read(asset_zip(dir)).unwrap();
    let key = asset_zip(dir)
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    let s3 = moto.s3();
    let buckets = s3.list_buckets().send().await.unwrap();
    let bucket = buckets
        .buckets()
        .iter()
        .filter_map(|b| b.name())
        .find(|b| b.contains("assets"))
        .expect("the toolkit's asset bucket")
        .to_owned();
    let read = || async {
        let object = s3
            .get_object()
            .bucket(&bucket)
            .key(&key)
            .send()
            .await
            .unwrap();
        object.body.collect().await.unwrap().into_bytes().to_vec()
    };
    assert_eq!(read().await, zip, "uploaded as built");

    // Overwritten behind provisioner's back (no checksum stored with it).
    s3.put_object()
        .bucket(&bucket)
        .key(&key)
        .body(b"garbage\n".to_vec().into())
        .send()
        .await
        .unwrap();
    let redeployed = moto.run(&strs(&args)).ok();
    assert!(
        all(&redeployed.results(), "unchanged"),
        "{}",
        redeployed.stdout()
    );
    let stderr = redeployed.stderr();
    assert!(
        stderr.contains(&format!(
            "s3://{bucket}/{key} held other bytes than its asset (damaged or overwritten): replaced"
        )) && stderr.contains("assets: 0 uploaded, 1 replaced"),
        "{stderr}"
    );
    assert_eq!(read().await, zip, "the asset is back");

    let again = moto.run(&strs(&args)).ok();
    assert!(
        again
            .stderr()
            .contains("assets: 0 uploaded, 0 replaced, 1 already in"),
        "{}",
        again.stderr()
    );
}

/// The real dev stage as `provisioner synth` writes it (with small fixture
/// zips in place of the built Lambdas).
#[tokio::test(flavor = "multi_thread")]
async fn the_dev_stage_deploys_redeploys_as_no_op_updates_one_function_stack_and_is_destroyed() {
    let moto = Moto::start();
    let synth = tempfile::tempdir().unwrap();
    let dir: PathBuf = synth.path().join("synth");
    synth_dev_stage(&dir);

    let bootstrap = moto
        .run(&["bootstrap", "--stage", "dev", "--method", "direct"])
        .ok();
    let deploy = moto.run(&strs(&deploy_args(&dir))).ok();
    assert!(all(&deploy.results(), "created"), "{}", deploy.stdout());
    let again = moto.run(&strs(&deploy_args(&dir))).ok();
    assert!(all(&again.results(), "unchanged"), "{}", again.stdout());

    // A new build of the query function: only the Api stack, which holds
    // it, is updated.
    synth_dev_stage_with(&dir, &|name| match name {
        "query" => "fixture query v2".to_string(),
        other => format!("fixture {other}"),
    });
    let one_function = moto.run(&strs(&deploy_args(&dir))).ok();
    for (id, result) in one_function.results() {
        let expected = if id == "Api" { "updated" } else { "unchanged" };
        assert_eq!(result, expected, "{id}: {}", one_function.stdout());
    }

    let destroy = moto.run(&[
        "destroy",
        "--stage",
        "dev",
        "--synth-dir",
        dir.to_str().unwrap(),
        "--force",
    ]);
    for (id, result) in destroy.results() {
        // moto cannot delete a VPC gateway attachment or a VPC endpoint, so
        // its DeleteStack of the Network stack fails (synchronously, with
        // EC2's DependencyViolation) and forgets the stack anyway. Real
        // CloudFormation deletes them. What is checked here: the failure is
        // reported with the AWS error, and nothing else is left.
        let moto_vpc_limit = id == "Network" && result.contains("DependencyViolation");
        assert!(
            result == "deleted" || moto_vpc_limit,
            "{id}: {}",
            destroy.stdout()
        );
    }
    assert_eq!(
        stack_statuses(&moto).await,
        [(
            "provisioner-toolkit".to_string(),
            "CREATE_COMPLETE".to_string()
        )],
        "only the toolkit is left"
    );
    println!(
        "dev stage against moto ({} stacks): bootstrap {:.2}s, deploy {:.2}s, no-op redeploy {:.2}s, one function {:.2}s, destroy {:.2}s",
        deploy.results().len(),
        bootstrap.seconds,
        deploy.seconds,
        again.seconds,
        one_function.seconds,
        destroy.seconds
    );
}

/// `destroy --stage prod` leaves prod's data stores in place; creating
/// prod again must not trip over them ("already exists").
#[tokio::test(flavor = "multi_thread")]
async fn prod_is_created_again_after_a_destroy_that_retained_its_data() {
    let moto = Moto::start();
    let synth = tempfile::tempdir().unwrap();
    let dir: PathBuf = synth.path().join("synth");
    synth_stage_with("prod", &dir, &|name| format!("fixture {name}"));
    // Termination protection is another test's subject, and moto cannot
    // turn it off (UpdateTerminationProtection answers 500): left off here.
    let manifest_path = dir.join("manifest.json");
    let mut manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&manifest_path).unwrap()).unwrap();
    for stack in manifest["stacks"].as_array_mut().unwrap() {
        stack["terminationProtection"] = false.into();
    }
    std::fs::write(&manifest_path, manifest.to_string()).unwrap();
    let deploy = [
        "deploy",
        "--stage",
        "prod",
        "--synth-dir",
        dir.to_str().unwrap(),
        "--method",
        "direct",
        "--require-approval",
        "never",
    ];
    moto.run(&["bootstrap", "--stage", "prod", "--method", "direct"])
        .ok();
    let first = moto.run(&deploy).ok();
    assert!(all(&first.results(), "created"), "{}", first.stdout());

    let destroy = moto.run(&[
        "destroy",
        "--stage",
        "prod",
        "--synth-dir",
        dir.to_str().unwrap(),
        "--force",
    ]);
    for (id, result) in destroy.results() {
        // moto's limit on the Network stack, as in the dev stage's test.
        let moto_vpc_limit = id == "Network" && result.contains("DependencyViolation");
        assert!(
            result == "deleted" || moto_vpc_limit,
            "{id}: {}",
            destroy.stdout()
        );
    }

    // moto forgets the Network stack it could not delete but keeps its
    // exports, so only stacks outside Network's dependants can be created
    // again here: Storage, whose buckets and tables prod retained.
    let mut storage = deploy.to_vec();
    storage.push("Storage");
    let again = moto.run(&storage).ok();
    assert_eq!(
        again.results(),
        [("Storage".to_string(), "created".to_string())],
        "{}",
        again.stdout()
    );
}

/// The toolkit as an emulator's change sets leave it (moto: a stack
/// without outputs), made with the SDK as an earlier provisioner did.
async fn toolkit_without_outputs(moto: &Moto) {
    use aws_sdk_cloudformation::types::{Capability, ChangeSetType};
    let cfn = moto.cloudformation();
    let created = cfn
        .create_change_set()
        .stack_name(stacks::assets::TOOLKIT_STACK_NAME)
        .change_set_name("earlier")
        .change_set_type(ChangeSetType::Create)
        .template_body(stacks::toolkit::template_body())
        .capabilities(Capability::CapabilityIam)
        .capabilities(Capability::CapabilityNamedIam)
        .send()
        .await
        .unwrap();
    cfn.execute_change_set()
        .change_set_name(created.id().unwrap())
        .send()
        .await
        .unwrap();
    assert!(toolkit_outputs(moto).await.unwrap().is_empty());
}

/// The toolkit stack's outputs, `None` when there is no toolkit stack.
async fn toolkit_outputs(moto: &Moto) -> Option<Vec<String>> {
    let described = moto
        .cloudformation()
        .describe_stacks()
        .stack_name(stacks::assets::TOOLKIT_STACK_NAME)
        .send()
        .await
        .ok()?;
    let stack = described.stacks()[0].clone();
    Some(
        stack
            .outputs()
            .iter()
            .filter_map(|o| o.output_key().map(str::to_string))
            .collect(),
    )
}

/// Issue 16, item 2: the emulator route with only `AWS_ENDPOINT_URL` (as
/// the README shows) and the default method.
#[tokio::test(flavor = "multi_thread")]
async fn bootstrap_repairs_a_toolkit_without_outputs_and_names_a_leftover_bucket() {
    let moto = Moto::start();
    let bucket = format!("provisioner-assets-{ACCOUNT}-{REGION}");

    // A first bootstrap through change sets ends with its outputs set.
    let first = moto.run(&["bootstrap", "--stage", "dev"]).ok();
    assert!(first.stdout().contains(&bucket), "{}", first.stdout());
    let outputs = toolkit_outputs(&moto).await.unwrap();
    assert!(outputs.contains(&"AssetBucket".to_string()), "{outputs:?}");

    // One left without outputs is repaired, not pointed back at itself.
    moto.cloudformation()
        .delete_stack()
        .stack_name(stacks::assets::TOOLKIT_STACK_NAME)
        .send()
        .await
        .unwrap();
    toolkit_without_outputs(&moto).await;
    let synth = tempfile::tempdir().unwrap();
    write_fixture(synth.path(), "ingest v1", "v1");
    let stopped = moto.run(&strs(&deploy_args(synth.path())));
    assert_eq!(stopped.code(), 2, "{}", stopped.stderr());
    // The preflight finds it before anything changes, with the fix.
    assert!(
        stopped.stdout().contains(
            "the toolkit stack provisioner-toolkit has no usable AssetBucket output -- fix: run \
             `provisioner bootstrap --stage dev`: it updates provisioner-toolkit so its outputs \
             are set"
        ),
        "{}",
        stopped.stdout()
    );
    assert_eq!(stack_statuses(&moto).await.len(), 1, "only the toolkit");
    let repaired = moto.run(&["bootstrap", "--stage", "dev"]).ok();
    assert!(
        repaired
            .stdout()
            .starts_with("provisioner-toolkit updated in eu-west-1"),
        "{}",
        repaired.stdout()
    );
    assert!(
        repaired.stderr().contains("updating it directly"),
        "{}",
        repaired.stderr()
    );
    let outputs = toolkit_outputs(&moto).await.unwrap();
    assert!(outputs.contains(&"AssetBucket".to_string()), "{outputs:?}");
    let again = moto.run(&["bootstrap", "--stage", "dev"]).ok();
    assert!(again.stdout().contains("up to date"), "{}", again.stdout());

    // A deploy then finds its toolkit (moto deploys stacks with
    // --method direct, as the README says).
    moto.run(&strs(&deploy_args(synth.path()))).ok();

    // The toolkit deleted, its bucket (holding assets) stays: bootstrap
    // names it and the way out, under either method, and leaves no stack.
    moto.cloudformation()
        .delete_stack()
        .stack_name(stacks::assets::TOOLKIT_STACK_NAME)
        .send()
        .await
        .unwrap();
    for method in ["change-set", "direct"] {
        let refused = moto.run(&["bootstrap", "--stage", "dev", "--method", method]);
        assert_eq!(refused.code(), 2, "{method}: {}", refused.stderr());
        assert!(
            refused.stderr().contains(&format!(
                "error: the toolkit stack provisioner-toolkit cannot be created: its bucket \
                 {bucket} already exists"
            )),
            "{method}: {}",
            refused.stderr()
        );
        assert!(
            refused
                .stderr()
                .contains(&format!("`aws s3 rb s3://{bucket} --force`")),
            "{method}: {}",
            refused.stderr()
        );
        assert_eq!(
            toolkit_outputs(&moto).await,
            None,
            "{method}: no stack left"
        );
    }

    // Following the hint: the bucket emptied and deleted, bootstrap works.
    let s3 = moto.s3();
    let listed = s3.list_objects_v2().bucket(&bucket).send().await.unwrap();
    assert!(
        !listed.contents().is_empty(),
        "the deploy's assets are kept"
    );
    for object in listed.contents() {
        s3.delete_object()
            .bucket(&bucket)
            .key(object.key().unwrap())
            .send()
            .await
            .unwrap();
    }
    s3.delete_bucket().bucket(&bucket).send().await.unwrap();
    let rebuilt = moto.run(&["bootstrap", "--stage", "dev"]).ok();
    assert!(rebuilt.stdout().contains("created"), "{}", rebuilt.stdout());
}

fn json(ran: &support::Ran) -> serde_json::Value {
    serde_json::from_str(&ran.stdout())
        .unwrap_or_else(|e| panic!("stdout is one JSON document ({e}):\n{}", ran.stdout()))
}

/// Issue 16, item 10: one name for the synth folder (`-o/--output-dir`,
/// with `--out` and `--synth-dir`), `--output json` on deploy, diff and
/// destroy, `--quiet`, and diff's `--all` and `--concurrency`.
#[tokio::test(flavor = "multi_thread")]
async fn deploy_diff_and_destroy_answer_in_json_and_quiet_prints_only_the_result() {
    let moto = Moto::start();
    let synth = tempfile::tempdir().unwrap();
    let dir = synth.path();
    let dir_arg = dir.to_str().unwrap();
    write_fixture(dir, "ingest v1", "v1");

    let deploy = moto
        .run(&[
            "deploy",
            "--stage",
            "dev",
            "-o",
            dir_arg,
            "--method",
            "direct",
            "--require-approval",
            "never",
            "--output",
            "json",
            "--quiet",
        ])
        .ok();
    assert_eq!(deploy.stderr(), "", "--quiet: no progress");
    let report = json(&deploy);
    assert_eq!(report["stage"], "dev");
    assert_eq!(report["result"], "done");
    let results: Vec<(&str, &str)> = report["stacks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["id"].as_str().unwrap(), s["result"].as_str().unwrap()))
        .collect();
    assert_eq!(
        results,
        [
            ("Network", "created"),
            ("Storage", "created"),
            ("Functions", "created"),
            ("App", "created")
        ]
    );
    assert!(
        report["stacks"][0]["outputs"]["VpcId"].is_string(),
        "{report}"
    );

    let unchanged = moto
        .run(&[
            "diff",
            "--stage",
            "dev",
            "--output-dir",
            dir_arg,
            "--all",
            "--concurrency",
            "2",
            "--output",
            "json",
        ])
        .ok();
    let report = json(&unchanged);
    assert_eq!(report["differing"], serde_json::json!([]), "{report}");
    assert_eq!(report["stacks"].as_array().unwrap().len(), 4);

    write_fixture(dir, "ingest v2", "v1");
    let changed = moto.run(&[
        "diff", "--stage", "dev", "--out", dir_arg, "--output", "json", "--fail",
    ]);
    assert_eq!(changed.code(), 1, "{}", changed.stderr());
    let report = json(&changed);
    assert_eq!(
        report["differing"],
        serde_json::json!(["Functions"]),
        "{report}"
    );
    let functions = &report["stacks"][2];
    assert_eq!(functions["id"], "Functions");
    assert_eq!(functions["resources"][0]["logicalId"], "Ingest");
    assert_eq!(functions["resources"][0]["change"], "modified");
    assert!(
        functions["resources"][0]["paths"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!("Properties.Code.S3Key")),
        "{report}"
    );
    let text = moto
        .run(&[
            "diff",
            "--stage",
            "dev",
            "--synth-dir",
            dir_arg,
            "--concurrency",
            "3",
        ])
        .ok();
    let stdout = text.stdout();
    let headers: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("Stack "))
        .map(|l| l.split_whitespace().nth(1).unwrap())
        .collect();
    assert_eq!(
        headers,
        ["Network", "Storage", "Functions", "App"],
        "manifest order"
    );

    let conflicting = moto.run(&["diff", "--stage", "dev", "-o", dir_arg, "--all", "Network"]);
    assert_eq!(conflicting.code(), 2, "{}", conflicting.stderr());
    assert!(
        conflicting.stderr().contains("'--all' cannot be used with"),
        "{}",
        conflicting.stderr()
    );

    let destroy = moto
        .run(&[
            "destroy", "--stage", "dev", "-o", dir_arg, "--force", "--output", "json", "-q",
        ])
        .ok();
    assert_eq!(destroy.stderr(), "");
    let report = json(&destroy);
    assert_eq!(report["result"], "done", "{report}");
    assert!(
        report["stacks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["result"] == "deleted"),
        "{report}"
    );
}
