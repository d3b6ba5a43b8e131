/*
 * dispatch.c — Dispatch, the message delegate the native HTTP/1 server
 * connection makes for itself.
 *
 * When HTTPServer.start_request would only wrap the server's target in one
 * of two adapters -- a plain request callback (httpserver._CallableAdapter)
 * or a router (routing._RoutingDelegate, for Application and every Router
 * that keeps Router.start_request) -- HTTPServer._native_dispatch() says so
 * once per connection, and the connection (http1.c) makes a Dispatch per
 * request instead of calling start_request.  A Dispatch does what the
 * adapter does, in the same order and with the same objects:
 *
 *   callback: headers_received builds the HTTPServerRequest; data_received
 *             collects the body; finish sets request.body, calls
 *             request._parse_body() and then the callback with the request.
 *   router:   headers_received builds the HTTPServerRequest (with
 *             server_connection), asks router.find_handler(request) for the
 *             delegate (routing._unrouted's 404 delegate when it answers
 *             None) and passes every event on to it.
 *
 * What goes away per request is HTTPServer.start_request and the adapter's
 * own Python frames; the request object, the router's find_handler and the
 * callback are the Python ones, looked up as Tornado looks them up.
 */
#include "tc.h"

enum { DISPATCH_CALLBACK = 1, DISPATCH_ROUTER = 2 };

typedef struct {
    PyObject_HEAD
    tc_state *st;            /* the module's state */
    int mode;
    PyObject *target;        /* the callback or the router */
    PyObject *request_class; /* httputil.HTTPServerRequest */
    PyObject *unrouted;      /* routing._unrouted (router mode) */
    PyObject *conn;          /* the request connection */
    PyObject *server_conn;
    PyObject *request;       /* built by headers_received */
    PyObject *chunks;        /* callback mode: the body's pieces, or NULL */
    PyObject *inner;         /* router mode: the delegate chosen */
    PyObject *parse_body;    /* HTTPServerRequest._parse_body as defined, or NULL */
} tc_dispatch;

static inline tc_state *
dispatch_state(tc_dispatch *d)
{
    return d->st;
}

/* A new Dispatch for one request.  config: (mode, target, request_class,
 * unrouted[, original _parse_body]), as HTTPServer._native_dispatch() gave
 * it. */
