//! The declared columns (src/table/*) and the shipped DCR (deploy/azure/dcr.json) against the
//! repository's statement of the three tables in testdata/sentinel-tables.json (its sources are
//! in testdata/sentinel-tables.md): names, order and types, and the stream names.

use std::path::Path;

use logferry::table::Table;
use serde_json::Value;

/// testdata/sentinel-tables.json, parsed. A missing or unreadable file fails the test.
fn contract() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/sentinel-tables.json");
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn declared_columns_equal_the_contract() {
    let contract = contract();
    // The file states exactly the declared tables, so the loops here and below cover them all.
    let mut stated: Vec<&str> = contract["tables"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut declared: Vec<&str> = Table::ALL.iter().map(|t| t.name()).collect();
    stated.sort_unstable();
    declared.sort_unstable();
    assert_eq!(stated, declared);
    for table in Table::ALL {
        let t = &contract["tables"][table.name()];
        assert_eq!(t["stream"], table.stream(), "{table}");
        assert_eq!(t["output_stream"], table.output_stream(), "{table}");
        let want: Vec<(String, String)> = t["columns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                (
                    c["name"].as_str().unwrap().to_string(),
                    c["type"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        let got: Vec<(String, String)> = table
            .columns()
            .iter()
            .map(|c| (c.name.to_string(), c.ty.kql().to_string()))
            .collect();
        assert_eq!(got, want, "{table}");
        // Nothing the contract forbids is declared.
        let never: Vec<&str> = contract["never_send"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .chain(
                t["never_send"]
                    .as_object()
                    .into_iter()
                    .flat_map(|m| m.keys().map(String::as_str)),
            )
            .collect();
        for c in table.columns() {
            assert!(
                !never.contains(&c.name),
                "{table}.{} must never be sent",
                c.name
            );
        }
    }
}

/// The DCR in the repository is exactly what `logferry dcr` prints, and its stream declarations
/// carry the contract's columns (names, order, and the stream spelling of each type).
#[test]
fn shipped_dcr_matches_the_contract() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let shipped = std::fs::read_to_string(root.join("deploy/azure/dcr.json")).unwrap();
    assert_eq!(
        shipped,
        logferry::sink::azure::dcr::render(&Table::ALL),
        "deploy/azure/dcr.json is stale: regenerate it with `logferry dcr > deploy/azure/dcr.json`"
    );
    let contract = contract();
    let dcr: Value = serde_json::from_str(&shipped).unwrap();
    let props = &dcr["resources"][0]["properties"];
    assert_eq!(dcr["resources"][0]["kind"], "Direct");
    let flows = props["dataFlows"].as_array().unwrap();
    for (name, t) in contract["tables"].as_object().unwrap() {
        let stream = t["stream"].as_str().unwrap();
        let decl = props["streamDeclarations"][stream]["columns"]
            .as_array()
            .unwrap_or_else(|| panic!("{name}: no declaration for {stream}"));
        let want: Vec<(String, String)> = t["columns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                // A stream declaration spells bool `boolean` and has no guid (sent as string).
                let ty = match c["type"].as_str().unwrap() {
                    "bool" => "boolean",
                    "guid" => "string",
                    other => other,
                };
                (c["name"].as_str().unwrap().to_string(), ty.to_string())
            })
            .collect();
        let got: Vec<(String, String)> = decl
            .iter()
            .map(|c| {
                (
                    c["name"].as_str().unwrap().to_string(),
                    c["type"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        assert_eq!(got, want, "{name}");
        let flow = flows
            .iter()
            .find(|f| f["streams"][0] == stream)
            .unwrap_or_else(|| panic!("{name}: no data flow"));
        assert_eq!(flow["outputStream"], t["output_stream"], "{name}");
        assert_eq!(flow["transformKql"], "source", "{name}");
    }
}
