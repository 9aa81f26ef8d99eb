/* fuzz-parsers.c: libFuzzer target for the parsers of untrusted input:
 * manifests, refs.json, .minisig files and public keys.
 * The first byte picks the parser; the rest is the input. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ms_manifest.h"
#include "ms_sign.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ms_error err;
	struct ms_manifest m;
	struct ms_refs r;
	struct ms_pubkey pk;
	uint8_t keynum[MS_KEYNUM_BYTES];
	char tc[MS_COMMENT_MAX + 1];

	if (size < 1)
		return 0;
	switch (data[0] % 4) {
	case 0:
		if (!ms_manifest_parse(data + 1, size - 1, &m, &err)) {
			char *out;
			size_t len;
			if (!ms_manifest_emit(&m, &out, &len, &err)) {
				struct ms_manifest m2;
				/* what we emit must parse */
				if (ms_manifest_parse(out, len, &m2, &err))
					__builtin_trap();
				ms_manifest_release(&m2);
				free(out);
			}
			ms_manifest_release(&m);
		}
		break;
	case 1:
		if (!ms_refs_parse(data + 1, size - 1, &r, &err))
			ms_refs_release(&r);
		break;
	case 2:
		memset(&pk, 7, sizeof(pk));
		ms_sig_keynum((const char *)data + 1, size - 1, keynum, &err);
		memcpy(pk.keynum, data + 1, size - 1 < 8 ? size - 1 : 8);
		ms_verify(&pk, "x", 1, (const char *)data + 1, size - 1, tc, sizeof(tc), &err);
		break;
	case 3:
		ms_pubkey_parse((const char *)data + 1, size - 1, &pk, &err);
		break;
	}
	return 0;
}
