"""The grader's side of grading: the checks run in the grader's process and ask the kernel only for values.

:func:`score_questions` runs every question of the assignment here, with the grader's seed, its
reference implementations and its comparisons. The student's objects are :class:`StudentRef`
names; each :meth:`Context.call <mamba_edu.exercises.questions.Context.call>` becomes one
request to the submission's kernel (:mod:`mamba_edu.exercises.answers`), whose reply is decoded
into plain values (:mod:`mamba_edu.exercises.wire`). The kernel never sees a case, an expected
value or a score, so nothing a notebook does to its own kernel can raise its score.

Time: each call may take what is left of the question's budget. The kernel's own alarm stops the
student's code then; if no reply has come :data:`REPLY_MARGIN` seconds later the grader
interrupts the kernel, and if the student's code swallows that interrupt too, the kernel is
killed after the grace period and the questions not yet scored get 0.
"""
from __future__ import annotations

import io
import pickle
import socket
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from mamba_edu.exercises.feedback import Fail, NotAttempted
from mamba_edu.exercises.results import not_graded
from mamba_edu.exercises.scoring import run_question
from mamba_edu.exercises.time_limits import TimeUp
from mamba_edu.exercises.wire import Decoder, MessageReader, WireError, loads, send_message, write_back

REPLY_MARGIN = 5.0       #: seconds after a call's time budget before the grader interrupts the kernel
PREPARE_SECONDS = 120.0  #: seconds for the kernel to import what a question needs
_MAX_TEXT = 4000         #: characters of a feedback message from the kernel


class KernelGone(BaseException):
    """The kernel can no longer answer (it died, or was killed); the questions left are not graded."""


class StudentRef:
    """An object of the student's notebook, by name; it lives in the kernel and is called through the link."""

    def __init__(self, name: str) -> None:
        self.name = self.__name__ = name

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError(f"`{self.name}` lives in the student's kernel; call it through ctx.call(...)")

    def __repr__(self) -> str:
        return f"<your {self.name}>"


class RemoteRef:
    """A method (``attr``) of an object that the student's code returned and that stays in the kernel."""

    def __init__(self, handle: int, attr: str, type_name: str) -> None:
        self.handle, self.attr, self.type_name = handle, attr, type_name
        self.__name__ = f"{type_name}.{attr}" if attr else type_name

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError(f"{self.__name__} lives in the student's kernel; call it through ctx.call(...)")

    def __repr__(self) -> str:
        return f"<{self.__name__}>"


class RemoteObject:
    """An object the student's code returned that is not a plain value (e.g. an instance of the student's class)."""

    def __init__(self, handle: int, type_name: str) -> None:
        self._ref = RemoteRef(handle, "", type_name)

    def __getattr__(self, attr: str) -> RemoteRef:
        if attr.startswith("__"):
            raise AttributeError(attr)
        return RemoteRef(self._ref.handle, attr, self._ref.type_name)

    def __repr__(self) -> str:
        return f"<{self._ref.type_name} object>"


class _Pickler(pickle.Pickler):
    """Pickles a request; the student's objects travel as references resolved in the kernel."""

    def persistent_id(self, obj: Any) -> Any:
        if isinstance(obj, StudentRef):
            return ("student", obj.name, "")
        if isinstance(obj, RemoteObject):
            obj = obj._ref
        if isinstance(obj, RemoteRef):
            return ("handle", obj.handle, obj.attr)
        return None


def _pickle(message: dict[str, Any]) -> bytes:
    buffer = io.BytesIO()
    _Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL).dump(message)
    return buffer.getvalue()


def _text(value: Any) -> str | None:
    return None if value is None else str(value)[:_MAX_TEXT]


def _grad_enabled() -> bool:
    torch = sys.modules.get("torch")
    return bool(torch.is_grad_enabled()) if torch is not None else True


