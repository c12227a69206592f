/* SPDX-License-Identifier: Apache-2.0
 * Drop-reason names (one X-macro list in decode.h). */
#include "decode.h"

const char *const weir_bad_name[WEIR_BAD_MAX] = {
#define X(n, d) #n,
	WEIR_BAD_REASONS(X)
#undef X
};
const char *const weir_bad_desc[WEIR_BAD_MAX] = {
#define X(n, d) d,
	WEIR_BAD_REASONS(X)
#undef X
};
