#!/usr/bin/env python3
"""Card-fraud rules against the labels of `weir-gen --fraud`: a model of the rules, a
threshold sweep, and precision/recall of any rule's alerts.

    fraud_eval.py LABELS ALERTS.jsonl...          # evaluate alerts (weir's or the model's)
    fraud_eval.py LABELS --simulate OUTDIR [--config weir.ini | rule options]
    fraud_eval.py LABELS --sweep                   # candidate thresholds, measured

LABELS is the labels CSV that `weir-gen --fraud-labels FILE` wrote, or its directory
(fraud_sim.json there names it).  compromised_terminals.csv and fraud_sim.json (the
simulation's parameters: period, report delay) are read from the same directory.

The three rules (examples/fraud/weir.ini), one per handbook scenario:
  1 big_amount        SELECT ... WHERE kind = 0 AND amount > A             one alert per transaction
  2 terminal_reports  reports (kind 1) per terminal, HOP(event_time, SLIDE, SIZE) HAVING COUNT(*) >= N
  3 spend_spike       kind 0, AVG(amount) and COUNT(*) OVER (PARTITION BY customer ORDER BY
                      event_time RANGE BETWEEN INTERVAL R PRECEDING AND CURRENT ROW),
                      HAVING amount > F * AVG(amount) [AND COUNT(*) >= M]

The model (--simulate) computes exactly what weir's semantics give for an in-order stream
(../shared/semantics.md): hopping windows aligned to the epoch, every [k*slide, k*slide+size)
that holds t, every window fires (at the latest at end of input) once, revision 0; the OVER
range of an event is the earlier transactions of its customer with t' >= t - R, and the
event itself.  It writes OUTDIR/<query>.jsonl in weir's alert format and OUTDIR/model.json
(parameters, and `ties`: the spend_spike events whose comparison is an exact tie in real
arithmetic, where weir's f64 evaluation decides and may differ from the model's).

Evaluation (how each alert counts):
  transaction rules (alerts carry tx_id): true positive when the transaction is a fraud (any
    scenario); precision = TP / alerted transactions; recall = TP / all frauds, and recall of
    the rule's own scenario = its alerted frauds of that scenario / that scenario's frauds.
  terminal rule (alerts carry window_start/window_end; the terminal is `terminal`, else `key`):
    a report in [ws, we) is the chargeback of a fraud at [ws - D, we - D) (D = report delay).
    The alert is true when the terminal was compromised at some time in [ws - D, we): either
    the reports that raised it can come from the compromise, or the terminal is compromised
    while the window is open.  For the handbook's 28-day compromises [from, from + 28 d)
    that is: from in (ws - D - 28 d, we).  (A compromise that began exactly ws - D - 28 d
    ago ended D before ws: none of its reports can be in the window, so the bound is open.)
    Recall: terminals with a true alert / compromised terminals with at least one
    transaction while compromised (the denominator keeps compromises whose reports all fall
    after the period; recall_reportable leaves them out: the terminals whose first fraud is
    reported within the period, and of those the ones with a true alert).
  combined (transactions): caught when rule 1 or 3 alerted it, or a rule-2 alert on its
    terminal has window_end <= its time < window_end + --flag-for (the alert fires once the
    watermark passes window_end; the flag then holds for --flag-for, by default 1 day: until
    the next daily window closes, which re-raises it while reports keep coming).

--json prints the same numbers as one JSON object.
"""
import argparse
import bisect
import collections
import configparser
import fractions
import json
import os
import re
import sys

DAY = 86400 * 10**9
UNITS = {"SECOND": 10**9, "MINUTE": 60 * 10**9, "HOUR": 3600 * 10**9, "DAY": DAY}
TARGET = {"big_amount": 1, "terminal_reports": 2, "spend_spike": 3}


