//! One measured figure, as every bench prints it: `RESULT {json}` on stdout.

use serde::{Deserialize, Serialize};

/// A figure with its reference (the limit or peer it is read against), its
/// target and whether the target was met. A target is a floor on `value`
/// ([`Figure::at_least`]) or a floor or ceiling on its ratio to the reference
/// ([`Figure::ratio_at_least`], [`Figure::ratio_at_most`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Figure {
    pub name: String,
    pub value: f64,
    pub unit: String,
    #[serde(default)]
    pub reference_name: Option<String>,
    #[serde(default)]
    pub reference_value: Option<f64>,
    #[serde(default)]
    pub ratio: Option<f64>,
    #[serde(default)]
    pub target: Option<Target>,
    #[serde(default)]
    pub met: Option<bool>,
    /// The workload size the figure was measured at: events in the run, or
    /// for growth figures the events already in the log.
    #[serde(default, deserialize_with = "any_number")]
    pub size: Option<u64>,
}

/// A bound on `value`: a number (this suite's), or words with a comparator
/// and a number (`">= 25000 /s at 64 clients"`, `"< 5 ms"`, `">= 0.60 of
/// decode-only"`, which bounds the ratio), as other benches print them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Target {
    Number(f64),
    Text(String),
}

impl Target {
    /// For words: whether it is a floor, and the number.
    fn parse_text(text: &str) -> Option<(bool, f64)> {
        let t = text.trim();
        let floor = if t.starts_with(">=") || t.starts_with('≥') || t.starts_with('>') {
            true
        } else if t.starts_with("<=")
            || t.starts_with('≤')
            || t.starts_with('<')
            || t.starts_with("within")
        {
            false
        } else {
            return None;
        };
        let number: String = t
            .trim_start_matches(|c: char| !c.is_ascii_digit())
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == '.' || *c == ',' || *c == '_')
            .filter(|c| *c != ',' && *c != '_')
            .collect();
        Some((floor, number.parse().ok()?))
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Number(n) => write!(f, "{n}"),
            Target::Text(t) => f.write_str(t),
        }
    }
}

/// Other benches may print a size as `1e6` or `1000000.0`.
fn any_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    let n: Option<f64> = Option::deserialize(d)?;
    Ok(n.map(|n| n.round() as u64))
}

impl Figure {
    pub fn new(name: impl Into<String>, value: f64, unit: &str) -> Figure {
        Figure {
            name: name.into(),
            value,
            unit: unit.to_owned(),
            reference_name: None,
            reference_value: None,
            ratio: None,
            target: None,
            met: None,
            size: None,
        }
    }

    pub fn against(mut self, reference_name: &str, reference_value: f64) -> Figure {
        self.reference_name = Some(reference_name.to_owned());
        self.reference_value = Some(reference_value);
        self.ratio = Some(self.value / reference_value);
        self
    }

    pub fn at_least(mut self, target: f64) -> Figure {
        self.target = Some(Target::Number(target));
        self.met = Some(self.value >= target);
        self
    }

    /// A floor on the ratio to the reference set by [`Figure::against`], which `of` names.
    pub fn ratio_at_least(mut self, target: f64, of: &str) -> Figure {
        self.target = Some(Target::Text(format!(">= {target} of {of}")));
        self.met = self.ratio.map(|r| r >= target);
        self
    }

    /// A ceiling on the ratio to the reference set by [`Figure::against`], which `of` names.
    pub fn ratio_at_most(mut self, target: f64, of: &str) -> Figure {
        self.target = Some(Target::Text(format!("<= {target} of {of}")));
        self.met = self.ratio.map(|r| r <= target);
        self
    }

    pub fn size(mut self, size: u64) -> Figure {
        self.size = Some(size);
        self
    }

    /// Whether the target is a floor, the bound, and what it bounds
    /// (`value`, or `ratio` for words like ">= 0.60 of decode-only"). A
    /// number is a floor ([`Figure::at_least`]); ceilings are in words.
    pub fn bound(&self) -> Option<(bool, f64, f64)> {
        match self.target.as_ref()? {
            Target::Number(t) => Some((true, *t, self.value)),
            Target::Text(text) => {
                let (floor, t) = Target::parse_text(text)?;
                let bounded = match self.ratio {
                    Some(r) if text.contains(" of ") => r,
                    _ => self.value,
                };
                Some((floor, t, bounded))
            }
        }
    }

