"""Thin Celery tasks over automation's services."""

from __future__ import annotations

from huiyuan.platform.celery import tenant_task

from .sending import message_send


# Not inside a transaction: the claim must commit before the vendor is called (``sending.py``).
@tenant_task(name="huiyuan.automation.send_message", time_limit=60, soft_time_limit=50)
def send_message_task(message_id: int) -> str:
    return message_send(message_id)
