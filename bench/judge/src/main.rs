//! `judge-sim`: simulated deployments through Gantry's canary judge (docs/analysis.md), no
//! emulator.
//!
//!     judge-sim [--runs 10000] [--seed 7]
//!
//! Prints one JSON object (bench/run.py renders it with the goals): false rollbacks of a new side
//! that is the same version, how soon a worse one is caught, a table of detection against base
//! error rate and traffic, the requests the best single exact test would need, and how long a
//! verdict takes. Each deployment: a canary at 10% for 10 one-minute windows, then 50% for 10
//! (20 looks), traffic per window drawn per deployment, with +/-20% noise per window and a common
//! shock to both sides' error rates (lognormal, sd 0.2) so that the rates drift as real ones do.

mod rng;

use std::time::Instant;

use gantry_core::analysis::binomial::upper_tail;
use gantry_core::analysis::{
    decide_step, error_p_value, judge, AnalysisConfig, BakeTime, JudgeState, Reason, SideStats,
    StepDecision, Window,
};
use rng::{normal_quantile, Rng};
use serde_json::{json, Value};

/// The canary's steps: its weight on the new side, and its bake in one-minute windows.
const STEPS: [(f64, u32); 2] = [(0.10, 10), (0.50, 10)];
/// The same canary held at 10% to the horizon: what the judge does when the step never moves on
/// before it is caught (the ceiling for any rule that decides when a step advances).
const HELD: [(f64, u32); 1] = [(0.10, HORIZON)];
/// The most windows a simulated deployment runs (an hour): a step held under watch, or waiting
/// for a person, stops there.
const HORIZON: u32 = 60;
/// Services with fewer requests a minute than this are the quiet ones, reported apart.
const QUIET: f64 = 1_000.0;

#[derive(Clone, Copy)]
struct Service {
    /// Requests per one-minute window, both sides together.
    traffic: f64,
    /// The live side's 5xx rate.
    base: f64,
    /// Per-request latency: lognormal with this median (seconds) and sigma.
    median: f64,
    sigma: f64,
}

#[derive(Clone, Copy)]
struct Change {
    error_factor: f64,
    latency_factor: f64,
}

const SAME: Change = Change {
    error_factor: 1.0,
    latency_factor: 1.0,
};

struct Caught {
    /// 1-based window of the deployment.
    window: u32,
    /// 1-based among windows where both sides had enough requests to compare p99s.
    latency_window: u32,
    new_requests: u64,
    reason: Reason,
}

/// p99 of `n` lognormal requests as CloudWatch reports it (nearest rank): the ceil(0.99 n)-th
/// smallest, drawn exactly through its uniform order statistic.
fn p99(rng: &mut Rng, n: u64, median: f64, sigma: f64) -> Option<f64> {
    if n == 0 {
        return None;
    }
    let k = ((0.99 * n as f64).ceil() as u64).clamp(1, n);
    let u = rng.uniform_order_statistic(k, n);
    Some(median * (sigma * normal_quantile(u)).exp())
}

struct Timings(Vec<f64>);

/// How a simulated deployment ended.
struct Outcome {
    /// The judge rolled it back.
    caught: Option<Caught>,
    /// Windows it ran (to the end of its last step, a rollback, or the horizon).
    windows: u32,
    /// The judge asked a person (`on_inconclusive: pause`) at some step.
    asked: bool,
}

