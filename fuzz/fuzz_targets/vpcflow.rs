//! `logferry::pipeline::map_object` as `Table::VpcFlow` with small request, chunk and record
//! limits, checked by `logferry_fuzz::invariants::check_object` (request bodies, row keys and
//! types, row and record counts, dead-letter offsets; and the same outcome for the content
//! gzip-compressed or padded so that records straddle reads, chosen by the first byte).
#![no_main]

use libfuzzer_sys::fuzz_target;
use logferry::table::Table;

fuzz_target!(|data: &[u8]| {
    logferry_fuzz::invariants::check_object(Table::VpcFlow, data);
});
