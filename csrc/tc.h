/*
 * tc.h — shared declarations of tornado_c._core.
 *
 * The module state (tc_state) owns every type object and interned string the
 * extension uses; nothing Python-level lives in a C global.  Each subsystem has
 * its own file (loop.c, handle.c, poll.c, errors.c, module.c) and exports only
 * the tc_-prefixed functions declared here.
 */
#ifndef TORNADO_C_TC_H
#define TORNADO_C_TC_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <stdint.h>
#include <uv.h>

#ifdef TORNADO_C_DEBUG
#define TC_ASSERT(cond) assert(cond)
#else
#define TC_ASSERT(cond) ((void)0)
#endif

/* ------------------------------------------------------ version shims */

/* Returns the exception being raised as a new reference and clears it
 * (PyErr_GetRaisedException on 3.12+). Requires an exception to be set. */
static inline PyObject *
PyErr_GetRaisedException_compat(void)
{
#if PY_VERSION_HEX >= 0x030C0000
    return PyErr_GetRaisedException();
#else
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    PyErr_NormalizeException(&type, &value, &tb);
    if (tb != NULL && value != NULL) {
        PyException_SetTraceback(value, tb);
    }
    Py_XDECREF(type);
    Py_XDECREF(tb);
    return value;
#endif
}

/* Like PyErr_GetRaisedException_compat, but returns NULL when no exception
 * is set. */
static inline PyObject *
PyErr_GetRaisedException_compat_or_null(void)
{
    return PyErr_Occurred() ? PyErr_GetRaisedException_compat() : NULL;
}

/* Re-raises an exception object taken by PyErr_GetRaisedException_compat
 * (steals the reference). */
static inline void
PyErr_SetRaisedException_compat(PyObject *exc)
{
#if PY_VERSION_HEX >= 0x030C0000
    PyErr_SetRaisedException(exc);
#else
    PyObject *type = (PyObject *)Py_TYPE(exc);
    Py_INCREF(type);
    PyErr_Restore(type, exc, PyException_GetTraceback(exc));
#endif
}

/* _PyObject_LookupAttr(obj, name, &out): 1 and a new reference in *out,
 * 0 (and NULL) when there is no such attribute, -1 with an exception --
 * PyObject_GetOptionalAttr, as it is public on 3.13+, where the private
 * name left the headers. */
static inline int
tc_lookup_attr(PyObject *obj, PyObject *name, PyObject **out)
{
#if PY_VERSION_HEX >= 0x030D0000
    return PyObject_GetOptionalAttr(obj, name, out);
#else
    return _PyObject_LookupAttr(obj, name, out);
#endif
}

/* 1 when tp has a valid version tag -- which changes whenever the class or
 * a base is modified, and is then compared to tell whether a class is as
 * it was: Py_TPFLAGS_VALID_VERSION_TAG up to 3.12; a nonzero tag from 3.13,
 * where that flag is unused (never set). */
static inline int
tc_type_tagged(PyTypeObject *tp)
{
#if PY_VERSION_HEX >= 0x030D0000
    return tp->tp_version_tag != 0;
#else
    return PyType_HasFeature(tp, Py_TPFLAGS_VALID_VERSION_TAG);
#endif
}

/* An identity hash (Py_HashPointer on 3.13+). */
static inline Py_hash_t
_Py_HashPointer_compat(const void *p)
{
    size_t y = (size_t)p;
    y = (y >> 4) | (y << (8 * sizeof(void *) - 4));
    Py_hash_t h = (Py_hash_t)y;
    return h == -1 ? -2 : h;
}

/* ---------------------------------------------------------------- buffers */

/* A growable byte buffer: live bytes are data[start, start + len). */
typedef struct {
    char *data;
    Py_ssize_t start;
    Py_ssize_t len;
    Py_ssize_t cap;
} tc_buf;

/* Makes room for `extra` more bytes after the live ones.  0, or -1 with
 * MemoryError set. */
int tc_buf_grow(tc_buf *b, Py_ssize_t extra);

/* Drops the first n live bytes (n <= len). */
void tc_buf_consume(tc_buf *b, Py_ssize_t n);

/* Drops the first n live bytes like tc_buf_consume, but keeps the memory
 * when the buffer empties (for a buffer about to be refilled). */
void tc_buf_drop(tc_buf *b, Py_ssize_t n);

/* Inserts n bytes before the live ones.  0 / -1 with MemoryError. */
int tc_buf_prepend(tc_buf *b, const char *p, Py_ssize_t n);

/* Releases the memory; the buffer is empty and reusable afterwards. */
void tc_buf_free(tc_buf *b);

/* Makes sure there is room for n more bytes after the live ones, growing
 * the buffer only when it lacks it.  0 / -1 with MemoryError. */
static inline int
tc_buf_reserve(tc_buf *b, Py_ssize_t n)
{
    return b->start + b->len + n > b->cap ? tc_buf_grow(b, n) : 0;
}

/* Appends n bytes.  0 / -1 with MemoryError. */
static inline int
tc_buf_append(tc_buf *b, const char *p, Py_ssize_t n)
{
    if (tc_buf_reserve(b, n) < 0) {
        return -1;
    }
    memcpy(b->data + b->start + b->len, p, (size_t)n);
    b->len += n;
    return 0;
}

static inline char *
tc_buf_head(tc_buf *b)
{
    return b->data + b->start;
}

/* ------------------------------------------------------------------ state */

/* A class's __slots__ for a list of names (slots.c). */
#define TC_SLOTMAP_MAX 20
typedef struct {
    PyTypeObject *type;                  /* the class: compared only, never followed
                                            (a map does not keep its class alive) */
    PyObject *names[TC_SLOTMAP_MAX];     /* the names (strong) */
    PyObject *descrs[TC_SLOTMAP_MAX];    /* its member descriptor for each, or NULL */
    Py_ssize_t offsets[TC_SLOTMAP_MAX];  /* ... and where it keeps it (0: none) */
    int n;
    unsigned int version;                /* its tp_version_tag when last checked */
} tc_slotmap;

int tc_slotmap_set(tc_slotmap *m, PyTypeObject *tp, PyObject *const *names, int n);
void tc_slotmap_clear(tc_slotmap *m);
int tc_slotmap_traverse(tc_slotmap *m, visitproc visit, void *arg);
int tc_slotmap_check(tc_slotmap *m, PyTypeObject *tp);
extern Py_ssize_t tc_slotmap_checks;
tc_slotmap *tc_slotmap_for(tc_slotmap *cache, int ncache, PyTypeObject *tp,
                           PyObject *const *names, int n);

/* 1 when tp is the map's class, it sets attributes the generic way, and
 * each noted slot is still what the class has under its name: at once
 * while the class keeps the version tag it had when last checked. */
