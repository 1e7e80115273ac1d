//! Api: the REST API of the platform.
//!
//! - `POST /transactions`: one transaction or an array of up to 500, put on
//!   the stream by the ingest function;
//! - `GET /invoices/{invoiceNo}`: every line of an invoice;
//! - `GET /customers/{customerId}/invoices`: a customer's purchases;
//!   both answered by the query function from DynamoDB.
//!
//! Callers authenticate with IAM (SigV4): the shop's backend and analysts'
//! tools already hold AWS credentials, and IAM policies say who may call
//! which route, where an API key is a shared secret meant for metering. The
//! stage throttles, logs every request to its access log, and validates
//! requests before they reach a function.

use std::collections::BTreeMap;

use serde_json::json;
use sha2::{Digest, Sha256};

use crate::assets::AssetTable;
use crate::model::apigateway::{
    AccessLogSetting, Deployment, EndpointConfiguration, Integration, Method, MethodSetting, Model,
    RequestValidator, Resource, RestApi, Stage as ApiStage,
};
use crate::model::lambda::Permission;
use crate::model::tags::tags;
use crate::model::{Expr, Handle, Options, Stack, opt, sorted_keys};
use crate::policies::Policy;
use crate::stage::Stage;

use super::PlatformError;
use super::function::{
    FunctionSpec, PlatformFunction, SYNCHRONOUS_DLQ_SKIP, add_function, add_log_group,
    add_named_log_group, checkov_skip,
};
use super::storage::Storage;
use super::streaming::Streaming;

/// API Gateway gives up on an integration after 29 seconds; a function
/// must finish (retries included) well before, or the caller gets a 504
/// while the function still runs.
/// <https://docs.aws.amazon.com/apigateway/latest/developerguide/limits.html>
pub const API_GATEWAY_TIMEOUT_SECONDS: i64 = 29;

/// The most transactions one POST may carry: Kinesis `PutRecords` takes 500.
pub const MAX_TRANSACTIONS_PER_REQUEST: i64 = 500;

/// The stage name in the invoke URL.
pub const API_STAGE_NAME: &str = "v1";

