"""Huiyuan (会员): membership and loyalty platform."""

from .platform.celery import app as celery_app

__all__ = ["celery_app"]
