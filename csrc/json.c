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

static int
json_put(tc_buf *out, const char *p, Py_ssize_t n)
{
    return tc_buf_append(out, p, n) < 0 ? JSON_ERROR : JSON_OK;
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
json_string(tc_buf *out, PyObject *s)
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
        for (i = 0; i < n; i++) {
            unsigned char c = p[i];
            if (json_special[c] && (c != '/' || (i && p[i - 1] == '<'))) {
                break;
            }
        }
        if (i == n) {
            if (tc_buf_reserve(out, n + 2) < 0) {
                return JSON_ERROR;
            }
            dst = tc_buf_head(out) + out->len;
            *dst++ = '"';
            memcpy(dst, p, (size_t)n);
            dst[n] = '"';
            out->len += n + 2;
            return JSON_OK;
        }
    }
    /* The longest form of one character is a surrogate pair (12 bytes). */
    if (n > (PY_SSIZE_T_MAX - 2) / 12) {
        PyErr_NoMemory();
        return JSON_ERROR;
    }
    if (tc_buf_reserve(out, 2 + 12 * n) < 0) {
        return JSON_ERROR;
    }
    dst = tc_buf_head(out) + out->len;
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
    out->len = dst - tc_buf_head(out);
    return JSON_OK;
}

/* Writes the decimal digits of v (at least min_digits of them, zero-padded
 * on the left) ending just before end; returns where they start. */
static char *
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

Py_ssize_t
tc_int_repr(long long v, char *buf)
{
    char text[TC_NUM_BUF], *end = text + sizeof text, *p;
    /* (0 - (unsigned)v is |v|, LLONG_MIN included.) */
    p = put_digits(end, v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v, 1);
    if (v < 0) {
        *--p = '-';
    }
    memcpy(buf, p, (size_t)(end - p));
    return end - p;
}

/* float.__repr__ of d when it is m / 10**k exactly for some k <= 6 and
 * 1e-4 <= |d| < 1e9 (prices, ratios, small measurements); 0 when d is not
 * such a number (the caller uses the general algorithm).  In that range
 * repr is plain positional notation, and the spacing of doubles is below
 * 1e-6, so at most one m per k rounds to d: m for the smallest k that gives
 * d back exactly (m / 10**k is then the correctly rounded value of that
 * decimal, as strtod would read it) is the shortest string that
 * round-trips, which is what repr prints. */
Py_ssize_t
tc_float_repr_short(double d, char *buf)
{
    static const double pow10[] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6};
    double a = fabs(d);
    char text[TC_NUM_BUF], *end = text + sizeof text, *p;
    unsigned long long m, whole, frac;
    int k;

    if (!(a >= 1e-4 && a < 1e9)) {
        return 0;
    }
    for (k = 0; k <= 6; k++) {
        /* The integer nearest a * 10**k (below 1e15, where adding 0.5 is
         * exact).  A tie (x.5) is broken upwards, not to even: neither
         * neighbour of a tie can pass the test below (they are 0.5 / 10**k
         * from a, more than half a's spacing), so the answer is the same. */
        m = (unsigned long long)(a * pow10[k] + 0.5);
        if ((double)m / pow10[k] == a) {
            break;
        }
    }
    if (k > 6) {
        return 0;
    }
    whole = m;
    frac = 0;
    if (k > 0) {
        unsigned long long scale = (unsigned long long)pow10[k];
        whole = m / scale;
        frac = m % scale;
    }
    /* Written backwards: the fraction ("0" for a whole number), the
     * point, the integer part, the sign. */
    p = put_digits(end, frac, k > 0 ? k : 1);
    *--p = '.';
    p = put_digits(p, whole, 1);
    if (d < 0) {
        *--p = '-';
    }
    memcpy(buf, p, (size_t)(end - p));
    return end - p;
}

