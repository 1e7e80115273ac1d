//! Entry point: builds the clients once and wires [`batch_import::handle`]
//! and (for a warehouse in this account) [`batch_import::merge_firehose_deliveries`]
//! to the Lambda runtime.
//! The EventBridge event's content is not used.

use std::time::{Duration, SystemTime};

use batch_import::{Clients, Config, Options, timeouts};
use lambda_runtime::{Error, LambdaEvent, run, service_fn};

/// Kept free at the end of an invocation to return the summary.
const DEADLINE_MARGIN: Duration = Duration::from_secs(10);

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_logging::init();
    let config = Config::from_env()?;
    let aws = sdk_config::loader().load();
    // Each client gives up on a stalled call with its reason, well inside
    // the function's timeout (`batch_import::timeouts`).
    let clients = Clients {
        s3: aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&aws)
                .timeout_config(timeouts::s3())
                .build(),
        ),
        dynamodb: aws_sdk_dynamodb::Client::from_conf(
            aws_sdk_dynamodb::config::Builder::from(&aws)
                .timeout_config(timeouts::dynamodb())
                .build(),
        ),
        redshift_data: aws_sdk_redshiftdata::Client::from_conf(
            aws_sdk_redshiftdata::config::Builder::from(&aws)
                .timeout_config(timeouts::data_api())
                .build(),
        ),
    };
    run(service_fn(|event: LambdaEvent<serde_json::Value>| {
        let (clients, config) = (&clients, &config);
        async move {
            let left = event
                .context
                .deadline()
                .duration_since(SystemTime::now())
                .unwrap_or_default()
                .saturating_sub(DEADLINE_MARGIN);
            let options = Options {
                deadline: Some(tokio::time::Instant::now() + left),
                ..Options::default()
            };
            // Firehose's deliveries first, so the files cannot use up the
            // time; the files are imported whatever became of the merge.
            // A warehouse in another account merges its own loads.
            let merged = match config.data_api() {
                Some(api) => {
                    let client = &clients.redshift_data;
                    let deadline = options.deadline;
                    batch_import::merge_firehose_deliveries(client, api, &options.poll, deadline)
                        .await
                }
                None => Ok(()),
            };
            let imported = batch_import::handle(clients, config, &options).await;
            merged?;
            let report = imported?.check()?;
            Ok::<_, Error>(report)
        }
    }))
    .await
}
