/*
 * sha1.c — SHA-1 (FIPS 180-4, section 6.1) for short messages.
 *
 * RequestHandler.finish() sets an Etag that is the SHA-1 of the body, in
 * hex.  For the short bodies most responses have, making and finishing a
 * hashlib object (an OpenSSL context allocated, initialised, copied for
 * hexdigest and freed) costs several times the hashing itself; handler.c
 * hashes bodies up to tc_sha1_limit() bytes here instead, while web._sha1
 * is still hashlib.sha1.  On an x86-64 CPU with the SHA extensions the
 * blocks go through them (sha1_blocks_hw, detected once with CPUID) and the
 * limit is 2048 bytes -- the size above which hashlib releases the GIL, which
 * longer bodies keep doing there; elsewhere the portable rounds below take
 * bodies of up to TC_SHA1_SHORT bytes.
 */
#include "tc.h"

#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <cpuid.h>
#include <immintrin.h>
#define TC_SHA1_HW 1
#define TC_SHA1_HW_LIMIT 2048
#endif

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

#ifdef TC_SHA1_HW
/* The same blocks through the SHA extensions.  The state is kept as two
 * vectors, A..D (A in the high lane) and E (high lane); a block's sixteen
 * big-endian words as four vectors of four, the word of the earliest round
 * in the high lane.  Each group of four rounds takes the next four
 * schedule words, E added to the first (the first group adds it directly;
 * later ones through sha1nexte, from A as it was four rounds before), and
 * words 16.. come from the four before them: msg1, xor, msg2 -- W[t] =
 * rotl1(W[t-3] ^ W[t-8] ^ W[t-14] ^ W[t-16]) four at a time. */
__attribute__((target("sha,ssse3,sse4.1"))) static void
sha1_blocks_hw(uint32_t h[5], const unsigned char *data, size_t blocks)
{
    const __m128i swap = _mm_set_epi64x(0x0001020304050607LL, 0x08090a0b0c0d0e0fLL);
    __m128i abcd = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)h), 0x1b);
    __m128i e = _mm_set_epi32((int)h[4], 0, 0, 0);

    for (; blocks > 0; blocks--, data += 64) {
        __m128i m[4], abcd0 = abcd, e0 = e, before, ew;
        int k;

        for (k = 0; k < 4; k++) {
            m[k] = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(data + 16 * k)), swap);
        }
        /* group k: rounds 4k .. 4k+3, round function k / 5 */
#define SHA1_HW_GROUP(k)                                                                   \
    do {                                                                                   \
        if ((k) >= 4) {                                                                    \
            m[(k) & 3] = _mm_sha1msg2_epu32(                                               \
                _mm_xor_si128(_mm_sha1msg1_epu32(m[(k) & 3], m[((k) + 1) & 3]),            \
                              m[((k) + 2) & 3]),                                           \
                m[((k) + 3) & 3]);                                                         \
        }                                                                                  \
        ew = (k) == 0 ? _mm_add_epi32(e, m[0]) : _mm_sha1nexte_epu32(before, m[(k) & 3]);  \
        before = abcd;                                                                     \
        abcd = _mm_sha1rnds4_epu32(abcd, ew, (k) / 5);                                     \
    } while (0)
        before = abcd;
        SHA1_HW_GROUP(0);
        SHA1_HW_GROUP(1);
        SHA1_HW_GROUP(2);
        SHA1_HW_GROUP(3);
        SHA1_HW_GROUP(4);
        SHA1_HW_GROUP(5);
        SHA1_HW_GROUP(6);
        SHA1_HW_GROUP(7);
        SHA1_HW_GROUP(8);
        SHA1_HW_GROUP(9);
        SHA1_HW_GROUP(10);
        SHA1_HW_GROUP(11);
        SHA1_HW_GROUP(12);
        SHA1_HW_GROUP(13);
        SHA1_HW_GROUP(14);
        SHA1_HW_GROUP(15);
        SHA1_HW_GROUP(16);
        SHA1_HW_GROUP(17);
        SHA1_HW_GROUP(18);
        SHA1_HW_GROUP(19);
