/*
 * route.c — _route, the rule walk of an Application's routers in C.
 *
 * Application.find_handler asks its default_router, a RuleRouter, for the
 * delegate: RuleRouter.find_handler walks the rules, asks each matcher
 * (AnyMatches, PathMatches.match) and hands a match to
 * _ApplicationRouter.get_target_delegate, which recurses into a nested
 * router or calls Application.get_handler_delegate for a RequestHandler
 * class.  _route(router, request, env) does that walk with the same
 * objects and calls, for the usual shape of an application: routers that
 * are exactly _ApplicationRouter and resolve find_handler and
 * get_target_delegate to the original functions, AnyMatches and
 * PathMatches rules (with the original match), and targets that are
 * RequestHandler subclasses or such routers.  It looks at the whole tree
 * first and answers NotImplemented, before calling anything, for any
 * other shape (host rules, patched methods, other targets), so the caller
 * then runs the Python walk.  get_handler_delegate itself is called as
 * Python does (so an override or patch of it is used).
 *
 * env: (RuleRouter.find_handler, _ApplicationRouter.get_target_delegate,
 *       PathMatches.match, _ApplicationRouter, AnyMatches, PathMatches,
 *       RequestHandler, routing._unquote_or_none)
 */
#include "tc.h"

enum {
    ENV_FIND_HANDLER,
    ENV_GET_TARGET_DELEGATE,
    ENV_MATCH,
    ENV_APP_ROUTER,
    ENV_ANY_MATCHES,
    ENV_PATH_MATCHES,
    ENV_REQUEST_HANDLER,
    ENV_UNQUOTE,
    ENV_SIZE,
};

/* Deep enough for any real application; deeper trees take the Python walk. */
#define ROUTE_MAX_DEPTH 8

typedef struct {
    tc_state *st;
    PyObject *const *env;
    PyObject *request;
    PyObject *path;        /* request.path, fetched on first use */
} route_ctx;

/* The rules list of router when it has the shape described above (a new
 * reference), NULL with no exception when it does not, NULL with an
 * exception on error. */
static PyObject *
route_rules(route_ctx *rc, PyObject *router)
{
    PyTypeObject *tp = Py_TYPE(router);
    PyObject *rules;

    if ((PyObject *)tp != rc->env[ENV_APP_ROUTER] ||
        _PyType_Lookup(tp, rc->st->str_find_handler) != rc->env[ENV_FIND_HANDLER] ||
        _PyType_Lookup(tp, rc->st->str_get_target_delegate) != rc->env[ENV_GET_TARGET_DELEGATE]) {
        return NULL;
    }
    rules = PyObject_GetAttr(router, rc->st->str_rules);
    if (rules == NULL) {
        return NULL;
    }
    if (!PyList_CheckExact(rules)) {
        Py_DECREF(rules);
        return NULL;
    }
    return rules;
}

/* 1 when every rule of router (and of the routers it nests) has a shape
 * _route takes, else 0.  It never raises: an attribute that cannot be read
 * here (a malformed rule, say) is left for the Python walk to meet, or not,
 * exactly where Tornado's would. */
static int
route_check(route_ctx *rc, PyObject *router, int depth)
{
    PyObject *rules = route_rules(rc, router);
    Py_ssize_t i;
    int ok = 1;

    if (rules == NULL) {
        PyErr_Clear();
        return 0;
    }
    if (depth >= ROUTE_MAX_DEPTH) {
        Py_DECREF(rules);
        return 0;
    }
    for (i = 0; ok == 1 && i < PyList_GET_SIZE(rules); i++) {
        PyObject *rule = PyList_GET_ITEM(rules, i), *matcher, *target;
        PyTypeObject *mt;
        Py_INCREF(rule);
        matcher = PyObject_GetAttr(rule, rc->st->str_matcher);
        target = matcher != NULL ? PyObject_GetAttr(rule, rc->st->str_target) : NULL;
        Py_DECREF(rule);
        if (target == NULL) {
            PyErr_Clear();
            Py_XDECREF(matcher);
            ok = 0;
            break;
        }
        mt = Py_TYPE(matcher);
        if ((PyObject *)mt == rc->env[ENV_PATH_MATCHES]) {
            ok = _PyType_Lookup(mt, rc->st->str_match) == rc->env[ENV_MATCH];
        }
        else if ((PyObject *)mt != rc->env[ENV_ANY_MATCHES]) {
            ok = 0;
        }
        if (ok == 1) {
            if (PyType_Check(target) &&
                PyType_IsSubtype((PyTypeObject *)target,
                                 (PyTypeObject *)rc->env[ENV_REQUEST_HANDLER])) {
                ok = 1;
            }
            else if ((PyObject *)Py_TYPE(target) == rc->env[ENV_APP_ROUTER]) {
                ok = route_check(rc, target, depth + 1);
            }
            else {
                ok = 0;
            }
        }
        Py_DECREF(matcher);
        Py_DECREF(target);
    }
    Py_DECREF(rules);
    return ok;
}

