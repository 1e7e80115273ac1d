//! The model as a specification: references, exports, order and cycles.

use stacks::model::ec2::{SecurityGroup, SecurityGroupIngress, Vpc};
use stacks::model::{App, DeletionPolicy, Expr, Options, Stack, SynthError};

fn network() -> (Stack, stacks::model::Handle<Vpc>) {
    let mut stack = Stack::new("Network", "network").unwrap();
    let vpc = stack
        .add(
            "Vpc",
            Vpc {
                cidr_block: Some("10.0.0.0/16".into()),
                ..Default::default()
            },
        )
        .unwrap();
    (stack, vpc)
}

#[test]
fn a_reference_within_a_stack_is_a_plain_ref() {
    let (mut stack, vpc) = network();
    stack
        .add(
            "Sg",
            SecurityGroup {
                group_description: "x".into(),
                vpc_id: Some(vpc.id().into()),
                ..Default::default()
            },
        )
        .unwrap();
    let mut app = App::new("retail-dev");
    app.add(stack).unwrap();
    let synthesized = app.synth().unwrap();
    let properties = synthesized[0].template.resources["Sg"]
        .properties
        .clone()
        .unwrap();
    assert_eq!(properties["VpcId"], serde_json::json!({"Ref": "Vpc"}));
    assert!(synthesized[0].template.outputs.is_empty());
}

#[test]
fn a_reference_across_stacks_becomes_an_export_an_import_and_a_dependency_with_its_reason() {
    let (network, vpc) = network();
    let mut warehouse = Stack::new("Warehouse", "warehouse").unwrap();
    warehouse
        .add(
            "Sg",
            SecurityGroup {
                group_description: "x".into(),
                vpc_id: Some(vpc.id().into()),
                ..Default::default()
            },
        )
        .unwrap();
    let mut app = App::new("retail-dev");
    app.add(warehouse).unwrap();
    app.add(network).unwrap();

    let synthesized = app.synth().unwrap();
    let ids: Vec<_> = synthesized.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, ["Network", "Warehouse"], "producer deploys first");

    let export = "retail-dev-network:Vpc:Ref";
    assert_eq!(synthesized[0].exports, [export]);
    assert_eq!(
        synthesized[0].template.outputs["ExportVpcRef"]
            .export
            .as_ref()
            .unwrap()
            .name,
        export
    );
    let properties = synthesized[1].template.resources["Sg"]
        .properties
        .clone()
        .unwrap();
    assert_eq!(
        properties["VpcId"],
        serde_json::json!({"Fn::ImportValue": export})
    );
    assert_eq!(synthesized[1].dependencies[0].stack, "Network");
    assert_eq!(
        synthesized[1].dependencies[0].reasons,
        ["Warehouse/Sg -> Network/Vpc"]
    );
}

#[test]
fn a_cycle_between_stacks_is_an_error_that_prints_the_whole_chain() {
    let (mut network, vpc) = network();
    let mut warehouse = Stack::new("Warehouse", "warehouse").unwrap();
    let sg = warehouse
        .add(
            "Sg",
            SecurityGroup {
                group_description: "x".into(),
                vpc_id: Some(vpc.id().into()),
                ..Default::default()
            },
        )
        .unwrap();
    network
        .add(
            "Rule",
            SecurityGroupIngress {
                group_id: sg.group_id().into(),
                ip_protocol: "tcp".into(),
                ..Default::default()
            },
        )
        .unwrap();
    let mut app = App::new("retail-dev");
    app.add(network).unwrap();
    app.add(warehouse).unwrap();

    let err = app.synth().unwrap_err();
    assert!(matches!(err, SynthError::Cycle { .. }));
    let message = err.to_string();
    assert!(
        message
            .contains("Network depends on Warehouse because Network/Rule -> Warehouse/Sg.GroupId"),
        "{message}"
    );
    assert!(
        message.contains("Warehouse depends on Network because Warehouse/Sg -> Network/Vpc"),
        "{message}"
    );
}

#[test]
fn templates_are_byte_stable_with_sorted_keys() {
    let build = || {
        let (mut stack, vpc) = network();
        stack
            .add_with(
                "Sg",
                SecurityGroup {
                    group_description: "x".into(),
                    vpc_id: Some(vpc.id().into()),
                    ..Default::default()
                },
                Options::new()
                    .depends_on(&vpc)
                    .data_policy(DeletionPolicy::Retain),
            )
            .unwrap();
        stack.output("VpcId", vpc.id(), "the vpc").unwrap();
        let mut app = App::new("retail-dev");
        app.add(stack).unwrap();
        app.synth().unwrap().remove(0).body
    };
    let body = build();
    assert_eq!(body, build());
    let keys: Vec<_> = serde_json::from_str::<serde_json::Value>(&body).unwrap()["Resources"]["Sg"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    assert_eq!(
        keys,
        [
            "DeletionPolicy",
            "DependsOn",
            "Properties",
            "Type",
            "UpdateReplacePolicy"
        ]
    );
    let template: stacks::model::Template = serde_json::from_str(&body).unwrap();
    assert_eq!(
        template.to_json(),
        body,
        "a template round-trips through its serde form"
    );
}

#[test]
fn depends_on_across_stacks_is_rejected() {
    let (_network, vpc) = network();
    let mut other = Stack::new("Other", "other").unwrap();
    let err = other
        .add_with(
            "Sg",
            SecurityGroup::default(),
            Options::new().depends_on(&vpc),
        )
        .unwrap_err();
    assert!(err.to_string().contains("Network/Vpc"), "{err}");
}

#[test]
fn the_stack_limit_on_resources_is_checked_at_synth() {
    let mut stack = Stack::new("Big", "big").unwrap();
    for i in 0..501 {
        stack.add(&format!("Vpc{i}"), Vpc::default()).unwrap();
    }
    let mut app = App::new("retail-dev");
    app.add(stack).unwrap();
    let err = app.synth().unwrap_err().to_string();
    assert!(
        err.contains("stack Big") && err.contains("resources: 501 (at most 500)"),
        "{err}"
    );
}

#[test]
fn sub_variables_may_reference_other_stacks() {
    let (network, vpc) = network();
    let mut other = Stack::new("Other", "other").unwrap();
    other
        .output(
            "Arn",
            Expr::sub_with(
                "arn:${AWS::Partition}:ec2:::vpc/${Vpc}",
                [("Vpc", vpc.id())],
            ),
            "x",
        )
        .unwrap();
    let mut app = App::new("retail-dev");
    app.add(network).unwrap();
    app.add(other).unwrap();
    let synthesized = app.synth().unwrap();
    assert_eq!(
        synthesized[1].template.outputs["Arn"].value["Fn::Sub"][1]["Vpc"],
        serde_json::json!({"Fn::ImportValue": "retail-dev-network:Vpc:Ref"})
    );
}