static inline int
tc_slotmap_current(tc_slotmap *m, PyTypeObject *tp)
{
    if (tp == m->type && m->version != 0 && tp->tp_version_tag == m->version &&
        tc_type_tagged(tp)) {
        return 1;
    }
    return tc_slotmap_check(m, tp);
}

/* Where obj keeps names[i]: only for descrs[i] != NULL, with the map current
 * for obj's class. */
static inline PyObject **
tc_slot_ptr(tc_slotmap *m, PyObject *obj, int i)
{
    return (PyObject **)((char *)obj + m->offsets[i]);
}

/* Where obj keeps the attribute names[i] of map m: NULL unless m (which may
 * be NULL or not set up yet) is current for obj's class and has a slot for
 * it.  The accessors below then fall back to the generic protocol, by the
 * name the caller gives (m->names[i] when m is set up). */
static inline PyObject **
tc_slot_of(tc_slotmap *m, PyObject *obj, int i)
{
    if (m == NULL || i >= m->n || m->offsets[i] == 0 || !tc_slotmap_current(m, Py_TYPE(obj))) {
        return NULL;
    }
    return tc_slot_ptr(m, obj, i);
}

/* obj.name = value (a new reference is taken). */
static inline int
tc_slot_store(tc_slotmap *m, PyObject *obj, int i, PyObject *name, PyObject *value)
{
    PyObject **p = tc_slot_of(m, obj, i);

    if (p != NULL) {
        PyObject *old = *p;
        *p = Py_NewRef(value);
        Py_XDECREF(old);
        return 0;
    }
    return PyObject_SetAttr(obj, name, value);
}

/* obj.name: a new reference, or NULL with an exception. */
static inline PyObject *
tc_slot_load(tc_slotmap *m, PyObject *obj, int i, PyObject *name)
{
    PyObject **p = tc_slot_of(m, obj, i);

    if (p != NULL && *p != NULL) {
        return Py_NewRef(*p);
    }
    return PyObject_GetAttr(obj, name);
}

/* As tc_lookup_attr(obj, name, out): 1 and a new reference in *out,
 * 0 when there is no such attribute, -1 with an exception. */
static inline int
tc_slot_lookup(tc_slotmap *m, PyObject *obj, int i, PyObject *name, PyObject **out)
{
    PyObject **p = tc_slot_of(m, obj, i);

    if (p != NULL && *p != NULL) {
        *out = Py_NewRef(*p);
        return 1;
    }
    return tc_lookup_attr(obj, name, out);
}

#define TC_H1_METHODS 64
#define TC_HANDLER_MAPS 16              /* handler classes handler.c keeps slot maps for */
#define TC_RULE_MAPS 4                   /* rule classes route.c keeps slot maps for
                                            (matcher, target, target_kwargs) */
#define TC_MATCHER_MAPS 2                /* ... and matcher classes */
_Static_assert((TC_HANDLER_MAPS & (TC_HANDLER_MAPS - 1)) == 0 &&
                   (TC_RULE_MAPS & (TC_RULE_MAPS - 1)) == 0 &&
                   (TC_MATCHER_MAPS & (TC_MATCHER_MAPS - 1)) == 0,
               "tc_slotmap_for picks an entry with a mask: powers of two");
#define TC_H1_NAME_SLOTS 64              /* normalized field names kept (http1.c) */
#define TC_H1_NAME_CACHED 32             /* ... of up to this many bytes */
#define TC_RQ_NAMES 32
#define TC_RQ_SLOTS 19                   /* attributes __init__ assigns (request.c) */
#define TC_WB_NAMES 100
#define TC_SF_NAMES 37
#define TC_FE_NAMES 48
#define TC_MASK_CACHE 8                  /* _override_mask answers kept (module.c) */

/* One remembered _override_mask answer: valid while tp still has the
 * version tag it had then (any change to it or a base clears that). */
typedef struct {
    PyTypeObject *type;                  /* compared only, never followed */
    unsigned int version;
    PyObject *names, *originals;         /* (strong: their addresses stay theirs) */
    unsigned long long mask;
} tc_mask_entry;

/* One remembered global: dict[name] while dict has the version tag it had
 * then (tc_globals_get). */
#define TC_GLOBALS_BITS 6
#define TC_GLOBALS_CACHE (1 << TC_GLOBALS_BITS)
typedef struct {
    PyObject *dict, *name, *value;       /* compared / handed out only */
    uint64_t version;
} tc_global_entry;

