/*
 * trace_handshake.c - an LD_PRELOAD interposer for any program linked
 * with mtatls: it wraps mtatls_session_handshake(), calls the real one
 * (dlsym(RTLD_NEXT)), and writes how long each handshake took and what it
 * returned to stderr. The experiment MTA people run on a live daemon
 * without rebuilding it.
 *
 *   cc -std=c99 -shared -fPIC -I include trace_handshake.c -o libtrace_handshake.so -ldl
 *   LD_PRELOAD=./libtrace_handshake.so target/debug/c/quickstart
 */
#define _GNU_SOURCE

#include <mtatls.h>

#include <dlfcn.h>
#include <stdio.h>
#include <time.h>

mtatls_result mtatls_session_handshake(struct mtatls_session *session, int timeout_seconds)
{
    static mtatls_result (*real)(struct mtatls_session *, int);
    struct timespec t0, t1;
    mtatls_result r;

    if (real == NULL)
        *(void **) &real = dlsym(RTLD_NEXT, "mtatls_session_handshake");
    if (real == NULL)
        return MTATLS_RESULT_BAD_STATE;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    r = real(session, timeout_seconds);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    fprintf(stderr, "trace_handshake: %s after %.1f ms\n", mtatls_result_name(r),
            (double) (t1.tv_sec - t0.tv_sec) * 1e3 + (double) (t1.tv_nsec - t0.tv_nsec) / 1e6);
    return r;
}
