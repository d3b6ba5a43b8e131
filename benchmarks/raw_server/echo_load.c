/*
 * echo_load.c — a C load generator for the TCP echo round-trip workload.
 *
 * bench_tcp.py drives every echo server with its own Python load generator,
 * which tops out at about 130k round trips/s on a core; this does the same
 * "rt" workload in C on libuv, to see what a server can do when the client
 * is not the limit: CONNS connections each send a 64-byte message carrying
 * the connection number and a counter, wait for the identical echo, check
 * it, and send the next.  Counts round trips after a warm-up.
 *
 * Prints one JSON line: round_trips, seconds, per_second, correct.
 *
 * With "bulk MIB" it does the "bulk" workload instead: one connection sends
 * MIB 1 MiB chunks (each an 8-byte little-endian chunk number, then bytes
 * counting up mod 256: bench_tcp.py's pattern) as fast as the socket takes
 * them, with at most 8 MiB queued, reads the echo and checks every byte.
 * Prints bytes, seconds, mib_per_second, correct.
 *
 * Usage: echo_load PORT CONNS SECONDS [bulk MIB]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#define MSG 64
#define WARMUP_MS 300

typedef struct {
    uv_tcp_t tcp;
    uv_connect_t connect_req;
    uv_write_t write_req;
    int id;
    unsigned long counter;
    char out[MSG];
    char in[MSG];
    size_t got;
} conn_t;

#define CHUNK (1 << 20)
#define MAX_QUEUED_CHUNKS 8

typedef struct {
    uv_write_t req;
    char data[CHUNK];
} chunk_req_t;

static uv_tcp_t bulk_tcp;
static uv_connect_t bulk_connect;
static long long bulk_total, bulk_received, bulk_next_chunk, bulk_chunks;
static int bulk_queued;
static uint64_t bulk_started;
static char bulk_rbuf[1 << 18];
static char bulk_template[CHUNK]; /* a chunk's bytes after its 8-byte number */

static uv_loop_t *loop;
static struct sockaddr_in addr;
static uint64_t warm_until, stop_at, measure_start;
static long round_trips, bad, closed;
static int conns;

static void send_next(conn_t *c);

static void
on_close(uv_handle_t *h)
{
    (void)h;
    closed++;
}

static void
finish(conn_t *c)
{
    uv_read_stop((uv_stream_t *)&c->tcp);
    uv_close((uv_handle_t *)&c->tcp, on_close);
}

static void
on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    conn_t *c = h->data;
    (void)suggested;
    buf->base = c->in + c->got;
    buf->len = MSG - c->got;
}

static void
on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    conn_t *c = s->data;
    (void)buf;
    if (nread < 0) {
        bad++;
        finish(c);
        return;
    }
    c->got += (size_t)nread;
    if (c->got < MSG) {
        return;
    }
    if (memcmp(c->in, c->out, MSG) != 0) {
        bad++;
        finish(c);
        return;
    }
    uint64_t now = uv_now(loop);
    if (now >= warm_until) {
        if (measure_start == 0) {
            measure_start = uv_hrtime();
        }
        round_trips++;
    }
    if (now >= stop_at) {
        finish(c);
        return;
    }
    send_next(c);
}

static void
on_written(uv_write_t *req, int status)
{
    if (status < 0) {
        bad++;
        finish(req->data);
    }
}

static void
send_next(conn_t *c)
{
    c->counter++;
    memset(c->out, 'x', MSG);
    snprintf(c->out, MSG, "%08d %012lu ", c->id, c->counter);
    c->out[MSG - 1] = '\n';
    c->got = 0;
    uv_buf_t b = uv_buf_init(c->out, MSG);
    int n = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
    if (n == MSG) {
        return;
    }
    if (n > 0) {
        b = uv_buf_init(c->out + n, (unsigned int)(MSG - n));
    }
    else if (n != UV_EAGAIN) {
        bad++;
        finish(c);
        return;
    }
    c->write_req.data = c;
    if (uv_write(&c->write_req, (uv_stream_t *)&c->tcp, &b, 1, on_written) < 0) {
        bad++;
        finish(c);
    }
}

static void
on_connected(uv_connect_t *req, int status)
{
    conn_t *c = req->data;
    if (status < 0) {
        bad++;
        uv_close((uv_handle_t *)&c->tcp, on_close);
        return;
    }
    if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) < 0) {
        bad++;
        finish(c);
        return;
    }
    send_next(c);
}

/* The byte at offset `off` of the bulk stream. */
static inline unsigned char
bulk_byte(long long off)
{
    long long pos = off % CHUNK;
    if (pos < 8) {
        return (unsigned char)((off / CHUNK) >> (8 * pos));
    }
    return (unsigned char)(pos & 0xFF);
}

static void bulk_fill(void);

static void
bulk_on_written(uv_write_t *req, int status)
{
    free(req);
    bulk_queued--;
    if (status < 0) {
        bad++;
        uv_close((uv_handle_t *)&bulk_tcp, on_close);
        return;
    }
    bulk_fill();
}

