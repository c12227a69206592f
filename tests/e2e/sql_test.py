#!/usr/bin/env python3
"""End-to-end tests of weir's SQL queries (docs/sql.md, the spec) against independent
references:

    sql_test.py --weir build/weir --gen build/tools/weir-gen [--ref tests/e2e/weir_ref.py]
                [--mutate a|b|c|d|e|f] [--keep DIR]

One capture from weir-gen (value fields amount:i64, merchant:u64/9 (0..8: a re-key with few
partitions), price:f64, qty:u64/5 (0..4: a weight and a divisor that is often 0);
disorder, 1 % records late by 300 ms, 2 producers).  ONE `weir run`
(one RX core: arrival order is the capture's order, so every result is deterministic)
with many windowed queries on the one source, in four key groups (the record's key,
merchant, qty, none: the RX fan-out).  Then:

 a) SQL == INI: pairs of queries that mean the same (tumbling with lateness and a
    filter, hopping re-keyed by `key = merchant` / GROUP BY merchant, sessions by key and
    by merchant, `emit = update` / EMIT ON UPDATE tumbling re-keyed by qty and hopping):
    identical result lines apart from "query" (the SQL select columns are named as the
    INI aggregates), and the same late_dropped / results_emitted / filtered.
 a2) SESSION with EMIT ON UPDATE: the state an upsert consumer holds at the end is the
    final answer (semantics.md), i.e. the session query's with EMIT ON WATERMARK.
 b) the INI queries against weir_ref.py (which has `key = FIELD` and `emit = update`):
    identical results (integers exact, f64 within a relative 1e-9), and the per-query
    late_dropped / results_emitted / filtered counters.
 c) SQL-only features against Python's sqlite3: the capture decoded here (WEV/1) into a
    table of (arrival, batch, watermark before the batch, event_time, key, fields), the
    watermark computed here per semantics.md (min over the producers seen and not ended of
    max event_time - watermark_delay, at batch boundaries); sqlite computes each query's
    window assignment by integer arithmetic, the lateness (a record is applied to a window
    iff watermark < end + allowed_lateness), WHERE (AND/OR/NOT/IN/NOT IN/BETWEEN, NULL from
    a division by zero), NULL aggregate inputs (the record leaves the query), GROUP BY,
    computed result columns (integer division and modulo truncate, SUM(a*b)/SUM(b), a
    division by zero is null, CAST), HAVING.  Compared with weir's final state (highest
    revision per (key, window_start), retracted windows dropped), and more: the whole
    sequence of revisions of every window is rebuilt (a window fires when the watermark
    passes its end, and again at the end of every later batch that applied a record to
    it; each firing's state is the window's records of the batches up to it) with HAVING
    and the retractions it implies, so a HAVING whose truth flips between revisions
    (COUNT(*) % 2 with late updates) checks the retraction lines, their shape and
    revisions.  docs/sql.md leaves open whether a firing that HAVING leaves out takes a
    revision number: either numbering is accepted (one per query) and reported.  Plus the
    queries' filtered, late_dropped and (when weir has it) rejected counters.
 d) EMIT ON UPDATE: the same rebuilt sequence where every batch that applied a record to a
    window fires it (revisions 0..n consecutive, n = the batches that changed it), the
    last revision equal to the final answer of c).
 e) OVER and plain SELECT (separate run, same capture) against a naive Python reference
    of docs/sql.md's arrival-order semantics; run when `weir explain` accepts them and
    weir emits their results, else reported as not run (with the reference checked
    against itself).  Plain queries: one result per event that passes WHERE, late or not
    (docs/sql.md; see PLAIN_DROPS_LATE).
 f) `weir check` on configs with bad SQL: exit 2, FILE:LINE:COL: at the offending token
    on continuation lines (the position computed here from the config text written).

--mutate X changes one expected value of check X on purpose: the run must then fail.
Failures of c) to e) are collected and reported together at the end.
Exit 0 pass, 1 fail, 77 skip.  About 10-15 s on 2 CPUs.
"""
import argparse
import bisect
import importlib.util
import json
import math
import os
import sqlite3
import struct
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
MS = 10**6
US = 10**3
NEG, POS = -(1 << 63), (1 << 63) - 1          # watermark -infinity / +infinity
DELAY = 20 * MS
MERCHANTS, QTYS = 9, 5
FIELDS = [("amount", "i64"), ("merchant", "u64"), ("price", "f64"), ("qty", "u64")]
GEN_ARGS = ["--events", "30000", "--keys", "50", "--rate", "20000", "--disorder", str(30 * MS),
            "--late-fraction", "0.01", "--late-by", str(300 * MS), "--producers", "2", "--batch", "16",
            "--seed", "20241126", "--fields", "amount:i64,merchant:u64/%d,price:f64,qty:u64/%d" % (MERCHANTS, QTYS)]

HEAD = """[dataplane]
devices = net_pcap0,rx_pcap={pcap}
rx_cores = 1
workers = 2
lcores = auto
hugepages = off
backpressure = block
exit_on_eos = true
idle_sleep = 10us

[source tx]
format = wev
udp_port = 7000
schema_id = 1
fields = amount:i64, merchant:u64, price:f64, qty:u64
watermark_delay = 20ms
idle_timeout = off
"""

