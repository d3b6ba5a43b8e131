/*
 * escape.c — C fast paths of tornado_c.escape: utf8, to_unicode and
 * xhtml_escape.
 *
 * Templates call these for every {{ expression }} (twice utf8, once
 * xhtml_escape), and the web layer converts every header and chunk with
 * them, so they are worth a few lines of C.  Their results and errors are
 * those of the Python definitions they replace (escape.py keeps those as
 * documentation): str and bytes, subclasses included, are converted with
 * CPython's strict UTF-8 codec; None passes through utf8 and to_unicode;
 * anything else is a TypeError naming its type.  The one thing not
 * reproduced is a str or bytes subclass that overrides encode(), decode()
 * or replace(): those methods are not called.
 */
#include "tc.h"

#include <math.h>
#include <string.h>

static const char type_error_text[] = "Expected bytes, unicode, or None; got %R";

/* The single argument "value", positional or by keyword. */
static PyObject *
escape_arg(const char *fname, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    Py_ssize_t nkw = kwnames == NULL ? 0 : PyTuple_GET_SIZE(kwnames);

    if (nargs == 1 && nkw == 0) {
        return args[0];
    }
    if (nargs == 0 && nkw == 1 &&
        PyUnicode_CompareWithASCIIString(PyTuple_GET_ITEM(kwnames, 0), "value") == 0) {
        return args[0];
    }
    if (nargs + nkw != 1) {
        PyErr_Format(PyExc_TypeError, "%s() takes exactly one argument (%zd given)", fname,
                     nargs + nkw);
    }
    else {
        PyErr_Format(PyExc_TypeError, "%s() got an unexpected keyword argument '%U'", fname,
                     PyTuple_GET_ITEM(kwnames, 0));
    }
    return NULL;
}

static PyObject *
escape_decode(PyObject *value)
{
    return PyUnicode_DecodeUTF8(PyBytes_AS_STRING(value), PyBytes_GET_SIZE(value), "strict");
}

PyObject *
tc_escape_utf8(PyObject *module, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    PyObject *value = escape_arg("utf8", args, nargs, kwnames);

    (void)module;
    if (value == NULL) {
        return NULL;
    }
    if (PyBytes_Check(value) || value == Py_None) {
        return Py_NewRef(value);
    }
    if (PyUnicode_Check(value)) {
        return PyUnicode_AsUTF8String(value);
    }
    return PyErr_Format(PyExc_TypeError, type_error_text, (PyObject *)Py_TYPE(value));
}

PyObject *
tc_escape_to_unicode(PyObject *module, PyObject *const *args, Py_ssize_t nargs,
                     PyObject *kwnames)
{
    PyObject *value = escape_arg("to_unicode", args, nargs, kwnames);

    (void)module;
    if (value == NULL) {
        return NULL;
    }
    if (PyUnicode_Check(value) || value == Py_None) {
        return Py_NewRef(value);
    }
    if (PyBytes_Check(value)) {
        return escape_decode(value);
    }
    return PyErr_Format(PyExc_TypeError, type_error_text, (PyObject *)Py_TYPE(value));
}

/* What html.escape(s, quote=True) puts for ch, or NULL to keep it. */
static inline const char *
escape_entity(Py_UCS4 ch)
{
    switch (ch) {
    case '&':
        return "&amp;";
    case '<':
        return "&lt;";
    case '>':
        return "&gt;";
    case '"':
        return "&quot;";
    case '\'':
        return "&#x27;";
    default:
        return NULL;
    }
}

/* Writes the n one-byte characters at src to dst with html.escape's
 * replacements (dst has room for them). */
static void
escape_bytes_into(const unsigned char *src, Py_ssize_t n, unsigned char *dst)
{
    Py_ssize_t i;
    for (i = 0; i < n; i++) {
        const char *e = escape_entity(src[i]);
        if (e == NULL) {
            *dst++ = src[i];
        }
        else {
            size_t len = strlen(e);
            memcpy(dst, e, len);
            dst += len;
        }
    }
}

/* The escaped copy of the str s (an exact str; s itself, with a new
 * reference, when nothing needs escaping). */
static PyObject *
escape_text(PyObject *s)
{
    Py_ssize_t n = PyUnicode_GET_LENGTH(s), i, j, grow = 0;
    int kind = PyUnicode_KIND(s);
    const void *data = PyUnicode_DATA(s);
    PyObject *out;
    int okind;
    void *odata;

    for (i = 0; i < n; i++) {
        const char *e = escape_entity(PyUnicode_READ(kind, data, i));
        if (e != NULL) {
            grow += (Py_ssize_t)strlen(e) - 1;
        }
    }
    if (grow == 0) {
        return PyUnicode_FromObject(s);
    }
    if (n > PY_SSIZE_T_MAX - grow) {
        return PyErr_NoMemory();
    }
    out = PyUnicode_New(n + grow, PyUnicode_MAX_CHAR_VALUE(s));
    if (out == NULL) {
        return NULL;
    }
    okind = PyUnicode_KIND(out);
    odata = PyUnicode_DATA(out);
    if (kind == PyUnicode_1BYTE_KIND) {
        /* The usual case. */
        escape_bytes_into(data, n, odata);
        return out;
    }
    for (i = 0, j = 0; i < n; i++) {
        Py_UCS4 ch = PyUnicode_READ(kind, data, i);
        const char *e = escape_entity(ch);
        if (e == NULL) {
            PyUnicode_WRITE(okind, odata, j, ch);
            j++;
            continue;
        }
        for (; *e; e++, j++) {
            PyUnicode_WRITE(okind, odata, j, (Py_UCS4)(unsigned char)*e);
        }
    }
    return out;
}

