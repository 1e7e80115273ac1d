//! The deployed dev stage on the emulator, read back through each
//! service's API: what reached DynamoDB and the lake, the transform run on
//! what reached the stream, and the query API's answers.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use aws_credential_types::Credentials;
use aws_sdk_dynamodb::types::Select;
use serde_json::Value;

/// The names the stacks' outputs and resources give the running platform.
#[derive(Debug, Clone)]
pub struct Names {
    /// The REST API through the emulator's proxy
    /// (`{endpoint}/restapis/{id}/{stage}/_user_request_`).
    pub api_url: String,
    pub invoices_table: String,
    pub customers_table: String,
    pub lake_bucket: String,
    pub stream: String,
    pub transform_function: String,
}

/// Clients of the emulator's services for one region, and the names.
#[derive(Debug, Clone)]
pub struct Platform {
    pub names: Names,
    pub endpoint: String,
    pub region: String,
    pub cloudformation: aws_sdk_cloudformation::Client,
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub s3: aws_sdk_s3::Client,
    pub kinesis: aws_sdk_kinesis::Client,
    pub lambda: aws_sdk_lambda::Client,
    pub iam: aws_sdk_iam::Client,
}

/// What the stores hold.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Tally {
    /// Items of the Invoices table: one per stored line.
    pub dynamodb_lines: u64,
    /// Items of the Customers table: one per line with a customer.
    pub customer_items: u64,
    /// Lines of the lake's `raw/` objects.
    pub lake_lines: u64,
    /// Distinct `line_id`s among them.
    pub lake_line_ids: u64,
    /// Lines of the lake's `rejected/` objects.
    pub lake_rejected: u64,
    /// Records the writers gave up on and saved under `failed/` (replayable;
    /// harmless once a retry stored them after all).
    pub saved_as_failed: u64,
    pub lake_objects: u64,
}

/// Lake objects already read, by key: their ETag then, and what they hold.
type LakeObjects = BTreeMap<String, (String, LakeObject)>;

#[derive(Debug, Clone)]
enum LakeObject {
    Raw { lines: u64, line_ids: Vec<String> },
    Rejected(u64),
    Failed(u64),
    Other,
}

/// The transform run on every record of the stream, as Firehose would.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Transformed {
    pub records: u64,
    pub ok: u64,
    pub dropped: u64,
    pub processing_failed: u64,
    pub invocations: u64,
}

