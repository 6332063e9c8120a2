/*
 * test_chunker.c - Check tests for src/corpus/chunker.c: file kinds, UTF-8
 * sanitizing, Markdown/HTML/text parsing, heading paths, chunk sizes without
 * overlap, tables and code blocks kept whole as Markdown (and cut with their
 * header / fences when huge), list items, hostile input.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "corpus/chunker.h"
#include "check_main.h"

static int chunk_doc(const char *s, ck_doc_kind_t kind, ck_doc_t *doc)
{
    return ck_chunk_document(s, strlen(s), kind, "file.md", doc);
}

/* 1 when s is valid UTF-8 (as judged by re-sanitizing it). */
static int valid_utf8(const char *s)
{
    size_t bad = 1;
    free(ck_chunk_utf8_sanitize(s, strlen(s), &bad));
    return bad == 0;
}

START_TEST(test_kind_from_path)
{
    ck_assert_int_eq(ck_chunk_kind_from_path("a/b.md"), CK_DOC_MARKDOWN);
    ck_assert_int_eq(ck_chunk_kind_from_path("B.MARKDOWN"), CK_DOC_MARKDOWN);
    ck_assert_int_eq(ck_chunk_kind_from_path("x.txt"), CK_DOC_TEXT);
    ck_assert_int_eq(ck_chunk_kind_from_path("x.HTML"), CK_DOC_HTML);
    ck_assert_int_eq(ck_chunk_kind_from_path("x.htm"), CK_DOC_HTML);
    ck_assert_int_eq(ck_chunk_kind_from_path("x.pdf"), -1);
    ck_assert_int_eq(ck_chunk_kind_from_path("dir.md/file"), -1);
    ck_assert_int_eq(ck_chunk_kind_from_path("noext"), -1);
}
END_TEST

START_TEST(test_utf8_sanitize)
{
    const char in[] = "ok \xC3\xA9 bad \xFF\xC3 nul \0 end \xED\xA0\x80";
    size_t bad = 0;
    char *s = ck_chunk_utf8_sanitize(in, sizeof in - 1, &bad);
    ck_assert_ptr_nonnull(s);
    ck_assert_uint_eq(bad, 5); /* FF, lone C3, and the 3 bytes of a surrogate */
    ck_assert_ptr_nonnull(strstr(s, "ok \xC3\xA9 bad \xEF\xBF\xBD\xEF\xBF\xBD nul   end"));
    ck_assert(valid_utf8(s));
    free(s);
}
END_TEST

START_TEST(test_markdown_headings_and_title)
{
    ck_doc_t d;
    ck_assert_int_eq(chunk_doc("# Guide\n\nIntro text that is long enough to stand alone as a chunk of its own, "
                               "more than two hundred characters in total so that the next heading closes it "
                               "instead of merging. Filler filler filler filler filler filler filler.\n\n"
                               "## Install\n\nRun make.\n\n```\n# not a heading\n```\n\n"
                               "Setup\n-----\n\nSetext body.\n",
                               CK_DOC_MARKDOWN, &d),
                     0);
    ck_assert_str_eq(d.title, "Guide");
    ck_assert_uint_eq(d.nchunks, 2);
    ck_assert_str_eq(d.chunks[0].title, "Guide");
    ck_assert_str_eq(d.chunks[1].title, "Guide > Install");
    ck_assert_ptr_nonnull(strstr(d.chunks[1].text, "# not a heading")); /* fenced code is not a heading */
    ck_assert_ptr_nonnull(strstr(d.chunks[1].text, "Setup"));           /* short section merged... */
    ck_assert_ptr_nonnull(strstr(d.chunks[1].text, "Setext body."));    /* ...with its heading text */
    ck_chunk_doc_free(&d);
}
END_TEST

