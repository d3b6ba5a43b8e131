/*
 * handler.c — an Application's side of a request in C.
 *
 * For an Application served by the native HTTP/1 server (dispatch.c,
 * router mode) the Python that runs around each request's handler is
 *
 *   Application.find_handler(request)       the rule walk (_route, already
 *                                           C) and, when nothing matches,
 *                                           default_handler_class or a 404
 *                                           ErrorHandler;
 *   Application.get_handler_delegate(...)   which makes a _HandlerDelegate;
 *   _HandlerDelegate.headers_received, data_received, finish (which joins
 *   the body) and execute (which makes the handler, the output transforms,
 *   and runs handler._execute as a Task whose first step runs at once).
 *
 * While those functions are the ones web.py defines -- compared with the
 * functions web_setup() registered, per request and at the point of use,
 * so that an override in a subclass or a patch made at any time is called
 * instead -- these helpers do what they do, with the same objects, in the
 * same order, reading and writing the same attributes.  The handler class,
 * its __init__, _execute and everything after are Python, as before; so
 * is every case the helpers do not cover (a handler that streams the
 * request body, debug mode's cache resets).
 *
 * Names the Python functions look up in web's globals at call time
 * (ErrorHandler, _ROUTE_ENV, asyncio, _raise_if_failed, _start_execute,
 * _get_running_loop)
 * are looked up there per request too.
 */
#include "tc.h"

/* web_setup()'s tuple. */
enum {
    WE_APPLICATION,          /* web.Application */
    WE_FIND_HANDLER,         /* Application.find_handler */
    WE_GET_HANDLER_DELEGATE, /* Application.get_handler_delegate */
    WE_HD,                   /* web._HandlerDelegate */
    WE_HD_INIT,              /* its __init__ */
    WE_HD_HEADERS_RECEIVED,
    WE_HD_DATA_RECEIVED,
    WE_HD_FINISH,
    WE_HD_EXECUTE,
    WE_HD_WHOLE_BODY,        /* the _whole_body property */
    WE_REQUEST_HANDLER,      /* web.RequestHandler */
    WE_SIZE
};

/* Names (attributes, globals, settings keys). */
enum {
    WB_request, WB_connection, WB_application, WB_handler_class,
    WB_stream_request_body, WB_handler_kwargs, WB_path_kwargs, WB_path_args, WB_chunks,
    /* not _HandlerDelegate.__init__'s */
    WB_handler, WB_default_router, WB_settings, WB_get, WB_compiled_template_cache,
    WB_static_hash_cache, WB_default_handler_class, WB_default_handler_args,
    WB_status_code, WB_transforms, WB__execute, WB__eager_task, WB__stream_request_body,
    WB_ErrorHandler, WB__ROUTE_ENV, WB_asyncio, WB_Task, WB__raise_if_failed,
    WB__start_execute, WB__get_running_loop, WB_execute, WB_append,
    WB_COUNT
};

static const char *const wb_texts[WB_COUNT] = {
    "request", "connection", "application", "handler_class",
    "stream_request_body", "handler_kwargs", "path_kwargs", "path_args", "chunks",
    "handler", "default_router", "settings", "get", "compiled_template_cache",
    "static_hash_cache", "default_handler_class", "default_handler_args",
    "status_code", "transforms", "_execute", "_eager_task", "_stream_request_body",
    "ErrorHandler", "_ROUTE_ENV", "asyncio", "Task", "_raise_if_failed",
    "_start_execute", "_get_running_loop", "execute", "append",
};

_Static_assert(WB_COUNT == TC_WB_NAMES, "TC_WB_NAMES in tc.h must match");

#define WB(st, i) ((st)->wb_names[i])
#define WE(st, i) (PyTuple_GET_ITEM((st)->web_env, (i)))

/* For tests that check the paths are taken (_web_counts()). */
static Py_ssize_t wb_delegates = 0, wb_executes = 0;

/* A borrowed reference to web's global name, or NULL with NameError. */
static PyObject *
wb_global(tc_state *st, int which)
{
    PyObject *v = PyDict_GetItemWithError(st->web_globals, WB(st, which));
    if (v == NULL && !PyErr_Occurred()) {
        PyErr_Format(PyExc_NameError, "name '%U' is not defined", WB(st, which));
    }
    return v;
}

/* 1 when tp resolves name to the function web_setup() gave as env[which]. */
static inline int
wb_original(tc_state *st, PyTypeObject *tp, PyObject *name, int which)
{
    return _PyType_Lookup(tp, name) == WE(st, which);
}

