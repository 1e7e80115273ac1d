//! The app: all stacks of a stage, rendered together so that references
//! across stacks become exports, imports and ordered dependencies.

use std::collections::{BTreeMap, BTreeSet};

use crate::manifest::Dependency;

use super::ModelError;
use super::stack::Stack;
use super::template::{ExportDef, FORMAT_VERSION, OutputDef, ResourceDef, Template};
use super::value::REFERENCE_MARKER;

/// CloudFormation quotas checked at synth, so a deploy never discovers them.
/// <https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/cloudformation-limits.html>
pub mod limits {
    /// Template body in an S3 object (1 MB).
    pub const MAX_TEMPLATE_BYTES: usize = 1024 * 1024;
    /// Template body passed inline; above it deploy goes through the asset bucket.
    pub const MAX_INLINE_TEMPLATE_BYTES: usize = 51_200;
    pub const MAX_RESOURCES: usize = 500;
    pub const MAX_OUTPUTS: usize = 200;
    pub const MAX_PARAMETERS: usize = 200;
    pub const MAX_STACK_NAME_LEN: usize = 128;
}

/// One rendered stack, ready to be written out.
#[derive(Debug, Clone)]
pub struct SynthesizedStack {
    pub id: String,
    pub stack_name: String,
    pub template: Template,
    /// `template.to_json()`, rendered once.
    pub body: String,
    pub dependencies: Vec<Dependency>,
    pub exports: Vec<String>,
    pub assets: Vec<String>,
    /// The account it deploys into, when the stage names one.
    pub account: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum SynthError {
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error("stack {stack} is defined twice")]
    DuplicateStack { stack: String },
    #[error("{location} references {target}, which is not in the app")]
    UnknownReference { location: String, target: String },
    #[error(
        "stack {stack} exceeds the CloudFormation limit on {limit}: {value} (at most {max}); \
         split the stack or reduce it"
    )]
    Limit {
        stack: String,
        limit: &'static str,
        value: usize,
        max: usize,
    },
    #[error("stacks depend on each other in a cycle:\n{chain}")]
    Cycle { chain: String },
    #[error(
        "{location} (account {consumer_account}) references {target} (account \
         {producer_account}): CloudFormation exports do not cross accounts; pass the value by a \
         name both accounts compute at synth (see stacks::platform::cross_account)"
    )]
    CrossAccountReference {
        location: String,
        target: String,
        consumer_account: String,
        producer_account: String,
    },
}

/// The stacks of one stage. Stack names are `<prefix>-<kebab-case id>`.
#[derive(Debug)]
pub struct App {
    prefix: String,
    stacks: Vec<Stack>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Reference {
    producer: String,
    resource: String,
    attribute: Option<String>,
}

impl Reference {
    fn describe(&self) -> String {
        match &self.attribute {
            Some(attribute) => format!("{}/{}.{attribute}", self.producer, self.resource),
            None => format!("{}/{}", self.producer, self.resource),
        }
    }

    /// Output id in the producer, e.g. `ExportRedshiftSgGroupId`.
    fn output_id(&self) -> String {
        let attribute = self.attribute.as_deref().unwrap_or("Ref").replace('.', "");
        format!("Export{}{attribute}", self.resource)
    }

    /// Export names are unique per account and region, hence the stack name.
    fn export_name(&self, producer_stack_name: &str) -> String {
        let attribute = self.attribute.as_deref().unwrap_or("Ref").replace('.', "-");
        format!("{producer_stack_name}:{}:{attribute}", self.resource)
    }
}

impl App {
    pub fn new(prefix: impl Into<String>) -> Self {
        Self {
            prefix: prefix.into(),
            stacks: Vec::new(),
        }
    }

    pub fn add(&mut self, stack: Stack) -> Result<(), SynthError> {
        if self.stacks.iter().any(|s| s.id == stack.id) {
            return Err(SynthError::DuplicateStack { stack: stack.id });
        }
        self.stacks.push(stack);
        Ok(())
    }

    pub fn stack_name(&self, id: &str) -> String {
        format!("{}-{}", self.prefix, kebab_case(id))
    }

