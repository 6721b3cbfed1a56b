/*
 * format.c — Python's and tqdm's number formatting, as the progress bar, metrics.csv,
 * hparams.yaml, checkpoint file names and callback messages need it:
 *   vkt__format_py_float   repr(float)                   0.3665059506893158, 1e-05, 1e+16
 *   vkt__format_num        Lightning's Tqdm.format_num   0.966, 2.000, 1e-5, -.500
 *   vkt__format_interval   tqdm.format_interval          00:05, 1:02:03
 *   vkt__py_format         format(value, spec)           "{val_loss:.2f}" in file names
 * Tests (with the examples verified against Lightning, docs/lightning.md "Progress bar"):
 * tests/test_train_io.c.
 *
 * By hand, not from a library: the files must hold Python's exact strings, and repr(float) is the
 * shortest string that reads back (printf's %.17g writes 0.1 as 0.10000000000000001), while
 * format specs, tqdm's and Lightning's rules are Python code. No C library in Debian 12 does
 * either, so the digits come from snprintf and are cut to the shortest that round-trip.
 */
#include <ctype.h>
#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <string.h>

#include "train/train_internal.h"

void vkt__c_decimal_point(char *s)
{
    const char *dp = localeconv()->decimal_point;
    if (!dp || !dp[0] || (dp[0] == '.' && !dp[1]) || dp[1]) {
        return; /* "." already, or a multi-byte point we leave alone */
    }
    for (; *s; s++) {
        if (*s == dp[0]) {
            *s = '.';
        }
    }
}

double vkt__strtod_c(const char *s, char **end)
{
    const char *dp = localeconv()->decimal_point;
    if (!dp || (dp[0] == '.' && !dp[1]) || !dp[0] || dp[1]) {
        return strtod(s, end);
    }
    /* copy the number with the locale's point, parse, map the end back */
    char tmp[512];
    size_t n = 0;
    while (s[n] && n < sizeof tmp - 1 && strchr("0123456789+-.eEinfatyINFATY", s[n])) {
        tmp[n] = s[n] == '.' ? dp[0] : s[n];
        n++;
    }
    tmp[n] = '\0';
    char *e;
    double v = strtod(tmp, &e);
    if (end) {
        *end = (char *)s + (e - tmp);
    }
    return v;
}

size_t vkt__display_len(const char *s)
{
    size_t n = 0;
    for (; *s; s++) {
        n += ((unsigned char)*s & 0xC0) != 0x80;
    }
    return n;
}

