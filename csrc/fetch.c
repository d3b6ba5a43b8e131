/*
 * fetch.c — Fetch, one SimpleAsyncHTTPClient request done in C.
 *
 * Serves tornado_c.simple_httpclient (its Python subclass _NativeFetch).  For
 * a request the client has found plain enough (see _native_fetch there: an
 * http URL to a numeric address, no callbacks, no body producer, no auth, no
 * "Connection" header of the caller's), the object connects a libuv TCP
 * handle of its own, writes the request bytes the Python code serialized,
 * and reads the response: the head is collected until Tornado's end-of-head
 * rule is met within max_header_size, checked to be plainly well formed
 * (tc_h1_head_is_plain) and parsed by llhttp; a final status with a
 * Content-Length body (or none: HEAD, 204, 304) is read to its end and
 * handed to _fetched(code, reason, headers, body) in one call.  Timeouts are
 * a libuv timer: _failed("while connecting") / _failed("during request");
 * a failed connect is _failed(errno) and a failed write _failed(OSError).
 *
 * Everything else — informational responses, redirects to follow, chunked
 * or close-delimited bodies, any Content-Encoding to decompress, odd
 * framing, a head over the limit, the connection ending or failing before
 * the response is whole — is handed over (_handover(fd, data)): the socket
 * (a duplicate of the handle's fd) and every byte read so far go to the
 * Python code, which reads the response with SimpleAsyncHTTPClient's own
 * objects exactly as if they had sent the request (with the read error
 * that ended the input, if one did: the stream closes with it).  No response bytes are
 * interpreted twice and nothing is lost in the handover.
 */
#include "tc.h"

#include <llhttp.h>
#include <string.h>
#include <unistd.h>

enum {
    FS_NEW = 0,     /* start() not called yet */
    FS_CONNECT,     /* connecting */
    FS_READ,        /* request written (or being written), reading */
    FS_FAILING,     /* a failure to report from the timer (connect refused
                       synchronously) */
    FS_DONE,        /* answered or handed over; handles closing */
};

struct tc_fetch_s {
    PyObject_HEAD
    tc_loop *loop;              /* strong */
    struct tc_fetch_s *next, *prev; /* the loop's open fetches */
    uv_tcp_t tcp;
    uv_timer_t timer;
    uv_connect_t connect_req;
    uv_write_t write_req;
    struct sockaddr_storage addr;
    PyObject *payload;          /* the request bytes (pinned while written) */
    PyObject *pending;          /* FS_FAILING: what to report */
    tc_buf in;                  /* the response bytes read so far */
    Py_ssize_t scanned;         /* head bytes searched for its end */
    Py_ssize_t head_len;        /* 0 until the head is parsed */
    Py_ssize_t body_len;
    Py_ssize_t max_header_size;
    Py_ssize_t max_body_size;
    uint64_t started;           /* uv_now() at start() */
    uint64_t request_ms;        /* the request_timeout, 0: none */
    uint64_t connect_ms;        /* the connect limit, 0: none */
    PyObject *code, *reason, *headers; /* the parsed head */
    int family;
    int open_handles;           /* of tcp and timer, not closed yet */
    char tcp_open;              /* tcp initialised and not closed */
    char timer_open;
    char state;
    char is_head;
    char follow_redirects;
    char decompress;
    char writing;               /* write_req is queued */
    char reading;
};

typedef struct tc_fetch_s tc_fetch;

/* The head being parsed: llhttp's callbacks fill fs. */
typedef struct {
    tc_h1_fieldset fs;
    const char *base;
    char done;
} fetch_scan;

static llhttp_settings_t fetch_settings;

static int
fetch_on_header_field(llhttp_t *p, const char *at, size_t len)
{
    fetch_scan *sc = (fetch_scan *)p->data;
    return tc_h1_fieldset_span(&sc->fs, 0, at - sc->base, (Py_ssize_t)len) < 0 ? HPE_USER : 0;
}

