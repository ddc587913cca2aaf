//! YAML scenarios: schema, strict loading, the runner, expectations and reports.