typedef struct {
    PyTypeObject *LoopType;
    PyTypeObject *HandleType;
    PyTypeObject *TimerHandleType;
    PyTypeObject *StreamType;
    PyObject *header_regex;              /* last regex recognised as the HTTP
                                            header delimiter (stream.c) */
    PyObject *str_report_callback_error; /* "_report_callback_error" */
    PyObject *str_debug_slow_callback;   /* "_debug_slow_callback" */
    PyObject *str_check_callback;        /* "_check_callback" */
    PyObject *str_check_thread;          /* "_check_thread" */
    PyObject *str_call_soon;             /* "call_soon" */
    PyObject *str_call_at;               /* "call_at" */
    PyObject *str_call_soon_threadsafe;  /* "call_soon_threadsafe" */
    PyObject *str_context;               /* "context" */
    PyObject *kw_loop;                   /* ("loop",): vectorcall kwnames */
    PyObject *current_task;              /* asyncio.current_task, on first use */
    PyObject *current_tasks;             /* asyncio.tasks._current_tasks, when read directly */
    PyObject *str_fileno;                /* "fileno" */
    PyObject *str_set_result;            /* "set_result" */
    PyObject *str_cancelled;             /* "cancelled" */
    PyObject *str_search;                /* "search" */
    PyObject *str_end;                   /* "end" */
    PyObject *str_task_factory;          /* "_task_factory" */
    PyObject *str_create_task;           /* "create_task" */
    PyObject *str_exception;             /* "exception" */
    PyObject *str_add_done_callback;     /* "add_done_callback" */
    PyObject *str_done;                  /* "done" */
    tc_mask_entry mask_cache[TC_MASK_CACHE];
    tc_global_entry globals_cache[TC_GLOBALS_CACHE]; /* (request.c) */
    /* http1.c */
    PyTypeObject *HTTP1ConnType;
    PyTypeObject *http_headers;          /* httputil.HTTPHeaders (http1_setup) */
    tc_slotmap header_slots;             /* ... its _dict, _as_list, _last_key */
    PyTypeObject *request_start_line;    /* httputil.RequestStartLine */
    PyObject *http_input_error;          /* httputil.HTTPInputError */
    PyObject *http_output_error;         /* httputil.HTTPOutputError */
    PyObject *h1_methods[TC_H1_METHODS]; /* method names, filled lazily */
    PyObject *h1_name_cache[TC_H1_NAME_SLOTS]; /* recent field names (http1.c) */
    PyObject *empty_tuple;
    PyObject *str__dict, *str__as_list, *str__last_key, *str_http11, *str_http10;
    PyObject *str_start_request, *str_headers_received, *str_data_received;
    PyObject *str_finish, *str_Connection, *str_close, *str_Keep_Alive;
    PyObject *str_Transfer_Encoding, *str_chunked, *str_Content_Length;
    /* dispatch.c */
    PyTypeObject *DispatchType;
    PyObject *kw_request_callback;       /* HTTPServerRequest keywords (callback) */
    PyObject *kw_request_router;         /* ... with server_connection (router) */
    PyObject *str_find_handler, *str_body, *str__parse_body, *str_on_connection_close;
    PyObject *str__whole_body, *str_headers, *str_Content_Type, *str___init__;
    /* request.c */
    PyObject *request_class;             /* httputil.HTTPServerRequest (request_setup) */
    PyObject *request_init;              /* ... its original __init__ */
    tc_slotmap request_slots;            /* ... its slots for what __init__ assigns */
    tc_slotmap conn_slots;               /* the server connection class met: context */
    tc_slotmap context_slots;            /* its context's class: remote_ip, protocol */
    PyObject *request_globals;           /* ... whose globals are httputil's */
    PyObject *request_parse_body;        /* ... its original _parse_body */
    PyObject *time_time;                 /* the builtin time.time */
    PyObject *rq_names[TC_RQ_NAMES];     /* interned names (request.c) */
    PyObject *rq_kw_keep_blank;          /* ("keep_blank_values",): kwnames */
    /* proxy.c */
    PyObject *str_request, *str_defaults, *str_get;
    /* route.c */
    tc_slotmap hd_slots;                 /* web._HandlerDelegate's (handler.c) */
    tc_slotmap handler_slots[TC_HANDLER_MAPS]; /* RequestHandler classes met (handler.c) */
    tc_slotmap rule_slots[TC_RULE_MAPS]; /* Rule classes met: matcher, target */
    tc_slotmap matcher_slots[TC_MATCHER_MAPS]; /* PathMatches: regex, _literal_prefix */
    tc_slotmap router_slots;             /* web._ApplicationRouter: rules, application */
    PyObject *str_get_target_delegate, *str_rules, *str_matcher, *str_target;
    PyObject *str_target_kwargs, *str_match, *str_regex, *str_groups, *str_groupindex;
    PyObject *str_groupdict, *str_path, *str_path_args, *str_path_kwargs;
    PyObject *str_application, *str_get_handler_delegate, *str__literal_prefix;
    /* handler.c */
    PyObject *web_env;                   /* web_setup()'s tuple */
    PyObject *web_globals;               /* web's module dict */
    PyObject *wb_names[TC_WB_NAMES];     /* interned names (handler.c) */
    PyObject *wb_eager_descr;            /* the Loop type's _eager_task, on first use */
    PyObject *wb_conn_descrs[3];         /* HTTP1Conn's write_headers, finish,
                                            set_close_callback, on first use */
    PyObject *wb_hdr_server, *wb_hdr_date; /* what the default headers were made of */
    PyObject *wb_hdr_values, *wb_hdr_lists;  /* ... and their two dicts, to copy */
    unsigned long long wb_set_header_bits;  /* set_header, _convert_header_value in
                                               web._MASK_NAMES' override mask */
    /* static.c */
    PyObject *sf_names[TC_SF_NAMES];     /* interned names */
    /* fetch.c */
    PyTypeObject *FetchType;
    PyObject *fetch_env;                 /* fetch_setup()'s tuple */
    PyObject *fe_names[TC_FE_NAMES];     /* interned names (fetch.c) */
    /* http1client.c */
    PyTypeObject *HTTP1ClientType;
    PyTypeObject *response_start_line;   /* httputil.ResponseStartLine */
    /* transport.c */
    PyTypeObject *TransportType;
    PyObject *buffered_protocol;         /* asyncio.BufferedProtocol (and
                                            str_data_received from http1.c) */
    PyObject *str_get_buffer, *str_buffer_updated, *str_eof_received;
    PyObject *str_connection_lost, *str_pause_writing, *str_resume_writing;
    PyObject *str_fatal_error;           /* "_fatal_error" */
} tc_state;

extern PyModuleDef tc_module_def;

/* A borrowed reference to dict[name] (NULL, with an exception or none, as
 * PyDict_GetItemWithError) for a module's globals dict and one of the
 * state's own interned names (alive as long as the state).  The globals the
 * per-request code reads at call time -- so that a replacement is seen --
 * hardly ever change: on CPython 3.10 / 3.11 an answer is kept and given
 * again while the dict's version tag (PEP 509: a new, never reused value
 * at each change of any dict) is the same, which also tells a different
 * dict at a reused address apart.  Later versions ask the dict each time. */
static inline PyObject *
tc_globals_get(tc_state *st, PyObject *dict, PyObject *name)
{
#if PY_VERSION_HEX < 0x030C0000
    /* (Fibonacci hashing: the high bits of the product spread addresses
     * that differ only in a few middle bits, as objects of one size do.) */
    tc_global_entry *e =
        &st->globals_cache[(((uint64_t)(uintptr_t)name ^ ((uint64_t)(uintptr_t)dict >> 3)) *
                            0x9E3779B97F4A7C15ULL) >> (64 - TC_GLOBALS_BITS)];
    uint64_t version = ((PyDictObject *)dict)->ma_version_tag;
    PyObject *v;

    if (e->dict == dict && e->name == name && e->version == version) {
        return e->value;
    }
    v = PyDict_GetItemWithError(dict, name);
    if (v != NULL) {
        e->dict = dict;
        e->name = name;
        e->value = v;
        e->version = version;
    }
    return v;
#else
    (void)st;
    return PyDict_GetItemWithError(dict, name);
#endif
}

/* Forgets every remembered global (the names they were kept under go). */
static inline void
tc_globals_forget(tc_state *st)
{
    memset(st->globals_cache, 0, sizeof st->globals_cache);
}

/* _override_mask(tp, names, originals) (module.c): bit i set when tp
 * resolves names[i] to something other than originals[i]; -1 on error. */
int tc_override_mask(tc_state *st, PyTypeObject *tp, PyObject *names, PyObject *originals,
                     unsigned long long *mask);

/* Every tc_slotmap the module state holds, visited / cleared (slots.c). */
int tc_state_slotmaps_traverse(tc_state *st, visitproc visit, void *arg);
void tc_state_slotmaps_clear(tc_state *st);

/* names[i] = the interned texts[i], for i < n (module.c); -1 on error. */
int tc_intern_names(PyObject **names, const char *const *texts, int n);
/* Drops the n names (NULL entries allowed). */
void tc_clear_names(PyObject **names, int n);

/* Returns the module state reached through a type defined by this module
 * (borrowed; never NULL for our own types). */
