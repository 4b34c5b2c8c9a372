//! The three Sentinel tables, and everything logferry knows about them: their columns
//! (declared once, here and in the per-table files), how their objects are framed, what one
//! object's header says, and the mappers that turn one AWS record into one row.
//!
//! This module is the table seam: the pipeline and replay reach a table only through
//! [`Table`] (names, [`Table::framing`], columns), [`ObjectState`] (one object's state: the
//! VPC header) and [`map`] (one record into one row); per-table data elsewhere is a
//! [`PerTable`], indexed by [`Table`] and sized by [`Table::ALL`]. A fourth table is a file
//! here, a variant of [`Table`] and its arms in this module and in [`map`], and its stream in
//! `deploy/azure/dcr.json`; outside, only the S3 key routing (`src/route.rs`) and the bench's
//! corpus (`src/bench/corpus.rs`) name it.
//!
//! Each table file declares its columns with [`declare_columns!`], which produces both the
//! column list (name, KQL type, AWS source) and a `Col` enum whose discriminants are the column
//! positions. Everything else derives from that list: the batch's pre-encoded keys, the DCR
//! stream declaration, the docs, and the test against `testdata/sentinel-tables.json` (`tests/contract.rs`). The writers take
//! a table's `Col` (see [`Column`]), and debug builds check each value against the column's
//! declared type.
//!
//! Layering: the tables write rows into [`crate::batch`] and note what they change in
//! [`crate::counters`]; they know nothing of the framer, the pools, the sinks or the run's
//! stats, which all sit above them.

#[cfg(test)]
mod batch_tests;
pub mod cloudtrail;
pub mod guardduty;
mod object;
mod per_table;
mod value;
pub mod vpcflow;

use crate::batch::Batch;
pub use crate::batch::Key;
use crate::counters::Counters;
pub use object::{map, ObjectState, Record, Scratch};
pub use per_table::PerTable;
pub use value::{is_iso8601, RecordError};
pub use vpcflow::HeaderError;

/// What the framer already checked about a record (the framer sets it, the mappers trust it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// Nothing: the mapper validates the record (and reports why it is bad).
    Unchecked,
    /// One valid JSON object in UTF-8: the mapper may walk it without checking again.
    Valid,
    /// Valid, and without insignificant whitespace: nested values can be copied as they are.
    Minified,
}

/// How a table's objects are cut into records (the framer builds its splitter from this, see
/// `src/frame/mod.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// One JSON document; the records are the elements of its top-level `Records` array.
    JsonRecords,
    /// A sequence of top-level JSON values (JSON Lines, or objects run together). A record
    /// that fails as JSON may be several lines run together by a broken one (see
    /// [`ObjectState::run_together_lines`]).
    JsonValues,
    /// Text lines; the object's first line is its header (see [`ObjectState::read_header`]).
    LinesWithHeader,
}

/// KQL column types used by the three tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColType {
    String,
    DateTime,
    Int,
    Long,
    Bool,
    Dynamic,
}

impl ColType {
    /// The type's name as `testdata/sentinel-tables.json` and KQL spell it.
    pub fn kql(self) -> &'static str {
        match self {
            ColType::String => "string",
            ColType::DateTime => "datetime",
            ColType::Int => "int",
            ColType::Long => "long",
            ColType::Bool => "bool",
            ColType::Dynamic => "dynamic",
        }
    }
}

#[derive(Debug)]
pub struct ColumnDef {
    pub name: &'static str,
    pub ty: ColType,
    /// Where the value comes from in one AWS record (documentation and DCR descriptions).
    pub source: &'static str,
}

/// A table's column as its `Col` enum names it. The row writers take it rather than a bare
/// position, and check (in debug builds) that the column is declared with the type they
/// write; in release builds it is the position, as before.
pub trait Column: Copy + std::fmt::Debug {
    /// The column's position in the table's schema.
    fn index(self) -> usize;
    /// The column's declared type.
    fn ty(self) -> ColType;
}

