//! Every SQS body in testdata/samples/s3-notifications, parsed: expected values taken from
//! the samples as AWS documents them (origins in testdata/samples/SOURCES.md).

use std::path::Path;

use logferry::route::{Route, Router};
use logferry::source::notification::{parse, Notification, ObjectRef};
use logferry::table::Table;

/// One body from testdata/samples/s3-notifications; a missing file fails with its path.
fn body(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/samples/s3-notifications")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn one_object(n: Notification) -> ObjectRef {
    match n {
        Notification::Objects {
            mut objects,
            ignored: 0,
        } if objects.len() == 1 => objects.remove(0),
        other => panic!("expected one object, got {other:?}"),
    }
}

#[test]
fn s3_event_notifications() {
    let b = body("awsdocs_s3_objectcreated_put.json");
    let o = one_object(parse(&b));
    assert_eq!(
        o,
        ObjectRef {
            bucket: "mybucket".into(),
            key: "HappyFace.jpg".into(),
            region: Some("us-west-2".into()),
            size: Some(1024),
            etag: Some("d41d8cd98f00b204e9800998ecf8427e".into()),
            version_id: Some("096fKKXTRTtl3on89fVO.nfljtsv6qko".into()),
            sequencer: Some("0055AED6DCD90281E5".into()),
        }
    );
    for (file, key, size) in [
        (
            "sekoia_sqs_body_1_objectcreated-put-cloudtrail.json",
            "AWSLogs/111111111111/CloudTrail/eu-west-2/2022/02/21/111111111111_CloudTrail_eu-west-2_20220221T1020Z_nTGkKkyO0OcwEIvv.json.gz",
            9234,
        ),
        (
            "sekoia_sqs_body_3_objectcreated-put-cloudtrail.json",
            "AWSLogs/111111111111/CloudTrail/eu-west-2/2022/02/21/111111111111_CloudTrail_eu-west-2_20220221T1055Z_YhegGgxhib9WTAx8.json.gz",
            1084,
        ),
    ] {
        let b = body(file);
        let o = one_object(parse(&b));
        assert_eq!(o.bucket, "aws-cloudtrail-111111111111-3abc4c4f", "{file}");
        assert_eq!(o.key, key, "{file}");
        assert_eq!(o.size, Some(size), "{file}");
        assert_eq!(o.version_id, None, "{file}");
        // The object routes to the table its key says.
        assert_eq!(Router::default().route(&o.key), Route::Table(Table::CloudTrail));
    }
}

#[test]
fn test_events_sns_and_eventbridge() {
    for file in [
        "awsdocs_s3_test_event.json",
        "sekoia_sqs_body_2_s3-test-event.json",
    ] {
        let b = body(file);
        assert_eq!(parse(&b), Notification::TestEvent, "{file}");
    }
    let b = body("middy_sns_wrapped_s3_event_sqs_body.json");
    let o = one_object(parse(&b));
    assert_eq!(
        (o.bucket.as_str(), o.key.as_str(), o.size),
        ("s3-upload", "path/to/file.csv", Some(9109))
    );

    let b = body("awsdocs_eventbridge_object_created.json");
    let o = one_object(parse(&b));
    assert_eq!(
        o,
        ObjectRef {
            bucket: "DOC-EXAMPLE-BUCKET1".into(),
            key: "example-key".into(),
            region: Some("ca-central-1".into()),
            size: Some(5),
            etag: Some("b1946ac92492d2347c6235b4d2611184".into()),
            version_id: Some("IYV3p45BT0ac8hjHg1houSdS1a.Mro8e".into()),
            sequencer: Some("617f08299329d189".into()),
        }
    );
    for file in [
        "awsdocs_eventbridge_object_deleted.json",
        "awsdocs_eventbridge_object_deleted_lifecycle.json",
        "awsdocs_eventbridge_object_restore_completed.json",
    ] {
        let b = body(file);
        assert_eq!(
            parse(&b),
            Notification::Objects {
                objects: vec![],
                ignored: 1
            },
            "{file}"
        );
    }
}
