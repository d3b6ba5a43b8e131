/*
 * sha1.c — SHA-1 (FIPS 180-4, section 6.1) for short messages.
 *
 * RequestHandler.finish() sets an Etag that is the SHA-1 of the body, in
 * hex.  For the short bodies most responses have, making and finishing a
 * hashlib object (an OpenSSL context allocated, initialised, copied for
 * hexdigest and freed) costs several times the hashing itself; handler.c
 * hashes bodies up to TC_SHA1_SHORT bytes here instead, while web._sha1 is
 * still hashlib.sha1.  Longer bodies go to hashlib, whose OpenSSL code uses
 * the CPU's SHA instructions.
 */
#include "tc.h"

#include <string.h>

#define ROTL(x, n) (((x) << (n)) | ((x) >> (32 - (n))))

static uint32_t
sha1_be32(const unsigned char *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

/* One 64-byte block into the state h.  The message schedule is kept as
 * the sixteen most recent words, and each round's twenty steps are
 * unrolled, so that the working variables stay in registers. */
static void
sha1_block(uint32_t h[5], const unsigned char *block)
{
    uint32_t w[16], a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], t;
    int i;

    for (i = 0; i < 16; i++) {
        w[i] = sha1_be32(block + 4 * i);
    }
#define SHA1_W(i)                                                                         \
    ((i) < 16 ? w[(i)]                                                                    \
              : (w[(i) & 15] = ROTL(w[((i) + 13) & 15] ^ w[((i) + 8) & 15] ^              \
                                        w[((i) + 2) & 15] ^ w[(i) & 15], 1)))
#define SHA1_STEP(f, k)                        \
    t = ROTL(a, 5) + (f) + e + (k) + SHA1_W(i); \
    e = d;                                     \
    d = c;                                     \
    c = ROTL(b, 30);                           \
    b = a;                                     \
    a = t
#pragma GCC unroll 20
    for (i = 0; i < 20; i++) {
        SHA1_STEP((b & c) | (~b & d), 0x5a827999u);
    }
#pragma GCC unroll 20
    for (i = 20; i < 40; i++) {
        SHA1_STEP(b ^ c ^ d, 0x6ed9eba1u);
    }
#pragma GCC unroll 20
    for (i = 40; i < 60; i++) {
        SHA1_STEP((b & c) | (b & d) | (c & d), 0x8f1bbcdcu);
    }
#pragma GCC unroll 20
    for (i = 60; i < 80; i++) {
        SHA1_STEP(b ^ c ^ d, 0xca62c1d6u);
    }
#undef SHA1_STEP
#undef SHA1_W
    h[0] += a, h[1] += b, h[2] += c, h[3] += d, h[4] += e;
}

void
tc_sha1_hex(const unsigned char *data, size_t n, char hex[40])
{
    static const char digits[] = "0123456789abcdef";
    uint32_t h[5] = {0x67452301u, 0xefcdab89u, 0x98badcfeu, 0x10325476u, 0xc3d2e1f0u};
    unsigned char tail[128];
    uint64_t bits = (uint64_t)n * 8;
    size_t whole = n - n % 64, rest = n - whole, padded;
    int i;

    for (size_t off = 0; off < whole; off += 64) {
        sha1_block(h, data + off);
    }
    /* The last bytes, 0x80, zeros, and the length in bits (big-endian):
     * one block, or two when fewer than nine bytes are left in the first. */
    memcpy(tail, data + whole, rest);
    tail[rest] = 0x80;
    padded = rest + 9 <= 64 ? 64 : 128;
    memset(tail + rest + 1, 0, padded - rest - 1);
    for (i = 0; i < 8; i++) {
        tail[padded - 1 - i] = (unsigned char)(bits >> (8 * i));
    }
    sha1_block(h, tail);
    if (padded == 128) {
        sha1_block(h, tail + 64);
    }
    for (i = 0; i < 5; i++) {
        for (int j = 0; j < 8; j++) {
            hex[8 * i + j] = digits[(h[i] >> (28 - 4 * j)) & 0xf];
        }
    }
}

PyObject *
tc_sha1_hex_py(PyObject *Py_UNUSED(module), PyObject *arg)
{
    Py_buffer view;
    char hex[40];
    PyObject *out;

    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    tc_sha1_hex(view.buf, (size_t)view.len, hex);
    PyBuffer_Release(&view);
    out = PyUnicode_New(40, 127);
    if (out != NULL) {
        memcpy(PyUnicode_1BYTE_DATA(out), hex, 40);
    }
    return out;
}