/// Declares a table's columns once: `Name: Type = "source path"`. Generates `Col` (column
/// positions, a [`Column`]) and `COLUMNS` (the definitions, in schema order).
macro_rules! declare_columns {
    ($( $name:ident : $ty:ident = $source:literal ),* $(,)?) => {
        /// Column positions, in the table's schema order.
        #[allow(non_camel_case_types, clippy::upper_case_acronyms)]
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        #[repr(usize)]
        pub enum Col { $($name),* }

        pub static COLUMNS: &[$crate::table::ColumnDef] = &[
            $( $crate::table::ColumnDef {
                name: stringify!($name),
                ty: $crate::table::ColType::$ty,
                source: $source,
            } ),*
        ];

        impl $crate::table::Column for Col {
            #[inline(always)]
            fn index(self) -> usize {
                self as usize
            }

            #[inline(always)]
            fn ty(self) -> $crate::table::ColType {
                COLUMNS[self as usize].ty
            }
        }
    };
}
pub(crate) use declare_columns;

/// One of the three destination tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Table {
    CloudTrail,
    GuardDuty,
    VpcFlow,
}

impl Table {
    pub const ALL: [Table; 3] = [Table::CloudTrail, Table::GuardDuty, Table::VpcFlow];

    /// The table's position in [`Table::ALL`] (and in a [`PerTable`]).
    fn index(self) -> usize {
        self as usize
    }

    /// The Sentinel table name.
    pub fn name(self) -> &'static str {
        match self {
            Table::CloudTrail => "AWSCloudTrail",
            Table::GuardDuty => "AWSGuardDuty",
            Table::VpcFlow => "AWSVPCFlow",
        }
    }

    /// The DCR input stream logferry declares for the table.
    pub fn stream(self) -> &'static str {
        match self {
            Table::CloudTrail => "Custom-LogferryAWSCloudTrail",
            Table::GuardDuty => "Custom-LogferryAWSGuardDuty",
            Table::VpcFlow => "Custom-LogferryAWSVPCFlow",
        }
    }

    pub fn output_stream(self) -> &'static str {
        match self {
            Table::CloudTrail => "Microsoft-AWSCloudTrail",
            Table::GuardDuty => "Microsoft-AWSGuardDuty",
            Table::VpcFlow => "Microsoft-AWSVPCFlow",
        }
    }

    /// The short name used on the command line (`--type`, `--route`).
    pub fn short(self) -> &'static str {
        match self {
            Table::CloudTrail => "cloudtrail",
            Table::GuardDuty => "guardduty",
            Table::VpcFlow => "vpcflow",
        }
    }

    pub fn from_short(s: &str) -> Option<Table> {
        Table::ALL.into_iter().find(|t| t.short() == s)
    }

    /// How the table's objects are cut into records.
    pub fn framing(self) -> Framing {
        match self {
            Table::CloudTrail => Framing::JsonRecords,
            Table::GuardDuty => Framing::JsonValues,
            Table::VpcFlow => Framing::LinesWithHeader,
        }
    }

    /// The top-level keys whose object values the mapper walks into (the framer indexes
    /// their members while validating, see `JsonSplitter::descending`).
    pub fn nested_objects(self) -> &'static [&'static [u8]] {
        match self {
            Table::CloudTrail => cloudtrail::NESTED_OBJECTS,
            Table::GuardDuty | Table::VpcFlow => &[],
        }
    }

    pub fn columns(self) -> &'static [ColumnDef] {
        match self {
            Table::CloudTrail => cloudtrail::COLUMNS,
            Table::GuardDuty => guardduty::COLUMNS,
            Table::VpcFlow => vpcflow::COLUMNS,
        }
    }

    /// `,"Name":` for every column, the bytes written before each value of a row (the row's
    /// first comma becomes its `{`).
    pub fn encoded_keys(self) -> &'static [Key] {
        use std::sync::LazyLock;
        static KEYS: LazyLock<PerTable<Vec<Key>>> = LazyLock::new(|| {
            PerTable::from_fn(|t| t.columns().iter().map(|c| Key::new(c.name)).collect())
        });
        &KEYS[self]
    }

    /// An empty batch of the table's rows.
    pub fn batch(self) -> Batch {
        Batch::new(self.encoded_keys())
    }
}

/// Counts a value changed or dropped on the way (a truncation, a clamp, an invalid value, an
/// unknown VPC field) as `what:Table.Column`.
pub fn note(notes: &mut Counters, what: &str, table: Table, column: &str) {
    let key = format!("{what}:{}.{column}", table.name());
    notes.add(&key, 1);
}

impl std::fmt::Display for Table {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Log Analytics truncates any field above 64 KB; logferry truncates first (on a character
/// boundary) so that what is stored is predictable, and counts it.
pub const FIELD_LIMIT: usize = 65_536;
