/*
 * admit.h -- admission of stream connections (admit.c): max_clients for
 * the whole process and max_clients_per_ip per address, in one place,
 * safe from every loop's thread.
 */
#ifndef ECHOCHAT_ADMIT_H
#define ECHOCHAT_ADMIT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "sock.h"

struct ip_count;

struct admit {
	atomic_uint		 nconns;
	uint64_t		 max_clients;
	uint64_t		 max_per_ip;	/* 0: no limit */
	pthread_mutex_t		 lock;		/* table, with threads */
	struct ip_count		**table;
};

enum admit_result { ADMIT_OK, ADMIT_FULL, ADMIT_IP_FULL };

/* What an admitted connection must give back; filled by admit_acquire. */
struct admit_ticket {
	uint8_t	ip_counted;	/* one byte: it is in every connection */
};

void	 admit_init(struct admit *);
void	 admit_free(struct admit *);
void	 admit_configure(struct admit *, uint64_t max_clients,
	    uint64_t max_per_ip);
enum admit_result admit_acquire(struct admit *, const struct peer_addr *,
	    struct admit_ticket *);
/* Returns how many connections remain. */
unsigned int admit_release(struct admit *, const struct peer_addr *,
	    struct admit_ticket *);
unsigned int admit_count(struct admit *);
unsigned int admit_ip_count(struct admit *, const struct peer_addr *);

#endif
