/*
 * http1client.c — HTTP1Client, the native client side of
 * tornado_c.http1connection.
 *
 * Serves tornado_c.simple_httpclient (through _NativeHTTP1ClientConnection,
 * its Python subclass in http1connection.py).  While a response is read the
 * object is the Stream's C protocol: the head is collected in the stream's
 * buffer until Tornado's end-of-head rule (\r?\n\r?\n within
 * max_header_size) is met, then parsed by llhttp in HTTP_RESPONSE mode and
 * handed to the delegate as a ResponseStartLine and an HTTPHeaders built in
 * C; the body (Content-Length or chunked) goes through llhttp as well and
 * reaches data_received in chunk_size pieces.  The request head is
 * serialized in C too (h1_request_head), with the helpers the server shares.
 *
 * Only heads that are plainly well formed take this path.  Anything else —
 * informational (1xx) responses, bodies delimited by the connection close,
 * framing headers Tornado would reject, bare LFs, folded lines, control
 * characters, start lines Tornado's grammar reads differently — is left
 * untouched in the stream's buffer and read by the Python HTTP1Connection
 * code (_fallback_read), so that every message gets exactly Tornado's
 * treatment.  Rare events (errors, awaitables, timeouts, the end of a
 * message) are handled by methods of the Python subclass.
 */
#include "tc.h"

#include <llhttp.h>
#include <string.h>

/* Where a read is. */
enum {
    HC_IDLE = 0, /* no read running */
    HC_HEAD = 1, /* collecting the head */
    HC_WAIT = 2, /* a delegate returned an awaitable: paused until _resume */
    HC_BODY = 3, /* reading the body */
};

/* How the body is framed, and where a chunked body is. */
enum {
    BM_NONE = 0,
    BM_FIXED,    /* Content-Length bytes remain */
    BM_LINE,     /* a chunk-size line is next */
    BM_DATA,     /* `remaining` bytes of the current chunk */
    BM_CRLF,     /* the CRLF after a chunk's data */
    BM_LAST,     /* the CRLF after the last (zero-size) chunk */
};

/* What the pending awaitable was returned by. */
enum { AW_NONE = 0, AW_HEADERS, AW_BODY };

typedef struct {
    PyObject_HEAD
    tc_stream *stream;      /* strong while a read runs */
    PyObject *delegate;     /* the HTTPMessageDelegate of the read */
    PyObject *future;       /* resolved with the read's outcome */
    PyObject *dict;
    PyObject *weakreflist;
    llhttp_t parser;
    const char *head_base;  /* the head's bytes while llhttp parses them */
    tc_h1_fieldset fs;      /* the head's fields (offsets from head_base) */
    tc_buf body;            /* body bytes parsed and not yet delivered */
    Py_ssize_t scanned;     /* head bytes already searched for its end */
    Py_ssize_t chunk_size;
    Py_ssize_t max_header_size;
    Py_ssize_t content_length;
    Py_ssize_t remaining;
    Py_ssize_t declared;    /* chunked: total of the chunk sizes so far */
    int state;
    int mode;
    int awaiting;
    char attached;          /* the stream's protocol is this object */
    char closed;            /* the stream has closed under the read */
    char delegate_open;     /* headers_received seen, finish() not yet */
    char is_head;           /* the request was a HEAD */
    char in_pump;
    char hdr_done;
} tc_h1client;

static llhttp_settings_t hc_settings;

static inline tc_state *
hc_state(tc_h1client *c)
{
    return tc_state_from_type(Py_TYPE(c));
}

static void hc_pump(tc_h1client *c);

/* ------------------------------------------------------ llhttp callbacks */

static int
http1client_on_header_field(llhttp_t *p, const char *at, size_t len)
{
    tc_h1client *c = (tc_h1client *)p->data;
    return tc_h1_fieldset_span(&c->fs, 0, at - c->head_base, (Py_ssize_t)len) < 0 ? HPE_USER : 0;
}

static int
http1client_on_header_value(llhttp_t *p, const char *at, size_t len)
{
    tc_h1client *c = (tc_h1client *)p->data;
    (void)tc_h1_fieldset_span(&c->fs, 1, at - c->head_base, (Py_ssize_t)len);
    return 0;
}

static int
http1client_on_headers_complete(llhttp_t *p)
{
    tc_h1client *c = (tc_h1client *)p->data;
    c->hdr_done = 1;
    return HPE_PAUSED;
}

static int
http1client_on_body(llhttp_t *p, const char *at, size_t len)
{
    tc_h1client *c = (tc_h1client *)p->data;
    if (tc_buf_append(&c->body, at, (Py_ssize_t)len) < 0) {
        PyErr_Clear();
        return HPE_USER;
    }
    return 0;
}

/* ------------------------------------------------------- Python helpers */

/* Calls a method of the Python subclass; new reference or NULL. */
static PyObject *
hc_call(tc_h1client *c, const char *name, PyObject *const *args, Py_ssize_t nargs)
{
    PyObject *meth = PyObject_GetAttrString((PyObject *)c, name), *r;
    if (meth == NULL) {
        return NULL;
    }
    r = PyObject_Vectorcall(meth, args, (size_t)nargs, NULL);
    Py_DECREF(meth);
    return r;
}

/* Stops being the stream's protocol. */
static void
hc_unhook(tc_h1client *c)
{
    if (c->attached && c->stream != NULL) {
        tc_stream_detach(c->stream);
    }
    c->attached = 0;
}

/* Ends the read on the C side: the stream, delegate and future are handed
 * to the caller (new references in *delegate / *future, NULL if none). */
