-- Nexmark q1 (currency conversion): each bid's price in euro.
-- Nexmark's bid stream (the generator's bids only); 'rows' bounds it.
CREATE TABLE bid (
  auction BIGINT,
  bidder BIGINT,
  price BIGINT,
  channel STRING,
  url STRING,
  dateTime TIMESTAMP(3),
  extra STRING,
  WATERMARK FOR dateTime AS dateTime - INTERVAL '4' SECOND
) WITH ('connector' = 'nexmark', 'event' = 'bid', 'rows' = '100000');

SELECT auction, bidder, 0.908 * price AS price, dateTime, extra FROM bid;
