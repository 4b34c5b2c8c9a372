//! `AWSVPCFlow`: one row per data line of a flow log text object.
//!
//! Columns are mapped by each object's header line (custom formats reorder and subset the
//! fields; the `version` value says nothing reliable about the layout). A header token without
//! a column (`reject-reason`, `resource-id`, future fields) is counted once per object and its
//! values are ignored. `-` means absent: numeric and datetime columns omit the key, string
//! columns keep the literal `-`, as Microsoft's own VPC DCR transform does.

use std::sync::Arc;

use super::declare_columns;
use super::{note, ColType, Key, RecordError, Table};
use crate::batch::Batch;
use crate::counters::Counters;

declare_columns! {
    TimeGenerated: DateTime = "start",
    Version: Int = "version",
    AccountId: String = "account-id",
    InterfaceId: String = "interface-id",
    SrcAddr: String = "srcaddr",
    DstAddr: String = "dstaddr",
    SrcPort: Int = "srcport",
    DstPort: Int = "dstport",
    Protocol: Int = "protocol",
    Packets: Int = "packets",
    Bytes: Long = "bytes",
    End: DateTime = "end",
    Action: String = "action",
    LogStatus: String = "log-status",
    VpcId: String = "vpc-id",
    SubnetId: String = "subnet-id",
    InstanceId: String = "instance-id",
    TcpFlags: Int = "tcp-flags",
    TrafficType: String = "type",
    PktSrcAddr: String = "pkt-srcaddr",
    PktDstAddr: String = "pkt-dstaddr",
    Region: String = "region",
    AzId: String = "az-id",
    SublocationType: String = "sublocation-type",
    SublocationId: String = "sublocation-id",
    PktSrcAwsService: String = "pkt-src-aws-service",
    PktDstAwsService: String = "pkt-dst-aws-service",
    FlowDirection: String = "flow-direction",
    TrafficPath: String = "traffic-path",
    EcsClusterArn: String = "ecs-cluster-arn",
    EcsClusterName: String = "ecs-cluster-name",
    EcsContainerInstanceArn: String = "ecs-container-instance-arn",
    EcsContainerInstanceId: String = "ecs-container-instance-id",
    EcsContainerId: String = "ecs-container-id",
    EcsSecondContainerId: String = "ecs-second-container-id",
    EcsServiceName: String = "ecs-service-name",
    EcsTaskDefinitionArn: String = "ecs-task-definition-arn",
    EcsTaskArn: String = "ecs-task-arn",
    EcsTaskId: String = "ecs-task-id",
}

/// What the header of one object says: for each field position, the column it fills.
#[derive(Debug)]
pub struct Layout {
    slots: Vec<Option<Slot>>,
    /// Header tokens with no column, for the per-object count.
    pub unknown: Vec<String>,
}

/// A header field's column, with what writing its values needs at hand.
#[derive(Debug, Clone, Copy)]
struct Slot {
    col: usize,
    ty: ColType,
    /// `,"Name":`
    key: &'static Key,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    #[error("the first line is not a VPC flow log header (no known field name in it)")]
    NotAHeader,
    #[error("the header is not valid UTF-8")]
    Utf8,
}

impl Layout {
    pub fn from_header(line: &[u8]) -> Result<Arc<Layout>, HeaderError> {
        let line = std::str::from_utf8(line).map_err(|_| HeaderError::Utf8)?;
        let keys = Table::VpcFlow.encoded_keys();
        let mut slots: Vec<Option<Slot>> = Vec::new();
        let mut unknown = Vec::new();
        for tok in line.split_ascii_whitespace() {
            // Parquet-style underscored names map the same way.
            let hyphenated = tok.replace('_', "-");
            let col = COLUMNS.iter().position(|c| c.source == hyphenated);
            match col {
                None => unknown.push(tok.to_string()),
                // A row is written in header order with each column once: of a field named
                // twice, the later one fills the column and the earlier one is counted and
                // ignored like an unknown field.
                Some(col) => {
                    for s in &mut slots {
                        if s.is_some_and(|s| s.col == col) {
                            *s = None;
                            unknown.push(tok.to_string());
                        }
                    }
                }
            }
            slots.push(col.map(|col| Slot {
                col,
                ty: COLUMNS[col].ty,
                key: &keys[col],
            }));
        }
        if slots.iter().all(Option::is_none) {
            return Err(HeaderError::NotAHeader);
        }
        Ok(Arc::new(Layout { slots, unknown }))
    }

