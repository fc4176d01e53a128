"""Pure functions from vendor payloads to the canonical model (and back), plus field mappings.

Nothing here does I/O or reads the clock: a mapping sees one payload and a `MappingContext`
(the field mappings from config) and returns one canonical record or raises `MappingError`
naming the field path and value.
"""
