//! `logferry::decode::open` + reading to the end (capped at 16 MiB against zip bombs), with
//! whole and trickled reads: never panics, plain data comes back unchanged, and the result
//! does not depend on how the underlying reader splits its reads.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    logferry_fuzz::invariants::check_decode(data);
});
