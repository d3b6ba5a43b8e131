/*
 * stream.c — Stream, the native engine under tornado_c.iostream.IOStream.
 *
 * Serves tornado_c.iostream (IOStream, PipeIOStream).  A Stream owns a libuv
 * uv_tcp_t or uv_pipe_t opened on a duplicate of the fd it is given (the
 * Python socket object keeps the original, so `IOStream.socket` stays a real
 * socket and neither side closes the other's fd), a read buffer, and the
 * pending read.  It does the work of every read and write in C: data is read
 * as soon as it arrives, the pending read (until a delimiter, a regex, a byte
 * count, into a buffer, or until close) is matched against the buffer, and the
 * read's asyncio Future is resolved with the result — one crossing into
 * Python per completed read.  Writes go out with uv_try_write first and only
 * the remainder is queued (zero-copy: the caller's buffer stays pinned).
 *
 * Everything that is not a success — end of stream, an OS error, an
 * unsatisfiable read, a full buffer — is handed to the Python layer through
 * one callback, on_event(kind, detail), because Tornado's close semantics
 * (close callbacks, StreamClosedError.real_error, log lines) live there.
 */
#include "tc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <string.h>
#include <unistd.h>

enum {
    RM_NONE = 0,
    RM_UNTIL,
    RM_REGEX,
    RM_BYTES,
    RM_INTO,
    RM_CLOSE,
    RM_HEADERS,   /* read_until_regex(b"\r?\n\r?\n"), matched in C */
};

/* on_event kinds (mirrored in tornado_c/iostream.py). */
enum {
    SE_UNSATISFIABLE = 1, /* detail: message */
    SE_BUFFER_FULL = 2,   /* detail: message */
    SE_EOF = 3,           /* detail: None */
    SE_READ_ERROR = 4,    /* detail: OSError */
    SE_WRITE_ERROR = 5,   /* detail: OSError */
    SE_DRAIN = 6,         /* detail: None — every queued byte was written */
    SE_CONNECT = 7,       /* detail: 0, or the (negative) libuv error code */
    SE_WRITTEN = 8,       /* detail: write_reqs_done — a queued write went out
                             in full and others are still queued */
};

/* Results of the read_* methods. */
enum {
    RR_PENDING = 0,  /* the future resolves later */
    RR_DONE = 1,     /* resolved from the buffer */
    RR_CLOSED = 2,   /* cannot be satisfied: the stream is closed */
    RR_FAILED = 3,   /* unsatisfiable; on_event already reported it */
    RR_FULL = 4,     /* the buffer is over max_buffer_size and this read
                        cannot drain it: the caller reports and closes */
    RR_ERROR = 5,    /* the inline read failed: take_error() has the OSError */
};

struct tc_stream_s {
    PyObject_HEAD
    tc_loop *loop;            /* strong */
    uv_stream_t *uvs;         /* PyMem_RawMalloc'd; NULL once closed */
    tc_stream *next, *prev;   /* the loop's list of open streams */
    tc_buf rbuf;
    Py_ssize_t max_buffer_size;
    Py_ssize_t read_chunk_size; /* at most this much per read from the fd */
    Py_ssize_t scan_pos;      /* RM_UNTIL: no delimiter starts before this */
    Py_ssize_t target;        /* read this much before checking (-1: none) */
    Py_ssize_t next_find_pos; /* check the pending read once len reaches it */
    char kind;                /* 0 tcp, 1 pipe */
    char read_mode;
    char read_partial;
    char reading;             /* uv_read_start is active */
    char eof;
    char closed;
    char watch_close;         /* read while idle to notice a peer close */
    signed char nodelay_wanted;  /* TCP_NODELAY asked for: 0/1, -1 unknown */
    signed char nodelay_applied; /* what was last set on the socket, -1 unknown */
    char proto_read;          /* the protocol wants the socket read */
    char proto_drained;       /* at the last on_data call the socket had
                                 nothing more, or a whole 64 KiB chunk came
                                 (the ends of Tornado's read loop) */
    char rooted;              /* holds a reference to itself (see
                                 stream_update_reading) */
    PyObject *read_future;
    PyObject *read_arg;       /* delimiter (bytes) or compiled regex */
    Py_ssize_t read_n;        /* byte count / max_bytes (-1: none) */
    Py_buffer *into;          /* RM_INTO: the caller's buffer (pinned) */
    Py_ssize_t into_filled;
    Py_ssize_t write_queued;  /* bytes handed to uv_write, not yet written */
    uint64_t read_poll;       /* the loop's poll count at the last read */
    char read_deferred;       /* on_alloc put off a read (see there) */
    long long write_reqs;     /* writes queued with uv_write so far */
    long long write_reqs_done; /* of those, the ones written in full (libuv
                                  completes them in order) */
    /* on_event(kind, detail).  A bound method is kept as its function and
     * its object (on_event_self): no method object per stream. */
    PyObject *on_event;
    PyObject *on_event_self;
    PyObject *fileobj;        /* what the stream was opened on (the socket) */
    PyObject *inline_error;   /* the OSError an inline read hit (RR_ERROR) */
    PyObject *direct;         /* bytes libuv is reading into (see on_alloc) */
    /* A C protocol driving the stream (http1.c), or NULL.  While attached
     * and no Python read is pending, every chunk read is handed to it. */
    const tc_stream_proto *proto;
    void *proto_ctx;
};

typedef struct {
    uv_write_t req;
    Py_buffer view;           /* pins the caller's bytes until written */
    Py_ssize_t len;           /* bytes this request writes */
    char *extra;              /* a framed write's head / tail left (owned), or NULL */
} stream_write_req;

static int stream_update_reading(tc_stream *s);
static int stream_apply_nodelay(tc_stream *s);

static inline tc_state *
stream_state(tc_stream *s)
{
    return tc_state_from_type(Py_TYPE(s));
}

/* ---------------------------------------------------------------- events */

/* Sets on_event to v (NULL allowed), keeping a bound method as its function
 * and object. */
static void
stream_store_on_event(tc_stream *s, PyObject *v)
{
    PyObject *cb = v, *self = NULL;
    PyObject *old_cb = s->on_event, *old_self = s->on_event_self;
    if (v != NULL && PyMethod_Check(v)) {
        cb = PyMethod_GET_FUNCTION(v);
        self = PyMethod_GET_SELF(v);
    }
    s->on_event = Py_XNewRef(cb);
    s->on_event_self = Py_XNewRef(self);
    /* Released last: their deallocation may run Python code. */
    Py_XDECREF(old_cb);
    Py_XDECREF(old_self);
}

/* Reports an error raised by a Python callback invoked from a libuv
 * callback: nothing may escape into libuv, so it goes to the loop's
 * exception handler. */
static void
stream_report_error(tc_stream *s, const char *what)
{
    PyObject *exc = PyErr_GetRaisedException_compat();
    PyObject *ctx = Py_BuildValue("{s:s,s:O,s:O}", "message", what,
                                  "exception", exc ? exc : Py_None,
                                  "stream", (PyObject *)s);
    PyObject *r = NULL;
    if (ctx != NULL) {
        r = PyObject_CallMethod((PyObject *)s->loop, "call_exception_handler",
                                "O", ctx);
        Py_DECREF(ctx);
    }
    if (r == NULL) {
        PyErr_WriteUnraisable((PyObject *)s);
    }
    Py_XDECREF(r);
    Py_XDECREF(exc);
}

/* A C protocol with end-of-stream / error hooks (transport.c) takes those
 * events itself instead of the Python on_event callback (http1.c has none:
 * its stream's events still go to IOStream).  Returns 1 when delivered. */
static int
stream_emit_to_proto(tc_stream *s, int kind, PyObject *detail)
{
    const tc_stream_proto *p = s->proto;
    void *ctx = s->proto_ctx;
    if (kind == SE_EOF && p->on_eof != NULL) {
        p->on_eof(ctx);
        return 1;
    }
    if ((kind == SE_READ_ERROR || kind == SE_WRITE_ERROR) && p->on_error != NULL) {
        p->on_error(ctx, detail, kind == SE_WRITE_ERROR);
        return 1;
    }
    return 0;
}

/* Calls on_event(kind, detail) (steals detail).  Returns 0, or -1 with the
 * callback's exception set. */
static int
stream_emit(tc_stream *s, int kind, PyObject *detail)
{
    PyObject *cb = s->on_event, *self = s->on_event_self, *r;
    PyObject *args[3];
    if (detail == NULL) {
        return -1;
    }
    if (s->proto != NULL && stream_emit_to_proto(s, kind, detail)) {
        Py_DECREF(detail);
        return 0;
    }
    if (cb == NULL || cb == Py_None) {
        Py_DECREF(detail);
        return 0;
    }
    args[0] = self;
    args[1] = PyLong_FromLong(kind);
    args[2] = detail;
    if (args[1] == NULL) {
        Py_DECREF(detail);
        return -1;
    }
    /* Both may be replaced while the callback runs. */
    Py_INCREF(cb);
    Py_XINCREF(self);
    r = self != NULL ? PyObject_Vectorcall(cb, args, 3, NULL)
                     : PyObject_Vectorcall(cb, args + 1, 2, NULL);
    Py_DECREF(cb);
    Py_XDECREF(self);
    Py_DECREF(args[1]);
    Py_DECREF(detail);
    if (r == NULL) {
        return -1;
    }
    Py_DECREF(r);
    return 0;
}

/* stream_emit for use inside libuv callbacks. */
static void
stream_emit_from_uv(tc_stream *s, int kind, PyObject *detail)
{
    if (stream_emit(s, kind, detail) < 0) {
        stream_report_error(s, "Exception in tornado_c stream event handler");
    }
}

/* ----------------------------------------------------------------- reads */

static void
stream_clear_read(tc_stream *s)
{
    s->read_mode = RM_NONE;
    Py_CLEAR(s->read_future);
    Py_CLEAR(s->read_arg);
    if (s->into != NULL) {
        PyBuffer_Release(s->into);
        PyMem_Free(s->into);
        s->into = NULL;
    }
    s->into_filled = 0;
    s->scan_pos = 0;
}