static int
fetch_on_header_value(llhttp_t *p, const char *at, size_t len)
{
    fetch_scan *sc = (fetch_scan *)p->data;
    return tc_h1_fieldset_span(&sc->fs, 1, at - sc->base, (Py_ssize_t)len) < 0 ? HPE_USER : 0;
}

static int
fetch_on_headers_complete(llhttp_t *p)
{
    ((fetch_scan *)p->data)->done = 1;
    return HPE_PAUSED;
}

/* ------------------------------------------------------------ the loop */

static void
fetch_link(tc_fetch *f)
{
    f->next = f->loop->fetches;
    f->prev = NULL;
    if (f->next != NULL) {
        f->next->prev = f;
    }
    f->loop->fetches = f;
}

static void
fetch_unlink(tc_fetch *f)
{
    if (f->prev != NULL) {
        f->prev->next = f->next;
    }
    else if (f->loop->fetches == f) {
        f->loop->fetches = f->next;
    }
    if (f->next != NULL) {
        f->next->prev = f->prev;
    }
    f->next = f->prev = NULL;
}

/* Each handle's close drops one count; the last drops the reference the
 * object held to itself while its handles were open. */
static void
fetch_on_closed(uv_handle_t *h)
{
    tc_fetch *f = (tc_fetch *)h->data;
    tc_loop_ensure_gil(f->loop);
    tc_loop_on_handle_closed(h);
    if (--f->open_handles == 0) {
        Py_DECREF(f);
    }
}

/* Closes the handles (the socket with the TCP one); runs no Python. */
static void
fetch_close_handles(tc_fetch *f)
{
    if (!f->tcp_open && !f->timer_open) {
        return;
    }
    fetch_unlink(f);
    f->reading = 0;
    if (f->tcp_open) {
        f->tcp_open = 0;
        uv_close((uv_handle_t *)&f->tcp, fetch_on_closed);
    }
    if (f->timer_open) {
        f->timer_open = 0;
        uv_close((uv_handle_t *)&f->timer, fetch_on_closed);
    }
}

void
tc_fetch_close_all(tc_loop *loop)
{
    while (loop->fetches != NULL) {
        tc_fetch *f = loop->fetches;
        f->state = FS_DONE;
        fetch_close_handles(f);
    }
}

/* ------------------------------------------------------------- outcomes */

static void
fetch_report(tc_fetch *f, const char *what)
{
    PyObject *exc = PyErr_GetRaisedException_compat_or_null();
    PyObject *ctx = Py_BuildValue("{s:s,s:O}", "message", what, "exception",
                                  exc ? exc : Py_None);
    PyObject *r = NULL;
    if (ctx != NULL) {
        r = PyObject_CallMethod((PyObject *)f->loop, "call_exception_handler", "O", ctx);
        Py_DECREF(ctx);
    }
    if (r == NULL) {
        PyErr_WriteUnraisable((PyObject *)f);
    }
    Py_XDECREF(r);
    Py_XDECREF(exc);
}

/* Ends the fetch: handles closed, then self.<name>(*args) (args stolen).
 * NULL entries mean building them failed (MemoryError): the request is
 * then answered with _failed(that error), so that it is answered. */
static void
fetch_end(tc_fetch *f, const char *name, PyObject **args, Py_ssize_t nargs)
{
    PyObject *r = NULL, *failure = NULL, *pyname;
    Py_ssize_t i;
    f->state = FS_DONE;
    fetch_close_handles(f);
    for (i = 0; i < nargs; i++) {
        if (args[i] == NULL && failure == NULL) {
            if (!PyErr_Occurred()) {
                PyErr_SetString(PyExc_SystemError, "fetch: an outcome was lost");
            }
            failure = PyErr_GetRaisedException_compat();
        }
    }
    if (failure != NULL || PyErr_Occurred()) {
        for (i = 0; i < nargs; i++) {
            Py_XDECREF(args[i]);
        }
        if (failure == NULL) {
            failure = PyErr_GetRaisedException_compat();
        }
        args[0] = failure;
        nargs = 1;
        name = "_failed";
    }
    pyname = PyUnicode_InternFromString(name);
    if (pyname != NULL) {
        PyObject *call[5] = {(PyObject *)f};
        for (i = 0; i < nargs; i++) {
            call[i + 1] = args[i];
        }
        r = PyObject_VectorcallMethod(pyname, call, (size_t)(nargs + 1), NULL);
        Py_DECREF(pyname);
    }
    if (r == NULL) {
        fetch_report(f, "Exception in tornado_c HTTP client fetch");
    }
    Py_XDECREF(r);
    for (i = 0; i < nargs; i++) {
        Py_XDECREF(args[i]);
    }
}

