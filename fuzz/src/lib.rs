//! Shared code of the fuzz targets. `invariants.rs` is also compiled into
//! `tests/fuzz_regressions.rs` of the parent crate, so the checks run in `cargo test`.

pub mod invariants;