impl Platform {
    pub async fn connect(endpoint: &str, region: &str, stage: &str) -> anyhow::Result<Self> {
        let config = crate::aws::config_loader()
            .region(aws_config::Region::new(region.to_string()))
            .endpoint_url(endpoint)
            .credentials_provider(Credentials::new("test", "test", None, None, "local"))
            // The emulator shares a loaded machine with the functions it
            // runs: a connection may wait for seconds to be accepted (seen
            // in CI: three 3.1 s connect timeouts in a row), and a request
            // may never be answered (seen once: the tally waited on an S3
            // call for good). Wait longer, ask more often, never forever.
            .timeout_config(
                aws_config::timeout::TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(30))
                    .operation_attempt_timeout(Duration::from_secs(60))
                    .operation_timeout(Duration::from_secs(300))
                    .build(),
            )
            .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(6))
            .load()
            .await;
        let s3 = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&config)
                .force_path_style(true)
                .build(),
        );
        let cloudformation = aws_sdk_cloudformation::Client::new(&config);
        let names = read_names(&cloudformation, endpoint, stage).await?;
        Ok(Platform {
            names,
            endpoint: endpoint.to_string(),
            region: region.to_string(),
            cloudformation,
            dynamodb: aws_sdk_dynamodb::Client::new(&config),
            s3,
            kinesis: aws_sdk_kinesis::Client::new(&config),
            lambda: aws_sdk_lambda::Client::new(&config),
            iam: aws_sdk_iam::Client::new(&config),
        })
    }

    pub async fn tally(&self) -> anyhow::Result<Tally> {
        let listed = self.lake_objects().await?;
        self.tally_of(&listed, &mut LakeObjects::default()).await
    }

    /// What the stores hold, the lake's objects being `listed`: reads only
    /// the objects `seen` does not hold at their current ETag (the rest are
    /// counted from it).
    async fn tally_of(
        &self,
        listed: &BTreeMap<String, String>,
        seen: &mut LakeObjects,
    ) -> anyhow::Result<Tally> {
        let mut tally = Tally {
            dynamodb_lines: self.count_items(&self.names.invoices_table).await?,
            customer_items: self.count_items(&self.names.customers_table).await?,
            ..Tally::default()
        };
        seen.retain(|key, _| listed.contains_key(key));
        let mut line_ids = BTreeSet::new();
        for (key, etag) in listed {
            let fresh = seen.get(key).is_some_and(|(known, _)| known == etag);
            if !fresh {
                let object = self.read_lake_object(key).await?;
                seen.insert(key.clone(), (etag.clone(), object));
            }
            let (_, object) = &seen[key];
            tally.lake_objects += 1;
            match object {
                LakeObject::Rejected(lines) => tally.lake_rejected += lines,
                LakeObject::Failed(lines) => tally.saved_as_failed += lines,
                LakeObject::Raw {
                    lines,
                    line_ids: ids,
                } => {
                    tally.lake_lines += lines;
                    line_ids.extend(ids.iter().cloned());
                }
                LakeObject::Other => {}
            }
        }
        tally.lake_line_ids = line_ids.len() as u64;
        Ok(tally)
    }

    /// What one lake object holds: lines of `raw/` (and their ids),
    /// `rejected/` or `failed/`; other keys are not read.
    async fn read_lake_object(&self, key: &str) -> anyhow::Result<LakeObject> {
        let Some(prefix) = ["raw/", "rejected/", "failed/"]
            .into_iter()
            .find(|prefix| key.starts_with(prefix))
        else {
            return Ok(LakeObject::Other);
        };
        let body = self
            .s3
            .get_object()
            .bucket(&self.names.lake_bucket)
            .key(key)
            .send()
            .await
            .with_context(|| format!("reading s3://{}/{key}", self.names.lake_bucket))?
            .body
            .collect()
            .await
            .with_context(|| format!("reading s3://{}/{key}", self.names.lake_bucket))?
            .into_bytes();
        let lines = body.split(|b| *b == b'\n').filter(|l| !l.is_empty());
        Ok(match prefix {
            "rejected/" => LakeObject::Rejected(lines.count() as u64),
            "failed/" => LakeObject::Failed(lines.count() as u64),
            _ => {
                let mut line_ids = Vec::new();
                let mut count = 0;
                for line in lines {
                    count += 1;
                    let value: Value = serde_json::from_slice(line)
                        .with_context(|| format!("a line of {key} is not JSON"))?;
                    if let Some(id) = value["line_id"].as_str() {
                        line_ids.push(id.to_string());
                    }
                }
                LakeObject::Raw {
                    lines: count,
                    line_ids,
                }
            }
        })
    }

    /// Polls [`Self::tally`] until both stores hold `expected` lines and
    /// nothing changed for a few polls, or `timeout` passes (the last
    /// tally is returned either way: the caller judges it).
    ///
    /// Lake objects are read only once the lake's listing held still
    /// between two polls, so no GetObject meets the writers' PutObjects:
    /// fakecloud 0.51's GetObject takes its S3 state's read lock a second
    /// time (`bucket_region`, to decrypt the body) while holding it, and
    /// a PutObject waiting for the write lock in between deadlocks the
    /// whole S3 service (thread stacks read with gdb, 2026-12-07; the run
    /// then fails on its timeouts). While the writers write, only
    /// listings are asked. fakecloud's S3 lifecycle ticker takes the same
    /// write lock and met a GetObject too (seen once): the emulator's
    /// buckets are SSE-S3 since (`stand_ins`), whose objects take the
    /// lock once.
    pub async fn settle(&self, expected: u64, timeout: Duration) -> anyhow::Result<Tally> {
        let deadline = Instant::now() + timeout;
        // Lake objects are read once each (and again only when rewritten):
        // re-reading thousands of them every poll loads the emulator that
        // is still running the writers.
        let mut seen = LakeObjects::default();
        let mut listed = self.lake_objects().await?;
        let mut last: Option<Tally> = None;
        let mut unchanged = 0;
        loop {
            tokio::time::sleep(Duration::from_secs(2)).await;
            let now_listed = self.lake_objects().await?;
            let quiet = now_listed == listed;
            listed = now_listed;
            if !quiet {
                if Instant::now() > deadline {
                    return self.tally_of(&listed, &mut seen).await;
                }
                continue;
            }
            let now = self.tally_of(&listed, &mut seen).await?;
            unchanged = if last.as_ref() == Some(&now) {
                unchanged + 1
            } else {
                0
            };
            let done = now.dynamodb_lines >= expected && now.lake_lines >= expected;
            // Done and settled, out of time, or stalled well short of the
            // goal for a long time: the caller reports it.
            if (done && unchanged >= 1) || unchanged >= 30 || Instant::now() > deadline {
                return Ok(now);
            }
            last = Some(now);
        }
    }

    async fn count_items(&self, table: &str) -> anyhow::Result<u64> {
        let mut count = 0u64;
        let mut start = None;
        loop {
            let page = self
                .dynamodb
                .scan()
                .table_name(table)
                .select(Select::Count)
                .set_exclusive_start_key(start)
                .send()
                .await
                .with_context(|| format!("counting the items of {table}"))?;
            count += page.count as u64;
            start = page.last_evaluated_key;
            if start.is_none() {
                return Ok(count);
            }
        }
    }

    /// Every object of the lake bucket: key and ETag.
    async fn lake_objects(&self) -> anyhow::Result<BTreeMap<String, String>> {
        let mut objects = BTreeMap::new();
        let mut token = None;
        loop {
            let page = self
                .s3
                .list_objects_v2()
                .bucket(&self.names.lake_bucket)
                .set_continuation_token(token)
                .send()
                .await
                .with_context(|| format!("listing s3://{}", self.names.lake_bucket))?;
            objects.extend(page.contents().iter().filter_map(|o| {
                Some((
                    o.key()?.to_string(),
                    o.e_tag().unwrap_or_default().to_string(),
                ))
            }));
            token = page.next_continuation_token;
            if token.is_none() {
                return Ok(objects);
            }
        }
    }

    /// Every record of the stream through the deployed transform function,
    /// in Firehose's event format and batch size: the emulator's Firehose
    /// cannot read a stream nor call a processor (see `stand_ins`).
    pub async fn transform_stream(&self) -> anyhow::Result<Transformed> {
        let records = self.stream_records().await?;
        let mut result = Transformed {
            records: records.len() as u64,
            ..Transformed::default()
        };
        // Firehose's processor invocations are at most 6 MB; 500 records of
        // a few hundred bytes stay far below it.
        for chunk in records.chunks(500) {
            let event = firehose_event(chunk);
            let answer = self
                .lambda
                .invoke()
                .function_name(&self.names.transform_function)
                .payload(aws_smithy_types::Blob::new(serde_json::to_vec(&event)?))
                .send()
                .await
                .context("invoking the transform function")?;
            result.invocations += 1;
            let payload = answer.payload.map(|p| p.into_inner()).unwrap_or_default();
            if let Some(error) = answer.function_error {
                bail!(
                    "the transform function failed ({error}): {}",
                    String::from_utf8_lossy(&payload)
                );
            }
            let answer: Value = serde_json::from_slice(&payload).with_context(|| {
                format!(
                    "the transform's answer: {}",
                    String::from_utf8_lossy(&payload)
                )
            })?;
            let outputs = answer["records"].as_array().cloned().unwrap_or_default();
            if outputs.len() != chunk.len() {
                bail!(
                    "the transform answered {} records for {} (Firehose needs one out per record in)",
                    outputs.len(),
                    chunk.len()
                );
            }
            for output in outputs {
                match output["result"].as_str() {
                    Some("Ok") => result.ok += 1,
                    Some("Dropped") => result.dropped += 1,
                    _ => result.processing_failed += 1,
                }
            }
        }
        Ok(result)
    }

    /// Every record on every shard, from the trim horizon to the tip.
    async fn stream_records(&self) -> anyhow::Result<Vec<(String, Vec<u8>)>> {
        let shards = self
            .kinesis
            .list_shards()
            .stream_name(&self.names.stream)
            .send()
            .await
            .context("listing the stream's shards")?;
        let mut records = Vec::new();
        for shard in shards.shards() {
            let mut iterator = self
                .kinesis
                .get_shard_iterator()
                .stream_name(&self.names.stream)
                .shard_id(shard.shard_id())
                .shard_iterator_type(aws_sdk_kinesis::types::ShardIteratorType::TrimHorizon)
                .send()
                .await
                .context("getting a shard iterator")?
                .shard_iterator;
            while let Some(current) = iterator {
                let page = self
                    .kinesis
                    .get_records()
                    .shard_iterator(current)
                    .limit(10_000)
                    .send()
                    .await
                    .context("reading the stream")?;
                // An empty page: the shard's tip is reached (nothing is
                // being written while the run reads).
                let at_tip = page.records().is_empty();
                records.extend(
                    page.records()
                        .iter()
                        .map(|r| (r.sequence_number().to_string(), r.data().as_ref().to_vec())),
                );
                iterator = if at_tip {
                    None
                } else {
                    page.next_shard_iterator
                };
            }
        }
        Ok(records)
    }

    /// `GET {path}` of the REST API through the emulator's proxy: status
    /// and JSON answer.
    pub async fn query(&self, path: &str) -> anyhow::Result<(u16, Value)> {
        let url = format!("{}{path}", self.names.api_url);
        let (status, body) = get(&url).await?;
        let json = serde_json::from_slice(&body)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()));
        Ok((status, json))
    }
}

