/*
 * poll.c — watching arbitrary file descriptors for the native loop.
 *
 * Serves asyncio's add_reader / add_writer (and so IOLoop.add_handler): any
 * fd a user hands us — sockets, pipes, PTYs, zmq's fd.  The fds live in an
 * inner epoll set owned by the loop; libuv polls only that set's fd.  Why not
 * one uv_poll_t per fd: libuv registers fds lazily and abort()s when epoll_ctl
 * fails (an fd closed before the next poll, or a number reused after a close
 * without remove_reader), whereas asyncio reports such errors as OSError at
 * the call.  The inner set gives asyncio's selector semantics exactly and
 * costs one epoll_wait per iteration in which a watched fd is ready.
 */
#include "tc.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/epoll.h>
#include <unistd.h>

#define TC_EV_READ 1
#define TC_EV_WRITE 2

int
tc_fileobj_to_fd(tc_state *st, PyObject *fileobj)
{
    long fd;

    if (PyLong_Check(fileobj)) {
        fd = PyLong_AsLong(fileobj);
        if (fd == -1 && PyErr_Occurred()) {
            PyErr_Clear();
            PyErr_Format(PyExc_ValueError, "Invalid file descriptor: %R", fileobj);
            return -1;
        }
    }
    else {
        PyObject *res = PyObject_CallMethodNoArgs(fileobj, st->str_fileno);
        PyObject *as_int = NULL;
        if (res != NULL) {
            as_int = PyNumber_Long(res);
            Py_DECREF(res);
        }
        if (as_int == NULL) {
            if (PyErr_ExceptionMatches(PyExc_AttributeError) ||
                PyErr_ExceptionMatches(PyExc_TypeError) ||
                PyErr_ExceptionMatches(PyExc_ValueError)) {
                PyErr_Clear();
                PyErr_Format(PyExc_ValueError, "Invalid file object: %R", fileobj);
            }
            return -1;
        }
        fd = PyLong_AsLong(as_int);
        Py_DECREF(as_int);
        if (fd == -1 && PyErr_Occurred()) {
            return -1;
        }
    }
    if (fd < 0 || fd > INT32_MAX) {
        PyErr_Format(PyExc_ValueError, "Invalid file descriptor: %ld", fd);
        return -1;
    }
    return (int)fd;
}

static void
poll_on_ready(uv_poll_t *handle, int status, int events)
{
    tc_loop *loop = (tc_loop *)handle->data;
    (void)status;
    (void)events;
    /* No Python here (the GIL may be released): the ready fds are read and
     * turned into Handles by tc_poll_process once uv_run returns. */
    loop->fds_pending = 1;
}

static int
poll_ensure_set(tc_loop *loop)
{
    int rc;

    if (loop->epfd >= 0) {
        return 0;
    }
    if (loop->fdpoll_active) {
        /* An earlier attempt failed after libuv took the handle. */
        PyErr_SetString(PyExc_OSError, "the loop's fd watcher could not be started");
        return -1;
    }
    loop->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (loop->epfd < 0) {
        loop->epfd = -1;
        PyErr_SetFromErrno(PyExc_OSError);
        return -1;
    }
    rc = uv_poll_init(&loop->uvloop, &loop->fdpoll, loop->epfd);
    if (rc < 0) {
        close(loop->epfd);
        loop->epfd = -1;
        tc_raise_uv_error(rc);
        return -1;
    }
    tc_loop_handle_opened(loop);
    /* From here the handle belongs to libuv until the loop closes it. */
    loop->fdpoll_active = 1;
    loop->fdpoll.data = loop;
    rc = uv_poll_start(&loop->fdpoll, UV_READABLE, poll_on_ready);
    if (rc < 0) {
        uv_close((uv_handle_t *)&loop->fdpoll, tc_loop_on_handle_closed);
        close(loop->epfd);
        loop->epfd = -1;
        tc_raise_uv_error(rc);
        return -1;
    }
    return 0;
}

