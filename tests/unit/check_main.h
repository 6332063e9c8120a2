/*
 * check_main.h - the run-and-exit part every Check binary in tests/unit shares.
 *
 * ck_check_run(suite) runs `suite` with CK_ENV (CK_VERBOSITY picks the
 * output; unset means normal), frees the runner and returns EXIT_SUCCESS
 * when every test passed, else EXIT_FAILURE.  CK_CHECK_MAIN(make_suite)
 * defines a main() that does only that; a binary with set-up of its own
 * (keys, curl, environment checks) calls ck_check_run() from its main().
 */
#ifndef CK_TESTS_CHECK_MAIN_H
#define CK_TESTS_CHECK_MAIN_H

#include <check.h>
#include <stdlib.h>

static inline int ck_check_run(Suite *suite)
{
    SRunner *sr = srunner_create(suite);
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

#define CK_CHECK_MAIN(make_suite)                                                                                      \
    int main(void) { return ck_check_run(make_suite()); }

#endif
