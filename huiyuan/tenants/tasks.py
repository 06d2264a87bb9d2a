from huiyuan.platform.celery import app

from .provisioning import refill_pool


@app.task(name="huiyuan.tenants.refill_pool")
def refill_pool_task() -> int:
    return refill_pool()
