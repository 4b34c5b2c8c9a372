"""moto for logferry's integration tests: one process serves the S3/SQS/SNS/EventBridge wire
protocols on a free loopback port and answers set-up calls from the Rust test helper.

Protocol (stdin/stdout, one JSON object per line):
  on start it prints {"endpoint": "http://127.0.0.1:PORT"} once the server answers;
  then each line {"op": NAME, ...args} is answered by {"ok": RESULT} or {"error": TEXT}.
EOF on stdin (the test process ended, however it ended) stops the server, so no moto outlives
its tests. Requests are logged to stderr, which the helper sends to a file.

Set-up runs through boto3 against the server itself, over HTTP, like any client: the tests
exercise the same wire protocol logferry speaks, not moto's internals.
"""

import json
import os
import sys
import threading
import time
import urllib.error
import urllib.request

os.environ.setdefault("AWS_ACCESS_KEY_ID", "test")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "test")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

import boto3  # noqa: E402
from botocore.config import Config  # noqa: E402
from moto.server import DomainDispatcherApplication, create_backend_app  # noqa: E402
from werkzeug.serving import WSGIRequestHandler, make_server  # noqa: E402


class KeepAlive(WSGIRequestHandler):
    """HTTP/1.1 with persistent connections, as S3 and SQS speak it. Werkzeug's default is
    HTTP/1.0, a new TCP connection per request, which would charge logferry for connection
    set-up that it never pays against AWS."""

    protocol_version = "HTTP/1.1"

REGION = "us-east-1"


def serve():
    app = DomainDispatcherApplication(create_backend_app)
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=KeepAlive)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    endpoint = f"http://127.0.0.1:{server.server_port}"
    for _ in range(200):
        try:
            urllib.request.urlopen(endpoint + "/moto-api/", timeout=2).read()
            break
        except Exception:
            time.sleep(0.05)
    return endpoint


def fault_proxy(target):
    """A reverse proxy in front of moto that answers S3 GETs with 503 SlowDown, as S3 does
    under load: for a key containing `fail-always`, every time; `fail-twice`, the first two
    times. Everything else is forwarded unchanged."""
    from werkzeug.wrappers import Request, Response

    seen = {}
    lock = threading.Lock()

    def app(environ, start_response):
        req = Request(environ)
        path = req.full_path.rstrip("?")
        if req.method == "GET" and ("fail-always" in path or "fail-twice" in path):
            with lock:
                seen[req.path] = seen.get(req.path, 0) + 1
                n = seen[req.path]
            if "fail-always" in path or n <= 2:
                body = (
                    "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>SlowDown</Code>"
                    "<Message>Please reduce your request rate.</Message></Error>"
                )
                return Response(body, status=503, content_type="application/xml")(
                    environ, start_response
                )
        headers = {
            k: v for k, v in req.headers.items() if k.lower() not in ("host", "content-length")
        }
        fwd = urllib.request.Request(
            target + path, data=req.get_data() or None, method=req.method, headers=headers
        )
        try:
            resp = urllib.request.urlopen(fwd, timeout=60)
            status, rheaders, body = resp.status, resp.headers.items(), resp.read()
        except urllib.error.HTTPError as e:
            status, rheaders, body = e.code, e.headers.items(), e.read()
        out = Response(body, status=status)
        for k, v in rheaders:
            if k.lower() not in ("content-length", "transfer-encoding", "connection", "server", "date"):
                out.headers[k] = v
        return out(environ, start_response)

    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_port}"