/* _failed(what): what is a str (a timeout), an int (a connect errno) or an
 * exception (stolen). */
static void
fetch_fail(tc_fetch *f, PyObject *what)
{
    fetch_end(f, "_failed", &what, 1);
}

/* The OSError for a libuv error code (new reference). */
static PyObject *
fetch_uv_error(int rc)
{
    tc_raise_uv_error(rc);
    return PyErr_GetRaisedException_compat();
}

/* Gives the connection and the bytes read so far to the Python code, with
 * the read error that ended the input (stolen), if any. */
static void
fetch_hand_over(tc_fetch *f, PyObject *error)
{
    uv_os_fd_t fd;
    int copy = -1;
    PyObject *args[3];
    if (uv_fileno((uv_handle_t *)&f->tcp, &fd) == 0) {
        copy = dup(fd);
    }
    if (copy < 0) {
        Py_XDECREF(error);
        fetch_fail(f, PyErr_SetFromErrno(PyExc_OSError) == NULL ? PyErr_GetRaisedException_compat()
                                                                 : NULL);
        return;
    }
    args[0] = PyLong_FromLong(copy);
    args[1] = PyBytes_FromStringAndSize(tc_buf_head(&f->in), f->in.len);
    args[2] = error != NULL ? error : Py_NewRef(Py_None);
    if (args[0] == NULL || args[1] == NULL) {
        close(copy);
    }
    fetch_end(f, "_handover", args, 3);
}

/* ---------------------------------------------------------------- timer */

static void
fetch_on_timer(uv_timer_t *t)
{
    tc_fetch *f = (tc_fetch *)t->data;
    PyObject *what;
    tc_loop_ensure_gil(f->loop);
    switch (f->state) {
    case FS_FAILING:
        what = f->pending;
        f->pending = NULL;
        fetch_fail(f, what);
        break;
    case FS_CONNECT:
        fetch_fail(f, PyUnicode_FromString("while connecting"));
        break;
    case FS_READ:
        fetch_fail(f, PyUnicode_FromString("during request"));
        break;
    default:
        break;
    }
}

/* ----------------------------------------------------------------- head */

/* Parses the head (head_len bytes at the buffer's start).  1 when the C
 * code reads this response, 0 when it is handed over, -1 on error. */