START_TEST(test_text_title_is_file_name)
{
    ck_doc_t d;
    ck_assert_int_eq(ck_chunk_document("para one\nline two\n\n\npara two\n", 29, CK_DOC_TEXT, "notes.txt", &d), 0);
    ck_assert_str_eq(d.title, "notes.txt");
    ck_assert_uint_eq(d.nchunks, 1);
    ck_assert_str_eq(d.chunks[0].text, "para one\nline two\n\npara two");
    ck_chunk_doc_free(&d);
}
END_TEST

START_TEST(test_html_strip_and_entities)
{
    ck_doc_t d;
    const char *html =
        "<!DOCTYPE html><html><head><title>My &amp; Page</title><style>p{color:red}</style>"
        "<script>var x = '<p>no</p>';</script></head><body>"
        "<div class=\"navheader\"><a href=x>Prev</a><div>Next</div></div>"
        "<nav>Menu</nav><ul role=\"navigation\"><li>Skip</li></ul>"
        "<h1>My &amp; Page</h1><p>Caf&eacute;? &lt;b&gt; &#233;&#x41; &nbsp;x<br/>y</p>"
        "<!-- comment <p>hidden</p> --><h2 id=s>Sec<em>tion</em></h2><p>Body <code>a&lt;b</code> text.</p>"
        "<hr class=\"nav\"/><p>after hr</p></body></html>";
    ck_assert_int_eq(chunk_doc(html, CK_DOC_HTML, &d), 0);
    ck_assert_str_eq(d.title, "My & Page");
    ck_assert_uint_eq(d.nchunks, 1);
    const char *t = d.chunks[0].text;
    ck_assert_ptr_null(strstr(t, "color"));
    ck_assert_ptr_null(strstr(t, "no"));
    ck_assert_ptr_null(strstr(t, "Prev"));
    ck_assert_ptr_null(strstr(t, "Next"));
    ck_assert_ptr_null(strstr(t, "Menu"));
    ck_assert_ptr_null(strstr(t, "Skip"));
    ck_assert_ptr_null(strstr(t, "hidden"));
    ck_assert_ptr_nonnull(strstr(t, "Caf&eacute;? <b> \xC3\xA9"
                                    "A x y"));
    ck_assert_ptr_nonnull(strstr(t, "Section"));
    ck_assert_ptr_nonnull(strstr(t, "Body `a<b` text.")); /* inline code keeps its Markdown */
    ck_assert_ptr_nonnull(strstr(t, "after hr"));         /* a void nav-class element skips nothing */
    ck_assert_str_eq(d.chunks[0].title, "My & Page");
    ck_chunk_doc_free(&d);
}
END_TEST

/* A table of contents (class "toc") and a back-of-book index (class "index",
 * DocBook's bookindex.html: every term of the manual with links) are not
 * content: an index page would match any query.  Classes that only start
 * with "index" or "toc" are content. */
START_TEST(test_html_index_and_toc_dropped)
{
    ck_doc_t d;
    const char *html = "<html><head><title>Index</title></head><body><h1>Index</h1>"
                       "<div class=\"toc\"><ul><li><a href=a.html>Vacuum chapter</a></li></ul></div>"
                       "<div class=\"index\"><div class=\"indexdiv\"><h3>V</h3><dl><dt>VACUUM, "
                       "<a href=sql-vacuum.html>VACUUM</a></dt></dl></div></div>"
                       "<p class=\"indexterm tocish\">kept paragraph</p></body></html>";
    ck_assert_int_eq(chunk_doc(html, CK_DOC_HTML, &d), 0);
    ck_assert_uint_eq(d.nchunks, 1);
    const char *t = d.chunks[0].text;
    ck_assert_ptr_null(strstr(t, "VACUUM"));
    ck_assert_ptr_null(strstr(t, "Vacuum chapter"));
    ck_assert_ptr_nonnull(strstr(t, "kept paragraph"));
    ck_chunk_doc_free(&d);
}
END_TEST

