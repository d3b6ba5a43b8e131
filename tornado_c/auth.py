"""Third-party login through OpenID and OAuth.

Mix these classes into a `.RequestHandler`:

* `OpenIdMixin` (OpenID 2.0 with attribute exchange)
* `OAuthMixin` (OAuth 1.0 and 1.0a) and `TwitterMixin` built on it
* `OAuth2Mixin` and its `GoogleOAuth2Mixin` and `FacebookGraphMixin`

A login handler typically redirects to the provider when no credentials are
in the request, and exchanges them for the user's data when the provider
redirects back::

    class GoogleOAuth2LoginHandler(tornado_c.web.RequestHandler,
                                   tornado_c.auth.GoogleOAuth2Mixin):
        async def get(self):
            redirect_uri = urllib.parse.urljoin(self.request.full_url(),
                                                self.reverse_url("google_oauth"))
            if self.get_argument("code", False):
                access = await self.get_authenticated_user(
                    redirect_uri=redirect_uri, code=self.get_argument("code"))
                user = await self.oauth2_request(
                    "https://www.googleapis.com/oauth2/v1/userinfo",
                    access_token=access["access_token"])
                ...
            else:
                self.authorize_redirect(
                    redirect_uri=redirect_uri,
                    client_id=self.get_google_oauth_settings()["key"],
                    scope=["profile", "email"],
                    response_type="code",
                    extra_params={"approval_prompt": "auto"})

HTTP requests to the provider go through `get_auth_http_client`, which
subclasses may override (tests point it at a local fake provider).
"""

from __future__ import annotations

import hashlib
import hmac
import typing
import warnings
import base64
import time
import uuid
import urllib.parse
from typing import Any, Callable, Dict, Iterable, List, Optional, Union, cast

from tornado_c import escape, httpclient
from tornado_c.httputil import url_concat
from tornado_c.util import unicode_type

if typing.TYPE_CHECKING:
    from tornado_c.web import RequestHandler  # noqa: F401


class AuthError(Exception):
    """Raised when a provider's answer cannot be used to log a user in."""


_OPENID_NS = "http://specs.openid.net/auth/2.0"
_OPENID_SELECT = "http://specs.openid.net/auth/2.0/identifier_select"
_AX_NS = "http://openid.net/srv/ax/1.0"
_AX_NAME_TYPES = {
    "firstname": "http://axschema.org/namePerson/first",
    "fullname": "http://axschema.org/namePerson",
    "lastname": "http://axschema.org/namePerson/last",
}
_AX_OTHER_TYPES = {
    "email": "http://axschema.org/contact/email",
    "language": "http://axschema.org/pref/language",
    "username": "http://axschema.org/namePerson/friendly",
}
_REQUEST_TOKEN_COOKIE = "_oauth_request_token"


def _handler(obj: Any) -> "RequestHandler":
    return cast("RequestHandler", obj)


def _new_nonce() -> str:
    return uuid.uuid4().bytes.hex()


def _client_for(mixin: Any, given: Optional[httpclient.AsyncHTTPClient]) -> Any:
    # An explicitly passed client wins over the mixin's default one.
    return mixin.get_auth_http_client() if given is None else given


def _absolute(handler: "RequestHandler", uri: str) -> str:
    return urllib.parse.urljoin(handler.request.full_url(), uri)


def _with_query(url: str, params: Dict[str, Any]) -> str:
    return "%s?%s" % (url, urllib.parse.urlencode(params))


def _not_none(**candidates: Any) -> Dict[str, Any]:
    return {name: value for name, value in candidates.items() if value is not None}


async def _fetch_json(
    client: httpclient.AsyncHTTPClient, url: str, post_args: Optional[Dict[str, Any]]
) -> Any:
    if post_args is None:
        reply = await client.fetch(url)
    else:
        reply = await client.fetch(url, method="POST", body=urllib.parse.urlencode(post_args))
    return escape.json_decode(reply.body)


