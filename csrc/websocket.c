/*
 * websocket.c — WebSocket framing helpers for tornado_c.websocket.
 *
 * Owns the payload masking of RFC 6455 section 5.3 (XOR with a 4-byte key),
 * used for every frame a client sends and every frame a server receives.
 * Frame parsing and building move here as the WebSocket fast path lands.
 */
#include "tc.h"

#include <string.h>

PyObject *
tc_websocket_mask(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    Py_buffer mask, data;
    PyObject *result = NULL;
    const unsigned char *m, *src;
    unsigned char *dst;
    Py_ssize_t i, n;
    uint64_t m64;

    (void)module;
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "websocket_mask() takes exactly 2 arguments");
        return NULL;
    }
    if (PyObject_GetBuffer(args[0], &mask, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    if (PyObject_GetBuffer(args[1], &data, PyBUF_SIMPLE) < 0) {
        PyBuffer_Release(&mask);
        return NULL;
    }
    if (mask.len != 4) {
        PyErr_SetString(PyExc_ValueError, "mask must contain 4 bytes");
        goto done;
    }
    n = data.len;
    result = PyBytes_FromStringAndSize(NULL, n);
    if (result == NULL) {
        goto done;
    }
    m = mask.buf;
    src = data.buf;
    dst = (unsigned char *)PyBytes_AS_STRING(result);
    /* Eight bytes at a time: the 4-byte key repeated twice. */
    memcpy(&m64, m, 4);
    memcpy((unsigned char *)&m64 + 4, m, 4);
    for (i = 0; i + 8 <= n; i += 8) {
        uint64_t chunk;
        memcpy(&chunk, src + i, 8);
        chunk ^= m64;
        memcpy(dst + i, &chunk, 8);
    }
    for (; i < n; i++) {
        dst[i] = src[i] ^ m[i & 3];
    }
done:
    PyBuffer_Release(&mask);
    PyBuffer_Release(&data);
    return result;
}
