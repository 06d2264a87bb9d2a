"""Django settings, assembled from the environment (see ``environment.py``)."""

from .api import *  # noqa: F403
from .core import *  # noqa: F403
from .tasks import *  # noqa: F403