def _ax_fetch_args(attrs: Iterable[str]) -> Dict[str, str]:
    # Attribute-exchange part of an OpenID request.  "name" stands for the
    # three name attributes together.
    wanted = set(attrs)
    types: Dict[str, str] = {}
    if "name" in wanted:
        wanted.difference_update(["name", *_AX_NAME_TYPES])
        types.update(_AX_NAME_TYPES)
    for attr in wanted:
        types[attr] = _AX_OTHER_TYPES[attr]
    fetch = {"openid.ns.ax": _AX_NS, "openid.ax.mode": "fetch_request"}
    for attr, type_uri in types.items():
        fetch["openid.ax.type." + attr] = type_uri
    fetch["openid.ax.required"] = ",".join(types)
    return fetch


class OpenIdMixin:
    """OpenID 2.0 login with attribute exchange.

    Subclasses set ``_OPENID_ENDPOINT`` to the provider's URL.
    """

    _OPENID_ENDPOINT: str

    def authenticate_redirect(
        self,
        callback_uri: Optional[str] = None,
        ax_attrs: List[str] = ["name", "email", "language", "username"],
    ) -> None:
        """Redirect to the provider to authenticate the user.

        ``callback_uri`` (default: this request's URI) receives the answer;
        ``ax_attrs`` lists the attributes to ask for.
        """
        handler = _handler(self)
        target = callback_uri or handler.request.uri
        assert target is not None
        handler.redirect(_with_query(self._OPENID_ENDPOINT, self._openid_args(target, ax_attrs=ax_attrs)))

    async def get_authenticated_user(
        self, http_client: Optional[httpclient.AsyncHTTPClient] = None
    ) -> Dict[str, Any]:
        """Check the provider's redirect and return the user's attributes.

        The returned dict may hold ``name``, ``first_name``, ``last_name``,
        ``email``, ``locale``, ``username`` and ``claimed_id``.
        """
        # Echo the provider's arguments back to it to confirm they are genuine.
        echoed: Dict[str, Union[str, bytes]] = {}
        for key, values in _handler(self).request.arguments.items():
            echoed[key] = values[-1]
        echoed["openid.mode"] = "check_authentication"
        client = _client_for(self, http_client)
        verdict = await client.fetch(
            self._OPENID_ENDPOINT, method="POST", body=urllib.parse.urlencode(echoed)
        )
        return self._on_authentication_verified(verdict)

    def _openid_args(
        self,
        callback_uri: str,
        ax_attrs: Iterable[str] = [],
        oauth_scope: Optional[str] = None,
    ) -> Dict[str, str]:
        handler = _handler(self)
        back_to = _absolute(handler, callback_uri)
        params: Dict[str, str] = dict(
            [
                ("openid.ns", _OPENID_NS),
                ("openid.claimed_id", _OPENID_SELECT),
                ("openid.identity", _OPENID_SELECT),
                ("openid.return_to", back_to),
                ("openid.realm", urllib.parse.urljoin(back_to, "/")),
                ("openid.mode", "checkid_setup"),
            ]
        )
        if ax_attrs:
            params.update(_ax_fetch_args(ax_attrs))
        if oauth_scope:
            params.update(
                [
                    ("openid.ns.oauth", "http://specs.openid.net/extensions/oauth/1.0"),
                    ("openid.oauth.consumer", handler.request.host.split(":")[0]),
                    ("openid.oauth.scope", oauth_scope),
                ]
            )
        return params

    def _on_authentication_verified(self, response: httpclient.HTTPResponse) -> Dict[str, Any]:
        handler = _handler(self)
        if b"is_valid:true" not in response.body:
            raise AuthError("Invalid OpenID response: %r" % response.body)
        arg = handler.get_argument
        names = list(handler.request.arguments)

        # The provider picks the alias of the attribute-exchange namespace;
        # it is announced as openid.ns.<alias>.
        ns_prefix = "openid.ns."
        alias = next(
            (k[len(ns_prefix) :] for k in names if k.startswith(ns_prefix) and arg(k) == _AX_NS),
            None,
        )

        def exchanged(type_uri: str) -> str:
            if not alias:
                return ""
            declared = "openid.%s.type." % alias
            for k in names:
                if arg(k) == type_uri and k.startswith(declared):
                    return arg("openid.%s.value.%s" % (alias, k[len(declared) :]), "")
            return ""

        email = exchanged(_AX_OTHER_TYPES["email"])
        full = exchanged(_AX_NAME_TYPES["fullname"])
        first = exchanged(_AX_NAME_TYPES["firstname"])
        last = exchanged(_AX_NAME_TYPES["lastname"])
        nick = exchanged(_AX_OTHER_TYPES["username"])
        lang = exchanged(_AX_OTHER_TYPES["language"]).lower()

        profile: Dict[str, Any] = {}
        if first:
            profile["first_name"] = first
        if last:
            profile["last_name"] = last
        given = [p for p in (first, last) if p]
        if full or given or email:
            profile["name"] = full or " ".join(given) or email.split("@")[0]
        optional = (
            ("email", email),
            ("locale", lang),
            ("username", nick),
            ("claimed_id", arg("openid.claimed_id", None)),
        )
        profile.update((key, value) for key, value in optional if value)
        return profile

    def get_auth_http_client(self) -> httpclient.AsyncHTTPClient:
        """Return the `.AsyncHTTPClient` used to talk to the provider."""
        return httpclient.AsyncHTTPClient()


