/*
 * failclosed.c - the C API under hostile and careless use: one check per
 * way a host could once turn a failure into success, crash the process or
 * damage the system through the library.
 *
 *  1. a finished handshake's outcome is sticky (NOT_VERIFIED stays so);
 *  2. logging never changes an outcome (stderr on /dev/full, or a pipe
 *     with no reader and SIGPIPE at its default);
 *  3. time values too large for Postfix are refused when set, and the
 *     largest ones work;
 *  4. mtatls_params_self_signed never follows or removes a symlink and
 *     never opens a FIFO;
 *  5. $name expansion is capped while it is built (memory stays small);
 *  6. a peer that vanished makes writes fail, never raises SIGPIPE;
 *  7. re-entering an object from its own callback is refused; two
 *     sessions on one socket are refused; a write after the peer's close
 *     is PEER_CLOSED; a poisoned session reports nothing.
 *
 * SIGPIPE is left at its default disposition throughout.
 * usage: failclosed KEYDIR [ITEM...]   (items: 1 2 3 4 5 6 7a 7b 7c 7d)
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

#define R(x) ((long) (x))
#define TIMEOUT 10

static const char *keydir;

static void quiet(void *userdata, int level, const char *line)
{
    (void) userdata;
    (void) level;
    (void) line;
}

/* Parameters from "name=value" strings ("DIR" = the key directory);
 * with_log: lines to the quiet callback, else the default (stderr). */
static mtatls_params *params_of(const char *const *settings, int with_log)
{
    mtatls_params *p = NULL;
    char value[2048];

    if (mtatls_params_new(&p) != MTATLS_RESULT_OK)
        return NULL;
    if (with_log)
        mtatls_params_set_log_callback(p, quiet, NULL);
    for (; *settings; settings++) {
        const char *eq = strchr(*settings, '=');
        char name[128];
        const char *dir = strstr(eq + 1, "DIR");

        snprintf(name, sizeof(name), "%.*s", (int) (eq - *settings), *settings);
        if (dir)
            snprintf(value, sizeof(value), "%.*s%s%s", (int) (dir - (eq + 1)), eq + 1, keydir, dir + 3);
        else
            snprintf(value, sizeof(value), "%s", eq + 1);
        if (mtatls_params_set(p, name, value) != MTATLS_RESULT_OK)
            printf("# params_set %s: %s\n", name, mtatls_params_error(p));
    }
    return p;
}

static mtatls_ctx *ctx_of(const char *role, const char *const *settings, int with_log)
{
    mtatls_params *p = params_of(settings, with_log);
    mtatls_ctx *ctx = NULL;

    if (p && mtatls_ctx_new(p, role, &ctx) != MTATLS_RESULT_OK)
        printf("# ctx_new %s: %s\n", role, mtatls_params_error(p));
    mtatls_params_free(p);
    return ctx;
}

static const char *const server_settings[] = {
    "smtpd_tls_chain_files=DIR/rsa.pem", "smtpd_tls_security_level=may", "smtpd_tls_loglevel=1", NULL,
};

/* ---- the server side of a pair, on its own thread ---- */
struct server {
    mtatls_ctx *ctx;
    int fd;
    mtatls_result hs;
    /* 0: read until the client closes; 1: stop and close the socket at
     * once (the peer vanishes); 2: stop, then half-close (FIN). */
    int mode;
};

static void *server_main(void *arg)
{
    struct server *sv = arg;
    mtatls_session *s = NULL;
    unsigned char buf[4096];
    size_t n = 0;
    int i;

    if (mtatls_session_new(sv->ctx, sv->fd, "localhost[127.0.0.1]", &s) != MTATLS_RESULT_OK) {
        sv->hs = MTATLS_RESULT_BAD_STATE;
        close(sv->fd);
        return NULL;
    }
    sv->hs = mtatls_session_handshake(s, TIMEOUT);
    if (sv->hs == MTATLS_RESULT_OK && sv->mode == 0) {
        for (i = 0; i < 1000; i++)
            if (mtatls_session_read(s, buf, sizeof(buf), TIMEOUT, &n) != MTATLS_RESULT_OK || n == 0)
                break;
    }
    if (sv->hs == MTATLS_RESULT_OK)
        mtatls_session_stop(s, TIMEOUT);
    mtatls_session_free(s);
    if (sv->mode == 2)
        shutdown(sv->fd, SHUT_WR);
    else
        close(sv->fd);
    return NULL;
}

