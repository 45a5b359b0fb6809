/*
 * Fuzzes the config record parser of cr/appconfig.h with every input:
 *
 *   1. cr_appcfg_decode() on the bytes as a SignedFleetRecord, without and
 *      with a trust root;
 *   2. the bytes as a ConfigBody, signed here with the fixed rollout key
 *      and wrapped, then decoded with its trust root, so that the checks
 *      behind the signatures (entries, sizes, targets) see more than the
 *      seeds; a decoded config then goes through cr_appcfg_accept().
 *
 * Besides not crashing, a failure must set an error with a message, and a
 * success must yield a config within its documented limits.
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "carrier.pb-c.h"
#include "cp/limits.h"
#include "cr/appconfig.h"
#include "cr/deploy.h"
#include "cr/error.h"
#include "cr/fleet.h"
#include "fleet_fuzz.h"

static uint8_t vid[32];
static struct fleet_fuzz F;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fleet_fuzz_init(&F);
	cr_fleet_vendor_id(F.trust, vid);
	return 0;
}

/* A decoded config must be within the limits cr/appconfig.h promises. */
static void check_config(struct cr_appcfg *c)
{
	size_t total = 0;
	struct cr_error *err = NULL;
	uint8_t devid[CR_ID_HASHLEN] = { 0 };

	if (c->n_entries > CR_APPCFG_ENTRIES_MAX ||
	    c->n_devices > CR_APPCFG_DEVICES_MAX ||
	    c->n_tags > CR_APPCFG_TAGS_MAX || c->version == 0 ||
	    c->blob_len > CR_APPCFG_RECORD_MAX)
		abort();
	for (size_t i = 0; i < c->n_entries; i++) {
		if (!cr_appcfg_key_ok(c->entries[i].key))
			abort();
		total += c->entries[i].len;
	}
	if (total > CR_APPCFG_TOTAL_MAX)
		abort();
	if (cr_appcfg_accept(c, "web", devid, NULL, 0, 1, 1, &err) < 0)
		fleet_fuzz_check_failure(-1, err, "cr_appcfg_accept");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cr_error *err = NULL;
	struct cr_appcfg *c = NULL;
	static uint8_t buf[CP_FLEET_RECORD_MAX + 4096];
	size_t n;
	int rc;

	rc = cr_appcfg_decode(data, size, NULL, &c, &err);
	if (rc == 0) {
		check_config(c);
		c = cr_appcfg_free(c);
	} else {
		fleet_fuzz_check_failure(rc, err, "cr_appcfg_decode");
	}
	err = NULL;
	rc = cr_appcfg_decode(data, size, F.trust, &c, &err);
	if (rc == 0) {
		check_config(c);
		c = cr_appcfg_free(c);
	} else {
		fleet_fuzz_check_failure(rc, err, "cr_appcfg_decode pinned");
	}
	if (size > CP_FLEET_RECORD_MAX)
		return 0;
	n = fleet_fuzz_wrap("korhal config v1", data, size, &F.key, buf,
			    sizeof(buf));
	if (n > 0) {
		err = NULL;
		rc = cr_appcfg_decode(buf, n, F.trust, &c, &err);
		if (rc == 0) {
			if (memcmp(c->vendor_id, vid, 32) != 0)
				abort();
			check_config(c);
			c = cr_appcfg_free(c);
		} else {
			fleet_fuzz_check_failure(rc, err, "cr_appcfg_decode signed");
		}
	}
	return 0;
}