PyObject *
tc_dispatch_new(tc_state *st, PyObject *config, PyObject *conn, PyObject *server_conn)
{
    tc_dispatch *d;
    long mode;

    if (!PyTuple_CheckExact(config) ||
        (PyTuple_GET_SIZE(config) != 4 && PyTuple_GET_SIZE(config) != 5)) {
        PyErr_SetString(PyExc_TypeError, "dispatch config must be a 4- or 5-tuple");
        return NULL;
    }
    mode = PyLong_AsLong(PyTuple_GET_ITEM(config, 0));
    if (mode == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (mode != DISPATCH_CALLBACK && mode != DISPATCH_ROUTER) {
        PyErr_Format(PyExc_ValueError, "unknown dispatch mode %ld", mode);
        return NULL;
    }
    d = PyObject_GC_New(tc_dispatch, st->DispatchType);
    if (d == NULL) {
        return NULL;
    }
    d->st = st;
    d->mode = (int)mode;
    d->target = Py_NewRef(PyTuple_GET_ITEM(config, 1));
    d->request_class = Py_NewRef(PyTuple_GET_ITEM(config, 2));
    d->unrouted = Py_NewRef(PyTuple_GET_ITEM(config, 3));
    d->conn = Py_NewRef(conn);
    d->server_conn = Py_NewRef(server_conn);
    d->request = NULL;
    d->chunks = NULL;
    d->inner = NULL;
    d->parse_body = PyTuple_GET_SIZE(config) == 5 ? Py_NewRef(PyTuple_GET_ITEM(config, 4)) : NULL;
    PyObject_GC_Track(d);
    return (PyObject *)d;
}

/* The chosen delegate (router mode), as _RoutingDelegate asserts it: a new
 * reference, or NULL with AssertionError. */
static PyObject *
dispatch_inner(tc_dispatch *d)
{
    if (d->inner == NULL) {
        PyErr_SetNone(PyExc_AssertionError);
        return NULL;
    }
    return Py_NewRef(d->inner);
}

/* Calls method name of the chosen delegate with arg (NULL: no argument). */
static PyObject *
dispatch_forward(tc_dispatch *d, PyObject *name, PyObject *arg)
{
    PyObject *inner = dispatch_inner(d), *r;
    if (inner == NULL) {
        return NULL;
    }
    r = arg != NULL ? PyObject_CallMethodOneArg(inner, name, arg)
                    : PyObject_CallMethodNoArgs(inner, name);
    Py_DECREF(inner);
    return r;
}

/* cls(**kwargs) (the values in args, the names in kwnames).  For a class of
 * metaclass type that keeps object.__new__ and has a Python __init__, it is
 * what type.__call__ does -- object.__new__(cls), then __init__(obj, ...),
 * which must return None -- without packing the arguments into a tuple and
 * a dict for the __init__ slot and unpacking them again. */
static PyObject *
dispatch_construct(tc_state *st, PyObject *cls, PyObject *const *args, PyObject *kwnames)
{
    PyTypeObject *tp = (PyTypeObject *)cls;
    Py_ssize_t n = PyTuple_GET_SIZE(kwnames), i;
    PyObject *init, *obj, *r, *call[8];

    if (!Py_IS_TYPE(cls, &PyType_Type) || tp->tp_new != PyBaseObject_Type.tp_new ||
        n + 1 > (Py_ssize_t)(sizeof call / sizeof call[0])) {
        return PyObject_Vectorcall(cls, args, 0, kwnames);
    }
    /* Found as the __init__ slot finds it (then called with the object
     * first, as the slot calls a plain function). */
    init = _PyType_Lookup(tp, st->str___init__);
    if (init == NULL || !PyFunction_Check(init)) {
        return PyObject_Vectorcall(cls, args, 0, kwnames);
    }
    Py_INCREF(init);
    obj = tp->tp_new(tp, st->empty_tuple, NULL);
    if (obj == NULL) {
        Py_DECREF(init);
        return NULL;
    }
    call[0] = obj;
    for (i = 0; i < n; i++) {
        call[i + 1] = args[i];
    }
    r = PyObject_Vectorcall(init, call, 1, kwnames);
    Py_DECREF(init);
    if (r == NULL) {
        Py_DECREF(obj);
        return NULL;
    }
    if (r != Py_None) {
        PyErr_Format(PyExc_TypeError, "__init__() should return None, not '%.200s'",
                     Py_TYPE(r)->tp_name);
        Py_DECREF(r);
        Py_DECREF(obj);
        return NULL;
    }
    Py_DECREF(r);
    return obj;
}

/* The request's HTTPServerRequest, made as _CallableAdapter (callback
 * mode) or HTTPServer.start_request's router path makes it: built in C
 * (request.c) while the class and its __init__ are the originals, else
 * the class called with the same keywords. */
static PyObject *
dispatch_request(tc_state *st, tc_dispatch *d, PyObject *start_line, PyObject *headers)
{
    PyObject *call[4];
    int router = d->mode == DISPATCH_ROUTER;

    if (tc_request_applies(st, d->request_class, start_line, headers)) {
        return tc_request_new(st, d->request_class, d->conn,
                              router ? d->server_conn : Py_None, start_line, headers);
    }
    call[0] = d->conn;
    call[1] = router ? d->server_conn : start_line;
    call[2] = router ? start_line : headers;
    call[3] = headers;
    return dispatch_construct(st, d->request_class, call,
                              router ? st->kw_request_router : st->kw_request_callback);
}

static PyObject *
dispatch_headers_received(tc_dispatch *d, PyObject *const *args, Py_ssize_t nargs)
{
    tc_state *st = dispatch_state(d);
    PyObject *call[2], *request, *found, *r;
    int plain;

    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "headers_received(start_line, headers)");
        return NULL;
    }
    request = dispatch_request(st, d, args[0], args[1]);
    if (request == NULL) {
        return NULL;
    }
    Py_XSETREF(d->request, request);
    if (d->mode == DISPATCH_CALLBACK) {
        Py_RETURN_NONE;
    }
    if (tc_web_applies(st, d->target)) {
        found = tc_web_find_handler(st, d->target, request);
    }
    else {
        found = PyObject_CallMethodOneArg(d->target, st->str_find_handler, request);
    }
    if (found == NULL) {
        return NULL;
    }
    if (found == Py_None) {
        Py_DECREF(found);
        call[0] = d->conn;
        call[1] = args[0];
        found = PyObject_Vectorcall(d->unrouted, call, 2, NULL);
        if (found == NULL) {
            return NULL;
        }
    }
    Py_XSETREF(d->inner, Py_NewRef(found));
    plain = tc_web_plain(st, found, TC_WEB_HEADERS_RECEIVED);
    if (plain != 0) {
        /* _HandlerDelegate.headers_received: nothing to do for a handler
         * that does not stream the body. */
        Py_DECREF(found);
        return plain < 0 ? NULL : Py_NewRef(Py_None);
    }
    r = PyObject_CallMethodObjArgs(found, st->str_headers_received, args[0], args[1], NULL);
    Py_DECREF(found);
    return r;
}

