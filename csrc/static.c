/*
 * static.c — _static_plain, the short way of StaticFileHandler.get() in C.
 *
 * While a handler class resolves every hook that web.StaticFileHandler's
 * short way (_plain_body) stands in for to StaticFileHandler's own (get()
 * checks the override mask of _STATIC_NAMES), get() asks
 * _static_plain(handler, path, include_body, env) first.  For the commonest
 * request of all -- a GET of a whole regular file of at most one piece
 * (_STATIC_CHUNK bytes) below the root, with no Range, If-None-Match,
 * If-Modified-Since or ``v`` argument, whose version hash is known -- it
 * takes _plain_body's steps, in their order: the same attributes set
 * (path, absolute_path, _validated_stat, _stat_result, modified), the same
 * headers (Accept-Ranges, Etag, Last-Modified, Content-Type,
 * Content-Length) through set_header's C step, one os.stat, and the file
 * read as os.open / os.read / os.close read it (a piece, then the read that
 * finds the end).  It returns (body,) -- or () for an empty file or a
 * piece it has written itself (below).
 *
 * Everything that could send it another way is checked before anything is
 * done; then it answers NotImplemented, having done nothing, and get()
 * carries on in Python.  That covers: another request shape, a path that
 * os.path.normpath would change, a root not yet remembered in
 * _root_prefixes, a failed stat, a file too big for one piece, a version
 * hash not yet computed, os.stat / os.open / os.read / os.close or
 * httputil.format_timestamp replaced, web's datetime.datetime or _UTC not
 * datetime's own, and set_header's own methods replaced.
 *
 * env: (web._root_prefixes, os, os.stat, os.open, os.read, os.close,
 *       mimetypes, httputil.format_timestamp, web._STATIC_CHUNK,
 *       StaticFileHandler.get, mimetypes.MimeTypes, mimetypes.guess_type,
 *       mimetypes.MimeTypes.guess_type)
 *
 * get_content_type()'s mimetypes.guess_type(absolute_path) is worked out
 * here (on CPython 3.11, whose MimeTypes.guess_type this follows) while
 * mimetypes.guess_type and its database's class and method are the
 * originals: the same suffix_map, encodings_map and types_map lookups, on
 * the live tables (so add_type and init are seen).  Anything else calls it.
 *
 * When get is StaticFileHandler's own, there are no output transforms and
 * the handler is not finished, the piece is written here too (write() is
 * among the hooks checked): it is appended to _write_buffer and () is
 * returned, and finish() -- next, in _execute -- sends it with the headers.
 */
#include "tc.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

enum {
    SE_ROOT_PREFIXES,
    SE_OS,
    SE_STAT,
    SE_OPEN,
    SE_READ,
    SE_CLOSE,
    SE_MIMETYPES,
    SE_FORMAT_TIMESTAMP,
    SE_CHUNK,
    SE_GET,              /* StaticFileHandler.get */
    SE_MIMETYPES_CLASS,  /* mimetypes.MimeTypes */
    SE_GUESS_TYPE,       /* mimetypes.guess_type */
    SE_DB_GUESS_TYPE,    /* mimetypes.MimeTypes.guess_type */
    SE_SIZE
};

/* Names; the header names are as _normalize_header writes them. */
enum {
    SF_root, SF_arguments, SF_v, SF_Range, SF_If_None_Match, SF_If_Modified_Since,
    SF_stat, SF_open, SF_read, SF_close, SF_format_timestamp, SF_datetime, SF__UTC,
    SF__static_hashes, SF_path, SF_absolute_path, SF__validated_stat, SF__stat_result,
    SF_modified, SF_Accept_Ranges, SF_bytes, SF_Etag, SF_Last_Modified, SF_Content_Type,
    SF_Content_Length, SF_guess_type, SF_st_mtime, SF_octet_stream, SF_gzip_type, SF_gzip,
    SF_set_header, SF__db, SF_suffix_map, SF_encodings_map, SF_types_map, SF_get,
    SF__transforms, SF_COUNT
};

static const char *const sf_texts[SF_COUNT] = {
    "root", "arguments", "v", "Range", "If-None-Match", "If-Modified-Since",
    "stat", "open", "read", "close", "format_timestamp", "datetime", "_UTC",
    "_static_hashes", "path", "absolute_path", "_validated_stat", "_stat_result",
    "modified", "Accept-Ranges", "bytes", "Etag", "Last-Modified", "Content-Type",
    "Content-Length", "guess_type", "st_mtime", "application/octet-stream",
    "application/gzip", "gzip", "set_header", "_db", "suffix_map", "encodings_map",
    "types_map", "get", "_transforms",
};