    /// Renders every stack and returns them in deploy order.
    pub fn synth(&self) -> Result<Vec<SynthesizedStack>, SynthError> {
        // Pass 1: resolve references; collect what each stack imports.
        let mut rendered = BTreeMap::new();
        let mut imports: BTreeMap<String, BTreeMap<Reference, BTreeSet<String>>> = BTreeMap::new();
        for stack in &self.stacks {
            let mut resolver = Resolver {
                app: self,
                consumer: &stack.id,
                imports: imports.entry(stack.id.clone()).or_default(),
            };
            rendered.insert(stack.id.clone(), resolver.render(stack)?);
        }

        // Pass 2: each producer exports what others import.
        let mut exports: BTreeMap<String, BTreeSet<Reference>> = BTreeMap::new();
        for references in imports.values() {
            for reference in references.keys() {
                exports
                    .entry(reference.producer.clone())
                    .or_default()
                    .insert(reference.clone());
            }
        }

        let order = self.deploy_order(&imports)?;
        let mut result = Vec::with_capacity(order.len());
        for id in order {
            let stack = self.get(&id);
            let stack_name = self.stack_name(&id);
            let mut template = rendered.remove(&id).expect("every stack was rendered");
            let mut export_names = Vec::new();
            for reference in exports.get(&id).into_iter().flatten() {
                let name = reference.export_name(&stack_name);
                let value = match &reference.attribute {
                    None => serde_json::json!({ "Ref": reference.resource }),
                    Some(a) => serde_json::json!({ "Fn::GetAtt": [reference.resource, a] }),
                };
                template.outputs.insert(
                    reference.output_id(),
                    OutputDef {
                        description: Some(format!(
                            "Imported by other stacks: {}",
                            reference.describe()
                        )),
                        value,
                        export: Some(ExportDef {
                            name: name.clone().into(),
                        }),
                        condition: None,
                    },
                );
                export_names.push(name);
            }
            let dependencies = imports[&id]
                .iter()
                .fold(
                    BTreeMap::<String, Vec<String>>::new(),
                    |mut deps, (reference, locations)| {
                        let reasons = deps.entry(reference.producer.clone()).or_default();
                        for location in locations {
                            reasons.push(format!("{location} -> {}", reference.describe()));
                        }
                        deps
                    },
                )
                .into_iter()
                .map(|(stack, reasons)| Dependency { stack, reasons })
                .collect();
            let body = template.to_json();
            let synthesized = SynthesizedStack {
                id: id.clone(),
                stack_name,
                body,
                template,
                dependencies,
                exports: export_names,
                assets: stack.assets.iter().cloned().collect(),
                account: stack.account.clone(),
            };
            check_limits(&synthesized)?;
            result.push(synthesized);
        }
        Ok(result)
    }

    fn get(&self, id: &str) -> &Stack {
        self.stacks
            .iter()
            .find(|s| s.id == id)
            .expect("stack ids come from the app")
    }

    /// Topological order; among stacks ready at the same time, sorted by id,
    /// so the order only changes when dependencies do.
    fn deploy_order(
        &self,
        imports: &BTreeMap<String, BTreeMap<Reference, BTreeSet<String>>>,
    ) -> Result<Vec<String>, SynthError> {
        let depends_on = |id: &str| -> BTreeSet<String> {
            imports[id].keys().map(|r| r.producer.clone()).collect()
        };
        let mut remaining: BTreeSet<String> = self.stacks.iter().map(|s| s.id.clone()).collect();
        let mut order = Vec::new();
        while !remaining.is_empty() {
            let ready: Vec<String> = remaining
                .iter()
                .filter(|id| depends_on(id).iter().all(|p| !remaining.contains(p)))
                .cloned()
                .collect();
            if ready.is_empty() {
                return Err(SynthError::Cycle {
                    chain: describe_cycle(&remaining, imports),
                });
            }
            for id in ready {
                remaining.remove(&id);
                order.push(id);
            }
        }
        Ok(order)
    }
}

/// Walks from any stack in the cycle until a stack repeats, then prints the
/// loop with the reason of each edge.
fn describe_cycle(
    remaining: &BTreeSet<String>,
    imports: &BTreeMap<String, BTreeMap<Reference, BTreeSet<String>>>,
) -> String {
    let edge = |from: &str| -> (String, String) {
        let (reference, locations) = imports[from]
            .iter()
            .find(|(r, _)| remaining.contains(&r.producer))
            .expect("every stack left in a cycle depends on another one left");
        let location = locations.iter().next().cloned().unwrap_or_default();
        (
            reference.producer.clone(),
            format!("{location} -> {}", reference.describe()),
        )
    };
    let mut path: Vec<String> = vec![remaining.iter().next().cloned().unwrap_or_default()];
    loop {
        let (next, _) = edge(path.last().expect("path is never empty"));
        if let Some(start) = path.iter().position(|s| *s == next) {
            let cycle = &path[start..];
            return cycle
                .iter()
                .map(|from| {
                    let (to, reason) = edge(from);
                    format!("  {from} depends on {to} because {reason}")
                })
                .collect::<Vec<_>>()
                .join("\n");
        }
        path.push(next);
    }
}

fn check_limits(stack: &SynthesizedStack) -> Result<(), SynthError> {
    use limits::*;
    let checks = [
        (
            "template size in bytes",
            stack.body.len(),
            MAX_TEMPLATE_BYTES,
        ),
        ("resources", stack.template.resources.len(), MAX_RESOURCES),
        ("outputs", stack.template.outputs.len(), MAX_OUTPUTS),
        (
            "parameters",
            stack.template.parameters.len(),
            MAX_PARAMETERS,
        ),
        (
            "stack name length",
            stack.stack_name.len(),
            MAX_STACK_NAME_LEN,
        ),
    ];
    for (limit, value, max) in checks {
        if value > max {
            return Err(SynthError::Limit {
                stack: stack.id.clone(),
                limit,
                value,
                max,
            });
        }
    }
    Ok(())
}

fn kebab_case(id: &str) -> String {
    let mut out = String::with_capacity(id.len() + 4);
    for (i, c) in id.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('-');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

/// Replaces reference markers of one stack's values.
struct Resolver<'a> {
    app: &'a App,
    consumer: &'a str,
    imports: &'a mut BTreeMap<Reference, BTreeSet<String>>,
}

impl Resolver<'_> {
    fn render(&mut self, stack: &Stack) -> Result<Template, SynthError> {
        let mut resources = BTreeMap::new();
        for (id, entry) in &stack.resources {
            let location = format!("{}/{id}", stack.id);
            let properties = self.resolve(&entry.properties, &location)?;
            let empty = properties.as_object().is_some_and(|o| o.is_empty());
            resources.insert(
                id.to_string(),
                ResourceDef {
                    resource_type: entry.resource_type.to_string(),
                    properties: (!empty).then_some(properties),
                    depends_on: entry.depends_on.clone(),
                    deletion_policy: entry.deletion_policy,
                    update_replace_policy: entry.update_replace_policy,
                    condition: entry.condition.clone(),
                    metadata: entry.metadata.clone(),
                },
            );
        }
        for (id, entry) in &stack.resources {
            for dependency in &entry.depends_on {
                if !resources.contains_key(dependency) {
                    return Err(SynthError::UnknownReference {
                        location: format!("{}/{id} DependsOn", stack.id),
                        target: format!("{}/{dependency}", stack.id),
                    });
                }
            }
        }
        let mut outputs = BTreeMap::new();
        for (id, entry) in &stack.outputs {
            let location = format!("{}/Outputs/{id}", stack.id);
            outputs.insert(
                id.to_string(),
                OutputDef {
                    description: Some(entry.description.clone()),
                    value: self.resolve(&entry.value, &location)?,
                    export: None,
                    condition: None,
                },
            );
        }
        let mut conditions = BTreeMap::new();
        for (id, value) in &stack.conditions {
            let location = format!("{}/Conditions/{id}", stack.id);
            conditions.insert(id.to_string(), self.resolve(value, &location)?);
        }
        Ok(Template {
            format_version: FORMAT_VERSION.to_string(),
            description: Some(stack.description.clone()),
            metadata: None,
            parameters: stack
                .parameters
                .iter()
                .map(|(id, p)| (id.to_string(), p.clone()))
                .collect(),
            conditions,
            resources,
            outputs,
        })
    }