/* PathMatches.match(request): the match dict, Py_None for no match (a new
 * reference either way), NULL on error. */
static PyObject *
route_path_match(route_ctx *rc, PyObject *matcher)
{
    tc_state *st = rc->st;
    PyObject *regex, *found = NULL, *out = NULL, *groups = NULL, *index = NULL;
    PyObject *args = NULL, *kwargs = NULL;
    Py_ssize_t ngroups, i;
    int named;

    if (rc->path == NULL && (rc->path = PyObject_GetAttr(rc->request, st->str_path)) == NULL) {
        return NULL;
    }
    regex = PyObject_GetAttr(matcher, st->str_regex);
    if (regex == NULL) {
        return NULL;
    }
    found = PyObject_CallMethodOneArg(regex, st->str_match, rc->path);
    if (found == NULL || found == Py_None) {
        Py_DECREF(regex);
        return found;
    }
    groups = PyObject_GetAttr(regex, st->str_groups);
    if (groups == NULL) {
        goto done;
    }
    ngroups = PyLong_AsSsize_t(groups);
    Py_CLEAR(groups);
    if (ngroups == -1 && PyErr_Occurred()) {
        goto done;
    }
    if (ngroups == 0) {
        out = PyDict_New();
        goto done;
    }
    index = PyObject_GetAttr(regex, st->str_groupindex);
    if (index == NULL || (named = PyObject_IsTrue(index)) < 0) {
        goto done;
    }
    if (!named) {
        groups = PyObject_CallMethodNoArgs(found, st->str_groups);
        if (groups == NULL) {
            goto done;
        }
        if (!PyTuple_Check(groups)) {
            PyErr_SetString(PyExc_TypeError, "match groups() is not a tuple");
            goto done;
        }
        args = PyList_New(PyTuple_GET_SIZE(groups));
        if (args == NULL) {
            goto done;
        }
        for (i = 0; i < PyTuple_GET_SIZE(groups); i++) {
            PyObject *v = PyObject_CallOneArg(rc->env[ENV_UNQUOTE], PyTuple_GET_ITEM(groups, i));
            if (v == NULL) {
                goto done;
            }
            PyList_SET_ITEM(args, i, v);
        }
        kwargs = PyDict_New();
    }
    else {
        PyObject *key, *value;
        Py_ssize_t pos = 0;
        groups = PyObject_CallMethodNoArgs(found, st->str_groupdict);
        if (groups == NULL) {
            goto done;
        }
        if (!PyDict_Check(groups)) {
            PyErr_SetString(PyExc_TypeError, "match groupdict() is not a dict");
            goto done;
        }
        kwargs = PyDict_New();
        args = PyList_New(0);
        if (kwargs == NULL || args == NULL) {
            goto done;
        }
        while (PyDict_Next(groups, &pos, &key, &value)) {
            PyObject *k = PyObject_Str(key), *v;
            if (k == NULL) {
                goto done;
            }
            v = PyObject_CallOneArg(rc->env[ENV_UNQUOTE], value);
            if (v == NULL || PyDict_SetItem(kwargs, k, v) < 0) {
                Py_DECREF(k);
                Py_XDECREF(v);
                goto done;
            }
            Py_DECREF(k);
            Py_DECREF(v);
        }
    }
    if (kwargs == NULL || args == NULL) {
        goto done;
    }
    out = PyDict_New();
    if (out != NULL && (PyDict_SetItem(out, st->str_path_args, args) < 0 ||
                        PyDict_SetItem(out, st->str_path_kwargs, kwargs) < 0)) {
        Py_CLEAR(out);
    }
done:
    Py_DECREF(regex);
    Py_XDECREF(found);
    Py_XDECREF(groups);
    Py_XDECREF(index);
    Py_XDECREF(args);
    Py_XDECREF(kwargs);
    return out;
}

/* The walk of one (checked) router: the delegate, or Py_None; a new
 * reference, NULL on error. */
