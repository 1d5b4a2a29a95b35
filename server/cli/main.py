"""`robust-canvas` command line: training, evaluation, models, the tasks and the server."""
import argparse
import sys

from .features import add_features_parser
from .models import add_models_parser
from .serve import add_serve_parser
from .tasks import add_task_parsers
from .training import add_training_parsers
from .users import add_users_parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="robust-canvas", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    add_training_parsers(sub)
    add_task_parsers(sub)
    add_serve_parser(sub)
    add_users_parser(sub)
    add_models_parser(sub)
    add_features_parser(sub)
    return parser


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    args.argv = argv  # recorded in model cards: the command that reproduces a model
    try:
        return args.func(args)
    except (OSError, ValueError, KeyError) as e:  # OSError: unreadable inputs, unwritable outputs
        print(f"robust-canvas: error: {e}", file=sys.stderr)
        return 2
