/*
 * proxy.c — RequestProxyBase, the attribute lookup of
 * httpclient._RequestProxy.
 *
 * A _RequestProxy is a read-only view of an HTTPRequest that falls back on
 * the client's dict of defaults: an attribute the proxy does not have
 * itself is the request's, or -- when the request's is None -- the
 * default's (None when there is none).  The value found is kept in the
 * proxy's __dict__, so each option costs one fallback per fetch.  A fetch
 * reads a couple of dozen options; doing the fallback here instead of in a
 * Python __getattr__ saves a Python frame and an AttributeError for each.
 *
 * Lookup order is the one Python gives a class with __getattr__: the
 * type's attributes (data descriptors, methods) and the instance __dict__
 * through the generic lookup first, the fallback only for what that does
 * not find.
 */
#include "tc.h"

static PyObject *
proxy_fallback(tc_state *st, PyObject *self, PyObject *dict, PyObject *name)
{
    PyObject *request, *defaults, *own;

    request = PyDict_GetItemWithError(dict, st->str_request);
    if (request == NULL) {
        if (!PyErr_Occurred()) {
            PyErr_Format(PyExc_AttributeError, "'%.100s' object has no attribute '%U'",
                         Py_TYPE(self)->tp_name, name);
        }
        return NULL;
    }
    Py_INCREF(request); /* the getattr below may run code that edits dict */
    own = PyObject_GetAttr(request, name);
    Py_DECREF(request);
    if (own == NULL) {
        return NULL;
    }
    if (own == Py_None) {
        defaults = PyDict_GetItemWithError(dict, st->str_defaults);
        if (defaults == NULL && PyErr_Occurred()) {
            Py_DECREF(own);
            return NULL;
        }
        if (defaults != NULL && defaults != Py_None) {
            Py_DECREF(own);
            own = PyObject_CallMethodObjArgs(defaults, st->str_get, name, Py_None, NULL);
            if (own == NULL) {
                return NULL;
            }
        }
    }
    if (PyDict_SetItem(dict, name, own) < 0) {
        Py_DECREF(own);
        return NULL;
    }
    return own;
}

static PyObject *
proxy_getattro(PyObject *self, PyObject *name)
{
    tc_state *st = tc_state_from_type(Py_TYPE(self));
    PyObject **dictptr, *dict, *found;

    if (st == NULL) {
        return NULL;
    }
    if (!PyUnicode_Check(name) || _PyType_Lookup(Py_TYPE(self), name) != NULL) {
        return PyObject_GenericGetAttr(self, name);
    }
    dictptr = _PyObject_GetDictPtr(self);
    if (dictptr == NULL || *dictptr == NULL) {
        return PyObject_GenericGetAttr(self, name);
    }
    dict = Py_NewRef(*dictptr);
    found = PyDict_GetItemWithError(dict, name);
    if (found != NULL) {
        Py_INCREF(found);
    }
    else if (!PyErr_Occurred()) {
        found = proxy_fallback(st, self, dict, name);
    }
    Py_DECREF(dict);
    return found;
}

static PyType_Slot proxy_slots[] = {
    {Py_tp_doc, (void *)PyDoc_STR(
        "Base of httpclient._RequestProxy: attributes the proxy lacks come from\n"
        "its ``request``, or from its ``defaults`` dict where the request's is None.")},
    {Py_tp_getattro, proxy_getattro},
    {0, NULL},
};

static PyType_Spec proxy_spec = {
    .name = "tornado_c._core.RequestProxyBase",
    .basicsize = sizeof(PyObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = proxy_slots,
};

int
tc_proxy_type_init(PyObject *module, tc_state *st)
{
    PyObject *type = PyType_FromModuleAndSpec(module, &proxy_spec, NULL);
    int rc;

    if (type == NULL) {
        return -1;
    }
    rc = PyModule_AddObjectRef(module, "RequestProxyBase", type);
    Py_DECREF(type);
    if (rc < 0) {
        return -1;
    }
    st->str_request = PyUnicode_InternFromString("request");
    st->str_defaults = PyUnicode_InternFromString("defaults");
    st->str_get = PyUnicode_InternFromString("get");
    return st->str_request == NULL || st->str_defaults == NULL || st->str_get == NULL ? -1 : 0;
}
