//! Tables over external systems, with Flink's connector options: `'connector' = 'kafka'`
//! (a source and a sink) and `'connector' = 'jdbc'` over PostgreSQL (a sink).

use super::Table;
use crate::error::SqlError;
use std::collections::BTreeMap;
use weir_proto::spec::{
    AtTimestamp, Delivery, KafkaBound, KafkaFormat, KafkaIsolation, KafkaSinkSpec, KafkaSourceSpec,
    KafkaStart, MessageTime, PostgresMode, PostgresSinkSpec, Topics,
};

impl Table {
    /// Flink's JDBC connector over PostgreSQL: `'url' = 'jdbc:postgresql://host:port/db'`,
    /// `'table-name'`, optional `'username'` and `'password'`. With a primary key it upserts
    /// by that key, else it appends (exactly once, by two-phase commit, with checkpoints).
    pub(super) fn postgres(&self) -> Result<PostgresSinkSpec, SqlError> {
        let (_, url, span) = self.option("url").ok_or_else(|| {
            SqlError::at(
                self.span,
                "'connector' = 'jdbc' needs 'url' = 'jdbc:postgresql://host:port/database'",
            )
        })?;
        let Some(rest) = url.strip_prefix("jdbc:postgresql://") else {
            return Err(SqlError::at(
                *span,
                format!(
                    "'url' = '{url}': jdbc:postgresql://host:port/database (PostgreSQL is the database Weir writes)"
                ),
            ));
        };
        let user = self.option("username").map(|(_, v, _)| v.as_str());
        let password = self.option("password").map(|(_, v, _)| v.as_str());
        let credentials = match (user, password) {
            (Some(user), Some(password)) => format!("{user}:{password}@"),
            (Some(user), None) => format!("{user}@"),
            (None, _) => String::new(),
        };
        Ok(PostgresSinkSpec {
            url: format!("postgresql://{credentials}{rest}"),
            table: self.required("table-name")?.to_string(),
            mode: match self.primary_key.is_empty() {
                true => PostgresMode::Append,
                false => PostgresMode::Upsert,
            },
            key: self.primary_key.clone(),
            changelog: false,
        })
    }

    /// `'properties.*'` options but the bootstrap servers: librdkafka settings, passed on.
    fn kafka_properties(&self) -> BTreeMap<String, String> {
        self.options
            .iter()
            .filter_map(|(key, value, _)| {
                let key = key.strip_prefix("properties.")?;
                (key != "bootstrap.servers").then(|| (key.to_string(), value.clone()))
            })
            .collect()
    }

    /// A millisecond option that `mode` needs.
    fn millis(&self, key: &str) -> Result<i64, SqlError> {
        let text = self.required(key)?;
        text.parse().map_err(|_| {
            SqlError::at(
                self.span,
                format!("'{key}' = '{text}': milliseconds since the epoch"),
            )
        })
    }

    /// An option whose value is one of `choices`, as `(choice, span)`.
    fn choice(&self, key: &str, choices: &[&str]) -> Result<Option<String>, SqlError> {
        match self.option(key) {
            None => Ok(None),
            Some((_, value, _)) if choices.contains(&value.as_str()) => Ok(Some(value.clone())),
            Some((_, value, span)) => Err(SqlError::at(
                *span,
                format!("'{key}' = '{value}': {}", choices.join(", ")),
            )),
        }
    }

    /// Flink's Kafka connector as a source: `'topic'` (`;` between several),
    /// `'properties.bootstrap.servers'`, `'properties.group.id'`, `'scan.startup.mode'`,
    /// `'scan.bounded.mode'` and `'format' = 'json'`; offsets go in checkpoints.
    pub(super) fn kafka_source(&self) -> Result<KafkaSourceSpec, SqlError> {
        self.json_only()?;
        let topics: Vec<String> = self
            .required("topic")?
            .split(';')
            .map(|t| t.trim().to_string())
            .collect();
        let start = match self
            .choice(
                "scan.startup.mode",
                &[
                    "earliest-offset",
                    "latest-offset",
                    "group-offsets",
                    "timestamp",
                ],
            )?
            .as_deref()
        {
            None | Some("earliest-offset") => KafkaStart::Earliest,
            Some("latest-offset") => KafkaStart::Latest,
            Some("group-offsets") => KafkaStart::Group,
            _ => KafkaStart::Timestamp(AtTimestamp {
                timestamp_ms: self.millis("scan.startup.timestamp-millis")?,
            }),
        };
        let bounded = match self
            .choice(
                "scan.bounded.mode",
                &["unbounded", "latest-offset", "timestamp"],
            )?
            .as_deref()
        {
            None | Some("unbounded") => None,
            Some("latest-offset") => Some(KafkaBound::Latest),
            _ => Some(KafkaBound::Timestamp(AtTimestamp {
                timestamp_ms: self.millis("scan.bounded.timestamp-millis")?,
            })),
        };
        Ok(KafkaSourceSpec {
            brokers: self.required("properties.bootstrap.servers")?.to_string(),
            topic: match topics.len() {
                1 => Topics::One(topics[0].clone()),
                _ => Topics::Many(topics),
            },
            format: KafkaFormat::Json,
            start,
            bounded,
            isolation: KafkaIsolation::ReadCommitted,
            group: self
                .option("properties.group.id")
                .map(|(_, v, _)| v.clone()),
            commit_offsets: false,
            metadata: false,
            watermark: None,
            discovery_interval_ms: 10_000,
            properties: self.kafka_properties(),
        })
    }

    /// Flink's Kafka connector as a sink: `'topic'`, `'properties.bootstrap.servers'`,
    /// `'sink.delivery-guarantee'` (exactly once by default when the job checkpoints),
    /// `'sink.transactional-id-prefix'`, and `'key.fields'` for the message key.
    pub(super) fn kafka_sink(&self) -> Result<KafkaSinkSpec, SqlError> {
        self.json_only()?;
        let delivery = match self
            .choice(
                "sink.delivery-guarantee",
                &["exactly-once", "at-least-once", "none"],
            )?
            .as_deref()
        {
            None => None,
            Some("exactly-once") => Some(Delivery::ExactlyOnce),
            Some("at-least-once") => Some(Delivery::AtLeastOnce),
            _ => Some(Delivery::None),
        };
        Ok(KafkaSinkSpec {
            brokers: self.required("properties.bootstrap.servers")?.to_string(),
            topic: self.required("topic")?.to_string(),
            key_field: self.option("key.fields").map(|(_, v, _)| v.clone()),
            delivery,
            // As Flink's Kafka tables: a message carries its produce time unless a metadata
            // column says otherwise (old event times would fall to the topic's retention).
            timestamp: MessageTime::Now,
            transactional_id_prefix: self
                .option("sink.transactional-id-prefix")
                .map(|(_, v, _)| v.clone()),
            properties: self.kafka_properties(),
            upsert_key: Vec::new(),
        })
    }

    /// Kafka tables read and write JSON values.
    fn json_only(&self) -> Result<(), SqlError> {
        match self.option("format").or(self.option("value.format")) {
            None => Ok(()),
            Some((_, format, _)) if format == "json" => Ok(()),
            Some((key, format, span)) => Err(SqlError::at(
                *span,
                format!("'{key}' = '{format}': Kafka tables are 'json'"),
            )),
        }
    }
}
