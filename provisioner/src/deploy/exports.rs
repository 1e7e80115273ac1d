//! Exports that a deploy removes or changes while another stack imports
//! them. CloudFormation refuses both in the producer's update ("Export ...
//! cannot be deleted as it is in use by ..."), after the stacks have been
//! ordered from the new templates alone, where a consumer that drops an
//! import no longer depends on its producer. So before anything deploys:
//! ask `ListImports` who imports each such export; a consumer that drops
//! the import in this same deploy goes first; anything else is refused
//! with what to do.
//! <https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/using-cfn-stack-exports.html>

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::error::DeployError;

/// Export name → the `Value` of the output that publishes it.
pub fn exports_of(template: &Value) -> BTreeMap<String, Value> {
    template["Outputs"]
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(_, output)| {
            let name = output["Export"]["Name"].as_str()?;
            Some((name.to_string(), output["Value"].clone()))
        })
        .collect()
}

/// Export names the template imports (`Fn::ImportValue` of a literal name).
pub fn imports_of(template: &Value) -> BTreeSet<String> {
    fn walk(value: &Value, found: &mut BTreeSet<String>) {
        match value {
            Value::Object(map) => {
                if let Some(Value::String(name)) = map.get("Fn::ImportValue") {
                    found.insert(name.clone());
                }
                map.values().for_each(|v| walk(v, found));
            }
            Value::Array(items) => items.iter().for_each(|v| walk(v, found)),
            _ => {}
        }
    }
    let mut found = BTreeSet::new();
    walk(template, &mut found);
    found
}

/// Export name → the logical ids its output's value refers to (`Ref`,
/// `Fn::GetAtt`, `${Id}` or `${Id.Attr}` in `Fn::Sub`): replacing one of
/// them gives the export a new value.
pub fn exported_resources(template: &Value) -> BTreeMap<String, BTreeSet<String>> {
    fn walk(value: &Value, found: &mut BTreeSet<String>) {
        match value {
            Value::Object(map) => {
                if let Some(Value::String(id)) = map.get("Ref") {
                    found.insert(id.clone());
                }
                if let Some(Value::Array(parts)) = map.get("Fn::GetAtt")
                    && let Some(Value::String(id)) = parts.first()
                {
                    found.insert(id.clone());
                }
                let sub = match map.get("Fn::Sub") {
                    Some(Value::String(text)) => Some(text.as_str()),
                    Some(Value::Array(parts)) => parts.first().and_then(Value::as_str),
                    _ => None,
                };
                for reference in sub.into_iter().flat_map(|t| t.split("${").skip(1)) {
                    let name = reference.split('}').next().unwrap_or_default();
                    let id = name.split('.').next().unwrap_or_default();
                    if !id.is_empty() && !id.starts_with("AWS::") && !id.starts_with('!') {
                        found.insert(id.to_string());
                    }
                }
                map.values().for_each(|v| walk(v, found));
            }
            Value::Array(items) => items.iter().for_each(|v| walk(v, found)),
            _ => {}
        }
    }
    exports_of(template)
        .into_iter()
        .map(|(name, value)| {
            let mut found = BTreeSet::new();
            walk(&value, &mut found);
            (name, found)
        })
        .collect()
}

/// How a deploy touches an export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Removed,
    /// The output's value expression differs: its value may change.
    Changed,
}

/// Exports the deployed template has that the new one removes or changes.
pub fn touched(deployed: &Value, new: &Value) -> BTreeMap<String, Change> {
    let after = exports_of(new);
    exports_of(deployed)
        .into_iter()
        .filter_map(|(name, value)| match after.get(&name) {
            None => Some((name, Change::Removed)),
            Some(new_value) if *new_value != value => Some((name, Change::Changed)),
            Some(_) => None,
        })
        .collect()
}

/// One stack of the deploy, as the export check sees it.
#[derive(Debug, Clone)]
pub struct Stack<'a> {
    pub id: &'a str,
    pub stack_name: &'a str,
    /// The template deployed now (`None`: the stack does not exist).
    pub deployed: Option<&'a Value>,
    pub new: &'a Value,
}

/// `consumer` must deploy before `producer`: it drops an import the
/// producer removes or changes. `consumer` then no longer waits for
/// `producer`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerFirst {
    pub consumer: String,
    pub producer: String,
}

