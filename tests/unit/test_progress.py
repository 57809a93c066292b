"""Progress of long CLI work: one line rewritten in place on a terminal, nothing at all anywhere else."""

import io
import shutil
import sys
from pathlib import Path

import pytest

from breachwire import progress
from breachwire.cli import main
from breachwire.progress import Progress
from runtime import resources


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_sees_the_count_rewritten_in_place_and_the_line_ended(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(progress, "EVERY_S", 0)
    screen = Terminal()
    with Progress("replaying dead notices", 4, screen) as bar:
        assert list(bar.over("abcd")) == list("abcd")
    text = screen.getvalue()
    assert text.startswith("\rreplaying dead notices: 1/4 (25%)")
    assert text.endswith("\rreplaying dead notices: 4/4 (100%)\n")
    assert "\n" not in text[:-1]  # one line, redrawn


def test_a_pipe_or_log_gets_nothing() -> None:
    piped = io.StringIO()
    with Progress("replaying dead notices", 3, piped) as bar:
        assert list(bar.over(range(3))) == [0, 1, 2]
    assert bar.done == 3 and piped.getvalue() == ""


def test_nothing_counted_draws_nothing() -> None:
    screen = Terminal()
    with Progress("exporting", stream=screen):
        pass
    assert screen.getvalue() == ""


def test_datamap_import_counts_customers_on_a_terminal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    map_dir = tmp_path / "datamap"
    shutil.copytree(resources.example_datamap(), map_dir)
    source = tmp_path / "new.csv"
    source.write_text("id,name,region,country,privacy_email\nn1,N1,eu,DE,p@n1.example\nn2,N2,eu,DE,p@n2.example\n")
    screen = Terminal()
    monkeypatch.setattr(sys, "stderr", screen)
    assert main(["datamap", "import", str(source), "--datamap", str(map_dir)]) == 0
    assert "imported 2 customers" in capsys.readouterr().out  # what the command prints is unchanged
    lines = screen.getvalue().split("\n")
    assert lines[0].endswith("reading new.csv: 2")
    assert lines[1].endswith("checking the whole map: 37")  # the 35 example customers and the 2 new ones
