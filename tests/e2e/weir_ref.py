#!/usr/bin/env python3
"""Naive single-threaded reference of weir's semantics, written from
../shared/semantics.md and ../shared/wire-format.md (and the README's choices),
not from the engine.  It recomputes nothing cleverly: every window keeps its
records' aggregate state in plain Python objects.

Sources: `format = wev` (WEV/1), `format = itch50` (NASDAQ TotalView-ITCH 5.0
over MoldUDP64: decoded with struct from the ITCH 5.0 and MoldUDP64 specs, with
its own stock directory and order book, see Itch below) and `format = line`
(InfluxDB line protocol: a port of the reference decoder's grammar,
github.com/influxdata/line-protocol v2, checked against its corpus, see
LineProto below).  No weir code is used.

    weir_ref.py CONFIG [--results OUT.jsonl] [--stats OUT.json]
"""
import argparse
import configparser
import ctypes
import datetime
import json
import math
import re
import struct
import sys
import time

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


ITCH_FIELDS = {       # the trading event's fields and their types (dataplane/itch.h's table)
    "type": "u64", "side": "i64", "price": "f64", "price_e4": "i64", "shares": "u64", "notional": "f64",
    "order_ref": "u64", "match": "u64", "locate": "u64", "stock": "u64", "printable": "u64"}
ITCH_DEFAULT_EVENTS = "AFECXDUPQ"


def day_start_ns(day, zone):
    """ns since the epoch of midnight starting `day` (YYYY-MM-DD or today) in an IANA zone."""
    from zoneinfo import ZoneInfo
    tz = ZoneInfo(zone)
    d = datetime.datetime.now(tz).date() if day == "today" else datetime.date.fromisoformat(day)
    return int(datetime.datetime(d.year, d.month, d.day, tzinfo=tz).timestamp()) * 10**9


# ---- NASDAQ TotalView-ITCH 5.0 over MoldUDP64 ------------------------------------------
# MoldUDP64 downstream packet: session[10] u64 sequence u16 count, then count blocks of
# u16 length + message (all big-endian); count 0 heartbeat, 0xFFFF end of session.
# ITCH 5.0 (Nasdaq TotalView-ITCH 5.0 spec): type, u16 locate, u16 tracking, u48 ns since
# midnight, then per type (offsets below); Price(4) = u32 dollars * 10^4.
ITCH_LEN = {"S": 12, "R": 39, "A": 36, "F": 40, "E": 31, "C": 36, "X": 23, "D": 19, "U": 35, "P": 44, "Q": 40}


def be(m, off, n):
    return int.from_bytes(m[off:off + n], "big")


