/*
 * fleet-client - an outbound relay's STARTTLS client whose TLS session
 * cache is shared through Redis: a session saved by one relay process is
 * resumed by any other, at any server that accepts its ticket.
 *
 * usage: fleet-client -R redis -k fleet.key [-a auth-file] [-x prefix]
 *        [-t timeout-ms] [-i serverid] [-h helo] [-n count] [-c main.cf]
 *        [-o name=value]... host:port...
 *
 *   -R, -k, -a, -x, -t  as fleet-smtpd (Redis, fleet key, credentials,
 *                       prefix, per-call timeout)
 *   -i  the session cache's server id (default "[host]:port"); relays of a
 *       pool behind one MX name give that name, e.g. "[mx.example.net]:25"
 *   -n  connections to each destination (default 1)
 *
 * For each connection: greeting, EHLO, STARTTLS, handshake, EHLO through
 * TLS, QUIT. Prints "host:port: resumed" or "host:port: full handshake"
 * on stdout per connection; the library's lines and "fleet: stats: ..."
 * go to stderr. Exit status 0 when every connection established TLS.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fleet.h"
#include "smtp_io.h"

#define PROG "fleet-client"
#define CONNECT_TIMEOUT 30
#define COMMAND_TIMEOUT 30

static const char *const defaults[] = {
    "smtp_tls_security_level=may",
    "smtp_tls_loglevel=1",
    NULL,
};

struct opts {
    struct param_args params;
    struct fleet_config fleet;
    const char *serverid;
    const char *helo;
    long count;
    char **dests;
    int ndests;
};

static void usage(void)
{
    (void) fprintf(stderr,
                   "usage: %s -R redis -k fleet.key [-a auth-file] [-x prefix] [-t timeout-ms]\n"
                   "\t[-i serverid] [-h helo] [-n count] [-c main.cf] [-o name=value]...\n"
                   "\thost:port...\n",
                   PROG);
}

static int parse_args(int argc, char **argv, struct opts *o)
{
    char *end;
    long v;
    int ch;

    memset(o, 0, sizeof(*o));
    o->fleet.prog = PROG;
    o->count = 1;
    o->helo = "localhost";
    while ((ch = getopt(argc, argv, "a:c:h:i:k:n:o:R:t:x:")) != -1) {
        switch (ch) {
        case 'c':
        case 'o':
            if (param_args_add(&o->params, PROG, ch, optarg) < 0)
                return -1;
            break;
        case 'R':
            o->fleet.redis = optarg;
            break;
        case 'k':
            o->fleet.key_file = optarg;
            break;
        case 'a':
            o->fleet.auth_file = optarg;
            break;
        case 'x':
            o->fleet.prefix = optarg;
            break;
        case 'i':
            o->serverid = optarg;
            break;
        case 'h':
            o->helo = optarg;
            break;
        case 't':
        case 'n':
            errno = 0;
            v = strtol(optarg, &end, 10);
            if (errno != 0 || *end != 0 || end == optarg || v < 1 || v > 1000000) {
                msg_info(PROG, "bad -%c \"%s\"", ch, optarg);
                return -1;
            }
            if (ch == 't')
                o->fleet.timeout_ms = (int) v;
            else
                o->count = v;
            break;
        default:
            usage();
            return -1;
        }
    }
    if (optind >= argc || o->fleet.redis == NULL || o->fleet.key_file == NULL) {
        usage();
        return -1;
    }
    o->dests = argv + optind;
    o->ndests = argc - optind;
    return 0;
}

/* "host:port" or "[host]:port" into its parts. */
static int split_dest(const char *dest, char *host, size_t hsize, char *port, size_t psize)
{
    const char *colon = strrchr(dest, ':'), *h = dest;
    size_t hlen;

    if (colon == NULL || colon[1] == 0 || strlen(colon + 1) >= psize)
        return -1;
    hlen = (size_t) (colon - dest);
    if (hlen >= 2 && dest[0] == '[' && dest[hlen - 1] == ']') {
        h++;
        hlen -= 2;
    }
    if (hlen == 0 || hlen >= hsize)
        return -1;
    memcpy(host, h, hlen);
    host[hlen] = 0;
    snprintf(port, psize, "%s", colon + 1);
    return 0;
}

/* Connect within CONNECT_TIMEOUT; the socket, or -1 (logged). */
static int connect_to(const char *host, const char *port, char *label, size_t lsize)
{
    struct addrinfo hints, *res = NULL, *ai;
    int fd = -1;

    memset(&hints, 0, sizeof(hints));
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(host, port, &hints, &res) != 0) {
        msg_info(PROG, "%s:%s: host or service not found", host, port);
        return -1;
    }
    for (ai = res; ai != NULL && fd < 0; ai = ai->ai_next) {
        struct pollfd pfd;
        int flags, err = 0;
        socklen_t elen = sizeof(err);

        if (label_for_server(host, ai->ai_addr, ai->ai_addrlen, label, lsize) < 0
            || (fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol)) < 0)
            continue;
        if ((flags = fcntl(fd, F_GETFL)) < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
            goto next;
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
            break;
        if (errno != EINPROGRESS)
            goto next;
        pfd.fd = fd;
        pfd.events = POLLOUT;
        if (poll(&pfd, 1, CONNECT_TIMEOUT * 1000) == 1
            && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) == 0 && err == 0)
            break;
        errno = err ? err : ETIMEDOUT;
