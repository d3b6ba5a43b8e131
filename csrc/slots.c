/*
 * slots.c — storing into and reading from a Python class's __slots__ in C.
 *
 * httputil's per-request classes (HTTPServerRequest, HTTPHeaders) declare
 * __slots__ for the attributes every instance has.  A tc_slotmap notes the
 * class's member descriptors for a list of names; while the class still
 * has them (checked again only when its version tag changes, which it does
 * whenever the class or a base is modified), an attribute is a pointer at
 * a fixed offset in the instance: a store or a load instead of a generic
 * setattr / getattr (~200-300 instructions each).  A name whose descriptor
 * has been replaced (a property patched onto the class, say) makes the map
 * not current, and callers then use setattr / getattr.
 */
#include "tc.h"

#include <stddef.h>

/* Note tp's object slots (its own or a base's) for names[0..n-1]; a name
 * that is not one (absent, a class attribute, a read-only or non-object
 * member) gets NULL. */
int
tc_slotmap_set(tc_slotmap *m, PyTypeObject *tp, PyObject *const *names, int n)
{
    int i;

    if (n > TC_SLOTMAP_MAX) {
        PyErr_SetString(PyExc_SystemError, "tc_slotmap_set: too many names");
        return -1;
    }
    tc_slotmap_clear(m);
    for (i = 0; i < n; i++) {
        /* (_PyType_Lookup does not raise) */
        PyObject *d = _PyType_Lookup(tp, names[i]);
        if (d != NULL && (Py_TYPE(d) != &PyMemberDescr_Type ||
                          !PyType_IsSubtype(tp, PyDescr_TYPE(d)) ||
                          ((PyMemberDescrObject *)d)->d_member->type != T_OBJECT_EX ||
                          (((PyMemberDescrObject *)d)->d_member->flags & READONLY))) {
            d = NULL;
        }
        m->names[i] = Py_NewRef(names[i]);
        m->descrs[i] = Py_XNewRef(d);
        m->offsets[i] = d != NULL ? ((PyMemberDescrObject *)d)->d_member->offset : 0;
        m->n = i + 1;  /* (what tc_slotmap_clear releases on an error) */
    }
    /* Not a reference: the map must not keep a class alive (a class is a
     * cycle, and one freed by a later eviction would be garbage made in
     * the middle of some request).  Another class may come to live at
     * this address; it has another version tag (tags are never reused)
     * and is then accepted only if it resolves every name to the same
     * descriptor (tc_slotmap_check), which fixes the offsets. */
    m->type = tp;
    m->version = 0;
    return 0;
}

void
tc_slotmap_clear(tc_slotmap *m)
{
    int i;

    for (i = 0; i < m->n; i++) {
        Py_CLEAR(m->names[i]);
        Py_CLEAR(m->descrs[i]);
        m->offsets[i] = 0;
    }
    m->type = NULL;
    m->n = 0;
    m->version = 0;
}

int
tc_slotmap_traverse(tc_slotmap *m, visitproc visit, void *arg)
{
    int i;

    for (i = 0; i < m->n; i++) {
        Py_VISIT(m->descrs[i]);
    }
    return 0;
}

/* The maps kept in the module state (request.c, handler.c, route.c), for
 * its traverse and clear: where each set of them is, and how many. */
static const struct {
    size_t offset;
    int count;
} state_maps[] = {
    {offsetof(tc_state, request_slots), 1},
    {offsetof(tc_state, header_slots), 1},
    {offsetof(tc_state, hd_slots), 1},
    {offsetof(tc_state, handler_slots), TC_HANDLER_MAPS},
    {offsetof(tc_state, rule_slots), TC_RULE_MAPS},
    {offsetof(tc_state, matcher_slots), TC_MATCHER_MAPS},
    {offsetof(tc_state, router_slots), 1},
    {offsetof(tc_state, conn_slots), 1},
    {offsetof(tc_state, context_slots), 1},
};
#define STATE_MAPS ((int)(sizeof state_maps / sizeof state_maps[0]))

int
tc_state_slotmaps_traverse(tc_state *st, visitproc visit, void *arg)
{
    for (int k = 0; k < STATE_MAPS; k++) {
        tc_slotmap *set = (tc_slotmap *)((char *)st + state_maps[k].offset);
        for (int i = 0; i < state_maps[k].count; i++) {
            int r = tc_slotmap_traverse(&set[i], visit, arg);
            if (r != 0) {
                return r;
            }
        }
    }
    return 0;
}

void
tc_state_slotmaps_clear(tc_state *st)
{
    for (int k = 0; k < STATE_MAPS; k++) {
        tc_slotmap *set = (tc_slotmap *)((char *)st + state_maps[k].offset);
        for (int i = 0; i < state_maps[k].count; i++) {
            tc_slotmap_clear(&set[i]);
        }
    }
}

/* How many times tc_slotmap_check has compared a class's descriptors one
 * by one (_core._slotmap_checks(): tests check that requests on unchanged
 * classes add none, the version tag vouching for the maps). */
Py_ssize_t tc_slotmap_checks = 0;

/* tc_slotmap_current() when the version tag does not settle it. */
int
tc_slotmap_check(tc_slotmap *m, PyTypeObject *tp)
{
    int i;

    if (tp != m->type || tp == NULL) {
        return 0;
    }
    if (tp->tp_setattro != PyObject_GenericSetAttr ||
        tp->tp_getattro != PyObject_GenericGetAttr) {
        return 0;
    }
    tc_slotmap_checks++;
    for (i = 0; i < m->n; i++) {
        if (m->descrs[i] != NULL && _PyType_Lookup(tp, m->names[i]) != m->descrs[i]) {
            return 0;
        }
    }
    /* _PyType_Lookup gave the class a version tag if it can have one. */
    if (tc_type_tagged(tp)) {
        m->version = tp->tp_version_tag;
    }
    return 1;
}

/* The map for class tp among cache[0..ncache) (made for names[0..n), in
 * the entry tp's address picks, replacing whatever class was there), or
 * NULL when one cannot be made (no exception is left set).  ncache is a
 * power of two (a mask, not a division, picks the entry: this runs several
 * times per request). */
tc_slotmap *
tc_slotmap_for(tc_slotmap *cache, int ncache, PyTypeObject *tp, PyObject *const *names, int n)
{
    tc_slotmap *m = &cache[((uintptr_t)tp >> 4) & (uintptr_t)(ncache - 1)];

    assert(ncache > 0 && (ncache & (ncache - 1)) == 0);

    /* (the same address with another version tag and other descriptors:
     * another class, or one whose slots were replaced -- made again) */
    if ((m->type != tp || (tp->tp_version_tag != m->version && !tc_slotmap_check(m, tp))) &&
        tc_slotmap_set(m, tp, names, n) < 0) {
        PyErr_Clear();
        return NULL;
    }
    return m;
}
