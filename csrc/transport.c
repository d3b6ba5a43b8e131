/*
 * transport.c — Transport, an asyncio stream transport on a native Stream.
 *
 * Serves tornado_c._loop and tornado_c._transport: the native loop's
 * create_connection, create_server, connect_accepted_socket and the unix
 * variants (so asyncio.open_connection / start_server) get this transport
 * instead of asyncio's selector one.  A Transport attaches itself to a
 * _core.Stream as its C protocol, as HTTP1Conn does: each chunk libuv reads
 * goes to protocol.data_received (or get_buffer / buffer_updated) in one
 * call, writes take the stream's uv_try_write-first path, and flow control,
 * half-close, close / abort and the single connection_lost follow asyncio's
 * selector transport.  It owns the asyncio-visible state; the stream owns
 * the socket, the read buffer and the write queue.
 *
 * The type derives from asyncio.Transport so isinstance checks hold: the
 * first field after the object header is asyncio.BaseTransport's `_extra`
 * slot.  The rare paths (error logging, the socket object behind
 * get_extra_info('socket')) are Python methods of the subclass
 * tornado_c._transport.SocketTransport.
 */
#include "tc.h"

#include <stddef.h>

/* asyncio's constants: the default high-water mark, and after how many
 * writes to a lost connection a warning is logged. */
#define TR_HIGH_WATER (64 * 1024)
#define TR_LOG_LOST_WRITES 5

typedef struct {
    PyObject_HEAD
    PyObject *extra;        /* asyncio.BaseTransport's `_extra` slot: must
                               stay the first field (checked at type init) */
    tc_stream *stream;      /* strong */
    PyObject *loop;         /* strong */
    PyObject *protocol;     /* NULL once connection_lost ran */
    PyObject *server;       /* the asyncio Server of an accepted connection */
    PyObject *sock;         /* socket behind get_extra_info('socket'), made
                               on demand (_sock); closed with the connection */
    PyObject *empty_waiter; /* a Future resolved once nothing is queued
                               (sendfile), or NULL */
    PyObject *weakreflist;
    Py_ssize_t high_water;
    Py_ssize_t low_water;
    Py_ssize_t conn_lost;   /* > 0 once connection_lost is scheduled; then
                               counts the writes made after it */
    char started;           /* connection_made ran: reading may start */
    char paused;            /* pause_reading() */
    char closing;           /* close(), abort() or a fatal error */
    char write_eof;         /* write_eof() */
    char read_eof;          /* the peer's end of stream was read */
    char eof_done;          /* ... and handed to eof_received() */
    char delivering;        /* a _deliver callback is scheduled */
    char buffered;          /* the protocol is an asyncio.BufferedProtocol */
    char protocol_paused;   /* pause_writing() was called */
    char lost;              /* connection_lost ran */
} tc_transport;

static inline tc_state *
tr_state(tc_transport *t)
{
    return tc_state_from_type(Py_TYPE(t));
}

static inline int
tr_open(tc_transport *t)
{
    return t->stream != NULL && tc_stream_is_open(t->stream);
}

/* Whether input may go to the protocol now (asyncio's transport reads only
 * after connection_made, while not paused and not closing). */
static inline int
tr_can_deliver(tc_transport *t)
{
    return t->started && !t->paused && !t->closing && t->protocol != NULL;
}

/* Drops the result of a call made for its effect: 0, or -1 when the call
 * failed (r is NULL, its exception set). */
static inline int
tr_discard(PyObject *r)
{
    if (r == NULL) {
        return -1;
    }
    Py_DECREF(r);
    return 0;
}

/* Returns module.name (a new reference), or NULL with an exception. */
static PyObject *
tr_import_attr(const char *module, const char *name)
{
    PyObject *mod = PyImport_ImportModule(module), *v;
    if (mod == NULL) {
        return NULL;
    }
    v = PyObject_GetAttrString(mod, name);
    Py_DECREF(mod);
    return v;
}

/* --------------------------------------------------------------- errors */

static PyObject *
tr_reraise(PyObject *Py_UNUSED(module), PyObject *exc)
{
    PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
    return NULL;
}

static PyMethodDef tr_reraise_def = {
    "_reraise", (PyCFunction)tr_reraise, METH_O,
    PyDoc_STR("Raise the given exception (KeyboardInterrupt from a protocol).")};

/* Calls self._fatal_error(exc, what) (the subclass logs or reports it,
 * then force-closes).  0, or -1 with an exception set. */
static int
tr_fatal(tc_transport *t, PyObject *exc, const char *what)
{
    PyObject *msg = PyUnicode_FromString(what), *r;
    if (msg == NULL) {
        return -1;
    }
    r = PyObject_CallMethodObjArgs((PyObject *)t, tr_state(t)->str_fatal_error, exc, msg,
                                   NULL);
    Py_DECREF(msg);
    return tr_discard(r);
}

/* A protocol callback raised (the exception is set) while the transport was
 * called from libuv.  As asyncio's transport: KeyboardInterrupt and
 * SystemExit leave the loop — re-raised from a callback, since nothing may
 * escape into libuv — and anything else is a fatal error of the connection,
 * reported through _fatal_error(exc, what). */
static void
tr_callback_failed(tc_transport *t, const char *what)
{
    tc_state *st = tr_state(t);
    PyObject *exc = PyErr_GetRaisedException_compat();
    int rc = -1;

    if (PyErr_GivenExceptionMatches(exc, PyExc_KeyboardInterrupt) ||
        PyErr_GivenExceptionMatches(exc, PyExc_SystemExit)) {
        PyObject *fn = PyCFunction_New(&tr_reraise_def, NULL), *r = NULL;
        if (fn != NULL) {
            r = PyObject_CallMethodObjArgs(t->loop, st->str_call_soon, fn, exc, NULL);
            Py_DECREF(fn);
        }
        rc = r == NULL ? -1 : 0;
        Py_XDECREF(r);
    }
    else {
        rc = tr_fatal(t, exc, what);
    }
    if (rc < 0) {
        PyErr_WriteUnraisable((PyObject *)t);
    }
    Py_DECREF(exc);
}

