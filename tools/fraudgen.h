/* SPDX-License-Identifier: Apache-2.0
 * fraudgen: weir-gen's card-fraud workload (--fraud), after the transaction simulator of
 * "Reproducible Machine Learning for Credit Card Fraud Detection - Practical Handbook"
 * (Le Borgne et al., ULB), chapter 3.2, reimplemented on weir-gen's seeded PRNG.
 *
 * Model (handbook defaults in brackets):
 *   customers [5000]: location uniform in [0,100]^2, mean amount U(5,100), std = mean/2,
 *     transactions per day U(0,4); terminals [10000]: location uniform in [0,100]^2.
 *     A customer uses the terminals at distance < radius [5] (none: no transactions).
 *   per customer and day [183 days from 2018-04-01 UTC]: Poisson(rate) draws; each draws a
 *     second of the day int(N(43200, 20000)), kept only when 0 < s < 86400, then an amount
 *     N(mean, std) (negative: U(0, 2 mean)) rounded to cents, and a terminal uniformly.
 *   frauds, in the handbook's order (a later scenario relabels an earlier one's fraud):
 *     1. amount > 220 (the drawn amount);
 *     2. on each day d < days - 1, 2 distinct terminals drawn uniformly: every transaction
 *        on them on days [d, d + 28) is fraud;
 *     3. on each day d < days - 1, 3 distinct customers drawn uniformly: of their n
 *        transactions on days [d, d + 14), floor(n / 3) drawn without replacement get
 *        amount x 5 and are fraud (a transaction drawn again is multiplied again).
 *   transaction ids: 0.. in (time, customer, draw) order; times are whole seconds.
 *
 * The stream (one WEV source): key = customer, fields FRAUDGEN_FIELDS; kind 0 a
 * transaction at its time, kind 1 a fraud report (chargeback) at its fraud's time + the
 * feedback delay [7 days], sent only when before the end of the simulated period.  Events
 * in (event_time, kind, tx_id) order.  Output: see struct fraudgen_params.
 */
#ifndef WEIR_TOOLS_FRAUDGEN_H
#define WEIR_TOOLS_FRAUDGEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define FRAUDGEN_FIELDS "terminal:u64,amount:f64,tx_id:u64,kind:i64"
#define FRAUDGEN_NFIELDS 4
#define FRAUDGEN_DAY_NS INT64_C(86400000000000)
#define FRAUDGEN_START_NS INT64_C(1522540800000000000)   /* 2018-04-01T00:00:00Z */

struct fraudgen_params {
	uint64_t customers, terminals, days, seed;
	double radius;
	int64_t start_ns;          /* the first day's midnight, ns since the epoch */
	int64_t delay_ns;          /* fraud report delay */
	/* labels CSV (NULL: none); compromised_terminals.csv, compromised_customers.csv and
	 * fraud_sim.json (the parameters and counts) go to the same directory */
	const char *labels;
	/* WEV framing */
	uint16_t batch, schema;
	uint32_t source_id;
	uint64_t seq;
	bool no_eos;               /* no EOS batch at the end */
};

/* Receives each WEV datagram payload (header + records) in stream order, EOS last. */
typedef void fraudgen_emit_fn(void *ctx, const uint8_t *payload, size_t len, uint32_t source_id);

/* Simulate, write the labels, emit the stream, summarise on log.  0, or -1 (message on log). */
int fraudgen_run(const struct fraudgen_params *p, fraudgen_emit_fn *emit, void *ctx, FILE *log);

/* YYYY-MM-DD (UTC midnight) -> ns since the epoch.  0, or -1. */
int fraudgen_parse_date(const char *s, int64_t *ns);

/* A duration: a number of days, or a number with a unit s, m, h or d.  0, or -1. */
int fraudgen_parse_delay(const char *s, int64_t *ns);

#ifdef __cplusplus
}
#endif
#endif /* WEIR_TOOLS_FRAUDGEN_H */
