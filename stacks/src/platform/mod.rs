//! The e-commerce data platform: one file per stack, wired in `platform()`.
//!
//! A stack is a function that takes the handles it consumes and returns the
//! stack plus the handles it produces, so dependencies show in signatures.

mod access_logs;
pub mod alarms;
pub mod api;
pub mod batch;
pub mod cross_account;
pub mod encryption;
mod firehose_cidr;
pub mod function;
pub mod loader;
pub mod network;
mod role;
pub mod rotation;
pub mod storage;
pub mod streaming;
pub mod warehouse;

use crate::assets::AssetTable;
use crate::model::{App, ModelError, SynthError, SynthesizedStack};
use crate::stage::Stage;

pub use firehose_cidr::{UnknownFirehoseRegion, firehose_cidr};

/// Everything that can go wrong while defining the platform.
#[derive(Debug, thiserror::Error)]
pub enum PlatformError {
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error(transparent)]
    Synth(#[from] SynthError),
    #[error(transparent)]
    UnknownFirehoseRegion(#[from] UnknownFirehoseRegion),
    #[error(transparent)]
    Policy(#[from] crate::policies::PolicyError),
    #[error(
        "no built asset for Lambda function {function:?}; build it (provisioner synth builds every function under lambdas/)"
    )]
    MissingAsset { function: String },
    #[error("stage {stage}: {problem}")]
    Accounts { stage: String, problem: String },
    #[error(
        "stage {stage}: the loader does not know how many slices a {node_type} node has; add \
         the node type to stacks::platform::warehouse::SLICES_PER_NODE"
    )]
    UnknownNodeType { stage: String, node_type: String },
}

/// The platform's app for a stage, with Lambda code from `assets`.
///
/// Public topology: Firehose loads the warehouse. Private: the loader
/// does, from the lake; where the warehouse has an account of its own,
/// its stacks (Network, Warehouse, Loader) deploy there, the others in the
/// data account, and nothing references across the two (see
/// [`cross_account`]). There batch-import hands its lines to the lake for
/// the loader, and the warehouse table's catalog is in the Loader stack.
pub fn platform(stage: &Stage, assets: &AssetTable) -> Result<App, PlatformError> {
    let mut app = App::new(stage.prefix());
    let names = cross_account::CrossAccountNames::of(stage)?;
    let (network_stack, network) = network::network(stage)?;
    let (storage_stack, storage) = storage::storage(stage)?;
    let lake = stage.private_warehouse().then(|| match &names {
        Some(names) => warehouse::Lake {
            bucket_name: crate::model::Expr::literal(names.lake_bucket.clone()),
            bucket_arn: names.lake_bucket_arn(),
            key_arn: names.data_account_keys_arn(stage.region),
        },
        None => warehouse::Lake {
            bucket_name: storage.lake_bucket.name(),
            bucket_arn: storage.lake_bucket.arn(),
            key_arn: storage.key.arn(),
        },
    });
    let same_account = names.is_none().then_some(&storage);
    let (warehouse_stack, warehouse) =
        warehouse::warehouse(stage, assets, &network, same_account, lake)?;
    let firehose = (!stage.private_warehouse()).then_some(&warehouse);
    let (streaming_stack, streaming) = streaming::streaming(stage, assets, &storage, firehose)?;
    let api_stack = api::api(stage, assets, &storage, &streaming)?;
    let import_target = match &names {
        None => batch::ImportTarget::Warehouse {
            warehouse: &warehouse,
            network: &network,
        },
        Some(_) => batch::ImportTarget::Lake,
    };
    let batch_stack = batch::batch(stage, assets, &storage, import_target)?;
    let warehouse_catalog = names.is_some().then_some(&network);
    let loader_stack = stage
        .private_warehouse()
        .then(|| loader::loader(stage, assets, &warehouse, same_account, warehouse_catalog))
        .transpose()?;
    let (data, warehouse_account) = match &names {
        Some(names) => (
            Some(names.data_account.as_str()),
            Some(names.warehouse_account.as_str()),
        ),
        None => (None, None),
    };
    let in_account = |stack: crate::model::Stack, account: Option<&str>| match account {
        Some(account) => stack.in_account(account),
        None => stack,
    };
    for (stack, account) in [
        (Some(network_stack), warehouse_account),
        (Some(storage_stack), data),
        (Some(warehouse_stack), warehouse_account),
        (Some(streaming_stack), data),
        (Some(api_stack), data),
        (Some(batch_stack), data),
        (loader_stack, warehouse_account),
    ] {
        if let Some(stack) = stack {
            app.add(in_account(stack, account))?;
        }
    }
    Ok(app)
}

/// Renders the platform's stacks in deploy order.
pub fn synth(stage: &Stage, assets: &AssetTable) -> Result<Vec<SynthesizedStack>, PlatformError> {
    Ok(platform(stage, assets)?.synth()?)
}