/* Resolves the pending read with result (stolen).  0 / -1. */
static int
stream_resolve(tc_stream *s, PyObject *result)
{
    tc_state *st = stream_state(s);
    PyObject *fut = s->read_future, *c, *r;
    int cancelled;

    if (result == NULL) {
        return -1;
    }
    /* Detach the read before Python runs: a done-callback may start the
     * next read on this stream. */
    s->read_future = NULL;
    stream_clear_read(s);
    /* The read is over: stop reading, or go on (room was made, a close
     * watch is on, or a done-callback already started the next read). */
    if (s->uvs != NULL && stream_update_reading(s) < 0) {
        Py_XDECREF(fut);
        Py_DECREF(result);
        return -1;
    }
    if (fut == NULL) {
        Py_DECREF(result);
        return 0;
    }
    c = PyObject_CallMethodNoArgs(fut, st->str_cancelled);
    if (c == NULL) {
        goto error;
    }
    cancelled = PyObject_IsTrue(c);
    Py_DECREF(c);
    if (cancelled < 0) {
        goto error;
    }
    if (!cancelled) {
        r = PyObject_CallMethodOneArg(fut, st->str_set_result, result);
        if (r == NULL) {
            goto error;
        }
        Py_DECREF(r);
    }
    Py_DECREF(fut);
    Py_DECREF(result);
    return 0;
error:
    Py_DECREF(fut);
    Py_DECREF(result);
    return -1;
}

/* Takes the first n buffered bytes as a bytes object. */
static PyObject *
stream_take(tc_stream *s, Py_ssize_t n)
{
    PyObject *b = PyBytes_FromStringAndSize(tc_buf_head(&s->rbuf), n);
    if (b != NULL) {
        tc_buf_consume(&s->rbuf, n);
    }
    return b;
}

static int
stream_unsatisfiable(tc_stream *s, PyObject *what)
{
    PyObject *msg = PyUnicode_FromFormat("delimiter %R not found within %zd bytes",
                                         what, s->read_n);
    stream_clear_read(s);
    return stream_emit(s, SE_UNSATISFIABLE, msg);
}

/* Tries to satisfy the pending read from the buffer.  Returns RR_DONE,
 * RR_PENDING, RR_FAILED (unsatisfiable, reported), or -1 with an error. */
static int
stream_try_read(tc_stream *s)
{
    tc_buf *b = &s->rbuf;

    switch (s->read_mode) {
    case RM_UNTIL: {
        const char *delim = PyBytes_AS_STRING(s->read_arg);
        Py_ssize_t dlen = PyBytes_GET_SIZE(s->read_arg);
        const char *found = NULL;
        if (b->len - s->scan_pos >= dlen) {
            found = memmem(tc_buf_head(b) + s->scan_pos, (size_t)(b->len - s->scan_pos),
                           delim, (size_t)dlen);
        }
        if (found != NULL) {
            Py_ssize_t end = (found - tc_buf_head(b)) + dlen;
            if (s->read_n >= 0 && end > s->read_n) {
                return stream_unsatisfiable(s, s->read_arg) < 0 ? -1 : RR_FAILED;
            }
            return stream_resolve(s, stream_take(s, end)) < 0 ? -1 : RR_DONE;
        }
        if (s->read_n >= 0 && b->len > s->read_n) {
            return stream_unsatisfiable(s, s->read_arg) < 0 ? -1 : RR_FAILED;
        }
        /* Resume the search where a delimiter could still begin. */
        s->scan_pos = b->len >= dlen ? b->len - dlen + 1 : 0;
        return RR_PENDING;
    }
    case RM_REGEX: {
        tc_state *st = stream_state(s);
        PyObject *data, *m, *endobj;
        Py_ssize_t end;
        if (b->len == 0) {
            return RR_PENDING;
        }
        data = PyBytes_FromStringAndSize(tc_buf_head(b), b->len);
        if (data == NULL) {
            return -1;
        }
        m = PyObject_CallMethodOneArg(s->read_arg, st->str_search, data);
        Py_DECREF(data);
        if (m == NULL) {
            return -1;
        }
        if (m == Py_None) {
            Py_DECREF(m);
            if (s->read_n >= 0 && b->len > s->read_n) {
                return stream_unsatisfiable(s, s->read_arg) < 0 ? -1 : RR_FAILED;
            }
            return RR_PENDING;
        }
        endobj = PyObject_CallMethodNoArgs(m, st->str_end);
        Py_DECREF(m);
        if (endobj == NULL) {
            return -1;
        }
        end = PyLong_AsSsize_t(endobj);
        Py_DECREF(endobj);
        if (end < 0 && PyErr_Occurred()) {
            return -1;
        }
        if (s->read_n >= 0 && end > s->read_n) {
            return stream_unsatisfiable(s, s->read_arg) < 0 ? -1 : RR_FAILED;
        }
        return stream_resolve(s, stream_take(s, end)) < 0 ? -1 : RR_DONE;
    }
    case RM_HEADERS: {
        /* The regex \r?\n\r?\n (the end of an HTTP header block), matched
         * in C: its leftmost match ends right after the first \n that is
         * followed by \n or by \r\n. */
        const char *data = tc_buf_head(b);
        Py_ssize_t i = s->scan_pos, end = -1;
        for (;;) {
            const char *nl = i < b->len ? memchr(data + i, '\n', (size_t)(b->len - i)) : NULL;
            if (nl == NULL) {
                i = b->len;
                break;
            }
            i = nl - data;
            if (i + 1 >= b->len) {
                break; /* need the next byte */
            }
            if (data[i + 1] == '\n') {
                end = i + 2;
                break;
            }
            if (data[i + 1] == '\r') {
                if (i + 2 >= b->len) {
                    break;
                }
                if (data[i + 2] == '\n') {
                    end = i + 3;
                    break;
                }
            }
            i++;
        }
        if (end >= 0) {
            if (s->read_n >= 0 && end > s->read_n) {
                return stream_unsatisfiable(s, s->read_arg) < 0 ? -1 : RR_FAILED;
            }
            return stream_resolve(s, stream_take(s, end)) < 0 ? -1 : RR_DONE;
        }
        if (s->read_n >= 0 && b->len > s->read_n) {
            return stream_unsatisfiable(s, s->read_arg) < 0 ? -1 : RR_FAILED;
        }
        s->scan_pos = i; /* resume at the undecided \n (or the end) */
        return RR_PENDING;
    }
    case RM_BYTES:
        if (b->len >= s->read_n || (s->read_partial && b->len > 0)) {
            Py_ssize_t n = b->len < s->read_n ? b->len : s->read_n;
            return stream_resolve(s, stream_take(s, n)) < 0 ? -1 : RR_DONE;
        }
        return RR_PENDING;
    case RM_INTO: {
        Py_ssize_t want = s->into->len - s->into_filled;
        Py_ssize_t n = b->len < want ? b->len : want;
        if (n > 0) {
            memcpy((char *)s->into->buf + s->into_filled, tc_buf_head(b), (size_t)n);
            tc_buf_consume(b, n);
            s->into_filled += n;
        }
        if (s->into_filled == s->into->len || (s->read_partial && s->into_filled > 0)) {
            return stream_resolve(s, PyLong_FromSsize_t(s->into_filled)) < 0 ? -1 : RR_DONE;
        }
        return RR_PENDING;
    }
    case RM_CLOSE:
        if (s->eof || s->closed) {
            return stream_resolve(s, stream_take(s, b->len)) < 0 ? -1 : RR_DONE;
        }
        return RR_PENDING;
    default:
        return RR_PENDING;
    }
}

static void stream_on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void stream_on_read(uv_stream_t *uvs, ssize_t nread, const uv_buf_t *buf);

/* As Tornado's IOStream: the socket is read while a read is pending, or —
 * when a close callback wants to hear of a peer close — while idle with an
 * empty buffer.  Otherwise data stays in the kernel (start_tls relies on
 * that), and a buffer past max_buffer_size pauses reading. */
static inline int
stream_wants_input(tc_stream *s)
{
    return s->uvs != NULL && !s->eof && s->rbuf.len <= s->max_buffer_size &&
           (s->read_mode != RM_NONE || (s->proto != NULL && s->proto_read) ||
            (s->watch_close && s->rbuf.len == 0));
}

/* Stops libuv reading: at the end of the input, or (the lazy stop below)
 * once libuv offers input nobody wants. */
static void
stream_stop_reading(tc_stream *s)
{
    if (s->uvs != NULL) {
        uv_read_stop(s->uvs);
    }
    s->reading = 0;
}

/* Starts libuv reading when the stream wants input.  Stopping is lazy: a
 * stream that no longer wants input stays registered, and when the socket
 * next turns readable stream_on_alloc refuses the input (libuv reports
 * UV_ENOBUFS without reading) and stream_on_read stops reading then.  Read
 * and answer (an echo, a request and its reply) wants input again before
 * the socket is readable, and each uv_read_stop / uv_read_start pair would
 * cost two epoll_ctl calls (libuv re-adds the fd, gets EEXIST, modifies).
 * Nothing is read without a reader either way. */
static int
stream_update_reading(tc_stream *s)
{
    int want = stream_wants_input(s);
    int rc;
    if (want && !s->reading) {
        rc = uv_read_start(s->uvs, stream_on_alloc, stream_on_read);
        if (rc < 0) {
            tc_raise_uv_error(rc);
            return -1;
        }
        s->reading = 1;
        if (!s->rooted) {
            /* Once it has read, a stream stays alive until its handle
             * closes, as a watched fd keeps asyncio's transports and
             * Tornado's IOStreams: a connection whose objects only refer
             * to one another (a websocket after its handler's request has
             * gone) must not be collected while the peer talks to it.
             * The reference passes to the handle's close callback. */
            Py_INCREF(s);
            s->rooted = 1;
        }
    }
    else if (!want && s->reading && (s->uvs == NULL || s->eof)) {
        stream_stop_reading(s); /* the end of the input (or of the handle) */
    }
    return 0;
}

static inline Py_ssize_t
stream_chunk(tc_stream *s)
{
    return s->read_chunk_size < TC_RECVBUF_SIZE ? s->read_chunk_size : TC_RECVBUF_SIZE;
}

