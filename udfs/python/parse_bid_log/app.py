"""Parses a bid log line (`<time> bid auction=N bidder=N price=N`) into a JSON bid.
Any other line is rejected to the job's dead-letter sink, naming what was wrong."""

import re

import weir_udf

LINE = re.compile(r"^(\S+) bid auction=(\d+) bidder=(\d+) price=(\d+)$")


@weir_udf.map(raw=True)
def parse(record):
    text = record.value.decode("utf-8", "replace")
    match = LINE.match(text)
    if match is None:
        raise weir_udf.RecordError("not a bid log line (`<time> bid auction=N bidder=N price=N`)")
    return {
        "time": match[1],
        "auction": int(match[2]),
        "bidder": int(match[3]),
        "price": int(match[4]),
    }
