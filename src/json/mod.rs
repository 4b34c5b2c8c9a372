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
