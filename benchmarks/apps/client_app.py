"""The HTTP client workload, written once against Tornado's API.

Run by pure-Python Tornado as ``python client_app.py ...`` and by tornado_c,
unchanged, as ``python -m tornado_c client_app.py ...``.  Fetches
``http://127.0.0.1:PORT/`` with the default AsyncHTTPClient
(SimpleAsyncHTTPClient) for ``--seconds``, either one fetch at a time
(``--concurrency 1``) or with that many fetches in flight (``--keep-alive``
asks for connection reuse), and prints one
JSON line: fetches, seconds, fetches per second, and whether every response
was a 200 with the expected body.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

import tornado.httpclient


async def worker(client: tornado.httpclient.AsyncHTTPClient, url: str, deadline: float,
                 expected: bytes, counts: dict, headers: dict) -> None:
    while time.monotonic() < deadline:
        response = await client.fetch(url, raise_error=False, headers=headers)
        counts["fetches"] += 1
        if response.code != 200 or response.body != expected:
            counts["bad"] += 1


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--expect", default="Hello, world")
    parser.add_argument("--keep-alive", action="store_true",
                        help='send "Connection: keep-alive" (tornado_c then reuses connections)')
    args = parser.parse_args()
    url = f"http://127.0.0.1:{args.port}/"
    client = tornado.httpclient.AsyncHTTPClient(max_clients=max(10, args.concurrency))
    counts = {"fetches": 0, "bad": 0}
    # Warm up (imports, first connection) outside the measured time.
    await client.fetch(url)
    start = time.monotonic()
    deadline = start + args.seconds
    await asyncio.gather(*(
        worker(client, url, deadline, args.expect.encode(), counts,
               {"Connection": "keep-alive"} if args.keep_alive else {})
        for _ in range(args.concurrency)
    ))
    elapsed = time.monotonic() - start
    print(json.dumps({
        "fetches": counts["fetches"],
        "seconds": elapsed,
        "per_second": counts["fetches"] / elapsed,
        "correct": counts["bad"] == 0 and counts["fetches"] > 0,
    }))


if __name__ == "__main__":
    asyncio.run(main())
