//! The platform as synthesised, joined with what CloudFormation deployed:
//! each stack's template and, when the stack is deployed, the physical id
//! of each resource. References in templates (`Ref`, `Fn::GetAtt`,
//! `Fn::ImportValue`, `Fn::Sub`) are followed and resolved here, so the
//! areas ask "which group does the cluster use?" and get an id.

use std::collections::BTreeMap;

use serde_json::Value;
use stacks::manifest::{AssetEntry, Manifest};
use stacks::model::{ResourceDef, SynthesizedStack, Template};

use super::Check;
use crate::deploy::cfn::Cfn;
use crate::deploy::error::DeployError;
use crate::deploy::status::Phase;
use crate::failure::Failure;

#[derive(Debug)]
pub struct Platform {
    pub stage: String,
    pub region: String,
    pub partition: String,
    /// From the ARN of a deployed stack; `None` when nothing is deployed.
    pub account: Option<String>,
    pub stacks: Vec<DeployedStack>,
    pub assets: Vec<AssetEntry>,
}

#[derive(Debug)]
pub struct DeployedStack {
    pub id: String,
    pub stack_name: String,
    pub template: Template,
    /// Logical id to physical id; `None` when the stack is not deployed.
    pub physical: Option<BTreeMap<String, String>>,
}

/// One resource of the synth output.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    pub stack: &'a DeployedStack,
    pub logical: &'a str,
    pub def: &'a ResourceDef,
}

/// Why a resource's actual state cannot be looked at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unavailable {
    StackNotDeployed {
        stack_name: String,
    },
    NotInStack {
        stack_name: String,
        logical: String,
    },
    /// Listed, but CloudFormation reports no physical id for it.
    NoPhysicalId {
        stack_name: String,
        logical: String,
    },
}

impl<'a> Target<'a> {
    pub fn props(&self) -> &'a Value {
        self.def.properties.as_ref().unwrap_or(&Value::Null)
    }

    pub fn physical(&self) -> Result<&'a str, Unavailable> {
        let physical =
            self.stack
                .physical
                .as_ref()
                .ok_or_else(|| Unavailable::StackNotDeployed {
                    stack_name: self.stack.stack_name.clone(),
                })?;
        let stack_name = self.stack.stack_name.clone();
        let logical = self.logical.to_string();
        match physical.get(self.logical).map(String::as_str) {
            None => Err(Unavailable::NotInStack {
                stack_name,
                logical,
            }),
            Some("") => Err(Unavailable::NoPhysicalId {
                stack_name,
                logical,
            }),
            Some(id) => Ok(id),
        }
    }

    /// `Stack/Logical`, as the user reads it in the templates.
    pub fn path(&self) -> String {
        format!("{}/{}", self.stack.id, self.logical)
    }
}

impl Platform {
    /// Reads each stack of `manifest` from CloudFormation: its status and,
    /// when deployed, its resources' physical ids.
    pub async fn load(
        manifest: &Manifest,
        stacks: Vec<SynthesizedStack>,
        cfn: &Cfn,
    ) -> Result<Self, Failure> {
        let into_failure = |e: DeployError| e.into_failure_in(&manifest.stage);
        let mut deployed = Vec::new();
        let mut stack_arn = None;
        for stack in stacks {
            let state = cfn
                .describe(&stack.stack_name)
                .await
                .map_err(into_failure)?;
            let physical = match state {
                Some(state) if !matches!(state.phase(), Phase::FailedCreate | Phase::Review) => {
                    stack_arn.get_or_insert(state.id);
                    let resources = cfn
                        .resources(&stack.stack_name)
                        .await
                        .map_err(into_failure)?;
                    Some(resources.into_iter().map(|(l, _, p)| (l, p)).collect())
                }
                _ => None,
            };
            deployed.push(DeployedStack {
                id: stack.id,
                stack_name: stack.stack_name,
                template: stack.template,
                physical,
            });
        }
        // arn:PARTITION:cloudformation:REGION:ACCOUNT:stack/NAME/ID
        let arn_part = |i: usize| {
            stack_arn
                .as_deref()
                .and_then(|arn| arn.split(':').nth(i))
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        };
        Ok(Self {
            stage: manifest.stage.clone(),
            region: manifest.region.clone(),
            partition: arn_part(1).unwrap_or_else(|| "aws".to_string()),
            account: arn_part(4),
            stacks: deployed,
            assets: manifest.assets.clone(),
        })
    }

