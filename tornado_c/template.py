"""A simple template system that compiles templates to Python code.

Templates mix text with ``{{ expression }}`` output, ``{% directive %}``
control statements and ``{# comments #}``; they are translated to a Python
function once and executed on each ``generate()`` call.  Directives:
``apply``, ``autoescape``, ``block``, ``comment``, ``extends``, ``for``,
``from``/``import``, ``if``/``elif``/``else``, ``include``, ``module``,
``raw``, ``set``, ``try``/``except``/``else``/``finally``, ``whitespace``,
``while``, ``break``/``continue`` and ``end``.  ``{{!``, ``{%!`` and ``{#!``
output the opening braces literally.
"""

from __future__ import annotations

import builtins
import re
import io
import os.path
import posixpath
import threading
import contextlib
import linecache
import datetime
import types
import typing
from typing import Any, Callable, ContextManager, Dict, Iterable, Iterator, List, Optional, Tuple, Union

from tornado_c import _core, escape
from tornado_c.log import app_log
from tornado_c.util import ObjectDict, exec_in, unicode_type

_DEFAULT_AUTOESCAPE = "xhtml_escape"


class _UnsetMarker:
    pass


_UNSET = _UnsetMarker()

_WHITESPACE_MODES = ("all", "single", "oneline")
_SPACES_RE = re.compile(r"([\t ]+)")
_NEWLINE_RUN_RE = re.compile(r"(\s*\n\s*)")
_ANY_SPACE_RE = re.compile(r"(\s+)")


def filter_whitespace(mode: str, text: str) -> str:
    """Transform whitespace in ``text`` according to ``mode``.

    ``all`` returns text unchanged; ``single`` collapses runs of spaces and
    tabs to one space and runs of whitespace containing a newline to one
    newline; ``oneline`` collapses every whitespace run to one space.
    """
    if mode == "all":
        return text
    if mode == "single":
        return _NEWLINE_RUN_RE.sub("\n", _SPACES_RE.sub(" ", text))
    if mode == "oneline":
        return _ANY_SPACE_RE.sub(" ", text)
    raise Exception("invalid whitespace mode %s" % mode)


def _choose_whitespace(
    name: str,
    loader: Optional["BaseLoader"],
    compress: Union[bool, _UnsetMarker],
    explicit: Optional[str],
) -> str:
    # The legacy boolean wins if given (and must not be combined with the
    # mode); then an explicit mode, the loader's, and last a guess from the
    # file extension.
    if compress is not _UNSET:
        if explicit is not None:
            raise Exception("cannot set both whitespace and compress_whitespace")
        return "single" if compress else "all"
    if explicit is not None:
        return explicit
    if loader is not None and loader.whitespace:
        return loader.whitespace
    return "single" if name.endswith((".html", ".js")) else "all"


_BUILTINS = builtins.__dict__


def _function_code(module_code: types.CodeType) -> Optional[types.CodeType]:
    # The code of _tt_execute when the compiled module does nothing but
    # define it (no defaults, decorators or closure), else None.
    if module_code.co_names != ("_tt_execute",):
        return None
    found = [
        const
        for const in module_code.co_consts
        if isinstance(const, types.CodeType) and const.co_name == "_tt_execute"
    ]
    if len(found) != 1 or found[0].co_freevars or found[0].co_argcount:
        return None
    return found[0]


# Names every template can use without importing anything.
_RUNTIME_NAMES: Dict[str, Any] = dict(
    escape=escape.xhtml_escape,
    xhtml_escape=escape.xhtml_escape,
    url_escape=escape.url_escape,
    json_encode=escape.json_encode,
    squeeze=escape.squeeze,
    linkify=escape.linkify,
    datetime=datetime,
    _tt_utf8=escape.utf8,
    _tt_string_types=(unicode_type, bytes),
)


def _runtime_names() -> Dict[str, Any]:
    return _RUNTIME_NAMES.copy()