class Ops:
    def __init__(self, endpoint):
        self.endpoint = endpoint
        cfg = Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2})
        kw = dict(endpoint_url=endpoint, region_name=REGION, config=cfg)
        self.s3 = boto3.client("s3", **kw)
        self.sqs = boto3.client("sqs", **kw)
        self.sns = boto3.client("sns", **kw)
        self.events = boto3.client("events", **kw)

    def fault_proxy(self):
        return fault_proxy(self.endpoint)

    def create_bucket(self, bucket):
        self.s3.create_bucket(Bucket=bucket)
        return bucket

    def create_queue(self, name, visibility=30, max_receives=None):
        """A queue, and with max_receives a dead-letter queue `<name>-dlq` behind a redrive policy."""
        attrs = {"VisibilityTimeout": str(visibility)}
        out = {}
        if max_receives is not None:
            dlq = self.sqs.create_queue(QueueName=name + "-dlq")["QueueUrl"]
            dlq_arn = self.queue_arn(dlq)
            attrs["RedrivePolicy"] = json.dumps(
                {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(max_receives)}
            )
            out["dlq_url"] = dlq
        url = self.sqs.create_queue(QueueName=name, Attributes=attrs)["QueueUrl"]
        out["url"] = url
        out["arn"] = self.queue_arn(url)
        return out

    def queue_arn(self, url):
        return self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]

    def notify(self, bucket, queue_arn, mode, prefix=""):
        """Announces the bucket's new objects on the queue: `direct` (S3 -> SQS), `sns` and
        `sns_raw` (S3 -> SNS -> SQS, with and without raw delivery) or `eventbridge`."""
        flt = {"Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": prefix}]}}} if prefix else {}
        if mode == "direct":
            self.s3.put_bucket_notification_configuration(
                Bucket=bucket,
                NotificationConfiguration={
                    "QueueConfigurations": [
                        {"QueueArn": queue_arn, "Events": ["s3:ObjectCreated:*"], **flt}
                    ]
                },
            )
        elif mode in ("sns", "sns_raw"):
            topic = self.sns.create_topic(Name=bucket + "-topic")["TopicArn"]
            attrs = {"RawMessageDelivery": "true"} if mode == "sns_raw" else {}
            self.sns.subscribe(
                TopicArn=topic, Protocol="sqs", Endpoint=queue_arn, Attributes=attrs
            )
            self.s3.put_bucket_notification_configuration(
                Bucket=bucket,
                NotificationConfiguration={
                    "TopicConfigurations": [
                        {"TopicArn": topic, "Events": ["s3:ObjectCreated:*"], **flt}
                    ]
                },
            )
        elif mode == "eventbridge":
            self.s3.put_bucket_notification_configuration(
                Bucket=bucket, NotificationConfiguration={"EventBridgeConfiguration": {}}
            )
            rule = bucket + "-rule"
            # Every aws.s3 event of the bucket, not only Object Created: logferry must ignore
            # the others (moto also sends Object Tags Added for each PutObject).
            self.events.put_rule(
                Name=rule,
                EventPattern=json.dumps(
                    {"source": ["aws.s3"], "detail": {"bucket": {"name": [bucket]}}}
                ),
            )
            self.events.put_targets(Rule=rule, Targets=[{"Id": "q", "Arn": queue_arn}])
        else:
            raise ValueError(f"unknown notification mode {mode}")
        return True

    def put(self, bucket, key, path):
        with open(path, "rb") as f:
            body = f.read()
        r = self.s3.put_object(Bucket=bucket, Key=key, Body=body)
        return r["ETag"]

    def put_multipart(self, bucket, key, path):
        """One-part multipart upload: moto then announces the object twice (Put and
        CompleteMultipartUpload), as the at-least-once notifications of AWS may."""
        with open(path, "rb") as f:
            body = f.read()
        up = self.s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
        part = self.s3.upload_part(
            Bucket=bucket, Key=key, UploadId=up, PartNumber=1, Body=body
        )
        self.s3.complete_multipart_upload(
            Bucket=bucket,
            Key=key,
            UploadId=up,
            MultipartUpload={"Parts": [{"ETag": part["ETag"], "PartNumber": 1}]},
        )
        return True

    def put_many(self, bucket, objects):
        """Uploads [key, path] pairs in one call (fast set-up of many small objects)."""
        for key, path in objects:
            self.put(bucket, key, path)
        return len(objects)

    def delete_object(self, bucket, key):
        self.s3.delete_object(Bucket=bucket, Key=key)
        return True

    def keys(self, bucket):
        out = []
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            out.extend(o["Key"] for o in page.get("Contents", []))
        return out

    def send(self, url, body):
        return self.sqs.send_message(QueueUrl=url, MessageBody=body)["MessageId"]

    def counts(self, url):
        """Messages visible and in flight (received, not deleted, not yet visible again)."""
        a = self.sqs.get_queue_attributes(
            QueueUrl=url,
            AttributeNames=[
                "ApproximateNumberOfMessages",
                "ApproximateNumberOfMessagesNotVisible",
            ],
        )["Attributes"]
        return {
            "visible": int(a["ApproximateNumberOfMessages"]),
            "in_flight": int(a["ApproximateNumberOfMessagesNotVisible"]),
        }

    def receive(self, url, wait=0, visibility=None):
        """Receives (and leaves) up to 10 messages; returns their bodies and receive counts."""
        kw = {}
        if visibility is not None:
            kw["VisibilityTimeout"] = visibility
        r = self.sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=wait,
            MessageSystemAttributeNames=["ApproximateReceiveCount"],
            **kw,
        )
        return [
            {
                "body": m["Body"],
                "receive_count": int(m["Attributes"]["ApproximateReceiveCount"]),
            }
            for m in r.get("Messages", [])
        ]


def main():
    endpoint = serve()
    ops = Ops(endpoint)
    print(json.dumps({"endpoint": endpoint}), flush=True)
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        try:
            req = json.loads(line)
            name = req.pop("op")
            result = getattr(ops, name)(**req)
            print(json.dumps({"ok": result}), flush=True)
        except Exception as e:  # answered to the test, which fails with it
            print(json.dumps({"error": f"{type(e).__name__}: {e}"}), flush=True)
    os._exit(0)


if __name__ == "__main__":
    main()
