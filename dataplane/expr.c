/* SPDX-License-Identifier: Apache-2.0
 * Expression programs (see expr.h). */
#include "expr.h"
#include "window.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

const char *const weir_xop_name[WEIR_X_MAX] = {
#define X(n, s) s,
	WEIR_XOPS(X)
#undef X
};

static inline double u2d(uint64_t u) { double d; memcpy(&d, &u, 8); return d; }
static inline uint64_t d2u(double d) { uint64_t u; memcpy(&u, &d, 8); return u; }

/* a <op> b for one type; false: NULL (overflow, division by zero) */
static inline bool
arith(unsigned op, unsigned type, uint64_t a, uint64_t b, uint64_t *r)
{
	int64_t si;
	uint64_t su;

	if (type == WEIR_F_F64) {
		double x = u2d(a), y = u2d(b), z;
		switch (op) {
		case WEIR_X_ADD: z = x + y; break;
		case WEIR_X_SUB: z = x - y; break;
		case WEIR_X_MUL: z = x * y; break;
		case WEIR_X_DIV: if (y == 0) return false; z = x / y; break;
		default:         if (y == 0) return false; z = fmod(x, y); break;
		}
		*r = d2u(z);
		return true;
	}
	if (type == WEIR_F_U64) {
		switch (op) {
		case WEIR_X_ADD: if (__builtin_add_overflow(a, b, &su)) return false; break;
		case WEIR_X_SUB: if (__builtin_sub_overflow(a, b, &su)) return false; break;
		case WEIR_X_MUL: if (__builtin_mul_overflow(a, b, &su)) return false; break;
		case WEIR_X_DIV: if (!b) return false; su = a / b; break;
		default:         if (!b) return false; su = a % b; break;
		}
		*r = su;
		return true;
	}
	int64_t x = (int64_t)a, y = (int64_t)b;
	switch (op) {
	case WEIR_X_ADD: if (__builtin_add_overflow(x, y, &si)) return false; break;
	case WEIR_X_SUB: if (__builtin_sub_overflow(x, y, &si)) return false; break;
	case WEIR_X_MUL: if (__builtin_mul_overflow(x, y, &si)) return false; break;
	case WEIR_X_DIV:
		if (!y || (x == INT64_MIN && y == -1)) return false;
		si = x / y;
		break;
	default:
		if (!y) return false;
		si = y == -1 ? 0 : x % y;       /* (INT64_MIN % -1 is 0, but traps in C) */
		break;
	}
	*r = (uint64_t)si;
	return true;
}

/* -1, 0, 1, or 2 (unordered: a NaN) */
static inline int
compare(unsigned type, uint64_t a, uint64_t b)
{
	if (type == WEIR_F_I64)
		return ((int64_t)a > (int64_t)b) - ((int64_t)a < (int64_t)b);
	if (type == WEIR_F_U64)
		return (a > b) - (a < b);
	double x = u2d(a), y = u2d(b);
	if (x != x || y != y)
		return 2;
	return (x > y) - (x < y);
}

static int
arity(uint8_t op)
{
	switch (op) {
	case WEIR_X_SLOT: case WEIR_X_KEY: case WEIR_X_TIME: case WEIR_X_END: case WEIR_X_COUNT:
	case WEIR_X_CONST: case WEIR_X_NUL:
		return 0;
	case WEIR_X_I2F: case WEIR_X_U2F: case WEIR_X_U2I: case WEIR_X_I2U: case WEIR_X_F2I:
	case WEIR_X_NEG: case WEIR_X_ABS: case WEIR_X_NOT: case WEIR_X_ISNULL:
		return 1;
	default:
		return 2;
	}
}

/* One switch per instruction, each case checking the stack for itself (weir_expr_check
 * proved the program at load; the checks keep the stack in bounds for any program, and
 * let the compiler see it).  The top of the stack is kept apart (top, its NULL bit tn):
 * v[0 .. sp) and the bits of nul hold what lies below it.  The value under a NULL is
 * never read. */
