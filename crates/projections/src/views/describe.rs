//! One line of plain English for each event, for change lists, feeds and board reports.

use stocktake_domain::{DisplayRag, Event, Rag};

fn rag(rag: Option<Rag>) -> String {
    rag.map(|r| format!(", rated {}", r.as_str()))
        .unwrap_or_default()
}

fn with_note(text: String, note: Option<&dyn std::fmt::Display>) -> String {
    match note {
        Some(note) => format!("{text}: {note}"),
        None => text,
    }
}

pub fn describe(event: &Event) -> String {
    match event {
        Event::PlanCreated(e) => format!("Plan \"{}\" created for {}", e.title, e.organisation),
        Event::PlanAgreed(e) => format!("Plan agreed by {} on {}", e.agreed_by, e.agreed_on),
        Event::PlanRevised(e) => format!(
            "Plan {} to revision {}: {}",
            match e.kind {
                stocktake_domain::RevisionKind::Refresh => "refreshed",
                stocktake_domain::RevisionKind::Redraft => "redrafted",
            },
            e.revision,
            e.reason
        ),
        Event::PriorityAreaAdded(e) => format!(
            "Priority area {} \"{}\" added, led by {}",
            e.number, e.title, e.lead
        ),
        Event::PriorityAreaRetired(e) => format!("Priority area retired: {}", e.reason),
        Event::ForumEstablished(e) => format!("Forum \"{}\" established", e.name),
        Event::MeetingHeld(e) => with_note(
            format!("Meeting held on {}", e.held_on),
            e.summary.as_ref().map(|s| s as &dyn std::fmt::Display),
        ),
        Event::MilestoneRecorded(e) => format!("{} ({})", e.title, e.occurred_on),
        Event::ActionAdded(e) => format!(
            "Action \"{}\" added, owned by {}, due {}",
            e.title, e.owner, e.due_on
        ),
        Event::ActionStatusChanged(e) => with_note(
            format!("Status {} → {}{}", e.from, e.status, rag(e.rag)),
            e.note.as_ref().map(|s| s as &dyn std::fmt::Display),
        ),
        Event::ActionRebaselined(e) => format!(
            "Due date moved from {} to {} (rebaseline {}): {}",
            e.previous_due_on, e.due_on, e.rebaseline_count, e.reason
        ),
        Event::ActionOwnerAssigned(e) => with_note(
            format!("Owner changed from {} to {}", e.previous_owner, e.owner),
            e.reason.as_ref().map(|s| s as &dyn std::fmt::Display),
        ),
        Event::ProgressRecorded(e) => format!("Progress{}: {}", rag(e.rag), e.note),
        Event::EvidenceAttached(e) => format!("Evidence attached: {} ({})", e.title, e.reference),
        Event::ImpactConfirmed(e) => format!("Impact confirmed: {}", e.note),
        Event::ActionReopened(e) => {
            format!("Reopened (was {}){}: {}", e.from, rag(e.rag), e.reason)
        }
        Event::MeasureDefined(e) => format!(
            "Measure \"{}\" defined, target {} {}",
            e.name, e.target, e.unit
        ),
        Event::MeasureTargetChanged(e) => format!(
            "Target changed from {} to {}: {}",
            e.previous_target, e.target, e.reason
        ),
        Event::MeasureReadingRecorded(e) => {
            format!("Reading {} for the period ending {}", e.value, e.period_end)
        }
        Event::VisitRecorded(e) => format!(
            "Monitoring visit {} ({} to {}): {}",
            e.number, e.started_on, e.ended_on, e.theme
        ),
        Event::FindingRecorded(e) => format!("Finding recorded: {}", e.text),
        Event::FindingLinked(e) => format!("Finding linked to {} action(s)", e.action_ids.len()),
        Event::VisitLetterPublished(e) => format!("Visit letter published on {}", e.published_on),
    }
}

/// The colour word used in reports.
pub fn rag_word(rag: Option<DisplayRag>) -> &'static str {
    rag.map_or("none", DisplayRag::as_str)
}
