/*
 * fuzz_sshsig.c - libFuzzer target for the SSHSIG armor and blob decoder
 * (core/sshsig.c) and the public key blob parser it hands keys to.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "sshsig.h"
#include "banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sshsig *sig = NULL;
	struct sshkey_pub key;

	/* The armored form, as it arrives from a commit or a .sig file. */
	if (sshsig_parse(&sig, (const char *)data, size) == 0) {
		if (strlen(sig->namespace) > 256 || !sig->pubkey)
			__builtin_trap();
		(void)sshkey_pub_parse(&key, sig->pubkey, sig->pubkey_len);
		sshsig_free(sig);
	}
	/* The same bytes as a binary signature object and as a key blob. */
	if (sshsig_parse_blob(&sig, data, size) == 0)
		sshsig_free(sig);
	(void)sshkey_pub_parse(&key, data, size);
	return 0;
}