static inline tc_state *
tc_state_from_type(PyTypeObject *tp)
{
#if PY_VERSION_HEX < 0x030B0000
    /* (public from 3.11; 3.10 has it under its private name) */
    PyObject *mod = _PyType_GetModuleByDef(tp, &tc_module_def);
#else
    PyObject *mod = PyType_GetModuleByDef(tp, &tc_module_def);
#endif
    return mod == NULL ? NULL : (tc_state *)PyModule_GetState(mod);
}

/* ---------------------------------------------------------------- handles */

/* asyncio.Handle / TimerHandle equivalents.  A Handle owns its callback, its
 * argument tuple and its contextvars.Context until it runs or is cancelled. */
typedef struct tc_loop_s tc_loop;

/* loop.c: the native loop running an iteration in this thread, or NULL. */
extern _Thread_local tc_loop *tc_loop_current;
typedef struct tc_stream_s tc_stream;

typedef struct {
    PyObject_HEAD
    PyObject *callback;     /* NULL once cancelled */
    PyObject *args;         /* tuple, NULL once cancelled */
    PyObject *context;      /* contextvars.Context */
    PyObject *loop;         /* the owning Loop (strong) */
    PyObject *source_traceback; /* list in debug mode, else NULL */
    PyObject *weakreflist;
    char cancelled;
    char is_timer;
    /* Timer fields (used only when is_timer). */
    char scheduled;         /* currently in the loop's heap */
    double when;
    uint64_t seq;           /* tie-breaker: equal deadlines run in order */
} tc_handle;

/* Creates a Handle (or TimerHandle when is_timer) taking new references to
 * callback, args and context.  Returns a new reference or NULL. */
PyObject *tc_handle_new(tc_state *st, int is_timer, PyObject *callback,
                        PyObject *args, PyObject *context, PyObject *loop);

/* Runs a handle's callback in its context.  Returns 0 when the callback
 * returned or raised an ordinary exception (which is reported through the
 * loop's exception handler), -1 with KeyboardInterrupt / SystemExit (or an
 * error while reporting) set. */
int tc_handle_run(tc_state *st, tc_handle *h);

/* Marks a handle cancelled and drops its callback and arguments. */
void tc_handle_cancel(tc_handle *h);

int tc_handle_type_init(PyObject *module, tc_state *st);

/* ------------------------------------------------------------------ loop */

/* The per-fd watcher table entry (poll.c): the reader and writer Handles
 * (new references or NULL) and the epoll interest currently registered. */
typedef struct {
    PyObject *reader;
    PyObject *writer;
    uint32_t registered;
} tc_fdwatch;

struct tc_loop_s {
    PyObject_HEAD
    tc_state *st;           /* the module's state, looked up once (loop.c) */
    uv_loop_t uvloop;
    uv_timer_t timer;       /* armed for the earliest TimerHandle */
    uv_async_t wakeup;      /* call_soon_threadsafe */
    uv_prepare_t prepare;   /* releases the GIL right before the poll */
    uv_poll_t fdpoll;       /* watches the inner epoll set (poll.c) */
    /* Ready queue: a ring of Handle references. */
    PyObject **ready;
    Py_ssize_t ready_cap;
    Py_ssize_t ready_head;
    Py_ssize_t ready_len;
    /* Timers: a binary heap of TimerHandle references by (when, seq). */
    tc_handle **heap;
    Py_ssize_t heap_len;
    Py_ssize_t heap_cap;
    Py_ssize_t timer_cancelled_count;
    uint64_t timer_seq;
    /* fd watching (poll.c). */
    int epfd;               /* inner epoll set, -1 until first watcher */
    char fdpoll_active;
    char fds_pending;       /* the inner set became readable this iteration */
    tc_fdwatch *fds;
    Py_ssize_t fds_cap;
    Py_ssize_t fds_count;
    /* State shared with asyncio.BaseEventLoop's Python code, exposed as the
     * _closed / _stopping / _debug attributes. */
    char closed;
    char stopping;
    char debug;
    char uv_open;           /* uv_loop_init done and not yet closed */
    char has_gil;           /* see loop_on_prepare */
    PyThreadState *tstate;  /* saved while the GIL is released */
    double clock_resolution;
    /* Tests only (_stall_before_poll): microseconds to sleep between arming
     * the poll's timer and polling, as a descheduled thread would. */
    unsigned int stall_us;
    /* Native streams with an open libuv handle (stream.c), closed with the
     * loop; and the loop-wide receive buffer every stream reads into. */
    tc_stream *streams;
    char *recvbuf;
    uint64_t polls;         /* iterations that reached the poll (loop_on_prepare) */
    /* Native HTTP/1 connections (http1.c) and the one timer that sweeps
     * their idle / body deadlines. */
    struct tc_http1_s *http_conns;
    uv_timer_t http_timer;
    uint64_t http_timer_due;  /* uv_now() ms the timer is armed for, 0 */
    /* _eager_task: while set, the next call_soon hands its Handle to
     * `captured` instead of the ready queue. */
    char capture_soon;
    PyObject *captured;
    /* Native asyncio transports whose connection is not lost yet
     * (transport.c): a set holding them, as asyncio's selector holds a
     * reading transport, so a connection nobody references stays served. */
    PyObject *transports;
    /* HTTP client fetches with open libuv handles (fetch.c), closed with
     * the loop. */
    struct tc_fetch_s *fetches;
    /* Output held back while libuv dispatches I/O or the ready handles run
     * (tc_loop_defer): each entry's fn(obj) runs once uv_run returns or the
     * pass ends, so the replies written in it go out together. */
    struct tc_deferred_s *deferred;
    Py_ssize_t deferred_len;
    Py_ssize_t deferred_cap;
    uint64_t deferred_since; /* uv_hrtime() of the first queued entry */
    char holding;           /* output may be held: inside uv_run (I/O
                               callbacks) or the pass over the ready queue */
};

typedef struct tc_deferred_s {
    PyObject *obj;
    void (*fn)(PyObject *obj);
} tc_deferred;

/* While the loop is dispatching I/O or running its ready handles, queues
 * fn(obj) (a new reference to obj is held) to run when that ends, and
 * returns 1; returns 0 when the loop is doing neither, or has held output
 * back for over a millisecond already (then what was queued runs now): the
 * caller does the work now.  -1 with MemoryError. */
int tc_loop_defer(tc_loop *loop, PyObject *obj, void (*fn)(PyObject *obj));

/* Runs what tc_loop_defer queued if the oldest entry has waited over a
 * millisecond (called before more input is dispatched or another ready
 * handle runs, so a slow callback does not hold back the replies written
 * before it).  1 if it ran them. */
int tc_loop_deferred_due(tc_loop *loop);

/* Appends a handle to the ready queue (new reference taken).  0 / -1. */
int tc_loop_push_ready(tc_loop *loop, PyObject *handle);

