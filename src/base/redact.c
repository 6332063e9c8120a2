/*
 * redact.c - PII redaction (see redact.h for what is matched and why).
 *
 * One pass collects the e-mail addresses (around each '@'); a second pass
 * tries, at every position that starts a token (the byte before is not a
 * letter, digit or '_', nor a '.', ',', '-', '/' or ':' right after a
 * digit), the SSN, card, IBAN and phone matchers in that order, each of
 * which must also end on such a boundary.  The output is the input with
 * every match replaced by its placeholder.
 */
#include "base/redact.h"

#include <stdlib.h>
#include <string.h>

#include "base/strbuf.h"

typedef struct match {
    size_t start, end;
    unsigned kind;
} match_t;

static int is_digit(unsigned char c) { return c >= '0' && c <= '9'; }

static int is_alpha(unsigned char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); }

static int is_word(unsigned char c) { return is_digit(c) || is_alpha(c) || c == '_'; }

static int is_joiner(unsigned char c) { return c == '.' || c == ',' || c == '-' || c == '/' || c == ':'; }

static unsigned char upper(unsigned char c) { return c >= 'a' && c <= 'z' ? (unsigned char)(c - 32) : c; }

/* 1 when a token may start at `i` (see the file comment). */
static int starts_token(const unsigned char *s, size_t i)
{
    if (i == 0)
        return 1;
    if (is_word(s[i - 1]))
        return 0;
    if (is_joiner(s[i - 1]) && i >= 2 && is_digit(s[i - 2]))
        return 0;
    return 1;
}

/* 1 when a token may end at `e` (exclusive). */
static int ends_token(const unsigned char *s, size_t len, size_t e)
{
    if (e >= len)
        return 1;
    if (is_word(s[e]))
        return 0;
    if (is_joiner(s[e]) && e + 1 < len && is_digit(s[e + 1]))
        return 0;
    return 1;
}

int ck_redact_luhn(const char *digits, size_t n)
{
    int sum = 0;
    for (size_t k = 0; k < n; k++) {
        int d = digits[n - 1 - k] - '0';
        if (d < 0 || d > 9)
            return 0;
        if (k % 2 == 1) {
            d *= 2;
            if (d > 9)
                d -= 9;
        }
        sum += d;
    }
    return n > 0 && sum % 10 == 0;
}

/* --- e-mail -------------------------------------------------------------- */

static int is_local(unsigned char c)
{
    return is_digit(c) || is_alpha(c) || c == '.' || c == '_' || c == '%' || c == '+' || c == '-';
}

static int is_domain(unsigned char c) { return is_digit(c) || is_alpha(c) || c == '.' || c == '-'; }

/* The address around the '@' at `at`, into *m; 1 when there is one. */
static int match_email(const unsigned char *s, size_t len, size_t at, match_t *m)
{
    size_t a = at;
    while (a > 0 && is_local(s[a - 1]))
        a--;
    while (a < at && s[a] == '.')
        a++;
    if (a == at)
        return 0;
    size_t e = at + 1;
    while (e < len && is_domain(s[e]))
        e++;
    while (e > at + 1 && (s[e - 1] == '.' || s[e - 1] == '-'))
        e--;
    /* labels: non-empty, at least two, the last alphabetic and >= 2 long */
    size_t labels = 0, label_len = 0, last_alpha = 1;
    for (size_t k = at + 1; k <= e; k++) {
        if (k == e || s[k] == '.') {
            if (label_len == 0)
                return 0;
            labels++;
            if (k == e && (!last_alpha || label_len < 2))
                return 0;
            label_len = 0;
            last_alpha = 1;
        } else {
            label_len++;
            if (!is_alpha(s[k]))
                last_alpha = 0;
        }
    }
    if (labels < 2 || (e < len && (is_word(s[e]) || s[e] == '@')))
        return 0;
    m->start = a;
    m->end = e;
    m->kind = CK_REDACT_EMAIL;
    return 1;
}

/* --- SSN ------------------------------------------------------------------- */

