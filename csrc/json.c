/*
 * json.c — the C fast path of tornado_c.escape.json_encode.
 *
 * json_encode(value) is json.dumps(value) with every "</" written as "<\/"
 * (so the text can sit inside a <script> element).  RequestHandler.write
 * calls it for every dict, which makes it the bulk of a JSON API's request.
 * This encoder produces exactly json.dumps's default output — ASCII only
 * (ensure_ascii), ", " and ": " separators, keys in dict order, floats and
 * ints as their repr, NaN / Infinity / -Infinity — for the values JSON APIs
 * are made of: exact dict, list, tuple, str, int, float, bool and None,
 * nested up to JSON_MAX_DEPTH.  For anything else (a subclass, an object
 * json would reject or hand to `default`, a cycle, deeper nesting) it
 * returns NotImplemented and escape.py calls json.dumps, so every error and
 * every unusual case is json's own.
 */
#include "tc.h"

#include <math.h>
#include <string.h>

#define JSON_MAX_DEPTH 64

/* 0 done, 1 "not mine" (the caller falls back to json.dumps), -1 error. */
enum { JSON_OK = 0, JSON_FALLBACK = 1, JSON_ERROR = -1 };

static const char hex_digits[] = "0123456789abcdef";

/* The text being written: p is where the next byte goes, end where the
 * room ends.  It starts in the caller's stack buffer and moves to the heap
 * when that is full; kept keys (below) record offsets from base, which stay
 * valid when it moves. */
typedef struct json_out json_out;

static int
json_grow(json_out *o, Py_ssize_t n);

/* Keys met again in one encoding (the same str objects in every dict of a
 * list, typically) are copied from where they were first written: their
 * text as json_string wrote it, with the ": " that follows.  The objects
 * stay alive and unchanged for the whole call -- only exact containers are
 * walked and no Python code runs -- so their addresses identify them. */
#define JSON_KEYS_KEPT 8

typedef struct {
    PyObject *key;
    Py_ssize_t at, len; /* where its text starts in the output, its length */
    int next;           /* the kept key that followed it in a dict, or -1 */
} json_kept_key;

struct json_out {
    char *p, *end, *base;
    char *heap; /* base, once the text has moved to the heap */
    int kept_count;
    int first; /* the kept key that last began a dict, or -1 */
    json_kept_key kept[JSON_KEYS_KEPT];
};

/* Room for n more bytes at o->p.  0 / JSON_ERROR with MemoryError. */
static inline int
json_room(json_out *o, Py_ssize_t n)
{
    return o->end - o->p >= n ? JSON_OK : json_grow(o, n);
}

static int
json_grow(json_out *o, Py_ssize_t n)
{
    Py_ssize_t len = o->p - o->base, cap = o->end - o->base;
    char *data;

    if (n > PY_SSIZE_T_MAX - len) {
        PyErr_NoMemory();
        return JSON_ERROR;
    }
    while (cap - len < n) {
        if (cap > PY_SSIZE_T_MAX / 2) {
            PyErr_NoMemory();
            return JSON_ERROR;
        }
        cap *= 2;
    }
    if (o->heap == NULL) {
        data = PyMem_Malloc((size_t)cap);
        if (data != NULL) {
            memcpy(data, o->base, (size_t)len);
        }
    }
    else {
        data = PyMem_Realloc(o->heap, (size_t)cap);
    }
    if (data == NULL) {
        PyErr_NoMemory();
        return JSON_ERROR;
    }
    o->heap = o->base = data;
    o->p = data + len;
    o->end = data + cap;
    return JSON_OK;
}

/* memcpy for the short pieces JSON is made of (numbers, keys, words):
 * inline moves instead of a call.  dst and src do not overlap. */
