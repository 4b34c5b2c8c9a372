//! The declared columns (src/table/*) against the contract in ../shared/contract/tables.json:
//! names, order and types, and the stream names.

use std::path::Path;

use logferry::table::Table;
use serde_json::Value;

#[test]
fn declared_columns_equal_the_contract() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/contract/tables.json");
    let Ok(bytes) = std::fs::read(&path) else {
        eprintln!("SKIPPED: {} not found", path.display());
        return;
    };
    let contract: Value = serde_json::from_slice(&bytes).unwrap();
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
        let never: Vec<&str> = contract["common"]["never_send"]
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