static PyObject *
route_walk(route_ctx *rc, PyObject *router)
{
    tc_state *st = rc->st;
    PyObject *rules = PyObject_GetAttr(router, st->str_rules);
    Py_ssize_t i;

    if (rules == NULL) {
        return NULL;
    }
    if (!PyList_Check(rules)) {
        Py_DECREF(rules);
        PyErr_SetString(PyExc_TypeError, "router rules changed while routing");
        return NULL;
    }
    for (i = 0; i < PyList_GET_SIZE(rules); i++) {
        PyObject *rule = Py_NewRef(PyList_GET_ITEM(rules, i));
        PyObject *matcher = NULL, *matched = NULL, *extra = NULL, *target = NULL;
        PyObject *found = NULL;
        int truth;

        matcher = PyObject_GetAttr(rule, st->str_matcher);
        if (matcher == NULL) {
            goto fail;
        }
        if ((PyObject *)Py_TYPE(matcher) == rc->env[ENV_ANY_MATCHES]) {
            matched = PyDict_New();
        }
        else {
            matched = route_path_match(rc, matcher);
        }
        if (matched == NULL) {
            goto fail;
        }
        if (matched == Py_None) {
            Py_DECREF(matched);
            Py_DECREF(matcher);
            Py_DECREF(rule);
            continue;
        }
        extra = PyObject_GetAttr(rule, st->str_target_kwargs);
        if (extra == NULL || (truth = PyObject_IsTrue(extra)) < 0 ||
            (truth && PyDict_SetItem(matched, st->str_target_kwargs, extra) < 0)) {
            goto fail;
        }
        target = PyObject_GetAttr(rule, st->str_target);
        if (target == NULL) {
            goto fail;
        }
        if ((PyObject *)Py_TYPE(target) == rc->env[ENV_APP_ROUTER]) {
            /* target.find_handler(request, **matched): RuleRouter's ignores
             * the keywords; the check made sure it is RuleRouter's. */
            found = route_walk(rc, target);
        }
        else {
            /* self.application.get_handler_delegate(request, target, **matched) */
            PyObject *app = PyObject_GetAttr(router, st->str_application);
            PyObject *method = app != NULL ? PyObject_GetAttr(app, st->str_get_handler_delegate)
                                           : NULL;
            PyObject *posargs = method != NULL ? PyTuple_Pack(2, rc->request, target) : NULL;
            if (posargs != NULL) {
                found = PyObject_Call(method, posargs, matched);
            }
            Py_XDECREF(posargs);
            Py_XDECREF(method);
            Py_XDECREF(app);
        }
        if (found == NULL) {
            goto fail;
        }
        Py_DECREF(rule);
        Py_DECREF(matcher);
        Py_DECREF(matched);
        Py_DECREF(extra);
        Py_DECREF(target);
        if (found != Py_None) {
            Py_DECREF(rules);
            return found;
        }
        Py_DECREF(found);
        continue;
    fail:
        Py_DECREF(rule);
        Py_XDECREF(matcher);
        Py_XDECREF(matched);
        Py_XDECREF(extra);
        Py_XDECREF(target);
        Py_DECREF(rules);
        return NULL;
    }
    Py_DECREF(rules);
    Py_RETURN_NONE;
}

PyObject *
tc_route(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    route_ctx rc;
    PyObject *result;
    int ok;

    if (nargs != 3 || !PyTuple_CheckExact(args[2]) || PyTuple_GET_SIZE(args[2]) != ENV_SIZE) {
        PyErr_SetString(PyExc_TypeError, "_route(router, request, env)");
        return NULL;
    }
    rc.st = PyModule_GetState(module);
    rc.env = &PyTuple_GET_ITEM(args[2], 0);
    rc.request = args[1];
    rc.path = NULL;
    ok = route_check(&rc, args[0], 0);
    if (!ok) {
        Py_RETURN_NOTIMPLEMENTED;
    }
    result = route_walk(&rc, args[0]);
    Py_XDECREF(rc.path);
    return result;
}

int
tc_route_init(tc_state *st)
{
#define INTERN(field, text)                                       \
    if ((st->field = PyUnicode_InternFromString(text)) == NULL) { \
        return -1;                                                \
    }
    INTERN(str_get_target_delegate, "get_target_delegate");
    INTERN(str_rules, "rules");
    INTERN(str_matcher, "matcher");
    INTERN(str_target, "target");
    INTERN(str_target_kwargs, "target_kwargs");
    INTERN(str_match, "match");
    INTERN(str_regex, "regex");
    INTERN(str_groups, "groups");
    INTERN(str_groupindex, "groupindex");
    INTERN(str_groupdict, "groupdict");
    INTERN(str_path, "path");
    INTERN(str_path_args, "path_args");
    INTERN(str_path_kwargs, "path_kwargs");
    INTERN(str_application, "application");
    INTERN(str_get_handler_delegate, "get_handler_delegate");
#undef INTERN
    return 0;
}
