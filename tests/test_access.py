"""Dashboard access (fail closed) and the one-at-a-time rerun queue."""

from __future__ import annotations

import threading
import tomllib

import pytest

from engine.access import (
    DEFAULT_MAX_KM2,
    Access,
    check_password,
    decide_access,
    rerun_size_error,
)
from engine.jobs import JobQueue

# ------------------------------------------------------------------ 1. the gate decision


def test_no_secrets_file_is_locked_and_says_how_to_open() -> None:
    access = decide_access(None)
    assert access.mode == "locked" and not access.broken
    assert access.reason == "no rerun_password or allow_anonymous_reruns is set"


def test_a_broken_file_is_locked_and_keeps_its_error_for_the_log() -> None:
    with pytest.raises(tomllib.TOMLDecodeError) as exc:
        tomllib.loads('rerun_password = "abc')
    access = decide_access(None, error=exc.value)
    assert access.mode == "locked" and access.broken
    assert "cannot be read" in access.reason and "Unterminated string" in access.detail
    # even with settings that would open it: a file that does not parse is not trusted
    assert decide_access({"allow_anonymous_reruns": True}, error="bad").mode == "locked"


@pytest.mark.parametrize(
    ("secrets", "reason"),
    [
        ({"rerun_pasword": "s3cret"},
         "unknown setting 'rerun_pasword' (did you mean 'rerun_password'?)"),
        ({"Rerun_Password": "s3cret"}, "did you mean 'rerun_password'?"),
        ({"allow_anonymous_rerun": True}, "did you mean 'allow_anonymous_reruns'?"),
        ({"rerun_password": ""}, "rerun_password is empty or not a string"),
        ({"rerun_password": "   "}, "rerun_password is empty or not a string"),
        ({"rerun_password": 1234}, "rerun_password is empty or not a string"),
        ({"rerun_password": "", "allow_anonymous_reruns": True}, "rerun_password is empty"),
        ({"allow_anonymous_reruns": "true"}, "allow_anonymous_reruns is 'true', not true or false"),
        ({"allow_anonymous_reruns": False}, "no rerun_password or allow_anonymous_reruns is set"),
        ({"other": 1}, "no rerun_password or allow_anonymous_reruns is set"),
        ({"allow_anonymous_reruns": True, "rerun_max_km2": -1}, "rerun_max_km2 is -1"),
        ({"allow_anonymous_reruns": True, "rerun_max_km2": "big"}, "not a positive number"),
    ],
)  # fmt: skip
def test_misspelt_empty_or_mistyped_settings_stay_locked(secrets: dict, reason: str) -> None:
    access = decide_access(secrets)
    assert access.mode == "locked"
    assert reason in access.reason
    assert not check_password(access, str(secrets.get("rerun_password", "")))


def test_a_password_is_required_when_set_even_with_anonymous_allowed() -> None:
    for secrets in ({"rerun_password": "s3cret"},
                    {"rerun_password": "s3cret", "allow_anonymous_reruns": True}):  # fmt: skip
        access = decide_access(secrets)
        assert access.mode == "password" and access.reason == ""
        assert check_password(access, "s3cret")
        assert not check_password(access, "s3cret ") and not check_password(access, "")
        assert "s3cret" not in repr(access)  # the password never reaches a log line


def test_non_ascii_passwords_compare_without_error() -> None:
    access = decide_access({"rerun_password": "pässwörd"})
    assert check_password(access, "pässwörd") and not check_password(access, "passwort")


def test_the_token_changes_with_the_password() -> None:
    one, two = decide_access({"rerun_password": "a"}), decide_access({"rerun_password": "b"})
    assert one.token and one.token != two.token
    assert one.token == decide_access({"rerun_password": "a"}).token


def test_anonymous_reruns_open_only_when_explicitly_true() -> None:
    access = decide_access({"allow_anonymous_reruns": True, "rerun_max_km2": 100})
    assert access.mode == "open" and access.max_km2 == 100.0
    assert not check_password(access, "anything")  # open needs no password; none is checked


# ------------------------------------------------------------------ 2. the size limit


def test_the_limit_is_on_scheduled_tiles_not_on_the_region() -> None:
    access = Access("open", max_km2=DEFAULT_MAX_KM2)
    assert rerun_size_error(4, 4 * 625.0, access) is None  # four default tiles: allowed
    message = rerun_size_error(81, 81 * 625.0, access)
    assert message is not None
    assert message.startswith("The region schedules 81 new tiles covering 50,625 km²")
    assert "limited to 2,500 km²" in message
    assert rerun_size_error(1, 101.0, Access("open", max_km2=100.0)) is not None


# ------------------------------------------------------------------ 3. the rerun queue


def test_queue_runs_one_job_at_a_time_in_order() -> None:
    queue = JobQueue()
    release = threading.Event()
    started = threading.Event()
    order: list[str] = []
    running_together: list[int] = []
    active = [0]

    def work(name: str, block: bool):
        def run(progress):
            active[0] += 1
            running_together.append(active[0])
            order.append(name)
            progress(1, 2)
            if block:
                started.set()
                assert release.wait(30)
            active[0] -= 1
            return name.upper()

        return run

    first = queue.submit("first", work("first", True), total=2)
    assert started.wait(30)
    second = queue.submit("second", work("second", False))
    third = queue.submit("third", work("third", False))
    assert first.status == "running" and queue.position(first) == 1
    assert second.status == "queued" and queue.position(second) == 2
    assert queue.position(third) == 3
    assert [j.label for j in queue.jobs()] == ["first", "second", "third"]
    assert (first.done, first.total) == (1, 2)
    release.set()
    for job in (first, second, third):
        queue.wait(job, timeout=30)
    assert [j.result for j in (first, second, third)] == ["FIRST", "SECOND", "THIRD"]
    assert order == ["first", "second", "third"] and max(running_together) == 1
    assert queue.position(third) is None and queue.jobs() == []


def test_a_failed_job_reports_its_error_and_the_queue_goes_on() -> None:
    from engine.errors import InputError

    queue = JobQueue()

    def bad(progress):
        raise InputError("region", "does not overlap dataset 'demo'")

    def broken(progress):
        raise ZeroDivisionError("division by zero")

    failed = queue.wait(queue.submit("bad", bad), timeout=30)
    crashed = queue.wait(queue.submit("broken", broken), timeout=30)
    after = queue.wait(queue.submit("ok", lambda progress: 1), timeout=30)
    assert failed.status == "failed" and failed.error == "region: does not overlap dataset 'demo'"
    assert crashed.error == "ZeroDivisionError: division by zero"
    assert after.status == "finished" and after.result == 1
