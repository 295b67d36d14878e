use super::*;
use std::collections::BTreeMap;
use std::path::Path;
use weir_proto::graph::{ModuleRef, OperatorKind, Partitioning};
use weir_proto::spec::JobSpec;

fn spec(yaml: &str) -> JobSpec {
    crate::spec::from_yaml(yaml).expect("test spec parses")
}

fn modules() -> BTreeMap<String, ModuleRef> {
    let module = ModuleRef {
        name: "words".into(),
        sha256: "00".into(),
        path: "/w.wasm".into(),
    };
    BTreeMap::from([("words".to_string(), module)])
}

const WORDCOUNT: &str = "name: wc
parallelism: 1
pipeline:
  - source: { file: { path: in.txt } }
  - flat_map: { module: words }
    parallelism: 4
  - key_by: { field: word }
  - aggregate: { functions: [ { fn: count } ] }
    parallelism: 2
  - sink: { stdout: {} }
";

#[test]
fn wordcount_chains_around_the_shuffles() {
    let graph = build_job_graph(&spec(WORDCOUNT), Path::new("/jobs"), &modules()).expect("valid");
    let names: Vec<(&str, u32)> = graph
        .vertices
        .iter()
        .map(|v| (v.name.as_str(), v.parallelism))
        .collect();
    assert_eq!(
        names,
        vec![
            ("source-0", 1),
            ("flat_map-1 -> key_by-2", 4),
            ("aggregate-3", 2),
            ("sink-4", 1)
        ]
    );
    let edges: Vec<(usize, usize, Partitioning)> = graph
        .edges
        .iter()
        .map(|e| (e.source, e.target, e.partitioning))
        .collect();
    assert_eq!(
        edges,
        vec![
            (0, 1, Partitioning::Rebalance),
            (1, 2, Partitioning::Hash),
            (2, 3, Partitioning::Rebalance)
        ]
    );
    match &graph.vertices[2].operators[0].kind {
        OperatorKind::Aggregate { key_as, .. } => assert_eq!(key_as.as_deref(), Some("word")),
        other => panic!("expected an aggregate, got {other:?}"),
    }
    match &graph.vertices[0].operators[0].kind {
        OperatorKind::Source(weir_proto::spec::SourceSpec::File(file)) => {
            assert_eq!(file.path, "/jobs/in.txt")
        }
        other => panic!("expected a file source, got {other:?}"),
    }
}

#[test]
fn chaining_off_gives_one_vertex_per_step() {
    let text = format!("chaining: false\n{WORDCOUNT}");
    let graph = build_job_graph(&spec(&text), Path::new("/"), &modules()).expect("valid");
    assert_eq!(graph.vertices.len(), 5);
    assert_eq!(
        graph.edges[2].partitioning,
        Partitioning::Hash,
        "the edge after key_by hashes"
    );
}

#[test]
fn dead_letter_sink_gets_one_side_edge_per_rejecting_vertex() {
    let text = format!("dead_letter: {{ stderr: {{}} }}\n{WORDCOUNT}");
    let graph = build_job_graph(&spec(&text), Path::new("/"), &modules()).expect("valid");
    let last = graph.vertices.len() - 1;
    let side: Vec<usize> = graph
        .edges
        .iter()
        .filter(|e| e.dead_letter)
        .map(|e| e.source)
        .collect();
    assert_eq!(side, vec![0, 1, 2, 3]);
    assert!(
        graph
            .edges
            .iter()
            .filter(|e| e.dead_letter)
            .all(|e| e.target == last)
    );
}

#[test]
fn errors_name_the_field_at_fault() {
    let cases = [
        (
            WORDCOUNT.replace("module: words", "module: wrds"),
            "pipeline[1].flat_map.module",
        ),
        (
            WORDCOUNT.replace("  - key_by: { field: word }\n", ""),
            "pipeline[2].aggregate",
        ),
        (
            WORDCOUNT.replace("  - sink: { stdout: {} }\n", ""),
            "pipeline[3]",
        ),
        (
            WORDCOUNT.replace(
                "flat_map: { module: words }",
                "flat_map: { module: words }\n    map: { module: words }",
            ),
            "pipeline[1]",
        ),
        (
            WORDCOUNT.replace("parallelism: 4", "parallelism: 0"),
            "pipeline[1].parallelism",
        ),
    ];
    for (text, field) in cases {
        let error = build_job_graph(&spec(&text), Path::new("/"), &modules()).expect_err(field);
        assert_eq!(error.field, field, "{error}");
    }
}

