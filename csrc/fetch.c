/*
 * fetch.c — Fetch, one SimpleAsyncHTTPClient request done in C.
 *
 * Serves tornado_c.simple_httpclient (its Python subclass _NativeFetch).
 * fetch_begin() takes a request that is plain enough (an http URL to an
 * address literal; no callbacks, body producer, auth, proxy or
 * network_interface; no Connection header of the caller's but
 * "keep-alive"), completes its headers as _HTTPConnection would and
 * serializes the head.  The Fetch then connects a libuv TCP handle of its
 * own (or reuses a parked one, for keep-alive), writes the request and
 * reads the response: the head is collected until Tornado's end-of-head
 * rule is met within max_header_size, checked to be plainly well formed
 * (tc_h1_head_is_plain) and parsed by llhttp; a final status with a
 * Content-Length or chunked body (or none: HEAD, 204, 304) is read to its
 * end — a gzip one inflated with zlib, the headers changed as
 * _GzipMessageDelegate does — and handed to _fetched(code, reason, headers,
 * body, reusable) in one call.  Timeouts are a libuv timer
 * (_failed("while connecting") / _failed("during request")); a failed
 * connect is _failed(errno).
 *
 * Everything else — informational responses, redirects to follow,
 * close-delimited bodies, a gzip body that does not inflate cleanly, odd
 * framing (a chunk-size line or chunk end Tornado would not take
 * included), a head or body over the limit, the connection ending or
 * failing before the response is whole — is handed over
 * (_handover(fd, data, error)): a duplicate of the socket's fd and every
 * byte read so far go to the Python code, which reads the response with
 * SimpleAsyncHTTPClient's own objects exactly as if they had sent the
 * request (with the read error that ended the input, if one did).  The C
 * code never consumes response bytes, so nothing is interpreted twice or
 * lost.
 *
 * Keep-alive: an HTTP/1.1 answer with nothing after it leaves the handle
 * open for the client to park (park(): reading on, so a close or stray
 * input while idle drops it, _forget()) or close; a request sent on a
 * parked connection that closes before any answer is retried (_retry()).
 */
#include "tc.h"

#include <llhttp.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

enum {
    FS_NEW = 0,     /* start() not called yet */
    FS_CONNECT,     /* connecting */
    FS_READ,        /* request written (or being written), reading */
    FS_FAILING,     /* a failure to report from the timer (connect refused
                       synchronously) */
    FS_DONE,        /* answered or handed over; handles closing */
    FS_KEEP,        /* answered; the client decides whether to keep it */
    FS_IDLE,        /* kept open in the client's pool for the next request */
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
    PyObject *coding;           /* gunzip: the Content-Encoding value */
    PyObject *handover_error;   /* handing_over: the read error, if any */
    /* What the Python methods (_NativeFetch) work with, as attributes. */
    PyObject *client, *request, *release_callback, *final_callback, *io_loop;
    PyObject *start_time, *start_wall_time, *start_line, *pool_key;
    int family;
    int open_handles;           /* of tcp and timer, not closed yet */
    char tcp_open;              /* tcp initialised and not closed */
    char timer_open;
    char state;
    char is_head;
    char follow_redirects;
    char decompress;
    char writing;               /* write_req is queued */
    char chunked;               /* the body is chunked (body_len unknown) */
    char keepalive;             /* the request asked for Connection: keep-alive */
    char reused;                /* sent on a pooled connection */
    char retryable;             /* its method may be sent again (RFC 9110 9.2.2) */
    char http11;                /* the response is HTTP/1.1 */
    char gunzip;                /* Content-Encoding: gzip, to inflate */
    char handing_over;          /* a handover waits for the request's write */
    char cstate;                /* where the chunked body is (CS_*) */
    Py_ssize_t pos;             /* chunked: bytes of the buffer checked */
    Py_ssize_t remaining;       /* chunked: data bytes of this chunk to come */
    Py_ssize_t declared;        /* chunked: the chunk sizes so far */
    char reading;
};

typedef struct tc_fetch_s tc_fetch;

/* A chunked body, as Tornado reads it: a size line (strict hex, CRLF within
 * 64 bytes), the data and a CRLF, until a zero size and a final CRLF (no
 * trailer). */
enum { CS_LINE = 0, CS_DATA, CS_CRLF, CS_LAST };

/* The head being parsed: llhttp's callbacks fill fs. */
typedef struct {
    tc_h1_fieldset fs;
    const char *base;
    char done;
} fetch_scan;

static llhttp_settings_t fetch_settings;

static void fetch_send(tc_fetch *f);

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
static void fetch_call(tc_fetch *f, const char *name, PyObject **args, Py_ssize_t nargs);

static void
fetch_end(tc_fetch *f, const char *name, PyObject **args, Py_ssize_t nargs)
{
    f->state = FS_DONE;
    fetch_close_handles(f);
    fetch_call(f, name, args, nargs);
}

