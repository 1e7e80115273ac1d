//! Check fixtures: templates that must pass and templates that must fail,
//! each for one reason, rendered through the same pipeline as the catalog.

use serde_json::{Value, json};

use super::{PolicyError, Violation, render_source};

macro_rules! fixture {
    ($kind:literal, $name:literal) => {
        (
            $name,
            include_str!(concat!("fixtures/", $kind, "/", $name, ".json.hbs")),
        )
    };
}

fn context() -> Value {
    json!({ "table_arn": { "Fn::GetAtt": ["Invoices", "Arn"] } })
}

fn render_fixture((name, source): (&str, &str)) -> Result<Value, PolicyError> {
    render_source(name, source, &context())
}

fn violation_of(fixture: (&str, &str)) -> Violation {
    match render_fixture(fixture) {
        Err(PolicyError::Violation { violation, .. }) => violation,
        other => panic!("{}: expected a violation, got {other:?}", fixture.0),
    }
}

#[test]
fn fixtures_that_must_pass() {
    for fixture in [
        fixture!("pass", "scoped-resources"),
        fixture!("pass", "requires-star-with-reason"),
        fixture!("pass", "deny-on-everything"),
    ] {
        if let Err(error) = render_fixture(fixture) {
            panic!("{}: {error}", fixture.0);
        }
    }
}

#[test]
fn expressions_are_embedded_as_json_values() {
    let document = render_fixture(fixture!("pass", "scoped-resources")).unwrap();
    assert_eq!(
        document["Statement"][0]["Resource"][1],
        json!({"Fn::Sub": ["${Table}/index/*", {"Table": {"Fn::GetAtt": ["Invoices", "Arn"]}}]})
    );
}

#[test]
fn rejects_the_star_action() {
    assert_eq!(
        violation_of(fixture!("fail", "star-action")),
        Violation::WildcardAction {
            statement: "#1".into(),
            action: "*".into()
        }
    );
}

#[test]
fn rejects_a_service_wide_action() {
    assert_eq!(
        violation_of(fixture!("fail", "service-star-action")),
        Violation::WildcardAction {
            statement: "#1".into(),
            action: "s3:*".into()
        }
    );
}

#[test]
fn rejects_an_action_prefix_wildcard() {
    assert!(matches!(
        violation_of(fixture!("fail", "prefix-wildcard-action")),
        Violation::WildcardAction { action, .. } if action == "dynamodb:Get*"
    ));
}

#[test]
fn rejects_not_action_and_not_resource() {
    assert!(matches!(
        violation_of(fixture!("fail", "not-action")),
        Violation::Negation {
            element: "NotAction",
            ..
        }
    ));
    assert!(matches!(
        violation_of(fixture!("fail", "not-resource")),
        Violation::Negation {
            element: "NotResource",
            ..
        }
    ));
}

#[test]
fn rejects_an_unscoped_resource_without_a_reason() {
    assert_eq!(
        violation_of(fixture!("fail", "unscoped-resource")),
        Violation::UnscopedResource {
            statement: "#1".into(),
            resource: "\"*\"".into()
        }
    );
}

#[test]
fn rejects_an_arn_whose_resource_part_is_a_wildcard() {
    assert!(matches!(
        violation_of(fixture!("fail", "unscoped-arn")),
        Violation::UnscopedResource { .. }
    ));
    assert!(matches!(
        violation_of(fixture!("fail", "unscoped-sub")),
        Violation::UnscopedResource { .. }
    ));
}

#[test]
fn rejects_star_mixed_with_arns_even_with_a_reason() {
    assert!(matches!(
        violation_of(fixture!("fail", "star-among-arns")),
        Violation::UnscopedResource { statement, .. } if statement == "RequiresStarMixed"
    ));
}

#[test]
fn rejects_the_requires_star_marker_on_a_scoped_statement() {
    assert_eq!(
        violation_of(fixture!("fail", "star-marker-on-scoped")),
        Violation::StarMarkerWithoutStar {
            sid: "RequiresStarScoped".into()
        }
    );
}

