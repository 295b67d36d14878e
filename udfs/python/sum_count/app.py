"""Aggregate: per key, the number of JSON bids and the sum of their `price`, as
{"count": N, "sum": S} (the same as udfs/rust/sum_count)."""

import weir_udf


@weir_udf.aggregate
class SumCount:
    def create(self):
        return [0, 0]

    def add(self, acc, bid):
        price = bid.get("price") if isinstance(bid, dict) else None
        if not isinstance(price, int):
            raise weir_udf.RecordError("not a bid with a price")
        return [acc[0] + 1, acc[1] + price]

    def merge(self, a, b):
        return [a[0] + b[0], a[1] + b[1]]

    def result(self, acc):
        return {"count": acc[0], "sum": acc[1]}