pub fn api(
    stage: &Stage,
    assets: &AssetTable,
    storage: &Storage,
    streaming: &Streaming,
) -> Result<Stack, PlatformError> {
    let mut stack = Stack::new(
        "Api",
        "REST API: POST /transactions onto the stream; GET invoices and customer purchases \
         from DynamoDB",
    )?;

    let ingest = add_function(
        &mut stack,
        stage,
        assets,
        &storage.key,
        FunctionSpec {
            asset: "ingest",
            id: "Ingest",
            description: "POST /transactions: validates and puts transactions on the stream".into(),
            policy: Policy::LambdaIngest,
            policy_context: BTreeMap::from([
                ("stream_arn", streaming.stream.arn()),
                ("stream_kms_key_arn", storage.key.arn()),
            ]),
            environment: BTreeMap::from([("STREAM_NAME", streaming.stream.name())]),
            memory_mb: 256,
            // Retries of throttled records included, under the 29 s limit.
            // lambdas/ingest/src/put.rs (FUNCTION_TIMEOUT) bounds its Kinesis calls
            // to answer within it.
            timeout_seconds: 20,
            reserved_concurrency: stage.lambda.api_reserved_concurrency.map(i64::from),
            checkov_skips: api_function_skips(stage),
        },
    )?;
    let query = add_function(
        &mut stack,
        stage,
        assets,
        &storage.key,
        FunctionSpec {
            asset: "query",
            id: "Query",
            description: "GET invoices and customer purchases from DynamoDB".into(),
            policy: Policy::LambdaQuery,
            policy_context: BTreeMap::from([
                ("invoices_table_arn", storage.invoices_table.arn()),
                ("customers_table_arn", storage.customers_table.arn()),
                ("data_key_arn", storage.key.arn()),
            ]),
            environment: BTreeMap::from([
                ("INVOICES_TABLE", storage.invoices_table.name()),
                ("CUSTOMERS_TABLE", storage.customers_table.name()),
            ]),
            memory_mb: 256,
            timeout_seconds: 10,
            reserved_concurrency: stage.lambda.api_reserved_concurrency.map(i64::from),
            checkov_skips: api_function_skips(stage),
        },
    )?;

    let rest_api = stack.add(
        "RestApi",
        RestApi {
            name: format!("{}-transactions", stage.prefix()).into(),
            description: opt("Transactions of the online retailer: ingest and queries"),
            endpoint_configuration: Some(EndpointConfiguration {
                types: vec!["REGIONAL".into()],
            }),
            tags: tags([("Stage", stage.name)]),
            ..Default::default()
        },
    )?;
    let validator = stack.add(
        "RequestValidator",
        RequestValidator {
            rest_api_id: rest_api.id().into(),
            name: opt("body-and-parameters"),
            validate_request_body: opt(true),
            validate_request_parameters: opt(true),
        },
    )?;
    let transactions_model = stack.add(
        "TransactionsModel",
        Model {
            rest_api_id: rest_api.id().into(),
            content_type: opt("application/json"),
            name: opt("Transactions"),
            description: opt("One transaction, or an array of 1 to 500"),
            // The shape only: field-level validation, with a reason per
            // item, is the ingest function's (record::Transaction).
            schema: transactions_schema(),
        },
    )?;

    let root = rest_api.root_resource_id();
    let transactions = resource(
        &mut stack,
        "TransactionsResource",
        &rest_api,
        root.clone(),
        "transactions",
    )?;
    let invoices = resource(
        &mut stack,
        "InvoicesResource",
        &rest_api,
        root.clone(),
        "invoices",
    )?;
    let invoice = resource(
        &mut stack,
        "InvoiceResource",
        &rest_api,
        invoices.id(),
        "{invoiceNo}",
    )?;
    let customers = resource(
        &mut stack,
        "CustomersResource",
        &rest_api,
        root,
        "customers",
    )?;
    let customer = resource(
        &mut stack,
        "CustomerResource",
        &rest_api,
        customers.id(),
        "{customerId}",
    )?;
    let customer_invoices = resource(
        &mut stack,
        "CustomerInvoicesResource",
        &rest_api,
        customer.id(),
        "invoices",
    )?;

    let routes = [
        Route {
            id: "PostTransactions",
            method: "POST",
            path: "/transactions",
            resource: transactions,
            function: &ingest,
            path_parameter: None,
            model: Some(transactions_model.name()),
        },
        Route {
            id: "GetInvoice",
            method: "GET",
            path: "/invoices/*",
            resource: invoice,
            function: &query,
            path_parameter: Some("invoiceNo"),
            model: None,
        },
        Route {
            id: "GetCustomerInvoices",
            method: "GET",
            path: "/customers/*/invoices",
            resource: customer_invoices,
            function: &query,
            path_parameter: Some("customerId"),
            model: None,
        },
    ];
    let mut methods = Vec::new();
    for route in &routes {
        methods.push(add_route(&mut stack, &rest_api, &validator, route)?);
    }

    let digest = deployment_digest(&stack);
    let mut deployment_options = Options::new();
    for method in &methods {
        deployment_options = deployment_options.depends_on(method);
    }
    let deployment = stack.add_with(
        &format!("Deployment{digest}"),
        Deployment {
            rest_api_id: rest_api.id().into(),
            description: opt(format!("Configuration digest {digest}")),
        },
        deployment_options,
    )?;

    let access_logs = add_log_group(&mut stack, stage, &storage.key, "AccessLogGroup")?;
    // API Gateway writes execution logs to this group, named after the API
    // and stage; created here (before the stage) so it has the stage's
    // retention instead of a group API Gateway would create to keep forever.
    // The API's id in the name means a re-created stage never meets a
    // retained group of the same name.
    // <https://docs.aws.amazon.com/apigateway/latest/developerguide/set-up-logging.html>
    let execution_logs = add_named_log_group(
        &mut stack,
        stage,
        &storage.key,
        "ExecutionLogGroup",
        Expr::sub_with(
            format!("API-Gateway-Execution-Logs_${{Api}}/{API_STAGE_NAME}"),
            [("Api", rest_api.id())],
        ),
    )?;
    stack.add_with(
        "ApiStage",
        ApiStage {
            rest_api_id: rest_api.id().into(),
            deployment_id: deployment.id().into(),
            stage_name: API_STAGE_NAME.into(),
            description: opt(format!("{} stage", stage.name)),
            method_settings: Some(vec![MethodSetting {
                resource_path: "/*".into(),
                http_method: "*".into(),
                throttling_rate_limit: opt(stage.api.throttle_rate),
                throttling_burst_limit: opt(stage.api.throttle_burst),
                metrics_enabled: opt(true),
                // Execution logs of failed requests (integration errors,
                // authorisation and validation failures); INFO would log
                // every request, which the access log already does.
                logging_level: opt(EXECUTION_LOGGING_LEVEL),
                // Never request and response bodies: they carry customer ids.
                data_trace_enabled: opt(false),
                caching_enabled: opt(false),
                ..Default::default()
            }]),
            access_log_setting: Some(AccessLogSetting {
                destination_arn: access_logs.arn().into(),
                format: ACCESS_LOG_FORMAT.to_string().into(),
            }),
            tracing_enabled: opt(true),
            cache_cluster_enabled: opt(false),
            tags: tags([("Stage", stage.name)]),
        },
        // Logs need the account's CloudWatch role, which the toolkit stack
        // sets once per account and region (deploy bootstraps first), and
        // the execution log group before API Gateway would create its own.
        Options::new()
            .depends_on(&execution_logs)
            .metadata(checkov_skip(&[(
                "CKV_AWS_120",
                "Not cached: invoices gain lines as transactions arrive, and a cache would \
                 answer stale reads",
            )])),
    )?;

    stack.output(
        "ApiUrl",
        Expr::sub_with(
            format!(
                "https://${{Api}}.execute-api.${{AWS::Region}}.${{AWS::URLSuffix}}/{API_STAGE_NAME}"
            ),
            [("Api", rest_api.id())],
        ),
        "Invoke URL of the API (requests signed with SigV4)",
    )?;
    Ok(stack)
}

