/* SPDX-License-Identifier: Apache-2.0
 * fraudgen: the Fraud Detection Handbook's transaction simulator for weir-gen --fraud.
 * The model and the stream are described in fraudgen.h. */
#include "fraudgen.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "wevframe.h"

/* The handbook's constants. */
#define SEC_PER_DAY        86400
#define TIME_MEAN_S        43200.0
#define TIME_STD_S         20000.0
#define S1_MIN_CENTS       22000      /* scenario 1: amount > 220 */
#define S2_TERMINALS       2          /* scenario 2: terminals drawn per day ... */
#define S2_DAYS            28         /* ... compromised for this many days */
#define S3_CUSTOMERS       3          /* scenario 3: customers drawn per day ... */
#define S3_DAYS            14         /* ... compromised for this many days ... */
#define S3_FACTOR          5          /* ... a third of their transactions x 5 */

#define REC_SIZE (16 + 8 * FRAUDGEN_NFIELDS)

/* Seeded PRNG: weir-gen's splitmix64, one independent stream per (purpose, index), so a
 * customer's transactions do not depend on how many customers come before it. */
enum { ST_CUSTOMERS = 1, ST_TERMINALS, ST_TX, ST_S2, ST_S3 };

struct rng {
	uint64_t s;
};

static uint64_t
mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

static struct rng
stream(uint64_t seed, uint64_t purpose, uint64_t index)
{
	return (struct rng){ mix64(mix64(seed + purpose * UINT64_C(0x9e3779b97f4a7c15)) ^ index) };
}

static uint64_t
next64(struct rng *r)
{
	return mix64(r->s += UINT64_C(0x9e3779b97f4a7c15));
}

static double
unit(struct rng *r)                     /* [0, 1) */
{
	return (double)(next64(r) >> 11) * 0x1p-53;
}

static double
uniform(struct rng *r, double a, double b)
{
	return a + (b - a) * unit(r);
}

static uint64_t
below(struct rng *r, uint64_t n)        /* uniform in [0, n), n > 0 */
{
	return (uint64_t)(unit(r) * (double)n) % n;
}

static double
normal(struct rng *r, double mean, double std)  /* Box-Muller, one value per call */
{
	double u1 = 1.0 - unit(r), u2 = unit(r);
	return mean + std * sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

static unsigned
poisson(struct rng *r, double lambda)   /* Knuth's product method: lambda is at most 4 */
{
	double l = exp(-lambda), p = 1.0;
	unsigned k = 0;
	for (;;) {
		p *= unit(r);
		if (p <= l)
			return k;
		k++;
	}
}

/* k distinct values of [0, n) into out (k <= n, small k: rejection). */
static void
distinct(struct rng *r, uint64_t n, unsigned k, uint64_t *out)
{
	for (unsigned i = 0; i < k;) {
		uint64_t v = below(r, n);
		bool dup = false;
		for (unsigned j = 0; j < i; j++)
			dup |= out[j] == v;
		if (!dup)
			out[i++] = v;
	}
}

struct profile {
	double x, y, mean, std, rate;
};

struct pt {
	double x, y;
};

struct ftx {
	int64_t t;                      /* seconds since the first midnight */
	int64_t cents;
	uint64_t draw;                  /* generation order (tie-break) */
	uint32_t cust, term;
	uint8_t fraud, scen;
};

struct sim {
	const struct fraudgen_params *p;
	struct profile *cust;
	struct pt *term;
	struct ftx *tx;
	size_t ntx, cap;
	uint64_t no_terminals, sum_terminals;
	/* per terminal / customer: indexes into tx[], in tx_id order (CSR) */
	size_t *t_off, *t_idx, *c_off, *c_idx;
	uint64_t *s2_draw, *s3_draw;    /* [day * per-day + i] */
	uint64_t ndraw_days;
};

/* Terminals by grid cell (CSR), cells of side >= radius: the terminals within the radius
 * of a point lie in its cell's (2 reach + 1)^2 neighbourhood. */
struct grid {
	int n, reach;
	double side;
	size_t *off, *idx;
};

static int
cell_of(const struct grid *g, double v)
{
	int c = (int)(v / g->side);
	return c < 0 ? 0 : c >= g->n ? g->n - 1 : c;
}

static int
grid_build(struct grid *g, const struct pt *t, uint64_t nt, double radius)
{
	g->n = radius > 0 ? (int)(100.0 / radius) : 1;
	if (g->n < 1)
		g->n = 1;
	if (g->n > 1024)
		g->n = 1024;
	g->side = 100.0 / g->n;
	double reach = ceil(radius / g->side);
	g->reach = reach < g->n ? (int)reach : g->n;
	size_t nc = (size_t)g->n * (size_t)g->n;
	g->off = calloc(nc + 1, sizeof(*g->off));
	g->idx = malloc((nt ? nt : 1) * sizeof(*g->idx));
	if (!g->off || !g->idx)
		return -1;
	for (uint64_t i = 0; i < nt; i++)
		g->off[(size_t)cell_of(g, t[i].y) * (size_t)g->n + (size_t)cell_of(g, t[i].x) + 1]++;
	for (size_t c = 0; c < nc; c++)
		g->off[c + 1] += g->off[c];
	size_t *fill = malloc((nc ? nc : 1) * sizeof(*fill));
	if (!fill)
		return -1;
	memcpy(fill, g->off, nc * sizeof(*fill));
	for (uint64_t i = 0; i < nt; i++)
		g->idx[fill[(size_t)cell_of(g, t[i].y) * (size_t)g->n + (size_t)cell_of(g, t[i].x)]++] = i;
	free(fill);
	return 0;
}

static int
cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return (x > y) - (x < y);
}

