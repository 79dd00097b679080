"""The one base of the errors that the server side and the tools raise for a user to act on.

Each error's message says what to do; `tritontts` prints it as one line, with no traceback,
and exits with the error's `exit_code`. The thin client has a hierarchy of its own
(`tritontts_client.errors.TTSError`), for the services that call a deployment.
"""

from __future__ import annotations


class TritonTTSError(Exception):
    """A failure with a known cause; the message says what to change or run."""

    exit_code = 1


class UsageError(TritonTTSError):
    """The command line or a configuration file asks for something that cannot be."""

    exit_code = 2


class MissingFileError(TritonTTSError, FileNotFoundError):
    """A file the command needs (a voice, an exported stage, a certificate) is not there."""

    exit_code = 2


class InvalidInputError(TritonTTSError, ValueError):
    """A request that cannot be synthesized as sent; reported as INVALID_ARG, never retried."""

    exit_code = 2
