/*
 * request.c — httputil's per-request objects built in C.
 *
 *   normalize_header(name)  httputil._normalize_header: "Http-Header-Case".
 *   headers_fill(h, d)      what HTTPHeaders(d) does for a plain dict.
 *   request_setup(...)      tells the engine which HTTPServerRequest class
 *                           and __init__ it may stand in for.
 *   tc_request_new()        for dispatch.c: an HTTPServerRequest made as
 *                           its original __init__ makes it, for a request
 *                           the native server parsed (start line and
 *                           HTTPHeaders built in C).
 *
 * The Python helpers __init__ uses (parse_qs_bytes, _request_host,
 * _host_name, the _host_names cache, time.time) are looked up in
 * httputil's globals on every request, as the Python code looks them up,
 * so that replacing one of them (a test double, freezegun) still takes
 * effect.
 */
#include "tc.h"

#include <time.h>

/* Attribute and global names, in the order HTTPServerRequest.__init__
 * assigns the attributes. */
enum {
    RQ_method, RQ_uri, RQ_version, RQ_headers, RQ_body, RQ_remote_ip, RQ_protocol,
    RQ_host_name, RQ_host, RQ_files, RQ_connection, RQ_server_connection,
    RQ__start_time, RQ__finish_time, RQ_path, RQ_query, RQ_arguments,
    RQ_query_arguments, RQ_body_arguments,
    /* not attributes */
    RQ_context, RQ_Host, RQ_http, RQ_empty, RQ_dash, RQ_split, RQ_capitalize,
    RQ_parse_qs_bytes, RQ__request_host, RQ__host_names, RQ__host_name, RQ_time,
    RQ_keep_blank_values, RQ_COUNT
};

static const char *const rq_texts[RQ_COUNT] = {
    "method", "uri", "version", "headers", "body", "remote_ip", "protocol",
    "host_name", "host", "files", "connection", "server_connection",
    "_start_time", "_finish_time", "path", "query", "arguments",
    "query_arguments", "body_arguments",
    "context", "Host", "http", "", "-", "split", "capitalize",
    "parse_qs_bytes", "_request_host", "_host_names", "_host_name", "time",
    "keep_blank_values",
};

_Static_assert(RQ_COUNT == TC_RQ_NAMES, "TC_RQ_NAMES in tc.h must match");
_Static_assert(RQ_body_arguments + 1 == TC_RQ_SLOTS, "TC_RQ_SLOTS in tc.h must match");

#define RQ(st, i) ((st)->rq_names[i])

/* HTTPServerRequests built by tc_request_new, for tests that check the
 * path is taken (_requests_built()). */
static Py_ssize_t rq_built = 0;

/* ------------------------------------------------------ header names */

/* "-".join(part.capitalize() for part in name.split("-")), for anything
 * that is not an ASCII str (the methods are called by name, so a bytes or
 * other name fails as the Python expression does; an unhashable one fails
 * first, as in Tornado, whose function is behind an lru_cache). */
static PyObject *
normalize_generic(tc_state *st, PyObject *name)
{
    PyObject *parts, *out = NULL;
    Py_ssize_t i, n;

    if (PyObject_Hash(name) == -1) {
        return NULL;
    }
    parts = PyObject_CallMethodOneArg(name, RQ(st, RQ_split), RQ(st, RQ_dash));
    if (parts == NULL) {
        return NULL;
    }
    if (!PyList_CheckExact(parts)) {
        Py_SETREF(parts, PySequence_List(parts));
        if (parts == NULL) {
            return NULL;
        }
    }
    n = PyList_GET_SIZE(parts);
    for (i = 0; i < n; i++) {
        PyObject *cap = PyObject_CallMethodNoArgs(PyList_GET_ITEM(parts, i),
                                                  RQ(st, RQ_capitalize));
        if (cap == NULL) {
            goto done;
        }
        Py_SETREF(PyList_GET_ITEM(parts, i), cap);
    }
    out = PyUnicode_Join(RQ(st, RQ_dash), parts);
done:
    Py_DECREF(parts);
    return out;
}

/* A new reference to name in Http-Header-Case (name itself when it is an
 * ASCII str already in that case), or NULL with an exception. */
