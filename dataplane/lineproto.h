/* SPDX-License-Identifier: Apache-2.0
 * InfluxDB line protocol: a zero-copy parser over a datagram, and the mapping of a
 * line to a weir event (event time, key, value fields) under a source's schema.
 *
 * Pure functions over (pointer, length): no DPDK types, no allocation, no locks.
 * Grammar, escapes and value ranges are those of the reference parser,
 * github.com/influxdata/line-protocol v2 (Go package lineprotocol), and every case
 * of its corpus agrees (tests/dataplane/test_lineproto.c).  In short:
 *
 *   datagram = entries separated by LF or CR LF; blank lines, lines of spaces and
 *              comment lines ('#' after optional spaces) are skipped
 *   entry    = measurement {"," tagkey "=" tagval} " "+ field {"," field} [" "+ time] " "*
 *   field    = key "=" ( float | int "i" | uint "u" | '"' string '"' | bool )
 *
 * - measurement: any bytes but space, comma and controls (0x00-0x1f, 0x7f); "\ " and
 *   "\," are escapes; it may not start with '#'.  Tag keys, tag values and field keys:
 *   the same without '=', and "\=" escapes too.  A backslash before any other byte
 *   stays as it is (so "\\ " is a backslash and an escaped space).  All of them and
 *   string values must be valid UTF-8.
 * - string values: any bytes (LF too: an entry may span lines) but an unescaped '"';
 *   escapes \\ \" \n \r \t.
 * - float: Go's ParseFloat syntax: [-] digits [. digits] [e|E [+-] digits], ".5", "5.",
 *   hex "0x1.8p3", '_' between digits; correctly rounded; beyond the double range
 *   (inf) is an error, underflow is not.  int: [-] decimal digits, in int64.  uint:
 *   decimal digits, in uint64.  bool: t T true True TRUE f F false False FALSE.
 * - time: [-] digits, an int64 in the precision's unit that must still fit in int64 ns.
 *
 * A bad entry ends at the first LF at or after the point where the error was found
 * (the reference's recovery, down to its quirk: junk where a timestamp should be is
 * dropped up to a CR or LF, and a lone CR there starts another, bad, entry), so every
 * entry of a datagram is judged on its own.  The reference's corpus decodes a datagram
 * all or nothing (and also rejects a repeated tag key); weir_lp_validate gives that
 * verdict.  An RX core, per datagram:
 *
 *	weir_lp_init(&ps, payload, len);
 *	while (weir_lp_next(&ps)) {
 *		int r = weir_lp_decode_line(&schema, &ps, arrival_ns, &ev);
 *		if (r == WEIR_LP_BAD_MAX)
 *			... ev.time, ev.key, ev.v[], ev.has_time ...
 *		else
 *			counter[r]++;
 *	}
 *
 * Measured cost (bench/micro/bench_line.c, release build, one core of a 2-vCPU AMD
 * EPYC VM): ~155 ns per telegraf cpu line of 105 bytes (2 tags, 3 floats, ns time),
 * 6.5 M lines/s at 8 lines per datagram; 160 ns with 17-digit floats.
 */
#ifndef WEIR_LINEPROTO_H
#define WEIR_LINEPROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Why a line is not an event, in check order: the first five are grammar and value
 * errors (the reference rejects such a line; the first one found in the line names
 * it), the rest are checks of weir_lp_decode_line on a well-formed line, made in the
 * order listed.  Names are stable: they are exported in stats. */
#define WEIR_LP_BAD_REASONS(X)                                                             \
	X(lp_syntax,            "line does not follow the line protocol grammar")           \
	X(lp_bad_utf8,          "measurement, tag, field key or string is not valid UTF-8") \
	X(lp_bad_value,         "field value is not a well-formed number or boolean")       \
	X(lp_value_range,       "int beyond int64, uint beyond uint64, float beyond double") \
	X(lp_bad_time,          "timestamp beyond int64 ns at the source's precision")      \
	X(lp_other_measurement, "measurement is not the source's (not bad: counted apart)") \
	X(lp_duplicate_tag,     "the same tag key twice on one line")                       \
	X(lp_too_many_tags,     "more than WEIR_LP_MAX_TAGS tags on one line")              \
	X(lp_missing_tag,       "a key tag of the source is absent from the line")          \
	X(lp_missing_field,     "a declared field is absent from the line")                 \
	X(lp_field_type,        "a declared field's value does not fit the field's type")   \
	X(lp_time_range,        "timestamp beyond +-2^62 ns")

