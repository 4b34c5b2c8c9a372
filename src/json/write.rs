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

/// Walks a validated JSON value in runs between quotes and backslashes (found with `memchr`),
/// calling `inside` for runs within strings, `outside` for runs between strings, `quote` for
/// each string delimiter and `escape` for each two-byte escape sequence.
#[inline]
fn walk(
    raw: &[u8],
    mut inside: impl FnMut(&[u8]),
    mut outside: impl FnMut(&[u8]),
    mut quote: impl FnMut(),
    mut escape: impl FnMut(u8),
) {
    let mut in_str = false;
    let mut i = 0;
    while i < raw.len() {
        let rest = &raw[i..];
        let Some(k) = super::quote_or_backslash(rest) else {
            if in_str {
                inside(rest)
            } else {
                outside(rest)
            }
            return;
        };
        if in_str {
            inside(&rest[..k]);
        } else {
            outside(&rest[..k]);
        }
        if rest[k] == b'"' {
            quote();
            in_str = !in_str;
            i += k + 1;
        } else {
            // Escapes only occur inside strings; the escaped byte is ASCII.
            escape(rest.get(k + 1).copied().unwrap_or(b'\\'));
            i += k + 2;
        }
    }
}

fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\n' | b'\r' | b'\t')
}

/// Appends a validated JSON value with insignificant whitespace removed. Strings are copied as
/// they are (escapes untouched), so key order, number spelling and string escapes are kept.
pub fn minify_into(raw: &[u8], out: &mut Vec<u8>) {
    out.reserve(raw.len());
    let out = std::cell::RefCell::new(out);
    walk(
        raw,
        |run| out.borrow_mut().extend_from_slice(run),
        |run| {
            let mut o = out.borrow_mut();
            if run.iter().any(|&b| is_ws(b)) {
                o.extend(run.iter().copied().filter(|&b| !is_ws(b)));
            } else {
                o.extend_from_slice(run);
            }
        },
        || out.borrow_mut().push(b'"'),
        |e| out.borrow_mut().extend_from_slice(&[b'\\', e]),
    );
}

/// Appends the minified text of a validated JSON value, escaped as JSON string content: what a
/// JSON-text column (`RequestParameters`) holds. Returns the length of the minified text before
/// escaping, which is what the 64 KB field limit counts.
pub fn minify_escaped_into(raw: &[u8], out: &mut Vec<u8>) -> usize {
    out.reserve(raw.len() + raw.len() / 8);
    let text = std::cell::Cell::new(0usize);
    let out = std::cell::RefCell::new(out);
    walk(
        raw,
        |run| {
            out.borrow_mut().extend_from_slice(run);
            text.set(text.get() + run.len());
        },
        |run| {
            let mut o = out.borrow_mut();
            let before = o.len();
            if run.iter().any(|&b| is_ws(b)) {
                o.extend(run.iter().copied().filter(|&b| !is_ws(b)));
            } else {
                o.extend_from_slice(run);
            }
            text.set(text.get() + o.len() - before);
        },
        || {
            out.borrow_mut().extend_from_slice(b"\\\"");
            text.set(text.get() + 1);
        },
        |e| {
            // `\x` in the source text becomes `\\x` in the string column (`\"` -> `\\\"`).
            let mut o = out.borrow_mut();
            o.extend_from_slice(b"\\\\");
            match e {
                b'"' => o.extend_from_slice(b"\\\""),
                b'\\' => o.extend_from_slice(b"\\\\"),
                _ => o.push(e),
            }
            text.set(text.get() + 2);
        },
    );
    text.get()
}

/// [`minify_escaped_into`] for a value known to be minified already: only `"` and `\`
/// need escaping. Returns the text's length (the value's).
///
/// Minified JSON has a quote every few bytes, so searching for the next one and copying the
/// run before it (what strings need) costs a call per quote. This takes 32 bytes at a time:
/// their quotes and backslashes as a bitmask (eight bytes per word), and for each the run
/// before it is written with one fixed-size copy, then the escape. The bitmask is two AVX2
/// compares where the CPU has them (a quarter of the time went to the portable word
/// arithmetic), else eight bytes per word.
pub fn escape_minified_into(raw: &[u8], out: &mut Vec<u8>) -> usize {
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2, checked just above.
            return unsafe { avx2::escape_minified_into(raw, out) };
        }
    }
    escape_minified_with(raw, out, escape_bits)
}

/// The loop of [`escape_minified_into`], with `bits` giving a 32-byte chunk's bitmask.
#[inline(always)]
fn escape_minified_with(raw: &[u8], out: &mut Vec<u8>, bits: impl Fn(&[u8; 32]) -> u32) -> usize {
    let start = out.len();
    // Room for the worst case (every byte escaped) and for one fixed-size copy past the end;
    // the unused tail is cut off.
    out.resize(start + 2 * raw.len() + 32, 0);
    let dst = &mut out[start..];
    let mut j = 0;
    let chunks = raw.as_chunks::<32>();
    // The chunk, then room for a copy starting anywhere in it.
    let mut window = [0u8; 64];
    for chunk in chunks.0 {
        window[..32].copy_from_slice(chunk);
        let mut mask = bits(chunk);
        let mut from = 0;
        while mask != 0 {
            let k = mask.trailing_zeros() as usize;
            mask &= mask - 1;
            dst[j..j + 32].copy_from_slice(&window[from..from + 32]);
            j += k - from;
            dst[j] = b'\\';
            dst[j + 1] = chunk[k];
            j += 2;
            from = k + 1;
        }
        dst[j..j + 32].copy_from_slice(&window[from..from + 32]);
        j += 32 - from;
    }
    for &b in chunks.1 {
        dst[j] = b'\\';
        j += ESCAPE[b as usize] as usize;
        dst[j] = b;
        j += 1;
    }
    out.truncate(start + j);
    raw.len()
}

