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
 * For the handler itself, RequestHandler.__init__ and clear() are done
 * here too while the class keeps them (and object.__new__).
 *
 * While those functions are the ones web.py defines -- compared with the
 * functions web_setup() registered, per request and at the point of use,
 * so that an override in a subclass or a patch made at any time is called
 * instead -- these helpers do what they do, with the same objects, in the
 * same order, reading and writing the same attributes.  The handler's
 * initialize() (when it has one), _execute and everything after are
 * Python, as before; so is every case the helpers do not cover (a handler
 * that streams the request body, debug mode's cache resets).
 *
 * Names the Python functions look up in web's globals at call time
 * (ErrorHandler, _ROUTE_ENV, asyncio, _raise_if_failed, _start_execute,
 * _get_running_loop, time, httputil, _date_cache, _SERVER_HEADER)
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
    WE_RH_INIT,              /* RequestHandler.__init__ */
    WE_RH_CLEAR,             /* RequestHandler.clear */
    WE_RH_SET_DEFAULT_HEADERS,
    WE_RH_INITIALIZE,        /* RequestHandler.initialize (a no-op) */
    WE_RH_CONVERT,           /* RequestHandler._convert_header_value */
    WE_HH_SETITEM,           /* httputil.HTTPHeaders.__setitem__ */
    WE_NORMALIZE,            /* httputil._normalize_header (normalize_header) */
    WE_APP_LOG_REQUEST,      /* Application.log_request */
    WE_RH_GET_STATUS,        /* RequestHandler.get_status */
    WE_GET_RUNNING_LOOP,     /* asyncio.get_running_loop */
    WE_RH_SEND_WHOLE,        /* RequestHandler._send_whole_response */
    WE_MASK_NAMES,           /* web._MASK_NAMES (its first seven: see WM_*) */
    WE_MASK_ORIGINALS,       /* web._MASK_ORIGINALS */
    WE_SHA1,                 /* hashlib.sha1 */
    WE_RH_DECODE_ARGUMENT,   /* RequestHandler.decode_argument */
    WE_TO_UNICODE,           /* web._unicode (escape.to_unicode) */
    WE_JSON_ENCODE,          /* escape.json_encode */
    WE_RH_FINISH,            /* RequestHandler.finish */
    WE_LOGGER_ENABLED_FOR,   /* logging.Logger.isEnabledFor */
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
    /* RequestHandler.__init__ and clear(), in their order */
    WB__prepared_future, WB__auto_finish, WB__headers_written, WB__finished, WB__headers,
    WB__write_buffer, WB__status_code, WB__reason,
    WB_time, WB__date_cache, WB_httputil, WB_format_timestamp, WB_HTTPHeaders,
    WB__SERVER_HEADER, WB_Server, WB_Date, WB_text_html, WB_OK, WB_set_default_headers,
    WB_initialize, WB_clear, WB_set_close_callback,
    WB__convert_header_value, WB___setitem__, WB__normalize_header, WB_unsafe_header,
    WB_log_request, WB_log_function, WB_get_status, WB_access_log, WB_isEnabledFor,
    WB_info, WB_warning, WB_error, WB__request_summary, WB_request_time, WB_log_format,
    /* finish() */
    WB__transforms, WB__new_cookie, WB_values, WB_add_header, WB_Set_Cookie, WB_OutputString,
    WB_Etag, WB_If_None_Match, WB_check_etag_header, WB_set_status,
    WB__clear_representation_headers, WB_write_headers, WB__log, WB_on_finish, WB_ui,
    WB__sha1, WB_hexdigest, WB_GET, WB_HEAD, WB_empty, WB__send_whole_response,
    /* _execute() */
    WB_SUPPORTED_METHODS, WB_OPTIONS, WB_xsrf_cookies, WB__VERB_METHODS, WB_decode_argument,
    WB__unicode,
    /* write() */
    WB_escape, WB_json_encode, WB_json_type,
    /* Logger.isEnabledFor */
    WB_disabled, WB__cache,
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
    "_prepared_future", "_auto_finish", "_headers_written", "_finished", "_headers",
    "_write_buffer", "_status_code", "_reason",
    "time", "_date_cache", "httputil", "format_timestamp", "HTTPHeaders",
    "_SERVER_HEADER", "Server", "Date", "text/html; charset=UTF-8", "OK",
    "set_default_headers", "initialize", "clear", "set_close_callback",
    "_convert_header_value", "__setitem__", "_normalize_header", "Unsafe header value %r",
    "log_request", "log_function", "get_status", "access_log", "isEnabledFor",
    "info", "warning", "error", "_request_summary", "request_time", "%d %s %.2fms",
    "_transforms", "_new_cookie", "values", "add_header", "Set-Cookie", "OutputString",
    "Etag", "If-None-Match", "check_etag_header", "set_status",
    "_clear_representation_headers", "write_headers", "_log", "on_finish", "ui",
    "_sha1", "hexdigest", "GET", "HEAD", "", "_send_whole_response",
    "SUPPORTED_METHODS", "OPTIONS", "xsrf_cookies", "_VERB_METHODS", "decode_argument",
    "_unicode",
    "escape", "json_encode", "application/json; charset=UTF-8",
    "disabled", "_cache",
};

_Static_assert(WB_COUNT == TC_WB_NAMES, "TC_WB_NAMES in tc.h must match");
_Static_assert(WB_handler == WB_chunks + 1, "the _HandlerDelegate names are contiguous");

#define WB(st, i) ((st)->wb_names[i])
#define WE(st, i) (PyTuple_GET_ITEM((st)->web_env, (i)))

/* For tests that check the paths are taken (_web_counts()). */
static Py_ssize_t wb_delegates = 0, wb_executes = 0, wb_handlers = 0;

