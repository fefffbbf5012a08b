//! The Overview's charts, drawn on the server as SVG: no script, no build step. Colours come
//! from classes the style sheet sets for light and dark schemes; every chart has a title
//! and the same numbers in a table beside it, for screen readers and for copying.

use std::fmt::Write;

use twofold_app::domain::overview::{DayActivity, date_of};

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 220.0;
const LEFT: f64 = 44.0;
const RIGHT: f64 = 8.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = 28.0;

/// Text for inside an SVG element.
fn esc(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn open(out: &mut String, id: &str, title: &str) {
    let _ = write!(
        out,
        r#"<svg class="chart" id="{id}" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-labelledby="{id}-title" preserveAspectRatio="xMidYMid meet"><title id="{id}-title">{}</title>"#,
        esc(title)
    );
}

/// A round top for the y axis: 1, 2, 5 × 10ⁿ at or above `max`.
fn nice_top(max: i64) -> i64 {
    let mut step = 1;
    loop {
        for m in [1, 2, 5] {
            if m * step >= max.max(1) {
                return m * step;
            }
        }
        step *= 10;
    }
}

fn y_axis(out: &mut String, top: i64) {
    let plot = HEIGHT - TOP - BOTTOM;
    for value in [0, top / 2, top] {
        let y = TOP + plot - plot * value as f64 / top as f64;
        let _ = write!(
            out,
            r#"<line class="grid" x1="{LEFT}" x2="{}" y1="{y:.1}" y2="{y:.1}"/><text class="axis" x="{}" y="{:.1}" text-anchor="end">{value}</text>"#,
            WIDTH - RIGHT,
            LEFT - 6.0,
            y + 4.0
        );
    }
}

/// Where the x axis names the `i`th of `n` days: every `every`th day, centred, and the last
/// day flush right (so it stays inside the chart), dropping a periodic label too close to
/// it to be read apart.
fn label_at(i: usize, n: usize, every: usize) -> Option<&'static str> {
    if i + 1 == n {
        Some("end")
    } else if i.is_multiple_of(every) && i + every / 2 < n {
        Some("middle")
    } else {
        None
    }
}

/// A date under the x axis, as `MM-DD`.
fn x_label(out: &mut String, x: f64, anchor: &str, date: &str) {
    let _ = write!(
        out,
        r#"<text class="axis" x="{x:.1}" y="{}" text-anchor="{anchor}">{}</text>"#,
        HEIGHT - 8.0,
        date.get(5..).unwrap_or(date)
    );
}

/// Sign-ins per day: succeeded and failed stacked, a mark above a day with locks.
pub fn activity(days: &[DayActivity]) -> String {
    let mut out = String::new();
    open(
        &mut out,
        "activity-chart",
        "Sign-ins per day, last 30 days: succeeded and failed; a mark above a day with locks",
    );
    let top = nice_top(days.iter().map(|d| d.succeeded + d.failed).max().unwrap_or(0));
    y_axis(&mut out, top);
    let plot = HEIGHT - TOP - BOTTOM;
    let slot = (WIDTH - LEFT - RIGHT) / days.len().max(1) as f64;
    let bar = (slot * 0.7).max(1.0);
    let scale = |n: i64| plot * n as f64 / top as f64;
    for (i, d) in days.iter().enumerate() {
        let x = LEFT + slot * i as f64 + (slot - bar) / 2.0;
        let date = date_of(d.day);
        let (ok, bad) = (scale(d.succeeded), scale(d.failed));
        let base = TOP + plot;
        let _ = write!(
            out,
            r#"<g><title>{date}: {} succeeded, {} failed, {} locked</title><rect class="ok" x="{x:.1}" y="{:.1}" width="{bar:.1}" height="{ok:.1}"/><rect class="bad" x="{x:.1}" y="{:.1}" width="{bar:.1}" height="{bad:.1}"/>"#,
            d.succeeded,
            d.failed,
            d.locked,
            base - ok,
            base - ok - bad
        );
        if d.locked > 0 {
            let _ = write!(
                out,
                r#"<circle class="lock" cx="{:.1}" cy="{:.1}" r="4"/>"#,
                x + bar / 2.0,
                base - ok - bad - 8.0
            );
        }
        out.push_str("</g>");
        if let Some(anchor) = label_at(i, days.len(), 7) {
            let x = if anchor == "end" { x + bar } else { x + bar / 2.0 };
            x_label(&mut out, x, anchor, &date);
        }
    }
    out.push_str("</svg>");
    out
}

/// People with 2FA at the end of each day, against everyone active (a dashed line).
pub fn trend(points: &[(i64, i64)], active: i64) -> String {
    let mut out = String::new();
    open(&mut out, "trend-chart", "People with two-factor authentication, last 90 days, against everyone active");
    let top = nice_top(active.max(points.iter().map(|p| p.1).max().unwrap_or(0)));
    y_axis(&mut out, top);
    let plot = HEIGHT - TOP - BOTTOM;
    let step = (WIDTH - LEFT - RIGHT) / (points.len().max(2) - 1) as f64;
    let y = |n: i64| TOP + plot - plot * n as f64 / top as f64;
    let line: Vec<String> =
        points.iter().enumerate().map(|(i, (_, n))| format!("{:.1},{:.1}", LEFT + step * i as f64, y(*n))).collect();
    let _ = write!(
        out,
        r#"<line class="total" x1="{LEFT}" x2="{}" y1="{:.1}" y2="{:.1}"/><polyline class="trend" points="{}"/>"#,
        WIDTH - RIGHT,
        y(active),
        y(active),
        line.join(" ")
    );
    for (i, (day, _)) in points.iter().enumerate() {
        if let Some(anchor) = label_at(i, points.len(), 30) {
            x_label(&mut out, LEFT + step * i as f64, anchor, &date_of(*day));
        }
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(day: i64, succeeded: i64, failed: i64, locked: i64) -> DayActivity {
        DayActivity { day, succeeded, failed, locked }
    }

    #[test]
    fn date_labels_never_crowd_the_last_day() {
        let labelled: Vec<usize> = (0..30).filter(|i| label_at(*i, 30, 7).is_some()).collect();
        assert_eq!(labelled, [0, 7, 14, 21, 29], "day 28 would overlap day 29");
        assert_eq!(label_at(29, 30, 7), Some("end"));
        assert_eq!((0..90).filter(|i| label_at(*i, 90, 30).is_some()).collect::<Vec<_>>(), [0, 30, 60, 89]);
    }

    #[test]
    fn the_axis_tops_are_round() {
        assert_eq!([0, 1, 3, 7, 10, 11, 48, 120, 999].map(nice_top), [1, 1, 5, 10, 10, 20, 50, 200, 1000]);
    }

    #[test]
    fn bars_are_as_tall_as_their_numbers_and_locks_are_marked() {
        let svg = activity(&[day(20_000, 10, 0, 0), day(20_001, 5, 5, 1)]);
        // Top 10: a full-height bar is the plot's 180 units.
        assert!(svg.contains(r#"class="ok" x="#) && svg.contains(r#"height="180.0"/>"#), "{svg}");
        assert_eq!(svg.matches("<circle").count(), 1, "one day with locks");
        assert!(svg.contains("<title>2024-10-04: 10 succeeded, 0 failed, 0 locked</title>"), "{svg}");
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
    }

    #[test]
    fn empty_and_flat_series_draw_without_dividing_by_zero() {
        for svg in [activity(&[]), activity(&[day(1, 0, 0, 0)]), trend(&[], 0), trend(&[(1, 0)], 0)] {
            assert!(!svg.contains("NaN") && !svg.contains("inf"), "{svg}");
        }
    }
}
