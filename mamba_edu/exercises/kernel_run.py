"""One submission in its own kernel: the student's cells under time limits, then the answers to the grader's calls.

1. A fresh kernel starts in the submission's temporary working directory, with the environment
   and memory limit of :mod:`mamba_edu.exercises.sandbox`.
2. The student's cells run in order, each with a time limit (on expiry the kernel is
   interrupted and the next cell runs), within a limit for the whole notebook (cells after it
   are skipped); errors do not stop the run. A cell that is still running ``interrupt_grace``
   seconds after its interrupt (it swallowed ``KeyboardInterrupt``) gets the kernel killed.
3. The grader's last cell connects the kernel to the grader
   (:func:`mamba_edu.exercises.answers.serve`) and the questions are scored in the grader's
   process (:func:`mamba_edu.exercises.kernel_link.score_questions`), asking the kernel only for
   the values its functions return.
4. The kernel is shut down (killed).
"""
from __future__ import annotations

import asyncio
import hmac
import secrets
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from queue import Empty
from typing import Any

from mamba_edu.exercises.kernel_link import KernelLink, score_questions
from mamba_edu.exercises.sandbox import kernel_env, kernel_manager
from mamba_edu.exercises.wire import MessageReader, no_delay

GRADER_TAG = "mamba-edu-grader"
CONNECT_SECONDS = 120.0       #: for the kernel to run the grader's cell and connect


def serve_cell_source(port: int, token: str) -> str:
    return ("# added by the mamba-edu grader: your functions answer the grader's calls; the checks and scores run\n"
            "# in the grader's own process\n"
            "from mamba_edu.exercises.answers import serve as _mamba_edu_serve\n"
            f"_mamba_edu_serve(globals(), {int(port)}, {token!r})\n")


@dataclass
class RunOutcome:
    status: str = "ok"                                     #: "ok", "timed out", "kernel died", "no report", ...
    notes: list[str] = field(default_factory=list)
    rows: list[dict[str, Any]] | None = None               #: per-question results; None: nothing was scored
    feedback: list[str] = field(default_factory=list)      #: shown in the grader's cell of the executed notebook
    why_not_graded: str = ""


