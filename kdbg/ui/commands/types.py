"""Type commands: ``ptype``, ``whatis``, ``p`` and ``btf dump`` / ``btf min``.

``ptype`` and ``whatis`` take a type name, a function, a variable (``whatis jiffies``, as
gdb and crash answer it) or a Python expression giving an Object; for variables and
expressions both spell types alike (drgn's spelling, as gdb's: ``volatile unsigned
long``): ``whatis`` gives the declared type in one line, ``ptype`` expands it.
"""

from __future__ import annotations

import argparse
from typing import Any, List, NoReturn, Optional

from kdbg.btf.cache import cached_header_c
from kdbg.btf.encoder import minimize
from kdbg.btf.index import BTF
from kdbg.btf.kinds import TypeKind
from kdbg.btf.ptype import ptype
from kdbg.btf.raw import dump_raw
from kdbg.btf.types import Func, Type, Typedef
from kdbg.core.program import Program, function_btf
from kdbg.errors import AmbiguousTypeError, ExpressionError, KdbgError, NotFoundError, UntypedSymbolError
from kdbg.ui.commands import CommandContext, command, split_args
from kdbg.ui.evaluate import format_value, python_globals, script_globals

#: Kinds ptype shows with their bodies.
_EXPANDED = (TypeKind.STRUCT, TypeKind.UNION, TypeKind.ENUM)


def resolve_type_or_function(prog: Program, spec: str) -> Type:
    """A type by C name, else a function by name (``ptype vfs_read``)."""
    spec = spec.strip()
    if not spec:
        raise ExpressionError("ptype needs a type name or function")
    try:
        return prog.type(spec)
    except AmbiguousTypeError:
        raise
    except NotFoundError as type_err:
        if spec.isidentifier():
            try:
                return function_btf(prog, spec)
            except NotFoundError:
                pass
        raise type_err


def evaluate_expression(prog: Program, expr: str, ctx: CommandContext) -> Any:
    """The value of the Python expression ``expr`` with ``prog`` and kdbg's names in scope
    (the REPL's own namespace when the context carries one)."""
    g = script_globals(prog) if ctx.namespace is None else python_globals(ctx.namespace)
    try:
        code = compile(expr.strip(), "<expression>", "eval")
    except SyntaxError as e:
        raise ExpressionError(f"cannot parse expression {expr.strip()!r}: {e.msg}") from None
    try:
        return eval(code, g)
    except KdbgError:
        raise
    except Exception as e:  # a NameError, TypeError... of the user's expression: one line
        raise ExpressionError(f"{expr.strip()}: {type(e).__name__}: {e}") from None


def _type_of_expression(prog: Program, spec: str, ctx: CommandContext, err: KdbgError) -> Type:
    """The declared type of ``spec`` when it names no type or function: a name the
    session bound, else a kernel variable (``jiffies``), else any Python expression giving
    an Object (``prog["init_task"].pid``); ``err`` (the lookup's error) when it is none."""
    spec = spec.strip()
    bound = ctx.namespace is not None and spec in ctx.namespace
    if spec.isidentifier() and not bound:
        try:
            value: Any = prog[spec]
        except UntypedSymbolError:
            raise  # a symbol without a type: its message says how to declare one
        except KdbgError:
            raise err from None
    else:
        try:
            value = evaluate_expression(prog, spec, ctx)
        except KdbgError:
            raise err from None
    t = getattr(value, "type_", None)
    if not isinstance(t, Type):
        raise err
    return t


def _definition(t: Type) -> Type:
    """The struct, union or enum ``t`` resolves to, or the typedef naming it when it has
    no name of its own (``atomic_t``: ``typedef struct { ... } atomic_t;``)."""
    named = None
    base = t.unqualified()
    for _ in range(64):
        if not isinstance(base, Typedef):
            break
        named = base
        base = base.type.unqualified()
    return named if named is not None and base.is_anonymous() else base


@command("ptype", "print a type (or function prototype, or an expression's or variable's type) as C with "
         "member offsets", "ptype TYPE|FUNCTION|VARIABLE|EXPR")
def ptype_cmd(prog: Program, args: str, ctx: CommandContext) -> None:
    """Print one type in C; a name several different types share prints each of them,
    headed by its ``NAME#ID`` (as pahole prints every struct of a name). A variable's or
    an expression's type is expanded as gdb's ``ptype`` does: a struct, union or enum
    with its members, anything else as one ``type = ...`` line in ``whatis``' spelling
    (typedefs resolved, qualifiers kept: ``volatile unsigned long``)."""
    try:
        t = resolve_type_or_function(prog, args)
    except AmbiguousTypeError as e:
        ctx.out.write(ambiguous_listing(prog, e))
        return
    except NotFoundError as e:
        t = _type_of_expression(prog, args, ctx, e)
        if t.unaliased_kind() not in _EXPANDED:
            ctx.out.write(f"type = {t.unaliased().type_name()}\n")
            return
        t = _definition(t)
    ctx.out.write(ptype(t) + "\n")


