/*
 * http1.c — HTTP1Conn, the native server side of tornado_c.http1connection.
 *
 * Serves tornado_c.http1connection (HTTP1ServerConnection on a native
 * stream).  An HTTP1Conn attaches itself to a Stream as its C protocol: bytes
 * read from the socket go straight into llhttp (no lenient flags), the
 * request line and headers are collected in a per-connection arena, and the
 * server's delegate is called exactly as Tornado's HTTP1Connection calls it
 * (start_request, headers_received, data_received, finish,
 * on_connection_close) — directly from C, one call each, with no coroutine or
 * Future per request.  Responses come back through write_headers / write /
 * finish, which serialize the status line, headers and (chunked) body in C
 * into one buffer and write it at once.  Pipelined requests already buffered
 * are served in the same pass.
 *
 * Everything that is rare or belongs to Python's logging (malformed input,
 * delegate exceptions, timeouts, falling back to the Python parser) is handed
 * to methods of the Python subclass (_on_error, _on_timeout, _wait,
 * _fallback, _close_stream), which keeps Tornado's log lines in one place.
 */
#include "tc.h"

#include <llhttp.h>
#include <stdlib.h>
#include <string.h>

/* Where the connection is. */
enum {
    H1_READ = 0,     /* parsing a request (or waiting for one) */
    H1_WAIT = 1,     /* a delegate returned an awaitable: paused until _resume */
    H1_RESPONSE = 2, /* request read and finish()ed; waiting for the response */
    H1_DONE = 3,     /* closed, detached or failed: nothing more happens */
};

/* What the pending awaitable was returned by. */
enum { AW_NONE = 0, AW_HEADERS, AW_BODY };

/* Which llhttp span callback ran last (header field/value assembly). */

typedef tc_h1_field h1_header;

typedef struct tc_http1_s tc_http1;

struct tc_http1_s {
    PyObject_HEAD
    tc_stream *stream;         /* strong; NULL once released */
    PyObject *server;          /* HTTPServerConnectionDelegate */
    PyObject *server_conn;     /* passed to start_request / on_close */
    PyObject *done_future;     /* a completed Future for synchronous writes */
    PyObject *delegate;        /* the current HTTPMessageDelegate */
    PyObject *dispatch;        /* HTTPServer._native_dispatch()'s config: a
                                  Dispatch is made per request instead of
                                  calling start_request (dispatch.c); NULL */
    PyObject *close_callback;
    PyObject *waiters;         /* list of Futures waiting for the drain */
    PyObject *pieces;          /* list of whole body pieces made straight
                                  from llhttp's spans, or NULL */
    Py_ssize_t pieces_pos;     /* the next one to deliver */
    PyObject *whole;           /* a Content-Length body gathered into one
                                  bytes object, for a delegate that only
                                  collects it (tc_dispatch_whole_body) */
    Py_ssize_t whole_len;      /* bytes of it received */
    PyObject *dict;
    PyObject *weakreflist;
    tc_state *st;              /* the module's state, looked up once */
    tc_http1 *next, *prev;     /* the loop's list (deadline sweep) */
    tc_loop *loop;             /* borrowed; NULL when not linked */
    llhttp_t parser;
    tc_buf head;               /* method prefix / url / header names+values */
    tc_buf body;               /* body bytes parsed, not yet delivered */
    tc_buf cork;               /* responses written while the engine
                                  dispatches: sent once per pass */
    PyObject *cork_body;       /* a body held by reference after the cork's
                                  bytes (its chunk CRLF after it when
                                  cork_crlf); nothing is added behind it */
    char cork_crlf;
    tc_buf pre;                /* bytes of a request line before its method
                                  was recognised (for the Python fallback) */
    tc_h1_fieldset fs;         /* the head's fields (offsets into head) */
    Py_ssize_t url_len;
    Py_ssize_t head_bytes;     /* bytes of the current head consumed */
    Py_ssize_t chunk_size;
    Py_ssize_t max_header_size;
    Py_ssize_t max_body_size;  /* for the current message */
    Py_ssize_t default_max_body_size;
    Py_ssize_t body_received;
    Py_ssize_t expected_remaining; /* response Content-Length left, -1: none */
    double header_timeout;     /* seconds, <= 0: none */
    double body_timeout;       /* for the current message */
    double default_body_timeout;
    uint64_t deadline;         /* uv_now() ms at which the timer fires, 0 */
    const char *error_reason;  /* set by a callback returning HPE_USER */
    int state;
    int awaiting;
    char in_pump, msg_begun, method_done, hdr_done, msg_done;
    char delegate_open, read_finished, write_finished, disconnect;
    char chunking, is_head, http10, keepalive_req, expect_continue;
    char deadline_is_body, no_keep_alive, closed_seen;
    char lead_lf;              /* blank-line LFs ahead of the request line */
    char head_nl;              /* the head's last bytes: 1 after LF, 2 after
                                  LF CR, else 0 (obs-fold and the head end) */
    char last_cr;              /* the last byte fed to llhttp was CR */
    char need_start;           /* start_request is owed for the next request */
    char chunk_pause;          /* 1: paused after a size line, 2: after a chunk */
    char body_flush;           /* a chunk or the body ended: deliver the rest */
    char flush_queued;         /* the cork goes out when the loop stops
                                  holding output (tc_loop_defer) */
    char line_checked;         /* the request line passed Tornado's split */
    Py_ssize_t pre_scanned;    /* pre: bytes already searched for the LF */
    Py_ssize_t size_line;      /* bytes of the chunk-size line so far, -1 */
    char need_exec;            /* llhttp paused: run it even with no input,
                                  it may complete the message */
    PyObject *refusal;         /* a malformed head's HTTPInputError message,
                                  held until the head ends (h1_refuse); NULL */
    tc_h1_memo memo;           /* handler.c's (wb_conn_native) */
};

static llhttp_settings_t h1_settings;

/* The module's state: found through the type's MRO once, then kept (the
 * type, which the object references, keeps the module alive). */
static inline tc_state *
h1_state(tc_http1 *c)
{
    if (c->st == NULL) {
        c->st = tc_state_from_type(Py_TYPE(c));
    }
    return c->st;
}

static void h1_pump(tc_http1 *c);

/* ------------------------------------------------------------ deadlines */

/* Connections with a deadline are swept by one timer per loop, armed for
 * the earliest deadline: setting a later deadline (every request's idle
 * timeout) costs no libuv call at all. */

static void
h1_unlink(tc_http1 *c)
{
    tc_loop *loop = c->loop;
    if (loop == NULL) {
        return;
    }
    if (c->prev != NULL) {
        c->prev->next = c->next;
    }
    else if (loop->http_conns == c) {
        loop->http_conns = c->next;
    }
    if (c->next != NULL) {
        c->next->prev = c->prev;
    }
    c->next = c->prev = NULL;
    c->loop = NULL;
}

static void
h1_link(tc_http1 *c, tc_loop *loop)
{
    c->loop = loop;
    c->prev = NULL;
    c->next = loop->http_conns;
    if (c->next != NULL) {
        c->next->prev = c;
    }
    loop->http_conns = c;
}

static void h1_on_sweep(uv_timer_t *t);

static void
h1_arm(tc_loop *loop, uint64_t when)
{
    uint64_t now = uv_now(&loop->uvloop);
    if (loop->http_timer_due != 0 && loop->http_timer_due <= when) {
        return;
    }
    loop->http_timer_due = when;
    uv_timer_start(&loop->http_timer, h1_on_sweep, when > now ? when - now : 0, 0);
}

static void
h1_set_deadline(tc_http1 *c, double seconds, int is_body)
{
    uint64_t when;
    if (c->loop == NULL || seconds <= 0) {
        c->deadline = 0;
        return;
    }
    when = uv_now(&c->loop->uvloop) + (uint64_t)(seconds * 1000.0 + 0.5);
    if (when == 0) {
        when = 1;
    }
    c->deadline = when;
    c->deadline_is_body = (char)is_body;
    h1_arm(c->loop, when);
}

static void
h1_on_sweep(uv_timer_t *t)
{
    tc_loop *loop = (tc_loop *)t->data;
    uint64_t now, next = 0;
    tc_http1 *c;
    PyObject *expired;
    Py_ssize_t i;

    tc_loop_ensure_gil(loop);
    loop->http_timer_due = 0;
    now = uv_now(&loop->uvloop);
    expired = PyList_New(0);
    if (expired == NULL) {
        PyErr_WriteUnraisable(NULL);
        return;
    }
    for (c = loop->http_conns; c != NULL; c = c->next) {
        if (c->deadline == 0) {
            continue;
        }
        if (c->deadline <= now) {
            if (PyList_Append(expired, (PyObject *)c) < 0) {
                PyErr_WriteUnraisable(NULL);
            }
        }
        else if (next == 0 || c->deadline < next) {
            next = c->deadline;
        }
    }
    if (next != 0) {
        h1_arm(loop, next);
    }
    for (i = 0; i < PyList_GET_SIZE(expired); i++) {
        tc_http1 *e = (tc_http1 *)PyList_GET_ITEM(expired, i);
        PyObject *r;
        int is_body = e->deadline_is_body;
        if (e->deadline == 0 || e->deadline > now) {
            continue; /* an earlier expiry's callback moved it */
        }
        e->deadline = 0;
        e->state = H1_DONE;
        r = PyObject_CallMethod((PyObject *)e, "_on_timeout", "i", is_body);
        if (r == NULL) {
            PyErr_WriteUnraisable((PyObject *)e);
        }
        Py_XDECREF(r);
    }
    Py_DECREF(expired);
}

void
tc_http1_loop_closed(tc_loop *loop)
{
    while (loop->http_conns != NULL) {
        h1_unlink(loop->http_conns);
    }
}

/* ------------------------------------------------------ llhttp callbacks */

static int
h1_head_append(tc_http1 *c, const char *at, size_t len)
{
    if (tc_buf_append(&c->head, at, (Py_ssize_t)len) < 0) {
        PyErr_Clear();
        c->error_reason = "out of memory";
        return HPE_USER;
    }
    return 0;
}

static int
http1_on_message_begin(llhttp_t *p)
{
    tc_http1 *c = (tc_http1 *)p->data;
    c->msg_begun = 1;
    c->head.len = 0;
    c->head.start = 0;
    c->fs.n = 0;
    c->url_len = 0;
    c->fs.last = TC_H1_SPAN_NONE;
    return 0;
}

static int
http1_on_method_complete(llhttp_t *p)
{
    tc_http1 *c = (tc_http1 *)p->data;
    c->method_done = 1;
    return 0;
}

static int
http1_on_url(llhttp_t *p, const char *at, size_t len)
{
    tc_http1 *c = (tc_http1 *)p->data;
    c->url_len += (Py_ssize_t)len;
    return h1_head_append(c, at, len);
}

static int
http1_on_header_field(llhttp_t *p, const char *at, size_t len)
{
    tc_http1 *c = (tc_http1 *)p->data;
    if (c->hdr_done) {
        /* A trailer section after the last chunk: Tornado takes none. */
        c->error_reason = "improperly terminated chunked request";
        return HPE_USER;
    }
    if (tc_h1_fieldset_span(&c->fs, 0, c->head.len, (Py_ssize_t)len) < 0) {
        c->error_reason = "out of memory";
        return HPE_USER;
    }
    return h1_head_append(c, at, len);
}

static int
http1_on_header_value(llhttp_t *p, const char *at, size_t len)
{
    tc_http1 *c = (tc_http1 *)p->data;
    if (c->fs.n == 0) {
        return 0;
    }
    (void)tc_h1_fieldset_span(&c->fs, 1, c->head.len, (Py_ssize_t)len);
    return h1_head_append(c, at, len);
}

static int
http1_on_headers_complete(llhttp_t *p)
{
    tc_http1 *c = (tc_http1 *)p->data;
    c->hdr_done = 1;
    return HPE_PAUSED;
}

static int
http1_on_body(llhttp_t *p, const char *at, size_t len)
{
    tc_http1 *c = (tc_http1 *)p->data;
    c->body_received += (Py_ssize_t)len;
    if (c->body_received > c->max_body_size) {
        c->error_reason = "chunked body too large";
        return HPE_USER;
    }
    if (c->write_finished) {
        return 0; /* the response is out: the rest of the body is dropped */
    }
    if (c->whole != NULL) {
        /* Straight into the one bytes object the delegate will get. */
        if ((Py_ssize_t)len > PyBytes_GET_SIZE(c->whole) - c->whole_len) {
            c->error_reason = "body longer than Content-Length";
            return HPE_USER;
        }
        memcpy(PyBytes_AS_STRING(c->whole) + c->whole_len, at, len);
        c->whole_len += (Py_ssize_t)len;
        return 0;
    }
    if (c->body.len == 0 && (Py_ssize_t)len >= c->chunk_size) {
        /* Whole pieces go from the input into their bytes objects (one
         * copy); only a remainder waits in the body buffer. */
        if (c->pieces == NULL && (c->pieces = PyList_New(0)) == NULL) {
            goto nomem;
        }
        while ((Py_ssize_t)len >= c->chunk_size) {
            PyObject *piece = PyBytes_FromStringAndSize(at, c->chunk_size);
            if (piece == NULL || PyList_Append(c->pieces, piece) < 0) {
                Py_XDECREF(piece);
                goto nomem;
            }
            Py_DECREF(piece);
            at += c->chunk_size;
            len -= (size_t)c->chunk_size;
        }
    }
    if (len > 0 && tc_buf_append(&c->body, at, (Py_ssize_t)len) < 0) {
        goto nomem;
    }
    return 0;
nomem:
    PyErr_Clear();
    c->error_reason = "out of memory";
    return HPE_USER;
}

static int
http1_on_chunk_header(llhttp_t *p)
{
    tc_http1 *c = (tc_http1 *)p->data;
    /* Checked before the chunk's data arrives, as Tornado does. */
    if ((uint64_t)c->body_received + p->content_length > (uint64_t)c->max_body_size) {
        c->error_reason = "chunked body too large";
        return HPE_USER;
    }
    /* Pause right after the size line, so that its length can be checked
     * (Tornado reads it with a 64-byte limit). */
    c->chunk_pause = 1;
    return HPE_PAUSED;
}

static int
http1_on_chunk_complete(llhttp_t *p)
{
    tc_http1 *c = (tc_http1 *)p->data;
    c->chunk_pause = 2;
    return HPE_PAUSED;
}