    fn resolve(
        &mut self,
        value: &serde_json::Value,
        location: &str,
    ) -> Result<serde_json::Value, SynthError> {
        use serde_json::Value;
        Ok(match value {
            Value::Object(map) => match map.get(REFERENCE_MARKER) {
                Some(marker) if map.len() == 1 => self.reference(marker, location)?,
                _ => Value::Object(
                    map.iter()
                        .map(|(k, v)| Ok((k.clone(), self.resolve(v, location)?)))
                        .collect::<Result<_, SynthError>>()?,
                ),
            },
            Value::Array(items) => Value::Array(
                items
                    .iter()
                    .map(|v| self.resolve(v, location))
                    .collect::<Result<_, _>>()?,
            ),
            other => other.clone(),
        })
    }

    fn reference(
        &mut self,
        marker: &serde_json::Value,
        location: &str,
    ) -> Result<serde_json::Value, SynthError> {
        let field = |name: &str| {
            marker
                .get(name)
                .and_then(|v| v.as_str())
                .map(str::to_string)
        };
        let reference = Reference {
            producer: field("Stack").unwrap_or_default(),
            resource: field("Resource").unwrap_or_default(),
            attribute: field("Attribute"),
        };
        let exists = self.app.stacks.iter().any(|s| {
            s.id == reference.producer
                && crate::model::LogicalId::new(reference.resource.as_str())
                    .is_ok_and(|id| s.resources.contains_key(&id))
        });
        if !exists {
            return Err(SynthError::UnknownReference {
                location: location.to_string(),
                target: reference.describe(),
            });
        }
        if reference.producer != self.consumer {
            let account_of = |id: &str| {
                self.app
                    .stacks
                    .iter()
                    .find(|s| s.id == id)
                    .and_then(|s| s.account.clone())
            };
            let (consumer_account, producer_account) =
                (account_of(self.consumer), account_of(&reference.producer));
            if consumer_account != producer_account {
                let name = |account: Option<String>| {
                    account.unwrap_or_else(|| "of the deploying credentials".to_string())
                };
                return Err(SynthError::CrossAccountReference {
                    location: location.to_string(),
                    target: reference.describe(),
                    consumer_account: name(consumer_account),
                    producer_account: name(producer_account),
                });
            }
        }
        if reference.producer == self.consumer {
            return Ok(match &reference.attribute {
                None => serde_json::json!({ "Ref": reference.resource }),
                Some(a) => serde_json::json!({ "Fn::GetAtt": [reference.resource, a] }),
            });
        }
        let export = reference.export_name(&self.app.stack_name(&reference.producer));
        self.imports
            .entry(reference)
            .or_default()
            .insert(location.to_string());
        Ok(serde_json::json!({ "Fn::ImportValue": export }))
    }
}