    pub fn target_is_floor(&self) -> Option<bool> {
        self.bound().map(|b| b.0)
    }

    /// How far a missed target is from being met, as a fraction of the target.
    pub fn shortfall(&self) -> Option<f64> {
        if self.met != Some(false) {
            return None;
        }
        let (floor, target, bounded) = self.bound()?;
        Some(if floor {
            1.0 - bounded / target
        } else {
            bounded / target - 1.0
        })
    }

    pub fn result_line(&self) -> String {
        format!(
            "RESULT {}",
            serde_json::to_string(self).expect("a figure is JSON")
        )
    }

    /// Reads a `RESULT {json}` line; anything else is `None`.
    pub fn parse_line(line: &str) -> Option<Result<Figure, serde_json::Error>> {
        let json = line.trim().strip_prefix("RESULT ")?;
        Some(serde_json::from_str(json))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_result_line_reads_back() {
        let figure = Figure::new("side.stocktake.64w", 20_000.0, "events/s")
            .against("side.postgres.64w", 10_000.0)
            .at_least(50_000.0)
            .size(120_000);
        let back = Figure::parse_line(&figure.result_line()).unwrap().unwrap();
        assert_eq!(back, figure);
        assert_eq!(back.ratio, Some(2.0));
        assert_eq!(back.met, Some(false));
        assert!((back.shortfall().unwrap() - 0.6).abs() < 1e-9);
    }

    #[test]
    fn a_target_on_the_ratio() {
        let twice = Figure::new("side.stocktake.16w_vs_postgres", 45_000.0, "events/s")
            .against("side.postgres.16w", 20_000.0)
            .ratio_at_least(2.0, "the peer's rate");
        assert_eq!(
            (twice.met, twice.target_is_floor()),
            (Some(true), Some(true))
        );
        let short = Figure::new("side.stocktake.16w_vs_postgres", 30_000.0, "events/s")
            .against("side.postgres.16w", 20_000.0)
            .ratio_at_least(2.0, "the peer's rate");
        assert_eq!(short.met, Some(false));
        assert!((short.shortfall().unwrap() - 0.25).abs() < 1e-9);
        let big = Figure::new("disk.bytes_per_event_vs_jsonl", 3_000.0, "bytes")
            .against("disk.jsonl_bytes_per_event", 1_000.0)
            .ratio_at_most(2.5, "the JSON Lines export");
        assert_eq!((big.met, big.target_is_floor()), (Some(false), Some(false)));
        assert!((big.shortfall().unwrap() - 0.2).abs() < 1e-9);
        let unmeasured = Figure::new("x", 1.0, "ms").ratio_at_most(2.5, "nothing");
        assert_eq!(unmeasured.met, None);
    }

    #[test]
    fn other_lines_and_missing_fields() {
        assert!(Figure::parse_line("durable appends: 1").is_none());
        let f = Figure::parse_line(r#"RESULT {"name":"x","value":1.5,"unit":"ms"}"#)
            .unwrap()
            .unwrap();
        assert_eq!(f.target, None);
    }

    #[test]
    fn targets_in_words() {
        let line = r#"RESULT {"name": "full projection rebuild", "value": 300000.0, "unit": "events/s", "reference_name": "decode-only scan", "reference_value": 600000.0, "ratio": 0.5, "target": ">= 0.60 of decode-only", "met": false, "size": 1000000}"#;
        let f = Figure::parse_line(line).unwrap().unwrap();
        assert_eq!(f.size, Some(1_000_000));
        assert!((f.shortfall().unwrap() - (1.0 - 0.5 / 0.6)).abs() < 1e-9);
        let p99 = Figure {
            target: Some(Target::Text("< 5 ms at 64 clients".into())),
            met: Some(false),
            ..Figure::new("http p99", 7.5, "ms")
        };
        assert_eq!(p99.target_is_floor(), Some(false));
        assert!((p99.shortfall().unwrap() - 0.5).abs() < 1e-9);
        let rate = Figure {
            target: Some(Target::Text(">= 25000 /s at 64 clients".into())),
            met: Some(false),
            ..Figure::new("http", 20_000.0, "commands/s")
        };
        assert!((rate.shortfall().unwrap() - 0.2).abs() < 1e-9);
    }
}
