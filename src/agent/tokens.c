/*
 * tokens.c - the token estimator (see tokens.h).  Costs are kept in
 * thousandths of a token per piece and rounded up once per text.
 */
#include "agent/tokens.h"

#include <stdlib.h>
#include <string.h>

/* Weights (thousandths of a token), fitted with bench/tokens. */
#define W_WORD_SHORT 1000 /* an ASCII word of up to WORD_ONE letters */
#define WORD_ONE 7
#define W_WORD_EXTRA 230   /* each ASCII letter past WORD_ONE */
#define W_UPPER_LETTER 450 /* each letter of an all-capitals word of 3+ letters */
#define W_DIGITS 1000      /* a group of 1-3 digits */
#define W_PUNCT_FIRST 1000 /* a punctuation run's first character */
#define W_PUNCT_MORE 150   /* each further one */
#define W_NEWLINES 1000    /* a run of line breaks (with the spaces before it) */
#define W_SPACES 1000      /* a run of spaces/tabs not attached to a word */
#define W_SPACES_MORE 60   /* each space of it past the first 4 */
#define W_CJK 780          /* a Han/kana/Hangul character */
#define W_CYRILLIC 280     /* a Cyrillic letter */
#define W_GREEK 380        /* a Greek letter */
#define W_ARABIC 350       /* an Arabic or Hebrew letter */
#define W_INDIC 600        /* a letter or sign of an Indic script */
#define W_OTHER_LETTER 450 /* a letter of another non-Latin script */
#define W_LATIN_EXT 600    /* an accented Latin letter inside a word */
#define W_SYMBOL 1500      /* emoji and other symbols, invalid bytes */

typedef enum {
    C_SPACE,
    C_NEWLINE,
    C_DIGIT,
    C_UPPER,
    C_LOWER,
    C_LATIN_EXT,
    C_OTHER_LETTER,
    C_CJK,
    C_PUNCT,
    C_SYMBOL
} cls_t;

/* Decodes one UTF-8 character at s[i] (len bytes); sets *n to its length
 * (1 for an invalid byte) and returns the code point (0xFFFD if invalid). */
static unsigned decode(const unsigned char *s, size_t len, size_t i, size_t *n)
{
    unsigned c = s[i];
    size_t need = c < 0x80 ? 0 : (c & 0xE0) == 0xC0 ? 1 : (c & 0xF0) == 0xE0 ? 2 : (c & 0xF8) == 0xF0 ? 3 : 9;
    *n = 1;
    if (need == 0)
        return c;
    if (need == 9 || i + need >= len)
        return 0xFFFD;
    unsigned cp = c & (0x3F >> need);
    for (size_t k = 1; k <= need; k++) {
        if ((s[i + k] & 0xC0) != 0x80)
            return 0xFFFD;
        cp = (cp << 6) | (s[i + k] & 0x3F);
    }
    *n = need + 1;
    return cp;
}

static cls_t classify(unsigned cp)
{
    if (cp == ' ' || cp == '\t' || cp == 0xA0)
        return C_SPACE;
    if (cp == '\n' || cp == '\r')
        return C_NEWLINE;
    if (cp >= '0' && cp <= '9')
        return C_DIGIT;
    if (cp >= 'A' && cp <= 'Z')
        return C_UPPER;
    if (cp >= 'a' && cp <= 'z')
        return C_LOWER;
    if (cp < 0x80)
        return cp < 0x20 || cp == 0x7F ? C_SYMBOL : C_PUNCT;
    if ((cp >= 0xC0 && cp <= 0x24F && cp != 0xD7 && cp != 0xF7) || (cp >= 0x1E00 && cp <= 0x1EFF))
        return C_LATIN_EXT;
    if ((cp >= 0x2E80 && cp <= 0x9FFF) || (cp >= 0xAC00 && cp <= 0xD7AF) || (cp >= 0xF900 && cp <= 0xFAFF) ||
        (cp >= 0x20000 && cp <= 0x3FFFF))
        return (cp >= 0x3000 && cp <= 0x303F) ? C_PUNCT : C_CJK;
    if (cp >= 0xFF00 && cp <= 0xFFEF)
        return C_CJK; /* full-width forms */
    if (cp >= 0x2000 && cp <= 0x2BFF)
        return cp <= 0x206F ? C_PUNCT : C_SYMBOL; /* general punctuation; arrows, math, shapes */
    if (cp >= 0x1F000 || cp == 0xFFFD || (cp >= 0xE000 && cp <= 0xF8FF))
        return C_SYMBOL;
    if (cp >= 0x0300 && cp <= 0x036F)
        return C_LATIN_EXT; /* combining marks */
    return C_OTHER_LETTER;
}

