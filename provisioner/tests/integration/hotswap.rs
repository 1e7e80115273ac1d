//! `provisioner deploy --hotswap` end to end against moto, on the real dev
//! stage: a code-only change reaches Lambda through `UpdateFunctionCode`
//! without a stack update; any other change falls back to CloudFormation
//! and says why; prod is refused without `--hotswap-prod`.
//!
//! Deploys use `--method direct` (moto's change sets give stacks no
//! exports, see e2e_moto.rs). Wall times are printed (`--nocapture`).

use crate::support;

use std::path::Path;

use aws_credential_types::Credentials;
use sha2::{Digest, Sha256};
use support::{Moto, REGION, deploy_args, strs, synth_dev_stage, synth_dev_stage_with};

fn lambda(moto: &Moto) -> aws_sdk_lambda::Client {
    let config = aws_sdk_lambda::Config::builder()
        .behavior_version_latest()
        .http_client(provisioner::aws::https_client())
        .region(aws_sdk_lambda::config::Region::new(REGION))
        .endpoint_url(&moto.url)
        .credentials_provider(Credentials::new("testing", "testing", None, None, "e2e"))
        .build();
    aws_sdk_lambda::Client::from_conf(config)
}

/// The functions of the Api and Streaming stacks: logical id to its
/// `CodeSha256`. (moto answers GetFunctionConfiguration of the Batch
/// stack's function with an internal error, so it is left out.)
async fn code_of_functions(moto: &Moto) -> Vec<(String, String)> {
    let cfn = moto.cloudformation();
    let mut found = Vec::new();
    for stack in ["retail-dev-api", "retail-dev-streaming"] {
        let resources = cfn
            .list_stack_resources()
            .stack_name(stack)
            .send()
            .await
            .unwrap();
        for r in resources.stack_resource_summaries() {
            if r.resource_type() == Some("AWS::Lambda::Function") {
                let config = lambda(moto)
                    .get_function_configuration()
                    .function_name(r.physical_resource_id().unwrap())
                    .send()
                    .await
                    .unwrap();
                found.push((
                    r.logical_resource_id().unwrap().to_string(),
                    config.code_sha256().unwrap().to_string(),
                ));
            }
        }
    }
    found.sort();
    found
}

/// What CloudFormation holds of a stack: last update time and template.
async fn stack_record(moto: &Moto, stack: &str) -> (String, String) {
    let cfn = moto.cloudformation();
    let described = cfn
        .describe_stacks()
        .stack_name(stack)
        .send()
        .await
        .unwrap();
    let updated = format!("{:?}", described.stacks()[0].last_updated_time());
    let template = cfn.get_template().stack_name(stack).send().await.unwrap();
    (updated, template.template_body().unwrap().to_string())
}

/// Lambda's `CodeSha256` of the synthesised asset `name`.
fn asset_code_sha(dir: &Path, name: &str) -> String {
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
    let asset = manifest["assets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == name)
        .unwrap();
    let zip = std::fs::read(dir.join(asset["file"].as_str().unwrap())).unwrap();
    aws_smithy_types::base64::encode(Sha256::digest(&zip))
}

/// Edits one resource of a synthesised template, keeping the manifest's
/// hash of it in step (as a synth of that change would).
fn edit_template(dir: &Path, stack: &str, edit: impl FnOnce(&mut serde_json::Value)) {
    let manifest_path = dir.join("manifest.json");
    let mut manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&manifest_path).unwrap()).unwrap();
    let entry = manifest["stacks"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|s| s["id"] == stack)
        .unwrap();
    let path = dir.join(entry["templateFile"].as_str().unwrap());
    let mut template: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    edit(&mut template);
    let mut body = serde_json::to_string_pretty(&template).unwrap();
    body.push('\n');
    std::fs::write(&path, &body).unwrap();
    entry["templateSha256"] = hex::encode(Sha256::digest(body.as_bytes())).into();
    entry["templateBytes"] = body.len().into();
    std::fs::write(
        &manifest_path,
        serde_json::to_string_pretty(&manifest).unwrap(),
    )
    .unwrap();
}

