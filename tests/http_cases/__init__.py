"""Tables of raw HTTP/1.x input and the outcome expected from the server or client.

``server_requests.CASES``: bytes a client sends to an `HTTPServer` whose
request callback answers every request with ``"<METHOD> <uri> <body length>"``
→ the responses the client reads back (status codes, with that echo as body)
and whether the server closes the connection.

``client_responses.CASES``: bytes a server sends back to an `HTTP1Connection`
client → what the client's delegate sees, or the error.

Every case is run whole and split into one-byte writes, against Tornado (the
reference) and tornado_c.  ``smuggling`` marks input Tornado 6.5.2 accepts
although a strict parser would refuse it (DESIGN.md decision 4: tornado_c
will reject these once the lead decides; until then it matches Tornado).
"""
