/*
 * admit.c -- admission of stream connections.  Every stream connection
 * of every loop is counted against max_clients; those from an IP address
 * also against max_clients_per_ip, in a hash table of per-address counts
 * that holds only addresses with a connection open.  Every IP connection
 * is counted, also while max_clients_per_ip is 0, so that a limit turned
 * on by a reload counts the connections already open.  Connections are
 * admitted on the main thread and released on their own loop's thread.
 */
#include <sys/socket.h>
#include <stdlib.h>
#include <string.h>

#include "admit.h"
#include "sync.h"
#include "xmalloc.h"

struct ip_count {
	uint8_t			 family;
	uint8_t			 addr[16];
	unsigned int		 count;
	struct ip_count		*next;
};

#define IP_BUCKETS	4096

void
admit_init(struct admit *a)
{
	memset(a, 0, sizeof *a);
	pthread_mutex_init(&a->lock, NULL);
	a->table = xcalloc(IP_BUCKETS, sizeof *a->table);
}

void
admit_free(struct admit *a)
{
	struct ip_count *ic, *next;
	size_t i;

	if (a->table == NULL)
		return;
	for (i = 0; i < IP_BUCKETS; i++) {
		for (ic = a->table[i]; ic != NULL; ic = next) {
			next = ic->next;
			free(ic);
		}
	}
	free(a->table);
	a->table = NULL;
	pthread_mutex_destroy(&a->lock);
}

/* New limits (start-up, reload); connections already in stay. */
void
admit_configure(struct admit *a, uint64_t max_clients, uint64_t max_per_ip)
{
	a->max_clients = max_clients;
	a->max_per_ip = max_per_ip;
}

/* FNV-1a over the address bytes. */
static size_t
ip_hash(const struct peer_addr *p)
{
	uint32_t h = 2166136261u;
	size_t i, n = p->family == AF_INET ? 4 : 16;

	for (i = 0; i < n; i++)
		h = (h ^ p->addr[i]) * 16777619u;
	return h % IP_BUCKETS;
}

/* The count slot for an address (table locked). */
static struct ip_count **
ip_find(struct admit *a, const struct peer_addr *p)
{
	struct ip_count **pp;
	size_t n = p->family == AF_INET ? 4 : 16;

	for (pp = &a->table[ip_hash(p)]; *pp != NULL; pp = &(*pp)->next) {
		if ((*pp)->family == p->family &&
		    memcmp((*pp)->addr, p->addr, n) == 0)
			break;
	}
	return pp;
}

/* Count an address's new connection; -1 if that is over a set limit. */
static int
ip_acquire(struct admit *a, const struct peer_addr *p)
{
	struct ip_count **pp, *ic;
	int r = 0;

	threads_lock(&a->lock);
	pp = ip_find(a, p);
	if ((ic = *pp) == NULL) {
		ic = *pp = xcalloc(1, sizeof *ic);
		ic->family = p->family;
		memcpy(ic->addr, p->addr, sizeof ic->addr);
	}
	if (a->max_per_ip != 0 && ic->count >= a->max_per_ip)
		r = -1;		/* a new entry has count 0: never refused */
	else
		ic->count++;
	threads_unlock(&a->lock);
	return r;
}

/*
 * May a new connection from p come in?  On ADMIT_OK it is counted and
 * the ticket says what admit_release gives back.
 */
enum admit_result
admit_acquire(struct admit *a, const struct peer_addr *p,
    struct admit_ticket *t)
{
	t->ip_counted = 0;
	if (counter_get(&a->nconns) >= a->max_clients)
		return ADMIT_FULL;
	if (peer_addr_is_inet(p)) {
		if (ip_acquire(a, p) == -1)
			return ADMIT_IP_FULL;
		t->ip_counted = 1;
	}
	counter_add(&a->nconns, 1);
	return ADMIT_OK;
}

/* An admitted connection is gone (on any loop). */
unsigned int
admit_release(struct admit *a, const struct peer_addr *p,
    struct admit_ticket *t)
{
	struct ip_count **pp, *ic;

	if (t->ip_counted) {
		threads_lock(&a->lock);
		pp = ip_find(a, p);
		if ((ic = *pp) != NULL && --ic->count == 0) {
			*pp = ic->next;
			free(ic);
		}
		threads_unlock(&a->lock);
		t->ip_counted = 0;
	}
	return counter_add(&a->nconns, -1);
}

unsigned int
admit_count(struct admit *a)
{
	return counter_get(&a->nconns);
}

/* Connections counted for an address (for tests). */
unsigned int
admit_ip_count(struct admit *a, const struct peer_addr *p)
{
	struct ip_count *ic;
	unsigned int n;

	threads_lock(&a->lock);
	ic = *ip_find(a, p);
	n = ic != NULL ? ic->count : 0;
	threads_unlock(&a->lock);
	return n;
}
