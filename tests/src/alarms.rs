//! CloudWatch alarm evaluation, as documented, over a simulated timeline: the
//! template's alarms read from `template.yaml` and evaluated minute by minute
//! over datapoints from the functions' EMF lines (after Lambda's log-level
//! filter) and the AWS metrics a drill implies (Lambda errors, queue age…).
//!
//! Semantics (CloudWatch user guide, "Configuring how CloudWatch alarms treat
//! missing data"):
//! - datapoints are aggregated per period (aligned to the epoch) with the
//!   alarm's statistic; an alarm looks at an *evaluation range* of more periods
//!   than its Evaluation Periods N (N + 2 here, as in the documented tables);
//! - when at least N datapoints exist in the range, the N most recent are
//!   evaluated and missing data treatment is not used;
//! - otherwise all existing datapoints are used and the rest are filled as
//!   the treatment says (`breaching`, `notBreaching`; `missing` and `ignore` as
//!   the documented tables show);
//! - ALARM when at least M (Datapoints to Alarm, default N) are breaching;
//! - alarms on `AWS/DynamoDB` metrics always ignore missing data.
//!
//! Metric math: sums of `FILL(id, constant)` and plain `id` terms, the only
//! expressions the template uses; anything else panics so that a new
//! expression needs this evaluator taught first.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;
use serde_yaml::Value as Yaml;

/// Minutes, for the simulated timeline.
pub const MINUTE_MS: i64 = 60_000;

pub type Dims = BTreeMap<String, String>;

/// A CloudWatch metric: namespace, name and the full set of dimensions.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct MetricKey {
    pub namespace: String,
    pub name: String,
    pub dims: Dims,
}

impl MetricKey {
    pub fn new(namespace: &str, name: &str, dims: &[(&str, &str)]) -> Self {
        MetricKey {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            dims: dims
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        }
    }
}

/// Every datapoint published, by metric: (time in ms, value).
#[derive(Debug, Clone, Default)]
pub struct Timeline {
    points: BTreeMap<MetricKey, BTreeMap<i64, Vec<f64>>>,
}

impl Timeline {
    pub fn new() -> Self {
        Self::default()
    }

    /// One datapoint of `namespace`/`name` with `dims` at `t_ms`.
    pub fn put(
        &mut self,
        namespace: &str,
        name: &str,
        dims: &[(&str, &str)],
        t_ms: i64,
        value: f64,
    ) -> &mut Self {
        self.points
            .entry(MetricKey::new(namespace, name, dims))
            .or_default()
            .entry(t_ms)
            .or_default()
            .push(value);
        self
    }

    /// The datapoints CloudWatch extracts from one EMF document (at its
    /// `_aws.Timestamp`, one per metric and dimension set). Returns how many.
    pub fn put_emf(&mut self, doc: &Value) -> usize {
        let Some(t) = doc["_aws"]["Timestamp"].as_i64() else {
            return 0;
        };
        let mut added = 0;
        for directive in doc["_aws"]["CloudWatchMetrics"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let namespace = directive["Namespace"].as_str().unwrap_or_default();
            for set in directive["Dimensions"].as_array().into_iter().flatten() {
                let dims: Dims = set
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .map(|d| (d.to_owned(), doc[d].as_str().unwrap_or_default().to_owned()))
                    .collect();
                for metric in directive["Metrics"].as_array().into_iter().flatten() {
                    let name = metric["Name"].as_str().unwrap_or_default();
                    let values: Vec<f64> = match &doc[name] {
                        Value::Array(list) => list.iter().filter_map(Value::as_f64).collect(),
                        v => v.as_f64().into_iter().collect(),
                    };
                    let key = MetricKey {
                        namespace: namespace.to_owned(),
                        name: name.to_owned(),
                        dims: dims.clone(),
                    };
                    for v in values {
                        self.points
                            .entry(key.clone())
                            .or_default()
                            .entry(t)
                            .or_default()
                            .push(v);
                        added += 1;
                    }
                }
            }
        }
        added
    }

