//! Stages: everything that differs between dev and prod, in one typed place.
//! Adding a stage is one more entry in `STAGES`.

use crate::model::DeletionPolicy;

#[derive(Debug, Clone, PartialEq)]
pub struct Stage {
    pub name: &'static str,
    pub region: &'static str,
    pub network: NetworkConfig,
    /// Prod keeps data when a resource is removed or replaced; dev can be
    /// destroyed cleanly.
    pub retain_data: bool,
    /// Point-in-time recovery on tables, snapshots on the cluster.
    pub backups: bool,
    pub log_retention_days: u32,
    /// Days Firehose's intermediate files (`copy/`) and source backup stay
    /// in the staging bucket after delivery: long enough to replay a failed
    /// COPY (its manifest under `errors/` names them), then they expire.
    pub loaded_data_retention_days: u32,
    pub termination_protection: bool,
    /// S3 server access logs of the data buckets, into a log bucket of the
    /// stage. Dev has none: S3 delivers them hours late, so a destroyed dev
    /// stage's log bucket would refill after being emptied and fail to go.
    /// <https://docs.aws.amazon.com/AmazonS3/latest/userguide/ServerLogs.html#LogDeliveryBestEffort>
    pub server_access_logs: bool,
    pub stream: StreamConfig,
    pub warehouse: WarehouseConfig,
    pub api: ApiConfig,
    pub lambda: LambdaConfig,
    /// EventBridge schedule of the bulk CSV import.
    pub batch_import_schedule: &'static str,
    /// An address the stack subscribes to the stage's alarm topic (AWS
    /// mails it a confirmation link); `None` subscribes nobody: subscribe
    /// to the topic of the `AlarmTopicArn` output yourself (README).
    pub alarm_email: Option<&'static str>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NetworkConfig {
    pub vpc_cidr: &'static str,
    /// One public subnet per availability zone (two AZs: a Redshift subnet
    /// group and Glue connections want more than one).
    pub public_subnet_cidrs: [&'static str; 2],
}

#[derive(Debug, Clone, PartialEq)]
pub struct StreamConfig {
    /// About 1 million events an hour is ~280 records/s of ~300 bytes; one
    /// shard takes 1,000 records/s or 1 MB/s. Prod keeps headroom for peaks.
    pub shards: u32,
    pub retention_hours: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct WarehouseConfig {
    pub node_type: &'static str,
    pub nodes: u32,
    /// Days automated snapshots are kept (1 to 35).
    pub snapshot_retention_days: u32,
    /// Days manual snapshots are kept, -1 for until deleted: the final
    /// snapshot prod's deletion policy takes is a manual one.
    pub manual_snapshot_retention_days: i32,
    /// Weekly window (UTC, `ddd:hh24:mi-ddd:hh24:mi`, at least 30 minutes)
    /// for patches and version upgrades, chosen outside the shop's hours
    /// and away from the other stage's, so they are never patched together.
    pub maintenance_window: &'static str,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ApiConfig {
    /// Steady-state requests per second of the stage.
    pub throttle_rate: f64,
    pub throttle_burst: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LambdaConfig {
    /// Concurrency reserved for each API function (ingest, query): a share
    /// of the account's concurrency that a flood of requests elsewhere
    /// cannot take, and a cap so the API cannot take the rest. Lambda
    /// refuses a reservation that leaves less than 100 unreserved (or the
    /// whole quota, in new accounts whose quota is 10), so `deploy` checks
    /// the account first. `None` reserves nothing: the stage's throttling
    /// is then the only bound.
    /// <https://docs.aws.amazon.com/lambda/latest/dg/configuration-concurrency.html>
    pub api_reserved_concurrency: Option<u32>,
}

pub const STAGES: &[Stage] = &[
    Stage {
        name: "dev",
        region: "eu-west-1",
        network: NetworkConfig {
            vpc_cidr: "10.10.0.0/16",
            public_subnet_cidrs: ["10.10.0.0/24", "10.10.1.0/24"],
        },
        retain_data: false,
        backups: false,
        log_retention_days: 7,
        loaded_data_retention_days: 7,
        termination_protection: false,
        server_access_logs: false,
        stream: StreamConfig {
            shards: 1,
            retention_hours: 24,
        },
        warehouse: WarehouseConfig {
            node_type: "ra3.large",
            nodes: 1,
            snapshot_retention_days: 1,
            manual_snapshot_retention_days: 7,
            maintenance_window: "tue:03:00-tue:03:30",
        },
        api: ApiConfig {
            throttle_rate: 50.0,
            throttle_burst: 100,
        },
        // A development account may have a concurrency quota of 10, which
        // allows no reservation at all: dev relies on its throttling.
        lambda: LambdaConfig {
            api_reserved_concurrency: None,
        },
        batch_import_schedule: "rate(1 hour)",
        alarm_email: None,
    },
    Stage {
        name: "prod",
        region: "eu-west-1",
        network: NetworkConfig {
            vpc_cidr: "10.20.0.0/16",
            public_subnet_cidrs: ["10.20.0.0/24", "10.20.1.0/24"],
        },
        retain_data: true,
        backups: true,
        log_retention_days: 365,
        loaded_data_retention_days: 30,
        termination_protection: true,
        server_access_logs: true,
        stream: StreamConfig {
            shards: 2,
            retention_hours: 168,
        },
        warehouse: WarehouseConfig {
            node_type: "ra3.xlplus",
            nodes: 2,
            snapshot_retention_days: 7,
            manual_snapshot_retention_days: -1,
            maintenance_window: "sun:03:00-sun:03:30",
        },
        api: ApiConfig {
            throttle_rate: 500.0,
            throttle_burst: 1000,
        },
        // Bursts of 1,000 requests at well under a second each.
        lambda: LambdaConfig {
            api_reserved_concurrency: Some(200),
        },
        batch_import_schedule: "rate(15 minutes)",
        alarm_email: None,
    },
];

#[derive(Debug, thiserror::Error)]
#[error("unknown stage {name:?}; known stages: {known}")]
pub struct UnknownStage {
    pub name: String,
    pub known: String,
}

impl Stage {
    pub fn named(name: &str) -> Result<&'static Stage, UnknownStage> {
        STAGES
            .iter()
            .find(|s| s.name == name)
            .ok_or_else(|| UnknownStage {
                name: name.to_string(),
                known: STAGES.iter().map(|s| s.name).collect::<Vec<_>>().join(", "),
            })
    }

    /// Deletion and update-replace policy of stateful resources.
    pub fn data_policy(&self) -> DeletionPolicy {
        if self.retain_data {
            DeletionPolicy::Retain
        } else {
            DeletionPolicy::Delete
        }
    }

    /// Prefix of stack names and of physical names, e.g. `retail-prod`.
    pub fn prefix(&self) -> String {
        format!("retail-{}", self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_stage_lists_the_known_ones() {
        let err = Stage::named("staging").unwrap_err().to_string();
        assert_eq!(err, "unknown stage \"staging\"; known stages: dev, prod");
    }

    #[test]
    fn prod_retains_data_and_dev_does_not() {
        assert_eq!(
            Stage::named("prod").unwrap().data_policy(),
            DeletionPolicy::Retain
        );
        assert_eq!(
            Stage::named("dev").unwrap().data_policy(),
            DeletionPolicy::Delete
        );
    }
}