_Static_assert(SF_COUNT == TC_SF_NAMES, "TC_SF_NAMES in tc.h must match");

#define SF(st, i) ((st)->sf_names[i])

/* 1 when os.path.normpath leaves the absolute path p as it is: it starts
 * with one "/", has no empty, "." or ".." component and no final "/". */
static int
sf_is_normal(PyObject *p)
{
    Py_ssize_t i, n = PyUnicode_GET_LENGTH(p), start;
    int kind = PyUnicode_KIND(p);
    const void *data = PyUnicode_DATA(p);

    if (n < 2 || PyUnicode_READ(kind, data, 0) != '/') {
        return 0; /* ("/" itself is a directory: not served here) */
    }
    start = 1;
    for (i = 1; i <= n; i++) {
        if (i == n || PyUnicode_READ(kind, data, i) == '/') {
            Py_ssize_t len = i - start;
            if (len == 0 ||
                (len <= 2 && PyUnicode_READ(kind, data, start) == '.' &&
                 (len == 1 || PyUnicode_READ(kind, data, start + 1) == '.'))) {
                return 0;
            }
            start = i + 1;
        }
    }
    return 1;
}

/* 1 when module's attribute name is still want, 0 when not, -1 on error. */
static int
sf_attr_is(PyObject *module, PyObject *name, PyObject *want)
{
    PyObject *v = PyObject_GetAttr(module, name);
    if (v == NULL) {
        return -1;
    }
    Py_DECREF(v);
    return v == want;
}

/* The functions _plain_body calls are the ones this stands in for: os's
 * stat / open / read / close and httputil.format_timestamp as env has
 * them, web's datetime.datetime and _UTC datetime's own.  1 / 0 / -1. */
static int
sf_functions_ok(tc_state *st, PyObject *const *env)
{
    static const int fns[] = {SF_stat, SF_open, SF_read, SF_close};
    static const int originals[] = {SE_STAT, SE_OPEN, SE_READ, SE_CLOSE};
    PyObject *v, *dt;
    int i;

    for (i = 0; i < 4; i++) {
        int same = sf_attr_is(env[SE_OS], SF(st, fns[i]), env[originals[i]]);
        if (same <= 0) {
            return same;
        }
    }
    if (st->request_globals == NULL || st->web_globals == NULL) {
        return 0;
    }
    v = tc_globals_get(st, st->request_globals, SF(st, SF_format_timestamp));
    if (v != env[SE_FORMAT_TIMESTAMP]) {
        return PyErr_Occurred() ? -1 : 0;
    }
    v = tc_globals_get(st, st->web_globals, SF(st, SF_datetime));
    if (v == NULL) {
        return PyErr_Occurred() ? -1 : 0;
    }
    dt = PyObject_GetAttr(v, SF(st, SF_datetime));
    if (dt == NULL) {
        return -1;
    }
    Py_DECREF(dt); /* (the module holds it) */
    v = tc_globals_get(st, st->web_globals, SF(st, SF__UTC));
    if (v == NULL) {
        return PyErr_Occurred() ? -1 : 0;
    }
    return tc_is_utc_datetime_class(dt, v);
}

/* The request is a plain GET of the whole file for a handler with an
 * absolute str root: HTTPHeaders without Range, If-None-Match or
 * If-Modified-Since, arguments without "v" (get_cache_time's Expires).
 * 1 with *root a new reference, 0, or -1 on error. */
