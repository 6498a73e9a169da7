"""The session container, each backend run for real: isolation, leaks, interrupts.

Every session runs through a driver process, the way the outer pytest runs it:
root and docker as root, userns as an unprivileged user made for the tests.
What a session could leave behind is counted before and after each run.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from peers import REQUIRE_PEERS_VARIABLE, require_tool

from pytest_stages.container import DOCKER_HUB_HOSTS
from pytest_stages.container.leaks import LeakSnapshot
from pytest_stages.explorer import build_explorer

REPO = Path(__file__).resolve().parent.parent
TEST_USER = "stagesuser"
SYSTEM_PYTHON = "/usr/bin/python3.11"
RUN_TIMEOUT = 120  # seconds for one session

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux") or os.geteuid() != 0,
    reason="the session container tests run as root on Linux",
)

# The driver plays the outer pytest: it selects the backend and runs one
# session. "PYTHON" in the command stands for the driver's interpreter.
DRIVER = """
import json, sys
from pathlib import Path
from pytest_stages.container import SessionSpec, select_backend
args = json.loads(sys.argv[1])
backend = select_backend(args["backend"], image=args["image"])
backend.interrupt_timeout = args["interrupt_timeout"]
if args["explorer_in_image"]:
    backend.explorer_in_image = args["explorer_in_image"]