# ---- a) / b): INI queries and their SQL twins ------------------------------------------------
# (name, INI keys, SQL text, allowed_lateness)
PAIRS = [
    ("tum", dict(window="tumbling 100ms", aggregates="count, sum(amount), min(amount), max(amount), avg(price), "
                                                     "first(merchant), last(qty)",
                 filter="amount > 1000 and price < 500.0"),
     """SELECT key, COUNT(*) AS count, SUM(amount) AS sum_amount, MIN(amount) AS min_amount,
        MAX(amount) AS max_amount, AVG(price) AS avg_price, FIRST_VALUE(merchant) AS first_merchant,
        LAST_VALUE(qty) AS last_qty
      FROM tx WHERE amount > 1000 AND price < 500.0
      GROUP BY key, TUMBLE(event_time, INTERVAL '100' MILLISECOND)""", "50ms"),
    ("hop_m", dict(window="hopping 200ms 50ms", key="merchant", filter="qty != 0",
                   aggregates="count, sum(amount), max(price), sum(price), first(price)"),
     """SELECT COUNT(*) AS count, SUM(amount) AS sum_amount, MAX(price) AS max_price,
        SUM(price) AS sum_price, FIRST_VALUE(price) AS first_price
      FROM tx WHERE qty <> 0
      GROUP BY merchant, HOP(event_time, INTERVAL '50' MILLISECOND, INTERVAL '200' MILLISECOND)""", "0"),
    ("ses", dict(window="session 3ms", aggregates="count, sum(qty), min(price), last(price), first(amount)"),
     """SELECT COUNT(*) AS count, SUM(qty) AS sum_qty, MIN(price) AS min_price,
        LAST_VALUE(price) AS last_price, FIRST_VALUE(amount) AS first_amount
      FROM tx GROUP BY key, SESSION(event_time, INTERVAL '3' MILLISECOND)""", "0"),
    ("ses_m", dict(window="session 1ms", key="merchant", aggregates="count, sum(amount), max(qty)"),
     """SELECT COUNT(*) AS count, SUM(amount) AS sum_amount, MAX(qty) AS max_qty
      FROM tx GROUP BY merchant, SESSION(event_time, INTERVAL '1' MILLISECOND)""", "0"),
    ("upd_q", dict(window="tumbling 50ms", key="qty", emit="update",
                   aggregates="count, sum(amount), avg(amount), min(price), last(merchant)"),
     """SELECT COUNT(*) AS count, SUM(amount) AS sum_amount, AVG(amount) AS avg_amount,
        MIN(price) AS min_price, LAST_VALUE(merchant) AS last_merchant
      FROM tx GROUP BY qty, TUMBLE(event_time, INTERVAL '50' MILLISECOND)
      EMIT ON UPDATE""", "20ms"),
    ("upd_hop", dict(window="hopping 100ms 50ms", emit="update", filter="price > 500.0",
                     aggregates="count, max(price), sum(qty)"),
     """SELECT key, COUNT(*) AS count, MAX(price) AS max_price, SUM(qty) AS sum_qty
      FROM tx WHERE price > 500.0
      GROUP BY key, HOP(event_time, INTERVAL '50' MILLISECOND, INTERVAL '100' MILLISECOND)
      EMIT ON UPDATE""", "10ms"),
    # i_ses's sessions with EMIT ON UPDATE: an upsert consumer must end with i_ses's final state (a2)
    ("ses_upd", dict(window="session 3ms", emit="update",
                     aggregates="count, sum(qty), min(price), last(price), first(amount)"),
     """SELECT COUNT(*) AS count, SUM(qty) AS sum_qty, MIN(price) AS min_price,
        LAST_VALUE(price) AS last_price, FIRST_VALUE(amount) AS first_amount
      FROM tx GROUP BY key, SESSION(event_time, INTERVAL '3' MILLISECOND)
      EMIT ON UPDATE""", "0"),
]

# ---- c) / d): SQL-only windowed queries and their sqlite twins --------------------------------
# size/slide/lateness in ns; part: the partition column in sqlite ("0": none); where: sqlite
# boolean; inputs: computed aggregate inputs that may be NULL (the record leaves the query);
# cols: (result name, sqlite expression over the window's records); having: sqlite boolean.
C_QUERIES = [
    dict(name="c_tum", size=100 * MS, slide=100 * MS, lateness=50 * MS, part="key", emit="watermark",
         sql="""SELECT key, COUNT(*) AS n, SUM(amount) / COUNT(*) AS idiv, SUM(amount) % 7 AS imod,
        (MIN(amount) - 500000) / 7 AS negdiv, (MIN(amount) - 500000) % 7 AS negmod,
        MAX(amount) / MIN(qty) AS maxdiv, CAST(SUM(amount) AS DOUBLE) / COUNT(*) AS favg,
        SUM(price * qty) / SUM(qty) AS wavg, window_end - window_start AS width
      FROM tx WHERE (amount > 200000 AND NOT price < -500.0) OR merchant IN (1, 3)
      GROUP BY key, TUMBLE(event_time, INTERVAL '100' MILLISECOND)
      HAVING COUNT(*) >= 2 AND SUM(amount) > 0""",
         where="(amount > 200000 AND NOT price < -500.0) OR merchant IN (1, 3)", inputs=[],
         cols=[("n", "COUNT(*)"), ("idiv", "SUM(amount) / COUNT(*)"), ("imod", "SUM(amount) % 7"),
               ("negdiv", "(MIN(amount) - 500000) / 7"), ("negmod", "(MIN(amount) - 500000) % 7"),
               ("maxdiv", "MAX(amount) / MIN(qty)"), ("favg", "CAST(SUM(amount) AS REAL) / COUNT(*)"),
               ("wavg", "SUM(price * qty) / SUM(qty)"), ("width", "100000000")],
         having="COUNT(*) >= 2 AND SUM(amount) > 0"),
    dict(name="c_all", size=100 * MS, slide=25 * MS, lateness=0, part="0", emit="watermark",
         sql="""SELECT COUNT(*) AS n, SUM(qty) AS sq, MIN(price) AS minp, MAX(amount) AS maxa,
        AVG(amount) AS avga
      FROM tx WHERE amount BETWEEN 1000 AND 600000 AND merchant NOT IN (0, 8)
        AND NOT (amount / qty > 100000)
      GROUP BY HOP(event_time, INTERVAL '25' MILLISECOND, INTERVAL '100' MILLISECOND)""",
         where="amount BETWEEN 1000 AND 600000 AND merchant NOT IN (0, 8) AND NOT (amount / qty > 100000)",
         inputs=[],
         cols=[("n", "COUNT(*)"), ("sq", "SUM(qty)"), ("minp", "MIN(price)"), ("maxa", "MAX(amount)"),
               ("avga", "AVG(amount)")], having=None),
    dict(name="c_merch", size=100 * MS, slide=100 * MS, lateness=50 * MS, part="merchant", emit="watermark",
         sql="""SELECT COUNT(*) AS n, SUM(amount / qty) AS sdiv, SUM(amount * qty) / SUM(qty) AS iwavg,
        SUM(price * qty) / SUM(qty) AS wavg, MIN(amount) AS mina
      FROM tx WHERE price > -900.0 OR amount / qty < 1000
      GROUP BY merchant, TUMBLE(event_time, INTERVAL '100' MILLISECOND)""",
         where="price > -900.0 OR amount / qty < 1000", inputs=["amount / qty"],
         cols=[("n", "COUNT(*)"), ("sdiv", "SUM(amount / qty)"), ("iwavg", "SUM(amount * qty) / SUM(qty)"),
               ("wavg", "SUM(price * qty) / SUM(qty)"), ("mina", "MIN(amount)")], having=None),
    # u64 arithmetic (two u64: u64, a constant takes the other operand's type; below 0 is an
    # overflow: NULL) and i64 overflow (NULL): in WHERE (NOT NULL does not hold, NULL OR
    # TRUE does) and as aggregate inputs (the record leaves the query)
    dict(name="c_u64", size=200 * MS, slide=200 * MS, lateness=0, part="qty", emit="watermark",
         sql="""SELECT COUNT(*) AS n, SUM(merchant - qty) AS smq, MAX(amount * 10000000000000) AS big
      FROM tx WHERE NOT (merchant - 4 > 2) OR qty = 0
      GROUP BY qty, TUMBLE(event_time, INTERVAL '200' MILLISECOND)""",
         where="NOT (CASE WHEN merchant >= 4 THEN merchant - 4 END > 2) OR qty = 0",
         inputs=["CASE WHEN merchant >= qty THEN merchant - qty END",
                 "CASE WHEN amount BETWEEN -922337 AND 922337 THEN amount * 10000000000000 END"],
         cols=[("n", "COUNT(*)"), ("smq", "SUM(merchant - qty)"), ("big", "MAX(amount * 10000000000000)")],
         having=None),
    # a HAVING whose truth flips with every late update of odd size: retractions
    dict(name="c_flip", size=100 * MS, slide=100 * MS, lateness=60 * MS, part="key", emit="watermark",
         sql="""SELECT COUNT(*) AS n, SUM(amount) AS s, MAX(price) - MIN(price) AS prange
      FROM tx
      GROUP BY key, TUMBLE(event_time, INTERVAL '100' MILLISECOND)
      HAVING COUNT(*) % 2 = 1""",
         where="1", inputs=[],
         cols=[("n", "COUNT(*)"), ("s", "SUM(amount)"), ("prange", "MAX(price) - MIN(price)")],
         having="COUNT(*) % 2 = 1"),
    # d) EMIT ON UPDATE, re-keyed by merchant
    dict(name="d_upd", size=50 * MS, slide=50 * MS, lateness=30 * MS, part="merchant", emit="update",
         sql="""SELECT COUNT(*) AS n, SUM(amount) AS s, AVG(price) AS ap, MIN(qty) AS mq
      FROM tx WHERE qty > 2
      GROUP BY merchant, TUMBLE(event_time, INTERVAL '50' MILLISECOND)
      EMIT ON UPDATE""",
         where="qty > 2", inputs=[],
         cols=[("n", "COUNT(*)"), ("s", "SUM(amount)"), ("ap", "AVG(price)"), ("mq", "MIN(qty)")], having=None),
    # d) EMIT ON UPDATE with a flipping HAVING: retractions between updates
    dict(name="d_upd_hav", size=50 * MS, slide=25 * MS, lateness=20 * MS, part="key", emit="update",
         sql="""SELECT COUNT(*) AS n, SUM(qty) AS sq
      FROM tx WHERE merchant < 3
      GROUP BY key, HOP(event_time, INTERVAL '25' MILLISECOND, INTERVAL '50' MILLISECOND)
      HAVING COUNT(*) % 3 <> 0
      EMIT ON UPDATE""",
         where="merchant < 3", inputs=[], cols=[("n", "COUNT(*)"), ("sq", "SUM(qty)")], having="COUNT(*) % 3 <> 0"),
]

