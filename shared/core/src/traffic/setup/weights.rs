//! The listener's weights: which side is live, which is idle, and the weights a step sets.

use serde::{Deserialize, Serialize};

/// One of the two symmetric halves of a blue/green pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Side {
    #[serde(rename = "b")]
    Blue,
    #[serde(rename = "g")]
    Green,
}

impl Side {
    /// The other side.
    pub fn other(self) -> Side {
        match self {
            Side::Blue => Side::Green,
            Side::Green => Side::Blue,
        }
    }

    /// `blue` or `green`, as in `UserParameters`.
    pub fn name(self) -> &'static str {
        match self {
            Side::Blue => "blue",
            Side::Green => "green",
        }
    }
}

impl std::fmt::Display for Side {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The forward action's weights for the two target groups (ALB weights are 0–999; Gantry writes
/// percentages, but reads whatever is there).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Weights {
    pub blue: u32,
    pub green: u32,
}

impl Weights {
    /// All traffic to `side`.
    pub fn all_to(side: Side) -> Self {
        Self::split(side, 100)
    }

    /// `percent` of traffic to `side`, the rest to the other.
    pub fn split(side: Side, percent: u8) -> Self {
        let p = u32::from(percent.min(100));
        match side {
            Side::Blue => Weights {
                blue: p,
                green: 100 - p,
            },
            Side::Green => Weights {
                blue: 100 - p,
                green: p,
            },
        }
    }

    /// `side`'s weight.
    pub fn of(&self, side: Side) -> u32 {
        match side {
            Side::Blue => self.blue,
            Side::Green => self.green,
        }
    }

    /// `side`'s share of traffic, in whole percent (rounded).
    pub fn percent(&self, side: Side) -> u8 {
        let total = self.blue + self.green;
        if total == 0 {
            return 0;
        }
        ((self.of(side) * 100 + total / 2) / total) as u8
    }

    /// Whether both weights send the same shares as `other` (10/90 equals 100/900).
    pub fn same_shares(&self, other: &Weights) -> bool {
        u64::from(self.blue) * u64::from(other.green)
            == u64::from(self.green) * u64::from(other.blue)
            && (self.blue + self.green > 0) == (other.blue + other.green > 0)
    }

    /// The side taking all traffic, if one does.
    pub fn sole(&self) -> Option<Side> {
        match (self.blue, self.green) {
            (b, 0) if b > 0 => Some(Side::Blue),
            (0, g) if g > 0 => Some(Side::Green),
            _ => None,
        }
    }
}

impl std::fmt::Display for Weights {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "blue {}, green {}", self.blue, self.green)
    }
}

/// One target group of a forward action, as the load balancer reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForwardTarget {
    pub target_group_arn: String,
    /// `None` when the load balancer gave no weight (it then counts as 1).
    pub weight: Option<i32>,
}

/// Why the listener's forward action cannot be a blue/green pair.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WeightsError {
    #[error("{place} has no forward action")]
    NoForward { place: String },
    #[error("{place} forwards to {arn}, which is neither blue.target_group_arn nor green.target_group_arn")]
    Foreign { place: String, arn: String },
    #[error("{side}.target_group_arn {arn} is not on {place} (it forwards to {found})")]
    Missing {
        side: Side,
        arn: String,
        place: String,
        found: String,
    },
    #[error("{place} sends no traffic to either target group (both weights are 0)")]
    NoTraffic { place: String },
    #[error("{place} is part-way through a shift ({weights}): finish or undo it before starting a new deployment")]
    MidShift { place: String, weights: Weights },
}