START_TEST(test_html_sections_and_pre)
{
    ck_doc_t d;
    char html[4096];
    char filler[400];
    memset(filler, 'w', sizeof filler - 1);
    for (size_t i = 7; i < sizeof filler - 1; i += 8)
        filler[i] = ' ';
    filler[sizeof filler - 1] = '\0';
    snprintf(html, sizeof html, "<title>T</title><h2>A</h2><p>%s</p><h3>B</h3><pre>line 1\n  line 2\n</pre><p>%s</p>",
             filler, filler);
    ck_assert_int_eq(chunk_doc(html, CK_DOC_HTML, &d), 0);
    ck_assert_uint_eq(d.nchunks, 2);
    ck_assert_str_eq(d.chunks[0].title, "T > A");
    ck_assert_str_eq(d.chunks[1].title, "T > A > B");
    ck_assert_ptr_nonnull(strstr(d.chunks[1].text, "line 1\n  line 2")); /* <pre> keeps layout */
    ck_chunk_doc_free(&d);
}
END_TEST

/* A long section: chunk sizes stay within bounds, consecutive chunks do not
 * overlap, and nothing of the text is lost. */
START_TEST(test_sizes_no_overlap)
{
    char *md = malloc(20000);
    size_t n = (size_t)sprintf(md, "# Big\n\n");
    for (int i = 0; i < 150; i++)
        n += (size_t)sprintf(md + n, "Sentence number %d says something. ", i);
    ck_doc_t d;
    ck_assert_int_eq(ck_chunk_document(md, n, CK_DOC_MARKDOWN, "big.md", &d), 0);
    ck_assert_uint_gt(d.nchunks, 3);
    size_t total = 0;
    for (size_t i = 0; i < d.nchunks; i++) {
        size_t len = strlen(d.chunks[i].text);
        ck_assert_uint_le(len, CK_CHUNK_MAX);
        if (i + 1 < d.nchunks)
            ck_assert_uint_ge(len, CK_CHUNK_TARGET / 2);
        total += len + 1;
    }
    for (int i = 0; i < 150; i++) { /* every sentence exactly once */
        char needle[64];
        snprintf(needle, sizeof needle, "Sentence number %d says", i);
        int seen = 0;
        for (size_t k = 0; k < d.nchunks; k++)
            seen += strstr(d.chunks[k].text, needle) != NULL;
        ck_assert_int_eq(seen, 1);
    }
    ck_assert_uint_le(total, n);
    ck_chunk_doc_free(&d);
    free(md);
}
END_TEST

/* An HTML table becomes a Markdown pipe table in one chunk, with its header
 * row, escaped pipes and inline code; <pre> becomes a fenced block. */
START_TEST(test_html_table_and_code)
{
    ck_doc_t d;
    const char *html = "<title>Types</title><h2>Numbers</h2><p>Intro.</p>"
                       "<div class=\"table\"><table border=\"1\"><thead><tr><th>Name</th><th>Size</th></tr></thead>"
                       "<tbody><tr><td><code class=\"type\">smallint</code></td><td>2 bytes</td></tr>"
                       "<tr><td>a|b</td><td><p>4</p> <p>bytes</p></td></tr></tbody></table></div>"
                       "<pre class=\"programlisting\">SELECT 1\n  FROM t;\n</pre>"
                       "<ul><li><p>first <code>x</code></p></li><li>second<ol><li>inner</li></ol></li></ul>"
                       "<dl><dt><code>work_mem</code> (integer)</dt><dd><p>Memory.</p></dd></dl>"
                       "<div class=\"tip\"><h3 class=\"title\">Tip</h3><p>Be careful.</p></div>";
    ck_assert_int_eq(chunk_doc(html, CK_DOC_HTML, &d), 0);
    ck_assert_uint_eq(d.nchunks, 1);
    ck_assert_str_eq(d.chunks[0].title, "Types > Numbers");
    ck_assert_str_eq(d.chunks[0].text,
                     "Intro.\n\n"
                     "| Name | Size |\n| --- | --- |\n| `smallint` | 2 bytes |\n| a\\|b | 4 bytes |\n\n"
                     "```\nSELECT 1\n  FROM t;\n```\n\n"
                     "- first `x`\n- second\n  1. inner\n\n"
                     "**`work_mem` (integer)**\n\nMemory.\n\n"
                     "**Tip:** Be careful.");
    ck_chunk_doc_free(&d);
}
END_TEST