/// Decides the order the exports need, given who imports each touched
/// export (`importers`: export name → stack names, from `ListImports`).
pub fn plan(
    stacks: &[Stack<'_>],
    importers: &BTreeMap<String, Vec<String>>,
) -> Result<Vec<ConsumerFirst>, DeployError> {
    let by_name: BTreeMap<&str, &Stack<'_>> = stacks.iter().map(|s| (s.stack_name, s)).collect();
    let mut order = Vec::new();
    for producer in stacks {
        let Some(deployed) = producer.deployed else {
            continue;
        };
        let still_exported = exports_of(deployed);
        for (export, change) in touched(deployed, producer.new) {
            let users = importers
                .get(&export)
                .map(Vec::as_slice)
                .unwrap_or_default();
            for user in users {
                let consumer = by_name
                    .get(user.as_str())
                    .filter(|c| !imports_of(c.new).contains(&export));
                let Some(consumer) = consumer else {
                    return Err(in_use(producer.stack_name, &export, change, users));
                };
                // Going first, the consumer may only import what the
                // producer already exports, unchanged.
                let new_from_producer = imports_of(consumer.new).into_iter().any(|name| {
                    exports_of(producer.new).contains_key(&name)
                        && (!still_exported.contains_key(&name)
                            || touched(deployed, producer.new).contains_key(&name))
                });
                if new_from_producer {
                    return Err(in_use(producer.stack_name, &export, change, users));
                }
                order.push(ConsumerFirst {
                    consumer: consumer.id.to_string(),
                    producer: producer.id.to_string(),
                });
            }
        }
    }
    order.sort_by(|a, b| (&a.producer, &a.consumer).cmp(&(&b.producer, &b.consumer)));
    order.dedup();
    Ok(order)
}

fn in_use(producer: &str, export: &str, change: Change, importers: &[String]) -> DeployError {
    DeployError::ExportInUse {
        producer: producer.to_string(),
        export: export.to_string(),
        removed: change == Change::Removed,
        importers: importers.to_vec(),
    }
}

/// The schedule's "after" lists with the consumer-first edges applied.
pub fn reorder(
    after: &BTreeMap<String, Vec<String>>,
    consumer_first: &[ConsumerFirst],
) -> BTreeMap<String, Vec<String>> {
    let mut after = after.clone();
    for edge in consumer_first {
        if let Some(list) = after.get_mut(&edge.consumer) {
            list.retain(|d| *d != edge.producer);
        }
        if let Some(list) = after.get_mut(&edge.producer)
            && !list.contains(&edge.consumer)
        {
            list.push(edge.consumer.clone());
        }
    }
    after
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn network(exports: &[(&str, &str)]) -> Value {
        let outputs: serde_json::Map<String, Value> = exports
            .iter()
            .map(|(name, resource)| {
                (
                    format!("Export{resource}"),
                    json!({"Value": {"Ref": resource}, "Export": {"Name": name}}),
                )
            })
            .collect();
        json!({"Resources": {}, "Outputs": outputs})
    }

    fn warehouse(imports: &[&str]) -> Value {
        let resources: serde_json::Map<String, Value> = imports
            .iter()
            .enumerate()
            .map(|(i, name)| {
                (
                    format!("R{i}"),
                    json!({"Type": "AWS::EC2::SecurityGroup", "Properties": {"VpcId": {"Fn::ImportValue": name}}}),
                )
            })
            .collect();
        json!({ "Resources": resources })
    }

    const VPC: &str = "retail-dev-network:VpcId";
    const SG: &str = "retail-dev-network:SgGroupId";

    fn importers(pairs: &[(&str, &str)]) -> BTreeMap<String, Vec<String>> {
        let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (export, stack) in pairs {
            map.entry(export.to_string())
                .or_default()
                .push(stack.to_string());
        }
        map
    }

    #[test]
    fn a_consumer_that_drops_an_import_deploys_before_the_producer_that_drops_the_export() {
        let (old_net, new_net) = (network(&[(VPC, "Vpc"), (SG, "Sg")]), network(&[(SG, "Sg")]));
        let (old_wh, new_wh) = (warehouse(&[VPC, SG]), warehouse(&[SG]));
        let after_network = vec!["Network".to_string()];
        let stacks = [
            Stack {
                id: "Network",
                stack_name: "retail-dev-network",
                deployed: Some(&old_net),
                new: &new_net,
            },
            Stack {
                id: "Warehouse",
                stack_name: "retail-dev-warehouse",
                deployed: Some(&old_wh),
                new: &new_wh,
            },
        ];
        let order = plan(
            &stacks,
            &importers(&[(VPC, "retail-dev-warehouse"), (SG, "retail-dev-warehouse")]),
        )
        .unwrap();
        assert_eq!(
            order,
            [ConsumerFirst {
                consumer: "Warehouse".into(),
                producer: "Network".into()
            }]
        );
        let after = reorder(
            &BTreeMap::from([
                ("Network".into(), vec![]),
                ("Warehouse".into(), after_network.clone()),
            ]),
            &order,
        );
        assert_eq!(after["Network"], ["Warehouse"]);
        assert!(after["Warehouse"].is_empty());
    }

    #[test]
    fn removing_an_export_that_a_stack_outside_the_deploy_imports_is_refused_naming_it() {
        let (old_net, new_net) = (network(&[(VPC, "Vpc")]), network(&[]));
        let stacks = [Stack {
            id: "Network",
            stack_name: "retail-dev-network",
            deployed: Some(&old_net),
            new: &new_net,
        }];
        let error = plan(&stacks, &importers(&[(VPC, "retail-dev-warehouse")])).unwrap_err();
        assert_eq!(
            error.to_string(),
            "retail-dev-network would remove export retail-dev-network:VpcId, which retail-dev-warehouse imports"
        );
        assert!(error.hint().unwrap().contains("retail-dev-warehouse"));
    }

    #[test]
    fn changing_the_value_of_an_imported_export_is_refused_with_the_two_steps() {
        let old_net = network(&[(VPC, "Vpc")]);
        let new_net = json!({"Outputs": {"ExportVpc": {"Value": {"Ref": "NewVpc"}, "Export": {"Name": VPC}}}});
        let wh = warehouse(&[VPC]);
        let stacks = [
            Stack {
                id: "Network",
                stack_name: "retail-dev-network",
                deployed: Some(&old_net),
                new: &new_net,
            },
            Stack {
                id: "Warehouse",
                stack_name: "retail-dev-warehouse",
                deployed: Some(&wh),
                new: &wh,
            },
        ];
        let error = plan(&stacks, &importers(&[(VPC, "retail-dev-warehouse")])).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("would change export retail-dev-network:VpcId"),
            "{error}"
        );
        let hint = error.hint().unwrap();
        assert!(hint.contains("1.") && hint.contains("2."), "{hint}");
    }

    #[test]
    fn an_export_refers_to_the_resources_its_value_is_made_of() {
        let template = json!({"Outputs": {
            "ExportVpc": {"Value": {"Ref": "Vpc"}, "Export": {"Name": VPC}},
            "ExportSg": {"Value": {"Fn::GetAtt": ["Sg", "GroupId"]}, "Export": {"Name": SG}},
            "ExportUrl": {"Value": {"Fn::Sub": "https://${Api}.execute-api.${AWS::Region}.amazonaws.com/${Stage.Name}"},
                          "Export": {"Name": "url"}},
            "NotExported": {"Value": {"Ref": "Other"}}
        }});
        let found = exported_resources(&template);
        assert_eq!(found.len(), 3);
        assert_eq!(found[VPC], BTreeSet::from(["Vpc".to_string()]));
        assert_eq!(found[SG], BTreeSet::from(["Sg".to_string()]));
        assert_eq!(
            found["url"],
            BTreeSet::from(["Api".to_string(), "Stage".to_string()])
        );
    }

    #[test]
    fn exports_nobody_imports_are_free_to_go() {
        let (old_net, new_net) = (network(&[(VPC, "Vpc")]), network(&[]));
        let stacks = [Stack {
            id: "Network",
            stack_name: "retail-dev-network",
            deployed: Some(&old_net),
            new: &new_net,
        }];
        assert_eq!(plan(&stacks, &BTreeMap::new()).unwrap(), []);
    }
}
