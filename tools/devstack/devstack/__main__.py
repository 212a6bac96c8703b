"""`python -m devstack`: the same as the `devstack` command."""

from devstack.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