    /// The EMF documents among log lines (lines that are not EMF are skipped,
    /// as CloudWatch does).
    pub fn put_lines(&mut self, lines: &[String]) -> usize {
        lines
            .iter()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|v| v.get("_aws").is_some())
            .map(|doc| self.put_emf(&doc))
            .sum()
    }

    /// `stat` of `key` over [from, to).
    fn statistic(&self, key: &MetricKey, stat: &str, from: i64, to: i64) -> Option<f64> {
        let values: Vec<f64> = self
            .points
            .get(key)?
            .range(from..to)
            .flat_map(|(_, v)| v.iter().copied())
            .collect();
        if values.is_empty() {
            return None;
        }
        Some(match stat {
            "Sum" => values.iter().sum(),
            "Maximum" => values.iter().copied().fold(f64::MIN, f64::max),
            "Minimum" => values.iter().copied().fold(f64::MAX, f64::min),
            "Average" => values.iter().sum::<f64>() / values.len() as f64,
            "SampleCount" => values.len() as f64,
            other => panic!("statistic {other} is not evaluated"),
        })
    }

    /// Removes `key`'s datapoints in [from, to): the metric stops being published.
    pub fn remove(&mut self, key: &MetricKey, from: i64, to: i64) -> &mut Self {
        if let Some(points) = self.points.get_mut(key) {
            points.retain(|t, _| *t < from || *t >= to);
        }
        self
    }

    /// Every metric with data (to check drills publish what alarms watch).
    pub fn metrics(&self) -> impl Iterator<Item = &MetricKey> {
        self.points.keys()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missing {
    Missing,
    Ignore,
    Breaching,
    NotBreaching,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Ok,
    Alarm,
    InsufficientData,
}

#[derive(Debug, Clone)]
struct MetricQuery {
    key: MetricKey,
    stat: String,
}

#[derive(Debug, Clone)]
enum Query {
    Metric(MetricQuery),
    /// Terms added up: (input id, FILL constant if any).
    Sum {
        terms: Vec<(String, Option<f64>)>,
        inputs: BTreeMap<String, MetricQuery>,
    },
}

/// One `AWS::CloudWatch::Alarm` of the template.
#[derive(Debug, Clone)]
pub struct Alarm {
    pub id: String,
    /// The template condition the alarm exists under, if any.
    pub condition: Option<String>,
    query: Query,
    pub period_ms: i64,
    pub evaluation_periods: usize,
    pub datapoints_to_alarm: usize,
    pub threshold: f64,
    pub comparison: String,
    pub missing: Missing,
}

impl Alarm {
    /// Whether `v` breaches the threshold.
    pub fn breaches(&self, v: f64) -> bool {
        match self.comparison.as_str() {
            "GreaterThanThreshold" => v > self.threshold,
            "GreaterThanOrEqualToThreshold" => v >= self.threshold,
            "LessThanThreshold" => v < self.threshold,
            "LessThanOrEqualToThreshold" => v <= self.threshold,
            other => panic!("{}: comparison {other} is not evaluated", self.id),
        }
    }

    /// The metrics the alarm reads.
    pub fn metrics(&self) -> Vec<MetricKey> {
        match &self.query {
            Query::Metric(q) => vec![q.key.clone()],
            Query::Sum { inputs, .. } => inputs.values().map(|q| q.key.clone()).collect(),
        }
    }

    fn value(&self, tl: &Timeline, from: i64, to: i64) -> Option<f64> {
        match &self.query {
            Query::Metric(q) => tl.statistic(&q.key, &q.stat, from, to),
            Query::Sum { terms, inputs } => {
                let mut sum = 0.0;
                for (id, fill) in terms {
                    let q = &inputs[id];
                    sum += tl.statistic(&q.key, &q.stat, from, to).or(*fill)?;
                }
                Some(sum)
            }
        }
    }

    /// The period values of the evaluation range ending with the last period
    /// complete at `now`, oldest first.
    fn range(&self, tl: &Timeline, now: i64) -> Vec<Option<f64>> {
        let end = now.div_euclid(self.period_ms) * self.period_ms;
        let len = self.evaluation_periods + 2;
        (0..len)
            .map(|k| {
                let from = end - (len - k) as i64 * self.period_ms;
                self.value(tl, from, from + self.period_ms)
            })
            .collect()
    }

    /// The state an evaluation at `now` sets, from `current`.
    pub fn evaluate(&self, tl: &Timeline, now: i64, current: State) -> State {
        let range = self.range(tl, now);
        let flags: Vec<Option<bool>> = range.iter().map(|v| v.map(|v| self.breaches(v))).collect();
        decide(
            &flags,
            self.evaluation_periods,
            self.datapoints_to_alarm,
            self.missing,
            current,
        )
    }

    /// The states of evaluations every minute from `from` to `to` (inclusive),
    /// starting as a new alarm does, in INSUFFICIENT_DATA.
    pub fn run(&self, tl: &Timeline, from: i64, to: i64) -> Vec<(i64, State)> {
        let mut state = State::InsufficientData;
        let mut out = Vec::new();
        let mut now = from;
        while now <= to {
            state = self.evaluate(tl, now, state);
            out.push((now, state));
            now += MINUTE_MS;
        }
        out
    }

    /// Whether the alarm is in ALARM at any evaluation in [from, to].
    pub fn fires(&self, tl: &Timeline, from: i64, to: i64) -> bool {
        self.run(tl, from, to)
            .iter()
            .any(|(_, s)| *s == State::Alarm)
    }
}

/// CloudWatch's decision over an evaluation range (`None` = missing,
/// `Some(true)` = breaching), oldest first. Reproduces the documented tables
/// (see the unit tests).
pub fn decide(
    range: &[Option<bool>],
    n: usize,
    m: usize,
    missing: Missing,
    current: State,
) -> State {
    let existing: Vec<bool> = range.iter().flatten().copied().collect();
    let verdict = |breaching: usize| {
        if breaching >= m {
            State::Alarm
        } else {
            State::Ok
        }
    };
    if existing.is_empty() {
        return match missing {
            Missing::Missing => State::InsufficientData,
            Missing::Ignore => current,
            Missing::Breaching => State::Alarm,
            Missing::NotBreaching => State::Ok,
        };
    }
    if existing.len() >= n {
        let recent = &existing[existing.len() - n..];
        return verdict(recent.iter().filter(|b| **b).count());
    }
    let breaching = existing.iter().filter(|b| **b).count();
    let fill = n - existing.len();
    match missing {
        Missing::Breaching => verdict(breaching + fill),
        Missing::NotBreaching => verdict(breaching),
        Missing::Missing | Missing::Ignore => {
            if breaching >= m {
                State::Alarm
            } else if breaching < existing.len() {
                // A real non-breaching datapoint: OK.
                State::Ok
            } else if missing == Missing::Ignore {
                current
            } else if range.first() == Some(&Some(true)) {
                // The oldest datapoint of the range breaches and none is OK.
                State::Alarm
            } else {
                State::InsufficientData
            }
        }
    }
}

// ------------------------------------------------------------------ the template

/// How drills name deployed resources: a resource's logical id stands for its
/// physical name, a parameter for its default (its name without one),
/// `${AWS::StackName}` for "okta-itdr".
pub const STACK_NAME: &str = "okta-itdr";

fn parameter_default(name: &str) -> Option<&'static Yaml> {
    let p = &crate::template()["Parameters"][name];
    (!p.is_null()).then(|| &p["Default"])
}