/* Markdown: fenced code keeps its info string and layout, a pipe table and
 * list items stay whole, a table is never cut between two chunks. */
START_TEST(test_markdown_table_and_code)
{
    char md[8192];
    char filler[1100];
    memset(filler, 'w', sizeof filler - 1);
    for (size_t i = 7; i < sizeof filler - 1; i += 8)
        filler[i] = ' ';
    filler[sizeof filler - 1] = '\0';
    snprintf(md, sizeof md,
             "# Doc\n\n%s\n\n| a | b |\n|---|---|\n| 1 | 2 |\n| 3 | 4 |\n\n"
             "```sh\nmake run\n\n  indented\n```\n\n- one\n- two\n  continued\n",
             filler);
    ck_doc_t d;
    ck_assert_int_eq(chunk_doc(md, CK_DOC_MARKDOWN, &d), 0);
    ck_assert_uint_eq(d.nchunks, 2); /* filler alone, then table + code + list */
    ck_assert_str_eq(d.chunks[1].text, "| a | b |\n|---|---|\n| 1 | 2 |\n| 3 | 4 |\n\n"
                                       "```sh\nmake run\n\n  indented\n```\n\n- one\n- two\n  continued");
    ck_chunk_doc_free(&d);
}
END_TEST

/* Tables and code longer than CK_CHUNK_BLOCK_MAX: cut between rows (each
 * piece repeats the header) or lines (each piece fenced), nothing lost. */
START_TEST(test_huge_table_and_code)
{
    size_t cap = 64 * 1024;
    char *md = malloc(cap);
    size_t n = (size_t)snprintf(md, cap, "# T\n\n| key | value |\n| --- | --- |\n");
    for (int i = 0; i < 300; i++)
        n += (size_t)snprintf(md + n, cap - n, "| k%03d | some value %d |\n", i, i);
    n += (size_t)snprintf(md + n, cap - n, "\n```\n");
    for (int i = 0; i < 400; i++)
        n += (size_t)snprintf(md + n, cap - n, "line %03d of code\n", i);
    n += (size_t)snprintf(md + n, cap - n, "```\n");
    ck_doc_t d;
    ck_assert_int_eq(ck_chunk_document(md, n, CK_DOC_MARKDOWN, "t.md", &d), 0);
    int rows = 0, lines = 0, tables = 0, codes = 0;
    for (size_t i = 0; i < d.nchunks; i++) {
        const char *t = d.chunks[i].text;
        ck_assert_uint_le(strlen(t), CK_CHUNK_BLOCK_MAX);
        if (strncmp(t, "| key | value |\n| --- | --- |\n", 30) == 0)
            tables++;
        if (strncmp(t, "```\n", 4) == 0 && strcmp(t + strlen(t) - 4, "\n```") == 0)
            codes++;
        for (const char *p = t; (p = strstr(p, "| k")) != NULL; p++)
            rows += p[3] >= '0' && p[3] <= '9';
        for (const char *p = t; (p = strstr(p, " of code")) != NULL; p++)
            lines++;
    }
    ck_assert_int_eq(rows, 300);
    ck_assert_int_eq(lines, 400);
    ck_assert_int_ge(tables, 2);
    ck_assert_int_ge(codes, 2);
    ck_chunk_doc_free(&d);
    free(md);
}
END_TEST

