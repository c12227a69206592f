/* SPDX-License-Identifier: Apache-2.0
 * libFuzzer target: frame + WEV decoding of arbitrary bytes.
 * The first two bytes pick the source's schema (schema_id, field count). */
#include <stddef.h>
#include <stdint.h>

#include "decode.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct weir_udp u;
	struct wev_hdr h;
	uint16_t schema, rs;
	int rc;

	if (size < 2)
		return 0;
	schema = data[0];
	rs = (uint16_t)(16 + 8 * (data[1] % 17));
	rc = weir_decode_frame(data + 2, (uint32_t)(size - 2), &u);
	if (rc != WEIR_BAD_MAX) {
		if (rc < 0 || rc > WEIR_BAD_MAX)
			__builtin_trap();
		return 0;
	}
	/* the payload must lie inside the input */
	if (u.payload < data + 2 || u.payload + u.len > data + size)
		__builtin_trap();
	rc = weir_decode_wev(u.payload, u.len, schema, rs, &h);
	if (rc == WEIR_BAD_MAX && (uint32_t)WEV_HDR_LEN + (uint32_t)h.count * rs != u.len)
		__builtin_trap();
	return 0;
}