/* A connected pair: server thread started; the client's fd returned. */
static int start_pair(struct server *sv, pthread_t *t, int mode)
{
    int pair[2];

    if (socketpair(AF_UNIX, SOCK_STREAM, 0, pair) < 0)
        return -1;
    sv->fd = pair[0];
    sv->mode = mode;
    sv->hs = MTATLS_RESULT_BAD_STATE;
    if (pthread_create(t, NULL, server_main, sv) != 0)
        return -1;
    return pair[1];
}

/* 1. Sticky outcome: a client at level secure with the wrong name. */
static void sticky_outcome(void)
{
    static const char *const client_settings[] = {
        "smtp_tls_CAfile=DIR/rsa.crt", "smtp_tls_loglevel=1", NULL,
    };
    struct server sv;
    pthread_t t;
    mtatls_ctx *cctx = ctx_of("smtp", client_settings, 1);
    mtatls_session *s = NULL;
    char first[1024];
    unsigned char data[] = "QUIT\r\n";
    size_t n = 0;
    int fd;

    sv.ctx = ctx_of("smtpd", server_settings, 1);
    fd = start_pair(&sv, &t, 0);
    expect_int("1: session_new", R(mtatls_session_new(cctx, fd, "wrong.example[127.0.0.1]:25", &s)),
               MTATLS_RESULT_OK);
    mtatls_session_set_level(s, "secure");
    mtatls_session_set_peer_names(s, "wrong.example", "wrong.example");
    expect_int("1: first handshake", R(mtatls_session_handshake(s, TIMEOUT)), MTATLS_RESULT_NOT_VERIFIED);
    snprintf(first, sizeof(first), "%s", mtatls_session_error(s));
    expect_contains("1: first handshake text", first, "not verified");
    expect_int("1: second handshake", R(mtatls_session_handshake(s, TIMEOUT)), MTATLS_RESULT_NOT_VERIFIED);
    expect_str("1: second handshake keeps the text", mtatls_session_error(s), first);
    expect_int("1: non-blocking handshake", R(mtatls_session_handshake(s, MTATLS_TIMEOUT_NONBLOCK)),
               MTATLS_RESULT_NOT_VERIFIED);
    expect_str("1: non-blocking keeps the text", mtatls_session_error(s), first);
    /* The session may still carry QUIT; that does not change the outcome. */
    expect_int("1: QUIT through TLS", R(mtatls_session_write(s, data, 6, TIMEOUT, &n)), MTATLS_RESULT_OK);
    expect_int("1: handshake after I/O", R(mtatls_session_handshake(s, TIMEOUT)), MTATLS_RESULT_NOT_VERIFIED);
    mtatls_session_stop(s, TIMEOUT);
    expect_int("1: handshake after stop", R(mtatls_session_handshake(s, TIMEOUT)), MTATLS_RESULT_NOT_VERIFIED);
    mtatls_session_free(s);
    close(fd);
    pthread_join(t, NULL);
    expect_int("1: server side", R(sv.hs), MTATLS_RESULT_OK);
    mtatls_ctx_free(sv.ctx);
    mtatls_ctx_free(cctx);
}

