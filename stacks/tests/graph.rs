//! The platform's picture, specified against the synthesised templates:
//! every function and data store appears, and data flows along the edges
//! the platform is built for (API → ingest → stream → consumers → stores,
//! Firehose → Redshift, schedule → batch import).

use std::collections::BTreeSet;

use stacks::graph::{Edge, Graph};
use stacks::model::SynthesizedStack;
use stacks::stage::{STAGES, Stage};
use stacks::testing::platform_assets;

fn platform(stage: &Stage) -> Vec<SynthesizedStack> {
    stacks::platform::synth(stage, &platform_assets()).unwrap()
}

fn edges(graph: &Graph) -> BTreeSet<(String, String, String)> {
    graph
        .edges
        .iter()
        .map(|Edge { from, to, label }| (from.clone(), to.clone(), label.clone()))
        .collect()
}

/// `Stack/LogicalId` of every resource of `types` in the templates.
fn resources_of(stacks: &[SynthesizedStack], types: &[&str]) -> BTreeSet<String> {
    stacks
        .iter()
        .flat_map(|s| {
            s.template
                .resources
                .iter()
                .filter(|(_, r)| types.contains(&r.resource_type.as_str()))
                .map(|(id, _)| format!("{}/{id}", s.id))
        })
        .collect()
}

/// The one resource of `resource_type` in `stack` whose logical id contains
/// `name` (logical ids are readable: `IngestFunction`, `InvoicesTable`).
fn node(stacks: &[SynthesizedStack], stack: &str, resource_type: &str, name: &str) -> String {
    let found: Vec<String> = resources_of(stacks, &[resource_type])
        .into_iter()
        .filter(|key| key.starts_with(&format!("{stack}/")) && key.contains(name))
        .collect();
    assert_eq!(
        found.len(),
        1,
        "one {resource_type} named like {name} in {stack}: {found:?}"
    );
    found.into_iter().next().unwrap()
}

#[test]
fn every_function_and_data_store_is_in_the_picture() {
    for stage in STAGES {
        let stacks = platform(stage);
        let graph = Graph::from_stacks(&stacks);
        let stores_and_functions = resources_of(
            &stacks,
            &[
                "AWS::Lambda::Function",
                "AWS::Kinesis::Stream",
                "AWS::KinesisFirehose::DeliveryStream",
                "AWS::S3::Bucket",
                "AWS::DynamoDB::Table",
                "AWS::Redshift::Cluster",
                "AWS::SQS::Queue",
                "AWS::Glue::Database",
                "AWS::Glue::Crawler",
            ],
        );
        let drawn: BTreeSet<String> = graph.nodes.keys().cloned().collect();
        let missing: Vec<_> = stores_and_functions.difference(&drawn).collect();
        assert!(missing.is_empty(), "{}: not drawn {missing:?}", stage.name);
        assert_eq!(graph.stacks.len(), stacks.len());
    }
}

#[test]
fn every_function_is_connected_to_the_data_it_moves() {
    let stacks = platform(&STAGES[0]);
    let graph = Graph::from_stacks(&stacks);
    let touched: BTreeSet<&String> = graph.edges.iter().flat_map(|e| [&e.from, &e.to]).collect();
    for function in resources_of(&stacks, &["AWS::Lambda::Function"]) {
        assert!(touched.contains(&function), "{function} has no edge");
    }
}

