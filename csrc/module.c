/*
 * module.c — the tornado_c._core extension module: state, types, versions.
 *
 * Serves every tornado_c module that reaches native code.  Owns the module
 * state (tc_state: type objects and interned strings) and reports the
 * versions of the libraries the extension was built with.
 */
#include "tc.h"

#include "llhttp.h"

#include <sys/socket.h>

static int
core_traverse(PyObject *module, visitproc visit, void *arg)
{
    tc_state *st = PyModule_GetState(module);
    Py_VISIT(st->LoopType);
    Py_VISIT(st->HandleType);
    Py_VISIT(st->TimerHandleType);
    Py_VISIT(st->StreamType);
    Py_VISIT(st->header_regex);
    Py_VISIT(st->HTTP1ConnType);
    Py_VISIT(st->http_headers);
    Py_VISIT(st->request_start_line);
    Py_VISIT(st->http_input_error);
    Py_VISIT(st->http_output_error);
    Py_VISIT(st->HTTP1ClientType);
    Py_VISIT(st->response_start_line);
    Py_VISIT(st->TransportType);
    Py_VISIT(st->buffered_protocol);
    Py_VISIT(st->current_task);
    Py_VISIT(st->current_tasks);
    Py_VISIT(st->DispatchType);
    for (int i = 0; i < TC_MASK_CACHE; i++) {
        Py_VISIT(st->mask_cache[i].names);
        Py_VISIT(st->mask_cache[i].originals);
    }
    {
        int r = tc_web_traverse(st, visit, arg);
        if (r == 0) {
            r = tc_fetch_traverse(st, visit, arg);
        }
        if (r != 0) {
            return r;
        }
    }
    return tc_request_traverse(st, visit, arg);
}

int
tc_intern_names(PyObject **names, const char *const *texts, int n)
{
    int i;
    for (i = 0; i < n; i++) {
        if ((names[i] = PyUnicode_InternFromString(texts[i])) == NULL) {
            return -1;
        }
    }
    return 0;
}

void
tc_clear_names(PyObject **names, int n)
{
    int i;
    for (i = 0; i < n; i++) {
        Py_CLEAR(names[i]);
    }
}

