//! Entry point: builds the Secrets Manager and Data API clients once and
//! wires [`secret_rotation::Rotation::handle`] to the Lambda runtime, with
//! the invocation's deadline.

use std::time::{Duration, SystemTime};

use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use secret_rotation::{Config, Event, Rotation};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_logging::init();
    let config = Config::from_env(|name| std::env::var(name).ok())?;
    let aws = sdk_config::loader()
        .timeout_config(secret_rotation::timeout_config())
        .load();
    let secrets = aws_sdk_secretsmanager::Client::new(&aws);
    let data_api = aws_sdk_redshiftdata::Client::new(&aws);
    run(service_fn(|event: LambdaEvent<Event>| {
        let (secrets, data_api, config) = (&secrets, &data_api, &config);
        async move {
            let left = event
                .context
                .deadline()
                .duration_since(SystemTime::now())
                .unwrap_or_default();
            let rotation = Rotation {
                secrets,
                data_api,
                config,
                poll_interval: Duration::from_secs(1),
                // Lambda freezes the function at the deadline; stop short.
                deadline: tokio::time::Instant::now() + left.saturating_sub(Duration::from_secs(2)),
            };
            rotation.handle(&event.payload).await.map_err(Error::from)
        }
    }))
    .await
}
