/*
 * fleet.c - Redis-backed session cache and ticket keys for mtatls (see
 * fleet.h for the design and the layout in Redis).
 */
#define _POSIX_C_SOURCE 200809L

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <hiredis.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "fleet.h"

#define WRAP_MAGIC "MTFL"
#define WRAP_VERSION 1
#define WRAP_HEADER 28               /* magic 4, version 1, type 1, zero 2, expiry 8, nonce 12 */
#define WRAP_TAG 16
#define WRAP_NONCE_AT 16
#define TYPE_TICKET_KEY 1
#define TYPE_SESSION 2
#define NAME_MAX_LEN 1024            /* longest Redis key name we make */
#define AUTH_MAX 512
#define LOG_IGNORED_EVERY 1          /* seconds between "ignored" log lines */

enum unwrap_status { UNWRAP_OK, UNWRAP_CORRUPT, UNWRAP_FOREIGN };

/* One ticket key slot (epoch % 4). */
enum slot_state { SLOT_NONE, SLOT_REDIS, SLOT_LOCAL };
struct slot {
    uint64_t epoch;
    enum slot_state state;
    unsigned char key[MTATLS_TICKET_KEY_LEN];
};

struct fleet {
    char prog[64];
    char prefix[128];
    char host[256];                  /* host name or address, or unix socket path */
    int port;                        /* 0: unix socket */
    char user[AUTH_MAX], password[AUTH_MAX];
    int have_auth;
    int timeout_ms, retry_ms;
    unsigned char key[FLEET_KEY_LEN];

    pthread_mutex_t lock;            /* everything below */
    redisContext *rc;
    int64_t retry_at_ms;             /* monotonic: no connect before this */
    int down;                        /* the last call failed (logged once) */
    struct fleet_stats st;
    time_t last_ignored_log, last_error_log;

    /* A session too large for the library's first buffer, kept for the
     * call that follows with a larger one. */
    char *pending_name;
    unsigned char *pending;
    size_t pending_len;

    /* Ticket keys (server). */
    mtatls_ctx *ctx;
    uint64_t period;
    int publisher, refresh_s;
    int64_t next_refresh_ms;         /* realtime ms */
    struct slot slots[4];            /* keys known, from Redis or local */
    struct slot made[4];             /* publisher: keys made here to publish */
    int installed;
    uint64_t inst_epoch;
    unsigned char inst_name[16], inst_prev_name[16];
};

/* ---- small helpers ---- */

