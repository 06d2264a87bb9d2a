"""One module per field type; importing this package registers them all."""

from . import (  # noqa: F401
    boolean,
    date,
    datetime,
    decimal,
    email,
    long_text,
    multiple_choice,
    number,
    phone,
    single_choice,
    store,
    text,
)
