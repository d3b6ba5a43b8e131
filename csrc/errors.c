/*
 * errors.c — maps libuv error codes to Python exceptions.
 *
 * Serves every tornado_c module that reports an OS-level failure.  On Unix a
 * libuv error is a negated errno, so OSError's own constructor picks the
 * subclass (ConnectionResetError, BrokenPipeError, …); the few libuv-only
 * codes (UV_EOF, getaddrinfo's UV_EAI_*) get their Python counterparts.
 */
#include "tc.h"

PyObject *
tc_raise_uv_error(int uverr)
{
    PyObject *exc_type = PyExc_OSError;
    PyObject *args;
    int code = -uverr;

    if (uverr == UV_EOF) {
        exc_type = PyExc_ConnectionResetError;
        code = 104; /* ECONNRESET: the peer went away */
    }
    else if (uverr <= UV_EAI_ADDRFAMILY && uverr >= UV_EAI_SOCKTYPE) {
        /* getaddrinfo failures: socket.gaierror when the socket module is
         * available, plain OSError otherwise. */
        PyObject *socket_mod = PyImport_ImportModule("socket");
        if (socket_mod != NULL) {
            PyObject *gaierror = PyObject_GetAttrString(socket_mod, "gaierror");
            Py_DECREF(socket_mod);
            if (gaierror != NULL) {
                args = Py_BuildValue("(is)", uverr, uv_strerror(uverr));
                if (args != NULL) {
                    PyErr_SetObject(gaierror, args);
                    Py_DECREF(args);
                }
                Py_DECREF(gaierror);
                return NULL;
            }
        }
        PyErr_Clear();
    }
    args = Py_BuildValue("(is)", code, uv_strerror(uverr));
    if (args != NULL) {
        PyErr_SetObject(exc_type, args);
        Py_DECREF(args);
    }
    return NULL;
}
