//! The policy templates compiled into the crate, and the one Handlebars
//! registry they are rendered with.

use std::collections::HashMap;
use std::fmt;
use std::sync::OnceLock;

use handlebars::{
    Context, Handlebars, Helper, HelperResult, Output, RenderContext, RenderError,
    RenderErrorReason, Template,
};

use super::PolicyError;
use super::doc::{self, TemplateDoc};

/// One variant per template in `policies/`, so code cannot name a template
/// that does not exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Policy {
    /// The Firehose delivery stream's role.
    FirehoseDelivery,
    /// The role the Redshift cluster assumes for COPY.
    RedshiftCopy,
    /// The private cluster's role for the loader's COPY of the lake.
    RedshiftLakeCopy,
    LambdaIngest,
    LambdaQuery,
    LambdaLakeWriter,
    LambdaDynamodbWriter,
    LambdaFirehoseTransform,
    LambdaBatchImport,
    LambdaWarehouseSchema,
    LambdaWarehouseLoader,
    /// Secrets Manager's rotation function of the warehouse secrets.
    LambdaSecretRotation,
    /// The crawler over the bulk-import CSV files.
    GlueS3Crawler,
    /// The crawler over the Redshift table, through the JDBC connection.
    GlueJdbcCrawler,
}

/// A partial shared by templates: `{{> log-streams}}`.
const PARTIALS: [(&str, &str); 1] = [(
    "log-streams",
    include_str!("../../../policies/log-streams.partial.json.hbs"),
)];

impl Policy {
    pub const ALL: [Policy; 14] = [
        Policy::FirehoseDelivery,
        Policy::RedshiftCopy,
        Policy::RedshiftLakeCopy,
        Policy::LambdaIngest,
        Policy::LambdaQuery,
        Policy::LambdaLakeWriter,
        Policy::LambdaDynamodbWriter,
        Policy::LambdaFirehoseTransform,
        Policy::LambdaBatchImport,
        Policy::LambdaWarehouseSchema,
        Policy::LambdaWarehouseLoader,
        Policy::LambdaSecretRotation,
        Policy::GlueS3Crawler,
        Policy::GlueJdbcCrawler,
    ];

    /// The template's name: its file name without `.json.hbs`.
    pub fn name(self) -> &'static str {
        match self {
            Policy::FirehoseDelivery => "firehose-delivery",
            Policy::RedshiftCopy => "redshift-copy",
            Policy::RedshiftLakeCopy => "redshift-lake-copy",
            Policy::LambdaIngest => "lambda-ingest",
            Policy::LambdaQuery => "lambda-query",
            Policy::LambdaLakeWriter => "lambda-lake-writer",
            Policy::LambdaDynamodbWriter => "lambda-dynamodb-writer",
            Policy::LambdaFirehoseTransform => "lambda-firehose-transform",
            Policy::LambdaBatchImport => "lambda-batch-import",
            Policy::LambdaWarehouseSchema => "lambda-warehouse-schema",
            Policy::LambdaWarehouseLoader => "lambda-warehouse-loader",
            Policy::LambdaSecretRotation => "lambda-secret-rotation",
            Policy::GlueS3Crawler => "glue-s3-crawler",
            Policy::GlueJdbcCrawler => "glue-jdbc-crawler",
        }
    }

    /// The template's path in the repository, for error messages.
    pub fn file(self) -> String {
        format!("policies/{}.json.hbs", self.name())
    }

    pub(crate) fn source(self) -> &'static str {
        match self {
            Policy::FirehoseDelivery => {
                include_str!("../../../policies/firehose-delivery.json.hbs")
            }
            Policy::RedshiftCopy => include_str!("../../../policies/redshift-copy.json.hbs"),
            Policy::RedshiftLakeCopy => {
                include_str!("../../../policies/redshift-lake-copy.json.hbs")
            }
            Policy::LambdaIngest => include_str!("../../../policies/lambda-ingest.json.hbs"),
            Policy::LambdaQuery => include_str!("../../../policies/lambda-query.json.hbs"),
            Policy::LambdaLakeWriter => {
                include_str!("../../../policies/lambda-lake-writer.json.hbs")
            }
            Policy::LambdaDynamodbWriter => {
                include_str!("../../../policies/lambda-dynamodb-writer.json.hbs")
            }
            Policy::LambdaFirehoseTransform => {
                include_str!("../../../policies/lambda-firehose-transform.json.hbs")
            }
            Policy::LambdaBatchImport => {
                include_str!("../../../policies/lambda-batch-import.json.hbs")
            }
            Policy::LambdaWarehouseSchema => {
                include_str!("../../../policies/lambda-warehouse-schema.json.hbs")
            }
            Policy::LambdaWarehouseLoader => {
                include_str!("../../../policies/lambda-warehouse-loader.json.hbs")
            }
            Policy::LambdaSecretRotation => {
                include_str!("../../../policies/lambda-secret-rotation.json.hbs")
            }
            Policy::GlueS3Crawler => include_str!("../../../policies/glue-s3-crawler.json.hbs"),
            Policy::GlueJdbcCrawler => {
                include_str!("../../../policies/glue-jdbc-crawler.json.hbs")
            }
        }
    }
}

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Every template registered once, with its documentation.
#[derive(Debug)]
pub(crate) struct Catalog {
    pub registry: Handlebars<'static>,
    docs: HashMap<Policy, TemplateDoc>,
}