/// One deployment through the steps. Each step advances when the judge's bake decision says so
/// (`decide_step`, as the shifter does): at its bake's end if it passed, later if the latest
/// window left it under watch or undecided; a person asked to decide is taken to leave the
/// weights where they are until the horizon (the judge keeps judging meanwhile, as it does in the
/// shifter).
fn deploy(
    rng: &mut Rng,
    config: &AnalysisConfig,
    steps: &[(f64, u32)],
    s: Service,
    change: Change,
    timings: &mut Option<&mut Timings>,
) -> Outcome {
    let mut state = JudgeState::default();
    let mut index = 0u32;
    let mut latency_index = 0u32;
    let mut asked = false;
    for &(weight, bake) in steps {
        state.start_step();
        let mut in_step = 0u32;
        loop {
            if index >= HORIZON {
                return Outcome {
                    caught: None,
                    windows: index,
                    asked,
                };
            }
            index += 1;
            in_step += 1;
            let total = (s.traffic * rng.between(0.8, 1.2)).round() as u64;
            let new = rng.binomial(total, weight);
            let live = total - new;
            let rate = (s.base * (0.2 * rng.normal()).exp()).min(1.0);
            let window = Window {
                start: i64::from(index) * 60,
                new: SideStats {
                    requests: new,
                    errors: rng.binomial(new, (rate * change.error_factor).min(1.0)),
                    p99: p99(rng, new, s.median * change.latency_factor, s.sigma),
                },
                live: SideStats {
                    requests: live,
                    errors: rng.binomial(live, rate),
                    p99: p99(rng, live, s.median, s.sigma),
                },
            };
            if new >= config.latency_min_requests && live >= config.latency_min_requests {
                latency_index += 1;
            }
            let started = Instant::now();
            let (next, verdicts) = judge(config, &state, &[window]);
            if let Some(t) = timings.as_deref_mut() {
                t.0.push(started.elapsed().as_secs_f64() * 1e6);
            }
            state = next;
            if let Some(fail) = verdicts.iter().find(|v| v.is_fail()) {
                return Outcome {
                    caught: Some(Caught {
                        window: index,
                        latency_window: latency_index,
                        new_requests: state.new_requests,
                        reason: fail.evidence().reason,
                    }),
                    windows: index,
                    asked,
                };
            }
            // The shifter's clock in windows: the bake ends after `bake` of them.
            let time = BakeTime::at(i64::from(in_step), i64::from(bake), i64::from(bake));
            match decide_step(config, &state.bake, &verdicts, time) {
                StepDecision::Advance => break,
                StepDecision::Wait => {}
                StepDecision::AskPerson { .. } => asked = true,
                // Only with `on_inconclusive: rollback`, which the simulation does not use.
                StepDecision::RollBack { .. } => {
                    return Outcome {
                        caught: None,
                        windows: index,
                        asked,
                    }
                }
            }
        }
    }
    Outcome {
        caught: None,
        windows: index,
        asked,
    }
}

