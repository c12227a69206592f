/* SPDX-License-Identifier: Apache-2.0
 * libFuzzer target: the config parser and validator on arbitrary text. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	struct weir_config *cfg = malloc(sizeof(*cfg));
	FILE *devnull = fopen("/dev/null", "w");

	if (text && cfg && devnull) {
		memcpy(text, data, size);
		text[size] = '\0';
		if (weir_config_load_string("fuzz.ini", text, cfg, devnull) == 0) {
			/* a config that loads must be internally consistent */
			for (int q = 0; q < cfg->nqueries; q++)
				if (cfg->queries[q].source < 0 || cfg->queries[q].source >= cfg->nsources ||
				    cfg->queries[q].naggs < 1)
					__builtin_trap();
			weir_config_dump(cfg, devnull);
		}
	}
	if (devnull)
		fclose(devnull);
	free(text);
	free(cfg);
	return 0;
}