    pub fn fields(&self) -> usize {
        self.slots.len()
    }
}

/// What [`LineState::tokenize`] learnt about a line besides its tokens.
struct Scan {
    ascii: bool,
    /// No token holds `"`, `\` or a control character: every value is copied as it is.
    plain: bool,
}

/// Per-worker scratch state for mapping lines: token spans and formatted times, reused from
/// line to line.
#[derive(Default)]
pub struct LineState {
    /// The line's token boundaries, flat: token `k` is `edges[2k]..edges[2k + 1]`. Only
    /// `..count` is meaningful; the buffer only grows, and the AVX2 tokenizer writes up to a
    /// block's worth of entries past the count without a check per entry.
    edges: Vec<u32>,
    count: usize,
    minutes: Minutes,
}

impl LineState {
    /// The tokens found by the last [`LineState::tokenize`], as `(start, end)`.
    #[cfg(test)]
    fn tokens(&self) -> Vec<(u32, u32)> {
        self.edges[..self.count]
            .chunks_exact(2)
            .map(|p| (p[0], p[1]))
            .collect()
    }

    /// Splits on runs of ASCII whitespace (the AWS docs contain a double space), eight bytes
    /// at a time: a word's whitespace bytes are found with exact SWAR arithmetic (no byte
    /// loop, no branch per byte), and only the token boundaries are visited. A byte loop
    /// mispredicted at every boundary and was half of this mapper's time in `perf annotate`.
    /// The same words tell whether the line is ASCII and whether any token needs JSON
    /// escaping, which saved three more passes over every line.
    fn tokenize(&mut self, line: &[u8]) -> Scan {
        #[cfg(target_arch = "x86_64")]
        if std::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2, checked just above.
            return unsafe { self.tokenize_avx2(line) };
        }
        self.tokenize_swar(line)
    }

    /// [`LineState::tokenize`] 32 bytes at a time with AVX2 (a bit per byte from each
    /// comparison), on CPUs that have it: a quarter of the instructions of the word loop.
    ///
    /// # Safety
    /// The CPU must support AVX2.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn tokenize_avx2(&mut self, line: &[u8]) -> Scan {
        use std::arch::x86_64::*;
        let n = line.len();
        // Room for every boundary (at most one per byte, and the end) plus a block's worth of
        // unconditional writes past the last one.
        if self.edges.len() < n + 65 {
            self.edges.resize(n + 65, 0);
        }
        let edges_out = &mut self.edges[..];
        let mut count = 0usize;
        let (mut high, mut special) = (0u32, 0u32);
        let mut prev_ws = 1u32;
        let mut i = 0;
        while i < n {
            let mut padded = [b' '; 32];
            let chunk: &[u8; 32] = match line[i..].first_chunk::<32>() {
                Some(c) => c,
                None => {
                    // The tail, padded with spaces: a token running to the end ends at `n`.
                    padded[..n - i].copy_from_slice(&line[i..]);
                    &padded
                }
            };
            // SAFETY: reads the 32 bytes of `chunk`.
            let v = unsafe { _mm256_loadu_si256(chunk.as_ptr().cast()) };
            let eq = |c: u8| _mm256_cmpeq_epi8(v, _mm256_set1_epi8(c as i8));
            // Tab to carriage return (0x09-0x0d): `v - 9` is at most 4, unsigned.
            let t = _mm256_sub_epi8(v, _mm256_set1_epi8(9));
            let tab_to_cr = _mm256_cmpeq_epi8(_mm256_min_epu8(t, _mm256_set1_epi8(4)), t);
            let ws_v = _mm256_or_si256(eq(b' '), tab_to_cr);
            let below_space = _mm256_cmpeq_epi8(_mm256_min_epu8(v, _mm256_set1_epi8(0x1f)), v);
            let needs = _mm256_or_si256(
                _mm256_or_si256(eq(b'"'), eq(b'\\')),
                _mm256_andnot_si256(ws_v, below_space),
            );
            special |= _mm256_movemask_epi8(needs) as u32;
            high |= _mm256_movemask_epi8(v) as u32;
            let ws = _mm256_movemask_epi8(ws_v) as u32;
            // Bit k: byte k starts a token (after whitespace) or ends one (is whitespace after
            // a token). Starts and ends alternate, so the positions are written in order,
            // eight at a time without a branch per boundary (the loop's exit mispredicted at
            // every block); writes past the last one land in the slack and are overwritten.
            let mut edges = ws ^ ((ws << 1) | prev_ws);
            let found = edges.count_ones() as usize;
            let dst = &mut edges_out[count..count + 32];
            let mut k = 0;
            loop {
                for d in &mut dst[k..k + 8] {
                    *d = (i as u32).wrapping_add(edges.trailing_zeros());
                    edges &= edges.wrapping_sub(1);
                }
                k += 8;
                if k >= found {
                    break;
                }
            }
            count += found;
            prev_ws = ws >> 31;
            i += 32;
        }
        if prev_ws == 0 {
            edges_out[count] = n as u32;
            count += 1;
        }
        self.count = count;
        Scan {
            ascii: high == 0,
            plain: special == 0,
        }
    }

    /// The portable tokenizer, eight bytes at a time.
    fn tokenize_swar(&mut self, line: &[u8]) -> Scan {
        self.edges.clear();
        let n = line.len();
        let (mut high, mut special) = (0u64, 0u64);
        let mut prev_ws = true;
        let mut i = 0;
        while i < n {
            let word = match line.get(i..i + 8) {
                Some(w) => u64::from_le_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]),
                None => {
                    // The tail, padded with spaces: a token running to the end ends at `n`.
                    let mut buf = [b' '; 8];
                    buf[..n - i].copy_from_slice(&line[i..]);
                    u64::from_le_bytes(buf)
                }
            };
            let ws = ws_bytes(word);
            high |= word;
            special |= zero_bytes(word ^ (LOW * b'"' as u64))
                | zero_bytes(word ^ (LOW * b'\\' as u64))
                | (below_space(word) & !ws);
            // Byte k's high bit: byte k starts or ends a token (they alternate).
            let before = (ws << 8) | if prev_ws { HIGH & 0xff } else { 0 };
            let mut edges = ws ^ before;
            while edges != 0 {
                let bit = edges.trailing_zeros();
                edges &= edges - 1;
                self.edges.push((i + (bit / 8) as usize) as u32);
            }
            prev_ws = ws >> 63 != 0;
            i += 8;
        }
        if !prev_ws {
            self.edges.push(n as u32);
        }
        self.count = self.edges.len();
        Scan {
            ascii: high & HIGH == 0,
            plain: special == 0,
        }
    }
}

