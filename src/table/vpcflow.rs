//! `AWSVPCFlow`: one row per data line of a flow log text object.
//!
//! Columns are mapped by each object's header line (custom formats reorder and subset the
//! fields; the `version` value says nothing reliable about the layout). A header token without
//! a column (`reject-reason`, `resource-id`, future fields) is counted once per object and its
//! values are ignored. `-` means absent: numeric and datetime columns omit the key, string
//! columns keep the literal `-`, as Microsoft's own VPC DCR transform does.

use std::sync::Arc;

use memchr::memchr;

use super::declare_columns;
use super::value::{itoa_buf, Row};
use super::{ColType, RecordError, Table};
use crate::batch::Batch;
use crate::stats::Tally;

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
    slots: Vec<Option<usize>>,
    /// Header tokens with no column, for the per-object count.
    pub unknown: Vec<String>,
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
        let mut slots = Vec::new();
        let mut unknown = Vec::new();
        for tok in line.split_ascii_whitespace() {
            // Parquet-style underscored names map the same way.
            let hyphenated = tok.replace('_', "-");
            let col = COLUMNS.iter().position(|c| c.source == hyphenated);
            if col.is_none() {
                unknown.push(tok.to_string());
            }
            slots.push(col);
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

/// Splits on runs of ASCII whitespace (the AWS docs contain a double space).
fn tokens(line: &[u8]) -> impl Iterator<Item = &[u8]> {
    line.split(|b| b.is_ascii_whitespace())
        .filter(|t| !t.is_empty())
}

/// Remembers the last unix-seconds value formatted per datetime column: the lines of one flow
/// log file share a handful of start/end values, so most rows reuse the text.
#[derive(Default)]
pub struct TimeCache {
    last: [(i64, [u8; 22]); 2],
}

impl TimeCache {
    fn write(&mut self, slot: usize, secs: i64, out: &mut Vec<u8>) -> bool {
        let (cached, text) = &mut self.last[slot];
        if *cached != secs || text[0] == 0 {
            let Ok(t) = time::OffsetDateTime::from_unix_timestamp(secs) else {
                return false;
            };
            let fmt = time::macros::format_description!(
                "\"[year]-[month]-[day]T[hour]:[minute]:[second]Z\""
            );
            let mut buf = Vec::with_capacity(22);
            if t.format_into(&mut buf, &fmt).is_err() || buf.len() != 22 {
                return false;
            }
            text.copy_from_slice(&buf);
            *cached = secs;
        }
        out.extend_from_slice(&text[..]);
        true
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
fn parse_int(tok: &[u8]) -> Option<i64> {
    let (neg, digits) = match tok.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, tok),
    };
    if digits.is_empty() || digits.len() > 19 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    // 19 digits can overflow i64; std's parser checks that.
    let v: i64 = std::str::from_utf8(digits).ok()?.parse().ok()?;
    Some(if neg { -v } else { v })
}

pub fn map(
    line: &[u8],
    layout: &Layout,
    times: &mut TimeCache,
    batch: &mut Batch,
    tally: &mut Tally,
) -> Result<(), RecordError> {
    super::value::check_utf8(line)?;
    let got = tokens(line).count();
    if got != layout.slots.len() {
        return Err(RecordError::FieldCount {
            expected: layout.slots.len(),
            got,
        });
    }
    let mut row = Row {
        batch,
        tally,
        table: Table::VpcFlow,
    };
    for (tok, slot) in tokens(line).zip(&layout.slots) {
        let Some(col) = *slot else { continue };
        let def = &COLUMNS[col];
        if tok == b"-" {
            if def.ty == ColType::String {
                row.batch.value_buf(col).extend_from_slice(b"\"-\"");
            }
            continue;
        }
        match def.ty {
            ColType::String if tok.len() > super::FIELD_LIMIT => row.text(col, tok),
            ColType::String => {
                // Flow log values are plain tokens; escape anyway, they are input.
                let out = row.batch.value_buf(col);
                if tok.iter().all(|&b| b != b'"' && b != b'\\' && b >= 0x20) {
                    out.push(b'"');
                    out.extend_from_slice(tok);
                    out.push(b'"');
                } else {
                    crate::json::write_json_str(tok, out);
                }
            }
            ColType::Int | ColType::Long => {
                let v = parse_int(tok).ok_or_else(|| bad_number(col, tok, "integer"))?;
                let fits = def.ty == ColType::Long || i32::try_from(v).is_ok();
                let v = if fits {
                    v
                } else if col == Col::Packets as usize {
                    row.tally.note("clamped", Table::VpcFlow, def.name);
                    v.clamp(i32::MIN as i64, i32::MAX as i64)
                } else {
                    return Err(bad_number(col, tok, "32-bit integer"));
                };
                // The token is already canonical JSON unless it has a sign or leading zeros.
                let canonical = fits && tok[0] != b'-' && (tok[0] != b'0' || tok.len() == 1);
                let out = row.batch.value_buf(col);
                if canonical {
                    out.extend_from_slice(tok);
                } else {
                    out.extend_from_slice(itoa_buf(v).as_bytes_mut());
                }
            }
            ColType::DateTime => {
                let secs = parse_int(tok).ok_or_else(|| bad_number(col, tok, "unix time"))?;
                let slot = usize::from(col != Col::TimeGenerated as usize);
                if !times.write(slot, secs, row.batch.value_buf(col)) {
                    return Err(bad_number(col, tok, "unix time"));
                }
            }
            ColType::Bool | ColType::Dynamic => unreachable!("no such VPC column"),
        }
    }
    if row.batch.pending_is_empty() {
        return Err(RecordError::NoFields);
    }
    Ok(())
}

/// The first line of `data` (without its line ending) and the rest.
pub fn split_first_line(data: &[u8]) -> (&[u8], &[u8]) {
    match memchr(b'\n', data) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[]),
    }
}
