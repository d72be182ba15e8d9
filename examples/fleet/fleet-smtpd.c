/*
 * fleet-smtpd - a STARTTLS SMTP server of a pool (an MX pool behind one
 * name, or one of several submission hosts) whose session ticket keys are
 * shared through Redis, so that a client resumes TLS at whichever member
 * its next connection reaches.
 *
 * usage: fleet-smtpd -R redis -k fleet.key [-a auth-file] [-x prefix]
 *        [-t timeout-ms] [-P] [-r refresh-seconds] [-c main.cf]
 *        [-o name=value]... [-n count] [addr:]port
 *
 *   -R  Redis: host:port, [addr]:port or unix:/path
 *   -k  the fleet key file (32 random bytes, mode 0600, owned by the MTA
 *       user): wraps every value stored in Redis
 *   -a  Redis credentials, "user password" (ACL) or "password" (mode 0600)
 *   -x  key prefix in Redis (default "mtatls:")
 *   -t  milliseconds for each Redis connect or command (default 250)
 *   -P  publisher: store this and the next period's keys ahead of time
 *       (safe on several or all members: SET NX)
 *   -r  seconds between key refreshes from Redis (default: a tenth of the
 *       period, between 1 and 60)
 *
 * The rotation period is smtpd_tls_session_cache_timeout: the key of epoch
 * E = floor(now / period) issues tickets during that period, and the key
 * before it still decrypts (tickets it made get a fresh one).
 *
 * The SMTP side is small: EHLO/HELO, STARTTLS, NOOP, RSET, QUIT (every
 * other command gets 502). Lines go to stderr, prefixed "fleet-smtpd: ",
 * with "fleet: stats: ..." on exit (SIGTERM/SIGINT, or after -n count).
 */
#define _POSIX_C_SOURCE 200809L

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "fleet.h"
#include "smtp_io.h"

#define PROG "fleet-smtpd"
#define COMMAND_TIMEOUT 300
#define STOP_TIMEOUT 30

static volatile sig_atomic_t stop_signal = 0;

static const char *const defaults[] = {
    "smtpd_tls_security_level=may",
    "smtpd_tls_loglevel=1",
    NULL,
};

struct opts {
    struct param_args params;
    struct fleet_config fleet;
    int publisher;
    int refresh;
    long count;
    char addr[LABEL_ADDR_MAX];
    char port[8];
};

static void usage(void)
{
    (void) fprintf(stderr,
                   "usage: %s -R redis -k fleet.key [-a auth-file] [-x prefix] [-t timeout-ms]\n"
                   "\t[-P] [-r refresh-seconds] [-c main.cf] [-o name=value]... [-n count]\n"
                   "\t[addr:]port\n",
                   PROG);
}

static int number(const char *s, long min, long max, long *out)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (errno != 0 || *end != 0 || end == s || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

/* "[addr:]port"; addr defaults to 127.0.0.1. */
static int split_listen(const char *arg, struct opts *o)
{
    const char *colon = strrchr(arg, ':');
    const char *addr = colon ? arg : "127.0.0.1", *port = colon ? colon + 1 : arg;
    size_t alen = colon ? (size_t) (colon - arg) : strlen(addr);
    long p;

    if (colon && arg[0] == '[' && alen >= 2 && arg[alen - 1] == ']') {
        addr++;
        alen -= 2;
    }
    if (alen == 0 || alen >= sizeof(o->addr) || number(port, 0, 65535, &p) < 0)
        return -1;
    memcpy(o->addr, addr, alen);
    o->addr[alen] = 0;
    snprintf(o->port, sizeof(o->port), "%ld", p);
    return 0;
}

static int parse_args(int argc, char **argv, struct opts *o)
{
    long v;
    int ch;

    memset(o, 0, sizeof(*o));
    o->fleet.prog = PROG;
    while ((ch = getopt(argc, argv, "a:c:k:n:o:Pr:R:t:x:")) != -1) {
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
        case 't':
            if (number(optarg, 1, 60000, &v) < 0) {
                msg_info(PROG, "bad -t \"%s\": milliseconds, 1..60000", optarg);
                return -1;
            }
            o->fleet.timeout_ms = (int) v;
            break;
        case 'P':
            o->publisher = 1;
            break;
        case 'r':
            if (number(optarg, 1, 86400, &v) < 0) {
                msg_info(PROG, "bad -r \"%s\": seconds, 1..86400", optarg);
                return -1;
            }
            o->refresh = (int) v;
            break;
        case 'n':
            if (number(optarg, 1, 1000000000L, &o->count) < 0) {
                msg_info(PROG, "bad -n \"%s\"", optarg);
                return -1;
            }
            break;
        default:
            usage();
            return -1;
        }
    }
    if (optind != argc - 1 || o->fleet.redis == NULL || o->fleet.key_file == NULL) {
        usage();
        return -1;
    }
    if (split_listen(argv[optind], o) < 0) {
        msg_info(PROG, "bad listen address \"%s\"", argv[optind]);
        return -1;
    }
    return 0;
}

static void on_stop(int sig)
{
    stop_signal = sig;
}

