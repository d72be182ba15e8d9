/*
 * smtp_io.c - see smtp_io.h.
 */
#define _POSIX_C_SOURCE 200809L

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "smtp_io.h"

/* Longest parameter name accepted in -o name=value. */
#define PARAM_NAME_MAX 256

/* A too-long line is drained at most this many chunks before giving up. */
#define DRAIN_CHUNKS_MAX 64

/* Most lines in one server reply. */
#define REPLY_LINES_MAX 100

/* ---- Parameters and logging ---- */

int param_args_add(struct param_args *args, const char *prog, int opt, const char *arg)
{
    const char *eq = strchr(arg, '=');

    if (opt == 'c') {
        if (args->nfiles >= PARAM_ARGS_MAX) {
            msg_info(prog, "too many -c options");
            return -1;
        }
        args->files[args->nfiles++] = arg;
        return 0;
    }
    if (eq == NULL || eq == arg) {
        msg_info(prog, "bad -o argument \"%s\": expected name=value", arg);
        return -1;
    }
    if (args->noverrides >= PARAM_ARGS_MAX) {
        msg_info(prog, "too many -o options");
        return -1;
    }
    args->overrides[args->noverrides++] = arg;
    return 0;
}

int param_args_set(struct param_args *args, const char *prog, const char *name,
                   const char *value)
{
    size_t len = strlen(name) + strlen(value) + 2;
    char *pair;

    if (args->noverrides >= PARAM_ARGS_MAX || args->nowned >= PARAM_ARGS_MAX) {
        msg_info(prog, "too many parameter settings");
        return -1;
    }
    if ((pair = malloc(len)) == NULL) {
        msg_info(prog, "out of memory");
        return -1;
    }
    snprintf(pair, len, "%s=%s", name, value);
    args->owned[args->nowned++] = pair;
    args->overrides[args->noverrides++] = pair;
    return 0;
}

void param_args_free(struct param_args *args)
{
    while (args->nowned > 0)
        free(args->owned[--args->nowned]);
}

/* Set one "name=value" pair. Returns 0 or -1 (message printed). */
static int set_pair(mtatls_params *params, const char *prog, const char *pair)
{
    char name[PARAM_NAME_MAX];
    const char *eq = strchr(pair, '=');
    size_t len = eq ? (size_t) (eq - pair) : 0;

    if (eq == NULL || len == 0 || len >= sizeof(name)) {
        msg_info(prog, "bad parameter setting \"%s\"", pair);
        return -1;
    }
    memcpy(name, pair, len);
    name[len] = 0;
    if (mtatls_params_set(params, name, eq + 1) != MTATLS_RESULT_OK) {
        msg_info(prog, "%s", mtatls_params_error(params));
        return -1;
    }
    return 0;
}

mtatls_params *param_args_build(const struct param_args *args, const char *prog,
                                const char *const *defaults)
{
    mtatls_params *params = NULL;
    size_t i;

    if (mtatls_params_new(&params) != MTATLS_RESULT_OK) {
        msg_info(prog, "cannot allocate parameters");
        return NULL;
    }
    /* The callback only reads the program name. */
    if (mtatls_params_set_log_callback(params, log_to_stderr, (void *) prog) != MTATLS_RESULT_OK) {
        msg_info(prog, "%s", mtatls_params_error(params));
        goto fail;
    }
    for (i = 0; defaults[i] != NULL; i++)
        if (set_pair(params, prog, defaults[i]) < 0)
            goto fail;
    for (i = 0; i < args->nfiles; i++) {
        if (mtatls_params_load_file(params, args->files[i]) != MTATLS_RESULT_OK) {
            msg_info(prog, "%s", mtatls_params_error(params));
            goto fail;
        }
    }
    for (i = 0; i < args->noverrides; i++)
        if (set_pair(params, prog, args->overrides[i]) < 0)
            goto fail;
    return params;
fail:
    mtatls_params_free(params);
    return NULL;
}

int param_is_set(mtatls_params *params, const char *name)
{
    size_t needed = 0;

    return mtatls_params_get(params, name, NULL, 0, &needed) == MTATLS_RESULT_OK && needed > 0;
}