/* The terminals at distance < r from the customer, ascending (the handbook's order). */
static size_t
available(const struct grid *g, const struct pt *t, const struct profile *c, double r, uint32_t *out)
{
	int cx = cell_of(g, c->x), cy = cell_of(g, c->y);
	size_t n = 0;
	for (int y = cy - g->reach; y <= cy + g->reach; y++) {
		if (y < 0 || y >= g->n)
			continue;
		for (int x = cx - g->reach; x <= cx + g->reach; x++) {
			if (x < 0 || x >= g->n)
				continue;
			size_t cell = (size_t)y * (size_t)g->n + (size_t)x;
			for (size_t k = g->off[cell]; k < g->off[cell + 1]; k++) {
				const struct pt *q = &t[g->idx[k]];
				double dx = q->x - c->x, dy = q->y - c->y;
				if (dx * dx + dy * dy < r * r)
					out[n++] = (uint32_t)g->idx[k];
			}
		}
	}
	qsort(out, n, sizeof(*out), cmp_u32);
	return n;
}

static int
push_tx(struct sim *s, const struct ftx *x)
{
	if (s->ntx == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 1 << 16;
		struct ftx *n = realloc(s->tx, cap * sizeof(*n));
		if (!n)
			return -1;
		s->tx = n;
		s->cap = cap;
	}
	s->tx[s->ntx++] = *x;
	return 0;
}

static int
cmp_tx(const void *a, const void *b)
{
	const struct ftx *x = a, *y = b;
	if (x->t != y->t)
		return x->t < y->t ? -1 : 1;
	return (x->draw > y->draw) - (x->draw < y->draw);   /* draw order is customer order */
}