/* self.<name>(*args), as fetch_end describes, the handles left as they are. */
static void
fetch_call(tc_fetch *f, const char *name, PyObject **args, Py_ssize_t nargs)
{
    PyObject *r = NULL, *failure = NULL, *pyname;
    Py_ssize_t i;
    for (i = 0; i < nargs; i++) {
        if (args[i] == NULL && failure == NULL) {
            if (!PyErr_Occurred()) {
                PyErr_SetString(PyExc_SystemError, "fetch: an outcome was lost");
            }
            failure = PyErr_GetRaisedException_compat();
        }
    }
    if (args == NULL && PyErr_Occurred()) {
        fetch_report(f, "Exception in tornado_c HTTP client fetch");
        return;
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
        PyObject *call[6] = {(PyObject *)f};
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
 * the read error that ended the input (stolen), if any.  While the request
 * is still being written, that waits for the write (the Python code takes
 * the request as sent); reading stops meanwhile. */
static void
fetch_hand_over(tc_fetch *f, PyObject *error)
{
    uv_os_fd_t fd;
    int copy = -1;
    PyObject *args[3];
    if (f->writing) {
        if (f->reading) {
            uv_read_stop((uv_stream_t *)&f->tcp);
            f->reading = 0;
        }
        f->handing_over = 1;
        Py_XSETREF(f->handover_error, error);
        return;
    }
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

/* A request sent on a kept connection that the server closed before any
 * answer (it may have closed it as the request went out) is sent once more
 * on a new connection when its method allows (Python: _HTTPConnection
 * ._may_retry); 1 when that was done. */
static int
fetch_retry(tc_fetch *f)
{
    if (!f->reused || f->head_len != 0 || !f->retryable) {
        return 0;
    }
    fetch_end(f, "_retry", NULL, 0);
    return 1;
}

/* A write failed: retried as above, else the error is the answer. */
static void
fetch_lost(tc_fetch *f, PyObject *error)
{
    if (fetch_retry(f)) {
        Py_XDECREF(error);
        return;
    }
    fetch_fail(f, error);
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
    Py_ssize_t reason_off, reason_len, cl;
    int ncl, nte, gzip = 0, status, result = 0;
    tc_h1_framing fr;
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
    f->http11 = parser.http_major == 1 && parser.http_minor == 1;
    if (f->follow_redirects && (status == 301 || status == 302 || status == 303 ||
                                status == 307 || status == 308)) {
        goto done; /* a redirect to follow: the Python code */
    }
    tc_h1_scan_framing(base, sc.fs.v, sc.fs.n, &fr);
    ncl = fr.ncl;
    cl = fr.cl;
    nte = fr.nte;
    if (f->decompress) {
        /* As _GzipMessageDelegate: a single value "gzip" (any case) is
         * inflated, others pass through; several (joined with ",") are the
         * Python code's. */
        if (fr.nce > 1) {
            goto done;
        }
        gzip = fr.nce == 1 && fr.ce_len == 4 && strncasecmp(base + fr.ce_off, "gzip", 4) == 0;
    }
    if (status == 304 || f->is_head) {
        if (nte > 0) {
            goto done; /* (framing of a body that is not there: Python's) */
        }
        cl = 0;
    }
    else if (status == 204) {
        if (cl > 0 || cl == -2 || ncl > 1 || nte > 0) {
            goto done;
        }
        cl = 0;
    }
    else if (nte > 0) {
        if (nte > 1 || ncl > 0 || !fr.te_chunked) {
            goto done; /* framing Tornado rejects: its code says so */
        }
        f->chunked = 1;
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
    if (gzip) {
        f->coding = PyUnicode_DecodeLatin1(base + fr.ce_off, fr.ce_len, NULL);
        if (f->coding == NULL) {
            result = -1;
            goto done;
        }
    }
    f->gunzip = (char)gzip;
    f->head_len = head_len;
    f->body_len = cl;
    f->pos = head_len;
    result = 1;
done:
    PyMem_Free(sc.fs.v);
    if (result != 1) {
        Py_CLEAR(f->code);
        Py_CLEAR(f->reason);
        Py_CLEAR(f->headers);
        Py_CLEAR(f->coding);
    }
    return result;
}

/* Checks as much of a chunked body as has been read.  1 when it is
 * complete (f->pos is its end), 0 to wait for more, -1 when it is not
 * one the C code takes (handed over: Tornado's code says what is wrong). */
static int
fetch_scan_chunks(tc_fetch *f)
{
    const char *p = tc_buf_head(&f->in);
    for (;;) {
        Py_ssize_t avail = f->in.len - f->pos;
        if (f->cstate == CS_LINE) {
            Py_ssize_t look = avail < TC_H1_SIZE_LINE_MAX ? avail : TC_H1_SIZE_LINE_MAX;
            Py_ssize_t i = tc_h1_find_crlf(p + f->pos, look), size;
            if (i < 0) {
                return avail > TC_H1_SIZE_LINE_MAX ? -1 : 0;
            }
            size = tc_h1_chunk_size(p + f->pos, i);
            if (size < 0 || size > f->max_body_size - f->declared) {
                return -1;
            }
            f->pos += i + 2;
            if (size == 0) {
                f->cstate = CS_LAST;
                continue;
            }
            f->declared += size;
            f->remaining = size;
            f->cstate = CS_DATA;
        }
        else if (f->cstate == CS_DATA) {
            if (avail < f->remaining) {
                return 0;
            }
            f->pos += f->remaining;
            f->cstate = CS_CRLF;
        }
        else {
            if (avail < 2) {
                return 0;
            }
            if (p[f->pos] != '\r' || p[f->pos + 1] != '\n') {
                return -1;
            }
            f->pos += 2;
            if (f->cstate == CS_LAST) {
                return 1;
            }
            f->cstate = CS_LINE;
        }
    }
}

/* The data of a complete chunked body (checked by fetch_scan_chunks). */
static PyObject *
fetch_chunked_body(tc_fetch *f)
{
    const char *p = tc_buf_head(&f->in);
    PyObject *body = PyBytes_FromStringAndSize(NULL, f->declared);
    Py_ssize_t at = f->head_len, out = 0;
    if (body == NULL) {
        return NULL;
    }
    for (;;) {
        const char *eol = memchr(p + at, '\r', (size_t)(f->pos - at));
        Py_ssize_t size = tc_h1_chunk_size(p + at, eol - (p + at));
        at = eol - p + 2;
        if (size == 0) {
            break;
        }
        memcpy(PyBytes_AS_STRING(body) + out, p + at, (size_t)size);
        out += size;
        at += size + 2;
    }
    return body;
}

/* The gzip body p[0, n) inflated (a new bytes object); NULL without an
 * exception when it is not one that inflates cleanly to its end (the
 * Python code then says what is wrong with it), NULL with one on error.
 * As GzipDecompressor: a gzip header and trailer around a deflate stream;
 * bytes after the stream's end are ignored. */
static PyObject *
fetch_inflate(const char *p, Py_ssize_t n)
{
    z_stream z;
    PyObject *out;
    /* Room for twice the input to start with (at most 16 MiB), doubled
     * as needed. */
    Py_ssize_t cap = n > 8 * 1024 * 1024 ? 16 * 1024 * 1024 : 2 * n + 4096, len = 0;
    int rc;
    if (n == 0) {
        return PyBytes_FromStringAndSize(NULL, 0);
    }
    memset(&z, 0, sizeof z);
    if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK) {
        return PyErr_NoMemory();
    }
    out = PyBytes_FromStringAndSize(NULL, cap);
    if (out == NULL) {
        inflateEnd(&z);
        return NULL;
    }
    z.next_in = (Bytef *)p;
    for (;;) {
        Py_ssize_t before_in = n - (Py_ssize_t)((const char *)z.next_in - p);
        Py_ssize_t take = before_in > (Py_ssize_t)UINT_MAX ? (Py_ssize_t)UINT_MAX : before_in;
        Py_ssize_t room = cap - len;
        z.avail_in = (uInt)take;
        z.next_out = (Bytef *)PyBytes_AS_STRING(out) + len;
        z.avail_out = room > (Py_ssize_t)UINT_MAX ? UINT_MAX : (uInt)room;
        rc = inflate(&z, Z_NO_FLUSH);
        len = (Py_ssize_t)((char *)z.next_out - PyBytes_AS_STRING(out));
        if (rc == Z_STREAM_END) {
            break;
        }
        if (rc != Z_OK && rc != Z_BUF_ERROR) {
            Py_CLEAR(out); /* corrupt: the Python code's to report */
            break;
        }
        if (len == cap) {
            if (cap > PY_SSIZE_T_MAX / 2 || _PyBytes_Resize(&out, cap * 2) < 0) {
                inflateEnd(&z);
                Py_XDECREF(out);
                return PyErr_NoMemory();
            }
            cap *= 2;
        }
        else if ((const char *)z.next_in - p >= n) {
            Py_CLEAR(out); /* cut short: the Python code's to judge */
            break;
        }
    }
    inflateEnd(&z);
    if (out != NULL && _PyBytes_Resize(&out, len) < 0) {
        return NULL;
    }
    return out;
}

/* The response's headers as _GzipMessageDelegate leaves them for an
 * inflated body: X-Consumed-Content-Encoding added, Content-Encoding
 * removed (HTTPHeaders' own methods).  0 / -1. */
static int
fetch_consumed_coding(tc_fetch *f)
{
    PyObject *r = PyObject_CallMethod(f->headers, "add", "sO", "X-Consumed-Content-Encoding",
                                      f->coding);
    if (r == NULL) {
        return -1;
    }
    Py_DECREF(r);
    return PyObject_DelItemString(f->headers, "Content-Encoding");
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
    if (f->chunked) {
        int rc = fetch_scan_chunks(f);
        if (rc < 0) {
            fetch_hand_over(f, NULL);
            return;
        }
        if (rc == 0) {
            return;
        }
    }
    if (f->in.len - f->head_len >= f->body_len) {
        PyObject *args[5];
        Py_ssize_t end = f->chunked ? f->pos : f->head_len + f->body_len;
        /* A keep-alive request's connection may be kept when the answer is
         * HTTP/1.1, nothing follows it and the request is all written (the
         * client checks the rest). */
        int keep = f->keepalive && f->http11 && f->in.len == end && !f->writing;
        args[3] = f->chunked ? fetch_chunked_body(f)
                            : PyBytes_FromStringAndSize(tc_buf_head(&f->in) + f->head_len,
                                                        f->body_len);
        if (f->gunzip && args[3] != NULL) {
            PyObject *plain = fetch_inflate(PyBytes_AS_STRING(args[3]), PyBytes_GET_SIZE(args[3]));
            Py_SETREF(args[3], plain);
            if (plain == NULL && !PyErr_Occurred()) {
                fetch_hand_over(f, NULL);
                return;
            }
            if (plain != NULL && fetch_consumed_coding(f) < 0) {
                Py_CLEAR(args[3]);
            }
        }
        args[0] = f->code;
        args[1] = f->reason;
        args[2] = f->headers;
        args[4] = Py_NewRef(keep ? Py_True : Py_False);
        f->code = f->reason = f->headers = NULL;
        if (!keep) {
            fetch_end(f, "_fetched", args, 5);
            return;
        }
        f->state = FS_KEEP;
        uv_timer_stop(&f->timer);
        Py_INCREF(f);
        fetch_call(f, "_fetched", args, 5);
        if (f->state == FS_KEEP) {
            /* Neither kept (park) nor closed: closed. */
            f->state = FS_DONE;
            fetch_close_handles(f);
        }
        Py_DECREF(f);
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
    if (f->state == FS_IDLE) {
        if (nread != 0) {
            /* A kept connection the server closed (or wrote to): out of
             * the pool. */
            fetch_end(f, "_forget", NULL, 0);
        }
        return;
    }
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
        if (nread == UV_EOF && fetch_retry(f)) {
            return;
        }
        uv_read_stop(s);
        f->reading = 0;
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
    if (f->handing_over && f->state == FS_READ && status != UV_ECANCELED) {
        /* The request is out (or the write failed, which the stream then
         * closes with): the handover goes ahead. */
        PyObject *error = f->handover_error;
        f->handover_error = NULL;
        f->handing_over = 0;
        if (status < 0) {
            Py_XSETREF(error, fetch_uv_error(status));
        }
        fetch_hand_over(f, error);
        return;
    }
    if (status < 0 && status != UV_ECANCELED && f->state == FS_READ) {
        fetch_lost(f, fetch_uv_error(status));
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
    tc_loop_ensure_gil(f->loop);
    if (f->state != FS_CONNECT) {
        return;
    }
    if (status < 0) {
        fetch_fail(f, PyLong_FromLong(-status));
        return;
    }
    (void)uv_tcp_nodelay(&f->tcp, 1);
    fetch_send(f);
}

/* Writes the request (the connection is up) and reads the response. */
static void
fetch_send(tc_fetch *f)
{
    const char *p = PyBytes_AS_STRING(f->payload);
    Py_ssize_t n = PyBytes_GET_SIZE(f->payload);
    int rc;
    f->state = FS_READ;
    fetch_arm(f, f->request_ms);
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
        fetch_lost(f, fetch_uv_error(rc));
        return;
    }
    if (!f->reading) {
        rc = uv_read_start((uv_stream_t *)&f->tcp, fetch_on_alloc, fetch_on_read);
        if (rc < 0) {
            fetch_fail(f, fetch_uv_error(rc));
            return;
        }
        f->reading = 1;
    }
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
    /* Reading starts with the connect (fetch_on_read ignores the connect
     * state; libuv completes a connect before it reads): the socket is
     * then registered with epoll once for both, instead of once for the
     * connect and once more -- a failed ADD, then a MOD -- for the reads
     * fetch_send would start.  (If this fails, fetch_send starts them.) */
    if (uv_read_start((uv_stream_t *)&f->tcp, fetch_on_alloc, fetch_on_read) == 0) {
        f->reading = 1;
    }
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

/* Fills a new fetch's connection settings.  0, or -1 with ValueError for
 * a host that is not a numeric address of the family. */
static int
fetch_configure(tc_fetch *f, tc_loop *loop, int family, const char *host, int port,
                PyObject *payload, double connect_timeout, double request_timeout,
                Py_ssize_t max_header, Py_ssize_t max_body, int is_head, int follow,
                int decompress)
{
    int rc;
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
        PyErr_Format(PyExc_ValueError, "not a numeric address of family %d: %s", family, host);
        return -1;
    }
    f->loop = (tc_loop *)Py_NewRef((PyObject *)loop);
    f->payload = Py_NewRef(payload);
    f->family = family;
    f->connect_ms = fetch_ms(connect_timeout);
    f->request_ms = fetch_ms(request_timeout);
    f->max_header_size = max_header;
    f->max_body_size = max_body;
    f->is_head = (char)is_head;
    f->follow_redirects = (char)follow;
    f->decompress = (char)decompress;
    return 0;
}

/* Refuses before httputil's setup (the headers type and its error). */
static int
fetch_ready(tc_state *st)
{
    if (st->http_headers == NULL || st->http_input_error == NULL ||
        st->request_start_line == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "Fetch needs tornado_c.httputil imported first");
        return 0;
    }
    return 1;
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
    int family, port, is_head, follow, decompress;
    double connect_timeout, request_timeout;
    Py_ssize_t max_header, max_body;
    tc_fetch *f;

    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OisiSddnnppp:Fetch", kwlist, &loop, &family,
                                     &host, &port, &payload, &connect_timeout,
                                     &request_timeout, &max_header, &max_body, &is_head,
                                     &follow, &decompress)) {
        return NULL;
    }
    if (!fetch_ready(st)) {
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
    if (fetch_configure(f, (tc_loop *)loop, family, host, port, payload, connect_timeout,
                        request_timeout, max_header, max_body, is_head, follow,
                        decompress) < 0) {
        Py_DECREF(f);
        return NULL;
    }
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
    Py_VISIT(f->coding);
    Py_VISIT(f->handover_error);
    Py_VISIT(f->client);
    Py_VISIT(f->request);
    Py_VISIT(f->release_callback);
    Py_VISIT(f->final_callback);
    Py_VISIT(f->io_loop);
    Py_VISIT(f->start_time);
    Py_VISIT(f->start_wall_time);
    Py_VISIT(f->start_line);
    Py_VISIT(f->pool_key);
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
    Py_CLEAR(f->coding);
    Py_CLEAR(f->handover_error);
    Py_CLEAR(f->client);
    Py_CLEAR(f->request);
    Py_CLEAR(f->release_callback);
    Py_CLEAR(f->final_callback);
    Py_CLEAR(f->io_loop);
    Py_CLEAR(f->start_time);
    Py_CLEAR(f->start_wall_time);
    Py_CLEAR(f->start_line);
    Py_CLEAR(f->pool_key);
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
    static const char *const names[] = {"new", "connecting", "reading", "failing", "done",
                                        "keep", "idle"};
    return PyUnicode_FromString(names[(int)f->state]);
}


/* ------------------------------------------------- starting from Python */

/* fetch_setup()'s tuple. */
enum {
    FX_PROXY = 0,    /* httpclient._RequestProxy */
    FX_CONNECTION,   /* simple_httpclient._HTTPConnection (_SUPPORTED_METHODS) */
    FX_USER_AGENT,   /* "Tornado/<version>" */
    FX_TIME,         /* simple_httpclient's ``time`` module */
    FX_COUNT,
};

enum {
    FE_url = 0, FE_method, FE_body, FE_headers, FE_allow_nonstandard_methods,
    FE_body_producer, FE_streaming_callback, FE_header_callback, FE_expect_100_continue,
    FE_auth_username, FE_network_interface, FE_proxy_host, FE_proxy_port,
    FE_proxy_username, FE_proxy_password, FE_proxy_auth_mode, FE_allow_ipv6,
    FE_user_agent, FE_decompress_response, FE_connect_timeout, FE_request_timeout,
    FE_follow_redirects, FE_max_redirects, FE_io_loop, FE_asyncio_loop, FE_time,
    FE_max_header_size, FE_max_body_size, FE_max_buffer_size, FE__dict, FE__as_list,
    FE_request, FE_defaults, FE_get, FE__SUPPORTED_METHODS,
    /* header names and values fetch_begin writes */
    FE_H_Connection, FE_H_Host, FE_H_User_Agent, FE_H_Content_Length, FE_H_Content_Type,
    FE_H_Accept_Encoding, FE_V_close, FE_V_gzip, FE_V_form, FE_COUNT
};

static const char *const fe_texts[FE_COUNT] = {
    "url", "method", "body", "headers", "allow_nonstandard_methods",
    "body_producer", "streaming_callback", "header_callback", "expect_100_continue",
    "auth_username", "network_interface", "proxy_host", "proxy_port",
    "proxy_username", "proxy_password", "proxy_auth_mode", "allow_ipv6",
    "user_agent", "decompress_response", "connect_timeout", "request_timeout",
    "follow_redirects", "max_redirects", "io_loop", "asyncio_loop", "time",
    "max_header_size", "max_body_size", "max_buffer_size", "_dict", "_as_list",
    "request", "defaults", "get", "_SUPPORTED_METHODS",
    "Connection", "Host", "User-Agent", "Content-Length", "Content-Type",
    "Accept-Encoding", "close", "gzip", "application/x-www-form-urlencoded",
};

#define FE(st, i) ((st)->fe_names[i])
#define FX(st, i) (PyTuple_GET_ITEM((st)->fetch_env, (i)))

/* A request option as _RequestProxy gives it: the request's attribute, or
 * the default where that is None.  New reference or NULL. */
static PyObject *
fetch_option(tc_state *st, PyObject *request, PyObject *defaults, int name)
{
    PyObject *v = PyObject_GetAttr(request, FE(st, name));
    if (v == Py_None && defaults != NULL && PyDict_CheckExact(defaults)) {
        PyObject *d = PyDict_GetItemWithError(defaults, FE(st, name));
        if (d != NULL) {
            Py_SETREF(v, Py_NewRef(d));
        }
        else if (PyErr_Occurred()) {
            Py_CLEAR(v);
        }
    }
    else if (v == Py_None && defaults != NULL && defaults != Py_None) {
        Py_SETREF(v, PyObject_CallMethodObjArgs(defaults, FE(st, FE_get), FE(st, name),
                                                Py_None, NULL));
    }
    return v;
}

/* The parts of a URL the C path takes: "http://" then an IPv4 address in
 * dotted form or a bracketed IPv6 one, an optional port, and a path, query
 * and fragment of printable ASCII only.  0 when it is not one. */
typedef struct {
    Py_ssize_t host_off, host_len, netloc_len, rest_off;
    int port, ipv6;
} fetch_url;

static int
fetch_parse_url(const char *u, Py_ssize_t n, fetch_url *out)
{
    Py_ssize_t i = 7, j;
    if (n < 8 || memcmp(u, "http://", 7) != 0) {
        return 0;
    }
    out->ipv6 = u[i] == '[';
    if (out->ipv6) {
        for (j = i + 1; j < n && u[j] != ']'; j++) {
            char c = u[j];
            if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') ||
                  c == ':' || c == '.')) {
                return 0;
            }
        }
        if (j >= n || j == i + 1) {
            return 0;
        }
        out->host_off = i + 1;
        out->host_len = j - i - 1;
        i = j + 1;
    }
    else {
        int groups = 0, digits = 0;
        for (j = i; j < n; j++) {
            char c = u[j];
            if (c >= '0' && c <= '9') {
                if (++digits > 3) {
                    return 0;
                }
            }
            else if (c == '.' && digits > 0 && groups < 3) {
                groups++;
                digits = 0;
            }
            else {
                break;
            }
        }
        if (groups != 3 || digits == 0) {
            return 0;
        }
        out->host_off = i;
        out->host_len = j - i;
        i = j;
    }
    out->port = 80;
    if (i < n && u[i] == ':') {
        int digits = 0, port = 0;
        for (i++; i < n && u[i] >= '0' && u[i] <= '9'; i++) {
            if (++digits > 5) {
                return 0;
            }
            port = port * 10 + (u[i] - '0');
        }
        if (digits == 0 || port < 1 || port > 65535) {
            return 0;
        }
        out->port = port;
    }
    out->netloc_len = i - 7;
    out->rest_off = i;
    if (i < n && u[i] != '/' && u[i] != '?' && u[i] != '#') {
        return 0;
    }
    for (; i < n; i++) {
        if (u[i] < '!' || u[i] > '~') {
            return 0;
        }
    }
    return 1;
}