/* One handshake pair with the default logger (no callback): both results. */
static void handshake_with_default_logger(const char *what)
{
    static const char *const client_settings[] = {"smtp_tls_security_level=may", "smtp_tls_loglevel=2", NULL};
    static const char *const server_loud[] = {
        "smtpd_tls_chain_files=DIR/rsa.pem", "smtpd_tls_security_level=may", "smtpd_tls_loglevel=2", NULL,
    };
    struct server sv;
    pthread_t t;
    mtatls_ctx *cctx = ctx_of("smtp", client_settings, 0);
    mtatls_session *s = NULL;
    char label[128];
    int fd;

    sv.ctx = ctx_of("smtpd", server_loud, 0);
    fd = start_pair(&sv, &t, 0);
    mtatls_session_new(cctx, fd, "localhost[127.0.0.1]:25", &s);
    snprintf(label, sizeof(label), "2: %s: client handshake", what);
    expect_int(label, R(mtatls_session_handshake(s, TIMEOUT)), MTATLS_RESULT_OK);
    mtatls_session_stop(s, TIMEOUT);
    mtatls_session_free(s);
    close(fd);
    pthread_join(t, NULL);
    snprintf(label, sizeof(label), "2: %s: server handshake", what);
    expect_int(label, R(sv.hs), MTATLS_RESULT_OK);
    mtatls_ctx_free(sv.ctx);
    mtatls_ctx_free(cctx);
}

/* 2. Logging never changes an outcome. */
static void logging_cannot_fail(void)
{
    int saved = dup(2);
    int full = open("/dev/full", O_WRONLY);
    int pipefd[2];

    fflush(stderr);
    if (full >= 0) {
        dup2(full, 2);
        close(full);
        handshake_with_default_logger("stderr on /dev/full");
        dup2(saved, 2);
    } else {
        printf("# /dev/full missing: that case is not run\n");
    }
    /* A pipe nobody reads: every log write is EPIPE (and would raise
     * SIGPIPE, at its default disposition here). */
    if (pipe(pipefd) == 0) {
        close(pipefd[0]);
        dup2(pipefd[1], 2);
        close(pipefd[1]);
        handshake_with_default_logger("stderr on a pipe with no reader");
        dup2(saved, 2);
    }
    close(saved);
}

/* 3. Time values: too large is refused, naming the parameter and limit. */
static void time_values(void)
{
    static const char *const client_settings[] = {
        "smtp_tls_security_level=may", "smtp_starttls_timeout=2147483647s", "smtp_data_xfer_timeout=3550w", NULL,
    };
    mtatls_params *p = NULL;
    struct server sv;
    pthread_t t;
    mtatls_ctx *cctx;
    mtatls_session *s = NULL;
    unsigned char data[] = "QUIT\r\n";
    size_t n = 0;
    int fd;

    mtatls_params_new(&p);
    expect_int("3: set 2^64-1 s", R(mtatls_params_set(p, "smtp_starttls_timeout", "18446744073709551615s")),
               MTATLS_RESULT_INVALID_VALUE);
    expect_contains("3: text names the parameter", mtatls_params_error(p), "smtp_starttls_timeout");
    expect_contains("3: text names the limit", mtatls_params_error(p), "2147483647");
    expect_int("3: 3551w", R(mtatls_params_set(p, "smtpd_timeout", "3551w")), MTATLS_RESULT_INVALID_VALUE);
    expect_int("3: main.cf too", R(mtatls_params_load_string(p, "smtp_data_xfer_timeout = 99999999999d\n", "t")),
               MTATLS_RESULT_INVALID_VALUE);
    expect_int("3: via $name", R(mtatls_params_load_string(p, "big = 9999999999\nsmtpd_timeout = ${big}s\n", "t")),
               MTATLS_RESULT_OK);
    expect_int("3: via $name refused at build", R(mtatls_ctx_new(p, "smtpd", &cctx)), MTATLS_RESULT_INVALID_VALUE);
    mtatls_params_free(p);
    /* The largest values work: deadlines saturate, nothing overflows. */
    cctx = ctx_of("smtp", client_settings, 1);
    sv.ctx = ctx_of("smtpd", server_settings, 1);
    fd = start_pair(&sv, &t, 0);
    mtatls_session_new(cctx, fd, "localhost[127.0.0.1]:25", &s);
    expect_int("3: handshake, 68-year timeout", R(mtatls_session_handshake(s, MTATLS_TIMEOUT_DEFAULT)),
               MTATLS_RESULT_OK);
    expect_int("3: write, INT_MAX timeout", R(mtatls_session_write(s, data, 6, INT_MAX, &n)), MTATLS_RESULT_OK);
    mtatls_session_stop(s, INT_MAX);
    mtatls_session_free(s);
    close(fd);
    pthread_join(t, NULL);
    mtatls_ctx_free(sv.ctx);
    mtatls_ctx_free(cctx);
}