static inline void
json_copy(char *dst, const char *src, size_t n)
{
    if (n >= 8 && n <= 16) {
        uint64_t a, b;
        memcpy(&a, src, 8);
        memcpy(&b, src + n - 8, 8);
        memcpy(dst, &a, 8);
        memcpy(dst + n - 8, &b, 8);
    }
    else if (n >= 4 && n < 8) {
        uint32_t a, b;
        memcpy(&a, src, 4);
        memcpy(&b, src + n - 4, 4);
        memcpy(dst, &a, 4);
        memcpy(dst + n - 4, &b, 4);
    }
    else if (n < 4) {
        size_t i;
        for (i = 0; i < n; i++) {
            dst[i] = src[i];
        }
    }
    else {
        memcpy(dst, src, n);
    }
}

static inline int
json_put(json_out *o, const char *s, Py_ssize_t n)
{
    if (json_room(o, n) < 0) {
        return JSON_ERROR;
    }
    json_copy(o->p, s, (size_t)n);
    o->p += n;
    return JSON_OK;
}

/* \uXXXX for the UTF-16 code unit u. */
static void
json_put_u(char *dst, Py_UCS4 u)
{
    dst[0] = '\\';
    dst[1] = 'u';
    dst[2] = hex_digits[(u >> 12) & 0xf];
    dst[3] = hex_digits[(u >> 8) & 0xf];
    dst[4] = hex_digits[(u >> 4) & 0xf];
    dst[5] = hex_digits[u & 0xf];
}

/* 1 for the ASCII characters json_string looks at twice: those it escapes
 * (control characters, '"', '\\', DEL) and '/' (escaped after '<'). */
static const unsigned char json_special[128] = {
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    ['"'] = 1, ['/'] = 1, ['\\'] = 1, [0x7f] = 1,
};

/* A JSON string literal for s, ASCII only, "</" written as "<\/". */
static int
json_string(json_out *o, PyObject *s)
{
    Py_ssize_t n = PyUnicode_GET_LENGTH(s), i;
    int kind = PyUnicode_KIND(s);
    const void *data = PyUnicode_DATA(s);
    Py_UCS4 prev = 0;
    char *dst;

    if (PyUnicode_IS_ASCII(s)) {
        /* Most strings need no escape at all: copied whole once a scan
         * finds nothing to escape (control characters, DEL, '"', '\\',
         * or a '/' after '<'). */
        const unsigned char *p = PyUnicode_1BYTE_DATA(s);
        /* Eight characters at a time while none is special... */
        for (i = 0; i + 8 <= n; i += 8) {
            if (json_special[p[i]] | json_special[p[i + 1]] | json_special[p[i + 2]] |
                json_special[p[i + 3]] | json_special[p[i + 4]] | json_special[p[i + 5]] |
                json_special[p[i + 6]] | json_special[p[i + 7]]) {
                break;
            }
        }
        /* ...then one at a time. */
        for (; i < n; i++) {
            unsigned char c = p[i];
            if (json_special[c] && (c != '/' || (i && p[i - 1] == '<'))) {
                break;
            }
        }
        if (i == n) {
            if (json_room(o, n + 2) < 0) {
                return JSON_ERROR;
            }
            dst = o->p;
            dst[0] = '"';
            json_copy(dst + 1, (const char *)p, (size_t)n);
            dst[n + 1] = '"';
            o->p = dst + n + 2;
            return JSON_OK;
        }
    }
    /* The longest form of one character is a surrogate pair (12 bytes). */
    if (n > (PY_SSIZE_T_MAX - 2) / 12) {
        PyErr_NoMemory();
        return JSON_ERROR;
    }
    if (json_room(o, 2 + 12 * n) < 0) {
        return JSON_ERROR;
    }
    dst = o->p;
    *dst++ = '"';
    for (i = 0; i < n; i++) {
        Py_UCS4 ch = PyUnicode_READ(kind, data, i);
        if (ch >= ' ' && ch <= '~' && ch != '"' && ch != '\\') {
            if (ch == '/' && prev == '<') {
                *dst++ = '\\';
            }
            *dst++ = (char)ch;
        }
        else if (ch == '"' || ch == '\\') {
            *dst++ = '\\';
            *dst++ = (char)ch;
        }
        else if (ch == '\n' || ch == '\r' || ch == '\t' || ch == '\b' || ch == '\f') {
            *dst++ = '\\';
            *dst++ = ch == '\n' ? 'n' : ch == '\r' ? 'r' : ch == '\t' ? 't' : ch == '\b' ? 'b' : 'f';
        }
        else if (ch >= 0x10000) {
            Py_UCS4 v = ch - 0x10000;
            json_put_u(dst, 0xd800 | (v >> 10));
            json_put_u(dst + 6, 0xdc00 | (v & 0x3ff));
            dst += 12;
        }
        else {
            json_put_u(dst, ch);
            dst += 6;
        }
        prev = ch;
    }
    *dst++ = '"';
    o->p = dst;
    return JSON_OK;
}