impl Catalog {
    pub fn doc(&self, policy: Policy) -> &TemplateDoc {
        &self.docs[&policy]
    }
}

/// A template that does not compile or document itself; `Clone` so the
/// cached failure can be reported on every call.
#[derive(Debug, Clone)]
struct TemplateFault {
    file: String,
    problem: String,
}

static CATALOG: OnceLock<Result<Catalog, TemplateFault>> = OnceLock::new();

pub(crate) fn catalog() -> Result<&'static Catalog, PolicyError> {
    CATALOG
        .get_or_init(build)
        .as_ref()
        .map_err(|fault| PolicyError::Template {
            file: fault.file.clone(),
            problem: fault.problem.clone(),
        })
}

fn build() -> Result<Catalog, TemplateFault> {
    let mut registry = registry().map_err(|(file, problem)| TemplateFault { file, problem })?;
    let mut docs = HashMap::new();
    for (policy, template) in Policy::ALL.into_iter().zip(compile_all(&Policy::ALL)) {
        let fault = |problem: String| TemplateFault {
            file: policy.file(),
            problem,
        };
        registry.register_template(policy.name(), template.map_err(fault)?);
        docs.insert(policy, doc::parse(policy.source()).map_err(fault)?);
    }
    Ok(Catalog { registry, docs })
}

/// Compiles `policies`' templates, in their order, spread over the cores:
/// compiling them is the largest part of a synth's CPU time (Handlebars
/// finds every element's line and column by scanning its template from the
/// start), and a template compiles on its own, without the registry.
fn compile_all(policies: &[Policy]) -> Vec<Result<Template, String>> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(4));
    // Largest first, dealt round-robin, so the threads get similar shares.
    let mut order: Vec<usize> = (0..policies.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(policies[i].source().len()));
    let share = |first: usize| -> Vec<(usize, Result<Template, String>)> {
        order[first..]
            .iter()
            .step_by(threads)
            .map(|&i| (i, compile(policies[i].name(), policies[i].source())))
            .collect()
    };
    let mut compiled = std::thread::scope(|scope| {
        let others: Vec<_> = (1..threads)
            .map(|first| scope.spawn(move || share(first)))
            .collect();
        let mut compiled = share(0);
        for other in others {
            compiled.extend(other.join().expect("compiling a policy template panicked"));
        }
        compiled
    });
    compiled.sort_by_key(|(i, _)| *i);
    compiled.into_iter().map(|(_, template)| template).collect()
}

/// A template compiled as [`registry`]'s `register_template_string` would
/// (Handlebars' default options: the registry never sets `prevent_indent`),
/// its comments blanked ([`doc::blank_comments`]).
pub(crate) fn compile(name: &str, source: &str) -> Result<Template, String> {
    Template::compile_with_name(doc::blank_comments(source), name.to_owned())
        .map_err(|e| e.to_string())
}

/// A registry set up for policy JSON, with the shared partials: strict (a
/// missing key is an error, not an empty string), no HTML escaping (it would
/// turn `"` into `&quot;` inside the JSON), and the `json` helper.
pub(crate) fn registry() -> Result<Handlebars<'static>, (String, String)> {
    let mut registry = Handlebars::new();
    registry.set_strict_mode(true);
    registry.register_escape_fn(handlebars::no_escape);
    registry.register_helper("json", Box::new(json_helper));
    for (name, source) in PARTIALS {
        registry
            .register_partial(name, doc::blank_comments(source))
            .map_err(|e| (format!("policies/{name}.partial.json.hbs"), e.to_string()))?;
    }
    Ok(registry)
}

/// `{{json key}}` writes the context value as JSON: a string with its quotes
/// and escapes, or a CloudFormation expression object as is. Templates never
/// splice a value inside a quoted string, so no value can break the JSON.
fn json_helper(
    helper: &Helper<'_>,
    _: &Handlebars<'_>,
    _: &Context,
    _: &mut RenderContext<'_, '_>,
    out: &mut dyn Output,
) -> HelperResult {
    if helper.params().len() != 1 {
        return Err(RenderErrorReason::Other(format!(
            "the json helper takes one context key, got {} parameters",
            helper.params().len()
        ))
        .into());
    }
    let param = &helper.params()[0];
    if param.is_value_missing() {
        return Err(RenderError::strict_error(param.relative_path()));
    }
    let text = serde_json::to_string(param.value()).map_err(RenderErrorReason::SerdeError)?;
    out.write(&text)?;
    Ok(())
}
