"""The test overview of a bench report: what ran, on which machine, when."""

import datetime
import os
import platform
import subprocess
import sys
from importlib import metadata


def git_commit(directory):
    """The commit checked out at ``directory``, with ``-dirty`` when files differ from it.

    Parameters
    ----------
    directory : str or os.PathLike
        Any directory inside the working tree.

    Returns
    -------
    str
        The full hash (plus ``-dirty``), or ``"unknown"`` when git or the repository is
        not there (an installed wheel, say).
    """
    try:
        commit = _git(directory, "rev-parse", "HEAD")
        changes = _git(directory, "status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{commit}-dirty" if changes else commit


def _git(directory, *args):
    completed = subprocess.run(
        ["git", "-C", os.fspath(directory), *args], capture_output=True, text=True, check=True, timeout=10
    )
    return completed.stdout.strip()


def _cpuinfo():
    """``/proc/cpuinfo``'s first processor as a dict (empty where there is no such file)."""
    fields = {}
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                key, _, value = line.partition(":")
                if not key.strip() and fields:
                    break
                fields.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    return fields


def cpu_model():
    """The CPU's model name, with ", virtualised" when the CPU reports a hypervisor.

    From ``/proc/cpuinfo``; elsewhere ``platform.processor()``, else ``"unknown"``.
    """
    fields = _cpuinfo()
    model = fields.get("model name") or platform.processor() or "unknown"
    return f"{model}, virtualised" if "hypervisor" in fields.get("flags", "").split() else model


def _version(distribution):
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "not installed"


def overview():
    """Versions, machine and date of this run.

    Returns
    -------
    dict
        ``nbengine`` (version), ``commit``, ``python``, ``numba``, ``numpy``, ``pyarrow``,
        ``cpu``, ``cores`` (logical CPUs this process may run on), ``os`` and ``date``
        (UTC, ISO 8601).
    """
    import nbengine

    package_dir = os.path.dirname(os.path.abspath(nbengine.__file__))
    return {
        "nbengine": nbengine.__version__,
        "commit": git_commit(package_dir),
        "python": platform.python_version(),
        "numba": _version("numba"),
        "numpy": _version("numpy"),
        "pyarrow": _version("pyarrow"),
        "cpu": cpu_model(),
        "cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "os": f"{platform.system()} {platform.release()} ({sys.platform})",
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
