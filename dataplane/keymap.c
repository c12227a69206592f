/* SPDX-License-Identifier: Apache-2.0
 * Key maps (see keymap.h). */
#include "keymap.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

static int
put(struct weir_keymap *m, uint64_t from, uint64_t to)
{
	if (from == 0) {
		if (m->has_zero)
			return -1;
		m->has_zero = true;
		m->zero_to = to;
		m->n++;
		return 0;
	}
	for (uint32_t i = (uint32_t)((from * UINT64_C(0x9e3779b97f4a7c15)) >> 32) & m->mask;;
	     i = (i + 1) & m->mask) {
		uint64_t *e = &m->ent[2 * (uint64_t)i];
		if (e[0] == from)
			return -1;
		if (e[0] == 0) {
			e[0] = from;
			e[1] = to;
			m->n++;
			return 0;
		}
	}
}

/* Grow to twice the entries (kept at most half full). */
static int
grow(struct weir_keymap *m)
{
	struct weir_keymap old = *m;
	uint64_t cap = 2 * ((uint64_t)m->mask + 1);

	if (cap > 2ull * WEIR_KEYMAP_MAX)
		return -1;
	m->ent = calloc(cap, 2 * sizeof(uint64_t));
	if (!m->ent) {
		m->ent = old.ent;
		return -1;
	}
	m->mask = (uint32_t)(cap - 1);
	m->n = m->has_zero;
	for (uint64_t i = 0; i <= old.mask; i++)
		if (old.ent[2 * i])
			put(m, old.ent[2 * i], old.ent[2 * i + 1]);
	free(old.ent);
	return 0;
}

static int
parse_u64(const char *s, const char **end, uint64_t *v)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	if (!isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	*v = strtoull(s, &e, 0);
	if (errno || e == s)
		return -1;
	while (*e == ' ' || *e == '\t')
		e++;
	*end = e;
	return 0;
}

int
weir_keymap_load(const char *path, struct weir_keymap **out, FILE *err)
{
	struct weir_keymap *m = calloc(1, sizeof(*m));
	FILE *f = fopen(path, "r");
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	long ln = 0;
	int rc = -1;

	if (!f) {
		fprintf(err, "%s: %s\n", path, strerror(errno));
		free(m);
		return -1;
	}
	if (!m || !(m->ent = calloc(1024, 2 * sizeof(uint64_t))))
		goto oom;
	m->mask = 1023;
	while ((len = getline(&line, &cap, f)) >= 0) {
		const char *p = line, *q;
		uint64_t from, to;

		ln++;
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '#' || *p == '\n' || *p == '\r' || *p == '\0')
			continue;
		if (parse_u64(p, &q, &from) || *q != ',' || parse_u64(q + 1, &q, &to) ||
		    (*q != '\n' && *q != '\r' && *q != '\0')) {
			fprintf(err, "%s:%ld: expected 'from,to' (two unsigned 64-bit integers)\n", path, ln);
			goto out;
		}
		if (m->n >= WEIR_KEYMAP_MAX) {
			fprintf(err, "%s:%ld: more than %u entries\n", path, ln, WEIR_KEYMAP_MAX);
			goto out;
		}
		if (2 * ((uint64_t)m->n + 1) > (uint64_t)m->mask + 1 && grow(m))
			goto oom;
		if (put(m, from, to)) {
			fprintf(err, "%s:%ld: key %llu is mapped twice\n", path, ln, (unsigned long long)from);
			goto out;
		}
	}
	if (ferror(f)) {
		fprintf(err, "%s: read error: %s\n", path, strerror(errno));
		goto out;
	}
	if (m->n == 0) {
		fprintf(err, "%s: no entries\n", path);
		goto out;
	}
	rc = 0;
	*out = m;
	goto done;
oom:
	fprintf(err, "%s: out of memory\n", path);
out:
	weir_keymap_free(m);
done:
	free(line);
	fclose(f);
	return rc;
}

void
weir_keymap_free(struct weir_keymap *m)
{
	if (!m)
		return;
	free(m->ent);
	free(m);
}
