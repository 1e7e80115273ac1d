//! Entry point: builds the Data API, Secrets Manager and HTTP clients once and wires
//! [`warehouse_schema::handle`] to the Lambda runtime, with the time left
//! before the invocation's deadline.

use std::time::SystemTime;

use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use warehouse_schema::{ResponseClient, Timing};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_logging::init();
    let aws = sdk_config::loader()
        .timeout_config(warehouse_schema::timeout_config())
        .load();
    let redshift_data = aws_sdk_redshiftdata::Client::new(&aws);
    let secrets = aws_sdk_secretsmanager::Client::new(&aws);
    let http = ResponseClient::new()?;
    run(service_fn(|event: LambdaEvent<serde_json::Value>| {
        let (redshift_data, secrets, http) = (&redshift_data, &secrets, &http);
        async move {
            let left = event
                .context
                .deadline()
                .duration_since(SystemTime::now())
                .unwrap_or_default();
            let timing = Timing::for_invocation(left);
            warehouse_schema::handle(redshift_data, secrets, http, &timing, event.payload)
                .await
                .map_err(Error::from)
        }
    }))
    .await
}
