/*
 * Scope-bound cleanup on __attribute__((cleanup)), as crun does: a variable
 * declared with one of these frees itself when it goes out of scope, so error
 * paths need no goto.  Use CR_TAKE() to hand ownership out of the scope.
 */
#ifndef CR_CLEANUP_H
#define CR_CLEANUP_H

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static inline void cr_freep(void *p)
{
	free(*(void **)p);
}

static inline void cr_closep(int *fd)
{
	if (*fd >= 0)
		close(*fd);
}

static inline void cr_fclosep(FILE **f)
{
	if (*f != NULL)
		fclose(*f);
}

#define CR_CLEANUP_FREE __attribute__((cleanup(cr_freep)))
#define CR_CLEANUP_CLOSE __attribute__((cleanup(cr_closep)))
#define CR_CLEANUP_FCLOSE __attribute__((cleanup(cr_fclosep)))

/* Returns *pp and sets it to NULL, so the cleanup does nothing. */
#define CR_TAKE(pp)                      \
	({                               \
		__typeof__(*(pp)) tmp_ = *(pp); \
		*(pp) = NULL;            \
		tmp_;                    \
	})

#endif
