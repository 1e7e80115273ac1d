//! Assertions on templates for tests, in the spirit of CDK's
//! `Template.hasResourceProperties`: match the parts a test cares about.

use serde_json::Value;

use crate::assets::AssetTable;
use crate::model::{ResourceDef, Template};

/// Every function the platform deploys, by asset name (the crates of
/// `lambdas/` with a `src/main.rs`; `tests/platform.rs` checks the two
/// agree). The order fixes the fake hashes of [`platform_assets`], which
/// the golden templates hold.
pub const PLATFORM_FUNCTIONS: [&str; 9] = [
    "batch-import",
    "dynamodb-writer",
    "firehose-transform",
    "ingest",
    "lake-writer",
    "query",
    "warehouse-schema",
    "warehouse-loader",
    "secret-rotation",
];

/// A stand-in asset (fixed fake hash) for every function of the platform.
pub fn platform_assets() -> AssetTable {
    AssetTable::fixture(&PLATFORM_FUNCTIONS)
}

/// Does `actual` match `pattern`? Objects match when every key of the
/// pattern is present and matches (extra keys are allowed); arrays match
/// element by element with the same length; other values must be equal.
pub fn matches(actual: &Value, pattern: &Value) -> bool {
    match (actual, pattern) {
        (Value::Object(actual), Value::Object(pattern)) => pattern
            .iter()
            .all(|(k, p)| actual.get(k).is_some_and(|a| matches(a, p))),
        (Value::Array(actual), Value::Array(pattern)) => {
            actual.len() == pattern.len() && actual.iter().zip(pattern).all(|(a, p)| matches(a, p))
        }
        (actual, pattern) => actual == pattern,
    }
}

/// Resources of a type, with their logical ids.
pub fn resources_of_type<'a>(
    template: &'a Template,
    resource_type: &str,
) -> Vec<(&'a str, &'a ResourceDef)> {
    template
        .resources
        .iter()
        .filter(|(_, r)| r.resource_type == resource_type)
        .map(|(id, r)| (id.as_str(), r))
        .collect()
}

/// Logical ids of the resources of `resource_type` whose properties match.
pub fn find_resources_with_properties(
    template: &Template,
    resource_type: &str,
    pattern: &Value,
) -> Vec<String> {
    resources_of_type(template, resource_type)
        .into_iter()
        .filter(|(_, r)| matches(r.properties.as_ref().unwrap_or(&Value::Null), pattern))
        .map(|(id, _)| id.to_string())
        .collect()
}

/// Panics with the candidates when no resource of the type matches.
#[track_caller]
pub fn assert_has_resource_properties(template: &Template, resource_type: &str, pattern: Value) {
    if find_resources_with_properties(template, resource_type, &pattern).is_empty() {
        let candidates: Vec<_> = resources_of_type(template, resource_type)
            .into_iter()
            .map(|(id, r)| {
                format!(
                    "{id}: {}",
                    serde_json::to_string_pretty(&r.properties).unwrap_or_default()
                )
            })
            .collect();
        panic!(
            "no {resource_type} has properties matching\n{}\ncandidates:\n{}",
            serde_json::to_string_pretty(&pattern).unwrap_or_default(),
            candidates.join("\n")
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn objects_match_on_the_keys_of_the_pattern() {
        assert!(matches(
            &json!({"a": 1, "b": {"c": 2, "d": 3}}),
            &json!({"b": {"c": 2}})
        ));
        assert!(!matches(&json!({"a": 1}), &json!({"a": 2})));
        assert!(!matches(&json!({"a": 1}), &json!({"z": 1})));
    }

    #[test]
    fn arrays_match_element_by_element() {
        assert!(matches(&json!([{"a": 1, "b": 2}]), &json!([{"a": 1}])));
        assert!(!matches(&json!([1, 2]), &json!([1])));
    }
}
