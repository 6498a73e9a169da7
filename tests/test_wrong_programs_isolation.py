"""Stages 4 to 6 reject the wrong programs they exist to catch, with the hint for each.

Each Python program in tests/programs named below imports the reference
solution, replaces one step of it with a wrong one and runs it. It must fail at
the stage meant to catch the mistake, with that stage's summary line and the
hint written for the mistake. A grading run takes seconds, so most programs are
graded with ``--only-stage N``. One program per stage is graded with
``--stage 6``, which shows that the stages before it pass and the ones after it
are not reached. The programs import ``solution`` from the project's install.
"""

from __future__ import annotations

import pytest
from conftest import BACKEND, Grader
from wrong_programs import WrongProgram, assert_rejected

pytestmark = pytest.mark.skipif(
    BACKEND == "none",
    reason="stages 4 to 6 need the root or userns session container",
)

HOST_FILES_HINT = [
    "The command still sees the host's files",
    "chrooting into a folder that holds the host's files hides nothing",
]
HOST_DIRECTORY_SEEN = "The command could see a directory of the host."
LISTING_WRONG = "`ls /` in alpine did not list the image's top-level entries."

WRONG_PROGRAMS = [
    WrongProgram(
        "chroot_into_host_root.py",
        stage=4,
        summary=HOST_DIRECTORY_SEEN,
        hint=HOST_FILES_HINT,
        through=6,
    ),
    WrongProgram(
        "no_chroot.py",
        stage=4,
        summary=HOST_DIRECTORY_SEEN,
        hint=HOST_FILES_HINT,
    ),
    WrongProgram(
        "chroot_into_empty_root.py",
        stage=4,
        summary="The command did not run in the new root.",
        hint=[
            "The command was not found inside the new root",
            "copy the command's binary into it, at the same path",
        ],
    ),
    WrongProgram(
        "command_is_pid_2.py",
        stage=5,
        summary="The command is not PID 1 in its own PID namespace.",
        hint=[
            "The command is not the first process of its PID namespace",
            "with no shell or helper process in between",
        ],
        through=6,
    ),
    WrongProgram(
        "no_pid_namespace.py",
        stage=5,
        summary="The command is not PID 1 in its own PID namespace.",
        hint=[
            "runs in the same PID namespace as the host",
            "unshare(CLONE_NEWPID) and then fork",
        ],
    ),
    WrongProgram(
        "keeps_whiteouts.py",
        stage=6,
        summary="The pulled image does not show its final layer's state.",
        hint=[
            "deleted by a whiteout (.wh.drop)",
            "never extract the .wh. file itself",
        ],
        through=6,
    ),
    WrongProgram(
        "omits_library_prefix.py",
        stage=6,
        summary=LISTING_WRONG,
        hint=["Official images live under library/", "/v2/library/alpine/manifests"],
    ),
    WrongProgram(
        "index_entries_as_blobs.py",
        stage=6,
        summary=LISTING_WRONG,
        hint=[
            "asked for a blob that does not exist",
            "registry answers with an index",
        ],
    ),
    WrongProgram(
        "auth_on_redirect.py",
        stage=6,
        summary=LISTING_WRONG,
        hint=[
            "sent its Authorization header to the blob storage host",
            "Follow the redirect without that header",
        ],
    ),
    WrongProgram(
        "index_layers.py",
        stage=6,
        summary=LISTING_WRONG,
        hint=[
            "read an index as if it were an image manifest",
            "fetch that manifest by its digest",
        ],
    ),
    WrongProgram(
        "picks_other_platform.py",
        stage=6,
        summary=LISTING_WRONG,
        hint=["unpacked the image for the wrong platform", "skip entries for unknown"],
    ),
    # A program pulls the image in every stage, so a broken pull fails stage 1,
    # and the hint there names the pull's mistake.
    pytest.param(
        WrongProgram(
            "omits_library_prefix.py",
            stage=1,
            summary="The command's output did not appear on stdout.",
            hint=["the pull went wrong", "Official images live under library/"],
            through=6,
        ),
        id="omits_library_prefix.py-stage-1",
    ),
]


def program_id(wrong: WrongProgram | object) -> str | None:
    return wrong.program if isinstance(wrong, WrongProgram) else None


@pytest.mark.parametrize("wrong", WRONG_PROGRAMS, ids=program_id)
def test_stage_rejects_wrong_program(grader: Grader, wrong: WrongProgram) -> None:
    grader.install(wrong.program)

    result = grader.run(*wrong.options, "-q")

    assert_rejected(result, wrong)