enum weir_lp_bad {
#define X(n, d) WEIR_BAD_##n,
	WEIR_LP_BAD_REASONS(X)
#undef X
	WEIR_LP_BAD_MAX
};
#define WEIR_LP_GRAMMAR_MAX  WEIR_BAD_lp_other_measurement  /* reasons below: grammar/value */

extern const char *const weir_lp_bad_name[WEIR_LP_BAD_MAX];
extern const char *const weir_lp_bad_desc[WEIR_LP_BAD_MAX];

/* Timestamp precision: the unit of the integer a line carries. */
enum weir_lp_prec { WEIR_LP_NS = 0, WEIR_LP_US, WEIR_LP_MS, WEIR_LP_S };
extern const int64_t weir_lp_prec_ns[4];            /* 1, 1e3, 1e6, 1e9 */

/* "ns", "us" (or "µs"), "ms", "s": the precision, or -1. */
int weir_lp_parse_prec(const char *s);

/* ---- tokens and values -------------------------------------------------------------- */

/* Escape rules a token was written with (what weir_lp_unescape undoes). */
enum { WEIR_LP_ESC_NONE = 0, WEIR_LP_ESC_MEAS, WEIR_LP_ESC_KEY, WEIR_LP_ESC_STR };

/* A slice of the datagram: valid while the datagram is.  esc == WEIR_LP_ESC_NONE
 * when the raw bytes are the value (no escape in them): the common case, compared
 * and hashed in place. */
struct weir_lp_tok {
	const char *p;
	uint32_t len;                /* raw bytes */
	uint8_t esc;                 /* WEIR_LP_ESC_* */
};

enum weir_lp_vtype { WEIR_LP_FLOAT = 0, WEIR_LP_INT, WEIR_LP_UINT, WEIR_LP_BOOL, WEIR_LP_STRING };

struct weir_lp_value {
	uint8_t type;                /* enum weir_lp_vtype */
	union {
		double f;
		int64_t i;
		uint64_t u;
		bool b;
	} v;
	struct weir_lp_tok s;        /* WEIR_LP_STRING: the bytes between the quotes */
};

/* Unescape t into buf (at most cap bytes, no NUL added).  Returns the unescaped
 * length, which may exceed cap (then only cap bytes were written). */
size_t weir_lp_unescape(const struct weir_lp_tok *t, char *buf, size_t cap);
/* Order of the unescaped bytes (memcmp order, a prefix first): <0, 0, >0. */
int weir_lp_tok_cmp(const struct weir_lp_tok *a, const struct weir_lp_tok *b);
/* Whether t unescapes to the n bytes at s. */
bool weir_lp_tok_eq(const struct weir_lp_tok *t, const char *s, size_t n);

/* ---- the parser: entries of one datagram, each read section by section -------------- */

struct weir_lp_parser {
	const uint8_t *p;            /* next byte to read */
	const uint8_t *end;
	const uint8_t *entry;        /* first byte of the current entry */
	const uint8_t *err_at;       /* where its error was found */
	uint8_t sect;                /* private: the section read next */
	uint8_t err;                 /* the entry's error (enum weir_lp_bad), WEIR_LP_BAD_MAX: none */
};

/* Start on a datagram of len bytes (< 4 GiB), which must stay unchanged meanwhile. */
void weir_lp_init(struct weir_lp_parser *ps, const void *buf, size_t len);

/* Move to the next entry: skips what is left of the current one (and, after an error,
 * the rest of its line), then blank and comment lines.  False at the end.  Always
 * advances: an entry holds at least one byte. */
bool weir_lp_next(struct weir_lp_parser *ps);

/* The sections of the current entry, in order.  Calling a later one skips (and
 * checks) the earlier ones.  Each returns -1 once the entry has an error: ps->err
 * names it, and the entry yields nothing more.
 *   weir_lp_measurement: 0, or -1 (also when the measurement was read already);
 *   weir_lp_tag, weir_lp_field: 1 with the next one, 0 when there are no more, -1;
 *   weir_lp_time: 1 with the timestamp times the precision in *ns, 0 when the entry
 *   has none (*ns untouched), -1.  After it the entry is complete. */
int weir_lp_measurement(struct weir_lp_parser *ps, struct weir_lp_tok *name);
int weir_lp_tag(struct weir_lp_parser *ps, struct weir_lp_tok *key, struct weir_lp_tok *val);
int weir_lp_field(struct weir_lp_parser *ps, struct weir_lp_tok *key, struct weir_lp_value *val);
int weir_lp_time(struct weir_lp_parser *ps, enum weir_lp_prec prec, int64_t *ns);
/* Read (and check) the rest of the current entry: 0, or -1 (ps->err). */
int weir_lp_finish(struct weir_lp_parser *ps);

