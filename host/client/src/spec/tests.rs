use super::*;
use std::path::Path;

const SPEC: &str = "name: demo
modules:
  words: { path: ./words }
pipeline:
  - source:
      file: { path: in.txt }
  - flat_map:
      module: words
  - sink: { stdout: {} }
";

fn no_env(_: &str) -> Option<String> {
    None
}

#[test]
fn locates_nested_fields_by_path() {
    let loaded = parse(SPEC, Path::new("job.yaml"), &no_env).expect("valid spec");
    assert_eq!(
        loaded.locations.find("pipeline[1].flat_map.module"),
        Some((8, 7))
    );
    assert_eq!(loaded.locations.find("modules.words.path"), Some((3, 12)));
    // An unknown path falls back to its nearest parent.
    assert_eq!(
        loaded.locations.find("pipeline[1].flat_map.nothing"),
        Some((7, 5))
    );
}

#[test]
fn a_typo_names_file_line_and_field() {
    let typo = SPEC.replace("module: words", "modul: words");
    let error = parse(&typo, Path::new("job.yaml"), &no_env).expect_err("typo must fail");
    assert_eq!(error.line, Some(8));
    assert!(error.message.contains("unknown field `modul`"), "{error}");
    assert!(
        error.message.contains("module"),
        "names what would be valid: {error}"
    );
}

#[test]
fn environment_variables_and_defaults_are_replaced() {
    let text = "name: ${NAME}\nparallelism: ${P:-3}\nbatch_size: $${X}\npipeline: []\n";
    let env = |name: &str| (name == "NAME").then(|| "from-env".to_string());
    let error = parse(text, Path::new("j.yaml"), &env).expect_err("batch_size `${X}` is no number");
    assert_eq!(error.line, Some(3));
    let text = text.replace("$${X}", "7");
    let loaded = parse(&text, Path::new("j.yaml"), &env).expect("valid");
    assert_eq!(loaded.spec.name, "from-env");
    assert_eq!(loaded.spec.parallelism, 3);
}

#[test]
fn an_unset_variable_without_default_names_its_line() {
    let error = parse(
        "name: x\npipeline:\n  - source: ${MISSING}\n",
        Path::new("j.yaml"),
        &no_env,
    )
    .expect_err("unset");
    assert_eq!((error.line, error.column), (Some(3), Some(13)));
    assert!(error.message.contains("MISSING"));
}

#[test]
fn block_and_flow_enum_styles_both_parse() {
    let flow = "name: x\npipeline:\n  - source: { file: { path: a } }\n";
    let block = "name: x\npipeline:\n  - source:\n      file: { path: a }\n";
    let block2 = "name: x\npipeline:\n  - source:\n      file:\n        path: a\n";
    let with_modules =
        "name: x\nmodules:\n  w: { path: ./w }\npipeline:\n  - source: { file: { path: a } }\n";
    let sink_after =
        "name: x\npipeline:\n  - source: { file: { path: a } }\n  - sink: { stdout: {} }\n";
    for text in [flow, block, block2, with_modules, sink_after] {
        let parsed = from_yaml(text);
        assert!(parsed.is_ok(), "{text}: {parsed:?}");
    }
}

const SQL_SPEC: &str = "name: w3
parallelism: 2
checkpointing: { interval_ms: 500 }
sql: |
  CREATE TABLE bids (auction BIGINT, bidder BIGINT, price BIGINT, ts TIMESTAMP(3),
    WATERMARK FOR ts AS ts - INTERVAL '1' SECOND) WITH ('connector' = 'bids', 'rows' = '1000');
  SELECT auction, window_start, COUNT(*) AS n
  FROM TABLE(TUMBLE(TABLE bids, DESCRIPTOR(ts), INTERVAL '10' SECOND))
  GROUP BY auction, window_start, window_end;
";

#[test]
fn sql_in_a_job_spec_becomes_its_pipeline_under_the_yaml_settings() {
    let loaded = parse(SQL_SPEC, Path::new("job.yaml"), &no_env).expect("valid spec");
    assert_eq!(loaded.spec.parallelism, 2);
    assert!(loaded.spec.checkpointing.is_some());
    assert!(loaded.spec.sql.is_none(), "planned away");
    let kinds: Vec<&str> = loaded
        .spec
        .pipeline
        .iter()
        .map(|s| s.name.as_deref().unwrap_or_default())
        .collect();
    assert_eq!(
        kinds,
        ["bids", "watermark", "key_by", "window", "project", "sink"]
    );
}

#[test]
fn a_mistake_in_a_job_specs_sql_names_its_line_in_the_file() {
    let typo = SQL_SPEC.replace("COUNT(*) AS n", "COUNT(*) AS n, prize");
    let error = parse(&typo, Path::new("job.yaml"), &no_env).expect_err("unknown column");
    assert_eq!(error.line, Some(7), "{error}");
    assert!(error.message.contains("in the SQL, line 3"), "{error}");
    assert!(error.message.contains("prize"), "{error}");
    let set = SQL_SPEC.replace("sql: |\n", "sql: |\n  SET 'parallelism.default' = '4';\n");
    let error = parse(&set, Path::new("job.yaml"), &no_env).expect_err("SET");
    assert!(
        error
            .message
            .contains("the job's settings are its YAML fields"),
        "{error}"
    );
    let both = format!("{SQL_SPEC}pipeline:\n  - source: {{ stdin: {{}} }}\n");
    let error = parse(&both, Path::new("job.yaml"), &no_env).expect_err("both");
    assert!(error.message.contains("not both"), "{error}");
}