static int digits_at(const unsigned char *s, size_t len, size_t i, size_t n)
{
    if (i + n > len)
        return 0;
    for (size_t k = 0; k < n; k++)
        if (!is_digit(s[i + k]))
            return 0;
    return 1;
}

static int match_ssn(const unsigned char *s, size_t len, size_t i, match_t *m)
{
    if (!digits_at(s, len, i, 3) || i + 11 > len || s[i + 3] != '-' || !digits_at(s, len, i + 4, 2) ||
        s[i + 6] != '-' || !digits_at(s, len, i + 7, 4) || !ends_token(s, len, i + 11))
        return 0;
    int area = (s[i] - '0') * 100 + (s[i + 1] - '0') * 10 + (s[i + 2] - '0');
    int group = (s[i + 4] - '0') * 10 + (s[i + 5] - '0');
    int serial = atoi((const char[]){(char)s[i + 7], (char)s[i + 8], (char)s[i + 9], (char)s[i + 10], 0});
    if (area == 0 || area == 666 || area >= 900 || group == 0 || serial == 0)
        return 0;
    *m = (match_t){i, i + 11, CK_REDACT_SSN};
    return 1;
}

/* --- payment cards -------------------------------------------------------- */

static int prefix_in(const char *d, int digits, int lo, int hi)
{
    int v = 0;
    for (int k = 0; k < digits; k++)
        v = v * 10 + (d[k] - '0');
    return v >= lo && v <= hi;
}

/* 1 when an issuer uses numbers of `n` digits starting like `d`. */
static int known_issuer(const char *d, size_t n)
{
    if (d[0] == '4')
        return n == 13 || n == 16 || n == 19; /* Visa */
    if (prefix_in(d, 2, 51, 55) || prefix_in(d, 4, 2221, 2720))
        return n == 16; /* Mastercard */
    if (prefix_in(d, 2, 34, 34) || prefix_in(d, 2, 37, 37))
        return n == 15; /* American Express */
    if (prefix_in(d, 2, 36, 36))
        return n >= 14 && n <= 19; /* Diners */
    if (prefix_in(d, 3, 300, 305) || prefix_in(d, 2, 38, 39))
        return n >= 14 && n <= 16; /* Diners */
    if (prefix_in(d, 4, 3528, 3589))
        return n >= 16 && n <= 19; /* JCB */
    if (prefix_in(d, 2, 50, 50) || prefix_in(d, 2, 56, 69))
        return n >= 13 && n <= 19; /* Discover, UnionPay, Maestro */
    return 0;
}

/* Group lengths of a separated card number: 4-4-4-4(-1..4) or 4-6-4/5. */
static int card_groups_ok(const size_t *g, size_t ng)
{
    if (ng == 1)
        return 1;
    if (ng == 3 && g[0] == 4 && g[1] == 6 && (g[2] == 4 || g[2] == 5))
        return 1;
    for (size_t k = 0; k + 1 < ng; k++)
        if (g[k] != 4)
            return 0;
    return g[ng - 1] >= 1 && g[ng - 1] <= 4;
}

static int match_card(const unsigned char *s, size_t len, size_t i, match_t *m)
{
    char d[24];
    size_t g[8], ng = 0, n = 0, e = i;
    unsigned char sep = 0;
    int found = 0;
    while (ng < 8) {
        size_t k = e;
        while (k < len && is_digit(s[k]) && n < 20)
            d[n++] = (char)s[k++];
        if (k < len && is_digit(s[k]))
            break; /* more than 19 digits */
        g[ng++] = k - e;
        e = k;
        if (n >= 13 && n <= 19 && ends_token(s, len, e) && card_groups_ok(g, ng) && known_issuer(d, n) &&
            ck_redact_luhn(d, n)) {
            *m = (match_t){i, e, CK_REDACT_CARD};
            found = 1;
        }
        if (e + 1 >= len || !(s[e] == ' ' || s[e] == '-') || !is_digit(s[e + 1]) || (sep && s[e] != sep))
            break;
        sep = s[e];
        e++;
    }
    return found;
}

/* --- IBAN ------------------------------------------------------------------- */