def _is_oauth_10a(obj: Any) -> bool:
    return getattr(obj, "_OAUTH_VERSION", "1.0a") == "1.0a"


def _signer(obj: Any) -> Callable[..., bytes]:
    return _oauth10a_signature if _is_oauth_10a(obj) else _oauth_signature


class OAuthMixin:
    """OAuth 1.0 / 1.0a login.

    Subclasses set ``_OAUTH_REQUEST_TOKEN_URL``, ``_OAUTH_ACCESS_TOKEN_URL``
    and ``_OAUTH_AUTHORIZE_URL`` (plus ``_OAUTH_VERSION = "1.0"`` or
    ``_OAUTH_NO_CALLBACKS = True`` where they apply) and implement
    `_oauth_consumer_token` and `_oauth_get_user_future`.
    """

    _OAUTH_AUTHORIZE_URL: str
    _OAUTH_ACCESS_TOKEN_URL: str

    async def authorize_redirect(
        self,
        callback_uri: Optional[str] = None,
        extra_params: Optional[Dict[str, Any]] = None,
        http_client: Optional[httpclient.AsyncHTTPClient] = None,
    ) -> None:
        """Get a request token and redirect the user to authorize it.

        ``callback_uri`` receives the user afterwards (``"oob"`` writes the
        authorization URL as the response instead).  The request token is
        kept in the ``_oauth_request_token`` cookie.
        """
        if callback_uri and getattr(self, "_OAUTH_NO_CALLBACKS", False):
            raise Exception("This service does not support oauth_callback")
        client = _client_for(self, http_client)
        # Plain OAuth 1.0 has no callback or extra parameters at this step.
        options: Dict[str, Any] = {}
        if _is_oauth_10a(self):
            options = dict(callback_uri=callback_uri, extra_params=extra_params)
        reply = await client.fetch(self._oauth_request_token_url(**options))
        self._on_request_token(self._OAUTH_AUTHORIZE_URL, callback_uri, reply)

    async def get_authenticated_user(
        self, http_client: Optional[httpclient.AsyncHTTPClient] = None
    ) -> Dict[str, Any]:
        """Finish the login when the provider redirects back.

        Returns the user from `_oauth_get_user_future` with its
        ``access_token`` added; raises `AuthError` on failure.
        """
        handler = _handler(self)
        returned_key = escape.utf8(handler.get_argument("oauth_token"))
        verifier = handler.get_argument("oauth_verifier", None)
        saved = handler.get_cookie(_REQUEST_TOKEN_COOKIE)
        if not saved:
            raise AuthError("Missing OAuth request token cookie")
        handler.clear_cookie(_REQUEST_TOKEN_COOKIE)
        saved_key, saved_secret = [base64.b64decode(escape.utf8(p)) for p in saved.split("|")]
        if saved_key != returned_key:
            raise AuthError("Request token does not match cookie")
        request_token: Dict[str, Union[str, bytes]] = {"key": saved_key, "secret": saved_secret}
        if verifier:
            request_token["verifier"] = verifier
        client = _client_for(self, http_client)
        reply = await client.fetch(self._oauth_access_token_url(request_token))
        access = _oauth_parse_response(reply.body)
        user = await self._oauth_get_user_future(access)
        if not user:
            raise AuthError("Error getting user")
        user["access_token"] = access
        return user

    def _oauth_base_args(
        self, consumer_token: Dict[str, Any], token: Optional[Dict[str, Any]] = None
    ) -> Dict[str, Any]:
        params = {"oauth_consumer_key": escape.to_basestring(consumer_token["key"])}
        if token is not None:
            params["oauth_token"] = escape.to_basestring(token["key"])
        params.update(
            oauth_signature_method="HMAC-SHA1",
            oauth_timestamp=str(int(time.time())),
            oauth_nonce=_new_nonce(),
            oauth_version="1.0",
        )
        return params

    def _oauth_request_token_url(
        self,
        callback_uri: Optional[str] = None,
        extra_params: Optional[Dict[str, Any]] = None,
    ) -> str:
        consumer = self._oauth_consumer_token()
        endpoint = self._OAUTH_REQUEST_TOKEN_URL  # type: ignore
        params = self._oauth_base_args(consumer)
        if _is_oauth_10a(self):
            if callback_uri:
                params["oauth_callback"] = (
                    "oob" if callback_uri == "oob" else _absolute(_handler(self), callback_uri)
                )
            params.update(extra_params or {})
        params["oauth_signature"] = _signer(self)(consumer, "GET", endpoint, params)
        return _with_query(endpoint, params)

    def _on_request_token(
        self,
        authorize_url: str,
        callback_uri: Optional[str],
        response: httpclient.HTTPResponse,
    ) -> None:
        handler = _handler(self)
        token = _oauth_parse_response(response.body)
        packed = b"|".join(base64.b64encode(escape.utf8(token[k])) for k in ("key", "secret"))
        handler.set_cookie(_REQUEST_TOKEN_COOKIE, packed)
        query = {"oauth_token": token["key"]}
        if callback_uri == "oob":
            # Out-of-band: show the URL rather than redirecting to it.
            handler.finish(_with_query(authorize_url, query))
            return
        if callback_uri:
            query["oauth_callback"] = _absolute(handler, callback_uri)
        handler.redirect(_with_query(authorize_url, query))

    def _oauth_access_token_url(self, request_token: Dict[str, Any]) -> str:
        consumer = self._oauth_consumer_token()
        endpoint = self._OAUTH_ACCESS_TOKEN_URL
        params = self._oauth_base_args(consumer, request_token)
        if "verifier" in request_token:
            params["oauth_verifier"] = request_token["verifier"]
        sign = _signer(self)
        params["oauth_signature"] = sign(consumer, "GET", endpoint, params, request_token)
        return _with_query(endpoint, params)

    def _oauth_consumer_token(self) -> Dict[str, Any]:
        """Return the consumer token (``key`` and ``secret``) of the app."""
        raise NotImplementedError()

    async def _oauth_get_user_future(self, access_token: Dict[str, Any]) -> Dict[str, Any]:
        """Fetch the user's data with the given access token.

        Subclasses must implement this.
        """
        raise NotImplementedError()

    def _oauth_request_parameters(
        self,
        url: str,
        access_token: Dict[str, Any],
        parameters: Dict[str, Any] = {},
        method: str = "GET",
    ) -> Dict[str, Any]:
        """Return the OAuth parameters that sign a request to ``url``.

        ``parameters`` are the request's own arguments (signed, not
        returned).
        """
        consumer = self._oauth_consumer_token()
        oauth_params = self._oauth_base_args(consumer, access_token)
        everything = {**oauth_params, **parameters}
        sig = _signer(self)(consumer, method, url, everything, access_token)
        oauth_params["oauth_signature"] = escape.to_basestring(sig)
        return oauth_params

    def get_auth_http_client(self) -> httpclient.AsyncHTTPClient:
        """Return the `.AsyncHTTPClient` used to talk to the provider."""
        return httpclient.AsyncHTTPClient()


