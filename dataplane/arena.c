/* SPDX-License-Identifier: BSD-3-Clause */
/* weir: a populated-ahead memory range for operator state (see arena.h). */
#include "arena.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

#define HUGE_SZ   ((size_t)2 << 20)
#define BLOCK_SZ  ((size_t)64 << 10)
#define STEP      HUGE_SZ                   /* populated per turn of the service */
#define IDLE_NS   10000000L                 /* the service's sleep when all is populated */

static pthread_mutex_t svc_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t svc_cv = PTHREAD_COND_INITIALIZER;
static struct weir_arena *svc_list;
static pthread_t svc_thread;
static bool svc_running, svc_stop;
static int svc_nice;

static size_t
round_up(size_t x, size_t a)
{
	return (x + a - 1) & ~(a - 1);
}

bool
weir_arena_async_supported(void)
{
	static _Atomic int ok = -1; /* probed once (or twice, racing: the same answer) */

	int v = atomic_load_explicit(&ok, memory_order_relaxed);
	if (v < 0) {                /* a page of our own, populated */
		long pg = sysconf(_SC_PAGESIZE);
		void *m = mmap(NULL, (size_t)pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		v = m != MAP_FAILED && madvise(m, (size_t)pg, MADV_POPULATE_WRITE) == 0;
		if (m != MAP_FAILED)
			munmap(m, (size_t)pg);
		atomic_store_explicit(&ok, v, memory_order_relaxed);
	}
	return v;
}

/* Populate [off, off + len) of a's range: mapped writable without being written. */
static void
populate(struct weir_arena *a, size_t off, size_t len, bool may_write)
{
	if (!len)
		return;
	if (weir_arena_async_supported() && madvise(a->base + off, len, MADV_POPULATE_WRITE) == 0)
		return;
	if (may_write)              /* nobody holds these bytes yet: touching them is safe */
		for (size_t o = 0; o < len; o += 4096)
			((volatile uint8_t *)a->base)[off + o] = 0;
}

void *
weir_map_huge(size_t bytes, int flags)
{
	uint8_t *m = mmap(NULL, bytes + HUGE_SZ, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | flags, -1, 0);

	if (m == MAP_FAILED)
		return NULL;
	uint8_t *base = (uint8_t *)round_up((uintptr_t)m, HUGE_SZ);
	if (base > m)
		munmap(m, (size_t)(base - m));
	munmap(base + bytes, (size_t)(m + HUGE_SZ - base));   /* (what lies after it) */
#ifdef MADV_HUGEPAGE
	madvise(base, bytes, MADV_HUGEPAGE);
#endif
	return base;
}

int
weir_arena_init(struct weir_arena *a, size_t cap, size_t headroom)
{
	memset(a, 0, sizeof(*a));
	if (!cap) {
		long pages = sysconf(_SC_PHYS_PAGES), pg = sysconf(_SC_PAGESIZE);
		cap = pages > 0 && pg > 0 ? (size_t)pages * (size_t)pg : (size_t)1 << 30;
	}
	cap = round_up(cap, HUGE_SZ);
	headroom = round_up(headroom, HUGE_SZ);
	if (headroom > cap)
		headroom = cap;
	uint8_t *base = weir_map_huge(cap, MAP_NORESERVE);
	if (!base)
		return -1;
	a->base = base;
	a->cap = cap;
	a->headroom = headroom;
	populate(a, 0, headroom, true);
	atomic_store_explicit(&a->ready, headroom, memory_order_relaxed);
	pthread_mutex_lock(&svc_mu);
	a->next = svc_list;
	svc_list = a;
	a->listed = true;
	pthread_mutex_unlock(&svc_mu);
	return 0;
}

void *
weir_arena_alloc(struct weir_arena *a, size_t bytes)
{
	size_t sz = round_up(bytes ? bytes : 1, BLOCK_SZ);

	if (!a->base)
		return NULL;
	for (int i = 0; i < WEIR_ARENA_CLASSES && a->cls[i].bytes; i++)
		if (a->cls[i].bytes == sz && a->cls[i].head) {
			void *p = a->cls[i].head;
			memcpy(&a->cls[i].head, p, sizeof(void *));
			return p;
		}
	size_t top = atomic_load_explicit(&a->top, memory_order_relaxed);
	if (sz > a->cap - top) {
		a->refused++;
		return NULL;
	}
	atomic_store_explicit(&a->top, top + sz, memory_order_relaxed);
	return a->base + top;
}

void
weir_arena_free(struct weir_arena *a, void *p, size_t bytes)
{
	size_t sz = round_up(bytes ? bytes : 1, BLOCK_SZ);

	for (int i = 0; i < WEIR_ARENA_CLASSES; i++)
		if (a->cls[i].bytes == sz || !a->cls[i].bytes) {
			a->cls[i].bytes = sz;
			memcpy(p, &a->cls[i].head, sizeof(void *));
			a->cls[i].head = p;
			return;
		}
	/* more block sizes than classes: the pages go back to the kernel, the range stays */
	madvise(p, sz, MADV_DONTNEED);
}

void
weir_arena_fini(struct weir_arena *a)
{
	if (a->listed) {
		pthread_mutex_lock(&svc_mu);        /* (waits out a populate step in progress) */
		for (struct weir_arena **pp = &svc_list; *pp; pp = &(*pp)->next)
			if (*pp == a) {
				*pp = a->next;
				break;
			}
		a->listed = false;
		pthread_mutex_unlock(&svc_mu);
	}
	if (a->base)
		munmap(a->base, a->cap);
	a->base = NULL;
}

/* One step for the first arena short of its headroom; false when none is. */
static bool
serve_one(void)
{
	for (struct weir_arena *a = svc_list; a; a = a->next) {
		size_t top = atomic_load_explicit(&a->top, memory_order_relaxed);
		size_t ready = atomic_load_explicit(&a->ready, memory_order_relaxed);
		size_t want = top + a->headroom < a->cap ? top + a->headroom : a->cap;
		if (ready >= want)
			continue;
		size_t len = want - ready < STEP ? want - ready : STEP;
		populate(a, ready, len, false);
		atomic_store_explicit(&a->ready, ready + len, memory_order_relaxed);
		a->populated_async += len;
		return true;
	}
	return false;
}

static void *
service(void *arg)
{
	(void)arg;
	setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), svc_nice);
	pthread_mutex_lock(&svc_mu);
	while (!svc_stop) {
		if (serve_one()) {          /* let the owner's fini in between steps */
			pthread_mutex_unlock(&svc_mu);
			pthread_mutex_lock(&svc_mu);
			continue;
		}
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += IDLE_NS;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&svc_cv, &svc_mu, &ts);
	}
	pthread_mutex_unlock(&svc_mu);
	return NULL;
}

int
weir_arena_service_start(int nice_level)
{
	int rc = 0;

	pthread_mutex_lock(&svc_mu);
	if (!svc_running && weir_arena_async_supported()) {
		svc_stop = false;
		svc_nice = nice_level;
		if ((rc = pthread_create(&svc_thread, NULL, service, NULL)) == 0) {
			svc_running = true;
			pthread_setname_np(svc_thread, "weir-arena");
		}
	}
	pthread_mutex_unlock(&svc_mu);
	if (rc) {
		errno = rc;
		return -1;
	}
	return 0;
}

void
weir_arena_service_stop(void)
{
	pthread_mutex_lock(&svc_mu);
	bool running = svc_running;
	svc_stop = true;
	svc_running = false;
	pthread_cond_broadcast(&svc_cv);
	pthread_mutex_unlock(&svc_mu);
	if (running)
		pthread_join(svc_thread, NULL);
}
