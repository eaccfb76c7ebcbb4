"""What travels between the grader and a submission's kernel, and how it is read safely.

Messages are length-prefixed byte strings on a local socket. The grader's requests are pickles
(the kernel trusts the grader); the kernel's answers are JSON that the grader decodes into
plain values only, so that nothing the student's kernel sends can run code in the grader:

* ``None``, booleans, numbers and strings as themselves; lists, tuples and dicts (any keys that
  are values) rebuilt as such;
* numpy arrays and scalars of boolean, integer, float or complex types, and torch tensors of
  those types (detached, on the CPU), as raw bytes with dtype and shape;
* anything else (an instance of the student's class, a generator, …) stays in the kernel; the
  grader gets a ``{"__handle__": n}`` reference it can call methods of (see
  :mod:`mamba_edu.exercises.kernel_link`).

Arguments that the student's code may change in place (numpy arrays, torch tensors, numpy
generators) are sent back after each call as well, so a check sees the same mutations as when
the student's code runs in its own process.
"""
from __future__ import annotations

import base64
import json
import math
import socket
import struct
from collections.abc import Callable
from typing import Any

import numpy as np

MAX_MESSAGE = 256 * 2**20       #: bytes; a larger answer is refused
MAX_DEPTH = 32                  #: nesting of lists/tuples/dicts in an answer
_HEADER = struct.Struct("!Q")
_ARRAY_KINDS = "biufc"
_TORCH_DTYPES = ("bool", "uint8", "int8", "int16", "int32", "int64", "float16", "bfloat16", "float32", "float64",
                 "complex64", "complex128")


class WireError(Exception):
    """A message that is too large, truncated, or not a well-formed answer."""


# ----- framing ------------------------------------------------------------------------------------------
def send_message(sock: socket.socket, payload: bytes) -> None:
    if len(payload) > MAX_MESSAGE:
        raise WireError(f"message of {len(payload)} bytes is larger than the {MAX_MESSAGE} allowed")
    sock.sendall(_HEADER.pack(len(payload)) + payload)   # one write: no wait for the peer's delayed ACK


def no_delay(sock: socket.socket) -> socket.socket:
    """Send small messages at once (no Nagle delay); requests and answers alternate."""
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


class MessageReader:
    """Reads length-prefixed messages; a read interrupted by a timeout resumes where it stopped."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self._buffer = bytearray()

    def _need(self) -> int | None:
        if len(self._buffer) < _HEADER.size:
            return None
        (size,) = _HEADER.unpack_from(self._buffer)
        if size > MAX_MESSAGE:
            raise WireError(f"message of {size} bytes is larger than the {MAX_MESSAGE} allowed")
        return _HEADER.size + size

    def read(self) -> bytes:
        """The next message; raises ``socket.timeout`` (keeping what was read), EOFError when closed."""
        while True:
            total = self._need()
            if total is not None and len(self._buffer) >= total:
                message = bytes(self._buffer[_HEADER.size:total])
                del self._buffer[:total]
                return message
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise EOFError("the other end closed the connection")
            self._buffer += chunk


# ----- values: kernel side ---------------------------------------------------------------------------------
def _array(arr: np.ndarray) -> dict[str, Any]:
    arr = np.asarray(arr, order="C")     # (np.ascontiguousarray would make a 0-d array 1-d)
    return {"dtype": arr.dtype.str, "shape": list(arr.shape), "data": base64.b64encode(arr.tobytes()).decode("ascii")}


def _tensor(t) -> dict[str, Any]:
    import torch

    t = t.detach().cpu()
    dtype = str(t.dtype)
    if t.dtype == torch.bfloat16:
        t = t.float()
    return {"__tensor__": _array(t.resolve_conj().resolve_neg().numpy()), "dtype": dtype}


def _is_tensor(value: Any) -> bool:
    torch = _torch()
    return torch is not None and isinstance(value, torch.Tensor) and value.layout == torch.strided


def _torch():
    import sys

    return sys.modules.get("torch")


def _float(value: float) -> Any:
    return value if math.isfinite(value) else {"__float__": repr(value)}


class Encoder:
    """Turns a kernel-side value into JSON; objects that are not values are kept in ``handles``."""

    def __init__(self, handles: list[Any]) -> None:
        self.handles = handles

    def handle(self, value: Any) -> dict[str, Any]:
        self.handles.append(value)
        return {"__handle__": len(self.handles) - 1, "type": type(value).__name__}

    def encode(self, value: Any, depth: int = 0) -> Any:
        if isinstance(value, np.generic) and value.dtype.kind in _ARRAY_KINDS:
            return {"__npscalar__": _array(np.asarray(value))}
        if value is None or isinstance(value, (bool, str)):
            return value
        if isinstance(value, int):
            return int(value)
        if isinstance(value, float):
            return _float(float(value))
        if isinstance(value, np.ndarray) and value.dtype.kind in _ARRAY_KINDS:
            return {"__ndarray__": _array(value)}
        if _is_tensor(value):
            return _tensor(value)
        if depth < MAX_DEPTH and isinstance(value, (list, tuple)):
            items = [self.encode(v, depth + 1) for v in value]
            return items if isinstance(value, list) else {"__tuple__": items}
        if depth < MAX_DEPTH and isinstance(value, dict):
            return {"__dict__": [[self.encode(k, depth + 1), self.encode(v, depth + 1)] for k, v in value.items()]}
        return self.handle(value)

    def mutable_state(self, value: Any, depth: int = 0) -> Any:
        """What of ``value`` (an argument after the call) the student's code may have changed in place."""
        if isinstance(value, np.random.Generator):
            return {"__rng__": json.dumps(value.bit_generator.state)}
        if isinstance(value, np.ndarray) or _is_tensor(value):
            return self.encode(value)
        if depth < MAX_DEPTH and isinstance(value, (list, tuple)):
            return [self.mutable_state(v, depth + 1) for v in value]
        if depth < MAX_DEPTH and isinstance(value, dict):
            return {"__dict__": [[k, self.mutable_state(v, depth + 1)] for k, v in value.items()
                                 if isinstance(k, (str, int))]}
        return None


