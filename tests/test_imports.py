"""The question path stays light: heavy libraries load only where they are needed.

`import qa`, `from qa import answer` and `aluqa --help` import none of them;
with the index built, `aluqa ask` and `QA().ask(q)` answer through ONNX
Runtime and never import torch, transformers, sentence-transformers or gradio.
Each check runs in a fresh interpreter, as a user's process starts.
"""

import subprocess
import sys

import pytest

from conftest import ROOT

HEAVY = ("torch", "faiss", "sentence_transformers", "gradio", "transformers")
# What a question may not load even once the index and the encoder are in use.
NOT_FOR_QUESTIONS = ("torch", "transformers", "sentence_transformers", "gradio")
QUESTION = "2022年百色市铝产业总产值是多少？"
LOADED = "print('LOADED', ','.join(m for m in {names!r} if m in sys.modules))"


def _run(code: str, *args: str) -> subprocess.CompletedProcess:
    # cwd=ROOT puts this checkout first on sys.path, as `python -m qa` run from it does.
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=600)


def _loaded(result: subprocess.CompletedProcess) -> list[str]:
    assert result.returncode == 0, result.stderr
    line = next(line for line in result.stdout.splitlines() if line.startswith("LOADED"))
    return [name for name in line.removeprefix("LOADED").strip().split(",") if name]


def test_import_qa_loads_no_heavy_library():
    code = "import sys, qa, embeddings\nfrom qa import answer\n" + LOADED.format(names=HEAVY)
    assert _loaded(_run(code)) == []


def test_help_loads_no_heavy_library():
    code = ("import sys\nfrom ui.cli import main\n"
            "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "try:\n    main(['ask', '--help'])\nexcept SystemExit:\n    pass\n" + LOADED.format(names=HEAVY))
    result = _run(code)
    assert "usage: aluqa" in result.stdout
    assert _loaded(result) == []


def test_public_names():
    import qa

    for name in ("answer", "Answer", "QA", "Settings", "QuestionError", "Citation"):
        assert hasattr(qa, name)


@pytest.mark.slow
def test_ask_answers_without_torch_transformers_or_gradio(real_qa):
    # real_qa has built the index of seeds/ and the ONNX export, as `make index` does.
    code = ("import sys\nfrom ui.cli import main\nstatus = main(['ask', sys.argv[1]])\n"
            + LOADED.format(names=NOT_FOR_QUESTIONS) + "\nsys.exit(status)")
    result = _run(code, QUESTION)
    assert "1045亿元" in result.stdout
    assert _loaded(result) == []


@pytest.mark.slow
def test_api_answers_without_torch_transformers_or_gradio(real_qa):
    code = ("import sys\nfrom qa import QA\nreply = QA().ask(sys.argv[1])\nprint(reply.sentence)\n"
            + LOADED.format(names=NOT_FOR_QUESTIONS))
    result = _run(code, QUESTION)
    assert "1045亿元" in result.stdout
    assert _loaded(result) == []


@pytest.mark.slow
def test_ask_prints_only_the_answer(real_qa):
    """No progress bar, log line or library warning around the answer of `aluqa ask`."""
    result = subprocess.run([sys.executable, "-m", "qa", "ask", QUESTION], capture_output=True, text=True,
                            cwd=ROOT, timeout=600)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    lines = result.stdout.splitlines()
    assert len(lines) == 2 and "1045亿元" in lines[0] and lines[1].startswith("— ")


# The stages in flow order: a module may import its own stage and earlier ones only.
STAGES = ("embeddings", "qa", "ui")
# Entry points, not stage code: `python -m qa` runs the command line, which sits above every stage.
ENTRY_POINTS = {"qa/__main__.py"}


def _imported_packages(path) -> set[str]:
    import ast

    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_no_stage_imports_a_later_stage_or_the_command_line():
    upward = []
    for position, stage in enumerate(STAGES):
        later = set(STAGES[position + 1:])
        for path in sorted((ROOT / stage).rglob("*.py")):
            relative = path.relative_to(ROOT).as_posix()
            if relative in ENTRY_POINTS:
                continue
            upward += [f"{relative} imports {name}" for name in _imported_packages(path) & later]
    assert upward == []


def test_one_module_reads_aluqa_variables():
    import re

    # os.environ.get("ALUQA_X"), os.environ["ALUQA_X"], os.getenv("ALUQA_X"), and reads by a name built at run time.
    read = re.compile(r"""(environ\.get|environ\[|getenv)\(?\s*(f?["']ALUQA_|name\b)""")
    readers = [path.relative_to(ROOT).as_posix() for stage in STAGES for path in sorted((ROOT / stage).rglob("*.py"))
               if read.search(path.read_text(encoding="utf-8"))]
    assert readers == ["qa/settings.py"]


def test_every_import_of_a_project_name_finds_it():
    """Imports inside functions (kept lazy for start-up time) run only when called: check them all here.

    A name moved from one module to another breaks such an import silently
    until someone runs that function, a benchmark say.
    """
    import ast
    import importlib

    project = ("qa", "embeddings", "ui", "bench")
    missing = []
    for package in project:
        for path in sorted((ROOT / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if not (isinstance(node, ast.ImportFrom) and node.level == 0 and node.module
                        and node.module.split(".")[0] in project):
                    continue
                module = importlib.import_module(node.module)
                for alias in node.names:
                    if alias.name != "*" and not hasattr(module, alias.name):
                        try:
                            importlib.import_module(f"{node.module}.{alias.name}")
                        except ImportError:
                            missing.append(f"{path.relative_to(ROOT)}:{node.lineno}: {node.module}.{alias.name}")
    assert not missing