static int
json_float(tc_buf *out, double d)
{
    char *text;
    int rc;

    if (!isfinite(d)) {
        const char *t = isnan(d) ? "NaN" : d > 0 ? "Infinity" : "-Infinity";
        return json_put(out, t, (Py_ssize_t)strlen(t));
    }
    if (d == 0.0) {
        return signbit(d) ? json_put(out, "-0.0", 4) : json_put(out, "0.0", 3);
    }
    {
        char digits[TC_NUM_BUF];
        Py_ssize_t n = tc_float_repr_short(d, digits);
        if (n > 0) {
            return json_put(out, digits, n);
        }
    }
    /* What float.__repr__ writes. */
    text = PyOS_double_to_string(d, 'r', 0, Py_DTSF_ADD_DOT_0, NULL);
    if (text == NULL) {
        return JSON_ERROR;
    }
    rc = json_put(out, text, (Py_ssize_t)strlen(text));
    PyMem_Free(text);
    return rc;
}

static int
json_int(tc_buf *out, PyObject *o)
{
    int overflow = 0;
    long long v = PyLong_AsLongLongAndOverflow(o, &overflow);
    PyObject *text;
    int rc;

    if (!overflow) {
        char digits[TC_NUM_BUF];
        if (v == -1 && PyErr_Occurred()) {
            return JSON_ERROR;
        }
        return json_put(out, digits, tc_int_repr(v, digits));
    }
    /* Big ints: int.__repr__, with its limit on digits. */
    text = PyLong_Type.tp_repr(o);
    if (text == NULL) {
        return JSON_ERROR;
    }
    rc = json_put(out, PyUnicode_AsUTF8(text), PyUnicode_GET_LENGTH(text));
    Py_DECREF(text);
    return rc;
}

/* A scalar (None, bool, int, float); JSON_FALLBACK if o is none of them. */
static int
json_scalar(tc_buf *out, PyObject *o)
{
    if (o == Py_None) {
        return json_put(out, "null", 4);
    }
    if (o == Py_True) {
        return json_put(out, "true", 4);
    }
    if (o == Py_False) {
        return json_put(out, "false", 5);
    }
    if (PyLong_CheckExact(o)) {
        return json_int(out, o);
    }
    if (PyFloat_CheckExact(o)) {
        return json_float(out, PyFloat_AS_DOUBLE(o));
    }
    return JSON_FALLBACK;
}

/* Keys met again in one encoding (the same str objects in every dict of a
 * list, typically) are copied from where they were first written: their
 * text as json_string wrote it, with the ": " that follows.  The objects
 * stay alive and unchanged for the whole call -- only exact containers are
 * walked and no Python code runs -- so their addresses identify them. */
#define JSON_KEYS_KEPT 8

typedef struct {
    PyObject *key;
    Py_ssize_t at, len; /* where its text starts in the output, its length */
} json_kept_key;

typedef struct {
    json_kept_key keys[JSON_KEYS_KEPT];
    int count;
} json_keys;

/* A str key and the ": " after it: from the kept ones, or written and
 * (room allowing) kept. */
static int
json_str_key(tc_buf *out, json_keys *kept, PyObject *key)
{
    Py_ssize_t at;
    int i, rc;

    for (i = 0; i < kept->count; i++) {
        if (kept->keys[i].key == key) {
            Py_ssize_t n = kept->keys[i].len;
            char *base;
            if (tc_buf_reserve(out, n) < 0) {
                return JSON_ERROR;
            }
            base = tc_buf_head(out);
            memcpy(base + out->len, base + kept->keys[i].at, (size_t)n);
            out->len += n;
            return JSON_OK;
        }
    }
    at = out->len;
    rc = json_string(out, key);
    if (rc == JSON_OK) {
        rc = json_put(out, ": ", 2);
    }
    if (rc == JSON_OK && kept->count < JSON_KEYS_KEPT) {
        kept->keys[kept->count].key = key;
        kept->keys[kept->count].at = at;
        kept->keys[kept->count].len = out->len - at;
        kept->count++;
    }
    return rc;
}

