"""The ``levent`` command and the sample registry behind it."""

from __future__ import annotations

import importlib
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import levent
from levent.cli import main
from levent.samples import SAMPLE_MODULES, Sample, load_samples

SRC = str(Path(__file__).resolve().parent.parent / "src")
NAMES = [
    "time-test",
    "signal-test",
    "event-read-fifo",
    "hello-world",
    "event-server",
    "echo-server",
    "proxy",
    "http-server",
    "ws-chat",
    "http-get",
    "dns",
]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = SRC + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run(
        [sys.executable, *args],
        capture_output=True,
        text=True,
        timeout=30,
        env=env,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def test_every_sample_module_registers_a_sample_named_after_it() -> None:
    samples = load_samples()
    assert [s.name for s in samples] == NAMES
    for module_name, sample in zip(SAMPLE_MODULES, samples, strict=True):
        assert isinstance(sample, Sample)
        assert sample.name.replace("-", "_") == module_name
        module = importlib.import_module(f"levent.samples.{module_name}")
        assert module.__doc__, f"{module_name} needs a docstring citing its C original"
        assert callable(module.main)


def test_help_lists_every_sample(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for name in NAMES:
        assert name in out


def test_version_names_levent_and_the_libevent_api(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    out = capsys.readouterr().out
    assert out.strip() == f"levent {levent.__version__} (libevent {levent.get_version()} API)"


def test_given_no_sample_main_prints_usage_and_returns_2(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main([]) == 2
    assert "usage: levent" in capsys.readouterr().err


def test_given_an_unknown_sample_main_returns_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["no-such-sample"]) == 2
    assert "invalid choice" in capsys.readouterr().err


def test_given_a_bad_option_main_returns_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["time-test", "--count", "many"]) == 2
    assert "--count" in capsys.readouterr().err


@pytest.mark.parametrize("name", NAMES)
def test_sample_help_shows_its_description(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([name, "--help"]) == 0
    assert name in capsys.readouterr().out


def test_main_runs_a_sample_in_process_and_restores_sigint(
    capsys: pytest.CaptureFixture[str],
) -> None:
    before = signal.getsignal(signal.SIGINT)
    assert main(["time-test", "-p", "--count", "2", "--interval", "0.01"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    assert all(line.startswith("timeout_cb called at ") for line in lines)
    assert signal.getsignal(signal.SIGINT) is before


@pytest.mark.parametrize(
    ("option", "value"), [("--count", "0"), ("--interval", "0"), ("--interval", "nan")]
)
def test_time_test_refuses_a_useless_count_or_interval(
    option: str, value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["time-test", option, value]) == 2
    assert option in capsys.readouterr().err


def test_python_dash_m_levent_is_the_levent_command() -> None:
    result = _run("-m", "levent", "--help")
    assert result.returncode == 0
    assert all(name in result.stdout for name in NAMES)
    result = _run("-m", "levent", "--version")
    assert result.returncode == 0
    assert result.stdout.startswith("levent ")


@pytest.mark.parametrize("module", SAMPLE_MODULES)
def test_each_sample_runs_as_python_dash_m(module: str) -> None:
    result = _run("-m", f"levent.samples.{module}", "--help")
    assert result.returncode == 0, result.stderr
    assert f"python -m levent.samples.{module}" in result.stdout
    assert result.stderr == ""  # no runpy warning about a module imported twice


def test_the_console_script_runs() -> None:
    script = shutil.which("levent")
    if script is None:
        pytest.skip("the levent console script is not on PATH (package not installed)")
    result = subprocess.run(
        [script, "time-test", "--count", "1", "--interval", "0.01"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("timeout_cb called at ")
