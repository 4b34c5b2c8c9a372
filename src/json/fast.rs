//! A SIMD fast path for [`Cursor::index_object`](super::Cursor::index_object): validates one
//! record and indexes its top-level members at a few bytes per cycle.
//!
//! The cursor dispatches on every byte of every token; on CloudTrail records (about 100 short
//! strings each) that was a fifth of the whole CPU path in `perf`, more than gunzip. This
//! works the way simdjson does, in two steps over 64-byte blocks:
//! 1. **Classify** (AVX2): per block, bitmasks of quotes, backslashes, the six structural
//!    characters, whitespace and control bytes. Escapes are resolved with a scalar loop over
//!    the (rare) backslashes, strings with a prefix XOR of the unescaped quotes, and from
//!    those come the block's *tokens*: every unescaped quote, every structural character
//!    outside strings and the first byte of every other run outside strings (a number or
//!    literal, or garbage).
//! 2. **Walk** the tokens with a bit stack of open containers, checking the grammar: what may
//!    follow what, numbers and literals against their grammar, each string's closing quote.
//!    The walk records where each top-level member is, and, under the keys the table names
//!    (CloudTrail's `userIdentity`, `tlsDetails`), the members of the objects nested there:
//!    the mapper then reads what it flattens from the index without scanning those bytes again.
//!
//! It is a fast path, not a second validator to trust: it answers `None` for anything it does
//! not handle plainly (a `\u` escape, nesting deeper than [`MAX_DEPTH`], any error at all, a
//! CPU without AVX2, another architecture), and the caller then runs the cursor, which is the
//! reference and reports the error. It must never accept what the cursor rejects, nor index
//! differently; `fuzz/fuzz_targets/json_cursor.rs` and the tests below compare the two.
//!
//! All steps only look backwards (a bit depends on the bytes before it), so the bytes after
//! the record in its last block, which may be anything, change nothing before its end.

use super::cursor::{MemberSpan, MAX_DEPTH, NOT_INDEXED};

/// What the fast path found for a valid record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Indexed {
    /// Just past the record's closing `}`.
    pub end: usize,
    /// Whitespace between tokens (the record is not minified).
    pub whitespace: bool,
    /// Every byte of the record is ASCII (no UTF-8 check needed).
    pub ascii: bool,
}

/// Validates the object at `buf[0]` and appends its top-level members to `out` (relative to
/// `buf[0]`). `None`: not handled here; `out` may then hold a partial index to discard.
///
/// The members of a top-level object value whose key is in `descend` are indexed too, and
/// theirs, down through objects (not arrays): each such entry follows its parent's, in
/// document order, and the parent's [`MemberSpan::nested`] counts them. The mapper then
/// walks those objects (CloudTrail's `userIdentity`) from the index instead of scanning them
/// again. [`Cursor::index_object`](super::Cursor::index_object) gives the same entries; a member
/// not indexed is scanned by the mapper.
pub fn index_object(buf: &[u8], descend: &[&[u8]], out: &mut Vec<MemberSpan>) -> Option<Indexed> {
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2, checked just above.
            return unsafe { avx2::index_object(buf, descend, out) };
        }
    }
    let _ = (buf, descend, out);
    None
}

/// Per-block masks, bit `i` for byte `i` of the block.
#[derive(Default, Clone, Copy)]
struct Masks {
    quote: u64,
    backslash: u64,
    /// `{ } [ ] : ,`
    op: u64,
    /// Space, tab, newline, carriage return.
    ws: u64,
    /// Bytes below 0x20.
    ctl: u64,
    /// Bytes from 0x80.
    high: u64,
}

/// What carries from one block to the next.
#[derive(Default, Clone, Copy)]
struct Carry {
    /// The last byte of the previous block was inside a string (all ones) or not (zero).
    in_string: u64,
    /// The first byte of this block is escaped.
    escaped: bool,
    /// The last byte of the previous block was part of a run outside strings.
    scalar: bool,
}

/// A classified block.
struct Block {
    tokens: u64,
    /// Bytes that are invalid wherever they are: control bytes in strings, and outside
    /// strings control bytes other than whitespace. Also set for an escape this path does not
    /// handle (`\u`) or an invalid one.
    bad: u64,
    /// Whitespace outside strings.
    ws: u64,
    high: u64,
}