command = [sys.executable if word == "PYTHON" else word for word in args["command"]]
spec = SessionSpec(
    command=command,
    program_dir=Path(args["program_dir"]),
    writable_paths=[Path(p) for p in args["writable_paths"]],
    explorer=Path(args["explorer"]) if args["explorer"] else None,
    env=args["env"],
)
sys.exit(backend.run(spec))
"""


def _load_local_image():
    spec = importlib.util.spec_from_file_location(
        "local_image", REPO / "docker" / "local_image.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


local_image = _load_local_image()


@dataclass
class SessionRunner:
    """Runs sessions of one backend through the driver and checks for leaks."""

    backend: str
    driver: list[str]
    """The start of the driver's command line, before its JSON argument."""
    program_dir: Path
    host_file: str
    """A file outside the writable folders, which the session must not change."""
    explorer: str | None
    driver_env: dict[str, str]
    image: str | None = None
    explorer_in_image: str | None = None
    marker: str = field(default_factory=lambda: f"leak-marker-{secrets.token_hex(8)}")

    def command_line(self, script: str, interrupt_timeout: float = 30) -> list[str]:
        """Return the driver's command line for a session running the script."""
        args = {
            "backend": self.backend,
            "image": self.image,
            "interrupt_timeout": interrupt_timeout,
            "explorer_in_image": self.explorer_in_image,
            # The marker in the script's text tags every process it starts.
            "command": ["PYTHON", "-c", f"{script}\n# {self.marker}\n"],
            "program_dir": str(self.program_dir),
            "writable_paths": [],
            "explorer": self.explorer,
            "env": {
                "LEAK_MARKER": self.marker,
                "TEST_HOST_FILE": self.host_file,
                "PYTHONUNBUFFERED": "1",
            },
        }
        return [*self.driver, json.dumps(args)]

    def start(self, script: str, *, interrupt_timeout: float = 30) -> subprocess.Popen:
        """Start a session that runs the Python script; return the driver process."""
        return subprocess.Popen(
            self.command_line(script, interrupt_timeout),
            env=self.driver_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def run(self, script: str, **options) -> subprocess.CompletedProcess:
        """Run a session to its end; return the driver's status and output."""
        process = self.start(script, **options)
        stdout, stderr = process.communicate(timeout=RUN_TIMEOUT)
        return subprocess.CompletedProcess(
            process.args, process.returncode, stdout, stderr
        )

    def snapshot(self) -> LeakSnapshot:
        """Return the processes, mounts and session folders that exist now."""
        return LeakSnapshot.take(self.marker, self.driver_env.get("TMPDIR"))


def _require_peers() -> bool:
    return os.environ.get(REQUIRE_PEERS_VARIABLE) == "1"


@pytest.fixture(scope="session")
def shared_explorer() -> Iterator[Path]:
    """The explorer, compiled once, in a folder every user may read."""
    folder = Path(tempfile.mkdtemp(prefix="container-test-explorer-"))
    folder.chmod(0o755)
    explorer = folder / "docker-explorer"
    shutil.copy(build_explorer(folder / "cache"), explorer)
    explorer.chmod(0o755)
    yield explorer
    shutil.rmtree(folder)


@pytest.fixture(scope="session")
def test_user() -> str:
    """A non-root user for the userns backend, made when it is missing."""
    found = subprocess.run(["id", "-u", TEST_USER], capture_output=True, check=False)
    if found.returncode != 0:
        require_tool("useradd")
        subprocess.run(["useradd", "-m", TEST_USER], check=True)
    return TEST_USER


def _require_python_311() -> None:
    """Skip unless this is CPython 3.11, whose packages Debian's Python can load.

    The userns and docker tests run Debian's Python 3.11 with this
    interpreter's site-packages, which hold compiled modules (cffi,
    charset_normalizer) built for this interpreter's version only. This is a
    limit of the test set-up, not of the backends, so it skips even where
    peers are required; CI runs these tests under Python 3.11.
    """
    if sys.version_info[:2] != (3, 11):
        pytest.skip(
            "the userns and docker tests lend this interpreter's packages to "
            f"Debian's Python 3.11, and this is Python {sys.version.split()[0]}"
        )


@pytest.fixture(scope="session")
def user_site_packages() -> Iterator[Path]:
    """The packages that `import pytest_stages` needs, readable by the test user.

    The test user runs Debian's own Python, which lacks them, and cannot read
    the packages of root's Python.
    """
    _require_python_311()
    # Not under /tmp, which the session replaces with an empty one.
    folder = Path(tempfile.mkdtemp(prefix="container-test-site-", dir="/opt"))
    host_site = Path(pytest.__file__).parent.parent
    for path in local_image.site_package_files(host_site):
        target = folder / os.path.relpath(path, host_site)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
    # The project too, because the test user may not be able to read this
    # checkout.
    for package in ("pytest_stages", "stages", "solution"):
        shutil.copytree(
            REPO / package,
            folder / package,
            ignore=shutil.ignore_patterns("__pycache__"),
        )
    subprocess.run(["chmod", "-R", "a+rX", str(folder)], check=True)
    yield folder
    shutil.rmtree(folder)


@pytest.fixture(scope="session")
def docker_image() -> Iterator[tuple[str, dict[str, str]]]:
    """The test image and the environment that reaches a running Docker daemon."""
    _require_python_311()
    require_tool("docker")
    require_tool("dockerd")
    try:
        with local_image.docker_daemon() as env:
            yield local_image.build_test_image(env), env
    except RuntimeError as error:
        if _require_peers():
            pytest.fail(f"the Docker daemon is not usable: {error}")
        pytest.skip(f"the Docker daemon is not usable: {error}")


@contextlib.contextmanager
def _owned_folder(parent: str, owner: str | None) -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="container-test-", dir=parent))
    if owner is not None:
        shutil.chown(folder, owner, owner)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(params=["root", "userns", "docker"])