static int
core_clear(PyObject *module)
{
    tc_state *st = PyModule_GetState(module);
    Py_CLEAR(st->LoopType);
    Py_CLEAR(st->HandleType);
    Py_CLEAR(st->TimerHandleType);
    Py_CLEAR(st->str_report_callback_error);
    Py_CLEAR(st->str_debug_slow_callback);
    Py_CLEAR(st->str_check_callback);
    Py_CLEAR(st->str_check_thread);
    Py_CLEAR(st->str_call_soon);
    Py_CLEAR(st->str_call_at);
    Py_CLEAR(st->str_call_soon_threadsafe);
    Py_CLEAR(st->str_context);
    Py_CLEAR(st->kw_loop);
    Py_CLEAR(st->current_task);
    Py_CLEAR(st->current_tasks);
    Py_CLEAR(st->DispatchType);
    for (int i = 0; i < TC_MASK_CACHE; i++) {
        Py_CLEAR(st->mask_cache[i].names);
        Py_CLEAR(st->mask_cache[i].originals);
        st->mask_cache[i].type = NULL;
    }
    tc_request_clear(st);
    tc_web_clear(st);
    tc_static_clear(st);
    tc_fetch_clear(st);
    Py_CLEAR(st->str_request);
    Py_CLEAR(st->str_defaults);
    Py_CLEAR(st->str_get);
    Py_CLEAR(st->str_get_target_delegate);
    Py_CLEAR(st->str_rules);
    Py_CLEAR(st->str_matcher);
    Py_CLEAR(st->str_target);
    Py_CLEAR(st->str_target_kwargs);
    Py_CLEAR(st->str_match);
    Py_CLEAR(st->str_regex);
    Py_CLEAR(st->str_groups);
    Py_CLEAR(st->str_groupindex);
    Py_CLEAR(st->str_groupdict);
    Py_CLEAR(st->str_path);
    Py_CLEAR(st->str_path_args);
    Py_CLEAR(st->str_path_kwargs);
    Py_CLEAR(st->str_application);
    Py_CLEAR(st->str_get_handler_delegate);
    Py_CLEAR(st->str__literal_prefix);
    Py_CLEAR(st->kw_request_callback);
    Py_CLEAR(st->kw_request_router);
    Py_CLEAR(st->str_find_handler);
    Py_CLEAR(st->str_body);
    Py_CLEAR(st->str__parse_body);
    Py_CLEAR(st->str_on_connection_close);
    Py_CLEAR(st->str__whole_body);
    Py_CLEAR(st->str_headers);
    Py_CLEAR(st->str_Content_Type);
    Py_CLEAR(st->str___init__);
    Py_CLEAR(st->str_fileno);
    Py_CLEAR(st->str_set_result);
    Py_CLEAR(st->str_cancelled);
    Py_CLEAR(st->str_search);
    Py_CLEAR(st->str_end);
    Py_CLEAR(st->str_task_factory);
    Py_CLEAR(st->str_create_task);
    Py_CLEAR(st->str_exception);
    Py_CLEAR(st->str_add_done_callback);
    Py_CLEAR(st->str_done);
    Py_CLEAR(st->StreamType);
    Py_CLEAR(st->header_regex);
    Py_CLEAR(st->HTTP1ConnType);
    Py_CLEAR(st->http_headers);
    Py_CLEAR(st->request_start_line);
    Py_CLEAR(st->http_input_error);
    Py_CLEAR(st->http_output_error);
    Py_CLEAR(st->HTTP1ClientType);
    Py_CLEAR(st->response_start_line);
    for (int i = 0; i < TC_H1_METHODS; i++) {
        Py_CLEAR(st->h1_methods[i]);
    }
    for (int i = 0; i < TC_H1_NAME_SLOTS; i++) {
        Py_CLEAR(st->h1_name_cache[i]);
    }
    Py_CLEAR(st->empty_tuple);
    Py_CLEAR(st->str__dict);
    Py_CLEAR(st->str__as_list);
    Py_CLEAR(st->str__last_key);
    Py_CLEAR(st->str_http11);
    Py_CLEAR(st->str_http10);
    Py_CLEAR(st->str_start_request);
    Py_CLEAR(st->str_headers_received);
    Py_CLEAR(st->str_data_received);
    Py_CLEAR(st->str_finish);
    Py_CLEAR(st->str_Connection);
    Py_CLEAR(st->str_close);
    Py_CLEAR(st->str_Keep_Alive);
    Py_CLEAR(st->str_Transfer_Encoding);
    Py_CLEAR(st->str_chunked);
    Py_CLEAR(st->str_Content_Length);
    Py_CLEAR(st->TransportType);
    Py_CLEAR(st->buffered_protocol);
    Py_CLEAR(st->str_get_buffer);
    Py_CLEAR(st->str_buffer_updated);
    Py_CLEAR(st->str_eof_received);
    Py_CLEAR(st->str_connection_lost);
    Py_CLEAR(st->str_pause_writing);
    Py_CLEAR(st->str_resume_writing);
    Py_CLEAR(st->str_fatal_error);
    return 0;
}

static void
core_free(void *module)
{
    core_clear((PyObject *)module);
}

PyDoc_STRVAR(versions_doc,
"versions()\n--\n\n"
"Return a dict with the versions of the native libraries in use: 'libuv'\n"
"(the runtime library's), 'libuv_build' (the headers built against) and\n"
"'llhttp'.");

