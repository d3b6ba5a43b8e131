/*
 * handle.c — Handle and TimerHandle, the native loop's callback records.
 *
 * Serves tornado_c.ioloop (add_callback / call_later return these) and every
 * asyncio user of the native loop: they behave as asyncio.Handle and
 * asyncio.TimerHandle (cancel, cancelled, when, get_context, repr, ordering).
 * A Handle holds its callback, arguments and contextvars.Context; running it
 * enters the context, calls the callback once, and reports an exception
 * through the owning loop's exception handler, as asyncio does.
 */
#include "tc.h"

#include <time.h>

PyObject *
tc_handle_new(tc_state *st, int is_timer, PyObject *callback, PyObject *args,
              PyObject *context, PyObject *loop)
{
    PyTypeObject *tp = is_timer ? st->TimerHandleType : st->HandleType;
    tc_handle *h = PyObject_GC_New(tc_handle, tp);
    if (h == NULL) {
        return NULL;
    }
    h->callback = Py_NewRef(callback);
    h->args = Py_NewRef(args);
    h->context = Py_NewRef(context);
    h->loop = Py_NewRef(loop);
    h->source_traceback = NULL;
    h->weakreflist = NULL;
    h->cancelled = 0;
    h->is_timer = (char)is_timer;
    h->scheduled = 0;
    h->when = 0.0;
    h->seq = 0;
    PyObject_GC_Track(h);
    return (PyObject *)h;
}

void
tc_handle_cancel(tc_handle *h)
{
    if (h->cancelled) {
        return;
    }
    h->cancelled = 1;
    if (h->is_timer && h->scheduled && h->loop != NULL) {
        tc_loop_timer_cancelled((tc_loop *)h->loop);
    }
    /* Drop the callback now: a cancelled timer can sit in the heap for a
     * long time and must not keep what it references alive. */
    Py_CLEAR(h->callback);
    Py_CLEAR(h->args);
}

static double
handle_monotonic(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int
tc_handle_run(tc_state *st, tc_handle *h)
{
    PyObject *callback = h->callback;
    PyObject *args = h->args;
    PyObject *context = h->context;
    PyObject *result;
    tc_loop *loop = (tc_loop *)h->loop;
    double start = 0.0;
    int debug = loop != NULL && loop->debug;

    if (callback == NULL) {
        return 0; /* cancelled meanwhile */
    }
    /* The callback may cancel this handle (dropping these references) or
     * close the loop: hold our own references for the duration. */
    Py_INCREF(callback);
    Py_INCREF(args);
    Py_INCREF(context);
    Py_INCREF(h);
    if (debug) {
        start = handle_monotonic();
    }
    if (PyContext_Enter(context) < 0) {
        result = NULL;
    }
    else {
        Py_ssize_t nargs = PyTuple_GET_SIZE(args);
        result = PyObject_Vectorcall(callback, &PyTuple_GET_ITEM(args, 0),
                                     (size_t)nargs, NULL);
        if (PyContext_Exit(context) < 0) {
            Py_XDECREF(result);
            result = NULL;
        }
    }
    Py_DECREF(callback);
    Py_DECREF(args);
    Py_DECREF(context);

    int rc = 0;
    if (result != NULL) {
        Py_DECREF(result);
    }
    else if (PyErr_ExceptionMatches(PyExc_KeyboardInterrupt) ||
             PyErr_ExceptionMatches(PyExc_SystemExit)) {
        rc = -1;
    }
    else {
        /* asyncio: any other exception goes to the exception handler and the
         * loop keeps running. */
        PyObject *exc = PyErr_GetRaisedException_compat();
        PyObject *r = NULL;
        if (loop != NULL) {
            r = PyObject_CallMethodObjArgs((PyObject *)loop,
                                           st->str_report_callback_error,
                                           (PyObject *)h, exc, NULL);
        }
        Py_DECREF(exc);
        if (r == NULL) {
            rc = -1;
        }
        else {
            Py_DECREF(r);
        }
    }
    if (debug && rc == 0) {
        PyObject *dt = PyFloat_FromDouble(handle_monotonic() - start);
        PyObject *r = NULL;
        if (dt != NULL) {
            r = PyObject_CallMethodObjArgs((PyObject *)loop,
                                           st->str_debug_slow_callback,
                                           (PyObject *)h, dt, NULL);
            Py_DECREF(dt);
        }
        if (r == NULL) {
            rc = -1;
        }
        else {
            Py_DECREF(r);
        }
    }
    Py_DECREF(h);
    return rc;
}

/* ------------------------------------------------------- Python interface */

static int
handle_traverse(tc_handle *h, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(h));
    Py_VISIT(h->callback);
    Py_VISIT(h->args);
    Py_VISIT(h->context);
    Py_VISIT(h->loop);
    Py_VISIT(h->source_traceback);
    return 0;
}