# ---- e): OVER and plain queries ----------------------------------------------------------------
# where/having: Python over a record dict r (and the aggregates a); cols: (name, function)
R_IDX = {"t": 3, "key": 4, "amount": 5, "merchant": 6, "price": 7, "qty": 8}
E_QUERIES = [
    dict(name="o_key", kind="over", part="key", range=20 * MS, lateness=0,
         sql="""SELECT key, amount, COUNT(*) OVER w AS n, SUM(amount) OVER w AS s,
        AVG(price) OVER w AS ap, MIN(price) OVER w AS mn, MAX(amount) OVER w AS mx
      FROM tx WHERE qty <> 0
      WINDOW w AS (PARTITION BY key ORDER BY event_time
                   RANGE BETWEEN INTERVAL '20' MILLISECOND PRECEDING AND CURRENT ROW)""",
         where=lambda r: r["qty"] != 0, having=None,
         cols=[("amount", lambda r, a: r["amount"]), ("n", lambda r, a: a["count"]),
               ("s", lambda r, a: a["sum_amount"]),
               ("ap", lambda r, a: a["avg_price"]), ("mn", lambda r, a: a["min_price"]),
               ("mx", lambda r, a: a["max_amount"])]),
    dict(name="o_merch", kind="over", part="merchant", range=5 * MS, lateness=10 * MS,
         sql="""SELECT price, COUNT(*) OVER w AS n, AVG(amount) OVER w AS aa,
        FIRST_VALUE(price) OVER w AS fp, LAST_VALUE(amount) OVER w AS la
      FROM tx
      HAVING amount > 2 * AVG(amount) OVER w
      WINDOW w AS (PARTITION BY merchant ORDER BY event_time
                   RANGE BETWEEN INTERVAL '5' MILLISECOND PRECEDING AND CURRENT ROW)""",
         where=lambda r: True, having=lambda r, a: r["amount"] > 2 * a["avg_amount"],
         cols=[("price", lambda r, a: r["price"]), ("n", lambda r, a: a["count"]),
               ("aa", lambda r, a: a["avg_amount"]), ("fp", lambda r, a: a["first_price"]),
               ("la", lambda r, a: a["last_amount"])]),
    dict(name="o_none", kind="over", part=None, range=1 * MS, lateness=5 * MS,
         sql="""SELECT COUNT(*) OVER w AS n, SUM(qty) OVER w AS sq
      FROM tx WHERE merchant = 4
      WINDOW w AS (ORDER BY event_time RANGE BETWEEN INTERVAL '1' MILLISECOND PRECEDING AND CURRENT ROW)""",
         where=lambda r: r["merchant"] == 4, having=None,
         cols=[("n", lambda r, a: a["count"]), ("sq", lambda r, a: a["sum_qty"])]),
    dict(name="p_sel", kind="plain",
         sql="""SELECT amount, price, amount / qty AS per, qty - merchant AS ud
      FROM tx WHERE merchant IN (2, 4) AND price BETWEEN -100.0 AND 100.0""",
         where=lambda r: r["merchant"] in (2, 4) and -100.0 <= r["price"] <= 100.0, having=None,
         cols=[("amount", lambda r, a: r["amount"]), ("price", lambda r, a: r["price"]),
               ("per", lambda r, a: tdiv(r["amount"], r["qty"])),
               ("ud", lambda r, a: r["qty"] - r["merchant"] if r["qty"] >= r["merchant"] else None)]),
    dict(name="p_star", kind="plain", sql="SELECT * FROM tx WHERE amount < 0",
         where=lambda r: r["amount"] < 0, having=None,
         cols=[(n, (lambda n: lambda r, a: r[n])(n)) for n, _ in FIELDS]),
]

MUTATE = None
# docs/sql.md: a plain query gives "one result per event that passes WHERE (and HAVING)",
# late or not; True: late events (OVER's rule, t < watermark - allowed_lateness) give none
# and count in late_dropped, as dataplane/over.h has it
PLAIN_DROPS_LATE = False


def tdiv(a, b):
    """SQL integer division: truncates toward zero, NULL on a zero divisor."""
    if b == 0:
        return None
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q


def fail(msg):
    print("FAIL: " + msg)
    print("0 passed, 1 failed")
    sys.exit(1)


PROBLEMS = []


def problem(msg):
    """A failure that lets the other checks run first (reported at the end)."""
    if not any(p.split(":")[0] == msg.split(":")[0] for p in PROBLEMS):
        print("FAIL (continuing): " + msg)
    PROBLEMS.append(msg)


def load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


