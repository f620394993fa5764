//! `stocktake import-plan`: an improvement plan kept in a spreadsheet, turned into the commands
//! that recreate it.
//!
//! Most councils keep their plan in a spreadsheet, so this reads what real spreadsheets look
//! like: headings in any case and punctuation with common synonyms, a UTF-8 byte order mark,
//! UK dates, the usual spellings of statuses and RAG ratings, merged priority-area cells. The
//! accepted forms are listed in `docs/IMPORT.md`.
//!
//! This module is pure: it reads from any [`Read`], does no other I/O, reads no clock and takes
//! its ids from the caller. [`commands_from_csv`] turns the file into [`PlannedCommand`]s, each
//! with the spreadsheet row it came from; [`check`] runs them through an in-memory store, so a
//! refusal by the domain is reported against that row before anything is recorded. Both refuse
//! the whole file on its first bad row: the caller then imports nothing.
//!
//! ```text
//! let mut next_id = Uuid::now_v7;
//! let planned = commands_from_csv(file, "Improvement plan", "London Borough of Croydon", &mut next_id)?;
//! check(&planned, Utc::now())?;
//! for p in planned { /* append p.command */ }
//! ```

use std::collections::HashSet;
use std::fmt;
use std::io::Read;

use chrono::{DateTime, NaiveDate, Utc};
use stocktake_domain::aggregates::plan::MAX_AREA_NUMBER;
use stocktake_domain::commands::{
    AddAction, AddPriorityArea, ChangeActionStatus, CreatePlan, RecordProgress,
};
use stocktake_domain::memory::{CommandMeta, MemoryStore};
use stocktake_domain::text::{Note, Role, TextError, Title};
use stocktake_domain::{ActionId, ActionStatus, AreaId, Command, DomainError, PlanId, Rag};
use uuid::Uuid;

/// The note on a status change or progress entry that the spreadsheet gave no words for.
pub const IMPORT_NOTE: &str = "Imported from spreadsheet";

/// The actor [`check`] gives the commands it tries.
const CHECK_ACTOR: &str = "import-plan";

/// Longest piece of a cell quoted back in an error message.
const QUOTE_CHARS: usize = 60;

/// One command of the import, with the spreadsheet row it came from.
///
/// `row` is the 1-based row number as the spreadsheet shows it (the header is row 1). It is
/// `None` for `create_plan`; an `add_priority_area` carries the row where the area first
/// appears. Keeping it lets [`check`] and the caller name the row behind any refusal.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedCommand {
    pub row: Option<u64>,
    pub command: Command,
}

/// A column of the spreadsheet, as the import understands it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Column {
    PriorityArea,
    Action,
    Owner,
    DueDate,
    Status,
    Rag,
    StartDate,
    Notes,
    AreaLead,
}

impl Column {
    pub const ALL: [Column; 9] = [
        Column::PriorityArea,
        Column::Action,
        Column::Owner,
        Column::DueDate,
        Column::Status,
        Column::Rag,
        Column::StartDate,
        Column::Notes,
        Column::AreaLead,
    ];

    /// The name error messages use.
    pub fn name(self) -> &'static str {
        match self {
            Column::PriorityArea => "priority area",
            Column::Action => "action",
            Column::Owner => "owner",
            Column::DueDate => "due date",
            Column::Status => "status",
            Column::Rag => "RAG",
            Column::StartDate => "start date",
            Column::Notes => "notes",
            Column::AreaLead => "area lead",
        }
    }

    /// The headings that name this column. They are compared ignoring case, punctuation,
    /// spaces and anything in brackets, so "Due date (DD/MM/YYYY)" is "Due date".
    pub fn headings(self) -> &'static [&'static str] {
        match self {
            Column::PriorityArea => &[
                "Priority area",
                "Priority",
                "Area",
                "Theme",
                "Priority theme",
                "Workstream",
            ],
            Column::Action => &["Action", "Actions", "Action title", "Task"],
            Column::Owner => &[
                "Owner",
                "Action owner",
                "Lead",
                "Action lead",
                "Lead officer",
                "Responsible officer",
                "Responsible",
            ],
            Column::DueDate => &[
                "Due date",
                "Due",
                "Due by",
                "Deadline",
                "Target date",
                "By when",
            ],
            Column::Status => &["Status", "Action status", "Current status"],
            Column::Rag => &[
                "RAG",
                "BRAG",
                "RAG rating",
                "RAG status",
                "BRAG rating",
                "BRAG status",
            ],
            Column::StartDate => &["Start date", "Start"],
            Column::Notes => &[
                "Notes",
                "Note",
                "Comments",
                "Comment",
                "Update",
                "Latest update",
                "Progress update",
            ],
            Column::AreaLead => &[
                "Lead for area",
                "Area lead",
                "Priority area lead",
                "Priority lead",
                "Theme lead",
            ],
        }
    }

    /// Whether a file without this column is refused.
    pub fn is_required(self) -> bool {
        !matches!(self, Column::StartDate | Column::Notes | Column::AreaLead)
    }

    fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Column {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a spreadsheet was refused. Nothing is imported when it is.
///
/// Messages start with where the problem is, as the spreadsheet shows it: `row 9, due date:`
/// (the header is row 1), then say what is wrong and how to put it right.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ImportPlanError {
    #[error("the file is empty: its first row should name the columns (priority area, action, owner, due date, status, RAG)")]
    Empty,
    #[error("the file has a header row but no actions below it")]
    NoActions,
    #[error("row 1: there is no {column} column (head it {}); the headings found are {}", or_list(column.headings()), quoted_list(found))]
    MissingColumn { column: Column, found: Vec<String> },
    #[error("row 1: the columns `{first}` and `{second}` both look like the {column} column; keep one or rename the other")]
    DuplicateColumn {
        column: Column,
        first: String,
        second: String,
    },
    #[error("plan {field}: {reason}")]
    Plan {
        field: &'static str,
        reason: TextError,
    },
    #[error("row {row}: {reason}; save the spreadsheet as \"CSV UTF-8 (comma delimited)\"")]
    Unreadable { row: u64, reason: String },
    #[error("row {row}: has {found} cells but the header row has {expected}; every row needs one cell per column")]
    WrongCellCount {
        row: u64,
        found: usize,
        expected: usize,
    },
    #[error("row {row}, {column}: {reason}")]
    Cell {
        row: u64,
        column: Column,
        reason: String,
    },
    /// The domain refused a command the file produced (found by [`check`]).
    #[error("{}{reason}", place(*.row, *.column))]
    Refused {
        row: Option<u64>,
        column: Option<Column>,
        reason: String,
    },
}

#[allow(
    dead_code,
    reason = "for callers that report an error as data; printing it needs only Display"
)]
impl ImportPlanError {
    /// The 1-based spreadsheet row the problem is on, when it is on one.
    pub fn row(&self) -> Option<u64> {
        match self {
            ImportPlanError::MissingColumn { .. } | ImportPlanError::DuplicateColumn { .. } => {
                Some(1)
            }
            ImportPlanError::Unreadable { row, .. }
            | ImportPlanError::WrongCellCount { row, .. }
            | ImportPlanError::Cell { row, .. } => Some(*row),
            ImportPlanError::Refused { row, .. } => *row,
            ImportPlanError::Empty | ImportPlanError::NoActions | ImportPlanError::Plan { .. } => {
                None
            }
        }
    }

