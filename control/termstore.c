/* SPDX-License-Identifier: Apache-2.0
 * The durable term (see termstore.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "termstore.h"

#define SLOT 64
#define MAGIC "WTRM"

/* FNV-1a, 64 bit: detects a torn or rotten slot */
static uint64_t
fnv(const uint8_t *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3ull;
	return h;
}

int
weir_mkdirs(const char *dir, mode_t mode)
{
	char p[1024];
	size_t l = strlen(dir);

	if (l >= sizeof(p))
		return -1;
	memcpy(p, dir, l + 1);
	for (size_t i = 1; i <= l; i++) {
		if (p[i] != '/' && p[i] != '\0')
			continue;
		char c = p[i];
		p[i] = '\0';
		if (mkdir(p, mode) < 0 && errno != EEXIST)
			return -1;
		p[i] = c;
	}
	return 0;
}

static void
encode(uint8_t *s, uint64_t gen, uint64_t term, const char *name)
{
	memset(s, 0, SLOT);
	memcpy(s, MAGIC, 4);
	memcpy(s + 8, &gen, 8);
	memcpy(s + 16, &term, 8);
	memcpy(s + 24, name, strnlen(name, WHA_NODE_MAX - 1));
	uint64_t h = fnv(s, SLOT - 8);
	memcpy(s + SLOT - 8, &h, 8);
}

static int
decode(const uint8_t *s, uint64_t *gen, uint64_t *term, char *name)
{
	uint64_t h;
	memcpy(&h, s + SLOT - 8, 8);
	if (memcmp(s, MAGIC, 4) || h != fnv(s, SLOT - 8) || s[24 + WHA_NODE_MAX - 1])
		return -1;
	memcpy(gen, s + 8, 8);
	memcpy(term, s + 16, 8);
	memcpy(name, s + 24, WHA_NODE_MAX);
	return 0;
}

int
termstore_open(struct termstore *ts, const char *dir, const char *file, uint64_t *term,
	       char name[WHA_NODE_MAX], char *why, size_t n)
{
	char path[1200];
	uint8_t buf[2 * SLOT];
	struct stat st;

	ts->fd = -1;
	ts->gen = 0;
	*term = 0;
	name[0] = '\0';
	if (weir_mkdirs(dir, 0750)) {
		snprintf(why, n, "%s: %s", dir, strerror(errno));
		return -1;
	}
	snprintf(path, sizeof(path), "%s/%s", dir, file);
	ts->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
	if (ts->fd < 0 || fstat(ts->fd, &st) < 0) {
		snprintf(why, n, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (st.st_size == 0) {          /* new: two empty slots, durable with its directory entry */
		uint8_t z[2 * SLOT];
		encode(z, 0, 0, "");
		encode(z + SLOT, 0, 0, "");
		int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (pwrite(ts->fd, z, sizeof(z), 0) != (ssize_t)sizeof(z) || fsync(ts->fd) || dfd < 0 || fsync(dfd)) {
			snprintf(why, n, "%s: %s", path, strerror(errno));
			if (dfd >= 0)
				close(dfd);
			return -1;
		}
		close(dfd);
		return 0;
	}
	if (pread(ts->fd, buf, sizeof(buf), 0) != (ssize_t)sizeof(buf)) {
		snprintf(why, n, "%s: short file (%lld bytes): not a weir term file", path, (long long)st.st_size);
		return -1;
	}
	uint64_t g[2] = { 0, 0 }, t[2] = { 0, 0 };
	char nm[2][WHA_NODE_MAX];
	int ok0 = decode(buf, &g[0], &t[0], nm[0]) == 0, ok1 = decode(buf + SLOT, &g[1], &t[1], nm[1]) == 0;
	if (!ok0 && !ok1) {
		snprintf(why, n, "%s: both slots are corrupt: refusing to forget the term", path);
		return -1;
	}
	int k = ok0 && (!ok1 || g[0] >= g[1]) ? 0 : 1;
	ts->gen = g[k];
	*term = t[k];
	memcpy(name, nm[k], WHA_NODE_MAX);
	return 0;
}

int
termstore_put(struct termstore *ts, uint64_t term, const char *name)
{
	uint8_t s[SLOT];
	uint64_t gen = ts->gen + 1;

	encode(s, gen, term, name);
	if (pwrite(ts->fd, s, SLOT, (off_t)(gen & 1) * SLOT) != SLOT)
		return -1;
	if (fdatasync(ts->fd))
		return -1;
	ts->gen = gen;
	return 0;
}

void
termstore_close(struct termstore *ts)
{
	if (ts->fd >= 0)
		close(ts->fd);
	ts->fd = -1;
}