/* fields[key] = value, lists[key] = [value], as HTTPHeaders.__setitem__
 * (the caller has checked that it is the original).  0 / -1. */
static int
fetch_put(PyObject *fields, PyObject *lists, PyObject *key, PyObject *value)
{
    PyObject *list = PyList_New(1);
    int rc;
    if (list == NULL) {
        return -1;
    }
    PyList_SET_ITEM(list, 0, Py_NewRef(value));
    rc = PyDict_SetItem(fields, key, value) < 0 || PyDict_SetItem(lists, key, list) < 0 ? -1 : 0;
    Py_DECREF(list);
    return rc;
}

/* A timeout option as a number of seconds; 0 for None or 0. */
static int
fetch_seconds(PyObject *v, double *out)
{
    if (v == Py_None) {
        *out = 0;
        return 0;
    }
    *out = PyFloat_AsDouble(v);
    return *out == -1.0 && PyErr_Occurred() ? -1 : 0;
}

/* A kept connection of the client's pool for key (client._native_idle:
 * key -> list of parked fetches, the last parked first), or NULL (an
 * exception set on error). */
static tc_fetch *
fetch_take_idle(tc_state *st, PyObject *client, PyObject *key, tc_loop *loop)
{
    PyObject *pool = PyObject_GetAttrString(client, "_native_idle"), *list;
    tc_fetch *found = NULL;
    if (pool == NULL || !PyDict_CheckExact(pool)) {
        Py_XDECREF(pool);
        PyErr_Clear();
        return NULL;
    }
    list = PyDict_GetItemWithError(pool, key);
    Py_XINCREF(list);
    while (list != NULL && PyList_CheckExact(list) && PyList_GET_SIZE(list) > 0) {
        Py_ssize_t last = PyList_GET_SIZE(list) - 1;
        PyObject *cand = Py_NewRef(PyList_GET_ITEM(list, last));
        if (PyList_SetSlice(list, last, last + 1, NULL) < 0) {
            Py_DECREF(cand);
            break;
        }
        if (PyObject_TypeCheck(cand, st->FetchType) && ((tc_fetch *)cand)->state == FS_IDLE &&
            ((tc_fetch *)cand)->loop == loop) {
            found = (tc_fetch *)cand;
            break;
        }
        Py_DECREF(cand);
    }
    if (list != NULL && PyList_CheckExact(list) && PyList_GET_SIZE(list) == 0 &&
        PyDict_DelItem(pool, key) < 0) {
        PyErr_Clear();
    }
    Py_XDECREF(list);
    Py_DECREF(pool);
    return found;
}

