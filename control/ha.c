/* SPDX-License-Identifier: Apache-2.0
 * The HA role machine (see ha.h for the safety argument). */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ha.h"
#include "hagate.h"

#define SENT_RING 512              /* send times kept to turn echoes into leases */

struct ha {
	struct ha_params p;
	struct ha_io io;
	uint64_t D;                     /* hb x dead_after: silence that means dead */
	uint64_t boot, seq;
	int role;
	uint64_t term;                  /* durable: newest term held, voted in or stood for */
	uint64_t granted;               /* newest term known to be won by someone (not a failed
					 * candidacy of ours: those raise `term` only) */
	uint64_t promise_until;         /* we vouched for the peer (vote or follow): do not
					 * stand before this */
	char voted_for[WHA_NODE_MAX];   /* durable: who got `term` ("" nobody) */
	uint64_t since, started;
	uint64_t last_run;              /* timers last ran: a gap means we were not scheduled */
	uint64_t max_stall;
	struct ha_counters c;
	uint64_t last_tr_at[HA_TR__N];

	/* the peer */
	struct wha_msg peer;            /* newest accepted heartbeat */
	uint64_t peer_rx;               /* when (0 never) */
	uint64_t peer_emitted[WHA_MAX_WORKERS];     /* max over what primaries reported */
	uint64_t peer_digest[WHA_MAX_WORKERS];      /* ... and the stream digests there */
	uint64_t peer_healthy_since;    /* auto failback: peer standby with its dataplane up */
	uint64_t peer_ok_since;         /* the peer's dataplane has been up since (0: it is not) */
	/* the witness */
	struct wha_msg wit;
	uint64_t wit_rx;

	/* primary */
	uint64_t lease_peer, lease_wit; /* valid until */
	struct { uint64_t seq, at; } sent[2][SENT_RING];   /* per destination */

	/* standby: election */
	uint64_t want;                  /* term asked for, 0: not standing */
	uint64_t want_until;
	uint64_t no_primary_since;

	/* dataplane */
	bool dp_ok;
	uint64_t emitted[WHA_MAX_WORKERS];
	uint64_t digest[WHA_MAX_WORKERS];
	uint64_t epoch;
	unsigned sync;                  /* enum weir_sync of our streams */
	uint64_t snap_req, ship_port;   /* asking the primary for a snapshot (0: not) */

	/* handover: as primary (we hand over) */
	uint64_t ho_req, ho_started;
	uint64_t ho_next;
	/* after handing over (or dying): what we tell the peer until it is primary */
	bool relinquish;
	bool relinquish_exact;
	uint64_t relinquish_term;
	uint64_t relinquish_until;
	/* switch requests forwarded to the primary */
	uint64_t switch_req, switch_until, peer_switch_done;
};

static void
logf_(struct ha *h, uint64_t now, const char *fmt, ...)
{
	char line[320];
	va_list ap;

	if (!h->io.log)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	h->io.log(h->io.ctx, now, line);
}

static bool
alive(uint64_t rx, uint64_t now, uint64_t D)
{
	return rx && now - rx < D;
}

/* Is node (prio_a, name_a) preferred over (prio_b, name_b)? */
static bool
preferred(int64_t pa, const char *na, int64_t pb, const char *nb)
{
	return pa != pb ? pa > pb : strcmp(na, nb) < 0;
}

static int
persist(struct ha *h, uint64_t now, uint64_t term, const char *voted_for)
{
	if (h->io.persist(h->io.ctx, term, voted_for)) {
		h->c.persist_failed++;
		logf_(h, now, "cannot store term %" PRIu64 " durably: not acting on it", term);
		return -1;
	}
	h->term = term;
	snprintf(h->voted_for, sizeof(h->voted_for), "%s", voted_for);
	return 0;
}

/* ---- sending ------------------------------------------------------------------ */

