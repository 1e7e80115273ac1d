//! The platform as a picture, derived from the synthesised templates (never
//! drawn by hand): stacks, the resources that carry or store data, and the
//! data flow between them.
//!
//! Edges come from what the templates say, read in the direction data moves:
//! an event source mapping or a Firehose source reads a stream into its
//! consumer; a function writes to what its environment names; an API method,
//! a schedule rule or a Firehose processor invokes a function; Firehose
//! delivers to its staging bucket and loads the cluster named in its JDBC URL;
//! a crawler reads its targets; a custom resource calls its service token.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use serde_json::Value;

use crate::model::SynthesizedStack;

/// A resource in the picture: `Stack/LogicalId`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Node {
    pub stack: String,
    pub id: String,
    pub resource_type: String,
}

impl Node {
    pub fn key(&self) -> String {
        format!("{}/{}", self.stack, self.id)
    }

    fn mermaid_id(&self) -> String {
        format!("{}_{}", self.stack, self.id)
    }

    fn label(&self) -> String {
        let short = self
            .resource_type
            .rsplit("::")
            .next()
            .unwrap_or(&self.resource_type);
        format!("{}<br/>{short}", self.id)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Edge {
    pub from: String,
    pub to: String,
    pub label: String,
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Graph {
    pub nodes: BTreeMap<String, Node>,
    pub edges: BTreeSet<Edge>,
    /// Stack ids in deploy order.
    pub stacks: Vec<String>,
}

/// Resource types that carry or store data, or move it.
const DATA_TYPES: &[&str] = &[
    "AWS::ApiGateway::Method",
    "AWS::Lambda::Function",
    "AWS::Kinesis::Stream",
    "AWS::KinesisFirehose::DeliveryStream",
    "AWS::S3::Bucket",
    "AWS::DynamoDB::Table",
    "AWS::Redshift::Cluster",
    "AWS::SQS::Queue",
    "AWS::Events::Rule",
    "AWS::Glue::Crawler",
    "AWS::Glue::Database",
    "AWS::CloudFormation::CustomResource",
];

impl Graph {
    pub fn from_stacks(stacks: &[SynthesizedStack]) -> Self {
        let mut graph = Graph {
            stacks: stacks.iter().map(|s| s.id.clone()).collect(),
            ..Graph::default()
        };
        // Export name -> producer resource, to follow Fn::ImportValue.
        let mut exports = BTreeMap::new();
        for stack in stacks {
            for output in stack.template.outputs.values() {
                if let (Some(export), Some(target)) =
                    (&output.export, logical_target(&output.value))
                    && let Some(name) = export.name.as_str()
                {
                    exports.insert(name.to_string(), format!("{}/{target}", stack.id));
                }
            }
            for (id, resource) in &stack.template.resources {
                if DATA_TYPES.contains(&resource.resource_type.as_str())
                    || resource.resource_type.starts_with("Custom::")
                {
                    let node = Node {
                        stack: stack.id.clone(),
                        id: id.clone(),
                        resource_type: resource.resource_type.clone(),
                    };
                    graph.nodes.insert(node.key(), node);
                }
            }
        }
        // `Stack/LogicalId` -> properties, to follow a reference one step.
        let empty = Value::Null;
        let properties: BTreeMap<String, &Value> = stacks
            .iter()
            .flat_map(|stack| {
                stack.template.resources.iter().map(|(id, resource)| {
                    let p = resource.properties.as_ref().unwrap_or(&empty);
                    (format!("{}/{id}", stack.id), p)
                })
            })
            .collect();
        for stack in stacks {
            let resolve = |value: &Value| -> Vec<String> {
                let mut found = Vec::new();
                references(value, &mut |r| match r {
                    Reference::Local(id) => found.push(format!("{}/{id}", stack.id)),
                    Reference::Import(name) => found.extend(exports.get(name).cloned()),
                });
                found
            };
            for (id, resource) in &stack.template.resources {
                let me = format!("{}/{id}", stack.id);
                let p = properties[&me];
                let mut edge = |from: String, to: String, label: &str| {
                    graph.edges.insert(Edge {
                        from,
                        to,
                        label: label.to_string(),
                    });
                };
                match resource.resource_type.as_str() {
                    "AWS::Lambda::EventSourceMapping" => {
                        let failures = &p["DestinationConfig"]["OnFailure"]["Destination"];
                        for function in resolve(&p["FunctionName"]) {
                            for source in resolve(&p["EventSourceArn"]) {
                                edge(source, function.clone(), "records");
                            }
                            for queue in resolve(failures) {
                                edge(function.clone(), queue, "failed batches");
                            }
                        }
                    }
                    "AWS::Lambda::Function" => {
                        if let Some(vars) = p["Environment"]["Variables"].as_object() {
                            for (name, value) in vars {
                                for target in resolve(value) {
                                    edge(me.clone(), target, name);
                                }
                            }
                        }
                    }
                    "AWS::ApiGateway::Method" => {
                        for function in resolve(&p["Integration"]["Uri"]) {
                            let label = p["HttpMethod"].as_str().unwrap_or("invoke");
                            edge(me.clone(), function, label);
                        }
                    }
                    "AWS::Events::Rule" => {
                        for target in p["Targets"].as_array().into_iter().flatten() {
                            for function in resolve(&target["Arn"]) {
                                edge(me.clone(), function, "schedule");
                            }
                        }
                    }
                    "AWS::KinesisFirehose::DeliveryStream" => {
                        let source = &p["KinesisStreamSourceConfiguration"]["KinesisStreamARN"];
                        for stream in resolve(source) {
                            edge(stream, me.clone(), "records");
                        }
                        let redshift = &p["RedshiftDestinationConfiguration"];
                        for processor in redshift["ProcessingConfiguration"]["Processors"]
                            .as_array()
                            .into_iter()
                            .flatten()
                        {
                            for function in resolve(&processor["Parameters"]) {
                                edge(me.clone(), function, "transform");
                            }
                        }
                        for bucket in resolve(&redshift["S3Configuration"]["BucketARN"]) {
                            edge(me.clone(), bucket, "staging");
                        }
                        for cluster in resolve(&redshift["ClusterJDBCURL"]) {
                            edge(me.clone(), cluster, "COPY");
                        }
                    }
                    "AWS::Glue::Crawler" => {
                        for target in resolve(&p["Targets"]) {
                            edge(target, me.clone(), "crawl");
                        }
                        // A JDBC target names a connection, whose URL names
                        // the database that is crawled.
                        for connection in resolve(&p["Targets"]["JdbcTargets"]) {
                            let Some(connection) = properties.get(&connection) else {
                                continue;
                            };
                            let url = &connection["ConnectionInput"]["ConnectionProperties"]["JDBC_CONNECTION_URL"];
                            for database in resolve(url) {
                                edge(database, me.clone(), "crawl");
                            }
                        }
                        for database in resolve(&p["DatabaseName"]) {
                            edge(me.clone(), database, "catalog");
                        }
                    }
                    t if t == "AWS::CloudFormation::CustomResource"
                        || t.starts_with("Custom::") =>
                    {
                        for function in resolve(&p["ServiceToken"]) {
                            edge(me.clone(), function, "deploy-time call");
                        }
                        // What the call works on: the resources its other
                        // properties name (the cluster a schema is made in).
                        let inputs = p.as_object().into_iter().flatten();
                        for (name, value) in inputs.filter(|(name, _)| *name != "ServiceToken") {
                            for target in resolve(value) {
                                edge(me.clone(), target, name);
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
        // Keep only edges between resources in the picture (a role or a log
        // group referenced in passing is not data flow).
        let nodes = &graph.nodes;
        graph
            .edges
            .retain(|e| nodes.contains_key(&e.from) && nodes.contains_key(&e.to) && e.from != e.to);
        graph
    }

    /// Stacks with something to draw, in deploy order (the Network stack
    /// holds no data, only the paths to it).
    fn drawn_stacks(&self) -> impl Iterator<Item = &String> {
        self.stacks
            .iter()
            .filter(|stack| self.nodes.values().any(|n| &n.stack == *stack))
    }

    pub fn to_mermaid(&self) -> String {
        let mut out = String::from("flowchart LR\n");
        for stack in self.drawn_stacks() {
            let _ = writeln!(out, "  subgraph {stack}");
            for node in self.nodes.values().filter(|n| &n.stack == stack) {
                let _ = writeln!(out, "    {}[\"{}\"]", node.mermaid_id(), node.label());
            }
            let _ = writeln!(out, "  end");
        }
        for edge in &self.edges {
            let _ = writeln!(
                out,
                "  {} -->|{}| {}",
                self.nodes[&edge.from].mermaid_id(),
                edge.label,
                self.nodes[&edge.to].mermaid_id()
            );
        }
        out
    }

    pub fn to_dot(&self) -> String {
        let mut out = String::from("digraph platform {\n  rankdir=LR;\n  node [shape=box];\n");
        for stack in self.drawn_stacks() {
            let _ = writeln!(
                out,
                "  subgraph \"cluster_{stack}\" {{\n    label=\"{stack}\";"
            );
            for node in self.nodes.values().filter(|n| &n.stack == stack) {
                let label = node.label().replace("<br/>", "\\n");
                let _ = writeln!(out, "    \"{}\" [label=\"{label}\"];", node.key());
            }
            let _ = writeln!(out, "  }}");
        }
        for edge in &self.edges {
            let _ = writeln!(
                out,
                "  \"{}\" -> \"{}\" [label=\"{}\"];",
                edge.from, edge.to, edge.label
            );
        }
        out.push_str("}\n");
        out
    }
}

enum Reference<'a> {
    Local(&'a str),
    Import(&'a str),
}

/// Every `Ref`, `Fn::GetAtt`, `Fn::ImportValue` and `Fn::Sub` variable
/// inside a value.
fn references<'a>(value: &'a Value, found: &mut dyn FnMut(Reference<'a>)) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(id)) = map.get("Ref")
                && !id.starts_with("AWS::")
            {
                found(Reference::Local(id));
            }
            if let Some(id) = map
                .get("Fn::GetAtt")
                .and_then(|a| a.get(0))
                .and_then(Value::as_str)
            {
                found(Reference::Local(id));
            }
            if let Some(Value::String(name)) = map.get("Fn::ImportValue") {
                found(Reference::Import(name));
            }
            if let Some(Value::String(pattern)) = map.get("Fn::Sub") {
                for id in sub_references(pattern) {
                    found(Reference::Local(id));
                }
            }
            for v in map.values() {
                references(v, found);
            }
        }
        Value::Array(items) => items.iter().for_each(|v| references(v, found)),
        _ => {}
    }
}

/// `${Id}` and `${Id.Attr}` in a `Fn::Sub` pattern, pseudo parameters aside.
fn sub_references(pattern: &str) -> Vec<&str> {
    pattern
        .split("${")
        .skip(1)
        .filter_map(|rest| rest.split('}').next())
        .filter(|name| !name.starts_with("AWS::") && !name.starts_with('!'))
        .map(|name| name.split('.').next().unwrap_or(name))
        .collect()
}

/// The resource an export's value points at.
fn logical_target(value: &Value) -> Option<&str> {
    value.get("Ref").and_then(Value::as_str).or_else(|| {
        value
            .get("Fn::GetAtt")
            .and_then(|a| a.get(0))
            .and_then(Value::as_str)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sub_patterns_name_resources_but_not_pseudo_parameters() {
        assert_eq!(
            sub_references("arn:${AWS::Partition}:x:${Fn.Arn}/${Bucket}"),
            ["Fn", "Bucket"]
        );
    }
}
