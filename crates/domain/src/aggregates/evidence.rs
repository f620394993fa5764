//! The evidence attached to an action: a list that is only ever added to, shared by every copy
//! of the action's state.
//!
//! A read model keeps a copy of an action's state every few dozen events, and an action gathers
//! evidence for years. Kept in a B-tree, every copy copied the tree and touched every piece's
//! reference count, and adding a piece searched the tree: together a quarter of a rebuild's
//! fold at 1,000,000 events. Here each piece links to the pieces attached before it, so a copy
//! is one reference count and adding a piece is one allocation. Asking whether an id is
//! attached walks the list, which only a command about that one action does.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::ids::EvidenceId;
use crate::text::{Reference, Title};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    pub evidence_id: EvidenceId,
    pub title: Title,
    pub reference: Reference,
}

/// The pieces of evidence attached to an action, in the order attached.
#[derive(Clone, Default)]
pub struct EvidenceList {
    latest: Option<Arc<Link>>,
    /// Kept here rather than read from the latest piece: every line of the plan an action's
    /// events add counts its evidence, and in a rebuild that piece is far out of the CPU's
    /// cache (reading it was a twentieth of the fold).
    len: usize,
}

struct Link {
    evidence: Evidence,
    earlier: Option<Arc<Link>>,
}

impl EvidenceList {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Attaches a piece after the others. Copies of the list made before keep what they had.
    pub fn push(&mut self, evidence: Evidence) {
        self.latest = Some(Arc::new(Link {
            evidence,
            earlier: self.latest.take(),
        }));
        self.len += 1;
    }

    pub fn contains(&self, id: EvidenceId) -> bool {
        self.latest_first().any(|e| e.evidence_id == id)
    }

    /// Every piece, the latest attached first.
    pub fn latest_first(&self) -> impl Iterator<Item = &Evidence> {
        std::iter::successors(self.latest.as_deref(), |link| link.earlier.as_deref())
            .map(|link| &link.evidence)
    }

    /// Every piece, in the order attached.
    pub fn in_order(&self) -> Vec<&Evidence> {
        let mut pieces: Vec<&Evidence> = self.latest_first().collect();
        pieces.reverse();
        pieces
    }
}

impl FromIterator<Evidence> for EvidenceList {
    fn from_iter<I: IntoIterator<Item = Evidence>>(pieces: I) -> Self {
        let mut list = EvidenceList::default();
        for evidence in pieces {
            list.push(evidence);
        }
        list
    }
}

impl Drop for EvidenceList {
    /// Unlinks the pieces no other copy holds one at a time: dropped link by link, a long list
    /// would recurse once per piece and could overflow the stack.
    fn drop(&mut self) {
        let mut next = self.latest.take();
        while let Some(link) = next {
            next = match Arc::try_unwrap(link) {
                Ok(mut only) => only.earlier.take(),
                Err(_) => None,
            };
        }
    }
}

impl PartialEq for EvidenceList {
    fn eq(&self, other: &Self) -> bool {
        let shared = match (&self.latest, &other.latest) {
            (Some(mine), Some(theirs)) => Arc::ptr_eq(mine, theirs),
            (None, None) => true,
            _ => false,
        };
        shared || (self.len() == other.len() && self.latest_first().eq(other.latest_first()))
    }
}

impl fmt::Debug for EvidenceList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.in_order()).finish()
    }
}

impl Serialize for EvidenceList {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.in_order())
    }
}

impl<'de> Deserialize<'de> for EvidenceList {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(Vec::<Evidence>::deserialize(deserializer)?
            .into_iter()
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn piece(n: u128) -> Evidence {
        Evidence {
            evidence_id: EvidenceId(Uuid::from_u128(n)),
            title: Title::parse(format!("Audit report {n}")).unwrap(),
            reference: Reference::parse(format!("https://intranet.example/audits/{n}")).unwrap(),
        }
    }

    fn ids(pieces: Vec<&Evidence>) -> Vec<u128> {
        pieces.iter().map(|e| e.evidence_id.0.as_u128()).collect()
    }

    #[test]
    fn pieces_come_back_in_the_order_attached_whatever_their_ids() {
        let list: EvidenceList = [3, 1, 2].into_iter().map(piece).collect();
        assert_eq!(ids(list.in_order()), [3, 1, 2]);
        assert_eq!(ids(list.latest_first().collect()), [2, 1, 3]);
        assert_eq!(list.len(), 3);
        assert!(list.contains(EvidenceId(Uuid::from_u128(1))));
        assert!(!list.contains(EvidenceId(Uuid::from_u128(4))));
    }

    #[test]
    fn a_copy_keeps_what_it_had_when_either_gains_a_piece() {
        let mut list: EvidenceList = [1, 2].into_iter().map(piece).collect();
        let mut copy = list.clone();
        list.push(piece(3));
        copy.push(piece(4));
        assert_eq!(ids(list.in_order()), [1, 2, 3]);
        assert_eq!(ids(copy.in_order()), [1, 2, 4]);
        assert_ne!(list, copy);
        assert_eq!(list.len(), copy.len());
    }

    #[test]
    fn lists_are_equal_by_their_pieces_in_order_not_by_where_they_are_kept() {
        let built_apart: EvidenceList = [1, 2].into_iter().map(piece).collect();
        let list: EvidenceList = [1, 2].into_iter().map(piece).collect();
        assert_eq!(list, built_apart);
        assert_eq!(list, list.clone());
        let reordered: EvidenceList = [2, 1].into_iter().map(piece).collect();
        assert_ne!(list, reordered);
        assert_ne!(list, EvidenceList::default());
        assert_eq!(EvidenceList::default(), EvidenceList::default());
    }

    #[test]
    fn the_json_is_the_pieces_in_order_and_reads_back_the_same() {
        let list: EvidenceList = [2, 1].into_iter().map(piece).collect();
        let json = serde_json::to_value(&list).unwrap();
        assert_eq!(
            json[0]["evidence_id"],
            serde_json::json!(Uuid::from_u128(2))
        );
        assert_eq!(json.as_array().unwrap().len(), 2);
        let back: EvidenceList = serde_json::from_value(json).unwrap();
        assert_eq!(back, list);
    }

    #[test]
    fn a_long_list_drops_without_overflowing_the_stack() {
        let list: EvidenceList = (0..1_000_000).map(piece).collect();
        let kept = list.clone();
        drop(list);
        assert_eq!(kept.len(), 1_000_000);
        drop(kept);
    }
}