class Itch:
    """One feed's stock directory (locate -> symbol key) and order book (ref ->
    [price_e4, shares, locate, side]), and the trading event of each message."""

    def __init__(self, max_orders):
        self.max_orders = max_orders
        self.dir = {}
        self.book = {}
        self.high_water = 0
        self.table_full = 0

    def add(self, ref, locate, side, price, shares):
        if ref in self.book:
            return                      # the live order is kept
        if len(self.book) >= self.max_orders:
            self.table_full += 1
            return
        self.book[ref] = [price, shares, locate, side]
        self.high_water = max(self.high_water, len(self.book))

    def take(self, ref, shares):
        """Execute or cancel `shares` of an order; the order as it was, or None."""
        o = self.book.get(ref)
        if o is None:
            return None
        was = list(o)
        o[1] -= min(shares, o[1])
        if o[1] == 0:
            del self.book[ref]
        return was

    def event(self, m):
        """Apply message m (a decoded block) to the directory and the book; return
        (event fields by name, unknown order?)."""
        t, locate = chr(m[0]), be(m, 1, 2)
        ev = dict(type=m[0], side=0, price_e4=0, shares=0, order_ref=0, match=0, locate=locate, stock=0,
                  printable=0)
        booked = self.max_orders > 0
        unknown = False
        sidev = {ord("B"): 1, ord("S"): -1}
        if t == "R":
            self.dir[locate] = ev["stock"] = be(m, 11, 8)
        elif t == "S":
            ev["stock"] = self.dir.get(locate, 0)
        elif t in "AF":
            ref, shares, stock, price = be(m, 11, 8), be(m, 20, 4), be(m, 24, 8), be(m, 32, 4)
            self.dir[locate] = stock
            if booked:
                self.add(ref, locate, sidev.get(m[19], 0), price, shares)
            ev.update(side=sidev.get(m[19], 0), price_e4=price, shares=shares, order_ref=ref, stock=stock)
        elif t in "ECXD":
            ref = be(m, 11, 8)
            shares = be(m, 19, 4) if t != "D" else 0
            if not booked:
                o = None
            elif t == "D":
                o = self.book.pop(ref, None)
            else:
                o = self.take(ref, shares)
            unknown = booked and o is None
            ev["order_ref"] = ref
            if o is not None:
                ev.update(side=o[3], price_e4=o[0], locate=o[2])
            if t == "E":
                ev.update(shares=shares, match=be(m, 23, 8), printable=1)
            elif t == "C":
                ev.update(shares=shares, match=be(m, 23, 8), printable=int(m[31] == ord("Y")),
                          price_e4=be(m, 32, 4))
            elif t == "X":
                ev.update(shares=shares)
            else:
                ev.update(shares=o[1] if o is not None else 0)
            ev["stock"] = self.dir.get(ev["locate"], 0)
        elif t == "U":
            ref, new, shares, price = be(m, 11, 8), be(m, 19, 8), be(m, 27, 4), be(m, 31, 4)
            o = self.book.pop(ref, None) if booked else None
            unknown = booked and o is None
            if booked:
                self.add(new, o[2] if o else locate, o[3] if o else 0, price, shares)
            if o is not None:
                ev.update(side=o[3], locate=o[2])
            ev.update(price_e4=price, shares=shares, order_ref=new)
            ev["stock"] = self.dir.get(ev["locate"], 0)
        elif t == "P":
            stock = be(m, 24, 8)
            self.dir[locate] = stock
            ev.update(side=sidev.get(m[19], 0), shares=be(m, 20, 4), stock=stock, price_e4=be(m, 32, 4),
                      order_ref=be(m, 11, 8), match=be(m, 36, 8), printable=1)
        elif t == "Q":
            stock = be(m, 19, 8)
            self.dir[locate] = stock
            ev.update(shares=be(m, 11, 8), stock=stock, price_e4=be(m, 27, 4), match=be(m, 31, 8), printable=1)
        ev["price"] = ev["price_e4"] / 10000.0
        ev["notional"] = ev["price"] * ev["shares"]
        return ev, unknown


# ---- InfluxDB line protocol --------------------------------------------------------------
# A port of the reference decoder (github.com/influxdata/line-protocol v2, package
# lineprotocol: Decoder.Next/Measurement/NextTag/NextField/Time, skipEmptyLines,
# consumeLine, takeEsc), over one complete datagram.  Each entry yields its parts or the
# first error found in it, named by weir's reason (lineproto.h): grammar errors lp_syntax,
# invalid UTF-8 lp_bad_utf8, a field value that is not a number, boolean or string
# lp_bad_value, numbers out of range lp_value_range, a timestamp beyond int64 (ns at the
# precision) lp_bad_time.
_ALL = frozenset(range(256))
_NONPRINT = frozenset(range(32)) | {0x7F}
_WS = frozenset(b" \r\n")
_MEAS = _ALL - (frozenset(b", ") | _NONPRINT)
_KEY = _ALL - (frozenset(b",=") | _WS | _NONPRINT)          # tag keys, tag values, field keys
_STR = _ALL - {ord('"')}
_FVAL = _ALL - ({ord(",")} | _WS)
_TIME = frozenset(b"-0123456789")
_COMMENT = (_ALL - _NONPRINT) - frozenset(b"\r\n")
_NOTEOL = _ALL - frozenset(b"\r\n")
_NOTNL = _ALL - {10}
_ESC_MEAS = {ord(" "): ord(" "), ord(","): ord(",")}
_ESC_KEY = {ord(","): ord(","), ord("="): ord("="), ord(" "): ord(" ")}
_ESC_STR = {ord("\\"): ord("\\"), ord('"'): ord('"'), ord("n"): 10, ord("r"): 13, ord("t"): 9}
_FLOAT_DEC = re.compile(rb"-?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?\Z")
_FLOAT_HEX = re.compile(rb"-?0[xX](?:[0-9a-fA-F]+\.?[0-9a-fA-F]*|\.[0-9a-fA-F]+)[pP][+-]?[0-9]+\Z")
I64_MIN, I64_MAX, U64_MAX = -(1 << 63), (1 << 63) - 1, (1 << 64) - 1


class LPError(Exception):
    pass