static void
hc_release(tc_h1client *c, PyObject **delegate, PyObject **future)
{
    hc_unhook(c);
    *delegate = c->delegate;
    *future = c->future;
    c->delegate = NULL;
    c->future = NULL;
    Py_CLEAR(c->stream);
    c->state = HC_IDLE;
    c->awaiting = AW_NONE;
    c->mode = BM_NONE;
    c->in_pump = 0;
    tc_buf_free(&c->body);
}

/* The read failed: exc (stolen; NULL for "the stream closed") goes to
 * _read_failed, which logs it as Tornado does, tells an open delegate and
 * settles the future. */
static void
hc_fail(tc_h1client *c, PyObject *exc, int from_delegate)
{
    PyObject *delegate, *future, *r, *args[5];
    int open = c->delegate_open;
    c->delegate_open = 0;
    hc_release(c, &delegate, &future);
    args[0] = exc != NULL ? exc : Py_None;
    args[1] = delegate != NULL ? delegate : Py_None;
    args[2] = open ? Py_True : Py_False;
    args[3] = from_delegate ? Py_True : Py_False;
    args[4] = future != NULL ? future : Py_None;
    r = hc_call(c, "_read_failed", args, 5);
    if (r == NULL) {
        PyErr_WriteUnraisable((PyObject *)c);
    }
    Py_XDECREF(r);
    Py_XDECREF(exc);
    Py_XDECREF(delegate);
    Py_XDECREF(future);
}

/* Fails with the exception currently set. */
static void
hc_fail_current(tc_h1client *c, int from_delegate)
{
    hc_fail(c, PyErr_GetRaisedException_compat(), from_delegate);
}

/* Fails with HTTPInputError(message). */
static void
hc_fail_input(tc_h1client *c, const char *message)
{
    tc_state *st = hc_state(c);
    PyObject *exc = PyObject_CallFunction(st->http_input_error, "s", message);
    if (exc == NULL) {
        hc_fail_current(c, 0);
        return;
    }
    hc_fail(c, exc, 0);
}

/* Ends the read on the C side and passes (delegate, future) to the Python
 * method name: _fallback_read (the Python code reads the message: the head
 * is still in the stream's buffer, untouched) or _read_done (the message is
 * complete: finish() and the end of the read). */
static void
hc_hand_over(tc_h1client *c, const char *name)
{
    PyObject *delegate, *future, *r, *args[2];
    c->delegate_open = 0;
    hc_release(c, &delegate, &future);
    args[0] = delegate;
    args[1] = future;
    r = hc_call(c, name, args, 2);
    if (r == NULL) {
        PyErr_WriteUnraisable((PyObject *)c);
    }
    Py_XDECREF(r);
    Py_XDECREF(delegate);
    Py_XDECREF(future);
}

static void
hc_fallback(tc_h1client *c)
{
    hc_hand_over(c, "_fallback_read");
}

/* Waits for more input, or fails when the stream has closed. */
static void
hc_need_input(tc_h1client *c)
{
    if (c->closed) {
        hc_fail(c, NULL, 0);
    }
    else if (tc_stream_want_read(c->stream, 1) < 0) {
        hc_fail_current(c, 0);
    }
}

/* Calls a Python method taking no argument, for its effect. */
static int
hc_call0(tc_h1client *c, const char *name)
{
    PyObject *r = hc_call(c, name, NULL, 0);
    if (r == NULL) {
        return -1;
    }
    Py_DECREF(r);
    return 0;
}

/* A delegate method returned r (stolen).  Returns 0 to go on, 1 when the
 * read waits for it (or has ended). */
static int
hc_outcome(tc_h1client *c, PyObject *r, int what)
{
    PyObject *w;
    int go_on;
    if (r == Py_None) {
        Py_DECREF(r);
        return 0;
    }
    c->state = HC_WAIT;
    c->awaiting = what;
    w = hc_call(c, "_wait", &r, 1);
    Py_DECREF(r);
    if (w == NULL) {
        hc_fail_current(c, 0);
        return 1;
    }
    go_on = w == Py_True;
    Py_DECREF(w);
    if (go_on && c->state == HC_WAIT) {
        c->state = HC_BODY;
        c->awaiting = AW_NONE;
        return 0;
    }
    return 1;
}

/* ----------------------------------------------------------------- head */

/* The end of the head by Tornado's rule (the first match of \r?\n\r?\n),
 * or -1.  *scanned remembers where to search again. */
Py_ssize_t
tc_h1_head_end(const char *p, Py_ssize_t n, Py_ssize_t *scanned)
{
    Py_ssize_t i = *scanned;
    while (i < n) {
        const char *lf = memchr(p + i, '\n', (size_t)(n - i));
        Py_ssize_t j;
        if (lf == NULL) {
            *scanned = n;
            return -1;
        }
        j = lf - p;
        if (j + 1 >= n) {
            *scanned = j;
            return -1;
        }
        if (p[j + 1] == '\n') {
            return j + 2;
        }
        if (p[j + 1] == '\r') {
            if (j + 2 >= n) {
                *scanned = j;
                return -1;
            }
            if (p[j + 2] == '\n') {
                return j + 3;
            }
        }
        i = j + 1;
    }
    *scanned = n;
    return -1;
}

/* 1 when the head is plainly well formed, so that llhttp and Tornado's
 * Python parser read it the same way: a status line
 * "HTTP/1.[01] DDD reason" with a non-empty reason, CRLF line ends only,
 * no folded line and no control character but HTAB.  *reason_off and
 * *reason_len locate the reason phrase. */