static void
send_to(struct ha *h, uint64_t now, enum ha_to to)
{
	struct wha_msg m;
	const struct wha_msg *last = to == HA_TO_PEER ? &h->peer : &h->wit;
	uint64_t rx = to == HA_TO_PEER ? h->peer_rx : h->wit_rx;

	memset(&m, 0, sizeof(m));
	m.type = WHA_HB;
	m.role = (uint8_t)h->role;
	snprintf(m.node, sizeof(m.node), "%s", h->p.node);
	m.boot = h->boot;
	m.seq = ++h->seq;
	m.term = h->term;
	m.lease_ns = h->D;
	m.fingerprint = h->p.fingerprint;
	m.epoch = h->epoch;
	m.priority = h->p.priority;
	if (rx) {
		m.echo_boot = last->boot;
		m.echo_seq = last->seq;
	}
	if (h->dp_ok)
		m.flags |= WHA_F_DP_OK;
	if (h->want) {
		m.flags |= WHA_F_CANDIDATE;
		m.want = h->want;
	}
	m.nworkers = (uint16_t)h->p.nworkers;
	memcpy(m.emitted, h->emitted, sizeof(uint64_t) * h->p.nworkers);
	/* digests are the reference only from the primary or from a node handing over */
	if (h->role == WHA_PRIMARY || h->relinquish)
		memcpy(m.digest, h->digest, sizeof(uint64_t) * h->p.nworkers);
	m.flags |= (h->sync & 3u) << WHA_SYNC_SHIFT;
	if (h->snap_req) {
		m.flags |= WHA_F_WANT_SNAP;
		m.snap_req = h->snap_req;
		m.ship_port = h->ship_port;
	}
	if (to == HA_TO_PEER) {
		/* follow the peer while it is a live primary of our term or newer */
		if (h->role != WHA_PRIMARY && alive(h->peer_rx, now, h->D) && h->peer.role == WHA_PRIMARY &&
		    h->peer.term >= h->granted) {
			m.flags |= WHA_F_ACK;
			m.ack_term = h->peer.term;
		}
		/* (repeated while the peer stands for that term: the reply may be lost) */
		if (h->voted_for[0] && h->role != WHA_PRIMARY && h->peer_rx && !strcmp(h->voted_for, h->peer.node) &&
		    (h->peer.flags & WHA_F_CANDIDATE) && h->peer.want == h->term) {
			m.flags |= WHA_F_VOTE;
			m.vote_term = h->term;
		}
		if (m.flags & (WHA_F_ACK | WHA_F_VOTE) && h->peer_rx + h->D > h->promise_until)
			h->promise_until = h->peer_rx + h->D;
		if (h->relinquish) {
			if (h->peer_rx + h->D > h->promise_until)
				h->promise_until = h->peer_rx + h->D;
			m.flags |= WHA_F_HANDOVER | WHA_F_VOTE | (h->relinquish_exact ? WHA_F_EXACT : 0);
			m.vote_term = h->relinquish_term;
		}
		if (h->switch_req && now < h->switch_until) {
			m.flags |= WHA_F_SWITCH;
			m.req = h->switch_req;
		}
	}
	unsigned i = (unsigned)(m.seq % SENT_RING);
	h->sent[to][i].seq = m.seq;
	h->sent[to][i].at = now;
	h->c.tx++;
	h->io.send(h->io.ctx, to, &m);
}

static void
announce(struct ha *h, uint64_t now)
{
	send_to(h, now, HA_TO_PEER);
	if (h->p.witness)
		send_to(h, now, HA_TO_WITNESS);
}

/* When we sent the message a destination echoed, or 0 if unknown. */
static uint64_t
sent_at(const struct ha *h, enum ha_to to, const struct wha_msg *m)
{
	if (m->echo_boot != h->boot || !m->echo_seq)
		return 0;
	unsigned i = (unsigned)(m->echo_seq % SENT_RING);
	return h->sent[to][i].seq == m->echo_seq ? h->sent[to][i].at : 0;
}

static uint64_t
lease_from(const struct ha *h, uint64_t t_sent)
{
	return t_sent ? t_sent + h->D - h->p.hb_ns / 2 : 0;
}

/* ---- transitions ------------------------------------------------------------------ */