/* Writes the decimal digits of v (at least min_digits of them, zero-padded
 * on the left) ending just before end; returns where they start. */
static inline char *
put_digits(char *end, unsigned long long v, int min_digits)
{
    static const char pairs[] =
        "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
        "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
        "8081828384858687888990919293949596979899";
    char *p = end;
    while (v >= 100) {
        const char *two = pairs + 2 * (v % 100);
        v /= 100;
        *--p = two[1];
        *--p = two[0];
        min_digits -= 2;
    }
    do {
        *--p = (char)('0' + v % 10);
        v /= 10;
        min_digits--;
    } while (v != 0 || min_digits > 0);
    return p;
}

/* The number of decimal digits of v: log10 estimated from its bit length
 * (1233 / 4096 ~ log10(2)), then corrected by one comparison. */
static inline int
digit_count(unsigned long long v)
{
    static const unsigned long long pow10u[20] = {
        1ULL, 10ULL, 100ULL, 1000ULL, 10000ULL, 100000ULL, 1000000ULL, 10000000ULL,
        100000000ULL, 1000000000ULL, 10000000000ULL, 100000000000ULL,
        1000000000000ULL, 10000000000000ULL, 100000000000000ULL,
        1000000000000000ULL, 10000000000000000ULL, 100000000000000000ULL,
        1000000000000000000ULL, 10000000000000000000ULL};
    unsigned long long w = v | 1; /* (0 has one digit, as 1 does) */
    int t = ((64 - __builtin_clzll(w)) * 1233) >> 12;
    return t + 1 - (w < pow10u[t]);
}

/* int.__repr__ of v written at dst (room for TC_NUM_BUF bytes), forwards
 * -- its length worked out first, the digits then put in place from the
 * right -- so that nothing is copied afterwards; returns the length. */
static inline Py_ssize_t
int_write(char *dst, long long v)
{
    /* (0 - (unsigned)v is |v|, LLONG_MIN included.) */
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    Py_ssize_t len = digit_count(u) + (v < 0);

    put_digits(dst + len, u, 1);
    if (v < 0) {
        dst[0] = '-';
    }
    return len;
}

Py_ssize_t
tc_int_repr(long long v, char *buf)
{
    return int_write(buf, v);
}

/* float.__repr__ of d when it is m / 10**k exactly for some k <= 6 and
 * 1e-4 <= |d| < 1e9 (prices, ratios, small measurements), written at dst
 * (room for TC_NUM_BUF bytes); its length, or 0 when d is not such a
 * number (the caller uses the general algorithm).  In that range repr is
 * plain positional notation, and the spacing of doubles is below 1e-6, so
 * at most one m per k rounds to d: m for the smallest k that gives d back
 * exactly (m / 10**k is then the correctly rounded value of that decimal,
 * as strtod would read it) is the shortest string that round-trips, which
 * is what repr prints. */