/* Calls loop.call_exception_handler for a failed pause_writing /
 * resume_writing (asyncio's messages).  Clears the exception; -1 only to
 * pass KeyboardInterrupt / SystemExit on. */
static int
tr_report_flow_error(tc_transport *t, const char *message)
{
    PyObject *exc, *ctx, *r = NULL;
    if (PyErr_ExceptionMatches(PyExc_KeyboardInterrupt) ||
        PyErr_ExceptionMatches(PyExc_SystemExit)) {
        return -1;
    }
    exc = PyErr_GetRaisedException_compat();
    ctx = Py_BuildValue("{s:s,s:O,s:O,s:O}", "message", message, "exception", exc,
                        "transport", (PyObject *)t, "protocol",
                        t->protocol ? t->protocol : Py_None);
    if (ctx != NULL) {
        r = PyObject_CallMethod(t->loop, "call_exception_handler", "O", ctx);
        Py_DECREF(ctx);
    }
    Py_DECREF(exc);
    if (r == NULL) {
        PyErr_WriteUnraisable((PyObject *)t);
    }
    Py_XDECREF(r);
    return 0;
}

/* Settles the empty waiter (sendfile waits on it): with None when exc is
 * NULL, else with exc.  Never fails (errors are unraisable). */
static void
tr_settle_empty_waiter(tc_transport *t, PyObject *exc)
{
    PyObject *fut = t->empty_waiter, *done, *r;
    int is_done;
    if (fut == NULL) {
        return;
    }
    Py_INCREF(fut);
    done = PyObject_CallMethod(fut, "done", NULL);
    is_done = done == NULL ? -1 : PyObject_IsTrue(done);
    Py_XDECREF(done);
    if (is_done == 0) {
        r = exc == NULL ? PyObject_CallMethod(fut, "set_result", "O", Py_None)
                        : PyObject_CallMethod(fut, "set_exception", "O", exc);
        Py_XDECREF(r);
        is_done = r == NULL ? -1 : 1;
    }
    if (is_done < 0) {
        PyErr_WriteUnraisable(fut);
    }
    Py_DECREF(fut);
}

/* ---------------------------------------------------------- the state */

/* Reads from the socket exactly when input could go to the protocol and
 * nothing is left over from before (a paused protocol's input waits in the
 * stream's buffer, so memory stays bounded).  0 / -1. */
static int
tr_update_reading(tc_transport *t)
{
    int want;
    if (!tr_open(t)) {
        return 0;
    }
    want = tr_can_deliver(t) && !t->read_eof && !t->delivering &&
           tc_stream_rbuf(t->stream)->len == 0;
    return tc_stream_want_read(t->stream, want);
}

/* loop.call_soon(self.<method>[, arg]).  0 / -1. */
static int
tr_call_soon(tc_transport *t, const char *method, PyObject *arg)
{
    PyObject *cb = PyObject_GetAttrString((PyObject *)t, method), *r;
    if (cb == NULL) {
        return -1;
    }
    r = PyObject_CallMethodObjArgs(t->loop, tr_state(t)->str_call_soon, cb, arg, NULL);
    Py_DECREF(cb);
    return tr_discard(r);
}

/* Schedules connection_lost(exc) and lets the socket go: the stream is
 * closed now (queued writes dropped, no more callbacks).  0 / -1. */
static int
tr_lose(tc_transport *t, PyObject *exc)
{
    t->conn_lost++;
    if (t->stream != NULL) {
        tc_stream_detach(t->stream);
        tc_stream_close(t->stream);
    }
    return tr_call_soon(t, "_call_connection_lost", exc ? exc : Py_None);
}

/* abort() and fatal errors: close now, dropping unsent data.  0 / -1. */
static int
tr_force_close(tc_transport *t, PyObject *exc)
{
    if (t->conn_lost) {
        return 0;
    }
    t->closing = 1;
    return tr_lose(t, exc);
}

/* close(): stop reading; the connection goes once the writes are out. */
static int
tr_close(tc_transport *t)
{
    if (t->closing) {
        return 0;
    }
    t->closing = 1;
    if (tr_update_reading(t) < 0) {
        return -1;
    }
    if (!tr_open(t) || tc_stream_queued(t->stream) == 0) {
        return tr_lose(t, NULL);
    }
    return 0;
}

static Py_ssize_t
tr_queued(tc_transport *t)
{
    return tr_open(t) ? tc_stream_queued(t->stream) : 0;
}

/* Tells the protocol to pause (pause_writing()) or resume
 * (resume_writing()) writing.  0, or -1 with KeyboardInterrupt /
 * SystemExit set (other errors go to the exception handler). */
static int
tr_flow_call(tc_transport *t, int pause)
{
    tc_state *st = tr_state(t);
    PyObject *protocol = Py_NewRef(t->protocol), *r;
    t->protocol_paused = (char)pause;
    r = PyObject_CallMethodNoArgs(protocol, pause ? st->str_pause_writing
                                                  : st->str_resume_writing);
    Py_DECREF(protocol);
    if (r == NULL) {
        return tr_report_flow_error(t, pause ? "protocol.pause_writing() failed"
                                             : "protocol.resume_writing() failed");
    }
    Py_DECREF(r);
    return 0;
}

/* asyncio's flow control: pause_writing() above the high-water mark... */
static int
tr_maybe_pause_protocol(tc_transport *t)
{
    if (t->protocol_paused || t->protocol == NULL || tr_queued(t) <= t->high_water) {
        return 0;
    }
    return tr_flow_call(t, 1);
}

/* ... and resume_writing() once the queue is down to the low-water mark. */
static int
tr_maybe_resume_protocol(tc_transport *t)
{
    if (!t->protocol_paused || t->protocol == NULL || tr_queued(t) > t->low_water) {
        return 0;
    }
    return tr_flow_call(t, 0);
}

/* ------------------------------------------------------------- reading */

/* Calls protocol.<name>(arg) (arg stolen; NULL when making it failed, or
 * no_arg for a call without one).  Returns the result, or NULL after the
 * failure was reported as `what` (the transport is closing then). */