# ---- the capture -----------------------------------------------------------------------------------
def frames(pcap):
    """The UDP payload of every frame of a capture (Ethernet, IPv4, UDP: weir-gen's)."""
    with open(pcap, "rb") as f:
        data = f.read()
    assert struct.unpack_from("<I", data, 0)[0] == 0xA1B2C3D4
    off = 24
    while off + 16 <= len(data):
        incl = struct.unpack_from("<I", data, off + 8)[0]
        fr = off + 16
        if struct.unpack_from(">H", data, fr + 12)[0] != 0x0800:
            raise ValueError("not IPv4")
        udp = fr + 14 + (data[fr + 14] & 15) * 4
        yield data[udp + 8: udp + struct.unpack_from(">H", data, udp + 4)[0]]
        off = fr + incl


def decode(pcap):
    """The capture as weir must see it (wire-format.md, semantics.md): records
    (arrival, batch, watermark before the batch, t, key, amount, merchant, price, qty) and
    the watermark after each batch.  A producer's watermark is its max event_time -
    watermark_delay; the source's is the min over the producers seen and not ended (all
    ended: +inf); it never moves back."""
    inst, recs, wma, wm = {}, [], [], NEG
    for p in frames(pcap):
        magic, ver, flags, count, rs, schema, sid, seq = struct.unpack_from("<IBBHHHIQ", p, 0)
        assert magic == 0x31564557 and ver == 1 and rs == 48 and schema == 1 and len(p) == 24 + count * rs
        b = len(wma)
        st = inst.setdefault(sid, {"maxt": None, "ended": False, "exp": seq})
        assert not st["ended"]
        first = min(count, max(0, st["exp"] - seq))      # duplicates (none in this capture)
        st["exp"] = max(st["exp"], seq + count)
        for i in range(first, count):
            t, key, amount, merchant, price, qty = struct.unpack_from("<qQqQdQ", p, 24 + 48 * i)
            recs.append((len(recs), b, wm, t, key, amount, merchant, price, qty))
            st["maxt"] = t if st["maxt"] is None else max(st["maxt"], t)
        if flags & 1:
            st["ended"] = True
        live = [s for s in inst.values() if not s["ended"]]
        new = min(s["maxt"] - DELAY if s["maxt"] is not None else NEG for s in live) if live else POS
        wm = max(wm, new)
        wma.append(wm)
    return recs, wma


# ---- config ----------------------------------------------------------------------------------------
def sql_lines(text):
    """sql = TEXT: its continuation lines are indented (libinih's rule)."""
    return "sql = " + text + "\n"


def main_config(d, pcap, with_sql=True):
    text = HEAD.format(pcap=pcap)
    names = []
    for name, keys, sql, lat in PAIRS:
        text += "\n[query i_%s]\nfrom = tx\nallowed_lateness = %s\n" % (name, lat)
        text += "".join("%s = %s\n" % kv for kv in keys.items())
        text += "sink = file:%s/i_%s.jsonl\n" % (d, name)
        names.append("i_" + name)
        if with_sql:
            text += "\n[query s_%s]\n" % name + sql_lines(sql) + \
                "allowed_lateness = %s\nsink = file:%s/s_%s.jsonl\n" % (lat, d, name)
            names.append("s_" + name)
    if with_sql:
        for q in C_QUERIES:
            text += "\n[query %s]\n" % q["name"] + sql_lines(q["sql"]) + \
                "allowed_lateness = %dns\nsink = file:%s/%s.jsonl\n" % (q["lateness"], d, q["name"])
            names.append(q["name"])
    return text, names


def over_config(d, pcap):
    text = HEAD.format(pcap=pcap)
    for q in E_QUERIES:
        text += "\n[query %s]\n" % q["name"] + sql_lines(q["sql"])
        if q["kind"] == "over":
            text += "allowed_lateness = %dns\n" % q["lateness"]
        text += "sink = file:%s/%s.jsonl\n" % (d, q["name"])
    return text


def write(path, text):
    with open(path, "w") as f:
        f.write(text)
    return path


def read_jsonl(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(x) for x in f if x.strip()]


def run_weir(weir, cfg, d, tag):
    stats = os.path.join(d, "stats-%s.json" % tag)
    p = subprocess.run([weir, "run", cfg, "--stats-json", stats, "--no-progress"], capture_output=True, text=True,
                       timeout=300)
    if p.returncode != 0:
        if "EAL init failed" in p.stderr and ("memory" in p.stderr or "hugepage" in p.stderr):
            print("SKIP: " + p.stderr.strip().splitlines()[-1])
            sys.exit(77)
        fail("%s: weir run exited %d:\n%s" % (tag, p.returncode, p.stderr))
    with open(stats) as f:
        return json.load(f)


# ---- comparisons -------------------------------------------------------------------------------------
def same(got, exp):
    """exp from a reference: an int must come back an int (exact); a float within a
    relative 1e-9 (absolute 1e-9 near 0); None as null."""
    if exp is None or got is None:
        return exp is None and got is None
    if isinstance(exp, bool) or isinstance(got, bool):
        return exp is got
    if not isinstance(exp, (int, float)):
        return got == exp
    if isinstance(exp, int):
        return isinstance(got, int) and got == exp
    return isinstance(got, (int, float)) and math.isclose(got, exp, rel_tol=1e-9, abs_tol=1e-9)


def mutate_one(rows, field):
    """--mutate: one expected value changed by hand (the first row that has field)."""
    for r in rows:
        if field in r and isinstance(r[field], (int, float)) and not isinstance(r[field], bool):
            print("  (mutated: %s of %s from %r to %r)" % (field, {k: r[k] for k in list(r)[:5]}, r[field],
                                                            r[field] + 1))
            r[field] += 1
            return
    raise AssertionError("nothing to mutate")


# ---- c) / d): sqlite -----------------------------------------------------------------------------------
def sqlite_db(recs, wma):
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE rec (arr INTEGER, b INTEGER, wm INTEGER, t INTEGER, key INTEGER, amount INTEGER,"
               " merchant INTEGER, price REAL, qty INTEGER)")
    db.executemany("INSERT INTO rec VALUES (?,?,?,?,?,?,?,?,?)", recs)
    db.execute("CREATE TABLE hopk (k INTEGER)")
    db.executemany("INSERT INTO hopk VALUES (?)", [(k,) for k in range(64)])
    return db


