"""Helpers shipped for users' own tests."""

from mailgate.testing.smtpserver import ReceivedMessage, ScriptedSMTPServer

__all__ = ["ReceivedMessage", "ScriptedSMTPServer"]