static int
http1_on_chunk_extension(llhttp_t *p, const char *at, size_t len)
{
    tc_http1 *c = (tc_http1 *)p->data;
    (void)at;
    (void)len;
    /* Tornado reads the size line as bare hex: an extension is invalid. */
    c->error_reason = "invalid chunk size";
    return HPE_USER;
}

static int
http1_on_message_complete(llhttp_t *p)
{
    tc_http1 *c = (tc_http1 *)p->data;
    c->msg_done = 1;
    return HPE_PAUSED;
}

/* ------------------------------------------------------- Python helpers */

static void h1_flush(tc_http1 *c);
static void h1_flush_soon(tc_http1 *c);

/* Whether output is held in the cork now: while the engine dispatches,
 * and while the loop runs a poll's callbacks or its ready handles. */
static inline int
h1_holding(tc_http1 *c)
{
    return c->in_pump || (c->stream != NULL && tc_stream_loop(c->stream)->holding);
}

/* Calls a method of the Python subclass (the rare events), after sending
 * any corked responses; returns its result or NULL. */
static PyObject *
h1_call(tc_http1 *c, const char *name, PyObject *arg)
{
    PyObject *meth, *r;
    h1_flush(c);
    meth = PyObject_GetAttrString((PyObject *)c, name);
    if (meth == NULL) {
        return NULL;
    }
    r = arg == NULL ? PyObject_CallNoArgs(meth) : PyObject_CallOneArg(meth, arg);
    Py_DECREF(meth);
    return r;
}

/* Hands the exception currently set to _on_error (which logs it, answers
 * 400 for HTTPInputError, and closes).  The connection is done. */
static void
h1_fail_current(tc_http1 *c)
{
    PyObject *exc = PyErr_GetRaisedException_compat(), *r;
    h1_flush(c); /* earlier responses go before the error's */
    if (PyErr_Occurred()) {
        PyErr_Clear();
    }
    c->state = H1_DONE;
    c->deadline = 0;
    if (exc == NULL) {
        return;
    }
    r = h1_call(c, "_on_error", exc);
    Py_DECREF(exc);
    if (r == NULL) {
        PyErr_WriteUnraisable((PyObject *)c);
    }
    Py_XDECREF(r);
}

/* Fails with HTTPInputError(message). */
static void
h1_fail_input(tc_http1 *c, PyObject *message)
{
    tc_state *st = h1_state(c);
    if (message != NULL) {
        PyErr_SetObject(st->http_input_error, message);
        Py_DECREF(message);
    }
    h1_fail_current(c);
}

static void
h1_close_stream(tc_http1 *c)
{
    PyObject *r;
    h1_flush(c);
    c->state = H1_DONE;
    c->deadline = 0;
    r = h1_call(c, "_close_stream", NULL);
    if (r == NULL) {
        PyErr_WriteUnraisable((PyObject *)c);
    }
    Py_XDECREF(r);
}

/* Resolves every write waiter (Tornado resolves write futures with None
 * even when the stream closed under them). */
static int
h1_release_waiters(tc_http1 *c)
{
    tc_state *st = h1_state(c);
    PyObject *waiters = c->waiters;
    Py_ssize_t i;
    int rc = 0;
    if (waiters == NULL) {
        return 0;
    }
    c->waiters = NULL;
    for (i = 0; i < PyList_GET_SIZE(waiters); i++) {
        PyObject *f = PyList_GET_ITEM(waiters, i);
        PyObject *done = PyObject_CallMethod(f, "done", NULL), *r;
        int is_done;
        if (done == NULL) {
            rc = -1;
            break;
        }
        is_done = PyObject_IsTrue(done);
        Py_DECREF(done);
        if (is_done) {
            continue;
        }
        r = PyObject_CallMethodOneArg(f, st->str_set_result, Py_None);
        if (r == NULL) {
            rc = -1;
            break;
        }
        Py_DECREF(r);
    }
    Py_DECREF(waiters);
    return rc;
}

/* --------------------------------------------------------------- reading */

/* The field name p[0..n) in Http-Header-Case, as a str.  Names of up to
 * TC_H1_NAME_CACHED bytes come from a small table of the last ones seen
 * (two places per hash, the older replaced): the usual few (Host,
 * Content-Type, ...) are then one interned object each, whose hash is
 * known and which dict lookups with a str literal match by identity. */
PyObject *
tc_h1_normalize_name(tc_state *st, const char *p, Py_ssize_t n)
{
    char buf[TC_H1_NAME_CACHED];
    char *d = buf;
    PyObject *s = NULL, **slot = NULL, **other;
    Py_ssize_t i;
    uint32_t hash = 2166136261u;
    int start = 1;

    if (n > TC_H1_NAME_CACHED) {
        s = PyUnicode_New(n, 127);
        if (s == NULL) {
            return NULL;
        }
        d = (char *)PyUnicode_1BYTE_DATA(s);
    }
    for (i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)p[i];
        if (ch >= 0x80) {
            /* llhttp only lets tokens through: never happens. */
            Py_XDECREF(s);
            return PyUnicode_DecodeLatin1(p, n, NULL);
        }
        if (start && ch >= 'a' && ch <= 'z') {
            ch = (unsigned char)(ch - 32);
        }
        else if (!start && ch >= 'A' && ch <= 'Z') {
            ch = (unsigned char)(ch + 32);
        }
        d[i] = (char)ch;
        start = ch == '-';
        hash = (hash ^ ch) * 16777619u;
    }
    if (s != NULL) {
        return s;
    }
    /* Two places a name may be kept (so that two usual names whose hashes
     * meet do not evict each other on every message): a new name takes the
     * first that is free, else replaces what is in the first. */
    slot = &st->h1_name_cache[hash % TC_H1_NAME_SLOTS];
    other = &st->h1_name_cache[(hash >> 16) % TC_H1_NAME_SLOTS];
    if (*slot != NULL && PyUnicode_GET_LENGTH(*slot) == n &&
        memcmp(PyUnicode_1BYTE_DATA(*slot), buf, (size_t)n) == 0) {
        return Py_NewRef(*slot);
    }
    if (other != slot && *other != NULL && PyUnicode_GET_LENGTH(*other) == n &&
        memcmp(PyUnicode_1BYTE_DATA(*other), buf, (size_t)n) == 0) {
        return Py_NewRef(*other);
    }
    s = PyUnicode_FromStringAndSize(buf, n);
    if (s == NULL) {
        return NULL;
    }
    PyUnicode_InternInPlace(&s);
    if (*slot != NULL && *other == NULL) {
        slot = other;
    }
    Py_XSETREF(*slot, Py_NewRef(s));
    return s;
}

int
tc_h1_is_token(const char *p, Py_ssize_t n)
{
    Py_ssize_t i;
    if (n == 0) {
        return 0;
    }
    for (i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)p[i];
        if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
              (ch != 0 && strchr("!#$%&'*+-.^_`|~", ch) != NULL))) {
            return 0;
        }
    }
    return 1;
}

int
tc_h1_name_is(const char *p, Py_ssize_t n, const char *want)
{
    Py_ssize_t wl = (Py_ssize_t)strlen(want);
    return n == wl && strncasecmp(p, want, (size_t)n) == 0;
}

/* An instance of tp, a namedtuple class of three fields (what tuple.__new__
 * makes for it, without the argument tuples). */
PyObject *
tc_h1_start_line(PyTypeObject *tp, PyObject *a, PyObject *b, PyObject *c)
{
    PyObject *line;
    if (!PyType_IsSubtype(tp, &PyTuple_Type)) {
        PyErr_SetString(PyExc_TypeError, "start line classes must be tuples");
        return NULL;
    }
    line = tp->tp_alloc(tp, 3);
    if (line == NULL) {
        return NULL;
    }
    PyTuple_SET_ITEM(line, 0, Py_NewRef(a));
    PyTuple_SET_ITEM(line, 1, Py_NewRef(b));
    PyTuple_SET_ITEM(line, 2, Py_NewRef(c));
    return line;
}

PyObject *
tc_h1_parse_length(PyObject *text)
{
    if (tc_h1_all_digits(text)) {
        return PyLong_FromUnicodeObject(text, 10);
    }
    if (!PyErr_Occurred()) {
        PyErr_Format(PyExc_ValueError, "not an integer: %R", text);
    }
    return NULL;
}

int
tc_h1_fieldset_span(tc_h1_fieldset *fs, int is_value, Py_ssize_t off, Py_ssize_t len)
{
    tc_h1_field *f;
    if (!is_value) {
        if (fs->last != TC_H1_SPAN_NAME) {
            if (fs->n == fs->cap) {
                Py_ssize_t cap = fs->cap ? fs->cap * 2 : 16;
                tc_h1_field *m = PyMem_Realloc(fs->v, (size_t)cap * sizeof(tc_h1_field));
                if (m == NULL) {
                    return -1;
                }
                fs->v = m;
                fs->cap = cap;
            }
            f = &fs->v[fs->n++];
            f->name_off = off;
            f->name_len = 0;
            f->val_off = off;
            f->val_len = 0;
            fs->last = TC_H1_SPAN_NAME;
        }
        fs->v[fs->n - 1].name_len += len;
        return 0;
    }
    if (fs->n == 0) {
        return 0;
    }
    f = &fs->v[fs->n - 1];
    if (fs->last != TC_H1_SPAN_VALUE) {
        f->val_off = off;
        f->val_len = 0;
        fs->last = TC_H1_SPAN_VALUE;
    }
    f->val_len += len;
    return 0;
}

PyObject *
tc_h1_build_headers(tc_state *st, const char *base, const tc_h1_field *fields,
                    Py_ssize_t nfields, tc_h1_notes *notes, PyObject **te_out)
{
    PyObject *headers = NULL, *d = NULL, *lists = NULL, *last = Py_None;
    Py_ssize_t i;
    int conn_count = 0, expect_count = 0;

    notes->keepalive = 0;
    notes->expect_continue = 0;
    *te_out = NULL;
    headers = PyBaseObject_Type.tp_new(st->http_headers, st->empty_tuple, NULL);
    /* (sized for the fields: no resize while filling) */
    d = _PyDict_NewPresized(nfields);
    lists = _PyDict_NewPresized(nfields);
    if (headers == NULL || d == NULL || lists == NULL) {
        goto error;
    }
    for (i = 0; i < nfields; i++) {
        const tc_h1_field *h = &fields[i];
        const char *np = base + h->name_off, *vp = base + h->val_off;
        Py_ssize_t vl = h->val_len;
        PyObject *name, *value, *old, *lst;
        tc_h1_trim(&vp, &vl);
        if (!tc_h1_is_token(np, h->name_len)) {
            PyObject *raw = PyUnicode_DecodeLatin1(np, h->name_len, NULL);
            if (raw != NULL) {
                PyErr_Format(st->http_input_error, "Invalid header name %R", raw);
                Py_DECREF(raw);
            }
            goto error;
        }
        name = tc_h1_normalize_name(st, np, h->name_len);
        if (name == NULL) {
            goto error;
        }
        value = PyUnicode_DecodeLatin1(vp, vl, NULL);
        if (value == NULL) {
            Py_DECREF(name);
            goto error;
        }
        if (tc_h1_name_is(np, h->name_len, "connection")) {
            conn_count++;
            notes->keepalive = vl == 10 && strncasecmp(vp, "keep-alive", 10) == 0 &&
                               conn_count == 1;
        }
        else if (tc_h1_name_is(np, h->name_len, "expect")) {
            /* Tornado compares the joined value: two Expect fields never
             * equal "100-continue". */
            expect_count++;
            notes->expect_continue = vl == 12 && memcmp(vp, "100-continue", 12) == 0 &&
                                     expect_count == 1;
        }
        else if (tc_h1_name_is(np, h->name_len, "transfer-encoding")) {
            Py_XSETREF(*te_out, Py_NewRef(value));
        }
        old = PyDict_GetItemWithError(d, name);
        if (old == NULL && PyErr_Occurred()) {
            Py_DECREF(name);
            Py_DECREF(value);
            goto error;
        }
        if (old != NULL) {
            PyObject *joined = PyUnicode_FromFormat("%U,%U", old, value);
            int rc;
            if (joined == NULL) {
                Py_DECREF(name);
                Py_DECREF(value);
                goto error;
            }
            rc = PyDict_SetItem(d, name, joined);
            Py_DECREF(joined);
            lst = PyDict_GetItemWithError(lists, name);
            if (rc < 0 || lst == NULL || PyList_Append(lst, value) < 0) {
                Py_DECREF(name);
                Py_DECREF(value);
                goto error;
            }
        }
        else {
            lst = PyList_New(1);
            if (lst == NULL) {
                Py_DECREF(name);
                Py_DECREF(value);
                goto error;
            }
            PyList_SET_ITEM(lst, 0, Py_NewRef(value));
            if (PyDict_SetItem(d, name, value) < 0 || PyDict_SetItem(lists, name, lst) < 0) {
                Py_DECREF(lst);
                Py_DECREF(name);
                Py_DECREF(value);
                goto error;
            }
            Py_DECREF(lst);
        }
        Py_DECREF(value);
        if (last != Py_None) {
            Py_DECREF(last);
        }
        last = name;
    }
    if (conn_count > 1) {
        notes->keepalive = 0;
    }
    if (tc_headers_assign(st, headers, d, lists, last) < 0) {
        goto error;
    }
    if (last != Py_None) {
        Py_DECREF(last);
    }
    Py_DECREF(d);
    Py_DECREF(lists);
    return headers;
error:
    if (last != Py_None) {
        Py_DECREF(last);
    }
    Py_XDECREF(headers);
    Py_XDECREF(d);
    Py_XDECREF(lists);
    Py_CLEAR(*te_out);
    return NULL;
}

/* The request's HTTPHeaders, noting the headers the connection acts on. */
static PyObject *
h1_build_headers(tc_http1 *c, PyObject **te_out)
{
    tc_h1_notes notes;
    PyObject *h = tc_h1_build_headers(h1_state(c), tc_buf_head(&c->head), c->fs.v, c->fs.n,
                                      &notes, te_out);
    c->keepalive_req = notes.keepalive;
    c->expect_continue = notes.expect_continue;
    return h;
}

