//! The e-commerce data platform: one file per stack, wired in `platform()`.
//!
//! A stack is a function that takes the handles it consumes and returns the
//! stack plus the handles it produces, so dependencies show in signatures.

mod access_logs;
pub mod alarms;
pub mod api;
pub mod batch;
pub mod encryption;
mod firehose_cidr;
pub mod function;
pub mod network;
mod role;
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
}

/// The platform's app for a stage, with Lambda code from `assets`.
pub fn platform(stage: &Stage, assets: &AssetTable) -> Result<App, PlatformError> {
    let mut app = App::new(stage.prefix());
    let (network_stack, network) = network::network(stage)?;
    let (storage_stack, storage) = storage::storage(stage)?;
    let (warehouse_stack, warehouse) = warehouse::warehouse(stage, assets, &network, &storage)?;
    let (streaming_stack, streaming) = streaming::streaming(stage, assets, &storage, &warehouse)?;
    let api_stack = api::api(stage, assets, &storage, &streaming)?;
    let batch_stack = batch::batch(stage, assets, &network, &storage, &warehouse)?;
    for stack in [
        network_stack,
        storage_stack,
        warehouse_stack,
        streaming_stack,
        api_stack,
        batch_stack,
    ] {
        app.add(stack)?;
    }
    Ok(app)
}

/// Renders the platform's stacks in deploy order.
pub fn synth(stage: &Stage, assets: &AssetTable) -> Result<Vec<SynthesizedStack>, PlatformError> {
    Ok(platform(stage, assets)?.synth()?)
}
