//! `AWSCloudTrail`: one row per element of a CloudTrail file's `Records` array.
//!
//! The record is walked once at the top level; the few nested objects the table flattens
//! (`userIdentity`, its `sessionContext`, `tlsDetails`) are walked from the index the framer
//! made while validating the record ([`NESTED_OBJECTS`]; walking them again with the cursor
//! was a tenth of the mapping time), or walked again when it has none. The first
//! security-group permission in `requestParameters` is looked up in place: rare, and
//! indexing every parameter would cost every record. Nested
//! values that land in JSON-text columns are copied from the source bytes, minified, so key
//! order and number spelling survive.

use super::declare_columns;
use super::value::{map_row, walk_record, Row};
use super::{Check, RecordError, Table};
use crate::batch::Batch;
use crate::counters::Counters;
use crate::json::{Kind, Member, MemberSpan, Value};

declare_columns! {
    TimeGenerated: DateTime = "eventTime",
    AwsEventId: String = "eventID",
    EventVersion: String = "eventVersion",
    EventSource: String = "eventSource",
    EventTypeName: String = "eventType",
    EventName: String = "eventName",
    UserIdentityType: String = "userIdentity.type",
    UserIdentityPrincipalid: String = "userIdentity.principalId",
    UserIdentityArn: String = "userIdentity.arn",
    UserIdentityAccountId: String = "userIdentity.accountId",
    UserIdentityInvokedBy: String = "userIdentity.invokedBy",
    UserIdentityAccessKeyId: String = "userIdentity.accessKeyId",
    UserIdentityUserName: String = "userIdentity.userName",
    SessionMfaAuthenticated: Bool = "userIdentity.sessionContext.attributes.mfaAuthenticated",
    SessionCreationDate: DateTime = "userIdentity.sessionContext.attributes.creationDate",
    SessionIssuerType: String = "userIdentity.sessionContext.sessionIssuer.type",
    SessionIssuerPrincipalId: String = "userIdentity.sessionContext.sessionIssuer.principalId",
    SessionIssuerArn: String = "userIdentity.sessionContext.sessionIssuer.arn",
    SessionIssuerAccountId: String = "userIdentity.sessionContext.sessionIssuer.accountId",
    SessionIssuerUserName: String = "userIdentity.sessionContext.sessionIssuer.userName",
    AWSRegion: String = "awsRegion",
    SourceIpAddress: String = "sourceIPAddress",
    UserAgent: String = "userAgent",
    ErrorCode: String = "errorCode",
    ErrorMessage: String = "errorMessage",
    RequestParameters: String = "requestParameters",
    ResponseElements: String = "responseElements",
    AdditionalEventData: String = "additionalEventData",
    AwsRequestId_: String = "requestID",
    Resources: String = "resources",
    APIVersion: String = "apiVersion",
    ReadOnly: Bool = "readOnly",
    RecipientAccountId: String = "recipientAccountId",
    ServiceEventDetails: String = "serviceEventDetails",
    SharedEventId: String = "sharedEventID",
    VpcEndpointId: String = "vpcEndpointId",
    ManagementEvent: Bool = "managementEvent",
    Category: String = "eventCategory",
    EC2RoleDelivery: String = "userIdentity.sessionContext.ec2RoleDelivery",
    TlsVersion: String = "tlsDetails.tlsVersion",
    CipherSuite: String = "tlsDetails.cipherSuite",
    ClientProvidedHostHeader: String = "tlsDetails.clientProvidedHostHeader",
    IpProtocol: String = "requestParameters.ipPermissions.items[0].ipProtocol",
    SourcePort: String = "requestParameters.ipPermissions.items[0].fromPort",
    DestinationPort: String = "requestParameters.ipPermissions.items[0].toPort",
    CidrIp: String = "requestParameters.ipPermissions.items[0].ipRanges.items[0].cidrIp",
    UserIdentityUserId: String = "userIdentity.onBehalfOf.userId, else userIdentity.userId",
    UserIdentityStoreArn: String = "userIdentity.onBehalfOf.identityStoreArn, else userIdentity.identityStoreArn",
}

