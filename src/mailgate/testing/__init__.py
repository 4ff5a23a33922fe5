"""Helpers shipped for users' own tests."""

from mailgate.testing.memory import MemoryTransport
from mailgate.testing.smtpserver import ReceivedMessage, ScriptedSMTPServer

__all__ = ["MemoryTransport", "ReceivedMessage", "ScriptedSMTPServer"]