/* A borrowed reference to web's global name, or NULL with NameError. */
static PyObject *
wb_global(tc_state *st, int which)
{
    PyObject *v = tc_globals_get(st, st->web_globals, WB(st, which));
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

/* The handler attributes __init__ and clear() assign, in their order. */
static const int wb_rh_attrs[] = {
    WB_request, WB_application, WB__prepared_future, WB__auto_finish, WB__headers_written,
    WB__finished, WB__headers, WB__write_buffer, WB__status_code, WB__reason,
};
#define WB_RH_ATTRS ((int)(sizeof(wb_rh_attrs) / sizeof(wb_rh_attrs[0])))
/* Their indexes. */
enum {
    RH_request, RH_application, RH__prepared_future, RH__auto_finish, RH__headers_written,
    RH__finished, RH__headers, RH__write_buffer, RH__status_code, RH__reason,
};

_Static_assert(WB_RH_ATTRS <= TC_SLOTMAP_MAX, "a tc_slotmap holds them");

/* The slot map for handler class tp (names: wb_rh_attrs), or NULL. */
static tc_slotmap *
wb_rh_map(tc_state *st, PyTypeObject *tp)
{
    PyObject *names[WB_RH_ATTRS];
    int k;

    for (k = 0; k < WB_RH_ATTRS; k++) {
        names[k] = WB(st, wb_rh_attrs[k]);
    }
    return tc_slotmap_for(st->handler_slots, TC_HANDLER_MAPS, tp, names, WB_RH_ATTRS);
}

/* handler.<wb_rh_attrs[i]> (a new reference): through its slot while the
 * handler's class has RequestHandler's (csrc/slots.c), else getattr. */
static PyObject *
wb_rh_load(tc_state *st, PyObject *handler, int i)
{
    return tc_slot_load(wb_rh_map(st, Py_TYPE(handler)), handler, i, WB(st, wb_rh_attrs[i]));
}

PyObject *
tc_web_handler_get(tc_state *st, PyObject *handler, int which)
{
    static const int index[] = {RH_request, RH__finished, RH__headers, RH__write_buffer};

    return wb_rh_load(st, handler, index[which]);
}

/* self.<wb_rh_attrs[i]> = value: into its slot while self's class has
 * RequestHandler's (map m, csrc/slots.c), else setattr. */
static int
wb_rh_set(tc_state *st, tc_slotmap *m, PyObject *self, int i, PyObject *value)
{
    return tc_slot_store(m, self, i, WB(st, wb_rh_attrs[i]), value);
}

/* delegate.<WB name which> for a _HandlerDelegate attribute (request ..
 * chunks, handler): through the class's slots (csrc/slots.c) while they are
 * its own, else getattr / setattr. */
static PyObject *
wb_hd_get(tc_state *st, PyObject *delegate, int which)
{
    return tc_slot_load(&st->hd_slots, delegate, which, WB(st, which));
}

static int
wb_hd_set(tc_state *st, PyObject *delegate, int which, PyObject *value)
{
    return tc_slot_store(&st->hd_slots, delegate, which, WB(st, which), value);
}

/* ------------------------------------------------------- connection */

/* The request connection's methods handler.c calls. */
enum { WC_WRITE_HEADERS, WC_FINISH, WC_SET_CLOSE_CALLBACK };

/* 1 when conn.<name>(...) comes down to HTTP1Conn's own C method (which:
 * the WC_* index of name): conn's class resolves it to that method and its
 * instance dict does not shadow it; 0 when not, -1 with an exception. */
static int
wb_conn_method_native(tc_state *st, PyObject *conn, int which)
{
    PyObject *name = which == WC_WRITE_HEADERS ? WB(st, WB_write_headers)
                     : which == WC_FINISH      ? st->str_finish
                                               : WB(st, WB_set_close_callback);
    PyObject **dictptr;

    if (st->wb_conn_descrs[which] == NULL) {
        st->wb_conn_descrs[which] = Py_XNewRef(_PyType_Lookup(st->HTTP1ConnType, name));
        if (st->wb_conn_descrs[which] == NULL) {
            return 0;
        }
    }
    if (_PyType_Lookup(Py_TYPE(conn), name) != st->wb_conn_descrs[which]) {
        return 0;
    }
    dictptr = _PyObject_GetDictPtr(conn);
    if (dictptr == NULL || *dictptr == NULL) {
        return 1;
    }
    return PyDict_GetItemWithError(*dictptr, name) != NULL ? 0 : PyErr_Occurred() ? -1 : 1;
}

/* 1 when conn.<method which>(...) comes down to the native HTTP/1
 * connection's own C method (wb_conn_method_native), 0 when not, -1 with
 * an exception.  On CPython 3.10 / 3.11 a connection whose three methods
 * were all found native remembers the class's version tag and its
 * __dict__'s (tc_h1_memo): while both are unchanged -- no method of the
 * class or a base replaced, no attribute of the connection set or
 * deleted -- the answer is 1 without looking again, on every request of a
 * kept-alive connection. */
static int
wb_conn_native(tc_state *st, PyObject *conn, int which)
{
    int native;

    if (st->HTTP1ConnType == NULL || !PyObject_TypeCheck(conn, st->HTTP1ConnType)) {
        return 0;
    }
#if PY_VERSION_HEX < 0x030C0000
    {
        tc_h1_memo *memo = tc_h1_memo_of(conn);
        PyTypeObject *tp = Py_TYPE(conn);
        PyObject **dictptr = _PyObject_GetDictPtr(conn);
        PyObject *dict = dictptr != NULL ? *dictptr : NULL;
        int w;

        if (memo->type_version != 0 && tc_type_tagged(tp) &&
            tp->tp_version_tag == memo->type_version && memo->dict == dict &&
            (dict == NULL || !PyDict_Check(dict) ||
             ((PyDictObject *)dict)->ma_version_tag == memo->dict_version)) {
            return 1;
        }
        memo->type_version = 0;
        native = wb_conn_method_native(st, conn, which);
        if (native <= 0 || (dict != NULL && !PyDict_Check(dict))) {
            return native;
        }
        for (w = 0; w < 3; w++) {
            int other = w == which ? 1 : wb_conn_method_native(st, conn, w);
            if (other <= 0) {
                if (other < 0) {
                    PyErr_Clear(); /* (asked again, and raised, when it is used) */
                }
                return 1;
            }
        }
        /* (the look-ups above gave the class a version tag if it can have one) */
        if (tc_type_tagged(tp)) {
            memo->dict = dict;
            memo->dict_version = dict != NULL ? ((PyDictObject *)dict)->ma_version_tag : 0;
            memo->type_version = tp->tp_version_tag;
        }
        return 1;
    }
#else
    native = wb_conn_method_native(st, conn, which);
    return native;
#endif
}

/* conn.set_close_callback(cb) */
static PyObject *
wb_conn_set_close_callback(tc_state *st, PyObject *conn, PyObject *cb)
{
    int native = wb_conn_native(st, conn, WC_SET_CLOSE_CALLBACK);

    return native < 0 ? NULL
           : native   ? tc_h1_call_set_close_callback(conn, cb)
                      : PyObject_CallMethodOneArg(conn, WB(st, WB_set_close_callback), cb);
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
    v[WB_connection] = tc_request_get(st, request, TC_RQ_CONNECTION);
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
        if (wb_hd_set(st, obj, i, v[i]) < 0) {
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
    flag = wb_hd_get(st, delegate, WB_stream_request_body);
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
    PyObject *chunks = wb_hd_get(st, delegate, WB_chunks), *r;
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

/* A new dict of mapping's items: what ``f(**mapping)`` hands the callee
 * (never the caller's own dict). */
static PyObject *
wb_kwargs(PyObject *mapping)
{
    PyObject *d = PyDict_New();
    if (d != NULL && PyDict_Merge(d, mapping, 1) < 0) {
        Py_CLEAR(d);
    }
    return d;
}

/* handler._execute(transforms, *path_args, **path_kwargs) */
static PyObject *
wb_call_execute(tc_state *st, PyObject *handler, PyObject *transforms, PyObject *path_args,
                PyObject *path_kwargs)
{
    PyObject *meth, *head, *rest, *args, *d, *r;
    int kw;

    if (PyList_CheckExact(path_args) && PyList_GET_SIZE(path_args) == 0 &&
        PyDict_CheckExact(path_kwargs) && PyDict_GET_SIZE(path_kwargs) == 0) {
        PyObject *call[2] = {handler, transforms};
        return PyObject_VectorcallMethod(WB(st, WB__execute), call,
                                         2 | PY_VECTORCALL_ARGUMENTS_OFFSET, NULL);
    }
    /* (transforms, *path_args) and a fresh dict of path_kwargs, if any */
    meth = PyObject_GetAttr(handler, WB(st, WB__execute));
    head = meth != NULL ? PyTuple_Pack(1, transforms) : NULL;
    rest = head != NULL ? PySequence_Tuple(path_args) : NULL;
    args = rest != NULL ? PySequence_Concat(head, rest) : NULL;
    kw = args != NULL ? PyObject_IsTrue(path_kwargs) : -1;
    d = kw > 0 ? wb_kwargs(path_kwargs) : NULL;
    r = kw == 0 || d != NULL ? PyObject_Call(meth, args, d) : NULL;
    Py_XDECREF(d);
    Py_XDECREF(head);
    Py_XDECREF(rest);
    Py_XDECREF(args);
    Py_XDECREF(meth);
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
        PyObject *get_loop = wb_global(st, WB__get_running_loop), *eager = NULL, *loop;
        int native;
        if (get_loop == WE(st, WE_GET_RUNNING_LOOP) && tc_loop_current != NULL) {
            /* The native loop running this iteration in this thread is
             * what asyncio.get_running_loop() answers (without its
             * getpid() system call). */
            loop = Py_NewRef((PyObject *)tc_loop_current);
        }
        else {
            loop = get_loop != NULL ? PyObject_CallNoArgs(get_loop) : NULL;
        }
        if (loop == NULL) {
            return -1;
        }
        if (st->wb_eager_descr == NULL && st->LoopType != NULL) {
            st->wb_eager_descr = Py_XNewRef(_PyType_Lookup(st->LoopType, WB(st, WB__eager_task)));
        }
        /* The native loop's own _eager_task is called without a bound
         * method. */
        native = st->wb_eager_descr != NULL && PyObject_TypeCheck(loop, st->LoopType) &&
                 _PyType_Lookup(Py_TYPE(loop), WB(st, WB__eager_task)) == st->wb_eager_descr;
        if (!native && tc_lookup_attr(loop, WB(st, WB__eager_task), &eager) < 0) {
            Py_DECREF(loop);
            return -1;
        }
        if (native || eager != NULL) {
            PyObject *mod = wb_global(st, WB_asyncio);
            PyObject *task = mod != NULL ? tc_module_attr(st, mod, WB(st, WB_Task)) : NULL;
            PyObject *on_failure = task != NULL ? wb_global(st, WB__raise_if_failed) : NULL;
            if (on_failure != NULL) {
                PyObject *call[3] = {task, work, on_failure};
                r = native ? tc_loop_eager_task((tc_loop *)loop, call, 3)
                           : PyObject_Vectorcall(eager, call, 3, NULL);
            }
            Py_XDECREF(task);
            Py_XDECREF(eager);
            Py_DECREF(loop);
            Py_XDECREF(r);
            return r == NULL ? -1 : 0;
        }
        Py_DECREF(loop);
    }
    {
        PyObject *fn = wb_global(st, WB__start_execute);
        r = fn != NULL ? PyObject_CallOneArg(fn, work) : NULL;
    }
    Py_XDECREF(r);
    return r == NULL ? -1 : 0;
}

/* 1 when calling cls(application, request, **kwargs) comes down to
 * object.__new__ and RequestHandler's own __init__ and clear(): the class's
 * metaclass is type, it resolves __new__, __init__ and clear to those, and
 * no class after RequestHandler in its MRO but object defines __init__
 * (which __init__'s super().__init__() would call). */
static int
wb_plain_handler_class(tc_state *st, PyObject *cls)
{
    PyTypeObject *tp = (PyTypeObject *)cls;
    PyObject *mro = tp->tp_mro, *rh = WE(st, WE_REQUEST_HANDLER);
    Py_ssize_t i, n;
    int after = 0;

    if (!Py_IS_TYPE(cls, &PyType_Type) || tp->tp_new != PyBaseObject_Type.tp_new ||
        !wb_original(st, tp, st->str___init__, WE_RH_INIT) ||
        !wb_original(st, tp, WB(st, WB_clear), WE_RH_CLEAR) || mro == NULL ||
        !PyTuple_CheckExact(mro)) {
        return 0;
    }
    n = PyTuple_GET_SIZE(mro);
    for (i = 0; i < n; i++) {
        PyObject *base = PyTuple_GET_ITEM(mro, i);
        if (base == rh) {
            after = 1;
        }
        else if (after && base != (PyObject *)&PyBaseObject_Type &&
                 PyDict_GetItemWithError(((PyTypeObject *)base)->tp_dict,
                                         st->str___init__) != NULL) {
            return 0;
        }
        if (PyErr_Occurred()) {
            PyErr_Clear();
            return 0;
        }
    }
    return after;
}

/* The date for the Date header: web._date_cache's, refreshed through
 * httputil.format_timestamp when the second has changed (as clear() does).
 * A new reference. */
static PyObject *
wb_date(tc_state *st, PyObject *now)
{
    PyObject *cache = wb_global(st, WB__date_cache), *second, *httputil, *text;
    int same;

    if (cache == NULL) {
        return NULL;
    }
    if (PyFloat_CheckExact(now) && PyList_CheckExact(cache) && PyList_GET_SIZE(cache) == 2 &&
        PyLong_CheckExact(PyList_GET_ITEM(cache, 0))) {
        /* The same second as the cached date's (int(now), a truncation,
         * compared without making the int): the cached text. */
        double d = PyFloat_AS_DOUBLE(now);
        int overflow = 0;
        long long cached = PyLong_AsLongLongAndOverflow(PyList_GET_ITEM(cache, 0), &overflow);
        if (!overflow && d >= 0.0 && d < 9e15 && cached == (long long)d) {
            return Py_NewRef(PyList_GET_ITEM(cache, 1));
        }
        if (cached == -1 && !overflow && PyErr_Occurred()) {
            return NULL;
        }
    }
    second = PyNumber_Long(now);
    if (second == NULL) {
        return NULL;
    }
    if (!PyList_CheckExact(cache) || PyList_GET_SIZE(cache) != 2) {
        PyErr_SetString(PyExc_TypeError, "web._date_cache must be a list of two items");
        Py_DECREF(second);
        return NULL;
    }
    same = PyObject_RichCompareBool(PyList_GET_ITEM(cache, 0), second, Py_EQ);
    if (same < 0) {
        Py_DECREF(second);
        return NULL;
    }
    if (!same) {
        httputil = wb_global(st, WB_httputil);
        text = httputil != NULL ? PyObject_CallMethodOneArg(
                                      httputil, WB(st, WB_format_timestamp), now)
                                : NULL;
        if (text == NULL) {
            Py_DECREF(second);
            return NULL;
        }
        /* (the list owns the new references) */
        PyList_SetItem(cache, 1, text);
        PyList_SetItem(cache, 0, second);
    }
    else {
        Py_DECREF(second);
    }
    return Py_NewRef(PyList_GET_ITEM(cache, 1));
}

/* clear()'s HTTPHeaders: Server, Content-Type and Date, built directly.
 * While the Server and Date texts are the objects the last ones were made
 * of, the two dicts are copies of that one's (with a new list for each
 * field: HTTPHeaders' lists are its own). */
static PyObject *
wb_default_headers(tc_state *st, PyObject *date)
{
    PyObject *httputil = wb_global(st, WB_httputil), *server = wb_global(st, WB__SERVER_HEADER);
    PyObject *cls, *headers, *values = NULL, *lists = NULL;
    PyObject *names[3], *texts[3];
    int i;

    if (httputil == NULL || server == NULL) {
        return NULL;
    }
    cls = tc_module_attr(st, httputil, WB(st, WB_HTTPHeaders));
    if (cls == NULL) {
        return NULL;
    }
    if (!PyType_Check(cls)) {
        PyErr_SetString(PyExc_TypeError, "httputil.HTTPHeaders must be a class");
        Py_DECREF(cls);
        return NULL;
    }
    headers = PyBaseObject_Type.tp_new((PyTypeObject *)cls, st->empty_tuple, NULL);
    Py_DECREF(cls);
    if (headers == NULL) {
        return NULL;
    }
    names[0] = WB(st, WB_Server), texts[0] = server;
    names[1] = st->str_Content_Type, texts[1] = WB(st, WB_text_html);
    names[2] = WB(st, WB_Date), texts[2] = date;
    if (st->wb_hdr_values == NULL || st->wb_hdr_server != server || st->wb_hdr_date != date) {
        /* (made in order, so the copies keep it) */
        PyObject *v = PyDict_New(), *l = v != NULL ? PyDict_New() : NULL;
        for (i = 0; l != NULL && i < 3; i++) {
            if (PyDict_SetItem(v, names[i], texts[i]) < 0 ||
                PyDict_SetItem(l, names[i], Py_None) < 0) {
                Py_CLEAR(l);
            }
        }
        if (l == NULL) {
            Py_XDECREF(v);
            goto error;
        }
        Py_XSETREF(st->wb_hdr_values, v);
        Py_XSETREF(st->wb_hdr_lists, l);
        Py_XSETREF(st->wb_hdr_server, Py_NewRef(server));
        Py_XSETREF(st->wb_hdr_date, Py_NewRef(date));
    }
    values = PyDict_Copy(st->wb_hdr_values);
    lists = values != NULL ? PyDict_Copy(st->wb_hdr_lists) : NULL;
    if (lists == NULL) {
        goto error;
    }
    for (i = 0; i < 3; i++) {
        PyObject *one = PyList_New(1);
        if (one == NULL) {
            goto error;
        }
        PyList_SET_ITEM(one, 0, Py_NewRef(texts[i]));
        if (PyDict_SetItem(lists, names[i], one) < 0) {
            Py_DECREF(one);
            goto error;
        }
        Py_DECREF(one);
    }
    if (tc_headers_assign(st, headers, values, lists, Py_None) < 0) {
        goto error;
    }
    Py_DECREF(values);
    Py_DECREF(lists);
    return headers;
error:
    Py_XDECREF(values);
    Py_XDECREF(lists);
    Py_DECREF(headers);
    return NULL;
}

/* 1 when kwargs names a parameter __init__ takes by position (calling it
 * would raise TypeError: left to the call). */
static int
wb_takes_position(tc_state *st, PyObject *kwargs)
{
    return PyDict_GET_SIZE(kwargs) != 0 &&
           (PyDict_GetItem(kwargs, WB(st, WB_application)) != NULL ||
            PyDict_GetItem(kwargs, WB(st, WB_request)) != NULL);
}

/* obj.name() */
static int
wb_call0(PyObject *obj, PyObject *name)
{
    PyObject *r = PyObject_CallMethodNoArgs(obj, name);
    Py_XDECREF(r);
    return r == NULL ? -1 : 0;
}

/* cls(application, request, **kwargs) for a class wb_plain_handler_class()
 * accepts: RequestHandler.__init__ and clear() done here -- the same
 * attributes in the same order, set_default_headers(), the connection's
 * close callback and initialize(**kwargs) called as they call them. */
static PyObject *
wb_handler_new(tc_state *st, PyObject *cls, PyObject *app, PyObject *request, PyObject *kwargs)
{
    PyTypeObject *tp = (PyTypeObject *)cls;
    PyObject *self, *mod, *now = NULL, *date = NULL, *headers = NULL, *buffer = NULL;
    PyObject *conn = NULL, *callback = NULL, *code = NULL, *r;
    tc_slotmap *m;
    int truth;

    self = tp->tp_new(tp, st->empty_tuple, NULL);
    if (self == NULL) {
        return NULL;
    }
    m = wb_rh_map(st, tp);
    if (wb_rh_set(st, m, self, 0, request) < 0 || wb_rh_set(st, m, self, 1, app) < 0 ||
        wb_rh_set(st, m, self, 2, Py_None) < 0 || wb_rh_set(st, m, self, 3, Py_True) < 0 ||
        wb_rh_set(st, m, self, 4, Py_False) < 0 || wb_rh_set(st, m, self, 5, Py_False) < 0) {
        goto error;
    }
    /* clear() */
    mod = wb_global(st, WB_time);
    now = mod != NULL ? tc_time_time(st, mod) : NULL;
    date = now != NULL ? wb_date(st, now) : NULL;
    headers = date != NULL ? wb_default_headers(st, date) : NULL;
    if (headers == NULL || wb_rh_set(st, m, self, 6, headers) < 0) {
        goto error;
    }
    if (!wb_original(st, tp, WB(st, WB_set_default_headers), WE_RH_SET_DEFAULT_HEADERS) &&
        wb_call0(self, WB(st, WB_set_default_headers)) < 0) {
        goto error;
    }
    buffer = PyList_New(0);
    code = buffer != NULL ? PyLong_FromLong(200) : NULL;
    if (code == NULL || wb_rh_set(st, m, self, 7, buffer) < 0 || wb_rh_set(st, m, self, 8, code) < 0 ||
        wb_rh_set(st, m, self, 9, WB(st, WB_OK)) < 0) {
        goto error;
    }
    /* the rest of __init__ */
    conn = tc_request_get(st, request, TC_RQ_CONNECTION);
    if (conn == NULL) {
        goto error;
    }
    if (conn == Py_None) {
        PyErr_SetNone(PyExc_AssertionError);
        goto error;
    }
    callback = PyObject_GetAttr(self, st->str_on_connection_close);
    r = callback != NULL ? wb_conn_set_close_callback(st, conn, callback) : NULL;
    if (r == NULL) {
        goto error;
    }
    Py_DECREF(r);
    truth = PyObject_IsTrue(kwargs);
    if (truth < 0) {
        goto error;
    }
    if (truth || !wb_original(st, tp, WB(st, WB_initialize), WE_RH_INITIALIZE)) {
        /* self.initialize(**kwargs) */
        PyObject *meth = PyObject_GetAttr(self, WB(st, WB_initialize)), *d = NULL;
        if (meth == NULL || (truth && (d = wb_kwargs(kwargs)) == NULL)) {
            Py_XDECREF(meth);
            goto error;
        }
        r = PyObject_Call(meth, st->empty_tuple, d);
        Py_XDECREF(d);
        Py_DECREF(meth);
        if (r == NULL) {
            goto error;
        }
        Py_DECREF(r);
    }
    Py_DECREF(now);
    Py_DECREF(date);
    Py_DECREF(headers);
    Py_DECREF(buffer);
    Py_DECREF(code);
    Py_DECREF(conn);
    Py_DECREF(callback);
    wb_handlers++;
    return self;
error:
    Py_XDECREF(now);
    Py_XDECREF(date);
    Py_XDECREF(headers);
    Py_XDECREF(buffer);
    Py_XDECREF(code);
    Py_XDECREF(conn);
    Py_XDECREF(callback);
    Py_DECREF(self);
    return NULL;
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

    app = wb_hd_get(st, delegate, WB_application);
    settings = app != NULL ? PyObject_GetAttr(app, WB(st, WB_settings)) : NULL;
    if (settings == NULL) {
        goto done;
    }
    resets = wb_resets_caches(st, settings);
    if (resets < 0) {
        goto done;
    }
    cls = wb_hd_get(st, delegate, WB_handler_class);
    if (cls == NULL) {
        goto done;
    }
    if (resets) {
        result = PyObject_CallMethodNoArgs(delegate, WB(st, WB_execute));
        goto done;
    }
    request = wb_hd_get(st, delegate, WB_request);
    kwargs = request != NULL ? wb_hd_get(st, delegate, WB_handler_kwargs) : NULL;
    if (kwargs == NULL) {
        goto done;
    }
    /* self.handler_class(self.application, self.request, **self.handler_kwargs) */
    if (PyDict_CheckExact(kwargs) && PyType_Check(cls) && wb_plain_handler_class(st, cls) &&
        !wb_takes_position(st, kwargs)) {
        handler = wb_handler_new(st, cls, app, request, kwargs);
    }
    else if (PyDict_CheckExact(kwargs) && PyDict_GET_SIZE(kwargs) == 0) {
        PyObject *call[2] = {app, request};
        handler = PyObject_Vectorcall(cls, call, 2, NULL);
    }
    else {
        PyObject *args = PyTuple_Pack(2, app, request);
        PyObject *d = args != NULL ? wb_kwargs(kwargs) : NULL;
        handler = d != NULL ? PyObject_Call(cls, args, d) : NULL;
        Py_XDECREF(d);
        Py_XDECREF(args);
    }
    if (handler == NULL || wb_hd_set(st, delegate, WB_handler, handler) < 0) {
        goto done;
    }
    makers = PyObject_GetAttr(app, WB(st, WB_transforms));
    transforms = makers != NULL ? wb_transforms(makers, request) : NULL;
    path_args = transforms != NULL ? wb_hd_get(st, delegate, WB_path_args) : NULL;
    path_kwargs = path_args != NULL ? wb_hd_get(st, delegate, WB_path_kwargs) : NULL;
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
    request = wb_hd_get(st, delegate, WB_request);
    chunks = request != NULL ? wb_hd_get(st, delegate, WB_chunks) : NULL;
    body = chunks != NULL ? tc_bytes_join(chunks) : NULL;
    if (body == NULL || tc_request_set(st, request, TC_RQ_BODY, body) < 0) {
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

/* ---------------------------------------------------------- set_header */

/* 1 when text is a header value _convert_header_value lets through: tab,
 * printable ASCII and \x80-\xff only. */
static int
wb_header_text_ok(PyObject *text)
{
    const Py_UCS1 *p;
    Py_ssize_t i, n;

    if (PyUnicode_KIND(text) != PyUnicode_1BYTE_KIND) {
        return 0; /* (some character above \xff) */
    }
    p = PyUnicode_1BYTE_DATA(text);
    n = PyUnicode_GET_LENGTH(text);
    for (i = 0; i < n; i++) {
        if ((p[i] < 0x20 && p[i] != 0x09) || p[i] == 0x7f) {
            return 0;
        }
    }
    return 1;
}

/* headers._dict[name] = text; headers._as_list[name] = [text] */
static int
wb_put_field(tc_state *st, PyObject *fields, PyObject *headers, PyObject *name, PyObject *text)
{
    PyObject *lists, *one;
    int rc;

    rc = PyDict_CheckExact(fields) ? PyDict_SetItem(fields, name, text)
                                   : PyObject_SetItem(fields, name, text);
    if (rc < 0) {
        return -1;
    }
    lists = tc_headers_get(st, headers, TC_HD_AS_LIST);
    one = lists != NULL ? PyList_New(1) : NULL;
    if (one == NULL) {
        Py_XDECREF(lists);
        return -1;
    }
    PyList_SET_ITEM(one, 0, Py_NewRef(text));
    rc = PyDict_CheckExact(lists) ? PyDict_SetItem(lists, name, one)
                                  : PyObject_SetItem(lists, name, one);
    Py_DECREF(one);
    Py_DECREF(lists);
    return rc;
}

/* The conditions of doing set_header here for handler, checked: 1 when
 * _convert_header_value, the headers' class's __setitem__ and
 * httputil._normalize_header are the originals (*headers then a new
 * reference to handler._headers), 0 when not, -1 on error. */
int
tc_web_header_ready(tc_state *st, PyObject *handler, PyObject **headers)
{
    PyObject *normalize;

    *headers = NULL;
    if (st->web_env == NULL || st->request_globals == NULL ||
        !wb_original(st, Py_TYPE(handler), WB(st, WB__convert_header_value), WE_RH_CONVERT)) {
        return 0;
    }
    *headers = wb_rh_load(st, handler, RH__headers);
    if (*headers == NULL) {
        return -1;
    }
    normalize = tc_globals_get(st, st->request_globals, WB(st, WB__normalize_header));
    if (normalize != WE(st, WE_NORMALIZE) ||
        !wb_original(st, Py_TYPE(*headers), WB(st, WB___setitem__), WE_HH_SETITEM)) {
        Py_CLEAR(*headers);
        return PyErr_Occurred() ? -1 : 0;
    }
    return 1;
}

/* headers[name] = self._convert_header_value(value) for a str name and a
 * str or int value, once tc_web_header_ready said yes for these headers:
 * 0, or -1 with the exception (ValueError for an unsafe value, as
 * _convert_header_value raises).  canonical: name is already what
 * _normalize_header (the original, as tc_web_header_ready checked) makes of
 * it, a constant of the caller's such as "Content-Length". */
int
tc_web_header_put(tc_state *st, PyObject *headers, PyObject *name, PyObject *value,
                  int canonical)
{
    PyObject *text, *key, *fields;
    int rc = -1;

    if (PyUnicode_CheckExact(value)) {
        if (!wb_header_text_ok(value)) {
            PyObject *exc_args = PyTuple_Pack(2, WB(st, WB_unsafe_header), value);
            if (exc_args != NULL) {
                PyErr_SetObject(PyExc_ValueError, exc_args);
                Py_DECREF(exc_args);
            }
            return -1;
        }
        text = Py_NewRef(value);
    }
    else if ((text = PyObject_Str(value)) == NULL) {
        return -1;
    }
    /* HTTPHeaders.__setitem__ */
    key = canonical ? Py_NewRef(name) : tc_normalize_header(st, name);
    fields = key != NULL ? tc_headers_get(st, headers, TC_HD_DICT) : NULL;
    if (fields != NULL) {
        rc = wb_put_field(st, fields, headers, key, text);
    }
    Py_DECREF(text);
    Py_XDECREF(key);
    Py_XDECREF(fields);
    return rc;
}

/* _set_header(handler, name, value): what RequestHandler.set_header does
 * -- self._headers[name] = self._convert_header_value(value) -- for a str
 * or int value, while _convert_header_value, the HTTPHeaders class's
 * __setitem__ and httputil._normalize_header are the originals.
 * NotImplemented (nothing done) otherwise. */
static PyObject *
wb_set_header(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    tc_state *st = PyModule_GetState(module);
    PyObject *headers;
    int ready;

    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "_set_header(handler, name, value)");
        return NULL;
    }
    if (!(PyUnicode_CheckExact(args[2]) || PyLong_CheckExact(args[2])) ||
        !PyUnicode_Check(args[1])) {
        Py_RETURN_NOTIMPLEMENTED;
    }
    ready = tc_web_header_ready(st, args[0], &headers);
    if (ready <= 0) {
        return ready < 0 ? NULL : Py_NewRef(Py_NotImplemented);
    }
    ready = tc_web_header_put(st, headers, args[1], args[2], 0);
    Py_DECREF(headers);
    return ready < 0 ? NULL : Py_NewRef(Py_None);
}

/* --------------------------------------------------------- log_request */

/* 1 when obj.name is the function func bound to obj -- func found on
 * obj's class and not shadowed by an attribute of obj's own --, 0 when it
 * is not, -1 on error.  Where the interpreter offers it
 * (_PyObject_GetMethod), neither the bound method nor the instance's
 * __dict__ (which a look at it would otherwise make) is created. */
static int
wb_method_is(PyObject *obj, PyObject *name, PyObject *func)
{
    PyObject *m = NULL;
    int same;

#if PY_VERSION_HEX < 0x030D0000
    int unbound = _PyObject_GetMethod(obj, name, &m);
    if (m == NULL) {
        return -1;
    }
    same = unbound ? m == func
                   : PyMethod_Check(m) && PyMethod_GET_FUNCTION(m) == func &&
                         PyMethod_GET_SELF(m) == obj;
#else
    m = PyObject_GetAttr(obj, name);
    if (m == NULL) {
        return -1;
    }
    same = PyMethod_Check(m) && PyMethod_GET_FUNCTION(m) == func && PyMethod_GET_SELF(m) == obj;
#endif
    Py_DECREF(m);
    return same;
}

/* What logging.Logger.isEnabledFor(logger, level) answers without taking
 * logging's lock: False for a disabled logger, else the entry for the
 * level in its _cache.  1 and a new reference in *out; 0 when it would
 * have to work the answer out (no entry yet, a _cache that is not a
 * dict); -1 with an exception. */
static int
wb_logger_cached(tc_state *st, PyObject *logger, PyObject *level, PyObject **out)
{
    PyObject *flag = PyObject_GetAttr(logger, WB(st, WB_disabled)), *cache;
    int disabled = flag != NULL ? PyObject_IsTrue(flag) : -1;

    Py_XDECREF(flag);
    if (disabled != 0) {
        *out = disabled > 0 ? Py_NewRef(Py_False) : NULL;
        return disabled;
    }
    cache = PyObject_GetAttr(logger, WB(st, WB__cache));
    if (cache == NULL) {
        return -1;
    }
    *out = PyDict_CheckExact(cache) ? Py_XNewRef(PyDict_GetItemWithError(cache, level)) : NULL;
    Py_DECREF(cache);
    return *out != NULL ? 1 : PyErr_Occurred() ? -1 : 0;
}

/* logger.isEnabledFor(level): 1 / 0, or -1 with an exception.  While the
 * logger's isEnabledFor is logging.Logger's own (found on its class, not
 * shadowed by an attribute of the logger's), its cached answer is read
 * here (a Python call fewer per request); otherwise, or when it has none,
 * the method is called. */
static int
wb_logger_enabled(tc_state *st, PyObject *logger, int level)
{
    PyObject *lv = PyLong_FromLong(level), *r = NULL;
    int rc, enabled = -1;

    if (lv == NULL) {
        return -1;
    }
    rc = wb_method_is(logger, WB(st, WB_isEnabledFor), WE(st, WE_LOGGER_ENABLED_FOR));
    if (rc > 0) {
        rc = wb_logger_cached(st, logger, lv, &r);
    }
    if (rc == 0) {
        r = PyObject_CallMethodOneArg(logger, WB(st, WB_isEnabledFor), lv);
    }
    Py_DECREF(lv);
    if (r != NULL) {
        enabled = PyObject_IsTrue(r);
        Py_DECREF(r);
    }
    return enabled;
}

/* Application.log_request(handler) as web.py's does it: settings'
 * log_function if there is one, else the tornado.access line -- its
 * arguments worked out only when the logger will emit it. */
static PyObject *
wb_log_plain(tc_state *st, PyObject *app, PyObject *handler)
{
    PyObject *settings, *fn, *status = NULL, *logger, *result = NULL;
    PyObject *summary = NULL, *request = NULL, *took = NULL, *ms = NULL;
    long code;
    int level, enabled;

    settings = PyObject_GetAttr(app, WB(st, WB_settings));
    if (settings == NULL) {
        return NULL;
    }
    /* if "log_function" in settings: return settings["log_function"](handler) */
    switch (PySequence_Contains(settings, WB(st, WB_log_function))) {
    case -1:
        goto done;
    case 1:
        fn = PyObject_GetItem(settings, WB(st, WB_log_function));
        result = fn != NULL ? PyObject_CallOneArg(fn, handler) : NULL;
        Py_XDECREF(fn);
        goto done;
    }
    if (wb_original(st, Py_TYPE(handler), WB(st, WB_get_status), WE_RH_GET_STATUS)) {
        status = wb_rh_load(st, handler, RH__status_code);
    }
    else {
        status = PyObject_CallMethodNoArgs(handler, WB(st, WB_get_status));
    }
    if (status == NULL) {
        goto done;
    }
    if (PyLong_CheckExact(status)) {
        code = PyLong_AsLong(status);
        if (code == -1 && PyErr_Occurred()) {
            goto done;
        }
        level = code < 400 ? 20 : code < 500 ? 30 : 40;
    }
    else {
        /* (a status that is not an int: compared as Python compares it) */
        PyObject *n400 = PyLong_FromLong(400), *n500 = PyLong_FromLong(500);
        int below400 = -1, below500 = -1;
        if (n400 != NULL && n500 != NULL) {
            below400 = PyObject_RichCompareBool(status, n400, Py_LT);
            below500 = below400 == 0 ? PyObject_RichCompareBool(status, n500, Py_LT) : 1;
        }
        Py_XDECREF(n400);
        Py_XDECREF(n500);
        if (below400 < 0 || below500 < 0) {
            goto done;
        }
        level = below400 ? 20 : below500 ? 30 : 40;
    }
    logger = wb_global(st, WB_access_log);
    if (logger == NULL) {
        goto done;
    }
    enabled = wb_logger_enabled(st, logger, level);
    if (enabled <= 0) {
        result = enabled < 0 ? NULL : Py_NewRef(Py_None);
        goto done;
    }
    /* elapsed_ms = handler.request.request_time() * 1000.0 */
    request = PyObject_GetAttr(handler, WB(st, WB_request));
    took = request != NULL ? PyObject_CallMethodNoArgs(request, WB(st, WB_request_time)) : NULL;
    if (took != NULL) {
        PyObject *thousand = PyFloat_FromDouble(1000.0);
        ms = thousand != NULL ? PyNumber_Multiply(took, thousand) : NULL;
        Py_XDECREF(thousand);
    }
    summary = ms != NULL ? PyObject_CallMethodNoArgs(handler, WB(st, WB__request_summary))
                         : NULL;
    if (summary != NULL) {
        /* emit("%d %s %.2fms", status, handler._request_summary(), elapsed_ms) */
        PyObject *call[5] = {logger, WB(st, WB_log_format), status, summary, ms};
        int emitter = level == 20 ? WB_info : level == 30 ? WB_warning : WB_error;
        PyObject *r = PyObject_VectorcallMethod(WB(st, emitter), call,
                                                5 | PY_VECTORCALL_ARGUMENTS_OFFSET, NULL);
        if (r != NULL) {
            Py_DECREF(r);
            result = Py_NewRef(Py_None);
        }
    }
done:
    Py_XDECREF(settings);
    Py_XDECREF(status);
    Py_XDECREF(request);
    Py_XDECREF(took);
    Py_XDECREF(ms);
    Py_XDECREF(summary);
    return result;
}

/* application.log_request(handler), in C while that is web.py's. */
static PyObject *
wb_log(tc_state *st, PyObject *app, PyObject *handler)
{
    if (wb_original(st, Py_TYPE(app), WB(st, WB_log_request), WE_APP_LOG_REQUEST)) {
        return wb_log_plain(st, app, handler);
    }
    return PyObject_CallMethodOneArg(app, WB(st, WB_log_request), handler);
}

/* _log_request(application, handler): application.log_request(handler),
 * done here while that is web.py's. */
static PyObject *
wb_log_request(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    tc_state *st = PyModule_GetState(module);

    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "_log_request(application, handler)");
        return NULL;
    }
    if (st->web_env == NULL) {
        return PyObject_CallMethodOneArg(args[0], WB(st, WB_log_request), args[1]);
    }
    return wb_log(st, args[0], args[1]);
}