static PyObject *
tr_protocol_call(tc_transport *t, PyObject *name, PyObject *arg, int no_arg,
                 const char *what)
{
    PyObject *protocol = Py_NewRef(t->protocol);
    PyObject *r = NULL;
    if (no_arg) {
        r = PyObject_CallMethodNoArgs(protocol, name);
    }
    else if (arg != NULL) {
        r = PyObject_CallMethodOneArg(protocol, name, arg);
        Py_DECREF(arg);
    }
    Py_DECREF(protocol);
    if (r == NULL) {
        tr_callback_failed(t, what);
    }
    return r;
}

static const char TR_DATA_FAILED[] = "Fatal error: protocol.data_received() call failed.";
static const char TR_GET_BUFFER_FAILED[] = "Fatal error: protocol.get_buffer() call failed.";
static const char TR_UPDATED_FAILED[] = "Fatal error: protocol.buffer_updated() call failed.";
static const char TR_EOF_FAILED[] = "Fatal error: protocol.eof_received() call failed.";

/* protocol.data_received(data) (data stolen; NULL: making it failed).  0,
 * or -1 after a failure was reported. */
static int
tr_data_received(tc_transport *t, PyObject *data)
{
    return tr_discard(tr_protocol_call(t, tr_state(t)->str_data_received, data, 0,
                                       TR_DATA_FAILED));
}

/* Copies the start of `in` into the writable buffer get_buffer() returned
 * (buf, stolen) and consumes it.  Returns the bytes copied, or -1 with an
 * exception set. */
static Py_ssize_t
tr_fill(PyObject *buf, tc_buf *in)
{
    Py_buffer view;
    Py_ssize_t n = -1;
    if (PyObject_GetBuffer(buf, &view, PyBUF_WRITABLE) == 0) {
        if (view.len == 0) {
            PyErr_SetString(PyExc_RuntimeError, "get_buffer() returned an empty buffer");
        }
        else {
            n = view.len < in->len ? view.len : in->len;
            memcpy(view.buf, tc_buf_head(in), (size_t)n);
            tc_buf_consume(in, n);
        }
        PyBuffer_Release(&view);
    }
    Py_DECREF(buf);
    return n;
}

/* Hands the start of `in` to a BufferedProtocol: get_buffer(-1), copy as
 * much as fits, buffer_updated(n).  The copied bytes leave `in` before the
 * protocol runs again.  0, or -1 after a failure was reported. */
static int
tr_feed_buffered(tc_transport *t, tc_buf *in)
{
    tc_state *st = tr_state(t);
    PyObject *buf = tr_protocol_call(t, st->str_get_buffer, PyLong_FromLong(-1), 0,
                                     TR_GET_BUFFER_FAILED);
    Py_ssize_t n;
    if (buf == NULL) {
        return -1;
    }
    n = tr_fill(buf, in);
    if (n < 0) {
        tr_callback_failed(t, TR_GET_BUFFER_FAILED);
        return -1;
    }
    return tr_discard(tr_protocol_call(t, st->str_buffer_updated, PyLong_FromSsize_t(n), 0,
                                       TR_UPDATED_FAILED));
}

/* The peer closed its side: eof_received(); a true result keeps the
 * transport open for writing, anything else closes it. */
static void
tr_eof_received(tc_transport *t)
{
    PyObject *r = tr_protocol_call(t, tr_state(t)->str_eof_received, NULL, 1,
                                   TR_EOF_FAILED);
    int keep_open;
    if (r == NULL) {
        return;
    }
    keep_open = PyObject_IsTrue(r);
    Py_DECREF(r);
    if (keep_open < 0) {
        tr_callback_failed(t, TR_EOF_FAILED);
        return;
    }
    if (!keep_open && tr_close(t) < 0) {
        tr_callback_failed(t, "Fatal error on transport");
    }
}

/* Delivers the buffered input (and then a pending end of stream) for as
 * long as the protocol takes it, then reads again or not. */
static void
tr_pump(tc_transport *t)
{
    tc_buf *in;
    Py_INCREF(t);
    in = tc_stream_rbuf(t->stream);
    while (in->len > 0 && tr_can_deliver(t)) {
        if (t->buffered) {
            if (tr_feed_buffered(t, in) < 0) {
                break;
            }
        }
        else {
            /* Copied out and consumed before the protocol runs. */
            PyObject *data = PyBytes_FromStringAndSize(tc_buf_head(in), in->len);
            if (data != NULL) {
                tc_buf_consume(in, in->len);
            }
            if (tr_data_received(t, data) < 0) {
                break;
            }
        }
    }
    if (in->len == 0 && t->read_eof && !t->eof_done && tr_can_deliver(t)) {
        t->eof_done = 1;
        tr_eof_received(t);
    }
    if (tr_update_reading(t) < 0) {
        tr_callback_failed(t, "Fatal read error on socket transport");
    }
    Py_DECREF(t);
}

/* ------------------------------------------------------ the stream hooks */

/* A chunk read while nothing is buffered: a plain Protocol gets it as one
 * bytes object made straight from the loop's receive buffer.  A
 * BufferedProtocol's input goes through the stream's buffer (its
 * get_buffer may run Python that reads other streams into that receive
 * buffer before the copy). */
static Py_ssize_t
tr_on_direct(void *ctx, const char *data, Py_ssize_t len)
{
    tc_transport *t = (tc_transport *)ctx;
    if (t->buffered || !tr_can_deliver(t)) {
        return 0;
    }
    Py_INCREF(t);
    (void)tr_data_received(t, PyBytes_FromStringAndSize(data, len));
    Py_DECREF(t);
    return len;
}

static void
tr_on_data(void *ctx)
{
    tr_pump((tc_transport *)ctx);
}

static void
tr_on_eof(void *ctx)
{
    tc_transport *t = (tc_transport *)ctx;
    t->read_eof = 1;
    tr_pump(t);
}