static int
poll_ensure_capacity(tc_loop *loop, int fd)
{
    Py_ssize_t cap;
    tc_fdwatch *grown;

    if (fd < loop->fds_cap) {
        return 0;
    }
    cap = loop->fds_cap ? loop->fds_cap : 64;
    while (cap <= fd) {
        cap *= 2;
    }
    grown = PyMem_Realloc(loop->fds, (size_t)cap * sizeof(tc_fdwatch));
    if (grown == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    memset(grown + loop->fds_cap, 0,
           (size_t)(cap - loop->fds_cap) * sizeof(tc_fdwatch));
    loop->fds = grown;
    loop->fds_cap = cap;
    return 0;
}

/* Brings the epoll registration of fd to `wanted` (EPOLLIN/EPOLLOUT bits).
 * Returns 0 or -1 with errno set. */
static int
poll_update(tc_loop *loop, int fd, tc_fdwatch *w, uint32_t wanted, int strict)
{
    struct epoll_event ev;

    /* An unchanged interest normally needs no syscall; but when a watcher is
     * (re)installed (strict) the fd may be a new file behind a reused number,
     * so the MOD below runs anyway and re-registers it if epoll forgot. */
    if (wanted == w->registered && !(strict && wanted != 0)) {
        return 0;
    }
    memset(&ev, 0, sizeof(ev));
    ev.events = wanted;
    ev.data.fd = fd;
    if (wanted == 0) {
        /* The fd may already be closed (epoll forgot it then): fine. */
        (void)epoll_ctl(loop->epfd, EPOLL_CTL_DEL, fd, &ev);
        w->registered = 0;
        loop->fds_count--;
        return 0;
    }
    if (w->registered == 0) {
        if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
            if (errno != EEXIST ||
                epoll_ctl(loop->epfd, EPOLL_CTL_MOD, fd, &ev) < 0) {
                return -1;
            }
        }
        loop->fds_count++;
    }
    else if (epoll_ctl(loop->epfd, EPOLL_CTL_MOD, fd, &ev) < 0) {
        /* ENOENT: the fd was closed and its number reused since it was
         * registered; register the new file. */
        if (errno != ENOENT ||
            epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
            if (!strict && (errno == ENOENT || errno == EBADF)) {
                w->registered = 0;
                loop->fds_count--;
                return 0;
            }
            return -1;
        }
    }
    w->registered = wanted;
    return 0;
}

int
tc_poll_add(tc_loop *loop, int fd, int is_write, PyObject *handle)
{
    tc_fdwatch *w;
    uint32_t wanted;
    PyObject *old;

    if (poll_ensure_set(loop) < 0 || poll_ensure_capacity(loop, fd) < 0) {
        return -1;
    }
    w = &loop->fds[fd];
    wanted = w->registered | (is_write ? EPOLLOUT : EPOLLIN);
    if (poll_update(loop, fd, w, wanted, 1) < 0) {
        PyErr_SetFromErrno(PyExc_OSError);
        return -1;
    }
    old = is_write ? w->writer : w->reader;
    Py_INCREF(handle);
    if (is_write) {
        w->writer = handle;
    }
    else {
        w->reader = handle;
    }
    if (old != NULL) {
        tc_handle_cancel((tc_handle *)old);
        Py_DECREF(old);
    }
    return 0;
}

int
tc_poll_remove(tc_loop *loop, int fd, int is_write)
{
    tc_fdwatch *w;
    PyObject *old;
    uint32_t wanted;

    if (loop->epfd < 0 || fd >= loop->fds_cap) {
        return 0;
    }
    w = &loop->fds[fd];
    if (w->registered == 0) {
        return 0;
    }
    wanted = w->registered & ~(uint32_t)(is_write ? EPOLLOUT : EPOLLIN);
    if (poll_update(loop, fd, w, wanted, 0) < 0) {
        PyErr_SetFromErrno(PyExc_OSError);
        return -1;
    }
    old = is_write ? w->writer : w->reader;
    if (is_write) {
        w->writer = NULL;
    }
    else {
        w->reader = NULL;
    }
    if (old == NULL) {
        return 0;
    }
    tc_handle_cancel((tc_handle *)old);
    Py_DECREF(old);
    return 1;
}