/* -------------------------------------------------------------- finish */

/* Bits of web._MASK_NAMES' first names (web_setup checks them). */
enum { WM_PREPARE = 1, WM_ON_FINISH = 2, WM_SET_DEFAULT_HEADERS = 4, WM_LOG = 8 };
#define WM_FINISH_PARTS (~0xfULL)
/* set_etag_header, compute_etag, check_etag_header: called only when
 * finish() adds the Etag itself. */
#define WM_ETAG_PARTS 0x70ULL

/* self.<wb_rh_attrs[i]>: a new reference. */
static PyObject *
wb_rh_get(tc_state *st, tc_slotmap *m, PyObject *self, int i)
{
    return tc_slot_load(m, self, i, WB(st, wb_rh_attrs[i]));
}

/* 1 when o is the str text (an exact str), else 0. */
static int
wb_is_text(PyObject *o, PyObject *text)
{
    return o == text || (PyUnicode_CheckExact(o) && PyUnicode_Compare(o, text) == 0);
}

/* An ASCII str of the n bytes at p. */
static PyObject *
wb_ascii(const char *p, Py_ssize_t n)
{
    PyObject *s = PyUnicode_New(n, 127);
    if (s != NULL) {
        memcpy(PyUnicode_1BYTE_DATA(s), p, (size_t)n);
    }
    return s;
}

