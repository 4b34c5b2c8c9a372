//! The Azure Monitor Logs Ingestion sink and the DCR it writes through.

pub mod dcr;