/* A pending partial read of at least a chunk with nothing buffered: Tornado
 * would read one chunk and return all of it, so the data can go straight
 * from the socket into the result (inline and in on_alloc/on_read). */
static inline int
stream_direct_read_ok(tc_stream *s)
{
    return s->read_mode == RM_BYTES && s->read_partial && s->rbuf.len == 0 &&
           s->read_n >= stream_chunk(s);
}

static void
stream_on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    tc_loop *loop = (tc_loop *)h->loop->data;
    tc_stream *s = (tc_stream *)h->data;
    (void)suggested;
    if (s != NULL && !stream_wants_input(s)) {
        /* Nobody reads now: leave the data in the kernel (libuv reports
         * UV_ENOBUFS and stream_on_read stops reading). */
        buf->base = NULL;
        buf->len = 0;
        return;
    }
    if (s != NULL && s->write_queued > 0 && s->read_poll == loop->polls &&
        s->proto != NULL && s->proto->pace_reads) {
        /* libuv reads up to 32 times per readiness event; with writes
         * queued, one read per loop iteration lets them go out between
         * reads (as asyncio's loop does), while the data is still hot:
         * an asyncio echo moved twice the bytes per second with it.  (Not
         * for IOStream, whose read loop is Tornado's.) */
        s->read_deferred = 1;
        buf->base = NULL;
        buf->len = 0;
        return;
    }
    if (s != NULL && stream_direct_read_ok(s)) {
        PyObject *target;
        tc_loop_ensure_gil(loop);
        target = PyBytes_FromStringAndSize(NULL, stream_chunk(s));
        if (target != NULL) {
            Py_XSETREF(s->direct, target);
            buf->base = PyBytes_AS_STRING(target);
            buf->len = (size_t)PyBytes_GET_SIZE(target);
            return;
        }
        PyErr_Clear(); /* no memory for it: read through the loop buffer */
    }
    if (loop->recvbuf == NULL) {
        loop->recvbuf = PyMem_RawMalloc(TC_RECVBUF_SIZE);
    }
    buf->base = loop->recvbuf;
    buf->len = loop->recvbuf == NULL ? 0
               : s != NULL ? (size_t)stream_chunk(s) : TC_RECVBUF_SIZE;
}

/* The stream hit the end of its input. */
static void
stream_handle_eof(tc_stream *s)
{
    s->eof = 1;
    if (stream_update_reading(s) < 0) {
        stream_report_error(s, "tornado_c stream: could not stop reading");
    }
    if (s->read_mode == RM_CLOSE || (s->read_mode == RM_BYTES && s->read_partial)) {
        if (stream_try_read(s) < 0) {
            stream_report_error(s, "Exception resolving a tornado_c stream read");
        }
    }
    stream_emit_from_uv(s, SE_EOF, Py_NewRef(Py_None));
}

/* Decides, after a chunk was appended to the buffer, whether to look at the
 * pending read now — Tornado's read loop, so that what is read before a read
 * completes (and so where later reads split the data) is Tornado's: reading
 * goes on until the socket would block or the read's target size is
 * buffered, and the pending read is checked after the first chunk and then
 * each time the buffer has doubled.  Returns RR_DONE, RR_PENDING,
 * RR_FAILED, RR_FULL or -1. */
static int
stream_after_chunk(tc_stream *s)
{
    int rc;
    if (s->rbuf.len > s->max_buffer_size) {
        return RR_FULL;
    }
    if (s->read_mode == RM_NONE) {
        return RR_PENDING;
    }
    if (s->target >= 0 && s->rbuf.len >= s->target) {
        return stream_try_read(s);
    }
    if (s->rbuf.len >= s->next_find_pos) {
        rc = stream_try_read(s);
        if (rc != RR_PENDING) {
            return rc;
        }
        s->next_find_pos = s->rbuf.len * 2;
    }
    return RR_PENDING;
}

/* The socket has nothing more for now: the last look at the pending read of
 * this round (Tornado's loop ends with one), and the next round starts its
 * doubling afresh. */
static int
stream_after_drain(tc_stream *s)
{
    s->next_find_pos = 0;
    if (s->read_mode == RM_NONE) {
        return RR_PENDING;
    }
    return stream_try_read(s);
}

static void
stream_report_full(tc_stream *s)
{
    stream_clear_read(s);
    stream_emit_from_uv(s, SE_BUFFER_FULL,
                        PyUnicode_FromString("Reached maximum read buffer size"));
}

static void
stream_on_read(uv_stream_t *uvs, ssize_t nread, const uv_buf_t *buf)
{
    tc_stream *s = (tc_stream *)uvs->data;
    if (s == NULL) {
        return; /* orphaned: the Stream object is gone */
    }
    tc_loop_ensure_gil(s->loop);
    if (nread == UV_ENOBUFS && buf->len == 0 && !stream_wants_input(s)) {
        stream_stop_reading(s); /* the lazy stop (see stream_update_reading) */
        return;
    }
    if (nread == UV_ENOBUFS && s->read_deferred) {
        s->read_deferred = 0; /* read next iteration (see stream_on_alloc) */
        return;
    }
    if (nread > 0) {
        s->read_poll = s->loop->polls;
    }
    Py_INCREF(s);
    /* Replies held back for the end of this dispatch go now if they have
     * waited long enough (a slow callback earlier in the dispatch).  That
     * writes to other streams, whose failures run Python code (which may
     * close this one: what was read is then handled as after a close in a
     * callback). */
    (void)tc_loop_deferred_due(s->loop);
    if (s->direct != NULL && buf->base == PyBytes_AS_STRING(s->direct)) {
        PyObject *direct = s->direct;
        s->direct = NULL;
        if (nread > 0 && stream_direct_read_ok(s)) {
            if ((nread < PyBytes_GET_SIZE(direct) && _PyBytes_Resize(&direct, nread) < 0) ||
                stream_resolve(s, direct) < 0) {
                stream_report_error(s, "Exception resolving a tornado_c stream read");
            }
            goto done;
        }
        if (nread > 0 && tc_buf_append(&s->rbuf, buf->base, nread) < 0) {
            Py_DECREF(direct);
            stream_report_error(s, "tornado_c stream: out of memory");
            goto done;
        }
        Py_DECREF(direct);
        if (nread > 0) {
            nread = 0; /* appended already: go on as after a drained read */
        }
    }
    if (nread >= 0) {
        int rc;
        if (nread > 0 && s->proto != NULL && s->read_mode == RM_NONE &&
            s->rbuf.len == 0 && s->proto->on_direct != NULL) {
            /* The protocol may take the bytes where they landed. */
            Py_ssize_t used = s->proto->on_direct(s->proto_ctx, buf->base, nread);
            if (used > 0) {
                if (used < nread &&
                    tc_buf_append(&s->rbuf, buf->base + used, nread - used) < 0) {
                    stream_report_error(s, "tornado_c stream: out of memory");
                    goto done;
                }
                if (s->proto != NULL) {
                    s->proto_drained = (size_t)nread < buf->len || nread >= TC_CHUNK_SIZE;
                    s->proto->on_data(s->proto_ctx);
                }
                if (stream_update_reading(s) < 0) {
                    stream_report_error(s, "tornado_c stream: could not pause reading");
                }
                goto done;
            }
        }
        if (nread > 0) {
            if (tc_buf_append(&s->rbuf, buf->base, nread) < 0) {
                stream_report_error(s, "tornado_c stream: out of memory");
                goto done;
            }
            if (s->proto != NULL && s->read_mode == RM_NONE) {
                /* As Tornado's read loop: the protocol looks at the input
                 * once the socket is drained for now (a short read; libuv
                 * reports EAGAIN after a full one) or a chunk's worth (64
                 * KiB, Tornado's read target for a body piece) is buffered.
                 * It consumes what it can and reports its own errors; it
                 * may close the stream or detach itself. */
                if ((size_t)nread == buf->len && s->rbuf.len < TC_CHUNK_SIZE &&
                    s->rbuf.len < s->max_buffer_size) {
                    goto done;
                }
                s->proto_drained = (size_t)nread < buf->len;
                s->proto->on_data(s->proto_ctx);
                if (stream_update_reading(s) < 0) {
                    stream_report_error(s, "tornado_c stream: could not pause reading");
                }
                goto done;
            }
            rc = stream_after_chunk(s);
            /* A short read means the socket is drained for now; libuv ends
             * its read loop there without reporting EAGAIN. */
            if (rc == RR_PENDING && (size_t)nread < buf->len) {
                rc = stream_after_drain(s);
            }
        }
        else if (s->proto != NULL && s->read_mode == RM_NONE) {
            /* libuv's EAGAIN after full reads: the input is complete (some
             * of it may have been taken directly, see on_direct). */
            s->proto_drained = 1;
            s->proto->on_data(s->proto_ctx);
            if (stream_update_reading(s) < 0) {
                stream_report_error(s, "tornado_c stream: could not pause reading");
            }
            goto done;
        }
        else {
            rc = stream_after_drain(s); /* libuv's EAGAIN */
        }
        if (rc < 0) {
            stream_report_error(s, "Exception resolving a tornado_c stream read");
            goto done;
        }
        if (rc == RR_FULL && !s->closed) {
            stream_report_full(s);
        }
        else if (stream_update_reading(s) < 0) {
            stream_report_error(s, "tornado_c stream: could not pause reading");
        }
    }
    else if (nread == UV_EOF) {
        stream_handle_eof(s);
    }
    else if (nread < 0) {
        PyObject *exc;
        s->eof = 1;
        (void)stream_update_reading(s);
        tc_raise_uv_error((int)nread);
        exc = PyErr_GetRaisedException_compat();
        stream_emit_from_uv(s, SE_READ_ERROR, exc);
    }
done:
    Py_DECREF(s);
}

/* Reads what the kernel already holds, synchronously, as Tornado's inline
 * read does: until the pending read is satisfied, the socket would block,
 * or the buffer passes its limit.  Saves a trip through the poll when the
 * data is already there (a request body behind its headers, pipelining).
 * Returns RR_DONE, RR_PENDING, RR_FULL, RR_FAILED (end of stream or an
 * error, reported through on_event, which closes the stream) or -1. */