/* '"' + _sha1(body).hexdigest() + '"' (web's _sha1, looked up now). */
static PyObject *
wb_etag(tc_state *st, PyObject *body)
{
    PyObject *sha1 = wb_global(st, WB__sha1), *h, *hex, *quote, *left, *out;

    if (sha1 == WE(st, WE_SHA1) && PyBytes_CheckExact(body) &&
        (size_t)PyBytes_GET_SIZE(body) <= tc_sha1_limit()) {
        /* hashlib.sha1's answer, worked out here for a short body (sha1.c) */
        char text[42];
        text[0] = text[41] = '"';
        tc_sha1_hex((const unsigned char *)PyBytes_AS_STRING(body),
                    (size_t)PyBytes_GET_SIZE(body), text + 1);
        return wb_ascii(text, 42);
    }
    h = sha1 != NULL ? PyObject_CallOneArg(sha1, body) : NULL;
    hex = h != NULL ? PyObject_CallMethodNoArgs(h, WB(st, WB_hexdigest)) : NULL;
    Py_XDECREF(h);
    if (hex == NULL) {
        return NULL;
    }
    if (PyUnicode_CheckExact(hex) && PyUnicode_IS_ASCII(hex) && PyUnicode_GET_LENGTH(hex) <= 256) {
        /* (the usual forty hex digits, put between quotes directly) */
        char text[258];
        Py_ssize_t n = PyUnicode_GET_LENGTH(hex);
        text[0] = '"';
        memcpy(text + 1, PyUnicode_1BYTE_DATA(hex), (size_t)n);
        text[n + 1] = '"';
        Py_DECREF(hex);
        return wb_ascii(text, n + 2);
    }
    quote = PyUnicode_FromOrdinal('"');
    left = quote != NULL ? PyUnicode_Concat(quote, hex) : NULL;
    out = left != NULL ? PyUnicode_Concat(left, quote) : NULL;
    Py_DECREF(hex);
    Py_XDECREF(quote);
    Py_XDECREF(left);
    return out;
}