    /// Every resource of `resource_type`, stacks in deploy order, then by
    /// logical id.
    pub fn resources(&self, resource_type: &str) -> Vec<Target<'_>> {
        self.stacks
            .iter()
            .flat_map(|stack| {
                stack
                    .template
                    .resources
                    .iter()
                    .filter(move |(_, def)| def.resource_type == resource_type)
                    .map(move |(logical, def)| Target {
                        stack,
                        logical,
                        def,
                    })
            })
            .collect()
    }

    pub fn target<'a>(&'a self, stack: &'a DeployedStack, logical: &str) -> Option<Target<'a>> {
        let (logical, def) = stack.template.resources.get_key_value(logical)?;
        Some(Target {
            stack,
            logical,
            def,
        })
    }

    /// The resource a `Ref`, `Fn::GetAtt` or `Fn::ImportValue` in `from`'s
    /// template points at (following an import to its exporting stack).
    pub fn referenced<'a>(&'a self, from: &'a DeployedStack, value: &Value) -> Option<Target<'a>> {
        if let Some(logical) = value.get("Ref").and_then(Value::as_str) {
            return self.target(from, logical);
        }
        if let Some(logical) = value
            .get("Fn::GetAtt")
            .and_then(|a| a.get(0))
            .and_then(Value::as_str)
        {
            return self.target(from, logical);
        }
        let (producer, exported) = self.import(value.get("Fn::ImportValue")?)?;
        self.referenced(producer, exported)
    }

    /// The exporting stack and the exported value of an import's name.
    fn import<'a>(&'a self, name: &Value) -> Option<(&'a DeployedStack, &'a Value)> {
        let name = name.as_str()?;
        self.stacks.iter().find_map(|stack| {
            let output = stack.template.outputs.values().find(|o| {
                o.export
                    .as_ref()
                    .is_some_and(|e| e.name.as_str() == Some(name))
            })?;
            Some((stack, &output.value))
        })
    }

    /// A template value as its deployed string, e.g. an ARN in a policy.
    pub fn resolve(&self, from: &DeployedStack, value: &Value) -> Result<String, Unresolved> {
        let unresolved = || Unresolved(value.to_string());
        if let Some(text) = value.as_str() {
            return Ok(text.to_string());
        }
        if let Some(name) = value.get("Ref").and_then(Value::as_str) {
            if let Some(pseudo) = self.pseudo(name) {
                return pseudo.ok_or_else(unresolved);
            }
            let target = self.target(from, name).ok_or_else(unresolved)?;
            return target
                .physical()
                .map(str::to_string)
                .map_err(|_| unresolved());
        }
        if let Some(getatt) = value.get("Fn::GetAtt") {
            let logical = getatt
                .get(0)
                .and_then(Value::as_str)
                .ok_or_else(unresolved)?;
            let attribute = getatt
                .get(1)
                .and_then(Value::as_str)
                .ok_or_else(unresolved)?;
            let target = self.target(from, logical).ok_or_else(unresolved)?;
            return self.attribute(target, attribute).ok_or_else(unresolved);
        }
        if let Some(name) = value.get("Fn::ImportValue") {
            let (producer, exported) = self.import(name).ok_or_else(unresolved)?;
            return self.resolve(producer, exported);
        }
        if let Some(sub) = value.get("Fn::Sub") {
            return self.substitute(from, sub).ok_or_else(unresolved);
        }
        if let Some([separator, parts]) = value
            .get("Fn::Join")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
        {
            let parts: Result<Vec<_>, _> = parts
                .as_array()
                .ok_or_else(unresolved)?
                .iter()
                .map(|p| self.resolve(from, p))
                .collect();
            return Ok(parts?.join(separator.as_str().ok_or_else(unresolved)?));
        }
        Err(unresolved())
    }

    /// `Some(None)`: a pseudo parameter whose value is not known yet.
    fn pseudo(&self, name: &str) -> Option<Option<String>> {
        Some(match name {
            "AWS::Region" => Some(self.region.clone()),
            "AWS::Partition" => Some(self.partition.clone()),
            "AWS::AccountId" => self.account.clone(),
            "AWS::URLSuffix" => Some("amazonaws.com".to_string()),
            _ => return None,
        })
    }

    fn substitute(&self, from: &DeployedStack, sub: &Value) -> Option<String> {
        let (text, variables) = match sub {
            Value::String(text) => (text.as_str(), None),
            Value::Array(pair) => (pair.first()?.as_str()?, pair.get(1)?.as_object()),
            _ => return None,
        };
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let end = rest[start..].find('}')? + start;
            let name = &rest[start + 2..end];
            let value = match variables.and_then(|v| v.get(name)) {
                Some(value) => self.resolve(from, value).ok()?,
                None => match name.split_once('.') {
                    Some((logical, attribute)) => {
                        self.attribute(self.target(from, logical)?, attribute)?
                    }
                    None => self
                        .resolve(from, &serde_json::json!({ "Ref": name }))
                        .ok()?,
                },
            };
            out.push_str(&value);
            rest = &rest[end + 1..];
        }
        out.push_str(rest);
        Some(out)
    }

    /// `Fn::GetAtt` of the attributes policies and references use: ARNs
    /// built from the physical id the way each service names them.
    fn attribute(&self, target: Target<'_>, attribute: &str) -> Option<String> {
        let id = target.physical().ok()?;
        if attribute != "Arn" {
            return None;
        }
        let (p, r) = (&self.partition, &self.region);
        let a = self.account.as_deref()?;
        Some(match target.def.resource_type.as_str() {
            "AWS::S3::Bucket" => format!("arn:{p}:s3:::{id}"),
            "AWS::DynamoDB::Table" => format!("arn:{p}:dynamodb:{r}:{a}:table/{id}"),
            "AWS::Kinesis::Stream" => format!("arn:{p}:kinesis:{r}:{a}:stream/{id}"),
            // The physical id of a queue is its URL; the name is its last part.
            "AWS::SQS::Queue" => format!("arn:{p}:sqs:{r}:{a}:{}", id.rsplit('/').next()?),
            "AWS::Lambda::Function" => format!("arn:{p}:lambda:{r}:{a}:function:{id}"),
            "AWS::IAM::Role" => format!("arn:{p}:iam::{a}:role/{id}"),
            "AWS::Logs::LogGroup" => format!("arn:{p}:logs:{r}:{a}:log-group:{id}:*"),
            "AWS::KinesisFirehose::DeliveryStream" => {
                format!("arn:{p}:firehose:{r}:{a}:deliverystream/{id}")
            }
            "AWS::Glue::Database" => format!("arn:{p}:glue:{r}:{a}:database/{id}"),
            _ => return None,
        })
    }

    /// The failing check for a resource that cannot be looked at.
    pub fn unavailable(&self, component: &str, name: &str, why: &Unavailable) -> Check {
        match why {
            Unavailable::StackNotDeployed { stack_name } => Check::fail(
                component,
                name,
                format!("stack {stack_name} is not deployed"),
                format!(
                    "deploy the stage first: provisioner deploy --stage {}",
                    self.stage
                ),
            ),
            Unavailable::NotInStack {
                stack_name,
                logical,
            } => Check::fail(
                component,
                name,
                format!("{logical} is not among the resources of the deployed stack {stack_name}"),
                format!(
                    "deploy the stage again (the synth output is newer than the deployment): \
                     provisioner deploy --stage {}",
                    self.stage
                ),
            ),
            Unavailable::NoPhysicalId {
                stack_name,
                logical,
            } => Check::fail(
                component,
                name,
                format!("CloudFormation reports no physical id for {logical} in {stack_name}"),
                format!(
                    "look at the stack's events for {logical} (aws cloudformation \
                     describe-stack-events --stack-name {stack_name}), then deploy the stage \
                     again: provisioner deploy --stage {}",
                    self.stage
                ),
            ),
        }
    }
}