PyObject *
tc_escape_xhtml(PyObject *module, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    PyObject *value = escape_arg("xhtml_escape", args, nargs, kwnames);
    PyObject *text, *result;

    (void)module;
    if (value == NULL) {
        return NULL;
    }
    if (PyUnicode_Check(value)) {
        return escape_text(value);
    }
    if (value == Py_None) {
        /* to_unicode(None) is None, and html.escape(None) fails so. */
        PyErr_SetString(PyExc_AttributeError, "'NoneType' object has no attribute 'replace'");
        return NULL;
    }
    if (!PyBytes_Check(value)) {
        return PyErr_Format(PyExc_TypeError, type_error_text, (PyObject *)Py_TYPE(value));
    }
    text = escape_decode(value);
    if (text == NULL) {
        return NULL;
    }
    result = escape_text(text);
    Py_DECREF(text);
    return result;
}

/* --- template expressions -------------------------------------------------
 *
 * What a compiled template does with the value of each {{ expression }}:
 *
 *     if isinstance(v, (str, bytes)): v = utf8(v)
 *     else: v = utf8(str(v))
 *     v = utf8(xhtml_escape(v))      # with the default autoescape only
 *     _tt_append(v)
 *
 * tornado_c.template emits one call to _tt_bytes or _tt_xhtml instead, when
 * those names mean the defaults (see template.py); the results and errors
 * are the same. */

/* The bytes of a template value: str (strictly) encoded, bytes as they are,
 * anything else through str().  *is_bytes tells which it was. */
static PyObject *
template_value_bytes(PyObject *value, int *is_bytes)
{
    PyObject *text, *out;

    *is_bytes = 0;
    if (PyUnicode_Check(value)) {
        return PyUnicode_AsUTF8String(value);
    }
    if (PyBytes_Check(value)) {
        *is_bytes = 1;
        return Py_NewRef(value);
    }
    /* str() of an exact int or float, written directly (ASCII): what
     * int.__repr__ / float.__repr__ give, without the str object. */
    if (PyLong_CheckExact(value)) {
        int overflow = 0;
        long long v = PyLong_AsLongLongAndOverflow(value, &overflow);
        if (!overflow) {
            char digits[TC_NUM_BUF];
            if (v == -1 && PyErr_Occurred()) {
                return NULL;
            }
            return PyBytes_FromStringAndSize(digits, tc_int_repr(v, digits));
        }
    }
    else if (PyFloat_CheckExact(value)) {
        char digits[TC_NUM_BUF];
        double d = PyFloat_AS_DOUBLE(value);
        Py_ssize_t n = isfinite(d) ? tc_float_repr_short(d, digits) : 0;
        if (n > 0) {
            return PyBytes_FromStringAndSize(digits, n);
        }
    }
    text = PyObject_Str(value);
    if (text == NULL) {
        return NULL;
    }
    out = PyUnicode_AsUTF8String(text);
    Py_DECREF(text);
    return out;
}

PyObject *
tc_template_bytes(PyObject *module, PyObject *value)
{
    int is_bytes;
    (void)module;
    return template_value_bytes(value, &is_bytes);
}

PyObject *
tc_template_xhtml(PyObject *module, PyObject *value)
{
    PyObject *raw, *out;
    const unsigned char *src;
    Py_ssize_t n, i, grow = 0;
    int is_bytes;

    (void)module;
    raw = template_value_bytes(value, &is_bytes);
    if (raw == NULL) {
        return NULL;
    }
    if (is_bytes) {
        /* xhtml_escape decodes bytes first: invalid UTF-8 fails as there. */
        PyObject *check = escape_decode(raw);
        if (check == NULL) {
            Py_DECREF(raw);
            return NULL;
        }
        Py_DECREF(check);
    }
    /* Valid UTF-8 from here on, and the five characters html.escape
     * replaces are ASCII, which never occurs inside a multi-byte sequence:
     * escaping the bytes is escaping the text. */
    src = (const unsigned char *)PyBytes_AS_STRING(raw);
    n = PyBytes_GET_SIZE(raw);
    for (i = 0; i < n; i++) {
        const char *e = escape_entity(src[i]);
        if (e != NULL) {
            grow += (Py_ssize_t)strlen(e) - 1;
        }
    }
    if (grow == 0) {
        return raw;
    }
    if (n > PY_SSIZE_T_MAX - grow) {
        Py_DECREF(raw);
        return PyErr_NoMemory();
    }
    out = PyBytes_FromStringAndSize(NULL, n + grow);
    if (out == NULL) {
        Py_DECREF(raw);
        return NULL;
    }
    escape_bytes_into(src, n, (unsigned char *)PyBytes_AS_STRING(out));
    Py_DECREF(raw);
    return out;
}
