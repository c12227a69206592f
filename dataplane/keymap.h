/* SPDX-License-Identifier: Apache-2.0
 * Key maps: a source's join table (`key_map = PATH`), key -> key, read once at start.
 *
 * The file is CSV, one `from,to` pair of unsigned 64-bit integers per line (decimal,
 * or hex with 0x); blank lines and lines starting with `#` are skipped.  A `from` given
 * twice is an error, even with the same `to`.  At run time the RX core replaces every
 * event's key by its mapping before sharding (an inner join: an unmapped key drops the
 * event, counted).  Read-only after loading: RX cores share it without locks.
 */
#ifndef WEIR_KEYMAP_H
#define WEIR_KEYMAP_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define WEIR_KEYMAP_MAX (1u << 28)      /* entries */

struct weir_keymap {
	uint64_t *ent;                  /* pairs: from, to; from == 0 marks an empty entry */
	uint32_t mask;                  /* entries - 1 (a power of two) */
	uint32_t n;                     /* pairs loaded */
	bool has_zero;                  /* key 0 (cannot be stored in the table) */
	uint64_t zero_to;
};

/* Load PATH.  0, or -1 after printing "PATH:LINE: message" (or the system error) to err. */
int weir_keymap_load(const char *path, struct weir_keymap **out, FILE *err);
void weir_keymap_free(struct weir_keymap *m);

static inline bool
weir_keymap_get(const struct weir_keymap *m, uint64_t key, uint64_t *to)
{
	if (key == 0) {
		*to = m->zero_to;
		return m->has_zero;
	}
	for (uint32_t i = (uint32_t)((key * UINT64_C(0x9e3779b97f4a7c15)) >> 32) & m->mask;;
	     i = (i + 1) & m->mask) {
		const uint64_t *e = &m->ent[2 * (uint64_t)i];
		if (e[0] == key) {
			*to = e[1];
			return true;
		}
		if (e[0] == 0)
			return false;
	}
}

#ifdef __cplusplus
}
#endif
#endif