def runner(
    request: pytest.FixtureRequest, shared_explorer: Path
) -> Iterator[SessionRunner]:
    """A SessionRunner for each backend."""
    backend = request.param
    owner = request.getfixturevalue("test_user") if backend == "userns" else None
    with contextlib.ExitStack() as stack:
        program_dir = stack.enter_context(_owned_folder("/tmp", owner))
        # A temporary folder of its own, so that session folders of other
        # pytest runs on the machine do not count as leaks.
        temp_dir = stack.enter_context(_owned_folder("/tmp", owner))
        env = dict(os.environ, PYTHONPATH=str(REPO), TMPDIR=str(temp_dir))
        driver = [sys.executable, "-c", DRIVER]
        explorer: str | None = str(shared_explorer)
        host_parent = "/opt"
        if backend == "userns":
            require_tool("setpriv")
            site = request.getfixturevalue("user_site_packages")
            host_parent = f"/home/{owner}"
            env.update(PYTHONPATH=str(site), HOME=host_parent, USER=owner)
            setpriv = [
                "setpriv",
                f"--reuid={owner}",
                f"--regid={owner}",
                "--clear-groups",
            ]
            driver = [*setpriv, SYSTEM_PYTHON, "-c", DRIVER]
        if backend == "docker":
            image, docker_env = request.getfixturevalue("docker_image")
            env.update(docker_env, PYTHONPATH=str(REPO))
            yield SessionRunner(
                backend, driver, program_dir, local_image.IMAGE_FILE, None, env,
                image=image, explorer_in_image="/bin/busybox",
            )  # fmt: skip
            return
        host = stack.enter_context(_owned_folder(host_parent, owner))
        host_file = host / "host-file"
        host_file.write_text("host\n")
        if owner is not None:
            shutil.chown(host_file, owner, owner)
        yield SessionRunner(backend, driver, program_dir, str(host_file), explorer, env)


OBSERVE = """
import errno, json, os, socket, subprocess

def error_name(action):
    try:
        action()
    except OSError as error:
        return errno.errorcode[error.errno]
    return "no error"

host_file = os.environ["TEST_HOST_FILE"]
marker = os.environ["LEAK_MARKER"]
result = {
    "unlink_host_file": error_name(lambda: os.unlink(host_file)),
    "append_host_file": error_name(lambda: open(host_file, "a").close()),
    "cwd": os.getcwd(),
    "pid": os.getpid(),
    "pids": sorted(int(n) for n in os.listdir("/proc") if n.isdigit()),
    "interfaces": [name for _, name in socket.if_nameindex()],
    "hostname": socket.gethostname(),
    "addresses": {
        host: sorted({a[4][0] for a in socket.getaddrinfo(host, 443)})
        for host in HUB_HOSTS
    },
    "env": {name: os.environ.get(name) for name in (
        "PYTEST_STAGES_INSIDE", "PYTEST_STAGES_SESSION_DIR", "SSL_CERT_FILE",
        "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "NODE_EXTRA_CA_CERTS")},
}
with open("written-inside", "w") as file:
    file.write(marker)
with open(f"/tmp/{marker}", "w") as file:
    file.write(marker)
result["tmp_entries"] = sorted(os.listdir("/tmp"))
result["local_bin"] = sorted(os.listdir("/usr/local/bin"))
explorer = subprocess.run(
    ["busybox", "echo", "explorer ran"] if EXPLORER_IS_BUSYBOX
    else ["docker-explorer", "echo", "explorer ran"],
    executable="/usr/local/bin/docker-explorer", capture_output=True, text=True)
result["explorer_output"] = explorer.stdout
server = socket.socket()
server.bind(("127.0.0.1", 443))
server.listen()
client = socket.create_connection(("127.0.0.1", 443), timeout=5)
result["loopback_connected"] = True
bundle = os.environ["SSL_CERT_FILE"]
with open(bundle, "a") as file:
    file.write("# appended by the session\\n")
system_bundle = "/etc/ssl/certs/ca-certificates.crt"
with open(system_bundle) as file:
    result["system_bundle_sees_append"] = file.read().endswith(
        "# appended by the session\\n")
print(json.dumps(result))
"""


def _observe_script(runner: SessionRunner) -> str:
    busybox = runner.explorer_in_image == "/bin/busybox"
    return (
        f"HUB_HOSTS = {list(DOCKER_HUB_HOSTS)!r}\nEXPLORER_IS_BUSYBOX = {busybox}\n"
        + OBSERVE
    )