static void
tr_on_error(void *ctx, PyObject *exc, int writing)
{
    tc_transport *t = (tc_transport *)ctx;
    Py_INCREF(t);
    if (writing) {
        tr_settle_empty_waiter(t, exc);
    }
    if (tr_fatal(t, exc, writing ? "Fatal write error on socket transport"
                                 : "Fatal read error on socket transport") < 0) {
        PyErr_WriteUnraisable((PyObject *)t);
    }
    Py_DECREF(t);
}

/* resume_writing() if the queue is down to the low-water mark, a failure
 * reported as asyncio reports it. */
static void
tr_resume_at_low_water(tc_transport *t)
{
    if (tr_maybe_resume_protocol(t) < 0) {
        tr_callback_failed(t, "protocol.resume_writing() failed");
    }
}

/* Every queued byte was written: resume the writer, finish a close. */
static void
tr_on_drain(void *ctx)
{
    tc_transport *t = (tc_transport *)ctx;
    Py_INCREF(t);
    tr_settle_empty_waiter(t, NULL);
    tr_resume_at_low_water(t);
    if (t->closing && !t->conn_lost && tr_queued(t) == 0 && tr_lose(t, NULL) < 0) {
        PyErr_WriteUnraisable((PyObject *)t);
    }
    Py_DECREF(t);
}

/* One queued write is out, others are not: asyncio resumes the writer as
 * soon as the queue is down to the low-water mark. */
static void
tr_on_written(void *ctx)
{
    tc_transport *t = (tc_transport *)ctx;
    Py_INCREF(t);
    tr_resume_at_low_water(t);
    Py_DECREF(t);
}

static const tc_stream_proto tr_proto = {
    .on_data = tr_on_data,
    .on_drain = tr_on_drain,
    .on_direct = tr_on_direct,
    .on_eof = tr_on_eof,
    .on_error = tr_on_error,
    .on_written = tr_on_written,
    .pace_reads = 1,
};

/* ------------------------------------------------------------- methods */

PyDoc_STRVAR(write_doc,
"write($self, data)\n--\n\n"
"Write bytes, bytearray or memoryview data without blocking: what the\n"
"socket does not take now is queued (get_write_buffer_size()).");

static int
tr_check_data(PyObject *data)
{
    PyObject *name;
    if (PyBytes_Check(data) || PyByteArray_Check(data) || PyMemoryView_Check(data)) {
        return 0;
    }
    name = PyObject_GetAttrString((PyObject *)Py_TYPE(data), "__name__");
    if (name != NULL) {
        PyErr_Format(PyExc_TypeError,
                     "data argument must be a bytes-like object, not %R", name);
        Py_DECREF(name);
    }
    return -1;
}

/* Logs asyncio's warning for writes to a lost connection.  0 / -1. */
static int
tr_warn_lost_write(void)
{
    PyObject *logger = tr_import_attr("asyncio.log", "logger"), *r;
    if (logger == NULL) {
        return -1;
    }
    r = PyObject_CallMethod(logger, "warning", "s", "socket.send() raised exception.");
    Py_DECREF(logger);
    return tr_discard(r);
}

