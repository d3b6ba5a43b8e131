"""Flexible request routing (Tornado's ``tornado.routing``).

A `Router` is an `.HTTPServerConnectionDelegate` that picks, for each
request, the `.HTTPMessageDelegate` that will handle it.  `RuleRouter`
does that with a list of `Rule` objects, each pairing a `Matcher`
(`PathMatches`, `HostMatches`, `AnyMatches`, ...) with a target: another
router, an `.Application`, a connection delegate or a plain callable that
takes the `.HTTPServerRequest`.  `ReversibleRuleRouter` adds named rules and
`~ReversibleRouter.reverse_url`; `.web.Application` is built on it.

`URLSpec` (exported as ``tornado.web.url``) is a rule that matches a path
regular expression and targets a `.RequestHandler` subclass.
"""

from __future__ import annotations

import importlib
import re
from functools import partial
from typing import Any, Awaitable, Dict, List, Optional, Pattern, Sequence, Tuple, Union, overload

from tornado_c import httputil
from tornado_c.escape import url_escape, url_unescape, utf8
from tornado_c.httpserver import _CallableAdapter
from tornado_c.log import app_log
from tornado_c.util import basestring_type, import_object, re_unescape, unicode_type

__all__ = [
    "Router",
    "ReversibleRouter",
    "RuleRouter",
    "ReversibleRuleRouter",
    "Rule",
    "Matcher",
    "AnyMatches",
    "HostMatches",
    "DefaultHostMatches",
    "PathMatches",
    "URLSpec",
]


def _literal_prefix(regex: Pattern) -> str:
    """The text every match of ``regex`` starts with: its leading literal
    characters, as the regex parser reads them, read on into a plain group
    ("/(favicon\\.ico)" gives "/favicon.ico").  "" when case is ignored, for
    bytes patterns, or when the pattern does not start with a literal; a
    quantified character or group, an alternation, a class or a group with
    flags of its own ends it."""
    if not isinstance(regex.pattern, str) or regex.flags & (re.IGNORECASE | re.LOCALE):
        return ""
    try:
        parsed = _sre_parse.parse(regex.pattern, regex.flags)
    except Exception:  # noqa: BLE001 (compiled already; never expected)
        return ""
    chars: List[str] = []
    _literal_run(parsed, chars)
    return "".join(chars)


def _literal_whole(regex: Pattern) -> Optional[str]:
    """The one text ``regex.match`` accepts, when the pattern is literal
    characters and then ``$`` (no groups, no flags that change matching):
    the walk in C compares a path with it instead of running the pattern
    (``$`` also matches before a final newline, which it allows for).  None
    for any other pattern."""
    if (
        not isinstance(regex.pattern, str)
        or regex.groups
        or regex.flags & (re.IGNORECASE | re.LOCALE | re.MULTILINE)
    ):
        return None
    try:
        parsed = list(_sre_parse.parse(regex.pattern, regex.flags))
    except Exception:  # noqa: BLE001 (compiled already; never expected)
        return None
    if not parsed or parsed[-1] != (_SRE_AT, _SRE_AT_END):
        return None
    chars: List[str] = []
    for op, value in parsed[:-1]:
        if op is not _SRE_LITERAL:
            return None
        chars.append(chr(value))
    return "".join(chars)


def _literal_run(items: Any, chars: List[str]) -> bool:
    # Appends the leading literal characters of parsed items to chars;
    # True when every item was one (so what follows the group continues the
    # text).
    for op, value in items:
        if op is _SRE_LITERAL:
            chars.append(chr(value))
            continue
        if op is _SRE_SUBPATTERN:
            _group, add_flags, del_flags, inner = value
            if not add_flags and not del_flags and _literal_run(inner, chars):
                continue
        return False
    return True