/* for morsel in jar.values(): self.add_header("Set-Cookie", morsel.OutputString(None)) */
static int
wb_add_cookies(tc_state *st, PyObject *self, PyObject *jar)
{
    PyObject *values = PyObject_CallMethodNoArgs(jar, WB(st, WB_values));
    PyObject *it = values != NULL ? PyObject_GetIter(values) : NULL, *morsel;

    Py_XDECREF(values);
    if (it == NULL) {
        return -1;
    }
    while ((morsel = PyIter_Next(it)) != NULL) {
        PyObject *text = PyObject_CallMethodOneArg(morsel, WB(st, WB_OutputString), Py_None);
        PyObject *call[3] = {self, WB(st, WB_Set_Cookie), text}, *r = NULL;
        if (text != NULL) {
            r = PyObject_VectorcallMethod(WB(st, WB_add_header), call,
                                          3 | PY_VECTORCALL_ARGUMENTS_OFFSET, NULL);
        }
        Py_XDECREF(text);
        Py_DECREF(morsel);
        if (r == NULL) {
            Py_DECREF(it);
            return -1;
        }
        Py_DECREF(r);
    }
    Py_DECREF(it);
    return PyErr_Occurred() ? -1 : 0;
}

/* The Etag step of a 200 answering a GET or HEAD, as _send_whole_response
 * takes it: unless the headers have an Etag, set the body's
 * (compute_etag() + set_etag_header()), and when the request has an
 * If-None-Match that check_etag_header() finds matching,
 * self.set_status(304).  1 when the response became a 304, 0 when not,
 * -1 on error. */
static int
wb_etag_step(tc_state *st, PyObject *self, PyObject *request, PyObject *headers,
             PyObject *fields, PyObject *body)
{
    PyObject *etag, *rq_headers, *asked_in, *r;
    int has, asked, found;

    has = PyDict_Contains(fields, WB(st, WB_Etag));
    if (has != 0) {
        return has < 0 ? -1 : 0;
    }
    /* hex digits need no check */
    etag = wb_etag(st, body);
    if (etag == NULL || wb_put_field(st, fields, headers, WB(st, WB_Etag), etag) < 0) {
        Py_XDECREF(etag);
        return -1;
    }
    Py_DECREF(etag);
    rq_headers = tc_request_get(st, request, TC_RQ_HEADERS);
    if (rq_headers == NULL) {
        return -1;
    }
    asked_in = Py_TYPE(rq_headers) == st->http_headers ? tc_headers_get(st, rq_headers, TC_HD_DICT)
                                                        : Py_NewRef(rq_headers);
    Py_DECREF(rq_headers);
    asked = asked_in != NULL ? PySequence_Contains(asked_in, WB(st, WB_If_None_Match)) : -1;
    Py_XDECREF(asked_in);
    if (asked <= 0) {
        return asked;
    }
    r = PyObject_CallMethodNoArgs(self, WB(st, WB_check_etag_header));
    found = r != NULL ? PyObject_IsTrue(r) : -1;
    Py_XDECREF(r);
    if (found <= 0) {
        return found;
    }
    {
        PyObject *code = PyLong_FromLong(304);
        r = code != NULL ? PyObject_CallMethodOneArg(self, WB(st, WB_set_status), code) : NULL;
        Py_XDECREF(code);
    }
    if (r == NULL) {
        return -1;
    }
    Py_DECREF(r);
    return 1;
}

/* What finish() does, once it has checked the case (wb_finish): the steps
 * of _send_whole_response(connection) and the rest of finish(), with the
 * values the checks read.  Returns write_headers' Future. */
