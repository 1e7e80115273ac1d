//! A stack under construction: resources, outputs, parameters, conditions.

use std::collections::{BTreeMap, BTreeSet};

use super::template::ParameterDef;
use super::value::{Expr, Target};
use super::{DeletionPolicy, Handle, LogicalId, ModelError, Options, Resource};

#[derive(Debug, Clone)]
pub(crate) struct ResourceEntry {
    pub resource_type: &'static str,
    /// Properties with unresolved reference markers.
    pub properties: serde_json::Value,
    pub depends_on: Vec<String>,
    pub deletion_policy: Option<DeletionPolicy>,
    pub update_replace_policy: Option<DeletionPolicy>,
    pub condition: Option<String>,
    pub metadata: Option<serde_json::Value>,
}

#[derive(Debug, Clone)]
pub(crate) struct OutputEntry {
    pub description: String,
    pub value: serde_json::Value,
}

/// One CloudFormation stack of the app, identified by a short id such as
/// `Network` (its deployed name is derived by the app).
#[derive(Debug, Clone)]
pub struct Stack {
    pub(crate) id: String,
    pub(crate) description: String,
    pub(crate) resources: BTreeMap<LogicalId, ResourceEntry>,
    pub(crate) outputs: BTreeMap<LogicalId, OutputEntry>,
    pub(crate) parameters: BTreeMap<LogicalId, ParameterDef>,
    pub(crate) conditions: BTreeMap<LogicalId, serde_json::Value>,
    pub(crate) assets: BTreeSet<String>,
    /// The account it deploys into, where a stage spans accounts; `None`:
    /// the account of the credentials `deploy` runs with.
    pub(crate) account: Option<String>,
}