static void
enter(struct ha *h, uint64_t now, enum ha_tr t, int to, const char *why)
{
	h->c.transitions[t]++;
	h->last_tr_at[t] = now;
	h->role = to;
	h->since = now;
	logf_(h, now, "%s: entering %s (term %" PRIu64 "): %s", ha_tr_name(t), wha_role_name(to), h->term,
	      why);
	announce(h, now);
}

/* lease_peer / lease_wit: from the echo in the grant (the granter vouches from there) */
static void
tr_promote(struct ha *h, uint64_t now, uint64_t lease_peer, uint64_t lease_wit, const char *why)
{
	h->want = 0;
	h->relinquish = false;
	h->granted = h->term;
	h->lease_peer = lease_peer;
	h->lease_wit = lease_wit;
	h->ho_req = 0;
	h->c.takeovers++;
	char line[200];
	if (h->peer_rx)
		snprintf(line, sizeof(line), "%s; the peer was last heard %.1f ms ago", why,
			 (double)(now - h->peer_rx) / 1e6);
	else
		snprintf(line, sizeof(line), "%s", why);
	enter(h, now, HA_TR_PROMOTE, WHA_PRIMARY, line);
}

static void
tr_demote(struct ha *h, uint64_t now, const char *why)
{
	h->lease_peer = h->lease_wit = 0;
	h->ho_req = 0;
	h->no_primary_since = now;
	enter(h, now, HA_TR_DEMOTE, WHA_STANDBY, why);
}

static void
tr_fence_primary(struct ha *h, uint64_t now, const char *why)
{
	h->lease_peer = h->lease_wit = 0;
	h->ho_req = 0;
	enter(h, now, HA_TR_FENCE_PRIMARY, WHA_FENCED, why);
}

static void
tr_fence_standby(struct ha *h, uint64_t now, const char *why)
{
	h->want = 0;
	enter(h, now, HA_TR_FENCE_STANDBY, WHA_FENCED, why);
}

static void
tr_unfence(struct ha *h, uint64_t now, const char *why)
{
	h->no_primary_since = now;
	enter(h, now, HA_TR_UNFENCE, WHA_STANDBY, why);
}

/* Give the role up to the peer: it may take term+1 with our vote, and it emits
 * after `emitted` (exact: that is precisely what we wrote). */
static void
relinquish(struct ha *h, uint64_t now, bool exact, const char *why)
{
	uint64_t t = (h->peer_rx && h->peer.term > h->term ? h->peer.term : h->term) + 1;

	if (h->role == WHA_PRIMARY)
		tr_demote(h, now, why);
	if (persist(h, now, t, h->peer_rx ? h->peer.node : ""))
		return;
	h->granted = t;
	h->relinquish = true;
	h->relinquish_exact = exact;
	h->relinquish_term = t;
	h->relinquish_until = now + 4 * h->D;
	announce(h, now);
}

/* ---- elections -------------------------------------------------------------------- */

static bool
primary_visible(const struct ha *h, uint64_t now)
{
	return alive(h->peer_rx, now, h->D) && h->peer.role == WHA_PRIMARY && h->peer.term >= h->granted;
}

static void
stand(struct ha *h, uint64_t now)
{
	uint64_t seen = h->granted;

	if (h->peer_rx && h->peer.term > seen)
		seen = h->peer.term;
	if (h->wit_rx && h->wit.term > seen)
		seen = h->wit.term;
	/* a term we already voted ourselves in and nobody has won since is asked for
	 * again (no new term, no write): a node cut off from a live primary keeps asking
	 * the witness without inflating terms */
	bool again = !strcmp(h->voted_for, h->p.node) && h->term > seen;
	uint64_t t = again ? h->term : (h->term > seen ? h->term : seen) + 1;
	if (!again && persist(h, now, t, h->p.node))
		return;
	h->want = t;
	h->want_until = now + 2 * h->D;
	h->c.elections++;
	if (!again)
		logf_(h, now, "standing for term %" PRIu64 " (peer %s, witness %s)", t,
		      alive(h->peer_rx, now, h->D) ? "up" : "silent", alive(h->wit_rx, now, h->D) ? "up" : "silent");
	announce(h, now);
}

