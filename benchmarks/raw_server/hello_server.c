/*
 * hello_server.c — the raw C ceiling for tornado_c's HTTP benchmarks.
 *
 * A libuv + llhttp HTTP/1.1 server that answers every request with exactly
 * the bytes pure-Python Tornado 6.5.2 sends for a RequestHandler whose get()
 * writes "Hello, world" (Server, Content-Type, Date, Etag, Content-Length; the
 * benchmark runner checks this byte for byte, Date aside).  Keep-alive,
 * HTTP/1.0 close, and pipelining (all responses of one read go out in one
 * write).  As tornado_c's server does, the replies to every connection read
 * in one poll are written after the poll's callbacks, together (a uv_check
 * handle), so the client is woken once for them.  No Python anywhere: what
 * is left is the kernel and the libraries.
 *
 * Usage: hello_server PORT
 */
#include <llhttp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uv.h>

static const char BODY[] = "Hello, world";
/* SHA-1 of BODY, the ETag Tornado computes. */
static const char ETAG[] = "\"e02aa1b106d5c7c6a98def2b13005d5b84fd8dc8\"";

static char date_buf[64];
static time_t date_second;

typedef struct conn_s {
    uv_tcp_t tcp;
    llhttp_t parser;
    char *out;
    size_t out_len, out_cap;
    int close_after;
    int queued;          /* on the pending list */
    struct conn_s *next_pending;
} conn_t;

static conn_t *pending; /* connections with replies to write after the poll */

typedef struct {
    uv_write_t req;
    char *data;
} write_req_t;

static llhttp_settings_t settings;

static const char *
http_date(void)
{
    time_t now = time(NULL);
    if (now != date_second) {
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(date_buf, sizeof(date_buf), "%a, %d %b %Y %H:%M:%S GMT", &tm);
        date_second = now;
    }
    return date_buf;
}

static void
out_append(conn_t *c, const char *p, size_t n)
{
    if (c->out_len + n > c->out_cap) {
        size_t cap = c->out_cap ? c->out_cap : 1024;
        while (cap < c->out_len + n) {
            cap *= 2;
        }
        c->out = realloc(c->out, cap);
        c->out_cap = cap;
    }
    memcpy(c->out + c->out_len, p, n);
    c->out_len += n;
}

static int
on_message_complete(llhttp_t *p)
{
    conn_t *c = p->data;
    char head[512];
    int n = snprintf(head, sizeof(head),
                     "HTTP/1.1 200 OK\r\n"
                     "Server: TornadoServer/6.5.2\r\n"
                     "Content-Type: text/html; charset=UTF-8\r\n"
                     "Date: %s\r\n"
                     "Etag: %s\r\n"
                     "Content-Length: %zu\r\n"
                     "%s\r\n",
                     http_date(), ETAG, sizeof(BODY) - 1,
                     llhttp_should_keep_alive(p) ? "" : "Connection: close\r\n");
    out_append(c, head, (size_t)n);
    out_append(c, BODY, sizeof(BODY) - 1);
    if (!llhttp_should_keep_alive(p)) {
        c->close_after = 1;
    }
    return 0;
}

static void
on_close(uv_handle_t *h)
{
    conn_t *c = (conn_t *)h;
    free(c->out);
    free(c);
}

static void
on_write(uv_write_t *req, int status)
{
    write_req_t *w = (write_req_t *)req;
    (void)status;
    free(w->data);
    free(w);
}

static void
on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    static char slab[65536];
    (void)h;
    (void)suggested;
    buf->base = slab;
    buf->len = sizeof(slab);
}

static void
flush(conn_t *c)
{
    uv_buf_t buf;
    int rc;
    if (c->out_len == 0) {
        return;
    }
    buf = uv_buf_init(c->out, (unsigned int)c->out_len);
    rc = uv_try_write((uv_stream_t *)&c->tcp, &buf, 1);
    if (rc < 0) {
        rc = 0;
    }
    if ((size_t)rc < c->out_len) {
        write_req_t *w = malloc(sizeof(*w));
        size_t rest = c->out_len - (size_t)rc;
        w->data = malloc(rest);
        memcpy(w->data, c->out + rc, rest);
        buf = uv_buf_init(w->data, (unsigned int)rest);
        uv_write(&w->req, (uv_stream_t *)&c->tcp, &buf, 1, on_write);
    }
    c->out_len = 0;
}

static void
flush_pending(uv_check_t *check)
{
    (void)check;
    while (pending != NULL) {
        conn_t *c = pending;
        pending = c->next_pending;
        c->queued = 0;
        flush(c);
        if (c->close_after) {
            uv_close((uv_handle_t *)&c->tcp, on_close);
        }
    }
}

static void
on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    conn_t *c = (conn_t *)s;
    if (c->close_after) {
        return;
    }
    if (nread > 0) {
        llhttp_errno_t err = llhttp_execute(&c->parser, buf->base, (size_t)nread);
        if (err != HPE_OK) {
            static const char bad[] = "HTTP/1.1 400 Bad Request\r\n\r\n";
            out_append(c, bad, sizeof(bad) - 1);
            c->close_after = 1;
        }
        if (c->close_after) {
            uv_read_stop(s);
        }
        if (!c->queued && (c->out_len > 0 || c->close_after)) {
            c->queued = 1;
            c->next_pending = pending;
            pending = c;
        }
    }
    else if (nread < 0 && !c->queued) {
        uv_close((uv_handle_t *)s, on_close);
    }
    else if (nread < 0) {
        c->close_after = 1;
        uv_read_stop(s);
    }
}

static void
on_connection(uv_stream_t *server, int status)
{
    conn_t *c;
    if (status < 0) {
        return;
    }
    c = calloc(1, sizeof(*c));
    uv_tcp_init(server->loop, &c->tcp);
    if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0) {
        uv_close((uv_handle_t *)&c->tcp, on_close);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    llhttp_init(&c->parser, HTTP_REQUEST, &settings);
    c->parser.data = c;
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

int
main(int argc, char **argv)
{
    uv_loop_t *loop = uv_default_loop();
    uv_tcp_t server;
    uv_check_t check;
    struct sockaddr_in addr;
    int port = argc > 1 ? atoi(argv[1]) : 8890;

    llhttp_settings_init(&settings);
    settings.on_message_complete = on_message_complete;
    uv_check_init(loop, &check);
    uv_check_start(&check, flush_pending);
    uv_tcp_init(loop, &server);
    uv_ip4_addr("127.0.0.1", port, &addr);
    if (uv_tcp_bind(&server, (const struct sockaddr *)&addr, 0) != 0 ||
        uv_listen((uv_stream_t *)&server, 1024, on_connection) != 0) {
        fprintf(stderr, "hello_server: cannot listen on 127.0.0.1:%d\n", port);
        return 1;
    }
    printf("hello_server listening on 127.0.0.1:%d\n", port);
    fflush(stdout);
    return uv_run(loop, UV_RUN_DEFAULT);
}