int
tc_h1_head_is_plain(const char *p, Py_ssize_t n, Py_ssize_t *reason_off, Py_ssize_t *reason_len)
{
    Py_ssize_t i, eol;
    if (n < 17 || memcmp(p, "HTTP/1.", 7) != 0 || (p[7] != '0' && p[7] != '1') ||
        p[8] != ' ' || p[9] < '0' || p[9] > '9' || p[10] < '0' || p[10] > '9' ||
        p[11] < '0' || p[11] > '9' || p[12] != ' ') {
        return 0;
    }
    for (i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)p[i];
        if (ch == '\r') {
            if (i + 1 >= n || p[i + 1] != '\n') {
                return 0;
            }
        }
        else if (ch == '\n') {
            if (i == 0 || p[i - 1] != '\r') {
                return 0;
            }
            if (i + 1 < n && (p[i + 1] == ' ' || p[i + 1] == '\t')) {
                return 0;
            }
        }
        else if ((ch < 0x20 && ch != '\t') || ch == 0x7f) {
            return 0;
        }
    }
    eol = (const char *)memchr(p, '\r', (size_t)n) - p;
    if (eol <= 13) {
        return 0; /* an empty reason: Tornado's grammar gives None */
    }
    *reason_off = 13;
    *reason_len = eol - 13;
    return 1;
}

void
tc_h1_scan_framing(const char *base, const tc_h1_field *v, Py_ssize_t n, tc_h1_framing *out)
{
    Py_ssize_t i;
    memset(out, 0, sizeof *out);
    out->cl = -1;
    for (i = 0; i < n; i++) {
        const char *name = base + v[i].name_off, *val = base + v[i].val_off;
        Py_ssize_t nl = v[i].name_len, vl = v[i].val_len;
        tc_h1_trim(&val, &vl);
        if (tc_h1_name_is(name, nl, "content-length")) {
            Py_ssize_t k, cl = vl == 0 ? -2 : 0;
            for (k = 0; k < vl && cl >= 0; k++) {
                if (val[k] < '0' || val[k] > '9' || cl > (PY_SSIZE_T_MAX - 9) / 10) {
                    cl = -2;
                }
                else {
                    cl = cl * 10 + (val[k] - '0');
                }
            }
            out->ncl++;
            out->cl = cl;
        }
        else if (tc_h1_name_is(name, nl, "transfer-encoding")) {
            out->nte++;
            out->te_chunked = vl == 7 && strncasecmp(val, "chunked", 7) == 0;
        }
        else if (tc_h1_name_is(name, nl, "content-encoding")) {
            out->nce++;
            out->ce_off = val - base;
            out->ce_len = vl;
        }
    }
}

Py_ssize_t
tc_h1_find_crlf(const char *p, Py_ssize_t n)
{
    Py_ssize_t i;
    for (i = 0; i + 1 < n; i++) {
        if (p[i] == '\r' && p[i + 1] == '\n') {
            return i;
        }
    }
    return -1;
}

Py_ssize_t
tc_h1_chunk_size(const char *p, Py_ssize_t n)
{
    Py_ssize_t i, size = 0;
    int big = 0;
    if (n == 0) {
        return -1;
    }
    for (i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)p[i];
        int d;
        if (ch >= '0' && ch <= '9') {
            d = ch - '0';
        }
        else if (ch >= 'a' && ch <= 'f') {
            d = ch - 'a' + 10;
        }
        else if (ch >= 'A' && ch <= 'F') {
            d = ch - 'A' + 10;
        }
        else {
            return -1;
        }
        if (size > (PY_SSIZE_T_MAX >> 4)) {
            big = 1;
        }
        else {
            size = (size << 4) | d;
        }
    }
    return big ? -2 : size;
}

static void hc_after_headers(tc_h1client *c);

/* The head is in the buffer, head_len bytes long: parse it, and either
 * hand it to the delegate or leave it to the Python code. */
