#!/usr/bin/env python3
"""End to end: the trading example (examples/trading/weir.ini: per-symbol VWAP and volume
per second, a price-jump alert by an OVER window) over Nasdaq's ITCH 5.0 sample as
MoldUDP64 packets (weir-gen --itch), against references that share no code with weir:

- vwap: weir_ref.py (the naive reference) runs the query's INI twin (sum(notional),
  sum(shares), count, max(price), min(price), the same filter); the SQL's vwap must be
  sum(notional) / sum(shares) of the twin's window, its other columns the twin's; SYMBOL()
  must be the key's 8 bytes as text.
- price_jump: weir_ref.py decodes the feed (its own ITCH decoder and order book); every
  event it applies is kept in arrival order with the watermark before its batch, and the
  OVER rule is evaluated naively: for each event, a scan of all earlier events of its
  symbol (docs/sql.md's arrival-order semantics).  Twice: with the example's 10 s range
  and with a 50 us one.

    trading_test.py --weir build/weir --gen build/tools/weir-gen --data ../shared/data

Exit 0 pass, 1 fail, 77 skip (no data, or EAL cannot get memory).
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import weir_ref  # noqa: E402

EXAMPLE = os.path.join(ROOT, "examples", "trading", "weir.ini")
SAMPLE = os.path.join("itch", "12302019_SNIPPET.NASDAQ_ITCH50")
# the example's range, and a short one: Nasdaq's sample spans about 2 ms, which the
# example's 10 s covers whole; 50 us makes ranges end inside the feed
RANGES = (("INTERVAL '10' SECOND PRECEDING", 10 * 10**9), ("INTERVAL '50' MICROSECOND PRECEDING", 50 * 10**3))


def fail(msg):
    print("FAIL trading: " + msg)
    sys.exit(1)


def symbol(key):
    return key.to_bytes(8, "big").decode("ascii", "replace").rstrip(" ")


class Recorder(weir_ref.Ref):
    """The reference, keeping every applied event: (t, key, vals, watermark before)."""

    def __init__(self, cfg):
        super().__init__(cfg)
        self.events = []
        self.wm = -weir_ref.INF

    def batch(self, src, inst, applied, eos):
        wm = self.wm
        for t, key, vals in applied:
            self.events.append((t, key, vals, wm))
        super().batch(src, inst, applied, eos)
        insts = [i for i in self.inst.values() if i["src"] is src]
        live = [i for i in insts if not i["ended"]]
        self.wm = weir_ref.INF if not live else min(
            (i["maxt"] - src.delay) if i["maxt"] is not None else -weir_ref.INF for i in live)


def check(a, sample, example, RANGE):
    with tempfile.TemporaryDirectory(prefix="weir-trading-") as d:
        pcap = os.path.join(d, "itch.pcap")
        subprocess.run([a.gen, "--itch", sample, "--out", pcap], check=True, capture_output=True)
        cfg = os.path.join(d, "weir.ini")
        text = example.replace("/tmp/weir-trading", d)
        text = text.replace("[dataplane]\n", "[dataplane]\nhugepages = off\n", 1)
        with open(cfg, "w") as f:
            f.write(text)
        p = subprocess.run([a.weir, "run", cfg, "--no-progress"], capture_output=True, text=True, timeout=120)
        if p.returncode != 0:
            if "Cannot" in p.stderr and "memory" in p.stderr:
                print("SKIP: EAL cannot get memory\n" + p.stderr)
                return 77
            fail("weir exited %d:\n%s" % (p.returncode, p.stderr))
        got = {}
        for q in ("vwap", "price_jump"):
            with open(os.path.join(d, q + ".jsonl")) as f:
                got[q] = [json.loads(line) for line in f]

        # ---- the reference: the VWAP query's INI twin, and every event ----
        src = text[text.index("[source itch]"):text.index("[query vwap]")]
        ref_cfg = os.path.join(d, "ref.ini")
        with open(ref_cfg, "w") as f:
            f.write("[dataplane]\ndevices = net_pcap0,rx_pcap=%s\n\n" % pcap + src.replace("key_name = symbol\n", "") +
                    "[query twin]\nfrom = itch\nwindow = tumbling 1s\n"
                    "aggregates = sum(notional), sum(shares), count, max(price), min(price)\n"
                    "filter = printable == 1 and price > 0\n")
        ref = Recorder(ref_cfg).run()
        twin = {(r["key"], r["window_start"]): r for r in ref.queries[0].out}

        # vwap: one line per twin window, revision 0, the same numbers
        if len(got["vwap"]) != len(twin) or not twin:
            fail("vwap: %d results, the twin %d" % (len(got["vwap"]), len(twin)))
        for r in got["vwap"]:
            t = twin.get((r["key"], r["window_start"]))
            if t is None or r["revision"] != 0 or r["window_end"] != t["window_end"]:
                fail("vwap: %s has no twin window %s" % (r, t))
            want = t["sum_notional"] / t["sum_shares"] if t["sum_shares"] else None
            if (want is None) != (r["vwap"] is None) or (want is not None and abs(r["vwap"] - want) > 1e-9 * abs(want)):
                fail("vwap: %s, want vwap %s from %s" % (r, want, t))
            for col, agg in (("volume", "sum_shares"), ("trades", "count"), ("high", "max_price"), ("low", "min_price")):
                if r[col] != t[agg]:
                    fail("vwap: %s: %s %s, the twin's %s %s" % (r, col, r[col], agg, t[agg]))
            if r["symbol"] != symbol(r["key"]):
                fail("vwap: symbol %r of key %d, want %r" % (r["symbol"], r["key"], symbol(r["key"])))

        # price_jump: the naive OVER rule over the reference's events
        names = [n for n, _ in ref.sources["itch"].fields]
        ix = {n: i for i, n in enumerate(names)}
        m = re.search(r"HAVING price >= ([0-9.]+) \* MIN\(price\) OVER w OR price <= ([0-9.]+) \* MAX", example)
        up, down = float(m.group(1)), float(m.group(2))
        want, parts = [], {}
        for t, key, vals, wm in ref.events:
            if vals[ix["type"]] not in (65, 70) or vals[ix["side"]] != 1:
                continue
            if t < wm:                          # late (allowed_lateness 0): no result, not kept
                continue
            part = parts.setdefault(key, [])
            part.append((t, vals[ix["price"]]))
            rng = [pr for (x, pr) in part if t - RANGE <= x <= t]
            price = vals[ix["price"]]
            if price >= up * min(rng) or price <= down * max(rng):
                want.append({"query": "price_jump", "key": key, "event_time": t, "symbol": symbol(key),
                             "price": price, "low10s": min(rng), "high10s": max(rng), "orders10s": len(rng)})
        if not want:
            fail("price_jump: the reference raises no alert: the test would prove nothing")
        if got["price_jump"] != want:
            for i, (g, w) in enumerate(zip(got["price_jump"], want)):
                if g != w:
                    fail("price_jump: alert %d: weir %s, reference %s" % (i, g, w))
            fail("price_jump: weir %d alerts, reference %d" % (len(got["price_jump"]), len(want)))
        print("trading (range %d ns): vwap %d windows = the INI twin (weir_ref.py); price_jump %d alerts = the "
              "naive OVER reference, in order" % (RANGE, len(twin), len(want)))
        return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--weir", required=True)
    ap.add_argument("--gen", required=True)
    ap.add_argument("--data", required=True)
    a = ap.parse_args()
    sample = os.path.join(a.data, SAMPLE)
    if not os.path.exists(sample):
        print("SKIP: %s not found" % sample)
        return 77
    with open(EXAMPLE) as f:
        example = f.read()
    spec = RANGES[0][0]
    if spec not in example:
        fail("the example has no %r" % spec)
    for text, rng in ((example, RANGES[0][1]), (example.replace(spec, RANGES[1][0]), RANGES[1][1])):
        rc = check(a, sample, text, rng)
        if rc:
            return rc
    return 0


if __name__ == "__main__":
    sys.exit(main())
