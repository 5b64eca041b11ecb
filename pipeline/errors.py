"""The one error type a user can cause, so the CLI can print it without a traceback."""


class PipelineError(Exception):
    """A problem the user can fix: a bad path, file, schema or parameter.

    The message says what is wrong and what to do about it.
    """
