"""A minimal writer for the `newc` cpio format the kernel unpacks as an initramfs.

Written here rather than driving cpio(1) so that every entry gets uid/gid 0 and the mode we
choose without staging a tree on disk, and so device nodes (/dev/console) need no mknod.
"""

from __future__ import annotations

import stat
from typing import BinaryIO

TRAILER = "TRAILER!!!"


class CpioWriter:
    """Append entries to a newc archive; call close() to write the trailer."""

    def __init__(self, out: BinaryIO, mtime: int = 0) -> None:
        self._out = out
        self._ino = 1
        self._mtime = mtime
        self._names: set[str] = set()

    def _entry(self, name: str, mode: int, data: bytes = b"", rdev: tuple[int, int] = (0, 0),
               nlink: int = 1) -> None:
        name = name.lstrip("/")
        encoded = name.encode() + b"\0"
        fields = [self._ino, mode, 0, 0, nlink, self._mtime, len(data), 0, 0, rdev[0], rdev[1],
                  len(encoded), 0]
        self._ino += 1
        header = b"070701" + b"".join(b"%08X" % v for v in fields)
        self._out.write(header + encoded + _pad(len(header) + len(encoded)))
        self._out.write(data + _pad(len(data)))

    def has(self, name: str) -> bool:
        return name.lstrip("/") in self._names

    def add_dir(self, name: str, mode: int = 0o755) -> None:
        """Add a directory and any missing parents."""
        parts = name.strip("/").split("/")
        for i in range(1, len(parts) + 1):
            path = "/".join(parts[:i])
            if path and path not in self._names:
                self._names.add(path)
                self._entry(path, stat.S_IFDIR | mode, nlink=2)

    def _parent(self, name: str) -> None:
        parent = name.strip("/").rpartition("/")[0]
        if parent:
            self.add_dir(parent)

    def add_file(self, name: str, data: bytes, mode: int = 0o644) -> None:
        if self.has(name):
            return
        self._parent(name)
        self._names.add(name.lstrip("/"))
        self._entry(name, stat.S_IFREG | mode, data)

    def add_symlink(self, name: str, target: str) -> None:
        if self.has(name):
            return
        self._parent(name)
        self._names.add(name.lstrip("/"))
        self._entry(name, stat.S_IFLNK | 0o777, target.encode())

    def add_chardev(self, name: str, major: int, minor: int, mode: int = 0o600) -> None:
        self._parent(name)
        self._names.add(name.lstrip("/"))
        self._entry(name, stat.S_IFCHR | mode, rdev=(major, minor))

    def close(self) -> None:
        self._entry(TRAILER, 0)


def _pad(length: int) -> bytes:
    return b"\0" * ((4 - length % 4) % 4)
