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
 * Each rule's matcher is checked when the walk reaches it, its target
 * (read only then, as in Python) when it matches; at the first one of any
 * other shape (host rules, patched methods, other targets) the walk
 * answers NotImplemented and the caller runs the Python walk.  Up to then
 * nothing but the earlier rules' pattern matches (pure C) has run: only
 * the matching rule, once its target is known to be taken, has its path
 * arguments unquoted (a group without '%' encoded to UTF-8 here, which is
 * what _unquote_or_none returns for it) and its target's delegate made, so
 * the Python walk, started over, sees exactly what it would have seen.  A
 * request is matched against the rules up to the one that matches, not
 * the whole table.  get_handler_delegate is called as
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

#define RULE_NAMES_MAX 3
#define MATCHER_NAMES_MAX 2
#define ROUTER_NAMES_MAX 2

/* Deep enough for any real application; deeper trees take the Python walk. */
#define ROUTE_MAX_DEPTH 8

/* What the walk has found out about one class, kept for the rest of the
 * walk while the class keeps the version tag it had then (a change to the
 * class or a base gives it a new one; tags are never reused): its slot
 * map (which stays current with the tag, see tc_slotmap_current) and,
 * for a router or matcher class, whether its methods are the originals. */
typedef struct {
    PyTypeObject *tp;      /* compared only; NULL: nothing kept */
    unsigned int version;
    tc_slotmap *m;         /* its map when current, else NULL */
    int original;          /* (routers, PathMatches) its methods the originals: 1 / 0,
                              -1 not asked yet */
} route_memo;

typedef struct {
    tc_state *st;
    PyObject *const *env;
    PyObject *request;
    PyObject *path;        /* request.path, fetched on first use */
    PyObject *rule_names[RULE_NAMES_MAX];
    PyObject *matcher_names[MATCHER_NAMES_MAX];
    PyObject *router_names[ROUTER_NAMES_MAX];
    /* The last rule, matcher and router classes met (rules of a table are
     * nearly always of one class): their maps are not looked up, nor
     * their methods checked, again for every rule. */
    route_memo rule_memo, matcher_memo, router_memo;
} route_ctx;

/* Attributes of a rule (RULE_*), a matcher (MATCHER_*) and a router
 * (ROUTER_*) the walk reads, as _PyObject_LookupAttr: 1 and a new reference
 * in *out, 0 when there is none, -1 with an exception.  Through the class's
 * slots when it has them (csrc/slots.c: one map per class met, checked
 * once per object read), else getattr. */
enum { RULE_MATCHER, RULE_TARGET, RULE_TARGET_KWARGS, RULE_NAMES };
enum { MATCHER_REGEX, MATCHER_LITERAL_PREFIX, MATCHER_NAMES };
enum { ROUTER_RULES, ROUTER_APPLICATION, ROUTER_NAMES };

typedef struct {
    PyObject *obj;
    tc_slotmap *m;     /* its class's map when current, else NULL */
    PyObject **names;
} route_attrs;

/* 1 when memo holds what was found out about tp, still true. */
static inline int
route_memo_hit(route_memo *memo, PyTypeObject *tp)
{
    return memo->tp == tp && tp->tp_version_tag == memo->version &&
           tc_type_tagged(tp) &&
           (memo->m == NULL || (memo->m->type == tp && memo->m->version == memo->version));
}

/* What memo (just set up for tp by route_attrs_for) knows of whether tp's
 * methods are the originals: 1 / 0, or -1 when it does not know. */
static inline int
route_memo_known(route_memo *memo, PyTypeObject *tp)
{
    return memo->tp == tp ? memo->original : -1;
}

/* ok, the answer just worked out for tp, kept in memo when memo is tp's. */
static inline int
route_memo_note(route_memo *memo, PyTypeObject *tp, int ok)
{
    if (memo->tp == tp) {
        memo->original = ok;
    }
    return ok;
}

/* Sets *a up for obj's attributes: its class's map from memo when memo
 * has it, else from cache (and memo then remembers it, when the class has
 * a version tag to check it by; original is left for the caller to set,
 * -1 meaning not known yet). */
