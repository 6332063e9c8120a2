/*
 * redact.h - PII redaction of free text: e-mail addresses, phone numbers,
 * payment card numbers (Luhn-valid, known issuer prefixes), IBANs (known
 * country, its length, ISO 7064 mod-97 check) and US social security
 * numbers (NNN-NN-NNNN, valid area/group/serial) are replaced by
 * [EMAIL] [PHONE] [CARD] [IBAN] [SSN].
 *
 * Pure and thread-safe (no state, no I/O).  Built to leave ordinary numbers
 * alone: order ids, dates, times, amounts, versions, IP addresses and bare
 * digit runs are never phone numbers (a phone needs a leading '+', the
 * North American (NNN) NNN-NNNN / NNN-NNN-NNNN shapes, or a trunk '0' with
 * grouped digits), and a digit run touching a letter, digit, '_' or a
 * separator followed by another digit is not a candidate at all.  Bytes
 * >= 0x80 (non-ASCII text) count as separators, so PII inside non-Latin
 * text is found and non-Latin digits are left alone.
 *
 * Used on user text before it is stored, sent to the model, logged or
 * turned into a fact (CHATKITD_REDACT_PII=on), and on every log line
 * (src/base/log.c), whatever the setting.
 */
#ifndef CK_BASE_REDACT_H
#define CK_BASE_REDACT_H

#include <stddef.h>

/* Kinds, as bits of the `found` mask. */
enum { CK_REDACT_EMAIL = 1, CK_REDACT_PHONE = 2, CK_REDACT_CARD = 4, CK_REDACT_IBAN = 8, CK_REDACT_SSN = 16 };

/* The redacted copy of `len` bytes of `text` (may hold any bytes; NUL
 * bytes are copied).  Returns a malloc'd NUL-terminated string (caller
 * frees), its length in *out_len when out_len is not NULL, and in *found
 * (when not NULL) the mask of the kinds replaced (0: the copy is equal to
 * the input).  NULL only when out of memory. */
char *ck_redact(const char *text, size_t len, size_t *out_len, unsigned *found);

/* In place, for fixed buffers such as log lines: redacts the NUL-terminated
 * string in `buf` (capacity `cap` bytes).  A replacement longer than what it
 * replaces (only a very short e-mail address) is cut to fit the buffer.
 * Returns the mask of the kinds replaced. */
unsigned ck_redact_inplace(char *buf, size_t cap);

/* 1 when the `n` digits (ASCII '0'..'9') pass the Luhn check. */
int ck_redact_luhn(const char *digits, size_t n);

#endif