/* The method name as a str (the common ones cached in the state). */
static PyObject *
h1_method(tc_http1 *c)
{
    tc_state *st = h1_state(c);
    unsigned m = c->parser.method;
    if (m < TC_H1_METHODS) {
        if (st->h1_methods[m] == NULL) {
            st->h1_methods[m] = PyUnicode_InternFromString(
                llhttp_method_name((llhttp_method_t)m));
            if (st->h1_methods[m] == NULL) {
                return NULL;
            }
        }
        return Py_NewRef(st->h1_methods[m]);
    }
    return PyUnicode_FromString(llhttp_method_name((llhttp_method_t)m));
}

static void h1_after_headers(tc_http1 *c);

/* The head of a request has been parsed: tell the delegate. */
static void
h1_on_headers(tc_http1 *c)
{
    tc_state *st = h1_state(c);
    PyObject *method = NULL, *uri = NULL, *version = NULL;
    PyObject *start_line = NULL, *headers = NULL, *te = NULL, *delegate, *r;
    int major = c->parser.http_major, minor = c->parser.http_minor;

    c->deadline = 0;
    if (c->head_bytes > c->max_header_size) {
        goto overflow;
    }
    if (major != 1) {
        h1_fail_input(c, PyUnicode_FromFormat(
            "Malformed HTTP version in HTTP Request-Line: 'HTTP/%d.%d'", major, minor));
        return;
    }
    c->http10 = minor == 0;
    c->is_head = c->parser.method == HTTP_HEAD;
    method = h1_method(c);
    uri = PyUnicode_DecodeLatin1(tc_buf_head(&c->head), c->url_len, NULL);
    version = minor == 1 ? Py_NewRef(st->str_http11)
              : minor == 0 ? Py_NewRef(st->str_http10)
              : PyUnicode_FromFormat("HTTP/1.%d", minor);
    if (method == NULL || uri == NULL || version == NULL) {
        goto error;
    }
    start_line = tc_h1_start_line(st->request_start_line, method, uri, version);
    if (start_line == NULL) {
        goto error;
    }
    headers = h1_build_headers(c, &te);
    if (headers == NULL) {
        goto error;
    }
    if (te != NULL) {
        /* llhttp has refused Content-Length with Transfer-Encoding and any
         * coding list not ending in chunked; Tornado's own rule is stricter
         * still: exactly "chunked", and (tornado_c) never in HTTP/1.0. */
        int ok = PyUnicode_GET_LENGTH(te) == 7 &&
                 PyUnicode_KIND(te) == PyUnicode_1BYTE_KIND &&
                 strncasecmp((const char *)PyUnicode_1BYTE_DATA(te), "chunked", 7) == 0;
        if (!ok || c->http10) {
            PyObject *msg = ok ? PyUnicode_FromString(
                                     "Transfer-Encoding in an HTTP/1.0 request")
                               : PyUnicode_FromFormat("Unsupported Transfer-Encoding %U", te);
            Py_DECREF(te);
            Py_XDECREF(method);
            Py_XDECREF(uri);
            Py_XDECREF(version);
                    Py_XDECREF(start_line);
            Py_XDECREF(headers);
            h1_fail_input(c, msg);
            return;
        }
    }
    /* Keep-alive, as Tornado decides it: HTTP/1.1 unless "Connection:
     * close"; HTTP/1.0 only when asked for and the length is knowable. */
    if (c->no_keep_alive) {
        c->disconnect = 1;
    }
    else if (!c->http10) {
        /* Any "close" token counts (Tornado only honours the exact value;
         * llhttp, rightly, would refuse a next request after it). */
        c->disconnect = (c->parser.flags & F_CONNECTION_CLOSE) != 0;
    }
    else {
        int delimited = (c->parser.flags & (F_CONTENT_LENGTH | F_CHUNKED)) != 0 ||
                        c->parser.method == HTTP_GET || c->parser.method == HTTP_HEAD;
        c->disconnect = !(delimited && c->keepalive_req);
    }
    c->state = H1_READ;
    if (c->delegate == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "no delegate for the request");
        goto error;
    }
    delegate = Py_NewRef(c->delegate);
    c->delegate_open = 1;
    r = tc_dispatch_headers_received(st, delegate, start_line, headers);
    Py_DECREF(delegate);
    Py_DECREF(method);
    Py_DECREF(uri);
    Py_DECREF(version);
    Py_DECREF(start_line);
    Py_DECREF(headers);
    Py_XDECREF(te);
    if (r == NULL) {
        h1_fail_current(c);
        return;
    }
    if (c->state == H1_DONE || c->stream == NULL) {
        Py_DECREF(r);
        return; /* detached (a websocket) or closed by the delegate */
    }
    if (r != Py_None) {
        PyObject *w;
        c->state = H1_WAIT;
        c->awaiting = AW_HEADERS;
        w = h1_call(c, "_wait", r);
        Py_DECREF(r);
        if (w == NULL) {
            h1_fail_current(c);
        }
        Py_XDECREF(w);
        return;
    }
    Py_DECREF(r);
    h1_after_headers(c);
    return;
overflow:
    {
        PyObject *w;
        c->state = H1_DONE;
        w = h1_call(c, "_on_overflow", NULL);
        if (w == NULL) {
            PyErr_WriteUnraisable((PyObject *)c);
        }
        Py_XDECREF(w);
    }
    return;
error:
    Py_XDECREF(method);
    Py_XDECREF(uri);
    Py_XDECREF(version);
    Py_XDECREF(start_line);
    Py_XDECREF(headers);
    Py_XDECREF(te);
    h1_fail_current(c);
}

static const char interim_continue[] = "HTTP/1.1 100 (Continue)\r\n\r\n";

static int h1_write_bytes(tc_http1 *c, PyObject *data);

/* headers_received is over: answer Expect, check the body's size, and let
 * llhttp go on. */
static void
h1_after_headers(tc_http1 *c)
{
    if (!c->write_finished && c->expect_continue) {
        PyObject *b = PyBytes_FromStringAndSize(interim_continue,
                                                (Py_ssize_t)sizeof(interim_continue) - 1);
        if (b == NULL || h1_write_bytes(c, b) < 0) {
            Py_XDECREF(b);
            h1_fail_current(c);
            return;
        }
        Py_DECREF(b);
    }
    if ((c->parser.flags & F_CONTENT_LENGTH) &&
        c->parser.content_length > (uint64_t)c->max_body_size) {
        h1_fail_input(c, PyUnicode_FromString("Content-Length too long"));
        return;
    }
    if ((c->parser.flags & F_CHUNKED) || c->parser.content_length > 0) {
        h1_set_deadline(c, c->body_timeout, 1);
    }
    c->size_line = (c->parser.flags & F_CHUNKED) ? 0 : -1;
    c->hdr_done = 2; /* handled */
    if ((c->parser.flags & F_CONTENT_LENGTH) && !(c->parser.flags & F_CHUNKED) &&
        c->parser.content_length > (uint64_t)c->chunk_size && !c->write_finished &&
        c->parser.content_length <= (uint64_t)PY_SSIZE_T_MAX &&
        tc_dispatch_whole_body(h1_state(c), c->delegate)) {
        /* The delegate only collects the body (and joins it at the end):
         * gather it in one object instead of chunk_size pieces, which
         * saves copying it all a second time.  The object's pages are
         * only touched as the body arrives. */
        c->whole = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)c->parser.content_length);
        c->whole_len = 0;
        if (c->whole == NULL) {
            PyErr_Clear(); /* pieces as usual */
        }
    }
}

/* Hands buffered body bytes to the delegate in chunk_size pieces.  Returns
 * 0 when all went, 1 when the delegate asked to wait, -1 when failed. */
/* Hands one body piece to the delegate.  0 to go on, 1 when the delegate
 * asked to wait, -1 when the connection failed. */
static int
h1_give_piece(tc_http1 *c, PyObject *piece)
{
    tc_state *st = h1_state(c);
    PyObject *r, *w;
    if (c->write_finished) {
        return 0; /* the response is out: the rest of the body is dropped */
    }
    {
        PyObject *delegate = Py_NewRef(c->delegate);
        r = tc_dispatch_data_received(st, delegate, piece);
        Py_DECREF(delegate);
    }
    if (r == NULL) {
        h1_fail_current(c);
        return -1;
    }
    if (c->state == H1_DONE) {
        Py_DECREF(r);
        return -1;
    }
    if (r == Py_None) {
        Py_DECREF(r);
        return 0;
    }
    c->state = H1_WAIT;
    c->awaiting = AW_BODY;
    w = h1_call(c, "_wait", r);
    Py_DECREF(r);
    if (w == NULL) {
        h1_fail_current(c);
        return -1;
    }
    Py_DECREF(w);
    return 1;
}

/* The message is complete: the body gathered in c->whole becomes the one
 * piece for the delegate (dropped if the response is already out, as
 * h1_give_piece drops pieces then).  0, or -1 with an exception set. */
static int
h1_whole_to_pieces(tc_http1 *c)
{
    PyObject *whole = c->whole;
    int rc = 0;

    c->whole = NULL;
    if (c->write_finished) {
        Py_DECREF(whole);
        return 0;
    }
    if (c->whole_len != PyBytes_GET_SIZE(whole)) {
        PyErr_SetString(PyExc_AssertionError, "incomplete body");
        rc = -1;
    }
    else if (c->pieces == NULL && (c->pieces = PyList_New(0)) == NULL) {
        rc = -1;
    }
    else if (PyList_Append(c->pieces, whole) < 0) {
        rc = -1;
    }
    Py_DECREF(whole);
    return rc;
}

/* 1 when body bytes are ready for the delegate. */
static inline int
h1_body_ready(tc_http1 *c)
{
    return c->pieces != NULL || c->body.len >= c->chunk_size ||
           (c->body.len > 0 && c->body_flush);
}

/* Hands parsed body bytes to the delegate in chunk_size pieces: whole ones
 * as they fill, the rest when body_flush says so.  Returns 0 when done for
 * now, 1 when the delegate asked to wait, -1 when failed. */
static int
h1_deliver_body(tc_http1 *c)
{
    while (c->pieces != NULL) {
        PyObject *piece;
        int rc;
        if (c->pieces_pos >= PyList_GET_SIZE(c->pieces)) {
            Py_CLEAR(c->pieces);
            c->pieces_pos = 0;
            break;
        }
        piece = Py_NewRef(PyList_GET_ITEM(c->pieces, c->pieces_pos));
        c->pieces_pos++;
        rc = h1_give_piece(c, piece);
        Py_DECREF(piece);
        if (rc != 0) {
            return rc;
        }
    }
    while (c->body.len >= c->chunk_size || (c->body.len > 0 && c->body_flush)) {
        Py_ssize_t n = c->body.len < c->chunk_size ? c->body.len : c->chunk_size;
        PyObject *piece = PyBytes_FromStringAndSize(tc_buf_head(&c->body), n);
        int rc;
        if (piece == NULL) {
            h1_fail_current(c);
            return -1;
        }
        tc_buf_drop(&c->body, n);
        if (c->body.len == 0) {
            c->body_flush = 0;
        }
        rc = h1_give_piece(c, piece);
        Py_DECREF(piece);
        if (rc != 0) {
            return rc;
        }
    }
    if (c->body.len == 0) {
        c->body_flush = 0; /* the buffer itself goes at the end of the message */
    }
    return 0;
}

/* The whole request has been read. */
static void
h1_on_message_done(tc_http1 *c)
{
    tc_state *st = h1_state(c);
    c->deadline = 0;
    c->msg_done = 0;
    c->read_finished = 1;
    c->state = H1_RESPONSE;
    if (!c->write_finished) {
        PyObject *r;
        PyObject *delegate = Py_NewRef(c->delegate);
        c->delegate_open = 0;
        r = tc_dispatch_finish(st, delegate);
        Py_DECREF(delegate);
        if (r == NULL) {
            h1_fail_current(c);
            return;
        }
        Py_DECREF(r);
    }
}

/* Gets ready for the next request on the connection. */
static void
h1_reset(tc_http1 *c)
{
    Py_CLEAR(c->delegate);
    Py_CLEAR(c->close_callback);
    Py_CLEAR(c->pieces);
    Py_CLEAR(c->whole);
    c->pieces_pos = 0;
    c->state = H1_READ;
    c->awaiting = AW_NONE;
    c->msg_begun = c->method_done = c->hdr_done = c->msg_done = 0;
    c->delegate_open = c->read_finished = c->write_finished = 0;
    c->disconnect = c->chunking = c->is_head = c->http10 = 0;
    c->keepalive_req = c->expect_continue = 0;
    c->head_bytes = 0;
    c->body_received = 0;
    c->expected_remaining = -1;
    c->max_body_size = c->default_max_body_size;
    c->body_timeout = c->default_body_timeout;
    c->pre.len = 0;
    c->pre.start = 0;
    tc_buf_free(&c->body);
    c->need_exec = 0;
    c->lead_lf = 0;
    c->head_nl = 0;
    c->last_cr = 0;
    c->need_start = 1;
    c->line_checked = 0;
    c->pre_scanned = 0;
    c->size_line = -1;
    c->chunk_pause = 0;
    if (c->parser.upgrade) {
        /* The request asked to upgrade (or was a CONNECT) and its handler
         * kept the connection as HTTP (a WebSocket handshake refused, say):
         * what follows is read as the next request, as Tornado reads it,
         * not as llhttp's upgraded byte stream. */
        llhttp_init(&c->parser, HTTP_REQUEST, &h1_settings);
        c->parser.data = c;
    }
    c->body_flush = 0;
    if (c->head.cap > 16384) {
        tc_buf_free(&c->head);
    }
    h1_set_deadline(c, c->header_timeout, 0);
}

/* Called once the response is complete (finish() and every byte written). */
static void
h1_finish_request(tc_http1 *c)
{
    if (c->disconnect) {
        tc_state *st = h1_state(c);
        PyObject *delegate;
        h1_close_stream(c);
        if (c->dispatch != NULL) {
            return; /* HTTPServer.start_request would only make an adapter */
        }
        /* Tornado's request loop still begins one more request (which then
         * finds the stream closed): its delegate sees start_request. */
        delegate = PyObject_CallMethodObjArgs(c->server, st->str_start_request,
                                              c->server_conn, (PyObject *)c, NULL);
        if (delegate == NULL) {
            PyErr_WriteUnraisable((PyObject *)c);
        }
        Py_XDECREF(delegate);
        return;
    }
    h1_reset(c);
}

