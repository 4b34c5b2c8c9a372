//! `logferry::source::notification::parse` on any SQS body: never panics, gives the same
//! answer twice, and a key it decoded re-encodes to something that decodes to the same key.
#![no_main]

use libfuzzer_sys::fuzz_target;
use logferry::source::notification::{parse, Notification};

fuzz_target!(|data: &[u8]| {
    let Ok(body) = std::str::from_utf8(data) else { return };
    let first = parse(body);
    if let Notification::Objects { objects, .. } = &first {
        for o in objects {
            let encoded: String = o
                .key
                .bytes()
                .map(|b| format!("%{b:02X}"))
                .collect();
            assert_eq!(logferry::source::notification::decode_key(&encoded).as_deref(), Ok(o.key.as_str()));
        }
    }
    assert_eq!(parse(body), first);
});
