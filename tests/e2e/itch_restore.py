#!/usr/bin/env python3
"""itch50 across kill -9 and restore: the order book and the stock directory are not in a
snapshot; a restored run rebuilds them from the replayed feed (messages below the restored
position go through the book again, without becoming events again).  Nasdaq's sample is
repeated into a longer trading day (each copy later in time, its order references moved
past the previous copy's), replayed as MoldUDP64 with an A/B pair and lost packets; runs
are killed at random moments and restarted from the newest snapshot.  The union of every
run's output, as an upsert view, must equal an uninterrupted run's -- queries over the
book's fields (price of executions, top of book) included."""
import os
import random
import struct
import subprocess
import sys
import tempfile
import argparse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e import fail, kill_runs, run_weir, same_view, uninterrupted, upsert_view  # noqa: E402

CFG = """[dataplane]
devices = net_pcap0,rx_pcap={pcap}
workers = {workers}
exit_on_eos = true
idle_sleep = 10us
eal_args = --log-level=*:error

[source trades]
format = itch50
udp_port = 26477, 26478
session_date = 2019-12-30
fields = shares, price, notional, side, bid, ask, spread
gap_timeout = 20ms

[query exec]
from = trades
window = tumbling 100ms
filter = side != 0
aggregates = count, sum(shares), sum(notional), max(price)
sink = file:{out}/exec.jsonl

[query top]
from = trades
window = tumbling 100ms
aggregates = count, min(bid), max(ask), max(spread)
sink = file:{out}/top.jsonl
"""
STATE = """
[state]
dir = {state}
checkpoint_interval = 10ms
retain = 3
nice = 0
"""
TYPES_WITH_REF = {"A": 11, "F": 11, "E": 11, "C": 11, "X": 11, "D": 11, "U": 11}


def day(sample, copies):
    """The sample repeated: copy k's timestamps + k * (span + 1 ms), its order references
    (and U's new ones) + k * 10^7 -- every copy the same book activity, later."""
    msgs, off = [], 0
    while off + 2 <= len(sample):
        n = struct.unpack_from(">H", sample, off)[0]
        msgs.append(sample[off + 2: off + 2 + n])
        off += 2 + n
    ts = [int.from_bytes(m[5:11], "big") for m in msgs]
    span = max(ts) - min(ts) + 1000000
    out = bytearray()
    for k in range(copies):
        for m, t in zip(msgs, ts):
            b = bytearray(m)
            b[5:11] = (t + k * span).to_bytes(6, "big")
            c = chr(b[0])
            if c in TYPES_WITH_REF:
                ref = int.from_bytes(b[11:19], "big") + k * 10 ** 7
                b[11:19] = ref.to_bytes(8, "big")
            if c == "U":
                new = int.from_bytes(b[19:27], "big") + k * 10 ** 7
                b[19:27] = new.to_bytes(8, "big")
            out += struct.pack(">H", len(b)) + b
    return bytes(out), len(msgs) * copies


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--weir", required=True)
    ap.add_argument("--gen", required=True)
    ap.add_argument("--itch", required=True)
    a = ap.parse_args()
    if not os.path.exists(a.itch):
        print("SKIP: %s is missing (the sample lives beside the project, in ../shared/data)" % a.itch)
        return 77
    seed = int(os.environ.get("WEIR_KILL_SEED", "0")) or random.randrange(1, 1 << 30)
    rnd = random.Random(seed)
    print("itch-restore: seed %d (WEIR_KILL_SEED to repeat)" % seed)
    with open(a.itch, "rb") as f:
        sample = f.read()
    with tempfile.TemporaryDirectory(prefix="weir-itch-restore-") as d:
        binfile, n = day(sample, 600)
        with open(os.path.join(d, "day.itch"), "wb") as f:
            f.write(binfile)
        pcap = os.path.join(d, "day.pcap")
        subprocess.run([a.gen, "--itch", os.path.join(d, "day.itch"), "--out", pcap, "--batch", "20",
                        "--udp-port", "26477", "--ab-port", "26478", "--gap-fraction", "0.001",
                        "--dup-fraction", "0.01", "--seed", str(seed % 1000 + 1)], check=True, capture_output=True)

        def cfg(name, workers, state):
            out = os.path.join(d, "out-" + name)
            os.makedirs(out, exist_ok=True)
            path = os.path.join(d, name + ".ini")
            with open(path, "w") as f:
                f.write(CFG.format(pcap=pcap, workers=workers, out=out) + (STATE.format(state=state) if state else ""))
            return path, [os.path.join(out, q + ".jsonl") for q in ("exec", "top")]

        ref, dur = uninterrupted(a.weir, cfg, d)
        state = os.path.join(d, "state")
        outs, restores, killed = kill_runs(a.weir, cfg, state, dur, rnd, 6, frac=(0.05, 0.6),
                                           after_snapshot=(0.0, 0.15))
        restores = len(restores)
        c, out = cfg("final", 3, state)
        p, _ = run_weir(a.weir, c, d)
        restores += "restored snapshot epoch" in p.stderr
        outs += out
        same_view(upsert_view(outs), ref, "itch-restore (seed %d)" % seed)
        if killed < 2 or restores < 2:
            fail("itch-restore: only %d runs killed and %d restores (the test did not test much)" %
                 (killed, restores))
        print("e2e itch-restore: %d messages, %d results equal after %d kills and %d restores: 1 passed, 0 failed" %
              (n, len(ref), killed, restores))
    return 0


if __name__ == "__main__":
    sys.exit(main())