def _sre_modules() -> Tuple[Any, Any]:
    # The regex parser and its constants (private modules of re).
    try:
        return importlib.import_module("re._parser"), importlib.import_module("re._constants")
    except ImportError:  # Python < 3.11
        return importlib.import_module("sre_parse"), importlib.import_module("sre_constants")


_sre_parse, _sre_constants = _sre_modules()
_SRE_LITERAL = _sre_constants.LITERAL
_SRE_SUBPATTERN = _sre_constants.SUBPATTERN
_SRE_AT, _SRE_AT_END = _sre_constants.AT, _sre_constants.AT_END


def _anchored(pattern: Union[str, Pattern]) -> Pattern:
    # Strings are compiled with an implied trailing "$"; compiled patterns
    # are used exactly as given.
    if not isinstance(pattern, basestring_type):
        return pattern
    return re.compile(pattern if pattern.endswith("$") else pattern + "$")


def _rule_repr(rule: "Rule", first: str, target: Any, kwargs: Any) -> str:
    return "%s(%s, %s, kwargs=%r, name=%r)" % (type(rule).__name__, first, target, kwargs, rule.name)


class Router(httputil.HTTPServerConnectionDelegate):
    """Abstract router interface."""

    def find_handler(
        self, request: httputil.HTTPServerRequest, **kwargs: Any
    ) -> Optional[httputil.HTTPMessageDelegate]:
        """Return an `.HTTPMessageDelegate` for ``request`` or None.

        ``kwargs`` carries extra routing state (for example the path
        arguments found by an enclosing router).
        """
        raise NotImplementedError()

    def start_request(
        self, server_conn: object, request_conn: httputil.HTTPConnection
    ) -> httputil.HTTPMessageDelegate:
        return _RoutingDelegate(self, server_conn, request_conn)


_ROUTER_START_REQUEST = Router.__dict__["start_request"]


class ReversibleRouter(Router):
    """A router that can build URLs for named routes."""

    def reverse_url(self, name: str, *args: Any) -> Optional[str]:
        """Return the URL for route ``name`` with ``args`` substituted, or None."""
        raise NotImplementedError()


class _RoutingDelegate(httputil.HTTPMessageDelegate):
    # Holds the connection until the start line and headers arrive, then
    # lets the router choose the real delegate and relays every later event.
    def __init__(
        self, router: Router, server_conn: object, request_conn: httputil.HTTPConnection
    ) -> None:
        self.router = router
        self.server_conn = server_conn
        self.request_conn = request_conn
        self.delegate: Optional[httputil.HTTPMessageDelegate] = None

    def _chosen(self) -> httputil.HTTPMessageDelegate:
        assert self.delegate is not None
        return self.delegate

    def headers_received(
        self,
        start_line: Union[httputil.RequestStartLine, httputil.ResponseStartLine],
        headers: httputil.HTTPHeaders,
    ) -> Optional[Awaitable[None]]:
        assert isinstance(start_line, httputil.RequestStartLine)
        conn = self.request_conn
        found = self.router.find_handler(
            httputil.HTTPServerRequest(
                connection=conn,
                server_connection=self.server_conn,
                start_line=start_line,
                headers=headers,
            )
        )
        if found is None:
            found = _unrouted(conn, start_line)
        self.delegate = found
        return found.headers_received(start_line, headers)

    def data_received(self, chunk: bytes) -> Optional[Awaitable[None]]:
        return self._chosen().data_received(chunk)

    def finish(self) -> None:
        chosen = self.delegate
        assert chosen is not None
        chosen.finish()

    def on_connection_close(self) -> None:
        # No delegate yet: the request was refused before it could be routed
        # (HTTPServerRequest found its Host bad, say); nothing to tell.
        if self.delegate is not None:
            self.delegate.on_connection_close()


def _unrouted(
    conn: httputil.HTTPConnection, start_line: httputil.RequestStartLine
) -> httputil.HTTPMessageDelegate:
    # The delegate for a request no rule matched (also used by the native
    # engine's Dispatch): a bare 404.
    app_log.debug("Delegate for %s %s request not found", start_line.method, start_line.path)
    return _DefaultMessageDelegate(conn)