/* One huge word and multibyte text: cut without breaking a character. */
START_TEST(test_no_whitespace_multibyte)
{
    size_t n = 5000 * 2;
    char *s = malloc(n + 1);
    for (size_t i = 0; i < n; i += 2) {
        s[i] = (char)0xC3;
        s[i + 1] = (char)0xA9;
    }
    s[n] = '\0';
    ck_doc_t d;
    ck_assert_int_eq(ck_chunk_document(s, n, CK_DOC_TEXT, "e.txt", &d), 0);
    size_t total = 0;
    for (size_t i = 0; i < d.nchunks; i++) {
        ck_assert(valid_utf8(d.chunks[i].text));
        ck_assert_uint_le(strlen(d.chunks[i].text), CK_CHUNK_MAX);
        total += strlen(d.chunks[i].text);
    }
    ck_assert_uint_ge(total, n);
    ck_chunk_doc_free(&d);
    free(s);
}
END_TEST

START_TEST(test_empty_and_hostile)
{
    ck_doc_t d;
    ck_assert_int_eq(ck_chunk_document("", 0, CK_DOC_MARKDOWN, "e.md", &d), 0);
    ck_assert_uint_eq(d.nchunks, 0);
    ck_assert_str_eq(d.title, "e.md");
    ck_chunk_doc_free(&d);
    const char *bad[] = {"<",
                         "<a",
                         "<p class=\"x",
                         "&",
                         "&#",
                         "&#x;",
                         "&#99999999;",
                         "<!--",
                         "<script>",
                         "<div class=nav><p>unclosed",
                         "<title>t",
                         "###### ",
                         "```\ncode",
                         "<h1>",
                         "</p></div>",
                         "\xFF\xFE\x00",
                         "& &amp &amp; &#1114112;"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        for (int k = 0; k < 3; k++) {
            ck_assert_int_eq(ck_chunk_document(bad[i], strlen(bad[i]) + (i == 15), (ck_doc_kind_t)k, "x", &d), 0);
            ck_assert_ptr_nonnull(d.title);
            for (size_t j = 0; j < d.nchunks; j++)
                ck_assert(valid_utf8(d.chunks[j].text) && valid_utf8(d.chunks[j].title));
            ck_chunk_doc_free(&d);
        }
    }
}
END_TEST

START_TEST(test_numeric_entity_out_of_range)
{
    ck_doc_t d;
    ck_assert_int_eq(chunk_doc("<p>a&#1114112;b&#0;c&#xD800;d</p>", CK_DOC_HTML, &d), 0);
    ck_assert_uint_eq(d.nchunks, 1);
    ck_assert_str_eq(d.chunks[0].text, "a\xEF\xBF\xBD"
                                       "b\xEF\xBF\xBD"
                                       "c\xEF\xBF\xBD"
                                       "d");
    ck_chunk_doc_free(&d);
}
END_TEST

static Suite *chunker_suite(void)
{
    Suite *s = suite_create("chunker");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_kind_from_path);
    tcase_add_test(tc, test_utf8_sanitize);
    tcase_add_test(tc, test_markdown_headings_and_title);
    tcase_add_test(tc, test_text_title_is_file_name);
    tcase_add_test(tc, test_html_strip_and_entities);
    tcase_add_test(tc, test_html_index_and_toc_dropped);
    tcase_add_test(tc, test_html_sections_and_pre);
    tcase_add_test(tc, test_sizes_no_overlap);
    tcase_add_test(tc, test_html_table_and_code);
    tcase_add_test(tc, test_markdown_table_and_code);
    tcase_add_test(tc, test_huge_table_and_code);
    tcase_add_test(tc, test_no_whitespace_multibyte);
    tcase_add_test(tc, test_empty_and_hostile);
    tcase_add_test(tc, test_numeric_entity_out_of_range);
    suite_add_tcase(s, tc);
    return s;
}

CK_CHECK_MAIN(chunker_suite)