/// Per datetime column (start, end): the day last formatted and its text `"YYYY-MM-DDT`. The
/// calendar work (done by `time`) happens once per day; a row only adds the time of day, by
/// arithmetic. Caching the minute instead missed on most lines (flows of one file start and
/// end over several minutes), and formatting was a tenth of this mapper's instructions.
#[derive(Default)]
struct Minutes([(i64, Vec<u8>); 2]);

impl Minutes {
    fn write_time(&mut self, slot: usize, secs: i64, out: &mut Vec<u8>) -> bool {
        let day = secs.div_euclid(86_400);
        let (cached, prefix) = &mut self.0[slot];
        if *cached != day || prefix.is_empty() {
            let Some(Ok(t)) = day
                .checked_mul(86_400)
                .map(time::OffsetDateTime::from_unix_timestamp)
            else {
                return false;
            };
            let fmt = time::macros::format_description!("\"[year]-[month]-[day]T");
            prefix.clear();
            if t.format_into(prefix, &fmt).is_err() || prefix.len() != 12 {
                prefix.clear();
                return false;
            }
            *cached = day;
        }
        let sod = secs.rem_euclid(86_400) as usize;
        let (h, m, s) = (sod / 3600, sod / 60 % 60, sod % 60);
        out.extend_from_slice(prefix);
        out.extend_from_slice(&[
            b'0' + (h / 10) as u8,
            b'0' + (h % 10) as u8,
            b':',
            b'0' + (m / 10) as u8,
            b'0' + (m % 10) as u8,
            b':',
            b'0' + (s / 10) as u8,
            b'0' + (s % 10) as u8,
            b'Z',
            b'"',
        ]);
        true
    }
}