/// Bit `i` set when bit `i` of `x` is set an odd number of times in bits `0..=i`.
#[inline(always)]
fn prefix_xor(mut x: u64) -> u64 {
    x ^= x << 1;
    x ^= x << 2;
    x ^= x << 4;
    x ^= x << 8;
    x ^= x << 16;
    x ^= x << 32;
    x
}

/// Resolves escapes and strings for one block of `bytes` (the block's 64 bytes).
#[inline(always)]
fn finish_block(m: Masks, bytes: &[u8; 64], carry: &mut Carry) -> Block {
    let mut escaped = carry.escaped as u64;
    let mut bad = 0u64;
    carry.escaped = false;
    if m.backslash != 0 || escaped != 0 {
        // A backslash not itself escaped escapes the next byte. Rare: a loop is enough.
        let mut bits = m.backslash;
        while bits != 0 {
            let i = bits.trailing_zeros();
            bits &= bits - 1;
            if escaped & (1 << i) != 0 {
                continue;
            }
            if i == 63 {
                carry.escaped = true;
            } else {
                escaped |= 1 << (i + 1);
            }
        }
        // Only the one-character escapes are handled here; `\u` (surrogate rules) and
        // invalid escapes go to the cursor.
        let mut e = escaped;
        while e != 0 {
            let i = e.trailing_zeros();
            e &= e - 1;
            if !matches!(
                bytes[i as usize],
                b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't'
            ) {
                bad |= 1 << i;
            }
        }
    }
    let quote = m.quote & !escaped;
    // From an opening quote up to (not including) its closing quote.
    let in_string = prefix_xor(quote) ^ carry.in_string;
    carry.in_string = ((in_string as i64) >> 63) as u64;
    let outside = !in_string & !quote;
    let ws = m.ws & outside;
    let run = outside & !m.op & !m.ws;
    let run_start = run & !((run << 1) | carry.scalar as u64);
    carry.scalar = run >> 63 != 0;
    bad |= m.ctl & !ws;
    Block {
        tokens: quote | (m.op & outside) | run_start,
        bad,
        ws,
        high: m.high,
    }
}

/// Whether `b` may follow a number or literal.
#[inline(always)]
fn ends_run(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | b',' | b'}' | b']')
}

/// The end of the number or literal at `buf[at]`, checked against the JSON grammar.
#[inline(always)]
fn scalar_end(buf: &[u8], at: usize) -> Option<usize> {
    let end = match buf[at] {
        b't' => buf[at..].starts_with(b"true").then_some(at + 4)?,
        b'f' => buf[at..].starts_with(b"false").then_some(at + 5)?,
        b'n' => buf[at..].starts_with(b"null").then_some(at + 4)?,
        _ => number_end(buf, at)?,
    };
    // The run must end there (`truex`, `12a` are one run).
    buf.get(end).is_none_or(|&b| ends_run(b)).then_some(end)
}

/// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`
#[inline(always)]
fn number_end(buf: &[u8], mut i: usize) -> Option<usize> {
    let digits = |i: &mut usize| {
        let start = *i;
        while buf.get(*i).is_some_and(u8::is_ascii_digit) {
            *i += 1;
        }
        *i - start
    };
    if buf.get(i) == Some(&b'-') {
        i += 1;
    }
    match buf.get(i) {
        Some(b'0') => i += 1,
        Some(b'1'..=b'9') => {
            digits(&mut i);
        }
        _ => return None,
    }
    if buf.get(i) == Some(&b'.') {
        i += 1;
        if digits(&mut i) == 0 {
            return None;
        }
    }
    if matches!(buf.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(buf.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return None;
        }
    }
    Some(i)
}

/// The token stream of one record: blocks are classified as the walk reaches them.
struct Tokens<'a, F> {
    buf: &'a [u8],
    /// Offset of the current block.
    at: usize,
    bits: u64,
    block: Block,
    carry: Carry,
    /// Over the blocks left behind.
    ws: u64,
    high: u64,
    classify: F,
}

