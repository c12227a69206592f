#!/usr/bin/env python3
"""tools/bench-report --from-json over the fixtures next to this file (e2e.json,
latency.json, micro.json): the table has their rows and values, report.json has
everything, report.png is a PNG.  Exit 77 when no python3 here has matplotlib.

    smoke.py --report tools/bench-report
"""
import argparse
import json
import os
import struct
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))

# (row start, values that must be on that line of the table)
EXPECT = [
    ("tumbling", ["10 M", "8.12 M", "21.23 M", "12.18 M", "0.67", "1 M", ">= 20 M ev/s per worker core", "met"]),
    ("hopping", ["2.35 M", "3.46 M", "13.48 M", "0.17", "1.09 M"]),
    ("sessions", ["4.57 M", "5.68 M", "13.70 M", "0.33", "1.35 M"]),
    ("fraud", ["1.23 M", "1.30 M", "11.01 M", "0.11", "7.35 M"]),
    ("ysb", ["9.88 M", "45.68 M", "12.75 M", "0.77", "500", "> 6 M ev/s", "met"]),
    ("1.00 M", ["998.0 k", "4.99 M", "arrival->sink", "8.5", "42.0", "61.0", "250.0"]),
    ("5.00 M", ["4.97 M", "24.80 M", "arrival->sink", "12.3", "77.7", "123.4", "987.6"]),
    ("decode/batch:32", ["16.00", "62.50 M", "512"]),
    ("window_update/keys:100000/zipf:0", ["23.46", "42.63 M"]),
    ("window_fire/windows:100000/canonical:0", ["45.68", "21.89 M"]),
]
LINES = ["machine: Fixture CPU 9000 @ 3.0GHz, 2 CPUs, 23.5 GiB memory, kernel 6.1.0-fixture-amd64, DPDK 22.11.4",
         "commit:  abc1234-dirty", "date:    2026-01-02T03:04:05+0000", "max sustainable: 7.50 M events/s",
         "target p99 < 50 us at 1 M ev/s: met (p99 42.0 us)"]


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def matplotlib_python():
    for py in (sys.executable, "/usr/bin/python3"):
        if os.path.exists(py) and subprocess.run([py, "-c", "import matplotlib"], capture_output=True).returncode == 0:
            return py
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--report", required=True, help="tools/bench-report")
    a = ap.parse_args()
    if not matplotlib_python():
        print("SKIP: matplotlib is missing (apt-get install python3-matplotlib): bench-report cannot plot")
        return 77
    with tempfile.TemporaryDirectory(prefix="weir-bench-report-") as out:
        p = subprocess.run([sys.executable, a.report, "--from-json", HERE, "--out", out], capture_output=True,
                           text=True, timeout=300)
        print(p.stdout)
        if p.returncode:
            fail("bench-report exited %d: %s" % (p.returncode, p.stderr))
        lines = p.stdout.splitlines()
        for want in LINES:
            if want not in lines:
                fail("no line %r in the report" % want)
        for start, vals in EXPECT:
            rows = [ln for ln in lines if ln.startswith(start)]
            if not rows:
                fail("no row %s in the table" % start)
            cells = [c.strip() for c in rows[0].split("  ") if c.strip()]
            for v in vals:
                if v not in cells:
                    fail("row %s has no cell %r: %r" % (start, v, rows[0]))
        png = os.path.join(out, "report.png")
        if not os.path.exists(png):
            fail("no report.png (%s)" % p.stderr.strip())
        with open(png, "rb") as f:
            data = f.read()
        if len(data) == 0 or data[:8] != b"\x89PNG\r\n\x1a\n" or data[12:16] != b"IHDR":
            fail("report.png is not a PNG (%d bytes)" % len(data))
        w, h = struct.unpack(">II", data[16:24])
        if not (w > 0 and h > 0) or b"IEND" not in data[-12:]:
            fail("report.png: %dx%d, %s" % (w, h, "complete" if b"IEND" in data[-12:] else "truncated"))
        with open(os.path.join(out, "report.json")) as f:
            rep = json.load(f)
        if [x["name"] for x in rep["e2e"]] != ["tumbling", "hopping", "sessions", "fraud", "ysb"] or \
                len(rep["latency"]["rows"]) != 2 or len(rep["micro"]) != 6 or len(rep["targets"]) != 5 or \
                not all(t["met"] for t in rep["targets"]) or rep["commit"] != "abc1234-dirty":
            fail("report.json does not hold the fixtures: %s" % json.dumps(
                {k: rep[k] for k in ("commit", "targets")}))
        print("ok: table rows and values, report.json, report.png %dx%d (%d bytes)" % (w, h, len(data)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
