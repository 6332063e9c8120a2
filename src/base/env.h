/*
 * env.h - every environment variable the server reads, in one table
 * (env.c), with one rule for a bad value and `--help` printed from it.
 *
 * Each row of the table names a variable, its kind (the accepted form), its
 * default, its help text and the section of `--help` it is listed in.
 * main() calls ck_env_validate() once before anything reads a variable: a
 * value that does not have its variable's form stops the process, with a
 * message naming the variable and the accepted form.  Afterwards modules
 * read values with the getters below, which return the parsed value or the
 * table's default.  An empty value counts as unset.
 *
 * Adding a variable = one row in env.c's table (keep rows in their
 * section); the getters abort on a name that has no row, so a missing row
 * shows up the first time the code runs.  Checks that span several
 * variables (TLS certificate and key together, JWT key sources) stay with
 * the module that reads them.
 *
 * Command-line flags come from the same table: every row is also a flag
 * (ck_env_flag_name: CHATKITD_MAX_BODY -> --max-body, DATABASE_URL ->
 * --database-url, OPENAI_API_KEY -> --openai-api-key).  main() hands argv to
 * ck_env_parse_args() first, which sets each flag's variable (so a flag
 * wins over its variable) before ck_env_validate() runs: a flag and its
 * variable share one check and one help entry.
 */
#ifndef CK_BASE_ENV_H
#define CK_BASE_ENV_H

#include <stddef.h>
#include <stdio.h>

typedef enum ck_env_kind {
    CK_ENV_STRING, /* any text; min/max bound its length in bytes when non-zero */
    CK_ENV_INT,    /* a decimal integer in [min, max] */
    CK_ENV_SIZE,   /* bytes, optionally with a K/M/G (binary) suffix, in [min, max] */
    CK_ENV_BOOL,   /* 1/0, true/false, yes/no, on/off (any case) */
    CK_ENV_ENUM,   /* one of the '|'-separated `choices` */
    CK_ENV_URL     /* an absolute http:// or https:// URL, shorter than 256 bytes */
} ck_env_kind_t;

typedef struct ck_env_var {
    const char *name;    /* "CHATKITD_MAX_BODY" */
    const char *section; /* the `--help` heading it is listed under */
    ck_env_kind_t kind;
    const char *def;      /* the default, as the variable would spell it; NULL = none */
    const char *def_help; /* how `--help` shows the default when it is not a literal (or NULL) */
    long long min, max;   /* INT, SIZE: the accepted range; STRING: length bounds (0 = none) */
    const char *choices;  /* ENUM: "debug|info|warn|error" */
    const char *help;     /* one line for `--help` */
    const char *metavar;  /* the value's placeholder after the flag in `--help` ("ADDR"); NULL = by kind */
} ck_env_var_t;

/* Checks the value of every variable in the table.  Writes one line per bad
 * value to `err` (`chatkitd: NAME="value": expected <form> (see chatkitd
 * --help)`; a text value is shown by its length only, as it may be a
 * secret) and returns -1 when there is one; returns 0 when all are absent
 * or well-formed. */
int ck_env_validate(FILE *err);

/* Checks `value` against `var`'s form.  Returns 0, or -1 with the accepted
 * form written to `err` ("an integer from 1 to 256"). */
int ck_env_check(const ck_env_var_t *var, const char *value, char *err, size_t errlen);

/* 1 when the variable is set to a non-empty value. */
int ck_env_is_set(const char *name);

/* The value, else the default, else NULL. */
const char *ck_env_str(const char *name);
/* INT: the value, else the default, else 0 (a bad value, which
 * ck_env_validate() refuses, also reads as the default). */
long long ck_env_int(const char *name);
/* SIZE: the value in bytes, else the default, else 0. */
size_t ck_env_size(const char *name);
/* BOOL: 1 or 0, else the default, else 0. */
int ck_env_bool(const char *name);

/* A variable that is not a server setting but is named by a configuration
 * file (the `${NAME}` of an assistants file), exactly as getenv() gives
 * it: NULL when unset.  Server settings go through the table instead. */
const char *ck_env_raw(const char *name);

/* The table: `*count` rows, in `--help` order. */
const ck_env_var_t *ck_env_table(size_t *count);
/* The row of `name`, or NULL. */
const ck_env_var_t *ck_env_find(const char *name);

/* The command-line flag a variable maps to: the name without "CHATKITD_",
 * lowercased, '_' -> '-', after "--" (DATABASE_URL -> --database-url).
 * Returns the length written, or -1 when `len` is too small. */
int ck_env_flag_name(const ck_env_var_t *var, char *out, size_t len);

/* The row whose flag is `flag` ("--max-body", without "=value"), or NULL. */
const ck_env_var_t *ck_env_find_flag(const char *flag);

/* Applies the settings flags among argv[1..argc-1]: `--name VALUE` or
 * `--name=VALUE` sets the row's variable (a BOOL flag alone means on and
 * never takes the next argument; a separate value may not start with "--").
 * Every other argument is copied, in order, to `rest` (room for argc
 * pointers; NULL-terminated, count in `*nrest`): the command and its own
 * arguments, and flags that are no setting, which the caller reports.
 * Returns 0, or 2 after
 * writing one line to `err` when a flag has no value. */
int ck_env_parse_args(int argc, char **argv, char **rest, int *nrest, FILE *err);

/* Writes the settings part of `--help`: one line per variable, by
 * section, with its flag, accepted form and default. */
void ck_env_print_help(FILE *out);

#endif