impl<'a, F: Fn(&[u8; 64]) -> Masks> Tokens<'a, F> {
    #[inline(always)]
    fn new(buf: &'a [u8], classify: F) -> Self {
        let mut t = Tokens {
            buf,
            at: 0,
            bits: 0,
            block: Block {
                tokens: 0,
                bad: 0,
                ws: 0,
                high: 0,
            },
            carry: Carry::default(),
            ws: 0,
            high: 0,
            classify,
        };
        t.load();
        t
    }

    #[inline(always)]
    fn load(&mut self) {
        let mut padded = [b' '; 64];
        let bytes: &[u8; 64] = match self.buf.get(self.at..self.at + 64) {
            Some(b) => b.try_into().unwrap_or(&padded),
            None => {
                // The tail, padded with spaces: a record still open there has no more tokens.
                let rest = self.buf.get(self.at..).unwrap_or_default();
                padded[..rest.len()].copy_from_slice(rest);
                &padded
            }
        };
        let m = (self.classify)(bytes);
        self.block = finish_block(m, bytes, &mut self.carry);
        self.bits = self.block.tokens;
    }

    /// The next token's offset; `None` at the end of the buffer or past a bad byte.
    #[inline(always)]
    fn next(&mut self) -> Option<usize> {
        while self.bits == 0 {
            // The whole block is inside the record: nothing in it may be bad.
            if self.block.bad != 0 {
                return None;
            }
            self.ws |= self.block.ws;
            self.high |= self.block.high;
            self.at += 64;
            if self.at >= self.buf.len() {
                return None;
            }
            self.load();
        }
        let i = self.bits.trailing_zeros() as usize;
        self.bits &= self.bits - 1;
        Some(self.at + i)
    }

    /// The record ended at `end` (just past its `}`), inside the current block.
    fn finish(&self, end: usize) -> Option<Indexed> {
        let bits = end - self.at;
        let before = if bits >= 64 { !0 } else { (1u64 << bits) - 1 };
        if self.block.bad & before != 0 {
            return None;
        }
        Some(Indexed {
            end,
            whitespace: (self.ws | (self.block.ws & before)) != 0,
            ascii: (self.high | (self.block.high & before)) == 0,
        })
    }
}

