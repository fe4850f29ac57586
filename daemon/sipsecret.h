/* SIP passwords at rest: AES-256-GCM under a key that ccpd reads from a
 * file only its own user may read (sip_secret_key_file). */
#ifndef CCPD_SIPSECRET_H
#define CCPD_SIPSECRET_H

#include <stdbool.h>
#include <stddef.h>

/* The prefix of a sealed secret: the version of the format. */
#define SIPSECRET_PREFIX "gcm1:"

/* Read the key: 32 bytes, raw or as 64 hexadecimal digits. Refused with
 * a reason in err when the file is readable or writable by group or
 * others, is not owned by ccpd's user, or holds no key. path NULL or ""
 * forgets any key. */
int sipsecret_load(const char *path, char *err, size_t err_size);
bool sipsecret_ready(void);
void sipsecret_forget(void);

/* Seal a password (random nonce; bound to context, the user's name, so
 * that a sealed value copied to another user does not open). *out is
 * malloc'd: "gcm1:<base64 of nonce, ciphertext and tag>". -ENOKEY without
 * a key. */
int sipsecret_seal(const char *context, const char *plain, char **out);
/* Open a sealed password into out. -ENOKEY without a key, -EBADMSG when
 * it was not sealed under this key and context, -ENOSPC when out is too
 * small. */
int sipsecret_open(const char *context, const char *sealed, char *out,
		   size_t size);

#endif
