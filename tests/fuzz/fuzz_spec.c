/*
 * Fuzzes bolter's config.json parser (bo/spec.h): any input either parses
 * into a spec whose invariants hold (process.args non-empty, absolute
 * mount destinations, known namespace types) or fails with a message.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bo/spec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cr_error *err = NULL;
	struct bo_spec *s = bo_spec_parse((const char *)data, size, &err);

	if (s == NULL) {
		if (err == NULL || err->msg == NULL || err->msg[0] == '\0')
			abort();
		cr_error_free(err);
		return 0;
	}
	if (s->has_process &&
	    (s->process.args == NULL || s->process.args[0] == NULL))
		abort();
	for (size_t i = 0; i < s->n_mounts; i++)
		if (s->mounts[i].destination[0] != '/' ||
		    (s->mounts[i].idmap && !s->mounts[i].bind) ||
		    (s->mounts[i].n_uid_map == 0) != (s->mounts[i].n_gid_map == 0))
			abort();
	for (size_t i = 0; i < s->n_namespaces; i++)
		if (bo_namespace_name(s->namespaces[i].type) == NULL)
			abort();
	/* What becomes a line of a cgroup file stays one word there. */
	for (size_t i = 0; i < s->resources.n_net_priorities; i++)
		if (strpbrk(s->resources.net_priorities[i].key, " \t\n/") != NULL)
			abort();
	for (size_t i = 0; i < s->resources.n_rdma; i++)
		if (strpbrk(s->resources.rdma[i].device, " \t\n/=") != NULL)
			abort();
	if (s->resources.blkio_weight > 1000 ||
	    (s->resources.has_swappiness && s->resources.swappiness > 100))
		abort();
	{
		unsigned char set[128];

		if ((s->process.cpu_initial != NULL &&
		     bo_cpulist_parse(s->process.cpu_initial, set, sizeof(set)) < 0) ||
		    (s->process.cpu_final != NULL &&
		     bo_cpulist_parse(s->process.cpu_final, set, sizeof(set)) < 0))
			abort();
	}
	bo_spec_free(s);
	return 0;
}
