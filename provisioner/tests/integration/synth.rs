//! `provisioner synth` and `list` as a user sees them.

use std::fs;

use provisioner::commands::{graph, list, synth};
use stacks::assets::AssetTable;
use stacks::manifest::Manifest;
use stacks::stage::Stage;

fn fixture_assets() -> AssetTable {
    stacks::testing::platform_assets()
}

fn synthesize(stage: &str) -> synth::Synthesis {
    synth::synthesize(Stage::named(stage).unwrap(), &fixture_assets(), Vec::new()).unwrap()
}

#[test]
fn synth_writes_a_manifest_and_one_template_per_stack_and_replaces_the_previous_output() {
    let root = tempfile::tempdir().unwrap();
    let out = root.path().join("synth");
    fs::create_dir_all(&out).unwrap();
    fs::write(out.join("stale.template.json"), "{}").unwrap();

    let synthesis = synthesize("dev");
    let staging = synth::staging_dir(&out).unwrap();
    synth::write_into(staging.path(), &synthesis).unwrap();
    synth::publish(staging, &out).unwrap();

    let manifest: Manifest =
        serde_json::from_str(&fs::read_to_string(out.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest.stage, "dev");
    for stack in &manifest.stacks {
        let body = fs::read_to_string(out.join(&stack.template_file)).unwrap();
        assert_eq!(body.len() as u64, stack.template_bytes);
    }
    assert!(
        !out.join("stale.template.json").exists(),
        "old output is replaced, not merged"
    );
    let leftovers: Vec<_> = fs::read_dir(root.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(leftovers, ["synth"], "no temporary folder is left behind");
}

#[test]
fn synth_is_deterministic() {
    let a = synthesize("prod");
    let b = synthesize("prod");
    assert_eq!(a.manifest, b.manifest);
    let bodies = |s: &synth::Synthesis| s.stacks.iter().map(|t| t.body.clone()).collect::<Vec<_>>();
    assert_eq!(bodies(&a), bodies(&b));
}

#[test]
fn a_failing_synth_writes_nothing() {
    let mut stage = Stage::named("dev").unwrap().clone();
    stage.region = "xx-nowhere-1";
    let err = synth::synthesize(&stage, &fixture_assets(), Vec::new()).unwrap_err();
    assert_eq!(err.code, provisioner::failure::ExitCode::Usage);
    assert!(format!("{err}").contains("xx-nowhere-1"), "{err}");
}

#[test]
fn an_unknown_stack_name_lists_the_known_ones() {
    let synthesis = synthesize("dev");
    let err = synth::find_stack(&synthesis, "Nope").unwrap_err();
    let message = format!("{err}");
    assert!(
        message.contains("no stack named \"Nope\"") && message.contains("Network"),
        "{message}"
    );
    assert_eq!(
        synth::find_stack(&synthesis, "network").unwrap().id,
        "Network"
    );
}

#[test]
fn list_prints_stacks_in_deploy_order_with_the_reasons_of_each_dependency() {
    let synthesis = synthesize("dev");
    let mut out = Vec::new();
    list::print(&synthesis, provisioner::output::Format::Text, &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(
        text.starts_with("1. Network (retail-dev-network)"),
        "{text}"
    );
    for stack in &synthesis.manifest.stacks {
        for dependency in &stack.dependencies {
            for reason in &dependency.reasons {
                assert!(
                    text.contains(reason.as_str()),
                    "{reason} missing from\n{text}"
                );
            }
        }
    }
}

fn fixture_builder() -> impl FnMut(
    &std::path::Path,
    &mut dyn std::io::Write,
) -> Result<
    (AssetTable, Vec<stacks::manifest::AssetEntry>),
    provisioner::failure::Failure,
> {
    |_dir, _progress| Ok((fixture_assets(), Vec::new()))
}

#[test]
fn synth_of_one_stack_prints_its_template_and_writes_no_folder() {
    let root = tempfile::tempdir().unwrap();
    let out = root.path().join("synth");
    let mut stdout = Vec::new();
    let stage = Stage::named("dev").unwrap();
    synth::run(
        stage,
        &out,
        Some("network"),
        &mut fixture_builder(),
        &mut stdout,
        &mut Vec::new(),
    )
    .unwrap();
    let expected = synthesize("dev");
    assert_eq!(
        String::from_utf8(stdout).unwrap(),
        synth::find_stack(&expected, "Network").unwrap().body
    );
    assert!(!out.exists());
    assert_eq!(
        fs::read_dir(root.path()).unwrap().count(),
        0,
        "the staging folder is cleaned up"
    );
}

#[test]
fn synth_prints_a_table_of_stacks_resources_and_bytes() {
    let root = tempfile::tempdir().unwrap();
    let out = root.path().join("synth");
    let mut stdout = Vec::new();
    synth::run(
        Stage::named("prod").unwrap(),
        &out,
        None,
        &mut fixture_builder(),
        &mut stdout,
        &mut Vec::new(),
    )
    .unwrap();
    let text = String::from_utf8(stdout).unwrap();
    assert!(text.starts_with("STACK"), "{text}");
    assert!(text.contains("retail-prod-network"), "{text}");
    assert!(out.join("manifest.json").is_file());
}

#[test]
fn a_failed_asset_build_leaves_the_previous_output_untouched() {
    let root = tempfile::tempdir().unwrap();
    let out = root.path().join("synth");
    fs::create_dir_all(&out).unwrap();
    fs::write(out.join("manifest.json"), "previous").unwrap();
    let mut failing = |_: &std::path::Path, _: &mut dyn std::io::Write| {
        Err(provisioner::failure::Failure::usage(anyhow::anyhow!(
            "cargo-lambda failed for ingest"
        )))
    };
    let err = synth::run(
        Stage::named("dev").unwrap(),
        &out,
        None,
        &mut failing,
        &mut Vec::new(),
        &mut Vec::new(),
    )
    .unwrap_err();
    assert_eq!(err.code, provisioner::failure::ExitCode::Usage);
    assert_eq!(
        fs::read_to_string(out.join("manifest.json")).unwrap(),
        "previous"
    );
    assert_eq!(
        fs::read_dir(root.path()).unwrap().count(),
        1,
        "no staging folder left behind"
    );
}

#[test]
fn an_output_folder_that_cannot_be_written_is_a_usage_error() {
    let root = tempfile::tempdir().unwrap();
    let blocker = root.path().join("file");
    fs::write(&blocker, "").unwrap();
    let out = blocker.join("synth");
    let err = synth::run(
        Stage::named("dev").unwrap(),
        &out,
        None,
        &mut fixture_builder(),
        &mut Vec::new(),
        &mut Vec::new(),
    )
    .unwrap_err();
    assert_eq!(err.code, provisioner::failure::ExitCode::Usage);
    assert!(format!("{err}").contains("--out"), "{err}");
}

fn synth_folder(stage: &str) -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    let staging = synth::staging_dir(&root.path().join("synth")).unwrap();
    synth::write_into(staging.path(), &synthesize(stage)).unwrap();
    synth::publish(staging, &root.path().join("synth")).unwrap();
    root
}

#[test]
fn graph_draws_every_function_of_the_synth_output_in_both_formats() {
    let root = synth_folder("dev");
    let synth_dir = root.path().join("synth");
    let functions: Vec<String> = synthesize("dev")
        .stacks
        .iter()
        .flat_map(|s| {
            let template: serde_json::Value = serde_json::from_str(&s.body).unwrap();
            template["Resources"]
                .as_object()
                .unwrap()
                .iter()
                .filter(|(_, r)| r["Type"] == "AWS::Lambda::Function")
                .map(|(id, _)| format!("{}/{id}", s.id))
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(functions.len(), 8);
    for format in [graph::Format::Mermaid, graph::Format::Dot] {
        let mut out = Vec::new();
        graph::run(&synth_dir, "dev", format, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        for function in &functions {
            let id = match format {
                graph::Format::Mermaid => function.replace('/', "_"),
                graph::Format::Dot => format!("\"{function}\""),
            };
            assert!(text.contains(&id), "{format:?} lacks {function}:\n{text}");
        }
    }
}

#[test]
fn graph_of_another_stage_than_synthesised_says_to_synth_it() {
    let root = synth_folder("dev");
    let err = graph::run(
        &root.path().join("synth"),
        "prod",
        graph::Format::Mermaid,
        &mut Vec::new(),
    )
    .unwrap_err();
    assert_eq!(err.code, provisioner::failure::ExitCode::Usage);
    assert!(
        err.to_string()
            .contains("synthesised for stage dev, not prod"),
        "{err}"
    );
    assert!(
        err.to_string().contains("provisioner synth --stage prod"),
        "{err}"
    );
}