/* Profiles, terminals, transactions (sorted: index = tx_id). */
static int
generate(struct sim *s)
{
	const struct fraudgen_params *p = s->p;
	struct grid g = { 0 };
	uint32_t *avail = malloc((p->terminals ? p->terminals : 1) * sizeof(*avail));
	struct rng rc = stream(p->seed, ST_CUSTOMERS, 0), rt = stream(p->seed, ST_TERMINALS, 0);
	int rc_ = -1;

	s->cust = calloc(p->customers ? p->customers : 1, sizeof(*s->cust));
	s->term = calloc(p->terminals ? p->terminals : 1, sizeof(*s->term));
	if (!avail || !s->cust || !s->term)
		goto out;
	for (uint64_t i = 0; i < p->customers; i++) {
		struct profile *c = &s->cust[i];
		c->x = uniform(&rc, 0, 100);
		c->y = uniform(&rc, 0, 100);
		c->mean = uniform(&rc, 5, 100);
		c->std = c->mean / 2;
		c->rate = uniform(&rc, 0, 4);
	}
	for (uint64_t i = 0; i < p->terminals; i++) {
		s->term[i].x = uniform(&rt, 0, 100);
		s->term[i].y = uniform(&rt, 0, 100);
	}
	if (grid_build(&g, s->term, p->terminals, p->radius))
		goto out;
	uint64_t draw = 0;
	for (uint64_t i = 0; i < p->customers; i++) {
		const struct profile *c = &s->cust[i];
		size_t na = available(&g, s->term, c, p->radius, avail);
		struct rng r = stream(p->seed, ST_TX, i);
		s->sum_terminals += na;
		if (na == 0) {          /* the handbook draws, then drops: no transactions */
			s->no_terminals++;
			continue;
		}
		for (uint64_t day = 0; day < p->days; day++) {
			unsigned n = poisson(&r, c->rate);
			for (unsigned k = 0; k < n; k++) {
				int64_t sec = (int64_t)normal(&r, TIME_MEAN_S, TIME_STD_S);   /* truncates, as int() */
				if (sec <= 0 || sec >= SEC_PER_DAY)
					continue;
				double a = normal(&r, c->mean, c->std);
				if (a < 0)
					a = uniform(&r, 0, 2 * c->mean);
				struct ftx x = {
					.t = (int64_t)day * SEC_PER_DAY + sec, .cents = (int64_t)rint(a * 100),
					.draw = draw++, .cust = (uint32_t)i, .term = avail[below(&r, na)],
				};
				if (push_tx(s, &x))
					goto out;
			}
		}
	}
	if (s->ntx)
		qsort(s->tx, s->ntx, sizeof(*s->tx), cmp_tx);
	rc_ = 0;
out:
	free(g.off);
	free(g.idx);
	free(avail);
	return rc_;
}

/* CSR of tx indexes by terminal (by = 0) or customer (by = 1), in tx_id order. */
static int
index_by(const struct sim *s, int by, uint64_t n, size_t **off_out, size_t **idx_out)
{
	size_t *off = calloc(n + 1, sizeof(*off)), *idx = malloc((s->ntx ? s->ntx : 1) * sizeof(*idx));
	if (!off || !idx) {
		free(off);
		free(idx);
		return -1;
	}
	for (size_t i = 0; i < s->ntx; i++)
		off[(by ? s->tx[i].cust : s->tx[i].term) + 1]++;
	for (uint64_t k = 0; k < n; k++)
		off[k + 1] += off[k];
	for (size_t i = 0; i < s->ntx; i++)
		idx[off[by ? s->tx[i].cust : s->tx[i].term]++] = i;
	for (uint64_t k = n; k > 0; k--)        /* the fill moved each start to the next's */
		off[k] = off[k - 1];
	off[0] = 0;
	*off_out = off;
	*idx_out = idx;
	return 0;
}

static int64_t
day_of(const struct ftx *x)
{
	return x->t / SEC_PER_DAY;
}