bool
weir_expr_eval(const struct weir_insn *code, const struct weir_expr *e, const struct weir_xin *in, uint64_t *out)
{
	uint64_t v[WEIR_EXPR_STACK];
	uint32_t nul = 0;           /* bit i: v[i] is NULL */
	uint64_t top = 0, a, b;
	uint32_t tn = 0, an, bn;
	int sp = -1;                /* the top's index; -1: empty */

#define PUSH(x, n)                                                      \
	do {                                                            \
		if (sp >= WEIR_EXPR_STACK - 1)                          \
			return false;                                   \
		if (sp >= 0) {                                          \
			v[sp] = top;                                    \
			nul = (nul & ~(1u << sp)) | tn << sp;           \
		}                                                       \
		sp++;                                                   \
		top = (x);                                              \
		tn = (n);                                               \
	} while (0)
#define UNARY()                                                         \
	do {                                                            \
		if (sp < 0)                                             \
			return false;                                   \
	} while (0)
#define BINARY()                                                        \
	do {                                                            \
		if (sp < 1)                                             \
			return false;                                   \
		sp--;                                                   \
		a = v[sp];                                              \
		an = (nul >> sp) & 1;                                   \
		b = top;                                                \
		bn = tn;                                                \
	} while (0)
	for (const struct weir_insn *x = code + e->off, *end = x + e->len; x < end; x++) {
		switch (x->op) {
		case WEIR_X_SLOT:  PUSH(in->slot[x->arg], (uint32_t)(in->null_slots >> x->arg) & 1); break;
		case WEIR_X_KEY:   PUSH(in->key, 0); break;
		case WEIR_X_TIME:  PUSH((uint64_t)in->time, 0); break;
		case WEIR_X_END:   PUSH((uint64_t)in->end, 0); break;
		case WEIR_X_COUNT: PUSH(in->count, 0); break;
		case WEIR_X_CONST: PUSH(x->k, 0); break;
		case WEIR_X_NUL:   PUSH(0, 1); break;
		case WEIR_X_ISNULL:
			UNARY();
			top = tn;
			tn = 0;
			break;
		case WEIR_X_I2F: UNARY(); top = d2u((double)(int64_t)top); break;
		case WEIR_X_U2F: UNARY(); top = d2u((double)top); break;
		case WEIR_X_U2I: UNARY(); tn |= top > INT64_MAX; break;
		case WEIR_X_I2U: UNARY(); tn |= (int64_t)top < 0; break;
		case WEIR_X_F2I: {
			UNARY();
			double d = trunc(u2d(top));
			if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0))
				tn = 1;
			else
				top = (uint64_t)(int64_t)d;
			break;
		}
		case WEIR_X_NEG:
			UNARY();
			if (x->type == WEIR_F_F64)
				top = d2u(-u2d(top));
			else if ((int64_t)top == INT64_MIN)
				tn = 1;
			else
				top = (uint64_t)-(int64_t)top;
			break;
		case WEIR_X_ABS:
			UNARY();
			if (x->type == WEIR_F_F64)
				top = d2u(fabs(u2d(top)));
			else if (x->type == WEIR_F_I64 && (int64_t)top < 0) {
				if ((int64_t)top == INT64_MIN)
					tn = 1;
				else
					top = (uint64_t)-(int64_t)top;
			}
			break;
		case WEIR_X_NOT:
			UNARY();
			top = !top;
			break;
		case WEIR_X_AND:            /* three-valued: FALSE AND NULL = FALSE */
			BINARY();
			if ((!an && !a) || (!bn && !b)) {
				top = 0;
				tn = 0;
			} else {
				top = 1;
				tn = an | bn;
			}
			break;
		case WEIR_X_OR:             /* TRUE OR NULL = TRUE */
			BINARY();
			if ((!an && a) || (!bn && b)) {
				top = 1;
				tn = 0;
			} else {
				top = 0;
				tn = an | bn;
			}
			break;
		case WEIR_X_ADD: case WEIR_X_SUB: case WEIR_X_MUL: case WEIR_X_DIV: case WEIR_X_MOD:
			BINARY();
			tn = an | bn || !arith(x->op, x->type, a, b, &top);
			break;
		default: {                  /* comparisons (an op past the last one compares as >=) */
			BINARY();
			tn = an | bn;
			_Static_assert(WEIR_X_GE - WEIR_X_EQ == WEIR_CMP_GE && WEIR_X_LT - WEIR_X_EQ == WEIR_CMP_LT,
				       "comparison ops in enum weir_cmp's order");
			top = weir_cmp_holds((unsigned)(x->op - WEIR_X_EQ), compare(x->arg, a, b));
			break;
		}
		}
	}
