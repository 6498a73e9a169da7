"""Compile and cache the explorer, the static helper the checks run in a container."""

from __future__ import annotations

import hashlib
import os
import platform
import shlex
import shutil
import subprocess
import tempfile
from pathlib import Path

__all__ = ["EXPLORER_SOURCE", "ExplorerBuildError", "build_explorer"]

EXPLORER_SOURCE = Path(__file__).with_name("explorer.c")

CACHE_ENV = "PYTEST_STAGES_CACHE"
PREBUILT_ENV = "PYTEST_STAGES_EXPLORER"
COMPILER_NAMES = ("cc", "gcc", "clang", "musl-gcc")
COMPILE_FLAGS = ("-static", "-O2")
COMPILE_TIMEOUT = 300  # seconds; a cold compiler on a slow CI machine
CHECK_TIMEOUT = 30  # seconds, for `--version` and the test run
STDERR_LIMIT = 2000  # characters of compiler output kept in an error

INSTALL_ADVICE = """\
Install a C compiler and the static C library:
  Debian/Ubuntu: sudo apt-get install gcc libc6-dev
  Fedora:        sudo dnf install gcc glibc-static
  Alpine:        sudo apk add gcc musl-dev
or set CC to the compiler to use."""

STATIC_LIBC_ADVICE = """\
The static C library (libc.a) is missing. It is in the package libc6-dev on
Debian/Ubuntu, glibc-static on Fedora and musl-dev on Alpine:
  Debian/Ubuntu: sudo apt-get install gcc libc6-dev
  Fedora:        sudo dnf install gcc glibc-static
  Alpine:        sudo apk add gcc musl-dev"""

# Linker messages that mean libc.a was not found (GNU ld, gold and lld).
STATIC_LIBC_MISSING = ("cannot find -lc", "unable to find library -lc")


class ExplorerBuildError(Exception):
    """Raised when the explorer cannot be compiled, cached or run."""


def build_explorer(cache_dir: Path | None = None) -> Path:
    """Compile the explorer unless the cache contains it, and return its path.

    The file name contains a hash of the source, the compiler's `--version`
    output and the machine type, so a change to any of them builds anew.
    `$PYTEST_STAGES_EXPLORER` names a prebuilt binary to use instead, for
    images that ship one and no compiler.
    """
    prebuilt = os.environ.get(PREBUILT_ENV)
    if prebuilt:
        if not os.access(prebuilt, os.X_OK) or not os.path.isfile(prebuilt):
            raise ExplorerBuildError(
                f"{PREBUILT_ENV}={prebuilt} is not an executable file. Point it at "
                "a docker-explorer binary, or unset it to build one."
            )
        return Path(prebuilt)
    compiler = _find_compiler()
    directory = Path(cache_dir) if cache_dir is not None else _default_cache_dir()
    key = _cache_key(EXPLORER_SOURCE.read_bytes(), _compiler_version(compiler))
    target = directory / f"docker-explorer-{key}"
    if os.access(target, os.X_OK):
        return target

    _make_cache_dir(directory)
    _compile_and_install(compiler, directory, target)
    return target


def _default_cache_dir() -> Path:
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    xdg_cache = os.environ.get("XDG_CACHE_HOME", "")
    # The XDG Base Directory specification requires ignoring a relative path.
    if os.path.isabs(xdg_cache):
        return Path(xdg_cache) / "pytest-stages"
    return Path.home() / ".cache" / "pytest-stages"


def _find_compiler() -> list[str]:
    """Return the compiler command: `$CC` split into words, or the first on PATH."""
    if os.environ.get("CC"):
        command = shlex.split(os.environ["CC"])
        if command and shutil.which(command[0]):
            return command
        raise ExplorerBuildError(
            f"The C compiler named by CC ({os.environ['CC']!r}) was not found, "
            f"so the explorer cannot be built.\n{INSTALL_ADVICE}"
        )
    for name in COMPILER_NAMES:
        if shutil.which(name):
            return [name]
    raise ExplorerBuildError(
        "No C compiler found (looked for "
        + ", ".join(COMPILER_NAMES)
        + " on PATH), so the explorer, the small helper program that the checks"
        f" run inside your container, cannot be built.\n{INSTALL_ADVICE}"
    )