const JOIN: &str = "name: j
pipeline:
  - name: left
    source: { datagen: { count: 10 } }
  - name: by-a
    key_by: { field: a }
  - name: right
    source: { datagen: { count: 10 } }
  - name: by-b
    key_by: { field: b }
  - name: pairs
    input: by-a
    join: { with: by-b, window: { tumbling: { size_ms: 1000 } } }
  - sink: { stdout: {} }
";

#[test]
fn a_join_reads_two_keyed_inputs_on_hash_edges_one_per_side() {
    let graph = build_job_graph(&spec(JOIN), Path::new("/jobs"), &modules()).expect("valid");
    let join = graph
        .vertices
        .iter()
        .position(|v| v.name.starts_with("pairs"))
        .expect("a join vertex");
    let mut inputs: Vec<(u8, Partitioning)> = graph
        .edges
        .iter()
        .filter(|e| e.target == join && !e.dead_letter)
        .map(|e| (e.input, e.partitioning))
        .collect();
    inputs.sort_by_key(|input| input.0);
    assert_eq!(
        inputs,
        [(0, Partitioning::Hash), (1, Partitioning::Hash)],
        "left and right, each hash-partitioned by key"
    );
}

#[test]
fn a_join_whose_right_side_is_not_keyed_names_the_field() {
    let unkeyed = JOIN.replace("with: by-b", "with: right");
    let error = build_job_graph(&spec(&unkeyed), Path::new("/jobs"), &modules())
        .expect_err("the right side has no key");
    assert_eq!(error.field, "pipeline[4].join.with");
    assert!(error.message.contains("not a `key_by` step"), "{error}");
    let unknown = JOIN.replace("with: by-b", "with: nowhere");
    let error =
        build_job_graph(&spec(&unknown), Path::new("/jobs"), &modules()).expect_err("no such step");
    assert!(
        error.message.contains("no earlier step is named `nowhere`"),
        "{error}"
    );
    let session = JOIN.replace("tumbling: { size_ms: 1000 }", "session: { gap_ms: 1000 }");
    let error = build_job_graph(&spec(&session), Path::new("/jobs"), &modules())
        .expect_err("sessions are not for joins");
    assert_eq!(error.field, "pipeline[4].join.window");
}

const LATE: &str = "name: late
parallelism: 2
pipeline:
  - source: { file: { path: in.txt } }
  - key_by: { field: key }
  - aggregate:
      window: { tumbling: { size_ms: 1000 } }
      functions: [ { fn: count } ]
      late_output: too-late
    name: windows
  - sink: { stdout: {} }
  - input: too-late
    sink: { stderr: {} }
";

#[test]
fn a_late_output_is_a_side_edge_from_the_windows_to_the_step_that_reads_it() {
    let graph = build_job_graph(&spec(LATE), Path::new("/jobs"), &modules()).expect("valid");
    let vertex = |prefix: &str| {
        graph
            .vertices
            .iter()
            .position(|v| v.name.starts_with(prefix))
            .expect(prefix)
    };
    let (windows, late_sink) = (vertex("windows"), vertex("sink-4"));
    assert!(
        graph.vertices[windows].name.contains("sink-3"),
        "the main output still chains: {:?}",
        graph.vertices
    );
    let late: Vec<&weir_proto::graph::JobEdge> =
        graph.edges.iter().filter(|e| e.late_of.is_some()).collect();
    assert_eq!(late.len(), 1, "{:?}", graph.edges);
    assert_eq!(
        (late[0].source, late[0].target, late[0].late_of.as_deref()),
        (windows, late_sink, Some("windows"))
    );
    assert!(late[0].is_side_output());
}

#[test]
fn a_late_output_nobody_reads_or_without_event_time_windows_names_the_field() {
    let unread = LATE.replace("  - input: too-late\n    sink: { stderr: {} }\n", "");
    let error = build_job_graph(&spec(&unread), Path::new("/jobs"), &modules())
        .expect_err("nothing reads it");
    assert_eq!(error.field, "pipeline[2].aggregate.late_output");
    assert!(
        error
            .message
            .contains("no step reads the late output `too-late`"),
        "{error}"
    );
    let clash = LATE.replace("late_output: too-late", "late_output: windows");
    let error = build_job_graph(&spec(&clash), Path::new("/jobs"), &modules())
        .expect_err("a step has that name");
    assert_eq!(error.field, "pipeline[2].aggregate.late_output");
    let count = LATE.replace("tumbling: { size_ms: 1000 }", "count: { size: 5 }");
    let error = build_job_graph(&spec(&count), Path::new("/jobs"), &modules())
        .expect_err("count windows have no late records");
    assert_eq!(error.field, "pipeline[2].aggregate.late_output");
}
