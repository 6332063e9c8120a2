/*
 * chunker.c - documents (Markdown, text, HTML) -> titled chunks for the
 * search corpus.  See chunker.h for the contract and docs/ingest.md for the
 * rules.
 *
 * Two stages: a per-format parser turns the (sanitized) text into a list of
 * blocks (headings and paragraphs), then the assembler packs paragraphs into
 * chunks of CK_CHUNK_TARGET..CK_CHUNK_MAX characters under the current
 * heading path, cutting long paragraphs on sentence boundaries.
 */
#include "corpus/chunker.h"

#include "base/strbuf.h"

#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define CK_TITLE_MAX 300 /* a heading path is cut (on a character boundary) to this */
#define CK_MAX_LEVEL 6

/* ------------------------------------------------------------------- UTF-8 */

static void add_code_point(ck_strbuf_t *b, uint32_t cp) {
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
static size_t utf8_seq_len(const unsigned char *s, size_t n) {
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

char *ck_chunk_utf8_sanitize(const char *data, size_t len, size_t *nbad) {
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
static size_t utf8_floor(const char *s, size_t n) {
    while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
        n--;
    return n;
}

/* ------------------------------------------------------------------ blocks */

typedef enum { BLK_HEADING, BLK_PARA, BLK_PRE } blk_kind_t;

typedef struct block {
    blk_kind_t kind;
    int level;  /* headings: 1..6 */
    char *text; /* normalized text */
} block_t;

typedef struct blocks {
    block_t *v;
    size_t n, cap;
    int oom;
} blocks_t;

/* Appends a block owning `text`; empty (all-space) text is dropped. */
static void blocks_push(blocks_t *bl, blk_kind_t kind, int level, char *text) {
    if (!text) {
        bl->oom = 1;
        return;
    }
    if (text[strspn(text, " \t\r\n")] == '\0' || bl->oom) {
        free(text);
        return;
    }
    if (bl->n == bl->cap) {
        size_t cap = bl->cap ? bl->cap * 2 : 32;
        block_t *v = realloc(bl->v, cap * sizeof *v);
        if (!v) {
            free(text);
            bl->oom = 1;
            return;
        }
        bl->v = v;
        bl->cap = cap;
    }
    bl->v[bl->n++] = (block_t){kind, level, text};
}

static void blocks_free(blocks_t *bl) {
    for (size_t i = 0; i < bl->n; i++)
        free(bl->v[i].text);
    free(bl->v);
    memset(bl, 0, sizeof *bl);
}

static int is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

/* Copy of s[0..n) with every whitespace run turned into one space, trimmed. */
static char *collapse_ws(const char *s, size_t n) {
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
    if (b.failed) {
        free(b.p);
        return NULL;
    }
    return ck_strbuf_take(&b);
}

/* Copy of s[0..n) with trailing whitespace of each line and blank lines at
 * both ends removed (line structure kept: code, lists). */
static char *trim_lines(const char *s, size_t n) {
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
    if (b.failed) {
        free(b.p);
        return NULL;
    }
    return ck_strbuf_take(&b);
}

/* --------------------------------------------------------- text + markdown */

/* Plain text: paragraphs separated by blank lines. */
static void parse_text(const char *s, blocks_t *bl) {
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

/* Heading level of an ATX line ("## Title"), 0 if not one; text and tlen receive the title. */
static int md_atx(const char *l, size_t n, const char **text, size_t *tlen) {
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
static int md_setext(const char *l, size_t n) {
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

static int md_fence(const char *l, size_t n) {
    size_t i = 0;
    while (i < n && i < 3 && l[i] == ' ')
        i++;
    return n - i >= 3 && (strncmp(l + i, "```", 3) == 0 || strncmp(l + i, "~~~", 3) == 0);
}

typedef struct md_state {
    ck_strbuf_t para;
    int para_lines;
    int in_fence;
} md_state_t;

static void md_flush(md_state_t *st, blocks_t *bl) {
    if (st->para.len)
        blocks_push(bl, st->in_fence ? BLK_PRE : BLK_PARA, 0, trim_lines(st->para.p, st->para.len));
    st->para.len = 0;
    st->para_lines = 0;
}

/* One Markdown line (without its newline). */
static void md_line(md_state_t *st, const char *l, size_t n, blocks_t *bl) {
    const char *t;
    size_t tl;
    int lvl;
    if (md_fence(l, n)) {
        md_flush(st, bl);
        st->in_fence = !st->in_fence;
    } else if (st->in_fence) {
        ck_strbuf_add(&st->para, l, n);
        ck_strbuf_addc(&st->para, '\n');
    } else if ((lvl = md_atx(l, n, &t, &tl)) > 0) {
        md_flush(st, bl);
        blocks_push(bl, BLK_HEADING, lvl, collapse_ws(t, tl));
    } else if (st->para_lines == 1 && (lvl = md_setext(l, n)) > 0) {
        char *h = collapse_ws(st->para.p, st->para.len);
        st->para.len = 0;
        st->para_lines = 0;
        blocks_push(bl, BLK_HEADING, lvl, h);
    } else if (strspn(l, " \t\r") >= n) {
        md_flush(st, bl);
    } else {
        ck_strbuf_add(&st->para, l, n);
        ck_strbuf_addc(&st->para, '\n');
        st->para_lines++;
    }
}

static void parse_markdown(const char *s, blocks_t *bl) {
    md_state_t st = {0};
    size_t i = 0, n = strlen(s);
    while (i < n) {
        size_t e = i;
        while (e < n && s[e] != '\n')
            e++;
        md_line(&st, s + i, e - i, bl);
        i = e + 1;
    }
    md_flush(&st, bl);
    if (st.para.failed)
        bl->oom = 1;
    free(st.para.p);
}

/* -------------------------------------------------------------------- HTML */

typedef struct html_tag {
    char name[16];
    int closing;
    int nav;   /* navigation boilerplate: <nav>, role="navigation", class="nav..." */
    int empty; /* has no content: "<x/>" or a void element (<br>, <img>, ...) */
} html_tag_t;

static const char *const VOID_TAGS[] = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link",
                                        "meta", "source", "track", "wbr", NULL};

static const char *const BLOCK_TAGS[] = {
    "p", "div", "li", "ul", "ol", "dl", "dt", "dd", "table", "tr", "blockquote", "section", "article", "main",
    "aside", "header", "footer", "figure", "figcaption", "hr", "form", "fieldset", "caption", "details", "summary",
    "address", "center", "body", NULL};

static int in_list(const char *name, const char *const *list) {
    for (; *list; list++)
        if (strcmp(name, *list) == 0)
            return 1;
    return 0;
}

/* Value of attribute `attr` inside the tag source a[0..n) into out (lowercased). */
static int attr_value(const char *a, size_t n, const char *attr, char *out, size_t outsz) {
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

static int class_is_nav(const char *cls) {
    for (const char *p = cls; *p;) {
        while (*p == ' ')
            p++;
        if (strncmp(p, "nav", 3) == 0)
            return 1;
        while (*p && *p != ' ')
            p++;
    }
    return 0;
}

/* Parses the tag starting at s[i] == '<'; returns the index after '>' (or n). */
static size_t html_tag(const char *s, size_t i, size_t n, html_tag_t *tag) {
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
} ENTITIES[] = {{"amp", '&'},       {"lt", '<'},        {"gt", '>'},        {"quot", '"'},      {"apos", '\''},
                {"nbsp", ' '},      {"mdash", 0x2014},  {"ndash", 0x2013},  {"hellip", 0x2026}, {"copy", 0xA9},
                {"reg", 0xAE},      {"trade", 0x2122},  {"lsquo", 0x2018},  {"rsquo", 0x2019},  {"ldquo", 0x201C},
                {"rdquo", 0x201D},  {"laquo", 0xAB},    {"raquo", 0xBB},    {"middot", 0xB7},   {"bull", 0x2022},
                {"times", 0xD7},    {"larr", 0x2190},   {"rarr", 0x2192},   {"uarr", 0x2191},   {"darr", 0x2193},
                {"deg", 0xB0},      {"para", 0xB6},     {"sect", 0xA7},     {"shy", 0xAD},      {"euro", 0x20AC},
                {NULL, 0}};

/* Decodes the entity at s[i] == '&' into b; returns the index after it, or
 * i + 1 (and a literal '&') when it is not a known entity. */
static size_t html_entity(const char *s, size_t i, size_t n, ck_strbuf_t *b) {
    size_t j = i + 1, e;
    if (j < n && s[j] == '#') {
        int hex = j + 1 < n && (s[j + 1] == 'x' || s[j + 1] == 'X');
        size_t d = j + 1 + (size_t)hex;
        unsigned long cp = 0;
        for (e = d; e < n && e - d < 8 && (hex ? isxdigit((unsigned char)s[e]) : isdigit((unsigned char)s[e])); e++)
            cp = cp * (hex ? 16 : 10) + (unsigned long)(isdigit((unsigned char)s[e]) ? s[e] - '0'
                                                                                     : (tolower((unsigned char)s[e]) - 'a' + 10));
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

typedef struct html_state {
    ck_strbuf_t text;    /* the paragraph or heading being collected */
    ck_strbuf_t title;   /* <title> */
    int in_title;   /* inside <title> */
    int heading;    /* inside <hN>: N */
    int pre;        /* inside <pre>: depth */
    char skip[16];  /* skipping an element with this name (nav boilerplate) */
    int skip_depth; /* nesting of `skip` elements */
} html_state_t;

static void html_flush(html_state_t *st, blocks_t *bl) {
    if (st->text.len == 0)
        return;
    if (st->heading)
        blocks_push(bl, BLK_HEADING, st->heading, collapse_ws(st->text.p, st->text.len));
    else if (st->pre)
        blocks_push(bl, BLK_PRE, 0, trim_lines(st->text.p, st->text.len));
    else
        blocks_push(bl, BLK_PARA, 0, collapse_ws(st->text.p, st->text.len));
    st->text.len = 0;
}

/* Index after the closing tag </name> at or after i (or n). */
static size_t skip_raw(const char *s, size_t i, size_t n, const char *name) {
    size_t nl = strlen(name);
    for (; i + nl + 2 <= n; i++)
        if (s[i] == '<' && s[i + 1] == '/' && strncasecmp(s + i + 2, name, nl) == 0) {
            const char *gt = memchr(s + i, '>', n - i);
            return gt ? (size_t)(gt - s) + 1 : n;
        }
    return n;
}

/* Applies one tag to the state. */
static void html_apply(html_state_t *st, const html_tag_t *t, blocks_t *bl) {
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
    } else if (nm[0] == 'h' && nm[1] >= '1' && nm[1] <= '6' && nm[2] == '\0') {
        html_flush(st, bl);
        st->in_title = 0;
        st->heading = t->closing ? 0 : nm[1] - '0';
    } else if (strcmp(nm, "pre") == 0) {
        html_flush(st, bl);
        st->pre += t->closing ? (st->pre > 0 ? -1 : 0) : 1;
    } else if (strcmp(nm, "br") == 0) {
        ck_strbuf_addc(&st->text, '\n');
    } else if (strcmp(nm, "td") == 0 || strcmp(nm, "th") == 0) {
        ck_strbuf_addc(&st->text, ' ');
    } else if (!st->heading && in_list(nm, BLOCK_TAGS)) {
        st->in_title = 0;
        html_flush(st, bl);
    }
}

/* HTML: returns the <title> text (caller frees) and fills bl. */
static char *parse_html(const char *s, blocks_t *bl) {
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
            i = html_tag(s, i, n, &t);
            if (!t.closing && (strcmp(t.name, "script") == 0 || strcmp(t.name, "style") == 0 ||
                               strcmp(t.name, "template") == 0))
                i = skip_raw(s, i, n, t.name);
            else
                html_apply(&st, &t, bl);
        } else if (st.skip_depth) {
            i++;
        } else {
            ck_strbuf_t *out = st.in_title ? &st.title : &st.text;
            if (s[i] == '&')
                i = html_entity(s, i, n, out);
            else
                ck_strbuf_addc(out, s[i++]);
        }
    }
    html_flush(&st, bl);
    if (st.text.failed || st.title.failed)
        bl->oom = 1;
    free(st.text.p);
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
    ck_strbuf_t cur;                   /* the chunk being built */
    char *cur_title;              /* its heading path (owned) */
    size_t fresh;                 /* bytes of cur that are not carried-over overlap */
    size_t last_unit;             /* offset in cur where the last unit starts */
    chunks_t out;
} asm_state_t;

/* "Doc > H2 > H3" from the stack, skipping headings equal to the doc title. */
static char *asm_path(const asm_state_t *a) {
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
    return ck_strbuf_take(&b);
}

/* Start of the overlap carried from a chunk of `len` bytes whose last unit
 * starts at `last`: the last unit if short, else its last sentence (or line);
 * `len` when there is nothing short enough to carry. */
static size_t overlap_start(const char *p, size_t len, size_t last) {
    if (last == 0)
        return len;
    if (len - last <= CK_CHUNK_OVERLAP)
        return last;
    for (size_t i = len - CK_CHUNK_OVERLAP; i < len - 1; i++) {
        int end = p[i] == '\n' || ((p[i] == '.' || p[i] == '?' || p[i] == '!') && p[i + 1] == ' ');
        if (end)
            return i + 1 + (p[i + 1] == ' ');
    }
    return len;
}

/* Emits the current chunk (if it has fresh text) and keeps the overlap
 * (overlap_start) as the beginning of the next one when `overlap` is set. */
static void asm_flush(asm_state_t *a, int overlap) {
    if (a->fresh == 0 || a->out.oom) {
        a->cur.len = 0;
        a->fresh = a->last_unit = 0;
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
    size_t from = overlap ? overlap_start(a->cur.p, a->cur.len, a->last_unit) : a->cur.len;
    memmove(a->cur.p, a->cur.p + from, a->cur.len - from);
    a->cur.len -= from;
    a->cur.p[a->cur.len] = '\0';
    a->fresh = 0;
    a->last_unit = 0;
}

/* Adds one unit (sentence or short paragraph, <= CK_CHUNK_MAX bytes). */
static void asm_unit(asm_state_t *a, const char *u, size_t n, const char *sep) {
    size_t sl = strlen(sep);
    if (a->cur.len && a->cur.len + sl + n > CK_CHUNK_MAX) {
        asm_flush(a, 1);
        if (a->cur.len + sl + n > CK_CHUNK_MAX)
            a->cur.len = 0;
    }
    if (a->cur.len == 0 || a->fresh == 0) {
        free(a->cur_title);
        a->cur_title = asm_path(a);
    }
    if (a->cur.len)
        ck_strbuf_add(&a->cur, sep, sl);
    a->last_unit = a->cur.len;
    ck_strbuf_add(&a->cur, u, n);
    a->fresh += n;
    if (a->cur.len >= CK_CHUNK_TARGET)
        asm_flush(a, 1);
}

/* Length of the next unit of p (at most CK_CHUNK_MAX - CK_CHUNK_OVERLAP
 * bytes): up to a sentence end (or a line end in code), else a space. */
static size_t next_unit(const char *p, size_t n, int pre) {
    size_t lim = CK_CHUNK_MAX - CK_CHUNK_OVERLAP - 2;
    size_t cut = 0, space = 0;
    for (size_t i = 0; i < n && i < lim; i++) {
        if (pre ? p[i] == '\n'
                : ((p[i] == '.' || p[i] == '?' || p[i] == '!' || p[i] == ':') && i + 1 < n && is_space(p[i + 1]))) {
            cut = i + 1;
            break;
        }
        if (is_space(p[i]))
            space = i;
    }
    if (cut)
        return cut;
    if (n <= lim)
        return n;
    return space ? space : utf8_floor(p, lim);
}

static void asm_para(asm_state_t *a, const char *p, int pre) {
    size_t n = strlen(p);
    const char *sep = "\n\n";
    while (n > 0) {
        int whole = n <= CK_CHUNK_MAX - CK_CHUNK_OVERLAP - 2 && (a->fresh == 0 || a->cur.len + 2 + n <= CK_CHUNK_MAX);
        size_t u = whole ? n : next_unit(p, n, pre);
        if (u == 0)
            u = n;
        asm_unit(a, p, u, sep);
        sep = pre ? "\n" : " ";
        p += u;
        n -= u;
        while (n > 0 && (pre ? *p == '\n' : is_space(*p))) {
            p++;
            n--;
        }
    }
}

static void asm_heading(asm_state_t *a, int level, const char *text) {
    if (a->fresh >= CK_CHUNK_MIN || a->fresh == 0)
        asm_flush(a, 0);
    else
        asm_unit(a, text, strlen(text), "\n\n");
    for (int l = level; l <= CK_MAX_LEVEL; l++) {
        free(a->path[l]);
        a->path[l] = NULL;
    }
    a->path[level] = strdup(text);
    if (!a->path[level])
        a->out.oom = 1;
}

static void asm_run(asm_state_t *a, const blocks_t *bl) {
    for (size_t i = 0; i < bl->n && !a->out.oom; i++) {
        const block_t *b = &bl->v[i];
        if (b->kind == BLK_HEADING)
            asm_heading(a, b->level, b->text);
        else
            asm_para(a, b->text, b->kind == BLK_PRE);
    }
    asm_flush(a, 0);
    if (a->cur.failed)
        a->out.oom = 1;
    free(a->cur.p);
    free(a->cur_title);
    for (int l = 0; l <= CK_MAX_LEVEL; l++)
        free(a->path[l]);
}

/* -------------------------------------------------------------- public API */

int ck_chunk_kind_from_path(const char *path) {
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
static char *doc_title(char *html_title, const blocks_t *bl, const char *name) {
    if (html_title && *html_title)
        return html_title;
    free(html_title);
    for (size_t i = 0; i < bl->n; i++)
        if (bl->v[i].kind == BLK_HEADING)
            return strdup(bl->v[i].text);
    return strdup(name && *name ? name : "untitled");
}

void ck_chunk_doc_free(ck_doc_t *doc) {
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

int ck_chunk_document(const char *data, size_t len, ck_doc_kind_t kind, const char *name, ck_doc_t *doc) {
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
