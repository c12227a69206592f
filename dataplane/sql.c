/* SPDX-License-Identifier: Apache-2.0
 * The SQL front end (see sql.h): PostgreSQL's parser (libpg_query) gives the parse
 * tree as JSON; this module checks it against weir's subset and the source's fields
 * and compiles it into a weir_query_cfg with expression programs. */
#include "sql.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <pg_query.h>

#include "expr.h"

/* where a column reference is being compiled */
enum ctx {
	C_RECORD,       /* WHERE, aggregate inputs: the record's fields, key, event_time */
	C_WINDOW,       /* result of a windowed query: aggregates, the group key, bounds */
	C_OVER,         /* result of an OVER query: aggregates OVER the range, the event's fields */
	C_SELECT,       /* result of a plain SELECT: the event's fields */
};

/* an expression being compiled: its code, then appended to the query's */
struct frag {
	struct weir_insn c[WEIR_QCODE_MAX];
	unsigned n;
	bool overflow;
};

struct cx {
	const struct weir_config *cfg;
	struct weir_query_cfg *q;
	const struct weir_source_cfg *s;
	struct weir_sql_err *err;
	const char *text;
	bool failed;
	/* the group / partition key: a field index, -1 the record's key, -2 none */
	int key_field;
	const char *key_name;           /* the column named in GROUP BY / PARTITION BY */
	/* OVER: the one window every aggregate uses */
	bool have_over;
	int over_key;
	int64_t over_range;
	const cJSON *window_clause;
	int nout_expr;                  /* columns without a name so far (EXPR$n) */
	int emit_at;                    /* where EMIT ... was (-1: none) */
};

/* ---- errors ---------------------------------------------------------------------------- */

static int
fail(struct cx *c, int loc, const char *hint, const char *fmt, ...)
{
	va_list ap;

	if (c->failed)
		return -1;
	c->failed = true;
	c->err->pos = loc < 0 ? 0 : (unsigned)loc;
	va_start(ap, fmt);
	vsnprintf(c->err->msg, sizeof(c->err->msg), fmt, ap);
	va_end(ap);
	snprintf(c->err->hint, sizeof(c->err->hint), "%s", hint ? hint : "");
	return -1;
}

void
weir_sql_token(const char *text, unsigned pos, char *buf, size_t n)
{
	size_t len = strlen(text), i = pos < len ? pos : len, j = i;

	if (!n)
		return;
	if (i < len && (isalnum((unsigned char)text[i]) || text[i] == '_' || text[i] == '$')) {
		while (j < len && (isalnum((unsigned char)text[j]) || text[j] == '_' || text[j] == '$'))
			j++;
	} else if (i < len && text[i] == '\'') {
		j = i + 1;
		while (j < len && text[j] != '\'')
			j++;
		if (j < len)
			j++;
	} else if (i < len) {
		static const char *const two[] = { "<=", ">=", "<>", "!=", "||", "::" };
		j = i + 1;
		for (size_t k = 0; k < sizeof(two) / sizeof(two[0]); k++)
			if (!strncmp(text + i, two[k], 2))
				j = i + 2;
	}
	if (j - i >= n)
		j = i + n - 1;
	memcpy(buf, text + i, j - i);
	buf[j - i] = '\0';
}

/* ---- the parse tree (JSON) ------------------------------------------------------------------- */

/* {"Kind": {...}}: the kind and its body */
static const char *
kind(const cJSON *n, const cJSON **body)
{
	if (!cJSON_IsObject(n) || !n->child) {
		*body = NULL;
		return "";
	}
	*body = n->child;
	return n->child->string;
}

static int
loc(const cJSON *body)
{
	const cJSON *l = cJSON_GetObjectItemCaseSensitive(body, "location");
	return cJSON_IsNumber(l) ? l->valueint : -1;
}

static const cJSON *
item(const cJSON *o, const char *k)
{
	return cJSON_GetObjectItemCaseSensitive(o, k);
}

/* a String node's text: {"String":{"sval":"x"}} */
static const char *
sval(const cJSON *n)
{
	const cJSON *b;
	if (strcmp(kind(n, &b), "String"))
		return NULL;
	const cJSON *s = item(b, "sval");
	return cJSON_IsString(s) ? s->valuestring : "";
}

/* the last name of a dotted list (funcname, ColumnRef fields, type names) */
static const char *
last_name(const cJSON *list)
{
	const cJSON *x, *l = NULL;
	cJSON_ArrayForEach(x, list)
		l = x;
	return l ? sval(l) : NULL;
}

/* ColumnRef: its single name, or NULL (a.b, *) */
static const char *
column_name(const cJSON *body)
{
	const cJSON *f = item(body, "fields");
	if (cJSON_GetArraySize(f) != 1)
		return NULL;
	return sval(cJSON_GetArrayItem(f, 0));
}

/* the record's key: `key`, or the source's key_name */
static bool
key_col(const struct weir_source_cfg *s, const char *name)
{
	return !strcasecmp(name, "key") || (s->key_name[0] && !strcasecmp(name, s->key_name));
}

static int
find_field(const struct weir_source_cfg *s, const char *name)
{
	for (int i = 0; i < s->nfields; i++)
		if (!strcasecmp(s->field_name[i], name))
			return i;
	return -1;
}

/* ---- intervals ------------------------------------------------------------------------------- */

/* "1.5" or "250 milliseconds" / "5s" / "2 hours"; unit_ns from the qualifier, 0 none */
static int
interval_text(const char *t, int64_t unit_ns, int64_t *ns)
{
	static const struct { const char *u; int64_t ns; } units[] = {
		{ "ns", 1 }, { "nanosecond", 1 }, { "nanoseconds", 1 },
		{ "us", 1000 }, { "microsecond", 1000 }, { "microseconds", 1000 },
		{ "ms", 1000000 }, { "millisecond", 1000000 }, { "milliseconds", 1000000 },
		{ "s", 1000000000 }, { "sec", 1000000000 }, { "second", 1000000000 }, { "seconds", 1000000000 },
		{ "m", INT64_C(60000000000) }, { "min", INT64_C(60000000000) }, { "minute", INT64_C(60000000000) },
		{ "minutes", INT64_C(60000000000) }, { "h", INT64_C(3600000000000) }, { "hour", INT64_C(3600000000000) },
		{ "hours", INT64_C(3600000000000) }, { "d", INT64_C(86400000000000) }, { "day", INT64_C(86400000000000) },
		{ "days", INT64_C(86400000000000) },
	};
	const char *end;
	unsigned __int128 ip = 0, frac = 0, scale = 1;
	int nd = 0;

	/* digits[.digits], exactly (4.1 s is 4100000000 ns, which 4.1 * 1e9 in doubles is not) */
	while (isspace((unsigned char)*t))
		t++;
	if (!isdigit((unsigned char)*t) && *t != '.')
		return -1;
	for (end = t; isdigit((unsigned char)*end); end++) {
		ip = ip * 10 + (unsigned)(*end - '0');
		if (ip > (unsigned __int128)WEIR_DUR_MAX)
			return -1;
		nd++;
	}
	if (*end == '.')
		for (end++; isdigit((unsigned char)*end); end++) {
			if (scale < (unsigned __int128)UINT64_MAX) {
				frac = frac * 10 + (unsigned)(*end - '0');
				scale *= 10;
			} else if (*end != '0') {
				return -1;              /* finer than a nanosecond, surely */
			}
			nd++;
		}
	if (!nd)
		return -1;
	while (isspace((unsigned char)*end))
		end++;
	if (*end) {
		size_t l = strlen(end);
		while (l && isspace((unsigned char)end[l - 1]))
			l--;
		if (unit_ns)
			return -1;
		for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
			if (strlen(units[i].u) == l && !strncasecmp(end, units[i].u, l))
				unit_ns = units[i].ns;
		if (!unit_ns)
			return -1;
	} else if (!unit_ns) {
		return -1;
	}
	unsigned __int128 x = ip * (unsigned __int128)unit_ns, fx = frac * (unsigned __int128)unit_ns;
	if (fx % scale)
		return -1;                      /* not a whole number of nanoseconds */
	x += fx / scale;
	if (x > (unsigned __int128)WEIR_DUR_MAX)
		return -1;
	*ns = (int64_t)x;
	return 0;
}

/* INTERVAL '1' SECOND and friends (a TypeCast to interval); > 0 */
static int
interval(struct cx *c, const cJSON *n, int64_t *ns, const char *what)
{
	static const char hint[] = "write a duration as INTERVAL '1' SECOND, INTERVAL '250' MILLISECOND or "
				   "INTERVAL '1.5 seconds' (units: DAY, HOUR, MINUTE, SECOND, MILLISECOND, "
				   "MICROSECOND, NANOSECOND)";
	const cJSON *b, *ab;
	const char *k = kind(n, &b);
	int at = loc(b);

	if (strcmp(k, "TypeCast"))
		return fail(c, at, hint, "%s must be an INTERVAL", what);
	const cJSON *tn = item(item(b, "typeName"), "names");
	const char *type = last_name(tn);
	at = loc(item(b, "typeName"));
	if (!type || strcmp(type, "interval"))
		return fail(c, at, hint, "%s must be an INTERVAL", what);
	const cJSON *arg = item(b, "arg");
	if (strcmp(kind(arg, &ab), "A_Const") || !cJSON_IsString(item(item(ab, "sval"), "sval")))
		return fail(c, at, hint, "%s: the INTERVAL's value must be a quoted number", what);
	const char *t = item(item(ab, "sval"), "sval")->valuestring;
	int64_t unit = 0;
	const cJSON *mods = item(item(b, "typeName"), "typmods");
	if (cJSON_GetArraySize(mods) >= 1) {
		const cJSON *mb;
		kind(cJSON_GetArrayItem(mods, 0), &mb);
		const cJSON *iv = item(item(mb, "ival"), "ival");
		long mask = cJSON_IsNumber(iv) ? (long)iv->valuedouble : 0;
		switch (mask) {                 /* PostgreSQL's INTERVAL_MASK bits */
		case 1L << 3:  unit = INT64_C(86400000000000); break;  /* DAY */
		case 1L << 10: unit = INT64_C(3600000000000); break;   /* HOUR */
		case 1L << 11: unit = INT64_C(60000000000); break;     /* MINUTE */
		case 1L << 12: unit = 1000000000; break;               /* SECOND */
		default:
			return fail(c, at, hint, "%s: only DAY, HOUR, MINUTE or SECOND intervals (a fixed length)", what);
		}
		if (cJSON_GetArraySize(mods) > 1)
			return fail(c, at, hint, "%s: an interval precision is not supported", what);
	}
	if (interval_text(t, unit, ns) || *ns <= 0)
		return fail(c, loc(ab), hint, "%s: '%s' is not a positive duration", what, t);
	return 0;
}