static inline Py_ssize_t
float_write(char *dst, double d)
{
    static const double pow10[] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6};
    double a = fabs(d);
    unsigned long long m;
    Py_ssize_t len;
    char *p;
    int k, i, n;

    if (!(a >= 1e-4 && a < 1e9)) {
        return 0;
    }
    /* A whole number needs no division to be recognized. */
    m = (unsigned long long)a;
    if ((double)m == a) {
        k = 0;
    }
    else {
        for (k = 1; k <= 6; k++) {
            double t = a * pow10[k];
            /* The integer nearest a * 10**k (below 1e15, where adding 0.5
             * is exact).  A tie (x.5) is broken upwards, not to even:
             * neither neighbour of a tie can pass the test below (they are
             * 0.5 / 10**k from a, more than half a's spacing), so the
             * answer is the same. */
            m = (unsigned long long)(t + 0.5);
            /* m / 10**k gives a back only when the exact a * 10**k is
             * within 10**k * (half a's spacing) <= t * 2**-53 of m, and t
             * is within half its own spacing (<= t * 2**-53) of that: a t
             * further than t * 2**-50 from m is ruled out without the
             * division. */
            if (fabs(t - (double)m) <= t * 0x1p-50 && (double)m / pow10[k] == a) {
                break;
            }
        }
        if (k > 6) {
            return 0;
        }
    }
    /* The sign, the integer part ("0" when m has no more than k digits),
     * the point, the k digits of the fraction ("0" for a whole number),
     * put in place from the right. */
    n = digit_count(m);
    len = (d < 0) + (n > k ? n - k : 1) + 1 + (k > 0 ? k : 1);
    p = dst + len;
    if (k == 0) {
        *--p = '0';
    }
    for (i = 0; i < k; i++) {
        *--p = (char)('0' + m % 10);
        m /= 10;
    }
    *--p = '.';
    put_digits(p, m, 1);
    if (d < 0) {
        dst[0] = '-';
    }
    return len;
}

Py_ssize_t
tc_float_repr_short(double d, char *buf)
{
    return float_write(buf, d);
}

static int
json_float(json_out *o, double d)
{
    char *text;
    int rc;

    if (!isfinite(d)) {
        const char *t = isnan(d) ? "NaN" : d > 0 ? "Infinity" : "-Infinity";
        return json_put(o, t, (Py_ssize_t)strlen(t));
    }
    if (d == 0.0) {
        return signbit(d) ? json_put(o, "-0.0", 4) : json_put(o, "0.0", 3);
    }
    if (json_room(o, TC_NUM_BUF) < 0) {
        return JSON_ERROR;
    }
    {
        Py_ssize_t n = float_write(o->p, d);
        if (n > 0) {
            o->p += n;
            return JSON_OK;
        }
    }
    /* What float.__repr__ writes. */
    text = PyOS_double_to_string(d, 'r', 0, Py_DTSF_ADD_DOT_0, NULL);
    if (text == NULL) {
        return JSON_ERROR;
    }
    rc = json_put(o, text, (Py_ssize_t)strlen(text));
    PyMem_Free(text);
    return rc;
}

/* The value of an int that fits in one digit of CPython's representation
 * (|v| < 2**30: ids, counts, small numbers), read without a call; 0 when
 * obj is bigger. */
static inline int
json_small_int(PyObject *obj, long long *v)
{
#if PY_VERSION_HEX >= 0x030C0000
    if (PyUnstable_Long_IsCompact((PyLongObject *)obj)) {
        *v = (long long)PyUnstable_Long_CompactValue((PyLongObject *)obj);
        return 1;
    }
#else
    Py_ssize_t size = Py_SIZE(obj);
    if (size >= -1 && size <= 1) {
        *v = (long long)size * (long long)((PyLongObject *)obj)->ob_digit[0];
        return 1;
    }
#endif
    return 0;
}