def _underscore_ok(s):
    """Go's strconv underscoreOK: '_' only between digits (or after a base prefix)."""
    saw, i = "^", 0
    if s[:1] in (b"-", b"+"):
        s = s[1:]
    hexa = False
    if len(s) >= 2 and s[0:1] == b"0" and s[1:2].lower() in (b"b", b"o", b"x"):
        i, saw, hexa = 2, "0", s[1:2].lower() == b"x"
    while i < len(s):
        c = s[i:i + 1]
        if c.isdigit() or (hexa and c.lower() in b"abcdef" and c.isalpha()):
            saw = "0"
        elif c == b"_":
            if saw != "0":
                return False
            saw = "_"
        else:
            if saw == "_":
                return False
            saw = "!"
        i += 1
    return saw != "_"


def lp_float(b):
    """Go's ParseFloat(b, 64) for a line-protocol float; LPError(reason) when not a
    finite double."""
    s = b.replace(b"_", b"")
    if b"_" in b and not _underscore_ok(b):
        raise LPError("lp_bad_value")
    if _FLOAT_DEC.match(s):
        v = float(s)
    elif _FLOAT_HEX.match(s):
        try:
            v = float.fromhex(s.decode())
        except OverflowError:
            raise LPError("lp_value_range")
    else:
        raise LPError("lp_bad_value")      # also Go's "inf", "infinity" (non-numbers)
    if math.isinf(v):
        raise LPError("lp_value_range")
    return v


def lp_int(b, lo, hi, signed):
    if not re.fullmatch(rb"[+-]?[0-9]+" if signed else rb"[0-9]+", b):
        raise LPError("lp_bad_value")
    v = int(b)
    if not lo <= v <= hi:
        raise LPError("lp_value_range")
    return v


class LineEntry:
    __slots__ = ("measurement", "tags", "fields", "time", "error")

    def __init__(self):
        self.measurement, self.tags, self.fields, self.time, self.error = None, [], [], None, None