static void
standby_timers(struct ha *h, uint64_t now)
{
	bool pa = alive(h->peer_rx, now, h->D), wa = alive(h->wit_rx, now, h->D);

	/* (a standby emits nothing either way: one just started, whose peers and own
	 * process are busy starting dataplanes, gets 2 s before it calls itself cut off) */
	if (!pa && !wa && now - h->since >= h->D && now - h->started >= 2000000000ull) {
		tr_fence_standby(h, now, "neither the peer nor the witness is reachable");
		return;
	}
	if (primary_visible(h, now)) {
		h->no_primary_since = now;
		h->want = 0;
		return;
	}
	if (h->want) {
		if (now < h->want_until)
			return;
		h->want = 0;    /* no grant in time: back off, then try a newer term */
		h->no_primary_since = now;
		return;
	}
	if (!h->dp_ok || (h->relinquish && now < h->relinquish_until) || now < h->promise_until)
		return;
	/* never preempt.  A silent peer has been dead for D already: stand now.  A live
	 * peer that is no primary: give it D to show up as one (2D if it is preferred). */
	uint64_t wait = pa ? h->D : 0, from = h->no_primary_since;
	if (pa && h->peer.role != WHA_FENCED && preferred(h->peer.priority, h->peer.node, h->p.priority, h->p.node)) {
		/* the preferred peer goes first: 2D after it could (its dataplane up) */
		wait = 2 * h->D;
		if (h->peer_ok_since > from)
			from = h->peer_ok_since;
		/* at start-up the preferred node's dataplane may still be coming up (EAL
		 * init takes a second or so): give it 5 s before taking its place */
		if (!(h->peer.flags & WHA_F_DP_OK) && now - h->started < 5000000000ull)
			return;
	}
	if (!pa && !h->p.witness)
		return;         /* nobody could grant a term */
	if (now - from >= wait && now - h->started >= h->D)
		stand(h, now);
}

/* ---- the switchover ---------------------------------------------------------------- */

static bool
peer_ready(const struct ha *h, uint64_t now)
{
	return alive(h->peer_rx, now, h->D) && h->peer.role == WHA_STANDBY && (h->peer.flags & WHA_F_DP_OK);
}

/* The peer's streams were compared with ours and found equal (or nothing was
 * written yet by either): it can go on from exactly where we stop. */
static bool
peer_in_sync(const struct ha *h)
{
	unsigned st = WHA_SYNC(h->peer.flags);
	bool none = true;

	for (unsigned w = 0; w < h->p.nworkers; w++)
		none &= h->emitted[w] == 0 && h->peer.emitted[w] == 0;
	return st == 1 || (none && st == 0);
}

static const char *const sync_why[] = { "not yet compared with the primary's", "the same as the primary's",
					"diverged from the primary's", "being resynced from the primary's snapshot" };

const char *
ha_sync_name(unsigned st)
{
	return weir_sync_name(st);
}

static int
start_handover(struct ha *h, uint64_t now, const char *why, char *err, size_t n)
{
	if (h->ho_req) {
		snprintf(err, n, "a switchover is already in progress");
		return -1;
	}
	if (!peer_ready(h, now)) {
		snprintf(err, n, "the peer is not a healthy standby");
		return -1;
	}
	if (!peer_in_sync(h)) {
		snprintf(err, n, "%s's results are %s (weir status): it would not go on from the same state",
			 h->peer.node, sync_why[WHA_SYNC(h->peer.flags)]);
		return -1;
	}
	h->ho_req = ++h->ho_next + (h->boot << 8);
	h->ho_started = now;
	h->c.handovers_started++;
	logf_(h, now, "switchover %" PRIu64 " to %s: %s", h->ho_req, h->peer.node, why);
	h->io.handover(h->io.ctx, h->ho_req);
	return 0;
}

void
ha_handover_ready(struct ha *h, uint64_t now, uint64_t req, bool ok, const uint64_t *emitted, unsigned nw)
{
	if (!h->ho_req || req != h->ho_req || h->role != WHA_PRIMARY)
		return;
	if (!ok) {
		h->c.handovers_aborted++;
		logf_(h, now, "switchover %" PRIu64 " aborted: the dataplane could not stop at a barrier", req);
		h->ho_req = 0;
		return;
	}
	for (unsigned w = 0; w < nw && w < h->p.nworkers; w++)
		h->emitted[w] = emitted[w];
	h->c.handovers_done++;
	relinquish(h, now, true, "switchover: handing over after the checkpoint barrier");
}