class KernelRun:
    """Runs one notebook (its last cell is the grader's) and scores ``questions`` against its kernel."""

    def __init__(self, nb, workdir: Path, options, questions: list) -> None:
        self.nb, self.workdir, self.options, self.questions = nb, workdir, options, questions
        self.outcome = RunOutcome()
        self.deadline = time.monotonic() + options.total_timeout
        self.check_budget = len(questions) * (options.question_timeout + 120.0) + 60.0
        self.client: Any = None
        self.replied_timeout: set[int] = set()
        self.killed = False

    # ----- kernel ---------------------------------------------------------------------------------------------
    def _timeout(self, cell) -> int:
        if GRADER_TAG in cell.get("metadata", {}).get("tags", []):
            return int(self.check_budget + CONNECT_SECONDS)
        return int(max(1, min(self.options.cell_timeout, self.deadline - time.monotonic())))

    def _client(self):
        from nbclient import NotebookClient

        client = NotebookClient(
            self.nb, km=kernel_manager(self.options.memory_limit), timeout_func=self._timeout,
            interrupt_on_timeout=True, allow_errors=True,
            error_on_timeout={"ename": "CellTimeoutError", "evalue": "the cell ran past its time limit and was "
                              "interrupted", "traceback": []},
            startup_timeout=int(self.options.startup_timeout), shutdown_kernel="immediate", record_timing=False,
            extra_arguments=["--IPKernelApp.ignore_cwd=True"], resources={"metadata": {"path": str(self.workdir)}})

        # nbclient answers a timed-out cell with ``error_on_timeout`` as its execute reply, while the cell's
        # outputs only show the KeyboardInterrupt of the interrupt: watch the replies to tell the two apart.
        def on_cell_executed(cell, cell_index, execute_reply):
            if (execute_reply or {}).get("content", {}).get("ename") == "CellTimeoutError":
                self.replied_timeout.add(cell_index)

        client.on_cell_executed = on_cell_executed
        return client

    async def _kill(self, why: str) -> None:
        from jupyter_core.utils import ensure_async

        if self.killed:
            return
        self.killed = True
        self.outcome.why_not_graded = self.outcome.why_not_graded or f"not graded: {why}"
        self.outcome.status = "timed out"
        self.outcome.notes.append(why)
        await ensure_async(self.client.km.shutdown_kernel(now=True))

    async def _responsive(self) -> bool:
        """Whether the kernel finishes what it runs within the grace period (after an interrupt)."""
        from jupyter_core.utils import ensure_async

        msg_id = await _maybe_await(self.client.kc.kernel_info())
        end = time.monotonic() + self.options.interrupt_grace
        while (left := end - time.monotonic()) > 0:
            try:
                msg = await ensure_async(self.client.kc.get_shell_msg(timeout=left))
            except Empty:
                return False
            if msg.get("parent_header", {}).get("msg_id") == msg_id:
                return True
        return False

    # ----- the student's cells -----------------------------------------------------------------------------
    def _timed_out(self, cell, index: int) -> bool:
        return cell.cell_type == "code" and (index in self.replied_timeout or any(
            o.get("ename") == "CellTimeoutError" for o in cell.get("outputs", [])))

    async def _student_cells(self) -> bool:
        """Run every cell but the last; False when the kernel had to be killed."""
        for index, cell in enumerate(self.nb.cells[:-1]):
            if time.monotonic() >= self.deadline:
                if cell.cell_type == "code":
                    self.outcome.notes.append(f"cell {index} skipped: the notebook ran past its "
                                              f"{self.options.total_timeout:g} s limit")
                    self.outcome.status = "timed out"
                continue
            t0 = time.monotonic()
            await self.client.async_execute_cell(cell, index, execution_count=self.client.code_cells_executed + 1)
            if not self._timed_out(cell, index):
                continue
            self.outcome.status = "timed out"
            self.outcome.notes.append(f"cell {index} interrupted after {time.monotonic() - t0:.0f} s (time limit "
                                      f"{min(self.options.cell_timeout, self.options.total_timeout):g} s per cell)")
            if not await self._responsive():
                await self._kill(f"cell {index} ignored the interrupt, so the kernel was stopped after a "
                                 f"{self.options.interrupt_grace:g} s grace period; the cells after it did not run")
                return False
        return True

    # ----- the answers ---------------------------------------------------------------------------------------
    async def _accept(self, listener: socket.socket, token: str, serving: asyncio.Future) -> socket.socket | None:
        """The kernel's connection (the first one that presents ``token``), or None if the cell ended first."""
        loop = asyncio.get_running_loop()
        end = time.monotonic() + CONNECT_SECONDS
        while not serving.done() and (left := end - time.monotonic()) > 0:
            accepting = asyncio.ensure_future(loop.sock_accept(listener))
            done, _ = await asyncio.wait({accepting, serving}, timeout=left, return_when=asyncio.FIRST_COMPLETED)
            if accepting not in done:
                accepting.cancel()
                return None
            conn, _ = accepting.result()
            conn.setblocking(True)
            conn.settimeout(10.0)
            try:
                presented = await loop.run_in_executor(None, MessageReader(conn).read)
            except (OSError, EOFError, ValueError):
                presented = b""
            if hmac.compare_digest(presented, token.encode("ascii")):
                return no_delay(conn)
            conn.close()
        return None

    def _from_thread(self, loop: asyncio.AbstractEventLoop, make) -> Any:
        def act(*args: Any) -> None:
            asyncio.run_coroutine_threadsafe(make(*args), loop).result(timeout=120)
        return act

    async def _interrupt(self) -> None:
        from jupyter_core.utils import ensure_async

        await ensure_async(self.client.km.interrupt_kernel())

    async def _answers(self) -> None:
        cell, index = self.nb.cells[-1], len(self.nb.cells) - 1
        listener = socket.create_server(("127.0.0.1", 0))
        listener.setblocking(False)
        token = secrets.token_hex(16)
        cell.source = serve_cell_source(listener.getsockname()[1], token)
        serving = asyncio.ensure_future(self.client.async_execute_cell(
            cell, index, execution_count=self.client.code_cells_executed + 1))
        try:
            conn = await self._accept(listener, token, serving)
        finally:
            listener.close()
        if conn is None:
            await self._stop_serving(serving)
            self._no_answers(cell)
            return
        loop = asyncio.get_running_loop()
        link = KernelLink(conn, interrupt=self._from_thread(loop, self._interrupt),
                          kill=self._from_thread(loop, self._kill), grace=self.options.interrupt_grace)
        try:
            self.outcome.rows, self.outcome.feedback = await loop.run_in_executor(
                None, score_questions, link, self.questions, self.options.seed, self.options.question_timeout,
                time.monotonic() + self.check_budget)
        finally:
            link.close()
        if link.dead and not link.killed:
            self.outcome.status = "kernel died"
            self.outcome.notes.append(link.dead)
        await self._stop_serving(serving)

    def _no_answers(self, cell) -> None:
        errors = [f"{o.get('ename')}: {o.get('evalue')}" for o in cell.get("outputs", [])
                  if o.get("output_type") == "error"]
        why = errors[0] if errors else "the kernel never connected to the grader"
        if self.outcome.status in ("ok", "timed out"):
            self.outcome.status = "no report"
        self.outcome.notes.append(f"grader: {why}")
        self.outcome.why_not_graded = f"not graded ({why})"

    async def _stop_serving(self, serving: asyncio.Future) -> None:
        """Let the grader's cell end (after goodbye); a kernel that keeps it running is killed."""
        try:
            await asyncio.wait_for(asyncio.shield(serving), self.options.interrupt_grace)
        except asyncio.TimeoutError:
            await self._kill(f"the grader's cell did not end within {self.options.interrupt_grace:g} s of the "
                             f"last answer, so the kernel was stopped")
        except Exception:  # noqa: BLE001 - e.g. the kernel was killed while serving: already recorded
            pass
        if not serving.done():
            serving.cancel()

    # ----- the whole run ------------------------------------------------------------------------------------
    async def run(self) -> RunOutcome:
        from nbclient.exceptions import CellTimeoutError, DeadKernelError

        self.client = self._client()
        try:
            self.client.reset_execution_trackers()
            env = kernel_env(self.options.question_timeout, self.options.threads)
            async with self.client.async_setup_kernel(env=env, cwd=str(self.workdir), stderr=subprocess.DEVNULL,
                                                      cleanup_kc=True):   # shut the kernel down at the end
                await self.client.async_wait_for_reply(await _maybe_await(self.client.kc.kernel_info()))
                if await self._student_cells():
                    await self._answers()
        except DeadKernelError:
            self.outcome.status = "kernel died"
            self.outcome.notes.append("the kernel died (the notebook exited Python or ran out of memory); scores "
                                      "are 0")
            self.outcome.why_not_graded = self.outcome.why_not_graded or "not graded (the kernel died)"
        except CellTimeoutError as exc:  # pragma: no cover - interrupt_on_timeout makes this rare
            self.outcome.status = "timed out"
            self.outcome.notes.append(f"a cell did not stop after its time limit: {exc}")
        except RuntimeError as exc:      # kernel failed to start, etc.
            self.outcome.status = "kernel error"
            self.outcome.notes.append(f"the kernel could not run the notebook: {exc}")
        return self.outcome


async def _maybe_await(value: Any) -> Any:
    return await value if asyncio.iscoroutine(value) else value
