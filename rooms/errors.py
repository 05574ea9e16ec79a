"""Domain errors, split by audience.

- ``NotPermitted``: the request is understandable but not allowed now; the client
  is told the code and a safe message, and nothing changes.
- ``ProtocolViolation``: no honest client sends this (it names a command its role
  cannot have, or malformed values); the adapter answers and disconnects.
Anything else raised from ``rooms`` is a bug.
"""


class DomainError(Exception):
    """Base of the errors a command may be refused with; carries a wire code."""

    code = "not_permitted"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class NotPermitted(DomainError):
    """Refused with a message the client may read; the case is unchanged."""

    code = "not_permitted"


class CaseClosed(NotPermitted):
    """A closed case accepts no command but reading the outcome."""

    code = "case_closed"


class ProtocolViolation(DomainError):
    """The client is broken or hostile: refuse and disconnect it."""

    code = "invalid"
