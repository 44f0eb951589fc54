"""The shape of the pose-reloc command line: help on every flag and command, one --providers for
every command that loads a model, each command's `run` beside its parser, and a parser that needs
none of the heavy libraries."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Iterator

import pytest

from pose_reloc.tools.cli import build_parser


def parsers(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """Every parser of the tree with its command path, the root first (path ())."""
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from parsers(sub, (*path, name))


def leaves() -> dict[str, argparse.ArgumentParser]:
    """The commands that run something ("evaluate fusion"), not the groups ("evaluate")."""
    return {
        " ".join(path): parser
        for path, parser in parsers(build_parser())
        if path and parser._subparsers is None
    }


def option(parser: argparse.ArgumentParser, flag: str) -> argparse.Action | None:
    return parser._option_string_actions.get(flag)


def test_the_tree_has_every_command():
    assert set(leaves()) == {
        "model-info",
        "record-accuracy",
        "map-site",
        "set-site",
        "build-retrieval",
        "synth",
        "train posenet",
        "train sun",
        "export",
        "evaluate posenet",
        "evaluate sun",
        "evaluate fusion",
        "evaluate vo",
        "evaluate site",
        "replay",
        "demo",
        "build-map",
        "benchmark posenet",
        "benchmark pnp",
    }


def undocumented(root: argparse.ArgumentParser) -> list[str]:
    """Every command without a help line or description, every flag or positional without help."""
    missing = []
    for path, parser in parsers(root):
        name = " ".join(("pose-reloc", *path))
        if path and not parser.description:
            missing.append(f"{name}: no description")
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                # argparse lists a sub-command among _choices_actions only when it has help=
                helps = {choice.dest: choice.help for choice in action._choices_actions}
                missing += [
                    f"{name} {command}: no help"
                    for command in action.choices
                    if not (helps.get(command) or "").strip()
                ]
            elif not (action.help or "").strip() or action.help == argparse.SUPPRESS:
                flag = "/".join(action.option_strings) or action.dest
                missing.append(f"{name} {flag}: no help")
        parser.format_help()  # a stray % in a help text fails here, not in front of a user
    return missing


def test_every_flag_and_command_has_help_text():
    assert undocumented(build_parser()) == []


def test_the_walk_catches_a_flag_or_command_without_help():
    parser = build_parser()
    tree = dict(parsers(parser))
    tree[("synth",)].add_argument("--undocumented")
    kinds = [a for a in tree[("evaluate",)]._actions if isinstance(a, argparse._SubParsersAction)]
    kinds[0].add_parser("bare")
    assert sorted(undocumented(parser)) == [
        "pose-reloc evaluate bare: no description",
        "pose-reloc evaluate bare: no help",
        "pose-reloc synth --undocumented: no help",
    ]


def loads_a_model(name: str, parser: argparse.ArgumentParser) -> bool:
    """A --model or model argument (record-accuracy only writes into its model), or the --posenet
    and --sun models of evaluate fusion. replay and demo hand their models to the nodes, which take
    their providers from the node parameters."""
    models = {"--model", "model", "--posenet", "--sun"} if name != "record-accuracy" else set()
    return any(models & {action.dest, *action.option_strings} for action in parser._actions)


def test_model_loading_commands_share_one_providers_flag():
    commands = leaves()
    loading = {name for name, parser in commands.items() if loads_a_model(name, parser)}
    assert loading == {
        "model-info",
        "evaluate posenet",
        "evaluate sun",
        "evaluate fusion",
        "benchmark posenet",
    }
    with_providers = {
        name: action for name, p in commands.items() if (action := option(p, "--providers"))
    }
    assert set(with_providers) == loading
    shapes = {
        name: json.dumps(
            {
                key: getattr(action, key)
                for key in ("dest", "nargs", "default", "choices", "type", "required", "help")
            },
            default=str,
        )
        for name, action in with_providers.items()
    }
    assert len(set(shapes.values())) == 1, shapes
    providers = with_providers["model-info"]
    assert providers.default == ["cpu"] and providers.nargs == "+"


def test_the_providers_help_names_the_aliases_onnx_session_knows():
    from pose_reloc.onnx_session import PROVIDER_ALIASES
    from pose_reloc.tools.cli.common import PROVIDERS_HELP

    assert all(alias in PROVIDERS_HELP for alias in PROVIDER_ALIASES)


def test_the_samples_flag_of_model_commands_is_the_same():
    commands = leaves()
    samples = {
        name: (action.default, action.type, action.help)
        for name, parser in commands.items()
        if name != "export" and (action := option(parser, "--samples")) is not None
    }
    assert set(samples) == {"evaluate posenet", "evaluate sun", "benchmark posenet"}
    assert len(set(samples.values())) == 1, samples


@pytest.mark.parametrize("name", sorted(leaves()))
def test_each_command_runs_a_function_beside_its_parser(name):
    run = leaves()[name].get_default("run")
    assert callable(run)
    module = "pose_reloc.tools.cli." + name.replace(" ", ".").replace("-", "_")
    assert (run.__module__, run.__name__) == (module, "run")


def test_the_command_line_needs_no_heavy_library():
    """torch, rclpy, matplotlib...: imported by a command's `run`, never to build the parser."""
    heavy = ["torch", "rclpy", "matplotlib", "onnxruntime", "cv2", "pycolmap"]
    probe = (
        "import sys\n"
        "from pose_reloc.tools.cli import build_parser\n"
        "build_parser().format_help()\n"
        f"print([m for m in {heavy!r} if m in sys.modules])\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("command_line", "expected"),
    [
        (
            "train sun --data d --out o",
            {"arch": "lite", "epochs": 30, "batch_size": 32, "lr": 2e-3, "input_size": [160, 120]}
            | {"seed": 0, "threads": 2, "overcast_weight": 0.1, "val": None},
        ),
        (
            "train posenet --data d --out o --loss beta --seed 3",
            {"loss": "beta", "pretrain_epochs": 10, "beta": 250.0, "init": None, "seed": 3},
        ),
        (
            "train posenet --data d --out o --loss anchors --anchor-spacing 8",
            {"loss": "anchors", "anchor_spacing": 8.0},
        ),
        (
            "evaluate posenet --model m --data d --out o",
            {"samples": 0, "providers": ["cpu"], "train": None},
        ),
        (
            "evaluate fusion --map m --data d --out o --providers cuda cpu",
            {"providers": ["cuda", "cpu"], "seed": 0, "drift_runs": 1, "map_fix_period_s": 0.0}
            | {"scene": "config/scenes/demo.yaml", "sun": None, "sun_stand_in_deg": None},
        ),
        (
            "demo",
            {"bag": "data/demo/kidnap_drive", "out": "out/demo", "gt_topic": "/ground_truth/pose"}
            | {"image_topic": "/camera/image_raw/compressed"}
            | {"camera_info_topic": "/camera/camera_info"},
        ),
        (
            "replay b --max-images 5",
            {"bag": "b", "out": "out/replay", "max_images": 5, "domain_id": None},
        ),
        (
            "benchmark posenet --model m",
            {"frames": 100, "samples": 0, "prior_source": "posenet", "retrieval_index": ""},
        ),
        ("export --checkpoint c --out o", {"samples": 32, "metrics": None}),
        (
            "build-map --data d --out o",
            {"descriptor": "orb", "stride": 1, "no_observations": False},
        ),
    ],
)
def test_command_lines_parse_to_the_same_values_as_before(command_line, expected):
    args = vars(build_parser().parse_args(command_line.split()))
    assert {key: args[key] for key in expected} == expected
