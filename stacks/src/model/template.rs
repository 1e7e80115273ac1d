//! The rendered template: what CloudFormation reads, with sorted keys.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::DeletionPolicy;

pub const FORMAT_VERSION: &str = "2010-09-09";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Template {
    #[serde(rename = "AWSTemplateFormatVersion")]
    pub format_version: String,
    #[serde(
        rename = "Description",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub description: Option<String>,
    #[serde(rename = "Metadata", skip_serializing_if = "Option::is_none", default)]
    pub metadata: Option<serde_json::Value>,
    #[serde(
        rename = "Parameters",
        skip_serializing_if = "BTreeMap::is_empty",
        default
    )]
    pub parameters: BTreeMap<String, ParameterDef>,
    #[serde(
        rename = "Conditions",
        skip_serializing_if = "BTreeMap::is_empty",
        default
    )]
    pub conditions: BTreeMap<String, serde_json::Value>,
    #[serde(rename = "Resources")]
    pub resources: BTreeMap<String, ResourceDef>,
    #[serde(
        rename = "Outputs",
        skip_serializing_if = "BTreeMap::is_empty",
        default
    )]
    pub outputs: BTreeMap<String, OutputDef>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ResourceDef {
    #[serde(rename = "Type")]
    pub resource_type: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub properties: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub depends_on: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub deletion_policy: Option<DeletionPolicy>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub update_replace_policy: Option<DeletionPolicy>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub condition: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub metadata: Option<serde_json::Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct OutputDef {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub description: Option<String>,
    pub value: serde_json::Value,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub export: Option<ExportDef>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub condition: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ExportDef {
    pub name: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ParameterDef {
    #[serde(rename = "Type")]
    pub parameter_type: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub default: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub allowed_values: Vec<serde_json::Value>,
    #[serde(skip_serializing_if = "std::ops::Not::not", default)]
    pub no_echo: bool,
}

impl Template {
    /// Pretty JSON with every object's keys sorted and a final newline: the
    /// same model gives the same bytes.
    pub fn to_json(&self) -> String {
        let value = serde_json::to_value(self).expect("templates are plain JSON data");
        let mut body = serde_json::to_string_pretty(&sorted_keys(value))
            .expect("JSON values always serialise");
        body.push('\n');
        body
    }
}

/// `value` with the keys of every object in sorted order.
///
/// Sorted explicitly rather than by relying on serde_json's map being a
/// `BTreeMap`: any crate in a build can turn on serde_json's
/// `preserve_order` feature, and feature unification then changes the map
/// for everyone (a workspace-wide `cargo test` did exactly that).
pub fn sorted_keys(value: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::Object(map) => {
            let mut entries: Vec<_> = map.into_iter().collect();
            entries.sort_by(|(a, _), (b, _)| a.cmp(b));
            Value::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k, sorted_keys(v)))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.into_iter().map(sorted_keys).collect()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression: a workspace-wide `cargo test` enabled serde_json's
    /// `preserve_order` and the goldens failed on key order.
    #[test]
    fn keys_are_sorted_whatever_order_they_were_inserted_in() {
        let mut map = serde_json::Map::new();
        map.insert(
            "b".into(),
            serde_json::json!({"z": 1, "a": [{"y": 1, "x": 2}]}),
        );
        map.insert("a".into(), serde_json::json!(1));
        let text = serde_json::to_string(&sorted_keys(serde_json::Value::Object(map))).unwrap();
        assert_eq!(text, r#"{"a":1,"b":{"a":[{"x":2,"y":1}],"z":1}}"#);
    }
}