# Expressions.  Tornado's generated code turns the value of every
# ``{{ expression }}`` into bytes with four statements:
#
#     _tt_tmp = <expression>
#     if isinstance(_tt_tmp, _tt_string_types): _tt_tmp = _tt_utf8(_tt_tmp)
#     else: _tt_tmp = _tt_utf8(str(_tt_tmp))
#     _tt_tmp = _tt_utf8(xhtml_escape(_tt_tmp))   # with autoescape only
#     _tt_append(_tt_tmp)
#
# Where the template's own code cannot rebind any of the names involved
# (none of the templates compiled together mentions them) and the
# autoescape function is xhtml_escape or none, tornado_c writes instead
#
#     _tt_tmp = <expression>
#     _tt_append(_tt_xhtml(_tt_tmp))               # or _tt_bytes(_tt_tmp)
#
# _tt_xhtml and _tt_bytes are C functions doing the same when the names
# mean the defaults at run time; generate() checks that for each call and
# otherwise binds them to Python functions that do it with the names the
# template sees.  The output is the same, byte for byte.
_FUSION_NAMES = ("xhtml_escape", "_tt_utf8", "_tt_string_types", "str", "isinstance")
_FUSION_BLOCKERS = re.compile(
    r"\b(?:%s|_tt_tmp|_tt_xhtml|_tt_bytes)\b" % "|".join(_FUSION_NAMES)
)


def _fusion_helpers(env: Dict[str, Any]) -> Tuple[Callable[[Any], bytes], Callable[[Any], bytes]]:
    # (_tt_bytes, _tt_xhtml) for a template run with globals env.
    # The C helpers reproduce the C xhtml_escape and utf8 exactly.
    if (
        env["xhtml_escape"] is _core.xhtml_escape
        and env["_tt_utf8"] is _core.utf8
        and env["_tt_string_types"] == (unicode_type, bytes)
        and "str" not in env
        and "isinstance" not in env
    ):
        return _core._tt_bytes, _core._tt_xhtml
    # Globals, then the builtins the template's code sees.
    builtin = env.get("__builtins__", _BUILTINS)
    if not isinstance(builtin, dict):
        builtin = vars(builtin)

    def global_name(name: str) -> Any:
        return env[name] if name in env else builtin[name]

    def to_bytes(value: Any) -> bytes:
        utf8 = global_name("_tt_utf8")
        if global_name("isinstance")(value, global_name("_tt_string_types")):
            return utf8(value)  # type: ignore[no-any-return]
        return utf8(global_name("str")(value))  # type: ignore[no-any-return]

    def escaped(value: Any) -> bytes:
        utf8 = global_name("_tt_utf8")
        return utf8(global_name("xhtml_escape")(to_bytes(value)))  # type: ignore[no-any-return]

    return to_bytes, escaped


