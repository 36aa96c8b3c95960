/*
 * <echochat/plugin.h> -- the interface of echochatd handler plugins.
 *
 * A handler decides what to answer.  echochatd owns sockets, transports,
 * buffers, framing, limits, timeouts and threads; a handler sees a stream
 * connection (TCP, Unix) as a series of input calls -- raw bytes or whole
 * lines, as it asks -- and a datagram listener as a series of datagrams.
 * max_clients, idle_timeout, line_timeout, max_line, output_limit and UDP
 * rationing apply to a plugin exactly as to the built-in handlers, which
 * are written against this same interface (see "Built-ins" below).
 *
 * A plugin is a shared object NAME.so in the plugin directory ([plugins]
 * dir) that defines one handler and says so with ECHOCHAT_PLUGIN() at the
 * end of its source.  man 3 echochat-plugin is the guide; this header is
 * the contract.  It includes system headers only.
 *
 * --- Threads ---
 *
 * echochatd runs one event loop per worker thread (workers = N).  A
 * stream connection lives on one loop for its whole life:
 *
 *   open, input, close        run on the connection's thread.  conn_*
 *                             calls on that connection belong there too.
 *   check                     main thread, while a configuration is read
 *                             (at start-up, on SIGHUP and with -t).
 *   start, configure, stop,   main thread.  configure runs while every
 *   shutdown                  loop is held still, so it may change state
 *                             that the other callbacks read.
 *   datagram                  main thread (dgram_reply belongs there).
 *   timers                    the thread that created the timer: one
 *                             made in open or input fires on that
 *                             connection's thread and may send to it.
 *
 * So per-connection data needs no lock, and state shared by connections
 * (kept in what start returns) is read-only outside configure, or guarded
 * with an hlock.  A plugin that follows these rules works with any
 * workers.  hlog, hclock_ms and the hlock functions may be called from any
 * thread.  No callback may block: it would stall every connection of its
 * loop.
 *
 * --- ABI ---
 *
 * A plugin is bound to echochatd by the names of the functions below,
 * which echochatd exports (and nothing else), and checked at load by the
 * descriptor ECHOCHAT_PLUGIN() defines: its ABI version and the sizes of
 * the structures it was built with.  echochatd loads a plugin whose major
 * version is its own and whose minor version is not newer.  Within one
 * major version structures only grow at their end (echochatd reads what
 * an older plugin did not have as NULL or 0), functions are only added,
 * and struct hsetting_def does not change (the plugin has arrays of it).
 *
 * Why exported functions and not a table of pointers handed to the plugin
 * (as Redis modules do): a function an older echochatd lacks is then an
 * "undefined symbol" refusal when the plugin is loaded (dlopen with
 * RTLD_NOW), never a NULL pointer called later; a plugin calls
 * conn_send() like a built-in does, with no table to fill or forget; and
 * the version is one number pair, not an exact build signature that
 * forces a rebuild on every configure change.
 *
 * --- Built-ins ---
 *
 * echo and upper use exactly this header.  chat uses a strict superset,
 * echochatd's internal handler.h: this header plus what chat needs to
 * speak across loops (endpoints carried to other threads, shared lines,
 * running a call on another loop).  That part exposes the loops and may
 * change in any release, so it is not in the ABI.
 */
#ifndef ECHOCHAT_PLUGIN_H
#define ECHOCHAT_PLUGIN_H

#include <sys/types.h>
#include <sys/socket.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ECHOCHAT_PLUGIN_ABI_MAJOR	1
#define ECHOCHAT_PLUGIN_ABI_MINOR	0

struct conn;		/* a stream connection (TCP, Unix) */
struct hsettings;	/* a handler's own section of the configuration */
struct htimer;
struct hlock;

/* How echochatd cuts a stream before handing it to the handler. */
enum framing {
	FRAMING_BYTES,	/* every read as it arrives; the buffer may be modified */
	FRAMING_LINES	/* one whole line at a time, terminator removed */
};