class LineProto:
    """Entries of one datagram: for e in LineProto(buf, prec_ns).entries(): e.error (a
    reason) or e.measurement, e.tags [(k, v)], e.fields [(k, kind, value)], e.time
    (ns, or None when the entry has none)."""

    def __init__(self, buf, prec):
        self.b, self.n, self.i, self.prec = bytes(buf), len(buf), 0, prec

    def at(self, k=0):
        return self.b[self.i + k] if self.i + k < self.n else None

    def take(self, chars):
        j = self.i
        while self.i < self.n and self.b[self.i] in chars:
            self.i += 1
        return self.b[j:self.i]

    def discard_spaces(self):
        while self.i < self.n and self.b[self.i] == 0x20:
            self.i += 1

    def take_esc(self, chars, esc):
        out, high = bytearray(), False
        while self.i < self.n:
            c = self.b[self.i]
            if c != 0x5C:                       # not a backslash
                if c not in chars:
                    break
                high |= c >= 0x80
                out.append(c)
                self.i += 1
                continue
            if self.i + 1 >= self.n:            # nothing to escape: the backslash stays
                out.append(c)
                self.i += 1
                break
            r = esc.get(self.b[self.i + 1])
            if r is None:                       # not an escape: the backslash stays
                out.append(c)
                self.i += 1
                continue
            out.append(r)
            self.i += 2
        out = bytes(out)
        if high:
            try:
                out.decode("utf-8")
            except UnicodeDecodeError:
                raise LPError("lp_bad_utf8")
        return out

    def take_eol(self):
        if self.i >= self.n:
            return True
        if self.b[self.i] == 10:
            self.i += 1
            return True
        if self.b[self.i] == 13:
            if self.i + 1 >= self.n:
                self.i += 1
                return True
            if self.b[self.i + 1] == 10:
                self.i += 2
                return True
        return False

    def skip_empty_lines(self):
        while True:
            start = self.i
            self.discard_spaces()
            c = self.at()
            if c == ord("#"):
                self.take(_COMMENT)
                if not self.take_eol():
                    self.i = start              # the bad comment is the next entry's error
                    return
            elif c == 10:
                self.i += 1
            elif c == 13:
                if not self.take_eol():
                    return                      # a lone CR: the next entry's error
            else:
                return

    def tag_comma(self):
        if self.at() == ord(","):
            self.i += 1
            if self.i >= self.n or self.at() in _WS:
                raise LPError("lp_syntax")

    def entry(self, e):
        """Read one entry into e; self.end says whether the entry's end was reached
        (Go's endSection) when an error is raised."""
        self.end = False
        m = self.take_esc(_MEAS, _ESC_MEAS)
        if not m or m[0] == ord("#"):
            raise LPError("lp_syntax")
        self.tag_comma()
        e.measurement = m
        while True:                             # tags
            if self.i < self.n and self.at() == 0x20:
                self.discard_spaces()
                break
            k = self.take_esc(_KEY, _ESC_KEY)
            if not k or self.i >= self.n or self.at() != ord("="):
                raise LPError("lp_syntax")
            self.i += 1
            v = self.take_esc(_KEY, _ESC_KEY)
            if not v:
                raise LPError("lp_syntax")
            e.tags.append((k, v))
            if self.i >= self.n:
                break
            self.tag_comma()
        to_time = False
        while True:                             # fields
            k = self.take_esc(_KEY, _ESC_KEY)
            if not k or self.i >= self.n or self.at() != ord("="):
                raise LPError("lp_syntax")
            self.i += 1
            if self.i >= self.n:
                raise LPError("lp_syntax")
            c = self.at()
            if c == ord('"'):
                self.i += 1
                val = self.take_esc(_STR, _ESC_STR)
                if self.i >= self.n:
                    raise LPError("lp_syntax")  # no closing quote
                self.i += 1
                kind = "string"
            elif c in b"tTfF":
                val, kind = self.take(_FVAL), "bool"
            elif c in b"-0123456789.":
                val = self.take(_FVAL)
                kind = {ord("i"): "int", ord("u"): "uint"}.get(val[-1], "float")
                if kind != "float":
                    val = val[:-1]
            else:
                # Go: "unrecognized type" (a syntax error there); lineproto.h calls a
                # value token that is not a number or boolean lp_bad_value, no value
                # at all (' ', ',', CR, LF next) lp_syntax
                raise LPError("lp_bad_value" if self.take(_FVAL) else "lp_syntax")
            done = False
            if self.i >= self.n:
                self.end = done = True
            elif self.at() == ord(","):
                self.i += 1
            elif self.at() not in _WS:
                raise LPError("lp_syntax")
            else:
                self.discard_spaces()
                if self.take_eol():
                    self.end = done = True
                else:
                    done = to_time = True
            # the value (Go's NextField: after the separators were read)
            if kind == "string":
                value = val
            elif kind == "bool":
                if val in (b"t", b"T", b"true", b"True", b"TRUE"):
                    value = True
                elif val in (b"f", b"F", b"false", b"False", b"FALSE"):
                    value = False
                else:
                    raise LPError("lp_bad_value")
            elif kind == "int":
                value = lp_int(val, I64_MIN, I64_MAX, True)
            elif kind == "uint":
                value = lp_int(val, 0, U64_MAX, False)
            else:
                value = lp_float(val)
            e.fields.append((k, kind, value))
            if done:
                break
        if not to_time:
            return
        tb = self.take(_TIME)                   # the timestamp
        if not tb:
            self.end = True
        if self.i < self.n:
            if self.at() not in _WS:
                self.take(_NOTEOL)
                raise LPError("lp_syntax")
            self.discard_spaces()
            if self.i < self.n and not self.take_eol():
                self.take(_NOTEOL)
                raise LPError("lp_syntax")
        self.end = True
        if tb:
            if not re.fullmatch(rb"[+-]?[0-9]+", tb):
                raise LPError("lp_syntax")
            ts = int(tb)
            if not I64_MIN <= ts <= I64_MAX or not I64_MIN <= ts * self.prec <= I64_MAX:
                raise LPError("lp_bad_time")
            e.time = ts * self.prec

    def entries(self):
        while True:
            self.skip_empty_lines()
            if self.i >= self.n:
                return
            e = LineEntry()
            try:
                self.entry(e)
            except LPError as x:
                e.error = x.args[0]
                if not self.end:                # recover: the rest of the line goes
                    self.take(_NOTNL)
                    if self.at() == 10:
                        self.i += 1
            yield e


