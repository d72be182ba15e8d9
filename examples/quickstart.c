/*
 * quickstart.c - the smallest complete mtatls program: a server and a
 * client context from Postfix parameters, one STARTTLS-style handshake
 * between a parent (server) and a child process (client) over a
 * socketpair, one line of data each way, and the Postfix lines both
 * sides print: the summary ("... TLS connection established ...") and the
 * server's Received: header comment.
 *
 *   cc quickstart.c $(pkg-config --cflags --libs mtatls) -o quickstart
 *   ./quickstart
 *
 * (Before the handshake a real daemon speaks plain SMTP up to "220 2.0.0
 * Ready to start TLS" on the same descriptor; see mtatls-smtpd.c.)
 */
#define _POSIX_C_SOURCE 200809L

#include <mtatls.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

/* Print the library's message for a failed call and exit. */
static void check(mtatls_result r, const char *what, const char *detail)
{
    if (r != MTATLS_RESULT_OK) {
        fprintf(stderr, "quickstart: %s: %s: %s\n", what, mtatls_result_name(r),
                detail ? detail : "");
        exit(1);
    }
}

/* Handshake on fd as the context's role (`who` names it in the output),
   say one line, read one, stop. */
static void run(const char *who, const mtatls_ctx *ctx, int fd, const char *peer, const char *say)
{
    mtatls_session *s = NULL;
    char line[2048];
    uint8_t buf[256];
    size_t n = 0;

    check(mtatls_session_new(ctx, fd, peer, &s), "session", NULL);
    check(mtatls_session_handshake(s, MTATLS_TIMEOUT_DEFAULT), "handshake",
          mtatls_session_error(s));
    /* The summary line is also logged (stderr by default) at loglevel 1;
       here it is also formatted into a buffer. */
    mtatls_session_summary(s, line, sizeof(line));
    printf("%s: %s\n", who, line);
    if (mtatls_session_received_comment(s, line, sizeof(line)) > 0)
        printf("%s: Received: header comment:\n%s\n", who, line);
    check(mtatls_session_write(s, (const uint8_t *) say, strlen(say), MTATLS_TIMEOUT_DEFAULT, &n),
          "write", mtatls_session_error(s));
    check(mtatls_session_read(s, buf, sizeof(buf) - 1, MTATLS_TIMEOUT_DEFAULT, &n), "read",
          mtatls_session_error(s));
    buf[n] = 0;
    printf("%s: read through TLS: %s", who, (char *) buf);
    mtatls_session_stop(s, MTATLS_TIMEOUT_DEFAULT);
    mtatls_session_free(s); /* never closes fd */
}

int main(void)
{
    mtatls_params *p = NULL;
    mtatls_ctx *server = NULL, *client = NULL;
    char cert[] = "/tmp/quickstart-XXXXXX";
    int fds[2], status = 1, cert_fd;
    pid_t child;

    printf("%s\n", mtatls_version());
    check(mtatls_params_new(&p), "params", NULL);
    /* Any main.cf can be read as it is: mtatls_params_load_file(p, path). */
    check(mtatls_params_set(p, "smtpd_tls_security_level", "may"), "set", mtatls_params_error(p));
    check(mtatls_params_set(p, "smtp_tls_security_level", "may"), "set", mtatls_params_error(p));
    check(mtatls_params_set(p, "smtpd_tls_received_header", "yes"), "set", mtatls_params_error(p));
    /* No certificate configured: make a self-signed one (RSA-2048). */
    if ((cert_fd = mkstemp(cert)) < 0) {
        perror("mkstemp");
        return 1;
    }
    close(cert_fd);
    check(mtatls_params_self_signed(p, "localhost", cert), "self-signed", mtatls_params_error(p));
    check(mtatls_ctx_new(p, "smtpd", &server), "server context", mtatls_params_error(p));
    check(mtatls_ctx_new(p, "smtp", &client), "client context", mtatls_params_error(p));
    unlink(cert); /* every file is read when the context is built */

    if (socketpair(AF_UNIX, SOCK_STREAM, 0, fds) != 0) {
        perror("socketpair");
        return 1;
    }
    fflush(stdout);
    if ((child = fork()) < 0) {
        perror("fork");
        return 1;
    }
    if (child == 0) {
        close(fds[0]);
        run("client", client, fds[1], "localhost[127.0.0.1]:25", "250 client says hello\n");
        fflush(stdout);
        _exit(0);
    }
    close(fds[1]);
    run("server", server, fds[0], "localhost[127.0.0.1]", "220 server says hello\n");
    close(fds[0]);
    if (waitpid(child, &status, 0) != child || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return 1;
    mtatls_ctx_free(client);
    mtatls_ctx_free(server);
    mtatls_params_free(p);
    return 0;
}
