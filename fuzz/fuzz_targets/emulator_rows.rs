//! The emulator's request body check (`logferry::emulator::validate::rows`) on a stream of the
//! shipped DCR chosen by the first byte, checked by
//! `logferry_fuzz::invariants::check_emulator_rows` (never a panic; accepted rows are objects of
//! declared columns with values of the declared types, one NDJSON line each).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    logferry_fuzz::invariants::check_emulator_rows(data);
});
