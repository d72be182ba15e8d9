/*
 * fleet-bench - resumed TLS handshakes per second with the client session
 * cache in Redis (fleet.c: GET, unwrap, SET of the renewed session) against
 * the library's in-process cache, in the same process and the same run.
 *
 * usage: fleet-bench -R redis -k fleet.key [-a auth-file] [-x prefix]
 *        [-N connections] [-b blocks] [-r runs] CHAIN.pem
 *
 * A server thread and the client (main thread) talk over a socketpair
 * per connection: handshake, one line from the server (it carries the
 * TLS 1.3 ticket in), close_notify. Each run times N resumed connections
 * with the memory cache and N with the Redis cache, in -b blocks that
 * alternate between the two. Prints one line per run and a summary of
 * medians and min..max; exit 1 if any connection failed or was not
 * resumed.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "fleet.h"

#define PROG "fleet-bench"
#define RUNS_MAX 99

static int pipe_fds[2];   /* main -> server thread: socket descriptors */

static void quiet(void *userdata, int level, const char *line)
{
    (void) userdata;
    if (level == MTATLS_LOG_WARNING)
        (void) fprintf(stderr, "%s: warning: %s\n", PROG, line);
}

static double now_s(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double) t.tv_sec + (double) t.tv_nsec / 1e9;
}

/* Server thread: one connection per descriptor read from the pipe; -1 ends. */
static void *server_main(void *arg)
{
    mtatls_ctx *ctx = arg;
    int fd;

    while (read(pipe_fds[0], &fd, sizeof(fd)) == (ssize_t) sizeof(fd) && fd >= 0) {
        mtatls_session *s = NULL;
        unsigned char buf[64];
        size_t n = 0;

        if (mtatls_session_new(ctx, fd, "localhost[127.0.0.1]", &s) == MTATLS_RESULT_OK
            && mtatls_session_handshake(s, 10) == MTATLS_RESULT_OK
            && mtatls_session_write(s, (const unsigned char *) "250 ok\r\n", 8, 10, &n)
                   == MTATLS_RESULT_OK) {
            (void) mtatls_session_read(s, buf, sizeof(buf), 10, &n);   /* the client's close */
            (void) mtatls_session_stop(s, 10);
        }
        mtatls_session_free(s);
        (void) close(fd);
    }
    return NULL;
}

/* One client connection; 1 resumed, 0 full, -1 failed. */
static int connect_once(mtatls_ctx *client)
{
    mtatls_session *s = NULL;
    unsigned char buf[64];
    const mtatls_session_facts *facts;
    size_t n = 0;
    int sv[2], result = -1;

    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
        return -1;
    if (write(pipe_fds[1], &sv[1], sizeof(sv[1])) != (ssize_t) sizeof(sv[1])) {
        (void) close(sv[0]);
        (void) close(sv[1]);
        return -1;
    }
    if (mtatls_session_new(client, sv[0], "mx.fleet.test[127.0.0.1]:25", &s) == MTATLS_RESULT_OK
        && mtatls_session_set_serverid(s, "[mx.fleet.test]:25") == MTATLS_RESULT_OK
        && mtatls_session_handshake(s, 10) == MTATLS_RESULT_OK
        && mtatls_session_read(s, buf, sizeof(buf), 10, &n) == MTATLS_RESULT_OK && n > 0
        && (facts = mtatls_session_get_facts(s)) != NULL) {
        result = facts->reused ? 1 : 0;
        (void) mtatls_session_stop(s, 10);
    }
    mtatls_session_free(s);
    (void) close(sv[0]);   /* the server thread closes sv[1] */
    return result;
}

static mtatls_ctx *make_ctx(const char *role, const char *chain, struct fleet *fleet)
{
    mtatls_params *p = NULL;
    mtatls_ctx *ctx = NULL;

    if (mtatls_params_new(&p) != MTATLS_RESULT_OK)
        return NULL;
    if (mtatls_params_set_log_callback(p, quiet, NULL) != MTATLS_RESULT_OK
        || mtatls_params_set(p, "smtpd_tls_security_level", "may") != MTATLS_RESULT_OK
        || mtatls_params_set(p, "smtpd_tls_chain_files", chain) != MTATLS_RESULT_OK
        || mtatls_params_set(p, "smtp_tls_security_level", "may") != MTATLS_RESULT_OK
        || (fleet != NULL && fleet_attach_session_cache(fleet, p) < 0)
        || mtatls_ctx_new(p, role, &ctx) != MTATLS_RESULT_OK)
        (void) fprintf(stderr, "%s: %s context: %s\n", PROG, role, mtatls_params_error(p));
    mtatls_params_free(p);
    return ctx;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;

    return x < y ? -1 : x > y;
}

/* "WHAT: median M min A max B (N runs)"; the median of an even count is
 * the mean of the middle two. */