class _DefaultMessageDelegate(httputil.HTTPMessageDelegate):
    # Used when nothing matched: replies with a bare 404.
    def __init__(self, connection: httputil.HTTPConnection) -> None:
        self.connection = connection

    def finish(self) -> None:
        status = httputil.ResponseStartLine("HTTP/1.1", 404, "Not Found")
        self.connection.write_headers(status, httputil.HTTPHeaders())
        self.connection.finish()


# The rules a RuleRouter accepts: Rule objects or tuples/lists of
# (matcher-or-pattern, target[, kwargs[, name]]).
_MatcherLike = Union[str, "Matcher"]
_RuleList = Sequence[
    Union[
        List[Any],
        Tuple[_MatcherLike, Any, Dict[str, Any], str],
        Tuple[_MatcherLike, Any, Dict[str, Any]],
        Tuple[_MatcherLike, Any],
        "Rule",
    ]
]


def _as_rule(spec: Any) -> "Rule":
    # Tuples and lists are shorthand for Rule(...); a string in first
    # position stands for a PathMatches.
    if not isinstance(spec, (tuple, list)):
        return spec
    assert len(spec) in (2, 3, 4)
    matcher, *rest = spec
    if isinstance(matcher, basestring_type):
        matcher = PathMatches(matcher)
    return Rule(matcher, *rest)


class RuleRouter(Router):
    """A router that tries a list of rules in order."""

    def __init__(self, rules: Optional[_RuleList] = None) -> None:
        """Build the router from ``rules``.

        Each rule is a `Rule` or a tuple/list ``(matcher, target[, kwargs[,
        name]])``; a string matcher means `PathMatches`.  A target may be a
        `Router`, an `.HTTPServerConnectionDelegate`, a callable taking the
        request, or a dotted import path to one of those.
        """
        self.rules: List[Rule] = []
        if rules:
            self.add_rules(rules)

    def add_rules(self, rules: _RuleList) -> None:
        """Append ``rules`` (same forms as the constructor accepts)."""
        for spec in rules:
            self.rules.append(self.process_rule(_as_rule(spec)))

    def process_rule(self, rule: Rule) -> Rule:
        """Hook run on every rule as it is added; returns the rule to store."""
        return rule

    def find_handler(
        self, request: httputil.HTTPServerRequest, **kwargs: Any
    ) -> Optional[httputil.HTTPMessageDelegate]:
        for rule in self.rules:
            matcher = rule.matcher
            # AnyMatches answers {} for every request.
            matched = {} if type(matcher) is AnyMatches else matcher.match(request)
            if matched is not None:
                if rule.target_kwargs:
                    matched["target_kwargs"] = rule.target_kwargs
                handler = self.get_target_delegate(rule.target, request, **matched)
                if handler is not None:
                    return handler
        return None

    def get_target_delegate(
        self, target: Any, request: httputil.HTTPServerRequest, **target_params: Any
    ) -> Optional[httputil.HTTPMessageDelegate]:
        """Return the delegate for a matched ``target``, or None.

        Subclasses extend this to support other kinds of target.
        """
        if isinstance(target, Router):
            return target.find_handler(request, **target_params)
        conn = request.connection
        if isinstance(target, httputil.HTTPServerConnectionDelegate):
            assert conn is not None
            return target.start_request(request.server_connection, conn)
        if not callable(target):
            return None
        assert conn is not None
        return _CallableAdapter(partial(target, **target_params), conn)


