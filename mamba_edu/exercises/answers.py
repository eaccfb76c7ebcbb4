"""The submission's side of grading: the student's kernel answers the grader's calls, and nothing more.

The grader appends one cell to the notebook, ``serve(globals(), port, token)``. It connects to
the grader, and then, until the grader says goodbye, runs each call the grader asks for (a
student function, or a check helper that drives one) with the time limit and the tripwires of
:func:`~mamba_edu.exercises.student_code.call_student`, and sends back the value it returned
(or the feedback of the error it raised) in the format of :mod:`mamba_edu.exercises.wire`.
Cases, expected values and points never exist in this kernel: replacing anything here can only
change the answers, never the score.
"""
from __future__ import annotations

import contextlib
import functools
import io
import pickle
import signal
import socket
import sys
import threading
from collections.abc import Iterator
from typing import Any

from mamba_edu.exercises.feedback import Fail, NotAttempted
from mamba_edu.exercises.student_code import call_student
from mamba_edu.exercises.time_limits import TimeUp
from mamba_edu.exercises.wire import Encoder, MessageReader, WireError, dumps, no_delay, send_message


@contextlib.contextmanager
def _interrupts_held() -> Iterator[None]:
    """Hold SIGINT while a reply is written, so that a late interrupt cannot cut a message in half."""
    can = hasattr(signal, "pthread_sigmask") and threading.current_thread() is threading.main_thread()
    if can:
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        if can:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


@functools.lru_cache(maxsize=None)
def _forbidden(question_id: str):
    from mamba_edu.exercises import get_question

    question = get_question(question_id)
    return tuple(question.forbidden()) if question.forbidden else ()


class _Unpickler(pickle.Unpickler):
    """Reads the grader's request; references to the student's objects are looked up in this kernel."""

    def __init__(self, data: bytes, answers: Answers) -> None:
        super().__init__(io.BytesIO(data))
        self.answers = answers

    def persistent_load(self, pid: Any) -> Any:
        kind, key, attr = pid
        if kind == "student":
            if self.answers.namespace.get(key) is None:
                raise Fail(f"`{key}` is not defined any more")
            return self.answers.namespace[key]
        obj = self.answers.handles[int(key)]
        return getattr(obj, attr) if attr else obj


class Answers:
    """The answers of one kernel: the notebook's namespace and the objects already handed out."""

    def __init__(self, namespace: dict[str, Any]) -> None:
        self.namespace = namespace
        self.handles: list[Any] = []

    def prepare(self, question_id: str, names: list[str]) -> dict[str, Any]:
        _forbidden(question_id)          # import what the question switches off before its time starts
        return {"kind": "names", "defined": [n for n in names if self.namespace.get(n) is not None]}

    def call(self, request: dict[str, Any]) -> dict[str, Any]:
        encoder = Encoder(self.handles)
        fn, args, kwargs = request["fn"], request["args"], request["kwargs"]
        try:
            with _grad_mode(request.get("grad", True)):
                out = call_student(fn, args, kwargs, request["label"], request["seconds"],
                                   _forbidden(request["question"]))
        except NotAttempted as f:
            return {"kind": "not attempted", "message": f.message, "hint": f.hint}
        except Fail as f:
            return {"kind": "fail", "message": f.message, "hint": f.hint}
        except (TimeUp, KeyboardInterrupt):
            return {"kind": "time up"}
        return {"kind": "value", "value": encoder.encode(out), "args": encoder.mutable_state([list(args), kwargs])}

    def answer(self, data: bytes) -> dict[str, Any] | None:
        """The reply to one request (None for goodbye)."""
        try:
            request = _Unpickler(data, self).load()
        except Fail as f:
            return {"kind": "fail", "message": f.message, "hint": f.hint}
        except Exception as exc:  # noqa: BLE001 - reported to the grader, which fails the case
            return {"kind": "error", "message": f"the kernel could not read the grader's request: "
                    f"{type(exc).__name__}: {exc}"}
        if request["op"] == "bye":
            return None
        if request["op"] == "prepare":
            return self.prepare(request["question"], request["names"])
        return self.call(request)


def _grad_mode(enabled: bool):
    torch = sys.modules.get("torch")
    return torch.set_grad_enabled(bool(enabled)) if torch is not None else contextlib.nullcontext()


def _reply(sock: socket.socket, reply: dict[str, Any]) -> None:
    try:
        payload = dumps(reply)
    except (ValueError, TypeError, RecursionError) as exc:
        payload = dumps({"kind": "fail", "message": f"your result cannot be sent to the grader ({exc})"})
    try:
        send_message(sock, payload)
    except WireError as exc:
        send_message(sock, dumps({"kind": "fail", "message": f"your result is too large to grade ({exc})"}))


def serve(namespace: dict[str, Any], port: int, token: str) -> None:
    """Answer the grader's calls on ``127.0.0.1:port`` until it says goodbye (the grader's last cell)."""
    answers = Answers(namespace)
    with no_delay(socket.create_connection(("127.0.0.1", int(port)), timeout=60)) as sock:
        sock.settimeout(None)
        send_message(sock, token.encode("ascii"))
        reader = MessageReader(sock)
        while True:
            try:
                data = reader.read()
            except KeyboardInterrupt:    # a late interrupt meant for a call that has already answered
                continue
            except (EOFError, OSError):
                return
            try:
                reply = answers.answer(data)
            except KeyboardInterrupt:    # the grader's deadline passed while the answer was being prepared
                reply = {"kind": "time up"}
            if reply is None:
                return
            with _interrupts_held():
                _reply(sock, reply)