/* Makes sure this thread holds the GIL inside a libuv callback (the loop
 * releases it just before polling). */
static inline void
tc_loop_ensure_gil(tc_loop *loop)
{
    if (!loop->has_gil) {
        PyEval_RestoreThread(loop->tstate);
        loop->tstate = NULL;
        loop->has_gil = 1;
    }
}

/* Open libuv loops and handles in the process; tests of the debug build
 * check that they balance (conftest.py).  Plain counters rather than module
 * state: close callbacks run during interpreter teardown, when the module
 * state may already be gone.  Only touched with the GIL held. */
extern Py_ssize_t tc_open_uv_loops;
extern Py_ssize_t tc_open_uv_handles;

/* Counts a libuv handle of this loop as open. */
void tc_loop_handle_opened(tc_loop *loop);

/* The close callback for every libuv handle the loop owns: counts it closed.
 * The handle's memory belongs to its owner and is not freed here. */
void tc_loop_on_handle_closed(uv_handle_t *handle);

/* A timer handle was cancelled while in the heap. */
void tc_loop_timer_cancelled(tc_loop *loop);

int tc_loop_type_init(PyObject *module, tc_state *st);
/* loop._eager_task(task_class, coro[, on_failure]) (loop.c). */
PyObject *tc_loop_eager_task(tc_loop *self, PyObject *const *args, Py_ssize_t nargs);

/* ----------------------------------------------------------------- poll.c */

/* fd watching through an inner epoll set that the libuv loop polls as one fd.
 * add/remove follow asyncio's selector semantics exactly: errors are raised
 * synchronously as OSError, a closed-then-reused fd number is re-registered,
 * and libuv never sees a user fd (it would abort() on EBADF/ENOENT). */

/* Converts an int or an object with fileno() to a fd.  Returns the fd, or -1
 * with ValueError set (asyncio's messages). */
int tc_fileobj_to_fd(tc_state *st, PyObject *fileobj);

/* Installs handle as the reader (is_write = 0) or writer of fd, cancelling
 * any previous one.  Returns 0, or -1 with OSError set. */
int tc_poll_add(tc_loop *loop, int fd, int is_write, PyObject *handle);

/* Removes the reader or writer of fd.  Returns 1 if one was removed, 0 if
 * none, -1 with an exception set. */
int tc_poll_remove(tc_loop *loop, int fd, int is_write);

/* Returns the registered interest for fd as asyncio selector bits
 * (1 = read, 2 = write), 0 if none. */
int tc_poll_events(tc_loop *loop, int fd);

/* Moves the Handles of every ready fd into the loop's ready queue.  0 / -1. */
int tc_poll_process(tc_loop *loop);

/* Drops every watcher and closes the inner epoll set. */
void tc_poll_clear(tc_loop *loop);
int tc_poll_traverse(tc_loop *loop, visitproc visit, void *arg);

/* --------------------------------------------------------------- stream.c */

/* The loop-wide receive buffer every stream reads into: the most one read
 * from a socket takes (asyncio's transports read up to 256 KiB at a time). */
#define TC_RECVBUF_SIZE 262144
/* A chunk: Tornado's default read_chunk_size and the body piece the HTTP/1
 * engine hands over. */
#define TC_CHUNK_SIZE 65536

int tc_stream_type_init(PyObject *module, tc_state *st);

/* Closes the libuv handle of every stream still open on the loop (loop
 * close).  The streams stay usable as closed streams. */
void tc_stream_close_all(tc_loop *loop);

/* --------------------------------------------------------------- http1.c */

int tc_http1_type_init(PyObject *module, tc_state *st);

/* dispatch.c: the per-request delegate of a connection whose server lets
 * the engine dispatch (config from HTTPServer._native_dispatch()). */
int tc_dispatch_type_init(PyObject *module, tc_state *st);
PyObject *tc_dispatch_new(tc_state *st, PyObject *config, PyObject *conn,
                          PyObject *server_conn);
/* 1 when the delegate takes the request body in one piece just as well. */
int tc_dispatch_whole_body(tc_state *st, PyObject *delegate);
PyObject *tc_dispatch_headers_received(tc_state *st, PyObject *delegate,
                                       PyObject *start_line, PyObject *headers);
PyObject *tc_dispatch_data_received(tc_state *st, PyObject *delegate, PyObject *chunk);
PyObject *tc_dispatch_finish(tc_state *st, PyObject *delegate);
/* b"".join(chunks) (chunks NULL: b""). */
PyObject *tc_bytes_join(PyObject *chunks);

/* handler.c: Application.find_handler and web._HandlerDelegate's steps in
 * C while they are the originals (web_setup). */
int tc_web_init(PyObject *module, tc_state *st);
int tc_web_traverse(tc_state *st, visitproc visit, void *arg);
void tc_web_clear(tc_state *st);
/* 1 when target is an Application whose find_handler is the original. */
int tc_web_applies(tc_state *st, PyObject *target);
/* What Application.find_handler(request) returns (new reference). */
PyObject *tc_web_find_handler(tc_state *st, PyObject *app, PyObject *request);
/* The _HandlerDelegate Application.get_handler_delegate would make, made
 * in C; NULL without an exception when that is not the original (or cls
 * is not a RequestHandler class): the caller calls it.  The last three
 * may be NULL (not given). */
PyObject *tc_web_make_delegate(tc_state *st, PyObject *app, PyObject *request, PyObject *cls,
                               PyObject *target_kwargs, PyObject *path_args,
                               PyObject *path_kwargs);
enum { TC_WEB_HEADERS_RECEIVED, TC_WEB_DATA_RECEIVED, TC_WEB_FINISH, TC_WEB_WHOLE_BODY };
/* 1 when delegate is a _HandlerDelegate whose method for event is the
 * original and whose handler does not stream the body (the event is then
 * tc_web_collect / tc_web_finish, or nothing for headers_received, and
 * the body may come whole); 0 when not, -1 on error. */
int tc_web_plain(tc_state *st, PyObject *delegate, int event);
PyObject *tc_web_collect(tc_state *st, PyObject *delegate, PyObject *chunk);
PyObject *tc_web_finish(tc_state *st, PyObject *delegate);
/* set_header's conditions for handler: 1 (with *headers, a new reference
 * to its _headers) when a str or int value may be set by
 * tc_web_header_put, 0 when not, -1 on error. */
int tc_web_header_ready(tc_state *st, PyObject *handler, PyObject **headers);
/* handler.request / ._finished / ._headers / ._write_buffer, through the
 * handler class's slots while they are RequestHandler's (a new reference). */
enum { TC_RH_REQUEST, TC_RH_FINISHED, TC_RH_HEADERS, TC_RH_WRITE_BUFFER };
PyObject *tc_web_handler_get(tc_state *st, PyObject *handler, int which);
int tc_web_header_put(tc_state *st, PyObject *headers, PyObject *name, PyObject *value,
                      int canonical);

