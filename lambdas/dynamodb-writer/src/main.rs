//! Entry point: builds the DynamoDB client once and wires
//! [`dynamodb_writer::handle`] to the Lambda runtime.

use aws_lambda_events::event::kinesis::KinesisEvent;
use dynamodb_writer::{RetryPolicy, Tables};
use lambda_runtime::{Error, LambdaEvent, run, service_fn, tracing};

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    let tables = Tables::from_env(dynamodb_writer::STACK)?;
    let policy = RetryPolicy::default();
    let client = aws_sdk_dynamodb::Client::new(
        &aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await,
    );
    run(service_fn(|event: LambdaEvent<KinesisEvent>| {
        let (client, tables, policy) = (&client, &tables, &policy);
        async move {
            Ok::<_, Error>(dynamodb_writer::handle(client, tables, policy, event.payload).await)
        }
    }))
    .await
}
