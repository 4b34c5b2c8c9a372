//! Writers that put JSON into output buffers without serde: escaping plain text, minifying a
//! validated value, and minifying-then-escaping a value into a JSON-text string column.

/// Bytes that must be escaped inside a JSON string: `"`, `\` and control characters.
const fn needs_escape_table() -> [bool; 256] {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = true;
        i += 1;
    }
    t[b'"' as usize] = true;
    t[b'\\' as usize] = true;
    t
}
static NEEDS_ESCAPE: [bool; 256] = needs_escape_table();

/// Appends `s` escaped as JSON string *content* (no quotes).
pub fn escape_str_into(s: &[u8], out: &mut Vec<u8>) {
    let mut start = 0;
    for (i, &b) in s.iter().enumerate() {
        if !NEEDS_ESCAPE[b as usize] {
            continue;
        }
        out.extend_from_slice(&s[start..i]);
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            _ => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(&[
                    b'\\',
                    b'u',
                    b'0',
                    b'0',
                    HEX[(b >> 4) as usize],
                    HEX[(b & 0xf) as usize],
                ]);
            }
        }
        start = i + 1;
    }
    out.extend_from_slice(&s[start..]);
}

/// Appends `s` as a quoted JSON string.
pub fn write_json_str(s: &[u8], out: &mut Vec<u8>) {
    out.push(b'"');
    escape_str_into(s, out);
    out.push(b'"');
}

/// Appends a validated JSON value with insignificant whitespace removed. Strings are copied as
/// they are (escapes untouched), so key order, number spelling and string escapes are kept.
pub fn minify_into(raw: &[u8], out: &mut Vec<u8>) {
    // Fast path: records AWS writes are already minified.
    if !has_ws_outside_strings(raw) {
        out.extend_from_slice(raw);
        return;
    }
    let mut in_str = false;
    let mut i = 0;
    while i < raw.len() {
        let b = raw[i];
        if in_str {
            out.push(b);
            if b == b'\\' {
                // The escaped byte is ASCII and is copied verbatim.
                i += 1;
                if let Some(&n) = raw.get(i) {
                    out.push(n);
                }
            } else if b == b'"' {
                in_str = false;
            }
        } else if b == b'"' {
            in_str = true;
            out.push(b);
        } else if !matches!(b, b' ' | b'\n' | b'\r' | b'\t') {
            out.push(b);
        }
        i += 1;
    }
}

fn has_ws_outside_strings(raw: &[u8]) -> bool {
    let mut in_str = false;
    let mut esc = false;
    for &b in raw {
        if in_str {
            if esc {
                esc = false;
            } else if b == b'\\' {
                esc = true;
            } else if b == b'"' {
                in_str = false;
            }
        } else if b == b'"' {
            in_str = true;
        } else if matches!(b, b' ' | b'\n' | b'\r' | b'\t') {
            return true;
        }
    }
    false
}

/// Appends the minified text of a validated JSON value, escaped as JSON string content: what a
/// JSON-text column (`RequestParameters`) holds. Returns the length of the minified text before
/// escaping, which is what the 64 KB field limit counts.
pub fn minify_escaped_into(raw: &[u8], out: &mut Vec<u8>) -> usize {
    let mut text = 0usize;
    let mut in_str = false;
    let mut i = 0;
    while i < raw.len() {
        let b = raw[i];
        if in_str {
            match b {
                b'\\' => {
                    // `\x` in the source text becomes `\\x` (or `\\\"`) in the string column.
                    out.extend_from_slice(b"\\\\");
                    i += 1;
                    text += 1;
                    if let Some(&n) = raw.get(i) {
                        if n == b'"' {
                            out.extend_from_slice(b"\\\"");
                        } else if n == b'\\' {
                            out.extend_from_slice(b"\\\\");
                        } else {
                            out.push(n);
                        }
                        text += 1;
                    }
                }
                b'"' => {
                    out.extend_from_slice(b"\\\"");
                    in_str = false;
                    text += 1;
                }
                _ => {
                    out.push(b);
                    text += 1;
                }
            }
        } else {
            match b {
                b'"' => {
                    in_str = true;
                    out.extend_from_slice(b"\\\"");
                    text += 1;
                }
                b' ' | b'\n' | b'\r' | b'\t' => {}
                _ => {
                    out.push(b);
                    text += 1;
                }
            }
        }
        i += 1;
    }
    text
}

