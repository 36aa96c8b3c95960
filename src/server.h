/*
 * server.h -- the server (server.c): the composition root that wires the
 * loops, listeners, admission, connections, datagrams and handlers
 * together, and runs signals, reloads and the orderly stop.
 */
#ifndef ECHOCHAT_SERVER_H
#define ECHOCHAT_SERVER_H

#include <event2/event.h>

#include "admit.h"
#include "config.h"
#include "conn.h"
#include "handlers.h"
#include "listener.h"
#include "loop.h"
#include "metrics.h"
#include "udp.h"

struct server {
	struct config		*config;
	struct loops		 loops;		/* v[0]: the main thread */
	struct conn_loop	*cls;		/* per loop */
	unsigned int		 next_loop;	/* where the next one goes */
	struct admit		 admit;
	struct conn_limits	 limits;
	struct udp_limits	 udp_limits;
	struct udp_set		 udp;
	struct handler_instances handlers;
	struct listener_list	 listeners;
	const char		*config_path;	/* NULL: built-in defaults */
	int			 have_log_level; /* -L given: it wins */
	int			 detached;	/* a daemon without stdio */
	enum log_level		 log_level;
	struct metrics		*metrics;	/* [metrics]: its HTTP server */
	struct event		*sig_term, *sig_int, *sig_hup, *sig_usr1;
	struct event		*sig_usr2;
	int			 npassed;	/* sockets from systemd */
	char			*passed_claimed;
	struct event		*shutdown_timer;
	int			 stopping;
};

int	 server_init(struct server *, struct config *, struct event_base *,
	    char **cause);
int	 server_open_listeners(struct server *, char **cause);
int	 server_start_workers(struct server *, char **cause);
char	**server_unix_paths(struct server *);
void	 server_run(struct server *);
void	 server_free(struct server *);
void	 server_notify_ready(struct server *);
unsigned int server_count_listeners(struct server *);
const char *server_log_target(struct server *);

#endif