static void
hc_on_head(tc_h1client *c, Py_ssize_t head_len)
{
    tc_state *st = hc_state(c);
    tc_buf *in = tc_stream_rbuf(c->stream);
    const char *base = tc_buf_head(in);
    Py_ssize_t reason_off, reason_len, cl;
    int ncl, nte, status, has_body, chunked;
    tc_h1_framing fr;
    llhttp_errno_t err;
    PyObject *version, *code = NULL, *reason = NULL, *start_line = NULL;
    PyObject *headers = NULL, *te = NULL, *args[2], *r;
    tc_h1_notes notes;

    if (!tc_h1_head_is_plain(base, head_len, &reason_off, &reason_len)) {
        hc_fallback(c);
        return;
    }
    llhttp_init(&c->parser, HTTP_RESPONSE, &hc_settings);
    c->parser.data = c;
    c->head_base = base;
    c->hdr_done = 0;
    c->fs.n = 0;
    c->fs.last = TC_H1_SPAN_NONE;
    err = llhttp_execute(&c->parser, base, (size_t)head_len);
    c->head_base = NULL;
    if (err != HPE_PAUSED || !c->hdr_done ||
        llhttp_get_error_pos(&c->parser) != base + head_len) {
        hc_fallback(c);
        return;
    }
    status = c->parser.status_code;
    if (status < 200) {
        hc_fallback(c); /* informational responses: the Python code */
        return;
    }
    tc_h1_scan_framing(base, c->fs.v, c->fs.n, &fr);
    ncl = fr.ncl;
    cl = fr.cl;
    nte = fr.nte;
    has_body = status != 304 && !c->is_head;
    chunked = 0;
    if (has_body) {
        /* Framing the Python code would reject or read to the close. */
        if (nte > 1 || (nte == 1 && (ncl > 0 || !fr.te_chunked)) || ncl > 1 || cl == -2) {
            hc_fallback(c);
            return;
        }
        chunked = nte == 1;
        if (status == 204) {
            if (chunked || cl > 0) {
                hc_fallback(c);
                return;
            }
            cl = 0;
        }
        else if (!chunked && ncl == 0) {
            hc_fallback(c);
            return;
        }
    }
    /* The head is taken: build what the delegate gets. */
    version = c->parser.http_minor == 1 ? st->str_http11 : st->str_http10;
    code = PyLong_FromLong(status);
    reason = PyUnicode_DecodeLatin1(base + reason_off, reason_len, NULL);
    if (code == NULL || reason == NULL) {
        goto error;
    }
    start_line = tc_h1_start_line(st->response_start_line, version, code, reason);
    if (start_line == NULL) {
        goto error;
    }
    headers = tc_h1_build_headers(st, base, c->fs.v, c->fs.n, &notes, &te);
    if (headers == NULL) {
        goto error;
    }
    Py_CLEAR(te);
    tc_buf_consume(in, head_len);
    c->scanned = 0;
    c->content_length = has_body ? cl : 0;
    c->mode = !has_body ? BM_NONE : chunked ? BM_LINE : BM_FIXED;
    if (PyObject_SetAttrString((PyObject *)c, "_response_start_line", start_line) < 0 ||
        PyObject_SetAttrString((PyObject *)c, "_disconnect_on_finish", Py_False) < 0) {
        goto error;
    }
    c->delegate_open = 1;
    c->state = HC_BODY;
    args[0] = start_line;
    args[1] = headers;
    {
        PyObject *meth = PyObject_GetAttr(c->delegate, st->str_headers_received);
        r = meth == NULL ? NULL : PyObject_Vectorcall(meth, args, 2, NULL);
        Py_XDECREF(meth);
    }
    Py_DECREF(code);
    Py_DECREF(reason);
    Py_DECREF(start_line);
    Py_DECREF(headers);
    if (r == NULL) {
        hc_fail_current(c, 1);
        return;
    }
    if (c->state != HC_BODY) {
        Py_DECREF(r);
        return; /* the read ended inside the call */
    }
    if (hc_outcome(c, r, AW_HEADERS) != 0) {
        return;
    }
    hc_after_headers(c);
    return;
error:
    Py_XDECREF(code);
    Py_XDECREF(reason);
    Py_XDECREF(start_line);
    Py_XDECREF(headers);
    Py_XDECREF(te);
    hc_fail_current(c, 0);
}

/* The message is complete. */
static void
hc_message_done(tc_h1client *c)
{
    hc_hand_over(c, "_read_done");
}

/* headers_received is over: check the stream and the body's size, then
 * read the body. */
static void
hc_after_headers(tc_h1client *c)
{
    PyObject *v;
    Py_ssize_t max_body;
    c->awaiting = AW_NONE;
    v = PyObject_GetAttrString((PyObject *)c, "stream");
    if (v == NULL) {
        hc_fail_current(c, 0);
        return;
    }
    if (v == Py_None) {
        /* Detached inside headers_received (a protocol switch). */
        PyObject *delegate, *future, *r, *args[2];
        Py_DECREF(v);
        c->delegate_open = 0;
        hc_release(c, &delegate, &future);
        args[0] = future;
        args[1] = Py_False;
        r = hc_call(c, "_read_detached", args, 2);
        if (r == NULL) {
            PyErr_WriteUnraisable((PyObject *)c);
        }
        Py_XDECREF(r);
        Py_XDECREF(delegate);
        Py_XDECREF(future);
        return;
    }
    Py_DECREF(v);
    if (c->mode == BM_NONE) {
        hc_message_done(c);
        return;
    }
    v = PyObject_GetAttrString((PyObject *)c, "_max_body_size");
    if (v == NULL) {
        hc_fail_current(c, 0);
        return;
    }
    max_body = PyLong_AsSsize_t(v);
    Py_DECREF(v);
    if (max_body == -1 && PyErr_Occurred()) {
        hc_fail_current(c, 0);
        return;
    }
    if (c->mode == BM_FIXED && c->content_length > max_body) {
        hc_fail_input(c, "Content-Length too long");
        return;
    }
    if (c->mode == BM_FIXED && c->content_length == 0) {
        hc_message_done(c);
        return;
    }
    v = PyObject_GetAttrString((PyObject *)c, "_body_timeout");
    if (v == NULL) {
        hc_fail_current(c, 0);
        return;
    }
    if (v != Py_None) {
        PyObject *r = hc_call(c, "_arm_body_timeout", &v, 1);
        Py_DECREF(v);
        if (r == NULL) {
            hc_fail_current(c, 0);
            return;
        }
        Py_DECREF(r);
    }
    else {
        Py_DECREF(v);
    }
    c->remaining = c->content_length;
    c->declared = 0;
    llhttp_resume(&c->parser);
    c->state = HC_BODY;
    hc_pump(c);
}

/* ----------------------------------------------------------------- body */

/* Hands the parsed body bytes to data_received, chunk_size at a time.
 * Returns 0 when all went, 1 when the read waits or has ended. */
