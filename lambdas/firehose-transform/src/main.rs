//! Entry point: wires [`firehose_transform::handler`] to the Lambda runtime.

use lambda_runtime::{Error, run, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_logging::init();
    run(service_fn(firehose_transform::handler)).await
}