class OAuth2Mixin:
    """OAuth 2.0 login.

    Subclasses set ``_OAUTH_AUTHORIZE_URL`` and ``_OAUTH_ACCESS_TOKEN_URL``.
    """

    _OAUTH_AUTHORIZE_URL: str
    _OAUTH_ACCESS_TOKEN_URL: str

    def authorize_redirect(
        self,
        redirect_uri: Optional[str] = None,
        client_id: Optional[str] = None,
        client_secret: Optional[str] = None,
        extra_params: Optional[Dict[str, Any]] = None,
        scope: Optional[List[str]] = None,
        response_type: str = "code",
    ) -> None:
        """Redirect the user to the provider to authorize this app.

        ``client_secret`` never had any effect and is deprecated (it warns).
        """
        if client_secret is not None:
            warnings.warn("client_secret argument is deprecated", DeprecationWarning)
        query: Dict[str, str] = {"response_type": response_type}
        query.update(_not_none(redirect_uri=redirect_uri, client_id=client_id))
        query.update(extra_params or {})
        if scope:
            query["scope"] = " ".join(scope)
        _handler(self).redirect(url_concat(self._OAUTH_AUTHORIZE_URL, query))

    def _oauth_request_token_url(
        self,
        redirect_uri: Optional[str] = None,
        client_id: Optional[str] = None,
        client_secret: Optional[str] = None,
        code: Optional[str] = None,
        extra_params: Optional[Dict[str, Any]] = None,
    ) -> str:
        query = _not_none(
            redirect_uri=redirect_uri, code=code, client_id=client_id, client_secret=client_secret
        )
        query.update(extra_params or {})
        return url_concat(self._OAUTH_ACCESS_TOKEN_URL, query)

    async def oauth2_request(
        self,
        url: str,
        access_token: Optional[str] = None,
        post_args: Optional[Dict[str, Any]] = None,
        **args: Any,
    ) -> Any:
        """Fetch ``url`` with an OAuth 2 access token; return the decoded JSON.

        Keyword arguments become query arguments (only when an access
        token is given); ``post_args`` makes it a form-encoded POST.
        """
        if access_token:
            url = _with_query(url, {"access_token": access_token, **args})
        return await _fetch_json(self.get_auth_http_client(), url, post_args)

    def get_auth_http_client(self) -> httpclient.AsyncHTTPClient:
        """Return the `.AsyncHTTPClient` used to talk to the provider."""
        return httpclient.AsyncHTTPClient()