static int is_letter(cls_t c) { return c == C_UPPER || c == C_LOWER || c == C_LATIN_EXT || c == C_OTHER_LETTER; }

/* Cost of one letter of a non-Latin script. */
static size_t other_letter_cost(unsigned cp)
{
    if (cp >= 0x400 && cp <= 0x52F)
        return W_CYRILLIC;
    if (cp >= 0x370 && cp <= 0x3FF)
        return W_GREEK;
    if (cp >= 0x590 && cp <= 0x6FF)
        return W_ARABIC;
    if (cp >= 0x900 && cp <= 0xDFF)
        return W_INDIC;
    return W_OTHER_LETTER;
}

/* Cost of a word piece: `ascii` ASCII letters, `ext` accented Latin,
 * `other` the summed cost of its other-script letters. */
static size_t word_cost(size_t ascii, size_t ext, size_t other)
{
    size_t cost = 0;
    if (ascii + ext > 0) {
        cost = W_WORD_SHORT;
        if (ascii > WORD_ONE)
            cost += (ascii - WORD_ONE) * W_WORD_EXTRA;
        cost += ext * W_LATIN_EXT;
    }
    cost += other;
    if (ascii + ext == 0 && other > 0 && cost < W_WORD_SHORT)
        cost = W_WORD_SHORT;
    return cost;
}

size_t ck_tokens_text(const char *text, size_t len)
{
    const unsigned char *s = (const unsigned char *)text;
    size_t milli = 0, i = 0;
    int joined = 0; /* the piece at i already carries a leading space */
    while (i < len) {
        int after_space = joined;
        joined = 0;
        size_t n;
        unsigned cp = decode(s, len, i, &n);
        cls_t c = classify(cp);
        if (c == C_SPACE || c == C_NEWLINE) {
            /* a single space before a word or punctuation belongs to it */
            size_t j = i, spaces = 0, newlines = 0;
            while (j < len) {
                size_t m;
                cls_t d = classify(decode(s, len, j, &m));
                if (d == C_SPACE)
                    spaces++;
                else if (d == C_NEWLINE)
                    newlines++;
                else
                    break;
                j += m;
            }
            if (newlines > 0)
                milli += W_NEWLINES;
            else if (j < len && spaces == 1)
                joined = 1; /* joins the next piece */
            else
                milli += W_SPACES + (spaces > 4 ? (spaces - 4) * W_SPACES_MORE : 0);
            if (newlines > 0 && j < len && spaces > 1)
                milli += W_SPACES; /* indentation after the line break */
            i = j;
            continue;
        }
        if (c == C_DIGIT) {
            size_t j = i;
            while (j < len && s[j] >= '0' && s[j] <= '9')
                j++;
            milli += ((j - i + 2) / 3) * W_DIGITS;
            i = j;
            continue;
        }
        if (c == C_CJK) {
            milli += W_CJK;
            i += n;
            continue;
        }
        if (c == C_SYMBOL) {
            milli += W_SYMBOL;
            i += n;
            continue;
        }
        if (c == C_PUNCT) {
            /* one punctuation character directly before a letter starts the word */
            size_t m;
            size_t j = i + n;
            if (!after_space && j < len && is_letter(classify(decode(s, len, j, &m)))) {
                i = j;
                c = classify(decode(s, len, i, &n));
                /* fall through to the word below */
            } else {
                size_t run = 1;
                while (j < len) {
                    cls_t d = classify(decode(s, len, j, &m));
                    if (d != C_PUNCT)
                        break;
                    run++;
                    j += m;
                }
                milli += W_PUNCT_FIRST + (run - 1) * W_PUNCT_MORE;
                i = j;
                continue;
            }
        }
        /* a word: letters, split where a lower-case letter is followed by an upper-case one */
        size_t ascii = 0, ext = 0, other = 0, upper_run = 0;
        cls_t prev = C_SPACE;
        while (i < len) {
            cp = decode(s, len, i, &n);
            cls_t d = classify(cp);
            if (!is_letter(d))
                break;
            if (d == C_UPPER && prev == C_LOWER)
                break;
            if (d == C_UPPER)
                upper_run++;
            if (d == C_UPPER || d == C_LOWER)
                ascii++;
            else if (d == C_LATIN_EXT)
                ext++;
            else
                other += other_letter_cost(cp);
            prev = d;
            i += n;
        }
        if (ascii + ext + other == 0) { /* cannot happen; never loop forever */
            milli += W_SYMBOL;
            i += n;
            continue;
        }
        if (upper_run >= 3 && upper_run == ascii && ext + other == 0)
            milli += upper_run * W_UPPER_LETTER; /* CONSTANTS and acronyms split finely */
        else
            milli += word_cost(ascii, ext, other);
        /* contractions ('s 't 're 've 'm 'll 'd) stay one more token at most */
    }
    return (milli + 999) / 1000;
}

