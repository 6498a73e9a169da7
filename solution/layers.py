"""Extract image layers into a root folder without ever writing outside it.

A layer is a tar archive made by someone else, so its paths are untrusted:
`../etc/passwd`, `/etc/passwd`, or `link/passwd` where `link` is a symlink to
`/` placed by this layer or an earlier one. Every path is therefore resolved
here, one component at a time with lstat, as the kernel would resolve it
after chroot(ROOT): `..` stops at the root and a symlink target starting with
`/` starts again at the root. The last component is never followed, so an
entry replaces a symlink instead of writing through it.
"""

from __future__ import annotations

import errno
import gzip
import os
import shutil
import stat
import sys
import tarfile
import tempfile

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
WHITEOUT_PREFIX = ".wh."
OPAQUE_WHITEOUT = ".wh..wh..opq"
MAX_SYMLINKS = 40  # the kernel's limit on symlinks followed in one path (ELOOP)


class LayerError(Exception):
    """A layer cannot be extracted; the message names the entry."""


def resolve(root: str, name: str, follow_last: bool = False) -> str:
    """Return the host path of NAME as seen from inside ROOT.

    Symlinks in parent folders are followed inside ROOT; the last component is
    followed only with `follow_last`. Missing components are fine: the result
    is where the entry would be created.
    """
    pending = [part for part in name.split("/") if part]
    resolved: list[str] = []
    symlinks_followed = 0
    while pending:
        part = pending.pop(0)
        if part == ".":
            continue
        if part == "..":
            # `..` at the root stays at the root, as it does after chroot.
            if resolved:
                resolved.pop()
            continue
        candidate = os.path.join(root, *resolved, part)
        if pending or follow_last:
            try:
                is_link = stat.S_ISLNK(os.lstat(candidate).st_mode)
            except FileNotFoundError:
                is_link = False
            if is_link:
                symlinks_followed += 1
                if symlinks_followed > MAX_SYMLINKS:
                    raise LayerError(f"too many levels of symlinks in {name!r}")
                target = os.readlink(candidate)
                if target.startswith("/"):
                    resolved = []
                pending = [p for p in target.split("/") if p] + pending
                continue
        resolved.append(part)
    return os.path.join(root, *resolved)


def open_layer(path: str) -> tarfile.TarFile:
    """Open a layer blob as a tar archive, detecting the compression by magic bytes."""
    with open(path, "rb") as file:
        magic = file.read(4)
    if magic.startswith(ZSTD_MAGIC):
        raise LayerError("zstd-compressed layers are not supported; use a gzip image")
    if magic.startswith(GZIP_MAGIC):
        # Decompress once to a plain tar, because extraction reads the archive
        # twice (whiteouts first) and seeking back in a gzip stream restarts it.
        plain = tempfile.TemporaryFile()
        with gzip.open(path, "rb") as compressed:
            shutil.copyfileobj(compressed, plain)
        plain.seek(0)
        return tarfile.open(fileobj=plain, mode="r:")
    return tarfile.open(path, mode="r:")


def extract_layer(path: str, root: str) -> None:
    """Apply one layer to ROOT: its whiteouts first, then its entries."""
    try:
        archive = open_layer(path)
    except tarfile.TarError as error:
        raise LayerError(f"not a tar archive: {error}") from error
    with archive:
        members = archive.getmembers()
        for member in members:
            basename = os.path.basename(member.name.rstrip("/"))
            if basename.startswith(WHITEOUT_PREFIX):
                apply_whiteout(root, member.name.rstrip("/"))
        folder_modes: list[tuple[str, int]] = []
        for member in members:
            basename = os.path.basename(member.name.rstrip("/"))
            if basename.startswith(WHITEOUT_PREFIX) or not basename.strip("./"):
                continue
            try:
                extract_member(archive, member, root, folder_modes)
            except OSError as error:
                raise LayerError(f"cannot extract {member.name!r}: {error}") from error
        # Folder modes are set last, so a read-only folder can still be filled.
        # Each path is resolved again because a later entry may have replaced
        # one of its parents with a symlink.
        for name, mode in reversed(folder_modes):
            folder = resolve(root, name)
            if os.path.isdir(folder) and not os.path.islink(folder):
                os.chmod(folder, mode)


