//! The body of an ingestion request against its stream declaration.
//!
//! The contract (<https://learn.microsoft.com/azure/azure-monitor/logs/logs-ingestion-api-overview>):
//! the body is UTF-8 JSON, "a JSON array" of objects whose keys match the stream's declared
//! columns. A bare object is documented as not ingested (Azure answers it 204 and drops it,
//! <https://github.com/MicrosoftDocs/azure-docs/issues/112669>); the emulator answers it 400
//! instead, so the mistake is seen.
//!
//! **Strict mode.** Azure is more lenient than this: it drops undeclared columns silently and
//! converts or nulls values it cannot read as the declared type, so such data is lost without
//! an error. The emulator refuses the whole request with 400 and a message naming the row
//! index, the column and the declared type, because a test should fail where data would be
//! lost. The rules:
//! - every key is a declared column of the stream (names compare exactly, case included);
//! - `null` is accepted for every type (a missing value);
//! - `string`: a JSON string; `int`: an integer literal in the i32 range; `long`: an integer
//!   literal in the i64 range (no fraction or exponent for either); `real`: any number;
//!   `boolean`: `true` or `false`; `datetime`: a string in RFC 3339 or ISO 8601 form with an
//!   offset (`2024-05-01T12:00:00Z`, `...+02:00`, fractions allowed); `dynamic`: anything.
//!
//! - a string value (of any column type) is at most 65,536 bytes of UTF-8: "Fields longer than
//!   64 KB are truncated" (Azure Monitor service limits), so a longer one would be stored
//!   cut; the emulator refuses it (the sender should cut it where it chooses and count it).
//!
//! Not enforced: the limit on the serialised size of a `dynamic` value (the documents do not
//! say how it is measured), and duplicate keys in one object (the last one is checked).

use serde_json::value::RawValue;
use serde_json::Value;
use time::format_description::well_known::{Iso8601, Rfc3339};
use time::OffsetDateTime;

use super::dcr::{ColumnType, Stream};
use super::error::ApiError;

const CODE: &str = "InvalidPayload";

/// "Fields longer than 64 KB are truncated" (Azure Monitor service limits, Logs Ingestion API).
const FIELD_LIMIT: usize = 65_536;

/// The accepted rows, as NDJSON ready to store.
#[derive(Debug)]
pub struct Rows {
    pub ndjson: Vec<u8>,
    pub count: u64,
}

/// Checks a decoded body; on success returns its rows.
pub fn rows(body: &[u8], stream_name: &str, stream: &Stream) -> Result<Rows, ApiError> {
    let text = std::str::from_utf8(body).map_err(|e| {
        ApiError::bad_request(
            CODE,
            format!(
                "The request body is not UTF-8: invalid byte sequence at offset {}.",
                e.valid_up_to()
            ),
        )
    })?;
    let whole: &RawValue = serde_json::from_str(text).map_err(|e| {
        ApiError::bad_request(CODE, format!("The request body is not valid JSON: {e}."))
    })?;
    if !whole.get().starts_with('[') {
        return Err(ApiError::bad_request(
            CODE,
            format!(
                "The request body must be a JSON array of objects; it is {}.",
                kind_of_raw(whole.get())
            ),
        ));
    }
    let elements: Vec<&RawValue> = serde_json::from_str(text).map_err(|e| {
        ApiError::bad_request(CODE, format!("The request body is not valid JSON: {e}."))
    })?;
    let mut ndjson = Vec::with_capacity(body.len());
    for (i, el) in elements.iter().enumerate() {
        let raw = el.get();
        if !raw.starts_with('{') {
            return Err(ApiError::bad_request(
                CODE,
                format!(
                    "Row {i}: every element of the array must be a JSON object; this one is {}.",
                    kind_of_raw(raw)
                ),
            ));
        }
        let row: serde_json::Map<String, Value> = serde_json::from_str(raw).map_err(|e| {
            ApiError::bad_request(CODE, format!("Row {i}: not a valid JSON object: {e}."))
        })?;
        for (column, value) in &row {
            let Some(&ty) = stream.columns.get(column) else {
                return Err(ApiError::bad_request(
                    CODE,
                    format!(
                        "Row {i}: column '{column}' is not declared in stream '{stream_name}' \
                         (strict mode: Azure would drop it silently)."
                    ),
                ));
            };
            if let Value::String(text) = value {
                if text.len() > FIELD_LIMIT {
                    return Err(ApiError::bad_request(
                        CODE,
                        format!(
                            "Row {i}: the value of column '{column}' is {} bytes; fields longer \
                             than 64 KB ({FIELD_LIMIT} bytes) are truncated (strict mode: \
                             refused instead).",
                            text.len()
                        ),
                    ));
                }
            }
            if !fits(ty, value) {
                return Err(ApiError::bad_request(
                    CODE,
                    format!(
                        "Row {i}: column '{column}' is declared {} in stream '{stream_name}' \
                         but the value is {} (strict mode: Azure would convert or drop it).",
                        ty.name(),
                        describe(value)
                    ),
                ));
            }
        }
        minify_into(raw, &mut ndjson);
        ndjson.push(b'\n');
    }
    Ok(Rows {
        ndjson,
        count: elements.len() as u64,
    })
}