@pytest.fixture
def observed(runner: SessionRunner) -> Iterator[tuple[SessionRunner, dict]]:
    """What the session saw from inside, with the runner that ran it."""
    sentinel = Path("/tmp") / f"host-sentinel-{runner.marker}"
    sentinel.write_text("host")
    try:
        before = runner.snapshot()
        result = runner.run(_observe_script(runner))
        after = runner.snapshot()
    finally:
        sentinel.unlink()
    assert result.returncode == 0, result.stderr
    observation = json.loads(result.stdout.strip().splitlines()[-1])
    observation["leaks"] = after.leaks_since(before)
    observation["sentinel"] = sentinel.name
    yield runner, observation


def test_host_file_read_only(observed):
    runner, seen = observed

    assert seen["unlink_host_file"] == "EROFS"
    assert seen["append_host_file"] == "EROFS"
    if runner.backend != "docker":
        assert Path(runner.host_file).read_text() == "host\n"


def test_program_dir_writable(observed):
    runner, seen = observed

    assert seen["cwd"] == str(runner.program_dir)
    assert (runner.program_dir / "written-inside").read_text() == runner.marker


def test_tmp_fresh_and_private(observed):
    runner, seen = observed

    assert seen["sentinel"] not in seen["tmp_entries"]
    assert runner.marker in seen["tmp_entries"]
    assert not (Path("/tmp") / runner.marker).exists()


def test_hub_hosts_resolve_to_loopback(observed):
    _, seen = observed

    for host in DOCKER_HUB_HOSTS:
        assert set(seen["addresses"][host]) <= {"127.0.0.1", "::1"}, host
        assert "127.0.0.1" in seen["addresses"][host], host


def test_explorer_installed_and_runs(observed):
    runner, seen = observed

    assert "docker-explorer" in seen["local_bin"]
    assert seen["explorer_output"] == "explorer ran\n"
    if runner.backend != "docker":
        host_files = set(os.listdir("/usr/local/bin"))
        assert host_files <= set(seen["local_bin"])
        assert not Path("/usr/local/bin/docker-explorer").exists()


def test_only_loopback_and_up(observed):
    _, seen = observed

    assert seen["interfaces"] == ["lo"]
    assert seen["loopback_connected"]


def test_inner_command_is_pid_1(observed):
    _, seen = observed

    assert seen["pid"] == 1
    assert seen["pids"] == [1]
    assert seen["hostname"] == "pytest-stages"


def test_environment_and_ca_bundle(observed):
    runner, seen = observed
    env = seen["env"]

    assert (
        env["PYTEST_STAGES_INSIDE"] == "root"
        if runner.backend == "docker"
        else runner.backend
    )
    session_dir = env["PYTEST_STAGES_SESSION_DIR"]
    for name in (
        "SSL_CERT_FILE",
        "REQUESTS_CA_BUNDLE",
        "CURL_CA_BUNDLE",
        "NODE_EXTRA_CA_CERTS",
    ):
        assert env[name] == f"{session_dir}/ca-bundle.pem", name
    assert seen["system_bundle_sees_append"]


def test_observing_session_leaves_nothing(observed):
    _, seen = observed

    assert seen["leaks"] == {"processes": [], "mounts": [], "session_dirs": []}


DOUBLE_FORK = """
import os, sys, time
marker = os.environ["LEAK_MARKER"]
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.execv(sys.executable, [sys.executable, "-c", f"import time; time.sleep(600) # {marker}"])
    os._exit(0)
os.wait()
time.sleep(0.5)
print(len([n for n in os.listdir("/proc") if n.isdigit()]))
"""

NESTED_PID_NAMESPACE = """
import os, sys, time
from pytest_stages.container.syscalls import CLONE_NEWPID, unshare
marker = os.environ["LEAK_MARKER"]
unshare(CLONE_NEWPID)
if os.fork() == 0:
    if os.fork() == 0:
        os.execv(sys.executable, [sys.executable, "-c", f"import time; time.sleep(600) # {marker}"])
    time.sleep(600)
time.sleep(0.5)
print(len([n for n in os.listdir("/proc") if n.isdigit()]))
"""