def apply_whiteout(root: str, name: str) -> None:
    """Delete what a whiteout entry hides in the lower layers."""
    parent_name, basename = os.path.split(name)
    parent = resolve(root, parent_name, follow_last=True)
    if not os.path.isdir(parent) or os.path.islink(parent):
        return
    if basename == OPAQUE_WHITEOUT:
        # An opaque folder hides everything the lower layers put in it.
        for child in os.listdir(parent):
            remove_path(os.path.join(parent, child))
    else:
        remove_path(os.path.join(parent, basename[len(WHITEOUT_PREFIX) :]))


def remove_path(path: str) -> None:
    """Remove a file, symlink or folder tree; a missing path is fine."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    if stat.S_ISDIR(mode):
        shutil.rmtree(path)
    else:
        os.unlink(path)


def make_parents(root: str, target: str) -> None:
    """Create the missing folders between ROOT and TARGET's parent."""
    parent = os.path.dirname(target)
    if parent != root and not os.path.lexists(parent):
        os.makedirs(parent, mode=0o755, exist_ok=True)


def extract_member(
    archive: tarfile.TarFile,
    member: tarfile.TarInfo,
    root: str,
    folder_modes: list[tuple[str, int]],
) -> None:
    """Create one archive entry inside ROOT, replacing what is at its path."""
    target = resolve(root, member.name)
    if target == root:
        return
    make_parents(root, target)
    mode = member.mode & 0o7777

    if member.isdir():
        if os.path.isdir(target) and not os.path.islink(target):
            folder_modes.append((member.name, mode))
            return
        remove_path(target)
        os.mkdir(target, 0o700)
        folder_modes.append((member.name, mode))
        apply_owner(target, member)
        return

    # Every other kind replaces the path, so nothing is written through an
    # existing symlink and a folder from a lower layer does not linger.
    remove_path(target)
    if member.isreg():
        write_file(archive, member, target)
        # chown clears the setuid and setgid bits, so it goes before chmod.
        apply_owner(target, member)
        os.chmod(target, mode)
    elif member.issym():
        # The target is stored as it is; it is only ever followed by
        # resolve() or by the kernel after chroot, both inside the root.
        os.symlink(member.linkname, target)
        apply_owner(target, member)
    elif member.islnk():
        source = resolve(root, member.linkname)
        if not os.path.lexists(source):
            raise LayerError(f"hardlink {member.name!r} to missing {member.linkname!r}")
        os.link(source, target, follow_symlinks=False)
        return
    elif member.ischr() or member.isblk() or member.isfifo():
        make_special(member, target, mode)
        return
    else:
        print(
            f"solution: skipped {member.name!r}: unsupported tar entry", file=sys.stderr
        )
        return
    os.utime(target, (member.mtime, member.mtime), follow_symlinks=False)


def write_file(archive: tarfile.TarFile, member: tarfile.TarInfo, target: str) -> None:
    # O_EXCL and O_NOFOLLOW: the path was just cleared, so the file is new.
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
    source = archive.extractfile(member)
    if source is None:
        raise LayerError(f"cannot read {member.name!r} from the archive")
    with source, os.fdopen(os.open(target, flags, 0o600), "wb") as file:
        shutil.copyfileobj(source, file)


def make_special(member: tarfile.TarInfo, target: str, mode: int) -> None:
    """Create a device node or fifo, or skip it where that is not permitted."""
    if member.isfifo():
        kind = stat.S_IFIFO
    elif member.ischr():
        kind = stat.S_IFCHR
    else:
        kind = stat.S_IFBLK
    try:
        os.mknod(target, kind | mode, os.makedev(member.devmajor, member.devminor))
    except OSError as error:
        if error.errno not in (errno.EPERM, errno.EACCES):
            raise
        print(
            f"solution: skipped {member.name!r}: mknod not permitted", file=sys.stderr
        )


def apply_owner(target: str, member: tarfile.TarInfo) -> None:
    # Only root may give files away; other users keep their own ownership.
    try:
        os.lchown(target, member.uid, member.gid)
    except PermissionError:
        pass