static void summary(const char *what, int digits, double *v, int n)
{
    double median;

    qsort(v, (size_t) n, sizeof(*v), cmp_double);
    median = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
    printf("%s: median %.*f min %.*f max %.*f (%d runs)\n", what, digits, median, digits, v[0],
           digits, v[n - 1], n);
}

/* One run: `n` resumed connections per side in `blocks` blocks that
 * alternate between the two caches (and which goes first), so that a
 * change of load on the machine hits both alike. 0, or -1 if a connection
 * failed or was not resumed. */
static int run_once(mtatls_ctx *mem, mtatls_ctx *red, long n, long blocks, double *rate_mem,
                    double *rate_red)
{
    mtatls_ctx *ctx[2];
    double spent[2] = {0, 0};
    long done[2] = {0, 0}, b, i;
    int k;

    ctx[0] = mem;
    ctx[1] = red;
    /* Prime both caches (a full handshake on the very first run). */
    if (connect_once(mem) < 0 || connect_once(red) < 0)
        return -1;
    for (b = 0; b < blocks; b++) {
        for (k = 0; k < 2; k++) {
            int side = (int) ((b + k) % 2);
            long m = n / blocks + (b < n % blocks ? 1 : 0);
            double t0 = now_s();

            for (i = 0; i < m; i++)
                if (connect_once(ctx[side]) != 1)
                    return -1;
            spent[side] += now_s() - t0;
            done[side] += m;
        }
    }
    *rate_mem = (double) done[0] / spent[0];
    *rate_red = (double) done[1] / spent[1];
    return 0;
}

int main(int argc, char **argv)
{
    struct fleet_config cfg;
    struct fleet *fleet = NULL;
    mtatls_ctx *server = NULL, *mem = NULL, *red = NULL;
    double rmem[RUNS_MAX], rred[RUNS_MAX], ratio[RUNS_MAX];
    long n = 400, runs = 11, blocks = 10;
    pthread_t thread;
    int ch, i, started = 0, status = 1, stop = -1;
    struct sigaction sa;

    memset(&cfg, 0, sizeof(cfg));
    cfg.prog = PROG;
    while ((ch = getopt(argc, argv, "a:b:k:N:r:R:x:")) != -1) {
        switch (ch) {
        case 'a':
            cfg.auth_file = optarg;
            break;
        case 'k':
            cfg.key_file = optarg;
            break;
        case 'R':
            cfg.redis = optarg;
            break;
        case 'x':
            cfg.prefix = optarg;
            break;
        case 'b':
            blocks = strtol(optarg, NULL, 10);
            break;
        case 'N':
            n = strtol(optarg, NULL, 10);
            break;
        case 'r':
            runs = strtol(optarg, NULL, 10);
            break;
        default:
            goto usage;
        }
    }
    if (optind != argc - 1 || cfg.redis == NULL || cfg.key_file == NULL || n < 1 || runs < 1
        || runs > RUNS_MAX || blocks < 1 || blocks > n)
        goto usage;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = SIG_IGN;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGPIPE, &sa, NULL) < 0 || pipe(pipe_fds) < 0)
        return 1;
    if ((fleet = fleet_new(&cfg)) == NULL || (server = make_ctx("smtpd", argv[optind], NULL)) == NULL
        || (mem = make_ctx("smtp", argv[optind], NULL)) == NULL
        || (red = make_ctx("smtp", argv[optind], fleet)) == NULL)
        goto out;
    if (pthread_create(&thread, NULL, server_main, server) != 0)
        goto out;
    started = 1;
    printf("%s: %s; %ld resumed connections per side and run in %ld alternating blocks, "
           "%ld runs\n",
           PROG, mtatls_version(), n, blocks, runs);
    for (i = 0; i < runs; i++) {
        double a, b;

        if (run_once(mem, red, n, blocks, &a, &b) < 0) {
            (void) fprintf(stderr, "%s: run %d: a connection failed or was not resumed\n", PROG,
                           i + 1);
            goto out;
        }
        rmem[i] = a;
        rred[i] = b;
        ratio[i] = b / a;
        printf("run %d: memory %.1f hs/s, redis %.1f hs/s, redis/memory %.3f\n", i + 1, a, b,
               b / a);
        (void) fflush(stdout);
    }
    summary("memory", 1, rmem, (int) runs);
    summary("redis", 1, rred, (int) runs);
    summary("ratio", 3, ratio, (int) runs);
    status = 0;
out:
    if (started) {
        if (write(pipe_fds[1], &stop, sizeof(stop)) == (ssize_t) sizeof(stop))
            pthread_join(thread, NULL);
    }
    mtatls_ctx_free(server);
    mtatls_ctx_free(mem);
    mtatls_ctx_free(red);
    if (fleet != NULL)
        fleet_log_stats(fleet);
    fleet_free(fleet);
    return status;
usage:
    (void) fprintf(stderr,
                   "usage: %s -R redis -k fleet.key [-a auth-file] [-x prefix] [-N connections]\n"
                   "\t[-b blocks] [-r runs] CHAIN.pem\n",
                   PROG);
    return 2;
}
