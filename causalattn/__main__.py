"""``python -m causalattn``: the same as the ``causalattn`` console script."""

from causalattn.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