static PyObject *
wb_finish_whole(tc_state *st, tc_slotmap *m, PyObject *self, PyObject *request,
                PyObject *connection, PyObject *buffered, PyObject *headers,
                PyObject *fields, long code, PyObject *method, unsigned long long mask)
{
    PyObject *body = NULL, *code_obj = NULL, *reason = NULL, *line = NULL, *sent = NULL;
    PyObject *jar = NULL, *r, *app;
    int has;

    body = tc_bytes_join(buffered);
    if (body == NULL) {
        return NULL;
    }
    Py_INCREF(buffered);
    if (code == 200 && (wb_is_text(method, WB(st, WB_GET)) || wb_is_text(method, WB(st, WB_HEAD)))) {
        int now = wb_etag_step(st, self, request, headers, fields, body);
        if (now < 0) {
            goto error;
        }
        if (now) {
            /* code = 304 (set_status done); buffered = self._write_buffer = [] */
            code = 304;
            Py_SETREF(buffered, PyList_New(0));
            if (buffered == NULL || wb_rh_set(st, m, self, RH__write_buffer, buffered) < 0) {
                goto error;
            }
            Py_SETREF(body, PyBytes_FromStringAndSize(NULL, 0));
            if (body == NULL) {
                goto error;
            }
        }
    }
    if (code == 204 || code == 304 || (code >= 100 && code < 200)) {
        /* (the case is checked for a body beforehand: assert not buffered) */
        r = PyObject_CallMethodNoArgs(self, WB(st, WB__clear_representation_headers));
        if (r == NULL) {
            goto error;
        }
        Py_DECREF(r);
    }
    else {
        has = PyDict_Contains(fields, st->str_Content_Length);
        if (has < 0) {
            goto error;
        }
        if (!has) {
            char digits[TC_NUM_BUF];
            PyObject *length = wb_ascii(digits, tc_int_repr(PyBytes_GET_SIZE(body), digits));
            if (length == NULL ||
                wb_put_field(st, fields, headers, st->str_Content_Length, length) < 0) {
                Py_XDECREF(length);
                goto error;
            }
            Py_DECREF(length);
        }
    }
    /* Release the reference taken in __init__. */
    r = wb_conn_set_close_callback(st, connection, Py_None);
    if (r == NULL) {
        goto error;
    }
    Py_DECREF(r);
    /* flush(include_footers=True) of the first and only chunk. */
    Py_SETREF(buffered, PyList_New(0));
    if (buffered == NULL || wb_rh_set(st, m, self, RH__write_buffer, buffered) < 0 ||
        wb_rh_set(st, m, self, RH__headers_written, Py_True) < 0 ||
        tc_lookup_attr(self, WB(st, WB__new_cookie), &jar) < 0) {
        goto error;
    }
    if (jar != NULL && jar != Py_None && wb_add_cookies(st, self, jar) < 0) {
        goto error;
    }
    if (wb_is_text(method, WB(st, WB_HEAD))) {
        Py_SETREF(body, PyBytes_FromStringAndSize(NULL, 0));
        if (body == NULL) {
            goto error;
        }
    }
    /* connection.write_headers(ResponseStartLine("", code, self._reason), headers, body) */
    if (code_obj == NULL && (code_obj = PyLong_FromLong(code)) == NULL) {
        goto error;
    }
    reason = wb_rh_get(st, m, self, RH__reason);
    line = reason != NULL ? tc_h1_start_line(st->response_start_line, WB(st, WB_empty), code_obj,
                                             reason)
                          : NULL;
    if (line == NULL) {
        goto error;
    }
    {
        PyObject *call[4] = {connection, line, headers, body};
        int native = wb_conn_native(st, connection, WC_WRITE_HEADERS);
        sent = native < 0 ? NULL
               : native   ? tc_h1_call_write_headers(connection, call + 1, 3)
                          : PyObject_VectorcallMethod(WB(st, WB_write_headers), call,
                                                      4 | PY_VECTORCALL_ARGUMENTS_OFFSET, NULL);
    }
    if (sent == NULL) {
        goto error;
    }
    /* the rest of finish() */
    {
        int native = wb_conn_native(st, connection, WC_FINISH);
        r = native < 0 ? NULL
            : native   ? tc_h1_call_finish(connection)
                       : PyObject_CallMethodNoArgs(connection, st->str_finish);
    }
    if (r == NULL) {
        goto error;
    }
    Py_DECREF(r);
    if (mask & WM_LOG) {
        r = PyObject_CallMethodNoArgs(self, WB(st, WB__log));
    }
    else {
        app = wb_rh_get(st, m, self, RH_application);
        r = app != NULL ? wb_log(st, app, self) : NULL;
        Py_XDECREF(app);
    }
    if (r == NULL) {
        goto error;
    }
    Py_DECREF(r);
    if (wb_rh_set(st, m, self, RH__finished, Py_True) < 0) {
        goto error;
    }
    if (mask & WM_ON_FINISH) {
        r = PyObject_CallMethodNoArgs(self, WB(st, WB_on_finish));
        if (r == NULL) {
            goto error;
        }
        Py_DECREF(r);
    }
    if (PyObject_SetAttr(self, WB(st, WB_ui), Py_None) < 0) {
        goto error;
    }
    goto done;
error:
    Py_CLEAR(sent);
done:
    Py_XDECREF(body);
    Py_XDECREF(buffered);
    Py_XDECREF(code_obj);
    Py_XDECREF(reason);
    Py_XDECREF(line);
    Py_XDECREF(jar);
    return sent;
}

/* _finish(handler): RequestHandler.finish() with no chunk, for the usual
 * case -- nothing to finish twice, the original methods finish() and
 * _send_whole_response call (the override mask's _FINISH_PARTS, and
 * _send_whole_response itself; the Etag methods may be replaced when an
 * Etag is set already, as finish() then calls none), no output transforms,
 * no headers written
 * yet, the original HTTPHeaders class, an int status code, a list buffer
 * -- done as those Python functions do it, in their order, through the
 * same attributes and calls; prepare / on_finish / _log overrides are
 * called as finish() calls them.  NotImplemented, with nothing done, for
 * any other case: finish() then carries on in Python. */
static PyObject *
wb_finish(PyObject *module, PyObject *self)
{
    tc_state *st = PyModule_GetState(module);
    PyTypeObject *tp = Py_TYPE(self);
    PyObject *finished = NULL, *request = NULL, *connection = NULL, *transforms = NULL;
    PyObject *written = NULL, *headers = NULL, *buffered = NULL, *fields = NULL;
    PyObject *code_obj = NULL, *method = NULL, *result = NULL;
    unsigned long long mask;
    long code = 0;
    tc_slotmap *m;
    int ok = 0;

    if (st->web_env == NULL || st->response_start_line == NULL || st->http_headers == NULL ||
        !wb_original(st, tp, WB(st, WB__send_whole_response), WE_RH_SEND_WHOLE) ||
        (m = wb_rh_map(st, tp)) == NULL) {
        Py_RETURN_NOTIMPLEMENTED;
    }
    if (tc_override_mask(st, tp, WE(st, WE_MASK_NAMES), WE(st, WE_MASK_ORIGINALS), &mask) < 0) {
        return NULL;
    }
    /* if self._finished: raise ...; connection = self.request.connection */
    finished = wb_rh_get(st, m, self, RH__finished);
    request = finished != NULL ? wb_rh_get(st, m, self, RH_request) : NULL;
    connection = request != NULL ? tc_request_get(st, request, TC_RQ_CONNECTION) : NULL;
    if (connection == NULL) {
        goto done;
    }
    if (finished != Py_False || connection == Py_None ||
        (mask & WM_FINISH_PARTS & ~WM_ETAG_PARTS)) {
        goto checked;
    }
    if (tc_lookup_attr(self, WB(st, WB__transforms), &transforms) < 0) {
        goto done;
    }
    written = transforms != NULL ? wb_rh_get(st, m, self, RH__headers_written) : NULL;
    headers = written != NULL ? wb_rh_get(st, m, self, RH__headers) : NULL;
    buffered = headers != NULL ? wb_rh_get(st, m, self, RH__write_buffer) : NULL;
    code_obj = buffered != NULL ? wb_rh_get(st, m, self, RH__status_code) : NULL;
    method = code_obj != NULL ? tc_request_get(st, request, TC_RQ_METHOD) : NULL;
    if (method == NULL) {
        if (transforms == NULL) {
            goto checked; /* (no _transforms: finish() says so) */
        }
        goto done;
    }
    if (!PyList_CheckExact(transforms) || PyList_GET_SIZE(transforms) != 0 ||
        written != Py_False || Py_TYPE(headers) != st->http_headers ||
        !PyList_CheckExact(buffered) || !PyLong_CheckExact(code_obj) ||
        !PyUnicode_CheckExact(method)) {
        goto checked;
    }
    code = PyLong_AsLong(code_obj);
    if (code == -1 && PyErr_Occurred()) {
        PyErr_Clear();
        goto checked;
    }
    if ((code == 204 || code == 304 || (code >= 100 && code < 200)) &&
        PyList_GET_SIZE(buffered) != 0) {
        goto checked; /* (finish()'s assertion) */
    }
    fields = tc_headers_get(st, headers, TC_HD_DICT);
    if (fields == NULL) {
        goto done;
    }
    ok = PyDict_CheckExact(fields);
    if (ok && (mask & WM_ETAG_PARTS) && code == 200 &&
        (wb_is_text(method, WB(st, WB_GET)) || wb_is_text(method, WB(st, WB_HEAD)))) {
        /* A replaced Etag method matters only when finish() adds the Etag. */
        ok = PyDict_Contains(fields, WB(st, WB_Etag));
        if (ok < 0) {
            goto done;
        }
    }
checked:
    if (!ok) {
        result = Py_NewRef(Py_NotImplemented);
        goto done;
    }
    result = wb_finish_whole(st, m, self, request, connection, buffered, headers, fields, code,
                             method, mask);
done:
    Py_XDECREF(finished);
    Py_XDECREF(request);
    Py_XDECREF(connection);
    Py_XDECREF(transforms);
    Py_XDECREF(written);
    Py_XDECREF(headers);
    Py_XDECREF(buffered);
    Py_XDECREF(fields);
    Py_XDECREF(code_obj);
    Py_XDECREF(method);
    return result;
}

/* -------------------------------------------------------------- write */