static int
stream_inline_read(tc_stream *s)
{
    uv_os_fd_t fd;
    char *buf;
    ssize_t n;

    if (s->uvs == NULL || s->eof) {
        return RR_PENDING;
    }
    /* Inline reads go through the caller's fd, as Tornado's recv_into on the
     * socket does: a socket closed behind the stream's back is noticed
     * (EBADF) instead of read on through libuv's duplicate. */
    if (s->fileobj != NULL && !PyLong_Check(s->fileobj)) {
        tc_state *st = stream_state(s);
        int userfd = tc_fileobj_to_fd(st, s->fileobj);
        if (userfd < 0) {
            if (!PyErr_ExceptionMatches(PyExc_ValueError)) {
                return -1;
            }
            PyErr_Clear();
            errno = EBADF;
            fd = -1;
            goto failed;
        }
        fd = userfd;
    }
    else if (uv_fileno((uv_handle_t *)s->uvs, &fd) < 0) {
        return RR_PENDING;
    }
    if (s->loop->recvbuf == NULL) {
        s->loop->recvbuf = PyMem_RawMalloc(TC_RECVBUF_SIZE);
        if (s->loop->recvbuf == NULL) {
            PyErr_NoMemory();
            return -1;
        }
    }
    buf = s->loop->recvbuf;
    {
        /* A partial read of at least a chunk, with nothing buffered (an
         * HTTP body relayed in chunk_size pieces, an echo loop): Tornado
         * would read one chunk and return all of it, so read it straight
         * into the result, saving two copies of every byte. */
        Py_ssize_t chunk = stream_chunk(s);
        if (stream_direct_read_ok(s)) {
            PyObject *result = PyBytes_FromStringAndSize(NULL, chunk);
            if (result == NULL) {
                return -1;
            }
            do {
                n = read(fd, PyBytes_AS_STRING(result), (size_t)chunk);
            } while (n < 0 && errno == EINTR);
            if (n > 0) {
                if (n < chunk && _PyBytes_Resize(&result, n) < 0) {
                    return -1;
                }
                return stream_resolve(s, result) < 0 ? -1 : RR_DONE;
            }
            Py_DECREF(result);
            if (n == 0) {
                goto eof;
            }
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                return stream_after_drain(s);
            }
            goto failed;
        }
    }
    for (;;) {
        int rc;
        n = read(fd, buf, (size_t)stream_chunk(s));
        if (n > 0) {
            if (tc_buf_append(&s->rbuf, buf, n) < 0) {
                return -1;
            }
            rc = stream_after_chunk(s);
            if (rc != RR_PENDING) {
                return rc;
            }
            if (n < stream_chunk(s)) {
                /* Short read: drained for now (saves the EAGAIN read). */
                return stream_after_drain(s);
            }
            continue;
        }
        if (n == 0) {
            goto eof;
        }
        if (errno == EINTR) {
            continue;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            return stream_after_drain(s);
        }
        goto failed;
    }
eof:
    s->eof = 1;
    (void)stream_update_reading(s);
    if (stream_emit(s, SE_EOF, Py_NewRef(Py_None)) < 0) {
        return -1;
    }
    return RR_FAILED;
failed:
    /* As Tornado: an inline read error is the caller's to raise (the
     * asynchronous path reports through on_event instead). */
    s->eof = 1;
    (void)stream_update_reading(s);
    PyErr_SetFromErrno(PyExc_OSError);
    Py_XSETREF(s->inline_error, PyErr_GetRaisedException_compat());
    stream_clear_read(s);
    return RR_ERROR;
}

/* Starts a read of the given mode: resolves it now if the buffer satisfies
 * it, else leaves it pending.  Returns an RR_* value or -1. */
static int
stream_start_read(tc_stream *s, PyObject *fut, int mode)
{
    int rc;
    if (s->read_mode != RM_NONE) {
        PyErr_SetString(PyExc_RuntimeError, "Already reading");
        return -1;
    }
    s->read_mode = (char)mode;
    s->read_future = Py_NewRef(fut);
    s->scan_pos = 0;
    s->next_find_pos = 0;
    switch (mode) {
    case RM_BYTES: s->target = s->read_n; break;
    case RM_INTO: s->target = s->into->len - s->into_filled; break;
    case RM_UNTIL:
    case RM_REGEX:
    case RM_HEADERS: s->target = s->read_n; break; /* max_bytes, or none */
    default: s->target = -1; break;
    }
    rc = stream_try_read(s);
    if (rc == RR_PENDING && s->rbuf.len <= s->max_buffer_size) {
        rc = stream_inline_read(s);
    }
    if (rc != RR_PENDING && rc != RR_FULL) {
        return rc;
    }
    if (s->rbuf.len > s->max_buffer_size) {
        stream_clear_read(s);
        return RR_FULL;
    }
    if (s->closed || s->eof) {
        stream_clear_read(s);
        return RR_CLOSED;
    }
    if (stream_update_reading(s) < 0) {
        stream_clear_read(s);
        return -1;
    }
    return RR_PENDING;
}

static PyObject *
stream_rr(int rc)
{
    return rc < 0 ? NULL : PyLong_FromLong(rc);
}

static Py_ssize_t
stream_parse_max(PyObject *o)
{
    Py_ssize_t v;
    if (o == Py_None) {
        return -1;
    }
    v = PyLong_AsSsize_t(o);
    if (v < 0 && !PyErr_Occurred()) {
        PyErr_SetString(PyExc_ValueError, "max_bytes must not be negative");
    }
    return v;
}

PyDoc_STRVAR(read_until_doc,
"read_until($self, future, delimiter, max_bytes)\n--\n\n"
"Resolve future with the bytes up to and including delimiter.  Returns 1 if\n"
"resolved now, 0 if pending, 2 if the stream is closed, 3 if unsatisfiable\n"
"(already reported through on_event).");

/* The common part of read_until and read_until_regex: checks the arguments
 * (future, what, max_bytes) and records the delimiter or regex.  0 / -1. */
static int
stream_prepare_until(tc_stream *s, PyObject *const *args, Py_ssize_t nargs,
                     int delimiter, const char *usage)
{
    Py_ssize_t max;
    if (nargs != 3 || (delimiter && (!PyBytes_Check(args[1]) ||
                                     PyBytes_GET_SIZE(args[1]) == 0))) {
        PyErr_SetString(PyExc_TypeError, usage);
        return -1;
    }
    max = stream_parse_max(args[2]);
    if (max < 0 && PyErr_Occurred()) {
        return -1;
    }
    if (s->read_mode != RM_NONE) {
        PyErr_SetString(PyExc_RuntimeError, "Already reading");
        return -1;
    }
    s->read_arg = Py_NewRef(args[1]);
    s->read_n = max;
    return 0;
}

static PyObject *
stream_read_until(tc_stream *s, PyObject *const *args, Py_ssize_t nargs)
{
    if (stream_prepare_until(s, args, nargs, 1,
                             "read_until(future, delimiter: non-empty bytes, max_bytes)") < 0) {
        return NULL;
    }
    return stream_rr(stream_start_read(s, args[0], RM_UNTIL));
}

/* Whether regex is re.compile(b"\r?\n\r?\n") (no flags): HTTP/1's end of
 * headers, which RM_HEADERS matches without calling into Python. */
static int
stream_is_header_regex(tc_stream *s, PyObject *regex)
{
    /* Both spellings compile to the same regex: the escapes written out
     * (rb"\\r?\\n\\r?\\n") or the CR and LF bytes themselves. */
    static const char escaped[] = "\\r?\\n\\r?\\n";
    static const char literal[] = "\r?\n\r?\n";
    tc_state *st = stream_state(s);
    PyObject *pattern, *flags;
    int yes = 0;

    /* The caller passes the same compiled object each time (re's cache):
     * recognise it once, then by identity. */
    if (st != NULL && regex == st->header_regex) {
        return 1;
    }
    pattern = PyObject_GetAttrString(regex, "pattern");
    flags = PyObject_GetAttrString(regex, "flags");
    if (pattern != NULL && flags != NULL && PyBytes_Check(pattern) &&
        PyLong_Check(flags) && PyLong_AsLong(flags) == 0) {
        const char *text = PyBytes_AS_STRING(pattern);
        Py_ssize_t n = PyBytes_GET_SIZE(pattern);
        yes = (n == (Py_ssize_t)sizeof(escaped) - 1 &&
               memcmp(text, escaped, sizeof(escaped) - 1) == 0) ||
              (n == (Py_ssize_t)sizeof(literal) - 1 &&
               memcmp(text, literal, sizeof(literal) - 1) == 0);
    }
    Py_XDECREF(pattern);
    Py_XDECREF(flags);
    PyErr_Clear();
    if (yes && st != NULL) {
        Py_INCREF(regex);
        Py_XSETREF(st->header_regex, regex);
    }
    return yes;
}

PyDoc_STRVAR(read_until_regex_doc,
"read_until_regex($self, future, regex, max_bytes)\n--\n\n"
"Resolve future with the bytes up to the end of the first match of the\n"
"compiled bytes regex.  Returns as read_until().");

static PyObject *
stream_read_until_regex(tc_stream *s, PyObject *const *args, Py_ssize_t nargs)
{
    if (stream_prepare_until(s, args, nargs, 0,
                             "read_until_regex(future, regex, max_bytes)") < 0) {
        return NULL;
    }
    return stream_rr(stream_start_read(s, args[0], stream_is_header_regex(s, args[1])
                                                       ? RM_HEADERS : RM_REGEX));
}

PyDoc_STRVAR(read_bytes_doc,
"read_bytes($self, future, num_bytes, partial)\n--\n\n"
"Resolve future with num_bytes bytes (with partial, with whatever is\n"
"available once anything is).  Returns as read_until().");