static void
route_attrs_for(route_attrs *a, PyObject *obj, tc_slotmap *cache, int ncache, PyObject **names,
                int n, route_memo *memo)
{
    PyTypeObject *tp = Py_TYPE(obj);
    tc_slotmap *m;

    a->obj = obj;
    a->names = names;
    if (route_memo_hit(memo, tp)) {
        a->m = memo->m;
        return;
    }
    m = tc_slotmap_for(cache, ncache, tp, names, n);
    a->m = m != NULL && tc_slotmap_current(m, tp) ? m : NULL;
    if (tc_type_tagged(tp) &&
        (a->m == NULL || a->m->version == tp->tp_version_tag)) {
        memo->tp = tp;
        memo->version = tp->tp_version_tag;
        memo->m = a->m;
        memo->original = -1;
    }
    else {
        memo->tp = NULL;
    }
}

static int
route_attr(route_attrs *a, int which, PyObject **out)
{
    if (a->m != NULL && a->m->descrs[which] != NULL) {
        PyObject *v = *tc_slot_ptr(a->m, a->obj, which);
        if (v != NULL) {
            *out = Py_NewRef(v);
            return 1;
        }
    }
    return tc_lookup_attr(a->obj, a->names[which], out);
}

static void
route_rule_attrs(route_ctx *rc, route_attrs *a, PyObject *rule)
{
    route_attrs_for(a, rule, rc->st->rule_slots, TC_RULE_MAPS, rc->rule_names, RULE_NAMES,
                    &rc->rule_memo);
}

static void
route_matcher_attrs(route_ctx *rc, route_attrs *a, PyObject *matcher)
{
    route_attrs_for(a, matcher, rc->st->matcher_slots, TC_MATCHER_MAPS, rc->matcher_names,
                    MATCHER_NAMES, &rc->matcher_memo);
}

/* The rules list of router when it has the shape described above (a new
 * reference), NULL with no exception when it does not, NULL with an
 * exception on error.  *ra is left set up for the router's attributes. */
static PyObject *
route_rules(route_ctx *rc, PyObject *router, route_attrs *ra)
{
    PyTypeObject *tp = Py_TYPE(router);
    PyObject *rules;
    int ok;

    if ((PyObject *)tp != rc->env[ENV_APP_ROUTER]) {
        return NULL;
    }
    route_attrs_for(ra, router, &rc->st->router_slots, 1, rc->router_names, ROUTER_NAMES,
                    &rc->router_memo);
    ok = route_memo_known(&rc->router_memo, tp);
    if (ok < 0) {
        ok = route_memo_note(
            &rc->router_memo, tp,
            _PyType_Lookup(tp, rc->st->str_find_handler) == rc->env[ENV_FIND_HANDLER] &&
                _PyType_Lookup(tp, rc->st->str_get_target_delegate) ==
                    rc->env[ENV_GET_TARGET_DELEGATE]);
    }
    if (!ok) {
        return NULL;
    }
    if (route_attr(ra, ROUTER_RULES, &rules) <= 0) {
        return NULL;
    }
    if (!PyList_CheckExact(rules)) {
        Py_DECREF(rules);
        return NULL;
    }
    return rules;
}

/* What the walk reads of one rule. */
typedef struct {
    route_attrs attrs;     /* the rule's */
    PyObject *matcher, *target;
    PyObject *regex;       /* a PathMatches' pattern, else NULL */
    PyObject *literal;     /* its _literal_prefix, or NULL */
} route_rule;

static void
route_rule_clear(route_rule *r)
{
    Py_CLEAR(r->matcher);
    Py_CLEAR(r->target);
    Py_CLEAR(r->regex);
    Py_CLEAR(r->literal);
}

/* 1 when rule's matcher has a shape the walk takes: an AnyMatches, or a
 * PathMatches with the original match and a compiled pattern; 0
 * otherwise.  *r holds new references when it returns 1, none otherwise.
 * It never raises: an attribute that cannot be read here (a malformed
 * rule, say) is left for the Python walk to meet, or not, exactly where
 * Tornado's would. */