#undef PUSH
#undef UNARY
#undef BINARY
	if (sp != 0 || tn)
		return false;
	*out = top;
	return true;
}

int
weir_expr_check(const struct weir_insn *code, const struct weir_expr *e, unsigned nslots)
{
	int sp = 0, max = 0;

	if (!e->len)
		return 0;
	for (const struct weir_insn *x = code + e->off, *end = x + e->len; x < end; x++) {
		int pop, push = 1;
		switch (x->op) {
		case WEIR_X_SLOT:
			if (x->arg >= nslots || x->arg >= 64)
				return -1;
			/* fall through */
		case WEIR_X_KEY: case WEIR_X_TIME: case WEIR_X_END: case WEIR_X_COUNT:
		case WEIR_X_CONST: case WEIR_X_NUL:
			pop = 0;
			break;
		case WEIR_X_I2F: case WEIR_X_U2F: case WEIR_X_U2I: case WEIR_X_I2U: case WEIR_X_F2I:
		case WEIR_X_NEG: case WEIR_X_ABS: case WEIR_X_NOT: case WEIR_X_ISNULL:
			pop = 1;
			break;
		case WEIR_X_EQ: case WEIR_X_NE: case WEIR_X_LT: case WEIR_X_LE: case WEIR_X_GT: case WEIR_X_GE:
			if (x->arg > WEIR_F_F64)
				return -1;
			pop = 2;
			break;
		default:
			if (x->op >= WEIR_X_MAX)
				return -1;
			pop = 2;
			break;
		}
		if (sp < pop)
			return -1;
		sp += push - pop;
		if (sp > max)
			max = sp;
	}
	if (sp != 1 || max > WEIR_EXPR_STACK)
		return -1;
	return max;
}

/* ---- result programs ------------------------------------------------------------------ */

void
weir_result_xin(const struct weir_query_cfg *q, const struct weir_result *r, uint64_t *slots, struct weir_xin *in)
{
	in->null_slots = 0;
	for (int a = 0; a < q->naggs; a++) {
		const struct weir_agg_cfg *g = &q->aggs[a];
		uint64_t v = r->val[a];
		if (r->null_mask >> a & 1) {
			in->null_slots |= UINT64_C(1) << a;
			slots[a] = 0;
			continue;
		}
		if (g->fn == WEIR_AGG_AVG) {
			double d = g->type == WEIR_F_I64 ? (double)(int64_t)v : g->type == WEIR_F_U64 ? (double)v : u2d(v);
			slots[a] = d2u(r->count ? d / (double)r->count : NAN);
		} else {
			slots[a] = v;
		}
	}
	in->slot = slots;
	in->key = r->key;
	in->time = r->start;
	in->end = r->end;
	in->count = r->count;
}

bool
weir_result_having(const struct weir_query_cfg *q, const struct weir_result *r)
{
	uint64_t slots[WEIR_MAX_AGGS];
	struct weir_xin in;

	if (!q->having.len)
		return true;
	weir_result_xin(q, r, slots, &in);
	return weir_expr_holds(q->code, &q->having, &in);
}

/* ---- printing (explain) ------------------------------------------------------------- */

/* the first instruction of the operand that ends at i */
static int
start_of(const struct weir_insn *c, int i)
{
	int need = 1;

	for (; i >= 0; i--) {
		need += arity(c[i].op) - 1;
		if (need == 0)
			return i;
	}
	return 0;
}