static PyObject *
stream_read_bytes(tc_stream *s, PyObject *const *args, Py_ssize_t nargs)
{
    Py_ssize_t n;
    int partial;
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "read_bytes(future, num_bytes, partial)");
        return NULL;
    }
    n = PyLong_AsSsize_t(args[1]);
    if (n < 0) {
        if (!PyErr_Occurred()) {
            PyErr_SetString(PyExc_ValueError, "num_bytes must not be negative");
        }
        return NULL;
    }
    partial = PyObject_IsTrue(args[2]);
    if (partial < 0) {
        return NULL;
    }
    if (s->read_mode != RM_NONE) {
        PyErr_SetString(PyExc_RuntimeError, "Already reading");
        return NULL;
    }
    s->read_n = n;
    s->read_partial = (char)partial;
    if (n == 0) {
        /* Nothing to wait for. */
        s->read_future = Py_NewRef(args[0]);
        s->read_mode = RM_BYTES;
        return stream_rr(stream_resolve(s, PyBytes_FromStringAndSize(NULL, 0)) < 0
                             ? -1 : RR_DONE);
    }
    return stream_rr(stream_start_read(s, args[0], RM_BYTES));
}

PyDoc_STRVAR(read_into_doc,
"read_into($self, future, buffer, partial)\n--\n\n"
"Fill the writable buffer; resolve future with the number of bytes written\n"
"(with partial, as soon as any are).  Returns as read_until().");

static PyObject *
stream_read_into(tc_stream *s, PyObject *const *args, Py_ssize_t nargs)
{
    int partial, rc;
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "read_into(future, buffer, partial)");
        return NULL;
    }
    partial = PyObject_IsTrue(args[2]);
    if (partial < 0) {
        return NULL;
    }
    if (s->read_mode != RM_NONE) {
        PyErr_SetString(PyExc_RuntimeError, "Already reading");
        return NULL;
    }
    /* Only a read_into holds a Py_buffer: it is not part of every stream. */
    assert(s->into == NULL);
    s->into = PyMem_Malloc(sizeof(Py_buffer));
    if (s->into == NULL) {
        return PyErr_NoMemory();
    }
    if (PyObject_GetBuffer(args[1], s->into, PyBUF_WRITABLE) < 0) {
        PyMem_Free(s->into);
        s->into = NULL;
        return NULL;
    }
    s->into_filled = 0;
    s->read_partial = (char)partial;
    if (s->into->len == 0) {
        s->read_future = Py_NewRef(args[0]);
        s->read_mode = RM_INTO;
        return stream_rr(stream_resolve(s, PyLong_FromLong(0)) < 0 ? -1 : RR_DONE);
    }
    rc = stream_start_read(s, args[0], RM_INTO);
    return stream_rr(rc);
}

PyDoc_STRVAR(read_until_close_doc,
"read_until_close($self, future)\n--\n\n"
"Resolve future with everything up to the end of the stream.");

static PyObject *
stream_read_until_close(tc_stream *s, PyObject *fut)
{
    return stream_rr(stream_start_read(s, fut, RM_CLOSE));
}

PyDoc_STRVAR(cancel_read_doc,
"cancel_read($self)\n--\n\n"
"Forget the pending read (its future is left to the caller).");

static PyObject *
stream_cancel_read(tc_stream *s, PyObject *Py_UNUSED(ignored))
{
    stream_clear_read(s);
    Py_RETURN_NONE;
}

PyDoc_STRVAR(take_buffer_doc,
"take_buffer($self, n=-1)\n--\n\n"
"Remove and return up to n buffered bytes (all of them by default).");

static PyObject *
stream_take_buffer(tc_stream *s, PyObject *const *args, Py_ssize_t nargs)
{
    Py_ssize_t n = s->rbuf.len;
    if (nargs > 0 && args[0] != Py_None) {
        Py_ssize_t want = PyLong_AsSsize_t(args[0]);
        if (want == -1 && PyErr_Occurred()) {
            return NULL;
        }
        if (want >= 0 && want < n) {
            n = want;
        }
    }
    return stream_take(s, n);
}

PyDoc_STRVAR(unread_doc,
"unread($self, data)\n--\n\n"
"Put bytes back in front of the buffered input, as if they had just been\n"
"read (the HTTP client's C fetch path hands a connection over with the\n"
"response bytes it has read).  Only while no read is pending.");

