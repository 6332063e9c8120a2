/*
 * test_redact.c - Check tests of src/base/redact.c: every kind found in
 * plain, punctuated and non-Latin text, and - as hard - ordinary numbers
 * (order ids, dates, times, amounts, versions, IP addresses, invalid card
 * and IBAN checksums, bare digit runs) left alone, in ASCII and non-ASCII
 * text; the in-place form used by the log cut to its buffer.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "base/redact.h"
#include "check_main.h"

static char *red(const char *in, unsigned *found)
{
    size_t n;
    char *out = ck_redact(in, strlen(in), &n, found);
    ck_assert_ptr_nonnull(out);
    ck_assert_uint_eq(n, strlen(out));
    return out;
}

static void expect(const char *in, const char *want)
{
    unsigned found = 0;
    char *out = red(in, &found);
    if (strcmp(out, want) != 0)
        ck_abort_msg("redact(\"%s\") = \"%s\", want \"%s\"", in, out, want);
    free(out);
}

/* `in` must come back unchanged. */
static void untouched(const char *in)
{
    unsigned found = 1;
    char *out = red(in, &found);
    if (strcmp(out, in) != 0 || found != 0)
        ck_abort_msg("false positive: \"%s\" became \"%s\"", in, out);
    free(out);
}

START_TEST(emails)
{
    expect("mail me at jane.doe+news@example.co.uk.", "mail me at [EMAIL].");
    expect("<bob_o'neil@mail-server.example.org>", "<bob_o'[EMAIL]>");
    expect("a@b.io,c.d@e-f.com", "[EMAIL],[EMAIL]");
    expect("écrivez à marie@exemple.fr merci", "écrivez à [EMAIL] merci");
    expect("邮箱：wang.wei@example.cn。", "邮箱：[EMAIL]。");
    untouched("@handle and user@localhost and x@y.1 and a@@b.com");
    untouched("version 1.2@3.4 and @ 5");
}
END_TEST

START_TEST(phones)
{
    expect("call +1 (415) 555-2671 now", "call [PHONE] now");
    expect("+44 20 7946 0958", "[PHONE]");
    expect("+33 6 12 34 56 78.", "[PHONE].");
    expect("(415) 555-2671", "[PHONE]");
    expect("415-555-2671 or 415.555.2671", "[PHONE] or [PHONE]");
    expect("1-800-555-0199", "[PHONE]");
    expect("Tel. 030 12345678", "Tel. [PHONE]");
    expect("06 12 34 56 78", "[PHONE]");
    expect("телефон +7 495 123-45-67, спасибо", "телефон [PHONE], спасибо");
    expect("電話 +81-3-1234-5678 まで", "電話 [PHONE] まで");
}
END_TEST

START_TEST(cards)
{
    expect("card 4111 1111 1111 1111 exp 12/27", "card [CARD] exp 12/27");
    expect("4111111111111111", "[CARD]");
    expect("5500-0000-0000-0004", "[CARD]");
    expect("amex 3782 822463 10005.", "amex [CARD].");
    expect("6011111111111117 (discover)", "[CARD] (discover)");
    expect("номер карты 4012888888881881", "номер карты [CARD]");
    ck_assert_int_eq(ck_redact_luhn("79927398713", 11), 1);
    ck_assert_int_eq(ck_redact_luhn("79927398710", 11), 0);
}
END_TEST

START_TEST(ibans)
{
    expect("IBAN DE89 3704 0044 0532 0130 00 please", "IBAN [IBAN] please");
    expect("GB82WEST12345698765432", "[IBAN]");
    expect("fr1420041010050500013m02606", "[IBAN]");
    expect("Überweisung an AT611904300234573201.", "Überweisung an [IBAN].");
}
END_TEST

START_TEST(ssns)
{
    expect("my SSN is 123-45-6789.", "my SSN is [SSN].");
    expect("SSN:078-05-1120", "SSN:[SSN]");
}
END_TEST