/// A template value as a string, with intrinsic functions resolved as above.
pub fn resolve(v: &Yaml) -> String {
    match v {
        Yaml::String(s) => s.clone(),
        Yaml::Number(n) => n.to_string(),
        Yaml::Tagged(t) => {
            let arg = t.value.as_str().unwrap_or_default();
            match t.tag.to_string().trim_start_matches('!') {
                "Ref" => match parameter_default(arg) {
                    Some(d) if !d.is_null() => resolve(d),
                    // A resource, or a parameter without a default: its name
                    // stands for the deployed value.
                    _ => arg.to_owned(),
                },
                "GetAtt" => arg.split('.').next().unwrap_or(arg).to_owned(),
                "Sub" => arg.replace("${AWS::StackName}", STACK_NAME),
                other => panic!("intrinsic {other} is not resolved: {v:?}"),
            }
        }
        other => panic!("cannot resolve {other:?}"),
    }
}

fn number(v: &Yaml, what: &str) -> f64 {
    let text = resolve(v);
    text.parse()
        .unwrap_or_else(|_| panic!("{what}: {text:?} is not a number"))
}

fn dims_of(metric: &Yaml) -> Dims {
    metric["Dimensions"]
        .as_sequence()
        .into_iter()
        .flatten()
        .map(|d| {
            (
                d["Name"].as_str().unwrap_or_default().to_owned(),
                resolve(&d["Value"]),
            )
        })
        .collect()
}