/* sha1.c: SHA-1 of data in forty lowercase hex digits; _sha1_hex(bytes). */
#define TC_SHA1_SHORT 256
void tc_sha1_hex(const unsigned char *data, size_t n, char hex[40]);
/* The longest body handler.c hashes with tc_sha1_hex: TC_SHA1_SHORT, more
 * with the CPU's SHA extensions. */
size_t tc_sha1_limit(void);
PyObject *tc_sha1_hex_py(PyObject *module, PyObject *const *args, Py_ssize_t nargs);

/* json.c: numbers as repr() writes them, shared with escape.c.  buf holds
 * TC_NUM_BUF bytes; the text is not NUL-terminated. */
#define TC_NUM_BUF 48
/* repr(v); returns its length. */
Py_ssize_t tc_int_repr(long long v, char *buf);
/* repr(d) for a finite d that is a decimal with at most six places and
 * 1e-4 <= |d| < 1e9; 0 (nothing written) for any other d. */
Py_ssize_t tc_float_repr_short(double d, char *buf);

/* request.c: httputil's HTTPServerRequest and HTTPHeaders built in C. */
int tc_request_init(PyObject *module, tc_state *st);
int tc_request_traverse(tc_state *st, visitproc visit, void *arg);
void tc_request_clear(tc_state *st);
/* A new reference to name in Http-Header-Case, or NULL. */
PyObject *tc_normalize_header(tc_state *st, PyObject *name);
/* HTTPHeaders' attributes, through its slots when it is the class itself. */
enum { TC_HD_DICT, TC_HD_AS_LIST, TC_HD_LAST_KEY, TC_HD_COUNT };
PyObject *tc_headers_get(tc_state *st, PyObject *headers, int which);
int tc_headers_assign(tc_state *st, PyObject *headers, PyObject *dict, PyObject *lists,
                      PyObject *last_key);
/* request.method / .headers / .connection / .body: a new reference (request.c). */
enum { TC_RQ_METHOD, TC_RQ_HEADERS, TC_RQ_CONNECTION, TC_RQ_BODY };
PyObject *tc_request_get(tc_state *st, PyObject *request, int which);
/* request.<TC_RQ_*> = value (request.c). */
int tc_request_set(tc_state *st, PyObject *request, int which, PyObject *value);
/* 1 when request._parse_body() has nothing to do: it is ``original``
 * (NULL: request_setup's) and there is no Content-Type (request.c). */
int tc_request_parse_is_noop(tc_state *st, PyObject *request, PyObject *original);
/* getattr(mod, name), from a plain module's dict directly when it is there
 * (request.c). */
PyObject *tc_module_attr(tc_state *st, PyObject *mod, PyObject *name);
/* 1 when tc_request_new() may stand in for calling cls with these (the
 * original HTTPServerRequest, C-built start line and HTTPHeaders). */
int tc_request_applies(tc_state *st, PyObject *cls, PyObject *start_line, PyObject *headers);
PyObject *tc_request_new(tc_state *st, PyObject *cls, PyObject *conn, PyObject *server_conn,
                         PyObject *start_line, PyObject *headers);
/* mod.time() for a module that is (or stands for) ``time``: the clock read
 * directly while mod.time is the builtin time.time, else mod.time called. */
PyObject *tc_time_time(tc_state *st, PyObject *mod);

/* route.c: _route(router, request, env), an Application's rule walk. */
PyObject *tc_route(PyObject *module, PyObject *const *args, Py_ssize_t nargs);
/* The same walk from C: the delegate, None, or NotImplemented (new). */
PyObject *tc_route_walk(tc_state *st, PyObject *router, PyObject *request, PyObject *env);
int tc_route_init(tc_state *st);

/* proxy.c: RequestProxyBase (httpclient._RequestProxy's lookup). */
int tc_proxy_type_init(PyObject *module, tc_state *st);

/* Forgets the loop's HTTP/1 connections (the loop is closing). */
void tc_http1_loop_closed(tc_loop *loop);

/* Shared HTTP/1 helpers (http1.c), used by the server (http1.c) and the
 * client (http1client.c) connections. */

/* One header field of a parsed head: name and value as offsets into the
 * head's bytes. */
typedef struct {
    Py_ssize_t name_off, name_len, val_off, val_len;
} tc_h1_field;

/* The fields of a head as llhttp reports them, span by span. */
enum { TC_H1_SPAN_NONE = 0, TC_H1_SPAN_NAME, TC_H1_SPAN_VALUE };
typedef struct {
    tc_h1_field *v;
    Py_ssize_t n, cap;
    int last;          /* the kind of the last span (TC_H1_SPAN_*) */
} tc_h1_fieldset;

/* Records a span of a field name (is_value 0) or value at offset off, len
 * bytes long: a name span after a value starts a new field; consecutive
 * spans of one kind extend it.  0, or -1 when out of memory (no exception
 * set).  The array is freed with PyMem_Free(fs->v). */
int tc_h1_fieldset_span(tc_h1_fieldset *fs, int is_value, Py_ssize_t off, Py_ssize_t len);

/* What tc_h1_build_headers noticed for the connection: a single
 * "Connection: keep-alive", and "Expect: 100-continue". */
typedef struct {
    char keepalive;
    char expect_continue;
} tc_h1_notes;

/* A header name in Tornado's Http-Header-Case.  New reference or NULL. */
PyObject *tc_h1_normalize_name(tc_state *st, const char *p, Py_ssize_t n);

/* 1 when p[0, n) is a non-empty RFC 9110 token, else 0. */
int tc_h1_is_token(const char *p, Py_ssize_t n);

/* 1 when p[0, n) equals want (ASCII, case-insensitively), else 0. */
int tc_h1_name_is(const char *p, Py_ssize_t n, const char *want);

/* Builds an HTTPHeaders from nfields fields whose bytes are at base
 * (values trimmed of SP/HTAB, repeated names joined with "," as
 * HTTPHeaders.add does), filling notes; *te_out receives a new reference to
 * the last Transfer-Encoding value, or NULL.  Returns a new reference, or
 * NULL with an exception (HTTPInputError for a name that is not a token). */
PyObject *tc_h1_build_headers(tc_state *st, const char *base, const tc_h1_field *fields,
                              Py_ssize_t nfields, tc_h1_notes *notes, PyObject **te_out);

/* Appends "\r\nName: value" for every field of an HTTPHeaders (its
 * _as_list, or get_all() for other mappings), then checks, in order, the
 * line starting at first_line and every field line for CR or LF (Tornado's
 * ValueError "Illegal characters (CR or LF) in header").  0, or -1 with an
 * exception. */
int tc_h1_put_fields(tc_state *st, tc_buf *out, PyObject *headers, Py_ssize_t first_line);

