/*
 * sessions.c - sessions beyond the first handshake, through the C API:
 *  - an event loop: client and server driven by ONE thread with poll(),
 *    every call in non-blocking mode (MTATLS_TIMEOUT_NONBLOCK), as a host
 *    with its own event loop (Postfix's tlsproxy) would;
 *  - resumption: client session cache keyed by server id, kept in a store
 *    of the host's own (get/put/remove callbacks), TLS 1.3 tickets;
 *  - ticket keys installed by the host and shared by two server contexts;
 *  - SNI: the host's own lookup (mtatls_params_set_sni_callback) picks the
 *    tls_server_sni_maps entry whose chain the server presents.
 *
 * usage: sessions KEYDIR
 */
#define _POSIX_C_SOURCE 200809L

#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

static void quiet(void *userdata, int level, const char *line)
{
    (void) userdata;
    (void) level;
    (void) line;
}

/* ---- a host session store: one slot is enough for this test ---- */
struct store {
    char key[512];
    unsigned char data[16384];
    size_t len;
    int gets, puts, removes;
};

static size_t store_get(void *userdata, const char *key, unsigned char *buf, size_t len)
{
    struct store *st = userdata;
    st->gets++;
    if (st->len == 0 || strcmp(key, st->key) != 0)
        return 0;
    if (st->len <= len)
        memcpy(buf, st->data, st->len);
    return st->len;
}

static void store_put(void *userdata, const char *key, const unsigned char *data, size_t len, uint64_t expires)
{
    struct store *st = userdata;
    (void) expires;
    st->puts++;
    if (len > sizeof(st->data) || strlen(key) >= sizeof(st->key))
        return;
    snprintf(st->key, sizeof(st->key), "%s", key);
    memcpy(st->data, data, len);
    st->len = len;
}

static void store_remove(void *userdata, const char *key)
{
    struct store *st = userdata;
    st->removes++;
    if (strcmp(key, st->key) == 0)
        st->len = 0;
}

static mtatls_ctx *make_ctx(const char *role, const char *keydir, struct store *st)
{
    mtatls_params *p = NULL;
    mtatls_ctx *ctx = NULL;
    char chain[1024];

    if (mtatls_params_new(&p) != MTATLS_RESULT_OK)
        return NULL;
    mtatls_params_set_log_callback(p, quiet, NULL);
    snprintf(chain, sizeof(chain), "%s/rsa.pem", keydir);
    mtatls_params_set(p, "smtpd_tls_security_level", "may");
    mtatls_params_set(p, "smtpd_tls_chain_files", chain);
    mtatls_params_set(p, "smtp_tls_security_level", "may");
    if (st)
        mtatls_params_set_session_cache(p, store_get, store_put, store_remove, st);
    if (mtatls_ctx_new(p, role, &ctx) != MTATLS_RESULT_OK)
        printf("ctx %s: %s\n", role, mtatls_params_error(p));
    mtatls_params_free(p);
    return ctx;
}

/* ---- the host's SNI lookup: every name under .customer.test gets the
   chain of the table's mail.example.test entry; it counts its calls ---- */
static bool sni_select(void *userdata, const char *servername, char *key, size_t len)
{
    const char *suffix = ".customer.test";
    size_t n = strlen(servername), k = strlen(suffix);

    ++*(int *) userdata;
    if (n <= k || strcmp(servername + n - k, suffix) != 0)
        return false;
    snprintf(key, len, "%s", "mail.example.test");
    return true;
}

static mtatls_ctx *make_sni_server(const char *keydir, int *calls)
{
    mtatls_params *p = NULL;
    mtatls_ctx *ctx = NULL;
    char chain[1024], table[1200];

    if (mtatls_params_new(&p) != MTATLS_RESULT_OK)
        return NULL;
    mtatls_params_set_log_callback(p, quiet, NULL);
    snprintf(chain, sizeof(chain), "%s/rsa.pem", keydir);
    snprintf(table, sizeof(table), "inline:{ mail.example.test = %s/ecdsa.pem }", keydir);
    mtatls_params_set(p, "smtpd_tls_security_level", "may");
    mtatls_params_set(p, "smtpd_tls_chain_files", chain);
    mtatls_params_set(p, "tls_server_sni_maps", table);
    expect_int("sni callback set", mtatls_params_set_sni_callback(p, sni_select, calls), MTATLS_RESULT_OK);
    if (mtatls_ctx_new(p, "smtpd", &ctx) != MTATLS_RESULT_OK)
        printf("ctx smtpd (sni): %s\n", mtatls_params_error(p));
    mtatls_params_free(p);
    return ctx;
}