def sqlite_query(db, q, wma):
    """The reference of one windowed SQL query: (final {(key, ws): cols}, sequences
    {(key, ws): [(rev, cols, having holds)]}, filtered, late)."""
    n, slide, size, lat, name = q["size"] // q["slide"], q["slide"], q["size"], q["lateness"], q["name"]
    ok = "(%s)" % q["where"] + "".join(" AND (%s) IS NOT NULL" % e for e in q["inputs"])
    # every (record, window) pair of the records that pass WHERE and have their inputs
    db.execute("CREATE TABLE p_%s AS SELECT rec.*, %s AS pk, (t - t %% %d) - k * %d AS ws "
               "FROM rec JOIN hopk ON k < %d WHERE %s" % (name, q["part"], slide, slide, n, ok))
    # ... applied: the watermark before the record's batch had not passed end + lateness
    db.execute("CREATE TABLE r_%s AS SELECT * FROM p_%s WHERE wm < ws + %d + %d" % (name, name, size, lat))
    db.execute("CREATE INDEX r_%s_i ON r_%s (pk, ws, b)" % (name, name))
    filtered = db.execute("SELECT COUNT(*) FROM rec WHERE NOT COALESCE(%s, 0)" % ok).fetchone()[0]
    late = db.execute("SELECT COUNT(DISTINCT arr) FROM p_%s WHERE wm >= ws + %d + %d" % (name, size, lat)).fetchone()[0]
    cols = ", ".join(e for _, e in q["cols"])
    hav = "CASE WHEN %s THEN 1 ELSE 0 END" % q["having"] if q["having"] else "1"
    final = {}
    for row in db.execute("SELECT pk, ws, %s, %s FROM r_%s GROUP BY pk, ws" % (cols, hav, name)):
        if row[-1]:
            final[(row[0], row[1])] = list(row[2:-1])
    # the firings: watermark: the batch whose watermark passed the end (or, for a window
    # created later, the batch that created it), then every later batch that applied a
    # record; update: every batch that applied a record
    fires = []
    cur, bs = None, []

    def flush():
        if cur is None:
            return
        if q["emit"] == "update":
            fb = bs
        else:
            b0 = max(bs[0], bisect.bisect_left(wma, cur[1] + size))
            fb = [b0] + [b for b in bs if b > b0]
        fires.extend((cur[0], cur[1], rev, b) for rev, b in enumerate(fb))

    for pk, ws, b in db.execute("SELECT pk, ws, b FROM r_%s GROUP BY pk, ws, b ORDER BY pk, ws, b" % name):
        if (pk, ws) != cur:
            flush()
            cur, bs = (pk, ws), []
        bs.append(b)
    flush()
    db.execute("CREATE TABLE f_%s (pk INTEGER, ws INTEGER, rev INTEGER, fb INTEGER)" % name)
    db.executemany("INSERT INTO f_%s VALUES (?,?,?,?)" % name, fires)
    seqs = {}
    for row in db.execute("SELECT f.pk, f.ws, f.rev, %s, %s FROM f_%s f JOIN r_%s r ON r.pk = f.pk AND r.ws = f.ws "
                          "AND r.b <= f.fb GROUP BY f.pk, f.ws, f.rev ORDER BY f.pk, f.ws, f.rev" %
                          (cols, hav, name, name)):
        seqs.setdefault((row[0], row[1]), []).append((row[2], list(row[3:-1]), bool(row[-1])))
    # the reference agrees with itself: the last firing is the final answer
    for w, s in seqs.items():
        assert s[-1][2] == (w in final) and (not s[-1][2] or s[-1][1] == final[w]), (name, w)
    return final, seqs, filtered, late


def check_windowed(q, got, final, seqs):
    """c)/d): weir's lines of query q against the rebuilt sequences and the final answer."""
    name, size = q["name"], q["size"]
    head = ["query", "key", "window_start", "window_end", "revision"]
    names = [c for c, _ in q["cols"]]
    by_w = {}
    for r in got:
        if r.get("retract") is True:
            if list(r) != head + ["retract"]:
                problem("%s: a retraction line has fields %s, not the header and \"retract\": true (docs/sql.md): "
                        "%s" % (name, list(r), r))
        elif list(r) != head + names or "retract" in r:
            fail("%s: fields %s, expected %s" % (name, list(r), head + names))
        if r["query"] != name or r["window_end"] != r["window_start"] + size:
            fail("%s: bad header %s" % (name, r))
        by_w.setdefault((r["key"], r["window_start"]), []).append(r)
    for w, rs in by_w.items():
        revs = [r["revision"] for r in rs]
        if revs != sorted(revs) or len(set(revs)) != len(revs):
            fail("%s: window %s: revisions %s are not increasing in the sink" % (name, w, revs))
    # the final state an upsert consumer holds
    state = {}
    for w, rs in by_w.items():
        last = max(rs, key=lambda r: r["revision"])
        if not last.get("retract"):
            state[w] = [last[c] for c in names]
    miss = [w for w in final if w not in state]
    extra = [w for w in state if w not in final]
    if miss or extra:
        fail("%s: final state: %d windows missing (e.g. %s), %d unexpected (e.g. %s)" %
             (name, len(miss), miss[:3], len(extra), extra[:3]))
    for w, vals in final.items():
        for c, g, e in zip(names, state[w], vals):
            if not same(g, e):
                fail("%s: final state of window %s: %s is %r in weir, %r in sqlite" % (name, w, c, g, e))
    # the whole sequence of revisions, with HAVING and retractions: every firing whose
    # state passes HAVING is emitted; one that fails it, while the window's last line is
    # a row, is retracted.  Revision numbers: docs/sql.md says a revision that fails
    # HAVING is not emitted, which reads as: firings are numbered (A); it can also be read
    # as: the lines of a window are numbered 0, 1, ... (B).  Both are accepted, one for
    # the whole query, and the report says which.
    nret = nrev = 0
    modes = {"A (firings numbered)", "B (emitted lines numbered)"}
    for w in set(seqs) | set(by_w):
        exp, visible = [], False
        for rev, vals, holds in seqs.get(w, []):
            if holds:
                exp.append((rev, False, vals))
                visible = True
            elif visible:
                exp.append((rev, True, None))
                visible = False
        gl = [(r["revision"], bool(r.get("retract")), None if r.get("retract") else [r[c] for c in names])
              for r in by_w.get(w, [])]
        if len(gl) != len(exp) or any(g[1] != e[1] or
                                      (e[2] is not None and not all(same(x, y) for x, y in zip(g[2], e[2])))
                                      for g, e in zip(gl, exp)):
            fail("%s: window %s: weir emitted\n  %s\nexpected (revision, retract, values)\n  %s\n(firings: %s)" %
                 (name, w, gl, exp, seqs.get(w)))
        if [g[0] for g in gl] != [e[0] for e in exp]:
            modes.discard("A (firings numbered)")
        if [g[0] for g in gl] != list(range(len(gl))):
            modes.discard("B (emitted lines numbered)")
        if not modes:
            fail("%s: window %s: revisions %s: neither the firings' numbers %s nor 0, 1, ... (firings: %s)" %
                 (name, w, [g[0] for g in gl], [e[0] for e in exp], seqs.get(w)))
        nret += sum(1 for e in exp if e[1])
        nrev += len(exp)
    return nrev, nret, " or ".join(sorted(modes))