/* _write(handler, chunk): RequestHandler.write(chunk) for a handler not
 * finished and a chunk that is exactly bytes, str or dict: the bytes (str
 * as UTF-8, a dict as escape.json_encode's text, after Content-Type is set
 * to JSON as set_header would set it) appended to _write_buffer.  For a
 * dict, escape.json_encode must be the original and the class must keep
 * set_header and _convert_header_value, with the original HTTPHeaders.
 * NotImplemented, with nothing done, otherwise (write() then raises or
 * carries on itself). */
static PyObject *
wb_write(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    tc_state *st = PyModule_GetState(module);
    PyObject *self, *chunk, *finished, *data = NULL, *buffer, *result = NULL;
    tc_slotmap *m;

    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "_write(handler, chunk)");
        return NULL;
    }
    self = args[0], chunk = args[1];
    if (st->web_env == NULL || (m = wb_rh_map(st, Py_TYPE(self))) == NULL) {
        Py_RETURN_NOTIMPLEMENTED;
    }
    finished = wb_rh_get(st, m, self, RH__finished);
    if (finished == NULL) {
        return NULL;
    }
    Py_DECREF(finished);
    if (finished != Py_False) {
        Py_RETURN_NOTIMPLEMENTED; /* (finish()ed: write() raises) */
    }
    if (PyBytes_CheckExact(chunk)) {
        data = Py_NewRef(chunk);
    }
    else if (PyUnicode_CheckExact(chunk)) {
        data = PyUnicode_AsUTF8String(chunk);
        if (data == NULL) {
            return NULL;
        }
    }
    else if (PyDict_CheckExact(chunk)) {
        PyObject *escape, *encode, *headers, *fields, *text;
        unsigned long long mask;
        int rc;
        escape = wb_global(st, WB_escape);
        encode = escape != NULL ? PyObject_GetAttr(escape, WB(st, WB_json_encode)) : NULL;
        if (encode == NULL) {
            return NULL;
        }
        Py_DECREF(encode);
        if (encode != WE(st, WE_JSON_ENCODE) ||
            tc_override_mask(st, Py_TYPE(self), WE(st, WE_MASK_NAMES), WE(st, WE_MASK_ORIGINALS),
                             &mask) < 0) {
            return PyErr_Occurred() ? NULL : Py_NewRef(Py_NotImplemented);
        }
        if (mask & st->wb_set_header_bits) {
            Py_RETURN_NOTIMPLEMENTED;
        }
        headers = wb_rh_get(st, m, self, RH__headers);
        if (headers == NULL) {
            return NULL;
        }
        if (Py_TYPE(headers) != st->http_headers) {
            Py_DECREF(headers);
            Py_RETURN_NOTIMPLEMENTED;
        }
        /* set_header("Content-Type", ...) with a constant, valid value */
        fields = tc_headers_get(st, headers, TC_HD_DICT);
        rc = fields != NULL
                 ? wb_put_field(st, fields, headers, st->str_Content_Type, WB(st, WB_json_type))
                 : -1;
        Py_XDECREF(fields);
        Py_DECREF(headers);
        if (rc < 0) {
            return NULL;
        }
        /* escape.json_encode(chunk).encode("utf-8"): straight to bytes for
         * plain data (json.c), else through json_encode */
        data = tc_json_encode_utf8(chunk);
        if (data == Py_NotImplemented) {
            Py_DECREF(data);
            text = PyObject_CallOneArg(WE(st, WE_JSON_ENCODE), chunk);
            if (text == NULL) {
                return NULL;
            }
            data = PyUnicode_Check(text) ? PyUnicode_AsUTF8String(text)
                                         : PyObject_CallMethod(text, "encode", "s", "utf-8");
            Py_DECREF(text);
        }
        if (data == NULL) {
            return NULL;
        }
    }
    else {
        Py_RETURN_NOTIMPLEMENTED;
    }
    /* self._write_buffer.append(data) */
    buffer = wb_rh_get(st, m, self, RH__write_buffer);
    if (buffer != NULL && PyList_CheckExact(buffer)) {
        result = PyList_Append(buffer, data) < 0 ? NULL : Py_NewRef(Py_None);
    }
    else if (buffer != NULL) {
        PyObject *r = PyObject_CallMethodOneArg(buffer, WB(st, WB_append), data);
        result = r == NULL ? NULL : Py_NewRef(Py_None);
        Py_XDECREF(r);
    }
    Py_XDECREF(buffer);
    Py_DECREF(data);
    return result;
}

/* ------------------------------------------------------------ _execute */

/* One path argument decoded as the original decode_argument does it:
 * *text the str of exact bytes (UTF-8) or None for None.  0 on success, 1
 * for another type or bytes that are not UTF-8 (decode_argument's own 400
 * is for _execute to raise), -1 on error. */
static int
wb_decode_one(PyObject *item, PyObject **text)
{
    if (item == Py_None) {
        *text = Py_NewRef(Py_None);
        return 0;
    }
    if (!PyBytes_CheckExact(item)) {
        return 1;
    }
    *text = PyUnicode_DecodeUTF8(PyBytes_AS_STRING(item), PyBytes_GET_SIZE(item), NULL);
    if (*text != NULL) {
        return 0;
    }
    if (!PyErr_ExceptionMatches(PyExc_UnicodeDecodeError)) {
        return -1;
    }
    PyErr_Clear();
    return 1;
}

/* The path arguments decoded (wb_decode_one) while decode_argument and
 * web's _unicode are the originals: *out_args a new list and *out_kwargs a
 * new dict.  0 on success, 1 when that does not apply, -1 on error. */
static int
wb_decode_path_args(tc_state *st, PyTypeObject *tp, PyObject *args, PyObject *kwargs,
                    PyObject **out_args, PyObject **out_kwargs)
{
    PyObject *list, *dict, *key, *value, *text;
    Py_ssize_t i, n = PyTuple_GET_SIZE(args), pos = 0;
    int rc = 0;

    *out_args = *out_kwargs = NULL;
    if (n != 0 || PyDict_GET_SIZE(kwargs) != 0) {
        PyObject *unicode = tc_globals_get(st, st->web_globals, WB(st, WB__unicode));
        if (unicode != WE(st, WE_TO_UNICODE) ||
            !wb_original(st, tp, WB(st, WB_decode_argument), WE_RH_DECODE_ARGUMENT)) {
            return PyErr_Occurred() ? -1 : 1;
        }
    }
    list = PyList_New(n);
    dict = list != NULL ? PyDict_New() : NULL;
    if (dict == NULL) {
        Py_XDECREF(list);
        return -1;
    }
    for (i = 0; i < n && rc == 0; i++) {
        if ((rc = wb_decode_one(PyTuple_GET_ITEM(args, i), &text)) == 0) {
            PyList_SET_ITEM(list, i, text);
        }
    }
    while (rc == 0 && PyDict_Next(kwargs, &pos, &key, &value)) {
        if ((rc = wb_decode_one(value, &text)) == 0) {
            rc = PyDict_SetItem(dict, key, text);
            Py_DECREF(text);
        }
    }
    if (rc != 0) {
        Py_DECREF(list);
        Py_DECREF(dict);
        return rc;
    }
    *out_args = list;
    *out_kwargs = dict;
    return 0;
}

/* _execute_plain(handler, args, kwargs): the steps RequestHandler._execute
 * takes before calling the verb method, for the usual case -- path
 * arguments that decode_argument (the original) decodes without error,
 * the request's method in SUPPORTED_METHODS, a handler class that does not
 * stream the body and keeps RequestHandler's prepare, no _prepared_future,
 * not finished, a request whose _parse_body has nothing to do, a safe verb
 * or no xsrf_cookies setting -- done here (path_args and path_kwargs set),
 * and the verb method returned, bound.  None, with nothing done, for any
 * other case: _execute then takes its steps itself. */
static PyObject *
wb_execute_plain(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    tc_state *st = PyModule_GetState(module);
    PyObject *self, *finished = NULL, *waiting = NULL, *request = NULL, *verb = NULL;
    PyObject *supported = NULL, *name, *list = NULL, *dict = NULL, *result = NULL;
    PyTypeObject *tp;
    unsigned long long mask;
    tc_slotmap *m;

    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "_execute_plain(handler, args, kwargs)");
        return NULL;
    }
    self = args[0];
    tp = Py_TYPE(self);
    if (st->web_env == NULL || !PyTuple_CheckExact(args[1]) || !PyDict_CheckExact(args[2]) ||
        Py_TYPE(tp) != &PyType_Type ||
        _PyType_Lookup(tp, WB(st, WB__stream_request_body)) != Py_False ||
        (m = wb_rh_map(st, tp)) == NULL) {
        Py_RETURN_NONE;
    }
    if (tc_override_mask(st, tp, WE(st, WE_MASK_NAMES), WE(st, WE_MASK_ORIGINALS), &mask) < 0) {
        return NULL;
    }
    if (mask & WM_PREPARE) {
        Py_RETURN_NONE;
    }
    finished = wb_rh_get(st, m, self, RH__finished);
    waiting = finished != NULL ? wb_rh_get(st, m, self, RH__prepared_future) : NULL;
    request = waiting != NULL ? wb_rh_get(st, m, self, RH_request) : NULL;
    verb = request != NULL ? tc_request_get(st, request, TC_RQ_METHOD) : NULL;
    if (verb == NULL) {
        goto done;
    }
    if (finished != Py_False || waiting != Py_None || !PyUnicode_CheckExact(verb)) {
        goto checked;
    }
    supported = PyObject_GetAttr(self, WB(st, WB_SUPPORTED_METHODS));
    if (supported == NULL) {
        goto done;
    }
    if (!PyTuple_CheckExact(supported)) {
        goto checked; /* (its __contains__ is left to _execute to call) */
    }
    switch (PySequence_Contains(supported, verb)) {
    case -1:
        goto done;
    case 0:
        goto checked;
    }
    switch (tc_request_parse_is_noop(st, request, NULL)) {
    case -1:
        goto done;
    case 0:
        goto checked;
    }
    if (!wb_is_text(verb, WB(st, WB_GET)) && !wb_is_text(verb, WB(st, WB_HEAD)) &&
        !wb_is_text(verb, WB(st, WB_OPTIONS))) {
        /* self.application.settings.get("xsrf_cookies"), for a dict */
        PyObject *app = wb_rh_get(st, m, self, RH_application), *settings, *on;
        int truth;
        settings = app != NULL ? PyObject_GetAttr(app, WB(st, WB_settings)) : NULL;
        Py_XDECREF(app);
        if (settings == NULL) {
            goto done;
        }
        if (!PyDict_CheckExact(settings)) {
            Py_DECREF(settings);
            goto checked;
        }
        on = PyDict_GetItemWithError(settings, WB(st, WB_xsrf_cookies));
        truth = on != NULL ? PyObject_IsTrue(on) : PyErr_Occurred() ? -1 : 0;
        Py_DECREF(settings);
        if (truth != 0) {
            if (truth < 0) {
                goto done;
            }
            goto checked;
        }
    }
    {
        PyObject *methods = wb_global(st, WB__VERB_METHODS);
        if (methods == NULL) {
            goto done;
        }
        name = PyDict_CheckExact(methods) ? PyDict_GetItemWithError(methods, verb) : NULL;
        if (name == NULL || !PyUnicode_Check(name) || PyUnicode_GET_LENGTH(name) == 0) {
            if (PyErr_Occurred()) {
                goto done;
            }
            goto checked;
        }
        Py_INCREF(name);
    }
    /* self.path_args = [decode(a) ...]; self.path_kwargs = {k: decode(v) ...};
     * getattr(self, method_name) */
    switch (wb_decode_path_args(st, tp, args[1], args[2], &list, &dict)) {
    case -1:
        Py_DECREF(name);
        goto done;
    case 1:
        Py_DECREF(name);
        goto checked;
    }
    if (PyObject_SetAttr(self, WB(st, WB_path_args), list) == 0 &&
        PyObject_SetAttr(self, WB(st, WB_path_kwargs), dict) == 0) {
        result = PyObject_GetAttr(self, name);
    }
    Py_DECREF(name);
    goto done;
