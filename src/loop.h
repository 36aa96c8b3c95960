/*
 * loop.h -- event loops, one per thread (loop.c).  A loop is a libevent
 * base with an inbox other threads post calls to, a scratch buffer for
 * reads, and hooks run at the end of each turn (before it sleeps again).
 * It knows nothing of what runs on it.
 */
#ifndef ECHOCHAT_LOOP_H
#define ECHOCHAT_LOOP_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>

/* One read never asks for more than this; it is also the scratch size. */
#define READ_CHUNK	(64 * 1024)

/* The most loops "workers" may ask for. */
#define WORKERS_MAX	256

/* End-of-turn hooks per loop: one per layer that batches work. */
#define LOOP_HOOKS_MAX	4

/*
 * An inbox this long means the loop is behind; a client whose input made
 * the work is held (not read) until every inbox it feeds is short again.
 * Release is at a quarter of it so that a held client is not let go and
 * held again on every call the loop takes.
 */
#define LOOP_BEHIND		1024
#define LOOP_CAUGHT_UP		(LOOP_BEHIND / 4)

typedef void loop_fn(void *arg);

struct loop_call {
	loop_fn	*fn;
	void	*arg;
};
struct call_vec {
	struct loop_call	*v;
	size_t			 len, cap;
};
struct loop_hook {
	loop_fn	*fn;
	void	*arg;
};

struct loops;

/* Per-loop state; everything but the inbox belongs to the loop's thread. */
struct loop {
	struct loops		*set;
	unsigned int		 index;
	struct event_base	*base;
	char			*scratch;	/* READ_CHUNK + 1 bytes */
	struct event		*turn_ev;	/* runs the hooks */
	struct loop_hook	 hooks[LOOP_HOOKS_MAX];
	unsigned int		 nhooks;
	/* Threads only. */
	pthread_t		 thread;
	int			 started;
	int			 wake_fd;	/* eventfd; -1 without threads */
	struct event		*wake_ev;
	pthread_mutex_t		 inbox_lock;
	struct call_vec		 inbox;		/* posted, under inbox_lock */
	struct call_vec		 running;	/* being run by the loop */
	atomic_size_t		 waiting;	/* inbox.len, read without lock */
	/* Loops this one posted to this turn and will wake at its end. */
	uint8_t			 owes[WORKERS_MAX];
	uint16_t		 owed[WORKERS_MAX];
	unsigned int		 nowed;
};

/* Every loop of the process; loop 0 runs on the main thread. */
struct loops {
	struct loop		*v;
	unsigned int		 n;
	pthread_mutex_t		 world_lock;
	pthread_cond_t		 world_cond;
	int			 world_stopping;	/* loops are asked to park */
	unsigned int		 parked;
	int			 world_held;	/* main may act on every loop */
};

struct event_base *loop_base_new(void);
unsigned int	 loops_resolve(uint64_t configured);
int		 loops_init(struct loops *, struct event_base *main_base,
		    unsigned int n, char **cause);
int		 loops_start(struct loops *, char **cause);
void		 loops_stop(struct loops *);
void		 loops_free(struct loops *);
void		 world_stop(struct loops *);
void		 world_resume(struct loops *);

struct loop	*loop_here(void);
int		 loop_is_here(struct loop *);
unsigned int	 loop_post(struct loop *, loop_fn *, void *arg);
unsigned int	 loop_post_deferred(struct loop *, loop_fn *, void *arg);
void		 loop_wake_owed(void);
int		 loop_behind(struct loop *);
int		 loops_caught_up(struct loops *, struct loop *self);
void		 loop_add_hook(struct loop *, loop_fn *, void *arg);
void		 loop_schedule(struct loop *);

#endif