size_t ck_tokens_str(const char *text) { return text ? ck_tokens_text(text, strlen(text)) : 0; }

static size_t string_tokens(const json_t *v)
{
    return json_is_string(v) ? ck_tokens_text(json_string_value(v), json_string_length(v)) : 0;
}

static size_t part_tokens(const json_t *part)
{
    const char *type = json_string_value(json_object_get(part, "type"));
    if (type == NULL)
        return 0;
    if (strcmp(type, "text") == 0)
        return string_tokens(json_object_get(part, "text"));
    if (strcmp(type, "image_url") == 0)
        return CK_TOKENS_IMAGE;
    if (strcmp(type, "file") == 0) {
        /* base64 data: a quarter of its size as text is a fair upper guess of the extracted content */
        const json_t *data = json_object_get(json_object_get(part, "file"), "file_data");
        return json_string_length(data) / 4 + 1;
    }
    return 0;
}

size_t ck_tokens_message(const json_t *m)
{
    size_t n = CK_TOKENS_PER_MESSAGE;
    n += string_tokens(json_object_get(m, "role"));
    n += string_tokens(json_object_get(m, "name"));
    n += string_tokens(json_object_get(m, "tool_call_id"));
    const json_t *content = json_object_get(m, "content");
    if (json_is_string(content))
        n += string_tokens(content);
    else if (json_is_array(content)) {
        size_t i;
        const json_t *part;
        json_array_foreach(content, i, part) n += part_tokens(part);
    }
    size_t i;
    const json_t *call;
    json_array_foreach(json_object_get(m, "tool_calls"), i, call)
    {
        const json_t *fn = json_object_get(call, "function");
        n += 3 + string_tokens(json_object_get(fn, "name")) + string_tokens(json_object_get(fn, "arguments")) +
             string_tokens(json_object_get(call, "id"));
    }
    return n;
}

size_t ck_tokens_messages(const json_t *messages)
{
    size_t n = CK_TOKENS_PER_REQUEST, i;
    const json_t *m;
    json_array_foreach(messages, i, m) n += ck_tokens_message(m);
    return n;
}

size_t ck_tokens_tools(const json_t *tools)
{
    size_t n = 0, i;
    const json_t *t;
    json_array_foreach(tools, i, t)
    {
        char *s = json_dumps(t, JSON_COMPACT);
        n += 8 + ck_tokens_str(s);
        free(s);
    }
    return n;
}

size_t ck_tokens_prefix(const char *text, size_t len, size_t max_tokens)
{
    if (ck_tokens_text(text, len) <= max_tokens)
        return len;
    /* binary search on the byte length, then back to a character boundary */
    size_t lo = 0, hi = len;
    while (lo < hi) {
        size_t mid = lo + (hi - lo + 1) / 2;
        size_t cut = mid;
        while (cut > 0 && ((unsigned char)text[cut] & 0xC0) == 0x80)
            cut--;
        if (ck_tokens_text(text, cut) <= max_tokens)
            lo = mid;
        else
            hi = mid - 1;
    }
    while (lo > 0 && lo < len && ((unsigned char)text[lo] & 0xC0) == 0x80)
        lo--;
    return lo;
}