/// The objects [`fill`] walks into; the framer indexes their members (see
/// `Table::nested_objects`).
pub const NESTED_OBJECTS: &[&[u8]] = &[b"userIdentity", b"tlsDetails"];

/// Maps one CloudTrail record into the pending row of `batch`. On error the caller rolls the
/// row back and dead-letters the record. `check`: what the framer already checked (see
/// [`Check`]).
pub(super) fn map(
    rec: &[u8],
    check: Check,
    index: Option<&[MemberSpan]>,
    batch: &mut Batch,
    notes: &mut Counters,
) -> Result<(), RecordError> {
    map_row(
        batch,
        notes,
        Table::CloudTrail,
        rec,
        check == Check::Minified,
        |row| fill(row, rec, check, index),
    )
}

fn fill(
    row: &mut Row,
    rec: &[u8],
    check: Check,
    index: Option<&[MemberSpan]>,
) -> Result<(), RecordError> {
    walk_record(rec, check, index, &mut |k, m| {
        // The nested objects the table flattens are walked in place.
        match k {
            b"userIdentity" => return user_identity(row, m),
            b"tlsDetails" => return tls_details(row, m),
            _ => {}
        }
        let Ok(v) = m.value() else { return };
        let col = match k {
            b"eventTime" => return row.datetime(Col::TimeGenerated, v),
            b"eventID" => Col::AwsEventId,
            b"eventVersion" => Col::EventVersion,
            b"eventSource" => Col::EventSource,
            b"eventType" => Col::EventTypeName,
            b"eventName" => Col::EventName,
            b"awsRegion" => Col::AWSRegion,
            b"sourceIPAddress" => Col::SourceIpAddress,
            b"userAgent" => Col::UserAgent,
            b"errorCode" => Col::ErrorCode,
            b"errorMessage" => Col::ErrorMessage,
            b"requestID" => Col::AwsRequestId_,
            b"apiVersion" => Col::APIVersion,
            b"recipientAccountId" => Col::RecipientAccountId,
            b"sharedEventID" => Col::SharedEventId,
            b"vpcEndpointId" => Col::VpcEndpointId,
            b"eventCategory" => Col::Category,
            b"readOnly" => return row.boolean(Col::ReadOnly, v),
            b"managementEvent" => return row.boolean(Col::ManagementEvent, v),
            b"requestParameters" => {
                row.json_text(Col::RequestParameters, v);
                return ip_permission(row, v);
            }
            b"responseElements" => return row.json_text(Col::ResponseElements, v),
            b"additionalEventData" => return row.json_text(Col::AdditionalEventData, v),
            b"resources" => return row.json_text(Col::Resources, v),
            b"serviceEventDetails" => return row.json_text(Col::ServiceEventDetails, v),
            _ => return,
        };
        row.string(col, v);
    })
}

/// Calls `f` with each member of an object value (a trusted walk: the value was validated).
fn each_field<'a>(v: Value<'a>, mut f: impl FnMut(&'a [u8], Value<'a>)) {
    if let Some(fields) = v.fields() {
        for (k, v) in fields.flatten() {
            f(k, v);
        }
    }
}

/// Takes a member's value for a string column.
fn string_member(row: &mut Row, col: Col, m: &mut Member) {
    if let Ok(v) = m.value() {
        row.string(col, v);
    }
}

