//! Entry point: wires [`firehose_transform::handler`] to the Lambda runtime.

use lambda_runtime::{Error, run, service_fn, tracing};

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    run(service_fn(firehose_transform::handler)).await
}