/* 4. self_signed writes only a new path or a regular file. */
static void self_signed_path(void)
{
    char dir[] = "/tmp/mtatls-failclosed-XXXXXX";
    char target[256], link[256], fifo[256], fresh[256], buf[64];
    mtatls_params *p = NULL;
    struct stat st;
    FILE *fp;
    size_t n;

    if (!mkdtemp(dir)) {
        expect_int("4: mkdtemp", 1, 0);
        return;
    }
    snprintf(target, sizeof(target), "%s/admin-cert.pem", dir);
    snprintf(link, sizeof(link), "%s/link.pem", dir);
    snprintf(fifo, sizeof(fifo), "%s/fifo", dir);
    snprintf(fresh, sizeof(fresh), "%s/fresh.pem", dir);
    fp = fopen(target, "w");
    fputs("administrator's certificate\n", fp);
    fclose(fp);
    if (symlink(target, link) != 0 || mkfifo(fifo, 0600) != 0) {
        expect_int("4: symlink/mkfifo", 1, 0);
        return;
    }
    mtatls_params_new(&p);
    mtatls_params_set_log_callback(p, quiet, NULL);
    expect_int("4: symlink refused", R(mtatls_params_self_signed(p, "localhost", link)),
               MTATLS_RESULT_INVALID_ARGUMENT);
    expect_contains("4: symlink text", mtatls_params_error(p), "is a symbolic link");
    expect_int("4: link still a link", lstat(link, &st) == 0 && S_ISLNK(st.st_mode), 1);
    fp = fopen(target, "r");
    n = fread(buf, 1, sizeof(buf) - 1, fp);
    buf[n] = 0;
    fclose(fp);
    expect_str("4: target untouched", buf, "administrator's certificate\n");
    expect_int("4: FIFO refused", R(mtatls_params_self_signed(p, "localhost", fifo)),
               MTATLS_RESULT_INVALID_ARGUMENT);
    expect_int("4: FIFO still a FIFO", lstat(fifo, &st) == 0 && S_ISFIFO(st.st_mode), 1);
    expect_int("4: directory refused", R(mtatls_params_self_signed(p, "localhost", dir)),
               MTATLS_RESULT_INVALID_ARGUMENT);
    expect_int("4: new path", R(mtatls_params_self_signed(p, "localhost", fresh)), MTATLS_RESULT_OK);
    expect_int("4: mode 0600", stat(fresh, &st) == 0 && (st.st_mode & 0777) == 0600, 1);
    expect_int("4: regular file rewritten", R(mtatls_params_self_signed(p, "localhost", fresh)), MTATLS_RESULT_OK);
    mtatls_params_free(p);
    unlink(fresh);
    unlink(fifo);
    unlink(link);
    unlink(target);
    rmdir(dir);
}

/* 5. A 1.2 KB line referring 400 times to a 1 MiB value. */
static void expansion_cap(void)
{
    size_t big_len = (1u << 20) - 64, i;
    char *text = malloc(big_len + 4096);
    char *w = text;
    mtatls_params *p = NULL;
    char out[16];
    size_t needed = 0;
    struct rusage before, after;

    w += sprintf(w, "big = ");
    memset(w, 'x', big_len);
    w += big_len;
    w += sprintf(w, "\nsmtpd_tls_CAfile =");
    for (i = 0; i < 400; i++)
        w += sprintf(w, " $big");
    sprintf(w, "\n");
    mtatls_params_new(&p);
    expect_int("5: load", R(mtatls_params_load_string(p, text, "big.cf")), MTATLS_RESULT_OK);
    free(text);
    getrusage(RUSAGE_SELF, &before);
    expect_int("5: get refused", R(mtatls_params_get(p, "smtpd_tls_CAfile", out, sizeof(out), &needed)),
               MTATLS_RESULT_INVALID_VALUE);
    expect_contains("5: text", mtatls_params_error(p), "expanded value longer than");
    getrusage(RUSAGE_SELF, &after);
    /* Peak memory grew by a few MiB at most (400 MiB before the fix). */
    if (after.ru_maxrss - before.ru_maxrss > 64 * 1024) {
        harness_failures++;
        printf("not ok: 5: peak memory grew by %ld KiB\n", after.ru_maxrss - before.ru_maxrss);
    }
    mtatls_params_free(p);
}