void log_to_stderr(void *userdata, int level, const char *line)
{
    const char *prog = userdata;

    /* Nothing sensible to do if stderr fails. */
    (void) fprintf(stderr, "%s: %s%s\n", prog, level == MTATLS_LOG_WARNING ? "warning: " : "", line);
}

void msg_info(const char *prog, const char *fmt, ...)
{
    char text[SMTP_LINE_MAX * 2];
    va_list ap;

    va_start(ap, fmt);
    if (vsnprintf(text, sizeof(text), fmt, ap) < 0)
        text[0] = 0;
    va_end(ap);
    (void) fprintf(stderr, "%s: %s\n", prog, text);
}

int ignore_sigpipe(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = SIG_IGN;
    if (sigemptyset(&sa.sa_mask) < 0)
        return -1;
    return sigaction(SIGPIPE, &sa, NULL);
}

/* ---- Deadlines ---- */

static struct timespec deadline_after(int seconds)
{
    struct timespec t;

    if (clock_gettime(CLOCK_MONOTONIC, &t) < 0) {
        t.tv_sec = 0;
        t.tv_nsec = 0;
    }
    t.tv_sec += seconds;
    return t;
}

/* Milliseconds until `deadline` (0 if past; capped at a day). */
static int ms_left(const struct timespec *deadline)
{
    struct timespec now;
    long long ms;

    if (clock_gettime(CLOCK_MONOTONIC, &now) < 0)
        return 0;
    ms = (long long) (deadline->tv_sec - now.tv_sec) * 1000
        + (deadline->tv_nsec - now.tv_nsec) / 1000000;
    if (ms <= 0)
        return 0;
    return ms > 86400000 ? 86400000 : (int) ms;
}

/* ---- Connection ---- */

static int set_error(struct smtp_conn *conn, int status, const char *text)
{
    snprintf(conn->error, sizeof(conn->error), "%s", text);
    return status;
}

static int interrupted(struct smtp_conn *conn)
{
    return conn->stop != NULL && *conn->stop;
}

int smtp_conn_init(struct smtp_conn *conn, int fd, int timeout_seconds)
{
    int flags = fcntl(fd, F_GETFL);

    memset(conn, 0, sizeof(*conn));
    conn->fd = fd;
    conn->timeout = timeout_seconds;
    /* Non-blocking, so that every wait is a poll() with a timeout. */
    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
        return set_error(conn, SMTP_IO_ERROR, strerror(errno));
    return 0;
}

size_t smtp_conn_start_tls(struct smtp_conn *conn, mtatls_session *tls)
{
    size_t dropped = conn->end - conn->start;

    conn->start = conn->end = 0;
    conn->tls = tls;
    return dropped;
}

const char *smtp_conn_error(const struct smtp_conn *conn)
{
    return conn->error;
}

/* Wait until the plain socket is ready for `events`. */
static int wait_fd(struct smtp_conn *conn, short events, const struct timespec *deadline)
{
    for (;;) {
        struct pollfd pfd;
        int ms = ms_left(deadline), n;

        if (ms == 0)
            return set_error(conn, SMTP_IO_TIMEOUT, "timeout");
        pfd.fd = conn->fd;
        pfd.events = events;
        pfd.revents = 0;
        n = poll(&pfd, 1, ms);
        if (n > 0)
            return 0;
        if (n < 0 && errno != EINTR)
            return set_error(conn, SMTP_IO_ERROR, strerror(errno));
        if (interrupted(conn))
            return set_error(conn, SMTP_IO_ERROR, "interrupted by a signal");
    }
}

static int fill_plain(struct smtp_conn *conn, const struct timespec *deadline)
{
    for (;;) {
        ssize_t n = read(conn->fd, conn->buf, sizeof(conn->buf));
        int r;

        if (n > 0) {
            conn->end = (size_t) n;
            return 0;
        }
        if (n == 0)
            return set_error(conn, SMTP_IO_EOF, "lost connection");
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            return set_error(conn, SMTP_IO_ERROR, strerror(errno));
        if (interrupted(conn))
            return set_error(conn, SMTP_IO_ERROR, "interrupted by a signal");
        if ((r = wait_fd(conn, POLLIN, deadline)) < 0)
            return r;
    }
}

