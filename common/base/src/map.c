/* Hash map over fixed-size keys: see cr/map.h. */
#include "cr/map.h"

#include <errno.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

enum { MAP_MAX_KEY = 32, MAP_MIN_SLOTS = 16 };

struct map_slot {
	void *value; /* NULL marks an empty slot */
	uint8_t key[];
};

struct cr_map {
	size_t key_len;
	size_t slot_size;
	size_t n_slots; /* power of two */
	size_t count;
	uint8_t hash_key[crypto_shorthash_KEYBYTES];
	uint8_t *slots;
};

static struct map_slot *map_slot(const struct cr_map *m, size_t i)
{
	return (struct map_slot *)(void *)(m->slots + i * m->slot_size);
}

static size_t map_hash(const struct cr_map *m, const void *key)
{
	uint8_t out[crypto_shorthash_BYTES];
	uint64_t h;

	crypto_shorthash(out, key, m->key_len, m->hash_key);
	memcpy(&h, out, sizeof(h));
	return (size_t)h;
}

struct cr_map *cr_map_new(size_t key_len)
{
	struct cr_map *m;

	if (key_len == 0 || key_len > MAP_MAX_KEY)
		return NULL;
	m = calloc(1, sizeof(*m));
	if (m == NULL)
		return NULL;
	m->key_len = key_len;
	m->slot_size = (sizeof(struct map_slot) + key_len + sizeof(void *) - 1) &
		       ~(sizeof(void *) - 1);
	m->n_slots = MAP_MIN_SLOTS;
	m->slots = calloc(m->n_slots, m->slot_size);
	if (m->slots == NULL) {
		free(m);
		return NULL;
	}
	randombytes_buf(m->hash_key, sizeof(m->hash_key));
	return m;
}

struct cr_map *cr_map_free(struct cr_map *m)
{
	if (m != NULL) {
		free(m->slots);
		free(m);
	}
	return NULL;
}

static size_t map_find(const struct cr_map *m, const void *key, int *found)
{
	size_t mask = m->n_slots - 1;
	size_t i = map_hash(m, key) & mask;

	for (;;) {
		struct map_slot *s = map_slot(m, i);

		if (s->value == NULL) {
			*found = 0;
			return i;
		}
		if (memcmp(s->key, key, m->key_len) == 0) {
			*found = 1;
			return i;
		}
		i = (i + 1) & mask;
	}
}

static int map_grow(struct cr_map *m)
{
	struct cr_map old = *m;
	size_t n = m->n_slots * 2;

	m->slots = calloc(n, m->slot_size);
	if (m->slots == NULL) {
		m->slots = old.slots;
		return -ENOMEM;
	}
	m->n_slots = n;
	m->count = 0;
	for (size_t i = 0; i < old.n_slots; i++) {
		struct map_slot *s = map_slot(&old, i);
		if (s->value != NULL)
			cr_map_put(m, s->key, s->value);
	}
	free(old.slots);
	return 0;
}

int cr_map_put(struct cr_map *m, const void *key, void *value)
{
	struct map_slot *s;
	size_t i;
	int found;

	if (value == NULL)
		return -EINVAL;
	if ((m->count + 1) * 4 > m->n_slots * 3 && map_grow(m) < 0)
		return -ENOMEM;
	i = map_find(m, key, &found);
	s = map_slot(m, i);
	if (!found) {
		memcpy(s->key, key, m->key_len);
		m->count++;
	}
	s->value = value;
	return 0;
}

void *cr_map_get(const struct cr_map *m, const void *key)
{
	int found;
	size_t i = map_find(m, key, &found);

	return found ? map_slot(m, i)->value : NULL;
}

void *cr_map_del(struct cr_map *m, const void *key)
{
	size_t mask = m->n_slots - 1;
	size_t i, j;
	void *value;
	int found;

	i = map_find(m, key, &found);
	if (!found)
		return NULL;
	value = map_slot(m, i)->value;
	/* Backward-shift deletion keeps probe chains intact without
	 * tombstones. */
	j = i;
	for (;;) {
		struct map_slot *sj;
		size_t home;

		j = (j + 1) & mask;
		sj = map_slot(m, j);
		if (sj->value == NULL)
			break;
		home = map_hash(m, sj->key) & mask;
		if (((j - home) & mask) >= ((j - i) & mask)) {
			memcpy(map_slot(m, i), sj, m->slot_size);
			i = j;
		}
	}
	map_slot(m, i)->value = NULL;
	m->count--;
	return value;
}

size_t cr_map_count(const struct cr_map *m)
{
	return m->count;
}

int cr_map_next(const struct cr_map *m, size_t *pos, const void **key,
		void **value)
{
	while (*pos < m->n_slots) {
		struct map_slot *s = map_slot(m, *pos);

		if (s->value != NULL) {
			*key = s->key;
			*value = s->value;
			(*pos)++;
			return 1;
		}
		(*pos)++;
	}
	return 0;
}