/* 6. The peer vanishes: writes fail (no SIGPIPE kills us). */
static void vanished_peer(void)
{
    static const char *const client_settings[] = {"smtp_tls_security_level=may", NULL};
    static unsigned char chunk[16384];
    struct server sv;
    pthread_t t;
    mtatls_ctx *cctx = ctx_of("smtp", client_settings, 1);
    mtatls_session *s = NULL;
    mtatls_result r = MTATLS_RESULT_OK;
    size_t n = 0;
    int fd, i;

    sv.ctx = ctx_of("smtpd", server_settings, 1);
    fd = start_pair(&sv, &t, 1);
    mtatls_session_new(cctx, fd, "localhost[127.0.0.1]:25", &s);
    expect_int("6: handshake", R(mtatls_session_handshake(s, TIMEOUT)), MTATLS_RESULT_OK);
    pthread_join(t, NULL);
    for (i = 0; i < 64 && r == MTATLS_RESULT_OK; i++)
        r = mtatls_session_write(s, chunk, sizeof(chunk), TIMEOUT, &n);
    if (r != MTATLS_RESULT_PEER_CLOSED && r != MTATLS_RESULT_IO) {
        harness_failures++;
        printf("not ok: 6: write to a vanished peer: %s\n", mtatls_result_name(r));
    }
    expect_int("6: error text", mtatls_session_error(s)[0] != 0, 1);
    expect_int("6: a later write fails too", mtatls_session_write(s, chunk, 10, TIMEOUT, &n) != MTATLS_RESULT_OK,
               1);
    mtatls_session_free(s);
    expect_int("6: fd still open", fcntl(fd, F_GETFD) != -1, 1);
    close(fd);
    mtatls_ctx_free(sv.ctx);
    mtatls_ctx_free(cctx);
}

/* 7a. Re-entering an object from its own callback. */
struct reenter {
    mtatls_params *params;
    mtatls_session *session;
    mtatls_result set_result, read_result, stop_result, handshake_result;
    int calls;
};

static void reenter_params(void *userdata, int level, const char *line)
{
    struct reenter *re = userdata;
    (void) level;
    (void) line;
    if (re->calls++ == 0) {
        re->set_result = mtatls_params_set(re->params, "smtpd_tls_loglevel", "0");
        /* Freeing the object in use does nothing. */
        mtatls_params_free(re->params);
    }
}

static void reenter_session(void *userdata, int level, const char *line)
{
    struct reenter *re = userdata;
    unsigned char buf[16];
    size_t n = 0;
    (void) level;
    (void) line;
    if (re->session && re->calls++ == 0) {
        re->read_result = mtatls_session_read(re->session, buf, sizeof(buf), 1, &n);
        re->stop_result = mtatls_session_stop(re->session, 1);
        re->handshake_result = mtatls_session_handshake(re->session, 1);
        mtatls_session_free(re->session);
    }
}

