//! A lazy, validating JSON cursor over one record, and the writers that copy JSON out of it.
//!
//! Why not a DOM or a tape (simd-json, serde_json)? The Sentinel contract wants nested values
//! (`requestParameters`, GuardDuty's `resource`) as *minified source text*: key order and number
//! spelling kept (`12.0` stays `12.0`). A tape or a DOM forgets spelling and byte offsets, and
//! simd-json's tape rewrites escaped strings in place, so the raw bytes would be gone too. What
//! the mapper needs is: "give me the byte span of the value under this key", with the record
//! validated on the way so that nothing invalid reaches Azure. [`Cursor`] does exactly that, in
//! one pass over the fields the mapper visits: strings are skipped with `memchr` (SIMD), numbers
//! and literals are checked against the grammar, nesting is tracked with a bit stack (no
//! recursion, so no stack overflow on hostile input), and UTF-8 is validated once per record by
//! the caller with `std::str::from_utf8` before the cursor runs.
//!
//! Why not `serde_json::value::RawValue`, which does keep the source text? Measured, it is half
//! as fast on the same job. Validating and indexing the top-level members of generated
//! CloudTrail records (`src/bench/corpus.rs`, 2,000 records of about 1.7 KB, already framed),
//! per record on this project's 2-vCPU VM (`/proc/cpuinfo`: "AMD EPYC", AVX2; shared, load
//! about 9, so the ratios matter more than the times; both cursor rows also index the members
//! of `userIdentity` and `tlsDetails`), with
//! `cargo bench --bench stages -- json_index --warm-up-time 2 --measurement-time 4`:
//!
//! | path | ns per record |
//! |---|---|
//! | the cursor as the framer runs it (SIMD fast path `src/json/fast.rs`, then the cursor) | 2,520 |
//! | [`Cursor::index_object`] alone (no SIMD) | 5,450 |
//! | serde_json into a struct of 22 `Option<&RawValue>` fields | 5,280 |
//! | serde_json into `HashMap<&str, &RawValue>` | 9,760 |
//!
//! serde_json also does not fit the contract as it stands: a derived struct rejects a record
//! with a duplicate key and a `HashMap<&str, _>` one with an escaped key, it indexes no
//! nested members, and it cannot tell a minified record from a pretty one (which lets nested
//! values be copied as they are).
//!
//! String values are copied to the output *still escaped*: a valid JSON string in the input is a
//! valid JSON string in the output, so the common case is a `memcpy`. Only values that need the
//! 64 KB truncation are unescaped and re-escaped.

mod cursor;
mod fast;
mod find;
mod write;

pub use cursor::{
    has_controls, top_level, walk_index, Cursor, Error, ErrorKind, Fields, Kind, Member,
    MemberSpan, Value, MAX_DEPTH, NOT_INDEXED,
};
pub use fast::{index_object as fast_index_object, Indexed};
pub use find::quote_or_backslash;
pub use write::{
    escape_minified_into, escape_str_into, minify_escaped_into, minify_into, unescape_into,
    write_json_str,
};
