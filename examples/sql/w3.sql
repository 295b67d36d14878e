-- W3 of ../shared/peers/flink/FlinkBench.java, its statement unchanged: a 10 s tumbling window
-- per auction over the benchmark bids, count and max(price).
-- N = 3,000,017 gives 30,017 rows over 4 windows, sum(count) 3,000,017, sum(max) 29,724,799.
CREATE TABLE bids (
  auction BIGINT,
  bidder BIGINT,
  price BIGINT,
  ts TIMESTAMP(3),
  WATERMARK FOR ts AS ts - INTERVAL '1' SECOND
) WITH ('connector' = 'bids', 'rows' = '3000017');

CREATE TABLE out_rows (
  auction BIGINT,
  window_start TIMESTAMP(3),
  window_end TIMESTAMP(3),
  bids BIGINT,
  max_price BIGINT
) WITH ('connector' = 'print');

INSERT INTO out_rows SELECT auction, window_start, window_end, COUNT(*), MAX(price)
FROM TABLE(TUMBLE(TABLE bids, DESCRIPTOR(ts), INTERVAL '10' SECOND))
GROUP BY auction, window_start, window_end;
