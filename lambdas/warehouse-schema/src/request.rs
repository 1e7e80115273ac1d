//! The CloudFormation custom resource request, read leniently: whatever
//! else is wrong with an event, if it names a `ResponseURL` the function
//! can still answer FAILED instead of letting the stack wait an hour.
//! (<https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/crpg-ref-requests.html>)

use serde::Deserialize;

/// The fields of a request, each optional so a malformed event still
/// yields what is needed to answer it.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Request {
    pub request_type: Option<String>,
    #[serde(rename = "ResponseURL")]
    pub response_url: Option<String>,
    pub stack_id: Option<String>,
    pub request_id: Option<String>,
    pub logical_resource_id: Option<String>,
    /// Absent on Create.
    pub physical_resource_id: Option<String>,
    #[serde(default)]
    pub resource_properties: serde_json::Value,
}

impl Request {
    /// Reads an event; a value that is not even an object reads as empty.
    pub fn from_event(event: &serde_json::Value) -> Request {
        let text = |name: &str| event.get(name).and_then(|v| v.as_str()).map(str::to_owned);
        Request {
            request_type: text("RequestType"),
            response_url: text("ResponseURL"),
            stack_id: text("StackId"),
            request_id: text("RequestId"),
            logical_resource_id: text("LogicalResourceId"),
            physical_resource_id: text("PhysicalResourceId"),
            resource_properties: event.get("ResourceProperties").cloned().unwrap_or_default(),
        }
    }
}

/// What the custom resource is asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestType {
    Create,
    Update,
    Delete,
}

impl RequestType {
    pub fn parse(text: Option<&str>) -> Option<RequestType> {
        match text? {
            "Create" => Some(RequestType::Create),
            "Update" => Some(RequestType::Update),
            "Delete" => Some(RequestType::Delete),
            _ => None,
        }
    }
}

/// `ResourceProperties` of the `Custom::` resource. Everything that may
/// change is a property, so changing it makes CloudFormation send an
/// Update, which re-runs the DDL. `ServiceToken` and unknown properties
/// are ignored.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Properties {
    /// The Redshift cluster the Data API runs on.
    pub cluster_identifier: String,
    /// The database holding `public.transactions`.
    pub database: String,
    /// The Secrets Manager secret the Data API authenticates with: the
    /// master user's, the only one that may create users.
    pub secret_arn: String,
    /// The secrets of the users the schema creates ([`crate::users`]).
    pub owner_secret_arn: String,
    pub loader_secret_arn: String,
    pub reader_secret_arn: String,
    /// Optional and otherwise unused: the stack can set it to a hash of
    /// this function's code so that changed SQL is re-run on deploy
    /// (CloudFormation sends Update only when a property changes).
    #[serde(default)]
    pub schema_version: Option<String>,
}

impl Properties {
    pub fn from_value(value: &serde_json::Value) -> Result<Properties, serde_json::Error> {
        let properties = Properties::deserialize(value)?;
        for (name, text) in [
            ("ClusterIdentifier", &properties.cluster_identifier),
            ("Database", &properties.database),
            ("SecretArn", &properties.secret_arn),
            ("OwnerSecretArn", &properties.owner_secret_arn),
            ("LoaderSecretArn", &properties.loader_secret_arn),
            ("ReaderSecretArn", &properties.reader_secret_arn),
        ] {
            if text.is_empty() {
                return Err(serde::de::Error::custom(format!("{name} is empty")));
            }
        }
        Ok(properties)
    }
}