CHROOT_PROC_CRASH = """
import os, time
from pytest_stages.container.syscalls import mount
root = "/tmp/chroot"
os.makedirs(root + "/proc")
pid = os.fork()
if pid == 0:
    os.chroot(root)
    mount("proc", "/proc", "proc", 0)
    os.abort()
_, status = os.waitpid(pid, 0)
with open("/proc/self/mountinfo") as file:
    mounted = " /tmp/chroot/proc " in file.read()
print(os.WIFSIGNALED(status) and mounted)
"""


@pytest.mark.parametrize(
    "script",
    [DOUBLE_FORK, NESTED_PID_NAMESPACE],
    ids=["double-fork into own session", "nested PID namespace"],
)
def test_leftover_processes_killed(runner: SessionRunner, script: str):
    before = runner.snapshot()

    result = runner.run(script)

    assert result.returncode == 0, result.stderr
    # The session held more than its PID 1 when that exited.
    assert int(result.stdout.strip()) >= 2
    assert runner.snapshot().leaks_since(before) == {
        "processes": [],
        "mounts": [],
        "session_dirs": [],
    }


def test_chroot_proc_crash_leaves_no_mount(runner: SessionRunner):
    before = runner.snapshot()

    result = runner.run(CHROOT_PROC_CRASH)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True"
    assert runner.snapshot().leaks_since(before)["mounts"] == []


HANG = """
import os, signal, sys, time
marker = os.environ["LEAK_MARKER"]
if IGNORE_INTERRUPT:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
if os.fork() == 0:
    os.setsid()
    os.execv(sys.executable, [sys.executable, "-c", f"import time; time.sleep(600) # {marker}"])
try:
    print("ready", flush=True)
    time.sleep(600)
except KeyboardInterrupt:
    print("interrupted", flush=True)
    sys.exit(130)
"""


def _start_hanging(runner: SessionRunner, ignore: bool, **options) -> subprocess.Popen:
    process = runner.start(f"IGNORE_INTERRUPT = {ignore}\n{HANG}", **options)
    assert process.stdout is not None
    line = process.stdout.readline()
    assert line == "ready\n", process.stderr.read() if process.stderr else line
    return process


def _assert_no_leaks(runner: SessionRunner, before: LeakSnapshot) -> None:
    assert runner.snapshot().leaks_since(before) == {
        "processes": [],
        "mounts": [],
        "session_dirs": [],
    }


@pytest.mark.parametrize("signal_number", [signal.SIGINT, signal.SIGTERM])
def test_interrupt_tears_down(runner: SessionRunner, signal_number: int):
    before = runner.snapshot()
    process = _start_hanging(runner, ignore=False)

    process.send_signal(signal_number)
    stdout, stderr = process.communicate(timeout=RUN_TIMEOUT)

    assert "interrupted" in stdout, stderr
    assert process.returncode == 130
    _assert_no_leaks(runner, before)


def test_second_interrupt_kills(runner: SessionRunner):
    before = runner.snapshot()
    process = _start_hanging(runner, ignore=True)

    process.send_signal(signal.SIGINT)
    time.sleep(1)
    still_running = process.poll() is None
    process.send_signal(signal.SIGINT)
    process.communicate(timeout=RUN_TIMEOUT)

    assert still_running
    assert process.returncode == 128 + signal.SIGKILL
    _assert_no_leaks(runner, before)


def test_interrupt_timeout_kills(runner: SessionRunner):
    before = runner.snapshot()
    process = _start_hanging(runner, ignore=True, interrupt_timeout=1)
    started = time.monotonic()

    process.send_signal(signal.SIGINT)
    process.communicate(timeout=RUN_TIMEOUT)

    assert process.returncode == 128 + signal.SIGKILL
    assert time.monotonic() - started < 20
    _assert_no_leaks(runner, before)


