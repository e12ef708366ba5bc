# fmd: the two commands a newcomer needs are `make` (set up, then the main job) and `make test`.
# Every target does its own set-up; re-running one when nothing changed takes seconds.

SHELL := /bin/bash
VENV  ?= .venv
PYTHON ?= python3
PY    := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Debian's copy of the data; FMD_SYSTEM_DATA_DIR moves it (fmd_utils/data.py), as a test of a machine without it does
DEBIAN_DATA := $(or $(FMD_SYSTEM_DATA_DIR),/usr/share/datasets/fashion-mnist)
export PIP_DISABLE_PIP_VERSION_CHECK := 1

NOTEBOOKS_MD    := $(wildcard notebooks/*.md)
NOTEBOOKS_IPYNB := $(NOTEBOOKS_MD:.md=.ipynb)

.PHONY: all setup data notebooks student lab book browser test-book test test-unit test-notebooks lint test-slow train train-fast train-quick evaluate evaluate-fast train-dit evaluate-dit train-gpu evaluate-gpu gpu-check samples clean help

all: book samples ## set up, then the main job: build the book (book/_build/html/index.html) and a sample grid

help:  ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

# ----------------------------------------------------------------------------------------------- set-up
$(STAMP): requirements.txt pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null \
	    || { echo "fmd needs Python 3.11 or newer, and '$(PYTHON)' is not one: run make PYTHON=python3.11"; exit 1; }
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@echo "Installing pinned dependencies into $(VENV) (first time: a few minutes)..."
	@$(PY) -m pip install --quiet --upgrade pip 2>&1 | grep -v "is ignored: it is neither" || true
	@set -o pipefail; $(PY) -m pip install --quiet -r requirements.txt 2>&1 | { grep -v "is ignored: it is neither" || true; }
	@set -o pipefail; $(PY) -m pip install --quiet --no-deps --no-build-isolation -e . 2>&1 | { grep -v "is ignored: it is neither" || true; }
	@touch $@

setup: $(STAMP) data ## create .venv with the pinned dependencies and install the data

data: $(STAMP) ## make Fashion-MNIST available: FMD_DATA_DIR, Debian's package (installed when root), else a checked download
	@if [ -z "$$FMD_DATA_DIR" ] && ! [ -f $(DEBIAN_DATA)/train-images-idx3-ubyte.gz ] && [ "$$(id -u)" = 0 ] \
	    && command -v apt-get >/dev/null; then \
	    echo "Data: installing Debian package dataset-fashion-mnist..."; \
	    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist >/dev/null; } \
	        || echo "Data: apt-get could not install it; looking elsewhere"; \
	fi
	@$(PY) -m fmd_utils.fetch

# ----------------------------------------------------------------------------------------------- notebooks
# The learner's edition of each chapter (JupyterLab, the book, nbval): every exercise a stub with its check, and the
# solution folded below it; written from the MyST source, where the solutions sit between ### BEGIN/END SOLUTION.
notebooks/%.ipynb: notebooks/%.md fmd_utils/exercises/editions.py | $(STAMP)
	$(PY) -m fmd_utils.exercises edition learner $< $@

notebooks: $(NOTEBOOKS_IPYNB) ## generate the learner's .ipynb of each chapter from its MyST source

student: setup ## a teacher's handout: the chapters with their exercises as stubs and no solutions, in student/
	$(PY) -m fmd_utils.exercises student student $(NOTEBOOKS_MD)
	@echo "Student notebooks in student/; grade one with: $(PY) -m fmd_utils.exercises grade student/02_forward_diffusion.ipynb"

# JupyterLab listens on this machine only, with a fresh login token (printed in the URL); as root it needs
# --allow-root, and this Makefile runs as root when it installs with apt-get.
LAB_FLAGS := --ServerApp.ip=127.0.0.1 $(if $(filter 0,$(shell id -u)),--allow-root,)
lab: setup notebooks ## open the notebooks in JupyterLab (localhost, with a token)
	$(VENV)/bin/jupyter lab $(LAB_FLAGS) notebooks/

# ----------------------------------------------------------------------------------------------- book
# jupyter-cache re-runs a notebook when its code cells change, and Sphinx re-reads a page when its source changes;
# neither can see the package or the checkpoints the notebooks import, so a change to those starts a clean build.
BOOK_INPUTS := $(wildcard fmd_utils/*.py fmd_utils/*/*.py) $(wildcard checkpoints/*.pt) results/metrics.md book/_config.yml book/_ext/offline.py \
               $(wildcard book/_generator/*)
book/_build/.inputs-stamp: $(BOOK_INPUTS)
	rm -rf book/_build
	@mkdir -p book/_build && touch $@

# the in-browser generator's weights, exported from the shipped checkpoints (python -m fmd_utils.web)
book/_generated/fmd-model.js: $(wildcard checkpoints/*.pt) $(wildcard fmd_utils/*.py fmd_utils/*/*.py) | $(STAMP)
	$(PY) -m fmd_utils.web --out book/_generated