static int
sf_request_ok(tc_state *st, PyObject *self, PyObject **root)
{
    static const int refused[] = {SF_Range, SF_If_None_Match, SF_If_Modified_Since};
    PyObject *request, *headers = NULL, *fields = NULL, *arguments = NULL;
    int i, rc = -1;

    *root = NULL;
    request = tc_web_handler_get(st, self, TC_RH_REQUEST);
    headers = request != NULL ? tc_request_get(st, request, TC_RQ_HEADERS) : NULL;
    *root = headers != NULL ? PyObject_GetAttr(self, SF(st, SF_root)) : NULL;
    if (*root == NULL) {
        goto done;
    }
    rc = 0;
    if (Py_TYPE(headers) != st->http_headers || !PyUnicode_CheckExact(*root) ||
        PyUnicode_GET_LENGTH(*root) == 0 || PyUnicode_READ_CHAR(*root, 0) != '/') {
        goto done;
    }
    fields = tc_headers_get(st, headers, TC_HD_DICT);
    if (fields == NULL || !PyDict_CheckExact(fields)) {
        rc = fields == NULL ? -1 : 0;
        goto done;
    }
    for (i = 0; i < 3; i++) {
        int has = PyDict_Contains(fields, SF(st, refused[i]));
        if (has != 0) {
            rc = has < 0 ? -1 : 0;
            goto done;
        }
    }
    arguments = PyObject_GetAttr(request, SF(st, SF_arguments));
    if (arguments == NULL || !PyDict_CheckExact(arguments)) {
        rc = arguments == NULL ? -1 : 0;
        goto done;
    }
    i = PyDict_Contains(arguments, SF(st, SF_v));
    rc = i < 0 ? -1 : !i;
done:
    Py_XDECREF(request);
    Py_XDECREF(headers);
    Py_XDECREF(fields);
    Py_XDECREF(arguments);
    if (rc != 1) {
        Py_CLEAR(*root);
    }
    return rc;
}

/* get_absolute_path(root, path) when normpath has nothing to do, checked
 * against the root's remembered prefix: a new reference, NULL without an
 * exception when this way does not apply. */
static PyObject *
sf_absolute(PyObject *const *env, PyObject *root, PyObject *path)
{
    PyObject *absolute, *prefix;
    Py_ssize_t n = PyUnicode_GET_LENGTH(root), a, p;
    int inside;

    if (PyUnicode_GET_LENGTH(path) > 0 && PyUnicode_READ_CHAR(path, 0) == '/') {
        absolute = Py_NewRef(path);
    }
    else if (PyUnicode_READ_CHAR(root, n - 1) == '/') {
        absolute = PyUnicode_Concat(root, path);
    }
    else {
        PyObject *slash = PyUnicode_FromOrdinal('/');
        PyObject *dir = slash != NULL ? PyUnicode_Concat(root, slash) : NULL;
        Py_XDECREF(slash);
        absolute = dir != NULL ? PyUnicode_Concat(dir, path) : NULL;
        Py_XDECREF(dir);
    }
    if (absolute == NULL || !sf_is_normal(absolute)) {
        goto declined;
    }
    if (!PyDict_CheckExact(env[SE_ROOT_PREFIXES])) {
        goto declined;
    }
    prefix = PyDict_GetItemWithError(env[SE_ROOT_PREFIXES], root);
    if (prefix == NULL || !PyUnicode_Check(prefix)) {
        goto declined;
    }
    /* (absolute + "/").startswith(prefix), absolute ending without "/":
     * a prefix of absolute, or absolute itself and the "/" */
    a = PyUnicode_GET_LENGTH(absolute);
    p = PyUnicode_GET_LENGTH(prefix);
    if (p <= a) {
        inside = (int)PyUnicode_Tailmatch(absolute, prefix, 0, p, -1);
    }
    else {
        inside = p == a + 1 && PyUnicode_READ_CHAR(prefix, a) == '/' &&
                 PyUnicode_Tailmatch(prefix, absolute, 0, a, -1) == 1;
    }
    if (inside != 1) {
        PyErr_Clear();
        goto declined;
    }
    return absolute;
declined:
    Py_XDECREF(absolute);
    return NULL;
}

/* read() of up to n bytes into a new bytes object (os.read's steps: EINTR
 * retried after the signal handlers ran), the GIL released. */
static PyObject *
sf_read(int fd, Py_ssize_t n)
{
    PyObject *out = PyBytes_FromStringAndSize(NULL, n);
    ssize_t got;

    if (out == NULL) {
        return NULL;
    }
    for (;;) {
        Py_BEGIN_ALLOW_THREADS
        got = read(fd, PyBytes_AS_STRING(out), (size_t)n);
        Py_END_ALLOW_THREADS
        if (got >= 0) {
            break;
        }
        if (errno != EINTR || PyErr_CheckSignals() < 0) {
            if (!PyErr_Occurred()) {
                PyErr_SetFromErrno(PyExc_OSError);
            }
            Py_DECREF(out);
            return NULL;
        }
    }
    if (got != n && _PyBytes_Resize(&out, (Py_ssize_t)got) < 0) {
        return NULL;
    }
    return out;
}

/* What _plain_body's read does for a file of one piece: os.open, the piece
 * and the read that finds the end (b"" when the first is empty), os.close,
 * errors as those functions raise them. */
