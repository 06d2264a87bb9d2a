from typing import ClassVar

from django.utils.translation import gettext_lazy

from ..registry import register
from .text import TextField


@register
class LongTextField(TextField):
    type = "long_text"
    label = gettext_lazy("Long text")
    operators: ClassVar[tuple[str, ...]] = ("contains", "is_empty", "not_empty")
    default_max_length = 5000
    multiline = True
