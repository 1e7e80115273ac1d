//! Entry point: builds the DynamoDB client once and wires
//! [`query::handle`] to the Lambda runtime.

use aws_lambda_events::apigw::ApiGatewayProxyRequest;
use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use query::Tables;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_logging::init();
    let tables = Tables::from_env(query::STACK)?;
    let aws = sdk_config::loader()
        .timeout_config(query::read::timeout_config())
        .load();
    let client = aws_sdk_dynamodb::Client::new(&aws);
    run(service_fn(|event: LambdaEvent<ApiGatewayProxyRequest>| {
        let (client, tables) = (&client, &tables);
        async move { Ok::<_, Error>(query::handle(client, tables, event.payload).await) }
    }))
    .await
}