int
ha_action(struct ha *h, uint64_t now, enum ha_action a, char *why, size_t n)
{
	bool peer_pref = h->peer_rx && preferred(h->peer.priority, h->peer.node, h->p.priority, h->p.node);

	if (h->role == WHA_PRIMARY) {
		if (a == HA_ACT_FAILBACK && !peer_pref) {
			snprintf(why, n, "this node (%s) is the preferred primary already", h->p.node);
			return -1;
		}
		return start_handover(h, now, a == HA_ACT_FAILBACK ? "failback" : "failover", why, n);
	}
	if (h->role != WHA_STANDBY || !primary_visible(h, now)) {
		snprintf(why, n, "no live primary to switch over from");
		return -1;
	}
	if (a == HA_ACT_FAILBACK && peer_pref) {
		snprintf(why, n, "the primary (%s) is the preferred node already", h->peer.node);
		return -1;
	}
	if (!h->dp_ok) {
		snprintf(why, n, "this node's dataplane is down");
		return -1;
	}
	if (h->sync != 1) {
		bool none = true;
		for (unsigned w = 0; w < h->p.nworkers; w++)
			none &= h->peer_emitted[w] == 0;
		if (!none || h->sync != 0) {
			snprintf(why, n, "this node's results are %s (weir status): try again once they are in sync",
				 sync_why[h->sync & 3u]);
			return -1;
		}
	}
	h->switch_req = ++h->ho_next + (h->boot << 8);
	h->switch_until = now + 4 * h->D;
	h->c.switch_requests++;
	logf_(h, now, "asking %s to switch over to this node (%s)", h->peer.node,
	      a == HA_ACT_FAILBACK ? "failback" : "failover");
	send_to(h, now, HA_TO_PEER);
	return 0;
}

/* ---- input ------------------------------------------------------------------------ */

static void
adopt_term(struct ha *h, uint64_t now, uint64_t t, const char *holder, const char *why)
{
	if (t > h->granted)
		h->granted = t;
	if (t <= h->term)
		return;
	if (h->role == WHA_PRIMARY)
		tr_demote(h, now, why);
	h->want = 0;
	persist(h, now, t, holder);
}

/* What a primary (or a node handing over) reports written, with its digests. */
static void
peer_positions(struct ha *h, const struct wha_msg *m)
{
	for (unsigned w = 0; w < m->nworkers && w < h->p.nworkers; w++)
		if (m->emitted[w] > h->peer_emitted[w] || (m->emitted[w] == h->peer_emitted[w] && !h->peer_digest[w])) {
			h->peer_emitted[w] = m->emitted[w];
			h->peer_digest[w] = m->digest[w];
		}
}