impl Stack {
    /// `id` must be a valid logical id: it names the stack on the command
    /// line and in export names.
    pub fn new(id: &str, description: impl Into<String>) -> Result<Self, ModelError> {
        LogicalId::new(id)?;
        Ok(Self {
            id: id.to_string(),
            description: description.into(),
            resources: BTreeMap::new(),
            outputs: BTreeMap::new(),
            parameters: BTreeMap::new(),
            conditions: BTreeMap::new(),
            assets: BTreeSet::new(),
            account: None,
        })
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// Deploys the stack into `account` (a 12-digit id): a reference to or
    /// from a stack of another account is a synth error, since
    /// CloudFormation exports do not cross accounts.
    pub fn in_account(mut self, account: impl Into<String>) -> Self {
        self.account = Some(account.into());
        self
    }

    pub fn account(&self) -> Option<&str> {
        self.account.as_deref()
    }

    pub fn add<R: Resource>(&mut self, id: &str, resource: R) -> Result<Handle<R>, ModelError> {
        self.add_with(id, resource, Options::new())
    }

    pub fn add_with<R: Resource>(
        &mut self,
        id: &str,
        resource: R,
        options: Options,
    ) -> Result<Handle<R>, ModelError> {
        let logical_id = LogicalId::new(id)?;
        if self.resources.contains_key(&logical_id) {
            return Err(ModelError::Duplicate {
                stack: self.id.clone(),
                id: id.to_string(),
            });
        }
        let depends_on = options
            .depends_on
            .iter()
            .map(|target| self.local(target, id))
            .collect::<Result<Vec<_>, _>>()?;
        if let Some(condition) = &options.condition {
            self.check_condition(condition)?;
        }
        let properties =
            serde_json::to_value(&resource).map_err(|source| ModelError::Properties {
                stack: self.id.clone(),
                id: id.to_string(),
                message: source.to_string(),
            })?;
        self.resources.insert(
            logical_id,
            ResourceEntry {
                resource_type: R::TYPE,
                properties,
                depends_on,
                deletion_policy: options.deletion_policy,
                update_replace_policy: options.update_replace_policy,
                condition: options.condition,
                metadata: options.metadata,
            },
        );
        Ok(Handle::new(&self.id, id))
    }

    /// Sets one top-level property of a resource already added, e.g. the
    /// `RoleName` of a role another account names: for a property the
    /// helper that added the resource does not take.
    pub fn set_property<R: Resource>(
        &mut self,
        handle: &Handle<R>,
        property: &str,
        value: serde_json::Value,
    ) -> Result<(), ModelError> {
        let (stack, resource) = (handle.stack(), handle.logical_id());
        let problem = |message: String| ModelError::Properties {
            stack: stack.to_string(),
            id: resource.to_string(),
            message,
        };
        let entry = LogicalId::new(resource)
            .ok()
            .filter(|_| stack == self.id)
            .and_then(|id| self.resources.get_mut(&id))
            .ok_or_else(|| {
                problem(format!(
                    "not a resource of {}; cannot set {property}",
                    self.id
                ))
            })?;
        entry
            .properties
            .as_object_mut()
            .ok_or_else(|| problem("its properties are not an object".to_string()))?
            .insert(property.to_string(), value);
        Ok(())
    }

    /// The type and properties of every resource of the given types so far,
    /// by logical id: what a digest of a configuration is taken over.
    pub fn definitions_of(&self, types: &[&str]) -> serde_json::Value {
        let definitions = self
            .resources
            .iter()
            .filter(|(_, entry)| types.contains(&entry.resource_type))
            .map(|(id, entry)| {
                let definition = serde_json::json!({
                    "Type": entry.resource_type,
                    "Properties": entry.properties,
                });
                (id.as_str().to_string(), definition)
            });
        serde_json::Value::Object(definitions.collect())
    }

    /// A plain output (no export). Cross-stack exports are made by the app.
    pub fn output(
        &mut self,
        id: &str,
        value: Expr,
        description: impl Into<String>,
    ) -> Result<(), ModelError> {
        let logical_id = LogicalId::new(id)?;
        if self.outputs.contains_key(&logical_id) {
            return Err(ModelError::Duplicate {
                stack: self.id.clone(),
                id: id.to_string(),
            });
        }
        let value = serde_json::to_value(&value).map_err(|e| ModelError::Properties {
            stack: self.id.clone(),
            id: id.to_string(),
            message: e.to_string(),
        })?;
        self.outputs.insert(
            logical_id,
            OutputEntry {
                description: description.into(),
                value,
            },
        );
        Ok(())
    }

    pub fn condition(&mut self, id: &str, expr: Expr) -> Result<(), ModelError> {
        let logical_id = LogicalId::new(id)?;
        let value = serde_json::to_value(&expr).map_err(|e| ModelError::Properties {
            stack: self.id.clone(),
            id: id.to_string(),
            message: e.to_string(),
        })?;
        self.conditions.insert(logical_id, value);
        Ok(())
    }

    pub fn parameter(&mut self, id: &str, parameter: ParameterDef) -> Result<Expr, ModelError> {
        let logical_id = LogicalId::new(id)?;
        self.parameters.insert(logical_id, parameter);
        Ok(Expr::Parameter(id.to_string()))
    }

    /// Records that a function in this stack runs the named Lambda asset.
    pub fn use_asset(&mut self, name: &str) {
        self.assets.insert(name.to_string());
    }

    pub fn resource_count(&self) -> usize {
        self.resources.len()
    }

    fn local(&self, target: &Target, dependent: &str) -> Result<String, ModelError> {
        if target.stack != self.id {
            return Err(ModelError::CrossStackDependsOn {
                stack: self.id.clone(),
                id: dependent.to_string(),
                target: format!("{}/{}", target.stack, target.resource),
            });
        }
        Ok(target.resource.clone())
    }

    fn check_condition(&self, condition: &str) -> Result<(), ModelError> {
        let known = LogicalId::new(condition)
            .map(|id| self.conditions.contains_key(&id))
            .unwrap_or(false);
        if known {
            Ok(())
        } else {
            Err(ModelError::UnknownCondition {
                stack: self.id.clone(),
                condition: condition.to_string(),
            })
        }
    }
}