/// A deployment is a snapshot of everything the stage serves, and
/// CloudFormation only makes a new one when its logical id changes: the id
/// carries this digest of every resource the snapshot takes (routes,
/// methods with their authorisation, validator, integration and models), so
/// changing any of them deploys it.
fn deployment_digest(stack: &Stack) -> String {
    // Keys sorted explicitly: the digest must not depend on whether some
    // crate in the build turned on serde_json's `preserve_order`.
    let definition = sorted_keys(stack.definitions_of(&SERVED_TYPES)).to_string();
    hex::encode(&Sha256::digest(definition.as_bytes())[..4])
}

/// What a deployment snapshots: a new resource type of the API belongs here.
/// <https://docs.aws.amazon.com/apigateway/latest/developerguide/set-up-deployments.html>
pub const SERVED_TYPES: [&str; 7] = [
    "AWS::ApiGateway::Resource",
    "AWS::ApiGateway::Method",
    "AWS::ApiGateway::Model",
    "AWS::ApiGateway::RequestValidator",
    "AWS::ApiGateway::Authorizer",
    "AWS::ApiGateway::GatewayResponse",
    "AWS::ApiGateway::DocumentationPart",
];

/// The shape of a POST /transactions body (JSON schema draft 4, as API
/// Gateway models take it).
fn transactions_schema() -> serde_json::Value {
    json!({
        "$schema": "http://json-schema.org/draft-04/schema#",
        "title": "Transactions",
        "oneOf": [
            { "type": "object" },
            {
                "type": "array",
                "minItems": 1,
                "maxItems": MAX_TRANSACTIONS_PER_REQUEST,
                "items": { "type": "object" }
            }
        ]
    })
}

/// What checkov flags on the API functions on purpose.
fn api_function_skips(stage: &Stage) -> Vec<(&'static str, &'static str)> {
    let mut skips = vec![SYNCHRONOUS_DLQ_SKIP];
    if stage.lambda.api_reserved_concurrency.is_none() {
        skips.push((
            "CKV_AWS_115",
            "No reservation on this stage, so it deploys in accounts whose concurrency quota \
             allows none (10 in new accounts); the stage's throttling bounds the API's \
             concurrency",
        ));
    }
    skips
}

/// JSON access log lines. <https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-mapping-template-reference.html#context-variable-reference>
pub const ACCESS_LOG_FORMAT: &str = r#"{"requestId":"$context.requestId","ip":"$context.identity.sourceIp","caller":"$context.identity.caller","user":"$context.identity.user","requestTime":"$context.requestTime","httpMethod":"$context.httpMethod","resourcePath":"$context.resourcePath","status":"$context.status","protocol":"$context.protocol","responseLength":"$context.responseLength","integrationError":"$context.integrationErrorMessage"}"#;

struct Route<'a> {
    id: &'static str,
    method: &'static str,
    /// The method's path in the execute-api ARN, with `*` for parameters.
    path: &'static str,
    resource: Handle<Resource>,
    function: &'a PlatformFunction,
    path_parameter: Option<&'static str>,
    model: Option<Expr>,
}

fn resource(
    stack: &mut Stack,
    id: &str,
    rest_api: &Handle<RestApi>,
    parent: Expr,
    path_part: &str,
) -> Result<Handle<Resource>, PlatformError> {
    Ok(stack.add(
        id,
        Resource {
            rest_api_id: rest_api.id().into(),
            parent_id: parent.into(),
            path_part: path_part.into(),
        },
    )?)
}