static void
from_peer(struct ha *h, uint64_t now, const struct wha_msg *m)
{
	uint64_t ts = sent_at(h, HA_TO_PEER, m);

	if (m->role == WHA_PRIMARY) {
		if (h->role == WHA_PRIMARY && m->term > h->term)
			adopt_term(h, now, m->term, m->node, "the peer is primary of a newer term");
		else if (m->term > h->granted)
			h->granted = m->term;   /* won with a majority: follow it */
		if (m->term >= h->granted) {
			peer_positions(h, m);
			h->relinquish = false;          /* it took over */
		}
	}
	if (!(m->flags & WHA_F_DP_OK))
		h->peer_ok_since = 0;
	else if (!h->peer_ok_since)
		h->peer_ok_since = now;
	if (h->role == WHA_PRIMARY && (m->flags & WHA_F_ACK) && m->ack_term == h->term) {
		uint64_t l = lease_from(h, ts);
		if (l > h->lease_peer)
			h->lease_peer = l;
	}

	/* the peer hands over to us: what it wrote counts, whichever way we win the term */
	if (m->flags & WHA_F_HANDOVER)
		peer_positions(h, m);
	if ((m->flags & WHA_F_HANDOVER) && h->role == WHA_STANDBY && m->vote_term > h->term && h->dp_ok) {
		char why[96];
		if (persist(h, now, m->vote_term, h->p.node))
			return;
		snprintf(why, sizeof(why), "%s handed over (%s)", m->node,
			 (m->flags & WHA_F_EXACT) ? "exact position" : "last reported position");
		tr_promote(h, now, lease_from(h, ts), 0, why);
		return;
	}
	/* a vote for the term we stand for */
	if (h->want && (m->flags & WHA_F_VOTE) && m->vote_term == h->want && h->role == WHA_STANDBY) {
		tr_promote(h, now, lease_from(h, ts), 0, "won the term with the peer's vote");
		return;
	}
	/* the peer stands: vote if we never voted in that term and do not emit */
	if (m->flags & WHA_F_CANDIDATE) {
		if (h->role != WHA_PRIMARY && m->want > h->term &&
		    !(h->want && preferred(h->p.priority, h->p.node, m->priority, m->node))) {
			if (persist(h, now, m->want, m->node) == 0) {
				h->want = 0;
				h->granted = m->want;
				h->c.votes_granted++;
				logf_(h, now, "voted for %s in term %" PRIu64, m->node, m->want);
				send_to(h, now, HA_TO_PEER);
			}
		} else if (!(h->term == m->want && !strcmp(h->voted_for, m->node))) {
			h->c.votes_refused++;
		}
	}
	/* a switchover asked for by the peer */
	if ((m->flags & WHA_F_SWITCH) && h->role == WHA_PRIMARY && m->req != h->peer_switch_done) {
		char err[96];
		h->peer_switch_done = m->req;
		if (start_handover(h, now, "asked for by the peer", err, sizeof(err)))
			logf_(h, now, "switchover asked for by %s refused: %s", m->node, err);
	}
}

static void
from_witness(struct ha *h, uint64_t now, const struct wha_msg *m)
{
	uint64_t ts = sent_at(h, HA_TO_WITNESS, m);
	bool mine = !strcmp(m->holder, h->p.node);

	if (m->term > h->term && !mine) {
		char why[96];
		snprintf(why, sizeof(why), "the witness gave term %" PRIu64 " to %s", m->term, m->holder);
		adopt_term(h, now, m->term, m->holder, why);
	}
	if (h->want && mine && m->term == h->want && (m->flags & WHA_F_VOTE) && h->role == WHA_STANDBY) {
		tr_promote(h, now, 0, lease_from(h, ts), "won the term from the witness");
		return;
	}
	if (h->role == WHA_PRIMARY && mine && m->term == h->term && (m->flags & WHA_F_LEASE)) {
		uint64_t l = lease_from(h, ts);
		if (l > h->lease_wit)
			h->lease_wit = l;
	}
}

void
ha_recv(struct ha *h, uint64_t now, enum ha_to from, const struct wha_msg *m)
{
	if (m->fingerprint != h->p.fingerprint && from == HA_TO_PEER) {
		if (!h->c.fingerprint_mismatch++)
			logf_(h, now, "peer %s runs a different configuration (fingerprint %016" PRIx64
			      "): ignoring it", m->node, m->fingerprint);
		return;
	}
	h->c.rx++;
	if (from == HA_TO_PEER) {
		h->peer = *m;
		h->peer_rx = now;
		from_peer(h, now, m);
	} else {
		h->wit = *m;
		h->wit_rx = now;
		from_witness(h, now, m);
	}
}

/* ---- timers ------------------------------------------------------------------------- */

static void timers(struct ha *h, uint64_t now);

void
ha_tick(struct ha *h, uint64_t now)
{
	timers(h, now);
	announce(h, now);
}

void
ha_timers(struct ha *h, uint64_t now)
{
	timers(h, now);
}

static void
soonest(uint64_t *t, uint64_t x, uint64_t now)
{
	if (x > now && x < *t)
		*t = x;
}

