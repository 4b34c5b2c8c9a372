//! logferry moves AWS security logs (CloudTrail, GuardDuty, VPC Flow Logs) into the Microsoft
//! Sentinel tables `AWSCloudTrail`, `AWSGuardDuty` and `AWSVPCFlow`.
//!
//! The modules follow the pipeline: [`source`] -> [`decode`] -> [`frame`] -> [`table`] (map)
//! -> [`batch`] -> [`sink`], joined by [`pipeline`], with [`ack`] deciding when an object is
//! finished. [`json`] is the JSON cursor the mappers read records with.
//!
//! The data-plane modules import only downwards, in this order (lowest first): [`json`],
//! [`ack`], [`counters`] -> [`batch`] -> [`table`] -> [`stats`] -> [`sink`] -> [`pool`] ->
//! [`frame`] -> [`pipeline`]. The tables write rows into batches and know nothing of pools,
//! sinks or the run's stats; what both sides need (the batch and its keys, [`table::Check`],
//! named counters) sits below them.

pub mod ack;
pub mod app;
pub mod batch;
pub mod bench;
pub mod config;
pub mod counters;
pub mod decode;
pub mod emulator;
pub mod frame;
pub mod json;
pub mod metrics;
pub mod pipeline;
pub mod pool;
pub mod replay;
pub mod route;
pub mod run_context;
pub mod sink;
pub mod source;
pub mod stats;
pub mod table;
