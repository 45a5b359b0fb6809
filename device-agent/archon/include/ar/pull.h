/*
 * Pulling a published version into a store (archon pull, the agent).  A
 * pull fetches the version's manifest from the origin, checks who signed
 * it, then its index (by delta from an index held when the manifest lists
 * one), then for each file content the store lacks a delta from a content
 * held or the chunks not held, from peers, the ring's shard cache or the
 * origin, each copy checked against its id.  The version's name is
 * recorded last; a pull killed before leaves the store as it was, plus
 * the chunks it fetched in partial/, which the next pull uses.
 */
#ifndef AR_PULL_H
#define AR_PULL_H

#include <stdint.h>
#include <stdio.h>

#include "ar/store.h"

/* How a pull trusts, where it looks besides the origin, and what it says. */
struct ar_pull_opts {
	const char *ring_path; /* a Carrier ring: its nodes' shard caches */
	int peers;	       /* also devices that announced the version */
	const char *carrier;   /* the carrier program (NULL: "carrier") */
	const char *key;       /* carrier connect's --key (NULL: its default) */
	/* carrier connect's --credential: a device pulling from the peers
	 * of its fleet with its own key (then key is the device key). */
	const char *credential;
	/* The trusted publisher's public key file; without it the pull is
	 * refused unless insecure is set (then any manifest is accepted) or
	 * expect_index pins the version. */
	const char *publisher_key;
	int insecure;
	/* Accept a manifest older than the one held for the name. */
	int allow_downgrade;
	int progress; /* a progress line on stderr */
	/* The index id (AR_ID_LEN bytes) the version must have, or NULL: a
	 * signed release names it, so the release's signature is the trust
	 * (no publisher key needed) and its counter the anti-rollback (the
	 * manifest's age is not checked).  Another index is refused (EPERM)
	 * before anything else is fetched. */
	const uint8_t *expect_index;
	/* BLAKE2b-256 (ar_id_of) of the manifest's OCI config bytes, or
	 * NULL; another config is refused (EPERM) like another index. */
	const uint8_t *expect_config_digest;
	/* Free space that must remain on the store's filesystem after the
	 * pull.  Once the index is in memory the pull adds up what it will
	 * write (the file objects it lacks, the index, the chunks it keeps in
	 * partial/ meanwhile) and refuses with ENOSPC, having written
	 * nothing into the store, when the filesystem's free space minus that
	 * is below reserve_bytes (0: below zero). */
	uint64_t reserve_bytes;
	/* The phase lines of `bolter run` on out, one line each:
	 *   receiving archon index .. complete
	 *   N shards with X KiB (downloading M new shards with Y KiB)
	 *   receiving shards from peers        (the ring cache, the origin:
	 *                                        one line per source, as the
	 *                                        first shard comes from it)
	 *    INDEX-ID
	 *    VERSION-ID                        (BLAKE2b-256 of the manifest)
	 * instead of the summary archon pull prints by default. */
	int phases;
};

/*
 * Pulls version name (REPO:TAG) from the origin url (http://, https://,
 * file://) into st (opened for writing).  What it says goes to out (NULL:
 * nothing); the progress line, when opt->progress, to stderr.  Returns 0,
 * or -1 with *err ("pull NAME from URL: ..."; EPERM for a trust refusal,
 * ENOSPC for the reserve, EBUSY never: st is already open).
 */
int ar_pull(struct ar_store *st, const char *url, const char *name,
	    const struct ar_pull_opts *opt, FILE *out, struct cr_error **err);

#endif