static PyObject *
sf_read_file(PyObject *absolute, Py_ssize_t chunk)
{
    PyObject *bytes_path, *body = NULL, *more;
    int fd;

    if (!PyUnicode_FSConverter(absolute, &bytes_path)) {
        return NULL;
    }
    for (;;) {
        Py_BEGIN_ALLOW_THREADS
        fd = open(PyBytes_AS_STRING(bytes_path), O_RDONLY | O_CLOEXEC);
        Py_END_ALLOW_THREADS
        if (fd >= 0) {
            break;
        }
        if (errno != EINTR || PyErr_CheckSignals() < 0) {
            if (!PyErr_Occurred()) {
                PyErr_SetFromErrnoWithFilenameObject(PyExc_OSError, absolute);
            }
            Py_DECREF(bytes_path);
            return NULL;
        }
    }
    Py_DECREF(bytes_path);
    body = sf_read(fd, chunk);
    if (body != NULL && PyBytes_GET_SIZE(body) > 0) {
        more = sf_read(fd, chunk);
        if (more == NULL) {
            Py_CLEAR(body);
        }
        else if (PyBytes_GET_SIZE(more) > 0) {
            PyBytes_Concat(&body, more); /* (a file that grew meanwhile) */
            Py_DECREF(more);
        }
        else {
            Py_DECREF(more);
        }
    }
    /* finally: os.close(fd) -- its error, if any, raised from the read's */
    if (close(fd) < 0) {
        PyObject *type, *value, *tb;
        int had = body == NULL;
        PyErr_Fetch(&type, &value, &tb);
        PyErr_SetFromErrno(PyExc_OSError);
        if (had && type != NULL) {
            PyObject *ntype, *nvalue, *ntb;
            PyErr_NormalizeException(&type, &value, &tb);
            if (tb != NULL) {
                PyException_SetTraceback(value, tb);
            }
            PyErr_Fetch(&ntype, &nvalue, &ntb);
            PyErr_NormalizeException(&ntype, &nvalue, &ntb);
            PyException_SetContext(nvalue, value); /* (steals value) */
            value = NULL;
            PyErr_Restore(ntype, nvalue, ntb);
        }
        Py_XDECREF(type);
        Py_XDECREF(value);
        Py_XDECREF(tb);
        Py_CLEAR(body);
    }
    return body;
}

/* The file's fields _plain_body reads: 1 with *size and *modified (a new
 * reference: datetime.fromtimestamp(int(st_mtime), _UTC)) for a regular
 * file of at most chunk bytes whose time datetime can hold, 0 for anything
 * else, -1 on error. */
static int
sf_stat_fields(tc_state *st, PyObject *found, Py_ssize_t chunk, Py_ssize_t *size,
               PyObject **modified)
{
    PyObject *mtime, *whole;
    long mode;
    long long seconds;
    tc_civil when;

    *modified = NULL;
    if (!PyTuple_Check(found) || PyTuple_GET_SIZE(found) < 7 ||
        !PyLong_CheckExact(PyTuple_GET_ITEM(found, 0)) ||
        !PyLong_CheckExact(PyTuple_GET_ITEM(found, 6))) {
        return 0;
    }
    mode = PyLong_AsLong(PyTuple_GET_ITEM(found, 0));
    *size = PyLong_AsSsize_t(PyTuple_GET_ITEM(found, 6));
    if ((mode == -1 || *size == -1) && PyErr_Occurred()) {
        PyErr_Clear();
        return 0;
    }
    if (!S_ISREG(mode) || *size < 0 || *size > chunk) {
        return 0;
    }
    mtime = PyObject_GetAttr(found, SF(st, SF_st_mtime));
    if (mtime == NULL) {
        return -1;
    }
    whole = PyFloat_CheckExact(mtime) ? PyNumber_Long(mtime) : NULL;
    Py_DECREF(mtime);
    if (whole == NULL) {
        PyErr_Clear();
        return 0;
    }
    seconds = PyLong_AsLongLong(whole);
    Py_DECREF(whole);
    if (seconds == -1 && PyErr_Occurred()) {
        PyErr_Clear();
        return 0;
    }
    if (tc_civil_from_seconds(seconds, &when) != 0) {
        return 0; /* (fromtimestamp's own error is for Python to raise) */
    }
    *modified = tc_utc_datetime(&when);
    return *modified != NULL ? 1 : -1;
}

#if PY_VERSION_HEX >= 0x030B0000 && PY_VERSION_HEX < 0x030C0000
/* (The two helpers of sf_guess_type's CPython 3.11 path.) */

