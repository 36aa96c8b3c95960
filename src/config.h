/*
 * config.h -- the configuration (config.c): the built-in defaults (the
 * embedded conf/echochatd.ini) overlaid by the file, validated whole.
 */
#ifndef ECHOCHAT_CONFIG_H
#define ECHOCHAT_CONFIG_H

#include <stdint.h>
#include <stdio.h>

#include "handlers.h"
#include "listener.h"
#include "log.h"

/* Exit codes (sysexits.h values), as echochatd(8) lists them. */
#define EXIT_USAGE	64
#define EXIT_OSERR	71
#define EXIT_TEMPFAIL	75
#define EXIT_CONFIG	78

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
	uint64_t		 tls_handshake_timeout_ms;
	char			*plugin_dir;	/* NULL: PLUGINDIR */
	char			*metrics_bind;	/* [metrics] bind; NULL: off */
	struct listener_conf	*metrics;	/* it, parsed as a listener */
	unsigned int		 metrics_line;	/* of bind, for messages */
	char			*cluster_redis;	/* [cluster]; NULL: off */
	char			*cluster_channel;
	char			*cluster_node;	/* NULL: host name and port */
	char			*cluster_password;	/* NULL: no AUTH */
	uint64_t		 cluster_node_timeout_ms;
	unsigned int		 cluster_lines[5];	/* where each was set */
	struct hsettings_list	 handler_settings;	/* [chat], ... */
	struct listener_conf_list listeners;
};

struct config	*config_new_defaults(void);
struct config	*config_load(const char *file, int builtin,
		    void (*report)(const char *), unsigned int *nerrors);
struct config	*config_load_stream(FILE *, const char *name,
		    void (*report)(const char *), unsigned int *nerrors);
void		 config_free(struct config *);
void		 config_set_base_dir(const char *);
void		 config_print(const struct config *, FILE *);
int		 addresses_clash(const struct listener_conf *,
		    const struct listener_conf *);

/* defaults.c (generated from conf/echochatd.ini) */
extern const char default_config_text[];

#endif
