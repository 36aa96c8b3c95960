/*
 * listener.h -- listeners (listener.c): sockets from configuration,
 * bound, listening and watched on the main loop.  What arrives is handed
 * to the caller's callbacks: accepted stream sockets, or readiness of a
 * datagram socket.
 */
#ifndef ECHOCHAT_LISTENER_H
#define ECHOCHAT_LISTENER_H

#include <sys/types.h>
#include "tailq.h"
#include <sys/socket.h>
#include <stdatomic.h>
#include <stdint.h>

#include <event2/event.h>

#include "handler.h"

enum proto { PROTO_TCP, PROTO_UDP, PROTO_UNIX };

struct listener_conf;
struct tls_ctx;

const char	*proto_name(enum proto);
void		 listener_conf_free(struct listener_conf *);
int		 listener_unix_perms(const struct listener_conf *,
		    const char *path, char **cause);

/* A [listener NAME] section, validated. */
struct listener_conf {
	char			*name;
	enum proto		 proto;
	char			*bind;		/* as written */
	struct sockaddr_storage	 addr;		/* parsed (tcp/udp) */
	socklen_t		 addrlen;
	int			 wildcard;	/* "*:PORT": dual stack */
	char			*handler_name;
	unsigned int		 handler_line;	/* of the handler key */
	const struct handler	*handler;
	char			*banner;	/* NULL: none */
	char			*room;		/* NULL: the handler's default */
	unsigned int		 room_line;
	char			*mode, *owner, *group;	/* unix; NULL: none */
	int			 unix_mode;	/* parsed mode, or -1 */
	long			 unix_uid, unix_gid;	/* or -1 */
	int			 has_idle_timeout;
	uint64_t		 idle_timeout_ms;
	char			*tls_cert;	/* NULL: plain */
	char			*tls_key;
	char			*tls_ca;
	int			 tls_verify;
	struct tls_ctx		*tls;		/* built from them, or NULL */
	unsigned int		 tls_lines[3];	/* of tls_cert, _key, _ca */
	int			 websocket;	/* HTTP, the page, WebSocket */
	char			*ws_origins;	/* NULL: any Origin */
	unsigned int		 line;		/* of the section header */
	unsigned int		 seen;		/* which keys were given */
	unsigned int		 bad;		/* which keys' values were wrong */
	unsigned int		 key_line[16];	/* where each key was given */
	int			 invalid;	/* reported: no clash check */
	TAILQ_ENTRY(listener_conf) entry;
};
TAILQ_HEAD(listener_conf_list, listener_conf);

struct listener;
struct listener_stats;

/* What the caller does with what arrives (main thread). */
struct listener_ops {
	void	(*accept)(void *arg, struct listener *, int fd,
		    struct sockaddr *, socklen_t);
	void	(*readable)(void *arg, struct listener *);
	/* The socket is about to close: last words go now (may be NULL). */
	void	(*closing)(void *arg, struct listener *);
};

struct listener {
	struct listener_conf	*conf;
	const struct listener_ops *ops;
	void			*ops_arg;
	void			*owner;		/* the caller's: its handler */
	struct listener_stats	*stats;		/* the caller's: its counters */
	int			 fd;		/* datagram; -1 for stream */
	struct evconnlistener	*evl;		/* stream */
	struct event		*ev;		/* datagram readable */
	struct event		*pause;		/* accept resting (EMFILE) */
	struct event		*calm;		/* end of an EMFILE episode */
	int			 paused_logged;
	int			 took_since_pause; /* accepted since it rested */
	atomic_uint		 refs;		/* users besides the list */
	int			 retired;	/* removed by a reload */
	int			 own_conf;	/* conf is ours to free */
	struct listener_conf	*next_conf;	/* reload: what it becomes */
	char			*bound_name;	/* real address after bind */
	uint16_t		 port;		/* real port (tcp, udp) */
	char			*unix_path;	/* to unlink at exit */
	TAILQ_ENTRY(listener)	 entry;
};
TAILQ_HEAD(listener_list, listener);

int	 listener_open(struct listener_conf *, int passed_fd,
	    struct event_base *, const struct listener_ops *, void *ops_arg,
	    struct listener **, char **cause);
void	 listener_stop(struct listener *);
void	 listener_close(struct listener *);
void	 listener_retire(struct listener *);
void	 listener_ref(struct listener *);
void	 listener_release(struct listener *);

#endif