/* ---- expressions ------------------------------------------------------------------------------- */

struct val {                        /* what a compiled operand left on the stack */
	uint8_t type;               /* enum weir_ftype */
	bool boolean;
	bool is_const;              /* a single CONST instruction (retyped freely) */
	bool is_null;
};

static int
emit(struct cx *c, struct frag *f, uint8_t op, uint8_t type, uint16_t arg, uint64_t k, int at)
{
	if (f->n == WEIR_QCODE_MAX)
		return fail(c, at, "split the query", "expression too long (at most %d operations in a query)",
			    WEIR_QCODE_MAX);
	f->c[f->n++] = (struct weir_insn){ op, type, arg, at < 0 ? 0 : (uint32_t)at, k };
	return 0;
}

/* insert a conversion right after the operand that ends at `at_end` */
static int
convert_at(struct cx *c, struct frag *f, unsigned at_end, struct val *v, uint8_t to, int at)
{
	uint8_t op;

	if (v->type == to)
		return 0;
	if (v->is_const && !v->is_null) {       /* retype the constant itself */
		struct weir_insn *k = &f->c[at_end - 1];
		double d;
		if (to == WEIR_F_F64) {
			d = v->type == WEIR_F_I64 ? (double)(int64_t)k->k : (double)k->k;
			memcpy(&k->k, &d, 8);
		} else if (to == WEIR_F_U64 && v->type == WEIR_F_I64 && (int64_t)k->k < 0) {
			goto code;
		} else if (to == WEIR_F_I64 && v->type == WEIR_F_U64 && k->k > INT64_MAX) {
			goto code;
		} else if (v->type == WEIR_F_F64) {
			goto code;
		}
		k->type = to;
		v->type = to;
		return 0;
	}
code:
	if (to == WEIR_F_F64)
		op = v->type == WEIR_F_I64 ? WEIR_X_I2F : WEIR_X_U2F;
	else if (to == WEIR_F_I64)
		op = v->type == WEIR_F_U64 ? WEIR_X_U2I : WEIR_X_F2I;
	else if (v->type == WEIR_F_I64)
		op = WEIR_X_I2U;
	else
		return fail(c, at, "CAST it to BIGINT first", "cannot use a DOUBLE as an unsigned integer");
	if (f->n == WEIR_QCODE_MAX)
		return emit(c, f, 0, 0, 0, 0, at);
	memmove(&f->c[at_end + 1], &f->c[at_end], (f->n - at_end) * sizeof(f->c[0]));
	f->c[at_end] = (struct weir_insn){ op, to, 0, at < 0 ? 0 : (uint32_t)at, 0 };
	f->n++;
	v->type = to;
	v->is_const = false;
	return 0;
}

/* the type two numeric operands meet in */
static uint8_t
unify(const struct val *a, const struct val *b)
{
	if (a->type == WEIR_F_F64 || b->type == WEIR_F_F64)
		return WEIR_F_F64;
	if (a->type == WEIR_F_U64 && b->type == WEIR_F_U64)
		return WEIR_F_U64;
	if (a->type == WEIR_F_U64 && b->is_const)
		return WEIR_F_U64;
	if (b->type == WEIR_F_U64 && a->is_const)
		return WEIR_F_U64;
	return WEIR_F_I64;
}

static int expr(struct cx *c, struct frag *f, const cJSON *n, enum ctx ctx, struct val *v);

static int
expr_bool(struct cx *c, struct frag *f, const cJSON *n, enum ctx ctx, const char *what)
{
	struct val v;
	const cJSON *b;

	kind(n, &b);
	if (expr(c, f, n, ctx, &v))
		return -1;
	if (!v.boolean && !v.is_null)
		return fail(c, loc(b), "compare it, e.g. amount > 0", "%s must be a condition (true or false)", what);
	return 0;
}

static const char *const agg_fn_name[] = {
	[WEIR_AGG_COUNT] = "count", [WEIR_AGG_SUM] = "sum", [WEIR_AGG_MIN] = "min", [WEIR_AGG_MAX] = "max",
	[WEIR_AGG_AVG] = "avg", [WEIR_AGG_FIRST] = "first", [WEIR_AGG_LAST] = "last", [WEIR_AGG_CUR] = "",
	[WEIR_AGG_DISTINCT] = "count_distinct",
};

