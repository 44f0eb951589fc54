"""`pose-reloc model-info MODEL`: load an ONNX model and print its inputs, outputs and metadata."""

from __future__ import annotations

import argparse
import json

from pose_reloc.tools.cli.common import Commands, add_command, add_providers_argument


def add_parser(commands: Commands) -> None:
    parser = add_command(commands, "model-info", "load an ONNX model and print its metadata")
    parser.add_argument("model", help="path of a .onnx model exported by pose-reloc")
    add_providers_argument(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from pose_reloc.onnx_session import load_model

    model = load_model(args.model, providers=args.providers)
    summary = {
        "path": str(model.path),
        "providers": model.providers,
        "inputs": [{"name": i.name, "shape": i.shape} for i in model.session.get_inputs()],
        "outputs": [{"name": o.name, "shape": o.shape} for o in model.session.get_outputs()],
        "metadata": json.loads(model.metadata.to_json()),
    }
    print(json.dumps(summary, indent=2))
    return 0
