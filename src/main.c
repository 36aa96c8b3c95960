/*
 * main.c -- echochatd's command line, start-up order and exit codes
 * (SPEC §2): parse options, load and check the configuration, open the
 * log, bind every listener, serve until told to stop.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "echochat.h"

struct options {
	const char	*config_file;
	int		 check_only;
	int		 have_level;
	enum log_level	 level;
};

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: echochatd [-c FILE] [-d | -f] [-p PIDFILE] [-t] [-L LEVEL] "
	    "[-V] [-h]\n"
	    "  -c, --config FILE      read settings from FILE "
	    "(default: built-in)\n"
	    "  -d, --daemon           detach into the background\n"
	    "  -f, --foreground       stay in the foreground\n"
	    "  -p, --pidfile FILE     write and lock a pid file\n"
	    "  -t, --check-config     check the configuration, print the "
	    "effective settings\n"
	    "  -L, --log-level LEVEL  error, warn, info or debug\n"
	    "  -V, --version          print the version\n"
	    "  -h, --help             print this help\n");
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
		{ "log-level", required_argument, NULL, 'L' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	int ch;

	memset(opts, 0, sizeof *opts);
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":c:dfp:tL:Vh", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 'c':
			opts->config_file = optarg;
			break;
		case 'd':
			usage_error("-d: daemon mode is not yet supported by "
			    "this version", NULL);
		case 'p':
			usage_error("-p: pid files are not yet supported by "
			    "this version", NULL);
		case 'f':
			break;	/* the foreground is the only mode so far */
		case 't':
			opts->check_only = 1;
			break;
		case 'L':
			if (parse_log_level(optarg, &opts->level) == -1)
				usage_error("bad log level (error, warn, info "
				    "or debug)", optarg);
			opts->have_level = 1;
			break;
		case 'V':
			printf("echochatd %s\n", PACKAGE_VERSION);
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
}

/* config_load's reporter at start-up: one line each on stderr. */
static void
report_to_stderr(const char *msg)
{
	fprintf(stderr, "echochatd: %s\n", msg);
}

int
main(int argc, char **argv)
{
	struct options opts;
	struct config *config;
	struct event_base *base;
	struct server server;
	unsigned int nerrors;
	const char *cause;
	char *failure;

	parse_options(argc, argv, &opts);
	log_init();
	config = config_load(opts.config_file, opts.config_file == NULL,
	    report_to_stderr, &nerrors);
	if (config == NULL) {
		fprintf(stderr, "echochatd: %u error%s in the configuration\n",
		    nerrors, nerrors == 1 ? "" : "s");
		return EXIT_CONFIG;
	}
	if (opts.have_level)
		config->log_level = opts.level;
	if (opts.check_only) {
		config_print(config, stdout);
		config_free(config);
		return 0;
	}

	/* libevent writes without MSG_NOSIGNAL: a gone peer must not kill us. */
	signal(SIGPIPE, SIG_IGN);
	if (log_open(config->log, config->log_level, &cause) == -1) {
		fprintf(stderr, "echochatd: log %s: %s\n", config->log, cause);
		config_free(config);
		return EXIT_OSERR;
	}
	if ((base = event_base_new()) == NULL) {
		log_error("cannot create the event loop");
		config_free(config);
		return EXIT_OSERR;
	}
	server_init(&server, config, base);
	log_info("echochatd %s starting", PACKAGE_VERSION);
	if (server_open_listeners(&server, &failure) == -1) {
		log_error("%s", failure);
		/* Whoever started us must see why, wherever the log goes. */
		if (strcmp(config->log, "stderr") != 0)
			fprintf(stderr, "echochatd: %s\n", failure);
		free(failure);
		server_free(&server);
		event_base_free(base);
		config_free(config);
		log_close();
		return EXIT_OSERR;
	}
	log_info("ready");
	server_run(&server);
	server_free(&server);
	event_base_free(base);
	log_info("stopped");
	config_free(config);
	log_close();
	libevent_global_shutdown();
	return 0;
}
