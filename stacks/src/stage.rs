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
    /// How events reach the warehouse, and in which account it lives.
    pub topology: WarehouseTopology,
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
    /// Days between two rotations of each warehouse secret (the master's
    /// and the users'), by the secret-rotation function
    /// (`lambdas/secret-rotation`): `rate(N days)` in each secret's
    /// `AWS::SecretsManager::RotationSchedule`.
    pub secret_rotation_days: u32,
}

/// Where the warehouse sits and how events reach it.
#[derive(Debug, Clone, PartialEq)]
pub enum WarehouseTopology {
    /// Firehose COPYs the stream into a publicly accessible cluster whose
    /// security group admits the Firehose CIDR of the region (Firehose
    /// cannot load into a private cluster).
    Public,
    /// The cluster sits in private subnets with no ingress from outside
    /// its VPC and no Firehose: the warehouse-loader function COPYs the
    /// lake's `raw/` partitions on a schedule. With `account`, the
    /// cluster, its network and the loader live in a second account that
    /// reads the lake across accounts.
    Private { account: Option<CrossAccount> },
}

/// The two accounts of a stage whose warehouse is in an account of its own.
#[derive(Debug, Clone, PartialEq)]
pub struct CrossAccount {
    /// Account A: the stream, the lake, the serving tables, the API. Its
    /// region is the stage's.
    pub data: Account,
    /// Account B: the network, the cluster and the loader.
    pub warehouse: Account,
}

/// An AWS account a stage deploys into.
#[derive(Debug, Clone, PartialEq)]
pub struct Account {
    /// The 12-digit account id: names that cross accounts (the lake
    /// bucket, the warehouse's roles) are computed from it at synth.
    pub id: &'static str,
    pub region: &'static str,
    /// The AWS profile `deploy` uses for this account (a flag overrides it).
    pub profile: &'static str,
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
            secret_rotation_days: 30,
        },
        topology: WarehouseTopology::Public,
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
            secret_rotation_days: 30,
        },
        topology: WarehouseTopology::Public,
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
    // Prod's sizes with a private warehouse in a second account. The
    // account ids are AWS's documentation examples
    // (<https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_principal.html>):
    // set them, and the profiles, to your two accounts before deploying;
    // everything that crosses accounts is computed from them at synth.
    Stage {
        name: "prod-private",
        region: "eu-west-1",
        network: NetworkConfig {
            vpc_cidr: "10.30.0.0/16",
            public_subnet_cidrs: ["10.30.0.0/24", "10.30.1.0/24"],
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
            maintenance_window: "sat:03:00-sat:03:30",
            secret_rotation_days: 30,
        },
        topology: WarehouseTopology::Private {
            account: Some(CrossAccount {
                data: Account {
                    id: "111122223333",
                    region: "eu-west-1",
                    profile: "retail-data",
                },
                warehouse: Account {
                    id: "444455556666",
                    region: "eu-west-1",
                    profile: "retail-warehouse",
                },
            }),
        },
        api: ApiConfig {
            throttle_rate: 500.0,
            throttle_burst: 1000,
        },
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

    /// The stage's two accounts, when its warehouse has an account of its own.
    pub fn cross_account(&self) -> Option<&CrossAccount> {
        match &self.topology {
            WarehouseTopology::Private { account } => account.as_ref(),
            WarehouseTopology::Public => None,
        }
    }

    /// Whether the cluster is private (no Firehose; the loader COPYs the lake).
    pub fn private_warehouse(&self) -> bool {
        matches!(self.topology, WarehouseTopology::Private { .. })
    }

    /// The stage's account with this id, if it names one.
    pub fn account(&self, id: &str) -> Option<&Account> {
        self.cross_account()
            .into_iter()
            .flat_map(|accounts| [&accounts.data, &accounts.warehouse])
            .find(|account| account.id == id)
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
        assert_eq!(
            err,
            "unknown stage \"staging\"; known stages: dev, prod, prod-private"
        );
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