static int
route_rule_ok(route_ctx *rc, PyObject *rule, route_rule *r)
{
    PyTypeObject *mt;
    int ok = 1;

    r->matcher = r->target = r->regex = r->literal = NULL;
    route_rule_attrs(rc, &r->attrs, rule);
    if (route_attr(&r->attrs, RULE_MATCHER, &r->matcher) <= 0) {
        PyErr_Clear();
        return 0;
    }
    mt = Py_TYPE(r->matcher);
    if ((PyObject *)mt == rc->env[ENV_PATH_MATCHES]) {
        route_attrs ma;
        route_matcher_attrs(rc, &ma, r->matcher);
        ok = route_memo_known(&rc->matcher_memo, mt);
        if (ok < 0) {
            ok = route_memo_note(&rc->matcher_memo, mt,
                                 _PyType_Lookup(mt, rc->st->str_match) == rc->env[ENV_MATCH]);
        }
        if (ok) {
            ok = route_attr(&ma, MATCHER_REGEX, &r->regex) > 0 &&
                 (PyObject *)Py_TYPE(r->regex) == rc->env[ENV_PATTERN];
            if (ok && route_attr(&ma, MATCHER_LITERAL_PREFIX, &r->literal) < 0) {
                r->literal = NULL; /* (no shortcut: the pattern is run) */
            }
            if (PyErr_Occurred()) {
                PyErr_Clear();
            }
        }
    }
    else if ((PyObject *)mt != rc->env[ENV_ANY_MATCHES]) {
        ok = 0;
    }
    if (!ok) {
        route_rule_clear(r);
    }
    return ok;
}

/* 1 when the target of a rule that matched (read only then, as
 * get_target_delegate would) is a RequestHandler subclass or an
 * _ApplicationRouter (whose own rules are checked as the walk reaches
 * them), with a new reference in r->target; 0 otherwise, never raising
 * (see route_rule_ok). */
static int
route_target_ok(route_ctx *rc, route_rule *r)
{
    if (route_attr(&r->attrs, RULE_TARGET, &r->target) <= 0) {
        PyErr_Clear();
        return 0;
    }
    return (PyType_Check(r->target) &&
            PyType_IsSubtype((PyTypeObject *)r->target,
                             (PyTypeObject *)rc->env[ENV_REQUEST_HANDLER])) ||
           (PyObject *)Py_TYPE(r->target) == rc->env[ENV_APP_ROUTER];
}

/* What PathMatches._literal_prefix -- (pattern, prefix, whole), worked out
 * in Python from this same pattern -- tells of regex.match(path) without
 * running it: 0 no match (the path does not start with the text every
 * match starts with, or the pattern is the literal ``whole`` + "$" and the
 * path is neither that nor that and a newline); 1 a match (of such a
 * pattern, which has no groups); -1 nothing (no prefix, another pattern, a
 * path that is not a str). */
static int
route_literal(route_ctx *rc, PyObject *pair, PyObject *regex)
{
    PyObject *prefix, *whole;
    Py_ssize_t n, len;

    if (pair == NULL || !PyUnicode_CheckExact(rc->path) || !PyTuple_CheckExact(pair) ||
        PyTuple_GET_SIZE(pair) < 2 || PyTuple_GET_ITEM(pair, 0) != regex) {
        return -1;
    }
    whole = PyTuple_GET_SIZE(pair) >= 3 ? PyTuple_GET_ITEM(pair, 2) : Py_None;
    if (PyUnicode_CheckExact(whole)) {
        n = PyUnicode_GET_LENGTH(whole);
        len = PyUnicode_GET_LENGTH(rc->path);
        if (len == n + 1 && PyUnicode_READ_CHAR(rc->path, n) == '\n') {
            Py_ssize_t r = PyUnicode_Tailmatch(rc->path, whole, 0, n, -1);
            if (r < 0) {
                PyErr_Clear();
                return -1;
            }
            return r == 1;
        }
        return len == n && PyUnicode_Compare(rc->path, whole) == 0;
    }
    prefix = PyTuple_GET_ITEM(pair, 1);
    if (PyUnicode_CheckExact(prefix) && PyUnicode_GET_LENGTH(prefix) > 0) {
        Py_ssize_t r = PyUnicode_Tailmatch(rc->path, prefix, 0, PY_SSIZE_T_MAX, -1);
        if (r < 0) {
            PyErr_Clear();
            return -1;
        }
        return r == 0 ? 0 : -1;
    }
    return -1;
}

/* routing._unquote_or_none(group): a str with no '%' is its UTF-8 bytes
 * (what url_unescape(s, encoding=None, plus=False) returns for it, through
 * urllib.parse.unquote_to_bytes) made here; anything else, or an encoding
 * error, is left to the function.  A new reference. */
