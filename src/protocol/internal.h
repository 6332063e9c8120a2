/*
 * internal.h - helpers shared by the files of src/protocol only (not part of
 * the module's public interface).
 */
#ifndef CK_PROTOCOL_INTERNAL_H
#define CK_PROTOCOL_INTERNAL_H

/* Cuts a trailing incomplete UTF-8 sequence off `s` (what snprintf leaves
 * when it truncates inside a multi-byte character), so `s` stays valid UTF-8
 * for jansson. */
void ck_proto_utf8_trim(char *s);

#endif
