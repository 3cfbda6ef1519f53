"""The file operations of the WAL, behind one small object so tests can inject faults.

Every durable-path call of the writer and of snapshots goes through a ``FileLayer``; a
test subclass overrides one method to raise ``OSError(errno.EIO)`` or ``ENOSPC``, to
stall, or to count calls. The default works on real files with ``os`` calls.
"""

import os

_IOV_MAX = 1024
"""Buffers per ``writev`` call (POSIX guarantees at least 16; Linux allows 1024)."""

_RWF_DSYNC = getattr(os, "RWF_DSYNC", None)
"""The ``pwritev2`` flag that makes a write durable in the same call (Linux >= 4.7), or None."""


def _write_all(buffers, write_some):
    """Write ``buffers`` in order with ``write_some(views)``, a vectored write that returns the bytes written.

    Continues after short writes, at most ``_IOV_MAX`` buffers a call.
    """
    views = [view for view in (memoryview(buffer).cast("B") for buffer in buffers) if len(view)]
    while views:
        written = write_some(views[:_IOV_MAX])
        while written:
            if written >= len(views[0]):
                written -= len(views.pop(0))
            else:
                views[0] = views[0][written:]
                written = 0


class FileLayer:
    """Plain POSIX file operations on paths and descriptors."""

    def create(self, path):
        """Create ``path`` (it must not exist) for writing; return a descriptor."""
        return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)

    def open_append(self, path):
        """Open an existing file for appending; return a descriptor."""
        return os.open(path, os.O_WRONLY | os.O_APPEND)

    def write(self, fd, buffers):
        """Write every buffer of ``buffers``, in order, with ``writev`` (looping over short writes).

        One system call for a whole group of frames, without first copying them into
        one buffer. Raises ``OSError`` on failure.
        """
        _write_all(buffers, lambda views: os.writev(fd, views))

    def fsync(self, fd):
        """Make everything written to ``fd`` durable."""
        os.fsync(fd)

    def write_durably(self, fd, buffers):
        """Write every buffer of ``buffers``, in order, and make the data durable.

        On Linux one ``pwritev2(..., RWF_DSYNC)`` at the file offset writes and syncs in
        one system call, so the writer thread gives up and retakes the GIL once per group.
        ``RWF_DSYNC`` syncs as ``fdatasync`` does: the data and the metadata needed to read
        it back (the file size), not e.g. the modification time. Elsewhere: ``write`` and
        ``fsync``. Raises ``OSError`` on failure (a short write is continued, a failed
        sync is not retried). The writer thread writes frames only through this method,
        so a subclass that changes ``write`` or ``fsync`` must change it too.
        """
        if _RWF_DSYNC is None:
            _write_all(buffers, lambda views: os.writev(fd, views))
            os.fsync(fd)
        else:
            _write_all(buffers, lambda views: os.pwritev(fd, views, -1, _RWF_DSYNC))

    def close(self, fd):
        os.close(fd)

    def fsync_dir(self, path):
        """Make the directory's entries (creations, renames, removals) durable."""
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def rename(self, source, target):
        os.replace(source, target)

    def remove(self, path):
        os.remove(path)

    def truncate(self, path, size):
        """Cut the file at ``path`` to ``size`` bytes and make that durable."""
        fd = os.open(path, os.O_WRONLY)
        try:
            os.ftruncate(fd, size)
            os.fsync(fd)
        finally:
            os.close(fd)


def _remove_quietly(files, path):
    """Remove ``path`` if it can be: a failed write's temp file (ENOSPC: it holds space)."""
    try:
        files.remove(path)
    except OSError:
        pass


def write_file_durably(files, directory, name, data):
    """Write ``data`` as ``directory/name`` atomically: temp file, fsync, rename, fsync directory.

    When writing or syncing the temp file fails, the temp file is removed (if it can be)
    and the ``OSError`` raised; ``directory/name`` is then as it was.
    """
    path = os.path.join(directory, name)
    temp = path + ".tmp"
    if os.path.exists(temp):
        files.remove(temp)
    fd = files.create(temp)
    try:
        try:
            files.write(fd, [data])
            files.fsync(fd)
        finally:
            files.close(fd)
    except OSError:
        _remove_quietly(files, temp)
        raise
    files.rename(temp, path)
    files.fsync_dir(directory)
    return path


def copy_file_durably(files, source, target):
    """Copy ``source`` to the new file ``target`` (it must not exist) and make the copy durable, directory included."""
    with open(source, "rb") as f:
        data = f.read()
    fd = files.create(target)
    try:
        files.write(fd, [data])
        files.fsync(fd)
    finally:
        files.close(fd)
    files.fsync_dir(os.path.dirname(target) or ".")


def free_name(path, suffix):
    """``path + suffix``, or ``path.N + suffix`` with the smallest N >= 1 that names no file yet."""
    candidate = path + suffix
    n = 0
    while os.path.exists(candidate):
        n += 1
        candidate = f"{path}.{n}{suffix}"
    return candidate


__all__ = ["FileLayer", "copy_file_durably", "free_name", "write_file_durably"]
