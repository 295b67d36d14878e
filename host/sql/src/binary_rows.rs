//! Where a SQL job's steps hand each other binary rows (crate::rows) instead of JSON: from the
//! `bids` generator into the `select` that reads it, and from a `select` into a sink that
//! writes nothing. Everything else (key_by and aggregates by field, sinks that write the rows
//! out) reads JSON, so every other edge stays JSON.

use weir_proto::spec::{
    BID_ROW_COLUMNS, DatagenMode, PayloadFormat, SelectOutput, SinkSpec, SourceSpec, StepSpec,
};

/// Switches `steps` (one query's, source first, sink last) to binary rows where both ends of an
/// edge read them.
pub(crate) fn use_binary_rows(steps: &mut [StepSpec]) {
    let first_select = steps.iter().position(|s| s.select.is_some());
    if let Some(at) = first_select {
        let only_watermarks_between = steps[1..at].iter().all(|s| {
            s.watermark
                .as_ref()
                .is_some_and(|w| w.timestamp_field.is_none())
        });
        let (source, rest) = steps.split_at_mut(1);
        if let (Some(SourceSpec::Datagen(datagen)), Some(select)) =
            (source[0].source.as_mut(), rest[at - 1].select.as_mut())
            && datagen.mode == DatagenMode::Bids
            && datagen.payload == PayloadFormat::Json
            && only_watermarks_between
        {
            datagen.payload = PayloadFormat::Rows;
            select.input_rows = BID_ROW_COLUMNS.iter().map(|c| c.to_string()).collect();
        }
    }
    if let [.., before, sink] = steps
        && matches!(sink.sink, Some(SinkSpec::Blackhole(_)))
        && let Some(select) = &mut before.select
        && select.output == SelectOutput::Object
    {
        select.output = SelectOutput::Rows;
    }
}

#[cfg(test)]
mod tests {
    use weir_proto::spec::{PayloadFormat, SelectOutput, SourceSpec};

    fn plan(sink: &str) -> Vec<weir_proto::spec::StepSpec> {
        let script = format!(
            "CREATE TABLE bids (auction BIGINT, bidder BIGINT, price BIGINT, ts TIMESTAMP(3)) WITH ('connector' = 'bids', 'rows' = '10');\n\
             CREATE TABLE out_rows (auction BIGINT, price_eur BIGINT) WITH ('connector' = '{sink}');\n\
             INSERT INTO out_rows SELECT auction, price * 908 / 1000 AS price_eur FROM bids WHERE price > 500;"
        );
        crate::plan(&script, "w2").unwrap().spec.pipeline
    }

    #[test]
    fn the_generator_and_a_blackhole_exchange_binary_rows_and_other_sinks_get_json() {
        for (sink, output) in [
            ("blackhole", SelectOutput::Rows),
            ("print", SelectOutput::Object),
        ] {
            let steps = plan(sink);
            let Some(SourceSpec::Datagen(datagen)) = &steps[0].source else {
                panic!("the bids generator first: {steps:?}");
            };
            assert_eq!(datagen.payload, PayloadFormat::Rows);
            let select = steps[1].select.as_ref().expect("a select");
            assert_eq!(select.input_rows, ["auction", "bidder", "price"]);
            assert_eq!(select.output, output, "into {sink}");
        }
    }
}
