//! The one entry into the mappers, for the pipeline and replay alike: [`map`] takes a record
//! of an object whose [`ObjectState`] holds what the object's header said, and dispatches on
//! the table here, so that no caller matches on tables. What a table's framing implies after
//! the framer (the VPC header line, the JSON Lines resync) lives here too.

use std::sync::Arc;

use super::vpcflow::{self, HeaderError, Layout};
use super::{cloudtrail, guardduty, note, Check, Framing, RecordError, Table};
use crate::batch::Batch;
use crate::counters::Counters;
use crate::json::MemberSpan;

/// One record as the framer handed it over: its bytes, what the framer checked, and its
/// member index when the framer made one.
#[derive(Debug, Clone, Copy)]
pub struct Record<'a> {
    pub bytes: &'a [u8],
    pub check: Check,
    pub members: Option<&'a [MemberSpan]>,
}

impl<'a> Record<'a> {
    /// A record nobody checked (replay, a resynced line): the mapper validates it.
    pub fn unchecked(bytes: &'a [u8]) -> Self {
        Record {
            bytes,
            check: Check::Unchecked,
            members: None,
        }
    }
}

/// What one object's records are mapped with: its table and, for a table framed with a
/// header, the layout its header gave. Cloned into every piece of the object handed on (the
/// layout is shared).
#[derive(Debug, Clone)]
pub struct ObjectState {
    table: Table,
    layout: Option<Arc<Layout>>,
}

impl ObjectState {
    pub fn new(table: Table) -> Self {
        ObjectState {
            table,
            layout: None,
        }
    }

    pub fn table(&self) -> Table {
        self.table
    }

    /// Whether the object's next record is its header: the table is framed with one and it
    /// was not read yet.
    pub fn wants_header(&self) -> bool {
        self.table.framing() == Framing::LinesWithHeader && self.layout.is_none()
    }

    /// Reads the object's header line; header fields without a column are noted once.
    pub fn read_header(&mut self, line: &[u8], notes: &mut Counters) -> Result<(), HeaderError> {
        let layout = Layout::from_header(line)?;
        for u in &layout.unknown {
            note(notes, "unknown_field", self.table, u);
        }
        self.layout = Some(layout);
        Ok(())
    }

    /// A record of a table framed as JSON values that failed as JSON may be several JSON
    /// Lines run together by a broken one (the splitter cuts an open value only where a line
    /// starts with `{`): its non-blank lines with their offsets in `rec`, each to be mapped
    /// on its own. `None` when that does not explain the failure: a pretty-printed object
    /// that is broken is one bad record, not one per line.
    pub fn run_together_lines<'r>(
        &self,
        rec: &'r [u8],
        err: &RecordError,
    ) -> Option<Vec<(usize, &'r [u8])>> {
        if self.table.framing() != Framing::JsonValues
            || !matches!(err, RecordError::Json(_))
            || !rec.contains(&b'\n')
        {
            return None;
        }
        let mut lines: Vec<(usize, &[u8])> = Vec::new();
        let mut at = 0;
        for line in rec.split(|&b| b == b'\n') {
            if line.iter().any(|b| !b.is_ascii_whitespace()) {
                lines.push((at, line));
            }
            at += line.len() + 1;
        }
        // JSON Lines run together: every line starts an object.
        if lines.len() < 2 || !lines.iter().all(|(_, l)| l.first() == Some(&b'{')) {
            return None;
        }
        Some(lines)
    }
}

/// A worker's scratch space for mapping, kept from record to record (VPC's tokenizer and
/// date cache).
#[derive(Default)]
pub struct Scratch {
    lines: vpcflow::LineState,
}

/// Maps one record of `object` into the pending row of `batch` (a batch of the object's
/// table), noting changed values in `notes`. On error the caller rolls the row back and
/// dead-letters the record.
#[inline]
pub fn map(
    object: &ObjectState,
    rec: Record,
    scratch: &mut Scratch,
    batch: &mut Batch,
    notes: &mut Counters,
) -> Result<(), RecordError> {
    let Record {
        bytes,
        check,
        members,
    } = rec;
    match object.table {
        Table::CloudTrail => cloudtrail::map(bytes, check, members, batch, notes),
        Table::GuardDuty => guardduty::map(bytes, check, members, batch, notes),
        Table::VpcFlow => match &object.layout {
            Some(l) => vpcflow::map(bytes, l, &mut scratch.lines, batch, notes),
            None => Err(RecordError::NoFields),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::ColType;

    /// The JSON record that holds `value` at the dotted source path `path`.
    fn nested(path: &str, value: &str) -> String {
        path.split('.')
            .rev()
            .fold(value.to_string(), |v, k| format!("{{\"{k}\":{v}}}"))
    }

    /// Each column's declared AWS source (`declare_columns!`) and the key its mapper matches
    /// are written apart: a record holding a value at the declared path fills the column.
    /// (Sources with an index or an alternative are described in words and left out.)
    #[test]
    fn declared_sources_are_the_keys_the_mappers_read() {
        for table in [Table::CloudTrail, Table::GuardDuty] {
            let object = ObjectState::new(table);
            for c in table.columns() {
                if c.source.contains(['[', ',']) {
                    continue;
                }
                let value = match c.ty {
                    ColType::String => "\"x\"",
                    ColType::DateTime => "\"2024-01-02T03:04:05Z\"",
                    ColType::Bool => "true",
                    ColType::Int | ColType::Long => "3",
                    ColType::Dynamic => "{\"a\":1}",
                };
                let rec = nested(c.source, value);
                let mut batch = table.batch();
                let mut notes = Counters::default();
                let mut scratch = Scratch::default();
                let r = map(
                    &object,
                    Record::unchecked(rec.as_bytes()),
                    &mut scratch,
                    &mut batch,
                    &mut notes,
                );
                assert_eq!(r, Ok(()), "{table} {rec}");
                batch.commit_row(None);
                let row: serde_json::Map<String, serde_json::Value> =
                    serde_json::from_slice(batch.rows_json(0..1)).unwrap();
                assert!(
                    row.contains_key(c.name),
                    "{table}.{}: {rec} -> {row:?}",
                    c.name
                );
                assert!(notes.is_empty(), "{notes:?}");
            }
        }
    }
}
