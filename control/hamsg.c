/* SPDX-License-Identifier: Apache-2.0
 * HA message packing, HMAC-SHA256 (OpenSSL), replay guard and the secret file. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "hamsg.h"

#define BODY_FIXED (8 + WHA_NODE_MAX + 15 * 8 + WHA_NODE_MAX)

static uint8_t *
put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
	return p + 8;
}

static const uint8_t *
get64(const uint8_t *p, uint64_t *v)
{
	uint64_t x = 0;
	for (int i = 0; i < 8; i++)
		x |= (uint64_t)p[i] << (8 * i);
	*v = x;
	return p + 8;
}

/* the 64-bit fields in wire order */
#define WHA_U64_FIELDS(X) X(boot) X(seq) X(term) X(want) X(vote_term) X(ack_term) \
	X(echo_boot) X(echo_seq) X(lease_ns) X(fingerprint) X(epoch) X(req) X(snap_req) X(ship_port)

void
wha_hmac(const uint8_t *key, size_t keylen, const uint8_t *d, size_t n, uint8_t out[WHA_MAC_LEN])
{
	unsigned int ol = WHA_MAC_LEN;
	HMAC(EVP_sha256(), key, (int)keylen, d, n, out, &ol);
}

size_t
wha_pack(const struct wha_msg *m, const uint8_t *key, size_t keylen, uint8_t *buf, size_t cap)
{
	unsigned nw = m->nworkers > WHA_MAX_WORKERS ? WHA_MAX_WORKERS : m->nworkers;
	size_t len = 4 + BODY_FIXED + 16u * nw + WHA_MAC_LEN;
	uint8_t *p = buf;

	if (cap < len)
		return 0;
	memcpy(p, "WHB2", 4);
	p += 4;
	*p++ = m->type;
	*p++ = m->role;
	*p++ = (uint8_t)nw;
	*p++ = (uint8_t)(nw >> 8);
	for (int i = 0; i < 4; i++)
		*p++ = (uint8_t)(m->flags >> (8 * i));
	memset(p, 0, WHA_NODE_MAX);
	memcpy(p, m->node, strnlen(m->node, WHA_NODE_MAX - 1));
	p += WHA_NODE_MAX;
#define X(f) p = put64(p, m->f);
	WHA_U64_FIELDS(X)
#undef X
	p = put64(p, (uint64_t)m->priority);
	memset(p, 0, WHA_NODE_MAX);
	memcpy(p, m->holder, strnlen(m->holder, WHA_NODE_MAX - 1));
	p += WHA_NODE_MAX;
	for (unsigned w = 0; w < nw; w++) {
		p = put64(p, m->emitted[w]);
		p = put64(p, m->digest[w]);
	}
	wha_hmac(key, keylen, buf, (size_t)(p - buf), p);
	return len;
}

enum wha_verdict
wha_unpack(const uint8_t *buf, size_t len, const uint8_t *key, size_t keylen, struct wha_msg *m)
{
	uint8_t want[WHA_MAC_LEN];
	const uint8_t *p = buf;
	uint64_t pr;

	if (len < 4 + BODY_FIXED + WHA_MAC_LEN)
		return WHA_BAD_LEN;
	if (memcmp(buf, "WHB2", 4))
		return WHA_BAD_MAGIC;
	unsigned nw = (unsigned)buf[6] | (unsigned)buf[7] << 8;
	if (nw > WHA_MAX_WORKERS || len != 4 + BODY_FIXED + 16u * nw + WHA_MAC_LEN)
		return WHA_BAD_LEN;
	wha_hmac(key, keylen, buf, len - WHA_MAC_LEN, want);
	if (CRYPTO_memcmp(want, buf + len - WHA_MAC_LEN, WHA_MAC_LEN))
		return WHA_BAD_MAC;
	memset(m, 0, sizeof(*m));
	p += 4;
	m->type = *p++;
	m->role = *p++;
	m->nworkers = (uint16_t)nw;
	p += 2;
	m->flags = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
	p += 4;
	memcpy(m->node, p, WHA_NODE_MAX);
	p += WHA_NODE_MAX;
#define X(f) p = get64(p, &m->f);
	WHA_U64_FIELDS(X)
#undef X
	p = get64(p, &pr);
	m->priority = (int64_t)pr;
	memcpy(m->holder, p, WHA_NODE_MAX);
	p += WHA_NODE_MAX;
	for (unsigned w = 0; w < nw; w++) {
		p = get64(p, &m->emitted[w]);
		p = get64(p, &m->digest[w]);
	}
	/* names are NUL-terminated on the wire; a full 16 bytes is malformed */
	if (m->node[WHA_NODE_MAX - 1] || m->holder[WHA_NODE_MAX - 1] || !m->node[0] ||
	    (m->type != WHA_HB && m->type != WHA_WACK) || m->role > WHA_FENCED)
		return WHA_BAD_FIELD;
	return WHA_OK;
}

bool
wha_replay_accept(struct wha_replay *r, const struct wha_msg *m)
{
	if (m->boot < r->boot || (m->boot == r->boot && m->seq <= r->seq))
		return false;
	r->boot = m->boot;
	r->seq = m->seq;
	return true;
}

int
wha_secret_load(const char *path, uint8_t *key, size_t *keylen, char *why, size_t n)
{
	struct stat st;
	ssize_t got;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		snprintf(why, n, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) == 0 && (st.st_mode & 0077))
		fprintf(stderr, "weir: warning: secret file %s is readable by group or others\n", path);
	got = read(fd, key, WHA_SECRET_MAX + 1);
	close(fd);
	if (got < 0) {
		snprintf(why, n, "%s: %s", path, strerror(errno));
		return -1;
	}
	while (got > 0 && (key[got - 1] == '\n' || key[got - 1] == '\r'))
		got--;
	if (got < WHA_SECRET_MIN || got > WHA_SECRET_MAX) {
		snprintf(why, n, "%s: the secret must be %d to %d bytes (have %zd)", path, WHA_SECRET_MIN,
			 WHA_SECRET_MAX, got);
		return -1;
	}
	*keylen = (size_t)got;
	return 0;
}

const char *
wha_role_name(int role)
{
	switch (role) {
	case WHA_STANDBY: return "standby";
	case WHA_PRIMARY: return "primary";
	case WHA_FENCED: return "fenced";
	}
	return "?";
}
