/*
 * echo_server.c — the raw C ceiling for tornado_c's TCP benchmarks.
 *
 * A libuv TCP echo server: every byte a connection sends comes back to it,
 * as benchmarks/apps/echo_server.py does on Tornado's API (in its line mode
 * that server answers line by line; on the wire an echo of whatever arrived
 * is the same bytes).  Reads of up to 64 KiB (Tornado's read_chunk_size),
 * uv_try_write first and a queued copy of the rest; a connection whose
 * queued output passes 1 MiB stops being read until the queue drains, so
 * memory stays bounded.  No Python anywhere: what is left is the kernel and
 * libuv, which is what bench_tcp.py compares the others with.
 *
 * Prints the "ready ..." line bench_tcp.py waits for; exits on SIGTERM/SIGINT.
 *
 * Usage: echo_server PORT [MODE]
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <uv.h>

#define READ_SIZE 65536
#define MAX_QUEUED (1 << 20)

typedef struct {
    uv_tcp_t tcp;
    size_t queued;  /* bytes handed to uv_write, not yet written */
    int paused;     /* reading stopped until the queue drains */
    int closing;
} conn_t;

typedef struct {
    uv_write_t req;
    conn_t *conn;
    size_t len;
    char data[];
} write_req_t;

static char read_buf[READ_SIZE];

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

static void
on_close(uv_handle_t *h)
{
    free(h->data);
}

static void
close_conn(conn_t *c)
{
    if (!c->closing) {
        c->closing = 1;
        uv_close((uv_handle_t *)&c->tcp, on_close);
    }
}

static void
on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)h;
    (void)suggested;
    buf->base = read_buf;
    buf->len = sizeof(read_buf);
}

static void
on_written(uv_write_t *req, int status)
{
    write_req_t *w = (write_req_t *)req;
    conn_t *c = w->conn;
    c->queued -= w->len;
    free(w);
    if (status < 0) {
        close_conn(c);
        return;
    }
    if (c->paused && c->queued == 0 && !c->closing) {
        c->paused = 0;
        if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) < 0) {
            close_conn(c);
        }
    }
}

static void
on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    conn_t *c = s->data;
    if (nread < 0) {
        close_conn(c);
        return;
    }
    if (nread == 0) {
        return;
    }
    size_t sent = 0;
    if (c->queued == 0) {
        /* Nothing queued ahead of these bytes: try to send them now. */
        uv_buf_t out = uv_buf_init(buf->base, (unsigned int)nread);
        int n = uv_try_write(s, &out, 1);
        if (n < 0 && n != UV_EAGAIN) {
            close_conn(c);
            return;
        }
        sent = n > 0 ? (size_t)n : 0;
    }
    if (sent < (size_t)nread) {
        size_t rest = (size_t)nread - sent;
        write_req_t *w = malloc(sizeof(*w) + rest);
        if (w == NULL) {
            close_conn(c);
            return;
        }
        memcpy(w->data, buf->base + sent, rest);
        w->conn = c;
        w->len = rest;
        uv_buf_t out = uv_buf_init(w->data, (unsigned int)rest);
        if (uv_write(&w->req, s, &out, 1, on_written) < 0) {
            free(w);
            close_conn(c);
            return;
        }
        c->queued += rest;
        if (c->queued > MAX_QUEUED && !c->paused) {
            c->paused = 1;
            uv_read_stop(s);
        }
    }
}

static void
on_connection(uv_stream_t *server, int status)
{
    if (status < 0) {
        return;
    }
    conn_t *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        return;
    }
    uv_tcp_init(server->loop, &c->tcp);
    c->tcp.data = c;
    if (uv_accept(server, (uv_stream_t *)&c->tcp) < 0) {
        close_conn(c);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) < 0) {
        close_conn(c);
    }
}

static void
on_signal(uv_signal_t *h, int signum)
{
    (void)signum;
    uv_stop(h->loop);
}

static long
raise_nofile_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
        return -1;
    }
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
            getrlimit(RLIMIT_NOFILE, &rl);
        }
    }
    return (long)rl.rlim_cur;
}

int
main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s PORT [MODE]\n", argv[0]);
        return 2;
    }
    int port = atoi(argv[1]);
    const char *mode = argc > 2 ? argv[2] : "bytes";
    long nofile = raise_nofile_limit();
    uv_loop_t *loop = uv_default_loop();
    uv_tcp_t server;
    struct sockaddr_in addr;
    uv_signal_t sigterm, sigint;
    int rc;

    uv_tcp_init(loop, &server);
    uv_ip4_addr("127.0.0.1", port, &addr);
    rc = uv_tcp_bind(&server, (const struct sockaddr *)&addr, 0);
    if (rc == 0) {
        rc = uv_listen((uv_stream_t *)&server, 1024, on_connection);
    }
    if (rc < 0) {
        fprintf(stderr, "listen on 127.0.0.1:%d: %s\n", port, uv_strerror(rc));
        return 1;
    }
    uv_signal_init(loop, &sigterm);
    uv_signal_start(&sigterm, on_signal, SIGTERM);
    uv_signal_init(loop, &sigint);
    uv_signal_start(&sigint, on_signal, SIGINT);
    printf("ready raw libuv %s port %d mode %s nofile %ld loop libuv\n",
           uv_version_string(), port, mode, nofile);
    fflush(stdout);
    uv_run(loop, UV_RUN_DEFAULT);
    return 0;
}