class ReversibleRuleRouter(ReversibleRouter, RuleRouter):
    """A rule router that remembers named rules so URLs can be reversed."""

    def __init__(self, rules: Optional[_RuleList] = None) -> None:
        self.named_rules: Dict[str, Any] = {}
        super().__init__(rules)

    def process_rule(self, rule: Rule) -> Rule:
        stored = super().process_rule(rule)
        label = stored.name
        if not label:
            return stored
        if label in self.named_rules:
            app_log.warning("Multiple handlers named %s; replacing previous value", label)
        self.named_rules[label] = stored
        return stored

    def reverse_url(self, name: str, *args: Any) -> Optional[str]:
        named = self.named_rules.get(name)
        if named is not None:
            return named.matcher.reverse(*args)
        # Otherwise ask any nested reversible routers, in rule order.
        for sub in (r.target for r in self.rules):
            url = sub.reverse_url(name, *args) if isinstance(sub, ReversibleRouter) else None
            if url is not None:
                return url
        return None


class Rule:
    """A routing rule: a `Matcher`, a target, target kwargs and a name."""

    # Slots, which the route walk in C reads directly (csrc/route.c); any
    # other attribute goes in __dict__ as usual.
    __slots__ = ("matcher", "target", "target_kwargs", "name", "__dict__", "__weakref__")
    __getstate__ = httputil._state_as_dict
    __setstate__ = httputil._state_from_dict

    def __init__(
        self,
        matcher: Matcher,
        target: Any,
        target_kwargs: Optional[Dict[str, Any]] = None,
        name: Optional[str] = None,
    ) -> None:
        """``target`` may be a dotted import path; ``target_kwargs`` are passed
        to the target when it is created (for a `.RequestHandler`, to
        ``initialize``); ``name`` makes the rule reversible."""
        self.matcher: Matcher = matcher
        self.target = import_object(target) if isinstance(target, str) else target
        self.target_kwargs = target_kwargs or {}
        self.name = name

    def reverse(self, *args: Any) -> Optional[str]:
        return self.matcher.reverse(*args)

    def __repr__(self) -> str:
        return _rule_repr(self, repr(self.matcher), self.target, self.target_kwargs)


class Matcher:
    """Decides whether a request matches a rule."""

    def match(self, request: httputil.HTTPServerRequest) -> Optional[Dict[str, Any]]:
        """Return a dict of parameters for the target, or None for no match.

        An empty dict means a match with no parameters; ``path_args`` and
        ``path_kwargs`` are passed to `.RequestHandler` targets.
        """
        raise NotImplementedError()

    def reverse(self, *args: Any) -> Optional[str]:
        """Rebuild a URL from arguments, or None if this matcher can't."""
        return None


class AnyMatches(Matcher):
    """Matches every request."""

    def match(self, request: httputil.HTTPServerRequest) -> Optional[Dict[str, Any]]:
        return {}


class HostMatches(Matcher):
    """Matches requests whose host name matches a regular expression."""

    def __init__(self, host_pattern: Union[str, Pattern]) -> None:
        self.host_pattern = _anchored(host_pattern)

    def match(self, request: httputil.HTTPServerRequest) -> Optional[Dict[str, Any]]:
        return {} if self.host_pattern.match(request.host_name) else None


class DefaultHostMatches(Matcher):
    """Matches when the application's ``default_host`` matches a pattern.

    Requests carrying ``X-Real-Ip`` (which come through a proxy) never match.
    """

    def __init__(self, application: Any, host_pattern: Pattern) -> None:
        self.application = application
        self.host_pattern = host_pattern

    def match(self, request: httputil.HTTPServerRequest) -> Optional[Dict[str, Any]]:
        if "X-Real-Ip" in request.headers:
            return None
        return {} if self.host_pattern.match(self.application.default_host) else None