static int
fetch_parse_head(tc_fetch *f, Py_ssize_t head_len)
{
    tc_state *st = f->loop->st;
    const char *base = tc_buf_head(&f->in);
    Py_ssize_t reason_off, reason_len, i, cl = -1;
    int ncl = 0, status, result = 0;
    llhttp_t parser;
    llhttp_errno_t err;
    fetch_scan sc;
    tc_h1_notes notes;
    PyObject *te = NULL;

    if (!tc_h1_head_is_plain(base, head_len, &reason_off, &reason_len)) {
        return 0;
    }
    memset(&sc, 0, sizeof sc);
    sc.base = base;
    llhttp_init(&parser, HTTP_RESPONSE, &fetch_settings);
    parser.data = &sc;
    err = llhttp_execute(&parser, base, (size_t)head_len);
    if (err != HPE_PAUSED || !sc.done || llhttp_get_error_pos(&parser) != base + head_len) {
        goto done;
    }
    status = parser.status_code;
    if (status < 200) {
        goto done; /* informational: the Python code */
    }
    if (f->follow_redirects && (status == 301 || status == 302 || status == 303 ||
                                status == 307 || status == 308)) {
        goto done; /* a redirect to follow: the Python code */
    }
    for (i = 0; i < sc.fs.n; i++) {
        tc_h1_field *fl = &sc.fs.v[i];
        const char *name = base + fl->name_off, *v = base + fl->val_off;
        Py_ssize_t vl = fl->val_len;
        tc_h1_trim(&v, &vl);
        if (tc_h1_name_is(name, fl->name_len, "content-length")) {
            Py_ssize_t k;
            ncl++;
            cl = vl == 0 ? -2 : 0;
            for (k = 0; k < vl; k++) {
                if (v[k] < '0' || v[k] > '9' || cl > (PY_SSIZE_T_MAX - 9) / 10) {
                    cl = -2;
                    break;
                }
                cl = cl * 10 + (v[k] - '0');
            }
        }
        else if (tc_h1_name_is(name, fl->name_len, "transfer-encoding")) {
            goto done; /* chunked (or worse): the Python code */
        }
        else if (f->decompress && tc_h1_name_is(name, fl->name_len, "content-encoding")) {
            goto done; /* a body to decompress: the Python code */
        }
    }
    if (status == 304 || f->is_head) {
        cl = 0;
    }
    else if (status == 204) {
        if (cl > 0 || cl == -2 || ncl > 1) {
            goto done;
        }
        cl = 0;
    }
    else if (ncl != 1 || cl < 0 || cl > f->max_body_size) {
        goto done; /* no length, a bad one, or one over the limit */
    }
    f->code = PyLong_FromLong(status);
    f->reason = PyUnicode_DecodeLatin1(base + reason_off, reason_len, NULL);
    if (f->code == NULL || f->reason == NULL) {
        result = -1;
        goto done;
    }
    f->headers = tc_h1_build_headers(st, base, sc.fs.v, sc.fs.n, &notes, &te);
    Py_XDECREF(te);
    if (f->headers == NULL) {
        if (!PyErr_ExceptionMatches(st->http_input_error)) {
            result = -1;
            goto done;
        }
        PyErr_Clear(); /* the Python code says what is wrong with it */
        goto done;
    }
    f->head_len = head_len;
    f->body_len = cl;
    result = 1;
done:
    PyMem_Free(sc.fs.v);
    if (result != 1) {
        Py_CLEAR(f->code);
        Py_CLEAR(f->reason);
    }
    return result;
}

/* Moves the response along with what has been read. */
static void
fetch_process(tc_fetch *f)
{
    if (f->head_len == 0) {
        Py_ssize_t end = tc_h1_head_end(tc_buf_head(&f->in), f->in.len, &f->scanned);
        int rc;
        if ((end < 0 && f->in.len > f->max_header_size) || end > f->max_header_size) {
            fetch_hand_over(f, NULL); /* the Python code reports the overflow */
            return;
        }
        if (end < 0) {
            return;
        }
        rc = fetch_parse_head(f, end);
        if (rc < 0) {
            fetch_fail(f, PyErr_GetRaisedException_compat());
            return;
        }
        if (rc == 0) {
            fetch_hand_over(f, NULL);
            return;
        }
    }
    if (f->in.len - f->head_len >= f->body_len) {
        PyObject *args[4];
        args[0] = f->code;
        args[1] = f->reason;
        args[2] = f->headers;
        args[3] = PyBytes_FromStringAndSize(tc_buf_head(&f->in) + f->head_len, f->body_len);
        f->code = f->reason = f->headers = NULL;
        fetch_end(f, "_fetched", args, 4);
    }
}

/* ---------------------------------------------------------------- I/O */

/* Reads go into the loop's shared receive buffer and are copied out in
 * on_read (a response is small next to a per-fetch 64 KiB buffer, which
 * would cost an allocation and its page faults each time). */