def _compiler_version(compiler: list[str]) -> bytes:
    # A compiler that rejects --version can still build the explorer, so its
    # error output serves as the version text in the cache key.
    try:
        result = subprocess.run(
            [*compiler, "--version"],
            capture_output=True,
            timeout=CHECK_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise ExplorerBuildError(
            f"Running the C compiler {shlex.join(compiler)} failed: {error}.\n"
            f"{INSTALL_ADVICE}"
        ) from error
    return result.stdout + result.stderr


def _cache_key(source: bytes, compiler_version: bytes) -> str:
    digest = hashlib.sha256(source + compiler_version + platform.machine().encode())
    return digest.hexdigest()[:16]


def _make_cache_dir(directory: Path) -> None:
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise _cache_dir_error(directory, error) from error


def _cache_dir_error(directory: Path, error: OSError) -> ExplorerBuildError:
    return ExplorerBuildError(
        f"Cannot write the explorer cache directory {directory}: "
        f"{error.strerror or error}. Set {CACHE_ENV} to a writable directory."
    )


def _compile_and_install(compiler: list[str], directory: Path, target: Path) -> None:
    """Compile into a temporary file, check it runs, then rename it to TARGET.

    The rename is atomic, so a process that builds at the same time or reads
    the cache never finds a partial binary. When two builds race, the last
    rename wins with an identical file.
    """
    try:
        descriptor, temporary_name = tempfile.mkstemp(
            prefix=".docker-explorer-", suffix=".tmp", dir=directory
        )
    except OSError as error:
        raise _cache_dir_error(directory, error) from error
    os.close(descriptor)
    temporary = Path(temporary_name)
    try:
        _compile(compiler, temporary)
        temporary.chmod(0o755)
        _check_runnable(temporary)
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)


def _compile(compiler: list[str], output: Path) -> None:
    command = [*compiler, *COMPILE_FLAGS, "-o", str(output), str(EXPLORER_SOURCE)]
    try:
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=COMPILE_TIMEOUT
        )
    except subprocess.TimeoutExpired as error:
        raise ExplorerBuildError(
            f"Compiling the explorer timed out after {COMPILE_TIMEOUT} s: "
            f"{shlex.join(command)}"
        ) from error
    except OSError as error:
        raise ExplorerBuildError(
            f"Running the C compiler failed: {shlex.join(command)}: {error}\n"
            f"{INSTALL_ADVICE}"
        ) from error
    if result.returncode != 0:
        raise _compile_error(command, result.stderr)


def _compile_error(command: list[str], stderr: str) -> ExplorerBuildError:
    output = _trim(stderr)
    if any(message in stderr for message in STATIC_LIBC_MISSING):
        advice = STATIC_LIBC_ADVICE
        summary = "The C compiler could not link the explorer statically."
    else:
        advice = INSTALL_ADVICE
        summary = "Compiling the explorer failed."
    return ExplorerBuildError(
        f"{summary}\nCommand: {shlex.join(command)}\n"
        f"Compiler output:\n{output}\n{advice}"
    )


def _trim(text: str) -> str:
    """Keep the end of TEXT, where compilers print the error that stopped them."""
    text = text.strip()
    if len(text) <= STDERR_LIMIT:
        return text
    return "[...]\n" + text[-STDERR_LIMIT:]


def _check_runnable(binary: Path) -> None:
    command = [str(binary), "echo", "ok"]
    try:
        result = subprocess.run(
            command, capture_output=True, timeout=CHECK_TIMEOUT, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise ExplorerBuildError(
            f"The compiled explorer does not run: {shlex.join(command)}: {error}"
        ) from error
    if result.returncode != 0 or result.stdout != b"ok\n":
        stderr = _trim(result.stderr.decode(errors="replace"))
        raise ExplorerBuildError(
            f"The compiled explorer does not work: {shlex.join(command)} "
            f"exited with {result.returncode} and printed {result.stdout!r} "
            f"(expected b'ok\\n'). stderr: {stderr}"
        )