/* Where posixpath.splitext(p) cuts p: the index of the extension's dot, or
 * len(p) when there is none (a name of leading dots has none). */
static Py_ssize_t
sf_ext_at(PyObject *p)
{
    Py_ssize_t n = PyUnicode_GET_LENGTH(p), i;
    Py_ssize_t sep = PyUnicode_FindChar(p, '/', 0, n, -1);
    Py_ssize_t dot = PyUnicode_FindChar(p, '.', 0, n, -1);

    if (dot > sep) {
        for (i = sep + 1; i < dot; i++) {
            if (PyUnicode_READ_CHAR(p, i) != '.') {
                return dot;
            }
        }
    }
    return n;
}

/* s.lower() for an ASCII s (NULL, no error, for any other). */
static PyObject *
sf_ascii_lower(PyObject *s)
{
    Py_ssize_t i, n = PyUnicode_GET_LENGTH(s);
    PyObject *out;
    Py_UCS1 *d;

    if (!PyUnicode_IS_ASCII(s)) {
        return NULL;
    }
    out = PyUnicode_New(n, 127);
    if (out == NULL) {
        return NULL;
    }
    d = PyUnicode_1BYTE_DATA(out);
    memcpy(d, PyUnicode_1BYTE_DATA(s), (size_t)n);
    for (i = 0; i < n; i++) {
        if (d[i] >= 'A' && d[i] <= 'Z') {
            d[i] = (Py_UCS1)(d[i] + ('a' - 'A'));
        }
    }
    return out;
}
#endif

/* mimetypes.guess_type(path) for an absolute path, as CPython 3.11's
 * MimeTypes.guess_type(path, strict=True) answers it from the database's
 * tables: a new (type, encoding) tuple, or NULL -- with no exception when
 * this does not apply (the caller then calls guess_type). */
static PyObject *
sf_guess_type(tc_state *st, PyObject *const *env, PyObject *path)
{
#if PY_VERSION_HEX >= 0x030B0000 && PY_VERSION_HEX < 0x030C0000
    PyObject *db, *fn, *suffix = NULL, *encodings = NULL, *types = NULL, *base = NULL;
    PyObject *ext = NULL, *lower = NULL, *result = NULL, *encoding = NULL, *type;
    Py_ssize_t at;
    int round;

    if (PyUnicode_GET_LENGTH(path) == 0 || PyUnicode_READ_CHAR(path, 0) != '/') {
        return NULL; /* (no scheme to look for in an absolute path) */
    }
    fn = PyObject_GetAttr(env[SE_MIMETYPES], SF(st, SF_guess_type));
    if (fn == NULL) {
        return NULL;
    }
    Py_DECREF(fn);
    db = fn == env[SE_GUESS_TYPE] ? PyObject_GetAttr(env[SE_MIMETYPES], SF(st, SF__db)) : NULL;
    if (db == NULL) {
        return NULL;
    }
    if ((PyObject *)Py_TYPE(db) != env[SE_MIMETYPES_CLASS] ||
        _PyType_Lookup(Py_TYPE(db), SF(st, SF_guess_type)) != env[SE_DB_GUESS_TYPE]) {
        Py_DECREF(db); /* (None: not initialized yet -- guess_type does that) */
        return NULL;
    }
    suffix = PyObject_GetAttr(db, SF(st, SF_suffix_map));
    encodings = suffix != NULL ? PyObject_GetAttr(db, SF(st, SF_encodings_map)) : NULL;
    types = encodings != NULL ? PyObject_GetAttr(db, SF(st, SF_types_map)) : NULL;
    Py_DECREF(db);
    if (types == NULL || !PyDict_CheckExact(suffix) || !PyDict_CheckExact(encodings) ||
        !PyTuple_CheckExact(types) || PyTuple_GET_SIZE(types) < 2 ||
        !PyDict_CheckExact(PyTuple_GET_ITEM(types, 1))) {
        goto done;
    }
    /* base, ext = splitext(url); while ext.lower() in suffix_map: ... */
    base = Py_NewRef(path);
    for (round = 0;; round++) {
        PyObject *more;
        at = sf_ext_at(base);
        Py_XSETREF(ext, PyUnicode_Substring(base, at, PyUnicode_GET_LENGTH(base)));
        Py_XSETREF(lower, ext != NULL ? sf_ascii_lower(ext) : NULL);
        if (lower == NULL || round > 16) {
            goto done; /* (non-ASCII, or a suffix_map that goes round) */
        }
        more = PyDict_GetItemWithError(suffix, lower);
        if (more == NULL) {
            if (PyErr_Occurred()) {
                goto done;
            }
            break;
        }
        if (!PyUnicode_CheckExact(more)) {
            goto done;
        }
        {
            PyObject *stem = PyUnicode_Substring(base, 0, at);
            Py_SETREF(base, stem != NULL ? PyUnicode_Concat(stem, more) : NULL);
            Py_XDECREF(stem);
            if (base == NULL) {
                goto done;
            }
        }
    }
    /* encodings_map is case sensitive */
    type = PyDict_GetItemWithError(encodings, ext);
    if (type != NULL) {
        PyObject *stem = PyUnicode_Substring(base, 0, at);
        encoding = Py_NewRef(type);
        Py_SETREF(base, stem);
        if (base == NULL) {
            goto done;
        }
        at = sf_ext_at(base);
        Py_SETREF(ext, PyUnicode_Substring(base, at, PyUnicode_GET_LENGTH(base)));
        Py_XSETREF(lower, ext != NULL ? sf_ascii_lower(ext) : NULL);
        if (lower == NULL) {
            goto done;
        }
    }
    else if (PyErr_Occurred()) {
        goto done;
    }
    else {
        encoding = Py_NewRef(Py_None);
    }
    type = PyDict_GetItemWithError(PyTuple_GET_ITEM(types, 1), lower);
    if (type == NULL && PyErr_Occurred()) {
        goto done;
    }
    result = PyTuple_Pack(2, type != NULL ? type : Py_None, encoding);
done:
    Py_XDECREF(encoding);
    Py_XDECREF(suffix);
    Py_XDECREF(encodings);
    Py_XDECREF(types);
    Py_XDECREF(base);
    Py_XDECREF(ext);
    Py_XDECREF(lower);
    return result;
#else
    (void)st, (void)env, (void)path;
    return NULL;
#endif
}

