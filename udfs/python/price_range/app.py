"""A SQL aggregate function in Python: ``CREATE FUNCTION price_range AS
'udfs/python/price_range' LANGUAGE WASM``, then ``SELECT auction, price_range(price) …
GROUP BY auction, window_start, window_end``: the spread of the prices in each group (highest
minus lowest). SQL passes each row's arguments as a list; the host keeps the accumulator."""

import json

import weir_udf


@weir_udf.aggregate
class PriceRange:
    def create(self):
        return None

    def add(self, acc, args):
        price = args[0] if isinstance(args, list) and len(args) == 1 else None
        if not isinstance(price, int) or isinstance(price, bool):
            raise weir_udf.RecordError(f"price_range takes one BIGINT, not {json.dumps(args)}")
        return [price, price] if acc is None else [min(acc[0], price), max(acc[1], price)]

    def merge(self, a, b):
        if a is None or b is None:
            return a if b is None else b
        return [min(a[0], b[0]), max(a[1], b[1])]

    def result(self, acc):
        return None if acc is None else acc[1] - acc[0]