def lp_corpus_check(path, limit=5):
    """Run the line-protocol decoder over the reference parser's corpus
    (influxdata/line-protocol lineprotocol/testdata/corpus.json): every case must be
    accepted or rejected as the reference parser does (a datagram is accepted when
    every entry is well formed and none repeats a tag key), accepted ones with the
    same points.  Returns (cases, [mismatch descriptions])."""
    import base64
    with open(path) as f:
        corpus = json.load(f)["decode"]

    def raw(x):
        if isinstance(x, dict):
            return base64.b64decode(x["binary"])
        return x.encode()

    bad = []
    for key, case in sorted(corpus.items()):
        inp, out = case["input"], case["output"]
        prec = {"1ns": 1, "1µs": 1000, "1ms": 10**6, "1s": 10**9}[inp["precision"]]
        got, err = [], None
        for e in LineProto(raw(inp["text"]), prec).entries():
            if e.error:
                err = e.error
                break
            if len(set(k for k, _ in e.tags)) != len(e.tags):
                err = "duplicate tag"
                break
            t = e.time if e.time is not None else inp["defaultTime"] - inp["defaultTime"] % prec
            got.append({"time": t, "name": e.measurement,
                        "tags": sorted(e.tags),
                        "fields": [(k, kind, v) for k, kind, v in e.fields]})
        if "error" in out:
            if err is None:
                bad.append("%s: accepted %r, the reference parser rejects it: %s" % (key, inp["text"], out["error"]))
            continue
        if err is not None:
            bad.append("%s: rejected %r (%s), the reference parser accepts it" % (key, inp["text"], err))
            continue
        exp = []
        for pt in out["result"] or []:
            fields = []
            for fd in pt["fields"]:
                (kind, v), = fd["value"].items()
                if kind == "string":
                    v = raw(v)
                fields.append((raw(fd["key"]), kind, v))
            exp.append({"time": pt["time"], "name": raw(pt["name"]),
                        "tags": sorted((raw(t["key"]), raw(t["value"])) for t in pt["tags"]), "fields": fields})
        if got != exp:
            bad.append("%s: %r decodes to %r, the reference parser's %r" % (key, inp["text"], got, exp))
    return len(corpus), bad[:limit] if limit else bad


_xxh3 = None


def xxh3_64(data):
    """XXH3-64, seed 0: the xxhash module, else libxxhash through ctypes."""
    global _xxh3
    if _xxh3 is None:
        try:
            import xxhash
            _xxh3 = xxhash.xxh3_64_intdigest
        except ImportError:
            lib = ctypes.CDLL("libxxhash.so.0")
            fn = lib.XXH3_64bits
            fn.restype, fn.argtypes = ctypes.c_uint64, [ctypes.c_char_p, ctypes.c_size_t]
            _xxh3 = lambda b: fn(b, len(b))  # noqa: E731
    return _xxh3(bytes(data))


def lp_key(measurement, tags):
    """The key of a line: XXH3-64 of measurement 0x00 {tagkey 0x01 tagvalue 0x00} over
    the key's tags in byte order of tag key."""
    return xxh3_64(measurement + b"\0" + b"".join(k + b"\1" + v + b"\0" for k, v in sorted(tags)))


class Source:
    def __init__(self, name, sec):
        self.name = name
        self.format = sec.get("format", "wev").strip()
        # several ports: copies of one feed (A/B)
        self.ports = [int(x) for x in sec["udp_port"].split(",")]
        self.port = self.ports[0]
        self.schema = int(sec.get("schema_id", "0"))
        self.fields = []
        for f in sec.get("fields", "").split(","):
            if f.strip():
                if self.format == "itch50":
                    n, _, t = f.partition(":")
                    n = n.strip()
                    if t.strip() and t.strip() != ITCH_FIELDS[n]:
                        raise ValueError("field %s is %s" % (n, ITCH_FIELDS[n]))
                    self.fields.append((n, ITCH_FIELDS[n]))
                else:
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
        if self.format == "itch50":
            self.day_start = day_start_ns(sec["session_date"].strip(), sec.get("timezone", "America/New_York").strip())
            self.events = set(x.strip() for x in sec.get("messages", ",".join(ITCH_DEFAULT_EVENTS)).split(","))
            self.key_locate = sec.get("key", "symbol").strip() == "locate"
            ob = sec.get("order_book", "auto").strip()
            if ob == "auto":        # a book where a declared field needs one
                msg_only = {"type", "order_ref", "match", "locate", "stock", "printable"}
                ob = "1000000" if any(f not in msg_only for f, _ in self.fields) else "0"
            self.max_orders = int(ob)
            # one directory and one book per source (one RX core)
            self.itch = Itch(self.max_orders)
        elif self.format == "line":
            m = sec.get("measurement", "").strip()
            self.measurement = m.encode() if m else None
            self.tags = sorted(t.strip().encode() for t in sec.get("tags", "").split(",") if t.strip()) or None
            self.prec = {"ns": 1, "us": 1000, "ms": 10**6, "s": 10**9}[sec.get("precision", "ns").strip()]


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
        # key = FIELD: partitioned by that integer value field (the result's key is its
        # value) instead of the record's key; emit = update: every batch's changed
        # windows fire at the end of that batch, the watermark then only frees state
        # (docs/sql.md)
        self.key_field = None
        kf = sec.get("key", "").strip()
        if kf:
            idx = [n for n, _ in self.src.fields].index(kf)
            if self.src.fields[idx][1] not in ("i64", "u64"):
                raise ValueError("key = %s: not an integer field" % kf)
            self.key_field = idx
        self.emit = sec.get("emit", "watermark").strip()
        if self.emit not in ("watermark", "update"):
            raise ValueError("emit = " + self.emit)
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


