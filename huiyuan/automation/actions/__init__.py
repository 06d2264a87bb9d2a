"""Action types, one class each, registered on import."""

from . import coupons, flow, messages, points, tags, tasks, tiers, webhooks  # noqa: F401