static PyObject *
core_versions(PyObject *module, PyObject *Py_UNUSED(ignored))
{
    (void)module;
    return Py_BuildValue(
        "{s:s,s:N,s:N,s:O}",
        "libuv", uv_version_string(),
        "libuv_build",
        PyUnicode_FromFormat("%d.%d.%d", UV_VERSION_MAJOR, UV_VERSION_MINOR,
                             UV_VERSION_PATCH),
        "llhttp",
        PyUnicode_FromFormat("%d.%d.%d", LLHTTP_VERSION_MAJOR,
                             LLHTTP_VERSION_MINOR, LLHTTP_VERSION_PATCH),
        "debug_build",
#ifdef TORNADO_C_DEBUG
        Py_True
#else
        Py_False
#endif
    );
}

PyDoc_STRVAR(debug_counters_doc,
"_debug_counters()\n--\n\n"
"Return {'uv_loops': n, 'uv_handles': n}: the libuv loops and handles the\n"
"extension has open now.  Tests check that they balance.");

static PyObject *
core_debug_counters(PyObject *module, PyObject *Py_UNUSED(ignored))
{
    (void)module;
    return Py_BuildValue("{s:n,s:n}", "uv_loops", tc_open_uv_loops,
                         "uv_handles", tc_open_uv_handles);
}

PyDoc_STRVAR(slotmap_checks_doc,
"_slotmap_checks()\n--\n\n"
"How many times a class's slot map has been checked descriptor by\n"
"descriptor because its version tag could not vouch for it.");

static PyObject *
core_slotmap_checks(PyObject *module, PyObject *Py_UNUSED(ignored))
{
    (void)module;
    return PyLong_FromSsize_t(tc_slotmap_checks);
}

PyDoc_STRVAR(websocket_mask_doc,
"websocket_mask(mask, data)\n--\n\n"
"Return data XOR-ed with the 4-byte WebSocket mask (RFC 6455 5.3).");

PyDoc_STRVAR(utf8_doc,
"utf8(value)\n--\n\n"
"value as UTF-8 bytes; bytes and None pass through (tornado_c.escape.utf8).");

PyDoc_STRVAR(to_unicode_doc,
"to_unicode(value)\n--\n\n"
"value as str, bytes decoded as UTF-8; None passes through "
"(tornado_c.escape.to_unicode).");

PyDoc_STRVAR(xhtml_escape_doc,
"xhtml_escape(value)\n--\n\n"
"value (str, or UTF-8 bytes) with & < > \" ' replaced by entity references "
"(tornado_c.escape.xhtml_escape).");

PyDoc_STRVAR(json_encode_doc,
"_json_encode(value)\n--\n\n"
"json.dumps(value) with \"</\" written as \"<\\/\" for plain JSON data (exact "
"dict, list, tuple, str, int, float, bool, None); NotImplemented for "
"anything else (tornado_c.escape.json_encode then calls json.dumps).");


/* _override_mask(cls, names, originals): bit i set when the attribute
 * ``names[i]`` that ``cls`` resolves through its MRO is not
 * ``originals[i]``.  It reads the type's method cache, so a handler can
 * ask on every request which of RequestHandler's methods are overridden
 * or patched (on the class or any base) at the cost of a few lookups --
 * or of none: an answer is remembered with the class's version tag, which
 * CPython clears whenever the class or any of its bases is changed (the
 * same guarantee its method cache relies on), and tags are never reused. */