static int
json_int(json_out *o, PyObject *obj)
{
    int overflow = 0;
    long long v;
    PyObject *text;
    int rc;

    if (!json_small_int(obj, &v)) {
        v = PyLong_AsLongLongAndOverflow(obj, &overflow);
        if (!overflow && v == -1 && PyErr_Occurred()) {
            return JSON_ERROR;
        }
    }
    if (!overflow) {
        if (json_room(o, TC_NUM_BUF) < 0) {
            return JSON_ERROR;
        }
        o->p += int_write(o->p, v);
        return JSON_OK;
    }
    /* Big ints: int.__repr__, with its limit on digits. */
    text = PyLong_Type.tp_repr(obj);
    if (text == NULL) {
        return JSON_ERROR;
    }
    rc = json_put(o, PyUnicode_AsUTF8(text), PyUnicode_GET_LENGTH(text));
    Py_DECREF(text);
    return rc;
}

/* A scalar (None, bool, int, float); JSON_FALLBACK if obj is none of
 * them. */
static int
json_scalar(json_out *o, PyObject *obj)
{
    if (PyLong_CheckExact(obj)) {
        return json_int(o, obj);
    }
    if (PyFloat_CheckExact(obj)) {
        return json_float(o, PyFloat_AS_DOUBLE(obj));
    }
    if (obj == Py_None) {
        return json_put(o, "null", 4);
    }
    if (obj == Py_True) {
        return json_put(o, "true", 4);
    }
    if (obj == Py_False) {
        return json_put(o, "false", 5);
    }
    return JSON_FALLBACK;
}

/* A str key and the ": " after it: copied from where it was first
 * written, or written and (room allowing) kept.  guess is the kept key
 * expected here -- the one that followed the previous key of this dict
 * last time, or began the last dict -- so that the dicts of a list, with
 * the same keys in the same order, find each in one comparison.  Returns
 * the key's index among the kept ones (-1 when it is not kept), or
 * JSON_ERROR - 1 on error. */
static int
json_str_key(json_out *o, PyObject *key, int guess)
{
    Py_ssize_t at, n;
    int i;

    if (guess >= 0 && o->kept[guess].key == key) {
        i = guess;
    }
    else {
        for (i = 0; i < o->kept_count && o->kept[i].key != key; i++) {
        }
    }
    if (i < o->kept_count) {
        n = o->kept[i].len;
        if (json_room(o, n) < 0) {
            return JSON_ERROR - 1;
        }
        /* (the kept text lies wholly before p: no overlap) */
        json_copy(o->p, o->base + o->kept[i].at, (size_t)n);
        o->p += n;
        return i;
    }
    at = o->p - o->base;
    if (json_string(o, key) < 0 || json_put(o, ": ", 2) < 0) {
        return JSON_ERROR - 1;
    }
    if (o->kept_count == JSON_KEYS_KEPT) {
        return -1;
    }
    i = o->kept_count++;
    o->kept[i].key = key;
    o->kept[i].at = at;
    o->kept[i].len = (o->p - o->base) - at;
    o->kept[i].next = -1;
    return i;
}

static int json_value(json_out *o, PyObject *obj, int depth);

/* One value: strings and numbers here, the rest (containers, None, bools,
 * what falls back) in json_value. */
static inline int
json_item(json_out *o, PyObject *obj, int depth)
{
    PyTypeObject *tp = Py_TYPE(obj);

    if (tp == &PyUnicode_Type) {
        return json_string(o, obj);
    }
    if (tp == &PyLong_Type) {
        return json_int(o, obj);
    }
    if (tp == &PyFloat_Type) {
        return json_float(o, PyFloat_AS_DOUBLE(obj));
    }
    return json_value(o, obj, depth);
}

