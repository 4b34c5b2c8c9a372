//! `AWSGuardDuty`: one row per finding (one export line). `resource` and `service` go to
//! dynamic columns as the source objects, minified. A Firehose-delivered EventBridge envelope
//! (`{"detail-type":"GuardDuty Finding", ..., "detail":{...}}`) is unwrapped: its `detail` is
//! the finding and the envelope's own fields are not used.

use super::declare_columns;
use super::value::{map_row, walk_record, Row};
use super::{Check, RecordError, Table};
use crate::batch::Batch;
use crate::counters::Counters;
use crate::json::{Kind, MemberSpan, Value};

declare_columns! {
    TimeGenerated: DateTime = "updatedAt",
    TimeCreated: DateTime = "createdAt",
    AccountId: String = "accountId",
    Region: String = "region",
    Partition: String = "partition",
    Id: String = "id",
    Arn: String = "arn",
    ActivityType: String = "type",
    ResourceDetails: Dynamic = "resource",
    ServiceDetails: Dynamic = "service",
    Severity: Int = "severity",
    SchemaVersion: String = "schemaVersion",
    Title: String = "title",
    Description: String = "description",
}

/// `check`: what the framer already checked (see [`Check`]); `index`: the record's member
/// spans, when the framer indexed it.
pub(super) fn map(
    rec: &[u8],
    check: Check,
    index: Option<&[MemberSpan]>,
    batch: &mut Batch,
    notes: &mut Counters,
) -> Result<(), RecordError> {
    map_row(
        batch,
        notes,
        Table::GuardDuty,
        rec,
        check == Check::Minified,
        |row| {
            let mut detail = None;
            walk_record(rec, check, index, &mut |k, m| {
                let Ok(v) = m.value() else { return };
                if k == b"detail" && v.kind == Kind::Object {
                    detail = Some(v);
                } else {
                    finding_field(row, k, v);
                }
            })?;
            if let Some(detail) = detail {
                // An EventBridge envelope: the finding is its detail, not the envelope's own
                // fields.
                row.restart();
                for (k, v) in detail.fields().into_iter().flatten().flatten() {
                    finding_field(row, k, v);
                }
            }
            Ok(())
        },
    )
}

fn finding_field(row: &mut Row, k: &[u8], v: Value) {
    let col = match k {
        b"updatedAt" => return row.datetime(Col::TimeGenerated, v),
        b"createdAt" => return row.datetime(Col::TimeCreated, v),
        b"resource" => return row.dynamic(Col::ResourceDetails, v),
        b"service" => return row.dynamic(Col::ServiceDetails, v),
        b"severity" => return row.int_truncated(Col::Severity, v),
        b"accountId" => Col::AccountId,
        b"region" => Col::Region,
        b"partition" => Col::Partition,
        b"id" => Col::Id,
        b"arn" => Col::Arn,
        b"type" => Col::ActivityType,
        b"schemaVersion" => Col::SchemaVersion,
        b"title" => Col::Title,
        b"description" => Col::Description,
        _ => return,
    };
    row.string(col, v);
}
