"""What the SQS/S3 path costs next to the dir source, against moto on this machine.

    cargo build --release
    target/moto-venv/bin/python benches/aws_source.py [--records 100000] [--rss-objects 1000]

(`cargo test` creates target/moto-venv; or `python3 -m venv target/moto-venv &&
target/moto-venv/bin/pip install 'moto[server]==5.2.5'`.)

1. Writes a generated corpus (`logferry bench --write-corpus`) of all three types.
2. Runs the release binary on it as `dir:`, then as `s3:` (backfill: S3 GETs, no SQS), each
   three times (the median is reported), then as `sqs:` (every object announced by S3 on a
   queue, once with a backlog and once fed as fast as moto takes it), each to a dir sink, and
   reports logferry's own CPU time (user + system, from wait4) per million records: moto's
   time is its own process's and is reported apart. moto answers HTTP/1.1 with persistent
   connections, as AWS does (werkzeug's default, a connection per request, cost 5% more CPU). The queue is fed in waves that keep it under 50 messages,
   because moto's receive cost grows with queue depth (measured in README.md, "Messages/s against moto").
3. Holds `--rss-objects` messages in flight at once (batches linger, so none completes) and
   reads logferry's peak RSS (VmHWM) when they are all held.
"""

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "support"))

import moto_fixture  # noqa: E402

BIN = os.path.join(ROOT, "target", "release", "logferry")