COUNT_INTERRUPTS = """
import signal, sys, time
received = []
signal.signal(signal.SIGINT, lambda number, frame: received.append(number))
print("ready", flush=True)
deadline = time.monotonic() + 3
while time.monotonic() < deadline and not received:
    time.sleep(0.05)
time.sleep(1)  # a forwarded copy of the signal would arrive in this second
print(f"interrupts {len(received)}", flush=True)
"""


def test_terminal_ctrl_c_delivered_once(runner: SessionRunner):
    pexpect = pytest.importorskip("pexpect")
    before = runner.snapshot()
    command = runner.command_line(COUNT_INTERRUPTS)
    terminal = pexpect.spawn(command[0], command[1:], env=runner.driver_env, timeout=60)

    terminal.expect("ready")
    terminal.sendintr()
    terminal.expect(r"interrupts (\d+)")
    count = int(terminal.match.group(1))
    terminal.expect(pexpect.EOF)
    terminal.close()

    assert count == 1
    assert terminal.exitstatus == 0
    _assert_no_leaks(runner, before)


# Grading the reference solution end to end, once per backend: the whole
# pytest session moves into the session container, the hub serves the images inside, and
# every stage passes.

GRADED_SUMMARY = [
    "stage 1  exec * passed *",
    "stage 4  chroot * passed *",
    "stage 5  pid-namespace * passed *",
    "stage 6  registry-pull * passed *",
]