fn parse_sum(id: &str, expression: &str) -> Vec<(String, Option<f64>)> {
    expression
        .split('+')
        .map(|term| {
            let term = term.trim();
            if let Some(args) = term.strip_prefix("FILL(").and_then(|r| r.strip_suffix(')')) {
                let (input, fill) = args
                    .split_once(',')
                    .unwrap_or_else(|| panic!("{id}: {term}"));
                let fill: f64 = fill
                    .trim()
                    .parse()
                    .unwrap_or_else(|_| panic!("{id}: FILL with a non-constant in {term}"));
                (input.trim().to_owned(), Some(fill))
            } else if term.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                (term.to_owned(), None)
            } else {
                panic!("{id}: the evaluator does not understand {expression:?}")
            }
        })
        .collect()
}

fn alarm_from(id: &str, resource: &Yaml) -> Alarm {
    let p = &resource["Properties"];
    let (query, period_s, namespaces) = if p["Metrics"].is_sequence() {
        let mut inputs = BTreeMap::new();
        let mut expression = None;
        let mut period = None;
        for m in p["Metrics"].as_sequence().into_iter().flatten() {
            let mid = m["Id"].as_str().unwrap_or_default().to_owned();
            if let Some(e) = m["Expression"].as_str() {
                assert_eq!(m["ReturnData"].as_bool(), Some(true), "{id}: {mid}");
                expression = Some(e.to_owned());
            } else {
                let stat = &m["MetricStat"];
                let metric = &stat["Metric"];
                period = Some(number(&stat["Period"], id));
                inputs.insert(
                    mid,
                    MetricQuery {
                        key: MetricKey {
                            namespace: resolve(&metric["Namespace"]),
                            name: resolve(&metric["MetricName"]),
                            dims: dims_of(metric),
                        },
                        stat: resolve(&stat["Stat"]),
                    },
                );
            }
        }
        let expression = expression.unwrap_or_else(|| panic!("{id}: no expression returned"));
        let terms = parse_sum(id, &expression);
        for (input, _) in &terms {
            assert!(inputs.contains_key(input), "{id}: {input} is not defined");
        }
        let namespaces: BTreeSet<String> =
            inputs.values().map(|q| q.key.namespace.clone()).collect();
        (
            Query::Sum { terms, inputs },
            period.unwrap_or_else(|| panic!("{id}: no period")),
            namespaces,
        )
    } else {
        let key = MetricKey {
            namespace: resolve(&p["Namespace"]),
            name: resolve(&p["MetricName"]),
            dims: dims_of(p),
        };
        let namespaces = BTreeSet::from([key.namespace.clone()]);
        (
            Query::Metric(MetricQuery {
                key,
                stat: resolve(&p["Statistic"]),
            }),
            number(&p["Period"], id),
            namespaces,
        )
    };
    let n = number(&p["EvaluationPeriods"], id) as usize;
    let m = if p["DatapointsToAlarm"].is_null() {
        n
    } else {
        number(&p["DatapointsToAlarm"], id) as usize
    };
    let mut missing = match p["TreatMissingData"].as_str() {
        None | Some("missing") => Missing::Missing,
        Some("ignore") => Missing::Ignore,
        Some("breaching") => Missing::Breaching,
        Some("notBreaching") => Missing::NotBreaching,
        Some(other) => panic!("{id}: TreatMissingData {other}"),
    };
    // Documented: alarms on AWS/DynamoDB metrics always ignore missing data.
    if namespaces.contains("AWS/DynamoDB") {
        missing = Missing::Ignore;
    }
    Alarm {
        id: id.to_owned(),
        condition: resource["Condition"].as_str().map(str::to_owned),
        query,
        period_ms: (period_s * 1000.0) as i64,
        evaluation_periods: n,
        datapoints_to_alarm: m,
        threshold: number(&p["Threshold"], id),
        comparison: resolve(&p["ComparisonOperator"]),
        missing,
    }
}

