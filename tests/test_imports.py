"""`import qa` must stay light: heavy libraries load on first use only."""

import subprocess
import sys

HEAVY = ("torch", "faiss", "sentence_transformers", "gradio", "transformers")


def test_import_qa_loads_no_heavy_library():
    code = ("import sys, qa, embeddings; heavy = %r; "
            "print(','.join(m for m in heavy if m in sys.modules))" % (HEAVY,))
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""


def test_public_names():
    import qa

    for name in ("answer", "Answer", "QA", "Settings", "QuestionError", "Citation"):
        assert hasattr(qa, name)