/* Map a failed session call to a status, keeping the library's text. */
static int tls_failure(struct smtp_conn *conn, mtatls_result result)
{
    snprintf(conn->error, sizeof(conn->error), "%s", mtatls_session_error(conn->tls));
    if (conn->error[0] == 0)
        snprintf(conn->error, sizeof(conn->error), "%s", mtatls_result_name(result));
    if (result == MTATLS_RESULT_TIMEOUT)
        return SMTP_IO_TIMEOUT;
    return result == MTATLS_RESULT_PEER_CLOSED ? SMTP_IO_EOF : SMTP_IO_ERROR;
}

/* After a non-blocking session call: wait for what it wants, else fail.
 * Waiting here (not in the library) keeps the deadline ours and lets a
 * signal interrupt the wait. An interrupted call is repeated (0) unless
 * the stop flag is set. */
static int tls_wait(struct smtp_conn *conn, mtatls_result result, const struct timespec *deadline)
{
    if (result == MTATLS_RESULT_WANT_READ)
        return wait_fd(conn, POLLIN, deadline);
    if (result == MTATLS_RESULT_WANT_WRITE)
        return wait_fd(conn, POLLOUT, deadline);
    if (result == MTATLS_RESULT_INTERRUPTED) {
        if (interrupted(conn))
            return set_error(conn, SMTP_IO_ERROR, "interrupted by a signal");
        return ms_left(deadline) > 0 ? 0 : set_error(conn, SMTP_IO_TIMEOUT, "timeout");
    }
    return tls_failure(conn, result);
}

static int fill_tls(struct smtp_conn *conn, const struct timespec *deadline)
{
    for (;;) {
        size_t n = 0;
        mtatls_result r;
        int w;

        if (interrupted(conn))
            return set_error(conn, SMTP_IO_ERROR, "interrupted by a signal");
        r = mtatls_session_read(conn->tls, (uint8_t *) conn->buf, sizeof(conn->buf),
                                MTATLS_TIMEOUT_NONBLOCK, &n);
        if (r == MTATLS_RESULT_OK && n == 0)
            return set_error(conn, SMTP_IO_EOF, "lost connection");
        if (r == MTATLS_RESULT_OK) {
            conn->end = n;
            return 0;
        }
        if ((w = tls_wait(conn, r, deadline)) < 0)
            return w;
    }
}

/* Refill the (empty) input buffer. */
static int fill(struct smtp_conn *conn, const struct timespec *deadline)
{
    conn->start = conn->end = 0;
    return conn->tls ? fill_tls(conn, deadline) : fill_plain(conn, deadline);
}

int smtp_read_chunk(struct smtp_conn *conn, char *buf, size_t size, int *complete)
{
    struct timespec deadline = deadline_after(conn->timeout);
    size_t n = 0;
    int r;

    *complete = 0;
    if (size < 2)
        return set_error(conn, SMTP_IO_ERROR, "line buffer too small");
    for (;;) {
        if (conn->start == conn->end && (r = fill(conn, &deadline)) < 0)
            return r;
        while (conn->start < conn->end) {
            char ch = conn->buf[conn->start];

            if (ch == '\n') {
                conn->start++;
                *complete = 1;
                if (n > 0 && buf[n - 1] == '\r')
                    n--;
                buf[n] = 0;
                return (int) n;
            }
            if (n + 1 >= size) {
                buf[n] = 0;
                return (int) n;
            }
            buf[n++] = ch;
            conn->start++;
        }
    }
}

