/*
 * bench.h - the mtatls benchmark harness: one interface, two
 * implementations of the same TLS work.
 *
 *   A (impl_a.c): through the mtatls C API (include/mtatls.h).
 *   B (impl_b.c): libssl called directly, configured as mtatls configures
 *                 OpenSSL for the same Postfix parameters.
 *
 * Both run over the same socketpairs with the same keys, groups and
 * protocol limits; the client checks the server's chain against the same
 * CAfile in both (verify mode NONE plus reading the verify result, as
 * mtatls and Postfix do at level "may").
 */
#ifndef BENCH_H
#define BENCH_H

#include <stddef.h>

/* Results of the I/O calls (mirroring mtatls_result's meaning). */
#define RC_OK 0
#define RC_WANT_READ 1
#define RC_WANT_WRITE 2
#define RC_ERR (-1)

/* Timeout of blocking calls (seconds); 0 = non-blocking (want read/write). */
#define IO_TIMEOUT 10

/* What one case configures, in Postfix terms (A) and OpenSSL terms (B). */
struct bcfg {
    const char *keydir;
    /* Server chain files (names in keydir), comma separated. */
    const char *server_chain;
    /* smtpd_tls_dh1024_param_file (name in keydir), NULL: auto. */
    const char *server_dh;
    /* tls_eecdh_auto_curves / tls_ffdhe_auto_groups; NULL: Postfix defaults. */
    const char *eecdh;
    const char *ffdhe;
    /* The same groups as an OpenSSL list, for B. */
    const char *groups;
    /* Client offers TLS 1.0..1.2 only (smtp_tls_protocols = <=TLSv1.2). */
    int client_max_tls12;
    /* smtp_tls_exclude_ciphers (Postfix list), NULL: none; the same as the
     * OpenSSL cipher-list suffix B appends (":!aNULL:!kECDHE"). */
    const char *client_exclude;
    const char *b_exclude;
    /* B only: leave SSL_MODE_RELEASE_BUFFERS off. */
    int no_release_buffers;
    /* Client: resume sessions (A: a server id on every session, so the
     * library's session cache is used; B: a Postfix-style cache). */
    int resume;
    /* B' (with resume): raw OpenSSL's client keeps the SSL_SESSION object
     * itself (a reference; SSL_set_session on it) instead of DER. */
    int b_objects;
    /* A only: mtatls_postfix_release, NULL: the library's default (group
     * names OpenSSL knows only from a provider, such as X25519MLKEM768,
     * need 3.10 or later, as in Postfix). */
    const char *release;
};

struct bimpl {
    const char *name;
    void *(*ctx_new)(const struct bcfg *cfg, int server);
    void (*ctx_free)(void *ctx);
    void *(*sess_new)(void *ctx, int fd, int server);
    int (*handshake)(void *s, int timeout);
    int (*read)(void *s, void *buf, size_t len, int timeout, size_t *got);
    int (*write)(void *s, const void *buf, size_t len, int timeout);
    int (*stop)(void *s, int timeout);
    void (*sess_free)(void *s);
    /* After the handshake (client side): "PROTO CIPHER KEX SIG DIGEST
     * trusted|untrusted reused|new" with the same spelling for A and B. */
    void (*describe)(void *s, char *buf, size_t len);
    /* The last error of a session, for messages. */
    const char *(*error)(void *s);
};

extern const struct bimpl impl_a;
extern const struct bimpl impl_b;

/* B: the openssl version string. */
const char *b_openssl_version(void);

/* B: whether B's OpenSSL accepts the group list `groups`. */
int b_groups_supported(const char *groups);

/* Count of library log lines A received (there should be none). */
extern volatile long a_log_lines;

/* Floor: one connection of raw OpenSSL over an in-memory BIO pair with
 * B's contexts, one thread driving both ends; 0 on success. */
int b_floor_conn(void *sctx, void *cctx);

/* Context-init workloads (one init + free each); 0 on success. */
int a_init_from_main_cf(const char *main_cf, int server);
int b_init_like_main_cf(const char *keydir, int server);

/* Shared helpers (mtabench.c). */
void die(const char *fmt, ...);
char *key_path(const char *keydir, const char *name);

/* The medium cipher list of Postfix 3.8 (tls_medium_cipherlist). */
#define MEDIUM_CIPHERS \
    "aNULL:-aNULL:HIGH:MEDIUM:!SEED:!IDEA:!3DES:!RC2:!RC4:!RC5:!kDH:!kECDH:!aDSS:!MD5:+RC4:@STRENGTH"
/* tls_eecdh_auto_curves + tls_ffdhe_auto_groups defaults, as OpenSSL names. */
#define DEFAULT_GROUPS "X25519:X448:prime256v1:secp521r1:secp384r1:ffdhe2048:ffdhe3072"

#endif