/* Appends n body bytes at p, framed as one chunk ("<hex size>\r\n" data
 * "\r\n") when chunking; nothing for n == 0.  0, or -1 with MemoryError. */
int tc_h1_put_chunk(tc_buf *out, const char *p, Py_ssize_t n, int chunking);

/* 1 when o is a non-empty str of ASCII digits (Tornado's parse_int). */
int tc_h1_all_digits(PyObject *o);

/* int(text) for a str of ASCII digits, else ValueError as Tornado's
 * parse_int.  New reference or NULL. */
PyObject *tc_h1_parse_length(PyObject *text);

/* tp((a, b, c)) for a namedtuple class tp (RequestStartLine,
 * ResponseStartLine), without calling its __new__.  New reference or NULL. */
PyObject *tc_h1_start_line(PyTypeObject *tp, PyObject *a, PyObject *b, PyObject *c);
/* conn.write_headers(*args) / conn.finish() / conn.set_close_callback(cb)
 * for an HTTP1Conn, straight to its C methods (http1.c). */
PyObject *tc_h1_call_write_headers(PyObject *conn, PyObject *const *args, Py_ssize_t nargs);
PyObject *tc_h1_call_finish(PyObject *conn);
PyObject *tc_h1_call_set_close_callback(PyObject *conn, PyObject *cb);
/* What handler.c found of an HTTP1Conn (conn must be one): write_headers,
 * finish and set_close_callback all its own C methods while its class has
 * type_version and its __dict__ is dict with dict_version (compared only).
 * Zeroed (nothing found) when the connection is made. */
typedef struct {
    PyObject *dict;
    uint64_t dict_version;
    unsigned int type_version;
} tc_h1_memo;
tc_h1_memo *tc_h1_memo_of(PyObject *conn);

/* Narrows *p / *n to the value without optional whitespace (SP, HTAB)
 * around it. */
static inline void
tc_h1_trim(const char **p, Py_ssize_t *n)
{
    while (*n > 0 && ((*p)[*n - 1] == ' ' || (*p)[*n - 1] == '\t')) {
        (*n)--;
    }
    while (*n > 0 && (**p == ' ' || **p == '\t')) {
        (*p)++;
        (*n)--;
    }
}

/* ------------------------------------------------------- http1client.c */

/* The native client side of an HTTP/1 connection (_core.HTTP1Client). */
int tc_http1client_type_init(PyObject *module, tc_state *st);

/* A C protocol attached to a Stream (http1.c).  on_data runs inside the
 * stream's read callback after a chunk was appended to the read buffer
 * (tc_stream_rbuf), with the GIL held; the protocol consumes what it can and
 * must not let an exception escape.  on_drain runs when the write queue has
 * emptied. */
typedef struct {
    void (*on_data)(void *ctx);
    void (*on_drain)(void *ctx);
    /* Optional: offered a chunk read while the stream's buffer is empty,
     * before it is buffered; returns how many bytes it consumed (the rest
     * is buffered and on_data follows). */
    Py_ssize_t (*on_direct)(void *ctx, const char *data, Py_ssize_t len);
    /* Optional: the end of the input (on_eof) and read or write errors
     * (on_error: exc is the OSError, borrowed; writing is 1 for a write
     * error).  When set, these events go to the protocol instead of the
     * stream's Python on_event callback; the protocol must not let an
     * exception escape. */
    void (*on_eof)(void *ctx);
    void (*on_error)(void *ctx, PyObject *exc, int writing);
    /* Optional: one queued write went out in full and later ones are
     * still queued (on_drain comes when none are). */
    void (*on_written)(void *ctx);
    /* Optional: the stream's owner is closing it (Stream.close()); what the
     * protocol has accepted but not yet written goes out now. */
    void (*on_close)(void *ctx);
    /* 1: while writes are queued, read at most once per loop iteration, as
     * asyncio's transports read once per iteration (libuv would read up to
     * 32 times per readiness event, queueing data faster than it goes out). */
    char pace_reads;
} tc_stream_proto;

/* 1 when o is a Stream, else 0. */
int tc_stream_check(tc_state *st, PyObject *o);

/* Hands the stream's input to proto (ctx is passed back; not owned).  Reading
 * starts only with tc_stream_want_read(s, 1). */
void tc_stream_attach(tc_stream *s, const tc_stream_proto *proto, void *ctx);

/* Undoes tc_stream_attach; buffered input stays for Python reads. */
void tc_stream_detach(tc_stream *s);

/* Turns the protocol's reading on or off.  0, or -1 with an exception. */
int tc_stream_want_read(tc_stream *s, int on);

/* The stream's read buffer (borrowed; the protocol consumes from it). */
tc_buf *tc_stream_rbuf(tc_stream *s);

/* 1 while the libuv handle is open. */
int tc_stream_is_open(tc_stream *s);

/* 1 when the last on_data call came at the end of a read round — the socket
 * had nothing more (a short read or EAGAIN) or a whole 64 KiB chunk was read
 * (a body piece's worth) — so partial input should be handed over; 0 when
 * it came because enough was buffered. */
int tc_stream_drained(tc_stream *s);

/* 1 while a Python-level read is pending (the protocol then stays out). */
int tc_stream_read_pending(tc_stream *s);

/* Bytes queued for writing and not yet written. */
Py_ssize_t tc_stream_queued(tc_stream *s);

/* The stream's loop (borrowed). */
tc_loop *tc_stream_loop(tc_stream *s);

/* Writes a bytes-like object: uv_try_write first, the rest queued (pinned).
 * Returns the bytes still queued afterwards, or -1 with an exception set
 * (OSError for the socket's own errors). */
Py_ssize_t tc_stream_write(tc_stream *s, PyObject *data);

/* tc_stream_write for bytes the caller owns: written from p directly when
 * possible, the remainder copied and queued.  Same return values. */
Py_ssize_t tc_stream_write_raw(tc_stream *s, const char *p, Py_ssize_t n);

/* Writes head[0, hn), the bytes object body and tail[0, tn) in that order,
 * as tc_stream_write does one buffer: one writev when nothing is queued,
 * the rest queued as one request (head and tail copied, body referenced,
 * not copied).  Returns what tc_stream_write returns. */
Py_ssize_t tc_stream_write_framed(tc_stream *s, const char *head, Py_ssize_t hn, PyObject *body,
                                  const char *tail, Py_ssize_t tn);

/* Closes the libuv handle (and its fd) now; queued writes are dropped and
 * no protocol hook runs afterwards.  Buffered input stays readable. */
void tc_stream_close(tc_stream *s);

/* Half-closes the stream (shutdown(SHUT_WR)) once the queued writes are
 * out.  0 (also when already closed), or -1 with an exception set. */
int tc_stream_shutdown(tc_stream *s);