static PyObject *
route_unquote(route_ctx *rc, PyObject *group)
{
    if (PyUnicode_CheckExact(group) &&
        PyUnicode_FindChar(group, '%', 0, PyUnicode_GET_LENGTH(group), 1) == -1) {
        PyObject *raw = PyUnicode_AsUTF8String(group);
        if (raw != NULL) {
            return raw;
        }
        PyErr_Clear(); /* (a lone surrogate: the function raises its own error) */
    }
    return PyObject_CallOneArg(rc->env[ENV_UNQUOTE], group);
}

/* Whether the rule's pattern matches request.path: 1 with *found the
 * re.Match (a new reference), or NULL when the literal shortcut decided
 * (such a pattern has no groups); 0 for no match; -1 on error. */
static int
route_path_match(route_ctx *rc, route_rule *r, PyObject **found)
{
    int known;

    *found = NULL;
    if (rc->path == NULL &&
        (rc->path = PyObject_GetAttr(rc->request, rc->st->str_path)) == NULL) {
        return -1;
    }
    known = route_literal(rc, r->literal, r->regex);
    if (known >= 0) {
        return known;
    }
    *found = PyObject_CallMethodOneArg(r->regex, rc->st->str_match, rc->path);
    if (*found == NULL || *found != Py_None) {
        return *found == NULL ? -1 : 1;
    }
    Py_CLEAR(*found);
    return 0;
}

/* The rest of PathMatches.match(request) once the pattern matched (found,
 * or NULL for the literal shortcut's match): *args and *kwargs its
 * path_args (a list) and path_kwargs (a dict) as new references -- both
 * NULL when the pattern has no groups (match returns {}).  0 / -1. */
static int
route_path_args(route_ctx *rc, route_rule *r, PyObject *found, PyObject **args,
                PyObject **kwargs)
{
    tc_state *st = rc->st;
    PyObject *regex = r->regex, *groups = NULL, *index = NULL;
    Py_ssize_t ngroups, i;
    int named, rc_ = -1;

    *args = *kwargs = NULL;
    if (found == NULL) {
        return 0;
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
        rc_ = 0;
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
        *args = PyList_New(PyTuple_GET_SIZE(groups));
        if (*args == NULL) {
            goto done;
        }
        for (i = 0; i < PyTuple_GET_SIZE(groups); i++) {
            PyObject *v = route_unquote(rc, PyTuple_GET_ITEM(groups, i));
            if (v == NULL) {
                goto done;
            }
            PyList_SET_ITEM(*args, i, v);
        }
        *kwargs = PyDict_New();
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
        *kwargs = PyDict_New();
        *args = PyList_New(0);
        if (*kwargs == NULL || *args == NULL) {
            goto done;
        }
        while (PyDict_Next(groups, &pos, &key, &value)) {
            PyObject *k = PyObject_Str(key), *v;
            if (k == NULL) {
                goto done;
            }
            v = route_unquote(rc, value);
            if (v == NULL || PyDict_SetItem(*kwargs, k, v) < 0) {
                Py_DECREF(k);
                Py_XDECREF(v);
                goto done;
            }
            Py_DECREF(k);
            Py_DECREF(v);
        }
    }
    rc_ = *kwargs != NULL ? 0 : -1;
done:
    if (rc_ < 0) {
        Py_CLEAR(*args);
        Py_CLEAR(*kwargs);
    }
    Py_XDECREF(groups);
    Py_XDECREF(index);
    return rc_;
}

/* get_target_delegate for a RequestHandler class target:
 * self.application.get_handler_delegate(request, target, **matched) -- made
 * in C (handler.c) while that is the original.  args / kwargs: the
 * match's path_args / path_kwargs (NULL: not in matched); extra: the
 * rule's target_kwargs when true (else NULL). */
static PyObject *
route_handler_delegate(route_ctx *rc, route_attrs *router, PyObject *target, PyObject *args,
                       PyObject *kwargs, PyObject *extra)
{
    tc_state *st = rc->st;
    PyObject *app, *found, *method, *posargs = NULL, *matched = NULL;

    switch (route_attr(router, ROUTER_APPLICATION, &app)) {
    case -1:
        return NULL;
    case 0:
        /* (getattr's own AttributeError) */
        return PyObject_GetAttr(router->obj, rc->router_names[ROUTER_APPLICATION]);
    }
    found = tc_web_make_delegate(st, app, rc->request, target, extra, args, kwargs);
    if (found != NULL || PyErr_Occurred()) {
        Py_DECREF(app);
        return found;
    }
    method = PyObject_GetAttr(app, st->str_get_handler_delegate);
    Py_DECREF(app);
    matched = method != NULL ? PyDict_New() : NULL;
    if (matched == NULL ||
        (args != NULL && PyDict_SetItem(matched, st->str_path_args, args) < 0) ||
        (kwargs != NULL && PyDict_SetItem(matched, st->str_path_kwargs, kwargs) < 0) ||
        (extra != NULL && PyDict_SetItem(matched, st->str_target_kwargs, extra) < 0)) {
        goto done;
    }
    posargs = PyTuple_Pack(2, rc->request, target);
    if (posargs != NULL) {
        found = PyObject_Call(method, posargs, matched);
    }
done:
    Py_XDECREF(posargs);
    Py_XDECREF(matched);
    Py_XDECREF(method);
    return found;
}

