"""What the Azure sink costs next to the dir sink, per record and per core.

    cargo build --release
    python3 benches/azure_sink.py [--records 100000] [--runs 3] [--threads 2]

1. Writes a generated corpus (`logferry bench --write-corpus`) of all three types.
2. Starts `logferry emulator` on loopback (no --store: it validates every row and counts it,
   and its CPU is its own process's, reported apart).
3. Runs the release binary on the corpus `--runs` times into `--sink dir:` and into
   `--sink azure` (client-secret token from the emulator, one DCR for the three tables),
   alternating, and reports logferry's own CPU (user + system, from wait4) per record:
   records/s per core = records / CPU seconds. The median run of each is reported, with the
   Azure sink's rows/s, requests/s and bytes per request per table.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
BIN = os.path.join(ROOT, "target", "release", "logferry")
SECRET = "emulator-secret"


def cpu_of(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / tick


def run(args, env):
    """Runs logferry to its end; returns (wall s, cpu s, summary)."""
    with tempfile.TemporaryDirectory() as tmp:
        summary = os.path.join(tmp, "summary.json")
        cmd = [BIN, "run", "--quiet", "--summary-json", summary,
               "--dead-letters", os.path.join(tmp, "dead")] + args
        started = time.time()
        p = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        _, status, usage = os.wait4(p.pid, 0)
        wall = time.time() - started
        err = p.stderr.read().decode(errors="replace")
        if os.waitstatus_to_exitcode(status) != 0:
            sys.exit(f"logferry {' '.join(args)} failed:\n{err[-3000:]}")
        with open(summary) as f:
            return wall, usage.ru_utime + usage.ru_stime, json.load(f)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=100_000, help="records per type")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("LOGFERRY_", "AZURE_", "AWS_"))}
    env["RUST_LOG"] = "warn"
    with tempfile.TemporaryDirectory() as work:
        corpus = os.path.join(work, "corpus")
        subprocess.run([BIN, "bench", "--records", str(a.records), "--write-corpus", corpus],
                       check=True, stdout=subprocess.DEVNULL, env=env)
        emu = subprocess.Popen([BIN, "emulator", "--listen", "127.0.0.1:0"],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
        try:
            url = emu.stdout.readline().decode().strip().rsplit(" ", 1)[-1]
            common = ["--source", f"dir:{corpus}", "--threads", str(a.threads)]
            azure = common + ["--sink", "azure", "--azure-endpoint", url, "--azure-authority", url,
                              "--azure-tenant-id", "t", "--azure-client-id", "logferry-emulator",
                              "--azure-dcr", "dcr-logferry-emulator"]
            az_env = dict(env, LOGFERRY_AZURE_CLIENT_SECRET=SECRET)
            results = {"dir": [], "azure": []}
            for i in range(a.runs):
                with tempfile.TemporaryDirectory() as out:
                    results["dir"].append(run(common + ["--sink", f"dir:{out}"], env))
                emu_before = cpu_of(emu.pid)
                r = run(azure, az_env)
                results["azure"].append(r + (cpu_of(emu.pid) - emu_before,))
        finally:
            emu.terminate()
            emu.wait()
    print(f"corpus: {a.records} records per type, --threads {a.threads}, {a.runs} runs each (median)")
    med = {}
    for name, rs in results.items():
        rs = sorted(rs, key=lambda r: r[1])
        m = rs[len(rs) // 2]
        med[name] = m
        wall, cpu, s = m[0], m[1], m[2]
        records = s["records"]
        line = (f"{name:<6} {records} records  wall {wall:6.2f} s  cpu {cpu:6.2f} s  "
                f"{records / cpu:>9,.0f} records/s per core  {records / wall:>9,.0f} records/s")
        if name == "azure":
            line += f"  (emulator cpu {m[3]:.2f} s)"
        print(line)
    ratio = (med["azure"][2]["records"] / med["azure"][1]) / (med["dir"][2]["records"] / med["dir"][1])
    print(f"azure / dir records/s per core: {ratio * 100:.1f}%")
    wall = med["azure"][0]
    s = med["azure"][2]
    print("azure sink per table (median run):")
    for t in s["tables"]:
        if t["requests"]:
            print(f"  {t['table']:<14} {t['rows'] / wall:>9,.0f} rows/s  {t['requests'] / wall:>7,.1f} requests/s  "
                  f"{t['raw_bytes_out'] / t['requests'] / 1024:>6,.0f} KiB JSON / {t['bytes_out'] / t['requests'] / 1024:>5,.0f} KiB gzip per request")
    print("calls:", ", ".join(f"{k}={v}" for k, v in s.get("sink", {}).items()))


if __name__ == "__main__":
    main()
