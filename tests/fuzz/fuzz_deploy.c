/*
 * Fuzzes the rollout record parsers of cr/deploy.h with every input:
 *
 *   1. cr_deploy_decode(), cr_advance_decode() and cr_report_decode() on
 *      the bytes as a SignedFleetRecord;
 *   2. the bytes as a StatusReportBody and an AdvanceBody, signed here
 *      with fixed keys and wrapped, then decoded, so that the checks
 *      behind the signatures see more than the seeds.
 *
 * Besides not crashing, a failure must set an error with a message, and a
 * success must yield a record within its documented limits.
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "carrier.pb-c.h"
#include "cp/limits.h"
#include "cr/deploy.h"
#include "cr/error.h"
#include "cr/fleet.h"
#include "fleet_fuzz.h"

static struct fleet_fuzz F;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fleet_fuzz_init(&F);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cr_error *err = NULL;
	struct cr_deploy *d = NULL;
	struct cr_advance *a = NULL;
	static struct cr_report r;
	static uint8_t buf[CP_FLEET_RECORD_MAX + 4096];
	size_t n;
	int rc;

	rc = cr_deploy_decode(data, size, NULL, &d, &err);
	if (rc == 0) {
		if (d->n_devices > CP_DEPLOY_DEVICES_MAX || d->n_waves == 0 ||
		    d->waves[d->n_waves - 1] != 100 || d->release == NULL)
			abort();
		d = cr_deploy_free(d);
	} else {
		fleet_fuzz_check_failure(rc, err, "cr_deploy_decode");
	}
	err = NULL;
	rc = cr_deploy_decode(data, size, F.trust, &d, &err);
	if (rc == 0)
		d = cr_deploy_free(d);
	else
		fleet_fuzz_check_failure(rc, err, "cr_deploy_decode pinned");
	err = NULL;
	rc = cr_advance_decode(data, size, F.trust, &a, &err);
	if (rc == 0) {
		if (a->wave == 0 || a->wave >= CP_DEPLOY_WAVES_MAX)
			abort();
		a = cr_advance_free(a);
	} else {
		fleet_fuzz_check_failure(rc, err, "cr_advance_decode");
	}
	err = NULL;
	rc = cr_report_decode(data, size, &r, &err);
	if (rc == 0) {
		if (r.state == CR_RS_NONE || r.state >= CR_RS_MAX ||
		    r.blob_len != size)
			abort();
	} else {
		fleet_fuzz_check_failure(rc, err, "cr_report_decode");
	}
	if (size > CP_FLEET_RECORD_MAX)
		return 0;
	n = fleet_fuzz_wrap("korhal report v1", data, size, &F.dev, buf,
			    sizeof(buf));
	if (n > 0) {
		err = NULL;
		rc = cr_report_decode(buf, n, &r, &err);
		if (rc == 0) {
			if (memcmp(r.device_pk, F.dev.pk, CR_PKLEN) != 0 ||
			    strlen(r.reason) >= CP_REASON_MAX)
				abort();
		} else {
			fleet_fuzz_check_failure(rc, err, "cr_report_decode signed");
		}
	}
	n = fleet_fuzz_wrap("korhal advance v1", data, size, &F.key, buf,
			    sizeof(buf));
	if (n > 0) {
		err = NULL;
		rc = cr_advance_decode(buf, n, F.trust, &a, &err);
		if (rc == 0)
			a = cr_advance_free(a);
		else
			fleet_fuzz_check_failure(rc, err, "cr_advance_decode signed");
	}
	n = fleet_fuzz_wrap("korhal deployment v1", data, size, &F.key, buf,
			    sizeof(buf));
	if (n > 0) {
		err = NULL;
		rc = cr_deploy_decode(buf, n, NULL, &d, &err);
		if (rc == 0)
			d = cr_deploy_free(d);
		else
			fleet_fuzz_check_failure(rc, err, "cr_deploy_decode signed");
	}
	return 0;
}
