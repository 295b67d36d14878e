-- Nexmark q19 (auction TOP-10 price): the ten highest bids of each auction, numbered. Flink's
-- Top-N (ROW_NUMBER() OVER …, then a bound on the number): an updating result. The Nexmark
-- project's Flink SQL text.
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

SELECT * FROM
(SELECT *, ROW_NUMBER() OVER (PARTITION BY auction ORDER BY price DESC) AS rank_number FROM bid)
WHERE rank_number <= 10;