static void flog(struct fleet *f, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

static void flog(struct fleet *f, const char *fmt, ...)
{
    char text[1024];
    va_list ap;

    va_start(ap, fmt);
    if (vsnprintf(text, sizeof(text), fmt, ap) < 0)
        text[0] = 0;
    va_end(ap);
    (void) fprintf(stderr, "%s: fleet: %s\n", f->prog, text);
}

static int64_t clock_ms(clockid_t id)
{
    struct timespec t;

    if (clock_gettime(id, &t) < 0)
        return 0;
    return (int64_t) t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static void put_be64(unsigned char *p, uint64_t v)
{
    int i;

    for (i = 7; i >= 0; i--, v >>= 8)
        p[i] = (unsigned char) (v & 0xff);
}

static uint64_t get_be64(const unsigned char *p)
{
    uint64_t v = 0;
    int i;

    for (i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

/* Printable copy of a key name for log lines. */
static void printable(char *out, size_t size, const char *in, size_t len)
{
    size_t i, o = 0;

    for (i = 0; i < len && o + 1 < size; i++)
        out[o++] = isprint((unsigned char) in[i]) ? in[i] : '?';
    out[o] = 0;
}

int fleet_parse_time(const char *value, uint64_t *seconds)
{
    char *end;
    unsigned long long v;
    uint64_t unit = 1;

    if (!isdigit((unsigned char) value[0]))
        return -1;
    errno = 0;
    v = strtoull(value, &end, 10);
    if (errno != 0)
        return -1;
    switch (*end) {
    case 0:
    case 's':
        break;
    case 'm':
        unit = 60;
        break;
    case 'h':
        unit = 3600;
        break;
    case 'd':
        unit = 86400;
        break;
    case 'w':
        unit = 604800;
        break;
    default:
        return -1;
    }
    if (*end != 0 && end[1] != 0)
        return -1;
    if (v > UINT64_MAX / unit)
        return -1;
    *seconds = (uint64_t) v * unit;
    return 0;
}

/* ---- files: the fleet key and the Redis credentials ---- */

/* Open a regular file that group and others cannot read; read at most
 * `size` bytes. Returns the count, or -1 (logged). */
static ssize_t read_secret_file(struct fleet *f, const char *what, const char *path,
                                unsigned char *buf, size_t size)
{
    struct stat sb;
    ssize_t n, total = 0;
    int fd = open(path, O_RDONLY | O_NOCTTY);

    if (fd < 0) {
        flog(f, "%s %s: %s", what, path, strerror(errno));
        return -1;
    }
    if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
        flog(f, "%s %s: not a regular file", what, path);
        goto fail;
    }
    if (sb.st_mode & (S_IRWXG | S_IRWXO)) {
        flog(f, "%s %s: group or others have access (mode %03o); chmod 600 it",
             what, path, (unsigned) (sb.st_mode & 0777));
        goto fail;
    }
    while ((size_t) total < size && (n = read(fd, buf + total, size - (size_t) total)) != 0) {
        if (n < 0) {
            if (errno == EINTR)
                continue;
            flog(f, "%s %s: %s", what, path, strerror(errno));
            goto fail;
        }
        total += n;
    }
    (void) close(fd);
    return total;
fail:
    (void) close(fd);
    return -1;
}

static int load_key(struct fleet *f, const char *path)
{
    unsigned char buf[FLEET_KEY_LEN + 1];
    ssize_t n = read_secret_file(f, "fleet key", path, buf, sizeof(buf));

    if (n < 0)
        return -1;
    if (n != FLEET_KEY_LEN) {
        flog(f, "fleet key %s: want exactly %d random bytes (head -c %d /dev/urandom)", path,
             FLEET_KEY_LEN, FLEET_KEY_LEN);
        OPENSSL_cleanse(buf, sizeof(buf));
        return -1;
    }
    memcpy(f->key, buf, FLEET_KEY_LEN);
    OPENSSL_cleanse(buf, sizeof(buf));
    return 0;
}

/* "user password" or "password" (one line). */
static int load_auth(struct fleet *f, const char *path)
{
    unsigned char buf[2 * AUTH_MAX];
    char *text = (char *) buf, *sp;
    ssize_t n = read_secret_file(f, "redis auth file", path, buf, sizeof(buf) - 1);

    if (n < 0)
        return -1;
    buf[n] = 0;
    text[strcspn(text, "\r\n")] = 0;
    if ((sp = strchr(text, ' ')) != NULL)
        *sp++ = 0;
    else
        sp = text, text = NULL;
    if ((text != NULL && strlen(text) >= sizeof(f->user)) || strlen(sp) >= sizeof(f->password)
        || sp[0] == 0) {
        OPENSSL_cleanse(buf, sizeof(buf));
        flog(f, "redis auth file %s: want one line \"user password\" or \"password\"", path);
        return -1;
    }
    if (text != NULL)
        memcpy(f->user, text, strlen(text) + 1);
    memcpy(f->password, sp, strlen(sp) + 1);
    OPENSSL_cleanse(buf, sizeof(buf));
    f->have_auth = 1;
    return 0;
}

static int parse_redis_address(struct fleet *f, const char *addr)
{
    const char *colon;
    char *end;
    long port = 6379;
    size_t hlen;

    if (strncmp(addr, "unix:", 5) == 0) {
        if (addr[5] == 0 || strlen(addr + 5) >= sizeof(f->host))
            return -1;
        snprintf(f->host, sizeof(f->host), "%s", addr + 5);
        f->port = 0;
        return 0;
    }
    if (addr[0] == '[') {
        const char *close = strchr(addr, ']');
        if (close == NULL)
            return -1;
        hlen = (size_t) (close - addr - 1);
        addr++;
        colon = close[1] == ':' ? close + 1 : NULL;
        if (close[1] != 0 && colon == NULL)
            return -1;
    } else {
        colon = strrchr(addr, ':');
        hlen = colon ? (size_t) (colon - addr) : strlen(addr);
    }
    if (colon != NULL) {
        errno = 0;
        port = strtol(colon + 1, &end, 10);
        if (errno != 0 || *end != 0 || end == colon + 1 || port < 1 || port > 65535)
            return -1;
    }
    if (hlen == 0 || hlen >= sizeof(f->host))
        return -1;
    memcpy(f->host, addr, hlen);
    f->host[hlen] = 0;
    f->port = (int) port;
    return 0;
}

struct fleet *fleet_new(const struct fleet_config *cfg)
{
    struct fleet *f = calloc(1, sizeof(*f));
    const char *prefix = cfg->prefix ? cfg->prefix : FLEET_PREFIX_DEFAULT;

    if (f == NULL)
        return NULL;
    snprintf(f->prog, sizeof(f->prog), "%s", cfg->prog ? cfg->prog : "fleet");
    if (pthread_mutex_init(&f->lock, NULL) != 0) {
        free(f);
        return NULL;
    }
    f->timeout_ms = cfg->timeout_ms > 0 ? cfg->timeout_ms : FLEET_TIMEOUT_MS_DEFAULT;
    f->retry_ms = cfg->retry_ms > 0 ? cfg->retry_ms : FLEET_RETRY_MS_DEFAULT;
    if (strlen(prefix) >= sizeof(f->prefix)) {
        flog(f, "key prefix too long");
        goto fail;
    }
    snprintf(f->prefix, sizeof(f->prefix), "%s", prefix);
    if (cfg->redis == NULL || parse_redis_address(f, cfg->redis) < 0) {
        flog(f, "bad redis address \"%s\": want host:port, [addr]:port or unix:/path",
             cfg->redis ? cfg->redis : "");
        goto fail;
    }
    if (cfg->key_file == NULL) {
        flog(f, "no fleet key file: values in Redis are always wrapped");
        goto fail;
    }
    if (load_key(f, cfg->key_file) < 0 || (cfg->auth_file && load_auth(f, cfg->auth_file) < 0))
        goto fail;
    return f;
fail:
    fleet_free(f);
    return NULL;
}

void fleet_free(struct fleet *f)
{
    if (f == NULL)
        return;
    if (f->rc != NULL)
        redisFree(f->rc);
    if (f->pending != NULL)
        OPENSSL_cleanse(f->pending, f->pending_len);
    free(f->pending);
    free(f->pending_name);
    pthread_mutex_destroy(&f->lock);
    OPENSSL_cleanse(f, sizeof(*f));
    free(f);
}

/* ---- Redis, every call bounded ---- */

/* Forget the connection after a failure; no call until the retry time. */
static void redis_failed(struct fleet *f, const char *what, const char *reason)
{
    char why[128];

    /* `reason` may live in the context freed below. */
    snprintf(why, sizeof(why), "%s", reason && *reason ? reason : "unknown error");
    f->st.redis_failures++;
    f->retry_at_ms = clock_ms(CLOCK_MONOTONIC) + f->retry_ms;
    if (f->rc != NULL) {
        redisFree(f->rc);
        f->rc = NULL;
    }
    if (!f->down)
        flog(f, "redis %s%s%d unavailable (%s: %s); TLS goes on without it, retrying every %d ms",
             f->host, f->port ? ":" : "", f->port, what, why, f->retry_ms);
    f->down = 1;
}

/* Why the last call on `rc` failed. */
static void failure_text(struct fleet *f, const redisContext *rc, char *buf, size_t size)
{
    /* hiredis reports a timeout as EAGAIN (or, from 1.0, REDIS_ERR_TIMEOUT). */
    if (rc->err == REDIS_ERR_IO && strcmp(rc->errstr, strerror(EAGAIN)) == 0)
        snprintf(buf, size, "no reply within %d ms", f->timeout_ms);
    else
        snprintf(buf, size, "%s", rc->errstr[0] ? rc->errstr : "connection lost");
}

static redisContext *redis_conn(struct fleet *f)
{
    struct timeval tv;
    redisContext *rc;
    redisReply *r;

    if (f->rc != NULL)
        return f->rc;
    if (clock_ms(CLOCK_MONOTONIC) < f->retry_at_ms) {
        f->st.redis_skipped++;
        return NULL;
    }
    tv.tv_sec = f->timeout_ms / 1000;
    tv.tv_usec = (f->timeout_ms % 1000) * 1000;
    rc = f->port ? redisConnectWithTimeout(f->host, f->port, tv)
                 : redisConnectUnixWithTimeout(f->host, tv);
    if (rc == NULL) {
        redis_failed(f, "connect", "out of memory");
        return NULL;
    }
    f->rc = rc;
    if (rc->err) {
        redis_failed(f, "connect", rc->errstr);
        return NULL;
    }
    if (redisSetTimeout(rc, tv) != REDIS_OK) {
        redis_failed(f, "set timeout", rc->errstr);
        return NULL;
    }
    if (f->have_auth) {
        r = f->user[0] ? redisCommand(rc, "AUTH %s %s", f->user, f->password)
                       : redisCommand(rc, "AUTH %s", f->password);
        if (r == NULL) {
            char why[160];

            failure_text(f, rc, why, sizeof(why));
            redis_failed(f, "AUTH", why);
            return NULL;
        }
        if (r->type == REDIS_REPLY_ERROR) {
            char why[256];
            snprintf(why, sizeof(why), "%s", r->str ? r->str : "error");
            freeReplyObject(r);
            redis_failed(f, "AUTH", why);
            return NULL;
        }
        freeReplyObject(r);
    }
    if (f->down)
        flog(f, "redis %s%s%d reachable again", f->host, f->port ? ":" : "", f->port);
    f->down = 0;
    return rc;
}

/* One command; NULL on failure (counted, logged once per outage) or an
 * error reply (counted). The caller frees the reply. */
static redisReply *redis_call(struct fleet *f, int argc, const char **argv, const size_t *lens)
{
    redisContext *rc = redis_conn(f);
    redisReply *r;

    if (rc == NULL)
        return NULL;
    r = redisCommandArgv(rc, argc, argv, lens);
    if (r == NULL) {
        char why[160];

        failure_text(f, rc, why, sizeof(why));
        redis_failed(f, argv[0], why);
        return NULL;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        time_t now = time(NULL);

        /* E.g. NOPERM from an ACL that lacks a command: logged at most
         * once a second, counted always. */
        f->st.redis_errors++;
        if (now != f->last_error_log) {
            f->last_error_log = now;
            flog(f, "redis %s: %s", argv[0], r->str ? r->str : "error");
        }
        freeReplyObject(r);
        return NULL;
    }
    return r;
}

/* ---- wrapping ---- */

/* AES-256-GCM over `in` with the header and the name as additional data.
 * Decrypting checks `tag`; encrypting writes it. 1 or 0. */
static int gcm(int enc, const unsigned char *key, const unsigned char *header, const char *name,
               size_t name_len, const unsigned char *in, size_t len, unsigned char *out,
               unsigned char *tag)
{
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int ok = 0, n;

    if (c == NULL || len > 0x7fffffff || name_len > 0x7fffffff)
        goto out;
    if (EVP_CipherInit_ex(c, EVP_aes_256_gcm(), NULL, NULL, NULL, enc) != 1
        || EVP_CipherInit_ex(c, NULL, NULL, key, header + WRAP_NONCE_AT, enc) != 1
        || EVP_CipherUpdate(c, NULL, &n, header, WRAP_HEADER) != 1
        || (name_len > 0
            && EVP_CipherUpdate(c, NULL, &n, (const unsigned char *) name, (int) name_len) != 1)
        || (len > 0 && EVP_CipherUpdate(c, out, &n, in, (int) len) != 1))
        goto out;
    if (!enc && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_TAG, WRAP_TAG, tag) != 1)
        goto out;
    if (EVP_CipherFinal_ex(c, out + len, &n) != 1)
        goto out;
    if (enc && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_GET_TAG, WRAP_TAG, tag) != 1)
        goto out;
    ok = 1;
out:
    EVP_CIPHER_CTX_free(c);
    ERR_clear_error();
    return ok;
}

/* Wrap `len` bytes into a malloc'd value; NULL on failure. */
static unsigned char *wrap(struct fleet *f, int type, const char *name, size_t name_len,
                           const unsigned char *in, size_t len, uint64_t expires,
                           size_t *out_len)
{
    size_t total = WRAP_HEADER + len + WRAP_TAG;
    unsigned char *out = malloc(total);

    if (out == NULL)
        return NULL;
    memcpy(out, WRAP_MAGIC, 4);
    out[4] = WRAP_VERSION;
    out[5] = (unsigned char) type;
    out[6] = out[7] = 0;
    put_be64(out + 8, expires);
    if (RAND_bytes(out + WRAP_NONCE_AT, 12) != 1
        || !gcm(1, f->key, out, name, name_len, in, len, out + WRAP_HEADER,
                out + WRAP_HEADER + len)) {
        ERR_clear_error();
        free(out);
        return NULL;
    }
    *out_len = total;
    return out;
}

/* Check and unwrap `val` of type `type` into `out` (`max` bytes); the
 * plaintext length goes to *len and the expiry to *expires. */
static enum unwrap_status unwrap(struct fleet *f, int type, const char *name, size_t name_len,
                                 const unsigned char *val, size_t val_len, unsigned char *out,
                                 size_t max, size_t *len, uint64_t *expires)
{
    size_t n;

    if (val_len < WRAP_HEADER + WRAP_TAG || memcmp(val, WRAP_MAGIC, 4) != 0)
        return UNWRAP_CORRUPT;
    if (val[4] != WRAP_VERSION || val[5] != type || val[6] != 0 || val[7] != 0)
        return UNWRAP_FOREIGN;   /* another version or kind: not ours to read */
    n = val_len - WRAP_HEADER - WRAP_TAG;
    if (n > max)
        return UNWRAP_CORRUPT;
    if (!gcm(0, f->key, val, name, name_len, val + WRAP_HEADER, n, out,
             (unsigned char *) val + WRAP_HEADER + n)) {
        OPENSSL_cleanse(out, n);
        return UNWRAP_FOREIGN;
    }
    *len = n;
    *expires = get_be64(val + 8);
    return UNWRAP_OK;
}

/* Count an ignored value; log it (at most once a second). */
static void ignored(struct fleet *f, const char *why, const char *name, size_t name_len)
{
    time_t now = time(NULL);
    char shown[160];

    if (strcmp(why, "corrupt") == 0)
        f->st.ignored_corrupt++;
    else if (strcmp(why, "foreign") == 0)
        f->st.ignored_foreign++;
    else
        f->st.ignored_expired++;
    if (now - f->last_ignored_log >= LOG_IGNORED_EVERY) {
        f->last_ignored_log = now;
        printable(shown, sizeof(shown), name, name_len);
        flog(f, "ignored %s entry %s", why, shown);
    }
}

static const char *status_word(enum unwrap_status s)
{
    return s == UNWRAP_CORRUPT ? "corrupt" : "foreign";
}

/* ---- client session cache ---- */

static int session_name(struct fleet *f, const char *key, char *name, size_t size)
{
    int n = snprintf(name, size, "%ssc:%s", f->prefix, key);

    return n < 0 || (size_t) n >= size ? -1 : n;
}

static void clear_pending(struct fleet *f)
{
    if (f->pending != NULL)
        OPENSSL_cleanse(f->pending, f->pending_len);
    free(f->pending);
    free(f->pending_name);
    f->pending = NULL;
    f->pending_name = NULL;
    f->pending_len = 0;
}

static size_t cache_get_locked(struct fleet *f, const char *key, uint8_t *buf, size_t len)
{
    char name[NAME_MAX_LEN];
    const char *argv[2];
    size_t lens[2], plain_len = 0;
    uint64_t expires = 0;
    unsigned char *plain;
    redisReply *r;
    enum unwrap_status s;
    int nlen;

    /* The second call after "buffer too small": the value fetched then. */
    if (f->pending_name != NULL && strcmp(f->pending_name, key) == 0 && len >= f->pending_len) {
        size_t n = f->pending_len;
        memcpy(buf, f->pending, n);
        clear_pending(f);
        return n;
    }
    clear_pending(f);
    f->st.cache_gets++;
    if ((nlen = session_name(f, key, name, sizeof(name))) < 0) {
        f->st.cache_misses++;
        return 0;
    }
    argv[0] = "GET";
    lens[0] = 3;
    argv[1] = name;
    lens[1] = (size_t) nlen;
    if ((r = redis_call(f, 2, argv, lens)) == NULL) {
        f->st.cache_misses++;
        return 0;
    }
    if (r->type != REDIS_REPLY_STRING) {
        if (r->type != REDIS_REPLY_NIL)
            ignored(f, "corrupt", name, (size_t) nlen);
        freeReplyObject(r);
        f->st.cache_misses++;
        return 0;
    }
    if ((plain = malloc(FLEET_SESSION_MAX)) == NULL) {
        freeReplyObject(r);
        f->st.cache_misses++;
        return 0;
    }
    s = unwrap(f, TYPE_SESSION, name, (size_t) nlen, (const unsigned char *) r->str,
               (size_t) r->len, plain, FLEET_SESSION_MAX, &plain_len, &expires);
    freeReplyObject(r);
    if (s != UNWRAP_OK || expires <= (uint64_t) time(NULL) || plain_len == 0) {
        ignored(f, s != UNWRAP_OK ? status_word(s) : plain_len == 0 ? "corrupt" : "expired",
                name, (size_t) nlen);
        OPENSSL_cleanse(plain, FLEET_SESSION_MAX);
        free(plain);
        f->st.cache_misses++;
        return 0;
    }
    f->st.cache_hits++;
    if (plain_len <= len) {
        memcpy(buf, plain, plain_len);
    } else if ((f->pending_name = strdup(key)) != NULL) {
        f->pending = plain;
        f->pending_len = plain_len;
        return plain_len;
    }
    OPENSSL_cleanse(plain, plain_len);
    free(plain);
    return plain_len <= len ? plain_len : 0;
}

static size_t cache_get(void *userdata, const char *key, uint8_t *buf, size_t len)
{
    struct fleet *f = userdata;
    size_t n;

    pthread_mutex_lock(&f->lock);
    n = cache_get_locked(f, key, buf, len);
    pthread_mutex_unlock(&f->lock);
    return n;
}

static void cache_put(void *userdata, const char *key, const uint8_t *data, size_t len,
                      uint64_t expires)
{
    struct fleet *f = userdata;
    char name[NAME_MAX_LEN], ttl[32];
    const char *argv[5];
    size_t lens[5], wlen = 0;
    uint64_t now = (uint64_t) time(NULL);
    unsigned char *val = NULL;
    redisReply *r;
    int nlen;

    if (len == 0 || len > FLEET_SESSION_MAX || expires <= now)
        return;
    pthread_mutex_lock(&f->lock);
    clear_pending(f);
    if ((nlen = session_name(f, key, name, sizeof(name))) < 0
        || (val = wrap(f, TYPE_SESSION, name, (size_t) nlen, data, len, expires, &wlen)) == NULL)
        goto out;
    snprintf(ttl, sizeof(ttl), "%llu", (unsigned long long) (expires - now));
    argv[0] = "SET";
    argv[1] = name;
    argv[2] = (const char *) val;
    argv[3] = "EX";
    argv[4] = ttl;
    lens[0] = 3;
    lens[1] = (size_t) nlen;
    lens[2] = wlen;
    lens[3] = 2;
    lens[4] = strlen(ttl);
    if ((r = redis_call(f, 5, argv, lens)) != NULL) {
        f->st.cache_puts++;
        freeReplyObject(r);
    }
out:
    free(val);
    pthread_mutex_unlock(&f->lock);
}

static void cache_remove(void *userdata, const char *key)
{
    struct fleet *f = userdata;
    char name[NAME_MAX_LEN];
    const char *argv[2];
    size_t lens[2];
    redisReply *r;
    int nlen;

    pthread_mutex_lock(&f->lock);
    clear_pending(f);
    if ((nlen = session_name(f, key, name, sizeof(name))) >= 0) {
        argv[0] = "DEL";
        lens[0] = 3;
        argv[1] = name;
        lens[1] = (size_t) nlen;
        if ((r = redis_call(f, 2, argv, lens)) != NULL) {
            f->st.cache_removes++;
            freeReplyObject(r);
        }
    }
    pthread_mutex_unlock(&f->lock);
}

int fleet_attach_session_cache(struct fleet *f, mtatls_params *params)
{
    if (mtatls_params_set_session_cache(params, cache_get, cache_put, cache_remove, f)
        != MTATLS_RESULT_OK) {
        flog(f, "%s", mtatls_params_error(params));
        return -1;
    }
    return 0;
}

/* ---- ticket keys ---- */

static int key_name(struct fleet *f, uint64_t epoch, char *name, size_t size)
{
    int n = snprintf(name, size, "%stk:%llu:%llu", f->prefix, (unsigned long long) f->period,
                     (unsigned long long) epoch);

    return n < 0 || (size_t) n >= size ? -1 : n;
}

static struct slot *slot_for(struct slot *table, uint64_t epoch)
{
    struct slot *s = &table[epoch % 4];

    return s->state != SLOT_NONE && s->epoch == epoch ? s : NULL;
}

static void slot_set(struct slot *table, uint64_t epoch, enum slot_state state,
                     const unsigned char *key)
{
    struct slot *s = &table[epoch % 4];

    s->epoch = epoch;
    s->state = state;
    memcpy(s->key, key, MTATLS_TICKET_KEY_LEN);
}

/* Publisher: store the key of `epoch` unless one is there (SET NX), or
 * over an unusable one (`overwrite`). */
static void publish(struct fleet *f, uint64_t epoch, uint64_t now, int overwrite)
{
    unsigned char fresh[MTATLS_TICKET_KEY_LEN], *val;
    char name[NAME_MAX_LEN], ttl[32];
    const char *argv[6];
    size_t lens[6], wlen = 0;
    struct slot *mine = slot_for(f->made, epoch);
    redisReply *r;
    int nlen = key_name(f, epoch, name, sizeof(name));

    if (nlen < 0)
        return;
    if (mine == NULL) {
        /* Known already (from Redis)? Publish that one again. */
        struct slot *known = slot_for(f->slots, epoch);
        if (known != NULL && known->state == SLOT_REDIS) {
            slot_set(f->made, epoch, SLOT_LOCAL, known->key);
        } else {
            if (RAND_bytes(fresh, sizeof(fresh)) != 1) {
                ERR_clear_error();
                return;
            }
            slot_set(f->made, epoch, SLOT_LOCAL, fresh);
            OPENSSL_cleanse(fresh, sizeof(fresh));
        }
        mine = slot_for(f->made, epoch);
    }
    val = wrap(f, TYPE_TICKET_KEY, name, (size_t) nlen, mine->key, MTATLS_TICKET_KEY_LEN,
               (epoch + 1) * f->period, &wlen);
    if (val == NULL)
        return;
    /* Kept while it may decrypt, (epoch + 2) * period, and a minute. */
    snprintf(ttl, sizeof(ttl), "%llu", (unsigned long long) ((epoch + 2) * f->period + 60 - now));
    argv[0] = "SET";
    argv[1] = name;
    argv[2] = (const char *) val;
    argv[3] = "EX";
    argv[4] = ttl;
    argv[5] = "NX";
    lens[0] = 3;
    lens[1] = (size_t) nlen;
    lens[2] = wlen;
    lens[3] = 2;
    lens[4] = strlen(ttl);
    lens[5] = 2;
    r = redis_call(f, overwrite ? 5 : 6, argv, lens);
    if (r != NULL && r->type == REDIS_REPLY_STATUS) {
        if (overwrite) {
            f->st.keys_repaired++;
            flog(f, "ticket key entry of epoch %llu was unusable: replaced",
                 (unsigned long long) epoch);
        } else {
            f->st.keys_published++;
        }
    }
    if (r != NULL)
        freeReplyObject(r);
    free(val);
}

/* Read the keys of epochs now-1 .. now+1; returns the epochs (bit 0: n-1,
 * 1: n, 2: n+1) whose entries are there but unusable. */
static int fetch_keys(struct fleet *f, uint64_t n, uint64_t now)
{
    char names[3][NAME_MAX_LEN];
    const char *argv[4];
    size_t lens[4], i;
    redisReply *r;
    int bad = 0;

    argv[0] = "MGET";
    lens[0] = 4;
    for (i = 0; i < 3; i++) {
        int len = key_name(f, n - 1 + i, names[i], sizeof(names[i]));
        if (len < 0)
            return 0;
        argv[i + 1] = names[i];
        lens[i + 1] = (size_t) len;
    }
    if ((r = redis_call(f, 4, argv, lens)) == NULL)
        return 0;
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 3) {
        f->st.redis_errors++;
        freeReplyObject(r);
        return 0;
    }
    for (i = 0; i < 3; i++) {
        const redisReply *e = r->element[i];
        unsigned char key[MTATLS_TICKET_KEY_LEN];
        uint64_t epoch = n - 1 + i, expires = 0;
        size_t len = 0;
        enum unwrap_status s;

        if (e->type == REDIS_REPLY_NIL)
            continue;
        if (e->type != REDIS_REPLY_STRING) {
            ignored(f, "corrupt", names[i], lens[i + 1]);
            bad |= 1 << i;
            continue;
        }
        s = unwrap(f, TYPE_TICKET_KEY, names[i], lens[i + 1], (const unsigned char *) e->str,
                   (size_t) e->len, key, sizeof(key), &len, &expires);
        if (s == UNWRAP_OK && (len != MTATLS_TICKET_KEY_LEN || expires != (epoch + 1) * f->period))
            s = UNWRAP_FOREIGN;
        if (s != UNWRAP_OK) {
            ignored(f, status_word(s), names[i], lens[i + 1]);
            bad |= 1 << i;
        } else if (expires + f->period <= now) {
            ignored(f, "expired", names[i], lens[i + 1]);
        } else {
            struct slot *mine = slot_for(f->made, epoch);
            slot_set(f->slots, epoch, SLOT_REDIS, key);
            /* Another publisher won: publish its key from now on. */
            if (mine != NULL && memcmp(mine->key, key, sizeof(key)) != 0)
                slot_set(f->made, epoch, SLOT_LOCAL, key);
        }
        OPENSSL_cleanse(key, sizeof(key));
    }
    freeReplyObject(r);
    return bad;
}

