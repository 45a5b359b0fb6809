#include <errno.h>
#include "store-internal.h"
int ar_publish(struct ar_store *st, const char *name, const char *to,
	       const char *keyfile, int bases, struct cr_error **err)
{
	(void)st; (void)name; (void)to; (void)keyfile; (void)bases;
	return cr_error_set(err, ENOTSUP, "publish: not yet");
}
int ar_pull(struct ar_store *st, const char *url, const char *name,
	    FILE *progress, struct cr_error **err)
{
	(void)st; (void)url; (void)name; (void)progress;
	return cr_error_set(err, ENOTSUP, "pull: not yet");
}
