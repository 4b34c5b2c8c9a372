//! What an SQS message body says: which S3 objects to read.
//!
//! A body is one of (AWS documents them in
//! <https://docs.aws.amazon.com/AmazonS3/latest/userguide/notification-content-structure.html>
//! and <https://docs.aws.amazon.com/AmazonS3/latest/userguide/ev-events.html>; a sample of each
//! is in `testdata/samples/s3-notifications`):
//! - an S3 event notification `{"Records":[...]}` (eventVersion 2.x), possibly several records;
//! - the `s3:TestEvent` S3 sends when a notification configuration is saved;
//! - an SNS envelope (`"Type":"Notification"`) whose `Message` is a JSON string holding either
//!   of the above (non-raw delivery; raw delivery gives the bare body);
//! - an EventBridge event (`"source":"aws.s3"`, `"detail-type":"Object Created"`).
//!
//! Keys in S3 notifications are form-URL-encoded (`+` is a space, a literal `+` is `%2B`) and
//! are decoded with `percent-encoding`. EventBridge keys are taken as they are: AWS documents
//! no encoding for them. Records that are not `ObjectCreated` (deletes, restores, lifecycle)
//! name nothing to read; they are counted. A body that is none of these is poison: it is left
//! to the queue's redrive policy, never deleted silently.

use serde::Deserialize;

/// One object a notification announces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectRef {
    pub bucket: String,
    pub key: String,
    pub region: Option<String>,
    pub size: Option<u64>,
    pub etag: Option<String>,
    pub version_id: Option<String>,
    pub sequencer: Option<String>,
}

/// What one message body means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notification {
    /// Objects to read, and the number of records that named none (not `ObjectCreated`).
    Objects {
        objects: Vec<ObjectRef>,
        ignored: usize,
    },
    /// `s3:TestEvent`: nothing to read; the message is deleted.
    TestEvent,
    /// Not a notification logferry understands: counted, and left for the redrive policy.
    Poison(String),
}

#[derive(Deserialize)]
struct S3Event {
    #[serde(rename = "Records")]
    records: Vec<S3Record>,
}

#[derive(Deserialize)]
struct S3Record {
    #[serde(rename = "eventVersion", default)]
    event_version: String,
    #[serde(rename = "eventName", default)]
    event_name: String,
    #[serde(rename = "awsRegion")]
    aws_region: Option<String>,
    s3: Option<S3Entity>,
}

#[derive(Deserialize)]
struct S3Entity {
    bucket: S3Bucket,
    object: S3Object,
}

#[derive(Deserialize)]
struct S3Bucket {
    name: String,
}

#[derive(Deserialize)]
struct S3Object {
    key: String,
    size: Option<u64>,
    #[serde(rename = "eTag")]
    etag: Option<String>,
    #[serde(rename = "versionId")]
    version_id: Option<String>,
    sequencer: Option<String>,
}

#[derive(Deserialize)]
struct EventBridgeDetail {
    bucket: S3Bucket,
    object: EventBridgeObject,
}

#[derive(Deserialize)]
struct EventBridgeObject {
    key: String,
    size: Option<u64>,
    etag: Option<String>,
    #[serde(rename = "version-id")]
    version_id: Option<String>,
    sequencer: Option<String>,
}

/// Decodes a key as S3 notifications encode it: `+` is a space, then `%XX` escapes.
pub fn decode_key(raw: &str) -> Result<String, String> {
    let spaced = raw.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8()
        .map(|k| k.into_owned())
        .map_err(|e| format!("key {raw:?} is not UTF-8 once decoded: {e}"))
}

/// Parses one SQS message body.
pub fn parse(body: &str) -> Notification {
    let value: serde_json::Value = match serde_json::from_str(body) {
        Ok(v) => v,
        Err(e) => return Notification::Poison(format!("not JSON: {e}")),
    };
    parse_value(value, 0)
}

fn parse_value(value: serde_json::Value, depth: u8) -> Notification {
    let Some(obj) = value.as_object() else {
        return Notification::Poison("not a JSON object".into());
    };
    if obj.get("Event").and_then(|e| e.as_str()) == Some("s3:TestEvent") {
        return Notification::TestEvent;
    }
    if obj.contains_key("Records") {
        return match serde_json::from_value::<S3Event>(value) {
            Ok(ev) => s3_event(ev),
            Err(e) => Notification::Poison(format!("S3 notification with unexpected fields: {e}")),
        };
    }
    if obj.get("Type").and_then(|t| t.as_str()) == Some("Notification") && depth == 0 {
        return match obj.get("Message").and_then(|m| m.as_str()) {
            Some(inner) => match serde_json::from_str(inner) {
                Ok(v) => parse_value(v, depth + 1),
                Err(e) => Notification::Poison(format!("SNS Message is not JSON: {e}")),
            },
            None => Notification::Poison("SNS envelope without a Message string".into()),
        };
    }
    if obj.get("source").and_then(|s| s.as_str()) == Some("aws.s3") && obj.contains_key("detail") {
        let region = obj
            .get("region")
            .and_then(|r| r.as_str())
            .map(str::to_owned);
        if obj.get("detail-type").and_then(|t| t.as_str()) != Some("Object Created") {
            return Notification::Objects {
                objects: vec![],
                ignored: 1,
            };
        }
        let detail = obj.get("detail").cloned().unwrap_or_default();
        return match serde_json::from_value::<EventBridgeDetail>(detail) {
            Ok(d) => Notification::Objects {
                objects: vec![ObjectRef {
                    bucket: d.bucket.name,
                    key: d.object.key,
                    region,
                    size: d.object.size,
                    etag: d.object.etag,
                    version_id: real_version(d.object.version_id),
                    sequencer: d.object.sequencer,
                }],
                ignored: 0,
            },
            Err(e) => {
                Notification::Poison(format!("EventBridge event with unexpected detail: {e}"))
            }
        };
    }
    Notification::Poison("not an S3, SNS or EventBridge notification".into())
}