/* The three scenarios, in the handbook's order; each relabels what it marks. */
static int
add_frauds(struct sim *s)
{
	const struct fraudgen_params *p = s->p;
	size_t *cand = NULL;

	for (size_t i = 0; i < s->ntx; i++)
		if (s->tx[i].cents > S1_MIN_CENTS) {
			s->tx[i].fraud = 1;
			s->tx[i].scen = 1;
		}
	if (index_by(s, 0, p->terminals, &s->t_off, &s->t_idx) || index_by(s, 1, p->customers, &s->c_off, &s->c_idx))
		return -1;
	/* the handbook loops over range(last day with a transaction): no draw on the last day */
	s->ndraw_days = p->days > 0 ? p->days - 1 : 0;
	unsigned n2 = p->terminals < S2_TERMINALS ? (unsigned)p->terminals : S2_TERMINALS;
	unsigned n3 = p->customers < S3_CUSTOMERS ? (unsigned)p->customers : S3_CUSTOMERS;
	s->s2_draw = calloc(s->ndraw_days * n2 + 1, sizeof(*s->s2_draw));
	s->s3_draw = calloc(s->ndraw_days * n3 + 1, sizeof(*s->s3_draw));
	if (!s->s2_draw || !s->s3_draw)
		return -1;
	for (uint64_t d = 0; d < s->ndraw_days; d++) {
		struct rng r = stream(p->seed, ST_S2, d);
		uint64_t *t = &s->s2_draw[d * n2];
		distinct(&r, p->terminals, n2, t);
		for (unsigned k = 0; k < n2; k++)
			for (size_t j = s->t_off[t[k]]; j < s->t_off[t[k] + 1]; j++) {
				struct ftx *x = &s->tx[s->t_idx[j]];
				if (day_of(x) >= (int64_t)d && day_of(x) < (int64_t)d + S2_DAYS) {
					x->fraud = 1;
					x->scen = 2;
				}
			}
	}
	cand = malloc((s->ntx ? s->ntx : 1) * sizeof(*cand));
	if (!cand)
		return -1;
	for (uint64_t d = 0; d < s->ndraw_days; d++) {
		struct rng r = stream(p->seed, ST_S3, d);
		uint64_t *c = &s->s3_draw[d * n3];
		size_t n = 0;
		distinct(&r, p->customers, n3, c);
		for (unsigned k = 0; k < n3; k++)       /* the three customers' transactions together */
			for (size_t j = s->c_off[c[k]]; j < s->c_off[c[k] + 1]; j++) {
				const struct ftx *x = &s->tx[s->c_idx[j]];
				if (day_of(x) >= (int64_t)d && day_of(x) < (int64_t)d + S3_DAYS)
					cand[n++] = s->c_idx[j];
			}
		size_t k = n / 3;
		for (size_t i = 0; i < k; i++) {        /* partial Fisher-Yates: k of n, no repeats */
			size_t j = i + (size_t)below(&r, n - i), v = cand[j];
			cand[j] = cand[i];
			cand[i] = v;
			struct ftx *x = &s->tx[v];
			x->cents *= S3_FACTOR;
			x->fraud = 1;
			x->scen = 3;
		}
	}
	free(cand);
	return 0;
}

/* <dir of labels>/<name> */
static char *
beside(const char *labels, const char *name)
{
	const char *slash = strrchr(labels, '/');
	size_t d = slash ? (size_t)(slash - labels) + 1 : 0, n = d + strlen(name) + 1;
	char *path = malloc(n);
	if (path)
		snprintf(path, n, "%.*s%s", (int)d, labels, name);
	return path;
}

static FILE *
open_out(const char *path, FILE *log)
{
	FILE *f = path ? fopen(path, "w") : NULL;
	if (!f)
		fprintf(log, "weir-gen: %s: %s\n", path ? path : "(out of memory)", strerror(errno));
	return f;
}

static int
close_out(FILE *f, const char *path, FILE *log)
{
	if (fclose(f)) {
		fprintf(log, "weir-gen: %s: %s\n", path, strerror(errno));
		return -1;
	}
	return 0;
}

static int64_t
ns_of(const struct sim *s, int64_t t)
{
	return s->p->start_ns + t * INT64_C(1000000000);
}

static int
write_compromised(const struct sim *s, const char *name, const char *head, const uint64_t *draw, unsigned per,
		  int days, FILE *log)
{
	char *path = beside(s->p->labels, name);
	FILE *f = open_out(path, log);
	int rc = -1;
	if (f) {
		fprintf(f, "%s,from_ns,to_ns\n", head);
		for (uint64_t d = 0; d < s->ndraw_days; d++)
			for (unsigned k = 0; k < per; k++)
				fprintf(f, "%" PRIu64 ",%" PRId64 ",%" PRId64 "\n", draw[d * per + k],
					ns_of(s, (int64_t)d * SEC_PER_DAY), ns_of(s, ((int64_t)d + days) * SEC_PER_DAY));
		rc = close_out(f, path, log);
	}
	free(path);
	return rc;
}

static int
write_labels(const struct sim *s, FILE *log)
{
	const char *path = s->p->labels;
	FILE *f = open_out(path, log);
	if (!f)
		return -1;
	fprintf(f, "tx_id,event_time_ns,customer,terminal,amount,fraud,scenario\n");
	for (size_t i = 0; i < s->ntx; i++) {
		const struct ftx *x = &s->tx[i];
		fprintf(f, "%zu,%" PRId64 ",%" PRIu32 ",%" PRIu32 ",%" PRId64 ".%02d,%d,%d\n", i, ns_of(s, x->t), x->cust,
			x->term, x->cents / 100, (int)(x->cents % 100), x->fraud, x->scen);
	}
	if (close_out(f, path, log))
		return -1;
	unsigned n2 = s->p->terminals < S2_TERMINALS ? (unsigned)s->p->terminals : S2_TERMINALS;
	unsigned n3 = s->p->customers < S3_CUSTOMERS ? (unsigned)s->p->customers : S3_CUSTOMERS;
	if (write_compromised(s, "compromised_terminals.csv", "terminal", s->s2_draw, n2, S2_DAYS, log) ||
	    write_compromised(s, "compromised_customers.csv", "customer", s->s3_draw, n3, S3_DAYS, log))
		return -1;
	return 0;
}

