/*
 * sock.h -- socket helpers that know nothing of the server (sock.c):
 * binding inet and Unix sockets, adopting passed ones, naming what a
 * socket is bound to, a compact peer address, and turning a client away.
 */
#ifndef ECHOCHAT_SOCK_H
#define ECHOCHAT_SOCK_H

#include <sys/types.h>
#include <sys/socket.h>
#include <stdint.h>

/* A peer remembered compactly: for limits and for logs. */
struct peer_addr {
	uint8_t		family;		/* AF_INET, AF_INET6, AF_UNIX */
	uint8_t		addr[16];	/* IPv4 in the first 4 bytes */
	uint16_t	port;
};

/*
 * Each returns a non-blocking, close-on-exec descriptor, or -1 with
 * *cause (caller frees) beginning with label, e.g. "tcp 127.0.0.1:7".
 */
int	 sock_bind_inet(const struct sockaddr_storage *, socklen_t, int type,
	    int dual_stack, const char *label, char **cause);
int	 sock_bind_unix(const char *path, char **cause);
int	 sock_adopt(int fd, const char *label, char **cause);
/* What fd is bound to ("127.0.0.1:5", port 0 resolved); caller frees. */
char	*sock_bound_name(int fd, uint16_t *port);

void	 peer_addr_set(struct peer_addr *, const struct sockaddr *);
const char *peer_addr_name(const struct peer_addr *);
int	 peer_addr_is_inet(const struct peer_addr *);

/* Best effort: one line, then close. */
void	 sock_refuse(int fd, const char *line, size_t len);

#endif