/// Every alarm of `template.yaml`.
pub fn template_alarms() -> Vec<Alarm> {
    crate::template()["Resources"]
        .as_mapping()
        .expect("resources")
        .iter()
        .filter(|(_, r)| r["Type"].as_str() == Some("AWS::CloudWatch::Alarm"))
        .map(|(k, r)| alarm_from(k.as_str().unwrap_or_default(), r))
        .collect()
}

/// What is deployed: the poll function and its alarms exist only with an Okta
/// org URL (`HasOktaApi`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deployment {
    pub okta_api: bool,
}

impl Deployment {
    pub const STREAMING: Deployment = Deployment { okta_api: false };
    pub const WITH_POLL: Deployment = Deployment { okta_api: true };

    fn has(&self, alarm: &Alarm) -> bool {
        match alarm.condition.as_deref() {
            None => true,
            Some("HasOktaApi") => self.okta_api,
            Some(other) => panic!("{}: condition {other} is not simulated", alarm.id),
        }
    }
}

/// The alarms of `deployment` in ALARM at some evaluation in [from, to].
pub fn fired(tl: &Timeline, deployment: Deployment, from: i64, to: i64) -> BTreeSet<String> {
    template_alarms()
        .into_iter()
        .filter(|a| deployment.has(a))
        .filter(|a| a.fires(tl, from, to))
        .map(|a| a.id)
        .collect()
}

// ------------------------------------------------------------------ what AWS publishes

/// The dimension value drills use for a function, queue, rule…: its logical id.
pub fn lambda(tl: &mut Timeline, function: &str, metric: &str, t: i64, v: f64) {
    tl.put("AWS/Lambda", metric, &[("FunctionName", function)], t, v);
}

/// An SQS queue metric of `queue` (logical id).
pub fn sqs(tl: &mut Timeline, queue: &str, metric: &str, t: i64, v: f64) {
    tl.put("AWS/SQS", metric, &[("QueueName", queue)], t, v);
}

/// The partner event source's `Events` at `t` (the source is the bus's name).
pub fn okta_events(tl: &mut Timeline, t: i64, count: f64) {
    tl.points
        .entry(okta_events_key())
        .or_default()
        .entry(t)
        .or_default()
        .push(count);
}

/// The application log level drills run at: the strictest `LogLevel` the
/// template allows, so an alarm a drill raises is raised whatever the level.
pub const DRILL_LOG_LEVEL: &str = "ERROR";

/// A drill's timeline: a healthy deployment's background for a day before
/// `from` and through `to` (Okta events every minute; with the poller, its
/// invocation every five minutes), successful hourly detect runs before `from`
/// only (the drill runs detect itself, or says it is healthy with
/// [`Drill::healthy_detect_runs`]), then what the drill adds.
pub struct Drill {
    pub tl: Timeline,
    pub deployment: Deployment,
    pub from: i64,
    pub to: i64,
}

impl Drill {
    pub fn new(deployment: Deployment, from: i64, to: i64) -> Self {
        let mut d = Drill {
            tl: Timeline::new(),
            deployment,
            from,
            to,
        };
        let start = from - 24 * 60 * MINUTE_MS;
        let mut t = start - start.rem_euclid(MINUTE_MS);
        while t <= to {
            okta_events(&mut d.tl, t, 3.0);
            if deployment.okta_api && t.rem_euclid(5 * MINUTE_MS) == 0 {
                lambda(&mut d.tl, "PollFunction", "Invocations", t, 1.0);
            }
            t += MINUTE_MS;
        }
        d.healthy_detect_runs(start, from);
        d
    }

    /// Successful detect runs at five past every hour in [from, to).
    pub fn healthy_detect_runs(&mut self, from: i64, to: i64) {
        let mut t = from - from.rem_euclid(60 * MINUTE_MS) + 5 * MINUTE_MS;
        while t < to {
            if t >= from {
                self.detect_run(t, &Ok(okta_itdr_core::detect::run::RunReport::default()));
            }
            t += 60 * MINUTE_MS;
        }
    }

