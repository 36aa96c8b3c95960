/*
 * echochat.h -- echochat's internal header: the structures every part of
 * the daemon shares and the functions of each file, grouped by file.
 */
#ifndef ECHOCHAT_H
#define ECHOCHAT_H

#include <sys/types.h>
#include <sys/queue.h>
#include <pthread.h>
#include <sys/socket.h>
#include <stdarg.h>
#include <stdio.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>
#include <event2/event_struct.h>
#include <event2/buffer.h>
#include <event2/listener.h>

#include "handler.h"

/* glibc's <sys/queue.h> lacks the _SAFE iterators. */
#ifndef TAILQ_FOREACH_SAFE
#define TAILQ_FOREACH_SAFE(var, head, field, tvar)			\
	for ((var) = TAILQ_FIRST(head);					\
	    (var) != NULL && ((tvar) = TAILQ_NEXT(var, field), 1);	\
	    (var) = (tvar))
#endif

/* Exit codes of SPEC §2 (sysexits.h values). */
#define EXIT_USAGE	64
#define EXIT_OSERR	71
#define EXIT_TEMPFAIL	75
#define EXIT_CONFIG	78

/* The most event-loop threads "workers" may ask for. */
#define WORKERS_MAX	256

/* One read never asks for more than this; it is also the scratch size. */
#define READ_CHUNK	(64 * 1024)

enum proto { PROTO_TCP, PROTO_UDP, PROTO_UNIX };

enum log_level { LOG_LEVEL_ERROR, LOG_LEVEL_WARN, LOG_LEVEL_INFO,
	LOG_LEVEL_DEBUG };

/* A partial line between reads; in is NULL while there is none. */
struct framer {
	struct evbuffer	*in;
	size_t		 scanned;
	uint64_t	 started;	/* when the partial line began */
	int		 discarding;	/* rest of an over-long line */
};
/* Callbacks of framer_feed; each returns -1 to stop (connection gone). */
struct frame_ops {
	int	(*line)(void *arg, char *line, size_t len);
	int	(*too_long)(void *arg);
};
/*
 * A connection's pending output (outq.c): references to shared lines.
 * cost is bytes plus OUTQ_ENTRY_COST per line: what output_limit bounds.
 */
#define OUTQ_ENTRY_COST	16
struct outq {
	struct shared_line	**ring;
	unsigned int		  head, count, cap;
	size_t			  offset;	/* written of ring[head] */
	size_t			  bytes;
	size_t			  cost;
};
struct outq	*outq_new(void);
void		 outq_free(struct outq *);
void		 outq_push(struct outq *, struct shared_line *);
ssize_t		 outq_write(struct outq *, int fd);

/* A [listener NAME] section, validated. */
struct listener_conf {
	char			*name;
	enum proto		 proto;
	char			*bind;		/* as written */
	struct sockaddr_storage	 addr;		/* parsed (tcp/udp) */
	socklen_t		 addrlen;
	int			 wildcard;	/* "*:PORT": dual stack */
	char			*handler_name;
	const struct handler	*handler;
	char			*banner;	/* NULL: none */
	int			 has_idle_timeout;
	uint64_t		 idle_timeout_ms;
	unsigned int		 line;		/* of the section header */
	unsigned int		 seen;		/* which keys were given */
	int			 bad;		/* a key's value was wrong */
	TAILQ_ENTRY(listener_conf) entry;
};
TAILQ_HEAD(listener_conf_list, listener_conf);

/* The whole configuration: built-in defaults overlaid by the file. */
struct config {
	char			*file;		/* name used in messages */
	int			 daemonize;
	char			*pidfile;	/* NULL: none */
	char			*user;		/* NULL: stay who we are */
	char			*log;		/* "stderr", "syslog" or a path */
	enum log_level		 log_level;
	uint64_t		 max_clients;
	uint64_t		 max_clients_per_ip;
	uint64_t		 idle_timeout_ms;
	uint64_t		 max_line;
	uint64_t		 output_limit;
	uint64_t		 shutdown_timeout_ms;
	uint64_t		 workers;	/* 0: one per CPU */
	uint64_t		 line_timeout_ms;
	uint64_t		 udp_rate;
	uint64_t		 udp_burst;
	uint64_t		 udp_peer_timeout_ms;
	uint64_t		 udp_peers_max;
	uint64_t		 chat_rate;
	uint64_t		 chat_burst;
	struct listener_conf_list listeners;
};

struct server;
struct loop;

