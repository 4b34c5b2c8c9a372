//! `AWSGuardDuty`: one row per finding (one export line). `resource` and `service` go to
//! dynamic columns as the source objects, minified. A Firehose-delivered EventBridge envelope
//! (`{"detail-type":"GuardDuty Finding", ..., "detail":{...}}`) is unwrapped: its `detail` is
//! the finding and the envelope's own fields are not used.

use super::declare_columns;
use super::value::{check_utf8, kind_name, Row};
use super::{RecordError, Table};
use crate::batch::Batch;
use crate::json::{Cursor, Fields, Kind, Value};
use crate::stats::Tally;

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

pub fn map(rec: &[u8], batch: &mut Batch, tally: &mut Tally) -> Result<(), RecordError> {
    check_utf8(rec)?;
    let doc = Cursor::document(rec)?;
    if doc.kind != Kind::Object {
        return Err(RecordError::NotAnObject(kind_name(doc.kind)));
    }
    let mut row = Row {
        batch,
        tally,
        table: Table::GuardDuty,
    };
    let finding = match doc.get(b"detail") {
        Some(detail) if detail.kind == Kind::Object => detail,
        _ => doc,
    };
    finding_fields(&mut row, finding)?;
    if row.batch.pending_is_empty() {
        return Err(RecordError::NoFields);
    }
    Ok(())
}

fn finding_fields(row: &mut Row, finding: Value) -> Result<(), RecordError> {
    for f in Fields::new(finding.raw) {
        let (k, v) = f?;
        let col = match k {
            b"updatedAt" => {
                row.datetime(Col::TimeGenerated as usize, v);
                continue;
            }
            b"createdAt" => {
                row.datetime(Col::TimeCreated as usize, v);
                continue;
            }
            b"resource" => {
                row.dynamic(Col::ResourceDetails as usize, v);
                continue;
            }
            b"service" => {
                row.dynamic(Col::ServiceDetails as usize, v);
                continue;
            }
            b"severity" => {
                row.int_truncated(Col::Severity as usize, v);
                continue;
            }
            b"accountId" => Col::AccountId,
            b"region" => Col::Region,
            b"partition" => Col::Partition,
            b"id" => Col::Id,
            b"arn" => Col::Arn,
            b"type" => Col::ActivityType,
            b"schemaVersion" => Col::SchemaVersion,
            b"title" => Col::Title,
            b"description" => Col::Description,
            _ => continue,
        };
        row.string(col as usize, v);
    }
    Ok(())
}