/// Appends the unescaped UTF-8 text of a validated JSON string's content. Lone surrogates
/// (valid JSON, invalid Unicode) become U+FFFD, as serde_json and Azure's parser would not
/// accept them either.
pub fn unescape_into(content: &[u8], out: &mut Vec<u8>) {
    let mut i = 0;
    while i < content.len() {
        let b = content[i];
        if b != b'\\' {
            out.push(b);
            i += 1;
            continue;
        }
        let e = content.get(i + 1).copied().unwrap_or(b'\\');
        i += 2;
        match e {
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b't' => out.push(b'\t'),
            b'b' => out.push(0x08),
            b'f' => out.push(0x0c),
            b'u' => {
                let hi = hex4(content.get(i..i + 4));
                i += 4;
                let cp = if (0xD800..0xDC00).contains(&hi)
                    && content.get(i) == Some(&b'\\')
                    && content.get(i + 1) == Some(&b'u')
                {
                    let lo = hex4(content.get(i + 2..i + 6));
                    if (0xDC00..0xE000).contains(&lo) {
                        i += 6;
                        0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                    } else {
                        0xFFFD
                    }
                } else if (0xD800..0xE000).contains(&hi) {
                    0xFFFD
                } else {
                    hi
                };
                let ch = char::from_u32(cp).unwrap_or('\u{FFFD}');
                let mut tmp = [0u8; 4];
                out.extend_from_slice(ch.encode_utf8(&mut tmp).as_bytes());
            }
            other => out.push(other),
        }
    }
}

fn hex4(h: Option<&[u8]>) -> u32 {
    let Some(h) = h else { return 0xFFFD };
    let mut v = 0u32;
    for &c in h {
        let d = match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            b'A'..=b'F' => c - b'A' + 10,
            _ => return 0xFFFD,
        };
        v = (v << 4) | d as u32;
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(f: impl Fn(&mut Vec<u8>)) -> String {
        let mut v = Vec::new();
        f(&mut v);
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn escapes_specials_and_controls() {
        assert_eq!(s(|o| write_json_str(b"a\"b\\c\nd\x01", o)), r#""a\"b\\c\nd\u0001""#);
        assert_eq!(s(|o| write_json_str("é".as_bytes(), o)), "\"é\"");
    }

    #[test]
    fn minify_keeps_strings_and_numbers() {
        let raw = br#"{ "a" : 12.0 , "b" : [ 1e3 , "x y\" z" ] }"#;
        assert_eq!(s(|o| minify_into(raw, o)), r#"{"a":12.0,"b":[1e3,"x y\" z"]}"#);
        assert_eq!(s(|o| minify_into(br#"{"a":1}"#, o)), r#"{"a":1}"#);
    }

    #[test]
    fn minify_escaped_is_json_text_in_a_string() {
        let raw = br#"{ "k" : "v\"q\\n" , "n" : 1.0 }"#;
        let mut out = Vec::new();
        let n = minify_escaped_into(raw, &mut out);
        let text = String::from_utf8(out).unwrap();
        // Parsing the column value as a JSON string gives back the minified source text.
        let decoded: String = serde_json::from_str(&format!("\"{text}\"")).unwrap();
        assert_eq!(decoded, r#"{"k":"v\"q\\n","n":1.0}"#);
        assert_eq!(n, decoded.len());
    }

    #[test]
    fn unescape_handles_surrogates() {
        assert_eq!(s(|o| unescape_into(br#"a\u00e9\ud83d\ude00\n\/"#, o)), "aé😀\n/");
        assert_eq!(s(|o| unescape_into(br#"\ud800x"#, o)), "\u{FFFD}x");
    }
}