void vkt__train_warn(const vkt_trainer *t, const char *fmt, ...)
{
    if (t && !vkt_trainer_is_global_zero(t)) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    fputs("vkt: warning: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* ---- Python float repr ---- */

/*
 * The shortest digit string d1d2...dk and decimal exponent `decpt` (value = 0.d1d2... * 10^decpt)
 * that reads back as `v` (finite, > 0), at most `maxp` digits; round-trip tested as a double or,
 * for `single`, as a float.
 */
static int shortest_digits(double v, bool single, char *digits, int *decpt)
{
    char tmp[64];
    int maxp = single ? 9 : 17;
    for (int p = 1; p <= maxp; p++) {
        snprintf(tmp, sizeof tmp, "%.*e", p - 1, v);
        vkt__c_decimal_point(tmp);
        double back = vkt__strtod_c(tmp, NULL);
        if (p == maxp || (single ? (float)back == (float)v : back == v)) {
            break;
        }
    }
    /* tmp is "d.ddde[+-]XX" */
    int k = 0;
    const char *c = tmp;
    for (; *c && *c != 'e'; c++) {
        if (isdigit((unsigned char)*c)) {
            digits[k++] = *c;
        }
    }
    while (k > 1 && digits[k - 1] == '0') {
        k--;
    }
    digits[k] = '\0';
    *decpt = atoi(c + 1) + 1;
    return k;
}

/* Python's float_repr_style 'short' layout ('r' mode of PyOS_double_to_string). */
static void py_repr(char *buf, size_t n, double v, bool single)
{
    if (isnan(v)) {
        snprintf(buf, n, "nan");
        return;
    }
    if (isinf(v)) {
        snprintf(buf, n, v < 0 ? "-inf" : "inf");
        return;
    }
    const char *sign = signbit(v) ? "-" : "";
    if (v == 0) {
        snprintf(buf, n, "%s0.0", sign);
        return;
    }
    char d[32];
    int decpt;
    int k = shortest_digits(fabs(v), single, d, &decpt);
    char out[64];
    size_t o = 0;
    if (decpt <= -4 || decpt > 16) {
        out[o++] = d[0];
        if (k > 1) {
            out[o++] = '.';
            memcpy(out + o, d + 1, (size_t)k - 1);
            o += (size_t)k - 1;
        }
        int e = decpt - 1;
        o += (size_t)snprintf(out + o, sizeof out - o, "e%c%02d", e < 0 ? '-' : '+', abs(e));
    } else if (decpt <= 0) {
        out[o++] = '0';
        out[o++] = '.';
        for (int i = 0; i < -decpt; i++) {
            out[o++] = '0';
        }
        memcpy(out + o, d, (size_t)k);
        o += (size_t)k;
    } else if (decpt >= k) {
        memcpy(out + o, d, (size_t)k);
        o += (size_t)k;
        for (int i = k; i < decpt; i++) {
            out[o++] = '0';
        }
        out[o++] = '.';
        out[o++] = '0';
    } else {
        memcpy(out + o, d, (size_t)decpt);
        o += (size_t)decpt;
        out[o++] = '.';
        memcpy(out + o, d + decpt, (size_t)(k - decpt));
        o += (size_t)(k - decpt);
    }
    out[o] = '\0';
    snprintf(buf, n, "%s%s", sign, out);
}

void vkt__format_py_float(char *buf, size_t n, double v) { py_repr(buf, n, v, false); }

void vkt__format_py_float32(char *buf, size_t n, float v) { py_repr(buf, n, (double)v, true); }

/* ---- tqdm / Lightning ---- */

static void replace_all(char *s, const char *from, const char *to)
{
    size_t lf = strlen(from), lt = strlen(to);
    char *p = s;
    while ((p = strstr(p, from)) != NULL) {
        memmove(p + lt, p + lf, strlen(p + lf) + 1);
        memcpy(p, to, lt);
        p += lt;
    }
}

/* Python's '{:.3g}'.format(v) (also for ints, which Python formats as floats here). */
static void py_g3(char *buf, size_t n, double v)
{
    if (isnan(v)) {
        snprintf(buf, n, "nan");
    } else if (isinf(v)) {
        snprintf(buf, n, v < 0 ? "-inf" : "inf");
    } else {
        snprintf(buf, n, "%.3g", v);
        vkt__c_decimal_point(buf);
    }
}

void vkt__format_num(char *buf, size_t n, double v, bool is_int)
{
    /* tqdm.format_num: '{:.3g}' without "+0"/"-0", or str(n) when that is not longer */
    char f[64], s[64];
    py_g3(f, sizeof f, v);
    replace_all(f, "+0", "+");
    replace_all(f, "-0", "-");
    if (is_int) {
        snprintf(s, sizeof s, "%lld", (long long)v);
    } else {
        vkt__format_py_float(s, sizeof s, v);
    }
    char out[80];
    snprintf(out, sizeof out, "%s", strlen(f) < strlen(s) ? f : s);
    /* Lightning's Tqdm.format_num pads floats (not ints) without an exponent to 5 characters */
    if (!is_int && !strchr(out, 'e')) {
        size_t len = strlen(out);
        if (!strchr(out, '.') && len < 5) {
            /* Python's float(n) must accept it ("nan", "inf", digits), else n is returned */
            char *end;
            vkt__strtod_c(out, &end);
            if (end == out || *end) {
                snprintf(buf, n, "%s", out);
                return;
            }
            out[len++] = '.';
            out[len] = '\0';
        }
        while (len < 5) {
            out[len++] = '0';
        }
        out[len] = '\0';
    }
    snprintf(buf, n, "%s", out);
}

void vkt__format_interval(char *buf, size_t n, double seconds)
{
    long long t = seconds > 0 && seconds < 9e15 ? (long long)seconds : 0;
    long long mins = t / 60, s = t % 60;
    long long h = mins / 60, m = mins % 60;
    if (h) {
        snprintf(buf, n, "%lld:%02lld:%02lld", h, m, s);
    } else {
        snprintf(buf, n, "%02lld:%02lld", m, s);
    }
}

/* ---- format(value, spec) ---- */

void vkt__py_repr_str(char *buf, size_t n, const char *s)
{
    char q = strchr(s, '\'') && !strchr(s, '"') ? '"' : '\'';
    size_t o = 0;
#define PUT(c)                                                                                     \
    do {                                                                                           \
        if (o + 1 < n) {                                                                           \
            buf[o++] = (c);                                                                        \
        }                                                                                          \
    } while (0)
    PUT(q);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char esc[8] = {0};
        if (*p == '\\' || *p == (unsigned char)q) {
            esc[0] = '\\';
            esc[1] = (char)*p;
        } else if (*p == '\n') {
            memcpy(esc, "\\n", 2);
        } else if (*p == '\r') {
            memcpy(esc, "\\r", 2);
        } else if (*p == '\t') {
            memcpy(esc, "\\t", 2);
        } else if (*p < 0x20 || *p == 0x7F) {
            snprintf(esc, sizeof esc, "\\x%02x", *p);
        } else {
            esc[0] = (char)*p;
        }
        for (char *e = esc; *e; e++) {
            PUT(*e);
        }
    }
    PUT(q);
#undef PUT
    if (n) {
        buf[o < n ? o : n - 1] = '\0';
    }
}

typedef struct spec {
    char fill, align, sign;
    bool alt, zero, grouping;
    int width, precision; /* -1: none */
    char type;            /* 0: none */
} spec;

static bool parse_spec(const char *s, spec *sp)
{
    *sp = (spec){.fill = ' ', .width = -1, .precision = -1};
    const char *p = s;
    if (p[0] && p[1] && strchr("<>=^", p[1])) {
        sp->fill = p[0];
        sp->align = p[1];
        p += 2;
    } else if (p[0] && strchr("<>=^", p[0])) {
        sp->align = p[0];
        p++;
    }
    if (*p && strchr("+- ", *p)) {
        sp->sign = *p++;
    }
    if (*p == '#') {
        sp->alt = true;
        p++;
    }
    if (*p == '0') {
        sp->zero = true;
        p++;
    }
    if (isdigit((unsigned char)*p)) {
        long w = strtol(p, (char **)&p, 10);
        sp->width = w < 256 ? (int)w : 256; /* 256: too wide (and no int overflow) */
    }
    if (*p == ',' || *p == '_') {
        sp->grouping = true;
        p++;
    }
    if (*p == '.') {
        p++;
        if (!isdigit((unsigned char)*p)) {
            return false;
        }
        long prec = strtol(p, (char **)&p, 10);
        sp->precision = prec < 100 ? (int)prec : 100;
    }
    if (*p) {
        sp->type = *p++;
    }
    return *p == '\0' && sp->width < 256 && sp->precision < 100;
}

/* Inserts Python's ',' / '_' thousands separators into the integer part of a digit string. */
static void group_digits(char *s, size_t cap, char sep)
{
    size_t start = (s[0] == '-' || s[0] == '+' || s[0] == ' ') ? 1 : 0;
    size_t end = start;
    while (isdigit((unsigned char)s[end])) {
        end++;
    }
    size_t nd = end - start;
    if (nd <= 3) {
        return;
    }
    size_t extra = (nd - 1) / 3;
    size_t len = strlen(s);
    if (len + extra + 1 > cap) {
        return;
    }
    memmove(s + end + extra, s + end, len - end + 1);
    size_t w = end + extra, r = end, cnt = 0;
    while (r > start) {
        s[--w] = s[--r];
        if (++cnt % 3 == 0 && r > start) {
            s[--w] = sep;
        }
    }
}

vkt_status vkt__py_format(char *buf, size_t n, double v, bool is_int, const char *specstr)
{
    spec sp;
    if (!specstr) {
        specstr = "";
    }
    if (!parse_spec(specstr, &sp)) {
        return vkt__error(VKT_INVALID_ARGUMENT, "Invalid format specifier '%s'", specstr);
    }
    char type = sp.type;
    if (type == 'n') {
        type = is_int ? 'd' : 'g';
    }
    if (type && !strchr("eEfFgG%d", type)) {
        return vkt__error(VKT_INVALID_ARGUMENT,
                          "Unknown format code '%c' for object of type '%s'", sp.type,
                          is_int ? "int" : "float");
    }
    if (type == 'd' && !is_int) {
        return vkt__error(VKT_INVALID_ARGUMENT,
                          "Unknown format code 'd' for object of type 'float'");
    }
    if (is_int && !type && sp.precision >= 0) {
        return vkt__error(VKT_INVALID_ARGUMENT,
                          "Precision not allowed in integer format specifier");
    }
    /* the magnitude, without sign */
    char body[384];
    double a = fabs(v);
    bool neg = signbit(v) && !(is_int && v == 0);
    if (is_int && (!type || type == 'd')) {
        /* an integral double; past long long's range "%.0f" prints the same digits */
        if (a < 9.2e18) {
            snprintf(body, sizeof body, "%lld", (long long)a);
        } else {
            snprintf(body, sizeof body, "%.0f", a);
        }
    } else if (!isfinite(a)) {
        bool upper = type == 'E' || type == 'F' || type == 'G';
        snprintf(body, sizeof body, "%s%s", isnan(a) ? (upper ? "NAN" : "nan")
                                                     : (upper ? "INF" : "inf"),
                 type == '%' ? "%" : "");
    } else if (!type) {
        if (sp.precision < 0) {
            vkt__format_py_float(body, sizeof body, a); /* str(float) */
        } else {
            /* like 'g', but fixed notation keeps a digit after the point and the exponent
             * form starts at exponent p-1 (format(12.0, '.3') '12.0', format(123.0, '.3')
             * '1.23e+02') */
            int p = sp.precision ? sp.precision : 1;
            char tmp[128];
            snprintf(tmp, sizeof tmp, "%.*e", p - 1, a);
            int exp10 = atoi(strchr(tmp, 'e') + 1);
            if (exp10 < -4 || exp10 >= p - 1) {
                snprintf(body, sizeof body, "%.*g", p, a);
                if (!strchr(body, 'e')) { /* %g chose fixed: force the exponent form */
                    char *e = strchr(tmp, 'e');
                    char mant[128];
                    snprintf(mant, sizeof mant, "%.*s", (int)(e - tmp), tmp);
                    if (strchr(mant, '.')) {
                        size_t l = strlen(mant);
                        while (mant[l - 1] == '0') {
                            mant[--l] = '\0';
                        }
                        if (mant[l - 1] == '.') {
                            mant[--l] = '\0';
                        }
                    }
                    snprintf(body, sizeof body, "%s%s", mant, e);
                }
            } else {
                snprintf(body, sizeof body, "%.*f", p - 1 - exp10, a);
                if (strchr(body, '.')) {
                    size_t l = strlen(body);
                    while (body[l - 1] == '0' && body[l - 2] != '.') {
                        body[--l] = '\0';
                    }
                } else {
                    strcat(body, ".0");
                }
            }
        }
    } else {
        int p = sp.precision < 0 ? 6 : sp.precision;
        char fmt[16];
        char t = type == '%' ? 'f' : type;
        snprintf(fmt, sizeof fmt, "%%%s.%d%c", sp.alt ? "#" : "", p, t);
        snprintf(body, sizeof body - 2, fmt, type == '%' ? a * 100 : a);
        if (type == '%') {
            strcat(body, "%");
        }
    }
    vkt__c_decimal_point(body);
    if (sp.grouping && isdigit((unsigned char)body[0])) {
        group_digits(body, sizeof body, specstr[strcspn(specstr, ",_")]);
    }
    const char *sign = neg ? "-" : sp.sign == '+' ? "+" : sp.sign == ' ' ? " " : "";
    /* padding: numbers align right by default; '0' means fill 0 after the sign */
    char fill = sp.fill, align = sp.align;
    if (sp.zero && !align) {
        fill = '0';
        align = '=';
    }
    if (!align) {
        align = '>';
    }
    size_t len = strlen(sign) + strlen(body);
    size_t pad = sp.width > 0 && (size_t)sp.width > len ? (size_t)sp.width - len : 0;
    size_t left = align == '<' ? 0 : align == '^' ? pad / 2 : align == '=' ? 0 : pad;
    size_t mid = align == '=' ? pad : 0;
    size_t right = pad - left - mid;
    char out[512];
    size_t o = 0;
    for (size_t i = 0; i < left && o < sizeof out - 1; i++) {
        out[o++] = fill;
    }
    o += (size_t)snprintf(out + o, sizeof out - o, "%s", sign);
    for (size_t i = 0; i < mid && o < sizeof out - 1; i++) {
        out[o++] = fill;
    }
    o += (size_t)snprintf(out + o, sizeof out - o, "%s", body);
    for (size_t i = 0; i < right && o < sizeof out - 1; i++) {
        out[o++] = fill;
    }
    out[o < sizeof out ? o : sizeof out - 1] = '\0';
    snprintf(buf, n, "%s", out);
    return VKT_OK;
}

bool vkt__utf8_valid(const char *str)
{
    const unsigned char *s = (const unsigned char *)str;
    while (*s) {
        uint32_t c = *s;
        int n = c < 0x80             ? 0
                : (c & 0xE0) == 0xC0 ? 1
                : (c & 0xF0) == 0xE0 ? 2
                : (c & 0xF8) == 0xF0 ? 3
                                     : -1;
        if (n < 0) {
            return false;
        }
        c &= n == 0 ? 0x7F : n == 1 ? 0x1F : n == 2 ? 0x0F : 0x07;
        for (int k = 1; k <= n; k++) {
            if ((s[k] & 0xC0) != 0x80) {
                return false;
            }
            c = (c << 6) | (s[k] & 0x3F);
        }
        static const uint32_t min[4] = {0, 0x80, 0x800, 0x10000};
        if (c < min[n] || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) {
            return false;
        }
        s += n + 1;
    }
    return true;
}