class TwitterMixin(OAuthMixin):
    """Twitter login (OAuth 1.0a).

    Needs the ``twitter_consumer_key`` and ``twitter_consumer_secret``
    application settings.
    """

    _TWITTER_BASE_URL = "https://api.twitter.com/1.1"
    _OAUTH_NO_CALLBACKS = False
    _OAUTH_AUTHENTICATE_URL = "https://api.twitter.com/oauth/authenticate"
    _OAUTH_AUTHORIZE_URL = "https://api.twitter.com/oauth/authorize"
    _OAUTH_ACCESS_TOKEN_URL = "https://api.twitter.com/oauth/access_token"
    _OAUTH_REQUEST_TOKEN_URL = "https://api.twitter.com/oauth/request_token"

    async def authenticate_redirect(self, callback_uri: Optional[str] = None) -> None:
        """Like `authorize_redirect`, but skips the prompt for users who
        already authorized the app."""
        client = self.get_auth_http_client()
        token_url = self._oauth_request_token_url(callback_uri=callback_uri)
        self._on_request_token(self._OAUTH_AUTHENTICATE_URL, None, await client.fetch(token_url))

    async def twitter_request(
        self,
        path: str,
        access_token: Dict[str, Any],
        post_args: Optional[Dict[str, Any]] = None,
        **args: Any,
    ) -> Any:
        """Call the Twitter API at ``path`` (e.g. ``"/statuses/update"``)
        and return the decoded JSON; an absolute URL is used as is."""
        absolute = path.startswith(("http:", "https:"))
        url = path if absolute else "%s%s.json" % (self._TWITTER_BASE_URL, path)
        if access_token:
            # The signature covers the query and the form body alike.
            covered = {**args, **(post_args or {})}
            verb = "GET" if post_args is None else "POST"
            args.update(self._oauth_request_parameters(url, access_token, covered, method=verb))
        if args:
            url = _with_query(url, args)
        return await _fetch_json(self.get_auth_http_client(), url, post_args)

    def _oauth_consumer_token(self) -> Dict[str, Any]:
        handler = _handler(self)
        names = ("twitter_consumer_key", "twitter_consumer_secret")
        for setting in names:
            handler.require_setting(setting, "Twitter OAuth")
        return {"key": handler.settings[names[0]], "secret": handler.settings[names[1]]}

    async def _oauth_get_user_future(self, access_token: Dict[str, Any]) -> Dict[str, Any]:
        account = await self.twitter_request(
            "/account/verify_credentials", access_token=access_token
        )
        if account:
            account["username"] = account["screen_name"]
        return account


