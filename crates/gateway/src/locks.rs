//! One queue per stream: commands on the same action wait their turn instead of racing for the
//! same version and retrying, while commands on different streams still commit together.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard};
use uuid::Uuid;

#[derive(Debug, Default)]
pub struct StreamLocks {
    locks: Mutex<HashMap<Uuid, Arc<AsyncMutex<()>>>>,
}

/// Holds a stream's turn; the entry is removed when nobody else waits for it.
#[derive(Debug)]
pub struct StreamTurn<'a> {
    locks: &'a StreamLocks,
    stream: Uuid,
    guard: Option<OwnedMutexGuard<()>>,
}

impl StreamLocks {
    pub async fn turn(&self, stream: Uuid) -> StreamTurn<'_> {
        let lock = {
            let mut locks = self.locks.lock().unwrap_or_else(|p| p.into_inner());
            locks.entry(stream).or_default().clone()
        };
        let guard = lock.lock_owned().await;
        StreamTurn {
            locks: self,
            stream,
            guard: Some(guard),
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.locks.lock().unwrap().len()
    }
}

impl Drop for StreamTurn<'_> {
    fn drop(&mut self) {
        drop(self.guard.take());
        let mut locks = self.locks.locks.lock().unwrap_or_else(|p| p.into_inner());
        // Only the map holds it now: nobody is waiting, so forget the stream.
        if locks
            .get(&self.stream)
            .is_some_and(|l| Arc::strong_count(l) == 1)
        {
            locks.remove(&self.stream);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn turns_on_one_stream_are_taken_one_at_a_time_and_then_forgotten() {
        let locks = Arc::new(StreamLocks::default());
        let stream = Uuid::from_u128(1);
        let counter = Arc::new(Mutex::new((0u32, 0u32)));
        let tasks: Vec<_> = (0..16)
            .map(|_| {
                let (locks, counter) = (locks.clone(), counter.clone());
                tokio::spawn(async move {
                    let _turn = locks.turn(stream).await;
                    {
                        let mut c = counter.lock().unwrap();
                        c.0 += 1;
                        c.1 = c.1.max(c.0);
                    }
                    tokio::task::yield_now().await;
                    counter.lock().unwrap().0 -= 1;
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        assert_eq!(
            counter.lock().unwrap().1,
            1,
            "two commands held the same stream at once"
        );
        assert_eq!(locks.len(), 0);
    }
}