/* The walk of one router: the delegate, Py_None when no rule matches, or
 * Py_NotImplemented at the first router or rule of a shape it does not
 * take (see the top of the file); a new reference, NULL on error. */
static PyObject *
route_walk(route_ctx *rc, PyObject *router, int depth)
{
    route_attrs ra;
    PyObject *rules = route_rules(rc, router, &ra);
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
        PyObject *args = NULL, *kwargs = NULL, *extra = NULL, *found = NULL, *match = NULL;
        route_rule r;
        int matched, truth;

        if (!route_rule_ok(rc, rule, &r)) {
            Py_DECREF(rule);
            Py_DECREF(rules);
            Py_RETURN_NOTIMPLEMENTED;
        }
        matched = (PyObject *)Py_TYPE(r.matcher) == rc->env[ENV_ANY_MATCHES]
                      ? 1
                      : route_path_match(rc, &r, &match);
        if (matched <= 0) {
            route_rule_clear(&r);
            Py_DECREF(rule);
            if (matched < 0) {
                Py_DECREF(rules);
                return NULL;
            }
            continue;
        }
        /* (the target is read, and the path arguments made, only for the
         * rule that matches) */
        if (!route_target_ok(rc, &r)) {
            Py_XDECREF(match);
            route_rule_clear(&r);
            Py_DECREF(rule);
            Py_DECREF(rules);
            Py_RETURN_NOTIMPLEMENTED;
        }
        matched = route_path_args(rc, &r, match, &args, &kwargs);
        Py_XDECREF(match);
        if (matched < 0) {
            goto fail;
        }
        if (route_attr(&r.attrs, RULE_TARGET_KWARGS, &extra) == 0) {
            /* (getattr's own AttributeError) */
            extra = PyObject_GetAttr(rule, rc->rule_names[RULE_TARGET_KWARGS]);
        }
        if (extra == NULL || (truth = PyObject_IsTrue(extra)) < 0) {
            goto fail;
        }
        if ((PyObject *)Py_TYPE(r.target) == rc->env[ENV_APP_ROUTER]) {
            /* target.find_handler(request, **matched): RuleRouter's ignores
             * the keywords; route_rules makes sure it is RuleRouter's. */
            found = route_walk(rc, r.target, depth + 1);
        }
        else {
            found = route_handler_delegate(rc, &ra, r.target, args, kwargs,
                                           truth ? extra : NULL);
        }
        if (found == NULL) {
            goto fail;
        }
        route_rule_clear(&r);
        Py_DECREF(rule);
        Py_XDECREF(args);
        Py_XDECREF(kwargs);
        Py_DECREF(extra);
        if (found != Py_None) {
            /* The delegate, or NotImplemented from a nested router. */
            Py_DECREF(rules);
            return found;
        }
        Py_DECREF(found);
        continue;
    fail:
        route_rule_clear(&r);
        Py_DECREF(rule);
        Py_XDECREF(args);
        Py_XDECREF(kwargs);
        Py_XDECREF(extra);
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
    rc.rule_names[RULE_MATCHER] = st->str_matcher;
    rc.rule_names[RULE_TARGET] = st->str_target;
    rc.rule_names[RULE_TARGET_KWARGS] = st->str_target_kwargs;
    rc.matcher_names[MATCHER_REGEX] = st->str_regex;
    rc.matcher_names[MATCHER_LITERAL_PREFIX] = st->str__literal_prefix;
    rc.router_names[ROUTER_RULES] = st->str_rules;
    rc.router_names[ROUTER_APPLICATION] = st->str_application;
    rc.rule_memo.tp = rc.matcher_memo.tp = rc.router_memo.tp = NULL;
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