static void reentry(void)
{
    struct reenter re;
    mtatls_params *p = NULL;
    mtatls_ctx *ctx = NULL, *cctx = NULL;
    mtatls_session *s = NULL;
    struct server sv;
    pthread_t t;
    char value[16];
    size_t needed = 0;
    int fd;

    memset(&re, 0, sizeof(re));
    mtatls_params_new(&p);
    re.params = p;
    mtatls_params_set_log_callback(p, reenter_params, &re);
    mtatls_params_set(p, "smtpd_tls_loglevel", "2");
    mtatls_params_set(p, "smtpd_tls_security_level", "may");
    mtatls_params_self_signed(p, "localhost", "/tmp/mtatls-failclosed-reenter.pem");
    expect_int("7a: ctx_new", R(mtatls_ctx_new(p, "smtpd", &ctx)), MTATLS_RESULT_OK);
    expect_int("7a: callback ran", re.calls > 0, 1);
    expect_int("7a: params_set inside ctx_new", R(re.set_result), MTATLS_RESULT_BAD_STATE);
    mtatls_params_get(p, "smtpd_tls_loglevel", value, sizeof(value), &needed);
    expect_str("7a: the value did not change", value, "2");
    mtatls_ctx_free(ctx);
    mtatls_params_free(p);
    unlink("/tmp/mtatls-failclosed-reenter.pem");

    /* A session's log callback calling read, stop, handshake and free. */
    memset(&re, 0, sizeof(re));
    mtatls_params_new(&p);
    mtatls_params_set_log_callback(p, reenter_session, &re);
    mtatls_params_set(p, "smtp_tls_loglevel", "2");
    mtatls_params_set(p, "smtp_tls_security_level", "may");
    mtatls_ctx_new(p, "smtp", &cctx);
    mtatls_params_free(p);
    sv.ctx = ctx_of("smtpd", server_settings, 1);
    fd = start_pair(&sv, &t, 0);
    mtatls_session_new(cctx, fd, "localhost[127.0.0.1]:25", &s);
    re.calls = 0;
    re.session = s;
    expect_int("7a: handshake with a re-entering callback", R(mtatls_session_handshake(s, TIMEOUT)),
               MTATLS_RESULT_OK);
    expect_int("7a: read inside", R(re.read_result), MTATLS_RESULT_BAD_STATE);
    expect_int("7a: stop inside", R(re.stop_result), MTATLS_RESULT_BAD_STATE);
    expect_int("7a: handshake inside", R(re.handshake_result), MTATLS_RESULT_BAD_STATE);
    re.session = NULL;
    mtatls_session_stop(s, TIMEOUT);
    mtatls_session_free(s);
    close(fd);
    pthread_join(t, NULL);
    mtatls_ctx_free(sv.ctx);
    mtatls_ctx_free(cctx);
}

/* 7b. Two live sessions on one socket. */
static void one_session_per_socket(void)
{
    static const char *const client_settings[] = {"smtp_tls_security_level=may", NULL};
    mtatls_ctx *cctx = ctx_of("smtp", client_settings, 1);
    mtatls_session *a = NULL, *b = NULL;
    int pair[2], other;

    socketpair(AF_UNIX, SOCK_STREAM, 0, pair);
    expect_int("7b: first session", R(mtatls_session_new(cctx, pair[0], "x[127.0.0.1]:25", &a)), MTATLS_RESULT_OK);
    expect_int("7b: second session, same fd", R(mtatls_session_new(cctx, pair[0], "x[127.0.0.1]:25", &b)),
               MTATLS_RESULT_BAD_STATE);
    other = dup(pair[0]);
    expect_int("7b: second session, dup'ed fd", R(mtatls_session_new(cctx, other, "x[127.0.0.1]:25", &b)),
               MTATLS_RESULT_BAD_STATE);
    expect_int("7b: out untouched", b == NULL, 1);
    expect_int("7b: non-blocking while the session lives", (fcntl(pair[0], F_GETFL) & O_NONBLOCK) != 0, 1);
    mtatls_session_free(a);
    expect_int("7b: flags restored after free", (fcntl(pair[0], F_GETFL) & O_NONBLOCK) == 0, 1);
    expect_int("7b: a new session after free", R(mtatls_session_new(cctx, other, "x[127.0.0.1]:25", &b)),
               MTATLS_RESULT_OK);
    mtatls_session_free(b);
    expect_int("7b: fds still open", fcntl(pair[0], F_GETFD) != -1 && fcntl(other, F_GETFD) != -1, 1);
    close(other);
    close(pair[0]);
    close(pair[1]);
    mtatls_ctx_free(cctx);
}

