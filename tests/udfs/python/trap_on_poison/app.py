"""Passes values through, but raises on a value containing `poison` (a bug, not a bad record)."""

import weir_udf


def check(value):
    if b"poison" in value:
        raise ValueError(f"poison record: {value.decode()}")
    return value


@weir_udf.map(raw=True)
def pass_unless_poison(record):
    return check(record.value)