@command("p", "print the value of a Python expression as drgn prints it", "p EXPR")
def p_cmd(prog: Program, args: str, ctx: CommandContext) -> None:
    """``p prog["init_task"].comm`` prints ``(char [16])"swapper/0"``."""
    if not args.strip():
        raise ExpressionError("p needs an expression")
    ctx.out.write(format_value(evaluate_expression(prog, args, ctx)) + "\n")


@command("whatis", "print what a type name stands for, one typedef level down (gdb's whatis), or a variable's "
         "or expression's type", "whatis TYPE|FUNCTION|VARIABLE|EXPR")
def whatis_cmd(prog: Program, args: str, ctx: CommandContext) -> None:
    """``type = ...``: a typedef's target (one level), a function's prototype, or the type
    itself; a variable's or expression's type as declared (``jiffies``: ``volatile
    unsigned long``); a name several types share gives one line per candidate."""
    try:
        t = resolve_type_or_function(prog, args)
    except AmbiguousTypeError as e:
        for tid, kind, size in e.candidates:
            what = "incomplete" if size is None else f"{size} bytes"
            ctx.out.write(f"type = {e.name}#{tid} ({kind}, {what})\n")
        return
    except NotFoundError as e:  # a variable or an expression: its type as declared (gdb's whatis)
        ctx.out.write(f"type = {_type_of_expression(prog, args, ctx, e).type_name()}\n")
        return
    if isinstance(t, Func):
        t = t.proto
    elif isinstance(t, Typedef):
        t = t.type
    ctx.out.write(f"type = {t.type_name()}\n")


def ambiguous_listing(prog: Program, err: AmbiguousTypeError) -> str:
    """Every candidate of an ambiguous type name, each under a comment naming its id."""
    btf = prog.btfs[-1]  # split ids continue the base's: the last BTF resolves them all
    n = len(err.candidates)
    out = [f"/* {err.name!r} names {n} different types; pick one with '{err.name}#ID' */\n"]
    for i, (tid, kind, size) in enumerate(err.candidates, 1):
        what = "incomplete" if size is None else f"{size} bytes"
        out.append(f"/* {err.name}#{tid} ({i} of {n}: {kind}, {what}) */\n")
        out.append(ptype(btf.type(tid)) + "\n")
    return "".join(out)


class _ArgParser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise ExpressionError(f"{self.prog}: {message}")


def join_type_words(words: List[str]) -> List[str]:
    """Rejoin ``struct``/``union``/``enum`` with the name after them (``struct x`` is one type)."""
    out: List[str] = []
    i = 0
    while i < len(words):
        w = words[i]
        if w in ("struct", "union", "enum") and i + 1 < len(words):
            out.append(f"{w} {words[i + 1]}")
            i += 2
        else:
            out.append(w)
            i += 1
    return out


def _target_ids(btf: BTF, names: List[str], prog: Program) -> Optional[List[int]]:
    """Type ids to dump raw; an ambiguous name gives every candidate (each line of the raw
    format starts with its id, so none is picked silently)."""
    if not names:
        return None
    ids: List[int] = []
    for n in join_type_words(names):
        try:
            ids.append(resolve_type_or_function(prog, n).id)
        except AmbiguousTypeError as e:
            ids.extend(tid for tid, _kind, _size in e.candidates)
    return ids


@command(
    "btf",
    "dump the BTF as C or raw, or write a reduced BTF holding some types",
    "btf dump [--format c|raw] [TYPE...]\nbtf min TYPE... -o OUT",
)
def btf_cmd(prog: Program, args: str, ctx: CommandContext) -> None:
    """``btf dump`` and ``btf min``."""
    argv = split_args(args)
    if not argv or argv[0] not in ("dump", "min"):
        raise ExpressionError("usage: btf dump [--format c|raw] [TYPE...] | btf min TYPE... -o OUT")
    target = prog.btfs[-1]
    if argv[0] == "dump":
        p = _ArgParser(prog="btf dump", add_help=False)
        p.add_argument("--format", choices=("c", "raw"), default="raw")
        p.add_argument("types", nargs="*")
        ns = p.parse_args(argv[1:])
        if ns.format == "raw":

            ids = _target_ids(target, ns.types, prog)
            dump_raw(target, ctx.out, ids)
        else:

            ctx.out.write(cached_header_c(target, join_type_words(ns.types) or None))
        return
    p = _ArgParser(prog="btf min", add_help=False)
    p.add_argument("-o", "--output", required=True)
    p.add_argument("types", nargs="+")
    ns = p.parse_args(argv[1:])

    blob = minimize(target, join_type_words(ns.types))
    try:
        with open(ns.output, "wb") as f:
            f.write(blob)
    except OSError as e:
        raise KdbgError(f"cannot write {ns.output}: {e.strerror or e}") from None
    if ctx.err is not None:
        ctx.err.write(f"wrote {len(blob)} bytes of BTF to {ns.output}\n")