async fn read_names(
    cloudformation: &aws_sdk_cloudformation::Client,
    endpoint: &str,
    stage: &str,
) -> anyhow::Result<Names> {
    let mut outputs = BTreeMap::new();
    for stack in ["storage", "streaming", "api"] {
        let name = format!("retail-{stage}-{stack}");
        let described = cloudformation
            .describe_stacks()
            .stack_name(&name)
            .send()
            .await
            .with_context(|| format!("describing {name} (is the stage deployed?)"))?;
        for output in described.stacks().iter().flat_map(|s| s.outputs()) {
            if let (Some(k), Some(v)) = (output.output_key(), output.output_value()) {
                outputs.insert(k.to_string(), v.to_string());
            }
        }
    }
    let output = |key: &str| {
        outputs
            .get(key)
            .cloned()
            .ok_or_else(|| anyhow!("the stack output {key} is missing"))
    };
    let transform = cloudformation
        .describe_stack_resource()
        .stack_name(format!("retail-{stage}-streaming"))
        .logical_resource_id("TransformFunction")
        .send()
        .await
        .context("looking up the transform function")?
        .stack_resource_detail
        .and_then(|d| d.physical_resource_id)
        .ok_or_else(|| anyhow!("the TransformFunction has no physical id"))?;
    Ok(Names {
        api_url: proxy_url(endpoint, &output("ApiUrl")?)?,
        invoices_table: output("InvoicesTableName")?,
        customers_table: output("CustomersTableName")?,
        lake_bucket: output("LakeBucketName")?,
        stream: output("StreamName")?,
        transform_function: transform,
    })
}