static int
hc_deliver(tc_h1client *c)
{
    tc_state *st = hc_state(c);
    while (c->body.len > 0) {
        Py_ssize_t n = c->body.len < c->chunk_size ? c->body.len : c->chunk_size;
        PyObject *piece = PyBytes_FromStringAndSize(tc_buf_head(&c->body), n), *r;
        if (piece == NULL) {
            hc_fail_current(c, 0);
            return 1;
        }
        tc_buf_drop(&c->body, n);
        r = PyObject_CallMethodOneArg(c->delegate, st->str_data_received, piece);
        Py_DECREF(piece);
        if (r == NULL) {
            hc_fail_current(c, 1);
            return 1;
        }
        if (c->state != HC_BODY) {
            Py_DECREF(r);
            return 1;
        }
        if (hc_outcome(c, r, AW_BODY) != 0) {
            return 1;
        }
    }
    return 0;
}

/* Feeds n bytes of the buffer to llhttp (body framing it has been told
 * about) and drops them.  0, or 1 when the read failed. */
static int
hc_feed(tc_h1client *c, tc_buf *in, Py_ssize_t n)
{
    llhttp_errno_t err = llhttp_execute(&c->parser, tc_buf_head(in), (size_t)n);
    if (err == HPE_PAUSED) {
        /* The message is complete (llhttp pauses there): the bytes were
         * all part of it. */
        llhttp_resume(&c->parser);
    }
    else if (err != HPE_OK) {
        const char *why = llhttp_get_error_reason(&c->parser);
        if (err == HPE_USER) {
            PyErr_NoMemory();
            hc_fail_current(c, 0);
            return 1;
        }
        hc_fail_input(c, why != NULL ? why : llhttp_errno_name(err));
        return 1;
    }
    tc_buf_drop(in, n);
    return 0;
}

/* A chunk-size line, as Tornado reads it: up to CRLF within 64 bytes,
 * strictly hexadecimal.  Returns 0 to go on, 1 to wait or when failed. */
static int
hc_size_line(tc_h1client *c, tc_buf *in, Py_ssize_t max_body)
{
    const char *p = tc_buf_head(in);
    Py_ssize_t avail = in->len;
    Py_ssize_t loc = tc_h1_find_crlf(p, avail < TC_H1_SIZE_LINE_MAX ? avail : TC_H1_SIZE_LINE_MAX);
    Py_ssize_t size;
    if (loc < 0) {
        if (avail > TC_H1_SIZE_LINE_MAX) {
            hc_unhook(c);
            if (hc_call0(c, "_on_bad_chunk_line") < 0) {
                hc_fail_current(c, 0);
            }
            else {
                hc_fail(c, NULL, 0);
            }
            return 1;
        }
        hc_need_input(c);
        return 1;
    }
    size = tc_h1_chunk_size(p, loc);
    if (size == -1) {
        hc_fail_input(c, "invalid chunk size");
        return 1;
    }
    if (size == 0) {
        if (hc_feed(c, in, loc + 2) != 0) {
            return 1;
        }
        c->mode = BM_LAST;
        return 0;
    }
    if (size < 0 || size > max_body - c->declared) {
        hc_fail_input(c, "chunked body too large");
        return 1;
    }
    c->declared += size;
    if (hc_feed(c, in, loc + 2) != 0) {
        return 1;
    }
    c->remaining = size;
    c->mode = BM_DATA;
    return 0;
}

/* Moves the read along as far as the buffered input allows. */
static void
hc_pump(tc_h1client *c)
{
    if (c->in_pump) {
        return;
    }
    c->in_pump = 1;
    Py_INCREF(c);
    while (c->state == HC_HEAD || c->state == HC_BODY) {
        tc_buf *in = tc_stream_rbuf(c->stream);
        if (c->state == HC_HEAD) {
            Py_ssize_t end = tc_h1_head_end(tc_buf_head(in), in->len, &c->scanned);
            if ((end < 0 && in->len > c->max_header_size) || end > c->max_header_size) {
                hc_unhook(c);
                if (hc_call0(c, "_on_head_overflow") < 0) {
                    hc_fail_current(c, 0);
                }
                else {
                    hc_fail(c, NULL, 0);
                }
                break;
            }
            if (end < 0) {
                hc_need_input(c);
                break;
            }
            c->in_pump = 0;
            hc_on_head(c, end);
            c->in_pump = 1;
            continue;
        }
        if (c->body.len > 0) {
            if (hc_deliver(c) != 0) {
                break;
            }
            continue;
        }
        if ((c->mode == BM_FIXED || c->mode == BM_DATA) && c->remaining == 0) {
            if (c->mode == BM_FIXED) {
                hc_message_done(c);
                break;
            }
            c->mode = BM_CRLF;
            continue;
        }
        if (c->mode == BM_LINE) {
            PyObject *v = PyObject_GetAttrString((PyObject *)c, "_max_body_size");
            Py_ssize_t max_body = v == NULL ? -1 : PyLong_AsSsize_t(v);
            Py_XDECREF(v);
            if (max_body == -1 && PyErr_Occurred()) {
                hc_fail_current(c, 0);
                break;
            }
            if (hc_size_line(c, in, max_body) != 0) {
                break;
            }
            continue;
        }
        if (in->len == 0 || ((c->mode == BM_CRLF || c->mode == BM_LAST) && in->len < 2)) {
            hc_need_input(c);
            break;
        }
        if (c->mode == BM_CRLF || c->mode == BM_LAST) {
            const char *p = tc_buf_head(in);
            int last = c->mode == BM_LAST;
            if (p[0] != '\r' || p[1] != '\n') {
                if (last) {
                    hc_fail_input(c, "improperly terminated chunked request");
                }
                else {
                    /* As Tornado 6.5, where this is an assertion. */
                    PyErr_SetString(PyExc_AssertionError, "chunk data not followed by CRLF");
                    hc_fail_current(c, 0);
                }
                break;
            }
            if (hc_feed(c, in, 2) != 0) {
                break;
            }
            if (last) {
                hc_message_done(c);
                break;
            }
            c->mode = BM_LINE;
            continue;
        }
        /* Body bytes: as many as are here and belong to the message. */
        {
            Py_ssize_t n = in->len < c->remaining ? in->len : c->remaining;
            if (hc_feed(c, in, n) != 0) {
                break;
            }
            c->remaining -= n;
        }
    }
    c->in_pump = 0;
    Py_DECREF(c);
}