int
tc_override_mask(tc_state *st, PyTypeObject *tp, PyObject *names, PyObject *originals,
                 unsigned long long *mask)
{
    /* (by class and names: StaticFileHandler is asked of two lists) */
    tc_mask_entry *e =
        &st->mask_cache[(((uintptr_t)tp >> 4) ^ ((uintptr_t)names >> 4)) % TC_MASK_CACHE];
    unsigned long long bits = 0;
    Py_ssize_t i, n;

    if (e->type == tp && e->names == names && e->originals == originals &&
        tc_type_tagged(tp) && tp->tp_version_tag == e->version) {
        *mask = e->mask;
        return 0;
    }
    if (!PyTuple_CheckExact(names) || !PyTuple_CheckExact(originals)) {
        PyErr_SetString(PyExc_TypeError,
                        "_override_mask(cls, names, originals) takes a type and two tuples");
        return -1;
    }
    n = PyTuple_GET_SIZE(names);
    if (n != PyTuple_GET_SIZE(originals) || n > 64) {
        PyErr_SetString(PyExc_ValueError,
                        "_override_mask(): names and originals differ in length or exceed 64");
        return -1;
    }
    for (i = 0; i < n; i++) {
        PyObject *name = PyTuple_GET_ITEM(names, i);
        if (!PyUnicode_CheckExact(name)) {
            PyErr_SetString(PyExc_TypeError, "_override_mask(): names must be str");
            return -1;
        }
        /* A borrowed reference (or NULL, without an exception set). */
        if (_PyType_Lookup(tp, name) != PyTuple_GET_ITEM(originals, i)) {
            bits |= 1ULL << i;
        }
    }
    /* _PyType_Lookup gave the class a version tag if it can have one. */
    if (tc_type_tagged(tp)) {
        Py_XSETREF(e->names, Py_NewRef(names));
        Py_XSETREF(e->originals, Py_NewRef(originals));
        e->type = tp;
        e->version = tp->tp_version_tag;
        e->mask = bits;
    }
    *mask = bits;
    return 0;
}

/* _resolve_to(owners, names, originals): True when every owners[i] (a
 * class) resolves names[i] through its MRO to originals[i] itself -- what
 * getattr(owner, name) is originals[i] says for a function, as read from
 * the classes' method caches.  False at the first that does not. */
static PyObject *
core_resolve_to(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs)
{
    PyObject *owners, *names, *originals;
    Py_ssize_t i, n;

    if (nargs != 3 || !PyTuple_CheckExact(args[0]) || !PyTuple_CheckExact(args[1]) ||
        !PyTuple_CheckExact(args[2])) {
        PyErr_SetString(PyExc_TypeError, "_resolve_to(owners, names, originals) takes three tuples");
        return NULL;
    }
    owners = args[0], names = args[1], originals = args[2];
    n = PyTuple_GET_SIZE(owners);
    if (PyTuple_GET_SIZE(names) != n || PyTuple_GET_SIZE(originals) != n) {
        PyErr_SetString(PyExc_ValueError, "_resolve_to(): the tuples differ in length");
        return NULL;
    }
    for (i = 0; i < n; i++) {
        PyObject *owner = PyTuple_GET_ITEM(owners, i), *name = PyTuple_GET_ITEM(names, i);
        if (!PyType_Check(owner) || !PyUnicode_CheckExact(name)) {
            PyErr_SetString(PyExc_TypeError, "_resolve_to(): owners must be classes, names str");
            return NULL;
        }
        if (_PyType_Lookup((PyTypeObject *)owner, name) != PyTuple_GET_ITEM(originals, i)) {
            Py_RETURN_FALSE;
        }
    }
    Py_RETURN_TRUE;
}

static PyObject *
core_override_mask(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    unsigned long long mask;

    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "_override_mask() takes exactly 3 arguments");
        return NULL;
    }
    if (!PyType_Check(args[0])) {
        PyErr_SetString(PyExc_TypeError,
                        "_override_mask(cls, names, originals) takes a type and two tuples");
        return NULL;
    }
    if (tc_override_mask(PyModule_GetState(module), (PyTypeObject *)args[0], args[1], args[2],
                         &mask) < 0) {
        return NULL;
    }
    return PyLong_FromUnsignedLongLong(mask);
}

PyDoc_STRVAR(override_mask_doc,
"_override_mask(cls, names, originals)\n--\n\n"
"Bit mask of the names whose attribute, looked up on cls, is not the "
"corresponding original object.");