static int install(struct fleet *f, const struct slot *s)
{
    mtatls_result r = mtatls_ctx_set_ticket_key(f->ctx, s->key, MTATLS_TICKET_KEY_LEN,
                                                (s->epoch + 1) * f->period);

    if (r != MTATLS_RESULT_OK) {
        flog(f, "cannot install ticket key: %s", mtatls_result_name(r));
        return -1;
    }
    f->st.keys_installed++;
    return 0;
}

static void hex8(char *out, const unsigned char *name)
{
    snprintf(out, 17, "%02x%02x%02x%02x%02x%02x%02x%02x", name[0], name[1], name[2], name[3],
             name[4], name[5], name[6], name[7]);
}

/* Make the library's ring [key of epoch n, key of epoch n-1]. */
static void install_epoch(struct fleet *f, uint64_t n)
{
    struct slot *cur = slot_for(f->slots, n), *prev = slot_for(f->slots, n - 1);
    char shown[17], shown_prev[17];

    if (cur == NULL) {
        /* The previous epoch's key still encrypts and decrypts for this
         * period; nothing installed yet: the library's own keys serve. */
        if (!f->installed || f->inst_epoch + 1 >= n)
            return;
        /* Redis has been out of reach for more than a period: a key of
         * this host alone, until the fleet's is back. */
        {
            unsigned char fresh[MTATLS_TICKET_KEY_LEN];
            if (RAND_bytes(fresh, sizeof(fresh)) != 1) {
                ERR_clear_error();
                return;
            }
            slot_set(f->slots, n, SLOT_LOCAL, fresh);
            OPENSSL_cleanse(fresh, sizeof(fresh));
        }
        cur = slot_for(f->slots, n);
        f->st.keys_local++;
        flog(f, "no shared ticket key for epoch %llu: using a key of this host only",
             (unsigned long long) n);
    }
    if (f->installed && f->inst_epoch == n && memcmp(f->inst_name, cur->key, 16) == 0
        && (prev == NULL || memcmp(f->inst_prev_name, prev->key, 16) == 0))
        return;
    if (prev != NULL && install(f, prev) < 0)
        return;
    if (install(f, cur) < 0)
        return;
    if (prev != NULL)
        memcpy(f->inst_prev_name, prev->key, 16);
    memcpy(f->inst_name, cur->key, 16);
    f->inst_epoch = n;
    f->installed = 1;
    hex8(shown, cur->key);
    if (prev != NULL)
        hex8(shown_prev, prev->key);
    flog(f, "ticket key of epoch %llu installed (%s, name %s..., expires %llu), previous %s%s",
         (unsigned long long) n, cur->state == SLOT_REDIS ? "shared" : "this host only", shown,
         (unsigned long long) ((n + 1) * f->period), prev ? shown_prev : "none",
         prev ? "..." : "");
}