fn service(rng: &mut Rng, traffic: (f64, f64), base: (f64, f64)) -> Service {
    Service {
        traffic: rng.log_between(traffic.0, traffic.1),
        base: rng.log_between(base.0, base.1),
        median: rng.between(0.02, 0.2),
        sigma: rng.between(0.3, 0.8),
    }
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

/// The fewest requests with which a single exact test at `alpha`, knowing the live rate exactly
/// (infinite live traffic) and with no ratio tolerance unless `tolerance` > 1, catches a new side
/// at `bad` instead of `base` with probability `power`: the floor no sequential judge can beat.
fn best_single_test(base: f64, bad: f64, tolerance: f64, alpha: f64, power: f64) -> u64 {
    (1..=100_000u64)
        .find(|&n| {
            let null = (base * tolerance).min(1.0);
            let critical = (0..=n).find(|&c| upper_tail(n, c, null) <= alpha);
            critical.is_some_and(|c| upper_tail(n, c, bad) >= power)
        })
        .unwrap_or(u64::MAX)
}

/// How often one exact test, with all of alpha and the same-window live data, catches the new
/// side at 10 x `base` through `steps` if it knew in advance to look at the last window before
/// the new side passes `limit` requests: what no judge that looks more than once, with
/// same-window data, can beat (looking earlier as well costs alpha; looking later is past the
/// limit).
fn best_single_look(
    rng: &mut Rng,
    config: &AnalysisConfig,
    steps: &[(f64, u32)],
    runs: u64,
    base: f64,
    traffic: (f64, f64),
    limit: u64,
) -> f64 {
    let mut caught = 0u64;
    for _ in 0..runs {
        let mut s = service(rng, traffic, (base, base));
        s.base = base;
        let (mut n, mut e, mut m, mut f) = (0u64, 0u64, 0u64, 0u64);
        'deployment: for &(weight, windows) in steps {
            for _ in 0..windows {
                let total = (s.traffic * rng.between(0.8, 1.2)).round() as u64;
                let new = rng.binomial(total, weight);
                if n + new > limit {
                    break 'deployment;
                }
                let rate = (s.base * (0.2 * rng.normal()).exp()).min(1.0);
                n += new;
                e += rng.binomial(new, (rate * 10.0).min(1.0));
                m += total - new;
                f += rng.binomial(total - new, rate);
            }
        }
        if error_p_value(config.error_ratio_tolerance, n, e, m, f)
            .is_some_and(|p| p <= config.alpha)
        {
            caught += 1;
        }
    }
    caught as f64 / runs as f64
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str, default: u64| -> u64 {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let runs = arg("--runs", 10_000);
    let mut rng = Rng::new(arg("--seed", 7));
    let config = AnalysisConfig::default();
    let finite = |x: f64| -> Value {
        if x.is_finite() {
            json!(x)
        } else {
            Value::Null
        }
    };
    let started = Instant::now();

    // 1. Same version on both sides: every rollback is a false one.
    let mut timings = Timings(Vec::with_capacity(runs as usize * 20));
    let (mut false_errors, mut false_latency) = (0u64, 0u64);
    // The quietest services (under 1,000 requests a minute): the fewest errors to judge by, so
    // the least help from the error tolerance, and the false-rollback rate nearest alpha.
    let (mut quiet, mut quiet_false) = (0u64, 0u64);
    // What holding a step under watch costs a good deployment: how long it runs past its plan's
    // 20 windows, and how often the judge asks a person.
    let (mut asked, mut held) = (0u64, 0u64);
    let mut durations: Vec<f64> = Vec::with_capacity(runs as usize);
    let planned: u32 = STEPS.iter().map(|(_, bake)| bake).sum();
    for _ in 0..runs {
        let s = service(&mut rng, (300.0, 30_000.0), (0.001, 0.02));
        let o = deploy(&mut rng, &config, &STEPS, s, SAME, &mut Some(&mut timings));
        if s.traffic < QUIET {
            quiet += 1;
            quiet_false += u64::from(o.caught.is_some());
        }
        match o.caught {
            Some(c) if c.reason == Reason::Errors => false_errors += 1,
            Some(_) => false_latency += 1,
            None => {
                asked += u64::from(o.asked);
                held += u64::from(o.windows > planned);
                durations.push(f64::from(o.windows));
            }
        }
    }
    durations.sort_by(f64::total_cmp);
    let false_rate = (false_errors + false_latency) as f64 / runs as f64;

    // 2. 10x the errors, at a 1% and a 0.1% base rate, on a low-traffic service (a few hundred
    // requests a minute: 30-100 a window on the canary), where the requests served matter most.
    let mut catch =
        |steps: &[(f64, u32)], base: f64, traffic: (f64, f64), limit: u64| -> (f64, f64, f64) {
            let mut served: Vec<f64> = Vec::new();
            let mut within = 0u64;
            for _ in 0..runs {
                let mut s = service(&mut rng, traffic, (base, base));
                s.base = base;
                let c = deploy(
                    &mut rng,
                    &config,
                    steps,
                    s,
                    Change {
                        error_factor: 10.0,
                        latency_factor: 1.0,
                    },
                    &mut None,
                )
                .caught;
                let n = c.map_or(f64::INFINITY, |c| c.new_requests as f64);
                if n <= limit as f64 {
                    within += 1;
                }
                served.push(n);
            }
            served.sort_by(f64::total_cmp);
            (
                within as f64 / runs as f64,
                quantile(&served, 0.5),
                quantile(&served, 0.9),
            )
        };
    let low_traffic = (300.0, 1_000.0);
    let (caught_1pct, median_1pct, p90_1pct) = catch(&STEPS, 0.01, low_traffic, 250);
    let (caught_01pct, median_01pct, p90_01pct) = catch(&STEPS, 0.001, low_traffic, 1_000);
    let (held_01pct, _, held_p90_01pct) = catch(&HELD, 0.001, low_traffic, 1_000);
    let best_1pct = best_single_test(0.01, 0.10, 1.0, config.alpha, 0.95);
    let best_01pct = best_single_test(0.001, 0.01, 1.0, config.alpha, 0.90);
    let best_look_01pct =
        best_single_look(&mut rng, &config, &STEPS, runs, 0.001, low_traffic, 1_000);
    let best_look_held_01pct =
        best_single_look(&mut rng, &config, &HELD, runs, 0.001, low_traffic, 1_000);
    let best_look_1pct = best_single_look(&mut rng, &config, &STEPS, runs, 0.01, low_traffic, 250);
    let best_01pct_tol = best_single_test(
        0.001,
        0.01,
        config.error_ratio_tolerance,
        config.alpha,
        0.90,
    );

    // 3. p99 at 2x the live side's, where the canary serves enough requests for a p99 (>= 400 a
    // window at 10%).
    let mut latency_within_two = 0u64;
    let mut latency_windows: Vec<f64> = Vec::new();
    for _ in 0..runs {
        let s = service(&mut rng, (4_000.0, 30_000.0), (0.001, 0.02));
        let c = deploy(
            &mut rng,
            &config,
            &STEPS,
            s,
            Change {
                error_factor: 1.0,
                latency_factor: 2.0,
            },
            &mut None,
        )
        .caught;
        match c {
            Some(c) if c.reason == Reason::Latency && c.latency_window <= 2 => {
                latency_within_two += 1;
                latency_windows.push(f64::from(c.window));
            }
            Some(c) => latency_windows.push(f64::from(c.window)),
            None => latency_windows.push(f64::INFINITY),
        }
    }
    let latency_rate = latency_within_two as f64 / runs as f64;

    // 4. Detection against base rate and traffic (10x and 2x the errors; 1,000 deployments a cell).
    let cell_runs = (runs / 10).max(100);
    let mut table = Vec::new();
    for factor in [10.0, 3.0, 2.0] {
        for base in [0.001, 0.005, 0.01, 0.02] {
            let mut row = Vec::new();
            for traffic in [300.0, 1_000.0, 3_000.0, 10_000.0, 30_000.0] {
                let mut caught = 0u64;
                let mut served: Vec<f64> = Vec::new();
                for _ in 0..cell_runs {
                    let mut s = service(&mut rng, (traffic, traffic), (base, base));
                    s.base = base;
                    if let Some(c) = deploy(
                        &mut rng,
                        &config,
                        &STEPS,
                        s,
                        Change {
                            error_factor: factor,
                            latency_factor: 1.0,
                        },
                        &mut None,
                    )
                    .caught
                    {
                        caught += 1;
                        served.push(c.new_requests as f64);
                    }
                }
                served.sort_by(f64::total_cmp);
                row.push(json!({"traffic_per_window": traffic, "caught": caught as f64 / cell_runs as f64,
                                "median_new_requests_at_catch": finite(quantile(&served, 0.5))}));
            }
            table.push(json!({"error_factor": factor, "base_rate": base, "cells": row}));
        }
    }

    // 5. Time per verdict (one window judged with the carried state), and a whole hour re-judged.
    let mut t = timings.0;
    t.sort_by(f64::total_cmp);
    let hour: Vec<Window> = (0..60)
        .map(|i| Window {
            start: i * 60,
            new: SideStats {
                requests: 3_000,
                errors: 30,
                p99: Some(0.2),
            },
            live: SideStats {
                requests: 27_000,
                errors: 270,
                p99: Some(0.2),
            },
        })
        .collect();
    let mut hour_us = Vec::new();
    for _ in 0..200 {
        let s = Instant::now();
        let (_, v) = judge(&config, &JudgeState::default(), &hour);
        hour_us.push(s.elapsed().as_secs_f64() * 1e6);
        assert_eq!(v.len(), 60);
    }
    hour_us.sort_by(f64::total_cmp);

    let out = json!({
        "runs": runs,
        "config": serde_json::to_value(&config).unwrap_or(Value::Null),
        "deployment": "canary 10% with a 10-window bake, then 50% with a 10-window bake; a step advances on the judge's bake decision (held while under watch or undecided; a deployment stops at 60 windows); traffic and base rate log-uniform per deployment",
        "false_rollbacks": {"rate": false_rate, "errors": false_errors, "latency": false_latency,
                            "traffic": [300, 30000], "base_rate": [0.001, 0.02],
                            "quiet_rate": quiet_false as f64 / quiet.max(1) as f64, "quiet_deployments": quiet,
                            "quiet_traffic_below": QUIET},
        "same_version_cost": {"planned_windows": planned, "held_past_plan": held as f64 / runs as f64,
                              "asked_a_person": asked as f64 / runs as f64,
                              "windows_p50": quantile(&durations, 0.5), "windows_p90": quantile(&durations, 0.9),
                              "windows_p99": quantile(&durations, 0.99), "horizon": HORIZON},
        "errors_10x_at_1pct": {"caught_by_250": caught_1pct, "median_new_requests": finite(median_1pct),
                               "p90_new_requests": finite(p90_1pct), "best_single_test_requests_95pct": best_1pct,
                               "best_single_look_same_window_caught_by_250": best_look_1pct,
                               "traffic": low_traffic},
        "errors_10x_at_0_1pct": {"caught_by_1000": caught_01pct, "median_new_requests": finite(median_01pct),
                                 "p90_new_requests": finite(p90_01pct), "best_single_test_requests_90pct": best_01pct,
                                 "best_single_look_same_window_caught_by_1000": best_look_01pct,
                                 "held_at_10pct_caught_by_1000": held_01pct, "held_at_10pct_p90_new_requests": finite(held_p90_01pct),
                                 "best_single_look_held_at_10pct_caught_by_1000": best_look_held_01pct,
                                 "best_single_test_requests_90pct_same_tolerance": best_01pct_tol, "traffic": low_traffic},
        "latency_2x": {"caught_within_two_judged_windows": latency_rate, "traffic": [4000, 30000]},
        "detection_table": table,
        "verdict_us": {"p50": quantile(&t, 0.5), "p99": quantile(&t, 0.99), "p999": quantile(&t, 0.999),
                       "max": quantile(&t, 1.0), "n": t.len(), "over_1ms": t.iter().filter(|&&us| us >= 1000.0).count()},
        "hour_rejudged_us": {"p50": quantile(&hour_us, 0.5), "max": quantile(&hour_us, 1.0)},
        "seconds": started.elapsed().as_secs_f64(),
    });
    println!("{out}");
}
