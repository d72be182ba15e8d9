/*
 * fleet.h - a fleet of mtatls mail servers and relays sharing TLS state
 * through Redis (hiredis), plugged into the library's hooks:
 *
 *  - the client session cache (mtatls_params_set_session_cache): outbound
 *    relays resume each other's sessions; entries expire in Redis with
 *    smtp_tls_session_cache_timeout;
 *  - the server's session ticket keys (mtatls_ctx_set_ticket_key): every
 *    server of a pool issues tickets under the same key and accepts the
 *    previous one for one more period, so a client resumes at whichever
 *    server its next connection lands on.
 *
 * Every value in Redis is wrapped (AES-256-GCM) under a fleet key read
 * from a local file that only the MTA user can read; the Redis key name,
 * the entry type and its expiry are authenticated with it. A value that
 * does not unwrap (corrupt, truncated, another fleet's, moved under
 * another name, expired) is ignored and counted, never given to the
 * library. Every Redis call is bounded (connect and command timeouts);
 * after a failure no call is made for a retry interval, so an outage costs
 * at most one timeout per interval and handshakes go on as full ones.
 *
 * Layout in Redis (PREFIX defaults to "mtatls:"):
 *   PREFIX "tk:" PERIOD ":" EPOCH   ticket key of epoch EPOCH (80 bytes
 *                                   wrapped); it encrypts during
 *                                   [EPOCH*PERIOD, (EPOCH+1)*PERIOD) and
 *                                   decrypts one period longer
 *   PREFIX "sc:" KEY                 client session under the library's
 *                                   cache key (DER, wrapped)
 * Wrapped value: "MTFL", version 1, type (1 ticket key, 2 session), two
 * zero bytes, expiry (Unix time, 64-bit big-endian), 12-byte nonce, the
 * ciphertext, a 16-byte GCM tag; the additional data is those first 28
 * bytes followed by the Redis key name.
 */
#ifndef MTATLS_FLEET_H
#define MTATLS_FLEET_H

#include <stddef.h>
#include <stdint.h>

#include "mtatls.h"

#define FLEET_KEY_LEN 32                 /* bytes in the fleet key file */
#define FLEET_TIMEOUT_MS_DEFAULT 250     /* per Redis connect / command */
#define FLEET_RETRY_MS_DEFAULT 1000      /* no Redis call this long after a failure */
#define FLEET_PREFIX_DEFAULT "mtatls:"
#define FLEET_SESSION_MAX 65536          /* largest session accepted (DER bytes) */

struct fleet_config {
    const char *prog;        /* log prefix */
    const char *redis;       /* "host:port", "[v6addr]:port", "host" (6379) or "unix:/path" */
    const char *key_file;    /* the fleet key: 32 bytes, not readable by group or others */
    const char *auth_file;   /* or NULL: "user password" (Redis ACL) or "password" */
    const char *prefix;      /* or NULL: FLEET_PREFIX_DEFAULT */
    int timeout_ms;          /* 0: FLEET_TIMEOUT_MS_DEFAULT */
    int retry_ms;            /* 0: FLEET_RETRY_MS_DEFAULT */
};

/* Counters (monotonic since fleet_new). */
struct fleet_stats {
    unsigned long cache_gets, cache_hits, cache_misses, cache_puts, cache_removes;
    unsigned long keys_installed;   /* mtatls_ctx_set_ticket_key calls */
    unsigned long keys_published;   /* new ticket keys stored (SET NX won) */
    unsigned long keys_repaired;    /* unusable ticket key entries overwritten */
    unsigned long keys_local;       /* host-only fallback keys (Redis gone too long) */
    unsigned long redis_failures;   /* connect / I/O failures and timeouts */
    unsigned long redis_skipped;    /* calls not made while waiting to retry */
    unsigned long redis_errors;     /* error or malformed replies (ACL refusals, ...) */
    unsigned long ignored_corrupt;  /* values that are not a wrapped entry */
    unsigned long ignored_foreign;  /* wrapped entries that do not authenticate */
    unsigned long ignored_expired;  /* authentic entries past their expiry */
};

struct fleet;

/* Read the key (and auth) file and prepare; Redis is contacted lazily.
 * NULL after logging why (a bad key file is fatal: no unwrapped secrets). */
struct fleet *fleet_new(const struct fleet_config *cfg);

/* Disconnect and wipe the keys. NULL is ignored. */
void fleet_free(struct fleet *f);

/* Client: keep sessions of contexts made from `params` in Redis. `f` must
 * outlive those contexts. 0, or -1 (logged). */
int fleet_attach_session_cache(struct fleet *f, mtatls_params *params);

/* Server: share the ticket keys of `ctx` (built with
 * smtpd_tls_session_cache_timeout = `period` seconds, the rotation
 * period). `publisher`: this process stores the current and the next
 * epoch's keys (SET NX: several publishers are safe). `refresh_s`: how
 * often keys are re-read from Redis. Then call fleet_tick. 0 or -1. */
int fleet_attach_tickets(struct fleet *f, mtatls_ctx *ctx, uint64_t period, int publisher,
                         int refresh_s);

/* Server: refresh keys from Redis when due, publish (publisher), install
 * the epoch's key when it changes. Never blocks longer than the Redis
 * timeouts. Returns the milliseconds until it should be called again. */
long fleet_tick(struct fleet *f);

/* A snapshot of the counters. */
void fleet_get_stats(struct fleet *f, struct fleet_stats *out);

/* Log "fleet: stats: ..." (one line). */
void fleet_log_stats(struct fleet *f);

/* A Postfix time value ("3600s", "1h", "10": s m h d w) in seconds. 0 or -1. */
int fleet_parse_time(const char *value, uint64_t *seconds);

#endif
