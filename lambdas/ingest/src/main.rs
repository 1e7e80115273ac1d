//! Entry point: builds the Kinesis client once and wires
//! [`ingest::handle`] to the Lambda runtime.

use aws_lambda_events::apigw::ApiGatewayProxyRequest;
use ingest::{Config, RetryPolicy};
use lambda_runtime::{Error, LambdaEvent, run, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_logging::init();
    let config = Config::from_env()?;
    let policy = RetryPolicy::default();
    let aws = sdk_config::loader()
        .timeout_config(ingest::put::timeout_config())
        .load();
    let client = aws_sdk_kinesis::Client::new(&aws);
    run(service_fn(|event: LambdaEvent<ApiGatewayProxyRequest>| {
        let (client, config, policy) = (&client, &config, &policy);
        async move { Ok::<_, Error>(ingest::handle(client, config, policy, event.payload).await) }
    }))
    .await
}