def duration(s):
    """7d, 36h, 600s, 90m, or a number of days."""
    m = re.fullmatch(r"\s*([0-9.]+)\s*([smhd]?)\s*", s)
    if not m:
        raise argparse.ArgumentTypeError("expected a duration such as 7d, 12h, 600s")
    unit = {"s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9, "d": DAY, "": DAY}[m.group(2)]
    return int(fractions.Fraction(m.group(1)) * unit)


# ---------------------------------------------------------------- labels

class Labels:
    def __init__(self, path):
        d = path if os.path.isdir(path) else os.path.dirname(os.path.abspath(path))
        meta_path = os.path.join(d, "fraud_sim.json")
        if not os.path.exists(meta_path):
            sys.exit("fraud_eval: %s: missing (written by weir-gen --fraud-labels)" % meta_path)
        with open(meta_path) as f:
            self.meta = json.load(f)
        csv_path = os.path.join(d, self.meta["labels"]) if os.path.isdir(path) else path
        self.delay = self.meta["delay_ns"]
        self.end = self.meta["end_ns"]
        self.t, self.cust, self.term, self.cents, self.fraud, self.scen = [], [], [], [], [], []
        with open(csv_path) as f:
            head = f.readline().strip()
            if head != "tx_id,event_time_ns,customer,terminal,amount,fraud,scenario":
                sys.exit("fraud_eval: %s: not a weir-gen --fraud labels file" % csv_path)
            for n, line in enumerate(f):
                i, t, c, term, a, fr, sc = line.split(",")
                if int(i) != n:
                    sys.exit("fraud_eval: %s: tx_id %s on data line %d" % (csv_path, i, n + 1))
                whole, cents = a.split(".")
                self.t.append(int(t))
                self.cust.append(int(c))
                self.term.append(int(term))
                self.cents.append(int(whole) * 100 + int(cents))
                self.fraud.append(int(fr))
                self.scen.append(int(sc))
        self.n = len(self.t)
        self.comp_terms = collections.defaultdict(list)      # terminal -> [(from, to)]
        with open(os.path.join(d, "compromised_terminals.csv")) as f:
            f.readline()
            for line in f:
                term, a, b = map(int, line.split(","))
                self.comp_terms[term].append((a, b))

    def reports(self):
        """(time, tx_id) of every report weir-gen sent, in stream order."""
        return [(self.t[i] + self.delay, i) for i in range(self.n)
                if self.fraud[i] and self.t[i] + self.delay < self.end]


# ---------------------------------------------------------------- rules

class Rules:
    """The three rules' parameters; names are the queries' (and the alert files')."""

    def __init__(self):
        self.names = ["big_amount", "terminal_reports", "spend_spike"]
        self.amount = fractions.Fraction(220)          # rule 1: amount > A
        self.size, self.slide, self.min_reports = 7 * DAY, DAY, 3    # rule 2
        self.range = 30 * DAY                          # rule 3
        self.factor = "3"                              # as written in the SQL
        self.min_count = 0

    def describe(self):
        return {"big_amount": {"name": self.names[0], "amount_gt": str(self.amount)},
                "terminal_reports": {"name": self.names[1], "size_ns": self.size, "slide_ns": self.slide,
                                     "min_reports": self.min_reports},
                "spend_spike": {"name": self.names[2], "range_ns": self.range, "factor": self.factor,
                                "min_count": self.min_count}}

    def from_config(self, path):
        """Read the thresholds from the three queries' SQL (the example's shapes)."""
        cp = configparser.ConfigParser(interpolation=None, strict=False)
        with open(path) as f:
            cp.read_file(f)
        found = set()
        iv = r"INTERVAL\s*'(\d+)'\s*(SECOND|MINUTE|HOUR|DAY)S?"
        for sec in cp.sections():
            if not sec.startswith("query ") or "sql" not in cp[sec]:
                continue
            name, sql = sec[6:].strip(), " ".join(cp[sec]["sql"].split())
            if re.search(r"\bHOP\s*\(", sql, re.I):
                m = re.search(r"HOP\s*\(\s*event_time\s*,\s*" + iv + r"\s*,\s*" + iv + r"\s*\)", sql, re.I)
                h = re.search(r"HAVING\s+COUNT\s*\(\s*\*\s*\)\s*>=\s*(\d+)", sql, re.I)
                if not m or not h or not re.search(r"kind\s*=\s*1", sql):
                    sys.exit("fraud_eval: %s: [query %s]: not the terminal_reports shape" % (path, name))
                self.slide = int(m.group(1)) * UNITS[m.group(2).upper()]
                self.size = int(m.group(3)) * UNITS[m.group(4).upper()]
                self.min_reports = int(h.group(1))
                self.names[1] = name
                found.add(2)
            elif re.search(r"\bOVER\b", sql, re.I):
                r = re.search(r"RANGE\s+BETWEEN\s+" + iv + r"\s+PRECEDING\s+AND\s+CURRENT\s+ROW", sql, re.I)
                h = re.search(r"HAVING\s+amount\s*>\s*([0-9.]+)\s*\*\s*AVG\s*\(\s*amount\s*\)", sql, re.I)
                c = re.search(r"AND\s+COUNT\s*\(\s*\*\s*\)\s*OVER\s*\w+\s*>=\s*(\d+)", sql, re.I)
                if not r or not h or not re.search(r"kind\s*=\s*0", sql):
                    sys.exit("fraud_eval: %s: [query %s]: not the spend_spike shape" % (path, name))
                self.range = int(r.group(1)) * UNITS[r.group(2).upper()]
                self.factor = h.group(1)
                self.min_count = int(c.group(1)) if c else 0
                self.names[2] = name
                found.add(3)
            else:
                m = re.search(r"WHERE\s+kind\s*=\s*0\s+AND\s+amount\s*>\s*([0-9.]+)\s*$", sql, re.I)
                if not m:
                    sys.exit("fraud_eval: %s: [query %s]: not the big_amount shape" % (path, name))
                self.amount = fractions.Fraction(m.group(1))
                self.names[0] = name
                found.add(1)
        if found != {1, 2, 3}:
            sys.exit("fraud_eval: %s: expected the three rules' queries, found rules %s" % (path, sorted(found)))


def simulate(lab, rules):
    """The three rules over the stream weir-gen sent: {query: [alert]}, ties."""
    n1, n2, n3 = rules.names
    out = {n1: [], n2: [], n3: []}
    amt_cents = rules.amount * 100
    for i in range(lab.n):
        if lab.cents[i] > amt_cents:
            out[n1].append({"query": n1, "key": lab.cust[i], "event_time": lab.t[i], "tx_id": i,
                            "customer": lab.cust[i], "terminal": lab.term[i], "amount": lab.cents[i] / 100})
    counts = collections.Counter()
    for t, i in lab.reports():
        k = t // rules.slide
        while k * rules.slide + rules.size > t:
            counts[(lab.term[i], k * rules.slide)] += 1
            k -= 1
    for (term, ws), c in sorted(counts.items(), key=lambda x: (x[0][1], x[0][0])):
        if c >= rules.min_reports:
            out[n2].append({"query": n2, "key": term, "window_start": ws, "window_end": ws + rules.size,
                            "revision": 0, "terminal": term, "reports": c})
    f = fractions.Fraction(rules.factor)
    ff = float(rules.factor) if "." in rules.factor else float(int(rules.factor))
    buf = collections.defaultdict(collections.deque)     # customer -> (t, cents), arrival order
    sums = collections.Counter()
    ties = []
    for i in range(lab.n):                   # transactions arrive in tx_id order
        c, t, a = lab.cust[i], lab.t[i], lab.cents[i]
        q = buf[c]
        while q and q[0][0] < t - rules.range:
            sums[c] -= q.popleft()[1]
        q.append((t, a))
        sums[c] += a
        n, s = len(q), sums[c]
        if n < rules.min_count:
            continue
        lhs, rhs = a * n * f.denominator, f.numerator * s
        if lhs < rhs:
            continue
        fsum = 0.0                           # weir's f64: plain addition in buffer order
        for _, x in q:
            fsum += x / 100
        avg = fsum / n
        if lhs == rhs:
            ties.append(i)
            if not a / 100 > ff * avg:
                continue
        out[n3].append({"query": n3, "key": c, "event_time": t, "tx_id": i, "customer": c, "amount": a / 100,
                        "avg30": avg, "n30": n})
    return out, ties


# ---------------------------------------------------------------- evaluation

def load_alerts(paths):
    by_query = collections.defaultdict(list)
    for p in paths:
        with open(p) as f:
            for line in f:
                if line.strip():
                    r = json.loads(line)
                    by_query[r["query"]].append(r)
    return by_query


def ratio(a, b):
    return a / b if b else None


def compromised_with_tx(lab):
    """{terminal: time of its first transaction while compromised} (the recall's denominator)."""
    term_txs = collections.defaultdict(list)
    for i in range(lab.n):
        if lab.term[i] in lab.comp_terms:
            term_txs[lab.term[i]].append(lab.t[i])
    hit = {}
    for term, periods in lab.comp_terms.items():
        ts = term_txs.get(term, [])
        first = []
        for a, b in periods:
            k = bisect.bisect_left(ts, a)
            if k < len(ts) and ts[k] < b:
                first.append(ts[k])
        if first:
            hit[term] = min(first)
    return hit


def eval_terminal(lab, alerts, hit_terms, flags=None):
    """A terminal rule's alerts, judged as the module's docstring says."""
    reportable = {t for t, t0 in hit_terms.items() if t0 + lab.delay < lab.end}
    seen, tp, fp, caught = set(), 0, 0, {}
    for r in alerts:
        term = r.get("terminal", r["key"])
        ws, we = r["window_start"], r["window_end"]
        if (term, ws) in seen:
            continue
        seen.add((term, ws))
        # compromised at some time in [ws - D, we): [a, b) meets it
        if any(a < we and b > ws - lab.delay for a, b in lab.comp_terms.get(term, ())):
            tp += 1
            if term in hit_terms:
                caught[term] = min(caught.get(term, we), we)
        else:
            fp += 1
        if flags is not None:
            flags[term].append(we)
    first = sorted(we - max(a for a, b in lab.comp_terms[t] if a < we) for t, we in caught.items())
    return {"kind": "terminal", "alerts": len(alerts), "distinct": len(seen),
            "tp": tp, "fp": fp, "precision": ratio(tp, tp + fp),
            "compromised_terminals": len(hit_terms), "reportable": len(reportable),
            "terminals_caught": len(caught), "recall": ratio(len(caught), len(hit_terms)),
            "recall_reportable": ratio(len(reportable & caught.keys()), len(reportable)),
            "median_days_to_first_alert": first[len(first) // 2] / DAY if first else None}


def evaluate(lab, by_query, targets, flag_for):
    res = {"labels": {"transactions": lab.n, "frauds": sum(lab.fraud),
                      "by_scenario": {str(s): lab.scen.count(s) for s in (1, 2, 3)}},
           "rules": {}}
    frauds = res["labels"]["frauds"]
    scen_total = res["labels"]["by_scenario"]
    alerted_tx = set()
    flags = collections.defaultdict(list)     # terminal -> [window_end] of rule-2 alerts
    hit_terms = compromised_with_tx(lab)
    for q, alerts in sorted(by_query.items()):
        target = targets.get(q)
        if "window_start" in alerts[0]:
            res["rules"][q] = eval_terminal(lab, alerts, hit_terms, flags)
            res["rules"][q]["target_scenario"] = 2 if target is None else target
        else:
            ids = set()
            for r in alerts:
                i = r["tx_id"]
                if not 0 <= i < lab.n:
                    sys.exit("fraud_eval: query %s: tx_id %d is not in the labels" % (q, i))
                ids.add(i)
            tp = sum(lab.fraud[i] for i in ids)
            by_scen = collections.Counter(lab.scen[i] for i in ids if lab.fraud[i])
            res["rules"][q] = {
                "kind": "transaction", "target_scenario": target, "alerts": len(alerts), "distinct": len(ids),
                "tp": tp, "fp": len(ids) - tp, "precision": ratio(tp, len(ids)), "recall": ratio(tp, frauds),
                "recall_target": ratio(by_scen[target], scen_total[str(target)]) if target else None,
                "tp_by_scenario": {str(s): by_scen[s] for s in (1, 2, 3)}}
            alerted_tx |= ids
    for term in flags:
        flags[term].sort()
    caught = set(alerted_tx)
    for i in range(lab.n):
        ends = flags.get(lab.term[i])
        if ends:
            k = bisect.bisect_right(ends, lab.t[i])
            if k and lab.t[i] < ends[k - 1] + flag_for:
                caught.add(i)
    tp = sum(lab.fraud[i] for i in caught)
    by_scen = collections.Counter(lab.scen[i] for i in caught if lab.fraud[i])
    res["combined"] = {"caught": len(caught), "tp": tp, "fp": len(caught) - tp,
                       "precision": ratio(tp, len(caught)), "recall": ratio(tp, frauds),
                       "flag_for_ns": flag_for,
                       "recall_by_scenario": {str(s): ratio(by_scen[s], scen_total[str(s)]) for s in (1, 2, 3)}}
    return res


def pct(x):
    return "   -  " if x is None else "%6.2f%%" % (100 * x)


def print_eval(res):
    lb = res["labels"]
    print("labels: %d transactions, %d frauds (%.3f %%): scenario 1 %s, 2 %s, 3 %s" % (
        lb["transactions"], lb["frauds"], 100 * lb["frauds"] / max(lb["transactions"], 1),
        lb["by_scenario"]["1"], lb["by_scenario"]["2"], lb["by_scenario"]["3"]))
    for q, r in res["rules"].items():
        if r["kind"] == "none":
            continue
        if r["kind"] == "transaction":
            print("%-18s transactions: %7d alerts, TP %7d, FP %7d, precision %s, recall %s (scenario %s: %s)" % (
                q, r["distinct"], r["tp"], r["fp"], pct(r["precision"]), pct(r["recall"]),
                r["target_scenario"], pct(r["recall_target"])))
        else:
            md = r["median_days_to_first_alert"]
            print("%-18s terminals: %7d alerts (terminal, window), TP %6d, FP %6d, precision %s, recall %s "
                  "(%d of %d compromised terminals; of the %d reportable: %s), median %s days to the first alert" % (
                      q, r["distinct"], r["tp"], r["fp"], pct(r["precision"]), pct(r["recall"]),
                      r["terminals_caught"], r["compromised_terminals"], r["reportable"],
                      pct(r["recall_reportable"]), "-" if md is None else "%.1f" % md))
    c = res["combined"]
    rs = c["recall_by_scenario"]
    print("%-18s transactions: %7d caught, TP %7d, FP %7d, precision %s, recall %s "
          "(scenario 1 %s, 2 %s, 3 %s; terminal flags held %.3g days)" % (
              "combined", c["caught"], c["tp"], c["fp"], pct(c["precision"]), pct(c["recall"]),
              pct(rs["1"]), pct(rs["2"]), pct(rs["3"]), c["flag_for_ns"] / DAY))


# ---------------------------------------------------------------- sweep

def sweep(lab, as_json):
    """Precision/recall of candidate thresholds, per rule (exact integer arithmetic)."""
    frauds = sum(lab.fraud)
    tot = {s: lab.scen.count(s) for s in (1, 2, 3)}
    out = {"rule1": [], "rule2": [], "rule3": []}
    for a in (150, 200, 220, 250, 300):
        ids = [i for i in range(lab.n) if lab.cents[i] > a * 100]
        tp = sum(lab.fraud[i] for i in ids)
        out["rule1"].append({"amount_gt": a, "alerts": len(ids), "precision": ratio(tp, len(ids)),
                             "recall": ratio(tp, frauds),
                             "recall_s1": ratio(sum(1 for i in ids if lab.scen[i] == 1), tot[1])})
    hit_terms = compromised_with_tx(lab)
    per_day = collections.Counter()
    for t, i in lab.reports():
        per_day[(lab.term[i], t // DAY)] += 1
    by_term = collections.defaultdict(dict)
    for (term, d), c in per_day.items():
        by_term[term][d] = c
    for size in (1, 3, 7, 14):
        wins = {}
        for term, days in by_term.items():
            for d in days:
                for k in range(d - size + 1, d + 1):
                    if (term, k) not in wins:
                        wins[(term, k)] = sum(days.get(x, 0) for x in range(k, k + size))
        for m in (1, 2, 3, 4, 5):
            alerts = collections.defaultdict(list)
            for (term, k), c in wins.items():
                if c >= m:
                    alerts[term].append({"query": "r2", "key": term, "window_start": k * DAY,
                                         "window_end": (k + size) * DAY, "revision": 0})
            flat = [r for rs in alerts.values() for r in rs]
            if not flat:
                continue
            r = eval_terminal(lab, flat, hit_terms)
            out["rule2"].append({"size_days": size, "min_reports": m, "alerts": r["distinct"],
                                 "precision": r["precision"], "recall": r["recall"],
                                 "recall_reportable": r["recall_reportable"],
                                 "median_days_to_first_alert": r["median_days_to_first_alert"]})
    for rng in (7, 14, 30, 60):
        stats = []                            # per transaction: (n, sum of cents)
        buf = collections.defaultdict(collections.deque)
        sums = collections.Counter()
        for i in range(lab.n):
            c, t, a = lab.cust[i], lab.t[i], lab.cents[i]
            q = buf[c]
            while q and q[0][0] < t - rng * DAY:
                sums[c] -= q.popleft()[1]
            q.append((t, a))
            sums[c] += a
            stats.append((len(q), sums[c]))
        for fac in ("2", "2.5", "3", "4"):
            f = fractions.Fraction(fac)
            for mc in (0, 5, 10, 20):
                ids = [i for i in range(lab.n) if stats[i][0] >= mc and
                       lab.cents[i] * stats[i][0] * f.denominator > f.numerator * stats[i][1]]
                tp = sum(lab.fraud[i] for i in ids)
                out["rule3"].append({"range_days": rng, "factor": fac, "min_count": mc, "alerts": len(ids),
                                     "precision": ratio(tp, len(ids)), "recall": ratio(tp, frauds),
                                     "recall_s3": ratio(sum(1 for i in ids if lab.scen[i] == 3), tot[3])})
    if as_json:
        json.dump(out, sys.stdout, indent=1)
        print()
        return
    print("rule 1: amount > A")
    for r in out["rule1"]:
        print("  A %4d: %7d alerts, precision %s, recall %s, scenario-1 recall %s" % (
            r["amount_gt"], r["alerts"], pct(r["precision"]), pct(r["recall"]), pct(r["recall_s1"])))
    print("rule 2: reports per terminal, hopping SIZE days / 1 day, COUNT >= N (terminal level)")
    for r in out["rule2"]:
        print("  SIZE %2d N %d: %6d alerts, precision %s, recall %s (reportable %s), median %s days to alert" % (
            r["size_days"], r["min_reports"], r["alerts"], pct(r["precision"]), pct(r["recall"]),
            pct(r["recall_reportable"]),
            "-" if r["median_days_to_first_alert"] is None else "%.1f" % r["median_days_to_first_alert"]))
    print("rule 3: amount > F * AVG(amount) over RANGE days (current included), COUNT >= M")
    for r in out["rule3"]:
        print("  RANGE %2d F %-3s M %2d: %7d alerts, precision %s, recall %s, scenario-3 recall %s" % (
            r["range_days"], r["factor"], r["min_count"], r["alerts"], pct(r["precision"]), pct(r["recall"]),
            pct(r["recall_s3"])))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("labels", help="labels CSV of weir-gen --fraud-labels, or its directory")
    ap.add_argument("alerts", nargs="*", help="alert files (JSON Lines) to evaluate")
    ap.add_argument("--simulate", metavar="OUTDIR", help="run the rules' model, write OUTDIR/<query>.jsonl")
    ap.add_argument("--sweep", action="store_true", help="precision/recall of candidate thresholds")
    ap.add_argument("--config", help="read the rules' names and thresholds from this weir config's SQL")
    ap.add_argument("--amount", type=fractions.Fraction, help="rule 1: amount > A (220)")
    ap.add_argument("--hop-size", type=duration, help="rule 2: window size (7d)")
    ap.add_argument("--hop-slide", type=duration, help="rule 2: window slide (1d)")
    ap.add_argument("--min-reports", type=int, help="rule 2: reports per window, at least (3)")
    ap.add_argument("--range", type=duration, help="rule 3: OVER range (30d)")
    ap.add_argument("--factor", help="rule 3: amount > F * AVG(amount) (3)")
    ap.add_argument("--min-count", type=int, help="rule 3: COUNT(*) over the range, at least (0)")
    ap.add_argument("--target", action="append", default=[], metavar="QUERY=SCENARIO",
                    help="the scenario a query targets (defaults: big_amount=1, terminal_reports=2, spend_spike=3)")
    ap.add_argument("--flag-for", type=duration, default=DAY,
                    help="combined view: a rule-2 alert flags its terminal for this long after window_end (1d)")
    ap.add_argument("--json", action="store_true", help="machine-readable output")
    a = ap.parse_args()

    lab = Labels(a.labels)
    if a.sweep:
        sweep(lab, a.json)
        return 0
    rules = Rules()
    if a.config:
        rules.from_config(a.config)
    for opt, attr in (("amount", "amount"), ("hop_size", "size"), ("hop_slide", "slide"),
                      ("min_reports", "min_reports"), ("range", "range"), ("factor", "factor"),
                      ("min_count", "min_count")):
        if getattr(a, opt) is not None:
            setattr(rules, attr, getattr(a, opt))
    targets = dict(TARGET)
    targets.update({rules.names[0]: 1, rules.names[1]: 2, rules.names[2]: 3})
    for t in a.target:
        q, _, s = t.partition("=")
        targets[q] = int(s)
    if a.simulate:
        os.makedirs(a.simulate, exist_ok=True)
        out, ties = simulate(lab, rules)
        for q, alerts in out.items():
            with open(os.path.join(a.simulate, q + ".jsonl"), "w") as f:
                f.writelines(json.dumps(r) + "\n" for r in alerts)
        with open(os.path.join(a.simulate, "model.json"), "w") as f:
            json.dump({"rules": rules.describe(), "alerts": {q: len(v) for q, v in out.items()}, "ties": ties}, f)
            f.write("\n")
        by_query = out
    else:
        if not a.alerts:
            ap.error("give alert files, --simulate OUTDIR or --sweep")
        by_query = load_alerts(a.alerts)
        for q in rules.names:
            by_query.setdefault(q, [])
    res = evaluate(lab, {q: v for q, v in by_query.items() if v}, targets, a.flag_for)
    for q in by_query:
        if not by_query[q]:
            res["rules"][q] = {"kind": "none", "alerts": 0}
    if a.simulate:
        res["model"] = {"rules": rules.describe(), "ties": len(ties)}
    if a.json:
        json.dump(res, sys.stdout, indent=1)
        print()
    else:
        print_eval(res)
        for q, r in res["rules"].items():
            if r["kind"] == "none":
                print("%-18s no alerts" % q)
        if a.simulate:
            print("model: %s; %d spend_spike ties" % (json.dumps(rules.describe()), len(ties)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