/* 7c. A write after the peer's close_notify and FIN. */
static void write_after_fin(void)
{
    static const char *const client_settings[] = {"smtp_tls_security_level=may", NULL};
    struct server sv;
    pthread_t t;
    mtatls_ctx *cctx = ctx_of("smtp", client_settings, 1);
    mtatls_session *s = NULL;
    unsigned char buf[64];
    size_t n = 1;
    int fd;

    sv.ctx = ctx_of("smtpd", server_settings, 1);
    fd = start_pair(&sv, &t, 2);
    mtatls_session_new(cctx, fd, "localhost[127.0.0.1]:25", &s);
    expect_int("7c: handshake", R(mtatls_session_handshake(s, TIMEOUT)), MTATLS_RESULT_OK);
    pthread_join(t, NULL);
    expect_int("7c: read sees the close", R(mtatls_session_read(s, buf, sizeof(buf), TIMEOUT, &n)),
               MTATLS_RESULT_OK);
    expect_int("7c: read returns 0", R(n), 0);
    expect_int("7c: write after FIN", R(mtatls_session_write(s, buf, 4, TIMEOUT, &n)), MTATLS_RESULT_PEER_CLOSED);
    expect_contains("7c: write text", mtatls_session_error(s), "closed");
    mtatls_session_free(s);
    close(fd);
    mtatls_ctx_free(sv.ctx);
    mtatls_ctx_free(cctx);
}

/* 7d. A poisoned session reports no summary, comment or facts. */
static void poisoned_session(void)
{
    static const char *const client_settings[] = {"smtp_tls_security_level=may", NULL};
    struct server sv;
    pthread_t t;
    mtatls_ctx *cctx = ctx_of("smtp", client_settings, 1);
    mtatls_session *s = NULL;
    char buf[512];
    int fd;

    sv.ctx = ctx_of("smtpd", server_settings, 1);
    fd = start_pair(&sv, &t, 0);
    mtatls_session_new(cctx, fd, "localhost[127.0.0.1]:25", &s);
    expect_int("7d: handshake", R(mtatls_session_handshake(s, TIMEOUT)), MTATLS_RESULT_OK);
    expect_int("7d: summary before", mtatls_session_summary(s, buf, sizeof(buf)) > 0, 1);
    setenv("MTATLS_TEST_PANIC", "1", 1);
    expect_int("7d: forced panic", R(mtatls_session_set_servername(s, "mtatls_test_panic")), MTATLS_RESULT_PANIC);
    unsetenv("MTATLS_TEST_PANIC");
    expect_int("7d: summary after", R(mtatls_session_summary(s, buf, sizeof(buf))), 0);
    expect_int("7d: received after", R(mtatls_session_received_comment(s, buf, sizeof(buf))), 0);
    expect_int("7d: truncated after", mtatls_session_truncated(s), 0);
    expect_int("7d: facts after", mtatls_session_get_facts(s) == NULL, 1);
    expect_int("7d: handshake after", R(mtatls_session_handshake(s, TIMEOUT)), MTATLS_RESULT_PANIC);
    expect_contains("7d: error text", mtatls_session_error(s), "panic");
    mtatls_session_free(s);
    expect_int("7d: fd flags restored", (fcntl(fd, F_GETFL) & O_NONBLOCK) == 0, 1);
    close(fd);
    pthread_join(t, NULL);
    mtatls_ctx_free(sv.ctx);
    mtatls_ctx_free(cctx);
}

static const struct item {
    const char *name;
    void (*run)(void);
} items[] = {
    {"1", sticky_outcome},   {"2", logging_cannot_fail},  {"3", time_values},
    {"4", self_signed_path}, {"5", expansion_cap},        {"6", vanished_peer},
    {"7a", reentry},         {"7b", one_session_per_socket}, {"7c", write_after_fin},
    {"7d", poisoned_session},
};

int main(int argc, char **argv)
{
    size_t i;
    int a;

    if (argc < 2) {
        fprintf(stderr, "usage: failclosed KEYDIR [ITEM...]\n");
        return 2;
    }
    keydir = argv[1];
    /* Lines reach the log even if a signal ends the run. */
    setvbuf(stdout, NULL, _IOLBF, 0);
    signal(SIGPIPE, SIG_DFL);
    for (i = 0; i < sizeof(items) / sizeof(items[0]); i++) {
        int wanted = argc == 2;
        for (a = 2; a < argc; a++)
            wanted |= strcmp(argv[a], items[i].name) == 0;
        if (wanted)
            items[i].run();
    }
    printf("failclosed: %d failed checks\n", harness_failures);
    return harness_failures == 0 ? 0 : 1;
}