class KernelLink:
    """A connection to one submission's kernel; ``interrupt`` and ``kill`` act on that kernel."""

    def __init__(self, sock: socket.socket, interrupt: Callable[[], None], kill: Callable[[str], None],
                 grace: float) -> None:
        self.sock, self.reader = sock, MessageReader(sock)
        self.interrupt, self.kill, self.grace = interrupt, kill, grace
        self.dead: str | None = None          #: why the kernel cannot answer any more
        self.killed = False                   #: the grader killed it (rather than it dying)

    def _gone(self, why: str) -> KernelGone:
        self.dead = self.dead or why
        return KernelGone(self.dead)

    def _exchange(self, request: dict[str, Any], seconds: float) -> dict[str, Any]:
        """Send a request, wait for its reply; past the deadline interrupt, then kill."""
        if self.dead:
            raise KernelGone(self.dead)
        payload = _pickle(request)
        try:
            self.sock.settimeout(max(seconds, 0.0) + REPLY_MARGIN + self.grace)
            send_message(self.sock, payload)
            self.sock.settimeout(max(seconds, 0.0) + REPLY_MARGIN)
            data = self.reader.read()
        except socket.timeout:
            data = self._after_interrupt()
        except (EOFError, OSError, WireError):
            raise self._gone("the kernel stopped answering: it died (out of memory, or the notebook "
                             "exited Python)") from None
        reply = loads(data)
        if not isinstance(reply, dict) or not isinstance(reply.get("kind"), str):
            raise WireError("an answer without a kind")
        return reply

    def _after_interrupt(self) -> bytes:
        try:
            self.interrupt()
            self.sock.settimeout(self.grace)
            return self.reader.read()
        except Exception:  # noqa: BLE001 - no answer within the grace period, however it failed
            why = (f"your code ignored the interrupt at its time limit, so the kernel was stopped after a "
                   f"{self.grace:g} s grace period")
            self.killed = True
            self._gone(why)
            self.kill(why)
            raise TimeUp() from None

    def objects(self, question) -> list[StudentRef | None]:
        """References to the student's objects that ``question`` needs (None for the names not defined)."""
        reply = self._exchange({"op": "prepare", "question": question.id, "names": list(question.names)},
                               PREPARE_SECONDS)
        defined = reply.get("defined") if reply["kind"] == "names" else None
        defined = set(defined) if isinstance(defined, list) else set()
        return [StudentRef(n) if n in defined else None for n in question.names]

    def call(self, question_id: str, fn: Callable, args: Sequence[Any], kwargs: dict[str, Any], label: str,
             seconds: float) -> Any:
        """``fn(*args, **kwargs)`` run in the kernel; the value it returned, or its feedback raised here."""
        try:
            reply = self._exchange({"op": "call", "question": question_id, "fn": fn, "args": tuple(args),
                                    "kwargs": dict(kwargs), "label": label, "seconds": float(seconds),
                                    "grad": _grad_enabled()}, seconds)
        except WireError as exc:
            raise Fail(f"the grader could not read the answer of {label} ({exc})") from None
        return self._result(reply, args, kwargs, label)

    def _result(self, reply: dict[str, Any], args: Sequence[Any], kwargs: dict[str, Any], label: str) -> Any:
        kind = reply["kind"]
        if kind == "time up":
            raise TimeUp()
        if kind in ("not attempted", "fail"):
            error = NotAttempted if kind == "not attempted" else Fail
            raise error(_text(reply.get("message")) or f"{label} failed", _text(reply.get("hint")))
        if kind != "value":
            raise RuntimeError(_text(reply.get("message")) or f"unexpected answer {kind!r} from the kernel")
        decoder = Decoder(RemoteObject)
        try:
            value = decoder.decode(reply.get("value"))
        except Exception as exc:  # noqa: BLE001 - whatever the kernel sent, it is the student's answer that fails
            raise Fail(f"the grader could not read the value {label} returned ({exc})") from None
        try:
            write_back([list(args), kwargs], reply.get("args"), decoder)
        except Exception:  # noqa: BLE001 - a malformed update only loses the student's in-place changes
            pass
        return value

    def close(self) -> None:
        """Say goodbye (the kernel's cell then ends) and close the connection."""
        if not self.dead:
            try:
                self.sock.settimeout(self.grace)
                send_message(self.sock, _pickle({"op": "bye"}))
            except OSError:
                pass
        self.sock.close()


@dataclass
class RemoteCalls:
    """A question's calls of student code, answered by the kernel behind ``link``."""

    link: KernelLink
    question_id: str

    def call(self, fn: Callable, args: Sequence[Any], kwargs: dict[str, Any], label: str, seconds: float) -> Any:
        return self.link.call(self.question_id, fn, args, kwargs, label, seconds)


def score_questions(link: KernelLink, questions: Sequence[Any], seed: int, question_timeout: float,
                    deadline: float) -> tuple[list[dict[str, Any]], list[str]]:
    """Score every question here, asking ``link`` for the student's values; (rows, feedback texts)."""
    rows: list[dict[str, Any]] = []
    texts: list[str] = []
    for q in questions:
        why = link.dead or ("the checks ran past their time limit" if time.monotonic() > deadline else None)
        if why is None:
            try:
                result = run_question(q, link.objects(q), seed=seed, question_timeout=question_timeout,
                                      calls=RemoteCalls(link, q.id))
                rows.append(result.as_dict())
                texts.append(result.feedback())
                continue
            except (KernelGone, TimeUp, WireError):
                why = link.dead or "the kernel did not answer"
        rows.append(not_graded(q, f"not graded: {why}"))
        texts.append(rows[-1]["feedback"])
    return rows, texts
