//! Values of properties: literals or CloudFormation intrinsic functions.
//!
//! Intrinsics are a typed enum, never tokens hidden in strings. A reference
//! to a resource knows the stack that owns it; when the template of another
//! stack is rendered, the reference becomes `Fn::ImportValue` and a
//! dependency edge (see `app`). Until then it serialises as a structured
//! marker object that rendering always replaces.

use std::collections::BTreeMap;

use serde::ser::{Serialize, SerializeMap, Serializer};

/// Key of the structured marker a resource reference serialises to before
/// the template is rendered. Never appears in a rendered template.
pub(crate) const REFERENCE_MARKER: &str = "Provisioner::Reference";

/// A resource in a stack, as the target of `Ref` or `Fn::GetAtt`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Target {
    pub stack: String,
    pub resource: String,
}

/// Pseudo parameters. <https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/pseudo-parameter-reference.html>
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pseudo {
    AccountId,
    Region,
    Partition,
    StackName,
    StackId,
    UrlSuffix,
    NoValue,
}

impl Pseudo {
    pub fn name(self) -> &'static str {
        match self {
            Pseudo::AccountId => "AWS::AccountId",
            Pseudo::Region => "AWS::Region",
            Pseudo::Partition => "AWS::Partition",
            Pseudo::StackName => "AWS::StackName",
            Pseudo::StackId => "AWS::StackId",
            Pseudo::UrlSuffix => "AWS::URLSuffix",
            Pseudo::NoValue => "AWS::NoValue",
        }
    }
}

/// A CloudFormation expression that is resolved by CloudFormation at deploy.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// A plain JSON value, for mixing literals into `Join`, `If` or `Select`.
    Literal(serde_json::Value),
    /// `Ref` to a resource (in this or another stack).
    Ref(Target),
    /// `Fn::GetAtt` of a resource (in this or another stack).
    GetAtt(Target, &'static str),
    /// `Ref` to a parameter of the same stack.
    Parameter(String),
    Pseudo(Pseudo),
    /// `Fn::Sub` with a pattern and named variables. Resources are referenced
    /// only through variables, so cross-stack references can be resolved.
    Sub(String, BTreeMap<String, Expr>),
    Join(String, Vec<Expr>),
    Select(u32, Box<Expr>),
    /// `Fn::GetAZs` of the stack's region.
    GetAzs,
    /// `Fn::ImportValue` of an export made outside this app.
    ImportValue(String),
    /// `Fn::If` on a condition of the same stack.
    If(String, Box<Expr>, Box<Expr>),
    /// `Fn::Equals`, for conditions.
    Equals(Box<Expr>, Box<Expr>),
}

impl Expr {
    /// `Fn::Sub` with no variables: only pseudo parameters and parameters may
    /// appear in the pattern.
    pub fn sub(pattern: impl Into<String>) -> Self {
        Expr::Sub(pattern.into(), BTreeMap::new())
    }

    /// `Fn::Sub` with variables, e.g. `Expr::sub_with("${Arn}/*", [("Arn", bucket.arn())])`.
    pub fn sub_with<K: Into<String>>(
        pattern: impl Into<String>,
        vars: impl IntoIterator<Item = (K, Expr)>,
    ) -> Self {
        Expr::Sub(
            pattern.into(),
            vars.into_iter().map(|(k, v)| (k.into(), v)).collect(),
        )
    }

    pub fn join(separator: impl Into<String>, parts: impl IntoIterator<Item = Expr>) -> Self {
        Expr::Join(separator.into(), parts.into_iter().collect())
    }

    pub fn select(index: u32, list: Expr) -> Self {
        Expr::Select(index, Box::new(list))
    }

    pub fn literal(value: impl Into<serde_json::Value>) -> Self {
        Expr::Literal(value.into())
    }

    pub fn account_id() -> Self {
        Expr::Pseudo(Pseudo::AccountId)
    }

    pub fn region() -> Self {
        Expr::Pseudo(Pseudo::Region)
    }

    pub fn partition() -> Self {
        Expr::Pseudo(Pseudo::Partition)
    }

    pub fn no_value() -> Self {
        Expr::Pseudo(Pseudo::NoValue)
    }

    /// The `n`th availability zone of the stack's region.
    pub fn az(n: u32) -> Self {
        Expr::select(n, Expr::GetAzs)
    }

    pub fn if_(condition: impl Into<String>, then: Expr, otherwise: Expr) -> Self {
        Expr::If(condition.into(), Box::new(then), Box::new(otherwise))
    }

    /// A dynamic reference to a JSON key of a Secrets Manager secret, resolved
    /// by CloudFormation at deploy so the secret never appears in a template.
    /// <https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/dynamic-references-secretsmanager.html>
    pub fn secret_json_key(secret: Expr, json_key: &str) -> Self {
        Expr::sub_with(
            format!("{{{{resolve:secretsmanager:${{Secret}}:SecretString:{json_key}}}}}"),
            [("Secret", secret)],
        )
    }
}

