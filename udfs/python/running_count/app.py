"""Keyed state: after a `key_by`, emits for each record how many records of its key have been
seen so far (this one included), as {"key": "<key>", "count": N} — like udfs/rust/running_count."""

import weir_udf


@weir_udf.map(raw=True)
def running_count(record):
    seen = weir_udf.get_state("count")
    count = (int.from_bytes(seen, "little") if seen else 0) + 1
    weir_udf.set_state("count", count.to_bytes(8, "little"))
    return {"key": record.key.decode(), "count": count}
