/*
 * What the fleet record harnesses (fuzz_fleet, fuzz_deploy, fuzz_appconfig)
 * share: the fixed keys their seed corpora are signed with, a trust root
 * whose every role is the vendor key, the check that a refusal carries a
 * message, and a wrapper that signs a fuzzed body so the checks behind the
 * signatures see more than the seeds.  Linked into those harnesses only
 * (CR_FUZZ_EXTRA_<name> in tests/fuzz/CMakeLists.txt).
 */
#ifndef FLEET_FUZZ_H
#define FLEET_FUZZ_H

#include <stddef.h>
#include <stdint.h>

#include "cr/error.h"
#include "cr/fleet.h"
#include "cr/identity.h"

struct fleet_fuzz {
	struct cr_keypair key;	/* vendor key, seed 0x46: every trust role */
	struct cr_keypair dev;	/* device key, seed 0x44: signs reports */
	struct cr_trust *trust; /* root, release and rollout key = key */
};

/* Fills f; aborts on failure (a harness cannot run without it). */
void fleet_fuzz_init(struct fleet_fuzz *f);

/* Aborts unless rc < 0 and err carries a non-empty message; frees err. */
void fleet_fuzz_check_failure(int rc, struct cr_error *err, const char *what);

/* Wraps body in a SignedFleetRecord signed by kp over the context string
 * ctx (with its NUL); returns the packed length in out, or 0 when it does
 * not fit in cap. */
size_t fleet_fuzz_wrap(const char *ctx, const uint8_t *body, size_t len,
		       const struct cr_keypair *kp, uint8_t *out, size_t cap);

#endif
