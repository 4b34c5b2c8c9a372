//! Data collection rules, read from the JSON files users deploy.
//!
//! The emulator knows the tables only through these files, never through logferry's own
//! column lists, so a test against it checks the DCR a user deploys as much as the client.
//!
//! Two file shapes are read:
//! - an ARM template (`resources[]`), like `deploy/azure/dcr.json`: every resource of type
//!   `Microsoft.Insights/dataCollectionRules` is a DCR;
//! - a single DCR resource (top-level `properties`), like the JSON the portal's "JSON view"
//!   or `az monitor data-collection rule show` prints; its `properties.immutableId`, when
//!   present, is its id.
//!
//! The id of a DCR is, in this order: the `ID` of `--dcr ID=FILE` (for a template holding
//! several DCRs, `ID-1`, `ID-2`, ... in resource order), `properties.immutableId`, else
//! `dcr-<file stem>` (numbered the same way).
//!
//! What becomes an ingestible stream (from "Structure of a data collection rule in Azure
//! Monitor", <https://learn.microsoft.com/azure/azure-monitor/essentials/data-collection-rule-structure>,
//! and the Logs Ingestion API overview,
//! <https://learn.microsoft.com/azure/azure-monitor/logs/logs-ingestion-api-overview>): a stream
//! declared in `streamDeclarations` and named in a `dataFlows[].streams` entry. Its rows go to
//! the table of each data flow's `outputStream` (`Microsoft-X` and `Custom-X` both write table
//! `X`). Column types are the seven a declaration allows: string, int, long, real, boolean,
//! datetime, dynamic; anything else is refused at start. `transformKql` is not run: the
//! emulator stores rows as received (a transform other than `source` is logged at start).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use serde_json::Value;

use super::error::ConfigError;

/// A declared column type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    String,
    Int,
    Long,
    Real,
    Boolean,
    DateTime,
    Dynamic,
}

impl ColumnType {
    /// Declarations spell types in lower case; the parse ignores case, as ARM does for enum
    /// values.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s.to_ascii_lowercase().as_str() {
            "string" => ColumnType::String,
            "int" => ColumnType::Int,
            "long" => ColumnType::Long,
            "real" => ColumnType::Real,
            "boolean" => ColumnType::Boolean,
            "datetime" => ColumnType::DateTime,
            "dynamic" => ColumnType::Dynamic,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            ColumnType::String => "string",
            ColumnType::Int => "int",
            ColumnType::Long => "long",
            ColumnType::Real => "real",
            ColumnType::Boolean => "boolean",
            ColumnType::DateTime => "datetime",
            ColumnType::Dynamic => "dynamic",
        }
    }
}

/// An input stream: its columns and the tables its rows land in.
#[derive(Debug, Clone)]
pub struct Stream {
    pub columns: HashMap<String, ColumnType>,
    pub tables: Vec<String>,
}

/// One data collection rule.
#[derive(Debug, Clone)]
pub struct Dcr {
    pub id: String,
    /// Streams by name, sorted so start-up logs and error messages list them in a stable order.
    pub streams: BTreeMap<String, Stream>,
}

/// Reads one `--dcr [ID=]FILE` value. A value that names an existing file is a file even if it
/// contains `=`.
pub fn load_spec(spec: &str) -> Result<Vec<Dcr>, ConfigError> {
    let (id, path) = match spec.split_once('=') {
        Some((id, path)) if !Path::new(spec).exists() && !id.is_empty() => (Some(id), path),
        _ => (None, spec),
    };
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::ReadDcr {
        spec: spec.to_string(),
        path: path.to_string(),
        source,
    })?;
    let stem = Path::new(path)
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "file".to_string());
    let fallback = id.map_or_else(|| format!("dcr-{stem}"), str::to_string);
    parse(&text, id.is_some(), &fallback).map_err(|reason| ConfigError::BadDcr {
        spec: spec.to_string(),
        reason,
    })
}

/// Reads the DCRs of one file's text. `explicit` says whether `id` was given by the user (it
/// then wins over `properties.immutableId`).
pub fn parse(text: &str, explicit: bool, id: &str) -> Result<Vec<Dcr>, String> {
    let doc: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let resources: Vec<&Value> = match doc.get("resources") {
        Some(Value::Array(rs)) => rs
            .iter()
            .filter(|r| {
                r.get("type").and_then(Value::as_str).is_some_and(|t| {
                    t.eq_ignore_ascii_case("Microsoft.Insights/dataCollectionRules")
                })
            })
            .collect(),
        Some(_) => return Err("`resources` is not an array".to_string()),
        None if doc.get("properties").is_some() => vec![&doc],
        None => {
            return Err(
                "neither an ARM template (`resources`) nor a DCR resource (`properties`)"
                    .to_string(),
            )
        }
    };
    if resources.is_empty() {
        return Err("the template has no Microsoft.Insights/dataCollectionRules resource".into());
    }
    let many = resources.len() > 1;
    resources
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let props = r
                .get("properties")
                .ok_or_else(|| format!("resource {i} has no `properties`"))?;
            let numbered = if many {
                format!("{id}-{}", i + 1)
            } else {
                id.to_string()
            };
            let dcr_id = match props.get("immutableId").and_then(Value::as_str) {
                Some(own) if !explicit && !own.is_empty() => own.to_string(),
                _ => numbered,
            };
            dcr(dcr_id, props).map_err(|e| format!("resource {i}: {e}"))
        })
        .collect()
}