/// Appends `src[..len]`. A value of at most 32 bytes with 32 bytes of `src` behind it is
/// written with one fixed-size copy and a length change: a `memcpy` call per short value
/// (most flow log fields are 1-21 bytes) showed in `perf`.
#[inline(always)]
fn append_short(out: &mut Vec<u8>, src: &[u8], len: usize) {
    match src.first_chunk::<32>() {
        Some(block) if len <= 32 => {
            let at = out.len();
            out.extend_from_slice(block);
            out.truncate(at + len);
        }
        _ => out.extend_from_slice(&src[..len]),
    }
}

fn bad_number(col: usize, tok: &[u8], expected: &'static str) -> RecordError {
    RecordError::BadNumber {
        field: COLUMNS[col].source.to_string(),
        expected,
        value: String::from_utf8_lossy(&tok[..tok.len().min(64)]).into_owned(),
    }
}

/// Parses a decimal integer as AWS writes it (optional `-`, digits).
#[inline]
fn parse_int(tok: &[u8]) -> Option<i64> {
    let (neg, digits) = match tok.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, tok),
    };
    if digits.is_empty() || digits.len() > 19 {
        return None;
    }
    if digits.len() <= 18 {
        // Up to 18 digits cannot overflow an i64: accumulate directly.
        let mut v: i64 = 0;
        for &d in digits {
            let d = d.wrapping_sub(b'0');
            if d > 9 {
                return None;
            }
            v = v * 10 + d as i64;
        }
        return Some(if neg { -v } else { v });
    }
    // 19 digits may overflow: std's parser checks.
    let v: i64 = std::str::from_utf8(digits).ok()?.parse().ok()?;
    Some(if neg { -v } else { v })
}

const LOW: u64 = 0x0101_0101_0101_0101;
const HIGH: u64 = LOW * 0x80;
const LOW7: u64 = LOW * 0x7f;

/// 0x80 in each byte of `v` that is zero, exactly (no carry crosses a byte).
#[inline]
fn zero_bytes(v: u64) -> u64 {
    !(((v & LOW7) + LOW7) | v | LOW7)
}

/// 0x80 in each byte of `x` below 0x20, exactly.
#[inline]
fn below_space(x: u64) -> u64 {
    let at_least_32 = ((x & LOW7) + LOW * (0x80 - 0x20)) & HIGH;
    !at_least_32 & !x & HIGH
}

/// 0x80 in each byte of `x` that is ASCII whitespace: space, or tab to carriage return
/// (0x09-0x0d).
#[inline]
fn ws_bytes(x: u64) -> u64 {
    let space = zero_bytes(x ^ (LOW * b' ' as u64));
    let low = x & LOW7;
    let at_least_9 = (low + LOW * (0x80 - 9)) & HIGH;
    let above_13 = (low + LOW * (0x80 - 14)) & HIGH;
    space | (at_least_9 & !above_13 & !x & HIGH)
}

