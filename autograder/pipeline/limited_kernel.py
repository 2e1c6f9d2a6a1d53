"""A Jupyter kernel with resource limits: `python -m autograder.pipeline.limited_kernel --memory-mb M --cpu-s C -- ARGS`.

Sets the limits on this process, notes its pid where the grader can find it (to kill it if it
outlives its submission), then becomes an ordinary IPython kernel with ARGS; limits survive exec.
"""
from __future__ import annotations

import argparse
import os
import resource
import sys


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--memory-mb", type=int, required=True, help="address-space cap, MiB")
    parser.add_argument("--cpu-s", type=int, required=True, help="CPU-time cap, seconds")
    parser.add_argument("--file-mb", type=int, default=256, help="largest file the kernel may write, MiB")
    parser.add_argument("--pid-file", default="")
    parser.add_argument("kernel_args", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    memory = args.memory_mb * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_CPU, (args.cpu_s, args.cpu_s + 5))
    resource.setrlimit(resource.RLIMIT_FSIZE, (args.file_mb * 2**20, args.file_mb * 2**20))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if args.pid_file:
        with open(args.pid_file, "w") as handle:
            handle.write(str(os.getpid()))
    rest = [a for a in args.kernel_args if a != "--"]
    os.execv(sys.executable, [sys.executable, "-m", "ipykernel_launcher", *rest])


if __name__ == "__main__":
    main()