/// `https://{id}.execute-api.{region}.amazonaws.com/{stage}` as the
/// emulator serves it: `{endpoint}/restapis/{id}/{stage}/_user_request_`.
pub fn proxy_url(endpoint: &str, api_url: &str) -> anyhow::Result<String> {
    let rest = api_url.split_once("://").map_or(api_url, |(_, rest)| rest);
    let (host, stage) = rest
        .split_once('/')
        .ok_or_else(|| anyhow!("ApiUrl {api_url} has no stage path"))?;
    let id = host
        .split('.')
        .next()
        .filter(|id| !id.is_empty())
        .ok_or_else(|| anyhow!("ApiUrl {api_url} has no API id"))?;
    Ok(format!(
        "{}/restapis/{id}/{}/_user_request_",
        endpoint.trim_end_matches('/'),
        stage.trim_end_matches('/')
    ))
}

/// A Firehose data-transformation event of `records`
/// (<https://docs.aws.amazon.com/firehose/latest/dev/data-transformation.html>).
fn firehose_event(records: &[(String, Vec<u8>)]) -> Value {
    let records: Vec<Value> = records
        .iter()
        .map(|(sequence, data)| {
            serde_json::json!({
                "recordId": sequence,
                "approximateArrivalTimestamp": 0,
                "data": aws_smithy_types::base64::encode(data),
            })
        })
        .collect();
    serde_json::json!({
        "invocationId": "local",
        "deliveryStreamArn": "arn:aws:firehose:local:000000000000:deliverystream/local",
        "region": "local",
        "records": records,
    })
}

async fn get(url: &str) -> anyhow::Result<(u16, Vec<u8>)> {
    use http_body_util::BodyExt;
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Empty<hyper::body::Bytes>>();
    let uri: hyper::Uri = url.parse().with_context(|| format!("{url} is not a URL"))?;
    let response = tokio::time::timeout(Duration::from_secs(60), client.get(uri))
        .await
        .with_context(|| format!("GET {url} timed out"))?
        .with_context(|| format!("GET {url}"))?;
    let status = response.status().as_u16();
    let body = response
        .into_body()
        .collect()
        .await
        .with_context(|| format!("reading the answer of GET {url}"))?
        .to_bytes()
        .to_vec();
    Ok((status, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_api_url_becomes_the_emulators_proxy_path() {
        assert_eq!(
            proxy_url(
                "http://127.0.0.1:4566/",
                "https://a1b2c3.execute-api.eu-west-1.amazonaws.com/v1"
            )
            .unwrap(),
            "http://127.0.0.1:4566/restapis/a1b2c3/v1/_user_request_"
        );
        assert!(proxy_url("http://e", "https://a1b2c3.execute-api").is_err());
    }
}