/* get_content_type(): mimetypes.guess_type(absolute) and its mapping.  A
 * new reference (a str, or whatever guess_type gave as the type). */
static PyObject *
sf_content_type(tc_state *st, PyObject *const *env, PyObject *absolute)
{
    PyObject *guess, *found, *guessed, *encoding, *out;

    found = sf_guess_type(st, env, absolute);
    if (found == NULL && !PyErr_Occurred()) {
        guess = PyObject_GetAttr(env[SE_MIMETYPES], SF(st, SF_guess_type));
        found = guess != NULL ? PyObject_CallOneArg(guess, absolute) : NULL;
        Py_XDECREF(guess);
    }
    if (found == NULL) {
        return NULL;
    }
    if (!PyTuple_CheckExact(found) || PyTuple_GET_SIZE(found) != 2) {
        /* guessed, encoding = ...: the unpacking's own error or values */
        PyObject *seq = PySequence_Tuple(found);
        Py_DECREF(found);
        if (seq == NULL) {
            return NULL;
        }
        if (PyTuple_GET_SIZE(seq) != 2) {
            if (PyTuple_GET_SIZE(seq) < 2) {
                PyErr_Format(PyExc_ValueError, "not enough values to unpack (expected 2, got %zd)",
                             PyTuple_GET_SIZE(seq));
            }
            else {
                PyErr_SetString(PyExc_ValueError, "too many values to unpack (expected 2)");
            }
            Py_DECREF(seq);
            return NULL;
        }
        found = seq;
    }
    guessed = PyTuple_GET_ITEM(found, 0);
    encoding = PyTuple_GET_ITEM(found, 1);
    if (encoding == Py_None) {
        /* guessed or "application/octet-stream" */
        int truth = PyObject_IsTrue(guessed);
        out = truth < 0 ? NULL : Py_NewRef(truth ? guessed : SF(st, SF_octet_stream));
    }
    else {
        int gz = PyObject_RichCompareBool(encoding, SF(st, SF_gzip), Py_EQ);
        out = gz < 0 ? NULL : Py_NewRef(SF(st, gz ? SF_gzip_type : SF_octet_stream));
    }
    Py_DECREF(found);
    return out;
}

/* self.set_header(name, value): in C for a str or int value, else the
 * method itself (a type guess_type should not give). */
static int
sf_set_header(tc_state *st, PyObject *self, PyObject *headers, int name, PyObject *value)
{
    PyObject *r;

    if (PyUnicode_CheckExact(value) || PyLong_CheckExact(value)) {
        return tc_web_header_put(st, headers, SF(st, name), value, 1);
    }
    r = PyObject_CallMethodObjArgs(self, SF(st, SF_set_header), SF(st, name), value, NULL);
    Py_XDECREF(r);
    return r != NULL ? 0 : -1;
}