/* A bound listener: a stream acceptor or a UDP socket. */
struct listener {
	struct server		*server;
	struct listener_conf	*conf;		/* owned by server->config */
	const struct handler	*handler;
	void			*hstate;	/* handler's process-wide state */
	int			 fd;		/* UDP; -1 for stream */
	struct evconnlistener	*evl;		/* stream */
	struct event		*ev;		/* UDP readable */
	struct event		*pause;		/* accept resting (EMFILE) */
	struct event		*calm;		/* end of an EMFILE episode */
	int			 paused_logged;
	atomic_uint		 nconns;	/* connections pointing here */
	int			 retired;	/* removed by a reload */
	int			 own_conf;	/* conf is ours to free */
	struct listener_conf	*next_conf;	/* reload: what it becomes */
	char			*bound_name;	/* real address after bind */
	uint16_t		 port;		/* real port (tcp, udp) */
	char			*unix_path;	/* to unlink at exit */
	TAILQ_ENTRY(listener)	 entry;
};
TAILQ_HEAD(listener_list, listener);

/* Connection state bits. */
#define CONN_WRITING	0x01	/* waiting for the socket to take output */
#define CONN_FINISHING	0x02	/* close once output is sent */
#define CONN_CLOSED	0x04	/* handler told; free pending */
#define CONN_DIRTY	0x10	/* on the loop's flush list */
#define CONN_PEER_EOF	0x20	/* client half-closed */
#define CONN_IP_COUNTED	0x40	/* counted in server->ip_counts */
#define CONN_HELD	0x80	/* not read while other loops catch up */

/* A stream connection.  Small on purpose: idle ones own no buffers. */
struct conn {
	struct loop		*loop;
	struct listener		*listener;
	const struct handler	*handler;
	void			*hdata;
	struct framer		 framer;	/* line handlers only */
	struct outq		*out;		/* pending output, or NULL */
	int			 fd;
	unsigned int		 flags;
	const char		*close_reason;
	uint8_t			 peer_family;	/* AF_INET, AF_INET6, AF_UNIX */
	uint8_t			 peer_addr[16];
	uint16_t		 peer_port;
	struct event		 ev;
	TAILQ_ENTRY(conn)	 entry;		/* loop->conns */
	TAILQ_ENTRY(conn)	 dirty;		/* loop->dirty or loop->dead */
};
TAILQ_HEAD(conn_list, conn);

/* A call posted to a loop by another thread (worker.c). */
struct loop_call {
	void	(*fn)(void *, void *, void *);
	void	 *a, *b, *c;
};
struct call_vec {
	struct loop_call	*v;
	size_t			 len, cap;
};

/*
 * Per event-loop state: one per worker thread; loop 0 runs on the main
 * thread.  Everything here but the inbox and nconns belongs to the loop's
 * own thread.
 */
struct loop {
	struct server		*server;
	unsigned int		 index;
	struct event_base	*base;
	struct conn_list	 conns;
	struct conn_list	 dirty;		/* output queued this turn */
	struct conn_list	 dead;		/* closed, to be freed */
	struct event		*flush_ev;
	struct event		*sweep_ev;	/* line_timeout, once a second */
	atomic_uint		 nconns;	/* written by this loop only */
	char			*scratch;	/* READ_CHUNK + 1 bytes */
	struct conn		*current;	/* being read; answers go out at once */
	/* Threads only (worker.c). */
	pthread_t		 thread;
	int			 started;
	int			 wake_fd;	/* eventfd; -1 without threads */
	struct event		*wake_ev;
	pthread_mutex_t		 inbox_lock;
	struct call_vec		 inbox;		/* posted, under inbox_lock */
	struct call_vec		 running;	/* being run by the loop */
};

struct ip_count;

struct server {
	struct config		*config;
	struct loop		*loops;		/* nloops; loops[0]: main thread */
	unsigned int		 nloops;
	unsigned int		 next_loop;	/* where the next connection goes */
	atomic_uint		 nconns;	/* stream connections, all loops */
	pthread_mutex_t		 ip_lock;	/* ip_counts, with threads */
	/* Stop the world (worker.c). */
	pthread_mutex_t		 world_lock;
	pthread_cond_t		 world_cond;
	int			 world_stopping; /* loops are asked to park */
	unsigned int		 parked;
	int			 world_held;	/* main may act on every loop */
	struct listener_list	 listeners;
	const char		*config_path;	/* NULL: built-in defaults */
	int			 have_log_level; /* -L given: it wins */
	int			 detached;	/* a daemon without stdio */
	enum log_level		 log_level;
	struct event		*sig_term, *sig_int, *sig_hup, *sig_usr1;
	int			 npassed;	/* sockets from systemd */
	char			*passed_claimed;
	struct event		*shutdown_timer;
	struct ip_count		**ip_counts;	/* hash table */
	struct udp_budget	*udp_budget;	/* udp_rate buckets, lazily */
	int			 stopping;
	void			*hstates[16];	/* per registry entry */
	int			 hstarted[16];
};

/* config.c */
struct config	*config_new_defaults(void);
struct config	*config_load(const char *file, int builtin,
		    void (*report)(const char *), unsigned int *nerrors);
struct config	*config_load_stream(FILE *, const char *name,
		    void (*report)(const char *), unsigned int *nerrors);