/// Maps one data line into a row of `batch`, written directly in header order (see
/// [`Batch::begin_direct`]). On error the caller rolls the row back and dead-letters the line.
pub(super) fn map(
    line: &[u8],
    layout: &Layout,
    state: &mut LineState,
    batch: &mut Batch,
    notes: &mut Counters,
) -> Result<(), RecordError> {
    let scan = state.tokenize(line);
    if !scan.ascii {
        super::value::check_utf8(line)?;
    }
    let got = state.count / 2;
    if got != layout.slots.len() {
        return Err(RecordError::FieldCount {
            expected: layout.slots.len(),
            got,
        });
    }
    let plain = scan.plain;
    let out = batch.begin_direct();
    let LineState {
        edges,
        count,
        minutes,
    } = state;
    let tokens = edges[..*count].chunks_exact(2);
    for (slot, edge) in layout.slots.iter().zip(tokens) {
        let Some(slot) = slot else { continue };
        let (a, b) = (edge[0] as usize, edge[1] as usize);
        let tok = &line[a..b];
        if tok == b"-" {
            if slot.ty == ColType::String {
                slot.key.write(out);
                out.extend_from_slice(b"\"-\"");
            }
            continue;
        }
        match slot.ty {
            ColType::String => {
                slot.key.write(out);
                if tok.len() > super::FIELD_LIMIT {
                    if super::value::write_text(tok, out) {
                        note(notes, "truncated", Table::VpcFlow, COLUMNS[slot.col].name);
                    }
                } else if plain {
                    out.push(b'"');
                    append_short(out, &line[a..], tok.len());
                    out.push(b'"');
                } else {
                    crate::json::write_json_str(tok, out);
                }
            }
            ColType::Int | ColType::Long => {
                let col = slot.col;
                let v = parse_int(tok).ok_or_else(|| bad_number(col, tok, "integer"))?;
                let fits = slot.ty == ColType::Long || i32::try_from(v).is_ok();
                let v = if fits {
                    v
                } else if col == Col::Packets as usize {
                    note(notes, "clamped", Table::VpcFlow, COLUMNS[col].name);
                    v.clamp(i32::MIN as i64, i32::MAX as i64)
                } else {
                    return Err(bad_number(col, tok, "32-bit integer"));
                };
                slot.key.write(out);
                // The token is already canonical JSON unless it has a sign or leading zeros.
                if fits && tok[0] != b'-' && (tok[0] != b'0' || tok.len() == 1) {
                    append_short(out, &line[a..], tok.len());
                } else {
                    out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
                }
            }
            ColType::DateTime => {
                let col = slot.col;
                let secs = parse_int(tok).ok_or_else(|| bad_number(col, tok, "unix time"))?;
                let which = usize::from(col != Col::TimeGenerated as usize);
                slot.key.write(out);
                if !minutes.write_time(which, secs, out) {
                    return Err(bad_number(col, tok, "unix time"));
                }
            }
            ColType::Bool | ColType::Dynamic => unreachable!("no such VPC column"),
        }
    }
    if !batch.end_direct() {
        return Err(RecordError::NoFields);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The byte loop the word tokenizer replaced: the reference.
    fn reference(line: &[u8]) -> Vec<(u32, u32)> {
        let ws = |b: u8| matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r');
        let mut out = Vec::new();
        let mut i = 0;
        while i < line.len() {
            while i < line.len() && ws(line[i]) {
                i += 1;
            }
            let start = i;
            while i < line.len() && !ws(line[i]) {
                i += 1;
            }
            if i > start {
                out.push((start as u32, i as u32));
            }
        }
        out
    }

    fn row(header: &str, line: &str) -> Result<String, RecordError> {
        let layout = Layout::from_header(header.as_bytes()).unwrap();
        let mut b = Table::VpcFlow.batch();
        let mut notes = Counters::default();
        let r = map(
            line.as_bytes(),
            &layout,
            &mut LineState::default(),
            &mut b,
            &mut notes,
        );
        if r.is_err() {
            b.rollback_row();
        }
        r?;
        b.commit_row(None);
        let mut out = Vec::new();
        b.encode_ndjson(0..1, &mut out);
        Ok(String::from_utf8(out).unwrap())
    }

    #[test]
    fn rows_are_written_in_header_order_each_column_once() {
        let layout = Layout::from_header(b"srcaddr version srcaddr reject-reason").unwrap();
        assert_eq!(layout.unknown, ["srcaddr", "reject-reason"]);
        assert_eq!(
            row(
                "srcaddr version srcaddr dstport start reject-reason",
                "10.0.0.1 2 10.0.0.2 - 1700000000 X"
            )
            .unwrap(),
            "{\"Version\":2,\"SrcAddr\":\"10.0.0.2\",\"TimeGenerated\":\"2023-11-14T22:13:20Z\"}\n"
        );
        assert_eq!(
            row("version account-id", "2 a\"b").unwrap(),
            "{\"Version\":2,\"AccountId\":\"a\\\"b\"}\n"
        );
        assert_eq!(
            row("version dstport", "- -").unwrap_err().reason(),
            "no_mapped_fields"
        );
        assert_eq!(
            row("version dstport", "2 x").unwrap_err().reason(),
            "bad_number"
        );
    }

    #[test]
    fn word_tokenizer_equals_the_byte_loop() {
        let mut state = LineState::default();
        let mut rng = fastrand::Rng::with_seed(7);
        let mut next = move || rng.u64(..);
        for b in 0..=255u8 {
            for line in [vec![b], vec![b'a', b, b'b'], vec![b; 9]] {
                let scan = state.tokenize(&line);
                assert_eq!(scan.ascii, b < 0x80);
                let special = b == b'"' || b == b'\\' || (b < 0x20 && !b.is_ascii_whitespace());
                assert_eq!(scan.plain, !special || b == 0x0b, "{b}");
                assert_eq!(state.tokens(), reference(&line), "{line:?}");
            }
        }
        // A boundary at every byte: a block's 32 written at once.
        for line in [b"a ".repeat(70), b" a".repeat(70), b"a b".repeat(50)] {
            state.tokenize(&line);
            assert_eq!(state.tokens(), reference(&line));
            state.tokenize_swar(&line);
            assert_eq!(state.tokens(), reference(&line));
        }
        for _ in 0..20_000 {
            let len = (next() % 100) as usize;
            let line: Vec<u8> = (0..len)
                .map(|_| match next() % 6 {
                    0 => b' ',
                    1 => [b'\t', b'\n', 0x0b, 0x0c, b'\r', 0x08, 0x0e, 0x1f][(next() % 8) as usize],
                    2 => (next() & 0xff) as u8,
                    _ => b'a' + (next() % 26) as u8,
                })
                .collect();
            let scan = state.tokenize(&line);
            assert_eq!(state.tokens(), reference(&line), "{line:?}");
            let swar = state.tokenize_swar(&line);
            assert_eq!(state.tokens(), reference(&line), "{line:?}");
            assert_eq!(
                (swar.ascii, swar.plain),
                (scan.ascii, scan.plain),
                "{line:?}"
            );
            assert_eq!(scan.ascii, line.is_ascii(), "{line:?}");
            let plain = reference(&line).iter().all(|&(a, b)| {
                line[a as usize..b as usize]
                    .iter()
                    .all(|&c| c != b'"' && c != b'\\' && c >= 0x20)
            });
            assert_eq!(scan.plain, plain, "{line:?}");
        }
    }
}