/* The bounds of the input line around pos (without its line end). */
static void
h1_line_around(const char *data, Py_ssize_t len, const char *pos,
               const char **start, const char **end)
{
    const char *a = pos, *b = pos;
    while (a > data && a[-1] != '\n') {
        a--;
    }
    while (b < data + len && *b != '\r' && *b != '\n') {
        b++;
    }
    *start = a;
    *end = b;
}

/* The value of the header line llhttp stopped in, from the raw input
 * (best effort: bytes consumed by earlier calls are not seen). */
static PyObject *
h1_raw_value(const char *data, Py_ssize_t len, const char *pos)
{
    const char *start, *end, *colon;
    h1_line_around(data, len, pos, &start, &end);
    colon = memchr(start, ':', (size_t)(end - start));
    if (colon != NULL) {
        start = colon + 1;
    }
    while (start < end && (*start == ' ' || *start == '\t')) {
        start++;
    }
    return PyUnicode_DecodeLatin1(start, end - start, NULL);
}

/* Values so far of a header, joined with "," as HTTPHeaders joins them, with
 * extra appended (may be NULL).  New reference, NULL with an exception. */
static PyObject *
h1_joined(tc_http1 *c, const char *name, PyObject *extra)
{
    PyObject *parts = PyList_New(0), *sep, *out;
    const char *base = tc_buf_head(&c->head);
    Py_ssize_t i, last = c->fs.n - 1;
    if (parts == NULL) {
        return NULL;
    }
    if (extra != NULL && c->fs.last != TC_H1_SPAN_NONE) {
        last--; /* the header being parsed is represented by extra */
    }
    for (i = 0; i <= last; i++) {
        h1_header *h = &c->fs.v[i];
        if (tc_h1_name_is(base + h->name_off, h->name_len, name)) {
            PyObject *v = PyUnicode_DecodeLatin1(base + h->val_off, h->val_len, NULL);
            if (v == NULL || PyList_Append(parts, v) < 0) {
                Py_XDECREF(v);
                Py_DECREF(parts);
                return NULL;
            }
            Py_DECREF(v);
        }
    }
    if (extra != NULL && PyList_Append(parts, extra) < 0) {
        Py_DECREF(parts);
        return NULL;
    }
    sep = PyUnicode_FromString(",");
    if (sep == NULL) {
        Py_DECREF(parts);
        return NULL;
    }
    out = PyUnicode_Join(sep, parts);
    Py_DECREF(sep);
    Py_DECREF(parts);
    return out;
}

/* 1 when a header of that name was seen in the current head. */
static int
h1_has_header(tc_http1 *c, const char *name)
{
    const char *base = tc_buf_head(&c->head);
    Py_ssize_t i;
    for (i = 0; i < c->fs.n; i++) {
        if (tc_h1_name_is(base + c->fs.v[i].name_off, c->fs.v[i].name_len, name)) {
            return 1;
        }
    }
    return 0;
}

/* The text of the HTTPInputError for an llhttp error: Tornado's wording
 * where Tornado rejects the same input, llhttp's reason otherwise.  New
 * reference, or NULL with an exception. */
static PyObject *
h1_error_message(tc_http1 *c, llhttp_errno_t err, const char *data, Py_ssize_t len)
{
    const char *pos = llhttp_get_error_pos(&c->parser);
    const char *reason = c->error_reason;
    const char *cur = NULL;   /* the header llhttp stopped in */
    Py_ssize_t cur_len = 0;
    PyObject *value, *msg;

    if (reason != NULL) {
        return PyUnicode_FromString(reason);
    }
    if (pos == NULL || pos < data || pos > data + len) {
        pos = data;
    }
    if (c->fs.n > 0 && c->hdr_done == 0) {
        h1_header *h = &c->fs.v[c->fs.n - 1];
        cur = tc_buf_head(&c->head) + h->name_off;
        cur_len = h->name_len;
    }
    switch (err) {
    case HPE_INVALID_CHUNK_SIZE:
        return PyUnicode_FromString("invalid chunk size");
    case HPE_INVALID_CONTENT_LENGTH:
        value = h1_raw_value(data, len, pos);
        if (value == NULL) {
            return NULL;
        }
        msg = PyUnicode_FromFormat("Only integer Content-Length is allowed: %U", value);
        Py_DECREF(value);
        return msg;
    case HPE_UNEXPECTED_CONTENT_LENGTH:
        if (h1_has_header(c, "transfer-encoding")) {
            return PyUnicode_FromString("Message with both Transfer-Encoding and Content-Length");
        }
        return PyUnicode_FromString("Multiple Content-Length headers");
    default:
        break;
    }
    if (c->hdr_done == 0 && cur != NULL && tc_h1_name_is(cur, cur_len, "transfer-encoding")) {
        if (h1_has_header(c, "content-length")) {
            return PyUnicode_FromString("Message with both Transfer-Encoding and Content-Length");
        }
        value = h1_raw_value(data, len, pos);
        if (value == NULL) {
            return NULL;
        }
        msg = h1_joined(c, "transfer-encoding", value);
        Py_DECREF(value);
        if (msg == NULL) {
            return NULL;
        }
        Py_SETREF(msg, PyUnicode_FromFormat("Unsupported Transfer-Encoding %U", msg));
        return msg;
    }
    if (err == HPE_INVALID_TRANSFER_ENCODING) {
        return PyUnicode_FromString("Unsupported Transfer-Encoding");
    }
    if (c->msg_begun && !c->line_checked && c->fs.n == 0 && err != HPE_INVALID_HEADER_TOKEN) {
        return PyUnicode_FromString("Malformed HTTP request line");
    }
    if (err == HPE_INVALID_HEADER_TOKEN && c->hdr_done == 0) {
        /* A line with no colon, or a name that is not a token. */
        const char *start, *end;
        h1_line_around(data, len, pos, &start, &end);
        if (end < data + len && memchr(start, ':', (size_t)(end - start)) == NULL) {
            return PyUnicode_FromString("no colon in header line");
        }
    }
    reason = llhttp_get_error_reason(&c->parser);
    return PyUnicode_FromString(reason != NULL ? reason : llhttp_errno_name(err));
}

/* The index of the first LF in data[0, len) with no CR before it (before
 * data[0]: last_cr), or -1. */
static Py_ssize_t
h1_bare_lf(const char *data, Py_ssize_t len, int last_cr)
{
    const char *p = data, *end = data + len;
    while (p < end && (p = memchr(p, '\n', (size_t)(end - p))) != NULL) {
        if (!(p > data ? p[-1] == '\r' : last_cr)) {
            return p - data;
        }
        p++;
    }
    return -1;
}

/* The head-end scan's next state after ch (see head_nl). */
static inline char
h1_next_nl(char nl, char ch)
{
    return ch == '\n' ? 1 : (ch == '\r' && nl == 1) ? 2 : 0;
}

/* The head outgrew max_header_size: closed without an answer, as Tornado's
 * bounded read of the head (_on_overflow).  The connection is done. */
static void
h1_overflow(tc_http1 *c)
{
    PyObject *w;
    c->state = H1_DONE;
    c->deadline = 0;
    w = h1_call(c, "_on_overflow", NULL);
    if (w == NULL) {
        PyErr_WriteUnraisable((PyObject *)c);
    }
    Py_XDECREF(w);
}

/* Input while a malformed head is held (h1_refuse): data[from:len] is
 * searched for the head's end, Tornado's \n\r?\n (data[0:from] has been
 * scanned and counted already).  At the end the 400 goes out, as Tornado's
 * parse of the whole head answers; past max_header_size first, the
 * connection closes without an answer; else everything is consumed and more
 * is awaited (the idle timeout still runs).  Returns 1 (stop). */
static int
h1_refusing(tc_http1 *c, const char *data, Py_ssize_t from, Py_ssize_t len,
            Py_ssize_t *used_out)
{
    Py_ssize_t i;

    for (i = from; i < len; i++) {
        if (data[i] == '\n' && c->head_nl != 0) {
            PyObject *message = c->refusal;
            c->head_bytes += i + 1 - from;
            c->refusal = NULL;
            if (c->head_bytes > c->max_header_size) {
                Py_DECREF(message);
                h1_overflow(c);
            }
            else {
                h1_fail_input(c, message);
            }
            return 1;
        }
        c->head_nl = h1_next_nl(c->head_nl, data[i]);
    }
    c->head_bytes += len - from;
    *used_out = len;
    if (c->head_bytes > c->max_header_size || c->hdr_done != 0) {
        /* (llhttp has seen a head end this scan has not: cannot happen,
         * as its line ends are a subset of Tornado's; answer now.) */
        PyObject *message = c->refusal;
        c->refusal = NULL;
        if (c->hdr_done != 0 && c->head_bytes <= c->max_header_size) {
            h1_fail_input(c, message);
        }
        else {
            Py_DECREF(message);
            h1_overflow(c);
        }
    }
    return 1;
}

/* A fault in the head before its end: Tornado reads a head to its end
 * before parsing it, so the answer (400, or nothing past max_header_size)
 * waits for that end.  data[0:len] is all the buffered input not yet
 * consumed, of which data[0:from] has been scanned for the end and counted
 * in head_bytes; message is the HTTPInputError's (NULL: an error is set). */
static int
h1_refuse(tc_http1 *c, PyObject *message, const char *data, Py_ssize_t from,
          Py_ssize_t len, Py_ssize_t *used_out)
{
    if (message == NULL) {
        h1_fail_current(c);
        return 1;
    }
    c->refusal = message;
    c->head_bytes += from;
    return h1_refusing(c, data, from, len, used_out);
}

/* Runs llhttp over the buffered input.  Returns 0 to go on, 1 to stop
 * (more input needed, or the connection is done). */
static int
h1_exec(tc_http1 *c, const char *data, Py_ssize_t len, Py_ssize_t *used_out)
{
    tc_buf *in = tc_stream_rbuf(c->stream);
    const char *stop;
    Py_ssize_t used, avail = len; /* (len may be cut at a bare LF below) */
    llhttp_errno_t err;

    c->need_exec = 0;
    if (c->refusal != NULL) {
        return h1_refusing(c, data, 0, len, used_out);
    }
    if (!c->msg_begun) {
        /* One empty line before a request is skipped; Tornado takes a
         * second one for the end of an empty head. */
        Py_ssize_t i;
        for (i = 0; i < len && (data[i] == '\r' || data[i] == '\n'); i++) {
            if (data[i] == '\n' && ++c->lead_lf >= 2) {
                h1_fail_input(c, PyUnicode_FromString("Malformed HTTP request line"));
                return 1;
            }
        }
    }
    c->error_reason = NULL;
    if (c->hdr_done == 0) {
        /* Tornado (as RFC 9112 2.2 allows) takes a bare LF for a line end
         * in the head; llhttp's strict build does not, so a CR is fed to it
         * ahead of each one.  (Bare CR stays an error.) */
        Py_ssize_t i = h1_bare_lf(data, len, c->last_cr);
        if (i == 0) {
            err = llhttp_execute(&c->parser, "\r", 1);
            c->last_cr = 1;
            if (err != HPE_OK) {
                return h1_refuse(c, h1_error_message(c, err, "\r", 1), data, 0, avail,
                                 used_out);
            }
            i = h1_bare_lf(data + 1, len - 1, 0);
            if (i >= 0) {
                i += 1;
            }
        }
        if (i > 0) {
            len = i;
        }
    }
    err = llhttp_execute(&c->parser, data, (size_t)len);
    if (err == HPE_OK) {
        used = len;
    }
    else if (err == HPE_PAUSED) {
        stop = llhttp_get_error_pos(&c->parser);
        used = stop - data;
        llhttp_resume(&c->parser);
        c->need_exec = 1;
    }
    else {
        if ((err == HPE_INVALID_METHOD && !c->method_done) ||
            (err == HPE_INVALID_URL && !c->line_checked)) {
            /* A method llhttp does not know (Tornado takes any token), or a
             * request target llhttp refuses (bytes above ASCII, which its
             * strict build does not take, or a target in none of the RFC
             * 9112 forms; Tornado takes anything without a space, and the
             * target is no framing hazard): hand the connection to the
             * Python parser, from the start of this request. */
            PyObject *r;
            c->state = H1_DONE;
            c->deadline = 0;
            if (c->pre.len > 0 &&
                tc_buf_prepend(in, tc_buf_head(&c->pre), c->pre.len) < 0) {
                h1_fail_current(c);
                return 1;
            }
            c->pre.len = 0;
            r = h1_call(c, "_fallback", NULL);
            if (r == NULL) {
                PyErr_WriteUnraisable((PyObject *)c);
            }
            Py_XDECREF(r);
            return 1;
        }
        if (c->error_reason != NULL && strcmp(c->error_reason, "out of memory") == 0) {
            PyErr_NoMemory();
            h1_fail_current(c);
            return 1;
        }
        if (c->hdr_done == 0) {
            return h1_refuse(c, h1_error_message(c, err, data, len), data, 0, avail, used_out);
        }
        h1_fail_input(c, h1_error_message(c, err, data, len));
        return 1;
    }
    if (!c->line_checked && c->msg_begun) {
        /* Keep the request line until its end: the Python fallback needs
         * its start, and Tornado's single-space split is checked here
         * (llhttp lets runs of spaces through). */
        const char *lf;
        if (tc_buf_append(&c->pre, data, used) < 0) {
            h1_fail_current(c);
            return 1;
        }
        {
            /* Skip the blank lines a request may start with. */
            const char *h = tc_buf_head(&c->pre);
            Py_ssize_t from = 0;
            while (from < c->pre.len && (h[from] == '\r' || h[from] == '\n')) {
                from++;
            }
            if (from < c->pre_scanned) {
                from = c->pre_scanned;
            }
            lf = from < c->pre.len ? memchr(h + from, '\n', (size_t)(c->pre.len - from)) : NULL;
        }
        c->pre_scanned = c->pre.len;
        if (lf != NULL) {
            const char *p = tc_buf_head(&c->pre), *end = lf;
            int spaces = 0, empty = 0;
            while (p < end && (*p == '\r' || *p == '\n')) {
                p++;
            }
            if (end > p && end[-1] == '\r') {
                end--;
            }
            if (p == end || *p == ' ' || end[-1] == ' ') {
                empty = 1;
            }
            for (; p < end; p++) {
                if (*p == ' ') {
                    spaces++;
                    if (p[1] == ' ') {
                        empty = 1;
                    }
                }
            }
            if (spaces != 2 || empty) {
                return h1_refuse(c, PyUnicode_FromString("Malformed HTTP request line"),
                                 data, 0, avail, used_out);
            }
            c->line_checked = 1;
        }
    }
    else if (!c->msg_begun && err == HPE_OK) {
        /* Only blank lines so far (counted above). */
    }
    if (c->size_line >= 0) {
        c->size_line += used;
        if (c->size_line > 64) {
            PyObject *w;
            c->state = H1_DONE;
            c->deadline = 0;
            w = h1_call(c, "_on_bad_chunk_line", NULL);
            if (w == NULL) {
                PyErr_WriteUnraisable((PyObject *)c);
            }
            Py_XDECREF(w);
            return 1;
        }
    }
    if (err == HPE_PAUSED && c->chunk_pause) {
        c->size_line = c->chunk_pause == 2 ? 0 : -1;
        if (c->chunk_pause == 2) {
            c->body_flush = 1;
        }
        c->chunk_pause = 0;
    }
    if (c->msg_begun && c->hdr_done <= 1) {
        /* llhttp takes obs-fold (a header line starting with SP or HTAB);
         * RFC 9112 5.2 lets a server reject it, and Tornado's unfolding is
         * a smuggling vector (Content-Length / Transfer-Encoding): refuse. */
        Py_ssize_t i;
        for (i = 0; i < used; i++) {
            char ch = data[i];
            if (c->head_nl == 1 && (ch == ' ' || ch == '\t')) {
                return h1_refuse(c, PyUnicode_FromString("obs-fold line in the header block"),
                                 data, i, avail, used_out);
            }
            c->head_nl = h1_next_nl(c->head_nl, ch);
        }
        c->head_bytes += used;
        if (c->hdr_done == 0 && c->head_bytes > c->max_header_size) {
            *used_out = used;
            h1_overflow(c);
            return 1;
        }
    }
    if (used > 0) {
        c->last_cr = data[used - 1] == '\r';
    }
    *used_out = used;
    return 0;
}