void		 config_free(struct config *);
void		 config_set_base_dir(const char *);
void		 listener_conf_free(struct listener_conf *);
void		 config_print(const struct config *, FILE *);
const char	*proto_name(enum proto);

/* defaults.c (generated from conf/echochatd.ini) */
extern const char default_config_text[];

/* parse.c */
int	 parse_size(const char *, uint64_t *);
int	 parse_duration_ms(const char *, uint64_t *);
int	 parse_bool(const char *, int *);
int	 parse_uint(const char *, uint64_t *);
int	 parse_log_level(const char *, enum log_level *);
const char *log_level_name(enum log_level);
int	 parse_address(const char *, struct sockaddr_storage *, socklen_t *,
	    int *wildcard, const char **cause);
int	 addresses_clash(const struct listener_conf *,
	    const struct listener_conf *);
char	*format_address(const struct sockaddr *, socklen_t);
char	*format_size(uint64_t);
char	*format_duration(uint64_t ms);

/* log.c */
void	 log_init(void);
int	 log_open(const char *target, enum log_level, const char **cause);
void	 log_set_level(enum log_level);
void	 log_set_starting(int);
int	 log_reopen(void);
void	 log_close(void);
void	 log_error(const char *, ...) __attribute__((format(printf, 1, 2)));
void	 log_warn(const char *, ...) __attribute__((format(printf, 1, 2)));
void	 log_warnx(const char *, ...) __attribute__((format(printf, 1, 2)));
void	 log_info(const char *, ...) __attribute__((format(printf, 1, 2)));
void	 log_debug(const char *, ...) __attribute__((format(printf, 1, 2)));
int	 log_enabled(enum log_level);

/* xmalloc.c */
void	*xmalloc(size_t);
void	*xcalloc(size_t, size_t);
void	*xrealloc(void *, size_t);
char	*xstrdup(const char *);
int	 xasprintf(char **, const char *, ...)
	    __attribute__((format(printf, 2, 3)));

/* siphash.c */
uint64_t siphash(const uint8_t key[16], const void *, size_t);

/* handlers.c */
const struct handler *handler_find(const char *name);
int	 handler_index(const struct handler *);
const struct handler *handler_at(int);
const char *handler_names(void);

/* framing.c */
size_t	 frame_strip_eol(const char *line, size_t len);
int	 framer_feed(struct framer *, size_t max_line, uint64_t now,
	    char *data, size_t len, const struct frame_ops *, void *arg);
void	 framer_reset(struct framer *);

/* listener.c */
int	 listener_open(struct server *, struct listener_conf *, int passed_fd,
	    struct listener **, char **cause);
int	 listener_start_handler(struct server *, struct listener *, char **);
void	 listener_stop(struct listener *);
void	 listener_close(struct listener *);
void	 listener_retire(struct listener *);
void	 listener_release(struct listener *);

/* daemon.c */
int	 daemon_detach(int *ready_fd);
void	 daemon_ready(int ready_fd);
void	 daemon_fail(int ready_fd, int status);
int	 pidfile_open(const char *path, int *status);
void	 pidfile_close(const char *path, int fd);
int	 drop_privileges(const char *user, struct server *);

/* systemd.c */
void	 notify(const char *state);
int	 systemd_listen_fds(void);
int	 systemd_socket_matches(int fd, const struct listener_conf *);

/* conn.c */
void	 conn_accept(struct listener *, int fd, struct sockaddr *, socklen_t);
void	 conn_finish_all(struct loop *);
void	 loop_init(struct loop *, struct server *, unsigned int index,
	    struct event_base *);
uint64_t monotonic_ms(void);
void	 loop_free(struct loop *);

/* worker.c */
unsigned int counter_add(atomic_uint *, int delta);
unsigned int counter_get(atomic_uint *);
int	 workers_init(struct server *, struct event_base *, unsigned int n,
	    char **cause);
int	 workers_start(struct server *, char **cause);
void	 workers_stop(struct server *);
void	 workers_free(struct server *);
void	 world_stop(struct server *);
void	 world_resume(struct server *);
struct event_base *loop_base_new(void);
struct loop *loop_here(void);
int	 loops_behind(struct loop *);
void	 loop_set_here(struct loop *);
unsigned int workers_resolve(uint64_t configured);

/* udp.c */
void	 udp_readable(evutil_socket_t, short, void *);
void	 udp_budget_free(struct server *);

/* server.c */
int	 server_init(struct server *, struct config *, struct event_base *,
	    char **cause);
int	 server_open_listeners(struct server *, char **cause);
void	 server_run(struct server *);
void	 server_notify_ready(struct server *);
void	 server_free(struct server *);
int	 server_ip_acquire(struct server *, struct conn *);
void	 server_ip_release(struct server *, struct conn *);
void	 server_conn_gone(struct server *);
unsigned int server_count_listeners(struct server *);
const char *server_log_target(struct server *);

#endif
