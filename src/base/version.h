/*
 * version.h - the version of chatkitd (`chatkitd --version`, the
 * chatkitd_build_info metric).  Raised by hand at each release.
 */
#ifndef CK_BASE_VERSION_H
#define CK_BASE_VERSION_H

#define CHATKITD_VERSION "0.13.0"

#endif