fn add_route(
    stack: &mut Stack,
    rest_api: &Handle<RestApi>,
    validator: &Handle<RequestValidator>,
    route: &Route<'_>,
) -> Result<Handle<Method>, PlatformError> {
    let function_arn = route.function.function.arn();
    let method = stack.add(
        &format!("{}Method", route.id),
        Method {
            rest_api_id: rest_api.id().into(),
            resource_id: route.resource.id().into(),
            http_method: route.method.into(),
            authorization_type: "AWS_IAM".into(),
            request_validator_id: opt(validator.id()),
            request_models: route
                .model
                .clone()
                .map(|model| BTreeMap::from([("application/json".to_string(), model.into())])),
            request_parameters: route.path_parameter.map(|name| {
                BTreeMap::from([(format!("method.request.path.{name}"), true.into())])
            }),
            integration: Some(Integration {
                integration_type: "AWS_PROXY".into(),
                // Lambda is always invoked with POST, whatever the route.
                integration_http_method: opt("POST"),
                uri: opt(Expr::sub_with(
                    "arn:${AWS::Partition}:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/${Function}/invocations",
                    [("Function", function_arn.clone())],
                )),
                timeout_in_millis: opt(API_GATEWAY_TIMEOUT_SECONDS * 1000),
            }),
            operation_name: opt(route.id),
            ..Default::default()
        },
    )?;
    stack.add(
        &format!("{}Permission", route.id),
        Permission {
            action: "lambda:InvokeFunction".into(),
            function_name: function_arn.into(),
            principal: "apigateway.amazonaws.com".into(),
            // This route of this API only, from any of its stages.
            source_arn: opt(Expr::sub_with(
                format!(
                    "arn:${{AWS::Partition}}:execute-api:${{AWS::Region}}:${{AWS::AccountId}}:${{Api}}/*/{}{}",
                    route.method, route.path
                ),
                [("Api", rest_api.id())],
            )),
            ..Default::default()
        },
    )?;
    Ok(method)
}

/// Execution logging level of every method of the stage.
pub const EXECUTION_LOGGING_LEVEL: &str = "ERROR";

#[cfg(test)]
mod tests {
    use super::*;

    fn api_with(method: Method) -> Stack {
        let mut stack = Stack::new("Api", "test").unwrap();
        stack.add("PostMethod", method).unwrap();
        stack
    }

    fn method() -> Method {
        Method {
            rest_api_id: "api".into(),
            resource_id: "resource".into(),
            http_method: "POST".into(),
            authorization_type: "AWS_IAM".into(),
            request_validator_id: opt("validator"),
            integration: Some(Integration {
                integration_type: "AWS_PROXY".into(),
                integration_http_method: opt("POST"),
                uri: opt("arn:function-a"),
                timeout_in_millis: opt(29_000),
            }),
            ..Default::default()
        }
    }

    #[test]
    fn a_change_of_authorisation_validator_or_integration_makes_a_new_deployment() {
        let before = deployment_digest(&api_with(method()));
        let changes = [
            (
                "authorisation",
                Method {
                    authorization_type: "NONE".into(),
                    ..method()
                },
            ),
            (
                "validator",
                Method {
                    request_validator_id: None,
                    ..method()
                },
            ),
            (
                "integration",
                Method {
                    integration: Some(Integration {
                        timeout_in_millis: opt(10_000),
                        ..method().integration.unwrap()
                    }),
                    ..method()
                },
            ),
        ];
        for (what, changed) in changes {
            assert_ne!(deployment_digest(&api_with(changed)), before, "{what}");
        }
    }

    #[test]
    fn a_new_model_or_validator_makes_a_new_deployment() {
        let before = deployment_digest(&api_with(method()));
        let mut with_validator = api_with(method());
        with_validator
            .add(
                "Validator",
                RequestValidator {
                    rest_api_id: "api".into(),
                    name: opt("body"),
                    validate_request_body: opt(true),
                    validate_request_parameters: opt(false),
                },
            )
            .unwrap();
        assert_ne!(deployment_digest(&with_validator), before);
    }

    #[test]
    fn what_the_stage_does_not_serve_leaves_the_deployment_alone() {
        let before = deployment_digest(&api_with(method()));
        let mut with_permission = api_with(method());
        with_permission
            .add(
                "Permission",
                Permission {
                    action: "lambda:InvokeFunction".into(),
                    function_name: "f".into(),
                    principal: "apigateway.amazonaws.com".into(),
                    ..Default::default()
                },
            )
            .unwrap();
        assert_eq!(deployment_digest(&with_permission), before);
    }
}