/* One step of a non-blocking call: 1 done, 0 wants I/O (events set), -1 failed. */
static int step(mtatls_result r, short *events)
{
    if (r == MTATLS_RESULT_OK)
        return 1;
    if (r == MTATLS_RESULT_WANT_READ) {
        *events = POLLIN;
        return 0;
    }
    if (r == MTATLS_RESULT_WANT_WRITE) {
        *events = POLLOUT;
        return 0;
    }
    return -1;
}

/*
 * One connection driven by one thread: both handshakes (the client asks
 * for `servername` when not NULL), then the server
 * sends a line the client reads (this also delivers TLS 1.3 tickets), then
 * both stop. Every call is non-blocking; poll() waits for whichever side
 * needs the socket. Returns 0 and fills *reused on success, and, when not
 * NULL, the server signature the client saw and the SNI name the server
 * matched (32 and 256 bytes).
 */
static int sni_connection(mtatls_ctx *server, mtatls_ctx *client, const char *servername, int *client_reused,
                          int *server_reused, char *srvr_sig, char *sni);

/* The event loop with no SNI name and only the reuse facts. */
static int event_loop_connection(mtatls_ctx *server, mtatls_ctx *client, int *client_reused, int *server_reused)
{
    return sni_connection(server, client, NULL, client_reused, server_reused, NULL, NULL);
}

static int sni_connection(mtatls_ctx *server, mtatls_ctx *client, const char *servername, int *client_reused,
                          int *server_reused, char *srvr_sig, char *sni)
{
    int sv[2], rounds;
    mtatls_session *s = NULL, *c = NULL;
    int s_phase = 0, c_phase = 0, rc = -1;
    short s_events = POLLIN, c_events = POLLOUT;
    const char line[] = "250 event loop\r\n";
    unsigned char buf[64];
    size_t got = 0, n;

    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
        return -1;
    if (mtatls_session_new(server, sv[0], "localhost[127.0.0.1]", &s) != MTATLS_RESULT_OK
        || mtatls_session_new(client, sv[1], "localhost[127.0.0.1]:25", &c) != MTATLS_RESULT_OK
        || mtatls_session_set_serverid(c, "[localhost]:25") != MTATLS_RESULT_OK
        || (servername && mtatls_session_set_servername(c, servername) != MTATLS_RESULT_OK))
        goto out;
    /* Phases: 0 handshake, 1 data, 2 stop, 3 done. Bounded: no busy loop. */
    for (rounds = 0; rounds < 1000 && (s_phase < 3 || c_phase < 3); rounds++) {
        struct pollfd pfd[2];
        int r;

        if (s_phase == 0 && (r = step(mtatls_session_handshake(s, MTATLS_TIMEOUT_NONBLOCK), &s_events)) != 0)
            s_phase = r > 0 ? 1 : 9;
        if (s_phase == 1 && (r = step(mtatls_session_write(s, (const unsigned char *) line, strlen(line),
                                                           MTATLS_TIMEOUT_NONBLOCK, &n), &s_events)) != 0)
            s_phase = r > 0 ? 2 : 9;
        if (s_phase == 2 && (r = step(mtatls_session_stop(s, MTATLS_TIMEOUT_NONBLOCK), &s_events)) != 0)
            s_phase = r > 0 ? 3 : 9;
        if (c_phase == 0 && (r = step(mtatls_session_handshake(c, MTATLS_TIMEOUT_NONBLOCK), &c_events)) != 0)
            c_phase = r > 0 ? 1 : 9;
        while (c_phase == 1) {
            r = step(mtatls_session_read(c, buf + got, sizeof(buf) - got - 1, MTATLS_TIMEOUT_NONBLOCK, &n),
                     &c_events);
            if (r < 0)
                c_phase = 9;
            if (r <= 0)
                break;
            got += n;
            if (n == 0 || (got > 0 && buf[got - 1] == '\n'))
                c_phase = 2;
        }
        if (c_phase == 2 && (r = step(mtatls_session_stop(c, MTATLS_TIMEOUT_NONBLOCK), &c_events)) != 0)
            c_phase = r > 0 ? 3 : 9;
        if (s_phase == 9 || c_phase == 9) {
            printf("event loop: server %s / client %s\n", mtatls_session_error(s), mtatls_session_error(c));
            goto out;
        }
        pfd[0].fd = sv[0];
        pfd[0].events = s_phase < 3 ? s_events : 0;
        pfd[1].fd = sv[1];
        pfd[1].events = c_phase < 3 ? c_events : 0;
        if (s_phase < 3 || c_phase < 3)
            poll(pfd, 2, 2000);
    }
    buf[got] = 0;
    expect_str("line through the event loop", (const char *) buf, line);
    if (s_phase == 3 && c_phase == 3) {
        *client_reused = mtatls_session_get_facts(c)->reused;
        *server_reused = mtatls_session_get_facts(s)->reused;
        if (srvr_sig)
            snprintf(srvr_sig, 32, "%s", mtatls_session_get_facts(c)->srvr_sig_name);
        if (sni)
            snprintf(sni, 256, "%s", mtatls_session_get_facts(s)->peer_sni);
        rc = 0;
    }
out:
    mtatls_session_free(s);
    mtatls_session_free(c);
    close(sv[0]);
    close(sv[1]);
    return rc;
}