def _grade_solution(
    command: list[str], folder: Path, env: dict[str, str], *options: str
) -> subprocess.CompletedProcess:
    shutil.copytree(REPO / "solution", folder / "solution")
    subprocess.run(["chmod", "-R", "a+rX", str(folder)], check=True)
    grading = [
        "-m", "pytest", "--stage", "6", "-p", "no:cacheprovider",
        "--program", "python3 -m solution", "--stages-seed", "7",
    ]  # fmt: skip
    return subprocess.run(
        [*command, *grading, *options],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def _assert_graded(result: subprocess.CompletedProcess, backend: str) -> None:
    output = pytest.LineMatcher(result.stdout.splitlines())
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    output.fnmatch_lines([f"stages: session container: {backend} *"])
    output.fnmatch_lines(GRADED_SUMMARY)


def test_root_grades_solution() -> None:
    if os.geteuid() != 0:
        pytest.skip("the root backend needs root")
    with _owned_folder("/tmp", None) as folder:
        result = _grade_solution([sys.executable], folder, dict(os.environ))

    _assert_graded(result, "root")


def test_userns_grades_solution(test_user: str, user_site_packages: Path) -> None:
    require_tool("setpriv")
    home = f"/home/{test_user}"
    # python3 on PATH must find requests for the solution: the test user's
    # Python gets the copied packages through PYTHONPATH.
    env = dict(
        os.environ,
        PYTHONPATH=str(user_site_packages),
        HOME=home,
        USER=test_user,
        PATH=f"{Path(SYSTEM_PYTHON).parent}:/usr/sbin:/sbin:/bin",
    )
    setpriv = ["setpriv", f"--reuid={test_user}", f"--regid={test_user}"]
    with _owned_folder("/tmp", test_user) as folder:
        result = _grade_solution(
            [*setpriv, "--clear-groups", SYSTEM_PYTHON], folder, env
        )

    _assert_graded(result, "userns")


def test_docker_grades_solution(docker_image: tuple[str, dict[str, str]]) -> None:
    image, docker_env = docker_image
    env = dict(docker_env, PYTEST_STAGES_IMAGE=image)
    with _owned_folder("/tmp", None) as folder:
        result = _grade_solution(
            [sys.executable], folder, env, "--stages-backend", "docker"
        )

    _assert_graded(result, "docker")


def test_python_under_tmp_stays_visible(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("the root backend needs root")
    from pytest_stages.container import RootBackend, SessionSpec
    from pytest_stages.container.spec import python_environment

    # A folder under /tmp standing in for a virtual environment there: the
    # fresh /tmp of the session would hide it, unless it is readable_paths.
    environment = Path(tempfile.mkdtemp(prefix="container-test-env-", dir="/tmp"))
    script = environment / "inner.py"
    script.write_text(
        "import os, sys\n"
        "print(open(__file__).read().count('inner'))\n"
        "sys.exit(0 if not os.access(__file__, os.W_OK) else 3)\n"
    )
    program_dir = Path(tempfile.mkdtemp(prefix="container-test-", dir="/tmp"))
    spec = SessionSpec(
        command=[sys.executable, str(script)],
        program_dir=program_dir,
        readable_paths=[*python_environment(), environment],
    )
    try:
        status = RootBackend("test").run(spec)
    finally:
        shutil.rmtree(environment)
        shutil.rmtree(program_dir)

    # 0: the script ran from the hidden folder and could not write to it.
    assert status == 0


# The wrong programs of stages 4 and 5 on every backend. Each backend must
# grant the powers the stages need, so that the stage, not the backend,
# rejects the program.
ISOLATION_MISTAKES = [
    ("no_chroot.py", 4, "chroot"),
    ("chroot_into_host_root.py", 4, "chroot"),
    ("chroot_into_empty_root.py", 4, "chroot"),
    ("no_pid_namespace.py", 5, "pid-namespace"),
    ("command_is_pid_2.py", 5, "pid-namespace"),
]


def _backend_command(
    backend: str, request: pytest.FixtureRequest, folder: Path
) -> tuple[list[str], dict[str, str]]:
    """Return the interpreter command and environment that grade with backend."""
    if backend == "root":
        return [sys.executable], dict(os.environ)
    if backend == "userns":
        user = request.getfixturevalue("test_user")
        site = request.getfixturevalue("user_site_packages")
        require_tool("setpriv")
        shutil.chown(folder, user, user)
        env = dict(
            os.environ,
            PYTHONPATH=str(site),
            HOME=f"/home/{user}",
            USER=user,
            PATH=f"{Path(SYSTEM_PYTHON).parent}:/usr/sbin:/sbin:/bin",
        )
        setpriv = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups"]
        return [*setpriv, SYSTEM_PYTHON], env
    image, docker_env = request.getfixturevalue("docker_image")
    return [sys.executable], dict(docker_env, PYTEST_STAGES_IMAGE=image)


@pytest.mark.parametrize("backend", ["root", "userns", "docker"])
@pytest.mark.parametrize(("program", "stage", "slug"), ISOLATION_MISTAKES)
def test_backend_rejects_isolation_mistake(
    request: pytest.FixtureRequest, backend: str, program: str, stage: int, slug: str
) -> None:
    if backend == "root" and os.geteuid() != 0:
        pytest.skip("the root backend needs root")
    with _owned_folder("/tmp", None) as folder:
        command, env = _backend_command(backend, request, folder)
        target = folder / "your_program.sh"
        shutil.copyfile(REPO / "tests" / "programs" / program, target)
        target.chmod(0o755)
        # The wrong programs import the reference solution.
        shutil.copytree(REPO / "solution", folder / "solution")
        subprocess.run(["chmod", "-R", "a+rX", str(folder)], check=True)
        grading = ["-m", "pytest", "--only-stage", str(stage), "-p", "no:cacheprovider"]
        grading += ["--stages-seed", "7", "--stages-backend", backend]

        result = subprocess.run(
            [*command, *grading],
            cwd=folder,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )

    output = pytest.LineMatcher(result.stdout.splitlines())
    assert result.returncode == pytest.ExitCode.TESTS_FAILED, result.stdout[-3000:]
    output.fnmatch_lines([f"stages: session container: {backend} *"])
    output.fnmatch_lines([f"stage {stage}  {slug} * failed *"])