class Template:
    """A compiled template.

    Build one from a string, or get one from a loader with ``loader.load()``.
    Call `generate` with the template's arguments to render it to bytes.
    """

    # ``autoescape`` and ``whitespace`` may be changed by directives while
    # the template is parsed.
    def __init__(
        self,
        template_string: Union[str, bytes],
        name: str = "<string>",
        loader: Optional["BaseLoader"] = None,
        compress_whitespace: Union[bool, _UnsetMarker] = _UNSET,
        autoescape: Optional[Union[str, _UnsetMarker]] = _UNSET,
        whitespace: Optional[str] = None,
    ) -> None:
        self.name = escape.native_str(name)
        mode = _choose_whitespace(self.name, loader, compress_whitespace, whitespace)
        filter_whitespace(mode, "")  # rejects an unknown mode up front

        self.autoescape: Optional[str]
        if isinstance(autoescape, _UnsetMarker):
            self.autoescape = _DEFAULT_AUTOESCAPE if loader is None else loader.autoescape
        else:
            self.autoescape = autoescape
        self.namespace = {} if loader is None else loader.namespace

        source = escape.native_str(template_string)
        # See _FUSION_BLOCKERS.
        self._fusable = _FUSION_BLOCKERS.search(source) is None
        self.file = _File(self, _parse(_TemplateReader(self.name, source, mode), self))
        self.code = self._generate_python(loader)
        run_code = self._generate_python(loader, fused=True)
        self.loader = loader
        pseudo_filename = self.name.replace(".", "_") + ".generated.py"
        try:
            # dont_inherit: this module's __future__ flags must not leak
            # into the generated code.
            self.compiled = compile(
                escape.to_unicode(self.code), pseudo_filename, "exec", dont_inherit=True
            )
        except Exception:
            app_log.error("%s code:\n%s", self.name, _format_code(self.code).rstrip())
            raise
        # What generate() runs: the code above, or the same with the short
        # form of expressions (see _FUSION_BLOCKERS); ``code`` stays the
        # code Tornado generates.  Tracebacks show the lines that ran.
        self._fused = run_code is not None
        if run_code is None:
            run_code, run_compiled = self.code, self.compiled
        else:
            run_compiled = compile(run_code, pseudo_filename, "exec", dont_inherit=True)
        self._run_compiled = run_compiled
        self._module_name = self.name.replace(".", "_")
        self._source_loader = ObjectDict(get_source=lambda name: run_code)
        self._execute_code = _function_code(run_compiled)

    def generate(self, **kwargs: Any) -> bytes:
        """Render the template with the given arguments, returning bytes."""
        env = _runtime_names()
        # With __name__ and __loader__ set, linecache can find the generated
        # source, so tracebacks show it along with the template positions.
        env["__name__"] = self._module_name
        env["__loader__"] = self._source_loader
        env.update(self.namespace)
        env.update(kwargs)
        if self._fused:
            env["_tt_bytes"], env["_tt_xhtml"] = _fusion_helpers(env)
        render: Callable[[], bytes]
        if self._execute_code is not None:
            # What running the compiled module does: define _tt_execute
            # with env as its globals (and builtins as exec would add).
            if "__builtins__" not in env:
                env["__builtins__"] = _BUILTINS
            render = env["_tt_execute"] = types.FunctionType(self._execute_code, env)
        else:
            exec_in(self._run_compiled, env)
            render = env["_tt_execute"]
        # Lines cached for an earlier template of the same pseudo file name
        # would be wrong for this one.
        linecache.clearcache()
        return render()

    @typing.overload
    def _generate_python(self, loader: Optional["BaseLoader"]) -> str: ...

    @typing.overload
    def _generate_python(
        self, loader: Optional["BaseLoader"], fused: bool
    ) -> Optional[str]: ...

    def _generate_python(
        self, loader: Optional["BaseLoader"], fused: bool = False
    ) -> Optional[str]:
        # With ``fused``: the code with the short form of expressions, or
        # None where some template compiled in rules it out.
        # Oldest ancestor first: blocks found later (in more derived
        # templates) override earlier ones.
        lineage = self._get_ancestors(loader)[::-1]
        blocks: Dict[str, _NamedBlock] = {}
        for member in lineage:
            member.find_named_blocks(loader, blocks)
        root = lineage[0]
        with io.StringIO() as sink:
            writer = _CodeWriter(sink, blocks, loader, root.template, fused=fused)
            root.generate(writer)
            if fused and not all(member._fusable for member in writer.templates):
                return None
            return sink.getvalue()

    def _get_ancestors(self, loader: Optional["BaseLoader"]) -> List["_File"]:
        parents = [c.name for c in self.file.body.chunks if isinstance(c, _ExtendsBlock)]
        if parents and loader is None:
            raise ParseError("{% extends %} block found, but no template loader")
        lineage = [self.file]
        for parent in parents:
            assert loader is not None
            lineage.extend(loader.load(parent, self.name)._get_ancestors(loader))
        return lineage