int smtp_read_line(struct smtp_conn *conn, char *buf, size_t size)
{
    char junk[SMTP_LINE_MAX];
    int complete = 0, chunks, n = smtp_read_chunk(conn, buf, size, &complete);

    if (n < 0 || complete)
        return n;
    for (chunks = 0; chunks < DRAIN_CHUNKS_MAX; chunks++) {
        int r = smtp_read_chunk(conn, junk, sizeof(junk), &complete);
        if (r < 0)
            return r;
        if (complete)
            return set_error(conn, SMTP_IO_TOO_LONG, "line too long");
    }
    return set_error(conn, SMTP_IO_ERROR, "line too long (gave up reading it)");
}

/* Whether `line` is a reply line: 3 digits, then end, ' ' or '-'. */
static int reply_line_ok(const char *line, int len)
{
    return len >= 3 && isdigit((unsigned char) line[0]) && isdigit((unsigned char) line[1])
        && isdigit((unsigned char) line[2]) && (len == 3 || line[3] == ' ' || line[3] == '-');
}

static void reply_append(struct smtp_reply *reply, const char *line)
{
    size_t used = strlen(reply->text);

    snprintf(reply->text + used, sizeof(reply->text) - used, "%s%s", used ? "\n" : "", line);
}

int smtp_read_reply(struct smtp_conn *conn, struct smtp_reply *reply)
{
    char line[SMTP_LINE_MAX];
    int lines;

    reply->code = 0;
    reply->text[0] = 0;
    for (lines = 0; lines < REPLY_LINES_MAX; lines++) {
        int n = smtp_read_line(conn, line, sizeof(line));

        if (n == SMTP_IO_TOO_LONG)
            return set_error(conn, SMTP_IO_ERROR, "reply line too long");
        if (n < 0)
            return n;
        if (!reply_line_ok(line, n)) {
            snprintf(conn->error, sizeof(conn->error), "malformed reply: %.200s", line);
            return SMTP_IO_ERROR;
        }
        reply_append(reply, line);
        if (n == 3 || line[3] == ' ') {
            reply->code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
            return reply->code;
        }
    }
    return set_error(conn, SMTP_IO_ERROR, "too many reply lines");
}

int smtp_reply_has(const struct smtp_reply *reply, const char *keyword)
{
    size_t klen = strlen(keyword);
    const char *line = reply->text;

    while (*line) {
        const char *eol = strchr(line, '\n');
        size_t len = eol ? (size_t) (eol - line) : strlen(line);

        /* "250-KEYWORD args" or "250 KEYWORD" */
        if (len >= 4 + klen && strncasecmp(line + 4, keyword, klen) == 0
            && (len == 4 + klen || line[4 + klen] == ' '))
            return 1;
        line += len;
        if (*line == '\n')
            line++;
    }
    return 0;
}

static int write_plain(struct smtp_conn *conn, const char *data, size_t len)
{
    struct timespec deadline = deadline_after(conn->timeout);
    size_t done = 0;

    while (done < len) {
        ssize_t n = write(conn->fd, data + done, len - done);
        int r;

        if (n > 0) {
            done += (size_t) n;
            continue;
        }
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            return set_error(conn, errno == EPIPE ? SMTP_IO_EOF : SMTP_IO_ERROR, strerror(errno));
        if ((r = wait_fd(conn, POLLOUT, &deadline)) < 0)
            return r;
    }
    return 0;
}

static int write_tls(struct smtp_conn *conn, const char *data, size_t len)
{
    struct timespec deadline = deadline_after(conn->timeout);

    for (;;) {
        size_t written = 0;
        /* A "want" result means: call again with the same arguments. */
        mtatls_result r = mtatls_session_write(conn->tls, (const uint8_t *) data, len,
                                               MTATLS_TIMEOUT_NONBLOCK, &written);
        int w;

        if (r == MTATLS_RESULT_OK)
            return 0;
        if ((w = tls_wait(conn, r, &deadline)) < 0)
            return w;
    }
}

int smtp_write(struct smtp_conn *conn, const char *data, size_t len)
{
    return conn->tls ? write_tls(conn, data, len) : write_plain(conn, data, len);
}