int main(int argc, char **argv)
{
    struct store st;
    mtatls_ctx *server, *server2, *other, *client;
    unsigned char key[MTATLS_TICKET_KEY_LEN];
    int creused = -1, sreused = -1;
    size_t i;

    if (argc < 2) {
        fprintf(stderr, "usage: %s KEYDIR\n", argv[0]);
        return 2;
    }
    memset(&st, 0, sizeof(st));
    server = make_ctx("smtpd", argv[1], NULL);
    server2 = make_ctx("smtpd", argv[1], NULL);
    other = make_ctx("smtpd", argv[1], NULL);
    client = make_ctx("smtp", argv[1], &st);
    if (!server || !server2 || !other || !client)
        return 1;

    /* The same host key in two server contexts (two smtpd processes). */
    for (i = 0; i < sizeof(key); i++)
        key[i] = (unsigned char) (i * 7 + 3);
    expect_int("ticket key (server)", mtatls_ctx_set_ticket_key(server, key, sizeof(key), 4102444800u), 0);
    expect_int("ticket key (server2)", mtatls_ctx_set_ticket_key(server2, key, sizeof(key), 4102444800u), 0);
    expect_int("ticket key (short)", mtatls_ctx_set_ticket_key(server, key, 10, 1), MTATLS_RESULT_INVALID_ARGUMENT);
    expect_int("ticket key (client ctx)", mtatls_ctx_set_ticket_key(client, key, sizeof(key), 1),
               MTATLS_RESULT_BAD_STATE);

    expect_int("first connection", event_loop_connection(server, client, &creused, &sreused), 0);
    expect_int("first: not resumed", creused, 0);
    expect_int("session saved in the host's store", st.puts > 0, 1);
    expect_int("second connection", event_loop_connection(server, client, &creused, &sreused), 0);
    expect_int("second: client resumed", creused, 1);
    expect_int("second: server resumed", sreused, 1);
    expect_int("third connection (other process, same key)",
               event_loop_connection(server2, client, &creused, &sreused), 0);
    expect_int("third: resumed across servers", sreused, 1);
    expect_int("fourth connection (server with its own key)",
               event_loop_connection(other, client, &creused, &sreused), 0);
    expect_int("fourth: full handshake", sreused, 0);
    expect_int("store was read", st.gets >= 4, 1);

    /* SNI through the host's callback. */
    {
        int calls = 0;
        char sig[32], sni[256];
        mtatls_ctx *sni_server = make_sni_server(argv[1], &calls);
        mtatls_ctx *sni_client = make_ctx("smtp", argv[1], NULL);
        const char *names[] = { "a.customer.test", "mail.example.test" };
        const char *want_sig[] = { "ECDSA", "RSA-PSS" };
        const char *want_sni[] = { "a.customer.test", "" };

        expect_int("sni contexts", sni_server != NULL && sni_client != NULL, 1);
        for (i = 0; sni_server && sni_client && i < 2; i++) {
            char what[128];

            snprintf(what, sizeof(what), "sni %s: connection", names[i]);
            expect_int(what, sni_connection(sni_server, sni_client, names[i], &creused, &sreused, sig, sni), 0);
            snprintf(what, sizeof(what), "sni %s: server signature", names[i]);
            expect_str(what, sig, want_sig[i]);
            snprintf(what, sizeof(what), "sni %s: server's matched name", names[i]);
            expect_str(what, sni, want_sni[i]);
        }
        expect_int("sni callback called for each name", calls, 2);
        mtatls_ctx_free(sni_server);
        mtatls_ctx_free(sni_client);
    }

    mtatls_ctx_free(server);
    mtatls_ctx_free(server2);
    mtatls_ctx_free(other);
    mtatls_ctx_free(client);
    printf("sessions: %d failed checks\n", harness_failures);
    return harness_failures == 0 ? 0 : 1;
}