/* Where a datagram came from: enough to answer it. */
struct dgram_src {
	const void		*origin;	/* the socket, opaque */
	struct sockaddr_storage	 addr;
	socklen_t		 addrlen;
};

/*
 * A key of the handler's own section.  Numbers are checked against min
 * and max (durations in ms); strings are taken as written (min and max
 * unused).  A plugin's defaults are its handler's defaults text; a key
 * that text does not give is 0 or empty.
 */
enum hsetting_type { HSETTING_COUNT, HSETTING_SIZE, HSETTING_DURATION,
	HSETTING_STRING };
struct hsetting_def {
	const char		*name;
	enum hsetting_type	 type;
	uint64_t		 min, max;
};

struct handler {
	const char	*name;		/* a plugin's is its file's NAME */
	enum framing	 framing;

	/*
	 * Its own settings: a section with the keys of a table ending in a
	 * NULL name.  A plugin's section is [handler NAME].  Optional.
	 */
	const char			*section;	/* plugins: unused */
	const struct hsetting_def	*settings;

	/*
	 * Process-wide state, created before the first listener of this
	 * handler opens and destroyed when the server goes.  Optional.
	 * Returns NULL and sets *cause (a static string) on failure.
	 */
	void	*(*start)(const char **cause);
	/* Settings, after start and after every reload.  Optional. */
	void	 (*configure)(void *state, const struct hsettings *);
	void	 (*stop)(void *state);

	/* The server is shutting down: a last word to everyone.  Optional. */
	void	 (*shutdown)(void *state);

	/* A stream connection arrived (after the banner).  -1 refuses it. */
	int	 (*open)(struct conn *);

	/*
	 * Input from a stream: raw bytes or one line without terminator,
	 * not NUL-terminated.  The buffer is the handler's to modify until
	 * it returns.
	 */
	void	 (*input)(struct conn *, char *data, size_t len);

	/*
	 * The connection is going away; reason is NULL for an orderly
	 * disconnect, otherwise a short word such as "too slow".  Sending to
	 * this connection from here is a no-op.
	 */
	void	 (*close)(struct conn *, const char *reason);

	/* One datagram on a datagram listener of this handler. */
	void	 (*datagram)(void *state, const struct dgram_src *,
		     char *data, size_t len);

	/*
	 * The defaults of the section, as INI lines ("key = value\n...").
	 * Plugins only (the built-ins' are in echochatd's built-in INI).
	 */
	const char	*defaults;

	/*
	 * Check the section as a whole once every key has been read (each
	 * value is already within its type and range).  Report each problem
	 * with hsettings_error; any error refuses the configuration (exit
	 * 78; a reload keeps the old one).  Main thread, before start and
	 * configure, also for -t.  Optional.
	 */
	void	 (*check)(const struct hsettings *);

	/*
	 * Telnet users expected (lines only): echochatd refuses every telnet
	 * option they ask for, answering the TIMING-MARK telnet waits for
	 * after Ctrl-C; the commands still reach input, for the handler to
	 * drop.
	 */
	int	 telnet;

	/*
	 * The handler has rooms: a listener of it may name the room its
	 * newcomers start in with `room` (listeners of other handlers may
	 * not).  Returns NULL if the name is good, else why not (a static
	 * string).  Main thread.  Optional: without it `room` is refused.
	 */
	const char *(*check_room)(const char *room);

	/* --- ABI 1.0 ends here; later minor versions add below. --- */
};

/* --- Stream connections (on the connection's thread). --- */

/* Queue bytes (copied); sent at once or at the end of this turn. */
void	 conn_send(struct conn *, const void *data, size_t len);
/* Send what is queued, then close.  Input from now on is ignored. */
void	 conn_finish(struct conn *);
/* Close now (queued output is dropped); reason as for handler close. */
void	 conn_drop(struct conn *, const char *reason);
/* Handler-private per-connection data. */
void	*conn_get_data(struct conn *);
void	 conn_set_data(struct conn *, void *);
/* The handler's process-wide state (from start). */
void	*conn_handler_state(struct conn *);
/* "127.0.0.1:5555", "[::1]:5555" or "unix", for logs. */
const char *conn_peer_name(struct conn *);
/* Who is on the connection (a nick), named in its disconnect log line. */
void	 conn_set_user(struct conn *, const char *user);
/* Is the connection still open for output? */
int	 conn_is_open(struct conn *);
/* The configured max_line (for messages). */
size_t	 conn_max_line(struct conn *);

