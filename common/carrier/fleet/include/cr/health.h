/*
 * Device health records (docs/fleet.md "Monitoring"): a device's figures,
 * signed with its own key, sent as a FleetPut of kind CR_REC_HEALTH to a
 * node it is attached to; nodes keep the newest per device and serve them
 * to the vendor's `carrier status` and `carrier exporter`.
 */
#ifndef CR_HEALTH_H
#define CR_HEALTH_H

#include <stddef.h>
#include <stdint.h>

#include "cr/error.h"
#include "cr/fleet.h"
#include "cr/identity.h"

enum {
	CR_REC_HEALTH = 5,   /* the FleetPut kind */
	CR_HEALTH_MAX = 900,  /* a whole SignedHealth: one FleetPut piece */
	CR_HEALTH_APPS = 8,
	CR_HEALTH_ERR_MAX = 128,
};

struct cr_devhealth_app {
	char app[CR_FLEET_APP_MAX];
	char version[CR_FLEET_VERSION_MAX];
	char state[24];
	uint32_t restarts;
	char last_error[CR_HEALTH_ERR_MAX];
	uint64_t config_version; /* 0: no config applied */
	char config_error[CR_HEALTH_ERR_MAX]; /* the last revert's reason */
};

struct cr_devhealth {
	uint8_t device_pk[CR_PKLEN];
	struct cr_id device; /* from device_pk (decode) */
	uint64_t seq;
	uint64_t uptime_s;
	uint32_t load_milli[3];
	uint64_t mem_total, mem_avail, flash_free;
	int has_temp;
	int32_t temp_milli_c;
	size_t n_apps;
	struct cr_devhealth_app apps[CR_HEALTH_APPS];
};

/* h signed by kp (its device_pk is set from kp) into out (cap bytes, at
 * least CR_HEALTH_MAX); its length in *len. */
int cr_devhealth_make(const struct cr_keypair *kp, struct cr_devhealth *h,
		   uint8_t *out, size_t cap, size_t *len,
		   struct cr_error **err);

/* A SignedHealth checked (well formed, signed by the device it names)
 * into out; -1 with err otherwise. */
int cr_devhealth_decode(const uint8_t *buf, size_t len, struct cr_devhealth *out,
		     struct cr_error **err);

#endif