/* get()'s write of a file of one piece, done here when get is
 * StaticFileHandler's own, the output transforms an empty list and the
 * handler not finished: self._write_buffer.append(body), as write() does
 * (it is among the hooks get() checked).  1 written, 0 not, -1 error. */
static int
sf_write_piece(tc_state *st, PyObject *self, PyObject *const *env, PyObject *body)
{
    PyObject *transforms, *finished, *buffer;
    int rc = 0;

    if (_PyType_Lookup(Py_TYPE(self), SF(st, SF_get)) != env[SE_GET]) {
        return 0;
    }
    transforms = PyObject_GetAttr(self, SF(st, SF__transforms));
    finished = transforms != NULL ? tc_web_handler_get(st, self, TC_RH_FINISHED) : NULL;
    buffer = finished != NULL ? tc_web_handler_get(st, self, TC_RH_WRITE_BUFFER) : NULL;
    if (buffer == NULL) {
        rc = -1;
    }
    else if (PyList_CheckExact(transforms) && PyList_GET_SIZE(transforms) == 0 &&
             finished == Py_False && PyList_CheckExact(buffer)) {
        rc = PyList_Append(buffer, body) < 0 ? -1 : 1;
    }
    Py_XDECREF(transforms);
    Py_XDECREF(finished);
    Py_XDECREF(buffer);
    return rc;
}