uint64_t
ha_deadline(const struct ha *h, uint64_t now)
{
	uint64_t t = UINT64_MAX;

	if (h->peer_rx)
		soonest(&t, h->peer_rx + h->D, now);
	if (h->wit_rx)
		soonest(&t, h->wit_rx + h->D, now);
	soonest(&t, h->lease_peer, now);
	soonest(&t, h->lease_wit, now);
	soonest(&t, h->promise_until, now);
	soonest(&t, h->want_until, now);
	soonest(&t, h->relinquish_until, now);
	soonest(&t, h->since + h->D, now);
	return t;
}

/* If this process itself was not scheduled for a while (a VM or kernel stall), the
 * silence it sees is its own: count it out of the peers' liveness (never out of a
 * lease: those stay measured from our sends). */
static void
stalled(struct ha *h, uint64_t now)
{
	if (h->last_run && now - h->last_run > 2 * h->p.hb_ns) {
		uint64_t gap = now - h->last_run - h->p.hb_ns;
		if (h->peer_rx)
			h->peer_rx += gap;
		if (h->wit_rx)
			h->wit_rx += gap;
		h->c.stalls++;
		if (now - h->last_run > h->max_stall)
			h->max_stall = now - h->last_run;
		if (now - h->last_run >= h->D / 2)
			logf_(h, now, "this process was not scheduled for %.1f ms (heartbeats every %.1f ms): "
			      "leases may run out", (double)(now - h->last_run) / 1e6, (double)h->p.hb_ns / 1e6);
	}
	h->last_run = now;
}

static void
timers(struct ha *h, uint64_t now)
{
	stalled(h, now);
	bool pa = alive(h->peer_rx, now, h->D), wa = alive(h->wit_rx, now, h->D);

	if (h->relinquish && now >= h->relinquish_until)
		h->relinquish = false;
	if (h->switch_req && now >= h->switch_until)
		h->switch_req = 0;
	switch (h->role) {
	case WHA_PRIMARY: {
		uint64_t lease = h->lease_peer > h->lease_wit ? h->lease_peer : h->lease_wit;
		if (now >= lease && now - h->since >= h->D) {     /* (a new primary waits for its first lease) */
			if (!pa && !wa)
				tr_fence_primary(h, now, "lease lost: neither the peer nor the witness answers");
			else
				tr_demote(h, now, "lease lost: no majority follows this node");
			break;
		}
		if (h->ho_req && now - h->ho_started > 10ull * 1000000000ull) {
			h->c.handovers_aborted++;
			logf_(h, now, "switchover %" PRIu64 " aborted: the dataplane did not stop within 10 s",
			      h->ho_req);
			h->ho_req = 0;
		}
		/* auto failback: the preferred peer has been a healthy standby for hold_down */
		if (peer_ready(h, now) && peer_in_sync(h) &&
		    preferred(h->peer.priority, h->peer.node, h->p.priority, h->p.node)) {
			if (!h->peer_healthy_since)
				h->peer_healthy_since = now;
			if (h->p.failback_auto && !h->ho_req && now - h->peer_healthy_since >= h->p.hold_down_ns) {
				char err[96];
				if (start_handover(h, now, "automatic failback after hold_down", err, sizeof(err)))
					h->peer_healthy_since = now;
			}
		} else {
			h->peer_healthy_since = 0;
		}
		break;
	}
	case WHA_STANDBY:
		standby_timers(h, now);
		break;
	case WHA_FENCED:
		if (pa || wa)
			tr_unfence(h, now, pa ? "the peer answers again" : "the witness answers again");
		break;
	}
}

void
ha_dataplane(struct ha *h, uint64_t now, bool ok, const uint64_t *emitted, unsigned nw, bool exact,
	     uint64_t epoch)
{
	bool was = h->dp_ok;

	h->dp_ok = ok;
	h->epoch = epoch;
	for (unsigned w = 0; w < nw && w < h->p.nworkers; w++)
		h->emitted[w] = emitted[w];
	if (was && !ok) {
		logf_(h, now, "the dataplane is down");
		if (h->role == WHA_PRIMARY)
			relinquish(h, now, exact, "the dataplane died: handing over to the peer");
		else
			announce(h, now);
	} else if (!was && ok) {
		logf_(h, now, "the dataplane is up");
		announce(h, now);
	}
}