checked:
    result = Py_NewRef(Py_None);
done:
    Py_XDECREF(finished);
    Py_XDECREF(waiting);
    Py_XDECREF(request);
    Py_XDECREF(verb);
    Py_XDECREF(supported);
    Py_XDECREF(list);
    Py_XDECREF(dict);
    return result;
}

/* if not self._finished and self._auto_finish: self.finish() -- the
 * original finish() (its C step, or the whole of it when that declines)
 * while neither self's class nor self replaces it.  0 / -1. */
static int
wb_finish_when_due(PyObject *module, tc_state *st, PyObject *self)
{
    tc_slotmap *m = wb_rh_map(st, Py_TYPE(self));
    PyObject *v, *r;
    int truth, plain;

    v = wb_rh_get(st, m, self, RH__finished);
    truth = v != NULL ? PyObject_IsTrue(v) : -1;
    Py_XDECREF(v);
    if (truth != 0) {
        return truth < 0 ? -1 : 0;
    }
    v = wb_rh_get(st, m, self, RH__auto_finish);
    truth = v != NULL ? PyObject_IsTrue(v) : -1;
    Py_XDECREF(v);
    if (truth <= 0) {
        return truth;
    }
    plain = wb_method_is(self, st->str_finish, WE(st, WE_RH_FINISH));
    if (plain < 0) {
        return -1;
    }
    if (plain) {
        r = wb_finish(module, self);
        if (r == Py_NotImplemented) {
            Py_DECREF(r);
            r = PyObject_CallOneArg(WE(st, WE_RH_FINISH), self);
        }
    }
    else {
        r = PyObject_CallMethodNoArgs(self, st->str_finish);
    }
    Py_XDECREF(r);
    return r != NULL ? 0 : -1;
}

/* _finish_when_due(handler): what _execute does once the verb method
 * returned None -- wb_finish_when_due -- for the usual case; None. */
static PyObject *
wb_finish_when_due_py(PyObject *module, PyObject *self)
{
    tc_state *st = PyModule_GetState(module);

    if (st->web_env == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "_finish_when_due() before web_setup()");
        return NULL;
    }
    if (wb_finish_when_due(module, st, self) < 0) {
        return NULL;
    }
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
    {
        /* finish() (wb_finish) knows the first seven bits of the mask. */
        static const char *const first[] = {"prepare",         "on_finish",    "set_default_headers",
                                            "_log",            "set_etag_header", "compute_etag",
                                            "check_etag_header"};
        const int known = (int)(sizeof(first) / sizeof(first[0]));
        PyObject *names = PyTuple_GET_ITEM(env, WE_MASK_NAMES);
        PyObject *originals = PyTuple_GET_ITEM(env, WE_MASK_ORIGINALS);
        int i;
        if (!PyTuple_CheckExact(names) || !PyTuple_CheckExact(originals) ||
            PyTuple_GET_SIZE(names) < known ||
            PyTuple_GET_SIZE(names) != PyTuple_GET_SIZE(originals)) {
            PyErr_SetString(PyExc_TypeError, "web_setup(env): bad mask names");
            return NULL;
        }
        for (i = 0; i < known; i++) {
            PyObject *name = PyTuple_GET_ITEM(names, i);
            if (!PyUnicode_Check(name) || PyUnicode_CompareWithASCIIString(name, first[i]) != 0) {
                PyErr_Format(PyExc_ValueError, "web_setup(env): mask bit %d must be %s", i,
                             first[i]);
                return NULL;
            }
        }
        /* write() sets Content-Type itself unless one of these is replaced */
        st->wb_set_header_bits = 0;
        for (i = 0; i < PyTuple_GET_SIZE(names) && i < 64; i++) {
            PyObject *name = PyTuple_GET_ITEM(names, i);
            if (PyUnicode_Check(name) &&
                (PyUnicode_CompareWithASCIIString(name, "set_header") == 0 ||
                 PyUnicode_CompareWithASCIIString(name, "_convert_header_value") == 0)) {
                st->wb_set_header_bits |= 1ULL << i;
            }
        }
        if (st->wb_set_header_bits == 0) {
            PyErr_SetString(PyExc_ValueError, "web_setup(env): the mask names lack set_header");
            return NULL;
        }
    }
    find = PyTuple_GET_ITEM(env, WE_FIND_HANDLER);
    Py_XSETREF(st->web_globals, Py_NewRef(PyFunction_GET_GLOBALS(find)));
    Py_XSETREF(st->web_env, Py_NewRef(env));
    /* _HandlerDelegate's attributes: __init__'s, then handler (execute's). */
    if (tc_slotmap_set(&st->hd_slots, (PyTypeObject *)PyTuple_GET_ITEM(env, WE_HD),
                       st->wb_names, WB_handler + 1) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *
wb_web_counts(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(ignored))
{
    return Py_BuildValue("(nnn)", wb_delegates, wb_executes, wb_handlers);
}

static PyMethodDef wb_functions[] = {
    {"web_setup", wb_web_setup, METH_O,
     PyDoc_STR("web_setup(env)\n--\n\n"
               "web's Application, _HandlerDelegate and RequestHandler pieces the native\n"
               "server stands in for while they are the originals (csrc/handler.c).")},
    {"_set_header", (PyCFunction)(void (*)(void))wb_set_header, METH_FASTCALL,
     PyDoc_STR("_set_header(handler, name, value)\n--\n\n"
               "RequestHandler.set_header for a str or int value while the methods it\n"
               "calls are the originals; NotImplemented (nothing done) otherwise.")},
    {"_write", (PyCFunction)(void (*)(void))wb_write, METH_FASTCALL,
     PyDoc_STR("_write(handler, chunk)\n--\n\n"
               "RequestHandler.write(chunk) for bytes, str or a dict, in C for the\n"
               "usual case; NotImplemented, with nothing done, otherwise.")},
    {"_execute_plain", (PyCFunction)(void (*)(void))wb_execute_plain, METH_FASTCALL,
     PyDoc_STR("_execute_plain(handler, args, kwargs)\n--\n\n"
               "The first steps of RequestHandler._execute for the usual case, in C;\n"
               "the verb method, bound, or None (nothing done) for any other case.")},
    {"_finish_when_due", wb_finish_when_due_py, METH_O,
     PyDoc_STR("_finish_when_due(handler)\n--\n\n"
               "if not handler._finished and handler._auto_finish: handler.finish(),\n"
               "in C (the original finish()'s C step when neither the class nor the\n"
               "instance replaces it).")},
    {"_finish", wb_finish, METH_O,
     PyDoc_STR("_finish(handler)\n--\n\n"
               "RequestHandler.finish() with no chunk, in C for the usual case (see\n"
               "csrc/handler.c); NotImplemented, with nothing done, otherwise.")},
    {"_log_request", (PyCFunction)(void (*)(void))wb_log_request, METH_FASTCALL,
     PyDoc_STR("_log_request(application, handler)\n--\n\n"
               "application.log_request(handler), in C while that is web.py's.")},
    {"_web_counts", wb_web_counts, METH_NOARGS,
     PyDoc_STR("_web_counts()\n--\n\n"
               "(_HandlerDelegates made, execute() steps run, handlers made) by the\n"
               "native server in C.")},
    {NULL, NULL, 0, NULL},
};

int
tc_web_init(PyObject *module, tc_state *st)
{
    if (tc_intern_names(st->wb_names, wb_texts, WB_COUNT) < 0) {
        return -1;
    }
    return PyModule_AddFunctions(module, wb_functions);
}

int
tc_web_traverse(tc_state *st, visitproc visit, void *arg)
{
    Py_VISIT(st->web_env);
    Py_VISIT(st->web_globals);
    Py_VISIT(st->wb_eager_descr);
    for (int i = 0; i < 3; i++) {
        Py_VISIT(st->wb_conn_descrs[i]);
    }
    Py_VISIT(st->wb_hdr_server);
    Py_VISIT(st->wb_hdr_date);
    Py_VISIT(st->wb_hdr_values);
    Py_VISIT(st->wb_hdr_lists);
    return 0;
}

void
tc_web_clear(tc_state *st)
{
    Py_CLEAR(st->web_env);
    Py_CLEAR(st->web_globals);
    Py_CLEAR(st->wb_eager_descr);
    for (int i = 0; i < 3; i++) {
        Py_CLEAR(st->wb_conn_descrs[i]);
    }
    Py_CLEAR(st->wb_hdr_server);
    Py_CLEAR(st->wb_hdr_date);
    Py_CLEAR(st->wb_hdr_values);
    Py_CLEAR(st->wb_hdr_lists);
    tc_clear_names(st->wb_names, TC_WB_NAMES);
}
