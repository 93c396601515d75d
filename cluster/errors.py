"""Errors the CLI turns into one line and a non-zero exit code."""

from __future__ import annotations


class UserError(Exception):
    """Something the user can fix (bad argument, missing file, invalid config). Exit code 2."""

    exit_code = 2


class OperationError(Exception):
    """Something went wrong doing what the user asked (cluster unreachable, ...). Exit code 1."""

    exit_code = 1