def dumps(message: dict[str, Any]) -> bytes:
    return json.dumps(message, allow_nan=False).encode("utf-8")


# ----- values: grader side ------------------------------------------------------------------------------------
def _read_array(spec: Any) -> np.ndarray:
    if not isinstance(spec, dict) or set(spec) != {"dtype", "shape", "data"}:
        raise WireError("malformed array")
    try:
        dtype = np.dtype(str(spec["dtype"])).newbyteorder("=")
    except (TypeError, ValueError):
        raise WireError("malformed array dtype") from None
    if dtype.kind not in _ARRAY_KINDS or dtype.fields is not None or dtype.subdtype is not None:
        raise WireError(f"arrays of dtype {dtype} are not accepted")
    shape = tuple(int(n) for n in spec["shape"])
    if any(n < 0 for n in shape):
        raise WireError("malformed array shape")
    data = base64.b64decode(str(spec["data"]), validate=True)
    if len(data) != math.prod(shape) * dtype.itemsize:
        raise WireError("array data does not match its shape")
    return np.frombuffer(data, dtype=np.dtype(str(spec["dtype"]))).reshape(shape).astype(dtype)


def _read_tensor(obj: dict[str, Any]):
    import torch

    name = str(obj.get("dtype", "")).removeprefix("torch.")
    if name not in _TORCH_DTYPES:
        raise WireError(f"tensors of dtype {name} are not accepted")
    return torch.from_numpy(_read_array(obj["__tensor__"])).to(getattr(torch, name))


class Decoder:
    """Rebuilds plain values from an answer; ``remote(n, type_name)`` stands for a kernel-side object."""

    def __init__(self, remote: Callable[[int, str], Any]) -> None:
        self.remote = remote

    def decode(self, obj: Any, depth: int = 0) -> Any:
        if depth > MAX_DEPTH + 2:
            raise WireError("answer nested too deeply")
        if obj is None or isinstance(obj, (bool, int, float, str)):
            return obj
        if isinstance(obj, list):
            return [self.decode(v, depth + 1) for v in obj]
        if not isinstance(obj, dict) or len(obj) not in (1, 2):
            raise WireError("malformed answer")
        return self._marked(obj, depth)

    def _marked(self, obj: dict[str, Any], depth: int) -> Any:
        if "__tuple__" in obj:
            return tuple(self.decode(obj["__tuple__"], depth + 1))
        if "__dict__" in obj:
            return {_hashable(self.decode(k, depth + 1)): self.decode(v, depth + 1) for k, v in obj["__dict__"]}
        if "__ndarray__" in obj:
            return _read_array(obj["__ndarray__"])
        if "__npscalar__" in obj:
            return _read_array(obj["__npscalar__"])[()]
        if "__tensor__" in obj:
            return _read_tensor(obj)
        if "__float__" in obj and obj["__float__"] in ("nan", "inf", "-inf"):
            return float(obj["__float__"])
        if "__handle__" in obj:
            return self.remote(int(obj["__handle__"]), str(obj.get("type", "object"))[:100])
        raise WireError("malformed answer")


def _hashable(key: Any) -> Any:
    try:
        hash(key)
    except TypeError:
        raise WireError("a dict key that is not hashable") from None
    return key


def loads(data: bytes) -> Any:
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise WireError(f"unreadable answer ({type(exc).__name__})") from None


def write_back(original: Any, state: Any, decoder: Decoder, depth: int = 0) -> None:
    """Apply the kernel's post-call ``state`` of an argument to the grader's ``original`` (same mutations)."""
    if state is None or depth > MAX_DEPTH:
        return
    if isinstance(original, np.random.Generator) and isinstance(state, dict) and "__rng__" in state:
        original.bit_generator.state = json.loads(str(state["__rng__"]))
    elif isinstance(original, np.ndarray) and isinstance(state, dict) and "__ndarray__" in state:
        new = decoder.decode(state)
        if new.shape == original.shape and original.flags.writeable and not np.array_equal(new, original):
            original[...] = new
    elif _is_tensor(original) and isinstance(state, dict) and "__tensor__" in state:
        _write_tensor(original, decoder.decode(state))
    elif isinstance(original, (list, tuple)) and isinstance(state, list):
        for o, s in zip(original, state):
            write_back(o, s, decoder, depth + 1)
    elif isinstance(original, dict) and isinstance(state, dict) and "__dict__" in state:
        for k, s in state["__dict__"]:
            if isinstance(k, (str, int)) and k in original:
                write_back(original[k], s, decoder, depth + 1)


def _write_tensor(original, new) -> None:
    import torch

    if new.shape == original.shape and new.dtype == original.dtype and not torch.equal(new, original.detach()):
        with torch.no_grad():
            original.copy_(new)
