//! A stream's effective or recorded times, in order, with every sixteenth kept apart as well.
//!
//! Every question about a moment starts with "how many of this stream's events are at or
//! before it", once per action of a plan. A binary search over one action's thousand times
//! reads about ten cache lines, each a miss once the log no longer fits in the CPU's cache (at
//! 1,000,000 events the searches were three fifths of an as-of overview). The times kept
//! apart are a sixteenth as many, small enough to stay cached across questions, and narrow
//! the search to sixteen neighbouring times: a few lines side by side.

use chrono::{DateTime, Utc};

/// How many times each kept-apart time stands for.
const STRIDE: usize = 16;

#[derive(Debug, Clone, Default)]
pub struct SortedTimes {
    times: Vec<DateTime<Utc>>,
    /// `times[0]`, `times[STRIDE]`, `times[2 * STRIDE]`, ...
    every_stride: Vec<DateTime<Utc>>,
}

impl SortedTimes {
    pub fn with_capacity(times: usize) -> Self {
        SortedTimes {
            times: Vec::with_capacity(times),
            every_stride: Vec::with_capacity(times.div_ceil(STRIDE)),
        }
    }

    /// Adds a time after the others. [`SortedTimes::count_until`] answers only while every
    /// time pushed is at or after the one before it.
    pub fn push(&mut self, time: DateTime<Utc>) {
        if self.times.len() % STRIDE == 0 {
            self.every_stride.push(time);
        }
        self.times.push(time);
    }

    /// Every time, in the order pushed.
    pub fn as_slice(&self) -> &[DateTime<Utc>] {
        &self.times
    }

    pub fn clear(&mut self) {
        self.times.clear();
        self.every_stride.clear();
    }

    /// How many times are at or before `moment`.
    pub fn count_until(&self, moment: DateTime<Utc>) -> usize {
        let strides = self.every_stride.partition_point(|&t| t <= moment);
        let Some(stride) = strides.checked_sub(1) else {
            return 0;
        };
        // `times[start]` is at or before the moment, and the next stride's first is after it.
        let start = stride * STRIDE;
        let end = (start + STRIDE).min(self.times.len());
        start + self.times[start..end].partition_point(|&t| t <= moment)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn second(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_500_000_000 + s, 0).unwrap()
    }

    proptest! {
        /// The count is a binary search's over all the times, for lists across several strides,
        /// with runs of equal times, and moments before, among and after them.
        #[test]
        fn counts_as_a_search_over_every_time(
            steps in proptest::collection::vec(0i64..3, 0..80),
            moment in -2i64..130,
        ) {
            let mut times = SortedTimes::with_capacity(steps.len());
            let mut all = Vec::new();
            let mut at = 0;
            for step in steps {
                at += step;
                times.push(second(at));
                all.push(second(at));
            }
            let moment = second(moment);
            prop_assert_eq!(
                times.count_until(moment),
                all.partition_point(|&t| t <= moment)
            );
        }
    }

    #[test]
    fn a_cleared_list_counts_nothing_and_starts_its_strides_again() {
        let mut times = SortedTimes::default();
        for s in 0..40 {
            times.push(second(s));
        }
        assert_eq!(times.count_until(second(39)), 40);
        times.clear();
        assert_eq!(times.count_until(second(100)), 0);
        for s in 0..20 {
            times.push(second(s));
        }
        assert_eq!(times.count_until(second(17)), 18);
        assert_eq!(times.count_until(second(-1)), 0);
    }
}