struct out {
	const struct fraudgen_params *p;
	fraudgen_emit_fn *emit;
	void *ctx;
	uint8_t buf[24 + 65535 / REC_SIZE * REC_SIZE];
	uint16_t n;
	uint64_t seq, datagrams;
};

static void
flush(struct out *o)
{
	if (!o->n)
		return;
	wev_header(o->buf, 0, o->n, REC_SIZE, o->p->schema, o->p->source_id, o->seq);
	o->emit(o->ctx, o->buf, 24 + (size_t)o->n * REC_SIZE, o->p->source_id);
	o->seq += o->n;
	o->n = 0;
	o->datagrams++;
}

static void
put(struct out *o, int64_t t, const struct ftx *x, uint64_t tx_id, int64_t kind)
{
	uint8_t *r = o->buf + 24 + (size_t)o->n * REC_SIZE;
	uint64_t key = x->cust, term = x->term;
	double amount = (double)x->cents / 100.0;
	memcpy(r, &t, 8);
	memcpy(r + 8, &key, 8);
	memcpy(r + 16, &term, 8);
	memcpy(r + 24, &amount, 8);
	memcpy(r + 32, &tx_id, 8);
	memcpy(r + 40, &kind, 8);
	if (++o->n == o->p->batch)
		flush(o);
}

/* Transactions and reports merged by (event_time, kind, tx_id); returns the reports sent. */
static uint64_t
send_stream(const struct sim *s, struct out *o)
{
	const int64_t end = ns_of(s, (int64_t)s->p->days * SEC_PER_DAY);
	size_t i = 0, j = 0;        /* next transaction; next fraud to report (j <= i) */
	uint64_t reports = 0;
	for (;;) {
		while (j < s->ntx && !s->tx[j].fraud)
			j++;
		int64_t tr = j < s->ntx ? ns_of(s, s->tx[j].t) + s->p->delay_ns : INT64_MAX;
		if (tr >= end)
			tr = INT64_MAX;         /* reports are in time order: none after this one either */
		if (i < s->ntx && ns_of(s, s->tx[i].t) <= tr) {
			put(o, ns_of(s, s->tx[i].t), &s->tx[i], i, 0);
			i++;
		} else if (tr != INT64_MAX) {
			put(o, tr, &s->tx[j], j, 1);
			reports++;
			j++;
		} else {
			break;
		}
	}
	flush(o);
	if (!s->p->no_eos) {
		wev_header(o->buf, 1, 0, REC_SIZE, s->p->schema, s->p->source_id, o->seq);
		o->emit(o->ctx, o->buf, 24, s->p->source_id);
	}
	return reports;
}

static int
write_meta(const struct sim *s, const uint64_t *per_scen, uint64_t frauds, uint64_t reports, FILE *log)
{
	const struct fraudgen_params *p = s->p;
	char *path = beside(p->labels, "fraud_sim.json");
	const char *base = strrchr(p->labels, '/');
	FILE *f = open_out(path, log);
	int rc = -1;
	if (f) {
		fprintf(f, "{\"generator\":\"weir-gen --fraud\",\"labels\":\"%s\",\"customers\":%" PRIu64
			",\"terminals\":%" PRIu64 ",\"days\":%" PRIu64 ",\"radius\":%.17g,\"seed\":%" PRIu64
			",\"start_ns\":%" PRId64 ",\"end_ns\":%" PRId64 ",\"delay_ns\":%" PRId64
			",\"s2_days\":%d,\"s3_days\":%d,\"transactions\":%zu,\"frauds\":%" PRIu64
			",\"scenario\":{\"1\":%" PRIu64 ",\"2\":%" PRIu64 ",\"3\":%" PRIu64 "},\"reports\":%" PRIu64 "}\n",
			base ? base + 1 : p->labels, p->customers, p->terminals, p->days, p->radius, p->seed, p->start_ns,
			ns_of(s, (int64_t)p->days * SEC_PER_DAY), p->delay_ns, S2_DAYS, S3_DAYS, s->ntx, frauds,
			per_scen[1], per_scen[2], per_scen[3], reports);
		rc = close_out(f, path, log);
	}
	free(path);
	return rc;
}