PyDoc_STRVAR(template_bytes_doc,
"_tt_bytes(value)\n--\n\n"
"utf8(value) for str or bytes, utf8(str(value)) for anything else: what a\n"
"compiled template appends for an unescaped expression.");

PyDoc_STRVAR(template_xhtml_doc,
"_tt_xhtml(value)\n--\n\n"
"utf8(xhtml_escape(_tt_bytes(value))): what a compiled template appends for\n"
"an expression under the default autoescape.");

PyDoc_STRVAR(route_doc,
"_route(router, request, env)\n--\n\n"
"router.find_handler(request) for an Application's _ApplicationRouter tree of\n"
"AnyMatches / PathMatches rules, walked in C; NotImplemented (nothing called)\n"
"for any other shape.  See csrc/route.c for env.");

PyDoc_STRVAR(http_date_doc,
"_http_date(seconds)\n--\n\n"
"email.utils.formatdate(seconds, usegmt=True) for an int or float in\n"
"datetime's range, or that of calendar.timegm(seconds.utctimetuple()) for a\n"
"datetime.datetime (not a subclass) that is naive or in timezone.utc; None\n"
"for anything else.");

PyDoc_STRVAR(timegm_doc,
"_timegm(time_tuple)\n--\n\n"
"calendar.timegm(time_tuple) for a tuple of ints with a valid year and\n"
"month; None for anything else.");

PyDoc_STRVAR(peer_connected_doc,
"_peer_connected(fd)\n--\n\n"
"True when getpeername() succeeds on the socket fd (it is connected):\n"
"socket.getpeername() without an OSError to make and catch when it is not.");