    /// One detect invocation at `t` with `result`: the EMF line the handler
    /// prints, through Lambda's filter at [`DRILL_LOG_LEVEL`], and Lambda's own
    /// invocation metrics.
    pub fn detect_run(
        &mut self,
        t: i64,
        result: &Result<okta_itdr_core::detect::run::RunReport, okta_itdr_aws::HandlerError>,
    ) {
        let line = okta_itdr_aws::handlers::detect_metrics(result, 1200.0)
            .to_line(t, Some(DRILL_LOG_LEVEL));
        self.function_lines(&[line]);
        lambda(&mut self.tl, "DetectFunction", "Invocations", t, 1.0);
        lambda(&mut self.tl, "DetectFunction", "Duration", t, 1200.0);
        if result.is_err() {
            lambda(&mut self.tl, "DetectFunction", "Errors", t, 1.0);
        }
    }

    /// What a function printed, as Lambda sends it at [`DRILL_LOG_LEVEL`] in
    /// the JSON log format; returns the datapoints CloudWatch extracts.
    pub fn function_lines(&mut self, printed: &[String]) -> usize {
        let sent = crate::lambda_logs::filter(printed, Some("JSON"), Some(DRILL_LOG_LEVEL));
        self.tl.put_lines(&sent)
    }

    /// Okta sends nothing in [from, to).
    pub fn okta_silent(&mut self, from: i64, to: i64) {
        self.tl.remove(&okta_events_key(), from, to);
    }

    /// The alarms that fire at some evaluation in the drill's [from, to].
    pub fn fired(&self) -> BTreeSet<String> {
        fired(&self.tl, self.deployment, self.from, self.to)
    }
}

/// Which drill raises which alarms: (test function, alarms). Each drill checks
/// with [`Drill::assert_fires_as_registered`] that exactly these fire over its
/// timeline; `alarm_drills::every_alarm_is_raised_by_a_drill` that every
/// alarm of the template is here and every drill named exists.
pub const DRILLS: &[(&str, &[&str])] = &[
    ("a_healthy_day_raises_no_alarm", &[]),
    (
        "a_fast_path_publish_failing_raises_its_alarm_and_the_hour_delivers",
        &["FastPathDeferredAlarm"],
    ),
    (
        "a_ten_day_late_redrive_raises_the_late_horizon_alarm",
        &["LateBeyondHorizonAlarm"],
    ),
    (
        "okta_going_silent_raises_the_heartbeat_alarm",
        &["OktaHeartbeatAlarm"],
    ),
    (
        "a_detect_function_that_keeps_failing_raises_its_alarms",
        &["DetectErrorsAlarm", "DetectNotSucceedingAlarm"],
    ),
    (
        "a_disabled_detect_schedule_raises_the_not_succeeding_alarm",
        &["DetectNotSucceedingAlarm"],
    ),
    (
        "a_detector_falling_behind_raises_the_lag_alarm",
        &["WatermarkLagAlarm"],
    ),
    (
        "a_run_near_its_timeout_raises_the_duration_alarm",
        &["DetectDurationAlarm"],
    ),
    (
        "sns_refusing_one_finding_forever_quarantines_it_and_delivers_the_rest",
        &["FindingsQuarantinedAlarm"],
    ),
    (
        "a_thirty_minute_dynamodb_outage_loses_nothing_and_changes_no_finding",
        &["IngestErrorsAlarm"],
    ),
    (
        "an_invalid_event_in_the_final_queue_raises_its_alarm",
        &["FinalDeadLetterAlarm"],
    ),
    (
        "ingest_throttled_with_its_rule_dead_letter_queue_unwritable",
        &["IngestThrottlesAlarm", "RuleDeadLetterFailedAlarm"],
    ),
    (
        "ingest_failing_with_its_destination_unwritable",
        &["IngestErrorsAlarm", "IngestDestinationFailedAlarm"],
    ),
    (
        "a_four_hour_outage_raises_the_recovery_alarms",
        &[
            "IngestErrorsAlarm",
            "RecoveryMappingFailingAlarm",
            "RecoveryStalledAlarm",
        ],
    ),
    (
        "a_recovery_queue_nobody_consumes_raises_the_stalled_alarm",
        &["RecoveryStalledAlarm"],
    ),
    (
        "dynamodb_throttling_raises_the_table_alarms",
        &["ActivityTableThrottleAlarm", "StateTableThrottleAlarm"],
    ),
    (
        "a_function_that_cannot_start_for_three_days_loses_nothing",
        &["IngestErrorsAlarm"],
    ),
    (
        "a_failing_poller_raises_its_errors_alarm",
        &["PollErrorsAlarm"],
    ),
    (
        "a_poll_function_that_cannot_start_alarms_in_five_minutes_and_loses_nothing",
        &["PollCannotStartAlarm", "PollErrorsAlarm"],
    ),
    (
        "a_stream_dropping_events_raises_the_missed_alarm",
        &["StreamMissedAlarm"],
    ),
    (
        "refused_and_unparsable_polled_events_are_dead_lettered_and_the_cursor_moves_on",
        &["PollDeadLetteredAlarm"],
    ),
    (
        "a_poller_far_behind_raises_the_backlog_alarm",
        &["PollBacklogAlarm"],
    ),
    (
        "a_disabled_poll_schedule_raises_the_not_invoked_alarm",
        &["PollNotInvokedAlarm"],
    ),
    (
        "a_failing_inventory_refresh_raises_its_errors_alarm",
        &["InventoryErrorsAlarm"],
    ),
];

