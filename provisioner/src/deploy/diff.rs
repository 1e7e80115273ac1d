//! Differences between a deployed template and a new one: resources added,
//! removed and modified (with the property paths that changed), and the
//! security changes among them: IAM statements, resource policies, Lambda
//! permissions and security group ingress. A new or wider grant (or a
//! removed `Deny`) broadens access and needs approval.

use std::collections::BTreeSet;
use std::fmt;

use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Change {
    Added,
    Removed,
    Modified,
}

impl Change {
    fn sign(self) -> char {
        match self {
            Change::Added => '+',
            Change::Removed => '-',
            Change::Modified => '~',
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceDiff {
    pub logical_id: String,
    pub resource_type: String,
    pub change: Change,
    /// Changed paths, e.g. `Properties.Policies[0].PolicyDocument`.
    pub paths: Vec<String>,
    /// Whether CloudFormation replaces the resource: a changed type always
    /// does; otherwise only a change set knows (see `mark_replacements`).
    pub replacement: Replacement,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Replacement {
    #[default]
    Unknown,
    No,
    /// Depends on a value CloudFormation resolves during the update.
    Conditional,
    Yes,
}

/// A grant that appears or disappears.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct SecurityChange {
    pub change: Change,
    pub logical_id: String,
    /// e.g. "IAM statement", "security group ingress".
    pub kind: &'static str,
    /// The grant as compact JSON.
    pub grant: String,
    pub broadening: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StackDiff {
    pub resources: Vec<ResourceDiff>,
    pub outputs: Vec<(String, Change)>,
    pub security: Vec<SecurityChange>,
}

impl StackDiff {
    /// Takes the replacement of modified resources from a change set's
    /// answer (logical id to `True`, `False` or `Conditional`).
    pub fn mark_replacements(&mut self, replacements: &std::collections::BTreeMap<String, String>) {
        for resource in &mut self.resources {
            if resource.change != Change::Modified || resource.replacement == Replacement::Yes {
                continue;
            }
            resource.replacement = match replacements.get(&resource.logical_id).map(String::as_str)
            {
                Some("True") => Replacement::Yes,
                Some("Conditional") => Replacement::Conditional,
                Some(_) => Replacement::No,
                None => Replacement::Unknown,
            };
        }
    }

    /// Whether a modified resource has no replacement information yet.
    pub fn replacements_unknown(&self) -> bool {
        self.resources
            .iter()
            .any(|r| r.change == Change::Modified && r.replacement == Replacement::Unknown)
    }

    pub fn is_empty(&self) -> bool {
        self.resources.is_empty() && self.outputs.is_empty()
    }

    pub fn broadening(&self) -> impl Iterator<Item = &SecurityChange> {
        self.security.iter().filter(|s| s.broadening)
    }
}

/// Compares the deployed template (`None`: no stack yet) with the new one.
pub fn diff(old: Option<&Value>, new: &Value) -> StackDiff {
    let empty = Value::Object(Default::default());
    let old = old.unwrap_or(&empty);
    let mut out = StackDiff::default();

    let old_resources = section(old, "Resources");
    let new_resources = section(new, "Resources");
    for id in keys(old_resources, new_resources) {
        let (before, after) = (old_resources.get(&id), new_resources.get(&id));
        let type_of = |r: Option<&Value>| {
            r.and_then(|r| r["Type"].as_str())
                .unwrap_or_default()
                .to_string()
        };
        let entry = match (before, after) {
            (None, Some(after)) => Some(ResourceDiff {
                logical_id: id.clone(),
                resource_type: type_of(Some(after)),
                change: Change::Added,
                paths: Vec::new(),
                replacement: Replacement::No,
            }),
            (Some(before), None) => Some(ResourceDiff {
                logical_id: id.clone(),
                resource_type: type_of(Some(before)),
                change: Change::Removed,
                paths: Vec::new(),
                replacement: Replacement::No,
            }),
            (Some(before), Some(after)) if before != after => {
                let mut paths = Vec::new();
                changed_paths(before, after, String::new(), &mut paths);
                Some(ResourceDiff {
                    logical_id: id.clone(),
                    resource_type: type_of(Some(after)),
                    change: Change::Modified,
                    paths,
                    replacement: if type_of(Some(before)) != type_of(Some(after)) {
                        Replacement::Yes
                    } else {
                        Replacement::Unknown
                    },
                })
            }
            _ => None,
        };
        out.resources.extend(entry);
        let old_grants = grants(before);
        let new_grants = grants(after);
        for grant in new_grants.difference(&old_grants) {
            out.security.push(SecurityChange {
                change: Change::Added,
                broadening: !grant.deny,
                logical_id: id.clone(),
                kind: grant.kind,
                grant: grant.text.clone(),
            });
        }
        for grant in old_grants.difference(&new_grants) {
            out.security.push(SecurityChange {
                change: Change::Removed,
                broadening: grant.deny,
                logical_id: id.clone(),
                kind: grant.kind,
                grant: grant.text.clone(),
            });
        }
    }

    let old_outputs = section(old, "Outputs");
    let new_outputs = section(new, "Outputs");
    for id in keys(old_outputs, new_outputs) {
        let change = match (old_outputs.get(&id), new_outputs.get(&id)) {
            (None, Some(_)) => Some(Change::Added),
            (Some(_), None) => Some(Change::Removed),
            (Some(a), Some(b)) if a != b => Some(Change::Modified),
            _ => None,
        };
        out.outputs.extend(change.map(|c| (id, c)));
    }
    out
}

fn section<'a>(template: &'a Value, name: &str) -> &'a serde_json::Map<String, Value> {
    static EMPTY: std::sync::OnceLock<serde_json::Map<String, Value>> = std::sync::OnceLock::new();
    template[name]
        .as_object()
        .unwrap_or_else(|| EMPTY.get_or_init(Default::default))
}

fn keys(
    a: &serde_json::Map<String, Value>,
    b: &serde_json::Map<String, Value>,
) -> BTreeSet<String> {
    a.keys().chain(b.keys()).cloned().collect()
}

/// The deepest paths where `before` and `after` differ. Arrays of another
/// length are reported as a whole.
fn changed_paths(before: &Value, after: &Value, path: String, out: &mut Vec<String>) {
    match (before, after) {
        (Value::Object(a), Value::Object(b)) => {
            for key in keys(a, b) {
                let child = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                match (a.get(&key), b.get(&key)) {
                    (Some(x), Some(y)) if x == y => {}
                    (Some(x), Some(y)) => changed_paths(x, y, child, out),
                    _ => out.push(child),
                }
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                if x != y {
                    changed_paths(x, y, format!("{path}[{i}]"), out);
                }
            }
        }
        _ => out.push(path),
    }
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Grant {
    kind: &'static str,
    text: String,
    deny: bool,
}

/// Every grant a resource makes, by the kind of resource.
fn grants(resource: Option<&Value>) -> BTreeSet<Grant> {
    let mut found = BTreeSet::new();
    let Some(resource) = resource else {
        return found;
    };
    let props = &resource["Properties"];
    let mut statements = |kind: &'static str, document: &Value| {
        for statement in as_list(&document["Statement"]) {
            for atom in atoms(statement) {
                found.insert(Grant {
                    kind,
                    text: canonical(&atom),
                    deny: statement["Effect"] == "Deny",
                });
            }
        }
    };
    match resource["Type"].as_str().unwrap_or_default() {
        "AWS::IAM::Role" => {
            statements("trust statement", &props["AssumeRolePolicyDocument"]);
            for policy in as_list(&props["Policies"]) {
                statements("IAM statement", &policy["PolicyDocument"]);
            }
            for arn in as_list(&props["ManagedPolicyArns"]) {
                found.insert(Grant {
                    kind: "managed policy",
                    text: canonical(arn),
                    deny: false,
                });
            }
        }
        "AWS::IAM::Policy" | "AWS::IAM::ManagedPolicy" | "AWS::IAM::RolePolicy" => {
            statements("IAM statement", &props["PolicyDocument"])
        }
        "AWS::S3::BucketPolicy" | "AWS::SQS::QueuePolicy" | "AWS::SNS::TopicPolicy" => {
            statements("resource policy statement", &props["PolicyDocument"])
        }
        "AWS::KMS::Key" => statements("key policy statement", &props["KeyPolicy"]),
        "AWS::Lambda::Permission" => {
            found.insert(Grant {
                kind: "Lambda permission",
                text: canonical(props),
                deny: false,
            });
        }
        "AWS::EC2::SecurityGroup" => {
            for rule in as_list(&props["SecurityGroupIngress"]) {
                found.insert(Grant {
                    kind: "security group ingress",
                    text: canonical(rule),
                    deny: false,
                });
            }
        }
        "AWS::EC2::SecurityGroupIngress" => {
            found.insert(Grant {
                kind: "security group ingress",
                text: canonical(props),
                deny: false,
            });
        }
        _ => {}
    }
    found
}

/// A statement split into one statement per action and resource, so that
/// a narrowed statement only removes grants and a widened one only adds.
fn atoms(statement: &Value) -> Vec<Value> {
    let Some(fields) = statement.as_object() else {
        return vec![statement.clone()];
    };
    let mut out = vec![serde_json::Map::new()];
    for (key, value) in fields {
        let split = matches!(key.as_str(), "Action" | "Resource") && value.is_array();
        let choices = if split { as_list(value) } else { vec![value] };
        out = out
            .into_iter()
            .flat_map(|partial| {
                choices.iter().map(move |choice| {
                    let mut next = partial.clone();
                    if key != "Sid" {
                        next.insert(key.clone(), (*choice).clone());
                    }
                    next
                })
            })
            .collect();
    }
    out.into_iter().map(Value::Object).collect()
}

/// Compact JSON with object keys sorted, whatever order the template had.
fn canonical(value: &Value) -> String {
    match value {
        Value::Object(fields) => {
            let sorted: std::collections::BTreeMap<&String, String> =
                fields.iter().map(|(k, v)| (k, canonical(v))).collect();
            let inner: Vec<String> = sorted
                .into_iter()
                .map(|(k, v)| format!("{}:{v}", Value::String(k.clone())))
                .collect();
            format!("{{{}}}", inner.join(","))
        }
        Value::Array(items) => {
            format!(
                "[{}]",
                items.iter().map(canonical).collect::<Vec<_>>().join(",")
            )
        }
        scalar => scalar.to_string(),
    }
}

/// A JSON list, or a single value as a list of one (IAM allows both).
fn as_list(value: &Value) -> Vec<&Value> {
    match value {
        Value::Array(items) => items.iter().collect(),
        Value::Null => Vec::new(),
        other => vec![other],
    }
}

impl StackDiff {
    /// Data stores the change replaces (or may): their data does not come
    /// along, and deploy asks before such a change set runs.
    pub fn data_affecting(&self) -> Vec<&ResourceDiff> {
        self.resources
            .iter()
            .filter(|r| super::replacement::DATA_STORES.contains(&r.resource_type.as_str()))
            .filter(|r| matches!(r.replacement, Replacement::Yes | Replacement::Conditional))
            .collect()
    }
}

impl fmt::Display for StackDiff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for r in &self.resources {
            write!(
                f,
                "  {} {} {}",
                r.change.sign(),
                r.resource_type,
                r.logical_id
            )?;
            match r.replacement {
                Replacement::Yes => write!(f, " (replaced)")?,
                Replacement::Conditional => write!(f, " (may be replaced)")?,
                Replacement::No | Replacement::Unknown => {}
            }
            writeln!(f)?;
            for path in &r.paths {
                writeln!(f, "      {path}")?;
            }
        }
        for (id, change) in &self.outputs {
            writeln!(f, "  {} Output {id}", change.sign())?;
        }
        let data = self.data_affecting();
        if !data.is_empty() {
            writeln!(f, "  data-affecting changes (deploy asks first):")?;
            for r in data {
                let what = match r.replacement {
                    Replacement::Conditional => "may be replaced",
                    _ => "replaced",
                };
                writeln!(
                    f,
                    "  ! {} {} {what}: {}",
                    r.resource_type,
                    r.logical_id,
                    super::replacement::consequence(&r.resource_type)
                )?;
            }
        }
        if !self.security.is_empty() {
            writeln!(f, "  security changes:")?;
            for s in &self.security {
                writeln!(
                    f,
                    "  {} {}{} {}: {}",
                    s.change.sign(),
                    if s.broadening { "[broadens] " } else { "" },
                    s.logical_id,
                    s.kind,
                    s.grant
                )?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn role(actions: &[&str]) -> Value {
        json!({"Resources": {"Writer": {"Type": "AWS::IAM::Role", "Properties": {
            "AssumeRolePolicyDocument": {"Statement": [{"Effect": "Allow",
                "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]},
            "Policies": [{"PolicyName": "Write", "PolicyDocument": {"Statement": [
                {"Effect": "Allow", "Action": actions, "Resource": "arn:aws:s3:::lake/*"}]}}]
        }}}})
    }

    #[test]
    fn an_identical_template_has_no_difference() {
        let t = role(&["s3:PutObject"]);
        assert!(diff(Some(&t), &t).is_empty());
    }

    #[test]
    fn a_wider_iam_statement_broadens_access() {
        let d = diff(
            Some(&role(&["s3:PutObject"])),
            &role(&["s3:PutObject", "s3:DeleteObject"]),
        );
        assert_eq!(d.resources.len(), 1);
        assert_eq!(
            d.resources[0].paths,
            ["Properties.Policies[0].PolicyDocument.Statement[0].Action"]
        );
        let broadening: Vec<_> = d.broadening().collect();
        assert_eq!(broadening.len(), 1);
        assert_eq!(
            broadening[0].grant,
            r#"{"Action":"s3:DeleteObject","Effect":"Allow","Resource":"arn:aws:s3:::lake/*"}"#
        );
    }

    #[test]
    fn a_narrower_statement_is_a_security_change_that_does_not_broaden() {
        let d = diff(
            Some(&role(&["s3:PutObject", "s3:DeleteObject"])),
            &role(&["s3:PutObject"]),
        );
        assert!(!d.security.is_empty());
        assert_eq!(d.broadening().count(), 0);
    }

    #[test]
    fn a_new_stack_broadens_with_every_grant_it_makes() {
        let d = diff(None, &role(&["s3:PutObject"]));
        assert_eq!(d.resources[0].change, Change::Added);
        assert_eq!(d.broadening().count(), 2, "trust and permission statements");
    }

    #[test]
    fn new_ingress_and_lambda_permissions_broaden_access() {
        let new = json!({"Resources": {
            "Sg": {"Type": "AWS::EC2::SecurityGroup", "Properties": {"SecurityGroupIngress": [
                {"IpProtocol": "tcp", "FromPort": 5439, "ToPort": 5439, "CidrIp": "52.19.239.192/27"}]}},
            "Invoke": {"Type": "AWS::Lambda::Permission", "Properties": {
                "Action": "lambda:InvokeFunction", "Principal": "apigateway.amazonaws.com",
                "FunctionName": {"Ref": "Ingest"}}}
        }});
        let old =
            json!({"Resources": {"Sg": {"Type": "AWS::EC2::SecurityGroup", "Properties": {}}}});
        let kinds: Vec<_> = diff(Some(&old), &new)
            .broadening()
            .map(|s| s.kind)
            .collect();
        assert_eq!(
            kinds,
            ["Lambda permission", "security group ingress"],
            "by logical id"
        );
    }

    #[test]
    fn removing_a_deny_broadens_access() {
        let with_deny = json!({"Resources": {"P": {"Type": "AWS::S3::BucketPolicy", "Properties": {
            "PolicyDocument": {"Statement": {"Effect": "Deny", "Principal": "*", "Action": "s3:*"}}}}}});
        let without = json!({"Resources": {"P": {"Type": "AWS::S3::BucketPolicy", "Properties": {
            "PolicyDocument": {"Statement": []}}}}});
        assert_eq!(diff(Some(&with_deny), &without).broadening().count(), 1);
    }

    #[test]
    fn a_replaced_delivery_stream_is_flagged_as_data_affecting_with_what_is_lost() {
        let old = json!({"Resources": {
            "DeliveryStream": {"Type": "AWS::KinesisFirehose::DeliveryStream", "Properties": {"DeliveryStreamType": "DirectPut"}},
            "Queue": {"Type": "AWS::SQS::Queue", "Properties": {"DelaySeconds": 1}}
        }});
        let new = json!({"Resources": {
            "DeliveryStream": {"Type": "AWS::KinesisFirehose::DeliveryStream", "Properties": {"DeliveryStreamType": "KinesisStreamAsSource"}},
            "Queue": {"Type": "AWS::SQS::Queue", "Properties": {"DelaySeconds": 2}}
        }});
        let mut d = diff(Some(&old), &new);
        d.mark_replacements(&std::collections::BTreeMap::from([
            ("DeliveryStream".to_string(), "True".to_string()),
            ("Queue".to_string(), "True".to_string()),
        ]));
        let flagged: Vec<&str> = d
            .data_affecting()
            .iter()
            .map(|r| r.logical_id.as_str())
            .collect();
        assert_eq!(flagged, ["DeliveryStream"], "a queue holds no data to lose");
        let text = d.to_string();
        assert!(
            text.contains(
                "  ! AWS::KinesisFirehose::DeliveryStream DeliveryStream replaced: records \
                 arriving during the swap never reach Redshift"
            ),
            "{text}"
        );
    }

    #[test]
    fn a_changed_type_is_a_replacement() {
        let old = json!({"Resources": {"Q": {"Type": "AWS::SQS::Queue"}}});
        let new = json!({"Resources": {"Q": {"Type": "AWS::SNS::Topic"}}});
        assert_eq!(
            diff(Some(&old), &new).resources[0].replacement,
            Replacement::Yes
        );
    }

    #[test]
    fn a_change_set_says_which_modified_resources_are_replaced() {
        let old = json!({"Resources": {
            "A": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": "a"}},
            "B": {"Type": "AWS::SQS::Queue", "Properties": {"DelaySeconds": 1}}}});
        let new = json!({"Resources": {
            "A": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": "b"}},
            "B": {"Type": "AWS::SQS::Queue", "Properties": {"DelaySeconds": 2}}}});
        let mut d = diff(Some(&old), &new);
        assert!(d.replacements_unknown());
        d.mark_replacements(
            &[
                ("A".to_string(), "True".to_string()),
                ("B".to_string(), "False".to_string()),
            ]
            .into(),
        );
        assert_eq!(d.resources[0].replacement, Replacement::Yes);
        assert_eq!(d.resources[1].replacement, Replacement::No);
        assert!(d.to_string().contains("~ AWS::SQS::Queue A (replaced)\n"));
    }

    #[test]
    fn outputs_are_compared_too() {
        let old = json!({"Outputs": {"A": {"Value": "1"}}});
        let new = json!({"Outputs": {"A": {"Value": "2"}, "B": {"Value": "3"}}});
        assert_eq!(
            diff(Some(&old), &new).outputs,
            [
                ("A".to_string(), Change::Modified),
                ("B".to_string(), Change::Added)
            ]
        );
    }
}
