/* SPDX-License-Identifier: Apache-2.0
 * The witness's decision logic (see witness.h). */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "witness.h"

static void wlog(struct wit *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
wlog(struct wit *w, const char *fmt, ...)
{
	char line[256];
	va_list ap;

	if (!w->log)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	w->log(w->ctx, line);
}

static int
take(struct wit *w, uint64_t now, uint64_t term, const char *node, uint64_t lease_ns)
{
	if (w->persist(w->ctx, term, node)) {
		w->c.persist_failed++;
		return -1;
	}
	w->term = term;
	snprintf(w->holder, sizeof(w->holder), "%s", node);
	w->lease_until = now + lease_ns;
	return 0;
}

int
wit_handle(struct wit *w, uint64_t now, const struct wha_msg *m, struct wha_msg *out)
{
	int slot = -1;
	bool granted = false;

	if (m->type != WHA_HB)
		return 0;
	for (int i = 0; i < WIT_MAX_NODES; i++) {
		if (!strcmp(w->nodes[i].node, m->node)) {
			slot = i;
			break;
		}
		if (slot < 0 && !w->nodes[i].node[0])
			slot = i;
	}
	if (slot < 0) {                 /* more nodes than a pair ever has */
		w->c.unknown_node++;
		return 0;
	}
	if (!w->nodes[slot].node[0])
		snprintf(w->nodes[slot].node, sizeof(w->nodes[slot].node), "%s", m->node);
	if (!wha_replay_accept(&w->nodes[slot].rp, m))
		return 0;
	w->nodes[slot].rx = now;
	w->c.rx++;

	bool holder = !strcmp(w->holder, m->node);
	bool live = w->holder[0] && now < w->lease_until;

	if (m->role == WHA_PRIMARY) {
		if (holder && m->term == w->term) {
			w->lease_until = now + m->lease_ns;             /* renewal */
		} else if (m->term > w->term) {
			/* it won the term with its peer's vote (we were out of reach): a majority
			 * stands behind it, so the peer is no longer primary of an older term */
			if (take(w, now, m->term, m->node, m->lease_ns) == 0) {
				w->c.adopted++;
				wlog(w, "term %" PRIu64 " held by %s (won with its peer's vote)", w->term, w->holder);
			}
		}
	} else if (holder && live && !((m->flags & WHA_F_CANDIDATE) && m->want == w->term)) {
		w->lease_until = 0;                                     /* given up */
		w->c.released++;
		wlog(w, "%s gave up term %" PRIu64, m->node, w->term);
	}
	if (m->flags & WHA_F_CANDIDATE) {
		holder = !strcmp(w->holder, m->node);
		live = w->holder[0] && now < w->lease_until;
		if (m->want > w->term && (!live || holder)) {
			if (take(w, now, m->want, m->node, m->lease_ns) == 0) {
				granted = true;
				w->c.granted++;
				wlog(w, "granted term %" PRIu64 " to %s", w->term, w->holder);
			}
		} else if (m->want == w->term && holder) {
			granted = true;                                 /* a repeated request */
		} else {
			w->c.refused++;
		}
	}

	memset(out, 0, sizeof(*out));
	out->type = WHA_WACK;
	snprintf(out->node, sizeof(out->node), "witness");
	out->boot = w->boot;
	out->seq = ++w->seq;
	out->term = w->term;
	snprintf(out->holder, sizeof(out->holder), "%s", w->holder);
	out->echo_boot = m->boot;
	out->echo_seq = m->seq;
	out->fingerprint = m->fingerprint;
	if (w->holder[0] && now < w->lease_until)
		out->flags |= WHA_F_LEASE;
	if (granted) {
		out->flags |= WHA_F_VOTE;
		out->vote_term = w->term;
	}
	return 1;
}
