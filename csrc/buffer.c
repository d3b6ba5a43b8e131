/*
 * buffer.c — the growable byte buffer every native stream and parser uses.
 *
 * Serves tornado_c.iostream (the read buffer) and the HTTP/1 code.  Appends
 * are inline (tc.h); growth is out of line here.  Consumed bytes are skipped
 * by advancing `start`; the live bytes are moved to the front only when that
 * frees enough room, and a buffer emptied by a read is freed, so an idle
 * stream holds no memory here.
 */
#include "tc.h"

int
tc_buf_grow(tc_buf *b, Py_ssize_t extra)
{
    Py_ssize_t need = b->len + extra;
    Py_ssize_t cap;
    char *data;

    /* Move the live bytes to the front first: that alone may make the room. */
    if (b->start > 0) {
        memmove(b->data, b->data + b->start, (size_t)b->len);
        b->start = 0;
    }
    if (b->cap >= need) {
        return 0;
    }
    cap = b->cap ? b->cap : 1024;
    while (cap < need) {
        if (cap > PY_SSIZE_T_MAX / 2) {
            PyErr_NoMemory();
            return -1;
        }
        cap *= 2;
    }
    data = PyMem_RawRealloc(b->data, (size_t)cap);
    if (data == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    b->data = data;
    b->cap = cap;
    return 0;
}

void
tc_buf_consume(tc_buf *b, Py_ssize_t n)
{
    b->start += n;
    b->len -= n;
    if (b->len == 0) {
        /* An idle connection keeps no read buffer (DESIGN.md, memory): the
         * next read allocates again, which malloc's thread cache makes
         * cheap, and thousands of idle streams cost nothing here. */
        tc_buf_free(b);
    }
}

void
tc_buf_drop(tc_buf *b, Py_ssize_t n)
{
    b->start += n;
    b->len -= n;
    if (b->len == 0) {
        b->start = 0;
    }
}

void
tc_buf_free(tc_buf *b)
{
    PyMem_RawFree(b->data);
    b->data = NULL;
    b->start = b->len = b->cap = 0;
}

int
tc_buf_prepend(tc_buf *b, const char *p, Py_ssize_t n)
{
    if (b->start >= n) {
        b->start -= n;
        memcpy(b->data + b->start, p, (size_t)n);
        b->len += n;
        return 0;
    }
    if (tc_buf_grow(b, n) < 0) {
        return -1;
    }
    memmove(b->data + b->start + n, b->data + b->start, (size_t)b->len);
    memcpy(b->data + b->start, p, (size_t)n);
    b->len += n;
    return 0;
}