int
fraudgen_run(const struct fraudgen_params *p, fraudgen_emit_fn *emit, void *ctx, FILE *log)
{
	struct sim s = { .p = p };
	struct out *o = calloc(1, sizeof(*o));
	struct timespec t0, t1;
	int rc = -1;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (p->customers > UINT32_MAX || p->terminals > UINT32_MAX || p->days > 100000 || !(p->radius >= 0) ||
	    p->batch == 0 || 24 + (size_t)p->batch * REC_SIZE > sizeof(o->buf)) {
		fprintf(log, "weir-gen: --fraud: customers and terminals < 2^32, days <= 100000, radius >= 0\n");
		goto out;
	}
	if (!o || generate(&s) || add_frauds(&s)) {
		fprintf(log, "weir-gen: --fraud: out of memory\n");
		goto out;
	}
	uint64_t per_scen[4] = { 0 }, frauds = 0;
	for (size_t i = 0; i < s.ntx; i++) {
		per_scen[s.tx[i].scen]++;
		frauds += s.tx[i].fraud;
	}
	if (p->labels && write_labels(&s, log))
		goto out;
	*o = (struct out){ .p = p, .emit = emit, .ctx = ctx, .seq = p->seq };
	uint64_t reports = send_stream(&s, o);
	if (p->labels && write_meta(&s, per_scen, frauds, reports, log))
		goto out;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	fprintf(log,
		"weir-gen: --fraud: %" PRIu64 " customers (%" PRIu64 " without a terminal, %.1f terminals each on "
		"average), %" PRIu64 " terminals, %" PRIu64 " days, seed %" PRIu64 "\n"
		"weir-gen: --fraud: %zu transactions, %" PRIu64 " frauds (%.3f %%): scenario 1 %" PRIu64
		", scenario 2 %" PRIu64 ", scenario 3 %" PRIu64 "\n"
		"weir-gen: --fraud: %" PRIu64 " fraud reports sent (%" PRIu64 " fall after the period), %" PRIu64
		" events in %" PRIu64 " datagrams%s, %.2f s\n",
		p->customers, s.no_terminals, p->customers ? (double)s.sum_terminals / (double)p->customers : 0.0,
		p->terminals, p->days, p->seed, s.ntx, frauds, s.ntx ? 100.0 * (double)frauds / (double)s.ntx : 0.0,
		per_scen[1], per_scen[2], per_scen[3], reports, frauds - reports, (uint64_t)s.ntx + reports,
		o->datagrams, p->no_eos ? "" : " and an EOS",
		(double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9);
	rc = 0;
out:
	free(s.cust);
	free(s.term);
	free(s.tx);
	free(s.t_off);
	free(s.t_idx);
	free(s.c_off);
	free(s.c_idx);
	free(s.s2_draw);
	free(s.s3_draw);
	free(o);
	return rc;
}

int
fraudgen_parse_date(const char *s, int64_t *ns)
{
	struct tm tm = { 0 };
	char end;
	if (sscanf(s, "%4d-%2d-%2d%c", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &end) != 3 || tm.tm_mon < 1 ||
	    tm.tm_mon > 12 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_year < 1970 || tm.tm_year > 2200)
		return -1;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	*ns = (int64_t)timegm(&tm) * INT64_C(1000000000);
	return 0;
}

int
fraudgen_parse_delay(const char *s, int64_t *ns)
{
	char *end;
	double v = strtod(s, &end), unit = 86400e9;
	if (end == s || !(v >= 0))
		return -1;
	switch (*end) {
	case 's': unit = 1e9; end++; break;
	case 'm': unit = 60e9; end++; break;
	case 'h': unit = 3600e9; end++; break;
	case 'd': end++; break;
	case 0: break;
	default: return -1;
	}
	if (*end || v * unit > 1e18)
		return -1;
	*ns = (int64_t)llround(v * unit);
	return 0;
}
