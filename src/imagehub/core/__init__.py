"""The core every part uses, in any process: settings, the database and its transactions,
errors, object storage, the task queue, logging, metrics, cursors. No web framework here."""
