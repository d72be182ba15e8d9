/*
 * mtatls-fsreport - every path to a session without forward secrecy in a
 * Postfix configuration, as mtatls builds it.
 *
 * usage: mtatls-fsreport [-c main.cf] [-o name=value]... [-j] [smtp|lmtp|smtpd]
 *
 * Prints the protocol range, the cipher suites OpenSSL will offer in
 * preference order (marked forward-secret or not), the TLS 1.3 suites, the
 * key-exchange groups, the DH parameters and a verdict naming the parameter
 * to change; -j prints the same as JSON. The role defaults to smtpd. A
 * server without a configured certificate is reported with a self-signed
 * RSA one (said on stderr). Exit status: 0 when every negotiable session
 * is forward-secret, 1 when not, 2 on usage or configuration errors.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "smtp_io.h"

#define PROG "mtatls-fsreport"

static void usage(void)
{
    fprintf(stderr, "usage: %s [-c main.cf] [-o name=value]... [-j] [smtp|lmtp|smtpd]\n", PROG);
    exit(2);
}

int main(int argc, char **argv)
{
    static const char *const defaults[] = {
        "smtpd_tls_security_level=may", "smtp_tls_security_level=may", "lmtp_tls_security_level=may", NULL,
    };
    struct param_args args;
    mtatls_params *params;
    mtatls_ctx *ctx = NULL;
    const char *role = "smtpd";
    char dir[] = "/tmp/mtatls-fsreport.XXXXXX", path[64] = "";
    char *text;
    size_t need;
    int json = 0, ch, status;

    memset(&args, 0, sizeof(args));
    while ((ch = getopt(argc, argv, "c:o:j")) != -1) {
        if (ch == 'j')
            json = 1;
        else if (ch == 'c' || ch == 'o') {
            if (param_args_add(&args, PROG, ch, optarg) < 0)
                return 2;
        } else
            usage();
    }
    if (optind < argc)
        role = argv[optind++];
    if (optind < argc || (strcmp(role, "smtp") && strcmp(role, "lmtp") && strcmp(role, "smtpd")))
        usage();
    if ((params = param_args_build(&args, PROG, defaults)) == NULL)
        return 2;
    if (strcmp(role, "smtpd") == 0 && !param_is_set(params, "smtpd_tls_chain_files")
        && !param_is_set(params, "smtpd_tls_cert_file")) {
        if (mkdtemp(dir) == NULL) {
            fprintf(stderr, "%s: mkdtemp: %s\n", PROG, strerror(errno));
            return 2;
        }
        snprintf(path, sizeof(path), "%s/rsa.pem", dir);
        fprintf(stderr, "%s: no server certificate configured: reporting with a self-signed RSA-2048 one\n", PROG);
        if (mtatls_params_self_signed(params, "localhost", path) != MTATLS_RESULT_OK) {
            fprintf(stderr, "%s: %s\n", PROG, mtatls_params_error(params));
            return 2;
        }
    }
    if (mtatls_ctx_new(params, role, &ctx) != MTATLS_RESULT_OK) {
        fprintf(stderr, "%s: %s\n", PROG, mtatls_params_error(params));
        status = 2;
        goto out;
    }
    need = mtatls_ctx_fs_report(ctx, json, NULL, 0);
    if ((text = malloc(need + 1)) == NULL) {
        status = 2;
        goto out;
    }
    mtatls_ctx_fs_report(ctx, json, text, need + 1);
    fputs(text, stdout);
    if (json)
        fputc('\n', stdout);
    status = strstr(text, json ? "\"all_forward_secret\":true" : "every negotiable session is forward-secret")
        ? 0 : 1;
    free(text);
out:
    mtatls_ctx_free(ctx);
    mtatls_params_free(params);
    param_args_free(&args);
    if (path[0]) {
        unlink(path);
        rmdir(dir);
    }
    return status;
}