fn s3_event(ev: S3Event) -> Notification {
    let mut objects = Vec::new();
    let mut ignored = 0;
    for r in ev.records {
        if !r.event_version.starts_with("2.") || !r.event_name.starts_with("ObjectCreated:") {
            ignored += 1;
            continue;
        }
        let Some(s3) = r.s3 else {
            return Notification::Poison("ObjectCreated record without s3 entity".into());
        };
        let key = match decode_key(&s3.object.key) {
            Ok(k) => k,
            Err(e) => return Notification::Poison(e),
        };
        objects.push(ObjectRef {
            bucket: s3.bucket.name,
            key,
            region: r.aws_region,
            size: s3.object.size,
            etag: s3.object.etag,
            version_id: real_version(s3.object.version_id),
            sequencer: s3.object.sequencer,
        });
    }
    Notification::Objects { objects, ignored }
}

/// EventBridge (and S3 for objects written while versioning was off) names the unversioned
/// object's version `"null"`. Asking for it by that id is refused by some S3-compatible stores
/// (moto answers 400), and without an id S3 returns the same object, so it is treated as none.
fn real_version(v: Option<String>) -> Option<String> {
    v.filter(|v| !v.is_empty() && v != "null")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn objects(n: Notification) -> (Vec<ObjectRef>, usize) {
        match n {
            Notification::Objects { objects, ignored } => (objects, ignored),
            other => panic!("expected objects, got {other:?}"),
        }
    }

    #[test]
    fn keys_are_form_url_decoded() {
        assert_eq!(decode_key("red+flower.jpg").unwrap(), "red flower.jpg");
        assert_eq!(decode_key("this+im+%2B+age").unwrap(), "this im + age");
        assert_eq!(
            decode_key("AWSLogs%2F1%2FCloudTrail%2Fa.json.gz").unwrap(),
            "AWSLogs/1/CloudTrail/a.json.gz"
        );
        assert_eq!(
            decode_key("aws-account-id%3D1/x").unwrap(),
            "aws-account-id=1/x"
        );
        assert!(decode_key("bad%FF").is_err());
    }

    #[test]
    fn several_records_and_ignored_ones() {
        let body = r#"{"Records":[
            {"eventVersion":"2.1","eventName":"ObjectCreated:Put","awsRegion":"eu-west-2","s3":{"bucket":{"name":"b"},"object":{"key":"a+b","size":5,"eTag":"e","sequencer":"01"}}},
            {"eventVersion":"2.1","eventName":"ObjectRemoved:Delete","s3":{"bucket":{"name":"b"},"object":{"key":"c"}}},
            {"eventVersion":"2.2","eventName":"ObjectCreated:CompleteMultipartUpload","s3":{"bucket":{"name":"b2"},"object":{"key":"d%2Be"}}}]}"#;
        let (objs, ignored) = objects(parse(body));
        assert_eq!(ignored, 1);
        assert_eq!(objs.len(), 2);
        assert_eq!(
            (objs[0].bucket.as_str(), objs[0].key.as_str(), objs[0].size),
            ("b", "a b", Some(5))
        );
        assert_eq!(objs[0].region.as_deref(), Some("eu-west-2"));
        assert_eq!(
            (objs[1].bucket.as_str(), objs[1].key.as_str()),
            ("b2", "d+e")
        );
    }

    #[test]
    fn envelopes_test_events_and_poison() {
        let inner = r#"{"Records":[{"eventVersion":"2.1","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"b"},"object":{"key":"k"}}}]}"#;
        let sns = serde_json::json!({"Type": "Notification", "Message": inner}).to_string();
        assert_eq!(objects(parse(&sns)).0[0].key, "k");
        let sns_test =
            serde_json::json!({"Type": "Notification", "Message": r#"{"Event":"s3:TestEvent"}"#})
                .to_string();
        assert_eq!(parse(&sns_test), Notification::TestEvent);
        for poison in [
            "not json",
            "[1]",
            r#"{"hello":1}"#,
            r#"{"Records":[{"eventVersion":"2.1","eventName":"ObjectCreated:Put"}]}"#,
            r#"{"Type":"Notification","Message":"{"}"#,
        ] {
            assert!(matches!(parse(poison), Notification::Poison(_)), "{poison}");
        }
    }

    #[test]
    fn eventbridge_null_version_means_the_unversioned_object() {
        let body = r#"{"version":"0","detail-type":"Object Created","source":"aws.s3","region":"us-east-1",
            "detail":{"bucket":{"name":"b"},"object":{"key":"a b","size":3,"eTag":"e","version-id":"null"}}}"#;
        let (objs, _) = objects(parse(body));
        assert_eq!(objs[0].key, "a b", "EventBridge keys are not URL-encoded");
        assert_eq!(objs[0].version_id, None);
        let versioned = body.replace(r#""null""#, r#""3HL4kqtJlcpXroDTDmJ""#);
        assert_eq!(
            objects(parse(&versioned)).0[0].version_id.as_deref(),
            Some("3HL4kqtJlcpXroDTDmJ")
        );
    }
}