/// The walk over the tokens; `classify` is the block classifier for this CPU.
///
/// Straight-line code per member (key, colon, value, then `,` or closers) rather than a state
/// machine: the dispatch on a state per token mispredicted.
#[inline(always)]
fn walk(
    buf: &[u8],
    descend: &[&[u8]],
    out: &mut Vec<MemberSpan>,
    classify: impl Fn(&[u8; 64]) -> Masks,
) -> Option<Indexed> {
    if buf.first() != Some(&b'{') {
        return None;
    }
    let mut toks = Tokens::new(buf, classify);
    if toks.next()? != 0 {
        return None;
    }
    // One bit per open container, 1 for an object; the record is the bottom one.
    let mut stack: u128 = 1;
    let mut depth = 1usize;
    // Indexed objects open above the record: the containers at depths `2..=1 + nest` are
    // objects being indexed (always a chain from a descended top-level member), so members
    // are indexed exactly while `depth <= 1 + nest`.
    let mut nest = 0usize;
    // The entry of the innermost open indexed object, whose end and count are filled in when
    // it closes. Until then its `nested` holds the entry of the one around it: a chain
    // through the open entries, with no per-depth array.
    let mut open = 0u32;
    // The indexed object that just closed: its entry is completed rather than pushed.
    let mut closed = false;
    // The current indexed member: its key and where its value starts.
    let mut key = (0u32, 0u32);
    let mut value_start = 0usize;
    let mut t = toks.next()?;
    if buf[t] == b'}' {
        return toks.finish(t + 1);
    }
    loop {
        let indexing = depth <= 1 + nest;
        // At the first token of a member (in an object) or an element (in an array).
        if stack & 1 == 1 {
            if buf[t] != b'"' {
                return None;
            }
            let close = toks.next()?;
            if indexing {
                key = (t as u32 + 1, close as u32);
            }
            if buf[toks.next()?] != b':' {
                return None;
            }
            t = toks.next()?;
        }
        // The value at `t`.
        if indexing {
            value_start = t;
        }
        // Strings first: most values are strings (tested in the order of frequency, which
        // predicted better than a jump table on the byte).
        let c = buf[t];
        let mut last_end = if c == b'"' {
            // The next token is its closing quote: nothing else is a token inside a string.
            toks.next()? + 1
        } else if c == b'{' || c == b'[' {
            if depth >= MAX_DEPTH {
                return None;
            }
            let is_obj = c == b'{';
            // An object member of an indexed object, or a top-level one named in `descend`.
            let nested = is_obj
                && indexing
                && (depth > 1
                    || buf
                        .get(key.0 as usize..key.1 as usize)
                        .is_some_and(|k| descend.contains(&k)));
            if nested {
                out.push(MemberSpan {
                    key,
                    value: (t as u32, 0),
                    nested: open,
                });
                open = out.len() as u32 - 1;
                nest += 1;
            }
            stack = (stack << 1) | is_obj as u128;
            depth += 1;
            t = toks.next()?;
            let closer = if is_obj { b'}' } else { b']' };
            if buf[t] != closer {
                continue;
            }
            // Empty.
            stack >>= 1;
            depth -= 1;
            if nested {
                nest -= 1;
                closed = true;
            }
            t + 1
        } else if matches!(c, b't' | b'f' | b'n' | b'-' | b'0'..=b'9') {
            scalar_end(buf, t)?
        } else {
            return None;
        };
        // A value ended at `last_end`: then `,` or closers.
        loop {
            if closed {
                closed = false;
                let at = open as usize;
                let count = (out.len() - at - 1) as u32;
                let entry = out.get_mut(at)?;
                entry.value.1 = last_end as u32;
                open = entry.nested;
                entry.nested = count;
            } else if depth <= 1 + nest {
                out.push(MemberSpan {
                    key,
                    value: (value_start as u32, last_end as u32),
                    nested: NOT_INDEXED,
                });
            }
            t = toks.next()?;
            match (buf[t], stack & 1 == 1) {
                (b',', _) => {
                    t = toks.next()?;
                    break;
                }
                (b'}', true) | (b']', false) => {
                    // (Indexed containers are objects: an array never closes one.)
                    if nest > 0 && depth == 1 + nest {
                        nest -= 1;
                        closed = true;
                    }
                    stack >>= 1;
                    depth -= 1;
                    last_end = t + 1;
                    if depth == 0 {
                        return toks.finish(last_end);
                    }
                }
                _ => return None,
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    use super::{walk, Indexed, Masks, MemberSpan};

    /// # Safety
    /// The CPU must support AVX2.
    #[target_feature(enable = "avx2")]
    pub unsafe fn index_object(
        buf: &[u8],
        descend: &[&[u8]],
        out: &mut Vec<MemberSpan>,
    ) -> Option<Indexed> {
        walk(buf, descend, out, |bytes| classify(bytes))
    }

    #[target_feature(enable = "avx2")]
    fn half(v: __m256i) -> [u32; 6] {
        let eq = |c: u8| _mm256_movemask_epi8(_mm256_cmpeq_epi8(v, _mm256_set1_epi8(c as i8)));
        // `[`/`{` and `]`/`}` differ only in bit 5.
        let folded = _mm256_or_si256(v, _mm256_set1_epi8(0x20));
        let efold =
            |c: u8| _mm256_movemask_epi8(_mm256_cmpeq_epi8(folded, _mm256_set1_epi8(c as i8)));
        let op = efold(b'{') | efold(b'}') | eq(b':') | eq(b',');
        let ws = eq(b' ') | eq(b'\t') | eq(b'\n') | eq(b'\r');
        // Below 0x20: the unsigned minimum with 0x1f is the byte itself.
        let ctl = _mm256_movemask_epi8(_mm256_cmpeq_epi8(
            _mm256_min_epu8(v, _mm256_set1_epi8(0x1f)),
            v,
        ));
        let high = _mm256_movemask_epi8(v);
        [eq(b'"'), eq(b'\\'), op, ws, ctl, high].map(|m| m as u32)
    }

    #[target_feature(enable = "avx2")]
    fn classify(bytes: &[u8; 64]) -> Masks {
        // SAFETY: both loads read 32 bytes inside the 64-byte array.
        let lo = unsafe { _mm256_loadu_si256(bytes.as_ptr().cast()) };
        let hi = unsafe { _mm256_loadu_si256(bytes.as_ptr().add(32).cast()) };
        let (l, h) = (half(lo), half(hi));
        let join = |i: usize| l[i] as u64 | ((h[i] as u64) << 32);
        Masks {
            quote: join(0),
            backslash: join(1),
            op: join(2),
            ws: join(3),
            ctl: join(4),
            high: join(5),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::Cursor;

    /// Keys the tests index nested objects under.
    const DESCEND: &[&[u8]] = &[b"a", b"b", b"userIdentity", b"o", b""];

    /// The fast path either declines or agrees with the cursor exactly, indexing nested
    /// objects or not.
    fn agrees(doc: &[u8]) -> Option<Indexed> {
        let got = agrees_descending(doc, &[]);
        assert_eq!(agrees_descending(doc, DESCEND), got);
        got
    }

    fn agrees_descending(doc: &[u8], descend: &[&[u8]]) -> Option<Indexed> {
        let mut fast = Vec::new();
        let got = index_object(doc, descend, &mut fast);
        let mut slow = Vec::new();
        let mut c = Cursor::new(doc);
        let want = c.index_object(descend, &mut slow);
        if let Some(got) = got {
            assert!(
                want.is_ok(),
                "fast path accepted what the cursor rejects: {}",
                String::from_utf8_lossy(doc)
            );
            assert_eq!(got.end, c.pos(), "{}", String::from_utf8_lossy(doc));
            assert_eq!(fast, slow, "{}", String::from_utf8_lossy(doc));
            assert_eq!(got.whitespace, c.saw_whitespace());
            assert_eq!(got.ascii, doc[..got.end].is_ascii());
        }
        got
    }

    fn avx2() -> bool {
        #[cfg(target_arch = "x86_64")]
        return std::is_x86_feature_detected!("avx2");
        #[cfg(not(target_arch = "x86_64"))]
        false
    }

    #[test]
    fn handles_plain_records_like_the_cursor() {
        let long = "x".repeat(200);
        let docs = [
            r#"{"a":1,"b":[true,false,null,{"c":"d\n"}],"e":{},"f":[]}"#.to_string(),
            r#"{ "a" : 12.0 , "b":{"x":[1, 2]}, "c":"q\"z" }"#.to_string(),
            format!(r#"{{"k":"{long}","n":-0.5e+3,"z":0,"s":"a\\\\\"b\\/"}}"#),
            format!(r#"{{"{long}":{{"{long}":[[[{{}}]]]}},"é":"ü"}} trailing"#),
            r#"{}"#.to_string(),
            "{\"a\":1}\n{\"b\":2}".to_string(),
        ];
        for d in &docs {
            let got = agrees(d.as_bytes());
            assert_eq!(got.is_some(), avx2(), "{d}");
        }
    }

    /// Nested objects under the named keys are indexed depth first after their parent,
    /// through objects only, and walking the index gives what walking the bytes gives.
    #[test]
    fn indexes_named_nested_objects() {
        let doc =
            br#"{"x":{"k":1},"a":{"p":"q","o":{"r":[{"s":1}],"t":{}},"u":2},"b":[{"c":1}],"o":{}}"#;
        let mut index = Vec::new();
        let mut c = Cursor::new(doc);
        c.index_object(DESCEND, &mut index).unwrap();
        if avx2() {
            let mut fast = Vec::new();
            index_object(doc, DESCEND, &mut fast).unwrap();
            assert_eq!(fast, index);
        }
        let text = |r: (u32, u32)| std::str::from_utf8(&doc[r.0 as usize..r.1 as usize]).unwrap();
        let got: Vec<_> = index
            .iter()
            .map(|m| (text(m.key), text(m.value), m.nested))
            .collect();
        let n = crate::json::NOT_INDEXED;
        assert_eq!(
            got,
            [
                ("x", r#"{"k":1}"#, n),
                ("a", r#"{"p":"q","o":{"r":[{"s":1}],"t":{}},"u":2}"#, 5),
                ("p", r#""q""#, n),
                ("o", r#"{"r":[{"s":1}],"t":{}}"#, 2),
                ("r", r#"[{"s":1}]"#, n),
                ("t", "{}", 0),
                ("u", "2", n),
                ("b", r#"[{"c":1}]"#, n),
                ("o", "{}", 0),
            ]
        );
        let top: Vec<_> = crate::json::top_level(&index)
            .map(|m| text(m.key))
            .collect();
        assert_eq!(top, ["x", "a", "b", "o"]);
    }

    #[test]
    fn declines_what_is_invalid_or_unusual() {
        for d in [
            r#"{"a":1,}"#,
            r#"{"a":[}"#,
            r#"{"a" 1}"#,
            r#"{"a":01}"#,
            r#"{"a":1.}"#,
            r#"{"a":-}"#,
            r#"{"a":1e}"#,
            r#"{"a":tru}"#,
            r#"{"a":truex}"#,
            r#"{"a":12a}"#,
            r#"{"a":"\x"}"#,
            r#"{"a":"\u0041"}"#,
            "{\"a\":\"x\ny\"}",
            "{\"a\":\u{c}1}",
            "{\"a\"\u{1a}1}",
            r#"{"a":1"#,
            r#"{"a":"1}"#,
            r#"{"a":[1,2]]"#,
            r#"{"a":1,"b"}"#,
            r#"{"a":\"b"}"#,
            r#"{"a":"b"\"}"#,
            r#"{"a":["b":1]}"#,
            r#"{"a":{"b"}}"#,
            r#"{1:2}"#,
            r#"["a"]"#,
            "{\"a\":\u{80}}",
            "",
        ] {
            assert_eq!(agrees(d.as_bytes()), None, "{d}");
        }
        let deep = format!("{{\"a\":{}{}}}", "[".repeat(200), "]".repeat(200));
        assert_eq!(agrees(deep.as_bytes()), None);
    }

    /// Every way to cut a record across blocks: escapes, strings and runs that straddle a
    /// block boundary.
    #[test]
    fn block_boundaries() {
        for pad in 0..70 {
            let p = "p".repeat(pad);
            for tail in [
                r#""s\\\"t\\""#,
                r#"12345.678e-9"#,
                r#"true"#,
                r#"[null,{"q":false}]"#,
                r#""\\\\\\\\""#,
            ] {
                let doc = format!(r#"{{"{p}":{tail},"z":"{p}\"{p}"}}"#);
                let got = agrees(doc.as_bytes());
                assert_eq!(got.is_some(), avx2(), "{doc}");
                // Cut anywhere: never accepted.
                for cut in 1..doc.len() {
                    assert_eq!(agrees(&doc.as_bytes()[..cut]), None);
                }
            }
        }
    }

    /// Random mutations of a record: the fast path never disagrees with the cursor.
    #[test]
    fn random_mutations_agree() {
        let base = br#"{"eventVersion":"1.08","userIdentity":{"type":"AssumedRole","arn":"arn:aws:sts::1:x/y","sessionContext":{"attributes":{"mfaAuthenticated":"false"}}},"n":[1,-2.5e3,0,true,null],"s":"a\"b\\c\/d\te","o":{}}"#;
        let mut rng = fastrand::Rng::with_seed(7);
        let mut next = move || rng.u64(..);
        let alphabet = b"{}[]:,\" \\\n\tx0-1.eEtrufalsn/\x01\x80";
        let mut accepted = 0;
        for _ in 0..30_000 {
            let mut doc = base.to_vec();
            for _ in 0..1 + next() % 3 {
                let at = (next() as usize) % doc.len();
                let b = alphabet[(next() as usize) % alphabet.len()];
                match next() % 3 {
                    0 => doc[at] = b,
                    1 => doc.insert(at, b),
                    _ => {
                        doc.remove(at);
                    }
                }
            }
            if std::str::from_utf8(&doc).is_err() {
                continue;
            }
            accepted += agrees(&doc).is_some() as u32;
        }
        if avx2() {
            assert!(accepted > 1000, "only {accepted} mutations were handled");
        }
    }
}