/* --- Datagrams (main thread). --- */

/*
 * Answer a datagram: within the sender's budget (udp_rate, udp_burst),
 * else dropped and counted.
 */
void	 dgram_reply(const struct dgram_src *, const void *data, size_t len);
/* The configured max_line. */
size_t	 dgram_max_line(const struct dgram_src *);
/* "127.0.0.1:5555" or "[::1]:5555", for logs; valid until the next call. */
const char *dgram_peer_name(const struct dgram_src *);

/* --- Settings (configure and check). --- */

/* A number key of the handler's section (from its settings table). */
uint64_t hsettings_get(const struct hsettings *, const char *name);
/* A string key; "" when empty.  Valid until the next configure. */
const char *hsettings_get_string(const struct hsettings *, const char *name);
/*
 * From check: report a problem with key (NULL: the section) at its line
 * of the configuration file.
 */
void	 hsettings_error(const struct hsettings *, const char *key,
	    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* --- Timers, locks, log, clock. --- */

/*
 * fn(arg) every ms milliseconds on the calling thread's loop, until
 * freed.  Create and free a timer on the same thread.
 */
struct htimer *htimer_every(uint64_t ms, void (*fn)(void *), void *arg);
void	 htimer_free(struct htimer *);

/* A mutex (it costs next to nothing with one worker). */
struct hlock *hlock_new(void);
void	 hlock_acquire(struct hlock *);
void	 hlock_release(struct hlock *);
void	 hlock_free(struct hlock *);

/* A line in echochatd's log, at its level filter. */
enum hlog_level { HLOG_ERROR, HLOG_WARN, HLOG_INFO, HLOG_DEBUG };
void	 hlog(enum hlog_level, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
/* Milliseconds on a monotonic clock. */
uint64_t hclock_ms(void);

/* --- The plugin's descriptor. --- */

#define ECHOCHAT_PLUGIN_MAGIC	0x45434850u	/* "ECHP" */

struct echochat_plugin {
	uint32_t		 magic;		/* ECHOCHAT_PLUGIN_MAGIC */
	uint16_t		 abi_major;	/* the header's, at build */
	uint16_t		 abi_minor;
	uint32_t		 size;		/* sizeof (struct echochat_plugin) */
	uint32_t		 handler_size;	/* sizeof (struct handler) */
	uint32_t		 setting_size;	/* sizeof (struct hsetting_def) */
	const char		*version;	/* the plugin's, for -t and logs */
	const struct handler	*handler;
	/* --- ABI 1.0 ends here. --- */
};

/*
 * Declare the plugin: the handler it defines and its own version string.
 * Once, at file scope:  ECHOCHAT_PLUGIN(rot13_handler, "1.0");
 */
#ifdef __cplusplus
#define ECHOCHAT_PLUGIN_LINKAGE	extern "C"	/* const is local in C++ */
#else
#define ECHOCHAT_PLUGIN_LINKAGE
#endif
#define ECHOCHAT_PLUGIN(handler_var, version_string)			\
	ECHOCHAT_PLUGIN_LINKAGE __attribute__((visibility("default")))	\
	const struct echochat_plugin echochat_plugin = {		\
		ECHOCHAT_PLUGIN_MAGIC,					\
		ECHOCHAT_PLUGIN_ABI_MAJOR, ECHOCHAT_PLUGIN_ABI_MINOR,	\
		sizeof (struct echochat_plugin),			\
		sizeof (struct handler),				\
		sizeof (struct hsetting_def),				\
		(version_string), &(handler_var)			\
	}

#ifdef __cplusplus
}
#endif

#endif
