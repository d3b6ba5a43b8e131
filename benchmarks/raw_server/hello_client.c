/*
 * hello_client.c — the raw C ceiling for tornado_c's HTTP client benchmark.
 *
 * Does what benchmarks/apps/client_app.py does with AsyncHTTPClient, in C on
 * libuv + llhttp: fetches http://127.0.0.1:PORT/ for SECONDS with CONCURRENCY
 * fetches in flight, sending the request head Tornado's SimpleAsyncHTTPClient
 * sends (Connection, Host, User-Agent, Accept-Encoding), and checks that
 * every response is a 200 whose body is "Hello, world".  With "close" every
 * fetch opens a connection and asks for Connection: close, as Tornado does;
 * with "keep-alive" a connection is reused while the server keeps it open.
 * No Python anywhere: what is left is the kernel and the libraries.
 *
 * Prints one JSON line, as client_app.py does: fetches, seconds,
 * per_second, correct.
 *
 * Usage: hello_client PORT SECONDS CONCURRENCY close|keep-alive
 */
#include <llhttp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

static const char BODY[] = "Hello, world";

typedef struct fetcher_s fetcher_t;

struct fetcher_s {
    uv_tcp_t tcp;
    uv_connect_t connect_req;
    uv_write_t write_req;
    llhttp_t parser;
    int open;          /* the connection is up and reusable */
    int closing;
    int status;
    size_t body_len;
    int body_ok;
    int done;          /* the current response is complete */
    int in_flight;     /* a request is out and not yet accounted for */
    int keep;          /* the server lets this connection be reused */
};

static llhttp_settings_t settings;
static uv_loop_t *loop;
static struct sockaddr_in addr;
static char request[256];
static size_t request_len;
static int keep_alive;
static uint64_t deadline;
static uint64_t started;
static long fetches;
static long bad;
static int active;
static char read_buf[65536];

static void start_fetch(fetcher_t *f);

static int
on_body(llhttp_t *p, const char *at, size_t len)
{
    fetcher_t *f = p->data;
    if (f->body_len + len > sizeof(BODY) - 1 ||
        memcmp(BODY + f->body_len, at, len) != 0) {
        f->body_ok = 0;
    }
    f->body_len += len;
    return 0;
}

static int
on_message_complete(llhttp_t *p)
{
    fetcher_t *f = p->data;
    f->status = llhttp_get_status_code(p);
    f->keep = llhttp_should_keep_alive(p);
    f->done = 1;
    return HPE_PAUSED;
}

static void
on_closed(uv_handle_t *h)
{
    fetcher_t *f = h->data;
    f->closing = 0;
    f->open = 0;
    start_fetch(f);
}

static void
close_and_go_on(fetcher_t *f)
{
    if (!f->closing) {
        f->closing = 1;
        f->open = 0;
        uv_close((uv_handle_t *)&f->tcp, on_closed);
    }
}

static void
finish_fetch(fetcher_t *f, int ok)
{
    if (!f->in_flight) {
        return; /* already counted (a failed write and a failed read) */
    }
    f->in_flight = 0;
    fetches++;
    if (!ok) {
        bad++;
    }
    uv_read_stop((uv_stream_t *)&f->tcp);
    if (keep_alive && ok && f->keep) {
        start_fetch(f);
    }
    else {
        close_and_go_on(f);
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
on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    fetcher_t *f = s->data;
    if (nread < 0) {
        /* The server closed before the response was complete. */
        finish_fetch(f, 0);
        return;
    }
    llhttp_errno_t err = llhttp_execute(&f->parser, buf->base, (size_t)nread);
    if (f->done) {
        int ok = (err == HPE_OK || err == HPE_PAUSED) && f->status == 200 && f->body_ok &&
                 f->body_len == sizeof(BODY) - 1;
        finish_fetch(f, ok);
    }
    else if (err != HPE_OK) {
        finish_fetch(f, 0);
    }
}

static void
on_written(uv_write_t *req, int status)
{
    fetcher_t *f = req->data;
    if (status < 0) {
        finish_fetch(f, 0);
    }
}

static void
send_request(fetcher_t *f)
{
    uv_buf_t out = uv_buf_init(request, (unsigned int)request_len);
    llhttp_init(&f->parser, HTTP_RESPONSE, &settings);
    f->parser.data = f;
    f->status = 0;
    f->body_len = 0;
    f->body_ok = 1;
    f->done = 0;
    f->in_flight = 1;
    f->write_req.data = f;
    if (uv_read_start((uv_stream_t *)&f->tcp, on_alloc, on_read) < 0 ||
        uv_write(&f->write_req, (uv_stream_t *)&f->tcp, &out, 1, on_written) < 0) {
        finish_fetch(f, 0);
    }
}

static void
on_connected(uv_connect_t *req, int status)
{
    fetcher_t *f = req->data;
    if (status < 0) {
        fetches++;
        bad++;
        close_and_go_on(f);
        return;
    }
    f->open = 1;
    send_request(f);
}

static void
start_fetch(fetcher_t *f)
{
    if (uv_now(loop) >= deadline) {
        if (f->open) {
            close_and_go_on(f); /* on_closed comes back here, closed */
        }
        else if (!f->closing) {
            active--;
        }
        return;
    }
    if (f->open) {
        send_request(f);
        return;
    }
    uv_tcp_init(loop, &f->tcp);
    f->tcp.data = f;
    uv_tcp_nodelay(&f->tcp, 1);
    f->connect_req.data = f;
    if (uv_tcp_connect(&f->connect_req, &f->tcp, (const struct sockaddr *)&addr,
                       on_connected) < 0) {
        fetches++;
        bad++;
        close_and_go_on(f);
    }
}

int
main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: %s PORT SECONDS CONCURRENCY close|keep-alive\n", argv[0]);
        return 2;
    }
    int port = atoi(argv[1]);
    double seconds = atof(argv[2]);
    int concurrency = atoi(argv[3]);
    keep_alive = strcmp(argv[4], "keep-alive") == 0;
    if (port <= 0 || seconds <= 0 || concurrency <= 0) {
        fprintf(stderr, "bad arguments\n");
        return 2;
    }
    request_len = (size_t)snprintf(
        request, sizeof(request),
        "GET / HTTP/1.1\r\nConnection: %s\r\nHost: 127.0.0.1:%d\r\n"
        "User-Agent: Tornado/6.5.2\r\nAccept-Encoding: gzip\r\n\r\n",
        keep_alive ? "keep-alive" : "close", port);
    llhttp_settings_init(&settings);
    settings.on_body = on_body;
    settings.on_message_complete = on_message_complete;
    loop = uv_default_loop();
    uv_ip4_addr("127.0.0.1", port, &addr);

    fetcher_t *fetchers = calloc((size_t)concurrency, sizeof(fetcher_t));
    if (fetchers == NULL) {
        return 1;
    }
    uv_update_time(loop);
    started = uv_hrtime();
    deadline = uv_now(loop) + (uint64_t)(seconds * 1000);
    active = concurrency;
    for (int i = 0; i < concurrency; i++) {
        start_fetch(&fetchers[i]);
    }
    uv_run(loop, UV_RUN_DEFAULT);
    double elapsed = (double)(uv_hrtime() - started) / 1e9;
    printf("{\"fetches\": %ld, \"seconds\": %.6f, \"per_second\": %.1f, \"correct\": %s}\n",
           fetches, elapsed, (double)fetches / elapsed,
           bad == 0 && fetches > 0 ? "true" : "false");
    free(fetchers);
    return 0;
}
