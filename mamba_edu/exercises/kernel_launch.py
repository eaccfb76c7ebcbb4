"""Start a student's kernel under a memory limit: ``python -I -S kernel_launch.py BYTES -- KERNEL COMMAND ...``.

Sets the address-space limit (``RLIMIT_AS``, soft and hard, so the notebook cannot lift it) to
``BYTES`` and replaces itself with the kernel command, which keeps the process id: the grader's
interrupts and kills reach the kernel as before. Standard library only, so it starts in
milliseconds. Where the limit cannot be set (e.g. macOS refuses some values) the kernel starts
without it and a line on stderr says so.
"""
import os
import sys


def main(argv: list) -> None:
    if len(argv) < 4 or argv[2] != "--":
        sys.exit("usage: kernel_launch.py BYTES -- KERNEL COMMAND ...")
    limit, command = int(argv[1]), argv[3:]
    try:
        import resource

        hard = resource.getrlimit(resource.RLIMIT_AS)[1]
        if hard != resource.RLIM_INFINITY:
            limit = min(limit, hard)
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    except (ImportError, ValueError, OSError) as exc:
        print(f"mamba-edu kernel launcher: no memory limit ({exc})", file=sys.stderr)
    os.execv(command[0], command)


if __name__ == "__main__":
    main(sys.argv)
