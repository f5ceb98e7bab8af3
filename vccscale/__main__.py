"""`python -m vccscale` is the same as the `vccscale` command."""
from .cli import main

main(prog_name="vccscale")