static int
json_dict(json_out *o, PyObject *obj, int depth)
{
    Py_ssize_t pos = 0, count = 0;
    PyObject *key, *value;
    int rc, prev = -1;

    if (json_put(o, "{", 1) < 0) {
        return JSON_ERROR;
    }
    /* Keys, values and items are borrowed: no Python code runs during the
     * walk (exact types only; a big int's repr is C), and nothing it makes
     * is a container whose allocation could start the collector -- but an
     * exception, after which the walk only returns -- so nothing can
     * change or free them under it. */
    while (PyDict_Next(obj, &pos, &key, &value)) {
        if (count++ && json_put(o, ", ", 2) < 0) {
            return JSON_ERROR;
        }
        if (PyUnicode_CheckExact(key)) {
            int guess = prev < 0 ? o->first : o->kept[prev].next;
            int i = json_str_key(o, key, guess);
            if (i < -1) {
                return JSON_ERROR;
            }
            if (i >= 0 && i != guess) {
                if (count == 1) {
                    o->first = i;
                }
                else if (prev >= 0) {
                    o->kept[prev].next = i;
                }
            }
            prev = i;
        }
        else {
            /* json turns None, bools, ints and floats into strings */
            prev = -1;
            if (json_put(o, "\"", 1) < 0) {
                return JSON_ERROR;
            }
            rc = json_scalar(o, key);
            if (rc == JSON_OK) {
                rc = json_put(o, "\": ", 3);
            }
            if (rc != JSON_OK) {
                return rc;
            }
        }
        rc = json_item(o, value, depth + 1);
        if (rc != JSON_OK) {
            return rc;
        }
    }
    return json_put(o, "}", 1);
}

static int
json_sequence(json_out *o, PyObject *obj, int depth)
{
    Py_ssize_t i;
    int rc;

    if (json_put(o, "[", 1) < 0) {
        return JSON_ERROR;
    }
    /* Nothing below runs Python code that could resize a list, but read
     * the size each time as PySequence_Fast_ITEMS users must. */
    for (i = 0; i < PySequence_Fast_GET_SIZE(obj); i++) {
        PyObject *item = PySequence_Fast_GET_ITEM(obj, i);
        if (i && json_put(o, ", ", 2) < 0) {
            return JSON_ERROR;
        }
        rc = json_item(o, item, depth + 1);
        if (rc != JSON_OK) {
            return rc;
        }
    }
    return json_put(o, "]", 1);
}

/* What json_item leaves: containers, nested up to JSON_MAX_DEPTH (deeper
 * is json.dumps's), None and bools (strings and numbers are written at any
 * depth). */
static int
json_value(json_out *o, PyObject *obj, int depth)
{
    if (PyDict_CheckExact(obj)) {
        return depth > JSON_MAX_DEPTH ? JSON_FALLBACK : json_dict(o, obj, depth);
    }
    if (PyList_CheckExact(obj) || PyTuple_CheckExact(obj)) {
        return depth > JSON_MAX_DEPTH ? JSON_FALLBACK : json_sequence(o, obj, depth);
    }
    return json_scalar(o, obj);
}

/* The text as a str, or (as_bytes) its ASCII bytes: what .encode("utf-8")
 * of the str gives, made without the str. */
static PyObject *
json_encode(PyObject *value, int as_bytes)
{
    char stack[2048];
    json_out o;
    PyObject *result = NULL;
    Py_ssize_t len;
    int rc;

    o.p = o.base = stack;
    o.end = stack + sizeof stack;
    o.heap = NULL;
    o.kept_count = 0;
    o.first = -1;
    rc = json_item(&o, value, 0);
    len = o.p - o.base;
    if (rc == JSON_FALLBACK) {
        result = Py_NewRef(Py_NotImplemented);
    }
    else if (rc == JSON_OK && as_bytes) {
        result = PyBytes_FromStringAndSize(o.base, len);
    }
    else if (rc == JSON_OK) {
        result = PyUnicode_New(len, 127);
        if (result != NULL) {
            memcpy(PyUnicode_DATA(result), o.base, (size_t)len);
        }
    }
    PyMem_Free(o.heap);
    return result;
}

PyObject *
tc_json_encode(PyObject *module, PyObject *value)
{
    (void)module;
    return json_encode(value, 0);
}

PyObject *
tc_json_encode_utf8(PyObject *value)
{
    return json_encode(value, 1);
}