/* The fd libuv uses (the stream's own duplicate), -1 once closed. */
int tc_stream_fd(tc_stream *s);

/* Reports the OSError currently set as a write error to the stream's Python
 * side (which closes the stream).  Clears the exception. */
void tc_stream_write_failed(tc_stream *s);

/* The end of a response head by Tornado's rule (the first match of
 * \r?\n\r?\n): its length, or -1 when not there yet; *scanned remembers
 * where to search again. */
Py_ssize_t tc_h1_head_end(const char *p, Py_ssize_t n, Py_ssize_t *scanned);

/* 1 when a response head is plainly well formed, so that llhttp and
 * Tornado's Python parser read it the same way (see http1client.c);
 * *reason_off / *reason_len locate the reason phrase. */
int tc_h1_head_is_plain(const char *p, Py_ssize_t n, Py_ssize_t *reason_off,
                        Py_ssize_t *reason_len);

/* The framing fields of a parsed response head, as both C HTTP/1 clients
 * (http1client.c, fetch.c) read them. */
typedef struct {
    int ncl;               /* Content-Length fields */
    Py_ssize_t cl;         /* the last one's value: -1 none, -2 not decimal */
    int nte;               /* Transfer-Encoding fields */
    int te_chunked;        /* the last one is exactly "chunked" (any case) */
    int nce;               /* Content-Encoding fields */
    Py_ssize_t ce_off;     /* the last one's value (trimmed), from base */
    Py_ssize_t ce_len;
} tc_h1_framing;

/* Fills *out from the n fields v of the head at base. */
void tc_h1_scan_framing(const char *base, const tc_h1_field *v, Py_ssize_t n,
                        tc_h1_framing *out);

/* The longest chunk-size line either client looks for its CRLF in (as
 * Tornado's read_until("\r\n", max_bytes=64)). */
#define TC_H1_SIZE_LINE_MAX 64

/* Where a chunk-size line's CRLF starts within the first n bytes of p
 * (n already capped at TC_H1_SIZE_LINE_MAX), or -1. */
Py_ssize_t tc_h1_find_crlf(const char *p, Py_ssize_t n);

/* The size on a chunk-size line p[0, n) (the CRLF excluded): strictly
 * hexadecimal and not empty, as Tornado's int(line, 16) after its checks.
 * -1 when it is not, -2 when it is but does not fit a Py_ssize_t. */
Py_ssize_t tc_h1_chunk_size(const char *p, Py_ssize_t n);

/* _core.h1_request_head(start_line, headers): the request head serialized
 * as HTTP1Connection.write_headers does on a client, as a tuple
 * (head_bytes, chunking, expected_length_or_None).  New reference or NULL. */
PyObject *tc_h1_request_head(tc_state *st, PyObject *start_line, PyObject *headers);

/* ---------------------------------------------------------------- fetch.c */

/* Fetch: one SimpleAsyncHTTPClient request done in C (_core.Fetch). */
int tc_fetch_type_init(PyObject *module, tc_state *st);

/* Closes the libuv handles of the loop's unfinished fetches (loop close). */
void tc_fetch_close_all(tc_loop *loop);
int tc_fetch_traverse(tc_state *st, visitproc visit, void *arg);
void tc_fetch_clear(tc_state *st);

/* ------------------------------------------------------------ transport.c */

/* The asyncio transport on a Stream (needs asyncio.transports importable).
 * 0 / -1. */
int tc_transport_type_init(PyObject *module, tc_state *st);

/* The loop is closing: its streams are closed already; forget the open
 * transports (the ones nobody else holds are collected, with asyncio's
 * "unclosed transport" ResourceWarning). */
void tc_transport_loop_closed(tc_loop *loop);

/* ------------------------------------------------------------ websocket.c */

/* websocket_mask(mask, data) -> bytes: data XOR the repeated 4-byte mask.
 * Returns a new bytes object, or NULL with TypeError/ValueError set. */
PyObject *tc_websocket_mask(PyObject *module, PyObject *const *args, Py_ssize_t nargs);

/* --------------------------------------------------------------- escape.c */

/* utf8(value), to_unicode(value), xhtml_escape(value): the C versions of
 * tornado_c.escape's functions of those names (METH_FASTCALL|KEYWORDS). */
PyObject *tc_escape_utf8(PyObject *module, PyObject *const *args, Py_ssize_t nargs,
                         PyObject *kwnames);
PyObject *tc_escape_to_unicode(PyObject *module, PyObject *const *args, Py_ssize_t nargs,
                               PyObject *kwnames);
PyObject *tc_escape_xhtml(PyObject *module, PyObject *const *args, Py_ssize_t nargs,
                          PyObject *kwnames);
/* _tt_bytes(value), _tt_xhtml(value): a template expression's value as the
 * bytes a compiled template appends (plain, or xhtml-escaped). */
PyObject *tc_template_bytes(PyObject *module, PyObject *value);
PyObject *tc_template_xhtml(PyObject *module, PyObject *value);

/* ----------------------------------------------------------------- json.c */

/* _json_encode(value): json.dumps(value) with "</" written as "<\/", for
 * plain JSON data; NotImplemented for anything it leaves to json.dumps. */
PyObject *tc_json_encode(PyObject *module, PyObject *value);
/* The same text as UTF-8 (ASCII) bytes, or NotImplemented. */
PyObject *tc_json_encode_utf8(PyObject *value);

/* static.c: StaticFileHandler.get()'s short way (_static_plain). */
int tc_static_init(PyObject *module, tc_state *st);
void tc_static_clear(tc_state *st);

/* httpdate.c */
PyObject *tc_http_date(PyObject *module, PyObject *value);
PyObject *tc_timegm(PyObject *module, PyObject *value);
/* A UTC time broken down (wday 0 = Sunday). */
typedef struct {
    int year, month, day, hour, minute, second, wday;
} tc_civil;
/* POSIX seconds as a UTC time: 0, or 1 outside datetime's years 1..9999. */
int tc_civil_from_seconds(long long s, tc_civil *c);
/* The IMF-fixdate of c ("Sun, 06 Nov 1994 08:49:37 GMT"). */
PyObject *tc_http_date_text(const tc_civil *c);
/* datetime.datetime(c's fields, tzinfo=timezone.utc). */
PyObject *tc_utc_datetime(const tc_civil *c);
/* The datetime C API imported (0), or -1 with an exception. */
int tc_datetime_api(void);
/* 1 when cls is datetime.datetime and tz is timezone.utc, else 0. */
int tc_is_utc_datetime_class(PyObject *cls, PyObject *tz);

/* --------------------------------------------------------------- errors.c */

/* Raises the OSError subclass matching a libuv error code (a negative UV_E*
 * value) with libuv's message.  Always returns NULL. */
PyObject *tc_raise_uv_error(int uverr);

#endif /* TORNADO_C_TC_H */