#undef SHA1_HW_GROUP
        /* E after the 80 rounds is rotl30 of A four rounds before the end */
        e = _mm_sha1nexte_epu32(before, e0);
        abcd = _mm_add_epi32(abcd, abcd0);
    }
    _mm_storeu_si128((__m128i *)h, _mm_shuffle_epi32(abcd, 0x1b));
    h[4] = (uint32_t)_mm_extract_epi32(e, 3);
}

/* 1 when the CPU has the SHA extensions (and SSSE3 / SSE4.1), else 0;
 * asked once. */
static int sha1_hw_known = -1;

static int
sha1_hw(void)
{
    if (sha1_hw_known < 0) {
        unsigned int a, b, c, d;
        int ok = __get_cpuid(1, &a, &b, &c, &d) && (c & bit_SSSE3) && (c & bit_SSE4_1);
        ok = ok && __get_cpuid_count(7, 0, &a, &b, &c, &d) && (b & bit_SHA);
        sha1_hw_known = ok;
    }
    return sha1_hw_known;
}
#endif

/* The blocks of data through the SHA extensions when hw and the CPU has
 * them, else the portable rounds. */
static void
sha1_blocks(uint32_t h[5], const unsigned char *data, size_t blocks, int hw)
{
#ifdef TC_SHA1_HW
    if (hw && sha1_hw()) {
        sha1_blocks_hw(h, data, blocks);
        return;
    }
#else
    (void)hw;
#endif
    for (; blocks > 0; blocks--, data += 64) {
        sha1_block(h, data);
    }
}

size_t
tc_sha1_limit(void)
{
#ifdef TC_SHA1_HW
    if (sha1_hw()) {
        return TC_SHA1_HW_LIMIT;
    }
#endif
    return TC_SHA1_SHORT;
}

/* tc_sha1_hex, the SHA extensions used (hw) or not. */
static void
sha1_hex(const unsigned char *data, size_t n, char hex[40], int hw)
{
    static const char digits[] = "0123456789abcdef";
    uint32_t h[5] = {0x67452301u, 0xefcdab89u, 0x98badcfeu, 0x10325476u, 0xc3d2e1f0u};
    unsigned char tail[128];
    uint64_t bits = (uint64_t)n * 8;
    size_t whole = n - n % 64, rest = n - whole, padded;
    int i;

    sha1_blocks(h, data, whole / 64, hw);
    /* The last bytes, 0x80, zeros, and the length in bits (big-endian):
     * one block, or two when fewer than nine bytes are left in the first. */
    memcpy(tail, data + whole, rest);
    tail[rest] = 0x80;
    padded = rest + 9 <= 64 ? 64 : 128;
    memset(tail + rest + 1, 0, padded - rest - 1);
    for (i = 0; i < 8; i++) {
        tail[padded - 1 - i] = (unsigned char)(bits >> (8 * i));
    }
    sha1_blocks(h, tail, padded / 64, hw);
    for (i = 0; i < 5; i++) {
        for (int j = 0; j < 8; j++) {
            hex[8 * i + j] = digits[(h[i] >> (28 - 4 * j)) & 0xf];
        }
    }
}

void
tc_sha1_hex(const unsigned char *data, size_t n, char hex[40])
{
    sha1_hex(data, n, hex, 1);
}

PyObject *
tc_sha1_hex_py(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs)
{
    Py_buffer view;
    char hex[40];
    PyObject *out;
    int hw = 1;

    if (nargs < 1 || nargs > 2) {
        PyErr_SetString(PyExc_TypeError, "_sha1_hex(data, hardware=True)");
        return NULL;
    }
    if (nargs == 2 && (hw = PyObject_IsTrue(args[1])) < 0) {
        return NULL;
    }
    if (PyObject_GetBuffer(args[0], &view, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    sha1_hex(view.buf, (size_t)view.len, hex, hw);
    PyBuffer_Release(&view);
    out = PyUnicode_New(40, 127);
    if (out != NULL) {
        memcpy(PyUnicode_1BYTE_DATA(out), hex, 40);
    }
    return out;
}