static const struct {
    char cc[3];
    unsigned char len;
} IBAN_LENGTHS[] = {
    {"AD", 24}, {"AE", 23}, {"AL", 28}, {"AT", 20}, {"AZ", 28}, {"BA", 20}, {"BE", 16}, {"BG", 22}, {"BH", 22},
    {"BR", 29}, {"BY", 28}, {"CH", 21}, {"CR", 22}, {"CY", 28}, {"CZ", 24}, {"DE", 22}, {"DK", 18}, {"DO", 28},
    {"EE", 20}, {"EG", 29}, {"ES", 24}, {"FI", 18}, {"FO", 18}, {"FR", 27}, {"GB", 22}, {"GE", 22}, {"GI", 23},
    {"GL", 18}, {"GR", 27}, {"GT", 28}, {"HR", 21}, {"HU", 28}, {"IE", 22}, {"IL", 23}, {"IQ", 23}, {"IS", 26},
    {"IT", 27}, {"JO", 30}, {"KW", 30}, {"KZ", 20}, {"LB", 28}, {"LC", 32}, {"LI", 21}, {"LT", 20}, {"LU", 20},
    {"LV", 21}, {"MC", 27}, {"MD", 24}, {"ME", 22}, {"MK", 19}, {"MR", 27}, {"MT", 31}, {"MU", 30}, {"NL", 18},
    {"NO", 15}, {"PK", 24}, {"PL", 28}, {"PS", 29}, {"PT", 25}, {"QA", 29}, {"RO", 24}, {"RS", 22}, {"SA", 24},
    {"SC", 31}, {"SE", 24}, {"SI", 19}, {"SK", 24}, {"SM", 27}, {"ST", 25}, {"SV", 28}, {"TL", 23}, {"TN", 24},
    {"TR", 26}, {"UA", 29}, {"VA", 22}, {"VG", 24}, {"XK", 20},
};

static size_t iban_length(unsigned char a, unsigned char b)
{
    for (size_t k = 0; k < sizeof IBAN_LENGTHS / sizeof IBAN_LENGTHS[0]; k++)
        if (IBAN_LENGTHS[k].cc[0] == a && IBAN_LENGTHS[k].cc[1] == b)
            return IBAN_LENGTHS[k].len;
    return 0;
}

/* ISO 7064 mod 97-10 over the rearranged IBAN (`n` upper-case chars). */
static int iban_checksum_ok(const char *c, size_t n)
{
    unsigned rem = 0;
    for (size_t k = 0; k < n; k++) {
        unsigned char ch = (unsigned char)c[(k + 4) % n];
        if (is_digit(ch))
            rem = (rem * 10 + (unsigned)(ch - '0')) % 97;
        else
            rem = (rem * 100 + (unsigned)(ch - 'A' + 10)) % 97;
    }
    return rem == 1;
}

static int match_iban(const unsigned char *s, size_t len, size_t i, match_t *m)
{
    if (i + 4 > len || !is_alpha(s[i]) || !is_alpha(s[i + 1]) || !is_digit(s[i + 2]) || !is_digit(s[i + 3]))
        return 0;
    size_t want = iban_length(upper(s[i]), upper(s[i + 1]));
    if (want == 0)
        return 0;
    char c[40];
    size_t n = 0, e = i;
    int grouped = -1; /* unknown until the 4th character */
    while (n < want && e < len) {
        if (n > 0 && n % 4 == 0 && grouped != 0 && s[e] == ' ') {
            if (grouped == -1)
                grouped = 1;
            e++;
            continue;
        }
        if (n > 0 && n % 4 == 0 && grouped == -1)
            grouped = 0;
        if (!is_digit(s[e]) && !is_alpha(s[e]))
            return 0;
        if (grouped == 1 && n % 4 == 0 && s[e - 1] != ' ')
            return 0;
        c[n++] = (char)upper(s[e++]);
    }
    if (n != want || !ends_token(s, len, e) || !iban_checksum_ok(c, n))
        return 0;
    *m = (match_t){i, e, CK_REDACT_IBAN};
    return 1;
}

/* --- phone numbers ---------------------------------------------------------- */