static PyObject *
stream_unread(tc_stream *s, PyObject *data)
{
    Py_buffer view;
    int rc;
    if (s->read_mode != RM_NONE) {
        PyErr_SetString(PyExc_RuntimeError, "unread() while a read is pending");
        return NULL;
    }
    if (PyObject_GetBuffer(data, &view, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    rc = tc_buf_prepend(&s->rbuf, view.buf, view.len);
    PyBuffer_Release(&view);
    if (rc < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

PyDoc_STRVAR(take_error_doc,
"take_error($self)\n--\n\n"
"Return (and forget) the OSError of the last READ_ERROR result, or None.");

static PyObject *
stream_take_error(tc_stream *s, PyObject *Py_UNUSED(ignored))
{
    PyObject *e = s->inline_error;
    s->inline_error = NULL;
    return e != NULL ? e : Py_NewRef(Py_None);
}

PyDoc_STRVAR(peek_doc, "peek($self)\n--\n\nReturn the buffered bytes without consuming them.");

static PyObject *
stream_peek(tc_stream *s, PyObject *Py_UNUSED(ignored))
{
    return PyBytes_FromStringAndSize(tc_buf_head(&s->rbuf), s->rbuf.len);
}

/* ---------------------------------------------------------------- writes */

static void
stream_on_write(uv_write_t *req, int status)
{
    stream_write_req *wr = (stream_write_req *)req;
    tc_stream *s = (tc_stream *)req->handle->data;
    tc_loop *loop = (tc_loop *)req->handle->loop->data;

    tc_loop_ensure_gil(loop);
    PyBuffer_Release(&wr->view);
    PyMem_RawFree(wr->extra);
    if (s != NULL) {
        s->write_queued -= wr->len;
        if (status >= 0) {
            s->write_reqs_done++;
        }
    }
    PyMem_RawFree(wr);
    if (s == NULL || s->closed) {
        return;
    }
    Py_INCREF(s);
    if (status < 0) {
        if (status != UV_ECANCELED) {
            PyObject *exc;
            tc_raise_uv_error(status);
            exc = PyErr_GetRaisedException_compat();
            stream_emit_from_uv(s, SE_WRITE_ERROR, exc);
        }
    }
    else if (s->write_queued == 0) {
        stream_emit_from_uv(s, SE_DRAIN, Py_NewRef(Py_None));
        if (s->proto != NULL && !s->closed) {
            s->proto->on_drain(s->proto_ctx);
        }
    }
    else {
        /* One write is out in full, later ones are not: as Tornado's, its
         * future resolves now, not once the whole queue is written. */
        stream_emit_from_uv(s, SE_WRITTEN, PyLong_FromLongLong(s->write_reqs_done));
        if (s->proto != NULL && !s->closed && s->proto->on_written != NULL) {
            s->proto->on_written(s->proto_ctx);
        }
    }
    Py_DECREF(s);
}

/* ------------------------------------------------------------ connecting */

static void
stream_on_connect(uv_connect_t *req, int status)
{
    tc_stream *s = (tc_stream *)req->handle->data;
    tc_loop *loop = (tc_loop *)req->handle->loop->data;

    tc_loop_ensure_gil(loop);
    PyMem_RawFree(req);
    /* A stream closed meanwhile (status UV_ECANCELED) has nobody to tell. */
    if (s == NULL || s->closed) {
        return;
    }
    Py_INCREF(s);
    stream_emit_from_uv(s, SE_CONNECT, PyLong_FromLong(status));
    Py_DECREF(s);
}

PyDoc_STRVAR(connect_doc,
"connect($self, family, host, port, flowinfo=0, scope_id=0)\n--\n\n"
"Connect the stream's unconnected TCP socket to a numeric address (family\n"
"AF_INET or AF_INET6).  The outcome comes as on_event(CONNECT, status):\n"
"0, or a negative libuv error code.  An immediate failure raises OSError.\n"
"Returns NotImplemented when host is not a numeric address of the family\n"
"(the caller then connects some other way).");

static PyObject *
stream_connect(tc_stream *s, PyObject *args)
{
    PyObject *hostobj;
    const char *host;
    Py_ssize_t hostlen;
    int family, port, rc;
    unsigned int flowinfo = 0, scope_id = 0;
    struct sockaddr_storage addr;
    uv_connect_t *req;

    if (!PyArg_ParseTuple(args, "iUi|II:connect", &family, &hostobj, &port, &flowinfo,
                          &scope_id)) {
        return NULL;
    }
    if (s->uvs == NULL || s->kind != 0) {
        PyErr_SetString(PyExc_ValueError, "connect() needs an open TCP stream");
        return NULL;
    }
    /* Anything socket.connect would reject or resolve goes that way. */
    host = PyUnicode_AsUTF8AndSize(hostobj, &hostlen);
    if (host == NULL) {
        PyErr_Clear();
        Py_RETURN_NOTIMPLEMENTED;
    }
    if ((Py_ssize_t)strlen(host) != hostlen || port < 0 || port > 65535 ||
        flowinfo > 0xfffff) {
        Py_RETURN_NOTIMPLEMENTED;
    }
    memset(&addr, 0, sizeof addr);
    if (family == AF_INET) {
        if (uv_ip4_addr(host, port, (struct sockaddr_in *)&addr) != 0) {
            Py_RETURN_NOTIMPLEMENTED;
        }
    }
    else if (family == AF_INET6) {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&addr;
        if (strchr(host, '%') != NULL || uv_ip6_addr(host, port, in6) != 0) {
            Py_RETURN_NOTIMPLEMENTED;
        }
        in6->sin6_flowinfo = htonl(flowinfo);
        in6->sin6_scope_id = scope_id;
    }
    else {
        Py_RETURN_NOTIMPLEMENTED;
    }
    req = PyMem_RawMalloc(sizeof *req);
    if (req == NULL) {
        return PyErr_NoMemory();
    }
    rc = uv_tcp_connect(req, (uv_tcp_t *)s->uvs, (const struct sockaddr *)&addr,
                        stream_on_connect);
    if (rc < 0) {
        PyMem_RawFree(req);
        return tc_raise_uv_error(rc);
    }
    Py_RETURN_NONE;
}

PyDoc_STRVAR(write_doc,
"write($self, data)\n--\n\n"
"Write a bytes-like object: as much as possible now, the rest queued.\n"
"Returns the number of bytes still queued on the stream afterwards; when\n"
"it reaches zero again on_event(DRAIN) is called.");

static PyObject *
stream_write(tc_stream *s, PyObject *data)
{
    Py_ssize_t queued = tc_stream_write(s, data);
    return queued < 0 ? NULL : PyLong_FromSsize_t(queued);
}

/* Starts the write request wr (its view, extra and len set) for bufs; on
 * failure frees it.  Returns what tc_stream_write returns. */
static Py_ssize_t
stream_submit(tc_stream *s, stream_write_req *wr, const uv_buf_t *bufs, unsigned int nb)
{
    int rc = uv_write(&wr->req, s->uvs, bufs, nb, stream_on_write);
    if (rc < 0) {
        PyBuffer_Release(&wr->view);
        PyMem_RawFree(wr->extra);
        PyMem_RawFree(wr);
        tc_raise_uv_error(rc);
        return -1;
    }
    s->write_queued += wr->len;
    s->write_reqs++;
    return s->write_queued;
}

/* As much of bufs as the socket takes now, when nothing is queued before
 * it (uv_try_write): the bytes written (0 when it would block or writes are
 * queued), or -1 with the OSError set. */
static Py_ssize_t
stream_try_write(tc_stream *s, const uv_buf_t *bufs, unsigned int nb)
{
    int rc;
    if (s->write_queued != 0) {
        return 0;
    }
    rc = uv_try_write(s->uvs, bufs, nb);
    if (rc >= 0) {
        return rc;
    }
    if (rc == UV_EAGAIN || rc == UV_ENOSYS) {
        return 0;
    }
    tc_raise_uv_error(rc);
    return -1;
}

Py_ssize_t
tc_stream_write(tc_stream *s, PyObject *data)
{
    Py_buffer view;
    Py_ssize_t written = 0;
    stream_write_req *wr;
    uv_buf_t buf;

    if (s->uvs == NULL) {
        PyErr_SetString(PyExc_OSError, "write to a closed stream");
        return -1;
    }
    if (PyObject_GetBuffer(data, &view, PyBUF_SIMPLE) < 0) {
        return -1;
    }
    if (view.len == 0) {
        PyBuffer_Release(&view);
        return s->write_queued;
    }
    buf = uv_buf_init(view.buf, (unsigned int)(view.len > UINT32_MAX ? UINT32_MAX : view.len));
    written = stream_try_write(s, &buf, 1);
    if (written < 0 || written == view.len) {
        PyBuffer_Release(&view);
        return written < 0 ? -1 : 0;
    }
    wr = PyMem_RawMalloc(sizeof(stream_write_req));
    if (wr == NULL) {
        PyBuffer_Release(&view);
        PyErr_NoMemory();
        return -1;
    }
    wr->view = view;
    wr->extra = NULL;
    wr->len = view.len - written;
    buf = uv_buf_init((char *)view.buf + written, (unsigned int)wr->len);
    return stream_submit(s, wr, &buf, 1);
}

Py_ssize_t
tc_stream_write_framed(tc_stream *s, const char *head, Py_ssize_t hn, PyObject *body,
                       const char *tail, Py_ssize_t tn)
{
    Py_ssize_t bn = PyBytes_GET_SIZE(body), total = hn + bn + tn, written = 0;
    Py_ssize_t hl, bl, tl;
    stream_write_req *wr;
    uv_buf_t bufs[3];
    unsigned int nb = 0;

    if (s->uvs == NULL) {
        PyErr_SetString(PyExc_OSError, "write to a closed stream");
        return -1;
    }
    if (bn > UINT32_MAX || hn > UINT32_MAX || tn > UINT32_MAX) {
        PyErr_SetString(PyExc_OverflowError, "write too large");
        return -1;
    }
    if (hn > 0) {
        bufs[nb++] = uv_buf_init((char *)head, (unsigned int)hn);
    }
    bufs[nb++] = uv_buf_init(PyBytes_AS_STRING(body), (unsigned int)bn);
    if (tn > 0) {
        bufs[nb++] = uv_buf_init((char *)tail, (unsigned int)tn);
    }
    written = stream_try_write(s, bufs, nb);
    if (written < 0 || written == total) {
        return written < 0 ? -1 : 0;
    }
    /* What is left goes out as one request, as a single write would: the
     * head's and tail's remainders copied, the body's referenced. */
    hl = written < hn ? hn - written : 0;
    bl = written <= hn ? bn : (written < hn + bn ? hn + bn - written : 0);
    tl = total - written - hl - bl;
    wr = PyMem_RawMalloc(sizeof(stream_write_req));
    if (wr == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    wr->extra = NULL;
    wr->view.obj = NULL;
    if (hl + tl > 0) {
        wr->extra = PyMem_RawMalloc((size_t)(hl + tl));
        if (wr->extra == NULL) {
            PyMem_RawFree(wr);
            PyErr_NoMemory();
            return -1;
        }
        if (hl > 0) {
            memcpy(wr->extra, head + hn - hl, (size_t)hl);
        }
        if (tl > 0) {
            memcpy(wr->extra + hl, tail + tn - tl, (size_t)tl);
        }
    }
    if (PyObject_GetBuffer(body, &wr->view, PyBUF_SIMPLE) < 0) {
        PyMem_RawFree(wr->extra);
        PyMem_RawFree(wr);
        return -1;
    }
    nb = 0;
    if (hl > 0) {
        bufs[nb++] = uv_buf_init(wr->extra, (unsigned int)hl);
    }
    if (bl > 0) {
        bufs[nb++] = uv_buf_init(PyBytes_AS_STRING(body) + bn - bl, (unsigned int)bl);
    }
    if (tl > 0) {
        bufs[nb++] = uv_buf_init(wr->extra + hl, (unsigned int)tl);
    }
    wr->len = total - written;
    return stream_submit(s, wr, bufs, nb);
}

/* ------------------------------------------------------------- lifecycle */

static void
stream_link(tc_stream *s)
{
    s->prev = NULL;
    s->next = s->loop->streams;
    if (s->next != NULL) {
        s->next->prev = s;
    }
    s->loop->streams = s;
}

static void
stream_unlink(tc_stream *s)
{
    if (s->prev != NULL) {
        s->prev->next = s->next;
    }
    else if (s->loop != NULL && s->loop->streams == s) {
        s->loop->streams = s->next;
    }
    if (s->next != NULL) {
        s->next->prev = s->prev;
    }
    s->next = s->prev = NULL;
}

static void
stream_on_handle_closed(uv_handle_t *h)
{
    tc_loop *loop = (tc_loop *)h->loop->data;
    PyObject *root = (PyObject *)h->data;
    tc_loop_ensure_gil(loop);
    tc_loop_on_handle_closed(h);
    PyMem_RawFree(h);
    Py_XDECREF(root);
}

/* Closes the libuv handle (the duplicate fd with it).  The buffer stays:
 * Tornado lets buffered data be read after a close. */
static void
stream_close_handle(tc_stream *s)
{
    uv_stream_t *uvs = s->uvs;
    if (uvs == NULL) {
        return;
    }
    s->uvs = NULL;
    s->closed = 1;
    s->reading = 0;
    stream_unlink(s);
    /* The close callback gets the stream's reference to itself, if any
     * (callbacks of a closed handle check s->closed); else nothing. */
    uvs->data = s->rooted ? (void *)s : NULL;
    s->rooted = 0;
    uv_close((uv_handle_t *)uvs, stream_on_handle_closed);
}

void
tc_stream_close_all(tc_loop *loop)
{
    while (loop->streams != NULL) {
        stream_close_handle(loop->streams);
    }
}

static PyObject *
stream_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"loop", "fd", "kind", "on_event", "max_buffer_size",
                             "read_chunk_size", NULL};
    tc_state *st = tc_state_from_type(type);
    PyObject *loop, *fdobj, *on_event = Py_None;
    int kind = 0, fd, dupfd, rc;
    Py_ssize_t max_buffer_size = 104857600;
    Py_ssize_t read_chunk_size = TC_CHUNK_SIZE;
    tc_stream *s;

    if (st == NULL) {
        return NULL;
    }
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OO|iOnn:Stream", kwlist, &loop,
                                     &fdobj, &kind, &on_event, &max_buffer_size,
                                     &read_chunk_size)) {
        return NULL;
    }
    if (read_chunk_size < 1) {
        PyErr_SetString(PyExc_ValueError, "read_chunk_size must be positive");
        return NULL;
    }
    if (!PyObject_TypeCheck(loop, st->LoopType)) {
        PyErr_SetString(PyExc_TypeError, "Stream needs a tornado_c native loop");
        return NULL;
    }
    if (((tc_loop *)loop)->closed || !((tc_loop *)loop)->uv_open) {
        PyErr_SetString(PyExc_RuntimeError, "Event loop is closed");
        return NULL;
    }
    if (kind != 0 && kind != 1) {
        PyErr_SetString(PyExc_ValueError, "kind must be 0 (tcp) or 1 (pipe)");
        return NULL;
    }
    fd = tc_fileobj_to_fd(st, fdobj);
    if (fd < 0) {
        return NULL;
    }
    s = (tc_stream *)type->tp_alloc(type, 0);
    if (s == NULL) {
        return NULL;
    }
    s->loop = (tc_loop *)Py_NewRef(loop);
    stream_store_on_event(s, on_event);
    s->fileobj = Py_NewRef(fdobj);
    s->max_buffer_size = max_buffer_size;
    s->read_chunk_size = read_chunk_size;
    s->kind = (char)kind;
    s->nodelay_wanted = -1;
    s->nodelay_applied = -1;
    dupfd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (dupfd < 0) {
        PyErr_SetFromErrno(PyExc_OSError);
        Py_DECREF(s);
        return NULL;
    }
    s->uvs = PyMem_RawMalloc(kind == 0 ? sizeof(uv_tcp_t) : sizeof(uv_pipe_t));
    if (s->uvs == NULL) {
        close(dupfd);
        Py_DECREF(s);
        return PyErr_NoMemory();
    }
    if (kind == 0) {
        rc = uv_tcp_init(&s->loop->uvloop, (uv_tcp_t *)s->uvs);
    }
    else {
        rc = uv_pipe_init(&s->loop->uvloop, (uv_pipe_t *)s->uvs, 0);
    }
    if (rc < 0) {
        close(dupfd);
        PyMem_RawFree(s->uvs);
        s->uvs = NULL;
        Py_DECREF(s);
        return tc_raise_uv_error(rc);
    }
    tc_loop_handle_opened(s->loop);
    s->uvs->data = s;
    stream_link(s);
    if (kind == 0) {
        rc = uv_tcp_open((uv_tcp_t *)s->uvs, dupfd);
    }
    else {
        rc = uv_pipe_open((uv_pipe_t *)s->uvs, dupfd);
    }
    if (rc < 0) {
        close(dupfd);
        stream_close_handle(s);
        Py_DECREF(s);
        return tc_raise_uv_error(rc);
    }
    if (stream_update_reading(s) < 0) {
        stream_close_handle(s);
        Py_DECREF(s);
        return NULL;
    }
    return (PyObject *)s;
}

PyDoc_STRVAR(close_doc,
"close($self)\n--\n\n"
"Close the libuv handle and its fd (the caller's fd stays open).  A pending\n"
"read the buffer satisfies is resolved; any other pending read is dropped.\n"
"Buffered data can still be read afterwards.");

static PyObject *
stream_close(tc_stream *s, PyObject *Py_UNUSED(ignored))
{
    if (s->proto != NULL && s->proto->on_close != NULL && tc_stream_is_open(s)) {
        s->proto->on_close(s->proto_ctx);
    }
    stream_close_handle(s);
    /* As Tornado's close(): a pending read that the buffered data satisfies
     * completes (read_until_close gets everything); any other is dropped
     * here and failed by the caller. */
    if (s->read_mode != RM_NONE) {
        /* Silently: an unsatisfiable read at close is simply dropped (no
         * event re-entering the caller's close). */
        PyObject *cb = s->on_event;
        int rc;
        s->on_event = NULL;
        rc = stream_try_read(s);
        s->on_event = cb;
        if (rc < 0) {
            return NULL;
        }
        if (rc == RR_PENDING) {
            stream_clear_read(s);
        }
    }
    Py_RETURN_NONE;
}

/* Sets TCP_NODELAY to the wanted state, unless this stream set it to that
 * state last (HTTP/1 connections switch it at every message).  0, or -1
 * with OSError set (a socket going away underneath — EINVAL, ECONNRESET —
 * is not an error). */
static int
stream_apply_nodelay(tc_stream *s)
{
    int rc;
    if (s->uvs == NULL || s->kind != 0 || s->nodelay_wanted < 0 ||
        s->nodelay_applied == s->nodelay_wanted) {
        return 0;
    }
    rc = uv_tcp_nodelay((uv_tcp_t *)s->uvs, s->nodelay_wanted);
    if (rc < 0) {
        s->nodelay_applied = -1;
        if (rc != UV_EINVAL && rc != UV_ECONNRESET) {
            tc_raise_uv_error(rc);
            return -1;
        }
        return 0;
    }
    s->nodelay_applied = s->nodelay_wanted;
    return 0;
}

/* Applied at once, as Tornado's set_nodelay does (callers may read the
 * socket option back). */
static PyObject *
stream_set_nodelay(tc_stream *s, PyObject *value)
{
    int on = PyObject_IsTrue(value);
    if (on < 0) {
        return NULL;
    }
    s->nodelay_wanted = (signed char)on;
    if (stream_apply_nodelay(s) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *
stream_fileno(tc_stream *s, PyObject *Py_UNUSED(ignored))
{
    uv_os_fd_t fd;
    if (s->uvs == NULL || uv_fileno((uv_handle_t *)s->uvs, &fd) < 0) {
        return PyLong_FromLong(-1);
    }
    return PyLong_FromLong(fd);
}

static void
stream_finalize(tc_stream *s)
{
    PyObject *exc;
    if (s->uvs == NULL) {
        return;
    }
    exc = PyErr_GetRaisedException_compat_or_null();
    if (PyErr_WarnFormat(PyExc_ResourceWarning, 1, "unclosed native stream %R",
                         (PyObject *)s) < 0) {
        PyErr_WriteUnraisable((PyObject *)s);
    }
    stream_close_handle(s);
    if (exc != NULL) {
        PyErr_SetRaisedException_compat(exc);
    }
}

static int
stream_traverse(tc_stream *s, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(s));
    Py_VISIT(s->loop);
    Py_VISIT(s->read_future);
    Py_VISIT(s->read_arg);
    Py_VISIT(s->on_event);
    Py_VISIT(s->on_event_self);
    Py_VISIT(s->fileobj);
    Py_VISIT(s->inline_error);
    Py_VISIT(s->direct);
    if (s->into != NULL) {
        Py_VISIT(s->into->obj);
    }
    return 0;
}

static int
stream_clear(tc_stream *s)
{
    stream_clear_read(s);
    Py_CLEAR(s->on_event);
    Py_CLEAR(s->on_event_self);
    Py_CLEAR(s->fileobj);
    Py_CLEAR(s->inline_error);
    Py_CLEAR(s->direct);
    return 0;
}

static void
stream_dealloc(tc_stream *s)
{
    PyTypeObject *tp = Py_TYPE(s);
    if (PyObject_CallFinalizerFromDealloc((PyObject *)s) < 0) {
        return; /* resurrected */
    }
    PyObject_GC_UnTrack(s);
    stream_close_handle(s);
    stream_clear(s);
    tc_buf_free(&s->rbuf);
    Py_CLEAR(s->loop);
    tp->tp_free((PyObject *)s);
    Py_DECREF(tp);
}

static PyObject *
stream_get_read_buffer_size(tc_stream *s, void *Py_UNUSED(c))
{
    return PyLong_FromSsize_t(s->rbuf.len);
}

static PyObject *
stream_get_write_buffer_size(tc_stream *s, void *Py_UNUSED(c))
{
    return PyLong_FromSsize_t(s->write_queued);
}

static PyObject *
stream_get_write_reqs(tc_stream *s, void *Py_UNUSED(c))
{
    return PyLong_FromLongLong(s->write_reqs);
}

static PyObject *
stream_get_closed(tc_stream *s, void *Py_UNUSED(c))
{
    return PyBool_FromLong(s->uvs == NULL);
}

static PyObject *
stream_get_eof(tc_stream *s, void *Py_UNUSED(c))
{
    return PyBool_FromLong(s->eof);
}

static PyObject *
stream_get_reading(tc_stream *s, void *Py_UNUSED(c))
{
    return PyBool_FromLong(s->read_mode != RM_NONE);
}

/* (kind, argument, count, partial) of the pending read, or None: what the
 * Python path needs to carry on with it (IOStream._demote_reading). */
static PyObject *
stream_get_pending_read(tc_stream *s, void *Py_UNUSED(c))
{
    const char *kind;
    PyObject *count;
    switch (s->read_mode) {
    case RM_UNTIL: kind = "until"; break;
    case RM_REGEX:
    case RM_HEADERS: kind = "regex"; break;
    case RM_BYTES: kind = "bytes"; break;
    case RM_INTO: kind = "into"; break;
    case RM_CLOSE: kind = "close"; break;
    default: Py_RETURN_NONE;
    }
    count = s->read_n >= 0 && s->read_mode != RM_CLOSE && s->read_mode != RM_INTO
                ? PyLong_FromSsize_t(s->read_n)
                : Py_NewRef(Py_None);
    if (count == NULL) {
        return NULL;
    }
    return Py_BuildValue("(sONO)", kind, s->read_arg != NULL ? s->read_arg : Py_None, count,
                         s->read_partial ? Py_True : Py_False);
}

static PyObject *
stream_get_max_buffer_size(tc_stream *s, void *Py_UNUSED(c))
{
    return PyLong_FromSsize_t(s->max_buffer_size);
}

static int
stream_set_max_buffer_size(tc_stream *s, PyObject *v, void *Py_UNUSED(c))
{
    Py_ssize_t n;
    if (v == NULL) {
        PyErr_SetString(PyExc_AttributeError, "cannot delete max_buffer_size");
        return -1;
    }
    n = PyLong_AsSsize_t(v);
    if (n == -1 && PyErr_Occurred()) {
        return -1;
    }
    s->max_buffer_size = n;
    return stream_update_reading(s);
}

static PyObject *
stream_get_read_chunk_size(tc_stream *s, void *Py_UNUSED(c))
{
    return PyLong_FromSsize_t(s->read_chunk_size);
}

static int
stream_set_read_chunk_size(tc_stream *s, PyObject *v, void *Py_UNUSED(c))
{
    Py_ssize_t n;
    if (v == NULL) {
        PyErr_SetString(PyExc_AttributeError, "cannot delete read_chunk_size");
        return -1;
    }
    n = PyLong_AsSsize_t(v);
    if (n == -1 && PyErr_Occurred()) {
        return -1;
    }
    if (n < 1) {
        PyErr_SetString(PyExc_ValueError, "read_chunk_size must be positive");
        return -1;
    }
    s->read_chunk_size = n;
    return 0;
}

static PyObject *
stream_get_on_event(tc_stream *s, void *Py_UNUSED(c))
{
    if (s->on_event != NULL && s->on_event_self != NULL) {
        return PyMethod_New(s->on_event, s->on_event_self);
    }
    return Py_NewRef(s->on_event ? s->on_event : Py_None);
}

static int
stream_set_on_event(tc_stream *s, PyObject *v, void *Py_UNUSED(c))
{
    stream_store_on_event(s, v);
    return 0;
}

static PyObject *
stream_get_watch_close(tc_stream *s, void *Py_UNUSED(c))
{
    return PyBool_FromLong(s->watch_close);
}

static int
stream_set_watch_close(tc_stream *s, PyObject *v, void *Py_UNUSED(c))
{
    int on;
    if (v == NULL) {
        PyErr_SetString(PyExc_AttributeError, "cannot delete watch_close");
        return -1;
    }
    on = PyObject_IsTrue(v);
    if (on < 0) {
        return -1;
    }
    s->watch_close = (char)on;
    return stream_update_reading(s);
}

static PyGetSetDef stream_getset[] = {
    {"watch_close", (getter)stream_get_watch_close, (setter)stream_set_watch_close,
     PyDoc_STR("Read while idle (buffer empty) to notice a peer close."), NULL},
    {"read_buffer_size", (getter)stream_get_read_buffer_size, NULL,
     PyDoc_STR("Bytes buffered and not yet consumed by a read."), NULL},
    {"write_buffer_size", (getter)stream_get_write_buffer_size, NULL,
     PyDoc_STR("Bytes queued for writing."), NULL},
    {"write_reqs", (getter)stream_get_write_reqs, NULL,
     PyDoc_STR("How many writes have been queued so far (on_event(WRITTEN, n)\n"
               "reports the first n of them written in full)."), NULL},
    {"closed", (getter)stream_get_closed, NULL,
     PyDoc_STR("True once the libuv handle is closed."), NULL},
    {"eof", (getter)stream_get_eof, NULL,
     PyDoc_STR("True once the peer closed its side (or a read failed)."), NULL},
    {"reading", (getter)stream_get_reading, NULL,
     PyDoc_STR("True while a read is pending."), NULL},
    {"pending_read", (getter)stream_get_pending_read, NULL,
     PyDoc_STR("(kind, argument, count, partial) of the pending read, or None."), NULL},
    {"max_buffer_size", (getter)stream_get_max_buffer_size,
     (setter)stream_set_max_buffer_size, NULL, NULL},
    {"read_chunk_size", (getter)stream_get_read_chunk_size,
     (setter)stream_set_read_chunk_size,
     PyDoc_STR("At most this many bytes per read from the fd."), NULL},
    {"on_event", (getter)stream_get_on_event, (setter)stream_set_on_event, NULL, NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyMethodDef stream_methods[] = {
    {"connect", (PyCFunction)stream_connect, METH_VARARGS, connect_doc},
    {"read_until", (PyCFunction)(void (*)(void))stream_read_until, METH_FASTCALL,
     read_until_doc},
    {"read_until_regex", (PyCFunction)(void (*)(void))stream_read_until_regex,
     METH_FASTCALL, read_until_regex_doc},
    {"read_bytes", (PyCFunction)(void (*)(void))stream_read_bytes, METH_FASTCALL,
     read_bytes_doc},
    {"read_into", (PyCFunction)(void (*)(void))stream_read_into, METH_FASTCALL,
     read_into_doc},
    {"read_until_close", (PyCFunction)stream_read_until_close, METH_O,
     read_until_close_doc},
    {"cancel_read", (PyCFunction)stream_cancel_read, METH_NOARGS, cancel_read_doc},
    {"take_buffer", (PyCFunction)(void (*)(void))stream_take_buffer, METH_FASTCALL,
     take_buffer_doc},
    {"unread", (PyCFunction)stream_unread, METH_O, unread_doc},
    {"peek", (PyCFunction)stream_peek, METH_NOARGS, peek_doc},
    {"take_error", (PyCFunction)stream_take_error, METH_NOARGS, take_error_doc},
    {"write", (PyCFunction)stream_write, METH_O, write_doc},
    {"close", (PyCFunction)stream_close, METH_NOARGS, close_doc},
    {"set_nodelay", (PyCFunction)stream_set_nodelay, METH_O,
     PyDoc_STR("Set TCP_NODELAY on or off (no-op for pipes).")},
    {"fileno", (PyCFunction)stream_fileno, METH_NOARGS,
     PyDoc_STR("The fd libuv uses (a duplicate of the one given), -1 if closed.")},
    {NULL, NULL, 0, NULL},
};

PyDoc_STRVAR(stream_doc,
"Stream(loop, fd, kind=0, on_event=None, max_buffer_size=104857600,\n"
"       read_chunk_size=65536)\n--\n\n"
"The native engine of an IOStream: a libuv TCP (kind 0) or pipe (kind 1)\n"
"stream on a duplicate of fd, with a C read buffer and write queue.");

static PyType_Slot stream_slots[] = {
    {Py_tp_doc, (void *)stream_doc},
    {Py_tp_new, stream_new},
    {Py_tp_dealloc, stream_dealloc},
    {Py_tp_finalize, stream_finalize},
    {Py_tp_traverse, stream_traverse},
    {Py_tp_clear, stream_clear},
    {Py_tp_methods, stream_methods},
    {Py_tp_getset, stream_getset},
    {0, NULL},
};

static PyType_Spec stream_spec = {
    .name = "tornado_c._core.Stream",
    .basicsize = sizeof(tc_stream),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = stream_slots,
};

int
tc_stream_type_init(PyObject *module, tc_state *st)
{
    st->StreamType = (PyTypeObject *)PyType_FromModuleAndSpec(module, &stream_spec, NULL);
    if (st->StreamType == NULL) {
        return -1;
    }
    if (PyModule_AddObjectRef(module, "Stream", (PyObject *)st->StreamType) < 0) {
        return -1;
    }
#define ADD_INT(name, value)                                     \
    if (PyModule_AddIntConstant(module, name, value) < 0) {      \
        return -1;                                               \
    }
    ADD_INT("STREAM_UNSATISFIABLE", SE_UNSATISFIABLE);
    ADD_INT("STREAM_BUFFER_FULL", SE_BUFFER_FULL);
    ADD_INT("STREAM_EOF", SE_EOF);
    ADD_INT("STREAM_READ_ERROR", SE_READ_ERROR);
    ADD_INT("STREAM_WRITE_ERROR", SE_WRITE_ERROR);
    ADD_INT("STREAM_DRAIN", SE_DRAIN);
    ADD_INT("STREAM_WRITTEN", SE_WRITTEN);
    ADD_INT("STREAM_CONNECT", SE_CONNECT);
    ADD_INT("READ_PENDING", RR_PENDING);
    ADD_INT("READ_DONE", RR_DONE);
    ADD_INT("READ_CLOSED", RR_CLOSED);
    ADD_INT("READ_FAILED", RR_FAILED);
    ADD_INT("READ_FULL", RR_FULL);
    ADD_INT("READ_ERROR", RR_ERROR);
#undef ADD_INT
    return 0;
}

/* ------------------------------------------------- the C protocol hook */

Py_ssize_t
tc_stream_write_raw(tc_stream *s, const char *p, Py_ssize_t n)
{
    Py_ssize_t written;
    uv_buf_t buf;
    stream_write_req *wr;
    if (s->uvs == NULL) {
        PyErr_SetString(PyExc_OSError, "write to a closed stream");
        return -1;
    }
    if (n == 0) {
        return s->write_queued;
    }
    if (n > UINT32_MAX) {
        PyErr_SetString(PyExc_OverflowError, "write too large");
        return -1;
    }
    buf = uv_buf_init((char *)p, (unsigned int)n);
    written = stream_try_write(s, &buf, 1);
    if (written < 0 || written == n) {
        return written < 0 ? -1 : 0;
    }
    /* The remainder is copied into the request (as a framed write's head). */
    wr = PyMem_RawMalloc(sizeof(stream_write_req));
    if (wr == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    wr->view.obj = NULL;
    wr->len = n - written;
    wr->extra = PyMem_RawMalloc((size_t)wr->len);
    if (wr->extra == NULL) {
        PyMem_RawFree(wr);
        PyErr_NoMemory();
        return -1;
    }
    memcpy(wr->extra, p + written, (size_t)wr->len);
    buf = uv_buf_init(wr->extra, (unsigned int)wr->len);
    return stream_submit(s, wr, &buf, 1);
}

int
tc_stream_check(tc_state *st, PyObject *o)
{
    return PyObject_TypeCheck(o, st->StreamType);
}

void
tc_stream_attach(tc_stream *s, const tc_stream_proto *proto, void *ctx)
{
    s->proto = proto;
    s->proto_ctx = ctx;
    s->proto_read = 0;
}

void
tc_stream_detach(tc_stream *s)
{
    s->proto = NULL;
    s->proto_ctx = NULL;
    s->proto_read = 0;
    if (stream_update_reading(s) < 0) {
        PyErr_Clear(); /* the handle is going away: nothing to stop */
    }
}

int
tc_stream_want_read(tc_stream *s, int on)
{
    s->proto_read = (char)(on != 0);
    return stream_update_reading(s);
}

tc_buf *
tc_stream_rbuf(tc_stream *s)
{
    return &s->rbuf;
}

int
tc_stream_is_open(tc_stream *s)
{
    return s->uvs != NULL && !s->closed;
}

int
tc_stream_drained(tc_stream *s)
{
    return s->proto_drained;
}

int
tc_stream_read_pending(tc_stream *s)
{
    return s->read_mode != RM_NONE;
}

Py_ssize_t
tc_stream_queued(tc_stream *s)
{
    return s->write_queued;
}

tc_loop *
tc_stream_loop(tc_stream *s)
{
    return s->loop;
}

void
tc_stream_write_failed(tc_stream *s)
{
    PyObject *exc = PyErr_GetRaisedException_compat();
    if (stream_emit(s, SE_WRITE_ERROR, exc) < 0) {
        stream_report_error(s, "Exception in tornado_c stream event handler");
    }
}

void
tc_stream_close(tc_stream *s)
{
    stream_close_handle(s);
}

/* Frees the shutdown request; an error (the peer already gone, or the
 * handle closed first: UV_ECANCELED) is reported by the reads or writes
 * that meet it, not here. */
static void
stream_on_shutdown(uv_shutdown_t *req, int status)
{
    (void)status;
    PyMem_RawFree(req);
}

int
tc_stream_shutdown(tc_stream *s)
{
    uv_shutdown_t *req;
    int rc;
    if (s->uvs == NULL) {
        return 0;
    }
    req = PyMem_RawMalloc(sizeof(uv_shutdown_t));
    if (req == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    /* libuv sends the FIN once every queued write is out. */
    rc = uv_shutdown(req, s->uvs, stream_on_shutdown);
    if (rc < 0) {
        PyMem_RawFree(req);
        tc_raise_uv_error(rc);
        return -1;
    }
    return 0;
}

int
tc_stream_fd(tc_stream *s)
{
    uv_os_fd_t fd;
    if (s->uvs == NULL || uv_fileno((uv_handle_t *)s->uvs, &fd) < 0) {
        return -1;
    }
    return fd;
}
