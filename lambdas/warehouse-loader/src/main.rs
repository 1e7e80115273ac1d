//! Entry point: builds the clients once and wires
//! [`warehouse_loader::handle`] to the Lambda runtime. The schedule's event
//! loads what is not loaded yet; `{"from": ..., "to": ...}` loads those days.

use std::time::{Duration, SystemTime};

use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use warehouse_loader::{Clients, Config, Options, Request};

/// Kept free at the end of an invocation to return the summary: no load
/// starts within it.
const DEADLINE_MARGIN: Duration = Duration::from_secs(60);

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_logging::init();
    let config = Config::from_env()?;
    let aws = sdk_config::loader().load();
    let clients = Clients {
        s3: aws_sdk_s3::Client::new(&aws),
        redshift_data: aws_sdk_redshiftdata::Client::new(&aws),
    };
    run(service_fn(|event: LambdaEvent<serde_json::Value>| {
        let (clients, config) = (&clients, &config);
        async move {
            let request = Request::from_event(&event.payload)?;
            let left = event
                .context
                .deadline()
                .duration_since(SystemTime::now())
                .unwrap_or_default()
                .saturating_sub(DEADLINE_MARGIN);
            let now = SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0, |since| since.as_secs() as i64);
            let options = Options {
                deadline: Some(tokio::time::Instant::now() + left),
                ..Options::at(now)
            };
            let summary = warehouse_loader::handle(clients, config, request, &options).await?;
            Ok::<_, Error>(summary)
        }
    }))
    .await
}