PyObject *
tc_normalize_header(tc_state *st, PyObject *name)
{
    const Py_UCS1 *p;
    Py_UCS1 *d;
    Py_ssize_t n, i, first = -1;
    PyObject *out;
    int start = 1;

    if (!PyUnicode_CheckExact(name) || !PyUnicode_IS_ASCII(name)) {
        return normalize_generic(st, name);
    }
    p = PyUnicode_1BYTE_DATA(name);
    n = PyUnicode_GET_LENGTH(name);
    for (i = 0; i < n; i++) {
        Py_UCS1 ch = p[i];
        if ((start && ch >= 'a' && ch <= 'z') || (!start && ch >= 'A' && ch <= 'Z')) {
            first = i;
            break;
        }
        start = ch == '-';
    }
    if (first < 0) {
        return Py_NewRef(name);
    }
    out = PyUnicode_New(n, 127);
    if (out == NULL) {
        return NULL;
    }
    d = PyUnicode_1BYTE_DATA(out);
    memcpy(d, p, (size_t)first);
    for (i = first; i < n; i++) {
        Py_UCS1 ch = p[i];
        if (start && ch >= 'a' && ch <= 'z') {
            ch = (Py_UCS1)(ch - 32);
        }
        else if (!start && ch >= 'A' && ch <= 'Z') {
            ch = (Py_UCS1)(ch + 32);
        }
        d[i] = ch;
        start = ch == '-';
    }
    return out;
}

static PyObject *
rq_normalize_header(PyObject *module, PyObject *name)
{
    return tc_normalize_header(PyModule_GetState(module), name);
}

/* headers_fill(h, d): h._dict / h._as_list / h._last_key as HTTPHeaders(d)
 * sets them for a plain dict d (later keys that normalize alike win, as
 * with __setitem__).  Returns True, or False without touching h when d is
 * not exactly a dict (the caller then takes the general path). */
static PyObject *
rq_headers_fill(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    tc_state *st = PyModule_GetState(module);
    PyObject *h, *src, *values = NULL, *lists = NULL, *name, *value;
    Py_ssize_t pos = 0;

    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "headers_fill(headers, mapping)");
        return NULL;
    }
    h = args[0];
    src = args[1];
    if (!PyDict_CheckExact(src)) {
        Py_RETURN_FALSE;
    }
    values = PyDict_New();
    lists = PyDict_New();
    if (values == NULL || lists == NULL) {
        goto error;
    }
    while (PyDict_Next(src, &pos, &name, &value)) {
        PyObject *key, *one;
        int rc;
        Py_INCREF(name);
        Py_INCREF(value);
        key = tc_normalize_header(st, name);
        one = key != NULL ? PyList_New(1) : NULL;
        if (one == NULL) {
            Py_XDECREF(key);
            Py_DECREF(name);
            Py_DECREF(value);
            goto error;
        }
        PyList_SET_ITEM(one, 0, Py_NewRef(value));
        rc = PyDict_SetItem(values, key, value) < 0 || PyDict_SetItem(lists, key, one) < 0;
        Py_DECREF(one);
        Py_DECREF(key);
        Py_DECREF(name);
        Py_DECREF(value);
        if (rc) {
            goto error;
        }
    }
    if (tc_headers_assign(st, h, values, lists, Py_None) < 0) {
        goto error;
    }
    Py_DECREF(values);
    Py_DECREF(lists);
    Py_RETURN_TRUE;
error:
    Py_XDECREF(values);
    Py_XDECREF(lists);
    return NULL;
}

static PyObject *
hd_name(tc_state *st, int which)
{
    return which == TC_HD_DICT ? st->str__dict
           : which == TC_HD_AS_LIST ? st->str__as_list : st->str__last_key;
}

/* headers._dict / _as_list / _last_key (which: TC_HD_*): a new reference. */
PyObject *
tc_headers_get(tc_state *st, PyObject *headers, int which)
{
    return tc_slot_load(&st->header_slots, headers, which, hd_name(st, which));
}

/* request.method / .headers / .connection / .body (which: TC_RQ_*), read
 * (a new reference) or set through HTTPServerRequest's slots while they
 * are its own. */
static const int rq_index[] = {RQ_method, RQ_headers, RQ_connection, RQ_body};

PyObject *
tc_request_get(tc_state *st, PyObject *request, int which)
{
    int i = rq_index[which];

    return tc_slot_load(&st->request_slots, request, i, RQ(st, i));
}

int
tc_request_set(tc_state *st, PyObject *request, int which, PyObject *value)
{
    int i = rq_index[which];

    return tc_slot_store(&st->request_slots, request, i, RQ(st, i), value);
}