def retract(q, key, w):
    """The row (key, w.start) a fired session was emitted under goes (its start moves back
    or it merges into an earlier session): the header alone, the next revision."""
    q.out.append({"query": q.name, "key": key, "window_start": w.start, "window_end": w.end,
                  "revision": w.rev, "retract": True})
    q.results += 1
    w.rev += 1
    w.fired = False


def fire(q, key, w):
    q.out.append(result(q, key, w))
    q.results += 1
    w.rev += 1
    w.fired, w.dirty = True, False


ITCH_REASONS = ("mold_truncated", "mold_overrun", "mold_trailing", "msg_empty", "msg_short", "msg_long",
                "msg_skipped")
LINE_REASONS = ("lp_syntax", "lp_bad_utf8", "lp_bad_value", "lp_value_range", "lp_bad_time",
                "lp_other_measurement", "lp_duplicate_tag", "lp_too_many_tags", "lp_missing_tag",
                "lp_missing_field", "lp_field_type", "lp_time_range")
LP_MAX_TAGS = 64


class Ref:
    def __init__(self, cfgpath, line_arrival_ns=None):
        """line_arrival_ns: the arrival time the reference gives lines without a
        timestamp (weir: the wall clock at arrival); default now."""
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
        self.byport = {p: s for s in self.sources.values() for p in s.ports}
        self.devices = [d.strip() for d in cp["dataplane"]["devices"].split(";") if d.strip()]
        self.c = {"rx_packets": 0, "rx_events": 0, "seq_duplicates": 0, "seq_gaps": 0, "key_map_missed": 0}
        self.bad = {}
        self.inst = {}        # (port, source_id) -> dict; itch50: (source, session); line: (source, sender)
        self.arrival = 0
        self.itch_c = dict.fromkeys(ITCH_REASONS + ("unknown_ref",), 0)
        self.line_c = dict.fromkeys(LINE_REASONS + ("no_timestamp",), 0)
        self.line_arrival = time.time_ns() if line_arrival_ns is None else line_arrival_ns

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
            sender = f[off + 12: off + 16]
        elif et == 0x86DD:
            if len(f) < off + 40:
                return self.drop("frame_truncated")
            plen = struct.unpack_from(">H", f, off + 4)[0]
            if f[off] >> 4 != 6 or plen > len(f) - off - 40:
                return self.drop("bad_ip_header")
            if f[off + 6] != 17:
                return self.drop("not_udp")
            udp, l4 = off + 40, plen
            sender = f[off + 8: off + 24]
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
        payload = f[udp + 8: udp + ulen]
        if src.format == "itch50":
            self.itch(src, payload)
        elif src.format == "line":
            self.line(src, payload, (sender, struct.unpack_from(">H", f, udp)[0]))
        else:
            self.wev(src, payload)

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
        self.batch(src, inst, recs[first:], flags & 1)

    def batch(self, src, inst, applied, eos):
        """Apply a producer's batch (datagram): its records [(t, key, vals)], then move
        the source's watermark (ended producers: +inf) and fire."""
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
                    self.apply(q, t, key if q.key_field is None else vals[q.key_field], vals)
                else:
                    q.filtered += 1
        if eos:
            inst["ended"] = True
        # watermark of the source after the batch, then fire
        insts = [i for i in self.inst.values() if i["src"] is src]
        live = [i for i in insts if not i["ended"]]
        if not live:
            wm = INF
        else:
            wm = min((i["maxt"] - src.delay) if i["maxt"] is not None else -INF for i in live)
        for q in qs:
            if q.emit == "update" and q.kind == "session":
                for k, ss in sorted(q.windows.items()):
                    for w in sorted(ss, key=lambda w: w.start):
                        if w.dirty:
                            fire(q, k, w)
            elif q.emit == "update":
                for (k, _), w in sorted(q.windows.items()):
                    if w.dirty:
                        fire(q, k, w)
            q.wm = max(q.wm, wm)
            self.fire_complete(q)

    def itch(self, src, p, held=False):
        """A/B feeds (several ports): a gap in a session's sequence holds the session's
        later datagrams until a copy fills it (the other feed's), then they follow in
        order; a gap nothing fills is given up at the end of input (weir: after
        gap_timeout, which a replayed capture's end comes before).  So the first copy of
        each sequence number is applied, in sequence order.  Returns True when a held
        datagram must stay held (a new gap)."""
        if len(src.ports) < 2 or len(p) < 20:
            self.itch_apply(src, p)
            return False
        session = bytes(p[:10])
        seq, count = struct.unpack_from(">QH", p, 10)
        n = 0 if count == 0xFFFF else count
        inst = self.inst.get((src.name, "mold", session))
        if inst is None or inst["ended"]:
            self.itch_apply(src, p)
            return False
        h = inst.setdefault("gap", {"want_to": None, "given_up_to": 0, "held": []})
        exp = inst["exp"]
        if seq + n > exp or count == 0xFFFF:
            if h["want_to"] is not None and count != 0xFFFF and n and seq <= exp:
                self.itch_apply(src, p)         # the other feed's copy fills the gap
                if inst["exp"] >= h["want_to"]:
                    h["want_to"] = None
                    self.itch_release(src, inst)
                return False
            if h["want_to"] is not None or (seq > exp and exp >= h["given_up_to"]):
                if h["want_to"] is None:
                    h["want_to"] = seq
                if held:
                    return True
                h["held"].append(p)
                return False
        self.itch_apply(src, p)
        return False

    def itch_release(self, src, inst):
        h = inst["gap"]
        while h["want_to"] is None and h["held"]:
            if self.itch(src, h["held"][0], held=True):
                return
            h["held"].pop(0)

    def itch_give_up(self):
        """End of input: the gaps nothing filled are given up, in turn."""
        again = True
        while again:
            again = False
            for inst in list(self.inst.values()):
                h = inst.get("gap")
                if h and h["want_to"] is not None:
                    h["given_up_to"] = max(h["given_up_to"], h["want_to"])
                    h["want_to"] = None
                    self.itch_release(inst["src"], inst)
                    again = True

    def itch_apply(self, src, p):
        """A MoldUDP64 datagram of an itch50 source.  A producer is a session; the first
        copy of each sequence number is applied (whichever port it came by), later
        copies are duplicates; a sequence beyond every one seen before (data, heartbeat
        or end of session) counts the messages skipped as gaps.  Every applied message
        goes through the directory and the book; the selected types become records."""
        if len(p) < 20:
            return self.itch_count("mold_truncated")
        session = bytes(p[:10])
        seq, count = struct.unpack_from(">QH", p, 10)
        n = 0 if count == 0xFFFF else count
        blocks, off = [], 20
        for _ in range(n):
            if len(p) - off < 2:
                return self.itch_count("mold_overrun")
            ml = struct.unpack_from(">H", p, off)[0]
            off += 2
            if len(p) - off < ml:
                return self.itch_count("mold_overrun")
            blocks.append(bytes(p[off: off + ml]))
            off += ml
        if off != len(p):
            return self.itch_count("mold_trailing")
        ik = (src.name, "mold", session)
        inst = self.inst.get(ik)
        if inst is not None and inst["ended"]:
            if count == 0xFFFF:          # the end of session repeated (A/B) is no news
                return
            if seq + n <= inst["exp"]:   # the other feed's copy, behind the end
                self.c["seq_duplicates"] += n
                return
            return self.drop("after_eos")
        if inst is None:
            inst = self.inst[ik] = {"exp": seq, "start": seq, "applied": set(), "maxt": None, "ended": False,
                                    "src": src}
        if seq > inst["exp"]:
            self.c["seq_gaps"] += seq - inst["exp"]
        inst["exp"] = max(inst["exp"], seq + n)
        recs = []
        for i, m in enumerate(blocks):
            q = seq + i
            if q < inst["start"] or q in inst["applied"]:
                self.c["seq_duplicates"] += 1
                continue
            inst["applied"].add(q)
            if not m:
                self.itch_count("msg_empty")
                continue
            t = chr(m[0])
            if t not in ITCH_LEN:
                self.itch_count("msg_skipped")
                continue
            if len(m) != ITCH_LEN[t]:
                self.itch_count("msg_short" if len(m) < ITCH_LEN[t] else "msg_long")
                continue
            ev, unknown = src.itch.event(m)
            self.itch_c["unknown_ref"] += unknown
            if t not in src.events:
                continue
            key = ev["locate"] if src.key_locate or not ev["stock"] else ev["stock"]
            recs.append((src.day_start + be(m, 5, 6), key, tuple(ev[f] for f, _ in src.fields)))
        self.batch(src, inst, recs, count == 0xFFFF)

    def itch_count(self, reason):
        self.itch_c[reason] += 1

    def line(self, src, p, sender):
        """A datagram of a line source: a producer is a sender (address, port), which
        never ends; each line is a record or a counted drop."""
        ik = (src.name, "line", sender)
        inst = self.inst.get(ik)
        if inst is None:
            inst = self.inst[ik] = {"maxt": None, "ended": False, "src": src, "line": True}
        recs = []
        for e in LineProto(p, src.prec).entries():
            r = e.error or self.line_record(src, e)
            if isinstance(r, str):
                self.line_c[r] += 1
            else:
                recs.append(r)
        self.batch(src, inst, recs, False)

    def line_record(self, src, e):
        """A well-formed line under the source's schema: (t, key, vals), or the reason
        it is not an event (checked in lineproto.h's order)."""
        if src.measurement is not None and e.measurement != src.measurement:
            return "lp_other_measurement"
        tags = sorted(e.tags, key=lambda kv: kv[0])
        if len(set(k for k, _ in tags)) != len(tags):
            return "lp_duplicate_tag"
        if len(tags) > LP_MAX_TAGS:
            return "lp_too_many_tags"
        if src.tags:
            have = dict(tags)
            if any(k not in have for k in src.tags):
                return "lp_missing_tag"
            tags = [(k, have[k]) for k in src.tags]
        fields = {}
        for k, kind, v in e.fields:       # a field given twice: the last one counts
            fields[k] = (kind, v)
        if any(n.encode() not in fields for n, _ in src.fields):
            return "lp_missing_field"
        vals = []
        for n, typ in src.fields:
            kind, v = fields[n.encode()]
            if typ == "f64" and kind == "float":
                vals.append(v)
            elif typ == "f64" and kind in ("int", "uint") and int(float(v)) == v:
                vals.append(float(v))
            elif typ == "i64" and (kind == "int" or kind == "uint" and v <= I64_MAX):
                vals.append(v)
            elif typ == "u64" and (kind == "uint" or kind == "int" and v >= 0):
                vals.append(v)
            else:
                return "lp_field_type"
        t = e.time
        if t is None:
            t = self.line_arrival - self.line_arrival % src.prec
        if not -LIM <= t <= LIM:
            return "lp_time_range"
        if e.time is None:
            self.line_c["no_timestamp"] += 1
        return (t, lp_key(e.measurement, tags), tuple(vals))

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
            # the earliest overlapping session takes the record and the others (with
            # firings on the watermark only it is the one that may have fired: a fired
            # session keeps its start, semantics.md); with emit = update any may have
            # fired: a fired one merged away, or whose start moves back, is retracted
            # first (docs/sql.md), and the survivor keeps its own revision count
            over.sort(key=lambda w: w.start)
            tgt = over[0]
            assert q.emit == "update" or not any(w.fired for w in over[1:])
            for w in over[1:]:
                if w.fired:
                    retract(q, key, w)
                tgt.recs.extend(w.recs)
                tgt.end = max(tgt.end, w.end)
                ss.remove(w)
            tgt.recs.append(rec)
            if t < tgt.start:
                if tgt.fired:
                    retract(q, key, tgt)
                tgt.start = t
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
            if w.dirty and q.wm >= w.end and q.emit == "watermark":
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
        self.itch_give_up()
        # end of input (exit_on_eos): once every producer that can end (not a line
        # sender) has ended, the capture's end ends the line senders too: every
        # remaining window fires
        if all(i["ended"] for i in self.inst.values() if not i.get("line")):
            for q in self.queries:
                q.wm = INF
                self.fire_complete(q)
        return self

    def stats(self):
        tot = dict(self.c)
        tot["bad_packets"] = dict(self.bad)
        tot["late_dropped"] = sum(q.late for q in self.queries)
        tot["results_emitted"] = sum(q.results for q in self.queries)
        itch = [s.itch for s in self.sources.values() if s.format == "itch50"]
        if itch:
            tot["itch"] = dict(self.itch_c)
            tot["order_book"] = {"live": sum(len(x.book) for x in itch),
                                 "high_water": sum(x.high_water for x in itch),
                                 "table_full": sum(x.table_full for x in itch)}
        if any(s.format == "line" for s in self.sources.values()):
            tot["line"] = dict(self.line_c)
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