/* x if it is true, else a new empty dict (list): Python's ``x or {}``.
 * x may be NULL (the argument was not given: None). */
static PyObject *
wb_or_new(PyObject *x, int list)
{
    int truth = x == NULL ? 0 : PyObject_IsTrue(x);
    if (truth < 0) {
        return NULL;
    }
    if (truth) {
        return Py_NewRef(x);
    }
    return list ? PyList_New(0) : PyDict_New();
}

/* ------------------------------------------------ get_handler_delegate */

PyObject *
tc_web_make_delegate(tc_state *st, PyObject *app, PyObject *request, PyObject *cls,
                     PyObject *target_kwargs, PyObject *path_args, PyObject *path_kwargs)
{
    PyTypeObject *hd;
    PyObject *obj, *v[WB_chunks + 1] = {NULL};
    int i;

    if (st->web_env == NULL ||
        !wb_original(st, Py_TYPE(app), st->str_get_handler_delegate, WE_GET_HANDLER_DELEGATE)) {
        return NULL;
    }
    hd = (PyTypeObject *)WE(st, WE_HD);
    if (!Py_IS_TYPE((PyObject *)hd, &PyType_Type) || hd->tp_new != PyBaseObject_Type.tp_new ||
        !wb_original(st, hd, st->str___init__, WE_HD_INIT) || !PyType_Check(cls) ||
        !PyType_IsSubtype((PyTypeObject *)cls, (PyTypeObject *)WE(st, WE_REQUEST_HANDLER))) {
        return NULL;
    }
    obj = hd->tp_new(hd, st->empty_tuple, NULL);
    if (obj == NULL) {
        return NULL;
    }
    /* The values, worked out in __init__'s order, then assigned in it. */
    v[WB_request] = Py_NewRef(request);
    v[WB_connection] = PyObject_GetAttr(request, WB(st, WB_connection));
    if (v[WB_connection] == NULL) {
        goto error;
    }
    v[WB_application] = Py_NewRef(app);
    v[WB_handler_class] = Py_NewRef(cls);
    v[WB_stream_request_body] = PyObject_GetAttr(cls, WB(st, WB__stream_request_body));
    if (v[WB_stream_request_body] == NULL ||
        (v[WB_handler_kwargs] = wb_or_new(target_kwargs, 0)) == NULL ||
        (v[WB_path_kwargs] = wb_or_new(path_kwargs, 0)) == NULL ||
        (v[WB_path_args] = wb_or_new(path_args, 1)) == NULL ||
        (v[WB_chunks] = PyList_New(0)) == NULL) {
        goto error;
    }
    for (i = 0; i <= WB_chunks; i++) {
        if (PyObject_SetAttr(obj, WB(st, i), v[i]) < 0) {
            goto error;
        }
    }
    for (i = 0; i <= WB_chunks; i++) {
        Py_DECREF(v[i]);
    }
    wb_delegates++;
    return obj;
error:
    for (i = 0; i <= WB_chunks; i++) {
        Py_XDECREF(v[i]);
    }
    Py_DECREF(obj);
    return NULL;
}

/* app.get_handler_delegate(request, cls, target_kwargs), made here when
 * that is the original. */
static PyObject *
wb_delegate(tc_state *st, PyObject *app, PyObject *request, PyObject *cls,
            PyObject *target_kwargs)
{
    PyObject *made = tc_web_make_delegate(st, app, request, cls, target_kwargs, NULL, NULL);
    PyObject *call[4] = {app, request, cls, target_kwargs};

    if (made != NULL || PyErr_Occurred()) {
        return made;
    }
    return PyObject_VectorcallMethod(st->str_get_handler_delegate, call,
                                     4 | PY_VECTORCALL_ARGUMENTS_OFFSET, NULL);
}

/* -------------------------------------------------------- find_handler */

int
tc_web_applies(tc_state *st, PyObject *target)
{
    return st->web_env != NULL &&
           PyType_IsSubtype(Py_TYPE(target), (PyTypeObject *)WE(st, WE_APPLICATION)) &&
           wb_original(st, Py_TYPE(target), st->str_find_handler, WE_FIND_HANDLER);
}