fn single<S: Serializer, V: Serialize + ?Sized>(
    serializer: S,
    key: &str,
    value: &V,
) -> Result<S::Ok, S::Error> {
    let mut map = serializer.serialize_map(Some(1))?;
    map.serialize_entry(key, value)?;
    map.end()
}

impl Serialize for Expr {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Expr::Literal(value) => value.serialize(serializer),
            Expr::Ref(target) => single(serializer, REFERENCE_MARKER, &marker(target, None)),
            Expr::GetAtt(target, attribute) => single(
                serializer,
                REFERENCE_MARKER,
                &marker(target, Some(attribute)),
            ),
            Expr::Parameter(name) => single(serializer, "Ref", name),
            Expr::Pseudo(pseudo) => single(serializer, "Ref", pseudo.name()),
            Expr::Sub(pattern, vars) if vars.is_empty() => single(serializer, "Fn::Sub", pattern),
            Expr::Sub(pattern, vars) => single(serializer, "Fn::Sub", &(pattern, vars)),
            Expr::Join(separator, parts) => single(serializer, "Fn::Join", &(separator, parts)),
            Expr::Select(index, list) => {
                single(serializer, "Fn::Select", &(index.to_string(), list))
            }
            Expr::GetAzs => single(serializer, "Fn::GetAZs", ""),
            Expr::ImportValue(name) => single(serializer, "Fn::ImportValue", name),
            Expr::If(condition, then, otherwise) => {
                single(serializer, "Fn::If", &(condition, then, otherwise))
            }
            Expr::Equals(a, b) => single(serializer, "Fn::Equals", &(a, b)),
        }
    }
}

fn marker(target: &Target, attribute: Option<&str>) -> serde_json::Value {
    serde_json::json!({
        "Stack": target.stack,
        "Resource": target.resource,
        "Attribute": attribute,
    })
}

/// A property value of type `T`: a literal or an expression CloudFormation
/// evaluates to a `T`.
#[derive(Debug, Clone, PartialEq)]
pub enum Value<T> {
    Literal(T),
    Expr(Expr),
}

impl<T: Serialize> Serialize for Value<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Literal(value) => value.serialize(serializer),
            Value::Expr(expr) => expr.serialize(serializer),
        }
    }
}

impl<T: Default> Default for Value<T> {
    fn default() -> Self {
        Value::Literal(T::default())
    }
}

impl<T> From<Expr> for Value<T> {
    fn from(expr: Expr) -> Self {
        Value::Expr(expr)
    }
}

impl From<&str> for Value<String> {
    fn from(s: &str) -> Self {
        Value::Literal(s.to_string())
    }
}

impl From<String> for Value<String> {
    fn from(s: String) -> Self {
        Value::Literal(s)
    }
}

impl From<&String> for Value<String> {
    fn from(s: &String) -> Self {
        Value::Literal(s.clone())
    }
}

macro_rules! literal_from {
    ($($t:ty),*) => {$(
        impl From<$t> for Value<$t> {
            fn from(v: $t) -> Self {
                Value::Literal(v)
            }
        }
    )*};
}
literal_from!(bool, i32, i64, u16, u32, u64, f64, serde_json::Value);

/// Shorthand for an optional property: `opt("x")` instead of `Some("x".into())`.
pub fn opt<T, V: Into<Value<T>>>(v: V) -> Option<Value<T>> {
    Some(v.into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn intrinsics_serialise_to_their_cloudformation_form() {
        let cases = [
            (Expr::region(), json!({"Ref": "AWS::Region"})),
            (
                Expr::az(1),
                json!({"Fn::Select": ["1", {"Fn::GetAZs": ""}]}),
            ),
            (
                Expr::sub("arn:${AWS::Partition}:s3:::x"),
                json!({"Fn::Sub": "arn:${AWS::Partition}:s3:::x"}),
            ),
            (
                Expr::join(",", [Expr::literal("a"), Expr::account_id()]),
                json!({"Fn::Join": [",", ["a", {"Ref": "AWS::AccountId"}]]}),
            ),
            (
                Expr::ImportValue("x-Export".into()),
                json!({"Fn::ImportValue": "x-Export"}),
            ),
            (
                Expr::if_("IsProd", Expr::literal(7), Expr::no_value()),
                json!({"Fn::If": ["IsProd", 7, {"Ref": "AWS::NoValue"}]}),
            ),
        ];
        for (expr, expected) in cases {
            assert_eq!(serde_json::to_value(&expr).unwrap(), expected);
        }
    }

    #[test]
    fn secret_dynamic_reference_names_the_secret_through_a_variable() {
        let secret = Expr::Ref(Target {
            stack: "Warehouse".into(),
            resource: "Secret".into(),
        });
        let value = serde_json::to_value(Expr::secret_json_key(secret, "password")).unwrap();
        assert_eq!(
            value["Fn::Sub"][0],
            "{{resolve:secretsmanager:${Secret}:SecretString:password}}"
        );
    }
}