def cpu_of(pid):
    """User + system seconds of a live process (for moto, which runs for the whole script)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / tick


def run(args, env, wait_for=None):
    """Runs logferry to its end; returns (wall s, cpu s, summary dict, peak RSS KiB)."""
    with tempfile.TemporaryDirectory() as out:
        summary = os.path.join(out, "summary.json")
        cmd = [BIN, "run", "--quiet", "--sink", f"dir:{out}/sink", "--summary-json", summary] + args
        started = time.time()
        p = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        if wait_for:
            wait_for(p)
        _, status, usage = os.wait4(p.pid, 0)
        wall = time.time() - started
        err = p.stderr.read().decode(errors="replace")
        if os.waitstatus_to_exitcode(status) != 0:
            sys.exit(f"logferry {' '.join(args)} failed:\n{err[-3000:]}")
        with open(summary) as f:
            s = json.load(f)
        return wall, usage.ru_utime + usage.ru_stime, s, usage.ru_maxrss


def files(root):
    out = []
    for d, _, names in os.walk(root):
        for n in names:
            path = os.path.join(d, n)
            out.append((os.path.relpath(path, root).replace(os.sep, "/"), path))
    return sorted(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=100_000, help="records per type")
    ap.add_argument("--rss-objects", type=int, default=1000)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    a = ap.parse_args()

    server = subprocess.Popen(
        [sys.executable, os.path.join(ROOT, "tests", "support", "moto_fixture.py")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    endpoint = json.loads(server.stdout.readline())["endpoint"]
    ops = moto_fixture.Ops(endpoint)
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "LOGFERRY_"))
    }
    env.update(
        AWS_ACCESS_KEY_ID="test",
        AWS_SECRET_ACCESS_KEY="test",
        AWS_REGION="us-east-1",
        AWS_EC2_METADATA_DISABLED="true",
        RUST_LOG="warn",
    )
    common = ["--threads", str(a.threads), "--aws-endpoint", endpoint]

    corpus = tempfile.mkdtemp(prefix="logferry-corpus-")
    subprocess.run(
        [BIN, "bench", "--records", str(a.records), "--write-corpus", corpus, "--repeat", "1"],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    objects = files(corpus)
    size = sum(os.path.getsize(p) for _, p in objects)
    print(flush=True)
    print(f"corpus: {len(objects)} objects, {size / 1e6:.1f} MB gzip, {3 * a.records} records")

    def report(name, wall, cpu, s, moto_cpu=None):
        rec = s["records"]
        line = (
            f"{name:13} {rec:>9} records  wall {wall:6.2f} s  logferry cpu {cpu:6.2f} s"
            f" = {cpu / rec * 1e6:6.2f} cpu-s per million records"
        )
        line += f"  {sum(t['requests'] for t in s['tables'])} requests"
        if moto_cpu is not None:
            line += f"  (moto cpu {moto_cpu:.2f} s)"
        print(line, flush=True)
        return cpu / rec * 1e6

    def median_run(args):
        """The run with the median CPU time of three (the runs vary by a few percent)."""
        runs = sorted((run(args, env) for _ in range(3)), key=lambda r: r[1])
        return runs[1]

    wall, cpu, s, _ = median_run(["--source", f"dir:{corpus}"])
    dir_cost = report("dir", wall, cpu, s)

    ops.create_bucket("bench-backfill")
    for key, path in objects:
        ops.put("bench-backfill", key, path)
    m0 = cpu_of(server.pid)
    wall, cpu, s, _ = median_run(["--source", "s3:bench-backfill"] + common)
    s3_cost = report("s3", wall, cpu, s, (cpu_of(server.pid) - m0) / 3)

    # A busy queue: every object announced before logferry starts, so receives return 10
    # messages each, as they do on a production queue with a backlog (moto is slow at this
    # depth, which costs wall time, not logferry CPU).
    q = ops.create_queue("bench-backlog", visibility=300)
    ops.create_bucket("bench-backlog")
    ops.notify("bench-backlog", q["arn"], "direct")
    ops.sqs.purge_queue(QueueUrl=q["url"])  # the configuration's test event
    for key, path in objects:
        ops.put("bench-backlog", key, path)
    m0 = cpu_of(server.pid)
    wall, cpu, s, _ = run(
        ["--source", f"sqs:{q['url']}", "--stop-when-idle", "2", "--wait-seconds", "1"] + common,
        env,
    )
    backlog_cost = report("sqs (backlog)", wall, cpu, s, cpu_of(server.pid) - m0)

    # A queue fed as fast as moto takes it, kept under 40 messages: throughput, and the cost
    # of a shallow queue (receives return few messages each).
    q = ops.create_queue("bench-queue", visibility=120)
    ops.create_bucket("bench-sqs")
    ops.notify("bench-sqs", q["arn"], "direct")
    ops.sqs.purge_queue(QueueUrl=q["url"])

    def feeder():
        for key, path in objects:
            while ops.counts(q["url"])["visible"] >= 40:
                time.sleep(0.02)
            ops.put("bench-sqs", key, path)

    m0 = cpu_of(server.pid)
    feed = threading.Thread(target=feeder)
    feed.start()
    wall, cpu, s, _ = run(
        ["--source", f"sqs:{q['url']}", "--stop-when-idle", "2", "--wait-seconds", "1"] + common,
        env,
    )
    feed.join()
    moto_cpu = cpu_of(server.pid) - m0
    fed_cost = report("sqs (fed)", wall, cpu, s, moto_cpu)
    src = s["source"]
    msgs = src.get("messages_deleted", 0)
    # The run ends 2 s after the queue went idle: leave that out of the rate.
    busy = max(wall - 2.0, 1e-9)
    print(
        f"sqs (fed): {msgs} messages deleted, {src.get('objects_fetched', 0)} objects fetched: "
        f"{msgs / busy:.0f} messages/s, {src.get('objects_fetched', 0) / busy:.0f} objects/s; "
        f"logferry busy {cpu / busy * 100:.0f}% of a core, moto {moto_cpu / busy * 100:.0f}%",
        flush=True,
    )
    print(
        f"extra CPU over dir: s3 {100 * (s3_cost / dir_cost - 1):+.1f}%, "
        f"sqs backlog {100 * (backlog_cost / dir_cost - 1):+.1f}%, "
        f"sqs fed {100 * (fed_cost / dir_cost - 1):+.1f}%",
        flush=True,
    )

    rss(a, ops, env, common)
    server.stdin.close()
    server.wait()


def rss(a, ops, env, common):
    """Peak RSS with many objects in flight: one-record objects (all of them fit in the open
    batches) and batches that linger 10 minutes, so none completes until shutdown."""
    n = a.rss_objects
    sample = os.path.join(tempfile.mkdtemp(), "one.json")
    with open(sample, "w") as f:
        json.dump(
            {
                "Records": [
                    {
                        "eventVersion": "1.08",
                        "eventTime": "2026-11-24T12:00:00Z",
                        "eventSource": "s3.amazonaws.com",
                        "eventName": "GetObject",
                        "awsRegion": "eu-west-1",
                        "eventID": "00000000-0000-4000-8000-000000000001",
                    }
                ]
            },
            f,
        )
    q2 = ops.create_queue("rss-queue", visibility=600)
    ops.create_bucket("rss-bucket")
    for i in range(n):
        ops.put(
            "rss-bucket",
            f"p{i}/AWSLogs/123456789012/CloudTrail/eu-west-1/2026/11/24/x_{i}.json.gz",
            sample,
        )
    for i in range(0, n, 10):
        entries = [
            {
                "Id": str(j),
                "MessageBody": json.dumps(
                    {
                        "Records": [
                            {
                                "eventVersion": "2.1",
                                "eventName": "ObjectCreated:Put",
                                "awsRegion": "us-east-1",
                                "s3": {
                                    "bucket": {"name": "rss-bucket"},
                                    "object": {
                                        "key": f"p{j}/AWSLogs/123456789012/CloudTrail/eu-west-1/2026/11/24/x_{j}.json.gz",
                                        "size": os.path.getsize(sample),
                                    },
                                },
                            }
                        ]
                    }
                ),
            }
            for j in range(i, min(i + 10, n))
        ]
        ops.sqs.send_message_batch(QueueUrl=q2["url"], Entries=entries)
    port = 19000 + os.getpid() % 1000
    peak = {}

    def watch(p):
        deadline = time.time() + 600
        while time.time() < deadline:
            try:
                text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2).read().decode()
                held = re.search(r"^logferry_messages_in_flight (\d+)", text, re.M)
                if p.poll() is not None:
                    break
                if held and int(held.group(1)) >= n:
                    with open(f"/proc/{p.pid}/status") as f:
                        peak["hwm"] = re.search(r"VmHWM:\s+(\d+)", f.read()).group(1)
                    break
            except Exception:
                pass
            time.sleep(0.2)
        p.send_signal(15)

    wall, cpu, s, maxrss = run(
        [
            "--source", f"sqs:{q2['url']}", "--linger-ms", "600000",
            "--max-messages-in-flight", str(n), "--metrics", f"127.0.0.1:{port}",
            "--wait-seconds", "1",
        ] + common,
        env,
        wait_for=watch,
    )
    print(
        f"peak RSS with {n} objects in flight: {int(peak.get('hwm', 0)) / 1024:.0f} MiB "
        f"(whole run {maxrss / 1024:.0f} MiB)"
    )


if __name__ == "__main__":
    main()