static PyObject *
dispatch_data_received(tc_dispatch *d, PyObject *chunk)
{
    tc_state *st = dispatch_state(d);
    if (d->mode == DISPATCH_ROUTER) {
        int plain = d->inner != NULL ? tc_web_plain(st, d->inner, TC_WEB_DATA_RECEIVED) : 0;
        if (plain != 0) {
            return plain < 0 ? NULL : tc_web_collect(st, d->inner, chunk);
        }
        return dispatch_forward(d, st->str_data_received, chunk);
    }
    if (d->chunks == NULL && (d->chunks = PyList_New(0)) == NULL) {
        return NULL;
    }
    if (PyList_Append(d->chunks, chunk) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

/* b"".join(chunks) (chunks may be NULL: no body). */
PyObject *
tc_bytes_join(PyObject *chunks)
{
    PyObject *empty = PyBytes_FromStringAndSize(NULL, 0), *out;
    if (empty == NULL || chunks == NULL) {
        return empty;
    }
    if (PyList_CheckExact(chunks) && PyList_GET_SIZE(chunks) <= 1) {
        /* What join gives for no chunk or a single bytes chunk. */
        PyObject *only = PyList_GET_SIZE(chunks) ? PyList_GET_ITEM(chunks, 0) : empty;
        if (PyBytes_CheckExact(only)) {
            out = Py_NewRef(only);
            Py_DECREF(empty);
            return out;
        }
    }
    out = PyObject_CallMethod(empty, "join", "O", chunks);
    Py_DECREF(empty);
    return out;
}

static PyObject *
dispatch_finish(tc_dispatch *d, PyObject *Py_UNUSED(ignored))
{
    tc_state *st = dispatch_state(d);
    PyObject *request, *body, *r;
    int noop;

    if (d->mode == DISPATCH_ROUTER) {
        int plain = d->inner != NULL ? tc_web_plain(st, d->inner, TC_WEB_FINISH) : 0;
        if (plain != 0) {
            return plain < 0 ? NULL : tc_web_finish(st, d->inner);
        }
        return dispatch_forward(d, st->str_finish, NULL);
    }
    if (d->request == NULL) {
        PyErr_SetString(PyExc_AssertionError, "finish() before headers_received()");
        return NULL;
    }
    body = tc_bytes_join(d->chunks);
    if (body == NULL) {
        return NULL;
    }
    request = Py_NewRef(d->request);
    if (PyObject_SetAttr(request, st->str_body, body) < 0) {
        goto fail;
    }
    noop = tc_request_parse_is_noop(st, request, d->parse_body);
    if (noop < 0) {
        goto fail;
    }
    if (!noop) {
        r = PyObject_CallMethodNoArgs(request, st->str__parse_body);
        if (r == NULL) {
            goto fail;
        }
        Py_DECREF(r);
    }
    r = PyObject_CallOneArg(d->target, request);
    if (r == NULL) {
        goto fail;
    }
    Py_DECREF(r);
    Py_DECREF(body);
    Py_DECREF(request);
    Py_RETURN_NONE;
fail:
    Py_DECREF(body);
    Py_DECREF(request);
    return NULL;
}

static PyObject *
dispatch_on_connection_close(tc_dispatch *d, PyObject *Py_UNUSED(ignored))
{
    tc_state *st = dispatch_state(d);
    if (d->mode == DISPATCH_ROUTER) {
        /* As _RoutingDelegate: nothing to tell when no delegate was chosen
         * (the request was refused before routing, e.g. a bad Host). */
        if (d->inner == NULL) {
            Py_RETURN_NONE;
        }
        return dispatch_forward(d, st->str_on_connection_close, NULL);
    }
    /* The request will never complete: let the buffered body go. */
    Py_CLEAR(d->chunks);
    Py_RETURN_NONE;
}

/* For http1.c: the delegate's methods called directly when it is a
 * Dispatch (they cannot be replaced: the type is immutable), else by name.
 * New references, NULL with an exception. */
PyObject *
tc_dispatch_headers_received(tc_state *st, PyObject *delegate, PyObject *start_line,
                             PyObject *headers)
{
    if (Py_TYPE(delegate) == st->DispatchType) {
        PyObject *args[2] = {start_line, headers};
        return dispatch_headers_received((tc_dispatch *)delegate, args, 2);
    }
    return PyObject_CallMethodObjArgs(delegate, st->str_headers_received, start_line,
                                      headers, NULL);
}

PyObject *
tc_dispatch_data_received(tc_state *st, PyObject *delegate, PyObject *chunk)
{
    if (Py_TYPE(delegate) == st->DispatchType) {
        return dispatch_data_received((tc_dispatch *)delegate, chunk);
    }
    return PyObject_CallMethodOneArg(delegate, st->str_data_received, chunk);
}

PyObject *
tc_dispatch_finish(tc_state *st, PyObject *delegate)
{
    if (Py_TYPE(delegate) == st->DispatchType) {
        return dispatch_finish((tc_dispatch *)delegate, NULL);
    }
    return PyObject_CallMethodNoArgs(delegate, st->str_finish);
}

/* 1 when delegate is a Dispatch that only collects the request body and
 * hands it over whole at the end: callback mode, or a router's delegate
 * whose ``_whole_body`` is true (web._HandlerDelegate of a handler that
 * does not stream the body).  Such a delegate may be given the body in one
 * data_received call.  0 otherwise (errors are cleared: 0). */
int
tc_dispatch_whole_body(tc_state *st, PyObject *delegate)
{
    tc_dispatch *d;
    PyObject *flag;
    int rc;

    if (delegate == NULL || Py_TYPE(delegate) != st->DispatchType) {
        return 0;
    }
    d = (tc_dispatch *)delegate;
    if (d->mode == DISPATCH_CALLBACK) {
        return 1;
    }
    if (d->inner == NULL) {
        return 0;
    }
    rc = tc_web_plain(st, d->inner, TC_WEB_WHOLE_BODY);
    if (rc != 0) {
        if (rc < 0) {
            PyErr_Clear();
            return 0;
        }
        return 1;
    }
    if (tc_lookup_attr(d->inner, st->str__whole_body, &flag) <= 0) {
        PyErr_Clear();
        return 0;
    }
    rc = PyObject_IsTrue(flag);
    Py_DECREF(flag);
    if (rc < 0) {
        PyErr_Clear();
        return 0;
    }
    return rc;
}

static PyObject *
dispatch_get_request(tc_dispatch *d, void *Py_UNUSED(closure))
{
    return Py_NewRef(d->request != NULL ? d->request : Py_None);
}

static PyObject *
dispatch_get_delegate(tc_dispatch *d, void *Py_UNUSED(closure))
{
    return Py_NewRef(d->inner != NULL ? d->inner : Py_None);
}

static int
dispatch_traverse(tc_dispatch *d, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(d));
    Py_VISIT(d->target);
    Py_VISIT(d->request_class);
    Py_VISIT(d->unrouted);
    Py_VISIT(d->conn);
    Py_VISIT(d->server_conn);
    Py_VISIT(d->request);
    Py_VISIT(d->chunks);
    Py_VISIT(d->inner);
    Py_VISIT(d->parse_body);
    return 0;
}

static int
dispatch_clear(tc_dispatch *d)
{
    Py_CLEAR(d->target);
    Py_CLEAR(d->request_class);
    Py_CLEAR(d->unrouted);
    Py_CLEAR(d->conn);
    Py_CLEAR(d->server_conn);
    Py_CLEAR(d->request);
    Py_CLEAR(d->chunks);
    Py_CLEAR(d->inner);
    Py_CLEAR(d->parse_body);
    return 0;
}

static void
dispatch_dealloc(tc_dispatch *d)
{
    PyTypeObject *tp = Py_TYPE(d);
    PyObject_GC_UnTrack(d);
    dispatch_clear(d);
    tp->tp_free((PyObject *)d);
    Py_DECREF(tp);
}

static PyMethodDef dispatch_methods[] = {
    {"headers_received", (PyCFunction)(void (*)(void))dispatch_headers_received,
     METH_FASTCALL, PyDoc_STR("headers_received(start_line, headers)")},
    {"data_received", (PyCFunction)dispatch_data_received, METH_O,
     PyDoc_STR("data_received(chunk)")},
    {"finish", (PyCFunction)dispatch_finish, METH_NOARGS, PyDoc_STR("finish()")},
    {"on_connection_close", (PyCFunction)dispatch_on_connection_close, METH_NOARGS,
     PyDoc_STR("on_connection_close()")},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef dispatch_getset[] = {
    {"request", (getter)dispatch_get_request, NULL,
     PyDoc_STR("The HTTPServerRequest, once the headers are in."), NULL},
    {"delegate", (getter)dispatch_get_delegate, NULL,
     PyDoc_STR("The delegate the router chose (router mode), or None."), NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyType_Slot dispatch_slots[] = {
    {Py_tp_doc, (void *)PyDoc_STR(
        "The HTTPMessageDelegate a native HTTP/1 server connection makes per request\n"
        "for a plain request callback or a router (see HTTPServer._native_dispatch).")},
    {Py_tp_traverse, dispatch_traverse},
    {Py_tp_clear, dispatch_clear},
    {Py_tp_dealloc, dispatch_dealloc},
    {Py_tp_methods, dispatch_methods},
    {Py_tp_getset, dispatch_getset},
    {0, NULL},
};

static PyType_Spec dispatch_spec = {
    .name = "tornado_c._core.Dispatch",
    .basicsize = sizeof(tc_dispatch),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_IMMUTABLETYPE |
             Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .slots = dispatch_slots,
};

/* A tuple of n interned strings (vectorcall keyword names). */
static PyObject *
interned_tuple(Py_ssize_t n, const char *a, const char *b, const char *c, const char *d)
{
    const char *names[4] = {a, b, c, d};
    PyObject *t = PyTuple_New(n);
    Py_ssize_t i;
    if (t == NULL) {
        return NULL;
    }
    for (i = 0; i < n; i++) {
        PyObject *s = PyUnicode_InternFromString(names[i]);
        if (s == NULL) {
            Py_DECREF(t);
            return NULL;
        }
        PyTuple_SET_ITEM(t, i, s);
    }
    return t;
}

int
tc_dispatch_type_init(PyObject *module, tc_state *st)
{
    st->DispatchType = (PyTypeObject *)PyType_FromModuleAndSpec(module, &dispatch_spec, NULL);
    if (st->DispatchType == NULL) {
        return -1;
    }
    if (PyModule_AddObjectRef(module, "Dispatch", (PyObject *)st->DispatchType) < 0) {
        return -1;
    }
#define INTERN(field, text)                                       \
    if ((st->field = PyUnicode_InternFromString(text)) == NULL) { \
        return -1;                                                \
    }
    INTERN(str_find_handler, "find_handler");
    INTERN(str_body, "body");
    INTERN(str__parse_body, "_parse_body");
    INTERN(str_on_connection_close, "on_connection_close");
    INTERN(str__whole_body, "_whole_body");
    INTERN(str_headers, "headers");
    INTERN(str_Content_Type, "Content-Type");
    INTERN(str___init__, "__init__");
#undef INTERN
    st->kw_request_callback = interned_tuple(3, "connection", "start_line", "headers", NULL);
    if (st->kw_request_callback == NULL) {
        return -1;
    }
    st->kw_request_router =
        interned_tuple(4, "connection", "server_connection", "start_line", "headers");
    return st->kw_request_router == NULL ? -1 : 0;
}
