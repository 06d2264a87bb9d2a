"""The form engine: merchant-defined member fields.

One class per field type (``types/<type>.py``), registered in ``registry`` from
``MembersConfig.ready``. A type knows how to validate its configuration, clean an input value (from
the API, the console or an import cell) into the JSON stored in ``Member.custom_fields``, display
it, and build segment filters over it.
"""
