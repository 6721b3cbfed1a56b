/*
 * args.c — strict parsing of the CLI's option values, the getopt_long loop every command runs and
 * its error messages.
 *
 * strtod and strtoull alone accept too much for a command line: "nan" and "inf" parse as numbers
 * (and casting them to an integer is undefined behaviour), strtoull negates "-1" into a huge
 * value and skips leading blanks, and a cast silently truncates "1.5". Every value here must be
 * consumed entirely and fall inside the option's range, otherwise the message names the option
 * and the value and the command exits with 2.
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

int vkt_cli_u64(const char *cmd, const char *opt, const char *v, uint64_t lo, uint64_t hi,
                uint64_t *out)
{
    char *end = NULL;
    errno = 0;
    /* a leading digit rules out blanks, signs and the empty string */
    unsigned long long x = isdigit((unsigned char)v[0]) ? strtoull(v, &end, 10) : 0;
    if (!end || *end || errno || x < lo || x > hi) {
        fprintf(stderr, "%s: %s takes an integer in [%llu, %llu], not '%s'\n", cmd, opt,
                (unsigned long long)lo, (unsigned long long)hi, v);
        return 2;
    }
    *out = x;
    return 0;
}

int vkt_cli_u32(const char *cmd, const char *opt, const char *v, uint32_t lo, uint32_t hi,
                uint32_t *out)
{
    uint64_t x;
    int rc = vkt_cli_u64(cmd, opt, v, lo, hi, &x);
    if (rc == 0) {
        *out = (uint32_t)x;
    }
    return rc;
}

int vkt_cli_float(const char *cmd, const char *opt, const char *v, double lo, double hi,
                  float *out)
{
    char *end = NULL;
    errno = 0;
    double x = v[0] && !isspace((unsigned char)v[0]) ? strtod(v, &end) : NAN;
    /* isfinite also rejects "nan" and "inf", which strtod accepts; the range check runs on the
     * float actually used so that a value that overflows to inf as a float is refused too */
    float f = (float)x;
    if (!end || *end || errno || !isfinite(x) || !isfinite(f) || x < lo || x > hi) {
        fprintf(stderr, "%s: %s takes a finite number in [%g, %g], not '%s'\n", cmd, opt, lo, hi,
                v);
        return 2;
    }
    *out = f;
    return 0;
}

int vkt_cli_u32_list(const char *cmd, const char *opt, const char *v, uint32_t lo, uint32_t hi,
                     uint32_t *out, int max, int *n)
{
    int count = 0;
    const char *p = v;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (len == 0) {
            fprintf(stderr, "%s: %s has an empty item in '%s'\n", cmd, opt, v);
            return 2;
        }
        if (count == max) {
            fprintf(stderr, "%s: %s takes at most %d items, '%s' has more\n", cmd, opt, max, v);
            return 2;
        }
        char item[32];
        if (len >= sizeof item) {
            fprintf(stderr, "%s: %s: item '%.*s' is not an integer in [%u, %u]\n", cmd, opt,
                    (int)len, p, lo, hi);
            return 2;
        }
        memcpy(item, p, len);
        item[len] = '\0';
        char what[64];
        snprintf(what, sizeof what, "%s item %d", opt, count + 1);
        if (vkt_cli_u32(cmd, what, item, lo, hi, &out[count]) != 0) {
            return 2;
        }
        count++;
        if (!comma) {
            break;
        }
        p = comma + 1;
    }
    *n = count;
    return 0;
}

int vkt_cli_getopt_error(const char *cmd, int c, char **argv, const struct option *longopts)
{
    /* getopt_long has just consumed the bad argument; it is argv[optind - 1] */
    const char *arg = optind > 0 ? argv[optind - 1] : "?";
    if (c == ':') {
        fprintf(stderr, "%s: %s needs a value (see %s --help)\n", cmd, arg, cmd);
        return 2;
    }
    const char *eq = strchr(arg, '=');
    if (strncmp(arg, "--", 2) == 0 && eq) {
        size_t len = (size_t)(eq - arg - 2);
        for (const struct option *o = longopts; o->name; o++) {
            if (o->has_arg == no_argument && strlen(o->name) == len &&
                strncmp(o->name, arg + 2, len) == 0) {
                fprintf(stderr, "%s: --%s takes no value, not '%s'\n", cmd, o->name, arg);
                return 2;
            }
        }
    }
    if (optopt && strncmp(arg, "--", 2) != 0) {
        fprintf(stderr, "%s: unknown option '-%c' (see %s --help)\n", cmd, optopt, cmd);
    } else {
        fprintf(stderr, "%s: unknown option '%s' (see %s --help)\n", cmd, arg, cmd);
    }
    return 2;
}

double vkt_cli_float_as_given(float f)
{
    char buf[32];
    for (int prec = 1; prec <= 9; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, (double)f);
        double d = strtod(buf, NULL);
        if ((float)d == f) {
            return d;
        }
    }
    return (double)f;
}

int vkt_cli_getopt(const char *cmd, const char *see, int argc, char **argv,
                   const struct option *opts, vkt_cli_device_opts *dev, vkt_cli_opt_fn on_opt,
                   void *ud)
{
    opterr = 0; /* vkt_cli_getopt_error words the messages */
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        int rc = 0;
        switch (c) {
        case VKT_CLI_O_DEVICE: dev->select = optarg; break;
        case VKT_CLI_O_VALIDATION: dev->validation = true; break;
        case 'h': return VKT_CLI_HELP;
        case '?':
        case ':': rc = vkt_cli_getopt_error(cmd, c, argv, opts); break;
        default: rc = on_opt(c, optarg, ud); break;
        }
        if (rc) {
            return rc;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "%s: unexpected argument '%s' (see %s --help)\n", cmd, argv[optind], see);
        return 2;
    }
    return 0;
}

int vkt_cli_fail(const char *cmd, const char *what)
{
    fprintf(stderr, "%s: %s: %s\n", cmd, what, vkt_last_error());
    return 1;
}

void vkt_cli_csv_quoted(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"') {
            fputc('"', f);
        }
        fputc(*s, f);
    }
    fputc('"', f);
}