static PyObject *
core_peer_connected(PyObject *Py_UNUSED(module), PyObject *arg)
{
    struct sockaddr_storage peer;
    socklen_t len = sizeof peer;
    long fd = PyLong_AsLong(arg);

    if (fd == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (fd < 0 || fd > INT_MAX) {
        Py_RETURN_FALSE;
    }
    /* (A quick call that never blocks: the GIL stays held.) */
    return PyBool_FromLong(getpeername((int)fd, (struct sockaddr *)&peer, &len) == 0);
}

#define TC_FASTCALL_KW(f) (PyCFunction)(void (*)(void))(f), METH_FASTCALL | METH_KEYWORDS

/* _running_loop(): the native loop running callbacks in this thread (the
 * loop asyncio.get_running_loop() would answer while they run, without its
 * getpid() system call), or None. */
static PyObject *
core_running_loop(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(ignored))
{
    return Py_NewRef(tc_loop_current != NULL ? (PyObject *)tc_loop_current : Py_None);
}

static PyMethodDef core_methods[] = {
    {"utf8", TC_FASTCALL_KW(tc_escape_utf8), utf8_doc},
    {"to_unicode", TC_FASTCALL_KW(tc_escape_to_unicode), to_unicode_doc},
    {"xhtml_escape", TC_FASTCALL_KW(tc_escape_xhtml), xhtml_escape_doc},
    {"_json_encode", tc_json_encode, METH_O, json_encode_doc},
    {"_sha1_hex", (PyCFunction)(void (*)(void))tc_sha1_hex_py, METH_FASTCALL,
     PyDoc_STR("_sha1_hex(data, hardware=True)\n--\n\n"
               "hashlib.sha1(data).hexdigest(), computed in C (through the CPU's SHA\n"
               "extensions when it has them and hardware is true).")},
    {"_http_date", tc_http_date, METH_O, http_date_doc},
    {"_tt_bytes", tc_template_bytes, METH_O, template_bytes_doc},
    {"_route", (PyCFunction)(void (*)(void))tc_route, METH_FASTCALL, route_doc},
    {"_tt_xhtml", tc_template_xhtml, METH_O, template_xhtml_doc},
    {"_timegm", tc_timegm, METH_O, timegm_doc},
    {"_peer_connected", core_peer_connected, METH_O, peer_connected_doc},
    {"websocket_mask", (PyCFunction)(void (*)(void))tc_websocket_mask, METH_FASTCALL,
     websocket_mask_doc},
    {"_resolve_to", (PyCFunction)(void (*)(void))core_resolve_to, METH_FASTCALL,
     PyDoc_STR("_resolve_to(owners, names, originals)\n--\n\n"
               "True when each class owners[i] resolves names[i] to originals[i] itself.")},
    {"_override_mask", (PyCFunction)(void (*)(void))core_override_mask, METH_FASTCALL,
     override_mask_doc},
    {"_debug_counters", core_debug_counters, METH_NOARGS, debug_counters_doc},
    {"_slotmap_checks", core_slotmap_checks, METH_NOARGS, slotmap_checks_doc},
    {"_running_loop", core_running_loop, METH_NOARGS,
     PyDoc_STR("_running_loop()\n--\n\n"
               "The native loop running callbacks in this thread, or None.")},
    {"versions", core_versions, METH_NOARGS, versions_doc},
    {NULL, NULL, 0, NULL},
};

static int
core_exec(PyObject *module)
{
    tc_state *st = PyModule_GetState(module);

#define INTERN(field, text)                                  \
    do {                                                     \
        st->field = PyUnicode_InternFromString(text);        \
        if (st->field == NULL) {                             \
            return -1;                                       \
        }                                                    \
    } while (0)
    INTERN(str_report_callback_error, "_report_callback_error");
    INTERN(str_debug_slow_callback, "_debug_slow_callback");
    INTERN(str_check_callback, "_check_callback");
    INTERN(str_check_thread, "_check_thread");
    INTERN(str_call_soon, "call_soon");
    INTERN(str_call_at, "call_at");
    INTERN(str_call_soon_threadsafe, "call_soon_threadsafe");
    INTERN(str_context, "context");
    INTERN(str_fileno, "fileno");
    INTERN(str_set_result, "set_result");
    INTERN(str_cancelled, "cancelled");
    INTERN(str_search, "search");
    INTERN(str_end, "end");
    INTERN(str_task_factory, "_task_factory");
    INTERN(str_create_task, "create_task");
    INTERN(str_exception, "exception");
    INTERN(str_add_done_callback, "add_done_callback");
    INTERN(str_done, "done");
#undef INTERN
    st->kw_loop = Py_BuildValue("(s)", "loop");
    if (st->kw_loop == NULL) {
        return -1;
    }

    if (tc_handle_type_init(module, st) < 0 || tc_loop_type_init(module, st) < 0 ||
        tc_stream_type_init(module, st) < 0 || tc_http1_type_init(module, st) < 0 ||
        tc_transport_type_init(module, st) < 0 || tc_http1client_type_init(module, st) < 0 ||
        tc_dispatch_type_init(module, st) < 0 || tc_proxy_type_init(module, st) < 0 ||
        tc_fetch_type_init(module, st) < 0 ||
        tc_route_init(st) < 0 || tc_request_init(module, st) < 0 ||
        tc_web_init(module, st) < 0 || tc_static_init(module, st) < 0) {
        return -1;
    }
    return 0;
}

static PyModuleDef_Slot core_slots[] = {
    {Py_mod_exec, core_exec},
    {0, NULL},
};

PyDoc_STRVAR(core_doc,
"tornado_c._core: the native event loop, streams and HTTP/1 machinery.");

PyModuleDef tc_module_def = {
    PyModuleDef_HEAD_INIT,
    .m_name = "tornado_c._core",
    .m_doc = core_doc,
    .m_size = sizeof(tc_state),
    .m_methods = core_methods,
    .m_slots = core_slots,
    .m_traverse = core_traverse,
    .m_clear = core_clear,
    .m_free = core_free,
};

PyMODINIT_FUNC
PyInit__core(void)
{
    return PyModuleDef_Init(&tc_module_def);
}
