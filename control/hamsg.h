/* SPDX-License-Identifier: Apache-2.0
 * HA messages: the heartbeat a node sends to its peer and to the witness, and the
 * witness's answer.  One UDP datagram each, little-endian fields, HMAC-SHA256 over
 * a shared secret at the end.  A message is accepted only if its MAC checks out and
 * its (boot, seq) is newer than the last accepted from that sender (replay guard).
 *
 * Datagram: "WHB2" | body (wha_pack layout, nworkers (emitted, digest) pairs) | mac[32]
 */
#ifndef WEIR_HAMSG_H
#define WEIR_HAMSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define WHA_NODE_MAX     16          /* node name incl. NUL */
#define WHA_MAX_WORKERS  128
#define WHA_MAC_LEN      32
#define WHA_SECRET_MIN   16
#define WHA_SECRET_MAX   256
#define WHA_DGRAM_MAX    (4 + 208 + 16 * WHA_MAX_WORKERS + WHA_MAC_LEN)

enum wha_type { WHA_HB = 1, WHA_WACK = 2 };
enum wha_role { WHA_STANDBY = 0, WHA_PRIMARY = 1, WHA_FENCED = 2 };

enum wha_flag {
	WHA_F_CANDIDATE = 1u << 0,   /* sender asks for term `want` */
	WHA_F_VOTE      = 1u << 1,   /* sender grants term `vote_term` to the addressee */
	WHA_F_ACK       = 1u << 2,   /* sender follows the addressee as primary of `ack_term` */
	WHA_F_DP_OK     = 1u << 3,   /* sender's dataplane is up */
	WHA_F_HANDOVER  = 1u << 4,   /* sender stopped emitting after `emitted`: take over */
	WHA_F_SWITCH    = 1u << 5,   /* sender asks the primary for a switchover (`req`) */
	WHA_F_LEASE     = 1u << 6,   /* witness: `holder` holds a live lease on `term` */
	WHA_F_EXACT     = 1u << 7,   /* HANDOVER: `emitted` is exactly what was written */
	WHA_F_SYNC0     = 1u << 8,   /* two bits: the sender's streams against the primary's */
	WHA_F_SYNC1     = 1u << 9,   /*   (enum weir_sync: unknown, ok, diverged, resync) */
	WHA_F_WANT_SNAP = 1u << 10,  /* sender asks for a snapshot (`snap_req`) at `ship_port` */
};
#define WHA_SYNC_SHIFT 8
#define WHA_SYNC(flags) (((flags) >> WHA_SYNC_SHIFT) & 3u)

struct wha_msg {
	uint8_t type;                /* enum wha_type */
	uint8_t role;                /* enum wha_role (witness: 0) */
	uint16_t nworkers;           /* entries of emitted[] */
	uint32_t flags;
	char node[WHA_NODE_MAX];     /* sender */
	uint64_t boot;               /* sender's incarnation: CLOCK_REALTIME ns at start */
	uint64_t seq;                /* sender's message counter within boot */
	uint64_t term;               /* sender's current term (witness: the granted term) */
	uint64_t want;               /* CANDIDATE */
	uint64_t vote_term;          /* VOTE / HANDOVER */
	uint64_t ack_term;           /* ACK */
	uint64_t echo_boot;          /* the addressee's newest message the sender got */
	uint64_t echo_seq;
	uint64_t lease_ns;           /* heartbeat x dead_after of the sender */
	uint64_t fingerprint;        /* the pair's configuration: both must agree */
	uint64_t epoch;              /* sender's last published checkpoint */
	uint64_t req;                /* SWITCH request id */
	uint64_t snap_req;           /* WANT_SNAP request id */
	uint64_t ship_port;          /* WANT_SNAP: the sender's snapshot receiver (TCP port) */
	int64_t priority;
	char holder[WHA_NODE_MAX];   /* witness: who holds `term` */
	uint64_t emitted[WHA_MAX_WORKERS];  /* results written per worker stream */
	uint64_t digest[WHA_MAX_WORKERS];   /* primary (or handing over): stream digest there */
};

/* Pack m and append its MAC.  Returns the datagram length. */
size_t wha_pack(const struct wha_msg *m, const uint8_t *key, size_t keylen,
		uint8_t *buf, size_t cap);

enum wha_verdict { WHA_OK = 0, WHA_BAD_LEN, WHA_BAD_MAGIC, WHA_BAD_MAC, WHA_BAD_FIELD };
/* Check the MAC and unpack.  Never reads past len. */
enum wha_verdict wha_unpack(const uint8_t *buf, size_t len, const uint8_t *key, size_t keylen,
			    struct wha_msg *m);

/* Replay guard: the newest (boot, seq) accepted from one sender. */
struct wha_replay {
	uint64_t boot, seq;
};
/* True (and remembered) if (m->boot, m->seq) is newer than anything accepted. */
bool wha_replay_accept(struct wha_replay *r, const struct wha_msg *m);

/* Read a secret file (at least WHA_SECRET_MIN bytes, trailing newline dropped).
 * 0, or -1 with why set. */
int wha_secret_load(const char *path, uint8_t *key, size_t *keylen, char *why, size_t n);

const char *wha_role_name(int role);
/* HMAC-SHA256 of d under key (also what authenticates a snapshot shipped to the peer). */
void wha_hmac(const uint8_t *key, size_t keylen, const uint8_t *d, size_t n, uint8_t out[WHA_MAC_LEN]);

#ifdef __cplusplus
}
#endif
#endif