/* settings.get(key, default) for any mapping; default NULL: None. */
static PyObject *
wb_setting(tc_state *st, PyObject *settings, int key, PyObject *dflt)
{
    PyObject *call[3] = {settings, WB(st, key), dflt};
    if (PyDict_CheckExact(settings)) {
        PyObject *v = PyDict_GetItemWithError(settings, WB(st, key));
        if (v != NULL) {
            return Py_NewRef(v);
        }
        if (PyErr_Occurred()) {
            return NULL;
        }
        return Py_NewRef(dflt != NULL ? dflt : Py_None);
    }
    return PyObject_VectorcallMethod(WB(st, WB_get), call,
                                     (dflt != NULL ? 3 : 2) | PY_VECTORCALL_ARGUMENTS_OFFSET,
                                     NULL);
}

PyObject *
tc_web_find_handler(tc_state *st, PyObject *app, PyObject *request)
{
    PyObject *router, *env, *found, *settings, *fallback, *kwargs;
    int truth;

    router = PyObject_GetAttr(app, WB(st, WB_default_router));
    if (router == NULL) {
        return NULL;
    }
    env = wb_global(st, WB__ROUTE_ENV);
    found = env != NULL ? tc_route_walk(st, router, request, env) : NULL;
    if (found == Py_NotImplemented) {
        Py_DECREF(found);
        found = PyObject_CallMethodOneArg(router, st->str_find_handler, request);
    }
    Py_DECREF(router);
    if (found != Py_None) {
        return found; /* the delegate, or NULL */
    }
    Py_DECREF(found);
    settings = PyObject_GetAttr(app, WB(st, WB_settings));
    if (settings == NULL) {
        return NULL;
    }
    fallback = wb_setting(st, settings, WB_default_handler_class, NULL);
    truth = fallback != NULL ? PyObject_IsTrue(fallback) : -1;
    if (truth < 0) {
        found = NULL;
    }
    else if (!truth) {
        PyObject *cls = wb_global(st, WB_ErrorHandler), *code = PyLong_FromLong(404);
        kwargs = cls != NULL && code != NULL ? PyDict_New() : NULL;
        if (kwargs != NULL && PyDict_SetItem(kwargs, WB(st, WB_status_code), code) < 0) {
            Py_CLEAR(kwargs);
        }
        found = kwargs != NULL ? wb_delegate(st, app, request, cls, kwargs) : NULL;
        Py_XDECREF(kwargs);
        Py_XDECREF(code);
    }
    else {
        PyObject *empty = PyDict_New();
        kwargs = empty != NULL ? wb_setting(st, settings, WB_default_handler_args, empty) : NULL;
        found = kwargs != NULL ? wb_delegate(st, app, request, fallback, kwargs) : NULL;
        Py_XDECREF(kwargs);
        Py_XDECREF(empty);
    }
    Py_XDECREF(fallback);
    Py_DECREF(settings);
    return found;
}

/* ---------------------------------------------------- _HandlerDelegate */

static const int wb_event_env[] = {
    [TC_WEB_HEADERS_RECEIVED] = WE_HD_HEADERS_RECEIVED,
    [TC_WEB_DATA_RECEIVED] = WE_HD_DATA_RECEIVED,
    [TC_WEB_FINISH] = WE_HD_FINISH,
    [TC_WEB_WHOLE_BODY] = WE_HD_WHOLE_BODY,
};

int
tc_web_plain(tc_state *st, PyObject *delegate, int event)
{
    PyObject *names[] = {
        [TC_WEB_HEADERS_RECEIVED] = st->str_headers_received,
        [TC_WEB_DATA_RECEIVED] = st->str_data_received,
        [TC_WEB_FINISH] = st->str_finish,
        [TC_WEB_WHOLE_BODY] = st->str__whole_body,
    };
    PyObject *flag;
    int truth;

    if (st->web_env == NULL || (PyObject *)Py_TYPE(delegate) != WE(st, WE_HD) ||
        !wb_original(st, Py_TYPE(delegate), names[event], wb_event_env[event])) {
        return 0;
    }
    flag = PyObject_GetAttr(delegate, WB(st, WB_stream_request_body));
    if (flag == NULL) {
        return -1;
    }
    truth = PyObject_IsTrue(flag);
    Py_DECREF(flag);
    return truth < 0 ? -1 : !truth;
}