static void
hc_on_data(void *ctx)
{
    tc_h1client *c = (tc_h1client *)ctx;
    if (c->state == HC_HEAD || c->state == HC_BODY) {
        hc_pump(c);
    }
    else if (c->stream != NULL && tc_stream_is_open(c->stream)) {
        /* Input while the delegate is busy stays buffered. */
        if (tc_stream_want_read(c->stream, 0) < 0) {
            PyErr_WriteUnraisable((PyObject *)c);
        }
    }
}

static void
hc_on_drain(void *ctx)
{
    (void)ctx;
}

static const tc_stream_proto hc_proto = {hc_on_data, hc_on_drain, NULL, NULL, NULL};

/* -------------------------------------------------------- Python methods */

PyDoc_STRVAR(hc_read_doc,
"_read($self, native_stream, delegate, future, chunk_size, max_header_size, is_head)\n--\n\n"
"Read one response from the native Stream for delegate; future gets the\n"
"outcome.");

static PyObject *
hc_read(tc_h1client *c, PyObject *const *args, Py_ssize_t nargs)
{
    tc_state *st = hc_state(c);
    Py_ssize_t chunk_size, max_header_size;
    int is_head;
    if (nargs != 6) {
        PyErr_SetString(PyExc_TypeError, "_read takes 6 arguments");
        return NULL;
    }
    if (!tc_stream_check(st, args[0])) {
        PyErr_SetString(PyExc_TypeError, "_read needs a native Stream");
        return NULL;
    }
    if (c->state != HC_IDLE) {
        PyErr_SetString(PyExc_RuntimeError, "a response is being read already");
        return NULL;
    }
    if (st->response_start_line == NULL || st->http_headers == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "_core.http1_setup() was not called");
        return NULL;
    }
    chunk_size = PyLong_AsSsize_t(args[3]);
    max_header_size = PyLong_AsSsize_t(args[4]);
    is_head = PyObject_IsTrue(args[5]);
    if ((chunk_size == -1 || max_header_size == -1) && PyErr_Occurred()) {
        return NULL;
    }
    if (is_head < 0) {
        return NULL;
    }
    c->stream = (tc_stream *)Py_NewRef(args[0]);
    Py_XSETREF(c->delegate, Py_NewRef(args[1]));
    Py_XSETREF(c->future, Py_NewRef(args[2]));
    c->chunk_size = chunk_size > 0 ? chunk_size : 65536;
    c->max_header_size = max_header_size;
    c->is_head = (char)is_head;
    c->closed = !tc_stream_is_open(c->stream);
    c->delegate_open = 0;
    c->scanned = 0;
    c->mode = BM_NONE;
    c->state = HC_HEAD;
    tc_stream_attach(c->stream, &hc_proto, c);
    c->attached = 1;
    hc_pump(c);
    Py_RETURN_NONE;
}

PyDoc_STRVAR(hc_resume_doc,
"_resume($self)\n--\n\n"
"Go on after an awaitable returned by the delegate has finished.");

static PyObject *
hc_resume(tc_h1client *c, PyObject *Py_UNUSED(ignored))
{
    if (c->state == HC_WAIT) {
        int what = c->awaiting;
        c->state = HC_BODY;
        c->awaiting = AW_NONE;
        if (what == AW_HEADERS) {
            hc_after_headers(c);
            Py_RETURN_NONE;
        }
        hc_pump(c);
    }
    Py_RETURN_NONE;
}

PyDoc_STRVAR(hc_fail_doc,
"_fail($self, exc)\n--\n\n"
"An awaitable returned by the delegate failed with exc.");

static PyObject *
hc_fail_method(tc_h1client *c, PyObject *exc)
{
    if (c->state == HC_WAIT) {
        hc_fail(c, Py_NewRef(exc), 1);
    }
    Py_RETURN_NONE;
}

PyDoc_STRVAR(hc_stream_closed_doc,
"_stream_closed($self)\n--\n\n"
"The stream has closed: what is buffered is still read, then the read fails.");

static PyObject *
hc_stream_closed(tc_h1client *c, PyObject *Py_UNUSED(ignored))
{
    if (c->state == HC_IDLE) {
        Py_RETURN_NONE;
    }
    c->closed = 1;
    hc_unhook(c);
    if (c->state == HC_HEAD || c->state == HC_BODY) {
        hc_pump(c);
    }
    Py_RETURN_NONE;
}

PyDoc_STRVAR(hc_abandon_doc,
"_abandon($self)\n--\n\n"
"Stop the read (its body timeout ran out): returns (delegate, delegate_open,\n"
"future), or None when no read runs.");

static PyObject *
hc_abandon(tc_h1client *c, PyObject *Py_UNUSED(ignored))
{
    PyObject *delegate, *future;
    int open = c->delegate_open;
    if (c->state == HC_IDLE) {
        Py_RETURN_NONE;
    }
    c->delegate_open = 0;
    hc_release(c, &delegate, &future);
    return Py_BuildValue("(NON)", delegate ? delegate : Py_NewRef(Py_None),
                         open ? Py_True : Py_False, future ? future : Py_NewRef(Py_None));
}