PyDoc_STRVAR(fetch_begin_doc,
"fetch_begin(cls, client, request, release_callback, final_callback, no_pool=False)\n--\n\n"
"Start request (a _RequestProxy) on the C fetch path as an instance of cls\n"
"(a Fetch subclass) when it applies: returns the fetch then, False (having\n"
"done nothing) when it does not.  A keep-alive request takes a parked\n"
"connection of client._native_idle unless no_pool.  The caller has checked that the functions the\n"
"path stands in for are the originals (simple_httpclient._native_fetch).");

static PyObject *
fetch_begin(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    tc_state *st = PyModule_GetState(module);
    PyObject *cls, *client, *proxy, *release, *final;
    PyObject *pdict, *request, *defaults, *v = NULL, *url = NULL, *method = NULL;
    PyObject *body = NULL, *headers = NULL, *fields = NULL, *lists = NULL;
    PyObject *io_loop = NULL, *loop = NULL, *start_time = NULL, *wall = NULL;
    PyObject *target = NULL, *netloc = NULL, *host = NULL, *start_line = NULL;
    PyObject *head = NULL, *payload = NULL, *result = Py_False, *decompress = NULL;
    PyObject *empty = NULL, *pool_key = NULL;
    tc_fetch *f = NULL;
    const char *u;
    Py_ssize_t n, max_header = 65536, max_body, max_buffer;
    fetch_url parsed;
    double connect_timeout, request_timeout;
    int is_post_like, rc, truth, follow, inflate, i, no_pool, keepalive = 0;
    static const int must_be_none[] = {FE_body_producer, FE_streaming_callback,
                                       FE_header_callback, FE_auth_username};
    static const int must_be_false[] = {FE_allow_nonstandard_methods, FE_expect_100_continue,
                                        FE_network_interface, FE_proxy_host, FE_proxy_port,
                                        FE_proxy_username, FE_proxy_password,
                                        FE_proxy_auth_mode};

    if (nargs != 5 && nargs != 6) {
        PyErr_SetString(PyExc_TypeError, "fetch_begin takes 5 or 6 arguments");
        return NULL;
    }
    no_pool = nargs == 6 && PyObject_IsTrue(args[5]) == 1;
    cls = args[0];
    client = args[1];
    proxy = args[2];
    release = args[3];
    final = args[4];
    if (st->fetch_env == NULL || !fetch_ready(st)) {
        Py_RETURN_FALSE;
    }
    if (!PyType_Check(cls) || !PyType_IsSubtype((PyTypeObject *)cls, st->FetchType)) {
        PyErr_SetString(PyExc_TypeError, "fetch_begin: cls must be a Fetch subclass");
        return NULL;
    }
    if ((PyObject *)Py_TYPE(proxy) != FX(st, FX_PROXY)) {
        Py_RETURN_FALSE;
    }
    pdict = PyObject_GenericGetDict(proxy, NULL);
    if (pdict == NULL) {
        return NULL;
    }
    request = PyDict_GetItemWithError(pdict, FE(st, FE_request));
    defaults = request == NULL ? NULL : PyDict_GetItemWithError(pdict, FE(st, FE_defaults));
    Py_XINCREF(request);
    Py_XINCREF(defaults);
    Py_DECREF(pdict);
    if (request == NULL) {
        Py_XDECREF(defaults);
        if (PyErr_Occurred()) {
            return NULL;
        }
        Py_RETURN_FALSE;
    }
#define OPT(var, name)                                                   \
    do {                                                                 \
        (var) = fetch_option(st, request, defaults, (name));             \
        if ((var) == NULL) {                                             \
            result = NULL;                                               \
            goto done;                                                   \
        }                                                                \
    } while (0)
    OPT(url, FE_url);
    if (!PyUnicode_Check(url) || !PyUnicode_IS_ASCII(url)) {
        goto done;
    }
    u = (const char *)PyUnicode_DATA(url);
    n = PyUnicode_GET_LENGTH(url);
    if (!fetch_parse_url(u, n, &parsed)) {
        goto done;
    }
    OPT(method, FE_method);
    v = PyObject_GetAttr(FX(st, FX_CONNECTION), FE(st, FE__SUPPORTED_METHODS));
    if (v == NULL) {
        result = NULL;
        goto done;
    }
    rc = PySequence_Contains(v, method);
    Py_CLEAR(v);
    if (rc <= 0) {
        result = rc < 0 ? NULL : Py_False;
        goto done;
    }
    is_post_like = PyUnicode_Check(method) &&
                   (PyUnicode_CompareWithASCIIString(method, "POST") == 0 ||
                    PyUnicode_CompareWithASCIIString(method, "PATCH") == 0 ||
                    PyUnicode_CompareWithASCIIString(method, "PUT") == 0);
    OPT(body, FE_body);
    if ((body != Py_None) != is_post_like || (body != Py_None && !PyBytes_CheckExact(body))) {
        goto done;
    }
    for (i = 0; i < (int)(sizeof must_be_none / sizeof must_be_none[0]); i++) {
        OPT(v, must_be_none[i]);
        truth = v != Py_None;
        Py_CLEAR(v);
        if (truth) {
            goto done;
        }
    }
    for (i = 0; i < (int)(sizeof must_be_false / sizeof must_be_false[0]); i++) {
        OPT(v, must_be_false[i]);
        truth = PyObject_IsTrue(v);
        Py_CLEAR(v);
        if (truth != 0) {
            result = truth < 0 ? NULL : Py_False;
            goto done;
        }
    }
    OPT(headers, FE_headers);
    if ((PyObject *)Py_TYPE(headers) != (PyObject *)st->http_headers) {
        goto done;
    }
    if (parsed.ipv6) {
        OPT(v, FE_allow_ipv6);
        truth = v == Py_False;
        Py_CLEAR(v);
        if (truth) {
            goto done;
        }
    }
    io_loop = PyObject_GetAttr(client, FE(st, FE_io_loop));
    loop = io_loop == NULL ? NULL : PyObject_GetAttr(io_loop, FE(st, FE_asyncio_loop));
    if (loop == NULL) {
        result = NULL;
        goto done;
    }
    if (!PyObject_TypeCheck(loop, st->LoopType) || ((tc_loop *)loop)->closed ||
        !((tc_loop *)loop)->uv_open) {
        goto done;
    }
    fields = PyObject_GetAttr(headers, FE(st, FE__dict));
    lists = fields == NULL ? NULL : PyObject_GetAttr(headers, FE(st, FE__as_list));
    if (lists == NULL) {
        result = NULL;
        goto done;
    }
    if (!PyDict_CheckExact(fields) || !PyDict_CheckExact(lists)) {
        goto done;
    }
    {
        /* A Connection header of the caller's: only "keep-alive" (the
         * client's pool, beyond Tornado) is for this path. */
        PyObject *c = PyDict_GetItemWithError(fields, FE(st, FE_H_Connection));
        if (c == NULL && PyErr_Occurred()) {
            result = NULL;
            goto done;
        }
        if (c != NULL) {
            if (!PyUnicode_Check(c) || !PyUnicode_IS_ASCII(c) || PyUnicode_GET_LENGTH(c) != 10 ||
                strncasecmp((const char *)PyUnicode_DATA(c), "keep-alive", 10) != 0) {
                goto done;
            }
            keepalive = 1;
        }
    }
    rc = body == Py_None ? PyDict_Contains(fields, FE(st, FE_H_Content_Length)) : 0;
    if (rc != 0) {
        result = rc < 0 ? NULL : Py_False;
        goto done;
    }
    /* Applies: from here on, what _HTTPConnection would do. */
    netloc = PyUnicode_FromStringAndSize(u + 7, parsed.netloc_len);
    host = PyUnicode_FromStringAndSize(u + parsed.host_off, parsed.host_len);
    if (netloc == NULL || host == NULL) {
        result = NULL;
        goto done;
    }
    {
        /* The target: path (or "/") and "?query" when there is one; the
         * fragment is dropped. */
        Py_ssize_t p = parsed.rest_off, end = n, q, pathlen;
        const char *hash = memchr(u + p, '#', (size_t)(n - p));
        const char *mark;
        if (hash != NULL) {
            end = hash - u;
        }
        mark = memchr(u + p, '?', (size_t)(end - p));
        q = mark != NULL ? mark - u : end;
        pathlen = q - p;
        if (mark != NULL && end - q > 1) {
            if (pathlen > 0) {
                target = PyUnicode_FromStringAndSize(u + p, end - p);
            }
            else {
                /* "/" then "?query" */
                target = PyUnicode_New(end - q + 1, 127);
                if (target != NULL) {
                    Py_UCS1 *t = PyUnicode_1BYTE_DATA(target);
                    t[0] = '/';
                    memcpy(t + 1, u + q, (size_t)(end - q));
                }
            }
        }
        else {
            target = pathlen > 0 ? PyUnicode_FromStringAndSize(u + p, pathlen)
                                 : PyUnicode_FromString("/");
        }
        if (target == NULL) {
            result = NULL;
            goto done;
        }
    }
    start_time = PyObject_CallMethodNoArgs(io_loop, FE(st, FE_time));
    wall = start_time == NULL ? NULL : tc_time_time(st, FX(st, FX_TIME));
    if (wall == NULL) {
        result = NULL;
        goto done;
    }
    /* _complete_headers, for such a request, in the same order. */
    if (!keepalive && fetch_put(fields, lists, FE(st, FE_H_Connection), FE(st, FE_V_close)) < 0) {
        result = NULL;
        goto done;
    }
    rc = PyDict_Contains(fields, FE(st, FE_H_Host));
    if (rc < 0 || (rc == 0 && fetch_put(fields, lists, FE(st, FE_H_Host), netloc) < 0)) {
        result = NULL;
        goto done;
    }
    OPT(v, FE_user_agent);
    truth = PyObject_IsTrue(v);
    if (truth < 0) {
        result = NULL;
        goto done;
    }
    if (truth) {
        rc = fetch_put(fields, lists, FE(st, FE_H_User_Agent), v);
    }
    else {
        PyObject *have = PyDict_GetItemWithError(fields, FE(st, FE_H_User_Agent));
        rc = have == NULL && PyErr_Occurred() ? -1 : 0;
        if (rc == 0 && (have == NULL || have == Py_None)) {
            rc = fetch_put(fields, lists, FE(st, FE_H_User_Agent), FX(st, FX_USER_AGENT));
        }
    }
    Py_CLEAR(v);
    if (rc < 0) {
        result = NULL;
        goto done;
    }
    if (body != Py_None) {
        v = PyUnicode_FromFormat("%zd", PyBytes_GET_SIZE(body));
        if (v == NULL || fetch_put(fields, lists, FE(st, FE_H_Content_Length), v) < 0) {
            result = NULL;
            goto done;
        }
        Py_CLEAR(v);
        if (PyUnicode_CompareWithASCIIString(method, "POST") == 0) {
            rc = PyDict_Contains(fields, FE(st, FE_H_Content_Type));
            if (rc < 0 || (rc == 0 && fetch_put(fields, lists, FE(st, FE_H_Content_Type),
                                                FE(st, FE_V_form)) < 0)) {
                result = NULL;
                goto done;
            }
        }
    }
    OPT(decompress, FE_decompress_response);
    inflate = PyObject_IsTrue(decompress);
    if (inflate < 0 || (inflate && fetch_put(fields, lists, FE(st, FE_H_Accept_Encoding), FE(st, FE_V_gzip)) < 0)) {
        result = NULL;
        goto done;
    }
    empty = PyUnicode_New(0, 0);
    start_line = empty == NULL ? NULL
                               : tc_h1_start_line(st->request_start_line, method, target, empty);
    if (start_line == NULL) {
        result = NULL;
        goto done;
    }
    head = tc_h1_request_head(st, start_line, headers);
    if (head == NULL) {
        if (PyErr_ExceptionMatches(PyExc_ValueError)) {
            PyErr_Clear(); /* the usual path raises it, at the usual point */
            goto done;
        }
        result = NULL;
        goto done;
    }
    if (PyTuple_GET_ITEM(head, 1) == Py_True) {
        goto done; /* a chunked body: not for this path */
    }
    if (body == Py_None) {
        payload = Py_NewRef(PyTuple_GET_ITEM(head, 0));
    }
    else {
        payload = PyBytes_FromStringAndSize(NULL, PyBytes_GET_SIZE(PyTuple_GET_ITEM(head, 0)) +
                                                      PyBytes_GET_SIZE(body));
        if (payload == NULL) {
            result = NULL;
            goto done;
        }
        memcpy(PyBytes_AS_STRING(payload), PyBytes_AS_STRING(PyTuple_GET_ITEM(head, 0)),
               (size_t)PyBytes_GET_SIZE(PyTuple_GET_ITEM(head, 0)));
        memcpy(PyBytes_AS_STRING(payload) + PyBytes_GET_SIZE(PyTuple_GET_ITEM(head, 0)),
               PyBytes_AS_STRING(body), (size_t)PyBytes_GET_SIZE(body));
    }
    /* Timeouts: the connect limit is the shorter of the two set. */
    {
        PyObject *ct = NULL, *rt = NULL;
        OPT(ct, FE_connect_timeout);
        rc = fetch_seconds(ct, &connect_timeout);
        Py_DECREF(ct);
        if (rc < 0) {
            result = NULL;
            goto done;
        }
        OPT(rt, FE_request_timeout);
        rc = fetch_seconds(rt, &request_timeout);
        Py_DECREF(rt);
        if (rc < 0) {
            result = NULL;
            goto done;
        }
        if (connect_timeout == 0 || (request_timeout != 0 && request_timeout < connect_timeout)) {
            connect_timeout = request_timeout;
        }
    }
    /* Limits: max_header_size (65536 when unset), and the body limit the
     * lower of max_body_size (max_buffer_size when unset) and
     * max_buffer_size. */
    v = PyObject_GetAttr(client, FE(st, FE_max_header_size));
    if (v == NULL) {
        result = NULL;
        goto done;
    }
    truth = PyObject_IsTrue(v);
    if (truth > 0) {
        max_header = PyLong_AsSsize_t(v);
    }
    Py_CLEAR(v);
    if (truth < 0 || (max_header == -1 && PyErr_Occurred())) {
        result = NULL;
        goto done;
    }
    v = PyObject_GetAttr(client, FE(st, FE_max_buffer_size));
    max_buffer = v == NULL ? -1 : PyLong_AsSsize_t(v);
    Py_CLEAR(v);
    if (max_buffer == -1 && PyErr_Occurred()) {
        result = NULL;
        goto done;
    }
    v = PyObject_GetAttr(client, FE(st, FE_max_body_size));
    if (v == NULL) {
        result = NULL;
        goto done;
    }
    max_body = v == Py_None ? max_buffer : PyLong_AsSsize_t(v);
    Py_CLEAR(v);
    if (max_body == -1 && PyErr_Occurred()) {
        result = NULL;
        goto done;
    }
    if (max_body > max_buffer) {
        max_body = max_buffer;
    }
    if (max_header < 0 || max_body < 0) {
        goto done;
    }
    OPT(v, FE_follow_redirects);
    follow = PyObject_IsTrue(v);
    Py_CLEAR(v);
    if (follow > 0) {
        long redirects;
        OPT(v, FE_max_redirects);
        redirects = v == Py_None ? 0 : PyLong_AsLong(v);
        Py_CLEAR(v);
        if (redirects == -1 && PyErr_Occurred()) {
            result = NULL;
            goto done;
        }
        follow = redirects > 0;
    }
    if (follow < 0) {
        result = NULL;
        goto done;
    }
    if (keepalive) {
        pool_key = Py_BuildValue("(Oii)", host, parsed.port, parsed.ipv6 ? AF_INET6 : AF_INET);
        if (pool_key == NULL) {
            result = NULL;
            goto done;
        }
        if (!no_pool) {
            f = fetch_take_idle(st, client, pool_key, (tc_loop *)loop);
            if (f == NULL && PyErr_Occurred()) {
                result = NULL;
                goto done;
            }
        }
    }
    if (f != NULL) {
        /* A kept connection: the new request's settings. */
        Py_XSETREF(f->payload, Py_NewRef(payload));
        f->connect_ms = fetch_ms(connect_timeout);
        f->request_ms = fetch_ms(request_timeout);
        f->max_header_size = max_header;
        f->max_body_size = max_body;
        f->is_head = PyUnicode_CompareWithASCIIString(method, "HEAD") == 0;
        f->follow_redirects = (char)follow;
        f->decompress = (char)inflate;
        f->reused = 1;
    }
    else {
        f = (tc_fetch *)((PyTypeObject *)cls)->tp_alloc((PyTypeObject *)cls, 0);
        if (f == NULL) {
            result = NULL;
            goto done;
        }
        if (fetch_configure(f, (tc_loop *)loop, parsed.ipv6 ? AF_INET6 : AF_INET,
                            PyUnicode_AsUTF8(host), parsed.port, payload, connect_timeout,
                            request_timeout, max_header, max_body,
                            PyUnicode_CompareWithASCIIString(method, "HEAD") == 0, follow,
                            inflate) < 0) {
            if (PyErr_ExceptionMatches(PyExc_ValueError)) {
                PyErr_Clear(); /* not an address inet_pton reads */
                goto done;
            }
            result = NULL;
            goto done;
        }
        f->keepalive = (char)keepalive;
        f->pool_key = Py_XNewRef(pool_key);
    }
    f->retryable = PyUnicode_CompareWithASCIIString(method, "GET") == 0 ||
                   PyUnicode_CompareWithASCIIString(method, "HEAD") == 0 ||
                   PyUnicode_CompareWithASCIIString(method, "OPTIONS") == 0 ||
                   PyUnicode_CompareWithASCIIString(method, "PUT") == 0 ||
                   PyUnicode_CompareWithASCIIString(method, "DELETE") == 0;
    Py_XSETREF(f->client, Py_NewRef(client));
    Py_XSETREF(f->request, Py_NewRef(proxy));
    Py_XSETREF(f->release_callback, Py_NewRef(release));
    Py_XSETREF(f->final_callback, Py_NewRef(final));
    Py_XSETREF(f->io_loop, Py_NewRef(io_loop));
    Py_XSETREF(f->start_time, Py_NewRef(start_time));
    Py_XSETREF(f->start_wall_time, Py_NewRef(wall));
    Py_XSETREF(f->start_line, Py_NewRef(start_line));
    if (f->reused) {
        f->started = uv_now(&f->loop->uvloop);
        fetch_send(f);
    }
    else {
        v = fetch_start(f, NULL);
        if (v == NULL) {
            result = NULL;
            goto done;
        }
        Py_CLEAR(v);
    }
    result = (PyObject *)f;
#undef OPT
done:
    Py_XINCREF(result);
    Py_XDECREF((PyObject *)f);
    Py_XDECREF(v);
    Py_DECREF(request);
    Py_XDECREF(defaults);
    Py_XDECREF(url);
    Py_XDECREF(method);
    Py_XDECREF(body);
    Py_XDECREF(headers);
    Py_XDECREF(fields);
    Py_XDECREF(lists);
    Py_XDECREF(io_loop);
    Py_XDECREF(loop);
    Py_XDECREF(start_time);
    Py_XDECREF(wall);
    Py_XDECREF(target);
    Py_XDECREF(netloc);
    Py_XDECREF(host);
    Py_XDECREF(start_line);
    Py_XDECREF(head);
    Py_XDECREF(payload);
    Py_XDECREF(decompress);
    Py_XDECREF(empty);
    Py_XDECREF(pool_key);
    return result;
}

