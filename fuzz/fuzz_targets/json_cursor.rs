//! `logferry::json::Cursor::document` agrees with serde_json on validity (for UTF-8 input
//! nested at most 100 deep), the SIMD record indexer agrees with the cursor whenever it
//! answers, and the JSON writers (minify, JSON-text escaping, unescaping, string escaping)
//! round-trip through serde_json.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    logferry_fuzz::invariants::check_json(data);
});