fn user_identity(row: &mut Row, ui: &mut Member) {
    // `onBehalfOf` wins over the identity's own fields, whatever the key order: both are
    // kept until the end, and each column is written once.
    let (mut own_user, mut own_store) = (None, None);
    let (mut on_behalf_user, mut on_behalf_store) = (None, None);
    let _ = ui.object(&mut |k, m| {
        let col = match k {
            b"type" => Col::UserIdentityType,
            b"principalId" => Col::UserIdentityPrincipalid,
            b"arn" => Col::UserIdentityArn,
            b"accountId" => Col::UserIdentityAccountId,
            b"invokedBy" => Col::UserIdentityInvokedBy,
            b"accessKeyId" => Col::UserIdentityAccessKeyId,
            b"userName" => Col::UserIdentityUserName,
            // A null is no value: it does not replace one read before it.
            b"userId" => {
                if let Some(v) = m.value().ok().filter(|v| !v.is_null()) {
                    own_user = Some(v);
                }
                return;
            }
            b"identityStoreArn" => {
                if let Some(v) = m.value().ok().filter(|v| !v.is_null()) {
                    own_store = Some(v);
                }
                return;
            }
            b"sessionContext" => return session_context(row, m),
            b"onBehalfOf" => {
                if let Ok(v) = m.value() {
                    on_behalf_user = v.get(b"userId").filter(|v| !v.is_null());
                    on_behalf_store = v.get(b"identityStoreArn").filter(|v| !v.is_null());
                }
                return;
            }
            _ => return,
        };
        string_member(row, col, m);
    });
    if let Some(v) = on_behalf_user.or(own_user) {
        row.string(Col::UserIdentityUserId, v);
    }
    if let Some(v) = on_behalf_store.or(own_store) {
        row.string(Col::UserIdentityStoreArn, v);
    }
}

fn session_context(row: &mut Row, sc: &mut Member) {
    let _ = sc.object(&mut |k, m| match k {
        b"attributes" => {
            let _ = m.object(&mut |k, m| match k {
                b"mfaAuthenticated" => {
                    if let Ok(v) = m.value() {
                        row.boolean(Col::SessionMfaAuthenticated, v);
                    }
                }
                b"creationDate" => {
                    if let Ok(v) = m.value() {
                        row.datetime(Col::SessionCreationDate, v);
                    }
                }
                _ => {}
            });
        }
        b"sessionIssuer" => {
            let _ = m.object(&mut |k, m| {
                let col = match k {
                    b"type" => Col::SessionIssuerType,
                    b"principalId" => Col::SessionIssuerPrincipalId,
                    b"arn" => Col::SessionIssuerArn,
                    b"accountId" => Col::SessionIssuerAccountId,
                    b"userName" => Col::SessionIssuerUserName,
                    _ => return,
                };
                string_member(row, col, m);
            });
        }
        b"ec2RoleDelivery" => string_member(row, Col::EC2RoleDelivery, m),
        _ => {}
    });
}

fn tls_details(row: &mut Row, tls: &mut Member) {
    let _ = tls.object(&mut |k, m| {
        let col = match k {
            b"tlsVersion" => Col::TlsVersion,
            b"cipherSuite" => Col::CipherSuite,
            b"clientProvidedHostHeader" => Col::ClientProvidedHostHeader,
            _ => return,
        };
        string_member(row, col, m);
    });
}

