"""One table from the stages' errors to the command line's exit codes and messages."""

import pytest

from ui.cli.errors import BUSY, INDEX, USAGE, exit_code, fail


def _errors():
    from embeddings.corpus.lock import BuildBusyError
    from embeddings.store import StoreSpecError
    from embeddings.store.manifest import IndexLoadError
    from embeddings.text.read import CorpusError
    from qa.api import QuestionError
    from qa.training.datasets import EvalError

    return [(BuildBusyError("another build is running"), BUSY), (StoreSpecError("unknown store 'x'"), USAGE),
            (IndexLoadError("no index at /tmp/none"), INDEX), (CorpusError("a.txt: empty"), USAGE),
            (QuestionError("the question is empty"), USAGE), (EvalError("not a JSONL file"), USAGE)]


@pytest.mark.parametrize("case", range(6))
def test_each_error_has_its_exit_code(case):
    error, code = _errors()[case]
    assert exit_code(error) == code


def test_fail_prints_one_line_naming_the_command(capsys):
    from embeddings.store.manifest import IndexLoadError

    assert fail("ask", IndexLoadError("no index at /tmp/none; build it with: aluqa build")) == INDEX
    assert capsys.readouterr().err == "aluqa ask: no index at /tmp/none; build it with: aluqa build\n"
    assert fail("add", IndexLoadError("damaged"), INDEX, "the index could not be rebuilt") == INDEX
    assert capsys.readouterr().err == "aluqa add: the index could not be rebuilt: damaged\n"
    assert fail("serve", "--auth must be USER:PASSWORD") == USAGE


def test_eval_set_reads_booleans_numbers_and_refuses_what_is_not_a_setting():
    import argparse

    from ui.cli.main import _settings

    def read(*items):
        return _settings(argparse.Namespace(set=list(items)))

    settings = read("selector_stops_early=false", "span_threshold=0", "selector_candidates=5")
    assert settings.selector_stops_early is False and settings.span_threshold == 0.0
    assert settings.selector_candidates == 5
    assert read("selector_stops_early=True").selector_stops_early is True
    with pytest.raises(SystemExit, match="selector_stops_early=true or selector_stops_early=false"):
        read("selector_stops_early=maybe")
    with pytest.raises(SystemExit, match="not a tunable setting"):
        read("index_dir=/tmp")