#[test]
fn data_flows_from_the_api_through_the_stream_to_every_store() {
    let s = platform(Stage::named("prod").unwrap());
    let graph = Graph::from_stacks(&s);
    let lambda = "AWS::Lambda::Function";
    let ingest = node(&s, "Api", lambda, "Ingest");
    let query = node(&s, "Api", lambda, "Query");
    let post = node(&s, "Api", "AWS::ApiGateway::Method", "Post");
    let stream = node(&s, "Streaming", "AWS::Kinesis::Stream", "");
    let lake_writer = node(&s, "Streaming", lambda, "Lake");
    let dynamodb_writer = node(&s, "Streaming", lambda, "Dynamo");
    let firehose = node(&s, "Streaming", "AWS::KinesisFirehose::DeliveryStream", "");
    let transform = node(&s, "Streaming", lambda, "Transform");
    let lake = node(&s, "Storage", "AWS::S3::Bucket", "Lake");
    let staging = node(&s, "Storage", "AWS::S3::Bucket", "Staging");
    let import = node(&s, "Storage", "AWS::S3::Bucket", "Import");
    let invoices = node(&s, "Storage", "AWS::DynamoDB::Table", "Invoices");
    let customers = node(&s, "Storage", "AWS::DynamoDB::Table", "Customers");
    let cluster = node(&s, "Warehouse", "AWS::Redshift::Cluster", "");
    let schema = node(
        &s,
        "Warehouse",
        "AWS::CloudFormation::CustomResource",
        "Schema",
    );
    let schema_function = node(&s, "Warehouse", lambda, "Schema");
    let schedule = node(&s, "Batch", "AWS::Events::Rule", "");
    let batch_import = node(&s, "Batch", lambda, "Import");
    let files_crawler = node(&s, "Batch", "AWS::Glue::Crawler", "Files");
    let warehouse_crawler = node(&s, "Batch", "AWS::Glue::Crawler", "Warehouse");
    let catalog = node(&s, "Batch", "AWS::Glue::Database", "");
    let lake_failures = node(&s, "Streaming", "AWS::SQS::Queue", "Lake");
    let dynamodb_failures = node(&s, "Streaming", "AWS::SQS::Queue", "Dynamo");

    let drawn = edges(&graph);
    let flows_to = |from: &str, to: &str| drawn.iter().any(|(f, t, _)| f == from && t == to);
    for (from, to) in [
        (&post, &ingest),
        (&ingest, &stream),
        (&stream, &lake_writer),
        (&lake_writer, &lake),
        (&stream, &dynamodb_writer),
        (&dynamodb_writer, &invoices),
        (&dynamodb_writer, &customers),
        (&query, &invoices),
        (&query, &customers),
        (&stream, &firehose),
        (&firehose, &transform),
        (&firehose, &staging),
        (&firehose, &cluster),
        (&schedule, &batch_import),
        (&batch_import, &import),
        (&batch_import, &invoices),
        (&batch_import, &customers),
        (&batch_import, &cluster),
        (&lake_writer, &lake_failures),
        (&dynamodb_writer, &dynamodb_failures),
        (&schema, &schema_function),
        (&schema, &cluster),
        (&import, &files_crawler),
        (&cluster, &warehouse_crawler),
        (&files_crawler, &catalog),
        (&warehouse_crawler, &catalog),
    ] {
        assert!(flows_to(from, to), "no edge {from} → {to} in {drawn:#?}");
    }
    assert!(
        drawn.contains(&(firehose.clone(), cluster.clone(), "COPY".to_string())),
        "Firehose's edge to Redshift is the COPY"
    );
}

#[test]
fn roles_and_log_groups_are_not_drawn() {
    let stacks = platform(&STAGES[0]);
    let graph = Graph::from_stacks(&stacks);
    let plumbing = resources_of(&stacks, &["AWS::IAM::Role", "AWS::Logs::LogGroup"]);
    assert!(!plumbing.is_empty());
    for key in plumbing {
        assert!(!graph.nodes.contains_key(&key), "{key} drawn");
    }
}

#[test]
fn both_formats_name_every_node_and_edge_once() {
    let graph = Graph::from_stacks(&platform(&STAGES[0]));
    let mermaid = graph.to_mermaid();
    let dot = graph.to_dot();
    assert!(mermaid.starts_with("flowchart LR\n"));
    assert!(dot.starts_with("digraph platform {"));
    assert_eq!(mermaid.matches(" -->|").count(), graph.edges.len());
    assert_eq!(dot.matches("\" -> \"").count(), graph.edges.len());
    for node in graph.nodes.values() {
        assert!(
            dot.contains(&format!("\"{}\" [label=", node.key())),
            "{}",
            node.key()
        );
        assert!(
            mermaid.contains(&format!("{}_{}[", node.stack, node.id)),
            "{}",
            node.key()
        );
    }
}

#[test]
fn a_stack_without_data_is_not_drawn_as_an_empty_box() {
    let graph = Graph::from_stacks(&platform(&STAGES[0]));
    assert!(graph.stacks.contains(&"Network".to_string()));
    assert!(!graph.to_mermaid().contains("subgraph Network"));
    assert!(!graph.to_dot().contains("cluster_Network"));
}

/// The README shows `provisioner graph` of `prod` and of `prod-private` as
/// they are, in that order: this fails when the platform changes and the
/// pictures do not (`UPDATE_README=1` rewrites them; review the diff).
#[test]
fn the_readme_pictures_are_the_prod_and_prod_private_graphs() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md");
    let mut readme = std::fs::read_to_string(path).expect("README.md beside the workspace");
    for (n, stage) in ["prod", "prod-private"].into_iter().enumerate() {
        let picture = readme
            .split("```mermaid\n")
            .nth(n + 1)
            .and_then(|rest| rest.split("```").next())
            .unwrap_or_else(|| panic!("README.md has no ```mermaid block {} ({stage})", n + 1))
            .to_owned();
        let graph = Graph::from_stacks(&platform(Stage::named(stage).unwrap())).to_mermaid();
        if std::env::var_os("UPDATE_README").is_some() {
            readme = readme.replacen(&picture, &graph, 1);
            std::fs::write(path, &readme).unwrap();
            continue;
        }
        assert_eq!(
            picture,
            graph,
            "README's picture {} is stale: replace it with `provisioner graph --stage {stage}`",
            n + 1
        );
    }
}
