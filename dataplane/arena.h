/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * weir: a populated-ahead memory range for operator state.
 *
 * An operator whose state grows with its traffic (the OVER operator's entry buffers,
 * partition blocks and key table) takes each new page from the kernel on first touch.
 * On a polling core that is a stall in the middle of a burst: tens of microseconds
 * per 2 MiB huge page on bare metal, milliseconds in some VMs.  A weir_arena reserves
 * an address range (huge pages advised), hands out large blocks from it, and keeps
 * `headroom` bytes past its high-water mark populated: the first headroom at
 * weir_arena_init (before traffic), the rest by the arena service thread
 * (MADV_POPULATE_WRITE, which maps pages without writing to them, so it may run
 * while the owner uses the blocks it already has).  Blocks freed are kept for
 * reuse, by size; the populated memory is not given back before weir_arena_fini.
 *
 * Single owner: alloc and free are called from one thread (the operator's worker);
 * the service thread only reads the high-water mark.
 */
#ifndef WEIR_ARENA_H
#define WEIR_ARENA_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WEIR_ARENA_CLASSES 16

struct weir_arena {
	uint8_t *base;              /* NULL: not in use (alloc returns NULL) */
	size_t cap;                 /* reserved bytes */
	size_t headroom;
	_Atomic size_t top;         /* high-water mark: bytes handed out from base */
	_Atomic size_t ready;       /* populated (or touched by the owner) up to here */
	struct {
		size_t bytes;
		void *head;         /* free blocks of this size, linked through their first word */
	} cls[WEIR_ARENA_CLASSES];
	uint64_t populated_async;   /* bytes the service thread populated (stats, tests) */
	uint64_t refused;           /* allocations the range could not hold */
	struct weir_arena *next;    /* the service's list */
	bool listed;
};

/* bytes (a multiple of the page size) of anonymous memory mapped apart, 2 MiB aligned,
 * huge pages advised; flags: more mmap flags (MAP_NORESERVE).  NULL if there is none;
 * munmap(p, bytes) frees it. */
void *weir_map_huge(size_t bytes, int flags);

/* Reserve `cap` bytes of address space (0: the machine's RAM) and populate the first
 * `headroom` bytes now.  0, or -1 with errno when nothing could be reserved. */
int weir_arena_init(struct weir_arena *a, size_t cap, size_t headroom);

/* A block of at least `bytes` (rounded up to 64 KiB), 64 KiB aligned, from the range;
 * NULL when the range is exhausted or not in use (the caller allocates elsewhere). */
void *weir_arena_alloc(struct weir_arena *a, size_t bytes);

/* Give back a block weir_arena_alloc returned for the same `bytes`. */
void weir_arena_free(struct weir_arena *a, void *p, size_t bytes);

static inline bool
weir_arena_owns(const struct weir_arena *a, const void *p)
{
	return a->base && (const uint8_t *)p >= a->base && (const uint8_t *)p < a->base + a->cap;
}

/* Stop populating and unmap the range (every block with it). */
void weir_arena_fini(struct weir_arena *a);

/* The service thread that keeps every initialised arena's headroom populated.  Start it
 * from the thread whose CPU set and scheduling it should inherit (weir: the main lcore,
 * beside the sink loop and the admin server, niced below them).  Idempotent; arenas
 * initialised before and after it are both served.  0, or -1 with errno. */
int weir_arena_service_start(int nice_level);
void weir_arena_service_stop(void);

/* Whether this kernel has MADV_POPULATE_WRITE (Linux 5.14): without it the service
 * does nothing and pages are taken on first touch, as without an arena. */
bool weir_arena_async_supported(void);

#endif
