//! Logical ids of resources, outputs, parameters and conditions.

use std::fmt;

use serde::Serialize;

use super::ModelError;

/// A CloudFormation logical id: ASCII letters and digits, 1 to 255 chars.
///
/// Invalid ids are rejected, never filtered: CDK's filtering made `A-B` and
/// `AB` collide. <https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/resources-section-structure.html>
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct LogicalId(String);

/// Maximum length of a logical id.
pub const MAX_LOGICAL_ID_LEN: usize = 255;

impl LogicalId {
    pub fn new(id: impl Into<String>) -> Result<Self, ModelError> {
        let id = id.into();
        let reason = if id.is_empty() {
            Some("it is empty".to_string())
        } else if id.len() > MAX_LOGICAL_ID_LEN {
            Some(format!(
                "it is {} characters long, the limit is {MAX_LOGICAL_ID_LEN}",
                id.len()
            ))
        } else {
            id.chars()
                .find(|c| !c.is_ascii_alphanumeric())
                .map(|c| format!("{c:?} is not an ASCII letter or digit"))
        };
        match reason {
            None => Ok(Self(id)),
            Some(reason) => Err(ModelError::InvalidLogicalId { id, reason }),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for LogicalId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_letters_and_digits() {
        assert_eq!(
            LogicalId::new("RedshiftSg2").unwrap().as_str(),
            "RedshiftSg2"
        );
    }

    #[test]
    fn rejects_instead_of_filtering_punctuation() {
        let err = LogicalId::new("Redshift-Sg").unwrap_err().to_string();
        assert!(err.contains("Redshift-Sg") && err.contains("'-'"), "{err}");
    }

    #[test]
    fn rejects_empty_and_overlong_ids() {
        assert!(LogicalId::new("").is_err());
        assert!(LogicalId::new("A".repeat(255)).is_ok());
        assert!(LogicalId::new("A".repeat(256)).is_err());
    }
}
