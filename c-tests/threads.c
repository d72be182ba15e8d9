/*
 * threads.c - N threads x M handshakes sharing ONE server context and ONE
 * client context (as a multi-threaded MTA would). Each thread drives its
 * own client/server pair over a socketpair in non-blocking mode with
 * poll(). Run under valgrind's helgrind or drd to look for races.
 *
 * usage: threads KEYDIR [THREADS [HANDSHAKES]]   (default 4 x 25)
 */
#define _POSIX_C_SOURCE 200809L

#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

static mtatls_ctx *server_ctx, *client_ctx;
static pthread_mutex_t count_lock = PTHREAD_MUTEX_INITIALIZER;
static int completed, failed;

static void quiet(void *userdata, int level, const char *line)
{
    (void) userdata;
    (void) level;
    (void) line;
}

static int want(mtatls_result r, short *events)
{
    if (r == MTATLS_RESULT_WANT_READ)
        *events = POLLIN;
    else if (r == MTATLS_RESULT_WANT_WRITE)
        *events = POLLOUT;
    else
        return r == MTATLS_RESULT_OK ? 1 : -1;
    return 0;
}

/* One handshake pair, both sides non-blocking in this thread. */
static int one_pair(void)
{
    int sv[2], rounds, s_done = 0, c_done = 0, ok = 0;
    short se = POLLIN, ce = POLLOUT;
    mtatls_session *s = NULL, *c = NULL;

    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
        return 0;
    if (mtatls_session_new(server_ctx, sv[0], "c[127.0.0.1]", &s) == MTATLS_RESULT_OK
        && mtatls_session_new(client_ctx, sv[1], "s[127.0.0.1]:25", &c) == MTATLS_RESULT_OK) {
        for (rounds = 0; rounds < 200 && (!s_done || !c_done); rounds++) {
            struct pollfd pfd[2];
            int r;
            if (!s_done && (r = want(mtatls_session_handshake(s, MTATLS_TIMEOUT_NONBLOCK), &se)) != 0)
                s_done = r;
            if (!c_done && (r = want(mtatls_session_handshake(c, MTATLS_TIMEOUT_NONBLOCK), &ce)) != 0)
                c_done = r;
            if (s_done < 0 || c_done < 0)
                break;
            pfd[0].fd = sv[0];
            pfd[0].events = s_done ? 0 : se;
            pfd[1].fd = sv[1];
            pfd[1].events = c_done ? 0 : ce;
            if (!s_done || !c_done)
                poll(pfd, 2, 2000);
        }
        ok = s_done == 1 && c_done == 1 && mtatls_session_get_facts(c) != NULL;
    }
    mtatls_session_free(s);
    mtatls_session_free(c);
    close(sv[0]);
    close(sv[1]);
    return ok;
}

static void *worker(void *arg)
{
    int i, n = *(int *) arg, good = 0;

    for (i = 0; i < n; i++)
        good += one_pair();
    pthread_mutex_lock(&count_lock);
    completed += good;
    failed += n - good;
    pthread_mutex_unlock(&count_lock);
    return NULL;
}

static mtatls_ctx *make_ctx(const char *role, const char *keydir)
{
    mtatls_params *p = NULL;
    mtatls_ctx *ctx = NULL;
    char chain[1024];

    if (mtatls_params_new(&p) != MTATLS_RESULT_OK)
        return NULL;
    mtatls_params_set_log_callback(p, quiet, NULL);
    snprintf(chain, sizeof(chain), "%s/ecdsa.pem", keydir);
    mtatls_params_set(p, "smtpd_tls_security_level", "may");
    mtatls_params_set(p, "smtpd_tls_chain_files", chain);
    mtatls_params_set(p, "smtp_tls_security_level", "may");
    mtatls_params_set(p, "smtpd_tls_loglevel", "1");
    if (mtatls_ctx_new(p, role, &ctx) != MTATLS_RESULT_OK)
        printf("ctx %s: %s\n", role, mtatls_params_error(p));
    mtatls_params_free(p);
    return ctx;
}

int main(int argc, char **argv)
{
    int nthreads = argc > 2 ? atoi(argv[2]) : 4;
    int per = argc > 3 ? atoi(argv[3]) : 25;
    pthread_t tids[64];
    int i;

    if (argc < 2 || nthreads < 1 || nthreads > 64 || per < 1) {
        fprintf(stderr, "usage: %s KEYDIR [THREADS [HANDSHAKES]]\n", argv[0]);
        return 2;
    }
    server_ctx = make_ctx("smtpd", argv[1]);
    client_ctx = make_ctx("smtp", argv[1]);
    if (!server_ctx || !client_ctx)
        return 1;
    for (i = 0; i < nthreads; i++)
        if (pthread_create(&tids[i], NULL, worker, &per) != 0)
            return 1;
    for (i = 0; i < nthreads; i++)
        pthread_join(tids[i], NULL);
    mtatls_ctx_free(server_ctx);
    mtatls_ctx_free(client_ctx);
    expect_int("handshakes completed", completed, nthreads * per);
    expect_int("handshakes failed", failed, 0);
    printf("threads: %d x %d handshakes, %d failed checks\n", nthreads, per, harness_failures);
    return harness_failures == 0 ? 0 : 1;
}
