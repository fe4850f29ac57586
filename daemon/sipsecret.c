/* SIP passwords at rest: AES-256-GCM (OpenSSL's EVP) under a key from
 * sip_secret_key_file, one random nonce per secret, the user's name as
 * additional data. A copy of the database without the key file does not
 * give the passwords away. The key lives in this file's state only and is
 * wiped when forgotten. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "sipsecret.h"

#define KEY_LEN 32
#define NONCE_LEN 12
#define TAG_LEN 16
#define MAX_SECRET 256

static struct {
	uint8_t key[KEY_LEN];
	bool ready;
} sec;

void sipsecret_forget(void)
{
	explicit_bzero(sec.key, sizeof(sec.key));
	sec.ready = false;
}

bool sipsecret_ready(void)
{
	return sec.ready;
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* 32 raw bytes, or 64 hex digits with optional white space at the end. */
static int parse_key(const uint8_t *buf, size_t n, uint8_t *key)
{
	size_t i, end = n;

	if (n == KEY_LEN) {
		memcpy(key, buf, KEY_LEN);
		return 0;
	}
	while (end > 0 && isspace(buf[end - 1]))
		end--;
	if (end != 2 * KEY_LEN)
		return -EINVAL;
	for (i = 0; i < KEY_LEN; i++) {
		int hi = hexval(buf[2 * i]), lo = hexval(buf[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -EINVAL;
		key[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

int sipsecret_load(const char *path, char *err, size_t err_size)
{
	uint8_t buf[2 * KEY_LEN + 8];
	struct stat stb;
	ssize_t n;
	int fd, r = 0;

	sipsecret_forget();
	if (!path || !*path)
		return 0;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		r = -errno;
		snprintf(err, err_size, "sip_secret_key_file %s: %s", path,
			 strerror(errno));
		return r;
	}
	if (fstat(fd, &stb) < 0) {
		r = -errno;
		snprintf(err, err_size, "sip_secret_key_file %s: %s", path,
			 strerror(errno));
		goto out;
	}
	if (!S_ISREG(stb.st_mode)) {
		r = -EINVAL;
		snprintf(err, err_size, "sip_secret_key_file %s is not a "
			 "regular file", path);
		goto out;
	}
	/* the key is worth as much as every SIP password it seals */
	if (stb.st_mode & 077) {
		r = -EPERM;
		snprintf(err, err_size, "sip_secret_key_file %s is open to "
			 "group or others (mode %04o): it must be readable by "
			 "ccpd's user only (chmod 600)", path,
			 (unsigned)(stb.st_mode & 07777));
		goto out;
	}
	if (stb.st_uid != geteuid()) {
		r = -EPERM;
		snprintf(err, err_size, "sip_secret_key_file %s belongs to uid "
			 "%u, not to ccpd's user (uid %u)", path,
			 (unsigned)stb.st_uid, (unsigned)geteuid());
		goto out;
	}
	n = read(fd, buf, sizeof(buf));
	if (n < 0) {
		r = -errno;
		snprintf(err, err_size, "sip_secret_key_file %s: %s", path,
			 strerror(errno));
		goto out;
	}
	if (parse_key(buf, (size_t)n, sec.key) < 0) {
		r = -EINVAL;
		snprintf(err, err_size, "sip_secret_key_file %s holds no key: "
			 "32 random bytes, or 64 hexadecimal digits (openssl "
			 "rand -hex 32)", path);
		goto out;
	}
	sec.ready = true;
out:
	explicit_bzero(buf, sizeof(buf));
	close(fd);
	return r;
}

/* One pass of GCM, either way; tag is written (seal) or checked (open). */
static int gcm(bool seal, const uint8_t *nonce, const char *context,
	       const uint8_t *in, int len, uint8_t *out, uint8_t *tag)
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int n = 0, r = -EBADMSG;

	if (!ctx)
		return -ENOMEM;
	if (EVP_CipherInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL,
			      seal ? 1 : 0) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, NONCE_LEN,
				NULL) != 1 ||
	    EVP_CipherInit_ex(ctx, NULL, NULL, sec.key, nonce, -1) != 1 ||
	    EVP_CipherUpdate(ctx, NULL, &n, (const uint8_t *)context,
			     (int)strlen(context)) != 1 ||
	    (len > 0 && EVP_CipherUpdate(ctx, out, &n, in, len) != 1))
		goto out;
	if (!seal && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, TAG_LEN,
					 tag) != 1)
		goto out;
	if (EVP_CipherFinal_ex(ctx, out + (len > 0 ? n : 0), &n) != 1)
		goto out;       /* open: the tag did not match */
	if (seal && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, TAG_LEN,
					tag) != 1)
		goto out;
	r = 0;
