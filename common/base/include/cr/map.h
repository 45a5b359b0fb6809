/*
 * A hash map from fixed-size byte keys (identity hashes, route ids,
 * session indices) to pointers.  Open addressing with linear probing and
 * backward-shift deletion: no allocation per entry, so a node holding 10^5
 * devices pays a few words per entry.  Keys are hashed with keyed SipHash
 * (libsodium's crypto_shorthash) under a random key, so a peer choosing keys
 * cannot force collisions.
 */
#ifndef CR_MAP_H
#define CR_MAP_H

#include <stddef.h>
#include <stdint.h>

struct cr_map;

/* key_len is fixed for the map's life (1..32 bytes).  NULL on ENOMEM. */
struct cr_map *cr_map_new(size_t key_len);
/* Frees the map, not the values; returns NULL. */
struct cr_map *cr_map_free(struct cr_map *m);

/* Inserts or replaces; returns 0, or -ENOMEM. */
int cr_map_put(struct cr_map *m, const void *key, void *value);
/* Returns the value, or NULL. */
void *cr_map_get(const struct cr_map *m, const void *key);
/* Removes key; returns its value, or NULL if absent. */
void *cr_map_del(struct cr_map *m, const void *key);
size_t cr_map_count(const struct cr_map *m);

/* Iteration: pass *pos = 0 first; returns 0 when done.  The map must not be
 * changed during an iteration: collect the keys to delete, then delete. */
int cr_map_next(const struct cr_map *m, size_t *pos, const void **key,
		void **value);

#endif