/// Whether a value may go into a column of type `ty`.
pub fn fits(ty: ColumnType, v: &Value) -> bool {
    match (ty, v) {
        (_, Value::Null) | (ColumnType::Dynamic, _) => true,
        (ColumnType::String, Value::String(_)) => true,
        (ColumnType::Int, Value::Number(n)) => n.as_i64().is_some_and(|x| i32::try_from(x).is_ok()),
        (ColumnType::Long, Value::Number(n)) => n.as_i64().is_some(),
        (ColumnType::Real, Value::Number(_)) => true,
        (ColumnType::Boolean, Value::Bool(_)) => true,
        (ColumnType::DateTime, Value::String(s)) => is_datetime(s),
        _ => false,
    }
}

/// RFC 3339, or ISO 8601 with a time and an offset.
pub fn is_datetime(s: &str) -> bool {
    OffsetDateTime::parse(s, &Rfc3339).is_ok()
        || OffsetDateTime::parse(s, &Iso8601::PARSING).is_ok()
}

fn kind_of_raw(raw: &str) -> &'static str {
    match raw.as_bytes().first() {
        Some(b'{') => "an object",
        Some(b'[') => "an array",
        Some(b'"') => "a string",
        Some(b't' | b'f') => "a boolean",
        Some(b'n') => "null",
        _ => "a number",
    }
}

/// The value in a few words, with its text shortened, for error messages.
fn describe(v: &Value) -> String {
    let kind = match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_f64() => "a non-integer number",
        Value::Number(_) => "an integer",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    };
    let mut text = v.to_string();
    if text.len() > 80 {
        let mut cut = 77;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push_str("...");
    }
    format!("{kind} ({text})")
}

/// Copies valid JSON text without the whitespace between tokens.
fn minify_into(raw: &str, out: &mut Vec<u8>) {
    let mut in_string = false;
    let mut escaped = false;
    for &b in raw.as_bytes() {
        if in_string {
            out.push(b);
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
        } else if !matches!(b, b' ' | b'\t' | b'\n' | b'\r') {
            if b == b'"' {
                in_string = true;
            }
            out.push(b);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn stream() -> Stream {
        let columns: HashMap<String, ColumnType> = [
            ("s", ColumnType::String),
            ("i", ColumnType::Int),
            ("l", ColumnType::Long),
            ("r", ColumnType::Real),
            ("b", ColumnType::Boolean),
            ("t", ColumnType::DateTime),
            ("d", ColumnType::Dynamic),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        Stream {
            columns,
            tables: vec!["T".into()],
        }
    }

    #[test]
    fn accepts_and_minifies() {
        let body = br#"[ {"s" : "a b\" c", "i": 1, "l": 9007199254740993, "r": 1.5e3,
            "b": true, "t": "2024-05-01T12:00:00.123Z", "d": {"x": [1, 2]}},
            {"s": null, "t": "2024-05-01T12:00:00+02:00"} ]"#;
        let rows = rows(body, "S", &stream()).unwrap();
        assert_eq!(rows.count, 2);
        let text = String::from_utf8(rows.ndjson).unwrap();
        assert_eq!(
            text,
            "{\"s\":\"a b\\\" c\",\"i\":1,\"l\":9007199254740993,\"r\":1.5e3,\"b\":true,\"t\":\"2024-05-01T12:00:00.123Z\",\"d\":{\"x\":[1,2]}}\n{\"s\":null,\"t\":\"2024-05-01T12:00:00+02:00\"}\n"
        );
    }

    #[test]
    fn refuses_with_row_column_and_type() {
        let s = stream();
        let err = |b: &str| rows(b.as_bytes(), "S", &s).unwrap_err().message;
        assert!(err(r#"{"s":"x"}"#).contains("an object"));
        assert!(err(r#"[1]"#).contains("Row 0"));
        let m = err(r#"[{"s":"x"},{"i":2147483648}]"#);
        assert!(
            m.contains("Row 1") && m.contains("'i'") && m.contains("int"),
            "{m}"
        );
        assert!(err(r#"[{"l":1.0}]"#).contains("long"));
        assert!(err(r#"[{"t":"yesterday"}]"#).contains("datetime"));
        assert!(err(r#"[{"t":"2024-05-01"}]"#).contains("datetime"));
        assert!(err(r#"[{"b":"true"}]"#).contains("boolean"));
        assert!(err(r#"[{"zz":1}]"#).contains("not declared"));
        assert!(err("[").contains("not valid JSON"));
        assert!(rows(b"[{\"s\":\"\xff\"}]", "S", &s).is_err());
    }
}
