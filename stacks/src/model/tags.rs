//! Resource tags, shared by every service.

use serde::Serialize;

use super::Value;

/// A `{Key, Value}` tag as most resource types take it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Tag {
    pub key: String,
    pub value: Value<String>,
}

impl Tag {
    pub fn new(key: impl Into<String>, value: impl Into<Value<String>>) -> Self {
        Self {
            key: key.into(),
            value: value.into(),
        }
    }
}

/// Tags from `(key, value)` pairs.
pub fn tags<const N: usize>(pairs: [(&str, &str); N]) -> Option<Vec<Tag>> {
    Some(pairs.into_iter().map(|(k, v)| Tag::new(k, v)).collect())
}