/* 1 when request._parse_body() would return at once: it is the original
 * (``original``; NULL: request_setup's) and the request's HTTPHeaders have
 * no Content-Type (its first check).  0 when it must be called, -1 on
 * error. */
int
tc_request_parse_is_noop(tc_state *st, PyObject *request, PyObject *original)
{
    PyObject *headers, *fields;
    int has;

    if (original == NULL) {
        original = st->request_parse_body;
    }
    if (original == NULL || _PyType_Lookup(Py_TYPE(request), st->str__parse_body) != original) {
        return 0;
    }
    headers = tc_request_get(st, request, TC_RQ_HEADERS);
    if (headers == NULL) {
        return -1;
    }
    if (Py_TYPE(headers) != st->http_headers) {
        Py_DECREF(headers);
        return 0;
    }
    fields = tc_headers_get(st, headers, TC_HD_DICT);
    Py_DECREF(headers);
    if (fields == NULL) {
        return -1;
    }
    has = PyDict_CheckExact(fields) ? PyDict_Contains(fields, st->str_Content_Type) : 1;
    Py_DECREF(fields);
    return has < 0 ? -1 : !has;
}

/* A module's getattr finds an attribute in the module's dict unless its
 * type (ModuleType, which defines none by these names) has a data
 * descriptor for it: for an exact module the dict can be read directly.
 * Anything not found there goes through getattr (a module __getattr__,
 * the AttributeError). */
PyObject *
tc_module_attr(tc_state *st, PyObject *mod, PyObject *name)
{
    if (PyModule_CheckExact(mod)) {
        PyObject *v = tc_globals_get(st, PyModule_GetDict(mod), name);
        if (v != NULL) {
            return Py_NewRef(v);
        }
        if (PyErr_Occurred()) {
            return NULL;
        }
    }
    return PyObject_GetAttr(mod, name);
}

/* headers._dict, headers._as_list, headers._last_key = dict, lists, last_key */
int
tc_headers_assign(tc_state *st, PyObject *headers, PyObject *dict, PyObject *lists,
                  PyObject *last_key)
{
    PyObject *values[TC_HD_COUNT] = {dict, lists, last_key};

    for (int i = 0; i < TC_HD_COUNT; i++) {
        if (tc_slot_store(&st->header_slots, headers, i, hd_name(st, i), values[i]) < 0) {
            return -1;
        }
    }
    return 0;
}

/* -------------------------------------------------- HTTPServerRequest */

/* request_setup(HTTPServerRequest, __init__, builtin time.time): the class
 * the native server may build requests for while its __init__ is still
 * the given function (whose __globals__ are httputil's). */
static PyObject *
rq_request_setup(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    tc_state *st = PyModule_GetState(module);
    PyObject *globals;

    if ((nargs != 3 && nargs != 4) || !PyType_Check(args[0]) || !PyFunction_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError,
                        "request_setup(HTTPServerRequest, __init__, time.time[, _parse_body])");
        return NULL;
    }
    Py_XSETREF(st->request_parse_body, nargs == 4 ? Py_NewRef(args[3]) : NULL);
    globals = PyFunction_GET_GLOBALS(args[1]);
    if (tc_slotmap_set(&st->request_slots, (PyTypeObject *)args[0], st->rq_names,
                       TC_RQ_SLOTS) < 0) {
        return NULL;
    }
    Py_XSETREF(st->request_class, Py_NewRef(args[0]));
    Py_XSETREF(st->request_init, Py_NewRef(args[1]));
    Py_XSETREF(st->request_globals, Py_NewRef(globals));
    Py_XSETREF(st->time_time, Py_NewRef(args[2]));
    Py_RETURN_NONE;
}

/* A borrowed reference to httputil's global name, or NULL with NameError. */
static PyObject *
rq_global(tc_state *st, int which)
{
    PyObject *v = tc_globals_get(st, st->request_globals, RQ(st, which));
    if (v == NULL && !PyErr_Occurred()) {
        PyErr_Format(PyExc_NameError, "name '%U' is not defined", RQ(st, which));
    }
    return v;
}