/* Runs llhttp over the stream's buffered input (h1_exec) and drops what it
 * consumed.  Returns 0 to go on, 1 to stop. */
static int
h1_parse(tc_http1 *c)
{
    tc_stream *stream = (tc_stream *)Py_NewRef(c->stream);
    tc_buf *in = tc_stream_rbuf(stream);
    Py_ssize_t used = 0;
    int rc = h1_exec(c, in->len > 0 ? tc_buf_head(in) : "", in->len, &used);
    if (used > 0) {
        if (c->hdr_done == 2 && !c->msg_done) {
            /* Mid-body: more is coming, so the buffer is kept rather than
             * freed and allocated again for every read. */
            tc_buf_drop(in, used);
        }
        else {
            tc_buf_consume(in, used);
        }
    }
    Py_DECREF(stream);
    return rc;
}

/* A body read straight from the loop's receive buffer (tc_stream_proto
 * on_direct): while a body is being read and nothing is buffered or waiting
 * for the delegate, llhttp runs over the new bytes where they landed, so a
 * large body never passes through the stream's buffer (no copy, and no
 * buffer allocated and freed per read).  Returns how much was consumed; the
 * stream buffers the rest and calls on_data. */
static Py_ssize_t
h1_on_direct(void *ctx, const char *data, Py_ssize_t len)
{
    tc_http1 *c = (tc_http1 *)ctx;
    Py_ssize_t used = 0;
    if (c->state != H1_READ || c->in_pump || c->hdr_done != 2 || c->msg_done ||
        c->need_start || c->need_exec || h1_body_ready(c)) {
        return 0;
    }
    Py_INCREF(c);
    (void)h1_exec(c, data, len, &used);
    Py_DECREF(c);
    return used;
}

/* The engine: moves the connection along as far as it can go now. */
static void
h1_pump(tc_http1 *c)
{
    if (c->in_pump) {
        return; /* the running pump sees the new state */
    }
    c->in_pump = 1;
    Py_INCREF(c);
    if (c->stream != NULL) {
        /* (Held replies written now may fail and run Python code.) */
        (void)tc_loop_deferred_due(tc_stream_loop(c->stream));
    }
    while (c->stream != NULL && c->state != H1_DONE && c->state != H1_WAIT) {
        if (c->write_finished && c->disconnect && (c->cork.len > 0 || c->cork_body != NULL)) {
            /* The connection closes once this is written: send it now,
             * and wait for the drain if it does not all go at once. */
            h1_flush(c);
        }
        if (c->write_finished && c->disconnect && !c->read_finished &&
            tc_stream_queued(c->stream) == 0) {
            /* Answered before the request was read: the connection goes. */
            h1_close_stream(c);
            break;
        }
        if (c->state == H1_RESPONSE) {
            if (!c->write_finished || tc_stream_queued(c->stream) > 0) {
                /* Watch for a peer hanging up while the response is
                 * pending, without reading pipelined requests yet. */
                if (tc_stream_want_read(c->stream, tc_stream_rbuf(c->stream)->len == 0) < 0) {
                    h1_fail_current(c);
                }
                break;
            }
            h1_finish_request(c);
            continue;
        }
        if (c->need_start) {
            /* As Tornado: the next request's delegate is made as soon as the
             * connection is ready for it. */
            tc_state *st = h1_state(c);
            PyObject *delegate =
                c->dispatch != NULL
                    ? tc_dispatch_new(st, c->dispatch, (PyObject *)c, c->server_conn)
                    : PyObject_CallMethodObjArgs(c->server, st->str_start_request,
                                                 c->server_conn, (PyObject *)c, NULL);
            c->need_start = 0;
            if (delegate == NULL) {
                h1_fail_current(c);
                break;
            }
            Py_XSETREF(c->delegate, delegate);
            continue;
        }
        if (c->msg_done) {
            c->body_flush = 1;
            if (c->whole != NULL && h1_whole_to_pieces(c) < 0) {
                h1_fail_current(c);
                break;
            }
        }
        /* Body pieces go to the delegate chunk_size at a time, and what is
         * left at the end of each chunk, of the body, or of the input that
         * has arrived, as Tornado's reads of min(remaining, chunk_size)
         * split them. */
        if (h1_body_ready(c)) {
            if (h1_deliver_body(c) != 0) {
                break;
            }
            continue;
        }
        if (c->hdr_done == 1) {
            h1_on_headers(c);
            continue;
        }
        if (c->msg_done) {
            h1_on_message_done(c);
            continue;
        }
        if (!tc_stream_is_open(c->stream)) {
            break;
        }
        if ((tc_stream_rbuf(c->stream)->len == 0 && !c->need_exec) ||
            tc_stream_read_pending(c->stream)) {
            if (c->body.len > 0 && !c->body_flush && tc_stream_drained(c->stream)) {
                /* Everything that has arrived is parsed: as Tornado's
                 * partial reads do, hand over what there is. */
                c->body_flush = 1;
                continue;
            }
            if (tc_stream_want_read(c->stream, 1) < 0) {
                h1_fail_current(c);
            }
            break;
        }
        if (h1_parse(c) != 0) {
            if (c->state == H1_READ && c->stream != NULL && tc_stream_is_open(c->stream) &&
                tc_stream_want_read(c->stream, 1) < 0) {
                h1_fail_current(c);
            }
            break;
        }
    }
    c->in_pump = 0;
    h1_flush_soon(c);
    Py_DECREF(c);
}

static void
h1_on_data(void *ctx)
{
    tc_http1 *c = (tc_http1 *)ctx;
    if (c->state == H1_READ) {
        h1_pump(c);
    }
    else if (c->stream != NULL && tc_stream_rbuf(c->stream)->len > 0) {
        /* Input while busy stays buffered; stop reading until needed. */
        if (tc_stream_want_read(c->stream, 0) < 0) {
            PyErr_WriteUnraisable((PyObject *)c);
        }
    }
}

static void
h1_on_drain(void *ctx)
{
    tc_http1 *c = (tc_http1 *)ctx;
    Py_INCREF(c);
    if (h1_release_waiters(c) < 0) {
        PyErr_WriteUnraisable((PyObject *)c);
    }
    if (c->state == H1_RESPONSE && c->write_finished) {
        h1_pump(c);
    }
    else if (c->write_finished && c->disconnect && c->state != H1_DONE && !c->in_pump) {
        h1_close_stream(c);
    }
    Py_DECREF(c);
}

/* Closed by its owner (the server's close_all_connections(), a handler
 * closing request.connection.stream): responses written so far, held back
 * while the loop dispatches I/O, still go out. */
static void
h1_on_close(void *ctx)
{
    h1_flush((tc_http1 *)ctx);
}

static const tc_stream_proto h1_proto = {
    .on_data = h1_on_data,
    .on_drain = h1_on_drain,
    .on_direct = h1_on_direct,
    .on_close = h1_on_close,
};

/* --------------------------------------------------------------- writing */

/* Writes n bytes at p (or, while the engine is dispatching requests,
 * adds them to the cork, so that the responses to pipelined requests go
 * out in one system call).  -1 with an exception only for non-OS failures
 * (an OSError is reported to the stream, which closes). */
static int
h1_out(tc_http1 *c, const char *p, Py_ssize_t n)
{
    Py_ssize_t q;
    if (c->stream == NULL || !tc_stream_is_open(c->stream)) {
        return 0;
    }
    if (c->cork_body != NULL) {
        h1_flush(c); /* nothing goes behind a held body */
    }
    if (h1_holding(c) || c->cork.len > 0) {
        if (tc_buf_append(&c->cork, p, n) < 0) {
            return -1;
        }
        if (!c->in_pump) {
            h1_flush_soon(c);
        }
        return 0;
    }
    q = tc_stream_write_raw(c->stream, p, n);
    if (q < 0) {
        if (PyErr_ExceptionMatches(PyExc_OSError)) {
            tc_stream_write_failed(c->stream);
            return 0;
        }
        return -1;
    }
    return 0;
}

/* Sends what the cork holds.  Never fails (errors close the stream or are
 * reported as unraisable). */
static void
h1_flush(tc_http1 *c)
{
    Py_ssize_t q;
    tc_buf out;
    PyObject *body;
    if (c->cork.len == 0 && c->cork_body == NULL) {
        return;
    }
    /* Taken out first: a failing write closes the stream, which calls
     * h1_on_close. */
    out = c->cork;
    memset(&c->cork, 0, sizeof(c->cork));
    body = c->cork_body;
    c->cork_body = NULL;
    if (c->stream == NULL || !tc_stream_is_open(c->stream)) {
        q = 0;
    }
    else if (body != NULL) {
        q = tc_stream_write_framed(c->stream, tc_buf_head(&out), out.len, body, "\r\n",
                                   c->cork_crlf ? 2 : 0);
    }
    else {
        q = tc_stream_write_raw(c->stream, tc_buf_head(&out), out.len);
    }
    tc_buf_free(&out);
    Py_XDECREF(body);
    if (q < 0) {
        if (PyErr_ExceptionMatches(PyExc_OSError)) {
            tc_stream_write_failed(c->stream);
        }
        else {
            PyErr_WriteUnraisable((PyObject *)c);
        }
    }
}

static void
h1_deferred_flush(PyObject *obj)
{
    tc_http1 *c = (tc_http1 *)obj;
    c->flush_queued = 0;
    h1_flush(c);
}

/* At the end of a pass, or after output held outside one: sends the cork
 * now, or, while the loop holds output (dispatching the I/O of one poll, or
 * running its ready handles), when that ends, so that the replies written
 * meanwhile go out together (the peers are woken once, not once per
 * reply). */
static void
h1_flush_soon(tc_http1 *c)
{
    int rc;
    if ((c->cork.len == 0 && c->cork_body == NULL) || c->flush_queued) {
        return;
    }
    if (c->stream != NULL && tc_stream_is_open(c->stream)) {
        rc = tc_loop_defer(tc_stream_loop(c->stream), (PyObject *)c, h1_deferred_flush);
        if (rc > 0) {
            c->flush_queued = 1;
            return;
        }
        if (rc < 0) {
            PyErr_Clear();
        }
    }
    h1_flush(c);
}

static int
h1_write_bytes(tc_http1 *c, PyObject *data)
{
    return h1_out(c, PyBytes_AS_STRING(data), PyBytes_GET_SIZE(data));
}

/* The Future handed back by write/write_headers. */
static PyObject *
h1_write_result(tc_http1 *c)
{
    PyObject *f;
    if (c->stream == NULL || tc_stream_queued(c->stream) == 0) {
        return Py_NewRef(c->done_future);
    }
    f = PyObject_CallMethod((PyObject *)tc_stream_loop(c->stream), "create_future", NULL);
    if (f == NULL) {
        return NULL;
    }
    if (c->waiters == NULL) {
        c->waiters = PyList_New(0);
        if (c->waiters == NULL) {
            Py_DECREF(f);
            return NULL;
        }
    }
    if (PyList_Append(c->waiters, f) < 0) {
        Py_DECREF(f);
        return NULL;
    }
    return f;
}

/* Appends the latin-1 form of a header name or value (str, or UTF-8 bytes
 * as Tornado's native_str takes them).  0, or -1 with an exception. */
static int
h1_put_text(tc_buf *out, PyObject *v)
{
    PyObject *tmp = NULL;
    int rc;
    if (PyBytes_Check(v)) {
        tmp = PyUnicode_FromEncodedObject(v, "utf-8", "strict");
        if (tmp == NULL) {
            return -1;
        }
        v = tmp;
    }
    else if (!PyUnicode_Check(v)) {
        PyErr_Format(PyExc_TypeError, "Expected bytes, unicode, or None; got %R",
                     (PyObject *)Py_TYPE(v));
        return -1;
    }
    if (PyUnicode_KIND(v) == PyUnicode_1BYTE_KIND) {
        rc = tc_buf_append(out, (const char *)PyUnicode_1BYTE_DATA(v),
                           PyUnicode_GET_LENGTH(v));
    }
    else {
        PyObject *enc = PyUnicode_AsLatin1String(v);
        if (enc == NULL) {
            Py_XDECREF(tmp);
            return -1;
        }
        rc = tc_buf_append(out, PyBytes_AS_STRING(enc), PyBytes_GET_SIZE(enc));
        Py_DECREF(enc);
    }
    Py_XDECREF(tmp);
    return rc;
}

