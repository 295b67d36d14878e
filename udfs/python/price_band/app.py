"""A SQL scalar function in Python: ``CREATE FUNCTION price_band AS 'udfs/python/price_band'
LANGUAGE WASM``, then ``SELECT price_band(price, 500) FROM bids``."""

import weir_udf


@weir_udf.scalar
def price_band(price: int, limit: int) -> str:
    return "high" if price > limit else "low"