PyObject *
tc_time_time(tc_state *st, PyObject *mod)
{
    PyObject *fn;
    struct timespec ts;

    fn = tc_module_attr(st, mod, RQ(st, RQ_time));
    if (fn == NULL) {
        return NULL;
    }
    if (fn != st->time_time) {
        PyObject *r = PyObject_CallNoArgs(fn);
        Py_DECREF(fn);
        return r;
    }
    Py_DECREF(fn);
    if (clock_gettime(CLOCK_REALTIME, &ts) != 0) {
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    return PyFloat_FromDouble((double)ts.tv_sec + (double)ts.tv_nsec * 1e-9);
}

/* time.time() through httputil's ``time`` module. */
static PyObject *
rq_now(tc_state *st)
{
    PyObject *mod = rq_global(st, RQ_time);
    return mod != NULL ? tc_time_time(st, mod) : NULL;
}

/* getattr(obj, name, default) as a new reference: through obj's slot
 * (map m, entry i, csrc/slots.c) while its class has it. */
static PyObject *
rq_getattr(tc_slotmap *m, PyObject *obj, int i, PyObject *name, PyObject *dflt)
{
    PyObject *v;
    if (tc_slot_lookup(m, obj, i, name, &v) < 0) {
        return NULL;
    }
    return v != NULL ? v : Py_NewRef(dflt);
}

/* The Host the request names (new reference): headers._dict["Host"], or
 * httputil._request_host(headers, version) when there is none. */
static PyObject *
rq_host(tc_state *st, PyObject *headers, PyObject *version)
{
    PyObject *fields, *named, *fn;

    fields = tc_headers_get(st, headers, TC_HD_DICT);
    if (fields == NULL) {
        return NULL;
    }
    named = PyDict_CheckExact(fields) ? PyDict_GetItemWithError(fields, RQ(st, RQ_Host)) : NULL;
    Py_XINCREF(named);
    Py_DECREF(fields);
    if (named != NULL || PyErr_Occurred()) {
        return named;
    }
    fn = rq_global(st, RQ__request_host);
    if (fn == NULL) {
        return NULL;
    }
    {
        PyObject *call[2] = {headers, version};
        return PyObject_Vectorcall(fn, call, 2, NULL);
    }
}

/* _host_names[host], or _host_name(host) when it is not cached. */
static PyObject *
rq_host_name(tc_state *st, PyObject *host)
{
    PyObject *cache = rq_global(st, RQ__host_names), *fn, *name;

    if (cache == NULL) {
        return NULL;
    }
    if (PyDict_CheckExact(cache)) {
        name = PyDict_GetItemWithError(cache, host);
        if (name != NULL) {
            return Py_NewRef(name);
        }
        if (PyErr_Occurred()) {
            return NULL;
        }
    }
    else {
        name = PyObject_GetItem(cache, host);
        if (name != NULL || !PyErr_ExceptionMatches(PyExc_KeyError)) {
            return name;
        }
        PyErr_Clear();
    }
    fn = rq_global(st, RQ__host_name);
    return fn == NULL ? NULL : PyObject_CallOneArg(fn, host);
}

/* arguments and query_arguments for a non-empty query string: two new
 * references, 0 / -1. */
static int
rq_query_arguments(tc_state *st, PyObject *query, PyObject **arguments, PyObject **copy)
{
    PyObject *fn = rq_global(st, RQ_parse_qs_bytes), *parsed, *items = NULL, *out;
    PyObject *call[2] = {query, Py_True};
    Py_ssize_t i, n;

    if (fn == NULL) {
        return -1;
    }
    parsed = PyObject_Vectorcall(fn, call, 1, st->rq_kw_keep_blank);
    if (parsed == NULL) {
        return -1;
    }
    out = PyDict_New();
    items = out != NULL ? PyMapping_Items(parsed) : NULL;
    if (items == NULL) {
        goto error;
    }
    n = PyList_GET_SIZE(items);
    for (i = 0; i < n; i++) {
        PyObject *kv = PyList_GET_ITEM(items, i), *values;
        int rc;
        if (!PyTuple_Check(kv) || PyTuple_GET_SIZE(kv) != 2) {
            PyErr_SetString(PyExc_ValueError, "items() must give pairs");
            goto error;
        }
        values = PySequence_List(PyTuple_GET_ITEM(kv, 1));
        if (values == NULL) {
            goto error;
        }
        rc = PyDict_SetItem(out, PyTuple_GET_ITEM(kv, 0), values);
        Py_DECREF(values);
        if (rc < 0) {
            goto error;
        }
    }
    Py_DECREF(items);
    *arguments = parsed;
    *copy = out;
    return 0;
error:
    Py_XDECREF(items);
    Py_XDECREF(out);
    Py_DECREF(parsed);
    return -1;
}

/* 1 when tc_request_new may stand in for cls(connection=..., [server_connection=...,]
 * start_line=..., headers=...). */
int
tc_request_applies(tc_state *st, PyObject *cls, PyObject *start_line, PyObject *headers)
{
    PyTypeObject *tp = (PyTypeObject *)cls;
    Py_ssize_t i;

    if (st->request_class == NULL || cls != st->request_class ||
        tp->tp_new != PyBaseObject_Type.tp_new ||
        _PyType_Lookup(tp, st->str___init__) != st->request_init ||
        Py_TYPE(headers) != st->http_headers || !PyTuple_Check(start_line) ||
        PyTuple_GET_SIZE(start_line) != 3) {
        return 0;
    }
    for (i = 0; i < 3; i++) {
        if (!PyUnicode_CheckExact(PyTuple_GET_ITEM(start_line, i))) {
            return 0;
        }
    }
    return 1;
}

/* HTTPServerRequest(connection=conn, server_connection=server_conn,
 * start_line=start_line, headers=headers), for arguments that
 * tc_request_applies() accepted.  A new reference or NULL. */
PyObject *
tc_request_new(tc_state *st, PyObject *cls, PyObject *conn, PyObject *server_conn,
               PyObject *start_line, PyObject *headers)
{
    PyTypeObject *tp = (PyTypeObject *)cls;
    PyObject *uri = PyTuple_GET_ITEM(start_line, 1);
    PyObject *version = PyTuple_GET_ITEM(start_line, 2);
    PyObject *v[TC_RQ_SLOTS] = {NULL};
    PyObject *obj, *context = NULL;
    Py_ssize_t qmark, n = PyUnicode_GET_LENGTH(uri);
    int i, slots;

    obj = tp->tp_new(tp, st->empty_tuple, NULL);
    if (obj == NULL) {
        return NULL;
    }
    v[RQ_method] = Py_NewRef(PyTuple_GET_ITEM(start_line, 0));
    v[RQ_uri] = Py_NewRef(uri);
    v[RQ_version] = Py_NewRef(version);
    v[RQ_headers] = Py_NewRef(headers);
    v[RQ_body] = PyBytes_FromStringAndSize(NULL, 0);
    {
        PyObject *names[1] = {RQ(st, RQ_context)};
        tc_slotmap *m = tc_slotmap_for(&st->conn_slots, 1, Py_TYPE(conn), names, 1);
        context = rq_getattr(m, conn, 0, names[0], Py_None);
    }
    if (v[RQ_body] == NULL || context == NULL) {
        goto error;
    }
    {
        PyObject *names[2] = {RQ(st, RQ_remote_ip), RQ(st, RQ_protocol)};
        tc_slotmap *m = tc_slotmap_for(&st->context_slots, 1, Py_TYPE(context), names, 2);
        v[RQ_remote_ip] = rq_getattr(m, context, 0, names[0], Py_None);
        if (v[RQ_remote_ip] == NULL) {
            goto error;
        }
        v[RQ_protocol] = rq_getattr(m, context, 1, names[1], RQ(st, RQ_http));
    }
    if (v[RQ_protocol] == NULL) {
        goto error;
    }
    v[RQ_host] = rq_host(st, headers, version);
    if (v[RQ_host] == NULL) {
        goto error;
    }
    v[RQ_host_name] = rq_host_name(st, v[RQ_host]);
    if (v[RQ_host_name] == NULL) {
        goto error;
    }
    v[RQ_files] = PyDict_New();
    v[RQ_connection] = Py_NewRef(conn);
    v[RQ_server_connection] = Py_NewRef(server_conn);
    v[RQ__start_time] = rq_now(st);
    v[RQ__finish_time] = Py_NewRef(Py_None);
    if (v[RQ_files] == NULL || v[RQ__start_time] == NULL) {
        goto error;
    }
    qmark = PyUnicode_FindChar(uri, '?', 0, n, 1);
    if (qmark == -2) {
        goto error;
    }
    if (qmark < 0) {
        v[RQ_path] = Py_NewRef(uri);
        v[RQ_query] = Py_NewRef(RQ(st, RQ_empty));
    }
    else {
        v[RQ_path] = PyUnicode_Substring(uri, 0, qmark);
        v[RQ_query] = PyUnicode_Substring(uri, qmark + 1, n);
        if (v[RQ_path] == NULL || v[RQ_query] == NULL) {
            goto error;
        }
    }
    if (PyUnicode_GET_LENGTH(v[RQ_query]) > 0) {
        if (rq_query_arguments(st, v[RQ_query], &v[RQ_arguments], &v[RQ_query_arguments]) < 0) {
            goto error;
        }
    }
    else {
        v[RQ_arguments] = PyDict_New();
        v[RQ_query_arguments] = PyDict_New();
    }
    v[RQ_body_arguments] = PyDict_New();
    if (v[RQ_arguments] == NULL || v[RQ_query_arguments] == NULL ||
        v[RQ_body_arguments] == NULL) {
        goto error;
    }
    slots = tc_slotmap_current(&st->request_slots, tp);
    for (i = 0; i < TC_RQ_SLOTS; i++) {
        if (slots && st->request_slots.descrs[i] != NULL) {
            /* A new instance's slot is empty; it takes the reference. */
            *tc_slot_ptr(&st->request_slots, obj, i) = v[i];
            v[i] = NULL;
        }
        else if (PyObject_SetAttr(obj, RQ(st, i), v[i]) < 0) {
            goto error;
        }
    }
    for (i = 0; i < TC_RQ_SLOTS; i++) {
        Py_XDECREF(v[i]);
    }
    Py_DECREF(context);
    rq_built++;
    return obj;
error:
    for (i = 0; i < TC_RQ_SLOTS; i++) {
        Py_XDECREF(v[i]);
    }
    Py_XDECREF(context);
    Py_DECREF(obj);
    return NULL;
}

/* ------------------------------------------------------------- module */

static PyObject *
rq_requests_built(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(ignored))
{
    return PyLong_FromSsize_t(rq_built);
}

static PyMethodDef rq_functions[] = {
    {"normalize_header", rq_normalize_header, METH_O,
     PyDoc_STR("normalize_header(name)\n--\n\n"
               "name in Http-Header-Case: each dash-separated part capitalized.")},
    {"headers_fill", (PyCFunction)(void (*)(void))rq_headers_fill, METH_FASTCALL,
     PyDoc_STR("headers_fill(headers, mapping)\n--\n\n"
               "Fill a new HTTPHeaders from a plain dict, as its constructor does;\n"
               "False (nothing done) when mapping is not exactly a dict.")},
    {"request_setup", (PyCFunction)(void (*)(void))rq_request_setup, METH_FASTCALL,
     PyDoc_STR("request_setup(request_class, init, time_time, parse_body=None)\n--\n\n"
               "The HTTPServerRequest class (and its original __init__) the native\n"
               "server builds requests for in C; time_time is the builtin time.time;\n"
               "parse_body its original _parse_body.")},
    {"_requests_built", rq_requests_built, METH_NOARGS,
     PyDoc_STR("_requests_built()\n--\n\n"
               "How many HTTPServerRequests the native server has built in C.")},
    {NULL, NULL, 0, NULL},
};

int
tc_request_init(PyObject *module, tc_state *st)
{
    if (tc_intern_names(st->rq_names, rq_texts, RQ_COUNT) < 0) {
        return -1;
    }
    st->rq_kw_keep_blank = PyTuple_Pack(1, RQ(st, RQ_keep_blank_values));
    if (st->rq_kw_keep_blank == NULL) {
        return -1;
    }
    return PyModule_AddFunctions(module, rq_functions);
}

int
tc_request_traverse(tc_state *st, visitproc visit, void *arg)
{
    Py_VISIT(st->request_class);
    Py_VISIT(st->request_init);
    {
        /* (handler.c's and route.c's maps too, kept in the state beside these) */
        int r = tc_state_slotmaps_traverse(st, visit, arg);
        if (r != 0) {
            return r;
        }
    }
    Py_VISIT(st->request_globals);
    Py_VISIT(st->request_parse_body);
    Py_VISIT(st->time_time);
    return 0;
}

void
tc_request_clear(tc_state *st)
{
    Py_CLEAR(st->request_class);
    Py_CLEAR(st->request_init);
    tc_state_slotmaps_clear(st);
    Py_CLEAR(st->request_globals);
    Py_CLEAR(st->request_parse_body);
    Py_CLEAR(st->time_time);
    Py_CLEAR(st->rq_kw_keep_blank);
    tc_globals_forget(st);
    tc_clear_names(st->rq_names, TC_RQ_NAMES);
}