static int catch_signals(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_stop;
    sa.sa_flags = SA_RESETHAND;
    if (sigemptyset(&sa.sa_mask) < 0 || sigaction(SIGTERM, &sa, NULL) < 0
        || sigaction(SIGINT, &sa, NULL) < 0)
        return -1;
    return ignore_sigpipe();
}

/* The server context; a self-signed certificate when none is configured
 * (a real pool shares one chain, as the test does). */
static mtatls_ctx *build_context(mtatls_params *params)
{
    const char *tmp = getenv("TMPDIR");
    char dir[512], path[600];
    mtatls_ctx *ctx = NULL;
    int made = 0;

    if (!param_is_set(params, "smtpd_tls_chain_files") && !param_is_set(params, "smtpd_tls_cert_file")) {
        snprintf(dir, sizeof(dir), "%s/fleet-smtpd.XXXXXX", tmp && *tmp ? tmp : "/tmp");
        if (mkdtemp(dir) == NULL) {
            msg_info(PROG, "mkdtemp %s: %s", dir, strerror(errno));
            return NULL;
        }
        snprintf(path, sizeof(path), "%s/localhost.pem", dir);
        made = 1;
        if (mtatls_params_self_signed(params, "localhost", path) != MTATLS_RESULT_OK) {
            msg_info(PROG, "%s", mtatls_params_error(params));
            goto out;
        }
    }
    if (mtatls_ctx_new(params, "smtpd", &ctx) != MTATLS_RESULT_OK)
        msg_info(PROG, "%s", mtatls_params_error(params));
out:
    if (made) {
        (void) unlink(path);
        (void) rmdir(dir);
    }
    return ctx;
}

static int open_listener(const struct opts *o)
{
    struct addrinfo hints, *res = NULL;
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    char addr[LABEL_ADDR_MAX];
    unsigned port;
    int fd = -1, on = 1, flags;

    memset(&hints, 0, sizeof(hints));
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV;
    if (getaddrinfo(o->addr, o->port, &hints, &res) != 0) {
        msg_info(PROG, "bad listen address %s", o->addr);
        return -1;
    }
    if ((fd = socket(res->ai_family, res->ai_socktype, res->ai_protocol)) < 0
        || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) < 0
        || bind(fd, res->ai_addr, res->ai_addrlen) < 0 || listen(fd, 64) < 0
        || (flags = fcntl(fd, F_GETFL)) < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0
        || getsockname(fd, (struct sockaddr *) &ss, &len) < 0
        || sockaddr_text((struct sockaddr *) &ss, len, addr, sizeof(addr), &port) < 0) {
        msg_info(PROG, "cannot listen on %s port %s: %s", o->addr, o->port, strerror(errno));
        if (fd >= 0)
            (void) close(fd);
        fd = -1;
    } else {
        msg_info(PROG, strchr(addr, ':') ? "listening on [%s]:%u" : "listening on %s:%u", addr,
                 port);
    }
    freeaddrinfo(res);
    return fd;
}

/* ---- one client ---- */

struct client {
    struct smtp_conn conn;
    mtatls_ctx *ctx;
    mtatls_session *tls;
    char label[LABEL_MAX];
    int quit;
};

static int reply(struct client *c, const char *text)
{
    if (smtp_printf(&c->conn, "%s", text) < 0) {
        msg_info(PROG, "lost connection with %s: %s", c->label, smtp_conn_error(&c->conn));
        return -1;
    }
    return 0;
}

static int starttls(struct client *c)
{
    mtatls_result r;

    if (c->tls != NULL)
        return reply(c, "554 5.5.1 Error: TLS already active");
    if (mtatls_session_new(c->ctx, c->conn.fd, c->label, &c->tls) != MTATLS_RESULT_OK) {
        c->tls = NULL;
        return reply(c, "454 4.3.0 Try again later");
    }
    if (reply(c, "220 2.0.0 Ready to start TLS") < 0)
        return -1;
    (void) smtp_conn_start_tls(&c->conn, c->tls);
    while ((r = mtatls_session_handshake(c->tls, MTATLS_TIMEOUT_DEFAULT))
           == MTATLS_RESULT_INTERRUPTED && !stop_signal)
        continue;
    if (r != MTATLS_RESULT_OK) {
        msg_info(PROG, "lost connection after STARTTLS from %s", c->label);
        return -1;
    }
    return 0;
}

static int command(struct client *c, const char *line)
{
    size_t vlen = strcspn(line, " ");

    if ((vlen == 4 && strncasecmp(line, "EHLO", 4) == 0)) {
        if (smtp_printf(&c->conn, "250-%s", "fleet-smtpd") < 0
            || (c->tls == NULL && smtp_printf(&c->conn, "250-STARTTLS") < 0))
            return -1;
        return reply(c, "250 8BITMIME");
    }
    if (vlen == 4 && strncasecmp(line, "HELO", 4) == 0)
        return reply(c, "250 fleet-smtpd");
    if (vlen == 8 && strncasecmp(line, "STARTTLS", 8) == 0)
        return starttls(c);
    if ((vlen == 4 && strncasecmp(line, "NOOP", 4) == 0)
        || (vlen == 4 && strncasecmp(line, "RSET", 4) == 0))
        return reply(c, "250 2.0.0 Ok");
    if (vlen == 4 && strncasecmp(line, "QUIT", 4) == 0) {
        c->quit = 1;
        return reply(c, "221 2.0.0 Bye");
    }
    return reply(c, "502 5.5.2 Error: command not recognized");
}