PyDoc_STRVAR(fetch_setup_doc,
"fetch_setup(request_proxy_class, connection_class, user_agent, time_module)\n--\n\n"
"What fetch_begin needs from tornado_c.httpclient and simple_httpclient\n"
"(called once, when simple_httpclient is imported).");

static PyObject *
fetch_setup(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    tc_state *st = PyModule_GetState(module);
    PyObject *env;
    if (nargs != FX_COUNT || !PyType_Check(args[FX_PROXY]) ||
        !PyUnicode_Check(args[FX_USER_AGENT])) {
        PyErr_SetString(PyExc_TypeError,
                        "fetch_setup(request_proxy_class, connection_class, user_agent, "
                        "time_module)");
        return NULL;
    }
    env = PyTuple_New(nargs);
    if (env == NULL) {
        return NULL;
    }
    for (Py_ssize_t i = 0; i < nargs; i++) {
        PyTuple_SET_ITEM(env, i, Py_NewRef(args[i]));
    }
    Py_XSETREF(st->fetch_env, env);
    Py_RETURN_NONE;
}

static PyMethodDef fetch_module_functions[] = {
    {"fetch_begin", (PyCFunction)(void (*)(void))fetch_begin, METH_FASTCALL, fetch_begin_doc},
    {"fetch_setup", (PyCFunction)(void (*)(void))fetch_setup, METH_FASTCALL, fetch_setup_doc},
    {NULL, NULL, 0, NULL},
};