out:
	EVP_CIPHER_CTX_free(ctx);
	return r;
}

int sipsecret_seal(const char *context, const char *plain, char **out)
{
	uint8_t blob[NONCE_LEN + MAX_SECRET + TAG_LEN];
	size_t len = strlen(plain), total, b64len;
	char *s;
	int r;

	if (!sec.ready)
		return -ENOKEY;
	if (len > MAX_SECRET)
		return -E2BIG;
	if (RAND_bytes(blob, NONCE_LEN) != 1)
		return -EIO;
	r = gcm(true, blob, context, (const uint8_t *)plain, (int)len,
		blob + NONCE_LEN, blob + NONCE_LEN + len);
	if (r < 0)
		goto out;
	total = NONCE_LEN + len + TAG_LEN;
	b64len = 4 * ((total + 2) / 3) + 1;
	s = malloc(strlen(SIPSECRET_PREFIX) + b64len);
	if (!s) {
		r = -ENOMEM;
		goto out;
	}
	strcpy(s, SIPSECRET_PREFIX);
	/* writes the terminating NUL too */
	EVP_EncodeBlock((unsigned char *)s + strlen(SIPSECRET_PREFIX), blob,
			(int)total);
	*out = s;
out:
	explicit_bzero(blob, sizeof(blob));
	return r;
}

/* Base64 into out; EVP_DecodeBlock counts the padding as zero bytes. */
static int unbase64(const char *in, uint8_t *out, size_t size, size_t *len)
{
	size_t n = strlen(in), pad = 0;
	int got;

	if (n == 0 || n % 4 || n / 4 * 3 > size)
		return -EBADMSG;
	if (in[n - 1] == '=')
		pad++;
	if (in[n - 2] == '=')
		pad++;
	got = EVP_DecodeBlock(out, (const unsigned char *)in, (int)n);
	if (got < 0 || (size_t)got < pad)
		return -EBADMSG;
	*len = (size_t)got - pad;
	return 0;
}

int sipsecret_open(const char *context, const char *sealed, char *out,
		   size_t size)
{
	uint8_t blob[NONCE_LEN + MAX_SECRET + TAG_LEN + 3];
	size_t n = 0, len;
	int r;

	if (!sec.ready)
		return -ENOKEY;
	if (strncmp(sealed, SIPSECRET_PREFIX, strlen(SIPSECRET_PREFIX)) != 0 ||
	    unbase64(sealed + strlen(SIPSECRET_PREFIX), blob, sizeof(blob),
		     &n) < 0 || n < NONCE_LEN + TAG_LEN)
		return -EBADMSG;
	len = n - NONCE_LEN - TAG_LEN;
	if (len + 1 > size)
		return -ENOSPC;
	r = gcm(false, blob, context, blob + NONCE_LEN, (int)len,
		(uint8_t *)out, blob + NONCE_LEN + len);
	if (r < 0) {
		explicit_bzero(out, size);
		goto out;
	}
	out[len] = '\0';
	if (strlen(out) != len) {       /* a NUL inside: not ours */
		explicit_bzero(out, size);
		r = -EBADMSG;
	}
out:
	explicit_bzero(blob, sizeof(blob));
	return r;
}
