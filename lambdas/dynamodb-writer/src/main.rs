//! Entry point: builds the DynamoDB client once and wires
//! [`dynamodb_writer::handle`] to the Lambda runtime.

use aws_lambda_events::event::kinesis::KinesisEvent;
use dynamodb_writer::{FailedStore, RetryPolicy, Tables};
use lambda_runtime::{Error, LambdaEvent, run, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_logging::init();
    let tables = Tables::from_env(dynamodb_writer::STACK)?;
    let policy = RetryPolicy::default();
    let bucket = FailedStore::bucket_from_vars(|name| std::env::var(name).ok())?;
    let aws = sdk_config::loader()
        .timeout_config(dynamodb_writer::write::timeout_config())
        .load();
    let client = aws_sdk_dynamodb::Client::new(&aws);
    let failed = FailedStore {
        s3: aws_sdk_s3::Client::new(&aws),
        bucket,
    };
    run(service_fn(|event: LambdaEvent<KinesisEvent>| {
        let (client, failed, tables, policy) = (&client, &failed, &tables, &policy);
        async move {
            Ok::<_, Error>(
                dynamodb_writer::handle(client, failed, tables, policy, event.payload).await,
            )
        }
    }))
    .await
}
