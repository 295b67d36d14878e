"""Nexmark q1: a bid's price in euros (price * 908 / 1000, rounded down), added as
`price_eur`. A bid without an integer price is rejected to the dead-letter sink."""

import weir_udf


@weir_udf.map
def convert(bid):
    price = bid.get("price") if isinstance(bid, dict) else None
    if not isinstance(price, int):
        raise weir_udf.RecordError("not a bid with an integer price")
    bid["price_eur"] = price * 908 // 1000
    return bid