static void
fetch_on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    tc_fetch *f = (tc_fetch *)h->data;
    tc_loop *loop = f->loop;
    (void)suggested;
    if (loop->recvbuf == NULL) {
        loop->recvbuf = PyMem_RawMalloc(TC_RECVBUF_SIZE);
    }
    buf->base = loop->recvbuf;
    buf->len = loop->recvbuf == NULL ? 0 : TC_RECVBUF_SIZE;
}

static void
fetch_on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    tc_fetch *f = (tc_fetch *)s->data;
    tc_loop_ensure_gil(f->loop);
    if (f->state != FS_READ) {
        return;
    }
    if (nread > 0) {
        if (tc_buf_append(&f->in, buf->base, (Py_ssize_t)nread) < 0) {
            uv_read_stop(s);
            fetch_fail(f, NULL);
            return;
        }
        fetch_process(f);
    }
    else if (nread == UV_ENOBUFS) {
        uv_read_stop(s);
        fetch_fail(f, PyErr_NoMemory());
    }
    else if (nread < 0) {
        /* The end of the input, or an error, before the response is whole:
         * the Python code meets it where it is. */
        uv_read_stop(s);
        fetch_hand_over(f, nread == UV_EOF ? NULL : fetch_uv_error((int)nread));
    }
}

static void
fetch_on_write(uv_write_t *req, int status)
{
    tc_fetch *f = (tc_fetch *)req->data;
    tc_loop_ensure_gil(f->loop);
    f->writing = 0;
    Py_CLEAR(f->payload);
    if (status < 0 && status != UV_ECANCELED && f->state == FS_READ) {
        fetch_fail(f, fetch_uv_error(status));
    }
}

static void
fetch_arm(tc_fetch *f, uint64_t limit_ms)
{
    if (limit_ms == 0) {
        uv_timer_stop(&f->timer);
        return;
    }
    {
        uint64_t now = uv_now(&f->loop->uvloop), elapsed = now - f->started;
        uv_timer_start(&f->timer, fetch_on_timer, elapsed >= limit_ms ? 0 : limit_ms - elapsed, 0);
    }
}

static void
fetch_on_connect(uv_connect_t *req, int status)
{
    tc_fetch *f = (tc_fetch *)req->data;
    const char *p;
    Py_ssize_t n;
    int rc;
    tc_loop_ensure_gil(f->loop);
    if (f->state != FS_CONNECT) {
        return;
    }
    if (status < 0) {
        fetch_fail(f, PyLong_FromLong(-status));
        return;
    }
    f->state = FS_READ;
    fetch_arm(f, f->request_ms);
    (void)uv_tcp_nodelay(&f->tcp, 1);
    p = PyBytes_AS_STRING(f->payload);
    n = PyBytes_GET_SIZE(f->payload);
    rc = uv_try_write((uv_stream_t *)&f->tcp, &(uv_buf_t){.base = (char *)p, .len = (size_t)n}, 1);
    if (rc == UV_EAGAIN) {
        rc = 0;
    }
    if (rc >= 0 && rc < n) {
        uv_buf_t rest = {.base = (char *)p + rc, .len = (size_t)(n - rc)};
        f->write_req.data = f;
        rc = uv_write(&f->write_req, (uv_stream_t *)&f->tcp, &rest, 1, fetch_on_write);
        if (rc == 0) {
            f->writing = 1;
        }
    }
    else if (rc >= 0) {
        Py_CLEAR(f->payload);
    }
    if (rc < 0) {
        fetch_fail(f, fetch_uv_error(rc));
        return;
    }
    rc = uv_read_start((uv_stream_t *)&f->tcp, fetch_on_alloc, fetch_on_read);
    if (rc < 0) {
        fetch_fail(f, fetch_uv_error(rc));
        return;
    }
    f->reading = 1;
}

/* --------------------------------------------------------------- Python */