class BaseLoader:
    """Base class for template loaders.

    A loader caches templates by resolved name; call `reset` to drop the
    cache.  ``autoescape``, ``namespace`` and ``whitespace`` become the
    defaults of the templates it creates.
    """

    def __init__(
        self,
        autoescape: Optional[str] = _DEFAULT_AUTOESCAPE,
        namespace: Optional[Dict[str, Any]] = None,
        whitespace: Optional[str] = None,
    ) -> None:
        self.autoescape = autoescape
        self.whitespace = whitespace
        self.namespace = namespace or {}
        # Re-entrant: loading a template loads its parents and includes.
        self.lock = threading.RLock()
        self.templates: Dict[str, Template] = {}

    def reset(self) -> None:
        """Forget every compiled template."""
        with self.lock:
            self.templates = {}

    def resolve_path(self, name: str, parent_path: Optional[str] = None) -> str:
        """Turn a possibly relative ``name`` into an absolute template name."""
        raise NotImplementedError()

    def load(self, name: str, parent_path: Optional[str] = None) -> Template:
        """Return the template called ``name``, compiling it on first use."""
        key = self.resolve_path(name, parent_path=parent_path)
        with self.lock:
            cached = self.templates.get(key)
            if cached is None:
                cached = self._create_template(key)
                self.templates[key] = cached
            return cached

    def _create_template(self, name: str) -> Template:
        raise NotImplementedError()


def _is_relative_reference(name: str, parent_path: Optional[str]) -> bool:
    # Only names used from a real (non "<string>") template, where neither
    # side is absolute, are resolved against the parent.
    if not parent_path or name.startswith("/"):
        return False
    return not parent_path.startswith(("<", "/"))


