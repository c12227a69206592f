/* SPDX-License-Identifier: Apache-2.0
 * Expressions of SQL queries: typed stack programs over 64-bit words.
 *
 * The SQL compiler (sql.c) checks types once and emits one instruction per operation,
 * each already knowing its operand type: evaluation is a switch over a short array,
 * no allocation, no type tests.  Values are 64-bit words holding an i64, a u64 or an
 * f64 (enum weir_ftype); booleans are 0/1 words.  NULL follows SQL: arithmetic and
 * comparisons with a NULL operand give NULL, AND/OR use three-valued logic, and a
 * condition that is NULL does not hold.  Integer overflow, a division by zero and a
 * u64 beyond the i64 range converted to i64 give NULL, never a trap or a wrap.
 *
 * Two kinds of program, by what X_SLOT reads:
 *   record programs (WHERE, derived aggregate inputs): slot i = the record's value
 *     field i; X_KEY = the record's key, X_TIME = its event_time;
 *   result programs (HAVING, result columns): slot i = aggregate i's final value
 *     (avg divided, NULL where the sum overflowed); X_KEY = the result's key, X_TIME =
 *     window start (OVER: the range's start), X_END = window end (OVER and plain: the
 *     event's time), X_COUNT = its count.
 */
#ifndef WEIR_EXPR_H
#define WEIR_EXPR_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "config.h"

#ifdef __cplusplus
extern "C" {
#endif

#define WEIR_XOPS(X)                                                              \
	X(SLOT,  "slot")     /* push slot[arg] */                                  \
	X(KEY,   "key")                                                            \
	X(TIME,  "time")                                                           \
	X(END,   "end")                                                            \
	X(COUNT, "count")                                                          \
	X(CONST, "const")    /* push k */                                          \
	X(NUL,   "null")     /* push NULL */                                       \
	X(I2F,   "i2f")      /* convert the top: i64 -> f64 */                     \
	X(U2F,   "u2f")                                                            \
	X(U2I,   "u2i")      /* NULL beyond INT64_MAX */                           \
	X(I2U,   "i2u")      /* NULL below 0 */                                    \
	X(F2I,   "f2i")      /* truncates; NULL outside the i64 range or NaN */     \
	X(ADD,   "add")      /* binary: pop b, pop a, push a OP b (insn type) */   \
	X(SUB,   "sub")                                                            \
	X(MUL,   "mul")                                                            \
	X(DIV,   "div")                                                            \
	X(MOD,   "mod")                                                            \
	X(NEG,   "neg")                                                            \
	X(ABS,   "abs")                                                            \
	X(EQ,    "eq")       /* compare, operand type in arg: push 0/1 */          \
	X(NE,    "ne")                                                             \
	X(LT,    "lt")                                                             \
	X(LE,    "le")                                                             \
	X(GT,    "gt")                                                             \
	X(GE,    "ge")                                                             \
	X(AND,   "and")                                                            \
	X(OR,    "or")                                                             \
	X(NOT,   "not")                                                            \
	X(ISNULL, "isnull")  /* push 1 if the top is NULL, else 0 (never NULL) */

enum weir_xop {
#define X(n, s) WEIR_X_##n,
	WEIR_XOPS(X)
#undef X
	WEIR_X_MAX
};

extern const char *const weir_xop_name[WEIR_X_MAX];

#define WEIR_EXPR_STACK 32      /* deepest stack a program may need (the compiler checks) */

/* What a program reads. */
struct weir_xin {
	const uint64_t *slot;
	uint64_t key;
	int64_t time, end;
	uint64_t count;
	uint64_t null_slots;        /* bit i: slot i is NULL (result programs) */
};

/* Evaluate e (its code in code[]).  Returns false if the value is NULL, else true with
 * the value's bits in *out. */
bool weir_expr_eval(const struct weir_insn *code, const struct weir_expr *e, const struct weir_xin *in,
		    uint64_t *out);

/* A condition: true only if e is non-NULL and non-zero.  An absent e (len 0) holds. */
static inline bool
weir_expr_holds(const struct weir_insn *code, const struct weir_expr *e, const struct weir_xin *in)
{
	uint64_t v;

	if (!e->len)
		return true;
	return weir_expr_eval(code, e, in, &v) && v;
}

struct weir_result;

/* The inputs of q's result programs for result r: slots[a] = aggregate a's final value
 * (avg divided by the count, as f64; NULL where r's null_mask says so).  slots holds
 * q->naggs words. */
void weir_result_xin(const struct weir_query_cfg *q, const struct weir_result *r, uint64_t *slots,
		     struct weir_xin *in);
/* q's HAVING on r (true without one). */
bool weir_result_having(const struct weir_query_cfg *q, const struct weir_result *r);

/* The stack depth e needs; -1 if it is malformed (under/overflow, bad op or slot >= nslots).
 * The compiler checks every program with it. */
int weir_expr_check(const struct weir_insn *code, const struct weir_expr *e, unsigned nslots);

/* Print e in infix form, with slot names from names(ctx, slot) (for `weir explain`). */
void weir_expr_print(FILE *f, const struct weir_insn *code, const struct weir_expr *e,
		     const char *(*names)(void *ctx, unsigned slot), void *ctx);

#ifdef __cplusplus
}
#endif
#endif
