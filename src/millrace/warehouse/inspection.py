"""What Millrace learns about each uploaded file before storing it.

Dataset files get a table schema (and a malformed CSV is refused here, before anything is
stored). Model files are checked for formats that execute code when loaded (pickle and
its relatives): they are stored as opaque bytes and flagged, never loaded, unless an admin
marks the version trusted.

Protocols 2 to 5 announce themselves (``0x80`` and the protocol number); protocols 0 and 1
have no header and start with printable opcodes (``(``, ``c``, ``]``, ``}``, ``I``, ``S``,
``V``...), so a text file can begin like one. Those are told apart by walking the opcodes
the way an unpickler would, never running them (``_walks_like_pickle``).
"""

from __future__ import annotations

import mimetypes
import pickle
import pickletools
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from millrace.exceptions import InvalidInputError
from millrace.warehouse.models import AssetKind
from millrace.warehouse.tabular import describe_table

__all__ = ["FileFacts", "inspect_file", "looks_like_pickle"]

PICKLE_SUFFIXES = {".pkl", ".pickle", ".joblib", ".pt", ".pth", ".ckpt", ".sav", ".dill"}


@dataclass(frozen=True)
class FileFacts:
    content_type: str
    table_schema: dict[str, Any] | None = None
    unsafe: bool = False


def looks_like_pickle(name: str, source: BinaryIO) -> bool:
    """Whether loading the file with pickle could run code (or it is a pickle at all).

    Judged by suffix, then by the bytes, since a pickle renamed ``model.bin`` loads just the
    same. Leaves the stream rewound.
    """
    if Path(name).suffix.lower() in PICKLE_SUFFIXES:
        return True
    source.seek(0, 2)
    size = source.tell()
    source.seek(0)
    try:
        head = source.read(2)
        # Pickle protocols 2-5 start with PROTO (0x80) and the protocol number.
        if len(head) == 2 and head[0] == 0x80 and 2 <= head[1] <= 5:
            return True
        source.seek(0)
        return _walks_like_pickle(_Budgeted(source, size, _WALK_BYTES))
    finally:
        source.seek(0)


# A walk that stays a valid pickle this long is one: no text or other format does.
_WALK_OPS = 256
_WALK_BYTES = 1 << 20
# Where an unpickler gets a callable: by import (find_class) or from persistent_load.
_CALLABLES = frozenset(
    {"GLOBAL", "STACK_GLOBAL", "INST", "EXT1", "EXT2", "EXT4", "PERSID", "BINPERSID"}
)
# Opcodes that call something (INST imports and calls): reaching one with a callable
# already on hand runs code.
_CALLS = frozenset({"REDUCE", "BUILD", "INST", "OBJ", "NEWOBJ", "NEWOBJ_EX"})
_MARK = pickletools.markobject


class _BudgetSpent(Exception):
    """The walk is still a valid pickle where the byte budget ends."""


class _Budgeted:
    """The file as ``pickletools.genops`` reads it, up to a byte budget.

    An argument longer than what is left of the file is handed over short, so the walk
    fails as the unpickler would. One that fits the file but not the budget stops the walk
    with ``_BudgetSpent``: padding is how a payload would be pushed past the budget.
    """

    def __init__(self, source: BinaryIO, size: int, budget: int) -> None:
        self.source, self.size, self.budget, self.pos = source, size, budget, 0

    def read(self, n: int = -1) -> bytes:
        n = self.size - self.pos if n < 0 else n
        if self.pos + n > self.size:
            return b""  # declares more than the file holds: genops says so, as pickle would
        if self.pos + n > self.budget:
            raise _BudgetSpent
        data = self.source.read(n)
        self.pos += len(data)
        return data

    def readline(self, limit: int = -1) -> bytes:
        left = self.budget - self.pos
        line = self.source.readline(left)
        self.pos += len(line)
        if len(line) == left and not line.endswith(b"\n") and self.pos < self.size:
            raise _BudgetSpent
        return line