next:
        msg_info(PROG, "connect to %s: %s", label, strerror(errno));
        (void) close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    return fd;
}

static int expect(struct smtp_conn *conn, const char *line, int want, struct smtp_reply *reply,
                  const char *label)
{
    int r;

    if (line != NULL && smtp_printf(conn, "%s", line) < 0) {
        msg_info(PROG, "%s: %s", label, smtp_conn_error(conn));
        return -1;
    }
    if ((r = smtp_read_reply(conn, reply)) != want) {
        msg_info(PROG, "%s: %s: unexpected reply %d (%s)", label, line ? line : "greeting", r,
                 r < 0 ? smtp_conn_error(conn) : reply->text);
        return -1;
    }
    return 0;
}

/* One connection; 0 when TLS was established. *resumed tells how. */
static int one(mtatls_ctx *ctx, const struct opts *o, const char *dest, int *resumed)
{
    char host[LABEL_HOST_MAX], port[16], label[LABEL_MAX], serverid[LABEL_HOST_MAX + 32],
        ehlo[LABEL_HOST_MAX + 8];
    struct smtp_conn conn;
    struct smtp_reply reply;
    mtatls_session *tls = NULL;
    const mtatls_session_facts *facts;
    mtatls_result r;
    int fd, status = -1;

    if (split_dest(dest, host, sizeof(host), port, sizeof(port)) < 0) {
        msg_info(PROG, "bad destination \"%s\": want host:port", dest);
        return -1;
    }
    if ((fd = connect_to(host, port, label, sizeof(label))) < 0)
        return -1;
    snprintf(ehlo, sizeof(ehlo), "EHLO %s", o->helo);
    if (o->serverid != NULL)
        snprintf(serverid, sizeof(serverid), "%s", o->serverid);
    else
        snprintf(serverid, sizeof(serverid), "[%s]:%s", host, port);
    if (smtp_conn_init(&conn, fd, COMMAND_TIMEOUT) < 0
        || expect(&conn, NULL, 220, &reply, label) < 0 || expect(&conn, ehlo, 250, &reply, label) < 0
        || expect(&conn, "STARTTLS", 220, &reply, label) < 0)
        goto out;
    if (mtatls_session_new(ctx, fd, label, &tls) != MTATLS_RESULT_OK) {
        tls = NULL;
        goto out;
    }
    (void) smtp_conn_start_tls(&conn, tls);
    if (mtatls_session_set_peer_names(tls, host, host) != MTATLS_RESULT_OK
        || mtatls_session_set_serverid(tls, serverid) != MTATLS_RESULT_OK) {
        msg_info(PROG, "%s", mtatls_session_error(tls));
        goto out;
    }
    if ((r = mtatls_session_handshake(tls, MTATLS_TIMEOUT_DEFAULT)) != MTATLS_RESULT_OK
        || (facts = mtatls_session_get_facts(tls)) == NULL) {
        msg_info(PROG, "TLS handshake with %s failed: %s", label, mtatls_session_error(tls));
        goto out;
    }
    *resumed = facts->reused;
    status = 0;
    /* EHLO through TLS: the reply also brings TLS 1.3 tickets in. */
    if (expect(&conn, ehlo, 250, &reply, label) == 0 && expect(&conn, "QUIT", 221, &reply, label) == 0)
        (void) mtatls_session_stop(tls, COMMAND_TIMEOUT);
out:
    mtatls_session_free(tls);
    (void) close(fd);
    return status;
}

int main(int argc, char **argv)
{
    struct opts o;
    mtatls_params *params = NULL;
    mtatls_ctx *ctx = NULL;
    struct fleet *fleet = NULL;
    int status = 2, i;
    long k;

    if (parse_args(argc, argv, &o) < 0)
        return 2;
    if ((params = param_args_build(&o.params, PROG, defaults)) == NULL)
        goto out;
    status = 1;
    if (ignore_sigpipe() < 0 || (fleet = fleet_new(&o.fleet)) == NULL
        || fleet_attach_session_cache(fleet, params) < 0)
        goto out;
    if (mtatls_ctx_new(params, "smtp", &ctx) != MTATLS_RESULT_OK) {
        msg_info(PROG, "%s", mtatls_params_error(params));
        goto out;
    }
    status = 0;
    for (k = 0; k < o.count; k++) {
        for (i = 0; i < o.ndests; i++) {
            int resumed = 0;
            if (one(ctx, &o, o.dests[i], &resumed) < 0) {
                printf("%s: failed\n", o.dests[i]);
                status = 1;
            } else {
                printf("%s: %s\n", o.dests[i], resumed ? "resumed" : "full handshake");
            }
            (void) fflush(stdout);
        }
    }
out:
    /* The contexts first: the fleet serves their callbacks. */
    mtatls_ctx_free(ctx);
    mtatls_params_free(params);
    if (fleet != NULL)
        fleet_log_stats(fleet);
    fleet_free(fleet);
    param_args_free(&o.params);
    return status;
}