int smtp_vprintf(struct smtp_conn *conn, const char *fmt, va_list ap)
{
    char line[SMTP_LINE_MAX];
    int n = vsnprintf(line, sizeof(line) - 2, fmt, ap);

    if (n < 0 || (size_t) n >= sizeof(line) - 2)
        return set_error(conn, SMTP_IO_ERROR, "line to send is too long");
    memcpy(line + n, "\r\n", 2);
    return smtp_write(conn, line, (size_t) n + 2);
}

int smtp_printf(struct smtp_conn *conn, const char *fmt, ...)
{
    va_list ap;
    int r;

    va_start(ap, fmt);
    r = smtp_vprintf(conn, fmt, ap);
    va_end(ap);
    return r;
}

/* ---- Labels ---- */

int sockaddr_text(const struct sockaddr *sa, socklen_t len, char *addr, size_t addr_size,
                  unsigned *port)
{
    const void *bytes;

    if (sa->sa_family == AF_INET && len >= (socklen_t) sizeof(struct sockaddr_in)) {
        const struct sockaddr_in *in = (const struct sockaddr_in *) (const void *) sa;
        bytes = &in->sin_addr;
        *port = ntohs(in->sin_port);
        return inet_ntop(AF_INET, bytes, addr, (socklen_t) addr_size) ? 0 : -1;
    }
    if (sa->sa_family == AF_INET6 && len >= (socklen_t) sizeof(struct sockaddr_in6)) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *) (const void *) sa;
        *port = ntohs(in6->sin6_port);
        /* ::ffff:a.b.c.d is an IPv4 client on a dual-stack socket. */
        if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr))
            return inet_ntop(AF_INET, in6->sin6_addr.s6_addr + 12, addr, (socklen_t) addr_size) ? 0 : -1;
        return inet_ntop(AF_INET6, &in6->sin6_addr, addr, (socklen_t) addr_size) ? 0 : -1;
    }
    return -1;
}

/* Whether `host` is an IPv4 or IPv6 address literal. */
static int is_ip_literal(const char *host)
{
    unsigned char bytes[sizeof(struct in6_addr)];

    return inet_pton(AF_INET, host, bytes) == 1 || inet_pton(AF_INET6, host, bytes) == 1;
}

int label_for_server(const char *host, const struct sockaddr *sa, socklen_t len, char *label,
                     size_t size)
{
    char addr[LABEL_ADDR_MAX];
    unsigned port = 0;
    int n;

    if (sockaddr_text(sa, len, addr, sizeof(addr), &port) < 0)
        return -1;
    /* Postfix shows a literal destination as itself: 127.0.0.1[127.0.0.1]:25 */
    n = snprintf(label, size, "%s[%s]:%u", is_ip_literal(host) ? addr : host, addr, port);
    return n < 0 || (size_t) n >= size ? -1 : 0;
}

/* Whether `name` resolves back to address text `addr`. */
static int name_has_addr(const char *name, const char *addr)
{
    struct addrinfo hints, *res = NULL, *ai;
    int found = 0;

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(name, NULL, &hints, &res) != 0)
        return 0;
    for (ai = res; ai != NULL && !found; ai = ai->ai_next) {
        char text[LABEL_ADDR_MAX];
        unsigned port;
        found = sockaddr_text(ai->ai_addr, ai->ai_addrlen, text, sizeof(text), &port) == 0
            && strcmp(text, addr) == 0;
    }
    freeaddrinfo(res);
    return found;
}

int label_for_client(const struct sockaddr *sa, socklen_t len, char *name, size_t name_size,
                     char *addr, size_t addr_size, char *label, size_t label_size)
{
    unsigned port = 0;
    int n;

    if (sockaddr_text(sa, len, addr, addr_size, &port) < 0)
        return -1;
    /* Forward-confirmed reverse lookup, as Postfix does; else "unknown". */
    if (getnameinfo(sa, len, name, (socklen_t) name_size, NULL, 0, NI_NAMEREQD) != 0
        || !name_has_addr(name, addr))
        snprintf(name, name_size, "unknown");
    n = snprintf(label, label_size, "%s[%s]", name, addr);
    return n < 0 || (size_t) n >= label_size ? -1 : 0;
}
