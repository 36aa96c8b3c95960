/*
 * main.c -- echochatd's command line, start-up order and exit codes
 * (echochatd(8)): parse options, load and check the configuration, detach
 * if asked, take the pid file, bind every listener, drop privileges, say
 * "ready", serve until told to stop.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "autoconf.h"
#include "config.h"
#include "daemon.h"
#include "log.h"
#include "loop.h"
#include "parse.h"
#include "server.h"
#include "tls.h"
#include "xmalloc.h"

struct options {
	const char	*config_file;	/* as given, for messages */
	const char	*config_abs;	/* absolute, for reloads */
	const char	*pidfile;
	int		 daemon;	/* 1: -d, 0: -f, -1: as configured */
	int		 check_only;
	int		 quiet;		/* -q: -t prints no settings */
	int		 have_level;
	enum log_level	 level;
};

/* What start-up holds, so that every way out releases it all. */
struct startup {
	struct config		*config;
	struct event_base	*base;
	struct server		 server;
	int			 have_server;
	char			*pidfile;	/* own copy: a reload frees config */
	int			 pid_fd;
	int			 ready_fd;
};

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: echochatd [-c FILE] [-d | -f] [-p PIDFILE] [-t [-q]] "
	    "[-L LEVEL] [-V] [-h]\n"
	    "  -c, --config FILE      read settings from FILE (default: %s\n"
	    "                         if it exists, else the built-in "
	    "defaults)\n"
	    "  -d, --daemon           detach into the background\n"
	    "  -f, --foreground       stay in the foreground\n"
	    "  -p, --pidfile FILE     write and lock a pid file\n"
	    "  -t, --check-config     check the configuration, print the "
	    "effective settings\n"
	    "  -q, --quiet            with -t: print no settings, only "
	    "problems and the verdict\n"
	    "  -L, --log-level LEVEL  error, warn, info or debug\n"
	    "  -V, --version          print the version, build features and "
	    "paths\n"
	    "  -h, --help             print this help\n", DEFAULT_CONFIG_FILE);
}

/*
 * The optional features this build has, for -V: one word each, from
 * autoconf.h.  A new optional dependency adds its line here.
 */
static const char *const build_features[] = {
#ifdef HAVE_LIBSYSTEMD
	"systemd",
#endif
#ifdef HAVE_OPENSSL
	"openssl",
#endif
#ifdef HAVE_PLUGINS
	"plugins",
#endif
	NULL
};

/* -V: the version line, then what the build has and where it looks. */
static void
print_version(void)
{
	const char *const *f;

	printf("echochatd %s\n", PACKAGE_VERSION);
	printf("features:");
	for (f = build_features; *f != NULL; f++)
		printf(" %s", *f);
	printf("%s\n", build_features[0] == NULL ? " none" : "");
	printf("libevent: %s\n", event_get_version());
	if (tls_library_version() != NULL)
		printf("openssl: %s\n", tls_library_version());
#ifdef HAVE_PLUGINS
	printf("plugins: %s\n", PLUGINDIR);
#endif
	printf("config: %s\n", DEFAULT_CONFIG_FILE);
}

/* Report a command line problem and exit 64. */
static void __attribute__((noreturn))
usage_error(const char *msg, const char *arg)
{
	fprintf(stderr, "echochatd: %s%s%s\n", msg, arg ? ": " : "",
	    arg ? arg : "");
	usage(stderr);
	exit(EXIT_USAGE);
}

/* Parse argv into opts; exits on -h, -V and errors. */
static void
parse_options(int argc, char **argv, struct options *opts)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "daemon", no_argument, NULL, 'd' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "pidfile", required_argument, NULL, 'p' },
		{ "check-config", no_argument, NULL, 't' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "log-level", required_argument, NULL, 'L' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	int ch;

	memset(opts, 0, sizeof *opts);
	opts->daemon = -1;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":c:dfp:tqL:Vh", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 'c':
			if (*optarg == '\0')
				usage_error("-c needs a file name", NULL);
			opts->config_file = optarg;
			break;
		case 'd':
		case 'f':
			if (opts->daemon == (ch == 'd' ? 0 : 1))
				usage_error("-d and -f contradict each other",
				    NULL);
			opts->daemon = ch == 'd';
			break;
		case 'p':
			if (*optarg == '\0')
				usage_error("-p needs a file name", NULL);
			opts->pidfile = optarg;
			break;
		case 't':
			opts->check_only = 1;
			break;
		case 'q':
			opts->quiet = 1;
			break;
		case 'L':
			if (parse_log_level(optarg, &opts->level) == -1)
				usage_error("bad log level (error, warn, info "
				    "or debug)", optarg);
			opts->have_level = 1;
			break;
		case 'V':
			print_version();
			exit(0);
		case 'h':
			usage(stdout);
			exit(0);
		case ':':
			usage_error("option needs a value", argv[optind - 1]);
		default:
			usage_error("unknown option", argv[optind - 1]);
		}
	}
	if (optind < argc)
		usage_error("unexpected argument", argv[optind]);
	if (opts->quiet && !opts->check_only)
		usage_error("-q goes with -t", NULL);
}

/*
 * Without -c, the installed configuration if there is one (make install
 * puts it there), else the built-in defaults.  A file that exists but
 * cannot be read is an error, not a reason to fall back.
 */
static void
choose_config_file(struct options *opts)
{
	if (opts->config_file == NULL && access(DEFAULT_CONFIG_FILE, F_OK) == 0)
		opts->config_file = DEFAULT_CONFIG_FILE;
}

/* What the configuration came from, for the starting line and -t. */
static const char *
config_source(const struct options *opts)
{
	return opts->config_file != NULL ? opts->config_file :
	    "the built-in defaults";
}