class GoogleOAuth2Mixin(OAuth2Mixin):
    """Google login (OAuth 2.0).

    Needs the ``google_oauth`` application setting: a dict with ``key``
    (client ID) and ``secret``.
    """

    _OAUTH_SETTINGS_KEY = "google_oauth"
    _OAUTH_NO_CALLBACKS = False
    _OAUTH_USERINFO_URL = "https://www.googleapis.com/oauth2/v1/userinfo"
    _OAUTH_ACCESS_TOKEN_URL = "https://www.googleapis.com/oauth2/v4/token"
    _OAUTH_AUTHORIZE_URL = "https://accounts.google.com/o/oauth2/v2/auth"

    def get_google_oauth_settings(self) -> Dict[str, str]:
        """Return the ``google_oauth`` setting (override to look elsewhere)."""
        return _handler(self).settings[self._OAUTH_SETTINGS_KEY]

    async def get_authenticated_user(
        self,
        redirect_uri: str,
        code: str,
        client_id: Optional[str] = None,
        client_secret: Optional[str] = None,
    ) -> Dict[str, Any]:
        """Exchange the authorization ``code`` for an access token.

        Returns Google's token response (``access_token``, ``id_token``, …);
        fetch the user's profile with `oauth2_request`.
        """
        if client_id is None or client_secret is None:
            configured = self.get_google_oauth_settings()
            client_id = configured["key"] if client_id is None else client_id
            client_secret = configured["secret"] if client_secret is None else client_secret
        client = self.get_auth_http_client()
        form = dict(
            redirect_uri=redirect_uri,
            code=code,
            client_id=client_id,
            client_secret=client_secret,
            grant_type="authorization_code",
        )
        reply = await client.fetch(
            self._OAUTH_ACCESS_TOKEN_URL,
            method="POST",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            body=urllib.parse.urlencode(form),
        )
        return escape.json_decode(reply.body)