PyDoc_STRVAR(fetch_start_doc,
"start($self)\n--\n\n"
"Connect and send the request; the outcome comes to _fetched, _failed or\n"
"_handover.");

static PyObject *
fetch_start(tc_fetch *f, PyObject *Py_UNUSED(ignored))
{
    tc_loop *loop = f->loop;
    int rc;
    if (f->state != FS_NEW) {
        PyErr_SetString(PyExc_RuntimeError, "fetch already started");
        return NULL;
    }
    if (loop->closed || !loop->uv_open) {
        PyErr_SetString(PyExc_RuntimeError, "Event loop is closed");
        return NULL;
    }
    (void)uv_timer_init(&loop->uvloop, &f->timer);
    tc_loop_handle_opened(loop);
    f->timer.data = f;
    f->timer_open = 1;
    f->open_handles = 1;
    Py_INCREF(f); /* while the handles are open */
    fetch_link(f);
    f->started = uv_now(&loop->uvloop);
    rc = uv_tcp_init_ex(&loop->uvloop, &f->tcp, (unsigned int)f->family);
    if (rc == 0) {
        tc_loop_handle_opened(loop);
        f->tcp.data = f;
        f->tcp_open = 1;
        f->open_handles++;
        f->connect_req.data = f;
        rc = uv_tcp_connect(&f->connect_req, &f->tcp, (const struct sockaddr *)&f->addr,
                            fetch_on_connect);
    }
    if (rc < 0) {
        /* No socket (EMFILE...) or an immediate connect failure: reported
         * from the loop, as the Python path reports them. */
        f->state = FS_FAILING;
        f->pending = PyLong_FromLong(-rc);
        if (f->pending == NULL) {
            f->state = FS_DONE;
            fetch_close_handles(f);
            return NULL;
        }
        uv_timer_start(&f->timer, fetch_on_timer, 0, 0);
        Py_RETURN_NONE;
    }
    f->state = FS_CONNECT;
    fetch_arm(f, f->connect_ms);
    Py_RETURN_NONE;
}

static uint64_t
fetch_ms(double seconds)
{
    double ms;
    if (!(seconds > 0)) {
        return 0;
    }
    ms = seconds * 1000.0;
    if (ms > 9.0e15) {
        ms = 9.0e15;
    }
    /* At least 1 ms: 0 means "no limit". */
    return ms < 1.0 ? 1 : (uint64_t)(ms + 0.999);
}

static PyObject *
fetch_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"loop", "family", "host", "port", "payload",
                             "connect_timeout", "request_timeout", "max_header_size",
                             "max_body_size", "is_head", "follow_redirects",
                             "decompress", NULL};
    tc_state *st = tc_state_from_type(type);
    PyObject *loop, *payload;
    const char *host;
    int family, port, is_head, follow, decompress, rc;
    double connect_timeout, request_timeout;
    Py_ssize_t max_header, max_body;
    tc_fetch *f;

    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OisiSddnnppp:Fetch", kwlist, &loop, &family,
                                     &host, &port, &payload, &connect_timeout,
                                     &request_timeout, &max_header, &max_body, &is_head,
                                     &follow, &decompress)) {
        return NULL;
    }
    if (st->http_headers == NULL || st->http_input_error == NULL) {
        /* (Set up when tornado_c.httputil is imported.) */
        PyErr_SetString(PyExc_RuntimeError, "Fetch needs tornado_c.httputil imported first");
        return NULL;
    }
    if (!PyObject_TypeCheck(loop, st->LoopType)) {
        PyErr_SetString(PyExc_TypeError, "loop must be a tornado_c loop");
        return NULL;
    }
    if (port < 0 || port > 65535 || max_header < 0 || max_body < 0) {
        PyErr_SetString(PyExc_ValueError, "port, max_header_size and max_body_size out of range");
        return NULL;
    }
    f = (tc_fetch *)type->tp_alloc(type, 0);
    if (f == NULL) {
        return NULL;
    }
    if (family == AF_INET) {
        rc = uv_ip4_addr(host, port, (struct sockaddr_in *)&f->addr);
    }
    else if (family == AF_INET6) {
        rc = strchr(host, '%') != NULL ? -1 : uv_ip6_addr(host, port, (struct sockaddr_in6 *)&f->addr);
    }
    else {
        rc = -1;
    }
    if (rc != 0) {
        Py_DECREF(f);
        PyErr_Format(PyExc_ValueError, "not a numeric address of family %d: %s", family, host);
        return NULL;
    }
    Py_INCREF(loop);
    f->loop = (tc_loop *)loop;
    Py_INCREF(payload);
    f->payload = payload;
    f->family = family;
    f->connect_ms = fetch_ms(connect_timeout);
    f->request_ms = fetch_ms(request_timeout);
    f->max_header_size = max_header;
    f->max_body_size = max_body;
    f->is_head = (char)is_head;
    f->follow_redirects = (char)follow;
    f->decompress = (char)decompress;
    return (PyObject *)f;
}

