//! The current plan overview, serialized once and served again until the read model moves on
//! or the second turns. A board's screens poll the overview far more often than the plan
//! changes, and building it is most of what a read costs.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use axum::body::Bytes;
use chrono::{DateTime, Utc};
use stocktake_domain::PlanId;

/// One serialized overview per plan: only plans that exist are answered, so it holds at most
/// one entry per plan.
#[derive(Debug, Default)]
pub struct OverviewCache {
    answers: Mutex<HashMap<PlanId, Cached>>,
}

#[derive(Debug)]
struct Cached {
    last_seq: u64,
    second: i64,
    body: Bytes,
}

impl OverviewCache {
    /// The body answered for `plan_id` when the read model was at `last_seq`, within the
    /// second of `now`: overdue and staleness are judged in whole days, and the answer's
    /// `reference_time` says when within that second it was judged.
    pub fn get(&self, plan_id: PlanId, last_seq: u64, now: DateTime<Utc>) -> Option<Bytes> {
        self.lock()
            .get(&plan_id)
            .filter(|c| c.last_seq == last_seq && c.second == now.timestamp())
            .map(|c| c.body.clone())
    }

    pub fn put(&self, plan_id: PlanId, last_seq: u64, now: DateTime<Utc>, body: Bytes) {
        self.lock().insert(
            plan_id,
            Cached {
                last_seq,
                second: now.timestamp(),
                body,
            },
        );
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<PlanId, Cached>> {
        self.answers
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use uuid::Uuid;

    #[test]
    fn an_answer_is_reused_only_at_the_same_sequence_and_second() {
        let cache = OverviewCache::default();
        let plan = PlanId::from(Uuid::from_u128(1));
        let other = PlanId::from(Uuid::from_u128(2));
        let now = Utc.with_ymd_and_hms(2018, 7, 12, 10, 0, 0).unwrap();
        cache.put(plan, 7, now, Bytes::from_static(b"{}"));
        let later_same_second = now + chrono::Duration::milliseconds(999);
        assert_eq!(
            cache.get(plan, 7, later_same_second).as_deref(),
            Some(&b"{}"[..])
        );
        assert!(cache.get(plan, 8, now).is_none(), "the model moved on");
        assert!(cache
            .get(plan, 7, now + chrono::Duration::seconds(1))
            .is_none());
        assert!(cache.get(other, 7, now).is_none());
    }
}