class PathMatches(Matcher):
    """Matches requests whose path matches a regular expression.

    Groups become ``path_args`` (positional groups) or ``path_kwargs``
    (named groups), percent-decoded to bytes.
    """

    # As Rule's (Matcher instances already have a __dict__).
    __slots__ = ("regex", "_path", "_group_count", "_literal_prefix")
    __getstate__ = httputil._state_as_dict
    __setstate__ = httputil._state_from_dict

    def __init__(self, path_pattern: Union[str, Pattern]) -> None:
        self.regex = _anchored(path_pattern)
        named = len(self.regex.groupindex)
        assert named == 0 or named == self.regex.groups, (
            "groups in url regexes must either be all named or all "
            "positional: %r" % self.regex.pattern
        )
        self._path, self._group_count = self._find_groups()
        # For the route walk in C (csrc/route.c): a path that does not
        # start with this text cannot match, so the pattern is not run; and
        # for a wholly literal pattern, the text it matches.  Paired with
        # the pattern they were worked out from, so that a replaced
        # ``regex`` is not judged by stale ones.
        self._literal_prefix = (
            self.regex, _literal_prefix(self.regex), _literal_whole(self.regex)
        )

    def match(self, request: httputil.HTTPServerRequest) -> Optional[Dict[str, Any]]:
        found = self.regex.match(request.path)
        if found is None:
            return None
        if self.regex.groups == 0:
            return {}
        if not self.regex.groupindex:
            positional = [_unquote_or_none(g) for g in found.groups()]
            return dict(path_args=positional, path_kwargs={})
        keyed = {str(k): _unquote_or_none(v) for k, v in found.groupdict().items()}
        return dict(path_args=[], path_kwargs=keyed)

    def reverse(self, *args: Any) -> Optional[str]:
        if self._path is None:
            raise ValueError("Cannot reverse url regex " + self.regex.pattern)
        assert len(args) == self._group_count, "required number of arguments not found"
        if not args:
            return self._path

        def encode(value: Any) -> str:
            if not isinstance(value, (unicode_type, bytes)):
                value = str(value)
            return url_escape(utf8(value), plus=False)

        return self._path % tuple(encode(a) for a in args)

    def _find_groups(self) -> Tuple[Optional[str], Optional[int]]:
        # Derive a "%s" template from the pattern ("/a/(\d+)" -> "/a/%s") for
        # reverse(); anything beyond plain groups and escaped literals gives
        # (None, None).
        body = self.regex.pattern
        if body.startswith("^"):
            body = body[1:]
        if body.endswith("$"):
            body = body[:-1]
        if body.count("(") != self.regex.groups:
            # Nested or non-capturing groups.
            return None, None
        template = []
        for chunk in body.split("("):
            head, closer, tail = chunk.partition(")")
            try:
                template.append("%s" + re_unescape(tail) if closer else re_unescape(head))
            except ValueError:
                # Regex syntax outside the groups cannot be turned back into text.
                return None, None
        return "".join(template), self.regex.groups


class URLSpec(Rule):
    """A path-pattern rule targeting a `.RequestHandler` (``tornado.web.url``)."""

    def __init__(
        self,
        pattern: Union[str, Pattern],
        handler: Any,
        kwargs: Optional[Dict[str, Any]] = None,
        name: Optional[str] = None,
    ) -> None:
        """``pattern`` is a path regular expression (``$`` is implied);
        ``handler`` a `.RequestHandler` subclass or its import path;
        ``kwargs`` go to the handler's ``initialize``; ``name`` is used by
        `.Application.reverse_url`."""
        self.kwargs = kwargs
        path_matcher = PathMatches(pattern)
        self.regex = path_matcher.regex
        super().__init__(path_matcher, handler, kwargs, name)
        self.handler_class = self.target

    def __repr__(self) -> str:
        return _rule_repr(self, repr(self.regex.pattern), self.handler_class, self.kwargs)


@overload
def _unquote_or_none(s: str) -> bytes:
    pass


@overload  # noqa: F811
def _unquote_or_none(s: None) -> None:
    pass


def _unquote_or_none(s: Optional[str]) -> Optional[bytes]:  # noqa: F811
    """Percent-decode a path group to bytes; None (an unmatched optional
    group) stays None.  ``+`` is left alone in paths."""
    return None if s is None else url_unescape(s, encoding=None, plus=False)