PyObject *
tc_web_collect(tc_state *st, PyObject *delegate, PyObject *chunk)
{
    PyObject *chunks = PyObject_GetAttr(delegate, WB(st, WB_chunks)), *r;
    if (chunks == NULL) {
        return NULL;
    }
    if (PyList_CheckExact(chunks)) {
        r = PyList_Append(chunks, chunk) < 0 ? NULL : Py_NewRef(Py_None);
    }
    else {
        r = PyObject_CallMethodOneArg(chunks, WB(st, WB_append), chunk);
    }
    Py_DECREF(chunks);
    if (r == NULL) {
        return NULL;
    }
    Py_DECREF(r);
    Py_RETURN_NONE;
}

/* 1 when a debug setting asks execute() to reset a cache first: settings
 * that are not a dict, or compiled_template_cache / static_hash_cache
 * false.  -1 on error. */
static int
wb_resets_caches(tc_state *st, PyObject *settings)
{
    int keys[2] = {WB_compiled_template_cache, WB_static_hash_cache}, i;
    if (!PyDict_CheckExact(settings)) {
        return 1;
    }
    for (i = 0; i < 2; i++) {
        PyObject *v = PyDict_GetItemWithError(settings, WB(st, keys[i]));
        int truth;
        if (v == NULL) {
            if (PyErr_Occurred()) {
                return -1;
            }
            continue;
        }
        truth = PyObject_IsTrue(v);
        if (truth <= 0) {
            return truth < 0 ? -1 : 1;
        }
    }
    return 0;
}

/* [make(request) for make in makers] if makers else [] */
static PyObject *
wb_transforms(PyObject *makers, PyObject *request)
{
    PyObject *out, *it, *make;
    int truth = PyObject_IsTrue(makers);

    if (truth <= 0) {
        return truth < 0 ? NULL : PyList_New(0);
    }
    out = PyList_New(0);
    it = out != NULL ? PyObject_GetIter(makers) : NULL;
    if (it == NULL) {
        Py_XDECREF(out);
        return NULL;
    }
    while ((make = PyIter_Next(it)) != NULL) {
        PyObject *t = PyObject_CallOneArg(make, request);
        Py_DECREF(make);
        if (t == NULL || PyList_Append(out, t) < 0) {
            Py_XDECREF(t);
            Py_DECREF(it);
            Py_DECREF(out);
            return NULL;
        }
        Py_DECREF(t);
    }
    Py_DECREF(it);
    if (PyErr_Occurred()) {
        Py_DECREF(out);
        return NULL;
    }
    return out;
}

/* handler._execute(transforms, *path_args, **path_kwargs) */
static PyObject *
wb_call_execute(tc_state *st, PyObject *handler, PyObject *transforms, PyObject *path_args,
                PyObject *path_kwargs)
{
    PyObject *meth, *args, *r;
    Py_ssize_t n, i;
    int kw;

    if (PyList_CheckExact(path_args) && PyList_GET_SIZE(path_args) == 0 &&
        PyDict_CheckExact(path_kwargs) && PyDict_GET_SIZE(path_kwargs) == 0) {
        PyObject *call[2] = {handler, transforms};
        return PyObject_VectorcallMethod(WB(st, WB__execute), call,
                                         2 | PY_VECTORCALL_ARGUMENTS_OFFSET, NULL);
    }
    meth = PyObject_GetAttr(handler, WB(st, WB__execute));
    if (meth == NULL) {
        return NULL;
    }
    {
        PyObject *seq = PySequence_Tuple(path_args);
        args = NULL;
        if (seq != NULL) {
            n = PyTuple_GET_SIZE(seq);
            args = PyTuple_New(n + 1);
            if (args != NULL) {
                PyTuple_SET_ITEM(args, 0, Py_NewRef(transforms));
                for (i = 0; i < n; i++) {
                    PyTuple_SET_ITEM(args, i + 1, Py_NewRef(PyTuple_GET_ITEM(seq, i)));
                }
            }
            Py_DECREF(seq);
        }
    }
    kw = PyObject_IsTrue(path_kwargs);
    if (args == NULL || kw < 0) {
        Py_XDECREF(args);
        Py_DECREF(meth);
        return NULL;
    }
    if (kw && !PyDict_Check(path_kwargs)) {
        /* ** on a mapping that is not a dict: as the call would do it. */
        PyObject *d = PyDict_New();
        if (d == NULL || PyDict_Merge(d, path_kwargs, 1) < 0) {
            Py_XDECREF(d);
            Py_DECREF(args);
            Py_DECREF(meth);
            return NULL;
        }
        r = PyObject_Call(meth, args, d);
        Py_DECREF(d);
    }
    else {
        r = PyObject_Call(meth, args, kw ? path_kwargs : NULL);
    }
    Py_DECREF(args);
    Py_DECREF(meth);
    return r;
}

