//! Golden tests: every sample under `testdata/samples` (origins and licences in
//! `testdata/samples/SOURCES.md`) mapped through the real stages and compared, row by row and
//! field by field, with expected rows written by hand from the AWS documents and the table
//! contract (`tests/golden/expected`, see `tests/golden/NOTES.md`). The expectations were
//! written without running the mapper.

use std::fs;
use std::path::{Path, PathBuf};

use logferry::frame::Limits;
use logferry::pipeline::{map_object, BatchSettings, ObjectEnd};
use logferry::route::{Route, Router};
use logferry::table::Table;
use serde_json::Value;

/// `testdata/samples`. The samples are part of the repository: a missing folder fails the test.
fn samples() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/samples");
    assert!(dir.is_dir(), "{} not found", dir.display());
    dir
}

/// The files in `dir`, sorted; a missing folder fails with its path.
fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| {
            e.unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
                .path()
        })
        .collect();
    files.sort();
    files
}

fn expected_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/expected")
}

fn table_named(name: &str) -> Table {
    Table::ALL
        .into_iter()
        .find(|t| t.name() == name)
        .unwrap_or_else(|| panic!("unknown table {name}"))
}

/// Compares rows field by field and reports every difference, not just the first.
fn compare(what: &str, got: &[Value], want: &[Value]) -> Vec<String> {
    let mut diffs = Vec::new();
    if got.len() != want.len() {
        diffs.push(format!(
            "{what}: {} rows, expected {}",
            got.len(),
            want.len()
        ));
    }
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let (Some(g), Some(w)) = (g.as_object(), w.as_object()) else {
            diffs.push(format!("{what} row {i}: not an object"));
            continue;
        };
        let mut keys: Vec<&String> = g.keys().chain(w.keys()).collect();
        keys.sort();
        keys.dedup();
        for k in keys {
            match (g.get(k), w.get(k)) {
                (Some(a), Some(b)) if a == b => {}
                (a, b) => diffs.push(format!(
                    "{what} row {i} column {k}: got {a:?}, expected {b:?}"
                )),
            }
        }
    }
    diffs
}

#[test]
fn samples_map_to_the_hand_written_rows() {
    let samples = samples();
    let mut diffs = Vec::new();
    let mut checked = 0;
    for sub in ["cloudtrail", "guardduty", "vpcflow"] {
        for exp_path in files_in(&expected_dir().join(sub)) {
            let name = exp_path.file_name().unwrap().to_string_lossy().into_owned();
            let exp_bytes =
                fs::read(&exp_path).unwrap_or_else(|e| panic!("{}: {e}", exp_path.display()));
            let exp: Value = serde_json::from_slice(&exp_bytes).unwrap();
            let table = table_named(exp["table"].as_str().unwrap());
            let pinned = name.ends_with(".as_cloudtrail.json");
            let sample_name = if pinned {
                name.trim_end_matches(".as_cloudtrail.json").to_string()
            } else if samples.join(sub).join(&name).is_file() {
                name.clone()
            } else {
                name.trim_end_matches(".json").to_string()
            };
            let sample_path = samples.join(sub).join(&sample_name);
            let bytes =
                fs::read(&sample_path).unwrap_or_else(|e| panic!("{}: {e}", sample_path.display()));
            let mapped = map_object(
                table,
                &sample_name,
                &bytes,
                BatchSettings::default(),
                &Limits::default(),
            );
            let what = format!("{sub}/{name}");
            match exp["skipped"].as_str() {
                Some("digest") => {
                    assert_eq!(mapped.end, ObjectEnd::Skipped("no_records_key"), "{what}");
                    assert_eq!(
                        Router::default()
                            .route("AWSLogs/1/CloudTrail-Digest/r/2020/01/01/x.json.gz"),
                        Route::Skip("digest")
                    );
                }
                Some("insight") => {
                    let key = format!("AWSLogs/123456789012/CloudTrail-Insight/us-east-1/2020/01/01/{sample_name}");
                    assert_eq!(
                        Router::default().route(&key),
                        Route::Skip("insight"),
                        "{what}"
                    );
                }
                Some(other) => panic!("{what}: unknown expected skip {other}"),
                None => {
                    assert_eq!(mapped.end, ObjectEnd::Complete, "{what}");
                    assert!(
                        mapped.dead_letters.is_empty(),
                        "{what}: {:?}",
                        mapped.dead_letters
                    );
                    let want = exp["rows"].as_array().unwrap();
                    diffs.extend(compare(&what, &mapped.rows(), want));
                }
            }
            checked += 1;
        }
    }
    assert!(
        diffs.is_empty(),
        "{} differences:\n{}",
        diffs.len(),
        diffs.join("\n")
    );
    assert!(checked >= 28, "only {checked} golden files checked");
}

#[test]
fn every_sample_has_expectations() {
    let samples = samples();
    for sub in ["cloudtrail", "guardduty", "vpcflow"] {
        for path in files_in(&samples.join(sub)) {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if name.ends_with(".parquet") {
                continue; // Parquet is out of scope for now: counted as skipped.
            }
            let a = expected_dir().join(sub).join(&name);
            let b = expected_dir().join(sub).join(format!("{name}.json"));
            assert!(
                a.is_file() || b.is_file(),
                "no expected rows for {sub}/{name}"
            );
        }
    }
}

#[test]
fn parquet_objects_are_skipped_and_counted() {
    let samples = samples();
    let mut checked = 0;
    for p in files_in(&samples.join("vpcflow")) {
        if p.extension().is_some_and(|x| x == "parquet") {
            let m = map_object(
                Table::VpcFlow,
                "x.parquet",
                &fs::read(&p).unwrap(),
                BatchSettings::default(),
                &Limits::default(),
            );
            assert_eq!(m.end, ObjectEnd::Skipped("parquet"));
            assert!(m.rows().is_empty());
            checked += 1;
        }
    }
    assert!(
        checked >= 1,
        "no Parquet sample under testdata/samples/vpcflow"
    );
}