static int
agg_fn(const char *name)
{
	static const struct { const char *n; int fn; } t[] = {
		{ "count", WEIR_AGG_COUNT }, { "sum", WEIR_AGG_SUM }, { "min", WEIR_AGG_MIN }, { "max", WEIR_AGG_MAX },
		{ "avg", WEIR_AGG_AVG }, { "first_value", WEIR_AGG_FIRST }, { "last_value", WEIR_AGG_LAST },
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (!strcmp(t[i].n, name))
			return t[i].fn;
	return -1;
}

static bool
same_code(const struct weir_insn *a, const struct weir_insn *b, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		if (a[i].op != b[i].op || a[i].type != b[i].type || a[i].arg != b[i].arg || a[i].k != b[i].k)
			return false;
	return true;
}

/* append f to the query's code as one expression */
static int
finish(struct cx *c, const struct frag *f, const struct val *v, struct weir_expr *e, int at)
{
	struct weir_query_cfg *q = c->q;

	if (q->ncode + f->n > WEIR_QCODE_MAX)
		return fail(c, at, "split the query", "the query's expressions are too long (at most %d operations)",
			    WEIR_QCODE_MAX);
	memcpy(&q->code[q->ncode], f->c, f->n * sizeof(f->c[0]));
	*e = (struct weir_expr){ (uint16_t)q->ncode, (uint16_t)f->n, v->type, v->boolean };
	q->ncode += (int)f->n;
	if (weir_expr_check(q->code, e, 64) < 0)
		return fail(c, at, "write it as a few simpler columns", "expression too deep or malformed");
	return 0;
}

/* The aggregate slot of fn over record expression arg (NULL: COUNT(*)), added once. */
static int
agg_slot(struct cx *c, int fn, const cJSON *arg, int at, uint8_t *type)
{
	struct weir_query_cfg *q = c->q;
	const struct weir_source_cfg *s = c->s;
	int field = -1;
	uint8_t ftype = WEIR_F_I64;

	if (arg) {
		const cJSON *ab;
		const char *k = kind(arg, &ab);
		const char *cn = !strcmp(k, "ColumnRef") ? column_name(ab) : NULL;
		int fi = cn ? find_field(s, cn) : -1;
		if (fi >= 0) {
			field = fi;
			ftype = s->field_type[fi];
		} else {
			struct frag *f = calloc(1, sizeof(*f));
			struct val v;
			if (!f)
				return fail(c, at, NULL, "out of memory");
			if (expr(c, f, arg, C_RECORD, &v)) {
				free(f);
				return -1;
			}
			if (v.is_null) {
				free(f);
				return fail(c, loc(ab), NULL, "an aggregate of NULL");
			}
			ftype = v.type;
			int d;
			for (d = 0; d < q->nderived; d++)
				if (q->derived[d].len == f->n && same_code(&q->code[q->derived[d].off], f->c, f->n))
					break;
			if (d == q->nderived) {
				if (q->nderived == WEIR_MAX_DERIVED) {
					free(f);
					return fail(c, loc(ab), NULL, "more than %d computed aggregate inputs", WEIR_MAX_DERIVED);
				}
				if (finish(c, f, &v, &q->derived[q->nderived], loc(ab))) {
					free(f);
					return -1;
				}
				q->nderived++;
			}
			free(f);
			field = s->nfields + d;
		}
	}
	if (fn == WEIR_AGG_COUNT)
		field = -1;
	for (int a = 0; a < q->naggs; a++)
		if (q->aggs[a].fn == fn && q->aggs[a].field == field) {
			*type = fn == WEIR_AGG_AVG ? WEIR_F_F64 : fn == WEIR_AGG_COUNT || fn == WEIR_AGG_DISTINCT ?
				WEIR_F_I64 : q->aggs[a].type;
			return a;
		}
	if (q->naggs == WEIR_MAX_AGGS)
		return fail(c, at, NULL, "more than %d aggregates and fields in a query", WEIR_MAX_AGGS);
	if (fn == WEIR_AGG_DISTINCT) {
		int nd = 0;
		for (int a = 0; a < q->naggs; a++)
			nd += q->aggs[a].fn == WEIR_AGG_DISTINCT;
		if (nd == WEIR_MAX_DISTINCT)
			return fail(c, at, NULL, "more than %d COUNT(DISTINCT ...) in a query", WEIR_MAX_DISTINCT);
	}
	struct weir_agg_cfg *g = &q->aggs[q->naggs];
	g->fn = (uint8_t)fn;
	g->field = (int8_t)field;
	g->type = fn == WEIR_AGG_COUNT ? WEIR_F_U64 : ftype;
	if (fn == WEIR_AGG_COUNT)
		snprintf(g->name, sizeof(g->name), "count");
	else if (fn == WEIR_AGG_CUR)
		snprintf(g->name, sizeof(g->name), "%s", s->field_name[field]);
	else if (field < s->nfields)
		snprintf(g->name, sizeof(g->name), "%s_%s", agg_fn_name[fn], s->field_name[field]);
	else
		snprintf(g->name, sizeof(g->name), "%s_expr%d", agg_fn_name[fn], field - s->nfields);
	*type = fn == WEIR_AGG_AVG ? WEIR_F_F64 : fn == WEIR_AGG_COUNT || fn == WEIR_AGG_DISTINCT ? WEIR_F_I64 : ftype;
	return q->naggs++;
}

/* An OVER clause: the query's one window (the first sets it, the others must match). */
static int
over_spec(struct cx *c, const cJSON *over, int at)
{
	const cJSON *def = over;
	const char *ref = NULL;
	static const char hint[] = "OVER (PARTITION BY col ORDER BY event_time RANGE BETWEEN INTERVAL '60' SECOND "
				   "PRECEDING AND CURRENT ROW)";

	if (cJSON_IsString(item(over, "name")))
		ref = item(over, "name")->valuestring;
	else if (cJSON_IsString(item(over, "refname")))
		ref = item(over, "refname")->valuestring;
	if (ref) {
		const cJSON *w, *wb;
		def = NULL;
		cJSON_ArrayForEach(w, c->window_clause) {
			kind(w, &wb);
			if (cJSON_IsString(item(wb, "name")) && !strcmp(item(wb, "name")->valuestring, ref))
				def = wb;
		}
		if (!def)
			return fail(c, at, "define it: WINDOW w AS (PARTITION BY ...)", "no window named '%s'", ref);
		if (item(over, "partitionClause") || item(over, "orderClause"))
			return fail(c, at, hint, "a window that refines another is not supported");
	}
	at = loc(def) >= 0 ? loc(def) : at;
	/* PARTITION BY one column */
	const cJSON *pc = item(def, "partitionClause"), *pb;
	int key = -1;
	const char *kname = "key";
	if (cJSON_GetArraySize(pc) > 1)
		return fail(c, at, "partition by one column", "PARTITION BY more than one column is not supported");
	if (cJSON_GetArraySize(pc) == 1) {
		const cJSON *p = cJSON_GetArrayItem(pc, 0);
		const char *cn = !strcmp(kind(p, &pb), "ColumnRef") ? column_name(pb) : NULL;
		if (!cn)
			return fail(c, loc(pb), hint, "PARTITION BY takes a column");
		if (!key_col(c->s, cn)) {
			key = find_field(c->s, cn);
			if (key < 0)
				return fail(c, loc(pb), NULL, "source '%s' has no field '%s'", c->s->name, cn);
			if (c->s->field_type[key] == WEIR_F_F64)
				return fail(c, loc(pb), "partition by an integer field", "cannot partition by DOUBLE field '%s'",
					    cn);
			kname = c->s->field_name[key];
		}
	} else {
		key = -2;
		kname = NULL;
	}
	/* ORDER BY event_time */
	const cJSON *oc = item(def, "orderClause"), *ob, *nb;
	if (cJSON_GetArraySize(oc) != 1)
		return fail(c, at, hint, "an OVER window needs ORDER BY event_time");
	kind(cJSON_GetArrayItem(oc, 0), &ob);
	const cJSON *sn = item(ob, "node");
	const char *on = !strcmp(kind(sn, &nb), "ColumnRef") ? column_name(nb) : NULL;
	if (!on || strcasecmp(on, "event_time"))
		return fail(c, loc(nb), hint, "OVER windows are ordered by event_time");
	if (cJSON_IsString(item(ob, "sortby_dir")) && !strcmp(item(ob, "sortby_dir")->valuestring, "SORTBY_DESC"))
		return fail(c, loc(nb), hint, "ORDER BY event_time DESC is not supported");
	/* RANGE BETWEEN INTERVAL ... PRECEDING AND CURRENT ROW */
	const cJSON *fo = item(def, "frameOptions");
	long opts = cJSON_IsNumber(fo) ? (long)fo->valuedouble : 0;
	enum { NONDEF = 0x1, RANGE = 0x2, START_OFF_PREC = 0x800, END_CUR = 0x400 };
	if (!(opts & NONDEF) || !(opts & RANGE) || !(opts & START_OFF_PREC) || !(opts & END_CUR) ||
	    (opts & ~(long)(NONDEF | RANGE | START_OFF_PREC | END_CUR | 0x10 /* BETWEEN */)))
		return fail(c, at, hint, "only RANGE BETWEEN INTERVAL ... PRECEDING AND CURRENT ROW frames are supported");
	int64_t range;
	if (interval(c, item(def, "startOffset"), &range, "the RANGE"))
		return -1;
	if (!c->have_over) {
		c->have_over = true;
		c->over_key = key;
		c->over_range = range;
		c->key_name = kname;
	} else if (c->over_key != key || c->over_range != range) {
		return fail(c, at, "use one window for every aggregate of the query",
			    "every OVER of a query must be the same window");
	}
	return 0;
}

static int
func(struct cx *c, struct frag *f, const cJSON *b, enum ctx ctx, struct val *v)
{
	const char *name = last_name(item(b, "funcname"));
	const cJSON *args = item(b, "args");
	int nargs = cJSON_GetArraySize(args), at = loc(b), fn;
	bool star = cJSON_IsTrue(item(b, "agg_star"));

	if (!name)
		return fail(c, at, NULL, "unsupported function");
	if ((fn = agg_fn(name)) >= 0) {
		const cJSON *over = item(b, "over");
		if (ctx == C_RECORD)
			return fail(c, at, "aggregates go in the SELECT list or HAVING",
				    "aggregate %s() is not allowed here", name);
		if (cJSON_IsTrue(item(b, "agg_distinct"))) {
			if (fn != WEIR_AGG_COUNT)
				return fail(c, at, "COUNT(DISTINCT x) is the one distinct aggregate",
					    "%s(DISTINCT ...) is not supported", name);
			if (ctx == C_OVER)
				return fail(c, at, "count distinct values in a window: GROUP BY ..., HOP(...)",
					    "COUNT(DISTINCT ...) OVER is not supported");
			if (ctx == C_WINDOW)
				fn = WEIR_AGG_DISTINCT;
		}
		if (item(b, "agg_filter") || item(b, "agg_order"))
			return fail(c, at, "filter in WHERE instead", "aggregate FILTER / ORDER BY is not supported");
		if (ctx == C_SELECT)
			return fail(c, at, "GROUP BY a window (TUMBLE, HOP, SESSION), or use OVER (...)",
				    "aggregate %s() needs GROUP BY or OVER", name);
		if (ctx == C_WINDOW && over)
			return fail(c, at, "an OVER query has no GROUP BY", "OVER cannot be used with GROUP BY");
		if (ctx == C_OVER) {
			if (!over)
				return fail(c, at, "add OVER (PARTITION BY ... ORDER BY event_time RANGE ...)",
					    "aggregate %s() without OVER in a query with OVER windows", name);
			if (over_spec(c, over, at))
				return -1;
		}
		if (star ? fn != WEIR_AGG_COUNT || nargs : nargs != 1)
			return fail(c, at, NULL, "%s() takes %s", name, fn == WEIR_AGG_COUNT ? "* or one argument" :
				    "one argument");
		uint8_t type;
		int a = agg_slot(c, star ? WEIR_AGG_COUNT : fn, star ? NULL : cJSON_GetArrayItem(args, 0), at, &type);
		if (a < 0)
			return -1;
		*v = (struct val){ type, false, false, false };
		return emit(c, f, WEIR_X_SLOT, type, (uint16_t)a, 0, at);
	}
	if (item(b, "over"))
		return fail(c, at, "OVER takes COUNT, SUM, MIN, MAX, AVG, FIRST_VALUE or LAST_VALUE",
			    "window function %s() is not supported", name);
	/* window bounds */
	static const struct { const char *n; uint8_t win; bool end; } bounds[] = {
		{ "tumble_start", WEIR_WIN_TUMBLING, false }, { "tumble_end", WEIR_WIN_TUMBLING, true },
		{ "hop_start", WEIR_WIN_HOPPING, false }, { "hop_end", WEIR_WIN_HOPPING, true },
		{ "session_start", WEIR_WIN_SESSION, false }, { "session_end", WEIR_WIN_SESSION, true },
	};
	for (size_t i = 0; i < sizeof(bounds) / sizeof(bounds[0]); i++) {
		if (strcmp(name, bounds[i].n))
			continue;
		if (ctx != C_WINDOW || c->q->window != bounds[i].win)
			return fail(c, at, NULL, "%s() needs GROUP BY %.*s(...)", name,
				    (int)(strchr(name, '_') - name), name);
		*v = (struct val){ WEIR_F_I64, false, false, false };
		return emit(c, f, bounds[i].end ? WEIR_X_END : WEIR_X_TIME, WEIR_F_I64, 0, 0, at);
	}
	if (!strcmp(name, "abs") && nargs == 1) {
		if (expr(c, f, cJSON_GetArrayItem(args, 0), ctx, v))
			return -1;
		if (v->boolean)
			return fail(c, at, NULL, "abs() of a condition");
		v->is_const = false;
		return emit(c, f, WEIR_X_ABS, v->type, 0, 0, at);
	}
	if (!strcmp(name, "tumble") || !strcmp(name, "hop") || !strcmp(name, "session"))
		return fail(c, at, "window functions go in GROUP BY", "%s() belongs in GROUP BY", name);
	if (!strcmp(name, "symbol"))
		return fail(c, at, "SYMBOL(x) is a whole SELECT column", "SYMBOL() cannot be used in an expression");
	return fail(c, at, "functions: aggregates, ABS, CAST, SYMBOL, TUMBLE/HOP/SESSION_START/_END",
		    "unknown function %s()", name);
}

static int
column(struct cx *c, struct frag *f, const cJSON *b, enum ctx ctx, struct val *v)
{
	const char *cn = column_name(b);
	int at = loc(b), fi;

	if (!cn)
		return fail(c, at, "name one field of the source", "qualified names and * are not supported here");
	*v = (struct val){ WEIR_F_I64, false, false, false };
	if (!strcasecmp(cn, "event_time")) {
		if (ctx == C_WINDOW)
			return fail(c, at, "use window_start / window_end, or TUMBLE_START(...)",
				    "event_time of a window result is ambiguous");
		return emit(c, f, ctx == C_RECORD ? WEIR_X_TIME : WEIR_X_END, WEIR_F_I64, 0, 0, at);
	}
	if (ctx == C_WINDOW && (!strcasecmp(cn, "window_start") || !strcasecmp(cn, "window_end")))
		return emit(c, f, !strcasecmp(cn, "window_end") ? WEIR_X_END : WEIR_X_TIME, WEIR_F_I64, 0, 0, at);
	if (ctx == C_RECORD) {
		if (key_col(c->s, cn)) {
			/* (a re-keyed query's records carry their own key beside the query's) */
			v->type = WEIR_F_U64;
			return emit(c, f, WEIR_X_KEY, WEIR_F_U64, 0, 0, at);
		}
		fi = find_field(c->s, cn);
		if (fi < 0)
			return fail(c, at, NULL, "source '%s' has no field '%s'", c->s->name, cn);
		v->type = c->s->field_type[fi];
		return emit(c, f, WEIR_X_SLOT, v->type, (uint16_t)fi, 0, at);
	}
	/* results: the group / partition key */
	if ((c->key_name && !strcasecmp(cn, c->key_name)) || (key_col(c->s, cn) && ctx != C_SELECT &&
							    c->key_field == -1)) {
		int kf = c->key_field;
		v->type = kf >= 0 ? c->s->field_type[kf] : WEIR_F_U64;
		return emit(c, f, WEIR_X_KEY, v->type, 0, 0, at);
	}
	if (ctx == C_WINDOW) {
		if (find_field(c->s, cn) < 0 && !key_col(c->s, cn))
			return fail(c, at, NULL, "source '%s' has no field '%s'", c->s->name, cn);
		return fail(c, at, "GROUP BY it, or aggregate it: SUM(x), MAX(x), ...",
			    "column '%s' must appear in GROUP BY or be used in an aggregate", cn);
	}
	/* OVER / SELECT: the event's own value */
	if (key_col(c->s, cn)) {
		if (ctx == C_OVER && c->key_field != -1)
			return fail(c, at, "carry it in a value field", "the record's key is not kept: the query is "
				    "partitioned by another column");
		v->type = WEIR_F_U64;
		return emit(c, f, WEIR_X_KEY, WEIR_F_U64, 0, 0, at);
	}
	fi = find_field(c->s, cn);
	if (fi < 0)
		return fail(c, at, NULL, "source '%s' has no field '%s'", c->s->name, cn);
	struct weir_query_cfg *q = c->q;
	int a;
	for (a = 0; a < q->naggs; a++)
		if (q->aggs[a].fn == WEIR_AGG_CUR && q->aggs[a].field == fi)
			break;
	if (a == q->naggs) {
		if (q->naggs == WEIR_MAX_AGGS)
			return fail(c, at, NULL, "more than %d aggregates and fields in a query", WEIR_MAX_AGGS);
		q->aggs[a] = (struct weir_agg_cfg){ .fn = WEIR_AGG_CUR, .field = (int8_t)fi, .type = c->s->field_type[fi] };
		snprintf(q->aggs[a].name, sizeof(q->aggs[a].name), "%s", c->s->field_name[fi]);
		q->naggs++;
	}
	v->type = c->s->field_type[fi];
	return emit(c, f, WEIR_X_SLOT, v->type, (uint16_t)a, 0, at);
}

static int
constant(struct cx *c, struct frag *f, const cJSON *b, struct val *v)
{
	int at = loc(b);
	const cJSON *x;

	*v = (struct val){ WEIR_F_I64, false, true, false };
	if ((x = item(b, "isnull")) && cJSON_IsTrue(x)) {
		v->is_null = true;
		v->is_const = false;
		return emit(c, f, WEIR_X_NUL, WEIR_F_I64, 0, 0, at);
	}
	if ((x = item(b, "boolval"))) {
		v->boolean = true;
		v->is_const = false;
		return emit(c, f, WEIR_X_CONST, WEIR_F_I64, 0, cJSON_IsTrue(item(x, "boolval")), at);
	}
	if ((x = item(b, "ival"))) {
		/* (a 32-bit integer; libpg_query 15 leaves 0 and every negative value out of its
		 * JSON, so the number is read from the text at the constant's location, where
		 * the parser put the folded minus sign) */
		const cJSON *i = item(x, "ival");
		int64_t k = 0;
		if (cJSON_IsNumber(i) && i->valuedouble > 0) {
			k = (int64_t)i->valuedouble;
		} else if (at >= 0 && (size_t)at < strlen(c->text)) {
			const char *t = c->text + at;
			bool neg = *t == '-';
			if (neg)                        /* -5, - 5, -(3) */
				for (t++; isspace((unsigned char)*t) || *t == '('; t++)
					;
			if (!isdigit((unsigned char)*t))
				return fail(c, at, NULL, "cannot read this integer constant");
			k = strtoll(t, NULL, 10);
			if (neg)
				k = -k;
		}
		return emit(c, f, WEIR_X_CONST, WEIR_F_I64, 0, (uint64_t)k, at);
	}
	if ((x = item(b, "fval"))) {
		const char *t = cJSON_GetStringValue(item(x, "fval"));
		char *end;
		if (!t)
			return fail(c, at, NULL, "bad number");
		if (!strpbrk(t, ".eE")) {               /* an integer beyond 32 bits */
			errno = 0;
			if (t[0] == '-') {              /* (the parser folds a minus sign in) */
				long long n = strtoll(t, &end, 10);
				if (!errno && !*end)
					return emit(c, f, WEIR_X_CONST, WEIR_F_I64, 0, (uint64_t)n, at);
				return fail(c, at, NULL, "integer %s does not fit 64 bits", t);
			}
			unsigned long long u = strtoull(t, &end, 10);
			if (!errno && !*end) {
				if (u <= INT64_MAX)
					return emit(c, f, WEIR_X_CONST, WEIR_F_I64, 0, u, at);
				v->type = WEIR_F_U64;
				return emit(c, f, WEIR_X_CONST, WEIR_F_U64, 0, u, at);
			}
			return fail(c, at, NULL, "integer %s does not fit 64 bits", t);
		}
		double d = strtod(t, &end);
		uint64_t k;
		memcpy(&k, &d, 8);
		v->type = WEIR_F_F64;
		return emit(c, f, WEIR_X_CONST, WEIR_F_F64, 0, k, at);
	}
	if (item(b, "sval"))
		return fail(c, at, "fields are numbers: compare with a number",
			    "text constants are not supported");
	return fail(c, at, NULL, "unsupported constant");
}

static int
binary(struct cx *c, struct frag *f, const char *op, const cJSON *l, const cJSON *r, int at, enum ctx ctx,
       struct val *v)
{
	static const struct { const char *s; uint8_t op; bool cmp; } ops[] = {
		{ "+", WEIR_X_ADD, false }, { "-", WEIR_X_SUB, false }, { "*", WEIR_X_MUL, false },
		{ "/", WEIR_X_DIV, false }, { "%", WEIR_X_MOD, false }, { "=", WEIR_X_EQ, true },
		{ "<>", WEIR_X_NE, true }, { "!=", WEIR_X_NE, true }, { "<", WEIR_X_LT, true },
		{ "<=", WEIR_X_LE, true }, { ">", WEIR_X_GT, true }, { ">=", WEIR_X_GE, true },
	};
	size_t i;
	struct val a, b;
	unsigned mid;

	for (i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
		if (!strcmp(ops[i].s, op))
			break;
	if (i == sizeof(ops) / sizeof(ops[0]))
		return fail(c, at, "operators: + - * / % = <> < <= > >= AND OR NOT IN BETWEEN",
			    "operator %s is not supported", op);
	if (!l) {                                  /* unary */
		if (expr(c, f, r, ctx, v))
			return -1;
		if (v->boolean)
			return fail(c, at, "use NOT", "%s of a condition", op);
		if (ops[i].op == WEIR_X_ADD)
			return 0;
		if (ops[i].op != WEIR_X_SUB)
			return fail(c, at, NULL, "unary %s is not supported", op);
		if (v->type == WEIR_F_U64 && convert_at(c, f, f->n, v, WEIR_F_I64, at))
			return -1;
		v->is_const = false;
		return emit(c, f, WEIR_X_NEG, v->type, 0, 0, at);
	}
	if (expr(c, f, l, ctx, &a))
		return -1;
	mid = f->n;
	if (expr(c, f, r, ctx, &b))
		return -1;
	if ((a.boolean || b.boolean) && !(ops[i].cmp && a.boolean && b.boolean &&
					  (ops[i].op == WEIR_X_EQ || ops[i].op == WEIR_X_NE)))
		return fail(c, at, "combine conditions with AND / OR", "operator %s on a condition", op);
	uint8_t t = unify(&a, &b);
	if (convert_at(c, f, mid, &a, t, at))
		return -1;
	if (convert_at(c, f, f->n, &b, t, at))
		return -1;
	*v = (struct val){ ops[i].cmp ? WEIR_F_I64 : t, ops[i].cmp, false, a.is_null || b.is_null };
	return emit(c, f, ops[i].op, ops[i].cmp ? WEIR_F_I64 : t, ops[i].cmp ? t : 0, 0, at);
}

/* x IN (a, b, ...) as x = a OR x = b ...; NOT IN as x <> a AND ... */
static int
in_list(struct cx *c, struct frag *f, const cJSON *b, enum ctx ctx, struct val *v, bool neg)
{
	const cJSON *lst, *x;
	int at = loc(b), n = 0;

	if (strcmp(kind(item(b, "rexpr"), &lst), "List"))
		return fail(c, at, "list the values: x IN (1, 2, 3)", "IN takes a list of values");
	cJSON_ArrayForEach(x, item(lst, "items")) {
		if (binary(c, f, neg ? "<>" : "=", item(b, "lexpr"), x, at, ctx, v))
			return -1;
		if (n++ && emit(c, f, neg ? WEIR_X_AND : WEIR_X_OR, WEIR_F_I64, 0, 0, at))
			return -1;
	}
	*v = (struct val){ WEIR_F_I64, true, false, false };
	return 0;
}

static int
expr(struct cx *c, struct frag *f, const cJSON *n, enum ctx ctx, struct val *v)
{
	const cJSON *b;
	const char *k = kind(n, &b);
	int at = loc(b);

	if (c->failed)
		return -1;
	if (!strcmp(k, "ColumnRef"))
		return column(c, f, b, ctx, v);
	if (!strcmp(k, "A_Const"))
		return constant(c, f, b, v);
	if (!strcmp(k, "FuncCall"))
		return func(c, f, b, ctx, v);
	if (!strcmp(k, "BoolExpr")) {
		const char *op = cJSON_GetStringValue(item(b, "boolop"));
		const cJSON *x;
		int i = 0;
		cJSON_ArrayForEach(x, item(b, "args")) {
			if (expr_bool(c, f, x, ctx, "an operand of AND / OR / NOT"))
				return -1;
			if (op && !strcmp(op, "NOT_EXPR")) {
				if (emit(c, f, WEIR_X_NOT, WEIR_F_I64, 0, 0, at))
					return -1;
			} else if (i++ && emit(c, f, op && !strcmp(op, "OR_EXPR") ? WEIR_X_OR : WEIR_X_AND, WEIR_F_I64,
					      0, 0, at)) {
				return -1;
			}
		}
		*v = (struct val){ WEIR_F_I64, true, false, false };
		return 0;
	}
	if (!strcmp(k, "A_Expr")) {
		const char *ak = cJSON_GetStringValue(item(b, "kind"));
		const char *op = last_name(item(b, "name"));
		if (!ak || !op)
			return fail(c, at, NULL, "unsupported expression");
		if (!strcmp(ak, "AEXPR_OP"))
			return binary(c, f, op, item(b, "lexpr"), item(b, "rexpr"), at, ctx, v);
		if (!strcmp(ak, "AEXPR_IN"))
			return in_list(c, f, b, ctx, v, !strcmp(op, "<>"));
		if (!strcmp(ak, "AEXPR_BETWEEN") || !strcmp(ak, "AEXPR_NOT_BETWEEN")) {
			const cJSON *lst;
			kind(item(b, "rexpr"), &lst);
			const cJSON *lo = cJSON_GetArrayItem(item(lst, "items"), 0);
			const cJSON *hi = cJSON_GetArrayItem(item(lst, "items"), 1);
			if (!lo || !hi)
				return fail(c, at, NULL, "BETWEEN needs two bounds");
			if (binary(c, f, ">=", item(b, "lexpr"), lo, at, ctx, v) ||
			    binary(c, f, "<=", item(b, "lexpr"), hi, at, ctx, v) ||
			    emit(c, f, WEIR_X_AND, WEIR_F_I64, 0, 0, at))
				return -1;
			if (!strcmp(ak, "AEXPR_NOT_BETWEEN") && emit(c, f, WEIR_X_NOT, WEIR_F_I64, 0, 0, at))
				return -1;
			*v = (struct val){ WEIR_F_I64, true, false, false };
			return 0;
		}
		return fail(c, at, NULL, "unsupported operator %s", op);
	}
	if (!strcmp(k, "NullTest")) {
		const char *t = cJSON_GetStringValue(item(b, "nulltesttype"));
		struct val a;
		if (expr(c, f, item(b, "arg"), ctx, &a) || emit(c, f, WEIR_X_ISNULL, WEIR_F_I64, 0, 0, at))
			return -1;
		if (t && !strcmp(t, "IS_NOT_NULL") && emit(c, f, WEIR_X_NOT, WEIR_F_I64, 0, 0, at))
			return -1;
		*v = (struct val){ WEIR_F_I64, true, false, false };
		return 0;
	}
	if (!strcmp(k, "TypeCast")) {
		const char *tn = last_name(item(item(b, "typeName"), "names"));
		int tat = loc(item(b, "typeName"));
		uint8_t to;
		if (!tn)
			return fail(c, tat, NULL, "unsupported type");
		if (!strcmp(tn, "float8") || !strcmp(tn, "float4") || !strcmp(tn, "numeric") || !strcmp(tn, "double"))
			to = WEIR_F_F64;
		else if (!strcmp(tn, "int8") || !strcmp(tn, "int4") || !strcmp(tn, "int2") || !strcmp(tn, "bigint"))
			to = WEIR_F_I64;
		else if (!strcmp(tn, "interval"))
			return fail(c, tat, "window sizes and ranges take INTERVALs", "an INTERVAL is not a value here");
		else
			return fail(c, tat, "CAST to DOUBLE or BIGINT", "cannot CAST to %s", tn);
		if (expr(c, f, item(b, "arg"), ctx, v))
			return -1;
		if (v->boolean) {
			v->boolean = false;     /* TRUE/FALSE as 1/0 */
			v->type = WEIR_F_I64;
		}
		return convert_at(c, f, f->n, v, to, tat);
	}
	if (!strcmp(k, "SubLink") || !strcmp(k, "SelectStmt"))
		return fail(c, at, "weir runs one SELECT per query", "subqueries are not supported");
	if (!strcmp(k, "CaseExpr"))
		return fail(c, at, NULL, "CASE is not supported");
	return fail(c, at, NULL, "unsupported expression (%s)", k);
}

/* ---- the statement ------------------------------------------------------------------------------ */

static int
group_by(struct cx *c, const cJSON *gc)
{
	struct weir_query_cfg *q = c->q;
	const cJSON *g, *b = NULL;
	int nwin = 0;
	static const char hint[] = "GROUP BY [column,] TUMBLE(event_time, INTERVAL '1' SECOND) -- or HOP(event_time, "
				   "slide, size), SESSION(event_time, gap)";

	c->key_field = -2;
	cJSON_ArrayForEach(g, gc) {
		const char *k = kind(g, &b);
		int at = loc(b);
		if (!strcmp(k, "ColumnRef")) {
			const char *cn = column_name(b);
			if (!cn)
				return fail(c, at, hint, "GROUP BY takes a column name");
			if (c->key_field != -2)
				return fail(c, at, "group by one key column", "GROUP BY more than one column is not "
					    "supported (already grouped by '%s')", c->key_name);
			if (key_col(c->s, cn)) {
				c->key_field = -1;
				c->key_name = cn;
				continue;
			}
			int fi = find_field(c->s, cn);
			if (fi < 0)
				return fail(c, at, NULL, "source '%s' has no field '%s'", c->s->name, cn);
			if (c->s->field_type[fi] == WEIR_F_F64)
				return fail(c, at, "group by an integer field", "cannot group by DOUBLE field '%s'", cn);
			c->key_field = fi;
			c->key_name = c->s->field_name[fi];
			continue;
		}
		if (strcmp(k, "FuncCall"))
			return fail(c, at, hint, "GROUP BY takes a column and a window function");
		const char *fn = last_name(item(b, "funcname"));
		const cJSON *args = item(b, "args");
		int na = cJSON_GetArraySize(args);
		if (!fn || (strcmp(fn, "tumble") && strcmp(fn, "hop") && strcmp(fn, "session")))
			return fail(c, at, hint, "GROUP BY %s(): only TUMBLE, HOP and SESSION windows", fn ? fn : "?");
		if (nwin++)
			return fail(c, at, hint, "one window function per query");
		const cJSON *t, *tb;
		t = cJSON_GetArrayItem(args, 0);
		const char *tn = t && !strcmp(kind(t, &tb), "ColumnRef") ? column_name(tb) : NULL;
		if (!tn || strcasecmp(tn, "event_time"))
			return fail(c, t ? loc(tb) : at, hint, "windows are on event_time");
		if (!strcmp(fn, "tumble")) {
			if (na != 2)
				return fail(c, at, hint, "TUMBLE(event_time, size)");
			q->window = WEIR_WIN_TUMBLING;
			if (interval(c, cJSON_GetArrayItem(args, 1), &q->size, "the TUMBLE size"))
				return -1;
			q->slide = q->size;
		} else if (!strcmp(fn, "hop")) {
			if (na != 3)
				return fail(c, at, hint, "HOP(event_time, slide, size)");
			q->window = WEIR_WIN_HOPPING;
			if (interval(c, cJSON_GetArrayItem(args, 1), &q->slide, "the HOP slide") ||
			    interval(c, cJSON_GetArrayItem(args, 2), &q->size, "the HOP size"))
				return -1;
			if (q->size % q->slide)
				return fail(c, at, "e.g. HOP(event_time, INTERVAL '1' SECOND, INTERVAL '5' SECOND)",
					    "the HOP size must be a multiple of its slide");
		} else {
			if (na != 2)
				return fail(c, at, hint, "SESSION(event_time, gap)");
			q->window = WEIR_WIN_SESSION;
			if (interval(c, cJSON_GetArrayItem(args, 1), &q->size, "the SESSION gap"))
				return -1;
			q->slide = q->size;
			if (q->lateness)
				return fail(c, at, "remove allowed_lateness", "session windows take no allowed lateness");
		}
	}
	if (!nwin)
		return fail(c, loc(b), hint, "GROUP BY needs a window: TUMBLE, HOP or SESSION");
	return 0;
}

static bool
contains_over(const cJSON *n)
{
	const cJSON *x;

	if (cJSON_IsObject(n) && n->string && !strcmp(n->string, "FuncCall") && item(n, "over"))
		return true;
	for (x = n ? n->child : NULL; x; x = x->next)
		if (contains_over(x))
			return true;
	return false;
}

/* INTERVAL '10' MILLISECOND (and MICROSECOND, NANOSECOND), which PostgreSQL's grammar
 * does not know, becomes INTERVAL '10 MILLISECOND': the closing quote moves behind the
 * unit, so every offset stays the same. */
static void
sub_second_units(char *t)
{
	static const char *const units[] = { "millisecond", "microsecond", "nanosecond" };

	for (char *p = t; *p; p++) {
		if (*p != '\'')
			continue;
		char *q = strchr(p + 1, '\'');         /* the string's end */
		if (!q)
			return;
		char *u = q + 1;
		while (isspace((unsigned char)*u))
			u++;
		for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
			size_t l = strlen(units[i]);
			if (u > q + 1 && !strncasecmp(u, units[i], l) && !isalnum((unsigned char)u[l]) && u[l] != '_') {
				memmove(q, q + 1, (size_t)(u + l - (q + 1)));
				u[l - 1] = '\'';
				q = u + l - 1;
				break;
			}
		}
		p = q;
	}
}

/* over_spec() for every OVER under n */
static int
scan_over(struct cx *c, const cJSON *n)
{
	const cJSON *x;

	if (cJSON_IsObject(n) && n->string && !strcmp(n->string, "FuncCall") && item(n, "over") &&
	    over_spec(c, item(n, "over"), loc(n)))
		return -1;
	for (x = n ? n->child : NULL; x; x = x->next)
		if (scan_over(c, x))
			return -1;
	return 0;
}

/* Blank out SQL comments (-- to the end of the line, and C-style block comments, nested
 * as in PostgreSQL) outside quotes, so the text rewrites below only see SQL; offsets stay. */
static void
blank_comments(char *t)
{
	for (char *p = t; *p; p++) {
		if (*p == '\'' || *p == '"') {         /* a string or a quoted name: skip it */
			char q = *p;
			while (p[1] && p[1] != q)
				p++;
			if (p[1])
				p++;
		} else if (p[0] == '-' && p[1] == '-') {
			while (*p && *p != '\n')
				*p++ = ' ';
			if (!*p)
				return;
		} else if (p[0] == '/' && p[1] == '*') {
			int depth = 0;
			do {
				if (p[0] == '/' && p[1] == '*') {
					depth++;
					*p++ = ' ';
				} else if (p[0] == '*' && p[1] == '/') {
					depth--;
					*p++ = ' ';
				}
				if (*p != '\n')
					*p = ' ';
				p++;
			} while (*p && depth);
			p--;
		}
	}
}

/* The offset of keyword kw (a whole word, any case) in t outside quotes, from `from`;
 * -1 if none.  (For errors about clauses the parse tree gives no location.) */
static int
kw_pos(const char *t, const char *kw, int from)
{
	size_t n = strlen(kw), len = strlen(t);

	for (size_t i = from < 0 ? 0 : (size_t)from; i < len; i++) {
		if (t[i] == '\'' || t[i] == '"') {
			char q = t[i];
			while (i + 1 < len && t[i + 1] != q)
				i++;
			i++;
			continue;
		}
		if (!strncasecmp(t + i, kw, n) && (i == 0 || !(isalnum((unsigned char)t[i - 1]) || t[i - 1] == '_')) &&
		    !(isalnum((unsigned char)t[i + n]) || t[i + n] == '_'))
			return (int)i;
	}
	return -1;
}

/* the first OVER call under n: its location, or -1 */
static int
over_loc(const cJSON *n)
{
	const cJSON *x;

	if (cJSON_IsObject(n) && n->string && !strcmp(n->string, "FuncCall") && item(n, "over"))
		return loc(n);
	for (x = n ? n->child : NULL; x; x = x->next) {
		int l = over_loc(x);
		if (l >= 0)
			return l;
	}
	return -1;
}

/* Strip a trailing "EMIT ON UPDATE" / "EMIT ON WATERMARK" (and ';'), which PostgreSQL's
 * grammar does not know: blanked out, so offsets stay the same. */
static int
strip_emit(char *t, uint8_t *mode, int *emit_at)
{
	size_t n = strlen(t);
	char *w[3] = { 0 };
	int nw = 0;

	*mode = WEIR_EMIT_WATERMARK;
	while (n && (isspace((unsigned char)t[n - 1]) || t[n - 1] == ';'))
		n--;
	/* the last three words */
	for (size_t e = n; nw < 3 && e > 0; nw++) {
		size_t s = e;
		while (s > 0 && (isalnum((unsigned char)t[s - 1]) || t[s - 1] == '_'))
			s--;
		if (s == e)
			break;
		w[2 - nw] = t + s;
		e = s;
		while (e > 0 && isspace((unsigned char)t[e - 1]))
			e--;
	}
	if (nw < 3 || strncasecmp(w[0], "emit", 4) || isalnum((unsigned char)w[0][4]) ||
	    strncasecmp(w[1], "on", 2) || isalnum((unsigned char)w[1][2]))
		return 0;
	if (!strncasecmp(w[2], "update", 6) && !isalnum((unsigned char)w[2][6]))
		*mode = WEIR_EMIT_UPDATE;
	else if (strncasecmp(w[2], "watermark", 9) || isalnum((unsigned char)w[2][9]))
		return -1 - (int)(w[2] - t);
	*emit_at = (int)(w[0] - t);
	for (char *p = w[0]; p < t + n; p++)
		*p = ' ';
	return 0;
}

static int
out_column(struct cx *c, const cJSON *rt, enum ctx ctx, int idx)
{
	struct weir_query_cfg *q = c->q;
	const cJSON *val = item(rt, "val"), *vb;
	const char *alias = cJSON_GetStringValue(item(rt, "name"));
	const char *k = kind(val, &vb);
	int at = loc(vb) >= 0 ? loc(vb) : loc(rt);
	char name[WEIR_NAME_MAX];
	struct frag *f;
	struct val v;

	if (!strcmp(k, "ColumnRef") && cJSON_GetArraySize(item(vb, "fields")) == 1) {
		const cJSON *x, *xb;
		x = cJSON_GetArrayItem(item(vb, "fields"), 0);
		if (!strcmp(kind(x, &xb), "A_Star")) {          /* SELECT *: the source's fields */
			if (ctx == C_WINDOW)
				return fail(c, at, "name the aggregates", "SELECT * in a query with GROUP BY");
			for (int i = 0; i < c->s->nfields; i++) {
				cJSON *fake = cJSON_CreateObject(), *cr = cJSON_AddObjectToObject(fake, "ColumnRef");
				cJSON *fl = cJSON_AddArrayToObject(cr, "fields"), *s = cJSON_CreateObject();
				cJSON_AddStringToObject(cJSON_AddObjectToObject(s, "String"), "sval", c->s->field_name[i]);
				cJSON_AddItemToArray(fl, s);
				cJSON_AddNumberToObject(cr, "location", at);
				cJSON *r = cJSON_CreateObject();
				cJSON_AddItemToObject(r, "val", fake);
				int rc = out_column(c, r, ctx, idx);
				cJSON_Delete(r);
				if (rc)
					return -1;
			}
			return 0;
		}
	}
	if (alias) {
		snprintf(name, sizeof(name), "%s", alias);
	} else if (!strcmp(k, "ColumnRef") && column_name(vb)) {
		snprintf(name, sizeof(name), "%s", column_name(vb));
	} else if (!strcmp(k, "FuncCall")) {
		const char *fn = last_name(item(vb, "funcname"));
		const cJSON *a0 = cJSON_GetArrayItem(item(vb, "args"), 0), *ab;
		int af = fn ? agg_fn(fn) : -1;
		const char *an = a0 && !strcmp(kind(a0, &ab), "ColumnRef") ? column_name(ab) : NULL;
		if (cJSON_IsTrue(item(vb, "agg_star")))
			snprintf(name, sizeof(name), "count");
		else if (af == WEIR_AGG_COUNT && an && cJSON_IsTrue(item(vb, "agg_distinct")))
			snprintf(name, sizeof(name), "count_distinct_%s", an);
		else if (af >= 0 && an)
			snprintf(name, sizeof(name), "%s_%s", agg_fn_name[af], an);
		else if (fn && (strstr(fn, "_start") || strstr(fn, "_end")))
			snprintf(name, sizeof(name), "window_%s", strstr(fn, "_start") ? "start" : "end");
		else
			snprintf(name, sizeof(name), "EXPR$%d", idx);
	} else {
		snprintf(name, sizeof(name), "EXPR$%d", idx);
	}
	if (q->nout == WEIR_MAX_OUT)
		return fail(c, at, NULL, "more than %d result columns", WEIR_MAX_OUT);
	/* SYMBOL(x), a whole column: x's value is an ITCH stock key, written as its text */
	bool symbol = false;
	const char *fname = !strcmp(k, "FuncCall") ? last_name(item(vb, "funcname")) : NULL;
	if (fname && !strcmp(fname, "symbol")) {
		if (cJSON_GetArraySize(item(vb, "args")) != 1 || item(vb, "over"))
			return fail(c, at, "SYMBOL(stock) or SYMBOL(key)", "SYMBOL() takes one column");
		val = cJSON_GetArrayItem(item(vb, "args"), 0);
		symbol = true;
		if (!alias)
			snprintf(name, sizeof(name), "symbol");
	}
	if (!(f = calloc(1, sizeof(*f))))
		return fail(c, at, NULL, "out of memory");
	if (expr(c, f, val, ctx, &v)) {
		free(f);
		return -1;
	}
	if (symbol && (v.type == WEIR_F_F64 || v.boolean)) {
		free(f);
		return fail(c, at, "SYMBOL(stock) or SYMBOL(key) of an itch50 source", "SYMBOL() of a non-integer");
	}
	/* the result's header already has these: a column that repeats one is left out, a
	 * different value under the same name is an error */
	static const char *const hdr[] = { "query", "key", "window_start", "window_end", "revision", "event_time" };
	static const uint8_t hdr_op[] = { WEIR_X_MAX, WEIR_X_KEY, WEIR_X_TIME, WEIR_X_END, WEIR_X_MAX, WEIR_X_END };
	for (size_t i = 0; i < sizeof(hdr) / sizeof(hdr[0]); i++) {
		if (strcmp(name, hdr[i]))
			continue;
		bool win = ctx == C_WINDOW;
		bool in_hdr = win ? i <= 4 : (i <= 1 || i == 5);
		if (!in_hdr)
			break;
		if (f->n == 1 && f->c[0].op == hdr_op[i] && !symbol) {
			free(f);
			return 0;
		}
		free(f);
		return fail(c, at, "name it with AS", "column name '%s' is taken by the result's own '%s'", name,
			    name);
	}
	for (int i = 0; i < q->nout; i++)
		if (!strcmp(q->out[i].name, name)) {
			free(f);
			return fail(c, at, "name it with AS", "two result columns named '%s'", name);
		}
	snprintf(q->out[q->nout].name, sizeof(q->out[q->nout].name), "%s", name);
	q->out[q->nout].symbol = symbol;
	int rc = finish(c, f, &v, &q->out[q->nout].e, at);
	free(f);
	if (rc)
		return -1;
	q->nout++;
	return 0;
}

static int
statement(struct cx *c, const cJSON *root)
{
	struct weir_query_cfg *q = c->q;
	const cJSON *stmts = item(root, "stmts"), *st, *sel;

	if (cJSON_GetArraySize(stmts) != 1) {
		const cJSON *l2 = item(cJSON_GetArrayItem(stmts, 1), "stmt_location");
		int at = cJSON_IsNumber(l2) ? l2->valueint : 0;
		while (c->text[at] && isspace((unsigned char)c->text[at]))
			at++;
		return fail(c, cJSON_GetArraySize(stmts) > 1 ? at : 0, "leave out the ';' and what follows",
			    "one SELECT statement per query");
	}
	st = item(cJSON_GetArrayItem(stmts, 0), "stmt");
	if (strcmp(kind(st, &sel), "SelectStmt"))
		return fail(c, 0, "a query is SELECT ... FROM source ...", "only SELECT statements");
	if (item(sel, "op") && strcmp(cJSON_GetStringValue(item(sel, "op")) ?: "", "SETOP_NONE")) {
		int at = kw_pos(c->text, "union", 0);
		if (at < 0)
			at = kw_pos(c->text, "intersect", 0);
		if (at < 0)
			at = kw_pos(c->text, "except", 0);
		return fail(c, at, "one query per [query] section", "UNION / INTERSECT / EXCEPT are not supported");
	}
	if (item(sel, "valuesLists"))
		return fail(c, kw_pos(c->text, "values", 0), NULL, "VALUES is not a stream");
	static const char *const unsupported[][3] = {
		{ "distinctClause", "SELECT DISTINCT", "distinct" }, { "sortClause", "ORDER BY", "order" },
		{ "limitCount", "LIMIT", "limit" }, { "limitOffset", "OFFSET", "offset" }, { "intoClause", "INTO", "into" },
		{ "withClause", "WITH", "with" }, { "lockingClause", "FOR UPDATE", "for" },
	};
	for (size_t i = 0; i < sizeof(unsupported) / sizeof(unsupported[0]); i++) {
		const cJSON *x = item(sel, unsupported[i][0]);
		if (x)
			return fail(c, kw_pos(c->text, unsupported[i][2], 0),
				    "results are a stream: each window or event gives its own",
				    "%s is not supported", unsupported[i][1]);
	}
	/* FROM one source */
	const cJSON *from = item(sel, "fromClause"), *fb;
	if (cJSON_GetArraySize(from) != 1) {
		kind(cJSON_GetArrayItem(from, 1), &fb);
		return fail(c, from ? loc(fb) : (int)strlen(c->text), "joins are not supported",
			    "FROM takes exactly one source");
	}
	const char *fk = kind(cJSON_GetArrayItem(from, 0), &fb);
	if (!strcmp(fk, "JoinExpr"))
		return fail(c, kw_pos(c->text, "join", 0), "weir queries read one source", "joins are not supported");
	if (strcmp(fk, "RangeVar")) {
		int fat = kw_pos(c->text, "from", 0), at = fat;
		while (at >= 0 && c->text[at] && c->text[at] != '(')
			at++;
		return fail(c, at >= 0 && c->text[at] ? at : fat, "for a threshold on an OVER aggregate, use HAVING",
			    "FROM takes a source name (no subquery)");
	}
	const char *src = cJSON_GetStringValue(item(fb, "relname"));
	q->source = -1;
	for (int i = 0; src && i < c->cfg->nsources; i++)
		if (!strcasecmp(c->cfg->sources[i].name, src))
			q->source = i;
	if (q->source < 0) {
		char hint[200] = "";
		size_t l = 0;
		for (int i = 0; i < c->cfg->nsources && l < sizeof(hint) - 1; i++)
			l += (size_t)snprintf(hint + l, sizeof(hint) - l, "%s%s", i ? ", " : "sources: ",
					      c->cfg->sources[i].name);
		return fail(c, loc(fb), hint, "no source named '%s'", src ? src : "?");
	}
	c->s = &c->cfg->sources[q->source];
	c->window_clause = item(sel, "windowClause");

	/* the kind of query */
	enum ctx ctx;
	const cJSON *gc = item(sel, "groupClause");
	bool over = contains_over(item(sel, "targetList")) || contains_over(item(sel, "havingClause"));
	c->key_field = -1;
	if (gc) {
		if (over)
			return fail(c, over_loc(sel), "an OVER query has no GROUP BY", "OVER cannot be used with GROUP BY");
		if (group_by(c, gc))
			return -1;
		ctx = C_WINDOW;
	} else if (over) {
		ctx = C_OVER;
		q->window = WEIR_WIN_OVER;
		/* find the window first: the partition key names a column of the results */
		if (scan_over(c, item(sel, "targetList")) || scan_over(c, item(sel, "havingClause")))
			return -1;
		c->key_field = c->over_key;
	} else {
		ctx = C_SELECT;
		q->window = WEIR_WIN_SELECT;
	}
	/* WHERE */
	if (item(sel, "whereClause")) {
		struct frag *f = calloc(1, sizeof(*f));
		struct val v = { 0 };
		const cJSON *wb;
		kind(item(sel, "whereClause"), &wb);
		if (!f)
			return fail(c, 0, NULL, "out of memory");
		if (contains_over(item(sel, "whereClause"))) {
			free(f);
			return fail(c, loc(wb), "put the threshold in HAVING", "OVER aggregates are not allowed in WHERE");
		}
		v.boolean = true;
		int rc = expr_bool(c, f, item(sel, "whereClause"), C_RECORD, "WHERE") ||
			 finish(c, f, &v, &q->where, loc(wb));
		free(f);
		if (rc)
			return -1;
		q->where.boolean = true;
	}

	/* SELECT list */
	int idx = 0;
	const cJSON *x;
	cJSON_ArrayForEach(x, item(sel, "targetList")) {
		if (out_column(c, item(x, "ResTarget"), ctx, idx++))
			return -1;
	}
	/* HAVING */
	if (item(sel, "havingClause")) {
		struct frag *f = calloc(1, sizeof(*f));
		struct val v = { 0 };
		const cJSON *hb;
		kind(item(sel, "havingClause"), &hb);
		if (!f)
			return fail(c, 0, NULL, "out of memory");
		v.boolean = true;
		int rc = expr_bool(c, f, item(sel, "havingClause"), ctx, "HAVING") ||
			 finish(c, f, &v, &q->having, loc(hb));
		free(f);
		if (rc)
			return -1;
		q->having.boolean = true;
	}
	if (ctx == C_OVER) {
		c->key_field = c->over_key;
		q->size = c->over_range;
		q->slide = c->over_range;
	}
	q->key_field = c->key_field;
	if (!q->naggs) {
		/* a result has at least one aggregate (a window's state, an event's count) */
		uint8_t t;
		if (agg_slot(c, WEIR_AGG_COUNT, NULL, 0, &t) < 0)
			return -1;
	}
	if (q->nout == 0)
		return fail(c, 0, NULL, "the SELECT list is empty");
	if (q->emit == WEIR_EMIT_UPDATE && ctx != C_WINDOW)
		return fail(c, c->emit_at, "OVER and plain SELECT queries emit every result at once",
			    "EMIT ON UPDATE needs GROUP BY a window");
	return 0;
}

int
weir_sql_compile(const struct weir_config *cfg, struct weir_query_cfg *q, struct weir_sql_err *err)
{
	struct cx c = { .cfg = cfg, .q = q, .err = err, .text = q->sql_text, .key_field = -1, .emit_at = -1 };
	char *text = strdup(q->sql_text);
	int rc;

	memset(err, 0, sizeof(*err));
	if (!text)
		return fail(&c, 0, NULL, "out of memory");
	blank_comments(text);
	rc = strip_emit(text, &q->emit, &c.emit_at);
	if (rc < 0) {
		free(text);
		return fail(&c, -1 - rc, "EMIT ON UPDATE or EMIT ON WATERMARK", "unknown EMIT mode");
	}
	sub_second_units(text);
	q->naggs = q->nderived = q->nout = q->ncode = 0;
	q->where.len = q->having.len = 0;
	PgQueryParseResult r = pg_query_parse(text);
	if (r.error) {
		unsigned pos = r.error->cursorpos > 0 ? (unsigned)r.error->cursorpos - 1 : 0;
		const char *hint = NULL;
		char tok[64];
		weir_sql_token(q->sql_text, pos, tok, sizeof(tok));
		const char *win = strcasestr(q->sql_text, "window ");
		if (!strcasecmp(tok, "emit"))
			hint = "EMIT ON UPDATE or EMIT ON WATERMARK, at the very end";
		else if (!strcasecmp(tok, "on") && pos >= 5 && !strncasecmp(q->sql_text + pos - 5, "emit ", 5))
			hint = "EMIT ON UPDATE goes at the very end";
		else if (!strcasecmp(tok, "having") && win && win < q->sql_text + pos)
			hint = "the clauses go in this order: WHERE, GROUP BY, HAVING, WINDOW";
		else if (!strcasecmp(tok, "from") || !strcasecmp(tok, "where") || !strcasecmp(tok, "group"))
			hint = "is a comma missing or one too many before it?";
		else if (!*tok)
			hint = "the statement ends too early";
		rc = fail(&c, (int)pos, hint, "%s", r.error->message);
	} else {
		cJSON *root = cJSON_Parse(r.parse_tree);
		if (!root)
			rc = fail(&c, 0, NULL, "cannot read the parse tree (out of memory)");
		else
			rc = statement(&c, root);
		cJSON_Delete(root);
	}
	pg_query_free_parse_result(r);
	free(text);
	return c.failed ? -1 : rc;
}

/* ---- explain ---------------------------------------------------------------------------------- */

struct names_ctx {
	const struct weir_config *cfg;
	const struct weir_query_cfg *q;
	bool result;                    /* slots are aggregates (else record fields) */
	char buf[4][160];
	int next;
};

static const char *
slot_name(void *ctx, unsigned slot)
{
	struct names_ctx *n = ctx;
	const struct weir_source_cfg *s = &n->cfg->sources[n->q->source];
	char *b = n->buf[n->next++ & 3];

	if (!n->result) {
		snprintf(b, sizeof(n->buf[0]), "%s", slot < (unsigned)s->nfields ? s->field_name[slot] : "?");
		return b;
	}
	if (slot >= (unsigned)n->q->naggs)
		return "?";
	snprintf(b, sizeof(n->buf[0]), "%s", n->q->aggs[slot].name);
	return b;
}

static void
dur(FILE *f, int64_t ns)
{
	static const struct { int64_t ns; const char *u; } u[] = {
		{ INT64_C(86400000000000), "d" }, { INT64_C(3600000000000), "h" }, { INT64_C(60000000000), "m" },
		{ 1000000000, "s" }, { 1000000, "ms" }, { 1000, "us" }, { 1, "ns" },
	};
	for (size_t i = 0; i < sizeof(u) / sizeof(u[0]); i++)
		if (ns % u[i].ns == 0) {
			fprintf(f, "%" PRId64 "%s", ns / u[i].ns, u[i].u);
			return;
		}
}

void
weir_explain(const struct weir_config *cfg, FILE *out)
{
	static const char *const types[] = { "i64", "u64", "f64" };
	static const char *const fns[] = { "COUNT", "SUM", "MIN", "MAX", "AVG", "FIRST", "LAST", "CURRENT",
					   "COUNT DISTINCT" };

	for (int qi = 0; qi < cfg->nqueries; qi++) {
		const struct weir_query_cfg *q = &cfg->queries[qi];
		const struct weir_source_cfg *s = &cfg->sources[q->source];
		struct names_ctx nc = { cfg, q, false, { { 0 } }, 0 };

		fprintf(out, "query %s (%s, line %d)\n", q->name, q->sql ? "sql" : "ini", q->line);
		fprintf(out, "  source     %s (%s, %d value fields)\n", s->name,
			s->format == WEIR_FMT_ITCH50 ? "itch50" : s->format == WEIR_FMT_LINE ? "line" : "wev", s->nfields);
		fprintf(out, "  partition  ");
		if (q->key_field == -1)
			fprintf(out, "by the record's key");
		else if (q->key_field == -2)
			fprintf(out, "none (one group, key 0)");
		else
			fprintf(out, "by field %s: the RX cores re-key the stream", s->field_name[q->key_field]);
		int fields[WEIR_MAX_QUERIES], ngroups = weir_source_groups(cfg, q->source, fields);
		fprintf(out, " (key group %d of %d on this source: each record is staged %d time%s)\n",
			weir_query_group(cfg, qi) + 1, ngroups, ngroups, ngroups == 1 ? "" : "s");
		if (q->where.len || q->nfilter) {
			fprintf(out, "  filter     ");
			if (q->where.len) {
				weir_expr_print(out, q->code, &q->where, slot_name, &nc);
			} else {
				static const char *const ops[] = { "=", "<>", "<", "<=", ">", ">=" };
				for (int i = 0; i < q->nfilter; i++) {
					const struct weir_filter_cfg *fl = &q->filter[i];
					fprintf(out, "%s%s %s ", i ? " AND " : "", s->field_name[fl->field], ops[fl->op]);
					if (s->field_type[fl->field] == WEIR_F_F64) {
						double d;
						memcpy(&d, &fl->value, 8);
						fprintf(out, "%.17g", d);
					} else if (s->field_type[fl->field] == WEIR_F_U64) {
						fprintf(out, "%" PRIu64, fl->value);
					} else {
						fprintf(out, "%" PRId64, (int64_t)fl->value);
					}
				}
			}
			fprintf(out, "\n");
		}
		for (int d = 0; d < q->nderived; d++) {
			fprintf(out, "  compute    expr%d %s = ", d, types[q->derived[d].type]);
			weir_expr_print(out, q->code, &q->derived[d], slot_name, &nc);
			fprintf(out, "  (per record)\n");
		}
		fprintf(out, "  window     ");
		switch (q->window) {
		case WEIR_WIN_TUMBLING: fprintf(out, "tumbling "); dur(out, q->size); break;
		case WEIR_WIN_HOPPING:
			fprintf(out, "hopping ");
			dur(out, q->size);
			fprintf(out, " every ");
			dur(out, q->slide);
			break;
		case WEIR_WIN_SESSION: fprintf(out, "session, gap "); dur(out, q->size); break;
		case WEIR_WIN_OVER:
			fprintf(out, "OVER: per event, the partition's events of the last ");
			dur(out, q->size);
			fprintf(out, " (RANGE ... PRECEDING AND CURRENT ROW)");
			break;
		default: fprintf(out, "none: one result per matching event"); break;
		}
		if (q->lateness) {
			fprintf(out, ", allowed lateness ");
			dur(out, q->lateness);
		}
		fprintf(out, "\n  aggregates ");
		for (int a = 0; a < q->naggs; a++) {
			const struct weir_agg_cfg *g = &q->aggs[a];
			fprintf(out, "%s%s", a ? ", " : "", fns[g->fn]);
			if (g->fn == WEIR_AGG_COUNT)
				fprintf(out, "(*)");
			else if (g->field < s->nfields)
				fprintf(out, "(%s %s)", s->field_name[g->field], types[g->type]);
			else
				fprintf(out, "(expr%d %s)", g->field - s->nfields, types[g->type]);
		}
		if (!q->naggs)
			fprintf(out, "none");
		fprintf(out, "\n");
		nc.result = true;
		if (q->having.len) {
			fprintf(out, "  having     ");
			weir_expr_print(out, q->code, &q->having, slot_name, &nc);
			fprintf(out, "\n");
		}
		fprintf(out, "  emit       %s\n", q->window >= WEIR_WIN_OVER ? "per event, as its batch is processed" :
			q->emit == WEIR_EMIT_UPDATE ? "on update: each batch's changed windows (revision + 1)" :
			"on watermark (late updates: revision + 1)");
		fprintf(out, "  result     {\"query\",\"key\",%s",
			q->window >= WEIR_WIN_OVER ? "\"event_time\"" : "\"window_start\",\"window_end\",\"revision\"");
		if (q->nout) {
			for (int i = 0; i < q->nout; i++) {
				fprintf(out, ",\"%s\": %s", q->out[i].name, q->out[i].symbol ? "SYMBOL(" : "");
				weir_expr_print(out, q->code, &q->out[i].e, slot_name, &nc);
				fprintf(out, "%s", q->out[i].symbol ? ")" : "");
			}
		} else {
			for (int a = 0; a < q->naggs; a++)
				fprintf(out, ",\"%s\"", q->aggs[a].name);
		}
		fprintf(out, "}\n  sink       ");
		if (q->sink == WEIR_SINK_FILE)
			fprintf(out, "file:%s\n", q->sink_path);
		else if (q->sink == WEIR_SINK_UDP)
			fprintf(out, "udp:%s:%u\n", q->sink_path, q->sink_port);
		else
			fprintf(out, "stdout\n");
	}
}
