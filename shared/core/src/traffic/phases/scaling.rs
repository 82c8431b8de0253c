//! Application Auto Scaling during a deployment, as ECS's blue/green does it and a bit more:
//! when either service is a scalable target, its `SuspendedState` is saved at the start (in the
//! deployment's fixed part, so the token cannot change it), dynamic scale-in is suspended on
//! both sides while traffic is split (a side losing traffic must not lose the tasks a rollback
//! needs), the new side is kept at least as large as its share of production needs, and the
//! saved state is put back exactly at the end: after a success, a rollback, or a crash resumed
//! from the continuation token.

use serde::{Deserialize, Serialize};

/// A scalable target's `SuspendedState`, field by field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SuspendedState {
    #[serde(rename = "i")]
    pub dynamic_scaling_in: bool,
    #[serde(rename = "o")]
    pub dynamic_scaling_out: bool,
    #[serde(rename = "s")]
    pub scheduled_scaling: bool,
}

impl SuspendedState {
    /// The same, with dynamic scale-in suspended.
    pub fn without_scale_in(self) -> Self {
        Self {
            dynamic_scaling_in: true,
            ..self
        }
    }
}

/// What each side's scalable target had before the deployment (`None`: not a scalable target).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SavedScaling {
    #[serde(rename = "b", default, skip_serializing_if = "Option::is_none")]
    pub blue: Option<SuspendedState>,
    #[serde(rename = "g", default, skip_serializing_if = "Option::is_none")]
    pub green: Option<SuspendedState>,
}

impl SavedScaling {
    /// Neither side is a scalable target.
    pub fn is_empty(&self) -> bool {
        self.blue.is_none() && self.green.is_none()
    }

    pub fn of(&self, side: crate::traffic::Side) -> Option<SuspendedState> {
        match side {
            crate::traffic::Side::Blue => self.blue,
            crate::traffic::Side::Green => self.green,
        }
    }
}

/// The new side's desired count for `percent` of production when the live side wants
/// `live_desired` tasks: never below ceil(percent × live_desired), never below `current`.
pub fn new_side_floor(percent: u8, live_desired: i32, current: i32) -> i32 {
    let live = i64::from(live_desired.max(0));
    let needed = (i64::from(percent.min(100)) * live + 99) / 100;
    current.max(needed as i32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_new_side_gets_at_least_its_share_of_the_live_sides_tasks_rounded_up() {
        assert_eq!(new_side_floor(10, 4, 0), 1);
        assert_eq!(new_side_floor(50, 5, 0), 3);
        assert_eq!(new_side_floor(100, 7, 2), 7);
        assert_eq!(new_side_floor(0, 7, 2), 2);
        // It never takes tasks away.
        assert_eq!(new_side_floor(10, 4, 6), 6);
    }

    #[test]
    fn suspending_scale_in_keeps_the_other_fields() {
        let saved = SuspendedState {
            dynamic_scaling_in: false,
            dynamic_scaling_out: false,
            scheduled_scaling: true,
        };
        assert_eq!(
            saved.without_scale_in(),
            SuspendedState {
                dynamic_scaling_in: true,
                dynamic_scaling_out: false,
                scheduled_scaling: true
            }
        );
    }
}
