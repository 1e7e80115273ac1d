//! Entry point: builds the S3 client once and wires
//! [`lake_writer::handle`] to the Lambda runtime.

use aws_lambda_events::event::kinesis::KinesisEvent;
use lake_writer::Config;
use lambda_runtime::{Error, LambdaEvent, run, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_logging::init();
    let config = Config::from_env()?;
    let aws = sdk_config::loader()
        .timeout_config(lake_writer::timeout_config())
        .load();
    let s3 = aws_sdk_s3::Client::new(&aws);
    run(service_fn(|event: LambdaEvent<KinesisEvent>| {
        let (s3, config) = (&s3, &config);
        async move { Ok::<_, Error>(lake_writer::handle(s3, config, event.payload).await) }
    }))
    .await
}