fn hotswap_args(dir: &Path) -> Vec<String> {
    let mut args = deploy_args(dir);
    args.push("--hotswap".into());
    args
}

fn result_of(results: &[(String, String)], id: &str) -> String {
    results
        .iter()
        .find(|(i, _)| i == id)
        .map(|(_, r)| r.clone())
        .unwrap_or_default()
}

/// A new build of one function, given each function's zip content.
fn new_build_of(function: &'static str) -> impl Fn(&str) -> String {
    move |name| {
        if name == function {
            format!("fixture {name} v2")
        } else {
            format!("fixture {name}")
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_code_only_change_is_hotswapped_without_a_stack_update_until_the_next_deploy() {
    let moto = Moto::start();
    let synth = tempfile::tempdir().unwrap();
    let dir = synth.path().join("synth");
    synth_dev_stage(&dir);
    moto.run(&["bootstrap", "--stage", "dev", "--method", "direct"])
        .ok();
    moto.run(&strs(&deploy_args(&dir))).ok();
    let code_before = code_of_functions(&moto).await;
    assert!(
        code_before.contains(&("IngestFunction".into(), asset_code_sha(&dir, "ingest"))),
        "CloudFormation created ingest with its asset: {code_before:?}"
    );
    let api_before = stack_record(&moto, "retail-dev-api").await;

    synth_dev_stage_with(&dir, &new_build_of("ingest"));
    let hotswap = moto.run(&strs(&hotswap_args(&dir))).ok();
    let results = hotswap.results();
    for (id, result) in &results {
        let expected = if id == "Api" {
            "hotswapped IngestFunction"
        } else {
            "unchanged"
        };
        assert_eq!(result, expected, "{id}: {}", hotswap.stdout());
    }
    assert!(
        hotswap
            .stdout()
            .contains("warning: hotswapped code drifts from its stack: the templates of Api"),
        "{}",
        hotswap.stdout()
    );
    assert!(
        !hotswap.stdout().contains("fell back"),
        "{}",
        hotswap.stdout()
    );

    // Only ingest's code changed, to the new asset; the stack did not move.
    let code_after = code_of_functions(&moto).await;
    let new_sha = asset_code_sha(&dir, "ingest");
    for ((id, before), (_, after)) in code_before.iter().zip(&code_after) {
        let expected = if id == "IngestFunction" {
            &new_sha
        } else {
            before
        };
        assert_eq!(after, expected, "{id}");
    }
    assert_ne!(code_before, code_after);
    assert_eq!(
        stack_record(&moto, "retail-dev-api").await,
        api_before,
        "no stack update: same LastUpdatedTime and template"
    );

    // Hotswapping again sends nothing: the function already runs the asset.
    let again = moto.run(&strs(&hotswap_args(&dir))).ok();
    assert_eq!(
        result_of(&again.results(), "Api"),
        "hotswapped IngestFunction (already running this code)",
        "{}",
        again.stdout()
    );

    // The same change through CloudFormation: the stack is back in step.
    let normal = moto.run(&strs(&deploy_args(&dir))).ok();
    assert_eq!(
        result_of(&normal.results(), "Api"),
        "updated",
        "{}",
        normal.stdout()
    );
    assert_ne!(stack_record(&moto, "retail-dev-api").await, api_before);
    let settled = moto.run(&strs(&deploy_args(&dir))).ok();
    assert!(
        settled.results().iter().all(|(_, r)| r == "unchanged"),
        "{}",
        settled.stdout()
    );
    println!(
        "one function's new code against moto: hotswap {:.2}s, normal deploy of the same change {:.2}s",
        hotswap.seconds, normal.seconds
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stack_with_a_non_code_change_falls_back_and_says_why_while_others_hotswap() {
    let moto = Moto::start();
    let synth = tempfile::tempdir().unwrap();
    let dir = synth.path().join("synth");
    synth_dev_stage(&dir);
    moto.run(&["bootstrap", "--stage", "dev", "--method", "direct"])
        .ok();
    moto.run(&strs(&deploy_args(&dir))).ok();
    let streaming_before = stack_record(&moto, "retail-dev-streaming").await;
    let api_before = stack_record(&moto, "retail-dev-api").await;

    // New code for ingest (Api) and lake-writer (Streaming); the Api stack
    // also gets a longer timeout for ingest.
    synth_dev_stage_with(&dir, &|name| match name {
        "ingest" | "lake-writer" => format!("fixture {name} v2"),
        _ => format!("fixture {name}"),
    });
    edit_template(&dir, "Api", |t| {
        t["Resources"]["IngestFunction"]["Properties"]["Timeout"] = 25.into();
    });
    let run = moto.run(&strs(&hotswap_args(&dir))).ok();
    let results = run.results();
    assert_eq!(result_of(&results, "Api"), "updated", "{}", run.stdout());
    assert_eq!(
        result_of(&results, "Streaming"),
        "hotswapped LakeWriterFunction",
        "{}",
        run.stdout()
    );
    assert!(
        run.stdout().contains(
            "hotswap: Api fell back to a CloudFormation deploy: IngestFunction Properties.Timeout changed"
        ),
        "{}",
        run.stdout()
    );
    assert!(
        run.stdout()
            .contains("the templates of Streaming still name"),
        "{}",
        run.stdout()
    );
    assert_ne!(
        stack_record(&moto, "retail-dev-api").await,
        api_before,
        "Api went through CloudFormation"
    );
    assert_eq!(
        stack_record(&moto, "retail-dev-streaming").await,
        streaming_before,
        "Streaming did not"
    );
    let code = code_of_functions(&moto).await;
    assert!(
        code.contains(&(
            "LakeWriterFunction".into(),
            asset_code_sha(&dir, "lake-writer")
        )),
        "{code:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn prod_refuses_hotswap_without_hotswap_prod_and_changes_nothing() {
    let moto = Moto::start();
    let synth = tempfile::tempdir().unwrap();
    let dir = synth.path().to_str().unwrap();
    let refused = moto.run(&["deploy", "--stage", "prod", "--synth-dir", dir, "--hotswap"]);
    assert_eq!(refused.code(), 2, "{}", refused.stderr());
    assert!(
        refused
            .stderr()
            .contains("--hotswap refused for stage prod"),
        "{}",
        refused.stderr()
    );
    assert!(
        refused.stderr().contains("--hotswap-prod"),
        "{}",
        refused.stderr()
    );
    let listed = moto.cloudformation().list_stacks().send().await;
    assert!(
        listed.unwrap().stack_summaries().is_empty(),
        "not even the toolkit was created"
    );

    // With --hotswap-prod the refusal is lifted: what stops it now is the
    // missing synth output of prod.
    let forced = moto.run(&[
        "deploy",
        "--stage",
        "prod",
        "--synth-dir",
        dir,
        "--hotswap",
        "--hotswap-prod",
    ]);
    assert!(!forced.stderr().contains("refused"), "{}", forced.stderr());
    let alone = moto.run(&[
        "deploy",
        "--stage",
        "prod",
        "--synth-dir",
        dir,
        "--hotswap-prod",
    ]);
    assert_eq!(
        alone.code(),
        2,
        "--hotswap-prod means nothing without --hotswap"
    );
    // The flag's old name is refused with its new one, not taken as CDK's
    // "deploy even if unchanged".
    let old = moto.run(&[
        "deploy",
        "--stage",
        "prod",
        "--synth-dir",
        dir,
        "--hotswap",
        "--force",
    ]);
    assert_eq!(old.code(), 2, "{}", old.stderr());
    assert!(
        old.stderr()
            .contains("deploy has no --force: a hotswap on a protected stage is --hotswap-prod"),
        "{}",
        old.stderr()
    );
    let listed = moto.cloudformation().list_stacks().send().await;
    assert!(
        listed.unwrap().stack_summaries().is_empty(),
        "nothing was created"
    );
}