/* A dict key and ": ": json turns None, bools, ints and floats into
 * strings. */
static int
json_key(tc_buf *out, json_keys *kept, PyObject *key)
{
    int rc;

    if (PyUnicode_CheckExact(key)) {
        return json_str_key(out, kept, key);
    }
    if (json_put(out, "\"", 1) < 0) {
        return JSON_ERROR;
    }
    rc = json_scalar(out, key);
    if (rc != JSON_OK) {
        return rc;
    }
    return json_put(out, "\": ", 3);
}

static int json_value(tc_buf *out, json_keys *kept, PyObject *o, int depth);

static int
json_dict(tc_buf *out, json_keys *kept, PyObject *o, int depth)
{
    Py_ssize_t pos = 0, count = 0;
    PyObject *key, *value;
    int rc;

    if (json_put(out, "{", 1) < 0) {
        return JSON_ERROR;
    }
    while (PyDict_Next(o, &pos, &key, &value)) {
        if (count++ && json_put(out, ", ", 2) < 0) {
            return JSON_ERROR;
        }
        /* No Python code runs during the walk (exact types only; a big
         * int's repr is C), so the dict cannot change under it; the
         * references are held anyway, as a cheap guard. */
        Py_INCREF(key);
        Py_INCREF(value);
        rc = json_key(out, kept, key);
        if (rc == JSON_OK) {
            rc = json_value(out, kept, value, depth + 1);
        }
        Py_DECREF(key);
        Py_DECREF(value);
        if (rc != JSON_OK) {
            return rc;
        }
    }
    return json_put(out, "}", 1);
}

static int
json_sequence(tc_buf *out, json_keys *kept, PyObject *o, int depth)
{
    Py_ssize_t i;
    int rc;

    if (json_put(out, "[", 1) < 0) {
        return JSON_ERROR;
    }
    /* Nothing below runs Python code that could resize a list, but read
     * the size each time as PySequence_Fast_ITEMS users must. */
    for (i = 0; i < PySequence_Fast_GET_SIZE(o); i++) {
        PyObject *item = PySequence_Fast_GET_ITEM(o, i);
        if (i && json_put(out, ", ", 2) < 0) {
            return JSON_ERROR;
        }
        Py_INCREF(item);
        rc = json_value(out, kept, item, depth + 1);
        Py_DECREF(item);
        if (rc != JSON_OK) {
            return rc;
        }
    }
    return json_put(out, "]", 1);
}

static int
json_value(tc_buf *out, json_keys *kept, PyObject *o, int depth)
{
    if (depth > JSON_MAX_DEPTH) {
        return JSON_FALLBACK;
    }
    if (PyUnicode_CheckExact(o)) {
        return json_string(out, o);
    }
    if (PyDict_CheckExact(o)) {
        return json_dict(out, kept, o, depth);
    }
    if (PyList_CheckExact(o) || PyTuple_CheckExact(o)) {
        return json_sequence(out, kept, o, depth);
    }
    return json_scalar(out, o);
}

/* The text as a str, or (as_bytes) its ASCII bytes: what .encode("utf-8")
 * of the str gives, made without the str. */
static PyObject *
json_encode(PyObject *value, int as_bytes)
{
    tc_buf out = {0};
    json_keys kept;
    PyObject *result = NULL;
    int rc;

    kept.count = 0;
    rc = json_value(&out, &kept, value, 0);
    if (rc == JSON_FALLBACK) {
        result = Py_NewRef(Py_NotImplemented);
    }
    else if (rc == JSON_OK && as_bytes) {
        result = PyBytes_FromStringAndSize(tc_buf_head(&out), out.len);
    }
    else if (rc == JSON_OK) {
        result = PyUnicode_New(out.len, 127);
        if (result != NULL) {
            memcpy(PyUnicode_DATA(result), tc_buf_head(&out), (size_t)out.len);
        }
    }
    tc_buf_free(&out);
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
