"""Messaging errors shared by every bus adapter."""

from __future__ import annotations


class MessagingError(Exception):
    """Root of every error a bus adapter raises."""


class MessageLockLost(MessagingError):
    """The message's lock expired or it was settled already; another receiver may hold it now."""


class MessageTooLarge(MessagingError):
    """The message exceeds the queue's size limit."""
