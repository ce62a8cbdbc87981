"""The MMSafeAware builder."""

from mmsafety.builders.mmsafeaware.mmsafeaware import MMSafeAware

__all__ = ["MMSafeAware"]