fn dcr(id: String, props: &Value) -> Result<Dcr, String> {
    let mut declared: HashMap<String, HashMap<String, ColumnType>> = HashMap::new();
    let decls = match props.get("streamDeclarations") {
        Some(Value::Object(m)) => m,
        Some(_) => return Err("`streamDeclarations` is not an object".into()),
        None => return Err("no `streamDeclarations`".into()),
    };
    for (name, decl) in decls {
        let cols = decl
            .get("columns")
            .and_then(Value::as_array)
            .ok_or_else(|| format!("stream {name}: no `columns` array"))?;
        let mut columns = HashMap::new();
        for (j, c) in cols.iter().enumerate() {
            let cname = c
                .get("name")
                .and_then(Value::as_str)
                .ok_or_else(|| format!("stream {name}: column {j} has no `name`"))?;
            let tname = c
                .get("type")
                .and_then(Value::as_str)
                .ok_or_else(|| format!("stream {name}: column {cname} has no `type`"))?;
            let ty = ColumnType::parse(tname).ok_or_else(|| {
                format!(
                    "stream {name}: column {cname} has type '{tname}'; a declaration allows \
                     string, int, long, real, boolean, datetime or dynamic"
                )
            })?;
            if columns.insert(cname.to_string(), ty).is_some() {
                return Err(format!("stream {name}: column {cname} is declared twice"));
            }
        }
        declared.insert(name.clone(), columns);
    }
    let flows = props
        .get("dataFlows")
        .and_then(Value::as_array)
        .ok_or("no `dataFlows` array")?;
    let mut streams: BTreeMap<String, Stream> = BTreeMap::new();
    for (k, flow) in flows.iter().enumerate() {
        let output = flow
            .get("outputStream")
            .and_then(Value::as_str)
            .ok_or_else(|| format!("dataFlows[{k}] has no `outputStream`"))?;
        let table = output
            .strip_prefix("Microsoft-")
            .or_else(|| output.strip_prefix("Custom-"))
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                format!(
                    "dataFlows[{k}]: outputStream '{output}' is neither Microsoft-<table> nor Custom-<table>"
                )
            })?;
        if !table.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!(
                "dataFlows[{k}]: table name '{table}' has characters other than letters, digits and _"
            ));
        }
        if let Some(kql) = flow.get("transformKql").and_then(Value::as_str) {
            if kql.trim() != "source" {
                tracing::info!(dcr = %id, output, transform = kql, "the emulator does not run transforms: rows are stored as received");
            }
        }
        let names = flow
            .get("streams")
            .and_then(Value::as_array)
            .ok_or_else(|| format!("dataFlows[{k}] has no `streams` array"))?;
        for name in names {
            let name = name
                .as_str()
                .ok_or_else(|| format!("dataFlows[{k}]: a stream name is not a string"))?;
            let Some(columns) = declared.get(name) else {
                // Microsoft-* input streams (Syslog, Event, ...) come from agents, not from the
                // Logs Ingestion API; an undeclared Custom-* stream is an error in Azure too.
                if name.starts_with("Custom-") {
                    return Err(format!(
                        "dataFlows[{k}] sends stream {name}, which is not declared"
                    ));
                }
                continue;
            };
            let s = streams.entry(name.to_string()).or_insert_with(|| Stream {
                columns: columns.clone(),
                tables: Vec::new(),
            });
            if !s.tables.iter().any(|t| t == table) {
                s.tables.push(table.to_string());
            }
        }
    }
    for name in declared.keys() {
        if !streams.contains_key(name) {
            tracing::warn!(dcr = %id, stream = %name, "stream is declared but no data flow sends it anywhere: not ingestible");
        }
    }
    if streams.is_empty() {
        return Err("no declared stream is sent to a table by a data flow".into());
    }
    Ok(Dcr { id, streams })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_template_has_three_streams() {
        let dcrs = parse(super::super::SHIPPED_DCR, true, "x").unwrap();
        assert_eq!(dcrs.len(), 1);
        let d = &dcrs[0];
        assert_eq!(d.id, "x");
        let s = &d.streams["Custom-LogferryAWSCloudTrail"];
        assert_eq!(s.tables, vec!["AWSCloudTrail".to_string()]);
        assert_eq!(s.columns["TimeGenerated"], ColumnType::DateTime);
        assert_eq!(d.streams.len(), 3);
    }

    #[test]
    fn single_resource_uses_its_immutable_id() {
        let text = r#"{"properties":{"immutableId":"dcr-abc",
            "streamDeclarations":{"Custom-T":{"columns":[{"name":"a","type":"Long"}]}},
            "dataFlows":[{"streams":["Custom-T"],"outputStream":"Custom-T_CL"}]}}"#;
        let d = parse(text, false, "dcr-file").unwrap();
        assert_eq!(d[0].id, "dcr-abc");
        assert_eq!(d[0].streams["Custom-T"].tables, vec!["T_CL".to_string()]);
        assert_eq!(d[0].streams["Custom-T"].columns["a"], ColumnType::Long);
        assert_eq!(parse(text, true, "mine").unwrap()[0].id, "mine");
    }

    #[test]
    fn unknown_type_is_refused() {
        let text = r#"{"properties":{
            "streamDeclarations":{"Custom-T":{"columns":[{"name":"a","type":"guid"}]}},
            "dataFlows":[{"streams":["Custom-T"],"outputStream":"Custom-T_CL"}]}}"#;
        assert!(parse(text, false, "x").unwrap_err().contains("guid"));
    }
}
