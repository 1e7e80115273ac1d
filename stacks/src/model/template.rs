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
        // Going through `serde_json::Value` sorts keys at every level
        // (serde_json's map is a BTreeMap without `preserve_order`).
        let value = serde_json::to_value(self).expect("templates are plain JSON data");
        let mut body = serde_json::to_string_pretty(&value).expect("JSON values always serialise");
        body.push('\n');
        body
    }
}