/* Raises Tornado's ValueError when the line [from, to) holds CR/LF. */
static int
h1_check_line(tc_buf *out, Py_ssize_t from, Py_ssize_t to)
{
    const char *p = tc_buf_head(out) + from;
    Py_ssize_t n = to - from, i;
    for (i = 0; i < n; i++) {
        if (p[i] == '\r' || p[i] == '\n') {
            PyObject *line = PyBytes_FromStringAndSize(p, n);
            if (line != NULL) {
                PyErr_Format(PyExc_ValueError,
                             "Illegal characters (CR or LF) in header: %R", line);
                Py_DECREF(line);
            }
            return -1;
        }
    }
    return 0;
}

/* One line of a head being serialized: [start, end) in the buffer. */
typedef struct {
    Py_ssize_t start, end;
} h1_line;

/* The lines of a head: in the struct for the usual few, else on the heap. */
#define H1_LINES_LOCAL 16
typedef struct {
    h1_line *v;
    Py_ssize_t n, cap;
    h1_line local[H1_LINES_LOCAL];
} h1_lines;

/* Records a line's bounds, growing the array as needed.  0 / -1. */
static int
h1_note_line(h1_lines *ls, Py_ssize_t start, Py_ssize_t end)
{
    if (ls->n == ls->cap) {
        Py_ssize_t ncap = ls->cap * 2;
        h1_line *m = PyMem_Malloc((size_t)ncap * sizeof(h1_line));
        if (m == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        memcpy(m, ls->v, (size_t)ls->n * sizeof(h1_line));
        if (ls->v != ls->local) {
            PyMem_Free(ls->v);
        }
        ls->v = m;
        ls->cap = ncap;
    }
    ls->v[ls->n].start = start;
    ls->v[ls->n++].end = end;
    return 0;
}

/* Appends "\r\n" + name + ": " + value for a name and value that are both
 * latin-1 str (the usual case; 0 with nothing done for any other), noting
 * in *clean whether the two hold no CR or LF.  1 done, -1 on error. */
static int
h1_put_plain_field(tc_buf *out, PyObject *name, PyObject *value, int *clean)
{
    Py_ssize_t nn, nv;
    char *dst;

    if (!PyUnicode_CheckExact(name) || !PyUnicode_CheckExact(value) ||
        PyUnicode_KIND(name) != PyUnicode_1BYTE_KIND ||
        PyUnicode_KIND(value) != PyUnicode_1BYTE_KIND) {
        return 0;
    }
    nn = PyUnicode_GET_LENGTH(name);
    nv = PyUnicode_GET_LENGTH(value);
    if (tc_buf_reserve(out, nn + nv + 4) < 0) {
        return -1;
    }
    dst = tc_buf_head(out) + out->len;
    dst[0] = '\r';
    dst[1] = '\n';
    memcpy(dst + 2, PyUnicode_1BYTE_DATA(name), (size_t)nn);
    dst[nn + 2] = ':';
    dst[nn + 3] = ' ';
    memcpy(dst + nn + 4, PyUnicode_1BYTE_DATA(value), (size_t)nv);
    out->len += nn + nv + 4;
    if (memchr(dst + 2, '\r', (size_t)(nn + nv + 2)) != NULL ||
        memchr(dst + 2, '\n', (size_t)(nn + nv + 2)) != NULL) {
        *clean = 0;
    }
    return 1;
}

/* Appends "name: value" in latin-1.  A name or value that is not a latin-1
 * str (UTF-8 bytes, wider text) is joined into the whole line first, and the
 * line encoded, so that errors read as Tornado's. */
static int
h1_put_field(tc_buf *out, PyObject *name, PyObject *value)
{
    PyObject *parts[2] = {name, value}, *text[2] = {NULL, NULL}, *line = NULL, *enc = NULL;
    int i, rc = -1;
    if (PyUnicode_CheckExact(name) && PyUnicode_CheckExact(value) &&
        PyUnicode_KIND(name) == PyUnicode_1BYTE_KIND &&
        PyUnicode_KIND(value) == PyUnicode_1BYTE_KIND) {
        return h1_put_text(out, name) < 0 || tc_buf_append(out, ": ", 2) < 0 ||
                       h1_put_text(out, value) < 0
                   ? -1
                   : 0;
    }
    for (i = 0; i < 2; i++) {
        if (PyBytes_Check(parts[i])) {
            text[i] = PyUnicode_FromEncodedObject(parts[i], "utf-8", "strict");
        }
        else if (PyUnicode_Check(parts[i])) {
            text[i] = Py_NewRef(parts[i]);
        }
        else {
            PyErr_Format(PyExc_TypeError, "Expected bytes, unicode, or None; got %R",
                         (PyObject *)Py_TYPE(parts[i]));
        }
        if (text[i] == NULL) {
            goto done;
        }
    }
    line = PyUnicode_FromFormat("%U: %U", text[0], text[1]);
    if (line == NULL) {
        goto done;
    }
    enc = PyUnicode_AsLatin1String(line);
    if (enc == NULL) {
        goto done;
    }
    rc = tc_buf_append(out, PyBytes_AS_STRING(enc), PyBytes_GET_SIZE(enc));
done:
    Py_XDECREF(text[0]);
    Py_XDECREF(text[1]);
    Py_XDECREF(line);
    Py_XDECREF(enc);
    return rc;
}

int
tc_h1_put_fields(tc_state *st, tc_buf *out, PyObject *headers, Py_ssize_t first_line)
{
    PyObject *lists, *key, *vals;
    Py_ssize_t pos = 0, from, i;
    h1_lines lines;
    int rc = -1, clean = 0, plain;

    lines.v = lines.local;
    lines.n = 0;
    lines.cap = H1_LINES_LOCAL;
    if (h1_note_line(&lines, first_line, out->len) < 0) {
        return -1;
    }
    lists = tc_headers_get(st, headers, TC_HD_AS_LIST);
    if (lists == NULL || !PyDict_Check(lists)) {
        PyErr_Clear();
        Py_XDECREF(lists);
        lists = NULL;
    }
    if (lists != NULL) {
        /* (clean while the start line and every field so far hold no CR
         * or LF: then there is nothing for the checks below to find) */
        const char *head = tc_buf_head(out) + first_line;
        size_t n = (size_t)(out->len - first_line);
        clean = memchr(head, '\r', n) == NULL && memchr(head, '\n', n) == NULL;
        while (PyDict_Next(lists, &pos, &key, &vals)) {
            if (!PyList_Check(vals)) {
                continue;
            }
            for (i = 0; i < PyList_GET_SIZE(vals); i++) {
                from = out->len + 2;
                plain = h1_put_plain_field(out, key, PyList_GET_ITEM(vals, i), &clean);
                if (plain == 0) {
                    clean = 0;
                    if (tc_buf_append(out, "\r\n", 2) < 0 ||
                        h1_put_field(out, key, PyList_GET_ITEM(vals, i)) < 0) {
                        goto done;
                    }
                }
                if (plain < 0 || h1_note_line(&lines, from, out->len) < 0) {
                    goto done;
                }
            }
        }
    }
    else {
        PyObject *all = PyObject_CallMethod(headers, "get_all", NULL), *it, *pair;
        if (all == NULL) {
            goto done;
        }
        it = PyObject_GetIter(all);
        Py_DECREF(all);
        if (it == NULL) {
            goto done;
        }
        while ((pair = PyIter_Next(it)) != NULL) {
            int bad = !PyTuple_Check(pair) || PyTuple_GET_SIZE(pair) != 2;
            if (!bad && tc_buf_append(out, "\r\n", 2) == 0) {
                from = out->len;
                bad = h1_put_field(out, PyTuple_GET_ITEM(pair, 0), PyTuple_GET_ITEM(pair, 1)) < 0 ||
                      h1_note_line(&lines, from, out->len) < 0;
            }
            else {
                bad = 1;
            }
            Py_DECREF(pair);
            if (bad) {
                if (!PyErr_Occurred()) {
                    PyErr_SetString(PyExc_TypeError, "get_all() must yield pairs");
                }
                Py_DECREF(it);
                goto done;
            }
        }
        Py_DECREF(it);
        if (PyErr_Occurred()) {
            goto done;
        }
    }
    /* Every line is encoded before any is checked, in order, as Tornado's
     * write_headers does (nothing to check when all were plain, clean text). */
    for (i = 0; !clean && i < lines.n; i++) {
        if (h1_check_line(out, lines.v[i].start, lines.v[i].end) < 0) {
            goto done;
        }
    }
    rc = 0;
done:
    Py_XDECREF(lists);
    if (lines.v != lines.local) {
        PyMem_Free(lines.v);
    }
    return rc;
}

int
tc_h1_put_chunk(tc_buf *out, const char *p, Py_ssize_t n, int chunking)
{
    char size[32];
    int k;
    if (n == 0) {
        return 0;
    }
    if (!chunking) {
        return tc_buf_append(out, p, n);
    }
    k = snprintf(size, sizeof(size), "%zx\r\n", n);
    if (tc_buf_append(out, size, k) < 0 || tc_buf_append(out, p, n) < 0 ||
        tc_buf_append(out, "\r\n", 2) < 0) {
        return -1;
    }
    return 0;
}

/* Accounts for n body bytes against the declared length: -1 with
 * HTTPOutputError (the stream closed) when they go over it. */
static int
h1_account(tc_http1 *c, Py_ssize_t n)
{
    if (c->expected_remaining >= 0) {
        c->expected_remaining -= n;
        if (c->expected_remaining < 0) {
            h1_close_stream(c);
            PyErr_SetString(h1_state(c)->http_output_error,
                            "Tried to write more data than Content-Length");
            return -1;
        }
    }
    return 0;
}

/* Accounts for a body chunk against the declared length and appends its
 * framing to out. */
static int
h1_put_chunk(tc_http1 *c, tc_buf *out, Py_buffer *chunk)
{
    if (h1_account(c, chunk->len) < 0) {
        return -1;
    }
    return tc_h1_put_chunk(out, chunk->buf, chunk->len, c->chunking);
}

/* Bodies at least this large are written from their own bytes object after
 * the bytes before them (one writev), not copied behind those. */
#define H1_BODY_BY_REF 16384
/* What a response head takes, mostly (more is made room for when it is
 * longer). */
#define H1_HEAD_ROOM 480

static int
h1_by_ref(PyObject *chunk)
{
    return PyBytes_CheckExact(chunk) && PyBytes_GET_SIZE(chunk) >= H1_BODY_BY_REF &&
           PyBytes_GET_SIZE(chunk) <= INT32_MAX;
}

/* For a chunk written by reference: accounts for it and appends to out what
 * goes before it (its chunk-size line when the response is chunked). */
static int
h1_put_by_ref(tc_http1 *c, tc_buf *out, PyObject *chunk)
{
    Py_ssize_t n = PyBytes_GET_SIZE(chunk);
    char size[32];
    int k;
    if (h1_account(c, n) < 0) {
        return -1;
    }
    if (!c->chunking) {
        return 0;
    }
    k = snprintf(size, sizeof(size), "%zx\r\n", n);
    return tc_buf_append(out, size, k);
}

/* Bodies held by reference until a pass ends are all alive together and
 * freed together: tens of 64 KiB blocks at once when many connections are
 * answered with files.  glibc gives the heap's top back to the system once
 * more than its trim threshold (128 KiB at first) is free there, so every
 * few passes those pages were unmapped and faulted in again, zeroed, by
 * the next reads (a fifth of a 64 KiB static file's time).  glibc raises
 * that threshold by itself -- to twice the size -- the first time a block
 * too big for the heap (mmapped) is freed; most long-running processes
 * have freed one.  The first held body does it here, with a 4 MiB block,
 * so that the pages stay.  (Nothing changes where the thresholds were set
 * through mallopt or MALLOC_* variables: glibc then keeps them fixed.) */
#define H1_HEAP_PRIME (4 << 20)

static void
h1_prime_heap(void)
{
#ifdef __GLIBC__
    static int primed = 0;
    if (!primed) {
        void *volatile block = malloc(H1_HEAP_PRIME); /* (volatile: not elided) */
        primed = 1;
        free(block);
    }
#endif
}

/* Sends out (the serialized bytes before body), body, and the CRLF after it
 * when chunked, and returns the write's Future.  While dispatching, what
 * the cork holds goes first, in the same system call. */
static PyObject *
h1_send_framed(tc_http1 *c, tc_buf *out, PyObject *body)
{
    Py_ssize_t q;
    if (c->stream == NULL || !tc_stream_is_open(c->stream)) {
        tc_buf_free(out);
        return h1_call(c, "_closed_write", NULL);
    }
    if (c->cork_body != NULL) {
        h1_flush(c); /* nothing goes behind a held body */
    }
    if (h1_holding(c)) {
        /* Held, by reference, after what the cork holds, until the pass
         * ends or the loop stops holding output. */
        if (c->cork.len == 0) {
            c->cork = *out;
            memset(out, 0, sizeof(*out));
        }
        else if (out->len > 0 && tc_buf_append(&c->cork, tc_buf_head(out), out->len) < 0) {
            tc_buf_free(out);
            return NULL;
        }
        tc_buf_free(out);
        h1_prime_heap();
        c->cork_body = Py_NewRef(body);
        c->cork_crlf = c->chunking;
        if (!c->in_pump) {
            h1_flush_soon(c);
        }
        return h1_write_result(c);
    }
    if (c->cork.len > 0) {
        if (out->len > 0 && tc_buf_append(&c->cork, tc_buf_head(out), out->len) < 0) {
            tc_buf_free(out);
            return NULL;
        }
        tc_buf_free(out);
        *out = c->cork;
        memset(&c->cork, 0, sizeof(c->cork));
    }
    q = tc_stream_write_framed(c->stream, tc_buf_head(out), out->len, body, "\r\n",
                               c->chunking ? 2 : 0);
    tc_buf_free(out);
    if (q < 0) {
        if (!PyErr_ExceptionMatches(PyExc_OSError)) {
            return NULL;
        }
        tc_stream_write_failed(c->stream);
    }
    return h1_write_result(c);
}

/* Sends out (the serialized bytes) and returns the write's Future. */
static PyObject *
h1_send(tc_http1 *c, tc_buf *out)
{
    if (c->stream == NULL || !tc_stream_is_open(c->stream)) {
        tc_buf_free(out);
        return h1_call(c, "_closed_write", NULL);
    }
    if (c->cork_body != NULL) {
        h1_flush(c); /* nothing goes behind a held body */
    }
    if (h1_holding(c) && c->cork.len == 0) {
        /* The first response of this pass: the buffer becomes the cork. */
        c->cork = *out;
        memset(out, 0, sizeof(*out));
        if (!c->in_pump) {
            h1_flush_soon(c);
        }
        return h1_write_result(c);
    }
    if (h1_out(c, tc_buf_head(out), out->len) < 0) {
        tc_buf_free(out);
        return NULL;
    }
    tc_buf_free(out);
    return h1_write_result(c);
}

int
tc_h1_all_digits(PyObject *o)
{
    Py_ssize_t i, n;
    if (!PyUnicode_Check(o) || PyUnicode_KIND(o) != PyUnicode_1BYTE_KIND) {
        return 0;
    }
    n = PyUnicode_GET_LENGTH(o);
    for (i = 0; i < n; i++) {
        Py_UCS1 ch = PyUnicode_1BYTE_DATA(o)[i];
        if (ch < '0' || ch > '9') {
            return 0;
        }
    }
    return n > 0;
}

/* tc_h1_parse_length(text) as a Py_ssize_t, read straight from the digits
 * when there are at most 18 (no PyLong); -1 with ValueError, or
 * OverflowError past PY_SSIZE_T_MAX. */
static Py_ssize_t
h1_length_value(PyObject *text)
{
    PyObject *big;
    Py_ssize_t n, i, v = 0;
    if (!tc_h1_all_digits(text) || PyUnicode_GET_LENGTH(text) > 18) {
        big = tc_h1_parse_length(text);
        if (big == NULL) {
            return -1;
        }
        v = PyLong_AsSsize_t(big);
        Py_DECREF(big);
        return v;
    }
    n = PyUnicode_GET_LENGTH(text);
    for (i = 0; i < n; i++) {
        v = v * 10 + (PyUnicode_1BYTE_DATA(text)[i] - '0');
    }
    return v;
}

PyDoc_STRVAR(h1_write_headers_doc,
"write_headers($self, start_line, headers, chunk=None)\n--\n\n"
"Implements HTTPConnection.write_headers: serializes the response head (and\n"
"the first chunk) in one buffer and writes it.");

static PyObject *
h1_write_headers(tc_http1 *c, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    tc_state *st = h1_state(c);
    PyObject *start_line, *headers, *chunk = Py_None, *code_obj, *reason;
    PyObject *cl, *dict = NULL;
    Py_buffer view = {0};
    tc_buf out = {0};
    long code;
    int bodyless, no_content;

    if (kwnames != NULL && PyTuple_GET_SIZE(kwnames) > 0) {
        if (nargs + PyTuple_GET_SIZE(kwnames) != 3 || nargs != 2 ||
            !PyUnicode_Check(PyTuple_GET_ITEM(kwnames, 0)) ||
            PyUnicode_CompareWithASCIIString(PyTuple_GET_ITEM(kwnames, 0), "chunk") != 0) {
            PyErr_SetString(PyExc_TypeError, "write_headers(start_line, headers, chunk=None)");
            return NULL;
        }
    }
    else if (nargs < 2 || nargs > 3) {
        PyErr_SetString(PyExc_TypeError, "write_headers(start_line, headers, chunk=None)");
        return NULL;
    }
    start_line = args[0];
    headers = args[1];
    if (nargs == 3 || (kwnames != NULL && PyTuple_GET_SIZE(kwnames) == 1)) {
        chunk = args[2];
    }
    if (!PyTuple_Check(start_line) || PyTuple_GET_SIZE(start_line) < 3) {
        PyErr_SetString(PyExc_TypeError, "start_line must be a ResponseStartLine");
        return NULL;
    }
    code_obj = PyTuple_GET_ITEM(start_line, 1);
    reason = PyTuple_GET_ITEM(start_line, 2);
    code = PyLong_AsLong(code_obj);
    if (code == -1 && PyErr_Occurred()) {
        return NULL;
    }
    bodyless = c->is_head || code == 204 || code == 304 || (code >= 100 && code < 200);
    dict = tc_headers_get(st, headers, TC_HD_DICT);
    if (dict == NULL || !PyDict_Check(dict)) {
        Py_XDECREF(dict);
        PyErr_SetString(PyExc_TypeError, "headers must be an HTTPHeaders");
        return NULL;
    }
    cl = PyDict_GetItemWithError(dict, st->str_Content_Length);
    if (cl == NULL && PyErr_Occurred()) {
        goto error;
    }
    Py_XINCREF(cl);
    c->chunking = !c->http10 && !bodyless && cl == NULL;
    if (!c->http10 && c->disconnect &&
        PyObject_SetItem(headers, st->str_Connection, st->str_close) < 0) {
        Py_XDECREF(cl);
        goto error;
    }
    if (c->http10 && c->keepalive_req &&
        PyObject_SetItem(headers, st->str_Connection, st->str_Keep_Alive) < 0) {
        Py_XDECREF(cl);
        goto error;
    }
    if (c->chunking &&
        PyObject_SetItem(headers, st->str_Transfer_Encoding, st->str_chunked) < 0) {
        Py_XDECREF(cl);
        goto error;
    }
    no_content = c->is_head || code == 304;
    c->expected_remaining = -1;
    if (no_content) {
        c->expected_remaining = 0;
    }
    else if (cl != NULL) {
        c->expected_remaining = h1_length_value(cl);
        if (c->expected_remaining < 0) {
            Py_DECREF(cl);
            goto error;
        }
    }
    Py_XDECREF(cl);
    /* Room for the head and a body copied after it (with, when chunked,
     * its size line and CRLFs: the 32), made once: a body of a kilobyte
     * or more would otherwise move the head to a bigger buffer. */
    if (PyBytes_CheckExact(chunk) && !h1_by_ref(chunk) &&
        tc_buf_reserve(&out, H1_HEAD_ROOM + PyBytes_GET_SIZE(chunk) + 32) < 0) {
        goto error;
    }
    /* The status line ("HTTP/1.1 %d %s" % (code, reason), UTF-8). */
    if (PyUnicode_CheckExact(reason) && PyUnicode_IS_ASCII(reason) && code >= 0 &&
        code < 1000000) {
        char num[24], *q = num + sizeof num;
        long v = code;
        *--q = ' ';
        do {
            *--q = (char)('0' + v % 10);
            v /= 10;
        } while (v > 0);
        q -= 9;
        memcpy(q, "HTTP/1.1 ", 9);
        if (tc_buf_append(&out, q, num + sizeof num - q) < 0 ||
            tc_buf_append(&out, (const char *)PyUnicode_1BYTE_DATA(reason),
                          PyUnicode_GET_LENGTH(reason)) < 0) {
            goto error;
        }
    }
    else {
        PyObject *line = PyUnicode_FromFormat("HTTP/1.1 %ld %S", code, reason);
        PyObject *enc;
        if (line == NULL) {
            goto error;
        }
        enc = PyUnicode_AsUTF8String(line);
        Py_DECREF(line);
        if (enc == NULL) {
            goto error;
        }
        if (tc_buf_append(&out, PyBytes_AS_STRING(enc), PyBytes_GET_SIZE(enc)) < 0) {
            Py_DECREF(enc);
            goto error;
        }
        Py_DECREF(enc);
    }
    if (tc_h1_put_fields(st, &out, headers, 0) < 0) {
        goto error;
    }
    if (tc_buf_append(&out, "\r\n\r\n", 4) < 0) {
        goto error;
    }
    if (chunk != Py_None && h1_by_ref(chunk)) {
        if (h1_put_by_ref(c, &out, chunk) < 0) {
            goto error;
        }
        Py_DECREF(dict);
        return h1_send_framed(c, &out, chunk);
    }
    if (chunk != Py_None) {
        if (PyObject_GetBuffer(chunk, &view, PyBUF_SIMPLE) < 0) {
            goto error;
        }
        if (view.len > 0 && h1_put_chunk(c, &out, &view) < 0) {
            goto error;
        }
        PyBuffer_Release(&view);
    }
    Py_DECREF(dict);
    return h1_send(c, &out);
error:
    if (view.obj != NULL) {
        PyBuffer_Release(&view);
    }
    Py_XDECREF(dict);
    tc_buf_free(&out);
    return NULL;
}

PyDoc_STRVAR(h1_write_doc,
"write($self, chunk)\n--\n\n"
"Implements HTTPConnection.write (chunked framing when the response is\n"
"chunked).");

static PyObject *
h1_write(tc_http1 *c, PyObject *chunk)
{
    Py_buffer view;
    tc_buf out = {0};
    if (h1_by_ref(chunk)) {
        if (c->stream == NULL || !tc_stream_is_open(c->stream)) {
            return h1_call(c, "_closed_write", NULL);
        }
        if (h1_put_by_ref(c, &out, chunk) < 0) {
            tc_buf_free(&out);
            return NULL;
        }
        return h1_send_framed(c, &out, chunk);
    }
    if (PyObject_GetBuffer(chunk, &view, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    if (c->stream == NULL || !tc_stream_is_open(c->stream)) {
        PyBuffer_Release(&view);
        return h1_call(c, "_closed_write", NULL);
    }
    if (h1_put_chunk(c, &out, &view) < 0) {
        PyBuffer_Release(&view);
        tc_buf_free(&out);
        return NULL;
    }
    PyBuffer_Release(&view);
    if (out.len == 0) {
        return h1_write_result(c);
    }
    return h1_send(c, &out);
}

PyDoc_STRVAR(h1_finish_doc,
"finish($self)\n--\n\n"
"Implements HTTPConnection.finish: the response is complete.");

static PyObject *
h1_finish(tc_http1 *c, PyObject *Py_UNUSED(ignored))
{
    tc_state *st = h1_state(c);
    int open = c->stream != NULL && tc_stream_is_open(c->stream);
    if (c->expected_remaining > 0 && open) {
        Py_ssize_t short_by = c->expected_remaining;
        h1_close_stream(c);
        PyErr_Format(st->http_output_error,
                     "Tried to write %zd bytes less than Content-Length", short_by);
        return NULL;
    }
    if (c->chunking && open) {
        PyObject *b = PyBytes_FromStringAndSize("0\r\n\r\n", 5);
        if (b == NULL || h1_write_bytes(c, b) < 0) {
            Py_XDECREF(b);
            return NULL;
        }
        Py_DECREF(b);
    }
    c->write_finished = 1;
    if (!c->read_finished) {
        c->disconnect = 1;
    }
    if (c->stream == NULL || c->state == H1_DONE) {
        Py_RETURN_NONE;
    }
    if (tc_stream_queued(c->stream) > 0) {
        Py_RETURN_NONE; /* h1_on_drain carries on */
    }
    if (c->state == H1_RESPONSE) {
        if (c->in_pump) {
            Py_RETURN_NONE; /* the pump is right below us */
        }
        if (c->disconnect || tc_stream_rbuf(c->stream)->len == 0) {
            h1_pump(c);
        }
        else {
            /* Pipelined requests wait for the next loop iteration, so the
             * finishing handler completes before the next one starts. */
            PyObject *r = h1_call(c, "_resume_soon", NULL);
            if (r == NULL) {
                return NULL;
            }
            Py_DECREF(r);
        }
    }
    else if (c->disconnect && !c->in_pump) {
        /* Answered before the request was read: the connection goes. */
        h1_close_stream(c);
    }
    Py_RETURN_NONE;
}

/* -------------------------------------------------------- Python methods */

static int
h1_init(tc_http1 *c, PyObject *args, PyObject *kwds)
{
    (void)c;
    (void)args;
    (void)kwds;
    return 0;
}

PyDoc_STRVAR(h1_start_doc,
"_start($self, stream, server, server_conn, done_future, chunk_size, max_header_size,\n"
"       max_body_size, header_timeout, body_timeout, no_keep_alive)\n--\n\n"
"Attach to a native Stream and start serving requests to server.");

static PyObject *
h1_start(tc_http1 *c, PyObject *args)
{
    tc_state *st = h1_state(c);
    PyObject *stream, *server, *server_conn, *done_future;
    Py_ssize_t chunk_size, max_header_size, max_body_size;
    double header_timeout, body_timeout;
    int no_keep_alive;

    if (!PyArg_ParseTuple(args, "OOOOnnnddp:_start", &stream, &server, &server_conn,
                          &done_future, &chunk_size, &max_header_size, &max_body_size,
                          &header_timeout, &body_timeout, &no_keep_alive)) {
        return NULL;
    }
    if (!tc_stream_check(st, stream)) {
        PyErr_SetString(PyExc_TypeError, "_start needs a native Stream");
        return NULL;
    }
    if (c->stream != NULL) {
        PyErr_SetString(PyExc_RuntimeError, "already started");
        return NULL;
    }
    if (st->http_headers == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "_core.http1_setup() was not called");
        return NULL;
    }
    c->stream = (tc_stream *)Py_NewRef(stream);
    Py_XSETREF(c->server, Py_NewRef(server));
    Py_XSETREF(c->server_conn, Py_NewRef(server_conn));
    Py_XSETREF(c->done_future, Py_NewRef(done_future));
    c->chunk_size = chunk_size > 0 ? chunk_size : 65536;
    c->max_header_size = max_header_size;
    c->default_max_body_size = max_body_size;
    c->header_timeout = header_timeout;
    c->default_body_timeout = body_timeout;
    c->no_keep_alive = (char)no_keep_alive;
    llhttp_init(&c->parser, HTTP_REQUEST, &h1_settings);
    c->parser.data = c;
    h1_link(c, tc_stream_loop(c->stream));
    tc_stream_attach(c->stream, &h1_proto, c);
    h1_reset(c);
    h1_pump(c);
    Py_RETURN_NONE;
}

PyDoc_STRVAR(h1_set_dispatch_doc,
"_set_dispatch($self, config)\n--\n\n"
"Make a Dispatch per request from config (see HTTPServer._native_dispatch)\n"
"instead of calling the server's start_request; before _start.");

static PyObject *
h1_set_dispatch(tc_http1 *c, PyObject *config)
{
    if (!PyTuple_CheckExact(config) ||
        (PyTuple_GET_SIZE(config) != 4 && PyTuple_GET_SIZE(config) != 5)) {
        PyErr_SetString(PyExc_TypeError,
                        "_set_dispatch(config): config must be a 4- or 5-tuple");
        return NULL;
    }
    if (c->stream != NULL) {
        PyErr_SetString(PyExc_RuntimeError, "_set_dispatch() after _start()");
        return NULL;
    }
    Py_XSETREF(c->dispatch, Py_NewRef(config));
    Py_RETURN_NONE;
}

PyDoc_STRVAR(h1_resume_doc,
"_resume($self)\n--\n\n"
"Go on after an awaitable returned by the delegate has finished.");

static PyObject *
h1_resume(tc_http1 *c, PyObject *Py_UNUSED(ignored))
{
    if (c->state == H1_WAIT) {
        int what = c->awaiting;
        c->state = H1_READ;
        c->awaiting = AW_NONE;
        if (what == AW_HEADERS) {
            h1_after_headers(c);
        }
    }
    if (c->state == H1_READ || c->state == H1_RESPONSE) {
        h1_pump(c);
    }
    Py_RETURN_NONE;
}

PyDoc_STRVAR(h1_stream_closed_doc,
"_stream_closed($self)\n--\n\n"
"The stream has closed: tell the delegate and the server, once.  Returns\n"
"(delegate_to_notify_or_None, close_callback_or_None, first_time).");

static PyObject *
h1_stream_closed(tc_http1 *c, PyObject *Py_UNUSED(ignored))
{
    PyObject *delegate = NULL, *cb, *first;
    c->state = H1_DONE;
    c->deadline = 0;
    if (c->delegate_open && c->delegate != NULL) {
        delegate = Py_NewRef(c->delegate);
    }
    c->delegate_open = 0;
    cb = c->close_callback;
    c->close_callback = NULL;
    first = c->closed_seen ? Py_False : Py_True;
    c->closed_seen = 1;
    if (h1_release_waiters(c) < 0) {
        Py_XDECREF(delegate);
        Py_XDECREF(cb);
        return NULL;
    }
    if (c->stream != NULL) {
        tc_stream_detach(c->stream);
    }
    h1_unlink(c);
    Py_CLEAR(c->delegate);
    return Py_BuildValue("(NNO)", delegate ? delegate : Py_NewRef(Py_None),
                         cb ? cb : Py_NewRef(Py_None), first);
}

PyDoc_STRVAR(h1_release_doc,
"_release($self)\n--\n\n"
"Stop serving (detach or fallback): the stream keeps its buffered input.");

static PyObject *
h1_release(tc_http1 *c, PyObject *Py_UNUSED(ignored))
{
    h1_flush(c); /* what was answered goes before the new owner's bytes */
    c->state = H1_DONE;
    c->deadline = 0;
    c->delegate_open = 0;
    Py_CLEAR(c->close_callback);
    if (c->stream != NULL) {
        tc_stream_detach(c->stream);
    }
    h1_unlink(c);
    Py_RETURN_NONE;
}

static PyObject *
h1_set_close_callback(tc_http1 *c, PyObject *cb)
{
    Py_XSETREF(c->close_callback, cb == Py_None ? NULL : Py_NewRef(cb));
    Py_RETURN_NONE;
}

static PyObject *
h1_set_body_timeout(tc_http1 *c, PyObject *v)
{
    double t = PyFloat_AsDouble(v);
    if (t == -1.0 && PyErr_Occurred()) {
        return NULL;
    }
    c->body_timeout = t;
    Py_RETURN_NONE;
}

static PyObject *
h1_set_max_body_size(tc_http1 *c, PyObject *v)
{
    Py_ssize_t n = PyLong_AsSsize_t(v);
    if (n == -1 && PyErr_Occurred()) {
        return NULL;
    }
    c->max_body_size = n;
    Py_RETURN_NONE;
}

static PyObject *
h1_get_no_keep_alive(tc_http1 *c, void *Py_UNUSED(x))
{
    return PyBool_FromLong(c->no_keep_alive);
}

static PyObject *
h1_get_native_stream(tc_http1 *c, void *Py_UNUSED(x))
{
    return Py_NewRef(c->stream ? (PyObject *)c->stream : Py_None);
}

static int
h1_traverse(tc_http1 *c, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(c));
    Py_VISIT(c->stream);
    Py_VISIT(c->server);
    Py_VISIT(c->server_conn);
    Py_VISIT(c->done_future);
    Py_VISIT(c->delegate);
    Py_VISIT(c->dispatch);
    Py_VISIT(c->close_callback);
    Py_VISIT(c->waiters);
    Py_VISIT(c->pieces);
    Py_VISIT(c->whole);
    Py_VISIT(c->dict);
    Py_VISIT(c->cork_body);
    return 0;
}

static int
h1_clear(tc_http1 *c)
{
    if (c->stream != NULL) {
        tc_stream_detach(c->stream);
    }
    h1_unlink(c);
    Py_CLEAR(c->stream);
    Py_CLEAR(c->server);
    Py_CLEAR(c->server_conn);
    Py_CLEAR(c->done_future);
    Py_CLEAR(c->delegate);
    Py_CLEAR(c->dispatch);
    Py_CLEAR(c->close_callback);
    Py_CLEAR(c->waiters);
    Py_CLEAR(c->pieces);
    Py_CLEAR(c->whole);
    Py_CLEAR(c->dict);
    Py_CLEAR(c->refusal);
    Py_CLEAR(c->cork_body);
    return 0;
}

static void
h1_dealloc(tc_http1 *c)
{
    PyTypeObject *tp = Py_TYPE(c);
    PyObject_GC_UnTrack(c);
    if (c->weakreflist != NULL) {
        PyObject_ClearWeakRefs((PyObject *)c);
    }
    h1_clear(c);
    tc_buf_free(&c->head);
    tc_buf_free(&c->body);
    tc_buf_free(&c->pre);
    tc_buf_free(&c->cork);
    PyMem_Free(c->fs.v);
    tp->tp_free((PyObject *)c);
    Py_DECREF(tp);
}

static PyObject *
h1_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    tc_http1 *c = (tc_http1 *)type->tp_alloc(type, 0);
    (void)args;
    (void)kwds;
    if (c != NULL) {
        c->expected_remaining = -1;
        c->state = H1_DONE;
    }
    return (PyObject *)c;
}