/* Runs the awaitable handler._execute returned as execute() does: a
 * coroutine on a loop with _eager_task becomes a Task whose first step
 * runs now; anything else goes to web._start_execute. */
static int
wb_start(tc_state *st, PyObject *work)
{
    PyObject *r = NULL;

    if (PyCoro_CheckExact(work)) {
        PyObject *get_loop = wb_global(st, WB__get_running_loop), *eager = NULL;
        PyObject *loop = get_loop != NULL ? PyObject_CallNoArgs(get_loop) : NULL;
        if (loop == NULL) {
            return -1;
        }
        if (_PyObject_LookupAttr(loop, WB(st, WB__eager_task), &eager) < 0) {
            Py_DECREF(loop);
            return -1;
        }
        Py_DECREF(loop);
        if (eager != NULL) {
            PyObject *mod = wb_global(st, WB_asyncio);
            PyObject *task = mod != NULL ? PyObject_GetAttr(mod, WB(st, WB_Task)) : NULL;
            PyObject *on_failure = task != NULL ? wb_global(st, WB__raise_if_failed) : NULL;
            if (on_failure != NULL) {
                PyObject *call[3] = {task, work, on_failure};
                r = PyObject_Vectorcall(eager, call, 3, NULL);
            }
            Py_XDECREF(task);
            Py_DECREF(eager);
            Py_XDECREF(r);
            return r == NULL ? -1 : 0;
        }
    }
    {
        PyObject *fn = wb_global(st, WB__start_execute);
        r = fn != NULL ? PyObject_CallOneArg(fn, work) : NULL;
    }
    Py_XDECREF(r);
    return r == NULL ? -1 : 0;
}

/* _HandlerDelegate.execute() for a delegate whose handler does not stream
 * the body (the caller checked). */
static PyObject *
wb_execute(tc_state *st, PyObject *delegate)
{
    PyObject *app = NULL, *settings = NULL, *cls = NULL, *request = NULL, *kwargs = NULL;
    PyObject *handler = NULL, *makers = NULL, *transforms = NULL, *path_args = NULL;
    PyObject *path_kwargs = NULL, *work = NULL, *result = NULL;
    int resets;

    app = PyObject_GetAttr(delegate, WB(st, WB_application));
    settings = app != NULL ? PyObject_GetAttr(app, WB(st, WB_settings)) : NULL;
    if (settings == NULL) {
        goto done;
    }
    resets = wb_resets_caches(st, settings);
    if (resets < 0) {
        goto done;
    }
    cls = PyObject_GetAttr(delegate, WB(st, WB_handler_class));
    if (cls == NULL) {
        goto done;
    }
    if (resets) {
        result = PyObject_CallMethodNoArgs(delegate, WB(st, WB_execute));
        goto done;
    }
    request = PyObject_GetAttr(delegate, WB(st, WB_request));
    kwargs = request != NULL ? PyObject_GetAttr(delegate, WB(st, WB_handler_kwargs)) : NULL;
    if (kwargs == NULL) {
        goto done;
    }
    /* self.handler_class(self.application, self.request, **self.handler_kwargs) */
    if (PyDict_CheckExact(kwargs) && PyDict_GET_SIZE(kwargs) == 0) {
        PyObject *call[2] = {app, request};
        handler = PyObject_Vectorcall(cls, call, 2, NULL);
    }
    else {
        PyObject *args = PyTuple_Pack(2, app, request);
        handler = args != NULL ? PyObject_Call(cls, args, kwargs) : NULL;
        Py_XDECREF(args);
    }
    if (handler == NULL || PyObject_SetAttr(delegate, WB(st, WB_handler), handler) < 0) {
        goto done;
    }
    makers = PyObject_GetAttr(app, WB(st, WB_transforms));
    transforms = makers != NULL ? wb_transforms(makers, request) : NULL;
    path_args = transforms != NULL ? PyObject_GetAttr(delegate, WB(st, WB_path_args)) : NULL;
    path_kwargs = path_args != NULL ? PyObject_GetAttr(delegate, WB(st, WB_path_kwargs)) : NULL;
    work = path_kwargs != NULL
               ? wb_call_execute(st, handler, transforms, path_args, path_kwargs)
               : NULL;
    if (work == NULL || wb_start(st, work) < 0) {
        goto done;
    }
    wb_executes++;
    result = Py_NewRef(Py_None);
done:
    Py_XDECREF(app);
    Py_XDECREF(settings);
    Py_XDECREF(cls);
    Py_XDECREF(request);
    Py_XDECREF(kwargs);
    Py_XDECREF(handler);
    Py_XDECREF(makers);
    Py_XDECREF(transforms);
    Py_XDECREF(path_args);
    Py_XDECREF(path_kwargs);
    Py_XDECREF(work);
    return result;
}

