/*
 * loop.c — LoopBase, the native core of tornado_c's asyncio event loop.
 *
 * Serves tornado_c.ioloop and every asyncio user of the native loop.  The
 * Python class tornado_c._loop.Loop derives from LoopBase and from asyncio's
 * unix selector loop: asyncio's Python code keeps the rarely used, non-hot
 * API (run_until_complete, transports, subprocesses, signals, executors),
 * while this file owns the hot paths: the ready queue (a ring of Handles),
 * the timer heap behind one uv_timer_t, one loop iteration (_run_once, the
 * same contract as asyncio's), call_soon / call_later / call_at /
 * call_soon_threadsafe (uv_async) and fd watching (poll.c).
 *
 * The GIL is released for the poll itself: a uv_prepare_t drops it right
 * before libuv blocks, and whatever runs after the poll takes it back (once).
 */
#include "tc.h"

#include <unistd.h>

#include <math.h>
#include <time.h>

#define TC_MAX_TIMEOUT_MS 86400000ULL /* asyncio's MAXIMUM_SELECT_TIMEOUT */

static double
loop_monotonic(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static inline tc_state *
loop_state(tc_loop *self)
{
    if (self->st == NULL) {
        self->st = tc_state_from_type(Py_TYPE(self));
    }
    return self->st;
}

/* ------------------------------------------------------------ ready queue */

/* A ring of ready_cap slots, a power of two (64, doubled when full), so an
 * index wraps with a mask rather than a division. */

int
tc_loop_push_ready(tc_loop *loop, PyObject *handle)
{
    if (loop->ready_len == loop->ready_cap) {
        Py_ssize_t cap = loop->ready_cap ? loop->ready_cap * 2 : 64;
        PyObject **ring = PyMem_Malloc((size_t)cap * sizeof(PyObject *));
        Py_ssize_t i;
        if (ring == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        for (i = 0; i < loop->ready_len; i++) {
            ring[i] = loop->ready[(loop->ready_head + i) & (loop->ready_cap - 1)];
        }
        PyMem_Free(loop->ready);
        loop->ready = ring;
        loop->ready_cap = cap;
        loop->ready_head = 0;
    }
    Py_INCREF(handle);
    loop->ready[(loop->ready_head + loop->ready_len) & (loop->ready_cap - 1)] = handle;
    loop->ready_len++;
    return 0;
}

/* Pops the oldest ready handle (a new reference; the queue must be non-empty). */
static inline PyObject *
loop_pop_ready(tc_loop *loop)
{
    PyObject *h = loop->ready[loop->ready_head];
    loop->ready_head = (loop->ready_head + 1) & (loop->ready_cap - 1);
    loop->ready_len--;
    return h;
}

/* ------------------------------------------------------------- timer heap */

static inline int
timer_before(tc_handle *a, tc_handle *b)
{
    return a->when < b->when || (a->when == b->when && a->seq < b->seq);
}

static void
heap_sift_up(tc_handle **heap, Py_ssize_t i)
{
    tc_handle *item = heap[i];
    while (i > 0) {
        Py_ssize_t parent = (i - 1) / 2;
        if (!timer_before(item, heap[parent])) {
            break;
        }
        heap[i] = heap[parent];
        i = parent;
    }
    heap[i] = item;
}

static void
heap_sift_down(tc_handle **heap, Py_ssize_t len, Py_ssize_t i)
{
    tc_handle *item = heap[i];
    for (;;) {
        Py_ssize_t child = 2 * i + 1;
        if (child >= len) {
            break;
        }
        if (child + 1 < len && timer_before(heap[child + 1], heap[child])) {
            child++;
        }
        if (!timer_before(heap[child], item)) {
            break;
        }
        heap[i] = heap[child];
        i = child;
    }
    heap[i] = item;
}

static int
heap_push(tc_loop *loop, tc_handle *h)
{
    if (loop->heap_len == loop->heap_cap) {
        Py_ssize_t cap = loop->heap_cap ? loop->heap_cap * 2 : 64;
        tc_handle **grown = PyMem_Realloc(loop->heap, (size_t)cap * sizeof(tc_handle *));
        if (grown == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        loop->heap = grown;
        loop->heap_cap = cap;
    }
    Py_INCREF(h);
    h->scheduled = 1;
    loop->heap[loop->heap_len++] = h;
    heap_sift_up(loop->heap, loop->heap_len - 1);
    return 0;
}

/* Removes the earliest timer and returns it (a new reference). */
static tc_handle *
heap_pop(tc_loop *loop)
{
    tc_handle *top = loop->heap[0];
    loop->heap_len--;
    if (loop->heap_len > 0) {
        loop->heap[0] = loop->heap[loop->heap_len];
        heap_sift_down(loop->heap, loop->heap_len, 0);
    }
    top->scheduled = 0;
    return top;
}

void
tc_loop_timer_cancelled(tc_loop *loop)
{
    loop->timer_cancelled_count++;
}

/* Drops cancelled timers: all of them when they are most of the heap (as
 * asyncio does, so mass cancellation cannot grow memory), else those at the
 * top. */
static void
loop_prune_timers(tc_loop *loop)
{
    if (loop->timer_cancelled_count > 100 &&
        loop->timer_cancelled_count * 2 > loop->heap_len) {
        Py_ssize_t i, kept = 0;
        for (i = 0; i < loop->heap_len; i++) {
            tc_handle *h = loop->heap[i];
            if (h->cancelled) {
                h->scheduled = 0;
                Py_DECREF(h);
            }
            else {
                loop->heap[kept++] = h;
            }
        }
        loop->heap_len = kept;
        for (i = kept / 2 - 1; i >= 0; i--) {
            heap_sift_down(loop->heap, kept, i);
        }
        loop->timer_cancelled_count = 0;
        return;
    }
    while (loop->heap_len > 0 && loop->heap[0]->cancelled) {
        tc_handle *h = heap_pop(loop);
        loop->timer_cancelled_count--;
        Py_DECREF(h);
    }
}

/* ---------------------------------------------------------- libuv glue */

static void
loop_on_timer(uv_timer_t *t)
{
    /* The timer only ends the poll; _run_once then moves the expired
     * TimerHandles to the ready queue.  It may also fire *before* the poll,
     * in uv_run's first pass over the timers, when the thread was held up
     * past the deadline between _run_once arming it and uv_run starting (a
     * loaded machine); the poll would then wait with no timeout at all,
     * for I/O that may never come.  uv_stop makes that poll return at once
     * (uv_run clears the flag as it returns). */
    uv_stop(t->loop);
}

static void
loop_on_wakeup(uv_async_t *a)
{
    /* call_soon_threadsafe already queued its handle; waking is enough. */
    (void)a;
}

static void
loop_on_prepare(uv_prepare_t *p)
{
    tc_loop *loop = (tc_loop *)p->data;
    loop->polls++;
    /* Release the GIL for the poll that follows.  Callbacks that need Python
     * take it back with tc_loop_ensure_gil; _run_once does at the end. */
    if (loop->has_gil) {
        loop->tstate = PyEval_SaveThread();
        loop->has_gil = 0;
    }
}

/* ------------------------------------------------------------- type slots */

Py_ssize_t tc_open_uv_loops = 0;
Py_ssize_t tc_open_uv_handles = 0;

void
tc_loop_handle_opened(tc_loop *loop)
{
    (void)loop;
    tc_open_uv_handles++;
}

void
tc_loop_on_handle_closed(uv_handle_t *handle)
{
    (void)handle;
    tc_open_uv_handles--;
}

static PyObject *
loop_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    tc_loop *self;
    int rc;
    (void)args;
    (void)kwds;

    self = (tc_loop *)type->tp_alloc(type, 0);
    if (self == NULL) {
        return NULL;
    }
    self->epfd = -1;
    self->clock_resolution = 1e-9;
    self->has_gil = 1;
    rc = uv_loop_init(&self->uvloop);
    if (rc < 0) {
        Py_DECREF(self);
        return tc_raise_uv_error(rc);
    }
    self->uv_open = 1;
    self->uvloop.data = self;
    tc_open_uv_loops++;
    uv_timer_init(&self->uvloop, &self->timer);
    tc_loop_handle_opened(self);
    self->timer.data = self;
    rc = uv_async_init(&self->uvloop, &self->wakeup, loop_on_wakeup);
    if (rc < 0) {
        Py_DECREF(self);
        return tc_raise_uv_error(rc);
    }
    tc_loop_handle_opened(self);
    self->wakeup.data = self;
    uv_timer_init(&self->uvloop, &self->http_timer);
    tc_loop_handle_opened(self);
    self->http_timer.data = self;
    uv_unref((uv_handle_t *)&self->http_timer);
    uv_prepare_init(&self->uvloop, &self->prepare);
    tc_loop_handle_opened(self);
    self->prepare.data = self;
    uv_prepare_start(&self->prepare, loop_on_prepare);
    /* The prepare handle must not by itself keep uv_run blocking. */
    uv_unref((uv_handle_t *)&self->prepare);
    return (PyObject *)self;
}

static void
loop_walk_close(uv_handle_t *handle, void *arg)
{
    (void)arg;
    if (!uv_is_closing(handle)) {
        uv_close(handle, tc_loop_on_handle_closed);
    }
}

/* Output held back longer than this (slow handlers between the first
 * reply and the end of the dispatch) goes out at once. */
#define TC_DEFER_MAX_NS 1000000

static void loop_run_deferred(tc_loop *self);

int
tc_loop_deferred_due(tc_loop *loop)
{
    if (loop->deferred_len == 0 || uv_hrtime() - loop->deferred_since <= TC_DEFER_MAX_NS) {
        return 0;
    }
    loop_run_deferred(loop);
    return 1;
}

int
tc_loop_defer(tc_loop *loop, PyObject *obj, void (*fn)(PyObject *obj))
{
    if (!loop->holding) {
        return 0;
    }
    if (loop->deferred_len == 0) {
        loop->deferred_since = uv_hrtime();
    }
    else if (tc_loop_deferred_due(loop)) {
        return 0;
    }
    if (loop->deferred_len == loop->deferred_cap) {
        Py_ssize_t cap = loop->deferred_cap ? loop->deferred_cap * 2 : 64;
        tc_deferred *d = PyMem_Realloc(loop->deferred, (size_t)cap * sizeof(tc_deferred));
        if (d == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        loop->deferred = d;
        loop->deferred_cap = cap;
    }
    loop->deferred[loop->deferred_len].obj = Py_NewRef(obj);
    loop->deferred[loop->deferred_len].fn = fn;
    loop->deferred_len++;
    return 1;
}

/* Runs what tc_loop_defer queued, in order.  An entry's function may run
 * Python code (a failed write closes its stream); whatever that writes goes
 * out at once. */
static void
loop_run_deferred(tc_loop *self)
{
    char holding = self->holding;
    Py_ssize_t i;
    self->holding = 0; /* nothing is queued meanwhile */
    for (i = 0; i < self->deferred_len; i++) {
        tc_deferred d = self->deferred[i];
        d.fn(d.obj);
        Py_DECREF(d.obj);
    }
    self->deferred_len = 0;
    self->holding = holding;
}

/* Closes every libuv handle and the uv loop itself; runs no Python code. */
static void
loop_close_uv(tc_loop *self)
{
    if (!self->uv_open) {
        return;
    }
    uv_walk(&self->uvloop, loop_walk_close, NULL);
    uv_run(&self->uvloop, UV_RUN_DEFAULT);
    if (uv_loop_close(&self->uvloop) != 0) {
        /* A handle was opened by a close callback: close it too. */
        uv_walk(&self->uvloop, loop_walk_close, NULL);
        uv_run(&self->uvloop, UV_RUN_DEFAULT);
        (void)uv_loop_close(&self->uvloop);
    }
    self->uv_open = 0;
    tc_open_uv_loops--;
    self->fdpoll_active = 0;
}

/* Releases every queued Handle.  The arrays are detached first because a
 * release may run arbitrary code that calls back into the loop. */
static void
loop_release_queues(tc_loop *self)
{
    PyObject **ready = self->ready;
    Py_ssize_t cap = self->ready_cap, head = self->ready_head, len = self->ready_len;
    tc_handle **heap = self->heap;
    Py_ssize_t heap_len = self->heap_len, i;

    self->ready = NULL;
    self->ready_cap = self->ready_len = self->ready_head = 0;
    self->heap = NULL;
    self->heap_len = self->heap_cap = 0;
    self->timer_cancelled_count = 0;
    for (i = 0; i < len; i++) {
        Py_DECREF(ready[(head + i) & (cap - 1)]);
    }
    PyMem_Free(ready);
    for (i = 0; i < heap_len; i++) {
        heap[i]->scheduled = 0;
        Py_DECREF(heap[i]);
    }
    PyMem_Free(heap);
    {
        tc_deferred *d = self->deferred;
        Py_ssize_t n = self->deferred_len;
        self->deferred = NULL;
        self->deferred_len = self->deferred_cap = 0;
        for (i = 0; i < n; i++) {
            Py_DECREF(d[i].obj);
        }
        PyMem_Free(d);
    }
}

static int
loop_traverse(tc_loop *self, visitproc visit, void *arg)
{
    Py_ssize_t i;
    Py_VISIT(Py_TYPE(self));
    for (i = 0; i < self->ready_len; i++) {
        Py_VISIT(self->ready[(self->ready_head + i) & (self->ready_cap - 1)]);
    }
    for (i = 0; i < self->heap_len; i++) {
        Py_VISIT(self->heap[i]);
    }
    for (i = 0; i < self->deferred_len; i++) {
        Py_VISIT(self->deferred[i].obj);
    }
    Py_VISIT(self->transports);
    return tc_poll_traverse(self, visit, arg);
}

static int
loop_clear(tc_loop *self)
{
    loop_release_queues(self);
    /* The watcher table holds Handles too; libuv state stays until dealloc. */
    {
        Py_ssize_t i;
        for (i = 0; i < self->fds_cap; i++) {
            Py_CLEAR(self->fds[i].reader);
            Py_CLEAR(self->fds[i].writer);
        }
    }
    Py_CLEAR(self->transports);
    return 0;
}

static void
loop_dealloc(tc_loop *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    tc_stream_close_all(self);
    tc_fetch_close_all(self);
    tc_http1_loop_closed(self);
    tc_transport_loop_closed(self);
    loop_close_uv(self);
    loop_release_queues(self);
    tc_poll_clear(self);
    PyMem_RawFree(self->recvbuf);
    tp->tp_free((PyObject *)self);
    Py_DECREF(tp);
}

/* --------------------------------------------------------------- methods */

static int
loop_check_closed(tc_loop *self)
{
    if (self->closed || !self->uv_open) {
        PyErr_SetString(PyExc_RuntimeError, "Event loop is closed");
        return -1;
    }
    return 0;
}

/* Debug-mode checks asyncio makes on every scheduling call (thread, and that
 * the callback is a plain callable), delegated to asyncio's Python code. */
static int
loop_debug_checks(tc_loop *self, tc_state *st, PyObject *callback,
                  PyObject *method, int check_thread)
{
    PyObject *r;
    if (check_thread) {
        r = PyObject_CallMethodNoArgs((PyObject *)self, st->str_check_thread);
        if (r == NULL) {
            return -1;
        }
        Py_DECREF(r);
    }
    r = PyObject_CallMethodObjArgs((PyObject *)self, st->str_check_callback,
                                   callback, method, NULL);
    if (r == NULL) {
        return -1;
    }
    Py_DECREF(r);
    return 0;
}

/* Parses (callback, *args, context=None) from a vectorcall starting at
 * args[first].  Returns 0 with new references in *cb, *cargs, *ctx. */
static int
loop_parse_callback(tc_state *st, PyObject *const *args, Py_ssize_t nargs,
                    PyObject *kwnames, Py_ssize_t first, const char *fname,
                    PyObject **cb, PyObject **cargs, PyObject **ctx)
{
    PyObject *context = NULL;
    Py_ssize_t i;

    if (kwnames != NULL) {
        for (i = 0; i < PyTuple_GET_SIZE(kwnames); i++) {
            PyObject *name = PyTuple_GET_ITEM(kwnames, i);
            if (PyUnicode_Compare(name, st->str_context) != 0) {
                PyErr_Format(PyExc_TypeError,
                             "%s() got an unexpected keyword argument '%U'",
                             fname, name);
                return -1;
            }
            context = args[nargs + i];
        }
    }
    if (nargs <= first) {
        PyErr_Format(PyExc_TypeError, "%s() missing required argument 'callback'",
                     fname);
        return -1;
    }
    *cb = args[first];
    *cargs = PyTuple_New(nargs - first - 1);
    if (*cargs == NULL) {
        return -1;
    }
    for (i = first + 1; i < nargs; i++) {
        PyTuple_SET_ITEM(*cargs, i - first - 1, Py_NewRef(args[i]));
    }
    if (context == NULL || context == Py_None) {
        context = PyContext_CopyCurrent();
        if (context == NULL) {
            Py_CLEAR(*cargs);
            return -1;
        }
    }
    else {
        Py_INCREF(context);
    }
    *ctx = context;
    Py_INCREF(*cb);
    return 0;
}

/* Common body of call_soon and call_soon_threadsafe. */
static PyObject *
loop_schedule_soon(tc_loop *self, PyObject *const *args, Py_ssize_t nargs,
                   PyObject *kwnames, int threadsafe)
{
    tc_state *st = loop_state(self);
    PyObject *cb, *cargs, *ctx, *h;
    const char *fname = threadsafe ? "call_soon_threadsafe" : "call_soon";

    if (st == NULL || loop_check_closed(self) < 0) {
        return NULL;
    }
    if (loop_parse_callback(st, args, nargs, kwnames, 0, fname, &cb, &cargs,
                            &ctx) < 0) {
        return NULL;
    }
    if (self->debug &&
        loop_debug_checks(self, st, cb,
                          threadsafe ? st->str_call_soon_threadsafe : st->str_call_soon,
                          !threadsafe) < 0) {
        h = NULL;
        goto done;
    }
    h = tc_handle_new(st, 0, cb, cargs, ctx, (PyObject *)self);
    if (h == NULL) {
        goto done;
    }
    if (self->capture_soon && !threadsafe) {
        /* A Task being created by _eager_task: its first step. */
        self->capture_soon = 0;
        self->captured = Py_NewRef(h);
        goto done;
    }
    if (tc_loop_push_ready(self, h) < 0) {
        Py_CLEAR(h);
        goto done;
    }
    if (threadsafe) {
        uv_async_send(&self->wakeup);
    }
done:
    Py_DECREF(cb);
    Py_DECREF(cargs);
    Py_DECREF(ctx);
    return h;
}

static PyObject *
loop_call_soon(tc_loop *self, PyObject *const *args, Py_ssize_t nargs,
               PyObject *kwnames)
{
    return loop_schedule_soon(self, args, nargs, kwnames, 0);
}

static PyObject *
loop_call_soon_threadsafe(tc_loop *self, PyObject *const *args, Py_ssize_t nargs,
                          PyObject *kwnames)
{
    return loop_schedule_soon(self, args, nargs, kwnames, 1);
}

/* 1 when a task of this loop is running (asyncio.current_task), 0 when
 * none is, -1 with an exception.  Where current_task is the pure-Python
 * function over asyncio.tasks._current_tasks (Python 3.11), the dict is
 * read directly. */
static int
loop_in_task(tc_loop *self, tc_state *st)
{
    PyObject *current;
    int running;

    if (st->current_task == NULL) {
        PyObject *tasks = PyImport_ImportModule("asyncio.tasks");
        if (tasks == NULL) {
            return -1;
        }
        st->current_task = PyObject_GetAttrString(tasks, "current_task");
        if (st->current_task != NULL && PyFunction_Check(st->current_task)) {
            PyObject *table = PyObject_GetAttrString(tasks, "_current_tasks");
            if (table != NULL && PyDict_CheckExact(table)) {
                st->current_tasks = table;
            }
            else {
                Py_XDECREF(table);
                PyErr_Clear();
            }
        }
        Py_DECREF(tasks);
        if (st->current_task == NULL) {
            return -1;
        }
    }
    if (st->current_tasks != NULL) {
        current = PyDict_GetItemWithError(st->current_tasks, (PyObject *)self);
        if (current == NULL) {
            return PyErr_Occurred() ? -1 : 0;
        }
        return 1;
    }
    current = PyObject_CallOneArg(st->current_task, (PyObject *)self);
    if (current == NULL) {
        return -1;
    }
    running = current != Py_None;
    Py_DECREF(current);
    return running;
}

/* Adds ``on_failure`` as a done callback of ``task`` unless the task has
 * already finished successfully (task.exception() returned None). */
static int
eager_watch(tc_state *st, PyObject *task, PyObject *on_failure)
{
    PyObject *done = PyObject_CallMethodNoArgs(task, st->str_done), *exc, *r;
    int finished = done != NULL ? PyObject_IsTrue(done) : -1;

    Py_XDECREF(done);
    if (finished < 0) {
        return -1;
    }
    if (finished) {
        /* (asked only of a finished task: a pending one would raise
         * InvalidStateError, an exception made for nothing) */
        exc = PyObject_CallMethodNoArgs(task, st->str_exception);
        if (exc == Py_None) {
            Py_DECREF(exc);
            return 0;
        }
        if (exc == NULL) {
            /* Cancelled (CancelledError). */
            PyErr_Clear();
        }
        else {
            Py_DECREF(exc);
        }
    }
    r = PyObject_CallMethodOneArg(task, st->str_add_done_callback, on_failure);
    if (r == NULL) {
        return -1;
    }
    Py_DECREF(r);
    return 0;
}

/* _eager_task(task_class, coro[, on_failure]): task_class(coro, loop=self),
 * with the task's first step run right away instead of on the next
 * iteration; the step runs exactly as the ready queue would run it (the
 * task is current, in its context, errors reported the same way).  Code
 * that finishes without suspending -- most request handlers -- then never
 * waits for the loop, and a task that suspends carries on as any other.
 * With a task factory set, or called while another task runs (which one
 * task cannot step), it makes and schedules the task as create_task does.
 * ``on_failure``, when given, becomes a done callback of the task unless
 * the task has already finished successfully. */
PyObject *
tc_loop_eager_task(tc_loop *self, PyObject *const *args, Py_ssize_t nargs)
{
    tc_state *st = loop_state(self);
    PyObject *call[2], *task, *step, *factory;
    int rc = 0, nested;

    if (nargs != 2 && nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "_eager_task() takes 2 or 3 arguments");
        return NULL;
    }
    if (st == NULL || loop_check_closed(self) < 0) {
        return NULL;
    }
    /* A task factory set on the loop makes the task, as create_task does. */
    factory = PyObject_GetAttr((PyObject *)self, st->str_task_factory);
    if (factory == NULL) {
        return NULL;
    }
    Py_DECREF(factory);
    if (factory != Py_None) {
        task = PyObject_CallMethodOneArg((PyObject *)self, st->str_create_task, args[1]);
        goto watch;
    }
    nested = loop_in_task(self, st);
    if (nested < 0) {
        return NULL;
    }
    call[0] = args[1];
    call[1] = (PyObject *)self;
    if (nested) {
        task = PyObject_Vectorcall(args[0], call, 1, st->kw_loop);
        goto watch;
    }
    self->capture_soon = 1;
    task = PyObject_Vectorcall(args[0], call, 1, st->kw_loop);
    self->capture_soon = 0;
    step = self->captured;
    self->captured = NULL;
    if (task == NULL) {
        Py_XDECREF(step); /* a Task that failed to initialize is not run */
        return NULL;
    }
    if (step != NULL) {
        rc = ((tc_handle *)step)->cancelled ? 0 : tc_handle_run(st, (tc_handle *)step);
        Py_DECREF(step);
    }
    if (rc < 0) {
        Py_CLEAR(task);
    }
watch:
    if (task != NULL && nargs == 3 && args[2] != Py_None &&
        eager_watch(st, task, args[2]) < 0) {
        Py_CLEAR(task);
    }
    return task;
}

/* asyncio's get_debug (every Future and Task made on the loop asks). */
static PyObject *
loop_get_debug(tc_loop *self, PyObject *Py_UNUSED(ignored))
{
    return PyBool_FromLong(self->debug);
}

/* Common body of call_at and call_later (args[0] is the time). */
static PyObject *
loop_schedule_at(tc_loop *self, double when, PyObject *const *args,
                 Py_ssize_t nargs, PyObject *kwnames, const char *fname)
{
    tc_state *st = loop_state(self);
    PyObject *cb, *cargs, *ctx, *h = NULL;

    if (st == NULL || loop_check_closed(self) < 0) {
        return NULL;
    }
    if (loop_parse_callback(st, args, nargs, kwnames, 1, fname, &cb, &cargs,
                            &ctx) < 0) {
        return NULL;
    }
    if (self->debug && loop_debug_checks(self, st, cb, st->str_call_at, 1) < 0) {
        goto done;
    }
    h = tc_handle_new(st, 1, cb, cargs, ctx, (PyObject *)self);
    if (h == NULL) {
        goto done;
    }
    ((tc_handle *)h)->when = when;
    ((tc_handle *)h)->seq = self->timer_seq++;
    if (heap_push(self, (tc_handle *)h) < 0) {
        Py_CLEAR(h);
    }
done:
    Py_DECREF(cb);
    Py_DECREF(cargs);
    Py_DECREF(ctx);
    return h;
}

static PyObject *
loop_call_at(tc_loop *self, PyObject *const *args, Py_ssize_t nargs,
             PyObject *kwnames)
{
    double when;
    if (nargs < 1) {
        PyErr_SetString(PyExc_TypeError, "call_at() missing required argument 'when'");
        return NULL;
    }
    if (args[0] == Py_None) {
        PyErr_SetString(PyExc_TypeError, "when cannot be None");
        return NULL;
    }
    when = PyFloat_AsDouble(args[0]);
    if (when == -1.0 && PyErr_Occurred()) {
        return NULL;
    }
    return loop_schedule_at(self, when, args, nargs, kwnames, "call_at");
}

static PyObject *
loop_call_later(tc_loop *self, PyObject *const *args, Py_ssize_t nargs,
                PyObject *kwnames)
{
    double delay;
    if (nargs < 1) {
        PyErr_SetString(PyExc_TypeError,
                        "call_later() missing required argument 'delay'");
        return NULL;
    }
    if (args[0] == Py_None) {
        PyErr_SetString(PyExc_TypeError, "delay must not be None");
        return NULL;
    }
    delay = PyFloat_AsDouble(args[0]);
    if (delay == -1.0 && PyErr_Occurred()) {
        return NULL;
    }
    return loop_schedule_at(self, loop_monotonic() + delay, args, nargs, kwnames,
                            "call_later");
}

static PyObject *
loop_time(tc_loop *self, PyObject *Py_UNUSED(ignored))
{
    (void)self;
    return PyFloat_FromDouble(loop_monotonic());
}

/* Runs a handle that is not ours (an asyncio.events.Handle): skip it if
 * cancelled, else its own _run() reports errors as asyncio does.  0 / -1. */
static int
loop_run_foreign(PyObject *obj)
{
    PyObject *c = PyObject_GetAttrString(obj, "_cancelled");
    PyObject *r;
    int cancelled;
    if (c == NULL) {
        return -1;
    }
    cancelled = PyObject_IsTrue(c);
    Py_DECREF(c);
    if (cancelled) {
        return cancelled < 0 ? -1 : 0;
    }
    r = PyObject_CallMethod(obj, "_run", NULL);
    if (r == NULL) {
        return -1;
    }
    Py_DECREF(r);
    return 0;
}

/* One iteration, asyncio's _run_once contract: poll for I/O (without blocking
 * when callbacks are ready or the loop is stopping, else until the earliest
 * timer), queue ready fds' and expired timers' handles, then run exactly the
 * handles that were ready when the iteration started running them. */
static PyObject *
loop_run_once_impl(tc_loop *self)
{
    tc_state *st = loop_state(self);
    uv_run_mode mode = UV_RUN_ONCE;
    Py_ssize_t ntodo, i;

    if (st == NULL || loop_check_closed(self) < 0) {
        return NULL;
    }
    loop_prune_timers(self);
    if (self->ready_len > 0 || self->stopping) {
        mode = UV_RUN_NOWAIT;
        uv_timer_stop(&self->timer);
    }
    else if (self->heap_len > 0) {
        double ms = (self->heap[0]->when - loop_monotonic()) * 1000.0;
        if (ms < 0.5) {
            /* Due now, or closer than the poll's millisecond granularity:
             * poll without blocking until it is due, rather than sleep a
             * whole millisecond past it (a fast PeriodicCallback). */
            mode = UV_RUN_NOWAIT;
            uv_timer_stop(&self->timer);
        }
        else {
            /* Rounded: a poll that returns up to half a millisecond early
             * finishes the wait in the branch above. */
            double rounded = floor(ms + 0.5);
            uint64_t timeout = rounded >= (double)TC_MAX_TIMEOUT_MS
                                   ? TC_MAX_TIMEOUT_MS : (uint64_t)rounded;
            uv_update_time(&self->uvloop);
            uv_timer_start(&self->timer, loop_on_timer, timeout, 0);
        }
    }
    else {
        uv_timer_stop(&self->timer);
    }

    if (self->stall_us > 0) {
        usleep(self->stall_us);
    }
    self->has_gil = 1;
    self->holding = 1;
    uv_run(&self->uvloop, mode);
    tc_loop_ensure_gil(self);
    self->holding = 0;
    loop_run_deferred(self);

    /* A signal (SIGINT) interrupted the poll: run its Python handler now so a
     * KeyboardInterrupt surfaces from run_forever. */
    if (PyErr_CheckSignals() < 0) {
        return NULL;
    }
    if (tc_poll_process(self) < 0) {
        return NULL;
    }
    if (self->heap_len > 0) {
        double end = loop_monotonic() + self->clock_resolution;
        while (self->heap_len > 0 && self->heap[0]->when < end) {
            tc_handle *h = heap_pop(self);
            if (h->cancelled) {
                self->timer_cancelled_count--;
                Py_DECREF(h);
                continue;
            }
            if (tc_loop_push_ready(self, (PyObject *)h) < 0) {
                Py_DECREF(h);
                return NULL;
            }
            Py_DECREF(h);
        }
    }

    ntodo = self->ready_len;
    self->holding = 1;
    for (i = 0; i < ntodo && self->ready_len > 0; i++) {
        PyObject *obj = loop_pop_ready(self);
        int rc;
        if (self->deferred_len > 0) {
            (void)tc_loop_deferred_due(self);
        }
        if (Py_IS_TYPE(obj, st->HandleType) || Py_IS_TYPE(obj, st->TimerHandleType)) {
            tc_handle *h = (tc_handle *)obj;
            rc = h->cancelled ? 0 : tc_handle_run(st, h);
        }
        else {
            rc = loop_run_foreign(obj);
        }
        Py_DECREF(obj);
        if (rc < 0) {
            self->holding = 0;
            loop_run_deferred(self);
            return NULL;
        }
    }
    self->holding = 0;
    loop_run_deferred(self);
    Py_RETURN_NONE;
}

/* The native loop whose iteration is running in this thread (the running
 * loop asyncio.get_running_loop() answers, without its getpid() call), or
 * NULL.  Everything the loop runs -- I/O callbacks, timers, handles -- runs
 * inside _run_once. */
_Thread_local tc_loop *tc_loop_current = NULL;

static PyObject *
loop_run_once(tc_loop *self, PyObject *Py_UNUSED(ignored))
{
    tc_loop *outer = tc_loop_current;
    PyObject *r;

    tc_loop_current = self;
    r = loop_run_once_impl(self);
    tc_loop_current = outer;
    return r;
}

/* _add_callback(handle): asyncio's internal "queue this Handle" (used for
 * signal handlers, which asyncio creates as its own Handle objects). */
static PyObject *
loop_add_callback(tc_loop *self, PyObject *handle)
{
    tc_state *st = loop_state(self);
    if (st == NULL) {
        return NULL;
    }
    if (PyObject_TypeCheck(handle, st->HandleType)) {
        if (((tc_handle *)handle)->cancelled) {
            Py_RETURN_NONE;
        }
    }
    else {
        PyObject *c = PyObject_GetAttrString(handle, "_cancelled");
        int cancelled;
        if (c == NULL) {
            return NULL;
        }
        cancelled = PyObject_IsTrue(c);
        Py_DECREF(c);
        if (cancelled < 0) {
            return NULL;
        }
        if (cancelled) {
            Py_RETURN_NONE;
        }
    }
    if (tc_loop_push_ready(self, handle) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

/* _add_reader(fd, callback, *args) / _add_writer: asyncio's internal
 * registration used by transports and by add_reader/add_writer. */
static PyObject *
loop_add_watch(tc_loop *self, PyObject *const *args, Py_ssize_t nargs,
               int is_write)
{
    tc_state *st = loop_state(self);
    PyObject *cargs, *ctx, *h;
    int fd;
    Py_ssize_t i;

    if (st == NULL || loop_check_closed(self) < 0) {
        return NULL;
    }
    if (nargs < 2) {
        PyErr_SetString(PyExc_TypeError, "expected (fd, callback, *args)");
        return NULL;
    }
    fd = tc_fileobj_to_fd(st, args[0]);
    if (fd < 0) {
        return NULL;
    }
    cargs = PyTuple_New(nargs - 2);
    if (cargs == NULL) {
        return NULL;
    }
    for (i = 2; i < nargs; i++) {
        PyTuple_SET_ITEM(cargs, i - 2, Py_NewRef(args[i]));
    }
    ctx = PyContext_CopyCurrent();
    if (ctx == NULL) {
        Py_DECREF(cargs);
        return NULL;
    }
    h = tc_handle_new(st, 0, args[1], cargs, ctx, (PyObject *)self);
    Py_DECREF(cargs);
    Py_DECREF(ctx);
    if (h == NULL) {
        return NULL;
    }
    if (tc_poll_add(self, fd, is_write, h) < 0) {
        Py_DECREF(h);
        return NULL;
    }
    return h;
}

static PyObject *
loop_add_reader_internal(tc_loop *self, PyObject *const *args, Py_ssize_t nargs)
{
    return loop_add_watch(self, args, nargs, 0);
}

static PyObject *
loop_add_writer_internal(tc_loop *self, PyObject *const *args, Py_ssize_t nargs)
{
    return loop_add_watch(self, args, nargs, 1);
}

static PyObject *
loop_remove_watch(tc_loop *self, PyObject *fileobj, int is_write)
{
    tc_state *st = loop_state(self);
    int fd, rc;
    if (st == NULL) {
        return NULL;
    }
    if (self->closed || !self->uv_open) {
        Py_RETURN_FALSE; /* asyncio: removing from a closed loop is a no-op */
    }
    fd = tc_fileobj_to_fd(st, fileobj);
    if (fd < 0) {
        return NULL;
    }
    rc = tc_poll_remove(self, fd, is_write);
    if (rc < 0) {
        return NULL;
    }
    return PyBool_FromLong(rc);
}

static PyObject *
loop_remove_reader_internal(tc_loop *self, PyObject *fileobj)
{
    return loop_remove_watch(self, fileobj, 0);
}

static PyObject *
loop_remove_writer_internal(tc_loop *self, PyObject *fileobj)
{
    return loop_remove_watch(self, fileobj, 1);
}

static PyObject *
loop_fd_events(tc_loop *self, PyObject *fileobj)
{
    tc_state *st = loop_state(self);
    int fd;
    if (st == NULL) {
        return NULL;
    }
    fd = tc_fileobj_to_fd(st, fileobj);
    if (fd < 0) {
        return NULL;
    }
    return PyLong_FromLong(tc_poll_events(self, fd));
}

static PyObject *
loop_close_native(tc_loop *self, PyObject *Py_UNUSED(ignored))
{
    self->closed = 1;
    tc_stream_close_all(self);
    tc_fetch_close_all(self);
    tc_http1_loop_closed(self);
    tc_transport_loop_closed(self);
    loop_close_uv(self);
    loop_release_queues(self);
    tc_poll_clear(self);
    Py_RETURN_NONE;
}

static PyObject *
loop_ready_count(tc_loop *self, PyObject *Py_UNUSED(ignored))
{
    return PyLong_FromSsize_t(self->ready_len);
}

static PyObject *
loop_timer_count(tc_loop *self, PyObject *Py_UNUSED(ignored))
{
    return PyLong_FromSsize_t(self->heap_len);
}

/* ------------------------------------------- attributes shared with asyncio */

static PyObject *
loop_get_flag(tc_loop *self, void *closure)
{
    char *flag = (char *)self + (Py_ssize_t)closure;
    return PyBool_FromLong(*flag);
}

static int
loop_set_flag(tc_loop *self, PyObject *value, void *closure)
{
    char *flag = (char *)self + (Py_ssize_t)closure;
    int truth;
    if (value == NULL) {
        PyErr_SetString(PyExc_AttributeError, "cannot delete this attribute");
        return -1;
    }
    truth = PyObject_IsTrue(value);
    if (truth < 0) {
        return -1;
    }
    *flag = (char)truth;
    return 0;
}

static PyObject *
loop_get_clock_resolution(tc_loop *self, void *Py_UNUSED(c))
{
    return PyFloat_FromDouble(self->clock_resolution);
}

static int
loop_set_clock_resolution(tc_loop *self, PyObject *value, void *Py_UNUSED(c))
{
    double v;
    if (value == NULL) {
        PyErr_SetString(PyExc_AttributeError, "cannot delete this attribute");
        return -1;
    }
    v = PyFloat_AsDouble(value);
    if (v == -1.0 && PyErr_Occurred()) {
        return -1;
    }
    self->clock_resolution = v;
    return 0;
}

static PyObject *
loop_get_stall(tc_loop *self, void *Py_UNUSED(c))
{
    return PyLong_FromUnsignedLong(self->stall_us);
}

static int
loop_set_stall(tc_loop *self, PyObject *value, void *Py_UNUSED(c))
{
    unsigned long v;
    if (value == NULL) {
        PyErr_SetString(PyExc_AttributeError, "cannot delete this attribute");
        return -1;
    }
    v = PyLong_AsUnsignedLong(value);
    if (v == (unsigned long)-1 && PyErr_Occurred()) {
        return -1;
    }
    if (v > 1000000) {
        PyErr_SetString(PyExc_ValueError, "_stall_before_poll is at most 1000000 us");
        return -1;
    }
    self->stall_us = (unsigned int)v;
    return 0;
}

static PyGetSetDef loop_getset[] = {
    {"_stall_before_poll", (getter)loop_get_stall, (setter)loop_set_stall,
     PyDoc_STR("Tests only: microseconds each iteration sleeps between arming its "
               "timer and polling."), NULL},
    {"_closed", (getter)loop_get_flag, (setter)loop_set_flag,
     NULL, (void *)offsetof(tc_loop, closed)},
    {"_stopping", (getter)loop_get_flag, (setter)loop_set_flag,
     NULL, (void *)offsetof(tc_loop, stopping)},
    {"_debug", (getter)loop_get_flag, (setter)loop_set_flag,
     NULL, (void *)offsetof(tc_loop, debug)},
    {"_clock_resolution", (getter)loop_get_clock_resolution,
     (setter)loop_set_clock_resolution, NULL, NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

PyDoc_STRVAR(call_soon_doc,
"call_soon($self, callback, *args, context=None)\n--\n\n"
"Arrange for callback(*args) to be called in the next loop iteration.");
PyDoc_STRVAR(call_soon_threadsafe_doc,
"call_soon_threadsafe($self, callback, *args, context=None)\n--\n\n"
"Like call_soon(), but safe to call from any thread; wakes the loop.");
PyDoc_STRVAR(call_later_doc,
"call_later($self, delay, callback, *args, context=None)\n--\n\n"
"Arrange for callback(*args) to be called after delay seconds.");
PyDoc_STRVAR(call_at_doc,
"call_at($self, when, callback, *args, context=None)\n--\n\n"
"Arrange for callback(*args) to be called at loop time when.");
PyDoc_STRVAR(time_doc,
"time($self)\n--\n\n"
"Return the loop's time (the time.monotonic() clock).");

static PyMethodDef loop_methods[] = {
    {"call_soon", (PyCFunction)(void (*)(void))loop_call_soon,
     METH_FASTCALL | METH_KEYWORDS, call_soon_doc},
    {"call_soon_threadsafe", (PyCFunction)(void (*)(void))loop_call_soon_threadsafe,
     METH_FASTCALL | METH_KEYWORDS, call_soon_threadsafe_doc},
    {"call_later", (PyCFunction)(void (*)(void))loop_call_later,
     METH_FASTCALL | METH_KEYWORDS, call_later_doc},
    {"call_at", (PyCFunction)(void (*)(void))loop_call_at,
     METH_FASTCALL | METH_KEYWORDS, call_at_doc},
    {"time", (PyCFunction)loop_time, METH_NOARGS, time_doc},
    {"get_debug", (PyCFunction)loop_get_debug, METH_NOARGS,
     PyDoc_STR("get_debug($self)\n--\n\nWhether the loop is in debug mode.")},
    {"_eager_task", (PyCFunction)(void (*)(void))tc_loop_eager_task, METH_FASTCALL,
     PyDoc_STR("_eager_task(task_class, coro[, on_failure]): a Task whose first step has run.")},
    {"_run_once", (PyCFunction)loop_run_once, METH_NOARGS,
     PyDoc_STR("Run one iteration of the event loop.")},
    {"_add_reader", (PyCFunction)(void (*)(void))loop_add_reader_internal,
     METH_FASTCALL, PyDoc_STR("Watch fd for reading; returns the Handle.")},
    {"_add_writer", (PyCFunction)(void (*)(void))loop_add_writer_internal,
     METH_FASTCALL, PyDoc_STR("Watch fd for writing; returns the Handle.")},
    {"_remove_reader", (PyCFunction)loop_remove_reader_internal, METH_O,
     PyDoc_STR("Stop watching fd for reading; True if it was watched.")},
    {"_remove_writer", (PyCFunction)loop_remove_writer_internal, METH_O,
     PyDoc_STR("Stop watching fd for writing; True if it was watched.")},
    {"_add_callback", (PyCFunction)loop_add_callback, METH_O,
     PyDoc_STR("Queue an existing Handle (asyncio's internal API).")},
    {"_fd_events", (PyCFunction)loop_fd_events, METH_O,
     PyDoc_STR("The selector events (1 read, 2 write) registered for fd.")},
    {"_close_native", (PyCFunction)loop_close_native, METH_NOARGS,
     PyDoc_STR("Release the libuv loop and every queued callback.")},
    {"_ready_count", (PyCFunction)loop_ready_count, METH_NOARGS,
     PyDoc_STR("Number of callbacks in the ready queue.")},
    {"_timer_count", (PyCFunction)loop_timer_count, METH_NOARGS,
     PyDoc_STR("Number of timers in the heap (cancelled ones included).")},
    {NULL, NULL, 0, NULL},
};

PyDoc_STRVAR(loop_doc,
"The native core of tornado_c's event loop (see tornado_c.Loop).");

static PyType_Slot loop_slots[] = {
    {Py_tp_doc, (void *)loop_doc},
    {Py_tp_new, loop_new},
    {Py_tp_dealloc, loop_dealloc},
    {Py_tp_traverse, loop_traverse},
    {Py_tp_clear, loop_clear},
    {Py_tp_methods, loop_methods},
    {Py_tp_getset, loop_getset},
    {0, NULL},
};

static PyType_Spec loop_spec = {
    .name = "tornado_c._core.LoopBase",
    .basicsize = sizeof(tc_loop),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_BASETYPE |
             Py_TPFLAGS_IMMUTABLETYPE,
    .slots = loop_slots,
};

int
tc_loop_type_init(PyObject *module, tc_state *st)
{
    st->LoopType = (PyTypeObject *)PyType_FromModuleAndSpec(module, &loop_spec, NULL);
    if (st->LoopType == NULL) {
        return -1;
    }
    return PyModule_AddObjectRef(module, "LoopBase", (PyObject *)st->LoopType);
}