/* The methods above for handler.c, which calls them directly on a
 * connection whose class keeps them (conn is an HTTP1Conn). */
PyObject *
tc_h1_call_write_headers(PyObject *conn, PyObject *const *args, Py_ssize_t nargs)
{
    return h1_write_headers((tc_http1 *)conn, args, nargs, NULL);
}

PyObject *
tc_h1_call_finish(PyObject *conn)
{
    return h1_finish((tc_http1 *)conn, NULL);
}

PyObject *
tc_h1_call_set_close_callback(PyObject *conn, PyObject *cb)
{
    return h1_set_close_callback((tc_http1 *)conn, cb);
}

tc_h1_memo *
tc_h1_memo_of(PyObject *conn)
{
    return &((tc_http1 *)conn)->memo;
}

static PyMethodDef h1_methods[] = {
    {"write_headers", (PyCFunction)(void (*)(void))h1_write_headers,
     METH_FASTCALL | METH_KEYWORDS, h1_write_headers_doc},
    {"write", (PyCFunction)h1_write, METH_O, h1_write_doc},
    {"finish", (PyCFunction)h1_finish, METH_NOARGS, h1_finish_doc},
    {"set_close_callback", (PyCFunction)h1_set_close_callback, METH_O,
     "set_close_callback($self, callback)\n--\n\nRun callback if the connection closes "
     "while the current request is in progress."},
    {"set_body_timeout", (PyCFunction)h1_set_body_timeout, METH_O,
     "set_body_timeout($self, timeout)\n--\n\nBody timeout for the current request."},
    {"set_max_body_size", (PyCFunction)h1_set_max_body_size, METH_O,
     "set_max_body_size($self, max_body_size)\n--\n\nBody size limit for the current request."},
    {"_start", (PyCFunction)h1_start, METH_VARARGS, h1_start_doc},
    {"_set_dispatch", (PyCFunction)h1_set_dispatch, METH_O, h1_set_dispatch_doc},
    {"_resume", (PyCFunction)h1_resume, METH_NOARGS, h1_resume_doc},
    {"_stream_closed", (PyCFunction)h1_stream_closed, METH_NOARGS, h1_stream_closed_doc},
    {"_release", (PyCFunction)h1_release, METH_NOARGS, h1_release_doc},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef h1_getset[] = {
    {"no_keep_alive", (getter)h1_get_no_keep_alive, NULL, NULL, NULL},
    {"_native_stream", (getter)h1_get_native_stream, NULL, NULL, NULL},
    {"__dict__", PyObject_GenericGetDict, PyObject_GenericSetDict, NULL, NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyMemberDef h1_members[] = {
    {"__dictoffset__", T_PYSSIZET, offsetof(tc_http1, dict), READONLY, NULL},
    {"__weaklistoffset__", T_PYSSIZET, offsetof(tc_http1, weakreflist), READONLY, NULL},
    {NULL, 0, 0, 0, NULL},
};

static PyType_Slot h1_slots[] = {
    {Py_tp_doc, "The native server side of an HTTP/1.x connection (see http1.c)."},
    {Py_tp_new, h1_new},
    {Py_tp_init, h1_init},
    {Py_tp_dealloc, h1_dealloc},
    {Py_tp_traverse, h1_traverse},
    {Py_tp_clear, h1_clear},
    {Py_tp_methods, h1_methods},
    {Py_tp_getset, h1_getset},
    {Py_tp_members, h1_members},
    {0, NULL},
};

static PyType_Spec h1_spec = {
    .name = "tornado_c._core.HTTP1Conn",
    .basicsize = sizeof(tc_http1),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_BASETYPE,
    .slots = h1_slots,
};

PyDoc_STRVAR(http1_setup_doc,
"http1_setup(HTTPHeaders, RequestStartLine, HTTPInputError, HTTPOutputError,\n"
"            ResponseStartLine=None)\n--\n\n"
"Give the native HTTP/1 connection the Python classes it builds and raises.");

static PyObject *
tc_http1_setup(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    tc_state *st = PyModule_GetState(module);
    if (nargs != 4 && nargs != 5) {
        PyErr_SetString(PyExc_TypeError, "http1_setup takes 4 or 5 arguments");
        return NULL;
    }
    if (!PyType_Check(args[0]) || !PyType_Check(args[1]) ||
        !PyType_IsSubtype((PyTypeObject *)args[1], &PyTuple_Type)) {
        PyErr_SetString(PyExc_TypeError, "http1_setup: bad classes");
        return NULL;
    }
    Py_XSETREF(st->http_headers, (PyTypeObject *)Py_NewRef(args[0]));
    {
        PyObject *names[TC_HD_COUNT] = {st->str__dict, st->str__as_list, st->str__last_key};
        if (tc_slotmap_set(&st->header_slots, st->http_headers, names, TC_HD_COUNT) < 0) {
            return NULL;
        }
    }
    Py_XSETREF(st->request_start_line, (PyTypeObject *)Py_NewRef(args[1]));
    Py_XSETREF(st->http_input_error, Py_NewRef(args[2]));
    Py_XSETREF(st->http_output_error, Py_NewRef(args[3]));
    if (nargs == 5 && args[4] != Py_None) {
        if (!PyType_Check(args[4]) || !PyType_IsSubtype((PyTypeObject *)args[4], &PyTuple_Type)) {
            PyErr_SetString(PyExc_TypeError, "http1_setup: bad classes");
            return NULL;
        }
        Py_XSETREF(st->response_start_line, (PyTypeObject *)Py_NewRef(args[4]));
    }
    Py_RETURN_NONE;
}

static PyMethodDef h1_module_functions[] = {
    {"http1_setup", (PyCFunction)(void (*)(void))tc_http1_setup, METH_FASTCALL,
     http1_setup_doc},
    {NULL, NULL, 0, NULL},
};

int
tc_http1_type_init(PyObject *module, tc_state *st)
{
    llhttp_settings_init(&h1_settings);
    h1_settings.on_message_begin = http1_on_message_begin;
    h1_settings.on_method_complete = http1_on_method_complete;
    h1_settings.on_url = http1_on_url;
    h1_settings.on_header_field = http1_on_header_field;
    h1_settings.on_header_value = http1_on_header_value;
    h1_settings.on_headers_complete = http1_on_headers_complete;
    h1_settings.on_body = http1_on_body;
    h1_settings.on_chunk_header = http1_on_chunk_header;
    h1_settings.on_chunk_complete = http1_on_chunk_complete;
    h1_settings.on_chunk_extension_name = http1_on_chunk_extension;
    h1_settings.on_message_complete = http1_on_message_complete;

    st->HTTP1ConnType = (PyTypeObject *)PyType_FromModuleAndSpec(module, &h1_spec, NULL);
    if (st->HTTP1ConnType == NULL) {
        return -1;
    }
    if (PyModule_AddObjectRef(module, "HTTP1Conn", (PyObject *)st->HTTP1ConnType) < 0) {
        return -1;
    }
#define INTERN(field, text)                                    \
    if ((st->field = PyUnicode_InternFromString(text)) == NULL) { \
        return -1;                                             \
    }
    INTERN(str__dict, "_dict");
    INTERN(str__as_list, "_as_list");
    INTERN(str__last_key, "_last_key");
    INTERN(str_http11, "HTTP/1.1");
    INTERN(str_http10, "HTTP/1.0");
    INTERN(str_start_request, "start_request");
    INTERN(str_headers_received, "headers_received");
    INTERN(str_data_received, "data_received");
    INTERN(str_finish, "finish");
    INTERN(str_Connection, "Connection");
    INTERN(str_close, "close");
    INTERN(str_Keep_Alive, "Keep-Alive");
    INTERN(str_Transfer_Encoding, "Transfer-Encoding");
    INTERN(str_chunked, "chunked");
    INTERN(str_Content_Length, "Content-Length");
#undef INTERN
    st->empty_tuple = PyTuple_New(0);
    if (st->empty_tuple == NULL) {
        return -1;
    }
    return PyModule_AddFunctions(module, h1_module_functions);
}