static PyObject *
tr_write(tc_transport *t, PyObject *data)
{
    Py_ssize_t q;
    if (tr_check_data(data) < 0) {
        return NULL;
    }
    if (t->write_eof) {
        PyErr_SetString(PyExc_RuntimeError, "Cannot call write() after write_eof()");
        return NULL;
    }
    if (t->empty_waiter != NULL) {
        PyErr_SetString(PyExc_RuntimeError, "unable to write; sendfile is in progress");
        return NULL;
    }
    if (PyBytes_Check(data)) {
        if (PyBytes_GET_SIZE(data) == 0) {
            Py_RETURN_NONE;
        }
    }
    else {
        Py_ssize_t n = PyObject_Size(data);
        if (n < 0) {
            return NULL;
        }
        if (n == 0) {
            Py_RETURN_NONE;
        }
    }
    if (t->conn_lost || t->stream == NULL) {
        if (t->conn_lost >= TR_LOG_LOST_WRITES && tr_warn_lost_write() < 0) {
            return NULL;
        }
        t->conn_lost++;
        Py_RETURN_NONE;
    }
    if (PyBytes_Check(data)) {
        /* Immutable: whatever is not written now is queued in place. */
        q = tc_stream_write(t->stream, data);
    }
    else {
        /* The caller may change or resize its buffer once write() returns
         * (asyncio copies it): the remainder is copied. */
        Py_buffer view;
        if (PyObject_GetBuffer(data, &view, PyBUF_SIMPLE) < 0) {
            return NULL;
        }
        q = tc_stream_write_raw(t->stream, view.buf, view.len);
        PyBuffer_Release(&view);
    }
    if (q < 0) {
        PyObject *exc;
        int rc;
        if (!PyErr_ExceptionMatches(PyExc_OSError)) {
            return NULL;
        }
        /* The peer is gone (EPIPE, ECONNRESET): as asyncio, not the
         * caller's error but the connection's end. */
        exc = PyErr_GetRaisedException_compat();
        tr_settle_empty_waiter(t, exc);
        rc = tr_fatal(t, exc, "Fatal write error on socket transport");
        Py_DECREF(exc);
        if (rc < 0) {
            return NULL;
        }
    }
    if (q > 0 && tr_maybe_pause_protocol(t) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

PyDoc_STRVAR(writelines_doc,
"writelines($self, list_of_data)\n--\n\n"
"Write the concatenation of an iterable of bytes-like objects.");

static PyObject *
tr_writelines(tc_transport *t, PyObject *seq)
{
    PyObject *empty = PyBytes_FromStringAndSize(NULL, 0), *data, *r;
    if (empty == NULL) {
        return NULL;
    }
    /* One write of the joined data: one system call for the lot. */
    data = PyObject_CallMethod(empty, "join", "O", seq);
    Py_DECREF(empty);
    if (data == NULL) {
        return NULL;
    }
    r = tr_write(t, data);
    Py_DECREF(data);
    return r;
}

static PyObject *
tr_write_eof(tc_transport *t, PyObject *Py_UNUSED(ignored))
{
    if (t->closing || t->write_eof) {
        Py_RETURN_NONE;
    }
    t->write_eof = 1;
    if (tr_open(t) && tc_stream_shutdown(t->stream) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *
tr_can_write_eof(tc_transport *t, PyObject *Py_UNUSED(ignored))
{
    Py_RETURN_TRUE;
}

PyDoc_STRVAR(close_doc,
"close($self)\n--\n\n"
"Close the transport: no more data is received; queued data is written,\n"
"then the connection is closed and protocol.connection_lost(None) is\n"
"called (from the event loop).");

static PyObject *
tr_close_meth(tc_transport *t, PyObject *Py_UNUSED(ignored))
{
    if (tr_close(t) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

PyDoc_STRVAR(abort_doc,
"abort($self)\n--\n\n"
"Close the transport now, dropping unsent data; connection_lost(None)\n"
"follows from the event loop.");

static PyObject *
tr_abort(tc_transport *t, PyObject *Py_UNUSED(ignored))
{
    if (tr_force_close(t, NULL) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *
tr_force_close_meth(tc_transport *t, PyObject *exc)
{
    if (tr_force_close(t, exc == Py_None ? NULL : exc) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *
tr_is_closing(tc_transport *t, PyObject *Py_UNUSED(ignored))
{
    return PyBool_FromLong(t->closing);
}

static PyObject *
tr_is_reading(tc_transport *t, PyObject *Py_UNUSED(ignored))
{
    return PyBool_FromLong(!t->paused && !t->closing);
}

static PyObject *
tr_pause_reading(tc_transport *t, PyObject *Py_UNUSED(ignored))
{
    if (t->closing || t->paused) {
        Py_RETURN_NONE;
    }
    t->paused = 1;
    if (tr_update_reading(t) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

/* Schedules _deliver: input left in the stream's buffer while paused (and
 * a pending end of stream) reaches the protocol from the loop, never from
 * inside resume_reading(). */
static int
tr_schedule_delivery(tc_transport *t)
{
    if (t->delivering) {
        return 0;
    }
    if (tr_call_soon(t, "_deliver", NULL) < 0) {
        return -1;
    }
    t->delivering = 1;
    return 0;
}

static PyObject *
tr_resume_reading(tc_transport *t, PyObject *Py_UNUSED(ignored))
{
    int rc;
    if (t->closing || !t->paused) {
        Py_RETURN_NONE;
    }
    t->paused = 0;
    if (t->started && tr_open(t) &&
        (tc_stream_rbuf(t->stream)->len > 0 || (t->read_eof && !t->eof_done))) {
        rc = tr_schedule_delivery(t);
    }
    else {
        rc = tr_update_reading(t);
    }
    if (rc < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *
tr_deliver(tc_transport *t, PyObject *Py_UNUSED(ignored))
{
    t->delivering = 0;
    if (t->stream != NULL && !t->lost) {
        tr_pump(t);
    }
    Py_RETURN_NONE;
}

/* _make_empty_waiter(): a Future resolved once every queued byte is
 * written (at once if none is); write() refuses data meanwhile. */
static PyObject *
tr_make_empty_waiter(tc_transport *t, PyObject *Py_UNUSED(ignored))
{
    PyObject *fut;
    if (t->empty_waiter != NULL) {
        PyErr_SetString(PyExc_RuntimeError, "Empty waiter is already set");
        return NULL;
    }
    fut = PyObject_CallMethod(t->loop, "create_future", NULL);
    if (fut == NULL) {
        return NULL;
    }
    t->empty_waiter = fut;
    if (tr_queued(t) == 0) {
        tr_settle_empty_waiter(t, NULL);
    }
    return Py_NewRef(fut);
}

static PyObject *
tr_reset_empty_waiter(tc_transport *t, PyObject *Py_UNUSED(ignored))
{
    Py_CLEAR(t->empty_waiter);
    Py_RETURN_NONE;
}

static PyObject *
tr_start(tc_transport *t, PyObject *Py_UNUSED(ignored))
{
    t->started = 1;
    if (tr_update_reading(t) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static int
tr_set_protocol_obj(tc_transport *t, PyObject *protocol)
{
    int b = PyObject_IsInstance(protocol, tr_state(t)->buffered_protocol);
    if (b < 0) {
        return -1;
    }
    Py_INCREF(protocol);
    Py_XSETREF(t->protocol, protocol);
    t->buffered = (char)b;
    return 0;
}

static PyObject *
tr_set_protocol(tc_transport *t, PyObject *protocol)
{
    if (tr_set_protocol_obj(t, protocol) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *
tr_get_protocol(tc_transport *t, PyObject *Py_UNUSED(ignored))
{
    return Py_NewRef(t->protocol ? t->protocol : Py_None);
}

/* Converts a limit argument (an int, or None).  0 / -1. */
static int
tr_limit_arg(PyObject *o, Py_ssize_t *out, int *given)
{
    *given = o != NULL && o != Py_None;
    if (*given) {
        *out = PyLong_AsSsize_t(o);
        if (*out == -1 && PyErr_Occurred()) {
            return -1;
        }
    }
    return 0;
}

PyDoc_STRVAR(set_write_buffer_limits_doc,
"set_write_buffer_limits($self, high=None, low=None)\n--\n\n"
"Set the high- and low-water marks of the write buffer (defaults: 64 KiB\n"
"and a quarter of high); pause_writing() is called above high and\n"
"resume_writing() once the buffer is back down to low.");

static PyObject *
tr_set_write_buffer_limits(tc_transport *t, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"high", "low", NULL};
    PyObject *high_o = NULL, *low_o = NULL;
    Py_ssize_t high = 0, low = 0;
    int has_high, has_low;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "|OO:set_write_buffer_limits", kwlist,
                                     &high_o, &low_o) ||
        tr_limit_arg(high_o, &high, &has_high) < 0 || tr_limit_arg(low_o, &low, &has_low) < 0) {
        return NULL;
    }
    if (!has_high) {
        high = has_low ? 4 * low : TR_HIGH_WATER;
    }
    if (!has_low) {
        low = high / 4;
    }
    if (!(high >= low && low >= 0)) {
        PyErr_Format(PyExc_ValueError, "high (%zd) must be >= low (%zd) must be >= 0",
                     high, low);
        return NULL;
    }
    t->high_water = high;
    t->low_water = low;
    if (tr_maybe_pause_protocol(t) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *
tr_get_write_buffer_limits(tc_transport *t, PyObject *Py_UNUSED(ignored))
{
    return Py_BuildValue("(nn)", t->low_water, t->high_water);
}

static PyObject *
tr_get_write_buffer_size(tc_transport *t, PyObject *Py_UNUSED(ignored))
{
    return PyLong_FromSsize_t(tr_queued(t));
}

PyDoc_STRVAR(get_extra_info_doc,
"get_extra_info($self, name, default=None)\n--\n\n"
"'socket' (an asyncio TransportSocket), 'sockname', 'peername', and\n"
"whatever else the transport was created with.");

static PyObject *
tr_get_extra_info(tc_transport *t, PyObject *const *args, Py_ssize_t nargs)
{
    PyObject *name, *dflt, *v;
    if (nargs < 1 || nargs > 2) {
        PyErr_SetString(PyExc_TypeError, "get_extra_info(name, default=None)");
        return NULL;
    }
    name = args[0];
    dflt = nargs == 2 ? args[1] : Py_None;
    v = PyDict_GetItemWithError(t->extra, name);
    if (v != NULL) {
        return Py_NewRef(v);
    }
    if (PyErr_Occurred()) {
        return NULL;
    }
    if (PyUnicode_Check(name) && PyUnicode_CompareWithASCIIString(name, "socket") == 0) {
        /* Made on first use: most connections never ask. */
        v = PyObject_CallMethod((PyObject *)t, "_socket_extra", NULL);
        if (v == NULL) {
            return NULL;
        }
        if (v != Py_None) {
            if (PyDict_SetItem(t->extra, name, v) < 0) {
                Py_DECREF(v);
                return NULL;
            }
            return v;
        }
        Py_DECREF(v);
    }
    return Py_NewRef(dflt);
}

/* _call_connection_lost(exc): runs once, from the loop. */
static PyObject *
tr_call_connection_lost(tc_transport *t, PyObject *exc)
{
    tc_state *st = tr_state(t);
    PyObject *protocol, *r = NULL, *err = NULL, *tmp;

    if (t->lost) {
        Py_RETURN_NONE;
    }
    t->lost = 1;
    Py_INCREF(t);
    protocol = t->protocol;
    t->protocol = NULL;
    if (protocol != NULL) {
        r = PyObject_CallMethodOneArg(protocol, st->str_connection_lost, exc);
        Py_DECREF(protocol);
        if (r == NULL) {
            err = PyErr_GetRaisedException_compat();
        }
    }
    else {
        r = Py_NewRef(Py_None);
    }
    /* Whatever connection_lost did, the connection's resources go. */
    if (t->stream != NULL) {
        tc_stream_detach(t->stream);
        tc_stream_close(t->stream);
    }
    if (t->sock != NULL) {
        tmp = PyObject_CallMethod(t->sock, "close", NULL);
        if (tmp == NULL) {
            PyErr_WriteUnraisable((PyObject *)t);
        }
        Py_XDECREF(tmp);
    }
    if (t->server != NULL) {
        PyObject *server = t->server;
        t->server = NULL;
#if PY_VERSION_HEX >= 0x030D0000
        tmp = PyObject_CallMethod(server, "_detach", "O", (PyObject *)t);
#else
        tmp = PyObject_CallMethod(server, "_detach", NULL);
#endif
        Py_DECREF(server);
        if (tmp == NULL) {
            PyErr_WriteUnraisable((PyObject *)t);
        }
        Py_XDECREF(tmp);
    }
    if (t->empty_waiter != NULL) {
        PyObject *lost = PyObject_CallFunction(PyExc_ConnectionError, "s",
                                               "Connection is closed by peer");
        if (lost != NULL) {
            tr_settle_empty_waiter(t, lost);
            Py_DECREF(lost);
        }
        else {
            PyErr_WriteUnraisable((PyObject *)t);
        }
    }
    if (((tc_loop *)t->loop)->transports != NULL &&
        PySet_Discard(((tc_loop *)t->loop)->transports, (PyObject *)t) < 0) {
        PyErr_WriteUnraisable((PyObject *)t);
    }
    Py_DECREF(t);
    if (err != NULL) {
        Py_XDECREF(r);
        PyErr_SetRaisedException_compat(err);
        return NULL;
    }
    return r;
}

static PyObject *
tr_repr(tc_transport *t)
{
    const char *state = t->lost ? " closed" : t->closing ? " closing" : "";
    int fd = t->stream != NULL ? tc_stream_fd(t->stream) : -1;
    int reading = tr_open(t) && tr_can_deliver(t) && !t->read_eof;
    Py_ssize_t q = tr_queued(t);
    PyObject *name = PyObject_GetAttrString((PyObject *)Py_TYPE(t), "__name__");
    PyObject *r;
    if (name == NULL) {
        return NULL;
    }
    r = PyUnicode_FromFormat("<%U%s fd=%d read=%s write=<%s, bufsize=%zd>>", name, state,
                             fd, reading ? "polling" : "idle", q > 0 ? "polling" : "idle",
                             q);
    Py_DECREF(name);
    return r;
}

/* ----------------------------------------------------------- lifecycle */

PyDoc_STRVAR(transport_doc,
"Transport(loop, stream, protocol, extra, server=None)\n--\n\n"
"asyncio's stream transport on a native Stream (the stream's input goes to\n"
"protocol).  The loop makes it through tornado_c._transport; call _start()\n"
"once protocol.connection_made() ran to start reading.");

static PyObject *
tr_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"loop", "stream", "protocol", "extra", "server", NULL};
    tc_state *st = tc_state_from_type(type);
    PyObject *loop, *stream, *protocol, *extra, *server = Py_None;
    tc_loop *lp;
    tc_transport *t;

    if (st == NULL) {
        return NULL;
    }
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OOOO!|O:Transport", kwlist, &loop,
                                     &stream, &protocol, &PyDict_Type, &extra, &server)) {
        return NULL;
    }
    if (!PyObject_TypeCheck(loop, st->LoopType) || !tc_stream_check(st, stream)) {
        PyErr_SetString(PyExc_TypeError, "Transport needs a native loop and a Stream");
        return NULL;
    }
    if (!tc_stream_is_open((tc_stream *)stream)) {
        PyErr_SetString(PyExc_ValueError, "the stream is closed");
        return NULL;
    }
    lp = (tc_loop *)loop;
    if (lp->transports == NULL) {
        lp->transports = PySet_New(NULL);
        if (lp->transports == NULL) {
            return NULL;
        }
    }
    t = (tc_transport *)type->tp_alloc(type, 0);
    if (t == NULL) {
        return NULL;
    }
    t->extra = Py_NewRef(extra);
    t->loop = Py_NewRef(loop);
    t->server = server == Py_None ? NULL : Py_NewRef(server);
    t->high_water = TR_HIGH_WATER;
    t->low_water = TR_HIGH_WATER / 4;
    if (tr_set_protocol_obj(t, protocol) < 0 || PySet_Add(lp->transports, (PyObject *)t) < 0) {
        Py_DECREF(t);
        return NULL;
    }
    t->stream = (tc_stream *)Py_NewRef(stream);
    tc_stream_attach(t->stream, &tr_proto, t);
    return (PyObject *)t;
}

/* The work is done in __new__; this accepts its arguments (the base
 * class's __init__ takes only `extra`). */
static int
tr_init(PyObject *self, PyObject *args, PyObject *kwds)
{
    return 0;
}

static void
tr_finalize(tc_transport *t)
{
    PyObject *exc;
    if (t->stream == NULL || t->lost) {
        return;
    }
    exc = PyErr_GetRaisedException_compat_or_null();
    if (PyErr_WarnFormat(PyExc_ResourceWarning, 1, "unclosed transport %R",
                         (PyObject *)t) < 0) {
        PyErr_WriteUnraisable((PyObject *)t);
    }
    t->lost = 1;
    tc_stream_detach(t->stream);
    tc_stream_close(t->stream);
    if (t->sock != NULL) {
        PyObject *r = PyObject_CallMethod(t->sock, "close", NULL);
        if (r == NULL) {
            PyErr_WriteUnraisable((PyObject *)t);
        }
        Py_XDECREF(r);
    }
    if (exc != NULL) {
        PyErr_SetRaisedException_compat(exc);
    }
}

static int
tr_traverse(tc_transport *t, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(t));
    Py_VISIT(t->extra);
    Py_VISIT(t->stream);
    Py_VISIT(t->loop);
    Py_VISIT(t->protocol);
    Py_VISIT(t->server);
    Py_VISIT(t->sock);
    Py_VISIT(t->empty_waiter);
    return 0;
}

static int
tr_clear(tc_transport *t)
{
    if (t->stream != NULL) {
        /* The stream must not call back into a transport that is gone. */
        tc_stream_detach(t->stream);
        Py_CLEAR(t->stream);
    }
    Py_CLEAR(t->extra);
    Py_CLEAR(t->loop);
    Py_CLEAR(t->protocol);
    Py_CLEAR(t->server);
    Py_CLEAR(t->sock);
    Py_CLEAR(t->empty_waiter);
    return 0;
}

static void
tr_dealloc(tc_transport *t)
{
    PyTypeObject *tp = Py_TYPE(t);
    if (PyObject_CallFinalizerFromDealloc((PyObject *)t) < 0) {
        return; /* resurrected */
    }
    PyObject_GC_UnTrack(t);
    if (t->weakreflist != NULL) {
        PyObject_ClearWeakRefs((PyObject *)t);
    }
    tr_clear(t);
    tp->tp_free((PyObject *)t);
    Py_DECREF(tp);
}

void
tc_transport_loop_closed(tc_loop *loop)
{
    Py_CLEAR(loop->transports);
}

/* --------------------------------------------------------- attributes */

static PyObject *
tr_get_closing(tc_transport *t, void *Py_UNUSED(c))
{
    return PyBool_FromLong(t->closing);
}

static PyObject *
tr_get_protocol_paused(tc_transport *t, void *Py_UNUSED(c))
{
    return PyBool_FromLong(t->protocol_paused);
}

static PyObject *
tr_get_conn_lost(tc_transport *t, void *Py_UNUSED(c))
{
    return PyLong_FromSsize_t(t->conn_lost);
}

static PyObject *
tr_get_fileno(tc_transport *t, void *Py_UNUSED(c))
{
    return PyLong_FromLong(t->stream != NULL ? tc_stream_fd(t->stream) : -1);
}

static PyGetSetDef tr_getset[] = {
    {"_closing", (getter)tr_get_closing, NULL, NULL, NULL},
    {"_protocol_paused", (getter)tr_get_protocol_paused, NULL, NULL, NULL},
    {"_conn_lost", (getter)tr_get_conn_lost, NULL, NULL, NULL},
    {"_sock_fd", (getter)tr_get_fileno, NULL,
     PyDoc_STR("The fd of the connection (the stream's), -1 once closed."), NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyMemberDef tr_members[] = {
    {"__weaklistoffset__", T_PYSSIZET, offsetof(tc_transport, weakreflist), READONLY, NULL},
    {"_loop", T_OBJECT, offsetof(tc_transport, loop), READONLY, NULL},
    {"_protocol", T_OBJECT, offsetof(tc_transport, protocol), READONLY, NULL},
    {"_stream", T_OBJECT, offsetof(tc_transport, stream), READONLY, NULL},
    {"_sock", T_OBJECT, offsetof(tc_transport, sock), 0,
     PyDoc_STR("The socket made for get_extra_info('socket'), closed with the "
               "connection.")},
    {NULL, 0, 0, 0, NULL},
};

static PyMethodDef tr_methods[] = {
    {"write", (PyCFunction)tr_write, METH_O, write_doc},
    {"writelines", (PyCFunction)tr_writelines, METH_O, writelines_doc},
    {"write_eof", (PyCFunction)tr_write_eof, METH_NOARGS,
     PyDoc_STR("Close the write side once queued data is written.")},
    {"can_write_eof", (PyCFunction)tr_can_write_eof, METH_NOARGS,
     PyDoc_STR("True: write_eof() is supported.")},
    {"close", (PyCFunction)tr_close_meth, METH_NOARGS, close_doc},
    {"abort", (PyCFunction)tr_abort, METH_NOARGS, abort_doc},
    {"is_closing", (PyCFunction)tr_is_closing, METH_NOARGS,
     PyDoc_STR("True once close() or abort() was called (or the connection failed).")},
    {"is_reading", (PyCFunction)tr_is_reading, METH_NOARGS,
     PyDoc_STR("True unless reading is paused or the transport is closing.")},
    {"pause_reading", (PyCFunction)tr_pause_reading, METH_NOARGS,
     PyDoc_STR("Stop handing input to the protocol until resume_reading().")},
    {"resume_reading", (PyCFunction)tr_resume_reading, METH_NOARGS,
     PyDoc_STR("Hand input to the protocol again.")},
    {"set_protocol", (PyCFunction)tr_set_protocol, METH_O,
     PyDoc_STR("Make protocol the receiver of this transport's events.")},
    {"get_protocol", (PyCFunction)tr_get_protocol, METH_NOARGS,
     PyDoc_STR("The current protocol.")},
    {"set_write_buffer_limits", (PyCFunction)(void (*)(void))tr_set_write_buffer_limits,
     METH_VARARGS | METH_KEYWORDS, set_write_buffer_limits_doc},
    {"get_write_buffer_limits", (PyCFunction)tr_get_write_buffer_limits, METH_NOARGS,
     PyDoc_STR("(low, high) water marks.")},
    {"get_write_buffer_size", (PyCFunction)tr_get_write_buffer_size, METH_NOARGS,
     PyDoc_STR("Bytes queued for writing.")},
    {"get_extra_info", (PyCFunction)(void (*)(void))tr_get_extra_info, METH_FASTCALL,
     get_extra_info_doc},
    {"_make_empty_waiter", (PyCFunction)tr_make_empty_waiter, METH_NOARGS,
     PyDoc_STR("A Future resolved once the write queue is empty (sendfile).")},
    {"_reset_empty_waiter", (PyCFunction)tr_reset_empty_waiter, METH_NOARGS,
     PyDoc_STR("Forget the empty waiter: write() works again.")},
    {"_start", (PyCFunction)tr_start, METH_NOARGS,
     PyDoc_STR("connection_made() ran: start reading.")},
    {"_deliver", (PyCFunction)tr_deliver, METH_NOARGS,
     PyDoc_STR("Hand input buffered while paused to the protocol.")},
    {"_force_close", (PyCFunction)tr_force_close_meth, METH_O,
     PyDoc_STR("Close now after a fatal error; connection_lost(exc) follows.")},
    {"_call_connection_lost", (PyCFunction)tr_call_connection_lost, METH_O,
     PyDoc_STR("Call protocol.connection_lost(exc) and release the connection.")},
    {NULL, NULL, 0, NULL},
};

static PyType_Slot tr_slots[] = {
    {Py_tp_doc, (void *)transport_doc},
    {Py_tp_new, tr_new},
    {Py_tp_init, tr_init},
    {Py_tp_dealloc, tr_dealloc},
    {Py_tp_finalize, tr_finalize},
    {Py_tp_traverse, tr_traverse},
    {Py_tp_clear, tr_clear},
    {Py_tp_repr, tr_repr},
    {Py_tp_methods, tr_methods},
    {Py_tp_members, tr_members},
    {Py_tp_getset, tr_getset},
    {0, NULL},
};

/* Not Py_TPFLAGS_IMMUTABLETYPE: its base, asyncio.Transport, is a Python
 * class (mutable), and CPython 3.12+ deprecates an immutable type made from
 * a mutable base (3.14 refuses it). */
static PyType_Spec tr_spec = {
    .name = "tornado_c._core.Transport",
    .basicsize = sizeof(tc_transport),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_BASETYPE,
    .slots = tr_slots,
};

int
tc_transport_type_init(PyObject *module, tc_state *st)
{
    PyObject *base, *bases = NULL;
    int rc = -1;

    base = tr_import_attr("asyncio.transports", "Transport");
    if (base == NULL) {
        return -1;
    }
    /* asyncio.Transport's instances hold one slot, `_extra`, right after
     * the object header: our first field takes its place. */
    if (!PyType_Check(base) ||
        ((PyTypeObject *)base)->tp_basicsize != (Py_ssize_t)offsetof(tc_transport, stream) ||
        ((PyTypeObject *)base)->tp_itemsize != 0) {
        PyErr_SetString(PyExc_ImportError,
                        "asyncio.Transport has an unexpected layout; tornado_c's native "
                        "transport cannot derive from it");
        goto done;
    }
    st->buffered_protocol = tr_import_attr("asyncio.protocols", "BufferedProtocol");
    if (st->buffered_protocol == NULL) {
        goto done;
    }
#define INTERN(field, text)                                      \
    if ((st->field = PyUnicode_InternFromString(text)) == NULL) { \
        goto done;                                                \
    }
    INTERN(str_get_buffer, "get_buffer");
    INTERN(str_buffer_updated, "buffer_updated");
    INTERN(str_eof_received, "eof_received");
    INTERN(str_connection_lost, "connection_lost");
    INTERN(str_pause_writing, "pause_writing");
    INTERN(str_resume_writing, "resume_writing");
    INTERN(str_fatal_error, "_fatal_error");
#undef INTERN
    bases = PyTuple_Pack(1, base);
    if (bases == NULL) {
        goto done;
    }
    st->TransportType = (PyTypeObject *)PyType_FromModuleAndSpec(module, &tr_spec, bases);
    if (st->TransportType == NULL ||
        PyModule_AddObjectRef(module, "Transport", (PyObject *)st->TransportType) < 0) {
        goto done;
    }
    rc = 0;
done:
    Py_XDECREF(bases);
    Py_DECREF(base);
    return rc;
}
