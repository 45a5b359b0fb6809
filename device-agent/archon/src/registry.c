/*
 * docker://HOST/REPO:TAG: images from a registry speaking the OCI
 * distribution API.
 */
#include <errno.h>

#include "import-internal.h"

int ar_import_registry(struct ar_importer *imp, const char *ref,
		       struct cr_error **err)
{
	(void)imp;
	return cr_error_set(err, ENOTSUP,
			    "docker://%s: registry import is not built yet", ref);
}