    /// The column the problem is in, when it is in one.
    pub fn column(&self) -> Option<Column> {
        match self {
            ImportPlanError::MissingColumn { column, .. }
            | ImportPlanError::DuplicateColumn { column, .. }
            | ImportPlanError::Cell { column, .. } => Some(*column),
            ImportPlanError::Refused { column, .. } => *column,
            _ => None,
        }
    }
}

fn place(row: Option<u64>, column: Option<Column>) -> String {
    match (row, column) {
        (Some(row), Some(column)) => format!("row {row}, {column}: "),
        (Some(row), None) => format!("row {row}: "),
        (None, Some(column)) => format!("{column}: "),
        (None, None) => "the plan: ".to_owned(),
    }
}

fn or_list(items: &[&str]) -> String {
    match items {
        [] => String::new(),
        [only] => (*only).to_owned(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

fn quoted_list(items: &[String]) -> String {
    if items.is_empty() {
        return "none".to_owned();
    }
    items
        .iter()
        .map(|h| format!("`{}`", quote(h)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A cell as quoted back to the reader: trimmed, and cut short if long.
fn quote(raw: &str) -> String {
    let raw = raw.trim();
    if raw.chars().count() <= QUOTE_CHARS {
        raw.to_owned()
    } else {
        let cut: String = raw.chars().take(QUOTE_CHARS).collect();
        format!("{cut}…")
    }
}

/// Lower-case letters and digits only: how headings and vocabulary are compared, so that
/// "RAG-Status", "rag status" and "RAG STATUS " are one.
fn squash(raw: &str) -> String {
    raw.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// Reads the spreadsheet and returns the commands that recreate the plan, in order:
/// `create_plan`; one `add_priority_area` per area, by number; one `add_action` per row, in
/// file order; then, row by row, what takes each action from not started to the status and RAG
/// its row gives (see `docs/IMPORT.md`).
///
/// Ids come from `next_id`: the plan's first, then the areas' by number, then the actions'
/// in row order. Refuses the whole file on its first bad row.
pub fn commands_from_csv(
    input: impl Read,
    title: &str,
    organisation: &str,
    next_id: &mut dyn FnMut() -> Uuid,
) -> Result<Vec<PlannedCommand>, ImportPlanError> {
    let title = Title::parse(title).map_err(|reason| ImportPlanError::Plan {
        field: "title",
        reason,
    })?;
    let organisation = Title::parse(organisation).map_err(|reason| ImportPlanError::Plan {
        field: "organisation",
        reason,
    })?;
    let sheet = Sheet::read(input)?;
    Ok(sheet.into_commands(title, organisation, next_id))
}

/// Runs the commands through an in-memory store, recorded at `now`, and reports the first
/// refusal against the row (and where it can tell, the column) that produced it.
pub fn check(commands: &[PlannedCommand], now: DateTime<Utc>) -> Result<(), ImportPlanError> {
    let mut store = MemoryStore::default();
    let meta = CommandMeta {
        actor: CHECK_ACTOR.to_owned(),
        recorded_at: now,
        effective_at: None,
    };
    // Only event and command ids are drawn here: every entity id is already in the commands.
    let mut counter: u128 = 0;
    let mut next_id = || {
        counter += 1;
        Uuid::from_u128(counter)
    };
    for planned in commands {
        store
            .execute(planned.command.clone(), &meta, &mut next_id)
            .map_err(|error| refused(planned, &error))?;
    }
    Ok(())
}

fn refused(planned: &PlannedCommand, error: &DomainError) -> ImportPlanError {
    let column = error
        .field()
        .and_then(|field| column_of(&planned.command, field));
    let reason = match (error, column) {
        (DomainError::Rule { message, .. }, Some(_)) => message.clone(),
        _ => error.to_string(),
    };
    ImportPlanError::Refused {
        row: planned.row,
        column,
        reason,
    }
}

/// The spreadsheet column behind a command field, for the commands an import produces.
fn column_of(command: &Command, field: &str) -> Option<Column> {
    match (command, field) {
        (Command::AddPriorityArea(_), "number" | "title" | "area_id") => Some(Column::PriorityArea),
        (Command::AddPriorityArea(_), "lead") => Some(Column::AreaLead),
        (Command::AddAction(_), "title") => Some(Column::Action),
        (Command::AddAction(_), "owner") => Some(Column::Owner),
        (Command::AddAction(_), "due_on") => Some(Column::DueDate),
        (Command::AddAction(_), "start_on") => Some(Column::StartDate),
        (Command::AddAction(_), "area_id") => Some(Column::PriorityArea),
        (Command::ChangeActionStatus(_) | Command::RecordProgress(_), "status") => {
            Some(Column::Status)
        }
        (Command::ChangeActionStatus(_) | Command::RecordProgress(_), "rag") => Some(Column::Rag),
        (Command::ChangeActionStatus(_) | Command::RecordProgress(_), "note") => {
            Some(Column::Notes)
        }
        _ => None,
    }
}

/// Which cell of a row holds each column.
#[derive(Debug)]
struct Layout {
    cells: [Option<usize>; Column::ALL.len()],
    width: usize,
}

impl Layout {
    fn from_header(header: &csv::StringRecord) -> Result<Layout, ImportPlanError> {
        let mut cells = [None; Column::ALL.len()];
        for (i, heading) in header.iter().enumerate() {
            let key = squash(&without_brackets(heading));
            if key.is_empty() {
                continue;
            }
            let Some(column) = Column::ALL
                .into_iter()
                .find(|c| c.headings().iter().any(|h| squash(h) == key))
            else {
                // Columns the import does not know (a reference, evidence, ...) are left alone.
                continue;
            };
            if let Some(first) = cells[column.index()] {
                return Err(ImportPlanError::DuplicateColumn {
                    column,
                    first: quote(&header[first]),
                    second: quote(heading),
                });
            }
            cells[column.index()] = Some(i);
        }
        if let Some(column) = Column::ALL
            .into_iter()
            .find(|c| c.is_required() && cells[c.index()].is_none())
        {
            return Err(ImportPlanError::MissingColumn {
                column,
                found: header
                    .iter()
                    .map(str::trim)
                    .filter(|h| !h.is_empty())
                    .map(str::to_owned)
                    .collect(),
            });
        }
        Ok(Layout {
            cells,
            width: header.len(),
        })
    }

    /// The trimmed cell, or "" when the column is absent.
    fn get<'r>(&self, record: &'r csv::StringRecord, column: Column) -> &'r str {
        self.cells[column.index()]
            .and_then(|i| record.get(i))
            .map_or("", str::trim)
    }
}

fn without_brackets(heading: &str) -> String {
    let mut depth = 0usize;
    heading
        .chars()
        .filter(|&c| match c {
            '(' | '[' => {
                depth += 1;
                false
            }
            ')' | ']' => {
                depth = depth.saturating_sub(1);
                false
            }
            _ => depth == 0,
        })
        .collect()
}

/// A RAG cell: a rating, blue (completed), or nothing.
#[derive(Debug, Clone, Copy, PartialEq)]
enum RagCell {
    Blank,
    Rated(Rag),
    Blue,
}

/// One data row, every cell parsed.
#[derive(Debug)]
struct Row {
    row: u64,
    /// Index into [`Sheet::areas`].
    area: usize,
    title: Title,
    owner: Role,
    start_on: Option<NaiveDate>,
    due_on: NaiveDate,
    status: ActionStatus,
    rag: RagCell,
    notes: Option<Note>,
}

#[derive(Debug)]
struct Area {
    number: Option<u16>,
    title: Title,
    key: String,
    first_row: u64,
    lead: Option<(Role, u64)>,
    first_owner: Role,
}

/// The spreadsheet, read and checked row by row.
#[derive(Debug, Default)]
struct Sheet {
    areas: Vec<Area>,
    rows: Vec<Row>,
}

impl Sheet {
    fn read(input: impl Read) -> Result<Sheet, ImportPlanError> {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(input);
        let mut rows = RowCounter::default();
        let mut record = csv::StringRecord::new();
        let mut layout = None;
        let mut sheet = Sheet::default();
        loop {
            match reader.read_record(&mut record) {
                Ok(true) => {}
                Ok(false) => break,
                Err(error) => return Err(rows.unreadable(&error)),
            }
            let row = rows.next(&record);
            if record.iter().all(|cell| cell.trim().is_empty()) {
                continue;
            }
            let Some(layout) = &layout else {
                strip_bom(&mut record);
                layout = Some(Layout::from_header(&record)?);
                continue;
            };
            if record.len() != layout.width {
                return Err(ImportPlanError::WrongCellCount {
                    row,
                    found: record.len(),
                    expected: layout.width,
                });
            }
            sheet.add_row(row, layout, &record)?;
        }
        if layout.is_none() {
            return Err(ImportPlanError::Empty);
        }
        if sheet.rows.is_empty() {
            return Err(ImportPlanError::NoActions);
        }
        sheet.number_areas()?;
        Ok(sheet)
    }

    fn add_row(
        &mut self,
        row: u64,
        layout: &Layout,
        record: &csv::StringRecord,
    ) -> Result<(), ImportPlanError> {
        let cell = |column: Column| layout.get(record, column);
        let fail = |column: Column, reason: String| ImportPlanError::Cell {
            row,
            column,
            reason,
        };
        let text = |column: Column, error: TextError| fail(column, error.to_string());

        let area_cell = cell(Column::PriorityArea);
        let owner = required(cell(Column::Owner), "every action needs an owner (a role)")
            .and_then(|raw| Role::parse(one_line(raw)).map_err(|e| e.to_string()))
            .map_err(|reason| fail(Column::Owner, reason))?;
        let area = if area_cell.is_empty() {
            // Merged cells leave the rows below the first blank: the area of the row above.
            match self.rows.last() {
                Some(previous) => previous.area,
                None => {
                    return Err(fail(
                        Column::PriorityArea,
                        "is blank: the first action needs its priority area".to_owned(),
                    ))
                }
            }
        } else {
            self.area_for(row, area_cell, &owner)?
        };
        let title = required(cell(Column::Action), "every row needs an action")
            .and_then(|raw| Title::parse(one_line(raw)).map_err(|e| e.to_string()))
            .map_err(|reason| fail(Column::Action, reason))?;
        let start_on = match cell(Column::StartDate) {
            "" => None,
            raw => Some(parse_date(raw).map_err(|reason| fail(Column::StartDate, reason))?),
        };
        let due_on = required(cell(Column::DueDate), "every action needs a due date")
            .and_then(parse_date)
            .map_err(|reason| fail(Column::DueDate, reason))?;
        if let Some(start_on) = start_on {
            if start_on > due_on {
                return Err(fail(
                    Column::DueDate,
                    format!(
                        "{} is before the start date {}",
                        due_on.format("%d/%m/%Y"),
                        start_on.format("%d/%m/%Y")
                    ),
                ));
            }
        }
        let status_cell = cell(Column::Status);
        let status = required(
            status_cell,
            "every action needs a status (Not started, In progress, Blocked, Completed or Cancelled)",
        )
        .and_then(parse_status)
        .map_err(|reason| fail(Column::Status, reason))?;
        let rag_cell = cell(Column::Rag);
        let rag = parse_rag(rag_cell).map_err(|reason| fail(Column::Rag, reason))?;
        match (rag, status) {
            (RagCell::Blue, ActionStatus::Completed) => {}
            (RagCell::Blue, _) => {
                return Err(fail(
                    Column::Rag,
                    format!(
                    "`{}` is blue, which means completed, but the status is `{}`; make them agree",
                    quote(rag_cell),
                    quote(status_cell)
                ),
                ))
            }
            (RagCell::Blank, ActionStatus::InProgress | ActionStatus::Blocked) => {
                return Err(fail(
                    Column::Rag,
                    format!(
                        "is blank, but an action that is `{}` needs a RAG rating: R, A or G",
                        quote(status_cell)
                    ),
                ))
            }
            _ => {}
        }
        let notes = match cell(Column::Notes) {
            "" => None,
            raw => Some(Note::parse(raw).map_err(|e| text(Column::Notes, e))?),
        };
        if let Some(lead) =
            cell_role(cell(Column::AreaLead)).map_err(|e| text(Column::AreaLead, e))?
        {
            let area = &mut self.areas[area];
            match &area.lead {
                None => area.lead = Some((lead, row)),
                Some((existing, first)) if squash(existing.as_str()) != squash(lead.as_str()) => {
                    return Err(fail(
                        Column::AreaLead,
                        format!(
                            "`{}` differs from the lead `{existing}` given for priority area \"{}\" on row {first}; an area has one lead",
                            quote(lead.as_str()),
                            area.title
                        ),
                    ))
                }
                Some(_) => {}
            }
        }
        self.rows.push(Row {
            row,
            area,
            title,
            owner,
            start_on,
            due_on,
            status,
            rag,
            notes,
        });
        Ok(())
    }

    /// The area a non-blank priority-area cell names, added on its first appearance.
    fn area_for(&mut self, row: u64, raw: &str, owner: &Role) -> Result<usize, ImportPlanError> {
        let fail = |reason: String| ImportPlanError::Cell {
            row,
            column: Column::PriorityArea,
            reason,
        };
        let (number, title) = split_area(raw).map_err(fail)?;
        let title = Title::parse(one_line(title)).map_err(|e| fail(e.to_string()))?;
        let key = squash(title.as_str());
        let by_number = number.and_then(|n| self.areas.iter().position(|a| a.number == Some(n)));
        if let Some(found) = self.areas.iter().position(|a| a.key == key) {
            let area = &self.areas[found];
            match (number, area.number) {
                (Some(n), Some(m)) if n != m => {
                    return Err(fail(format!(
                        "\"{}\" is priority area {m} on row {}, not {n}",
                        area.title, area.first_row
                    )))
                }
                (Some(n), None) => match by_number {
                    Some(other) => return Err(number_taken(row, n, &self.areas[other])),
                    None => self.areas[found].number = Some(n),
                },
                _ => {}
            }
            return Ok(found);
        }
        if let (Some(n), Some(other)) = (number, by_number) {
            return Err(number_taken(row, n, &self.areas[other]));
        }
        self.areas.push(Area {
            number,
            title,
            key,
            first_row: row,
            lead: None,
            first_owner: owner.clone(),
        });
        Ok(self.areas.len() - 1)
    }

    /// Numbers the areas the sheet gave no number, in order of first appearance, with the
    /// lowest numbers the others leave free.
    fn number_areas(&mut self) -> Result<(), ImportPlanError> {
        let mut taken: HashSet<u16> = self.areas.iter().filter_map(|a| a.number).collect();
        let mut next = 1;
        for area in self.areas.iter_mut().filter(|a| a.number.is_none()) {
            while taken.contains(&next) {
                next += 1;
            }
            if next > MAX_AREA_NUMBER {
                return Err(ImportPlanError::Cell {
                    row: area.first_row,
                    column: Column::PriorityArea,
                    reason: format!(
                        "the plan has more than {MAX_AREA_NUMBER} priority areas; number them, or check the column holds areas"
                    ),
                });
            }
            area.number = Some(next);
            taken.insert(next);
        }
        Ok(())
    }

    fn into_commands(
        self,
        title: Title,
        organisation: Title,
        next_id: &mut dyn FnMut() -> Uuid,
    ) -> Vec<PlannedCommand> {
        let plan_id = PlanId(next_id());
        let mut planned = vec![PlannedCommand {
            row: None,
            command: CreatePlan {
                plan_id: Some(plan_id),
                title,
                organisation,
                description: None,
            }
            .into(),
        }];
        let mut order: Vec<usize> = (0..self.areas.len()).collect();
        order.sort_by_key(|&i| self.areas[i].number);
        let mut area_ids = vec![AreaId(Uuid::nil()); self.areas.len()];
        for i in order {
            let area = &self.areas[i];
            let area_id = AreaId(next_id());
            area_ids[i] = area_id;
            planned.push(PlannedCommand {
                row: Some(area.first_row),
                command: AddPriorityArea {
                    plan_id,
                    area_id: Some(area_id),
                    number: area.number.unwrap_or_default(),
                    title: area.title.clone(),
                    lead: area
                        .lead
                        .as_ref()
                        .map_or_else(|| area.first_owner.clone(), |(lead, _)| lead.clone()),
                    partner_contribution: None,
                }
                .into(),
            });
        }
        let mut action_ids = Vec::with_capacity(self.rows.len());
        for row in &self.rows {
            let action_id = ActionId(next_id());
            action_ids.push(action_id);
            planned.push(PlannedCommand {
                row: Some(row.row),
                command: AddAction {
                    action_id: Some(action_id),
                    plan_id,
                    area_id: area_ids[row.area],
                    title: row.title.clone(),
                    description: None,
                    owner: row.owner.clone(),
                    start_on: row.start_on,
                    due_on: row.due_on,
                    partner_contribution: None,
                }
                .into(),
            });
        }
        for (row, action_id) in self.rows.into_iter().zip(action_ids) {
            planned.extend(
                progress(&row, action_id)
                    .into_iter()
                    .map(|command| PlannedCommand {
                        row: Some(row.row),
                        command,
                    }),
            );
        }
        planned
    }
}

fn number_taken(row: u64, number: u16, other: &Area) -> ImportPlanError {
    ImportPlanError::Cell {
        row,
        column: Column::PriorityArea,
        reason: format!(
            "priority area {number} is \"{}\" on row {}; one number names one area",
            other.title, other.first_row
        ),
    }
}

/// What takes a new (not started) action to the status and RAG its row gives, along the
/// lifecycle. A completed action passes through in progress first, rated with the row's RAG or
/// amber; the note on that step says it was imported, so no one reads it as a real date.
fn progress(row: &Row, action_id: ActionId) -> Vec<Command> {
    let imported = || Note::parse(IMPORT_NOTE).expect("the import note is valid");
    let closing = |status: ActionStatus| {
        row.notes.clone().unwrap_or_else(|| {
            Note::parse(format!("{IMPORT_NOTE}: {}", status_words(status)))
                .expect("the import note is valid")
        })
    };
    let note = || row.notes.clone().unwrap_or_else(imported);
    let rating = match row.rag {
        RagCell::Rated(rag) => Some(rag),
        RagCell::Blank | RagCell::Blue => None,
    };
    let change = |status, rag, note| -> Command {
        ChangeActionStatus {
            action_id,
            status,
            rag,
            note: Some(note),
        }
        .into()
    };
    match row.status {
        ActionStatus::NotStarted if rating.is_some() || row.notes.is_some() => {
            vec![RecordProgress {
                action_id,
                note: note(),
                rag: rating,
            }
            .into()]
        }
        ActionStatus::NotStarted => Vec::new(),
        status @ (ActionStatus::InProgress | ActionStatus::Blocked) => {
            vec![change(status, rating, note())]
        }
        ActionStatus::Completed => vec![
            change(
                ActionStatus::InProgress,
                Some(rating.unwrap_or(Rag::Amber)),
                Note::parse(format!("{IMPORT_NOTE}: a step on the way to completed"))
                    .expect("the import note is valid"),
            ),
            change(
                ActionStatus::Completed,
                None,
                closing(ActionStatus::Completed),
            ),
        ],
        // A cancelled action has no rating, so a RAG on a cancelled row is not carried over.
        ActionStatus::Cancelled => vec![change(
            ActionStatus::Cancelled,
            None,
            closing(ActionStatus::Cancelled),
        )],
    }
}

fn status_words(status: ActionStatus) -> &'static str {
    match status {
        ActionStatus::NotStarted => "not started",
        ActionStatus::InProgress => "in progress",
        ActionStatus::Blocked => "blocked",
        ActionStatus::Completed => "completed",
        ActionStatus::Cancelled => "cancelled",
    }
}

/// A cell for one-line text (a title or a role): a line break typed into the cell (Alt+Enter
/// in Excel) is a space.
fn one_line(raw: &str) -> String {
    raw.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn required<'a>(raw: &'a str, why: &str) -> Result<&'a str, String> {
    if raw.is_empty() {
        Err(format!("is blank: {why}"))
    } else {
        Ok(raw)
    }
}

fn cell_role(raw: &str) -> Result<Option<Role>, TextError> {
    if raw.is_empty() {
        Ok(None)
    } else {
        Role::parse(one_line(raw)).map(Some)
    }
}

fn strip_bom(record: &mut csv::StringRecord) {
    if record
        .get(0)
        .is_some_and(|first| first.starts_with('\u{feff}'))
    {
        let cells: Vec<String> = record
            .iter()
            .enumerate()
            .map(|(i, cell)| {
                if i == 0 {
                    cell.trim_start_matches('\u{feff}').to_owned()
                } else {
                    cell.to_owned()
                }
            })
            .collect();
        *record = csv::StringRecord::from(cells);
    }
}

/// Counts rows as a spreadsheet shows them. The csv reader skips empty lines and lets a quoted
/// cell span lines, so neither its record count nor its line number is the row number.
#[derive(Debug, Default)]
struct RowCounter {
    row: u64,
    /// The line the next record starts on if no empty line comes first.
    expected_line: u64,
}

impl RowCounter {
    fn next(&mut self, record: &csv::StringRecord) -> u64 {
        let expected = self.expected_line.max(1);
        let line = record.position().map_or(expected, |p| p.line());
        self.row += 1 + line.saturating_sub(expected);
        let spans = record
            .iter()
            .map(|c| c.matches('\n').count() as u64)
            .sum::<u64>();
        self.expected_line = line + 1 + spans;
        self.row
    }

    fn unreadable(&self, error: &csv::Error) -> ImportPlanError {
        let expected = self.expected_line.max(1);
        let row = match error.position() {
            Some(p) => self.row + 1 + p.line().saturating_sub(expected),
            None => self.row + 1,
        };
        let reason = match error.kind() {
            csv::ErrorKind::Utf8 { .. } => "is not UTF-8 text".to_owned(),
            _ => format!("cannot be read as CSV ({error})"),
        };
        ImportPlanError::Unreadable { row, reason }
    }
}

/// Splits "4. Recruitment and retention of staff" (or "4 - ...", "4) ...", "4: ...") into its
/// number and title. A cell without a leading number and separator is all title.
fn split_area(raw: &str) -> Result<(Option<u16>, &str), String> {
    let digits = raw.len() - raw.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    if digits == 0 {
        return Ok((None, raw));
    }
    let rest = raw[digits..].trim_start();
    let Some(rest) = rest
        .strip_prefix(['.', ')', ':', '-', '–', '—'])
        .map(str::trim)
    else {
        return Ok((None, raw));
    };
    let number = raw[..digits]
        .parse::<u16>()
        .ok()
        .filter(|n| (1..=MAX_AREA_NUMBER).contains(n))
        .ok_or_else(|| {
            format!(
                "`{}` is numbered {}; priority areas are numbered 1 to {MAX_AREA_NUMBER}",
                quote(raw),
                &raw[..digits]
            )
        })?;
    if rest.is_empty() {
        return Err(format!(
            "`{}` gives a number but no title; write it as \"4. Recruitment and retention of staff\"",
            quote(raw)
        ));
    }
    Ok((Some(number), rest))
}

/// A date as UK spreadsheets write it: 2018-10-31, 31/10/2018, 31/10/18, 31 Oct 2018,
/// 31-Oct-2018. Numeric dates are always day first.
fn parse_date(raw: &str) -> Result<NaiveDate, String> {
    let not_a_date = |hint: &str| {
        format!(
            "`{}` is not a date (use DD/MM/YYYY or YYYY-MM-DD){hint}",
            quote(raw)
        )
    };
    let parts: Vec<&str> = raw.split(['/', '-', '.']).map(str::trim).collect();
    let numeric = parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()));
    if numeric {
        let n = |i: usize| parts[i].parse::<u32>().unwrap_or(u32::MAX);
        let (year, month, day) = match (parts[0].len(), parts[1].len(), parts[2].len()) {
            (4, 1..=2, 1..=2) => (n(0), n(1), n(2)),
            (1..=2, 1..=2, 4) => (n(2), n(1), n(0)),
            (1..=2, 1..=2, 2) => (2000 + n(2), n(1), n(0)),
            _ => return Err(not_a_date("")),
        };
        let year = i32::try_from(year).map_err(|_| not_a_date(""))?;
        return NaiveDate::from_ymd_opt(year, month, day).ok_or_else(|| {
            if month > 12 && day <= 12 {
                not_a_date("; dates are read day first, so this looks like month first (US order)")
            } else {
                not_a_date("")
            }
        });
    }
    const NAMED: [&str; 8] = [
        "%d %b %Y", "%d %B %Y", "%d-%b-%Y", "%d-%B-%Y", "%d %b %y", "%d-%b-%y", "%d/%b/%Y",
        "%d/%b/%y",
    ];
    NAMED
        .iter()
        .find_map(|format| NaiveDate::parse_from_str(raw, format).ok())
        .ok_or_else(|| not_a_date(""))
}

fn parse_status(raw: &str) -> Result<ActionStatus, String> {
    let status = match squash(raw).as_str() {
        "notstarted" | "notyetstarted" | "yettostart" => ActionStatus::NotStarted,
        "inprogress" | "ontrack" | "ongoing" | "started" | "underway" => ActionStatus::InProgress,
        "blocked" | "onhold" | "stalled" => ActionStatus::Blocked,
        "complete" | "completed" | "done" | "closed" => ActionStatus::Completed,
        "cancelled" | "canceled" | "withdrawn" | "dropped" => ActionStatus::Cancelled,
        _ => {
            return Err(format!(
                "`{}` is not a status the import knows: use Not started, In progress, Blocked, Completed or Cancelled",
                quote(raw)
            ))
        }
    };
    Ok(status)
}

fn parse_rag(raw: &str) -> Result<RagCell, String> {
    let rag = match squash(raw).as_str() {
        "" | "na" => RagCell::Blank,
        "r" | "red" => RagCell::Rated(Rag::Red),
        "a" | "amber" | "yellow" => RagCell::Rated(Rag::Amber),
        "g" | "green" => RagCell::Rated(Rag::Green),
        "b" | "blue" | "complete" | "completed" => RagCell::Blue,
        _ => {
            return Err(format!(
                "`{}` is not a RAG rating: use R (red), A (amber), G (green), B (blue: completed) or leave it blank",
                quote(raw)
            ))
        }
    };
    Ok(rag)
}

#[cfg(test)]
mod tests {
    use super::*;

    use stocktake_domain::{AggregateState, StreamRef};

    const GOOD: &str = include_str!("../tests/data/plan-good.csv");
    const BAD_ROW: &str = include_str!("../tests/data/plan-bad-row.csv");
    const HEADER: &str = "Priority area,Action,Owner,Due date,Status,RAG\n";

    fn ids() -> impl FnMut() -> Uuid {
        let mut counter: u128 = 0;
        move || {
            counter += 1;
            Uuid::from_u128(0x1000 + counter)
        }
    }

    fn now() -> DateTime<Utc> {
        "2018-09-20T09:00:00Z".parse().unwrap()
    }

    fn import(csv: &str) -> Result<Vec<PlannedCommand>, ImportPlanError> {
        commands_from_csv(
            csv.as_bytes(),
            "Children's services improvement plan",
            "London Borough of Croydon",
            &mut ids(),
        )
    }

    fn import_err(csv: &str) -> ImportPlanError {
        import(csv).expect_err("the import should be refused")
    }

    /// Runs the import and returns each action's status and RAG, in row order.
    fn outcome(csv: &str) -> Vec<(ActionStatus, Option<Rag>)> {
        let planned = import(csv).unwrap();
        check(&planned, now()).unwrap();
        let mut store = MemoryStore::default();
        let meta = CommandMeta {
            actor: "test".into(),
            recorded_at: now(),
            effective_at: None,
        };
        let mut next = ids();
        let mut actions = Vec::new();
        for p in &planned {
            if let Command::AddAction(c) = &p.command {
                actions.push(c.action_id.unwrap());
            }
            store.execute(p.command.clone(), &meta, &mut next).unwrap();
        }
        actions
            .into_iter()
            .map(|id| match store.state(StreamRef::action(id)) {
                AggregateState::Action(s) => {
                    let a = s.action.unwrap();
                    (a.status, a.rag)
                }
                other => panic!("not an action: {other:?}"),
            })
            .collect()
    }

    fn count(planned: &[PlannedCommand], type_name: &str) -> usize {
        planned
            .iter()
            .filter(|p| p.command.type_name() == type_name)
            .count()
    }

    fn areas(planned: &[PlannedCommand]) -> Vec<(u16, String, String)> {
        planned
            .iter()
            .filter_map(|p| match &p.command {
                Command::AddPriorityArea(c) => {
                    Some((c.number, c.title.to_string(), c.lead.to_string()))
                }
                _ => None,
            })
            .collect()
    }

    fn due_dates(csv: &str) -> Vec<NaiveDate> {
        import(csv)
            .unwrap()
            .iter()
            .filter_map(|p| match &p.command {
                Command::AddAction(c) => Some(c.due_on),
                _ => None,
            })
            .collect()
    }

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn the_good_sample_imports_and_checks_clean() {
        let planned = import(GOOD).unwrap();
        check(&planned, now()).unwrap();
        assert_eq!(count(&planned, "create_plan"), 1);
        assert_eq!(count(&planned, "add_priority_area"), 6);
        assert_eq!(count(&planned, "add_action"), 15);
        assert_eq!(planned[0].row, None);
        let numbers: Vec<u16> = areas(&planned).iter().map(|a| a.0).collect();
        assert_eq!(numbers, [1, 2, 3, 4, 5, 6]);
        assert_eq!(
            areas(&planned)[3].1,
            "Recruitment and retention of staff",
            "the number is taken off the title"
        );

        let outcome = outcome(GOOD);
        let reached = |status| outcome.iter().filter(|(s, _)| *s == status).count();
        assert_eq!(reached(ActionStatus::Completed), 4);
        assert_eq!(reached(ActionStatus::InProgress), 6);
        assert_eq!(reached(ActionStatus::Blocked), 1);
        assert_eq!(reached(ActionStatus::NotStarted), 3);
        assert_eq!(reached(ActionStatus::Cancelled), 1);
        assert!(outcome
            .iter()
            .filter(|(s, _)| !s.is_closed() && *s != ActionStatus::NotStarted)
            .all(|(_, rag)| rag.is_some()));
    }

    #[test]
    fn the_commands_come_in_order_with_their_rows() {
        let planned = import(GOOD).unwrap();
        let types: Vec<&str> = planned.iter().map(|p| p.command.type_name()).collect();
        let first_action = types.iter().position(|t| *t == "add_action").unwrap();
        let last_area = types
            .iter()
            .rposition(|t| *t == "add_priority_area")
            .unwrap();
        let first_change = types
            .iter()
            .position(|t| *t == "change_action_status" || *t == "record_progress")
            .unwrap();
        let last_action = types.iter().rposition(|t| *t == "add_action").unwrap();
        assert!(last_area < first_action && last_action < first_change);
        let action_rows: Vec<u64> = planned
            .iter()
            .filter(|p| p.command.type_name() == "add_action")
            .map(|p| p.row.unwrap())
            .collect();
        assert_eq!(action_rows, (2..=16).collect::<Vec<u64>>());
    }

    #[test]
    fn the_bad_sample_names_row_9_and_the_due_date() {
        let err = import_err(BAD_ROW);
        assert_eq!(err.row(), Some(9));
        assert_eq!(err.column(), Some(Column::DueDate));
        assert_eq!(
            err.to_string(),
            "row 9, due date: `31/02/2019` is not a date (use DD/MM/YYYY or YYYY-MM-DD)"
        );
    }

    #[test]
    fn headings_are_matched_ignoring_case_punctuation_and_synonyms() {
        let csv = "\
THEME ,Action title,Responsible Officer,Deadline (DD/MM/YYYY),Current status,B-RAG rating,Start,Comments,Area lead,Ref
Practice,Audit 40 cases,Head of Quality Assurance,14/09/2018,On track,G,10/09/2018,Practice week,Principal Social Worker,P1
";
        let planned = import(csv).unwrap();
        check(&planned, now()).unwrap();
        assert_eq!(
            areas(&planned),
            [(
                1,
                "Practice".to_owned(),
                "Principal Social Worker".to_owned()
            )]
        );
        for (column, heading) in Column::ALL
            .into_iter()
            .flat_map(|c| c.headings().iter().map(move |h| (c, *h)))
        {
            let header = csv::StringRecord::from(vec![
                "Priority area",
                "Action",
                "Owner",
                "Due date",
                "Status",
                "RAG",
            ]);
            let mut cells: Vec<&str> = header.iter().collect();
            if let Some(i) = Column::ALL[..6].iter().position(|c| *c == column) {
                cells[i] = heading;
            } else {
                cells.push(heading);
            }
            let layout = Layout::from_header(&csv::StringRecord::from(cells))
                .unwrap_or_else(|e| panic!("{heading}: {e}"));
            assert!(layout.cells[column.index()].is_some(), "{heading}");
        }
    }

    #[test]
    fn every_status_spelling_is_understood() {
        use ActionStatus::*;
        let table = [
            ("Not started", NotStarted),
            ("not yet started", NotStarted),
            ("In progress", InProgress),
            ("In-Progress", InProgress),
            ("On track", InProgress),
            ("Ongoing", InProgress),
            ("Started", InProgress),
            ("Blocked", Blocked),
            ("On hold", Blocked),
            ("Stalled", Blocked),
            ("Complete", Completed),
            ("Completed", Completed),
            ("DONE", Completed),
            ("Closed", Completed),
            ("Cancelled", Cancelled),
            ("Canceled", Cancelled),
            ("Withdrawn", Cancelled),
            ("Dropped", Cancelled),
        ];
        for (spelling, status) in table {
            assert_eq!(parse_status(spelling), Ok(status), "{spelling}");
        }
        let err = parse_status("Nearly there").unwrap_err();
        assert!(err.contains("`Nearly there` is not a status"), "{err}");
    }

    #[test]
    fn every_rag_spelling_is_understood() {
        let table = [
            ("R", RagCell::Rated(Rag::Red)),
            ("Red", RagCell::Rated(Rag::Red)),
            ("a", RagCell::Rated(Rag::Amber)),
            ("Amber", RagCell::Rated(Rag::Amber)),
            ("Yellow", RagCell::Rated(Rag::Amber)),
            ("G", RagCell::Rated(Rag::Green)),
            ("green", RagCell::Rated(Rag::Green)),
            ("B", RagCell::Blue),
            ("Blue", RagCell::Blue),
            ("Complete", RagCell::Blue),
            ("", RagCell::Blank),
            ("N/A", RagCell::Blank),
        ];
        for (spelling, rag) in table {
            assert_eq!(parse_rag(spelling), Ok(rag), "{spelling}");
        }
        assert!(parse_rag("Purple")
            .unwrap_err()
            .contains("not a RAG rating"));
    }

    #[test]
    fn statuses_and_rags_reach_the_lifecycle_honestly() {
        let csv = format!(
            "{HEADER}\
1. Caseloads,Not started and unrated,Head of Workforce,31/10/2018,Not started,
1. Caseloads,Not started but rated,Head of Workforce,31/10/2018,Not started,R
1. Caseloads,Going,Head of Workforce,31/10/2018,In progress,G
1. Caseloads,Stuck,Head of Workforce,31/10/2018,On hold,Red
1. Caseloads,Finished,Head of Workforce,31/10/2018,Done,Blue
1. Caseloads,Finished unrated,Head of Workforce,31/10/2018,Complete,
1. Caseloads,Stopped,Head of Workforce,31/10/2018,Withdrawn,A
"
        );
        use ActionStatus::*;
        assert_eq!(
            outcome(&csv),
            [
                (NotStarted, None),
                (NotStarted, Some(Rag::Red)),
                (InProgress, Some(Rag::Green)),
                (Blocked, Some(Rag::Red)),
                (Completed, None),
                (Completed, None),
                (Cancelled, None),
            ]
        );
        let planned = import(&csv).unwrap();
        let completed_notes: Vec<&str> = planned
            .iter()
            .filter_map(|p| match &p.command {
                Command::ChangeActionStatus(c) if c.status == Completed => {
                    c.note.as_ref().map(Note::as_str)
                }
                _ => None,
            })
            .collect();
        assert_eq!(completed_notes, ["Imported from spreadsheet: completed"; 2]);
    }

    #[test]
    fn the_notes_cell_becomes_the_note() {
        let csv = "Priority area,Action,Owner,Due date,Status,RAG,Notes\n\
            3. Practice,Seminars,Director of Early Help and Children's Social Care,31/08/2018,Completed,B,Three seminars held in August\n";
        let planned = import(csv).unwrap();
        let Command::ChangeActionStatus(last) = &planned.last().unwrap().command else {
            panic!("expected a status change");
        };
        assert_eq!(last.status, ActionStatus::Completed);
        assert_eq!(
            last.note.as_ref().unwrap().as_str(),
            "Three seminars held in August"
        );
    }

    #[test]
    fn dates_are_read_day_first_in_every_uk_form() {
        let rows = [
            "2018-10-31",
            "31/10/2018",
            "31/10/18",
            "31 Oct 2018",
            "31-Oct-2018",
            "31 October 2018",
            "31.10.2018",
        ];
        let csv: String = std::iter::once(HEADER.to_owned())
            .chain(
                rows.iter()
                    .map(|d| format!("Area,Do it,Head of Workforce,{d},Not started,\n")),
            )
            .collect();
        assert_eq!(due_dates(&csv), [date(2018, 10, 31); 7]);

        let uk = format!("{HEADER}Area,Do it,Head of Workforce,03/04/2019,Not started,\nArea,Again,Head of Workforce,1/2/19,Not started,\n");
        assert_eq!(due_dates(&uk), [date(2019, 4, 3), date(2019, 2, 1)]);

        let us = format!("{HEADER}Area,Do it,Head of Workforce,10/31/2018,Not started,\n");
        let err = import_err(&us);
        assert_eq!(err.column(), Some(Column::DueDate));
        assert!(err.to_string().contains("looks like month first"), "{err}");
    }

    #[test]
    fn a_missing_column_is_named_with_the_headings_found() {
        let csv = "Priority area,Action,Owner,Status,RAG\n1. X,Y,Head of Workforce,Not started,\n";
        let err = import_err(csv);
        assert_eq!(err.column(), Some(Column::DueDate));
        assert_eq!(
            err.to_string(),
            "row 1: there is no due date column (head it Due date, Due, Due by, Deadline, Target date or By when); \
             the headings found are `Priority area`, `Action`, `Owner`, `Status`, `RAG`"
        );
    }

    #[test]
    fn two_columns_for_one_field_are_refused() {
        let csv = "Priority area,Action,Owner,Due date,Deadline,Status,RAG\n";
        let err = import_err(csv);
        assert!(
            err.to_string()
                .contains("`Due date` and `Deadline` both look like the due date column"),
            "{err}"
        );
    }

    #[test]
    fn a_byte_order_mark_is_ignored() {
        let csv = format!(
            "\u{feff}{HEADER}4. Recruitment,Recruit NQSWs,Head of Workforce,31/10/2018,Not started,\n"
        );
        let planned = import(&csv).unwrap();
        assert_eq!(count(&planned, "add_action"), 1);
    }

    #[test]
    fn blank_rows_are_skipped_and_rows_still_counted_as_the_spreadsheet_shows() {
        let csv = format!(
            "{HEADER},,,,,\n\n4. Recruitment,Recruit NQSWs,Head of Workforce,31/10/2018,Not started,\n , ,,,,\n4. Recruitment,\"Two\nlines\",Head of Workforce,31/10/2018,Not started,\n4. Recruitment,Bad,Head of Workforce,someday,Not started,\n"
        );
        let err = import_err(&csv);
        // Header 1, blank 2 and 3, action 4, blank 5, two-line action 6, bad row 7.
        assert_eq!(err.row(), Some(7), "{err}");
        let good: String = csv.lines().take(7).map(|l| format!("{l}\n")).collect();
        assert_eq!(count(&import(&good).unwrap(), "add_action"), 2);
    }

    #[test]
    fn blue_on_an_open_action_is_a_contradiction() {
        let csv = format!(
            "{HEADER}1. Caseloads,Managed teams,Head of Workforce,31/10/2018,In progress,Blue\n"
        );
        let err = import_err(&csv);
        assert_eq!(err.row(), Some(2));
        assert_eq!(err.column(), Some(Column::Rag));
        assert!(
            err.to_string()
                .contains("`Blue` is blue, which means completed, but the status is `In progress`"),
            "{err}"
        );
        let not_started = format!(
            "{HEADER}1. Caseloads,Managed teams,Head of Workforce,31/10/2018,Not started,B\n"
        );
        assert_eq!(import_err(&not_started).column(), Some(Column::Rag));
    }

    #[test]
    fn an_open_action_in_progress_needs_a_rag() {
        let csv =
            format!("{HEADER}1. Caseloads,Managed teams,Head of Workforce,31/10/2018,Blocked,\n");
        let err = import_err(&csv);
        assert_eq!(
            err.to_string(),
            "row 2, RAG: is blank, but an action that is `Blocked` needs a RAG rating: R, A or G"
        );
    }

    #[test]
    fn area_numbers_come_from_the_cell_or_the_order_of_appearance() {
        let numbered = format!(
            "{HEADER}\
4. Recruitment and retention of staff,Recruit NQSWs,Head of Workforce,31/10/2018,Not started,
4 - Recruitment and retention of staff,Agency supply chain,Head of Workforce,31/12/2018,Not started,
,Learning offer,Head of Learning and Development,31/03/2019,Not started,
2) Reset the bar,Seminars,Executive Director,31/08/2018,Not started,
"
        );
        let planned = import(&numbered).unwrap();
        check(&planned, now()).unwrap();
        assert_eq!(
            areas(&planned),
            [
                (
                    2,
                    "Reset the bar".to_owned(),
                    "Executive Director".to_owned()
                ),
                (
                    4,
                    "Recruitment and retention of staff".to_owned(),
                    "Head of Workforce".to_owned()
                ),
            ]
        );
        assert_eq!(count(&planned, "add_action"), 4);

        let unnumbered = format!(
            "{HEADER}\
Practice,Audit,Head of Quality Assurance,14/09/2018,Not started,
3. Early help,Strategy,Head of Early Help,31/03/2019,Not started,
Workforce,Recruit,Head of Workforce,31/10/2018,Not started,
practice,Plans,Principal Social Worker,31/03/2019,Not started,
"
        );
        let planned = import(&unnumbered).unwrap();
        let numbered: Vec<(u16, String)> = areas(&planned)
            .into_iter()
            .map(|(n, t, _)| (n, t))
            .collect();
        assert_eq!(
            numbered,
            [
                (1, "Practice".to_owned()),
                (2, "Workforce".to_owned()),
                (3, "Early help".to_owned())
            ]
        );
    }

    #[test]
    fn one_number_names_one_area() {
        let csv = format!(
            "{HEADER}4. Recruitment,A,Head of Workforce,31/10/2018,Not started,\n4. Early help,B,Head of Early Help,31/10/2018,Not started,\n"
        );
        let err = import_err(&csv);
        assert_eq!(
            err.to_string(),
            "row 3, priority area: priority area 4 is \"Recruitment\" on row 2; one number names one area"
        );
    }

    #[test]
    fn the_area_lead_is_its_column_or_the_first_owner() {
        let csv = "Priority area,Action,Owner,Due date,Status,RAG,Lead for area\n\
            5. Early help,Strategy,Head of Early Help,31/10/2018,Not started,,\n\
            5. Early help,Localities,Locality Manager,31/10/2018,Not started,,Director of Early Help and Children's Social Care\n\
            6. Partnership,Relaunch,Executive Director,31/10/2018,Not started,,\n";
        let leads: Vec<String> = areas(&import(csv).unwrap())
            .into_iter()
            .map(|(_, _, lead)| lead)
            .collect();
        assert_eq!(
            leads,
            [
                "Director of Early Help and Children's Social Care",
                "Executive Director"
            ]
        );
    }

    #[test]
    fn a_row_with_the_wrong_number_of_cells_is_refused() {
        let csv = format!("{HEADER}1. Caseloads,Managed teams,Head of Workforce,31/10/2018\n");
        assert_eq!(
            import_err(&csv).to_string(),
            "row 2: has 4 cells but the header row has 6; every row needs one cell per column"
        );
    }

    #[test]
    fn text_over_the_domains_limits_is_refused_with_the_limit() {
        let long = "x".repeat(Title::MAX_CHARS + 1);
        let csv =
            format!("{HEADER}1. Caseloads,{long},Head of Workforce,31/10/2018,Not started,\n");
        assert_eq!(
            import_err(&csv).to_string(),
            "row 2, action: must be at most 200 characters (got 201)"
        );
        let long_role = "y".repeat(Role::MAX_CHARS + 1);
        let csv = format!("{HEADER}1. Caseloads,Teams,{long_role},31/10/2018,Not started,\n");
        assert_eq!(import_err(&csv).column(), Some(Column::Owner));
    }

    #[test]
    fn blank_required_cells_say_what_is_needed() {
        let csv = format!("{HEADER}1. Caseloads,Managed teams,,31/10/2018,Not started,\n");
        assert_eq!(
            import_err(&csv).to_string(),
            "row 2, owner: is blank: every action needs an owner (a role)"
        );
        let csv = format!("{HEADER}1. Caseloads,Managed teams,Head of Workforce,,Not started,\n");
        assert_eq!(import_err(&csv).column(), Some(Column::DueDate));
    }

    #[test]
    fn a_due_date_before_the_start_is_refused() {
        let csv = "Priority area,Action,Owner,Start date,Due date,Status,RAG\n\
            1. Caseloads,Teams,Head of Workforce,01/11/2018,31/10/2018,Not started,\n";
        assert_eq!(
            import_err(csv).to_string(),
            "row 2, due date: 31/10/2018 is before the start date 01/11/2018"
        );
    }

    #[test]
    fn empty_files_and_plan_names_are_refused() {
        assert_eq!(import_err(""), ImportPlanError::Empty);
        assert_eq!(import_err("\u{feff}\n,,,\n"), ImportPlanError::Empty);
        assert_eq!(import_err(HEADER), ImportPlanError::NoActions);
        let err = commands_from_csv(GOOD.as_bytes(), " ", "Croydon", &mut ids()).unwrap_err();
        assert_eq!(err.to_string(), "plan title: must not be empty");
    }

    #[test]
    fn text_that_is_not_utf8_is_refused_with_its_row() {
        let mut bytes = HEADER.as_bytes().to_vec();
        bytes.extend_from_slice(
            b"1. Caseloads,Children\x92s teams,Head of Workforce,31/10/2018,Not started,\n",
        );
        let err = commands_from_csv(&bytes[..], "Plan", "Croydon", &mut ids()).unwrap_err();
        assert_eq!(err.row(), Some(2));
        assert!(err.to_string().contains("CSV UTF-8"), "{err}");
    }

    #[test]
    fn check_names_the_row_behind_a_refusal() {
        let mut planned = import(GOOD).unwrap();
        let (i, row) = planned
            .iter()
            .enumerate()
            .find_map(|(i, p)| match &p.command {
                Command::ChangeActionStatus(c) if c.status == ActionStatus::Completed => {
                    Some((i, p.row))
                }
                _ => None,
            })
            .unwrap();
        if let Command::ChangeActionStatus(c) = &mut planned[i].command {
            c.note = None;
        }
        let err = check(&planned, now()).unwrap_err();
        assert_eq!(err.row(), row);
        assert_eq!(err.column(), Some(Column::Notes));
        assert!(
            err.to_string().ends_with(
                "notes: is required when an action is completed: say what was done or why"
            ),
            "{err}"
        );
    }

    #[test]
    fn ids_come_only_from_the_caller() {
        let a = import(GOOD).unwrap();
        let b = import(GOOD).unwrap();
        assert_eq!(a, b);
    }
}
