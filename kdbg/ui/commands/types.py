"""Type commands: ``ptype``, ``whatis``, ``p`` and ``btf dump`` / ``btf min``."""

from __future__ import annotations

import argparse
from typing import Any, List, NoReturn, Optional

from kdbg.btf.index import BTF
from kdbg.btf.ptype import ptype
from kdbg.btf.types import Func, Type, Typedef
from kdbg.core.program import Program, function_btf
from kdbg.errors import AmbiguousTypeError, ExpressionError, KdbgError, ObjectNotFoundError
from kdbg.ui.commands import CommandContext, command, split_args


def resolve_type_or_function(prog: Program, spec: str) -> Type:
    """A type by C name, else a function by name (``ptype vfs_read``)."""
    spec = spec.strip()
    if not spec:
        raise ExpressionError("ptype needs a type name or function")
    try:
        return prog.type(spec)
    except AmbiguousTypeError:
        raise
    except ObjectNotFoundError as type_err:
        if spec.isidentifier():
            try:
                return function_btf(prog, spec)
            except ObjectNotFoundError:
                pass
        raise type_err


def evaluate_expression(prog: Program, expr: str, ctx: CommandContext) -> Any:
    """The value of the Python expression ``expr`` with ``prog`` and kdbg's names in scope
    (the REPL's own namespace when the context carries one)."""
    from kdbg.ui.evaluate import script_globals

    g = ctx.namespace
    if g is None:
        g = script_globals(prog)
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
    """The type of expression ``spec`` (an object's ``type_``), or raise ``err`` (the
    lookup's error) when ``spec`` is no expression giving an object."""
    try:
        value = evaluate_expression(prog, spec, ctx)
    except KdbgError:
        raise err from None
    t = getattr(value, "type_", None)
    if not isinstance(t, Type):
        raise err
    return t


@command("ptype", "print a type (or function prototype, or an expression's type) as C with member offsets",
         "ptype TYPE|FUNCTION|EXPR")
def ptype_cmd(prog: Program, args: str, ctx: CommandContext) -> None:
    """Print one type in C; a name several different types share prints each of them,
    headed by its ``NAME#ID`` (as pahole prints every struct of a name)."""
    try:
        t = resolve_type_or_function(prog, args)
    except AmbiguousTypeError as e:
        ctx.out.write(ambiguous_listing(prog, e))
        return
    except ObjectNotFoundError as e:
        t = _type_of_expression(prog, args, ctx, e)
    ctx.out.write(ptype(t) + "\n")


@command("p", "print the value of a Python expression as drgn prints it", "p EXPR")
def p_cmd(prog: Program, args: str, ctx: CommandContext) -> None:
    """``p prog["init_task"].comm`` prints ``(char [16])"swapper/0"``."""
    if not args.strip():
        raise ExpressionError("p needs an expression")
    from kdbg.ui.evaluate import format_value

    ctx.out.write(format_value(evaluate_expression(prog, args, ctx)) + "\n")


@command("whatis", "print what a type name stands for, one typedef level down (gdb's whatis), or an expression's type",
         "whatis TYPE|FUNCTION|EXPR")
def whatis_cmd(prog: Program, args: str, ctx: CommandContext) -> None:
    """``type = ...``: a typedef's target (one level), a function's prototype, or the type
    itself; a name several types share gives one line per candidate."""
    try:
        t = resolve_type_or_function(prog, args)
    except AmbiguousTypeError as e:
        for tid, kind, size in e.candidates:
            what = "incomplete" if size is None else f"{size} bytes"
            ctx.out.write(f"type = {e.name}#{tid} ({kind}, {what})\n")
        return
    except ObjectNotFoundError as e:  # an expression: its type as declared (gdb's whatis)
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
            from kdbg.btf.raw import dump_raw

            ids = _target_ids(target, ns.types, prog)
            dump_raw(target, ctx.out, ids)
        else:
            from kdbg.btf.cache import cached_header_c

            ctx.out.write(cached_header_c(target, join_type_words(ns.types) or None))
        return
    p = _ArgParser(prog="btf min", add_help=False)
    p.add_argument("-o", "--output", required=True)
    p.add_argument("types", nargs="+")
    ns = p.parse_args(argv[1:])
    from kdbg.btf.encoder import minimize

    blob = minimize(target, join_type_words(ns.types))
    try:
        with open(ns.output, "wb") as f:
            f.write(blob)
    except OSError as e:
        raise KdbgError(f"cannot write {ns.output}: {e.strerror or e}") from None
    if ctx.err is not None:
        ctx.err.write(f"wrote {len(blob)} bytes of BTF to {ns.output}\n")
