"""The log file (issue 25): patient names and IDs never written; a bug's traceback kept, not printed."""

from __future__ import annotations

import logging

import pytest

from planner import logs


@pytest.fixture
def log_file(tmp_path):
    logs.reset_logging()
    path = logs.setup_logging(tmp_path / "logs")
    yield path
    logs.reset_logging()


def test_patient_names_and_ids_are_kept_out_of_the_log(log_file):
    logs.protect("DOE^JANE MARIE", "PID-778899")
    logs.logger().warning("opened %s for %s", "PID-778899", "DOE^JANE MARIE")
    logging.getLogger("pydicom").warning("Invalid value for VR PN: 'SMITH^JOHN' and Marie")
    try:
        raise ValueError("patient PID-778899 JANE")
    except ValueError as exc:
        logs.log_unexpected(exc, "a test")
    text = log_file.read_text()
    for secret in ("DOE", "JANE", "MARIE", "Marie", "PID-778899", "SMITH^JOHN"):
        assert secret not in text, secret
    assert "<patient>" in text and "Traceback" in text and "ValueError" in text


def test_an_unexpected_error_in_the_cli_is_one_sentence_and_its_traceback_is_in_the_log(log_file, monkeypatch, capsys):
    from planner import cli
    def broken(_args):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(cli, "_info", broken)
    assert cli.main(["info", "anything"]) == 3
    err = capsys.readouterr().err
    assert "unexpected error (ZeroDivisionError)" in err and str(log_file) in err and "Traceback" not in err
    assert "ZeroDivisionError: a bug" in log_file.read_text()


def test_every_planner_error_is_one_family():
    import inspect

    from planner import errors
    classes = [c for _name, c in inspect.getmembers(errors, inspect.isclass) if issubclass(c, Exception)]
    assert len(classes) > 25
    assert all(issubclass(c, errors.PlannerError) for c in classes), [c for c in classes if not issubclass(c, errors.PlannerError)]
    # and none is defined anywhere else
    import pathlib
    import re

    root = pathlib.Path(errors.__file__).parent
    elsewhere = [str(p) for p in root.rglob("*.py") if p.name != "errors.py"
                 and re.search(r"^class \w+\((\w+Error|Exception|ValueError|PlannerError)[,)]", p.read_text(), re.M)]
    assert elsewhere == []