int
tc_fetch_traverse(tc_state *st, visitproc visit, void *arg)
{
    Py_VISIT(st->FetchType);
    Py_VISIT(st->fetch_env);
    return 0;
}

void
tc_fetch_clear(tc_state *st)
{
    Py_CLEAR(st->FetchType);
    Py_CLEAR(st->fetch_env);
    tc_clear_names(st->fe_names, TC_FE_NAMES);
}

PyDoc_STRVAR(fetch_park_doc,
"park($self)\n--\n\n"
"Keep the connection of an answered keep-alive request open for the next\n"
"one (the caller puts it in the client's pool); a close or any input while\n"
"idle closes it and calls _forget().");

static PyObject *
fetch_park(tc_fetch *f, PyObject *Py_UNUSED(ignored))
{
    if (f->state != FS_KEEP) {
        PyErr_SetString(PyExc_RuntimeError, "park() needs an answered keep-alive fetch");
        return NULL;
    }
    tc_buf_drop(&f->in, f->in.len);
    f->scanned = f->head_len = f->body_len = 0;
    f->pos = f->remaining = f->declared = 0;
    f->chunked = f->cstate = f->http11 = f->gunzip = 0;
    Py_CLEAR(f->coding);
    Py_CLEAR(f->code);
    Py_CLEAR(f->reason);
    Py_CLEAR(f->headers);
    Py_CLEAR(f->request);
    Py_CLEAR(f->release_callback);
    Py_CLEAR(f->final_callback);
    Py_CLEAR(f->start_line);
    f->state = FS_IDLE;
    Py_RETURN_NONE;
}

