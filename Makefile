# Gantry: the two commands of the README are `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PLUGINS := $(sort $(wildcard plugins/*))
# The demo de-identifies pydicom's bundled test files unless SRC is given.
SRC    ?=
OUT    ?= demo-out
APT_PACKAGES := tesseract-ocr tesseract-ocr-eng chromium chromium-driver libgdcm-tools orthanc dcmtk \
                dicom3tools
# What the container image needs at run time (see Dockerfile): OCR and the GDCM tools.
APT_RUNTIME  := tesseract-ocr tesseract-ocr-eng libgdcm-tools
# one command each package above provides: system-deps installs when any is missing
APT_COMMANDS := tesseract chromium chromedriver gdcmanon Orthanc storescp dciodvfy

.PHONY: install install-runtime runtime-deps system-deps demo test test-fast lint build clean \
        screenshots

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

## install: the kernel, every plugin (editable) and the test tools, in ./.venv
install: $(BIN)/python
	$(BIN)/python -m pip install -q -e ".[test,codecs]" $(foreach p,$(PLUGINS),-e "$(p)[test]")
	@# editable installs get no bytecode from pip; without it every run compiles our modules
	$(BIN)/python -m compileall -q gantry $(foreach p,$(PLUGINS),$(p)/src) >/dev/null

## install-runtime: the kernel and every plugin (not editable, no test tools), with the image
## codecs (pylibjpeg, imagecodecs, python-gdcm), in $(VENV); the Dockerfile's install step
install-runtime: $(BIN)/python
	$(BIN)/python -m pip install -q --no-cache-dir ".[codecs]" "python-gdcm>=3.0" \
	    $(foreach p,$(PLUGINS),./$(p))
	$(BIN)/python -m compileall -q $(VENV)/lib >/dev/null

## runtime-deps: the Debian packages of the image (tesseract, gdcm tools); root
runtime-deps:
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	    --no-install-recommends $(APT_RUNTIME) >/dev/null && rm -rf /var/lib/apt/lists/*

## system-deps: Debian packages the component tests and bench use (tesseract, chromium and
## chromium-driver, gdcm, Orthanc, dcmtk, dicom3tools' dciodvfy); root
system-deps:
	@missing=0; for c in $(APT_COMMANDS); do command -v $$c >/dev/null 2>&1 || missing=1; done; \
	if [ $$missing = 1 ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	      --no-install-recommends $(APT_PACKAGES) >/dev/null; \
	  else echo "install as root: apt-get install $(APT_PACKAGES)"; exit 1; fi; \
	fi

## demo: install everything, then de-identify a folder of DICOM on the SQLite default
demo: install
	@src="$(SRC)"; if [ -z "$$src" ]; then src=$$($(BIN)/python -c "import os, pydicom.data; print(os.path.dirname(pydicom.data.get_testdata_file('CT_small.dcm')))"); fi; \
	echo "gantry deidentify $$src $(OUT)"; \
	$(BIN)/gantry deidentify "$$src" "$(OUT)"; code=$$?; \
	echo "exit code $$code (0 ok, 3 = some inputs were not DICOM and were skipped: gantry status $(OUT) --rejected)"; \
	$(BIN)/gantry plugins; \
	[ $$code -eq 0 ] || [ $$code -eq 3 ]

## test: the whole suite (fast, slow and component tests) on 2 workers
test: install system-deps
	$(BIN)/python -m pytest -n 2 -q

## test-fast: skip slow and component tests
test-fast: install
	$(BIN)/python -m pytest -n 2 -q -m "not slow and not component"

## screenshots: a PNG of every page of gantry web, in docs/web/ (chromium, chromium-driver)
screenshots: install system-deps
	$(BIN)/python bench/web_screenshots.py --out docs/web

lint: install
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) dist build $(OUT)