/* config_load's reporter at start-up: one line each on stderr. */
static void
report_to_stderr(const char *msg)
{
	fprintf(stderr, "echochatd: %s\n", msg);
}

/*
 * Relative paths (the -c file, and log, pidfile and unix binds inside it)
 * mean the directory we were started in, also once a daemon has gone to
 * "/" and when it reloads.
 */
static int
remember_start_dir(struct options *opts)
{
	static char *config_path;
	char *cwd = getcwd(NULL, 0);

	if (cwd == NULL) {
		fprintf(stderr, "echochatd: getcwd: %s\n", strerror(errno));
		return -1;
	}
	config_set_base_dir(cwd);
	opts->config_abs = opts->config_file;
	if (opts->config_file != NULL && opts->config_file[0] != '/') {
		xasprintf(&config_path, "%s/%s", cwd, opts->config_file);
		opts->config_abs = config_path;
	}
	if (opts->pidfile != NULL && opts->pidfile[0] != '/') {
		static char *pid_path;
		xasprintf(&pid_path, "%s/%s", cwd, opts->pidfile);
		opts->pidfile = pid_path;
	}
	free(cwd);
	return 0;
}

/* Release whatever start-up took; the exit status passes through. */
static int
finish(struct startup *st, int status)
{
	if (status != 0)
		daemon_fail(st->ready_fd, status);
	if (st->have_server) {
		st->config = st->server.config;	/* a reload may swap it */
		server_free(&st->server);
	}
	if (st->base != NULL)
		event_base_free(st->base);
	pidfile_close(st->pidfile, st->pid_fd);
	free(st->pidfile);
	if (status == 0)
		log_info("stopped");
	config_free(st->config);
	log_close();
	libevent_global_shutdown();
	return status;
}

/* Bind, drop privileges, announce readiness; 0 or an exit status. */
static int
start_serving(struct startup *st, const struct options *opts)
{
	struct server *s = &st->server;
	char *failure;

	if ((st->base = loop_base_new()) == NULL) {
		log_error("cannot create the event loop");
		return EXIT_OSERR;
	}
	st->have_server = 1;
	if (server_init(s, st->config, st->base, &failure) == -1) {
		log_error("%s", failure);
		free(failure);
		return EXIT_OSERR;
	}
	s->config_path = opts->config_abs;
	s->have_log_level = opts->have_level;
	s->log_level = opts->level;
	log_info("echochatd %s starting with %s", PACKAGE_VERSION,
	    config_source(opts));
	if (server_open_listeners(s, &failure) == -1) {
		log_error("%s", failure);
		free(failure);
		return EXIT_OSERR;
	}
	if (st->config->user != NULL) {
		char **paths = server_unix_paths(s);
		int r = drop_privileges(st->config->user, paths);

		free(paths);
		if (r == -1)
			return EXIT_OSERR;
	}
	/* Threads after the fork of -d and after dropping privileges. */
	if (server_start_workers(s, &failure) == -1) {
		log_error("%s", failure);
		free(failure);
		return EXIT_OSERR;
	}
	if (s->loops.n > 1)
		log_info("%u worker threads", s->loops.n);
	log_info("ready");
	log_set_starting(0);
	server_notify_ready(s);
	if (st->ready_fd != -1) {
		s->detached = 1;
		daemon_ready(st->ready_fd);
		st->ready_fd = -1;
		if (strcmp(st->config->log, "stderr") == 0) {
			const char *cause;
			log_open("syslog", st->config->log_level, &cause);
		}
	}
	return 0;
}

int
main(int argc, char **argv)
{
	struct options opts;
	struct startup st;
	unsigned int nerrors;
	const char *cause;
	int status;

	parse_options(argc, argv, &opts);
	choose_config_file(&opts);
	memset(&st, 0, sizeof st);
	st.pid_fd = st.ready_fd = -1;
	log_init();
	if (remember_start_dir(&opts) == -1)
		return EXIT_OSERR;
	st.config = config_load(opts.config_file, opts.config_file == NULL,
	    report_to_stderr, &nerrors);
	if (st.config == NULL) {
		fprintf(stderr, "echochatd: %u error%s in the configuration\n",
		    nerrors, nerrors == 1 ? "" : "s");
		return EXIT_CONFIG;
	}
	if (opts.have_level)
		st.config->log_level = opts.level;
	if (opts.pidfile != NULL) {
		free(st.config->pidfile);
		st.config->pidfile = xstrdup(opts.pidfile);
	}
	if (opts.daemon != -1)
		st.config->daemonize = opts.daemon;
	if (opts.check_only) {
		if (!opts.quiet)
			config_print(st.config, stdout);
		fflush(stdout);
		fprintf(stderr, "echochatd: configuration OK (%s)\n",
		    config_source(&opts));
		config_free(st.config);
		return 0;
	}

	/* libevent writes without MSG_NOSIGNAL: a gone peer must not kill us. */
	signal(SIGPIPE, SIG_IGN);
	if (log_open(st.config->log, st.config->log_level, &cause) == -1) {
		fprintf(stderr, "echochatd: log %s: %s\n", st.config->log,
		    cause);
		config_free(st.config);
		return EXIT_OSERR;
	}
	if (st.config->daemonize && daemon_detach(&st.ready_fd) == -1) {
		log_error("cannot detach: %s", strerror(errno));
		return finish(&st, EXIT_OSERR);
	}
	if (st.config->pidfile != NULL)
		st.pidfile = xstrdup(st.config->pidfile);
	if (st.pidfile != NULL &&
	    (st.pid_fd = pidfile_open(st.pidfile, &status)) == -1)
		return finish(&st, status);
	if ((status = start_serving(&st, &opts)) != 0)
		return finish(&st, status);
	server_run(&st.server);
	return finish(&st, 0);
}
