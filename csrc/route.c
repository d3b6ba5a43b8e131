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
 * RequestHandler subclasses or such routers, with compiled re patterns.
 * Each rule's shape is checked when the walk reaches it; at the first one
 * of any other shape (host rules, patched methods, other targets) the walk
 * answers NotImplemented and the caller runs the Python walk.  Up to then
 * nothing but the earlier rules' pattern matches (pure C) has run: only
 * the matching rule has its path arguments unquoted and its target's
 * delegate made, so the Python walk, started over, sees exactly what it
 * would have seen.  A request is matched against the rules up to the one
 * that matches, not the whole table.  get_handler_delegate is called as
 * Python calls it (so an override or patch of it is used), or, while it
 * is the original, its _HandlerDelegate made in C (handler.c).
 *
 * env: (RuleRouter.find_handler, _ApplicationRouter.get_target_delegate,
 *       PathMatches.match, _ApplicationRouter, AnyMatches, PathMatches,
 *       RequestHandler, routing._unquote_or_none, re.Pattern)
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
    ENV_PATTERN,
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

/* rule.matcher / rule.target (which: 0 / 1) and matcher.regex /
 * matcher._literal_prefix, as _PyObject_LookupAttr: through the class's
 * slots when it has them (csrc/slots.c), else getattr. */
static int
route_rule_attr(route_ctx *rc, PyObject *rule, int which, PyObject **out)
{
    PyObject *names[2] = {rc->st->str_matcher, rc->st->str_target};
    tc_slotmap *m = tc_slotmap_for(rc->st->rule_slots, TC_RULE_MAPS, Py_TYPE(rule), names, 2);
    return tc_slot_lookup(m, rule, which, names[which], out);
}

static int
route_matcher_attr(route_ctx *rc, PyObject *matcher, int which, PyObject **out)
{
    PyObject *names[2] = {rc->st->str_regex, rc->st->str__literal_prefix};
    tc_slotmap *m = tc_slotmap_for(rc->st->matcher_slots, TC_MATCHER_MAPS, Py_TYPE(matcher),
                                   names, 2);
    return tc_slot_lookup(m, matcher, which, names[which], out);
}

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

/* 1 when rule has a shape the walk takes: an AnyMatches or a PathMatches
 * (the original match, a compiled pattern) whose target is a RequestHandler
 * subclass or an _ApplicationRouter (whose own rules are checked as the
 * walk reaches them); 0 otherwise.  *matcher, *target and (for a
 * PathMatches; else NULL) *regex get new references when it returns 1.
 * It never raises: an attribute that cannot be read here (a malformed
 * rule, say) is left for the Python walk to meet, or not, exactly where
 * Tornado's would. */
static int
route_rule_ok(route_ctx *rc, PyObject *rule, PyObject **matcher, PyObject **target,
              PyObject **regex)
{
    PyTypeObject *mt;
    int ok = 1;

    *regex = NULL;
    *target = NULL;
    if (route_rule_attr(rc, rule, 0, matcher) <= 0 ||
        route_rule_attr(rc, rule, 1, target) <= 0) {
        PyErr_Clear();
        Py_CLEAR(*matcher);
        return 0;
    }
    mt = Py_TYPE(*matcher);
    if ((PyObject *)mt == rc->env[ENV_PATH_MATCHES]) {
        ok = _PyType_Lookup(mt, rc->st->str_match) == rc->env[ENV_MATCH];
        if (ok) {
            ok = route_matcher_attr(rc, *matcher, 0, regex) > 0 &&
                 (PyObject *)Py_TYPE(*regex) == rc->env[ENV_PATTERN];
            if (*regex == NULL) {
                PyErr_Clear();
            }
        }
    }
    else if ((PyObject *)mt != rc->env[ENV_ANY_MATCHES]) {
        ok = 0;
    }
    if (ok) {
        ok = (PyType_Check(*target) &&
              PyType_IsSubtype((PyTypeObject *)*target,
                               (PyTypeObject *)rc->env[ENV_REQUEST_HANDLER])) ||
             (PyObject *)Py_TYPE(*target) == rc->env[ENV_APP_ROUTER];
    }
    if (!ok) {
        Py_CLEAR(*matcher);
        Py_CLEAR(*target);
        Py_CLEAR(*regex);
    }
    return ok;
}

/* 1 when the path does not start with the literal text every match of
 * regex starts with (PathMatches._literal_prefix, worked out in Python
 * from this same pattern), so regex.match would answer None; 0 when that
 * cannot be told (no prefix, another pattern, a path that is not a str). */
static int
route_prefix_rules_out(route_ctx *rc, PyObject *matcher, PyObject *regex)
{
    PyObject *pair, *prefix;
    int out = 0;

    if (!PyUnicode_CheckExact(rc->path) || route_matcher_attr(rc, matcher, 1, &pair) <= 0) {
        PyErr_Clear();
        return 0;
    }
    if (PyTuple_CheckExact(pair) && PyTuple_GET_SIZE(pair) == 2 &&
        PyTuple_GET_ITEM(pair, 0) == regex) {
        prefix = PyTuple_GET_ITEM(pair, 1);
        if (PyUnicode_CheckExact(prefix) && PyUnicode_GET_LENGTH(prefix) > 0) {
            Py_ssize_t r = PyUnicode_Tailmatch(rc->path, prefix, 0, PY_SSIZE_T_MAX, -1);
            if (r < 0) {
                PyErr_Clear();
            }
            out = r == 0;
        }
    }
    Py_DECREF(pair);
    return out;
}