def run_c(a, d, recs, wma, got_all, st):
    db = sqlite_db(recs, wma)
    out = {}
    for q in C_QUERIES:
        final, seqs, filtered, late = sqlite_query(db, q, wma)
        got = got_all[q["name"]]
        if MUTATE in ("c", "d") and (q["name"] == "c_tum" if MUTATE == "c" else q["name"] == "d_upd"):
            if MUTATE == "c":
                w = sorted(final)[0]
                print("  (mutated: %s window %s: n %d -> %d in the final answer)" % (q["name"], w, final[w][0],
                                                                                    final[w][0] + 1))
                final[w][0] += 1
                for s in seqs[w][-1:]:
                    s[1][0] += 1
            else:
                w = sorted(seqs)[0]
                print("  (mutated: %s window %s revision 0: s %d -> %d)" % (q["name"], w, seqs[w][0][1][1],
                                                                           seqs[w][0][1][1] + 1))
                seqs[w][0][1][1] += 1
        nrev, nret, mode = check_windowed(q, got, final, seqs)
        sq = st["queries"][q["name"]]
        if sq["filtered"] != filtered or sq["late_dropped"] != late:
            fail("%s: filtered %d, late_dropped %d in weir; sqlite: %d, %d" % (q["name"], sq["filtered"],
                                                                           sq["late_dropped"], filtered, late))
        # 'rejected' (stats, /metrics): the firings HAVING left out
        rejected = sum(1 for s in seqs.values() for x in s if not x[2])
        if "rejected" in sq and sq["rejected"] != rejected:
            fail("%s: rejected is %d in weir, %d firings fail HAVING" % (q["name"], sq["rejected"], rejected))
        if not final:
            fail("%s: the reference has no result at all" % q["name"])
        if q["emit"] == "update":
            # d): n consecutive revisions 0..n-1, n = the batches that changed the window
            if q["having"] is None:
                by = {}
                for r in got:
                    by.setdefault((r["key"], r["window_start"]), []).append(r["revision"])
                for w, s in seqs.items():
                    if by.get(w) != list(range(len(s))):
                        fail("%s: window %s has revisions %s, %d batches changed it" % (q["name"], w, by.get(w),
                                                                                     len(s)))
        out[q["name"]] = dict(mode=mode, windows=len(seqs), final=len(final), lines=len(got), revisions=nrev,
                              retractions=nret, filtered=filtered, late=late,
                              multi=sum(1 for s in seqs.values() if len(s) > 1))
    return out