static void serve_client(mtatls_ctx *ctx, int fd, const struct sockaddr *sa, socklen_t len)
{
    char name[LABEL_HOST_MAX], addr[LABEL_ADDR_MAX], line[SMTP_LINE_MAX];
    struct client c;
    int n, lines = 0;

    memset(&c, 0, sizeof(c));
    c.ctx = ctx;
    if (label_for_client(sa, len, name, sizeof(name), addr, sizeof(addr), c.label,
                         sizeof(c.label)) < 0)
        snprintf(c.label, sizeof(c.label), "unknown[unknown]");
    msg_info(PROG, "connect from %s", c.label);
    if (smtp_conn_init(&c.conn, fd, COMMAND_TIMEOUT) == 0) {
        c.conn.stop = &stop_signal;
        if (reply(&c, "220 fleet-smtpd ESMTP mtatls") == 0) {
            while (!c.quit && lines++ < 100 && (n = smtp_read_line(&c.conn, line, sizeof(line))) >= 0)
                if (command(&c, line) < 0)
                    break;
        }
    }
    if (c.tls != NULL && c.quit)
        (void) mtatls_session_stop(c.tls, STOP_TIMEOUT);
    mtatls_session_free(c.tls);
    msg_info(PROG, "disconnect from %s", c.label);
}

/* ---- main loop ---- */

static int serve(struct fleet *fleet, mtatls_ctx *ctx, int lfd, long count)
{
    sigset_t stops, orig;
    long done = 0;

    if (sigemptyset(&stops) < 0 || sigaddset(&stops, SIGTERM) < 0 || sigaddset(&stops, SIGINT) < 0
        || sigprocmask(SIG_BLOCK, &stops, &orig) < 0)
        return 1;
    while (!stop_signal && (count == 0 || done < count)) {
        long wait_ms = fleet_tick(fleet);
        struct timespec ts;
        struct sockaddr_storage ss;
        socklen_t len = sizeof(ss);
        fd_set readable;
        int fd, n;

        ts.tv_sec = wait_ms / 1000;
        ts.tv_nsec = (wait_ms % 1000) * 1000000L;
        FD_ZERO(&readable);
        FD_SET(lfd, &readable);
        n = pselect(lfd + 1, &readable, NULL, NULL, &ts, &orig);
        if (n < 0 && errno != EINTR) {
            msg_info(PROG, "select: %s", strerror(errno));
            break;
        }
        if (n <= 0)
            continue;
        if ((fd = accept(lfd, (struct sockaddr *) &ss, &len)) < 0)
            continue;
        (void) sigprocmask(SIG_SETMASK, &orig, NULL);
        serve_client(ctx, fd, (struct sockaddr *) &ss, len);
        (void) close(fd);
        (void) sigprocmask(SIG_BLOCK, &stops, NULL);
        done++;
    }
    if (stop_signal)
        msg_info(PROG, "terminating on signal %d", (int) stop_signal);
    (void) sigprocmask(SIG_SETMASK, &orig, NULL);
    return 0;
}

int main(int argc, char **argv)
{
    struct opts o;
    mtatls_params *params = NULL;
    mtatls_ctx *ctx = NULL;
    struct fleet *fleet = NULL;
    char timeout[64];
    uint64_t period = 0;
    int lfd = -1, status = 1;

    if (parse_args(argc, argv, &o) < 0)
        return 2;
    if ((params = param_args_build(&o.params, PROG, defaults)) == NULL) {
        param_args_free(&o.params);
        return 2;
    }
    if (catch_signals() < 0)
        goto out;
    if (mtatls_params_get(params, "smtpd_tls_session_cache_timeout", timeout, sizeof(timeout), NULL)
            != MTATLS_RESULT_OK
        || fleet_parse_time(timeout, &period) < 0) {
        msg_info(PROG, "bad smtpd_tls_session_cache_timeout \"%s\"", timeout);
        goto out;
    }
    if ((fleet = fleet_new(&o.fleet)) == NULL || (ctx = build_context(params)) == NULL)
        goto out;
    if (o.refresh == 0)
        o.refresh = period / 10 < 1 ? 1 : period / 10 > 60 ? 60 : (int) (period / 10);
    if (fleet_attach_tickets(fleet, ctx, period, o.publisher, o.refresh) < 0)
        goto out;
    if ((lfd = open_listener(&o)) < 0)
        goto out;
    status = serve(fleet, ctx, lfd, o.count);
out:
    if (lfd >= 0)
        (void) close(lfd);
    if (fleet != NULL)
        fleet_log_stats(fleet);
    mtatls_ctx_free(ctx);
    fleet_free(fleet);
    mtatls_params_free(params);
    param_args_free(&o.params);
    return status;
}