/* Queues chunks until MAX_QUEUED_CHUNKS are outstanding or all are sent. */
static void
bulk_fill(void)
{
    while (bulk_queued < MAX_QUEUED_CHUNKS && bulk_next_chunk < bulk_chunks) {
        chunk_req_t *c = malloc(sizeof(*c));
        if (c == NULL) {
            bad++;
            return;
        }
        for (int i = 0; i < 8; i++) {
            c->data[i] = (char)(bulk_next_chunk >> (8 * i));
        }
        memcpy(c->data + 8, bulk_template + 8, CHUNK - 8);
        uv_buf_t b = uv_buf_init(c->data, CHUNK);
        if (uv_write(&c->req, (uv_stream_t *)&bulk_tcp, &b, 1, bulk_on_written) < 0) {
            free(c);
            bad++;
            return;
        }
        bulk_queued++;
        bulk_next_chunk++;
    }
}

static void
bulk_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)h;
    (void)suggested;
    buf->base = bulk_rbuf;
    buf->len = sizeof(bulk_rbuf);
}

static void
bulk_on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    (void)s;
    if (nread < 0) {
        bad++;
        uv_close((uv_handle_t *)&bulk_tcp, on_close);
        return;
    }
    /* Checked a piece of a chunk at a time: the chunk number byte by byte,
     * the rest against the template. */
    ssize_t i = 0;
    while (i < nread) {
        long long off = bulk_received + i;
        long long pos = off % CHUNK;
        ssize_t n;
        int ok;
        if (pos < 8) {
            n = 1;
            ok = (unsigned char)buf->base[i] == bulk_byte(off);
        }
        else {
            n = nread - i < CHUNK - pos ? nread - i : (ssize_t)(CHUNK - pos);
            ok = memcmp(buf->base + i, bulk_template + pos, (size_t)n) == 0;
        }
        if (!ok) {
            bad++;
            uv_close((uv_handle_t *)&bulk_tcp, on_close);
            return;
        }
        i += n;
    }
    bulk_received += nread;
    if (bulk_received >= bulk_total) {
        uv_read_stop((uv_stream_t *)&bulk_tcp);
        uv_close((uv_handle_t *)&bulk_tcp, on_close);
    }
}

static void
bulk_on_connected(uv_connect_t *req, int status)
{
    (void)req;
    if (status < 0 ||
        uv_read_start((uv_stream_t *)&bulk_tcp, bulk_alloc, bulk_on_read) < 0) {
        bad++;
        uv_close((uv_handle_t *)&bulk_tcp, on_close);
        return;
    }
    bulk_started = uv_hrtime();
    bulk_fill();
}

static int
bulk_main(int port, long long mib)
{
    bulk_chunks = mib;
    bulk_total = mib * CHUNK;
    for (int i = 8; i < CHUNK; i++) {
        bulk_template[i] = (char)bulk_byte(i);
    }
    loop = uv_default_loop();
    uv_ip4_addr("127.0.0.1", port, &addr);
    uv_tcp_init(loop, &bulk_tcp);
    if (uv_tcp_connect(&bulk_connect, &bulk_tcp, (const struct sockaddr *)&addr,
                       bulk_on_connected) < 0) {
        return 1;
    }
    uv_run(loop, UV_RUN_DEFAULT);
    double elapsed = bulk_started ? (double)(uv_hrtime() - bulk_started) / 1e9 : 0.0;
    int ok = bad == 0 && bulk_received == bulk_total;
    printf("{\"bytes\": %lld, \"seconds\": %.6f, \"mib_per_second\": %.1f, "
           "\"correct\": %s}\n", bulk_received, elapsed,
           elapsed > 0 ? (double)bulk_received / CHUNK / elapsed : 0.0, ok ? "true" : "false");
    return 0;
}

int
main(int argc, char **argv)
{
    if (argc == 6 && strcmp(argv[4], "bulk") == 0) {
        return bulk_main(atoi(argv[1]), atoll(argv[5]));
    }
    if (argc != 4) {
        fprintf(stderr, "usage: %s PORT CONNS SECONDS [bulk MIB]\n", argv[0]);
        return 2;
    }
    int port = atoi(argv[1]);
    conns = atoi(argv[2]);
    double seconds = atof(argv[3]);
    if (port <= 0 || conns <= 0 || seconds <= 0) {
        fprintf(stderr, "bad arguments\n");
        return 2;
    }
    loop = uv_default_loop();
    uv_ip4_addr("127.0.0.1", port, &addr);
    conn_t *all = calloc((size_t)conns, sizeof(conn_t));
    if (all == NULL) {
        return 1;
    }
    uv_update_time(loop);
    warm_until = uv_now(loop) + WARMUP_MS;
    stop_at = warm_until + (uint64_t)(seconds * 1000);
    for (int i = 0; i < conns; i++) {
        conn_t *c = &all[i];
        c->id = i;
        uv_tcp_init(loop, &c->tcp);
        c->tcp.data = c;
        uv_tcp_nodelay(&c->tcp, 1);
        c->connect_req.data = c;
        if (uv_tcp_connect(&c->connect_req, &c->tcp, (const struct sockaddr *)&addr,
                           on_connected) < 0) {
            bad++;
            uv_close((uv_handle_t *)&c->tcp, on_close);
        }
    }
    uv_run(loop, UV_RUN_DEFAULT);
    double elapsed = measure_start ? (double)(uv_hrtime() - measure_start) / 1e9 : 0.0;
    printf("{\"round_trips\": %ld, \"seconds\": %.6f, \"per_second\": %.1f, \"correct\": %s}\n",
           round_trips, elapsed, elapsed > 0 ? (double)round_trips / elapsed : 0.0,
           bad == 0 && round_trips > 0 ? "true" : "false");
    free(all);
    return 0;
}