/* International: '+', country code, digit groups separated by at most two
 * of " -.()"; 8 to 15 digits; not thousands grouping (+N NNN NNN). */
static int match_phone_intl(const unsigned char *s, size_t len, size_t i, match_t *m)
{
    if (s[i] != '+' || i + 1 >= len || !is_digit(s[i + 1]) || s[i + 1] == '0')
        return 0;
    size_t e = i + 1, digits = 0, groups = 0, first = 0;
    int all_three = 1, seps_only_space = 1;
    for (;;) {
        size_t k = e;
        while (k < len && is_digit(s[k]))
            k++;
        size_t glen = k - e;
        digits += glen;
        if (groups == 0)
            first = glen;
        else if (glen != 3)
            all_three = 0;
        groups++;
        e = k;
        size_t sk = e, nsep = 0;
        while (sk < len && nsep < 2 && strchr(" -.()", s[sk]) && s[sk] != '\0') {
            if (s[sk] != ' ')
                seps_only_space = 0;
            sk++;
            nsep++;
        }
        if (nsep == 0 || sk >= len || !is_digit(s[sk]) || digits > 15)
            break;
        e = sk;
    }
    if (digits < 8 || digits > 15 || !ends_token(s, len, e))
        return 0;
    if (groups >= 3 && all_three && first <= 3 && seps_only_space)
        return 0;
    *m = (match_t){i, e, CK_REDACT_PHONE};
    return 1;
}

/* North American: [1 ](NNN) NNN-NNNN, NNN-NNN-NNNN, NNN.NNN.NNNN, NNN NNN NNNN. */
static int match_phone_nanp(const unsigned char *s, size_t len, size_t i, match_t *m)
{
    size_t p = i;
    if (p + 2 < len && s[p] == '1' && (s[p + 1] == ' ' || s[p + 1] == '-' || s[p + 1] == '.') &&
        (is_digit(s[p + 2]) || s[p + 2] == '('))
        p += 2;
    unsigned char sep;
    if (p < len && s[p] == '(') {
        if (!digits_at(s, len, p + 1, 3) || p + 4 >= len || s[p + 4] != ')')
            return 0;
        if (s[p + 1] < '2')
            return 0;
        p += 5;
        if (p < len && (s[p] == ' ' || s[p] == '-'))
            p++;
        if (!digits_at(s, len, p, 3) || p + 3 >= len || (s[p + 3] != '-' && s[p + 3] != ' ' && s[p + 3] != '.'))
            return 0;
        sep = s[p + 3];
    } else {
        if (!digits_at(s, len, p, 3) || p + 3 >= len || s[p] < '2')
            return 0;
        p += 3;
        sep = s[p];
        if (sep != '-' && sep != '.' && sep != ' ')
            return 0;
        p++;
        if (!digits_at(s, len, p, 3) || p + 3 >= len || s[p + 3] != sep)
            return 0;
    }
    if (s[p] < '2' || !digits_at(s, len, p + 4, 4) || !ends_token(s, len, p + 8))
        return 0;
    if (p + 8 < len && is_digit(s[p + 8]))
        return 0;
    *m = (match_t){i, p + 8, CK_REDACT_PHONE};
    return 1;
}

/* National with a trunk '0': 0N.. groups joined by one kind of separator
 * (' ' or '-'), at least two groups, 10 or 11 digits (030 12345678,
 * 06 12 34 56 78, 020 7946 0958). */
static int match_phone_trunk(const unsigned char *s, size_t len, size_t i, match_t *m)
{
    if (s[i] != '0' || i + 1 >= len || !is_digit(s[i + 1]) || s[i + 1] == '0')
        return 0;
    size_t e = i, digits = 0, groups = 0;
    unsigned char sep = 0;
    for (;;) {
        size_t k = e;
        while (k < len && is_digit(s[k]))
            k++;
        size_t glen = k - e;
        if ((groups == 0 && (glen < 2 || glen > 5)) || glen > 8)
            return 0;
        digits += glen;
        groups++;
        e = k;
        if (e + 1 >= len || !(s[e] == ' ' || s[e] == '-') || !is_digit(s[e + 1]) || (sep && s[e] != sep) ||
            digits >= 11)
            break;
        sep = s[e];
        e++;
    }
    if (groups < 2 || digits < 10 || digits > 11 || !ends_token(s, len, e))
        return 0;
    *m = (match_t){i, e, CK_REDACT_PHONE};
    return 1;
}

