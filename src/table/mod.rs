//! The three Sentinel tables: their columns (declared once, here and in the per-table files) and
//! the mappers that turn one AWS record into one row.
//!
//! Each table file declares its columns with [`declare_columns!`], which produces both the
//! column list (name, KQL type, AWS source) and a `Col` enum whose discriminants are the column
//! positions. Everything else derives from that list: the batch's pre-encoded keys, the DCR
//! stream declaration, the docs, and the test against `testdata/sentinel-tables.json`.

pub mod cloudtrail;
pub mod guardduty;
mod value;
pub mod vpcflow;

pub use value::{is_iso8601, RecordError};

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

/// Declares a table's columns once: `Name: Type = "source path"`. Generates `Col` (column
/// positions) and `COLUMNS` (the definitions, in schema order).
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

    pub fn index(self) -> usize {
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
        static KEYS: LazyLock<[Vec<Key>; 3]> = LazyLock::new(|| {
            Table::ALL.map(|t| t.columns().iter().map(|c| Key::new(c.name)).collect())
        });
        &KEYS[self.index()]
    }
}

/// `,"Name":` for one column, padded to a fixed size: appending it is one fixed-size copy
/// and a length change. A `memcpy` call per key (a row has 14-30) showed in `perf`.
#[derive(Debug)]
pub struct Key {
    padded: [u8; Key::ROOM],
    len: usize,
}

impl Key {
    /// Room for the longest column name (26 bytes) with its quotes, colon and comma.
    const ROOM: usize = 32;

    fn new(name: &str) -> Key {
        let text = format!(",\"{name}\":");
        assert!(text.len() <= Key::ROOM, "column name {name} is too long");
        let mut padded = [b' '; Key::ROOM];
        padded[..text.len()].copy_from_slice(text.as_bytes());
        Key {
            padded,
            len: text.len(),
        }
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.padded[..self.len]
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends the key to `out`.
    #[inline(always)]
    pub fn write(&self, out: &mut Vec<u8>) {
        let at = out.len();
        out.extend_from_slice(&self.padded);
        out.truncate(at + self.len);
    }
}

impl std::fmt::Display for Table {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Log Analytics truncates any field above 64 KB; logferry truncates first (on a character
/// boundary) so that what is stored is predictable, and counts it.
pub const FIELD_LIMIT: usize = 65_536;
