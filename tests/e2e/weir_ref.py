#!/usr/bin/env python3
"""Naive single-threaded reference of weir's semantics, written from
../shared/semantics.md and ../shared/wire-format.md (and the README's choices),
not from the engine.  It recomputes nothing cleverly: every window keeps its
records' aggregate state in plain Python objects.

    weir_ref.py CONFIG [--results OUT.jsonl] [--stats OUT.json]
"""
import argparse
import configparser
import json
import math
import struct
import sys

INF = float("inf")
OPS = {"==": lambda a, b: a == b, "!=": lambda a, b: a != b, "<": lambda a, b: a < b,
       "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, ">=": lambda a, b: a >= b}
LIM = 1 << 62
UNITS = {"ns": 1, "us": 1000, "ms": 10**6, "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9}


def duration(s):
    s = s.strip()
    if s == "0":
        return 0
    for u in ("ns", "us", "ms", "s", "m", "h"):
        if s.endswith(u) and s[: -len(u)].strip().isdigit():
            return int(s[: -len(u)]) * UNITS[u]
    raise ValueError("bad duration " + s)


def read_pcap(path):
    with open(path, "rb") as f:
        data = f.read()
    magic = struct.unpack_from("<I", data, 0)[0]
    endian = "<" if magic in (0xA1B2C3D4, 0xA1B23C4D) else ">"
    off = 24
    while off + 16 <= len(data):
        incl = struct.unpack_from(endian + "I", data, off + 8)[0]
        yield data[off + 16: off + 16 + incl]
        off += 16 + incl


class Source:
    def __init__(self, name, sec):
        self.name = name
        self.port = int(sec["udp_port"])
        self.schema = int(sec.get("schema_id", "0"))
        self.fields = []
        for f in sec.get("fields", "").split(","):
            if f.strip():
                n, t = f.split(":")
                self.fields.append((n.strip(), t.strip()))
        self.rs = 16 + 8 * len(self.fields)
        self.delay = duration(sec.get("watermark_delay", "0"))
        # key_map: the join table (inner join: an unmapped key drops the record)
        self.key_map = None
        if sec.get("key_map"):
            self.key_map = {}
            with open(sec["key_map"].strip()) as f:
                for line in f:
                    line = line.strip()
                    if line and not line.startswith("#"):
                        a, b = line.split(",")
                        self.key_map[int(a, 0)] = int(b, 0)


class Query:
    def __init__(self, name, sec, sources):
        self.name = name
        self.src = sources[sec["from"].strip()]
        w = sec["window"].split()
        self.kind = w[0]
        self.size = duration(w[1])
        self.slide = duration(w[2]) if self.kind == "hopping" else self.size
        self.lateness = duration(sec.get("allowed_lateness", "0"))
        self.aggs = []
        for a in sec["aggregates"].split(","):
            a = a.strip()
            if a == "count":
                self.aggs.append(("count", None, None, "count"))
            else:
                fn, f = a[:-1].split("(")
                fn, f = fn.strip(), f.strip()
                idx = [n for n, _ in self.src.fields].index(f)
                self.aggs.append((fn, idx, self.src.fields[idx][1], fn + "_" + f))
        # filter: FIELD OP CONST [and ...]; every comparison must hold
        self.filter = []
        words = sec.get("filter", "").split()
        for i in range(0, len(words), 4):
            name, op, const = words[i], words[i + 1], words[i + 2]
            idx = [n for n, _ in self.src.fields].index(name)
            typ = self.src.fields[idx][1]
            self.filter.append((idx, op, float(const) if typ == "f64" else int(const, 0)))
        self.filtered = 0
        self.wm = -INF
        self.windows = {}      # (key, start) -> Win ; sessions: key -> [Win]
        self.late = 0
        self.results = 0
        self.out = []


class Win:
    __slots__ = ("start", "end", "recs", "fired", "dirty", "rev")

    def __init__(self, start, end):
        self.start, self.end, self.recs = start, end, []
        self.fired, self.dirty, self.rev = False, True, 0


def to_typed(raw, t):
    if t == "i64":
        return struct.unpack("<q", raw)[0]
    if t == "u64":
        return struct.unpack("<Q", raw)[0]
    return struct.unpack("<d", raw)[0]


def result(q, key, w):
    r = {"query": q.name, "key": key, "window_start": w.start, "window_end": w.end, "revision": w.rev}
    recs = w.recs            # (t, arrival, values)
    for fn, idx, typ, name in q.aggs:
        if fn == "count":
            r[name] = len(recs)
            continue
        vals = [v[idx] for _, _, v in recs]
        if fn in ("sum", "avg"):
            if typ == "f64":
                s = 0.0
                for x in vals:
                    s += x
            else:
                s = sum(vals)
                lo, hi = (-(1 << 63), (1 << 63) - 1) if typ == "i64" else (0, (1 << 64) - 1)
                # the engine detects overflow of the running sum at any step
                acc, over = 0, False
                for x in vals:
                    acc += x
                    over |= not (lo <= acc <= hi)
                if over:
                    r[name] = None
                    continue
            r[name] = s if fn == "sum" else (float(s) / len(vals) if typ != "f64" else s / len(vals))
        elif fn == "min":
            r[name] = min(vals)
        elif fn == "max":
            r[name] = max(vals)
        elif fn == "first":
            r[name] = min(recs, key=lambda x: (x[0], x[1]))[2][idx]
        elif fn == "last":
            r[name] = max(recs, key=lambda x: (x[0], x[1]))[2][idx]
    return r


def fire(q, key, w):
    q.out.append(result(q, key, w))
    q.results += 1
    w.rev += 1
    w.fired, w.dirty = True, False


class Ref:
    def __init__(self, cfgpath):
        cp = configparser.ConfigParser(inline_comment_prefixes=(";",), interpolation=None)
        cp.read(cfgpath)
        self.sources = {}
        self.queries = []
        for s in cp.sections():
            if s.startswith("source "):
                self.sources[s[7:].strip()] = Source(s[7:].strip(), cp[s])
        for s in cp.sections():
            if s.startswith("query "):
                self.queries.append(Query(s[6:].strip(), cp[s], self.sources))
        self.byport = {s.port: s for s in self.sources.values()}
        self.devices = [d.strip() for d in cp["dataplane"]["devices"].split(";") if d.strip()]
        self.c = {"rx_packets": 0, "rx_events": 0, "seq_duplicates": 0, "seq_gaps": 0, "key_map_missed": 0}
        self.bad = {}
        self.inst = {}        # (port, source_id) -> dict
        self.arrival = 0

    def drop(self, reason):
        self.bad[reason] = self.bad.get(reason, 0) + 1

    def frame(self, f):
        self.c["rx_packets"] += 1
        if len(f) < 14:
            return self.drop("frame_truncated")
        et = struct.unpack_from(">H", f, 12)[0]
        off, tags = 14, 0
        while et in (0x8100, 0x88A8):
            if tags == 2:
                return self.drop("too_many_vlans")
            if len(f) < off + 4:
                return self.drop("frame_truncated")
            et = struct.unpack_from(">H", f, off + 2)[0]
            off += 4
            tags += 1
        if et == 0x0800:
            if len(f) < off + 20:
                return self.drop("frame_truncated")
            ver, ihl = f[off] >> 4, (f[off] & 15) * 4
            tot = struct.unpack_from(">H", f, off + 2)[0]
            if ver != 4 or ihl < 20 or tot < ihl or tot > len(f) - off:
                return self.drop("bad_ip_header")
            if struct.unpack_from(">H", f, off + 6)[0] & 0x3FFF:
                return self.drop("ip_fragment")
            if f[off + 9] != 17:
                return self.drop("not_udp")
            udp, l4 = off + ihl, tot - ihl
        elif et == 0x86DD:
            if len(f) < off + 40:
                return self.drop("frame_truncated")
            plen = struct.unpack_from(">H", f, off + 4)[0]
            if f[off] >> 4 != 6 or plen > len(f) - off - 40:
                return self.drop("bad_ip_header")
            if f[off + 6] != 17:
                return self.drop("not_udp")
            udp, l4 = off + 40, plen
        else:
            return self.drop("not_ip")
        if l4 < 8:
            return self.drop("bad_udp_length")
        ulen = struct.unpack_from(">H", f, udp + 4)[0]
        if ulen < 8 or ulen > l4:
            return self.drop("bad_udp_length")
        port = struct.unpack_from(">H", f, udp + 2)[0]
        src = self.byport.get(port)
        if src is None:
            return self.drop("no_source")
        self.wev(src, f[udp + 8: udp + ulen])

    def wev(self, src, p):
        if len(p) < 24:
            return self.drop("wev_truncated")
        magic, ver, flags, count, rs, schema, sid, seq = struct.unpack_from("<IBBHHHIQ", p, 0)
        if magic != 0x31564557:
            return self.drop("bad_magic")
        if ver != 1:
            return self.drop("bad_version")
        if flags & ~1:
            return self.drop("bad_flags")
        if schema != src.schema:
            return self.drop("bad_schema")
        if rs != src.rs:
            return self.drop("bad_record_size")
        if len(p) != 24 + count * rs:
            return self.drop("bad_length")
        if count == 0 and not flags & 1:
            return self.drop("empty_batch")
        recs = []
        for i in range(count):
            o = 24 + i * rs
            t, key = struct.unpack_from("<qQ", p, o)
            if t < -LIM or t > LIM:
                return self.drop("bad_time")
            vals = tuple(to_typed(p[o + 16 + 8 * k: o + 24 + 8 * k], typ) for k, (_, typ) in enumerate(src.fields))
            recs.append((t, key, vals))
        ik = (src.port, sid)
        inst = self.inst.get(ik)
        if inst is not None and inst["ended"]:
            return self.drop("after_eos")
        if inst is None:
            inst = self.inst[ik] = {"exp": seq, "maxt": None, "ended": False, "src": src}
        first = 0
        if seq < inst["exp"]:
            first = min(count, inst["exp"] - seq)
            self.c["seq_duplicates"] += first
        elif seq > inst["exp"]:
            self.c["seq_gaps"] += seq - inst["exp"]
        inst["exp"] = max(inst["exp"], seq + count)
        applied = recs[first:]
        self.c["rx_events"] += len(applied)
        qs = [q for q in self.queries if q.src is src]
        for t, key, vals in applied:
            self.arrival += 1
            if inst["maxt"] is None or t > inst["maxt"]:
                inst["maxt"] = t
            if src.key_map is not None:
                if key not in src.key_map:
                    self.c["key_map_missed"] += 1
                    continue
                key = src.key_map[key]
            for q in qs:
                if all(OPS[op](vals[i], c) for i, op, c in q.filter):
                    self.apply(q, t, key, vals)
                else:
                    q.filtered += 1
        if flags & 1:
            inst["ended"] = True
        # watermark of the source after the batch, then fire
        insts = [i for i in self.inst.values() if i["src"] is src]
        live = [i for i in insts if not i["ended"]]
        if not live:
            wm = INF
        else:
            wm = min((i["maxt"] - src.delay) if i["maxt"] is not None else -INF for i in live)
        for q in qs:
            q.wm = max(q.wm, wm)
            self.fire_complete(q)

    def apply(self, q, t, key, vals):
        rec = (t, self.arrival, vals)
        if q.kind == "session":
            if q.wm >= t + q.size:
                q.late += 1
                return
            ss = q.windows.setdefault(key, [])
            over = [w for w in ss if t < w.end and w.start < t + q.size]
            if not over:
                w = Win(t, t + q.size)
                w.recs.append(rec)
                ss.append(w)
                return
            fired = [w for w in over if w.fired]
            assert len(fired) <= 1
            tgt = fired[0] if fired else min(over, key=lambda w: w.start)
            for w in over:
                if w is not tgt:
                    tgt.recs.extend(w.recs)
                    tgt.start = min(tgt.start, w.start)
                    tgt.end = max(tgt.end, w.end)
                    ss.remove(w)
            tgt.recs.append(rec)
            tgt.start = min(tgt.start, t)
            tgt.end = max(tgt.end, t + q.size)
            tgt.dirty = True
            return
        late = False
        last = t - (t % q.slide)
        s = last - q.size + q.slide
        while s <= last:
            end = s + q.size
            if q.wm >= end + q.lateness:
                late = True
            else:
                w = q.windows.get((key, s))
                if w is None:
                    w = q.windows[(key, s)] = Win(s, end)
                w.recs.append(rec)
                w.dirty = True
            s += q.slide
        if late:
            q.late += 1

    def fire_complete(self, q):
        if q.kind == "session":
            for key, ss in q.windows.items():
                for w in ss:
                    if w.dirty and q.wm >= w.end:
                        fire(q, key, w)
            return
        gone = []
        for (key, s), w in q.windows.items():
            if w.dirty and q.wm >= w.end:
                fire(q, key, w)
            if q.wm >= w.end + q.lateness:
                gone.append((key, s))
        for k in gone:
            del q.windows[k]

    def run(self):
        for dev in self.devices:
            for part in dev.split(",")[1:]:
                if part.startswith("rx_pcap="):
                    for f in read_pcap(part[8:]):
                        self.frame(f)
        return self

    def stats(self):
        tot = dict(self.c)
        tot["bad_packets"] = dict(self.bad)
        tot["late_dropped"] = sum(q.late for q in self.queries)
        tot["results_emitted"] = sum(q.results for q in self.queries)
        return {"total": tot,
                "queries": {q.name: {"late_dropped": q.late, "results_emitted": q.results, "filtered": q.filtered}
                            for q in self.queries}}

    def results(self):
        return [r for q in self.queries for r in q.out]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("config")
    ap.add_argument("--results")
    ap.add_argument("--stats")
    a = ap.parse_args()
    ref = Ref(a.config).run()
    out = open(a.results, "w") if a.results else sys.stdout
    for r in ref.results():
        out.write(json.dumps(r) + "\n")
    if a.stats:
        with open(a.stats, "w") as f:
            json.dump(ref.stats(), f, indent=1)


if __name__ == "__main__":
    main()