PyDoc_STRVAR(fetch_close_doc,
"close($self)\n--\n\n"
"Close the connection (nothing is called back).");

static PyObject *
fetch_close(tc_fetch *f, PyObject *Py_UNUSED(ignored))
{
    if (f->state != FS_NEW) {
        f->state = FS_DONE;
        fetch_close_handles(f);
    }
    Py_RETURN_NONE;
}

static PyMethodDef fetch_methods[] = {
    {"start", (PyCFunction)fetch_start, METH_NOARGS, fetch_start_doc},
    {"park", (PyCFunction)fetch_park, METH_NOARGS, fetch_park_doc},
    {"close", (PyCFunction)fetch_close, METH_NOARGS, fetch_close_doc},
    {NULL, NULL, 0, NULL},
};

static PyMemberDef fetch_members[] = {
    {"client", T_OBJECT_EX, offsetof(tc_fetch, client), 0, NULL},
    {"request", T_OBJECT_EX, offsetof(tc_fetch, request), 0, NULL},
    {"release_callback", T_OBJECT_EX, offsetof(tc_fetch, release_callback), 0, NULL},
    {"final_callback", T_OBJECT_EX, offsetof(tc_fetch, final_callback), 0, NULL},
    {"io_loop", T_OBJECT_EX, offsetof(tc_fetch, io_loop), 0, NULL},
    {"start_time", T_OBJECT_EX, offsetof(tc_fetch, start_time), 0, NULL},
    {"start_wall_time", T_OBJECT_EX, offsetof(tc_fetch, start_wall_time), 0, NULL},
    {"start_line", T_OBJECT_EX, offsetof(tc_fetch, start_line), 0, NULL},
    {"pool_key", T_OBJECT, offsetof(tc_fetch, pool_key), READONLY, NULL},
    {NULL, 0, 0, 0, NULL},
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
    {Py_tp_members, fetch_members},
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
    if (tc_intern_names(st->fe_names, fe_texts, FE_COUNT) < 0) {
        return -1;
    }
    tp = PyType_FromModuleAndSpec(module, &fetch_spec, NULL);
    if (tp == NULL) {
        return -1;
    }
    st->FetchType = (PyTypeObject *)tp;
    if (PyModule_AddObjectRef(module, "Fetch", tp) < 0) {
        return -1;
    }
    return PyModule_AddFunctions(module, fetch_module_functions);
}