/* The time of an entry without one: now rounded down to the precision (as the
 * reference does with its default time). */
int64_t weir_lp_default_time(int64_t now_ns, enum weir_lp_prec prec);

/* The reference's verdict on a whole datagram: WEIR_LP_BAD_MAX if every entry is
 * well formed and none repeats a tag key, else the first entry's reason
 * (lp_duplicate_tag for a repeated key) and, when err_at is not NULL, where.  Slow
 * path (tests, tools): the duplicate check is quadratic in the tags of a line. */
int weir_lp_validate(const void *buf, size_t len, enum weir_lp_prec prec, const char **err_at);

/* ---- lines as weir events ----------------------------------------------------------- */

#define WEIR_LP_MAX_TAGS      64   /* tags on one line (all are sorted: key, duplicates) */
#define WEIR_LP_MAX_KEY_TAGS  16   /* tags of a configured key */

/* The key of a line is XXH3-64 (xxHash >= 0.8, seed 0: the same on every host and
 * release) of the unescaped bytes
 *     measurement 0x00 { tagkey 0x01 tagvalue 0x00 }
 * for the key's tags in increasing byte order of tag key (every tag of the line, or
 * the configured ones); 0x00 and 0x01 never occur in a name.  weir_lp_key_hash hashes
 * such bytes (for tools and key maps built outside the dataplane). */
uint64_t weir_lp_key_hash(const void *p, size_t n);

struct weir_lp_name {
	uint16_t len;
	char s[WEIR_NAME_MAX];
};

/* Built once at config load (weir_lp_schema_*), read-only afterwards. */
struct weir_lp_schema {
	struct weir_lp_name measurement;       /* len 0: lines of any measurement */
	int ntags;                             /* 0: the key takes every tag of a line */
	struct weir_lp_name tag[WEIR_LP_MAX_KEY_TAGS];   /* sorted */
	int nfields;
	struct weir_lp_name field[WEIR_MAX_FIELDS];
	uint8_t field_type[WEIR_MAX_FIELDS];   /* enum weir_ftype */
	uint8_t prec;                          /* enum weir_lp_prec */
};

/* An empty schema (any measurement, every tag, no field) of precision prec. */
void weir_lp_schema_init(struct weir_lp_schema *s, enum weir_lp_prec prec);
/* Only lines of this measurement are events.  0, or -EINVAL (empty, longer than
 * WEIR_NAME_MAX - 1, a control byte, bad UTF-8, a leading '#': no line can match). */
int weir_lp_schema_measurement(struct weir_lp_schema *s, const char *name);
/* Add a tag to the key (then only the configured tags form it, and a line must carry
 * them all).  0, -EINVAL (as above), -EEXIST, -ENOSPC. */
int weir_lp_schema_key_tag(struct weir_lp_schema *s, const char *name);
/* Declare the next value field: its index (0, 1, ...: the event's v[]), or -EINVAL,
 * -EEXIST, -ENOSPC. */
int weir_lp_schema_field(struct weir_lp_schema *s, const char *name, enum weir_ftype type);

struct weir_lp_event {
	int64_t time;                /* ns */
	uint64_t key;
	bool has_time;               /* false: the line had no timestamp (time = arrival) */
	uint64_t v[WEIR_MAX_FIELDS]; /* field i as weir holds it: i64 two's complement,
					u64, f64 IEEE-754 bits */
};

/* Decode the current entry of ps (after weir_lp_next returned true) into *ev under s.
 * Returns WEIR_LP_BAD_MAX for an event, else the reason (enum weir_lp_bad); either
 * way the entry is read to its end.
 *
 * - Undeclared fields are ignored (but still checked: a line the reference rejects is
 *   never an event).  A field that appears twice: the last one counts.
 * - Field types (else lp_field_type): f64 takes a float, or an int/uint whose value a
 *   double holds exactly; i64 takes an int, or a uint up to INT64_MAX; u64 takes a
 *   uint, or an int >= 0.  A float never goes into i64/u64 (in line protocol "12" is a
 *   float, "12i" an int); booleans and strings go into no field.
 * - No timestamp: time = weir_lp_default_time(arrival_ns, precision), has_time false.
 * - Only a well-formed line gets a schema reason; lp_other_measurement comes before
 *   the others (such a line is read, not sorted nor matched). */
int weir_lp_decode_line(const struct weir_lp_schema *s, struct weir_lp_parser *ps,
			int64_t arrival_ns, struct weir_lp_event *ev);

#ifdef __cplusplus
}
#endif
#endif