/// A template value that cannot be turned into its deployed string.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot resolve {0} against the deployed stacks")]
pub struct Unresolved(pub String);

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A platform of `stacks` (id, template JSON, physical ids or `None`).
    /// (logical id, physical id) of a deployed stack's resources.
    type Physical<'a> = Option<Vec<(&'a str, &'a str)>>;

    pub(crate) fn platform(stacks: Vec<(&str, Value, Physical<'_>)>) -> Platform {
        Platform {
            stage: "dev".into(),
            region: "eu-west-1".into(),
            partition: "aws".into(),
            account: Some("123456789012".into()),
            stacks: stacks
                .into_iter()
                .map(|(id, template, physical)| DeployedStack {
                    id: id.into(),
                    stack_name: format!("retail-dev-{}", id.to_lowercase()),
                    template: serde_json::from_value(template).unwrap(),
                    physical: physical.map(|p| {
                        p.into_iter()
                            .map(|(l, p)| (l.to_string(), p.to_string()))
                            .collect()
                    }),
                })
                .collect(),
            assets: Vec::new(),
        }
    }

    fn two_stacks() -> Platform {
        platform(vec![
            (
                "Storage",
                serde_json::json!({
                    "AWSTemplateFormatVersion": "2010-09-09",
                    "Resources": { "Lake": { "Type": "AWS::S3::Bucket" } },
                    "Outputs": { "ExportLakeArn": {
                        "Value": { "Fn::GetAtt": ["Lake", "Arn"] },
                        "Export": { "Name": "retail-dev-storage:Lake:Arn" } } }
                }),
                Some(vec![("Lake", "retail-dev-lake-1a2b")]),
            ),
            (
                "Streaming",
                serde_json::json!({
                    "AWSTemplateFormatVersion": "2010-09-09",
                    "Resources": { "Logs": { "Type": "AWS::Logs::LogGroup" } }
                }),
                Some(vec![("Logs", "/aws/lambda/writer")]),
            ),
        ])
    }

    #[test]
    fn imports_resolve_to_the_producers_deployed_arn() {
        let platform = two_stacks();
        let streaming = &platform.stacks[1];
        let value = serde_json::json!({ "Fn::Sub": ["${Bucket}/raw/*",
            { "Bucket": { "Fn::ImportValue": "retail-dev-storage:Lake:Arn" } }] });
        assert_eq!(
            platform.resolve(streaming, &value).unwrap(),
            "arn:aws:s3:::retail-dev-lake-1a2b/raw/*"
        );
        let referenced = platform
            .referenced(
                streaming,
                &serde_json::json!({ "Fn::ImportValue": "retail-dev-storage:Lake:Arn" }),
            )
            .unwrap();
        assert_eq!(referenced.path(), "Storage/Lake");
    }

    #[test]
    fn pseudo_parameters_and_refs_resolve_inside_sub() {
        let platform = two_stacks();
        let value = serde_json::json!({ "Fn::Sub": [
            "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:${LogGroup}:*",
            { "LogGroup": { "Ref": "Logs" } }] });
        assert_eq!(
            platform.resolve(&platform.stacks[1], &value).unwrap(),
            "arn:aws:logs:eu-west-1:123456789012:log-group:/aws/lambda/writer:*"
        );
    }

    #[test]
    fn a_reference_to_an_unknown_resource_is_unresolved_not_guessed() {
        let platform = two_stacks();
        let value = serde_json::json!({ "Fn::GetAtt": ["Missing", "Arn"] });
        assert!(platform.resolve(&platform.stacks[1], &value).is_err());
    }
}