#[test]
fn rejects_a_requires_star_statement_whose_template_gives_no_reason() {
    let error = render_fixture(fixture!("fail", "star-sid-without-reason")).unwrap_err();
    assert!(
        matches!(&error, PolicyError::Template { problem, .. }
            if problem.contains("statement RequiresStarDescribe needs a {{!-- why: … --}} comment")),
        "{error}"
    );
}

#[test]
fn rejects_a_statement_without_resource() {
    assert_eq!(
        violation_of(fixture!("fail", "missing-resource")),
        Violation::MissingElement {
            statement: "#1".into(),
            element: "Resource"
        }
    );
}

#[test]
fn rejects_a_principal_in_a_permissions_policy() {
    assert!(matches!(
        violation_of(fixture!("fail", "principal")),
        Violation::Principal { .. }
    ));
}

#[test]
fn rejects_duplicate_sids() {
    assert_eq!(
        violation_of(fixture!("fail", "duplicate-sid")),
        Violation::DuplicateSid { sid: "Read".into() }
    );
}

#[test]
fn rejects_an_action_without_a_service_prefix() {
    assert!(matches!(
        violation_of(fixture!("fail", "malformed-action")),
        Violation::MalformedAction { .. }
    ));
}

#[test]
fn rejects_a_literal_resource_that_is_not_an_arn() {
    assert!(matches!(
        violation_of(fixture!("fail", "literal-resource-not-an-arn")),
        Violation::MalformedResource { resource, .. } if resource == "\"Invoices\""
    ));
}

#[test]
fn rejects_an_old_policy_version() {
    assert_eq!(
        violation_of(fixture!("fail", "old-version")),
        Violation::Version {
            found: "\"2008-10-17\"".into()
        }
    );
}

#[test]
fn invalid_json_names_the_template_and_the_line() {
    let error = render_fixture(fixture!("fail", "missing-comma")).unwrap_err();
    let PolicyError::InvalidJson {
        file, line, text, ..
    } = &error
    else {
        panic!("expected invalid JSON, got {error:?}");
    };
    assert_eq!(file, "fixtures/missing-comma.json.hbs");
    // Comments render as their line breaks, so a line of the output is the
    // same line of the template: the statement, line 10, quoted.
    assert_eq!(*line, 10);
    assert!(text.starts_with("{\"Effect\": \"Allow\""), "{text}");
    assert!(error.to_string().contains("at line 10, column"), "{error}");
}

#[test]
fn a_template_reading_an_undocumented_key_is_told_to_document_it() {
    let source = "{{!--\ncontext:\n  table_arn: ARN.\n--}}\n{\"Version\": \"2012-10-17\", \"Statement\": [{\"Effect\": \"Allow\", \"Action\": \"dynamodb:GetItem\", \"Resource\": {{json queue_arn}} }]}";
    let error = render_source("undocumented", source, &context()).unwrap_err();
    assert!(
        matches!(&error, PolicyError::Render { reason, .. }
            if reason.contains("reads `queue_arn`") && reason.contains("add it under `context:`")),
        "{error}"
    );
    assert!(error.to_string().contains("line 5"), "{error}");
}

#[test]
fn a_template_reading_an_optional_key_outside_if_is_told_to_guard_it() {
    let source = "{{!--\ncontext:\n  table_arn: ARN.\n  key_arn (optional): ARN.\n--}}\n{\"Version\": \"2012-10-17\", \"Statement\": [{\"Effect\": \"Allow\", \"Action\": \"kms:Decrypt\", \"Resource\": {{json key_arn}} }]}";
    let error = render_source("unguarded", source, &context()).unwrap_err();
    assert!(
        matches!(&error, PolicyError::Render { reason, .. }
            if reason.contains("optional key `key_arn` outside an {{#if key_arn}} block")),
        "{error}"
    );
}
