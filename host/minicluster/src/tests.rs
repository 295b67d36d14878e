/// The same job, run with every channel local and with its subtasks spread over TaskManagers
/// connected by QUIC, writes the same output.
#[test]
fn a_job_split_over_taskmanagers_by_quic_equals_the_local_run() {
    use crate::MiniCluster;
    use std::time::Duration;
    use weir_client::builder::JobBuilder;
    use weir_client::spec::{LoadedSpec, Locations};
    use weir_client::udf::UdfBuilder;
    use weir_core::{SlotOffer, schedule};
    use weir_net::SplitChannels;
    use weir_proto::spec::{
        AggregateFn, BuiltinAggregate, DatagenMode, DatagenSpec, FileSinkSpec, PayloadFormat,
        SinkFormat, SinkSpec, SourceSpec,
    };
    use weir_runtime::operators::NativeRegistry;
    use weir_wasm::{EngineConfig, WasmEngine};

    let dir = tempfile::tempdir().expect("temp dir");
    let run = |out: &str, channels: Option<&mut SplitChannels>| {
        let source = DatagenSpec {
            mode: DatagenMode::Bids,
            count: Some(30_000),
            rate: None,
            seed: 0,
            payload: PayloadFormat::Json,
            keys: None,
        };
        let functions = vec![
            BuiltinAggregate {
                function: AggregateFn::Count,
                field: None,
                output: None,
            },
            BuiltinAggregate {
                function: AggregateFn::Max,
                field: Some("price".into()),
                output: None,
            },
        ];
        let path = dir.path().join(out).display().to_string();
        let spec = JobBuilder::new("split")
            .parallelism(3)
            .batch_size(256)
            .source(SourceSpec::Datagen(source))
            .key_by_field("auction")
            .aggregate(functions)
            .sink(SinkSpec::File(FileSinkSpec {
                path: path.clone(),
                format: SinkFormat::Json,
            }))
            .build();
        let loaded = LoadedSpec {
            spec,
            file: "<test>".into(),
            dir: dir.path().to_path_buf(),
            locations: Locations::default(),
        };
        let graph = weir_client::job_graph(&loaded, &UdfBuilder::new(dir.path().join("home")))
            .expect("graph");
        let engine =
            WasmEngine::new(EngineConfig::new(dir.path().join("modules"))).expect("engine");
        let cluster = MiniCluster::new(engine, NativeRegistry::default());
        let result = match channels {
            Some(channels) => {
                cluster.run_with_channels(&graph, Duration::from_secs(60), &mut |_| {}, channels)
            }
            None => cluster.run(&graph, Duration::from_secs(60), &mut |_| {}),
        };
        result.expect("job runs");
        let mut lines: Vec<String> = std::fs::read_dir(&path)
            .expect("part files")
            .flat_map(|part| {
                std::fs::read_to_string(part.expect("entry").path())
                    .expect("read part")
                    .lines()
                    .map(str::to_string)
                    .collect::<Vec<_>>()
            })
            .collect();
        lines.sort();
        (graph, lines)
    };
    let (graph, local) = run("local", None);
    let auctions: std::collections::HashSet<u64> = (0..30_000)
        .map(|j| weir_runtime::operators::sources::bid_row(j).0)
        .collect();
    assert_eq!(local.len(), auctions.len(), "one line per auction");
    for slots in [vec![2, 2], vec![1, 1, 1]] {
        let offers: Vec<SlotOffer> = slots
            .iter()
            .enumerate()
            .map(|(i, &n)| SlotOffer {
                taskmanager: format!("taskmanager-{}", i + 1),
                slots: n,
            })
            .collect();
        let placement = schedule(&graph, &offers).expect("enough slots");
        let mut split = SplitChannels::new(slots.len(), placement).expect("network");
        let (_, remote) = run(&format!("split-{}", slots.len()), Some(&mut split));
        assert!(
            split.remote_channels() > 0,
            "some channels crossed TaskManagers"
        );
        assert_eq!(remote, local, "slots {slots:?}");
    }
}
