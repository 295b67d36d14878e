// Apache Flink running Weir's benchmark workloads on Weir's data, for same-run ratios
// (`weir bench --peer flink`). One job per JVM, in Flink's local MiniCluster.
//
//   java -cp <pyflink lib>/*:<classes> WeirPeer --workload w2|w3|w4 --rows N --parallelism P
//        [--state hashmap|rocksdb] [--checkpoint-interval-s S] [--checkpoint-dir DIR]
//
// Prints one JSON object: the workload, its rows, `runtime_ms` (the job's net runtime as Flink
// reports it) and `rps_job` (rows per second of it).
//
// The rows are the PROBES.md benchmark bids, the same Weir's `datagen: {mode: bids}` makes:
// row j: h1 = splitmix64(2j), h2 = splitmix64(2j+1), auction = 1 + h1 mod 10000 (unsigned),
// bidder = 1 + h2 mod 1000000, price = 1 + (h2 >>> 32) mod 1000, event time 2026-01-01 + j/100 ms.
import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.connector.datagen.source.DataGeneratorSource;
import org.apache.flink.connector.datagen.source.GeneratorFunction;
import org.apache.flink.api.connector.source.util.ratelimit.RateLimiterStrategy;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.table.api.DataTypes;
import org.apache.flink.table.api.Schema;
import org.apache.flink.table.api.TableResult;
import org.apache.flink.table.api.bridge.java.StreamTableEnvironment;
import org.apache.flink.table.data.GenericRowData;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.data.TimestampData;
import org.apache.flink.table.runtime.typeutils.InternalTypeInfo;
import org.apache.flink.table.types.logical.BigIntType;
import org.apache.flink.table.types.logical.RowType;
import org.apache.flink.table.types.logical.TimestampType;

import java.util.HashMap;
import java.util.Map;

public class WeirPeer {
    static final long EPOCH_2026_MS = 1767225600000L;

    static long splitmix64(long x) {
        long z = x + 0x9E3779B97F4A7C15L;
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }

    /** Row j of the benchmark bids. */
    public static final class Bids implements GeneratorFunction<Long, RowData> {
        @Override
        public RowData map(Long row) {
            long j = row;
            long h1 = splitmix64(2 * j);
            long h2 = splitmix64(2 * j + 1);
            GenericRowData bid = new GenericRowData(4);
            bid.setField(0, 1 + Long.remainderUnsigned(h1, 10_000L));
            bid.setField(1, 1 + Long.remainderUnsigned(h2, 1_000_000L));
            bid.setField(2, 1 + Long.remainderUnsigned(h2 >>> 32, 1_000L));
            bid.setField(3, TimestampData.fromEpochMillis(EPOCH_2026_MS + j / 100));
            return bid;
        }
    }

    static Map<String, String> options(String[] args) {
        Map<String, String> options = new HashMap<>();
        for (int i = 0; i + 1 < args.length; i += 2) {
            options.put(args[i].replaceFirst("^--", ""), args[i + 1]);
        }
        return options;
    }

    public static void main(String[] args) throws Exception {
        Map<String, String> o = options(args);
        String workload = o.getOrDefault("workload", "w2");
        long rows = Long.parseLong(o.getOrDefault("rows", "10000000"));
        int parallelism = Integer.parseInt(o.getOrDefault("parallelism", "1"));
        String state = o.getOrDefault("state", "hashmap");
        // W3/W4's grouping key: auction (10,000 keys) or bidder (1,000,000: state far larger
        // than any cache or buffer).
        String key = o.getOrDefault("key", "auction");
        if (!key.equals("auction") && !key.equals("bidder")) {
            throw new IllegalArgumentException("--key must be auction or bidder, not " + key);
        }

        Configuration conf = new Configuration();
        conf.setString("parallelism.default", String.valueOf(parallelism));
        conf.setString("pipeline.object-reuse", "true");
        conf.setString("taskmanager.memory.managed.size", "256m");
        conf.setString("state.backend.type", state);
        if (workload.equals("w4")) {
            conf.setString("execution.checkpointing.interval", o.getOrDefault("checkpoint-interval-s", "10") + "s");
            conf.setString("execution.checkpointing.mode", "EXACTLY_ONCE");
            String dir = "file://" + o.getOrDefault("checkpoint-dir", "/tmp/weir-peer-checkpoints");
            conf.setString("execution.checkpointing.dir", dir);
            conf.setString("state.checkpoints.dir", dir);
        }
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment(conf);
        StreamTableEnvironment tables = StreamTableEnvironment.create(env);

        RowType type = RowType.of(
                new BigIntType(false), new BigIntType(false), new BigIntType(false), new TimestampType(false, 3));
        DataGeneratorSource<RowData> source = new DataGeneratorSource<>(
                new Bids(), rows, RateLimiterStrategy.noOp(), InternalTypeInfo.of(type));
        DataStream<RowData> bids = env.fromSource(source, WatermarkStrategy.noWatermarks(), "bids");
        tables.createTemporaryView("bids", tables.fromDataStream(bids, Schema.newBuilder()
                .column("f0", DataTypes.BIGINT().notNull())
                .column("f1", DataTypes.BIGINT().notNull())
                .column("f2", DataTypes.BIGINT().notNull())
                .column("f3", DataTypes.TIMESTAMP(3).notNull())
                .watermark("f3", "f3")
                .build()).as("auction", "bidder", "price", "ts"));

        if (o.containsKey("check")) {
            // The independent checksums of W2 (rows, sum of price_eur), to show the data is Weir's.
            try (var rowsOut = tables.executeSql("SELECT COUNT(*), SUM(price * 908 / 1000) FROM bids "
                    + "WHERE MOD(auction, 123) = 0 OR price > 500").collect()) {
                // A streaming aggregate's changelog: the last row is the final count and sum.
                org.apache.flink.types.Row row = null;
                while (rowsOut.hasNext()) {
                    row = rowsOut.next();
                }
                System.out.printf("{\"check_rows\": %s, \"check_sum_price_eur\": %s}%n", row.getField(0), row.getField(1));
            }
            return;
        }
        String query;
        if (workload.equals("w2")) {
            tables.executeSql("CREATE TABLE out_rows (auction BIGINT, price_eur BIGINT) WITH ('connector' = 'blackhole')");
            query = "INSERT INTO out_rows SELECT auction, price * 908 / 1000 AS price_eur FROM bids "
                    + "WHERE MOD(auction, 123) = 0 OR price > 500";
        } else {
            tables.executeSql("CREATE TABLE out_rows (" + key + " BIGINT, window_start TIMESTAMP(3), "
                    + "window_end TIMESTAMP(3), bids BIGINT, max_price BIGINT) WITH ('connector' = 'blackhole')");
            query = "INSERT INTO out_rows SELECT " + key + ", window_start, window_end, COUNT(*), MAX(price) "
                    + "FROM TABLE(TUMBLE(TABLE bids, DESCRIPTOR(ts), INTERVAL '10' SECOND)) "
                    + "GROUP BY " + key + ", window_start, window_end";
        }
        TableResult result = tables.executeSql(query);
        long runtime = result.getJobClient().orElseThrow().getJobExecutionResult().get().getNetRuntime();
        System.out.printf("{\"workload\": \"%s\", \"key\": \"%s\", \"rows\": %d, \"parallelism\": %d, "
                        + "\"state\": \"%s\", \"runtime_ms\": %d, \"rps_job\": %.1f}%n",
                workload, key, rows, parallelism, state, runtime, rows * 1000.0 / Math.max(runtime, 1));
    }
}