PyDoc_STRVAR(hc_unhook_doc,
"_unhook($self)\n--\n\n"
"Stop being the stream's protocol (the stream is being detached).");

static PyObject *
hc_unhook_method(tc_h1client *c, PyObject *Py_UNUSED(ignored))
{
    hc_unhook(c);
    Py_RETURN_NONE;
}

PyDoc_STRVAR(hc_format_chunk_doc,
"_format_chunk($self, chunk)\n--\n\n"
"A request body chunk as it goes on the wire (HTTP1Connection._format_chunk):\n"
"counted against the declared Content-Length, framed when the body is chunked.");

static PyObject *
hc_format_chunk(tc_h1client *c, PyObject *chunk)
{
    tc_state *st = hc_state(c);
    PyObject *budget, *chunking_obj, *result = NULL;
    Py_buffer view;
    tc_buf out = {0};
    int chunking;
    if (PyObject_GetBuffer(chunk, &view, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    budget = PyObject_GetAttrString((PyObject *)c, "_expected_content_remaining");
    if (budget == NULL) {
        goto done;
    }
    if (budget != Py_None) {
        Py_ssize_t left = PyLong_AsSsize_t(budget);
        PyObject *v;
        int rc;
        Py_DECREF(budget);
        if (left == -1 && PyErr_Occurred()) {
            goto done;
        }
        left -= view.len;
        v = PyLong_FromSsize_t(left);
        rc = v == NULL ? -1 : PyObject_SetAttrString((PyObject *)c, "_expected_content_remaining", v);
        Py_XDECREF(v);
        if (rc < 0) {
            goto done;
        }
        if (left < 0) {
            /* Excess bytes would be read as the next message: the
             * connection goes. */
            PyObject *stream = PyObject_GetAttrString((PyObject *)c, "stream");
            PyObject *r = stream == NULL ? NULL : PyObject_CallMethod(stream, "close", NULL);
            Py_XDECREF(stream);
            if (r == NULL) {
                goto done;
            }
            Py_DECREF(r);
            PyErr_SetString(st->http_output_error, "Tried to write more data than Content-Length");
            goto done;
        }
    }
    else {
        Py_DECREF(budget);
    }
    chunking_obj = PyObject_GetAttrString((PyObject *)c, "_chunking_output");
    chunking = chunking_obj == NULL ? -1 : PyObject_IsTrue(chunking_obj);
    Py_XDECREF(chunking_obj);
    if (chunking < 0) {
        goto done;
    }
    if (view.len == 0 || !chunking) {
        result = Py_NewRef(chunk);
        goto done;
    }
    if (tc_h1_put_chunk(&out, view.buf, view.len, 1) == 0) {
        result = PyBytes_FromStringAndSize(tc_buf_head(&out), out.len);
    }
done:
    PyBuffer_Release(&view);
    tc_buf_free(&out);
    return result;
}

static PyObject *
hc_get_reading(tc_h1client *c, void *Py_UNUSED(x))
{
    return PyBool_FromLong(c->state != HC_IDLE);
}

static int
hc_traverse(tc_h1client *c, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(c));
    Py_VISIT(c->stream);
    Py_VISIT(c->delegate);
    Py_VISIT(c->future);
    Py_VISIT(c->dict);
    return 0;
}

static int
hc_clear(tc_h1client *c)
{
    hc_unhook(c);
    Py_CLEAR(c->stream);
    Py_CLEAR(c->delegate);
    Py_CLEAR(c->future);
    Py_CLEAR(c->dict);
    c->state = HC_IDLE;
    return 0;
}

static void
hc_dealloc(tc_h1client *c)
{
    PyTypeObject *tp = Py_TYPE(c);
    PyObject_GC_UnTrack(c);
    if (c->weakreflist != NULL) {
        PyObject_ClearWeakRefs((PyObject *)c);
    }
    hc_clear(c);
    tc_buf_free(&c->body);
    PyMem_Free(c->fs.v);
    tp->tp_free((PyObject *)c);
    Py_DECREF(tp);
}

static PyObject *
hc_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    (void)args;
    (void)kwds;
    return type->tp_alloc(type, 0);
}

