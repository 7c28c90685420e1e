"""`python -m api.cli ...` is `fieldsurvey ...`."""

from api.cli import main

main(prog_name="fieldsurvey")