/// Reads the two groups' weights from a forward action. `place` names the listener or rule in
/// errors; the action must forward to exactly the two named target groups.
pub fn read_weights(
    targets: &[ForwardTarget],
    blue_arn: &str,
    green_arn: &str,
    place: &str,
) -> Result<Weights, WeightsError> {
    if targets.is_empty() {
        return Err(WeightsError::NoForward {
            place: place.to_string(),
        });
    }
    if let Some(foreign) = targets
        .iter()
        .find(|t| t.target_group_arn != blue_arn && t.target_group_arn != green_arn)
    {
        return Err(WeightsError::Foreign {
            place: place.to_string(),
            arn: foreign.target_group_arn.clone(),
        });
    }
    let weight = |side: Side, arn: &str| {
        targets
            .iter()
            .find(|t| t.target_group_arn == arn)
            .map(|t| t.weight.unwrap_or(1).max(0) as u32)
            .ok_or_else(|| WeightsError::Missing {
                side,
                arn: arn.to_string(),
                place: place.to_string(),
                found: targets
                    .iter()
                    .map(|t| t.target_group_arn.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    };
    let weights = Weights {
        blue: weight(Side::Blue, blue_arn)?,
        green: weight(Side::Green, green_arn)?,
    };
    if weights.blue + weights.green == 0 {
        return Err(WeightsError::NoTraffic {
            place: place.to_string(),
        });
    }
    Ok(weights)
}

/// Which side is live: the one taking all traffic. A listener part-way through a shift has
/// no live side, and starting a deployment from it would guess.
pub fn live_side(weights: Weights, place: &str) -> Result<Side, WeightsError> {
    weights.sole().ok_or_else(|| WeightsError::MidShift {
        place: place.to_string(),
        weights,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const BLUE: &str = "arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/shop-blue/1";
    const GREEN: &str = "arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/shop-green/2";

    fn fwd(pairs: &[(&str, Option<i32>)]) -> Vec<ForwardTarget> {
        pairs
            .iter()
            .map(|(a, w)| ForwardTarget {
                target_group_arn: a.to_string(),
                weight: *w,
            })
            .collect()
    }

    #[test]
    fn the_side_with_all_the_weight_is_live() {
        let w = read_weights(&fwd(&[(BLUE, Some(0)), (GREEN, Some(1))]), BLUE, GREEN, "l").unwrap();
        assert_eq!(live_side(w, "l").unwrap(), Side::Green);
        let w = read_weights(
            &fwd(&[(GREEN, Some(0)), (BLUE, Some(100))]),
            BLUE,
            GREEN,
            "l",
        )
        .unwrap();
        assert_eq!(live_side(w, "l").unwrap(), Side::Blue);
    }

    #[test]
    fn a_split_listener_has_no_live_side() {
        let w = read_weights(
            &fwd(&[(BLUE, Some(90)), (GREEN, Some(10))]),
            BLUE,
            GREEN,
            "listener x",
        )
        .unwrap();
        let err = live_side(w, "listener x").unwrap_err().to_string();
        assert!(
            err.contains("part-way through a shift (blue 90, green 10)"),
            "{err}"
        );
    }

    #[test]
    fn a_target_group_not_on_the_listener_is_named() {
        let err = read_weights(&fwd(&[(BLUE, Some(1))]), BLUE, GREEN, "listener x").unwrap_err();
        assert!(matches!(
            err,
            WeightsError::Missing {
                side: Side::Green,
                ..
            }
        ));
        assert!(
            err.to_string().starts_with("green.target_group_arn arn:"),
            "{err}"
        );
    }

    #[test]
    fn a_foreign_target_group_is_named() {
        let other = "arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/other/3";
        let err = read_weights(&fwd(&[(BLUE, Some(1)), (other, Some(0))]), BLUE, GREEN, "l")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("targetgroup/other/3, which is neither"),
            "{err}"
        );
    }

    #[test]
    fn no_forward_and_no_traffic_are_errors() {
        assert!(matches!(
            read_weights(&[], BLUE, GREEN, "l"),
            Err(WeightsError::NoForward { .. })
        ));
        assert!(matches!(
            read_weights(&fwd(&[(BLUE, Some(0)), (GREEN, Some(0))]), BLUE, GREEN, "l"),
            Err(WeightsError::NoTraffic { .. })
        ));
    }

    #[test]
    fn shares_are_compared_not_raw_weights() {
        let a = Weights {
            blue: 90,
            green: 10,
        };
        let b = Weights {
            blue: 900,
            green: 100,
        };
        assert!(a.same_shares(&b));
        assert!(!a.same_shares(&Weights::split(Side::Green, 20)));
        assert_eq!(b.percent(Side::Green), 10);
        assert_eq!(
            Weights::split(Side::Blue, 25),
            Weights {
                blue: 25,
                green: 75
            }
        );
    }
}