void
ha_dataplane_sync(struct ha *h, const uint64_t *digest, unsigned nw, unsigned sync)
{
	for (unsigned w = 0; w < nw && w < h->p.nworkers; w++)
		h->digest[w] = digest[w];
	h->sync = sync & 3u;
}

void
ha_want_snapshot(struct ha *h, uint64_t req, uint16_t port)
{
	h->snap_req = req;
	h->ship_port = port;
}

void
ha_gate(const struct ha *h, uint64_t now, struct ha_gate *g)
{
	uint64_t lease = h->lease_peer > h->lease_wit ? h->lease_peer : h->lease_wit;

	g->term = h->term;
	g->emit_until = h->role == WHA_PRIMARY && lease > now ? lease : 0;
	g->handover = h->role == WHA_PRIMARY ? h->ho_req : 0;
	g->peer_emitted = h->peer_emitted;
	g->peer_digest = h->peer_digest;
	g->nw = h->p.nworkers;
}

/* ---- life cycle and status ------------------------------------------------------------ */

struct ha *
ha_create(const struct ha_params *p, const struct ha_io *io, uint64_t term, const char *voted_for,
	  uint64_t boot, uint64_t now)
{
	struct ha *h = calloc(1, sizeof(*h));

	if (!h)
		return NULL;
	h->p = *p;
	if (h->p.nworkers > WHA_MAX_WORKERS)
		h->p.nworkers = WHA_MAX_WORKERS;
	h->io = *io;
	h->D = p->hb_ns * p->dead_after;
	h->boot = boot;
	h->role = WHA_STANDBY;
	h->term = term;
	snprintf(h->voted_for, sizeof(h->voted_for), "%s", voted_for ? voted_for : "");
	h->promise_until = now + h->D;  /* we may have vouched for someone before a restart */
	h->since = h->started = h->no_primary_since = now;
	return h;
}

void
ha_destroy(struct ha *h)
{
	free(h);
}

void
ha_get_status(const struct ha *h, uint64_t now, struct ha_status *s)
{
	uint64_t lease = h->lease_peer > h->lease_wit ? h->lease_peer : h->lease_wit;

	memset(s, 0, sizeof(*s));
	s->role = h->role;
	s->term = h->term;
	s->since = h->since;
	snprintf(s->voted_for, sizeof(s->voted_for), "%s", h->voted_for);
	s->peer_alive = alive(h->peer_rx, now, h->D);
	s->witness_alive = alive(h->wit_rx, now, h->D);
	s->dp_ok = h->dp_ok;
	s->peer_age = h->peer_rx ? now - h->peer_rx : UINT64_MAX;
	s->witness_age = h->wit_rx ? now - h->wit_rx : UINT64_MAX;
	snprintf(s->peer_node, sizeof(s->peer_node), "%s", h->peer_rx ? h->peer.node : "");
	s->peer_role = h->peer.role;
	s->peer_term = h->peer.term;
	s->peer_dp_ok = (h->peer.flags & WHA_F_DP_OK) != 0;
	s->sync = h->role == WHA_PRIMARY ? 1 : h->sync;
	s->peer_sync = h->peer.role == WHA_PRIMARY ? 1 : WHA_SYNC(h->peer.flags);
	s->peer_epoch = h->peer.epoch;
	s->witness_term = h->wit.term;
	snprintf(s->witness_holder, sizeof(s->witness_holder), "%s", h->wit.holder);
	s->lease_left = h->role == WHA_PRIMARY && lease > now ? lease - now : 0;
	s->handover = h->ho_req;
	s->max_stall = h->max_stall;
	s->c = h->c;
	memcpy(s->last_tr_at, h->last_tr_at, sizeof(s->last_tr_at));
}

void
ha_set_failback(struct ha *h, bool autofb, uint64_t hold_down_ns)
{
	h->p.failback_auto = autofb;
	h->p.hold_down_ns = hold_down_ns;
}

const char *
ha_tr_name(enum ha_tr t)
{
	static const char *const names[] = {
#define X(id, from, to, name) name,
		HA_TRANSITIONS(X)
#undef X
	};
	return t < HA_TR__N ? names[t] : "?";
}