/* _static_plain(handler, path, include_body, env): see the top. */
static PyObject *
sf_static_plain(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    tc_state *st = PyModule_GetState(module);
    PyObject *self, *path, *const *env, *root = NULL, *absolute = NULL;
    PyObject *found = NULL, *modified = NULL, *table, *digest, *headers = NULL, *text = NULL;
    PyObject *result = NULL, *body = NULL;
    Py_ssize_t chunk, size = 0;
    int rc;

    if (nargs != 4 || !PyTuple_CheckExact(args[3]) || PyTuple_GET_SIZE(args[3]) != SE_SIZE) {
        PyErr_SetString(PyExc_TypeError, "_static_plain(handler, path, include_body, env)");
        return NULL;
    }
    self = args[0], path = args[1], env = &PyTuple_GET_ITEM(args[3], 0);
    chunk = PyLong_AsSsize_t(env[SE_CHUNK]);
    if (chunk == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (args[2] != Py_True || !PyUnicode_CheckExact(path) || chunk <= 0) {
        Py_RETURN_NOTIMPLEMENTED;
    }
    rc = sf_functions_ok(st, env);
    if (rc > 0) {
        rc = sf_request_ok(st, self, &root);
    }
    if (rc <= 0) {
        return rc < 0 ? NULL : Py_NewRef(Py_NotImplemented);
    }
    rc = tc_web_header_ready(st, self, &headers);
    if (rc <= 0) {
        result = rc < 0 ? NULL : Py_NewRef(Py_NotImplemented);
        goto done;
    }
    absolute = sf_absolute(env, root, path);
    if (absolute == NULL) {
        result = PyErr_Occurred() ? NULL : Py_NewRef(Py_NotImplemented);
        goto done;
    }
    /* os.stat(absolute); _plain_body takes its errors as "not this way" */
    found = PyObject_CallOneArg(env[SE_STAT], absolute);
    if (found == NULL) {
        if (PyErr_ExceptionMatches(PyExc_OSError) || PyErr_ExceptionMatches(PyExc_ValueError)) {
            PyErr_Clear();
            result = Py_NewRef(Py_NotImplemented);
        }
        goto done;
    }
    rc = sf_stat_fields(st, found, chunk, &size, &modified);
    if (rc <= 0) {
        result = rc < 0 ? NULL : Py_NewRef(Py_NotImplemented);
        goto done;
    }
    /* compute_etag(): the version hash remembered for the file */
    table = PyObject_GetAttr((PyObject *)Py_TYPE(self), SF(st, SF__static_hashes));
    if (table == NULL) {
        goto done;
    }
    digest = PyDict_CheckExact(table) ? PyDict_GetItemWithError(table, absolute) : NULL;
    Py_XINCREF(digest);
    Py_DECREF(table);
    if (digest == NULL || !(digest == Py_None || PyUnicode_CheckExact(digest))) {
        Py_XDECREF(digest);
        result = PyErr_Occurred() ? NULL : Py_NewRef(Py_NotImplemented);
        goto done;
    }
    /* From here on the steps are taken: self.path = path, ... */
    {
        PyObject *validated = PyTuple_Pack(2, absolute, found);
        rc = validated == NULL ||
             PyObject_SetAttr(self, SF(st, SF_path), path) < 0 ||
             PyObject_SetAttr(self, SF(st, SF_absolute_path), absolute) < 0 ||
             PyObject_SetAttr(self, SF(st, SF__validated_stat), validated) < 0 ||
             PyObject_SetAttr(self, SF(st, SF__stat_result), found) < 0 ||
             PyObject_SetAttr(self, SF(st, SF_modified), modified) < 0;
        Py_XDECREF(validated);
    }
    if (rc) {
        Py_DECREF(digest);
        goto done;
    }
    /* set_headers() */
    if (tc_web_header_put(st, headers, SF(st, SF_Accept_Ranges), SF(st, SF_bytes), 1) < 0) {
        Py_DECREF(digest);
        goto done;
    }
    if (digest != Py_None && PyUnicode_GET_LENGTH(digest) > 0) {
        /* f'"{digest}"' */
        Py_ssize_t n = PyUnicode_GET_LENGTH(digest);
        if (PyUnicode_IS_ASCII(digest) && (text = PyUnicode_New(n + 2, 127)) != NULL) {
            Py_UCS1 *d = PyUnicode_1BYTE_DATA(text);
            d[0] = d[n + 1] = '"';
            memcpy(d + 1, PyUnicode_1BYTE_DATA(digest), (size_t)n);
        }
        else if (!PyUnicode_IS_ASCII(digest)) {
            text = PyUnicode_FromFormat("\"%U\"", digest);
        }
        rc = text == NULL || tc_web_header_put(st, headers, SF(st, SF_Etag), text, 1) < 0;
        Py_CLEAR(text);
        if (rc) {
            Py_DECREF(digest);
            goto done;
        }
    }
    Py_DECREF(digest);
    text = tc_http_date(NULL, modified);
    if (text == NULL || text == Py_None ||
        tc_web_header_put(st, headers, SF(st, SF_Last_Modified), text, 1) < 0) {
        if (text == Py_None) {
            PyErr_SetString(PyExc_SystemError, "_static_plain: no date for Last-Modified");
        }
        goto done;
    }
    Py_CLEAR(text);
    text = sf_content_type(st, env, absolute);
    if (text == NULL) {
        goto done;
    }
    rc = PyObject_IsTrue(text);
    if (rc < 0 || (rc && sf_set_header(st, self, headers, SF_Content_Type, text) < 0)) {
        goto done;
    }
    Py_CLEAR(text);
    /* (get_cache_time() is 0 without a "v" argument; set_extra_headers()
     * does nothing) self.set_header("Content-Length", size) */
    text = PyLong_FromSsize_t(size);
    if (text == NULL || tc_web_header_put(st, headers, SF(st, SF_Content_Length), text, 1) < 0) {
        goto done;
    }
    body = sf_read_file(absolute, chunk);
    if (body != NULL && PyBytes_GET_SIZE(body) > 0) {
        rc = sf_write_piece(st, self, env, body);
        result = rc < 0 ? NULL : rc ? PyTuple_New(0) : PyTuple_Pack(1, body);
    }
    else if (body != NULL) {
        result = PyTuple_New(0);
    }
done:
    Py_XDECREF(root);
    Py_XDECREF(headers);
    Py_XDECREF(absolute);
    Py_XDECREF(found);
    Py_XDECREF(modified);
    Py_XDECREF(text);
    Py_XDECREF(body);
    return result;
}

static PyMethodDef sf_functions[] = {
    {"_static_plain", (PyCFunction)(void (*)(void))sf_static_plain, METH_FASTCALL,
     PyDoc_STR("_static_plain(handler, path, include_body, env)\n--\n\n"
               "StaticFileHandler.get()'s short way for a GET of a whole file of one\n"
               "piece, in C: the pieces to write, or NotImplemented with nothing done\n"
               "(see csrc/static.c).")},
    {NULL, NULL, 0, NULL},
};

int
tc_static_init(PyObject *module, tc_state *st)
{
    if (tc_intern_names(st->sf_names, sf_texts, SF_COUNT) < 0) {
        return -1;
    }
    return PyModule_AddFunctions(module, sf_functions);
}

void
tc_static_clear(tc_state *st)
{
    tc_clear_names(st->sf_names, TC_SF_NAMES);
}