static int
prec_of(uint8_t op)
{
	switch (op) {
	case WEIR_X_OR: return 1;
	case WEIR_X_AND: return 2;
	case WEIR_X_NOT: return 3;
	case WEIR_X_EQ: case WEIR_X_NE: case WEIR_X_LT: case WEIR_X_LE: case WEIR_X_GT: case WEIR_X_GE: return 4;
	case WEIR_X_ADD: case WEIR_X_SUB: return 5;
	case WEIR_X_MUL: case WEIR_X_DIV: case WEIR_X_MOD: return 6;
	case WEIR_X_NEG: return 7;
	default: return 9;
	}
}

struct pctx {
	FILE *f;
	const struct weir_insn *c;
	const char *(*names)(void *, unsigned);
	void *ctx;
};

static void
pr(const struct pctx *p, int i, int min_prec)
{
	static const char *const bin[] = {
		[WEIR_X_ADD] = "+", [WEIR_X_SUB] = "-", [WEIR_X_MUL] = "*", [WEIR_X_DIV] = "/",
		[WEIR_X_MOD] = "%", [WEIR_X_EQ] = "=", [WEIR_X_NE] = "<>", [WEIR_X_LT] = "<",
		[WEIR_X_LE] = "<=", [WEIR_X_GT] = ">", [WEIR_X_GE] = ">=", [WEIR_X_AND] = "AND",
		[WEIR_X_OR] = "OR",
	};
	const struct weir_insn *x = &p->c[i];
	int pc = prec_of(x->op);
	bool br = pc < min_prec;

	if (br)
		fputc('(', p->f);
	switch (x->op) {
	case WEIR_X_SLOT:
		if (p->names)
			fputs(p->names(p->ctx, x->arg), p->f);
		else
			fprintf(p->f, "$%u", x->arg);
		break;
	case WEIR_X_KEY:   fputs("key", p->f); break;
	case WEIR_X_TIME:  fputs("time", p->f); break;
	case WEIR_X_END:   fputs("end", p->f); break;
	case WEIR_X_COUNT: fputs("count", p->f); break;
	case WEIR_X_NUL:   fputs("NULL", p->f); break;
	case WEIR_X_CONST:
		if (x->type == WEIR_F_F64) {
			char b[40];
			for (int prec = 15; prec <= 17; prec++) {       /* the shortest that reads back */
				snprintf(b, sizeof(b), "%.*g", prec, u2d(x->k));
				if (strtod(b, NULL) == u2d(x->k))
					break;
			}
			fputs(b, p->f);
		}
		else if (x->type == WEIR_F_U64)
			fprintf(p->f, "%llu", (unsigned long long)x->k);
		else
			fprintf(p->f, "%lld", (long long)(int64_t)x->k);
		break;
	case WEIR_X_NEG:
		fputc('-', p->f);
		pr(p, i - 1, 8);
		break;
	case WEIR_X_NOT:
		fputs("NOT ", p->f);
		pr(p, i - 1, 4);
		break;
	default:
		if (arity(x->op) == 1) {
			fprintf(p->f, "%s(", weir_xop_name[x->op]);
			pr(p, i - 1, 0);
			fputc(')', p->f);
			break;
		}
		pr(p, start_of(p->c, i - 1) - 1, pc);
		fprintf(p->f, " %s ", bin[x->op]);
		pr(p, i - 1, pc + 1);           /* a right operand of equal rank keeps its brackets */
		break;
	}
	if (br)
		fputc(')', p->f);
}

void
weir_expr_print(FILE *f, const struct weir_insn *code, const struct weir_expr *e,
		const char *(*names)(void *ctx, unsigned slot), void *ctx)
{
	struct pctx p = { f, code + e->off, names, ctx };

	if (weir_expr_check(code, e, 64) < 0) {
		fputs("(malformed)", f);
		return;
	}
	pr(&p, e->len - 1, 0);
}