static int
handle_clear(tc_handle *h)
{
    Py_CLEAR(h->callback);
    Py_CLEAR(h->args);
    Py_CLEAR(h->context);
    Py_CLEAR(h->loop);
    Py_CLEAR(h->source_traceback);
    return 0;
}

static void
handle_dealloc(tc_handle *h)
{
    PyTypeObject *tp = Py_TYPE(h);
    PyObject_GC_UnTrack(h);
    if (h->weakreflist != NULL) {
        PyObject_ClearWeakRefs((PyObject *)h);
    }
    handle_clear(h);
    PyObject_GC_Del(h);
    Py_DECREF(tp);
}

static PyObject *
handle_cancel_meth(tc_handle *h, PyObject *Py_UNUSED(ignored))
{
    tc_handle_cancel(h);
    Py_RETURN_NONE;
}

static PyObject *
handle_cancelled_meth(tc_handle *h, PyObject *Py_UNUSED(ignored))
{
    return PyBool_FromLong(h->cancelled);
}

static PyObject *
handle_get_context(tc_handle *h, PyObject *Py_UNUSED(ignored))
{
    if (h->context == NULL) {
        Py_RETURN_NONE;
    }
    return Py_NewRef(h->context);
}

static PyObject *
handle_run_meth(tc_handle *h, PyObject *Py_UNUSED(ignored))
{
    tc_state *st = tc_state_from_type(Py_TYPE(h));
    if (st == NULL) {
        return NULL;
    }
    if (tc_handle_run(st, h) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *
handle_when(tc_handle *h, PyObject *Py_UNUSED(ignored))
{
    return PyFloat_FromDouble(h->when);
}

/* repr follows asyncio's: <Handle cancelled> or <TimerHandle when=… cb() at f:1> */
static PyObject *
handle_repr(tc_handle *h)
{
    PyObject *parts = NULL, *res = NULL, *sep = NULL, *joined = NULL;
    const char *name = h->is_timer ? "TimerHandle" : "Handle";

    parts = PyList_New(0);
    if (parts == NULL) {
        return NULL;
    }
    if (h->cancelled) {
        PyObject *s = PyUnicode_FromString("cancelled");
        if (s == NULL || PyList_Append(parts, s) < 0) {
            Py_XDECREF(s);
            goto done;
        }
        Py_DECREF(s);
    }
    if (h->is_timer) {
        PyObject *w = PyFloat_FromDouble(h->when);
        PyObject *s = w == NULL ? NULL : PyUnicode_FromFormat("when=%R", w);
        Py_XDECREF(w);
        if (s == NULL || PyList_Append(parts, s) < 0) {
            Py_XDECREF(s);
            goto done;
        }
        Py_DECREF(s);
    }
    if (h->callback != NULL) {
        PyObject *fh = PyImport_ImportModule("asyncio.format_helpers");
        PyObject *s = NULL;
        if (fh == NULL) {
            goto done;
        }
        s = PyObject_CallMethod(fh, "_format_callback_source", "OO",
                                h->callback, h->args);
        Py_DECREF(fh);
        if (s == NULL || PyList_Append(parts, s) < 0) {
            Py_XDECREF(s);
            goto done;
        }
        Py_DECREF(s);
    }
    sep = PyUnicode_FromString(" ");
    if (sep == NULL) {
        goto done;
    }
    joined = PyUnicode_Join(sep, parts);
    if (joined == NULL) {
        goto done;
    }
    if (PyUnicode_GET_LENGTH(joined) == 0) {
        res = PyUnicode_FromFormat("<%s>", name);
    }
    else {
        res = PyUnicode_FromFormat("<%s %U>", name, joined);
    }
done:
    Py_XDECREF(parts);
    Py_XDECREF(sep);
    Py_XDECREF(joined);
    return res;
}

static PyObject *
handle_richcompare(tc_handle *a, PyObject *other, int op)
{
    tc_state *st = tc_state_from_type(Py_TYPE(a));
    if (st == NULL) {
        return NULL;
    }
    if (!a->is_timer || !PyObject_TypeCheck(other, st->TimerHandleType)) {
        if (op == Py_EQ || op == Py_NE) {
            int same = (PyObject *)a == other;
            return PyBool_FromLong(op == Py_EQ ? same : !same);
        }
        Py_RETURN_NOTIMPLEMENTED;
    }
    tc_handle *b = (tc_handle *)other;
    int r;
    switch (op) {
    case Py_LT: r = a->when < b->when; break;
    case Py_LE: r = a->when < b->when || (PyObject *)a == other; break;
    case Py_GT: r = a->when > b->when; break;
    case Py_GE: r = a->when > b->when || (PyObject *)a == other; break;
    case Py_EQ: r = (PyObject *)a == other; break;
    case Py_NE: r = (PyObject *)a != other; break;
    default: Py_RETURN_NOTIMPLEMENTED;
    }
    return PyBool_FromLong(r);
}

static Py_hash_t
timerhandle_hash(tc_handle *h)
{
    return _Py_HashPointer_compat(h);
}

static PyObject *
handle_get_callback(tc_handle *h, void *Py_UNUSED(c))
{
    return Py_NewRef(h->callback ? h->callback : Py_None);
}

static PyObject *
handle_get_args(tc_handle *h, void *Py_UNUSED(c))
{
    return Py_NewRef(h->args ? h->args : Py_None);
}

static PyObject *
handle_get_loop(tc_handle *h, void *Py_UNUSED(c))
{
    return Py_NewRef(h->loop ? h->loop : Py_None);
}

static PyObject *
handle_get_cancelled_attr(tc_handle *h, void *Py_UNUSED(c))
{
    return PyBool_FromLong(h->cancelled);
}

static PyObject *
handle_get_scheduled(tc_handle *h, void *Py_UNUSED(c))
{
    return PyBool_FromLong(h->scheduled);
}

static PyObject *
handle_get_source_traceback(tc_handle *h, void *Py_UNUSED(c))
{
    return Py_NewRef(h->source_traceback ? h->source_traceback : Py_None);
}

static int
handle_set_source_traceback(tc_handle *h, PyObject *value, void *Py_UNUSED(c))
{
    if (value == Py_None) {
        value = NULL;
    }
    Py_XINCREF(value);
    Py_XSETREF(h->source_traceback, value);
    return 0;
}

static PyMethodDef handle_methods[] = {
    {"cancel", (PyCFunction)handle_cancel_meth, METH_NOARGS,
     PyDoc_STR("Cancel the callback; a cancelled callback never runs.")},
    {"cancelled", (PyCFunction)handle_cancelled_meth, METH_NOARGS,
     PyDoc_STR("Return True if the callback was cancelled.")},
    {"get_context", (PyCFunction)handle_get_context, METH_NOARGS,
     PyDoc_STR("Return the contextvars.Context the callback runs in.")},
    {"_run", (PyCFunction)handle_run_meth, METH_NOARGS,
     PyDoc_STR("Run the callback now (as the loop does).")},
    {NULL, NULL, 0, NULL},
};

static PyMethodDef timerhandle_methods[] = {
    {"when", (PyCFunction)handle_when, METH_NOARGS,
     PyDoc_STR("Return the scheduled time as a float (loop.time() clock).")},
    {NULL, NULL, 0, NULL},
};

/* __class__ reports asyncio's Handle / TimerHandle, so isinstance(h,
 * asyncio.Handle) holds as asyncio's documentation promises for call_soon()
 * and call_later().  type(h) stays the native type. */
static PyObject *
handle_get_class(tc_handle *h, void *Py_UNUSED(c))
{
    PyObject *events = PyImport_ImportModule("asyncio.events");
    PyObject *cls;
    if (events == NULL) {
        return NULL;
    }
    cls = PyObject_GetAttrString(events, h->is_timer ? "TimerHandle" : "Handle");
    Py_DECREF(events);
    return cls;
}

static PyGetSetDef handle_getset[] = {
    {"__class__", (getter)handle_get_class, NULL, NULL, NULL},
    {"_callback", (getter)handle_get_callback, NULL, NULL, NULL},
    {"_args", (getter)handle_get_args, NULL, NULL, NULL},
    {"_loop", (getter)handle_get_loop, NULL, NULL, NULL},
    {"_cancelled", (getter)handle_get_cancelled_attr, NULL, NULL, NULL},
    {"_source_traceback", (getter)handle_get_source_traceback,
     (setter)handle_set_source_traceback, NULL, NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyGetSetDef timerhandle_getset[] = {
    {"_scheduled", (getter)handle_get_scheduled, NULL, NULL, NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyMemberDef handle_members[] = {
    {"__weaklistoffset__", T_PYSSIZET, offsetof(tc_handle, weakreflist),
     READONLY, NULL},
    {NULL, 0, 0, 0, NULL},
};

static PyMemberDef timerhandle_members[] = {
    {"_when", T_DOUBLE, offsetof(tc_handle, when), READONLY, NULL},
    {NULL, 0, 0, 0, NULL},
};

PyDoc_STRVAR(handle_doc,
"A callback scheduled on the native loop (asyncio.Handle's interface).");
PyDoc_STRVAR(timerhandle_doc,
"A callback scheduled for a time on the native loop "
"(asyncio.TimerHandle's interface).");

static PyType_Slot handle_slots[] = {
    {Py_tp_doc, (void *)handle_doc},
    {Py_tp_dealloc, handle_dealloc},
    {Py_tp_traverse, handle_traverse},
    {Py_tp_clear, handle_clear},
    {Py_tp_repr, handle_repr},
    {Py_tp_richcompare, handle_richcompare},
    {Py_tp_methods, handle_methods},
    {Py_tp_getset, handle_getset},
    {Py_tp_members, handle_members},
    {0, NULL},
};

static PyType_Spec handle_spec = {
    .name = "tornado_c._core.Handle",
    .basicsize = sizeof(tc_handle),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_BASETYPE |
             Py_TPFLAGS_DISALLOW_INSTANTIATION | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = handle_slots,
};

static PyType_Slot timerhandle_slots[] = {
    {Py_tp_doc, (void *)timerhandle_doc},
    {Py_tp_dealloc, handle_dealloc},
    {Py_tp_traverse, handle_traverse},
    {Py_tp_clear, handle_clear},
    {Py_tp_richcompare, handle_richcompare},
    {Py_tp_hash, timerhandle_hash},
    {Py_tp_methods, timerhandle_methods},
    {Py_tp_getset, timerhandle_getset},
    {Py_tp_members, timerhandle_members},
    {0, NULL},
};

static PyType_Spec timerhandle_spec = {
    .name = "tornado_c._core.TimerHandle",
    .basicsize = sizeof(tc_handle),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC |
             Py_TPFLAGS_DISALLOW_INSTANTIATION | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = timerhandle_slots,
};

int
tc_handle_type_init(PyObject *module, tc_state *st)
{
    st->HandleType = (PyTypeObject *)PyType_FromModuleAndSpec(
        module, &handle_spec, NULL);
    if (st->HandleType == NULL) {
        return -1;
    }
    st->TimerHandleType = (PyTypeObject *)PyType_FromModuleAndSpec(
        module, &timerhandle_spec, (PyObject *)st->HandleType);
    if (st->TimerHandleType == NULL) {
        return -1;
    }
    if (PyModule_AddObjectRef(module, "Handle", (PyObject *)st->HandleType) < 0 ||
        PyModule_AddObjectRef(module, "TimerHandle",
                              (PyObject *)st->TimerHandleType) < 0) {
        return -1;
    }
    return 0;
}
