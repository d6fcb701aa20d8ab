"""Hand-assembled contracts for the EVM tests: no compiler needed."""

from __future__ import annotations


def _copy_then(opcode: int, payload: bytes) -> bytes:
    """Code that copies ``payload`` (appended to it) into memory, then RETURNs or REVERTs it."""
    size = len(payload)
    assert size < 256
    # PUSH1 size, PUSH1 offset(12), PUSH1 0, CODECOPY, PUSH1 size, PUSH1 0, <opcode>, then payload.
    return bytes([0x60, size, 0x60, 12, 0x60, 0, 0x39, 0x60, size, 0x60, 0, opcode]) + payload


def deploying(runtime: bytes) -> bytes:
    """Creation code whose deployed code is ``runtime``."""
    return _copy_then(0xF3, runtime)


def reverting_with(payload: bytes) -> bytes:
    """Runtime code that reverts every call with ``payload`` (empty: a bare ``revert()``)."""
    return _copy_then(0xFD, payload) if payload else bytes([0x60, 0, 0x60, 0, 0xFD])


def returning(payload: bytes) -> bytes:
    """Runtime code that returns ``payload`` to every call."""
    return _copy_then(0xF3, payload)