book: setup notebooks book/_build/.inputs-stamp book/_generated/fmd-model.js ## build the static book (offline) into book/_build/html
	bash book/vendor.sh
	TQDM_DISABLE=1 FMD_STATIC_PLAYERS=1 $(VENV)/bin/jupyter-book build book --warningiserror --keep-going
	@echo "Book built: open book/_build/html/index.html"

# ----------------------------------------------------------------------------------------------- tests
test: test-unit test-slow test-notebooks ## run the test suite: fast unit tests, the slow tier, every notebook (nbval)

test-unit: setup ## the fast tier: unit tests without training, evaluation and the command lines' end-to-end runs
	$(PY) -m pytest tests -m "not book and not slow"

test-slow: setup ## the slow tier: training, evaluation, command lines end to end, the seed project's calls
	$(PY) -m pytest tests -m "slow and not book"

test-book: book browser notebooks ## build the book, then check every page in headless Chromium (offline, sliders, maths)
	$(PY) -m pytest tests -m book

browser: ## make sure Debian's chromium is installed (for test-book)
	@if command -v chromium >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "Installing Debian's chromium for the browser test..."; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else echo "Chromium missing: sudo apt-get install chromium"; exit 1; fi

test-notebooks: setup notebooks ## notebooks only (nbval)
	$(PY) -m pytest --nbval-lax --nbval-cell-timeout=600 -p no:cacheprovider notebooks/

lint: $(STAMP) ## ruff
	$(VENV)/bin/ruff check fmd_utils tests

# ----------------------------------------------------------------------------------------------- models
train: setup ## retrain all shipped checkpoints from scratch (full profile) into checkpoints/
	$(PY) -m fmd_utils.train all --profile full --out checkpoints

train-fast: setup ## the fast profile (the notebooks' RETRAIN; about 5 minutes for autoencoder + denoiser) into build/fast
	$(PY) -m fmd_utils.train autoencoder --profile fast --out build/fast
	$(PY) -m fmd_utils.train diffusion --profile fast --out build/fast
	cp checkpoints/classifier.pt build/fast/classifier.pt

evaluate-fast: setup ## measure the fast profile's models (make train-fast first): results/fast/metrics.md
	$(PY) -m fmd_utils.evaluate --checkpoints build/fast --out results/fast/metrics.json --no-sweeps --readme book/results.md

train-quick: setup ## a tiny end-to-end training run (seconds) into build/quick
	$(PY) -m fmd_utils.train all --profile quick --out build/quick

evaluate: setup ## measure the shipped models: results/metrics.{json,md}, the README's headline and book/results.md
	$(PY) -m fmd_utils.evaluate --out results/metrics.json --readme README.md --readme book/results.md

train-dit: setup ## the second denoiser: a small DiT trained like the shipped UNet, into checkpoints/diffusion-dit.pt
	$(PY) -m fmd_utils.train diffusion --denoiser dit --profile full --out checkpoints

evaluate-dit: setup ## measure the DiT beside the UNet: results/dit/metrics.md and its blocks in book/results.md
	$(PY) -m fmd_utils.evaluate --denoiser dit --sweeps guidance --no-flow --out results/dit/metrics.json --readme book/results.md

GPUS ?= 1
TORCHRUN = $(PY) -m torch.distributed.run --standalone --nproc_per_node=$(GPUS)
train-gpu: setup ## on CUDA GPUs: the gpu profile (autoencoder and latent models, 100 epochs, wider, mixed precision) on GPUS=N of them, into build/gpu
	$(TORCHRUN) -m fmd_utils.train autoencoder --profile gpu --device cuda --out build/gpu
	$(TORCHRUN) -m fmd_utils.train diffusion --profile gpu --device cuda --out build/gpu
	$(TORCHRUN) -m fmd_utils.train flow --profile gpu --device cuda --out build/gpu
	cp checkpoints/classifier.pt build/gpu/classifier.pt

evaluate-gpu: setup ## measure the gpu profile's models on the GPU, with the shipped judge (make train-gpu first): results/gpu/metrics.md
	$(PY) -m fmd_utils.evaluate --checkpoints build/gpu --device cuda --out results/gpu/metrics.json

gpu-check: setup ## on a CUDA GPU: train, sample and evaluate there against the CPU, timed (results/gpu/check.md, book/appendix_package.md)
	$(PY) -m fmd_utils.gpu_check --out results/gpu/check.json --readme book/appendix_package.md

samples: setup ## write results/samples_grid.png from the shipped checkpoints
	$(PY) -m fmd_utils.grids --out results

clean: ## remove build outputs (keeps .venv, checkpoints and results)
	rm -rf build book/_build .pytest_cache student