class FacebookGraphMixin(OAuth2Mixin):
    """Facebook login through the Graph API (OAuth 2.0)."""

    _FACEBOOK_BASE_URL = "https://graph.facebook.com"
    _OAUTH_NO_CALLBACKS = False
    _OAUTH_AUTHORIZE_URL = "https://www.facebook.com/dialog/oauth?"
    _OAUTH_ACCESS_TOKEN_URL = "https://graph.facebook.com/oauth/access_token?"

    async def get_authenticated_user(
        self,
        redirect_uri: str,
        client_id: str,
        client_secret: str,
        code: str,
        extra_fields: Optional[Dict[str, Any]] = None,
    ) -> Optional[Dict[str, Any]]:
        """Exchange ``code`` for a token and return the user's profile.

        The dict holds ``id``, ``name``, ``first_name``, ``last_name``,
        ``locale``, ``picture``, ``link``, any ``extra_fields``, plus
        ``access_token`` and ``session_expires`` (a string).
        """
        client = self.get_auth_http_client()
        fields = {"id", "name", "first_name", "last_name", "locale", "picture", "link"}
        if extra_fields:
            fields.update(extra_fields)
        token_url = self._oauth_request_token_url(
            redirect_uri=redirect_uri, code=code, client_id=client_id, client_secret=client_secret
        )
        granted = escape.json_decode((await client.fetch(token_url)).body)
        token = granted.get("access_token")
        lifetime = granted.get("expires_in")
        assert token is not None
        # Graph API calls are bound to the app secret with an HMAC "proof".
        proof = hmac.new(client_secret.encode("utf8"), token.encode("utf8"), hashlib.sha256)
        me = await self.facebook_request(
            path="/me", access_token=token, appsecret_proof=proof.hexdigest(), fields=",".join(fields)
        )
        if me is None:
            return None
        result = {name: me.get(name) for name in fields}
        # session_expires is kept as a string, the form-encoded era's type.
        result.update(access_token=token, session_expires=str(lifetime))
        return result

    async def facebook_request(
        self,
        path: str,
        access_token: Optional[str] = None,
        post_args: Optional[Dict[str, Any]] = None,
        **args: Any,
    ) -> Any:
        """Call the Graph API at ``path`` (e.g. ``"/me/feed"``) and return
        the decoded JSON; see `OAuth2Mixin.oauth2_request`."""
        url = self._FACEBOOK_BASE_URL + path
        return await self.oauth2_request(url, access_token=access_token, post_args=post_args, **args)


def _oauth_base_string(method: str, url: str, parameters: Dict[str, Any]) -> bytes:
    pieces = urllib.parse.urlparse(url)
    where = "%s://%s%s" % (pieces.scheme.lower(), pieces.netloc.lower(), pieces.path)
    query = "&".join("%s=%s" % (k, _oauth_escape(str(v))) for k, v in sorted(parameters.items()))
    return escape.utf8("&".join(map(_oauth_escape, (method.upper(), where, query))))


def _hmac_sha1_b64(key: bytes, message: bytes) -> bytes:
    return base64.b64encode(hmac.new(key, message, hashlib.sha1).digest())


def _oauth_signature(
    consumer_token: Dict[str, Any],
    method: str,
    url: str,
    parameters: Dict[str, Any] = {},
    token: Optional[Dict[str, Any]] = None,
) -> bytes:
    """The OAuth 1.0 HMAC-SHA1 signature of a request (secrets unescaped)."""
    secrets = [consumer_token["secret"], token["secret"] if token else ""]
    key = b"&".join([escape.utf8(s) for s in secrets])
    return _hmac_sha1_b64(key, _oauth_base_string(method, url, parameters))


def _oauth10a_signature(
    consumer_token: Dict[str, Any],
    method: str,
    url: str,
    parameters: Dict[str, Any] = {},
    token: Optional[Dict[str, Any]] = None,
) -> bytes:
    """The OAuth 1.0a HMAC-SHA1 signature of a request (secrets escaped)."""
    first = urllib.parse.quote(consumer_token["secret"], safe="~")
    second = urllib.parse.quote(token["secret"], safe="~") if token else ""
    key = b"&".join([escape.utf8(first), escape.utf8(second)])
    return _hmac_sha1_b64(key, _oauth_base_string(method, url, parameters))


def _oauth_escape(val: Union[str, bytes]) -> str:
    raw = val.encode("utf-8") if isinstance(val, unicode_type) else val
    return urllib.parse.quote(raw, safe="~")


def _oauth_parse_response(body: bytes) -> Dict[str, Any]:
    # Providers don't declare an encoding here; UTF-8 covers the ASCII they
    # actually send.
    fields = urllib.parse.parse_qs(escape.native_str(body), keep_blank_values=False)
    token = {"key": fields["oauth_token"][0], "secret": fields["oauth_token_secret"][0]}
    # Any other fields (user id, screen name, ...) ride along.
    token.update(
        (name, values[0])
        for name, values in fields.items()
        if name not in ("oauth_token", "oauth_token_secret")
    )
    return token