# ---- e): OVER and plain -----------------------------------------------------------------------------
def over_ref(q, recs, plain_drops_late=None):
    """docs/sql.md: for each event e (arrival order) that passes WHERE and is not late
    (t < watermark before its batch - allowed_lateness), the aggregates over the events of
    e's partition applied before it, and e, with time in [t - range, t]; HAVING the
    threshold.  Plain: every event that passes WHERE (and HAVING).  The partition's events
    are kept in buckets of `range` ns of event time, a lookup that skips only events that
    cannot be in range."""
    if plain_drops_late is None:
        plain_drops_late = PLAIN_DROPS_LATE
    out, late = [], 0
    parts = {}
    for rec in recs:
        r = {k: rec[i] for k, i in R_IDX.items()}
        if not q["where"](r):
            continue
        wm = rec[2]
        if q["kind"] == "plain" and not (plain_drops_late and wm != NEG and r["t"] < wm):
            row = {"query": q["name"], "key": r["key"], "event_time": r["t"]}
            row.update((c, f(r, None)) for c, f in q["cols"])
            out.append(row)
            continue
        if wm != NEG and r["t"] < wm - q.get("lateness", 0):
            late += 1
            continue
        pk = 0 if q["part"] is None else r[q["part"]]
        R = q["range"]
        buckets = parts.setdefault(pk, {})
        buckets.setdefault(r["t"] // R, []).append((rec[0], r))
        rng = [x for bk in (r["t"] // R - 1, r["t"] // R) for x in buckets.get(bk, ())
               if r["t"] - R <= x[1]["t"] <= r["t"]]
        agg = {"count": len(rng)}
        for f, _ in FIELDS:
            vals = [x[1][f] for x in rng]
            agg["sum_" + f] = sum(vals)
            agg["avg_" + f] = (math.fsum(vals) if isinstance(vals[0], float) else sum(vals)) / len(vals)
            agg["min_" + f] = min(vals)
            agg["max_" + f] = max(vals)
            agg["first_" + f] = min(rng, key=lambda x: (x[1]["t"], x[0]))[1][f]
            agg["last_" + f] = max(rng, key=lambda x: (x[1]["t"], x[0]))[1][f]
        if q["having"] and not q["having"](r, agg):
            continue
        row = {"query": q["name"], "key": pk, "event_time": r["t"]}
        row.update((c, f(r, agg)) for c, f in q["cols"])
        out.append(row)
    return out, late


def compare_over(q, g, exp):
    """e): weir's lines g of an OVER/plain query against the reference's exp (as
    multisets: results of one key and event_time in any order); an error or None."""
    head = ["query", "key", "event_time"] + [c for c, _ in q["cols"]]
    for r in g:
        if list(r) != head:
            return "fields %s, expected %s" % (list(r), head)
    gi, ei = {}, {}
    for r in g:
        gi.setdefault((r["key"], r["event_time"]), []).append(r)
    for r in exp:
        ei.setdefault((r["key"], r["event_time"]), []).append(r)
    miss = [k for k in ei if len(gi.get(k, ())) < len(ei[k])]
    extra = [k for k in gi if len(ei.get(k, ())) < len(gi[k])]
    if miss or extra:
        return "%d results missing (e.g. %s), %d unexpected (e.g. %s)" % (
            len(miss), [ei[k][0] for k in miss[:2]], len(extra), [gi[k][0] for k in extra[:2]])
    for k, es in ei.items():
        gs = list(gi[k])
        for e in es:
            m = [x for x in gs if all(same(x[c], e[c]) for c in e)]
            if not m:
                return "at %s weir has %s, the reference %s" % (k, gs, e)
            gs.remove(m[0])
    return None


def run_e(a, d, pcap, recs):
    cfg = write(os.path.join(d, "over.ini"), over_config(d, pcap))
    p = subprocess.run([a.weir, "explain", cfg], capture_output=True, text=True, timeout=60)
    if p.returncode != 0:
        return "NOT RUN: weir explain exits %d on the OVER/plain config: %s" % (
            p.returncode, (p.stderr.strip().splitlines() or ["?"])[0])
    st = run_weir(a.weir, cfg, d, "over")
    got = {q["name"]: read_jsonl(os.path.join(d, q["name"] + ".jsonl")) for q in E_QUERIES}
    refs = {q["name"]: over_ref(q, recs) for q in E_QUERIES}
    if not any(got.values()):
        # the comparison itself, on the reference's own results (and, with --mutate e, on
        # one changed value: it must find it)
        for q in E_QUERIES:
            exp = refs[q["name"]][0]
            mine = [dict(r) for r in exp]
            if MUTATE == "e" and q["name"] == "o_key":
                mutate_one(exp, "n")
            err = compare_over(q, mine, exp)
            if err:
                fail("e) (weir not run) the reference against itself, %s: %s" % (q["name"], err))
        return ("NOT RUN: weir explain exits 0 and weir run exits 0 on %d OVER/plain queries, but they emitted no "
                "result (results_emitted %s): the OVER operator is not wired in yet; the reference has %s" %
                (len(E_QUERIES), [st["queries"][q["name"]]["results_emitted"] for q in E_QUERIES],
                 ", ".join("%s %d (late %d)" % (n, len(v[0]), v[1]) for n, v in refs.items())))
    msgs = []
    for q in E_QUERIES:
        exp, late = refs[q["name"]]
        if MUTATE == "e" and q["name"] == "o_key":
            mutate_one(exp, "n")
        err = compare_over(q, got[q["name"]], exp)
        if err and q["kind"] == "plain":
            alt, alt_late = over_ref(q, recs, not PLAIN_DROPS_LATE)
            if compare_over(q, got[q["name"]], alt) is None:
                err = ("weir's results are those of PLAIN_DROPS_LATE = %s: late events give %s (%d late events, "
                       "late_dropped %d); docs/sql.md: one result per event that passes WHERE" % (
                           not PLAIN_DROPS_LATE, "no result" if not PLAIN_DROPS_LATE else "results",
                           abs(len(alt) - len(exp)), st["queries"][q["name"]]["late_dropped"]))
        if err:
            problem("e) %s: %s" % (q["name"], err))
        sq = st["queries"][q["name"]]
        if sq["late_dropped"] != late:
            problem("e) %s: late_dropped %d in weir, %d in the reference" % (q["name"], sq["late_dropped"], late))
        if not exp:
            fail("e) %s: the reference has no result" % q["name"])
        msgs.append("%s %d" % (q["name"], len(exp)))
    return "%s results compared" % ", ".join(msgs)


# ---- f): weir check -----------------------------------------------------------------------------------
# (what, SQL lines, the offending token): the expected position is the token's first
# occurrence in the query's lines of the config file as written
F_CASES = [
    ("unknown field in WHERE, 2nd line", ["SELECT key, COUNT(*) AS n",
                                         "      FROM tx WHERE amont > 3",
                                         "      GROUP BY key, TUMBLE(event_time, INTERVAL '1' SECOND)"], "amont"),
    ("value field outside an aggregate, 3rd line",
     ["SELECT key,",
      "        COUNT(*) AS n,",
      "          price + 1 AS p",
      "      FROM tx GROUP BY key, TUMBLE(event_time, INTERVAL '1' SECOND)"], "price"),
    ("syntax error, 3rd line", ["SELECT COUNT(*) AS n",
                               "      FROM tx",
                               "      WHERE amount > > 3",
                               "      GROUP BY key, TUMBLE(event_time, INTERVAL '1' SECOND)"], "> 3"),
    ("unknown field in GROUP BY, 4th line", ["SELECT COUNT(*) AS n",
                                            "      FROM tx",
                                            "      WHERE amount > 3",
                                            "      GROUP BY merch, TUMBLE(event_time, INTERVAL '1' SECOND)"], "merch"),
    ("unknown field in HAVING, 4th line", ["SELECT COUNT(*) AS n FROM tx",
                                          "      GROUP BY key,",
                                          "               TUMBLE(event_time, INTERVAL '1' SECOND)",
                                          "      HAVING SUM(amout) > 3"], "amout"),
    ("unknown field, first line", ["SELECT key, SUM(amont) AS total FROM tx",
                                   "      GROUP BY key, TUMBLE(event_time, INTERVAL '1' SECOND)"], "amont"),
]


def run_f(a, d):
    n = 0
    for i, (what, lines, tok) in enumerate(F_CASES):
        text = HEAD.format(pcap=os.path.join(d, "none.pcap")) + "\n# a comment\n\n[query bad]\n"
        head_lines = text.count("\n")
        text += "sql = " + "\n".join(lines) + "\nsink = file:%s/bad.jsonl\n" % d
        cfg = write(os.path.join(d, "bad%d.ini" % i), text)
        # where the token is, from the text written: line (1-based) and column (1-based)
        flines = text.split("\n")
        li = next(j for j in range(head_lines, len(flines)) if tok in flines[j])
        col = flines[li].index(tok) + 1
        if MUTATE == "f" and i == 0:
            print("  (mutated: %s: column %d -> %d)" % (what, col, col + 1))
            col += 1
        want = "%s:%d:%d:" % (cfg, li + 1, col)
        p = subprocess.run([a.weir, "check", cfg], capture_output=True, text=True, timeout=60)
        if p.returncode != 2:
            fail("f) %s: weir check exited %d, expected 2:\n%s%s" % (what, p.returncode, p.stdout, p.stderr))
        if want not in p.stderr:
            fail("f) %s: expected %r in\n%s" % (what, want, p.stderr))
        # the line is shown with a caret under the token
        el = p.stderr.splitlines()
        at = [j for j in range(len(el) - 1) if el[j].strip() == flines[li].strip()]
        if not at or el[at[0] + 1].index("^") - (len(el[at[0]]) - len(el[at[0]].lstrip())) != \
                col - 1 - (len(flines[li]) - len(flines[li].lstrip())):
            fail("f) %s: the caret is not under %r (column %d):\n%s" % (what, tok, col, p.stderr))
        n += 1
    return n


# ---- main ----------------------------------------------------------------------------------------------
def main():
    global MUTATE
    ap = argparse.ArgumentParser()
    ap.add_argument("--weir", required=True)
    ap.add_argument("--gen", required=True)
    ap.add_argument("--ref", default=os.path.join(HERE, "weir_ref.py"))
    ap.add_argument("--mutate", choices=list("abcdef"), help="change one expected value of that check")
    ap.add_argument("--keep", help="work in this directory and keep it")
    a = ap.parse_args()
    MUTATE = a.mutate
    for exe in (a.weir, a.gen):
        if not os.access(exe, os.X_OK):
            print("SKIP: %s not built" % exe)
            sys.exit(77)
    ref_mod = load("weir_ref", a.ref)
    e2e = load("e2e", os.path.join(HERE, "e2e.py"))
    t0 = time.time()
    if a.keep:
        os.makedirs(a.keep, exist_ok=True)
        ctx = None
        d = a.keep
    else:
        ctx = tempfile.TemporaryDirectory(prefix="weir-sql-")
        d = ctx.name
    pcap = os.path.join(d, "tx.pcap")
    subprocess.run([a.gen, "--out", pcap] + GEN_ARGS, check=True, stderr=subprocess.DEVNULL)
    recs, wma = decode(pcap)
    if any(r[6] >= MERCHANTS or r[8] >= QTYS for r in recs):
        fail("weir-gen wrote merchant or qty values beyond --fields merchant:u64/%d,qty:u64/%d" % (MERCHANTS, QTYS))
    text, names = main_config(d, pcap)
    cfg = write(os.path.join(d, "weir.ini"), text)
    ref_cfg = write(os.path.join(d, "ref.ini"), main_config(d, pcap, with_sql=False)[0])
    p = subprocess.run([a.weir, "explain", cfg], capture_output=True, text=True, timeout=60)
    groups = sorted(set(x.split("(key group ")[1].split(" of ")[0] for x in p.stdout.splitlines()
                        if "(key group " in x))
    if p.returncode != 0 or groups != ["1", "2", "3", "4"]:
        fail("weir explain exits %d, key groups %s (expected 4: key, merchant, qty, none):\n%s" % (
            p.returncode, groups, p.stderr))
    t1 = time.time()
    st = run_weir(a.weir, cfg, d, "main")
    t2 = time.time()
    got = {n: read_jsonl(os.path.join(d, n + ".jsonl")) for n in names}
    report = []

    # a) SQL == INI
    na = 0
    for name, _, _, _ in PAIRS:
        ini = [dict(r) for r in got["i_" + name]]
        sql = [dict(r, query="i_" + name) for r in got["s_" + name]]
        if MUTATE == "a" and name == "hop_m":
            mutate_one(ini, "sum_amount")
        err = e2e.compare_results(sql, ini)
        if err:
            fail("a) SQL s_%s against INI i_%s: %s" % (name, name, err))
        if not ini:
            fail("a) %s: no results" % name)
        for k in ("late_dropped", "results_emitted", "filtered"):
            if st["queries"]["i_" + name][k] != st["queries"]["s_" + name][k]:
                fail("a) %s: %s is %d for INI, %d for SQL" % (name, k, st["queries"]["i_" + name][k],
                                                             st["queries"]["s_" + name][k]))
        na += len(ini)
    report.append("a) SQL == INI: %d pairs, %d result lines each side (%s)" % (
        len(PAIRS), na, ", ".join("%s %d" % (n, len(got["i_" + n])) for n, _, _, _ in PAIRS)))

    # a2) sessions with EMIT ON UPDATE: the final state an upsert consumer holds (highest
    # revision per key and window_start; a retraction deletes its row: a session whose
    # start moved back, or that merged into an earlier one, docs/sql.md) is the sessions'
    # final answer (semantics.md), i_ses's final state: the same records, lateness and
    # merges, only fired more often
    def upsert(rows):
        last = {}
        for r in rows:
            w = (r["key"], r["window_start"])
            if w not in last or r["revision"] > last[w]["revision"]:
                last[w] = r
        return {w: {k: v for k, v in r.items() if k not in ("query", "revision")} for w, r in last.items()
                if not r.get("retract")}
    nretract = sum(1 for r in got["s_ses_upd"] if r.get("retract"))
    if not nretract:
        problem("a2) SESSION with EMIT ON UPDATE: no retraction at all (the capture should move sessions back)")
    su, iu = upsert(got["s_ses_upd"]), upsert(got["i_ses"])
    stale = sorted(w for w in su if w not in iu)
    miss = sorted(w for w in iu if w not in su)
    diff = sorted(w for w in iu if w in su and any(not same(su[w][k], iu[w][k]) for k in iu[w]))
    if stale or miss or diff:
        problem("a2) SESSION with EMIT ON UPDATE: an upsert consumer of s_ses_upd holds %d sessions that are not "
                "in the final answer (i_ses: %d sessions), e.g. %s (a session that grew backwards or merged is left "
                "behind under its old window_start, never retracted); %d missing, %d with other values" % (
                    len(stale), len(iu), [su[w] for w in stale[:2]], len(miss), len(diff)))
    report.append("a2) SESSION EMIT ON UPDATE upsert state vs i_ses final state: %d lines (%d retractions), %d "
                  "sessions held, %d stale" % (len(got["s_ses_upd"]), nretract, len(su), len(stale)))

    # b) INI against weir_ref.py
    ref = ref_mod.Ref(ref_cfg).run()
    exp = ref.results()
    if MUTATE == "b":
        mutate_one([r for r in exp if r["query"] == "i_upd_q"], "count")
    ini_got = [r for n in names if n.startswith("i_") for r in got[n]]
    err = e2e.compare_results(ini_got, exp)
    if err:
        fail("b) INI queries against weir_ref.py: " + err)
    rs = ref.stats()
    for q, v in rs["queries"].items():
        for k in ("late_dropped", "results_emitted", "filtered"):
            if st["queries"][q][k] != v[k]:
                fail("b) query %s: %s is %d in weir, %d in weir_ref.py" % (q, k, st["queries"][q][k], v[k]))
    for k in ("rx_events", "rx_packets"):
        if st["total"][k] != rs["total"][k]:
            fail("b) %s is %d in weir, %d in weir_ref.py" % (k, st["total"][k], rs["total"][k]))
    revs = sum(1 for r in exp if r["revision"] > 0)
    report.append("b) INI == weir_ref.py: %d results (%d with revision > 0), late_dropped %s" % (
        len(exp), revs, {q: v["late_dropped"] for q, v in rs["queries"].items()}))
    t3 = time.time()

    # c), d) sqlite
    cres = run_c(a, d, recs, wma, got, st)
    for n, v in cres.items():
        report.append("%s) %s: %d windows (%d fired more than once), %d in the final answer, %d lines = %d expected "
                      "revisions incl. %d retractions; filtered %d, late %d%s" % (
                          "d" if n.startswith("d_") else "c", n, v["windows"], v["multi"], v["final"], v["lines"],
                          v["revisions"], v["retractions"], v["filtered"], v["late"],
                          "; revision numbers: " + v["mode"] if v["retractions"] or "A" not in v["mode"] else ""))
    t4 = time.time()

    # e) OVER, plain
    report.append("e) " + run_e(a, d, pcap, recs))
    t5 = time.time()

    # f) errors
    nf = run_f(a, d)
    report.append("f) weir check: %d bad-SQL configs exit 2 at the right FILE:LINE:COL" % nf)
    t6 = time.time()
    nlate = sum(1 for r in recs if r[2] != NEG and r[3] < r[2])
    print("sql_test: %d records (%d behind the watermark on arrival), %d batches, %d queries in one run" % (
        len(recs), nlate, len(wma), len(names)))
    for line in report:
        print("  " + line)
    print("  time: generate+decode %.1fs, weir run %.1fs, a+b %.1fs, c+d %.1fs, e %.1fs, f %.1fs, total %.1fs" % (
        t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4, t6 - t5, t6 - t0))
    if PROBLEMS:
        kinds = sorted(set(p.split(":")[0] for p in PROBLEMS))
        fail("%d failed comparisons in %d checks (above): %s" % (len(PROBLEMS), len(kinds), ", ".join(kinds)))
    if MUTATE:
        fail("--mutate %s: the mutated check still passed" % MUTATE)
    print("sql_test: 1 passed, 0 failed")
    if ctx:
        ctx.cleanup()


if __name__ == "__main__":
    main()