int
tc_poll_events(tc_loop *loop, int fd)
{
    int bits = 0;
    if (loop->epfd < 0 || fd < 0 || fd >= loop->fds_cap) {
        return 0;
    }
    if (loop->fds[fd].registered & EPOLLIN) {
        bits |= TC_EV_READ;
    }
    if (loop->fds[fd].registered & EPOLLOUT) {
        bits |= TC_EV_WRITE;
    }
    return bits;
}

/* Queues `slot`'s handle, or drops it if it was cancelled (asyncio removes a
 * cancelled reader when its fd turns up ready). */
static int
poll_queue(tc_loop *loop, int fd, int is_write)
{
    tc_fdwatch *w = &loop->fds[fd];
    PyObject *h = is_write ? w->writer : w->reader;
    if (h == NULL) {
        return 0;
    }
    if (((tc_handle *)h)->cancelled) {
        return tc_poll_remove(loop, fd, is_write) < 0 ? -1 : 0;
    }
    return tc_loop_push_ready(loop, h);
}

int
tc_poll_process(tc_loop *loop)
{
    struct epoll_event stack_events[64];
    struct epoll_event *events = stack_events;
    int max = 64, n, i;

    if (!loop->fds_pending || loop->epfd < 0) {
        return 0;
    }
    loop->fds_pending = 0;
    /* Take every ready fd at once: the set is level-triggered, so a second
     * epoll_wait would only report the same fds again. */
    if (loop->fds_count > max) {
        max = (int)loop->fds_count;
        events = PyMem_Malloc((size_t)max * sizeof(struct epoll_event));
        if (events == NULL) {
            PyErr_NoMemory();
            return -1;
        }
    }
    do {
        n = epoll_wait(loop->epfd, events, max, 0);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        PyErr_SetFromErrno(PyExc_OSError);
        goto error;
    }
    for (i = 0; i < n; i++) {
        int fd = events[i].data.fd;
        uint32_t ev = events[i].events;
        if (fd < 0 || fd >= loop->fds_cap) {
            continue;
        }
        /* As selectors.EpollSelector: an error or hang-up wakes both
         * directions. */
        if ((ev & ~(uint32_t)EPOLLOUT) && poll_queue(loop, fd, 0) < 0) {
            goto error;
        }
        if ((ev & ~(uint32_t)EPOLLIN) && poll_queue(loop, fd, 1) < 0) {
            goto error;
        }
    }
    if (events != stack_events) {
        PyMem_Free(events);
    }
    return 0;
error:
    if (events != stack_events) {
        PyMem_Free(events);
    }
    return -1;
}

void
tc_poll_clear(tc_loop *loop)
{
    Py_ssize_t i;
    tc_fdwatch *fds = loop->fds;
    Py_ssize_t cap = loop->fds_cap;

    loop->fds = NULL;
    loop->fds_cap = 0;
    loop->fds_count = 0;
    for (i = 0; i < cap; i++) {
        Py_XDECREF(fds[i].reader);
        Py_XDECREF(fds[i].writer);
    }
    PyMem_Free(fds);
    if (loop->epfd >= 0) {
        close(loop->epfd);
        loop->epfd = -1;
    }
}

int
tc_poll_traverse(tc_loop *loop, visitproc visit, void *arg)
{
    Py_ssize_t i;
    for (i = 0; i < loop->fds_cap; i++) {
        Py_VISIT(loop->fds[i].reader);
        Py_VISIT(loop->fds[i].writer);
    }
    return 0;
}
