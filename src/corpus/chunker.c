/*
 * chunker.c - documents (Markdown, text, HTML) -> titled Markdown chunks
 * for the search corpus.  See chunker.h for the contract and docs/ingest.md
 * for the rules.
 *
 * Two stages: a per-format parser turns the (sanitized) text into a list of
 * blocks (headings, paragraphs, list items, tables, code), then the
 * assembler packs the blocks of each section into chunks of about
 * CK_CHUNK_TARGET characters under the section's heading path.  Tables and
 * code blocks stay whole up to CK_CHUNK_BLOCK_MAX (beyond that they are cut
 * between rows, repeating the header, or between lines, each piece fenced);
 * only a paragraph longer than CK_CHUNK_MAX is cut, after a sentence.
 * Chunks do not overlap.
 */
#include "corpus/chunker.h"

#include "base/strbuf.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define CK_TITLE_MAX 300 /* a heading path is cut (on a character boundary) to this */
#define CK_MAX_LEVEL 6
#define CK_LIST_DEPTH 8 /* nested HTML lists deeper than this indent no further */

/* ------------------------------------------------------------------- UTF-8 */

static void add_code_point(ck_strbuf_t *b, uint32_t cp)
{
    char u[4];
    if (cp == 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        cp = 0xFFFD;
    if (cp < 0x80) {
        u[0] = (char)cp;
        ck_strbuf_add(b, u, 1);
    } else if (cp < 0x800) {
        u[0] = (char)(0xC0 | (cp >> 6));
        u[1] = (char)(0x80 | (cp & 0x3F));
        ck_strbuf_add(b, u, 2);
    } else if (cp < 0x10000) {
        u[0] = (char)(0xE0 | (cp >> 12));
        u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[2] = (char)(0x80 | (cp & 0x3F));
        ck_strbuf_add(b, u, 3);
    } else {
        u[0] = (char)(0xF0 | (cp >> 18));
        u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        u[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[3] = (char)(0x80 | (cp & 0x3F));
        ck_strbuf_add(b, u, 4);
    }
}

/* Length of the valid UTF-8 sequence at s (n bytes left), 0 if invalid. */
static size_t utf8_seq_len(const unsigned char *s, size_t n)
{
    if (s[0] < 0x80)
        return 1;
    size_t need;
    uint32_t min;
    if ((s[0] & 0xE0) == 0xC0) {
        need = 2;
        min = 0x80;
    } else if ((s[0] & 0xF0) == 0xE0) {
        need = 3;
        min = 0x800;
    } else if ((s[0] & 0xF8) == 0xF0) {
        need = 4;
        min = 0x10000;
    } else {
        return 0;
    }
    if (n < need)
        return 0;
    uint32_t cp = s[0] & (0x3F >> (need - 1));
    for (size_t i = 1; i < need; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return need;
}

char *ck_chunk_utf8_sanitize(const char *data, size_t len, size_t *nbad)
{
    ck_strbuf_t b = {0};
    size_t bad = 0;
    const unsigned char *s = (const unsigned char *)data;
    ck_strbuf_reserve(&b, len);
    for (size_t i = 0; i < len && !b.failed;) {
        size_t n = utf8_seq_len(s + i, len - i);
        if (n == 0) {
            add_code_point(&b, 0xFFFD);
            bad++;
            i++;
        } else if (s[i] == 0) {
            ck_strbuf_addc(&b, ' ');
            i++;
        } else {
            ck_strbuf_add(&b, (const char *)s + i, n);
            i += n;
        }
    }
    if (nbad)
        *nbad = bad;
    if (b.failed) {
        free(b.p);
        return NULL;
    }
    return ck_strbuf_take(&b);
}

/* Largest n' <= n such that s[n'] starts a character (s is valid UTF-8). */
static size_t utf8_floor(const char *s, size_t n)
{
    while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
        n--;
    return n;
}

/* ------------------------------------------------------------------ blocks */

typedef enum { BLK_HEADING, BLK_PARA, BLK_ITEM, BLK_TABLE, BLK_CODE } blk_kind_t;

typedef struct block {
    blk_kind_t kind;
    int level;  /* headings: 1..6 */
    char *text; /* Markdown text of the block; code: the code without fences */
    char *info; /* code: the fence's info string (language), or NULL */
} block_t;

typedef struct blocks {
    block_t *v;
    size_t n, cap;
    int oom;
} blocks_t;

/* Appends a block owning `text` (and `info`); empty (all-space) text is dropped. */
static void blocks_push_info(blocks_t *bl, blk_kind_t kind, int level, char *text, char *info)
{
    if (!text) {
        free(info);
        bl->oom = 1;
        return;
    }
    if (text[strspn(text, " \t\r\n")] == '\0' || bl->oom) {
        free(text);
        free(info);
        return;
    }
    if (bl->n == bl->cap) {
        size_t cap = bl->cap ? bl->cap * 2 : 32;
        block_t *v = realloc(bl->v, cap * sizeof *v);
        if (!v) {
            free(text);
            free(info);
            bl->oom = 1;
            return;
        }
        bl->v = v;
        bl->cap = cap;
    }
    bl->v[bl->n++] = (block_t){kind, level, text, info};
}

static void blocks_push(blocks_t *bl, blk_kind_t kind, int level, char *text)
{
    blocks_push_info(bl, kind, level, text, NULL);
}

static void blocks_free(blocks_t *bl)
{
    for (size_t i = 0; i < bl->n; i++) {
        free(bl->v[i].text);
        free(bl->v[i].info);
    }
    free(bl->v);
    memset(bl, 0, sizeof *bl);
}

static int is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

static char *take(ck_strbuf_t *b)
{
    if (b->failed) {
        free(b->p);
        memset(b, 0, sizeof *b);
        return NULL;
    }
    if (!b->p) {
        ck_strbuf_addc(b, '\0');
        b->len = 0;
        if (b->failed) {
            free(b->p);
            return NULL;
        }
    }
    return ck_strbuf_take(b);
}

/* Copy of s[0..n) with every whitespace run turned into one space, trimmed. */
static char *collapse_ws(const char *s, size_t n)
{
    ck_strbuf_t b = {0};
    int pending = 0;
    for (size_t i = 0; i < n; i++) {
        if (is_space(s[i])) {
            pending = b.len > 0;
            continue;
        }
        if (pending)
            ck_strbuf_addc(&b, ' ');
        pending = 0;
        ck_strbuf_addc(&b, s[i]);
    }
    return take(&b);
}

/* Copy of s[0..n) with trailing whitespace of each line and blank lines at
 * both ends removed (line structure and indentation kept: code, lists). */
static char *trim_lines(const char *s, size_t n)
{
    ck_strbuf_t b = {0};
    size_t i = 0;
    while (i < n) {
        size_t e = i;
        while (e < n && s[e] != '\n')
            e++;
        size_t t = e;
        while (t > i && is_space(s[t - 1]))
            t--;
        if (t > i || b.len > 0) {
            ck_strbuf_add(&b, s + i, t - i);
            ck_strbuf_addc(&b, '\n');
        }
        i = e + 1;
    }
    while (b.len > 0 && is_space(b.p[b.len - 1]))
        b.p[--b.len] = '\0';
    return take(&b);
}

/* ------------------------------------------------------------- plain text */

/* Plain text: paragraphs separated by blank lines (line breaks kept). */
static void parse_text(const char *s, blocks_t *bl)
{
    size_t i = 0, n = strlen(s), start = 0;
    while (i <= n) {
        size_t e = i;
        while (e < n && s[e] != '\n')
            e++;
        int blank = 1;
        for (size_t k = i; k < e; k++)
            blank &= is_space(s[k]);
        if (blank || e >= n) {
            size_t end = blank ? i : e;
            if (end > start)
                blocks_push(bl, BLK_PARA, 0, trim_lines(s + start, end - start));
            start = e + 1;
        }
        i = e + 1;
    }
}

/* --------------------------------------------------------------- Markdown */

/* Heading level of an ATX line ("## Title"), 0 if not one; text and tlen receive the title. */
static int md_atx(const char *l, size_t n, const char **text, size_t *tlen)
{
    size_t i = 0, lvl = 0;
    while (i < n && i < 3 && l[i] == ' ')
        i++;
    while (i < n && l[i] == '#' && lvl < 7) {
        i++;
        lvl++;
    }
    if (lvl == 0 || lvl > CK_MAX_LEVEL || (i < n && l[i] != ' ' && l[i] != '\t'))
        return 0;
    size_t e = n;
    while (e > i && (is_space(l[e - 1]) || l[e - 1] == '#'))
        e--;
    while (i < e && is_space(l[i]))
        i++;
    *text = l + i;
    *tlen = e - i;
    return (int)lvl;
}

/* Setext underline level: 1 for "===", 2 for "---", else 0. */
static int md_setext(const char *l, size_t n)
{
    size_t i = 0, cnt = 0;
    while (i < n && l[i] == ' ')
        i++;
    char c = i < n ? l[i] : 0;
    if (c != '=' && c != '-')
        return 0;
    for (; i < n && !is_space(l[i]); i++, cnt++)
        if (l[i] != c)
            return 0;
    for (; i < n; i++)
        if (!is_space(l[i]))
            return 0;
    return (c == '=' || cnt >= 2) ? (c == '=' ? 1 : 2) : 0;
}

/* Length of the fence (``` or ~~~, 3 or more) opening line l, 0 if none;
 * *ch gets the fence character. */
static size_t md_fence(const char *l, size_t n, char *ch)
{
    size_t i = 0;
    while (i < n && i < 3 && l[i] == ' ')
        i++;
    if (i >= n || (l[i] != '`' && l[i] != '~'))
        return 0;
    size_t k = i;
    while (k < n && l[k] == l[i])
        k++;
    if (k - i < 3)
        return 0;
    *ch = l[i];
    return k - i;
}

/* 1 when the line starts a list item: "- x", "* x", "+ x", "1. x", "1) x". */
static int md_item(const char *l, size_t n)
{
    size_t i = 0;
    while (i < n && i < 12 && l[i] == ' ')
        i++;
    if (i + 1 < n && (l[i] == '-' || l[i] == '*' || l[i] == '+') && l[i + 1] == ' ')
        return 1;
    size_t d = i;
    while (d < n && d - i < 9 && isdigit((unsigned char)l[d]))
        d++;
    return d > i && d + 1 < n && (l[d] == '.' || l[d] == ')') && l[d + 1] == ' ';
}

static int md_table_line(const char *l, size_t n)
{
    size_t i = 0;
    while (i < n && i < 3 && l[i] == ' ')
        i++;
    return i < n && l[i] == '|';
}

typedef struct md_state {
    ck_strbuf_t buf;  /* the block being collected */
    blk_kind_t kind;  /* its kind (BLK_PARA, BLK_ITEM, BLK_TABLE, BLK_CODE) */
    int lines;        /* lines in buf */
    char fence_ch;    /* inside a fenced block: its character... */
    size_t fence_len; /* ...and length (0: not in a fence) */
    char *info;       /* the fence's info string */
} md_state_t;

static void md_flush(md_state_t *st, blocks_t *bl)
{
    if (st->buf.len || st->kind == BLK_CODE)
        blocks_push_info(bl, st->kind, 0, trim_lines(st->buf.p ? st->buf.p : "", st->buf.len),
                         st->kind == BLK_CODE ? st->info : NULL);
    else if (st->kind == BLK_CODE)
        free(st->info);
    if (st->kind == BLK_CODE)
        st->info = NULL;
    if (st->buf.failed)
        bl->oom = 1;
    st->buf.len = 0;
    st->buf.failed = 0;
    st->lines = 0;
    st->kind = BLK_PARA;
}

static void md_add_line(md_state_t *st, const char *l, size_t n)
{
    ck_strbuf_add(&st->buf, l, n);
    ck_strbuf_addc(&st->buf, '\n');
    st->lines++;
}

/* One Markdown line (without its newline). */
static void md_line(md_state_t *st, const char *l, size_t n, blocks_t *bl)
{
    const char *t;
    size_t tl;
    int lvl;
    char ch = 0;
    size_t fl;
    if (st->fence_len) {
        size_t i = 0;
        while (i < n && i < 3 && l[i] == ' ')
            i++;
        if ((fl = md_fence(l, n, &ch)) >= st->fence_len && ch == st->fence_ch &&
            strspn(l + i + fl, " \t") == n - i - fl) {
            md_flush(st, bl);
            st->fence_len = 0;
        } else {
            md_add_line(st, l, n);
        }
    } else if ((fl = md_fence(l, n, &ch)) > 0) {
        md_flush(st, bl);
        size_t i = 0;
        while (i < n && l[i] == ' ')
            i++;
        st->kind = BLK_CODE;
        st->fence_ch = ch;
        st->fence_len = fl;
        st->info = collapse_ws(l + i + fl, n - i - fl);
        if (st->info && !*st->info) {
            free(st->info);
            st->info = NULL;
        }
    } else if ((lvl = md_atx(l, n, &t, &tl)) > 0) {
        md_flush(st, bl);
        blocks_push(bl, BLK_HEADING, lvl, collapse_ws(t, tl));
    } else if (st->kind == BLK_PARA && st->lines == 1 && (lvl = md_setext(l, n)) > 0) {
        char *h = collapse_ws(st->buf.p, st->buf.len);
        st->buf.len = 0;
        st->lines = 0;
        blocks_push(bl, BLK_HEADING, lvl, h);
    } else if (strspn(l, " \t\r") >= n) {
        md_flush(st, bl);
    } else if (md_table_line(l, n)) {
        if (st->kind != BLK_TABLE)
            md_flush(st, bl);
        st->kind = BLK_TABLE;
        md_add_line(st, l, n);
    } else if (md_item(l, n)) {
        md_flush(st, bl);
        st->kind = BLK_ITEM;
        md_add_line(st, l, n);
    } else {
        if (st->kind == BLK_TABLE)
            md_flush(st, bl);
        md_add_line(st, l, n); /* paragraph line, or continuation of an item */
    }
}

static void parse_markdown(const char *s, blocks_t *bl)
{
    md_state_t st = {.kind = BLK_PARA};
    size_t i = 0, n = strlen(s);
    while (i < n) {
        size_t e = i;
        while (e < n && s[e] != '\n')
            e++;
        md_line(&st, s + i, e - i, bl);
        i = e + 1;
    }
    md_flush(&st, bl);
    free(st.info);
    free(st.buf.p);
}

/* -------------------------------------------------------------------- HTML */

typedef struct html_tag {
    char name[16];
    int closing;
    int nav;   /* not content: <nav>, role="navigation", class "nav...", "toc" or "index" */
    int empty; /* has no content: "<x/>" or a void element (<br>, <img>, ...) */
} html_tag_t;

static const char *const VOID_TAGS[] = {"area",  "base", "br",   "col",    "embed", "hr",  "img",
                                        "input", "link", "meta", "source", "track", "wbr", NULL};

static const char *const BLOCK_TAGS[] = {
    "p",          "div",      "li",      "ul",      "ol",      "dl",      "dt",     "dd",     "table",      "tr",
    "blockquote", "section",  "article", "main",    "aside",   "header",  "footer", "figure", "figcaption", "hr",
    "form",       "fieldset", "caption", "details", "summary", "address", "center", "body",   NULL};

static int in_list(const char *name, const char *const *list)
{
    for (; *list; list++)
        if (strcmp(name, *list) == 0)
            return 1;
    return 0;
}

/* Value of attribute `attr` inside the tag source a[0..n) into out (lowercased). */
static int attr_value(const char *a, size_t n, const char *attr, char *out, size_t outsz)
{
    size_t al = strlen(attr);
    for (size_t i = 0; i + al < n; i++) {
        if ((i == 0 || is_space(a[i - 1])) && strncasecmp(a + i, attr, al) == 0) {
            size_t j = i + al;
            while (j < n && is_space(a[j]))
                j++;
            if (j >= n || a[j] != '=')
                continue;
            j++;
            while (j < n && is_space(a[j]))
                j++;
            char q = (j < n && (a[j] == '"' || a[j] == '\'')) ? a[j++] : 0;
            size_t k = 0;
            while (j < n && k + 1 < outsz && (q ? a[j] != q : !is_space(a[j]) && a[j] != '>'))
                out[k++] = (char)tolower((unsigned char)a[j++]);
            out[k] = '\0';
            return 1;
        }
    }
    return 0;
}

/* A class list naming navigation (a word starting with "nav"), a table of
 * contents ("toc") or a back-of-book index ("index": DocBook's bookindex.html,
 * an alphabetical list of every term with links, which matches any query). */
static int class_is_nav(const char *cls)
{
    for (const char *p = cls; *p;) {
        while (*p == ' ')
            p++;
        size_t w = strcspn(p, " ");
        if (strncmp(p, "nav", 3) == 0 || (w == 3 && strncmp(p, "toc", 3) == 0) ||
            (w == 5 && strncmp(p, "index", 5) == 0))
            return 1;
        while (*p && *p != ' ')
            p++;
    }
    return 0;
}

/* Parses the tag starting at s[i] == '<'; returns the index after '>' (or n). */
static size_t html_tag(const char *s, size_t i, size_t n, html_tag_t *tag)
{
    memset(tag, 0, sizeof *tag);
    size_t j = i + 1;
    if (j < n && s[j] == '/') {
        tag->closing = 1;
        j++;
    }
    size_t k = 0;
    while (j < n && (isalnum((unsigned char)s[j]) || s[j] == '-')) {
        if (k + 1 < sizeof tag->name)
            tag->name[k++] = (char)tolower((unsigned char)s[j]);
        j++;
    }
    size_t attrs = j;
    char q = 0;
    while (j < n && (q || s[j] != '>')) {
        if (q && s[j] == q)
            q = 0;
        else if (!q && (s[j] == '"' || s[j] == '\''))
            q = s[j];
        j++;
    }
    char val[128];
    tag->empty = (j > attrs && j < n && s[j - 1] == '/') || in_list(tag->name, VOID_TAGS);
    if (!tag->closing && !tag->empty) {
        tag->nav = strcmp(tag->name, "nav") == 0 ||
                   (attr_value(s + attrs, j - attrs, "role", val, sizeof val) && strcmp(val, "navigation") == 0) ||
                   (attr_value(s + attrs, j - attrs, "class", val, sizeof val) && class_is_nav(val));
    }
    return j < n ? j + 1 : n;
}

static const struct {
    const char *name;
    uint32_t cp;
} ENTITIES[] = {{"amp", '&'},      {"lt", '<'},       {"gt", '>'},       {"quot", '"'},      {"apos", '\''},
                {"nbsp", ' '},     {"mdash", 0x2014}, {"ndash", 0x2013}, {"hellip", 0x2026}, {"copy", 0xA9},
                {"reg", 0xAE},     {"trade", 0x2122}, {"lsquo", 0x2018}, {"rsquo", 0x2019},  {"ldquo", 0x201C},
                {"rdquo", 0x201D}, {"laquo", 0xAB},   {"raquo", 0xBB},   {"middot", 0xB7},   {"bull", 0x2022},
                {"times", 0xD7},   {"larr", 0x2190},  {"rarr", 0x2192},  {"uarr", 0x2191},   {"darr", 0x2193},
                {"deg", 0xB0},     {"para", 0xB6},    {"sect", 0xA7},    {"shy", 0xAD},      {"euro", 0x20AC},
                {NULL, 0}};

/* Decodes the entity at s[i] == '&' into b; returns the index after it, or
 * i + 1 (and a literal '&') when it is not a known entity. */
static size_t html_entity(const char *s, size_t i, size_t n, ck_strbuf_t *b)
{
    size_t j = i + 1, e;
    if (j < n && s[j] == '#') {
        int hex = j + 1 < n && (s[j + 1] == 'x' || s[j + 1] == 'X');
        size_t d = j + 1 + (size_t)hex;
        unsigned long cp = 0;
        for (e = d; e < n && e - d < 8 && (hex ? isxdigit((unsigned char)s[e]) : isdigit((unsigned char)s[e])); e++)
            cp = cp * (hex ? 16 : 10) +
                 (unsigned long)(isdigit((unsigned char)s[e]) ? s[e] - '0' : (tolower((unsigned char)s[e]) - 'a' + 10));
        if (e > d && e < n && s[e] == ';') {
            add_code_point(b, cp > 0x10FFFF ? 0xFFFD : (uint32_t)cp);
            return e + 1;
        }
    } else {
        for (e = j; e < n && e - j < 10 && isalnum((unsigned char)s[e]); e++)
            ;
        for (int k = 0; e < n && s[e] == ';' && ENTITIES[k].name; k++) {
            if (strlen(ENTITIES[k].name) == e - j && strncmp(ENTITIES[k].name, s + j, e - j) == 0) {
                add_code_point(b, ENTITIES[k].cp);
                return e + 1;
            }
        }
    }
    ck_strbuf_addc(b, '&');
    return i + 1;
}

/* A table being collected: rows of cells (collapsed text). */
typedef struct html_table {
    char ***rows;   /* rows[r][c] */
    size_t *ncells; /* cells per row */
    size_t nrows, cap;
    int header; /* the first row is a header (<th> or <thead>) */
} html_table_t;

typedef struct html_state {
    ck_strbuf_t text;  /* the paragraph, item, heading or code being collected */
    ck_strbuf_t title; /* <title> */
    ck_strbuf_t cell;  /* the table cell being collected */
    int in_title;      /* inside <title> */
    int heading;       /* inside <hN>: N */
    int pre;           /* inside <pre>: depth */
    int code;          /* inside inline <code>: depth */
    int table;         /* inside <table>: depth */
    int in_cell;       /* inside <td>/<th> of the outer table */
    html_table_t tab;
    int list_depth;                           /* nesting of <ul>/<ol> */
    char list_kind[CK_LIST_DEPTH];            /* 'u' or 'o' per level */
    int list_n[CK_LIST_DEPTH];                /* items so far per level (ordered numbering) */
    int item;                                 /* text holds a list item... */
    char item_prefix[2 * CK_LIST_DEPTH + 16]; /* ...with this indent and marker */
    int dt;                                   /* inside <dt> */
    int admonition;                           /* a note/tip/warning div opened: its title is a label */
    int label_heading;                        /* the current <hN> is such a label */
    char *label;                              /* "Tip" etc., put before the next paragraph */
    char skip[16];                            /* skipping an element with this name (nav boilerplate) */
    int skip_depth;                           /* nesting of `skip` elements */
    int oom;
} html_state_t;

/* Where text goes: the cell, the <title> or the block text. */
static ck_strbuf_t *html_out(html_state_t *st)
{
    if (st->in_title)
        return &st->title;
    if (st->table)
        return &st->cell;
    return &st->text;
}

static void html_flush(html_state_t *st, blocks_t *bl)
{
    if (st->text.failed)
        bl->oom = 1;
    if (st->text.len == 0) {
        st->item = 0;
        return;
    }
    if (st->heading && !st->label_heading) {
        blocks_push(bl, BLK_HEADING, st->heading, collapse_ws(st->text.p, st->text.len));
    } else if (st->heading) {
        free(st->label);
        st->label = collapse_ws(st->text.p, st->text.len);
    } else if (st->pre) {
        blocks_push(bl, BLK_CODE, 0, trim_lines(st->text.p, st->text.len));
    } else {
        char *t = collapse_ws(st->text.p, st->text.len);
        if (t && *t && st->label && !st->item) {
            ck_strbuf_t b = {0};
            ck_strbuf_adds(&b, "**");
            ck_strbuf_adds(&b, st->label);
            ck_strbuf_adds(&b, ":** ");
            ck_strbuf_adds(&b, t);
            free(t);
            t = take(&b);
            free(st->label);
            st->label = NULL;
        }
        if (t && st->dt && *t) {
            ck_strbuf_t b = {0};
            ck_strbuf_adds(&b, "**");
            ck_strbuf_adds(&b, t);
            ck_strbuf_adds(&b, "**");
            free(t);
            t = take(&b);
        }
        if (t && st->item) {
            ck_strbuf_t b = {0};
            ck_strbuf_adds(&b, st->item_prefix);
            ck_strbuf_adds(&b, t);
            free(t);
            t = take(&b);
        }
        blocks_push(bl, st->item ? BLK_ITEM : BLK_PARA, 0, t);
    }
    st->text.len = 0;
    st->item = 0;
}

static void table_free(html_table_t *t)
{
    for (size_t r = 0; r < t->nrows; r++) {
        for (size_t c = 0; c < t->ncells[r]; c++)
            free(t->rows[r][c]);
        free(t->rows[r]);
    }
    free(t->rows);
    free(t->ncells);
    memset(t, 0, sizeof *t);
}

static void table_row(html_state_t *st)
{
    html_table_t *t = &st->tab;
    if (t->nrows == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 16;
        char ***rows = realloc(t->rows, cap * sizeof *rows);
        size_t *nc = rows ? realloc(t->ncells, cap * sizeof *nc) : NULL;
        if (rows)
            t->rows = rows;
        if (!rows || !nc) {
            st->oom = 1;
            return;
        }
        t->ncells = nc;
        t->cap = cap;
    }
    t->rows[t->nrows] = NULL;
    t->ncells[t->nrows++] = 0;
}

/* Ends the cell being collected (if any) into the current row. */
static void table_cell_end(html_state_t *st)
{
    if (!st->in_cell)
        return;
    st->in_cell = 0;
    html_table_t *t = &st->tab;
    if (t->nrows == 0)
        table_row(st);
    if (st->oom || t->nrows == 0)
        return;
    size_t r = t->nrows - 1;
    char **cells = realloc(t->rows[r], (t->ncells[r] + 1) * sizeof *cells);
    char *txt = collapse_ws(st->cell.p ? st->cell.p : "", st->cell.len);
    if (!cells || !txt) {
        free(txt);
        if (cells)
            t->rows[r] = cells;
        st->oom = 1;
        return;
    }
    t->rows[r] = cells;
    cells[t->ncells[r]++] = txt;
    st->cell.len = 0;
}

/* The collected table as a Markdown pipe table (header row, separator,
 * rows; "|" in cells escaped). */
static void table_emit(html_state_t *st, blocks_t *bl)
{
    table_cell_end(st);
    html_table_t *t = &st->tab;
    size_t cols = 0;
    for (size_t r = 0; r < t->nrows; r++)
        cols = t->ncells[r] > cols ? t->ncells[r] : cols;
    if (cols > 0 && !st->oom) {
        ck_strbuf_t b = {0};
        size_t out_rows = 0;
        for (size_t r = 0; r < t->nrows; r++) {
            if (t->ncells[r] == 0)
                continue;
            ck_strbuf_addc(&b, '|');
            for (size_t c = 0; c < cols; c++) {
                ck_strbuf_addc(&b, ' ');
                const char *v = c < t->ncells[r] ? t->rows[r][c] : "";
                for (; *v; v++) {
                    if (*v == '|')
                        ck_strbuf_addc(&b, '\\');
                    ck_strbuf_addc(&b, *v);
                }
                ck_strbuf_adds(&b, " |");
            }
            ck_strbuf_addc(&b, '\n');
            if (out_rows++ == 0) {
                ck_strbuf_addc(&b, '|');
                for (size_t c = 0; c < cols; c++)
                    ck_strbuf_adds(&b, " --- |");
                ck_strbuf_addc(&b, '\n');
            }
        }
        if (b.len)
            b.p[--b.len] = '\0';
        blocks_push(bl, BLK_TABLE, 0, take(&b));
    }
    table_free(t);
}

/* Index after the closing tag </name> at or after i (or n). */
static size_t skip_raw(const char *s, size_t i, size_t n, const char *name)
{
    size_t nl = strlen(name);
    for (; i + nl + 2 <= n; i++)
        if (s[i] == '<' && s[i + 1] == '/' && strncasecmp(s + i + 2, name, nl) == 0) {
            const char *gt = memchr(s + i, '>', n - i);
            return gt ? (size_t)(gt - s) + 1 : n;
        }
    return n;
}

static const char *const ADMONITIONS[] = {"note", "tip", "warning", "caution", "important", NULL};

/* Starts a list item: flushes, sets the indented marker. */
static void html_item(html_state_t *st, blocks_t *bl)
{
    html_flush(st, bl);
    int lvl = st->list_depth > 0 ? st->list_depth - 1 : 0;
    int idx = lvl < CK_LIST_DEPTH ? lvl : CK_LIST_DEPTH - 1;
    size_t o = 0;
    for (int i = 0; i < idx; i++) {
        st->item_prefix[o++] = ' ';
        st->item_prefix[o++] = ' ';
    }
    if (st->list_depth > 0 && st->list_kind[idx] == 'o')
        snprintf(st->item_prefix + o, sizeof st->item_prefix - o, "%d. ", ++st->list_n[idx]);
    else
        snprintf(st->item_prefix + o, sizeof st->item_prefix - o, "- ");
    st->item = 1;
}

/* Applies one tag to the state.  `attrs` is the tag's source (for class). */
static void html_apply(html_state_t *st, const html_tag_t *t, const char *attrs, size_t alen, blocks_t *bl)
{
    const char *nm = t->name;
    if (st->skip_depth) {
        if (strcmp(nm, st->skip) == 0 && !t->empty)
            st->skip_depth += t->closing ? -1 : 1;
        return;
    }
    if (t->nav) {
        strcpy(st->skip, nm);
        st->skip_depth = 1;
        return;
    }
    if (strcmp(nm, "title") == 0) {
        st->in_title = !t->closing;
        return;
    }
    if (st->table) { /* inside a table: rows and cells; everything else is inline */
        if (strcmp(nm, "table") == 0) {
            if (!t->closing && !t->empty) {
                st->table++;
            } else if (t->closing && --st->table == 0) {
                table_emit(st, bl);
            }
        } else if (st->table == 1 && strcmp(nm, "tr") == 0 && !t->closing) {
            table_cell_end(st);
            table_row(st);
        } else if (st->table == 1 && (strcmp(nm, "td") == 0 || strcmp(nm, "th") == 0)) {
            table_cell_end(st);
            if (!t->closing) {
                st->in_cell = 1;
                if (strcmp(nm, "th") == 0 && st->tab.nrows <= 1)
                    st->tab.header = 1;
            }
        } else if (strcmp(nm, "code") == 0 && !t->empty) {
            if (t->closing ? --st->code == 0 : st->code++ == 0)
                ck_strbuf_addc(&st->cell, '`');
            if (st->code < 0)
                st->code = 0;
        } else if (!t->empty || strcmp(nm, "br") == 0) {
            ck_strbuf_addc(&st->cell, ' ');
        }
        return;
    }
    if (nm[0] == 'h' && nm[1] >= '1' && nm[1] <= '6' && nm[2] == '\0') {
        html_flush(st, bl);
        st->in_title = 0;
        if (t->closing) {
            st->heading = 0;
            st->label_heading = 0;
        } else {
            st->heading = nm[1] - '0';
            st->label_heading = st->admonition;
            st->admonition = 0;
        }
    } else if (strcmp(nm, "pre") == 0) {
        html_flush(st, bl);
        st->pre += t->closing ? (st->pre > 0 ? -1 : 0) : 1;
    } else if (strcmp(nm, "table") == 0 && !t->closing && !t->empty) {
        html_flush(st, bl);
        st->table = 1;
        st->in_cell = 0;
    } else if (strcmp(nm, "br") == 0) {
        ck_strbuf_addc(&st->text, '\n');
    } else if (strcmp(nm, "code") == 0 && !t->empty && !st->pre && !st->heading) {
        if (t->closing ? (st->code > 0 && --st->code == 0) : st->code++ == 0)
            ck_strbuf_addc(&st->text, '`');
    } else if (strcmp(nm, "ul") == 0 || strcmp(nm, "ol") == 0) {
        html_flush(st, bl);
        if (!t->closing) {
            if (st->list_depth < CK_LIST_DEPTH) {
                st->list_kind[st->list_depth] = nm[0];
                st->list_n[st->list_depth] = 0;
            }
            st->list_depth++;
        } else if (st->list_depth > 0) {
            st->list_depth--;
        }
    } else if (strcmp(nm, "li") == 0) {
        if (t->closing)
            html_flush(st, bl);
        else
            html_item(st, bl);
    } else if (strcmp(nm, "dt") == 0) {
        html_flush(st, bl);
        st->dt = !t->closing;
    } else if (st->pre) {
        /* inside <pre> other tags are markup only */
    } else if (in_list(nm, BLOCK_TAGS)) {
        st->in_title = 0;
        if (st->item && (strcmp(nm, "p") == 0 || strcmp(nm, "div") == 0)) {
            if (st->text.len) /* paragraphs inside a list item stay in the item */
                ck_strbuf_addc(&st->text, ' ');
        } else {
            html_flush(st, bl);
        }
        if (strcmp(nm, "div") == 0 && !t->closing) {
            char cls[128];
            if (attr_value(attrs, alen, "class", cls, sizeof cls) && in_list(cls, ADMONITIONS))
                st->admonition = 1;
        }
    }
}

/* HTML: returns the <title> text (caller frees) and fills bl. */
static char *parse_html(const char *s, blocks_t *bl)
{
    html_state_t st = {0};
    size_t i = 0, n = strlen(s);
    while (i < n) {
        if (s[i] == '<' && i + 3 < n && strncmp(s + i, "<!--", 4) == 0) {
            const char *end = strstr(s + i + 4, "-->");
            i = end ? (size_t)(end - s) + 3 : n;
        } else if (s[i] == '<' && i + 1 < n && (s[i + 1] == '!' || s[i + 1] == '?')) {
            const char *gt = memchr(s + i, '>', n - i);
            i = gt ? (size_t)(gt - s) + 1 : n;
        } else if (s[i] == '<' && i + 1 < n && (isalpha((unsigned char)s[i + 1]) || s[i + 1] == '/')) {
            html_tag_t t;
            size_t start = i;
            i = html_tag(s, i, n, &t);
            if (!t.closing &&
                (strcmp(t.name, "script") == 0 || strcmp(t.name, "style") == 0 || strcmp(t.name, "template") == 0))
                i = skip_raw(s, i, n, t.name);
            else
                html_apply(&st, &t, s + start, i - start, bl);
        } else if (st.skip_depth || (st.table && !st.in_cell && !st.in_title)) {
            i++;
        } else {
            ck_strbuf_t *out = html_out(&st);
            if (s[i] == '&')
                i = html_entity(s, i, n, out);
            else
                ck_strbuf_addc(out, s[i++]);
        }
    }
    if (st.table)
        table_emit(&st, bl);
    html_flush(&st, bl);
    if (st.text.failed || st.title.failed || st.cell.failed || st.oom)
        bl->oom = 1;
    free(st.text.p);
    free(st.cell.p);
    free(st.label);
    table_free(&st.tab);
    char *title = collapse_ws(st.title.p ? st.title.p : "", st.title.len);
    free(st.title.p);
    return title;
}

/* --------------------------------------------------------------- assembler */

typedef struct chunks {
    ck_chunk_t *v;
    size_t n, cap;
    int oom;
} chunks_t;

typedef struct asm_state {
    const char *doc_title;
    char *path[CK_MAX_LEVEL + 1]; /* heading stack by level (1..6) */
    ck_strbuf_t cur;              /* the chunk being built */
    char *cur_title;              /* its heading path (owned) */
    blk_kind_t last;              /* kind of the last block added to cur */
    chunks_t out;
} asm_state_t;

/* "Doc > H2 > H3" from the stack, skipping headings equal to the doc title. */
static char *asm_path(const asm_state_t *a)
{
    ck_strbuf_t b = {0};
    ck_strbuf_adds(&b, a->doc_title);
    for (int l = 1; l <= CK_MAX_LEVEL; l++) {
        if (!a->path[l] || strcmp(a->path[l], a->doc_title) == 0)
            continue;
        ck_strbuf_adds(&b, " > ");
        ck_strbuf_adds(&b, a->path[l]);
    }
    if (b.failed) {
        free(b.p);
        return NULL;
    }
    if (b.len > CK_TITLE_MAX) {
        b.len = utf8_floor(b.p, CK_TITLE_MAX);
        b.p[b.len] = '\0';
    }
    return take(&b);
}

/* Emits the current chunk (if any). */
static void asm_flush(asm_state_t *a)
{
    if (a->cur.failed)
        a->out.oom = 1;
    if (a->cur.len == 0 || a->out.oom) {
        a->cur.len = 0;
        return;
    }
    if (a->out.n == a->out.cap) {
        size_t cap = a->out.cap ? a->out.cap * 2 : 16;
        ck_chunk_t *v = realloc(a->out.v, cap * sizeof *v);
        if (!v) {
            a->out.oom = 1;
            return;
        }
        a->out.v = v;
        a->out.cap = cap;
    }
    char *text = strndup(a->cur.p, a->cur.len);
    char *title = a->cur_title ? strdup(a->cur_title) : asm_path(a);
    if (!text || !title) {
        free(text);
        free(title);
        a->out.oom = 1;
        return;
    }
    a->out.v[a->out.n++] = (ck_chunk_t){title, text};
    a->cur.len = 0;
}

/* Adds one piece (a block or a part of one, Markdown) of the given kind. */
static void asm_piece(asm_state_t *a, blk_kind_t kind, const char *p, size_t n)
{
    const char *sep = a->last == BLK_ITEM && kind == BLK_ITEM ? "\n" : "\n\n";
    size_t sl = strlen(sep);
    if (a->cur.len && a->cur.len + sl + n > CK_CHUNK_MAX)
        asm_flush(a);
    if (a->cur.len == 0) {
        free(a->cur_title);
        a->cur_title = asm_path(a);
    } else {
        ck_strbuf_add(&a->cur, sep, sl);
    }
    ck_strbuf_add(&a->cur, p, n);
    a->last = kind;
    if (a->cur.len >= CK_CHUNK_TARGET)
        asm_flush(a);
}

/* Length of the next piece of prose p (at most `lim` bytes): whole
 * sentences, else up to a space, else a character boundary. */
static size_t prose_cut(const char *p, size_t n, size_t lim)
{
    if (n <= lim)
        return n;
    size_t cut = 0, space = 0;
    for (size_t i = 0; i < lim; i++) {
        if ((p[i] == '.' || p[i] == '?' || p[i] == '!' || p[i] == ':' || p[i] == ';') && is_space(p[i + 1]))
            cut = i + 1;
        else if (is_space(p[i]))
            space = i;
    }
    if (cut > lim / 3)
        return cut;
    if (space > 0)
        return space;
    size_t f = utf8_floor(p, lim);
    return f ? f : lim;
}

/* Paragraphs and items: whole up to CK_CHUNK_MAX, else cut after sentences. */
static void asm_prose(asm_state_t *a, blk_kind_t kind, const char *p)
{
    size_t n = strlen(p);
    while (n > 0) {
        size_t u = n <= CK_CHUNK_MAX ? n : prose_cut(p, n, CK_CHUNK_TARGET);
        asm_piece(a, kind, p, u);
        p += u;
        n -= u;
        while (n > 0 && is_space(*p)) {
            p++;
            n--;
        }
    }
}

/* A code block: fenced (``` unless the code holds ```, then ~~~~), whole up
 * to CK_CHUNK_BLOCK_MAX, else cut between lines into fenced pieces. */
static void asm_code(asm_state_t *a, const char *code, const char *info)
{
    const char *fence = strstr(code, "```") ? "~~~~" : "```";
    size_t over = 2 * strlen(fence) + (info ? strlen(info) : 0) + 2;
    size_t lim = CK_CHUNK_BLOCK_MAX > over + 64 ? CK_CHUNK_BLOCK_MAX - over : 64;
    size_t n = strlen(code);
    while (n > 0) {
        size_t u = n;
        if (n > lim) {
            u = 0;
            for (size_t i = 0; i < lim; i++)
                if (code[i] == '\n')
                    u = i + 1;
            if (u == 0)
                u = utf8_floor(code, lim) ? utf8_floor(code, lim) : lim;
        }
        ck_strbuf_t b = {0};
        ck_strbuf_adds(&b, fence);
        if (info)
            ck_strbuf_adds(&b, info);
        ck_strbuf_addc(&b, '\n');
        size_t body = u;
        while (body > 0 && code[body - 1] == '\n')
            body--;
        ck_strbuf_add(&b, code, body);
        ck_strbuf_addc(&b, '\n');
        ck_strbuf_adds(&b, fence);
        if (b.failed)
            a->out.oom = 1;
        else
            asm_piece(a, BLK_CODE, b.p, b.len);
        free(b.p);
        code += u;
        n -= u;
    }
}

/* A Markdown table: whole up to CK_CHUNK_BLOCK_MAX, else cut between rows,
 * each piece starting with the header and separator rows. */
static void asm_table(asm_state_t *a, const char *t)
{
    size_t n = strlen(t);
    if (n <= CK_CHUNK_BLOCK_MAX) {
        asm_piece(a, BLK_TABLE, t, n);
        return;
    }
    const char *nl1 = strchr(t, '\n');
    const char *nl2 = nl1 ? strchr(nl1 + 1, '\n') : NULL;
    size_t hl = nl2 ? (size_t)(nl2 - t) + 1 : 0;
    if (hl == 0 || hl > CK_CHUNK_BLOCK_MAX / 2) {
        asm_prose(a, BLK_TABLE, t);
        return;
    }
    const char *p = t + hl;
    while (*p) {
        ck_strbuf_t b = {0};
        ck_strbuf_add(&b, t, hl);
        size_t rows = 0;
        while (*p) {
            const char *e = strchr(p, '\n');
            size_t rl = e ? (size_t)(e - p) + 1 : strlen(p);
            if (rows > 0 && b.len + rl > CK_CHUNK_BLOCK_MAX)
                break;
            if (rl > CK_CHUNK_BLOCK_MAX - hl)
                rl = utf8_floor(p, CK_CHUNK_BLOCK_MAX - hl);
            ck_strbuf_add(&b, p, rl);
            p += rl;
            rows++;
        }
        while (b.len > 0 && b.p[b.len - 1] == '\n')
            b.len--;
        if (b.failed)
            a->out.oom = 1;
        else
            asm_piece(a, BLK_TABLE, b.p, b.len);
        free(b.p);
    }
}

static void asm_heading(asm_state_t *a, int level, const char *text)
{
    if (a->cur.len >= CK_CHUNK_MIN || a->cur.len == 0) {
        asm_flush(a);
    } else { /* a short section merges into the next one, its heading as a Markdown heading */
        ck_strbuf_t b = {0};
        for (int i = 0; i < level; i++)
            ck_strbuf_addc(&b, '#');
        ck_strbuf_addc(&b, ' ');
        ck_strbuf_adds(&b, text);
        if (b.failed)
            a->out.oom = 1;
        else
            asm_piece(a, BLK_HEADING, b.p, b.len);
        free(b.p);
    }
    for (int l = level; l <= CK_MAX_LEVEL; l++) {
        free(a->path[l]);
        a->path[l] = NULL;
    }
    a->path[level] = strdup(text);
    if (!a->path[level])
        a->out.oom = 1;
}

static void asm_run(asm_state_t *a, const blocks_t *bl)
{
    for (size_t i = 0; i < bl->n && !a->out.oom; i++) {
        const block_t *b = &bl->v[i];
        if (b->kind == BLK_HEADING)
            asm_heading(a, b->level, b->text);
        else if (b->kind == BLK_CODE)
            asm_code(a, b->text, b->info);
        else if (b->kind == BLK_TABLE)
            asm_table(a, b->text);
        else
            asm_prose(a, b->kind, b->text);
    }
    asm_flush(a);
    free(a->cur.p);
    free(a->cur_title);
    for (int l = 0; l <= CK_MAX_LEVEL; l++)
        free(a->path[l]);
}

/* -------------------------------------------------------------- public API */

int ck_chunk_kind_from_path(const char *path)
{
    const char *dot = strrchr(path, '.');
    const char *slash = strrchr(path, '/');
    if (!dot || (slash && dot < slash))
        return -1;
    if (strcasecmp(dot, ".md") == 0 || strcasecmp(dot, ".markdown") == 0)
        return CK_DOC_MARKDOWN;
    if (strcasecmp(dot, ".txt") == 0)
        return CK_DOC_TEXT;
    if (strcasecmp(dot, ".html") == 0 || strcasecmp(dot, ".htm") == 0)
        return CK_DOC_HTML;
    return -1;
}

/* The document title: the HTML <title>, else the first heading, else name. */
static char *doc_title(char *html_title, const blocks_t *bl, const char *name)
{
    if (html_title && *html_title)
        return html_title;
    free(html_title);
    for (size_t i = 0; i < bl->n; i++)
        if (bl->v[i].kind == BLK_HEADING)
            return strdup(bl->v[i].text);
    return strdup(name && *name ? name : "untitled");
}

void ck_chunk_doc_free(ck_doc_t *doc)
{
    if (!doc)
        return;
    for (size_t i = 0; i < doc->nchunks; i++) {
        free(doc->chunks[i].title);
        free(doc->chunks[i].text);
    }
    free(doc->chunks);
    free(doc->title);
    memset(doc, 0, sizeof *doc);
}

int ck_chunk_document(const char *data, size_t len, ck_doc_kind_t kind, const char *name, ck_doc_t *doc)
{
    memset(doc, 0, sizeof *doc);
    char *s = ck_chunk_utf8_sanitize(data, len, NULL);
    if (!s)
        return -1;
    blocks_t bl = {0};
    char *html_title = NULL;
    if (kind == CK_DOC_HTML)
        html_title = parse_html(s, &bl);
    else if (kind == CK_DOC_MARKDOWN)
        parse_markdown(s, &bl);
    else
        parse_text(s, &bl);
    free(s);
    char *title = bl.oom ? (free(html_title), NULL) : doc_title(html_title, &bl, name);
    asm_state_t a = {.doc_title = title ? title : ""};
    if (title)
        asm_run(&a, &bl);
    blocks_free(&bl);
    if (!title || a.out.oom) {
        for (size_t i = 0; i < a.out.n; i++) {
            free(a.out.v[i].title);
            free(a.out.v[i].text);
        }
        free(a.out.v);
        free(title);
        return -1;
    }
    doc->title = title;
    doc->chunks = a.out.v;
    doc->nchunks = a.out.n;
    return 0;
}
