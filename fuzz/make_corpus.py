#!/usr/bin/env python3
"""Writes the seed corpora under fuzz/corpus/<target>/. Every seed is hand-written here (none
is copied from a sample set). Deterministic: gzip members carry mtime 0, zstd uses the
`zstd` CLI at level 3. Run from anywhere: `python3 fuzz/make_corpus.py`.

The map targets choose an extra check by the first byte (`data[0] % 4`): 1 also maps the
content gzip-compressed ('\\t', '\\r'), 2 also maps it after 128 KiB of padding ('\\n', 'v');
so seeds come with different leading whitespace."""

import gzip
import json
import os
import shutil
import subprocess

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")


def gz(data: bytes) -> bytes:
    return gzip.compress(data, compresslevel=6, mtime=0)


def zst(data: bytes) -> bytes:
    return subprocess.run(["zstd", "-q", "-3", "-c"], input=data, check=True, stdout=subprocess.PIPE).stdout


def write(target: str, name: str, data: bytes) -> None:
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# ---------------------------------------------------------------- CloudTrail

def ct_record(i: int, **extra) -> dict:
    r = {
        "eventVersion": "1.08",
        "userIdentity": {
            "type": "AssumedRole",
            "principalId": "AROAEXAMPLE:alice",
            "arn": "arn:aws:sts::000000000000:assumed-role/Admin/alice",
            "accountId": "000000000000",
            "accessKeyId": "ASIAEXAMPLE",
            "sessionContext": {
                "sessionIssuer": {"type": "Role", "principalId": "AROAEXAMPLE", "arn": "arn:aws:iam::000000000000:role/Admin",
                                  "accountId": "000000000000", "userName": "Admin"},
                "attributes": {"creationDate": "2024-01-02T03:04:05Z", "mfaAuthenticated": "False"},
                "ec2RoleDelivery": "2.0",
            },
        },
        "eventTime": "2024-01-02T03:%02d:06Z" % (i % 60),
        "eventSource": "ec2.amazonaws.com",
        "eventName": "AuthorizeSecurityGroupIngress",
        "awsRegion": "eu-west-1",
        "sourceIPAddress": "198.51.100.%d" % (i % 250),
        "userAgent": "aws-cli/2.15 Python/3.11",
        "requestParameters": {
            "groupId": "sg-0123",
            "ipPermissions": {"items": [{"ipProtocol": "tcp", "fromPort": 22, "toPort": 22,
                                          "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]}}]},
        },
        "responseElements": {"_return": True, "securityGroupRuleSet": {"items": [{"groupRuleId": "sgr-1", "isEgress": False}]}},
        "requestID": "req-%d" % i,
        "eventID": "evt-%d" % i,
        "readOnly": False,
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": "000000000000",
        "eventCategory": "Management",
        "tlsDetails": {"tlsVersion": "TLSv1.3", "cipherSuite": "TLS_AES_128_GCM_SHA256",
                       "clientProvidedHostHeader": "ec2.eu-west-1.amazonaws.com"},
    }
    r.update(extra)
    return r


def minified(o) -> bytes:
    return json.dumps(o, separators=(",", ":")).encode()


def cloudtrail() -> None:
    t = "cloudtrail"
    two = {"Records": [ct_record(1), ct_record(2, errorCode="AccessDenied", errorMessage="no \"way\"\n")]}
    write(t, "two_minified.json", minified(two))
    write(t, "two_pretty_gzip_mode.json", b"\t" + json.dumps(two, indent=2).encode() + b"\n")
    write(t, "two_pretty_pad_mode.json", b"\n" + json.dumps(two, indent=4).encode())
    # Records after other keys (and a key that merely contains "Records").
    write(t, "records_last.json",
          b'{"meta":{"Records":"not this"},"NotRecords":[1,2],"Records":['
          + minified(ct_record(3, userIdentity={"type": "IAMUser", "userName": "bob",
                                                "onBehalfOf": {"userId": "u-1", "identityStoreArn": "arn:store"},
                                                "userId": "ignored"}))
          + b'],"tail":{"x":[{}]}}')
    # Digest files: no Records key.
    digest = {"awsAccountId": "000000000000", "digestStartTime": "2024-01-02T03:00:00Z",
              "digestEndTime": "2024-01-02T04:00:00Z", "digestS3Bucket": "bucket",
              "logFiles": [{"s3Bucket": "bucket", "s3Object": "AWSLogs/x/%d.json.gz" % i,
                            "hashValue": "ab" * 32, "hashAlgorithm": "SHA-256"} for i in range(3)]}
    write(t, "digest.json", minified(digest))
    write(t, "digest_empty.json", b'{"awsAccountId":"000000000000","logFiles":[]}')
    # Edge records: scalars, empty object, nulls, numbers, escapes, insight event.
    write(t, "odd_elements.json",
          b' {"Records":[1,"two",null,[],{},{"eventName":null},'
          b'{"eventName":12.50,"readOnly":"TRUE","managementEvent":"maybe","eventTime":"2022-02-30T00:00:00Z"},'
          b'{"eventName":"caf\\u00e9 \\ud83d\\ude00 \\/ \\"q\\"","requestParameters":{ "a" : [ 1 , 2.0e+3 ] },'
          b'"resources":[{"ARN":"arn:x","type":"AWS::S3::Object"}],"additionalEventData":"s"},'
          b'{"eventCategory":"Insight","eventType":"AwsCloudTrailInsight","insightDetails":{"state":"Start"}}]}')
    # Faults: truncated, trailing data, not an object, unbalanced, invalid UTF-8.
    write(t, "truncated.json", minified(two)[:700])
    write(t, "trailing.json", b'{"Records":[{"eventName":"A"}]} {"x":1}')
    write(t, "array_top.json", b'[{"eventName":"A"}]')
    write(t, "unbalanced.json", b'{"Records":[{"eventName":"A"}]]}')
    write(t, "bad_utf8.json", b'{"Records":[{"eventName":"\xff\xfe"},{"eventName":"ok"}]}')
    write(t, "empty.json", b"")
    # A record near the 2048-byte record limit, and one above it.
    write(t, "near_limit.json", minified({"Records": [ct_record(4, userAgent="a" * 1200), ct_record(5, userAgent="b" * 2100),
                                                       ct_record(6)]}))
    many = {"Records": [ct_record(i) for i in range(12)]}
    write(t, "many.json.gz", gz(minified(many)))
    write(t, "two.json.zst", zst(minified(two)))
    write(t, "two_members.json.gz", gz(b'{"Records":[') + gz(minified(ct_record(7)) + b"]}"))


# ---------------------------------------------------------------- GuardDuty

def finding(i: int, **extra) -> dict:
    f = {
        "schemaVersion": "2.0",
        "accountId": "000000000000",
        "region": "eu-west-1",
        "partition": "aws",
        "id": "f%032d" % i,
        "arn": "arn:aws:guardduty:eu-west-1:000000000000:detector/d/finding/f%d" % i,
        "type": "Recon:EC2/PortProbeUnprotectedPort",
        "resource": {"resourceType": "Instance", "instanceDetails": {"instanceId": "i-0%d" % i, "tags": [{"key": "k", "value": "v"}]}},
        "service": {"serviceName": "guardduty", "count": 3, "archived": False,
                    "action": {"actionType": "PORT_PROBE", "portProbeAction": {"blocked": False}}},
        "severity": 5.3,
        "createdAt": "2024-01-02T03:04:05.123Z",
        "updatedAt": "2024-01-02T04:05:06.789Z",
        "title": "Unprotected port on EC2 instance i-0%d is being probed." % i,
        "description": "EC2 instance has an unprotected port which is being probed by a known malicious host.",
    }
    f.update(extra)
    return f


def guardduty() -> None:
    t = "guardduty"
    lines = [minified(finding(i)) for i in range(3)]
    write(t, "three_lines.jsonl", b"\n".join(lines) + b"\n")
    write(t, "crlf_blank_gzip_mode.jsonl", b"\t" + b"\r\n\r\n".join(lines) + b"\r\n")
    write(t, "concatenated_pad_mode.json", b"\n" + b"".join(lines))
    write(t, "pretty_one.json", json.dumps(finding(4), indent=2).encode())
    env = {"version": "0", "id": "e-1", "detail-type": "GuardDuty Finding", "source": "aws.guardduty",
           "account": "000000000000", "time": "2024-01-02T04:05:06Z", "region": "eu-west-1",
           "detail": finding(5, severity="8.9")}
    write(t, "eventbridge_envelope.jsonl", minified(env) + b"\n" + minified(finding(6, severity=None, resource=None)) + b"\n")
    # A broken line between good ones (resync), a stray closer, scalars, an empty object.
    write(t, "broken_line.jsonl",
          lines[0] + b"\n" + b'{"accountId":"000000000000","title":"cut' + b"\n" + lines[1] + b"\n}\n42\n{}\n" + b'"str"\n')
    write(t, "broken_value_pad_mode.jsonl", b"\n" + b'{"id":"a","service":{"x":[1,2}\n{"id":"b"}\n{"id":"c"')
    write(t, "severity_variants.jsonl", b"\n".join(
        minified({"id": str(i), "severity": s}) for i, s in enumerate([8, -1.5, "7", "x", 1e300, 2147483648, True])) + b"\n")
    write(t, "near_limit.jsonl", minified(finding(7, description="d" * 1500)) + b"\n" + minified(finding(8, description="e" * 2100)) + b"\n")
    write(t, "bad_utf8.jsonl", b'{"id":"\xc3\x28"}\n{"id":"ok"}\n')
    write(t, "empty.jsonl", b"")
    write(t, "three.jsonl.gz", gz(b"\n".join(lines) + b"\n"))
    write(t, "three.jsonl.zst", zst(b"\n".join(lines) + b"\n"))


# ---------------------------------------------------------------- VPC Flow Logs

DEFAULT_HEADER = b"version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status"


def vpcflow() -> None:
    t = "vpcflow"
    rows = [
        b"2 000000000000 eni-0a1b2c3d 10.0.0.5 10.0.1.9 443 49152 6 10 8400 1700000000 1700000060 ACCEPT OK",
        b"2 000000000000 eni-0a1b2c3d 203.0.113.7 10.0.0.5 0 0 1 4 336 1700000000 1700000060 REJECT OK",
        b"2 000000000000 eni-0a1b2c3d - - - - - - - 1700000100 1700000160 - NODATA",
        b"2 000000000000 eni-0a1b2c3d - - - - - - - 1700000100 1700000160 - SKIPDATA",
    ]
    default = DEFAULT_HEADER + b"\n" + b"\n".join(rows) + b"\n"
    write(t, "default.log", default)
    write(t, "default_crlf_gzip_mode.log", b"\t" + default.replace(b"\n", b"\r\n"))
    write(t, "custom_v5.log",
          b"version srcaddr dstaddr srcport dstport protocol start end type packets bytes account-id vpc-id subnet-id "
          b"instance-id interface-id region az-id sublocation-type sublocation-id action tcp-flags pkt-srcaddr "
          b"pkt-dstaddr pkt-src-aws-service pkt-dst-aws-service traffic-path flow-direction log-status\n"
          b"5 10.0.0.71 52.95.128.179 34210 80 6 1700000000 1700000057 IPv4 7 471 000000000000 vpc-1 subnet-1 "
          b"i-1 eni-1 eu-west-1 euw1-az1 - - ACCEPT 3 10.0.0.71 52.95.128.179 - S3 8 egress OK\n")
    write(t, "custom_subset_unknown.log",
          b"instance-id interface-id srcaddr dstaddr pkt-srcaddr pkt-dstaddr reject-reason ecs-task-id\n"
          b"- eni-1 10.0.1.5 10.0.0.220 10.0.1.5 203.0.113.5 BPA task-1\n"
          b"i-1 eni-2 10.0.0.220 203.0.113.5 10.0.0.220 203.0.113.5 - -\n")
    write(t, "underscored_header.log",
          b"version account_id interface_id srcaddr dstaddr srcport dstport protocol packets bytes start end action log_status\n"
          + rows[0] + b"\n")
    # Numbers: huge, negative, leading zeros, clamped packets, out-of-range times.
    write(t, "numbers.log", DEFAULT_HEADER + b"\n"
          b"2 000000000000 eni-1 10.0.0.1 10.0.0.2 00443 -1 6 99999999999 9223372036854775807 0 253402300799 ACCEPT OK\n"
          b"2 000000000000 eni-1 10.0.0.1 10.0.0.2 70000 1 6 1 1 1700000000 1700000001 ACCEPT OK\n"
          b"2 000000000000 eni-1 10.0.0.1 10.0.0.2 1 1 6 1 99999999999999999999 1700000000 1700000001 ACCEPT OK\n"
          b"2 000000000000 eni-1 10.0.0.1 10.0.0.2 1 1 6 1 1 -62135596800 253402300800 ACCEPT OK\n"
          b"x 000000000000 eni-1 10.0.0.1 10.0.0.2 1 1 6 1 1 1 1 ACCEPT OK\n")
    write(t, "field_count.log", DEFAULT_HEADER + b"\n2 1 2 3\n" + rows[0] + b" extra\n\n   \n" + rows[1])
    write(t, "odd_strings.log", b"action log-status interface-id\n\"q\"\\ \x01 caf\xc3\xa9\nA B \xff\n")
    write(t, "no_header.log", b"2 000000000000 eni-1 - - - - - - - 1 2 - NODATA\n")
    write(t, "header_only.log", DEFAULT_HEADER)
    write(t, "long_line.log", DEFAULT_HEADER + b"\n" + rows[0] + b" " + b"z" * 2100 + b"\n" + rows[1] + b"\n")
    write(t, "empty.log", b"")
    write(t, "default.log.gz", gz(default))
    write(t, "default.log.zst", zst(default))
    write(t, "parquet_magic.bin", b"PAR1\x00\x00\x00")


# ---------------------------------------------------------------- decode

def decode() -> None:
    t = "decode"
    text = b"version account-id\n" + b"2 000000000000\n" * 40
    write(t, "plain.txt", text)
    write(t, "gzip.gz", gz(text))
    write(t, "gzip_two_members.gz", gz(text[:100]) + gz(text[100:]))
    write(t, "gzip_truncated.gz", gz(text)[:-9])
    write(t, "zstd.zst", zst(text))
    write(t, "zstd_two_frames.zst", zst(text[:50]) + zst(text[50:]))
    write(t, "zstd_truncated.zst", zst(text)[:-3])
    write(t, "parquet.bin", b"PAR1" + bytes(range(32)))
    write(t, "short_gzip_magic.bin", b"\x1f\x8b")
    write(t, "short_zstd_magic.bin", b"\x28\xb5\x2f")
    write(t, "empty.bin", b"")


# ---------------------------------------------------------------- json_cursor

def json_cursor() -> None:
    t = "json_cursor"
    docs = {
        "object.json": b'{"a":1,"b":[true,false,null,{"c":"d\\n\\u00e9"}],"e":{},"f":-0.5e+3}',
        "pretty.json": b' {\n\t"k" : [ 1 , 2 ] ,\r\n "s":"x y\\"z" }\n',
        "scalars.json": b'"just a string \\/ \\b\\f\\r\\t"',
        "number.json": b"-0.0E-0",
        "big_number.json": b"[1e400, -1e400, 123456789012345678901234567890]",
        "surrogates.json": b'["\\ud83d\\ude00", "\\ud800", "\\udc00x"]',
        "dup_keys.json": b'{"a":1,"a":"two","b":{"a":[]}}',
        "escaped_key.json": b'{"\\u0061":1,"a":2}',
        "deep.json": b"[" * 60 + b"{}" + b"]" * 60,
        "too_deep.json": b"[" * 140 + b"]" * 140,
        "bad_trailing_comma.json": b'{"a":1,}',
        "bad_leading_zero.json": b"[01]",
        "bad_control.json": b'"a\x01b"',
        "bad_escape.json": b'"\\x"',
        "bad_literal.json": b"[tru]",
        "bad_trailing.json": b'{"a":1} x',
        "bad_empty.json": b"",
        "unicode.json": '{"ключ":"значение","emoji":"😀"}'.encode(),
        # Records for the SIMD indexer: escapes, strings and numbers across 64-byte blocks.
        "record_blocks.json": b'{"' + b"p" * 61 + b'":"a\\\"b\\","' + b"q" * 58 + b'":-12.5e+3,"r":[true,{"s":null}]}',
        "record_backslash_run.json": b'{"k":"' + b"x" * 55 + b'\\\\\\\\\"y","l":{}}',
        "record_ct.json": b'{"eventVersion":"1.08","userIdentity":{"type":"AssumedRole","sessionContext":{"attributes":{"mfaAuthenticated":"false"}}},"requestParameters":{"bucketName":"b","Host":"b.s3.amazonaws.com"},"readOnly":true,"resources":[{"ARN":"arn:aws:s3:::b"}],"n":0}',
    }
    for name, data in docs.items():
        write(t, name, data)


def emulator_rows() -> None:
    # The first byte picks the stream of the shipped DCR (sorted by name):
    # 0 Custom-LogferryAWSCloudTrail, 1 Custom-LogferryAWSGuardDuty, 2 Custom-LogferryAWSVPCFlow.
    t = "emulator_rows"
    ct, gd, vpc = b"\x00", b"\x01", b"\x02"
    write(t, "ct_ok.json", ct + b'[{"TimeGenerated":"2026-11-24T12:00:00Z","EventName":"GetObject","ReadOnly":true}]')
    write(t, "ct_wrong_bool.json", ct + b'[{"ReadOnly":"true"}]')
    write(t, "ct_unknown_column.json", ct + b'[{"Nope":1}]')
    write(t, "gd_dynamic.json", gd + b'[{"Severity":5,"ResourceDetails":{"a":[1,2,{"b":null}]},"Title":"t"}]')
    write(t, "gd_int_range.json", gd + b'[{"Severity":2147483648}]')
    write(t, "vpc_ok.json", vpc + b'[{"Version":2,"Bytes":9007199254740993,"SrcPort":443,"Action":"ACCEPT","End":"2026-11-24T12:01:00Z"}]')
    write(t, "vpc_bad_datetime.json", vpc + b'[{"End":"2026-11-24"}]')
    write(t, "not_array.json", vpc + b'{"Version":2}')
    write(t, "not_objects.json", vpc + b'[1,"a",null]')
    write(t, "empty_array.json", vpc + b'[]')
    write(t, "nulls.json", vpc + b'[{"Version":null,"Action":null}]')
    write(t, "bad_utf8.json", vpc + b'[{"Action":"\xff"}]')
    write(t, "escapes.json", ct + b'[{"EventName":"a\\u0000\\"b\\ud83d\\ude00"}]')


def main() -> None:
    # Only the corpora written here are replaced (notification's seeds are kept as they are).
    for target in ("cloudtrail", "guardduty", "vpcflow", "decode", "json_cursor", "emulator_rows"):
        if os.path.isdir(os.path.join(CORPUS, target)):
            shutil.rmtree(os.path.join(CORPUS, target))
    cloudtrail()
    guardduty()
    vpcflow()
    decode()
    json_cursor()
    emulator_rows()
    for target in sorted(os.listdir(CORPUS)):
        files = os.listdir(os.path.join(CORPUS, target))
        size = sum(os.path.getsize(os.path.join(CORPUS, target, f)) for f in files)
        print(f"{target}: {len(files)} files, {size} bytes")


if __name__ == "__main__":
    main()