int fleet_attach_tickets(struct fleet *f, mtatls_ctx *ctx, uint64_t period, int publisher,
                         int refresh_s)
{
    if (period == 0) {
        flog(f, "session cache timeout 0: no tickets to share");
        return -1;
    }
    pthread_mutex_lock(&f->lock);
    f->ctx = ctx;
    f->period = period;
    f->publisher = publisher;
    f->refresh_s = refresh_s > 0 ? refresh_s : 1;
    f->next_refresh_ms = 0;
    pthread_mutex_unlock(&f->lock);
    return 0;
}

long fleet_tick(struct fleet *f)
{
    int64_t now_ms = clock_ms(CLOCK_REALTIME), boundary_ms;
    uint64_t now = (uint64_t) (now_ms / 1000), n;
    long wait;

    pthread_mutex_lock(&f->lock);
    if (f->ctx == NULL) {
        pthread_mutex_unlock(&f->lock);
        return 3600 * 1000L;
    }
    n = now / f->period;
    if (now_ms >= f->next_refresh_ms) {
        int bad;
        f->next_refresh_ms = now_ms + (int64_t) f->refresh_s * 1000;
        if (f->publisher) {
            publish(f, n, now, 0);
            publish(f, n + 1, now, 0);
        }
        bad = fetch_keys(f, n, now);
        if (f->publisher && (bad & 6)) {
            if (bad & 2)
                publish(f, n, now, 1);
            if (bad & 4)
                publish(f, n + 1, now, 1);
            (void) fetch_keys(f, n, now);
        }
    }
    install_epoch(f, n);
    boundary_ms = (int64_t) ((n + 1) * f->period) * 1000;
    wait = (long) ((f->next_refresh_ms < boundary_ms ? f->next_refresh_ms : boundary_ms) - now_ms);
    pthread_mutex_unlock(&f->lock);
    return wait > 0 ? wait : 1;
}

void fleet_get_stats(struct fleet *f, struct fleet_stats *out)
{
    pthread_mutex_lock(&f->lock);
    *out = f->st;
    pthread_mutex_unlock(&f->lock);
}

void fleet_log_stats(struct fleet *f)
{
    struct fleet_stats s;

    fleet_get_stats(f, &s);
    flog(f,
         "stats: cache get=%lu hit=%lu miss=%lu put=%lu remove=%lu; "
         "keys installed=%lu published=%lu repaired=%lu local=%lu; "
         "redis failures=%lu skipped=%lu errors=%lu; "
         "ignored corrupt=%lu foreign=%lu expired=%lu",
         s.cache_gets, s.cache_hits, s.cache_misses, s.cache_puts, s.cache_removes,
         s.keys_installed, s.keys_published, s.keys_repaired, s.keys_local, s.redis_failures,
         s.redis_skipped, s.redis_errors, s.ignored_corrupt, s.ignored_foreign,
         s.ignored_expired);
}