static int
fetch_traverse(tc_fetch *f, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(f));
    Py_VISIT(f->loop);
    Py_VISIT(f->payload);
    Py_VISIT(f->pending);
    Py_VISIT(f->code);
    Py_VISIT(f->reason);
    Py_VISIT(f->headers);
    return 0;
}

static int
fetch_clear(tc_fetch *f)
{
    /* The loop stays: a fetch with open handles is never collected (it
     * holds a reference to itself), and dealloc needs it. */
    if (!f->writing) {
        Py_CLEAR(f->payload);
    }
    Py_CLEAR(f->pending);
    Py_CLEAR(f->code);
    Py_CLEAR(f->reason);
    Py_CLEAR(f->headers);
    return 0;
}

static void
fetch_dealloc(tc_fetch *f)
{
    PyTypeObject *tp = Py_TYPE(f);
    PyObject_GC_UnTrack(f);
    f->writing = 0;
    fetch_clear(f);
    Py_CLEAR(f->loop);
    tc_buf_free(&f->in);
    tp->tp_free((PyObject *)f);
    Py_DECREF(tp);
}

static PyObject *
fetch_get_state(tc_fetch *f, void *Py_UNUSED(x))
{
    static const char *const names[] = {"new", "connecting", "reading", "failing", "done"};
    return PyUnicode_FromString(names[(int)f->state]);
}

static PyMethodDef fetch_methods[] = {
    {"start", (PyCFunction)fetch_start, METH_NOARGS, fetch_start_doc},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef fetch_getset[] = {
    {"state", (getter)fetch_get_state, NULL, "new, connecting, reading, failing or done", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyType_Slot fetch_slots[] = {
    {Py_tp_doc, "One HTTP client request done in C (see fetch.c)."},
    {Py_tp_new, fetch_new},
    {Py_tp_dealloc, fetch_dealloc},
    {Py_tp_traverse, fetch_traverse},
    {Py_tp_clear, fetch_clear},
    {Py_tp_methods, fetch_methods},
    {Py_tp_getset, fetch_getset},
    {0, NULL},
};

static PyType_Spec fetch_spec = {
    .name = "tornado_c._core.Fetch",
    .basicsize = sizeof(tc_fetch),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_BASETYPE,
    .slots = fetch_slots,
};

int
tc_fetch_type_init(PyObject *module, tc_state *st)
{
    PyObject *tp;
    llhttp_settings_init(&fetch_settings);
    fetch_settings.on_header_field = fetch_on_header_field;
    fetch_settings.on_header_value = fetch_on_header_value;
    fetch_settings.on_headers_complete = fetch_on_headers_complete;
    (void)st;
    tp = PyType_FromModuleAndSpec(module, &fetch_spec, NULL);
    if (tp == NULL) {
        return -1;
    }
    if (PyModule_AddObjectRef(module, "Fetch", tp) < 0) {
        Py_DECREF(tp);
        return -1;
    }
    Py_DECREF(tp);
    return 0;
}