START_TEST(mixed)
{
    unsigned found = 0;
    char *out = red("jo@x.org / +49 30 1234567 / 4111111111111111 / GB82WEST12345698765432 / 123-45-6789", &found);
    ck_assert_str_eq(out, "[EMAIL] / [PHONE] / [CARD] / [IBAN] / [SSN]");
    ck_assert_uint_eq(found, CK_REDACT_EMAIL | CK_REDACT_PHONE | CK_REDACT_CARD | CK_REDACT_IBAN | CK_REDACT_SSN);
    free(out);
    size_t n;
    out = ck_redact("a\0jo@x.org", 10, &n, &found);
    ck_assert_uint_eq(n, 9);
    ck_assert_mem_eq(out, "a\0[EMAIL]", 9);
    free(out);
}
END_TEST

START_TEST(ordinary_numbers)
{
    static const char *const texts[] = {
        "order #A-20240315-0042 shipped",
        "order 4839201746 and order 1234567890123452", /* bare runs; the second is Luhn-valid, no issuer */
        "ticket 12345678901234567 (17 digits)",
        "invoice INV-2024-000123, PO 4500012345",
        "on 2024-03-15 at 14:30:05, or 15.03.2024, or 03/15/2024, or 20240315T143005Z",
        "total $1,234,567.89 or 1 234 567,89 EUR or 12 345 678 items",
        "price +1 234 567 (up) and +20 000 000 this year",
        "version 10.0.19041.1 of 2.31.0, build 1.2.3-rc.4",
        "server 192.168.100.200:8080 and 10.0.0.1",
        "card 4111 1111 1111 1112 fails Luhn",
        "4111-1111-1111-1111-2222 is too long for a card",
        "IBAN DE89 3704 0044 0532 0130 01 has a bad checksum",
        "ZZ89370400440532013000 is no country",
        "SSN-like 000-12-3456, 666-12-3456, 900-12-3456, 123-00-4567, 123-45-0000",
        "call 555-1234 or ext. 4567",
        "lat 48.858370, lon 2.294481",
        "ISBN 978-3-16-148410-0",
        "sha 4f3c2a1b99 and uuid 123e4567-e89b-12d3-a456-426614174000",
        "phone-ish 123-456-7890 starts with 1",
        "Заказ № 12345678901 от 15.03.2024 на сумму 1 234,56 ₽",
        "订单号 2024031512345678，金额 ¥1,299.00，日期 2024年3月15日",
        "注文番号 ４１１１１１１１１１１１１１１１ は全角",
        "رقم الطلب ٤١١١١١١١١١١١١١١١ بتاريخ 2024-03-15",
        "Straße 12, 10115 Berlin, Kundennummer 0012345678",
        "01-02-2024 and 0 800 and 0.5 and 007",
        "x4111111111111111 and 4111111111111111y and 4111111111111111.5",
    };
    for (size_t k = 0; k < sizeof texts / sizeof texts[0]; k++)
        untouched(texts[k]);
}
END_TEST

START_TEST(inplace)
{
    char buf[64] = "user a@b.co said hi";
    ck_assert_uint_eq(ck_redact_inplace(buf, sizeof buf), CK_REDACT_EMAIL);
    ck_assert_str_eq(buf, "user [EMAIL] said hi");
    char tight[7] = "a@b.co";
    ck_assert_uint_eq(ck_redact_inplace(tight, sizeof tight), CK_REDACT_EMAIL);
    ck_assert_str_eq(tight, "[EMAIL");
    char plain[16] = "nothing here";
    ck_assert_uint_eq(ck_redact_inplace(plain, sizeof plain), 0);
    ck_assert_str_eq(plain, "nothing here");
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("redact");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, emails);
    tcase_add_test(tc, phones);
    tcase_add_test(tc, cards);
    tcase_add_test(tc, ibans);
    tcase_add_test(tc, ssns);
    tcase_add_test(tc, mixed);
    tcase_add_test(tc, ordinary_numbers);
    tcase_add_test(tc, inplace);
    suite_add_tcase(s, tc);
    return s;
}

CK_CHECK_MAIN(suite)