/* 1 when `i` continues a run of space-separated digit groups (the IBAN,
 * account or amount it belongs to is not a phone number). */
static int after_digit_group(const unsigned char *s, size_t i)
{
    return i >= 2 && s[i - 1] == ' ' && is_digit(s[i - 2]);
}

/* --- the passes ------------------------------------------------------------- */

static const char *placeholder(unsigned kind)
{
    switch (kind) {
    case CK_REDACT_EMAIL:
        return "[EMAIL]";
    case CK_REDACT_PHONE:
        return "[PHONE]";
    case CK_REDACT_CARD:
        return "[CARD]";
    case CK_REDACT_IBAN:
        return "[IBAN]";
    default:
        return "[SSN]";
    }
}

/* The match starting at `i` (outside e-mails), if any. */
static int match_at(const unsigned char *s, size_t len, size_t i, match_t *m)
{
    if (!starts_token(s, i))
        return 0;
    unsigned char c = s[i];
    if (is_digit(c))
        return match_ssn(s, len, i, m) || match_card(s, len, i, m) ||
               (!after_digit_group(s, i) && (match_phone_nanp(s, len, i, m) || match_phone_trunk(s, len, i, m)));
    if (is_alpha(c))
        return match_iban(s, len, i, m);
    if (c == '+')
        return match_phone_intl(s, len, i, m);
    if (c == '(')
        return match_phone_nanp(s, len, i, m);
    return 0;
}

char *ck_redact(const char *text, size_t len, size_t *out_len, unsigned *found)
{
    const unsigned char *s = (const unsigned char *)(text ? text : "");
    if (text == NULL)
        len = 0;
    ck_strbuf_t out = {0};
    ck_strbuf_reserve(&out, len + 16);
    unsigned mask = 0;
    /* the next e-mail address at or after i: `em` (valid when has_em) found
     * around the '@' at `at`; recomputed only when i passes it */
    const unsigned char *at = len ? memchr(s, '@', len) : NULL;
    match_t em = {0};
    int has_em = 0;
    size_t i = 0;
    while (i < len) {
        while (at != NULL && (!has_em || em.end <= i)) {
            has_em = match_email(s, len, (size_t)(at - s), &em) && em.end > i;
            if (has_em && em.start < i)
                em.start = i; /* started inside an earlier match: the rest is the address */
            size_t next = (size_t)(at - s) + 1;
            at = next < len ? memchr(s + next, '@', len - next) : NULL;
            if (has_em)
                break;
        }
        if (has_em && em.end <= i)
            has_em = 0;
        match_t m = {0};
        int hit = 0;
        if (has_em && em.start == i) {
            m = em;
            hit = 1;
            has_em = 0;
        } else if (match_at(s, len, i, &m) && !(has_em && m.end > em.start)) {
            hit = 1;
        }
        if (hit) {
            ck_strbuf_adds(&out, placeholder(m.kind));
            mask |= m.kind;
            i = m.end;
        } else {
            ck_strbuf_addc(&out, (char)s[i]);
            i++;
        }
    }
    size_t n = out.len;
    char *result = ck_strbuf_take(&out);
    if (out_len)
        *out_len = result ? n : 0;
    if (found)
        *found = result ? mask : 0;
    return result;
}

unsigned ck_redact_inplace(char *buf, size_t cap)
{
    if (buf == NULL || cap == 0)
        return 0;
    unsigned found = 0;
    size_t n;
    char *r = ck_redact(buf, strlen(buf), &n, &found);
    if (r == NULL || found == 0) {
        free(r);
        return 0;
    }
    if (n >= cap) {
        n = cap - 1;
        while (n > 0 && ((unsigned char)r[n] & 0xC0) == 0x80)
            n--;
    }
    memcpy(buf, r, n);
    buf[n] = '\0';
    free(r);
    return found;
}
