-- W2 of ../shared/peers/flink/FlinkBench.java, its statement unchanged: convert and select bids.
-- N = 3,000,017 gives 1,509,081 rows, sum(price_eur) 1,022,324,658.
CREATE TABLE bids (
  auction BIGINT,
  bidder BIGINT,
  price BIGINT,
  ts TIMESTAMP(3)
) WITH ('connector' = 'bids', 'rows' = '3000017');

CREATE TABLE out_rows (auction BIGINT, price_eur BIGINT) WITH ('connector' = 'print');

INSERT INTO out_rows SELECT auction, price * 908 / 1000 AS price_eur FROM bids
WHERE MOD(auction, 123) = 0 OR price > 500;