/// `requestParameters.ipPermissions.items[0]`: the first permission of a security-group call.
fn ip_permission(row: &mut Row, rp: Value) {
    // Most calls have no permissions: a SIMD substring test saves walking their parameters.
    // The searcher is built once (building it per record showed in `perf`).
    static FINDER: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
        std::sync::LazyLock::new(|| memchr::memmem::Finder::new(b"\"ipPermissions\""));
    if rp.kind != Kind::Object || FINDER.find(rp.raw).is_none() {
        return;
    }
    let Some(first) = rp
        .get(b"ipPermissions")
        .and_then(|p| p.get(b"items"))
        .and_then(|items| items.first_element())
    else {
        return;
    };
    each_field(first, |k, v| {
        let col = match k {
            b"ipProtocol" => Col::IpProtocol,
            b"fromPort" => Col::SourcePort,
            b"toPort" => Col::DestinationPort,
            b"ipRanges" => {
                if let Some(cidr) = v
                    .get(b"items")
                    .and_then(|i| i.first_element())
                    .and_then(|r| r.get(b"cidrIp"))
                {
                    row.string(Col::CidrIp, cidr);
                }
                return;
            }
            _ => return,
        };
        row.string(col, v);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map_str(rec: &str, check: Check) -> Result<String, RecordError> {
        let mut b = Table::CloudTrail.batch();
        let mut notes = Counters::default();
        map(rec.as_bytes(), check, None, &mut b, &mut notes)?;
        b.commit_row(None);
        let mut out = Vec::new();
        b.encode_json(0..1, &mut out);
        Ok(String::from_utf8(out).unwrap())
    }

    /// A key that comes twice makes the row be mapped again by column: the last value wins,
    /// every column appears once, and a note is counted once.
    #[test]
    fn duplicate_keys_last_wins_notes_once() {
        let rec = r#"{"eventName":"A","readOnly":"maybe","userIdentity":{"userId":"u0","type":"IAMUser","userId":"u1","userId":null},"eventName":"B"}"#;
        let mut b = Table::CloudTrail.batch();
        let mut notes = Counters::default();
        map(rec.as_bytes(), Check::Unchecked, None, &mut b, &mut notes).unwrap();
        b.commit_row(None);
        let mut out = Vec::new();
        b.encode_json(0..1, &mut out);
        let row: serde_json::Map<String, serde_json::Value> =
            serde_json::from_slice(&out[1..out.len() - 1]).unwrap();
        assert_eq!(row["EventName"], "B");
        assert_eq!(row["UserIdentityUserId"], "u1");
        assert_eq!(row["UserIdentityType"], "IAMUser");
        assert_eq!(row.len(), 3, "{row:?}");
        assert_eq!(
            notes.get("invalid_bool:AWSCloudTrail.ReadOnly"),
            1,
            "{:?}",
            notes
        );
        // Written directly (no duplicate): the record's key order.
        let rec = r#"{"readOnly":true,"eventName":"A","eventTime":"2026-11-24T12:00:00Z"}"#;
        assert_eq!(
            map_str(rec, Check::Unchecked).unwrap(),
            r#"[{"ReadOnly":true,"EventName":"A","TimeGenerated":"2026-11-24T12:00:00Z"}]"#
        );
    }

    #[test]
    fn errors_inside_descended_objects_reject_the_record() {
        for bad in [
            r#"{"eventID":"a","userIdentity":{"sessionContext":{"attributes":{"mfaAuthenticated":tru}}}}"#,
            r#"{"eventID":"a","userIdentity":{"type":"x",}}"#,
            r#"{"eventID":"a","tlsDetails":{"tlsVersion":"1"]}"#,
            r#"{"eventID":"a","userIdentity":{"arn":"\ud800"}}"#,
        ] {
            assert_eq!(
                map_str(bad, Check::Unchecked).unwrap_err().reason(),
                "invalid_json",
                "{bad}"
            );
        }
    }

    #[test]
    fn validated_and_unchecked_walks_agree() {
        let rec = r#"{"eventTime":"2026-11-24T12:00:00Z","userIdentity":{"type":"AssumedRole","sessionContext":{"sessionIssuer":{"userName":"r"},"attributes":{"mfaAuthenticated":"TRUE"},"ec2RoleDelivery":"2.0"},"onBehalfOf":{"userId":"u1"},"userId":"u0"},"tlsDetails":{"tlsVersion":"TLSv1.3"},"requestParameters":{"ipPermissions":{"items":[{"ipProtocol":"tcp","fromPort":22}]}}}"#;
        let want = map_str(rec, Check::Unchecked).unwrap();
        assert_eq!(map_str(rec, Check::Valid).unwrap(), want);
        assert_eq!(map_str(rec, Check::Minified).unwrap(), want);
        // The framer's member index gives the same row.
        let mut index = Vec::new();
        crate::json::Cursor::new(rec.as_bytes())
            .index_object(NESTED_OBJECTS, &mut index)
            .unwrap();
        let mut b = Table::CloudTrail.batch();
        map(
            rec.as_bytes(),
            Check::Minified,
            Some(&index),
            &mut b,
            &mut Counters::default(),
        )
        .unwrap();
        b.commit_row(None);
        let mut out = Vec::new();
        b.encode_json(0..1, &mut out);
        assert_eq!(String::from_utf8(out).unwrap(), want);
        assert!(want.contains(r#""SessionMfaAuthenticated":true"#), "{want}");
        assert!(want.contains(r#""UserIdentityUserId":"u1""#), "{want}");
        assert!(want.contains(r#""SourcePort":"22""#), "{want}");
        assert!(want.contains(r#""EC2RoleDelivery":"2.0""#), "{want}");
    }
}
