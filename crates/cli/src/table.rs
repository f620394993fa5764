//! The plan and an action's history as readable terminal text, with RAG colours on a terminal.

use std::fmt::Write;

use anstyle::{AnsiColor, Style};
use stocktake_domain::DisplayRag;
use stocktake_projections::views::action::ActionHistory;
use stocktake_projections::views::overview::{Counts, PlanOverview};

fn rag_style(rag: Option<DisplayRag>) -> Style {
    let colour = match rag {
        Some(DisplayRag::Red) => AnsiColor::Red,
        Some(DisplayRag::Amber) => AnsiColor::Yellow,
        Some(DisplayRag::Green) => AnsiColor::Green,
        Some(DisplayRag::Blue) => AnsiColor::Blue,
        None => return Style::new().dimmed(),
    };
    Style::new().fg_color(Some(colour.into())).bold()
}

/// The word, padded, coloured when `colour` is on: never colour alone, so it prints in black
/// and white too.
fn rag_cell(rag: Option<DisplayRag>, colour: bool) -> String {
    let word = format!("{:<5}", rag.map_or("-", DisplayRag::as_str));
    if colour {
        let style = rag_style(rag);
        format!("{style}{word}{style:#}")
    } else {
        word
    }
}

fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

fn counts_line(c: &Counts) -> String {
    format!(
        "{} actions: {} red, {} amber, {} green, {} blue, {} not started, {} overdue; {:.1}% complete",
        c.actions, c.red, c.amber, c.green, c.blue, c.not_started, c.overdue, c.percent_complete
    )
}

/// A bound given as a date is the day's last instant; show it as the date it was given as.
fn moment(time: chrono::DateTime<chrono::Utc>) -> String {
    if time == stocktake_domain::time::end_of_day(time.date_naive()) {
        time.format("%Y-%m-%d").to_string()
    } else {
        time.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    }
}

pub fn plan(overview: &PlanOverview, colour: bool) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} — {} (revision {})",
        overview.title, overview.organisation, overview.revision
    );
    if let (Some(on), Some(by)) = (overview.agreed_on, &overview.agreed_by) {
        let _ = writeln!(out, "Agreed by {by} on {on}");
    }
    let moment = match (overview.moment.as_of, overview.moment.known_at) {
        (None, None) => "now".to_owned(),
        (as_of, known_at) => format!(
            "as of {}{}",
            as_of.map_or("now".into(), moment),
            known_at.map_or(String::new(), |t| format!(", as known at {}", moment(t)))
        ),
    };
    let _ = writeln!(
        out,
        "The plan {moment}: {}\n",
        counts_line(&overview.counts)
    );
    for area in &overview.areas {
        let retired = if area.retired { " (retired)" } else { "" };
        let _ = writeln!(
            out,
            "{}. {}{} — lead: {}",
            area.number, area.title, retired, area.lead
        );
        let _ = writeln!(out, "   {}", counts_line(&area.counts));
        for action in &area.actions {
            let overdue = if action.overdue {
                format!("overdue {}d", action.days_overdue)
            } else {
                String::new()
            };
            let _ = writeln!(
                out,
                "   {} {:<12} due {} {:<13} {} ({})",
                rag_cell(action.rag, colour),
                action.status.as_str(),
                action.due_on,
                overdue,
                truncate(&action.title, 70),
                truncate(&action.owner, 50),
            );
        }
        out.push('\n');
    }
    out
}

pub fn history(history: &ActionHistory) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{} ({})\n", history.title, history.action_id);
    for entry in &history.entries {
        let late = if entry.late { "  [recorded late]" } else { "" };
        let _ = writeln!(
            out,
            "#{:<6} v{:<3} effective {}  recorded {}  by {}{}",
            entry.seq,
            entry.version,
            entry.effective_at.format("%Y-%m-%d %H:%M"),
            entry.recorded_at.format("%Y-%m-%d %H:%M"),
            entry.actor,
            late
        );
        let _ = writeln!(out, "        {}", entry.summary);
        for change in &entry.changes {
            let _ = writeln!(
                out,
                "        {}: {} → {}",
                change.field, change.before, change.after
            );
        }
    }
    out
}
