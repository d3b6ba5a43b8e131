"""Differential tests for tornado_c.auth against tornado.auth.

The signing helpers are compared directly (Hypothesis).  The mixins are
exercised end to end against fake OpenID / OAuth 1 / OAuth 2 providers served
by the same application on 127.0.0.1; each implementation runs on its own
stack (web, httpserver, httpclient).  ``time`` and ``uuid`` are frozen in
both auth modules so nonces, timestamps and signatures are identical, and
the responses and the requests the providers received are compared.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import os
import re
import tempfile
import types
import urllib.parse
import uuid
import warnings
from typing import Any, Dict, List, Tuple

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir

set_hypothesis_home_dir(os.path.join(tempfile.gettempdir(), "tornado_c-hypothesis"))

import tornado.auth as ref
import tornado_c.auth as tc

from conftest import Impl

SETTINGS = settings(
    max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)

_TEXT = st.one_of(st.text(max_size=12), st.binary(max_size=8))
_PARAMS = st.dictionaries(st.text(alphabet="abcxyz_", min_size=1, max_size=6),
                          st.one_of(st.text(max_size=8), st.integers()), max_size=5)
_URLS = st.sampled_from([
    "http://EXAMPLE.com/path", "https://api.Example.com:8443/a/b?q=1", "http://x/",
    "HTTP://host/p%20q", "http://h/\u00e9",
])


def _outcome(fn: Any, *args: Any) -> Any:
    try:
        return ("ok", fn(*args))
    except Exception as e:  # noqa: BLE001 - compared
        return ("raised", type(e).__name__)


@SETTINGS
@given(st.text(max_size=10), st.text(max_size=10), st.one_of(st.none(), st.text(max_size=10)),
       st.sampled_from(["GET", "post", "Put"]), _URLS, _PARAMS)
def test_signatures(ckey: str, csecret: str, tsecret: Any, method: str, url: str,
                    params: Dict[str, Any]) -> None:
    consumer = {"key": ckey, "secret": csecret}
    token = None if tsecret is None else {"key": "k", "secret": tsecret}
    for name in ("_oauth_signature", "_oauth10a_signature"):
        assert _outcome(getattr(tc, name), consumer, method, url, params, token) == _outcome(
            getattr(ref, name), consumer, method, url, params, token
        )


@SETTINGS
@given(_TEXT)
def test_oauth_escape(value: Any) -> None:
    assert _outcome(tc._oauth_escape, value) == _outcome(ref._oauth_escape, value)


@SETTINGS
@given(st.dictionaries(st.sampled_from(["oauth_token", "oauth_token_secret", "user_id", "x", ""]),
                       st.text(alphabet="ab=&%20\u00e9", max_size=6)))
def test_parse_response(fields: Dict[str, str]) -> None:
    body = urllib.parse.urlencode(fields).encode()
    assert _outcome(tc._oauth_parse_response, body) == _outcome(ref._oauth_parse_response, body)


def test_api_shape() -> None:
    def shape(fn: Any) -> Any:
        return [(p.name, p.kind, p.default) for p in inspect.signature(fn).parameters.values()]

    for name in ("OpenIdMixin", "OAuthMixin", "OAuth2Mixin", "TwitterMixin", "GoogleOAuth2Mixin",
                 "FacebookGraphMixin"):
        ours, theirs = getattr(tc, name), getattr(ref, name)
        assert [b.__name__ for b in ours.__mro__] == [b.__name__ for b in theirs.__mro__]
        for attr, value in vars(theirs).items():
            if attr.startswith("__"):
                continue
            mine = getattr(ours, attr)
            if callable(value):
                assert shape(mine) == shape(value), (name, attr)
                assert inspect.iscoroutinefunction(mine) == inspect.iscoroutinefunction(value)
            else:
                assert mine == value, (name, attr)
    for fn in ("_oauth_signature", "_oauth10a_signature", "_oauth_escape", "_oauth_parse_response"):
        assert shape(getattr(tc, fn)) == shape(getattr(ref, fn))
    assert issubclass(tc.AuthError, Exception)


# ---------------------------------------------------------------------------
# End to end against fake providers


_CONSUMERS = [{"key": "asdf", "secret": "qw er&~"},
              {"key": "test_twitter_consumer_key", "secret": "test_twitter_consumer_secret"}]
_TOKEN_SECRETS = [None, "1234", b"1234", "5678", "vbnm"]


def _verify(handler: Any, signature: str) -> str:
    request = handler.request
    url = "%s://%s%s" % (request.protocol, request.host, request.path)
    params = {k: handler.get_argument(k) for k in request.arguments if k != "oauth_signature"}
    for consumer in _CONSUMERS:
        for secret in _TOKEN_SECRETS:
            token = None if secret is None else {"key": "k", "secret": secret}
            for version, fn in (("1.0a", ref._oauth10a_signature), ("1.0", ref._oauth_signature)):
                if fn(consumer, request.method, url, params, token).decode() == signature:
                    return "verified %s %s %r" % (version, consumer["key"], secret)
    return "unverified"


def build_app(impl: Impl, base: str, log: List[Any]) -> Any:
    web = impl.mod("web")
    auth = impl.mod("auth")

    def record(handler: Any, tag: str) -> None:
        args = sorted((k, v) for k, vs in handler.request.arguments.items() for v in vs)
        signature = handler.get_argument("oauth_signature", None)
        if signature is not None:
            # The signed URL holds this run's port: check the signature here
            # (with the reference's helpers) and log which keys verified it.
            args = [(k, v) for k, v in args if k != "oauth_signature"]
            args.append(("oauth_signature", _verify(handler, signature).encode()))
        # Facebook's field list comes from a set: its order is arbitrary.
        args = [(k, b",".join(sorted(v.split(b","))) if k == "fields" else v) for k, v in args]
        log.append((tag, handler.request.method, args))

    class OpenIdClient(web.RequestHandler, auth.OpenIdMixin):
        _OPENID_ENDPOINT = base + "/openid/server/authenticate"

        async def get(self) -> None:
            if self.get_argument("openid.mode", None):
                user = await self.get_authenticated_user(http_client=self.settings["http_client"])
                self.finish(user)
                return
            attrs = self.get_arguments("ax")
            if attrs:
                self.authenticate_redirect(ax_attrs=attrs)
            else:
                self.authenticate_redirect()

    class OpenIdServer(web.RequestHandler):
        def post(self) -> None:
            record(self, "openid")
            if self.get_argument("openid.mode") != "check_authentication":
                raise Exception("bad mode")
            self.write("is_valid:" + self.get_argument("verdict", "true"))

    class OAuth1Client(web.RequestHandler, auth.OAuthMixin):
        _OAUTH_REQUEST_TOKEN_URL = base + "/oauth1/server/request_token"
        _OAUTH_AUTHORIZE_URL = base + "/oauth1/server/authorize"
        _OAUTH_ACCESS_TOKEN_URL = base + "/oauth1/server/access_token"

        def initialize(self, version: str) -> None:
            self._OAUTH_VERSION = version

        def _oauth_consumer_token(self) -> Dict[str, str]:
            return dict(key="asdf", secret="qw er&~")

        async def get(self) -> None:
            if self.get_argument("oauth_token", None):
                user = await self.get_authenticated_user(http_client=self.settings["http_client"])
                self.finish(user)
                return
            await self.authorize_redirect(
                callback_uri=self.get_argument("cb", None),
                extra_params={"x": "y"} if self.get_argument("extra", None) else None,
                http_client=self.settings["http_client"],
            )

        async def _oauth_get_user_future(self, access_token: Dict[str, Any]) -> Dict[str, Any]:
            if self.get_argument("fail_user", None):
                return {}
            params = self._oauth_request_parameters(
                "http://www.example.com/api/asdf", access_token, parameters=dict(foo="bar")
            )
            return dict(email="foo@example.com", params=params)

    class OAuth1NoCallbacks(OAuth1Client):
        _OAUTH_NO_CALLBACKS = True

    class OAuth1Server(web.RequestHandler):
        def get(self, step: str) -> None:
            record(self, "oauth1-" + step)
            if step == "request_token":
                self.write("oauth_token=zxcv&oauth_token_secret=1234")
            else:
                self.write("oauth_token=uiop&oauth_token_secret=5678&user_id=7&screen_name=foo")

    class OAuth2Client(web.RequestHandler, auth.OAuth2Mixin):
        _OAUTH_AUTHORIZE_URL = base + "/oauth2/server/authorize"

        def get(self) -> None:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                self.authorize_redirect(
                    redirect_uri=self.get_argument("redirect", None),
                    client_id=self.get_argument("client", None),
                    client_secret=self.get_argument("secret", None),
                    scope=self.get_arguments("scope") or None,
                    extra_params={"e": "1"} if self.get_argument("extra", None) else None,
                    response_type=self.get_argument("rt", "code"),
                )
            self.set_header("X-Warnings", ",".join(str(w.message) for w in caught))

    class FacebookClient(web.RequestHandler, auth.FacebookGraphMixin):
        _OAUTH_AUTHORIZE_URL = base + "/facebook/server/authorize?"
        _OAUTH_ACCESS_TOKEN_URL = base + "/facebook/server/access_token?"
        _FACEBOOK_BASE_URL = base + "/facebook/server"

        def get_auth_http_client(self) -> Any:
            return self.settings["http_client"]

        async def get(self) -> None:
            if self.get_argument("code", None):
                user = await self.get_authenticated_user(
                    redirect_uri=self.request.full_url(), client_id="fbid",
                    client_secret="fbsecret", code=self.get_argument("code"),
                    extra_fields=["email"] if self.get_argument("extra", None) else None,
                )
                if user is not None:
                    user["fields"] = sorted(user)
                self.finish(json.dumps(user, sort_keys=True))
                return
            self.authorize_redirect(redirect_uri=self.request.full_url(), client_id="fbid",
                                    extra_params={"scope": "read_stream"})

    class FacebookServer(web.RequestHandler):
        def get(self, step: str) -> None:
            record(self, "facebook-" + step)
            if step == "access_token":
                self.finish({"access_token": "asdf", "expires_in": 3600})
            elif self.get_argument("fail", None) is None and step == "me":
                self.finish({"id": 1, "name": "Foo", "email": "foo@example.com",
                             "picture": {"data": {"url": "u"}}})
            else:
                self.finish("null")

        def post(self, step: str) -> None:
            record(self, "facebook-post-" + step)
            self.finish({"posted": self.get_body_argument("message", "")})

    class FacebookRequest(FacebookClient):
        async def get(self) -> None:
            post = {"message": "hi"} if self.get_argument("post", None) else None
            result = await self.facebook_request("/me/feed", access_token=self.get_argument("t", None),
                                                 post_args=post, limit="5")
            self.finish(json.dumps(result, sort_keys=True))

    class TwitterClient(web.RequestHandler, auth.TwitterMixin):
        _OAUTH_REQUEST_TOKEN_URL = base + "/oauth1/server/request_token"
        _OAUTH_ACCESS_TOKEN_URL = base + "/twitter/server/access_token"
        _OAUTH_AUTHORIZE_URL = base + "/oauth1/server/authorize"
        _OAUTH_AUTHENTICATE_URL = base + "/twitter/server/authenticate"
        _TWITTER_BASE_URL = base + "/twitter/api"

        def get_auth_http_client(self) -> Any:
            return self.settings["http_client"]

        async def get(self) -> None:
            mode = self.get_argument("mode", "login")
            if mode == "authenticate":
                await self.authenticate_redirect()
            elif self.get_argument("oauth_token", None):
                user = await self.get_authenticated_user()
                self.finish(user)
            elif mode == "request":
                token = {"key": "hjkl", "secret": "vbnm"}
                if self.get_argument("post", None):
                    result = await self.twitter_request("/statuses/update", access_token=token,
                                                        post_args={"status": "hi there"})
                else:
                    result = await self.twitter_request(
                        self.get_argument("path", "/users/show/somebody"),
                        access_token=token, include_entities="1")
                self.finish(json.dumps(result, sort_keys=True))
            else:
                await self.authorize_redirect()

    class TwitterServer(web.RequestHandler):
        def get(self, step: str) -> None:
            record(self, "twitter-" + step)
            if step == "access_token":
                self.write("oauth_token=hjkl&oauth_token_secret=vbnm&screen_name=foo")
            else:
                self.finish({"screen_name": "foo", "name": "Foo", "path": step})

        def post(self, step: str) -> None:
            record(self, "twitter-post-" + step)
            self.finish({"ok": self.get_body_argument("status")})

    class GoogleClient(web.RequestHandler, auth.GoogleOAuth2Mixin):
        _OAUTH_AUTHORIZE_URL = base + "/google/oauth2/authorize"
        _OAUTH_ACCESS_TOKEN_URL = base + "/google/oauth2/token"
        _OAUTH_USERINFO_URL = base + "/google/oauth2/userinfo"

        def get_auth_http_client(self) -> Any:
            return self.settings["http_client"]

        async def get(self) -> None:
            code = self.get_argument("code", None)
            if code is not None:
                access = await self.get_authenticated_user(
                    redirect_uri=base + "/client/google", code=code,
                    client_id=self.get_argument("cid", None))
                user = await self.oauth2_request(self._OAUTH_USERINFO_URL,
                                                 access_token=access["access_token"])
                user["token"] = access
                self.finish(user)
                return
            self.authorize_redirect(redirect_uri=base + "/client/google",
                                    client_id=self.get_google_oauth_settings()["key"],
                                    scope=["profile", "email"], response_type="code",
                                    extra_params={"prompt": "select_account"})

    class GoogleServer(web.RequestHandler):
        def post(self, step: str) -> None:
            record(self, "google-" + step)
            self.set_header("X-Content-Type-Seen", self.request.headers.get("Content-Type", ""))
            self.finish({"access_token": "fake-token", "expires_in": "never"})

        def get(self, step: str) -> None:
            record(self, "google-" + step)
            self.finish({"name": "Foo", "email": "foo@example.com"})

    return web.Application(
        [
            ("/client/openid", OpenIdClient),
            ("/openid/server/authenticate", OpenIdServer),
            ("/client/oauth10", OAuth1Client, dict(version="1.0")),
            ("/client/oauth10a", OAuth1Client, dict(version="1.0a")),
            ("/client/oauth_nocb", OAuth1NoCallbacks, dict(version="1.0a")),
            ("/oauth1/server/(request_token|access_token)", OAuth1Server),
            ("/client/oauth2", OAuth2Client),
            ("/client/facebook", FacebookClient),
            ("/client/facebook_request", FacebookRequest),
            ("/facebook/server/(.*)", FacebookServer),
            ("/client/twitter", TwitterClient),
            ("/twitter/server/(.*)", TwitterServer),
            ("/twitter/api/(.*)", TwitterServer),
            ("/client/google", GoogleClient),
            ("/google/oauth2/(.*)", GoogleServer),
        ],
        twitter_consumer_key="test_twitter_consumer_key",
        twitter_consumer_secret="test_twitter_consumer_secret",
        google_oauth={"key": "gkey", "secret": "gsecret"},
    )


TOKEN_COOKIE = "_oauth_request_token=enhjdg==|MTIzNA=="
TWITTER_COOKIE = "_oauth_request_token=aGprbA==|dmJubQ=="

# (path, headers)
SCENARIO: List[Tuple[str, Dict[str, str]]] = [
    ("/client/openid", {}),
    ("/client/openid?ax=email&ax=username", {}),
    ("/client/openid?ax=name&ax=language", {}),
    ("/client/openid?openid.mode=blah&openid.ns.ax=http://openid.net/srv/ax/1.0"
     "&openid.ax.type.email=http://axschema.org/contact/email"
     "&openid.ax.value.email=foo@example.com"
     "&openid.ax.type.first=http://axschema.org/namePerson/first&openid.ax.value.first=Foo"
     "&openid.ax.type.lang=http://axschema.org/pref/language&openid.ax.value.lang=EN_us"
     "&openid.claimed_id=http://me", {}),
    ("/client/openid?openid.mode=blah&openid.ns.x=http://openid.net/srv/ax/1.0"
     "&openid.x.type.e=http://axschema.org/contact/email&openid.x.value.e=bob@example.com", {}),
    ("/client/openid?openid.mode=blah&verdict=false", {}),
    ("/client/oauth10", {}),
    ("/client/oauth10a", {}),
    ("/client/oauth10a?cb=/done&extra=1", {}),
    ("/client/oauth10a?cb=oob", {}),
    ("/client/oauth_nocb?cb=/done", {}),
    ("/client/oauth_nocb", {}),
    ("/client/oauth10a?oauth_token=zxcv&oauth_verifier=vv", {"Cookie": TOKEN_COOKIE}),
    ("/client/oauth10?oauth_token=zxcv", {"Cookie": TOKEN_COOKIE}),
    ("/client/oauth10a?oauth_token=zxcv", {}),
    ("/client/oauth10a?oauth_token=other", {"Cookie": TOKEN_COOKIE}),
    ("/client/oauth10a?oauth_token=zxcv&fail_user=1", {"Cookie": TOKEN_COOKIE}),
    ("/client/oauth2", {}),
    ("/client/oauth2?redirect=http://r/&client=c&scope=a&scope=b&extra=1&rt=token", {}),
    ("/client/oauth2?secret=s", {}),
    ("/client/facebook", {}),
    ("/client/facebook?code=1234", {}),
    ("/client/facebook?code=1234&extra=1", {}),
    ("/client/facebook_request?t=tok", {}),
    ("/client/facebook_request?t=tok&post=1", {}),
    ("/client/facebook_request", {}),
    ("/client/twitter", {}),
    ("/client/twitter?mode=authenticate", {}),
    ("/client/twitter?oauth_token=hjkl", {"Cookie": TWITTER_COOKIE}),
    ("/client/twitter?mode=request", {}),
    ("/client/twitter?mode=request&post=1", {}),
    ("/client/twitter?mode=request&path=" + urllib.parse.quote("http://127.0.0.1:1/twitter/api/raw"), {}),
    ("/client/google", {}),
    ("/client/google?code=fake-code", {}),
    ("/client/google?code=fake-code&cid=other", {}),
]


def _freeze(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_time = types.SimpleNamespace(time=lambda: 1700000000.5)
    fake_uuid = types.SimpleNamespace(uuid4=lambda: uuid.UUID(int=0x1234567890ABCDEF))
    for mod in (ref, tc):
        monkeypatch.setattr(mod, "time", fake_time)
        monkeypatch.setattr(mod, "uuid", fake_uuid)


def _location(value: Any, port: int) -> Any:
    """Split a redirect into URL and sorted query: OpenID's attribute list is
    built from a set, so its order is arbitrary."""
    if not value:
        return None
    url, _, query = value.replace(str(port), "PORT").partition("?")
    pairs = []
    for k, v in urllib.parse.parse_qsl(query, keep_blank_values=True):
        if k == "openid.ax.required":
            v = ",".join(sorted(v.split(",")))
        pairs.append((k, v))
    return url, sorted(pairs)


async def _run_scenario(impl: Impl) -> Tuple[List[Any], List[Any]]:
    httpclient = impl.mod("httpclient")
    sock, port = impl.mod("testing").bind_unused_port()
    base = "http://127.0.0.1:%d" % port
    provider_log: List[Any] = []
    client = httpclient.AsyncHTTPClient(force_instance=True)
    app = build_app(impl, base, provider_log)
    app.settings["http_client"] = client
    server = impl.mod("httpserver").HTTPServer(app)
    server.add_sockets([sock])
    results: List[Any] = []
    try:
        for path, headers in SCENARIO:
            # Keep the twitter path pointing at the fake server.
            real_path = path.replace("127.0.0.1%3A1", "127.0.0.1%%3A%d" % port)
            response = await client.fetch(base + real_path, headers=headers, follow_redirects=False,
                                          raise_error=False, request_timeout=10)
            results.append((
                path,
                response.code,
                _location(response.headers.get("Location"), port),
                sorted(re.sub(r"expires=[^;]*", "expires=X", c)
                       for c in response.headers.get_list("Set-Cookie")),
                response.headers.get("X-Warnings"),
                response.headers.get("X-Content-Type-Seen"),
                response.body.replace(str(port).encode(), b"PORT") if response.code == 200 else b"",
            ))
    finally:
        client.close()
        server.stop()
        await server.close_all_connections()
    normalized = [(tag, method, [(k, v.decode("latin1").replace(str(port), "PORT")) for k, v in args])
                  for tag, method, args in provider_log]
    return results, normalized


def test_fake_providers(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    _freeze(monkeypatch)
    outcomes = []
    for name in ("tornado", "tornado_c"):
        caplog.clear()
        results, provider_log = asyncio.run(_run_scenario(Impl(name)))
        errors = sorted((r.name, r.levelname, re.sub(r"[0-9.]+ms$|:[0-9]+", "", r.getMessage().splitlines()[0]))
                        for r in caplog.records if r.levelname in ("ERROR", "WARNING"))
        outcomes.append((results, provider_log, errors))
    ref_results, ref_log, ref_errors = outcomes[0]
    tc_results, tc_log, tc_errors = outcomes[1]
    for expected, got in zip(ref_results, tc_results):
        assert got == expected
    assert tc_log == ref_log
    assert tc_errors == ref_errors
    # The scenario covers successes as well as failures.
    assert sum(1 for r in tc_results if r[1] == 200) >= 15
    assert sum(1 for r in tc_results if r[1] == 302) >= 8
