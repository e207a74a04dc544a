"""The joiner's store volume fills up under load (issue 26 part 4, the joiner's side): a
real tmpfs of a few MiB as ``joiner_data_dir``, filled by another file while scores and
feedback flow. The joiner stops with exit code 4 and says what to fix; started again
while the volume is still full it refuses at once, the same way; once space is freed,
a joiner started again reads what was not committed and every label reaches
``labelled`` (none lost, re-emits byte-identical)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import isolated_settings, wait_for
from joiner_feed import (
    Feeder,
    await_every_label,
    check_labelled,
    expected,
    labelled_so_far,
    paired_plan,
    start_joiner,
)

from streams.dev.realbroker import RealBroker
from streams.feedback.health import EXIT_STORE

pytestmark = pytest.mark.realbroker

VOLUME_MIB = 48


@pytest.fixture
def small_volume(tmp_path: Path) -> Iterator[Path]:
    """A tmpfs of VOLUME_MIB, unmounted afterwards (skips where mounting is not allowed)."""
    where = tmp_path / "volume"
    where.mkdir()
    mount = ["mount", "-t", "tmpfs", "-o", f"size={VOLUME_MIB}m", "tmpfs", str(where)]
    if subprocess.run(mount, capture_output=True).returncode != 0:
        pytest.skip("this machine does not let the test mount a tmpfs")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


RESERVE_MIB = 8  # written before the joiner starts: space the test can always free


def _reserve(volume: Path) -> Path:
    """The ballast file, made with RESERVE_MIB before the joiner writes anything: if the
    joiner alone fills the volume, freeing the ballast still gives it room."""
    ballast = volume / "ballast"
    ballast.write_bytes(b"\0" * (RESERVE_MIB << 20))
    return ballast


def _fill(ballast: Path) -> None:
    """Append to the ballast until the volume has no space left. Called again after the
    joiner exits: closing RocksDB may free a little space, enough for the next start's
    write probe."""
    chunk = b"\0" * (1 << 16)
    with ballast.open("ab") as f:
        try:
            while True:
                f.write(chunk)
                f.flush()
        except OSError:
            pass


def test_a_full_store_volume_stops_the_joiner_and_nothing_is_lost(
    real_broker: RealBroker, small_volume: Path, tmp_path: Path
) -> None:
    s = isolated_settings(
        real_broker.bootstrap,
        topic_partitions=3,
        joiner_store="rocksdb://",
        joiner_data_dir=small_volume / "joiner",
    )
    log = tmp_path / "joiner.log"
    plan = paired_plan("full", 8_000, seed=4)
    feeder = Feeder(s, plan, 800.0)
    ballast = _reserve(small_volume)
    joiner = start_joiner(s, log)
    started = [joiner]
    try:
        feeder.start()
        wait_for(lambda: labelled_so_far(s) > 1_000, 90, "the joiner at work")
        _fill(ballast)
        assert joiner.wait(120) == EXIT_STORE, log.read_text()[-3000:]
        assert "cannot be written" in log.read_text()
        at_stop = labelled_so_far(s)
        assert at_stop < len(expected(plan)), "the stream outran the test: nothing to lose"

        _fill(ballast)
        started.append(again := start_joiner(s, log))  # still full: refused before it joins
        assert again.wait(60) == EXIT_STORE, log.read_text()[-3000:]
        assert labelled_so_far(s) == at_stop

        ballast.unlink()
        started.append(joiner := start_joiner(s, log))
        wait_for(feeder.done.is_set, 120, "every record sent")
        found = await_every_label(s, expected(plan), 180)
    finally:
        for process in started:
            process.terminate()
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:  # not to hide the failure that brought us here
                process.kill()
    re_emitted = check_labelled(found, expected(plan))
    print(f"\nlabels={len(found)} labelled at the stop={at_stop} re-emitted={re_emitted}")