class Loader(BaseLoader):
    """A template loader that reads files under a root directory."""

    def __init__(self, root_directory: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.root = os.path.abspath(root_directory)

    def resolve_path(self, name: str, parent_path: Optional[str] = None) -> str:
        if not _is_relative_reference(name, parent_path):
            return name
        assert parent_path is not None
        parent_dir = os.path.dirname(os.path.abspath(os.path.join(self.root, parent_path)))
        full = os.path.abspath(os.path.join(parent_dir, name))
        # Names that would escape the root are left as given.
        return full[len(self.root) + 1 :] if full.startswith(self.root) else name

    def _create_template(self, name: str) -> Template:
        with open(os.path.join(self.root, name), "rb") as source:
            data = source.read()
        return Template(data, name=name, loader=self)


class DictLoader(BaseLoader):
    """A template loader that takes templates from a dictionary."""

    def __init__(self, dict: Dict[str, str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.dict = dict

    def resolve_path(self, name: str, parent_path: Optional[str] = None) -> str:
        if not _is_relative_reference(name, parent_path):
            return name
        assert parent_path is not None
        joined = posixpath.join(posixpath.dirname(parent_path), name)
        return posixpath.normpath(joined)

    def _create_template(self, name: str) -> Template:
        source = self.dict[name]
        return Template(source, name=name, loader=self)


# ---------------------------------------------------------------------------
# Syntax tree.  Each node writes its own Python code through a _CodeWriter.

_BUFFER_SETUP = ("_tt_buffer = []", "_tt_append = _tt_buffer.append")
_BUFFER_RESULT = "return _tt_utf8('').join(_tt_buffer)"


class _Node:
    line = 0

    def generate(self, writer: "_CodeWriter") -> None:
        raise NotImplementedError()

    def find_named_blocks(
        self, loader: Optional[BaseLoader], named_blocks: Dict[str, "_NamedBlock"]
    ) -> None:
        # Blocks may sit at any depth, so walk the whole subtree.
        for sub in self.each_child():
            sub.find_named_blocks(loader, named_blocks)

    def each_child(self) -> Iterable["_Node"]:
        return ()


class _Wrapper(_Node):
    # A node with exactly one child, its body.
    body: _Node

    def each_child(self) -> Iterable[_Node]:
        return (self.body,)


def _emit_function(writer: "_CodeWriter", func_name: str, body: _Node, line: int) -> None:
    # A generated function collects its output in a list and returns the
    # joined bytes.
    writer.write_line("def %s():" % func_name, line)
    with writer.indent():
        for setup in _BUFFER_SETUP:
            writer.write_line(setup, line)
        body.generate(writer)
        writer.write_line(_BUFFER_RESULT, line)


class _File(_Wrapper):
    body: "_ChunkList"

    def __init__(self, template: Template, body: "_ChunkList") -> None:
        self.body = body
        self.template = template

    def generate(self, writer: "_CodeWriter") -> None:
        _emit_function(writer, "_tt_execute", self.body, self.line)


class _ChunkList(_Node):
    def __init__(self, chunks: List[_Node]) -> None:
        self.chunks = chunks

    def each_child(self) -> Iterable[_Node]:
        return self.chunks

    def generate(self, writer: "_CodeWriter") -> None:
        for piece in self.chunks:
            piece.generate(writer)


class _NamedBlock(_Wrapper):
    def __init__(self, name: str, body: _Node, template: Template, line: int) -> None:
        self.name, self.template = name, template
        self.body, self.line = body, line

    def generate(self, writer: "_CodeWriter") -> None:
        # Whatever definition of the block the most derived template gave.
        winner = writer.named_blocks[self.name]
        with writer.include(winner.template, self.line):
            winner.body.generate(writer)

    def find_named_blocks(
        self, loader: Optional[BaseLoader], named_blocks: Dict[str, "_NamedBlock"]
    ) -> None:
        named_blocks[self.name] = self
        _Wrapper.find_named_blocks(self, loader, named_blocks)


class _ExtendsBlock(_Node):
    def __init__(self, name: str) -> None:
        self.name = name


class _IncludeBlock(_Node):
    def __init__(self, name: str, reader: "_TemplateReader", line: int) -> None:
        self.line = line
        self.name = name
        self.template_name = reader.name

    def _target(self, loader: Optional[BaseLoader]) -> Template:
        assert loader is not None
        return loader.load(self.name, self.template_name)

    def find_named_blocks(
        self, loader: Optional[BaseLoader], named_blocks: Dict[str, _NamedBlock]
    ) -> None:
        self._target(loader).file.find_named_blocks(loader, named_blocks)

    def generate(self, writer: "_CodeWriter") -> None:
        other = self._target(writer.loader)
        with writer.include(other, self.line):
            other.file.body.generate(writer)


class _ApplyBlock(_Wrapper):
    def __init__(self, method: str, line: int, body: _Node) -> None:
        self.method = method
        self.body, self.line = body, line

    def generate(self, writer: "_CodeWriter") -> None:
        # The body renders inside its own function; the method filters the
        # result.
        helper = "_tt_apply%d" % writer.apply_counter
        writer.apply_counter += 1
        _emit_function(writer, helper, self.body, self.line)
        writer.write_line("_tt_append(_tt_utf8(%s(%s())))" % (self.method, helper), self.line)


class _Statement(_Node):
    def __init__(self, statement: str, line: int) -> None:
        self.statement, self.line = statement, line

    def generate(self, writer: "_CodeWriter") -> None:
        writer.write_line(self.statement, self.line)


class _ControlBlock(_Statement):
    def __init__(self, statement: str, line: int, body: _Node) -> None:
        super().__init__(statement, line)
        self.body = body

    def each_child(self) -> Iterable[_Node]:
        return (self.body,)

    def generate(self, writer: "_CodeWriter") -> None:
        writer.write_line(self.statement + ":", self.line)
        with writer.indent():
            self.body.generate(writer)
            # Keeps the suite valid when the body generated nothing.
            writer.write_line("pass", self.line)


class _IntermediateControlBlock(_Statement):
    def generate(self, writer: "_CodeWriter") -> None:
        # "pass" ends the previous clause, which may be empty; the new
        # clause header sits one level further out.
        writer.write_line("pass", self.line)
        outer = writer.indent_size() - 1
        writer.write_line(self.statement + ":", self.line, outer)


_TO_BYTES = (
    "if isinstance(_tt_tmp, _tt_string_types): _tt_tmp = _tt_utf8(_tt_tmp)",
    "else: _tt_tmp = _tt_utf8(str(_tt_tmp))",
)


class _Expression(_Node):
    def __init__(self, expression: str, line: int, raw: bool = False) -> None:
        self.raw = raw
        self.expression, self.line = expression, line

    def generate(self, writer: "_CodeWriter") -> None:
        code = ["_tt_tmp = %s" % self.expression]
        escaper = writer.current_template.autoescape
        escaped = escaper is not None and not self.raw
        if writer.fused and (not escaped or escaper == "xhtml_escape"):
            # The short form (see _FUSION_BLOCKERS).
            code.append("_tt_append(%s(_tt_tmp))" % ("_tt_xhtml" if escaped else "_tt_bytes"))
            for statement in code:
                writer.write_line(statement, self.line)
            return
        code.extend(_TO_BYTES)
        if escaped:
            # The escaper may hand back str; go through _tt_utf8 again.
            code.append("_tt_tmp = _tt_utf8(%s(_tt_tmp))" % escaper)
        code.append("_tt_append(_tt_tmp)")
        for statement in code:
            writer.write_line(statement, self.line)


class _Module(_Expression):
    def __init__(self, expression: str, line: int) -> None:
        super().__init__("_tt_modules." + expression, line, raw=True)


class _Text(_Node):
    def __init__(self, value: str, line: int, whitespace: str) -> None:
        self.value = value
        self.whitespace, self.line = whitespace, line

    def generate(self, writer: "_CodeWriter") -> None:
        # Text containing <pre> keeps its whitespace untouched.
        if "<pre>" in self.value:
            text = self.value
        else:
            text = filter_whitespace(self.whitespace, self.value)
        if text:
            writer.write_line("_tt_append(%r)" % escape.utf8(text), self.line)


class ParseError(Exception):
    """Raised for template syntax errors.

    ``filename`` and ``lineno`` locate the error.
    """

    def __init__(self, message: str, filename: Optional[str] = None, lineno: int = 0) -> None:
        self.message, self.filename, self.lineno = message, filename, lineno

    def __str__(self) -> str:
        return "%s at %s:%d" % (self.message, self.filename, self.lineno)


class _CodeWriter:
    def __init__(
        self,
        file: typing.TextIO,
        named_blocks: Dict[str, _NamedBlock],
        loader: Optional[BaseLoader],
        current_template: Template,
        fused: bool = False,
    ) -> None:
        self.file = file
        self.current_template = current_template
        # Whether expressions are written in the short form, and every
        # template whose code has been written.
        self.fused = fused
        self.templates = [current_template]
        self.loader, self.named_blocks = loader, named_blocks
        # (template, line) pairs of the include/block sites we are inside.
        self.include_stack: List[Tuple[Template, int]] = []
        self.apply_counter = self._indent = 0

    def indent_size(self) -> int:
        return self._indent

    @contextlib.contextmanager
    def _indented(self) -> Iterator[None]:
        self._indent += 1
        try:
            yield
        finally:
            self._indent -= 1

    def indent(self) -> ContextManager[None]:
        return self._indented()

    @contextlib.contextmanager
    def _including(self, template: Template, line: int) -> Iterator[None]:
        self.include_stack.append((self.current_template, line))
        self.current_template = template
        self.templates.append(template)
        try:
            yield
        finally:
            self.current_template = self.include_stack.pop()[0]

    def include(self, template: Template, line: int) -> ContextManager[None]:
        return self._including(template, line)

    def write_line(self, line: str, line_number: int, indent: Optional[int] = None) -> None:
        depth = self._indent if indent is None else indent
        origin = "  # %s:%d" % (self.current_template.name, line_number)
        sites = ["%s:%d" % (tmpl.name, n) for tmpl, n in reversed(self.include_stack)]
        if sites:
            origin += " (via %s)" % ", ".join(sites)
        self.file.write("%s%s%s\n" % ("    " * depth, line, origin))


class _TemplateReader:
    """A cursor over template text that tracks the current line number.

    Offsets given to `find` and indexes are relative to the cursor.
    """

    def __init__(self, name: str, text: str, whitespace: str) -> None:
        self.name, self.text = name, text
        self.whitespace = whitespace
        self.pos, self.line = 0, 1

    def find(self, needle: str, start: int = 0, end: Optional[int] = None) -> int:
        assert start >= 0, start
        lo = self.pos + start
        if end is None:
            hit = self.text.find(needle, lo)
        else:
            hi = self.pos + end
            assert hi >= lo
            hit = self.text.find(needle, lo, hi)
        return -1 if hit == -1 else hit - self.pos

    def consume(self, count: Optional[int] = None) -> str:
        stop = len(self.text) if count is None else self.pos + count
        taken = self.text[self.pos : stop]
        self.line += taken.count("\n")
        self.pos = stop
        return taken

    def remaining(self) -> int:
        return len(self.text) - self.pos

    def __len__(self) -> int:
        return self.remaining()

    def __getitem__(self, key: Union[int, slice]) -> str:
        if not isinstance(key, slice):
            # Negative indexes count from the end of the whole text.
            return self.text[key] if key < 0 else self.text[self.pos + key]
        lo, hi, step = key.indices(len(self))
        return self.text[self.pos + lo : self.pos + hi : step]

    def __str__(self) -> str:
        return self.text[self.pos :]

    def raise_parse_error(self, msg: str) -> None:
        raise ParseError(msg, self.name, self.line)


def _format_code(code: str) -> str:
    # Number the generated source for the compile-error log.
    rows = code.splitlines()
    width = len(str(len(rows) + 1))
    numbered = [str(n).rjust(width) + "  " + row + "\n" for n, row in enumerate(rows, 1)]
    return "".join(numbered)


# Which open block each continuation clause may follow.
_CONTINUATIONS = {"else": {"if", "for", "while", "try"}, "elif": {"if"}, "except": {"try"}, "finally": {"try"}}
_LOOPS = {"for", "while"}
_SIMPLE_DIRECTIVES = frozenset(
    ["autoescape", "comment", "extends", "from", "import", "include", "module", "raw", "set", "whitespace"]
)
_BLOCK_DIRECTIVES = ("apply", "block", "try", "if", "for", "while")

# Returned by _Parser._tag for "{% end %}".
_CLOSE = _Node()


class _Parser:
    """Recursive-descent parser from template text to a node tree."""

    def __init__(self, reader: _TemplateReader, template: Template) -> None:
        self.reader = reader
        self.template = template

    def _fail(self, message: str) -> None:
        self.reader.raise_parse_error(message)

    def _next_tag(self) -> int:
        """Offset of the next ``{{``, ``{%`` or ``{#`` tag, or -1 at the end."""
        reader = self.reader
        size = reader.remaining()
        at = reader.find("{")
        while at != -1 and at + 1 != size:
            follower = reader[at + 1]
            # With three or more braces in a row only the last two open a
            # tag, which suits brace-heavy text such as LaTeX.
            tripled = follower == "{" and at + 2 < size and reader[at + 2] == "{"
            if follower in ("{", "%", "#") and not tripled:
                return at
            at = reader.find("{", at + 1)
        return -1

    def _take_until(self, terminator: str, missing: str) -> str:
        reader = self.reader
        length = reader.find(terminator)
        if length == -1:
            self._fail(missing)
        inside = reader.consume(length)
        reader.consume(len(terminator))
        return inside.strip()

    def _text(self, value: str) -> _Text:
        # Called after the text was consumed, so it carries the line the
        # text ends on.
        return _Text(value, self.reader.line, self.reader.whitespace)

    def parse_body(self, in_block: Optional[str], in_loop: Optional[str]) -> _ChunkList:
        reader = self.reader
        body = _ChunkList([])
        add = body.chunks.append
        while True:
            offset = self._next_tag()
            if offset == -1:
                if in_block:
                    self._fail("Missing {%% end %%} block for %s" % in_block)
                add(self._text(reader.consume()))
                return body
            if offset > 0:
                add(self._text(reader.consume(offset)))
            opener = reader.consume(2)
            line = reader.line
            if reader.remaining() > 0 and reader[0] == "!":
                # Escaped opener: the braces are output as text.
                reader.consume(1)
                add(_Text(opener, line, reader.whitespace))
            elif opener == "{#":
                self._take_until("#}", "Missing end comment #}")
            elif opener == "{{":
                expression = self._take_until("}}", "Missing end expression }}")
                if not expression:
                    self._fail("Empty expression")
                add(_Expression(expression, line))
            else:
                assert opener == "{%", opener
                node = self._tag(line, in_block, in_loop)
                if node is _CLOSE:
                    return body
                if node is not None:
                    add(node)

    def _tag(self, line: int, in_block: Optional[str], in_loop: Optional[str]) -> Optional[_Node]:
        contents = self._take_until("%}", "Missing end block %}")
        if not contents:
            self._fail("Empty block tag ({% %})")
        operator, _, rest = contents.partition(" ")
        rest = rest.strip()
        if operator == "end":
            if not in_block:
                self._fail("Extra {% end %} block")
            return _CLOSE
        if operator in _SIMPLE_DIRECTIVES:
            return self._simple_directive(operator, contents, rest, line)
        if operator in _BLOCK_DIRECTIVES:
            return self._block_directive(operator, contents, rest, line, in_loop)
        if operator in _CONTINUATIONS:
            allowed = _CONTINUATIONS[operator]
            if not in_block:
                self._fail("%s outside %s block" % (operator, allowed))
            elif in_block not in allowed:
                self._fail("%s block cannot be attached to %s block" % (operator, in_block))
            return _IntermediateControlBlock(contents, line)
        if operator in ("break", "continue"):
            if not in_loop:
                self._fail("%s outside %s block" % (operator, set(_LOOPS)))
            return _Statement(contents, line)
        self._fail("unknown operator: %r" % operator)
        return None

    def _simple_directive(
        self, operator: str, contents: str, suffix: str, line: int
    ) -> Optional[_Node]:
        if operator in ("extends", "include"):
            path = suffix.strip('"').strip("'")
            if not path:
                self._fail("%s missing file path" % operator)
            if operator == "include":
                return _IncludeBlock(path, self.reader, line)
            return _ExtendsBlock(path)
        if operator in ("import", "from", "set"):
            if not suffix:
                self._fail("%s missing statement" % ("set" if operator == "set" else "import"))
            # "set" drops its keyword; imports are valid Python as written.
            return _Statement(suffix if operator == "set" else contents, line)
        if operator == "raw":
            return _Expression(suffix, line, raw=True)
        if operator == "module":
            return _Module(suffix, line)
        if operator == "autoescape":
            self.template.autoescape = None if suffix == "None" else suffix
        elif operator == "whitespace":
            filter_whitespace(suffix, "")  # raises for an unknown mode
            self.reader.whitespace = suffix
        return None

    def _block_directive(
        self, operator: str, contents: str, suffix: str, line: int, in_loop: Optional[str]
    ) -> _Node:
        # Loops start a new loop context; an apply body is compiled into a
        # separate function, which break/continue cannot leave.
        if operator in _LOOPS:
            loop_context: Optional[str] = operator
        else:
            loop_context = None if operator == "apply" else in_loop
        inner = self.parse_body(operator, loop_context)
        if operator == "block":
            if not suffix:
                self._fail("block missing name")
            return _NamedBlock(suffix, inner, self.template, line)
        if operator == "apply":
            if not suffix:
                self._fail("apply missing method name")
            return _ApplyBlock(suffix, line, inner)
        return _ControlBlock(contents, line, inner)


def _parse(
    reader: _TemplateReader,
    template: Template,
    in_block: Optional[str] = None,
    in_loop: Optional[str] = None,
) -> _ChunkList:
    return _Parser(reader, template).parse_body(in_block, in_loop)
