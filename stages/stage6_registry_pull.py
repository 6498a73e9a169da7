"""Stage 6: pull the image from a Docker registry and run the command in it."""

import pytest

from pytest_stages import Stage, fail, load_instructions
from pytest_stages.checks import describe_stdout, require_finished
from pytest_stages.pullhints import explain_pull

STAGE = Stage(
    number=6,
    slug="registry-pull",
    title="Pull an image from a registry",
    instructions=load_instructions(__file__, "registry-pull"),
)

# Mount points a runtime may create in the new root, as Docker does; they may
# appear in `ls /` although the image does not hold them.
RUNTIME_ENTRIES = {"dev", "proc", "sys"}


# The top-level entries of the real alpine image on Docker Hub, for
# --registry docker.io, where the content is not the hub's own.
DOCKER_HUB_ALPINE_TOP_LEVEL = sorted(
    "bin etc home lib media mnt opt root run sbin srv tmp usr var".split()
)


def _run_in_image(program, hub, image: str, command: list[str]):  # noqa: ANN001, ANN202
    """Run the program; return its result and the requests the hub logged meanwhile."""
    if hub is None:  # --registry docker.io
        return program.run(image, command), []
    hub.hub.clear_requests_log()
    result = program.run(image, command)
    return result, hub.hub.requests_log


def _listing_hint(got: list[str], hub, repository: str, tag: str, log) -> str | None:  # noqa: ANN001
    if any(name.startswith(".wh.") for name in got):
        return (
            "Whiteout files were left in the root filesystem. A file named "
            ".wh.NAME in a layer deletes NAME from the layers below, and "
            ".wh..wh..opq empties its folder; neither stays in the result."
        )
    if hub is None:
        return None
    right = hub.store.expected_top_level(repository, tag)
    for platform in hub.store.tag(repository, tag).platforms:
        other = hub.store.expected_top_level(repository, tag, platform)
        if other != right and _image_entries(got, other) == other:
            return (
                f"Your program unpacked the image for the wrong platform ({platform}). "
                "In the index, pick the entry whose platform is linux with your "
                "machine's architecture, and skip entries for unknown/unknown."
            )
    return explain_pull(log)


def _image_entries(listed: list[str], expected: list[str]) -> list[str]:
    """Return the listed entries without the mount points a runtime may add."""
    return [name for name in listed if name not in RUNTIME_ENTRIES - set(expected)]


def _expect_listing(program, hub, image: str, repository: str, tag: str) -> None:  # noqa: ANN001
    result, log = _run_in_image(program, hub, image, ["/bin/sh", "-c", "/bin/ls /"])
    require_finished(result)
    if hub is None:
        expected = DOCKER_HUB_ALPINE_TOP_LEVEL
    else:
        expected = hub.store.expected_top_level(repository, tag)
    got = result.stdout_text.split()
    if _image_entries(got, expected) != expected:
        fail(
            f"`ls /` in {image} did not list the image's top-level entries.",
            result=result,
            expected=" ".join(expected),
            actual=describe_stdout(result),
            hint=_listing_hint(got, hub, repository, tag, log),
        )


def test_lists_the_image_root(program, hub) -> None:
    """Pulls alpine and lists exactly the top-level entries of its root."""
    _expect_listing(program, hub, "alpine", "library/alpine", "latest")


def test_pulls_a_named_tag(program, hub) -> None:
    """Pulls the tag it is given, not latest."""
    _expect_listing(program, hub, "alpine:3.20", "library/alpine", "3.20")
    if hub is None:
        # The real alpine:3.20 names its release, such as 3.20.3, in this file.
        path, matches = "/etc/alpine-release", str.startswith
        expected = "3.20."
    else:
        path, matches = "/etc/motd", str.__eq__
        expected = hub.store.expected_file("library/alpine", "3.20", path).decode()

    result, log = _run_in_image(program, hub, "alpine:3.20", ["/bin/cat", path])

    require_finished(result)
    if not matches(result.stdout_text, expected):
        fail(
            "A file of alpine:3.20 did not have that tag's content.",
            result=result,
            expected=f"{path} to read {expected!r}",
            actual=describe_stdout(result),
            hint=explain_pull(log)
            or "Ask for the tag after the colon; only a name without one means latest.",
        )


def test_later_layers_win(program, hub) -> None:
    """Applies the layers in order: replaced and deleted files show their final state."""
    if hub is None:
        pytest.skip("this check pulls an image only the hub serves")
    repository = "stagescourse/layered"
    one = hub.store.expected_file(repository, "latest", "/data/keep/one").decode()
    expected = one + "keep\nlink-to-keep\n"

    result, log = _run_in_image(
        program, hub, repository, ["/bin/sh", "-c", "cat /data/keep/one; ls /data"]
    )

    require_finished(result)
    if result.stdout_text != expected:
        got = result.stdout_text.split()
        hint = explain_pull(log)
        if ".wh.drop" in got or "drop" in got:
            hint = (
                "The folder /data/drop was deleted by a whiteout (.wh.drop) in a "
                "later layer, but it is still there. Apply whiteouts: delete "
                "NAME for each .wh.NAME, and never extract the .wh. file itself."
            )
        fail(
            "The pulled image does not show its final layer's state.",
            result=result,
            expected=repr(expected),
            actual=describe_stdout(result),
            hint=hint,
        )


def test_earlier_stages_hold_in_the_image(program, hub, values) -> None:
    """Keeps exit codes, the PID namespace and the new root in a pulled image."""
    code = values.randrange(1, 256)

    status, log = _run_in_image(
        program, hub, "alpine", ["/bin/sh", "-c", f"exit {code}"]
    )
    require_finished(status)
    if status.exit_status != code:
        fail(
            "The exit code got lost in a pulled image.",
            result=status,
            expected=f"exit status {code}",
            actual=f"exit status {status.exit_status}; {describe_stdout(status)}",
            hint=explain_pull(log),
        )
    pid, _ = _run_in_image(
        program, hub, "alpine", ["/usr/local/bin/docker-explorer", "mypid"]
    )
    require_finished(pid)
    if pid.stdout_text.strip() != "1":
        fail(
            "The command is not PID 1 in a pulled image.",
            result=pid,
            expected="`mypid` to print 1",
            actual=describe_stdout(pid),
            hint="Run the command in a new PID namespace, as in stage 5.",
        )
