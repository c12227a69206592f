/* SPDX-License-Identifier: Apache-2.0
 * Record rings: single-producer/single-consumer rte_rings that carry fixed-size
 * records (events and markers) by value.  A record of `units` 16-byte units crosses
 * as that many ring elements (rte_ring's 128-bit copy path), and only whole records
 * are ever published, so the consumer always sees whole records in producer order.
 */
#ifndef WEIR_RECRING_H
#define WEIR_RECRING_H

#include <rte_ring.h>
#include <rte_ring_elem.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A ring for `records` records of `units` 16-byte units.  NULL with rte_errno set. */
static inline struct rte_ring *
weir_recring_create(const char *name, unsigned records, unsigned units, int socket)
{
	return rte_ring_create_elem(name, 16, records * units, socket,
				    RING_F_SP_ENQ | RING_F_SC_DEQ | RING_F_EXACT_SZ);
}

/* Enqueue up to n records from recs; returns how many went in (whole records only).
 * Single producer: the free count can only grow under us, so the bulk always fits. */
static inline unsigned
weir_recring_push(struct rte_ring *r, const void *recs, unsigned n, unsigned units)
{
	unsigned k = rte_ring_free_count(r) / units;

	if (k > n)
		k = n;
	if (k)
		rte_ring_enqueue_bulk_elem(r, recs, 16, k * units, NULL);
	return k;
}

/* Dequeue up to max records into buf; returns how many. */
static inline unsigned
weir_recring_pop(struct rte_ring *r, void *buf, unsigned max, unsigned units)
{
	return rte_ring_dequeue_burst_elem(r, buf, 16, max * units, NULL) / units;
}

#ifdef __cplusplus
}
#endif
#endif