/* PathMatches.match(request) for the matcher's pattern regex: the match
 * dict, Py_None for no match (a new reference either way), NULL on error. */
static PyObject *
route_path_match(route_ctx *rc, PyObject *matcher, PyObject *regex)
{
    tc_state *st = rc->st;
    PyObject *found = NULL, *out = NULL, *groups = NULL, *index = NULL;
    PyObject *args = NULL, *kwargs = NULL;
    Py_ssize_t ngroups, i;
    int named;

    if (rc->path == NULL && (rc->path = PyObject_GetAttr(rc->request, st->str_path)) == NULL) {
        return NULL;
    }
    if (route_prefix_rules_out(rc, matcher, regex)) {
        Py_RETURN_NONE;
    }
    found = PyObject_CallMethodOneArg(regex, st->str_match, rc->path);
    if (found == NULL || found == Py_None) {
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
    Py_XDECREF(found);
    Py_XDECREF(groups);
    Py_XDECREF(index);
    Py_XDECREF(args);
    Py_XDECREF(kwargs);
    return out;
}

/* The walk of one router: the delegate, Py_None when no rule matches, or
 * Py_NotImplemented at the first router or rule of a shape it does not
 * take (see the top of the file); a new reference, NULL on error. */
static PyObject *
route_walk(route_ctx *rc, PyObject *router, int depth)
{
    tc_state *st = rc->st;
    PyObject *rules = route_rules(rc, router);
    Py_ssize_t i;

    if (rules == NULL || depth >= ROUTE_MAX_DEPTH) {
        if (rules == NULL && PyErr_Occurred()) {
            PyErr_Clear(); /* (left for the Python walk, as in route_rule_ok) */
        }
        Py_XDECREF(rules);
        Py_RETURN_NOTIMPLEMENTED;
    }
    for (i = 0; i < PyList_GET_SIZE(rules); i++) {
        PyObject *rule = Py_NewRef(PyList_GET_ITEM(rules, i));
        PyObject *matcher = NULL, *matched = NULL, *extra = NULL, *target = NULL;
        PyObject *regex = NULL, *found = NULL;
        int truth;

        if (!route_rule_ok(rc, rule, &matcher, &target, &regex)) {
            Py_DECREF(rule);
            Py_DECREF(rules);
            Py_RETURN_NOTIMPLEMENTED;
        }
        if ((PyObject *)Py_TYPE(matcher) == rc->env[ENV_ANY_MATCHES]) {
            matched = PyDict_New();
        }
        else {
            matched = route_path_match(rc, matcher, regex);
        }
        Py_CLEAR(regex);
        if (matched == NULL) {
            goto fail;
        }
        if (matched == Py_None) {
            Py_DECREF(matched);
            Py_DECREF(matcher);
            Py_DECREF(target);
            Py_DECREF(rule);
            continue;
        }
        extra = PyObject_GetAttr(rule, st->str_target_kwargs);
        if (extra == NULL || (truth = PyObject_IsTrue(extra)) < 0 ||
            (truth && PyDict_SetItem(matched, st->str_target_kwargs, extra) < 0)) {
            goto fail;
        }
        if ((PyObject *)Py_TYPE(target) == rc->env[ENV_APP_ROUTER]) {
            /* target.find_handler(request, **matched): RuleRouter's ignores
             * the keywords; route_rules makes sure it is RuleRouter's. */
            found = route_walk(rc, target, depth + 1);
        }
        else {
            /* self.application.get_handler_delegate(request, target, **matched):
             * made in C (handler.c) while that is the original. */
            PyObject *app = PyObject_GetAttr(router, st->str_application);
            PyObject *method = NULL, *posargs = NULL;
            if (app != NULL) {
                /* (matched has str keys only: these lookups cannot fail) */
                PyObject *tkw = PyDict_GetItem(matched, st->str_target_kwargs);
                PyObject *pa = PyDict_GetItem(matched, st->str_path_args);
                PyObject *pkw = PyDict_GetItem(matched, st->str_path_kwargs);
                found = tc_web_make_delegate(st, app, rc->request, target, tkw, pa, pkw);
                if (found == NULL && !PyErr_Occurred()) {
                    method = PyObject_GetAttr(app, st->str_get_handler_delegate);
                }
            }
            posargs = method != NULL ? PyTuple_Pack(2, rc->request, target) : NULL;
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
            /* The delegate, or NotImplemented from a nested router. */
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
tc_route_walk(tc_state *st, PyObject *router, PyObject *request, PyObject *env)
{
    route_ctx rc;
    PyObject *result;

    if (!PyTuple_CheckExact(env) || PyTuple_GET_SIZE(env) != ENV_SIZE) {
        PyErr_SetString(PyExc_TypeError, "_route(router, request, env)");
        return NULL;
    }
    rc.st = st;
    rc.env = &PyTuple_GET_ITEM(env, 0);
    rc.request = request;
    rc.path = NULL;
    result = route_walk(&rc, router, 0);
    Py_XDECREF(rc.path);
    return result;
}

PyObject *
tc_route(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "_route(router, request, env)");
        return NULL;
    }
    return tc_route_walk(PyModule_GetState(module), args[0], args[1], args[2]);
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
    INTERN(str__literal_prefix, "_literal_prefix");
#undef INTERN
    return 0;
}
