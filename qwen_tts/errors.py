"""Errors the engine raises for bad input or bad checkpoints. All are ``ValueError`` subclasses."""

from __future__ import annotations


class EngineInputError(ValueError):
    """A request the engine cannot serve as asked."""


class UnknownSpeakerError(EngineInputError):
    pass


class UnknownLanguageError(EngineInputError):
    pass


class EmptyTextError(EngineInputError):
    pass


class MissingInstructError(EngineInputError):
    pass


class UnsupportedRequestError(EngineInputError):
    """The request asks for something this model type does not do (e.g. voice clone on CustomVoice)."""


class ReferenceAudioError(EngineInputError):
    """Reference audio that is too short, too long, silent or malformed."""


class CheckpointError(ValueError):
    """A model directory that is missing, incomplete, or whose config or weights do not fit."""