static PyMethodDef hc_methods[] = {
    {"_read", (PyCFunction)(void (*)(void))hc_read, METH_FASTCALL, hc_read_doc},
    {"_resume", (PyCFunction)hc_resume, METH_NOARGS, hc_resume_doc},
    {"_fail", (PyCFunction)hc_fail_method, METH_O, hc_fail_doc},
    {"_stream_closed", (PyCFunction)hc_stream_closed, METH_NOARGS, hc_stream_closed_doc},
    {"_abandon", (PyCFunction)hc_abandon, METH_NOARGS, hc_abandon_doc},
    {"_unhook", (PyCFunction)hc_unhook_method, METH_NOARGS, hc_unhook_doc},
    {"_format_chunk", (PyCFunction)hc_format_chunk, METH_O, hc_format_chunk_doc},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef hc_getset[] = {
    {"_native_reading", (getter)hc_get_reading, NULL, NULL, NULL},
    {"__dict__", PyObject_GenericGetDict, PyObject_GenericSetDict, NULL, NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyMemberDef hc_members[] = {
    {"__dictoffset__", T_PYSSIZET, offsetof(tc_h1client, dict), READONLY, NULL},
    {"__weaklistoffset__", T_PYSSIZET, offsetof(tc_h1client, weakreflist), READONLY, NULL},
    {NULL, 0, 0, 0, NULL},
};

static PyType_Slot hc_slots[] = {
    {Py_tp_doc, "The native client side of an HTTP/1.x connection (see http1client.c)."},
    {Py_tp_new, hc_new},
    {Py_tp_dealloc, hc_dealloc},
    {Py_tp_traverse, hc_traverse},
    {Py_tp_clear, hc_clear},
    {Py_tp_methods, hc_methods},
    {Py_tp_getset, hc_getset},
    {Py_tp_members, hc_members},
    {0, NULL},
};

static PyType_Spec hc_spec = {
    .name = "tornado_c._core.HTTP1Client",
    .basicsize = sizeof(tc_h1client),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_BASETYPE,
    .slots = hc_slots,
};

/* ------------------------------------------------------- request heads */

PyDoc_STRVAR(h1_request_head_doc,
"h1_request_head(start_line, headers)\n--\n\n"
"Serialize a request head as HTTP1Connection.write_headers does on a\n"
"client: returns (head_bytes, chunking, expected_content_length_or_None).\n"
"Adds Transfer-Encoding: chunked to headers when the body goes chunked.\n"
"Raises ValueError as Tornado does (a non-integer Content-Length, CR or LF\n"
"in a line).");

static PyObject *
h1_request_head(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "h1_request_head takes 2 arguments");
        return NULL;
    }
    return tc_h1_request_head(PyModule_GetState(module), args[0], args[1]);
}

PyObject *
tc_h1_request_head(tc_state *st, PyObject *start_line, PyObject *headers)
{
    PyObject *dict = NULL, *cl, *opening = NULL, *expected = NULL;
    PyObject *result = NULL;
    tc_buf out = {0};
    int chunking = 0;

    if (!PyTuple_Check(start_line) || PyTuple_GET_SIZE(start_line) < 2) {
        PyErr_SetString(PyExc_TypeError, "start_line must be a RequestStartLine");
        return NULL;
    }
    dict = tc_headers_get(st, headers, TC_HD_DICT);
    if (dict == NULL || !PyDict_Check(dict)) {
        Py_XDECREF(dict);
        PyErr_SetString(PyExc_TypeError, "headers must be an HTTPHeaders");
        return NULL;
    }
    cl = PyDict_GetItemWithError(dict, st->str_Content_Length);
    if (cl == NULL && PyErr_Occurred()) {
        goto done;
    }
    if (cl == NULL) {
        /* A body of unknown size goes chunked (POST, PUT and PATCH). */
        PyObject *method = PyTuple_GET_ITEM(start_line, 0);
        if (PyUnicode_Check(method) &&
            (PyUnicode_CompareWithASCIIString(method, "POST") == 0 ||
             PyUnicode_CompareWithASCIIString(method, "PUT") == 0 ||
             PyUnicode_CompareWithASCIIString(method, "PATCH") == 0)) {
            chunking = 1;
        }
    }
    opening = PyUnicode_FromFormat("%S %S HTTP/1.1", PyTuple_GET_ITEM(start_line, 0),
                                   PyTuple_GET_ITEM(start_line, 1));
    if (opening == NULL) {
        goto done;
    }
    if (chunking &&
        PyObject_SetItem(headers, st->str_Transfer_Encoding, st->str_chunked) < 0) {
        goto done;
    }
    cl = PyDict_GetItemWithError(dict, st->str_Content_Length);
    if (cl == NULL && PyErr_Occurred()) {
        goto done;
    }
    if (cl != NULL) {
        expected = tc_h1_parse_length(cl);
        if (expected == NULL) {
            goto done;
        }
    }
    {
        PyObject *enc = PyUnicode_AsUTF8String(opening);
        int rc;
        if (enc == NULL) {
            goto done;
        }
        rc = tc_buf_append(&out, PyBytes_AS_STRING(enc), PyBytes_GET_SIZE(enc));
        Py_DECREF(enc);
        if (rc < 0) {
            goto done;
        }
    }
    if (tc_h1_put_fields(st, &out, headers, 0) < 0 || tc_buf_append(&out, "\r\n\r\n", 4) < 0) {
        goto done;
    }
    {
        PyObject *b = PyBytes_FromStringAndSize(tc_buf_head(&out), out.len);
        if (b == NULL) {
            goto done;
        }
        result = Py_BuildValue("(NOO)", b, chunking ? Py_True : Py_False,
                               expected != NULL ? expected : Py_None);
    }
done:
    Py_XDECREF(dict);
    Py_XDECREF(opening);
    Py_XDECREF(expected);
    tc_buf_free(&out);
    return result;
}

static PyMethodDef hc_module_functions[] = {
    {"h1_request_head", (PyCFunction)(void (*)(void))h1_request_head, METH_FASTCALL,
     h1_request_head_doc},
    {NULL, NULL, 0, NULL},
};

int
tc_http1client_type_init(PyObject *module, tc_state *st)
{
    llhttp_settings_init(&hc_settings);
    hc_settings.on_header_field = http1client_on_header_field;
    hc_settings.on_header_value = http1client_on_header_value;
    hc_settings.on_headers_complete = http1client_on_headers_complete;
    hc_settings.on_body = http1client_on_body;
    st->HTTP1ClientType = (PyTypeObject *)PyType_FromModuleAndSpec(module, &hc_spec, NULL);
    if (st->HTTP1ClientType == NULL) {
        return -1;
    }
    if (PyModule_AddObjectRef(module, "HTTP1Client", (PyObject *)st->HTTP1ClientType) < 0) {
        return -1;
    }
    return PyModule_AddFunctions(module, hc_module_functions);
}
