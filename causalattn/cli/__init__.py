"""The ``causalattn`` command line. ``causalattn study`` is the main job; a bare ``causalattn`` prints help.

========================  ===================================================================
module                    contents
========================  ===================================================================
``parser``                :func:`build_parser`: every sub-command's flags, defaults and help
``options``               the checks of the flags, before any work (errors name the flag)
``study``                 ``causalattn study``: training and evaluation studies, the report
``ablate``                ``causalattn ablate``: head scan and ablations of a pretrained model
========================  ===================================================================

:func:`main` dispatches on the sub-command through :data:`COMMANDS`. The lab (and torch) is imported
inside the commands, so ``import causalattn`` and ``causalattn --help`` stay light.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from causalattn.cli import ablate, study
from causalattn.cli.parser import build_parser

__all__ = ["COMMANDS", "build_parser", "main"]

#: Sub-command name -> the function that runs it on the parsed arguments and returns the exit status.
COMMANDS = {"study": study.run, "ablate": ablate.run}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``causalattn`` console script; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        return COMMANDS[args.command](args)
    except KeyboardInterrupt:  # Ctrl-C: what is done is saved in the output folder
        print(f"\ncausalattn {args.command}: interrupted; run the same command again to resume", file=sys.stderr)
        return 130
    except ValueError as exc:  # bad options or a mismatched output folder: a message, not a traceback
        print(f"causalattn {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # e.g. a full disk while writing results: what is saved stays saved
        print(f"causalattn {args.command}: error: {exc}; fix it and run the same command again to resume",
              file=sys.stderr)
        return 1