/// A bit per byte of the 32-byte `chunk` that is `"` or `\`.
#[inline(always)]
fn escape_bits(chunk: &[u8; 32]) -> u32 {
    let mut bits = 0u32;
    for (i, w) in chunk.chunks_exact(8).enumerate() {
        let word = u64::from_le_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]);
        // Gather the eight high bits into one byte (bit k from byte k).
        let m = (needs_escape(word) >> 7).wrapping_mul(0x0102_0408_1020_4080) >> 56;
        bits |= (m as u32) << (8 * i);
    }
    bits
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    /// # Safety
    /// The CPU must support AVX2.
    #[target_feature(enable = "avx2")]
    pub unsafe fn escape_minified_into(raw: &[u8], out: &mut Vec<u8>) -> usize {
        super::escape_minified_with(raw, out, |chunk| bits(chunk))
    }

    #[target_feature(enable = "avx2")]
    fn bits(chunk: &[u8; 32]) -> u32 {
        // SAFETY: the load reads the 32 bytes of the array.
        let v = unsafe { _mm256_loadu_si256(chunk.as_ptr().cast()) };
        let quote = _mm256_cmpeq_epi8(v, _mm256_set1_epi8(b'"' as i8));
        let backslash = _mm256_cmpeq_epi8(v, _mm256_set1_epi8(b'\\' as i8));
        _mm256_movemask_epi8(_mm256_or_si256(quote, backslash)) as u32
    }
}

/// 0x80 in each byte of `w` that is `"` or `\` (exactly: no carry crosses a byte).
#[inline(always)]
fn needs_escape(w: u64) -> u64 {
    const LOW: u64 = 0x0101_0101_0101_0101;
    const LOW7: u64 = LOW * 0x7f;
    let zero = |v: u64| !(((v & LOW7) + LOW7) | v | LOW7);
    zero(w ^ (LOW * b'"' as u64)) | zero(w ^ (LOW * b'\\' as u64))
}

/// 1 for the bytes a JSON string must escape as `\x` that can occur in minified JSON text.
static ESCAPE: [u8; 256] = {
    let mut t = [0u8; 256];
    t[b'"' as usize] = 1;
    t[b'\\' as usize] = 1;
    t
};

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
        assert_eq!(
            s(|o| write_json_str(b"a\"b\\c\nd\x01", o)),
            r#""a\"b\\c\nd\u0001""#
        );
        assert_eq!(s(|o| write_json_str("é".as_bytes(), o)), "\"é\"");
    }

    #[test]
    fn minify_keeps_strings_and_numbers() {
        let raw = br#"{ "a" : 12.0 , "b" : [ 1e3 , "x y\" z" ] }"#;
        assert_eq!(
            s(|o| minify_into(raw, o)),
            r#"{"a":12.0,"b":[1e3,"x y\" z"]}"#
        );
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
    fn escaping_a_minified_value_equals_the_general_path() {
        let long = br#"{"bucketName":"amzn-s3-demo-bucket","key":"logs/2026/11/24/file-000123.json","q":"a\"b\\c"}"#;
        for raw in [
            &br#"{"k":"v\"q\\n","n":1.0,"a":["x"]}"#[..],
            b"{}",
            br#""\\""#,
            b"12",
            &long[..],
            &long[3..],
            &long[7..61],
        ] {
            let (mut a, mut b) = (Vec::new(), Vec::new());
            assert_eq!(
                minify_escaped_into(raw, &mut a),
                escape_minified_into(raw, &mut b)
            );
            assert_eq!(a, b, "{}", String::from_utf8_lossy(raw));
        }
    }

    /// The chunked escaper against a byte loop, quotes and backslashes anywhere.
    #[test]
    fn escape_minified_matches_a_byte_loop() {
        let mut rng = fastrand::Rng::with_seed(7);
        for _ in 0..5_000 {
            let len = rng.usize(..150);
            let raw: Vec<u8> = (0..len)
                .map(|i| match rng.u8(..7) {
                    0 => b'"',
                    1 => b'\\',
                    _ => b'a' + (i % 26) as u8,
                })
                .collect();
            let mut want = vec![b'#'];
            for &b in &raw {
                if b == b'"' || b == b'\\' {
                    want.push(b'\\');
                }
                want.push(b);
            }
            let mut got = vec![b'#'];
            assert_eq!(escape_minified_into(&raw, &mut got), raw.len());
            assert_eq!(got, want);
            // The portable path too (the SIMD one runs above where the CPU has it).
            let mut got = vec![b'#'];
            assert_eq!(escape_minified_with(&raw, &mut got, escape_bits), raw.len());
            assert_eq!(got, want);
        }
    }

    #[test]
    fn unescape_handles_surrogates() {
        assert_eq!(
            s(|o| unescape_into(br#"a\u00e9\ud83d\ude00\n\/"#, o)),
            "aé😀\n/"
        );
        assert_eq!(s(|o| unescape_into(br#"\ud800x"#, o)), "\u{FFFD}x");
    }
}
