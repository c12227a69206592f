/* SPDX-License-Identifier: Apache-2.0
 * A bounded stand-in for libFuzzer so every fuzz target also runs in `meson test`
 * with gcc: replays the seed inputs given as arguments, then N seeded mutations of
 * them (byte flips, truncations, insertions, splices).  Long runs: tools/fuzz. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint64_t rng = 0x9e3779b97f4a7c15;

static uint64_t
next(void)
{
	uint64_t z = (rng += 0x9e3779b97f4a7c15);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9;
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb;
	return z ^ (z >> 31);
}

static size_t
load(const char *path, uint8_t *buf, size_t cap)
{
	FILE *f = fopen(path, "rb");
	size_t n;

	if (!f) {
		perror(path);
		exit(1);
	}
	n = fread(buf, 1, cap, f);
	fclose(f);
	return n;
}

int
main(int argc, char **argv)
{
	enum { CAP = 16384, MAXSEEDS = 64 };
	static uint8_t seed[MAXSEEDS][CAP], buf[CAP];
	size_t seedlen[MAXSEEDS];
	int nseeds = 0;
	long iters = 200000;

	for (int i = 1; i < argc; i++) {
		if (!strncmp(argv[i], "--iters=", 8))
			iters = atol(argv[i] + 8);
		else if (nseeds < MAXSEEDS) {
			seedlen[nseeds] = load(argv[i], seed[nseeds], CAP);
			nseeds++;
		}
	}
	if (nseeds == 0) {
		seedlen[0] = 0;
		nseeds = 1;
	}
	for (int i = 0; i < nseeds; i++)
		LLVMFuzzerTestOneInput(seed[i], seedlen[i]);
	for (long it = 0; it < iters; it++) {
		int s = (int)(next() % (uint64_t)nseeds);
		size_t n = seedlen[s];
		memcpy(buf, seed[s], n);
		for (int k = 0, m = 1 + (int)(next() % 8); k < m; k++) {
			uint64_t r = next();
			switch (r % 5) {
			case 0:  if (n) buf[r % n] ^= (uint8_t)(1u << ((r >> 8) % 8)); break;
			case 1:  if (n) buf[r % n] = (uint8_t)(r >> 16); break;
			case 2:  if (n) n = (size_t)(r >> 8) % n; break;
			case 3:  if (n < CAP) { size_t p = n ? (r >> 8) % n : 0;
					memmove(buf + p + 1, buf + p, n - p); buf[p] = (uint8_t)(r >> 40); n++; } break;
			default: { int o = (int)((r >> 8) % (uint64_t)nseeds); size_t p = n ? (r >> 20) % n : 0;
					size_t l = seedlen[o] < CAP - p ? seedlen[o] : CAP - p;
					memcpy(buf + p, seed[o], l); if (p + l > n) n = p + l; } break;
			}
		}
		LLVMFuzzerTestOneInput(buf, n);
	}
	printf("fuzz: %ld inputs from %d seeds: 1 passed, 0 failed\n", iters + nseeds, nseeds);
	return 0;
}