def _walks_like_pickle(stream: _Budgeted) -> bool:
    """True once the opcodes reach a call (after fetching a callable) with the stack an
    unpickler would have, a STOP that ends the file, or stay valid for ``_WALK_OPS``
    opcodes or the whole byte budget.

    The checks are the ones an unpickler fails on (unknown opcode, malformed argument,
    stack underflow, no MARK, unknown memo key, unsupported protocol) and none stricter,
    so a payload cannot hide behind something pickle itself would accept. Text can still
    spell a short pickle of plain data by chance (``Git v2.31.`` is a float, then STOP);
    one followed by more bytes counts only if those bytes walk as a pickle too, as a loop
    of ``pickle.load`` would read them.
    """
    count = 0
    try:
        while True:
            depth = 0  # items on the stack
            marks: list[int] = []  # the depth at each open MARK; nothing below it can go
            memo: set[Any] = set()
            armed = False  # a callable has been fetched
            for opcode, arg, _ in pickletools.genops(stream):
                count += 1
                if not _step(opcode, arg, marks, memo, depth):
                    return False
                armed = armed or _fetches_callable(opcode.name, arg)
                if (armed and opcode.name in _CALLS) or count >= _WALK_OPS:
                    return True
                depth = _depth_after(opcode, marks, depth)
            if stream.pos == stream.size:  # the walk ended on a STOP
                return True
    except _BudgetSpent:
        return True
    except ValueError:  # what genops raises for an unknown opcode or a bad argument
        return False


def _fetches_callable(name: str, arg: Any) -> bool:
    """Whether the opcode can put a callable on the stack. GLOBAL and INST import their
    ``module name`` argument, which fails for anything but dotted identifiers (text that
    happens to start with ``c`` or ``i`` names no module)."""
    if name not in _CALLABLES:
        return False
    if name not in {"GLOBAL", "INST"}:
        return True
    parts = str(arg).split(" ")
    return len(parts) == 2 and all(p.isidentifier() for part in parts for p in part.split("."))


def _step(
    opcode: pickletools.OpcodeInfo, arg: Any, marks: list[int], memo: set[Any], depth: int
) -> bool:
    """Whether an unpickler at this stack depth can run the opcode."""
    name, before = opcode.name, opcode.stack_before
    fence = marks[-1] if marks else 0
    if name == "POP" and marks and marks[-1] == depth:
        return True  # pops the MARK itself
    if _MARK in before:
        if not marks:
            return False
        at = before.index(_MARK)
        above = [x for x in before[at + 1 :] if x is not pickletools.stackslice]
        below_fence = marks[-2] if len(marks) > 1 else 0
        return depth - marks[-1] >= len(above) and marks[-1] - below_fence >= at
    if depth - fence < len(before):
        return False
    if name in {"PUT", "BINPUT", "LONG_BINPUT", "MEMOIZE"}:
        if depth == fence:
            return False
        memo.add(len(memo) if name == "MEMOIZE" else arg)
    elif name in {"GET", "BINGET", "LONG_BINGET"}:
        return arg in memo
    elif name == "PROTO":
        return 0 <= arg <= pickle.HIGHEST_PROTOCOL
    return True


def _depth_after(opcode: pickletools.OpcodeInfo, marks: list[int], depth: int) -> int:
    """The stack depth once ``_step`` allowed the opcode; opens and closes MARKs."""
    before = opcode.stack_before
    if opcode.name == "MARK":
        marks.append(depth)
        return depth
    if opcode.name == "POP" and marks and marks[-1] == depth:
        marks.pop()
        return depth
    if _MARK in before:
        depth = marks.pop() - before.index(_MARK)
    else:
        depth -= len(before)
    return depth + len(opcode.stack_after)


def inspect_file(kind: AssetKind, name: str, source: BinaryIO, encoding: str) -> FileFacts:
    """Inspect a seekable stream; leaves it rewound for the upload that follows."""
    source.seek(0, 2)
    empty = source.tell() == 0
    source.seek(0)
    if empty:
        raise InvalidInputError(f"{name} is empty", file=name)
    guessed = mimetypes.guess_type(name)[0] or ""
    # Vendor types guessed from model suffixes (.pt is "snesdev-page-table") mislead clients.
    content_type = guessed if guessed and "vnd." not in guessed else "application/octet-stream"
    if kind is AssetKind.DATASET:
        try:
            return FileFacts(content_type, table_schema=describe_table(source, name, encoding))
        finally:
            source.seek(0)
    return FileFacts(content_type, unsafe=looks_like_pickle(name, source))