impl Drill {
    /// Asserts that the alarms firing over the drill are exactly those
    /// registered for `drill` in [`DRILLS`].
    pub fn assert_fires_as_registered(&self, drill: &str) {
        let (_, want) = DRILLS
            .iter()
            .find(|(name, _)| *name == drill)
            .unwrap_or_else(|| panic!("{drill} is not in the registry of drills"));
        let want: BTreeSet<String> = want.iter().map(|a| (*a).to_owned()).collect();
        assert_eq!(self.fired(), want, "alarms fired by {drill}");
    }
}

/// The partner event source is named after the bus (`OktaEventBusName`).
fn okta_events_key() -> MetricKey {
    MetricKey::new(
        "AWS/Events",
        "Events",
        &[("EventSourceName", "OktaEventBusName")],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// "0 - X - X" as a range: 0 OK, X breaching, - missing.
    fn range(s: &str) -> Vec<Option<bool>> {
        s.split_whitespace()
            .map(|c| match c {
                "0" => Some(false),
                "X" => Some(true),
                "-" => None,
                other => panic!("{other}"),
            })
            .collect()
    }

    /// The rows of the CloudWatch user guide's tables ("How alarm state is
    /// evaluated when data is missing"): range, then the state for MISSING,
    /// IGNORE (None: retain the current state), BREACHING, NOT BREACHING.
    type Row = (&'static str, State, Option<State>, State, State);

    fn check(n: usize, m: usize, rows: &[Row]) {
        use State::*;
        for (points, missing, ignore, breaching, not_breaching) in rows {
            let r = range(points);
            assert_eq!(r.len(), 5);
            assert_eq!(
                decide(&r, n, m, Missing::Missing, Ok),
                *missing,
                "{points} missing"
            );
            for current in [Ok, Alarm, InsufficientData] {
                assert_eq!(
                    decide(&r, n, m, Missing::Ignore, current),
                    ignore.unwrap_or(current),
                    "{points} ignore from {current:?}"
                );
            }
            assert_eq!(
                decide(&r, n, m, Missing::Breaching, Ok),
                *breaching,
                "{points} breaching"
            );
            assert_eq!(
                decide(&r, n, m, Missing::NotBreaching, Alarm),
                *not_breaching,
                "{points} notBreaching"
            );
        }
    }

    #[test]
    fn three_of_three_as_documented() {
        use State::*;
        check(
            3,
            3,
            &[
                ("0 - X - X", Ok, Some(Ok), Ok, Ok),
                ("0 - - - -", Ok, Some(Ok), Ok, Ok),
                ("- - - - -", InsufficientData, None, Alarm, Ok),
                ("0 X X - X", Alarm, Some(Alarm), Alarm, Alarm),
                ("- - - - X", InsufficientData, None, Alarm, Ok),
                ("X - - - -", Alarm, None, Alarm, Ok),
            ],
        );
    }

    #[test]
    fn two_of_three_as_documented() {
        use State::*;
        check(
            3,
            2,
            &[
                ("0 - X - X", Alarm, Some(Alarm), Alarm, Alarm),
                ("0 0 X 0 X", Alarm, Some(Alarm), Alarm, Alarm),
                ("0 - X - -", Ok, Some(Ok), Alarm, Ok),
                ("- - - - 0", Ok, Some(Ok), Alarm, Ok),
                ("- - - - X", InsufficientData, None, Alarm, Ok),
            ],
        );
    }

    fn alarm(
        stat: &str,
        period_s: i64,
        n: usize,
        m: usize,
        op: &str,
        threshold: f64,
        missing: Missing,
    ) -> Alarm {
        Alarm {
            id: "Test".into(),
            condition: None,
            query: Query::Metric(MetricQuery {
                key: MetricKey::new("ns", "M", &[("Function", "f")]),
                stat: stat.into(),
            }),
            period_ms: period_s * 1000,
            evaluation_periods: n,
            datapoints_to_alarm: m,
            threshold,
            comparison: op.into(),
            missing,
        }
    }

    #[test]
    fn periods_aggregate_with_the_statistic_and_only_complete_periods_count() {
        let a = alarm(
            "Sum",
            300,
            1,
            1,
            "GreaterThanOrEqualToThreshold",
            3.0,
            Missing::NotBreaching,
        );
        let mut tl = Timeline::new();
        for t in [0, 60_000, 120_000] {
            tl.put("ns", "M", &[("Function", "f")], t, 1.0);
        }
        // Another dimension value is another metric.
        tl.put("ns", "M", &[("Function", "g")], 0, 10.0);
        assert_eq!(
            a.evaluate(&tl, 299_000, State::Ok),
            State::Ok,
            "period not complete"
        );
        assert_eq!(a.evaluate(&tl, 300_000, State::Ok), State::Alarm);
        // Documented: after a metric stops, alarms re-evaluate its last datapoints
        // for a while; here until the range (N + 2 periods) holds none of them.
        assert_eq!(a.evaluate(&tl, 600_000, State::Alarm), State::Alarm);
        assert_eq!(a.evaluate(&tl, 1_200_000, State::Alarm), State::Ok);
        let max = alarm(
            "Maximum",
            300,
            1,
            1,
            "GreaterThanThreshold",
            1.0,
            Missing::NotBreaching,
        );
        assert_eq!(
            max.evaluate(&tl, 300_000, State::Ok),
            State::Ok,
            "max is 1, not the sum"
        );
        assert!(a.fires(&tl, 0, 900_000));
        assert!(!a.fires(&tl, 1_200_000, 1_500_000));
    }

    #[test]
    fn emf_documents_become_datapoints_per_dimension_set() {
        let mut m = okta_itdr_aws::metrics::Metrics::for_function("detect");
        m.count("RunsSucceeded", 1).count("FindingsQuarantined", 2);
        let mut tl = Timeline::new();
        assert_eq!(tl.put_emf(&m.to_document(3_600_000)), 2);
        let key = MetricKey::new(
            "okta-itdr",
            "FindingsQuarantined",
            &[("Function", "detect")],
        );
        assert_eq!(tl.statistic(&key, "Sum", 3_600_000, 7_200_000), Some(2.0));
        assert_eq!(tl.statistic(&key, "Sum", 0, 3_600_000), None);
        // A line that is not EMF adds nothing.
        assert_eq!(
            tl.put_lines(&[r#"{"level":"INFO","message":"x"}"#.to_owned()]),
            0
        );
    }

    #[test]
    fn metric_math_sums_filled_inputs() {
        let terms = parse_sum("T", "FILL(a, 0) + FILL(b, 0) + c");
        assert_eq!(
            terms,
            vec![
                ("a".into(), Some(0.0)),
                ("b".into(), Some(0.0)),
                ("c".into(), None)
            ]
        );
    }

    #[test]
    #[should_panic(expected = "does not understand")]
    fn unknown_expressions_are_refused() {
        parse_sum("T", "a * 2");
    }
}