PyObject *
tc_web_finish(tc_state *st, PyObject *delegate)
{
    PyObject *request, *chunks, *body, *r;

    /* self.request.body = b"".join(self.chunks) */
    request = PyObject_GetAttr(delegate, WB(st, WB_request));
    chunks = request != NULL ? PyObject_GetAttr(delegate, WB(st, WB_chunks)) : NULL;
    body = chunks != NULL ? tc_bytes_join(chunks) : NULL;
    if (body == NULL || PyObject_SetAttr(request, st->str_body, body) < 0) {
        Py_XDECREF(request);
        Py_XDECREF(chunks);
        Py_XDECREF(body);
        return NULL;
    }
    Py_DECREF(request);
    Py_DECREF(chunks);
    Py_DECREF(body);
    /* self.execute() */
    if (wb_original(st, Py_TYPE(delegate), WB(st, WB_execute), WE_HD_EXECUTE)) {
        r = wb_execute(st, delegate);
    }
    else {
        r = PyObject_CallMethodNoArgs(delegate, WB(st, WB_execute));
    }
    if (r == NULL) {
        return NULL;
    }
    Py_DECREF(r);
    Py_RETURN_NONE;
}

/* ------------------------------------------------------------- module */

/* web_setup(env): see the enum at the top. */
static PyObject *
wb_web_setup(PyObject *module, PyObject *env)
{
    tc_state *st = PyModule_GetState(module);
    PyObject *find;

    if (!PyTuple_CheckExact(env) || PyTuple_GET_SIZE(env) != WE_SIZE ||
        !PyType_Check(PyTuple_GET_ITEM(env, WE_APPLICATION)) ||
        !PyType_Check(PyTuple_GET_ITEM(env, WE_HD)) ||
        !PyType_Check(PyTuple_GET_ITEM(env, WE_REQUEST_HANDLER)) ||
        !PyFunction_Check(PyTuple_GET_ITEM(env, WE_FIND_HANDLER))) {
        PyErr_SetString(PyExc_TypeError, "web_setup(env): a tuple of web's classes and functions");
        return NULL;
    }
    find = PyTuple_GET_ITEM(env, WE_FIND_HANDLER);
    Py_XSETREF(st->web_globals, Py_NewRef(PyFunction_GET_GLOBALS(find)));
    Py_XSETREF(st->web_env, Py_NewRef(env));
    Py_RETURN_NONE;
}

static PyObject *
wb_web_counts(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(ignored))
{
    return Py_BuildValue("(nn)", wb_delegates, wb_executes);
}

static PyMethodDef wb_functions[] = {
    {"web_setup", wb_web_setup, METH_O,
     PyDoc_STR("web_setup(env)\n--\n\n"
               "web's Application, _HandlerDelegate and RequestHandler pieces the native\n"
               "server stands in for while they are the originals (csrc/handler.c).")},
    {"_web_counts", wb_web_counts, METH_NOARGS,
     PyDoc_STR("_web_counts()\n--\n\n"
               "(_HandlerDelegates made, execute() steps run) by the native server in C.")},
    {NULL, NULL, 0, NULL},
};

int
tc_web_init(PyObject *module, tc_state *st)
{
    int i;
    for (i = 0; i < WB_COUNT; i++) {
        st->wb_names[i] = PyUnicode_InternFromString(wb_texts[i]);
        if (st->wb_names[i] == NULL) {
            return -1;
        }
    }
    return PyModule_AddFunctions(module, wb_functions);
}

int
tc_web_traverse(tc_state *st, visitproc visit, void *arg)
{
    Py_VISIT(st->web_env);
    Py_VISIT(st->web_globals);
    return 0;
}

void
tc_web_clear(tc_state *st)
{
    int i;
    Py_CLEAR(st->web_env);
    Py_CLEAR(st->web_globals);
    for (i = 0; i < TC_WB_NAMES; i++) {
        Py_CLEAR(st->wb_names[i]);
    }
}
